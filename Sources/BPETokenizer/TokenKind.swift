/// The kind of a vocabulary entry, from GGUF `tokenizer.ggml.token_type` (llama.cpp's
/// `llama_token_type`): it decides whether a token is matched as a special token in text and
/// how it is decoded.
public enum TokenKind: Int, Sendable, Hashable {
    case undefined = 0
    case normal = 1
    case unknown = 2
    case control = 3
    case userDefined = 4
    case unused = 5
    case byte = 6

    /// A token found in text as a whole before byte-pair encoding (llama.cpp's special tokens cache).
    var isSpecial: Bool { self == .control || self == .userDefined || self == .unknown }

    /// Control and unknown tokens are only matched in text, and only rendered, on request
    /// (llama.cpp's `parse_special` and `special` flags); user-defined ones always are.
    var needsSpecialFlag: Bool { self == .control || self == .unknown }
}
