/// Read-only views of the weights for analysis and for scorers that weigh a KV by what it contributes
/// after attention (CriticalKV's ‖W_O v‖).
extension LlamaModel {
    /// The attention output projection of `layer`, dequantized: `[hiddenSize, queryWidth]` row-major;
    /// columns `q · headDim ..< (q + 1) · headDim` act on query head q's attention output.
    public func attentionOutputMatrix(layer: Int) -> [Float] {
        precondition((0..<configuration.layers).contains(layer), "layer \(layer) out of 0..<\(configuration.layers)")
        return weights.layers[layer].attentionOutput.values()
    }
}
