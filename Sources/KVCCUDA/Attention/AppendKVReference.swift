import PagedKVCache

/// CPU reference of `kvc_append_kv` (attention.cu): writes the KVs of new tokens into the slots the
/// slot mapping names, as `PagedKVCache.append` does through the block tables (key, value, position,
/// metric 0). A negative slot is skipped (a padding token).
public enum AppendKVReference {
    /// - Parameters:
    ///   - keys: `[count, kvHeads, headDim]` after RoPE.   - values: `[count, kvHeads, headDim]`.
    ///   - positions: `[count]` token positions.   - slotMapping: `[count, kvHeads]` physical slots.
    public static func run(
        cache: PagedKVCache, keys: [Float], values: [Float], positions: [Int32], slotMapping: [Int64]
    ) throws(CUDAError) {
        let layout = cache.layout, count = positions.count
        try AttentionShapeCheck.append(
            layout: layout, count: count, keys: keys.count, values: values.count, positions: count,
            slotMapping: slotMapping.count)
        let slots = cache.capacityBlocks * layout.blockSize, d = layout.headDim
        for (item, slot) in slotMapping.enumerated() where slot >= 0 {
            guard slot < slots else {
                throw .invalidArgument("append KV: slot \(slot) of token \(item / layout.kvHeads) is outside the pool's \(slots) slots")
            }
            let at = Int(slot)
            keys.withUnsafeBufferPointer { cache.storeKey(slot: at, from: $0.baseAddress! + item * d) }
            values.withUnsafeBufferPointer { cache.storeValue(slot: at, from: $0.baseAddress! + item * d) }
            cache.metrics[at] = 0
            cache.positions[at] = positions[item / layout.kvHeads]
        }
    }
}
