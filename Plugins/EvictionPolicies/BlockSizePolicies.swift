import KVCompress
import PagedKVCache

/// One block size for every layer. Option `size` (default 16, the reference's default).
public struct FixedBlockSize: BlockSizePolicy {
    public let size: Int
    public init(size: Int = 16) { self.size = size }
    init(options: OptionReader) throws {
        size = try options.int("size", default: 16)
        guard CacheLayout.supportedBlockSizes.contains(size) else {
            throw CompressionError.invalidOption(
                plugin: "fixed", key: "size",
                why: "block size \(size) is unsupported; choose one of \(CacheLayout.supportedBlockSizes.map(String.init).joined(separator: ", "))")
        }
    }
    public func blockSizes(layers: Int, kvHeads: Int, headDim: Int) -> [Int] { Array(repeating: size, count: layers) }
}

/// A block size per layer. Option `sizes`: comma-separated sizes, layer 0 first; the last one repeats
/// for the remaining layers (`"64,32,16"` gives layer 0 size 64, layer 1 size 32, every later layer 16).
/// The cache is built with the smallest; larger sizes evict in units of several physical blocks.
public struct PerLayerBlockSize: BlockSizePolicy {
    public let sizes: [Int]
    public init(sizes: [Int]) { self.sizes = sizes }
    init(options: OptionReader) throws {
        sizes = try options.intList("sizes", default: [16])
        for size in sizes where !CacheLayout.supportedBlockSizes.contains(size) {
            throw CompressionError.invalidOption(
                plugin: "per_layer", key: "sizes",
                why: "block size \(size) is unsupported; choose from \(CacheLayout.supportedBlockSizes.map(String.init).joined(separator: ", "))")
        }
    }
    public func blockSizes(layers: Int, kvHeads: Int, headDim: Int) -> [Int] {
        (0..<layers).map { sizes[min($0, sizes.count - 1)] }
    }
}
