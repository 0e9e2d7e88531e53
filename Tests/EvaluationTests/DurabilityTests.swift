import Evaluation
import Foundation
import KVCHDF5
import Testing

/// The journal and the result file: what a killed sweep leaves, resuming, spec changes, shards and merges.
@Suite struct DurabilityTests {
    static let specification = try! EvaluationSupport.specification(
        "task: {name: key_value, options: {questions: 2}}\nlengths: [200, 260]\nprompts: 3\nseed: 11\nmethods: [kvcompress, snapkv]\ngrid: {rate: [1, 4], question: [aware, agnostic]}")
    static let reference: [TrialRecord] = try! EvaluationSupport.run(specification)

    /// Runs the sweep into `output` through a session, stopping (as a kill would) after `limit` trials.
    static func runSession(output: String, resume: Bool, limit: Int? = nil, shard: SweepShard? = nil) throws -> SweepSession {
        let session = try SweepSession(
            output: output, resume: resume, header: EvaluationSupport.header(specification, shard: shard), specificationText: "test")
        let runner = try EvaluationSupport.runner(specification)
        let units = shard?.units(of: runner.allUnits) { specification.lengths[$0.length] } ?? runner.allUnits
        struct Stop: Error {}
        var count = 0
        do {
            try runner.run(units: units, done: session.done) { trial in
                if let limit, count == limit { throw Stop() }
                try session.record(trial)
                count += 1
            } documentFinished: { _ in
                try session.checkpoint(specification: specification, complete: false)
            }
            try session.checkpoint(specification: specification, complete: true)
        } catch is Stop {}
        return session
    }

    @Test func theReferenceHasEveryTrial() {
        #expect(Self.reference.count == 2 * 3 * 2 * 8)
    }

    /// A kill during the write of a trial leaves a prefix of its line: every cut of the journal reads
    /// back as the complete trials before it, and resuming from it finishes the sweep with the trials
    /// of an uninterrupted run.
    @Test(arguments: [0, 1, 17, 40])
    func resumingAfterAKillAtAnyByteGivesTheUninterruptedResult(trialsBeforeKill: Int) throws {
        let directory = try EvaluationSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("sweep.h5").path
        _ = try Self.runSession(output: out, resume: false, limit: trialsBeforeKill + 1)
        let journal = SweepJournal.path(for: out)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: journal))
        // Cut inside the last line: the kill came while it was being written.
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let lastLineLength = lines[lines.count - 2].count
        for cut in [1, lastLineLength / 2, lastLineLength] {
            try bytes.prefix(bytes.count - cut).write(to: URL(fileURLWithPath: journal))
            let (_, trials, _) = try SweepJournal.read(path: journal)
            #expect(trials.count == trialsBeforeKill)
        }
        let session = try Self.runSession(output: out, resume: true)
        #expect(session.trials.sorted { $0.key < $1.key }.map(\.outcome) == Self.reference.map(\.outcome))
        let file = try SweepResultsFile.read(path: out)
        #expect(file.complete && file.trials.map(\.outcome) == Self.reference.map(\.outcome))
        #expect(!FileManager.default.fileExists(atPath: HDF5File.partialPath(for: out)))
    }

    @Test func anExistingOutputIsNeverOverwrittenWithoutResume() throws {
        let directory = try EvaluationSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("sweep.h5").path
        _ = try Self.runSession(output: out, resume: false, limit: 3)
        let before = try Data(contentsOf: URL(fileURLWithPath: SweepJournal.path(for: out)))
        #expect { _ = try Self.runSession(output: out, resume: false) } throws: { "\($0)".contains("exists; pass --resume") }
        #expect(try Data(contentsOf: URL(fileURLWithPath: SweepJournal.path(for: out))) == before)
        #expect(throws: EvaluationError.self) { _ = try Self.runSession(output: "/nonexistent-directory/sweep.h5", resume: false) }
    }

    @Test func resumingWithAChangedSpecificationIsRefusedNamingTheChange() throws {
        let directory = try EvaluationSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("sweep.h5").path
        _ = try Self.runSession(output: out, resume: false, limit: 2)
        let changed = try EvaluationSupport.specification(
            "task: {name: key_value, options: {questions: 2}}\nlengths: [200, 260]\nprompts: 3\nseed: 11\nmethods: [kvcompress, snapkv]\ngrid: {rate: [1, 8], question: [aware, agnostic]}")
        #expect {
            _ = try SweepSession(output: out, resume: true, header: EvaluationSupport.header(changed), specificationText: "")
        } throws: { error in
            "\(error)".contains("cannot resume") && "\(error)".contains("grid.rate[1]")
        }
        let shard = try SweepShard(index: 0, count: 2)
        #expect {
            _ = try SweepSession(output: out, resume: true, header: EvaluationSupport.header(Self.specification, shard: shard), specificationText: "")
        } throws: { "\($0)".contains("the shard changed") }
    }

    /// `--only`: values of one key are alternatives, keys narrow; a task matches by name (every entry
    /// of that name) or by its full description; a session lists the documents still unfinished.
    @Test func onlyFiltersByTaskAndLengthAndTheSessionKnowsWhatIsUnfinished() throws {
        let s = try EvaluationSupport.specification(
            "tasks: [{name: key_value, options: {questions: 1}}, {name: key_value, options: {questions: 2}}, passkey]\n"
                + "lengths: [240, 300]\nprompts: 2\nseed: 3\nmethods: [kvcompress]")
        let all = try EvaluationSupport.runner(s).allUnits
        func taken(_ terms: [String]) throws -> [SweepUnit] { all.filter(try SweepUnitFilter(parsing: terms, specification: s).includes) }
        #expect(try taken(["task=key_value"]).map(\.task).allSatisfy { $0 < 2 } && taken(["task=key_value"]).count == 8)
        #expect(try taken(["task=key_value(questions=2)"]).allSatisfy { $0.task == 1 } && taken(["task=key_value(questions=2)"]).count == 4)
        #expect(try taken(["length=300"]).allSatisfy { $0.length == 1 } && taken(["length=300"]).count == 6)
        #expect(try taken(["length=240", "length=300"]) == all)
        #expect(try taken(["task=passkey", "length=240"]) == [SweepUnit(task: 2, length: 0, prompt: 0), SweepUnit(task: 2, length: 0, prompt: 1)])
        #expect(throws: EvaluationError.self) { _ = try SweepUnitFilter(parsing: ["length=200"], specification: s) }

        let directory = try EvaluationSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let session = try SweepSession(
            output: directory.appendingPathComponent("only.h5").path, resume: false, header: EvaluationSupport.header(s), specificationText: "")
        let first = SweepUnit(task: 0, length: 0, prompt: 0)
        let trials = try EvaluationSupport.run(s, units: [first])
        try trials.dropLast().forEach(session.record)
        #expect(session.unfinished(all, cells: s.cells.count).contains(first), "a document missing a trial is unfinished")
        try trials.suffix(1).forEach(session.record)
        #expect(session.unfinished(all, cells: s.cells.count) == Array(all.dropFirst()))
    }

    @Test func shardsAreDeterministicBalancedAndWholeDocuments() throws {
        let runner = try EvaluationSupport.runner(Self.specification)
        let all = runner.allUnits
        let cost = { (u: SweepUnit) in Self.specification.lengths[u.length] }
        let shards = try (0..<4).map { try SweepShard(index: $0, count: 4).units(of: all, cost: cost) }
        #expect(Set(shards.flatMap { $0 }) == Set(all) && shards.map(\.count).reduce(0, +) == all.count)
        let loads = shards.map { $0.reduce(0) { $0 + cost($1) } }
        #expect(loads.max()! - loads.min()! <= Self.specification.lengths.max()!)
        #expect(try SweepShard(index: 2, count: 4).units(of: all.reversed(), cost: cost) == shards[2])
        #expect(throws: EvaluationError.self) { _ = try SweepShard(parsing: "4/4") }
        #expect(throws: EvaluationError.self) { _ = try SweepShard(parsing: "x") }
    }

    @Test func mergedShardsEqualASingleRunAndOverlapsOrForeignShardsAreRefused() throws {
        let directory = try EvaluationSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var paths: [String] = []
        for i in 0..<3 {
            let out = directory.appendingPathComponent("shard-\(i).h5").path
            _ = try Self.runSession(output: out, resume: false, shard: try SweepShard(index: i, count: 3))
            paths.append(out)
        }
        let inputs = try paths.map { try SweepResultsFile.read(path: $0) }
        let (merged, missing) = try SweepMerge.merge(inputs, paths: paths, specification: Self.specification)
        #expect(missing.isEmpty && merged.complete)
        #expect(merged.trials.map(\.outcome) == Self.reference.map(\.outcome))

        // Two shards only: the third's documents are reported missing.
        let (partial, gaps) = try SweepMerge.merge(Array(inputs.prefix(2)), paths: Array(paths.prefix(2)), specification: Self.specification)
        #expect(!partial.complete && gaps.documents.count == inputs[2].trials.count / 16)

        #expect { _ = try SweepMerge.merge([inputs[0], inputs[0]], paths: [paths[0], paths[0]], specification: Self.specification) } throws: {
            "\($0)".contains("must not overlap")
        }
        var foreign = inputs[1]
        foreign.header.specification = foreign.header.specification.replacingOccurrences(of: "\"seed\":11", with: "\"seed\":12")
        #expect { _ = try SweepMerge.merge([inputs[0], foreign], paths: ["a.h5", "b.h5"], specification: Self.specification) } throws: {
            "\($0)".contains("not from the same sweep") && "\($0)".contains("seed")
        }
    }
}
