import KVCLinearAlgebra
import PagedKVCache

/// Attention over the paged KV cache: the one choke point every forward step goes through, and so
/// the place where an ``AttentionObserver`` sees the exact softmax probabilities (KV-Compress §3.1).
///
/// Grouped-query attention without repeating KVs: the `groupSize` query heads of a group read their
/// shared KV head's blocks directly. Each KV head has its own block table and context length (the
/// KV-Compress layout, paper §3), so heads are processed independently and in parallel. Keys in the
/// cache already carry RoPE, so slot order does not matter to attention.
struct Attention {
    let configuration: LlamaConfiguration
    /// Query rows processed together in a prefill tile: bounds the score matrix to
    /// `[groupSize · queryTile, context]` per task instead of `[n, n]` per query head (64 and 128
    /// measured alike at 2048 tokens).
    static let queryTile = 128
    /// The tile on a sliding-window layer, where a tile reads about window + tile keys: smaller tiles
    /// read fewer keys that the window hides (Gemma 3 prefill at 2048 / 8192 tokens: +2% / +5% over 128).
    static let slidingWindowQueryTile = 64

    /// With a float16 cache, round the queries and the softmax probabilities to float16 before
    /// their products with the cache, as llama.cpp's CPU backend does (``HalfPrecisionOperands``);
    /// the default, for fidelity to llama.cpp. Off, they stay float32 as in the CUDA kernels, whose
    /// partitioned softmax never holds a normalised probability to round (Kernels/README.md).
    var roundsOperandsToHalf = true

    /// Whether attention over `view` rounds its queries and probabilities to float16.
    func roundsOperands(over view: HeadView) -> Bool { roundsOperandsToHalf && view.kvType == .f16 }

    var scale: Float { 1 / Float(configuration.headDim).squareRoot() }

    // MARK: - Prefill

    /// Causal attention of a chunk of `count` new tokens of one sequence whose KVs were just appended
    /// to `views` (so each head holds `length - count` earlier KVs followed by the chunk's).
    /// - Parameters:
    ///   - qkv: projections of the chunk: `[count, qkvStride]`, the (RoPE'd) queries of head q at
    ///     columns `q * headDim ..< (q + 1) * headDim`.
    ///   - views: one per KV head, after the append.
    ///   - output: `[count, queryWidth]`.
    ///   - observation: observer and observed chunk rows, if any.
    func prefill(
        qkv: UnsafePointer<Float>, qkvStride: Int, count: Int, views: [HeadView], output: UnsafeMutablePointer<Float>,
        sequence: SequenceID, layer: Int, startPosition: Int,
        observation: (observer: any AttentionObserver, rows: Range<Int>)?
    ) {
        let c = configuration, d = c.headDim, g = c.groupSize
        // Gather each head's keys and values in logical slot order into contiguous [length, headDim]
        // buffers, so that the score and value products are single sgemm calls per tile.
        let keys = views.map { UnsafeMutablePointer<Float>.allocate(capacity: $0.length * d) }
        let values = views.map { UnsafeMutablePointer<Float>.allocate(capacity: $0.length * d) }
        defer {
            keys.forEach { $0.deallocate() }
            values.forEach { $0.deallocate() }
        }
        let sharedKeys = keys.map(SharedPointer.init), sharedValues = values.map(SharedPointer.init)
        parallelFor(c.kvHeads) { h in
            Self.gather(views[h], keys: sharedKeys[h].base, values: sharedValues[h].base)
        }
        // Sliding-window layers (Gemma 3): slot positions, to hide keys outside the window.
        let window = c.slidingWindow(layer: layer)
        let slotPositions = window == nil ? nil : views.map(Self.positions)

        let queryTile = window == nil ? Self.queryTile : Self.slidingWindowQueryTile
        let tiles = (count + queryTile - 1) / queryTile
        let out = SharedPointer(output), q = SharedPointer(UnsafeMutablePointer(mutating: qkv))
        let queryWidth = c.queryWidth, scale = scale
        // Heavier (later) tiles first, interleaving heads, for a balanced dynamic schedule. The
        // group's query heads are stacked into one [groupSize · rows, headDim] matrix, so each tile is
        // two sgemm calls however large the group.
        parallelFor(c.kvHeads * tiles) { item in
            let h = item % c.kvHeads, tile = tiles - 1 - item / c.kvHeads
            let rowStart = tile * queryTile, rows = min(queryTile, count - rowStart)
            let past = views[h].length - count
            // Slots hidden from the tile's first query by the sliding window are hidden from all its
            // later queries too: the products skip that leading run (on a local layer, a tile reads
            // about window + tile keys instead of its whole causal prefix).
            var skipped = 0
            if let window, let slotPositions {
                skipped = Self.leadingSlotsOutsideWindow(
                    slotPositions[h], count: past + rowStart, query: startPosition + rowStart, window: window)
            }
            let width = past + rowStart + rows - skipped
            let stacked = UnsafeMutablePointer<Float>.allocate(capacity: g * rows * d)
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: g * rows * width)
            let results = UnsafeMutablePointer<Float>.allocate(capacity: g * rows * d)
            defer {
                stacked.deallocate()
                scores.deallocate()
                results.deallocate()
            }
            for j in 0..<g {
                for i in 0..<rows {
                    (stacked + (j * rows + i) * d).update(from: q.base + (rowStart + i) * qkvStride + (h * g + j) * d, count: d)
                }
            }
            let halfCache = roundsOperands(over: views[h])
            if halfCache { HalfPrecisionOperands.round(stacked, count: g * rows * d) }
            BLAS.gemm(
                m: g * rows, n: width, k: d, a: stacked, b: sharedKeys[h].base + skipped * d, ldb: d, transposeB: true,
                c: scores, ldc: width, alpha: scale)
            for r in 0..<g * rows {
                let row = scores + r * width, visible = past + rowStart + r % rows + 1 - skipped
                if let window, let slotPositions {
                    Self.maskOutsideWindow(
                        row, positions: slotPositions[h], from: skipped, count: visible,
                        query: startPosition + rowStart + r % rows, window: window)
                }
                Kernels.softmax(row, count: visible)
                (row + visible).update(repeating: 0, count: width - visible)
            }
            if halfCache { HalfPrecisionOperands.round(scores, count: g * rows * width) }
            BLAS.gemm(
                m: g * rows, n: d, k: width, a: scores, lda: width, b: sharedValues[h].base + skipped * d, ldb: d,
                transposeB: false, c: results, ldc: d)
            for j in 0..<g {
                for i in 0..<rows {
                    (out.base + (rowStart + i) * queryWidth + (h * g + j) * d).update(from: results + (j * rows + i) * d, count: d)
                }
            }
        }

        if let (observer, observed) = observation, !observed.isEmpty {
            parallelFor(c.kvHeads) { h in
                observePrefill(
                    observer: observer, rows: observed, qkv: q.base, qkvStride: qkvStride, count: count,
                    keys: sharedKeys[h].base, view: views[h], kvHead: h, sequence: sequence, layer: layer,
                    startPosition: startPosition)
            }
        }
    }

    /// Computes, in float32, the softmax probabilities of the observed chunk rows over all slots of one
    /// KV head and hands them to the observer. Recomputed apart from the tiles so that the
    /// observation has the layout the seam promises (`[groupSize, queries, context]`) whatever the tiling.
    private func observePrefill(
        observer: any AttentionObserver, rows: Range<Int>, qkv: UnsafePointer<Float>, qkvStride: Int, count: Int,
        keys: UnsafePointer<Float>, view: HeadView, kvHead h: Int, sequence: SequenceID, layer: Int, startPosition: Int
    ) {
        let c = configuration, d = c.headDim, g = c.groupSize, n = rows.count, length = view.length
        let past = length - count
        let window = c.slidingWindow(layer: layer), slotPositions = window == nil ? nil : Self.positions(view)
        let probabilities = UnsafeMutableBufferPointer<Float>.allocate(capacity: g * n * length)
        let queries = UnsafeMutableBufferPointer<Float>.allocate(capacity: g * n * d)
        defer {
            probabilities.deallocate()
            queries.deallocate()
        }
        for j in 0..<g {
            let head = h * g + j
            for (i, row) in rows.enumerated() {
                (queries.baseAddress! + (j * n + i) * d).update(from: qkv + row * qkvStride + head * d, count: d)
            }
            if roundsOperands(over: view) { HalfPrecisionOperands.round(queries.baseAddress! + j * n * d, count: n * d) }
            let block = probabilities.baseAddress! + j * n * length
            BLAS.gemm(
                m: n, n: length, k: d, a: queries.baseAddress! + j * n * d, b: keys, transposeB: true, c: block, alpha: scale)
            for (i, row) in rows.enumerated() {
                let p = block + i * length, visible = past + row + 1
                if let window, let slotPositions {
                    Self.maskOutsideWindow(
                        p, positions: slotPositions, count: visible, query: startPosition + row, window: window)
                }
                Kernels.softmax(p, count: visible)
                (p + visible).update(repeating: 0, count: length - visible)
            }
        }
        observer.observe(
            HeadObservation(
                sequence: sequence, layer: layer, kvHead: h, groupSize: g, headDim: d,
                queryPositions: rows.map { Int32(startPosition + $0) }, phase: .prefill,
                queries: UnsafeBufferPointer(queries), probabilities: UnsafeBufferPointer(probabilities), cache: view))
    }

    /// The positions of a head's slots in logical order: `[length]`.
    static func positions(_ view: HeadView) -> [Int32] {
        var positions: [Int32] = []
        positions.reserveCapacity(view.length)
        for block in 0..<view.blockCount {
            positions.append(contentsOf: UnsafeBufferPointer(start: view.positions(block: block), count: view.count(inBlock: block)))
        }
        return positions
    }

    /// Scores of slots whose key is outside the sliding window of the query at position `query`
    /// become −∞, so softmax gives them 0 (llama.cpp `is_masked_swa`, standard type: masked when
    /// query − key ≥ window). `scores[j]` belongs to slot `first + j`.
    static func maskOutsideWindow(
        _ scores: UnsafeMutablePointer<Float>, positions: [Int32], from first: Int = 0, count: Int, query: Int, window: Int
    ) {
        for j in 0..<count where query - Int(positions[first + j]) >= window { scores[j] = -.infinity }
    }

    /// How many of the first `count` slots (in logical order) lie outside the window of the query at
    /// position `query`, counted from the first slot until one inside: `[0, count]`. A later query
    /// (larger position) sees none of them either.
    static func leadingSlotsOutsideWindow(_ positions: [Int32], count: Int, query: Int, window: Int) -> Int {
        var j = 0
        while j < count, query - Int(positions[j]) >= window { j += 1 }
        return j
    }

    /// Copies a head's keys and values in logical order, as floats: `[length, headDim]` each.
    private static func gather(_ view: HeadView, keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>) {
        let d = view.headDim
        var offset = 0
        for block in 0..<view.filledBlockCount {
            let n = view.count(inBlock: block)
            view.copyKeys(block: block, into: keys + offset * d)
            view.copyValues(block: block, into: values + offset * d)
            offset += n
        }
    }

    // MARK: - Decode

    /// Attention of one new query token per sequence over each head's own blocks and length.
    /// - Parameters:
    ///   - qkv: `[batch, qkvStride]` projections of the step (queries RoPE'd).
    ///   - views: `[batch * kvHeads]`, index `b * kvHeads + h`, after this step's append.
    ///   - output: `[batch, queryWidth]`.
    ///   - observers: per batch row, the observer to call, if it observes decode.
    func decode(
        qkv: UnsafePointer<Float>, qkvStride: Int, batch: Int, views: [HeadView], output: UnsafeMutablePointer<Float>,
        sequences: [SequenceID], positions: [Int32], layer: Int, observers: [(any AttentionObserver)?]
    ) {
        let c = configuration, kvHeads = c.kvHeads
        let out = SharedPointer(output), q = SharedPointer(UnsafeMutablePointer(mutating: qkv))
        // Runs of consecutive heads per task (still several tasks per core, for balance), so that a
        // worker knows its next head and can start loading it while computing the current one.
        let items = batch * kvHeads
        let run = max(1, items / (4 * WorkerPool.shared.threads))
        parallelFor((items + run - 1) / run) { task in
            let end = min(items, (task + 1) * run)
            for item in task * run..<end {
                if item + 1 < end { DecodeAttentionKernels.prefetch(views[item + 1]) }
                let b = item / kvHeads, h = item % kvHeads
                decodeHead(
                    query: q.base + b * qkvStride, view: views[item], output: out.base + b * c.queryWidth, kvHead: h,
                    sequence: sequences[b], position: positions[b], layer: layer, observer: observers[b])
            }
        }
    }

    /// One (sequence, KV head) of a decode step: scores of the group's queries against every slot,
    /// softmax, the observer, weighted sum of values (C kernels but the observer).
    private func decodeHead(
        query: UnsafePointer<Float>, view: HeadView, output: UnsafeMutablePointer<Float>, kvHead h: Int,
        sequence: SequenceID, position: Int32, layer: Int, observer: (any AttentionObserver)?
    ) {
        let c = configuration, d = c.headDim, g = c.groupSize, length = view.length
        /// `[groupSize, length]`.
        let probabilities = UnsafeMutablePointer<Float>.allocate(capacity: g * length)
        defer { probabilities.deallocate() }
        // `[groupSize, headDim]`: the group's queries, as the products with the cache's keys see them.
        let queries = UnsafeMutablePointer<Float>.allocate(capacity: g * d)
        defer { queries.deallocate() }
        queries.update(from: query + h * g * d, count: g * d)
        let halfCache = roundsOperands(over: view)
        if halfCache { HalfPrecisionOperands.round(queries, count: g * d) }
        DecodeAttentionKernels.withBlocks(of: view) { blocks in
            DecodeAttentionKernels.scores(
                queries: queries, groupSize: g, headDim: d, blocks: blocks, kvType: view.kvType, length: length,
                scale: scale, into: probabilities)
            if let window = c.slidingWindow(layer: layer) {
                let slotPositions = Self.positions(view)
                for j in 0..<g {
                    Self.maskOutsideWindow(
                        probabilities + j * length, positions: slotPositions, count: length, query: Int(position), window: window)
                }
            }
            DecodeAttentionKernels.softmax(probabilities, groupSize: g, length: length)
            if let observer {
                observer.observe(
                    HeadObservation(
                        sequence: sequence, layer: layer, kvHead: h, groupSize: g, headDim: d,
                        queryPositions: [position], phase: .decode, queries: UnsafeBufferPointer(start: UnsafePointer(queries), count: g * d),
                        probabilities: UnsafeBufferPointer(start: probabilities, count: g * length), cache: view))
            }
            if halfCache { HalfPrecisionOperands.round(probabilities, count: g * length) }
            DecodeAttentionKernels.weightedValues(
                probabilities: probabilities, groupSize: g, headDim: d, blocks: blocks, kvType: view.kvType,
                length: length, into: output + h * g * d)
        }
    }
}
