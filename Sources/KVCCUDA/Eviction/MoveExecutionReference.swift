import PagedKVCache

extension EvictionReference {
    /// Reference of `kvc_execute_moves`: copies K, V (headDim floats each), metric and position of
    /// every planned move through the head's block table, in the host cache's pools. Tables and lengths
    /// are left alone (the compressor truncates them afterwards, as on the GPU).
    public static func executeMoves(_ plan: MovePlan, cache: PagedKVCache, sequence: SequenceID) throws(EvictionError) {
        let layout = cache.layout
        guard plan.heads == layout.headCount else {
            throw .shapeMismatch("a move plan for \(plan.heads) heads applied to a cache of \(layout.headCount)")
        }
        let bs = layout.blockSize
        for h in 0..<plan.heads {
            let table = cache.blockTable(sequence, layer: h / layout.kvHeads, head: h % layout.kvHeads)
            let length = cache.contextLength(sequence, layer: h / layout.kvHeads, head: h % layout.kvHeads)
            for (source, destination) in plan.moves(head: h) {
                guard source >= 0, source < length, destination >= 0, destination < length else {
                    throw .inconsistentPlan("head \(h) moves slot \(source) to \(destination), outside 0..<\(length)")
                }
                cache.copySlot(from: Int(table[source / bs]) * bs + source % bs, to: Int(table[destination / bs]) * bs + destination % bs)
            }
        }
    }
}
