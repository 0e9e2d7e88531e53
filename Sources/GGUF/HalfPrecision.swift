/// Conversions between float32 and the 16-bit float formats GGUF stores (IEEE half and bfloat16).
enum HalfPrecision {
    /// float32 value of every IEEE half bit pattern. A table lookup beats the per-value software
    /// conversion that x86-64 needs without F16C; 256 KiB, built once on first use.
    static let halfToFloatTable: [Float] = (0...UInt16.max).map { Float(Float16(bitPattern: $0)) }

    /// The IEEE half nearest to `value` (round to nearest even, as numpy's astype(float16)).
    @inline(__always) static func halfBits(_ value: Float) -> UInt16 { Float16(value).bitPattern }

    /// bfloat16 is the upper half of a float32, so widening is exact.
    @inline(__always) static func floatFromBFloat16(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// The bfloat16 nearest to `value` (round to nearest even; NaN stays a quiet NaN), as ggml's
    /// `ggml_compute_fp32_to_bf16`.
    static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if bits & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(bits >> 16) | 0x0040 }
        let rounded = UInt64(bits) + 0x7FFF + UInt64((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }
}
