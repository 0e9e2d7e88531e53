import ArgumentParser
import EvictionPolicies
import KVCompress
import PagedKVCache

/// The KV-Compress flags shared by `kvc generate` and `kvc compress`: which policy, which budget, and
/// the metric, window and schedule knobs (paper §3–4). A `--config FILE.yaml|json` gives a whole
/// ``CompressionConfiguration``; flags given on the command line override its fields.
///
/// The cache's `--block-size` (KV cache options) is the block size of the `fixed` block-size policy
/// unless the configuration file names another block-size policy.
struct CompressionOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Compression: none, kvcompress, uniform, a preset (streaming-llm, h2o, snapkv, pyramidkv, adakv, tova, key-norm, keydiff, random, kvzip, expected-attention, lagkv, defensive-kv, or a user's: its metric, window, policy and scorer), or any registered policy.",
            discussion: "Default: kvcompress when a budget or another compression flag is given (the configuration file's policy with --config), none otherwise.",
            valueName: "name"))
    var compression: String?

    @Option(help: ArgumentHelp("Compression rate r ≥ 1: keep about 1/r of the compressible KVs.", valueName: "r"))
    var rate: Double?

    @Option(help: ArgumentHelp("Token budget per head on average (rounded up to a whole block).", valueName: "n"))
    var maxCacheTokens: Int?

    @Option(help: ArgumentHelp("The paper's rate mapping: max_cache_tokens = max(128, ((len / r - 1) // 16) * 16).", valueName: "r"))
    var paperRate: Double?

    @Option(help: ArgumentHelp("Observed prompt queries: the last w (default 8), or 'full' for the whole prompt.", valueName: "w|full"))
    var window: String?

    @Option(help: ArgumentHelp("The last P positions are never evicted (default 32).", valueName: "P"))
    var protectedWindow: Int?

    @Option(help: ArgumentHelp("The first N positions are never evicted (attention sinks; default 0).", valueName: "N"))
    var sinks: Int?

    @Option(help: ArgumentHelp("Attention metric norm: l1, or l2 (squared probabilities, default).", valueName: "l1|l2"))
    var metric: String?

    @Option(help: ArgumentHelp("sum (default), or avg: divide by the number of queries that could see the KV.", valueName: "sum|avg"))
    var aggregate: String?

    @Option(help: ArgumentHelp("Max-pool kernel over positions for prefill scores (default 7).", valueName: "k"))
    var poolKernel: Int?

    @Flag(help: "Do not max-pool prefill scores.")
    var noMaxpool = false

    @Option(help: ArgumentHelp("A query does not score keys closer than b positions before it (default 0).", valueName: "b"))
    var buffer: Int?

    @Flag(help: "Score with prefill queries only; decode queries do not add to the metric.")
    var prefillMetricsOnly = false

    @Flag(help: "Evict the same number of blocks from every layer.")
    var evenLayerEvict = false

    @Flag(help: "Compress only the global layers; sliding-window layers (Gemma 3), bounded by their window, keep every KV.")
    var globalLayersOnly = false

    @Option(help: ArgumentHelp("Also compress every N decode steps (default: only after prefill and under memory pressure).", valueName: "N"))
    var interval: Int?

    @Option(
        help: ArgumentHelp(
            "Score KVs with a registered scorer (kvzip, lagkv, or a user's) and let the policy (--compression) allocate by those scores.",
            valueName: "name"))
    var scorer: String?

    @Option(
        name: .customLong("option"),
        help: ArgumentHelp(
            "Set an option of a plug-in of this configuration: NAME.KEY=VALUE (e.g. lagkv.lag_size=64, kvcompress.even_layer_evict=true); repeatable.",
            valueName: "name.key=value"))
    var pluginOptions: [String] = []

    @Option(help: ArgumentHelp("Compression configuration file (.yaml, .yml or .json); flags override its fields.", valueName: "file"), completion: .file())
    var config: String?

    /// Compression flags given on the command line, by name.
    private var givenFlags: [String] {
        [
            rate.map { _ in "--rate" }, maxCacheTokens.map { _ in "--max-cache-tokens" }, paperRate.map { _ in "--paper-rate" },
            window.map { _ in "--window" }, protectedWindow.map { _ in "--protected-window" }, sinks.map { _ in "--sinks" },
            metric.map { _ in "--metric" }, aggregate.map { _ in "--aggregate" }, poolKernel.map { _ in "--pool-kernel" },
            buffer.map { _ in "--buffer" }, interval.map { _ in "--interval" }, config.map { _ in "--config" }, scorer.map { _ in "--scorer" },
            pluginOptions.isEmpty ? nil : "--option",
            noMaxpool ? "--no-maxpool" : nil, evenLayerEvict ? "--even-layer-evict" : nil,
            prefillMetricsOnly ? "--prefill-metrics-only" : nil,
        ].compactMap { $0 }
    }

    /// Whether compression is on: a policy other than `none`, or any compression flag (which implies
    /// `kvcompress` when no policy is named).
    var isEnabled: Bool { compression.map { $0 != "none" } ?? !givenFlags.isEmpty }

    func validate() throws {
        let budgets = [rate != nil, maxCacheTokens != nil, paperRate != nil].filter { $0 }.count
        guard budgets <= 1 else { throw ValidationError("give one budget: --rate, --max-cache-tokens or --paper-rate") }
        if compression == "none", !givenFlags.isEmpty {
            throw ValidationError("\(givenFlags.joined(separator: ", ")) need(s) compression; drop --compression none")
        }
        guard isEnabled else { return }
        if let metric, !["l1", "l2"].contains(metric) { throw ValidationError("--metric must be l1 or l2 (got '\(metric)')") }
        if let aggregate, !["sum", "avg", "max"].contains(aggregate) { throw ValidationError("--aggregate must be sum, avg or max (got '\(aggregate)')") }
        if let window, window != "full", Int(window) == nil {
            throw ValidationError("--window must be a number of queries or 'full' (got '\(window)')")
        }
        // Assemble the configuration now so a bad file or --option surfaces at once; its plug-ins are
        // built once, by `resolve`, which the commands call before the model loads.
        _ = try configuration(cacheBlockSize: 16)
    }

    /// The configuration and its compressor (plug-ins built once, here); nil when compression is off.
    /// Every mistake is a `ValidationError` naming it. Call before loading the model.
    func resolve(
        cacheBlockSize: Int, kvType: KVStorageType? = nil, defaultPolicy: String = "kvcompress", required: Bool = false
    ) throws -> Compressor? {
        guard var c = try configuration(cacheBlockSize: cacheBlockSize, defaultPolicy: defaultPolicy, required: required) else { return nil }
        // `--kv-type` over the file's kv_type, recorded in the configuration so reports and dumps show it.
        if let kvType { c.kvType = kvType }
        do { return try Compressor(configuration: c, registry: CompressionRegistry.shared) } catch { throw ValidationError("\(error)") }
    }

    /// The configuration these flags describe (not yet checked against the registry); nil when off.
    /// - Parameters:
    ///   - cacheBlockSize: the cache's `--block-size`, used for the `fixed` block-size policy.
    ///   - defaultPolicy: the policy when neither `--compression` nor `--config` names one.
    ///   - required: build a configuration even when no compression flag was given (`kvc compress`).
    func configuration(cacheBlockSize: Int, defaultPolicy: String = "kvcompress", required: Bool = false) throws -> CompressionConfiguration? {
        guard isEnabled || required else { return nil }
        var c: CompressionConfiguration
        var fileNamesBlockSize = false
        if let config {
            do { c = try CompressionConfiguration.load(path: config) } catch { throw ValidationError(error.description) }
            fileNamesBlockSize = c.blockSize.name != "fixed" || !c.blockSize.options.isEmpty
        } else {
            guard let budget = budgetFromFlags else {
                throw ValidationError("compression needs a budget: --rate R, --max-cache-tokens N or --paper-rate R (or --config FILE)")
            }
            c = CompressionConfiguration(budget: budget)
        }
        if let budget = budgetFromFlags { c.budget = budget }
        if let name = compression ?? (config == nil ? defaultPolicy : nil) {
            // A baseline method brings the metric and window it needs (the flags below still override them).
            if let method = CompressionRegistry.shared.preset(named: name), name != "kvcompress", name != "uniform" {
                (c.metric, c.window, c.policy, c.scorer) = (method.metric, method.window, method.policy, method.scorer)
            } else {
                c.policy = PluginSpec(name)
            }
        }
        if evenLayerEvict { c.policy.options["even_layer_evict"] = .bool(true) }
        if !fileNamesBlockSize { c.blockSize = PluginSpec("fixed", options: ["size": .int(cacheBlockSize)]) }
        if let metric { c.metric.options["norm"] = .string(metric) }
        if let aggregate { c.metric.options["aggregate"] = .string(aggregate) }
        if let window {
            if window == "full" {
                if c.window.name != "full" { c.window = PluginSpec("full", options: c.window.options.filter { $0.key != "queries" }) }
            } else {
                if c.window.name != "last" { c.window = PluginSpec("last", options: c.window.options) }
                c.window.options["queries"] = .int(Int(window) ?? 0)
            }
        }
        if let poolKernel { c.window.options["pool_kernel"] = .int(poolKernel) }
        if noMaxpool { c.window.options["maxpool"] = .bool(false) }
        if let buffer { c.window.options["buffer"] = .int(buffer) }
        if prefillMetricsOnly { c.window.options["decode"] = .bool(false) }
        if let protectedWindow { c.protectedWindow = protectedWindow }
        if let sinks { c.sinks = sinks }
        if let interval { c.schedule.interval = interval }
        if let scorer { c.scorer = PluginSpec(scorer) }
        for assignment in pluginOptions { try Self.apply(assignment, to: &c) }
        return c
    }

    /// `NAME.KEY=VALUE`: sets KEY on every plug-in of `c` called NAME (metric, window, policy, block
    /// size, scorer); VALUE is read as a boolean, an integer, a number or else a string.
    static func apply(_ assignment: String, to c: inout CompressionConfiguration) throws {
        guard let equals = assignment.firstIndex(of: "="), let dot = assignment[..<equals].firstIndex(of: ".") else {
            throw ValidationError("--option \(assignment): expected NAME.KEY=VALUE, e.g. lagkv.lag_size=64")
        }
        let name = String(assignment[..<dot]), key = String(assignment[assignment.index(after: dot)..<equals])
        let text = String(assignment[assignment.index(after: equals)...])
        guard !key.isEmpty else { throw ValidationError("--option \(assignment): the option name after '\(name).' is empty") }
        let value: OptionValue =
            if let b = Bool(text) { .bool(b) } else if let i = Int(text) { .int(i) } else if let d = Double(text) { .double(d) } else { .string(text) }
        var matched = false
        func set(_ spec: inout PluginSpec) {
            if spec.name == name {
                spec.options[key] = value
                matched = true
            }
        }
        set(&c.metric)
        set(&c.window)
        set(&c.policy)
        set(&c.blockSize)
        if var scorer = c.scorer {
            set(&scorer)
            c.scorer = scorer
        }
        guard matched else {
            let names = [c.metric.name, c.window.name, c.policy.name, c.blockSize.name] + (c.scorer.map { [$0.name] } ?? [])
            throw ValidationError("--option \(assignment): no plug-in named '\(name)' in this configuration (it has \(names.joined(separator: ", ")))")
        }
    }

    private var budgetFromFlags: CompressionBudget? {
        if let rate { return .rate(rate) }
        if let maxCacheTokens { return .maxCacheTokens(maxCacheTokens) }
        if let paperRate { return .paperRate(paperRate) }
        return nil
    }
}

/// The plug-ins `kvc` knows: KV-Compress's own, the baselines and the user's (Plugins/EvictionPolicies/User),
/// registered through the public API like any other.
enum CompressionRegistry {
    static let shared = PluginRegistry.withAllPlugins()
}
