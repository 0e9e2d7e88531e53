extension EvictionReference {
    /// Reference of `kvc_plan_moves`: head h evicts the first `evictedKVs[h]` slots of its ascending
    /// order; its survivors at or above the new length `m = length - evicted` fill its holes below m.
    ///
    /// Written as a pairing of two filtered lists: the k-th move takes the k-th highest survivor at or
    /// above m to the k-th lowest hole below m. That is exactly the walk of EvictionExecutor.compact:
    /// the destination visits the holes upwards, the source the survivors downwards, and they cross
    /// right after the last hole below m (the holes below m and the survivors above it are equally
    /// many). The kernel finds the same pairs from a prefix sum over the evicted flags instead;
    /// Tests/KVCCUDATests/EvictionMovePlanScanTests.swift runs its arithmetic against this reference
    /// and the two-pointer walk.
    public static func planMoves(ordering: HeadOrdering, evictedKVs: [Int]) throws(EvictionError) -> MovePlan {
        let shape = ordering.shape
        guard evictedKVs.count == shape.heads else {
            throw .shapeMismatch("\(evictedKVs.count) evicted counts for \(shape.heads) heads")
        }
        var moves = [Int32](repeating: 0, count: shape.heads * shape.maxMoves * 2)
        var counts = [Int32](repeating: 0, count: shape.heads)
        for h in 0..<shape.heads {
            let length = shape.contextLengths[h], evicted = evictedKVs[h]
            guard evicted >= 0, evicted <= length else {
                throw .inconsistentPlan("head \(h) would evict \(evicted) of its \(length) KVs")
            }
            var isEvicted = [Bool](repeating: false, count: length)
            for slot in ordering.ascendingSlots(head: h).prefix(evicted) { isEvicted[Int(slot)] = true }
            let kept = length - evicted
            let holes = (0..<kept).filter { isEvicted[$0] }
            let survivors = (kept..<length).reversed().filter { !isEvicted[$0] }
            guard holes.count == survivors.count, holes.count <= shape.maxMoves else {
                throw .inconsistentPlan("head \(h): \(holes.count) holes below \(kept) but \(survivors.count) survivors above")
            }
            for (k, (source, destination)) in zip(survivors, holes).enumerated() {
                moves[(h * shape.maxMoves + k) * 2] = Int32(source)
                moves[(h * shape.maxMoves + k) * 2 + 1] = Int32(destination)
            }
            counts[h] = Int32(holes.count)
        }
        return try MovePlan(heads: shape.heads, maxMoves: shape.maxMoves, moves: moves, counts: counts)
    }
}
