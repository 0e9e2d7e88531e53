/// Which importance metric an attention kernel accumulates into the cache's per-slot metric
/// (KV-Compress §3.1, `AttentionMetric` in Plugins/EvictionPolicies): nothing, the attention
/// probability (L1), or its square (L2, the paper's default). Raw values are the kernels' `metricMode`.
public enum AttentionMetricMode: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0
    case l1 = 1
    case l2 = 2

    /// The score one probability adds to a slot's metric.
    @inlinable public func score(_ probability: Float) -> Float {
        switch self {
        case .none: 0
        case .l1: probability
        case .l2: probability * probability
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .l1: "L1"
        case .l2: "L2"
        }
    }
}
