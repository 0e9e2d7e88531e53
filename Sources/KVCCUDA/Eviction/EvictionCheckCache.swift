import PagedKVCache
import SeededRandom

/// One configuration of the GPU eviction check or benchmark: a sequence whose heads were already
/// compressed before (each holds its protected positions plus a random share, at least half, of the
/// others, in shuffled slot order, so heads differ in length and slots are not in position order).
public struct EvictionCheckCase: Sendable, CustomStringConvertible {
    public var name: String
    public var seed: UInt64
    public var layers: Int
    public var kvHeads: Int
    public var headDim: Int
    public var blockSize: Int
    public var sequenceLength: Int
    /// Metrics drawn from {0, 1, 2, 3} (many ties) rather than uniform floats.
    public var tiedMetrics: Bool
    /// One metric in ten is NaN (counts as -inf).
    public var withNaN: Bool
    /// Every head keeps every position (the shape of a first compression right after prefill).
    public var fullHeads: Bool
    public var settings: EvictionSettings
    /// The element type of the cache's keys and values (the moves copy them as stored).
    public var kvType: KVStorageType

    public init(
        name: String, seed: UInt64, layers: Int, kvHeads: Int, headDim: Int, blockSize: Int, sequenceLength: Int,
        tiedMetrics: Bool = false, withNaN: Bool = false, fullHeads: Bool = false, settings: EvictionSettings,
        kvType: KVStorageType = .default
    ) {
        self.name = name
        self.seed = seed
        self.layers = layers
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.blockSize = blockSize
        self.sequenceLength = sequenceLength
        self.tiedMetrics = tiedMetrics
        self.withNaN = withNaN
        self.fullHeads = fullHeads
        self.settings = settings
        self.kvType = kvType
    }

    /// The same case with keys and values stored as `kvType`.
    public func with(kvType: KVStorageType) -> EvictionCheckCase {
        var copy = self
        copy.kvType = kvType
        return copy
    }

    public var description: String {
        "\(name): \(kvType) KVs, \(layers)×\(kvHeads) heads, d \(headDim), bs \(blockSize), len \(sequenceLength), \(settings.budget), protected \(settings.protectedWindow), sinks \(settings.sinks)"
            + (tiedMetrics ? ", ties" : "") + (withNaN ? ", NaN" : "") + (settings.aggregate == .average ? ", avg" : "")
            + (settings.evenLayerEvict ? ", even layers" : "")
    }

    /// Builds the host cache; the same case always builds the same cache, pools included (zeroed
    /// first, so whole pools compare exactly). Keys and values encode the token position, so a KV
    /// moved to the wrong slot shows (with half floats, positions above 2048 round to even neighbours, so
    /// there the position pool, moved with them, is what shows a misplaced KV). The pool has
    /// `spareBlocks` blocks beyond what the sequence needs.
    public func makeCache(spareBlocks: Int = 1) throws -> (cache: PagedKVCache, sequence: SequenceID) {
        var random = SplitMix64(seed: seed)
        let layout = try CacheLayout(layers: layers, kvHeads: kvHeads, headDim: headDim, blockSize: blockSize, kvType: kvType)
        let n = sequenceLength
        let cache = try PagedKVCache(layout: layout, capacityBlocks: layout.blocks(forTokens: n) * layout.headCount + spareBlocks)
        let slots = cache.capacityBlocks * blockSize
        // Zeroed as the type the cache bound its pools to (0 is +0 in both).
        switch kvType {
        case .f32:
            cache.keyStorage.initializeMemory(as: Float.self, repeating: 0, count: slots * headDim)
            cache.valueStorage.initializeMemory(as: Float.self, repeating: 0, count: slots * headDim)
        case .f16:
            cache.keyStorage.initializeMemory(as: UInt16.self, repeating: 0, count: slots * headDim)
            cache.valueStorage.initializeMemory(as: UInt16.self, repeating: 0, count: slots * headDim)
        }
        cache.metrics.initialize(repeating: 0, count: slots)
        cache.positions.initialize(repeating: 0, count: slots)
        let sequence = cache.addSequence()
        try cache.reserve(sequence, tokens: n)
        let positions = (0..<Int32(n)).map { $0 }
        let zeros = [Float](repeating: 0, count: n * kvHeads * headDim)
        for layer in 0..<layers { cache.append(sequence, layer: layer, count: n, keys: zeros, values: zeros, positions: positions) }
        cache.advance(sequence, by: n)

        let protectedWindow = settings.protectedWindow, sinks = settings.sinks
        func isProtected(_ p: Int) -> Bool { p >= n - protectedWindow || p < sinks }
        for layer in 0..<layers {
            for head in 0..<kvHeads {
                let protected = (0..<n).filter(isProtected)
                var others = (0..<n).filter { !isProtected($0) }
                others.shuffle(using: &random)
                let keep = fullHeads || others.isEmpty ? others.count : Int.random(in: others.count / 2...others.count, using: &random)
                var held = protected + others.prefix(keep)
                held.shuffle(using: &random)
                try cache.truncate(sequence, layer: layer, head: head, to: held.count)
                let view = cache.view(sequence, layer: layer, head: head)
                for (i, position) in held.enumerated() {
                    view.positions(block: i / blockSize)[i % blockSize] = Int32(position)
                    var metric = tiedMetrics ? Float(Int.random(in: 0...3, using: &random)) : Float.random(in: 0..<1, using: &random)
                    if withNaN && Int.random(in: 0..<10, using: &random) == 0 { metric = .nan }
                    view.metric(i).pointee = metric
                    let base = Float(position) + Float(layer * kvHeads + head) / 256
                    cache.storeKey(slot: view.slot(i), from: (0..<headDim).map { base + Float($0) / 4096 })
                    cache.storeValue(slot: view.slot(i), from: (0..<headDim).map { -base - Float($0) / 4096 })
                }
            }
        }
        return (cache, sequence)
    }
}
