import BPETokenizer
import Foundation
import GGUF
import LlamaInference

/// A model file opened for inference: the GGUF, its tokenizer and the transformer, with the time
/// loading took (reported as "load" in the statistics).
struct LoadedModel {
    let path: String
    let file: GGUFFile
    let tokenizer: BPETokenizer
    let model: LlamaModel
    let loadSeconds: Double

    /// Opens `path` and builds the tokenizer and the model from it.
    static func load(path: String) throws -> LoadedModel {
        let start = Date()
        let file = try GGUFFile(path: path)
        let tokenizer = try BPETokenizer(gguf: file)
        let model = try LlamaModel(file: file)
        return LoadedModel(path: path, file: file, tokenizer: tokenizer, model: model, loadSeconds: Date().timeIntervalSince(start))
    }

    /// The model's display name: `general.name` when the file has one, else the file name.
    var name: String {
        (try? file.string("general.name")) ?? URL(fileURLWithPath: path).lastPathComponent
    }
}
