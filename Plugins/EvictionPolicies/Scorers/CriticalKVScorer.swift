import KVCLinearAlgebra
import KVCompress

/// CriticalKV (Y. Feng et al., "Identify Critical KV Cache in LLM Inference from an Output Perturbation
/// Perspective", arXiv 2502.03805; kvpress criticalkv_press.py): attention alone misses that a KV matters
/// by how much its value changes the layer's output. Each KV's window attention score `a_i` (the
/// configured metric, SnapKV's in the preset) is weighted by the L1 norm of its value after the output
/// projection, averaged over the query heads of its group: `s_i = (a_i + 1e-4) · mean_g ‖W_O^{(g)} v_i‖₁`,
/// where `W_O^{(g)}` is the `[hidden, headDim]` slice of W_O acting on query head g.
///
/// Simplification: kvpress first keeps the top half of the budget by `a_i` alone (`first_stage_ratio`
/// 0.5) and ranks only the rest by `s_i`; a scorer does not know the budget, so here `s_i` ranks all.
public struct CriticalKVScorer: KVScorer {
    public init() {}

    public var inputs: ScorerInputs { [.windowAttention, .outputProjection] }

    public func score(_ layer: LayerScoringInput) throws -> [[Float]] {
        let d = layer.headDim, g = layer.groupSize!, projection = layer.outputProjection!
        let queryWidth = layer.kvHeads * g * d, hidden = projection.count / queryWidth
        return zip(layer.heads.indices, layer.heads).map { h, head in
            let n = head.length
            var values = [Float](repeating: 0, count: n * d)
            for i in 0..<n { for j in 0..<d { values[i * d + j] = head.value(i)[j] } }
            var norms = [Float](repeating: 0, count: n)
            var projected = [Float](repeating: 0, count: n * hidden)
            for member in 0..<g {
                let column = (h * g + member) * d
                projection.withUnsafeBufferPointer { w in
                    // projected[n, hidden] = values[n, d] · (W_O[:, column ..< column + d])ᵀ
                    BLAS.gemm(m: n, n: hidden, k: d, a: values, b: w.baseAddress! + column, ldb: queryWidth, transposeB: true, c: &projected)
                }
                for i in 0..<n { norms[i] += projected[(i * hidden)..<((i + 1) * hidden)].reduce(0) { $0 + abs($1) } / Float(g) }
            }
            let attention = layer.windowAttention![h]
            return (0..<n).map { (attention[$0] + 1e-4) * norms[$0] }
        }
    }
}
