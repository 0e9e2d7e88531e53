import EvictionPolicies
import KVCompress
import PagedKVCache
import Testing

/// The executor refuses plans that would corrupt the cache, with errors that say why.
@Suite struct ExecutorTests {
    /// One layer, one head, 5 KVs at positions 0…4, bs 2, protected window 1 (position 4).
    static func input() throws -> (EvictionInput, PagedKVCache) {
        let (cache, sequence) = try ScheduleExampleTests.cache([[[5, 1, 4, 2, 3]]], blockSize: 2)
        let compressor = try Compressor(configuration: configuration(budget: .maxCacheTokens(2), protectedWindow: 1, blockSize: 2), registry: builtins)
        return (try compressor.evictionInput(sequence, cache: cache), cache)
    }

    static func rejection(_ plan: EvictionPlan) throws -> String? {
        let (input, cache) = try input()
        let free = cache.freeBlockCount
        do {
            _ = try EvictionExecutor.apply(plan, for: input, policy: "test", to: cache)
            return nil
        } catch {
            #expect(cache.freeBlockCount == free, "a refused plan must leave the cache alone")
            #expect(cache.contextLengths(input.sequence) == [5])
            return "\(error)"
        }
    }

    @Test func refusesPartialBlocks() throws {
        let why = try #require(try Self.rejection(EvictionPlan(evicted: [[0, 1]])))
        #expect(why.contains("not a whole number of 2-KV blocks"))
    }

    @Test func refusesProtectedKVs() throws {
        let why = try #require(try Self.rejection(EvictionPlan(evicted: [[4]])))
        #expect(why.contains("protected position 4"))
    }

    @Test func refusesRepeatedAndOutOfRangeSlots() throws {
        #expect(try Self.rejection(EvictionPlan(evicted: [[1, 1, 2]]))?.contains("evicted twice") == true)
        #expect(try Self.rejection(EvictionPlan(evicted: [[7]]))?.contains("outside 0..<5") == true)
        #expect(try Self.rejection(EvictionPlan(evicted: [[], []]))?.contains("names 2 heads") == true)
    }

    @Test func acceptsWholeBlocksAndMovesTheTailIntoTheHoles() throws {
        let (input, cache) = try Self.input()
        // Evict slots 0, 1, 2 (5 → 2 KVs, 3 → 1 blocks): survivors 3 and 4; the two-pointer walk moves
        // slot 4 → 0 and slot 3 → 1.
        let result = try EvictionExecutor.apply(EvictionPlan(evicted: [[0, 1, 2]]), for: input, policy: "test", to: cache)
        #expect(result == EvictionExecutor.Result(blocksFreed: 2, kvsEvicted: 3, kvsMoved: 2))
        let view = cache.view(input.sequence, layer: 0, head: 0)
        #expect(view.length == 2 && view.position(0) == 4 && view.position(1) == 3)
        #expect(view.metric(0).pointee == 3 && view.metric(1).pointee == 2)
    }
}
