/// A dense float32 weight matrix in GGUF's layout: `[rows, columns]` row-major, one row per output
/// unit, so `y = W · x` is a product with the transpose of the stored matrix (`BLAS.gemm(transposeB:)`).
/// Immutable after construction, hence shareable across threads.
public final class WeightMatrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    /// `[rows, columns]`.
    public let data: UnsafeMutablePointer<Float>
    /// The same weights in the file's block format, when it is one the decode kernels read
    /// (see ``QuantizedMatrix``); nil for float32 sources and random test weights.
    let quantized: QuantizedMatrix?

    /// Takes `values` (`[rows, columns]`, row-major).
    init(rows: Int, columns: Int, values: [Float], quantized: QuantizedMatrix? = nil) {
        precondition(values.count == rows * columns, "matrix of \(rows)×\(columns) given \(values.count) values")
        self.rows = rows
        self.columns = columns
        let data = UnsafeMutablePointer<Float>.allocate(capacity: rows * columns)
        values.withUnsafeBufferPointer { data.initialize(from: $0.baseAddress!, count: rows * columns) }
        self.data = data
        self.quantized = quantized
    }

    /// Stacks matrices of equal width vertically (fused projections: one product instead of several).
    init(stacking parts: [WeightMatrix]) {
        let columns = parts[0].columns
        precondition(parts.allSatisfy { $0.columns == columns }, "stacked matrices must have equal widths")
        self.rows = parts.reduce(0) { $0 + $1.rows }
        self.columns = columns
        data = .allocate(capacity: rows * columns)
        var offset = 0
        for part in parts {
            (data + offset).initialize(from: part.data, count: part.rows * columns)
            offset += part.rows * columns
        }
        quantized = QuantizedMatrix(stacking: parts.map(\.quantized))
    }

    deinit { data.deallocate() }

    /// Row `r`: `[columns]`.
    @inline(__always) func row(_ r: Int) -> UnsafeMutablePointer<Float> { data + r * columns }
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
        let embedding = matrix(c.vocabularySize, c.hiddenSize, std: 0.1)
        let layers = (0..<c.layers).map { _ in
            LayerWeights(
                attentionNorm: norm(c.hiddenSize),
                // Larger Q and K than 1/√fan-in make attention peaked rather than uniform, so tests
                // notice a wrong key or a wrong position.
                qkv: WeightMatrix(stacking: [
                    matrix(c.queryWidth, c.hiddenSize, std: 0.5), matrix(c.kvWidth, c.hiddenSize, std: 0.5),
                    matrix(c.kvWidth, c.hiddenSize),
                ]),
                attentionOutput: matrix(c.hiddenSize, c.queryWidth),
                ffnNorm: norm(c.hiddenSize),
                gateUp: WeightMatrix(stacking: [
                    matrix(c.intermediateSize, c.hiddenSize), matrix(c.intermediateSize, c.hiddenSize),
                ]),
                down: matrix(c.hiddenSize, c.intermediateSize))
        }
        let output = c.tiedEmbeddings ? embedding : matrix(c.vocabularySize, c.hiddenSize)
        return LlamaWeights(tokenEmbedding: embedding, layers: layers, outputNorm: norm(c.hiddenSize), output: output)
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, seedable generator, so random models and sampling
/// are reproducible on every platform.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [low, high).
    mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * Float(next() >> 40) / Float(1 << 24)
    }
}
