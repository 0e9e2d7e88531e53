/// A compression method as one name (a preset): the metric, window, eviction policy and scorer it needs
/// together. The built-in methods are registered as presets by `registerBaselines(in:)`; a user
/// registers their own from their code the same way, `registry.register(preset: CompressionMethod(…))`,
/// and every registered preset is selectable with `--compression NAME` and sweepable by name.
///
/// The registry holds plug-ins of four separate kinds; a published method (H2O, SnapKV, TOVA, …) is a
/// combination of them — H2O is the L1 attention metric under the full-prompt-plus-decode window with a
/// per-head heavy-hitter/recent split — so `kvc generate --compression h2o` needs this mapping from a
/// method name to a configuration. KV-Compress itself is the method `kvcompress` (all defaults).
public struct CompressionMethod: Sendable, Hashable {
    public let name: String
    /// One line for listings: what the method keeps and where it comes from.
    public let summary: String
    public let metric: PluginSpec
    public let window: PluginSpec
    public let policy: PluginSpec
    /// A scorer whose scores the policy allocates instead of the metric's (`KVScorer`), if any.
    public let scorer: PluginSpec?

    public init(name: String, summary: String, metric: PluginSpec, window: PluginSpec, policy: PluginSpec, scorer: PluginSpec? = nil) {
        self.name = name
        self.summary = summary
        self.metric = metric
        self.window = window
        self.policy = policy
        self.scorer = scorer
    }

    /// A configuration running this method under `budget`; the rest takes ``CompressionConfiguration``'s defaults.
    public func configuration(
        budget: CompressionBudget, blockSize: PluginSpec = "fixed", protectedWindow: Int = 32, sinks: Int = 0,
        schedule: CompressionSchedule = .init()
    ) -> CompressionConfiguration {
        CompressionConfiguration(
            metric: metric, window: window, policy: policy, blockSize: blockSize, budget: budget,
            protectedWindow: protectedWindow, sinks: sinks, schedule: schedule, scorer: scorer)
    }

    /// This method with `options` merged into its policy's options (e.g. `["seed": 7]` for `random`).
    public func withPolicyOptions(_ options: [String: OptionValue]) -> CompressionMethod {
        CompressionMethod(
            name: name, summary: summary, metric: metric, window: window,
            policy: PluginSpec(policy.name, options: policy.options.merging(options) { $1 }), scorer: scorer)
    }
}

extension CompressionMethod {
    /// SnapKV's observation: the last 32 prompt queries, max-pooled with kernel 7, no decode queries
    /// (SnapKV compresses the prompt once), plain (L1) probabilities.
    static let snapKVMetric = PluginSpec("kvcompress", options: ["norm": "l1"])
    static let snapKVWindow = PluginSpec("last", options: ["queries": 32, "pool_kernel": 7, "decode": false])

    /// KV-Compress with its defaults: the reference point the baselines are compared with.
    public static let kvCompress = CompressionMethod(
        name: "kvcompress", summary: "KV-Compress (arXiv 2410.00161): variable per-head rates, lowest virtual blocks over all heads",
        metric: "kvcompress", window: "last", policy: "kvcompress")

    /// The peers' methods, each a combination of registered plug-ins (``registerBaselines(in:)``).
    public static let baselines: [CompressionMethod] = [
        CompressionMethod(
            name: "streaming-llm", summary: "StreamingLLM (arXiv 2309.17453): attention sinks + most recent, same budget per head",
            metric: "kvcompress", window: "none", policy: "streaming-llm"),
        CompressionMethod(
            name: "h2o", summary: "H2O (arXiv 2306.14048): heavy hitters of attention from every query + recent, same budget per head",
            metric: PluginSpec("kvcompress", options: ["norm": "l1"]), window: PluginSpec("full", options: ["decode": true]),
            policy: "h2o"),
        CompressionMethod(
            name: "snapkv", summary: "SnapKV (arXiv 2404.14469): last-window attention, max-pooled, same budget per head",
            metric: snapKVMetric, window: snapKVWindow, policy: "snapkv"),
        CompressionMethod(
            name: "pyramidkv", summary: "PyramidKV (arXiv 2406.02069): SnapKV scores, layer budgets falling linearly with depth",
            metric: snapKVMetric, window: snapKVWindow, policy: "pyramidkv"),
        CompressionMethod(
            name: "adakv", summary: "Ada-KV (arXiv 2407.11550): SnapKV scores, layer budget shared across heads by top-k, floor α",
            metric: snapKVMetric, window: snapKVWindow, policy: "adakv"),
        CompressionMethod(
            name: "tova", summary: "TOVA (arXiv 2401.06104): latest query's attention averaged over the layer's heads",
            metric: "tova", window: PluginSpec("last", options: ["queries": 1, "pool_kernel": 0, "decode": true]),
            policy: "tova"),
        CompressionMethod(
            name: "key-norm", summary: "Key-norm (arXiv 2406.11430): evict the largest-norm keys, same budget per head",
            metric: "kvcompress", window: "none", policy: "key-norm"),
        CompressionMethod(
            name: "keydiff", summary: "KeyDiff (arXiv 2504.15364): evict keys most similar to the head's mean key",
            metric: "kvcompress", window: "none", policy: "keydiff"),
        CompressionMethod(
            name: "random", summary: "Random: seeded uniform scores (option seed), same budget per head",
            metric: "kvcompress", window: "none", policy: "random"),
        CompressionMethod(
            name: "kvzip", summary: "KVzip (arXiv 2505.23416): reconstruction attention, lowest KVs over all layers and heads (query-agnostic)",
            metric: "kvcompress", window: "none", policy: "kvcompress", scorer: "kvzip"),
        CompressionMethod(
            name: "expected-attention",
            summary: "Expected Attention (arXiv 2510.00636): expected attention of future queries × ‖v‖, head-adaptive (AdaKV, ε 0.01, as kvpress's leaderboard)",
            metric: "kvcompress", window: PluginSpec("last", options: ["queries": 128, "pool_kernel": 0, "decode": false]), policy: "adakv",
            scorer: PluginSpec("expected-attention", options: ["epsilon": 0.01])),
        CompressionMethod(
            name: "lagkv", summary: "LagKV (arXiv 2504.04704): lag-relative key/value deviation, same budget per head (attention-free)",
            metric: "kvcompress", window: "none", policy: "uniform", scorer: "lagkv"),
        CompressionMethod(
            name: "defensive-kv", summary: "DefensiveKV (arXiv 2510.13334): worst-case (max) window attention, head-adaptive budgets (no W_O factor)",
            metric: PluginSpec("kvcompress", options: ["norm": "l1", "aggregate": "max"]),
            window: PluginSpec("last", options: ["queries": 32, "pool_kernel": 5, "decode": false]), policy: "adakv"),
    ]

    /// KV-Compress, its uniform ablation and every baseline, by name.
    public static var all: [CompressionMethod] {
        [kvCompress, CompressionMethod(
            name: "uniform", summary: "KV-Compress's metric with the budget split evenly over heads",
            metric: "kvcompress", window: "last", policy: "uniform")] + baselines
    }

    /// The built-in method called `name`, or nil (a registry also knows the user's: `PluginRegistry.preset(named:)`).
    public static func named(_ name: String) -> CompressionMethod? { all.first { $0.name == name } }
}
