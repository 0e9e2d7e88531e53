// The budget type is KVCBudget's, shared with KVCompress; re-exported so users of KVCCUDA see it.
@_exported import KVCBudget
import PagedKVCache

/// What a GPU compression of one sequence needs besides the cache: the budget, the KVs never evicted,
/// how a stored metric becomes a scheduling score, and the eviction unit of each layer. The fields
/// mirror `CompressionConfiguration` with the `kvcompress` metric and policy
/// (Sources/KVCompress/Configuration, Plugins/EvictionPolicies/KVCompressPolicy.swift).
public struct EvictionSettings: Sendable, Hashable {
    /// How a slot's stored metric becomes its scheduling score (Plugins/EvictionPolicies/AttentionMetric.swift).
    public enum Aggregate: Int32, Sendable, Hashable, CaseIterable {
        /// The running sum as stored (`aggregate: sum`, the default).
        case sum = 0
        /// The sum divided by the queries that could see the KV, `max(1, sequenceLength - position)`
        /// (`aggregate: avg`).
        case average = 1
    }

    public var budget: CompressionBudget
    /// The last `protectedWindow` token positions are never evicted.
    public var protectedWindow: Int
    /// The first `sinks` token positions are never evicted.
    public var sinks: Int
    public var aggregate: Aggregate
    /// KVCompressPolicy's `even_layer_evict`: every layer gives up the same number of virtual blocks.
    public var evenLayerEvict: Bool
    /// Eviction unit of each layer, `[layers]`, each a multiple of the cache's block size; nil: the
    /// cache's block size for every layer (the `fixed` block-size policy at the cache's size).
    public var evictionBlockSizes: [Int]?

    public init(
        budget: CompressionBudget, protectedWindow: Int = 32, sinks: Int = 0, aggregate: Aggregate = .sum,
        evenLayerEvict: Bool = false, evictionBlockSizes: [Int]? = nil
    ) {
        self.budget = budget
        self.protectedWindow = protectedWindow
        self.sinks = sinks
        self.aggregate = aggregate
        self.evenLayerEvict = evenLayerEvict
        self.evictionBlockSizes = evictionBlockSizes
    }

    /// The eviction unit of every layer of `layout`, checked: one per layer, each a positive multiple
    /// of the cache's block size; also checks the protected window, the sinks and the budget.
    public func resolvedBlockSizes(for layout: CacheLayout) throws(EvictionError) -> [Int] {
        guard protectedWindow >= 0, sinks >= 0 else {
            throw .invalidSettings("protected window and sinks must not be negative (got \(protectedWindow) and \(sinks))")
        }
        if let why = budget.impossibility(protectedWindow: protectedWindow, sinks: sinks) { throw .impossibleBudget(why) }
        guard let sizes = evictionBlockSizes else { return Array(repeating: layout.blockSize, count: layout.layers) }
        guard sizes.count == layout.layers else {
            throw .invalidSettings("\(sizes.count) eviction block sizes given for \(layout.layers) layers; give one per layer")
        }
        for (layer, size) in sizes.enumerated() where size <= 0 || size % layout.blockSize != 0 {
            throw .invalidSettings(
                "eviction block size \(size) of layer \(layer) is not a positive multiple of the cache's block size \(layout.blockSize)")
        }
        return sizes
    }
}
