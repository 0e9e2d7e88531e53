import BPETokenizer
import KVCompress
import SeededRandom

/// RULER's variable tracking (arXiv 2404.06654 §3; NVIDIA/RULER scripts/data/synthetic/variable_tracking.py):
/// `chains` chains of `hops` + 1 assignments — "VAR ABCDE = 12345.", then "VAR FGHIJ = VAR ABCDE." and
/// so on — hidden in order at seeded depths in the noise haystack; the question gives the first chain's
/// value and every variable of that chain must be named (`string_match_all`, RULER's 30 new tokens).
/// A multi-hop task: a method must keep every link of the chain, not one needle.
public struct VariableTrackingTask: EvaluationTask {
    public let chains: Int
    public let hops: Int
    public let maxNewTokens: Int

    public init(chains: Int = 1, hops: Int = 4, maxNewTokens: Int = 30) {
        self.chains = chains
        self.hops = hops
        self.maxNewTokens = maxNewTokens
    }

    public var name: String { "variable_tracking" }

    static let introduction = "Memorize and track the chain(s) of variable assignment hidden in the following text."
    static func question(value: String, variables: Int) -> String {
        "\nQuestion: Find all variables that are assigned the value \(value) in the text above. "
            + "Answer: According to the chain(s) of variable assignment in the text above, \(variables) variables are assigned the value \(value), they are:"
    }

    /// Five upper-case letters.
    static func variableName(_ rng: inout SplitMix64) -> String {
        String((0..<5).map { _ in Character(Unicode.Scalar(UInt8(65 + rng.next() % 26))) })
    }

    private func plan(seed: UInt64) -> (layout: NeedleDocument, value: String, names: [String], firstChain: Range<Int>, rng: SplitMix64) {
        var rng = SplitMix64(seed: seed)
        var used: Set<String> = [], values: Set<String> = []
        var insertions: [String] = [], depths: [Double] = []
        var firstValue = "", firstNames: [String] = []
        for chain in 0..<chains {
            var value: String
            repeat { value = String(10_000 + Int(rng.next() % 90_000)) } while !values.insert(value).inserted
            var names: [String] = []
            for _ in 0...hops {
                var n: String
                repeat { n = Self.variableName(&rng) } while !used.insert(n).inserted
                names.append(n)
            }
            // The links in order: sorted depths, so each assignment follows the one it copies.
            let chainDepths = (0...hops).map { _ in Double(rng.next() >> 11) / Double(1 << 53) }.sorted()
            for (i, name) in names.enumerated() {
                insertions.append(i == 0 ? "VAR \(name) = \(value)." : "VAR \(name) = VAR \(names[i - 1]).")
            }
            depths += chainDepths
            if chain == 0 { (firstValue, firstNames) = (value, names) }
        }
        let layout = NeedleDocument(
            introduction: Self.introduction, unitSeparator: " ", sectionSeparator: "\n", insertions: insertions, depths: depths)
        return (layout, firstValue, firstNames, 0..<(hops + 1), rng)
    }

    public func minimumTokens(tokenizer: any TextTokenizer) throws(TaskError) -> Int {
        let p = plan(seed: 0)
        return p.layout.bareTokens(tokenizer: tokenizer) + tokenizer.encodeContinuation(Self.question(value: p.value, variables: hops + 1)).count + 8
    }

    public func instance(targetTokens: Int, seed: UInt64, tokenizer: any TextTokenizer) throws(TaskError) -> TaskInstance {
        let p = plan(seed: seed)
        let text = Self.question(value: p.value, variables: hops + 1)
        let question = tokenizer.encodeContinuation(text).count
        let document = try p.layout.build(
            task: name, budget: targetTokens - question, minimumExtra: question, tokenizer: tokenizer) { _ in Haystack.noiseUnit }
        return makeInstance(
            seed: seed, targetTokens: targetTokens, document: document,
            questions: [TaskQuestion(text: text, answers: p.names, evidence: p.firstChain.map { document.evidence[$0] })],
            tokenizer: tokenizer)
    }

    static func register(in registry: TaskRegistry) {
        registry.register(task: "variable_tracking", summary: "chains of `hops` variable assignments (default 1 chain, 4 hops); name every variable of the value (RULER vt)") { o in
            VariableTrackingTask(
                chains: try o.int("chains", default: 1, in: 1...16), hops: try o.int("hops", default: 4, in: 1...32),
                maxNewTokens: try o.int("max_new_tokens", default: 30, in: 1...4096))
        }
    }
}
