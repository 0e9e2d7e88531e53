import EvictionPolicies
import Foundation
import KVCompress
import PagedKVCache
import Testing

/// Configurations load from YAML and JSON, round-trip, and fail with errors that say what to fix.
@Suite struct ConfigurationTests {
    static let yaml = """
        metric: {name: kvcompress, options: {norm: l1, aggregate: avg}}
        window: {name: last, options: {queries: 32, buffer: 4, pool_kernel: 5}}
        policy: {name: kvcompress, options: {even_layer_evict: true}}
        block_size: {name: fixed, options: {size: 32}}
        budget: {max_cache_tokens: 256}
        protected_window: 16
        sinks: 4
        schedule: {after_prefill: true, interval: 10, under_memory_pressure: false}
        """

    @Test func yamlLoadsEveryField() throws {
        let c = try CompressionConfiguration.fromYAML(Self.yaml)
        #expect(c.metric == PluginSpec("kvcompress", options: ["norm": "l1", "aggregate": "avg"]))
        #expect(c.window == PluginSpec("last", options: ["queries": 32, "buffer": 4, "pool_kernel": 5]))
        #expect(c.policy.options["even_layer_evict"] == .bool(true))
        #expect(c.budget == .maxCacheTokens(256))
        #expect(c.protectedWindow == 16 && c.sinks == 4)
        #expect(c.schedule == CompressionSchedule(afterPrefill: true, interval: 10, underMemoryPressure: false))
        let plugins = try c.validate(registry: builtins)
        let window = try #require(plugins.window as? LastQueriesWindow)
        #expect(window.queries == 32 && window.buffer == 4 && window.poolKernel == 5)
        let metric = try #require(plugins.metric as? AttentionMetric)
        #expect(metric.norm == .l1 && metric.aggregate == .avg)
        #expect(plugins.blockSize.blockSizes(layers: 3, kvHeads: 1, headDim: 8) == [32, 32, 32])
    }

    @Test func roundTripsThroughJSONAndYAML() throws {
        let c = try CompressionConfiguration.fromYAML(Self.yaml)
        #expect(try CompressionConfiguration.fromJSON(c.toJSON()) == c)
        #expect(try CompressionConfiguration.fromYAML(c.toYAML()) == c)
        let minimal = CompressionConfiguration(budget: .rate(8))
        #expect(try CompressionConfiguration.fromJSON(minimal.toJSON()) == minimal)
        #expect(try CompressionConfiguration.fromJSON(#"{"budget": {"paper_rate": 4}}"#) == CompressionConfiguration(budget: .paperRate(4)))
    }

    @Test func defaultsAreKVCompressDefaults() throws {
        let c = try CompressionConfiguration.fromYAML("budget: {rate: 8}")
        #expect(c.protectedWindow == 32 && c.sinks == 0 && c.schedule.afterPrefill && c.schedule.interval == 0)
        let plugins = try c.validate(registry: builtins)
        let window = try #require(plugins.window as? LastQueriesWindow)
        #expect(window.queries == 8 && window.poolKernel == 7 && window.observesDecode && window.buffer == 0)
        let metric = try #require(plugins.metric as? AttentionMetric)
        #expect(metric.norm == .l2 && metric.aggregate == .sum)
        #expect(plugins.blockSize.blockSizes(layers: 2, kvHeads: 1, headDim: 8) == [16, 16])
    }

    @Test func filesLoadByExtension() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvc-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let yamlPath = dir.appendingPathComponent("c.yaml").path
        try Self.yaml.write(toFile: yamlPath, atomically: true, encoding: .utf8)
        #expect(try CompressionConfiguration.load(path: yamlPath).budget == .maxCacheTokens(256))
        let txt = dir.appendingPathComponent("c.txt").path
        try Self.yaml.write(toFile: txt, atomically: true, encoding: .utf8)
        #expect(Self.message { _ = try CompressionConfiguration.load(path: txt) }.contains("use .json, .yaml or .yml"))
        #expect(Self.message { _ = try CompressionConfiguration.load(path: dir.appendingPathComponent("missing.json").path) }.contains("no such file"))
        let broken = dir.appendingPathComponent("b.json").path
        try "{\"budget\": {\"rate\": \"fast\"}}".write(toFile: broken, atomically: true, encoding: .utf8)
        let why = Self.message { _ = try CompressionConfiguration.load(path: broken) }
        #expect(why.contains(broken) && why.contains("budget.rate"))
    }

    static func message(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch { return "\(error)" }
    }

    @Test(arguments: [
        ("budget: {rate: 0.5}", "rate must be a finite number ≥ 1"),
        ("budget: {max_cache_tokens: 16}\nprotected_window: 32", "max_cache_tokens 16 is below the 32 protected"),
        ("budget: {max_cache_tokens: 0}", "max_cache_tokens must be positive"),
        ("budget: {rate: 8, max_cache_tokens: 64}", "exactly one of max_cache_tokens, rate, paper_rate"),
        ("protected_window: 8", "no budget"),
        ("budget: {rate: 8}\npolcy: uniform", "unknown configuration key 'polcy'"),
        ("budget: {rate: 8}\nprotected_window: -1", "protected_window must be ≥ 0"),
        ("budget: {rate: 8}\nschedule: {interval: -3}", "interval must be ≥ 0"),
        ("budget: {rate: 8}\npolicy: snapkvv", "unknown policy 'snapkvv'; known policies: kvcompress, uniform"),
        ("budget: {rate: 8}\nmetric: attn", "unknown metric 'attn'; known metrics: kvcompress"),
        ("budget: {rate: 8}\nwindow: {name: last, options: {querys: 8}}", "unknown option 'querys' for 'last'; it takes:"),
        ("budget: {rate: 8}\nwindow: {name: last, options: {queries: 0}}", "option 'queries' of 'last': 0 is outside 1..."),
        ("budget: {rate: 8}\nmetric: {name: kvcompress, options: {norm: l3}}", "'l3' is not one of l1, l2"),
        ("budget: {rate: 8}\nblock_size: {name: fixed, options: {size: 12}}", "block size 12 is unsupported"),
        ("budget: {rate: 8}\nblock_size: {name: per_layer, options: {sizes: \"16,x\"}}", "expected integers separated by commas"),
        ("budget: {rate: 8}\nkv_type: bf16", "kv_type must be one of f16, f32 (got 'bf16')"),
    ])
    func invalidConfigurationsSayWhy(yaml: String, expected: String) {
        let why = Self.message {
            let c = try CompressionConfiguration.fromYAML(yaml)
            _ = try c.validate(registry: builtins)
        }
        #expect(why.contains(expected), "\(why)")
    }

    @Test func registryListsAndReplacesPlugins() throws {
        let registry = PluginRegistry.withBuiltins()
        #expect(registry.names(.policy) == ["kvcompress", "uniform"])
        #expect(registry.names(.window) == ["full", "last"])
        #expect(registry.names(.blockSize) == ["fixed", "per_layer"])
        #expect(registry.summaries(.metric).map(\.name) == ["kvcompress"])
        // A user's policy registers exactly like the built-ins.
        struct KeepEverything: EvictionPolicy {
            func plan(_ input: EvictionInput) throws -> EvictionPlan { EvictionPlan(headCount: input.heads.count) }
        }
        registry.register(policy: "keep", summary: "evicts nothing") { _ in KeepEverything() }
        #expect(registry.names(.policy) == ["keep", "kvcompress", "uniform"])
        #expect(try registry.makePolicy("keep") is KeepEverything)
        #expect(Self.message { _ = try registry.makePolicy(PluginSpec("keep", options: ["x": 1])) }.contains("it takes no options"))
    }

    @Test func perLayerBlockSizesRepeatTheLast() throws {
        let policy = try builtins.makeBlockSizePolicy(PluginSpec("per_layer", options: ["sizes": "64,32,16"]))
        #expect(policy.blockSizes(layers: 5, kvHeads: 1, headDim: 8) == [64, 32, 16, 16, 16])
        #expect(policy.physicalBlockSize(layers: 5, kvHeads: 1, headDim: 8) == 16)
    }
}

/// `kv_type`: the cache's element type, optional (nil: f16), round-tripping through YAML and JSON.
@Suite struct KVTypeConfigurationTests {
    @Test(arguments: [("kv_type: f32", KVStorageType?.some(.f32)), ("kv_type: f16", .f16), ("", nil)])
    func kvTypeKey(line: String, expected: KVStorageType?) throws {
        let c = try CompressionConfiguration.fromYAML("budget: {rate: 8}\n" + line)
        #expect(c.kvType == expected)
        #expect(c.resolvedKVType == expected ?? .f16)
        #expect(try CompressionConfiguration.fromJSON(c.toJSON()) == c)
        // Absent stays absent, so configurations written before the key encode as they did.
        #expect(try c.toJSON().contains("kv_type") == (expected != nil))
        #expect(CompressionConfiguration.keys.contains("kv_type"))
    }
}
