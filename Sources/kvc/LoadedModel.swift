import ArgumentParser
import BPETokenizer
import Foundation
import GGUF
import LlamaInference

/// A model file opened for inference: the GGUF, its tokenizer and the transformer, with the time
/// loading took (reported as "load" in the statistics).
struct LoadedModel {
    let path: String
    let file: GGUFFile
    /// Byte-level BPE or SentencePiece, as the file's `tokenizer.ggml.model` says.
    let tokenizer: any TokenPieces
    let model: LlamaModel
    let loadSeconds: Double

    /// Opens `path` and builds the tokenizer and the model from it.
    static func load(path: String) throws -> LoadedModel {
        let start = Date()
        let file = try GGUFFile(path: path)
        let tokenizer = try loadTokenPieces(gguf: file)
        let model = try LlamaModel(file: file)
        return LoadedModel(path: path, file: file, tokenizer: tokenizer, model: model, loadSeconds: Date().timeIntervalSince(start))
    }

    /// The tokenizer as byte-level BPE, for the parts that still take one (sweeps, whose prompt
    /// builders are written for `BPETokenizer`); a clear error for a SentencePiece model.
    func bpeTokenizer(for purpose: String) throws -> BPETokenizer {
        guard let tokenizer = tokenizer as? BPETokenizer else {
            throw ValidationError("\(purpose) needs a byte-level BPE model for now; \(name) has a SentencePiece tokenizer")
        }
        return tokenizer
    }

    /// The model's display name: `general.name` when the file has one, else the file name.
    var name: String {
        (try? file.string("general.name")) ?? URL(fileURLWithPath: path).lastPathComponent
    }
}
