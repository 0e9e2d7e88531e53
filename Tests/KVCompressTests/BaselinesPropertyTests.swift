import EvictionPolicies
import Foundation
import KVCompress
import PagedKVCache
import PropertyBased
import Testing

/// Property-based tests of every baseline through the whole compression path (ranking → policy →
/// executor → cache) on random caches (``RandomCache``: random subsets of positions per head in shuffled
/// slots, random keys and metrics with and without ties, block sizes 1…64, random budgets, protected
/// windows and sinks): the executor accepts the plan, the budget holds exactly when KV-Compress's does
/// and is used to within one block, protected KVs survive untouched, and each method keeps what it says.
@Suite struct BaselinesPropertyTests {
    /// Every preset that compresses from the cache alone: those whose scorer reruns the model or reads
    /// recorded queries or W_O, or whose policy reads recorded attention, are tested with a model
    /// (ScorerTests, CAKEPolicyTests).
    static let names = CompressionMethod.baselines.filter { method in
        guard let plugins = try? method.configuration(budget: .rate(2)).validate(registry: baselineRegistry) else { return true }
        return (plugins.scorer?.inputs ?? []).isEmpty && !plugins.policy.needsWindowAttention
    }.map(\.name)
    /// Methods that give every head the same budget (all but PyramidKV's and Ada-KV's allocations).
    static let equalShare: Set<String> = ["streaming-llm", "h2o", "snapkv", "tova", "key-norm", "keydiff", "random"]

    static let blockSizeIndex = Gen.int(in: 0...(CacheLayout.supportedBlockSizes.count - 1))
    static let length = Gen.int(in: 1...300)
    static let seed = Gen.uint64()

    /// One random cache and a configuration running `method` on it; the same arguments give the same cache.
    static func scenario(_ method: CompressionMethod, bsIndex: Int, length: Int, seed: UInt64) throws -> (RandomCache, CompressionConfiguration) {
        var rng = Xoshiro(seed: (seed, seed &* 29 &+ 3, 0x2545_F491_4F6C_DD1D, seed ^ 0xC0FF_EE00))
        let bs = CacheLayout.supportedBlockSizes[bsIndex]
        let protectedWindow = Int.random(in: 0...min(40, length), using: &rng)
        let sinks = Int.random(in: 0...4, using: &rng)
        let random = try RandomCache(
            layers: Int.random(in: 1...3, using: &rng), kvHeads: Int.random(in: 1...3, using: &rng), blockSize: bs,
            sequenceLength: length, protectedWindow: protectedWindow, sinks: sinks, tiedMetrics: Bool.random(using: &rng),
            using: &rng)
        let budget: CompressionBudget =
            switch Int.random(in: 0...2, using: &rng) {
            case 0: .maxCacheTokens(Int.random(in: max(1, protectedWindow + sinks)...(length + 20), using: &rng))
            case 1: .rate(Double.random(in: 1...20, using: &rng))
            default: .paperRate(Double.random(in: 1...10, using: &rng))
            }
        return (random, baselineConfiguration(method, budget: budget, protectedWindow: protectedWindow, sinks: sinks, blockSize: bs))
    }

    @Test(arguments: names)
    func everyBaselineKeepsTheInvariantsAndTheBudget(name: String) async throws {
        await propertyCheck(count: 60, input: Self.blockSizeIndex, Self.length, Self.seed) { bsIndex, length, seed in
            recordingErrors {
                try Self.check(baselineMethod(name), bsIndex: bsIndex, length: length, seed: seed)
            }
        }
    }

    static func check(_ method: CompressionMethod, bsIndex: Int, length: Int, seed: UInt64) throws {
        let (r, configuration) = try scenario(method, bsIndex: bsIndex, length: length, seed: seed)
        let (twin, _) = try scenario(method, bsIndex: bsIndex, length: length, seed: seed)
        let bs = r.layout.blockSize
        let compressor = try Compressor(configuration: configuration, registry: baselineRegistry)
        let input = try compressor.evictionInput(r.sequence, cache: r.cache)
        let lengthsBefore = r.cache.contextLengths(r.sequence)

        // The executor validates the plan (whole blocks, no protected KV, slots in range) before moving anything.
        let report = try compressor.compress(r.sequence, cache: r.cache, trigger: .manual)
        // KV-Compress on an identical cache, for the budget comparison.
        var kvc = configuration
        (kvc.metric, kvc.window, kvc.policy) = ("kvcompress", "last", "kvcompress")
        let kvcReport = try Compressor(configuration: kvc, registry: baselineRegistry).compress(twin.sequence, cache: twin.cache, trigger: .manual)

        // Same reachability as KV-Compress: the budget holds exactly when it can.
        #expect(report.budgetHeld == kvcReport.budgetHeld, "\(method.name): held \(report.budgetHeld), KV-Compress \(kvcReport.budgetHeld), \(input.limit)")
        // Equal resident bytes: restoring one more block would break the budget, as for KV-Compress.
        let keptKVs = report.lengthsAfter.reduce(0, +)
        if report.kvsEvicted > 0 {
            #expect(!input.limit.holds(blocks: report.blocksAfter + 1, kvs: keptKVs + bs), "\(method.name) evicted more than one block beyond \(input.limit)")
        }

        var kept: [Int] = []
        var canStillEvict: [Bool] = []
        for index in input.heads.indices {
            let before = r.contents[index], after = r.currentContents(index)
            let lengthAfter = report.lengthsAfter[index]
            kept.append(lengthAfter)
            #expect(after.count == lengthAfter)
            // Whole blocks: a head that lost KVs keeps a multiple of the block size (a whole number of virtual blocks went).
            if lengthAfter != lengthsBefore[index] { #expect(lengthAfter % bs == 0) }
            // Protected KVs survive; every survivor is bit-identical (K, V, metric, position moved together).
            for position in before.keys where r.isProtected(position) { #expect(after[position] != nil) }
            for (position, kv) in after { #expect(before[position] == kv) }
            // Whether this head still has an evictable virtual block (its first one holds no protected KV).
            let protectedCount = after.keys.filter { r.isProtected($0) }.count
            let first = lengthAfter % bs == 0 ? bs : lengthAfter % bs
            canStillEvict.append(lengthAfter > 0 && lengthAfter - protectedCount >= first)

            // Each head loses a prefix of the method's own ranking: nothing kept ranks below anything evicted.
            if let rank = ranking(method, r, index: index) {
                let evicted = before.keys.filter { after[$0] == nil }
                let survivors = after.keys.filter { !r.isProtected($0) }
                if let worstKept = survivors.map(rank).min(), let bestEvicted = evicted.map(rank).max() {
                    #expect(bestEvicted <= worstKept, "\(method.name) head \(index): evicted rank \(bestEvicted) above kept \(worstKept)")
                }
            }
        }
        // Same budget per head: a head that lost KVs keeps at most one block fewer than any head that could still give.
        if equalShare.contains(method.name) {
            for h in kept.indices where kept[h] < lengthsBefore[h] {
                for g in kept.indices where canStillEvict[g] {
                    #expect(kept[g] - kept[h] <= bs, "\(method.name): head \(h) cut to \(kept[h]) while head \(g) keeps \(kept[g])")
                }
            }
        }
    }

    /// The order in which `method` evicts the non-protected KVs of head `index` (lower first), computed
    /// here from the cache's contents independently of the policy; nil where the order depends on the
    /// budget (H2O's recent share).
    static func ranking(_ method: CompressionMethod, _ r: RandomCache, index: Int) -> ((Int32) -> Float)? {
        let before = r.contents[index]
        let layer = index / r.layout.kvHeads, head = index % r.layout.kvHeads
        func norm(_ k: [Float]) -> Float { k.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        switch method.name {
        case "snapkv", "pyramidkv", "adakv":
            return { before[$0]!.metric }
        case "streaming-llm":
            let sinks = max(4, r.sinks)
            return { $0 < sinks ? .greatestFiniteMagnitude : Float($0) }
        case "key-norm":
            return { -norm(before[$0]!.key) }
        case "keydiff":
            var anchor = [Float](repeating: 0, count: r.layout.headDim)
            for kv in before.values where norm(kv.key) > 0 {
                for j in anchor.indices { anchor[j] += kv.key[j] / norm(kv.key) / Float(before.count) }
            }
            return { p in
                let k = before[p]!.key
                let dot = zip(k, anchor).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                return norm(k) > 0 && norm(anchor) > 0 ? -dot / (norm(k) * norm(anchor)) : 0
            }
        case "random":
            let seed = UInt64(method.policy.options["seed"].flatMap { if case .int(let s) = $0 { s } else { nil } } ?? 0)
            return { RandomPolicy.score(seed: seed, layer: layer, head: head, position: $0) }
        case "tova":
            // Mean over the layer's heads of the stored metric by position (0 where a head lacks it).
            let heads = (0..<r.layout.kvHeads).map { r.contents[layer * r.layout.kvHeads + $0] }
            return { p in heads.reduce(Float(0)) { $0 + (r.isProtected(p) ? 0 : ($1[p]?.metric ?? 0)) / Float(heads.count) } }
        default:
            return nil
        }
    }
}
