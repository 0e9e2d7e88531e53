import Foundation
import Testing

import GGUF

/// The default model (SmolLM2-135M-Instruct, Q4_1) against smollm2-reference.json, which gguf-py
/// computed from the same file (scripts/reference/make_gguf_fixtures.py --model ...).
/// Without the model these tests fail, telling to run scripts/fetch-model.sh.
@Suite(.serialized) struct RealModelTests {
    struct Reference: Decodable {
        struct Tensor: Decodable {
            let name: String
            let type: String
            let dimensions: [Int]
            let offset: Int
        }
        struct Checksum: Decodable {
            let name: String
            let type: String
            let count: Int
            let sum: Double
            let sumOfSquares: Double
            let first: [Float]
            let last: Float
        }
        let version: UInt32
        let alignment: Int
        let dataOffset: Int
        let metadataCount: Int
        let tensors: [Tensor]
        let checksums: [Checksum]
    }

    let file: GGUFFile
    let reference: Reference

    init() throws {
        file = try GGUFFile(path: TestSupport.modelPath())
        let json = try Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("smollm2-reference.json")))
        reference = try JSONDecoder().decode(Reference.self, from: json)
    }

    @Test func headerAndLlamaHyperparameters() throws {
        #expect(file.version == reference.version)
        #expect(file.alignment == reference.alignment)
        #expect(file.dataOffset == reference.dataOffset)
        #expect(file.metadata.count == reference.metadataCount)
        #expect(try file.string("general.architecture") == "llama")
        #expect(try file.int("llama.block_count") == 30)
        #expect(try file.int("llama.attention.head_count") == 9)
        #expect(try file.int("llama.attention.head_count_kv") == 3)
        #expect(try file.int("llama.context_length") == 8192)
        #expect(try file.int("llama.embedding_length") == 576)
        #expect(try file.float("llama.attention.layer_norm_rms_epsilon") > 0)
        #expect(file.description.hasSuffix("33 metadata keys, 272 tensors (F32 ×61, Q4_1 ×210, Q8_0 ×1), 98362432 bytes"))
    }

    @Test func tokenizerArraysArePresent() throws {
        let tokens = try file.stringArray("tokenizer.ggml.tokens")
        #expect(tokens.count == 49152)
        #expect(try file.intArray("tokenizer.ggml.token_type").count == tokens.count)
        #expect(try file.stringArray("tokenizer.ggml.merges").count > 40000)
        #expect(try file.string("tokenizer.ggml.model") == "gpt2")
        let bos = try file.int("tokenizer.ggml.bos_token_id")
        #expect(tokens.indices.contains(bos))
    }

    @Test func tensorTableMatchesGGUFPy() throws {
        #expect(file.tensors.count == reference.tensors.count)
        for (actual, expected) in zip(file.tensors, reference.tensors) {
            #expect(actual.name == expected.name)
            #expect(actual.type.description == expected.type, "\(actual.name)")
            #expect(actual.dimensions == expected.dimensions, "\(actual.name)")
            #expect(actual.offset == expected.offset, "\(actual.name)")
        }
    }

    @Test func dequantizedTensorsMatchGGUFPyChecksums() throws {
        for checksum in reference.checksums {
            let tensor = try file.tensorInfo(named: checksum.name)
            #expect(tensor.type.description == checksum.type)
            let values = try file.dequantize(tensor)
            #expect(values.count == checksum.count)
            #expect(Array(values.prefix(8)) == checksum.first, "\(checksum.name)")
            #expect(values.last == checksum.last, "\(checksum.name)")
            var sum = 0.0
            var sumOfSquares = 0.0
            for value in values {
                sum += Double(value)
                sumOfSquares += Double(value) * Double(value)
            }
            // Only the summation order differs from numpy's pairwise sum.
            #expect(abs(sum - checksum.sum) <= 1e-9 * max(1, sumOfSquares), "\(checksum.name): \(sum) vs \(checksum.sum)")
            #expect(abs(sumOfSquares - checksum.sumOfSquares) <= 1e-9 * sumOfSquares, "\(checksum.name)")
        }
    }

    @Test func rowsOfATensorMatchTheWholeTensor() throws {
        let embeddings = try file.tensorInfo(named: "token_embd.weight")
        let width = embeddings.dimensions[0]
        let whole = try file.dequantize(embeddings)
        for rows in [0..<1, 17..<20, (embeddings.rowCount - 2)..<embeddings.rowCount, 5..<5] {
            let part = try file.dequantize(embeddings, rows: rows)
            #expect(part == Array(whole[(rows.lowerBound * width)..<(rows.upperBound * width)]), "\(rows)")
        }
        let beyond = TestSupport.error { () throws(GGUFError) in try file.dequantize(embeddings, rows: 49150..<49153) }
        #expect(beyond?.description.contains("49152 rows") == true)
    }

    /// Opening the model and dequantizing every tensor takes well under a second in optimized
    /// builds (measured about 0.2 s on 2 cores); debug builds are not meant to be fast.
    @Test(.enabled(if: !RealModelTests.isDebugBuild, "timing only means something in release builds"))
    func loadingTheWholeModelIsFast() throws {
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            let model = try GGUFFile(path: file.path)
            for tensor in model.tensors { _ = try model.dequantize(tensor) }
        }
        #expect(elapsed < .seconds(1), "loading took \(elapsed)")
    }

    static var isDebugBuild: Bool {
        #if DEBUG
        true
        #else
        false
        #endif
    }

    @Test func everyTensorOfTheModelDequantizes() throws {
        var total = 0
        for tensor in file.tensors {
            let values = try file.dequantize(tensor)
            #expect(values.count == tensor.elementCount)
            let nonFinite = values.count { !$0.isFinite }
            #expect(nonFinite == 0, "\(tensor.name)")
            total += values.count
        }
        #expect(total > 130_000_000)
    }
}
