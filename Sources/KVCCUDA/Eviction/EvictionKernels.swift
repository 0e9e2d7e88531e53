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
    /// Base name of the move kernel, which exists once per KV type (it copies elements of the pools'
    /// type): ``KVKernelName/typed(_:_:)`` gives `kvc_execute_moves_f32` / `_f16`.
    public static let executeFunctionName = "kvc_execute_moves"
    /// Every kernel these launchers use (the move kernel of each KV type).
    public static let functionNames = [sortFunctionName, planFunctionName] + KVKernelName.allTyped(executeFunctionName)

    /// Threads of a sort block: enough to keep the bitonic passes wide, at most the CUDA limit.
    static let maxSortThreads = 1024
    /// Threads of a plan block (a multiple of 32, at most 1024): each tile of the prefix sum covers
    /// this many slots, so an 8192-KV head takes 8 tiles.
    static let planThreads = 1024
    /// Moves per execute block, one warp each.
    static let executeWarpsPerBlock = 4
    /// Dynamic shared memory a launch may use without opting in.
    static let defaultSharedMemoryBytes = 48 * 1024

    public let context: CUDAContext
    let sort: CUDAFunction
    let plan: CUDAFunction
    /// The move kernels for float32 and half-float pools.
    let executeF32, executeF16: CUDAFunction

    /// Compiles eviction.cu for the context's device (cached by the context) and looks up its kernels.
    public init(context: CUDAContext, compiler: NVRTCCompiler) throws(CUDAError) {
        self.context = context
        let module = try context.loadKernels(Self.fileName, compiler: compiler)
        sort = try module.function(Self.sortFunctionName)
        plan = try module.function(Self.planFunctionName)
        executeF32 = try module.function(KVKernelName.typed(Self.executeFunctionName, .f32))
        executeF16 = try module.function(KVKernelName.typed(Self.executeFunctionName, .f16))
    }

    /// The longest head the per-head sort takes on this device.
    public var sortLimit: Int { EvictionShape.sortLimit(sharedMemoryBytes: context.maxSharedMemoryPerBlockOptIn) }

    // MARK: - Device scratch

    /// Device buffers (and the host staging arrays) of compressions, laid out for one
    /// ``EvictionShape`` at a time. ``reshape(for:)`` re-lays them out for another compression and
    /// allocates only a buffer that is too small (with a quarter of headroom), so a
    /// ``GPUCompressor`` that compresses again and again allocates almost never: device allocations
    /// cost more host time than the kernels themselves. Every row stride is the current shape's, a
    /// larger buffer just has an unused tail. One compression at a time: ``GPUCompressor`` holds a
    /// lock around its use.
    public final class Workspace: @unchecked Sendable {
        public let context: CUDAContext
        /// The compression the buffers are laid out for.
        public private(set) var shape: EvictionShape
        /// `[layers]` eviction unit per layer.
        public private(set) var evictionBlockSizes: DeviceBuffer<Int32>
        /// `[heads, maxContext]`.
        public private(set) var ascendingIndices: DeviceBuffer<Int32>
        /// `[heads, maxVirtualBlocks]`.
        public private(set) var virtualBlockScores: DeviceBuffer<Float>
        /// `[heads]`: KVs each head evicts (the host's selection).
        public private(set) var evictedCounts: DeviceBuffer<Int32>
        /// `[heads, maxMoves, 2]` (source, destination).
        public private(set) var moves: DeviceBuffer<Int32>
        /// `[heads]`.
        public private(set) var moveCounts: DeviceBuffer<Int32>

        /// The eviction units last uploaded (skips the upload when a compression repeats them).
        private var uploadedBlockSizes: [Int32] = []
        /// Host staging, reused: `[heads, maxVirtualBlocks]` scores, `[heads]` counts.
        private var hostScores: [Float] = []
        private var hostCounts: [Int32] = []

        /// A workspace for `shape`, every buffer exactly its size.
        public init(context: CUDAContext, shape: EvictionShape) throws(CUDAError) {
            self.context = context
            self.shape = shape
            let sizes = Self.elementCounts(shape)
            evictionBlockSizes = try context.allocate(Int32.self, count: sizes.layers)
            ascendingIndices = try context.allocate(Int32.self, count: sizes.indices)
            virtualBlockScores = try context.allocate(Float.self, count: sizes.scores)
            evictedCounts = try context.allocate(Int32.self, count: sizes.heads)
            moves = try context.allocate(Int32.self, count: sizes.moves)
            moveCounts = try context.allocate(Int32.self, count: sizes.heads)
            try uploadBlockSizes()
        }

        /// Elements each buffer needs for `shape`.
        static func elementCounts(_ shape: EvictionShape) -> (layers: Int, heads: Int, indices: Int, scores: Int, moves: Int) {
            (shape.layers, shape.heads, shape.heads * shape.maxContext, shape.heads * shape.maxVirtualBlocks, shape.heads * shape.maxMoves * 2)
        }

        /// Lays the workspace out for `shape`, growing only the buffers that are too small.
        public func reshape(for shape: EvictionShape) throws(CUDAError) {
            let sizes = Self.elementCounts(shape)
            let blockSizes = try Self.grown(evictionBlockSizes, to: sizes.layers, context: context)
            if blockSizes !== evictionBlockSizes { uploadedBlockSizes = [] }
            evictionBlockSizes = blockSizes
            ascendingIndices = try Self.grown(ascendingIndices, to: sizes.indices, context: context)
            virtualBlockScores = try Self.grown(virtualBlockScores, to: sizes.scores, context: context)
            evictedCounts = try Self.grown(evictedCounts, to: sizes.heads, context: context)
            moves = try Self.grown(moves, to: sizes.moves, context: context)
            moveCounts = try Self.grown(moveCounts, to: sizes.heads, context: context)
            self.shape = shape
            try uploadBlockSizes()
        }

        private static func grown<Element>(
            _ buffer: DeviceBuffer<Element>, to count: Int, context: CUDAContext
        ) throws(CUDAError) -> DeviceBuffer<Element> {
            buffer.count >= count ? buffer : try context.allocate(Element.self, count: count + count / 4)
        }

        private func uploadBlockSizes() throws(CUDAError) {
            let sizes = (0..<shape.layers).map { Int32(shape.evictionBlockSizes[$0 * shape.kvHeads]) }
            guard sizes != uploadedBlockSizes else { return }
            uploadedBlockSizes = []  // a failed upload leaves nothing believed on the device
            try evictionBlockSizes.upload(from: sizes, count: sizes.count)
            uploadedBlockSizes = sizes
        }

        /// Uploads the KVs each head evicts, `[heads]` (checked by the caller).
        func uploadEvictedCounts(_ evictedKVs: [Int]) throws(CUDAError) {
            hostCounts.removeAll(keepingCapacity: true)
            for count in evictedKVs { hostCounts.append(Int32(count)) }
            try evictedCounts.upload(from: hostCounts, count: hostCounts.count)
        }

        /// The virtual-block scores the sort wrote, `[heads, maxVirtualBlocks]` (synchronises).
        public func downloadVirtualBlockScores() throws(CUDAError) -> [Float] {
            var scores = [Float](repeating: 0, count: shape.heads * shape.maxVirtualBlocks)
            try scores.withUnsafeMutableBufferPointer { (buffer) throws(CUDAError) in
                try virtualBlockScores.download(into: buffer.baseAddress!, count: buffer.count)
            }
            return scores
        }

        /// Downloads the virtual-block scores into the reused host staging array (synchronises) and
        /// lends them to `body`: `[heads, maxVirtualBlocks]`.
        func withVirtualBlockScores<Result>(_ body: (UnsafeBufferPointer<Float>) throws -> Result) throws -> Result {
            let count = shape.heads * shape.maxVirtualBlocks
            if hostScores.count < count { hostScores = [Float](repeating: 0, count: count) }
            return try hostScores.withUnsafeMutableBufferPointer { buffer in
                try virtualBlockScores.download(into: buffer.baseAddress!, count: count)
                return try body(UnsafeBufferPointer(rebasing: buffer[0..<count]))
            }
        }

        /// Moves per head as the planner wrote them, `[heads]` (synchronises).
        public func downloadMoveCounts() throws(CUDAError) -> [Int32] {
            var counts = [Int32](repeating: 0, count: shape.heads)
            try counts.withUnsafeMutableBufferPointer { (buffer) throws(CUDAError) in
                try moveCounts.download(into: buffer.baseAddress!, count: buffer.count)
            }
            return counts
        }

        /// What the sort wrote (synchronises).
        public func downloadOrdering() throws -> HeadOrdering {
            var indices = [Int32](repeating: 0, count: shape.heads * shape.maxContext)
            try indices.withUnsafeMutableBufferPointer { (buffer) throws(CUDAError) in
                try ascendingIndices.download(into: buffer.baseAddress!, count: buffer.count)
            }
            return try HeadOrdering(shape: shape, ascendingIndices: indices, virtualBlockScores: downloadVirtualBlockScores())
        }

        /// What the move planner wrote (synchronises); a head the kernel flagged inconsistent is an error.
        public func downloadMovePlan() throws -> MovePlan {
            var planned = [Int32](repeating: 0, count: shape.heads * shape.maxMoves * 2)
            try planned.withUnsafeMutableBufferPointer { (buffer) throws(CUDAError) in
                try moves.download(into: buffer.baseAddress!, count: buffer.count)
            }
            return try MovePlan(heads: shape.heads, maxMoves: shape.maxMoves, moves: planned, counts: downloadMoveCounts())
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
        // The kernel writes every entry of each head's row, zeros past its count: no memset needed.
        try workspace.uploadEvictedCounts(evictedKVs)
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

    /// `kvc_execute_moves_<kvType>`: every planned move of every head at once, K, V (their bits, in the
    /// cache's KV type), metric and position.
    /// The device tables must still be those the plan was made with (truncate afterwards).
    public func executeMoves(_ sequence: SequenceID, cache: GPUPagedKVCache, workspace: Workspace) throws {
        let shape = workspace.shape
        let index = try deviceIndex(of: sequence, in: cache, shape: shape)
        let warps = Self.executeWarpsPerBlock
        let execute =
            switch cache.kvType {
            case .f32: executeF32
            case .f16: executeF16
            }
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
