import PagedKVCache

/// One kernel case checked on a GPU against its CPU reference: the largest absolute and relative
/// differences over the compared elements, and whether they stay within the check's tolerance.
public struct KernelCheckResult: Sendable, CustomStringConvertible {
    /// The kernel (or launcher) checked, e.g. `kvc_decode_attention`.
    public let kernel: String
    /// The configuration, e.g. `block 16, batch 8, L2, output`.
    public let `case`: String
    public let maxAbsoluteError: Double
    public let maxRelativeError: Double
    public let passed: Bool
    /// The KV storage type of the checked cache (nil for a check that holds no pools of KVs).
    public let kvType: KVStorageType?

    public init(
        kernel: String, case: String, maxAbsoluteError: Double, maxRelativeError: Double, passed: Bool,
        kvType: KVStorageType? = nil
    ) {
        self.kernel = kernel
        self.case = `case`
        self.kvType = kvType
        self.maxAbsoluteError = maxAbsoluteError
        self.maxRelativeError = maxRelativeError
        self.passed = passed
    }

    public var description: String {
        "\(passed ? "PASS" : "FAIL") \(kernel) [\(kvType.map { "\($0) KVs, " } ?? "")\(self.case)]: max |Δ| \(maxAbsoluteError), max relative \(maxRelativeError)"
    }
}

/// Elementwise comparison of a kernel's floats with its reference's.
///
/// Relative error of element i: |got − expected| / max(|expected|, floor), floor = `floorFraction` ·
/// max |expected|: elements far below the array's scale (an attention output that nearly cancels)
/// are judged against that scale instead of their own tiny magnitude. NaN anywhere fails.
public struct FloatComparison: Sendable {
    public let maxAbsoluteError: Double
    public let maxRelativeError: Double
    public let count: Int

    public init(_ got: [Float], _ expected: [Float], floorFraction: Double) {
        precondition(got.count == expected.count, "compared arrays differ in length")
        let scale = expected.reduce(0.0) { max($0, Double(abs($1))) }
        let floor = max(scale * floorFraction, Double(Float.leastNormalMagnitude))
        var absolute = 0.0, relative = 0.0
        for (a, b) in zip(got, expected) {
            let difference = abs(Double(a) - Double(b))
            if difference.isNaN || a.isNaN != b.isNaN {
                absolute = .nan
                relative = .nan
                break
            }
            absolute = max(absolute, difference)
            relative = max(relative, difference / max(abs(Double(b)), floor))
        }
        maxAbsoluteError = absolute
        maxRelativeError = relative
        count = got.count
    }

    public func result(
        kernel: String, case: String, relativeTolerance: Double, kvType: KVStorageType? = nil
    ) -> KernelCheckResult {
        KernelCheckResult(
            kernel: kernel, case: `case`, maxAbsoluteError: maxAbsoluteError, maxRelativeError: maxRelativeError,
            passed: maxRelativeError <= relativeTolerance, kvType: kvType)  // passed is false for NaN
    }
}
