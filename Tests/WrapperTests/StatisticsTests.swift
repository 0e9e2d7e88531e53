import Foundation
import KVCStatistics
import SeededRandom
import Testing

// Reference values below were printed by `python3 scripts/statistics_reference_values.py`
// (numpy 2.4.6, scipy 1.17.1), which computes them without GSL.

/// |actual - expected| within a relative-or-absolute tolerance.
func isClose(_ actual: Double, _ expected: Double, tolerance: Double = 1e-9) -> Bool {
    abs(actual - expected) <= tolerance * max(1, abs(expected))
}

@Suite struct DescriptiveStatisticsTests {
    static let sample = [2.5, 3.1, 4.7, 1.2, 5.5, 3.3, 2.2, 4.1]

    @Test("mean, variance, standard deviation, median, min and max match numpy")
    func moments() throws {
        #expect(isClose(try Statistics.mean(Self.sample), 3.325))
        #expect(isClose(try Statistics.variance(Self.sample), 1.962142857142857))
        #expect(isClose(try Statistics.standardDeviation(Self.sample), 1.4007650970604804))
        #expect(isClose(try Statistics.median(Self.sample), 3.2))
        #expect(isClose(try Statistics.median([3, 1, 2]), 2))
        #expect(try Statistics.minimum(Self.sample) == 1.2)
        #expect(try Statistics.maximum(Self.sample) == 5.5)
    }

    @Test("quantiles interpolate like numpy.quantile", arguments: [
        (0.0, 1.2), (0.1, 1.9000000000000001), (0.25, 2.425), (0.5, 3.2), (0.9, 4.94), (1.0, 5.5),
    ])
    func quantiles(p: Double, expected: Double) throws {
        #expect(isClose(try Statistics.quantile(Self.sample, p: p), expected))
    }

    @Test("bad input is an error, not a crash or NaN")
    func badInput() {
        #expect(throws: StatisticsError.tooFewValues(what: "mean", needed: 1, got: 0)) { try Statistics.mean([]) }
        #expect(throws: StatisticsError.tooFewValues(what: "variance", needed: 2, got: 1)) { try Statistics.variance([1]) }
        #expect(throws: StatisticsError.nonFiniteValue(what: "median", index: 1, value: .infinity)) { try Statistics.median([1, .infinity]) }
        #expect(throws: StatisticsError.self) { try Statistics.maximum([.nan]) }
        #expect(throws: StatisticsError.outOfRange(what: "quantile p", value: 1.5, allowed: "[0, 1]")) {
            try Statistics.quantile([1, 2], p: 1.5)
        }
        #expect(StatisticsError.tooFewValues(what: "variance", needed: 2, got: 1).description == "variance needs at least 2 values, got 1")
    }
}

@Suite struct ConfidenceIntervalTests {
    /// (k, n, Wilson 95%, Clopper-Pearson 95%, Wilson 90%, Clopper-Pearson 99%) from scipy's
    /// `binomtest(k, n).proportion_ci(level, "wilson" / "exact")`.
    static let binomialCases: [(Int, Int, [Double], [Double], [Double], [Double])] = [
        (0, 10, [0.0, 0.27753279986288926], [0.0, 0.30849710781876294], [0.0, 0.21294197008340698], [0.0, 0.4112959813475254]),
        (3, 10, [0.10779126740630102, 0.6032218525388546], [0.06673951117773447, 0.652452850060008],
         [0.1268765839031979, 0.5583002041301649], [0.03700722109620741, 0.7351139852871308]),
        (10, 10, [0.7224672001371109, 1.0], [0.6915028921812371, 1.0], [0.787058029916593, 1.0], [0.5887040186524746, 1.0]),
        (81, 100, [0.7222115462093562, 0.8748524849023126], [0.7193020420263279, 0.881556803867574],
         [0.7376400476715522, 0.8660274654428796], [0.6901621122532992, 0.8991826697383105]),
        (1, 1, [0.20654931437723745, 1.0], [0.025000000000000022, 1.0], [0.2698659487840541, 1.0], [0.0050000000000000044, 1.0]),
        (450, 500, [0.8705780903680599, 0.9233224372626984], [0.8702909143377965, 0.9248641849335849],
         [0.8757336141785858, 0.9199608141175407], [0.860531573698233, 0.9316008774002926]),
    ]

    @Test("Wilson and Clopper-Pearson intervals match scipy", arguments: binomialCases)
    func binomial(k: Int, n: Int, wilson95: [Double], exact95: [Double], wilson90: [Double], exact99: [Double]) throws {
        for (interval, expected) in [
            (try ConfidenceInterval.wilson(successes: k, trials: n), wilson95),
            (try ConfidenceInterval.clopperPearson(successes: k, trials: n), exact95),
            (try ConfidenceInterval.wilson(successes: k, trials: n, level: 0.90), wilson90),
            (try ConfidenceInterval.clopperPearson(successes: k, trials: n, level: 0.99), exact99),
        ] {
            #expect(isClose(interval.lower, expected[0]), "\(interval) vs \(expected)")
            #expect(isClose(interval.upper, expected[1]), "\(interval) vs \(expected)")
            #expect(interval.estimate == Double(k) / Double(n))
        }
    }

    @Test("Clopper-Pearson at k = 0 and k = n has the closed form (α/2)^(1/n)", arguments: [1, 2, 7, 30])
    func clopperPearsonClosedForm(n: Int) throws {
        let tail = pow(0.025, 1 / Double(n))
        #expect(isClose(try ConfidenceInterval.clopperPearson(successes: 0, trials: n).upper, 1 - tail))
        #expect(isClose(try ConfidenceInterval.clopperPearson(successes: n, trials: n).lower, tail))
    }

    @Test("the Student-t interval of a mean matches scipy.stats.t.interval")
    func studentT() throws {
        let sample = DescriptiveStatisticsTests.sample
        let interval95 = try ConfidenceInterval.studentT(mean: sample)
        #expect(isClose(interval95.lower, 2.1539310725687653) && isClose(interval95.upper, 4.496068927431235))
        let interval99 = try ConfidenceInterval.studentT(mean: sample, level: 0.99)
        #expect(isClose(interval99.lower, 1.5918975213159965) && isClose(interval99.upper, 5.058102478684004))
        #expect(interval99.estimate == 3.325)
    }

    @Test("the bootstrap interval is reproducible per seed and agrees with theory")
    func bootstrap() throws {
        // A skew-free, deterministic sample of 400 values in [0, 1).
        let sample = (0..<400).map { (Double($0) * 0.618_033_988_75).truncatingRemainder(dividingBy: 1) }
        let first = try ConfidenceInterval.bootstrapMean(sample, resamples: 4000, seed: 7)
        let again = try ConfidenceInterval.bootstrapMean(sample, resamples: 4000, seed: 7)
        let other = try ConfidenceInterval.bootstrapMean(sample, resamples: 4000, seed: 8)
        #expect(first == again)
        #expect(first != other)
        #expect(first.contains(first.estimate))
        // For a large sample the percentile bootstrap approaches the t interval (width within 10%).
        let student = try ConfidenceInterval.studentT(mean: sample)
        let widthRatio = (first.upper - first.lower) / (student.upper - student.lower)
        #expect(abs(widthRatio - 1) < 0.1, "bootstrap \(first) vs t \(student)")
        #expect(abs(first.lower - student.lower) < 0.01 && abs(first.upper - student.upper) < 0.01)
        // With no spread every resample has the same mean.
        let constant = try ConfidenceInterval.bootstrapMean([2, 2, 2], resamples: 50, seed: 1)
        #expect(constant.lower == 2 && constant.upper == 2)
    }

    @Test("the 95% bootstrap interval covers the true mean about 95% of the time")
    func bootstrapCoverage() throws {
        // 200 samples of 40 uniform values (true mean 0.5) from a seeded generator independent of GSL.
        var generator = SplitMix64(seed: 2024)
        var covered = 0
        for trial in 0..<200 {
            let sample = (0..<40).map { _ in Double(generator.next() >> 11) / Double(1 << 53) }
            if try ConfidenceInterval.bootstrapMean(sample, resamples: 1000, seed: UInt(trial)).contains(0.5) { covered += 1 }
        }
        // Binomial(200, 0.95) lies in 180...198 with probability > 0.999; percentile bootstrap
        // under-covers slightly at n = 40, so the lower bound allows for that.
        #expect((175...199).contains(covered), "covered \(covered) of 200")
    }

    @Test("bad arguments are errors")
    func badArguments() {
        #expect(throws: StatisticsError.invalidCount(what: "Wilson interval", reason: "trials must be at least 1, got 0")) {
            try ConfidenceInterval.wilson(successes: 0, trials: 0)
        }
        #expect(throws: StatisticsError.invalidCount(what: "Clopper-Pearson interval", reason: "successes must lie in 0...3, got 4")) {
            try ConfidenceInterval.clopperPearson(successes: 4, trials: 3)
        }
        for level in [0.0, 1.0, -0.5, 1.5, .nan] {
            #expect(throws: StatisticsError.self) { try ConfidenceInterval.wilson(successes: 1, trials: 2, level: level) }
            #expect(throws: StatisticsError.self) { try ConfidenceInterval.studentT(mean: [1, 2], level: level) }
        }
        #expect(throws: StatisticsError.tooFewValues(what: "Student-t interval", needed: 2, got: 1)) {
            try ConfidenceInterval.studentT(mean: [1])
        }
        #expect(throws: StatisticsError.self) { try ConfidenceInterval.bootstrapMean([1, 2], resamples: 0) }
        #expect(throws: StatisticsError.self) { try ConfidenceInterval.bootstrapMean([]) }
    }
}

@Suite struct PairedComparisonTests {
    @Test("the paired t-test matches scipy.stats.ttest_rel")
    func pairedTTest() throws {
        let first = [0.61, 0.72, 0.55, 0.80, 0.67, 0.59, 0.74, 0.70]
        let second = [0.58, 0.70, 0.57, 0.75, 0.61, 0.60, 0.69, 0.66]
        let result = try PairedComparison.tTest(first, second)
        #expect(isClose(result.t, 2.6678918753996657))
        #expect(isClose(result.pValue, 0.03209764464029135))
        #expect(result.degreesOfFreedom == 7)
        #expect(isClose(result.interval.lower, 0.0031260111144646337) && isClose(result.interval.upper, 0.05187398888553542))
        // Swapping the methods flips the sign but not the p-value.
        let swapped = try PairedComparison.tTest(second, first)
        #expect(isClose(swapped.t, -result.t) && isClose(swapped.pValue, result.pValue))
    }

    @Test("identical or constantly shifted pairs give the degenerate p-values")
    func degenerateTTest() throws {
        #expect(try PairedComparison.tTest([1, 2, 3], [1, 2, 3]).pValue == 1)
        let shifted = try PairedComparison.tTest([2, 3, 4], [1, 2, 3])
        #expect(shifted.pValue == 0 && shifted.t == .infinity)
        #expect(throws: StatisticsError.lengthMismatch(what: "paired t-test", first: 2, second: 3)) {
            try PairedComparison.tTest([1, 2], [1, 2, 3])
        }
    }

    /// (only first correct, only second correct, p) from `scipy.stats.binomtest(b, b + c, 0.5).pvalue`.
    @Test("the exact McNemar test matches scipy's binomial test", arguments: [
        (0, 0, 1.0), (1, 0, 1.0), (3, 9, 0.14599609375), (10, 2, 0.03857421875), (5, 5, 1.0), (20, 40, 0.01348929373119186),
    ])
    func mcNemar(onlyFirst: Int, onlySecond: Int, expected: Double) throws {
        // Concordant prompts (both right, both wrong) surround the discordant ones and must not matter.
        let first = [true, false] + Array(repeating: true, count: onlyFirst) + Array(repeating: false, count: onlySecond) + [true]
        let second = [true, false] + Array(repeating: false, count: onlyFirst) + Array(repeating: true, count: onlySecond) + [true]
        let result = try PairedComparison.mcNemarExact(first, second)
        #expect(result.onlyFirstCorrect == onlyFirst && result.onlySecondCorrect == onlySecond)
        #expect(isClose(result.pValue, expected))
        #expect(isClose(try PairedComparison.signTest(positive: onlySecond, negative: onlyFirst), expected))
    }

    /// On 0/1 scores the sign test on paired scores is McNemar's exact test on "fully right".
    @Test("the sign test on 0/1 scores equals McNemar's exact test", arguments: [(3, 9), (10, 2), (0, 0), (20, 40)])
    func signTestOnBinaryScoresIsMcNemar(onlyFirst: Int, onlySecond: Int) throws {
        let first = [true, false] + Array(repeating: true, count: onlyFirst) + Array(repeating: false, count: onlySecond)
        let second = [true, false] + Array(repeating: false, count: onlyFirst) + Array(repeating: true, count: onlySecond)
        let scores = try PairedComparison.signTest(first.map { $0 ? 1 : 0 }, second.map { $0 ? 1 : 0 })
        let mcNemar = try PairedComparison.mcNemarExact(first, second)
        #expect(scores.firstHigher == mcNemar.onlyFirstCorrect && scores.secondHigher == mcNemar.onlySecondCorrect)
        #expect(scores.pValue == mcNemar.pValue)
    }

    /// Partly right answers count: 2 of 4 values found against none is a discordant pair (McNemar on
    /// "fully right" sees a tie). 9 pairs favour the first, 1 the second, 2 tie:
    /// `scipy.stats.binomtest(9, 10, 0.5).pvalue` = 0.021484375.
    @Test func theSignTestOnScoresCountsPartlyRightAnswers() throws {
        let first = Array(repeating: 0.5, count: 9) + [0.25, 1, 0]
        let second = Array(repeating: 0.0, count: 9) + [0.75, 1, 0]
        let result = try PairedComparison.signTest(first, second)
        #expect(result.firstHigher == 9 && result.secondHigher == 1)
        #expect(isClose(result.pValue, 0.021484375))
        #expect(try PairedComparison.mcNemarExact(first.map { $0 == 1 }, second.map { $0 == 1 }).pValue == 1)
    }

    @Test("mismatched or empty outcome lists are errors")
    func mcNemarErrors() {
        #expect(throws: StatisticsError.self) { try PairedComparison.signTest([0.5], [0.5, 1]) }
        #expect(throws: StatisticsError.self) { try PairedComparison.signTest([Double](), []) }
        #expect(throws: StatisticsError.self) { try PairedComparison.signTest([.nan], [0]) }
        #expect(throws: StatisticsError.self) { try PairedComparison.mcNemarExact([true], [true, false]) }
        #expect(throws: StatisticsError.self) { try PairedComparison.mcNemarExact([], []) }
        #expect(throws: StatisticsError.self) { try PairedComparison.signTest(positive: -1, negative: 2) }
    }
}

@Suite struct CorrelationTests {
    @Test("Pearson and Spearman match scipy, with and without ties", arguments: [
        ([1.0, 2, 3, 4, 5, 6], [2.0, 1, 4, 3, 7, 5], 0.7917946548886295, 0.8285714285714287),
        ([1.0, 2, 2, 3, 4, 4, 4, 5], [3.0, 1, 2, 2, 5, 4, 6, 6], 0.7875788688438807, 0.7889568540593018),
    ])
    func correlations(x: [Double], y: [Double], pearson: Double, spearman: Double) throws {
        #expect(isClose(try Correlation.pearson(x, y), pearson))
        #expect(isClose(try Correlation.spearman(x, y), spearman))
    }

    @Test("perfect monotone relations have rank correlation ±1")
    func monotone() throws {
        let x = (1...20).map(Double.init)
        #expect(isClose(try Correlation.spearman(x, x.map { exp($0 / 4) }), 1))
        #expect(isClose(try Correlation.pearson(x, x.map { -3 * $0 + 2 }), -1))
    }

    @Test("constant, mismatched or too short samples are errors")
    func errors() {
        #expect(throws: StatisticsError.undefined(what: "Pearson correlation", reason: "the second sample is constant")) {
            try Correlation.pearson([1, 2, 3], [4, 4, 4])
        }
        #expect(throws: StatisticsError.self) { try Correlation.spearman([1, 2], [1, 2, 3]) }
        #expect(throws: StatisticsError.self) { try Correlation.spearman([1], [1]) }
    }
}

