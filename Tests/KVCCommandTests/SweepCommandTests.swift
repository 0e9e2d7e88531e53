import Foundation
import KVCHDF5
import Testing

/// `kvc sweep` end to end on the default model: provenance, the no-overwrite rule, SIGKILL at several
/// points then `--resume`, shards merged, reports, and specifications refused before the model loads.
@Suite(.serialized, .enabled(if: KVCProcess.modelIsAvailable, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-model.sh)"))
struct SweepCommandTests {
    static let spec = """
        configuration: {window: {name: last, options: {queries: 8}}, protected_window: 16}
        task: passkey
        lengths: [200]
        prompts: 2
        seed: 5
        max_new_tokens: 6
        methods: [kvcompress, snapkv]
        grid: {rate: [1, 4]}
        """

    static func writeSpec(in directory: ScratchDirectory, _ text: String = spec) throws -> String {
        let path = directory.path("tiny.yaml")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The trials of a results file as `kvc sweep report --format csv` lists them (no timings).
    static func csv(_ path: String) throws -> String {
        let outcome = try KVCProcess.run(["sweep", "report", path, "--format", "csv"])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)")
        return outcome.stdout
    }

    @Test func sweepWritesTrialsProvenanceAndASummaryAndNeverOverwrites() throws {
        let directory = try ScratchDirectory()
        let spec = try Self.writeSpec(in: directory)
        let out = directory.path("sweep.h5")
        let outcome = try KVCProcess.run(["sweep", "--spec", spec, "--out", out])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)")
        #expect(outcome.stdout.contains("| method=snapkv, rate=4 | "))
        #expect(outcome.stderr.contains("2/2 documents, 8 trials"))

        let file = try HDF5File.open(path: out)
        #expect(try file.attribute("format", as: String.self) == "kvc-sweep/2")
        #expect(try file.attribute("model_path", as: String.self).hasSuffix("SmolLM2-135M-Instruct.Q4_1.gguf"))
        #expect(try file.attribute("spec_yaml", as: String.self).contains("lengths: [200]"))
        #expect(["avx512-vnni", "avx2", "portable"].contains(try file.attribute("kernels", as: String.self)))
        #expect(try file.read(Int32.self, dataset: "trials/cell").shape == [8])
        try file.close()

        let before = try Data(contentsOf: URL(fileURLWithPath: out))
        let again = try KVCProcess.run(["sweep", "--spec", spec, "--out", out])
        #expect(again.status != 0 && again.stderr.contains("exists; pass --resume"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == before)

        // A resumed finished sweep reuses every trial; a changed spec is refused naming the change.
        let resumed = try KVCProcess.run(["sweep", "--spec", spec, "--out", out, "--resume"])
        #expect(resumed.status == 0 && resumed.stderr.contains("resuming with 8 finished trials"))
        let changed = try Self.writeSpec(in: directory, Self.spec.replacingOccurrences(of: "rate: [1, 4]", with: "rate: [1, 8]"))
        let refused = try KVCProcess.run(["sweep", "--spec", changed, "--out", out, "--resume"])
        #expect(refused.status != 0 && refused.stderr.contains("the specification changed at 'grid.rate[1]'"))
    }

    /// SIGKILL after 0, 1 and 5 journalled trials (mid-document), then `--resume`: the same trials as an
    /// uninterrupted run.
    @Test func aKilledSweepResumesToTheUninterruptedResult() throws {
        let directory = try ScratchDirectory()
        let spec = try Self.writeSpec(in: directory)
        let reference = directory.path("reference.h5")
        #expect(try KVCProcess.run(["sweep", "--spec", spec, "--out", reference]).status == 0)
        let expected = try Self.csv(reference)
        for killAfter in [0, 1, 5] {
            let out = directory.path("killed-\(killAfter).h5")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: KVCProcess.binary)
            process.arguments = ["sweep", "--spec", spec, "--out", out]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let journal = out + ".journal"
            // Header line plus `killAfter` trial lines.
            while process.isRunning {
                let lines = (try? Data(contentsOf: URL(fileURLWithPath: journal)))?.count(where: { $0 == UInt8(ascii: "\n") }) ?? 0
                if lines >= killAfter + 1 { break }
                usleep(2_000)
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "killed after \(killAfter) trials")
            let resumed = try KVCProcess.run(["sweep", "--spec", spec, "--out", out, "--resume"])
            #expect(resumed.status == 0, "stderr: \(resumed.stderr)")
            #expect(try Self.csv(out) == expected, "killed after \(killAfter) trials")
        }
    }

    @Test func shardsMergeIntoTheSingleRunAndReportsAreReproducible() throws {
        let directory = try ScratchDirectory()
        let spec = try Self.writeSpec(in: directory)
        let single = directory.path("single.h5")
        #expect(try KVCProcess.run(["sweep", "--spec", spec, "--out", single]).status == 0)
        var shards: [String] = []
        for i in 0..<2 {
            let out = directory.path("shard-\(i).h5")
            let run = try KVCProcess.run(["sweep", "--spec", spec, "--out", out, "--shard", "\(i)/2"])
            #expect(run.status == 0, "stderr: \(run.stderr)")
            shards.append(out)
        }
        let merged = directory.path("merged.h5")
        let missing = try KVCProcess.run(["sweep", "merge", "--out", merged, shards[0]])
        #expect(missing.status == 2 && missing.stderr.contains("missing: document task passkey, length 200"))
        let merge = try KVCProcess.run(["sweep", "merge", "--out", directory.path("merged-all.h5")] + shards)
        #expect(merge.status == 0, "stderr: \(merge.stderr)")
        #expect(try Self.csv(directory.path("merged-all.h5")) == Self.csv(single))
        let overlap = try KVCProcess.run(["sweep", "merge", "--out", directory.path("overlap.h5"), shards[0], shards[0]])
        #expect(overlap.status != 0 && overlap.stderr.contains("must not overlap"))

        let a = try KVCProcess.run(["sweep", "report", single, "--baseline", "kvcompress"])
        let b = try KVCProcess.run(["sweep", "report", directory.path("merged-all.h5"), "--baseline", "kvcompress"])
        #expect(a.status == 0 && a.stdout == b.stdout && a.stdout.contains("McNemar"))
        let json = try KVCProcess.run(["sweep", "report", single, "--format", "json", "--timings"])
        #expect(json.status == 0 && json.stdout.contains("\"wilson_lower\"") && json.stdout.contains("\"decode_seconds\""))
    }

    /// `--only` runs some documents first into the same file, which stays incomplete; `--resume`
    /// without it finishes the rest: the single run's trials, and a complete file.
    @Test func onlyRunsSomeDocumentsAndResumeFinishesTheSameFile() throws {
        let directory = try ScratchDirectory()
        let text = Self.spec.replacingOccurrences(of: "lengths: [200]\nprompts: 2", with: "lengths: [200, 260]\nprompts: 1")
        let spec = try Self.writeSpec(in: directory, text)
        let single = directory.path("single.h5")
        #expect(try KVCProcess.run(["sweep", "--spec", spec, "--out", single]).status == 0)
        let out = directory.path("first-200.h5")
        let first = try KVCProcess.run(["sweep", "--spec", spec, "--out", out, "--only", "length=200"])
        #expect(first.status == 0, "stderr: \(first.stderr)")
        #expect(first.stderr.contains("only length=200: 1 documents") && first.stderr.contains("1 documents outside --only length=200 are not finished"))
        let partial = try HDF5File.open(path: out)
        #expect(try partial.attribute("complete", as: Int.self) == 0)
        #expect(try partial.read(Int32.self, dataset: "trials/cell").shape == [4])
        try partial.close()
        let rest = try KVCProcess.run(["sweep", "--spec", spec, "--out", out, "--resume", "--only", "task=passkey", "--only", "length=260"])
        #expect(rest.status == 0 && rest.stderr.contains("resuming with 4 finished trials"), "stderr: \(rest.stderr)")
        let finished = try HDF5File.open(path: out)
        #expect(try finished.attribute("complete", as: Int.self) == 1)
        try finished.close()
        #expect(try Self.csv(out) == Self.csv(single))
    }

    @Test(arguments: [
        (["--only", "length=999"], "length=999: the specification has no such length (its lengths: 200)"),
        (["--only", "task=niah_single"], "task=niah_single: the specification has no such task (its tasks: passkey)"),
        (["--only", "prompt=1"], "unknown key 'prompt' in 'prompt=1'"),
        (["--only", "length"], "'length' is not KEY=VALUE"),
    ])
    func badFiltersAreRefusedBeforeTheModelLoads(arguments: [String], mentions: String) throws {
        let directory = try ScratchDirectory()
        let spec = try Self.writeSpec(in: directory)
        let out = directory.path("never.h5")
        let outcome = try KVCProcess.run(["sweep", "--spec", spec, "--out", out] + arguments)
        #expect(outcome.status != 0 && outcome.stderr.contains("invalid --only: " + mentions), "stderr: \(outcome.stderr)")
        #expect(!outcome.stderr.contains("loaded "), "refused before the weights load")
        #expect(!FileManager.default.fileExists(atPath: out) && !FileManager.default.fileExists(atPath: out + ".journal"))
    }

    @Test(arguments: [
        ("grid: {rate: [1, 4], window.options.querys: [8]}", "querys"),
        ("grid: {rate: [0.5]}", "rate=0.5"),
        ("grid: {rate: [4]}\nlengths: [9000]", "exceeds the model's context"),
    ])
    func badSpecificationsAreRefusedBeforeTheModelLoads(change: String, mentions: String) throws {
        let directory = try ScratchDirectory()
        var text = Self.spec.replacingOccurrences(of: "grid: {rate: [1, 4]}", with: change)
        if change.contains("lengths") { text = text.replacingOccurrences(of: "lengths: [200]\n", with: "") }
        let spec = try Self.writeSpec(in: directory, text)
        let out = directory.path("never.h5")
        let outcome = try KVCProcess.run(["sweep", "--spec", spec, "--out", out])
        #expect(outcome.status != 0 && outcome.stderr.contains(mentions), "stderr: \(outcome.stderr)")
        #expect(!outcome.stderr.contains("loaded "), "refused before the weights load")
        #expect(!FileManager.default.fileExists(atPath: out) && !FileManager.default.fileExists(atPath: out + ".journal"))
    }

    /// `--write-prompts` writes, without loading the weights, one JSON line per (task, length,
    /// prompt, question) with what a reference run needs to score the same way (the llama.cpp
    /// cross-check reads it): the task's index, answers, scoring rule and answer length.
    @Test func writePromptsListsEveryQuestionWithItsScoring() throws {
        let directory = try ScratchDirectory()
        let spec = try Self.writeSpec(in: directory, """
            tasks: [{name: passkey}, {name: niah_multiquery}]
            lengths: [300]
            prompts: 2
            seed: 9
            methods: [kvcompress]
            """)
        let out = directory.path("prompts.jsonl")
        let outcome = try KVCProcess.run(["sweep", "--spec", spec, "--write-prompts", out])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)")
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let passkey = records.filter { $0["task_index"] as? Int == 0 }
        let multiquery = records.filter { $0["task_index"] as? Int == 1 }
        #expect(passkey.count == 2 && multiquery.count >= 2)
        for record in records {
            #expect(record["scoring"] as? String == "all")
            #expect((record["max_new_tokens"] as? Int ?? 0) > 0)
            let text = try #require(record["text"] as? String), answers = try #require(record["answers"] as? [String])
            // Needle tasks: every expected value is written somewhere in the document.
            #expect(!answers.isEmpty && answers.allSatisfy { text.contains($0) })
            #expect((record["tokens"] as? Int ?? 0) > 200)
        }
        #expect((multiquery.first?["answers"] as? [String])?.count ?? 0 > 1, "niah_multiquery asks for several values")
    }
}

enum GemmaModelFile {
    static let path = KVCProcess.packageRoot.appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf").path
}

/// A sweep on the second model family: Gemma 3's SentencePiece tokenizer builds the documents (the
/// sweep once required a byte-level BPE vocabulary and refused this model).
@Suite(.serialized, .enabled(if: FileManager.default.isReadableFile(atPath: GemmaModelFile.path), "needs models/gemma-3-270m-q4_k_m.gguf (scripts/fetch-model.sh gemma3-270m)"))
struct GemmaSweep {
    static let model = GemmaModelFile.path

    @Test func aSweepRunsOnGemma3() throws {
        let directory = try ScratchDirectory()
        let spec = try SweepCommandTests.writeSpec(in: directory, """
            configuration: {protected_window: 16}
            task: niah_single
            lengths: [300]
            prompts: 1
            seed: 3
            methods: [kvcompress]
            grid: {rate: [1, 4]}
            """)
        let out = directory.path("gemma.h5")
        let outcome = try KVCProcess.run(["sweep", "--model", Self.model, "--spec", spec, "--out", out])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)")
        let csv = try SweepCommandTests.csv(out)
        // One row per cell (generated text may hold quoted newlines); the full cache finds the needle.
        let rows = csv.split(separator: "\n").filter { $0.hasPrefix("niah_single,300,") }
        #expect(rows.count == 2, "\(csv)")
        #expect(rows.first?.contains(",aware,kvcompress,1,") == true && csv.contains("1.0,1\n"), "\(csv)")
        // The specification may name its model; a different --model is refused naming both, a missing one named.
        let named = directory.path("named.yaml")
        try ("model: \(Self.model)\n" + (try String(contentsOfFile: spec, encoding: .utf8))).write(toFile: named, atomically: true, encoding: .utf8)
        let other = try KVCProcess.run(["sweep", "--model", KVCProcess.defaultModel, "--spec", named, "--out", directory.path("x.h5")])
        #expect(other.status != 0 && other.stderr.contains("differs from the model the specification names"), "\(other.stderr)")
        let missing = directory.path("missing.yaml")
        try "model: /nonexistent/gemma.gguf\ntask: passkey\nlengths: [300]\nprompts: 1\nmethods: [kvcompress]\n".write(toFile: missing, atomically: true, encoding: .utf8)
        let absent = try KVCProcess.run(["sweep", "--spec", missing, "--out", directory.path("y.h5")])
        #expect(absent.status != 0 && absent.stderr.contains("/nonexistent/gemma.gguf"), "\(absent.stderr)")
        let prompts = directory.path("gemma.jsonl")
        #expect(try KVCProcess.run(["sweep", "--spec", named, "--write-prompts", prompts]).status == 0)
    }
}

/// `model: [A, B]` (the model axis): what is refused before any model file is opened. These need no
/// model: a refusal comes before any weights load.
@Suite struct SweepModelListCommandTests {
    static func spec(models: String, in directory: ScratchDirectory) throws -> String {
        try SweepCommandTests.writeSpec(in: directory, "model: \(models)\n" + SweepCommandTests.spec)
    }

    static func expectRefusedBeforeAnyModelWork(_ outcome: KVCProcess.Outcome, out: String, mentioning parts: [String]) {
        #expect(outcome.status != 0, "stdout: \(outcome.stdout)")
        for part in parts { #expect(outcome.stderr.contains(part), "stderr: \(outcome.stderr)") }
        #expect(!outcome.stderr.contains("loaded "), "refused before the weights load")
        let directory = URL(fileURLWithPath: out).deletingLastPathComponent().path
        let written = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        #expect(written.allSatisfy { $0.hasSuffix(".yaml") }, "no results or journal: \(written)")
    }

    @Test func modelWithAModelListIsRefusedNamingBoth() throws {
        let directory = try ScratchDirectory()
        let spec = try Self.spec(models: "[\(KVCProcess.defaultModel), \(GemmaModelFile.path)]", in: directory)
        let out = directory.path("x.h5")
        let outcome = try KVCProcess.run(["sweep", "--model", "/some/other.gguf", "--spec", spec, "--out", out])
        Self.expectRefusedBeforeAnyModelWork(
            outcome, out: out, mentioning: ["--model /some/other.gguf and the specification's model list", "gemma-3-270m-q4_k_m.gguf]", "give one of them"])
        let sharded = try KVCProcess.run(["sweep", "--spec", spec, "--out", out, "--shard", "0/2"])
        Self.expectRefusedBeforeAnyModelWork(sharded, out: out, mentioning: ["--shard 0/2", "lists 2 models"])
        let slurm = try KVCProcess.run(["sweep", "slurm", "--spec", spec, "--shards", "2", "--out", directory.path("slurm")])
        #expect(slurm.status != 0 && slurm.stderr.contains("kvc sweep slurm runs one model; the specification lists 2"), "stderr: \(slurm.stderr)")
    }

    /// Every missing model is named at once, before the present one is opened.
    @Test func missingModelsAreNamedBeforeAnyIsLoaded() throws {
        let directory = try ScratchDirectory()
        let spec = try Self.spec(models: "[/nonexistent/a.gguf, \(KVCProcess.defaultModel), /nonexistent/b.gguf]", in: directory)
        let out = directory.path("x.h5")
        let outcome = try KVCProcess.run(["sweep", "--spec", spec, "--out", out])
        Self.expectRefusedBeforeAnyModelWork(
            outcome, out: out, mentioning: ["missing or unreadable: /nonexistent/a.gguf, /nonexistent/b.gguf"])
        #expect(!outcome.stderr.contains("SmolLM2"), "only the missing ones are named: \(outcome.stderr)")
    }

    @Test func aModelListIsCheckedByKeyInTheSpecification() throws {
        let directory = try ScratchDirectory()
        let spec = try Self.spec(models: "[a.gguf, a.gguf]", in: directory)
        let out = directory.path("x.h5")
        let outcome = try KVCProcess.run(["sweep", "--spec", spec, "--out", out])
        Self.expectRefusedBeforeAnyModelWork(outcome, out: out, mentioning: ["model[1] repeats model[0] (a.gguf)"])
    }

    @Test func reportRefusesFilesThatAreNoResults() throws {
        let outcome = try KVCProcess.run(["sweep", "report", "/nonexistent/a.h5", "/nonexistent/b.h5"])
        #expect(outcome.status != 0 && outcome.stderr.contains("/nonexistent/a.h5"), "stderr: \(outcome.stderr)")
    }
}

/// A sweep over both model families at once (`model: [SmolLM2, Gemma 3]`): one ordinary results file
/// per model, one report of both, and `--resume` per file.
@Suite(
    .serialized,
    .enabled(
        if: FileManager.default.isReadableFile(atPath: GemmaModelFile.path) && FileManager.default.isReadableFile(atPath: KVCProcess.defaultModel),
        "needs both models/*.gguf (scripts/fetch-model.sh, scripts/fetch-model.sh gemma3-270m)"))
struct ModelAxisSweep {
    @Test func aSweepRunsEachListedModelIntoItsOwnFileAndReportsThemTogether() throws {
        let directory = try ScratchDirectory()
        let spec = try SweepCommandTests.writeSpec(in: directory, """
            model: [\(KVCProcess.defaultModel), \(GemmaModelFile.path)]
            configuration: {protected_window: 16}
            task: passkey
            lengths: [300]
            prompts: 1
            seed: 3
            max_new_tokens: 6
            methods: [kvcompress]
            grid: {rate: [1, 4]}
            """)
        let out = directory.path("both.h5")
        let files = [directory.path("both.SmolLM2-135M-Instruct.Q4_1.h5"), directory.path("both.gemma-3-270m-q4_k_m.h5")]
        let run = try KVCProcess.run(["sweep", "--spec", spec, "--out", out, "--threads", "1"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.stderr.contains("wrote 2 results files, one per model: \(files[0]) \(files[1])"), "stderr: \(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        // The run's table is `kvc sweep report` over both files: each cell named by its model.
        let report = try KVCProcess.run(["sweep", "report"] + files)
        #expect(report.status == 0 && report.stdout == run.stdout, "stderr: \(report.stderr)")
        #expect(report.stdout.contains("| model=Gemma 3 270m, method=kvcompress, rate=4 | "), "\(report.stdout)")
        #expect(report.stdout.contains("Holm-corrected over the 2 tests"))
        let one = try KVCProcess.run(["sweep", "report", files[1]])
        #expect(one.status == 0 && one.stdout.contains("| method=kvcompress, rate=4 | ") && !one.stdout.contains("model="))

        // Resume: a finished file is skipped, a missing one run.
        for path in [files[1], files[1] + ".journal"] { try FileManager.default.removeItem(atPath: path) }
        let resumed = try KVCProcess.run(["sweep", "--spec", spec, "--out", out, "--resume", "--threads", "1"])
        #expect(resumed.status == 0, "stderr: \(resumed.stderr)")
        #expect(resumed.stderr.contains("\(files[0]) is complete (2 trials); skipped") && !resumed.stderr.contains("loaded Smollm2"), "\(resumed.stderr)")
        #expect(resumed.stderr.contains("loaded Gemma 3 270m") && resumed.stdout == run.stdout, "\(resumed.stderr)")
    }
}
