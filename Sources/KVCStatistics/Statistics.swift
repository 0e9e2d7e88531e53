import CGSL

/// Descriptive statistics of a sample (GSL `gsl_stats_*`).
///
/// Every function rejects empty input and NaN or infinite values with a `StatisticsError`.
public enum Statistics {
    public static func mean(_ values: [Double]) throws(StatisticsError) -> Double {
        try GSLSupport.validate(values, "mean")
        return gsl_stats_mean(values, 1, values.count)
    }

    /// Sample variance with the n - 1 denominator (numpy `var(ddof=1)`).
    public static func variance(_ values: [Double]) throws(StatisticsError) -> Double {
        try GSLSupport.validate(values, "variance", atLeast: 2)
        return gsl_stats_variance(values, 1, values.count)
    }

    /// Sample standard deviation with the n - 1 denominator (numpy `std(ddof=1)`).
    public static func standardDeviation(_ values: [Double]) throws(StatisticsError) -> Double {
        try GSLSupport.validate(values, "standard deviation", atLeast: 2)
        return gsl_stats_sd(values, 1, values.count)
    }

    public static func median(_ values: [Double]) throws(StatisticsError) -> Double {
        try GSLSupport.validate(values, "median")
        var sorted = values
        gsl_sort(&sorted, 1, sorted.count)
        return gsl_stats_median_from_sorted_data(sorted, 1, sorted.count)
    }

    /// The `p`-quantile, 0 ≤ p ≤ 1, interpolating linearly between order statistics
    /// (GSL's definition, the same as numpy's default `quantile(method="linear")`).
    public static func quantile(_ values: [Double], p: Double) throws(StatisticsError) -> Double {
        try GSLSupport.validate(values, "quantile")
        guard p >= 0, p <= 1 else { throw .outOfRange(what: "quantile p", value: p, allowed: "[0, 1]") }
        var sorted = values
        gsl_sort(&sorted, 1, sorted.count)
        return gsl_stats_quantile_from_sorted_data(sorted, 1, sorted.count, p)
    }

    public static func minimum(_ values: [Double]) throws(StatisticsError) -> Double {
        try GSLSupport.validate(values, "minimum")
        return gsl_stats_min(values, 1, values.count)
    }

    public static func maximum(_ values: [Double]) throws(StatisticsError) -> Double {
        try GSLSupport.validate(values, "maximum")
        return gsl_stats_max(values, 1, values.count)
    }
}
