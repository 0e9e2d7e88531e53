import BPETokenizer
import LlamaInference
import SeededRandom

/// One retrieval prompt: a haystack with a needle (a sentence holding a 5-digit code) at a known
/// depth, ending in a question the model completes (plain completion, no chat template).
public struct NeedlePrompt: Sendable, Hashable {
    /// The whole prompt text.
    public let text: String
    /// Its tokens, as the tokenizer encodes `text` (BOS when the model adds one).
    public let tokens: [Int32]
    /// The 5 digits the model must produce.
    public let answer: String
    /// Index in `tokens` of the first token of the needle: the separator before the needle sentence
    /// (a newline is its own token), or the sentence itself when it opens the prompt.
    public let needleTokenOffset: Int
    /// Tokens of the needle sentence and the separator before it:
    /// `tokens[needleTokenOffset ..< needleTokenOffset + needleTokenCount]`.
    public let needleTokenCount: Int
    /// Where the needle sits among the haystack's units: 0 = before the first, 1 = after the last.
    public let depth: Double
    /// The length the prompt was built for; `tokens.count` is at most this.
    public let targetTokens: Int
    /// The seed that chose the code, the depth and (prose) the passage.
    public let seed: UInt64

    /// Scoring of the retrieval tasks: correct when the 5 digits appear in the generated text (the
    /// first few greedy tokens).
    public func isAnsweredBy(_ generated: String) -> Bool { generated.contains(answer) }
}

/// A generator of needle prompts, deterministic for a seed.
public protocol NeedleTask: Sendable {
    /// Short name used in specifications and result files (`passkey`, `prose_needle`).
    var name: String { get }
    /// A prompt of at most `targetTokens` tokens for `seed`.
    func prompt(targetTokens: Int, seed: UInt64, tokenizer: BPETokenizer) throws(EvaluationError) -> NeedlePrompt
}

/// The text around a haystack: what comes before it, the needle, the question, and how the pieces
/// are joined. Shared by the passkey and the prose task so both place and measure the needle the same way.
struct NeedleLayout: Sendable {
    /// Text before the haystack (may be empty).
    var introduction: String
    /// Joins consecutive haystack units.
    var unitSeparator: String
    /// Joins the introduction, the haystack halves, the needle and the question.
    var sectionSeparator: String
    var needle: String
    var question: String

    /// The prompt text with `units` as haystack and the needle inserted before unit `depthIndex`
    /// (`units.count` = after the last). Also returns the text before the needle, which ends right
    /// before the separator preceding it, so it tokenizes to a prefix of the whole prompt.
    func compose(units: ArraySlice<String>, needleBefore depthIndex: Int) -> (text: String, beforeNeedle: String) {
        let split = units.startIndex + depthIndex
        var sections: [String] = []
        if !introduction.isEmpty { sections.append(introduction) }
        let before = units[units.startIndex..<split].joined(separator: unitSeparator)
        if !before.isEmpty { sections.append(before) }
        let beforeNeedle = sections.joined(separator: sectionSeparator)
        sections.append(needle)
        let after = units[split..<units.endIndex].joined(separator: unitSeparator)
        if !after.isEmpty { sections.append(after) }
        sections.append(question)
        return (sections.joined(separator: sectionSeparator), beforeNeedle)
    }

    /// Builds the longest prompt of at most `targetTokens` tokens from the units `unit(0)`, `unit(1)`,
    /// …, with the needle at a seeded insertion point among them (uniform over the `n + 1` gaps).
    func build(
        task: String, targetTokens: Int, seed: UInt64, answer: String, rng: inout SplitMix64, tokenizer: BPETokenizer,
        unit: (Int) -> String
    ) throws(EvaluationError) -> NeedlePrompt {
        let bare = tokenizer.encode(compose(units: [], needleBefore: 0).text).count
        guard bare < targetTokens else {
            throw .promptTooShort(task: task, targetTokens: targetTokens, minimum: bare + 1)
        }
        // Estimate the unit count from each unit's own token count, then correct on the real encoding
        // (tokens of a concatenation differ slightly from the sum of the parts).
        var units: [String] = []
        var estimate = bare
        while true {
            let next = unit(units.count)
            let cost = tokenizer.encode(unitSeparator + next).count
            if estimate + cost > targetTokens { break }
            units.append(next)
            estimate += cost  // ≥ 1 per unit (the separator alone is a token), so the loop ends
        }
        let depthIndex = Int(rng.next() % UInt64(units.count + 1))
        var count = units.count
        var composed = compose(units: units[0..<count], needleBefore: min(depthIndex, count))
        var tokens = tokenizer.encode(composed.text)
        while tokens.count > targetTokens, count > 0 {
            count -= 1
            composed = compose(units: units[0..<count], needleBefore: min(depthIndex, count))
            tokens = tokenizer.encode(composed.text)
        }
        let needleIndex = min(depthIndex, count)
        let offset = composed.beforeNeedle.isEmpty ? (tokenizer.addsBOSByDefault ? 1 : 0) : tokenizer.encode(composed.beforeNeedle).count
        let throughNeedle = composed.beforeNeedle.isEmpty ? needle : composed.beforeNeedle + sectionSeparator + needle
        return NeedlePrompt(
            text: composed.text, tokens: tokens, answer: answer, needleTokenOffset: offset,
            needleTokenCount: tokenizer.encode(throughNeedle).count - offset,
            depth: count == 0 ? 0 : Double(needleIndex) / Double(count), targetTokens: targetTokens, seed: seed)
    }

    /// A seeded 5-digit code, 10000…99999.
    static func code(_ rng: inout SplitMix64) -> String { String(10_000 + Int(rng.next() % 90_000)) }
}
