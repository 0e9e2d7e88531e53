import Foundation
import KVCompress
import Testing

@testable import kvc

/// `--option NAME.KEY=VALUE`, `--scorer`, presets: set any plug-in option without recompiling, and every
/// mistake named before the model loads.
@Suite struct PluginOptionTests {
    static func configuration(_ arguments: [String]) throws -> CompressionConfiguration? {
        try CompressionOptions.parse(arguments).configuration(cacheBlockSize: 16)
    }

    @Test func optionsReachTheNamedPlugin() throws {
        let c = try #require(
            try Self.configuration(["--compression", "lagkv", "--rate", "4", "--option", "lagkv.lag_size=64", "--option", "uniform.note=x"]))
        #expect(c.scorer == PluginSpec("lagkv", options: ["lag_size": 64]))
        #expect(c.policy == PluginSpec("uniform", options: ["note": "x"]))
        let k = try #require(try Self.configuration(["--rate", "4", "--option", "kvcompress.even_layer_evict=true", "--option", "last.queries=16"]))
        #expect(k.policy.options["even_layer_evict"] == .bool(true))
        #expect(k.metric.options["even_layer_evict"] == .bool(true))  // the metric is also called kvcompress
        #expect(k.window.options["queries"] == .int(16))
    }

    @Test func presetsBringTheirScorerAndAScorerComposesWithAnyAllocation() throws {
        let kvzip = try #require(try Self.configuration(["--compression", "kvzip", "--rate", "8"]))
        #expect(kvzip.scorer?.name == "kvzip" && kvzip.policy.name == "kvcompress")
        let composed = try #require(try Self.configuration(["--scorer", "expected-attention", "--compression", "uniform", "--rate", "8"]))
        #expect(composed.scorer?.name == "expected-attention" && composed.policy.name == "uniform")
    }

    @Test func mistakesAreNamedBeforeTheModelLoads() throws {
        let noPlugin = try KVCProcess.run(["generate", "--prompt", "hi", "--rate", "4", "--option", "snapkv.x=1", "--model", "/nonexistent.gguf"])
        #expect(noPlugin.status != 0 && noPlugin.stderr.contains("no plug-in named 'snapkv'"))
        #expect(!noPlugin.stderr.contains("model file not found"))
        let malformed = try KVCProcess.run(["generate", "--prompt", "hi", "--rate", "4", "--option", "lag_size=64", "--model", "/nonexistent.gguf"])
        #expect(malformed.status != 0 && malformed.stderr.contains("expected NAME.KEY=VALUE"))
        let unknownKey = try KVCProcess.run([
            "generate", "--prompt", "hi", "--compression", "lagkv", "--rate", "4", "--option", "lagkv.lag_sz=1", "--model", "/nonexistent.gguf",
        ])
        #expect(unknownKey.status != 0 && unknownKey.stderr.contains("unknown option 'lag_sz' for 'lagkv'"))
        #expect(!unknownKey.stderr.contains("model file not found"))
        let unknownScorer = try KVCProcess.run(["generate", "--prompt", "hi", "--scorer", "nope", "--rate", "4", "--model", "/nonexistent.gguf"])
        #expect(unknownScorer.status != 0 && unknownScorer.stderr.contains("nope") && unknownScorer.stderr.contains("kvzip"))
    }

    @Test func listPluginsShowsScorersAndPresets() throws {
        let outcome = try KVCProcess.run(["compress", "--list-plugins"])
        #expect(outcome.status == 0)
        #expect(outcome.stdout.contains("scorers:") && outcome.stdout.contains("  kvzip:") && outcome.stdout.contains("  expected-attention:"))
        #expect(outcome.stdout.contains("presets (--compression NAME):") && outcome.stdout.contains("  defensive-kv:"))
    }
}
