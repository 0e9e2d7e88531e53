import BPETokenizer
import Foundation
import GGUF

/// The default model of the project, `models/SmolLM2-135M-Instruct.Q4_1.gguf` (git-ignored,
/// fetched by scripts/fetch-model.sh). Tests that need its vocabulary are skipped without it.
enum SmolLM2Model {
    static let path: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    /// Present, or required (`KVC_REQUIRE_MODEL=1`, as `make test` sets: a missing model then fails the tests).
    static var isAvailable: Bool {
        ProcessInfo.processInfo.environment["KVC_REQUIRE_MODEL"] == "1" || FileManager.default.fileExists(atPath: path)
    }

    /// The tokenizer as the GGUF file describes it (built once, shared by the tests).
    static func tokenizer() throws -> BPETokenizer {
        try fromFile.get()
    }

    /// The same vocabulary under another pre-tokenizer (as the fixture's re-packed GGUF copies).
    static func tokenizer(preTokenizer: String) throws -> BPETokenizer {
        guard let built = underOtherPreTokenizers[preTokenizer] else {
            return try build(preTokenizer: preTokenizer)
        }
        return try built.get()
    }

    private static let fromFile = Result { try BPETokenizer(gguf: GGUFFile(path: path)) }

    private static let underOtherPreTokenizers: [String: Result<BPETokenizer, any Error>] = Dictionary(
        uniqueKeysWithValues: ["gpt-2", "llama-bpe", "default"].map { name in
            (name, Result { try build(preTokenizer: name) })
        })

    private static func build(preTokenizer: String) throws -> BPETokenizer {
        let file = try GGUFFile(path: path)
        typealias Key = BPETokenizer.MetadataKey
        return try BPETokenizer(
            tokens: file.stringArray(Key.tokens), merges: file.stringArray(Key.merges),
            tokenTypes: file.intArray(Key.tokenTypes), bos: Int32(file.int(Key.bos)), eos: Int32(file.int(Key.eos)),
            preTokenizer: preTokenizer, chatTemplate: file.string(Key.chatTemplate), addBOS: false)
    }
}
