import Foundation
@testable import LlamaInference

/// A deliberately plain Llama forward pass — dense arrays, scalar loops, no cache, no BLAS — to check
/// the paged, tiled, batched implementation against. It reads the same weights but shares none of
/// the model's kernels; RoPE is written from its definition (adjacent pairs, θ_i = base^(−2i/d)), with
/// the angle p·θ_i evaluated in float32 as llama.cpp evaluates it (the float position times
/// powf(base, −2/d) i times, `ggml_rope_cache_init`): that rounding is part of the model we match.
/// Other families' switches (``ArchitectureTraits``) are followed from their definitions too: NEOX
/// pairs (i, i + d/2) with the layer's base, Q/K head norms, sliding windows (query − key < window),
/// post-norms, GeLU-tanh in double precision (the model reads ggml's half-float table).
struct ReferenceLlama {
    let model: LlamaModel
    var c: LlamaConfiguration { model.configuration }

    /// Whether query position `query` may attend to key position `key` in `layer`, KV head `head`.
    typealias Visibility = (_ layer: Int, _ head: Int, _ query: Int, _ key: Int) -> Bool

    struct Output {
        /// `[tokens][vocabulary]`.
        var logits: [[Float]]
        /// Attention probabilities over key positions: `[layer][queryHead][query][key]`.
        var probabilities: [[[[Float]]]]
        /// The residual stream after each layer: `[layer][tokens][hiddenSize]`.
        var layerOutputs: [[[Float]]] = []
    }

    /// Runs `tokens` at positions 0..<n with the given visibility (causal by default).
    func forward(_ tokens: [Int32], visible: Visibility = { _, _, q, k in k <= q }) -> Output {
        let n = tokens.count, d = c.headDim, w = model.weights
        let traits = c.traits
        var x = tokens.map { row(w.tokenEmbedding, Int($0)).map { $0 * traits.embeddingScale } }
        var probabilities: [[[[Float]]]] = []
        var layerOutputs: [[[Float]]] = []
        for l in 0..<c.layers {
            let lw = w.layers[l]
            let h = x.map { rmsNorm($0, lw.attentionNorm) }
            let qkv = h.map { matVec(lw.qkv, $0) }
            // Split and rotate.
            var q = [[[Float]]](), k = [[[Float]]](), v = [[[Float]]]()  // [token][head][dim]
            let base = Double(c.ropeFrequencyBase(layer: l))
            func prepare(_ head: [Float], _ norm: [Float]?, _ t: Int) -> [Float] {
                rotate(norm.map { rmsNorm(head, $0) } ?? head, position: t, base: base)
            }
            for t in 0..<n {
                q.append((0..<c.attentionHeads).map { prepare(Array(qkv[t][$0 * d..<($0 + 1) * d]), lw.queryNorm, t) })
                k.append((0..<c.kvHeads).map { prepare(Array(qkv[t][c.queryWidth + $0 * d..<c.queryWidth + ($0 + 1) * d]), lw.keyNorm, t) })
                v.append((0..<c.kvHeads).map { Array(qkv[t][c.queryWidth + c.kvWidth + $0 * d..<c.queryWidth + c.kvWidth + ($0 + 1) * d]) })
            }
            var attended = [[Float]](repeating: [Float](repeating: 0, count: c.queryWidth), count: n)
            var layerProbabilities: [[[Float]]] = []
            for qh in 0..<c.attentionHeads {
                let kh = qh / c.groupSize
                var headProbabilities: [[Float]] = []
                for t in 0..<n {
                    var scores = [Float](repeating: -.infinity, count: n)
                    let window = c.slidingWindow(layer: l)
                    for s in 0..<n where visible(l, kh, t, s) && (window.map { t - s < $0 } ?? true) {
                        var dot: Double = 0
                        for i in 0..<d { dot += Double(q[t][qh][i]) * Double(k[s][kh][i]) }
                        scores[s] = Float(dot / Double(d).squareRoot())
                    }
                    let m = scores.max()!
                    var e = scores.map { $0 == -.infinity ? 0 : Float(exp(Double($0 - m))) }
                    let sum = e.reduce(0, +)
                    e = e.map { $0 / sum }
                    for s in 0..<n where e[s] != 0 {
                        for i in 0..<d { attended[t][qh * d + i] += e[s] * v[s][kh][i] }
                    }
                    headProbabilities.append(e)
                }
                layerProbabilities.append(headProbabilities)
            }
            probabilities.append(layerProbabilities)
            for t in 0..<n {
                var o = matVec(lw.attentionOutput, attended[t])
                if let norm = lw.postAttentionNorm { o = rmsNorm(o, norm) }
                for i in 0..<c.hiddenSize { x[t][i] += o[i] }
                let h2 = rmsNorm(x[t], lw.ffnNorm)
                let gu = matVec(lw.gateUp, h2)
                let f = c.intermediateSize
                let act = (0..<f).map { i -> Float in
                    let g = gu[i]
                    switch traits.activation {
                    case .silu: return g / (1 + Float(exp(Double(-g)))) * gu[f + i]
                    case .geluTanh:
                        let v = Double(g)
                        return Float(0.5 * v * (1 + tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)))) * gu[f + i]
                    }
                }
                var down = matVec(lw.down, act)
                if let norm = lw.postFeedForwardNorm { down = rmsNorm(down, norm) }
                for i in 0..<c.hiddenSize { x[t][i] += down[i] }
            }
            layerOutputs.append(x)
        }
        let logits = x.map { matVec(w.output, rmsNorm($0, w.outputNorm)) }
        return Output(logits: logits, probabilities: probabilities, layerOutputs: layerOutputs)
    }

    private func row(_ m: WeightMatrix, _ r: Int) -> [Float] { (0..<m.columns).map { m.dense![r * m.columns + $0] } }

    private func matVec(_ m: WeightMatrix, _ x: [Float]) -> [Float] {
        (0..<m.rows).map { r in
            var s: Double = 0
            for i in 0..<m.columns { s += Double(m.dense![r * m.columns + i]) * Double(x[i]) }
            return Float(s)
        }
    }

    private func rmsNorm(_ x: [Float], _ weight: [Float]) -> [Float] {
        let meanSquare = x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(x.count)
        let scale = Float(1 / (meanSquare + Double(c.rmsNormEpsilon)).squareRoot())
        return zip(x, weight).map { $0 * scale * $1 }
    }

    private func rotate(_ x: [Float], position: Int, base: Double) -> [Float] {
        var y = x
        let dims = c.ropeDimensions
        let ratio = powf(Float(base), -2 / Float(dims))
        var angle = Float(position)
        for i in 0..<dims / 2 {
            defer { angle *= ratio }
            let theta = Double(angle)
            // Normal mode rotates adjacent dimensions, NEOX mode the two halves.
            let (first, second) = c.traits.ropeMode == .neox ? (i, i + dims / 2) : (2 * i, 2 * i + 1)
            let (a, b) = (Double(x[first]), Double(x[second]))
            y[first] = Float(a * cos(theta) - b * sin(theta))
            y[second] = Float(a * sin(theta) + b * cos(theta))
        }
        return y
    }
}

#if canImport(Glibc)
    import Glibc
#else
    import Darwin
#endif
