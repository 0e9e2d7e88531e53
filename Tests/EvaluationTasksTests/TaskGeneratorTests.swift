import BPETokenizer
import EvaluationTasks
import KVCompress
import Testing

/// Every built-in task's generator: deterministic from the seed, within a few percent of the requested
/// length, answers present exactly once where the task says so, distractors distinct, evidence ranges
/// on the tokens of what they claim to hold.
@Suite(.enabled(if: TaskTestSupport.hasModel, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-model.sh)"))
struct TaskGeneratorTests {
    static let tokenizer = TaskTestSupport.smolLM2
    /// (task, options) of every built-in and the main variants.
    static let cases: [(String, [String: OptionValue])] = [
        ("passkey", [:]), ("prose_needle", [:]),
        ("niah_single", [:]), ("niah_single", ["haystack": "prose", "value": "uuid"]), ("niah_single", ["value": "word"]),
        ("niah_multikey", [:]), ("niah_multivalue", [:]), ("niah_multiquery", [:]),
        ("variable_tracking", [:]), ("common_words", [:]), ("frequent_words", [:]),
    ]

    @Test func everyBuiltinIsRegistered() {
        #expect(
            TaskTestSupport.registry.names == [
                "common_words", "frequent_words", "niah_multikey", "niah_multiquery", "niah_multivalue", "niah_single", "passkey",
                "prose_needle", "variable_tracking",
            ])
    }

    @Test(arguments: 0..<cases.count)
    func sameSeedSameInstanceOtherSeedOtherAnswers(index: Int) throws {
        let task = try TaskTestSupport.task(Self.cases[index].0, Self.cases[index].1)
        let a = try task.instance(targetTokens: 1500, seed: 11, tokenizer: Self.tokenizer)
        #expect(a == (try task.instance(targetTokens: 1500, seed: 11, tokenizer: Self.tokenizer)))
        let b = try task.instance(targetTokens: 1500, seed: 12, tokenizer: Self.tokenizer)
        #expect(a.questions.map(\.answers) != b.questions.map(\.answers))
    }

    @Test(arguments: 0..<cases.count, [1000, 2000, 4000])
    func lengthWithinAFewPercentOfTheTarget(index: Int, target: Int) throws {
        let (name, options) = Self.cases[index]
        let task = try TaskTestSupport.task(name, options)
        for seed in UInt64(0)..<3 {
            let instance = try task.instance(targetTokens: target, seed: seed, tokenizer: Self.tokenizer)
            let longest = instance.questionTokens.map(\.count).max()!
            #expect(instance.documentTokens == Self.tokenizer.encodePrompt(instance.document))
            #expect(instance.documentTokens.count + longest <= target)
            // prose_needle adds whole paragraphs (up to ~450 tokens); the others sentences or list items.
            let slack = name == "prose_needle" ? 500 : target * 3 / 100
            #expect(instance.documentTokens.count + longest >= target - slack, "\(name) seed \(seed): \(instance.documentTokens.count + longest) of \(target)")
        }
    }

    /// Needles: each answer occurs exactly once in the document, and the question's evidence ranges
    /// decode to text holding its answers.
    @Test(arguments: ["passkey", "prose_needle", "niah_single", "niah_multikey", "niah_multivalue", "niah_multiquery"])
    func answersOccurOnceAndEvidenceHoldsThem(name: String) throws {
        let task = try TaskTestSupport.task(name, ["value": "number"].filter { _ in name.hasPrefix("niah") })
        for seed in UInt64(0)..<5 {
            let instance = try task.instance(targetTokens: 2000, seed: seed, tokenizer: Self.tokenizer)
            for question in instance.questions {
                for answer in question.answers { #expect(TaskTestSupport.occurrences(of: answer, in: instance.document) == 1, "\(name): \(answer)") }
                #expect(question.evidence.count == question.answers.count)
                let evidence = question.evidence.map { Self.tokenizer.decode(Array(instance.documentTokens[$0]), renderSpecial: false) }.joined()
                for answer in question.answers { #expect(evidence.contains(answer)) }
                #expect(!question.text.contains(question.answers[0]))
            }
        }
    }

    @Test func multikeyAsksEveryKeyWithDistinctDistractors() throws {
        let task = try TaskTestSupport.task("niah_multikey", ["keys": 6])
        let instance = try task.instance(targetTokens: 2000, seed: 3, tokenizer: Self.tokenizer)
        #expect(instance.questions.count == 6)
        let answers = instance.questions.flatMap(\.answers)
        #expect(Set(answers).count == 6)
        let keys = instance.questions.map { $0.text.components(separatedBy: " for ")[1].components(separatedBy: " ")[0] }
        #expect(Set(keys).count == 6)
        for key in keys { #expect(TaskTestSupport.occurrences(of: "for \(key) is:", in: instance.document) == 1) }
        let single = try TaskTestSupport.task("niah_multikey", ["keys": 6, "questions": 1]).instance(targetTokens: 2000, seed: 3, tokenizer: Self.tokenizer)
        #expect(single.questions.count == 1)
    }

    @Test func multivalueAndMultiqueryAskForEveryValue() throws {
        let values = try TaskTestSupport.task("niah_multivalue", ["values": 3]).instance(targetTokens: 1500, seed: 1, tokenizer: Self.tokenizer)
        #expect(values.questions.count == 1 && values.questions[0].answers.count == 3)
        #expect(values.questions[0].text.contains("What are all the special magic numbers for"))
        let queries = try TaskTestSupport.task("niah_multiquery", ["keys": 4, "queries": 2]).instance(targetTokens: 1500, seed: 1, tokenizer: Self.tokenizer)
        #expect(queries.questions.count == 1 && queries.questions[0].answers.count == 2)
        #expect(TaskTestSupport.occurrences(of: "One of the special magic numbers for", in: queries.document) == 4)
    }

    @Test(arguments: ["number", "word", "uuid"])
    func valueKinds(kind: String) throws {
        let instance = try TaskTestSupport.task("niah_single", ["value": .string(kind)]).instance(targetTokens: 800, seed: 9, tokenizer: Self.tokenizer)
        let answer = instance.questions[0].answers[0]
        switch kind {
        case "number": #expect(answer.count == 7 && answer.allSatisfy { $0.isNumber })
        case "word": #expect(answer.allSatisfy { $0.isLetter })
        default:
            #expect(answer.count == 36 && answer.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12])
            #expect(Array(answer)[14] == "4")
        }
    }

    @Test func variableTrackingChainIsInOrderAndNamesEveryVariable() throws {
        let task = try TaskTestSupport.task("variable_tracking", ["hops": 4, "chains": 2])
        let instance = try task.instance(targetTokens: 1500, seed: 5, tokenizer: Self.tokenizer)
        let names = instance.questions[0].answers
        #expect(names.count == 5 && Set(names).count == 5)
        let positions = names.enumerated().map { i, name in
            instance.document.range(of: i == 0 ? "VAR \(name) = " : "VAR \(name) = VAR \(names[i - 1]).")!.lowerBound
        }
        #expect(positions == positions.sorted())
        #expect(TaskTestSupport.occurrences(of: "VAR ", in: instance.document) == 10 + 8)  // 2 chains of 5, 4 copies each
    }

    @Test(arguments: [1000, 4000])
    func commonWordsAreTheMostFrequent(target: Int) throws {
        let instance = try TaskTestSupport.task("common_words").instance(targetTokens: target, seed: 2, tokenizer: Self.tokenizer)
        let items = instance.document.split(separator: "\n").dropFirst().map { String($0.split(separator: " ")[1]) }
        var counts: [String: Int] = [:]
        for item in items { counts[item, default: 0] += 1 }
        let (common, uncommon) = target < 4096 ? (6, 1) : (30, 3)
        #expect(instance.questions[0].answers.allSatisfy { counts[$0] == common })
        #expect(counts.values.filter { $0 == common }.count == 10)
        #expect(counts.values.allSatisfy { $0 == common || $0 == uncommon })
    }

    @Test func frequentWordsAnswersAreRanksTwoToFour() throws {
        let instance = try TaskTestSupport.task("frequent_words").instance(targetTokens: 2000, seed: 4, tokenizer: Self.tokenizer)
        var counts: [String: Int] = [:]
        for word in instance.document.split(separator: "\n")[1].split(separator: " ") { counts[String(word), default: 0] += 1 }
        let ranked = counts.sorted { $0.value > $1.value }.map(\.key)
        #expect(ranked[0] == "....")
        #expect(Array(ranked[1...3]) == instance.questions[0].answers)
        #expect(counts[ranked[3]]! > counts[ranked[4]]!)
    }
}
