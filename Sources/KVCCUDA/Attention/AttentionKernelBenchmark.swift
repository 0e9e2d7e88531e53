import PagedKVCache

/// Times `kvc_decode_attention` (both passes) on one layer of a realistic decode step: SmolLM2-135M's
/// attention shape (9 query heads, 3 KV heads, head dim 64, block size 16), 32 sequences of 2048 and
/// of 8192 tokens, every head full. Reports GPU milliseconds per step (CUDA events, mean of
/// `iterations` after warm-up) and the effective bandwidth of the K and V bytes the step must read.
public enum AttentionKernelBenchmark {
    static let sequences = 32, iterations = 20, warmUp = 3

    /// Keys: `decode_<seqs>x<tokens>_<metric>_ms` and `…_GBps`, metric `none` or `l2`.
    public static func run(context: CUDAContext, compiler: NVRTCCompiler) throws -> [String: Double] {
        let kernels = try GPUAttentionKernels(context: context, compiler: compiler)
        let layout = try CacheLayout(layers: 1, kvHeads: 3, headDim: 64, blockSize: 16)
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
            let bytes = Double(sequences * layout.kvHeads * tokens * layout.headDim * 2 * 4)
            for mode in [AttentionMetricMode.none, .l2] {
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
                report[key + "_ms"] = milliseconds
                report[key + "_GBps"] = bytes / (milliseconds * 1e-3) / 1e9
            }
        }
        return report
    }
}
