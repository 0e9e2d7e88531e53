/// Hyper-parameters of a Llama-shaped decoder, as stored in GGUF metadata (`{arch}.block_count`, …).
///
/// Nothing here is hard-coded for one model: ``init(architecture:layers:hiddenSize:intermediateSize:attentionHeads:kvHeads:headDim:ropeDimensions:ropeFrequencyBase:rmsNormEpsilon:contextLength:vocabularySize:tiedEmbeddings:)``
/// validates any combination, and `LlamaConfiguration(file:)` (in `LlamaModel+GGUF.swift`) reads it from a file.
/// SmolLM2-135M reads as 30 layers, hidden 576, 9 query heads, 3 KV heads, head dim 64, FFN 1536,
/// vocabulary 49152, context 8192, tied output embedding.
public struct LlamaConfiguration: Codable, Sendable, Hashable, CustomStringConvertible {
    /// `general.architecture` of the file ("llama" or an explicitly accepted Llama-shaped one).
    public let architecture: String
    /// Transformer blocks (`block_count`).
    public let layers: Int
    /// Residual stream width (`embedding_length`).
    public let hiddenSize: Int
    /// SwiGLU hidden width (`feed_forward_length`).
    public let intermediateSize: Int
    /// Query heads (`attention.head_count`).
    public let attentionHeads: Int
    /// KV heads (`attention.head_count_kv`); each serves `groupSize` query heads (GQA).
    public let kvHeads: Int
    /// Dimension of one head (`embedding_length / head_count`).
    public let headDim: Int
    /// Leading dimensions of each head that RoPE rotates (`rope.dimension_count`, at most `headDim`).
    public let ropeDimensions: Int
    /// RoPE base θ (`rope.freq_base`, 10000 when absent).
    public let ropeFrequencyBase: Float
    /// ε of RMSNorm (`attention.layer_norm_rms_epsilon`).
    public let rmsNormEpsilon: Float
    /// Positions the model was trained for (`context_length`); longer prompts are refused.
    public let contextLength: Int
    /// Rows of the embedding matrix.
    public let vocabularySize: Int
    /// Whether the output projection reuses the token embedding (no `output.weight` tensor).
    public let tiedEmbeddings: Bool
    /// How the family's block differs from Llama's; nil for Llama (see ``traits``).
    public let familyTraits: ArchitectureTraits?

    /// Architectures with a model family (``ModelFamilies``): "llama", "gemma3".
    public static let acceptedArchitectures: Set<String> = ["llama", "gemma3"]

    public init(
        architecture: String = "llama", layers: Int, hiddenSize: Int, intermediateSize: Int, attentionHeads: Int,
        kvHeads: Int, headDim: Int? = nil, ropeDimensions: Int? = nil, ropeFrequencyBase: Float = 10_000,
        rmsNormEpsilon: Float = 1e-5, contextLength: Int, vocabularySize: Int, tiedEmbeddings: Bool,
        traits: ArchitectureTraits? = nil
    ) throws(LlamaError) {
        guard Self.acceptedArchitectures.contains(architecture) else {
            throw .unsupportedArchitecture(architecture)
        }
        func require(_ ok: Bool, _ why: @autoclosure () -> String) throws(LlamaError) {
            if !ok { throw .invalidConfiguration(why()) }
        }
        try require(layers > 0, "block_count must be positive (got \(layers))")
        try require(hiddenSize > 0, "embedding_length must be positive (got \(hiddenSize))")
        try require(intermediateSize > 0, "feed_forward_length must be positive (got \(intermediateSize))")
        try require(attentionHeads > 0 && kvHeads > 0, "head counts must be positive (got \(attentionHeads) query, \(kvHeads) KV)")
        try require(
            attentionHeads % kvHeads == 0,
            "attention.head_count \(attentionHeads) is not a multiple of attention.head_count_kv \(kvHeads)")
        let headDim = headDim ?? hiddenSize / attentionHeads
        try require(
            headDim > 0, "head dimension must be positive (embedding_length \(hiddenSize), \(attentionHeads) heads)")
        try require(headDim % 2 == 0, "head dimension must be even for RoPE (got \(headDim))")
        let ropeDimensions = ropeDimensions ?? headDim
        try require(
            ropeDimensions > 0 && ropeDimensions <= headDim && ropeDimensions % 2 == 0,
            "rope.dimension_count \(ropeDimensions) must be even and at most the head dimension \(headDim)")
        try require(ropeFrequencyBase > 0, "rope.freq_base must be positive (got \(ropeFrequencyBase))")
        try require(rmsNormEpsilon > 0, "layer_norm_rms_epsilon must be positive (got \(rmsNormEpsilon))")
        try require(contextLength > 0, "context_length must be positive (got \(contextLength))")
        try require(vocabularySize > 0, "vocabulary size must be positive (got \(vocabularySize))")
        if let window = traits?.slidingWindow {
            try require(window > 0, "attention.sliding_window must be positive (got \(window))")
        }
        try require((traits?.slidingWindowPattern ?? 0) >= 0, "the sliding-window pattern must not be negative")
        self.architecture = architecture
        self.layers = layers
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.attentionHeads = attentionHeads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.ropeDimensions = ropeDimensions
        self.ropeFrequencyBase = ropeFrequencyBase
        self.rmsNormEpsilon = rmsNormEpsilon
        self.contextLength = contextLength
        self.vocabularySize = vocabularySize
        self.tiedEmbeddings = tiedEmbeddings
        self.familyTraits = traits == .llama ? nil : traits
    }

    /// Query heads per KV head.
    public var groupSize: Int { attentionHeads / kvHeads }
    /// Width of all query heads together: `attentionHeads * headDim`.
    public var queryWidth: Int { attentionHeads * headDim }
    /// Width of all KV heads together: `kvHeads * headDim`.
    public var kvWidth: Int { kvHeads * headDim }

    /// Number of weights (embedding counted once when tied).
    public var parameterCount: Int {
        let attention = hiddenSize * (queryWidth + 2 * kvWidth) + queryWidth * hiddenSize
        let mlp = 3 * hiddenSize * intermediateSize
        let perLayer = attention + mlp + 2 * hiddenSize
        let output = tiedEmbeddings ? 0 : vocabularySize * hiddenSize
        return layers * perLayer + vocabularySize * hiddenSize + output + hiddenSize
    }

    public var description: String {
        "\(architecture): \(layers) layers, hidden \(hiddenSize), \(attentionHeads) query / \(kvHeads) KV heads × \(headDim), "
            + "FFN \(intermediateSize), vocab \(vocabularySize), context \(contextLength)"
            + (tiedEmbeddings ? ", tied output" : "")
            + (traits.slidingWindow.map { ", window \($0) on \(localLayers.count) of \(layers) layers" } ?? "")
    }
}
