import PagedKVCache

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CPU reference of the prefill metric of one sequence and layer (`kvc_window_softmax_stats`,
/// `kvc_window_metric`, `kvc_max_pool_metric` in metric.cu), in the order MetricCollector applies
/// AttentionMetric to a prefill observation (KV-Compress §3.1):
/// 1. each window query attends, exact softmax, over the keys it sees (key position ≤ query position);
/// 2. each query head of a GQA group scores every KV with Σ_window p (L1) or p² (L2), skipping keys
///    closer than `buffer` positions before the query;
/// 3. each query head's row is max-pooled over the head's KVs in token-position order (kernel
///    `poolKernel`, window `[r − k/2, r + (k−1)/2]` clipped; `poolKernel` ≤ 1: no pooling);
/// 4. the group's pooled rows are summed and added to each slot's metric.
public enum WindowMetricReference {
    /// - Parameters:
    ///   - queries: `[window, kvHeads · groupSize, headDim]` after RoPE.
    ///   - queryPositions: `[window]`.
    public static func run(
        cache: PagedKVCache, layer: Int, sequence: SequenceID, queries: [Float], queryPositions: [Int32],
        groupSize: Int, scale: Float, metricMode: AttentionMetricMode, buffer: Int = 0, poolKernel: Int = 7
    ) throws(CUDAError) {
        let layout = cache.layout, d = layout.headDim, g = groupSize, window = queryPositions.count
        try AttentionShapeCheck.window(
            layout: layout, sequenceCount: 1, sequenceIndex: 0, layer: layer, groupSize: groupSize, window: window,
            queries: queries.count, queryPositions: window, metricMode: metricMode, buffer: buffer, poolKernel: poolKernel)
        guard cache.contains(sequence) else { throw .invalidArgument("window metric: unknown sequence \(sequence)") }
        let qHeads = layout.kvHeads * g
        for h in 0..<layout.kvHeads {
            let view = cache.view(sequence, layer: layer, head: h), n = view.length
            guard n > 0 else { continue }
            let keyPositions = (0..<n).map { view.position($0) }
            var raw = [Float](repeating: 0, count: g * n)
            for j in 0..<g {
                for w in 0..<window {
                    let queryPosition = queryPositions[w], query = (w * qHeads + h * g + j) * d
                    let visible = (0..<n).filter { keyPositions[$0] <= queryPosition }
                    guard !visible.isEmpty else { continue }
                    var scores = [Float](repeating: 0, count: n)
                    for i in visible {
                        let key = view.key(i)
                        var dot: Float = 0
                        for x in 0..<d { dot += queries[query + x] * key[x] }
                        scores[i] = scale * dot
                    }
                    let largest = visible.map { scores[$0] }.max()!
                    var sum: Float = 0
                    for i in visible { sum += expf(scores[i] - largest) }
                    let inverse = 1 / sum
                    for i in visible where Int(queryPosition) - Int(keyPositions[i]) >= buffer {
                        raw[j * n + i] += metricMode.score(expf(scores[i] - largest) * inverse)
                    }
                }
            }
            // Rank order by token position, ties by logical index (a stable sort).
            let order = (0..<n).sorted { (keyPositions[$0], $0) < (keyPositions[$1], $1) }
            let left = poolKernel / 2, right = (poolKernel - 1) / 2
            for r in 0..<n {
                var sum: Float = 0
                for j in 0..<g {
                    if poolKernel > 1 {
                        var pooled = -Float.infinity
                        for neighbour in max(0, r - left)...min(n - 1, r + right) {
                            pooled = max(pooled, raw[j * n + order[neighbour]])
                        }
                        sum += pooled
                    } else {
                        sum += raw[j * n + order[r]]
                    }
                }
                view.metric(order[r]).pointee += sum
            }
        }
    }
}
