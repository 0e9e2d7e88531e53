import KVCCUDA
import PagedKVCache
import Testing

/// The eviction kernels on a GPU equal their CPU references exactly, for float32 and half-float pools
/// (the scenarios come in both types; runs only where a CUDA device is present; NVRTC must load too).
@Suite(.enabled(if: CUDAContext.isAvailable())) struct EvictionGPUTests {
    static let kernels: Result<EvictionKernels, any Error> = Result {
        try EvictionKernels(context: CUDAContext(), compiler: NVRTCTestSupport.compiler())
    }

    @Test(arguments: EvictionReferenceTests.scenarios)
    func kernelsEqualTheReferences(_ scenario: EvictionScenario) throws {
        let checkCase = EvictionCheckCase(
            name: "test", seed: scenario.seed, layers: scenario.layers, kvHeads: scenario.kvHeads, headDim: scenario.headDim,
            blockSize: scenario.blockSize, sequenceLength: scenario.sequenceLength, tiedMetrics: scenario.tiedMetrics,
            withNaN: scenario.withNaN, settings: scenario.settings, kvType: scenario.kvType)
        for result in try EvictionKernelCheck.check(checkCase, kernels: Self.kernels.get()) {
            #expect(result.passed, "\(result)")
        }
    }

    @Test func gpuCompressorLeavesTheCacheAsTheReference() throws {
        let kernels = try Self.kernels.get()
        for scenario in EvictionReferenceTests.scenarios {
            let (host, sequence) = try scenario.makeCache()
            let gpuCache = try GPUPagedKVCache(context: kernels.context, layout: host.layout, capacityBlocks: host.capacityBlocks)
            try gpuCache.upload(from: host, sequences: [sequence])
            let outcome = try GPUCompressor(kernels: kernels, settings: scenario.settings).compress(sequence, cache: host, gpuCache: gpuCache)
            try gpuCache.downloadPools(into: host)
            let (reference, referenceSequence) = try scenario.makeCache()
            let expected = try EvictionReference.compress(referenceSequence, cache: reference, settings: scenario.settings)
            #expect(outcome == expected, "\(scenario)")
            #expect(CacheContents(host, sequence) == CacheContents(reference, referenceSequence), "\(scenario)")
        }
    }

    @Test func aSequenceNotOnTheDeviceIsRefusedBeforeAnyLaunch() throws {
        let kernels = try Self.kernels.get()
        let (host, sequence) = try EvictionReferenceTests.scenarios[0].makeCache()
        let other = host.addSequence()
        let gpuCache = try GPUPagedKVCache(context: kernels.context, layout: host.layout, capacityBlocks: host.capacityBlocks)
        try gpuCache.upload(from: host, sequences: [other])
        #expect {
            try GPUCompressor(kernels: kernels, settings: EvictionReferenceTests.scenarios[0].settings).compress(sequence, cache: host, gpuCache: gpuCache)
        } throws: { error in
            guard let error = error as? EvictionError, case .sequenceNotOnDevice = error else { return false }
            return true
        }
    }
}
