import EvictionPolicies
import KVCompress
import LlamaInference
import Testing

/// Layers left uncompressed (Gemma 3's sliding-window layers, bounded by their window already):
/// their KVs all stay, the budget is met on the other layers, counting them as kept.
@Suite struct UncompressedLayersTests {
    @Test(arguments: [CompressionBudget.rate(3), .maxCacheTokens(24)])
    func uncompressedLayersKeepEveryKV(budget: CompressionBudget) throws {
        let prompt = ModelCompressionTests.tokens(60, seed: 33)
        let model = ModelCompressionTests.model
        let layers = ModelCompressionTests.llama.layers, heads = ModelCompressionTests.llama.kvHeads
        let cache = try model.makeCache(blockSize: 4, capacityBlocks: 400)
        let sequence = cache.addSequence()
        var compressor = try Compressor(
            configuration: configuration(budget: budget, protectedWindow: 8, blockSize: 4), registry: builtins)
        compressor.uncompressedLayers = [0]
        let collector = MetricCollector(metric: compressor.plugins.metric, window: compressor.plugins.window)
        _ = try model.prefill(prompt, sequence: sequence, cache: cache, observer: collector)
        let report = try compressor.compress(sequence, cache: cache, trigger: .manual)
        let lengths = cache.contextLengths(sequence)
        #expect(lengths[0..<heads].allSatisfy { $0 == 60 }, "layer 0 keeps every KV: \(lengths)")
        #expect(lengths[heads...].contains { $0 < 60 }, "the other layers are compressed: \(lengths)")
        #expect(report.budgetHeld)
        #expect(layers > 1)
    }
}
