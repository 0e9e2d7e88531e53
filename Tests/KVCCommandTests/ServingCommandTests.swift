import Foundation
import Testing

/// `kvc generate --batch-file` served by the request scheduler from a fixed pool, on the default model.
@Suite(.serialized, .enabled(if: KVCProcess.modelIsAvailable, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-model.sh)"))
struct ServingCommandTests {
    static func lines(_ stdout: String) throws -> [[String: Any]] {
        try stdout.split(separator: "\n").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    /// 30 layers × 3 KV heads = 90 blocks per 16 tokens: 300 blocks hold one short request at a time
    /// (two need preemption), and the texts begin as those of an unconstrained pool. Not equal in
    /// full: a preempted request is recomputed by one prefill of its prompt and output so far, the same
    /// mathematics as the decode steps it replaces but summed in another order, so a greedy text may
    /// part from the unconstrained one at a near-tie after the preemption (seen on an AMD EPYC, float16
    /// or float32 KV: "311" against "321 million"; identical on an Intel Xeon).
    @Test func aPoolForOneRequestServesEveryRequestWithTheSameText() throws {
        let directory = try ScratchDirectory()
        let batch = directory.path("batch.txt"), stats = directory.path("stats.json")
        try "Once upon a time\nThe capital of France is\nMy favourite colour is\n".write(toFile: batch, atomically: true, encoding: .utf8)
        let free = try KVCProcess.run(["generate", "--batch-file", batch, "--max-tokens", "20"])
        let tight = try KVCProcess.run(["generate", "--batch-file", batch, "--max-tokens", "20", "--cache-blocks", "300", "--stats-json", stats])
        #expect(free.status == 0 && tight.status == 0, "stderr: \(tight.stderr)")
        let freeLines = try Self.lines(free.stdout), tightLines = try Self.lines(tight.stdout)
        #expect(tightLines.count == 3)
        // The first three words of every answer agree; a request answered from another's blocks would not.
        func opening(_ line: [String: Any]) -> [Substring] { ((line["text"] as? String) ?? "").split(separator: " ").prefix(3).map { $0 } }
        #expect(tightLines.map(opening) == freeLines.map(opening))
        #expect(tightLines.allSatisfy { !opening($0).isEmpty })
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as? [String: Any])
        let serving = try #require(json["serving"] as? [String: Any])
        #expect(serving["completed"] as? Int == 3)
        #expect((serving["preemptions"] as? Int ?? 0) > 0)
        #expect((serving["peak_used_blocks"] as? Int ?? .max) <= 300)
    }

    @Test func aRequestTooLongForThePoolIsNamedAndTheOthersAreServed() throws {
        let directory = try ScratchDirectory()
        let batch = directory.path("batch.txt")
        let long = String(repeating: "word ", count: 300)
        try "Once upon a time\n\(long)\nThe capital of France is\n".write(toFile: batch, atomically: true, encoding: .utf8)
        let outcome = try KVCProcess.run(["generate", "--batch-file", batch, "--max-tokens", "4", "--cache-mb", "3"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("request 1 needs 1800 blocks (301 prompt + 4 output tokens on 90 KV heads"))
        // 3 MiB of f16 blocks (16 × (2 × 64 × 2 + 8) = 4224 bytes each; 378 with f32).
        #expect(outcome.stderr.contains("the pool holds 744 blocks"))
        let lines = try Self.lines(outcome.stdout)
        #expect(lines.map { $0["index"] as? Int } == [0, 1, 2])
        #expect(lines[1]["error"] is String && lines[1]["text"] as? String == "")
        #expect(lines[0]["text"] as? String == ", the city of")
        #expect(lines[0]["error"] == nil && !(lines[2]["text"] as? String ?? "").isEmpty)
    }

    @Test func aPoolWithoutOneBlockPerHeadIsRefusedNamingTheSizes() throws {
        let directory = try ScratchDirectory()
        let batch = directory.path("batch.txt")
        try "Once upon a time\n".write(toFile: batch, atomically: true, encoding: .utf8)
        let outcome = try KVCProcess.run(["generate", "--batch-file", batch, "--max-tokens", "4", "--cache-blocks", "89"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("pool of 89 blocks (375936 bytes) is too small"))
        #expect(outcome.stderr.contains("90 KV heads"))
        #expect(outcome.stdout.isEmpty)
    }
}
