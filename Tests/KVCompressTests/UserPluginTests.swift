import EvictionPolicies
import KVCompress
import PagedKVCache
import Testing

/// The plug-in of Plugins/README.md, registered and run like a built-in: a user's policy has the same
/// powers (public building blocks, registry, validation by the executor).
struct OldestFirst: EvictionPolicy {
    func plan(_ input: EvictionInput) throws -> EvictionPlan {
        var allocator = BlockAllocator(input, rankingScores: input.heads.map { $0.positions.map(Float.init) })
        allocator.evictLowestFirst()  // lowest virtual block over all heads until the budget holds
        return allocator.plan
    }
}

/// A policy that breaks the rules, to show the executor stops it before the cache is touched.
struct EvictsOneKV: EvictionPolicy {
    func plan(_ input: EvictionInput) throws -> EvictionPlan {
        var plan = EvictionPlan(headCount: input.heads.count)
        plan.evicted[0] = [0]
        return plan
    }
}

@Suite struct UserPluginTests {
    @Test func aUserPolicyRunsThroughTheRegistryLikeABuiltIn() throws {
        let registry = PluginRegistry.withBuiltins()
        registry.register(policy: "oldest", summary: "evict the oldest KVs first") { _ in OldestFirst() }
        // Metrics say "keep the oldest", the policy evicts them anyway: 8 KVs, bs 2, keep 4 (rate 2, no protection).
        let (cache, sequence) = try ScheduleExampleTests.cache([[[9, 8, 7, 6, 5, 4, 3, 2]]], blockSize: 2)
        let c = configuration(policy: "oldest", budget: .rate(2), protectedWindow: 0, blockSize: 2)
        let report = try Compressor(configuration: c, registry: registry).compress(sequence, cache: cache, trigger: .manual)
        #expect(report.kvsEvicted == 4 && report.blocksFreed == 2)
        let view = cache.view(sequence, layer: 0, head: 0)
        #expect(Set((0..<view.length).map { view.position($0) }) == [4, 5, 6, 7])
    }

    @Test func theExecutorStopsAPolicyThatBreaksTheRules() throws {
        let registry = PluginRegistry.withBuiltins()
        registry.register(policy: "broken", summary: "evicts a single KV of a 2-KV block") { _ in EvictsOneKV() }
        let (cache, sequence) = try ScheduleExampleTests.cache([[[1, 2, 3, 4]]], blockSize: 2)
        let c = configuration(policy: "broken", budget: .rate(2), protectedWindow: 0, blockSize: 2)
        #expect {
            _ = try Compressor(configuration: c, registry: registry).compress(sequence, cache: cache, trigger: .manual)
        } throws: { error in
            "\(error)".contains("eviction policy 'broken' produced an invalid plan") && "\(error)".contains("not a whole number of 2-KV blocks")
        }
        #expect(cache.contextLengths(sequence) == [4])
    }
}
