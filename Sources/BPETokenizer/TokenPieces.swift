import GGUF

/// The raw bytes and kinds of a vocabulary's tokens: what turns generated ids into text one token
/// at a time (``TextStreamingDecoder``), for every tokenizer kind.
public protocol TokenPieces: TextTokenizer {
    /// The raw bytes a token stands for; special tokens give their text, invalid ids nothing.
    func tokenBytes(_ id: Int32) -> [UInt8]
    /// The kind of a token, or nil for an invalid id.
    func tokenKind(_ id: Int32) -> TokenKind?
}

extension BPETokenizer: TokenPieces {}
extension SentencePieceTokenizer: TokenPieces {}

/// ``StreamingDecoder`` for any tokenizer kind: holds back the bytes of an unfinished UTF-8
/// character and emits text once it is complete. Concatenating every `append` result and the final
/// `flush` gives the whole decoded text.
public struct TextStreamingDecoder {
    public let tokenizer: any TokenPieces
    /// Whether control tokens such as `<end_of_turn>` appear in the text.
    public let renderSpecial: Bool
    private var pending: [UInt8] = []

    public init(tokenizer: any TokenPieces, renderSpecial: Bool = true) {
        self.tokenizer = tokenizer
        self.renderSpecial = renderSpecial
    }

    /// Adds one token; returns the text completed by it (possibly empty).
    public mutating func append(_ id: Int32) -> String {
        if !renderSpecial, let kind = tokenizer.tokenKind(id), kind.needsSpecialFlag { return "" }
        pending.append(contentsOf: tokenizer.tokenBytes(id))
        let complete = StreamingDecoder.lengthOfCompletePrefix(pending)
        guard complete > 0 else { return "" }
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Returns whatever is held back (an unfinished character becomes U+FFFD) and resets.
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }
}

/// The tokenizer a GGUF model file describes (``loadTokenizer(gguf:)``), with its token pieces.
/// - Throws: `BPETokenizerError` naming the missing or invalid key, or the unsupported model.
public func loadTokenPieces(gguf: GGUFFile) throws(BPETokenizerError) -> any TokenPieces {
    // Both kinds loadTokenizer builds conform.
    try loadTokenizer(gguf: gguf) as! any TokenPieces
}
