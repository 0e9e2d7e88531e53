/// Which queries feed the metric and how their scores are aggregated (KV-Compress §3.1): the last w
/// prompt queries or the full prompt, every decode query or none, the buffer b, max-pooling over
/// positions. GQA aggregation is always the sum over the query heads of the group.
public protocol AggregationWindow: Sendable {
    /// Which queries of a prefill chunk of `chunkLength` tokens starting at `startPosition` are observed,
    /// as indices into the chunk (the last w: `chunkLength - w ..< chunkLength`); empty for none.
    func observedQueries(chunkLength: Int, startPosition: Int) -> Range<Int>
    /// Whether every decode query is added to the running metric.
    var observesDecode: Bool { get }
    /// Keys closer than `buffer` positions before a query are not scored by it.
    var buffer: Int { get }
    /// Width of the max-pool over token positions applied to each query head's prefill scores
    /// (reference: kernel 7, padding 3); nil disables pooling. Decode scores are never pooled.
    var poolKernel: Int? { get }
    /// The plug-in's resolved settings (defaults included), recorded in reports and HDF5 dumps.
    var settings: [String: OptionValue] { get }
}

extension AggregationWindow {
    public var settings: [String: OptionValue] {
        ["decode": .bool(observesDecode), "buffer": .int(buffer), "pool_kernel": .int(poolKernel ?? 0)]
    }
    public var observesDecode: Bool { true }
    public var buffer: Int { 0 }
    public var poolKernel: Int? { 7 }
    public var keyMask: KeyMask { KeyMask(buffer: buffer) }
}
