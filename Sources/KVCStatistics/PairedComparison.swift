import CGSL

/// Tests that compare two methods evaluated on the same prompts (paired samples).
public enum PairedComparison {
    /// Result of a paired t-test on the differences first[i] - second[i].
    public struct TTest: Sendable, Equatable {
        /// Mean of first[i] - second[i].
        public let meanDifference: Double
        /// The t statistic; 0 when every difference is zero, ±infinity when all are equal and non-zero.
        public let t: Double
        public let degreesOfFreedom: Int
        /// Two-sided p-value of "the mean difference is zero".
        public let pValue: Double
        /// Student-t confidence interval of the mean difference.
        public let interval: ConfidenceInterval
    }

    /// Paired t-test, two-sided (the same as `scipy.stats.ttest_rel(first, second)`), with the
    /// confidence interval of the mean difference at `level`. When all differences are equal the
    /// test degenerates: p = 1 if they are all zero, p = 0 otherwise (scipy returns NaN there).
    public static func tTest(_ first: [Double], _ second: [Double], level: Double = 0.95) throws(StatisticsError) -> TTest {
        let what = "paired t-test"
        try GSLSupport.validatePaired(first, second, what, atLeast: 2)
        try GSLSupport.validateLevel(level, what)
        let differences = zip(first, second).map { $0 - $1 }
        let n = differences.count
        let interval = try ConfidenceInterval.studentT(mean: differences, level: level)
        let mean = interval.estimate
        let standardError = gsl_stats_sd_m(differences, 1, n, mean) / Double(n).squareRoot()
        let degreesOfFreedom = n - 1
        let t: Double
        let pValue: Double
        if standardError == 0 {
            t = mean == 0 ? 0 : (mean > 0 ? .infinity : -.infinity)
            pValue = mean == 0 ? 1 : 0
        } else {
            t = mean / standardError
            pValue = min(1, 2 * gsl_cdf_tdist_Q(abs(t), Double(degreesOfFreedom)))
        }
        return TTest(meanDifference: mean, t: t, degreesOfFreedom: degreesOfFreedom, pValue: pValue, interval: interval)
    }

    /// Result of an exact McNemar test on paired binary outcomes.
    public struct McNemarTest: Sendable, Equatable {
        /// Prompts only the first method got right.
        public let onlyFirstCorrect: Int
        /// Prompts only the second method got right.
        public let onlySecondCorrect: Int
        /// Two-sided exact p-value of "both methods are equally accurate".
        public let pValue: Double
    }

    /// Exact McNemar test: only the discordant prompts carry information, and under the null
    /// hypothesis each is equally likely to favour either method, so the count favouring the first
    /// is Binomial(discordant, 1/2) — the sign test on 0/1 scores (`signTest(_:_:)`). Same as
    /// `scipy.stats.binomtest(b, b + c, 0.5).pvalue`.
    public static func mcNemarExact(_ firstCorrect: [Bool], _ secondCorrect: [Bool]) throws(StatisticsError) -> McNemarTest {
        let test = try signTest(firstCorrect.map { $0 ? 1 : 0 }, secondCorrect.map { $0 ? 1 : 0 }, what: "McNemar test")
        return McNemarTest(onlyFirstCorrect: test.firstHigher, onlySecondCorrect: test.secondHigher, pValue: test.pValue)
    }

    /// Result of an exact sign test on paired scores.
    public struct PairedSignTest: Sendable, Equatable {
        /// Pairs where the first score is higher.
        public let firstHigher: Int
        /// Pairs where the second score is higher.
        public let secondHigher: Int
        /// Two-sided exact p-value of "either score is as likely to be the higher".
        public let pValue: Double
    }

    /// Exact sign test on paired scores (RULER's fraction of expected strings found, say): every pair
    /// whose scores differ counts for the higher one, ties are left out. On scores that are only 0 or
    /// 1 it is exactly McNemar's exact test on "fully right" (`mcNemarExact`); on fractional scores it
    /// also counts the partial answers that McNemar's test on "fully right" throws away (a method that
    /// finds 2 of 4 values where its baseline finds none is a discordant pair here, a tie there).
    /// Magnitudes are not used: no assumption on the scores' distribution (cf. a paired t-test).
    public static func signTest(_ first: [Double], _ second: [Double]) throws(StatisticsError) -> PairedSignTest {
        try signTest(first, second, what: "paired sign test")
    }

    /// `signTest(_:_:)`, its errors naming the test as `what`.
    static func signTest(_ first: [Double], _ second: [Double], what: String) throws(StatisticsError) -> PairedSignTest {
        guard first.count == second.count else { throw .lengthMismatch(what: what, first: first.count, second: second.count) }
        guard !first.isEmpty else { throw .tooFewValues(what: what, needed: 1, got: 0) }
        guard first.allSatisfy(\.isFinite), second.allSatisfy(\.isFinite) else {
            throw .invalidCount(what: what, reason: "scores must be finite numbers")
        }
        let firstHigher = zip(first, second).count { $0 > $1 }
        let secondHigher = zip(first, second).count { $0 < $1 }
        return PairedSignTest(firstHigher: firstHigher, secondHigher: secondHigher, pValue: try signTest(positive: firstHigher, negative: secondHigher))
    }

    /// Two-sided exact sign test: p-value of seeing a split at least as uneven as `positive` vs
    /// `negative` when each is equally likely. Ties (zero differences) are left out by the caller.
    public static func signTest(positive: Int, negative: Int) throws(StatisticsError) -> Double {
        GSLSupport.prepare()
        guard positive >= 0, negative >= 0 else {
            throw .invalidCount(what: "sign test", reason: "counts must not be negative, got \(positive) and \(negative)")
        }
        let total = positive + negative
        guard total > 0 else { return 1 }
        let smaller = min(positive, negative)
        // The binomial(total, 1/2) distribution is symmetric: both tails together are twice one tail.
        let oneTail = gsl_cdf_binomial_P(UInt32(smaller), 0.5, UInt32(total))
        return min(1, 2 * oneTail)
    }
}
