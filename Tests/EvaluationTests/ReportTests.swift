import Evaluation
import Foundation
import KVCStatistics
import Testing

/// Reports: Wilson intervals, fraction of full cache, paired sign tests on scores (McNemar on 0/1) with Holm, CSV rows, determinism.
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

    /// `trials` with every score set by `score` (the tiny random model gets nothing right, so the
    /// outcomes of a two-model report are written here).
    static func scored(_ trials: [TrialRecord], _ score: (TrialRecord) -> Double) -> [TrialRecord] {
        trials.map { t in
            TrialRecord(
                key: t.key, task: t.task, targetTokens: t.targetTokens, seed: t.seed, questionCount: t.questionCount, documentTokens: t.documentTokens,
                promptTokens: t.promptTokens, answers: t.answers, generated: t.generated, generatedTokens: t.generatedTokens, score: score(t),
                keptKVs: t.keptKVs, residentBlocks: t.residentBlocks, residentBytes: t.residentBytes, evidenceTokens: t.evidenceTokens,
                evidenceKVsKept: t.evidenceKVsKept, budgetHeld: t.budgetHeld, compressions: t.compressions, timings: t.timings)
        }
    }

    /// The results of `specification` as if run on two models: `tiny` gets nothing right, `other` only
    /// its full cache. Pairing a cell with the other model's full cache would change every p-value.
    static func twoModels(model names: (String, String) = ("tiny", "other")) -> [SweepResults] {
        var first = results, second = results
        first.header.model = names.0
        second.header.model = names.1
        first.trials = scored(results.trials) { _ in 0 }
        second.trials = scored(results.trials) { specification.cells[$0.key.cell].compresses ? 0 : 1 }
        return [first, second]
    }

    /// The paired test reads the scores, not only "fully right": a cell that finds half of what its
    /// full cache finds fully is tested as worse on every question (McNemar on "fully right" would
    /// agree here), and one that finds half where the full cache finds nothing as better (McNemar
    /// would see ties and p = 1).
    @Test func thePairedTestCountsPartlyRightAnswers() throws {
        let spec = Self.specification
        var results = Self.results
        results.trials = Self.scored(Self.results.trials) { t in
            let compressed = spec.cells[t.key.cell].compresses
            return spec.cells[t.key.cell].method == "random" ? (compressed ? 0.5 : 0) : (compressed ? 0.5 : 1)
        }
        let rows = try SweepReport(results: results, specification: spec).summaries()
        let tested = Dictionary(uniqueKeysWithValues: rows.filter { $0.pValue != nil }.map { ($0.method, $0.pValue!) })
        let expected = try PairedComparison.signTest(positive: 6, negative: 0)  // 6 questions, all one way
        #expect(tested == ["kvcompress": expected, "random": expected] && expected < 0.05)
        let markdown = try SweepReport(results: results, specification: spec).render(.markdown)
        #expect(markdown.contains("exact sign-test p on paired scores (McNemar's exact test where scores are 0 or 1)"))
    }

    /// The report ends with how many tests survive Holm and in which direction, per task and length
    /// and per method: here `random` at rate 8 loses all 8 questions its full cache answers (p = 2⁻⁷,
    /// ×2 by Holm) while `kvcompress` ties; against `random`, `kvcompress` is above it.
    @Test func theReportCountsTheTestsSignificantAfterHolmAndTheirDirection() throws {
        let spec = try EvaluationSupport.specification(
            "task: {name: key_value, options: {questions: 2}}\nlengths: [220]\nprompts: 4\nmethods: [kvcompress, random]\ngrid: {rate: [1, 8]}")
        let trials = Self.scored(try EvaluationSupport.run(spec)) { t in
            spec.cells[t.key.cell].method == "random" && spec.cells[t.key.cell].compresses ? 0 : 1
        }
        let results = SweepResults(header: EvaluationSupport.header(spec), specificationText: "", trials: trials, complete: true)
        let rows = try SweepReport(results: results, specification: spec).summaries().filter { $0.pValue != nil }
        #expect(rows.map(\.method) == ["kvcompress", "random"])
        #expect(rows.map(\.pairsAbove) == [0, 0] && rows.map(\.pairsBelow) == [0, 8])
        #expect(try SweepReport(results: results, specification: spec).render(.json).contains("\"pairs_below\" : 8"))
        let task = rows[0].task
        let markdown = try SweepReport(results: results, specification: spec).render(.markdown)
        #expect(markdown.contains("### Tests significant after Holm"))
        #expect(markdown.contains("Of the 2 tests against the full cache (rate 1, same placement), those with Holm-adjusted p < 0.05"))
        #expect(markdown.contains("| \(task) | 220 | 2 | 1 | 0 |\n| all | | 2 | 1 | 0 |"))
        #expect(markdown.contains("| kvcompress | 1 | 0 | 0 |\n| random | 1 | 1 | 0 |"))
        let againstRandom = try SweepReport(results: results, specification: spec, baseline: "random").render(.markdown)
        #expect(againstRandom.contains("| all | | 2 | 0 | 1 |") && againstRandom.contains("| kvcompress | 2 | 0 | 1 |"))
        // Nothing significant: the section still says so, with zero counts.
        let none = try SweepReport(results: Self.results, specification: Self.specification).render(.markdown)
        #expect(none.contains("those with Holm-adjusted p < 0.05") && none.contains("| all | | 2 | 0 | 0 |"))
    }

    @Test func aReportOverTwoModelsNamesTheModelAndTestsWithinIt() throws {
        let files = Self.twoModels()
        let runs = try SweepModelAxis.runs(files, specifications: [Self.specification, Self.specification], paths: ["a.h5", "b.h5"])
        #expect(runs.map(\.model) == ["tiny", "other"])
        let report = try SweepReport(runs: runs, specification: Self.specification)
        let rows = try report.summaries()
        #expect(rows.map(\.model) == ["tiny", "tiny", "tiny", "tiny", "other", "other", "other", "other"])
        #expect(rows.allSatisfy { $0.label.hasPrefix("model=\($0.model!), method=") })
        let tested = rows.filter { $0.pValue != nil }
        #expect(tested.map(\.label) == ["model=tiny, method=kvcompress, rate=8", "model=tiny, method=random, rate=8",
                                         "model=other, method=kvcompress, rate=8", "model=other, method=random, rate=8"])
        #expect(tested.allSatisfy { $0.baseline!.hasPrefix("model=\($0.model!), ") && $0.baseline!.hasSuffix("rate=1") })
        // Each model's tests are those of its file alone (6 discordant pairs in `other`: p = 2⁻⁵), Holm over all four.
        let alone = try files.map { try SweepReport(results: $0, specification: Self.specification).summaries() }
        #expect(tested.map(\.pValue) == alone.flatMap { $0.filter { $0.pValue != nil }.map(\.pValue) })
        #expect(zip(tested.map(\.pValue!), [1, 1, 0.03125, 0.03125]).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(tested.map(\.pHolm!) == MultipleComparisons.holm(tested.map(\.pValue!)))
        #expect(rows.map(\.fractionOfFullCache) == alone.flatMap { $0.map(\.fractionOfFullCache) })
        #expect(rows.map(\.fractionOfFullCache) == [nil, nil, nil, nil, 1, 0, 1, 0])

        let markdown = try report.render(.markdown)
        #expect(markdown.contains("| model=other, method=random, rate=8 | 0/6 |"))
        #expect(markdown.contains("against the full cache (rate 1, same placement) of the same model, Holm-corrected over the 4 tests"))
        let csv = try report.render(.csv).split(separator: "\n")
        #expect(csv[0].contains(",question_placement,model,method,rate,") && csv.count == 1 + 2 * Self.results.trials.count)
        #expect(csv.last!.contains(",aware,other,random,8,"))
        #expect(try report.render(.json).contains("\"model\" : \"other\""))
        // One file: no model anywhere, whichever way the report is made.
        let single = try SweepReport(results: files[1], specification: Self.specification)
        let oneRun = try SweepReport(runs: [runs[1]], specification: Self.specification)
        for format in SweepReport.Format.allCases {
            let text = try single.render(format)
            #expect(text == (try oneRun.render(format)) && !text.contains("model"))
        }
    }

    @Test func filesOfOtherSpecificationsOrOfOneModelTwiceAreNotReportedTogether() throws {
        let files = Self.twoModels()
        let paths = ["a.h5", "b.h5"]
        let (otherSpecification, otherResults) = try Self.rateByKVType(methods: "[kvcompress]")
        #expect {
            _ = try SweepModelAxis.runs([files[0], otherResults], specifications: [Self.specification, otherSpecification], paths: paths)
        } throws: { "\($0)".contains("b.h5 was made from another specification than a.h5") }
        #expect {
            _ = try SweepModelAxis.runs([files[0], files[0]], specifications: [Self.specification, Self.specification], paths: paths)
        } throws: { "\($0)".contains("a.h5 and b.h5 both hold results of the model tiny") && "\($0)".contains("kvc sweep merge") }
        // Two quantisations of one model share `general.name`: their files' stems name them.
        var same = Self.twoModels(model: ("SmolLM2", "SmolLM2"))
        same[0].attributes["model_path"] = "models/SmolLM2.Q4_1.gguf"
        same[1].attributes["model_path"] = "/m/SmolLM2.Q8_0.gguf"
        let runs = try SweepModelAxis.runs(same, specifications: [Self.specification, Self.specification], paths: paths)
        #expect(runs.map(\.model) == ["SmolLM2.Q4_1", "SmolLM2.Q8_0"])
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
