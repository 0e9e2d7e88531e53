import GGUF

/// The model families this engine runs, keyed by GGUF `general.architecture`: each reads its
/// hyper-parameters (and so its ``ArchitectureTraits``) from the file's metadata. Weights and the
/// forward pass are shared (``LlamaWeights``, ``LlamaModel``), switched by the traits.
public enum ModelFamilies {
    /// Reads a configuration from a GGUF file of the family.
    typealias ConfigurationReader = @Sendable (GGUFFile) throws(LlamaError) -> LlamaConfiguration

    /// `general.architecture` → the family's reader (one file per family: `LlamaModel+GGUF.swift`
    /// for llama, `Gemma3Family.swift` for gemma3).
    static let readers: [String: ConfigurationReader] = [
        "llama": { (file) throws(LlamaError) in try LlamaConfiguration(llamaFile: file) },
        "gemma3": { (file) throws(LlamaError) in try Gemma3Family.configuration(file: file) },
    ]

    /// The architectures with a family, sorted (for messages).
    public static var architectures: [String] { readers.keys.sorted() }
}
