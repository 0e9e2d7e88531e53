import CKernels
import Foundation

extension Kernels {
    /// GeLU (tanh approximation) of every half float, as ggml tabulates it (`ggml_table_gelu_f16`,
    /// ggml-cpu.c): entry t = half(gelu(float(half t))) with
    /// gelu(x) = 0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²))) in float32. Stored as float32.
    static let geluTable: [Float] = (0..<65_536).map { t in
        let x = Float(Float16(bitPattern: UInt16(t)))
        let sqrtTwoOverPi: Float = 0.797_884_560_802_865_355_879_892_119_868_76
        let gelu = 0.5 * x * (1 + tanh(sqrtTwoOverPi * x * (1 + 0.044_715 * x * x)))
        return Float(Float16(gelu))
    }

    /// GeGLU: out[r, i] = gelu(gate[r, i]) · up[r, i], with ggml's rounding (`ggml_vec_geglu_f32`
    /// under GGML_GELU_FP16, the CPU default): gate ≤ −10 gives 0, gate ≥ 10 gives gate itself,
    /// otherwise the gate is rounded to a half float and its GeLU read from ``geluTable``.
    /// - Parameters:
    ///   - gateUp: `[rows, 2 * width]`, gate in the first `width` columns of a row, up in the rest.
    ///   - output: `[rows, width]`.
    static func geGLU(_ gateUp: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        let chunk = rows < 4 ? rows : (rows + 3) / 4, chunks = (rows + chunk - 1) / chunk
        let input = SharedPointer(UnsafeMutablePointer(mutating: gateUp)), out = SharedPointer(output)
        geluTable.withUnsafeBufferPointer { table in
            let lookup = SharedPointer(UnsafeMutablePointer(mutating: table.baseAddress!))
            parallelFor(chunks) { c in
                // The gate row's half floats, converted in bulk (F16C where the CPU has it; the same
                // rounding as Float16(x), which compiles to a library call per element).
                let halves = UnsafeMutablePointer<UInt16>.allocate(capacity: width)
                defer { halves.deallocate() }
                for r in c * chunk..<min(rows, (c + 1) * chunk) {
                    let g = input.base + r * 2 * width, u = g + width, o = out.base + r * width
                    kvc_floats_to_halves(g, halves, Int64(width), QuantizedKernels.isa)
                    for i in 0..<width {
                        let x = g[i]
                        if x <= -10 {
                            o[i] = 0
                        } else if x >= 10 {
                            o[i] = x * u[i]
                        } else {
                            o[i] = lookup.base[Int(halves[i])] * u[i]
                        }
                    }
                }
            }
        }
    }

    /// x[r] += RMSNorm(y[r]) · weight for `rows` rows of `width` (a post-norm residual: Gemma's
    /// `post_attention_norm` and `post_ffw_norm`). `y` is normalized in place.
    static func addNormalized(
        _ y: UnsafeMutablePointer<Float>, weight: [Float], into x: UnsafeMutablePointer<Float>, rows: Int, width: Int,
        epsilon: Float
    ) {
        weight.withUnsafeBufferPointer {
            rmsNorm(y, weight: $0.baseAddress!, output: y, rows: rows, width: width, epsilon: epsilon)
        }
        for i in 0..<rows * width { x[i] += y[i] }
    }
}
