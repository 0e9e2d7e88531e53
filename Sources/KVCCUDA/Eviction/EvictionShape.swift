import PagedKVCache

/// The sizes one compression of one sequence works with, derived from the host cache's tables before
/// anything runs, so shape errors surface before any driver call. A "head" is one (layer, KV head),
/// index `layer * kvHeads + head`.
public struct EvictionShape: Sendable, Hashable {
    public let layers: Int
    public let kvHeads: Int
    /// Physical block size of the cache.
    public let blockSize: Int
    /// Tokens the sequence has processed (the next token's position).
    public let sequenceLength: Int
    /// KVs each head holds: `[heads]`.
    public let contextLengths: [Int]
    /// Eviction unit of each head (its layer's): `[heads]`.
    public let evictionBlockSizes: [Int]
    /// Row length of the per-head outputs: the longest head, at least 1.
    public let maxContext: Int
    /// Virtual blocks of the head that has most, at least 1.
    public let maxVirtualBlocks: Int
    /// Capacity of each head's move list: a head moves at most min(evicted, kept) ≤ ⌊length / 2⌋ KVs.
    public let maxMoves: Int

    public var heads: Int { layers * kvHeads }

    /// Power of two ≥ `maxContext`: the sort's shared-memory array length.
    public var paddedLength: Int {
        var n = 1
        while n < maxContext { n <<= 1 }
        return n
    }

    /// Dynamic shared memory of the sort: one float score and one int index per padded entry.
    public var sortSharedMemoryBytes: Int { paddedLength * 8 }

    /// - Parameter layerBlockSizes: eviction unit per layer, `[layers]` (already checked).
    public init(layout: CacheLayout, sequenceLength: Int, contextLengths: [Int], layerBlockSizes: [Int]) throws(EvictionError) {
        guard contextLengths.count == layout.headCount else {
            throw .shapeMismatch("\(contextLengths.count) context lengths for \(layout.layers) layers × \(layout.kvHeads) KV heads")
        }
        guard layerBlockSizes.count == layout.layers else {
            throw .shapeMismatch("\(layerBlockSizes.count) eviction block sizes for \(layout.layers) layers")
        }
        layers = layout.layers
        kvHeads = layout.kvHeads
        blockSize = layout.blockSize
        self.sequenceLength = sequenceLength
        self.contextLengths = contextLengths
        evictionBlockSizes = (0..<layout.headCount).map { layerBlockSizes[$0 / layout.kvHeads] }
        maxContext = max(1, contextLengths.max() ?? 0)
        maxVirtualBlocks = max(1, zip(contextLengths, evictionBlockSizes).map { Self.virtualBlockCount(length: $0, blockSize: $1) }.max() ?? 0)
        maxMoves = max(1, maxContext / 2)
    }

    /// The shape of `sequence` in `cache` under `settings`.
    public init(cache: PagedKVCache, sequence: SequenceID, settings: EvictionSettings) throws(EvictionError) {
        guard cache.contains(sequence) else { throw .unknownSequence("\(sequence)") }
        try self.init(
            layout: cache.layout, sequenceLength: cache.nextPosition(sequence), contextLengths: cache.contextLengths(sequence),
            layerBlockSizes: try settings.resolvedBlockSizes(for: cache.layout))
    }

    /// Virtual blocks of a head of `length` KVs: the first holds `length % bs` (bs when a multiple),
    /// each later one bs (KV-Compress §4).
    public static func virtualBlockCount(length: Int, blockSize: Int) -> Int {
        length == 0 ? 0 : (length + blockSize - 1) / blockSize
    }

    /// KVs in the first virtual block of a head of `length` KVs.
    public static func hanging(length: Int, blockSize: Int) -> Int {
        length % blockSize == 0 ? blockSize : length % blockSize
    }

    /// KVs a head evicts when it gives up its first `blocks` virtual blocks.
    public func evictedKVs(head: Int, blocks: Int) -> Int {
        blocks == 0 ? 0 : Self.hanging(length: contextLengths[head], blockSize: evictionBlockSizes[head]) + (blocks - 1) * evictionBlockSizes[head]
    }

    /// Checks every head fits the per-head sort: `sharedMemoryBytes` is the most dynamic shared memory
    /// one CUDA block may use on the device.
    public func checkSortFits(sharedMemoryBytes: Int, architecture: String) throws(EvictionError) {
        let limit = Self.sortLimit(sharedMemoryBytes: sharedMemoryBytes)
        guard maxContext > limit else { return }
        let head = contextLengths.firstIndex { $0 > limit }!
        throw .headTooLongForSort(
            layer: head / kvHeads, head: head % kvHeads, length: contextLengths[head], limit: limit, architecture: architecture)
    }

    /// The longest head the sort takes with `sharedMemoryBytes` of shared memory: the largest power
    /// of two whose 8-byte entries fit.
    public static func sortLimit(sharedMemoryBytes: Int) -> Int {
        var n = 1
        while n * 2 * 8 <= sharedMemoryBytes { n *= 2 }
        return n
    }
}
