import PagedKVCache
import Testing

@testable import KVCCUDA

/// The attention and metric kernels on a GPU against their CPU references (skipped without a CUDA
/// device): every case of ``AttentionKernelCheck`` — block sizes 1/16/64, head lengths 0...2000,
/// batches of 1 and 8, L1 and L2, windows of 8 and 32, heads in and out of position order — within
/// relative 1e-4; then a decode step whose tables hold more blocks than one partition, run twice, to
/// check the metric accumulates and the scratch is reused.
@Suite("Attention kernels on the GPU", .enabled(if: CUDAContext.isAvailable() && NVRTCTestSupport.shouldRun))
struct AttentionGPUTests {
    @Test("every kernel check case passes")
    func kernelCheck() throws {
        let context = try CUDAContext()
        let results = try AttentionKernelCheck.run(context: context, compiler: NVRTCTestSupport.compiler())
        #expect(results.count == 3 * 2 * (2 + 2 * (2 + 2)) + 6 * 2 * 2 + 1)
        for result in results { #expect(result.passed, "\(result)") }
    }

    @Test("two decode steps accumulate two observations into the metric")
    func decodeTwice() throws {
        let context = try CUDAContext()
        let kernels = try GPUAttentionKernels(context: context, compiler: NVRTCTestSupport.compiler())
        let layout = try CacheLayout(layers: 1, kvHeads: 2, headDim: 32, blockSize: 16, kvType: .f32)
        let lengths = [[700, 1], [0, 513]]
        let reference = try RandomPagedCache(layout: layout, lengths: lengths, seed: 5)
        let device = try RandomPagedCache(layout: layout, lengths: lengths, seed: 5)
        let gpu = try GPUPagedKVCache(context: context, layout: layout, capacityBlocks: device.cache.capacityBlocks)
        try gpu.upload(from: device.cache, sequences: device.sequences)
        let queries = AttentionKernelCheck.randomFloats(2 * 2 * 4 * 32, seed: 6)
        let positions: [Int32] = [700, 513]
        let queryBuffer = try AttentionKernelCheck.upload(queries, context)
        let positionBuffer = try AttentionKernelCheck.upload(positions, context)
        let output = try context.allocate(Float.self, count: queries.count)
        var expected: [Float] = []
        for _ in 0..<2 {
            expected = try DecodeAttentionReference.run(
                cache: reference.cache, layer: 0, sequences: reference.sequences, queries: queries, queryPositions: positions,
                groupSize: 4, scale: 0.2, metricMode: .l1).output
            try kernels.decodeAttention(
                cache: gpu, layer: 0, queries: queryBuffer, queryPositions: positionBuffer, output: output, groupSize: 4,
                scale: 0.2, metricMode: .l1)
        }
        try context.synchronize()
        try gpu.downloadPools(into: device.cache)
        let outputs = FloatComparison(try output.download(), expected, floorFraction: AttentionKernelCheck.outputFloor)
        let metrics = FloatComparison(device.metrics(layer: 0), reference.metrics(layer: 0), floorFraction: 1e-6)
        #expect(outputs.maxRelativeError <= 1e-4, "output: \(outputs.maxRelativeError)")
        #expect(metrics.maxRelativeError <= 1e-4, "metrics: \(metrics.maxRelativeError)")
    }
}
