import Dispatch
import Foundation
import PagedKVCache

/// What to generate and when to stop.
public struct GenerationParameters: Sendable {
    /// Most tokens generated per prompt (the stop token not counted).
    public var maxTokens: Int
    /// Token ids that end a sequence (end of sequence, end of turn); they are not emitted.
    public var stopTokens: Set<Int32>
    /// Sampling rule; each prompt of a batch gets it reseeded with `seed + index`.
    public var sampler: Sampler
    /// Free a sequence's cache blocks when it finishes (so the others of the batch can use them).
    public var releasesFinishedSequences: Bool

    public init(
        maxTokens: Int = 256, stopTokens: Set<Int32> = [], sampler: Sampler = .greedy, releasesFinishedSequences: Bool = true
    ) {
        self.maxTokens = maxTokens
        self.stopTokens = stopTokens
        self.sampler = sampler
        self.releasesFinishedSequences = releasesFinishedSequences
    }
}

/// Why a sequence stopped.
public enum StopReason: String, Sendable, Codable {
    case stopToken, maxTokens, contextFull
}

/// Timing and memory of one `Generator.generate` call.
public struct GenerationStatistics: Sendable, Codable, CustomStringConvertible {
    /// Seconds spent loading the model (given to the generator; 0 when unknown).
    public var loadSeconds: Double = 0
    public var promptTokens = 0
    public var prefillSeconds: Double = 0
    /// Tokens fed through decode steps (one per sequence and step).
    public var decodedTokens = 0
    public var decodeSteps = 0
    public var decodeSeconds: Double = 0
    /// Seconds spent in the cache controller (compression).
    public var controllerSeconds: Double = 0
    /// Largest number of cache blocks in use at any point, and their bytes.
    public var peakResidentBlocks = 0
    public var peakResidentBytes = 0

    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptTokens) / prefillSeconds : 0 }
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(decodedTokens) / decodeSeconds : 0 }

    public var description: String {
        func f(_ x: Double) -> String { String(format: "%.1f", x) }
        return "load \(f(loadSeconds)) s · prefill \(promptTokens) tokens at \(f(prefillTokensPerSecond)) tok/s · "
            + "decode \(decodedTokens) tokens in \(decodeSteps) steps at \(f(decodeTokensPerSecond)) tok/s · "
            + "peak KV \(peakResidentBlocks) blocks (\(peakResidentBytes / 1024) KiB)"
    }
}

/// The tokens one prompt produced.
public struct GeneratedSequence: Sendable {
    public let prompt: Int
    public let sequence: SequenceID
    public var tokens: [Int32]
    public var stopReason: StopReason?
}

public struct GenerationResult: Sendable {
    /// One per prompt, in prompt order.
    public var sequences: [GeneratedSequence]
    public var statistics: GenerationStatistics
}

/// Generates continuations of prompts: prefills each prompt into the cache, then decodes all
/// unfinished sequences together, one token each per step (continuous batching: a finished
/// sequence leaves the batch, the others go on).
///
/// A ``CacheController`` (compression) is called after each prefill (`didPrefill`) and before every
/// decode step (`willDecode`); without one the cache simply grows.
public final class Generator {
    public let model: LlamaModel
    public let cache: PagedKVCache
    public let controller: (any CacheController)?
    /// Reported in the statistics.
    public var loadSeconds: Double

    public init(model: LlamaModel, cache: PagedKVCache, controller: (any CacheController)? = nil, loadSeconds: Double = 0) {
        self.model = model
        self.cache = cache
        self.controller = controller
        self.loadSeconds = loadSeconds
    }

    /// Generates a continuation of every prompt.
    /// - Parameters:
    ///   - questions: query-agnostic placement, one token list per prompt (empty: none): prefilled after
    ///     the prompt's `didPrefill` (so after its compression) with no observer, so the compression of
    ///     the prompt never sees the question, as in serving a cached document (kvpress's default).
    ///   - onToken: called with (prompt index, token) as each token is chosen.
    public func generate(
        prompts: [[Int32]], questions: [[Int32]]? = nil, parameters: GenerationParameters = GenerationParameters(),
        onToken: (_ prompt: Int, _ token: Int32) -> Void = { _, _ in }
    ) throws -> GenerationResult {
        guard !prompts.isEmpty else { throw LlamaError.emptyInput("no prompt to generate from") }
        guard parameters.maxTokens >= 0 else { throw LlamaError.invalidParameter("maxTokens must be ≥ 0") }
        if let questions, questions.count != prompts.count {
            throw LlamaError.invalidParameter("\(questions.count) questions for \(prompts.count) prompts")
        }
        var created: [SequenceID] = []
        do {
            return try run(prompts: prompts, questions: questions, parameters: parameters, onToken: onToken, created: &created)
        } catch {
            // A failed call (out of blocks, a prompt past the context window, …) leaves no sequence of
            // its own behind in the cache.
            for id in created where cache.contains(id) { cache.removeSequence(id) }
            throw error
        }
    }

    private func run(
        prompts: [[Int32]], questions: [[Int32]]?, parameters: GenerationParameters, onToken: (_ prompt: Int, _ token: Int32) -> Void,
        created: inout [SequenceID]
    ) throws -> GenerationResult {
        var statistics = GenerationStatistics(loadSeconds: loadSeconds)
        let observer = controller?.observer
        var samplers = prompts.indices.map { parameters.sampler.reseeded(parameters.sampler.seed &+ UInt64($0)) }
        var sequences: [GeneratedSequence] = []
        /// Token each unfinished sequence feeds into the next decode step.
        var pending: [Int: Int32] = [:]

        func notePeak() {
            statistics.peakResidentBlocks = max(statistics.peakResidentBlocks, cache.usedBlockCount)
            statistics.peakResidentBytes = max(statistics.peakResidentBytes, cache.residentBytes)
        }
        func accept(_ i: Int, _ token: Int32) {
            if parameters.stopTokens.contains(token) {
                finish(i, .stopToken)
                return
            }
            sequences[i].tokens.append(token)
            onToken(i, token)
            if sequences[i].tokens.count >= parameters.maxTokens {
                finish(i, .maxTokens)
            } else if cache.nextPosition(sequences[i].sequence) >= model.configuration.contextLength {
                finish(i, .contextFull)
            } else {
                pending[i] = token
            }
        }
        func finish(_ i: Int, _ reason: StopReason) {
            sequences[i].stopReason = reason
            pending[i] = nil
            if parameters.releasesFinishedSequences { cache.removeSequence(sequences[i].sequence) }
        }

        for (i, prompt) in prompts.enumerated() {
            let id = cache.addSequence()
            created.append(id)
            sequences.append(GeneratedSequence(prompt: i, sequence: id, tokens: []))
            let start = DispatchTime.now()
            try controller?.willPrefill(id, tokens: prompt, cache: cache)
            var logits = try model.prefill(prompt, sequence: id, cache: cache, observer: observer)
            statistics.prefillSeconds += Self.seconds(since: start)
            statistics.promptTokens += prompt.count
            notePeak()
            let controlStart = DispatchTime.now()
            try controller?.didPrefill(id, cache: cache)
            statistics.controllerSeconds += Self.seconds(since: controlStart)
            if let question = questions?[i], !question.isEmpty {
                let questionStart = DispatchTime.now()
                logits = try model.prefill(question, sequence: id, cache: cache, observer: nil)
                statistics.prefillSeconds += Self.seconds(since: questionStart)
                statistics.promptTokens += question.count
                notePeak()
            }
            if parameters.maxTokens == 0 {
                finish(i, .maxTokens)
            } else {
                accept(i, samplers[i].sample(logits))
            }
        }

        var step = 0
        while !pending.isEmpty {
            let active = pending.keys.sorted()
            let ids = active.map { sequences[$0].sequence }
            let controlStart = DispatchTime.now()
            try controller?.willDecode(ids, step: step, cache: cache)
            statistics.controllerSeconds += Self.seconds(since: controlStart)
            let start = DispatchTime.now()
            let logits = try model.decode(active.map { (sequences[$0].sequence, pending[$0]!) }, cache: cache, observer: observer)
            statistics.decodeSeconds += Self.seconds(since: start)
            statistics.decodedTokens += active.count
            statistics.decodeSteps += 1
            notePeak()
            for (row, i) in active.enumerated() { accept(i, samplers[i].sample(logits[row])) }
            step += 1
        }
        return GenerationResult(sequences: sequences, statistics: statistics)
    }

    static func seconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }
}
