import Foundation
import GGUF

/// Reading a Llama model from a GGUF file: hyper-parameters from the metadata (`{arch}.…` keys),
/// weights from the tensors (`token_embd.weight`, `blk.N.…`, `output_norm.weight`, optional
/// `output.weight`), dequantized to float32 and shape-checked.
extension LlamaConfiguration {
    /// Reads the hyper-parameters of `file`, by its family (``ModelFamilies``, keyed by
    /// `general.architecture`).
    public init(file: GGUFFile) throws(LlamaError) {
        let architecture: String
        do { architecture = try file.string("general.architecture") } catch {
            if case .missingKey = error { throw .missingMetadata("general.architecture") }
            throw .unreadableModel(error.description)
        }
        guard let reader = ModelFamilies.readers[architecture] else { throw .unsupportedArchitecture(architecture) }
        self = try reader(file)
    }

    /// The Llama family's hyper-parameters (`llama.…` keys).
    init(llamaFile file: GGUFFile) throws(LlamaError) {
        /// A missing key is `missingMetadata`; a key of the wrong type or a damaged file keeps GGUF's
        /// own description (which names file and key).
        func read<T>(_ key: String, _ get: (String) throws(GGUFError) -> T) throws(LlamaError) -> T {
            do { return try get(key) } catch {
                if case .missingKey = error { throw .missingMetadata(key) }
                throw .unreadableModel(error.description)
            }
        }
        let architecture = try read("general.architecture", file.string)
        guard Self.acceptedArchitectures.contains(architecture) else { throw .unsupportedArchitecture(architecture) }
        let prefix = architecture + "."
        func int(_ key: String) throws(LlamaError) -> Int { try read(prefix + key, file.int) }
        func optionalInt(_ key: String) throws(LlamaError) -> Int? { file.has(prefix + key) ? try int(key) : nil }
        func float(_ key: String) throws(LlamaError) -> Float { try read(prefix + key, file.float) }
        let hidden = try int("embedding_length")
        let heads = try int("attention.head_count")
        let embedding: GGUFTensorInfo
        do { embedding = try file.tensorInfo(named: "token_embd.weight") } catch { throw .missingTensor("token_embd.weight") }
        // The vocabulary is the token list when there is one, else the embedding's row count.
        let vocabulary = file.metadata["tokenizer.ggml.tokens"]?.arrayValue?.count ?? embedding.rowCount
        try self.init(
            architecture: architecture,
            layers: int("block_count"),
            hiddenSize: hidden,
            intermediateSize: int("feed_forward_length"),
            attentionHeads: heads,
            kvHeads: optionalInt("attention.head_count_kv") ?? heads,
            headDim: optionalInt("attention.key_length"),
            ropeDimensions: optionalInt("rope.dimension_count"),
            ropeFrequencyBase: file.has(prefix + "rope.freq_base") ? float("rope.freq_base") : 10_000,
            rmsNormEpsilon: float("attention.layer_norm_rms_epsilon"),
            contextLength: int("context_length"),
            vocabularySize: vocabulary,
            tiedEmbeddings: !file.hasTensor(named: "output.weight"))
    }
}

extension LlamaModel {
    /// Loads the model in `file` (configuration and all weights).
    public convenience init(file: GGUFFile) throws(LlamaError) {
        let configuration = try LlamaConfiguration(file: file)
        self.init(configuration: configuration, weights: try LlamaWeights(file: file, configuration: configuration))
    }

    /// Opens and loads the GGUF model at `path`.
    public convenience init(path: String) throws(LlamaError) {
        let file: GGUFFile
        do { file = try GGUFFile(path: path) } catch { throw .unreadableModel(error.description) }
        try self.init(file: file)
    }
}

extension LlamaWeights {
    init(file: GGUFFile, configuration c: LlamaConfiguration) throws(LlamaError) {
        /// A weight of `rows` outputs × `columns` inputs: ggml dimensions `[columns, rows]`. Block
        /// types of the form d·u + m keep their blocks, Q4_K and Q6_K their super-blocks
        /// (``KQuantMatrix``); other quantized types are requantized to
        /// 8 bits (see ``QuantizedMatrix``); F32, F16 and BF16 become dense float32.
        @Sendable func matrix(_ name: String, rows: Int, columns: Int) throws(LlamaError) -> WeightMatrix {
            let info = try tensorInfo(name, dimensions: [columns, rows])
            let raw: UnsafeRawBufferPointer
            do { raw = try file.rawBytes(of: info) } catch { throw .unreadableModel(error.description) }
            if let quantized = try QuantizedMatrix(raw: raw, type: info.type, rows: rows, columns: columns) {
                return WeightMatrix(quantized: quantized)
            }
            if columns % KQuantMatrix.blockLength == 0,
                let kQuantized = try KQuantMatrix(raw: raw, type: info.type, rows: rows, columns: columns)
            {
                return WeightMatrix(kQuantized: kQuantized)
            }
            let values = try dequantize(info)
            switch info.type {
            case .f32, .f16, .bf16, .f64:
                return WeightMatrix(rows: rows, columns: columns, values: values)
            default:
                guard columns % QuantizedMatrix.blockLength == 0 else {
                    return WeightMatrix(rows: rows, columns: columns, values: values)
                }
                return try values.withUnsafeBufferPointer { (buffer) throws(LlamaError) -> WeightMatrix in
                    WeightMatrix(quantized: try QuantizedMatrix(requantizing: buffer.baseAddress!, rows: rows, columns: columns))
                }
            }
        }
        /// The tensor `name`, checked to have `dimensions` (ggml order).
        @Sendable func tensorInfo(_ name: String, dimensions: [Int]) throws(LlamaError) -> GGUFTensorInfo {
            let info: GGUFTensorInfo
            do { info = try file.tensorInfo(named: name) } catch { throw .missingTensor(name) }
            guard info.dimensions == dimensions else {
                throw .tensorShapeMismatch(name: name, expected: dimensions, found: info.dimensions)
            }
            return info
        }
        @Sendable func dequantize(_ info: GGUFTensorInfo) throws(LlamaError) -> [Float] {
            do { return try file.dequantize(info) } catch { throw .unreadableModel(error.description) }
        }
        @Sendable func tensor(_ name: String, dimensions: [Int]) throws(LlamaError) -> [Float] {
            try dequantize(tensorInfo(name, dimensions: dimensions))
        }

        let embedding = try matrix("token_embd.weight", rows: c.vocabularySize, columns: c.hiddenSize)
        // Layers are independent: dequantize them on all cores.
        let results = LayerResults(count: c.layers)
        DispatchQueue.concurrentPerform(iterations: c.layers) { l in
            let p = "blk.\(l)."
            do throws(LlamaError) {
                let layer = LayerWeights(
                    attentionNorm: try tensor(p + "attn_norm.weight", dimensions: [c.hiddenSize]),
                    qkv: try WeightMatrix(stacking: [
                        try matrix(p + "attn_q.weight", rows: c.queryWidth, columns: c.hiddenSize),
                        try matrix(p + "attn_k.weight", rows: c.kvWidth, columns: c.hiddenSize),
                        try matrix(p + "attn_v.weight", rows: c.kvWidth, columns: c.hiddenSize),
                    ]),
                    attentionOutput: try matrix(p + "attn_output.weight", rows: c.hiddenSize, columns: c.queryWidth),
                    ffnNorm: try tensor(p + "ffn_norm.weight", dimensions: [c.hiddenSize]),
                    gateUp: try WeightMatrix(stacking: [
                        try matrix(p + "ffn_gate.weight", rows: c.intermediateSize, columns: c.hiddenSize),
                        try matrix(p + "ffn_up.weight", rows: c.intermediateSize, columns: c.hiddenSize),
                    ]),
                    down: try matrix(p + "ffn_down.weight", rows: c.hiddenSize, columns: c.intermediateSize),
                    queryNorm: c.traits.queryKeyNorms ? try tensor(p + "attn_q_norm.weight", dimensions: [c.headDim]) : nil,
                    keyNorm: c.traits.queryKeyNorms ? try tensor(p + "attn_k_norm.weight", dimensions: [c.headDim]) : nil,
                    postAttentionNorm: c.traits.postNorms
                        ? try tensor(p + "post_attention_norm.weight", dimensions: [c.hiddenSize]) : nil,
                    postFeedForwardNorm: c.traits.postNorms
                        ? try tensor(p + "post_ffw_norm.weight", dimensions: [c.hiddenSize]) : nil)
                results.set(l, .success(layer))
            } catch {
                results.set(l, .failure(error))
            }
        }
        let layers = try results.collect()
        let outputNorm = try tensor("output_norm.weight", dimensions: [c.hiddenSize])
        let output = c.tiedEmbeddings
            ? embedding : try matrix("output.weight", rows: c.vocabularySize, columns: c.hiddenSize)
        self.init(tokenEmbedding: embedding, layers: layers, outputNorm: outputNorm, output: output)
    }
}

/// Per-layer outcomes of a parallel load, written by one worker each.
private final class LayerResults: @unchecked Sendable {
    private var results: [Result<LayerWeights, LlamaError>?]
    private let lock = NSLock()
    init(count: Int) { results = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ result: Result<LayerWeights, LlamaError>) { lock.withLock { results[i] = result } }
    /// The layers in order, or the first layer's error.
    func collect() throws(LlamaError) -> [LayerWeights] {
        var layers: [LayerWeights] = []
        for r in results {
            switch r! {
            case .success(let layer): layers.append(layer)
            case .failure(let error): throw error
            }
        }
        return layers
    }
}
