import EvictionPolicies
import KVCompress
import LlamaInference
import PagedKVCache
import SeededRandom
import Serving

/// A tiny random Llama (2 layers × 2 KV heads: 4 heads, so one token costs 4 blocks' slots) and the
/// helpers the scheduler tests share.
enum ServingFixture {
    static let llama = try! LlamaConfiguration(
        layers: 2, hiddenSize: 96, intermediateSize: 160, attentionHeads: 6, kvHeads: 2, headDim: 24,
        contextLength: 512, vocabularySize: 97, tiedEmbeddings: true)
    static let model = LlamaModel.random(configuration: llama, seed: 42)
    static let registry = PluginRegistry.withAllPlugins()
    static let blockSize = 4
    static var heads: Int { llama.layers * llama.kvHeads }

    static func tokens(_ count: Int, seed: UInt64) -> [Int32] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in Int32(rng.next() % UInt64(llama.vocabularySize)) }
    }

    /// Blocks one sequence of `tokens` KVs holds uncompressed.
    static func blocks(tokens: Int) -> Int { heads * ((tokens + blockSize - 1) / blockSize) }

    static func cache(blocks: Int) throws -> PagedKVCache { try model.makeCache(blockSize: blockSize, capacityBlocks: blocks) }

    /// KV-Compress at `rate` with an 8-token protected window, on this cache's block size.
    static func compression(rate: Double, protectedWindow: Int = 8) -> CompressionConfiguration {
        CompressionConfiguration(
            blockSize: PluginSpec("fixed", options: ["size": .int(blockSize)]), budget: .rate(rate), protectedWindow: protectedWindow)
    }

    /// `count` requests with prompt lengths drawn from `lengths`, `maxTokens` greedy tokens each.
    static func requests(
        _ count: Int, lengths: ClosedRange<Int>, maxTokens: Int, seed: UInt64 = 1, compression: CompressionConfiguration? = nil
    ) -> [ServingRequest] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { i in
            let length = lengths.lowerBound + Int(rng.next() % UInt64(lengths.count))
            return ServingRequest(prompt: tokens(length, seed: seed &* 1000 &+ UInt64(i)), maxTokens: maxTokens, compression: compression)
        }
    }

    /// Each request's greedy tokens generated alone in a pool that never binds: the reference every
    /// scheduled run without compression must reproduce.
    static func unscheduled(_ requests: [ServingRequest]) throws -> [[Int32]] {
        try requests.map { request in
            let generator = Generator(
                model: model, cache: try cache(blocks: blocks(tokens: request.prompt.count + request.maxTokens)))
            let result = try generator.generate(prompts: [request.prompt], parameters: GenerationParameters(maxTokens: request.maxTokens))
            return result.sequences[0].tokens
        }
    }
}
