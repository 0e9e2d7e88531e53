import Foundation

/// Plug-ins by name: metrics, windows, eviction policies and block-size policies, each built by a factory
/// from its options. The built-in plug-ins register themselves here exactly like a user's
/// (`EvictionPolicies.registerBuiltins(in:)`), so they have no powers a user's plug-in lacks.
///
/// Thread-safe; factories run on the caller's thread.
public final class PluginRegistry: @unchecked Sendable {
    public typealias Factory<P> = @Sendable (OptionReader) throws -> P

    /// One registered plug-in: its factory and a one-line summary for `--help` style listings.
    struct Entry<P> {
        let summary: String
        let factory: Factory<P>
    }

    private let lock = NSLock()
    private var metrics: [String: Entry<any ImportanceMetric>] = [:]
    private var windows: [String: Entry<any AggregationWindow>] = [:]
    private var policies: [String: Entry<any EvictionPolicy>] = [:]
    private var blockSizes: [String: Entry<any BlockSizePolicy>] = [:]
    private var scorers: [String: Entry<any KVScorer>] = [:]
    private var presets: [String: CompressionMethod] = [:]

    public init() {}

    // MARK: - Registering (a later registration under the same name replaces the earlier one)

    public func register(metric name: String, summary: String, factory: @escaping Factory<any ImportanceMetric>) {
        lock.withLock { metrics[name] = Entry(summary: summary, factory: factory) }
    }
    public func register(window name: String, summary: String, factory: @escaping Factory<any AggregationWindow>) {
        lock.withLock { windows[name] = Entry(summary: summary, factory: factory) }
    }
    public func register(policy name: String, summary: String, factory: @escaping Factory<any EvictionPolicy>) {
        lock.withLock { policies[name] = Entry(summary: summary, factory: factory) }
    }
    public func register(blockSize name: String, summary: String, factory: @escaping Factory<any BlockSizePolicy>) {
        lock.withLock { blockSizes[name] = Entry(summary: summary, factory: factory) }
    }
    /// A scorer: one `score` function, paired with any allocation policy (`scorer:` in a configuration).
    public func register(scorer name: String, summary: String, factory: @escaping Factory<any KVScorer>) {
        lock.withLock { scorers[name] = Entry(summary: summary, factory: factory) }
    }

    /// A preset: a named combination of metric, window, policy and scorer (with options), selectable
    /// with `--compression NAME` and by name in a sweep. A later registration replaces an earlier one.
    public func register(preset: CompressionMethod) {
        lock.withLock { presets[preset.name] = preset }
    }

    /// Every registered preset, sorted by name.
    public var registeredPresets: [CompressionMethod] { lock.withLock { presets.values.sorted { $0.name < $1.name } } }

    /// The preset called `name`, or nil.
    public func preset(named name: String) -> CompressionMethod? { lock.withLock { presets[name] } }

    // MARK: - Listing

    /// Registered names of one kind, sorted.
    public func names(_ kind: PluginKind) -> [String] {
        lock.withLock {
            switch kind {
            case .metric: metrics.keys.sorted()
            case .window: windows.keys.sorted()
            case .policy: policies.keys.sorted()
            case .blockSize: blockSizes.keys.sorted()
            case .scorer: scorers.keys.sorted()
            }
        }
    }

    /// `(name, summary)` of every plug-in of one kind, sorted by name.
    public func summaries(_ kind: PluginKind) -> [(name: String, summary: String)] {
        lock.withLock {
            let pairs: [(String, String)] =
                switch kind {
                case .metric: metrics.map { ($0.key, $0.value.summary) }
                case .window: windows.map { ($0.key, $0.value.summary) }
                case .policy: policies.map { ($0.key, $0.value.summary) }
                case .blockSize: blockSizes.map { ($0.key, $0.value.summary) }
                case .scorer: scorers.map { ($0.key, $0.value.summary) }
                }
            return pairs.sorted { $0.0 < $1.0 }.map { (name: $0.0, summary: $0.1) }
        }
    }

    // MARK: - Building

    public func makeMetric(_ spec: PluginSpec) throws -> any ImportanceMetric {
        try build(spec, kind: .metric, entry: lock.withLock { metrics[spec.name] })
    }
    public func makeWindow(_ spec: PluginSpec) throws -> any AggregationWindow {
        try build(spec, kind: .window, entry: lock.withLock { windows[spec.name] })
    }
    public func makePolicy(_ spec: PluginSpec) throws -> any EvictionPolicy {
        try build(spec, kind: .policy, entry: lock.withLock { policies[spec.name] })
    }
    public func makeBlockSizePolicy(_ spec: PluginSpec) throws -> any BlockSizePolicy {
        try build(spec, kind: .blockSize, entry: lock.withLock { blockSizes[spec.name] })
    }

    public func makeScorer(_ spec: PluginSpec) throws -> any KVScorer {
        try build(spec, kind: .scorer, entry: lock.withLock { scorers[spec.name] })
    }

    private func build<P>(_ spec: PluginSpec, kind: PluginKind, entry: Entry<P>?) throws -> P {
        guard let entry else { throw CompressionError.unknownPlugin(kind: kind, name: spec.name, known: names(kind)) }
        let reader = OptionReader(plugin: spec.name, values: spec.options)
        let plugin = try entry.factory(reader)
        try reader.rejectUnread()
        return plugin
    }
}
