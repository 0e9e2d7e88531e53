import EvictionPolicies
import KVCompress
import PagedKVCache
import PropertyBased

/// One KV as the test remembers it, independent of where the cache stores it.
struct StoredKV: Equatable {
    let key: [Float]
    let value: [Float]
    let metric: Float
}

/// A paged cache holding one sequence with random content, shaped like a cache that was already
/// compressed before: each head holds a random subset of the positions `0..<sequenceLength` (always
/// including its protected ones), in shuffled slot order, with random keys, values and metrics.
struct RandomCache {
    let cache: PagedKVCache
    let sequence: SequenceID
    let sequenceLength: Int
    let protectedWindow: Int
    let sinks: Int
    /// What each head holds, by token position: `[layers * kvHeads]`.
    let contents: [[Int32: StoredKV]]

    var layout: CacheLayout { cache.layout }

    func isProtected(_ position: Int32) -> Bool {
        Int(position) >= sequenceLength - protectedWindow || Int(position) < sinks
    }

    init(
        layers: Int, kvHeads: Int, headDim: Int = 4, blockSize: Int, sequenceLength: Int, protectedWindow: Int,
        sinks: Int, tiedMetrics: Bool, spareBlocks: Int = 3, using rng: inout Xoshiro
    ) throws {
        let layout = try CacheLayout(layers: layers, kvHeads: kvHeads, headDim: headDim, blockSize: blockSize)
        let blocksPerHead = layout.blocks(forTokens: sequenceLength)
        let cache = try PagedKVCache(layout: layout, capacityBlocks: blocksPerHead * layout.headCount + spareBlocks)
        let sequence = cache.addSequence()
        try cache.reserve(sequence, tokens: sequenceLength)
        let n = sequenceLength
        let positions = (0..<Int32(n)).map { $0 }
        for layer in 0..<layers {
            let keys = (0..<n * kvHeads * headDim).map { _ in Float.random(in: -1...1, using: &rng) }
            let values = (0..<n * kvHeads * headDim).map { _ in Float.random(in: -1...1, using: &rng) }
            cache.append(sequence, layer: layer, count: n, keys: keys, values: values, positions: positions)
        }
        cache.advance(sequence, by: n)

        var contents: [[Int32: StoredKV]] = []
        for layer in 0..<layers {
            for head in 0..<kvHeads {
                // Which positions this head still holds: all protected ones plus a random share of the rest.
                let protected = (0..<n).filter { $0 >= n - protectedWindow || $0 < sinks }
                let others = (0..<n).filter { !($0 >= n - protectedWindow || $0 < sinks) }.shuffled(using: &rng)
                let keepOthers = others.isEmpty ? 0 : Int.random(in: 0...others.count, using: &rng)
                let held = (protected + others.prefix(keepOthers)).shuffled(using: &rng)
                try cache.truncate(sequence, layer: layer, head: head, to: held.count)
                let view = cache.view(sequence, layer: layer, head: head)
                var map: [Int32: StoredKV] = [:]
                for (i, position) in held.enumerated() {
                    // Slot i takes position `position`: copy that token's K/V from its original slot.
                    view.positions(block: i / blockSize)[i % blockSize] = Int32(position)
                    let metric = tiedMetrics ? Float(Int.random(in: 0...3, using: &rng)) : Float.random(in: 0...1, using: &rng)
                    view.metric(i).pointee = metric
                    let key = (0..<headDim).map { _ in Float.random(in: -1...1, using: &rng) }
                    let value = (0..<headDim).map { _ in Float.random(in: -1...1, using: &rng) }
                    cache.storeKey(slot: view.slot(i), from: key)
                    cache.storeValue(slot: view.slot(i), from: value)
                    // As stored (rounded to half floats in an f16 cache): moves must keep these bits.
                    map[Int32(position)] = StoredKV(key: Array(view.key(i)), value: Array(view.value(i)), metric: metric)
                }
                contents.append(map)
            }
        }
        self.cache = cache
        self.sequence = sequence
        self.sequenceLength = n
        self.protectedWindow = protectedWindow
        self.sinks = sinks
        self.contents = contents
    }

    /// What head `index` holds now, read back from the cache by position.
    func currentContents(_ index: Int) -> [Int32: StoredKV] {
        let layer = index / layout.kvHeads, head = index % layout.kvHeads
        let view = cache.view(sequence, layer: layer, head: head)
        var map: [Int32: StoredKV] = [:]
        for i in 0..<view.length {
            let key = Array(view.key(i))
            let value = Array(view.value(i))
            map[view.position(i)] = StoredKV(key: key, value: value, metric: view.metric(i).pointee)
        }
        return map
    }
}

/// Single-query attention output `[headDim]`: softmax(q·k / √d) weighted sum of values, over the given
/// KVs in the given order.
func attention(query: [Float], kvs: [(key: [Float], value: [Float])]) -> [Float] {
    let d = query.count
    let scale = 1 / Float(d).squareRoot()
    let logits = kvs.map { kv in zip(query, kv.key).reduce(Float(0)) { $0 + $1.0 * $1.1 } * scale }
    let m = logits.max() ?? 0
    let weights = logits.map { Float.exp($0 - m) }
    let total = weights.reduce(0, +)
    var out = [Float](repeating: 0, count: d)
    for (w, kv) in zip(weights, kvs) {
        for j in 0..<d { out[j] += w / total * kv.value[j] }
    }
    return out
}

extension Float {
    static func exp(_ x: Float) -> Float { Float(Foundation.exp(Double(x))) }
}

import Foundation

/// A configuration with the built-in plug-ins.
func configuration(
    policy: PluginSpec = "kvcompress", budget: CompressionBudget, protectedWindow: Int, sinks: Int = 0, blockSize: Int
) -> CompressionConfiguration {
    CompressionConfiguration(
        policy: policy, blockSize: PluginSpec("fixed", options: ["size": .int(blockSize)]), budget: budget,
        protectedWindow: protectedWindow, sinks: sinks)
}

let builtins = PluginRegistry.withBuiltins()
