import KVCompress

/// KeyDiff (Park et al., "KeyDiff: Key Similarity-Based KV Cache Eviction for Long-Context LLM Inference
/// in Resource-Constrained Environments", arXiv 2504.15364; kvpress `KeyDiffPress`): keys that look like
/// every other key carry little information, so each KV scores −cos(k, anchor), the anchor being the mean
/// of the head's unit-normalised keys, and the keys most similar to it go first. Attention-free: its
/// preset observes nothing.
///
/// In our paged per-head cache: the anchor is taken over every KV the head holds at compression time
/// (protected ones included), each head ranks its KVs by −cos and gives up whole virtual blocks of its
/// most typical keys, always from the head that keeps the most, until the sequence meets its
/// ``BudgetLimit`` (same budget per head); the blocks are freed. A head whose keys cancel out (zero
/// anchor) ranks all its KVs equal, which evicts in slot order.
///
/// No options.
public struct KeyDiffPolicy: EvictionPolicy {
    public init() {}

    public func plan(_ input: EvictionInput) throws -> EvictionPlan {
        let d = input.headDim
        let rankings = input.heads.map { head in
            let n = head.contextLength
            let norms = (0..<n).map { i in
                let k = head.cache.key(i)
                return (0..<d).reduce(Float(0)) { $0 + k[$1] * k[$1] }.squareRoot()
            }
            var anchor = [Float](repeating: 0, count: d)
            for i in 0..<n where norms[i] > 0 {
                let k = head.cache.key(i)
                for j in 0..<d { anchor[j] += k[j] / norms[i] / Float(n) }
            }
            let anchorNorm = anchor.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            return (0..<n).map { i -> Float in
                guard norms[i] > 0, anchorNorm > 0 else { return 0 }
                let k = head.cache.key(i)
                var dot: Float = 0
                for j in 0..<d { dot += k[j] * anchor[j] }
                return -dot / (norms[i] * anchorNorm)
            }
        }
        var allocator = BlockAllocator(input, rankingScores: rankings)
        allocator.evictFromLargest { a, h in Double(a.keptKVs(h)) }
        return allocator.plan
    }
}
