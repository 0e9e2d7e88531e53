import EvictionPolicies
import Foundation
import KVCompress
import PagedKVCache
import PropertyBased
import Testing

/// Property-based tests of the whole compression path (scores → policy → executor → cache) on random
/// caches: random metrics (with and without ties), lengths per head, block sizes 1…64, budgets,
/// protected windows and sinks. Issue: "Shown by tests".
@Suite struct SchedulePropertyTests {
    /// A random scenario drawn from a block-size index, a sequence length and a seed.
    struct Scenario {
        let random: RandomCache
        let configuration: CompressionConfiguration

        init(blockSizeIndex: Int, sequenceLength: Int, seed: UInt64, policy: PluginSpec? = nil, budget: CompressionBudget? = nil) throws {
            var rng = Xoshiro(seed: (seed, seed &* 31 &+ 7, 0x9E37_79B9_7F4A_7C15, seed ^ 0xDEAD_BEEF))
            let bs = CacheLayout.supportedBlockSizes[blockSizeIndex]
            let protectedWindow = Int.random(in: 0...min(40, sequenceLength), using: &rng)
            let sinks = Int.random(in: 0...4, using: &rng)
            random = try RandomCache(
                layers: Int.random(in: 1...3, using: &rng), kvHeads: Int.random(in: 1...3, using: &rng), blockSize: bs,
                sequenceLength: sequenceLength, protectedWindow: protectedWindow, sinks: sinks,
                tiedMetrics: Bool.random(using: &rng), using: &rng)
            let chosenBudget: CompressionBudget
            if let budget {
                chosenBudget = budget
            } else {
                switch Int.random(in: 0...2, using: &rng) {
                case 0: chosenBudget = .maxCacheTokens(Int.random(in: max(1, protectedWindow + sinks)...(sequenceLength + 20), using: &rng))
                case 1: chosenBudget = .rate(Double.random(in: 1...20, using: &rng))
                default: chosenBudget = .paperRate(Double.random(in: 1...10, using: &rng))
                }
            }
            let chosenPolicy =
                policy ?? [PluginSpec("kvcompress"), PluginSpec("kvcompress", options: ["even_layer_evict": true]), PluginSpec("uniform")]
                .randomElement(using: &rng)!
            configuration = KVCompressTests.configuration(
                policy: chosenPolicy, budget: chosenBudget, protectedWindow: protectedWindow, sinks: sinks, blockSize: bs)
        }
    }

    static let blockSizeIndex = Gen.int(in: 0...(CacheLayout.supportedBlockSizes.count - 1))
    static let length = Gen.int(in: 1...300)
    static let seed = Gen.uint64()

    @Test func compressionKeepsEveryInvariant() async throws {
        await propertyCheck(count: 200, input: Self.blockSizeIndex, Self.length, Self.seed) { bsIndex, length, seed in
            recordingErrors {
                let scenario = try Scenario(blockSizeIndex: bsIndex, sequenceLength: length, seed: seed)
                try Self.checkInvariants(scenario)
            }
        }
    }

    @Test(arguments: [PluginSpec("kvcompress"), PluginSpec("kvcompress", options: ["even_layer_evict": true]), PluginSpec("uniform")])
    func everyPolicyKeepsEveryInvariant(policy: PluginSpec) async throws {
        await propertyCheck(count: 80, input: Self.blockSizeIndex, Self.length, Self.seed) { bsIndex, length, seed in
            recordingErrors {
                try Self.checkInvariants(try Scenario(blockSizeIndex: bsIndex, sequenceLength: length, seed: seed, policy: policy))
            }
        }
    }

    static func checkInvariants(_ scenario: Scenario) throws {
        let r = scenario.random
        let cache = r.cache
        let compressor = try Compressor(configuration: scenario.configuration, registry: builtins)
        let input = try compressor.evictionInput(r.sequence, cache: cache)
        let bs = r.layout.blockSize
        let freeBefore = cache.freeBlockCount, bytesBefore = cache.residentBytes
        let lengthsBefore = cache.contextLengths(r.sequence)

        let report = try compressor.compress(r.sequence, cache: cache, trigger: .manual)

        // Blocks freed = blocks evicted, and the pool and byte accounting follow.
        #expect(cache.freeBlockCount - freeBefore == report.blocksFreed)
        #expect(bytesBefore - cache.residentBytes == report.blocksFreed * r.layout.bytesPerBlock)
        var evictedVirtualBlocks = 0
        var allEvictableGone = true
        var lastEvicted: (score: Float, head: Int, block: Int)?
        let virtualBlocks = input.heads.map { VirtualBlocks(scores: $0.scores, blockSize: bs) }

        for (index, head) in input.heads.enumerated() {
            let before = r.contents[index]
            let after = r.currentContents(index)
            let lengthAfter = cache.contextLengths(r.sequence)[index]
            #expect(after.count == lengthAfter)
            // Whole blocks: an evicting head keeps a multiple of the block size.
            if lengthAfter != lengthsBefore[index] { #expect(lengthAfter % bs == 0) }
            // Protected KVs are never evicted.
            for position in before.keys where r.isProtected(position) { #expect(after[position] != nil) }
            // K, V, metric and position moved together; nothing invented.
            for (position, kv) in after { #expect(before[position] == kv) }
            // Each head loses a prefix of its ascending metric order.
            let score = { (p: Int32) -> Float in r.isProtected(p) ? .infinity : before[p]!.metric }
            let evicted = before.keys.filter { after[$0] == nil }
            let kept = Array(after.keys)
            if let maxEvicted = evicted.map(score).max(), let minKept = kept.map(score).min() {
                #expect(maxEvicted <= minKept)
            }
            // The evicted KVs are exactly whole virtual blocks: blocks evicted = physical blocks freed.
            let v = virtualBlocks[index]
            let n = evicted.isEmpty ? 0 : (v.ends.firstIndex(of: evicted.count).map { $0 + 1 } ?? -1)
            #expect(n >= 0, "head \(index) evicted \(evicted.count) KVs, not a whole number of virtual blocks \(v.ends)")
            evictedVirtualBlocks += max(n, 0)
            if n >= 0, n < v.count, v.isEvictable(n) { allEvictableGone = false }
            if n > 0, lastEvicted.map({ ($0.score, $0.head, $0.block) < (v.scores[n - 1], index, n - 1) }) ?? true {
                lastEvicted = (v.scores[n - 1], index, n - 1)
            }
            #expect(head.contextLength == lengthsBefore[index])

            // Attention over the cache (slot order) equals attention over the kept set (position order).
            if !kept.isEmpty {
                let query = (0..<r.layout.headDim).map { Float($0 + index) * 0.37 - 0.5 }
                let view = cache.view(r.sequence, layer: index / r.layout.kvHeads, head: index % r.layout.kvHeads)
                let fromCache = attention(query: query, kvs: (0..<view.length).map { i in
                    (Array(view.key(i)), Array(view.value(i)))
                })
                let direct = attention(query: query, kvs: kept.sorted().map { (before[$0]!.key, before[$0]!.value) })
                for (a, b) in zip(fromCache, direct) { #expect(abs(a - b) <= 1e-5) }
            }
        }
        #expect(evictedVirtualBlocks == report.blocksFreed)

        // The budget holds, unless protected KVs make it unreachable and everything evictable went.
        let policy = scenario.configuration.policy
        #expect(report.budgetHeld || allEvictableGone, "budget \(input.limit) missed with evictable blocks left")
        if policy.name == "uniform" {
            // Even split by water-filling: whenever a head g gave up a block it kept the most among the
            // heads that still could, and loads only fall; so a head h that could still give up a block
            // keeps at most what g kept before its last eviction, i.e. g's length plus one block.
            let lengths = cache.contextLengths(r.sequence)
            let evictedBlocks = input.heads.indices.map { index in
                lengthsBefore[index] == lengths[index] ? 0 : virtualBlocks[index].ends.firstIndex(of: lengthsBefore[index] - lengths[index])! + 1
            }
            for h in input.heads.indices where evictedBlocks[h] < virtualBlocks[h].count && virtualBlocks[h].isEvictable(evictedBlocks[h]) {
                for g in input.heads.indices where evictedBlocks[g] > 0 {
                    #expect(lengths[h] <= lengths[g] + bs, "head \(h) keeps \(lengths[h]) while head \(g) was cut to \(lengths[g])")
                }
            }
        }
        // KV-Compress evicts no more than it must: restoring its last (highest) evicted block breaks the budget.
        if policy == PluginSpec("kvcompress"), let last = lastEvicted {
            let v = virtualBlocks[last.head]
            let size = v.size(last.block)
            let keptAfter = cache.contextLengths(r.sequence)[last.head]
            let restoredBlocks = report.blocksAfter - (keptAfter + bs - 1) / bs + (keptAfter + size + bs - 1) / bs
            let restoredKVs = report.lengthsAfter.reduce(0, +) + size
            #expect(!input.limit.holds(blocks: restoredBlocks, kvs: restoredKVs))
        }
        #expect(report.budgetHeld == input.limit.holds(blocks: report.blocksAfter, kvs: report.lengthsAfter.reduce(0, +)))
    }

    /// A budget at or above the length (rate 1, or max_cache_tokens ≥ length) changes nothing: same block
    /// tables, lengths and slot contents, bit for bit.
    @Test func generousBudgetLeavesTheCacheUntouched() async throws {
        await propertyCheck(count: 100, input: Self.blockSizeIndex, Self.length, Self.seed) { bsIndex, length, seed in
            recordingErrors {
                // At or above the length, and never below what the protected window (≤ 40) and sinks (≤ 4)
                // must keep, which a configuration refuses.
                for budget in [CompressionBudget.rate(1), .maxCacheTokens(max(length, 44) + Int(seed % 50))] {
                    let scenario = try Scenario(blockSizeIndex: bsIndex, sequenceLength: length, seed: seed, budget: budget)
                    let r = scenario.random
                    let tables = (0..<r.layout.layers).flatMap { l in (0..<r.layout.kvHeads).map { r.cache.blockTable(r.sequence, layer: l, head: $0) } }
                    let slotsBefore = (0..<r.layout.headCount).map { r.currentContents($0) }
                    let free = r.cache.freeBlockCount
                    let report = try Compressor(configuration: scenario.configuration, registry: builtins).compress(r.sequence, cache: r.cache, trigger: .manual)
                    #expect(report.blocksFreed == 0 && report.kvsEvicted == 0 && report.kvsMoved == 0)
                    #expect(r.cache.freeBlockCount == free)
                    let tablesAfter = (0..<r.layout.layers).flatMap { l in (0..<r.layout.kvHeads).map { r.cache.blockTable(r.sequence, layer: l, head: $0) } }
                    #expect(tables == tablesAfter)
                    #expect(slotsBefore == (0..<r.layout.headCount).map { r.currentContents($0) })
                }
            }
        }
    }
}
