/// A GPU compute capability, the target NVRTC compiles a cubin for (`sm_80` → 8.0, A100; `sm_90` →
/// 9.0, H100/H200).
public struct GPUArchitecture: Hashable, Sendable, CustomStringConvertible {
    public let major: Int
    public let minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses `sm_XY` (also `sm_XYa`-free plain forms like `sm_100`: the last digit is the minor
    /// version, the digits before it the major, as NVIDIA numbers them).
    public init(parsing text: String) throws(CUDAError) {
        let digits = text.hasPrefix("sm_") ? text.dropFirst(3) : Substring("")
        guard digits.count >= 2, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
              let major = Int(digits.dropLast()), let minor = Int(digits.suffix(1)), major > 0
        else {
            throw .invalidArgument("'\(text)' is not a GPU architecture; expected sm_ followed by the compute capability, e.g. sm_80 or sm_90")
        }
        self.init(major: major, minor: minor)
    }

    /// A100 (Ampere).
    public static let sm80 = GPUArchitecture(major: 8, minor: 0)
    /// H100 / H200 (Hopper).
    public static let sm90 = GPUArchitecture(major: 9, minor: 0)

    /// The NVRTC name, `sm_90`.
    public var name: String { "sm_\(major)\(minor)" }
    public var description: String { name }
}
