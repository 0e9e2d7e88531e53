import PagedKVCache
import Testing

@testable import KVCCUDA

/// The attention and metric kernels on a GPU against their CPU references (skipped without a CUDA
/// device): every case of ``AttentionKernelCheck`` — block sizes 1/16/64, head lengths 0...2000,
/// batches of 1 and 8, L1 and L2, windows of 8 and 32, heads in and out of position order — within
/// relative 1e-4, for float32 and half-float pools; then a decode step whose tables hold more blocks
/// than one partition, run twice, to check the metric accumulates and the scratch is reused; and the
/// half-float append rounding the host's way on the values where rounding is delicate.
@Suite("Attention kernels on the GPU", .enabled(if: CUDAContext.isAvailable() && NVRTCTestSupport.shouldRun))
struct AttentionGPUTests {
    @Test("every kernel check case passes", arguments: KVStorageType.allCases)
    func kernelCheck(kvType: KVStorageType) throws {
        let context = try CUDAContext()
        let results = try AttentionKernelCheck.run(context: context, compiler: NVRTCTestSupport.compiler(), kvTypes: [kvType])
        #expect(results.count == 3 * 2 * (2 + 2 * (2 + 2)) + 6 * 2 * 2 + 1)
        for result in results {
            #expect(result.passed, "\(result)")
            #expect(result.kvType == kvType && result.kernel.hasSuffix("_\(kvType)"), "\(result)")
        }
    }

    @Test("two decode steps accumulate two observations into the metric", arguments: KVStorageType.allCases)
    func decodeTwice(kvType: KVStorageType) throws {
        let context = try CUDAContext()
        let kernels = try GPUAttentionKernels(context: context, compiler: NVRTCTestSupport.compiler())
        let layout = try CacheLayout(layers: 1, kvHeads: 2, headDim: 32, blockSize: 16, kvType: kvType)
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

    /// cvt.rn.f16.f32 on the device against the host's kvc_float_to_half, bit for bit: ties between two
    /// halves (to even, both ways), the largest finite half and the first float that overflows, subnormal
    /// halves and their ties, zeros of both signs, infinities and NaN.
    @Test("the half-float append rounds as the host does, bit for bit")
    func halfAppendRounding() throws {
        let context = try CUDAContext()
        let kernels = try GPUAttentionKernels(context: context, compiler: NVRTCTestSupport.compiler())
        let special: [Float] = [
            1 + 0x1p-11, 1 + 3 * 0x1p-11, -(1 + 0x1p-11), 2049, 2051, 65504, 65519.99, 65520, -65520, 0x1p-24, 0x1p-25,
            3 * 0x1p-25, 0x1p-26, 0x1p-14 - 0x1p-25, 0, -0.0, .infinity, -.infinity, .nan, 1e-8, 0.1, -0.3, 1.0 / 3, 12345.678,
        ]
        let headDim = special.count
        let layout = try CacheLayout(layers: 1, kvHeads: 1, headDim: headDim, blockSize: 1, kvType: .f16)
        let host = try PagedKVCache(layout: layout, capacityBlocks: 1)
        let sequence = host.addSequence()
        try host.reserve(sequence, tokens: 1)
        let slots = try SlotMapping.appending(1, to: sequence, layer: 0, in: host)
        let gpu = try GPUPagedKVCache(context: context, layout: layout, capacityBlocks: 1)
        try gpu.upload(from: host, sequences: [sequence])
        let negated = special.map { -$0 }
        try kernels.appendKV(
            cache: gpu, count: 1, keys: AttentionKernelCheck.upload(special, context),
            values: AttentionKernelCheck.upload(negated, context), positions: AttentionKernelCheck.upload([Int32(0)], context),
            slotMapping: AttentionKernelCheck.upload(slots, context))
        try context.synchronize()
        try gpu.downloadPools(into: host)
        let keys = UnsafeBufferPointer(start: host.keyStorage.assumingMemoryBound(to: UInt16.self), count: headDim)
        let values = UnsafeBufferPointer(start: host.valueStorage.assumingMemoryBound(to: UInt16.self), count: headDim)
        for (i, x) in special.enumerated() {
            #expect(keys[i] == HalfFloat.bits(from: x) || (x.isNaN && keys[i] & 0x7C00 == 0x7C00 && keys[i] & 0x3FF != 0), "key \(x)")
            #expect(
                values[i] == HalfFloat.bits(from: -x) || (x.isNaN && values[i] & 0x7C00 == 0x7C00 && values[i] & 0x3FF != 0),
                "value \(-x)")
        }
    }
}
