/// One kernel parameter, by value: device pointers are passed as their 64-bit address.
/// Each case must match the kernel's parameter type (`float *` ← `.pointer`, `int` ← `.int32`,
/// `long long` ← `.int64`, `float` ← `.float`): the driver copies as many bytes as the parameter takes.
public enum KernelArgument: Sendable, Equatable {
    case pointer(UInt64)
    case int32(Int32)
    case int64(Int64)
    case float(Float)

    /// Convenience for counts and sizes: `.int32(Int32(value))`, refusing values that do not fit.
    public static func int(_ value: Int) throws(CUDAError) -> KernelArgument {
        guard let narrow = Int32(exactly: value) else { throw .invalidArgument("\(value) does not fit a 32-bit kernel parameter") }
        return .int32(narrow)
    }

    /// Writes the value at `slot` (8 bytes, 8-aligned: room for every case).
    func store(at slot: UnsafeMutableRawPointer) {
        switch self {
        case .pointer(let address): slot.storeBytes(of: address, as: UInt64.self)
        case .int32(let value): slot.storeBytes(of: value, as: Int32.self)
        case .int64(let value): slot.storeBytes(of: value, as: Int64.self)
        case .float(let value): slot.storeBytes(of: value, as: Float.self)
        }
    }
}
