import PagedKVCache

/// GPU time of one KV-Compress compression of one 8192-token SmolLM2-shaped sequence (30 layers × 3
/// KV heads, headDim 64, block size 16, every head full as right after prefill, protected window 32)
/// at compression rates 2, 8 and 32: each kernel between CUDA events, the download of the
/// virtual-block scores and the host selection on the wall clock, and the whole
/// ``GPUCompressor/compress(_:cache:gpuCache:)`` (transfers included), first with a new compressor
/// (its scratch allocated) and again with the same compressor on a fresh copy (scratch reused). Both
/// KV storage types: float32 figures keep their keys, half-float ones are prefixed `f16_`.
public enum EvictionKernelBenchmark {
    public static let rates: [Double] = [2, 8, 32]

    /// Keys: `<step>_ms_rate<r>` for step in sort, scores_download (device to host, wall clock),
    /// select (host selection alone, the download not included), plan, moves, compress (end to end,
    /// a new compressor), compress_reuse (end to end, the same compressor again);
    /// `kvs_evicted_rate<r>`, `kvs_moved_rate<r>`, `blocks_freed_rate<r>`.
    public static func run(context: CUDAContext, compiler: NVRTCCompiler) throws -> [String: Double] {
        let kernels = try EvictionKernels(context: context, compiler: compiler)
        var results: [String: Double] = [:]
        for kvType in [KVStorageType.f32, .f16] {
            let prefix = kvType == .f32 ? "" : "\(kvType)_"
            for (key, value) in try run(kernels, kvType: kvType) { results[prefix + key] = value }
        }
        return results
    }

    /// The figures for pools of `kvType`, unprefixed.
    static func run(_ kernels: EvictionKernels, kvType: KVStorageType) throws -> [String: Double] {
        let context = kernels.context
        var results: [String: Double] = [:]
        for rate in rates {
            let key = "rate\(Int(rate))"
            let checkCase = EvictionCheckCase(
                name: "benchmark", seed: 42, layers: 30, kvHeads: 3, headDim: 64, blockSize: 16, sequenceLength: 8192,
                fullHeads: true, settings: EvictionSettings(budget: .rate(rate), protectedWindow: 32), kvType: kvType)
            let settings = checkCase.settings
            let (host, sequence) = try checkCase.makeCache()
            let gpuCache = try GPUPagedKVCache(context: context, layout: host.layout, capacityBlocks: host.capacityBlocks)
            try gpuCache.upload(from: host, sequences: [sequence])

            // Step by step, each kernel timed alone (a warm-up sort first: module load, first launch).
            let shape = try EvictionShape(cache: host, sequence: sequence, settings: settings)
            let workspace = try EvictionKernels.Workspace(context: context, shape: shape)
            try kernels.sortHeadMetrics(sequence, cache: gpuCache, settings: settings, workspace: workspace)
            try context.synchronize()
            results["sort_ms_\(key)"] = try context.timeMilliseconds {
                try kernels.sortHeadMetrics(sequence, cache: gpuCache, settings: settings, workspace: workspace)
            }
            let clock = ContinuousClock()
            let downloadStarted = clock.now
            let scores = try workspace.downloadVirtualBlockScores()
            results["scores_download_ms_\(key)"] = milliseconds(clock.now - downloadStarted)
            let started = clock.now
            let selection = try VirtualBlockSelection(
                shape: shape, virtualBlockScores: scores, limit: shape.limit(settings.budget, protectedWindow: settings.protectedWindow),
                evenLayerEvict: false)
            results["select_ms_\(key)"] = milliseconds(clock.now - started)
            results["plan_ms_\(key)"] = try context.timeMilliseconds {
                try kernels.planMoves(sequence, cache: gpuCache, evictedKVs: selection.evictedKVs, workspace: workspace)
            }
            results["moves_ms_\(key)"] = try context.timeMilliseconds {
                try kernels.executeMoves(sequence, cache: gpuCache, workspace: workspace)
            }

            // End to end on fresh pools.
            try gpuCache.upload(from: host, sequences: [sequence])
            let compressor = GPUCompressor(kernels: kernels, settings: settings)
            let compressStarted = clock.now
            let outcome = try compressor.compress(sequence, cache: host, gpuCache: gpuCache)
            results["compress_ms_\(key)"] = milliseconds(clock.now - compressStarted)

            // Again through the same compressor (its scratch reused) on a fresh copy of the sequence.
            let (freshHost, freshSequence) = try checkCase.makeCache()
            try gpuCache.upload(from: freshHost, sequences: [freshSequence])
            let reuseStarted = clock.now
            let again = try compressor.compress(freshSequence, cache: freshHost, gpuCache: gpuCache)
            results["compress_reuse_ms_\(key)"] = milliseconds(clock.now - reuseStarted)
            guard again == outcome else {
                throw EvictionError.inconsistentPlan("the same compression twice gave \(outcome), then \(again)")
            }
            results["kvs_evicted_\(key)"] = Double(outcome.kvsEvicted)
            results["kvs_moved_\(key)"] = Double(outcome.kvsMoved)
            results["blocks_freed_\(key)"] = Double(outcome.blocksFreed)
        }
        return results
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) * 1e-15
    }
}
