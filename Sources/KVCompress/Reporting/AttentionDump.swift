import PagedKVCache

/// The attention the metric saw and, on request, the tensors behind it, for the selected layers and KV
/// heads of one prompt: what `kvc compress --dump F --dump-attention window [--dump-tensors]` adds to
/// the dump, so a scorer can be prototyped in a notebook from the file before it is written in Swift.
/// Captured before the compression (keys and values of KVs it will evict are still there).
///
/// `S` = selected layers, `Q` = selected KV heads × group size (query heads, grouped by KV head),
/// `W` = observed queries, `N` = prompt length, `d` = head dimension. Everything is by token position.
public struct AttentionDump: Sendable {
    public let layers: [Int]
    public let kvHeads: [Int]
    public let groupSize: Int
    public let headDim: Int
    public let promptLength: Int
    /// Positions of the observed (window) queries: `[W]`.
    public let queryPositions: [Int32]
    /// `[S, Q, W, N]`: probability query w of query head q paid the key at position n; NaN where the
    /// head held no KV at n. Nil without `--dump-attention window`.
    public let probabilities: [Float]?
    /// `[S, Q, W, d]` after RoPE; nil without tensors.
    public let queries: [Float]?
    /// `[S, kvHeads.count, N, d]` (keys after RoPE); NaN rows where the head held no KV. Nil without tensors.
    public let keys: [Float]?
    public let values: [Float]?

    /// Reads the collector's records (it must record window attention, and window queries for tensors)
    /// and the cache of `sequence`, before compression.
    public static func capture(
        collector: MetricCollector, sequence: SequenceID, cache: PagedKVCache, layers: [Int], kvHeads: [Int], attention: Bool, tensors: Bool
    ) -> AttentionDump {
        let n = cache.nextPosition(sequence), d = cache.layout.headDim
        let recordedAttention = collector.windowAttention(sequence), recordedQueries = collector.windowQueries(sequence)
        let sample = recordedAttention.values.first
        let groupSize = sample?.groupSize ?? recordedQueries.values.first?.groupSize ?? 1
        let queryPositions = sample?.queryPositions ?? recordedQueries.values.first?.positions ?? []
        let w = queryPositions.count, q = kvHeads.count * groupSize
        var probabilities = attention ? [Float](repeating: .nan, count: layers.count * q * w * n) : nil
        var queries = tensors ? [Float](repeating: .nan, count: layers.count * q * w * d) : nil
        var keys = tensors ? [Float](repeating: .nan, count: layers.count * kvHeads.count * n * d) : nil
        var values = keys
        for (li, layer) in layers.enumerated() {
            for (hi, head) in kvHeads.enumerated() {
                let index = HeadIndex(layer: layer, head: head)
                if attention, let observed = recordedAttention[index], observed.queryPositions == queryPositions {
                    let keysSeen = observed.keyPositions.count
                    for g in 0..<groupSize {
                        for row in 0..<w {
                            let base = ((li * q + hi * groupSize + g) * w + row) * n
                            for (slot, position) in observed.keyPositions.enumerated() where Int(position) < n {
                                probabilities![base + Int(position)] = observed.probabilities[(g * w + row) * keysSeen + slot]
                            }
                        }
                    }
                }
                guard tensors else { continue }
                if let observed = recordedQueries[index], observed.positions == queryPositions {
                    for g in 0..<groupSize {
                        for row in 0..<w {
                            let to = ((li * q + hi * groupSize + g) * w + row) * d, from = (g * w + row) * d
                            for j in 0..<d { queries![to + j] = observed.queries[from + j] }
                        }
                    }
                }
                let view = cache.view(sequence, layer: layer, head: head)
                for slot in 0..<view.length {
                    let position = Int(view.position(slot))
                    guard position < n else { continue }
                    let to = ((li * kvHeads.count + hi) * n + position) * d
                    for j in 0..<d {
                        keys![to + j] = view.key(slot)[j]
                        values![to + j] = view.value(slot)[j]
                    }
                }
            }
        }
        return AttentionDump(
            layers: layers, kvHeads: kvHeads, groupSize: groupSize, headDim: d, promptLength: n, queryPositions: queryPositions,
            probabilities: probabilities, queries: queries, keys: keys, values: values)
    }
}
