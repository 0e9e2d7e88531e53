import EvictionPolicies
import KVCompress
import PagedKVCache
import Testing

/// The scheduler's exact virtual-block semantics on small examples worked by hand (KV-Compress §4).
@Suite struct ScheduleExampleTests {
    /// A cache of one sequence whose heads hold the given metrics; slot i holds position i.
    /// - Parameter metrics: `[layers][kvHeads][slots]`.
    static func cache(_ metrics: [[[Float]]], blockSize: Int, sequenceLength: Int? = nil) throws -> (PagedKVCache, SequenceID) {
        let layers = metrics.count, heads = metrics[0].count
        let longest = metrics.flatMap { $0 }.map(\.count).max()!
        let layout = try CacheLayout(layers: layers, kvHeads: heads, headDim: 2, blockSize: blockSize)
        let cache = try PagedKVCache(layout: layout, capacityBlocks: layout.headCount * layout.blocks(forTokens: longest))
        let sequence = cache.addSequence()
        try cache.reserve(sequence, tokens: longest)
        let keys = [Float](repeating: 0.5, count: longest * heads * 2)
        for layer in 0..<layers {
            cache.append(sequence, layer: layer, count: longest, keys: keys, values: keys, positions: (0..<Int32(longest)).map { $0 })
            for head in 0..<heads {
                let m = metrics[layer][head]
                try cache.truncate(sequence, layer: layer, head: head, to: m.count)
                let view = cache.view(sequence, layer: layer, head: head)
                for (i, x) in m.enumerated() { view.metric(i).pointee = x }
            }
        }
        cache.advance(sequence, by: sequenceLength ?? longest)
        return (cache, sequence)
    }

    static func plan(_ metrics: [[[Float]]], blockSize: Int, budget: CompressionBudget, protectedWindow: Int = 0, policy: PluginSpec = "kvcompress") throws -> EvictionPlan {
        let (cache, sequence) = try cache(metrics, blockSize: blockSize)
        let compressor = try Compressor(
            configuration: configuration(policy: policy, budget: budget, protectedWindow: protectedWindow, blockSize: blockSize), registry: builtins)
        let input = try compressor.evictionInput(sequence, cache: cache)
        return try compressor.plugins.policy.plan(input).sorted
    }

    /// The integer-key sort equals the plain comparison sort (ascending score, ties by slot index)
    /// on ties, signed zeros, infinities and NaN (lowest).
    @Test(arguments: [0, 1, 2, 3] as [UInt64])
    func virtualBlocksOrderSlotsAsAComparisonSortDoes(seed: UInt64) {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        let specials: [Float] = [0, -0.0, .infinity, -.infinity, .nan, 1e-38, -1e-38, 2.5, -2.5]
        let scores: [Float] = (0..<300).map { _ in
            next() % 3 == 0 ? specials[Int(next() % UInt64(specials.count))] : Float(Int(next() % 40) - 20) / 8
        }
        let sane = scores.map { $0.isNaN ? -Float.infinity : $0 }
        let expected = (0..<scores.count).sorted { a, b in sane[a] < sane[b] || (sane[a] == sane[b] && a < b) }
        #expect(VirtualBlocks(scores: scores, blockSize: 16).ascendingSlots == expected)
    }

    @Test func virtualBlocksPutTheHangingKVsFirst() {
        let v = VirtualBlocks(scores: [5, 1, 4, 2, 3], blockSize: 2)
        #expect(v.ascendingSlots == [1, 3, 4, 2, 0])
        #expect(v.ends == [1, 3, 5])  // hanging = 5 % 2 = 1 KV, then 2 each
        #expect(v.scores == [1, 3, 5])  // each block's largest metric
        let full = VirtualBlocks(scores: [0.5, 6, 2.5, 7], blockSize: 2)
        #expect(full.ends == [2, 4])  // ctx a multiple of bs: the first block is full
        #expect(full.scores == [2.5, 7])
        #expect(VirtualBlocks(scores: [], blockSize: 4).count == 0)
        #expect(VirtualBlocks(scores: [3, 1, 2], blockSize: 8).ends == [3])
        // A NaN score sorts lowest, so orders built on block scores stay consistent.
        let broken = VirtualBlocks(scores: [2, .nan, 1, 3], blockSize: 2)
        #expect(broken.ascendingSlots == [1, 2, 0, 3] && broken.scores == [1, 3])
    }

    @Test func nanMetricsDoNotBreakTheSchedule() throws {
        let plan = try Self.plan([[[2, .nan, 1, 3], [.nan, .nan, 5, 0]]], blockSize: 2, budget: .maxCacheTokens(2))
        #expect(plan.evicted == [[1, 2], [0, 1]])
    }

    /// Two heads, bs 2. Head 0 metrics [5,1,4,2,3] → virtual blocks {1}:1, {3,4}:3, {2,0}:5;
    /// head 1 [0.5,6,2.5,7] → {0,2}:2.5, {1,3}:7. Sorted together: 1, 2.5, 3, 5, 7.
    static let twoHeads: [[[Float]]] = [[[5, 1, 4, 2, 3], [0.5, 6, 2.5, 7]]]

    @Test func maxCacheTokensEvictsTheLowestVirtualBlocksAcrossHeads() throws {
        // max_cache_tokens 2 → 2·2/2 = 2 blocks may stay of 5: evict 1 (→4), 2.5 (→3), 3 (→2).
        let plan = try Self.plan(Self.twoHeads, blockSize: 2, budget: .maxCacheTokens(2))
        #expect(plan.evicted == [[1, 3, 4], [0, 2]])
    }

    @Test func maxCacheTokensRoundsUpToABlock() throws {
        // max_cache_tokens 1 rounds up to 2: the same plan as above.
        #expect(try Self.plan(Self.twoHeads, blockSize: 2, budget: .maxCacheTokens(1)).evicted == [[1, 3, 4], [0, 2]])
    }

    @Test func rateBudgetCountsKVs() throws {
        // rate 1.5 over 5 tokens × 2 heads keeps ⌈10/1.5⌉ = 7 KVs of 9: evict 1 (1 KV → 8), 2.5 (2 KVs → 6).
        #expect(try Self.plan(Self.twoHeads, blockSize: 2, budget: .rate(1.5)).evicted == [[1], [0, 2]])
    }

    @Test func protectedKVsMakeTheirBlocksUnevictable() throws {
        // Protected window 1 covers position 4 (head 0, slot 4): its score becomes +inf, so head 0 sorts as
        // slots 1, 3, 2, 0, 4 → virtual blocks {1}:1, {3,2}:4, {0,4}:+inf. Sorted with head 1's: 1, 2.5, 4, 7
        // (+inf never). 2 blocks may stay of 5: evict 1 (→4), 2.5 (→3), 4 (→2). Slot 4 survives, slot 2 goes.
        let plan = try Self.plan(Self.twoHeads, blockSize: 2, budget: .maxCacheTokens(2), protectedWindow: 1)
        #expect(plan.evicted == [[1, 2, 3], [0, 2]])
        // Rate 100 keeps ⌈4·2/100⌉ + 1·2 = 3 KVs, but each head's protected KV shares its virtual block
        // with one more KV: everything but the +inf blocks goes, and the report says the budget was missed.
        let (cache, sequence) = try Self.cache([[[5, 1, 4, 2, 3], [0.5, 6, 2.5, 7, 1]]], blockSize: 2)
        let compressor = try Compressor(
            configuration: configuration(budget: .rate(100), protectedWindow: 1, blockSize: 2), registry: builtins)
        let report = try compressor.compress(sequence, cache: cache, trigger: .manual)
        #expect(cache.contextLengths(sequence) == [2, 2])
        #expect(!report.budgetHeld)
    }

    @Test func evenLayerEvictTakesTheSameNumberFromEveryLayer() throws {
        // Two layers × one head, bs 1; rate 2 keeps ⌈6/2⌉ = 3 of 6 KVs.
        let metrics: [[[Float]]] = [[[1, 2, 3]], [[10, 20, 30]]]
        #expect(try Self.plan(metrics, blockSize: 1, budget: .rate(2)).evicted == [[0, 1, 2], []])
        let even = try Self.plan(metrics, blockSize: 1, budget: .rate(2), policy: PluginSpec("kvcompress", options: ["even_layer_evict": true]))
        #expect(even.evicted == [[0, 1], [0, 1]])
    }

    @Test func uniformSplitsTheBudgetEvenlyOverHeads() throws {
        let metrics: [[[Float]]] = [[[1, 2, 3]], [[10, 20, 30]]]
        // rate 2 keeps 3 KVs over two heads of 3, whatever the metrics say: the fuller head gives up its
        // lowest KV each time (ties to the lower score), ending at 1 + 2 — the whole budget, within one
        // block per head.
        #expect(try Self.plan(metrics, blockSize: 1, budget: .rate(2), policy: "uniform").evicted == [[0, 1], [0]])
        // max_cache_tokens 2 with bs 2: one block per head.
        #expect(try Self.plan(Self.twoHeads, blockSize: 2, budget: .maxCacheTokens(2), policy: "uniform").evicted == [[1, 3, 4], [0, 2]])
    }

    @Test func paperRateMapsToMaxCacheTokens() {
        // max(128, ((len / r - 1) // 16) * 16)
        #expect(CompressionBudget.paperRate(8).limit(sequenceLength: 4000, layers: 1, kvHeads: 1, blockSize: 16, protectedWindow: 32) == .blocks(496 / 16))
        #expect(CompressionBudget.paperRate(64).limit(sequenceLength: 4000, layers: 1, kvHeads: 1, blockSize: 16, protectedWindow: 32) == .blocks(128 / 16))
        // rate: ⌈(len - p)·L·H / r⌉ + p·L·H
        #expect(CompressionBudget.rate(4).limit(sequenceLength: 100, layers: 2, kvHeads: 3, blockSize: 16, protectedWindow: 32) == .kvs(102 + 192))
        // max_cache_tokens 20 → 32 with bs 16 → 32·6/16 = 12 blocks
        #expect(CompressionBudget.maxCacheTokens(20).limit(sequenceLength: 100, layers: 2, kvHeads: 3, blockSize: 16, protectedWindow: 32) == .blocks(12))
    }

    @Test func compressionShrinksHeadsToDifferentLengthsAndFreesTheirBlocks() throws {
        let (cache, sequence) = try Self.cache(Self.twoHeads, blockSize: 2)
        let free = cache.freeBlockCount
        let compressor = try Compressor(configuration: configuration(budget: .maxCacheTokens(2), protectedWindow: 0, blockSize: 2), registry: builtins)
        let report = try compressor.compress(sequence, cache: cache, trigger: .manual)
        #expect(cache.contextLengths(sequence) == [2, 2])
        #expect(report.blocksFreed == 3 && cache.freeBlockCount == free + 3)
        #expect(report.kvsEvicted == 5)
        // Head 0 kept positions 0 and 2 (metrics 5 and 4), head 1 positions 1 and 3 (6 and 7).
        let head0 = cache.view(sequence, layer: 0, head: 0), head1 = cache.view(sequence, layer: 0, head: 1)
        #expect(Set((0..<2).map { head0.position($0) }) == [0, 2])
        #expect(Set((0..<2).map { head1.position($0) }) == [1, 3])
        #expect(report.budgetHeld)
        // Retention is relative to the 5 tokens of the sequence, whatever a head held before.
        #expect(report.retention(layer: 0, head: 0) == 0.4 && report.retention(layer: 0, head: 1) == 0.4)
        #expect(report.renderGrid().contains("40%"))
    }
}

extension EvictionPlan {
    /// The plan with each head's slots sorted, for comparing with hand-worked sets.
    var sorted: EvictionPlan { EvictionPlan(evicted: evicted.map { $0.sorted() }) }
}

/// Per-layer block sizes: a layer with a larger size evicts in units of several physical blocks.
@Suite struct PerLayerBlockSizeTests {
    static func compressor(budget: CompressionBudget, policy: PluginSpec = "kvcompress") throws -> Compressor {
        var c = configuration(policy: policy, budget: budget, protectedWindow: 0, blockSize: 2)
        c.blockSize = PluginSpec("per_layer", options: ["sizes": "4,2"])
        return try Compressor(configuration: c, registry: builtins)
    }

    @Test func largerLayerBlocksEvictSeveralPhysicalBlocksAtOnce() throws {
        // Layer 0 (size 4) metrics 1…8 → virtual blocks {0-3}:4, {4-7}:8; layer 1 (size 2) 0.5…7.5 →
        // {0,1}:1.5, {2,3}:3.5, … Rate 2 keeps 8 of 16: evict 1.5 (→14), 3.5 (→12), 4 (→8).
        let (cache, sequence) = try ScheduleExampleTests.cache(
            [[[1, 2, 3, 4, 5, 6, 7, 8]], [[0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5]]], blockSize: 2)
        let free = cache.freeBlockCount
        let report = try Self.compressor(budget: .rate(2)).compress(sequence, cache: cache, trigger: .manual)
        #expect(cache.contextLengths(sequence) == [4, 4])
        #expect(report.blocksFreed == 4 && cache.freeBlockCount == free + 4)
    }

    @Test func theExecutorHoldsALayerToItsOwnBlockSize() throws {
        let (cache, sequence) = try ScheduleExampleTests.cache([[[1, 2, 3, 4, 5, 6, 7, 8]], [[1, 2, 3, 4]]], blockSize: 2)
        let compressor = try Self.compressor(budget: .rate(2))
        let input = try compressor.evictionInput(sequence, cache: cache)
        #expect(input.blockSizes == [4, 2] && input.physicalBlockSize == 2)
        #expect(throws: CompressionError.self) {
            _ = try EvictionExecutor.apply(EvictionPlan(evicted: [[0, 1], []]), for: input, policy: "test", to: cache)
        }
    }

    @Test func aLayerSizeBelowTheCacheBlockSizeIsRefused() throws {
        var c = configuration(budget: .rate(2), protectedWindow: 0, blockSize: 4)
        c.blockSize = PluginSpec("per_layer", options: ["sizes": "2,4"])
        let (cache, sequence) = try ScheduleExampleTests.cache([[[1, 2, 3, 4]], [[1, 2, 3, 4]]], blockSize: 4)
        #expect {
            _ = try Compressor(configuration: c, registry: builtins).compress(sequence, cache: cache, trigger: .manual)
        } throws: { "\($0)".contains("not a multiple of the cache's block size 4") }
    }
}
