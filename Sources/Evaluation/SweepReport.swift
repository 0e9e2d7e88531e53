import Foundation
import KVCStatistics

/// `kvc sweep report`: per (task, length, cell) the accuracy k/n with its Wilson 95% interval, the
/// mean task score, the fraction of the full cache's accuracy, and an exact sign test on the task
/// scores paired on (prompt, question) against a baseline, Holm-corrected across every test of the
/// report (KVCStatistics, GSL). On tasks scored 0 or 1 the sign test is McNemar's exact test; on
/// RULER's fractional scores (several values, words) it also counts partly right answers, which a
/// test on "fully right" would call ties. The markdown ends with the count of tests that survive Holm,
/// by side of the baseline, per task and length and per method. Deterministic: the same trials give
/// byte-identical text; timings appear only when asked.
///
/// Over several results files of one specification, one model each (``SweepModelAxis``), every cell
/// gains `model=NAME` as its first component and is compared only with cells of its own model.
public struct SweepReport {
    public enum Format: String, Sendable, CaseIterable {
        case markdown, csv, json
    }

    /// One results file of the report: the model it ran (its name) and its trials.
    public struct Run: Sendable {
        public let model: String
        public let results: SweepResults

        public init(model: String, results: SweepResults) {
            self.model = model
            self.results = results
        }
    }

    /// The results reported, one run per model, in the order given.
    public let runs: [Run]
    public let specification: SweepSpecification
    /// What each cell is compared with. A method name (`snapkv`): that method's cell of the same other
    /// axis values. `AXIS=VALUE` (`kv_type=f32`, `question=aware`): the cell that differs only in
    /// having that value of that axis, so any axis can be the treatment. nil: the full cache (the cell
    /// of the same placement and answer length at rate 1 sharing the most other axis values).
    public let baseline: String?
    public let timings: Bool
    /// `baseline` as an axis value, when it has the `AXIS=VALUE` form.
    let baselineAxisValue: (key: String, value: String)?

    /// The report of one results file.
    public init(results: SweepResults, specification: SweepSpecification, baseline: String? = nil, timings: Bool = false) throws(EvaluationError) {
        try self.init(runs: [Run(model: results.header.model, results: results)], specification: specification, baseline: baseline, timings: timings)
    }

    /// The report of several runs of `specification`, one per model (``SweepModelAxis/runs(_:specifications:paths:)``
    /// checks the files); with one run, exactly the report of its file.
    public init(runs: [Run], specification: SweepSpecification, baseline: String? = nil, timings: Bool = false) throws(EvaluationError) {
        guard !runs.isEmpty else { throw .reportMismatch("no results files") }
        var axisValue: (key: String, value: String)?
        if let baseline, let equals = baseline.firstIndex(of: "=") {
            let key = String(baseline[..<equals]), value = String(baseline[baseline.index(after: equals)...])
            let keys = specification.axisKeys.filter { $0 != "method" }
            guard keys.contains(key) else {
                throw .invalidSpecification("--baseline \(baseline): \(key) is not an axis of this sweep; its axes: \(keys.joined(separator: ", "))")
            }
            let values = Array(Set(specification.cells.compactMap { $0.value(of: key)?.description })).sorted()
            guard values.contains(value) else {
                throw .invalidSpecification("--baseline \(baseline): axis \(key) has no value \(value); its values: \(values.joined(separator: ", "))")
            }
            axisValue = (key, value)
        } else if let baseline, !specification.cells.contains(where: { $0.method == baseline }) {
            throw .invalidSpecification(
                "--baseline \(baseline) is not a method of this sweep (nor AXIS=VALUE); its methods: \(Array(Set(specification.cells.map(\.method))).sorted().joined(separator: ", "))")
        }
        self.runs = runs
        self.specification = specification
        self.baseline = baseline
        self.baselineAxisValue = axisValue
        self.timings = timings
    }

    /// Whether cells are named by model: only when several models are reported, so that the report of
    /// one file stays what it always was.
    var namesModels: Bool { runs.count > 1 }

    /// `model=NAME, ` before every cell label of run `run` when models are named, else nothing.
    func modelPrefix(_ run: Int) -> String { namesModels ? "model=\(runs[run].model), " : "" }

    /// One row of the report.
    public struct CellSummary: Sendable, Codable, Equatable {
        /// The run's model, when the report has several (absent from JSON otherwise).
        public let model: String?
        public let task: String
        public let targetTokens: Int
        public let cell: Int
        public let label: String
        public let method: String
        public let trials: Int
        public let correct: Int
        public let accuracy: Double
        public let wilsonLower: Double
        public let wilsonUpper: Double
        public let meanScore: Double
        /// Accuracy over the full cache's on the same trials; nil when there is no full-cache cell or it got none right.
        public let fractionOfFullCache: Double?
        /// The baseline cell's label, the exact sign test's p-value on paired scores against it
        /// (McNemar's exact test where scores are 0 or 1), and Holm's adjustment.
        public let baseline: String?
        public let pValue: Double?
        public let pHolm: Double?
        /// Of the questions paired with the baseline, how many scored above it and how many below
        /// (ties are neither): the sign test's counts, so they give a significant cell's direction.
        public let pairsAbove: Int?
        public let pairsBelow: Int?
        public let residentMiB: Double
        public let prefillSeconds: Double?
        public let compressSeconds: Double?
        public let questionPrefillSeconds: Double?
        public let decodeSeconds: Double?
        public let compressions: Int?

        enum CodingKeys: String, CodingKey {
            case model, task, cell, label, method, trials, correct, accuracy, baseline, compressions
            case targetTokens = "target_tokens"
            case wilsonLower = "wilson_lower"
            case wilsonUpper = "wilson_upper"
            case meanScore = "mean_score"
            case fractionOfFullCache = "fraction_of_full_cache"
            case pValue = "p_value"
            case pHolm = "p_holm"
            case pairsAbove = "pairs_above"
            case pairsBelow = "pairs_below"
            case residentMiB = "resident_mib"
            case prefillSeconds = "prefill_seconds"
            case compressSeconds = "compress_seconds"
            case questionPrefillSeconds = "question_prefill_seconds"
            case decodeSeconds = "decode_seconds"
        }
    }

    /// Per (task, length, model, cell), in that order.
    public func summaries() throws -> [CellSummary] {
        let s = specification
        var byCell: [Triple: [TrialRecord]] = [:]
        for (r, run) in runs.enumerated() {
            for trial in run.results.trials { byCell[Triple(run: r, task: trial.key.task, length: trial.key.length, cell: trial.key.cell), default: []].append(trial) }
        }
        struct Draft {
            let key: Triple
            let trials: [TrialRecord]
            let baselineCell: Int?
            let fullCell: Int?
        }
        var drafts: [Draft] = []
        for t in s.tasks.indices {
            for l in s.lengths.indices {
                for r in runs.indices {
                    for cell in s.cells {
                        let key = Triple(run: r, task: t, length: l, cell: cell.index)
                        guard let trials = byCell[key], !trials.isEmpty else { continue }
                        drafts.append(Draft(key: key, trials: trials, baselineCell: baselineCell(for: cell), fullCell: fullCacheCell(for: cell)))
                    }
                }
            }
        }
        // Paired tests first, so Holm sees the whole family. A baseline is always the run's own (same model).
        var pValues: [Int: Double] = [:]
        var signs: [Int: (above: Int, below: Int)] = [:]
        for (i, d) in drafts.enumerated() {
            guard let b = d.baselineCell, let other = byCell[Triple(run: d.key.run, task: d.key.task, length: d.key.length, cell: b)] else { continue }
            let theirs = Dictionary(uniqueKeysWithValues: other.map { (QuestionID($0.key), $0.score) })
            let pairs = d.trials.compactMap { t in theirs[QuestionID(t.key)].map { (t.score, $0) } }
            guard !pairs.isEmpty else { continue }
            pValues[i] = try PairedComparison.signTest(pairs.map(\.0), pairs.map(\.1)).pValue
            signs[i] = (pairs.count { $0.0 > $0.1 }, pairs.count { $0.0 < $0.1 })
        }
        let tested = pValues.keys.sorted()
        let adjusted = MultipleComparisons.holm(tested.map { pValues[$0]! })
        let holm = Dictionary(uniqueKeysWithValues: zip(tested, adjusted))

        return try drafts.enumerated().map { i, d in
            let cell = s.cells[d.key.cell]
            let n = d.trials.count, k = d.trials.count(where: \.correct)
            let interval = try ConfidenceInterval.wilson(successes: k, trials: n)
            var fraction: Double?
            if let f = d.fullCell, let full = byCell[Triple(run: d.key.run, task: d.key.task, length: d.key.length, cell: f)] {
                let mine = Set(d.trials.map { QuestionID($0.key) })
                let fullCorrect = full.filter { mine.contains(QuestionID($0.key)) }.count(where: \.correct)
                if fullCorrect > 0 { fraction = Double(k) / Double(fullCorrect) }
            }
            func total(_ f: (TrialTimings) -> Double) -> Double? { timings ? d.trials.reduce(0) { $0 + f($1.timings) } : nil }
            let prefix = modelPrefix(d.key.run)
            return CellSummary(
                model: namesModels ? runs[d.key.run].model : nil, task: s.tasks[d.key.task].description, targetTokens: s.lengths[d.key.length],
                cell: cell.index, label: prefix + cell.label, method: cell.method,
                trials: n, correct: k, accuracy: Double(k) / Double(n), wilsonLower: interval.lower, wilsonUpper: interval.upper,
                meanScore: d.trials.reduce(0) { $0 + $1.score } / Double(n), fractionOfFullCache: fraction,
                baseline: pValues[i] != nil ? d.baselineCell.map { prefix + s.cells[$0].label } : nil, pValue: pValues[i], pHolm: holm[i],
                pairsAbove: signs[i]?.above, pairsBelow: signs[i]?.below,
                residentMiB: Double(d.trials.reduce(0) { $0 + $1.residentBytes }) / Double(n) / 1_048_576,
                prefillSeconds: total(\.prefill), compressSeconds: total(\.compress), questionPrefillSeconds: total(\.questionPrefill),
                decodeSeconds: total(\.decode), compressions: timings ? d.trials.reduce(0) { $0 + $1.compressions } : nil)
        }
    }

    /// The report in `format`.
    public func render(_ format: Format) throws -> String {
        switch format {
        case .markdown: try markdown()
        case .csv: csv()
        case .json: try json()
        }
    }

    // MARK: - Baselines

    /// The cell of `baseline` with the same other axis values, or the full-cache cell; nil for the baseline itself.
    func baselineCell(for cell: SweepCell) -> Int? {
        guard let baseline else { return cell.compresses ? fullCacheCell(for: cell) : nil }
        if let (key, value) = baselineAxisValue {
            guard cell.value(of: key)?.description != value else { return nil }
            return specification.cells.first { other in
                other.method == cell.method && other.value(of: key)?.description == value
                    && other.axes.filter { $0.key != key } == cell.axes.filter { $0.key != key }
            }?.index
        }
        guard cell.method != baseline else { return nil }
        return specification.cells.first { $0.method == baseline && $0.axes == cell.axes }?.index
    }

    /// The cell that compresses nothing, with the same placement and answer length, that shares the
    /// most other axis values with `cell` (a float16 cell is compared with the float16 full cache of a
    /// `kv_type` axis, not the float32 one); the first such cell on a tie.
    func fullCacheCell(for cell: SweepCell) -> Int? {
        func shared(_ other: SweepCell) -> Int {
            cell.axes.count { entry in entry.key != "rate" && other.value(of: entry.key) == entry.value }
        }
        var best: SweepCell?
        for candidate in specification.cells where !candidate.compresses && candidate.question == cell.question
            && candidate.maxNewTokens == cell.maxNewTokens
        {
            if best == nil || shared(candidate) > shared(best!) { best = candidate }
        }
        return best?.index
    }

    // MARK: - Formats

    func markdown() throws -> String {
        let rows = try summaries()
        var lines: [String] = []
        let comparedWith =
            baselineAxisValue.map { "the same cell with \($0.key)=\($0.value)" } ?? baseline.map { "the same cell of \($0)" }
            ?? "the full cache (rate 1, same placement)"
        let comparedWithinModel = comparedWith + (namesModels ? " of the same model" : "")
        let sections = Dictionary(grouping: rows) { "\($0.task)|\($0.targetTokens)" }
        var seen: Set<String> = []
        for row in rows where seen.insert("\(row.task)|\(row.targetTokens)").inserted {
            let section = sections["\(row.task)|\(row.targetTokens)"]!
            lines.append("### \(row.task), \(row.targetTokens) tokens")
            lines.append("")
            lines.append(
                "Accuracy k/n with Wilson 95% interval; mean score; accuracy as a fraction of the full cache's; exact sign-test p on paired scores "
                    + "(McNemar's exact test where scores are 0 or 1) against "
                    + "\(comparedWithinModel), Holm-corrected over the \(rows.filter { $0.pValue != nil }.count) tests of this report; resident KV MiB after compression.")
            lines.append("")
            var header = "| cell | k/n | accuracy [95% CI] | mean score | of full cache | p (Holm) | KV MiB |"
            var rule = "|:--|--:|:--|--:|--:|--:|--:|"
            if timings {
                header += " prefill s | compress s | question prefill s | decode s | compressions |"
                rule += "--:|--:|--:|--:|--:|"
            }
            lines.append(header)
            lines.append(rule)
            for r in section {
                var line =
                    "| \(r.label) | \(r.correct)/\(r.trials) | \(fixed(r.accuracy, 2)) [\(fixed(r.wilsonLower, 2)), \(fixed(r.wilsonUpper, 2))] | "
                    + "\(fixed(r.meanScore, 2)) | \(r.fractionOfFullCache.map { fixed($0, 2) } ?? "—") | "
                    + "\(r.pValue.map { "\(fixed($0, 3)) (\(fixed(r.pHolm!, 3)))" } ?? "—") | \(fixed(r.residentMiB, 2)) |"
                if timings {
                    line += " \(fixed(r.prefillSeconds!, 2)) | \(fixed(r.compressSeconds!, 2)) | \(fixed(r.questionPrefillSeconds!, 2)) | \(fixed(r.decodeSeconds!, 2)) | \(r.compressions!) |"
                }
                lines.append(line)
            }
            lines.append("")
        }
        lines += significanceSummary(rows, comparedWith: comparedWithinModel)
        if timings {
            let t = runs.flatMap(\.results.trials)
            let prefills = t.count { $0.timings.prefill > 0 }
            lines.append(
                "Work over \(t.count) trials: \(prefills) observed prefills \(fixed(t.reduce(0) { $0 + $1.timings.prefill }, 2)) s, "
                    + "\(t.reduce(0) { $0 + $1.compressions }) compressions \(fixed(t.reduce(0) { $0 + $1.timings.compress }, 2)) s, "
                    + "question prefills \(fixed(t.reduce(0) { $0 + $1.timings.questionPrefill }, 2)) s, decoding \(fixed(t.reduce(0) { $0 + $1.timings.decode }, 2)) s.")
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }

    /// How many tests of the report stay significant after Holm (adjusted p < 0.05), and in which
    /// direction (the side more paired questions fall on), per task and length (and model), then per
    /// method: the counts a results section quotes, so that they are regenerated with the report.
    func significanceSummary(_ rows: [CellSummary], comparedWith: String) -> [String] {
        let tested = rows.filter { $0.pHolm != nil }
        guard !tested.isEmpty else { return [] }
        struct Tally {
            var tests = 0, below = 0, above = 0
            mutating func add(_ r: CellSummary) {
                tests += 1
                guard r.pHolm! < 0.05 else { return }
                if r.pairsAbove! > r.pairsBelow! { above += 1 } else if r.pairsBelow! > r.pairsAbove! { below += 1 }
            }
            var cells: String { "\(tests) | \(below) | \(above) |" }
        }
        /// Tallies of `rows` grouped by `key`, in the order the keys first appear.
        func tallies(_ key: (CellSummary) -> String) -> [(String, Tally)] {
            var order: [String] = [], byKey: [String: Tally] = [:]
            for r in tested {
                let k = key(r)
                if byKey[k] == nil { order.append(k) }
                byKey[k, default: Tally()].add(r)
            }
            return order.map { ($0, byKey[$0]!) }
        }
        var all = Tally()
        tested.forEach { all.add($0) }
        var lines = [
            "### Tests significant after Holm", "",
            "Of the \(tested.count) tests against \(comparedWith), those with Holm-adjusted p < 0.05, below or above it "
                + "(the side more paired questions fall on); \(all.below + all.above) in all.", "",
            "| task | tokens | tests | below | above |", "|:--|--:|--:|--:|--:|",
        ]
        for (key, t) in tallies({ "\($0.model.map { "model=\($0), " } ?? "")\($0.task) | \($0.targetTokens)" }) { lines.append("| \(key) | \(t.cells)") }
        lines.append("| all | | \(all.cells)")
        lines += ["", "| method | tests | below | above |", "|:--|--:|--:|--:|"]
        for (key, t) in tallies({ "\($0.model.map { "model=\($0), " } ?? "")\($0.method)" }) { lines.append("| \(key) | \(t.cells)") }
        lines.append("")
        return lines
    }

    /// One row per trial: every axis value (the model first, when several), length, prompt, question,
    /// answers, output, score, correctness.
    func csv() -> String {
        let s = specification
        var header = ["task", "target_tokens", "prompt", "seed", "question", "cell", "question_placement"] + (namesModels ? ["model"] : []) + s.axisKeys
        header += ["prompt_tokens", "resident_bytes", "answers", "generated", "score", "correct"]
        if timings { header += ["prefill_seconds", "compress_seconds", "question_prefill_seconds", "decode_seconds", "compressions"] }
        var lines = [header.map(Self.csvField).joined(separator: ",")]
        for run in runs {
            for t in run.results.trials {
                let cell = s.cells[t.key.cell]
                var fields = [
                    s.tasks[t.key.task].description, String(t.targetTokens), String(t.key.prompt), String(t.seed), String(t.key.question),
                    String(cell.index), cell.question.rawValue,
                ]
                if namesModels { fields.append(run.model) }
                fields += s.axisKeys.map { cell.value(of: $0)?.description ?? "" }
                fields += [String(t.promptTokens), String(t.residentBytes), t.answers.joined(separator: "|"), t.generated, "\(t.score)", t.correct ? "1" : "0"]
                if timings {
                    fields += [t.timings.prefill, t.timings.compress, t.timings.questionPrefill, t.timings.decode].map { "\($0)" } + [String(t.compressions)]
                }
                lines.append(fields.map(Self.csvField).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(try summaries()), as: UTF8.self) + "\n"
    }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

    /// A cell of one run (model) at one task and length: the trials a row summarises.
    struct Triple: Hashable {
        let run: Int
        let task: Int
        let length: Int
        let cell: Int
    }

    /// A question of a document, whatever the cell: what paired tests pair on.
    struct QuestionID: Hashable {
        let task: Int, length: Int, prompt: Int, question: Int
        init(_ k: TrialKey) { (task, length, prompt, question) = (k.task, k.length, k.prompt, k.question) }
    }
}
