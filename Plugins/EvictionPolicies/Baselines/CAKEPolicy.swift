import Foundation
import KVCompress

/// CAKE (Z. Qin et al., "CAKE: Cascading and Adaptive KV Cache Eviction with Layer Preferences",
/// arXiv 2503.12491; antgroup/cakekv): layers whose attention is spread out (high entropy) and shifts
/// between queries (high variance) need more cache. From the observation window's attention rows A
/// (`[window queries, keys]` per query head) each layer gets a preference
/// `P_l = H_l^(1/τ₁) · V_l^(1/τ₂)`, with `H = −Σ_i Ā_i log Ā_i` the entropy of the window's mean
/// attention Ā and `V = Σ_i Var_q A[q, i]` the summed variance over the window's queries, both averaged
/// over the layer's query heads; layer budgets are proportional to `P_l`.
///
/// An allocation, usable with any scores: within each layer the heads rank their KVs by the input's
/// scores (the configured metric, or a scorer's) and whole virtual blocks go from the head whose
/// compressible KVs are largest relative to its layer's preference, until the sequence meets its
/// ``BudgetLimit`` (as ``PyramidKVPolicy`` does with its fixed pyramid). Not done: CAKE's cascading
/// re-allocation after each prefill layer (a memory bound during prefill; our prefill is not bounded)
/// and its own token score (mean + γ·variance of the window attention; pair `cake` with any scorer).
///
/// Options `tau1`, `tau2` (> 0, default 1, the paper's untuned defaults).
public struct CAKEPolicy: EvictionPolicy {
    public let tau1: Double
    public let tau2: Double

    public init(tau1: Double = 1, tau2: Double = 1) {
        self.tau1 = tau1
        self.tau2 = tau2
    }

    init(options: OptionReader) throws {
        self.init(tau1: try options.double("tau1", default: 1, in: 0.01...100), tau2: try options.double("tau2", default: 1, in: 0.01...100))
    }

    public var settings: [String: OptionValue] { ["tau1": .double(tau1), "tau2": .double(tau2)] }
    public var needsWindowAttention: Bool { true }

    /// Entropy of the mean row and summed per-key variance of one query head's window attention
    /// `rows` (`[queries][keys]`).
    public static func dispersion(_ rows: [[Float]]) -> (entropy: Double, variance: Double) {
        guard let keys = rows.first?.count, !rows.isEmpty else { return (0, 0) }
        let q = Double(rows.count)
        var entropy = 0.0, variance = 0.0
        for i in 0..<keys {
            let mean = rows.reduce(0.0) { $0 + Double($1[i]) } / q
            if mean > 0 { entropy -= mean * log(mean) }
            variance += rows.reduce(0.0) { $0 + (Double($1[i]) - mean) * (Double($1[i]) - mean) } / q
        }
        return (entropy, variance)
    }

    /// `P_l` for every layer, from the window attention of its heads.
    public func layerPreferences(_ input: EvictionInput) throws -> [Double] {
        try (0..<input.layers).map { layer in
            var entropy = 0.0, variance = 0.0, count = 0.0
            for head in 0..<input.kvHeads {
                guard let observed = input.windowAttention[HeadIndex(layer: layer, head: head)] else {
                    throw CompressionError.invalidConfiguration("cake: no window attention was recorded for layer \(layer), head \(head)")
                }
                let w = observed.queryPositions.count, n = observed.keyPositions.count
                for g in 0..<observed.groupSize {
                    let rows = (0..<w).map { r in Array(observed.probabilities[((g * w + r) * n)..<((g * w + r + 1) * n)]) }
                    let d = Self.dispersion(rows)
                    entropy += d.entropy
                    variance += d.variance
                    count += 1
                }
            }
            return pow(entropy / count, 1 / tau1) * pow(variance / count, 1 / tau2)
        }
    }

    public func plan(_ input: EvictionInput) throws -> EvictionPlan {
        let preferences = try layerPreferences(input)
        let mean = preferences.reduce(0, +) / Double(max(1, preferences.count))
        // A layer with no dispersion at all still keeps something: floor at a thousandth of the mean.
        let weights = preferences.map { max($0, mean * 1e-3, 1e-12) }
        var allocator = BlockAllocator(input, rankingScores: input.metricScores)
        allocator.evictFromLargest { a, h in
            Double(a.keptKVs(h) - a.unevictableKVs(h)) / weights[a.input.heads[h].layer]
        }
        return allocator.plan
    }
}
