import CKernels
import SeededRandom

/// A weight matrix `[rows, columns]`, one row per output unit (GGUF's layout), so `y = W · x` is a
/// product with the transpose of the stored matrix. Either dense float32 (F32/F16/BF16 files and
/// random test weights; products by sgemm), block-quantized (``QuantizedMatrix``; products by
/// integer dot products with 8-bit activations) or in K-quant super-blocks (``KQuantMatrix``; Q4_K
/// and Q6_K with Q8_K activations). ``multiply(_:rows:into:accumulate:)`` is the one
/// place the forward pass multiplies with weights. Immutable, hence shareable across threads.
public final class WeightMatrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    /// `[rows, columns]` row-major float32; nil when the matrix is block-quantized.
    let dense: UnsafeMutablePointer<Float>?
    /// The blocks; nil for dense and K-quant matrices.
    let quantized: QuantizedMatrix?
    /// The K-quant super-blocks; nil for the other kinds.
    let kQuantized: KQuantMatrix?

    /// Takes `values` (`[rows, columns]`, row-major) as dense float32.
    init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "matrix of \(rows)×\(columns) given \(values.count) values")
        self.rows = rows
        self.columns = columns
        let data = UnsafeMutablePointer<Float>.allocate(capacity: rows * columns)
        values.withUnsafeBufferPointer { data.initialize(from: $0.baseAddress!, count: rows * columns) }
        dense = data
        quantized = nil
        kQuantized = nil
    }

    init(quantized: QuantizedMatrix) {
        rows = quantized.rows
        columns = quantized.columns
        dense = nil
        self.quantized = quantized
        kQuantized = nil
    }

    init(kQuantized: KQuantMatrix) {
        rows = kQuantized.rows
        columns = kQuantized.columns
        dense = nil
        quantized = nil
        self.kQuantized = kQuantized
    }

    /// Stacks matrices of equal width vertically (fused projections: one product instead of several).
    /// Quantized parts stay quantized; if any part is dense (or a K-quant), the stack is dense.
    convenience init(stacking parts: [WeightMatrix]) throws(LlamaError) {
        let quantized = parts.compactMap(\.quantized)
        if quantized.count == parts.count {
            self.init(quantized: try QuantizedMatrix(stacking: quantized))
        } else {
            self.init(rows: parts.reduce(0) { $0 + $1.rows }, columns: parts[0].columns, values: parts.flatMap { $0.values() })
        }
    }

    deinit { dense?.deallocate() }

    /// out[c] = W[r, c] for every column c (an embedding lookup).
    func copyRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        if let dense {
            out.update(from: dense + r * columns, count: columns)
        } else if let kQuantized {
            kQuantized.dequantizeRow(r, into: out)
        } else {
            quantized!.dequantizeRow(r, into: out)
        }
    }

    /// All weights as float32, `[rows, columns]` (tests and references).
    public func values() -> [Float] {
        if let dense { return Array(UnsafeBufferPointer(start: dense, count: rows * columns)) }
        if let kQuantized { return kQuantized.dequantized() }
        return quantized!.dequantized()
    }

    /// output[t, r] (+)= Σ_c W[r, c]·input[t, c] for `tokens` rows of input (`[tokens, columns]`);
    /// output is `[tokens, rows]`.
    func multiply(
        _ input: UnsafePointer<Float>, tokens: Int, into output: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        if let quantized {
            let activations = QuantizedActivations(
                input, tokens: tokens, columns: columns, rounding: quantized.activationRounding)
            quantized.multiply(activations, into: output, ldy: rows, accumulate: accumulate)
        } else if let kQuantized {
            let activations = Q8KActivations(input, tokens: tokens, columns: columns)
            kQuantized.multiply(activations, into: output, ldy: rows, accumulate: accumulate)
        } else {
            Kernels.parallelGemm(
                m: tokens, n: rows, k: columns, a: input, weight: dense!, c: output, accumulate: accumulate)
        }
    }
}

/// Weights of one transformer block.
struct LayerWeights: Sendable {
    /// `[hidden]`.
    let attentionNorm: [Float]
    /// Q, K and V projections stacked: `[queryWidth + 2 * kvWidth, hidden]` (Q rows, then K, then V).
    let qkv: WeightMatrix
    /// Attention output projection: `[hidden, queryWidth]`.
    let attentionOutput: WeightMatrix
    /// `[hidden]`.
    let ffnNorm: [Float]
    /// Gate and up projections stacked: `[2 * intermediate, hidden]` (gate rows, then up).
    let gateUp: WeightMatrix
    /// `[hidden, intermediate]`.
    let down: WeightMatrix
    /// Per-head RMS norm weights of queries and keys, `[headDim]` each (``ArchitectureTraits/queryKeyNorms``).
    var queryNorm: [Float]? = nil
    var keyNorm: [Float]? = nil
    /// RMS norm weights of the attention and FFN outputs, `[hidden]` each (``ArchitectureTraits/postNorms``).
    var postAttentionNorm: [Float]? = nil
    var postFeedForwardNorm: [Float]? = nil
}

/// All weights of a Llama model.
struct LlamaWeights: Sendable {
    /// `[vocabulary, hidden]`.
    let tokenEmbedding: WeightMatrix
    let layers: [LayerWeights]
    /// `[hidden]`.
    let outputNorm: [Float]
    /// `[vocabulary, hidden]`; the token embedding itself when the model ties them.
    let output: WeightMatrix
}

// MARK: - Random weights for tests

extension LlamaWeights {
    /// Weights drawn from a seeded generator: matrices uniform with standard deviation 1/√fan-in (so
    /// activations keep their scale through the layers), norms near 1, embeddings of
    /// standard deviation 0.1 (logits of order 1, so absolute tolerances in tests mean something).
    /// The same seed always gives the same model.
    static func random(_ c: LlamaConfiguration, seed: UInt64) -> LlamaWeights {
        var rng = SplitMix64(seed: seed)
        func matrix(_ rows: Int, _ columns: Int, std: Float? = nil) -> WeightMatrix {
            let a = (std ?? 1 / Float(columns).squareRoot()) * Float(3).squareRoot()
            return WeightMatrix(rows: rows, columns: columns, values: (0..<rows * columns).map { _ in rng.uniform(-a, a) })
        }
        func norm(_ n: Int) -> [Float] { (0..<n).map { _ in rng.uniform(0.8, 1.2) } }
        /// Dense matrices stacked vertically (the fused QKV and gate-up projections).
        func stacked(_ parts: [WeightMatrix]) -> WeightMatrix {
            WeightMatrix(rows: parts.reduce(0) { $0 + $1.rows }, columns: parts[0].columns, values: parts.flatMap { $0.values() })
        }
        let embedding = matrix(c.vocabularySize, c.hiddenSize, std: 0.1)
        let traits = c.traits
        let layers = (0..<c.layers).map { _ in
            LayerWeights(
                attentionNorm: norm(c.hiddenSize),
                // Larger Q and K than 1/√fan-in make attention peaked rather than uniform, so tests
                // notice a wrong key or a wrong position.
                qkv: stacked([
                    matrix(c.queryWidth, c.hiddenSize, std: 0.5), matrix(c.kvWidth, c.hiddenSize, std: 0.5),
                    matrix(c.kvWidth, c.hiddenSize),
                ]),
                attentionOutput: matrix(c.hiddenSize, c.queryWidth),
                ffnNorm: norm(c.hiddenSize),
                gateUp: stacked([
                    matrix(c.intermediateSize, c.hiddenSize), matrix(c.intermediateSize, c.hiddenSize),
                ]),
                down: matrix(c.hiddenSize, c.intermediateSize),
                queryNorm: traits.queryKeyNorms ? norm(c.headDim) : nil,
                keyNorm: traits.queryKeyNorms ? norm(c.headDim) : nil,
                postAttentionNorm: traits.postNorms ? norm(c.hiddenSize) : nil,
                postFeedForwardNorm: traits.postNorms ? norm(c.hiddenSize) : nil)
        }
        let output = c.tiedEmbeddings ? embedding : matrix(c.vocabularySize, c.hiddenSize)
        return LlamaWeights(tokenEmbedding: embedding, layers: layers, outputNorm: norm(c.hiddenSize), output: output)
    }
}

extension SplitMix64 {
    /// Uniform in [low, high).
    mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * Float(next() >> 40) / Float(1 << 24)
    }
}
