import Foundation
import GGUF
import PagedKVCache
import Testing

@testable import LlamaInference

/// Gemma 3 270M (`models/gemma-3-270m-q4_k_m.gguf`, fetched by `scripts/fetch-model.sh gemma3-270m`).
enum Gemma3RealModel {
    static let path: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf").path

    static var isAvailable: Bool { FileManager.default.fileExists(atPath: path) }

    /// Loaded once for all tests of the suite.
    static let model: Result<LlamaModel, any Error> = Result { try LlamaModel(path: path) }

    /// The model's logits for every position of `tokens`, prefilled in chunks of `chunk` tokens.
    static func logits(_ tokens: [Int32], chunk: Int = 512) throws -> [Float] {
        let model = try model.get()
        let c = model.configuration
        let cache = try model.makeCache(capacityBlocks: c.layers * c.kvHeads * (tokens.count / 16 + 2))
        let sequence = cache.addSequence()
        var rows: [Float] = []
        var start = 0
        while start < tokens.count {
            let end = min(tokens.count, start + chunk)
            rows += try model.prefill(Array(tokens[start..<end]), sequence: sequence, cache: cache, allLogits: true)
            start = end
        }
        return rows
    }
}

/// Gemma 3 against llama.cpp's own logits (llama-cpp-python 0.3.36, its default F16 KV cache; see
/// scripts/reference/make_gemma3_logit_fixtures.py). Measured with our float16 KV cache (the
/// default, as llama.cpp's), identical on the AVX-512, AVX2 and portable kernels except the decode
/// row: 300 tokens 95.67% top-1 / KL 0.0047 nats, 1600 tokens 95.69% / 0.0051, decode past the
/// window 95.69–95.81% / 0.0050–0.0051. Two things brought top-1 from ~94.7% to there: rotary
/// angles computed as llama.cpp does (a float theta multiplied by `powf(base, -2/d)` per pair, not
/// a double-precision `pow` per frequency; see RotaryEmbedding), and, with an f16 cache, queries
/// and softmax probabilities rounded to f16 before they meet the f16 keys and values, as ggml's
/// `mul_mat` converts its float operand to the F16 cache's type (HalfPrecisionOperands). The
/// remaining mismatches are positions where llama.cpp's two best logits lie within ~0.5 of each
/// other; a real regression (a wrong window, RoPE base or norm gives < 50%) fails far below.
///
/// Those figures are from an Intel Xeon. On a 2-vCPU AMD EPYC VM the same code gave 94.88% on the
/// 1600-token prompt; summing RMS norms and softmax denominators in double as ggml does (found by
/// tracing llama.cpp's intermediate tensors) gives 96.3% / 95.69% / 95.56% there (2026-12-05). llama.cpp
/// reproduces these fixtures bit for bit on any machine (Experiments/fidelity/llamacpp_noise_floor.py);
/// what remains is last-bit differences in our products' float order, amplified by float16 operands
/// and 8-bit activation quantization (README, "Gemma 3 270M").
@Suite("Agreement with llama.cpp on Gemma 3 270M", .serialized, .enabled(if: Gemma3RealModel.isAvailable, "needs models/gemma-3-270m-q4_k_m.gguf"))
struct Gemma3AgreementTests {
    @Test("the configuration is read from GGUF metadata by the gemma3 family")
    func configuration() throws {
        let c = try Gemma3RealModel.model.get().configuration
        #expect(c.architecture == "gemma3")
        #expect(c.layers == 18 && c.hiddenSize == 640 && c.intermediateSize == 2048)
        #expect(c.attentionHeads == 4 && c.kvHeads == 1 && c.headDim == 256)
        #expect(c.vocabularySize == 262_144 && c.tiedEmbeddings)
        #expect(c.ropeFrequencyBase == 1_000_000 && c.ropeFrequencyBase(layer: 0) == 10_000)
        #expect(c.traits.slidingWindow == 512)
        #expect(c.localLayers.count == 15 && !c.isLocal(layer: 5) && !c.isLocal(layer: 17) && c.isLocal(layer: 4))
    }

    @Test("logits of a 300-token prompt agree with llama.cpp")
    func shortPrompt() throws {
        let reference = try ReferenceLogits(named: "gemma3-short")
        let agreement = reference.compare(try Gemma3RealModel.logits(reference.tokens))
        print("gemma3 short: top-1 \(agreement.top1), mean KL \(agreement.meanKL)")
        #expect(agreement.top1 >= 0.95, "top-1 agreement \(agreement.top1)")
        #expect(agreement.meanKL <= 0.01, "mean KL \(agreement.meanKL) nats")
    }

    @Test("logits of a 1600-token prompt (past the 512-token window) agree with llama.cpp")
    func longPrompt() throws {
        let reference = try ReferenceLogits(named: "gemma3-long")
        let agreement = reference.compare(try Gemma3RealModel.logits(reference.tokens))
        print("gemma3 long: top-1 \(agreement.top1), mean KL \(agreement.meanKL)")
        #expect(agreement.top1 >= 0.95, "top-1 agreement \(agreement.top1)")
        #expect(agreement.meanKL <= 0.01, "mean KL \(agreement.meanKL) nats")
    }

    /// Decode reads the same sliding-window cache, whose local layers drop the blocks that left the
    /// window after every step: they stay bounded while the global layers keep every KV.
    @Test("decoding past the window agrees with llama.cpp, local layers hold at most the window")
    func decodeAgrees() throws {
        let model = try Gemma3RealModel.model.get()
        let reference = try ReferenceLogits(named: "gemma3-long")
        let tokens = reference.tokens, prompt = 1100
        let c = model.configuration
        let cache = try model.makeCache(capacityBlocks: c.layers * c.kvHeads * (tokens.count / 16 + 2))
        let sequence = cache.addSequence()
        var rows = try model.prefill(Array(tokens.prefix(prompt)), sequence: sequence, cache: cache, allLogits: true)
        for t in tokens[prompt...] { rows += try model.decode([(sequence, t)], cache: cache)[0] }
        let agreement = reference.compare(rows)
        print("gemma3 decode: top-1 \(agreement.top1), mean KL \(agreement.meanKL)")
        #expect(agreement.top1 >= 0.95, "top-1 agreement \(agreement.top1)")
        #expect(agreement.meanKL <= 0.01, "mean KL \(agreement.meanKL) nats")
        let window = try #require(c.traits.slidingWindow)
        for layer in 0..<c.layers {
            let length = cache.contextLength(sequence, layer: layer, head: 0)
            if c.isLocal(layer: layer) {
                #expect(length <= window + 16, "local layer \(layer) holds \(length) KVs")
            } else {
                #expect(length == tokens.count, "global layer \(layer) holds \(length) KVs")
            }
        }
    }
}
