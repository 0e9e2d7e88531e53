import PagedKVCache

/// CPU re-implementations of the eviction kernels, written as plain loops over a host
/// ``PagedKVCache`` with the kernels' inputs and outputs; the GPU results must equal them exactly
/// (sorting and moving are exact).
public enum EvictionReference {}

extension EvictionReference {
    /// Reference of `kvc_sort_head_metrics`: each head's scheduling scores sorted ascending (ties by
    /// logical index) and cut into virtual blocks.
    ///
    /// Scheduling score of a slot, as Sources/KVCompress/Mechanism/Compressor.swift builds it: +inf
    /// at a protected position (among the last `protectedWindow` of the sequence, or the first `sinks`),
    /// else the stored metric (divided by `max(1, sequenceLength - position)` for the average
    /// aggregate); NaN counts as -inf (Sources/KVCompress/Protocols/VirtualBlocks.swift).
    public static func sortHeadMetrics(
        cache: PagedKVCache, sequence: SequenceID, settings: EvictionSettings, shape: EvictionShape
    ) -> HeadOrdering {
        var indices = [Int32](repeating: -1, count: shape.heads * shape.maxContext)
        var blockScores = [Float](repeating: .infinity, count: shape.heads * shape.maxVirtualBlocks)
        for h in 0..<shape.heads {
            let view = cache.view(sequence, layer: h / shape.kvHeads, head: h % shape.kvHeads)
            let scores = (0..<view.length).map { i in
                schedulingScore(
                    stored: view.metric(i).pointee, position: Int(view.position(i)), sequenceLength: shape.sequenceLength,
                    settings: settings)
            }
            let order = scores.indices.sorted { a, b in scores[a] < scores[b] || (scores[a] == scores[b] && a < b) }
            for (rank, slot) in order.enumerated() { indices[h * shape.maxContext + rank] = Int32(slot) }
            let bs = shape.evictionBlockSizes[h]
            let count = EvictionShape.virtualBlockCount(length: view.length, blockSize: bs)
            for b in 0..<count {
                let end = EvictionShape.hanging(length: view.length, blockSize: bs) + b * bs
                blockScores[h * shape.maxVirtualBlocks + b] = scores[order[end - 1]]
            }
        }
        return HeadOrdering(checked: shape, ascendingIndices: indices, virtualBlockScores: blockScores)
    }

    /// The number the schedule sorts for a KV with metric `stored` at `position`.
    public static func schedulingScore(stored: Float, position: Int, sequenceLength: Int, settings: EvictionSettings) -> Float {
        if position >= sequenceLength - settings.protectedWindow || position < settings.sinks { return .infinity }
        let score: Float
        switch settings.aggregate {
        case .sum: score = stored
        case .average: score = stored / Float(max(1, sequenceLength - position))
        }
        return score.isNaN ? -.infinity : score
    }
}
