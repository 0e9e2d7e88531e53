/// SentencePiece tokenizer (GGUF `tokenizer.ggml.model = "llama"`, Gemma's and Llama-2's) that
/// reproduces llama.cpp's tokenization token for token.
///
/// Encoding follows src/llama-vocab.cpp of llama.cpp (`llm_tokenizer_spm_session` and the SPM case
/// of `llama_vocab::impl::tokenize`):
/// 1. special tokens are cut out of the text first (`SpecialTokenMatcher`, as for BPE: user-defined
///    ones always, control ones only when special tokens are parsed);
/// 2. in each remaining fragment every space becomes U+2581 "▁" (`llama_escape_whitespace`), after a
///    leading space when the model asks for one (`add_space_prefix`, and only at the start or
///    after a special token);
/// 3. the fragment starts as one symbol per UTF-8 character; repeatedly, the adjacent pair whose
///    concatenation is the vocabulary token of highest score is merged (ties: leftmost pair);
/// 4. a final symbol that is no token is written as its bytes' `<0xXX>` tokens (byte fallback), or
///    as the unknown token when the vocabulary has no byte tokens.
/// Decoding maps ids back to bytes, "▁" back to a space.
public final class SentencePieceTokenizer: Sendable {
    public var vocabularySize: Int { tokenTexts.count }
    public let bosID: Int32?
    public let eosID: Int32
    public let unknownID: Int32?
    public let paddingID: Int32?
    public let endOfTurnIDs: Set<Int32>
    public let addsBOSByDefault: Bool
    /// Whether `encode` appends EOS together with BOS (`tokenizer.ggml.add_eos_token`).
    public let addsEOSByDefault: Bool
    /// Whether a fragment at the start or after a special token gets a leading space
    /// (`tokenizer.ggml.add_space_prefix`; llama.cpp's default for SPM is true, Gemma 3 says false).
    public let addsSpacePrefix: Bool
    /// The model's chat template text, when it has one.
    public let chatTemplateText: String?

    private let tokenTexts: [String]
    private let tokenKinds: [TokenKind]
    private let scores: [Float]
    /// Token text (UTF-8 bytes) → id; a text listed twice maps to its last id, as llama.cpp's
    /// `token_to_id` does.
    private let tokenIDs: [[UInt8]: Int32]
    /// The `<0xXX>` token of every byte, when the vocabulary has it.
    private let byteTokens: [Int32?]
    private let decodedBytes: [[UInt8]]
    private let specialTokens: SpecialTokenMatcher

    /// "▁" (U+2581), SentencePiece's visible space.
    static let visibleSpace: [UInt8] = [0xE2, 0x96, 0x81]

    /// Builds a tokenizer from vocabulary arrays (the GGUF `tokenizer.ggml.*` values).
    /// - Parameters:
    ///   - tokens: token texts by id ("▁the", "<0x0A>", "<start_of_turn>").
    ///   - scores: merge priority of every token (higher merges first).
    ///   - tokenTypes: `TokenKind` raw values by id; empty means all normal.
    /// - Throws: `BPETokenizerError` naming the invalid input.
    public init(
        tokens: [String], scores: [Float], tokenTypes: [Int], bos: Int32?, eos: Int32, chatTemplate: String?,
        addBOS: Bool, addEOS: Bool = false, addSpacePrefix: Bool = true, endOfTurn: Int32? = nil,
        unknown: Int32? = nil, padding: Int32? = nil
    ) throws(BPETokenizerError) {
        guard !tokens.isEmpty else { throw .invalidMetadata(key: BPETokenizer.MetadataKey.tokens, reason: "the vocabulary is empty") }
        guard scores.count == tokens.count else {
            throw .invalidMetadata(key: BPETokenizer.MetadataKey.scores, reason: "\(scores.count) scores for \(tokens.count) tokens")
        }
        guard tokenTypes.isEmpty || tokenTypes.count >= tokens.count else {
            throw .invalidMetadata(key: BPETokenizer.MetadataKey.tokenTypes, reason: "\(tokenTypes.count) types for \(tokens.count) tokens")
        }
        for (key, id) in [(BPETokenizer.MetadataKey.bos, bos), (BPETokenizer.MetadataKey.eos, eos), (BPETokenizer.MetadataKey.endOfTurn, endOfTurn),
                          (BPETokenizer.MetadataKey.unknown, unknown), (BPETokenizer.MetadataKey.padding, padding)] {
            if let id, id < 0 || Int(id) >= tokens.count {
                throw .invalidMetadata(key: key, reason: "id \(id) is outside the vocabulary of \(tokens.count) tokens")
            }
        }
        if addBOS && bos == nil {
            throw .invalidMetadata(key: BPETokenizer.MetadataKey.addBOS, reason: "true, but the model has no BOS token")
        }
        var tokenIDs: [[UInt8]: Int32] = [:]
        tokenIDs.reserveCapacity(tokens.count)
        for (id, text) in tokens.enumerated() { tokenIDs[Array(text.utf8)] = Int32(id) }
        var kinds = tokens.indices.map { tokenTypes.isEmpty ? TokenKind.normal : TokenKind(rawValue: tokenTypes[$0]) ?? .undefined }
        var endOfTurnIDs: Set<Int32> = [eos]
        if let endOfTurn { endOfTurnIDs.insert(endOfTurn) }
        for text in BPETokenizer.endOfGenerationTexts {
            if let id = tokenIDs[Array(text.utf8)] { endOfTurnIDs.insert(id) }
        }
        for id in endOfTurnIDs where kinds[Int(id)] != .control { kinds[Int(id)] = .control }

        self.tokenTexts = tokens
        self.tokenKinds = kinds
        self.scores = scores
        self.tokenIDs = tokenIDs
        self.bosID = bos
        self.eosID = eos
        self.unknownID = unknown
        self.paddingID = padding
        self.endOfTurnIDs = endOfTurnIDs
        self.addsBOSByDefault = addBOS
        self.addsEOSByDefault = addEOS
        self.addsSpacePrefix = addSpacePrefix
        self.chatTemplateText = chatTemplate
        // llama.cpp's byte_to_token: "<0xXX>" (upper-case hex), else the byte as a one-byte text.
        self.byteTokens = (0..<256).map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return tokenIDs[Array("<0x\(hex.count == 1 ? "0" + hex : hex)>".utf8)] ?? tokenIDs[[UInt8(byte)]]
        }
        self.decodedBytes = zip(tokens, kinds).map { Self.decodedBytes(text: $0, kind: $1) }
        self.specialTokens = SpecialTokenMatcher(tokens: tokens.indices.map { (Array(tokens[$0].utf8), Int32($0), kinds[$0]) })
    }

    /// The bytes a token stands for (llama.cpp's `token_to_piece` with `special = true`).
    private static func decodedBytes(text: String, kind: TokenKind) -> [UInt8] {
        switch kind {
        case .normal:
            // "▁" stands for a space (llama_unescape_whitespace).
            var bytes: [UInt8] = []
            let utf8 = Array(text.utf8)
            var i = 0
            while i < utf8.count {
                if i + 2 < utf8.count, utf8[i] == 0xE2, utf8[i + 1] == 0x96, utf8[i + 2] == 0x81 {
                    bytes.append(0x20)
                    i += 3
                } else {
                    bytes.append(utf8[i])
                    i += 1
                }
            }
            return bytes
        case .control, .unknown, .userDefined:
            return Array(text.utf8)
        case .byte:
            // "<0xAB>"
            return UInt8(text.dropFirst(3).prefix(2), radix: 16).map { [$0] } ?? []
        case .unused, .undefined:
            return []
        }
    }

    // MARK: - Encoding

    /// Token ids of `text`.
    /// - Parameters:
    ///   - addBOS: prepend BOS (when the model has one), and append EOS when the model asks for it.
    ///   - parseSpecial: match control tokens such as `<start_of_turn>` in the text as whole tokens.
    public func encode(_ text: String, addBOS: Bool, parseSpecial: Bool = false) -> [Int32] {
        var output: [Int32] = []
        output.reserveCapacity(text.utf8.count / 3 + 2)
        if addBOS, let bosID { output.append(bosID) }
        let bytes = Array(text.utf8)
        var previousIsSpecial = true
        for fragment in specialTokens.fragments(of: bytes, parseSpecial: parseSpecial) {
            switch fragment {
            case .token(let id):
                output.append(id)
                previousIsSpecial = true
            case .text(let range):
                var escaped: [UInt8] = []
                escaped.reserveCapacity(range.count + 8)
                if addsSpacePrefix && previousIsSpecial { escaped.append(contentsOf: Self.visibleSpace) }
                for byte in bytes[range] {
                    if byte == 0x20 { escaped.append(contentsOf: Self.visibleSpace) } else { escaped.append(byte) }
                }
                encodeFragment(escaped, into: &output)
                previousIsSpecial = false
            }
        }
        if addBOS && addsEOSByDefault { output.append(eosID) }
        return output
    }

    /// Token ids of `text`, adding BOS as the model's metadata asks.
    public func encode(_ text: String, parseSpecial: Bool = false) -> [Int32] {
        encode(text, addBOS: addsBOSByDefault, parseSpecial: parseSpecial)
    }

    /// A symbol of the merge: a byte range of the fragment, linked to its neighbours.
    private struct Symbol {
        var start: Int
        var length: Int
        var previous: Int
        var next: Int
    }

    /// A candidate merge of symbols `left` and `left`'s successor `right`.
    private struct Bigram {
        let left: Int
        let right: Int
        let score: Float
        /// Bytes of the merged text: a stale entry (a symbol changed since) no longer matches.
        let length: Int

        /// Pops first: higher score, then the leftmost pair (llama.cpp's `llm_bigram_spm::comparator`).
        func precedes(_ other: Bigram) -> Bool { score > other.score || (score == other.score && left < other.left) }
    }

    /// The highest-score merges of one escaped fragment (`llm_tokenizer_spm_session::tokenize`).
    private func encodeFragment(_ text: [UInt8], into output: inout [Int32]) {
        guard !text.isEmpty else { return }
        var symbols: [Symbol] = []
        symbols.reserveCapacity(text.count)
        var offset = 0
        while offset < text.count {
            let lead = text[offset]
            let length = min(lead < 0x80 ? 1 : lead < 0xE0 ? (lead < 0xC0 ? 1 : 2) : lead < 0xF0 ? 3 : 4, text.count - offset)
            symbols.append(Symbol(start: offset, length: length, previous: symbols.count - 1, next: symbols.count + 1))
            offset += length
        }
        symbols[symbols.count - 1].next = -1

        var queue = BigramQueue()
        text.withUnsafeBufferPointer { bytes in
            func tryAdd(_ left: Int, _ right: Int) {
                guard left >= 0, right >= 0 else { return }
                let start = symbols[left].start, length = symbols[left].length + symbols[right].length
                guard let id = tokenIDs[Array(bytes[start..<start + length])] else { return }
                queue.push(Bigram(left: left, right: right, score: scores[Int(id)], length: length))
            }
            for i in 1..<symbols.count { tryAdd(i - 1, i) }
            while let bigram = queue.pop() {
                let left = symbols[bigram.left], right = symbols[bigram.right]
                // Skip pairs one of whose symbols has merged since.
                guard left.length > 0, right.length > 0, left.length + right.length == bigram.length, left.next == bigram.right
                else { continue }
                symbols[bigram.left].length += right.length
                symbols[bigram.right].length = 0
                symbols[bigram.left].next = right.next
                if right.next >= 0 { symbols[right.next].previous = bigram.left }
                tryAdd(symbols[bigram.left].previous, bigram.left)
                tryAdd(bigram.left, symbols[bigram.left].next)
            }
            var i = 0
            while i != -1 {
                let symbol = symbols[i]
                let piece = Array(bytes[symbol.start..<symbol.start + symbol.length])
                if let id = tokenIDs[piece] {
                    output.append(id)
                } else {
                    // Byte fallback (llama.cpp's resegment: merged symbols are always tokens, so
                    // only single characters missing from the vocabulary get here).
                    for byte in piece {
                        if let id = byteTokens[Int(byte)] ?? unknownID { output.append(id) }
                    }
                }
                i = symbol.next
            }
        }
    }

    /// A binary max-heap of bigrams by `Bigram.precedes`.
    private struct BigramQueue {
        private var heap: [Bigram] = []

        mutating func push(_ bigram: Bigram) {
            heap.append(bigram)
            var child = heap.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard heap[child].precedes(heap[parent]) else { break }
                heap.swapAt(child, parent)
                child = parent
            }
        }

        mutating func pop() -> Bigram? {
            guard let top = heap.first else { return nil }
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var parent = 0
                while true {
                    let left = 2 * parent + 1, right = left + 1
                    var best = parent
                    if left < heap.count && heap[left].precedes(heap[best]) { best = left }
                    if right < heap.count && heap[right].precedes(heap[best]) { best = right }
                    if best == parent { break }
                    heap.swapAt(parent, best)
                    parent = best
                }
            }
            return top
        }
    }

    // MARK: - Decoding

    /// The raw bytes a token stands for; special tokens give their text, invalid ids nothing.
    public func tokenBytes(_ id: Int32) -> [UInt8] {
        guard id >= 0 && Int(id) < decodedBytes.count else { return [] }
        return decodedBytes[Int(id)]
    }

    /// The stored vocabulary text of a token, or nil for an invalid id.
    public func tokenText(_ id: Int32) -> String? {
        guard id >= 0 && Int(id) < tokenTexts.count else { return nil }
        return tokenTexts[Int(id)]
    }

    /// The id of the token stored as `text`, or nil when there is none.
    public func tokenID(forText text: String) -> Int32? { tokenIDs[Array(text.utf8)] }

    /// The kind of a token, or nil for an invalid id.
    public func tokenKind(_ id: Int32) -> TokenKind? {
        guard id >= 0 && Int(id) < tokenKinds.count else { return nil }
        return tokenKinds[Int(id)]
    }

    /// Text of a token sequence. Invalid UTF-8 becomes U+FFFD.
    /// - Parameter renderSpecial: include the text of control tokens such as `<end_of_turn>`.
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

extension SentencePieceTokenizer: TextTokenizer {}
