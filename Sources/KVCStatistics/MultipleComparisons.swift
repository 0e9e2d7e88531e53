/// Corrections for testing many hypotheses at once.
public enum MultipleComparisons {
    /// Holm's step-down adjusted p-values (Holm 1979, "A simple sequentially rejective multiple test
    /// procedure"): sort ascending, multiply the i-th smallest (0-based) by `m - i`, make the sequence
    /// non-decreasing, cap at 1. Rejecting where the adjusted value is ≤ α controls the family-wise
    /// error rate at α. Same as `statsmodels.stats.multitest.multipletests(p, method="holm")[1]`.
    /// Returned in the input's order.
    public static func holm(_ pValues: [Double]) -> [Double] {
        let m = pValues.count
        let order = pValues.indices.sorted { (pValues[$0], $0) < (pValues[$1], $1) }
        var adjusted = [Double](repeating: 1, count: m)
        var running = 0.0
        for (rank, index) in order.enumerated() {
            running = max(running, min(1, Double(m - rank) * pValues[index]))
            adjusted[index] = running
        }
        return adjusted
    }
}
