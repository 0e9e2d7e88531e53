import Evaluation
import EvictionPolicies
import KVCompress
import Testing

/// Grid and zip expansion over configuration key paths, methods as presets or composed plug-ins, and
/// specifications rejected before any model work, naming the key and the cell.
@Suite struct SpecificationTests {
    static let base = """
        task: {name: key_value, options: {questions: 2}}
        lengths: [200]
        prompts: 2
        """

    @Test func gridAndZipExpandNestedKeysInOrder() throws {
        let s = try EvaluationSupport.specification(
            Self.base + """

                configuration: {window: {name: last, options: {queries: 8}}, protected_window: 16}
                methods: [kvcompress, {name: even, preset: kvcompress, policy: {name: kvcompress, options: {even_layer_evict: true}}}]
                grid:
                  rate: [2, 4]
                  window.options.queries: [4, 16]
                  policy.options.even_layer_evict: [false, true]
                zip:
                  protected_window: [8, 24]
                  schedule.interval: [0, 3]
                """)
        #expect(s.axisKeys == ["method", "rate", "window.options.queries", "policy.options.even_layer_evict", "protected_window", "schedule.interval"])
        #expect(s.cells.count == 2 * 2 * 2 * 2 * 2)
        let first = s.cells[0], last = s.cells.last!
        #expect(first.label == "method=kvcompress, rate=2, window.options.queries=4, policy.options.even_layer_evict=false, protected_window=8, schedule.interval=0")
        #expect(first.configuration.budget == .rate(2) && first.configuration.window.options["queries"] == .int(4))
        #expect(first.configuration.protectedWindow == 8 && first.configuration.schedule.interval == 0)
        #expect(last.method == "even" && last.configuration.policy == PluginSpec("kvcompress", options: ["even_layer_evict": true]))
        #expect(last.configuration.protectedWindow == 24 && last.configuration.schedule.interval == 3)
        #expect(last.configuration.window == PluginSpec("last", options: ["queries": 16]))
        #expect(Set(s.cells.map(\.label)).count == s.cells.count)
    }

    /// Trials name cells by index; a report or a merge re-expands the cells from the results file, so
    /// they must come back in run order even when the grid's keys are not alphabetical (found: a
    /// `rate` × `kv_type` sweep reported every cell under another cell's label).
    @Test func aRecordedSpecificationKeepsTheCellOrderItRanIn() throws {
        let yaml = Self.base + "\nmethods: [kvcompress]\ngrid: {rate: [1, 8], protected_window: [16, 32]}"
        let ran = try EvaluationSupport.specification(yaml)
        let results = SweepResults(header: EvaluationSupport.header(ran), specificationText: yaml, trials: [], complete: false)
        let recorded = try SweepSpecification(
            recordedIn: results, path: "r.h5", plugins: EvaluationSupport.plugins, tasks: EvaluationSupport.tasks)
        #expect(recorded.cells.map(\.label) == ran.cells.map(\.label))
        #expect(ran.cells.map(\.label).first == "method=kvcompress, rate=1, protected_window=16")
        #expect(ran.cells.map(\.label)[1] == "method=kvcompress, rate=1, protected_window=32")
        // The canonical JSON alone sorts the grid's keys, and so the cells.
        let fromJSON = try SweepSpecification(
            source: SpecValue.parse(json: ran.canonicalJSON), plugins: EvaluationSupport.plugins, tasks: EvaluationSupport.tasks)
        #expect(fromJSON.cells.map(\.label) != ran.cells.map(\.label))
        // A text that is not the recorded specification is refused, naming the file.
        let altered = SweepResults(
            header: EvaluationSupport.header(ran), specificationText: yaml.replacingOccurrences(of: "32]", with: "64]"), trials: [], complete: false)
        #expect {
            _ = try SweepSpecification(recordedIn: altered, path: "r.h5", plugins: EvaluationSupport.plugins, tasks: EvaluationSupport.tasks)
        } throws: { "\($0)".contains("r.h5") && "\($0)".contains("spec_yaml") }
    }

    @Test func budgetKindQuestionAndAnswerLengthAreAxes() throws {
        let s = try EvaluationSupport.specification(
            Self.base + """

                methods: [snapkv, oldest_first, {name: composed, metric: {name: kvcompress, options: {norm: l1}}, window: none, policy: key-norm}]
                question: agnostic
                grid:
                  budget: [{rate: 4}, {max_cache_tokens: 64}]
                  max_new_tokens: [2, 6]
                """)
        #expect(s.cells.count == 3 * 2 * 2)
        #expect(s.cells.allSatisfy { $0.question == .agnostic })
        #expect(s.cells[1].configuration.budget == .rate(4) && s.cells[1].maxNewTokens == 6)
        #expect(s.cells[2].configuration.budget == .maxCacheTokens(64))
        // A preset brings its metric, window and policy; a bare policy name keeps the base's metric and window.
        let snap = try #require(EvaluationSupport.plugins.preset(named: "snapkv"))
        #expect(s.cells[0].configuration.window == snap.window && s.cells[0].configuration.policy == snap.policy)
        #expect(s.cells[4].configuration.policy.name == "oldest_first" && s.cells[4].configuration.window == "last")
        #expect(s.cells[8].configuration.metric == PluginSpec("kvcompress", options: ["norm": "l1"]) && s.cells[8].configuration.window == "none")
    }

    @Test(arguments: [
        ("methods: [kvcompress]\ngrid: {window.options.querys: [4]}", "cell {method=kvcompress, window.options.querys=4}", "querys"),
        ("methods: [kvcompress]\ngrid: {window.options.queries: [abc]}", "window.options.queries=abc", "queries"),
        ("methods: [kvcompress]\ngrid: {budget: [{max_cache_tokens: 8}]}", "budget={\"max_cache_tokens\":8}", "max_cache_tokens 8 is below"),
        ("methods: [kvcompress]\ngrid: {rate: [0.5]}", "rate=0.5", "finite number ≥ 1"),
        ("methods: [kvcompress]\ngrid: {protected_window: [-1]}", "protected_window=-1", "protected_window must be ≥ 0"),
        ("methods: [kvcompress]\ngrid: {policy: [nosuch]}", "policy=nosuch", "nosuch"),
        ("methods: [kvcompress]\ngrid: {blok_size: [16]}", "unknown axis key 'blok_size'", "block_size"),
        ("methods: [kvcompress]\ngrid: {question: [aware, sideways]}", "question=sideways", "aware or agnostic"),
        ("methods: [kvcompress]\ngrid: {max_new_tokens: [0]}", "max_new_tokens=0", "1...256"),
        ("methods: [nosuch]", "methods[0]: unknown method 'nosuch'", "snapkv"),
        ("methods: [kvcompress]\nzip: {rate: [2, 4], sinks: [0]}", "one length", "rate has 2"),
        ("methods: [kvcompress]\nrates: [2]", "unknown key 'rates'", "grid"),
        ("methods: [kvcompress]\nconfiguration: {budgett: {rate: 2}}", "unknown configuration key 'budgett'", "budget"),
    ])
    func badSpecificationsNameTheKeyAndTheCell(extra: String, mentions: String, alsoMentions: String) {
        #expect {
            _ = try EvaluationSupport.specification(Self.base + "\n" + extra)
        } throws: { error in
            let text = "\(error)"
            return text.contains(mentions) && text.contains(alsoMentions)
        }
    }

    @Test func anUnknownTaskOrTaskOptionIsRefusedNamingIt() {
        #expect { _ = try EvaluationSupport.specification("task: nosuch\nlengths: [200]\nprompts: 1\nmethods: [kvcompress]") } throws: {
            "\($0)".contains("unknown task 'nosuch'") && "\($0)".contains("key_value")
        }
        #expect { _ = try EvaluationSupport.specification("task: {name: key_value, options: {keyz: 2}}\nlengths: [200]\nprompts: 1\nmethods: [kvcompress]") } throws: {
            "\($0)".contains("keyz")
        }
    }

    @Test func aLengthBeyondTheContextOrTooShortIsRefusedBeforeAnyModelWork() throws {
        for (length, message) in [(2000, "exceeds the model's context of 1024"), (40, "use at least 64")] {
            let s = try EvaluationSupport.specification("task: key_value\nlengths: [\(length)]\nprompts: 1\nmethods: [kvcompress]")
            #expect { _ = try EvaluationSupport.runner(s) } throws: { "\($0)".contains(message) && "\($0)".contains("key_value") }
        }
    }

    @Test func theSpecificationsIdentityIgnoresMapOrderButNamesAChangedValue() throws {
        let a = try SpecValue.parse(yaml: "grid: {rate: [1, 2, 4]}\nprompts: 2")
        let b = try SpecValue.parse(yaml: "prompts: 2\ngrid: {rate: [1, 2, 4]}")
        let c = try SpecValue.parse(yaml: "prompts: 2\ngrid: {rate: [1, 3, 4]}")
        #expect(a.json() == b.json() && SpecValue.firstDifference(a, b) == nil)
        #expect(SpecValue.firstDifference(a, c) == "grid.rate[1]")
    }

    /// `model:` names one GGUF file (as before) or a list of them, the model axis: each entry a
    /// non-empty string, none twice, no two with one file name (it names each model's results file).
    @Test func aModelListIsTheModelAxis() throws {
        let methods = "\nmethods: [kvcompress]\n"
        let one = try EvaluationSupport.specification(Self.base + methods + "model: models/a.gguf")
        #expect(one.model == "models/a.gguf" && one.modelAxis == nil)
        let none = try EvaluationSupport.specification(Self.base + methods)
        #expect(none.model == nil && none.modelAxis == nil)
        let two = try EvaluationSupport.specification(Self.base + methods + "model: [models/SmolLM2-135M-Instruct.Q4_1.gguf, /m/gemma-3-270m-q4_k_m.gguf]")
        #expect(two.model == nil && two.modelAxis == ["models/SmolLM2-135M-Instruct.Q4_1.gguf", "/m/gemma-3-270m-q4_k_m.gguf"])
        // The model is no configuration axis: the cells are those of one model.
        #expect(two.cells.map(\.label) == one.cells.map(\.label))
        #expect(SweepModelAxis.resultsPath(out: "results/x.h5", model: "models/SmolLM2-135M-Instruct.Q4_1.gguf") == "results/x.SmolLM2-135M-Instruct.Q4_1.h5")
        #expect(SweepModelAxis.resultsPath(out: "p.jsonl", model: "/m/gemma-3-270m-q4_k_m.gguf") == "p.gemma-3-270m-q4_k_m.jsonl")
        #expect(SweepModelAxis.resultsPath(out: "run", model: "b.GGUF") == "run.b")
    }

    @Test(arguments: [
        ("model: []", "non-empty list"),
        ("model: [a.gguf, a.gguf]", "model[1] repeats model[0] (a.gguf)"),
        ("model: [a.gguf, '']", "model[1] must be the path of a GGUF file"),
        ("model: [a.gguf, 7]", "model[1] must be the path of a GGUF file (got 7)"),
        ("model: [a.gguf, {path: b.gguf}]", "model[1] must be the path of a GGUF file"),
        ("model: [x/a.gguf, y/a.gguf]", "model[0] (x/a.gguf) and model[1] (y/a.gguf) have the same file name"),
        ("model: 3", "model must be the path of a GGUF file or a non-empty list"),
    ])
    func badModelListsNameTheKey(model: String, mentions: String) {
        #expect {
            _ = try EvaluationSupport.specification(Self.base + "\nmethods: [kvcompress]\n" + model)
        } throws: { "\($0)".contains(mentions) }
    }

    @Test func theCommittedSpecificationsParse() throws {
        let tasks = EvaluationSupport.tasks
        for name in ["smoke", "passkey", "prose-needle", "all-methods", "new-presets", "benchmark"] {
            let path = EvaluationSupport.packageRoot.appendingPathComponent("Experiments/sweeps/\(name).yaml").path
            let s = try SweepSpecification.load(path: path, plugins: EvaluationSupport.plugins, tasks: tasks)
            #expect(!s.cells.isEmpty, "\(name)")
        }
    }
}
