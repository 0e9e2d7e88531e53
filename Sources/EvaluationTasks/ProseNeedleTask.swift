import BPETokenizer
import KVCompress
import SeededRandom

/// A needle in real English prose: consecutive paragraphs of a corpus (by default the bundled extract of
/// the Python reference manual) from a seeded starting paragraph, wrapping around, with the needle
/// "The secret code of the archive is NNNNN." as its own paragraph at a seeded depth, and the question
/// "What is the secret code of the archive? The secret code of the archive is". Unlike the passkey's
/// repeated noise, the needle competes with text that looks like it matters.
public struct ProseNeedleTask: EvaluationTask {
    public static let question = "\n\nWhat is the secret code of the archive? The secret code of the archive is"
    public static func needle(code: String) -> String { "The secret code of the archive is \(code)." }

    public let corpus: ProseCorpus
    public let maxNewTokens: Int

    public init(corpus: ProseCorpus, maxNewTokens: Int = 8) {
        self.corpus = corpus
        self.maxNewTokens = maxNewTokens
    }

    public var name: String { "prose_needle" }

    func layout(code: String, depth: Double) -> NeedleDocument {
        NeedleDocument(introduction: "", unitSeparator: "\n\n", sectionSeparator: "\n\n", insertions: [Self.needle(code: code)], depths: [depth])
    }

    public func minimumTokens(tokenizer: any TextTokenizer) throws(TaskError) -> Int {
        layout(code: "12345", depth: 0).bareTokens(tokenizer: tokenizer) + tokenizer.encodeContinuation(Self.question).count + 8
    }

    public func instance(targetTokens: Int, seed: UInt64, tokenizer: any TextTokenizer) throws(TaskError) -> TaskInstance {
        var rng = SplitMix64(seed: seed)
        let code = PasskeyTask.code(&rng)
        let start = Int(rng.next() % UInt64(corpus.paragraphs.count))
        let depth = Double(rng.next() >> 11) / Double(1 << 53)
        let question = tokenizer.encodeContinuation(Self.question).count
        let paragraphs = corpus.paragraphs
        let document = try layout(code: code, depth: depth).build(
            task: name, budget: targetTokens - question, minimumExtra: question, tokenizer: tokenizer) { paragraphs[(start + $0) % paragraphs.count] }
        return makeInstance(
            seed: seed, targetTokens: targetTokens, document: document,
            questions: [TaskQuestion(text: Self.question, answers: [code], evidence: document.evidence)], tokenizer: tokenizer, depth: depth)
    }

    static func register(in registry: TaskRegistry) {
        registry.register(task: "prose_needle", summary: "a 5-digit code as its own paragraph in real prose (the Python reference manual)") { o in
            ProseNeedleTask(corpus: try ProseCorpus.fromOptions(o), maxNewTokens: try o.int("max_new_tokens", default: 8, in: 1...4096))
        }
    }
}
