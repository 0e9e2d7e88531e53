import KVCompress

/// H2O, Heavy-Hitter Oracle (Zhang et al., "H2O: Heavy-Hitter Oracle for Efficient Generative
/// Inference of Large Language Models", NeurIPS 2023, arXiv 2306.14048): each head keeps its "heavy
/// hitters", the KVs with the largest attention accumulated from every query so far, plus the most
/// recent KVs, in equal shares of one per-head budget.
///
/// The heavy-hitter metric comes from the `h2o` preset: the `kvcompress` metric with L1 norm (plain
/// probabilities) under the `full` window, every prompt query and every decode query, no pooling, so it
/// accumulates through prefill and decode. This policy is the allocation: each head first learns its
/// budget k (the same for every head: water-filling until the sequence meets its ``BudgetLimit``), then
/// ranks its KVs so that its ⌊`recent_ratio`·k⌋ most recent KVs (and the protected window) go last and
/// the rest go lowest-metric first, and gives up whole virtual blocks of that ranking; the blocks are freed.
///
/// Option `recent_ratio` (default 0.5: the paper's equal heavy and recent budgets; 0 keeps only
/// heavy hitters besides the protected window).
public struct H2OPolicy: EvictionPolicy {
    public let recentRatio: Double

    public init(recentRatio: Double = 0.5) { self.recentRatio = recentRatio }

    init(options: OptionReader) throws {
        recentRatio = try options.double("recent_ratio", default: 0.5, in: 0...1)
    }

    public func plan(_ input: EvictionInput) throws -> EvictionPlan {
        let equalShare: (BlockAllocator, Int) -> Double = { a, h in Double(a.keptKVs(h)) }
        // First pass: how many KVs each head keeps. The water-filling depends only on the block structure
        // and ties, so the budgets carry over to the second pass (up to a tie between equal heads).
        var sizing = BlockAllocator(input, rankingScores: input.metricScores)
        sizing.evictFromLargest(load: equalShare)

        let rankings = input.heads.indices.map { h in
            let head = input.heads[h]
            let recent = Int((recentRatio * Double(sizing.keptKVs(h))).rounded(.down))
            // The `recent` largest positions of this head, whatever slots they sit in.
            let newestFirst = (0..<head.contextLength).sorted { head.positions[$0] > head.positions[$1] }
            var isRecent = [Bool](repeating: false, count: head.contextLength)
            for slot in newestFirst.prefix(recent) { isRecent[slot] = true }
            // Rank by (recent, heavy-hitter score, position): recent ones last, ties to the older KV.
            let order = (0..<head.contextLength).sorted { a, b in
                let ka = (isRecent[a] ? 1 : 0, head.scores[a], head.positions[a])
                let kb = (isRecent[b] ? 1 : 0, head.scores[b], head.positions[b])
                return ka < kb
            }
            var rank = [Float](repeating: 0, count: head.contextLength)
            for (r, slot) in order.enumerated() { rank[slot] = Float(r) }
            return rank
        }
        var allocator = BlockAllocator(input, rankingScores: rankings)
        allocator.evictFromLargest(load: equalShare)
        return allocator.plan
    }
}
