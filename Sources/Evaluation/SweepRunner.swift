import BPETokenizer
import EvaluationTasks
import Foundation
import KVCompress
import LlamaInference
import PagedKVCache

/// Runs a sweep's trials, document by document.
///
/// Sharing, so N configurations of a document cost about one prefill plus N × (compress + decode)
/// (issue 9 item 8): cells whose prefill is the same — same physical block size, metric, window and
/// question placement — share one prefill with the metric observing; each cell then works on its own
/// fork of that cache (`PagedKVCache.fork`). A KVzip reconstruction of a document is run once per
/// pass setting and KV layout and shared by every cell that compresses it (`ReconstructionMemo`): its
/// scores do not depend on the rate or the allocation. Each trial is still charged the pass's seconds.
///
/// - `aware` (KV-Compress §4, and every result before issue 10): document + question prefilled
///   together, compressed, and the first answer token taken from the prefill's logits.
/// - `agnostic` ("compress once, answer many"): the document alone is prefilled and observed, each
///   cell compresses one fork of it once, and every question is prefilled through its own fork of the
///   compressed cache with no observer, so no question token reaches the metric (as kvpress
///   evaluates by default); the first answer token comes from that question prefill.
///
/// Rate 1 runs no compression, so both placements feed the model the same tokens over the full cache,
/// though not in the same prefill chunks: the sums of the attention products are associated
/// differently, and on a real model greedy answers can differ where it is unsure. Each placement is
/// compared with its own rate-1 cell.
public final class SweepRunner {
    public let specification: SweepSpecification
    public let model: LlamaModel
    public let tokenizer: any TextTokenizer
    public let plugins: PluginRegistry
    /// The specification's tasks, built from the task registry.
    public let tasks: [any EvaluationTask]

    /// Builds the tasks and checks every (task, length) against the tokenizer and the model's context,
    /// before any model work.
    public init(
        specification: SweepSpecification, model: LlamaModel, tokenizer: any TextTokenizer, plugins: PluginRegistry, tasks registry: TaskRegistry
    ) throws {
        self.specification = specification
        self.model = model
        self.tokenizer = tokenizer
        self.plugins = plugins
        tasks = try Self.checkTasks(specification, registry: registry, tokenizer: tokenizer, contextLength: model.configuration.contextLength)
        // What the cells' scorers need of this model's tokenizer (KVzip's chat repeat turn: a chat template).
        for cell in specification.cells {
            guard let scorer = cell.configuration.scorer else { continue }
            do { try plugins.makeScorer(scorer).check(tokenizer: tokenizer) } catch {
                throw EvaluationError.invalidCell(cell: cell.label, why: "\(error)")
            }
        }
    }

    /// The tasks of `specification`, each checked at every length (long enough for its needles, short
    /// enough for the context with the longest answer any cell allows).
    public static func checkTasks(
        _ specification: SweepSpecification, registry: TaskRegistry, tokenizer: any TextTokenizer, contextLength: Int
    ) throws -> [any EvaluationTask] {
        let longestAnswer = specification.cells.compactMap(\.maxNewTokens).max()
        return try specification.tasks.map { spec in
            let task = try registry.makeTask(spec)
            for length in specification.lengths {
                do {
                    try task.validate(targetTokens: length + max(0, (longestAnswer ?? 0) - task.maxNewTokens), contextLength: contextLength, tokenizer: tokenizer)
                } catch {
                    throw EvaluationError.invalidTask("\(error)")
                }
            }
            return task
        }
    }

    /// Every document of the sweep, task-major then length then prompt.
    public var allUnits: [SweepUnit] {
        let s = specification
        return s.tasks.indices.flatMap { t in s.lengths.indices.flatMap { l in (0..<s.prompts).map { SweepUnit(task: t, length: l, prompt: $0) } } }
    }

    /// The instance of a document.
    public func instance(_ unit: SweepUnit) throws -> TaskInstance {
        try tasks[unit.task].instance(
            targetTokens: specification.lengths[unit.length], seed: specification.seed(ofPrompt: unit.prompt), tokenizer: tokenizer)
    }

    /// Runs the trials of `units` not in `done`, calling `record` with each as soon as it finishes
    /// (the caller makes it durable) and `documentFinished` after each document.
    public func run(
        units: [SweepUnit], done: Set<TrialKey> = [], record: (TrialRecord) throws -> Void, documentFinished: (SweepUnit) throws -> Void = { _ in }
    ) throws {
        let s = specification, c = model.configuration
        let groups = try prefillGroups()
        // One pool per (block size, KV element type) the cells use.
        var caches: [CacheKind: PagedKVCache] = [:]
        func cache(blockSize: Int, kvType: KVStorageType) throws -> PagedKVCache {
            let kind = CacheKind(blockSize: blockSize, kvType: kvType)
            if let cache = caches[kind] { return cache }
            // Base + cell fork + question fork, each at most the longest prompt plus the answer, per head;
            // a scorer that reads the document again (KVzip) also holds a copy of it and its repetition.
            let longest = s.lengths.max()! + (s.cells.compactMap(\.maxNewTokens) + tasks.map(\.maxNewTokens)).max()! + 2 * blockSize
            let sequences = s.cells.contains { $0.configuration.scorer != nil } ? 5 : 3
            let cache = try model.makeCache(
                blockSize: blockSize, kvType: kvType,
                capacityBlocks: sequences * c.layers * c.kvHeads * ((longest + blockSize - 1) / blockSize) + 1)
            caches[kind] = cache
            return cache
        }
        for unit in units {
            let instance = try instance(unit)
            let task = tasks[unit.task]
            let reconstructionMemo = ReconstructionMemo()
            let questions = instance.questions.indices
            for group in groups {
                let pending = group.cells.filter { cell in questions.contains { !done.contains(key(unit, $0, cell)) } }
                guard !pending.isEmpty else { continue }
                let cache = try cache(blockSize: group.blockSize, kvType: group.kvType)
                let observer = MetricCollector(
                    metric: try plugins.makeMetric(group.metric), window: try plugins.makeWindow(group.window),
                    recordsWindowQueries: group.recordsWindowQueries, recordsWindowAttention: group.recordsWindowAttention)
                let context = TrialContext(
                    unit: unit, instance: instance, task: task, cache: cache, observer: observer, reconstructionMemo: reconstructionMemo)
                switch group.placement {
                case .aware:
                    for question in questions where pending.contains(where: { !done.contains(key(unit, question, $0)) }) {
                        let base = cache.addSequence()
                        defer { cache.removeSequence(base) }
                        let (logits, prefillSeconds) = try timed {
                            try model.prefill(instance.promptTokens(question: question), sequence: base, cache: cache, observer: observer)
                        }
                        var unpaid = prefillSeconds
                        for cell in pending where !done.contains(key(unit, question, cell)) {
                            var timings = TrialTimings()
                            (timings.prefill, unpaid) = (unpaid, 0)
                            let fork = try cache.fork(base)
                            defer { cache.removeSequence(fork) }
                            let compression = try compressAfterPrefill(
                                fork, cell: cell, context: context, prefilled: (base, instance.promptTokens(question: question)), timings: &timings)
                            try record(
                                try answer(
                                    question: question, firstLogits: logits, sequence: fork, cell: cell, context: context,
                                    compression: compression, timings: timings))
                        }
                    }
                case .agnostic:
                    let base = cache.addSequence()
                    defer { cache.removeSequence(base) }
                    let (_, prefillSeconds) = try timed { try model.prefill(instance.documentTokens, sequence: base, cache: cache, observer: observer) }
                    var unpaid = prefillSeconds
                    for cell in pending {
                        var timings = TrialTimings()
                        (timings.prefill, unpaid) = (unpaid, 0)
                        let document = try cache.fork(base)
                        defer { cache.removeSequence(document) }
                        // Compressed once for every question of the document.
                        var compression = try compressAfterPrefill(
                            document, cell: cell, context: context, prefilled: (base, instance.documentTokens), timings: &timings)
                        for question in questions where !done.contains(key(unit, question, cell)) {
                            let fork = try cache.fork(document)
                            defer { cache.removeSequence(fork) }
                            // No observer: the question's queries never reach the metric.
                            let (logits, seconds) = try timed {
                                try model.prefill(instance.questionTokens[question], sequence: fork, cache: cache, observer: nil)
                            }
                            timings.questionPrefill = seconds
                            try record(
                                try answer(
                                    question: question, firstLogits: logits, sequence: fork, cell: cell, context: context,
                                    compression: compression, timings: timings))
                            timings = TrialTimings()
                            compression.count = 0
                            compression.scoringExtraTokens = 0
                        }
                    }
                }
            }
            try documentFinished(unit)
        }
    }

    // MARK: - Prefill groups

    /// A cache pool's shape beyond the model's: cells that differ in either cannot share a prefill.
    struct CacheKind: Hashable {
        let blockSize: Int
        let kvType: KVStorageType
    }

    /// Cells that can share one prefill.
    struct PrefillGroup {
        let blockSize: Int
        /// The element type of the cache the prefill writes (`kv_type`).
        let kvType: KVStorageType
        let metric: PluginSpec
        let window: PluginSpec
        let placement: QuestionPlacement
        var cells: [SweepCell]
        /// Whether a cell's scorer reads the window's queries (the collector then records them).
        var recordsWindowQueries = false
        /// Whether a cell's policy reads the window's attention rows (CAKE; the collector then records them).
        var recordsWindowAttention = false
    }

    /// The cells grouped by what their prefill computes; cells that compress nothing (rate 1) join
    /// the first group of their placement and block size, whose observation they ignore.
    func prefillGroups() throws -> [PrefillGroup] {
        let c = model.configuration
        var groups: [PrefillGroup] = []
        var fullCache: [SweepCell] = []
        for cell in specification.cells {
            if !cell.compresses, cell.configuration.schedule.interval == 0 {
                fullCache.append(cell)
                continue
            }
            let compressor = try Compressor(configuration: cell.configuration, registry: plugins)
            let blockSize = compressor.plugins.blockSize.physicalBlockSize(layers: c.layers, kvHeads: c.kvHeads, headDim: c.headDim)
            let conf = cell.configuration
            let records = compressor.plugins.scorer?.inputs.contains(.windowQueries) ?? false
            let recordsAttention = compressor.plugins.policy.needsWindowAttention
            if let i = groups.firstIndex(where: {
                $0.blockSize == blockSize && $0.kvType == conf.resolvedKVType && $0.metric == conf.metric && $0.window == conf.window
                    && $0.placement == cell.question
            }) {
                groups[i].cells.append(cell)
                groups[i].recordsWindowQueries = groups[i].recordsWindowQueries || records
                groups[i].recordsWindowAttention = groups[i].recordsWindowAttention || recordsAttention
            } else {
                groups.append(
                    PrefillGroup(
                        blockSize: blockSize, kvType: conf.resolvedKVType, metric: conf.metric, window: conf.window,
                        placement: cell.question, cells: [cell], recordsWindowQueries: records, recordsWindowAttention: recordsAttention))
            }
        }
        for cell in fullCache {
            let compressor = try Compressor(configuration: cell.configuration, registry: plugins)
            let blockSize = compressor.plugins.blockSize.physicalBlockSize(layers: c.layers, kvHeads: c.kvHeads, headDim: c.headDim)
            let kvType = cell.configuration.resolvedKVType
            if let i = groups.firstIndex(where: { $0.blockSize == blockSize && $0.kvType == kvType && $0.placement == cell.question }) {
                groups[i].cells.append(cell)
            } else {
                groups.append(
                    PrefillGroup(
                        blockSize: blockSize, kvType: kvType, metric: cell.configuration.metric, window: cell.configuration.window,
                        placement: cell.question, cells: [cell]))
            }
        }
        return groups
    }

    // MARK: - One trial

    struct TrialContext {
        let unit: SweepUnit
        let instance: TaskInstance
        let task: any EvaluationTask
        let cache: PagedKVCache
        let observer: MetricCollector
        /// KVzip reconstructions of this document, shared by its cells (the scores do not depend on the rate).
        let reconstructionMemo: ReconstructionMemo
    }

    /// What the compression after prefill left.
    struct Compression {
        var count: Int
        var budgetHeld: Bool
        var keptKVs: [Int]
        var residentBlocks: Int
        /// Tokens the scorer prefilled beyond the sequence to score it (KVzip's reconstruction pass).
        var scoringExtraTokens = 0
    }

    func key(_ unit: SweepUnit, _ question: Int, _ cell: SweepCell) -> TrialKey {
        TrialKey(task: unit.task, length: unit.length, prompt: unit.prompt, question: question, cell: cell.index)
    }

    /// - Parameter prefilled: the observed prefill's sequence and tokens, for scorers that read the
    ///   document again or the window's queries (KVzip; `ScoringContext`).
    func compressAfterPrefill(
        _ sequence: SequenceID, cell: SweepCell, context: TrialContext, prefilled: (sequence: SequenceID, tokens: [Int32]),
        timings: inout TrialTimings
    ) throws -> Compression {
        var compression = Compression(count: 0, budgetHeld: true, keptKVs: [], residentBlocks: 0)
        if cell.compresses, cell.configuration.schedule.afterPrefill {
            let compressor = try Compressor(configuration: cell.configuration, registry: plugins)
            // Scorers read the model, the tokens or the window's queries; CAKE's policy the window's attention.
            let scoring =
                compressor.plugins.scorer == nil && !compressor.plugins.policy.needsWindowAttention
                ? nil
                : ScoringContext(
                    model: model, tokenizer: tokenizer, tokens: prefilled.tokens,
                    windowQueries: context.observer.windowQueries(prefilled.sequence),
                    windowAttention: context.observer.windowAttention(prefilled.sequence),
                    reconstructionMemo: context.reconstructionMemo)
            let (report, seconds) = try timed {
                try compressor.compress(sequence, cache: context.cache, trigger: .afterPrefill, context: scoring)
            }
            // A reconstruction reused from another cell of this document is charged at the seconds it
            // took, so each trial's compression cost reads as in serving (one pass per compression).
            timings.compress += seconds + report.reusedScoringSeconds
            compression.count = 1
            compression.budgetHeld = report.budgetHeld
            compression.scoringExtraTokens = report.scoringExtraTokens
        }
        compression.keptKVs = context.cache.contextLengths(sequence)
        compression.residentBlocks = context.cache.residentBlocks(sequence)
        return compression
    }

    /// Greedy decoding from `firstLogits`, compressing every `schedule.interval` steps when asked, then scoring.
    func answer(
        question: Int, firstLogits: [Float], sequence: SequenceID, cell: SweepCell, context: TrialContext, compression: Compression,
        timings: TrialTimings
    ) throws -> TrialRecord {
        var timings = timings, compression = compression
        let cache = context.cache, instance = context.instance
        let evidence = instance.questions[question].evidence
        let evidenceKept = evidence.isEmpty ? [] : Self.keptPositions(in: evidence, sequence: sequence, cache: cache)
        let maxNewTokens = cell.maxNewTokens ?? context.task.maxNewTokens
        let interval = cell.compresses ? cell.configuration.schedule.interval : 0
        let compressor = interval > 0 ? try Compressor(configuration: cell.configuration, registry: plugins) : nil
        let stopTokens = tokenizer.endOfTurnIDs
        let decodeStart = ContinuousClock.now
        var sampler = Sampler.greedy
        var generated: [Int32] = []
        var next = sampler.sample(firstLogits)
        var steps = 0
        var intervalSeconds = 0.0
        while !stopTokens.contains(next) {
            generated.append(next)
            if generated.count == maxNewTokens { break }
            if let compressor {
                steps += 1
                if steps >= interval {
                    let (report, seconds) = try timed { try compressor.compress(sequence, cache: cache, trigger: .interval) }
                    timings.compress += seconds
                    intervalSeconds += seconds
                    compression.count += 1
                    compression.budgetHeld = compression.budgetHeld && report.budgetHeld
                    compression.scoringExtraTokens += report.scoringExtraTokens
                    steps = 0
                }
            }
            // Decode queries feed the metric only when a later compression will read it.
            next = sampler.sample(try model.decode([(sequence, next)], cache: cache, observer: compressor == nil ? nil : context.observer)[0])
        }
        timings.decode = (ContinuousClock.now - decodeStart).seconds - intervalSeconds
        let text = tokenizer.decode(generated, renderSpecial: false)
        return TrialRecord(
            key: key(context.unit, question, cell), task: instance.task, targetTokens: instance.targetTokens, seed: instance.seed,
            questionCount: instance.questions.count, documentTokens: instance.documentTokens.count,
            promptTokens: instance.documentTokens.count + instance.questionTokens[question].count, answers: instance.questions[question].answers,
            generated: text, generatedTokens: generated, score: context.task.score(text, for: instance.questions[question]),
            keptKVs: compression.keptKVs, residentBlocks: compression.residentBlocks, residentBytes: compression.residentBlocks * cache.layout.bytesPerBlock,
            evidenceTokens: evidence.reduce(0) { $0 + $1.count }, evidenceKVsKept: evidenceKept, budgetHeld: compression.budgetHeld,
            compressions: compression.count, scoringExtraTokens: compression.scoringExtraTokens, timings: timings)
    }

    /// KVs of token positions in `ranges` still held by each (layer, KV head) of `sequence`: `[layers * kvHeads]`.
    static func keptPositions(in ranges: [Range<Int>], sequence: SequenceID, cache: PagedKVCache) -> [Int] {
        var kept: [Int] = []
        for layer in 0..<cache.layout.layers {
            for head in 0..<cache.layout.kvHeads {
                let view = cache.view(sequence, layer: layer, head: head)
                var n = 0
                for i in 0..<view.length {
                    let p = Int(view.position(i))
                    if ranges.contains(where: { $0.contains(p) }) { n += 1 }
                }
                kept.append(n)
            }
        }
        return kept
    }
}

/// `body`'s result and the seconds it took.
func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let start = ContinuousClock.now
    let value = try body()
    return (value, (ContinuousClock.now - start).seconds)
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
