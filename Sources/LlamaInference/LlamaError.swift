import PagedKVCache

/// Failures of loading or running a Llama model, each naming its cause.
public enum LlamaError: Error, Equatable, CustomStringConvertible {
    /// `general.architecture` is not one this implementation runs.
    case unsupportedArchitecture(String)
    /// Hyper-parameters that cannot describe a Llama model.
    case invalidConfiguration(String)
    /// A required metadata key is absent or has the wrong type.
    case missingMetadata(String)
    /// A required tensor is absent from the file.
    case missingTensor(String)
    /// A tensor has the wrong shape: name, expected and found dimensions (ggml order, `ne0` first).
    case tensorShapeMismatch(name: String, expected: [Int], found: [Int])
    /// The model file could not be read.
    case unreadableModel(String)
    /// A prompt or decode step would pass the context window.
    case contextOverflow(tokens: Int, contextLength: Int)
    /// A token id outside the vocabulary.
    case tokenOutOfRange(token: Int32, vocabularySize: Int)
    /// An empty prompt or batch.
    case emptyInput(String)
    /// A cache whose layout does not match the model.
    case cacheMismatch(String)
    /// A sequence id unknown to the cache, or used twice in one batch.
    case invalidSequence(String)
    /// The paged cache refused (out of blocks, …).
    case cache(KVCacheError)
    /// Invalid sampling or generation parameters.
    case invalidParameter(String)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let a):
            "unsupported model architecture '\(a)'; accepted: \(LlamaConfiguration.acceptedArchitectures.sorted().joined(separator: ", "))"
        case .invalidConfiguration(let why): "invalid model configuration: \(why)"
        case .missingMetadata(let key): "model file lacks metadata key '\(key)'"
        case .missingTensor(let name): "model file lacks tensor '\(name)'"
        case let .tensorShapeMismatch(name, expected, found):
            "tensor '\(name)' has shape \(found), expected \(expected) (ggml order: inputs first)"
        case .unreadableModel(let why): "cannot read model: \(why)"
        case let .contextOverflow(tokens, contextLength):
            "\(tokens) tokens exceed the model's context window of \(contextLength)"
        case let .tokenOutOfRange(token, vocabularySize):
            "token id \(token) is outside the vocabulary (0..<\(vocabularySize))"
        case .emptyInput(let what): "empty input: \(what)"
        case .cacheMismatch(let why): "KV cache does not fit the model: \(why)"
        case .invalidSequence(let why): "invalid sequence: \(why)"
        case .cache(let error): error.description
        case .invalidParameter(let why): "invalid parameter: \(why)"
        }
    }
}
