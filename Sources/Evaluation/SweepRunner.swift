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
/// fork of that cache (`PagedKVCache.fork`). With `prefill_tail: T` in the specification the groups
/// share more: all but the prompt's last T tokens is prefilled once, unobserved, and each group whose
/// window reads only queries of the tail (a last-w window with w ≤ T, or none) forks it and prefills
/// the tail observed, so a sweep of the baselines pays about one prefill per prompt instead of one
/// per metric (seven for the built-in methods); H2O's window reads the whole prompt, so its group
/// prefills it all. A KVzip reconstruction of a document is run once per pass setting and KV layout
/// and shared by every cell that compresses it (`ReconstructionMemo`): its scores do not depend on
/// the rate or the allocation. Each trial is still charged the pass's seconds. Answers are decoded
/// together, up to `decodeBatch` at a time, which changes no answer (tested against one at a time).
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
    public var allUnits: [SweepUnit] { specification.units }

    /// The instance of a document.
    public func instance(_ unit: SweepUnit) throws -> TaskInstance {
        try tasks[unit.task].instance(
            targetTokens: specification.lengths[unit.length], seed: specification.seed(ofPrompt: unit.prompt), tokenizer: tokenizer)
    }

    /// Answers decoded together in one batch, at most (each decode step streams the weights once for
    /// all of them). Batched and single decoding give the same logits row for row (a token's products
    /// never depend on the step's other tokens, and attention runs per sequence), so this changes the
    /// speed only; 1 decodes each answer alone.
    public var decodeBatch = 32

    /// Whether the compressions of one prefill's forks share each scorer's scores (`ScoreMemo`): a
    /// method's rates score the document once. Speed only; false scores every compression anew.
    public var sharesScores = true

    /// Tokens prefilled for the groups' prompts so far (shared prefixes once, tails, whole prompts;
    /// not the agnostic questions nor a scorer's own passes): what `prefill_tail` saves.
    public private(set) var promptTokensPrefilled = 0

    /// Runs the trials of `units` not in `done`, calling `record` with each as soon as it finishes
    /// (the caller makes it durable) and `documentFinished` after each document.
    public func run(
        units: [SweepUnit], done: Set<TrialKey> = [], record: (TrialRecord) throws -> Void, documentFinished: (SweepUnit) throws -> Void = { _ in }
    ) throws {
        let s = specification, c = model.configuration
        let groups = try prefillGroups()
        // One pool per (block size, KV element type) the cells use.
        var caches: [CacheKind: PagedKVCache] = [:]
        func cache(_ kind: CacheKind) throws -> PagedKVCache {
            if let cache = caches[kind] { return cache }
            // Shared prefix + group base + a batch of answer forks + the document a cell compresses
            // while its questions are forked, each at most the longest prompt plus the answer, per
            // head; a scorer that reads the document again (KVzip) also holds a copy and its repetition.
            let longest = s.lengths.max()! + (s.cells.compactMap(\.maxNewTokens) + tasks.map(\.maxNewTokens)).max()! + 2 * kind.blockSize
            let sequences = 3 + max(1, decodeBatch) + (s.cells.contains { $0.configuration.scorer != nil } ? 2 : 0)
            let cache = try model.makeCache(
                blockSize: kind.blockSize, kvType: kind.kvType,
                capacityBlocks: sequences * c.layers * c.kvHeads * ((longest + kind.blockSize - 1) / kind.blockSize) + 1)
            caches[kind] = cache
            return cache
        }
        for unit in units {
            let instance = try instance(unit)
            let task = tasks[unit.task]
            let reconstructionMemo = ReconstructionMemo()
            let questions = Array(instance.questions.indices)
            let observers = try groups.map { group in
                MetricCollector(
                    metric: try plugins.makeMetric(group.metric), window: try plugins.makeWindow(group.window),
                    recordsWindowQueries: group.recordsWindowQueries, recordsWindowAttention: group.recordsWindowAttention)
            }
            // Aware: one prompt per question (document + question); agnostic: the document once.
            for placement in [QuestionPlacement.aware, .agnostic] {
                let prompts: [(tokens: [Int32], questions: [Int])] =
                    placement == .aware ? questions.map { (instance.promptTokens(question: $0), [$0]) } : [(instance.documentTokens, questions)]
                for prompt in prompts {
                    var prefixes = SharedPrefixes()
                    defer { prefixes.removeAll() }
                    for (group, observer) in zip(groups, observers) where group.placement == placement {
                        let pending = group.cells.filter { cell in prompt.questions.contains { !done.contains(key(unit, $0, cell)) } }
                        guard !pending.isEmpty else { continue }
                        let cache = try cache(CacheKind(blockSize: group.blockSize, kvType: group.kvType))
                        let base = try prefill(prompt.tokens, observer: observer, cache: cache, prefixes: &prefixes)
                        defer {
                            cache.removeSequence(base.sequence)
                            observer.forget(base.sequence)
                        }
                        let context = TrialContext(
                            unit: unit, instance: instance, task: task, cache: cache, observer: observer, reconstructionMemo: reconstructionMemo,
                            scoreMemo: sharesScores ? ScoreMemo() : nil, prefilled: (base.sequence, prompt.tokens))
                        switch placement {
                        case .aware:
                            try answerAware(
                                question: prompt.questions[0], cells: pending, base: base, context: context, done: done, record: record)
                        case .agnostic:
                            try answerAgnostic(questions: prompt.questions, cells: pending, base: base, context: context, done: done, record: record)
                        }
                    }
                }
            }
            try documentFinished(unit)
        }
    }

    /// Aware: each cell compresses its own fork of the prefilled document + question; the first
    /// answer token comes from the prefill's logits.
    func answerAware(
        question: Int, cells: [SweepCell], base: PrefilledBase, context: TrialContext, done: Set<TrialKey>, record: (TrialRecord) throws -> Void
    ) throws {
        var batch = AnswerBatch(capacity: decodeBatch, cache: context.cache)
        defer { batch.removeAll() }
        var unpaid = base.seconds
        for cell in cells where !done.contains(key(context.unit, question, cell)) {
            try batch.makeRoom { try answer($0, context: context).forEach(record) }
            var timings = TrialTimings()
            (timings.prefill, unpaid) = (unpaid, 0)
            let fork = batch.add(PendingAnswer(question: question, sequence: try context.cache.fork(base.sequence), firstLogits: base.logits, cell: cell, timings: timings))
            batch.answers[fork].compression = try compressAfterPrefill(
                batch.answers[fork].sequence, cell: cell, context: context, timings: &batch.answers[fork].timings)
        }
        try batch.flush { try answer($0, context: context).forEach(record) }
    }

    /// Agnostic ("compress once, answer many"): each cell compresses one fork of the document, and
    /// every question is prefilled through its own fork of the compressed document with no observer.
    func answerAgnostic(
        questions: [Int], cells: [SweepCell], base: PrefilledBase, context: TrialContext, done: Set<TrialKey>,
        record: (TrialRecord) throws -> Void
    ) throws {
        let cache = context.cache, instance = context.instance
        var batch = AnswerBatch(capacity: decodeBatch, cache: cache)
        defer { batch.removeAll() }
        var unpaid = base.seconds
        for cell in cells {
            var timings = TrialTimings()
            (timings.prefill, unpaid) = (unpaid, 0)
            let document = try cache.fork(base.sequence)
            defer { cache.removeSequence(document) }
            // Compressed once for every question of the document, charged to its first trial.
            var compression = try compressAfterPrefill(document, cell: cell, context: context, timings: &timings)
            for question in questions where !done.contains(key(context.unit, question, cell)) {
                try batch.makeRoom { try answer($0, context: context).forEach(record) }
                let fork = batch.add(PendingAnswer(question: question, sequence: try cache.fork(document), firstLogits: [], cell: cell, timings: timings))
                // No observer: the question's queries never reach the metric.
                let (logits, seconds) = try timed {
                    try model.prefill(instance.questionTokens[question], sequence: batch.answers[fork].sequence, cache: cache, observer: nil)
                }
                batch.answers[fork].firstLogits = logits
                batch.answers[fork].timings.questionPrefill = seconds
                batch.answers[fork].compression = compression
                timings = TrialTimings()
                compression.count = 0
                compression.scoringExtraTokens = 0
            }
        }
        try batch.flush { try answer($0, context: context).forEach(record) }
    }

    /// Answers waiting to be decoded together, at most `capacity`; their forks are removed once decoded
    /// (or on an error).
    struct AnswerBatch {
        let capacity: Int
        let cache: PagedKVCache
        var answers: [PendingAnswer] = []

        init(capacity: Int, cache: PagedKVCache) {
            self.capacity = max(1, capacity)
            self.cache = cache
        }

        /// Adds `answer` (whose fork this batch now owns) and returns its index.
        mutating func add(_ answer: PendingAnswer) -> Int {
            answers.append(answer)
            return answers.count - 1
        }

        /// Decodes the batch with `decode` first when it is full.
        mutating func makeRoom(_ decode: ([PendingAnswer]) throws -> Void) throws {
            if answers.count >= capacity { try flush(decode) }
        }

        mutating func flush(_ decode: ([PendingAnswer]) throws -> Void) throws {
            defer { removeAll() }
            if !answers.isEmpty { try decode(answers) }
        }

        mutating func removeAll() {
            for answer in answers { cache.removeSequence(answer.sequence) }
            answers = []
        }
    }

    // MARK: - Prefill, shared where the observation allows

    /// A group's prefilled prompt: the sequence its cells fork, the logits of its last token, and the
    /// seconds it cost (a shared prefix is charged to the first group that needed it).
    struct PrefilledBase {
        let sequence: SequenceID
        let logits: [Float]
        let seconds: Double
    }

    /// The prompt's prefix (all but the last `prefill_tail` tokens) prefilled with no observer, per
    /// cache pool, for the groups of one prompt.
    struct SharedPrefixes {
        var sequences: [ObjectIdentifier: (cache: PagedKVCache, sequence: SequenceID)] = [:]
        mutating func removeAll() {
            for (cache, sequence) in sequences.values { cache.removeSequence(sequence) }
            sequences = [:]
        }
    }

    /// Prefills `tokens` into a new sequence of `cache` with `observer` watching. With `prefill_tail`
    /// set and an observer that reads only queries of the tail, the prefix comes from `prefixes`
    /// (prefilled there once, unobserved) and only the tail is prefilled here, observed: the observer
    /// sees the same queries over the same keys as in one whole-prompt chunk.
    func prefill(_ tokens: [Int32], observer: MetricCollector, cache: PagedKVCache, prefixes: inout SharedPrefixes) throws -> PrefilledBase {
        let n = tokens.count, tail = specification.prefillTail
        guard tail > 0, tail < n, Self.observesOnlyTail(observer, promptLength: n, tail: tail) else {
            let sequence = cache.addSequence()
            do {
                let (logits, seconds) = try timed { try model.prefill(tokens, sequence: sequence, cache: cache, observer: observer) }
                promptTokensPrefilled += n
                return PrefilledBase(sequence: sequence, logits: logits, seconds: seconds)
            } catch {
                cache.removeSequence(sequence)
                throw error
            }
        }
        var prefixSeconds = 0.0
        let prefix: SequenceID
        if let shared = prefixes.sequences[ObjectIdentifier(cache)] {
            prefix = shared.sequence
        } else {
            prefix = cache.addSequence()
            prefixes.sequences[ObjectIdentifier(cache)] = (cache, prefix)
            (_, prefixSeconds) = try timed { try model.prefill(Array(tokens[..<(n - tail)]), sequence: prefix, cache: cache, observer: nil) }
            promptTokensPrefilled += n - tail
        }
        let (sequence, forkSeconds) = try timed { try cache.fork(prefix) }
        do {
            let (logits, seconds) = try timed { try model.prefill(Array(tokens[(n - tail)...]), sequence: sequence, cache: cache, observer: observer) }
            promptTokensPrefilled += tail
            return PrefilledBase(sequence: sequence, logits: logits, seconds: prefixSeconds + forkSeconds + seconds)
        } catch {
            cache.removeSequence(sequence)
            throw error
        }
    }

    /// Whether the queries `observer` reads of a whole-prompt chunk of `promptLength` tokens are exactly
    /// those it reads of the prompt's last `tail` tokens as a chunk of their own (none, or the last w ≤ tail).
    static func observesOnlyTail(_ observer: any AttentionObserver, promptLength n: Int, tail: Int) -> Bool {
        let probe = SequenceID(-1)
        let whole = observer.observedQueries(sequence: probe, chunkLength: n, startPosition: 0).clamped(to: 0..<n)
        let split = observer.observedQueries(sequence: probe, chunkLength: tail, startPosition: n - tail).clamped(to: 0..<tail)
        if whole.isEmpty { return split.isEmpty }
        return whole == (split.lowerBound + n - tail)..<(split.upperBound + n - tail)
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
        /// Scores of this prefill, shared by the compressions of its forks (after prefill only).
        let scoreMemo: ScoreMemo?
        /// The observed prefill's sequence and tokens, for scorers that read the document again or the
        /// window's queries (KVzip; `ScoringContext`).
        let prefilled: (sequence: SequenceID, tokens: [Int32])
    }

    /// What the compression after prefill left.
    struct Compression {
        var count = 0
        var budgetHeld = true
        var keptKVs: [Int] = []
        var residentBlocks = 0
        /// Tokens the scorer prefilled beyond the sequence to score it (KVzip's reconstruction pass).
        var scoringExtraTokens = 0
    }

    /// A trial ready to decode: its compressed (and, agnostic, question-prefilled) sequence and the
    /// logits its first answer token is taken from.
    struct PendingAnswer {
        let question: Int
        let sequence: SequenceID
        var firstLogits: [Float]
        let cell: SweepCell
        var timings: TrialTimings
        var compression = Compression()
    }

    func key(_ unit: SweepUnit, _ question: Int, _ cell: SweepCell) -> TrialKey {
        TrialKey(task: unit.task, length: unit.length, prompt: unit.prompt, question: question, cell: cell.index)
    }

    func compressAfterPrefill(_ sequence: SequenceID, cell: SweepCell, context: TrialContext, timings: inout TrialTimings) throws -> Compression {
        var compression = Compression()
        if cell.compresses, cell.configuration.schedule.afterPrefill {
            let compressor = try Compressor(configuration: cell.configuration, registry: plugins)
            // Scorers read the model, the tokens or the window's queries; CAKE's policy the window's attention.
            let scoring =
                compressor.plugins.scorer == nil && !compressor.plugins.policy.needsWindowAttention
                ? nil
                : ScoringContext(
                    model: model, tokenizer: tokenizer, tokens: context.prefilled.tokens,
                    windowQueries: context.observer.windowQueries(context.prefilled.sequence),
                    windowAttention: context.observer.windowAttention(context.prefilled.sequence),
                    reconstructionMemo: context.reconstructionMemo, scoreMemo: context.scoreMemo)
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

    /// Greedy decoding of `answers`, then scoring: those that compress during decoding one at a time
    /// (their compressions interleave with the steps), the others in one batch. A batched step's
    /// seconds are charged in equal shares to the answers it advanced.
    func answer(_ answers: [PendingAnswer], context: TrialContext) throws -> [TrialRecord] {
        var records = [TrialRecord?](repeating: nil, count: answers.count)
        // Evidence kept is measured before decoding appends anything.
        let evidenceKept = answers.map { answer in
            let evidence = context.instance.questions[answer.question].evidence
            return evidence.isEmpty ? [] : Self.keptPositions(in: evidence, sequence: answer.sequence, cache: context.cache)
        }
        var batched: [Int] = []
        for (i, answer) in answers.enumerated() {
            if answer.cell.compresses, answer.cell.configuration.schedule.interval > 0 {
                records[i] = try answerCompressingWhileDecoding(answer, evidenceKept: evidenceKept[i], context: context)
            } else {
                batched.append(i)
            }
        }
        let stopTokens = tokenizer.endOfTurnIDs
        var generated = [[Int32]](repeating: [], count: answers.count)
        var decodeSeconds = [Double](repeating: 0, count: answers.count)
        var next: [Int32] = answers.map { var greedy = Sampler.greedy; return $0.firstLogits.isEmpty ? 0 : greedy.sample($0.firstLogits) }
        var active = batched
        while true {
            // Each answer takes its sampled token unless it ends the turn, and stops at its length.
            active = active.filter { i in
                guard !stopTokens.contains(next[i]) else { return false }
                generated[i].append(next[i])
                return generated[i].count < (answers[i].cell.maxNewTokens ?? context.task.maxNewTokens)
            }
            guard !active.isEmpty else { break }
            let (rows, seconds) = try timed { try model.decode(active.map { (answers[$0].sequence, next[$0]) }, cache: context.cache) }
            for (row, i) in zip(rows, active) {
                var greedy = Sampler.greedy
                next[i] = greedy.sample(row)
                decodeSeconds[i] += seconds / Double(active.count)
            }
        }
        for i in batched {
            var timings = answers[i].timings
            timings.decode = decodeSeconds[i]
            records[i] = trialRecord(
                answers[i], generated: generated[i], evidenceKept: evidenceKept[i], compression: answers[i].compression, timings: timings, context: context)
        }
        return records.map { $0! }
    }

    /// Greedy decoding of one answer, compressing every `schedule.interval` steps (decode queries then
    /// feed the metric).
    func answerCompressingWhileDecoding(_ answer: PendingAnswer, evidenceKept: [Int], context: TrialContext) throws -> TrialRecord {
        var timings = answer.timings, compression = answer.compression
        let cache = context.cache, sequence = answer.sequence
        let maxNewTokens = answer.cell.maxNewTokens ?? context.task.maxNewTokens
        let interval = answer.cell.configuration.schedule.interval
        let compressor = try Compressor(configuration: answer.cell.configuration, registry: plugins)
        let stopTokens = tokenizer.endOfTurnIDs
        let decodeStart = ContinuousClock.now
        var sampler = Sampler.greedy
        var generated: [Int32] = []
        var next = sampler.sample(answer.firstLogits)
        var steps = 0
        var intervalSeconds = 0.0
        while !stopTokens.contains(next) {
            generated.append(next)
            if generated.count == maxNewTokens { break }
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
            next = sampler.sample(try model.decode([(sequence, next)], cache: cache, observer: context.observer)[0])
        }
        timings.decode = (ContinuousClock.now - decodeStart).seconds - intervalSeconds
        return trialRecord(answer, generated: generated, evidenceKept: evidenceKept, compression: compression, timings: timings, context: context)
    }

    /// The record of a decoded answer, scored by its task.
    func trialRecord(
        _ answer: PendingAnswer, generated: [Int32], evidenceKept: [Int], compression: Compression, timings: TrialTimings, context: TrialContext
    ) -> TrialRecord {
        let instance = context.instance, question = answer.question
        let evidence = instance.questions[question].evidence
        let text = tokenizer.decode(generated, renderSpecial: false)
        return TrialRecord(
            key: key(context.unit, question, answer.cell), task: instance.task, targetTokens: instance.targetTokens, seed: instance.seed,
            questionCount: instance.questions.count, documentTokens: instance.documentTokens.count,
            promptTokens: instance.documentTokens.count + instance.questionTokens[question].count, answers: instance.questions[question].answers,
            generated: text, generatedTokens: generated, score: context.task.score(text, for: instance.questions[question]),
            keptKVs: compression.keptKVs, residentBlocks: compression.residentBlocks,
            residentBytes: compression.residentBlocks * context.cache.layout.bytesPerBlock,
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
