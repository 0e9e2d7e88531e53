import BPETokenizer
import Evaluation
import EvaluationTasks
import Foundation
import KVCompress
import LlamaInference
import PagedKVCache
import Testing

/// The runner on the tiny random model: question placement, fork reuse, shared prefills, baselines and
/// a user's plug-in swept by name.
@Suite struct RunnerTests {
    static func spec(_ body: String, questions: Int = 3, prompts: Int = 2) throws -> SweepSpecification {
        try EvaluationSupport.specification(
            "task: {name: key_value, options: {questions: \(questions)}}\nlengths: [240]\nprompts: \(prompts)\nseed: 7\n" + body)
    }

    @Test func atRateOneBothPlacementsGiveTheSameAnswers() throws {
        let s = try Self.spec("methods: [kvcompress]\ngrid: {question: [aware, agnostic]}")
        let trials = try EvaluationSupport.run(s)
        #expect(trials.count == 2 * 3 * 2)
        let aware = trials.filter { $0.key.cell == 0 }, agnostic = trials.filter { $0.key.cell == 1 }
        #expect(aware.map(\.generatedTokens) == agnostic.map(\.generatedTokens))
        #expect(aware.allSatisfy { $0.compressions == 0 && $0.keptKVs.allSatisfy { $0 > 0 } })
    }

    @Test func awareEqualsThePlainPromptThroughTheGenerator() throws {
        let s = try Self.spec("methods: [kvcompress]\nquestion: aware", questions: 2, prompts: 1)
        let trials = try EvaluationSupport.run(s)
        let instance = try EvaluationSupport.runner(s).instance(SweepUnit(task: 0, length: 0, prompt: 0))
        for (q, trial) in trials.enumerated() {
            let cache = try EvaluationSupport.model.makeCache(blockSize: 16, capacityBlocks: 400)
            let plain = try Generator(model: EvaluationSupport.model, cache: cache).generate(
                prompts: [instance.promptTokens(question: q)],
                parameters: GenerationParameters(maxTokens: 4, stopTokens: EvaluationSupport.byteTokenizer.endOfTurnIDs))
            #expect(trial.generatedTokens == plain.sequences[0].tokens)
        }
    }

    @Test(arguments: [QuestionPlacement.aware, .agnostic])
    func onlyAwarePlacementLetsQuestionTokensIntoTheMetric(placement: QuestionPlacement) throws {
        let log = "placement-\(placement.rawValue)"
        let s = try Self.spec(
            "configuration: {metric: {name: recording, options: {log: \(log)}}, window: {name: full}}\nmethods: [{name: uniform-recorded, policy: uniform}]\nquestion: \(placement.rawValue)\ngrid: {rate: [4]}",
            prompts: 1)
        let trials = try EvaluationSupport.run(s)
        let documentTokens = trials[0].documentTokens
        let seen = QueryLog.named(log).positions
        #expect(!seen.isEmpty)
        switch placement {
        case .agnostic: #expect(seen.allSatisfy { Int($0) < documentTokens }, "no question token reaches the metric")
        case .aware: #expect(seen.contains { Int($0) >= documentTokens }, "the question is observed")
        }
    }

    /// A document's KVzip reconstruction is run once and shared by the cells that compress it (two
    /// rates, two allocations): every trial equals the one a sweep of that cell alone gives, and each
    /// cell's compression is charged the pass's extra tokens.
    @Test func sharedReconstructionGivesEachCellWhatItWouldGetAlone() throws {
        let methods = "methods: [kvzip, {name: kvzip-per-head, preset: kvzip, policy: uniform}]\nquestion: agnostic\n"
        let together = try EvaluationSupport.run(try Self.spec(methods + "grid: {rate: [2, 4]}", questions: 2, prompts: 1))
        #expect(together.count == 2 * 2 * 2)
        // Each cell compresses its document once (charged to its first question's trial), paying the pass's tokens.
        for cell in 0..<4 {
            let compressing = together.filter { $0.key.cell == cell && $0.compressions == 1 }
            #expect(compressing.count == 1 && compressing.allSatisfy { ($0.scoringExtraTokens ?? 0) > $0.documentTokens })
        }
        for (index, (method, rate)) in [("kvzip", 2), ("kvzip", 4), ("kvzip-per-head", 2), ("kvzip-per-head", 4)].enumerated() {
            let preset = method == "kvzip" ? "kvzip" : "{name: kvzip-per-head, preset: kvzip, policy: uniform}"
            let alone = try EvaluationSupport.run(
                try Self.spec("methods: [\(preset)]\nquestion: agnostic\ngrid: {rate: [\(rate)]}", questions: 2, prompts: 1))
            let mine = together.filter { $0.key.cell == index }
            #expect(mine.map(\.generatedTokens) == alone.map(\.generatedTokens), "\(method) rate \(rate)")
            #expect(mine.map(\.keptKVs) == alone.map(\.keptKVs), "\(method) rate \(rate)")
            #expect(mine.map(\.scoringExtraTokens) == alone.map(\.scoringExtraTokens))
        }
    }

    /// KVzip's chat repeat turn on a model without a chat template: refused before any model work,
    /// naming the cell and what is missing.
    @Test func aScorerSettingTheModelCannotServeIsRefusedUpFront() throws {
        let s = try Self.spec(
            "methods: [{name: kvzip-chat, preset: kvzip, scorer: {name: kvzip, options: {repeat_turn: chat}}}]\nquestion: agnostic\ngrid: {rate: [4]}")
        #expect {
            try EvaluationSupport.runner(s)
        } throws: { error in
            guard case EvaluationError.invalidCell(let cell, let why) = error else { return false }
            return cell.contains("kvzip-chat") && why.contains("chat template")
        }
    }

    @Test func agnosticCompressesOnceAndForksTheCompressedDocumentForEachQuestion() throws {
        let s = try Self.spec("methods: [kvcompress, snapkv]\nquestion: agnostic\ngrid: {rate: [4]}", questions: 3, prompts: 1)
        let trials = try EvaluationSupport.run(s)
        for cell in 0..<2 {
            let mine = trials.filter { $0.key.cell == cell }
            #expect(mine.map(\.compressions) == [1, 0, 0], "one compression serves the three questions")
            #expect(Set(mine.map(\.keptKVs)).count == 1, "every question sees the same compressed document")
            #expect(mine.allSatisfy { $0.keptKVs.reduce(0, +) < $0.documentTokens * 4 / 2 })
        }
        // The aware placement compresses per question.
        let aware = try EvaluationSupport.run(try Self.spec("methods: [kvcompress]\ngrid: {rate: [4]}", questions: 3, prompts: 1))
        #expect(aware.map(\.compressions) == [1, 1, 1])
    }

    @Test func aBaselineAndAUsersPolicySweepByNameAndRecordEvidence() throws {
        let s = try Self.spec("methods: [h2o, key-norm, oldest_first]\ngrid: {rate: [1, 8]}", questions: 1, prompts: 1)
        let trials = try EvaluationSupport.run(s)
        #expect(trials.count == 6)
        let heads = EvaluationSupport.configuration.layers * EvaluationSupport.configuration.kvHeads
        for t in trials {
            #expect(t.evidenceKVsKept.count == heads && t.evidenceTokens > 0)
            let rate1 = s.cells[t.key.cell].configuration.budget == .rate(1)
            #expect(rate1 == (t.evidenceKVsKept == Array(repeating: t.evidenceTokens, count: heads)) || !rate1)
            if !rate1 { #expect(t.keptKVs.reduce(0, +) < t.promptTokens * heads / 2) }
        }
        // The user's policy keeps the newest KVs: its evidence survives only if it sits late in the document.
        let oldest = trials.first { s.cells[$0.key.cell].method == "oldest_first" && s.cells[$0.key.cell].compresses }!
        #expect(oldest.budgetHeld)
    }

    /// Every registered preset sweeps in both placements: those built on a scorer (KVzip reads the
    /// document again; others read the window's queries or keys) get the prefilled tokens and the
    /// recorded window queries, CAKE's policy the recorded window attention (a sweep of `cake` once
    /// stopped with "observe the prefill with a MetricCollector(recordsWindowAttention: true)").
    @Test(arguments: EvaluationSupport.plugins.registeredPresets.map(\.name))
    func everyPresetSweeps(method: String) throws {
        let s = try Self.spec("methods: [\(method)]\ngrid: {rate: [4], question: [aware, agnostic]}", questions: 2, prompts: 1)
        let trials = try EvaluationSupport.run(s)
        #expect(trials.count == 4 && trials.allSatisfy { $0.compressions <= 1 && $0.keptKVs.reduce(0, +) < $0.promptTokens * 4 / 2 })
        // Extra tokens prefilled to score are charged to the trial that paid for the compression:
        // KVzip reads the document again (at least its tokens), the others prefill nothing more.
        for trial in trials {
            let extra = try #require(trial.scoringExtraTokens)
            if method == "kvzip", trial.compressions == 1 {
                #expect(extra >= trial.documentTokens, "\(trial.key): \(extra) extra tokens")
            } else {
                #expect(extra == 0, "\(method) \(trial.key): \(extra) extra tokens")
            }
        }
    }

    @Test func cellsThatShareAPrefillComputeItOnce() throws {
        let s = try Self.spec("methods: [kvcompress, uniform]\ngrid: {rate: [1, 2, 4]}", questions: 2, prompts: 2)
        let trials = try EvaluationSupport.run(s)
        // kvcompress and uniform share metric and window: one prefill per (document, question).
        #expect(trials.count { $0.timings.prefill > 0 } == 2 * 2)
    }

    /// Answers decoded in batches (of every size, cells of several methods and rates, a full-cache cell
    /// and one compressing while it decodes) are the answers decoded one at a time.
    @Test(arguments: [QuestionPlacement.aware, .agnostic])
    func batchedDecodingGivesEachAnswerWhatDecodingItAloneGives(placement: QuestionPlacement) throws {
        let s = try Self.spec(
            "methods: [kvcompress, snapkv, key-norm]\nquestion: \(placement.rawValue)\nmax_new_tokens: 6\n"
                + "grid: {rate: [1, 2, 4], schedule.interval: [0, 2]}", questions: 3, prompts: 2)
        let alone = try EvaluationSupport.run(s, decodeBatch: 1)
        #expect(alone.count == 3 * 3 * 2 * 3 * 2)
        #expect(alone.contains { $0.generatedTokens.count > 1 })
        for batch in [2, 5, 64] {
            let together = try EvaluationSupport.run(s, decodeBatch: batch)
            #expect(together.map(\.key) == alone.map(\.key))
            #expect(together.map(\.generatedTokens) == alone.map(\.generatedTokens), "batch \(batch)")
            #expect(together.map(\.keptKVs) == alone.map(\.keptKVs), "batch \(batch)")
            #expect(together.map(\.compressions) == alone.map(\.compressions), "batch \(batch)")
            #expect(together.allSatisfy { $0.generatedTokens.isEmpty || $0.timings.decode > 0 })
        }
    }

    /// Scores shared between a prefill's forks (`ScoreMemo`): every scorer's cells at several rates, in
    /// both placements, keep and answer exactly what
    /// scoring each compression anew gives; a later rate's compression reports the reused seconds.
    @Test func sharedScoresGiveWhatScoringEachCompressionAnewGives() throws {
        let s = try Self.spec(
            "methods: [lagkv, expected-attention, critical-kv, key-norm]\nmax_new_tokens: 5\n"
                + "grid: {rate: [2, 4, 8], question: [aware, agnostic]}", questions: 2, prompts: 2)
        let anew = try EvaluationSupport.run(s, sharesScores: false)
        let shared = try EvaluationSupport.run(s)
        #expect(shared.count == 4 * 3 * 2 * 2 * 2 && shared.map(\.key) == anew.map(\.key))
        #expect(shared.map(\.keptKVs) == anew.map(\.keptKVs))
        #expect(shared.map(\.generatedTokens) == anew.map(\.generatedTokens))
        #expect(shared.map(\.compressions) == anew.map(\.compressions))
        #expect(shared.allSatisfy { $0.compressions == 0 || $0.timings.compress > 0 || $0.key.question > 0 })
    }

    /// A document with more questions than the decode batch holds: its answers are decoded in several
    /// batches, and the pool (sized for one batch) never holds more than one batch of full-cache forks.
    @Test func aDocumentWithMoreQuestionsThanTheBatchDecodesInSeveralBatches() throws {
        let s = try Self.spec("methods: [kvcompress]\nquestion: agnostic\nmax_new_tokens: 4\ngrid: {rate: [1, 4]}", questions: 8, prompts: 1)
        let alone = try EvaluationSupport.run(s, decodeBatch: 1)
        let together = try EvaluationSupport.run(s, decodeBatch: 3)
        #expect(alone.count == 16)
        #expect(together.map(\.generatedTokens) == alone.map(\.generatedTokens))
    }

    /// `prefill_tail`: groups whose window reads only the prompt's tail (last-w windows, none) share one
    /// unobserved prefill of the rest and prefill the tail observed; a group reading earlier queries
    /// (H2O's whole prompt) prefills it all. The observed positions are those of a one-chunk prefill.
    @Test(arguments: [QuestionPlacement.aware, .agnostic])
    func aSharedPrefixServesTheGroupsThatObserveOnlyTheTail(placement: QuestionPlacement) throws {
        func observed(_ window: String, tail: Int) throws -> (positions: Set<Int32>, trials: [TrialRecord]) {
            let log = "tail-\(placement.rawValue)-\(window.filter(\.isLetter))-\(tail)"
            let s = try Self.spec(
                "configuration: {metric: {name: recording, options: {log: \(log)}}, window: \(window)}\n"
                    + "methods: [{name: uniform-recorded, policy: uniform}]\nquestion: \(placement.rawValue)\nprefill_tail: \(tail)\ngrid: {rate: [4]}",
                questions: 2, prompts: 1)
            let trials = try EvaluationSupport.run(s)
            return (QueryLog.named(log).positions, trials)
        }
        for window in ["{name: last, options: {queries: 8}}", "{name: full}", "{name: none}"] {
            let whole = try observed(window, tail: 0), split = try observed(window, tail: 24)
            #expect(split.positions == whole.positions, "\(window): the same queries observed")
            #expect(split.trials.map(\.keptKVs) == whole.trials.map(\.keptKVs), "\(window)")
        }
        // One shared prefix per prompt, then each group's tail; H2O's window reads the whole prompt, so
        // it prefills it all. Each group's prefill is charged to its first trial.
        func prefilled(tail: Int) throws -> (tokens: Int, trials: [TrialRecord], prompts: [Int]) {
            let s = try Self.spec(
                "methods: [kvcompress, snapkv, h2o, key-norm]\nquestion: \(placement.rawValue)\nprefill_tail: \(tail)\ngrid: {rate: [4]}",
                questions: 2, prompts: 1)
            let runner = try EvaluationSupport.runner(s)
            var trials: [TrialRecord] = []
            try runner.run(units: runner.allUnits) { trials.append($0) }
            let instance = try runner.instance(runner.allUnits[0])
            let prompts = placement == .aware ? (0..<2).map { instance.promptTokens(question: $0).count } : [instance.documentTokens.count]
            return (runner.promptTokensPrefilled, trials, prompts)
        }
        let split = try prefilled(tail: 64), whole = try prefilled(tail: 0)
        #expect(whole.tokens == whole.prompts.reduce(0) { $0 + 4 * $1 })
        #expect(split.tokens == split.prompts.reduce(0) { $0 + ($1 - 64) + 3 * 64 + $1 })
        #expect(split.trials.count { $0.timings.prefill > 0 } == 4 * split.prompts.count)
        // Tail longer than the prompt: one chunk, as without the setting.
        let long = try Self.spec("methods: [kvcompress]\nquestion: \(placement.rawValue)\nprefill_tail: 100000\ngrid: {rate: [4]}", questions: 2, prompts: 1)
        let plain = try Self.spec("methods: [kvcompress]\nquestion: \(placement.rawValue)\ngrid: {rate: [4]}", questions: 2, prompts: 1)
        #expect(try EvaluationSupport.run(long).map(\.generatedTokens) == EvaluationSupport.run(plain).map(\.generatedTokens))
    }

    @Test(arguments: ["prefill_tail: -1", "prefill_tail: 8.5", "prefill_tail: many", "grid: {prefill_tail: [0, 8]}"])
    func aBadPrefillTailIsRefusedNamingTheKey(line: String) {
        #expect {
            try Self.spec("methods: [kvcompress]\n\(line)")
        } throws: { error in
            "\(error)".contains("prefill_tail")
        }
    }

    @Test func intervalCompressionDuringDecodingIsAnAxis() throws {
        let s = try Self.spec("methods: [kvcompress]\ngrid: {rate: [4], schedule.interval: [0, 1]}\nmax_new_tokens: 4", questions: 1, prompts: 1)
        let trials = try EvaluationSupport.run(s)
        #expect(trials.map(\.compressions) == [1, 4])
    }
}

/// `kv_type` as a sweep axis: one cell per element type, each run on a cache of its own type.
@Suite struct KVTypeSweepTests {
    @Test func gridOverKVType() throws {
        let s = try RunnerTests.spec("methods: [kvcompress]\ngrid: {kv_type: [f16, f32]}", questions: 1, prompts: 1)
        #expect(s.axisKeys == ["method", "kv_type"])
        #expect(s.cells.map(\.configuration.kvType) == [.f16, .f32])
        let trials = try EvaluationSupport.run(s)
        let half = try #require(trials.first { $0.key.cell == 0 }), single = try #require(trials.first { $0.key.cell == 1 })
        // Nothing evicted: the same blocks, each half the K/V bytes in the f16 cache.
        #expect(half.residentBlocks == single.residentBlocks)
        #expect(half.residentBytes < single.residentBytes)
        // A bad value names the key and the choices.
        #expect { try RunnerTests.spec("methods: [kvcompress]\ngrid: {kv_type: [f16, f8]}") } throws: { error in
            "\(error)".contains("kv_type must be one of f16, f32")
        }
    }
}
