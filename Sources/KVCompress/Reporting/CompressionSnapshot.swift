import PagedKVCache

/// What one compression of one sequence decided, indexed by token position, for analysis
/// (`kvc compress --dump`): the score the schedule sorted and whether the KV was evicted.
public struct CompressionSnapshot: Sendable, Hashable {
    public let layers: Int
    public let kvHeads: Int
    /// Tokens the sequence had processed (the prompt length after a prefill).
    public let sequenceLength: Int
    /// Scheduling score per (layer, head, position): `[layers, kvHeads, sequenceLength]`; +inf for
    /// protected KVs, NaN for positions the head no longer held before this compression.
    public let scores: [Float]
    /// 1 where the KV is not in the cache after this compression (evicted now or earlier):
    /// `[layers, kvHeads, sequenceLength]`.
    public let evicted: [UInt8]
    /// Context length of each head after: `[layers, kvHeads]`.
    public let contextLengths: [Int32]
    /// Physical block ids of each head after, -1 padded: `[layers, kvHeads, maxBlocks]`.
    public let blockTables: [Int32]
    public let maxBlocks: Int

    init(input: EvictionInput, plan: EvictionPlan, cache: PagedKVCache) {
        let n = input.sequenceLength, heads = input.heads.count
        layers = input.layers
        kvHeads = input.kvHeads
        sequenceLength = n
        var scores = [Float](repeating: .nan, count: heads * n)
        var evicted = [UInt8](repeating: 1, count: heads * n)
        for (index, head) in input.heads.enumerated() {
            var gone = [Bool](repeating: false, count: head.contextLength)
            for slot in plan.evicted[index] { gone[slot] = true }
            for slot in 0..<head.contextLength {
                let p = Int(head.positions[slot])
                guard p >= 0, p < n else { continue }
                scores[index * n + p] = head.scores[slot]
                evicted[index * n + p] = gone[slot] ? 1 : 0
            }
        }
        self.scores = scores
        self.evicted = evicted
        var lengths: [Int32] = []
        var tables: [[Int32]] = []
        for layer in 0..<input.layers {
            for head in 0..<input.kvHeads {
                lengths.append(Int32(cache.contextLength(input.sequence, layer: layer, head: head)))
                tables.append(cache.blockTable(input.sequence, layer: layer, head: head))
            }
        }
        contextLengths = lengths
        let width = tables.map(\.count).max() ?? 0
        maxBlocks = width
        blockTables = tables.flatMap { $0 + [Int32](repeating: -1, count: width - $0.count) }
    }
}
