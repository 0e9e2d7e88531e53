import KVCompress

/// KVzip (J.-H. Kim et al., "KVzip: Query-Agnostic KV Cache Compression with Context Reconstruction",
/// arXiv 2505.23416): a KV's importance is the largest attention it receives while the model, teacher-
/// forced, reconstructs the document from its own cache — `s_i = max_{t, g} softmax(q_{t,g}·K/√d)_i`
/// over the reconstruction queries t and the query heads g of the KV's group (`ReconstructionPass`
/// runs that pass on a fork of the cache). No question is needed, so it suits query-agnostic serving.
/// The paper evicts the globally lowest KVs over all layers and heads, which is what pairing it with
/// the `kvcompress` allocation does (the `kvzip` preset); `uniform` gives each head the same share.
///
/// Option `repeat_turn`: `plain` (default: the repeat request as plain text, as the lab's tasks are
/// plain completions) or `chat` (the request closes a user turn of the model's chat template and the
/// document is read again as the assistant's reply, as KVzip's own code does for instruct models).
public struct KVzipScorer: KVScorer {
    public let repeatTurn: ReconstructionPass.RepeatTurn

    public init(repeatTurn: ReconstructionPass.RepeatTurn = .plain) {
        self.repeatTurn = repeatTurn
    }

    init(options: OptionReader) throws {
        let names = ReconstructionPass.RepeatTurn.allCases.map(\.rawValue)
        let name = try options.string("repeat_turn", default: ReconstructionPass.RepeatTurn.plain.rawValue, allowed: names)
        self.init(repeatTurn: ReconstructionPass.RepeatTurn(rawValue: name)!)
    }

    public var inputs: ScorerInputs { .reconstructionAttention }
    public var settings: [String: OptionValue] { ["repeat_turn": .string(repeatTurn.rawValue)] }
    public var reconstruction: ReconstructionPass { ReconstructionPass(repeatTurn: repeatTurn) }

    public func score(_ layer: LayerScoringInput) throws -> [[Float]] {
        layer.reconstructionAttention!  // asked for in `inputs`, so the framework provided it
    }
}
