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
            // The head whose next block scores lowest, ties to the lowest index, taken from a heap of
            // every evictable head's next block: the same choices as scanning all heads each time
            // (BlockAllocator.lowestEvictableHead), in O(log heads) per block instead of O(heads).
            var queue = NextBlockQueue()
            for h in 0..<shape.heads where state.canEvict(h) { queue.push(score: state.nextScore(h), head: h) }
            while !state.holds, let head = queue.popLowest() {
                state.evictNext(head)
                if state.canEvict(head) { queue.push(score: state.nextScore(head), head: head) }
            }
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

    /// Score of head `h`'s next virtual block (it must `canEvict`).
    func nextScore(_ h: Int) -> Float { scores[h * shape.maxVirtualBlocks + evicted[h]] }

    /// The evictable head in `heads` whose next virtual block scores lowest; ties to the lowest index.
    func lowestEvictableHead(among heads: Range<Int>) -> Int? {
        var best: (head: Int, score: Float)?
        for h in heads where canEvict(h) {
            let score = nextScore(h)
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

/// Binary min-heap of (score, head), ordered by score then head index; scores are never NaN.
private struct NextBlockQueue {
    private var entries: [(score: Float, head: Int)] = []

    private func lower(_ a: Int, _ b: Int) -> Bool {
        entries[a].score < entries[b].score || (entries[a].score == entries[b].score && entries[a].head < entries[b].head)
    }

    mutating func push(score: Float, head: Int) {
        entries.append((score, head))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard lower(child, parent) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popLowest() -> Int? {
        guard let top = entries.first else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var lowest = parent
                if left < entries.count && lower(left, lowest) { lowest = left }
                if right < entries.count && lower(right, lowest) { lowest = right }
                if lowest == parent { break }
                entries.swapAt(parent, lowest)
                parent = lowest
            }
        }
        return top.head
    }
}
