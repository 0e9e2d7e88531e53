import BPETokenizer
import Foundation
import KVCompress
import SeededRandom

/// RULER's frequent words extraction (arXiv 2404.06654 §3; NVIDIA/RULER scripts/data/synthetic/freq_words_extraction.py):
/// a text of random six-letter coded words whose counts follow a Zipf law, word of rank k appearing
/// ⌊C / k^α⌋ times (α = 2); the most frequent "word" is written as dots, as RULER does, and the model
/// must name the three most frequent real words, ranks 2–4 (`string_match_all`). C is the largest that
/// fits the length.
public struct FrequentWordsTask: EvaluationTask {
    public let alpha: Double
    public let maxNewTokens: Int

    public init(alpha: Double = 2, maxNewTokens: Int = 50) {
        self.alpha = alpha
        self.maxNewTokens = maxNewTokens
    }

    public var name: String { "frequent_words" }

    static let introduction =
        "Read the following coded text and track the frequency of each coded word. Find the three most frequently appeared coded words."
    static let question =
        "\nQuestion: Do not provide any explanation. Please ignore the dots '....'. What are the three most frequently appeared words in the above coded text? "
        + "Answer: According to the coded text above, the three most frequently appeared words are:"

    /// Occurrences of ranks 1, 2, … for scale `c`, while at least one.
    func counts(scale c: Int) -> [Int] {
        var counts: [Int] = []
        var k = 1.0
        while true {
            let n = Int(Double(c) / pow(k, alpha))
            if n < 1 { return counts }
            counts.append(n)
            k += 1
        }
    }

    /// The coded words (distinct, six lower-case letters) of `seed`, rank order.
    func codes(_ n: Int, seed: UInt64) -> [String] {
        var rng = SplitMix64(seed: seed)
        var seen: Set<String> = [], codes: [String] = []
        while codes.count < n {
            let code = String((0..<6).map { _ in Character(Unicode.Scalar(UInt8(97 + rng.next() % 26))) })
            if seen.insert(code).inserted { codes.append(code) }
        }
        return codes
    }

    func document(scale c: Int, seed: UInt64) -> (text: String, answers: [String]) {
        let counts = counts(scale: c)
        let codes = codes(counts.count, seed: seed)
        var words: [String] = []
        for (rank, count) in counts.enumerated() { words += Array(repeating: rank == 0 ? "...." : codes[rank], count: count) }
        var rng = SplitMix64(seed: seed ^ 0x4652_4551)
        words.shuffle(using: &rng)
        return (Self.introduction + "\n" + words.joined(separator: " "), Array(codes[1..<4]))
    }

    /// Ranks 2–4 need distinct counts above rank 5's: C ≥ 100 at α = 2.
    static let minimumScale = 100

    public func minimumTokens(tokenizer: any TextTokenizer) throws(TaskError) -> Int {
        tokenizer.encodePrompt(document(scale: Self.minimumScale, seed: 0).text).count + tokenizer.encodeContinuation(Self.question).count
    }

    public func instance(targetTokens: Int, seed: UInt64, tokenizer: any TextTokenizer) throws(TaskError) -> TaskInstance {
        let budget = targetTokens - tokenizer.encodeContinuation(Self.question).count
        func tokens(_ c: Int) -> Int { tokenizer.encodePrompt(document(scale: c, seed: seed).text).count }
        guard tokens(Self.minimumScale) <= budget else {
            throw .lengthTooShort(task: name, targetTokens: targetTokens, minimum: try minimumTokens(tokenizer: tokenizer))
        }
        // Largest scale that fits: grow by doubling, then bisect.
        var low = Self.minimumScale, high = Self.minimumScale * 2
        while tokens(high) <= budget { (low, high) = (high, high * 2) }
        while high - low > 1 {
            let middle = (low + high) / 2
            if tokens(middle) <= budget { low = middle } else { high = middle }
        }
        let (text, answers) = document(scale: low, seed: seed)
        let built = BuiltDocument(text: text, tokens: tokenizer.encodePrompt(text), evidence: [], units: low)
        return makeInstance(
            seed: seed, targetTokens: targetTokens, document: built, questions: [TaskQuestion(text: Self.question, answers: answers)],
            tokenizer: tokenizer)
    }

    static func register(in registry: TaskRegistry) {
        registry.register(task: "frequent_words", summary: "name the three most frequent coded words of a Zipf-distributed text (RULER fwe)") { o in
            FrequentWordsTask(alpha: try o.double("alpha", default: 2, in: 1.1...4), maxNewTokens: try o.int("max_new_tokens", default: 50, in: 1...4096))
        }
    }
}
