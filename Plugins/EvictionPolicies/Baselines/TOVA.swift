import KVCompress
import LlamaInference

/// TOVA, Token Omission Via Attention (Oren et al., "Transformers are Multi-State RNNs", EMNLP 2024,
/// arXiv 2401.06104; kvpress `TOVAPress`): only the attention of the LATEST query matters, averaged over
/// all heads of the layer, and the lowest-scored tokens leave every head of that layer together.
///
/// Two parts, used together by the `tova` preset (window `last` of 1 query, decode queries on, no pooling):
/// ``TOVAMetric`` replaces each KV's stored metric with the latest query's attention (summed over the GQA
/// group), and ``TOVAPolicy`` averages it over the layer's KV heads by token position and evicts.
///
/// In our paged per-head cache TOVA evicts at every compression (after prefill, on the schedule's
/// interval, under memory pressure) rather than one token per decode step, in whole blocks: every head of
/// a layer ranks its KVs by the layer's mean (ties to the older position), so heads holding the same
/// positions evict the same ones; every head gets the same budget (water-filling until the sequence meets
/// its ``BudgetLimit``). The blocks are freed.
public struct TOVAMetric: ImportanceMetric {
    public init() {}

    /// Only the latest observation counts.
    public var update: MetricUpdate { .replace }

    /// Row g = the probabilities the LAST observed query of query head g paid to each slot.
    /// - Parameters:
    ///   - observation: probabilities `[groupSize, queryCount, contextLength]`.
    ///   - rows: `[groupSize, contextLength]`.
    public func score(_ observation: HeadObservation, keys: KeyMask, into rows: UnsafeMutableBufferPointer<Float>) {
        let n = observation.contextLength, queries = observation.queryCount
        guard queries > 0 else { return }
        let q = queries - 1
        let queryPosition = observation.queryPositions[q]
        for g in 0..<observation.groupSize {
            let probabilities = observation.probabilities.baseAddress! + (g * queries + q) * n
            let row = rows.baseAddress! + g * n
            for i in 0..<n where keys.counts(queryPosition: queryPosition, keyPosition: observation.cache.position(i)) {
                row[i] = probabilities[i]
            }
        }
    }
}

/// The eviction half of TOVA (see ``TOVAMetric``): per layer, the mean over KV heads of the latest
/// query's attention to each token position decides, for every head of the layer alike.
///
/// A position some head no longer holds counts 0 for that head in the mean. No options.
public struct TOVAPolicy: EvictionPolicy {
    public init() {}

    public func plan(_ input: EvictionInput) throws -> EvictionPlan {
        var rankings: [[Float]] = []
        rankings.reserveCapacity(input.heads.count)
        for layer in 0..<input.layers {
            let heads = (0..<input.kvHeads).map { input.head(layer: layer, head: $0) }
            var mean: [Int32: Float] = [:]
            for head in heads {
                for i in 0..<head.contextLength where head.scores[i].isFinite {
                    mean[head.positions[i], default: 0] += head.scores[i] / Float(input.kvHeads)
                }
            }
            // One rank per position, shared by the layer's heads: (mean, position) ascending.
            let order = mean.keys.sorted { (mean[$0]!, $0) < (mean[$1]!, $1) }
            var rank: [Int32: Float] = [:]
            for (r, position) in order.enumerated() { rank[position] = Float(r) }
            for head in heads {
                rankings.append((0..<head.contextLength).map { rank[head.positions[$0]] ?? .infinity })
            }
        }
        var allocator = BlockAllocator(input, rankingScores: rankings)
        allocator.evictFromLargest { a, h in Double(a.keptKVs(h)) }
        return allocator.plan
    }
}
