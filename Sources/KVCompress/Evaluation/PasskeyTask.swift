import BPETokenizer
import LlamaInference
import SeededRandom

/// The passkey retrieval task (Mohtashami & Jaggi 2023, "Landmark Attention"; the form LongLoRA and
/// many KV-cache papers use): the classic noise sentences repeated to the target length, the needle
/// "The pass key is NNNNN. Remember it." at a seeded depth, and the prompt ending
/// "What is the pass key? The pass key is" for plain completion.
public struct PasskeyTask: NeedleTask {
    public static let introduction =
        "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
        + "I will quiz you about the important information there."
    /// One haystack unit: the classic noise sentences.
    public static let noise = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
    public static let question = "What is the pass key? The pass key is"
    public static func needle(code: String) -> String { "The pass key is \(code). Remember it." }

    public init() {}

    public var name: String { "passkey" }

    public func prompt(targetTokens: Int, seed: UInt64, tokenizer: BPETokenizer) throws(EvaluationError) -> NeedlePrompt {
        var rng = SplitMix64(seed: seed)
        let code = NeedleLayout.code(&rng)
        let layout = NeedleLayout(
            introduction: Self.introduction, unitSeparator: " ", sectionSeparator: "\n", needle: Self.needle(code: code),
            question: Self.question)
        return try layout.build(
            task: name, targetTokens: targetTokens, seed: seed, answer: code, rng: &rng, tokenizer: tokenizer
        ) { _ in Self.noise }
    }
}
