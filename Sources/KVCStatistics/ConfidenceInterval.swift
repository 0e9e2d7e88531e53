import CGSL

/// A two-sided confidence interval around a point estimate.
public struct ConfidenceInterval: Sendable, Equatable, CustomStringConvertible {
    /// The point estimate (sample proportion or sample mean).
    public let estimate: Double
    public let lower: Double
    public let upper: Double
    /// Nominal coverage, e.g. 0.95.
    public let level: Double

    public init(estimate: Double, lower: Double, upper: Double, level: Double) {
        self.estimate = estimate
        self.lower = lower
        self.upper = upper
        self.level = level
    }

    public var description: String {
        "\(estimate) [\(lower), \(upper)] (\(Int((level * 100).rounded()))%)"
    }

    public func contains(_ value: Double) -> Bool { lower <= value && value <= upper }

    // MARK: - Binomial proportions (accuracy: k of n correct)

    /// Wilson score interval for `successes` of `trials`: good coverage even for small n and
    /// proportions near 0 or 1, where the normal (Wald) interval fails. Same as
    /// `scipy.stats.binomtest(k, n).proportion_ci(level, "wilson")`.
    public static func wilson(successes: Int, trials: Int, level: Double = 0.95) throws(StatisticsError) -> ConfidenceInterval {
        try validateCounts(successes: successes, trials: trials, "Wilson interval")
        try GSLSupport.validateLevel(level, "Wilson interval")
        let n = Double(trials)
        let proportion = Double(successes) / n
        let z = gsl_cdf_ugaussian_Pinv(1 - (1 - level) / 2)
        let zSquared = z * z
        let denominator = 1 + zSquared / n
        let center = (proportion + zSquared / (2 * n)) / denominator
        let halfWidth = z / denominator * (proportion * (1 - proportion) / n + zSquared / (4 * n * n)).squareRoot()
        return ConfidenceInterval(
            estimate: proportion, lower: max(0, center - halfWidth), upper: min(1, center + halfWidth), level: level)
    }

    /// Clopper–Pearson "exact" interval for `successes` of `trials`, from quantiles of the beta
    /// distribution: never under-covers, at the price of being conservative. Same as
    /// `scipy.stats.binomtest(k, n).proportion_ci(level, "exact")`.
    public static func clopperPearson(successes: Int, trials: Int, level: Double = 0.95) throws(StatisticsError) -> ConfidenceInterval {
        let what = "Clopper-Pearson interval"
        try validateCounts(successes: successes, trials: trials, what)
        try GSLSupport.validateLevel(level, what)
        let alpha = 1 - level
        let k = Double(successes)
        let n = Double(trials)
        let lower = successes == 0 ? 0 : try GSLSupport.finite(gsl_cdf_beta_Pinv(alpha / 2, k, n - k + 1), what)
        let upper = successes == trials ? 1 : try GSLSupport.finite(gsl_cdf_beta_Pinv(1 - alpha / 2, k + 1, n - k), what)
        return ConfidenceInterval(estimate: k / n, lower: lower, upper: upper, level: level)
    }

    // MARK: - Means

    /// Student-t interval of the mean: mean ± t(1 - α/2, n - 1) · s / √n. Assumes roughly normal
    /// values or a sample large enough for the central limit theorem. Same as
    /// `scipy.stats.t.interval(level, n - 1, loc=mean, scale=sem)`.
    public static func studentT(mean values: [Double], level: Double = 0.95) throws(StatisticsError) -> ConfidenceInterval {
        let what = "Student-t interval"
        try GSLSupport.validate(values, what, atLeast: 2)
        try GSLSupport.validateLevel(level, what)
        let n = values.count
        let mean = gsl_stats_mean(values, 1, n)
        let standardError = gsl_stats_sd_m(values, 1, n, mean) / Double(n).squareRoot()
        let t = try GSLSupport.finite(gsl_cdf_tdist_Pinv(1 - (1 - level) / 2, Double(n - 1)), what)
        return ConfidenceInterval(estimate: mean, lower: mean - t * standardError, upper: mean + t * standardError, level: level)
    }

    /// Percentile bootstrap interval of the mean: `resamples` resamples with replacement drawn by
    /// a Mersenne Twister (GSL mt19937) seeded with `seed`, so the same call gives the same interval.
    /// Makes no normality assumption; needs more than a handful of values to mean much.
    public static func bootstrapMean(
        _ values: [Double], level: Double = 0.95, resamples: Int = 10_000, seed: UInt = 0
    ) throws(StatisticsError) -> ConfidenceInterval {
        let what = "bootstrap interval"
        try GSLSupport.validate(values, what)
        try GSLSupport.validateLevel(level, what)
        guard resamples >= 1 else { throw .invalidCount(what: what, reason: "resamples must be at least 1, got \(resamples)") }
        let generator = try SeededGenerator(seed: seed)
        let n = values.count
        var means = [Double](repeating: 0, count: resamples)
        for resample in 0..<resamples {
            var sum = 0.0
            for _ in 0..<n { sum += values[generator.index(below: n)] }
            means[resample] = sum / Double(n)
        }
        gsl_sort(&means, 1, resamples)
        let alpha = 1 - level
        return ConfidenceInterval(
            estimate: gsl_stats_mean(values, 1, n),
            lower: gsl_stats_quantile_from_sorted_data(means, 1, resamples, alpha / 2),
            upper: gsl_stats_quantile_from_sorted_data(means, 1, resamples, 1 - alpha / 2),
            level: level)
    }

    private static func validateCounts(successes: Int, trials: Int, _ what: String) throws(StatisticsError) {
        guard trials >= 1 else { throw .invalidCount(what: what, reason: "trials must be at least 1, got \(trials)") }
        guard (0...trials).contains(successes) else {
            throw .invalidCount(what: what, reason: "successes must lie in 0...\(trials), got \(successes)")
        }
    }
}

/// A GSL Mersenne Twister (mt19937) owned by one computation; freed on deinit.
final class SeededGenerator {
    private let generator: UnsafeMutablePointer<gsl_rng>

    init(seed: UInt) throws(StatisticsError) {
        GSLSupport.prepare()
        guard let generator = gsl_rng_alloc(kvc_gsl_rng_mt19937()) else {
            throw .undefined(what: "random number generator", reason: "GSL could not allocate it (out of memory)")
        }
        self.generator = generator
        gsl_rng_set(generator, seed)
    }

    /// A uniform integer in 0..<bound (bound ≥ 1 and below 2^32, the generator's range).
    func index(below bound: Int) -> Int {
        Int(gsl_rng_uniform_int(generator, UInt(bound)))
    }

    deinit { gsl_rng_free(generator) }
}
