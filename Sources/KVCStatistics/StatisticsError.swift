/// Input the statistics functions cannot work with, described in words.
public enum StatisticsError: Error, CustomStringConvertible, Sendable, Equatable {
    /// No values where at least `needed` are required (`what` names the input, e.g. "variance").
    case tooFewValues(what: String, needed: Int, got: Int)
    /// A NaN or infinity at `index` of the input of `what`.
    case nonFiniteValue(what: String, index: Int, value: Double)
    /// A probability-like argument outside its allowed range, e.g. a confidence level of 1.2.
    case outOfRange(what: String, value: Double, allowed: String)
    /// Two paired samples of different lengths.
    case lengthMismatch(what: String, first: Int, second: Int)
    /// A count that cannot be (negative trials, more successes than trials, zero resamples...).
    case invalidCount(what: String, reason: String)
    /// The quantity is mathematically undefined for this input (e.g. correlation with a constant sample).
    case undefined(what: String, reason: String)

    public var description: String {
        switch self {
        case .tooFewValues(let what, let needed, let got):
            "\(what) needs at least \(needed) value\(needed == 1 ? "" : "s"), got \(got)"
        case .nonFiniteValue(let what, let index, let value):
            "\(what): value \(index) is \(value); only finite numbers are allowed"
        case .outOfRange(let what, let value, let allowed):
            "\(what) is \(value); it must lie in \(allowed)"
        case .lengthMismatch(let what, let first, let second):
            "\(what) needs paired samples of equal length, got \(first) and \(second)"
        case .invalidCount(let what, let reason):
            "\(what): \(reason)"
        case .undefined(let what, let reason):
            "\(what) is undefined: \(reason)"
        }
    }
}
