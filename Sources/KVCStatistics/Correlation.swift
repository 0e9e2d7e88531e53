import CGSL

/// Correlation between two paired samples, e.g. compression rate vs. accuracy per prompt.
public enum Correlation {
    /// Pearson's linear correlation coefficient (`scipy.stats.pearsonr(x, y).statistic`).
    public static func pearson(_ x: [Double], _ y: [Double]) throws(StatisticsError) -> Double {
        let what = "Pearson correlation"
        try GSLSupport.validatePaired(x, y, what, atLeast: 2)
        try requireVariation(x, y, what)
        return try GSLSupport.finite(gsl_stats_correlation(x, 1, y, 1, x.count), what)
    }

    /// Spearman's rank correlation, ties given their average rank
    /// (`scipy.stats.spearmanr(x, y).statistic`).
    public static func spearman(_ x: [Double], _ y: [Double]) throws(StatisticsError) -> Double {
        let what = "Spearman correlation"
        try GSLSupport.validatePaired(x, y, what, atLeast: 2)
        try requireVariation(x, y, what)
        var work = [Double](repeating: 0, count: 2 * x.count)
        return try GSLSupport.finite(gsl_stats_spearman(x, 1, y, 1, x.count, &work), what)
    }

    /// A constant sample has no variance, so any correlation with it is 0/0.
    private static func requireVariation(_ x: [Double], _ y: [Double], _ what: String) throws(StatisticsError) {
        for (name, sample) in [("first", x), ("second", y)] where sample.allSatisfy({ $0 == sample[0] }) {
            throw .undefined(what: what, reason: "the \(name) sample is constant")
        }
    }
}
