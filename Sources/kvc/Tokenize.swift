import ArgumentParser
import BPETokenizer
import GGUF

/// `kvc tokenize`: the model's token ids for a text, space separated on stdout.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the token ids of a text, space separated.",
        discussion: "Only the tokenizer is loaded, not the weights.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Text to tokenize.")
    var text: String?

    @Option(help: "File whose whole content is tokenized (- for stdin).", completion: .file())
    var textFile: String?

    @Flag(inversion: .prefixedNo, help: "Prepend BOS (default: what the model's tokenizer metadata says).")
    var bos: Bool?

    @Flag(help: "Turn the text of special tokens (e.g. <|im_start|>) into their ids instead of into plain text.")
    var parseSpecial = false

    func validate() throws {
        guard (text == nil) != (textFile == nil) else { throw ValidationError("give exactly one of --text, --text-file") }
    }

    func run() throws {
        let input = try text ?? InputFile.readText(textFile!)
        let file = try GGUFFile(path: modelOptions.resolvedPath())
        let tokenizer = try loadTokenizer(gguf: file)
        let ids = tokenizer.encode(input, addBOS: bos ?? tokenizer.addsBOSByDefault, parseSpecial: parseSpecial)
        Terminal.emit(ids.map(String.init).joined(separator: " ") + "\n")
    }
}
