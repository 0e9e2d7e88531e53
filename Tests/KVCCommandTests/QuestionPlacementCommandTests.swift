import Foundation
import Testing

/// `kvc generate|compress --question-file Q [--query-agnostic]` on the default model: aware placement
/// is the plain prompt DOC+Q; agnostic compresses the document before reading the question.
@Suite(.serialized, .enabled(if: KVCProcess.modelIsAvailable, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-model.sh)"))
struct QuestionPlacementCommandTests {
    static let document = String(repeating: "The grass is green. The sky is blue. ", count: 12) + "\nThe pass key is 48213. Remember it.\n"
        + String(repeating: "Here we go. There and back again. ", count: 12)
    static let question = "\nWhat is the pass key? The pass key is"

    func files() throws -> (ScratchDirectory, document: String, question: String, joined: String) {
        let directory = try ScratchDirectory()
        let paths = (directory.path("doc.txt"), directory.path("q.txt"), directory.path("doc+q.txt"))
        try Self.document.write(toFile: paths.0, atomically: true, encoding: .utf8)
        try Self.question.write(toFile: paths.1, atomically: true, encoding: .utf8)
        try (Self.document + Self.question).write(toFile: paths.2, atomically: true, encoding: .utf8)
        return (directory, paths.0, paths.1, paths.2)
    }

    @Test func awarePlacementIsThePlainPrompt() throws {
        let (directory, document, question, joined) = try files()
        defer { withExtendedLifetime(directory) {} }
        let common = ["generate", "--max-tokens", "6", "--rate", "4", "--compression", "kvcompress"]
        let placed = try KVCProcess.run(common + ["--prompt-file", document, "--question-file", question])
        let plain = try KVCProcess.run(common + ["--prompt-file", joined])
        #expect(placed.status == 0, "stderr: \(placed.stderr)")
        #expect(placed.stdout == plain.stdout)
        #expect(placed.stdout.contains("48213"))
    }

    @Test func agnosticPlacementCompressesTheDocumentAlone() throws {
        let (directory, document, question, _) = try files()
        let stats = directory.path("stats.json")
        let full = try KVCProcess.run(["generate", "--max-tokens", "6", "--prompt-file", document, "--question-file", question, "--query-agnostic"])
        #expect(full.status == 0, "stderr: \(full.stderr)")
        #expect(full.stdout.contains("48213"))
        let compressed = try KVCProcess.run([
            "generate", "--max-tokens", "6", "--prompt-file", document, "--question-file", question, "--query-agnostic", "--rate", "2",
            "--compression", "kvcompress", "--stats-json", stats,
        ])
        #expect(compressed.status == 0, "stderr: \(compressed.stderr)")
        #expect(compressed.stderr.contains("query-agnostic"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as? [String: Any])
        let documentTokens = try #require(Int(compressed.stderr.components(separatedBy: "query-agnostic: ")[1].split(separator: " ")[0]))
        // The compression after the prefill saw the document's tokens only: its report's length.
        let compression = try #require((json["compression"] as? [String: Any])?["statistics"] as? [String: Any])
        #expect(compression["compressions"] as? Int == 1)
        #expect(compressed.stderr.contains("seq 0 (after_prefill): \(documentTokens) tokens"))
    }

    @Test func emptyOrMisplacedQuestionsAreClearErrors() throws {
        let (directory, document, _, _) = try files()
        let empty = directory.path("empty.txt")
        try "".write(toFile: empty, atomically: true, encoding: .utf8)
        let outcome = try KVCProcess.run(["generate", "--prompt-file", document, "--question-file", empty, "--max-tokens", "2"])
        #expect(outcome.status != 0)
        #expect(outcome.stderr.contains("the question from \(empty) is empty"))
        let noQuestion = try KVCProcess.run(["generate", "--prompt-file", document, "--query-agnostic"])
        #expect(noQuestion.status != 0 && noQuestion.stderr.contains("--query-agnostic needs a question"))
        let batch = try KVCProcess.run(["generate", "--batch-file", document, "--question", "Why?"])
        #expect(batch.status != 0 && batch.stderr.contains("not --batch-file"))
    }

    @Test func compressAwareAndAgnosticSeeDifferentPrompts() throws {
        let (directory, document, question, _) = try files()
        defer { withExtendedLifetime(directory) {} }
        let aware = try KVCProcess.run(["compress", "--prompt-file", document, "--question-file", question, "--rate", "4"])
        let agnostic = try KVCProcess.run(["compress", "--prompt-file", document, "--question-file", question, "--rate", "4", "--query-agnostic"])
        #expect(aware.status == 0 && agnostic.status == 0, "stderr: \(aware.stderr) \(agnostic.stderr)")
        func promptLength(_ stderr: String) -> Int? { Int(stderr.components(separatedBy: "prefill: ")[1].split(separator: " ")[0]) }
        let awareLength = try #require(promptLength(aware.stderr)), agnosticLength = try #require(promptLength(agnostic.stderr))
        #expect(awareLength > agnosticLength)
        #expect(agnostic.stderr.contains("kept out of the prefill"))
    }
}
