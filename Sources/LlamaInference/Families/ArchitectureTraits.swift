/// How a model family's decoder block differs from Llama's: the switches the one forward pass of
/// ``LlamaModel`` reads (one value per family; the family files set them from GGUF metadata).
///
/// Llama (``llama``) is every switch off. Gemma 3 (src/models/gemma3.cpp of llama.cpp) turns on
/// the embedding scale √hidden, NEOX RoPE, per-head RMS norms of Q and K, RMS norms after
/// attention and after the FFN, the GeLU-tanh gated FFN and a sliding window on five of every six
/// layers with their own RoPE base.
public struct ArchitectureTraits: Codable, Sendable, Hashable {
    /// Which dimensions RoPE rotates together (ggml's `LLAMA_ROPE_TYPE_NORM` / `_NEOX`).
    public enum RopeMode: String, Codable, Sendable {
        /// Adjacent pairs (x[2i], x[2i+1]).
        case normal
        /// Halves: (x[i], x[i + d/2]).
        case neox
    }

    /// The gate activation of the FFN: out = act(gate) · up.
    public enum FeedForwardActivation: String, Codable, Sendable {
        /// silu(g) = g / (1 + e^−g) (SwiGLU).
        case silu
        /// GeLU, tanh approximation, read from a half-float table as ggml does (GEGLU).
        case geluTanh
    }

    /// The token embedding is multiplied by this (Gemma: √hidden).
    public var embeddingScale: Float = 1
    public var ropeMode: RopeMode = .normal
    public var activation: FeedForwardActivation = .silu
    /// RMS norms of every query and key head before RoPE (`attn_q_norm`, `attn_k_norm`).
    public var queryKeyNorms = false
    /// RMS norms of the attention and FFN outputs before their residual additions
    /// (`post_attention_norm`, `post_ffw_norm`).
    public var postNorms = false
    /// Keys a local layer's query sees: positions p − k < window (ggml's `LLAMA_SWA_TYPE_STANDARD`);
    /// nil when every layer is global.
    public var slidingWindow: Int? = nil
    /// Layer l is global when l % pattern == pattern − 1, local otherwise (ggml's
    /// `set_swa_pattern`); 0 with a window means every layer is local.
    public var slidingWindowPattern = 0
    /// RoPE base of the local layers (global layers use the configuration's `ropeFrequencyBase`).
    public var localRopeFrequencyBase: Float = 10_000

    public init() {}

    /// The Llama block: every switch off.
    public static let llama = ArchitectureTraits()
}

extension LlamaConfiguration {
    /// The family's switches (``ArchitectureTraits/llama`` for configurations without any).
    public var traits: ArchitectureTraits { familyTraits ?? .llama }

    /// Whether `layer` attends only within the sliding window.
    public func isLocal(layer: Int) -> Bool {
        guard traits.slidingWindow != nil else { return false }
        let pattern = traits.slidingWindowPattern
        return pattern == 0 || layer % pattern != pattern - 1
    }

    /// The window of `layer` in tokens, nil for a global layer.
    public func slidingWindow(layer: Int) -> Int? { isLocal(layer: layer) ? traits.slidingWindow : nil }

    /// The layers that attend only within the sliding window (empty for Llama).
    public var localLayers: [Int] { (0..<layers).filter(isLocal) }

    /// RoPE base θ of `layer`.
    public func ropeFrequencyBase(layer: Int) -> Float {
        isLocal(layer: layer) ? traits.localRopeFrequencyBase : ropeFrequencyBase
    }
}
