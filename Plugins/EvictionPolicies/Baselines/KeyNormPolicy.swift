import KVCompress

/// Key-norm (Devoto et al., "A Simple and Effective L2 Norm-Based Strategy for KV Cache Compression",
/// EMNLP 2024, arXiv 2406.11430; kvpress `KnormPress`): keys with a LOW L2 norm attract attention,
/// so each KV scores −‖k‖ and the largest-norm keys go first. Attention-free: its preset observes nothing.
///
/// In our paged per-head cache: each head ranks its KVs by −‖k‖ of the cached (post-RoPE) key and
/// gives up whole virtual blocks of its largest-norm keys, always from the head that keeps the most,
/// until the sequence meets its ``BudgetLimit`` (same budget per head, as kvpress's per-head top-k);
/// the blocks are freed.
///
/// No options.
public struct KeyNormPolicy: EvictionPolicy {
    public init() {}

    public func plan(_ input: EvictionInput) throws -> EvictionPlan {
        let d = input.headDim
        var allocator = BlockAllocator(
            input,
            rankingScores: input.rankingScores { head, slot in
                let key = head.cache.key(slot)
                var squares: Float = 0
                for j in 0..<d { squares += key[j] * key[j] }
                return -squares.squareRoot()
            })
        allocator.evictFromLargest { a, h in Double(a.keptKVs(h)) }
        return allocator.plan
    }
}
