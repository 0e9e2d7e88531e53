import BPETokenizer
import Testing

/// The SentencePiece merge rules on a tiny hand-made vocabulary (no model file needed).
@Suite("SentencePiece tokenizer")
struct SentencePieceTokenizerTests {
    /// ids: 0 <unk>, 1 <s>, 2 </s>, 3 <ctl> (control), 4 <0x41> … (bytes for 'A', 'B', 0xC3, 0xA9),
    /// then pieces with scores.
    static func tokenizer(addSpacePrefix: Bool = false, addBOS: Bool = true) throws -> SentencePieceTokenizer {
        let pieces: [(String, Float, TokenKind)] = [
            ("<unk>", 0, .unknown), ("<s>", 0, .control), ("</s>", 0, .control), ("<ctl>", 0, .control),
            ("<0x41>", 0, .byte), ("<0x42>", 0, .byte), ("<0xC3>", 0, .byte), ("<0xA9>", 0, .byte),
            ("a", -1, .normal), ("b", -1, .normal), ("c", -1, .normal), ("▁", -1, .normal),
            ("ab", -5, .normal), ("bc", -2, .normal), ("abc", -3, .normal), ("▁a", -4, .normal),
            ("aa", -6, .normal), ("<user>", 0, .userDefined),
        ]
        return try SentencePieceTokenizer(
            tokens: pieces.map(\.0), scores: pieces.map(\.1), tokenTypes: pieces.map(\.2.rawValue), bos: 1, eos: 2,
            chatTemplate: nil, addBOS: addBOS, addSpacePrefix: addSpacePrefix, unknown: 0)
    }

    @Test("the pair of highest score merges first", arguments: [
        ("abc", [10 + 4] as [Int32]),  // bc (−2) first, then a+bc = abc (−3)
        ("ab", [12]),
        ("cab", [10, 12]),
        ("aaa", [16, 8]),  // equal pairs: the leftmost merges
        ("a a", [8, 15]),  // the space becomes ▁, ▁a is a token
        ("ba", [9, 8]),
    ])
    func merges(text: String, expected: [Int32]) throws {
        #expect(try Self.tokenizer().encode(text, addBOS: false) == expected)
    }

    @Test func unknownCharactersFallBackToByteTokens() throws {
        // 'A' and 'é' (0xC3 0xA9) have only byte tokens; 'Z' has none: the unknown token.
        #expect(try Self.tokenizer().encode("AéZ", addBOS: false) == [4, 6, 7, 0])
    }

    @Test func specialTokensAreCutOutFirst() throws {
        let t = try Self.tokenizer()
        #expect(t.encode("a<ctl>b", addBOS: false, parseSpecial: true) == [8, 3, 9])
        #expect(t.encode("a<user>b", addBOS: false, parseSpecial: false) == [8, 17, 9])
        // Without parsing, the control token's text is plain text (its characters as bytes/unk).
        #expect(!t.encode("<ctl>", addBOS: false, parseSpecial: false).contains(3))
    }

    @Test func spacePrefixAtTheStartAndAfterSpecialTokens() throws {
        let t = try Self.tokenizer(addSpacePrefix: true)
        #expect(t.encode("a", addBOS: false) == [15])
        #expect(t.encode("a<ctl>a", addBOS: false, parseSpecial: true) == [15, 3, 15])
        #expect(t.encode("a", addBOS: true) == [1, 15])
    }

    @Test func decodingTurnsVisibleSpacesBackAndSkipsControlTokensOnRequest() throws {
        let t = try Self.tokenizer()
        #expect(t.decode([15, 12, 3, 6, 7], renderSpecial: true) == " aab<ctl>é")
        #expect(t.decode([15, 12, 3, 6, 7], renderSpecial: false) == " aabé")
    }

    @Test func badMetadataIsAClearError() {
        #expect(throws: BPETokenizerError.invalidMetadata(key: "tokenizer.ggml.scores", reason: "1 scores for 2 tokens")) {
            _ = try SentencePieceTokenizer(
                tokens: ["a", "b"], scores: [0], tokenTypes: [], bos: nil, eos: 0, chatTemplate: nil, addBOS: false)
        }
        #expect(throws: BPETokenizerError.self) {
            _ = try SentencePieceTokenizer(
                tokens: ["a"], scores: [0], tokenTypes: [], bos: 5, eos: 0, chatTemplate: nil, addBOS: true)
        }
    }
}
