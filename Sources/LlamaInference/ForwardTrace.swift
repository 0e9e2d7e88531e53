/// Receives intermediate tensors of a prefill, to compare the forward pass with another engine's
/// layer by layer (`kvc logits --trace`, `Experiments/fidelity/compare_trace.py` against llama.cpp's
/// own tensors from its `cb_eval` callback).
///
/// Names are llama.cpp's graph names with the layer appended: `attn_norm-L` (the normed input of
/// layer L's attention, `[rows, hiddenSize]`), `kqv_out-L` (attention output before the output
/// projection, `[rows, queryWidth]`), `ffn_norm-L` (`[rows, hiddenSize]`), `ffn_out-L` (Gemma 3: the
/// FFN's down projection before its post-norm) and `l_out-L` (the residual stream after the layer).
public protocol ForwardTrace: Sendable {
    /// `values`: `[rows, width]`, row-major, valid only during the call.
    func record(_ name: String, _ values: UnsafePointer<Float>, rows: Int, width: Int)
}
