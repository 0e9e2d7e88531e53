/// Forking a sequence: an independent copy of every head's blocks, so experiments can try several
/// compressions of one prefilled prompt without prefilling it again (one prefill, many budgets).
extension PagedKVCache {
    /// Registers a new sequence holding a copy of `sequence`'s cache: same block counts, context
    /// lengths and processed-token count per head, and every slot's key, value, metric and position
    /// copied into freshly allocated blocks. The two sequences share nothing afterwards: compressing
    /// or extending one leaves the other untouched.
    ///
    /// All or nothing: when the pool cannot hold the copy, nothing is allocated and `outOfBlocks` is
    /// thrown.
    public func fork(_ sequence: SequenceID) throws(KVCacheError) -> SequenceID {
        guard let source = tables[sequence] else { throw .unknownSequence(sequence) }
        let needed = source.blockTables.reduce(0) { $0 + $1.count }
        guard needed <= allocator.freeCount else {
            throw .outOfBlocks(needed: needed, free: allocator.freeCount, capacity: capacityBlocks)
        }
        let id = addSequence()
        var copy = SequenceTables(headCount: layout.headCount)
        copy.lengths = source.lengths
        copy.processedTokens = source.processedTokens
        // K and V copied as stored (bit for bit), whatever their element type.
        let bs = layout.blockSize, blockBytes = bs * layout.headDim * layout.kvType.bytesPerElement
        for (head, table) in source.blockTables.enumerated() {
            var forked: [Int32] = []
            forked.reserveCapacity(table.count)
            for block in table {
                let target = allocator.allocate()!  // capacity checked above
                let from = Int(block) * bs, to = Int(target) * bs
                (keyStorage + Int(target) * blockBytes).copyMemory(from: keyStorage + Int(block) * blockBytes, byteCount: blockBytes)
                (valueStorage + Int(target) * blockBytes).copyMemory(from: valueStorage + Int(block) * blockBytes, byteCount: blockBytes)
                (metrics + to).update(from: metrics + from, count: bs)
                (positions + to).update(from: positions + from, count: bs)
                forked.append(target)
            }
            copy.blockTables[head] = forked
        }
        tables[id] = copy
        return id
    }
}
