import Foundation
import LlamaInference
import PagedKVCache

/// Collects the importance metric from attention (KV-Compress §3.1): for each observation, the metric
/// scores every slot once per query head of the GQA group; prefill rows are max-pooled over token
/// positions (the window's kernel, padding kernel/2), the group's rows are summed into one score per KV
/// (no repetition of KVs), and the result is merged into the cache's per-slot metric.
///
/// Thread-safe: attention calls `observe` concurrently for different heads, whose slots are disjoint;
/// the only shared state is the timing counter, behind a lock.
public final class MetricCollector: AttentionObserver, @unchecked Sendable {
    public let metric: any ImportanceMetric
    public let window: any AggregationWindow

    private let lock = NSLock()
    private var observationSeconds: Double = 0
    private var observationCount = 0
    /// Record each head's latest prefill window queries, for scorers that ask (`ScorerInputs.windowQueries`).
    public let recordsWindowQueries: Bool
    private var recordedQueries: [SequenceID: [HeadIndex: ObservedQueries]] = [:]
    /// Record each head's latest prefill attention probabilities (for `kvc compress --dump`).
    public let recordsWindowAttention: Bool
    private var recordedAttention: [SequenceID: [HeadIndex: ObservedAttention]] = [:]

    public init(metric: any ImportanceMetric, window: any AggregationWindow, recordsWindowQueries: Bool = false, recordsWindowAttention: Bool = false) {
        self.metric = metric
        self.window = window
        self.recordsWindowQueries = recordsWindowQueries
        self.recordsWindowAttention = recordsWindowAttention
    }

    /// The latest prefill attention of `sequence` per (layer, KV head) (empty unless `recordsWindowAttention`).
    public func windowAttention(_ sequence: SequenceID) -> [HeadIndex: ObservedAttention] { lock.withLock { recordedAttention[sequence] ?? [:] } }

    /// The latest prefill window queries of `sequence` per (layer, KV head) (empty unless
    /// `recordsWindowQueries`).
    public func windowQueries(_ sequence: SequenceID) -> [HeadIndex: ObservedQueries] { lock.withLock { recordedQueries[sequence] ?? [:] } }

    /// Forgets what was recorded for `sequence` (a finished or removed sequence).
    public func forget(_ sequence: SequenceID) {
        lock.withLock {
            recordedQueries[sequence] = nil
            recordedAttention[sequence] = nil
        }
    }

    /// Time spent in `observe`, summed over worker threads, and the number of observations.
    public var timing: (seconds: Double, observations: Int) { lock.withLock { (observationSeconds, observationCount) } }

    // MARK: - AttentionObserver

    public func observedQueries(sequence: SequenceID, chunkLength: Int, startPosition: Int) -> Range<Int> {
        window.observedQueries(chunkLength: chunkLength, startPosition: startPosition).clamped(to: 0..<chunkLength)
    }

    public func observesDecode(sequence: SequenceID) -> Bool { window.observesDecode }

    public func observe(_ observation: HeadObservation) {
        let started = ContinuousClock.now
        let n = observation.contextLength, groupSize = observation.groupSize
        guard n > 0 else { return }
        if recordsWindowQueries, observation.phase == .prefill {
            let recorded = ObservedQueries(
                groupSize: groupSize, headDim: observation.headDim, positions: observation.queryPositions, queries: Array(observation.queries))
            let index = HeadIndex(layer: observation.layer, head: observation.kvHead)
            lock.withLock { recordedQueries[observation.sequence, default: [:]][index] = recorded }
        }
        if recordsWindowAttention, observation.phase == .prefill {
            let recorded = ObservedAttention(
                groupSize: groupSize, queryPositions: observation.queryPositions,
                keyPositions: (0..<n).map { observation.cache.position($0) }, probabilities: Array(observation.probabilities))
            let index = HeadIndex(layer: observation.layer, head: observation.kvHead)
            lock.withLock { recordedAttention[observation.sequence, default: [:]][index] = recorded }
        }
        // Scratch on the stack where it fits: one observation per (layer, head, sequence) and step.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: groupSize * n) { rows in
            rows.initialize(repeating: 0)
            metric.score(observation, keys: window.keyMask, into: rows)
            if observation.phase == .prefill, let kernel = window.poolKernel, kernel > 1 {
                let order = Self.slotsInPositionOrder(observation.cache)
                for g in 0..<groupSize {
                    Self.maxPool(UnsafeMutableBufferPointer(rebasing: rows[g * n..<(g + 1) * n]), order: order, kernel: kernel)
                }
            }
            Self.merge(rows, groupSize: groupSize, into: observation.cache, update: metric.update)
        }
        let elapsed = ContinuousClock.now - started
        lock.withLock {
            observationSeconds += Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            observationCount += 1
        }
    }

    /// Merges the group's rows `[groupSize, length]` into the head's stored per-slot metric: their sum
    /// (or largest, for ``MetricUpdate/maximum``), added to or replacing what is stored. The rows are
    /// folded into the first one in place (the same additions, in the same order, as summing each
    /// slot's column), so every loop runs over contiguous floats.
    static func merge(_ rows: UnsafeMutableBufferPointer<Float>, groupSize: Int, into view: HeadView, update: MetricUpdate) {
        let n = view.length
        guard n > 0, let combined = rows.baseAddress else { return }
        for g in 1..<max(1, groupSize) {
            let row = combined + g * n
            if update == .maximum {
                for i in 0..<n { combined[i] = max(combined[i], row[i]) }
            } else {
                for i in 0..<n { combined[i] += row[i] }
            }
        }
        // Block by block: one table lookup per block rather than per KV.
        var start = 0
        for block in 0..<view.filledBlockCount {
            let stored = view.metrics(block: block), count = view.count(inBlock: block), part = combined + start
            switch update {
            case .accumulate: for j in 0..<count { stored[j] += part[j] }
            case .replace: stored.update(from: part, count: count)
            case .maximum: for j in 0..<count { stored[j] = max(stored[j], part[j]) }
            }
            start += count
        }
    }

    // MARK: - Max-pooling over token positions

    /// Logical slots ordered by token position; identity for a fresh prefill, whose slots are in token order.
    static func slotsInPositionOrder(_ head: HeadView) -> [Int]? {
        var previous = Int32.min
        var ordered = true
        for i in 0..<head.length {
            let p = head.position(i)
            if p < previous { ordered = false; break }
            previous = p
        }
        if ordered { return nil }
        return (0..<head.length).sorted { head.position($0) < head.position($1) }
    }

    /// In-place max-pool with stride 1 over the slots in `order` (nil: slot order), window
    /// `[i - kernel/2, i + (kernel-1)/2]` clipped to the ends (padding with -inf, as torch's max_pool1d).
    /// Neighbours are neighbours in position order among the KVs still cached.
    static func maxPool(_ row: UnsafeMutableBufferPointer<Float>, order: [Int]?, kernel: Int) {
        let n = row.count
        let values = (0..<n).map { row[order?[$0] ?? $0] }
        let left = kernel / 2, right = (kernel - 1) / 2
        for i in 0..<n {
            var m = -Float.infinity
            for j in max(0, i - left)...min(n - 1, i + right) { m = max(m, values[j]) }
            row[order?[i] ?? i] = m
        }
    }
}
