import PagedKVCache

/// Applies an eviction plan to the cache (KV-Compress §4, "Cache moves"): per head, the surviving KVs
/// from the tail fill the holes left by evicted ones (two pointers: the source walks down from the last
/// KV skipping evicted ones, the destination is the lowest hole not yet filled; stop when they meet),
/// moving K, V, metric and position together; then the trailing blocks go back to the pool and the
/// context length shrinks. Survivors end in logical slots `[0, ctx - evicted)`, order not preserved.
public enum EvictionExecutor {
    /// What applying a plan did.
    public struct Result: Sendable, Hashable {
        public var blocksFreed = 0
        public var kvsEvicted = 0
        public var kvsMoved = 0

        public init(blocksFreed: Int = 0, kvsEvicted: Int = 0, kvsMoved: Int = 0) {
            self.blocksFreed = blocksFreed
            self.kvsEvicted = kvsEvicted
            self.kvsMoved = kvsMoved
        }
    }

    /// Refuses plans that would break the cache's invariants: wrong head count, slots out of range or
    /// repeated, protected KVs, or a head whose remaining length is not a whole number of its blocks.
    public static func validate(_ plan: EvictionPlan, for input: EvictionInput, policy: String) throws(CompressionError) {
        guard plan.evicted.count == input.heads.count else {
            throw .invalidPlan(policy: policy, why: "it names \(plan.evicted.count) heads, the sequence has \(input.heads.count) (\(input.layers) layers × \(input.kvHeads) KV heads)")
        }
        for (index, slots) in plan.evicted.enumerated() where !slots.isEmpty {
            let head = input.heads[index]
            let ctx = head.contextLength
            let bs = input.blockSize(ofLayer: head.layer)
            var seen = [Bool](repeating: false, count: ctx)
            for slot in slots {
                guard slot >= 0, slot < ctx else {
                    throw .invalidPlan(policy: policy, why: "layer \(head.layer) head \(head.head): slot \(slot) is outside 0..<\(ctx)")
                }
                guard !seen[slot] else {
                    throw .invalidPlan(policy: policy, why: "layer \(head.layer) head \(head.head): slot \(slot) is evicted twice")
                }
                seen[slot] = true
                let position = Int(head.positions[slot])
                guard !input.isProtected(position: position) else {
                    throw .invalidPlan(
                        policy: policy,
                        why: "layer \(head.layer) head \(head.head): slot \(slot) holds protected position \(position) (protected: the last \(input.protectedWindow) of \(input.sequenceLength) positions and the first \(input.sinks))")
                }
            }
            guard (ctx - slots.count) % bs == 0 else {
                throw .invalidPlan(
                    policy: policy,
                    why: "layer \(head.layer) head \(head.head): evicting \(slots.count) of \(ctx) KVs leaves \(ctx - slots.count), not a whole number of \(bs)-KV blocks; evict \(ctx % bs == 0 ? bs : ctx % bs) + k·\(bs) KVs")
            }
        }
    }

    /// Validates and applies `plan` to `sequence`. Returns what it did.
    public static func apply(
        _ plan: EvictionPlan, for input: EvictionInput, policy: String, to cache: PagedKVCache
    ) throws -> Result {
        try validate(plan, for: input, policy: policy)
        var result = Result()
        for (index, slots) in plan.evicted.enumerated() where !slots.isEmpty {
            let head = input.heads[index]
            result.kvsMoved += compact(cache, input.sequence, layer: head.layer, head: head.head, length: head.contextLength, evicting: slots)
            result.blocksFreed += try cache.truncate(input.sequence, layer: head.layer, head: head.head, to: head.contextLength - slots.count)
            result.kvsEvicted += slots.count
        }
        return result
    }

    /// Two-pointer compaction of one head; returns the number of KVs moved.
    static func compact(_ cache: PagedKVCache, _ sequence: SequenceID, layer: Int, head: Int, length: Int, evicting slots: [Int]) -> Int {
        var evicted = [Bool](repeating: false, count: length)
        for s in slots { evicted[s] = true }
        var moves: [(source: Int, destination: Int)] = []
        moves.reserveCapacity(slots.count)
        var destination = 0
        while destination < length && !evicted[destination] { destination += 1 }
        var source = length - 1
        while source >= 0 && evicted[source] { source -= 1 }
        while destination < source {
            moves.append((source, destination))
            destination += 1
            while destination < length && !evicted[destination] { destination += 1 }
            source -= 1
            while source >= 0 && evicted[source] { source -= 1 }
        }
        cache.moveSlots(sequence, layer: layer, head: head, moves)
        return moves.count
    }
}
