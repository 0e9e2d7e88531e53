import PagedKVCache

/// Typed launchers of the attention and metric kernels (Kernels/attention.cu, Kernels/metric.cu) over
/// a ``GPUPagedKVCache``. Every launcher checks its arguments' shapes (``AttentionShapeCheck``) before
/// any driver call and throws ``CUDAError/invalidArgument(_:)`` naming the wrong one.
///
/// Scratch buffers (decode partials, window scores) are allocated on first use and grown, never
/// shrunk; launches go to the default stream in order. One instance serves one thread at a time.
public final class GPUAttentionKernels {
    public static let attentionFile = "attention.cu"
    public static let metricFile = "metric.cu"
    /// Base names of the kernels that read or write keys and values: each exists once per KV type
    /// (``KVKernelName/typed(_:_:)``, e.g. `kvc_decode_attention_f16`).
    public static let appendKVName = "kvc_append_kv"
    public static let decodeAttentionName = "kvc_decode_attention"
    public static let windowStatsName = "kvc_window_softmax_stats"
    public static let windowMetricName = "kvc_window_metric"
    /// Every kernel the launchers use, by source file, both KV types' entry points of the typed ones
    /// (the NVRTC tests look each one up in the cubin).
    public static let kernelNames: [String: [String]] = [
        attentionFile: KVKernelName.allTyped(appendKVName) + KVKernelName.allTyped(decodeAttentionName)
            + ["kvc_decode_attention_reduce", "kvc_decode_metric"],
        metricFile: KVKernelName.allTyped(windowStatsName) + KVKernelName.allTyped(windowMetricName)
            + ["kvc_position_order", "kvc_max_pool_metric"],
    ]

    /// Logical slots per decode partition (pass 1 of decode attention: one CUDA block each).
    public static let decodePartitionSize = 256
    /// Threads per CUDA block of the decode passes (four warps).
    static let decodeThreads = 128
    /// Threads per CUDA block of the window kernels.
    static let windowThreads = 128
    /// Dynamic shared memory a launch may use without opting in.
    static let defaultSharedMemoryLimit = 48 * 1024

    /// Threads that share one key's dot products in decode pass 1 (a power of two ≤ 32): 1 gives each
    /// thread whole keys, more split a key's dimensions over adjacent lanes (better coalesced loads).
    public var decodeLanesPerKey = defaultDecodeLanesPerKey
    public static let defaultDecodeLanesPerKey = 1

    public let context: CUDAContext
    /// The entry points that load or store keys and values, for one KV type.
    private struct StorageKernels {
        let appendKV, decodePartitions, windowStats, windowScores: CUDAFunction

        init(attention: CUDAModule, metric: CUDAModule, type: KVStorageType) throws(CUDAError) {
            appendKV = try attention.function(KVKernelName.typed(GPUAttentionKernels.appendKVName, type))
            decodePartitions = try attention.function(KVKernelName.typed(GPUAttentionKernels.decodeAttentionName, type))
            windowStats = try metric.function(KVKernelName.typed(GPUAttentionKernels.windowStatsName, type))
            windowScores = try metric.function(KVKernelName.typed(GPUAttentionKernels.windowMetricName, type))
        }
    }
    private let f32Kernels, f16Kernels: StorageKernels
    private let decodeReduce, decodeMetric, positionOrder, maxPool: CUDAFunction
    private var scratch = Scratch()

    /// Compiles (or takes from the context's cache) both kernel files for the context's device.
    /// - Parameter compileOptions: extra NVRTC options (e.g. `-lineinfo`, so that compute-sanitizer and
    ///   Nsight Compute name source lines); with any, the files are compiled afresh, not cached.
    public init(context: CUDAContext, compiler: NVRTCCompiler, compileOptions: [String] = []) throws(CUDAError) {
        self.context = context
        func module(_ file: String) throws(CUDAError) -> CUDAModule {
            guard !compileOptions.isEmpty else { return try context.loadKernels(file, compiler: compiler) }
            return try context.load(
                compiler.compile(
                    source: KernelSources.source(named: file), fileName: file, architecture: context.architecture,
                    options: compileOptions))
        }
        let attention = try module(Self.attentionFile)
        let metric = try module(Self.metricFile)
        f32Kernels = try StorageKernels(attention: attention, metric: metric, type: .f32)
        f16Kernels = try StorageKernels(attention: attention, metric: metric, type: .f16)
        decodeReduce = try attention.function("kvc_decode_attention_reduce")
        decodeMetric = try attention.function("kvc_decode_metric")
        positionOrder = try metric.function("kvc_position_order")
        maxPool = try metric.function("kvc_max_pool_metric")
    }

    /// The entry points for pools of `type` (a cache's `layout.kvType`).
    private func kernels(for type: KVStorageType) -> StorageKernels {
        switch type {
        case .f32: f32Kernels
        case .f16: f16Kernels
        }
    }

    // MARK: - Reshape and cache

    /// Writes `count` new tokens' KVs into the cache's pools (`kvc_append_kv_<kvType>`): key and value
    /// (rounded to the cache's KV type, to nearest even as the host's append), position and metric 0 per
    /// (token, KV head) at the slot the slot mapping names (negative: skipped).
    /// - Parameters:
    ///   - keys: `[count, kvHeads, headDim]` after RoPE.   - values: `[count, kvHeads, headDim]`.
    ///   - positions: `[count]`.   - slotMapping: `[count, kvHeads]` (see ``SlotMapping``; slots must lie
    ///     in the pool: they are not checked on the device).
    public func appendKV(
        cache: GPUPagedKVCache, count: Int, keys: DeviceBuffer<Float>, values: DeviceBuffer<Float>,
        positions: DeviceBuffer<Int32>, slotMapping: DeviceBuffer<Int64>
    ) throws(CUDAError) {
        let layout = cache.layout
        try AttentionShapeCheck.append(
            layout: layout, count: count, keys: keys.count, values: values.count, positions: positions.count,
            slotMapping: slotMapping.count)
        guard count > 0 else { return }
        try kernels(for: layout.kvType).appendKV.launch(
            grid: (count * layout.kvHeads, 1, 1), block: (min(128, Self.roundedToWarp(layout.headDim)), 1, 1),
            arguments: [
                keys.argument, values.argument, positions.argument, slotMapping.argument, cache.keys.argument,
                cache.values.argument, cache.metrics.argument, cache.positions.argument, .int32(Int32(count)),
                .int32(Int32(layout.kvHeads)), .int32(Int32(layout.headDim)),
            ])
    }

    // MARK: - Decode attention

    /// Decode attention of `layer` for the batch whose tables the cache holds (sequence i = row i):
    /// output = softmax(scale · q·K) · V per query head over its KV head's own length, and, unless
    /// `metricMode` is none, Σ_group p (L1) or p² (L2) added to every slot's metric (keys closer than
    /// `metricBuffer` positions before the query not scored).
    /// - Parameters:
    ///   - queries: `[sequences, kvHeads · groupSize, headDim]` after RoPE.
    ///   - queryPositions: `[sequences]`.
    ///   - output: `[sequences, kvHeads · groupSize, headDim]`.
    public func decodeAttention(
        cache: GPUPagedKVCache, layer: Int, queries: DeviceBuffer<Float>, queryPositions: DeviceBuffer<Int32>,
        output: DeviceBuffer<Float>, groupSize: Int, scale: Float, metricMode: AttentionMetricMode,
        metricBuffer: Int = 0
    ) throws(CUDAError) {
        let layout = cache.layout, sequences = cache.sequenceCount
        try AttentionShapeCheck.decode(
            layout: layout, sequenceCount: sequences, layer: layer, groupSize: groupSize, queries: queries.count,
            output: output.count, queryPositions: queryPositions.count, metricBuffer: metricBuffer)
        guard (1...32).contains(decodeLanesPerKey), decodeLanesPerKey & (decodeLanesPerKey - 1) == 0 else {
            throw .invalidArgument("decode attention: lanes per key \(decodeLanesPerKey) must be a power of two in 1...32")
        }
        let decodePartitions = kernels(for: layout.kvType).decodePartitions
        let plan = DecodeLaunchPlan(layout: layout, sequences: sequences, maxBlocks: cache.maxBlocks, groupSize: groupSize)
        let scores = try scratch.buffer(\.decodeScores, plan.scoreCount, context)
        let partialMax = try scratch.buffer(\.decodeMax, plan.partialCount, context)
        let partialSum = try scratch.buffer(\.decodeSum, plan.partialCount, context)
        let partialOutput = try scratch.buffer(\.decodeOutput, plan.partialCount * layout.headDim, context)
        if plan.sharedMemoryBytes > Self.defaultSharedMemoryLimit {
            try decodePartitions.setMaxDynamicSharedMemory(bytes: plan.sharedMemoryBytes)
        }
        let tables = cache.blockTablesAddress(layer: layer), lengths = cache.contextLengthsAddress(layer: layer)
        let heads: [KernelArgument] = [.int32(Int32(layout.kvHeads)), .int32(Int32(groupSize))]
        let partitioning: [KernelArgument] = [.int32(Int32(Self.decodePartitionSize)), .int32(Int32(plan.partitions))]
        try decodePartitions.launch(
            grid: (plan.partitions, layout.kvHeads, sequences), block: (Self.decodeThreads, 1, 1),
            sharedMemoryBytes: plan.sharedMemoryBytes,
            arguments: [
                queries.argument, cache.keys.argument, cache.values.argument, .pointer(tables), .pointer(lengths),
                scores.argument, partialMax.argument, partialSum.argument, partialOutput.argument,
            ] + heads + [.int32(Int32(layout.headDim)), .int32(Int32(layout.blockSize)), .int32(Int32(cache.maxBlocks))]
                + partitioning + [.int32(Int32(plan.stripes)), .int32(Int32(decodeLanesPerKey)), .float(scale)])
        try decodeReduce.launch(
            grid: (layout.kvHeads, sequences, 1), block: (Self.decodeThreads, 1, 1), sharedMemoryBytes: 2 * groupSize * 4,
            arguments: [.pointer(lengths), partialMax.argument, partialSum.argument, partialOutput.argument, output.argument]
                + heads + [.int32(Int32(layout.headDim))] + partitioning)
        guard metricMode != .none else { return }
        try decodeMetric.launch(
            grid: (plan.partitions, layout.kvHeads, sequences), block: (Self.decodeThreads, 1, 1),
            sharedMemoryBytes: 2 * groupSize * 4,
            arguments: [
                .pointer(tables), .pointer(lengths), cache.positions.argument, queryPositions.argument, scores.argument,
                partialMax.argument, partialSum.argument, cache.metrics.argument,
            ] + heads + [.int32(Int32(layout.blockSize)), .int32(Int32(cache.maxBlocks))] + partitioning
                + [.int32(metricMode.rawValue), .int32(Int32(metricBuffer))])
    }

    // MARK: - Prefill window metric

    /// Adds the prefill metric of the observation window to the metrics of sequence `sequenceIndex`
    /// (its row in the device tables) and `layer`: window queries attend causally by position, each
    /// query head scores Σ_window p or p², rows max-pooled over token positions (`poolKernel`, ≤ 1:
    /// none), the group summed — as MetricCollector with AttentionMetric and LastQueriesWindow.
    /// - Parameters:
    ///   - queries: `[window, kvHeads · groupSize, headDim]` after RoPE.
    ///   - queryPositions: `[window]`.
    public func windowMetric(
        cache: GPUPagedKVCache, layer: Int, sequenceIndex: Int, queries: DeviceBuffer<Float>,
        queryPositions: DeviceBuffer<Int32>, groupSize: Int, scale: Float, metricMode: AttentionMetricMode,
        buffer: Int = 0, poolKernel: Int = 7
    ) throws(CUDAError) {
        let layout = cache.layout, window = queryPositions.count
        try AttentionShapeCheck.window(
            layout: layout, sequenceCount: cache.sequenceCount, sequenceIndex: sequenceIndex, layer: layer,
            groupSize: groupSize, window: window, queries: queries.count, queryPositions: queryPositions.count,
            metricMode: metricMode, buffer: buffer, poolKernel: poolKernel)
        let qHeads = layout.kvHeads * groupSize, maxContext = cache.maxBlocks * layout.blockSize
        guard maxContext > 0 else { return }  // every head empty: nothing to score
        let stats = try scratch.buffer(\.windowStats, qHeads * window * 2, context)
        let raw = try scratch.buffer(\.windowRaw, qHeads * maxContext, context)
        let order = try scratch.buffer(\.windowOrder, layout.kvHeads * maxContext, context)
        let unordered = try scratch.buffer(\.windowUnordered, layout.kvHeads, context)
        // This sequence's rows of the layer's tables: [kvHeads, maxBlocks] and [kvHeads].
        let row = cache.row(layer: layer, sequence: sequenceIndex, head: 0)
        let tables = cache.blockTables.address + UInt64(row * cache.maxBlocks * MemoryLayout<Int32>.stride)
        let lengths = cache.contextLengths.address + UInt64(row * MemoryLayout<Int32>.stride)
        let inputs: [KernelArgument] = [
            queries.argument, queryPositions.argument, cache.keys.argument, cache.positions.argument, .pointer(tables),
            .pointer(lengths),
        ]
        let shape: [KernelArgument] = [
            .int32(Int32(window)), .int32(Int32(layout.kvHeads)), .int32(Int32(groupSize)), .int32(Int32(layout.headDim)),
            .int32(Int32(layout.blockSize)), .int32(Int32(cache.maxBlocks)),
        ]
        let typed = kernels(for: layout.kvType)
        try typed.windowStats.launch(
            grid: (window, qHeads, 1), block: (Self.windowThreads, 1, 1), sharedMemoryBytes: (layout.headDim + 3) / 4 * 4 * 4,
            arguments: inputs + [stats.argument] + shape + [.float(scale)])
        try typed.windowScores.launch(
            grid: ((maxContext + Self.windowThreads - 1) / Self.windowThreads, layout.kvHeads, 1),
            block: (Self.windowThreads, 1, 1),
            arguments: inputs + [stats.argument, raw.argument] + shape
                + [.float(scale), .int32(metricMode.rawValue), .int32(Int32(buffer))])
        try positionOrder.launch(
            grid: (layout.kvHeads, 1, 1), block: (256, 1, 1),
            arguments: [
                cache.positions.argument, .pointer(tables), .pointer(lengths), unordered.argument, order.argument,
                .int32(Int32(layout.kvHeads)), .int32(Int32(layout.blockSize)), .int32(Int32(cache.maxBlocks)),
            ])
        try maxPool.launch(
            grid: ((maxContext + 255) / 256, layout.kvHeads, 1), block: (256, 1, 1),
            arguments: [
                raw.argument, .pointer(tables), .pointer(lengths), cache.metrics.argument, unordered.argument,
                order.argument, .int32(Int32(layout.kvHeads)), .int32(Int32(groupSize)), .int32(Int32(layout.blockSize)),
                .int32(Int32(cache.maxBlocks)), .int32(Int32(poolKernel)),
            ])
    }

    static func roundedToWarp(_ n: Int) -> Int { (n + 31) / 32 * 32 }
}

/// Grid, scratch and shared-memory sizes of one decode attention launch (attention.cu, passes 1–3).
struct DecodeLaunchPlan {
    /// Partitions per (sequence, KV head) the grid covers: enough for the longest head the tables allow.
    let partitions: Int
    /// Scores scratch `[sequences, qHeads, maxContext]`.
    let scoreCount: Int
    /// Partial max / sum scratch `[sequences, qHeads, partitions]`.
    let partialCount: Int
    /// Key stripes of pass 1's value sums: threads per block over the (4-float, or 1-float when headDim
    /// is not a multiple of 4) chunks of a value.
    let stripes: Int
    /// Pass 1's dynamic shared memory: group queries, partition weights, slot ids, stripe sums.
    let sharedMemoryBytes: Int

    init(layout: CacheLayout, sequences: Int, maxBlocks: Int, groupSize: Int) {
        let maxContext = maxBlocks * layout.blockSize, size = GPUAttentionKernels.decodePartitionSize
        let qHeads = layout.kvHeads * groupSize, d = layout.headDim
        partitions = max(1, (maxContext + size - 1) / size)
        scoreCount = max(1, sequences * qHeads * maxContext)
        partialCount = sequences * qHeads * partitions
        let chunks = d % 4 == 0 ? d / 4 : d
        stripes = max(1, GPUAttentionKernels.decodeThreads / chunks)
        sharedMemoryBytes = 4 * (groupSize * d + groupSize * size + size + stripes * groupSize * d)
    }
}

/// Grow-only device scratch buffers of the launchers.
private struct Scratch {
    var decodeScores, decodeMax, decodeSum, decodeOutput, windowStats, windowRaw: DeviceBuffer<Float>?
    var windowOrder, windowUnordered: DeviceBuffer<Int32>?

    /// The buffer at `key`, replaced by a larger one when it holds fewer than `count` elements.
    mutating func buffer<Element: BitwiseCopyable>(
        _ key: WritableKeyPath<Scratch, DeviceBuffer<Element>?>, _ count: Int, _ context: CUDAContext
    ) throws(CUDAError) -> DeviceBuffer<Element> {
        if let buffer = self[keyPath: key], buffer.count >= count { return buffer }
        let buffer = try context.allocate(Element.self, count: max(1, count))
        self[keyPath: key] = buffer
        return buffer
    }
}
