/// Every head's KVs in ascending scheduling-score order, cut into virtual blocks: what
/// `kvc_sort_head_metrics` writes and ``EvictionReference/sortHeadMetrics(cache:sequence:settings:shape:)``
/// computes, in the kernel's padded layout so the two compare element by element.
public struct HeadOrdering: Sendable, Equatable {
    public let shape: EvictionShape
    /// Logical slots by ascending score, ties by slot index: `[heads, maxContext]`, -1 past a head's length.
    public var ascendingIndices: [Int32]
    /// Score of each virtual block, its largest: `[heads, maxVirtualBlocks]`, +inf past a head's last
    /// block and for blocks holding a protected KV; never NaN (NaN scores count as -inf).
    public var virtualBlockScores: [Float]

    public init(shape: EvictionShape, ascendingIndices: [Int32], virtualBlockScores: [Float]) throws(EvictionError) {
        guard ascendingIndices.count == shape.heads * shape.maxContext else {
            throw .shapeMismatch("\(ascendingIndices.count) ascending indices for \(shape.heads) heads × \(shape.maxContext)")
        }
        guard virtualBlockScores.count == shape.heads * shape.maxVirtualBlocks else {
            throw .shapeMismatch("\(virtualBlockScores.count) virtual-block scores for \(shape.heads) heads × \(shape.maxVirtualBlocks)")
        }
        self.init(checked: shape, ascendingIndices: ascendingIndices, virtualBlockScores: virtualBlockScores)
    }

    /// For callers that built the arrays from `shape` themselves.
    init(checked shape: EvictionShape, ascendingIndices: [Int32], virtualBlockScores: [Float]) {
        self.shape = shape
        self.ascendingIndices = ascendingIndices
        self.virtualBlockScores = virtualBlockScores
    }

    /// Virtual-block scores of head `h`: `[virtualBlockCount]`.
    public func virtualBlockScores(head h: Int) -> ArraySlice<Float> {
        let count = EvictionShape.virtualBlockCount(length: shape.contextLengths[h], blockSize: shape.evictionBlockSizes[h])
        let start = h * shape.maxVirtualBlocks
        return virtualBlockScores[start..<start + count]
    }

    /// Ascending logical slots of head `h`: `[contextLength]`.
    public func ascendingSlots(head h: Int) -> ArraySlice<Int32> {
        let start = h * shape.maxContext
        return ascendingIndices[start..<start + shape.contextLengths[h]]
    }
}
