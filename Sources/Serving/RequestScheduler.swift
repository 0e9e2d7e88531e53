import Dispatch
import KVCompress
import LlamaInference
import PagedKVCache

/// Knobs of the ``RequestScheduler`` (defaults follow vLLM v0.6, `vllm/config.py` `SchedulerConfig`
/// with chunked prefill, and `vllm/core/block_manager_v1.py`).
public struct SchedulerOptions: Sendable, Hashable {
    /// Tokens one step may process: one per decoding sequence, the rest for prefill chunks (vLLM's
    /// chunked-prefill `max_num_batched_tokens`, 512).
    public var tokenBudget: Int
    /// Most sequences holding cache blocks at once (vLLM `max_num_seqs`, 256).
    public var maxRunning: Int
    /// Share of the pool a new admission must leave free (vLLM `watermark`, 0.01), so that the
    /// running sequences' next decode steps are not starved at once.
    public var watermark: Double

    public init(tokenBudget: Int = 512, maxRunning: Int = 256, watermark: Double = 0.01) {
        self.tokenBudget = tokenBudget
        self.maxRunning = maxRunning
        self.watermark = watermark
    }
}

/// Serves a stream of requests from one fixed paged KV pool by continuous batching (vLLM v0.6
/// `vllm/core/scheduler.py`, `_schedule_chunked_prefill`), with KV-Compress (arXiv 2410.00161 §4 and
/// its reference scheduler, IsaacRe/vllm-kvcompress `vllm/kvcompress/scheduler.py`).
///
/// Every step:
/// 1. **Room for decode.** The decoding sequences need their next token's blocks. While the pool
///    cannot give them: a compressed request over its budget is compressed again, the one that frees
///    most first, each once per step (KV-Compress
///    compresses "whenever free blocks cannot fit the next step"); after that the newest
///    running sequence is preempted: its blocks are freed and it goes back to the front of the
///    waiting queue, to be recomputed later (vLLM's RECOMPUTE preemption of the running tail).
/// 2. **Admission.** Unless this step preempted or a memory-pressure compression holds admissions
///    until a sequence ends (as the KV-Compress reference does), waiting requests are admitted in
///    order while the token budget lasts and the pool has the blocks their whole prompt needs, leaving
///    the watermark (vLLM `can_allocate`) and this step's decode blocks free. Those blocks are
///    reserved at admission.
/// 3. **Work.** Prefill chunks (at most the token budget left after one token per decoding sequence)
///    and one decode step of every decoding sequence. A sequence whose prefill completes samples its
///    first token and is compressed at its own rate and protected window (`afterPrefill`).
///
/// A recomputed request prefills its prompt followed by every token it had generated, so greedy
/// decoding continues exactly where it stopped. Requests that could never fit the pool alone are
/// rejected before any work (``ServedRequest/rejection``); the others are all served. The pool is the
/// cache's fixed block pool, which no allocation can exceed.
public final class RequestScheduler {
    public let model: LlamaModel
    public let cache: PagedKVCache
    public let registry: PluginRegistry
    public let options: SchedulerOptions
    /// Figures of the latest ``serve(_:onToken:)``.
    public private(set) var statistics = ServingStatistics()
    /// Every compression of the latest ``serve(_:onToken:)``, in order.
    public private(set) var reports: [CompressionReport] = []
    /// Attention-metric collection of the latest ``serve(_:onToken:)``: seconds summed over worker
    /// threads, and observations.
    public private(set) var metricCollection: (seconds: Double, observations: Int) = (0, 0)

    /// - Throws: ``ServingError/poolTooSmall`` when the pool cannot give every KV head one block.
    public init(model: LlamaModel, cache: PagedKVCache, registry: PluginRegistry, options: SchedulerOptions = SchedulerOptions()) throws {
        let layout = cache.layout
        guard cache.capacityBlocks >= layout.headCount else {
            throw ServingError.poolTooSmall(
                capacityBlocks: cache.capacityBlocks, capacityBytes: cache.capacityBlocks * layout.bytesPerBlock,
                headsNeeded: layout.headCount, bytesPerBlock: layout.bytesPerBlock)
        }
        guard options.tokenBudget >= 1, options.maxRunning >= 1, options.watermark >= 0, options.watermark < 1 else {
            throw LlamaError.invalidParameter(
                "scheduler needs tokenBudget ≥ 1, maxRunning ≥ 1 and 0 ≤ watermark < 1 (got \(options.tokenBudget), \(options.maxRunning), \(options.watermark))")
        }
        self.model = model
        self.cache = cache
        self.registry = registry
        self.options = options
    }

    /// Blocks an admission must leave free.
    public var watermarkBlocks: Int { Int(Double(cache.capacityBlocks) * options.watermark) }

    /// Why `request` can never be served from this pool, or nil. A request must fit the pool alone,
    /// uncompressed, prompt and output together (plus the watermark): then a preempted request can
    /// always be recomputed, and the oldest running request always completes.
    public func rejection(of request: ServingRequest, index: Int) -> String? {
        let layout = cache.layout, context = model.configuration.contextLength
        if request.prompt.isEmpty { return "request \(index) has an empty prompt" }
        if request.maxTokens < 0 { return "request \(index) asks for \(request.maxTokens) tokens; give 0 or more" }
        if request.prompt.count > context {
            return "request \(index) has \(request.prompt.count) prompt tokens, more than the model's context of \(context)"
        }
        let tokens = min(context, request.prompt.count + request.maxTokens)
        let needed = layout.headCount * layout.blocks(forTokens: tokens)
        guard needed + watermarkBlocks <= cache.capacityBlocks else {
            return "request \(index) needs \(needed) blocks (\(request.prompt.count) prompt + \(tokens - request.prompt.count) output tokens "
                + "on \(layout.headCount) KV heads at \(layout.blockSize) KVs per block: \(needed * layout.bytesPerBlock) bytes) "
                + "and admission keeps \(watermarkBlocks) block(s) free, but the pool holds \(cache.capacityBlocks) blocks "
                + "(\(cache.capacityBlocks * layout.bytesPerBlock) bytes)"
        }
        return nil
    }

    /// Serves every request and returns what became of each, in request order.
    /// - Parameter onToken: called with (request index, token) as each token is chosen.
    /// - Throws: ``ServingError`` for a run that cannot start (before any work); model errors.
    public func serve(_ requests: [ServingRequest], onToken: (_ request: Int, _ token: Int32) -> Void = { _, _ in }) throws -> [ServedRequest] {
        guard !requests.isEmpty else { throw ServingError.noRequests }
        var run = try ServingRun(scheduler: self, requests: requests)
        let clock = ContinuousClock(), started = clock.now
        defer {
            run.statistics.totalSeconds = (clock.now - started).seconds
            if let collector = run.collector {
                metricCollection = collector.timing
                run.statistics.metricSeconds = collector.timing.seconds / Double(WorkerThreads.count)
            } else {
                metricCollection = (0, 0)
            }
            run.statistics.scheduleSeconds = max(
                0,
                run.statistics.totalSeconds - run.statistics.modelSeconds - run.statistics.samplingSeconds
                    - run.statistics.moveSeconds - run.statistics.allocationSeconds - run.compressionScheduleSeconds)
                + run.compressionScheduleSeconds
            statistics = run.statistics
            reports = run.reports
        }
        do {
            try run.serve(onToken: onToken)
        } catch {
            run.releaseAll()
            throw error
        }
        return run.served
    }
}

/// One sequence holding blocks: a request being prefilled or decoded.
private final class ActiveSequence {
    let request: Int
    let sequence: SequenceID
    /// Tokens to prefill: the prompt, and on a recompute every token generated before the preemption.
    let input: [Int32]
    var prefilled = 0
    /// Token the next decode step feeds (the latest sampled).
    var pending: Int32 = 0
    var stepsSinceCompression = 0
    var isDecoding: Bool { prefilled == input.count }

    init(request: Int, sequence: SequenceID, input: [Int32]) {
        self.request = request
        self.sequence = sequence
        self.input = input
    }
}

/// The state of one ``RequestScheduler/serve(_:onToken:)`` call.
private struct ServingRun {
    let scheduler: RequestScheduler
    let requests: [ServingRequest]
    var cache: PagedKVCache { scheduler.cache }
    var model: LlamaModel { scheduler.model }
    /// One compressor per distinct configuration.
    let compressors: [Int: Compressor]
    /// The attention observer that feeds every compressed request's metric.
    let collector: MetricCollector?

    var served: [ServedRequest]
    var samplers: [Sampler]
    /// Request indices, oldest first; recomputed ones go back to the front.
    var waiting: [Int]
    /// Admission order: the newest last (the preemption victim).
    var running: [ActiveSequence] = []
    /// Set by a memory-pressure compression, cleared when a sequence ends (KV-Compress reference:
    /// prefills wait until a sequence leaves).
    var admissionsHeld = false
    var statistics = ServingStatistics()
    var reports: [CompressionReport] = []
    var compressionScheduleSeconds = 0.0
    let clock = ContinuousClock()

    init(scheduler: RequestScheduler, requests: [ServingRequest]) throws {
        self.scheduler = scheduler
        self.requests = requests
        var served = requests.indices.map { ServedRequest(index: $0) }
        samplers = requests.map(\.sampler)
        var compressors: [Int: Compressor] = [:]
        var byConfiguration: [CompressionConfiguration: Compressor] = [:]
        var first: CompressionConfiguration?
        for (i, request) in requests.enumerated() {
            if let reason = scheduler.rejection(of: request, index: i) {
                served[i].rejection = reason
                continue
            }
            guard let configuration = request.compression else { continue }
            if let first, first.metric != configuration.metric || first.window != configuration.window {
                throw ServingError.inconsistentCompression(
                    "request \(i) has metric \(configuration.metric.name) / window \(configuration.window.name), an earlier one \(first.metric.name) / \(first.window.name)")
            }
            first = first ?? configuration
            if byConfiguration[configuration] == nil {
                let compressor = try Compressor(configuration: configuration, registry: scheduler.registry)
                _ = try compressor.blockSizes(for: scheduler.cache.layout)
                if let reason = compressor.contextRequirement {
                    throw ServingError.unsupportedCompression(
                        request: i, method: configuration.scorer?.name ?? configuration.policy.name, reason: reason)
                }
                byConfiguration[configuration] = compressor
            }
            compressors[i] = byConfiguration[configuration]
        }
        self.compressors = compressors
        collector = first.flatMap { byConfiguration[$0] }.map { MetricCollector(metric: $0.plugins.metric, window: $0.plugins.window) }
        waiting = requests.indices.filter { served[$0].rejection == nil }
        self.served = served
        statistics.submitted = requests.count
        statistics.rejected = requests.count - waiting.count
        statistics.capacityBlocks = scheduler.cache.capacityBlocks
    }

    // MARK: - The loop

    mutating func serve(onToken: (Int, Int32) -> Void) throws {
        while !waiting.isEmpty || !running.isEmpty {
            try step(onToken: onToken)
        }
    }

    mutating func step(onToken: (Int, Int32) -> Void) throws {
        statistics.steps += 1
        try compressOnInterval()
        let preempted = try makeRoomForDecode()
        let decoding = running.filter(\.isDecoding)

        // Prefill chunks within the token budget: running prefills first, then new admissions.
        var budget = scheduler.options.tokenBudget - decoding.count
        var chunks: [(ActiveSequence, Int)] = []
        for sequence in running where !sequence.isDecoding && budget > 0 {
            let take = min(budget, sequence.input.count - sequence.prefilled)
            chunks.append((sequence, take))
            budget -= take
        }
        if running.isEmpty { admissionsHeld = false }
        if !preempted && !admissionsHeld {
            // This step's decode blocks were found above; admissions must not take them.
            let decodeBlocks = decoding.reduce(0) { $0 + cache.blocksNeeded($1.sequence, appending: 1) }
            while budget > 0, let admitted = try admitNext(keepingFree: decodeBlocks) {
                let take = min(budget, admitted.input.count)
                chunks.append((admitted, take))
                budget -= take
            }
        }
        statistics.runningSum += running.count

        var finished: [ActiveSequence] = []
        for (sequence, count) in chunks {
            if try prefill(sequence, count: count, onToken: onToken) { finished.append(sequence) }
        }
        if !decoding.isEmpty {
            finished += try decode(decoding, onToken: onToken)
        }
        for sequence in finished { release(sequence) }
    }

    // MARK: - Admission, preemption, release

    /// Admits the first waiting request when the pool has its prompt's blocks beyond the watermark and
    /// the `reserved` blocks this step's decode needs.
    mutating func admitNext(keepingFree reserved: Int) throws -> ActiveSequence? {
        guard let index = waiting.first, running.count < scheduler.options.maxRunning else { return nil }
        let input = requests[index].prompt + served[index].tokens
        let needed = cache.layout.headCount * cache.layout.blocks(forTokens: input.count)
        guard cache.freeBlockCount - reserved - needed >= scheduler.watermarkBlocks else { return nil }
        waiting.removeFirst()
        let started = clock.now
        let id = cache.addSequence()
        try cache.reserve(id, tokens: input.count)
        statistics.allocationSeconds += (clock.now - started).seconds
        notePeak()
        let sequence = ActiveSequence(request: index, sequence: id, input: input)
        running.append(sequence)
        return sequence
    }

    /// Compresses decoding sequences under memory pressure, then preempts the newest, until every
    /// decoding sequence has room for its next token. Returns whether it preempted.
    ///
    /// Which sequences, and how many: the one that frees the most blocks first
    /// (``Compressor/reclaimableBlocks(_:cache:)``), never one already within its budget (its
    /// compression would score and sort every KV it holds to free nothing), each at most once a step.
    /// The KV-Compress reference likewise compresses only sequences with a whole block to evict
    /// (IsaacRe/vllm-kvcompress `vllm/kvcompress/scheduler.py`). The budget each compression meets is
    /// the sequence's own rate: only the moment changes. (Compressing on past the shortage, to leave
    /// a few steps' blocks free, was measured and dropped: 139 vs 141 pressure compressions at rate 2
    /// in `kvc-bench throughput`, no change in tokens/s beyond the machine's noise.)
    mutating func makeRoomForDecode() throws -> Bool {
        var compressedNow: Set<SequenceID> = []
        var preempted = false
        while true {
            let decoding = running.filter(\.isDecoding)
            let needed = decoding.reduce(0) { $0 + cache.blocksNeeded($1.sequence, appending: 1) }
            if needed <= cache.freeBlockCount { return preempted }
            var best: (sequence: ActiveSequence, blocks: Int)?
            for sequence in decoding where !compressedNow.contains(sequence.sequence) {
                guard let compressor = compressors[sequence.request], compressor.configuration.schedule.underMemoryPressure else { continue }
                let blocks = compressor.reclaimableBlocks(sequence.sequence, cache: cache)
                if blocks > (best?.blocks ?? 0) { best = (sequence, blocks) }
            }
            if let best {
                compressedNow.insert(best.sequence.sequence)
                try compress(best.sequence, trigger: .memoryPressure)
                admissionsHeld = true
                continue
            }
            preempt(running.removeLast())
            preempted = true
        }
    }

    /// vLLM RECOMPUTE preemption: the sequence's blocks go back to the pool and its request to the
    /// front of the waiting queue, with the tokens it generated so far.
    mutating func preempt(_ sequence: ActiveSequence) {
        let started = clock.now
        cache.removeSequence(sequence.sequence)
        statistics.allocationSeconds += (clock.now - started).seconds
        served[sequence.request].preemptions += 1
        statistics.preemptions += 1
        waiting.insert(sequence.request, at: 0)
    }

    /// A finished sequence leaves: its blocks go back to the pool, and held admissions resume.
    mutating func release(_ sequence: ActiveSequence) {
        let started = clock.now
        cache.removeSequence(sequence.sequence)
        statistics.allocationSeconds += (clock.now - started).seconds
        running.removeAll { $0 === sequence }
        admissionsHeld = false
    }

    /// Frees every block this run holds (after a failure).
    mutating func releaseAll() {
        for sequence in running where cache.contains(sequence.sequence) { cache.removeSequence(sequence.sequence) }
        running.removeAll()
    }

    // MARK: - Work

    /// Prefills the next `count` input tokens of `sequence`; on its last chunk samples the first new
    /// token and compresses after prefill. Returns whether the request finished.
    mutating func prefill(_ sequence: ActiveSequence, count: Int, onToken: (Int, Int32) -> Void) throws -> Bool {
        let chunk = Array(sequence.input[sequence.prefilled..<sequence.prefilled + count])
        let last = sequence.prefilled + count == sequence.input.count
        let compressor = compressors[sequence.request]
        // The metric window is the prompt's last queries: observed on the final chunk only.
        let observer: (any AttentionObserver)? = last && compressor != nil ? collector : nil
        let started = clock.now
        let logits = try model.prefill(chunk, sequence: sequence.sequence, cache: cache, observer: observer)
        statistics.prefillSeconds += (clock.now - started).seconds
        sequence.prefilled += count
        statistics.prefilledTokens += count
        if served[sequence.request].preemptions > 0 { statistics.recomputedTokens += count }
        guard last else { return false }
        if requests[sequence.request].maxTokens == 0 { return finish(sequence, .maxTokens) }
        if accept(sampleNext(sequence.request, logits), for: sequence, onToken: onToken) { return true }
        if let compressor, compressor.configuration.schedule.afterPrefill {
            try compress(sequence, trigger: .afterPrefill)
        }
        return false
    }

    /// One decode step of every decoding sequence together. Returns the sequences that finished.
    mutating func decode(_ batch: [ActiveSequence], onToken: (Int, Int32) -> Void) throws -> [ActiveSequence] {
        let observed = collector != nil && batch.contains { compressors[$0.request] != nil }
        let started = clock.now
        let logits = try model.decode(batch.map { ($0.sequence, $0.pending) }, cache: cache, observer: observed ? collector : nil)
        statistics.decodeSeconds += (clock.now - started).seconds
        statistics.decodedTokens += batch.count
        notePeak()
        var finished: [ActiveSequence] = []
        for (row, sequence) in batch.enumerated() {
            sequence.stepsSinceCompression += 1
            if accept(sampleNext(sequence.request, logits[row]), for: sequence, onToken: onToken) { finished.append(sequence) }
        }
        return finished
    }

    mutating func sampleNext(_ request: Int, _ logits: [Float]) -> Int32 {
        let started = clock.now
        defer { statistics.samplingSeconds += (clock.now - started).seconds }
        return samplers[request].sample(logits)
    }

    /// Records a sampled token; returns whether the request finished (stop token, token limit, full context).
    mutating func accept(_ token: Int32, for sequence: ActiveSequence, onToken: (Int, Int32) -> Void) -> Bool {
        let i = sequence.request
        if requests[i].stopTokens.contains(token) { return finish(sequence, .stopToken) }
        served[i].tokens.append(token)
        statistics.outputTokens += 1
        onToken(i, token)
        if served[i].tokens.count >= requests[i].maxTokens { return finish(sequence, .maxTokens) }
        if cache.nextPosition(sequence.sequence) >= model.configuration.contextLength { return finish(sequence, .contextFull) }
        sequence.pending = token
        return false
    }

    mutating func finish(_ sequence: ActiveSequence, _ reason: StopReason) -> Bool {
        served[sequence.request].stopReason = reason
        statistics.completed += 1
        return true
    }

    // MARK: - Compression

    /// Every `interval` decode steps, when a request's schedule asks for it (KV-Compress §4).
    mutating func compressOnInterval() throws {
        for sequence in running where sequence.isDecoding {
            guard let interval = compressors[sequence.request]?.configuration.schedule.interval, interval > 0,
                sequence.stepsSinceCompression >= interval
            else { continue }
            try compress(sequence, trigger: .interval)
        }
    }

    mutating func compress(_ sequence: ActiveSequence, trigger: CompressionTrigger) throws {
        guard let compressor = compressors[sequence.request] else { return }
        let report = try compressor.compress(sequence.sequence, cache: cache, trigger: trigger)
        reports.append(report)
        sequence.stepsSinceCompression = 0
        served[sequence.request].compressions += 1
        statistics.compressions += 1
        if trigger == .memoryPressure { statistics.memoryPressureCompressions += 1 }
        compressionScheduleSeconds += report.schedulingSeconds
        statistics.moveSeconds += report.moveSeconds
    }

    mutating func notePeak() {
        statistics.peakUsedBlocks = max(statistics.peakUsedBlocks, cache.usedBlockCount)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
