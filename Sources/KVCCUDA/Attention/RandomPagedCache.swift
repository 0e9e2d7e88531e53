import PagedKVCache
import SeededRandom

/// Random host caches in the shapes the kernels meet: every head of every layer with its own length
/// (heads truncated as after KV-Compress evictions), blocks of different heads and sequences
/// interleaved in the pool, small random metrics (so accumulation shows), and optionally heads whose
/// slots are not in token-position order (as after cache moves).
struct RandomPagedCache {
    let cache: PagedKVCache
    let sequences: [SequenceID]

    /// - Parameters:
    ///   - lengths: per sequence, `[layers · kvHeads]` head lengths (index `layer * kvHeads + head`).
    ///   - shuffledHeads: per sequence, head indices whose slots get a random logical order.
    ///   - spareBlocks: free blocks left in the pool beyond what the longest heads needed.
    init(layout: CacheLayout, lengths: [[Int]], shuffledHeads: Set<Int> = [], spareBlocks: Int = 0, seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let longest = lengths.map { $0.max() ?? 0 }
        let capacity = max(1, longest.reduce(spareBlocks) { $0 + layout.headCount * layout.blocks(forTokens: $1) })
        let cache = try PagedKVCache(layout: layout, capacityBlocks: capacity)
        let sequences = lengths.map { _ in cache.addSequence() }
        // Appended one block's worth at a time, round robin over sequences, so that the blocks of a
        // head are scattered over the pool rather than contiguous.
        let step = layout.blockSize, width = layout.kvHeads * layout.headDim
        var appended = [Int](repeating: 0, count: lengths.count)
        while zip(appended, longest).contains(where: { $0 < $1 }) {
            for (s, sequence) in sequences.enumerated() where appended[s] < longest[s] {
                let count = min(step, longest[s] - appended[s])
                try cache.reserve(sequence, tokens: count)
                let positions = (0..<count).map { Int32(appended[s] + $0) }
                for layer in 0..<layout.layers {
                    let keys = (0..<count * width).map { _ in random.signedUnit() }
                    let values = (0..<count * width).map { _ in random.signedUnit() }
                    cache.append(sequence, layer: layer, count: count, keys: keys, values: values, positions: positions)
                }
                cache.advance(sequence, by: count)
                appended[s] += count
            }
        }
        for (s, sequence) in sequences.enumerated() {
            for layer in 0..<layout.layers {
                for head in 0..<layout.kvHeads {
                    let index = layer * layout.kvHeads + head
                    try cache.truncate(sequence, layer: layer, head: head, to: lengths[s][index])
                    let view = cache.view(sequence, layer: layer, head: head)
                    for i in 0..<view.length { view.metric(i).pointee = 1e-3 * (random.signedUnit() + 1) / 2 }
                    if shuffledHeads.contains(index) { Self.shuffle(view, in: cache, random: &random) }
                }
            }
        }
        self.cache = cache
        self.sequences = sequences
    }

    /// Permutes the KVs of a head over its logical slots (key, value, metric, position together).
    private static func shuffle(_ view: HeadView, in cache: PagedKVCache, random: inout SplitMix64) {
        let n = view.length
        let keys = (0..<n).map { Array(view.key($0)) }
        let values = (0..<n).map { Array(view.value($0)) }
        let metrics = (0..<n).map { view.metric($0).pointee }
        let positions = (0..<n).map { view.position($0) }
        let permutation = (0..<n).shuffled(using: &random)
        for (to, from) in permutation.enumerated() {
            cache.storeKey(slot: view.slot(to), from: keys[from])
            cache.storeValue(slot: view.slot(to), from: values[from])
            view.metric(to).pointee = metrics[from]
            view.positions(block: to / view.blockSize)[to % view.blockSize] = positions[from]
        }
    }

    /// Metrics of every valid slot of `layer`, in (sequence, head, logical index) order.
    func metrics(layer: Int) -> [Float] {
        var all: [Float] = []
        for sequence in sequences {
            for head in 0..<cache.layout.kvHeads {
                let view = cache.view(sequence, layer: layer, head: head)
                all += (0..<view.length).map { view.metric($0).pointee }
            }
        }
        return all
    }
}
