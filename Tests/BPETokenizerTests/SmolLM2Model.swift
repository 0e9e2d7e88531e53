import BPETokenizer
import Foundation
import GGUF

/// The default model of the project, `models/SmolLM2-135M-Instruct.Q4_1.gguf` (git-ignored,
/// fetched by scripts/fetch-model.sh). Tests that need its vocabulary are skipped without it.
enum SmolLM2Model {
    static let path: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    static var isAvailable: Bool { FileManager.default.fileExists(atPath: path) }

    /// The tokenizer as the GGUF file describes it.
    static func tokenizer() throws -> BPETokenizer {
        try BPETokenizer(gguf: GGUFFile(path: path))
    }

    /// The same vocabulary under another pre-tokenizer (as the fixture's re-packed GGUF copies).
    static func tokenizer(preTokenizer: String) throws -> BPETokenizer {
        let file = try GGUFFile(path: path)
        typealias Key = BPETokenizer.MetadataKey
        return try BPETokenizer(
            tokens: file.stringArray(Key.tokens), merges: file.stringArray(Key.merges),
            tokenTypes: file.intArray(Key.tokenTypes), bos: Int32(file.int(Key.bos)), eos: Int32(file.int(Key.eos)),
            preTokenizer: preTokenizer, chatTemplate: file.string(Key.chatTemplate), addBOS: false)
    }
}
