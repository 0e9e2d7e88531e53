import Evaluation
import Foundation
import KVCStatistics
import Testing

/// Reports: Wilson intervals, fraction of full cache, paired McNemar with Holm, CSV rows, determinism.
@Suite struct ReportTests {
    static let specification = try! EvaluationSupport.specification(
        "task: {name: key_value, options: {questions: 2}}\nlengths: [220]\nprompts: 3\nmethods: [kvcompress, random]\ngrid: {rate: [1, 8]}")
    static let results = SweepResults(
        header: EvaluationSupport.header(specification), specificationText: "", trials: try! EvaluationSupport.run(specification), complete: true)

    @Test func cellsHaveWilsonIntervalsFullCacheFractionsAndHolmCorrectedTests() throws {
        let report = try SweepReport(results: Self.results, specification: Self.specification)
        let rows = try report.summaries()
        #expect(rows.count == 4 && rows.allSatisfy { $0.trials == 6 })
        for r in rows {
            let w = try ConfidenceInterval.wilson(successes: r.correct, trials: r.trials)
            #expect(r.wilsonLower == w.lower && r.wilsonUpper == w.upper)
        }
        let full = rows.filter { Self.specification.cells[$0.cell].configuration.budget == .rate(1) }
        #expect(full.allSatisfy { $0.pValue == nil })
        let tested = rows.filter { $0.pValue != nil }
        #expect(tested.count == 2)
        #expect(tested.map { $0.pHolm! } == MultipleComparisons.holm(tested.map { $0.pValue! }))
        let byMethod = try SweepReport(results: Self.results, specification: Self.specification, baseline: "kvcompress").summaries()
        #expect(byMethod.filter { $0.pValue != nil }.map(\.method) == ["random", "random"])
        #expect(throws: EvaluationError.self) { _ = try SweepReport(results: Self.results, specification: Self.specification, baseline: "nosuch") }
    }

    /// A sweep of `methods` over rates 1 and 8 × both KV storage types, run on the tiny model.
    static func rateByKVType(methods: String) throws -> (SweepSpecification, SweepResults) {
        let specification = try EvaluationSupport.specification(
            "task: {name: key_value, options: {questions: 1}}\nlengths: [200]\nprompts: 2\nmethods: \(methods)\n"
                + "grid: {rate: [1, 8], kv_type: [f32, f16]}")
        let trials = try EvaluationSupport.run(specification)
        return (specification, SweepResults(header: EvaluationSupport.header(specification), specificationText: "", trials: trials, complete: true))
    }

    /// With a second axis (here the KV storage type) each cell is tested against the full cache of
    /// its own value of that axis.
    @Test func aCellIsComparedWithTheFullCacheOfItsOwnOtherAxes() throws {
        let (specification, results) = try Self.rateByKVType(methods: "[kvcompress]")
        let rows = try SweepReport(results: results, specification: specification).summaries()
        let tested = rows.filter { $0.pValue != nil }
        #expect(tested.map(\.label) == ["method=kvcompress, rate=8, kv_type=f32", "method=kvcompress, rate=8, kv_type=f16"])
        #expect(tested.map(\.baseline) == ["method=kvcompress, rate=1, kv_type=f32", "method=kvcompress, rate=1, kv_type=f16"])
    }

    /// `--baseline AXIS=VALUE`: each cell against the cell that differs only in that axis.
    @Test func anyAxisValueCanBeTheBaseline() throws {
        let (specification, results) = try Self.rateByKVType(methods: "[kvcompress, random]")
        let rows = try SweepReport(results: results, specification: specification, baseline: "kv_type=f32").summaries()
        let tested = rows.filter { $0.pValue != nil }
        #expect(tested.count == 4 && tested.allSatisfy { $0.label.hasSuffix("kv_type=f16") })
        #expect(tested.map(\.baseline) == tested.map { $0.label.replacingOccurrences(of: "kv_type=f16", with: "kv_type=f32") })
        let markdown = try SweepReport(results: results, specification: specification, baseline: "kv_type=f32").render(.markdown)
        #expect(markdown.contains("against the same cell with kv_type=f32"))
        #expect { _ = try SweepReport(results: results, specification: specification, baseline: "kv_kind=f32") } throws: {
            "\($0)".contains("kv_kind is not an axis") && "\($0)".contains("rate, kv_type")
        }
        #expect { _ = try SweepReport(results: results, specification: specification, baseline: "kv_type=bf16") } throws: {
            "\($0)".contains("has no value bf16") && "\($0)".contains("f16, f32")
        }
    }

    @Test func csvHasOneRowPerTrialAndTimingsOnlyOnRequest() throws {
        let plain = try SweepReport(results: Self.results, specification: Self.specification).render(.csv)
        let lines = plain.split(separator: "\n")
        #expect(lines.count == 1 + Self.results.trials.count)
        #expect(lines[0].hasPrefix("task,target_tokens,prompt,seed,question,cell,question_placement,method,rate,"))
        #expect(!plain.contains("seconds"))
        let timed = try SweepReport(results: Self.results, specification: Self.specification, timings: true).render(.csv)
        #expect(timed.split(separator: "\n")[0].hasSuffix("decode_seconds,compressions"))
    }

    @Test(arguments: SweepReport.Format.allCases)
    func twoReportsOfTheSameTrialsAreByteIdentical(format: SweepReport.Format) throws {
        // The same outcomes with other timings (another run): the report must not change.
        var rerun = Self.results
        rerun.trials = Self.results.trials.map { $0.outcome }
        let a = try SweepReport(results: Self.results, specification: Self.specification).render(format)
        let b = try SweepReport(results: rerun, specification: Self.specification).render(format)
        #expect(a == b && !a.isEmpty)
    }

    @Test func holmAdjustsLikeStatsmodels() {
        // statsmodels.stats.multitest.multipletests([0.01, 0.04, 0.03, 0.2], method="holm")[1]
        let adjusted = MultipleComparisons.holm([0.01, 0.04, 0.03, 0.2])
        let expected = [0.04, 0.09, 0.09, 0.2]
        #expect(zip(adjusted, expected).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(MultipleComparisons.holm([]) == [])
    }

    @Test func slurmScriptsRunEveryShardAndMergeAfterThem() throws {
        let jobs = try SlurmJobs(
            kvc: "/opt/kvc", specification: "spec.yaml", directory: "/scratch/run", model: "/m.gguf", shards: 4, partition: "cpu", timeLimit: "1:00:00",
            cpusPerTask: 2)
        #expect(jobs.arrayScript.contains("#SBATCH --array=0-3") && jobs.arrayScript.contains("#SBATCH --partition=cpu"))
        #expect(jobs.arrayScript.contains("--shard \"$shard/4\" --resume --out '/scratch/run'/shard-\"$shard\".h5"))
        #expect(jobs.mergeScript.contains("sweep merge --out '/scratch/run/sweep.h5' '/scratch/run/shard-0.h5'") && jobs.mergeScript.contains("shard-3.h5"))
        #expect(throws: EvaluationError.self) {
            _ = try SlurmJobs(kvc: "k", specification: "s", directory: "d", model: nil, shards: 0, partition: nil, timeLimit: nil, cpusPerTask: 1)
        }
    }
}
