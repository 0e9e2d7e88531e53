import KVCompress

/// Whole-block book-keeping shared by KV-Compress's schedule and the baseline policies, written only
/// against the public protocols (``EvictionInput``, ``VirtualBlocks``, ``BudgetLimit``), as a user's policy would be.
///
/// Each baseline ranks the KVs of every head by its own score (+inf: never evict). Ranking a head
/// ascending and cutting it into virtual blocks (KV-Compress §4: the first holds `ctx % bs`, then bs
/// each) means that evicting its first n virtual blocks frees exactly n of its physical blocks and
/// leaves a whole number of blocks, the only shape the ``EvictionExecutor`` accepts. What differs
/// between baselines is how many virtual blocks each head gives up: the `choose` rule of
/// ``evictUntilBudgetHolds(choosing:)`` picks the head that gives up the next one, and the loop stops
/// as soon as the sequence meets its ``BudgetLimit`` — exactly when KV-Compress's own schedule stops —
/// so every method is compared at the same resident KV bytes (within one block, as KV-Compress).
///
/// Unlike kvpress, which masks pruned keys and keeps their memory, the plan this builds frees the
/// blocks for real.
public struct BlockAllocator: Sendable {
    public let input: EvictionInput
    /// Every head's ranking cut into virtual blocks: `[layers * kvHeads]`.
    public let virtualBlocks: [VirtualBlocks]
    /// Virtual blocks evicted so far per head: `[layers * kvHeads]`.
    public private(set) var evictedBlocks: [Int]
    /// KVs and physical blocks the sequence keeps after the evictions so far.
    public private(set) var keptKVsTotal: Int
    public private(set) var keptBlocksTotal: Int
    /// Evictable virtual blocks per head (those holding no +inf KV; they come first in ascending order).
    private let evictableCount: [Int]

    /// - Parameter rankingScores: one score per logical slot of each head, `[layers * kvHeads][contextLength]`;
    ///   lower goes first, +inf never. Protected positions (``EvictionInput/isProtected(position:)``) are
    ///   forced to +inf here whatever the ranking says, so no baseline can touch them.
    public init(_ input: EvictionInput, rankingScores: [[Float]]) {
        precondition(rankingScores.count == input.heads.count, "one ranking per head")
        self.input = input
        virtualBlocks = input.heads.indices.map { h in
            let head = input.heads[h]
            precondition(rankingScores[h].count == head.contextLength, "one ranking score per slot")
            var scores = rankingScores[h]
            for i in scores.indices where input.isProtected(position: Int(head.positions[i])) { scores[i] = .infinity }
            return VirtualBlocks(scores: scores, blockSize: input.blockSize(ofLayer: head.layer))
        }
        evictableCount = virtualBlocks.map { v in (0..<v.count).prefix { v.isEvictable($0) }.count }
        evictedBlocks = Array(repeating: 0, count: input.heads.count)
        keptKVsTotal = input.residentKVs
        keptBlocksTotal = input.residentBlocks
    }

    // MARK: - State

    /// Whether the sequence now meets its budget.
    public var holds: Bool { input.limit.holds(blocks: keptBlocksTotal, kvs: keptKVsTotal) }

    /// KVs head `h` keeps after evicting its first `n` virtual blocks.
    public func keptKVs(_ h: Int, afterEvicting n: Int) -> Int {
        input.heads[h].contextLength - (n == 0 ? 0 : virtualBlocks[h].ends[n - 1])
    }

    /// KVs head `h` keeps now.
    public func keptKVs(_ h: Int) -> Int { keptKVs(h, afterEvicting: evictedBlocks[h]) }

    /// KVs of head `h` that can never go (protected, or in a virtual block with a protected KV).
    public func unevictableKVs(_ h: Int) -> Int { keptKVs(h, afterEvicting: evictableCount[h]) }

    /// Whether head `h` has another evictable virtual block.
    public func canEvict(_ h: Int) -> Bool { evictedBlocks[h] < evictableCount[h] }

    /// Ranking score of the next virtual block head `h` would give up (its largest); +inf if none.
    public func nextScore(_ h: Int) -> Float {
        canEvict(h) ? virtualBlocks[h].scores[evictedBlocks[h]] : .infinity
    }

    /// KVs head `h` frees by evicting its next virtual block.
    public func nextBlockKVs(_ h: Int) -> Int { canEvict(h) ? virtualBlocks[h].size(evictedBlocks[h]) : 0 }

    // MARK: - Evicting

    /// Evicts the next virtual block of head `h`.
    public mutating func evictNext(_ h: Int) {
        precondition(canEvict(h), "head \(h) has no evictable block left")
        let p = input.physicalBlockSize
        let before = keptKVs(h)
        evictedBlocks[h] += 1
        let after = keptKVs(h)
        keptKVsTotal -= before - after
        keptBlocksTotal -= (before + p - 1) / p - (after + p - 1) / p
    }

    /// Evicts one virtual block at a time from the head `choose` names until the budget holds, or
    /// `choose` returns nil (it must only name heads that ``canEvict(_:)``).
    public mutating func evictUntilBudgetHolds(choosing choose: (BlockAllocator) -> Int?) {
        while !holds, let h = choose(self) { evictNext(h) }
    }

    /// Evicts, until the budget holds, the virtual block with the lowest score over all heads (ties to
    /// the lowest head index): KV-Compress's global schedule (§4). A head's virtual-block scores ascend,
    /// so taking each head's next block in this order is the same as sorting all blocks of the sequence.
    public mutating func evictLowestFirst() {
        evictUntilBudgetHolds { a in a.lowestEvictableHead() }
    }

    /// The evictable head (among `heads`, default all) whose next virtual block has the lowest score;
    /// ties to the lowest index. Nil when none can evict.
    public func lowestEvictableHead(among heads: Range<Int>? = nil) -> Int? {
        var best: (h: Int, score: Float)?
        for h in heads ?? input.heads.indices where canEvict(h) {
            let s = nextScore(h)
            if let b = best, s >= b.score { continue }
            best = (h, s)
        }
        return best?.h
    }

    /// Evicts, until the budget holds, from the head with the largest `load`, ties to the lowest next
    /// score, then the lowest head index: a water-filling that leaves the heads' loads within one block
    /// of each other. With `load = keptKVs` every head ends with the same budget (SnapKV, StreamingLLM, …).
    public mutating func evictFromLargest(load: (BlockAllocator, Int) -> Double) {
        evictUntilBudgetHolds { a in a.largestEvictableHead(load: load) }
    }

    /// The evictable head (among `heads`, default all) with the largest `load`; ties to the lowest
    /// next score, then the lowest index. Nil when none can evict.
    public func largestEvictableHead(among heads: Range<Int>? = nil, load: (BlockAllocator, Int) -> Double) -> Int? {
        var best: (h: Int, load: Double, score: Float)?
        for h in heads ?? input.heads.indices where canEvict(h) {
            let l = load(self, h), s = nextScore(h)
            if let b = best, l < b.load || (l == b.load && s >= b.score) { continue }
            best = (h, l, s)
        }
        return best?.h
    }

    /// The evictions so far as a plan for the executor.
    public var plan: EvictionPlan {
        EvictionPlan(evicted: input.heads.indices.map { virtualBlocks[$0].slots(evictingFirst: evictedBlocks[$0]) })
    }
}

extension EvictionInput {
    /// The scheduling scores the metric produced, one array per head: `[layers * kvHeads][contextLength]`.
    public var metricScores: [[Float]] { heads.map(\.scores) }

    /// Maps each slot of each head to a ranking score computed from the slot: `[layers * kvHeads][contextLength]`.
    public func rankingScores(_ score: (HeadScores, Int) -> Float) -> [[Float]] {
        heads.map { head in (0..<head.contextLength).map { score(head, $0) } }
    }
}
