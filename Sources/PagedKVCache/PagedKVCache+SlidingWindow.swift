/// Sliding-window heads (Gemma 3's local layers): a query at position p sees only keys at
/// positions > p − window, so once the sequence has moved on, whole leading blocks of such a head
/// are never read again and go back to the pool; a local head then holds at most the window plus
/// one partly stale block.
extension PagedKVCache {
    /// Frees the leading blocks of head (layer, head) of `sequence` in which every KV has a position
    /// below `oldestNeeded`, stopping at the first block that holds a newer one (or is not full).
    /// Later KVs keep their order; logical indices shift down by a block per freed block.
    /// - Returns: the number of blocks freed.
    @discardableResult
    public func freeBlocks(
        _ sequence: SequenceID, layer: Int, head: Int, olderThan oldestNeeded: Int
    ) throws(KVCacheError) -> Int {
        guard tables[sequence] != nil else { throw .unknownSequence(sequence) }
        let hi = headIndex(layer: layer, head: head), bs = layout.blockSize
        var freed = 0
        while let first = tables[sequence]!.blockTables[hi].first, tables[sequence]!.lengths[hi] >= bs {
            let slots = positions + Int(first) * bs
            guard (0..<bs).allSatisfy({ Int(slots[$0]) < oldestNeeded }) else { break }
            allocator.release(first)
            tables[sequence]!.blockTables[hi].removeFirst()
            tables[sequence]!.lengths[hi] -= bs
            freed += 1
        }
        return freed
    }

    /// ``freeBlocks(_:layer:head:olderThan:)`` for every KV head of each of `layers`, for a sequence
    /// whose next query is at ``nextPosition(_:)`` and whose layers see `window` positions.
    /// - Returns: the number of blocks freed.
    @discardableResult
    public func freeBlocksOutsideWindow(_ sequence: SequenceID, layers: [Int], window: Int) throws(KVCacheError) -> Int {
        guard tables[sequence] != nil else { throw .unknownSequence(sequence) }
        // The next query (position p) sees keys at positions ≥ p − window + 1; later queries fewer.
        let oldestNeeded = nextPosition(sequence) - window + 1
        var freed = 0
        for layer in layers {
            for head in 0..<layout.kvHeads { freed += try freeBlocks(sequence, layer: layer, head: head, olderThan: oldestNeeded) }
        }
        return freed
    }
}
