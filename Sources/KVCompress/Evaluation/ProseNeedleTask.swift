import BPETokenizer
import Foundation
import LlamaInference
import SeededRandom

/// A needle in real English prose: consecutive paragraphs of a corpus (the committed extract of the
/// Python reference manual, `Experiments/data/python-reference-prose.txt`, made by
/// `Experiments/data/extract_python_prose.py`) from a seeded starting paragraph, wrapping around,
/// with the needle "The secret code of the archive is NNNNN." as its own paragraph at a seeded depth,
/// and the prompt ending "What is the secret code of the archive? The secret code of the archive is".
/// Unlike the passkey's repeated noise, the needle here competes with text that looks like it matters.
public struct ProseNeedleTask: NeedleTask {
    public static let question = "What is the secret code of the archive? The secret code of the archive is"
    public static func needle(code: String) -> String { "The secret code of the archive is \(code)." }

    /// Paragraphs of the corpus, in file order.
    public let paragraphs: [String]

    /// - Parameter paragraphs: the haystack corpus, at least one non-empty paragraph.
    public init(paragraphs: [String]) throws(EvaluationError) {
        let kept = paragraphs.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        guard !kept.isEmpty else { throw .emptyCorpus(path: "(in memory)") }
        self.paragraphs = kept
    }

    /// Reads a corpus file whose paragraphs are separated by blank lines.
    public init(corpusPath path: String) throws(EvaluationError) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .unreadableCorpus(path: path, why: FileManager.default.fileExists(atPath: path) ? "\(error.localizedDescription)" : "no such file")
        }
        let blocks = text.components(separatedBy: "\n\n").map { $0.replacingOccurrences(of: "\n", with: " ") }
        do { try self.init(paragraphs: blocks) } catch { throw .emptyCorpus(path: path) }
    }

    public var name: String { "prose_needle" }

    public func prompt(targetTokens: Int, seed: UInt64, tokenizer: BPETokenizer) throws(EvaluationError) -> NeedlePrompt {
        var rng = SplitMix64(seed: seed)
        let code = NeedleLayout.code(&rng)
        let start = Int(rng.next() % UInt64(paragraphs.count))
        let layout = NeedleLayout(
            introduction: "", unitSeparator: "\n\n", sectionSeparator: "\n\n", needle: Self.needle(code: code),
            question: Self.question)
        return try layout.build(
            task: name, targetTokens: targetTokens, seed: seed, answer: code, rng: &rng, tokenizer: tokenizer
        ) { paragraphs[(start + $0) % paragraphs.count] }
    }
}
