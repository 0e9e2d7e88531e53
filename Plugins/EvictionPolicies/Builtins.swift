import KVCompress

/// Registers KV-Compress's own plug-ins through the public registry API, exactly as a user's plug-in
/// would: metric `kvcompress`, windows `last` and `full`, policies `kvcompress` and `uniform`, block-size
/// policies `fixed` and `per_layer`.
public func registerBuiltins(in registry: PluginRegistry) {
    registry.register(metric: "kvcompress", summary: "attention paid by the window's queries; norm l1|l2 (l2), aggregate sum|avg (sum)") {
        try AttentionMetric(options: $0)
    }
    registry.register(window: "last", summary: "last `queries` prompt queries (8), decode queries (decode: true), buffer (0), max-pool pool_kernel (7)") {
        try LastQueriesWindow(options: $0)
    }
    registry.register(window: "full", summary: "every prompt query (KVC-full), decode queries, buffer, no max-pool unless pool_kernel is set") {
        try FullPromptWindow(options: $0)
    }
    registry.register(policy: "kvcompress", summary: "KV-Compress: lowest virtual blocks over all layers and heads; even_layer_evict (false)") {
        try KVCompressPolicy(options: $0)
    }
    registry.register(policy: "uniform", summary: "same metric, budget split evenly over heads, whole blocks") { _ in UniformPolicy() }
    registry.register(blockSize: "fixed", summary: "one block size `size` (16) for every layer") { try FixedBlockSize(options: $0) }
    registry.register(blockSize: "per_layer", summary: "block size per layer: `sizes` \"64,32,16\" (last repeats)") {
        try PerLayerBlockSize(options: $0)
    }
}

extension PluginRegistry {
    /// A registry holding KV-Compress's built-in plug-ins.
    public static func withBuiltins() -> PluginRegistry {
        let registry = PluginRegistry()
        registerBuiltins(in: registry)
        return registry
    }
}
