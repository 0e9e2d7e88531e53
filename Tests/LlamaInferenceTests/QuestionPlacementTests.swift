import PagedKVCache
import Testing

@testable import LlamaInference

/// Query-agnostic generation (`Generator.generate(prompts:questions:)`): the question is prefilled
/// after the prompt's `didPrefill` (its compression), and no question token reaches the observer.
@Suite("Question placement")
struct QuestionPlacementTests {
    /// Records what the observer and the controller saw: observed query positions, and the sequence
    /// length when `didPrefill` ran.
    final class PlacementController: CacheController {
        let recorder = RecordingObserver(window: 4)
        var observer: (any AttentionObserver)? { recorder }
        var lengthsAtPrefill: [Int] = []
        func didPrefill(_ sequence: SequenceID, cache: PagedKVCache) throws { lengthsAtPrefill.append(cache.nextPosition(sequence)) }
        func willDecode(_ sequences: [SequenceID], step: Int, cache: PagedKVCache) throws {}
    }

    @Test("agnostic: the controller runs on the document alone and no question query is observed in prefill")
    func agnosticHidesTheQuestion() throws {
        let document = randomTokens(40, seed: 3), question = randomTokens(9, seed: 4)
        let cache = try makeCache(blockSize: 16, tokens: 60)
        let controller = PlacementController()
        _ = try Generator(model: tinyModel, cache: cache, controller: controller).generate(
            prompts: [document], questions: [question], parameters: GenerationParameters(maxTokens: 3))
        #expect(controller.lengthsAtPrefill == [40])
        let prefillPositions = controller.recorder.records.filter { $0.phase == .prefill }.flatMap(\.queryPositions)
        #expect(!prefillPositions.isEmpty)
        #expect(prefillPositions.allSatisfy { $0 < 40 })
        // Aware placement of the same tokens: the observed window is the question's last tokens.
        let aware = PlacementController()
        _ = try Generator(model: tinyModel, cache: try makeCache(blockSize: 16, tokens: 60), controller: aware).generate(
            prompts: [document + question], parameters: GenerationParameters(maxTokens: 3))
        #expect(aware.lengthsAtPrefill == [49])
        #expect(aware.recorder.records.filter { $0.phase == .prefill }.flatMap(\.queryPositions).allSatisfy { $0 >= 45 })
    }

    @Test("without compression, agnostic placement generates what the plain prompt does")
    func agnosticWithoutCompressionEqualsThePlainPrompt() throws {
        let document = randomTokens(37, seed: 5), question = randomTokens(6, seed: 6)
        let parameters = GenerationParameters(maxTokens: 6)
        let split = try Generator(model: tinyModel, cache: try makeCache(blockSize: 16, tokens: 60)).generate(
            prompts: [document], questions: [question], parameters: parameters)
        let plain = try Generator(model: tinyModel, cache: try makeCache(blockSize: 16, tokens: 60)).generate(
            prompts: [document + question], parameters: parameters)
        #expect(split.sequences[0].tokens == plain.sequences[0].tokens)
        #expect(split.statistics.promptTokens == 43)
    }

    @Test("one question list per prompt")
    func questionCountMustMatch() throws {
        #expect(throws: LlamaError.self) {
            try Generator(model: tinyModel, cache: try makeCache(blockSize: 16, tokens: 60)).generate(
                prompts: [randomTokens(5, seed: 1)], questions: [], parameters: GenerationParameters(maxTokens: 1))
        }
    }
}
