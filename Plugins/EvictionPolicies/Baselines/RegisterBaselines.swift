import KVCompress

/// Registers the baseline plug-ins through the public registry API, exactly as a user's plug-in would:
/// policies `streaming-llm`, `h2o`, `snapkv`, `pyramidkv`, `adakv`, `tova`, `key-norm`, `keydiff`,
/// `random`; metric `tova`; window `none`. ``CompressionMethod/baselines`` combines them with the
/// metric and window each method needs.
public func registerBaselines(in registry: PluginRegistry) {
    registry.register(policy: "streaming-llm", summary: "StreamingLLM: sinks (4) + most recent, same budget per head") {
        try StreamingLLMPolicy(options: $0)
    }
    registry.register(policy: "h2o", summary: "H2O: heavy hitters of the metric + recent_ratio (0.5) most recent, same budget per head") {
        try H2OPolicy(options: $0)
    }
    registry.register(policy: "snapkv", summary: "SnapKV: per-head top-k of the metric, same budget per head") { _ in SnapKVPolicy() }
    registry.register(policy: "pyramidkv", summary: "PyramidKV: per-head top-k, layer budgets falling linearly with depth; beta (20)") {
        try PyramidKVPolicy(options: $0)
    }
    registry.register(policy: "adakv", summary: "Ada-KV: layer budget shared by top-k over head × token, per-head floor alpha (0.2)") {
        try AdaKVPolicy(options: $0)
    }
    registry.register(policy: "tova", summary: "TOVA: metric averaged over the layer's heads by position, same KVs leave every head of a layer") {
        _ in TOVAPolicy()
    }
    registry.register(policy: "key-norm", summary: "Key-norm: evict the largest ‖k‖ first, same budget per head") { _ in KeyNormPolicy() }
    registry.register(policy: "keydiff", summary: "KeyDiff: evict keys most similar (cosine) to the head's mean key, same budget per head") {
        _ in KeyDiffPolicy()
    }
    registry.register(policy: "random", summary: "Random: seeded uniform scores per (layer, head, position); seed (0)") {
        try RandomPolicy(options: $0)
    }
    registry.register(metric: "tova", summary: "TOVA: the latest observed query's attention replaces the stored metric") { _ in TOVAMetric() }
    registry.register(window: "none", summary: "observe no query (attention-free methods)") { _ in NoObservationWindow() }
    for method in CompressionMethod.all { registry.register(preset: method) }
}

extension PluginRegistry {
    /// A registry holding KV-Compress's built-in plug-ins, every baseline and the user's plug-ins
    /// (``registerUserPlugins(in:)``).
    public static func withAllPlugins() -> PluginRegistry {
        let registry = PluginRegistry.withBuiltins()
        registerBaselines(in: registry)
        registerScorers(in: registry)
        registerUserPlugins(in: registry)
        return registry
    }
}
