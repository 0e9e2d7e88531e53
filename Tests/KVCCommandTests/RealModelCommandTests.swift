import Foundation
import KVCHDF5
import Testing

/// `kvc` end to end on the default model (SmolLM2-135M-Instruct Q4_1). Expected token ids and text
/// come from llama.cpp (llama-cpp-python 0.3.36) on the same file.
///
/// Serialized: each test starts a process that loads the model, and parallel loads only fight
/// over the cores.
@Suite(.serialized, .enabled(if: KVCProcess.modelIsAvailable, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-model.sh)"))
struct RealModelCommandTests {
    /// llama.cpp's greedy continuation of "Once upon a time" starts ", the city of" (ids 28 260 2240
    /// 282; the 5th token is a near tie, margin 0.01 logits, so the check stops at 4).
    static let prompt = "Once upon a time"
    static let promptIDs: [Int32] = [6403, 1980, 253, 655]
    static let greedyContinuation = ", the city of"

    @Test func tokenizeMatchesLlamaCpp() throws {
        let directory = try ScratchDirectory()
        let text = directory.path("doc.txt")
        try "Hello world! KV-Compress évite 42 tokens.\n  Ünïcödé 🙂".write(toFile: text, atomically: true, encoding: .utf8)
        let outcome = try KVCProcess.run(["tokenize", "--text-file", text])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)")
        let expected = [
            19556, 905, 17, 659, 70, 29, 3750, 7041, 26411, 102, 663, 216, 36, 34, 17837, 30, 3805, 5549, 246, 94, 25972, 83,
            7466, 84, 2756, 47526,
        ]
        #expect(outcome.stdout == expected.map(String.init).joined(separator: " ") + "\n")
    }

    @Test func greedyGenerationMatchesLlamaCppAndRepeats() throws {
        let arguments = ["generate", "--prompt", Self.prompt, "--max-tokens", "4", "--temperature", "0"]
        let first = try KVCProcess.run(arguments)
        #expect(first.status == 0, "stderr: \(first.stderr)")
        #expect(first.stdout == Self.greedyContinuation)
        let second = try KVCProcess.run(arguments)
        #expect(second.stdout == first.stdout)
        // Figures go to stderr only.
        #expect(first.stderr.contains("prefill"))
        #expect(first.stderr.contains("tokens/s"))
    }

    @Test func statisticsJSONDescribesTheRun() throws {
        let directory = try ScratchDirectory()
        let stats = directory.path("stats.json")
        let outcome = try KVCProcess.run(["generate", "--prompt", Self.prompt, "--max-tokens", "4", "--stats-json", stats])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as? [String: Any])
        #expect(json["prompt_tokens"] as? Int == 4)
        #expect(json["generated_tokens"] as? Int == 4)
        #expect((json["prefill_tokens_per_second"] as? Double ?? 0) > 0)
        #expect((json["decode_tokens_per_second"] as? Double ?? 0) > 0)
        #expect((json["load_seconds"] as? Double ?? 0) > 0)
        let cache = try #require(json["cache"] as? [String: Any])
        // 8 KVs per head fit one block of 16; 30 layers × 3 KV heads hold one block each.
        #expect(cache["resident_blocks"] as? Int == 90)
        #expect(cache["block_size"] as? Int == 16)
        // f16 KVs by default: 2 bytes per element.
        #expect(cache["resident_bytes"] as? Int == 90 * 16 * (2 * 64 * 2 + 8))
        #expect(json["stop_reasons"] as? [String] == ["maxTokens"])
    }

    @Test func zeroMaxTokensOnlyPrefills() throws {
        let directory = try ScratchDirectory()
        let stats = directory.path("stats.json")
        let outcome = try KVCProcess.run(["generate", "--prompt", Self.prompt, "--max-tokens", "0", "--stats-json", stats])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)")
        #expect(outcome.stdout.isEmpty)
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as? [String: Any])
        #expect(json["generated_tokens"] as? Int == 0)
        #expect(json["prompt_tokens"] as? Int == 4)
    }

    @Test func batchDecodesEachPromptAsItWouldAlone() throws {
        let directory = try ScratchDirectory()
        let batch = directory.path("batch.txt")
        try "\(Self.prompt)\nThe capital of France is\n".write(toFile: batch, atomically: true, encoding: .utf8)
        let outcome = try KVCProcess.run(["generate", "--batch-file", batch, "--max-tokens", "4"])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)")
        let lines = outcome.stdout.split(separator: "\n").map { Data($0.utf8) }
        try #require(lines.count == 2)
        let decoded = try lines.map { try #require(try JSONSerialization.jsonObject(with: $0) as? [String: Any]) }
        #expect(decoded.map { $0["index"] as? Int } == [0, 1])
        #expect(decoded[0]["text"] as? String == Self.greedyContinuation)
        let alone = try KVCProcess.run(["generate", "--prompt", "The capital of France is", "--max-tokens", "4"])
        #expect(decoded[1]["text"] as? String == alone.stdout)
    }

    @Test func logitsFileHoldsEveryPosition() throws {
        let directory = try ScratchDirectory()
        let ids = directory.path("ids.txt"), out = directory.path("logits.h5")
        try Self.promptIDs.map(String.init).joined(separator: " ").write(toFile: ids, atomically: true, encoding: .utf8)
        let outcome = try KVCProcess.run(["logits", "--tokens-file", ids, "--out", out, "--chunk-size", "3"])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)")
        let file = try HDF5File.open(path: out)
        let logits = try file.read(Float.self, dataset: "logits")
        #expect(logits.shape == [4, 49152])
        #expect(logits.values.allSatisfy { $0.isFinite })
        let tokens = try file.read(Int32.self, dataset: "tokens")
        #expect(tokens.values == Self.promptIDs)
        // The last row predicts the first generated token: llama.cpp's greedy pick is id 28 (",").
        let last = logits.values[(3 * 49152)...]
        #expect(last.indices.max(by: { last[$0] < last[$1] }).map { $0 - 3 * 49152 } == 28)
        #expect(!FileManager.default.fileExists(atPath: HDF5File.partialPath(for: out)))
    }

    @Test func badTokenIDIsNamed() throws {
        let directory = try ScratchDirectory()
        let ids = directory.path("ids.txt")
        try "1 2 banana 4".write(toFile: ids, atomically: true, encoding: .utf8)
        let outcome = try KVCProcess.run(["logits", "--tokens-file", ids, "--out", directory.path("l.h5")])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("'banana' is not a token id"))
        #expect(!FileManager.default.fileExists(atPath: directory.path("l.h5")))
    }

    @Test func compressionShowsRetentionAndFreesBlocks() throws {
        let directory = try ScratchDirectory()
        let stats = directory.path("stats.json")
        let document = KVCProcess.packageRoot.appendingPathComponent("scripts/demo/lighthouse.txt").path
        let outcome = try KVCProcess.run([
            "generate", "--prompt-file", document, "--chat", "--max-tokens", "8", "--compression", "kvcompress", "--rate", "4",
            "--stats-json", stats,
        ])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)")
        #expect(!outcome.stdout.isEmpty)
        #expect(outcome.stderr.contains("KV retention"))
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as? [String: Any])
        let compression = try #require(json["compression"] as? [String: Any])
        let statistics = try #require(compression["statistics"] as? [String: Any])
        #expect((statistics["compressions"] as? Int ?? 0) >= 1)
        #expect((statistics["kvs_evicted"] as? Int ?? 0) > 0)
        // Rate 4 on a ~420-token prompt: fewer than half the blocks stay.
        let cache = try #require(json["cache"] as? [String: Any])
        let resident = try #require(cache["resident_blocks"] as? Int), uncompressed = try #require(cache["uncompressed_blocks"] as? Int)
        #expect(resident * 2 < uncompressed)
    }
}
