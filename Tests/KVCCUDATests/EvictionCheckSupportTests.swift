import PagedKVCache
import Testing
@testable import KVCCUDA

/// The parts of the GPU eviction check that run on the host: its caches are reproducible and valid,
/// and its comparisons catch a single differing value.
@Suite struct EvictionCheckSupportTests {
    static var smallCases: [EvictionCheckCase] {
        EvictionKernelCheck.cases.filter { $0.layers * $0.kvHeads * $0.sequenceLength * $0.headDim <= 1 << 20 }
    }

    @Test func smallCasesExist() { #expect(Self.smallCases.count >= 2) }

    @Test func checkCasesBuildTheSameCacheTwiceAndCompress() throws {
        for checkCase in Self.smallCases {
            let (a, sequenceA) = try checkCase.makeCache()
            let (b, sequenceB) = try checkCase.makeCache()
            #expect(EvictionKernelCheck.comparePools(a, sequenceA, b, sequenceB).equal, "\(checkCase)")
            let outcome = try EvictionReference.compress(sequenceA, cache: a, settings: checkCase.settings)
            #expect(outcome.kvsEvicted > 0, "\(checkCase) evicts")
            #expect(outcome.budgetHeld, "\(checkCase) meets its budget")
            #expect(!EvictionKernelCheck.comparePools(a, sequenceA, b, sequenceB).equal, "compression changed the cache")
        }
    }

    /// The reused-compressor check must grow the scratch after its first shape, then reuse larger
    /// buffers for a smaller shape, and every case must evict something.
    @Test func reuseCasesGrowAndShrinkTheScratch() throws {
        var largest = 0, grew = false, shrank = false
        for (i, checkCase) in EvictionKernelCheck.reuseCases.enumerated() {
            let (cache, sequence) = try checkCase.makeCache()
            let shape = try EvictionShape(cache: cache, sequence: sequence, settings: checkCase.settings)
            let needed = EvictionKernels.Workspace.elementCounts(shape).indices
            if i > 0 && needed > largest { grew = true }
            if i > 0 && needed < largest { shrank = true }
            largest = max(largest, needed)
            #expect(try EvictionReference.compress(sequence, cache: cache, settings: checkCase.settings).kvsEvicted > 0, "\(checkCase)")
        }
        #expect(grew && shrank)
    }

    @Test func comparisonsCatchOneDifferingValue() throws {
        let checkCase = try #require(Self.smallCases.first)
        let (a, sequenceA) = try checkCase.makeCache()
        let (b, sequenceB) = try checkCase.makeCache()
        let slot = a.slot(sequenceA, layer: 0, head: 0, index: 1)
        a.metrics[slot] = 1.5
        b.metrics[slot] = 1
        let result = EvictionKernelCheck.comparePools(a, sequenceA, b, sequenceB)
        #expect(!result.equal && result.maxAbsoluteError == 0.5)
        a.metrics[slot] = b.metrics[slot]
        a.positions[slot] += 1
        #expect(!EvictionKernelCheck.comparePools(a, sequenceA, b, sequenceB).equal)

        #expect(EvictionKernelCheck.exactResult(kernel: "k", case: "c", got: [1, .infinity, .nan], expected: [1, .infinity, .nan]).passed)
        let differing = EvictionKernelCheck.exactResult(kernel: "k", case: "c", got: [1, 2], expected: [1, 3])
        #expect(!differing.passed && differing.maxAbsoluteError == 1)
        #expect(!EvictionKernelCheck.exactResult(kernel: "k", case: "c", got: [1], expected: [1, 2]).passed)
        #expect(EvictionKernelCheck.exactResult(kernel: "k", case: "c", got: [.infinity], expected: [3]).maxAbsoluteError == .infinity)
    }
}
