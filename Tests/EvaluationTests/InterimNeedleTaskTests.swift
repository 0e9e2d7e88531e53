import BPETokenizer
import Evaluation
import EvaluationTasks
import Foundation
import KVCompress
import Testing

/// The interim `passkey` and `prose_needle` tasks on the EvaluationTask contract: deterministic from the
/// seed, within the target length, the code present once in the document with its evidence range on it.
@Suite struct InterimNeedleTaskTests {
    static let registry: TaskRegistry = {
        let r = TaskRegistry()
        r.registerInterimNeedleTasks()
        return r
    }()
    static let corpus = EvaluationSupport.packageRoot.appendingPathComponent("Experiments/data/python-reference-prose.txt").path

    @Test(arguments: ["passkey", "prose_needle"], [900, 2000])
    func instancesAreSeededFitTheLengthAndHoldTheCodeOnce(name: String, length: Int) throws {
        let task = try Self.registry.makeTask(PluginSpec(name, options: name == "prose_needle" ? ["corpus": .string(Self.corpus)] : [:]))
        let tokenizer = EvaluationSupport.byteTokenizer
        let a = try task.instance(targetTokens: length, seed: 4, tokenizer: tokenizer)
        #expect(a == (try task.instance(targetTokens: length, seed: 4, tokenizer: tokenizer)))
        #expect(a != (try task.instance(targetTokens: length, seed: 5, tokenizer: tokenizer)))
        let total = a.promptTokens(question: 0).count
        // Whole haystack units: a noise unit is ~90 byte tokens, a prose paragraph up to several hundred.
        #expect(total <= length && total >= (name == "passkey" ? length - 120 : length * 2 / 5), "\(total) tokens for \(length)")
        let code = try #require(a.questions[0].answers.first)
        #expect(a.document.components(separatedBy: code).count == 2, "the code appears exactly once")
        let evidence = try #require(a.questions[0].evidence.first)
        let evidenceText = tokenizer.decode(Array(a.documentTokens[evidence]), renderSpecial: false)
        #expect(evidenceText.contains(code))
        #expect(task.score("It is \(code).", for: a.questions[0]) == 1 && task.score("no idea", for: a.questions[0]) == 0)
    }

    @Test func aMissingCorpusOrATooShortLengthIsAClearError() throws {
        #expect { _ = try Self.registry.makeTask(PluginSpec("prose_needle", options: ["corpus": "/nonexistent.txt"])) } throws: {
            "\($0)".contains("prose_needle") && "\($0)".contains("/nonexistent.txt")
        }
        let passkey = try Self.registry.makeTask("passkey")
        #expect(throws: TaskError.self) { _ = try passkey.instance(targetTokens: 20, seed: 1, tokenizer: EvaluationSupport.byteTokenizer) }
    }
}
