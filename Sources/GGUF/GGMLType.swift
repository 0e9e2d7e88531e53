/// The element types of ggml tensors, with the ids GGUF files store (`ggml_type` in ggml.h).
///
/// Quantized types group `blockSize` consecutive elements (along dimension 0) into one block of
/// `bytesPerBlock` bytes. Sizes follow `GGML_QUANT_SIZES` of gguf-py / `type_traits` of ggml.c.
/// Ids 4, 5 and 31–33, 36–38 were removed from ggml and are not valid in files.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q8_1 = 9
    case q2_K = 10
    case q3_K = 11
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case q8_K = 15
    case iq2_xxs = 16
    case iq2_xs = 17
    case iq3_xxs = 18
    case iq1_s = 19
    case iq4_nl = 20
    case iq3_s = 21
    case iq2_s = 22
    case iq4_xs = 23
    case i8 = 24
    case i16 = 25
    case i32 = 26
    case i64 = 27
    case f64 = 28
    case iq1_m = 29
    case bf16 = 30
    case tq1_0 = 34
    case tq2_0 = 35
    case mxfp4 = 39

    /// Size of the super-block of the K-quants (`QK_K`).
    static let kQuantBlock = 256

    /// Number of elements one block holds (1 for the plain types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .i8, .i16, .i32, .i64, .f64: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl, .mxfp4: 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq2_xxs, .iq2_xs, .iq3_xxs, .iq1_s, .iq3_s,
            .iq2_s, .iq4_xs, .iq1_m, .tq1_0, .tq2_0:
            Self.kQuantBlock
        }
    }

    /// Number of bytes one block occupies in the file.
    public var bytesPerBlock: Int {
        let k = Self.kQuantBlock
        return switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .i8: 1
        case .i16: 2
        case .i32: 4
        case .i64, .f64: 8
        case .q4_0: 2 + 16  // d (f16), 32 nibbles
        case .q4_1: 2 + 2 + 16  // d, m (f16), 32 nibbles
        case .q5_0: 2 + 4 + 16  // d, 32 high bits, 32 nibbles
        case .q5_1: 2 + 2 + 4 + 16  // d, m, 32 high bits, 32 nibbles
        case .q8_0: 2 + 32  // d, 32 int8
        case .q8_1: 4 + 4 + 32  // d, s (f32), 32 int8
        case .q2_K: 2 + 2 + k / 16 + k / 4
        case .q3_K: 2 + k / 4 + k / 8 + 12
        case .q4_K: 2 + 2 + k / 2 + 12  // d, dmin, 12 bytes of 6-bit scales/mins, 256 nibbles
        case .q5_K: 2 + 2 + k / 2 + k / 8 + 12  // as q4_K plus 256 high bits
        case .q6_K: 2 + k / 2 + k / 4 + k / 16  // 4 low bits, 2 high bits, int8 scales, d
        case .q8_K: 4 + k + k / 8
        case .iq2_xxs: 2 + k / 4
        case .iq2_xs: 2 + k / 4 + k / 32
        case .iq3_xxs: 2 + k / 4 + k / 8
        case .iq1_s: 2 + k / 8 + k / 16
        case .iq4_nl: 2 + 16
        case .iq3_s: 2 + k / 4 + k / 8 + k / 32 + 4
        case .iq2_s: 2 + k / 4 + k / 16
        case .iq4_xs: 2 + 2 + k / 2 + k / 64
        case .iq1_m: k / 8 + k / 16 + k / 32
        case .tq1_0: 2 + 4 * 13
        case .tq2_0: 2 + 64
        case .mxfp4: 1 + 16
        }
    }

    /// Whether `GGUFFile.dequantize` can convert tensors of this type to float32.
    public var isDequantizable: Bool { Self.dequantizable.contains(self) }

    /// The types `GGUFFile.dequantize` supports.
    public static let dequantizable: [GGMLType] = [
        .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
    ]

    /// The types `GGUFWriter` can encode from float32 data.
    public static let writable: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1]

    /// The name ggml uses, e.g. "Q4_1", "Q6_K" or "F16".
    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q8_1: "Q8_1"
        case .q2_K: "Q2_K"
        case .q3_K: "Q3_K"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        case .q8_K: "Q8_K"
        case .iq2_xxs: "IQ2_XXS"
        case .iq2_xs: "IQ2_XS"
        case .iq3_xxs: "IQ3_XXS"
        case .iq1_s: "IQ1_S"
        case .iq4_nl: "IQ4_NL"
        case .iq3_s: "IQ3_S"
        case .iq2_s: "IQ2_S"
        case .iq4_xs: "IQ4_XS"
        case .i8: "I8"
        case .i16: "I16"
        case .i32: "I32"
        case .i64: "I64"
        case .f64: "F64"
        case .iq1_m: "IQ1_M"
        case .bf16: "BF16"
        case .tq1_0: "TQ1_0"
        case .tq2_0: "TQ2_0"
        case .mxfp4: "MXFP4"
        }
    }
}
