import KVCBudget
import PagedKVCache

extension EvictionReference {
    /// The whole GPU compression done by the references on the host cache: sort, global selection,
    /// move plan, moves, truncation. ``GPUCompressor`` must leave the same pools, tables and lengths.
    public static func compress(
        _ sequence: SequenceID, cache: PagedKVCache, settings: EvictionSettings
    ) throws -> EvictionOutcome {
        let shape = try EvictionShape(cache: cache, sequence: sequence, settings: settings)
        let ordering = sortHeadMetrics(cache: cache, sequence: sequence, settings: settings, shape: shape)
        let limit = shape.limit(settings.budget, protectedWindow: settings.protectedWindow)
        let selection = VirtualBlockSelection(ordering: ordering, limit: limit, evenLayerEvict: settings.evenLayerEvict)
        let plan = try planMoves(ordering: ordering, evictedKVs: selection.evictedKVs)
        try executeMoves(plan, cache: cache, sequence: sequence)
        return try EvictionOutcome.truncating(cache, sequence, shape: shape, selection: selection, kvsMoved: plan.totalMoves, limit: limit)
    }
}

extension EvictionShape {
    /// `budget` resolved for this sequence (block counts in the cache's physical block size, as the
    /// CPU Compressor resolves it).
    public func limit(_ budget: CompressionBudget, protectedWindow: Int) -> BudgetLimit {
        budget.limit(sequenceLength: sequenceLength, layers: layers, kvHeads: kvHeads, blockSize: blockSize, protectedWindow: protectedWindow)
    }
}
