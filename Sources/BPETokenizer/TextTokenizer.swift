/// What the model families, the evaluation tasks and the command line need of a tokenizer, so that
/// every tokenizer a model family brings (byte-level BPE for Llama, SentencePiece for Gemma) plugs in
/// the same way.
public protocol TextTokenizer: Sendable {
    var vocabularySize: Int { get }
    /// Beginning-of-sequence token, when the vocabulary has one.
    var bosID: Int32? { get }
    var eosID: Int32 { get }
    /// Tokens that end a turn or the text (EOS, `<|im_end|>`, `<end_of_turn>`, ...): generation stops there.
    var endOfTurnIDs: Set<Int32> { get }
    /// Whether `encode` puts BOS first unless told otherwise (GGUF `tokenizer.ggml.add_bos_token`).
    var addsBOSByDefault: Bool { get }
    /// Token ids of `text`; `parseSpecial` turns the text of special tokens into their ids.
    func encode(_ text: String, addBOS: Bool, parseSpecial: Bool) -> [Int32]
    /// The text of `ids`; special tokens are rendered only with `renderSpecial`.
    func decode(_ ids: [Int32], renderSpecial: Bool) -> String
    /// The Jinja chat template of the model (GGUF `tokenizer.chat_template`), if it has one.
    var chatTemplateText: String? { get }
}

extension TextTokenizer {
    /// `text` as the model reads a whole prompt: BOS first when the vocabulary asks for it.
    public func encodePrompt(_ text: String) -> [Int32] { encode(text, addBOS: addsBOSByDefault, parseSpecial: false) }
    /// `text` as a continuation of an earlier prompt: never a BOS.
    public func encodeContinuation(_ text: String) -> [Int32] { encode(text, addBOS: false, parseSpecial: false) }
}

extension BPETokenizer: TextTokenizer {}
