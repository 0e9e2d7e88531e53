import PagedKVCache
import Testing

@testable import LlamaInference

@Suite("Sampling and generation")
struct GenerationTests {
    @Test("greedy picks the largest logit, lowest id on ties")
    func greedy() {
        var sampler = Sampler.greedy
        #expect(sampler.sample([0.1, 3, -2, 3]) == 1)
    }

    @Test("sampling is reproducible from its seed and follows the distribution")
    func seededSampling() throws {
        let logits: [Float] = [0, 1, 2, 0.5]
        var a = try Sampler(temperature: 1, seed: 9), b = try Sampler(temperature: 1, seed: 9)
        let runA = (0..<200).map { _ in a.sample(logits) }, runB = (0..<200).map { _ in b.sample(logits) }
        #expect(runA == runB)
        // Token 2 has probability e²/(1+e+e²+e^0.5) ≈ 0.61: far from 0 and from 1 in 200 draws.
        let share = Double(runA.filter { $0 == 2 }.count) / 200
        #expect(share > 0.45 && share < 0.77)
        // A nucleus smaller than the top token's mass leaves only the top token.
        var nucleus = try Sampler(temperature: 1, topP: 0.5, seed: 1)
        #expect((0..<50).allSatisfy { _ in nucleus.sample(logits) == 2 })
        // A top-p of 0.9 never reaches the least likely token (mass ≈ 0.09).
        var topP = try Sampler(temperature: 1, topP: 0.85, seed: 2)
        #expect((0..<300).allSatisfy { _ in topP.sample(logits) != 0 })
    }

    @Test("invalid sampling parameters are refused")
    func invalidSampler() {
        #expect(throws: LlamaError.self) { try Sampler(temperature: -1) }
        #expect(throws: LlamaError.self) { try Sampler(temperature: 1, topP: 0) }
        #expect(throws: LlamaError.self) { try Sampler(temperature: 1, topP: 1.5) }
    }

    /// Greedy continuation by hand: prefill, then decode the argmax one token at a time.
    func manualGreedy(_ prompt: [Int32], count: Int) throws -> [Int32] {
        let cache = try makeCache(blockSize: 16, tokens: prompt.count + count)
        let id = cache.addSequence()
        var logits = try tinyModel.prefill(prompt, sequence: id, cache: cache)
        var tokens: [Int32] = []
        for _ in 0..<count {
            var greedy = Sampler.greedy
            tokens.append(greedy.sample(logits))
            logits = try tinyModel.decode([(id, tokens.last!)], cache: cache)[0]
        }
        return tokens
    }

    @Test("a batch of prompts generates what each prompt generates alone")
    func batchedGeneration() throws {
        let prompts = [randomTokens(7, seed: 30), randomTokens(19, seed: 31), randomTokens(3, seed: 32)]
        let cache = try makeCache(blockSize: 8, tokens: 40, sequences: 3)
        let generator = Generator(model: tinyModel, cache: cache)
        var streamed: [[Int32]] = [[], [], []]
        let result = try generator.generate(prompts: prompts, parameters: GenerationParameters(maxTokens: 6)) {
            streamed[$0].append($1)
        }
        for (i, prompt) in prompts.enumerated() {
            #expect(result.sequences[i].tokens == (try manualGreedy(prompt, count: 6)))
            #expect(result.sequences[i].tokens == streamed[i])
            #expect(result.sequences[i].stopReason == .maxTokens)
        }
        #expect(result.statistics.promptTokens == 29)
        #expect(result.statistics.decodedTokens == 15)
        #expect(result.statistics.decodeSteps == 5)
        #expect(result.statistics.peakResidentBlocks > 0)
        #expect(cache.usedBlockCount == 0, "finished sequences release their blocks")
    }

    @Test("a stop token ends the sequence and is not emitted")
    func stopToken() throws {
        let prompt = randomTokens(9, seed: 40)
        let expected = try manualGreedy(prompt, count: 5)
        let cache = try makeCache(blockSize: 16, tokens: 20)
        let stop = expected[3]
        let result = try Generator(model: tinyModel, cache: cache).generate(
            prompts: [prompt], parameters: GenerationParameters(maxTokens: 10, stopTokens: [stop]))
        let cut = expected.firstIndex(of: stop)!
        #expect(result.sequences[0].tokens == Array(expected[..<cut]))
        #expect(result.sequences[0].stopReason == .stopToken)
    }

    @Test("a failed generation leaves no sequence behind")
    func failureCleansUp() throws {
        let cache = try makeCache(blockSize: 16, tokens: 600, sequences: 2)
        #expect(throws: LlamaError.contextOverflow(tokens: 513, contextLength: 512)) {
            try Generator(model: tinyModel, cache: cache).generate(prompts: [randomTokens(5, seed: 1), randomTokens(513, seed: 2)])
        }
        #expect(cache.sequences.isEmpty)
        #expect(cache.usedBlockCount == 0)
    }

    final class RecordingController: CacheController {
        var observer: (any AttentionObserver)? { nil }
        var prefilled: [SequenceID] = []
        var decodeSteps: [(step: Int, sequences: [SequenceID])] = []
        func didPrefill(_ sequence: SequenceID, cache: PagedKVCache) throws { prefilled.append(sequence) }
        func willDecode(_ sequences: [SequenceID], step: Int, cache: PagedKVCache) throws {
            decodeSteps.append((step, sequences))
        }
    }

    @Test("the cache controller is called after each prefill and before each decode step")
    func controllerCalls() throws {
        let cache = try makeCache(blockSize: 16, tokens: 20, sequences: 2)
        let controller = RecordingController()
        let result = try Generator(model: tinyModel, cache: cache, controller: controller).generate(
            prompts: [randomTokens(4, seed: 1), randomTokens(6, seed: 2)], parameters: GenerationParameters(maxTokens: 3))
        let ids = result.sequences.map(\.sequence)
        #expect(controller.prefilled == ids)
        #expect(controller.decodeSteps.map(\.step) == [0, 1])
        #expect(controller.decodeSteps.allSatisfy { $0.sequences == ids })
    }
}
