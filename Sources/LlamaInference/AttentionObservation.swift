import PagedKVCache

/// What one KV head of one layer saw in one forward step of one sequence: the raw material of
/// importance metrics (KV-Compress §3.1). Handed to an ``AttentionObserver`` from inside attention,
/// the one choke point every forward step goes through.
///
/// Valid only during the `observe` call: the buffers belong to the attention kernel.
public struct HeadObservation: @unchecked Sendable {
    public let sequence: SequenceID
    public let layer: Int
    public let kvHead: Int
    /// Query heads sharing this KV head (GQA group size; 3 for SmolLM2-135M).
    public let groupSize: Int
    /// Head dimension.
    public let headDim: Int
    /// Positions of the observed queries: `[queryCount]`.
    public let queryPositions: [Int32]
    /// Whether these queries come from a prefill (prompt) step or a decode step.
    public let phase: Phase
    /// Observed queries after RoPE: `[groupSize, queryCount, headDim]`.
    public let queries: UnsafeBufferPointer<Float>
    /// Softmax probabilities (the attention weights actually used, causal mask applied):
    /// `[groupSize, queryCount, contextLength]`, column i = logical slot i of the head
    /// (for a fresh prefill, slot order is token order; after cache moves it is not — use
    /// `cache.position(i)` for the token position of slot i).
    public let probabilities: UnsafeBufferPointer<Float>
    /// The head's cache, this step's KVs included: keys, values, metrics and token positions per slot.
    public let cache: HeadView

    public var queryCount: Int { queryPositions.count }
    public var contextLength: Int { cache.length }

    public enum Phase: Sendable, Hashable { case prefill, decode }

    public init(
        sequence: SequenceID, layer: Int, kvHead: Int, groupSize: Int, headDim: Int, queryPositions: [Int32],
        phase: Phase, queries: UnsafeBufferPointer<Float>, probabilities: UnsafeBufferPointer<Float>, cache: HeadView
    ) {
        self.sequence = sequence
        self.layer = layer
        self.kvHead = kvHead
        self.groupSize = groupSize
        self.headDim = headDim
        self.queryPositions = queryPositions
        self.phase = phase
        self.queries = queries
        self.probabilities = probabilities
        self.cache = cache
    }
}

/// Receives attention observations. The metric collector of KV-Compress is one; a user's analysis
/// hook (dumping attention to HDF5, say) can be another.
///
/// `observe` is called concurrently from worker threads, once per (sequence, layer, KV head) and step;
/// calls for different heads touch disjoint cache slots.
public protocol AttentionObserver: AnyObject, Sendable {
    /// Which queries of a prefill chunk to observe, as indices into the chunk of `chunkLength` tokens
    /// starting at position `startPosition` (e.g. the last w: `chunkLength - w ..< chunkLength`).
    /// Return an empty range to observe none. Observed queries are computed in full precision.
    func observedQueries(sequence: SequenceID, chunkLength: Int, startPosition: Int) -> Range<Int>
    /// Whether decode queries are observed (KV-Compress adds every decode query to the running metric).
    func observesDecode(sequence: SequenceID) -> Bool
    /// One head's observation.
    func observe(_ observation: HeadObservation)
}
