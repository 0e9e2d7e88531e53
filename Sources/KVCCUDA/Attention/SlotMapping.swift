import PagedKVCache

/// Physical slots the next tokens of a sequence go to, in the form `kvc_append_kv` takes.
public enum SlotMapping {
    /// Slots of the `count` tokens appended next to every KV head of `layer` of `sequence`:
    /// `[count, kvHeads]`, the slot of logical index `length + i` of each head (blocks must have been
    /// reserved with `PagedKVCache.reserve(_:tokens:)`, as `PagedKVCache.append` requires).
    public static func appending(
        _ count: Int, to sequence: SequenceID, layer: Int, in cache: PagedKVCache
    ) throws(CUDAError) -> [Int64] {
        let layout = cache.layout
        guard cache.contains(sequence) else { throw .invalidArgument("slot mapping: unknown sequence \(sequence)") }
        guard (0..<layout.layers).contains(layer) else {
            throw .invalidArgument("slot mapping: layer \(layer) is outside 0..<\(layout.layers)")
        }
        guard count >= 0 else { throw .invalidArgument("slot mapping: token count \(count) is negative") }
        var slots = [Int64](repeating: 0, count: count * layout.kvHeads)
        for head in 0..<layout.kvHeads {
            let table = cache.blockTable(sequence, layer: layer, head: head)
            let length = cache.contextLength(sequence, layer: layer, head: head)
            guard layout.blocks(forTokens: length + count) <= table.count else {
                throw .invalidArgument(
                    "slot mapping: layer \(layer) head \(head) of \(sequence) has \(table.count) blocks for \(length) + \(count) KVs; reserve blocks first")
            }
            for i in 0..<count {
                let logical = length + i
                slots[i * layout.kvHeads + head] =
                    Int64(table[logical / layout.blockSize]) * Int64(layout.blockSize) + Int64(logical % layout.blockSize)
            }
        }
        return slots
    }
}
