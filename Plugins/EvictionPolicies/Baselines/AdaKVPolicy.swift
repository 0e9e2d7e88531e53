import KVCompress

/// Ada-KV (Feng et al., "Ada-KV: Optimizing KV Cache Eviction by Adaptive Budget Allocation for
/// Efficient LLM Inference", arXiv 2407.11550; kvpress `AdaKVPress`): each layer's budget is shared by
/// its heads through one top-k over head × token, so heads with concentrated attention give their
/// budget to heads with spread-out attention, with a safeguard: every head keeps at least α times the
/// layer's mean per-head budget.
///
/// In our paged per-head cache: each head ranks its KVs by the metric (the `adakv` preset uses SnapKV's
/// window). Layers share the budget equally (whole virtual blocks are taken from the layer keeping the
/// most); within that layer the block with the lowest score among all its heads goes, unless that
/// would leave its head below α · (layer's kept KVs) / heads. If floors block every head of every layer,
/// the fullest head gives up a block, so the ``BudgetLimit`` holds whenever KV-Compress's would.
/// The blocks are freed.
///
/// Option `alpha` (the safeguard α in 0...1, default 0.2 as in the paper and kvpress).
public struct AdaKVPolicy: EvictionPolicy {
    public let alpha: Double

    public init(alpha: Double = 0.2) { self.alpha = alpha }

    init(options: OptionReader) throws {
        alpha = try options.double("alpha", default: 0.2, in: 0...1)
    }

    public func plan(_ input: EvictionInput) throws -> EvictionPlan {
        var allocator = BlockAllocator(input, rankingScores: input.metricScores)
        let kvHeads = input.kvHeads
        var layerKept = (0..<input.layers).map { l in (l * kvHeads..<(l + 1) * kvHeads).reduce(0) { $0 + allocator.keptKVs($1) } }
        while !allocator.holds {
            guard let h = nextHead(allocator, layerKept: layerKept) ?? allocator.largestEvictableHead(load: { a, h in Double(a.keptKVs(h)) })
            else { break }
            layerKept[h / kvHeads] -= allocator.nextBlockKVs(h)
            allocator.evictNext(h)
        }
        return allocator.plan
    }

    /// The head whose next block goes: in the fullest layer that has one, the lowest-scored next block
    /// of a head that stays at or above its floor.
    private func nextHead(_ a: BlockAllocator, layerKept: [Int]) -> Int? {
        let kvHeads = a.input.kvHeads
        for layer in layerKept.indices.sorted(by: { (layerKept[$0], -$0) > (layerKept[$1], -$1) }) {
            let keptAfter = layerKept[layer]
            var best: (h: Int, score: Float)?
            for h in layer * kvHeads..<(layer + 1) * kvHeads where a.canEvict(h) {
                let floor = alpha * Double(keptAfter - a.nextBlockKVs(h)) / Double(kvHeads)
                guard Double(a.keptKVs(h) - a.nextBlockKVs(h)) >= floor else { continue }
                let s = a.nextScore(h)
                if best == nil || s < best!.score { best = (h, s) }
            }
            if let best { return best.h }
        }
        return nil
    }
}
