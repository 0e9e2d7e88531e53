import PagedKVCache

/// Typed launchers of Kernels/eviction.cu for one sequence of a ``GPUPagedKVCache`` (KV-Compress §4).
///
/// Every launcher checks its shapes on the host first (sequence on the device, layout, shared
/// memory), so a wrong call fails with a clear error before any driver call; the kernels themselves
/// are asynchronous, their faults surface at the next download or `synchronize`.
public final class EvictionKernels: @unchecked Sendable {
    public static let fileName = "eviction.cu"
    public static let sortFunctionName = "kvc_sort_head_metrics"
    public static let planFunctionName = "kvc_plan_moves"
    public static let executeFunctionName = "kvc_execute_moves"
    /// Every kernel these launchers use.
    public static let functionNames = [sortFunctionName, planFunctionName, executeFunctionName]

    /// Threads of a sort block: enough to keep the bitonic passes wide, at most the CUDA limit.
    static let maxSortThreads = 1024
    /// Threads of a plan block: they mark the evicted flags; thread 0 then walks the two pointers.
    static let planThreads = 256
    /// Moves per execute block, one warp each.
    static let executeWarpsPerBlock = 4
    /// Dynamic shared memory a launch may use without opting in.
    static let defaultSharedMemoryBytes = 48 * 1024

    public let context: CUDAContext
    let sort: CUDAFunction
    let plan: CUDAFunction
    let execute: CUDAFunction

    /// Compiles eviction.cu for the context's device (cached by the context) and looks up its kernels.
    public init(context: CUDAContext, compiler: NVRTCCompiler) throws(CUDAError) {
        self.context = context
        let module = try context.loadKernels(Self.fileName, compiler: compiler)
        sort = try module.function(Self.sortFunctionName)
        plan = try module.function(Self.planFunctionName)
        execute = try module.function(Self.executeFunctionName)
    }

    /// The longest head the per-head sort takes on this device.
    public var sortLimit: Int { EvictionShape.sortLimit(sharedMemoryBytes: context.maxSharedMemoryPerBlockOptIn) }

    // MARK: - Device scratch

    /// Device buffers of one compression of one sequence, sized by its ``EvictionShape``.
    public final class Workspace: @unchecked Sendable {
        public let shape: EvictionShape
        /// `[layers]` eviction unit per layer.
        public let evictionBlockSizes: DeviceBuffer<Int32>
        /// `[heads, maxContext]`.
        public let ascendingIndices: DeviceBuffer<Int32>
        /// `[heads, maxVirtualBlocks]`.
        public let virtualBlockScores: DeviceBuffer<Float>
        /// `[heads]`: KVs each head evicts (the host's selection).
        public let evictedCounts: DeviceBuffer<Int32>
        /// `[heads, maxMoves, 2]` (source, destination).
        public let moves: DeviceBuffer<Int32>
        /// `[heads]`.
        public let moveCounts: DeviceBuffer<Int32>

        public init(context: CUDAContext, shape: EvictionShape) throws(CUDAError) {
            self.shape = shape
            evictionBlockSizes = try context.allocate(Int32.self, count: shape.layers)
            ascendingIndices = try context.allocate(Int32.self, count: shape.heads * shape.maxContext)
            virtualBlockScores = try context.allocate(Float.self, count: shape.heads * shape.maxVirtualBlocks)
            evictedCounts = try context.allocate(Int32.self, count: shape.heads)
            moves = try context.allocate(Int32.self, count: shape.heads * shape.maxMoves * 2)
            moveCounts = try context.allocate(Int32.self, count: shape.heads)
            try evictionBlockSizes.upload((0..<shape.layers).map { Int32(shape.evictionBlockSizes[$0 * shape.kvHeads]) })
        }

        /// What the sort wrote (synchronises).
        public func downloadOrdering() throws -> HeadOrdering {
            try HeadOrdering(shape: shape, ascendingIndices: ascendingIndices.download(), virtualBlockScores: virtualBlockScores.download())
        }

        /// What the move planner wrote (synchronises); a head the kernel flagged inconsistent is an error.
        public func downloadMovePlan() throws -> MovePlan {
            try MovePlan(heads: shape.heads, maxMoves: shape.maxMoves, moves: moves.download(), counts: moveCounts.download())
        }
    }

    // MARK: - Launchers

    /// Checks `shape` against the device cache and returns the device index of `sequence`.
    public func deviceIndex(of sequence: SequenceID, in cache: GPUPagedKVCache, shape: EvictionShape) throws(EvictionError) -> Int {
        guard cache.layout.layers == shape.layers, cache.layout.kvHeads == shape.kvHeads, cache.layout.blockSize == shape.blockSize else {
            throw .shapeMismatch("the GPU cache is \(cache.layout); the compression is shaped for \(shape.layers) layers × \(shape.kvHeads) KV heads, block size \(shape.blockSize)")
        }
        guard let index = cache.sequences.firstIndex(of: sequence) else {
            throw .sequenceNotOnDevice("\(sequence) is not among the GPU cache's uploaded sequences \(cache.sequences); upload its tables first")
        }
        guard shape.maxContext <= cache.maxBlocks * shape.blockSize else {
            throw .shapeMismatch("a head of \(shape.maxContext) KVs does not fit the device tables' \(cache.maxBlocks) blocks per head; re-upload the tables")
        }
        try shape.checkSortFits(sharedMemoryBytes: context.maxSharedMemoryPerBlockOptIn, architecture: "\(context.deviceName) (\(context.architecture))")
        return index
    }

    /// `kvc_sort_head_metrics`: every head's ascending order and virtual-block scores into `workspace`.
    public func sortHeadMetrics(
        _ sequence: SequenceID, cache: GPUPagedKVCache, settings: EvictionSettings, workspace: Workspace
    ) throws {
        let shape = workspace.shape
        let index = try deviceIndex(of: sequence, in: cache, shape: shape)
        let sharedBytes = shape.sortSharedMemoryBytes
        if sharedBytes > Self.defaultSharedMemoryBytes { try sort.setMaxDynamicSharedMemory(bytes: sharedBytes) }
        let threads = min(Self.maxSortThreads, max(32, shape.paddedLength / 2))
        try sort.launch(
            grid: (shape.heads, 1, 1), block: (threads, 1, 1), sharedMemoryBytes: sharedBytes,
            arguments: [
                cache.metrics.argument, cache.positions.argument, cache.blockTables.argument, cache.contextLengths.argument,
                workspace.evictionBlockSizes.argument, try .int(index), try .int(cache.sequenceCount), try .int(shape.kvHeads),
                try .int(cache.maxBlocks), try .int(shape.blockSize), try .int(shape.sequenceLength), try .int(settings.protectedWindow),
                try .int(settings.sinks), .int32(settings.aggregate.rawValue), try .int(shape.paddedLength), try .int(shape.maxContext),
                try .int(shape.maxVirtualBlocks), workspace.ascendingIndices.argument, workspace.virtualBlockScores.argument,
            ])
    }

    /// `kvc_plan_moves`: uploads `evictedKVs` (`[heads]`, a prefix of each head's ascending order) and
    /// plans every head's moves into `workspace`.
    public func planMoves(_ sequence: SequenceID, cache: GPUPagedKVCache, evictedKVs: [Int], workspace: Workspace) throws {
        let shape = workspace.shape
        let index = try deviceIndex(of: sequence, in: cache, shape: shape)
        guard evictedKVs.count == shape.heads else {
            throw EvictionError.shapeMismatch("\(evictedKVs.count) evicted counts for \(shape.heads) heads")
        }
        for (h, count) in evictedKVs.enumerated() where count < 0 || count > shape.contextLengths[h] {
            throw EvictionError.inconsistentPlan("head \(h) would evict \(count) of its \(shape.contextLengths[h]) KVs")
        }
        try workspace.evictedCounts.upload(evictedKVs.map { Int32($0) })
        try workspace.moves.zero()
        let sharedBytes = shape.maxContext
        if sharedBytes > Self.defaultSharedMemoryBytes { try plan.setMaxDynamicSharedMemory(bytes: sharedBytes) }
        try plan.launch(
            grid: (shape.heads, 1, 1), block: (Self.planThreads, 1, 1), sharedMemoryBytes: sharedBytes,
            arguments: [
                workspace.ascendingIndices.argument, workspace.evictedCounts.argument, cache.contextLengths.argument, try .int(index),
                try .int(cache.sequenceCount), try .int(shape.kvHeads), try .int(shape.maxContext), try .int(shape.maxMoves),
                workspace.moves.argument, workspace.moveCounts.argument,
            ])
    }

    /// `kvc_execute_moves`: every planned move of every head at once, K, V, metric and position.
    /// The device tables must still be those the plan was made with (truncate afterwards).
    public func executeMoves(_ sequence: SequenceID, cache: GPUPagedKVCache, workspace: Workspace) throws {
        let shape = workspace.shape
        let index = try deviceIndex(of: sequence, in: cache, shape: shape)
        let warps = Self.executeWarpsPerBlock
        try execute.launch(
            grid: ((shape.maxMoves + warps - 1) / warps, shape.heads, 1), block: (32 * warps, 1, 1),
            arguments: [
                cache.keys.argument, cache.values.argument, cache.metrics.argument, cache.positions.argument,
                cache.blockTables.argument, workspace.moves.argument, workspace.moveCounts.argument, try .int(index),
                try .int(cache.sequenceCount), try .int(shape.kvHeads), try .int(cache.maxBlocks), try .int(shape.blockSize),
                try .int(cache.layout.headDim), try .int(shape.maxMoves),
            ])
    }
}
