import Synchronization
import Testing

@testable import LlamaInference

/// Records what a prefill traces, for the tests.
private final class RecordingTrace: ForwardTrace {
    let tensors = Mutex<[String: (rows: Int, width: Int, values: [Float])]>([:])

    func record(_ name: String, _ values: UnsafePointer<Float>, rows: Int, width: Int) {
        let copy = Array(UnsafeBufferPointer(start: values, count: rows * width))
        tensors.withLock { $0[name] = (rows, width, copy) }
    }
}

@Suite("Forward trace: a prefill's intermediate tensors under llama.cpp's names")
struct ForwardTraceTests {
    static let prompt = randomTokens(29, seed: 5)

    @Test("every layer is traced, with its shapes, and the residual stream equals the dense reference")
    func traceMatchesReference() throws {
        let trace = RecordingTrace()
        let cache = try makeCache(blockSize: 16, tokens: Self.prompt.count)
        let logits = try tinyModel.prefill(Self.prompt, sequence: cache.addSequence(), cache: cache, allLogits: true, trace: trace)
        let reference = ReferenceLlama(model: tinyModel).forward(Self.prompt)
        let c = tinyConfiguration, n = Self.prompt.count
        let tensors = trace.tensors.withLock { $0 }
        for layer in 0..<c.layers {
            for (name, width) in [("attn_norm", c.hiddenSize), ("kqv_out", c.queryWidth), ("ffn_norm", c.hiddenSize), ("l_out", c.hiddenSize)] {
                let tensor = try #require(tensors["\(name)-\(layer)"], "\(name)-\(layer) not traced")
                #expect(tensor.rows == n && tensor.width == width, "\(name)-\(layer): \(tensor.rows)×\(tensor.width)")
            }
            let traced = try #require(tensors["l_out-\(layer)"]).values
            #expect(maxDifference(traced, reference.layerOutputs[layer].flatMap { $0 }) < 1e-4, "l_out-\(layer)")
        }
        // Tracing observes; it changes nothing.
        let plainCache = try makeCache(blockSize: 16, tokens: n)
        let plain = try tinyModel.prefill(Self.prompt, sequence: plainCache.addSequence(), cache: plainCache, allLogits: true)
        #expect(plain == logits)
    }
}
