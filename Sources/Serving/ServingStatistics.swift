/// Figures of one serving run (``RequestScheduler/serve(_:)``).
///
/// Times are wall-clock seconds on the driving thread, except `metricSeconds`, the attention
/// observer's time summed over worker threads and divided by their number (its share of wall time).
public struct ServingStatistics: Sendable, Codable, Equatable {
    public var submitted = 0
    public var completed = 0
    public var rejected = 0
    /// Tokens generated over all requests.
    public var outputTokens = 0
    /// Prompt tokens prefilled, recomputations included.
    public var prefilledTokens = 0
    /// Of those, tokens prefilled again after a preemption.
    public var recomputedTokens = 0
    /// Scheduler iterations (each: one decode step of the decoding sequences and prefill chunks).
    public var steps = 0
    /// Sequences holding blocks (decoding or prefilling), summed over steps.
    public var runningSum = 0
    public var preemptions = 0
    public var compressions = 0
    public var memoryPressureCompressions = 0
    public var capacityBlocks = 0
    /// Most blocks in use at any point; never above `capacityBlocks`.
    public var peakUsedBlocks = 0

    /// Whole run.
    public var totalSeconds = 0.0
    /// Forward passes: prefill chunks and decode steps.
    public var prefillSeconds = 0.0
    public var decodeSeconds = 0.0
    /// Tokens fed through decode steps (one per decoding sequence and step).
    public var decodedTokens = 0
    /// Sampling the next tokens from the logits.
    public var samplingSeconds = 0.0
    /// Attention-metric collection, in wall-clock share (see above).
    public var metricSeconds = 0.0
    /// Scheduler decisions (admission, preemption, batch assembly) and the compressions' eviction
    /// schedules (scores, sort, plan).
    public var scheduleSeconds = 0.0
    /// Cache moves of compressions (and freeing their blocks).
    public var moveSeconds = 0.0
    /// Block allocation and release outside the forward passes (admission reservations, finished or
    /// preempted sequences freed).
    public var allocationSeconds = 0.0

    public init() {}

    public var modelSeconds: Double { prefillSeconds + decodeSeconds }

    /// Mean number of sequences holding cache blocks per step.
    public var meanRunning: Double { steps > 0 ? Double(runningSum) / Double(steps) : 0 }
    public var outputTokensPerSecond: Double { totalSeconds > 0 ? Double(outputTokens) / totalSeconds : 0 }
    /// (metric + schedule + moves + allocation) / total time: what KV-Compress and the scheduler cost
    /// beyond the forward passes and sampling.
    public var overheadFraction: Double {
        totalSeconds > 0 ? (metricSeconds + scheduleSeconds + moveSeconds + allocationSeconds) / totalSeconds : 0
    }
}
