import BPETokenizer
import PropertyBased
import Testing

@Suite(.enabled(if: SmolLM2Model.isAvailable, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf"))
struct StreamingDecoderTests {
    /// Streaming pieces concatenate to the full decode, and no piece ends inside a character.
    @Test func piecesConcatenateToTheDecodedText() async throws {
        let tokenizer = try SmolLM2Model.tokenizer()
        await propertyCheck(count: 200, input: RoundTripTests.texts) { text in
            recordingErrors {
                let ids = tokenizer.encode(text, addBOS: false, parseSpecial: true)
                var decoder = StreamingDecoder(tokenizer: tokenizer)
                var streamed = ""
                let lossless = text.utf8.allSatisfy { tokenizer.hasToken(forByte: $0) }
                for id in ids {
                    let piece = decoder.append(id)
                    if lossless {
                        #expect(!piece.unicodeScalars.contains("\u{FFFD}") || text.unicodeScalars.contains("\u{FFFD}"))
                    }
                    streamed += piece
                }
                streamed += decoder.flush()
                #expect(streamed == tokenizer.decode(ids))
                if lossless { #expect(streamed == text) }
            }
        }
    }

    /// Random token ids (which may split characters anywhere) stream to what `decode` gives.
    @Test func randomIDsStreamLikeDecode() async throws {
        let tokenizer = try SmolLM2Model.tokenizer()
        let ids = Gen.int32(in: 0...Int32(tokenizer.vocabularySize - 1)).array(of: 0...40)
        await propertyCheck(count: 200, input: ids) { ids in
            recordingErrors {
                var decoder = StreamingDecoder(tokenizer: tokenizer)
                let streamed = ids.map { decoder.append($0) }.joined() + decoder.flush()
                #expect(streamed == tokenizer.decode(ids))
            }
        }
    }

    @Test func emojiSplitAcrossTokensIsHeldBackUntilComplete() throws {
        let tokenizer = try SmolLM2Model.tokenizer()
        let ids = tokenizer.encode("😀", addBOS: false)
        try #require(ids.count > 1, "the emoji should span several byte tokens in SmolLM2")
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        let pieces = ids.map { decoder.append($0) }
        #expect(pieces.dropLast().allSatisfy { $0.isEmpty })
        #expect(pieces.last == "😀")
        #expect(decoder.flush() == "")
    }

    @Test func flushEmitsAnUnfinishedCharacterAsReplacement() throws {
        let tokenizer = try SmolLM2Model.tokenizer()
        let ids = tokenizer.encode("😀", addBOS: false)
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        #expect(decoder.append(ids[0]) == "")
        #expect(decoder.flush() == "\u{FFFD}")
        #expect(decoder.flush() == "")
    }

    @Test func controlTokensCanBeHidden() throws {
        let tokenizer = try SmolLM2Model.tokenizer()
        var decoder = StreamingDecoder(tokenizer: tokenizer, renderSpecial: false)
        let ids = tokenizer.encode("Hi<|im_end|>", addBOS: false, parseSpecial: true)
        #expect(ids.map { decoder.append($0) }.joined() + decoder.flush() == "Hi")
    }
}
