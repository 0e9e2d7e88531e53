import EvictionPolicies
import Foundation
import KVCompress
import Testing

/// Sweep specifications: the committed ones load, and every mistake is a clear error.
@Suite struct EvaluationSpecificationTests {
    static let registry = PluginRegistry.withBuiltins()

    static let valid = """
        task: passkey
        lengths: [1200, 3500]
        prompts: 20
        rates: [1, 2, 4]
        methods:
          - {name: kvcompress, policy: kvcompress}
          - {name: uniform, policy: uniform}
        """

    @Test func aValidSpecificationLoadsWithItsDefaults() throws {
        let s = try SweepSpecification.fromYAML(Self.valid, registry: Self.registry)
        #expect(s.task == .passkey && s.lengths == [1200, 3500] && s.prompts == 20 && s.rates == [1, 2, 4])
        #expect(s.maxNewTokens == 8 && s.blockSize == 16 && s.protectedWindow == 32 && s.window == "last" && s.budget == .rate)
        #expect(s.methods.map(\.name) == ["kvcompress", "uniform"])
        #expect(s.trialCount == 2 * 20 * 2 * 3)
        let c = s.configuration(of: s.methods[1], rate: 4)
        #expect(c.policy == "uniform" && c.budget == .rate(4) && c.protectedWindow == 32)
    }

    @Test(arguments: ["passkey.yaml", "prose-needle.yaml"])
    func theCommittedSpecificationsLoad(file: String) throws {
        let path = EvaluationSupport.packageRoot.appendingPathComponent("Experiments/sweeps/\(file)").path
        let s = try SweepSpecification.load(path: path, registry: Self.registry)
        #expect(s.prompts >= 20 && s.rates == [1, 2, 4, 8, 16, 32, 64])
        #expect(s.methods.map(\.name) == ["kvcompress", "kvcompress+even_layer_evict", "uniform"])
        _ = try s.makeTask()
    }

    /// (edit of the valid text, words the error must contain)
    static let mistakes: [(String, String, [String])] = [
        ("task: passkey", "task: passkee", ["unknown task 'passkee'", "prose_needle"]),
        ("lengths: [1200, 3500]", "lengths: []", ["lengths is empty"]),
        ("lengths: [1200, 3500]", "lengths: [1200, 1200]", ["duplicates"]),
        ("prompts: 20", "prompts: 0", ["prompts must be at least 1"]),
        ("rates: [1, 2, 4]", "rates: [0.5, 2]", ["rate 0.5", "≥ 1"]),
        ("rates: [1, 2, 4]", "rates: [1, 2, 4]\nmax_new_tokens: 0", ["max_new_tokens"]),
        ("rates: [1, 2, 4]", "rates: [1, 2, 4]\nblock_size: 12", ["block_size 12"]),
        ("rates: [1, 2, 4]", "rates: [1, 2, 4]\nbudget: tokens", ["unknown budget 'tokens'"]),
        ("rates: [1, 2, 4]", "rates: [1, 2, 4]\nrate: 3", ["unknown sweep specification key", "'rate'"]),
        ("prompts: 20", "", ["missing key 'prompts'"]),
        ("{name: uniform, policy: uniform}", "{name: kvcompress, policy: uniform}", ["'kvcompress' appears twice"]),
        ("{name: uniform, policy: uniform}", "{name: u, policy: unform}", ["unknown policy 'unform'", "uniform"]),
        ("{name: uniform, policy: uniform}", "{name: u}", ["method 'u' has no `policy`"]),
        ("{name: uniform, policy: uniform}", "{name: u, policy: uniform, budget: {rate: 2}}", ["rates"]),
        ("{name: uniform, policy: uniform}", "{name: u, policy: {name: kvcompress, options: {even_layer_evct: true}}}", ["even_layer_evct"]),
        ("{name: uniform, policy: uniform}", "{name: u, policy: uniform, protected_window: -1}", ["protected_window"]),
        ("task: passkey", "task: prose_needle", ["needs `corpus"]),
        ("task: passkey", "task: prose_needle\ncorpus: /nonexistent.txt", ["/nonexistent.txt", "not a readable file"]),
        ("task: passkey", "task: passkey\ncorpus: x.txt", ["only read by task prose_needle"]),
    ]

    @Test(arguments: mistakes.indices)
    func everyMistakeIsAnErrorThatSaysWhat(index: Int) {
        let (original, replacement, words) = Self.mistakes[index]
        let text = Self.valid.replacingOccurrences(of: original, with: replacement)
        #expect(text != Self.valid)
        do {
            _ = try SweepSpecification.fromYAML(text, registry: Self.registry)
            Issue.record("accepted: \(replacement)")
        } catch {
            for word in words { #expect(error.description.contains(word), "\(error.description) should mention \(word)") }
        }
    }

    @Test func aMissingFileNamesThePath() {
        #expect(throws: EvaluationError.unreadableSpecification(path: "/nonexistent/spec.yaml", why: "no such file")) {
            try SweepSpecification.load(path: "/nonexistent/spec.yaml", registry: Self.registry)
        }
    }
}
