import PagedKVCache

/// The eviction kernels on a GPU against their CPU references (Eviction/*Reference.swift), for the
/// check binary the lead runs on a GPU machine. Sorting and moving are exact, so every comparison
/// requires equality: the reported errors are the largest differences (0 when equal).
public enum EvictionKernelCheck {
    /// The configurations checked: SmolLM2's 30 layers × 3 KV heads at block sizes 1, 16 and 64,
    /// heads up to 8192 KVs (one case at the sort's 16384 limit), several budgets, tied and NaN
    /// metrics, sinks, the avg aggregate, `even_layer_evict`, per-layer eviction units.
    public static var cases: [EvictionCheckCase] {
        [
            EvictionCheckCase(
                name: "smollm2-bs16-rate8", seed: 1, layers: 30, kvHeads: 3, headDim: 64, blockSize: 16, sequenceLength: 8192,
                tiedMetrics: true, settings: EvictionSettings(budget: .rate(8), protectedWindow: 32)),
            EvictionCheckCase(
                name: "smollm2-bs16-first-compression-rate2", seed: 2, layers: 30, kvHeads: 3, headDim: 64, blockSize: 16,
                sequenceLength: 8192, fullHeads: true, settings: EvictionSettings(budget: .rate(2), protectedWindow: 32)),
            EvictionCheckCase(
                name: "smollm2-bs1-paper-rate4", seed: 3, layers: 30, kvHeads: 3, headDim: 16, blockSize: 1, sequenceLength: 2048,
                withNaN: true, settings: EvictionSettings(budget: .paperRate(4), protectedWindow: 8, sinks: 4)),
            EvictionCheckCase(
                name: "smollm2-bs64-tokens-avg", seed: 4, layers: 30, kvHeads: 3, headDim: 80, blockSize: 64, sequenceLength: 5000,
                tiedMetrics: true, settings: EvictionSettings(budget: .maxCacheTokens(1000), protectedWindow: 64, aggregate: .average)),
            EvictionCheckCase(
                name: "smollm2-bs16-even-layers", seed: 5, layers: 30, kvHeads: 3, headDim: 16, blockSize: 16, sequenceLength: 8192,
                tiedMetrics: true, settings: EvictionSettings(budget: .rate(32), protectedWindow: 64, evenLayerEvict: true)),
            EvictionCheckCase(
                name: "per-layer-units", seed: 6, layers: 4, kvHeads: 2, headDim: 32, blockSize: 16, sequenceLength: 3000,
                settings: EvictionSettings(budget: .rate(4), protectedWindow: 16, evictionBlockSizes: [64, 32, 16, 16])),
            EvictionCheckCase(
                name: "short-heads", seed: 7, layers: 2, kvHeads: 3, headDim: 8, blockSize: 16, sequenceLength: 70, tiedMetrics: true,
                withNaN: true, settings: EvictionSettings(budget: .rate(2), protectedWindow: 8)),
            EvictionCheckCase(
                name: "sort-limit-16384", seed: 8, layers: 4, kvHeads: 1, headDim: 8, blockSize: 16, sequenceLength: 16384,
                fullHeads: true, settings: EvictionSettings(budget: .rate(8), protectedWindow: 32)),
        ]
    }

    /// Runs every case of ``cases`` and the reused compressor once per KV type of `kvTypes` (the moves
    /// copy elements of the pools' type), plus the refusal of a head longer than the sort takes.
    public static func run(
        context: CUDAContext, compiler: NVRTCCompiler, kvTypes: [KVStorageType] = KVStorageType.allCases
    ) throws -> [KernelCheckResult] {
        let kernels = try EvictionKernels(context: context, compiler: compiler)
        var results: [KernelCheckResult] = []
        for kvType in kvTypes {
            for checkCase in cases where checkCase.sequenceLength <= kernels.sortLimit {
                results += try check(checkCase.with(kvType: kvType), kernels: kernels)
            }
            results.append(try checkReusedCompressor(kernels: kernels, kvType: kvType))
        }
        results.append(try checkRefusesHeadsTooLong(kernels: kernels))
        return results
    }

    /// Sequences of growing and shrinking shapes (heads, lengths, block sizes) compressed one after
    /// the other by ONE ``GPUCompressor``, whose scratch is grown when too small and otherwise reused
    /// with the new shape's row strides: each must leave what the references leave.
    static let reuseCases: [EvictionCheckCase] = {
        let settings = EvictionSettings(budget: .rate(4), protectedWindow: 16)
        let shapes: [(layers: Int, kvHeads: Int, blockSize: Int, length: Int)] = [
            (2, 2, 16, 300), (6, 3, 16, 3000), (3, 1, 4, 700), (8, 2, 16, 4100), (1, 1, 1, 90),
        ]
        return shapes.enumerated().map { i, shape in
            EvictionCheckCase(
                name: "reuse-\(i)", seed: 20 + UInt64(i), layers: shape.layers, kvHeads: shape.kvHeads, headDim: 8,
                blockSize: shape.blockSize, sequenceLength: shape.length, tiedMetrics: i % 2 == 0, settings: settings)
        }
    }()

    static func checkReusedCompressor(kernels: EvictionKernels, kvType: KVStorageType) throws -> KernelCheckResult {
        let compressor = GPUCompressor(kernels: kernels, settings: reuseCases[0].settings)
        var differing: [String] = []
        for checkCase in reuseCases.map({ $0.with(kvType: kvType) }) {
            let (gpuHost, sequence) = try checkCase.makeCache()
            let gpuCache = try GPUPagedKVCache(context: kernels.context, layout: gpuHost.layout, capacityBlocks: gpuHost.capacityBlocks)
            try gpuCache.upload(from: gpuHost, sequences: [sequence])
            let outcome = try compressor.compress(sequence, cache: gpuHost, gpuCache: gpuCache)
            try gpuCache.downloadPools(into: gpuHost)
            let (referenceHost, referenceSequence) = try checkCase.makeCache()
            let referenceOutcome = try EvictionReference.compress(referenceSequence, cache: referenceHost, settings: checkCase.settings)
            if outcome != referenceOutcome || !comparePools(gpuHost, sequence, referenceHost, referenceSequence).equal || outcome.kvsEvicted == 0 {
                differing.append("\(checkCase.name): GPU \(outcome), reference \(referenceOutcome)")
            }
        }
        let label = "one compressor, \(reuseCases.count) shapes in turn (scratch grown and reused)"
        let kernel = KVKernelName.typed(EvictionKernels.executeFunctionName, kvType)
        guard differing.isEmpty else { return failure(kernel: kernel, case: "\(label): \(differing)", kvType: kvType) }
        return KernelCheckResult(kernel: kernel, case: label, maxAbsoluteError: 0, maxRelativeError: 0, passed: true, kvType: kvType)
    }

    /// One case: the sort, the move plan and the whole compression (moves + truncation) on the GPU,
    /// each against the reference on an identical host cache.
    public static func check(_ checkCase: EvictionCheckCase, kernels: EvictionKernels) throws -> [KernelCheckResult] {
        let context = kernels.context
        let settings = checkCase.settings
        let label = checkCase.description, kvType = checkCase.kvType
        let (gpuHost, sequence) = try checkCase.makeCache()
        let gpuCache = try GPUPagedKVCache(context: context, layout: gpuHost.layout, capacityBlocks: gpuHost.capacityBlocks)
        try gpuCache.upload(from: gpuHost, sequences: [sequence])

        // 1. The sort and the virtual-block scores.
        let shape = try EvictionShape(cache: gpuHost, sequence: sequence, settings: settings)
        let workspace = try EvictionKernels.Workspace(context: context, shape: shape)
        try kernels.sortHeadMetrics(sequence, cache: gpuCache, settings: settings, workspace: workspace)
        let gpuOrdering = try workspace.downloadOrdering()
        let referenceOrdering = EvictionReference.sortHeadMetrics(cache: gpuHost, sequence: sequence, settings: settings, shape: shape)
        var results = [
            exactResult(
                kernel: EvictionKernels.sortFunctionName, case: "\(label), ascending indices",
                got: gpuOrdering.ascendingIndices.map(Double.init), expected: referenceOrdering.ascendingIndices.map(Double.init),
                kvType: kvType),
            exactResult(
                kernel: EvictionKernels.sortFunctionName, case: "\(label), virtual-block scores",
                got: gpuOrdering.virtualBlockScores.map(Double.init), expected: referenceOrdering.virtualBlockScores.map(Double.init),
                kvType: kvType),
        ]

        // 2. The move plan for the reference's selection.
        let limit = shape.limit(settings.budget, protectedWindow: settings.protectedWindow)
        let selection = VirtualBlockSelection(ordering: referenceOrdering, limit: limit, evenLayerEvict: settings.evenLayerEvict)
        try kernels.planMoves(sequence, cache: gpuCache, evictedKVs: selection.evictedKVs, workspace: workspace)
        let referencePlan = try EvictionReference.planMoves(ordering: referenceOrdering, evictedKVs: selection.evictedKVs)
        do {
            let gpuPlan = try workspace.downloadMovePlan()
            results.append(
                exactResult(
                    kernel: EvictionKernels.planFunctionName, case: "\(label), \(referencePlan.totalMoves) moves",
                    got: (gpuPlan.counts + gpuPlan.moves).map(Double.init),
                    expected: (referencePlan.counts + referencePlan.moves).map(Double.init), kvType: kvType))
        } catch let error as EvictionError {
            results.append(failure(kernel: EvictionKernels.planFunctionName, case: "\(label): \(error)", kvType: kvType))
        }

        // 3. The whole compression: GPUCompressor (kernels + host truncation) against the references.
        let outcome = try GPUCompressor(kernels: kernels, settings: settings).compress(sequence, cache: gpuHost, gpuCache: gpuCache)
        try gpuCache.downloadPools(into: gpuHost)
        let (referenceHost, referenceSequence) = try checkCase.makeCache()
        let referenceOutcome = try EvictionReference.compress(referenceSequence, cache: referenceHost, settings: settings)
        let same = outcome == referenceOutcome
        let pools = comparePools(gpuHost, sequence, referenceHost, referenceSequence)
        results.append(
            KernelCheckResult(
                kernel: KVKernelName.typed(EvictionKernels.executeFunctionName, kvType),
                case: "\(label), \(referenceOutcome) — pools, tables, lengths\(same ? "" : "; GPU outcome differs: \(outcome)")",
                maxAbsoluteError: pools.maxAbsoluteError, maxRelativeError: pools.maxRelativeError, passed: same && pools.equal,
                kvType: kvType))
        return results
    }

    /// A head longer than the sort's shared memory takes is refused before any launch.
    static func checkRefusesHeadsTooLong(kernels: EvictionKernels) throws -> KernelCheckResult {
        let length = kernels.sortLimit * 2
        let checkCase = EvictionCheckCase(
            name: "too-long", seed: 9, layers: 1, kvHeads: 1, headDim: 4, blockSize: 16, sequenceLength: length, fullHeads: true,
            settings: EvictionSettings(budget: .rate(2), protectedWindow: 0))
        let (host, sequence) = try checkCase.makeCache()
        let gpuCache = try GPUPagedKVCache(context: kernels.context, layout: host.layout, capacityBlocks: host.capacityBlocks)
        try gpuCache.uploadTables(from: host, sequences: [sequence])
        let label = "head of \(length) KVs refused (limit \(kernels.sortLimit))"
        do {
            try GPUCompressor(kernels: kernels, settings: checkCase.settings).compress(sequence, cache: host, gpuCache: gpuCache)
            return failure(kernel: EvictionKernels.sortFunctionName, case: "\(label): compressed instead")
        } catch let error as EvictionError {
            guard case .headTooLongForSort = error else { return failure(kernel: EvictionKernels.sortFunctionName, case: "\(label): \(error)") }
            return KernelCheckResult(kernel: EvictionKernels.sortFunctionName, case: label, maxAbsoluteError: 0, maxRelativeError: 0, passed: true)
        }
    }

    // MARK: - Comparisons

    /// Equality of two arrays; the errors are the largest absolute and relative differences (+inf
    /// when one side is infinite and the other not).
    static func exactResult(
        kernel: String, case label: String, got: [Double], expected: [Double], kvType: KVStorageType? = nil
    ) -> KernelCheckResult {
        guard got.count == expected.count else {
            return failure(kernel: kernel, case: "\(label): \(got.count) values, expected \(expected.count)", kvType: kvType)
        }
        var absolute = 0.0, relative = 0.0, equal = true
        for (a, b) in zip(got, expected) where a != b && !(a.isNaN && b.isNaN) {
            equal = false
            let difference = a.isInfinite || b.isInfinite || a.isNaN || b.isNaN ? Double.infinity : abs(a - b)
            absolute = max(absolute, difference)
            relative = max(relative, difference / max(abs(b), 1e-30))
        }
        return KernelCheckResult(
            kernel: kernel, case: label, maxAbsoluteError: absolute, maxRelativeError: relative, passed: equal, kvType: kvType)
    }

    static func failure(kernel: String, case label: String, kvType: KVStorageType? = nil) -> KernelCheckResult {
        KernelCheckResult(
            kernel: kernel, case: label, maxAbsoluteError: .infinity, maxRelativeError: .infinity, passed: false, kvType: kvType)
    }

    /// Compares the whole pools (keys and values as floats through the typed accessors — for halves,
    /// equal values are equal bits except ±0 and NaN payloads, which the byte comparisons of the tests
    /// cover; metrics, positions; NaN equals NaN), then the
    /// sequence's tables, lengths and the free block count of two caches of the same layout.
    static func comparePools(
        _ a: PagedKVCache, _ sequenceA: SequenceID, _ b: PagedKVCache, _ sequenceB: SequenceID
    ) -> (equal: Bool, maxAbsoluteError: Double, maxRelativeError: Double) {
        var equal = true, absolute = 0.0, relative = 0.0
        func compare(_ x: Double, _ y: Double) {
            guard x != y, !(x.isNaN && y.isNaN) else { return }
            equal = false
            let difference = x.isFinite && y.isFinite ? abs(x - y) : Double.infinity
            absolute = max(absolute, difference)
            relative = max(relative, difference / max(abs(y), 1e-30))
        }
        guard a.layout == b.layout, a.capacityBlocks == b.capacityBlocks else { return (false, .infinity, .infinity) }
        let slots = a.capacityBlocks * a.layout.blockSize
        for slot in 0..<slots {
            for (x, y) in zip(a.key(slot: slot) + a.value(slot: slot), b.key(slot: slot) + b.value(slot: slot)) {
                compare(Double(x), Double(y))
            }
        }
        for i in 0..<slots {
            compare(Double(a.metrics[i]), Double(b.metrics[i]))
            compare(Double(a.positions[i]), Double(b.positions[i]))
        }
        let kvHeads = a.layout.kvHeads
        for h in 0..<a.layout.headCount {
            let (layer, head) = (h / kvHeads, h % kvHeads)
            compare(Double(a.contextLength(sequenceA, layer: layer, head: head)), Double(b.contextLength(sequenceB, layer: layer, head: head)))
            if a.blockTable(sequenceA, layer: layer, head: head) != b.blockTable(sequenceB, layer: layer, head: head) {
                equal = false
                absolute = .infinity
                relative = .infinity
            }
        }
        compare(Double(a.freeBlockCount), Double(b.freeBlockCount))
        return (equal, absolute, relative)
    }
}
