import KVCCUDA
import PagedKVCache
import Testing

/// Wrong budgets, settings and shapes are refused with errors that name the problem, on the host,
/// before any GPU work.
@Suite struct EvictionErrorTests {
    static func cache(length: Int = 40, blockSize: Int = 4) throws -> (PagedKVCache, SequenceID) {
        try EvictionScenario(seed: 7, blockSize: blockSize, sequenceLength: length, protectedWindow: 4, budget: .rate(2)).makeCache()
    }

    @Test func impossibleBudgetIsRefused() throws {
        let (cache, sequence) = try Self.cache()
        let settings = EvictionSettings(budget: .maxCacheTokens(8), protectedWindow: 32)
        #expect {
            _ = try EvictionShape(cache: cache, sequence: sequence, settings: settings)
        } throws: { error in
            guard let error = error as? EvictionError, case .impossibleBudget = error else { return false }
            return "\(error)".contains("max_cache_tokens 8 is below the 32 protected")
        }
        #expect(throws: EvictionError.self) {
            _ = try EvictionShape(cache: cache, sequence: sequence, settings: EvictionSettings(budget: .rate(0.5)))
        }
    }

    @Test func badEvictionBlockSizesAreRefused() throws {
        let (cache, sequence) = try Self.cache()
        for sizes in [[4], [4, 6], [0, 4]] {
            let settings = EvictionSettings(budget: .rate(2), evictionBlockSizes: sizes)
            #expect {
                _ = try EvictionShape(cache: cache, sequence: sequence, settings: settings)
            } throws: { error in
                guard let error = error as? EvictionError, case .invalidSettings(let why) = error else { return false }
                return why.contains("layer") || why.contains("per layer")
            }
        }
        #expect(throws: EvictionError.self) {
            _ = try EvictionShape(cache: cache, sequence: sequence, settings: EvictionSettings(budget: .rate(2), protectedWindow: -1))
        }
    }

    @Test func headTooLongForTheSortNamesTheHeadAndTheLimit() throws {
        let (cache, sequence) = try Self.cache(length: 300)
        let shape = try EvictionShape(cache: cache, sequence: sequence, settings: EvictionSettings(budget: .rate(2), protectedWindow: 4))
        // 2 KiB of shared memory holds 256 entries of 8 bytes: every head here is longer.
        #expect(EvictionShape.sortLimit(sharedMemoryBytes: 2048) == 256)
        #expect {
            try shape.checkSortFits(sharedMemoryBytes: 2048, architecture: "test device")
        } throws: { error in
            guard let error = error as? EvictionError, case let .headTooLongForSort(layer, head, length, limit, _) = error else { return false }
            return layer * shape.kvHeads + head == shape.contextLengths.firstIndex { $0 > 256 } && length > 256 && limit == 256
                && "\(error)".contains("at most 256")
        }
        // sm_80's 163 KB opt-in takes 16384 KVs per head, the H100/H200's 227 KB too.
        #expect(EvictionShape.sortLimit(sharedMemoryBytes: 163 * 1024) == 16384)
        #expect(EvictionShape.sortLimit(sharedMemoryBytes: 227 * 1024) == 16384)
        try shape.checkSortFits(sharedMemoryBytes: 163 * 1024, architecture: "sm_80")
    }

    @Test func inconsistentCountsAreRefusedByThePlanner() throws {
        let (cache, sequence) = try Self.cache()
        let settings = EvictionSettings(budget: .rate(2), protectedWindow: 4)
        let shape = try EvictionShape(cache: cache, sequence: sequence, settings: settings)
        let ordering = EvictionReference.sortHeadMetrics(cache: cache, sequence: sequence, settings: settings, shape: shape)
        #expect(throws: EvictionError.self) { _ = try EvictionReference.planMoves(ordering: ordering, evictedKVs: [1]) }
        var counts = Array(repeating: 0, count: shape.heads)
        counts[0] = shape.contextLengths[0] + 1
        #expect(throws: EvictionError.self) { _ = try EvictionReference.planMoves(ordering: ordering, evictedKVs: counts) }
        // A kernel's -1 flag is an error, not a plan.
        #expect {
            _ = try MovePlan(heads: 1, maxMoves: 2, moves: [0, 0, 0, 0], counts: [-1])
        } throws: { error in
            guard let error = error as? EvictionError, case .inconsistentPlan = error else { return false }
            return true
        }
        #expect(throws: EvictionError.self) {
            _ = try VirtualBlockSelection(shape: shape, virtualBlockScores: [1, 2], limit: .kvs(0), evenLayerEvict: false)
        }
    }
}

extension EvictionErrorTests {
    @Test func anUnknownSequenceIsNamed() throws {
        let (cache, _) = try Self.cache()
        #expect {
            _ = try EvictionShape(cache: cache, sequence: SequenceID(99), settings: EvictionSettings(budget: .rate(2)))
        } throws: { error in
            guard let error = error as? EvictionError, case .unknownSequence = error else { return false }
            return "\(error)".contains("seq99")
        }
    }
}
