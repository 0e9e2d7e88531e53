import CKernels
import PagedKVCache

/// The C kernels of one (sequence, KV head) of decode attention (`CKernels/kvc_attention.h`): scaled
/// scores of the group's queries against every cached key, their softmax, and probability-weighted
/// sums of the cached values, read straight from the head's blocks (KV-Compress §3: each head has its
/// own block table and length). Three calls, so that the observer sees the exact probabilities
/// between the softmax and the value sum (§3.1).
///
/// Keys and values are read as the cache stores them (``HeadView/kvType``: half floats are widened
/// as they are loaded, so a half-float cache costs no conversion pass and half the memory traffic).
///
/// The instruction set is the one the quantized matrix products use (``QuantizedKernels/isa``), so
/// `KVC_KERNELS=portable` runs the whole forward pass on portable C.
enum DecodeAttentionKernels {
    /// Calls `body` with the blocks of `view` in logical order, in the kernels' form.
    static func withBlocks<Result>(of view: HeadView, _ body: (UnsafeBufferPointer<kvc_kv_block>) -> Result) -> Result {
        withUnsafeTemporaryAllocation(of: kvc_kv_block.self, capacity: view.filledBlockCount) { blocks in
            for b in 0..<view.filledBlockCount {
                blocks[b] = kvc_kv_block(
                    keys: view.keyStorage(block: b), values: view.valueStorage(block: b), count: Int32(view.count(inBlock: b)))
            }
            return body(UnsafeBufferPointer(blocks))
        }
    }

    /// Starts loading the first slots of a head that is computed next into L2 (the kernels prefetch
    /// ahead of themselves once running; a head's blocks are rarely in cache at decode).
    static func prefetch(_ view: HeadView) {
        withBlocks(of: view) { blocks in
            kvc_attention_prefetch(blocks.baseAddress, Int32(blocks.count), Int32(view.headDim), view.kvType.kernelType)
        }
    }

    /// scores[j, slot] = scale · queries[j] · key(slot), slots in logical order.
    /// - Parameters:
    ///   - queries: `[groupSize, headDim]`.
    ///   - blocks: the head's blocks; their counts sum to `length`.
    ///   - kvType: the element type of the blocks' keys.
    ///   - scores: `[groupSize, length]`.
    static func scores(
        queries: UnsafePointer<Float>, groupSize: Int, headDim: Int, blocks: UnsafeBufferPointer<kvc_kv_block>,
        kvType: KVStorageType, length: Int, scale: Float, into scores: UnsafeMutablePointer<Float>,
        isa: kvc_isa = QuantizedKernels.isa
    ) {
        kvc_attention_scores(
            queries, Int32(groupSize), Int32(headDim), blocks.baseAddress, Int32(blocks.count), kvType.kernelType,
            Int64(length), scale, scores, isa)
    }

    /// Each row of `scores` (`[groupSize, length]`) becomes its softmax, in place.
    static func softmax(
        _ scores: UnsafeMutablePointer<Float>, groupSize: Int, length: Int, isa: kvc_isa = QuantizedKernels.isa
    ) {
        kvc_attention_softmax(scores, Int32(groupSize), Int64(length), isa)
    }

    /// output[j] = Σ_slot probabilities[j, slot] · value(slot).
    /// - Parameters:
    ///   - probabilities: `[groupSize, length]`.
    ///   - blocks: the head's blocks; their counts sum to `length`.
    ///   - kvType: the element type of the blocks' values.
    ///   - output: `[groupSize, headDim]`.
    static func weightedValues(
        probabilities: UnsafePointer<Float>, groupSize: Int, headDim: Int, blocks: UnsafeBufferPointer<kvc_kv_block>,
        kvType: KVStorageType, length: Int, into output: UnsafeMutablePointer<Float>, isa: kvc_isa = QuantizedKernels.isa
    ) {
        kvc_attention_values(
            probabilities, Int32(groupSize), Int32(headDim), blocks.baseAddress, Int32(blocks.count), kvType.kernelType,
            Int64(length), output, isa)
    }
}
