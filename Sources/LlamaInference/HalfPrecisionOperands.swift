import CKernels

/// The float32 operands of attention's products with a float16 cache, rounded to float16 as
/// llama.cpp's CPU backend rounds them.
///
/// ggml multiplies a float16 matrix by a float32 one by first converting the float32 operand to
/// float16 (`vec_dot_type` of `GGML_TYPE_F16` is F16; `ggml_compute_forward_mul_mat`), and without
/// flash attention llama.cpp computes attention as two such products (`build_attn_mha` in
/// llama-graph.cpp): the queries against the float16 keys, then the softmax probabilities against the
/// float16 values. With a float16 cache, attention here rounds the queries and the probabilities the
/// same way (round to nearest even), so that the two engines differ only in the order of their float
/// additions. The observer still sees the probabilities before this rounding.
enum HalfPrecisionOperands {
    /// x[i] = Float(Float16(x[i])) for i < count. x: `[count]`.
    static func round(_ x: UnsafeMutablePointer<Float>, count: Int, isa: kvc_isa = QuantizedKernels.isa) {
        kvc_round_to_halves(x, Int64(count), isa)
    }
}
