import KVCompress

/// SnapKV (Li et al., "SnapKV: LLM Knows What You are Looking for Before Generation", NeurIPS 2024,
/// arXiv 2404.14469): the attention the last window of prompt queries pays to each key, pooled over
/// neighbouring positions, chooses the top-k KVs of each head, with the SAME k for every head.
///
/// The scores come from the metric and window of the `snapkv` preset (`kvcompress` metric with L1
/// norm, window `last` of 32 queries, max-pool kernel 7, no decode queries: SnapKV compresses the
/// prompt once). This policy is the allocation: every head ranks its KVs by those scores and gives up
/// whole virtual blocks of its lowest ones, always from the head that keeps the most, until the
/// sequence meets its ``BudgetLimit``; heads therefore end with the same number of KVs (within one
/// block where the budget is not a whole number of blocks per head), and the blocks are freed.
///
/// No options.
public struct SnapKVPolicy: EvictionPolicy {
    public init() {}

    public func plan(_ input: EvictionInput) throws -> EvictionPlan {
        var allocator = BlockAllocator(input, rankingScores: input.metricScores)
        allocator.evictFromLargest { a, h in Double(a.keptKVs(h)) }
        return allocator.plan
    }
}
