import Foundation
import KVCLinearAlgebra
import KVCompress

/// Expected Attention (A. Devoto et al., "Expected Attention: KV Cache Compression by Estimating
/// Attention from Future Queries Distribution", arXiv 2510.00636; kvpress expected_attention_press.py):
/// future queries are modelled as a Gaussian whose mean μ and covariance Σ are those of recent queries
/// before RoPE — here the prefill observation window's queries, un-rotated by their positions, sinks
/// left out — carried to the positions ahead by the RoPE rotation averaged over the next
/// `futurePositions` positions, R̄ = mean_t R(t): μ' = R̄μ, Σ' = R̄ΣR̄ᵀ. A key's expected
/// (unnormalised) attention is exp(μ'·k/√d + kᵀΣ'k/(2d)); softmax over the head's keys, mean over the
/// group's query heads, then `(s + ε)·‖v‖₂` (value-norm weighting). The first `sinks` positions are
/// kept (+inf), as kvpress pads them with the largest score.
///
/// Options: `future_positions` (512), `sinks` (4), `covariance` (true), `value_norm` (true), `epsilon` (0).
public struct ExpectedAttentionScorer: KVScorer {
    public let futurePositions: Int
    public let sinks: Int
    public let usesCovariance: Bool
    public let usesValueNorm: Bool
    public let epsilon: Float

    public init(futurePositions: Int = 512, sinks: Int = 4, usesCovariance: Bool = true, usesValueNorm: Bool = true, epsilon: Float = 0) {
        self.futurePositions = futurePositions
        self.sinks = sinks
        self.usesCovariance = usesCovariance
        self.usesValueNorm = usesValueNorm
        self.epsilon = epsilon
    }

    init(options: OptionReader) throws {
        self.init(
            futurePositions: try options.int("future_positions", default: 512, in: 1...1_000_000), sinks: try options.int("sinks", default: 4, in: 0...1024),
            usesCovariance: try options.bool("covariance", default: true), usesValueNorm: try options.bool("value_norm", default: true),
            epsilon: Float(try options.double("epsilon", default: 0, in: 0...1)))
    }

    public var inputs: ScorerInputs { .windowQueries }

    public var settings: [String: OptionValue] {
        [
            "future_positions": .int(futurePositions), "sinks": .int(sinks), "covariance": .bool(usesCovariance),
            "value_norm": .bool(usesValueNorm), "epsilon": .double(Double(epsilon)),
        ]
    }

    public func score(_ layer: LayerScoringInput) throws -> [[Float]] {
        let rotary = layer.rotary!, d = layer.headDim
        let rotation = AverageRotation(rotary: rotary, from: layer.sequenceLength, count: futurePositions)
        return zip(layer.heads, layer.windowQueries!).map { head, window in
            let n = head.length
            var keys = [Float](repeating: 0, count: n * d)
            for i in 0..<n { for j in 0..<d { keys[i * d + j] = head.key(i)[j] } }
            let scored = (0..<n).filter { head.position($0) >= sinks }
            var probabilities = [Float](repeating: 0, count: n)
            let queryRows = window.positions.indices.filter { Int(window.positions[$0]) >= sinks }
            if !queryRows.isEmpty, !scored.isEmpty {
                for g in 0..<window.groupSize {
                    let (mean, covariance) = statistics(window, group: g, rows: queryRows, rotary: rotary)
                    let futureMean = rotation.apply(to: mean)
                    var logits = [Float](repeating: 0, count: n)
                    let scale = 1 / Float(d).squareRoot()
                    for i in scored { logits[i] = zip(keys[(i * d)..<((i + 1) * d)], futureMean).reduce(0) { $0 + $1.0 * $1.1 } * scale }
                    if usesCovariance {
                        let futureCovariance = rotation.conjugate(covariance, dimension: d)
                        var projected = [Float](repeating: 0, count: n * d)  // K Σ'
                        BLAS.gemm(m: n, n: d, k: d, a: keys, b: futureCovariance, transposeB: false, c: &projected)
                        for i in scored {
                            var quadratic: Float = 0
                            for j in 0..<d { quadratic += projected[i * d + j] * keys[i * d + j] }
                            logits[i] += quadratic / Float(2 * d)
                        }
                    }
                    let largest = scored.map { logits[$0] }.max()!
                    var total: Float = 0
                    for i in scored { total += expf(logits[i] - largest) }
                    for i in scored { probabilities[i] += expf(logits[i] - largest) / total / Float(window.groupSize) }
                }
            }
            return (0..<n).map { i in
                guard head.position(i) >= sinks else { return .infinity }
                guard usesValueNorm else { return probabilities[i] }
                var norm: Float = 0
                for j in 0..<d { norm += head.value(i)[j] * head.value(i)[j] }
                return (probabilities[i] + epsilon) * norm.squareRoot()
            }
        }
    }

    /// Mean `[d]` and biased covariance `[d, d]` of query head `group`'s window queries after undoing RoPE.
    func statistics(_ window: ObservedQueries, group: Int, rows: [Int], rotary: RotaryParameters) -> (mean: [Float], covariance: [Float]) {
        let d = window.headDim, frequencies = rotary.frequencies
        let unrotated: [[Float]] = rows.map { r in
            var q = Array(window.queries[((group * window.count + r) * d)..<((group * window.count + r + 1) * d)])
            let p = Double(window.positions[r])
            for (i, theta) in frequencies.enumerated() {
                let c = Float(cos(p * theta)), s = Float(sin(p * theta))
                let (x, y) = rotary.pair(i)
                let (a, b) = (q[x], q[y])
                (q[x], q[y]) = (a * c + b * s, -a * s + b * c)  // R(−p)
            }
            return q
        }
        let count = unrotated.count, m = Float(count)
        let mean = (0..<d).map { j in unrotated.reduce(0) { $0 + $1[j] } / m }
        // Σ = Xᵀ X / m for the centred queries X [m, d]: one product, from Xᵀ [d, m].
        var centredTransposed = [Float](repeating: 0, count: d * count)
        for (r, q) in unrotated.enumerated() { for j in 0..<d { centredTransposed[j * count + r] = q[j] - mean[j] } }
        var covariance = [Float](repeating: 0, count: d * d)
        BLAS.gemm(m: d, n: d, k: count, a: centredTransposed, b: centredTransposed, transposeB: true, c: &covariance, alpha: 1 / m)
        return (mean, covariance)
    }
}

/// R̄ = mean over positions t of the RoPE rotation R(t): per rotated pair i, [[C, −S], [S, C]] with
/// C = mean cos(tθ_i), S = mean sin(tθ_i); identity on dimensions RoPE leaves alone.
struct AverageRotation {
    let dimensions: Int
    let rotary: RotaryParameters
    /// `[pairs]` each.
    let cosines: [Float]
    let sines: [Float]

    init(rotary: RotaryParameters, from start: Int, count: Int) {
        dimensions = rotary.dimensions
        self.rotary = rotary
        let frequencies = rotary.frequencies
        cosines = frequencies.map { theta in Float((start..<(start + count)).reduce(0.0) { $0 + cos(Double($1) * theta) } / Double(count)) }
        sines = frequencies.map { theta in Float((start..<(start + count)).reduce(0.0) { $0 + sin(Double($1) * theta) } / Double(count)) }
    }

    /// R̄x.
    func apply(to x: [Float]) -> [Float] {
        var y = x
        for i in 0..<cosines.count {
            let (first, second) = rotary.pair(i)
            let (a, b) = (x[first], x[second])
            (y[first], y[second]) = (cosines[i] * a - sines[i] * b, sines[i] * a + cosines[i] * b)
        }
        return y
    }

    /// R̄ M R̄ᵀ for a `[d, d]` matrix M: R̄ on the columns of each row, then on each column.
    func conjugate(_ matrix: [Float], dimension d: Int) -> [Float] {
        var rows = matrix
        for r in 0..<d { rows.replaceSubrange((r * d)..<((r + 1) * d), with: apply(to: Array(matrix[(r * d)..<((r + 1) * d)]))) }
        // `rows` is M R̄ᵀ (row r became R̄ M[r, :]); R̄ on each of its columns gives R̄ M R̄ᵀ.
        var result = rows
        for c in 0..<d {
            let column = apply(to: (0..<d).map { rows[$0 * d + c] })
            for r in 0..<d { result[r * d + c] = column[r] }
        }
        return result
    }
}
