import BPETokenizer
import Foundation

/// The default model of the project, `models/SmolLM2-135M-Instruct.Q4_1.gguf` (git-ignored,
/// fetched by scripts/fetch-model.sh). Tests that need its vocabulary are skipped without it.
enum SmolLM2Model {
    static let path: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    static var isAvailable: Bool { FileManager.default.fileExists(atPath: vocabularyPath) }

    // Temporary until the GGUF reader lands: the vocabulary exported to JSON.
    static let vocabularyPath = "/tmp/tok/vocab.json"
    struct Vocabulary: Decodable {
        let tokens: [String]
        let merges: [String]
        let types: [Int]
        let template: String
    }
    static let vocabulary: Vocabulary? = {
        guard let data = FileManager.default.contents(atPath: vocabularyPath) else { return nil }
        return try? JSONDecoder().decode(Vocabulary.self, from: data)
    }()

    /// The tokenizer as the GGUF file describes it.
    static func tokenizer() throws -> BPETokenizer {
        try tokenizer(preTokenizer: "smollm")
    }

    /// The same vocabulary under another pre-tokenizer (as the fixture's re-packed GGUF copies).
    static func tokenizer(preTokenizer: String) throws -> BPETokenizer {
        guard let vocabulary else { throw FixtureMissing(name: vocabularyPath) }
        return try BPETokenizer(
            tokens: vocabulary.tokens, merges: vocabulary.merges, tokenTypes: vocabulary.types, bos: 1, eos: 2,
            preTokenizer: preTokenizer, chatTemplate: vocabulary.template, addBOS: false)
    }
}
