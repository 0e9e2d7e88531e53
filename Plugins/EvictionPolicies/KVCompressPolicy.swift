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
        var ledger = EvictionLedger(input)
        if ledger.holds { return ledger.plan }
        let candidates = ledger.evictableBlocks()
        if evenLayerEvict {
            var perLayer = [[EvictionLedger.Candidate]](repeating: [], count: input.layers)
            for c in candidates { perLayer[input.heads[c.head].layer].append(c) }
            var round = 0
            while !ledger.holds, perLayer.contains(where: { $0.count > round }) {
                for layer in perLayer where layer.count > round { ledger.evict(layer[round]) }
                round += 1
            }
        } else {
            for c in candidates {
                if ledger.holds { break }
                ledger.evict(c)
            }
        }
        return ledger.plan
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

/// Book-keeping for block-schedule policies: every head's virtual blocks, how many of them are
/// evicted, and the blocks and KVs the sequence keeps. Public so user policies can build on it.
public struct EvictionLedger: Sendable {
    public struct Candidate: Sendable, Hashable {
        public let head: Int
        public let block: Int
        public let score: Float
    }

    public let input: EvictionInput
    public let virtualBlocks: [VirtualBlocks]
    /// Virtual blocks evicted per head: `[layers * kvHeads]`.
    public private(set) var evictedBlocks: [Int]
    /// Physical blocks and KVs the sequence keeps after the evictions so far.
    public private(set) var keptBlocks: Int
    public private(set) var keptKVsTotal: Int

    public init(_ input: EvictionInput) {
        self.input = input
        virtualBlocks = input.heads.map { VirtualBlocks(scores: $0.scores, blockSize: input.blockSize(ofLayer: $0.layer)) }
        evictedBlocks = Array(repeating: 0, count: input.heads.count)
        keptBlocks = input.residentBlocks
        keptKVsTotal = input.residentKVs
    }

    /// Whether the sequence now fits its budget.
    public var holds: Bool { input.limit.holds(blocks: keptBlocks, kvs: keptKVsTotal) }

    /// KVs head `h` keeps after the evictions so far.
    public func keptKVs(_ h: Int) -> Int {
        let n = evictedBlocks[h]
        return input.heads[h].contextLength - (n == 0 ? 0 : virtualBlocks[h].ends[n - 1])
    }

    /// Physical blocks head `h` keeps.
    public func physicalBlocks(_ h: Int) -> Int {
        let p = input.physicalBlockSize
        return (keptKVs(h) + p - 1) / p
    }

    /// Evictable virtual blocks of every head, lowest score first; ties by head then block, so a head's
    /// blocks always come in ascending order and evicting in this order removes a prefix.
    public func evictableBlocks() -> [Candidate] {
        input.heads.indices.flatMap { evictableBlocks(ofHead: $0) }.sorted {
            ($0.score, $0.head, $0.block) < ($1.score, $1.head, $1.block)
        }
    }

    /// Evictable virtual blocks of head `h`, in ascending order.
    public func evictableBlocks(ofHead h: Int) -> [Candidate] {
        let v = virtualBlocks[h]
        return (0..<v.count).filter { v.isEvictable($0) }.map { Candidate(head: h, block: $0, score: v.scores[$0]) }
    }

    /// Evicts the next virtual block of `candidate.head`, which must be `candidate.block`.
    public mutating func evict(_ candidate: Candidate) {
        let h = candidate.head
        precondition(candidate.block == evictedBlocks[h], "virtual blocks of a head are evicted in ascending order")
        let kvsBefore = keptKVs(h), blocksBefore = physicalBlocks(h)
        evictedBlocks[h] += 1
        keptKVsTotal -= kvsBefore - keptKVs(h)
        keptBlocks -= blocksBefore - physicalBlocks(h)
    }

    /// The evictions so far as a plan.
    public var plan: EvictionPlan {
        EvictionPlan(evicted: input.heads.indices.map { virtualBlocks[$0].slots(evictingFirst: evictedBlocks[$0]) })
    }
}
