import Foundation

/// A sweep's outputs while it runs: the journal that makes each trial durable at once, and the HDF5
/// file rewritten whole after each document. Enforces the rules on existing outputs: without
/// `resume` nothing existing is touched; with it, only the same sweep (specification, model, shard)
/// continues, reusing every trial already recorded.
public final class SweepSession {
    public let output: String
    public let header: SweepHeader
    public let specificationText: String
    public let attributes: [String: String]
    private let journal: SweepJournal
    public private(set) var trials: [TrialRecord]
    public private(set) var done: Set<TrialKey>

    /// Opens the outputs for `output` (an `.h5` path; the journal is `output.journal`).
    /// - Parameter resume: continue an existing sweep of the same header (a missing output starts
    ///   afresh, so a requeued Slurm task can always pass `--resume`).
    public init(output: String, resume: Bool, header: SweepHeader, specificationText: String, attributes: [String: String] = [:]) throws(EvaluationError) {
        self.output = output
        self.header = header
        self.specificationText = specificationText
        self.attributes = attributes
        let journalPath = SweepJournal.path(for: output)
        let fm = FileManager.default
        let hasJournal = fm.fileExists(atPath: journalPath), hasOutput = fm.fileExists(atPath: output)
        let directory = URL(fileURLWithPath: output).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .unwritableOutput(path: output, why: "no directory \(directory)")
        }
        guard fm.isWritableFile(atPath: directory) else { throw .unwritableOutput(path: output, why: "directory \(directory) is not writable") }
        if !resume, hasJournal || hasOutput { throw .outputExists(path: hasOutput ? output : journalPath) }
        if hasJournal {
            let (journal, trials) = try SweepJournal.resume(path: journalPath)
            if let difference = header.difference(from: journal.header) { throw .resumeMismatch(path: journalPath, difference: difference) }
            self.journal = journal
            self.trials = trials
        } else if hasOutput {
            // A results file whose journal is gone (copied elsewhere, or a merge): its trials seed a new journal.
            let previous = try SweepResultsFile.read(path: output)
            if let difference = header.difference(from: previous.header) { throw .resumeMismatch(path: output, difference: difference) }
            journal = try SweepJournal.create(path: journalPath, header: header)
            for trial in previous.trials { try journal.append(trial) }
            trials = previous.trials
        } else {
            journal = try SweepJournal.create(path: journalPath, header: header)
            trials = []
        }
        done = Set(trials.map(\.key))
    }

    /// Records a finished trial durably (journal line, fsync) before returning.
    public func record(_ trial: TrialRecord) throws(EvaluationError) {
        guard !done.contains(trial.key) else { return }
        try journal.append(trial)
        trials.append(trial)
        done.insert(trial.key)
    }

    /// Rewrites the HDF5 file from every trial so far (atomically).
    public func checkpoint(specification: SweepSpecification, complete: Bool) throws {
        try SweepResultsFile.write(
            SweepResults(header: header, specificationText: specificationText, trials: trials, complete: complete, attributes: attributes),
            specification: specification, to: output)
    }

    /// The documents of `units` that lack some trial: none recorded, or not every question × cell (a
    /// document a killed run left half done), in `units`' order.
    public func unfinished(_ units: [SweepUnit], cells: Int) -> [SweepUnit] {
        let missing = SweepMerge.missing(units, trials: trials, cells: cells)
        let incomplete = Set(missing.documents + missing.trials.map(\.unit))
        return units.filter(incomplete.contains)
    }

    public var results: SweepResults {
        SweepResults(header: header, specificationText: specificationText, trials: trials, complete: true, attributes: attributes)
    }
}

/// `kvc sweep merge`: shard files of one sweep into one.
public enum SweepMerge {
    /// What a merge found missing: documents with no trial at all, and trials absent from documents
    /// that have some.
    public struct Missing: Sendable, Equatable {
        public var documents: [SweepUnit] = []
        public var trials: [TrialKey] = []
        public var isEmpty: Bool { documents.isEmpty && trials.isEmpty }
    }

    /// Merges results of the same specification and model; overlapping trials are an error.
    /// - Parameter paths: for messages, one per input.
    public static func merge(_ inputs: [SweepResults], paths: [String], specification: SweepSpecification) throws(EvaluationError) -> (SweepResults, Missing) {
        guard let first = inputs.first else { throw .mergeMismatch("no input files") }
        var owner: [TrialKey: Int] = [:]
        var trials: [TrialRecord] = []
        for (i, input) in inputs.enumerated() {
            if let difference = first.header.difference(from: input.header, includingShard: false) {
                throw .mergeMismatch("\(paths[i]) is not from the same sweep as \(paths[0]): \(difference)")
            }
            for trial in input.trials {
                if let j = owner[trial.key] {
                    throw .mergeMismatch("\(paths[j]) and \(paths[i]) both hold the trial \(trial.key); shards must not overlap")
                }
                owner[trial.key] = i
                trials.append(trial)
            }
        }
        let missing = missing(specification.units, trials: trials, cells: specification.cells.count)
        var header = first.header
        header.shard = nil
        let merged = SweepResults(
            header: header, specificationText: first.specificationText, trials: trials, complete: missing.isEmpty, attributes: first.attributes)
        return (merged, missing)
    }

    /// What `trials` lack of `units`: documents with no trial, and each absent (question, cell) of
    /// the documents that have some (a document's question count is read off its trials).
    static func missing(_ units: [SweepUnit], trials: [TrialRecord], cells: Int) -> Missing {
        var missing = Missing()
        let present = Dictionary(grouping: trials, by: \.key.unit)
        for unit in units {
            guard let some = present[unit] else {
                missing.documents.append(unit)
                continue
            }
            let keys = Set(some.map(\.key))
            for q in 0..<some[0].questionCount {
                for c in 0..<cells {
                    let key = TrialKey(task: unit.task, length: unit.length, prompt: unit.prompt, question: q, cell: c)
                    if !keys.contains(key) { missing.trials.append(key) }
                }
            }
        }
        return missing
    }
}
