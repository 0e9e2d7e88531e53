/// Shape of a paged KV cache.
///
/// KV-Compress layout (paper §3, "Cache layout"): one block holds `blockSize` KVs of ONE KV head of
/// ONE layer of one sequence, so block tables and context lengths exist per (layer, sequence, KV head)
/// and every head may keep a different number of KVs.
public struct CacheLayout: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Block sizes the cache supports (powers of two up to 64).
    public static let supportedBlockSizes = [1, 2, 4, 8, 16, 32, 64]

    public let layers: Int
    public let kvHeads: Int
    public let headDim: Int
    public let blockSize: Int
    /// Element type of the stored keys and values (half floats by default).
    public let kvType: KVStorageType

    public init(
        layers: Int, kvHeads: Int, headDim: Int, blockSize: Int = 16, kvType: KVStorageType = .default
    ) throws(KVCacheError) {
        guard Self.supportedBlockSizes.contains(blockSize) else { throw .unsupportedBlockSize(blockSize) }
        guard layers > 0, kvHeads > 0, headDim > 0 else {
            throw .invalidLayout("layers, kvHeads and headDim must be positive (got \(layers), \(kvHeads), \(headDim))")
        }
        self.layers = layers
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.blockSize = blockSize
        self.kvType = kvType
    }

    /// The same shape with keys and values stored as `kvType`.
    public func with(kvType: KVStorageType) -> CacheLayout {
        // Validated already: only the element type changes.
        try! CacheLayout(layers: layers, kvHeads: kvHeads, headDim: headDim, blockSize: blockSize, kvType: kvType)
    }

    enum CodingKeys: String, CodingKey {
        case layers, kvHeads, headDim, blockSize, kvType
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // A layout recorded before the KV type existed described a float32 cache.
        try self.init(
            layers: c.decode(Int.self, forKey: .layers), kvHeads: c.decode(Int.self, forKey: .kvHeads),
            headDim: c.decode(Int.self, forKey: .headDim), blockSize: c.decode(Int.self, forKey: .blockSize),
            kvType: c.decodeIfPresent(KVStorageType.self, forKey: .kvType) ?? .f32)
    }

    /// Number of (layer, KV head) pairs; each has its own block table.
    public var headCount: Int { layers * kvHeads }

    /// Bytes one block occupies: K and V (`kvType` elements) plus a float metric and an int32 position
    /// per slot. With half floats a pool of a given size holds about twice the blocks.
    public var bytesPerBlock: Int { blockSize * (2 * headDim * kvType.bytesPerElement + 4 + 4) }

    /// Blocks needed to hold `tokens` KVs of one head.
    @inlinable public func blocks(forTokens tokens: Int) -> Int { (tokens + blockSize - 1) / blockSize }

    public var description: String {
        "\(layers) layers × \(kvHeads) KV heads × \(headDim) dims, block size \(blockSize), \(kvType) KVs"
    }
}

/// Identifies one sequence in a cache.
public struct SequenceID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "seq\(rawValue)" }
}

/// Failures of the paged cache, each naming its cause.
public enum KVCacheError: Error, Equatable, CustomStringConvertible {
    case unsupportedBlockSize(Int)
    case invalidLayout(String)
    case outOfBlocks(needed: Int, free: Int, capacity: Int)
    case unknownSequence(SequenceID)
    case invalidLength(String)

    public var description: String {
        switch self {
        case .unsupportedBlockSize(let b):
            "unsupported block size \(b); choose one of \(CacheLayout.supportedBlockSizes.map(String.init).joined(separator: ", "))"
        case .invalidLayout(let why): "invalid cache layout: \(why)"
        case let .outOfBlocks(needed, free, capacity):
            "KV cache out of blocks: \(needed) more needed, \(free) free of \(capacity); raise the cache size or compress"
        case .unknownSequence(let s): "unknown sequence \(s)"
        case .invalidLength(let why): "invalid context length: \(why)"
        }
    }
}
