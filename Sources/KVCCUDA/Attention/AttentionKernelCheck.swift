import PagedKVCache
import SeededRandom

/// The attention and metric kernels run on a GPU against their CPU references over random caches
/// (block sizes 1, 16, 64; head lengths 0...2000, each head its own; batches of 1 and 8; L1 and L2;
/// windows of 8 and 32; heads in and out of position order), every case once per KV storage type
/// (float32 and half-float pools). Called by the check binary on a GPU machine and by the GPU tests.
/// Tolerance: relative 1e-4 (``FloatComparison``) for both types: the references read the cache
/// through its typed accessors, so they compute on the very (rounded) halves the kernels widen; the
/// append is exact (the device rounds to nearest even as the host does).
public enum AttentionKernelCheck {
    public static let relativeTolerance = 1e-4
    /// Attention outputs may nearly cancel: elements under 1% of the largest are judged against it.
    static let outputFloor = 1e-2
    /// Metrics are sums of non-negative terms: judged against their own size down to 1e-6 of the largest.
    static let metricFloor = 1e-6

    static let layers = 2, kvHeads = 3, groupSize = 3, headDim = 64, maxLength = 2000

    /// - Parameters:
    ///   - compileOptions: extra NVRTC options for the kernels (e.g. `-lineinfo` under compute-sanitizer).
    ///   - kvTypes: the KV storage types to check, each with every case (the same seeds).
    public static func run(
        context: CUDAContext, compiler: NVRTCCompiler, compileOptions: [String] = [],
        kvTypes: [KVStorageType] = KVStorageType.allCases
    ) throws -> [KernelCheckResult] {
        let kernels = try GPUAttentionKernels(context: context, compiler: compiler, compileOptions: compileOptions)
        var results: [KernelCheckResult] = []
        for kvType in kvTypes { results += try run(kernels, kvType: kvType) }
        return results
    }

    /// Every case on caches of `kvType`.
    static func run(_ kernels: GPUAttentionKernels, kvType: KVStorageType) throws -> [KernelCheckResult] {
        var results: [KernelCheckResult] = []
        var seed: UInt64 = 1
        for blockSize in [1, 16, 64] {
            let layout = try CacheLayout(layers: layers, kvHeads: kvHeads, headDim: headDim, blockSize: blockSize, kvType: kvType)
            for batch in [1, 8] {
                seed += 1
                results += try checkAppend(kernels, layout: layout, batch: batch, seed: seed)
                for mode in [AttentionMetricMode.l1, .l2] {
                    seed += 1
                    results += try checkDecode(
                        kernels, layout: layout, batch: batch, mode: mode, metricBuffer: mode == .l1 ? 0 : 4, seed: seed)
                    for window in [8, 32] {
                        seed += 1
                        results += try checkWindow(
                            kernels, layout: layout, batch: batch, mode: mode, window: window,
                            shuffled: window == 32, buffer: window == 8 ? 0 : 3, poolKernel: batch == 1 ? 7 : (window == 8 ? 7 : 0),
                            seed: seed)
                    }
                }
            }
        }
        // A head width that is not a multiple of 4 (scalar loads) with an odd group, and every lane
        // split of decode pass 1.
        let odd = try CacheLayout(layers: 1, kvHeads: 2, headDim: 38, blockSize: 16, kvType: kvType)
        for lanes in [1, 2, 4, 8, 16, 32] {
            seed += 1
            kernels.decodeLanesPerKey = lanes
            results += try checkDecode(kernels, layout: odd, batch: 3, mode: .l2, metricBuffer: 0, groupSize: 5, seed: seed)
            let wide = try CacheLayout(layers: 1, kvHeads: 1, headDim: 128, blockSize: 64, kvType: kvType)
            results += try checkDecode(kernels, layout: wide, batch: 2, mode: .l1, metricBuffer: 0, groupSize: 16, seed: seed)
        }
        kernels.decodeLanesPerKey = GPUAttentionKernels.defaultDecodeLanesPerKey
        results += try checkWindow(
            kernels, layout: odd, batch: 2, mode: .l2, window: 8, shuffled: false, buffer: 0, poolKernel: 7, groupSize: 5,
            seed: seed + 1)
        return results
    }

    // MARK: - Cases

    /// Random head lengths in 0...maxLength, one head of the first sequence empty and one full.
    static func randomLengths(layout: CacheLayout, batch: Int, seed: UInt64) -> [[Int]] {
        var random = SplitMix64(seed: seed &* 7919)
        return (0..<batch).map { s in
            (0..<layout.headCount).map { head in
                if s == 0 && head == 0 { return 0 }
                if s == 0 && head == 1 { return maxLength }
                return Int(random.next() % UInt64(maxLength + 1))
            }
        }
    }

    /// Two identical random caches: one for the reference, one uploaded to and downloaded from the GPU.
    static func cachePair(
        layout: CacheLayout, lengths: [[Int]], shuffledHeads: Set<Int> = [], seed: UInt64, context: CUDAContext
    ) throws -> (reference: RandomPagedCache, device: RandomPagedCache, gpu: GPUPagedKVCache) {
        let reference = try RandomPagedCache(layout: layout, lengths: lengths, shuffledHeads: shuffledHeads, seed: seed)
        let device = try RandomPagedCache(layout: layout, lengths: lengths, shuffledHeads: shuffledHeads, seed: seed)
        let gpu = try GPUPagedKVCache(context: context, layout: layout, capacityBlocks: device.cache.capacityBlocks)
        try gpu.upload(from: device.cache, sequences: device.sequences)
        return (reference, device, gpu)
    }

    static func randomFloats(_ count: Int, seed: UInt64) -> [Float] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { _ in random.signedUnit() }
    }

    static func checkAppend(
        _ kernels: GPUAttentionKernels, layout: CacheLayout, batch: Int, seed: UInt64
    ) throws -> [KernelCheckResult] {
        let context = kernels.context
        let lengths = randomLengths(layout: layout, batch: batch, seed: seed)
        let (reference, device, gpu) = try cachePair(layout: layout, lengths: lengths, seed: seed, context: context)
        // One decode step's tokens: one per sequence, appended to layer 1 after blocks are reserved.
        var slots: [Int64] = []
        for pair in [reference, device] {
            for sequence in pair.sequences { try pair.cache.reserve(sequence, tokens: 1) }
        }
        for sequence in device.sequences {
            slots += try SlotMapping.appending(1, to: sequence, layer: 1, in: device.cache)
        }
        try gpu.upload(from: device.cache, sequences: device.sequences)
        let width = batch * layout.kvHeads * layout.headDim
        let keys = randomFloats(width, seed: seed ^ 0xA), values = randomFloats(width, seed: seed ^ 0xB)
        let positions = device.sequences.map { Int32(device.cache.nextPosition($0)) }
        try AppendKVReference.run(
            cache: reference.cache, keys: keys, values: values, positions: positions, slotMapping: slots)
        let keyBuffer = try upload(keys, context), valueBuffer = try upload(values, context)
        let positionBuffer = try upload(positions, context), slotBuffer = try upload(slots, context)
        try kernels.appendKV(
            cache: gpu, count: batch, keys: keyBuffer, values: valueBuffer, positions: positionBuffer,
            slotMapping: slotBuffer)
        try context.synchronize()
        try gpu.downloadPools(into: device.cache)
        func gather(_ cache: PagedKVCache) -> (kv: [Float], slots: [Float]) {
            var kv: [Float] = [], scalars: [Float] = []
            for slot in slots.map({ Int($0) }) {
                kv += cache.key(slot: slot)
                kv += cache.value(slot: slot)
                scalars += [cache.metrics[slot], Float(cache.positions[slot])]
            }
            return (kv, scalars)
        }
        let expected = gather(reference.cache), got = gather(device.cache)
        let name = "block \(layout.blockSize), batch \(batch)"
        let kernel = KVKernelName.typed(GPUAttentionKernels.appendKVName, layout.kvType)
        return [
            FloatComparison(got.kv, expected.kv, floorFraction: 0).result(
                kernel: kernel, case: name + ", keys and values", relativeTolerance: 0, kvType: layout.kvType),
            FloatComparison(got.slots, expected.slots, floorFraction: 0).result(
                kernel: kernel, case: name + ", metrics and positions", relativeTolerance: 0, kvType: layout.kvType),
        ]
    }

    static func checkDecode(
        _ kernels: GPUAttentionKernels, layout: CacheLayout, batch: Int, mode: AttentionMetricMode, metricBuffer: Int,
        groupSize: Int = groupSize, seed: UInt64
    ) throws -> [KernelCheckResult] {
        let context = kernels.context, layer = layout.layers - 1
        let lengths = randomLengths(layout: layout, batch: batch, seed: seed)
        let (reference, device, gpu) = try cachePair(layout: layout, lengths: lengths, seed: seed, context: context)
        let queries = randomFloats(batch * layout.kvHeads * groupSize * layout.headDim, seed: seed ^ 0xC)
        let positions = device.sequences.map { Int32(device.cache.nextPosition($0)) }
        let scale = 1 / Float(layout.headDim).squareRoot()
        let expected = try DecodeAttentionReference.run(
            cache: reference.cache, layer: layer, sequences: reference.sequences, queries: queries,
            queryPositions: positions, groupSize: groupSize, scale: scale, metricMode: mode, metricBuffer: metricBuffer)
        let queryBuffer = try upload(queries, context), positionBuffer = try upload(positions, context)
        let output = try context.allocate(Float.self, count: queries.count)
        try kernels.decodeAttention(
            cache: gpu, layer: layer, queries: queryBuffer, queryPositions: positionBuffer, output: output,
            groupSize: groupSize, scale: scale, metricMode: mode, metricBuffer: metricBuffer)
        try context.synchronize()
        let got = try output.download()
        try gpu.downloadPools(into: device.cache)
        let name =
            "block \(layout.blockSize), batch \(batch), \(mode), metric buffer \(metricBuffer)"
            + (layout.headDim == headDim && groupSize == Self.groupSize
                ? "" : ", head dim \(layout.headDim), group \(groupSize), \(kernels.decodeLanesPerKey) lanes per key")
        let kernel = KVKernelName.typed(GPUAttentionKernels.decodeAttentionName, layout.kvType)
        return [
            FloatComparison(got, expected.output, floorFraction: outputFloor).result(
                kernel: kernel, case: name + ", output", relativeTolerance: relativeTolerance, kvType: layout.kvType),
            FloatComparison(device.metrics(layer: layer), reference.metrics(layer: layer), floorFraction: metricFloor).result(
                kernel: kernel, case: name + ", metrics", relativeTolerance: relativeTolerance, kvType: layout.kvType),
        ]
    }

    static func checkWindow(
        _ kernels: GPUAttentionKernels, layout: CacheLayout, batch: Int, mode: AttentionMetricMode, window: Int,
        shuffled: Bool, buffer: Int, poolKernel: Int, groupSize: Int = groupSize, seed: UInt64
    ) throws -> [KernelCheckResult] {
        let context = kernels.context, layer = 0, sequenceIndex = batch - 1
        var lengths = randomLengths(layout: layout, batch: batch, seed: seed)
        lengths[sequenceIndex][layout.kvHeads - 1] = maxLength  // the window's own keys stay in one head
        let shuffledHeads: Set<Int> = shuffled ? [1, 2] : []
        let (reference, device, gpu) = try cachePair(
            layout: layout, lengths: lengths, shuffledHeads: shuffledHeads, seed: seed, context: context)
        let sequence = device.sequences[sequenceIndex]
        let next = device.cache.nextPosition(sequence)
        let positions = (0..<window).map { Int32(next - window + $0) }
        let queries = randomFloats(window * layout.kvHeads * groupSize * layout.headDim, seed: seed ^ 0xD)
        let scale = 1 / Float(layout.headDim).squareRoot()
        try WindowMetricReference.run(
            cache: reference.cache, layer: layer, sequence: reference.sequences[sequenceIndex], queries: queries,
            queryPositions: positions, groupSize: groupSize, scale: scale, metricMode: mode, buffer: buffer,
            poolKernel: poolKernel)
        let queryBuffer = try upload(queries, context), positionBuffer = try upload(positions, context)
        try kernels.windowMetric(
            cache: gpu, layer: layer, sequenceIndex: sequenceIndex, queries: queryBuffer, queryPositions: positionBuffer,
            groupSize: groupSize, scale: scale, metricMode: mode, buffer: buffer, poolKernel: poolKernel)
        try context.synchronize()
        try gpu.downloadPools(into: device.cache)
        let name =
            "block \(layout.blockSize), batch \(batch), \(mode), window \(window), buffer \(buffer), pool \(poolKernel)"
            + (shuffled ? ", heads out of position order" : "")
            + (layout.headDim == headDim && groupSize == Self.groupSize ? "" : ", head dim \(layout.headDim), group \(groupSize)")
        return [
            FloatComparison(device.metrics(layer: layer), reference.metrics(layer: layer), floorFraction: metricFloor).result(
                kernel: KVKernelName.typed(GPUAttentionKernels.windowMetricName, layout.kvType), case: name,
                relativeTolerance: relativeTolerance, kvType: layout.kvType)
        ]
    }

    static func upload<Element: BitwiseCopyable>(_ values: [Element], _ context: CUDAContext) throws -> DeviceBuffer<Element> {
        let buffer = try context.allocate(Element.self, count: values.count)
        try buffer.upload(values)
        return buffer
    }
}
