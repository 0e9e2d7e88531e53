import PagedKVCache
import Testing

@testable import LlamaInference

/// A tiny random model with every Gemma 3 switch on (embedding scale, Q/K head norms, NEOX RoPE with
/// a local and a global base, a sliding window of 8 on two of every three layers, post-norms,
/// GeGLU), against the dense reference.
@Suite("Gemma 3 family: forward pass against a dense reference")
struct Gemma3FamilyTests {
    static let configuration: LlamaConfiguration = {
        var traits = ArchitectureTraits()
        traits.embeddingScale = Float(64).squareRoot()
        traits.ropeMode = .neox
        traits.activation = .geluTanh
        traits.queryKeyNorms = true
        traits.postNorms = true
        traits.slidingWindow = 8
        traits.slidingWindowPattern = 3
        traits.localRopeFrequencyBase = 10_000
        return try! LlamaConfiguration(
            architecture: "gemma3", layers: 3, hiddenSize: 64, intermediateSize: 96, attentionHeads: 4, kvHeads: 1,
            headDim: 32, ropeFrequencyBase: 1_000_000, rmsNormEpsilon: 1e-6, contextLength: 256, vocabularySize: 97,
            tiedEmbeddings: true, traits: traits)
    }()
    static let model = LlamaModel.random(configuration: configuration, seed: 7)
    static let tokens = (0..<40).map { Int32(($0 * 37 + 11) % 97) }
    static let reference = ReferenceLlama(model: model).forward(tokens)
    /// GeLU from ggml's half-float table against the exact function: logits of order 1 move by ~1e-3.
    static let tolerance: Float = 5e-3

    static func cache(blockSize: Int) throws -> PagedKVCache {
        try model.makeCache(blockSize: blockSize, capacityBlocks: 3 * (tokens.count / blockSize + 2))
    }

    @Test("the traits select local and global layers")
    func layers() {
        let c = Self.configuration
        #expect(c.localLayers == [0, 1])
        #expect(c.slidingWindow(layer: 2) == nil && c.ropeFrequencyBase(layer: 2) == 1_000_000)
        #expect(c.ropeFrequencyBase(layer: 0) == 10_000)
    }

    @Test("prefill past the window equals the reference", arguments: [1, 4, 16])
    func prefill(blockSize: Int) throws {
        let cache = try Self.cache(blockSize: blockSize)
        let logits = try Self.model.prefill(Self.tokens, sequence: cache.addSequence(), cache: cache, allLogits: true)
        #expect(maxDifference(logits, Self.reference.logits.flatMap { $0 }) < Self.tolerance)
    }

    @Test("chunks and decode steps, with window blocks freed between them, equal the reference", arguments: [1, 4])
    func chunkedAndDecoded(blockSize: Int) throws {
        let cache = try Self.cache(blockSize: blockSize)
        let s = cache.addSequence()
        var rows = try Self.model.prefill(Array(Self.tokens[0..<13]), sequence: s, cache: cache, allLogits: true)
        rows += try Self.model.prefill(Array(Self.tokens[13..<21]), sequence: s, cache: cache, allLogits: true)
        for t in Self.tokens[21...] {
            rows += try Self.model.decode([(s, t)], cache: cache)[0]
            for layer in Self.configuration.localLayers {
                #expect(cache.contextLength(s, layer: layer, head: 0) <= 8 + blockSize)
            }
        }
        #expect(maxDifference(rows, Self.reference.logits.flatMap { $0 }) < Self.tolerance)
        #expect(cache.contextLength(s, layer: 2, head: 0) == Self.tokens.count)
    }

    @Test("with every layer global (no window, one RoPE base) the logits differ: the tests can tell")
    func windowMatters() {
        let global = try! LlamaConfiguration(
            architecture: "gemma3", layers: 3, hiddenSize: 64, intermediateSize: 96, attentionHeads: 4, kvHeads: 1,
            headDim: 32, ropeFrequencyBase: 1_000_000, rmsNormEpsilon: 1e-6, contextLength: 256, vocabularySize: 97,
            tiedEmbeddings: true, traits: { var t = Self.configuration.traits; t.slidingWindow = nil; return t }())
        let model = LlamaModel(configuration: global, weights: Self.model.weights)
        let logits = ReferenceLlama(model: model).forward(Self.tokens).logits.flatMap { $0 }
        #expect(maxDifference(logits, Self.reference.logits.flatMap { $0 }) > 10 * Self.tolerance)
    }
}
