/// Turns tokens into text one at a time during generation.
///
/// A token may end in the middle of a UTF-8 character (byte-level BPE splits emoji and CJK
/// characters across tokens), so the decoder holds back the bytes of an unfinished character and
/// emits text only once the character is complete. Concatenating every `append` result and the
/// final `flush` gives exactly `tokenizer.decode(ids)`.
public struct StreamingDecoder {
    public let tokenizer: BPETokenizer
    /// Whether control tokens such as `<|im_end|>` appear in the text.
    public let renderSpecial: Bool
    /// Bytes of a character whose remaining bytes have not arrived yet (at most 3).
    private var pending: [UInt8] = []

    public init(tokenizer: BPETokenizer, renderSpecial: Bool = true) {
        self.tokenizer = tokenizer
        self.renderSpecial = renderSpecial
    }

    /// Adds one token; returns the text completed by it (possibly empty).
    public mutating func append(_ id: Int32) -> String {
        if !renderSpecial, let kind = tokenizer.tokenKind(id), kind.needsSpecialFlag { return "" }
        pending.append(contentsOf: tokenizer.tokenBytes(id))
        let complete = Self.lengthOfCompletePrefix(pending)
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

    /// Length of the longest prefix that does not end inside a UTF-8 character that may still be
    /// completed. Invalid bytes count as complete (they decode to U+FFFD either way).
    static func lengthOfCompletePrefix(_ bytes: [UInt8]) -> Int {
        // Only the last three bytes can belong to an unfinished character.
        var index = bytes.count - 1
        let lowest = max(0, bytes.count - 3)
        while index >= lowest {
            let byte = bytes[index]
            if byte & 0xC0 != 0x80 {  // not a continuation byte: a lead byte or ASCII
                let expected: Int
                switch byte {
                case 0xC2...0xDF: expected = 2
                case 0xE0...0xEF: expected = 3
                case 0xF0...0xF4: expected = 4
                default: expected = 1  // ASCII, or a byte that never starts a valid character
                }
                return bytes.count - index < expected ? index : bytes.count
            }
            index -= 1
        }
        return bytes.count
    }
}
