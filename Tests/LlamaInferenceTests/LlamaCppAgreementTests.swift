import Foundation
import GGUF
import PagedKVCache
import Testing

@testable import LlamaInference

/// Reference logits written by `scripts/reference/make_logit_fixtures.py` from llama.cpp (the
/// independent implementation): the prompt's token ids and, per position, the top-k logits with
/// their ids and the log-sum-exp of the full row.
struct ReferenceLogits {
    let tokens: [Int32]
    let k: Int
    let vocabulary: Int
    /// `[positions]`.
    let logSumExp: [Float]
    /// `[positions, k]`, largest first.
    let topIDs: [Int32]
    let topLogits: [Float]

    init(named name: String) throws {
        guard let url = Bundle.module.url(forResource: name, withExtension: "logits", subdirectory: "Fixtures") else {
            throw FixtureError("fixture \(name).logits is missing; run scripts/reference/make_logit_fixtures.py")
        }
        let data = try Data(contentsOf: url)
        var offset = 0
        func read<T: FixedWidthInteger>(_: T.Type) -> T {
            defer { offset += MemoryLayout<T>.size }
            return data.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        }
        func readFloat() -> Float { Float(bitPattern: read(UInt32.self)) }
        guard data.count > 24, data.prefix(8) == Data("KVCLOGIT".utf8) else { throw FixtureError("\(name).logits is not a logits fixture") }
        offset = 8
        guard read(UInt32.self) == 1 else { throw FixtureError("\(name).logits has an unknown version") }
        let n = Int(read(UInt32.self)), k = Int(read(UInt32.self))
        vocabulary = Int(read(UInt32.self))
        self.k = k
        guard data.count == 24 + 4 * n + n * (4 + 8 * k) else { throw FixtureError("\(name).logits is truncated") }
        tokens = (0..<n).map { _ in Int32(bitPattern: read(UInt32.self)) }
        var lse: [Float] = [], ids: [Int32] = [], logits: [Float] = []
        for _ in 0..<n {
            lse.append(readFloat())
            for _ in 0..<k { ids.append(Int32(bitPattern: read(UInt32.self))) }
            for _ in 0..<k { logits.append(readFloat()) }
        }
        logSumExp = lse
        topIDs = ids
        topLogits = logits
    }

    struct FixtureError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    struct Agreement {
        /// Share of positions where our argmax is llama.cpp's.
        var top1: Double
        /// Mean over positions of KL(llama.cpp ‖ ours) in nats, over k + 1 buckets (see `compare`).
        var meanKL: Double
    }

    /// Compares our logits (`[positions, vocabulary]`) with the reference.
    ///
    /// The fixture keeps only llama.cpp's top k per position, so the KL divergence is taken over a
    /// coarser distribution: the k tokens llama.cpp ranks highest, each its own bucket, plus one
    /// bucket holding the rest of the mass (1 − Σ top-k) — for llama.cpp from its stored log-sum-exp,
    /// for us from our full row. Merging outcomes never increases a KL divergence, so this is a
    /// lower bound of the full KL, tight when the top k carry most of the mass (they do: the tail of
    /// a language model's distribution is spread thin over tens of thousands of tokens).
    func compare(_ ours: [Float]) -> Agreement {
        let n = tokens.count
        var agree = 0
        var kl = 0.0
        ours.withUnsafeBufferPointer { rows in
            for p in 0..<n {
                let row = UnsafeBufferPointer(rebasing: rows[p * vocabulary..<(p + 1) * vocabulary])
                if Sampler.argmax(row) == topIDs[p * k] { agree += 1 }
                let ourLSE = LogSoftmax.logSumExp(row)
                var referenceMass = 0.0, ourMass = 0.0
                for i in 0..<k {
                    let pRef = exp(Double(topLogits[p * k + i]) - Double(logSumExp[p]))
                    let pOurs = exp(Double(row[Int(topIDs[p * k + i])]) - ourLSE)
                    kl += pRef * log(pRef / pOurs)
                    referenceMass += pRef
                    ourMass += pOurs
                }
                let restRef = max(0, 1 - referenceMass), restOurs = max(1e-12, 1 - ourMass)
                if restRef > 0 { kl += restRef * log(restRef / restOurs) }
            }
        }
        return Agreement(top1: Double(agree) / Double(n), meanKL: kl / Double(n))
    }
}

/// The default model, or `KVC_MODEL`.
enum RealModel {
    static let path: String = {
        if let path = ProcessInfo.processInfo.environment["KVC_MODEL"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    }()

    /// Loaded once for all tests of the suite.
    static let model: Result<LlamaModel, any Error> = {
        guard FileManager.default.fileExists(atPath: path) else {
            return .failure(ReferenceLogits.FixtureError("model not found at \(path): run scripts/fetch-model.sh (or set KVC_MODEL)"))
        }
        return Result { try LlamaModel(path: path) }
    }()

    /// The model's logits for every position of `tokens`.
    static func logits(_ tokens: [Int32], blockSize: Int = 16) throws -> [Float] {
        let model = try model.get()
        let c = model.configuration
        let cache = try model.makeCache(blockSize: blockSize, capacityBlocks: c.layers * c.kvHeads * (tokens.count / blockSize + 1))
        return try model.prefill(tokens, sequence: cache.addSequence(), cache: cache, allLogits: true)
    }
}

@Suite("Agreement with llama.cpp on SmolLM2-135M", .serialized)
struct LlamaCppAgreementTests {
    @Test("the configuration is read from GGUF metadata")
    func configuration() throws {
        let c = try RealModel.model.get().configuration
        #expect(c.architecture == "llama")
        #expect(c.layers == 30)
        #expect(c.hiddenSize == 576)
        #expect(c.attentionHeads == 9)
        #expect(c.kvHeads == 3)
        #expect(c.headDim == 64)
        #expect(c.intermediateSize == 1536)
        #expect(c.vocabularySize == 49152)
        #expect(c.contextLength == 8192)
        #expect(c.tiedEmbeddings)
    }

    /// Both engines multiply the Q4_1 weights with activations quantized to 8 bits per 32-block; ours
    /// lands at 96.7% top-1 and KL 0.0033 nats with the float16 cache (2000 tokens: 95.9% / 0.0029;
    /// float32 activations gave 98.3% and 0.0024); a wrong RoPE or head layout gives ~0%.
    @Test("logits of a 300-token prompt agree with llama.cpp")
    func shortPrompt() throws {
        let reference = try ReferenceLogits(named: "short")
        let agreement = reference.compare(try RealModel.logits(reference.tokens))
        print("smollm2 \(reference.tokens.count) tokens: top-1 \(agreement.top1), mean KL \(agreement.meanKL)")
        #expect(agreement.top1 >= 0.95, "top-1 agreement \(agreement.top1)")
        #expect(agreement.meanKL <= 0.01, "mean KL \(agreement.meanKL) nats")
    }

    /// Prefill and decode multiply with the same blocks and 8-bit activations, but attention sums
    /// in a different order (tiled sgemm vs one query at a time); 8-bit rounding of the next
    /// layer's input turns those last-bit differences into occasional one-step changes, so decode
    /// is held to the same agreement with llama.cpp as prefill, not to equality with it.
    @Test("decoding token by token agrees with llama.cpp as well as prefill does")
    func decodeAgrees() throws {
        let model = try RealModel.model.get()
        let reference = try ReferenceLogits(named: "short")
        let tokens = reference.tokens, prompt = 30
        let c = model.configuration
        let cache = try model.makeCache(capacityBlocks: c.layers * c.kvHeads * (tokens.count / 16 + 1))
        let sequence = cache.addSequence()
        var rows = try model.prefill(Array(tokens.prefix(prompt)), sequence: sequence, cache: cache, allLogits: true)
        for t in tokens[prompt...] { rows += try model.decode([(sequence, t)], cache: cache)[0] }
        let decoded = reference.compare(rows), prefilled = reference.compare(try RealModel.logits(tokens))
        print("smollm2 decode: top-1 \(decoded.top1), mean KL \(decoded.meanKL)")
        // Measured: decode 98.3% / 0.0031 nats, prefill 96.7% / 0.0033.
        #expect(abs(decoded.meanKL - prefilled.meanKL) < 0.002)
        #expect(decoded.top1 >= 0.95, "top-1 agreement \(decoded.top1)")
        #expect(decoded.meanKL <= 0.01, "mean KL \(decoded.meanKL) nats")
    }

    @Test(
        "logits of a 2000-token prompt agree with llama.cpp",
        .enabled(if: ProcessInfo.processInfo.environment["KVC_LONG_TESTS"] != nil, "set KVC_LONG_TESTS=1"))
    func longPrompt() throws {
        let reference = try ReferenceLogits(named: "long")
        let agreement = reference.compare(try RealModel.logits(reference.tokens))
        print("smollm2 \(reference.tokens.count) tokens: top-1 \(agreement.top1), mean KL \(agreement.meanKL)")
        #expect(agreement.top1 >= 0.95, "top-1 agreement \(agreement.top1)")
        #expect(agreement.meanKL <= 0.01, "mean KL \(agreement.meanKL) nats")
    }
}
