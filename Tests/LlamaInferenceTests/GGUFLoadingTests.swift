import Foundation
import GGUF
import PagedKVCache
import SeededRandom
import Testing

@testable import LlamaInference

/// Writes tiny Llama files with the project's GGUFWriter — matrices as Q4_1, the embedding as Q8_0,
/// like the SmolLM2 file — to test loading, its errors, and the quantized decode kernels. The odd
/// vocabulary (51 rows) leaves a partly filled last panel of 16 rows in the output projection.
struct TinyGGUF {
    var architecture = "llama"
    var layers = 2, hidden = 64, ffn = 96, heads = 4, kvHeads = 2, vocabulary = 51
    var headDim: Int { hidden / heads }
    /// Tensors to leave out, or to write with a wrong shape.
    var omit: Set<String> = []
    var misshape: Set<String> = []
    var omitKey: String?
    var untied = false

    func write(to path: String) throws {
        var rng = SplitMix64(seed: 11)
        var writer = GGUFWriter()
        let a = "\(architecture)."
        var metadata: [(String, GGUFValue)] = [
            ("general.architecture", .string(architecture)),
            (a + "block_count", .uint32(UInt32(layers))), (a + "embedding_length", .uint32(UInt32(hidden))),
            (a + "feed_forward_length", .uint32(UInt32(ffn))), (a + "attention.head_count", .uint32(UInt32(heads))),
            (a + "attention.head_count_kv", .uint32(UInt32(kvHeads))),
            (a + "attention.layer_norm_rms_epsilon", .float32(1e-5)), (a + "rope.freq_base", .float32(100_000)),
            (a + "rope.dimension_count", .uint32(UInt32(headDim))), (a + "context_length", .uint32(256)),
            ("tokenizer.ggml.tokens", .array((0..<vocabulary).map { .string("t\($0)") })),
        ]
        metadata.removeAll { $0.0 == omitKey }
        for (key, value) in metadata { writer.set(key, value) }
        func add(_ name: String, _ dims: [Int], _ type: GGMLType, std: Float) {
            guard !omit.contains(name) else { return }
            let dims = misshape.contains(name) ? dims.map { $0 * 2 } : dims
            let count = dims.reduce(1, *)
            let values = (0..<count).map { _ in rng.uniform(-std, std) + (type == .f32 ? 1 : 0) }
            writer.addTensor(name: name, dimensions: dims, data: values, type: type)
        }
        add("token_embd.weight", [hidden, vocabulary], .q8_0, std: 0.5)
        let kvWidth = kvHeads * headDim
        for l in 0..<layers {
            let p = "blk.\(l)."
            add(p + "attn_norm.weight", [hidden], .f32, std: 0.1)
            add(p + "attn_q.weight", [hidden, hidden], .q4_1, std: 0.3)
            add(p + "attn_k.weight", [hidden, kvWidth], .q4_1, std: 0.3)
            add(p + "attn_v.weight", [hidden, kvWidth], .q4_1, std: 0.2)
            add(p + "attn_output.weight", [hidden, hidden], .q4_1, std: 0.2)
            add(p + "ffn_norm.weight", [hidden], .f32, std: 0.1)
            add(p + "ffn_gate.weight", [hidden, ffn], .q4_1, std: 0.2)
            add(p + "ffn_up.weight", [hidden, ffn], .q4_1, std: 0.2)
            add(p + "ffn_down.weight", [ffn, hidden], .q4_1, std: 0.15)
        }
        add("output_norm.weight", [hidden], .f32, std: 0.1)
        if untied { add("output.weight", [hidden, vocabulary], .q4_1, std: 0.3) }
        try writer.write(to: path)
    }

    /// Writes the file into a fresh temporary directory and loads it.
    func load() throws -> LlamaModel {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kvc-llama-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("tiny.gguf").path
        try write(to: path)
        return try LlamaModel(path: path)
    }
}

@Suite("Loading GGUF files")
struct GGUFLoadingTests {
    @Test("configuration and weights come from the file", arguments: [false, true])
    func loads(untied: Bool) throws {
        let model = try TinyGGUF(untied: untied).load()
        let c = model.configuration
        #expect(c.layers == 2 && c.hiddenSize == 64 && c.intermediateSize == 96)
        #expect(c.attentionHeads == 4 && c.kvHeads == 2 && c.headDim == 16 && c.groupSize == 2)
        #expect(c.vocabularySize == 51 && c.contextLength == 256 && c.ropeFrequencyBase == 100_000)
        #expect(c.tiedEmbeddings == !untied)
        #expect(model.weights.layers[0].qkv.quantized?.format == .q4Min)
        #expect(model.weights.output.quantized?.format == (untied ? .q4Min : .init(bits: 8, zeroPoint: 128)))
        // Fused QKV rows: Q then K then V, exactly the file's rows.
        #expect(model.weights.layers[0].qkv.rows == 64 + 2 * 32)
    }

    /// Prefill and decode multiply with the same Q4_1/Q8_0 blocks, and a token's product never
    /// depends on the other tokens of the step: only attention's summation order differs.
    @Test("decode at any batch size equals prefill", arguments: [false, true])
    func quantizedDecodeMatchesPrefill(untied: Bool) throws {
        let model = try TinyGGUF(untied: untied).load()
        let tokens: [Int32] = [3, 17, 42, 8, 8, 1, 50, 0, 23, 11, 30, 2]
        let c = model.configuration
        let full = try model.makeCache(blockSize: 4, capacityBlocks: c.layers * c.kvHeads * 8)
        let expected = try model.prefill(tokens, sequence: full.addSequence(), cache: full, allLogits: true)
        let cache = try model.makeCache(blockSize: 4, capacityBlocks: 5 * c.layers * c.kvHeads * 8)
        let ids = (0..<5).map { _ in cache.addSequence() }
        for id in ids { _ = try model.prefill(Array(tokens.prefix(5)), sequence: id, cache: cache) }
        let v = c.vocabularySize
        for p in 5..<tokens.count {
            let batches: [[SequenceID]] = switch p % 3 {
            case 0: [ids]
            case 1: [Array(ids.prefix(3)), Array(ids.suffix(2))]
            default: ids.map { [$0] }
            }
            for batch in batches {
                for row in try model.decode(batch.map { ($0, tokens[p]) }, cache: cache) {
                    #expect(maxDifference(row, Array(expected[p * v..<(p + 1) * v])) < 1e-4)
                }
            }
        }
    }

    @Test("an architecture that is not Llama is refused by name")
    func unsupportedArchitecture() {
        #expect(throws: LlamaError.unsupportedArchitecture("gpt2")) { try TinyGGUF(architecture: "gpt2").load() }
    }

    @Test("a missing tensor is named")
    func missingTensor() {
        #expect(throws: LlamaError.missingTensor("blk.1.ffn_up.weight")) { try TinyGGUF(omit: ["blk.1.ffn_up.weight"]).load() }
    }

    @Test("a tensor of the wrong shape is named with both shapes")
    func wrongShape() {
        #expect(throws: LlamaError.tensorShapeMismatch(name: "blk.0.attn_k.weight", expected: [64, 32], found: [128, 64])) {
            try TinyGGUF(misshape: ["blk.0.attn_k.weight"]).load()
        }
    }

    @Test("a missing hyper-parameter is named")
    func missingMetadata() {
        #expect(throws: LlamaError.missingMetadata("llama.feed_forward_length")) {
            try TinyGGUF(omitKey: "llama.feed_forward_length").load()
        }
    }

    @Test("a missing or damaged file gives a readable error")
    func unreadableFile() throws {
        #expect(throws: LlamaError.self) { try LlamaModel(path: "/nonexistent/model.gguf") }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kvc-not-gguf-\(UUID().uuidString)").path
        try Data("not a gguf file at all".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try LlamaModel(path: path)
            Issue.record("a damaged file was accepted")
        } catch {
            #expect(error.description.contains(path))
        }
    }

    @Test("invalid hyper-parameters are refused with the reason")
    func invalidConfiguration() {
        #expect(throws: LlamaError.self) {
            try LlamaConfiguration(
                layers: 2, hiddenSize: 64, intermediateSize: 96, attentionHeads: 4, kvHeads: 3, contextLength: 16,
                vocabularySize: 10, tiedEmbeddings: true)
        }
        #expect(throws: LlamaError.self) {
            try LlamaConfiguration(
                layers: 0, hiddenSize: 64, intermediateSize: 96, attentionHeads: 4, kvHeads: 2, contextLength: 16,
                vocabularySize: 10, tiedEmbeddings: true)
        }
    }
}
