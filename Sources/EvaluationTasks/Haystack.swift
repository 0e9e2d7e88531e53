import BPETokenizer
import Foundation
import KVCompress
import SeededRandom

/// The filler a needle hides in: RULER's repeated noise sentences, or consecutive sentences of real
/// prose from a seeded starting point (RULER uses essays; we ship the Python reference manual's prose,
/// see `Resources/README.md`).
public enum Haystack: Sendable, Hashable {
    /// "The grass is green. The sky is blue. ..." repeated (RULER `noise`, the passkey's filler).
    case noise
    /// Sentences of a corpus in order from a seeded start, wrapping around.
    case prose(ProseCorpus)

    /// RULER's noise unit (scripts/data/synthetic/niah.py), also the passkey's (Mohtashami & Jaggi 2023).
    public static let noiseUnit = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."

    /// Reads the `haystack` option (`noise` | `prose`) and, for prose, `corpus` (a file of blank-line
    /// separated paragraphs; default the bundled extract).
    static func fromOptions(_ options: OptionReader, default fallback: String) throws -> Haystack {
        switch try options.string("haystack", default: fallback, allowed: ["noise", "prose"]) {
        case "prose": return .prose(try ProseCorpus.fromOptions(options))
        default: return .noise
        }
    }

    /// A unit generator for one document: unit `i` of the haystack drawn from `rng`'s starting point.
    func units(rng: inout SplitMix64) -> @Sendable (Int) -> String {
        switch self {
        case .noise: return { _ in Self.noiseUnit }
        case .prose(let corpus):
            let sentences = corpus.sentences
            let start = Int(rng.next() % UInt64(sentences.count))
            return { sentences[(start + $0) % sentences.count] }
        }
    }
}

/// A prose corpus split into sentences, the haystack's units (sentences rather than paragraphs so a
/// document can be cut within a few tokens of its target length).
public struct ProseCorpus: Sendable, Hashable {
    /// Paragraphs in file order.
    public let paragraphs: [String]
    /// Sentences of all paragraphs in order.
    public let sentences: [String]

    public init(paragraphs: [String]) throws(TaskError) {
        let kept = paragraphs.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        guard !kept.isEmpty else { throw .invalidOption(task: "prose haystack", why: "the corpus has no paragraphs") }
        self.paragraphs = kept
        sentences = kept.flatMap(Self.sentences(of:))
    }

    /// Reads a file of blank-line separated paragraphs.
    public init(path: String) throws(TaskError) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .unreadableData(task: "prose haystack", path: path, why: FileManager.default.fileExists(atPath: path) ? "\(error.localizedDescription)" : "no such file")
        }
        let blocks = text.components(separatedBy: "\n\n").map { $0.replacingOccurrences(of: "\n", with: " ") }
        do { try self.init(paragraphs: blocks) } catch { throw .unreadableData(task: "prose haystack", path: path, why: "no paragraphs") }
    }

    /// The bundled extract of the Python reference manual.
    public static func bundled() throws(TaskError) -> ProseCorpus {
        guard let url = Bundle.module.url(forResource: "python-reference-prose", withExtension: "txt", subdirectory: "Resources") else {
            throw .unreadableData(task: "prose haystack", path: "Resources/python-reference-prose.txt", why: "not in the EvaluationTasks bundle")
        }
        return try ProseCorpus(path: url.path)
    }

    static func fromOptions(_ options: OptionReader) throws -> ProseCorpus {
        if let path = try options.optionalString("corpus") { return try ProseCorpus(path: path) }
        return try bundled()
    }

    /// Splits after ". ", "? " or "! " followed by an upper-case letter; keeps the punctuation.
    static func sentences(of paragraph: String) -> [String] {
        var result: [String] = []
        var current = ""
        let characters = Array(paragraph)
        var i = 0
        while i < characters.count {
            current.append(characters[i])
            if ".?!".contains(characters[i]), i + 2 < characters.count, characters[i + 1] == " ", characters[i + 2].isUppercase {
                result.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            }
            i += 1
        }
        let last = current.trimmingCharacters(in: .whitespaces)
        if !last.isEmpty { result.append(last) }
        return result
    }
}
