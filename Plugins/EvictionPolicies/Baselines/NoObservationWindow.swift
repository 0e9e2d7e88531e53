import KVCompress

/// A window that observes no query at all: for the attention-free baselines (StreamingLLM, key-norm,
/// KeyDiff, random), which rank KVs by position, keys or a seed, so attention need not be scored.
///
/// No options.
public struct NoObservationWindow: AggregationWindow {
    public init() {}
    public func observedQueries(chunkLength: Int, startPosition: Int) -> Range<Int> { chunkLength..<chunkLength }
    public var observesDecode: Bool { false }
    public var poolKernel: Int? { nil }
}
