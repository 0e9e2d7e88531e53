import BPETokenizer
import Foundation
import GGUF
import Testing

/// Gemma 3 270M (`models/gemma-3-270m-q4_k_m.gguf`, git-ignored, fetched by
/// `scripts/fetch-model.sh gemma3-270m`). Tests that need its vocabulary are skipped without it.
enum Gemma3Model {
    static let path: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf").path

    static var isAvailable: Bool { FileManager.default.fileExists(atPath: path) }

    /// The tokenizer as the GGUF file describes it, through the loader that picks the kind
    /// (built once, shared by the tests).
    static func tokenizer() throws -> SentencePieceTokenizer {
        let tokenizer = try fromFile.get()
        return try #require(tokenizer as? SentencePieceTokenizer)
    }

    private static let fromFile = Result { try loadTokenizer(gguf: GGUFFile(path: path)) }
}

/// Token ids of llama.cpp for Gemma 3's vocabulary (`Fixtures/gemma3_tokens.json`, written by
/// scripts/reference/make_spm_token_fixtures.py).
struct SentencePieceFixture: Decodable, Sendable {
    let model: String
    let reference: String
    let cases: [ReferenceFixture.TokenizedText]
    let endOfGenerationIDs: [Int32]
    let decoded: [ReferenceFixture.DecodedIDs]

    static func load() throws -> SentencePieceFixture {
        guard let url = Bundle.module.url(forResource: "gemma3_tokens", withExtension: "json", subdirectory: "Fixtures")
        else { throw FixtureMissing(name: "Fixtures/gemma3_tokens.json") }
        return try JSONDecoder().decode(SentencePieceFixture.self, from: Data(contentsOf: url))
    }
}

/// Our SentencePiece ids against llama.cpp's for every fixture text.
@Suite(.enabled(if: Gemma3Model.isAvailable, "needs models/gemma-3-270m-q4_k_m.gguf"))
struct SentencePieceParityTests {
    let fixture: SentencePieceFixture

    init() throws { fixture = try SentencePieceFixture.load() }

    @Test func metadataAsGemma3Declares() throws {
        let tokenizer = try Gemma3Model.tokenizer()
        #expect(tokenizer.vocabularySize == 262_144)
        #expect(tokenizer.bosID == 2 && tokenizer.eosID == 1 && tokenizer.unknownID == 3)
        #expect(tokenizer.addsBOSByDefault && !tokenizer.addsSpacePrefix)
    }

    /// This GGUF (the pretrained 270M) carries no chat template, and says so; the Gemma family's turn
    /// markers, as `ChatTemplate.gemma` renders them, are single control tokens of its vocabulary
    /// (`<start_of_turn>` 105, `<end_of_turn>` 106, the ids KVzip's code stops Gemma 3 at).
    @Test func gemmaTurnMarkersAreSingleTokensAndTheMissingTemplateIsNamed() throws {
        let tokenizer = try Gemma3Model.tokenizer()
        #expect(throws: BPETokenizerError.missingChatTemplate) { try tokenizer.chatTemplate() }
        let text = try ChatTemplate.gemma.render([ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
        let ids = tokenizer.encode(text, addBOS: true, parseSpecial: true)
        #expect(ids.first == 2 && ids[1] == 105 && ids.filter { $0 == 105 }.count == 2 && ids.filter { $0 == 106 }.count == 1)
    }

    @Test func everyFixtureTextMatchesLlamaCpp() throws {
        let tokenizer = try Gemma3Model.tokenizer()
        #expect(fixture.cases.count > 2000)
        var mismatches: [String] = []
        for c in fixture.cases {
            let ids = tokenizer.encode(c.text, addBOS: c.addBOS, parseSpecial: c.parseSpecial)
            if ids != c.ids { mismatches.append("\(c.name): \(String(reflecting: c.text.prefix(40)))") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(fixture.cases.count) differ: \(mismatches.prefix(8))")
    }

    @Test func longPassageIsThousandsOfTokens() throws {
        let long = try #require(fixture.cases.first { $0.name == "long-passage" })
        #expect(long.ids.count >= 1500)
        #expect(try Gemma3Model.tokenizer().encode(long.text, addBOS: false) == long.ids)
    }

    @Test func decodingMatchesLlamaCpp() throws {
        let tokenizer = try Gemma3Model.tokenizer()
        for d in fixture.decoded {
            #expect(tokenizer.bytes(of: d.ids, renderSpecial: d.renderSpecial) == d.bytes, "ids \(d.ids.prefix(8))")
        }
    }

    @Test func endOfGenerationTokensAsLlamaCpp() throws {
        let tokenizer = try Gemma3Model.tokenizer()
        #expect(tokenizer.endOfTurnIDs == Set(fixture.endOfGenerationIDs))
    }
}
