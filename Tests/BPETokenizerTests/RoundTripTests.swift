import BPETokenizer
import PropertyBased
import Testing

/// `decode(encode(s)) == s` for any string: byte-level BPE loses nothing.
@Suite(.enabled(if: SmolLM2Model.isAvailable, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf"))
struct RoundTripTests {
    /// Any Unicode scalar, with ASCII, whitespace and the text of special tokens drawn more
    /// often so that word boundaries, merges and special-token matching are all exercised.
    static let scalarPieces = Gen<String>.frequency(
        (4, Gen<UInt32>.value(in: 0...0x10FFFF).compactMap { Unicode.Scalar($0).map { String($0) } }),
        (4, Gen<UInt32>.value(in: 0...0x7F).compactMap { Unicode.Scalar($0).map { String($0) } }),
        (2, Gen<String?>.element(of: [" ", "  ", "\t", "\n", "\r\n", "\u{00A0}", "\u{3000}"]).map { $0 ?? " " }),
        (2, Gen<String?>.element(of: ["the", " and", "'s", "'ve", "123", "é", "日本", "😀", "e\u{301}"]).map { $0 ?? "" }),
        (1, Gen<String?>.element(of: ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start"]).map { $0 ?? "" })
    )
    static let texts = scalarPieces.array(of: 0...60).map { $0.joined() }

    @Test func decodingTheEncodingGivesTheText() async throws {
        let tokenizer = try SmolLM2Model.tokenizer()
        await propertyCheck(count: 300, input: Self.texts, Gen.bool) { text, parseSpecial in
            recordingErrors {
                let ids = tokenizer.encode(text, addBOS: false, parseSpecial: parseSpecial)
                Self.expectLossless(tokenizer, text, ids)
                #expect(ids.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabularySize })
            }
        }
    }

    @Test(arguments: ["gpt-2", "llama-bpe", "default"])
    func roundTripHoldsForEveryPreTokenizer(name: String) async throws {
        let tokenizer = try SmolLM2Model.tokenizer(preTokenizer: name)
        await propertyCheck(count: 150, input: Self.texts) { text in
            recordingErrors {
                Self.expectLossless(tokenizer, text, tokenizer.encode(text, addBOS: false))
            }
        }
    }

    /// The decoded bytes are the text's bytes, except bytes the vocabulary has no token for
    /// (llama.cpp drops those too; SmolLM2 lacks 0xF1, 0xF2 and a few control bytes).
    static func expectLossless(_ tokenizer: BPETokenizer, _ text: String, _ ids: [Int32]) {
        let representable = Array(text.utf8).filter { tokenizer.hasToken(forByte: $0) }
        #expect(tokenizer.bytes(of: ids) == representable)
        if representable.count == text.utf8.count {
            #expect(tokenizer.decode(ids) == text)
        }
    }

    @Test func everyByteOfOrdinaryTextHasAToken() throws {
        let tokenizer = try SmolLM2Model.tokenizer()
        let ordinary = "Hello, wörld! 日本語 😀 \t\n\r\u{00A0}\u{FFFD}\u{10FFFF}"
        #expect(ordinary.utf8.allSatisfy { tokenizer.hasToken(forByte: $0) })
        #expect(!tokenizer.hasToken(forByte: 0xF1))  // SmolLM2 has no token for it, like llama.cpp sees
    }

    @Test func specialTokensAreWholeTokensOnlyWhenParsed() throws {
        let tokenizer = try SmolLM2Model.tokenizer()
        let text = "<|im_start|>user\nhi<|im_end|>"
        let parsed = tokenizer.encode(text, addBOS: false, parseSpecial: true)
        let plain = tokenizer.encode(text, addBOS: false, parseSpecial: false)
        #expect(parsed.first == tokenizer.tokenID(forText: "<|im_start|>"))
        #expect(parsed.last == tokenizer.tokenID(forText: "<|im_end|>"))
        #expect(tokenizer.tokenID(forText: "<|im_end|>") == 2 && tokenizer.tokenID(forText: "no such token") == nil)
        #expect(!plain.contains(1) && !plain.contains(2))
        #expect(tokenizer.decode(parsed) == text && tokenizer.decode(plain) == text)
        #expect(tokenizer.decode(parsed, renderSpecial: false) == "user\nhi")
    }

    @Test func bosIsAddedOnRequestOnly() throws {
        let tokenizer = try SmolLM2Model.tokenizer()
        #expect(!tokenizer.addsBOSByDefault)  // tokenizer.ggml.add_bos_token = false in SmolLM2
        let bos = try #require(tokenizer.bosID)
        #expect(tokenizer.encode("Hello").first != bos)
        #expect(tokenizer.encode("Hello", addBOS: true).first == bos)
        #expect(tokenizer.encode("", addBOS: true) == [bos])
        #expect(tokenizer.encode("").isEmpty)
    }
}
