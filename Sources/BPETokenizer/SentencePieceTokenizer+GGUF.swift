import GGUF

extension SentencePieceTokenizer {
    /// Builds the SentencePiece tokenizer a GGUF model file describes (`tokenizer.ggml.model` =
    /// "llama"). As in llama.cpp (src/llama-vocab.cpp, `load`): `add_bos_token` defaults to true
    /// and `add_space_prefix` to true for this tokenizer when the file does not say.
    /// - Throws: `BPETokenizerError` naming the missing or invalid key.
    public convenience init(gguf: GGUFFile) throws(BPETokenizerError) {
        typealias Key = BPETokenizer.MetadataKey
        let model = try BPETokenizer.metadata(Key.model) { () throws(GGUFError) in try gguf.string(Key.model) }
        guard model == "llama" else { throw .unsupportedTokenizerModel(model) }
        func optionalID(_ key: String) throws(BPETokenizerError) -> Int32? {
            guard gguf.has(key) else { return nil }
            let value = try BPETokenizer.metadata(key) { () throws(GGUFError) in try gguf.int(key) }
            guard let id = Int32(exactly: value) else {
                throw .invalidMetadata(key: key, reason: "token id \(value) does not fit a token id")
            }
            return id
        }
        func optionalFlag(_ key: String) throws(BPETokenizerError) -> Bool? {
            guard gguf.has(key) else { return nil }
            return try BPETokenizer.metadata(key) { () throws(GGUFError) in try gguf.bool(key) }
        }
        guard let eos = try optionalID(Key.eos) else { throw .missingMetadata(key: Key.eos) }
        try self.init(
            tokens: BPETokenizer.metadata(Key.tokens) { () throws(GGUFError) in try gguf.stringArray(Key.tokens) },
            scores: BPETokenizer.metadata(Key.scores) { () throws(GGUFError) in try gguf.floatArray(Key.scores) },
            tokenTypes: gguf.has(Key.tokenTypes)
                ? BPETokenizer.metadata(Key.tokenTypes) { () throws(GGUFError) in try gguf.intArray(Key.tokenTypes) } : [],
            bos: optionalID(Key.bos),
            eos: eos,
            chatTemplate: gguf.has(Key.chatTemplate)
                ? BPETokenizer.metadata(Key.chatTemplate) { () throws(GGUFError) in try gguf.string(Key.chatTemplate) } : nil,
            addBOS: optionalFlag(Key.addBOS) ?? true,
            addEOS: optionalFlag(Key.addEOS) ?? false,
            addSpacePrefix: optionalFlag(Key.addSpacePrefix) ?? true,
            endOfTurn: optionalID(Key.endOfTurn),
            unknown: optionalID(Key.unknown),
            padding: optionalID(Key.padding))
    }
}

/// The tokenizer a GGUF model file describes, by `tokenizer.ggml.model`: byte-level BPE ("gpt2",
/// ``BPETokenizer``) or SentencePiece ("llama", ``SentencePieceTokenizer``).
/// - Throws: `BPETokenizerError` naming the missing or invalid key, or the unsupported model.
public func loadTokenizer(gguf: GGUFFile) throws(BPETokenizerError) -> any TextTokenizer {
    let key = BPETokenizer.MetadataKey.model
    let model = try BPETokenizer.metadata(key) { () throws(GGUFError) in try gguf.string(key) }
    switch model {
    case "gpt2": return try BPETokenizer(gguf: gguf)
    case "llama": return try SentencePieceTokenizer(gguf: gguf)
    default: throw .unsupportedTokenizerModel(model)
    }
}
