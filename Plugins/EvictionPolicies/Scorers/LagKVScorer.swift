import Foundation
import KVCompress
import PagedKVCache

/// LagKV (M. Liang et al., "LagKV: Lag-Relative Information of the KV Cache Tells Which Tokens Are
/// Important", arXiv 2504.04704; kvpress lagkv_press.py): attention-free, from keys and values alone.
/// After `sinks` positions, the cache is cut into chunks of `lagSize` tokens in position order; each
/// chunk is judged against the chunk after it (its "lag"): every channel of the chunk's keys is
/// min-max normalised by that channel's range in the next chunk, and a token's key score is the
/// standard deviation of its normalised channels, softmax-ed within the chunk; the same for values;
/// `s = (s_K + s_V) / 2`. Scores are then turned into ranks within the chunk divided by `lagSize`
/// (kvpress's `cross_scoring=False`), so every chunk offers the same spread of scores to the
/// allocation. The sinks, the last full chunk and the partial tail have no lag and are kept (+inf).
/// Shorter than `sinks + 2 · lagSize`: no chunk has a lag, and the scores rise with position after the
/// sinks, so the allocation keeps a sliding window (as kvpress does). The standard deviation is the
/// unbiased one (torch's `std`); a channel with no range in the lag chunk divides by 1e-6, not 0.
public struct LagKVScorer: KVScorer {
    public let lagSize: Int
    public let sinks: Int

    public init(lagSize: Int = 128, sinks: Int = 4) {
        self.lagSize = lagSize
        self.sinks = sinks
    }

    init(options: OptionReader) throws {
        self.init(lagSize: try options.int("lag_size", default: 128, in: 2...8192), sinks: try options.int("sinks", default: 4, in: 0...1024))
    }

    public var settings: [String: OptionValue] { ["lag_size": .int(lagSize), "sinks": .int(sinks)] }

    public func score(_ layer: LayerScoringInput) throws -> [[Float]] {
        layer.heads.map { head in
            let d = layer.headDim
            let order = (0..<head.length).sorted { head.position($0) < head.position($1) }
            var scores = [Float](repeating: .infinity, count: head.length)
            let scored = order.dropFirst(min(sinks, order.count))
            let slots = Array(scored)
            let chunks = slots.count / lagSize  // full chunks; the last full one and the tail stay +inf
            guard chunks >= 2 else {
                for (rank, slot) in slots.enumerated() { scores[slot] = Float(rank) / Float(slots.count) }
                return scores
            }
            for c in 0..<(chunks - 1) {
                let chunk = Array(slots[(c * lagSize)..<((c + 1) * lagSize)])
                let lag = Array(slots[((c + 1) * lagSize)..<((c + 2) * lagSize)])
                let keyScores = Self.softmax(Self.lagDeviation(chunk, reference: lag, dimension: d) { head.key($0) })
                let valueScores = Self.softmax(Self.lagDeviation(chunk, reference: lag, dimension: d) { head.value($0) })
                let combined = zip(keyScores, valueScores).map { ($0 + $1) / 2 }
                // Rank within the chunk (ascending, ties by order), over lagSize.
                let ranked = combined.indices.sorted { (combined[$0], $0) < (combined[$1], $1) }
                for (rank, index) in ranked.enumerated() { scores[chunk[index]] = Float(rank) / Float(lagSize) }
            }
            return scores
        }
    }

    /// For each slot of `chunk`: the standard deviation over channels of its vector min-max normalised
    /// by `reference`'s per-channel range.
    static func lagDeviation(
        _ chunk: [Int], reference: [Int], dimension d: Int, vector: (Int) -> KVVector
    ) -> [Float] {
        var low = [Float](repeating: .infinity, count: d), high = [Float](repeating: -.infinity, count: d)
        for slot in reference {
            let v = vector(slot)
            for j in 0..<d {
                low[j] = min(low[j], v[j])
                high[j] = max(high[j], v[j])
            }
        }
        return chunk.map { slot in
            let v = vector(slot)
            let normalised = (0..<d).map { j in (v[j] - low[j]) / max(high[j] - low[j], 1e-6) }
            let mean = normalised.reduce(0, +) / Float(d)
            let variance = normalised.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(max(1, d - 1))
            return variance.squareRoot()
        }
    }

    static func softmax(_ x: [Float]) -> [Float] {
        let m = x.max() ?? 0
        let e = x.map { expf($0 - m) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }
}
