import Foundation
import KVCHDF5
import Testing

/// `kvc compress` end to end on the default model: the retention grid, the HDF5 dump of
/// notebooks-export/SCHEMA.md, and errors before any work.
@Suite(.serialized, .enabled(if: KVCProcess.modelIsAvailable, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-model.sh)"))
struct CompressCommandTests {
    @Test func compressDumpsWhatEachHeadKept() throws {
        let directory = try ScratchDirectory()
        let prompt = directory.path("prompt.txt")
        try String(repeating: "The lighthouse keeper counted the ships that passed. ", count: 10).write(toFile: prompt, atomically: true, encoding: .utf8)
        let dump = directory.path("run.h5"), report = directory.path("report.json")
        let outcome = try KVCProcess.run([
            "compress", "--prompt-file", prompt, "--rate", "4", "--protected-window", "16", "--block-size", "8",
            "--dump", dump, "--report-json", report,
        ])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)")
        #expect(outcome.stderr.contains("KV retention") && outcome.stderr.contains("layer   h0   h1   h2"))

        let file = try HDF5File.open(path: dump)
        let evicted = try file.read(UInt8.self, dataset: "evicted")
        let lengths = try file.read(Int32.self, dataset: "context_lens")
        let n = try file.attribute("prompt_len", as: Int.self)
        #expect(evicted.shape == [30, 3, n] && lengths.shape == [30, 3])
        #expect(try file.attribute("block_size", as: Int.self) == 8)
        #expect(try file.attribute("rate", as: Double.self) == 4)
        // Per head: kept = prompt length - evicted, a whole number of blocks, the last 16 positions kept.
        for head in 0..<90 {
            let row = evicted.values[(head * n)..<((head + 1) * n)]
            #expect(Int(lengths.values[head]) == row.filter { $0 == 0 }.count)
            #expect(lengths.values[head] % 8 == 0 || Int(lengths.values[head]) == n)
            #expect(row.suffix(16).allSatisfy { $0 == 0 })
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        let statistics = try #require(json["statistics"] as? [String: Any])
        #expect((statistics["blocks_freed"] as? Int ?? 0) > 0)
    }

    @Test func flagsAndConfigurationFilesReachTheDump() throws {
        let directory = try ScratchDirectory()
        let prompt = "The lighthouse keeper counted the ships that passed in the night, one by one, until dawn."
        let flagged = directory.path("flags.h5")
        var outcome = try KVCProcess.run([
            "compress", "--prompt", prompt, "--rate", "2", "--window", "full", "--no-maxpool", "--metric", "l1",
            "--aggregate", "avg", "--protected-window", "4", "--sinks", "2", "--block-size", "4", "--dump", flagged,
        ])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)")
        var file = try HDF5File.open(path: flagged)
        #expect(try file.attribute("window", as: String.self) == "full")
        #expect(try file.attribute("maxpool", as: Int.self) == 0)
        #expect(try file.attribute("norm", as: String.self) == "l1")
        #expect(try file.attribute("aggregate", as: String.self) == "avg")
        #expect(try file.attribute("sinks", as: Int.self) == 2)
        let evicted = try file.read(UInt8.self, dataset: "evicted")
        let n = try file.attribute("prompt_len", as: Int.self)
        for head in 0..<90 { #expect(evicted.values[head * n] == 0 && evicted.values[head * n + 1] == 0, "sinks are kept") }

        // A configuration file, with a flag overriding its budget.
        let config = directory.path("c.yaml")
        try "policy: uniform\nwindow: {name: last, options: {queries: 16}}\nbudget: {max_cache_tokens: 64}\nprotected_window: 8\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let configured = directory.path("config.h5")
        outcome = try KVCProcess.run(["compress", "--prompt", prompt, "--config", config, "--rate", "3", "--dump", configured])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)")
        file = try HDF5File.open(path: configured)
        #expect(try file.attribute("policy", as: String.self) == "uniform")
        #expect(try file.attribute("window_queries", as: Int.self) == 16)
        #expect(try file.attribute("rate", as: Double.self) == 3)
        #expect(try file.attribute("protected_window", as: Int.self) == 8)
    }

    @Test(arguments: [
        (["--rate", "4", "--compression", "none"], "--rate need(s) compression; drop --compression none"),
        (["--compression", "none"], "--compression none does nothing"),
        ([], "compression needs a budget"),
        (["--max-cache-tokens", "8"], "below the 32 protected"),
        (["--rate", "4", "--compression", "nosuch"], "unknown policy 'nosuch'; known policies:"),
        (["--rate", "4", "--dump", "/nonexistent-dir/run.h5"], "/nonexistent-dir"),
    ])
    func mistakesFailBeforeLoadingTheModel(arguments: [String], expected: String) throws {
        let outcome = try KVCProcess.run(["compress", "--prompt", "hello"] + arguments)
        #expect(outcome.status != 0)
        #expect(outcome.stderr.contains(expected), "stderr: \(outcome.stderr)")
        #expect(!outcome.stderr.contains("loaded "))
    }
}

/// `--dump-attention` / `--dump-tensors`: what the metric saw and the tensors behind it, for the
/// selected layers and heads, consistent with each other.
@Suite(.serialized, .enabled(if: KVCProcess.modelIsAvailable, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-model.sh)"))
struct AttentionDumpCommandTests {
    @Test func attentionAndTensorsAreDumpedForTheSelection() throws {
        let directory = try ScratchDirectory()
        let prompt = directory.path("prompt.txt")
        try String(repeating: "The lighthouse keeper counted the ships that passed. ", count: 8).write(toFile: prompt, atomically: true, encoding: .utf8)
        let dump = directory.path("run.h5")
        let outcome = try KVCProcess.run([
            "compress", "--prompt-file", prompt, "--rate", "4", "--window", "8", "--dump", dump, "--dump-tensors", "--dump-layers", "2,9",
            "--dump-heads", "1", "--scorer", "lagkv", "--option", "lagkv.lag_size=16",
        ])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)")
        let file = try HDF5File.open(path: dump)
        let n = try file.attribute("prompt_len", as: Int.self)
        #expect(try file.read(Int32.self, dataset: "attention/layers").values == [2, 9])
        #expect(try file.read(Int32.self, dataset: "attention/kv_heads").values == [1])
        let positions = try file.read(Int32.self, dataset: "attention/query_positions").values
        #expect(positions == (n - 8..<n).map(Int32.init))
        let probabilities = try file.read(Float.self, dataset: "attention/probabilities")
        #expect(probabilities.shape == [2, 3, 8, n])
        // Each observed query's probabilities sum to 1 over the keys (all present: a fresh prefill).
        for row in 0..<(2 * 3 * 8) {
            let sum = probabilities.values[(row * n)..<((row + 1) * n)].reduce(0, +)
            #expect(abs(sum - 1) < 1e-4)
        }
        let keys = try file.read(Float.self, dataset: "tensors/keys"), queries = try file.read(Float.self, dataset: "tensors/queries")
        #expect(keys.shape == [2, 1, n, 64] && queries.shape == [2, 3, 8, 64])
        #expect(!keys.values.contains { $0.isNaN })
        // The dumped attention is the softmax of the dumped queries against the dumped keys (causal).
        let d = 64, scale = 1 / Float(d).squareRoot()
        for (q, w) in [(0, 0), (2, 7)] {
            let query = Array(queries.values[((0 * 3 + q) * 8 + w) * d..<((0 * 3 + q) * 8 + w + 1) * d])
            let visible = Int(positions[w]) + 1
            let logits = (0..<visible).map { i in zip(query, keys.values[(i * d)..<((i + 1) * d)]).reduce(0) { $0 + $1.0 * $1.1 } * scale }
            let largest = logits.max()!
            let e = logits.map { expf($0 - largest) }, total = e.reduce(0, +)
            for i in 0..<visible { #expect(abs(e[i] / total - probabilities.values[((0 * 3 + q) * 8 + w) * n + i]) < 2e-4) }
        }
        #expect(try file.attribute("scorer", as: String.self) == "lagkv")
    }

    @Test func dumpFlagsNeedADumpAndValidSelections() throws {
        let noDump = try KVCProcess.run(["compress", "--prompt", "hi", "--rate", "4", "--dump-tensors"])
        #expect(noDump.status != 0 && noDump.stderr.contains("need --dump FILE"))
        let directory = try ScratchDirectory()
        let badLayer = try KVCProcess.run(["compress", "--prompt", "hello there", "--rate", "4", "--dump", directory.path("x.h5"), "--dump-layers", "40"])
        #expect(badLayer.status != 0 && badLayer.stderr.contains("layer 40 does not exist; the model has 30"))
        let badList = try KVCProcess.run(["compress", "--prompt", "hello", "--rate", "4", "--dump", directory.path("x.h5"), "--dump-heads", "a"])
        #expect(badList.status != 0 && badList.stderr.contains("--dump-heads must be integers"))
    }
}
