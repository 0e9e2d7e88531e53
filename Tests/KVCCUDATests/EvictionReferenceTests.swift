import EvictionPolicies
import KVCCUDA
import KVCompress
import PagedKVCache
import SeededRandom
import Testing

/// The CPU references of the eviction kernels and the host-side selection agree with the production
/// CPU code: the schedule with the KV-Compress policy's plan, the moves with EvictionExecutor.apply.
@Suite struct EvictionReferenceTests {
    static let scenarios: [EvictionScenario] = {
        var all: [EvictionScenario] = []
        let budgets: [CompressionBudget] = [.rate(2), .rate(8), .maxCacheTokens(24), .paperRate(2), .rate(1)]
        var seed: UInt64 = 1
        for blockSize in [1, 2, 4, 16] {
            for (b, budget) in budgets.enumerated() {
                seed += 1
                all.append(
                    EvictionScenario(
                        seed: seed, blockSize: blockSize, sequenceLength: b == 3 ? 400 : 40 + 13 * b, protectedWindow: [0, 3, 8][b % 3],
                        sinks: b == 3 ? 2 : 0, tiedMetrics: b % 2 == 0, withNaN: b == 1, budget: budget,
                        aggregate: b == 2 ? .average : .sum))
            }
        }
        all.append(EvictionScenario(seed: 90, layers: 3, kvHeads: 2, blockSize: 2, sequenceLength: 70, protectedWindow: 4, budget: .rate(4), evenLayerEvict: true))
        all.append(EvictionScenario(seed: 91, layers: 2, kvHeads: 2, blockSize: 2, sequenceLength: 61, protectedWindow: 2, budget: .rate(3), evictionBlockSizes: [4, 2]))
        all.append(EvictionScenario(seed: 92, layers: 2, kvHeads: 3, blockSize: 4, sequenceLength: 300, protectedWindow: 32, sinks: 4, tiedMetrics: false, budget: .paperRate(2), aggregate: .average))
        all.append(EvictionScenario(seed: 94, layers: 30, kvHeads: 3, blockSize: 4, sequenceLength: 90, protectedWindow: 8, budget: .rate(4)))
        all.append(EvictionScenario(seed: 95, layers: 30, kvHeads: 3, blockSize: 1, sequenceLength: 50, protectedWindow: 4, withNaN: true, budget: .rate(3)))
        all.append(EvictionScenario(seed: 93, layers: 1, kvHeads: 1, blockSize: 16, sequenceLength: 20, protectedWindow: 20, budget: .rate(8)))
        // Every scenario once more with half-float keys and values: the moves copy elements of either
        // type (CacheContents compares the pools byte for byte).
        return all + all.map { scenario in
            var half = scenario
            half.kvType = .f16
            return half
        }
    }()

    /// The CPU compressor configured like `scenario`.
    static func compressor(_ s: EvictionScenario) throws -> Compressor {
        let blockSizePlugin = s.evictionBlockSizes.map { PluginSpec("per_layer", options: ["sizes": .string($0.map(String.init).joined(separator: ","))]) }
            ?? PluginSpec("fixed", options: ["size": .int(s.blockSize)])
        let budget: CompressionBudget =
            switch s.budget {
            case .maxCacheTokens(let n): .maxCacheTokens(n)
            case .rate(let r): .rate(r)
            case .paperRate(let r): .paperRate(r)
            }
        let configuration = CompressionConfiguration(
            metric: PluginSpec("kvcompress", options: ["aggregate": .string(s.aggregate == .average ? "avg" : "sum")]),
            policy: PluginSpec("kvcompress", options: ["even_layer_evict": .bool(s.evenLayerEvict)]),
            blockSize: blockSizePlugin, budget: budget, protectedWindow: s.protectedWindow, sinks: s.sinks)
        return try Compressor(configuration: configuration, registry: .withBuiltins())
    }

    @Test(arguments: scenarios)
    func referenceScheduleEvictsWhatTheKVCompressPolicyPlans(_ scenario: EvictionScenario) throws {
        let (cache, sequence) = try scenario.makeCache()
        let compressor = try Self.compressor(scenario)
        let input = try compressor.evictionInput(sequence, cache: cache)
        let plan = try compressor.plugins.policy.plan(input)

        let shape = try EvictionShape(cache: cache, sequence: sequence, settings: scenario.settings)
        let ordering = EvictionReference.sortHeadMetrics(cache: cache, sequence: sequence, settings: scenario.settings, shape: shape)
        let limit = shape.limit(scenario.settings.budget, protectedWindow: scenario.protectedWindow)
        #expect("\(limit)" == "\(input.limit)", "the budget resolves to the same limit")
        let selection = VirtualBlockSelection(ordering: ordering, limit: limit, evenLayerEvict: scenario.evenLayerEvict)
        let referenceEvicted = (0..<shape.heads).map { h in ordering.ascendingSlots(head: h).prefix(selection.evictedKVs[h]).map(Int.init) }
        #expect(referenceEvicted == plan.evicted)
        #expect(
            (plan.evictedKVs > 0) != input.limit.holds(blocks: input.residentBlocks, kvs: input.residentKVs),
            "a sequence over its budget evicts, one within it does not")
    }

    @Test func mostScenariosEvict() throws {
        var evicting = 0
        for scenario in Self.scenarios {
            let (cache, sequence) = try scenario.makeCache()
            if try EvictionReference.compress(sequence, cache: cache, settings: scenario.settings).kvsEvicted > 0 { evicting += 1 }
        }
        #expect(evicting >= Self.scenarios.count - 12, "only the rate-1 and fully protected scenarios may keep everything")
    }

    @Test(arguments: scenarios)
    func referenceMovesLeaveTheCacheAsEvictionExecutorDoes(_ scenario: EvictionScenario) throws {
        let (cpuCache, cpuSequence) = try scenario.makeCache()
        let compressor = try Self.compressor(scenario)
        let input = try compressor.evictionInput(cpuSequence, cache: cpuCache)
        let plan = try compressor.plugins.policy.plan(input)
        let cpuResult = try EvictionExecutor.apply(plan, for: input, policy: "kvcompress", to: cpuCache)

        let (referenceCache, referenceSequence) = try scenario.makeCache()
        let outcome = try EvictionReference.compress(referenceSequence, cache: referenceCache, settings: scenario.settings)
        #expect(CacheContents(referenceCache, referenceSequence) == CacheContents(cpuCache, cpuSequence))
        #expect(outcome.blocksFreed == cpuResult.blocksFreed)
        #expect(outcome.kvsEvicted == cpuResult.kvsEvicted)
        #expect(outcome.kvsMoved == cpuResult.kvsMoved)
        let bs = scenario.blockSize
        let lengths = referenceCache.contextLengths(referenceSequence)
        #expect(outcome.budgetHeld == input.limit.holds(blocks: lengths.reduce(0) { $0 + ($1 + bs - 1) / bs }, kvs: lengths.reduce(0, +)))
    }

    /// KVCCUDA and KVCompress share one budget type (KVCBudget), so the GPU path resolves a budget with
    /// the very code the CPU compressor uses; what is left to check is that the shape feeds it the
    /// sequence's own numbers.
    @Test func theShapeResolvesBudgetsWithTheSequencesNumbers() throws {
        let budgets: [CompressionBudget] = [.maxCacheTokens(20), .maxCacheTokens(129), .rate(2), .rate(7.5), .paperRate(8), .paperRate(1.5)]
        for budget in budgets {
            for (length, protected) in [(100, 32), (8192, 32), (10, 64), (4097, 0)] {
                for bs in [1, 16, 64] {
                    let layout = try CacheLayout(layers: 30, kvHeads: 3, headDim: 4, blockSize: bs, kvType: .f32)
                    let shape = try EvictionShape(
                        layout: layout, sequenceLength: length, contextLengths: Array(repeating: length, count: 90), layerBlockSizes: Array(repeating: bs, count: 30))
                    #expect(
                        shape.limit(budget, protectedWindow: protected)
                            == budget.limit(sequenceLength: length, layers: 30, kvHeads: 3, blockSize: bs, protectedWindow: protected),
                        "\(budget) at length \(length), bs \(bs)")
                }
            }
        }
        #expect(CompressionBudget.maxCacheTokens(8).impossibility(protectedWindow: 32, sinks: 0) != nil)
        #expect(CompressionBudget.rate(0.5).impossibility(protectedWindow: 0, sinks: 0) != nil)
    }

    /// A move copies the half-float elements as bits: NaNs keep their payloads and signs, −0 stays −0,
    /// subnormals stay exact (pools filled with arbitrary bit patterns, not only with rounded floats).
    @Test func halfFloatMovesCopyEveryBitPattern() throws {
        let scenario = EvictionScenario(
            seed: 7, layers: 2, kvHeads: 2, blockSize: 4, sequenceLength: 60, protectedWindow: 4, budget: .rate(2), kvType: .f16)
        let (cache, sequence) = try scenario.makeCache()
        let d = cache.layout.headDim, bs = cache.layout.blockSize, elements = cache.capacityBlocks * bs * d
        let keys = cache.keyStorage.assumingMemoryBound(to: UInt16.self)
        let values = cache.valueStorage.assumingMemoryBound(to: UInt16.self)
        // Quiet and signalling NaNs with payloads, −0, the smallest and largest subnormals, −inf.
        let specials: [UInt16] = [0x7E01, 0x7C01, 0xFD55, 0x8000, 0x0001, 0x83FF, 0xFC00]
        var random = SplitMix64(seed: 3)
        for e in 0..<elements {
            keys[e] = e % 3 == 0 ? specials[e / 3 % specials.count] : UInt16(truncatingIfNeeded: random.next())
            values[e] = UInt16(truncatingIfNeeded: random.next())
        }
        func row(_ pool: UnsafeMutablePointer<UInt16>, _ slot: Int) -> [UInt16] { Array(UnsafeBufferPointer(start: pool + slot * d, count: d)) }
        func slot(_ h: Int, _ index: Int) -> Int {
            let table = cache.blockTable(sequence, layer: h / cache.layout.kvHeads, head: h % cache.layout.kvHeads)
            return Int(table[index / bs]) * bs + index % bs
        }
        let shape = try EvictionShape(cache: cache, sequence: sequence, settings: scenario.settings)
        let before = (0..<shape.heads).map { h in
            (0..<shape.contextLengths[h]).map { i in (key: row(keys, slot(h, i)), value: row(values, slot(h, i))) }
        }
        let ordering = EvictionReference.sortHeadMetrics(cache: cache, sequence: sequence, settings: scenario.settings, shape: shape)
        let selection = VirtualBlockSelection(
            ordering: ordering, limit: shape.limit(scenario.settings.budget, protectedWindow: scenario.protectedWindow),
            evenLayerEvict: false)
        let plan = try EvictionReference.planMoves(ordering: ordering, evictedKVs: selection.evictedKVs)
        try EvictionReference.executeMoves(plan, cache: cache, sequence: sequence)
        #expect(plan.totalMoves > 10)
        for h in 0..<plan.heads {
            for (source, destination) in plan.moves(head: h) {
                #expect(row(keys, slot(h, destination)) == before[h][source].key, "head \(h): key \(source) → \(destination)")
                #expect(row(values, slot(h, destination)) == before[h][source].value, "head \(h): value \(source) → \(destination)")
            }
        }
    }
}
