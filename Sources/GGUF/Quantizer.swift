/// Encodes float32 values into the ggml types `GGUFWriter` can write: F32, F16, BF16 and the
/// 32-element block types Q8_0, Q4_0 and Q4_1.
///
/// The quantizers follow ggml's reference row quantizers (`quantize_row_q8_0_ref`,
/// `quantize_row_q4_0_ref`, `quantize_row_q4_1_ref` in ggml-quants.c), which gguf-py reproduces
/// bit-exactly; the fixture tests compare against gguf-py's output byte for byte.
public enum Quantizer {
    /// Why `quantize` refused its input.
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case unsupportedType(GGMLType)
        case countNotMultipleOfBlockSize(count: Int, type: GGMLType)
        case nonFiniteValue(index: Int, type: GGMLType)

        public var description: String {
            switch self {
            case .unsupportedType(let type):
                "cannot encode \(type); supported: \(GGMLType.writable.map(\.description).joined(separator: ", "))"
            case .countNotMultipleOfBlockSize(let count, let type):
                "\(count) values are not a multiple of the \(type) block size \(type.blockSize)"
            case .nonFiniteValue(let index, let type):
                "value \(index) is not finite and cannot be quantized to \(type)"
            }
        }
    }

    /// The bytes of `values` encoded as `type` (whole blocks in order, little-endian).
    public static func quantize(_ values: [Float], to type: GGMLType) throws(Failure) -> [UInt8] {
        guard GGMLType.writable.contains(type) else { throw .unsupportedType(type) }
        guard values.count % type.blockSize == 0 else { throw .countNotMultipleOfBlockSize(count: values.count, type: type) }
        if type.blockSize > 1, let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw .nonFiniteValue(index: bad, type: type)
        }
        let blockCount = values.count / type.blockSize
        var bytes = [UInt8](repeating: 0, count: blockCount * type.bytesPerBlock)
        values.withUnsafeBufferPointer { input in
            bytes.withUnsafeMutableBytes { output in
                guard let source = input.baseAddress, let destination = output.baseAddress else { return }
                for block in 0..<blockCount {
                    let x = source + block * type.blockSize
                    let y = destination + block * type.bytesPerBlock
                    switch type {
                    case .f32: y.storeBytes(of: x.pointee.bitPattern.littleEndian, as: UInt32.self)
                    case .f16: y.storeBytes(of: HalfPrecision.halfBits(x.pointee).littleEndian, as: UInt16.self)
                    case .bf16: y.storeBytes(of: HalfPrecision.bfloat16Bits(x.pointee).littleEndian, as: UInt16.self)
                    case .q8_0: q8_0(x, y)
                    case .q4_0: q4_0(x, y)
                    case .q4_1: q4_1(x, y)
                    default: preconditionFailure("unreachable: \(type) is checked above")
                    }
                }
            }
        }
        return bytes
    }

    @inline(__always) private static func storeHalf(_ value: Float, _ destination: UnsafeMutableRawPointer, _ offset: Int) {
        destination.storeBytes(of: HalfPrecision.halfBits(value).littleEndian, toByteOffset: offset, as: UInt16.self)
    }

    /// Q8_0: d = max|x| / 127, q = round(x / d) (halves away from zero).
    private static func q8_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for j in 0..<32 { amax = max(amax, abs(x[j])) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, y, 0)
        for j in 0..<32 {
            y.storeBytes(of: Int8((x[j] * id).rounded()), toByteOffset: 2 + j, as: Int8.self)
        }
    }

    /// Q4_0: d = (the value of largest magnitude, with its sign) / −8, q = min(15, trunc(x / d + 8.5)).
    private static func q4_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        var amax: Float = 0
        var extreme: Float = 0
        for j in 0..<32 where amax < abs(x[j]) {
            amax = abs(x[j])
            extreme = x[j]
        }
        let d = extreme / -8
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, y, 0)
        for j in 0..<16 {
            let low = nibble(x[j] * id + 8.5)
            let high = nibble(x[j + 16] * id + 8.5)
            y.storeBytes(of: low | high << 4, toByteOffset: 2 + j, as: UInt8.self)
        }
    }

    /// Q4_1: d = (max − min) / 15, m = min, q = min(15, trunc((x − min) / d + 0.5)).
    private static func q4_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        var low = Float.greatestFiniteMagnitude
        var high = -Float.greatestFiniteMagnitude
        for j in 0..<32 {
            low = min(low, x[j])
            high = max(high, x[j])
        }
        let d = (high - low) / 15
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, y, 0)
        storeHalf(low, y, 2)
        for j in 0..<16 {
            let first = nibble((x[j] - low) * id + 0.5)
            let second = nibble((x[j + 16] - low) * id + 0.5)
            y.storeBytes(of: first | second << 4, toByteOffset: 4 + j, as: UInt8.self)
        }
    }

    /// Truncates toward zero and clamps to 0...15, as ggml's `MIN(15, (int8_t)(v))` for v ≥ 0.
    @inline(__always) private static func nibble(_ value: Float) -> UInt8 {
        UInt8(min(15, max(0, value.rounded(.towardZero))))
    }
}
