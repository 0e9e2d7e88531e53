import KVCompress

/// KVzip (J.-H. Kim et al., "KVzip: Query-Agnostic KV Cache Compression with Context Reconstruction",
/// arXiv 2505.23416): a KV's importance is the largest attention it receives while the model, teacher-
/// forced, reconstructs the document from its own cache — `s_i = max_{t, g} softmax(q_{t,g}·K/√d)_i`
/// over the reconstruction queries t and the query heads g of the KV's group (`ReconstructionPass`
/// runs that pass on a fork of the cache). No question is needed, so it suits query-agnostic serving.
/// The paper evicts the globally lowest KVs over all layers and heads, which is what pairing it with
/// the `kvcompress` allocation does (the `kvzip` preset); `uniform` gives each head the same share.
public struct KVzipScorer: KVScorer {
    public init() {}

    public var inputs: ScorerInputs { .reconstructionAttention }

    public func score(_ layer: LayerScoringInput) throws -> [[Float]] {
        layer.reconstructionAttention!  // asked for in `inputs`, so the framework provided it
    }
}
