import EvictionPolicies
import KVCompress
import PagedKVCache

/// The registry every baseline test uses: KV-Compress's built-ins plus the baselines, registered as a user would.
let baselineRegistry = PluginRegistry.withAllPlugins()

/// The baseline called `name` (a test bug, not a user error, if it does not exist).
func baselineMethod(_ name: String) -> CompressionMethod {
    guard let method = CompressionMethod.named(name) else { preconditionFailure("no method \(name)") }
    return method
}

/// A freshly prefilled cache of one sequence: every head holds positions `0..<length` in slot order,
/// with the given metric and key per (layer, head, position); values are zero.
struct PrefilledCache {
    let cache: PagedKVCache
    let sequence: SequenceID
    var layout: CacheLayout { cache.layout }

    init(
        layers: Int, kvHeads: Int, headDim: Int = 2, blockSize: Int, length: Int,
        metric: (_ layer: Int, _ head: Int, _ position: Int) -> Float,
        key: (_ layer: Int, _ head: Int, _ position: Int) -> [Float] = { _, _, _ in [] }
    ) throws {
        let layout = try CacheLayout(layers: layers, kvHeads: kvHeads, headDim: headDim, blockSize: blockSize)
        cache = try PagedKVCache(layout: layout, capacityBlocks: layout.headCount * layout.blocks(forTokens: length))
        sequence = cache.addSequence()
        try cache.reserve(sequence, tokens: length)
        for layer in 0..<layers {
            // keys: [length, kvHeads, headDim]
            var keys = [Float](repeating: 0, count: length * kvHeads * headDim)
            for p in 0..<length {
                for h in 0..<kvHeads {
                    let k = key(layer, h, p)
                    for j in 0..<min(k.count, headDim) { keys[(p * kvHeads + h) * headDim + j] = k[j] }
                }
            }
            let values = [Float](repeating: 0, count: keys.count)
            cache.append(sequence, layer: layer, count: length, keys: keys, values: values, positions: (0..<Int32(length)).map { $0 })
            for h in 0..<kvHeads {
                let view = cache.view(sequence, layer: layer, head: h)
                for p in 0..<length { view.metric(p).pointee = metric(layer, h, p) }
            }
        }
        cache.advance(sequence, by: length)
    }

    /// Compresses once with `configuration` and returns the report.
    @discardableResult
    func compress(_ configuration: CompressionConfiguration) throws -> CompressionReport {
        try Compressor(configuration: configuration, registry: baselineRegistry).compress(sequence, cache: cache, trigger: .manual)
    }

    /// Token positions head (layer, head) holds, ascending.
    func keptPositions(layer: Int, head: Int) -> [Int] {
        let view = cache.view(sequence, layer: layer, head: head)
        return (0..<view.length).map { Int(view.position($0)) }.sorted()
    }

    /// KVs each head holds: `[layers * kvHeads]`.
    var lengths: [Int] { cache.contextLengths(sequence) }
}

/// A configuration running `policy` with the given metric and window on a fixed block size.
func baselineConfiguration(
    _ method: CompressionMethod, budget: CompressionBudget, protectedWindow: Int, sinks: Int = 0, blockSize: Int
) -> CompressionConfiguration {
    method.configuration(
        budget: budget, blockSize: PluginSpec("fixed", options: ["size": .int(blockSize)]), protectedWindow: protectedWindow,
        sinks: sinks)
}
