import KVCompress

/// PyramidKV (Cai et al., "PyramidKV: Dynamic KV Cache Compression based on Pyramidal Information
/// Funneling", arXiv 2406.02069; kvpress `PyramidKVPress`): SnapKV's scores, but layer budgets that fall
/// linearly with depth, because lower layers spread attention widely and higher layers focus it.
///
/// Budgets: beyond the protected window (kvpress's observation window), layer l of L gets a share of
/// weight `w_l = (2 − 1/β) − l·(2 − 2/β)/(L − 1)`: the top layer 1/β of the mean, the bottom
/// 2 − 1/β, mean 1, so the layers together hold exactly the budget. All heads of a layer get the same.
///
/// In our paged per-head cache: each head ranks its KVs by the metric (the `pyramidkv` preset uses
/// SnapKV's window) and whole virtual blocks are evicted, always from the head whose compressible KVs
/// (kept minus those that can never go) are largest relative to its layer's weight, until the sequence
/// meets its ``BudgetLimit``; layer budgets track the pyramid within one block per head, and a short
/// layer's unused share flows to the others. The blocks are freed.
///
/// Option `beta` (β ≥ 1, default 20 as in the paper and kvpress; 1 gives SnapKV's flat budgets).
public struct PyramidKVPolicy: EvictionPolicy {
    public let beta: Double

    public init(beta: Double = 20) { self.beta = beta }

    init(options: OptionReader) throws {
        beta = try options.double("beta", default: 20)
        guard beta >= 1, beta.isFinite else {
            throw CompressionError.invalidOption(plugin: "pyramidkv", key: "beta", why: "β must be a finite number ≥ 1 (got \(beta))")
        }
    }

    /// Relative budget of each layer beyond the protected window: `[layers]`, falling linearly, mean 1.
    public func layerWeights(layers: Int) -> [Double] {
        guard layers > 1 else { return Array(repeating: 1, count: layers) }
        let top = 2 - 1 / beta, step = (2 - 2 / beta) / Double(layers - 1)
        return (0..<layers).map { top - Double($0) * step }
    }

    public func plan(_ input: EvictionInput) throws -> EvictionPlan {
        let weights = layerWeights(layers: input.layers)
        var allocator = BlockAllocator(input, rankingScores: input.metricScores)
        allocator.evictFromLargest { a, h in
            Double(a.keptKVs(h) - a.unevictableKVs(h)) / weights[a.input.heads[h].layer]
        }
        return allocator.plan
    }
}
