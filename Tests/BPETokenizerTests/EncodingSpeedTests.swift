import BPETokenizer
import GGUF
import Testing

/// Encoding must keep up with prompt processing: an 8k-token document well under a second.
@Suite(.enabled(if: SmolLM2Model.isAvailable, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf"))
struct EncodingSpeedTests {
    @Test func eightThousandTokenDocumentEncodesWellUnderASecond() throws {
        let tokenizer = try SmolLM2Model.tokenizer()
        let fixture = try ReferenceFixture.load()
        // Varied text (prose, code, numbers, non-ASCII) repeated to about 8k tokens.
        let passage = try #require(fixture.cases.first { $0.name == "long-passage" })
        let repeats = (8192 + passage.ids.count - 1) / passage.ids.count
        let document = Array(repeating: passage.text, count: repeats).joined(separator: "\n")
        let clock = ContinuousClock()
        var ids: [Int32] = []
        let elapsed = clock.measure { ids = tokenizer.encode(document) }
        #expect(ids.count >= 8192)
        print("encoded \(ids.count) tokens (\(document.utf8.count) bytes) in \(elapsed)")
        #expect(elapsed < .seconds(1), "encoding \(ids.count) tokens took \(elapsed)")
    }
}

@Suite(.enabled(if: SmolLM2Model.isAvailable, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf"))
struct TokenizerLoadingTests {
    /// Reading the vocabulary (49k tokens, 49k merges) must not dominate a model load.
    @Test func buildingFromTheModelFileTakesUnderTwoSeconds() throws {
        let clock = ContinuousClock()
        var tokenizer: BPETokenizer?
        let elapsed = try clock.measure { tokenizer = try BPETokenizer(gguf: GGUFFile(path: SmolLM2Model.path)) }
        print("built the SmolLM2 tokenizer (\(tokenizer?.vocabularySize ?? 0) tokens) in \(elapsed)")
        #expect(elapsed < .seconds(2))
    }
}
