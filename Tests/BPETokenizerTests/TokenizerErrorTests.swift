@testable import BPETokenizer
import Foundation
import GGUF
import Testing

/// Every malformed input gives an error naming the key or value at fault.
struct TokenizerErrorTests {
    @Test func arrayInputsAreValidated() {
        let tokens = (0..<256).map { String(ByteLevelAlphabet.characterForByte[$0]) }
        #expect(throws: BPETokenizerError.unknownPreTokenizer("nope")) {
            try BPETokenizer(tokens: tokens, merges: [], tokenTypes: [], bos: nil, eos: 0, preTokenizer: "nope",
                             chatTemplate: nil, addBOS: false)
        }
        #expect(throws: BPETokenizerError.duplicateToken(text: "a", firstID: 97, secondID: 256)) {
            try BPETokenizer(tokens: tokens + ["a"], merges: [], tokenTypes: [], bos: nil, eos: 0,
                             preTokenizer: "gpt-2", chatTemplate: nil, addBOS: false)
        }
        #expect(throws: BPETokenizerError.self) {
            try BPETokenizer(tokens: tokens, merges: [], tokenTypes: [1, 1], bos: nil, eos: 0, preTokenizer: "gpt-2",
                             chatTemplate: nil, addBOS: false)
        }
        #expect(throws: BPETokenizerError.self) {
            try BPETokenizer(tokens: tokens, merges: [], tokenTypes: [], bos: 999, eos: 0, preTokenizer: "gpt-2",
                             chatTemplate: nil, addBOS: false)
        }
        #expect(throws: BPETokenizerError.self) {
            try BPETokenizer(tokens: tokens, merges: [], tokenTypes: [], bos: nil, eos: 0, preTokenizer: "gpt-2",
                             chatTemplate: nil, addBOS: true)
        }
        #expect(throws: BPETokenizerError.self) {
            try BPETokenizer(tokens: [], merges: [], tokenTypes: [], bos: nil, eos: 0, preTokenizer: "gpt-2",
                             chatTemplate: nil, addBOS: false)
        }
    }

    /// A metadata-only GGUF file holding a small vocabulary, with `edit` applied to the metadata.
    private func ggufFile(_ edit: (inout [String: GGUFValue]) -> Void) throws -> GGUFFile {
        var metadata: [String: GGUFValue] = [
            "general.architecture": .string("llama"),
            "tokenizer.ggml.model": .string("gpt2"),
            "tokenizer.ggml.pre": .string("smollm"),
            "tokenizer.ggml.tokens": .array((0..<256).map { .string(String(ByteLevelAlphabet.characterForByte[$0])) }
                + [.string("<|im_end|>")]),
            "tokenizer.ggml.token_type": .array(Array(repeating: .int32(1), count: 256) + [.int32(3)]),
            "tokenizer.ggml.merges": .array([.string("a b")]),
            "tokenizer.ggml.eos_token_id": .uint32(256),
        ]
        edit(&metadata)
        var writer = GGUFWriter()
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) { writer.set(key, value) }
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("bpe-tokenizer-test-\(UUID().uuidString).gguf").path
        try writer.write(to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try GGUFFile(path: path)
    }

    @Test func aValidMetadataOnlyFileLoads() throws {
        let tokenizer = try BPETokenizer(gguf: ggufFile { _ in })
        #expect(tokenizer.vocabularySize == 257)
        #expect(tokenizer.eosID == 256 && tokenizer.bosID == nil)
        #expect(tokenizer.endOfTurnIDs == [256])
        #expect(tokenizer.preTokenizer.name == "smollm")
        #expect(tokenizer.encode("ab<|im_end|>", parseSpecial: true) == [97, 98, 256])
    }

    @Test(arguments: ["tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.merges",
                      "tokenizer.ggml.eos_token_id"])
    func missingRequiredKeysAreNamed(key: String) throws {
        let file = try ggufFile { $0[key] = nil }
        #expect(throws: BPETokenizerError.missingMetadata(key: key)) { try BPETokenizer(gguf: file) }
    }

    @Test func wronglyTypedKeysAreNamed() throws {
        let file = try ggufFile { $0["tokenizer.ggml.tokens"] = .uint32(3) }
        let error = #expect(throws: BPETokenizerError.self) { try BPETokenizer(gguf: file) }
        guard case .invalidMetadata(let key, _) = error else {
            Issue.record("expected invalidMetadata, got \(String(describing: error))")
            return
        }
        #expect(key == "tokenizer.ggml.tokens")
    }

    @Test func otherTokenizerModelsAreRefused() throws {
        let file = try ggufFile { $0["tokenizer.ggml.model"] = .string("llama") }
        #expect(throws: BPETokenizerError.unsupportedTokenizerModel("llama")) { try BPETokenizer(gguf: file) }
    }

    @Test func unknownPreTokenizerInTheFileIsNamed() throws {
        let file = try ggufFile { $0["tokenizer.ggml.pre"] = .string("mystery-bpe") }
        #expect(throws: BPETokenizerError.unknownPreTokenizer("mystery-bpe")) { try BPETokenizer(gguf: file) }
    }

    @Test func missingPreTokenizerMeansDefaultAsInLlamaCpp() throws {
        let tokenizer = try BPETokenizer(gguf: ggufFile { $0["tokenizer.ggml.pre"] = nil })
        #expect(tokenizer.preTokenizer.name == "default")
    }

    @Test func outOfRangeTokenIDsAreNamed() throws {
        let file = try ggufFile { $0["tokenizer.ggml.bos_token_id"] = .uint32(5000) }
        let error = #expect(throws: BPETokenizerError.self) { try BPETokenizer(gguf: file) }
        #expect(error?.description.contains("tokenizer.ggml.bos_token_id") == true)
    }

    @Test func llama3DefaultsToAddingBOS() throws {
        let tokenizer = try BPETokenizer(gguf: ggufFile {
            $0["tokenizer.ggml.pre"] = .string("llama-bpe")
            $0["tokenizer.ggml.bos_token_id"] = .uint32(97)
        })
        #expect(tokenizer.addsBOSByDefault)
        #expect(tokenizer.encode("x").first == 97)
    }
}
