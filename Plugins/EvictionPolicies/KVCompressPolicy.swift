import KVCompress

/// The KV-Compress block schedule (§4): per head, KVs sorted ascending and cut into virtual blocks
/// (the first holds the hanging `ctx % bs`); the virtual blocks of ALL layers and heads of the sequence
/// are sorted by their largest metric and the lowest evicted until the budget holds, never one holding
/// a protected (+inf) KV. Each head thus loses a prefix of its ascending order, and evicting n virtual
/// blocks of a head frees exactly n physical blocks: heads and layers end with different lengths.
///
/// Option `even_layer_evict` (default false): evict the same number of blocks from every layer (the
/// k lowest of each layer, with the smallest k that meets the budget; a layer with fewer evictable
/// blocks gives all it has). The reference rounds the block count down to a multiple of the layer
/// count; rounding up instead keeps the budget a hard cap.
public struct KVCompressPolicy: EvictionPolicy {
    public let evenLayerEvict: Bool

    public init(evenLayerEvict: Bool = false) { self.evenLayerEvict = evenLayerEvict }

    init(options: OptionReader) throws {
        evenLayerEvict = try options.bool("even_layer_evict", default: false)
    }

    public var settings: [String: OptionValue] { ["even_layer_evict": .bool(evenLayerEvict)] }

    public func plan(_ input: EvictionInput) throws -> EvictionPlan {
        var allocator = BlockAllocator(input, rankingScores: input.metricScores)
        if evenLayerEvict {
            // Rounds: every layer gives up its lowest remaining block; the budget is checked between
            // rounds only, so all layers lose the same number (a layer out of blocks gives what it has).
            let h = input.kvHeads
            while !allocator.holds {
                let chosen = (0..<input.layers).compactMap { allocator.lowestEvictableHead(among: $0 * h..<($0 + 1) * h) }
                if chosen.isEmpty { break }
                for head in chosen { allocator.evictNext(head) }
            }
        } else {
            allocator.evictLowestFirst()
        }
        return allocator.plan
    }
}

/// The same metric with the budget split evenly over heads, in whole blocks: the baseline that shows
/// what variable per-head rates buy (issue: `--compression uniform`).
///
/// Water-filling rather than a fixed share of ⌊budget / heads⌋: the head that keeps the most KVs gives
/// up its lowest virtual block next, until the sequence meets the same ``BudgetLimit`` KV-Compress
/// meets. Heads end within one block of each other and the sequence keeps the same resident bytes as
/// under `kvcompress`, so the two are compared at equal memory (a rounded-down share would leave part
/// of the budget unused and handicap the baseline).
public struct UniformPolicy: EvictionPolicy {
    public init() {}

    /// The even allocation is SnapKV's (same top-k count per head); only the metric and window that
    /// feed it differ (here KV-Compress's, chosen by the configuration).
    public func plan(_ input: EvictionInput) throws -> EvictionPlan {
        try SnapKVPolicy().plan(input)
    }
}
