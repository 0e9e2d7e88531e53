import Foundation

/// Rotary position embedding in llama.cpp's "normal" mode, the one GGUF Llama files are made for.
///
/// The converter that writes GGUF permutes the rows of `attn_q` and `attn_k` so that each rotated
/// pair is two ADJACENT dimensions (x[2i], x[2i+1]), rotated by the angle position · θ_i with
/// θ_i = base^(−2i/d), d = `rope.dimension_count`. Dimensions at or past d are left alone.
/// In NEOX mode (Gemma; ggml's `rope_neox`) pair i is (x[i], x[i + d/2]) instead.
///
/// The angles are computed in float32 exactly as llama.cpp's CPU backend computes them
/// (`ggml_rope_cache_init`: θ starts at the position and is multiplied by
/// s = powf(base, −2/d) once per pair; cos and sin in float32), not in double precision: at a
/// position p the angle of pair i then carries about i rounding errors of p·s^i, up to ~10⁻³ rad past
/// 1 000 tokens, and matching them keeps our logits as close to llama.cpp's as its own rounding.
struct RotaryEmbedding: Sendable {
    /// Leading dimensions of a head that are rotated.
    let dimensions: Int
    /// s = base^(−2/d): the ratio of consecutive pairs' frequencies, rounded to float32 (`theta_scale`).
    let thetaScale: Float
    /// Which dimensions form a pair.
    let mode: ArchitectureTraits.RopeMode

    init(dimensions: Int, base: Float, mode: ArchitectureTraits.RopeMode = .normal) {
        self.dimensions = dimensions
        self.mode = mode
        thetaScale = Foundation.powf(base, -2 / Float(dimensions))
    }

    var pairs: Int { dimensions / 2 }

    /// cos and sin of every (position, pair): `[positions.count, pairs]` each, interleaved as
    /// `[cos, sin]` per pair so a rotation reads one contiguous run.
    func table(positions: [Int32]) -> [Float] {
        var table = [Float](repeating: 0, count: positions.count * pairs * 2)
        table.withUnsafeMutableBufferPointer { t in
            for (row, position) in positions.enumerated() {
                var theta = Float(position)
                for i in 0..<pairs {
                    t[(row * pairs + i) * 2] = Foundation.cosf(theta)
                    t[(row * pairs + i) * 2 + 1] = Foundation.sinf(theta)
                    theta *= thetaScale
                }
            }
        }
        return table
    }

    /// Rotates `heads` consecutive heads of one token in place.
    /// - Parameters:
    ///   - x: `[heads, headDim]`.
    ///   - table: this token's row of ``table(positions:)``: `[pairs, 2]`.
    @inline(__always)
    func rotate(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, table: UnsafePointer<Float>) {
        if mode == .neox {
            let half = pairs
            for h in 0..<heads {
                let v = x + h * headDim
                for i in 0..<half {
                    let c = table[2 * i], s = table[2 * i + 1]
                    let a = v[i], b = v[i + half]
                    v[i] = a * c - b * s
                    v[i + half] = a * s + b * c
                }
            }
            return
        }
        for h in 0..<heads {
            let v = x + h * headDim
            for i in 0..<pairs {
                let c = table[2 * i], s = table[2 * i + 1]
                let a = v[2 * i], b = v[2 * i + 1]
                v[2 * i] = a * c - b * s
                v[2 * i + 1] = a * s + b * c
            }
        }
    }
}
