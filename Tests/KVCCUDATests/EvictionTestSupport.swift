import KVCCUDA
import PagedKVCache
import SeededRandom

/// One random cache scenario: a sequence whose heads were already compressed before (each holds all
/// its protected positions plus a random share of the others, in shuffled slot order), with random
/// keys, values and metrics; optionally tied metrics (small integers) and NaN metrics.
struct EvictionScenario: Sendable, CustomStringConvertible {
    var seed: UInt64
    var layers = 2
    var kvHeads = 3
    var headDim = 4
    var blockSize: Int
    var sequenceLength: Int
    var protectedWindow: Int
    var sinks = 0
    var tiedMetrics = true
    var withNaN = false
    var budget: EvictionBudget
    var aggregate: EvictionSettings.Aggregate = .sum
    var evenLayerEvict = false
    /// Eviction unit per layer; nil: the block size.
    var evictionBlockSizes: [Int]?

    var description: String {
        "seed \(seed), \(layers)×\(kvHeads) heads, bs \(blockSize), len \(sequenceLength), protected \(protectedWindow), sinks \(sinks), \(budget), \(aggregate)\(evenLayerEvict ? ", even layers" : "")\(evictionBlockSizes.map { ", units \($0)" } ?? "")\(tiedMetrics ? ", ties" : "")\(withNaN ? ", NaN" : "")"
    }

    var settings: EvictionSettings {
        EvictionSettings(
            budget: budget, protectedWindow: protectedWindow, sinks: sinks, aggregate: aggregate, evenLayerEvict: evenLayerEvict,
            evictionBlockSizes: evictionBlockSizes)
    }

    /// Builds the cache; the same scenario always builds the same cache.
    func makeCache(spareBlocks: Int = 2) throws -> (cache: PagedKVCache, sequence: SequenceID) {
        var rng = SplitMix64(seed: seed)
        let layout = try CacheLayout(layers: layers, kvHeads: kvHeads, headDim: headDim, blockSize: blockSize)
        let n = sequenceLength
        let cache = try PagedKVCache(layout: layout, capacityBlocks: layout.blocks(forTokens: n) * layout.headCount + spareBlocks)
        // Pools start uninitialized; zero them so whole-pool comparisons see only what the test wrote.
        let slots = cache.capacityBlocks * blockSize
        cache.keys.initialize(repeating: 0, count: slots * headDim)
        cache.values.initialize(repeating: 0, count: slots * headDim)
        cache.metrics.initialize(repeating: 0, count: slots)
        cache.positions.initialize(repeating: 0, count: slots)
        let sequence = cache.addSequence()
        try cache.reserve(sequence, tokens: n)
        let positions = (0..<Int32(n)).map { $0 }
        let zeros = [Float](repeating: 0, count: n * kvHeads * headDim)
        for layer in 0..<layers {
            cache.append(sequence, layer: layer, count: n, keys: zeros, values: zeros, positions: positions)
        }
        cache.advance(sequence, by: n)
        func isProtected(_ p: Int) -> Bool { p >= n - protectedWindow || p < sinks }
        for layer in 0..<layers {
            for head in 0..<kvHeads {
                let protected = (0..<n).filter(isProtected)
                let others = (0..<n).filter { !isProtected($0) }.shuffled(using: &rng)
                let keep = others.isEmpty ? 0 : Int.random(in: others.count / 2...others.count, using: &rng)
                let held = (protected + others.prefix(keep)).shuffled(using: &rng)
                try cache.truncate(sequence, layer: layer, head: head, to: held.count)
                let view = cache.view(sequence, layer: layer, head: head)
                for (i, position) in held.enumerated() {
                    view.positions(block: i / blockSize)[i % blockSize] = Int32(position)
                    var metric = tiedMetrics ? Float(Int.random(in: 0...3, using: &rng)) : Float.random(in: 0...1, using: &rng)
                    if withNaN && Int.random(in: 0..<10, using: &rng) == 0 { metric = .nan }
                    view.metric(i).pointee = metric
                    for d in 0..<headDim {
                        view.key(i)[d] = Float.random(in: -1...1, using: &rng)
                        view.value(i)[d] = Float.random(in: -1...1, using: &rng)
                    }
                }
            }
        }
        return (cache, sequence)
    }
}

/// The four pools, tables and lengths of a cache, for exact comparisons (NaN metrics compare by bits).
struct CacheContents: Equatable {
    let keys: [UInt32]
    let values: [UInt32]
    let metrics: [UInt32]
    let positions: [Int32]
    let tables: [[Int32]]
    let lengths: [Int]
    let freeBlocks: Int

    init(_ cache: PagedKVCache, _ sequence: SequenceID) {
        let slots = cache.capacityBlocks * cache.layout.blockSize, d = cache.layout.headDim
        keys = (0..<slots * d).map { cache.keys[$0].bitPattern }
        values = (0..<slots * d).map { cache.values[$0].bitPattern }
        metrics = (0..<slots).map { cache.metrics[$0].bitPattern }
        positions = Array(UnsafeBufferPointer(start: cache.positions, count: slots))
        tables = (0..<cache.layout.headCount).map { cache.blockTable(sequence, layer: $0 / cache.layout.kvHeads, head: $0 % cache.layout.kvHeads) }
        lengths = cache.contextLengths(sequence)
        freeBlocks = cache.freeBlockCount
    }
}
