import Foundation
import KVCHDF5

/// A sweep's (or shard's) results: the header saying what they belong to and every finished trial.
public struct SweepResults: Sendable {
    public var header: SweepHeader
    /// The specification file's text, for the record.
    public var specificationText: String
    /// Sorted by ``TrialKey``.
    public var trials: [TrialRecord]
    /// Whether every trial of the sweep (or of the shard) is present.
    public var complete: Bool
    /// Extra root attributes (kernels, model path) kept through merges.
    public var attributes: [String: String]

    public init(header: SweepHeader, specificationText: String, trials: [TrialRecord], complete: Bool, attributes: [String: String] = [:]) {
        self.header = header
        self.specificationText = specificationText
        self.trials = trials.sorted { $0.key < $1.key }
        self.complete = complete
        self.attributes = attributes
    }
}

/// The sweep's HDF5 file (`kvc sweep --out FILE`), always rewritten whole and atomically (KVCHDF5:
/// a `.partial` file renamed into place), so it is either the previous complete version or the new
/// one. Layout, for readers (notebooks):
///
/// ```text
/// /                      attributes: format "kvc-sweep/2", specification_json (canonical), spec_yaml,
///                        model, shard ("I/N" or ""), complete (1 when every trial is present),
///                        layers, kv_heads, and from `kvc sweep` kernels, model_path
/// /tasks                 [T] strings: the tasks as `name(option=value, ...)`
/// /lengths               [L] int64: target tokens
/// /axes                  [A] strings: axis keys, `method` first
/// /cells/                one row per cell (C rows)
///   label                [C] strings: `method=snapkv, rate=4, ...`
///   method, question     [C] strings
///   max_new_tokens       [C] int32 (0: the task's)
///   configuration        [C] strings: the cell's CompressionConfiguration as JSON (`kvc --config` schema)
///   kv_type              [C] strings: the element type of the cell's cached keys and values (f16, f32)
///   values               [C × A] strings, row-major: each cell's value of each axis
/// /trials/               one row per trial, sorted by task, length, prompt, question, cell (N rows)
///   record               [N] strings: the whole trial as JSON (what resume, merge and reports read)
///   task, length_index, prompt, question, cell   [N] int32
///   seed                 [N] int64
///   target_tokens, document_tokens, prompt_tokens, resident_blocks   [N] int32
///   resident_bytes       [N] int64
///   score                [N] float64 in [0, 1]; correct [N] uint8 (score == 1)
///   generated            [N] strings (NUL shown as U+FFFD; `record` has the exact text)
///   kept_kvs             [N, layers, kv_heads] int32: KVs each head kept after compression
///   evidence_tokens      [N] int32; evidence_kvs_kept [N, layers, kv_heads] int32 (0 without evidence)
///   budget_held          [N] uint8; compressions [N] int32; scoring_extra_tokens [N] int32 (tokens a
///                        scorer prefilled beyond the sequence, e.g. KVzip's reconstruction; 0 in older files)
///   prefill_seconds, compress_seconds, question_prefill_seconds, decode_seconds   [N] float64
/// ```
public enum SweepResultsFile {
    public static let formatName = "kvc-sweep/2"

    /// Writes `results` to `path` atomically, replacing any earlier version.
    public static func write(_ results: SweepResults, specification: SweepSpecification?, to path: String) throws {
        let file = try HDF5File.create(path: path)
        do {
            try write(results, specification: specification, into: file)
            try file.commit()
        } catch {
            file.discard()
            throw error
        }
    }

    static func write(_ results: SweepResults, specification: SweepSpecification?, into file: HDF5File) throws {
        let h = results.header, trials = results.trials, n = trials.count
        try file.setAttribute("format", formatName)
        try file.setAttribute("specification_json", h.specification)
        try file.setAttribute("spec_yaml", results.specificationText)
        try file.setAttribute("model", h.model)
        try file.setAttribute("shard", h.shard?.description ?? "")
        try file.setAttribute("complete", results.complete ? 1 : 0)
        try file.setAttribute("layers", h.layers)
        try file.setAttribute("kv_heads", h.kvHeads)
        for (key, value) in results.attributes.sorted(by: { $0.key < $1.key }) { try file.setAttribute(key, value) }
        if let s = specification {
            try file.createDataset("tasks", strings: s.tasks.map(\.description))
            try file.createDataset("lengths", values: s.lengths.map(Int64.init), shape: [s.lengths.count])
            try file.createDataset("axes", strings: s.axisKeys)
            let cells = try file.createGroup("cells")
            try cells.createDataset("label", strings: s.cells.map(\.label))
            try cells.createDataset("method", strings: s.cells.map(\.method))
            try cells.createDataset("question", strings: s.cells.map(\.question.rawValue))
            try cells.createDataset("max_new_tokens", values: s.cells.map { Int32($0.maxNewTokens ?? 0) }, shape: [s.cells.count])
            try cells.createDataset("configuration", strings: try s.cells.map { try $0.configuration.toJSON().replacingOccurrences(of: "\n", with: "") })
            try cells.createDataset("kv_type", strings: s.cells.map(\.configuration.resolvedKVType.rawValue))
            try cells.createDataset("values", strings: s.cells.flatMap { cell in s.axisKeys.map { cell.value(of: $0)?.description ?? "" } })
        }
        let group = try file.createGroup("trials")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try group.createDataset("record", strings: try trials.map { String(decoding: try encoder.encode($0), as: UTF8.self) })
        func column<E: HDF5Element>(_ name: String, _ values: [E]) throws { try group.createDataset(name, values: values, shape: [n]) }
        try column("task", trials.map { Int32($0.key.task) })
        try column("length_index", trials.map { Int32($0.key.length) })
        try column("prompt", trials.map { Int32($0.key.prompt) })
        try column("question", trials.map { Int32($0.key.question) })
        try column("cell", trials.map { Int32($0.key.cell) })
        try column("seed", trials.map { Int64(bitPattern: $0.seed) })
        try column("target_tokens", trials.map { Int32($0.targetTokens) })
        try column("document_tokens", trials.map { Int32($0.documentTokens) })
        try column("prompt_tokens", trials.map { Int32($0.promptTokens) })
        try column("resident_blocks", trials.map { Int32($0.residentBlocks) })
        try column("resident_bytes", trials.map { Int64($0.residentBytes) })
        try column("score", trials.map(\.score))
        try column("correct", trials.map { UInt8($0.correct ? 1 : 0) })
        // HDF5 strings end at NUL; a random-weight model can generate one (the record keeps the exact text).
        try group.createDataset("generated", strings: trials.map { $0.generated.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") })
        let heads = h.layers * h.kvHeads
        try group.createDataset(
            "kept_kvs", values: trials.flatMap { t in (0..<heads).map { Int32(t.keptKVs.count == heads ? t.keptKVs[$0] : 0) } },
            shape: [n, h.layers, h.kvHeads])
        try column("evidence_tokens", trials.map { Int32($0.evidenceTokens) })
        try group.createDataset(
            "evidence_kvs_kept", values: trials.flatMap { t in (0..<heads).map { Int32(t.evidenceKVsKept.count == heads ? t.evidenceKVsKept[$0] : 0) } },
            shape: [n, h.layers, h.kvHeads])
        try column("budget_held", trials.map { UInt8($0.budgetHeld ? 1 : 0) })
        try column("compressions", trials.map { Int32($0.compressions) })
        try column("scoring_extra_tokens", trials.map { Int32($0.scoringExtraTokens ?? 0) })
        try column("prefill_seconds", trials.map(\.timings.prefill))
        try column("compress_seconds", trials.map(\.timings.compress))
        try column("question_prefill_seconds", trials.map(\.timings.questionPrefill))
        try column("decode_seconds", trials.map(\.timings.decode))
    }

    /// Reads a results file written by ``write(_:specification:to:)``.
    public static func read(path: String) throws(EvaluationError) -> SweepResults {
        do {
            let file = try HDF5File.open(path: path)
            defer { try? file.close() }
            guard (try? file.attribute("format", as: String.self)) == formatName else {
                throw EvaluationError.unreadableResults(path: path, why: "not a \(formatName) file")
            }
            let shardText = try file.attribute("shard", as: String.self)
            let header = SweepHeader(
                specification: try file.attribute("specification_json", as: String.self), model: try file.attribute("model", as: String.self),
                shard: shardText.isEmpty ? nil : try SweepShard(parsing: shardText), layers: try file.attribute("layers", as: Int.self),
                kvHeads: try file.attribute("kv_heads", as: Int.self))
            var attributes: [String: String] = [:]
            for key in ["kernels", "model_path"] { if let v = try? file.attribute(key, as: String.self) { attributes[key] = v } }
            let decoder = JSONDecoder()
            let trials = try file.readStrings(dataset: "trials/record").map { try decoder.decode(TrialRecord.self, from: Data($0.utf8)) }
            return SweepResults(
                header: header, specificationText: try file.attribute("spec_yaml", as: String.self), trials: trials,
                complete: try file.attribute("complete", as: Int.self) == 1, attributes: attributes)
        } catch let error as EvaluationError {
            throw error
        } catch {
            throw .unreadableResults(path: path, why: FileManager.default.fileExists(atPath: path) ? "\(error)" : "no such file")
        }
    }
}
