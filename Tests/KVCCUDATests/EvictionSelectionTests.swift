import PagedKVCache
import SeededRandom
import Testing

@testable import KVCCUDA

/// ``VirtualBlockSelection``'s fast paths (the threshold search over ascending scores, the layer
/// rounds, the heap merge) choose exactly what the KV-Compress schedule's literal definition
/// chooses: before each eviction, check the budget; then scan every head and take the next block of
/// the one scoring lowest, ties to the lowest head index (BlockAllocator.lowestEvictableHead), or,
/// with `even_layer_evict`, one such block per layer per round.
@Suite struct EvictionSelectionTests {
    /// One random selection problem: heads of random lengths and eviction units, virtual-block scores
    /// with many ties, -inf, ±0, a protected (+inf) tail, junk past each head's last block; ascending
    /// per head (as the sort writes them) or in random order. Never NaN: the sort maps NaN to -inf.
    struct Problem: CustomStringConvertible {
        var shape: EvictionShape
        var scores: [Float]
        var limit: BudgetLimit
        var ascending: Bool
        var description: String { "\(shape.layers)×\(shape.kvHeads) heads, lengths \(shape.contextLengths), \(limit), ascending \(ascending)" }
    }

    static func problem(seed: UInt64, ascending: Bool) throws -> Problem {
        var random = SplitMix64(seed: seed)
        let layers = Int.random(in: 1...4, using: &random), kvHeads = Int.random(in: 1...3, using: &random)
        let blockSize = [1, 2, 4][Int.random(in: 0..<3, using: &random)]
        let units = (0..<layers).map { _ in blockSize * Int.random(in: 1...3, using: &random) }
        let lengths = (0..<layers * kvHeads).map { _ in Int.random(in: 0...40, using: &random) }
        let layout = try CacheLayout(layers: layers, kvHeads: kvHeads, headDim: 1, blockSize: blockSize, kvType: .f32)
        let shape = try EvictionShape(layout: layout, sequenceLength: 50, contextLengths: lengths, layerBlockSizes: units)
        let palette: [Float] = [-.infinity, -0.0, 0, 0.5, 1, 1, 2, 3, 3, 3]
        var scores = [Float](repeating: -7, count: shape.heads * shape.maxVirtualBlocks)  // junk past each head's blocks
        for h in 0..<shape.heads {
            let count = EvictionShape.virtualBlockCount(length: lengths[h], blockSize: units[h / kvHeads])
            let protected = count == 0 ? 0 : Int.random(in: 0...min(2, count), using: &random)
            var row = (0..<count - protected).map { _ in palette[Int.random(in: 0..<palette.count, using: &random)] }
            if ascending { row.sort() }
            row += [Float](repeating: .infinity, count: protected)
            for (j, score) in row.enumerated() { scores[h * shape.maxVirtualBlocks + j] = score }
        }
        let totalKVs = lengths.reduce(0, +)
        let totalBlocks = lengths.reduce(0) { $0 + ($1 + blockSize - 1) / blockSize }
        let limit: BudgetLimit =
            Bool.random(using: &random) ? .kvs(Int.random(in: 0...totalKVs, using: &random)) : .blocks(Int.random(in: 0...totalBlocks, using: &random))
        return Problem(shape: shape, scores: scores, limit: limit, ascending: ascending)
    }

    /// The schedule's literal definition (see the suite's comment), in the clearest form.
    static func definition(_ p: Problem, evenLayerEvict: Bool) -> [Int] {
        let shape = p.shape
        var evicted = [Int](repeating: 0, count: shape.heads)
        let evictable = (0..<shape.heads).map { h in
            Array(p.scores[h * shape.maxVirtualBlocks..<h * shape.maxVirtualBlocks + EvictionShape.virtualBlockCount(length: shape.contextLengths[h], blockSize: shape.evictionBlockSizes[h])])
                .prefix { $0 != .infinity }.count
        }
        func holds() -> Bool {
            let kept = (0..<shape.heads).map { shape.contextLengths[$0] - shape.evictedKVs(head: $0, blocks: evicted[$0]) }
            return p.limit.holds(blocks: kept.reduce(0) { $0 + ($1 + shape.blockSize - 1) / shape.blockSize }, kvs: kept.reduce(0, +))
        }
        func lowest(among heads: Range<Int>) -> Int? {
            var best: Int?
            for h in heads where evicted[h] < evictable[h] {
                if let b = best, p.scores[h * shape.maxVirtualBlocks + evicted[h]] >= p.scores[b * shape.maxVirtualBlocks + evicted[b]] { continue }
                best = h
            }
            return best
        }
        if evenLayerEvict {
            while !holds() {
                let chosen = (0..<shape.layers).compactMap { lowest(among: $0 * shape.kvHeads..<($0 + 1) * shape.kvHeads) }
                if chosen.isEmpty { break }
                for h in chosen { evicted[h] += 1 }
            }
        } else {
            while !holds(), let h = lowest(among: 0..<shape.heads) { evicted[h] += 1 }
        }
        return evicted
    }

    static func select(_ p: Problem, evenLayerEvict: Bool, method: VirtualBlockSelection.Method) -> VirtualBlockSelection {
        p.scores.withUnsafeBufferPointer {
            VirtualBlockSelection(checked: p.shape, virtualBlockScores: $0, limit: p.limit, evenLayerEvict: evenLayerEvict, method: method)
        }
    }

    @Test(arguments: [true, false])
    func everyMethodChoosesWhatTheDefinitionChooses(ascending: Bool) throws {
        var threshold = 0
        for seed in UInt64(1)...3000 {
            let p = try Self.problem(seed: seed &* 7919 &+ (ascending ? 1 : 0), ascending: ascending)
            let expected = Self.definition(p, evenLayerEvict: false)
            let automatic = Self.select(p, evenLayerEvict: false, method: .automatic)
            let merge = Self.select(p, evenLayerEvict: false, method: .merge)
            #expect(automatic.evictedBlocks == expected, "\(p)")
            #expect(merge.evictedBlocks == expected, "\(p)")
            #expect(automatic == merge)
            #expect(automatic.evictedKVs == expected.indices.map { p.shape.evictedKVs(head: $0, blocks: expected[$0]) })
            let even = Self.select(p, evenLayerEvict: true, method: .automatic)
            #expect(even.evictedBlocks == Self.definition(p, evenLayerEvict: true), "even layers, \(p)")
            if ascending && expected.contains(where: { $0 > 0 }) { threshold += 1 }
        }
        if ascending { #expect(threshold > 1000, "most problems evict something") }
    }

    @Test func budgetHeldReportsWhetherTheLimitHolds() throws {
        for seed in UInt64(1)...500 {
            let p = try Self.problem(seed: seed, ascending: true)
            let selection = Self.select(p, evenLayerEvict: false, method: .automatic)
            let kept = (0..<p.shape.heads).map { p.shape.contextLengths[$0] - selection.evictedKVs[$0] }
            let bs = p.shape.blockSize
            #expect(selection.budgetHeld == p.limit.holds(blocks: kept.reduce(0) { $0 + ($1 + bs - 1) / bs }, kvs: kept.reduce(0, +)))
        }
    }

    /// The threshold search compares scores through integer keys: they must order like the floats.
    @Test func orderKeysOrderLikeTheScores() {
        let values: [Float] = [-.infinity, -.greatestFiniteMagnitude, -1, -.leastNonzeroMagnitude, -0.0, 0, .leastNonzeroMagnitude, 1, 3, .greatestFiniteMagnitude, .infinity]
        for a in values {
            for b in values {
                #expect((a < b) == (VirtualBlockSelection.orderKey(a) < VirtualBlockSelection.orderKey(b)), "\(a) vs \(b)")
                #expect((a == b) == (VirtualBlockSelection.orderKey(a) == VirtualBlockSelection.orderKey(b)), "\(a) vs \(b)")
            }
        }
    }
}
