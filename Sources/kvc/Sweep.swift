import ArgumentParser
import BPETokenizer
import Evaluation
import EvaluationTasks
import EvictionPolicies
import Foundation
import GGUF
import KVCLinearAlgebra
import KVCompress
import LlamaInference

/// `kvc sweep`: accuracy of compression methods over any configuration axes, tasks and lengths
/// (see `SweepSpecification`), resumable, shardable, on Slurm, with reports.
struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accuracy of compression methods over configuration axes, tasks and lengths; resumable, sharded, on Slurm.",
        discussion: """
            `kvc sweep --spec S --out F.h5` runs a sweep (Experiments/sweeps/*.yaml); each finished trial is \
            journalled to F.h5.journal at once, and F.h5 is rewritten atomically after each document. \
            `--resume` continues a killed sweep; `--shard I/N` runs one share. A spec with `model: [A, B]` runs \
            each model into F.<stem>.h5. Then `kvc sweep merge`, `kvc sweep report`, and `kvc sweep slurm` for clusters.
            """,
        subcommands: [SweepRun.self, SweepMerge.self, SweepReportCommand.self, SweepSlurm.self],
        defaultSubcommand: SweepRun.self)

    /// The registries a sweep sees: every plug-in (built-ins, baselines, user plug-ins) and every task.
    static var plugins: PluginRegistry { CompressionRegistry.shared }
    static let tasks = TaskRegistry.withBuiltins()

    /// The specification stored in a results file, parsed again with its cells in run order (reports
    /// and merges need its cells).
    static func specification(of results: SweepResults, path: String) throws -> SweepSpecification {
        try SweepSpecification(recordedIn: results, path: path, plugins: plugins, tasks: tasks)
    }
}

/// `kvc sweep [run] --spec S --out F.h5 [--resume] [--shard I/N]`.
struct SweepRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a sweep (the default subcommand).")

    @OptionGroup(title: "Model") var modelOptions: ModelOptions
    @OptionGroup(title: "Compute") var compute: ComputeOptions

    @Option(help: "Sweep specification (YAML).", completion: .file())
    var spec: String?

    @Option(
        help: "HDF5 results file; its journal is FILE.journal. Never overwritten without --resume. With `model: [A, B]`: FILE.<model stem>.h5 per model.",
        completion: .file())
    var out: String?

    @Flag(help: "Continue the sweep in --out: reuse every finished trial; refuse if the specification, model or shard changed.")
    var resume = false

    @Option(help: ArgumentHelp("Run only shard I of N (0-based): whole documents, balanced by length.", valueName: "I/N"))
    var shard: String?

    @Option(
        help: ArgumentHelp(
            "Run only the documents of this task or length (task=NAME, length=N; repeat: values of one key are alternatives, keys narrow). Not part of the output's identity: a later --resume with another filter or none continues the same file.",
            valueName: "KEY=VALUE"))
    var only: [String] = []

    @Option(
        help: ArgumentHelp(
            "Write every prompt (JSON lines: task, length, prompt, question, seed, answers, tokens, text = document + question) to this file and stop, without loading the weights (for Experiments/sweeps/llamacpp_full_cache.py).",
            valueName: "path"),
        completion: .file())
    var writePrompts: String?

    @Flag(help: "List the registered tasks and exit.")
    var listTasks = false

    @Flag(help: "List the methods a spec may name (presets and policies) and exit.")
    var listMethods = false

    func validate() throws {
        if listTasks || listMethods { return }
        guard spec != nil else { throw ValidationError("--spec FILE is required (see Experiments/sweeps/*.yaml)") }
        guard out != nil || writePrompts != nil else { throw ValidationError("--out FILE.h5 is required (where the sweep's results go)") }
        if let shard { _ = try SweepShard(parsing: shard) }
    }

    func run() throws {
        if listTasks {
            Terminal.emit(Sweep.tasks.summaries.map { "\($0.name)\t\($0.summary)" }.joined(separator: "\n") + "\n")
            return
        }
        if listMethods {
            let presets = Sweep.plugins.registeredPresets.map { "\($0.name)\tpreset: \($0.summary)" }
            let policies = Sweep.plugins.summaries(.policy).map { "\($0.name)\tpolicy: \($0.summary)" }
            Terminal.emit((presets + policies).joined(separator: "\n") + "\n")
            return
        }
        guard let spec else { return }
        // Everything a user can get wrong is checked before the weights load: the specification and
        // its cells, the shard, the output, and the tasks' lengths against the tokenizer and context.
        let specification = try SweepSpecification.load(path: spec, plugins: Sweep.plugins, tasks: Sweep.tasks)
        let shard = try shard.map { try SweepShard(parsing: $0) }
        let filter = only.isEmpty ? nil : try SweepUnitFilter(parsing: only, specification: specification)
        let specText = (try? String(contentsOfFile: spec, encoding: .utf8)) ?? ""
        if let models = specification.modelAxis {
            if let filter { throw ValidationError("--only \(filter) with a model list (model: [...]) is not supported: run a copy of the specification per model") }
            return try runModelAxis(models, specification: specification, specificationText: specText, shard: shard)
        }
        if let named = specification.model, let given = modelOptions.model, named != given {
            throw ValidationError("--model \(given) differs from the model the specification names (model: \(named)); give one of them")
        }
        if modelOptions.model == nil, let named = specification.model, !FileManager.default.isReadableFile(atPath: named) {
            throw ValidationError(
                "the model the specification names (model: \(named)) is missing or unreadable; fetch it (scripts/fetch-model.sh) or fix the path")
        }
        let part = try ModelSweep(path: try ModelLocation.resolve(explicit: modelOptions.model ?? specification.model), specification: specification)
        if let writePrompts {
            return try Self.writePrompts(specification, tokenizer: part.tokenizer, contextLength: part.llama.contextLength, to: writePrompts)
        }
        guard let out else { return }
        let session = try part.session(specification, specificationText: specText, shard: shard, out: out, resume: resume)
        try compute.apply()
        BLAS.threads = compute.threads
        try part.run(specification, session: session, shard: shard, filter: filter)
        let report = try SweepReport(results: session.results, specification: specification)
        // The summary table is the product: stdout, as `kvc sweep report` prints it.
        Terminal.emit(try report.render(.markdown))
    }

    /// `model: [A, B, ...]`: the sweep once per model, in list order, each into its own results file
    /// (``SweepModelAxis/resultsPath(out:model:)``) with its own journal, then one report of them all.
    /// Every model's file, tokenizer, tasks and output are checked before any weights load, so a
    /// mistake about the last model does not surface after the first has run for hours. With
    /// `--resume` a finished file is skipped and an interrupted one continued.
    func runModelAxis(_ models: [String], specification: SweepSpecification, specificationText: String, shard: SweepShard?) throws {
        let list = "model: [\(models.joined(separator: ", "))]"
        if let given = modelOptions.model {
            throw ValidationError("--model \(given) and the specification's model list (\(list)) both choose the model; give one of them")
        }
        // One model's share is what a shard is; a shard per model would need a merge per model.
        if let shard {
            throw ValidationError("--shard \(shard) runs a share of one model's sweep; the specification lists \(models.count) models (\(list)): shard a copy of it per model")
        }
        let missing = SweepModelAxis.unreadable(models)
        guard missing.isEmpty else {
            throw ValidationError(
                "the specification lists model files that are missing or unreadable: \(missing.joined(separator: ", ")); fetch them (scripts/fetch-model.sh) or fix the paths")
        }
        let parts = try models.map { path in
            do { return try ModelSweep(path: path, specification: specification) } catch { throw ModelSweepError(model: path, underlying: error) }
        }
        if let writePrompts {
            for part in parts {
                try Self.writePrompts(
                    specification, tokenizer: part.tokenizer, contextLength: part.llama.contextLength,
                    to: SweepModelAxis.resultsPath(out: writePrompts, model: part.path))
            }
            return
        }
        guard let out else { return }
        let outputs = models.map { SweepModelAxis.resultsPath(out: out, model: $0) }
        // No session is opened (no journal created) until every output is known to be usable.
        var finished: [Int: SweepResults] = [:]
        for (i, output) in outputs.enumerated() {
            let fm = FileManager.default
            if !resume {
                for path in [output, SweepJournal.path(for: output)] where fm.fileExists(atPath: path) { throw EvaluationError.outputExists(path: path) }
            } else if let done = try? SweepResultsFile.read(path: output), done.complete,
                parts[i].header(specification, shard: nil).difference(from: done.header) == nil
            {
                finished[i] = done
            }
        }
        let sessions = try parts.indices.map { i in
            finished[i] == nil ? try parts[i].session(specification, specificationText: specificationText, shard: nil, out: outputs[i], resume: resume) : nil
        }
        try compute.apply()
        BLAS.threads = compute.threads
        var results: [SweepResults] = []
        for (i, part) in parts.enumerated() {
            if let done = finished[i] {
                Terminal.note("\(outputs[i]) is complete (\(done.trials.count) trials); skipped")
                results.append(done)
                continue
            }
            let session = sessions[i]!
            do { try part.run(specification, session: session, shard: nil) } catch { throw ModelSweepError(model: part.path, underlying: error) }
            results.append(session.results)
        }
        Terminal.note("wrote \(outputs.count) results files, one per model: \(outputs.joined(separator: " ")) (report them with `kvc sweep report` over them all)")
        let runs = try SweepModelAxis.runs(results, specifications: results.map { _ in specification }, paths: outputs)
        Terminal.emit(try SweepReport(runs: runs, specification: specification).render(.markdown))
    }
}

extension SweepRun {
    /// One line of `--write-prompts`.
    struct PromptRecord: Codable {
        let task: String
        /// Index into the spec's tasks (the results file's `/tasks`), to match trials.
        let taskIndex: Int
        let length: Int
        let prompt: Int
        let question: Int
        let seed: UInt64
        let answers: [String]
        /// How the answers count (`all`: fraction present, `part`: any present), and how many tokens
        /// the task decodes: what a reference run needs to score the same way.
        let scoring: String
        let maxNewTokens: Int
        let tokens: Int
        let text: String

        enum CodingKeys: String, CodingKey {
            case task, taskIndex = "task_index", length, prompt, question, seed, answers, scoring
            case maxNewTokens = "max_new_tokens", tokens, text
        }
    }

    static func writePrompts(_ specification: SweepSpecification, tokenizer: any TextTokenizer, contextLength: Int, to path: String) throws {
        try OutputFile.checkWritable(path)
        let tasks = try SweepRunner.checkTasks(specification, registry: Sweep.tasks, tokenizer: tokenizer, contextLength: contextLength)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var lines = Data()
        var count = 0
        for (t, task) in tasks.enumerated() {
            for length in specification.lengths {
                for p in 0..<specification.prompts {
                    let instance = try task.instance(targetTokens: length, seed: specification.seed(ofPrompt: p), tokenizer: tokenizer)
                    for (q, question) in instance.questions.enumerated() {
                        lines += try encoder.encode(
                            PromptRecord(
                                task: specification.tasks[t].description, taskIndex: t, length: length, prompt: p, question: q,
                                seed: instance.seed, answers: question.answers, scoring: task.scoring.rawValue,
                                maxNewTokens: task.maxNewTokens, tokens: instance.promptTokens(question: q).count,
                                text: instance.document + question.text))
                        lines += Data("\n".utf8)
                        count += 1
                    }
                }
            }
        }
        try OutputFile.writeAtomically(lines, to: path)
        Terminal.note("wrote \(count) prompts to \(path)")
    }
}

/// Progress of a sweep on stderr: a bar redrawn in place on a terminal (documents, trials, trials/s,
/// ETA), one plain line per finished document otherwise.
struct SweepProgress {
    let documents: Int
    let cellsPerDocument: Int
    private(set) var trials: Int
    private(set) var documentsDone = 0
    private var trialsThisRun = 0
    /// Documents that recorded trials in this run (a resumed sweep passes its finished ones at once):
    /// the ETA's pace.
    private var documentsRun = 0
    private var trialsAtLastDocument = 0
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(documents: Int, cellsPerDocument: Int, done: Int) {
        self.documents = documents
        self.cellsPerDocument = cellsPerDocument
        trials = done
    }

    mutating func trialFinished(_ trial: TrialRecord) {
        trials += 1
        trialsThisRun += 1
        guard Terminal.stderrIsTerminal else { return }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        drawn = true
        Terminal.noteRaw("\r\u{1B}[2K" + line())
    }

    mutating func documentFinished() {
        documentsDone += 1
        if trialsThisRun > trialsAtLastDocument { documentsRun += 1 }
        trialsAtLastDocument = trialsThisRun
        if !Terminal.stderrIsTerminal { Terminal.note(line()) } else {
            drawn = true
            Terminal.noteRaw("\r\u{1B}[2K" + line())
        }
    }

    mutating func finish() {
        if drawn { Terminal.noteRaw("\r\u{1B}[2K") }
        drawn = false
    }

    /// `sweep [#####.......] 3/10 documents, 120 trials, 2.1 trials/s, ETA 5 min`.
    func line() -> String {
        let seconds = Date().timeIntervalSince(start)
        let rate = seconds > 0 ? Double(trialsThisRun) / seconds : 0
        let fraction = documents > 0 ? Double(documentsDone) / Double(documents) : 1
        let width = 20, filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let perDocument = documentsRun > 0 ? seconds / Double(documentsRun) : 0
        let eta = documentsRun > 0 ? " ETA \(Format.fixed(perDocument * Double(documents - documentsDone), digits: 0)) s" : ""
        return "sweep [\(bar)] \(documentsDone)/\(documents) documents, \(trials) trials, \(Format.fixed(rate, digits: 2)) trials/s,\(eta)"
    }
}

/// `kvc sweep merge --out F A.h5 B.h5 ...`.
struct SweepMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge", abstract: "Merge shard results of one sweep; reports missing cells.",
        discussion: "The inputs must come from the same specification and model and must not overlap. Exits with status 2 when trials are missing (the merged file is still written).")

    @Option(help: "Merged HDF5 file (never overwritten).", completion: .file())
    var out: String

    @Argument(help: "Shard results files.", completion: .file())
    var inputs: [String]

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give the shard files to merge") }
    }

    func run() throws {
        guard !FileManager.default.fileExists(atPath: out) else { throw EvaluationError.outputExists(path: out) }
        try OutputFile.checkWritable(out)
        let results = try inputs.map { try SweepResultsFile.read(path: $0) }
        let specification = try Sweep.specification(of: results[0], path: inputs[0])
        let (merged, missing) = try Evaluation.SweepMerge.merge(results, paths: inputs, specification: specification)
        try SweepResultsFile.write(merged, specification: specification, to: out)
        Terminal.note("wrote \(out): \(merged.trials.count) trials from \(inputs.count) files")
        guard missing.isEmpty else {
            for unit in missing.documents.prefix(20) {
                Terminal.note("missing: document task \(specification.tasks[unit.task]), length \(specification.lengths[unit.length]), prompt \(unit.prompt) (no trials)")
            }
            for key in missing.trials.prefix(20) {
                Terminal.note(
                    "missing: task \(specification.tasks[key.task]), length \(specification.lengths[key.length]), prompt \(key.prompt), question \(key.question), cell {\(specification.cells[key.cell].label)}")
            }
            Terminal.note("missing \(missing.documents.count) documents and \(missing.trials.count) trials in all")
            throw ExitCode(2)
        }
    }
}

/// `kvc sweep report FILE... [--format markdown|csv|json] [--baseline METHOD | --baseline AXIS=VALUE] [--timings]`.
struct SweepReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Accuracy per cell with Wilson intervals, fraction of full cache, exact sign tests on paired scores (McNemar's on 0/1 scores; Holm) against a baseline.",
        discussion: """
            Several files of one specification, one model each (a sweep with `model: [A, B]` writes them), are reported \
            together: each cell starts with model=NAME and is compared only with cells of its own model.
            """)

    @Argument(help: "Sweep results files (.h5): one, or one per model of the same specification.", completion: .file())
    var files: [String]

    @Option(help: "markdown (default), csv (one row per trial) or json (one object per cell).")
    var format: String = "markdown"

    @Option(
        help: ArgumentHelp(
            "Compare each cell with this method's cell of the same other axis values, or (AXIS=VALUE, e.g. kv_type=f32) with the cell that has that value of that axis (default: the full cache).",
            valueName: "METHOD|AXIS=VALUE"))
    var baseline: String?

    @Flag(help: "Add timing columns (prefill, compression, question prefill, decoding seconds).")
    var timings = false

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give the results file(s) to report") }
        guard SweepReport.Format(rawValue: format) != nil else { throw ValidationError("--format must be markdown, csv or json (got '\(format)')") }
    }

    func run() throws {
        let results = try files.map { try SweepResultsFile.read(path: $0) }
        let specifications = try zip(results, files).map { try Sweep.specification(of: $0, path: $1) }
        // One file is one run: its report names no model.
        let runs = try SweepModelAxis.runs(results, specifications: specifications, paths: files)
        let report = try SweepReport(runs: runs, specification: specifications[0], baseline: baseline, timings: timings)
        Terminal.emit(try report.render(SweepReport.Format(rawValue: format)!))
    }
}

/// `kvc sweep slurm --spec S --shards N --out DIR [--partition P] [--submit]`.
struct SweepSlurm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slurm", abstract: "Write (and with --submit, submit) a Slurm job array running a sweep in N shards, and a dependent merge job.")

    @Option(help: "Sweep specification (YAML).", completion: .file())
    var spec: String

    @Option(help: "Number of shards (array tasks).")
    var shards: Int

    @Option(help: "Directory for the job scripts, the shard files, the logs and the merged sweep.h5.", completion: .directory)
    var out: String

    @Option(help: "Slurm partition.")
    var partition: String?

    @Option(help: ArgumentHelp("Slurm time limit per task (e.g. 2:00:00).", valueName: "time"))
    var time: String?

    @Option(help: "CPUs per array task (kvc --threads).")
    var cpusPerTask: Int = 2

    @Option(help: "Model file the tasks load (default: kvc's default model resolved now).", completion: .file())
    var model: String?

    @Flag(help: "Submit with sbatch: the array, then the merge with --dependency=afterok on it.")
    var submit = false

    func run() throws {
        // Check the specification now rather than on the cluster.
        let specification = try SweepSpecification.load(path: spec, plugins: Sweep.plugins, tasks: Sweep.tasks)
        if let models = specification.modelAxis {
            throw ValidationError(
                "kvc sweep slurm runs one model; the specification lists \(models.count) (model: [\(models.joined(separator: ", "))]): write a copy of it per model")
        }
        let kvc = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        let binary = FileManager.default.isExecutableFile(atPath: kvc) ? kvc : (Bundle.main.executablePath ?? kvc)
        let jobs = try SlurmJobs(
            kvc: binary, specification: spec, directory: out, model: try model ?? ModelLocation.resolve(explicit: nil), shards: shards,
            partition: partition, timeLimit: time, cpusPerTask: cpusPerTask)
        try jobs.write()
        Terminal.note("wrote \(jobs.arrayScriptPath) and \(jobs.mergeScriptPath)")
        guard submit else {
            Terminal.emit("sbatch --parsable \(jobs.arrayScriptPath)\nsbatch --dependency=afterok:<array job id> \(jobs.mergeScriptPath)\n")
            return
        }
        let arrayID = try Self.sbatch([jobs.arrayScriptPath])
        let mergeID = try Self.sbatch(["--dependency=afterok:\(arrayID)", jobs.mergeScriptPath])
        Terminal.note("submitted array job \(arrayID) and merge job \(mergeID); results: \(jobs.mergedPath)")
        Terminal.emit("\(arrayID) \(mergeID)\n")
    }

    /// Runs `sbatch --parsable ARGS`; returns the job id.
    static func sbatch(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["sbatch", "--parsable"] + arguments
        let pipe = Pipe(), errors = Pipe()
        process.standardOutput = pipe
        process.standardError = errors
        do { try process.run() } catch { throw ValidationError("cannot run sbatch: \(error)") }
        process.waitUntilExit()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, let id = output.split(separator: ";").first, !id.isEmpty else {
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw ValidationError("sbatch \(arguments.joined(separator: " ")) failed (status \(process.terminationStatus)): \(message)")
        }
        return String(id)
    }
}
