import Foundation

/// Rotary position embedding in llama.cpp's "normal" mode, the one GGUF Llama files are made for.
///
/// The converter that writes GGUF permutes the rows of `attn_q` and `attn_k` so that each rotated
/// pair is two ADJACENT dimensions (x[2i], x[2i+1]), rotated by the angle position · θ_i with
/// θ_i = base^(−2i/d), d = `rope.dimension_count`. Dimensions at or past d are left alone.
/// In NEOX mode (Gemma; ggml's `rope_neox`) pair i is (x[i], x[i + d/2]) instead.
struct RotaryEmbedding: Sendable {
    /// Leading dimensions of a head that are rotated.
    let dimensions: Int
    /// θ_i for i in 0..<dimensions/2, in double precision so that large positions keep their accuracy.
    let frequencies: [Double]
    /// Which dimensions form a pair.
    let mode: ArchitectureTraits.RopeMode

    init(dimensions: Int, base: Float, mode: ArchitectureTraits.RopeMode = .normal) {
        self.dimensions = dimensions
        self.mode = mode
        frequencies = (0..<dimensions / 2).map { Foundation.pow(Double(base), -2 * Double($0) / Double(dimensions)) }
    }

    var pairs: Int { dimensions / 2 }

    /// cos and sin of every (position, pair): `[positions.count, pairs]` each, interleaved as
    /// `[cos, sin]` per pair so a rotation reads one contiguous run.
    func table(positions: [Int32]) -> [Float] {
        var table = [Float](repeating: 0, count: positions.count * pairs * 2)
        table.withUnsafeMutableBufferPointer { t in
            for (row, position) in positions.enumerated() {
                for i in 0..<pairs {
                    let angle = Double(position) * frequencies[i]
                    t[(row * pairs + i) * 2] = Float(Foundation.cos(angle))
                    t[(row * pairs + i) * 2 + 1] = Float(Foundation.sin(angle))
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
