import BPETokenizer
import KVCompress
import SeededRandom

/// The passkey retrieval task (Mohtashami & Jaggi 2023, "Landmark Attention", arXiv 2305.16300; the
/// form LongLoRA and many KV-cache papers use): the noise sentences repeated to the target length, the
/// needle "The pass key is NNNNN. Remember it." at a seeded depth, and the question
/// "What is the pass key? The pass key is" for plain completion. Kept for continuity with the earlier
/// results; every method solves it down to high rates on SmolLM2, so it does not separate them.
public struct PasskeyTask: EvaluationTask {
    public static let introduction =
        "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
        + "I will quiz you about the important information there."
    public static let question = "\nWhat is the pass key? The pass key is"
    public static func needle(code: String) -> String { "The pass key is \(code). Remember it." }

    public let maxNewTokens: Int

    public init(maxNewTokens: Int = 8) { self.maxNewTokens = maxNewTokens }

    public var name: String { "passkey" }

    /// A seeded 5-digit code, 10000…99999.
    static func code(_ rng: inout SplitMix64) -> String { String(10_000 + Int(rng.next() % 90_000)) }

    func layout(code: String, depth: Double) -> NeedleDocument {
        NeedleDocument(introduction: Self.introduction, unitSeparator: " ", sectionSeparator: "\n", insertions: [Self.needle(code: code)], depths: [depth])
    }

    public func minimumTokens(tokenizer: any TextTokenizer) throws(TaskError) -> Int {
        layout(code: "12345", depth: 0).bareTokens(tokenizer: tokenizer) + tokenizer.encodeContinuation(Self.question).count + 8
    }

    public func instance(targetTokens: Int, seed: UInt64, tokenizer: any TextTokenizer) throws(TaskError) -> TaskInstance {
        var rng = SplitMix64(seed: seed)
        let code = Self.code(&rng)
        let depth = Double(rng.next() >> 11) / Double(1 << 53)
        let question = tokenizer.encodeContinuation(Self.question).count
        let document = try layout(code: code, depth: depth).build(
            task: name, budget: targetTokens - question, minimumExtra: question, tokenizer: tokenizer) { _ in Haystack.noiseUnit }
        return makeInstance(
            seed: seed, targetTokens: targetTokens, document: document,
            questions: [TaskQuestion(text: Self.question, answers: [code], evidence: document.evidence)], tokenizer: tokenizer, depth: depth)
    }

    static func register(in registry: TaskRegistry) {
        registry.register(task: "passkey", summary: "a 5-digit pass key in repeated noise sentences (Mohtashami & Jaggi 2023)") { o in
            PasskeyTask(maxNewTokens: try o.int("max_new_tokens", default: 8, in: 1...4096))
        }
    }
}
