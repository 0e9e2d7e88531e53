import Foundation
import LlamaInference
import PagedKVCache

/// Compresses one sequence once: reads every head's metrics and positions, turns them into scheduling
/// scores (protected KVs +inf), asks the eviction policy for a plan, and has the executor apply it.
public struct Compressor: Sendable {
    public let configuration: CompressionConfiguration
    public let plugins: CompressionPlugins
    /// Layers compression leaves alone, e.g. the sliding-window layers of Gemma 3
    /// (`LlamaConfiguration.localLayers`), whose cache the window already bounds: every KV of theirs
    /// is protected, and the budget is resolved for the other layers, with these layers' current KVs
    /// (or blocks) counted as kept on top.
    public var uncompressedLayers: Set<Int> = []

    /// Validates `configuration` against `registry` and builds its plug-ins.
    public init(configuration: CompressionConfiguration, registry: PluginRegistry) throws {
        self.configuration = configuration
        plugins = try configuration.validate(registry: registry)
    }

    /// What a compression reads beyond the cache, when it needs a ``ScoringContext``: the scorer's
    /// model inputs (the document again, the window's queries, W_O) or the policy's window attention
    /// (CAKE); nil when the cache alone suffices. Callers that cannot supply a context (the request
    /// scheduler) refuse such a method before any work, naming this.
    public var contextRequirement: String? {
        var needs: [String] = []
        if let scorer = plugins.scorer {
            if scorer.inputs.contains(.reconstructionAttention) { needs.append("scorer \(configuration.scorer?.name ?? "?") reads the document again (reconstruction)") }
            if scorer.inputs.contains(.windowQueries) { needs.append("scorer \(configuration.scorer?.name ?? "?") reads the observation window's queries") }
            if scorer.inputs.contains(.outputProjection) { needs.append("scorer \(configuration.scorer?.name ?? "?") reads the output projection W_O") }
        }
        if plugins.policy.needsWindowAttention { needs.append("policy \(configuration.policy.name) reads the observation window's attention") }
        return needs.isEmpty ? nil : needs.joined(separator: "; ")
    }

    /// The RoPE that `layer` applied to the keys and queries the scorer reads: its base (per layer in
    /// Gemma 3) and its pairing (NEOX halves in Gemma 3, adjacent pairs in Llama).
    static func rotary(of configuration: LlamaConfiguration, layer: Int) -> RotaryParameters {
        RotaryParameters(
            dimensions: configuration.ropeDimensions, base: configuration.ropeFrequencyBase(layer: layer),
            pairing: configuration.traits.ropeMode == .neox ? .halves : .adjacent)
    }

    /// The per-layer eviction units for `layout`, checked against the cache's physical block size.
    public func blockSizes(for layout: CacheLayout) throws(CompressionError) -> [Int] {
        let sizes = plugins.blockSize.blockSizes(layers: layout.layers, kvHeads: layout.kvHeads, headDim: layout.headDim)
        try CompressionConfiguration.validateBlockSizes(sizes, layers: layout.layers)
        for (layer, size) in sizes.enumerated() where size % layout.blockSize != 0 {
            throw .invalidConfiguration(
                "block size \(size) of layer \(layer) is not a multiple of the cache's block size \(layout.blockSize); build the cache with the policy's smallest size")
        }
        return sizes
    }

    /// The policy's view of `sequence`: scheduling scores (protected +inf), positions, budget.
    public func evictionInput(_ sequence: SequenceID, cache: PagedKVCache) throws -> EvictionInput {
        let layout = cache.layout
        let length = cache.nextPosition(sequence)
        let protectedWindow = configuration.protectedWindow, sinks = configuration.sinks
        let metric = plugins.metric
        var heads: [HeadScores] = []
        heads.reserveCapacity(layout.headCount)
        var keptKVs = 0, keptBlocks = 0
        for layer in 0..<layout.layers {
            let uncompressed = uncompressedLayers.contains(layer)
            for head in 0..<layout.kvHeads {
                let view = cache.view(sequence, layer: layer, head: head)
                if uncompressed {
                    keptKVs += view.length
                    keptBlocks += view.blockCount
                }
                var scores = [Float](repeating: 0, count: view.length)
                var positions = [Int32](repeating: 0, count: view.length)
                for i in 0..<view.length {
                    let p = Int(view.position(i))
                    positions[i] = Int32(p)
                    scores[i] =
                        uncompressed || p >= length - protectedWindow || p < sinks
                        ? .infinity
                        : metric.schedulingScore(stored: view.metric(i).pointee, tokenPosition: p, sequenceLength: length)
                }
                heads.append(HeadScores(layer: layer, head: head, scores: scores, positions: positions, cache: view))
            }
        }
        let compressedLayers = layout.layers - uncompressedLayers.filter { (0..<layout.layers).contains($0) }.count
        var limit = configuration.budget.limit(
            sequenceLength: length, layers: compressedLayers, kvHeads: layout.kvHeads, blockSize: layout.blockSize,
            protectedWindow: protectedWindow)
        switch limit {
        case .kvs(let n): limit = .kvs(n + keptKVs)
        case .blocks(let n): limit = .blocks(n + keptBlocks)
        }
        return EvictionInput(
            sequence: sequence, layers: layout.layers, kvHeads: layout.kvHeads, headDim: layout.headDim,
            blockSizes: try blockSizes(for: layout), physicalBlockSize: layout.blockSize, sequenceLength: length,
            budget: configuration.budget,
            limit: limit,
            protectedWindow: protectedWindow, sinks: sinks, heads: heads)
    }

    /// About how many blocks compressing `sequence` now would free: the KVs it holds beyond its budget
    /// at its current length, in whole blocks (the KV-Compress reference scheduler's
    /// `_schedule_seq_evictions`: evicted KVs over the block size, rounded down; IsaacRe/vllm-kvcompress
    /// `vllm/kvcompress/scheduler.py`). 0 when the sequence is within its budget, so a scheduler under
    /// memory pressure can skip a compression that would sort every KV of the sequence to free nothing.
    /// An estimate: the policy's per-head split decides the partial blocks, so it may free a little less.
    public func reclaimableBlocks(_ sequence: SequenceID, cache: PagedKVCache) -> Int {
        let layout = cache.layout
        let lengths = cache.contextLengths(sequence)
        let resident = lengths.reduce(0, +)
        var keptKVs = 0, keptBlocks = 0
        for layer in uncompressedLayers where (0..<layout.layers).contains(layer) {
            for head in 0..<layout.kvHeads {
                let n = lengths[layer * layout.kvHeads + head]
                keptKVs += n
                keptBlocks += layout.blocks(forTokens: n)
            }
        }
        let limit = configuration.budget.limit(
            sequenceLength: cache.nextPosition(sequence), layers: layout.layers - uncompressedLayers.filter { (0..<layout.layers).contains($0) }.count,
            kvHeads: layout.kvHeads, blockSize: layout.blockSize, protectedWindow: configuration.protectedWindow)
        switch limit {
        case .kvs(let n): return max(0, resident - n - keptKVs) / layout.blockSize
        case .blocks(let n): return max(0, cache.residentBlocks(sequence) - n - keptBlocks)
        }
    }

    /// Compresses `sequence` once and reports what happened.
    /// - Parameter context: the model and the sequence's token ids, for a scorer that runs the model
    ///   (KVzip); nil otherwise.
    public func compress(
        _ sequence: SequenceID, cache: PagedKVCache, trigger: CompressionTrigger, context: ScoringContext? = nil
    ) throws -> CompressionReport {
        try run(sequence, cache: cache, trigger: trigger, context: context, snapshot: false).report
    }

    /// Compresses `sequence` once; also returns, by token position, what the schedule sorted and evicted.
    public func compressWithSnapshot(
        _ sequence: SequenceID, cache: PagedKVCache, trigger: CompressionTrigger, context: ScoringContext? = nil
    ) throws -> (report: CompressionReport, snapshot: CompressionSnapshot) {
        let (report, snapshot) = try run(sequence, cache: cache, trigger: trigger, context: context, snapshot: true)
        return (report, snapshot!)
    }

    /// The eviction input with the scorer's scores in place of the metric's (protected KVs stay +inf),
    /// and the scoring's cost. Gathers exactly the inputs the scorer asked for; with a
    /// `context.scoreMemo` that holds this scorer's scores of an identical fork, reuses them and
    /// reports their seconds as reused.
    public func scoredInput(
        _ input: EvictionInput, scorer: any KVScorer, sequence: SequenceID, cache: PagedKVCache, context: ScoringContext?
    ) throws -> (input: EvictionInput, extraTokens: Int, reusedSeconds: Double) {
        guard let memo = context?.scoreMemo else {
            let (scores, extraTokens, reusedSeconds) = try scores(input, scorer: scorer, sequence: sequence, cache: cache, context: context)
            return (input.withScores(scores), extraTokens, reusedSeconds)
        }
        let memoKey = ScoreMemo.Key(
            scorer: "\(configuration.scorer?.description ?? "?") \(scorer.settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })",
            observation: "\(configuration.metric) \(configuration.window)", sequenceLength: input.sequenceLength,
            contextLengths: input.heads.map(\.contextLength))
        if let entry = memo.entry(memoKey) {
            return (input.withScores(entry.scores), entry.extraTokens, entry.seconds)
        }
        let started = ContinuousClock.now
        let (scores, extraTokens, reusedSeconds) = try scores(input, scorer: scorer, sequence: sequence, cache: cache, context: context)
        // A reconstruction reused from its own memo counts in the seconds a later reuse reports.
        memo.store(.init(scores: scores, extraTokens: extraTokens, seconds: (ContinuousClock.now - started).seconds + reusedSeconds), for: memoKey)
        return (input.withScores(scores), extraTokens, reusedSeconds)
    }

    /// The scorer's scores of every (layer, KV head), `[layers * kvHeads][contextLength]`, the tokens a
    /// reconstruction prefilled and the seconds of a reconstruction reused from its memo.
    private func scores(
        _ input: EvictionInput, scorer: any KVScorer, sequence: SequenceID, cache: PagedKVCache, context: ScoringContext?
    ) throws -> (scores: [[Float]], extraTokens: Int, reusedSeconds: Double) {
        let layout = cache.layout
        var reconstruction: [[Float]]?
        var extraTokens = 0, reusedSeconds = 0.0
        if scorer.inputs.contains(.reconstructionAttention) {
            guard let context else {
                throw CompressionError.invalidConfiguration(
                    "scorer \(configuration.scorer?.name ?? "?") reads the document again (KVzip) and needs the model and the sequence's token ids; this caller gave none")
            }
            let pass = try scorer.reconstruction.scores(sequence, cache: cache, context: context)
            (reconstruction, extraTokens, reusedSeconds) = (pass.scores, pass.extraTokens, pass.reusedSeconds)
        }
        var scores: [[Float]] = []
        scores.reserveCapacity(layout.headCount)
        for layer in 0..<layout.layers {
            let heads = (0..<layout.kvHeads).map { input.head(layer: layer, head: $0) }
            let window: [[Float]]? =
                scorer.inputs.contains(.windowAttention)
                ? heads.map { head in
                    (0..<head.contextLength).map {
                        plugins.metric.schedulingScore(
                            stored: head.cache.metric($0).pointee, tokenPosition: Int(head.positions[$0]), sequenceLength: input.sequenceLength)
                    }
                } : nil
            var queries: [ObservedQueries]?
            if scorer.inputs.contains(.windowQueries) {
                queries = try (0..<layout.kvHeads).map { head in
                    guard let recorded = context?.windowQueries[HeadIndex(layer: layer, head: head)] else {
                        throw CompressionError.invalidConfiguration(
                            "scorer \(configuration.scorer?.name ?? "?") needs the observation window's queries of layer \(layer), head \(head): observe the prefill with a MetricCollector(recordsWindowQueries: true) and pass its windowQueries in the ScoringContext")
                    }
                    return recorded
                }
            }
            let layerInput = LayerScoringInput(
                layer: layer, kvHeads: layout.kvHeads, headDim: layout.headDim, sequenceLength: input.sequenceLength,
                heads: heads.map(\.cache), windowAttention: window,
                reconstructionAttention: reconstruction.map { Array($0[(layer * layout.kvHeads)..<((layer + 1) * layout.kvHeads)]) },
                windowQueries: queries,
                rotary: context.map { Self.rotary(of: $0.model.configuration, layer: layer) },
                outputProjection: try outputProjection(layer: layer, scorer: scorer, context: context),
                groupSize: context?.model.configuration.groupSize)
            let layerScores = try scorer.score(layerInput)
            guard layerScores.count == layout.kvHeads, zip(layerScores, heads).allSatisfy({ $0.count == $1.contextLength }) else {
                throw CompressionError.invalidConfiguration(
                    "scorer \(configuration.scorer?.name ?? "?") returned \(layerScores.map(\.count)) scores for layer \(layer), whose heads hold \(heads.map(\.contextLength)) KVs")
            }
            scores += layerScores
        }
        return (scores, extraTokens, reusedSeconds)
    }

    /// W_O of `layer` when the scorer asks for it.
    private func outputProjection(layer: Int, scorer: any KVScorer, context: ScoringContext?) throws -> [Float]? {
        guard scorer.inputs.contains(.outputProjection) else { return nil }
        guard let context else {
            throw CompressionError.invalidConfiguration(
                "scorer \(configuration.scorer?.name ?? "?") weighs values by the output projection and needs the model (a ScoringContext); this caller gave none")
        }
        return context.model.attentionOutputMatrix(layer: layer)
    }

    private func run(
        _ sequence: SequenceID, cache: PagedKVCache, trigger: CompressionTrigger, context: ScoringContext?, snapshot: Bool
    ) throws -> (report: CompressionReport, snapshot: CompressionSnapshot?) {
        let clock = ContinuousClock()
        let started = clock.now
        let usedBefore = cache.usedBlockCount
        var input = try evictionInput(sequence, cache: cache)
        if plugins.policy.needsWindowAttention {
            guard let recorded = context?.windowAttention, !recorded.isEmpty else {
                throw CompressionError.invalidConfiguration(
                    "policy \(configuration.policy.name) reads the observation window's attention: observe the prefill with a MetricCollector(recordsWindowAttention: true) and pass its windowAttention in the ScoringContext")
            }
            input.windowAttention = recorded
        }
        var extraTokens = 0, reusedSeconds = 0.0
        let scoringStarted = clock.now
        if let scorer = plugins.scorer {
            (input, extraTokens, reusedSeconds) = try scoredInput(input, scorer: scorer, sequence: sequence, cache: cache, context: context)
        }
        let scored = clock.now
        let plan = try plugins.policy.plan(input)
        let scheduled = clock.now
        let result = try EvictionExecutor.apply(plan, for: input, policy: configuration.policy.name, to: cache)
        let moved = clock.now
        let lengthsAfter = cache.contextLengths(sequence)
        let bs = cache.layout.blockSize
        let blocksAfter = lengthsAfter.reduce(0) { $0 + ($1 + bs - 1) / bs }
        var report = CompressionReport(
            sequence: sequence.rawValue, trigger: trigger, sequenceLength: input.sequenceLength, layers: input.layers,
            kvHeads: input.kvHeads, blockSize: bs, budget: configuration.budget.description,
            limit: input.limit.description,
            budgetHeld: input.limit.holds(blocks: blocksAfter, kvs: lengthsAfter.reduce(0, +)),
            lengthsBefore: input.heads.map(\.contextLength), lengthsAfter: lengthsAfter,
            blocksBefore: input.residentBlocks, blocksAfter: blocksAfter, blocksFreed: result.blocksFreed,
            poolBlocksUsedBefore: usedBefore, poolBlocksUsedAfter: cache.usedBlockCount, bytesPerBlock: cache.layout.bytesPerBlock,
            kvsEvicted: result.kvsEvicted, kvsMoved: result.kvsMoved,
            schedulingSeconds: (scheduled - started).seconds - (scored - scoringStarted).seconds, moveSeconds: (moved - scheduled).seconds)
        report.scoringSeconds = (scored - scoringStarted).seconds
        report.scoringExtraTokens = extraTokens
        report.reusedScoringSeconds = reusedSeconds
        return (report, snapshot ? CompressionSnapshot(input: input, plan: plan, cache: cache) : nil)
    }
}

/// Why a compression ran.
public enum CompressionTrigger: String, Sendable, Hashable, Codable {
    case afterPrefill = "after_prefill"
    case interval
    case memoryPressure = "memory_pressure"
    case manual
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
