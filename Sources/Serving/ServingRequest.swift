import KVCompress
import LlamaInference
import PagedKVCache

/// One generation request submitted to a ``RequestScheduler``.
public struct ServingRequest: Sendable {
    /// Prompt token ids (at least one).
    public var prompt: [Int32]
    /// Most tokens generated (the stop token not counted); 0: prefill only.
    public var maxTokens: Int
    /// Token ids that end the request; they are not emitted.
    public var stopTokens: Set<Int32>
    /// Sampling rule of this request (its own seeded generator: outputs do not depend on batch-mates).
    public var sampler: Sampler
    /// KV-Compress settings of this request (its own budget and protected window), or nil to never
    /// compress it. Every compressed request of one scheduler must share the metric and window
    /// plug-ins, since one observer collects the metric of the whole batch.
    public var compression: CompressionConfiguration?

    public init(
        prompt: [Int32], maxTokens: Int, stopTokens: Set<Int32> = [], sampler: Sampler = .greedy,
        compression: CompressionConfiguration? = nil
    ) {
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.stopTokens = stopTokens
        self.sampler = sampler
        self.compression = compression
    }
}

/// What became of one request.
public struct ServedRequest: Sendable {
    /// Index of the request in the submitted list.
    public let index: Int
    /// Generated tokens (stop token excluded); empty when rejected.
    public var tokens: [Int32] = []
    /// Why it stopped; nil when rejected.
    public var stopReason: StopReason?
    /// Why it was refused before any work (too large for the pool, …); nil when served.
    public var rejection: String?
    /// Times it was preempted (its KVs dropped) and later recomputed.
    public var preemptions = 0
    /// Compressions of its KVs (after each prefill, on interval, under memory pressure).
    public var compressions = 0

    public var completed: Bool { stopReason != nil }
}
