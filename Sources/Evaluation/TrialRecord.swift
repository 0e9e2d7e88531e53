/// Which trial: one question of one document, under one cell. Sorted task, length, prompt, question, cell.
public struct TrialKey: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Indices into the specification's tasks, lengths and cells; `prompt` is the document number
    /// (seed = spec seed + prompt), `question` the question's index in its document.
    public let task: Int
    public let length: Int
    public let prompt: Int
    public let question: Int
    public let cell: Int

    public init(task: Int, length: Int, prompt: Int, question: Int, cell: Int) {
        self.task = task
        self.length = length
        self.prompt = prompt
        self.question = question
        self.cell = cell
    }

    public var unit: SweepUnit { SweepUnit(task: task, length: length, prompt: prompt) }

    public static func < (a: TrialKey, b: TrialKey) -> Bool {
        (a.task, a.length, a.prompt, a.question, a.cell) < (b.task, b.length, b.prompt, b.question, b.cell)
    }

    public var description: String { "task \(task), length index \(length), prompt \(prompt), question \(question), cell \(cell)" }
}

/// One document: a (task, length, prompt) triple. The unit of work, of sharding and of prefill sharing.
public struct SweepUnit: Sendable, Hashable, Comparable, Codable {
    public let task: Int
    public let length: Int
    public let prompt: Int

    public init(task: Int, length: Int, prompt: Int) {
        self.task = task
        self.length = length
        self.prompt = prompt
    }

    public static func < (a: SweepUnit, b: SweepUnit) -> Bool { (a.task, a.length, a.prompt) < (b.task, b.length, b.prompt) }
}

/// Seconds a trial spent, each paid once: a prefill or a compression shared by several trials is
/// charged to the first trial that used it (0 on the others), so sums over trials are the work done.
public struct TrialTimings: Sendable, Hashable, Codable {
    /// The prefill with the metric observing: document + question (aware) or the document alone (agnostic).
    public var prefill: Double = 0
    /// Compressions (after prefill and on the decode-step interval).
    public var compress: Double = 0
    /// Agnostic only: the question prefilled through the compressed cache.
    public var questionPrefill: Double = 0
    public var decode: Double = 0
    /// Forks and measurements (kept KVs, evidence).
    public var other: Double = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case prefill, compress, decode, other
        case questionPrefill = "question_prefill"
    }
}

/// One finished trial, as the journal and the result file store it.
public struct TrialRecord: Sendable, Hashable, Codable {
    public let key: TrialKey
    /// The task's registry name and the target length in tokens.
    public let task: String
    public let targetTokens: Int
    public let seed: UInt64
    /// Questions of this document (so a merge knows which trials a document should have).
    public let questionCount: Int
    public let documentTokens: Int
    /// Document plus question tokens.
    public let promptTokens: Int
    public let answers: [String]
    public let generated: String
    public let generatedTokens: [Int32]
    /// The task's score in [0, 1]; correct means 1.
    public let score: Double
    /// KVs each (layer, KV head) kept after the post-prefill compression: `[layers * kvHeads]`, index `layer * kvHeads + head`.
    public let keptKVs: [Int]
    public let residentBlocks: Int
    public let residentBytes: Int
    /// Tokens of the question's evidence in the document, and the evidence KVs each (layer, KV head)
    /// kept: `[layers * kvHeads]` (empty when the question has no evidence ranges).
    public let evidenceTokens: Int
    public let evidenceKVsKept: [Int]
    /// Whether every compression met its budget (false when protected KVs alone exceed it).
    public let budgetHeld: Bool
    /// Compressions run for this trial (0 at rate 1; agnostic trials after the first share one).
    public let compressions: Int
    /// Tokens those compressions' scorers prefilled beyond the sequence (KVzip reads the document
    /// again): the work a method adds besides its seconds. nil in files written before it was recorded.
    public let scoringExtraTokens: Int?
    public let timings: TrialTimings

    public var correct: Bool { score == 1 }

    /// The trial without its timings: what a re-run on the same kernels must reproduce exactly.
    public var outcome: TrialRecord {
        TrialRecord(
            key: key, task: task, targetTokens: targetTokens, seed: seed, questionCount: questionCount, documentTokens: documentTokens,
            promptTokens: promptTokens, answers: answers, generated: generated, generatedTokens: generatedTokens, score: score,
            keptKVs: keptKVs, residentBlocks: residentBlocks, residentBytes: residentBytes, evidenceTokens: evidenceTokens,
            evidenceKVsKept: evidenceKVsKept, budgetHeld: budgetHeld, compressions: 0, scoringExtraTokens: nil, timings: TrialTimings())
    }

    public init(
        key: TrialKey, task: String, targetTokens: Int, seed: UInt64, questionCount: Int, documentTokens: Int, promptTokens: Int,
        answers: [String], generated: String, generatedTokens: [Int32], score: Double, keptKVs: [Int], residentBlocks: Int,
        residentBytes: Int, evidenceTokens: Int, evidenceKVsKept: [Int], budgetHeld: Bool, compressions: Int,
        scoringExtraTokens: Int? = nil, timings: TrialTimings
    ) {
        self.key = key
        self.task = task
        self.targetTokens = targetTokens
        self.seed = seed
        self.questionCount = questionCount
        self.documentTokens = documentTokens
        self.promptTokens = promptTokens
        self.answers = answers
        self.generated = generated
        self.generatedTokens = generatedTokens
        self.score = score
        self.keptKVs = keptKVs
        self.residentBlocks = residentBlocks
        self.residentBytes = residentBytes
        self.evidenceTokens = evidenceTokens
        self.evidenceKVsKept = evidenceKVsKept
        self.budgetHeld = budgetHeld
        self.compressions = compressions
        self.scoringExtraTokens = scoringExtraTokens
        self.timings = timings
    }
}
