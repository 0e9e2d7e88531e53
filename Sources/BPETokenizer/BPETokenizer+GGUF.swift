import GGUF

extension BPETokenizer {
    /// Builds the tokenizer a GGUF model file describes.
    ///
    /// As in llama.cpp: a missing `tokenizer.ggml.pre` means the "default" pre-tokenizer, and a
    /// missing `add_bos_token` means the pre-tokenizer's default (true for the Llama-3 family).
    /// - Throws: `BPETokenizerError` naming the missing or invalid key.
    public convenience init(gguf: GGUFFile) throws(BPETokenizerError) {
        typealias Key = MetadataKey
        let model = try Self.metadata(Key.model) { () throws(GGUFError) in try gguf.string(Key.model) }
        guard model == "gpt2" else { throw .unsupportedTokenizerModel(model) }
        let preTokenizerName =
            gguf.has(Key.preTokenizer)
            ? try Self.metadata(Key.preTokenizer) { () throws(GGUFError) in try gguf.string(Key.preTokenizer) } : "default"
        let preTokenizer = try PreTokenizer(named: preTokenizerName)

        func optionalID(_ key: String) throws(BPETokenizerError) -> Int32? {
            guard gguf.has(key) else { return nil }
            let value = try Self.metadata(key) { () throws(GGUFError) in try gguf.int(key) }
            guard let id = Int32(exactly: value) else {
                throw .invalidMetadata(key: key, reason: "token id \(value) does not fit a token id")
            }
            return id
        }
        func optionalFlag(_ key: String) throws(BPETokenizerError) -> Bool? {
            guard gguf.has(key) else { return nil }
            return try Self.metadata(key) { () throws(GGUFError) in try gguf.bool(key) }
        }

        guard let eos = try optionalID(Key.eos) else { throw .missingMetadata(key: Key.eos) }
        try self.init(
            tokens: Self.metadata(Key.tokens) { () throws(GGUFError) in try gguf.stringArray(Key.tokens) },
            merges: Self.metadata(Key.merges) { () throws(GGUFError) in try gguf.stringArray(Key.merges) },
            tokenTypes: gguf.has(Key.tokenTypes)
                ? Self.metadata(Key.tokenTypes) { () throws(GGUFError) in try gguf.intArray(Key.tokenTypes) } : [],
            bos: optionalID(Key.bos),
            eos: eos,
            preTokenizer: preTokenizerName,
            chatTemplate: gguf.has(Key.chatTemplate)
                ? Self.metadata(Key.chatTemplate) { () throws(GGUFError) in try gguf.string(Key.chatTemplate) } : nil,
            addBOS: optionalFlag(Key.addBOS) ?? preTokenizer.addsBOSByDefault,
            addEOS: optionalFlag(Key.addEOS) ?? false,
            endOfTurn: optionalID(Key.endOfTurn),
            unknown: optionalID(Key.unknown),
            padding: optionalID(Key.padding))
    }

    /// Reads one metadata value, turning a GGUF error into one that names the tokenizer key.
    static func metadata<Value>(
        _ key: String, _ read: () throws(GGUFError) -> Value
    ) throws(BPETokenizerError) -> Value {
        do {
            return try read()
        } catch {
            switch error {
            case .missingKey: throw .missingMetadata(key: key)
            case .wrongType: throw .invalidMetadata(key: key, reason: error.description)
            default: throw .metadataUnreadable(key: key, underlying: error.description)
            }
        }
    }
}
