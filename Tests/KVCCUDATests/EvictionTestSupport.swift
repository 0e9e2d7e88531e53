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
    var budget: CompressionBudget
    var aggregate: EvictionSettings.Aggregate = .sum
    var evenLayerEvict = false
    /// Eviction unit per layer; nil: the block size.
    var evictionBlockSizes: [Int]?
    /// Storage of the cache's keys and values.
    var kvType: KVStorageType = .f32

    var description: String {
        "\(kvType), seed \(seed), \(layers)×\(kvHeads) heads, bs \(blockSize), len \(sequenceLength), protected \(protectedWindow), sinks \(sinks), \(budget), \(aggregate)\(evenLayerEvict ? ", even layers" : "")\(evictionBlockSizes.map { ", units \($0)" } ?? "")\(tiedMetrics ? ", ties" : "")\(withNaN ? ", NaN" : "")"
    }

    var settings: EvictionSettings {
        EvictionSettings(
            budget: budget, protectedWindow: protectedWindow, sinks: sinks, aggregate: aggregate, evenLayerEvict: evenLayerEvict,
            evictionBlockSizes: evictionBlockSizes)
    }

    /// Builds the cache with the GPU check's builder (`EvictionCheckCase.makeCache`), so the tests and
    /// `kvc-cuda check` draw their caches the same way; the same scenario always builds the same cache.
    func makeCache(spareBlocks: Int = 2) throws -> (cache: PagedKVCache, sequence: SequenceID) {
        try EvictionCheckCase(
            name: "scenario", seed: seed, layers: layers, kvHeads: kvHeads, headDim: headDim, blockSize: blockSize,
            sequenceLength: sequenceLength, tiedMetrics: tiedMetrics, withNaN: withNaN, settings: settings, kvType: kvType
        ).makeCache(spareBlocks: spareBlocks)
    }
}

/// The four pools, tables and lengths of a cache, for exact comparisons (NaN metrics compare by bits).
struct CacheContents: Equatable {
    /// Keys and values as stored, byte for byte.
    let keys: [UInt8]
    let values: [UInt8]
    let metrics: [UInt32]
    let positions: [Int32]
    let tables: [[Int32]]
    let lengths: [Int]
    let freeBlocks: Int

    init(_ cache: PagedKVCache, _ sequence: SequenceID) {
        let slots = cache.capacityBlocks * cache.layout.blockSize, d = cache.layout.headDim
        let bytes = slots * d * cache.layout.kvType.bytesPerElement
        keys = Array(UnsafeRawBufferPointer(start: cache.keyStorage, count: bytes))
        values = Array(UnsafeRawBufferPointer(start: cache.valueStorage, count: bytes))
        metrics = (0..<slots).map { cache.metrics[$0].bitPattern }
        positions = Array(UnsafeBufferPointer(start: cache.positions, count: slots))
        tables = (0..<cache.layout.headCount).map { cache.blockTable(sequence, layer: $0 / cache.layout.kvHeads, head: $0 % cache.layout.kvHeads) }
        lengths = cache.contextLengths(sequence)
        freeBlocks = cache.freeBlockCount
    }
}
