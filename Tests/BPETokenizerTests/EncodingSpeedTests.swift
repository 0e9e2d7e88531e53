import BPETokenizer
import GGUF
import SeededRandom
import Testing

/// Encoding must keep up with prompt processing: an 8k-token document well under a second.
@Suite(.enabled(if: SmolLM2Model.isAvailable, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf"))
struct EncodingSpeedTests {
    @Test func eightThousandTokenDocumentEncodesWellUnderASecond() throws {
        let tokenizer = try SmolLM2Model.tokenizer()
        let fixture = try ReferenceFixture.load()
        // Real text (prose, code, numbers, non-ASCII) and made-up words, so the per-call word
        // cache cannot do all the work: most made-up words occur once.
        var generator = SplitMix64(seed: 2410_00161)
        var parts = fixture.cases.map(\.text)
        while parts.count < 3000 {
            let length = Int(generator.next() % 9) + 3
            parts.append(String((0..<length).map { _ in Character(Unicode.Scalar(UInt8(97 + generator.next() % 26))) }))
        }
        let document = parts.joined(separator: " ")
        let clock = ContinuousClock()
        var ids: [Int32] = []
        let elapsed = clock.measure { ids = tokenizer.encode(document) }
        print("encoded \(ids.count) tokens (\(document.utf8.count) bytes) in \(elapsed)")
        #expect(ids.count >= 8192)
        #expect(elapsed < .seconds(1), "encoding \(ids.count) tokens took \(elapsed)")
    }
}

@Suite(.enabled(if: SmolLM2Model.isAvailable, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf"))
struct ConcurrentEncodingTests {
    /// One tokenizer serves many tasks at once (it is immutable; each call keeps its own state).
    @Test func tasksEncodingAtOnceGetTheSameIDs() async throws {
        let tokenizer = try SmolLM2Model.tokenizer()
        let fixture = try ReferenceFixture.load()
        let cases = fixture.cases.filter { !$0.addBOS }
        let results = await withTaskGroup(of: [[Int32]].self) { group in
            for _ in 0..<8 {
                group.addTask { cases.map { tokenizer.encode($0.text, addBOS: false, parseSpecial: $0.parseSpecial) } }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        for result in results { #expect(result == cases.map(\.ids)) }
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
