import Foundation
import PagedKVCache

/// Compresses one sequence on the GPU (KV-Compress §4), the device counterpart of the CPU
/// `Compressor` with the `kvcompress` policy:
///
/// 1. `kvc_sort_head_metrics`: every head's scheduling scores sorted, cut into virtual blocks;
/// 2. host: the globally lowest virtual blocks up to the budget (``VirtualBlockSelection``);
/// 3. `kvc_plan_moves`: the moves of each head (those of EvictionExecutor's two-pointer compaction);
/// 4. `kvc_execute_moves`: K, V, metric and position of every move at once;
/// 5. host: the host cache's tables are truncated (freed blocks back to its allocator) and the
///    device tables re-uploaded.
///
/// The host ``PagedKVCache`` owns the block tables and lengths; the ``GPUPagedKVCache`` holds the pools
/// the kernels read and write. After a compression the host pools are stale until
/// ``GPUPagedKVCache/downloadPools(into:)``.
///
/// The device scratch of a compression (``EvictionKernels/Workspace``) is kept and grown as needed
/// from one compression to the next; a lock serialises the compressions made through one compressor.
public final class GPUCompressor: @unchecked Sendable {
    public let kernels: EvictionKernels
    public let settings: EvictionSettings

    /// Guards `workspace`.
    private let lock = NSLock()
    private var workspace: EvictionKernels.Workspace?

    public init(kernels: EvictionKernels, settings: EvictionSettings) {
        self.kernels = kernels
        self.settings = settings
    }

    public convenience init(context: CUDAContext, compiler: NVRTCCompiler, settings: EvictionSettings) throws {
        self.init(kernels: try EvictionKernels(context: context, compiler: compiler), settings: settings)
    }

    /// Checks everything the host knows before any driver call: settings and budget, the sequence in
    /// both caches, the cache layouts, every head fitting the sort. Returns the compression's shape.
    public func prepare(_ sequence: SequenceID, cache: PagedKVCache, gpuCache: GPUPagedKVCache) throws -> EvictionShape {
        guard cache.layout == gpuCache.layout, cache.capacityBlocks == gpuCache.capacityBlocks else {
            throw EvictionError.shapeMismatch(
                "host cache (\(cache.layout), \(cache.capacityBlocks) blocks) and GPU cache (\(gpuCache.layout), \(gpuCache.capacityBlocks) blocks) differ")
        }
        let shape = try EvictionShape(cache: cache, sequence: sequence, settings: settings)
        guard gpuCache.sequences.contains(sequence) else {
            throw EvictionError.sequenceNotOnDevice("\(sequence) is not among the GPU cache's uploaded sequences \(gpuCache.sequences)")
        }
        try shape.checkSortFits(
            sharedMemoryBytes: kernels.context.maxSharedMemoryPerBlockOptIn,
            architecture: "\(kernels.context.deviceName) (\(kernels.context.architecture))")
        return shape
    }

    /// Compresses `sequence` once. `gpuCache` must hold the sequence's current pools (its tables are
    /// re-uploaded from `cache` here, so they are current whatever the host did since).
    @discardableResult
    public func compress(_ sequence: SequenceID, cache: PagedKVCache, gpuCache: GPUPagedKVCache) throws -> EvictionOutcome {
        lock.lock()
        defer { lock.unlock() }
        let shape = try prepare(sequence, cache: cache, gpuCache: gpuCache)
        let limit = shape.limit(settings.budget, protectedWindow: settings.protectedWindow)
        let residentBlocks = shape.contextLengths.reduce(0) { $0 + ($1 + shape.blockSize - 1) / shape.blockSize }
        if limit.holds(blocks: residentBlocks, kvs: shape.contextLengths.reduce(0, +)) {
            // Within budget: the schedule would evict nothing; skip the kernels.
            return EvictionOutcome(blocksFreed: 0, kvsEvicted: 0, kvsMoved: 0, limit: limit, budgetHeld: true)
        }
        try gpuCache.uploadTables(from: cache, sequences: gpuCache.sequences)
        let workspace = try reusedWorkspace(for: shape)

        try kernels.sortHeadMetrics(sequence, cache: gpuCache, settings: settings, workspace: workspace)
        let selection = try workspace.withVirtualBlockScores {
            VirtualBlockSelection(checked: shape, virtualBlockScores: $0, limit: limit, evenLayerEvict: settings.evenLayerEvict)
        }
        guard selection.totalEvictedKVs > 0 else {
            return EvictionOutcome(blocksFreed: 0, kvsEvicted: 0, kvsMoved: 0, limit: limit, budgetHeld: selection.budgetHeld)
        }

        try kernels.planMoves(sequence, cache: gpuCache, evictedKVs: selection.evictedKVs, workspace: workspace)
        let moveCounts = try workspace.downloadMoveCounts()
        for (h, count) in moveCounts.enumerated() where count < 0 || Int(count) > shape.maxMoves {
            throw EvictionError.inconsistentPlan("head \(h): the planner reports \(count) moves (capacity \(shape.maxMoves))")
        }
        try kernels.executeMoves(sequence, cache: gpuCache, workspace: workspace)
        try kernels.context.synchronize()

        let outcome = try EvictionOutcome.truncating(
            cache, sequence, shape: shape, selection: selection, kvsMoved: moveCounts.reduce(0) { $0 + Int($1) }, limit: limit)
        try gpuCache.uploadTables(from: cache, sequences: gpuCache.sequences)
        return outcome
    }

    /// The kept workspace laid out for `shape` (made on first use). Call with `lock` held.
    private func reusedWorkspace(for shape: EvictionShape) throws(CUDAError) -> EvictionKernels.Workspace {
        if let workspace {
            try workspace.reshape(for: shape)
            return workspace
        }
        let made = try EvictionKernels.Workspace(context: kernels.context, shape: shape)
        workspace = made
        return made
    }
}
