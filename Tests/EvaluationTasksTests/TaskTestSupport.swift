import BPETokenizer
import EvaluationTasks
import Foundation
import GGUF
import KVCompress
import Testing

/// The tokenizers the task tests run on: SmolLM2's real byte-level BPE from the model file (needed:
/// lengths and evidence ranges are about real token ids), found where `scripts/fetch-model.sh` puts it.
/// Without the file the tests are skipped, unless `KVC_REQUIRE_MODEL=1` (CI, `make test`): then they fail.
enum TaskTestSupport {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let smolLM2Path = packageRoot.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    static var modelRequired: Bool { ProcessInfo.processInfo.environment["KVC_REQUIRE_MODEL"] == "1" }
    static var hasModel: Bool { modelRequired || FileManager.default.fileExists(atPath: smolLM2Path) }

    /// SmolLM2's tokenizer, loaded once.
    static let smolLM2: BPETokenizer = {
        do { return try BPETokenizer(gguf: try GGUFFile(path: smolLM2Path)) } catch {
            fatalError("cannot load the SmolLM2 tokenizer from \(smolLM2Path) (run scripts/fetch-model.sh): \(error)")
        }
    }()

    static let registry = TaskRegistry.withBuiltins()

    static func task(_ name: String, _ options: [String: OptionValue] = [:]) throws -> any EvaluationTask {
        try registry.makeTask(PluginSpec(name, options: options))
    }

    /// Occurrences of `needle` in `text`.
    static func occurrences(of needle: String, in text: String) -> Int {
        var count = 0, rest = text[...]
        while let r = rest.range(of: needle) {
            count += 1
            rest = rest[r.upperBound...]
        }
        return count
    }
}
