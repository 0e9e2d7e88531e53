import BPETokenizer
import EvaluationTasks
import KVCompress
import Testing

/// RULER's scorers on hand-made outputs, and the errors a user can cause with a task.
@Suite struct TaskScoringTests {
    @Test(arguments: [
        ("The numbers are 1234567 and 7654321.", ["1234567", "7654321"], 1.0),
        ("The numbers are 1234567 and 765432.", ["1234567", "7654321"], 0.5),
        ("nothing here", ["1234567", "7654321"], 0.0),
        ("LANTERN, Pebble", ["lantern", "pebble", "otter", "comet"], 0.5),
    ])
    func stringMatchAllCountsTheFractionPresent(output: String, references: [String], expected: Double) {
        #expect(ScoringRule.all.score(output, references: references) == expected)
    }

    @Test func stringMatchPartNeedsAnyOne() {
        #expect(ScoringRule.part.score("It was Paris, France.", references: ["Paris", "Lyon"]) == 1)
        #expect(ScoringRule.part.score("It was Rome.", references: ["Paris", "Lyon"]) == 0)
        #expect(ScoringRule.part.score("anything", references: []) == 0)
    }
}

@Suite(.enabled(if: TaskTestSupport.hasModel, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-model.sh)"))
struct TaskErrorTests {
    static let tokenizer = TaskTestSupport.smolLM2

    @Test func unknownTaskNamesTheKnownOnes() {
        #expect(throws: TaskError.unknownTask(name: "niah_singel", known: TaskTestSupport.registry.names)) {
            try TaskTestSupport.task("niah_singel")
        }
    }

    @Test func unknownOrBadOptionsAreErrors() {
        #expect(throws: CompressionError.self) { try TaskTestSupport.task("niah_multikey", ["keyz": 4]) }
        #expect(throws: CompressionError.self) { try TaskTestSupport.task("niah_single", ["value": "color"]) }
        #expect(throws: CompressionError.self) { try TaskTestSupport.task("niah_multiquery", ["keys": 2, "queries": 3]) }
        #expect(throws: TaskError.self) { try TaskTestSupport.task("niah_single", ["haystack": "prose", "corpus": "/nonexistent/corpus.txt"]) }
    }

    @Test(arguments: TaskTestSupport.registry.names)
    func tooShortNamesTheTaskAndTheMinimum(name: String) throws {
        let task = try TaskTestSupport.task(name)
        let minimum = try task.minimumTokens(tokenizer: Self.tokenizer)
        #expect(throws: TaskError.lengthTooShort(task: name, targetTokens: 20, minimum: minimum)) {
            try task.validate(targetTokens: 20, contextLength: 8192, tokenizer: Self.tokenizer)
        }
        #expect(throws: TaskError.self) { try task.instance(targetTokens: 20, seed: 0, tokenizer: Self.tokenizer) }
        // A length past the context (less the answer) is refused before any work.
        #expect(throws: TaskError.lengthBeyondContext(task: name, targetTokens: 8192, limit: 8192 - task.maxNewTokens, contextLength: 8192)) {
            try task.validate(targetTokens: 8192, contextLength: 8192, tokenizer: Self.tokenizer)
        }
        try task.validate(targetTokens: 2000, contextLength: 8192, tokenizer: Self.tokenizer)
    }

    @Test func commonWordsBeyondItsVocabularyNamesTheBound() throws {
        let task = try TaskTestSupport.task("common_words", ["common_frequency": 2, "uncommon_frequency": 1])
        #expect(throws: TaskError.self) { try task.instance(targetTokens: 60_000, seed: 0, tokenizer: Self.tokenizer) }
    }
}
