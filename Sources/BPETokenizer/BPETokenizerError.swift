/// Everything that can go wrong building a tokenizer or rendering a chat.
public enum BPETokenizerError: Error, Equatable, CustomStringConvertible {
    /// A required GGUF metadata key is absent.
    case missingMetadata(key: String)
    /// A GGUF metadata key holds a value of the wrong type or an impossible value.
    case invalidMetadata(key: String, reason: String)
    /// `tokenizer.ggml.model` names a tokenizer other than byte-level BPE ("gpt2") and
    /// SentencePiece ("llama"), or not the one the caller builds.
    case unsupportedTokenizerModel(String)
    /// `tokenizer.ggml.pre` names a pre-tokenizer this implementation does not know.
    case unknownPreTokenizer(String)
    /// The vocabulary lists the same token text twice.
    case duplicateToken(text: String, firstID: Int, secondID: Int)
    /// The model has no `tokenizer.chat_template`.
    case missingChatTemplate
    /// The chat template is not one of the families this implementation renders.
    case unrecognizedChatTemplate(excerpt: String)
    /// A chat message's role is not valid for the template family.
    case invalidChatRole(role: String, template: String)
    /// Reading the GGUF metadata failed.
    case metadataUnreadable(key: String, underlying: String)

    public var description: String {
        switch self {
        case .missingMetadata(let key):
            return "GGUF metadata key '\(key)' is missing; the tokenizer cannot be built without it"
        case .invalidMetadata(let key, let reason):
            return "GGUF metadata key '\(key)' is invalid: \(reason)"
        case .unsupportedTokenizerModel(let model):
            return "tokenizer.ggml.model is '\(model)'; supported: 'gpt2' (byte-level BPE) and 'llama' (SentencePiece)"
        case .unknownPreTokenizer(let name):
            return "unknown pre-tokenizer '\(name)' (tokenizer.ggml.pre); supported: smollm, gpt-2, llama-bpe, default and their llama.cpp aliases"
        case .duplicateToken(let text, let firstID, let secondID):
            return "duplicate token in vocabulary: '\(text)' has ids \(firstID) and \(secondID)"
        case .missingChatTemplate:
            return "the model has no chat template (tokenizer.chat_template)"
        case .unrecognizedChatTemplate(let excerpt):
            return "unrecognized chat template (supported: ChatML, Llama-3, Llama-2 [INST], Zephyr): \(excerpt)"
        case .invalidChatRole(let role, let template):
            return "role '\(role)' is not supported by the \(template) chat template"
        case .metadataUnreadable(let key, let underlying):
            return "cannot read GGUF metadata key '\(key)': \(underlying)"
        }
    }
}
