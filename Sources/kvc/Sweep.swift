import ArgumentParser
import EvictionPolicies
import Foundation
import KVCHDF5
import KVCLinearAlgebra
import KVCompress
import LlamaInference

/// `kvc sweep`: accuracy of compression methods × rates on a needle-retrieval task, with one prefill
/// per prompt and an independent cache fork per (method, rate) (see `SweepRunner`).
struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Needle-retrieval accuracy of compression methods × rates; results to HDF5, a markdown table to stdout.",
        discussion: """
            The specification (YAML) names the task (passkey | prose_needle), prompt lengths, seeded prompts \
            per length, rates (1 = no compression) and methods; see Experiments/sweeps/*.yaml. The table gives \
            accuracy k/n with its Wilson 95% interval and the resident KV MiB per method × rate × length, so \
            methods are compared at equal bytes. Progress goes to stderr.
            """)

    @OptionGroup(title: "Model") var modelOptions: ModelOptions
    @OptionGroup(title: "Compute") var compute: ComputeOptions

    @Option(help: "Sweep specification (YAML).", completion: .file())
    var spec: String

    @Option(help: "HDF5 file to write (appears only when the sweep is complete); required unless --write-prompts.", completion: .file())
    var out: String?

    @Option(help: ArgumentHelp("Run only the first N prompts of each length (to estimate the time of the whole sweep).", valueName: "N"))
    var limitPrompts: Int?

    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp("Run only these of the specification's lengths (to split a long sweep into runs).", valueName: "tokens"))
    var lengths: [Int] = []

    @Option(
        help: ArgumentHelp(
            "Write the sweep's prompts (JSON lines: length, prompt, seed, answer, tokens, needle offset, text) to this file and stop, without running the model.",
            valueName: "path"),
        completion: .file())
    var writePrompts: String?

    func validate() throws {
        if out == nil, writePrompts == nil { throw ValidationError("--out FILE.h5 is required (where the sweep's results go)") }
        if let limitPrompts, limitPrompts < 1 { throw ValidationError("--limit-prompts must be at least 1 (got \(limitPrompts))") }
    }

    func run() throws {
        let registry = PluginRegistry.withBuiltins()
        var specification = try SweepSpecification.load(path: spec, registry: registry)
        if let limitPrompts { specification.prompts = min(specification.prompts, limitPrompts) }
        if !lengths.isEmpty {
            let unknown = lengths.filter { !specification.lengths.contains($0) }
            guard unknown.isEmpty else {
                throw ValidationError(
                    "--lengths \(unknown.map(String.init).joined(separator: " ")) not in the specification's lengths \(specification.lengths)")
            }
            specification.lengths = specification.lengths.filter(lengths.contains)
        }
        if let writePrompts { return try write(specification: specification, registry: registry, to: writePrompts) }
        guard let out else { return }  // validate() requires --out without --write-prompts
        let file = try HDF5File.create(path: out)  // fails on a bad path now, not after the sweep
        do {
            BLAS.threads = compute.threads
            let loaded = try LoadedModel.load(path: modelOptions.resolvedPath())
            Terminal.note("loaded \(loaded.name) in \(Format.fixed(loaded.loadSeconds, digits: 2)) s")
            let runner = try SweepRunner(
                specification: specification, model: loaded.model, tokenizer: loaded.bpeTokenizer(for: "kvc sweep"), registry: registry)
            Terminal.note(
                "sweep: \(specification.task.rawValue), lengths \(specification.lengths.map(String.init).joined(separator: ", ")), "
                    + "\(specification.prompts) prompts each, \(specification.methods.count) methods × \(specification.rates.count) rates "
                    + "= \(specification.trialCount) trials")
            var reporter = SweepProgressReporter(total: specification.trialCount)
            let results = try runner.run { reporter.update($0) }
            reporter.finish()
            let specText = (try? String(contentsOfFile: spec, encoding: .utf8)) ?? ""
            // The kernels matter to reproduction: decode attention sums in an order of its own per
            // instruction set, so greedy text can part after some tokens between machines.
            try results.write(
                into: file,
                attributes: [
                    "model": loaded.name, "model_path": loaded.path, "spec_yaml": specText, "spec_path": spec,
                    "kernels": QuantizedKernels.name,
                ])
            try file.commit()
            Terminal.note("wrote \(out) (\(results.trials.count) trials in \(Format.fixed(results.seconds, digits: 0)) s)")
            Terminal.emit(try SweepSummary(results: results).markdown())
        } catch {
            file.discard()
            throw error
        }
    }
}

extension Sweep {
    /// One line of `--write-prompts`: what other engines (llama.cpp) need to run the same prompts.
    struct PromptRecord: Codable {
        let length: Int
        let prompt: Int
        let seed: UInt64
        let answer: String
        let tokens: Int
        let needleTokenOffset: Int
        let depth: Double
        let text: String
    }

    func write(specification: SweepSpecification, registry: PluginRegistry, to path: String) throws {
        try OutputFile.checkWritable(path)
        let loaded = try LoadedModel.load(path: modelOptions.resolvedPath())
        let runner = try SweepRunner(
                specification: specification, model: loaded.model, tokenizer: loaded.bpeTokenizer(for: "kvc sweep"), registry: registry)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var lines = Data()
        for (index, p) in try runner.prompts().enumerated() {
            lines += try encoder.encode(
                PromptRecord(
                    length: p.targetTokens, prompt: index % specification.prompts, seed: p.seed, answer: p.answer, tokens: p.tokens.count,
                    needleTokenOffset: p.needleTokenOffset, depth: p.depth, text: p.text))
            lines += Data("\n".utf8)
        }
        try OutputFile.writeAtomically(lines, to: path)
        Terminal.note("wrote \(specification.lengths.count * specification.prompts) prompts to \(path)")
    }
}

/// Progress of a sweep on stderr: a redrawn bar on a terminal, one line per finished prompt in logs.
struct SweepProgressReporter {
    private var bar: ProgressLine

    init(total: Int) { bar = ProgressLine(label: "sweep", total: total, unit: "trials", minimumTotal: 1) }

    mutating func update(_ progress: SweepProgress) {
        bar.update(progress.trialsDone)
        let trialsPerPrompt = max(1, progress.trialCount / max(1, progress.promptCount))
        guard !Terminal.stderrIsTerminal, progress.trialsDone % trialsPerPrompt == 0 else { return }
        Terminal.note(
            "prompt \(progress.trialsDone / trialsPerPrompt)/\(progress.promptCount): \(progress.latest.promptTokens) tokens, "
                + "\(progress.trialsDone)/\(progress.trialCount) trials, \(Format.fixed(progress.seconds, digits: 0)) s elapsed")
    }

    mutating func finish() { bar.finish() }
}
