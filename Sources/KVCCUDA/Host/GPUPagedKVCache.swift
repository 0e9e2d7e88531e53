import PagedKVCache

/// Device copy of a host `PagedKVCache`'s pools and of the tables of chosen sequences, laid out
/// exactly like the host cache (paper §3, "Cache layout"), so a kernel computes the same physical slot
/// for a logical index: `blockTable[i / blockSize] * blockSize + i % blockSize`.
///
/// Device tensors:
/// - `keys`, `values`: `[capacityBlocks, blockSize, headDim]` elements of `layout.kvType` (IEEE half
///   bits or float32), held as bytes: copied to and from the host pools as they are, never converted;
///   the kernels of that type (``KVKernelName``) widen them to float32 to compute and round to the
///   type when they store
/// - `metrics`: `[capacityBlocks, blockSize]` float32; `positions`: `[capacityBlocks, blockSize]` int32
/// - `blockTables`: `[layers, sequenceCount, kvHeads, maxBlocks]` int32, rows padded with 0 after a
///   head's last block (never read: a head's `contextLengths` entry bounds its logical indices)
/// - `contextLengths`: `[layers, sequenceCount, kvHeads]` int32
/// Sequences are numbered 0..<sequenceCount in the order given to `upload` / `uploadTables`.
public final class GPUPagedKVCache: @unchecked Sendable {
    public let context: CUDAContext
    public let layout: CacheLayout
    public let capacityBlocks: Int
    /// Keys as stored: `[capacityBlocks, blockSize, headDim]` elements of ``kvType``, in bytes.
    public let keys: DeviceBuffer<UInt8>
    /// Values, laid out as ``keys``.
    public let values: DeviceBuffer<UInt8>
    public let metrics: DeviceBuffer<Float>
    public let positions: DeviceBuffer<Int32>
    public private(set) var blockTables: DeviceBuffer<Int32>
    public private(set) var contextLengths: DeviceBuffer<Int32>
    /// The host sequences the tables describe, in device order.
    public private(set) var sequences: [SequenceID] = []
    public private(set) var sequenceCount = 0
    /// Width of a block-table row: the most blocks any uploaded head holds (at least 1).
    public private(set) var maxBlocks = 1

    /// The element type of ``keys`` and ``values``: the layout's, so the host pools copy over as bytes.
    public var kvType: KVStorageType { layout.kvType }

    /// Allocates the four pools for `capacityBlocks` blocks of `layout` (contents undefined until
    /// `upload`) and empty tables. Keys and values take `layout.kvType.bytesPerElement` bytes each.
    public init(context: CUDAContext, layout: CacheLayout, capacityBlocks: Int) throws(CUDAError) {
        guard capacityBlocks > 0 else { throw .invalidArgument("a GPU cache needs at least one block (got \(capacityBlocks))") }
        self.context = context
        self.layout = layout
        self.capacityBlocks = capacityBlocks
        let slots = capacityBlocks * layout.blockSize
        let kvBytes = slots * layout.headDim * layout.kvType.bytesPerElement
        keys = try context.allocate(UInt8.self, count: kvBytes)
        values = try context.allocate(UInt8.self, count: kvBytes)
        metrics = try context.allocate(Float.self, count: slots)
        positions = try context.allocate(Int32.self, count: slots)
        blockTables = try context.allocate(Int32.self, count: 0)
        contextLengths = try context.allocate(Int32.self, count: 0)
    }

    /// Copies pools (all four) and the tables of `sequences` (in that order) from `cache`.
    public func upload(from cache: PagedKVCache, sequences: [SequenceID]) throws(CUDAError) {
        try checkCompatible(cache)
        // Same layout, so same KV type: the bytes as the host stores them.
        try keys.upload(bytes: cache.keyStorage, byteCount: keys.byteCount)
        try values.upload(bytes: cache.valueStorage, byteCount: values.byteCount)
        try metrics.upload(from: cache.metrics, count: metrics.count)
        try positions.upload(from: cache.positions, count: positions.count)
        try uploadTables(from: cache, sequences: sequences)
    }

    /// Copies only the tables (after the host changed them, e.g. truncate/reserve). The table buffers
    /// are reallocated when the number of sequences or `maxBlocks` changes.
    public func uploadTables(from cache: PagedKVCache, sequences: [SequenceID]) throws(CUDAError) {
        try checkCompatible(cache)
        for sequence in sequences where !cache.contains(sequence) {
            throw .invalidArgument("sequence \(sequence) is not in the host cache")
        }
        guard Set(sequences).count == sequences.count else { throw .invalidArgument("sequences \(sequences) repeat one") }
        let layers = layout.layers, heads = layout.kvHeads, count = sequences.count
        var widest = 1
        for sequence in sequences {
            for layer in 0..<layers { for head in 0..<heads { widest = max(widest, cache.blockTable(sequence, layer: layer, head: head).count) } }
        }
        var tables = [Int32](repeating: 0, count: layers * count * heads * widest)
        var lengths = [Int32](repeating: 0, count: layers * count * heads)
        for layer in 0..<layers {
            for (index, sequence) in sequences.enumerated() {
                for head in 0..<heads {
                    let row = (layer * count + index) * heads + head
                    lengths[row] = Int32(cache.contextLength(sequence, layer: layer, head: head))
                    for (block, id) in cache.blockTable(sequence, layer: layer, head: head).enumerated() {
                        tables[row * widest + block] = id
                    }
                }
            }
        }
        if blockTables.count != tables.count { blockTables = try context.allocate(Int32.self, count: tables.count) }
        if contextLengths.count != lengths.count { contextLengths = try context.allocate(Int32.self, count: lengths.count) }
        try blockTables.upload(tables)
        try contextLengths.upload(lengths)
        self.sequences = sequences
        sequenceCount = count
        maxBlocks = widest
    }

    /// Copies the four pools back into `cache` (same layout and capacity required). Tables stay the
    /// host's: the device never changes them, the host truncates after a compression.
    public func downloadPools(into cache: PagedKVCache) throws(CUDAError) {
        try checkCompatible(cache)
        try keys.download(bytesInto: cache.keyStorage, byteCount: keys.byteCount)
        try values.download(bytesInto: cache.valueStorage, byteCount: values.byteCount)
        try metrics.download(into: cache.metrics, count: metrics.count)
        try positions.download(into: cache.positions, count: positions.count)
    }

    // MARK: - Addresses for kernels

    /// Index of the table row of (layer, device sequence, head) in `blockTables` rows / `contextLengths`.
    public func row(layer: Int, sequence: Int, head: Int) -> Int { (layer * sequenceCount + sequence) * layout.kvHeads + head }

    /// Device address of layer `layer`'s block tables: `[sequenceCount, kvHeads, maxBlocks]` int32.
    public func blockTablesAddress(layer: Int) -> UInt64 {
        blockTables.address + UInt64(row(layer: layer, sequence: 0, head: 0) * maxBlocks * MemoryLayout<Int32>.stride)
    }

    /// Device address of layer `layer`'s context lengths: `[sequenceCount, kvHeads]` int32.
    public func contextLengthsAddress(layer: Int) -> UInt64 {
        contextLengths.address + UInt64(row(layer: layer, sequence: 0, head: 0) * MemoryLayout<Int32>.stride)
    }

    private func checkCompatible(_ cache: PagedKVCache) throws(CUDAError) {
        guard cache.layout == layout, cache.capacityBlocks == capacityBlocks else {
            throw .invalidArgument(
                "host cache (\(cache.layout), \(cache.capacityBlocks) blocks) does not match the GPU cache (\(layout), \(capacityBlocks) blocks)")
        }
    }
}
