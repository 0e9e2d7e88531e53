import BPETokenizer
import KVCompress
import SeededRandom

/// RULER's needle-in-a-haystack family (Hsieh et al. 2024, "RULER: What's the Real Context Size of Your
/// Long-Context Language Models?", arXiv 2404.06654; NVIDIA/RULER scripts/data/synthetic/niah.py):
/// `keys` needles "One of the special magic numbers for <key> is: <value>." hidden at seeded depths in a
/// haystack, each key holding `valuesPerKey` values; a question names `keysPerQuestion` keys and must be
/// answered with all their values (RULER's `string_match_all`).
///
/// The four registered variants differ only in those counts:
/// - `niah_single`: one needle, one question (RULER niah_single_1/2/3 by `haystack` and `value`);
/// - `niah_multikey`: `keys` needles with distinct keys, one key per question (RULER niah_multikey_1);
///   by default every key is asked, each in its own question, so an agnostic run compresses the
///   document once and answers all of them on forks of it (`questions: 1` for RULER's single question);
/// - `niah_multivalue`: one key with `values` values, all must be given (RULER niah_multivalue);
/// - `niah_multiquery`: `keys` needles, `queries` of them asked at once (RULER niah_multiquery).
public struct NeedleInAHaystackTask: EvaluationTask {
    public let name: String
    public let haystack: Haystack
    let valueKind: NeedleValues.Kind
    /// Needles with distinct keys.
    public let keys: Int
    /// Values each key holds (one needle per value).
    public let valuesPerKey: Int
    /// Keys one question asks about.
    public let keysPerQuestion: Int
    /// Separate questions about one document (each about different keys).
    public let questionsPerDocument: Int
    public let maxNewTokens: Int

    init(
        name: String, haystack: Haystack, valueKind: NeedleValues.Kind, keys: Int, valuesPerKey: Int, keysPerQuestion: Int,
        questionsPerDocument: Int, maxNewTokens: Int?
    ) {
        precondition(keysPerQuestion * questionsPerDocument <= keys, "each question asks different keys")
        self.name = name
        self.haystack = haystack
        self.valueKind = valueKind
        self.keys = keys
        self.valuesPerKey = valuesPerKey
        self.keysPerQuestion = keysPerQuestion
        self.questionsPerDocument = questionsPerDocument
        self.maxNewTokens = maxNewTokens ?? (valueKind.tokensPerValue * keysPerQuestion * valuesPerKey + 4)
    }

    /// RULER's wording, singular when one value of one key is asked.
    static func introduction(_ kind: NeedleValues.Kind) -> String {
        "Some special magic \(kind.plural) are hidden within the following text. Make sure to memorize it. "
            + "I will quiz you about the \(kind.plural) afterwards."
    }
    static func needle(key: String, value: String, kind: NeedleValues.Kind) -> String {
        "One of the special magic \(kind.plural) for \(key) is: \(value)."
    }
    static func question(keys: [String], kind: NeedleValues.Kind, singular: Bool) -> String {
        let named = keys.count == 1 ? keys[0] : keys.dropLast().joined(separator: ", ") + " and " + keys.last!
        if singular {
            return "\nWhat is the special magic \(kind.rawValue) for \(named) mentioned in the provided text? "
                + "The special magic \(kind.rawValue) for \(named) mentioned in the provided text is"
        }
        return "\nWhat are all the special magic \(kind.plural) for \(named) mentioned in the provided text? "
            + "The special magic \(kind.plural) for \(named) mentioned in the provided text are"
    }

    /// The needles and questions of `seed`, before any haystack.
    private func plan(seed: UInt64) -> (layout: NeedleDocument, questions: [(text: String, answers: [String], needles: [Int])], rng: SplitMix64) {
        var draw = NeedleValues(rng: SplitMix64(seed: seed))
        let keyNames = (0..<keys).map { _ in draw.key() }
        var needles: [String] = [], depths: [Double] = [], needlesOfKey: [[Int]] = []
        var valuesOfKey: [[String]] = []
        for key in keyNames {
            var values: [String] = [], indices: [Int] = []
            for _ in 0..<valuesPerKey {
                let value = draw.value(valueKind)
                values.append(value)
                indices.append(needles.count)
                needles.append(Self.needle(key: key, value: value, kind: valueKind))
                depths.append(draw.depth())
            }
            valuesOfKey.append(values)
            needlesOfKey.append(indices)
        }
        let singular = keysPerQuestion * valuesPerKey == 1
        let questions = (0..<questionsPerDocument).map { q in
            let asked = Array(q * keysPerQuestion..<(q + 1) * keysPerQuestion)
            return (
                text: Self.question(keys: asked.map { keyNames[$0] }, kind: valueKind, singular: singular),
                answers: asked.flatMap { valuesOfKey[$0] }, needles: asked.flatMap { needlesOfKey[$0] })
        }
        let layout = NeedleDocument(
            introduction: Self.introduction(valueKind), unitSeparator: " ", sectionSeparator: "\n", insertions: needles, depths: depths)
        return (layout, questions, draw.generator)
    }

    public func minimumTokens(tokenizer: any TextTokenizer) throws(TaskError) -> Int {
        // Seed-independent enough: the needles of seed 0 and their longest question, plus one unit.
        let p = plan(seed: 0)
        let question = p.questions.map { tokenizer.encodeContinuation($0.text).count }.max() ?? 0
        return p.layout.bareTokens(tokenizer: tokenizer) + question + 8
    }

    public func instance(targetTokens: Int, seed: UInt64, tokenizer: any TextTokenizer) throws(TaskError) -> TaskInstance {
        let (layout, questions, generator) = plan(seed: seed)
        var rng = generator
        let questionTokens = questions.map { tokenizer.encodeContinuation($0.text).count }.max() ?? 0
        let unit = haystack.units(rng: &rng)
        let document = try layout.build(
            task: name, budget: targetTokens - questionTokens, minimumExtra: questionTokens, tokenizer: tokenizer, unit: unit)
        return makeInstance(
            seed: seed, targetTokens: targetTokens, document: document,
            questions: questions.map { TaskQuestion(text: $0.text, answers: $0.answers, evidence: $0.needles.map { document.evidence[$0] }) },
            tokenizer: tokenizer, depth: keys * valuesPerKey == 1 ? layout.depths[0] : nil)
    }
}

extension NeedleInAHaystackTask {
    /// Reads the options every variant shares: `haystack` (noise | prose), `corpus`, `value`
    /// (number | word | uuid), `max_new_tokens`.
    static func common(_ options: OptionReader, haystack: String) throws -> (Haystack, NeedleValues.Kind, Int?) {
        let h = try Haystack.fromOptions(options, default: haystack)
        let kind = NeedleValues.Kind(rawValue: try options.string("value", default: "number", allowed: NeedleValues.Kind.allCases.map(\.rawValue)))!
        return (h, kind, try options.optionalInt("max_new_tokens", in: 1...4096))
    }

    static func register(in registry: TaskRegistry) {
        registry.register(task: "niah_single", summary: "one needle in noise or prose; value a number, word or uuid (RULER niah_single)") { o in
            let (h, kind, tokens) = try common(o, haystack: "noise")
            return NeedleInAHaystackTask(
                name: "niah_single", haystack: h, valueKind: kind, keys: 1, valuesPerKey: 1, keysPerQuestion: 1, questionsPerDocument: 1,
                maxNewTokens: tokens)
        }
        registry.register(task: "niah_multikey", summary: "`keys` needles (default 4), one key per question, every key asked by default (RULER niah_multikey)") { o in
            let (h, kind, tokens) = try common(o, haystack: "prose")
            let keys = try o.int("keys", default: 4, in: 1...64)
            let questions = try o.int("questions", default: keys, in: 1...keys)
            return NeedleInAHaystackTask(
                name: "niah_multikey", haystack: h, valueKind: kind, keys: keys, valuesPerKey: 1, keysPerQuestion: 1,
                questionsPerDocument: questions, maxNewTokens: tokens)
        }
        registry.register(task: "niah_multivalue", summary: "one key holding `values` values (default 4), all must be given (RULER niah_multivalue)") { o in
            let (h, kind, tokens) = try common(o, haystack: "prose")
            let values = try o.int("values", default: 4, in: 1...64)
            return NeedleInAHaystackTask(
                name: "niah_multivalue", haystack: h, valueKind: kind, keys: 1, valuesPerKey: values, keysPerQuestion: 1, questionsPerDocument: 1,
                maxNewTokens: tokens)
        }
        registry.register(task: "niah_multiquery", summary: "`keys` needles (default 4), `queries` of them asked at once (RULER niah_multiquery)") { o in
            let (h, kind, tokens) = try common(o, haystack: "prose")
            let keys = try o.int("keys", default: 4, in: 1...64)
            let queries = try o.int("queries", default: keys, in: 1...keys)
            return NeedleInAHaystackTask(
                name: "niah_multiquery", haystack: h, valueKind: kind, keys: keys, valuesPerKey: 1, keysPerQuestion: queries,
                questionsPerDocument: 1, maxNewTokens: tokens)
        }
    }
}
