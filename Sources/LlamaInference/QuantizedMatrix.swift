import CKernels
import Foundation
import GGUF

/// A weight matrix `[rows, columns]` in 4- or 8-bit blocks, multiplied with 8-bit quantized
/// activations by integer dot products (the C kernels of `CKernels`).
///
/// Why: SmolLM2's weights are Q4_1 blocks. Kept as blocks, a decode step reads a fifth of the bytes
/// of float32 weights, and integer dot products (AVX-512 VNNI `vpdpbusd`, AVX2 `vpmaddubsw`) do four
/// to eight times the multiply-adds per instruction of float32 FMA. This is the arithmetic of
/// llama.cpp's CPU backend (activations quantized to Q8_0/Q8_1 per 32-block, ggml-quants.c), in a
/// layout of our own: panels of 16 rows, so one register holds 4 columns of 16 rows and one token's
/// 4 activation bytes are broadcast against it — every weight unpacked once serves up to 8 tokens.
///
/// Every block is weight = d·u + m with unsigned u. The file's Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0
/// blocks map to that form exactly; other block types (K-quants, i-quants) are requantized from
/// their float32 values to 8 bits per 32-block with a minimum (error at most half a step of 1/255 of
/// the block's range).
///
/// Storage: `kvc_qmatrix`, described in `kvc_quant.h`. Immutable after construction.
public final class QuantizedMatrix: @unchecked Sendable {
    /// How the quants of a block are stored.
    public struct Format: Hashable, Sendable, CustomStringConvertible {
        /// 4 or 8.
        public let bits: Int
        /// `m = −zeroPoint·d` when the blocks store no minimum; nil when they do.
        public let zeroPoint: Float?

        public static let q4Min = Format(bits: 4, zeroPoint: nil)
        public static let q8Min = Format(bits: 8, zeroPoint: nil)

        public var description: String { "u\(bits)" + (zeroPoint.map { " (zero point \(Int($0)))" } ?? " with minimum") }
    }

    public let rows: Int
    public let columns: Int
    public let format: Format
    /// How the forward pass quantizes this matrix's activations: as llama.cpp does for the file's
    /// block type (Q8_0 for blocks without a stored minimum, Q8_1 with one).
    let activationRounding: kvc_activation_rounding
    /// Heap-allocated so the kernels get a stable pointer.
    private let matrix: UnsafeMutablePointer<kvc_qmatrix>

    var blocksPerRow: Int { columns / Self.blockLength }
    static let blockLength = Int(KVC_BLOCK_COLUMNS)

    /// A zeroed matrix.
    init(rows: Int, columns: Int, format: Format, activationRounding: kvc_activation_rounding? = nil) throws(LlamaError) {
        guard rows > 0, columns > 0, columns % Self.blockLength == 0 else {
            throw .invalidConfiguration("a block-quantized matrix needs a width that is a multiple of 32, got \(rows)×\(columns)")
        }
        self.rows = rows
        self.columns = columns
        self.format = format
        self.activationRounding = activationRounding ?? (format.zeroPoint == nil ? KVC_ROUNDING_Q8_1 : KVC_ROUNDING_Q8_0)
        matrix = .allocate(capacity: 1)
        matrix.initialize(to: kvc_qmatrix())
        let status = kvc_qmatrix_init(
            matrix, Int32(rows), Int32(columns), Int32(format.bits), format.zeroPoint == nil ? 1 : 0, format.zeroPoint ?? 0)
        guard status == 0 else {
            matrix.deallocate()
            throw .invalidConfiguration("cannot allocate a \(rows)×\(columns) quantized matrix (status \(status))")
        }
    }

    deinit {
        kvc_qmatrix_free(matrix)
        matrix.deallocate()
    }

    // MARK: - Blocks in and out

    /// One block: quants `u` (32 values below 2^bits), scale and minimum as half-float bits.
    struct Block {
        var quants = [UInt8](repeating: 0, count: 32)
        var scale: UInt16 = 0
        var minimum: UInt16 = 0
    }

    func set(row: Int, block: Int, _ value: Block) {
        value.quants.withUnsafeBufferPointer {
            kvc_qmatrix_set_block(matrix, Int32(row), Int32(block), $0.baseAddress!, value.scale, value.minimum)
        }
    }

    func block(row: Int, block: Int) -> Block {
        var value = Block()
        var scale: UInt16 = 0, minimum: UInt16 = 0
        value.quants.withUnsafeMutableBufferPointer {
            kvc_qmatrix_get_block(matrix, Int32(row), Int32(block), $0.baseAddress!, &scale, &minimum)
        }
        value.scale = scale
        value.minimum = minimum
        return value
    }

    /// out[c] = W[row, c] for every column (d·u + m, float32).
    func dequantizeRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        kvc_qmatrix_dequantize_row(matrix, Int32(row), out)
    }

    /// All weights, `[rows, columns]` (tests and references).
    public func dequantized() -> [Float] {
        [Float](unsafeUninitializedCapacity: rows * columns) { buffer, count in
            for r in 0..<rows { dequantizeRow(r, into: buffer.baseAddress! + r * columns) }
            count = rows * columns
        }
    }

    // MARK: - Products

    /// y[t, r] (+)= Σ_c W[r, c]·x[t, c] for every row r and token t of `x`, spread over all cores.
    /// - Parameters:
    ///   - x: activations of `x.tokens` tokens × `columns`.
    ///   - y: `[x.tokens, ldy]`; the result goes to columns `0..<rows`.
    ///   - accumulate: add to y (a residual connection) instead of overwriting it.
    ///   - isa: kernels to use (tests pin one; the default is the fastest this CPU runs).
    func multiply(
        _ x: QuantizedActivations, into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool,
        isa: kvc_isa = QuantizedKernels.isa
    ) {
        precondition(x.columns == columns, "activations of width \(x.columns) for a matrix of width \(columns)")
        let tokens = x.tokens, panels = Int(matrix.pointee.panels)
        // Token chunks keep a chunk's int8 activations in L2 while the panels stream past; panel
        // chunks give every core several tasks to balance.
        let tokenChunk = 64
        let tokenChunks = (tokens + tokenChunk - 1) / tokenChunk
        let wantedPanelChunks = max(1, 4 * WorkerPool.shared.threads / tokenChunks)
        let panelChunk = max(1, min(32, (panels + wantedPanelChunks - 1) / wantedPanelChunks))
        let panelChunks = (panels + panelChunk - 1) / panelChunk
        let ys = SharedPointer(y)
        let w = SharedPointer(matrix), q = SharedPointer(x.quants), d = SharedPointer(x.scales), s = SharedPointer(x.sums)
        parallelFor(panelChunks * tokenChunks) { task in
            let p = task % panelChunks, t = task / panelChunks
            kvc_qmatmul(
                w.base, Int32(p * panelChunk), Int32(min(panels, (p + 1) * panelChunk)), Int32(t * tokenChunk),
                Int32(min(tokens, (t + 1) * tokenChunk)), q.base, d.base, s.base, ys.base, Int64(ldy),
                accumulate ? 1 : 0, isa)
        }
    }
}

/// Which kernels run: the fastest the CPU supports, or the one `KVC_KERNELS` names
/// (`portable`, `avx2`, `avx512`) — to compare paths or run the portable code on any machine.
public enum QuantizedKernels {
    static let isa: kvc_isa = {
        switch ProcessInfo.processInfo.environment["KVC_KERNELS"] {
        case "portable": KVC_ISA_PORTABLE
        case "avx2" where kvc_isa_supported(KVC_ISA_AVX2) != 0: KVC_ISA_AVX2
        case "avx512" where kvc_isa_supported(KVC_ISA_AVX512_VNNI) != 0: KVC_ISA_AVX512_VNNI
        default: kvc_best_isa()
        }
    }()

    /// A short name of the kernels in use, for reports.
    public static var name: String { name(of: isa) }

    static func name(of isa: kvc_isa) -> String {
        switch isa {
        case KVC_ISA_AVX512_VNNI: "avx512-vnni"
        case KVC_ISA_AVX2: "avx2"
        default: "portable"
        }
    }

    /// Every instruction set this CPU runs.
    static var supported: [kvc_isa] {
        [KVC_ISA_PORTABLE, KVC_ISA_AVX2, KVC_ISA_AVX512_VNNI].filter { kvc_isa_supported($0) != 0 }
    }
}

/// Activations quantized to 8 bits per 32-block, the input of ``QuantizedMatrix/multiply``.
///
/// Storage: `quants` `[tokens, columns]` int8; `scales` and `sums` `[tokens, columns / 32]` float32
/// (d = max|x|/127 and s = d·Σq of each block; with a `rounding`, d and s rounded as llama.cpp's
/// Q8_0/Q8_1 blocks hold them, see `kvc_quantize_activations_ggml`).
final class QuantizedActivations: @unchecked Sendable {
    let tokens: Int
    let columns: Int
    let quants: UnsafeMutablePointer<Int8>
    let scales: UnsafeMutablePointer<Float>
    let sums: UnsafeMutablePointer<Float>

    /// Quantizes `x` (`[tokens, columns]`, row stride `columns`), tokens spread over the cores.
    init(_ x: UnsafePointer<Float>, tokens: Int, columns: Int, isa: kvc_isa = QuantizedKernels.isa) {
        precondition(columns % QuantizedMatrix.blockLength == 0, "activation width \(columns) is not a multiple of 32")
        self.tokens = tokens
        self.columns = columns
        let blocks = columns / QuantizedMatrix.blockLength
        quants = .allocate(capacity: tokens * columns)
        scales = .allocate(capacity: tokens * blocks)
        sums = .allocate(capacity: tokens * blocks)
        // Chunks of up to 64 tokens, at least four of them from a few tokens on (a decode batch).
        let chunk = min(64, max(4, (tokens + 3) / 4)), chunks = (tokens + chunk - 1) / chunk
        let xs = SharedPointer(UnsafeMutablePointer(mutating: x)), q = SharedPointer(quants)
        let d = SharedPointer(scales), s = SharedPointer(sums)
        parallelFor(chunks) { i in
            let first = i * chunk, count = min(chunk, tokens - first)
            kvc_quantize_activations(
                xs.base + first * columns, Int32(count), Int32(columns), q.base + first * columns, d.base + first * blocks,
                s.base + first * blocks, isa)
        }
    }

    /// Quantizes `x` (`[tokens, columns]`) with llama.cpp's rounding for the given block family
    /// (what the forward pass uses, so that products match llama.cpp's), tokens spread over the cores.
    init(_ x: UnsafePointer<Float>, tokens: Int, columns: Int, rounding: kvc_activation_rounding) {
        precondition(columns % QuantizedMatrix.blockLength == 0, "activation width \(columns) is not a multiple of 32")
        self.tokens = tokens
        self.columns = columns
        let blocks = columns / QuantizedMatrix.blockLength
        quants = .allocate(capacity: tokens * columns)
        scales = .allocate(capacity: tokens * blocks)
        sums = .allocate(capacity: tokens * blocks)
        let chunk = min(64, max(4, (tokens + 3) / 4)), chunks = (tokens + chunk - 1) / chunk
        let xs = SharedPointer(UnsafeMutablePointer(mutating: x)), q = SharedPointer(quants)
        let d = SharedPointer(scales), s = SharedPointer(sums)
        parallelFor(chunks) { i in
            let first = i * chunk, count = min(chunk, tokens - first)
            kvc_quantize_activations_ggml(
                xs.base + first * columns, Int32(count), Int32(columns), q.base + first * columns, d.base + first * blocks,
                s.base + first * blocks, rounding)
        }
    }

    deinit {
        quants.deallocate()
        scales.deallocate()
        sums.deallocate()
    }
}
