/// A paged KV cache in the KV-Compress layout.
///
/// One global pool of blocks; each block holds `blockSize` slots of one KV head of one layer of one
/// sequence. Per slot it stores the key (after RoPE, so a KV keeps its meaning wherever it moves), the
/// value, a float importance metric and the token position.
///
/// Storage (row-major, one contiguous buffer each):
/// - `keys`, `values`: `[capacityBlocks, blockSize, headDim]` float32
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

    public let keys: UnsafeMutablePointer<Float>
    public let values: UnsafeMutablePointer<Float>
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
        keys = .allocate(capacity: slots * layout.headDim)
        values = .allocate(capacity: slots * layout.headDim)
        metrics = .allocate(capacity: slots)
        positions = .allocate(capacity: slots)
        allocator = BlockAllocator(capacity: capacityBlocks)
    }

    /// Creates a pool sized in bytes (K, V, metric and position of every slot counted).
    public convenience init(layout: CacheLayout, capacityBytes: Int) throws(KVCacheError) {
        try self.init(layout: layout, capacityBlocks: capacityBytes / layout.bytesPerBlock)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
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

    /// Appends `count` tokens' KVs to every KV head of `layer`. Blocks must have been reserved.
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
        let d = layout.headDim, h = layout.kvHeads
        for head in 0..<h {
            let hi = headIndex(layer: layer, head: head)
            let start = t.lengths[hi]
            precondition(
                layout.blocks(forTokens: start + count) <= t.blockTables[hi].count,
                "append beyond reserved blocks: call reserve(_:tokens:) first")
            for i in 0..<count {
                let logical = start + i
                let slot = Int(t.blockTables[hi][logical / layout.blockSize]) * layout.blockSize + logical % layout.blockSize
                (keys + slot * d).update(from: newKeys + (i * h + head) * d, count: d)
                (values + slot * d).update(from: newValues + (i * h + head) * d, count: d)
                metrics[slot] = 0
                positions[slot] = newPositions[i]
            }
            t.lengths[hi] = start + count
        }
        tables[sequence] = t
    }

    // MARK: - Slot access

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
            keys: keys, values: values, metrics: metrics, positions: positions)
    }

    // MARK: - Shrinking (used by compression)

    /// Moves the KV in logical slot `source` of a head to logical slot `destination`: K, V, metric and
    /// position travel together (paper §3, cache moves).
    public func moveSlot(_ sequence: SequenceID, layer: Int, head: Int, from source: Int, to destination: Int) {
        let table = blockTable(sequence, layer: layer, head: head)
        let bs = layout.blockSize, d = layout.headDim
        let s = Int(table[source / bs]) * bs + source % bs
        let t = Int(table[destination / bs]) * bs + destination % bs
        (keys + t * d).update(from: keys + s * d, count: d)
        (values + t * d).update(from: values + s * d, count: d)
        metrics[t] = metrics[s]
        positions[t] = positions[s]
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
public struct HeadView: @unchecked Sendable {
    public let blockTable: [Int32]
    /// Number of valid KVs; the last block may be partly filled.
    public let length: Int
    public let blockSize: Int
    public let headDim: Int
    @usableFromInline let keys: UnsafeMutablePointer<Float>
    @usableFromInline let values: UnsafeMutablePointer<Float>
    @usableFromInline let metrics: UnsafeMutablePointer<Float>
    @usableFromInline let positions: UnsafeMutablePointer<Int32>

    /// Valid KVs in logical block `i`.
    @inlinable public func count(inBlock i: Int) -> Int { min(blockSize, length - i * blockSize) }
    /// Keys of logical block `i`: `[blockSize, headDim]`.
    @inlinable public func keys(block i: Int) -> UnsafeMutablePointer<Float> { keys + Int(blockTable[i]) * blockSize * headDim }
    /// Values of logical block `i`: `[blockSize, headDim]`.
    @inlinable public func values(block i: Int) -> UnsafeMutablePointer<Float> { values + Int(blockTable[i]) * blockSize * headDim }
    /// Metrics of logical block `i`: `[blockSize]`.
    @inlinable public func metrics(block i: Int) -> UnsafeMutablePointer<Float> { metrics + Int(blockTable[i]) * blockSize }
    /// Token positions of logical block `i`: `[blockSize]`.
    @inlinable public func positions(block i: Int) -> UnsafeMutablePointer<Int32> { positions + Int(blockTable[i]) * blockSize }
    /// Physical slot of logical index `index`.
    @inlinable public func slot(_ index: Int) -> Int { Int(blockTable[index / blockSize]) * blockSize + index % blockSize }
    /// Key of logical index `index`: `[headDim]`.
    @inlinable public func key(_ index: Int) -> UnsafeMutablePointer<Float> { keys + slot(index) * headDim }
    /// Value of logical index `index`: `[headDim]`.
    @inlinable public func value(_ index: Int) -> UnsafeMutablePointer<Float> { values + slot(index) * headDim }
    @inlinable public func metric(_ index: Int) -> UnsafeMutablePointer<Float> { metrics + slot(index) }
    @inlinable public func position(_ index: Int) -> Int32 { positions[slot(index)] }
    public var blockCount: Int { blockTable.count }
    /// Blocks holding at least one KV: `ceil(length / blockSize)`. Fewer than `blockCount` when
    /// blocks were reserved ahead of the KVs (a chunked prefill's whole prompt, reserved at admission).
    @inlinable public var filledBlockCount: Int { (length + blockSize - 1) / blockSize }
}
