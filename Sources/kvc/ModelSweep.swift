import BPETokenizer
import Evaluation
import EvaluationTasks
import Foundation
import GGUF
import KVCLinearAlgebra
import LlamaInference

/// One model's part of `kvc sweep`: its tokenizer and configuration, read from the GGUF metadata and
/// checked against the specification's tasks when made (so that with a model list every model is
/// checked before any weights load), then the run into one results file.
struct ModelSweep {
    let path: String
    let file: GGUFFile
    let tokenizer: any TextTokenizer
    let llama: LlamaConfiguration
    /// `general.name`, or the file name: what the results header records as the model.
    let name: String

    init(path: String, specification: SweepSpecification) throws {
        self.path = path
        file = try GGUFFile(path: path)
        // Byte-level BPE (SmolLM2) or SentencePiece (Gemma 3), as the GGUF's tokenizer.ggml.model says.
        tokenizer = try loadTokenizer(gguf: file)
        llama = try LlamaConfiguration(file: file)
        _ = try SweepRunner.checkTasks(specification, registry: Sweep.tasks, tokenizer: tokenizer, contextLength: llama.contextLength)
        name = (try? file.string("general.name")) ?? URL(fileURLWithPath: path).lastPathComponent
    }

    func header(_ specification: SweepSpecification, shard: SweepShard?) -> SweepHeader {
        SweepHeader(specification: specification.canonicalJSON, model: name, shard: shard, layers: llama.layers, kvHeads: llama.kvHeads)
    }

    /// The outputs of this model's run in `out` (created, or with `resume` reopened).
    func session(_ specification: SweepSpecification, specificationText: String, shard: SweepShard?, out: String, resume: Bool) throws -> SweepSession {
        // The kernels matter to reproduction: decode attention sums in an order of its own per
        // instruction set, so greedy text can part after some tokens between machines.
        try SweepSession(
            output: out, resume: resume, header: header(specification, shard: shard), specificationText: specificationText,
            attributes: ["kernels": QuantizedKernels.name, "model_path": path])
    }

    /// Loads the weights and runs every trial `session` lacks (of `shard`, of the documents `filter`
    /// takes), journalling each and rewriting the results file after each document; progress and a
    /// summary line on stderr. With a filter the file is marked complete only if no document of the
    /// shard is left without trials.
    func run(_ specification: SweepSpecification, session: SweepSession, shard: SweepShard?, filter: SweepUnitFilter? = nil) throws {
        let start = Date()
        let model = try LlamaModel(file: file)
        Terminal.note("loaded \(name) in \(Format.fixed(Date().timeIntervalSince(start), digits: 2)) s")
        let runner = try SweepRunner(specification: specification, model: model, tokenizer: tokenizer, plugins: Sweep.plugins, tasks: Sweep.tasks)
        let all = runner.allUnits
        let shardUnits = shard?.units(of: all) { specification.lengths[$0.length] } ?? all
        let units = filter.map { filter in shardUnits.filter(filter.includes) } ?? shardUnits
        let cells = specification.cells.count
        let reused = session.trials.count
        Terminal.note(
            "sweep: \(specification.tasks.count) task(s) × \(specification.lengths.count) length(s) × \(specification.prompts) prompt(s) = \(all.count) documents"
                + (shard.map { ", shard \($0): \(shardUnits.count) documents" } ?? "")
                + (filter.map { ", only \($0): \(units.count) documents" } ?? "") + "; \(cells) cells"
                + (reused > 0 ? "; resuming with \(reused) finished trials" : ""))
        var progress = SweepProgress(documents: units.count, cellsPerDocument: cells, done: reused)
        do {
            try runner.run(units: units, done: session.done) { trial in
                try session.record(trial)
                progress.trialFinished(trial)
            } documentFinished: { _ in
                try session.checkpoint(specification: specification, complete: false)
                progress.documentFinished()
            }
            let unfinished = filter == nil ? [] : session.unfinished(shardUnits, cells: cells)
            try session.checkpoint(specification: specification, complete: unfinished.isEmpty)
            if !unfinished.isEmpty {
                Terminal.note(
                    "\(unfinished.count) documents outside --only \(filter!) are not finished; run again with --resume (and another --only, or none) to finish the sweep")
            }
        } catch {
            progress.finish()
            throw error
        }
        progress.finish()
        let out = session.output
        Terminal.note("wrote \(out) (\(session.trials.count) trials; journal \(SweepJournal.path(for: out))) in \(Format.fixed(Date().timeIntervalSince(start), digits: 0)) s")
    }
}

/// A failure of one model of a model list, naming the model.
struct ModelSweepError: Error, CustomStringConvertible {
    let model: String
    let underlying: any Error
    var description: String { "model \(model): \(underlying)" }
}
