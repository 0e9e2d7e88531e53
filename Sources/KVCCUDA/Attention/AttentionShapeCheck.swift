import PagedKVCache

/// Shape checks of the attention launchers and their CPU references, done on element counts alone
/// before any driver call, so that a wrong shape is a clear ``CUDAError/invalidArgument(_:)`` on any
/// machine (with or without a GPU) rather than a kernel reading out of bounds.
public enum AttentionShapeCheck {
    /// Largest GQA group the kernels' register accumulators hold (`KVC_MAX_GROUP` in attention.cu).
    public static let maxGroupSize = 16
    /// Largest grid y/z dimension: sequences of a decode batch and query heads of a window.
    static let maxGridYZ = 65_535

    /// `kvc_append_kv`: keys and values `[count, kvHeads, headDim]`, positions `[count]`, slot mapping
    /// `[count, kvHeads]`.
    public static func append(
        layout: CacheLayout, count: Int, keys: Int, values: Int, positions: Int, slotMapping: Int
    ) throws(CUDAError) {
        let what = "append KV"
        guard count >= 0 else { throw .invalidArgument("\(what): token count \(count) is negative") }
        let kv = count * layout.kvHeads * layout.headDim
        let shape = "[\(count) tokens, \(layout.kvHeads) KV heads, \(layout.headDim) dims]"
        try expect(keys, kv, "\(what): keys", shape)
        try expect(values, kv, "\(what): values", shape)
        try expect(positions, count, "\(what): positions", "[\(count) tokens]")
        try expect(slotMapping, count * layout.kvHeads, "\(what): slot mapping", "[\(count) tokens, \(layout.kvHeads) KV heads]")
    }

    /// `kvc_decode_attention`: queries and output `[sequences, kvHeads · groupSize, headDim]`, query
    /// positions `[sequences]`, for `layer` of a cache holding the tables of `sequenceCount` sequences.
    public static func decode(
        layout: CacheLayout, sequenceCount: Int, layer: Int, groupSize: Int, queries: Int, output: Int,
        queryPositions: Int, metricBuffer: Int
    ) throws(CUDAError) {
        let what = "decode attention"
        try common(what, layout: layout, layer: layer, groupSize: groupSize)
        guard sequenceCount > 0 else {
            throw .invalidArgument("\(what): the device cache holds no sequence tables; upload the batch's tables first")
        }
        guard sequenceCount <= maxGridYZ else {
            throw .invalidArgument("\(what): \(sequenceCount) sequences exceed the \(maxGridYZ) one launch can take")
        }
        guard metricBuffer >= 0 else { throw .invalidArgument("\(what): metric buffer \(metricBuffer) is negative") }
        let qHeads = layout.kvHeads * groupSize
        let shape = "[\(sequenceCount) sequences, \(qHeads) query heads, \(layout.headDim) dims]"
        try expect(queries, sequenceCount * qHeads * layout.headDim, "\(what): queries", shape)
        try expect(output, sequenceCount * qHeads * layout.headDim, "\(what): output", shape)
        try expect(queryPositions, sequenceCount, "\(what): query positions", "[\(sequenceCount) sequences]")
    }

    /// `kvc_window_metric`: the window's queries `[window, kvHeads · groupSize, headDim]` and positions
    /// `[window]` of sequence `sequenceIndex` (its place in the device tables) and `layer`.
    public static func window(
        layout: CacheLayout, sequenceCount: Int, sequenceIndex: Int, layer: Int, groupSize: Int, window: Int,
        queries: Int, queryPositions: Int, metricMode: AttentionMetricMode, buffer: Int, poolKernel: Int
    ) throws(CUDAError) {
        let what = "window metric"
        try common(what, layout: layout, layer: layer, groupSize: groupSize)
        guard (0..<sequenceCount).contains(sequenceIndex) else {
            throw .invalidArgument(
                "\(what): sequence index \(sequenceIndex) is outside the \(sequenceCount) sequences whose tables are on the device")
        }
        guard window > 0 else { throw .invalidArgument("\(what): the window must hold at least one query (got \(window))") }
        guard metricMode != .none else { throw .invalidArgument("\(what): metric mode must be L1 or L2, not none") }
        guard buffer >= 0 else { throw .invalidArgument("\(what): buffer \(buffer) is negative") }
        guard poolKernel >= 0 else { throw .invalidArgument("\(what): pool kernel \(poolKernel) is negative") }
        let qHeads = layout.kvHeads * groupSize
        guard qHeads <= maxGridYZ else { throw .invalidArgument("\(what): \(qHeads) query heads exceed \(maxGridYZ)") }
        try expect(
            queries, window * qHeads * layout.headDim, "\(what): queries",
            "[\(window) window queries, \(qHeads) query heads, \(layout.headDim) dims]")
        try expect(queryPositions, window, "\(what): query positions", "[\(window) window queries]")
    }

    private static func common(_ what: String, layout: CacheLayout, layer: Int, groupSize: Int) throws(CUDAError) {
        guard (0..<layout.layers).contains(layer) else {
            throw .invalidArgument("\(what): layer \(layer) is outside 0..<\(layout.layers)")
        }
        guard (1...maxGroupSize).contains(groupSize) else {
            throw .invalidArgument("\(what): group size \(groupSize) (query heads per KV head) must be in 1...\(maxGroupSize)")
        }
    }

    private static func expect(_ count: Int, _ expected: Int, _ name: String, _ shape: String) throws(CUDAError) {
        guard count == expected else {
            throw .invalidArgument("\(name) hold \(count) elements, expected \(shape) = \(expected)")
        }
    }
}
