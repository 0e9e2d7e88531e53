@testable import BPETokenizer

/// A small vocabulary built in the test: one token per byte (ids 0–255, in byte order), then
/// merged tokens and special tokens, so encoding can be checked by hand.
struct TinyVocabulary {
    var tokens: [String] = (0..<256).map { String(ByteLevelAlphabet.characterForByte[$0]) }
    var types: [Int] = Array(repeating: TokenKind.normal.rawValue, count: 256)
    var merges: [String] = []

    /// Adds the merge `left right` (rank = order of addition) and its result as a token; returns the id.
    @discardableResult
    mutating func merge(_ left: String, _ right: String) -> Int32 {
        let encodedLeft = ByteLevelAlphabet.encodedText(of: Array(left.utf8))
        let encodedRight = ByteLevelAlphabet.encodedText(of: Array(right.utf8))
        merges.append("\(encodedLeft) \(encodedRight)")
        tokens.append(encodedLeft + encodedRight)
        types.append(TokenKind.normal.rawValue)
        return Int32(tokens.count - 1)
    }

    @discardableResult
    mutating func special(_ text: String, kind: TokenKind = .control) -> Int32 {
        tokens.append(text)
        types.append(kind.rawValue)
        return Int32(tokens.count - 1)
    }

    /// Token id of a single byte.
    static func byte(_ character: Character) -> Int32 { Int32(character.asciiValue!) }

    func tokenizer(preTokenizer: String = "gpt-2", chatTemplate: String? = nil) throws -> BPETokenizer {
        try BPETokenizer(
            tokens: tokens, merges: merges, tokenTypes: types, bos: nil, eos: 0, preTokenizer: preTokenizer,
            chatTemplate: chatTemplate, addBOS: false)
    }
}
