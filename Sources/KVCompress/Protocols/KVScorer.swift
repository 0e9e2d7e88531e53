import BPETokenizer
import Foundation
import LlamaInference
import PagedKVCache

/// The one-method front door for a new compression method (kvpress's `ScorerPress.score`): given one
/// layer's cached keys and values per KV head, and whatever else it asked for, return one score per
/// cached KV per KV head — higher means keep. How many KVs each head keeps is not the scorer's
/// business: the configuration pairs it with an allocation, the eviction policy chosen by name
/// (`kvcompress`: the KV-Compress global schedule over layers and heads; `kvcompress` with
/// `even_layer_evict`: even per layer; `uniform`: the same share per head; `adakv`: head-adaptive
/// within a layer; `pyramidkv`: falling with depth).
///
/// ```swift
/// struct ValueNormScorer: KVScorer {
///     func score(_ layer: LayerScoringInput) throws -> [[Float]] {
///         // head.value(i): the cached value as floats ([headDim]), whatever the cache stores.
///         layer.heads.map { head in (0..<head.length).map { i in head.value(i).reduce(0) { $0 + $1 * $1 }.squareRoot() } }
///     }
/// }
/// registry.register(scorer: "value-norm", summary: "keep large values") { _ in ValueNormScorer() }
/// // kvc generate --scorer value-norm --compression kvcompress --rate 8
/// ```
public protocol KVScorer: Sendable {
    /// What the framework must gather before `score` is called (nothing by default: keys and values
    /// are always there).
    var inputs: ScorerInputs { get }
    /// One score per logical slot of every KV head of `layer.layer`: `[kvHeads][contextLength]`.
    /// Protected KVs (protected window, sinks) are kept whatever the score says. The scores must be a
    /// function of `layer` (and the plug-in's options): a sweep scores a prefilled document once and
    /// reuses the scores for every rate (`ScoreMemo`).
    func score(_ layer: LayerScoringInput) throws -> [[Float]]
    /// The plug-in's resolved settings (defaults included), recorded in reports and dumps.
    var settings: [String: OptionValue] { get }
    /// With `.reconstructionAttention`: how the framework runs the reconstruction pass (the repeat
    /// request's form, the chunk length).
    var reconstruction: ReconstructionPass { get }
}

extension KVScorer {
    public var inputs: ScorerInputs { [] }
    public var settings: [String: OptionValue] { [:] }
    public var reconstruction: ReconstructionPass { ReconstructionPass() }

    /// Checks, before any model work, what the scorer needs of the model's tokenizer (KVzip's chat
    /// repeat turn needs a chat template).
    /// - Throws: `CompressionError.invalidConfiguration` naming the option and what is missing.
    public func check(tokenizer: any TextTokenizer) throws {
        guard inputs.contains(.reconstructionAttention) else { return }
        _ = try reconstruction.repetition(of: [], tokenizer: tokenizer)
    }
}

/// Inputs a scorer may ask for beyond the cached keys and values.
public struct ScorerInputs: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// The attention metric the configured metric and window collected (each slot's stored metric,
    /// as the schedule would sort it): the window's attention.
    public static let windowAttention = ScorerInputs(rawValue: 1 << 0)
    /// KVzip's context reconstruction (arXiv 2505.23416): a fork of the cache reads a repeat prompt
    /// and the document again; each original KV gets the largest attention any of those queries (any
    /// head of its GQA group) paid it. Needs the model and the sequence's token ids (`ScoringContext`).
    public static let reconstructionAttention = ScorerInputs(rawValue: 1 << 1)
    /// The queries of the prefill's observation window (the last w prompt queries of each head), after
    /// RoPE, with their positions, and the model's RoPE parameters to undo or extrapolate the rotation
    /// (Expected Attention's query statistics). Needs the collector to record them (the driver turns
    /// that on for such a scorer) and a `ScoringContext`.
    public static let windowQueries = ScorerInputs(rawValue: 1 << 2)
    /// The layer's attention output projection W_O (dequantized) and the GQA group size, to weigh a KV
    /// by what its value contributes after attention (CriticalKV). Needs a `ScoringContext`.
    public static let outputProjection = ScorerInputs(rawValue: 1 << 3)
}

/// One (layer, KV head).
public struct HeadIndex: Sendable, Hashable {
    public let layer: Int
    public let head: Int
    public init(layer: Int, head: Int) {
        self.layer = layer
        self.head = head
    }
}

/// The observation window's queries of one KV head's group, as the prefill saw them.
public struct ObservedQueries: Sendable, Hashable {
    public let groupSize: Int
    public let headDim: Int
    /// Token positions of the queries: `[count]`.
    public let positions: [Int32]
    /// After RoPE: `[groupSize, count, headDim]`.
    public let queries: [Float]

    public init(groupSize: Int, headDim: Int, positions: [Int32], queries: [Float]) {
        precondition(queries.count == groupSize * positions.count * headDim, "queries are [groupSize, count, headDim]")
        self.groupSize = groupSize
        self.headDim = headDim
        self.positions = positions
        self.queries = queries
    }

    public var count: Int { positions.count }
}

/// The attention probabilities one prefill observation of one KV head's group computed: what the
/// metric saw, for dumps and notebooks.
public struct ObservedAttention: Sendable, Hashable {
    public let groupSize: Int
    /// Positions of the observed queries: `[queries]`.
    public let queryPositions: [Int32]
    /// Token position of each key (logical slot order): `[keys]`.
    public let keyPositions: [Int32]
    /// `[groupSize, queries, keys]`.
    public let probabilities: [Float]

    public init(groupSize: Int, queryPositions: [Int32], keyPositions: [Int32], probabilities: [Float]) {
        precondition(probabilities.count == groupSize * queryPositions.count * keyPositions.count, "probabilities are [groupSize, queries, keys]")
        self.groupSize = groupSize
        self.queryPositions = queryPositions
        self.keyPositions = keyPositions
        self.probabilities = probabilities
    }
}

/// The rotary embedding of one layer as llama.cpp applies it: pair i of the first `dimensions`
/// dimensions is rotated by position · base^(−2i/dimensions); which two dimensions form pair i
/// depends on the model (`pairing`), and the base can differ per layer (Gemma 3: 10 000 on its
/// sliding-window layers, 1 000 000 on the global ones).
public struct RotaryParameters: Sendable, Hashable {
    /// Which dimensions rotate together (ggml's rope modes).
    public enum Pairing: String, Sendable, Hashable {
        /// (x[2i], x[2i+1]): ggml's "normal" mode (Llama, SmolLM2).
        case adjacent
        /// (x[i], x[i + dimensions/2]): ggml's NEOX mode (Gemma 3).
        case halves
    }

    public let dimensions: Int
    public let base: Float
    public let pairing: Pairing

    public init(dimensions: Int, base: Float, pairing: Pairing = .adjacent) {
        self.dimensions = dimensions
        self.base = base
        self.pairing = pairing
    }

    /// The two dimensions pair `i` rotates: (cos, sin) act as [[c, −s], [s, c]] on (first, second).
    @inlinable public func pair(_ i: Int) -> (first: Int, second: Int) {
        switch pairing {
        case .adjacent: (2 * i, 2 * i + 1)
        case .halves: (i, i + dimensions / 2)
        }
    }

    /// θ_i for every pair i.
    public var frequencies: [Double] {
        (0..<dimensions / 2).map { pow(Double(base), -2 * Double($0) / Double(dimensions)) }
    }
}

/// One layer of one sequence, as a scorer sees it.
public struct LayerScoringInput: Sendable {
    public let layer: Int
    public let kvHeads: Int
    public let headDim: Int
    /// Tokens the sequence has processed (the next token's position).
    public let sequenceLength: Int
    /// Every KV head of the layer: keys, values and token positions per logical slot.
    public let heads: [HeadView]
    /// With `.windowAttention`: `[kvHeads][contextLength]`, each slot's scheduling score from the
    /// configured metric (protected slots hold their stored metric, not +inf).
    public let windowAttention: [[Float]]?
    /// With `.reconstructionAttention`: `[kvHeads][contextLength]`, the largest attention probability a
    /// reconstruction query of the group paid the slot.
    public let reconstructionAttention: [[Float]]?
    /// With `.windowQueries`: per KV head, the observation window's queries of its group.
    public let windowQueries: [ObservedQueries]?
    /// With `.windowQueries`: the model's RoPE.
    public let rotary: RotaryParameters?
    /// With `.outputProjection`: W_O `[hiddenSize, queryHeads · headDim]` row-major.
    public let outputProjection: [Float]?
    /// With `.outputProjection`: query heads per KV head (KV head h serves query heads h·G ..< (h+1)·G).
    public let groupSize: Int?

    public init(
        layer: Int, kvHeads: Int, headDim: Int, sequenceLength: Int, heads: [HeadView], windowAttention: [[Float]]? = nil,
        reconstructionAttention: [[Float]]? = nil, windowQueries: [ObservedQueries]? = nil, rotary: RotaryParameters? = nil,
        outputProjection: [Float]? = nil, groupSize: Int? = nil
    ) {
        self.layer = layer
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.sequenceLength = sequenceLength
        self.heads = heads
        self.windowAttention = windowAttention
        self.reconstructionAttention = reconstructionAttention
        self.windowQueries = windowQueries
        self.rotary = rotary
        self.outputProjection = outputProjection
        self.groupSize = groupSize
    }
}

/// What a compression may use beyond the cache: the model and the token ids the sequence holds, for
/// scorers that run the model again (KVzip's reconstruction).
public struct ScoringContext: Sendable {
    public let model: LlamaModel
    public let tokenizer: any TextTokenizer
    /// Token ids of the sequence, position order: `[sequenceLength]`.
    public let tokens: [Int32]
    /// The observation window's queries per (layer, KV head), when the collector recorded them
    /// (`MetricCollector.recordsWindowQueries`).
    public let windowQueries: [HeadIndex: ObservedQueries]
    /// The observation window's attention rows per (layer, KV head), when the collector recorded them
    /// (`MetricCollector.recordsWindowAttention`), for policies that read them (CAKE).
    public let windowAttention: [HeadIndex: ObservedAttention]
    /// Reconstruction passes already run over these tokens (KVzip), shared by the compressions of forks
    /// of one prefill; nil: every compression runs its own.
    public let reconstructionMemo: ReconstructionMemo?
    /// Scores already computed for this prefilled sequence, shared by compressions of its unchanged
    /// forks (a sweep's rates); nil: every compression scores anew. Pass one only when the sequence
    /// compressed is such a fork (`ScoreMemo`).
    public let scoreMemo: ScoreMemo?

    public init(
        model: LlamaModel, tokenizer: any TextTokenizer, tokens: [Int32], windowQueries: [HeadIndex: ObservedQueries] = [:],
        windowAttention: [HeadIndex: ObservedAttention] = [:], reconstructionMemo: ReconstructionMemo? = nil, scoreMemo: ScoreMemo? = nil
    ) {
        self.model = model
        self.tokenizer = tokenizer
        self.tokens = tokens
        self.windowQueries = windowQueries
        self.windowAttention = windowAttention
        self.reconstructionMemo = reconstructionMemo
        self.scoreMemo = scoreMemo
    }
}
