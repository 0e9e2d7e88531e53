/// The host step of the GPU schedule (KV-Compress §4): from every head's virtual-block scores, pick
/// the globally lowest virtual blocks until the sequence meets its budget.
///
/// A re-implementation of `BlockAllocator.evictLowestFirst` and of KVCompressPolicy's
/// `even_layer_evict` rounds (Plugins/EvictionPolicies), with the same tie rule (equal scores go to
/// the lowest head index) and the same stopping rule (the budget is checked before each eviction, in
/// physical blocks or KVs): KVCCUDA must not depend on the plug-ins, and
/// Tests/KVCCUDATests/EvictionReferenceTests.swift checks both choose the same blocks.
public struct VirtualBlockSelection: Sendable, Equatable {
    /// Virtual blocks each head gives up, a prefix of its ascending order: `[heads]`.
    public let evictedBlocks: [Int]
    /// KVs each head gives up: `[heads]`.
    public let evictedKVs: [Int]
    /// Whether the sequence meets its limit after the evictions (false when protected KVs alone exceed it).
    public let budgetHeld: Bool

    public init(ordering: HeadOrdering, limit: EvictionLimit, evenLayerEvict: Bool) {
        // A HeadOrdering's arrays were checked against its shape when it was made.
        self.init(checked: ordering.shape, virtualBlockScores: ordering.virtualBlockScores, limit: limit, evenLayerEvict: evenLayerEvict)
    }

    /// - Parameter virtualBlockScores: `[heads, maxVirtualBlocks]` as `kvc_sort_head_metrics` writes them.
    public init(shape: EvictionShape, virtualBlockScores: [Float], limit: EvictionLimit, evenLayerEvict: Bool) throws(EvictionError) {
        guard virtualBlockScores.count == shape.heads * shape.maxVirtualBlocks else {
            throw .shapeMismatch("\(virtualBlockScores.count) virtual-block scores for \(shape.heads) heads × \(shape.maxVirtualBlocks)")
        }
        self.init(checked: shape, virtualBlockScores: virtualBlockScores, limit: limit, evenLayerEvict: evenLayerEvict)
    }

    private init(checked shape: EvictionShape, virtualBlockScores: [Float], limit: EvictionLimit, evenLayerEvict: Bool) {
        var state = SelectionState(shape: shape, scores: virtualBlockScores, limit: limit)
        if evenLayerEvict {
            // Rounds: every layer gives up its lowest remaining block; the budget is checked between
            // rounds only, so all layers lose the same number (a layer out of blocks gives what it has).
            let h = shape.kvHeads
            while !state.holds {
                let chosen = (0..<shape.layers).compactMap { state.lowestEvictableHead(among: $0 * h..<($0 + 1) * h) }
                if chosen.isEmpty { break }
                for head in chosen { state.evictNext(head) }
            }
        } else {
            while !state.holds, let head = state.lowestEvictableHead(among: 0..<shape.heads) { state.evictNext(head) }
        }
        evictedBlocks = state.evicted
        evictedKVs = state.evicted.indices.map { shape.evictedKVs(head: $0, blocks: state.evicted[$0]) }
        budgetHeld = state.holds
    }

    public var totalEvictedKVs: Int { evictedKVs.reduce(0, +) }
}

/// Kept KVs and blocks while virtual blocks are taken one by one.
private struct SelectionState {
    let shape: EvictionShape
    /// `[heads, maxVirtualBlocks]`.
    let scores: [Float]
    let limit: EvictionLimit
    /// Leading virtual blocks without a protected (+inf) KV, per head: the only evictable ones.
    let evictable: [Int]
    var evicted: [Int]
    var keptKVs: Int
    var keptBlocks: Int

    init(shape: EvictionShape, scores: [Float], limit: EvictionLimit) {
        self.shape = shape
        self.scores = scores
        self.limit = limit
        evictable = (0..<shape.heads).map { h in
            let count = EvictionShape.virtualBlockCount(length: shape.contextLengths[h], blockSize: shape.evictionBlockSizes[h])
            return scores[h * shape.maxVirtualBlocks..<h * shape.maxVirtualBlocks + count].prefix { $0 != .infinity }.count
        }
        evicted = Array(repeating: 0, count: shape.heads)
        keptKVs = shape.contextLengths.reduce(0, +)
        keptBlocks = shape.contextLengths.reduce(0) { $0 + ($1 + shape.blockSize - 1) / shape.blockSize }
    }

    var holds: Bool { limit.holds(blocks: keptBlocks, kvs: keptKVs) }

    func canEvict(_ h: Int) -> Bool { evicted[h] < evictable[h] }

    /// The evictable head in `heads` whose next virtual block scores lowest; ties to the lowest index.
    func lowestEvictableHead(among heads: Range<Int>) -> Int? {
        var best: (head: Int, score: Float)?
        for h in heads where canEvict(h) {
            let score = scores[h * shape.maxVirtualBlocks + evicted[h]]
            if let b = best, score >= b.score { continue }
            best = (h, score)
        }
        return best?.head
    }

    mutating func evictNext(_ h: Int) {
        let p = shape.blockSize
        let before = shape.contextLengths[h] - shape.evictedKVs(head: h, blocks: evicted[h])
        evicted[h] += 1
        let after = shape.contextLengths[h] - shape.evictedKVs(head: h, blocks: evicted[h])
        keptKVs -= before - after
        keptBlocks -= (before + p - 1) / p - (after + p - 1) / p
    }
}
