import BPETokenizer
import Foundation
import LlamaInference
import PagedKVCache

/// Runs a sweep: for every prompt, ONE prefill with the metric collector observing, then, for every
/// (method, rate), an independent fork of the prefilled cache that is compressed once to the rate's
/// budget and decoded greedily (KV-Compress §4: compression follows the prefill, so the first new
/// token comes from the prefill's logits over the full cache and the rest attend over the kept KVs).
///
/// Methods whose metric and window differ see different observations, so the runner prefills once per
/// distinct (metric, window) pair; the committed specifications share one pair, hence one prefill.
public final class SweepRunner {
    public let specification: SweepSpecification
    public let model: LlamaModel
    public let tokenizer: BPETokenizer
    public let registry: PluginRegistry
    let task: any NeedleTask

    public init(specification: SweepSpecification, model: LlamaModel, tokenizer: BPETokenizer, registry: PluginRegistry) throws {
        try specification.validate(registry: registry)
        let longest = specification.lengths.max()! + specification.maxNewTokens
        guard longest <= model.configuration.contextLength else {
            throw EvaluationError.promptTooLong(targetTokens: specification.lengths.max()!, contextLength: model.configuration.contextLength)
        }
        self.specification = specification
        self.model = model
        self.tokenizer = tokenizer
        self.registry = registry
        task = try specification.makeTask()
    }

    /// Every prompt of the sweep, length-major: `[lengths.count * prompts]`.
    public func prompts() throws -> [NeedlePrompt] {
        let s = specification
        return try s.lengths.flatMap { length in
            try (0..<s.prompts).map { try task.prompt(targetTokens: length, seed: s.seed(ofPrompt: $0), tokenizer: tokenizer) }
        }
    }

    /// Runs every trial. `progress` is called after each trial.
    public func run(progress: (SweepProgress) -> Void = { _ in }) throws -> SweepResults {
        let s = specification, c = model.configuration
        let started = Date()
        let allPrompts = try prompts()
        let cache = try model.makeCache(
            blockSize: s.blockSize,
            capacityBlocks: 2 * c.layers * c.kvHeads * ((s.lengths.max()! + s.maxNewTokens + s.blockSize - 1) / s.blockSize) + 1)
        // Methods grouped by what their collector observes: one prefill per group and prompt.
        var groups: [[Int]] = []
        var groupKeys: [ObservationKey] = []
        for (index, method) in s.methods.enumerated() {
            let key = ObservationKey(metric: method.metric ?? s.metric, window: method.window ?? s.window)
            if let g = groupKeys.firstIndex(of: key) { groups[g].append(index) } else {
                groupKeys.append(key)
                groups.append([index])
            }
        }
        let stopTokens = tokenizer.endOfTurnIDs
        var trials: [SweepTrial] = []
        trials.reserveCapacity(s.trialCount)
        for (promptIndex, prompt) in allPrompts.enumerated() {
            let lengthIndex = promptIndex / s.prompts, indexInLength = promptIndex % s.prompts
            for group in groups {
                let first = s.methods[group[0]]
                let observer = MetricCollector(
                    metric: try registry.makeMetric(first.metric ?? s.metric), window: try registry.makeWindow(first.window ?? s.window))
                let base = cache.addSequence()
                defer { cache.removeSequence(base) }
                let logits = try model.prefill(prompt.tokens, sequence: base, cache: cache, observer: observer)
                for methodIndex in group {
                    for rate in s.rates {
                        let trialStart = Date()
                        let fork = try cache.fork(base)
                        defer { cache.removeSequence(fork) }
                        var report: CompressionReport?
                        if rate > 1 {
                            let compressor = try Compressor(configuration: s.configuration(of: s.methods[methodIndex], rate: rate), registry: registry)
                            report = try compressor.compress(fork, cache: cache, trigger: .afterPrefill)
                        }
                        let keptKVs = cache.contextLengths(fork)
                        let residentBlocks = cache.residentBlocks(fork)
                        let needleKept = Self.keptPositions(
                            in: prompt.needleTokenOffset..<(prompt.needleTokenOffset + prompt.needleTokenCount), sequence: fork, cache: cache)
                        let generated = try decode(from: logits, sequence: fork, cache: cache, observer: observer, stopTokens: stopTokens)
                        let text = tokenizer.decode(generated, renderSpecial: false)
                        trials.append(
                            SweepTrial(
                                method: methodIndex, rate: rate, lengthIndex: lengthIndex, targetTokens: prompt.targetTokens,
                                promptIndex: indexInLength, seed: prompt.seed, promptTokens: prompt.tokens.count, answer: prompt.answer,
                                generated: text, generatedTokens: generated, correct: prompt.isAnsweredBy(text),
                                residentBlocks: residentBlocks, residentBytes: residentBlocks * cache.layout.bytesPerBlock,
                                keptKVs: keptKVs, needleTokenOffset: prompt.needleTokenOffset, needleTokenCount: prompt.needleTokenCount,
                                needleKVsKept: needleKept, depth: prompt.depth, budgetHeld: report?.budgetHeld ?? true,
                                seconds: Date().timeIntervalSince(trialStart)))
                        progress(
                            SweepProgress(
                                trialsDone: trials.count, trialCount: s.trialCount, promptsDone: promptIndex, promptCount: allPrompts.count,
                                seconds: Date().timeIntervalSince(started), latest: trials.last!))
                    }
                }
            }
        }
        trials.sort { ($0.lengthIndex, $0.promptIndex, $0.method, $0.rate) < ($1.lengthIndex, $1.promptIndex, $1.method, $1.rate) }
        return SweepResults(
            specification: s, layers: c.layers, kvHeads: c.kvHeads, blockSize: s.blockSize, bytesPerBlock: cache.layout.bytesPerBlock,
            trials: trials, examplePrompt: allPrompts.first?.text ?? "", seconds: Date().timeIntervalSince(started))
    }

    /// Greedy continuation: the first token from the prefill's logits, then decode steps on `sequence`
    /// until `maxNewTokens` tokens or a stop token (not included).
    func decode(
        from prefillLogits: [Float], sequence: SequenceID, cache: PagedKVCache, observer: MetricCollector, stopTokens: Set<Int32>
    ) throws -> [Int32] {
        var sampler = Sampler.greedy
        var generated: [Int32] = []
        var next = sampler.sample(prefillLogits)
        while !stopTokens.contains(next) {
            generated.append(next)
            if generated.count == specification.maxNewTokens { break }
            next = sampler.sample(try model.decode([(sequence, next)], cache: cache, observer: observer)[0])
        }
        return generated
    }

    /// KVs of token positions `positions` still held, summed over every (layer, KV head) of `sequence`.
    static func keptPositions(in positions: Range<Int>, sequence: SequenceID, cache: PagedKVCache) -> Int {
        var kept = 0
        for layer in 0..<cache.layout.layers {
            for head in 0..<cache.layout.kvHeads {
                let view = cache.view(sequence, layer: layer, head: head)
                for i in 0..<view.length where positions.contains(Int(view.position(i))) { kept += 1 }
            }
        }
        return kept
    }

    struct ObservationKey: Hashable {
        let metric: PluginSpec
        let window: PluginSpec
    }
}

/// Where a running sweep stands.
public struct SweepProgress: Sendable {
    public let trialsDone: Int
    public let trialCount: Int
    /// Prompts finished before the current one.
    public let promptsDone: Int
    public let promptCount: Int
    public let seconds: Double
    public let latest: SweepTrial
}

/// One (prompt, method, rate) trial.
public struct SweepTrial: Sendable, Hashable {
    /// Index into the specification's methods.
    public let method: Int
    public let rate: Double
    /// Index into the specification's lengths, and that target length.
    public let lengthIndex: Int
    public let targetTokens: Int
    /// Index of the prompt among those of its length, and its seed.
    public let promptIndex: Int
    public let seed: UInt64
    public let promptTokens: Int
    public let answer: String
    public let generated: String
    public let generatedTokens: [Int32]
    public let correct: Bool
    /// Blocks (and bytes) the sequence holds after compression, before decoding.
    public let residentBlocks: Int
    public let residentBytes: Int
    /// KVs each (layer, KV head) keeps after compression: `[layers * kvHeads]`, index `layer * kvHeads + head`.
    public let keptKVs: [Int]
    public let needleTokenOffset: Int
    public let needleTokenCount: Int
    /// KVs of the needle's token positions still held, over all layers and heads (at most
    /// `needleTokenCount * layers * kvHeads`).
    public let needleKVsKept: Int
    public let depth: Double
    /// Whether the compression met its budget (false when protected KVs alone exceed it).
    public let budgetHeld: Bool
    /// Seconds for fork, compression and decoding (the shared prefill not included).
    public let seconds: Double
}

/// A finished sweep.
public struct SweepResults: Sendable {
    public let specification: SweepSpecification
    public let layers: Int
    public let kvHeads: Int
    public let blockSize: Int
    public let bytesPerBlock: Int
    /// Sorted by length, prompt, method, rate.
    public let trials: [SweepTrial]
    /// The text of the first prompt, for the record.
    public let examplePrompt: String
    public let seconds: Double
}
