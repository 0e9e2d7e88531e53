import CGSL

/// Checks shared by the statistics functions, and the one-time GSL setup.
enum GSLSupport {
    /// GSL's default error handler aborts the process; it is switched off before the first GSL call,
    /// so failures surface as NaN or status codes that the wrapper turns into `StatisticsError`.
    private static let abortDisabled: Void = kvc_gsl_disable_abort()

    static func prepare() { _ = abortDisabled }

    /// Throws unless `values` has at least `needed` elements, all finite.
    static func validate(_ values: [Double], _ what: String, atLeast needed: Int = 1) throws(StatisticsError) {
        prepare()
        guard values.count >= needed else { throw .tooFewValues(what: what, needed: needed, got: values.count) }
        if let index = values.firstIndex(where: { !$0.isFinite }) {
            throw .nonFiniteValue(what: what, index: index, value: values[index])
        }
    }

    /// Throws unless two paired samples have equal length (and pass `validate`).
    static func validatePaired(_ first: [Double], _ second: [Double], _ what: String, atLeast needed: Int) throws(StatisticsError) {
        guard first.count == second.count else { throw .lengthMismatch(what: what, first: first.count, second: second.count) }
        try validate(first, what, atLeast: needed)
        try validate(second, what, atLeast: needed)
    }

    /// Throws unless `level` is a confidence level strictly between 0 and 1.
    static func validateLevel(_ level: Double, _ what: String) throws(StatisticsError) {
        prepare()
        guard level > 0, level < 1 else { throw .outOfRange(what: "\(what) confidence level", value: level, allowed: "(0, 1)") }
    }

    /// A GSL result, or an error when GSL signalled failure by returning NaN.
    static func finite(_ value: Double, _ what: String) throws(StatisticsError) -> Double {
        guard value.isFinite else { throw .undefined(what: what, reason: "GSL returned \(value)") }
        return value
    }
}
