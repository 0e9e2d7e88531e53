import GGUF

/// Gemma 3 (GGUF `general.architecture = "gemma3"`), as llama.cpp runs it (src/models/gemma3.cpp,
/// src/llama-model.cpp `LLM_ARCH_GEMMA3`):
///
/// x = embedding · √hidden; per layer: RMSNorm → Q, K, V → per-head RMS norms of Q and K → NEOX
/// RoPE (base 10 000 on local layers, `rope.freq_base` on global ones) → attention (scale
/// 1/√head_dim; local layers see the last `attention.sliding_window` positions) → W_O → RMSNorm
/// (`post_attention_norm`) → residual; RMSNorm → down(gelu_tanh(gate) · up) → RMSNorm
/// (`post_ffw_norm`) → residual. Layer l is global when l % 6 == 5. Final RMSNorm, output tied to
/// the token embedding. The GGUF converter folds Gemma's "1 + weight" into every norm weight, so
/// the norms are plain RMSNorms. Gemma 3 270M: 18 layers, hidden 640, 4 query heads and 1 KV head
/// of 256, FFN 2048, window 512, vocabulary 262 144.
enum Gemma3Family {
    /// Every sixth layer is global (llama.cpp: `hparams.set_swa_pattern(6)`).
    static let slidingWindowPattern = 6
    /// RoPE base of the local layers (llama.cpp: `rope_freq_base_train_swa = 10000`).
    static let localRopeBase: Float = 10_000

    static func configuration(file: GGUFFile) throws(LlamaError) -> LlamaConfiguration {
        let reader = MetadataReader(file: file, prefix: "gemma3.")
        let hidden = try reader.int("embedding_length")
        let heads = try reader.int("attention.head_count")
        let headDim = try reader.optionalInt("attention.key_length") ?? hidden / heads
        if let valueLength = try reader.optionalInt("attention.value_length"), valueLength != headDim {
            throw .invalidConfiguration("gemma3.attention.value_length \(valueLength) differs from key_length \(headDim)")
        }
        if file.has("gemma3.rope.scaling.factor") {
            let factor = try reader.float("rope.scaling.factor")
            guard factor == 1 else {
                throw .invalidConfiguration("gemma3 with RoPE scaling (factor \(factor)) is not supported; only unscaled RoPE (Gemma 3 270M, 1B)")
            }
        }
        if file.has("gemma3.final_logit_softcapping") {
            let cap = try reader.float("final_logit_softcapping")
            guard cap == 0 else { throw .invalidConfiguration("gemma3 final_logit_softcapping \(cap) is not supported") }
        }
        var traits = ArchitectureTraits()
        traits.embeddingScale = Float(hidden).squareRoot()
        traits.ropeMode = .neox
        traits.activation = .geluTanh
        traits.queryKeyNorms = true
        traits.postNorms = true
        traits.slidingWindow = try reader.int("attention.sliding_window")
        traits.slidingWindowPattern = slidingWindowPattern
        traits.localRopeFrequencyBase = localRopeBase
        guard let window = traits.slidingWindow, window > 0 else {
            throw .invalidConfiguration("gemma3.attention.sliding_window must be positive")
        }
        let embedding: GGUFTensorInfo
        do { embedding = try file.tensorInfo(named: "token_embd.weight") } catch { throw .missingTensor("token_embd.weight") }
        return try LlamaConfiguration(
            architecture: "gemma3",
            layers: reader.int("block_count"),
            hiddenSize: hidden,
            intermediateSize: reader.int("feed_forward_length"),
            attentionHeads: heads,
            kvHeads: reader.optionalInt("attention.head_count_kv") ?? heads,
            headDim: headDim,
            ropeDimensions: headDim,
            ropeFrequencyBase: file.has("gemma3.rope.freq_base") ? reader.float("rope.freq_base") : 1_000_000,
            rmsNormEpsilon: reader.float("attention.layer_norm_rms_epsilon"),
            contextLength: reader.int("context_length"),
            vocabularySize: file.metadata["tokenizer.ggml.tokens"]?.arrayValue?.count ?? embedding.rowCount,
            tiedEmbeddings: !file.hasTensor(named: "output.weight"),
            traits: traits)
    }
}

/// Typed reads of `{prefix}key` metadata: a missing key is `missingMetadata`, a key of the wrong
/// type or a damaged file keeps GGUF's own description (which names file and key).
struct MetadataReader {
    let file: GGUFFile
    let prefix: String

    func read<T>(_ key: String, _ get: (String) throws(GGUFError) -> T) throws(LlamaError) -> T {
        do { return try get(prefix + key) } catch {
            if case .missingKey = error { throw .missingMetadata(prefix + key) }
            throw .unreadableModel(error.description)
        }
    }
    func int(_ key: String) throws(LlamaError) -> Int { try read(key, file.int) }
    func float(_ key: String) throws(LlamaError) -> Float { try read(key, file.float) }
    func optionalInt(_ key: String) throws(LlamaError) -> Int? { file.has(prefix + key) ? try int(key) : nil }
}
