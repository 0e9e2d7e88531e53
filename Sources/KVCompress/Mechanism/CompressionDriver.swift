import BPETokenizer
import LlamaInference
import PagedKVCache

/// Decides when to compress (KV-Compress §4): once after each prefill, every `interval` decode steps,
/// and always when the block pool cannot fit the next decode step. Plugs into generation as its
/// ``CacheController``; its ``MetricCollector`` is the attention observer that feeds the metric.
public final class CompressionDriver: CacheController {
    public let compressor: Compressor
    public let collector: MetricCollector
    /// Every compression so far, in order.
    public private(set) var reports: [CompressionReport] = []
    private var stepsSinceCompression: [SequenceID: Int] = [:]
    /// The model and tokenizer a scorer that reads the document again (KVzip) runs; set by the caller.
    public var scoringModel: (model: LlamaModel, tokenizer: any TextTokenizer)?
    /// Prompt tokens per sequence, from `willPrefill`.
    private var promptTokens: [SequenceID: [Int32]] = [:]

    public init(compressor: Compressor) {
        self.compressor = compressor
        collector = MetricCollector(
            metric: compressor.plugins.metric, window: compressor.plugins.window,
            recordsWindowQueries: compressor.plugins.scorer?.inputs.contains(.windowQueries) ?? false)
    }

    /// Validates `configuration` against `registry` and builds the driver.
    public convenience init(configuration: CompressionConfiguration, registry: PluginRegistry) throws {
        self.init(compressor: try Compressor(configuration: configuration, registry: registry))
    }

    public var observer: (any AttentionObserver)? { collector }
    var schedule: CompressionSchedule { compressor.configuration.schedule }

    public func willPrefill(_ sequence: SequenceID, tokens: [Int32], cache: PagedKVCache) throws {
        if scoringModel != nil { promptTokens[sequence] = tokens }
    }

    public func didPrefill(_ sequence: SequenceID, cache: PagedKVCache) throws {
        stepsSinceCompression[sequence] = 0
        if schedule.afterPrefill { try compress(sequence, cache: cache, trigger: .afterPrefill) }
    }

    public func willDecode(_ sequences: [SequenceID], step: Int, cache: PagedKVCache) throws {
        if schedule.interval > 0 {
            for sequence in sequences {
                let steps = stepsSinceCompression[sequence, default: 0] + 1
                if steps >= schedule.interval {
                    try compress(sequence, cache: cache, trigger: .interval)
                } else {
                    stepsSinceCompression[sequence] = steps
                }
            }
        }
        var needed = sequences.reduce(0) { $0 + cache.blocksNeeded($1, appending: 1) }
        guard needed > cache.freeBlockCount else { return }
        if schedule.underMemoryPressure {
            // Largest sequences first: they have the most to give.
            for sequence in sequences.sorted(by: { cache.residentBlocks($0) > cache.residentBlocks($1) }) {
                try compress(sequence, cache: cache, trigger: .memoryPressure)
                needed = sequences.reduce(0) { $0 + cache.blocksNeeded($1, appending: 1) }
                if needed <= cache.freeBlockCount { return }
            }
        }
        throw KVCacheError.outOfBlocks(needed: needed, free: cache.freeBlockCount, capacity: cache.capacityBlocks)
    }

    /// Compresses `sequence` now and records the report.
    @discardableResult
    public func compress(_ sequence: SequenceID, cache: PagedKVCache, trigger: CompressionTrigger) throws -> CompressionReport {
        let context = scoringModel.flatMap { scoring in
            promptTokens[sequence].map {
                ScoringContext(model: scoring.model, tokenizer: scoring.tokenizer, tokens: $0, windowQueries: collector.windowQueries(sequence))
            }
        }
        let report = try compressor.compress(sequence, cache: cache, trigger: trigger, context: context)
        reports.append(report)
        stepsSinceCompression[sequence] = 0
        return report
    }

    /// Totals over every compression so far.
    public var statistics: CompressionStatistics {
        CompressionStatistics(reports: reports, metricCollection: collector.timing)
    }

    /// The latest report of each sequence, by sequence id.
    public var latestReports: [CompressionReport] {
        var latest: [Int: CompressionReport] = [:]
        for r in reports { latest[r.sequence] = r }
        return latest.keys.sorted().map { latest[$0]! }
    }
}

/// Totals of a run's compressions, for `--stats-json`.
public struct CompressionStatistics: Sendable, Hashable, Codable {
    public var compressions = 0
    public var memoryPressureCompressions = 0
    /// Blocks in use in the pool before the first compression and after the last.
    public var residentBlocksBefore = 0
    public var residentBlocksAfter = 0
    public var residentBytesBefore = 0
    public var residentBytesAfter = 0
    public var blocksFreed = 0
    public var kvsEvicted = 0
    public var kvsMoved = 0
    /// Seconds in metric collection (summed over worker threads), scheduling (gathering scores and the
    /// policy) and cache moves (including freeing blocks).
    public var metricSeconds = 0.0
    public var metricObservations = 0
    public var schedulingSeconds = 0.0
    public var moveSeconds = 0.0
    /// Seconds scorers took and tokens they prefilled only to score (KVzip's reconstruction).
    public var scoringSeconds = 0.0
    public var scoringExtraTokens = 0

    public init(reports: [CompressionReport], metricCollection: (seconds: Double, observations: Int)) {
        compressions = reports.count
        memoryPressureCompressions = reports.filter { $0.trigger == .memoryPressure }.count
        if let first = reports.first, let last = reports.last {
            residentBlocksBefore = first.poolBlocksUsedBefore
            residentBlocksAfter = last.poolBlocksUsedAfter
            residentBytesBefore = first.poolBlocksUsedBefore * first.bytesPerBlock
            residentBytesAfter = last.poolBlocksUsedAfter * last.bytesPerBlock
        }
        for r in reports {
            blocksFreed += r.blocksFreed
            kvsEvicted += r.kvsEvicted
            kvsMoved += r.kvsMoved
            schedulingSeconds += r.schedulingSeconds
            scoringSeconds += r.scoringSeconds
            scoringExtraTokens += r.scoringExtraTokens
            moveSeconds += r.moveSeconds
        }
        metricSeconds = metricCollection.seconds
        metricObservations = metricCollection.observations
    }
}
