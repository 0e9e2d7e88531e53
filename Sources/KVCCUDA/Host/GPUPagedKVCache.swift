import PagedKVCache

/// Device copy of a host `PagedKVCache`'s pools and of the tables of chosen sequences, laid out
/// exactly like the host cache (paper §3, "Cache layout"), so a kernel computes the same physical slot
/// for a logical index: `blockTable[i / blockSize] * blockSize + i % blockSize`.
///
/// Device tensors:
/// - `keys`, `values`: `[capacityBlocks, blockSize, headDim]` float32 (the CUDA kernels read and write
///   float32 KVs: a host cache of half floats is refused, see ``init(context:layout:capacityBlocks:)``)
/// - `metrics`: `[capacityBlocks, blockSize]` float32; `positions`: `[capacityBlocks, blockSize]` int32
/// - `blockTables`: `[layers, sequenceCount, kvHeads, maxBlocks]` int32, rows padded with 0 after a
///   head's last block (never read: a head's `contextLengths` entry bounds its logical indices)
/// - `contextLengths`: `[layers, sequenceCount, kvHeads]` int32
/// Sequences are numbered 0..<sequenceCount in the order given to `upload` / `uploadTables`.
public final class GPUPagedKVCache: @unchecked Sendable {
    public let context: CUDAContext
    public let layout: CacheLayout
    public let capacityBlocks: Int
    public let keys: DeviceBuffer<Float>
    public let values: DeviceBuffer<Float>
    public let metrics: DeviceBuffer<Float>
    public let positions: DeviceBuffer<Int32>
    public private(set) var blockTables: DeviceBuffer<Int32>
    public private(set) var contextLengths: DeviceBuffer<Int32>
    /// The host sequences the tables describe, in device order.
    public private(set) var sequences: [SequenceID] = []
    public private(set) var sequenceCount = 0
    /// Width of a block-table row: the most blocks any uploaded head holds (at least 1).
    public private(set) var maxBlocks = 1

    /// Allocates the four pools for `capacityBlocks` blocks of `layout` (contents undefined until
    /// `upload`) and empty tables.
    ///
    /// The device kernels compute on float32 keys and values, so `layout.kvType` must be `.f32`: a
    /// half-float layout throws, naming the setting that builds a float32 host cache.
    public init(context: CUDAContext, layout: CacheLayout, capacityBlocks: Int) throws(CUDAError) {
        guard capacityBlocks > 0 else { throw .invalidArgument("a GPU cache needs at least one block (got \(capacityBlocks))") }
        try Self.checkKVType(layout)
        self.context = context
        self.layout = layout
        self.capacityBlocks = capacityBlocks
        let slots = capacityBlocks * layout.blockSize
        keys = try context.allocate(Float.self, count: slots * layout.headDim)
        values = try context.allocate(Float.self, count: slots * layout.headDim)
        metrics = try context.allocate(Float.self, count: slots)
        positions = try context.allocate(Int32.self, count: slots)
        blockTables = try context.allocate(Int32.self, count: 0)
        contextLengths = try context.allocate(Int32.self, count: 0)
    }

    /// Copies pools (all four) and the tables of `sequences` (in that order) from `cache`.
    public func upload(from cache: PagedKVCache, sequences: [SequenceID]) throws(CUDAError) {
        try checkCompatible(cache)
        try keys.upload(from: cache.keyStorage.assumingMemoryBound(to: Float.self), count: keys.count)
        try values.upload(from: cache.valueStorage.assumingMemoryBound(to: Float.self), count: values.count)
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
        try keys.download(into: cache.keyStorage.assumingMemoryBound(to: Float.self), count: keys.count)
        try values.download(into: cache.valueStorage.assumingMemoryBound(to: Float.self), count: values.count)
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

    /// The CUDA kernels store float32 KVs; a half-float host cache cannot be copied to them as is.
    static func checkKVType(_ layout: CacheLayout) throws(CUDAError) {
        guard layout.kvType == .f32 else {
            throw .invalidArgument(
                "the CUDA kernels store float32 KVs but the host cache stores \(layout.kvType); build it with --kv-type f32 (kv_type: f32)")
        }
    }

    private func checkCompatible(_ cache: PagedKVCache) throws(CUDAError) {
        guard cache.layout == layout, cache.capacityBlocks == capacityBlocks else {
            throw .invalidArgument(
                "host cache (\(cache.layout), \(cache.capacityBlocks) blocks) does not match the GPU cache (\(layout), \(capacityBlocks) blocks)")
        }
    }
}
