import BPETokenizer
import KVCompress

/// An evaluation task as a plug-in (RULER-style, arXiv 2404.06654): from a seed, a target length in
/// tokens and the model's tokenizer it builds one document, the questions asked about it and their
/// expected answers, and it scores a generated answer.
///
/// The document and the questions are kept apart so the runner can place the question either way
/// (`question: aware | agnostic`): prefilled with the document before compression (the metric sees
/// the question), or prefilled through the already-compressed cache (as in serving and kvpress).
/// Both placements feed the model the same token ids, `documentTokens + questionTokens[i]`.
///
/// A task is registered by name in a `TaskRegistry` (built-ins in `TaskRegistry.registerBuiltins`),
/// exactly as a user's task is.
public protocol EvaluationTask: Sendable {
    /// The registry name (`niah_single`, `variable_tracking`, ...).
    var name: String { get }
    /// Tokens the answer may take before decoding stops.
    var maxNewTokens: Int { get }
    /// How an answer is scored against the expected strings.
    var scoring: ScoringRule { get }
    /// The shortest target length (tokens) whose document still holds everything the task places in it.
    func minimumTokens(tokenizer: any TextTokenizer) throws(TaskError) -> Int
    /// The instance for `seed`, with at most `targetTokens` tokens of document plus its longest question.
    func instance(targetTokens: Int, seed: UInt64, tokenizer: any TextTokenizer) throws(TaskError) -> TaskInstance
}

extension EvaluationTask {
    public var scoring: ScoringRule { .all }

    /// The score of `output` for `question`, in [0, 1].
    public func score(_ output: String, for question: TaskQuestion) -> Double {
        scoring.score(output, references: question.answers)
    }

    /// Checks a target length before any model work: long enough for the task, and with the answer
    /// still inside the model's context.
    public func validate(targetTokens: Int, contextLength: Int, tokenizer: any TextTokenizer) throws(TaskError) {
        let limit = contextLength - maxNewTokens
        guard targetTokens <= limit else {
            throw .lengthBeyondContext(task: name, targetTokens: targetTokens, limit: limit, contextLength: contextLength)
        }
        let minimum = try minimumTokens(tokenizer: tokenizer)
        guard targetTokens >= minimum else { throw .lengthTooShort(task: name, targetTokens: targetTokens, minimum: minimum) }
    }
}

/// RULER's scorers (scripts/eval/synthetic/constants.py): a reference counts when its lower-cased
/// text occurs in the lower-cased output.
public enum ScoringRule: String, Sendable, Hashable, Codable {
    /// `string_match_all`: the fraction of references present (needles, variable tracking, word tasks).
    case all
    /// `string_match_part`: 1 when any reference is present (QA: any accepted answer).
    case part

    public func score(_ output: String, references: [String]) -> Double {
        guard !references.isEmpty else { return 0 }
        let text = output.lowercased()
        let hits = references.map { text.contains($0.lowercased()) }
        switch self {
        case .all: return Double(hits.count { $0 }) / Double(references.count)
        case .part: return hits.contains(true) ? 1 : 0
        }
    }
}

/// One question about a document.
public struct TaskQuestion: Sendable, Hashable, Codable {
    /// What follows the document: the question and the answer prefix the model completes
    /// (e.g. "\nWhat is the special magic number for tall-river? The special magic number for tall-river is").
    public let text: String
    /// The expected strings; `ScoringRule` says how they count.
    public let answers: [String]
    /// Token ranges of the document that hold this question's evidence (its needles), for measuring
    /// which heads keep them. Empty when the evidence is spread (word-frequency tasks).
    public let evidence: [Range<Int>]

    public init(text: String, answers: [String], evidence: [Range<Int>] = []) {
        self.text = text
        self.answers = answers
        self.evidence = evidence
    }
}

/// One generated document with its questions, ready for the runner.
public struct TaskInstance: Sendable, Hashable {
    public let task: String
    public let seed: UInt64
    /// The length the instance was built for; document plus any question fits in it.
    public let targetTokens: Int
    public let document: String
    /// `tokenizer.encodePrompt(document)`: BOS first when the model adds one.
    public let documentTokens: [Int32]
    public let questions: [TaskQuestion]
    /// `tokenizer.encodeContinuation(questions[i].text)`: never a BOS.
    public let questionTokens: [[Int32]]
    /// Where the task put its evidence, as a fraction of the document (0 = start), when it has one depth.
    public let depth: Double?

    public init(
        task: String, seed: UInt64, targetTokens: Int, document: String, documentTokens: [Int32], questions: [TaskQuestion],
        questionTokens: [[Int32]], depth: Double? = nil
    ) {
        precondition(questions.count == questionTokens.count, "one token list per question")
        self.task = task
        self.seed = seed
        self.targetTokens = targetTokens
        self.document = document
        self.documentTokens = documentTokens
        self.questions = questions
        self.questionTokens = questionTokens
        self.depth = depth
    }

    /// What the model reads for question `index`: the document's tokens, then the question's.
    public func promptTokens(question index: Int) -> [Int32] { documentTokens + questionTokens[index] }
}

/// Every failure a user can cause with a task, each naming the task and the numbers involved.
public enum TaskError: Error, Equatable, CustomStringConvertible {
    case unknownTask(name: String, known: [String])
    case lengthTooShort(task: String, targetTokens: Int, minimum: Int)
    case lengthBeyondContext(task: String, targetTokens: Int, limit: Int, contextLength: Int)
    case invalidOption(task: String, why: String)
    case unreadableData(task: String, path: String, why: String)

    public var description: String {
        switch self {
        case let .unknownTask(name, known): "unknown task '\(name)'; registered tasks: \(known.joined(separator: ", "))"
        case let .lengthTooShort(task, target, minimum):
            "task \(task): a length of \(target) tokens cannot hold the task's needles and question; use at least \(minimum)"
        case let .lengthBeyondContext(task, target, limit, context):
            "task \(task): a length of \(target) tokens plus the answer exceeds the model's context of \(context) tokens; use at most \(limit)"
        case let .invalidOption(task, why): "task \(task): \(why)"
        case let .unreadableData(task, path, why): "task \(task): cannot read \(path): \(why)"
        }
    }
}
