import PagedKVCache

/// Times `kvc_decode_attention` (both passes) on one layer of a realistic decode step: SmolLM2-135M's
/// attention shape (9 query heads, 3 KV heads, head dim 64, block size 16), 32 sequences of 2048 and
/// of 8192 tokens, every head full. Reports GPU milliseconds per step (CUDA events, mean of
/// `iterations` after warm-up) and the effective bandwidth of the K and V bytes the step must read;
/// and the prefill window metric (w = 32, L2) of one of those sequences. Both KV storage types: the
/// float32 figures keep their keys, the half-float ones are prefixed `f16_` (half the K and V bytes).
///
/// Measured on one H200 (driver 580, NVRTC 13.0, sm_90), 2026-11-29: 32 × 2048 tokens 0.091 ms
/// (1.10 TB/s of K+V), with the L2 metric 0.104 ms; 32 × 8192 tokens 0.273 ms (1.48 TB/s), with the
/// L2 metric 0.297 ms; 1, 2, 4, 8 lanes per key: 1.48, 1.41, 1.18, 1.05 TB/s at 8192 (hence the
/// default of 1). Window metric (w 32, L2) of one sequence: 0.24 ms at 2048 tokens, 0.50 ms at 8192.
public enum AttentionKernelBenchmark {
    static let sequences = 32, iterations = 20, warmUp = 3

    /// Keys: `decode_<seqs>x<tokens>_<metric>_ms` and `…_GBps`, metric `none` or `l2`, with the default
    /// lanes per key; `…_none_lanes<n>_…` for the other lane counts; `window_…`; each prefixed `f16_`
    /// for half-float pools.
    public static func run(context: CUDAContext, compiler: NVRTCCompiler) throws -> [String: Double] {
        let kernels = try GPUAttentionKernels(context: context, compiler: compiler)
        var report: [String: Double] = [:]
        for kvType in [KVStorageType.f32, .f16] {
            let prefix = kvType == .f32 ? "" : "\(kvType)_"
            for (key, value) in try run(kernels, kvType: kvType) { report[prefix + key] = value }
        }
        return report
    }

    /// The figures for pools of `kvType`, unprefixed.
    static func run(_ kernels: GPUAttentionKernels, kvType: KVStorageType) throws -> [String: Double] {
        let context = kernels.context
        let layout = try CacheLayout(layers: 1, kvHeads: 3, headDim: 64, blockSize: 16, kvType: kvType)
        let groupSize = 3
        var report: [String: Double] = [:]
        for tokens in [2048, 8192] {
            let lengths = [[Int]](repeating: [Int](repeating: tokens, count: layout.headCount), count: sequences)
            let host = try RandomPagedCache(layout: layout, lengths: lengths, seed: UInt64(tokens))
            let gpu = try GPUPagedKVCache(context: context, layout: layout, capacityBlocks: host.cache.capacityBlocks)
            try gpu.upload(from: host.cache, sequences: host.sequences)
            let queries = AttentionKernelCheck.randomFloats(sequences * layout.kvHeads * groupSize * layout.headDim, seed: 3)
            let queryBuffer = try AttentionKernelCheck.upload(queries, context)
            let positionBuffer = try AttentionKernelCheck.upload([Int32](repeating: Int32(tokens), count: sequences), context)
            let output = try context.allocate(Float.self, count: queries.count)
            let bytes = Double(sequences * layout.kvHeads * tokens * layout.headDim * 2 * kvType.bytesPerElement)
            // The default decode configuration without and with the L2 metric, then pass 1's lanes per
            // key varied (metric off) to show the choice of the default.
            let chosen = kernels.decodeLanesPerKey
            let variants = [(AttentionMetricMode.none, chosen), (.l2, chosen)] + [2, 4, 8].map { (.none, $0) }
            for (mode, lanes) in variants {
                kernels.decodeLanesPerKey = lanes
                func step() throws {
                    try kernels.decodeAttention(
                        cache: gpu, layer: 0, queries: queryBuffer, queryPositions: positionBuffer, output: output,
                        groupSize: groupSize, scale: 0.125, metricMode: mode)
                }
                for _ in 0..<warmUp { try step() }
                try context.synchronize()
                let total = try context.timeMilliseconds { for _ in 0..<iterations { try step() } }
                let milliseconds = total / Double(iterations)
                let key = "decode_\(sequences)x\(tokens)_\(mode == .none ? "none" : "l2")"
                    + (lanes == chosen ? "" : "_lanes\(lanes)")
                report[key + "_ms"] = milliseconds
                report[key + "_GBps"] = bytes / (milliseconds * 1e-3) / 1e9
            }
            kernels.decodeLanesPerKey = chosen
            // The prefill metric of one sequence's last 32 queries over its `tokens` KVs (per layer).
            let window = 32
            let windowQueries = try AttentionKernelCheck.upload(
                AttentionKernelCheck.randomFloats(window * layout.kvHeads * groupSize * layout.headDim, seed: 4), context)
            let windowPositions = try AttentionKernelCheck.upload((0..<window).map { Int32(tokens - window + $0) }, context)
            func windowStep() throws {
                try kernels.windowMetric(
                    cache: gpu, layer: 0, sequenceIndex: 0, queries: windowQueries, queryPositions: windowPositions,
                    groupSize: groupSize, scale: 0.125, metricMode: .l2)
            }
            try windowStep()
            try context.synchronize()
            report["window_1x\(tokens)_w\(window)_l2_ms"] = try context.timeMilliseconds { for _ in 0..<iterations { try windowStep() } } / Double(iterations)
        }
        return report
    }
}
