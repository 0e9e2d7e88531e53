import CKernels

/// The element type the cache stores keys and values in.
///
/// Half floats by default, as llama.cpp and vLLM: half the bytes per KV, so a pool of a given size
/// holds about twice the KVs, and attention reads half the memory. Keys and values are computed in
/// float32 and rounded to the nearest half (ties to even, as llama.cpp's fp32 → fp16) when they are
/// appended; every read widens them back exactly. `f32` keeps them as computed.
public enum KVStorageType: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// IEEE binary16: relative rounding error at most 2^-11 for |x| ≥ 2^-14, range ±65504.
    case f16
    /// float32, as computed.
    case f32

    /// The default storage: half floats.
    public static let `default`: KVStorageType = .f16

    /// Bytes of one key or value element.
    @inlinable public var bytesPerElement: Int {
        switch self {
        case .f16: 2
        case .f32: 4
        }
    }

    /// The C kernels' name for this type.
    public var kernelType: kvc_kv_type { self == .f16 ? KVC_KV_F16 : KVC_KV_F32 }

    /// The accepted spellings, for error messages: "f16, f32".
    public static var allowedValues: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// Parses `f16` or `f32`; `key` names the setting in the error (`kv_type`, `--kv-type`).
    public init(parsing text: String, key: String = "kv_type") throws(KVCacheError) {
        guard let type = KVStorageType(rawValue: text.lowercased()) else {
            throw .invalidLayout("\(key) must be one of \(Self.allowedValues) (got '\(text)')")
        }
        self = type
    }

    public var description: String { rawValue }

    /// The instruction set of the bulk conversions. Every path gives the same bits (kvc_half.h), so
    /// unlike the attention kernels this needs no per-test pinning: the fastest one the CPU has.
    static let conversionISA = kvc_best_isa()
}

/// Conversions between float32 and the bits of IEEE half floats.
public enum HalfFloat {
    /// The float a half holds (exact), inlinable so that reading a cached key element by element
    /// costs a few integer operations, not a call.
    @inlinable public static func float(fromBits h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = (h >> 10) & 0x1F, mantissa = UInt32(h & 0x3FF)
        let magnitude: Float
        switch exponent {
        // Subnormal: mantissa · 2^-24, exact in float32 (no denormal arithmetic involved).
        case 0: magnitude = Float(mantissa) * 0x1p-24
        // Infinity or NaN (the payload kept).
        case 31: magnitude = Float(bitPattern: 0x7F80_0000 | mantissa << 13)
        // Normal: rebias the exponent from 15 to 127.
        default: magnitude = Float(bitPattern: (UInt32(h & 0x7FFF) << 13) + (112 << 23))
        }
        return Float(bitPattern: magnitude.bitPattern | sign)
    }

    /// The half nearest `x` (ties to even; ±inf from 65520 up; NaN stays NaN), as bits.
    public static func bits(from x: Float) -> UInt16 { kvc_float_to_half(x) }

    /// dst[i] = half(src[i]), rounded to nearest even. src, dst: `[count]`.
    public static func convert(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<UInt16>, count: Int) {
        kvc_floats_to_halves(src, dst, Int64(count), KVStorageType.conversionISA)
    }

    /// dst[i] = float(src[i]) (exact). src, dst: `[count]`.
    public static func convert(_ src: UnsafePointer<UInt16>, to dst: UnsafeMutablePointer<Float>, count: Int) {
        kvc_halves_to_floats(src, dst, Int64(count), KVStorageType.conversionISA)
    }
}

/// One cached key or value row (`[headDim]`), read as floats whatever the storage type:
/// `head.key(i)[j]`, `Array(head.value(i))`, or `copy(into:)` for a whole row at once.
///
/// A view of the cache's memory, valid while the slot is not overwritten (by a move, an append after a
/// truncation, or a sliding-window free).
public struct KVVector: RandomAccessCollection, @unchecked Sendable {
    @usableFromInline let base: UnsafeRawPointer
    public let type: KVStorageType
    /// Elements: the head dimension.
    public let count: Int

    @inlinable public init(base: UnsafeRawPointer, type: KVStorageType, count: Int) {
        self.base = base
        self.type = type
        self.count = count
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { count }

    /// Element `j` as a float (half floats widened exactly).
    @inlinable public subscript(j: Int) -> Float {
        switch type {
        case .f32: base.load(fromByteOffset: j * 4, as: Float.self)
        case .f16: HalfFloat.float(fromBits: base.load(fromByteOffset: j * 2, as: UInt16.self))
        }
    }

    /// Writes the row as floats: `destination[0..<count]`.
    public func copy(into destination: UnsafeMutablePointer<Float>) {
        KVRows.load(base, type: type, count: count, into: destination)
    }

    /// The raw storage (`count` elements of `type`), for kernels that read the stored type directly.
    public var storage: UnsafeRawPointer { base }
}

/// Loading and storing rows of cached elements as floats.
enum KVRows {
    /// destination[0..<count] = the `count` elements of `type` at `source`, as floats (exact).
    static func load(_ source: UnsafeRawPointer, type: KVStorageType, count: Int, into destination: UnsafeMutablePointer<Float>) {
        switch type {
        case .f32: destination.update(from: source.assumingMemoryBound(to: Float.self), count: count)
        case .f16: HalfFloat.convert(source.assumingMemoryBound(to: UInt16.self), to: destination, count: count)
        }
    }

    /// The `count` elements of `type` at `destination` = source[0..<count], rounded to `type`.
    static func store(_ source: UnsafePointer<Float>, type: KVStorageType, count: Int, into destination: UnsafeMutableRawPointer) {
        switch type {
        case .f32: destination.assumingMemoryBound(to: Float.self).update(from: source, count: count)
        case .f16: HalfFloat.convert(source, to: destination.assumingMemoryBound(to: UInt16.self), count: count)
        }
    }
}
