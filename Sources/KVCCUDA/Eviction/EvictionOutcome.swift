import KVCBudget
import PagedKVCache

/// What one compression of one sequence did, as `EvictionExecutor.Result` reports it on the CPU, plus
/// whether the budget now holds.
public struct EvictionOutcome: Sendable, Hashable, CustomStringConvertible {
    public var blocksFreed: Int
    public var kvsEvicted: Int
    public var kvsMoved: Int
    /// The limit the budget resolved to for this sequence.
    public var limit: BudgetLimit
    /// False when protected KVs alone exceed the limit (the schedule then evicts all it may).
    public var budgetHeld: Bool

    public init(blocksFreed: Int, kvsEvicted: Int, kvsMoved: Int, limit: BudgetLimit, budgetHeld: Bool) {
        self.blocksFreed = blocksFreed
        self.kvsEvicted = kvsEvicted
        self.kvsMoved = kvsMoved
        self.limit = limit
        self.budgetHeld = budgetHeld
    }

    public var description: String {
        "\(kvsEvicted) KVs evicted, \(kvsMoved) moved, \(blocksFreed) blocks freed (limit \(limit)\(budgetHeld ? "" : ", not met"))"
    }

    /// Shortens every head of `sequence` in the host cache by its evicted KVs once the moves are done,
    /// returning the trailing blocks to the pool (as EvictionExecutor.apply does after compacting).
    static func truncating(
        _ cache: PagedKVCache, _ sequence: SequenceID, shape: EvictionShape, selection: VirtualBlockSelection,
        kvsMoved: Int, limit: BudgetLimit
    ) throws(KVCacheError) -> EvictionOutcome {
        var freed = 0
        for h in 0..<shape.heads where selection.evictedKVs[h] > 0 {
            freed += try cache.truncate(
                sequence, layer: h / shape.kvHeads, head: h % shape.kvHeads, to: shape.contextLengths[h] - selection.evictedKVs[h])
        }
        return EvictionOutcome(
            blocksFreed: freed, kvsEvicted: selection.totalEvictedKVs, kvsMoved: kvsMoved, limit: limit,
            budgetHeld: selection.budgetHeld)
    }
}
