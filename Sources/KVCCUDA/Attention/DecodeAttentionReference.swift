import PagedKVCache

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CPU reference of decode attention (`kvc_decode_attention` + `kvc_decode_attention_reduce` in
/// attention.cu): one new query per sequence attends over each KV head's own blocks and length
/// (KV-Compress §3), the GQA group's query heads sharing their KV head; exact max-subtracted softmax;
/// and the decode observation of §3.1 as MetricCollector applies AttentionMetric to it: every slot's
/// metric gains Σ over the group of p (L1) or p² (L2), unpooled, skipping keys closer than
/// `metricBuffer` positions before the query. Straightforward loops, one (sequence, head) at a time.
public enum DecodeAttentionReference {
    public struct Result: Sendable {
        /// `[sequences, qHeads, headDim]`; zeros for a head of length 0.
        public var output: [Float]
        /// Softmax probabilities per (sequence, KV head), index `sequence * kvHeads + head`:
        /// `[groupSize, length]` (the observation the production decode hands its observer).
        public var probabilities: [[Float]]
    }

    /// - Parameters:
    ///   - sequences: the batch, in the order of the rows of `queries`.
    ///   - queries: `[sequences, kvHeads · groupSize, headDim]` after RoPE.
    ///   - queryPositions: `[sequences]` token position of each query (for `metricBuffer`).
    ///   - metricMode: what is added to the cache's metrics (``AttentionMetricMode/none``: nothing).
    public static func run(
        cache: PagedKVCache, layer: Int, sequences: [SequenceID], queries: [Float], queryPositions: [Int32],
        groupSize: Int, scale: Float, metricMode: AttentionMetricMode, metricBuffer: Int = 0
    ) throws(CUDAError) -> Result {
        let layout = cache.layout, d = layout.headDim, g = groupSize, kvHeads = layout.kvHeads
        try AttentionShapeCheck.decode(
            layout: layout, sequenceCount: sequences.count, layer: layer, groupSize: groupSize, queries: queries.count,
            output: queries.count, queryPositions: queryPositions.count, metricBuffer: metricBuffer)
        for sequence in sequences where !cache.contains(sequence) {
            throw .invalidArgument("decode attention: unknown sequence \(sequence)")
        }
        let qHeads = kvHeads * g
        var output = [Float](repeating: 0, count: queries.count)
        var observed: [[Float]] = []
        for (s, sequence) in sequences.enumerated() {
            for h in 0..<kvHeads {
                let view = cache.view(sequence, layer: layer, head: h), n = view.length
                var probabilities = [Float](repeating: 0, count: g * n)
                for j in 0..<g where n > 0 {
                    let query = ((s * qHeads) + h * g + j) * d
                    var row = [Float](repeating: 0, count: n)
                    for i in 0..<n {
                        let key = view.key(i)
                        var dot: Float = 0
                        for x in 0..<d { dot += queries[query + x] * key[x] }
                        row[i] = scale * dot
                    }
                    let largest = row.max()!
                    var sum: Float = 0
                    for i in 0..<n {
                        row[i] = expf(row[i] - largest)
                        sum += row[i]
                    }
                    let inverse = 1 / sum
                    for i in 0..<n {
                        let p = row[i] * inverse
                        probabilities[j * n + i] = p
                        let value = view.value(i)
                        for x in 0..<d { output[query + x] += p * value[x] }
                    }
                }
                if metricMode != .none {
                    for i in 0..<n where Int(queryPositions[s]) - Int(view.position(i)) >= metricBuffer {
                        var sum: Float = 0
                        for j in 0..<g { sum += metricMode.score(probabilities[j * n + i]) }
                        view.metric(i).pointee += sum
                    }
                }
                observed.append(probabilities)
            }
        }
        return Result(output: output, probabilities: observed)
    }
}
