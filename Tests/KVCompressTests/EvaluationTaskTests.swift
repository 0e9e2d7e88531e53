import BPETokenizer
import Foundation
import GGUF
import KVCompress
import Testing

/// The task generators: deterministic for a seed, at most the target length, the needle where they say.
@Suite struct EvaluationTaskTests {
    static let tokenizer = EvaluationSupport.byteTokenizer
    static let prose = try! ProseNeedleTask(corpusPath: EvaluationSupport.corpusPath)
    static let tasks: [any NeedleTask] = [PasskeyTask(), prose]

    @Test(arguments: [0, 1], [UInt64(0), 7, 123_456])
    func sameSeedSamePromptOtherSeedOtherCode(task: Int, seed: UInt64) throws {
        let t = Self.tasks[task]
        let a = try t.prompt(targetTokens: 900, seed: seed, tokenizer: Self.tokenizer)
        let b = try t.prompt(targetTokens: 900, seed: seed, tokenizer: Self.tokenizer)
        #expect(a == b)
        let c = try t.prompt(targetTokens: 900, seed: seed + 1, tokenizer: Self.tokenizer)
        #expect(a.answer != c.answer || a.depth != c.depth || a.text != c.text)
    }

    @Test(arguments: [0, 1], [300, 901, 2000])
    func promptsFitTheTargetAndUseMostOfIt(task: Int, target: Int) throws {
        for seed in UInt64(0)..<5 {
            let p = try Self.tasks[task].prompt(targetTokens: target, seed: seed, tokenizer: Self.tokenizer)
            #expect(p.tokens.count <= target)
            #expect(p.tokens == Self.tokenizer.encode(p.text))
            // A unit (noise sentences ~90 bytes; a paragraph ≤ ~2 KB) is the granularity.
            #expect(p.tokens.count > target - (task == 0 ? 100 : 2200))
            #expect(p.answer.count == 5 && p.answer.allSatisfy(\.isNumber) && p.answer.first != "0")
        }
    }

    @Test(arguments: [0, 1])
    func theNeedleIsWhereThePromptSaysAndTheEndingIsTheQuestion(task: Int) throws {
        var depths: Set<Double> = []
        for seed in UInt64(0)..<20 {
            let p = try Self.tasks[task].prompt(targetTokens: 1500, seed: seed, tokenizer: Self.tokenizer)
            let needle = task == 0 ? PasskeyTask.needle(code: p.answer) : ProseNeedleTask.needle(code: p.answer)
            let needleTokens = Array(p.tokens[p.needleTokenOffset..<(p.needleTokenOffset + p.needleTokenCount)])
            #expect(Self.tokenizer.decode(needleTokens).trimmingCharacters(in: .whitespacesAndNewlines) == needle)
            #expect(p.text.hasSuffix(task == 0 ? PasskeyTask.question : ProseNeedleTask.question))
            #expect(p.text.components(separatedBy: p.answer).count == 2, "the code appears once, in the needle")
            #expect((0...1).contains(p.depth))
            depths.insert(p.depth)
        }
        #expect(depths.count >= (task == 0 ? 10 : 4), "seeds spread the needle over the haystack (prose: a few long paragraphs)")
    }

    @Test func thePasskeyHaystackIsTheClassicNoise() throws {
        let p = try PasskeyTask().prompt(targetTokens: 1000, seed: 3, tokenizer: Self.tokenizer)
        #expect(p.text.hasPrefix(PasskeyTask.introduction))
        #expect(p.text.components(separatedBy: PasskeyTask.noise).count - 1 >= 8)
    }

    @Test func aTargetTooShortForTheQuestionIsAClearError() {
        #expect(throws: EvaluationError.self) { try PasskeyTask().prompt(targetTokens: 40, seed: 0, tokenizer: Self.tokenizer) }
        do {
            _ = try PasskeyTask().prompt(targetTokens: 40, seed: 0, tokenizer: Self.tokenizer)
        } catch {
            #expect(error.description.contains("at least"))
        }
    }

    @Test func aMissingCorpusIsAClearError() {
        #expect(throws: EvaluationError.unreadableCorpus(path: "/nonexistent/corpus.txt", why: "no such file")) {
            try ProseNeedleTask(corpusPath: "/nonexistent/corpus.txt")
        }
    }

    @Test(.enabled(if: EvaluationSupport.hasSmolLM2, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-model.sh)"))
    func withTheSmolLM2TokenizerTheNeedleStillTokenizesAsAPrefix() throws {
        let tokenizer = try BPETokenizer(gguf: GGUFFile(path: EvaluationSupport.smolLM2Path))
        for task in Self.tasks {
            for seed in UInt64(0)..<3 {
                let p = try task.prompt(targetTokens: 1200, seed: seed, tokenizer: tokenizer)
                #expect(p.tokens.count <= 1200 && p.tokens.count > 1100)
                let needle = Array(p.tokens[p.needleTokenOffset..<(p.needleTokenOffset + p.needleTokenCount)])
                let throughNeedle = tokenizer.decode(Array(p.tokens[..<(p.needleTokenOffset + p.needleTokenCount)]))
                #expect(p.text.hasPrefix(throughNeedle))
                #expect(tokenizer.decode(needle).trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("The "))
                #expect(throughNeedle.hasSuffix(p.answer + (task is PasskeyTask ? ". Remember it." : ".")))
            }
        }
    }
}
