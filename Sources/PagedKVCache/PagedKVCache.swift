/// A paged KV cache in the KV-Compress layout.
///
/// One global pool of blocks; each block holds `blockSize` slots of one KV head of one layer of one
/// sequence. Per slot it stores the key (after RoPE, so a KV keeps its meaning wherever it moves), the
/// value, a float importance metric and the token position.
///
/// Storage (row-major, one contiguous buffer each):
/// - `keyStorage`, `valueStorage`: `[capacityBlocks, blockSize, headDim]` elements of `layout.kvType`
///   (half floats by default; appends round float32 keys and values to it, reads widen them back)
/// - `metrics`: `[capacityBlocks, blockSize]` float32
/// - `positions`: `[capacityBlocks, blockSize]` int32
///
/// Concurrency: the block tables are mutated only by the thread driving the model; slot data may be
/// read and written from worker threads as long as each slot has one writer (attention per
/// (sequence, head) touches disjoint slots). Hence `@unchecked Sendable`.
public final class PagedKVCache: @unchecked Sendable {
    public let layout: CacheLayout
    /// Total number of blocks in the pool.
    public let capacityBlocks: Int

    /// Keys, `[capacityBlocks, blockSize, headDim]` elements of `layout.kvType`: raw, for kernels and
    /// device copies that handle the element type themselves. Read and write slots as floats with
    /// ``loadKey(slot:into:)`` / ``storeKey(slot:from:)`` or a ``HeadView``.
    public let keyStorage: UnsafeMutableRawPointer
    /// Values, laid out as ``keyStorage``.
    public let valueStorage: UnsafeMutableRawPointer
    public let metrics: UnsafeMutablePointer<Float>
    public let positions: UnsafeMutablePointer<Int32>

    var allocator: BlockAllocator
    var tables: [SequenceID: SequenceTables] = [:]
    private var nextSequence = 0

    /// Creates a pool of `capacityBlocks` blocks. Memory is reserved, not touched: pages become
    /// resident only when blocks are written.
    public init(layout: CacheLayout, capacityBlocks: Int) throws(KVCacheError) {
        guard capacityBlocks > 0 else { throw .invalidLayout("capacity must be at least one block (got \(capacityBlocks))") }
        self.layout = layout
        self.capacityBlocks = capacityBlocks
        let slots = capacityBlocks * layout.blockSize
        let bytes = slots * layout.headDim * layout.kvType.bytesPerElement
        keyStorage = .allocate(byteCount: bytes, alignment: 64)
        valueStorage = .allocate(byteCount: bytes, alignment: 64)
        switch layout.kvType {
        case .f16:
            keyStorage.bindMemory(to: UInt16.self, capacity: slots * layout.headDim)
            valueStorage.bindMemory(to: UInt16.self, capacity: slots * layout.headDim)
        case .f32:
            keyStorage.bindMemory(to: Float.self, capacity: slots * layout.headDim)
            valueStorage.bindMemory(to: Float.self, capacity: slots * layout.headDim)
        }
        metrics = .allocate(capacity: slots)
        positions = .allocate(capacity: slots)
        allocator = BlockAllocator(capacity: capacityBlocks)
    }

    /// Creates a pool sized in bytes (K, V, metric and position of every slot counted).
    public convenience init(layout: CacheLayout, capacityBytes: Int) throws(KVCacheError) {
        try self.init(layout: layout, capacityBlocks: capacityBytes / layout.bytesPerBlock)
    }

    deinit {
        keyStorage.deallocate()
        valueStorage.deallocate()
        metrics.deallocate()
        positions.deallocate()
    }

    // MARK: - Pool accounting

    public var freeBlockCount: Int { allocator.freeCount }
    public var usedBlockCount: Int { capacityBlocks - allocator.freeCount }
    /// Bytes held by allocated blocks.
    public var residentBytes: Int { usedBlockCount * layout.bytesPerBlock }

    // MARK: - Sequences

    public var sequences: [SequenceID] { tables.keys.sorted() }

    /// Registers a new, empty sequence.
    public func addSequence() -> SequenceID {
        let id = SequenceID(nextSequence)
        nextSequence += 1
        tables[id] = SequenceTables(headCount: layout.headCount)
        return id
    }

    /// Frees every block of `sequence` and forgets it.
    public func removeSequence(_ sequence: SequenceID) {
        guard let t = tables.removeValue(forKey: sequence) else { return }
        for table in t.blockTables { for b in table { allocator.release(b) } }
    }

    public func contains(_ sequence: SequenceID) -> Bool { tables[sequence] != nil }

    @usableFromInline func headIndex(layer: Int, head: Int) -> Int { layer * layout.kvHeads + head }

    private func tablesOf(_ sequence: SequenceID) -> SequenceTables {
        guard let t = tables[sequence] else { preconditionFailure("unknown sequence \(sequence)") }
        return t
    }

    /// Number of KVs head (layer, head) of `sequence` holds.
    public func contextLength(_ sequence: SequenceID, layer: Int, head: Int) -> Int {
        tablesOf(sequence).lengths[headIndex(layer: layer, head: head)]
    }

    /// Context lengths of every head: `[layers * kvHeads]`, index `layer * kvHeads + head`.
    public func contextLengths(_ sequence: SequenceID) -> [Int] { tablesOf(sequence).lengths }

    /// Physical block ids of head (layer, head), in logical order.
    public func blockTable(_ sequence: SequenceID, layer: Int, head: Int) -> [Int32] {
        tablesOf(sequence).blockTables[headIndex(layer: layer, head: head)]
    }

    /// Blocks held by `sequence` over all layers and heads.
    public func residentBlocks(_ sequence: SequenceID) -> Int {
        tablesOf(sequence).blockTables.reduce(0) { $0 + $1.count }
    }

    /// Largest context length over the heads of `sequence` (the sequence's logical length before any eviction).
    public func maxContextLength(_ sequence: SequenceID) -> Int { tablesOf(sequence).lengths.max() ?? 0 }

    /// Position the next token of `sequence` gets (tokens processed so far; eviction does not change it).
    public func nextPosition(_ sequence: SequenceID) -> Int { tablesOf(sequence).processedTokens }

    /// Records that the model processed `count` more tokens of `sequence`.
    public func advance(_ sequence: SequenceID, by count: Int) {
        guard tables[sequence] != nil else { preconditionFailure("unknown sequence \(sequence)") }
        tables[sequence]!.processedTokens += count
    }

    // MARK: - Growing

    /// Blocks that appending `tokens` KVs to every head of `sequence` would allocate.
    public func blocksNeeded(_ sequence: SequenceID, appending tokens: Int) -> Int {
        let t = tablesOf(sequence)
        var needed = 0
        for i in 0..<layout.headCount {
            needed += max(0, layout.blocks(forTokens: t.lengths[i] + tokens) - t.blockTables[i].count)
        }
        return needed
    }

    /// Allocates blocks so every head of `sequence` can take `tokens` more KVs. All or nothing: when the
    /// pool cannot fit them, nothing is allocated and `outOfBlocks` is thrown.
    public func reserve(_ sequence: SequenceID, tokens: Int) throws(KVCacheError) {
        guard var t = tables[sequence] else { throw .unknownSequence(sequence) }
        let needed = blocksNeeded(sequence, appending: tokens)
        guard needed <= allocator.freeCount else {
            throw .outOfBlocks(needed: needed, free: allocator.freeCount, capacity: capacityBlocks)
        }
        for i in 0..<layout.headCount {
            let want = layout.blocks(forTokens: t.lengths[i] + tokens)
            while t.blockTables[i].count < want { t.blockTables[i].append(allocator.allocate()!) }
        }
        tables[sequence] = t
    }

    /// Appends `count` tokens' KVs to every KV head of `layer`, rounded to `layout.kvType` (to nearest
    /// even for half floats). Blocks must have been reserved.
    /// - Parameters:
    ///   - keys: `[count, kvHeads, headDim]`, RoPE already applied.
    ///   - values: `[count, kvHeads, headDim]`.
    ///   - positions: `[count]` token positions.
    /// New slots start with metric 0.
    public func append(
        _ sequence: SequenceID, layer: Int, count: Int,
        keys newKeys: UnsafePointer<Float>, values newValues: UnsafePointer<Float>, positions newPositions: UnsafePointer<Int32>
    ) {
        guard var t = tables[sequence] else { preconditionFailure("unknown sequence \(sequence)") }
        let d = layout.headDim, h = layout.kvHeads, type = layout.kvType
        for head in 0..<h {
            let hi = headIndex(layer: layer, head: head)
            let start = t.lengths[hi]
            precondition(
                layout.blocks(forTokens: start + count) <= t.blockTables[hi].count,
                "append beyond reserved blocks: call reserve(_:tokens:) first")
            for i in 0..<count {
                let logical = start + i
                let slot = Int(t.blockTables[hi][logical / layout.blockSize]) * layout.blockSize + logical % layout.blockSize
                KVRows.store(newKeys + (i * h + head) * d, type: type, count: d, into: keyRow(slot))
                KVRows.store(newValues + (i * h + head) * d, type: type, count: d, into: valueRow(slot))
                metrics[slot] = 0
                positions[slot] = newPositions[i]
            }
            t.lengths[hi] = start + count
        }
        tables[sequence] = t
    }

    // MARK: - Slot access

    /// Key of physical slot `slot`: `headDim` elements of `layout.kvType`.
    @inlinable func keyRow(_ slot: Int) -> UnsafeMutableRawPointer {
        keyStorage + slot * layout.headDim * layout.kvType.bytesPerElement
    }

    /// Value of physical slot `slot`: `headDim` elements of `layout.kvType`.
    @inlinable func valueRow(_ slot: Int) -> UnsafeMutableRawPointer {
        valueStorage + slot * layout.headDim * layout.kvType.bytesPerElement
    }

    /// Key of physical slot `slot` as floats: `destination[0..<headDim]`.
    public func loadKey(slot: Int, into destination: UnsafeMutablePointer<Float>) {
        KVRows.load(keyRow(slot), type: layout.kvType, count: layout.headDim, into: destination)
    }

    /// Value of physical slot `slot` as floats: `destination[0..<headDim]`.
    public func loadValue(slot: Int, into destination: UnsafeMutablePointer<Float>) {
        KVRows.load(valueRow(slot), type: layout.kvType, count: layout.headDim, into: destination)
    }

    /// Key of physical slot `slot` as floats: `[headDim]`.
    public func key(slot: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: layout.headDim) { buffer, n in
            loadKey(slot: slot, into: buffer.baseAddress!)
            n = layout.headDim
        }
    }

    /// Value of physical slot `slot` as floats: `[headDim]`.
    public func value(slot: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: layout.headDim) { buffer, n in
            loadValue(slot: slot, into: buffer.baseAddress!)
            n = layout.headDim
        }
    }

    /// Stores `source[0..<headDim]` as the key of physical slot `slot`, rounded to `layout.kvType`.
    public func storeKey(slot: Int, from source: UnsafePointer<Float>) {
        KVRows.store(source, type: layout.kvType, count: layout.headDim, into: keyRow(slot))
    }

    /// Stores `source[0..<headDim]` as the value of physical slot `slot`, rounded to `layout.kvType`.
    public func storeValue(slot: Int, from source: UnsafePointer<Float>) {
        KVRows.store(source, type: layout.kvType, count: layout.headDim, into: valueRow(slot))
    }

    /// Copies everything physical slot `source` holds (K and V as stored, bit for bit, metric and
    /// position) into physical slot `destination`.
    public func copySlot(from source: Int, to destination: Int) {
        let rowBytes = layout.headDim * layout.kvType.bytesPerElement
        keyRow(destination).copyMemory(from: keyRow(source), byteCount: rowBytes)
        valueRow(destination).copyMemory(from: valueRow(source), byteCount: rowBytes)
        metrics[destination] = metrics[source]
        positions[destination] = positions[source]
    }

    /// Physical slot of logical index `index` of head (layer, head); multiply by `headDim` for K/V offsets.
    @inlinable
    public func slot(_ sequence: SequenceID, layer: Int, head: Int, index: Int) -> Int {
        let table = blockTable(sequence, layer: layer, head: head)
        return Int(table[index / layout.blockSize]) * layout.blockSize + index % layout.blockSize
    }

    /// A read view of one head: its block table and length, for attention and metric kernels.
    public func view(_ sequence: SequenceID, layer: Int, head: Int) -> HeadView {
        let t = tablesOf(sequence)
        let hi = headIndex(layer: layer, head: head)
        return HeadView(
            blockTable: t.blockTables[hi], length: t.lengths[hi], blockSize: layout.blockSize, headDim: layout.headDim,
            kvType: layout.kvType, keys: keyStorage, values: valueStorage, metrics: metrics, positions: positions)
    }

    // MARK: - Shrinking (used by compression)

    /// Moves the KV in logical slot `source` of a head to logical slot `destination`: K, V (as stored,
    /// bit for bit), metric and position travel together (paper §3, cache moves).
    public func moveSlot(_ sequence: SequenceID, layer: Int, head: Int, from source: Int, to destination: Int) {
        moveSlots(sequence, layer: layer, head: head, [(source, destination)])
    }

    /// ``moveSlot(_:layer:head:from:to:)`` for each (source, destination) pair in order, with one
    /// lookup of the head's block table (a compression moves many KVs of a head).
    public func moveSlots(_ sequence: SequenceID, layer: Int, head: Int, _ moves: [(source: Int, destination: Int)]) {
        guard !moves.isEmpty else { return }
        let table = blockTable(sequence, layer: layer, head: head)
        let bs = layout.blockSize
        table.withUnsafeBufferPointer { table in
            for (source, destination) in moves {
                copySlot(from: Int(table[source / bs]) * bs + source % bs, to: Int(table[destination / bs]) * bs + destination % bs)
            }
        }
    }

    /// Shortens head (layer, head) to `length` KVs and returns its trailing blocks to the pool.
    /// - Returns: the number of blocks freed.
    @discardableResult
    public func truncate(_ sequence: SequenceID, layer: Int, head: Int, to length: Int) throws(KVCacheError) -> Int {
        guard let current = tables[sequence]?.lengths[headIndex(layer: layer, head: head)] else { throw .unknownSequence(sequence) }
        let hi = headIndex(layer: layer, head: head)
        guard length >= 0, length <= current else {
            throw .invalidLength("cannot truncate layer \(layer) head \(head) from \(current) to \(length) KVs")
        }
        // Mutated in place through the dictionary (a copy of the sequence's tables would copy every
        // head's table once per truncation: a compression truncates every head).
        let keep = layout.blocks(forTokens: length)
        let freed = tables[sequence]!.blockTables[hi].count - keep
        for b in tables[sequence]!.blockTables[hi][keep...] { allocator.release(b) }
        tables[sequence]!.blockTables[hi].removeLast(freed)
        tables[sequence]!.lengths[hi] = length
        return freed
    }
}

/// Block tables and context lengths of one sequence, indexed by `layer * kvHeads + head`.
struct SequenceTables {
    var blockTables: [[Int32]]
    var lengths: [Int]
    /// Tokens the model has processed for this sequence: the position of the next token. Unlike the
    /// context lengths, it never shrinks when KVs are evicted.
    var processedTokens = 0
    init(headCount: Int) {
        blockTables = Array(repeating: [], count: headCount)
        lengths = Array(repeating: 0, count: headCount)
    }
}

/// Free list of block ids. Freed blocks are reused first (LIFO), which keeps the touched memory small.
struct BlockAllocator {
    private var free: [Int32]
    init(capacity: Int) { free = (0..<Int32(capacity)).reversed() }
    var freeCount: Int { free.count }
    mutating func allocate() -> Int32? { free.popLast() }
    mutating func release(_ block: Int32) { free.append(block) }
}

/// One head's blocks, for kernels that walk a head block by block.
///
/// Keys and values read as floats whatever the cache stores: `key(i)[j]`, `Array(value(i))`,
/// ``copyKeys(block:into:)``. Kernels that handle the stored type themselves take
/// ``keyStorage(block:)`` / ``valueStorage(block:)`` with ``kvType``.
public struct HeadView: @unchecked Sendable {
    public let blockTable: [Int32]
    /// Number of valid KVs; the last block may be partly filled.
    public let length: Int
    public let blockSize: Int
    public let headDim: Int
    /// Element type of the stored keys and values.
    public let kvType: KVStorageType
    @usableFromInline let keys: UnsafeMutableRawPointer
    @usableFromInline let values: UnsafeMutableRawPointer
    @usableFromInline let metrics: UnsafeMutablePointer<Float>
    @usableFromInline let positions: UnsafeMutablePointer<Int32>

    /// Valid KVs in logical block `i`.
    @inlinable public func count(inBlock i: Int) -> Int { min(blockSize, length - i * blockSize) }
    /// Bytes of one key or value row.
    @inlinable var rowBytes: Int { headDim * kvType.bytesPerElement }
    /// Keys of logical block `i` as stored: `[blockSize, headDim]` elements of `kvType`.
    @inlinable public func keyStorage(block i: Int) -> UnsafeRawPointer {
        UnsafeRawPointer(keys + Int(blockTable[i]) * blockSize * rowBytes)
    }
    /// Values of logical block `i` as stored: `[blockSize, headDim]` elements of `kvType`.
    @inlinable public func valueStorage(block i: Int) -> UnsafeRawPointer {
        UnsafeRawPointer(values + Int(blockTable[i]) * blockSize * rowBytes)
    }
    /// The valid keys of logical block `i` as floats: `destination[0..<count(inBlock: i) * headDim]`.
    public func copyKeys(block i: Int, into destination: UnsafeMutablePointer<Float>) {
        KVRows.load(keyStorage(block: i), type: kvType, count: count(inBlock: i) * headDim, into: destination)
    }
    /// The valid values of logical block `i` as floats: `destination[0..<count(inBlock: i) * headDim]`.
    public func copyValues(block i: Int, into destination: UnsafeMutablePointer<Float>) {
        KVRows.load(valueStorage(block: i), type: kvType, count: count(inBlock: i) * headDim, into: destination)
    }
    /// Metrics of logical block `i`: `[blockSize]`.
    @inlinable public func metrics(block i: Int) -> UnsafeMutablePointer<Float> { metrics + Int(blockTable[i]) * blockSize }
    /// Token positions of logical block `i`: `[blockSize]`.
    @inlinable public func positions(block i: Int) -> UnsafeMutablePointer<Int32> { positions + Int(blockTable[i]) * blockSize }
    /// Physical slot of logical index `index`.
    @inlinable public func slot(_ index: Int) -> Int { Int(blockTable[index / blockSize]) * blockSize + index % blockSize }
    /// Key of logical index `index`, read as floats: `[headDim]`.
    @inlinable public func key(_ index: Int) -> KVVector {
        KVVector(base: keys + slot(index) * rowBytes, type: kvType, count: headDim)
    }
    /// Value of logical index `index`, read as floats: `[headDim]`.
    @inlinable public func value(_ index: Int) -> KVVector {
        KVVector(base: values + slot(index) * rowBytes, type: kvType, count: headDim)
    }
    @inlinable public func metric(_ index: Int) -> UnsafeMutablePointer<Float> { metrics + slot(index) }
    @inlinable public func position(_ index: Int) -> Int32 { positions[slot(index)] }
    public var blockCount: Int { blockTable.count }
    /// Blocks holding at least one KV: `ceil(length / blockSize)`. Fewer than `blockCount` when
    /// blocks were reserved ahead of the KVs (a chunked prefill's whole prompt, reserved at admission).
    @inlinable public var filledBlockCount: Int { (length + blockSize - 1) / blockSize }
}
