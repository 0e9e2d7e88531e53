import BPETokenizer
import Foundation
import LlamaInference

/// What the evaluation tests share: a real byte-level BPE tokenizer (GPT-2's byte alphabet, no merges,
/// one `<|endoftext|>` control token), so every byte is one token and lengths are easy to reason about,
/// and the SmolLM2 model file when it is there.
enum EvaluationSupport {
    /// GPT-2's byte-to-character alphabet: printable bytes stand for themselves, the others for 256 + n.
    static let byteAlphabet: [String] = {
        let printable = Array(33...126) + Array(161...172) + Array(174...255)
        var next = 256
        return (0..<256).map { byte in
            if printable.contains(byte) { return String(UnicodeScalar(UInt8(byte))) }
            defer { next += 1 }
            return String(UnicodeScalar(UInt32(next))!)
        }
    }()

    static let byteTokenizer: BPETokenizer = try! BPETokenizer(
        tokens: byteAlphabet + ["<|endoftext|>"], merges: [], tokenTypes: Array(repeating: 1, count: 256) + [3], bos: nil, eos: 256,
        preTokenizer: "gpt-2", chatTemplate: nil, addBOS: false)

    /// The package root: `<root>/Tests/KVCompressTests/EvaluationSupport.swift`.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let smolLM2Path = packageRoot.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    /// Present, or required (`KVC_REQUIRE_MODEL=1`, as `make test` sets: a missing model then fails the tests).
    static var hasSmolLM2: Bool {
        ProcessInfo.processInfo.environment["KVC_REQUIRE_MODEL"] == "1" || FileManager.default.fileExists(atPath: smolLM2Path)
    }

    static let corpusPath = packageRoot.appendingPathComponent("Sources/EvaluationTasks/Resources/python-reference-prose.txt").path

    /// A fresh directory for one test's files, removed by the caller.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kvc-evaluation-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
