import KVCompress

/// Registers the built-in scorers (`KVScorer`: one score per KV, allocated by any policy) through the
/// public registry API, exactly as a user's scorer would: `kvzip`, `lagkv`, `expected-attention`, `critical-kv`.
public func registerScorers(in registry: PluginRegistry) {
    registry.register(
        scorer: "kvzip", summary: "KVzip (arXiv 2505.23416): largest attention from a teacher-forced reconstruction of the document; repeat_turn (plain | chat)"
    ) { try KVzipScorer(options: $0) }
    registry.register(scorer: "lagkv", summary: "LagKV (arXiv 2504.04704): key/value deviation relative to the next chunk; lag_size (128), sinks (4)") {
        try LagKVScorer(options: $0)
    }
    registry.register(
        scorer: "expected-attention",
        summary: "Expected Attention (arXiv 2510.00636): attention expected from the window queries' Gaussian at future RoPE positions × ‖v‖"
    ) { try ExpectedAttentionScorer(options: $0) }
    registry.register(scorer: "critical-kv", summary: "CriticalKV (arXiv 2502.03805): window attention × mean ‖W_O v‖₁ over the group") { _ in
        CriticalKVScorer()
    }
}
