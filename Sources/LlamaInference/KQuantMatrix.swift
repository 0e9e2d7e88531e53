import CKernels
import GGUF

/// A weight matrix `[rows, columns]` kept in ggml's K-quant super-blocks (Q4_K or Q6_K, 256
/// columns each), multiplied with activations quantized to Q8_K by integer dot products (the C
/// kernels of `kvc_kquant.h`), as llama.cpp's CPU backend does (ggml-cpu: `vec_dot_type` of Q4_K
/// and Q6_K is Q8_K).
///
/// Why not the panels of ``QuantizedMatrix``: K-quant sub-blocks carry 6-bit scales under a
/// half-float super-block scale (and Q6_K has 16-column sub-blocks), so their weights have no exact
/// 32-column d·u + m form; requantizing them would add a rounding llama.cpp does not have.
///
/// Storage: the file's blocks, row after row (`rows · columns / 256` blocks), 64-byte aligned, read
/// by the portable row kernels (the definition); and, on a CPU with AVX2 or AVX-512 VNNI, the same
/// weights repacked into 16-row panels (`kvc_kpanel_pack`), which the SIMD kernels multiply with
/// every unpacked weight register shared by several tokens. All paths give bit-identical results.
/// Immutable after construction.
final class KQuantMatrix: @unchecked Sendable {
    let rows: Int
    let columns: Int
    let type: GGMLType
    private let kind: kvc_kquant_type
    private let blocks: UnsafeMutableRawPointer
    /// The 16-row panels, when this CPU runs their kernels (AVX2 and up).
    private let panels: UnsafeMutableRawPointer?

    static let blockLength = Int(KVC_KQUANT_BLOCK)
    /// The block types these kernels multiply.
    static let supportedTypes: Set<GGMLType> = [.q4_K, .q6_K]

    /// Copies the blocks of a tensor of `rows` × `columns` weights stored as `type` (row-major,
    /// `columns / 256` blocks a row). nil when `type` is not Q4_K or Q6_K.
    init?(raw: UnsafeRawBufferPointer, type: GGMLType, rows: Int, columns: Int) throws(LlamaError) {
        guard Self.supportedTypes.contains(type) else { return nil }
        guard rows > 0, columns > 0, columns % Self.blockLength == 0 else {
            throw .invalidConfiguration("a \(type) matrix needs a width that is a multiple of 256, got \(rows)×\(columns)")
        }
        let bytes = rows * columns / Self.blockLength * type.bytesPerBlock
        guard raw.count >= bytes else {
            throw .unreadableModel("a \(type) tensor of \(rows)×\(columns) weights needs \(bytes) bytes, has \(raw.count)")
        }
        self.rows = rows
        self.columns = columns
        self.type = type
        kind = type == .q4_K ? KVC_KQUANT_Q4_K : KVC_KQUANT_Q6_K
        blocks = .allocate(byteCount: max(bytes, 1), alignment: 64)
        blocks.copyMemory(from: raw.baseAddress!, byteCount: bytes)
        if kvc_kpanel_supported(KVC_ISA_AVX2) != 0 {
            let panelBytes = Int(kvc_kpanel_bytes(kind, Int32(rows), Int32(columns)))
            let panels = UnsafeMutableRawPointer.allocate(byteCount: panelBytes, alignment: 64)
            kvc_kpanel_pack(
                kind, blocks.assumingMemoryBound(to: UInt8.self), Int32(rows), Int32(columns),
                panels.assumingMemoryBound(to: UInt8.self))
            self.panels = panels
        } else {
            panels = nil
        }
    }

    deinit {
        blocks.deallocate()
        panels?.deallocate()
    }

    /// out[c] = W[row, c] for every column (ggml's dequantization, float32).
    func dequantizeRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        kvc_kquant_dequantize_row(kind, blocks.assumingMemoryBound(to: UInt8.self), Int32(columns), Int32(row), out)
    }

    /// All weights, `[rows, columns]` (tests and references).
    func dequantized() -> [Float] {
        [Float](unsafeUninitializedCapacity: rows * columns) { buffer, count in
            for r in 0..<rows { dequantizeRow(r, into: buffer.baseAddress! + r * columns) }
            count = rows * columns
        }
    }

    /// y[t, r] (+)= Σ_c W[r, c]·x[t, c] for every row r and token t of `x`, spread over all cores.
    /// - Parameters:
    ///   - x: activations of `x.tokens` tokens × `columns`, quantized to Q8_K.
    ///   - y: `[x.tokens, ldy]`; the result goes to columns `0..<rows`.
    ///   - accumulate: add to y (a residual connection) instead of overwriting it.
    ///   - isa: kernels to use (tests pin one; the default is the fastest this CPU runs).
    func multiply(
        _ x: Q8KActivations, into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool,
        isa: kvc_isa = QuantizedKernels.isa
    ) {
        precondition(x.columns == columns, "activations of width \(x.columns) for a matrix of width \(columns)")
        let ys = SharedPointer(y), xs = SharedPointer(x.blocks)
        let kind = kind, rows = rows, columns = columns, add: Int32 = accumulate ? 1 : 0
        if let panels, kvc_kpanel_supported(isa) != 0 {
            // Two 16-row panels a task, as the portable path's 32-row chunks.
            let w = SharedPointer(panels.assumingMemoryBound(to: UInt8.self)), panelRows = Int(KVC_KPANEL_ROWS)
            Self.forEachTile(units: (rows + panelRows - 1) / panelRows, unitsPerTile: 2, tokens: x.tokens) { p, t in
                kvc_kpanel_matmul(
                    kind, w.base, Int32(rows), Int32(columns), Int32(p.lowerBound), Int32(p.upperBound), xs.base,
                    Int32(t.lowerBound), Int32(t.upperBound), ys.base, Int64(ldy), add, isa)
            }
        } else {
            let w = SharedPointer(blocks.assumingMemoryBound(to: UInt8.self))
            Self.forEachTile(units: rows, unitsPerTile: 32, tokens: x.tokens) { r, t in
                kvc_kquant_matmul(
                    kind, w.base, Int32(columns), Int32(r.lowerBound), Int32(r.upperBound), xs.base, Int32(t.lowerBound),
                    Int32(t.upperBound), ys.base, Int64(ldy), add)
            }
        }
    }

    /// Runs `body(units, tokens)` over every tile of `unitsPerTile` units (rows or panels) × up to 64
    /// tokens, spread over all cores: a tile's weights stay in L1/L2 while its tokens stream past.
    private static func forEachTile(
        units: Int, unitsPerTile: Int, tokens: Int, _ body: @Sendable (Range<Int>, Range<Int>) -> Void
    ) {
        let tokensPerTile = 64
        let unitTiles = (units + unitsPerTile - 1) / unitsPerTile, tokenTiles = (tokens + tokensPerTile - 1) / tokensPerTile
        parallelFor(unitTiles * tokenTiles) { task in
            let u = task % unitTiles, t = task / unitTiles
            body(
                u * unitsPerTile..<min(units, (u + 1) * unitsPerTile),
                t * tokensPerTile..<min(tokens, (t + 1) * tokensPerTile))
        }
    }
}

/// Activations quantized to Q8_K (256 per block, one float scale, 16-sums), the input of
/// ``KQuantMatrix/multiply``. Storage: `blocks` `[tokens, columns / 256]` of `kvc_q8k_block`.
final class Q8KActivations: @unchecked Sendable {
    let tokens: Int
    let columns: Int
    let blocks: UnsafeMutablePointer<kvc_q8k_block>

    /// Quantizes `x` (`[tokens, columns]`, row stride `columns`), tokens spread over the cores.
    init(_ x: UnsafePointer<Float>, tokens: Int, columns: Int) {
        precondition(columns % KQuantMatrix.blockLength == 0, "activation width \(columns) is not a multiple of 256")
        self.tokens = tokens
        self.columns = columns
        let perToken = columns / KQuantMatrix.blockLength
        blocks = .allocate(capacity: max(1, tokens * perToken))
        let chunk = min(64, max(4, (tokens + 3) / 4)), chunks = (tokens + chunk - 1) / chunk
        let xs = SharedPointer(UnsafeMutablePointer(mutating: x)), ys = SharedPointer(blocks)
        parallelFor(chunks) { i in
            let first = i * chunk, count = min(chunk, tokens - first)
            kvc_quantize_q8k(xs.base + first * columns, Int32(count), Int32(columns), ys.base + first * perToken)
        }
    }

    deinit { blocks.deallocate() }
}
