import PagedKVCache

/// Decides, for one sequence, which KVs of each (layer, KV head) go, always in whole blocks.
///
/// The input holds every head's scheduling scores (protected KVs already +inf), token positions, context
/// lengths and a view of its keys and values; the output names logical slots per head. The
/// ``EvictionExecutor`` checks the plan (whole blocks, no protected KV, slots in range, no duplicates)
/// before it moves anything.
public protocol EvictionPolicy: Sendable {
    func plan(_ input: EvictionInput) throws -> EvictionPlan
    /// The plug-in's resolved settings (defaults included), recorded in reports and HDF5 dumps.
    var settings: [String: OptionValue] { get }
    /// Whether the policy reads `EvictionInput.windowAttention` (the observation window's attention
    /// rows, e.g. CAKE's layer dispersion); the collector then records them.
    var needsWindowAttention: Bool { get }
}

extension EvictionPolicy {
    public var settings: [String: OptionValue] { [:] }
    public var needsWindowAttention: Bool { false }
}

/// Everything a policy may look at for one sequence.
public struct EvictionInput: Sendable {
    public let sequence: SequenceID
    public let layers: Int
    public let kvHeads: Int
    public let headDim: Int
    /// Eviction unit of each layer: `[layers]`, each a multiple of ``physicalBlockSize``.
    public let blockSizes: [Int]
    /// Block size of the paged cache.
    public let physicalBlockSize: Int
    /// Tokens the sequence has processed (the next token's position).
    public let sequenceLength: Int
    public let budget: CompressionBudget
    /// The budget resolved for this sequence.
    public let limit: BudgetLimit
    /// The last `protectedWindow` token positions are never evicted.
    public let protectedWindow: Int
    /// The first `sinks` token positions are never evicted.
    public let sinks: Int
    /// Every head of the sequence, index `layer * kvHeads + head`.
    public let heads: [HeadScores]
    /// The prefill observation window's attention rows per (layer, KV head), for policies that ask
    /// (`needsWindowAttention`); empty otherwise.
    public var windowAttention: [HeadIndex: ObservedAttention] = [:]

    public init(
        sequence: SequenceID, layers: Int, kvHeads: Int, headDim: Int, blockSizes: [Int], physicalBlockSize: Int,
        sequenceLength: Int, budget: CompressionBudget, limit: BudgetLimit, protectedWindow: Int, sinks: Int,
        heads: [HeadScores]
    ) {
        precondition(heads.count == layers * kvHeads && blockSizes.count == layers, "one HeadScores per (layer, head), one block size per layer")
        self.sequence = sequence
        self.layers = layers
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.blockSizes = blockSizes
        self.physicalBlockSize = physicalBlockSize
        self.sequenceLength = sequenceLength
        self.budget = budget
        self.limit = limit
        self.protectedWindow = protectedWindow
        self.sinks = sinks
        self.heads = heads
    }

    public func head(layer: Int, head: Int) -> HeadScores { heads[layer * kvHeads + head] }
    public func blockSize(ofLayer layer: Int) -> Int { blockSizes[layer] }

    /// Whether a KV at `position` is protected: among the last `protectedWindow` positions or the first `sinks`.
    @inlinable public func isProtected(position: Int) -> Bool {
        position >= sequenceLength - protectedWindow || position < sinks
    }

    /// Physical blocks the sequence holds.
    public var residentBlocks: Int {
        heads.reduce(0) { $0 + ($1.contextLength + physicalBlockSize - 1) / physicalBlockSize }
    }
    /// KVs the sequence holds.
    public var residentKVs: Int { heads.reduce(0) { $0 + $1.contextLength } }

    /// The same input with other scores, `[layers * kvHeads][contextLength]`; protected KVs stay +inf
    /// whatever `scores` says. For policies that rank by something other than the configured metric.
    public func withScores(_ scores: [[Float]]) -> EvictionInput {
        precondition(scores.count == heads.count, "one score array per head")
        let rescored = zip(heads, scores).map { head, s in
            precondition(s.count == head.contextLength, "one score per slot")
            return HeadScores(
                layer: head.layer, head: head.head,
                scores: zip(s, head.positions).map { isProtected(position: Int($1)) ? .infinity : $0 },
                positions: head.positions, cache: head.cache)
        }
        var input = EvictionInput(
            sequence: sequence, layers: layers, kvHeads: kvHeads, headDim: headDim, blockSizes: blockSizes,
            physicalBlockSize: physicalBlockSize, sequenceLength: sequenceLength, budget: budget, limit: limit,
            protectedWindow: protectedWindow, sinks: sinks, heads: rescored)
        input.windowAttention = windowAttention
        return input
    }
}

/// One (layer, KV head) as a policy sees it.
public struct HeadScores: Sendable {
    public let layer: Int
    public let head: Int
    /// Scheduling score per logical slot: `[contextLength]`; +inf for protected KVs.
    public let scores: [Float]
    /// Token position per logical slot: `[contextLength]`.
    public let positions: [Int32]
    /// The head's cache: keys and values per slot, for policies that look at them (key norms, ...).
    public let cache: HeadView

    public init(layer: Int, head: Int, scores: [Float], positions: [Int32], cache: HeadView) {
        precondition(scores.count == positions.count)
        self.layer = layer
        self.head = head
        self.scores = scores
        self.positions = positions
        self.cache = cache
    }

    public var contextLength: Int { scores.count }
}

/// Which logical slots of each head to evict: `evicted[layer * kvHeads + head]`.
public struct EvictionPlan: Sendable, Hashable {
    public var evicted: [[Int]]

    public init(evicted: [[Int]]) { self.evicted = evicted }
    /// A plan that evicts nothing from `headCount` heads.
    public init(headCount: Int) { evicted = Array(repeating: [], count: headCount) }

    public var evictedKVs: Int { evicted.reduce(0) { $0 + $1.count } }
}
