/// Chooses the block size: fixed for a run, or per layer (issue: "block size is a plug point too").
///
/// The paged cache has one physical block size (the smallest chosen). A layer given a larger size
/// evicts in units of that size, which must be a multiple of the physical size, so each eviction of one
/// of its blocks frees exactly `size / physical` physical blocks; that makes block-size ablations a
/// configuration change.
public protocol BlockSizePolicy: Sendable {
    /// Block size of each layer: `[layers]`, each a supported block size.
    func blockSizes(layers: Int, kvHeads: Int, headDim: Int) -> [Int]
}

extension BlockSizePolicy {
    /// The physical block size of the cache: the smallest per-layer size.
    public func physicalBlockSize(layers: Int, kvHeads: Int, headDim: Int) -> Int {
        blockSizes(layers: layers, kvHeads: kvHeads, headDim: headDim).min() ?? 16
    }
}
