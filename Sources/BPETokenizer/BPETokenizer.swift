/// Byte-level BPE tokenizer that reproduces llama.cpp's tokenization token for token.
///
/// Encoding runs in four steps, each following src/llama-vocab.cpp and src/unicode.cpp of
/// llama.cpp: special tokens are cut out of the text (`SpecialTokenMatcher`), each remaining
/// fragment is split into words by the model's pre-tokenizer (`PreTokenizer`), every word's bytes
/// start as one symbol per byte (GPT-2's byte alphabet, `ByteLevelAlphabet`), and adjacent
/// symbols are merged by rank (`MergeTable`). Decoding maps ids back to raw bytes.
public final class BPETokenizer: Sendable {
    /// Number of tokens in the vocabulary; valid ids are `0..<vocabularySize`.
    public var vocabularySize: Int { tokenTexts.count }
    /// Beginning-of-sequence token, when the model has one.
    public let bosID: Int32?
    /// End-of-sequence token.
    public let eosID: Int32
    /// Token standing for unknown text, when the model names one (BPE never produces it).
    public let unknownID: Int32?
    /// Padding token, when the model names one.
    public let paddingID: Int32?
    /// Tokens that end generation: EOS plus end-of-turn tokens such as `<|im_end|>`, found by text
    /// as llama.cpp does (`special_eog_ids`).
    public let endOfTurnIDs: Set<Int32>
    /// Whether `encode` adds BOS unless told otherwise (`tokenizer.ggml.add_bos_token`).
    public let addsBOSByDefault: Bool
    /// Whether the model asks for EOS after a sequence (`tokenizer.ggml.add_eos_token`); `encode`
    /// appends it together with BOS (llama.cpp's `add_special`).
    public let addsEOSByDefault: Bool
    /// The pre-tokenizer splitting text into words.
    public let preTokenizer: PreTokenizer
    /// The model's chat template text, when it has one.
    public let chatTemplateText: String?

    /// Stored text of every token, as in the vocabulary (byte-level characters for normal tokens).
    private let tokenTexts: [String]
    private let tokenKinds: [TokenKind]
    /// Raw bytes each token decodes to (llama.cpp's `token_to_piece` with special tokens rendered).
    private let decodedBytes: [[UInt8]]
    /// Stored text → id, for whole-word lookups (pre-tokenizers that ignore merges).
    private let tokenIDs: [String: Int32]
    /// The merges (internal so tests can compare the two merge strategies).
    let merges: MergeTable
    private let specialTokens: SpecialTokenMatcher

    /// Builds a tokenizer from vocabulary arrays (the GGUF `tokenizer.ggml.*` values).
    /// - Parameters:
    ///   - tokens: token texts by id, in byte-level form for normal tokens (`Ġthe`).
    ///   - merges: `"left right"` merges in rank order.
    ///   - tokenTypes: `TokenKind` raw values by id; empty means all normal.
    ///   - bos: BOS id, if any.
    ///   - eos: EOS id.
    ///   - preTokenizer: llama.cpp name of the pre-tokenizer (`tokenizer.ggml.pre`).
    ///   - chatTemplate: the Jinja chat template text, if any.
    ///   - addBOS: whether `encode` adds BOS by default.
    ///   - addEOS: whether `encode` adds EOS when adding special tokens.
    ///   - endOfTurn: an explicit end-of-turn token (`tokenizer.ggml.eot_token_id`), if any.
    ///   - unknown: the unknown token, if any.
    ///   - padding: the padding token, if any.
    /// - Throws: `BPETokenizerError` naming the invalid input.
    public init(
        tokens: [String], merges: [String], tokenTypes: [Int], bos: Int32?, eos: Int32, preTokenizer: String,
        chatTemplate: String?, addBOS: Bool, addEOS: Bool = false, endOfTurn: Int32? = nil,
        unknown: Int32? = nil, padding: Int32? = nil
    ) throws(BPETokenizerError) {
        guard !tokens.isEmpty else {
            throw .invalidMetadata(key: MetadataKey.tokens, reason: "the vocabulary is empty")
        }
        guard tokenTypes.isEmpty || tokenTypes.count >= tokens.count else {
            throw .invalidMetadata(
                key: MetadataKey.tokenTypes,
                reason: "\(tokenTypes.count) types for \(tokens.count) tokens")
        }
        for (key, id) in [(MetadataKey.bos, bos), (MetadataKey.eos, eos), (MetadataKey.endOfTurn, endOfTurn),
                          (MetadataKey.unknown, unknown), (MetadataKey.padding, padding)] {
            if let id, id < 0 || Int(id) >= tokens.count {
                throw .invalidMetadata(key: key, reason: "id \(id) is outside the vocabulary of \(tokens.count) tokens")
            }
        }
        if addBOS && bos == nil {
            throw .invalidMetadata(key: MetadataKey.addBOS, reason: "true, but the model has no BOS token")
        }
        self.preTokenizer = try PreTokenizer(named: preTokenizer)

        var tokenIDs: [String: Int32] = [:]
        tokenIDs.reserveCapacity(tokens.count)
        for (id, text) in tokens.enumerated() {
            if let first = tokenIDs.updateValue(Int32(id), forKey: text) {
                throw .duplicateToken(text: text, firstID: Int(first), secondID: id)
            }
        }
        var kinds = tokens.indices.map { tokenTypes.isEmpty ? TokenKind.normal : TokenKind(rawValue: tokenTypes[$0]) ?? .undefined }
        // llama.cpp treats end-of-generation tokens as control tokens whatever their stored type,
        // so they are matched as special tokens and stop generation.
        var endOfTurnIDs: Set<Int32> = [eos]
        if let endOfTurn { endOfTurnIDs.insert(endOfTurn) }
        for text in Self.endOfGenerationTexts {
            guard let id = tokenIDs[text] else { continue }
            endOfTurnIDs.insert(id)
        }
        for id in endOfTurnIDs where kinds[Int(id)] != .control { kinds[Int(id)] = .control }

        self.tokenTexts = tokens
        self.tokenKinds = kinds
        self.tokenIDs = tokenIDs
        self.bosID = bos
        self.eosID = eos
        self.unknownID = unknown
        self.paddingID = padding
        self.endOfTurnIDs = endOfTurnIDs
        self.addsBOSByDefault = addBOS
        self.addsEOSByDefault = addEOS
        self.chatTemplateText = chatTemplate
        self.decodedBytes = zip(tokens, kinds).map { Self.decodedBytes(text: $0, kind: $1) }
        self.merges = MergeTable(vocabularySize: tokens.count, tokenIDs: tokenIDs, merges: merges)
        self.specialTokens = SpecialTokenMatcher(
            tokens: tokens.indices.map { (Array(tokens[$0].utf8), Int32($0), kinds[$0]) })
    }

    /// Token texts llama.cpp recognises as ending generation (src/llama-vocab.cpp, `special_eog_ids`,
    /// including its fill-in-the-middle pad/repo/separator tokens).
    static let endOfGenerationTexts: [String] = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
        "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
        "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<｜end▁of▁sentence｜>",
        "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
        "<REPO>", "<reponame>", "<|file_sep|>",
    ]

    /// The bytes a token stands for (llama.cpp's `token_to_piece` with `special = true`).
    private static func decodedBytes(text: String, kind: TokenKind) -> [UInt8] {
        switch kind {
        case .control, .unknown, .userDefined:
            return Array(text.utf8)
        case .normal:
            // A character outside the byte alphabet stands for its own UTF-8 bytes.
            var bytes: [UInt8] = []
            for character in text.unicodeScalars {
                if let byte = ByteLevelAlphabet.byte(for: character) {
                    bytes.append(byte)
                } else {
                    bytes.append(contentsOf: Array(String(character).utf8))
                }
            }
            return bytes
        case .byte:
            // "<0xAB>"
            let hex = text.dropFirst(3).prefix(2)
            return UInt8(hex, radix: 16).map { [$0] } ?? []
        case .unused, .undefined:
            return []
        }
    }

    // MARK: - Encoding

    /// Token ids of `text`, adding BOS (and EOS) as the model's metadata asks.
    /// - Parameter parseSpecial: match control tokens such as `<|im_start|>` in the text as whole
    ///   tokens; otherwise they are encoded as plain text.
    public func encode(_ text: String, parseSpecial: Bool = false) -> [Int32] {
        encode(text, addBOS: addsBOSByDefault, parseSpecial: parseSpecial)
    }

    /// Token ids of `text`.
    /// - Parameters:
    ///   - addBOS: prepend BOS (when the model has one), and append EOS when the model asks for it.
    ///   - parseSpecial: match control tokens such as `<|im_start|>` in the text as whole tokens.
    public func encode(_ text: String, addBOS: Bool, parseSpecial: Bool = false) -> [Int32] {
        var output: [Int32] = []
        output.reserveCapacity(text.utf8.count / 3 + 2)
        if addBOS, let bosID { output.append(bosID) }
        let bytes = Array(text.utf8)
        var wordCache: [ArraySlice<UInt8>: Range<Int>] = [:]
        var cachedTokens: [Int32] = []
        for fragment in specialTokens.fragments(of: bytes, parseSpecial: parseSpecial) {
            switch fragment {
            case .token(let id):
                output.append(id)
            case .text(let range):
                encodePlainText(bytes[range], into: &output, wordCache: &wordCache, cachedTokens: &cachedTokens)
            }
        }
        if addBOS && addsEOSByDefault { output.append(eosID) }
        return output
    }

    /// Pre-tokenizes and merges text that contains no special token.
    /// - Parameters:
    ///   - wordCache: word bytes → range of its tokens in `cachedTokens`, shared across fragments.
    private func encodePlainText(
        _ text: ArraySlice<UInt8>, into output: inout [Int32],
        wordCache: inout [ArraySlice<UInt8>: Range<Int>], cachedTokens: inout [Int32]
    ) {
        let (scalars, byteOffsets) = Self.decodeUTF8(text)
        let classes = scalars.map(CharacterClass.init)
        var wordStart = 0
        for wordEnd in preTokenizer.wordEnds(scalars: scalars, classes: classes) {
            let word = text[byteOffsets[wordStart]..<byteOffsets[wordEnd]]
            wordStart = wordEnd
            if word.count == 1 {
                merges.encode(word: word, into: &output)
                continue
            }
            if preTokenizer.ignoresMerges, let id = tokenIDs[ByteLevelAlphabet.encodedText(of: word)] {
                output.append(id)
                continue
            }
            if let cached = wordCache[word] {
                output.append(contentsOf: cachedTokens[cached])
                continue
            }
            let start = cachedTokens.count
            merges.encode(word: word, into: &cachedTokens)
            wordCache[word] = start..<cachedTokens.count
            output.append(contentsOf: cachedTokens[start...])
        }
    }

    /// Scalar values of valid UTF-8, with the byte offset (from the slice start index) of each
    /// scalar and of the end: `byteOffsets.count == scalars.count + 1`.
    private static func decodeUTF8(_ bytes: ArraySlice<UInt8>) -> (scalars: [UInt32], byteOffsets: [Int]) {
        var scalars: [UInt32] = []
        var offsets: [Int] = []
        scalars.reserveCapacity(bytes.count)
        offsets.reserveCapacity(bytes.count + 1)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            offsets.append(index)
            let lead = bytes[index]
            let length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
            var value = length == 1 ? UInt32(lead) : UInt32(lead) & (0xFF >> (length + 1))
            for continuation in 1..<max(length, 1) where index + continuation < bytes.endIndex {
                value = value << 6 | UInt32(bytes[index + continuation] & 0x3F)
            }
            scalars.append(value)
            index += length
        }
        offsets.append(bytes.endIndex)
        return (scalars, offsets)
    }

    /// Whether a byte has a single-byte token. When every byte of a text has one,
    /// `decode(encode(text)) == text`; a byte without one is dropped, as llama.cpp drops it.
    public func hasToken(forByte byte: UInt8) -> Bool {
        merges.hasToken(forByte: byte)
    }

    // MARK: - Decoding

    /// The raw bytes a token stands for; special tokens give their text, invalid ids nothing.
    public func tokenBytes(_ id: Int32) -> [UInt8] {
        guard id >= 0 && Int(id) < decodedBytes.count else { return [] }
        return decodedBytes[Int(id)]
    }

    /// The stored vocabulary text of a token (byte-level characters for normal tokens), or nil for an invalid id.
    public func tokenText(_ id: Int32) -> String? {
        guard id >= 0 && Int(id) < tokenTexts.count else { return nil }
        return tokenTexts[Int(id)]
    }

    /// The id of the token stored as `text` (for special tokens, their text such as `<|im_end|>`;
    /// for normal tokens, the byte-level form such as `Ġthe`), or nil when there is none.
    public func tokenID(forText text: String) -> Int32? {
        tokenIDs[text]
    }

    /// The kind of a token, or nil for an invalid id.
    public func tokenKind(_ id: Int32) -> TokenKind? {
        guard id >= 0 && Int(id) < tokenKinds.count else { return nil }
        return tokenKinds[Int(id)]
    }

    /// Text of a token sequence. Invalid UTF-8 (a sequence cut inside a character) becomes U+FFFD.
    /// - Parameter renderSpecial: include the text of control tokens such as `<|im_end|>`.
    public func decode(_ ids: [Int32], renderSpecial: Bool = true) -> String {
        String(decoding: bytes(of: ids, renderSpecial: renderSpecial), as: UTF8.self)
    }

    /// Concatenated raw bytes of a token sequence.
    public func bytes(of ids: [Int32], renderSpecial: Bool = true) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids {
            if !renderSpecial, let kind = tokenKind(id), kind.needsSpecialFlag { continue }
            bytes.append(contentsOf: tokenBytes(id))
        }
        return bytes
    }
}
