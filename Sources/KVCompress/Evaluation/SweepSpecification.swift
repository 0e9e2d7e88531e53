import Foundation
import PagedKVCache
import Yams

/// What a sweep runs (`kvc sweep --spec FILE`): a retrieval task at some prompt lengths, a number of
/// seeded prompts per length, compression rates, and the methods compared, each a compression
/// configuration without its budget (the sweep sets the budget from each rate). YAML:
///
/// ```yaml
/// task: passkey                 # passkey | prose_needle
/// corpus: ../data/python-reference-prose.txt   # prose_needle only; relative to this file
/// lengths: [1200, 3500]         # target prompt lengths in tokens (each prompt is at most this long)
/// prompts: 20                   # seeded prompts per length: seeds seed, seed+1, …
/// seed: 0
/// rates: [1, 2, 4, 8, 16, 32, 64]   # 1 = no compression (the full-cache answer)
/// budget: rate                  # rate | paper_rate: how a rate becomes a budget (CompressionBudget)
/// max_new_tokens: 8             # greedy tokens in which the 5 digits must appear
/// block_size: 16                # KVs per cache block (and eviction unit)
/// metric: kvcompress            # defaults for every method …
/// window: {name: last, options: {queries: 8}}
/// protected_window: 32
/// sinks: 0
/// methods:                      # … which a method may override
///   - {name: kvcompress, policy: kvcompress}
///   - {name: kvcompress+even_layer_evict, policy: {name: kvcompress, options: {even_layer_evict: true}}}
///   - {name: uniform, policy: uniform}
/// ```
///
/// Unknown keys are errors, as in ``CompressionConfiguration`` (a typo must not silently do nothing).
public struct SweepSpecification: Sendable, Hashable, Codable {
    public enum TaskKind: String, Sendable, Hashable, Codable, CaseIterable {
        case passkey
        case proseNeedle = "prose_needle"
    }

    /// How a rate becomes a ``CompressionBudget``.
    public enum BudgetKind: String, Sendable, Hashable, Codable, CaseIterable {
        /// ``CompressionBudget/rate(_:)``: keep about 1/r of the compressible KVs.
        case rate
        /// ``CompressionBudget/paperRate(_:)``: the paper experiments' `max(128, …)` token budget.
        case paperRate = "paper_rate"
    }

    public var task: TaskKind
    /// Corpus file of `prose_needle`, as written in the file (relative paths are resolved against
    /// ``baseDirectory``).
    public var corpus: String?
    public var lengths: [Int]
    public var prompts: Int
    public var seed: UInt64 = 0
    public var rates: [Double]
    public var budget: BudgetKind = .rate
    public var maxNewTokens: Int = 8
    public var blockSize: Int = 16
    public var metric: PluginSpec = "kvcompress"
    public var window: PluginSpec = "last"
    public var protectedWindow: Int = 32
    public var sinks: Int = 0
    public var methods: [SweepMethod]
    /// Directory relative paths in the specification are resolved against (the spec file's); not part of the file.
    public var baseDirectory: String = "."

    public init(
        task: TaskKind, corpus: String? = nil, lengths: [Int], prompts: Int, seed: UInt64 = 0, rates: [Double],
        budget: BudgetKind = .rate, maxNewTokens: Int = 8, blockSize: Int = 16, metric: PluginSpec = "kvcompress",
        window: PluginSpec = "last", protectedWindow: Int = 32, sinks: Int = 0, methods: [SweepMethod], baseDirectory: String = "."
    ) {
        self.task = task
        self.corpus = corpus
        self.lengths = lengths
        self.prompts = prompts
        self.seed = seed
        self.rates = rates
        self.budget = budget
        self.maxNewTokens = maxNewTokens
        self.blockSize = blockSize
        self.metric = metric
        self.window = window
        self.protectedWindow = protectedWindow
        self.sinks = sinks
        self.methods = methods
        self.baseDirectory = baseDirectory
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case task, corpus, lengths, prompts, seed, rates, budget, metric, window, sinks, methods
        case maxNewTokens = "max_new_tokens"
        case blockSize = "block_size"
        case protectedWindow = "protected_window"
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: Set(CodingKeys.allCases.map(\.rawValue)), context: "sweep specification")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        for required in [CodingKeys.task, .lengths, .prompts, .rates, .methods] where !c.contains(required) {
            throw EvaluationError.invalidSpecification("missing key '\(required.rawValue)'")
        }
        let taskName = try c.decode(String.self, forKey: .task)
        guard let task = TaskKind(rawValue: taskName) else {
            throw EvaluationError.invalidSpecification(
                "unknown task '\(taskName)'; known tasks: \(TaskKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.task = task
        corpus = try c.decodeIfPresent(String.self, forKey: .corpus)
        lengths = try c.decode([Int].self, forKey: .lengths)
        prompts = try c.decode(Int.self, forKey: .prompts)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        rates = try c.decode([Double].self, forKey: .rates)
        if let name = try c.decodeIfPresent(String.self, forKey: .budget) {
            guard let kind = BudgetKind(rawValue: name) else {
                throw EvaluationError.invalidSpecification(
                    "unknown budget '\(name)'; use one of \(BudgetKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            budget = kind
        }
        maxNewTokens = try c.decodeIfPresent(Int.self, forKey: .maxNewTokens) ?? maxNewTokens
        blockSize = try c.decodeIfPresent(Int.self, forKey: .blockSize) ?? blockSize
        metric = try c.decodeIfPresent(PluginSpec.self, forKey: .metric) ?? metric
        window = try c.decodeIfPresent(PluginSpec.self, forKey: .window) ?? window
        protectedWindow = try c.decodeIfPresent(Int.self, forKey: .protectedWindow) ?? protectedWindow
        sinks = try c.decodeIfPresent(Int.self, forKey: .sinks) ?? sinks
        methods = try c.decode([SweepMethod].self, forKey: .methods)
    }

    // MARK: - Loading

    /// Loads and checks a YAML (or JSON, which is YAML) specification; relative paths in it are
    /// resolved against the file's directory.
    public static func load(path: String, registry: PluginRegistry) throws(EvaluationError) -> SweepSpecification {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .unreadableSpecification(
                path: path, why: FileManager.default.fileExists(atPath: path) ? error.localizedDescription : "no such file")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            return try fromYAML(text, baseDirectory: directory, registry: registry)
        } catch .invalidSpecification(let why) {
            throw .unreadableSpecification(path: path, why: why)
        }
    }

    /// Parses and checks a specification.
    public static func fromYAML(_ text: String, baseDirectory: String = ".", registry: PluginRegistry) throws(EvaluationError) -> SweepSpecification {
        var specification: SweepSpecification
        do {
            specification = try YAMLDecoder().decode(Self.self, from: text)
        } catch {
            throw .invalidSpecification(Self.explain(error))
        }
        specification.baseDirectory = baseDirectory
        try specification.validate(registry: registry)
        return specification
    }

    private static func explain(_ error: any Error) -> String {
        var error = error
        // Yams wraps errors thrown by our decoders in `dataCorrupted`; surface ours.
        if case .dataCorrupted(let ctx) = error as? DecodingError, let inner = ctx.underlyingError { error = inner }
        if let own = error as? EvaluationError, case .invalidSpecification(let why) = own { return why }
        if let own = error as? CompressionError { return own.description }
        func path(_ keys: [any CodingKey]) -> String {
            keys.isEmpty ? "top level" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        if let decoding = error as? DecodingError {
            switch decoding {
            case .typeMismatch(let type, let ctx): return "at \(path(ctx.codingPath)), expected \(type)"
            case .valueNotFound(let type, let ctx): return "at \(path(ctx.codingPath)), expected \(type)"
            case .dataCorrupted(let ctx): return "at \(path(ctx.codingPath)): \(ctx.debugDescription)"
            case .keyNotFound(let key, let ctx): return "missing key '\(key.stringValue)' at \(path(ctx.codingPath))"
            @unknown default: break
            }
        }
        return "\(error)"
    }

    // MARK: - Validation

    /// Checks every field and builds every method's plug-ins once, so a bad specification fails
    /// before any prompt is prefilled.
    public func validate(registry: PluginRegistry) throws(EvaluationError) {
        func invalid(_ why: String) -> EvaluationError { .invalidSpecification(why) }
        guard !lengths.isEmpty else { throw invalid("lengths is empty; give target prompt lengths in tokens, e.g. [1200, 3500]") }
        if let bad = lengths.first(where: { $0 < 16 }) { throw invalid("prompt length \(bad) is too short (at least 16 tokens)") }
        guard Set(lengths).count == lengths.count else { throw invalid("lengths has duplicates: \(lengths)") }
        guard prompts >= 1 else { throw invalid("prompts must be at least 1 (got \(prompts))") }
        guard !rates.isEmpty else { throw invalid("rates is empty; give compression rates ≥ 1, e.g. [1, 2, 4, 8]") }
        if let bad = rates.first(where: { !($0 >= 1) || !$0.isFinite }) {
            throw invalid("compression rate \(bad) is not a finite number ≥ 1 (1 = no compression)")
        }
        guard Set(rates).count == rates.count else { throw invalid("rates has duplicates: \(rates)") }
        guard (1...256).contains(maxNewTokens) else { throw invalid("max_new_tokens must be in 1...256 (got \(maxNewTokens))") }
        guard CacheLayout.supportedBlockSizes.contains(blockSize) else {
            throw invalid(
                "block_size \(blockSize) is unsupported; choose one of \(CacheLayout.supportedBlockSizes.map(String.init).joined(separator: ", "))")
        }
        switch task {
        case .passkey:
            if corpus != nil { throw invalid("corpus is only read by task prose_needle, not passkey") }
        case .proseNeedle:
            guard let path = corpusPath else { throw invalid("task prose_needle needs `corpus: PATH` (a text file of blank-line separated paragraphs)") }
            guard FileManager.default.isReadableFile(atPath: path) else { throw invalid("corpus \(path) is not a readable file") }
        }
        guard !methods.isEmpty else { throw invalid("methods is empty; name at least one compression method") }
        var seen: Set<String> = []
        for method in methods {
            guard !method.name.isEmpty else { throw invalid("a method has an empty name") }
            guard seen.insert(method.name).inserted else { throw invalid("method name '\(method.name)' appears twice") }
            for rate in rates where rate > 1 {
                do { _ = try Compressor(configuration: configuration(of: method, rate: rate), registry: registry) } catch {
                    throw invalid("method '\(method.name)' at rate \(rate): \(error)")
                }
            }
        }
    }

    /// The corpus path resolved against ``baseDirectory``.
    public var corpusPath: String? {
        guard let corpus else { return nil }
        return corpus.hasPrefix("/") ? corpus : URL(fileURLWithPath: baseDirectory).appendingPathComponent(corpus).standardized.path
    }

    /// The compression configuration of `method` at compression rate `rate` (> 1; rate 1 is no compression).
    public func configuration(of method: SweepMethod, rate: Double) -> CompressionConfiguration {
        CompressionConfiguration(
            metric: method.metric ?? metric, window: method.window ?? window, policy: method.policy,
            blockSize: PluginSpec("fixed", options: ["size": .int(blockSize)]),
            budget: budget == .rate ? .rate(rate) : .paperRate(rate),
            protectedWindow: method.protectedWindow ?? protectedWindow, sinks: method.sinks ?? sinks,
            schedule: CompressionSchedule(afterPrefill: true, interval: 0, underMemoryPressure: false))
    }

    /// The seed of prompt `index` (0-based) of each length.
    public func seed(ofPrompt index: Int) -> UInt64 { seed &+ UInt64(index) }

    /// The task generator the specification names.
    public func makeTask() throws(EvaluationError) -> any NeedleTask {
        switch task {
        case .passkey: PasskeyTask()
        case .proseNeedle: try ProseNeedleTask(corpusPath: corpusPath ?? "")
        }
    }

    /// Total trials: lengths × prompts × methods × rates.
    public var trialCount: Int { lengths.count * prompts * methods.count * rates.count }
}

/// One compared method: a name and a compression configuration without budget; unset fields take
/// the specification's defaults.
public struct SweepMethod: Sendable, Hashable, Codable {
    public var name: String
    public var policy: PluginSpec
    public var metric: PluginSpec?
    public var window: PluginSpec?
    public var protectedWindow: Int?
    public var sinks: Int?

    public init(
        name: String, policy: PluginSpec, metric: PluginSpec? = nil, window: PluginSpec? = nil, protectedWindow: Int? = nil,
        sinks: Int? = nil
    ) {
        self.name = name
        self.policy = policy
        self.metric = metric
        self.window = window
        self.protectedWindow = protectedWindow
        self.sinks = sinks
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, policy, metric, window, sinks
        case protectedWindow = "protected_window"
    }

    public init(from decoder: any Decoder) throws {
        let keys = try decoder.container(keyedBy: AnyCodingKey.self).allKeys.map(\.stringValue)
        if keys.contains("budget") {
            throw EvaluationError.invalidSpecification("a method has no budget of its own: the sweep's `rates` (and `budget`) set it")
        }
        try rejectUnknownKeys(in: decoder, known: Set(CodingKeys.allCases.map(\.rawValue)), context: "method")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard c.contains(.name) else { throw EvaluationError.invalidSpecification("a method has no `name`") }
        name = try c.decode(String.self, forKey: .name)
        guard c.contains(.policy) else {
            throw EvaluationError.invalidSpecification("method '\(name)' has no `policy` (e.g. kvcompress or uniform)")
        }
        policy = try c.decode(PluginSpec.self, forKey: .policy)
        metric = try c.decodeIfPresent(PluginSpec.self, forKey: .metric)
        window = try c.decodeIfPresent(PluginSpec.self, forKey: .window)
        protectedWindow = try c.decodeIfPresent(Int.self, forKey: .protectedWindow)
        sinks = try c.decodeIfPresent(Int.self, forKey: .sinks)
    }
}
