import Foundation
import PagedKVCache
import Yams

/// Everything that defines a compression run: metric + window + policy + block size + budget +
/// protected window + sinks + when to compress. Codable (snake_case keys), loadable from YAML or JSON:
///
/// ```yaml
/// metric: {name: kvcompress, options: {norm: l2, aggregate: sum}}
/// window: {name: last, options: {queries: 8, pool_kernel: 7}}
/// policy: kvcompress
/// block_size: {name: fixed, options: {size: 16}}
/// budget: {rate: 8}
/// protected_window: 32
/// sinks: 0
/// schedule: {after_prefill: true, interval: 0, under_memory_pressure: true}
/// scorer: {name: kvzip}      # optional: scores from a KVScorer instead of the metric; policy = allocation
/// kv_type: f16                # optional: the cache's key/value element type, f16 (default) or f32
/// ```
/// Omitted keys take the defaults below; unknown keys are errors (a typo must not silently do nothing).
public struct CompressionConfiguration: Sendable, Hashable, Codable {
    public var metric: PluginSpec = "kvcompress"
    public var window: PluginSpec = "last"
    public var policy: PluginSpec = "kvcompress"
    public var blockSize: PluginSpec = "fixed"
    public var budget: CompressionBudget
    /// The last `protectedWindow` token positions are never evicted (per-request default 32 in the reference API).
    public var protectedWindow: Int = 32
    /// The first `sinks` token positions are never evicted.
    public var sinks: Int = 0
    public var schedule: CompressionSchedule = .init()
    /// A scorer (`KVScorer`) whose scores the policy allocates instead of the metric's; nil: the metric.
    public var scorer: PluginSpec?
    /// The element type of the cache's keys and values (`kv_type`); nil: the default, half floats
    /// (``KVStorageType/default``). Not a compression setting, but part of what a run computes, so it
    /// lives here: a sweep can vary it like any other key, and a run records it with the rest. Left
    /// nil unless given, so configurations written before it existed encode (and hash) as they did.
    public var kvType: KVStorageType?

    public init(
        metric: PluginSpec = "kvcompress", window: PluginSpec = "last", policy: PluginSpec = "kvcompress",
        blockSize: PluginSpec = "fixed", budget: CompressionBudget, protectedWindow: Int = 32, sinks: Int = 0,
        schedule: CompressionSchedule = .init(), scorer: PluginSpec? = nil, kvType: KVStorageType? = nil
    ) {
        self.metric = metric
        self.window = window
        self.policy = policy
        self.blockSize = blockSize
        self.budget = budget
        self.protectedWindow = protectedWindow
        self.sinks = sinks
        self.schedule = schedule
        self.scorer = scorer
        self.kvType = kvType
    }

    /// The cache element type this configuration runs with: `kv_type`, else half floats.
    public var resolvedKVType: KVStorageType { kvType ?? .default }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case metric, window, policy, budget, sinks, schedule, scorer
        case blockSize = "block_size"
        case protectedWindow = "protected_window"
        case kvType = "kv_type"
    }

    /// The file's top-level keys (`metric`, `window`, `block_size`, ...): what a sweep's key paths start with.
    public static var keys: [String] { CodingKeys.allCases.map(\.rawValue) }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: Set(CodingKeys.allCases.map(\.rawValue)), context: "configuration")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard c.contains(.budget) else {
            throw CompressionError.invalidConfiguration("no budget: add `budget: {rate: R}`, `{max_cache_tokens: N}` or `{paper_rate: R}`")
        }
        budget = try c.decode(CompressionBudget.self, forKey: .budget)
        metric = try c.decodeIfPresent(PluginSpec.self, forKey: .metric) ?? metric
        window = try c.decodeIfPresent(PluginSpec.self, forKey: .window) ?? window
        policy = try c.decodeIfPresent(PluginSpec.self, forKey: .policy) ?? policy
        blockSize = try c.decodeIfPresent(PluginSpec.self, forKey: .blockSize) ?? blockSize
        protectedWindow = try c.decodeIfPresent(Int.self, forKey: .protectedWindow) ?? protectedWindow
        sinks = try c.decodeIfPresent(Int.self, forKey: .sinks) ?? sinks
        schedule = try c.decodeIfPresent(CompressionSchedule.self, forKey: .schedule) ?? schedule
        scorer = try c.decodeIfPresent(PluginSpec.self, forKey: .scorer)
        if let text = try c.decodeIfPresent(String.self, forKey: .kvType) {
            do { kvType = try KVStorageType(parsing: text, key: "kv_type") } catch {
                throw CompressionError.invalidConfiguration("kv_type must be one of \(KVStorageType.allowedValues) (got '\(text)')")
            }
        }
    }

    // MARK: - Loading and saving

    /// Loads a configuration from a `.json`, `.yaml` or `.yml` file.
    public static func load(path: String) throws(CompressionError) -> CompressionConfiguration {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .unreadableConfiguration(path: path, why: FileManager.default.fileExists(atPath: path) ? "\(error.localizedDescription)" : "no such file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw .unreadableConfiguration(path: path, why: "not UTF-8 text") }
        let lower = path.lowercased()
        do {
            if lower.hasSuffix(".json") { return try fromJSON(text) }
            if lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") { return try fromYAML(text) }
        } catch {
            if case .unreadableConfiguration(_, let why) = error { throw .unreadableConfiguration(path: path, why: why) }
            throw error
        }
        throw .unreadableConfiguration(path: path, why: "unknown extension; use .json, .yaml or .yml")
    }

    public static func fromJSON(_ text: String) throws(CompressionError) -> CompressionConfiguration {
        do { return try JSONDecoder().decode(Self.self, from: Data(text.utf8)) } catch { throw wrap(error, format: "JSON") }
    }

    public static func fromYAML(_ text: String) throws(CompressionError) -> CompressionConfiguration {
        do { return try YAMLDecoder().decode(Self.self, from: text) } catch { throw wrap(error, format: "YAML") }
    }

    public func toJSON() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public func toYAML() throws -> String { try YAMLEncoder().encode(self) }

    /// Keeps our own errors, turns decoding errors into a message that names the offending key path.
    private static func wrap(_ error: any Error, format: String) -> CompressionError {
        if let own = error as? CompressionError { return own }
        if let budget = error as? BudgetError { return .invalidConfiguration(budget.description) }
        // Yams wraps errors thrown by our decoders in `dataCorrupted`; surface ours.
        if case .dataCorrupted(let ctx) = error as? DecodingError, let own = ctx.underlyingError as? CompressionError { return own }
        if case .dataCorrupted(let ctx) = error as? DecodingError, let budget = ctx.underlyingError as? BudgetError {
            return .invalidConfiguration(budget.description)
        }
        func path(_ keys: [any CodingKey]) -> String {
            keys.isEmpty ? "top level" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        if let decoding = error as? DecodingError {
            switch decoding {
            case .typeMismatch(let type, let ctx):
                return .unreadableConfiguration(path: "", why: "\(format): at \(path(ctx.codingPath)), expected \(type): \(ctx.debugDescription)")
            case .valueNotFound(_, let ctx), .dataCorrupted(let ctx):
                return .unreadableConfiguration(path: "", why: "\(format): at \(path(ctx.codingPath)): \(ctx.debugDescription)")
            case .keyNotFound(let key, let ctx):
                return .unreadableConfiguration(path: "", why: "\(format): missing key '\(key.stringValue)' at \(path(ctx.codingPath))")
            @unknown default: break
            }
        }
        return .unreadableConfiguration(path: "", why: "\(format): \(error)")
    }

    // MARK: - Validation

    /// Checks the configuration and builds its plug-ins; every problem is a ``CompressionError`` saying why.
    public func validate(registry: PluginRegistry) throws -> CompressionPlugins {
        if protectedWindow < 0 { throw CompressionError.invalidConfiguration("protected_window must be ≥ 0 (got \(protectedWindow))") }
        if sinks < 0 { throw CompressionError.invalidConfiguration("sinks must be ≥ 0 (got \(sinks))") }
        if let why = budget.impossibility(protectedWindow: protectedWindow, sinks: sinks) {
            throw CompressionError.invalidConfiguration(why)
        }
        try schedule.validate()
        return CompressionPlugins(
            metric: try registry.makeMetric(metric),
            window: try registry.makeWindow(window),
            policy: try registry.makePolicy(policy),
            blockSize: try registry.makeBlockSizePolicy(blockSize),
            scorer: try scorer.map(registry.makeScorer))
    }

    /// Checks the per-layer block sizes a block-size policy chose for a model.
    public static func validateBlockSizes(_ sizes: [Int], layers: Int) throws(CompressionError) {
        guard sizes.count == layers else {
            throw .invalidConfiguration("the block size policy gave \(sizes.count) sizes for \(layers) layers")
        }
        for (layer, size) in sizes.enumerated() where !CacheLayout.supportedBlockSizes.contains(size) {
            throw .invalidConfiguration(
                "block size \(size) (layer \(layer)) is unsupported; choose one of \(CacheLayout.supportedBlockSizes.map(String.init).joined(separator: ", "))")
        }
    }
}

/// When to compress (KV-Compress §4): after each prefill, every `interval` decode steps, and whenever the
/// block pool cannot fit the next step.
public struct CompressionSchedule: Sendable, Hashable, Codable {
    public var afterPrefill: Bool = true
    /// Compress every `interval` decode steps; 0 = never on a timer.
    public var interval: Int = 0
    public var underMemoryPressure: Bool = true

    public init(afterPrefill: Bool = true, interval: Int = 0, underMemoryPressure: Bool = true) {
        self.afterPrefill = afterPrefill
        self.interval = interval
        self.underMemoryPressure = underMemoryPressure
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case interval
        case afterPrefill = "after_prefill"
        case underMemoryPressure = "under_memory_pressure"
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: Set(CodingKeys.allCases.map(\.rawValue)), context: "schedule")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        afterPrefill = try c.decodeIfPresent(Bool.self, forKey: .afterPrefill) ?? afterPrefill
        interval = try c.decodeIfPresent(Int.self, forKey: .interval) ?? interval
        underMemoryPressure = try c.decodeIfPresent(Bool.self, forKey: .underMemoryPressure) ?? underMemoryPressure
    }

    func validate() throws(CompressionError) {
        if interval < 0 { throw .invalidConfiguration("schedule.interval must be ≥ 0 decode steps (0 = off), got \(interval)") }
    }
}

/// The plug-ins a validated configuration names.
public struct CompressionPlugins: Sendable {
    public let metric: any ImportanceMetric
    public let window: any AggregationWindow
    public let policy: any EvictionPolicy
    public let blockSize: any BlockSizePolicy
    /// Scores instead of the metric's, when the configuration names a scorer.
    public let scorer: (any KVScorer)?
}
