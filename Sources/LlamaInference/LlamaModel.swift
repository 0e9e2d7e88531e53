import KVCLinearAlgebra
import PagedKVCache

/// A Llama decoder running on the CPU over the KV-Compress paged cache.
///
/// Per block: RMSNorm → fused QKV projection → RoPE (normal mode) on Q and K → K, V appended to the
/// paged cache → grouped-query attention (``Attention``, the observation point) → output projection
/// and residual → RMSNorm → SwiGLU MLP and residual. Then a final RMSNorm and the output projection
/// (tied to the token embedding when the file has no `output.weight`).
///
/// Other families switch parts of the block by their ``ArchitectureTraits`` (Gemma 3: embedding
/// scale, Q/K norms, NEOX RoPE with a per-layer base, sliding-window layers, post-norms, GeGLU);
/// attention, cache and observer are the same for all.
///
/// Projections and MLP of all tokens of a step are one matrix product each
/// (``WeightMatrix/multiply(_:tokens:into:accumulate:)``, split over the cores): the prompt's tokens
/// in prefill, the batch's sequences in decode. Block-quantized files (Q4_1 for SmolLM2) multiply
/// with their own blocks and 8-bit activations, as llama.cpp does (``QuantizedMatrix``); float32
/// weights by sgemm.
///
/// Thread safety: the model is immutable; a forward step mutates only the cache it is given, which
/// must not be used by another step at the same time.
public final class LlamaModel: Sendable {
    public let configuration: LlamaConfiguration
    let weights: LlamaWeights
    let rope: RotaryEmbedding
    /// RoPE of the sliding-window layers when their base differs (Gemma 3), else nil.
    let localRope: RotaryEmbedding?
    let attention: Attention

    /// Takes over the BLAS thread setting: the model runs its own worker pool and calls BLAS
    /// single-threaded from it (see `Kernels.parallelGemm`).
    init(configuration: LlamaConfiguration, weights: LlamaWeights) {
        BLAS.threads = 1
        self.configuration = configuration
        self.weights = weights
        let traits = configuration.traits
        rope = RotaryEmbedding(
            dimensions: configuration.ropeDimensions, base: configuration.ropeFrequencyBase, mode: traits.ropeMode)
        localRope = configuration.localLayers.isEmpty || traits.localRopeFrequencyBase == configuration.ropeFrequencyBase
            ? nil
            : RotaryEmbedding(dimensions: configuration.ropeDimensions, base: traits.localRopeFrequencyBase, mode: traits.ropeMode)
        attention = Attention(configuration: configuration)
    }

    /// A model with seeded random weights (see `LlamaWeights.random`): for tests of the machinery
    /// (paged vs dense attention, batching, chunking), not for text.
    public static func random(configuration: LlamaConfiguration, seed: UInt64) -> LlamaModel {
        LlamaModel(configuration: configuration, weights: .random(configuration, seed: seed))
    }

    /// An empty paged cache shaped for this model, storing keys and values as `kvType`.
    public func makeCache(
        blockSize: Int = 16, kvType: KVStorageType = .default, capacityBlocks: Int
    ) throws -> PagedKVCache {
        let layout = try CacheLayout(
            layers: configuration.layers, kvHeads: configuration.kvHeads, headDim: configuration.headDim,
            blockSize: blockSize, kvType: kvType)
        return try PagedKVCache(layout: layout, capacityBlocks: capacityBlocks)
    }

    /// Width of the fused QKV projection output: `queryWidth + 2 * kvWidth`.
    var qkvWidth: Int { configuration.queryWidth + 2 * configuration.kvWidth }

    // MARK: - Prefill

    /// Runs `tokens` through the model as the next tokens of `sequence` (a fresh prompt, or a chunk
    /// appended to a sequence already in the cache), appending their KVs to every head.
    ///
    /// Cache blocks for the whole chunk are reserved first (all or nothing): on `outOfBlocks` the cache
    /// is unchanged.
    /// - Parameters:
    ///   - observer: sees the probabilities of the queries it picks with `observedQueries`.
    ///   - allLogits: return the logits of every position instead of only the last.
    ///   - trace: receives the intermediate tensors of this prefill under llama.cpp's graph names.
    /// - Returns: logits, `[tokens.count, vocabulary]` with `allLogits`, else `[vocabulary]`.
    public func prefill(
        _ tokens: [Int32], sequence: SequenceID, cache: PagedKVCache, observer: (any AttentionObserver)? = nil,
        allLogits: Bool = false, trace: (any ForwardTrace)? = nil
    ) throws -> [Float] {
        let c = configuration, n = tokens.count
        guard n > 0 else { throw LlamaError.emptyInput("prefill needs at least one token") }
        try validate(cache: cache)
        guard cache.contains(sequence) else { throw LlamaError.invalidSequence("\(sequence) is not in the cache") }
        try validate(tokens: tokens)
        let start = cache.nextPosition(sequence)
        guard start + n <= c.contextLength else { throw LlamaError.contextOverflow(tokens: start + n, contextLength: c.contextLength) }
        do { try cache.reserve(sequence, tokens: n) } catch { throw LlamaError.cache(error) }

        let positions = (0..<n).map { Int32(start + $0) }
        let ropeTables = ropeTables(positions: positions)
        let observedRows = observer.map { $0.observedQueries(sequence: sequence, chunkLength: n, startPosition: start) }
            .map { $0.clamped(to: 0..<n) }

        let buffers = StepBuffers(rows: n, configuration: c, qkvWidth: qkvWidth)
        defer { buffers.deallocate() }
        embed(tokens, into: buffers.hidden)
        for layer in 0..<c.layers {
            attentionBlock(layer: layer, rows: n, buffers: buffers, ropeTable: ropeTables(layer), trace: trace) { qkv in
                appendKV(qkv: qkv, rows: n, buffers: buffers, layer: layer) { keys, values in
                    positions.withUnsafeBufferPointer { p in
                        cache.append(sequence, layer: layer, count: n, keys: keys, values: values, positions: p.baseAddress!)
                    }
                }
                let views = (0..<c.kvHeads).map { cache.view(sequence, layer: layer, head: $0) }
                attention.prefill(
                    qkv: qkv, qkvStride: qkvWidth, count: n, views: views, output: buffers.attention,
                    sequence: sequence, layer: layer, startPosition: start,
                    observation: observer.flatMap { o in observedRows.map { (o, $0) } })
            }
            mlpBlock(layer: layer, rows: n, buffers: buffers, trace: trace)
            trace?.record("l_out-\(layer)", buffers.hidden, rows: n, width: c.hiddenSize)
        }
        cache.advance(sequence, by: n)
        freeBlocksOutsideWindow([sequence], cache: cache)
        let first = allLogits ? 0 : n - 1
        return logits(buffers: buffers, rows: first..<n)
    }

    // MARK: - Decode

    /// One decode step for a batch of sequences, one new token each; sequences may have any lengths,
    /// and after compression every head its own.
    ///
    /// Blocks for the step are reserved for the whole batch first (all or nothing).
    /// - Returns: logits per batch entry, `[batch][vocabulary]`.
    public func decode(
        _ batch: [(sequence: SequenceID, token: Int32)], cache: PagedKVCache, observer: (any AttentionObserver)? = nil
    ) throws -> [[Float]] {
        let c = configuration, n = batch.count
        guard n > 0 else { throw LlamaError.emptyInput("decode needs at least one sequence") }
        try validate(cache: cache)
        let sequences = batch.map(\.sequence)
        guard Set(sequences).count == n else { throw LlamaError.invalidSequence("a sequence appears twice in one decode batch") }
        for s in sequences where !cache.contains(s) { throw LlamaError.invalidSequence("\(s) is not in the cache") }
        try validate(tokens: batch.map(\.token))
        let positions = sequences.map { Int32(cache.nextPosition($0)) }
        if let longest = positions.max(), Int(longest) + 1 > c.contextLength {
            throw LlamaError.contextOverflow(tokens: Int(longest) + 1, contextLength: c.contextLength)
        }
        let needed = sequences.reduce(0) { $0 + cache.blocksNeeded($1, appending: 1) }
        guard needed <= cache.freeBlockCount else {
            throw LlamaError.cache(.outOfBlocks(needed: needed, free: cache.freeBlockCount, capacity: cache.capacityBlocks))
        }
        do { for s in sequences { try cache.reserve(s, tokens: 1) } } catch { throw LlamaError.cache(error) }

        let ropeTables = ropeTables(positions: positions)
        let observers: [(any AttentionObserver)?] = sequences.map { s in
            observer.flatMap { $0.observesDecode(sequence: s) ? $0 : nil }
        }
        let buffers = StepBuffers(rows: n, configuration: c, qkvWidth: qkvWidth)
        defer { buffers.deallocate() }
        embed(batch.map(\.token), into: buffers.hidden)
        for layer in 0..<c.layers {
            attentionBlock(layer: layer, rows: n, buffers: buffers, ropeTable: ropeTables(layer)) { qkv in
                appendKV(qkv: qkv, rows: n, buffers: buffers, layer: layer) { keys, values in
                    for (b, s) in sequences.enumerated() {
                        withUnsafePointer(to: positions[b]) { p in
                            cache.append(
                                s, layer: layer, count: 1, keys: keys + b * c.kvWidth, values: values + b * c.kvWidth, positions: p)
                        }
                    }
                }
                var views: [HeadView] = []
                views.reserveCapacity(n * c.kvHeads)
                for s in sequences { for h in 0..<c.kvHeads { views.append(cache.view(s, layer: layer, head: h)) } }
                attention.decode(
                    qkv: qkv, qkvStride: qkvWidth, batch: n, views: views, output: buffers.attention,
                    sequences: sequences, positions: positions, layer: layer, observers: observers)
            }
            mlpBlock(layer: layer, rows: n, buffers: buffers)
        }
        for s in sequences { cache.advance(s, by: 1) }
        freeBlocksOutsideWindow(sequences, cache: cache)
        let all = logits(buffers: buffers, rows: 0..<n)
        let v = c.vocabularySize
        return (0..<n).map { Array(all[$0 * v..<($0 + 1) * v]) }
    }

    // MARK: - Blocks shared by prefill and decode

    /// Returns to the pool the blocks of sliding-window layers that no later query can see, so a
    /// local layer holds at most its window (plus one partly stale block).
    private func freeBlocksOutsideWindow(_ sequences: [SequenceID], cache: PagedKVCache) {
        guard let window = configuration.traits.slidingWindow else { return }
        let local = configuration.localLayers
        for s in sequences { _ = try? cache.freeBlocksOutsideWindow(s, layers: local, window: window) }
    }

    /// The RoPE table of each layer for `positions`: the global one, or the local layers' own.
    private func ropeTables(positions: [Int32]) -> (Int) -> [Float] {
        let global = rope.table(positions: positions), local = localRope?.table(positions: positions)
        let c = configuration
        return { layer in local.flatMap { c.isLocal(layer: layer) ? $0 : nil } ?? global }
    }

    /// hidden[r] = embedding row of token r (× the family's embedding scale).
    private func embed(_ tokens: [Int32], into hidden: UnsafeMutablePointer<Float>) {
        let d = configuration.hiddenSize, scale = configuration.traits.embeddingScale
        for (r, t) in tokens.enumerated() {
            weights.tokenEmbedding.copyRow(Int(t), into: hidden + r * d)
            if scale != 1 { Kernels.scale(hidden + r * d, count: d, by: scale) }
        }
    }

    /// normed = RMSNorm(hidden); qkv = normed · Wqkvᵀ; RoPE on Q and K; `attend(qkv)` fills
    /// `buffers.attention`; hidden += attention · Woᵀ.
    private func attentionBlock(
        layer: Int, rows: Int, buffers: StepBuffers, ropeTable: [Float], trace: (any ForwardTrace)? = nil,
        attend: (UnsafeMutablePointer<Float>) -> Void
    ) {
        let c = configuration, w = weights.layers[layer]
        w.attentionNorm.withUnsafeBufferPointer {
            Kernels.rmsNorm(
                buffers.hidden, weight: $0.baseAddress!, output: buffers.normed, rows: rows, width: c.hiddenSize,
                epsilon: c.rmsNormEpsilon)
        }
        trace?.record("attn_norm-\(layer)", buffers.normed, rows: rows, width: c.hiddenSize)
        project(buffers.normed, rows: rows, weight: w.qkv, into: buffers.qkv)
        if let queryNorm = w.queryNorm, let keyNorm = w.keyNorm {
            normalizeHeads(buffers.qkv, rows: rows, queryNorm: queryNorm, keyNorm: keyNorm)
        }
        ropeTable.withUnsafeBufferPointer { table in
            for r in 0..<rows {
                let row = buffers.qkv + r * qkvWidth, t = table.baseAddress! + r * rope.pairs * 2
                rope.rotate(row, heads: c.attentionHeads, headDim: c.headDim, table: t)
                rope.rotate(row + c.queryWidth, heads: c.kvHeads, headDim: c.headDim, table: t)
            }
        }
        attend(buffers.qkv)
        trace?.record("kqv_out-\(layer)", buffers.attention, rows: rows, width: c.queryWidth)
        if let postNorm = w.postAttentionNorm {
            project(buffers.attention, rows: rows, weight: w.attentionOutput, into: buffers.projected)
            Kernels.addNormalized(
                buffers.projected, weight: postNorm, into: buffers.hidden, rows: rows, width: c.hiddenSize,
                epsilon: c.rmsNormEpsilon)
        } else {
            project(buffers.attention, rows: rows, weight: w.attentionOutput, into: buffers.hidden, accumulate: true)
        }
    }

    /// RMS norm of every query and key head of `rows` rows of `qkv` in place (Gemma 3's
    /// `attn_q_norm` / `attn_k_norm`, weights `[headDim]`).
    private func normalizeHeads(_ qkv: UnsafeMutablePointer<Float>, rows: Int, queryNorm: [Float], keyNorm: [Float]) {
        let c = configuration
        queryNorm.withUnsafeBufferPointer { qn in
            keyNorm.withUnsafeBufferPointer { kn in
                for r in 0..<rows {
                    let row = qkv + r * qkvWidth
                    Kernels.rmsNorm(
                        row, weight: qn.baseAddress!, output: row, rows: c.attentionHeads, width: c.headDim,
                        epsilon: c.rmsNormEpsilon)
                    Kernels.rmsNorm(
                        row + c.queryWidth, weight: kn.baseAddress!, output: row + c.queryWidth, rows: c.kvHeads,
                        width: c.headDim, epsilon: c.rmsNormEpsilon)
                }
            }
        }
    }

    /// Copies the K and V columns of `qkv` into contiguous `[rows, kvHeads, headDim]` buffers for
    /// `PagedKVCache.append`.
    private func appendKV(
        qkv: UnsafeMutablePointer<Float>, rows: Int, buffers: StepBuffers, layer: Int,
        append: (UnsafePointer<Float>, UnsafePointer<Float>) -> Void
    ) {
        let c = configuration
        for r in 0..<rows {
            let row = qkv + r * qkvWidth
            (buffers.keys + r * c.kvWidth).update(from: row + c.queryWidth, count: c.kvWidth)
            (buffers.values + r * c.kvWidth).update(from: row + c.queryWidth + c.kvWidth, count: c.kvWidth)
        }
        append(buffers.keys, buffers.values)
    }

    /// hidden += SwiGLU(RMSNorm(hidden) · Wgateᵀ, RMSNorm(hidden) · Wupᵀ) · Wdownᵀ.
    private func mlpBlock(layer: Int, rows: Int, buffers: StepBuffers, trace: (any ForwardTrace)? = nil) {
        let c = configuration, w = weights.layers[layer], f = c.intermediateSize
        w.ffnNorm.withUnsafeBufferPointer {
            Kernels.rmsNorm(
                buffers.hidden, weight: $0.baseAddress!, output: buffers.normed, rows: rows, width: c.hiddenSize,
                epsilon: c.rmsNormEpsilon)
        }
        trace?.record("ffn_norm-\(layer)", buffers.normed, rows: rows, width: c.hiddenSize)
        project(buffers.normed, rows: rows, weight: w.gateUp, into: buffers.gateUp)
        switch c.traits.activation {
        case .silu: Kernels.swiGLU(buffers.gateUp, output: buffers.activation, rows: rows, width: f)
        case .geluTanh: Kernels.geGLU(buffers.gateUp, output: buffers.activation, rows: rows, width: f)
        }
        if let postNorm = w.postFeedForwardNorm {
            project(buffers.activation, rows: rows, weight: w.down, into: buffers.projected)
            trace?.record("ffn_out-\(layer)", buffers.projected, rows: rows, width: c.hiddenSize)
            Kernels.addNormalized(
                buffers.projected, weight: postNorm, into: buffers.hidden, rows: rows, width: c.hiddenSize,
                epsilon: c.rmsNormEpsilon)
        } else {
            project(buffers.activation, rows: rows, weight: w.down, into: buffers.hidden, accumulate: true)
        }
    }

    /// Final RMSNorm and output projection of the given rows: `[rows.count, vocabulary]`.
    private func logits(buffers: StepBuffers, rows: Range<Int>) -> [Float] {
        let c = configuration, d = c.hiddenSize
        let first = buffers.hidden + rows.lowerBound * d
        weights.outputNorm.withUnsafeBufferPointer {
            Kernels.rmsNorm(first, weight: $0.baseAddress!, output: buffers.normed, rows: rows.count, width: d, epsilon: c.rmsNormEpsilon)
        }
        return [Float](unsafeUninitializedCapacity: rows.count * c.vocabularySize) { out, initialized in
            project(buffers.normed, rows: rows.count, weight: weights.output, into: out.baseAddress!)
            initialized = rows.count * c.vocabularySize
        }
    }

    /// output[rows, weight.rows] (+)= input[rows, weight.columns] · weightᵀ.
    private func project(
        _ input: UnsafePointer<Float>, rows: Int, weight: WeightMatrix, into output: UnsafeMutablePointer<Float>,
        accumulate: Bool = false
    ) {
        weight.multiply(input, tokens: rows, into: output, accumulate: accumulate)
    }

    // MARK: - Validation

    private func validate(cache: PagedKVCache) throws(LlamaError) {
        let l = cache.layout, c = configuration
        guard l.layers == c.layers, l.kvHeads == c.kvHeads, l.headDim == c.headDim else {
            throw .cacheMismatch(
                "cache has \(l.layers) layers × \(l.kvHeads) KV heads × \(l.headDim) dims, model needs "
                    + "\(c.layers) × \(c.kvHeads) × \(c.headDim)")
        }
    }

    private func validate(tokens: [Int32]) throws(LlamaError) {
        for t in tokens where t < 0 || Int(t) >= configuration.vocabularySize {
            throw .tokenOutOfRange(token: t, vocabularySize: configuration.vocabularySize)
        }
    }
}

/// Activations of one forward step, allocated once per step for all layers.
private struct StepBuffers {
    /// Residual stream: `[rows, hidden]`.
    let hidden: UnsafeMutablePointer<Float>
    /// RMSNorm output: `[rows, hidden]`.
    let normed: UnsafeMutablePointer<Float>
    /// Fused projections: `[rows, queryWidth + 2 * kvWidth]`.
    let qkv: UnsafeMutablePointer<Float>
    /// New keys and values for the cache: `[rows, kvHeads, headDim]` each.
    let keys: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>
    /// Attention output: `[rows, queryWidth]`.
    let attention: UnsafeMutablePointer<Float>
    /// Gate and up projections: `[rows, 2 * intermediate]`.
    let gateUp: UnsafeMutablePointer<Float>
    /// SwiGLU output: `[rows, intermediate]`.
    let activation: UnsafeMutablePointer<Float>
    /// A projection before its post-norm (Gemma): `[rows, hidden]`.
    let projected: UnsafeMutablePointer<Float>

    init(rows: Int, configuration c: LlamaConfiguration, qkvWidth: Int) {
        hidden = .allocate(capacity: rows * c.hiddenSize)
        normed = .allocate(capacity: rows * c.hiddenSize)
        qkv = .allocate(capacity: rows * qkvWidth)
        keys = .allocate(capacity: rows * c.kvWidth)
        values = .allocate(capacity: rows * c.kvWidth)
        attention = .allocate(capacity: rows * c.queryWidth)
        gateUp = .allocate(capacity: rows * 2 * c.intermediateSize)
        activation = .allocate(capacity: rows * c.intermediateSize)
        projected = .allocate(capacity: rows * c.hiddenSize)
    }

    func deallocate() {
        for p in [hidden, normed, qkv, keys, values, attention, gateUp, activation, projected] { p.deallocate() }
    }
}
