import BPETokenizer
import KVCompress
import SeededRandom

/// RULER's common words extraction (arXiv 2404.06654 §3; NVIDIA/RULER scripts/data/synthetic/common_words_extraction.py):
/// a numbered list of words in which `words` common words appear `commonFrequency` times each and as
/// many uncommon words as the length allows appear `uncommonFrequency` times; the model must name the
/// common ones (`string_match_all`). An aggregation task: the answer is spread over the whole
/// document, so no single needle carries it. Frequencies default to RULER's: 30 and 3, or 6 and 1 below
/// 4 096 tokens.
///
/// Words are the distinct lower-case words of four letters or more of the prose corpus, so a length is
/// bounded by that vocabulary (about 1 600 words in the bundled one); a longer request is an error
/// naming the bound.
public struct CommonWordsTask: EvaluationTask {
    public let words: Int
    /// nil: RULER's default for the length.
    public let commonFrequency: Int?
    public let uncommonFrequency: Int?
    public let vocabulary: [String]
    public let maxNewTokens: Int

    public init(vocabulary: [String], words: Int = 10, commonFrequency: Int? = nil, uncommonFrequency: Int? = nil, maxNewTokens: Int = 64) {
        self.vocabulary = vocabulary
        self.words = words
        self.commonFrequency = commonFrequency
        self.uncommonFrequency = uncommonFrequency
        self.maxNewTokens = maxNewTokens
    }

    public var name: String { "common_words" }

    static let introduction =
        "Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that appear most often."
    func question() -> String {
        "\nQuestion: What are the \(words) most common words in the above list? Answer: The top \(words) words that appear most often in the list are:"
    }

    /// The distinct lower-case words of four letters or more of `corpus`, sorted.
    public static func vocabulary(of corpus: ProseCorpus) -> [String] {
        var seen: Set<String> = []
        for paragraph in corpus.paragraphs {
            for word in paragraph.lowercased().split(whereSeparator: { !$0.isLetter || !$0.isASCII }) where word.count >= 4 {
                seen.insert(String(word))
            }
        }
        return seen.sorted()
    }

    func frequencies(targetTokens: Int) -> (common: Int, uncommon: Int) {
        (commonFrequency ?? (targetTokens < 4096 ? 6 : 30), uncommonFrequency ?? (targetTokens < 4096 ? 1 : 3))
    }

    /// The document with `uncommon` uncommon words: the list shuffled by `seed`.
    func document(common: [String], uncommon: ArraySlice<String>, frequencies f: (common: Int, uncommon: Int), seed: UInt64) -> String {
        var rng = SplitMix64(seed: seed ^ 0x5157_4F52_4453)
        var list = common.flatMap { Array(repeating: $0, count: f.common) } + uncommon.flatMap { Array(repeating: $0, count: f.uncommon) }
        list.shuffle(using: &rng)
        return Self.introduction + "\n" + list.enumerated().map { "\($0.offset + 1). \($0.element)" }.joined(separator: "\n")
    }

    public func minimumTokens(tokenizer: any TextTokenizer) throws(TaskError) -> Int {
        let f = frequencies(targetTokens: 0)
        let text = document(common: Array(vocabulary.prefix(words)), uncommon: [], frequencies: f, seed: 0)
        return tokenizer.encodePrompt(text).count + tokenizer.encodeContinuation(question()).count
    }

    public func instance(targetTokens: Int, seed: UInt64, tokenizer: any TextTokenizer) throws(TaskError) -> TaskInstance {
        var rng = SplitMix64(seed: seed)
        let shuffled = vocabulary.shuffled(using: &rng)
        let common = Array(shuffled.prefix(words)), pool = shuffled.dropFirst(words)
        let f = frequencies(targetTokens: targetTokens)
        let q = question()
        let budget = targetTokens - tokenizer.encodeContinuation(q).count
        func tokens(_ m: Int) -> [Int32] { tokenizer.encodePrompt(document(common: common, uncommon: pool.prefix(m), frequencies: f, seed: seed)) }
        guard tokens(0).count <= budget else {
            throw .lengthTooShort(task: name, targetTokens: targetTokens, minimum: try minimumTokens(tokenizer: tokenizer))
        }
        guard tokens(pool.count).count >= budget * 95 / 100 else {
            throw .invalidOption(
                task: name,
                why: "its vocabulary of \(vocabulary.count) words fills only \(tokens(pool.count).count) tokens at \(f.uncommon) occurrences per uncommon word; ask for less than \(targetTokens) tokens or raise uncommon_frequency")
        }
        // Largest number of uncommon words that fits (the token count grows with it).
        var low = 0, high = pool.count
        while low < high {
            let middle = (low + high + 1) / 2
            if tokens(middle).count <= budget { low = middle } else { high = middle - 1 }
        }
        let text = document(common: common, uncommon: pool.prefix(low), frequencies: f, seed: seed)
        let built = BuiltDocument(text: text, tokens: tokenizer.encodePrompt(text), evidence: [], units: low)
        return makeInstance(seed: seed, targetTokens: targetTokens, document: built, questions: [TaskQuestion(text: q, answers: common)], tokenizer: tokenizer)
    }

    static func register(in registry: TaskRegistry) {
        registry.register(task: "common_words", summary: "name the `words` (default 10) most common words of a numbered list (RULER cwe)") { o in
            CommonWordsTask(
                vocabulary: vocabulary(of: try ProseCorpus.fromOptions(o)), words: try o.int("words", default: 10, in: 1...100),
                commonFrequency: try o.optionalInt("common_frequency", in: 2...1000), uncommonFrequency: try o.optionalInt("uncommon_frequency", in: 1...999),
                maxNewTokens: try o.int("max_new_tokens", default: 64, in: 1...4096))
        }
    }
}
