import LlamaInference
import PagedKVCache

/// Turns what one (layer, KV head) saw in one forward step into one score per cached KV
/// (KV-Compress §3.1: the metric is the attention the observed queries paid to each key).
///
/// The ``MetricCollector`` calls ``score(_:keys:into:)`` once per observation, then, as the
/// ``AggregationWindow`` says, max-pools each query head's row over token positions and sums the rows of
/// the GQA group (no repetition of KVs), and finally merges the result into the slot's stored metric as
/// ``update`` says. At compression time, ``schedulingScore(stored:tokenPosition:sequenceLength:)``
/// turns a stored metric into the number the eviction policy sorts.
public protocol ImportanceMetric: Sendable {
    /// How an observation's scores merge into a slot's stored metric.
    var update: MetricUpdate { get }

    /// Scores the observation's queries against the head's cached KVs.
    /// - Parameters:
    ///   - observation: probabilities `[groupSize, queryCount, contextLength]`, queries
    ///     `[groupSize, queryCount, headDim]`, the head's cache (keys, values, positions per slot).
    ///   - keys: which (query, key) pairs the window lets count (the buffer b).
    ///   - rows: output `[groupSize, contextLength]`, zero on entry: one row per query head of the group,
    ///     column i = logical slot i.
    func score(_ observation: HeadObservation, keys: KeyMask, into rows: UnsafeMutableBufferPointer<Float>)

    /// The score the eviction policy sorts for a KV whose stored metric is `stored`.
    /// - Parameters:
    ///   - tokenPosition: the KV's token position.
    ///   - sequenceLength: tokens the sequence has processed (the next token's position).
    func schedulingScore(stored: Float, tokenPosition: Int, sequenceLength: Int) -> Float

    /// The plug-in's resolved settings (defaults included), recorded in reports and HDF5 dumps.
    var settings: [String: OptionValue] { get }
}

extension ImportanceMetric {
    public var settings: [String: OptionValue] { [:] }
    public var update: MetricUpdate { .accumulate }
    public func schedulingScore(stored: Float, tokenPosition: Int, sequenceLength: Int) -> Float { stored }
}

/// How an observation's scores merge into the stored per-slot metric.
public enum MetricUpdate: Sendable, Hashable {
    /// Added to the running metric, never decayed (KV-Compress: prefill window plus every decode query).
    case accumulate
    /// Replaces it (e.g. TOVA: only the latest query's attention counts).
    case replace
    /// The larger of the two: worst-case aggregation over every query and every head of the GQA group
    /// (DefensiveKV, arXiv 2510.13334: a KV any observed query relied on is kept); the collector then
    /// takes the group's largest row instead of summing the rows.
    case maximum
}

/// Which (query, key) pairs an observation may score: KV-Compress's buffer b (§3.1) ignores keys closer
/// than b positions before the query, so a query does not vote for its immediate neighbourhood.
public struct KeyMask: Sendable, Hashable {
    /// Keys at distance `queryPosition - keyPosition < buffer` are not scored; 0 scores every visible key
    /// (the query's own key included).
    public let buffer: Int
    public init(buffer: Int) { self.buffer = buffer }

    @inlinable public func counts(queryPosition: Int32, keyPosition: Int32) -> Bool {
        Int(queryPosition) - Int(keyPosition) >= buffer
    }
}
