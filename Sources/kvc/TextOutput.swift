import BPETokenizer
import Foundation

/// Turns generated tokens into stdout text: streamed as produced for one sequence; for a batch,
/// one JSON line per prompt, in prompt order, once all are done (interleaved streams would be
/// unreadable).
struct TextOutput {
    /// One line of batch output.
    struct BatchLine: Codable {
        var index: Int
        var prompt: String
        var text: String
        /// Why the prompt was not served (absent when it was).
        var error: String?
    }

    let tokenizer: any TokenPieces
    let prompts: [String]
    let streaming: Bool
    /// Per prompt; control tokens are not rendered (the stop tokens never reach here anyway).
    private var decoders: [TextStreamingDecoder]
    private var texts: [String]
    private var errors: [Int: String] = [:]

    init(tokenizer: any TokenPieces, prompts: [String], streaming: Bool) {
        self.tokenizer = tokenizer
        self.prompts = prompts
        self.streaming = streaming
        decoders = prompts.map { _ in TextStreamingDecoder(tokenizer: tokenizer, renderSpecial: false) }
        texts = prompts.map { _ in "" }
    }

    mutating func append(_ token: Int32, to prompt: Int) {
        let piece = decoders[prompt].append(token)
        if streaming { Terminal.emit(piece) } else { texts[prompt] += piece }
    }

    /// Marks a prompt of the batch as not served, and why.
    mutating func reject(_ prompt: Int, reason: String) { errors[prompt] = reason }

    /// Emits what is held back: the tail of an unfinished character, and the batch's JSON lines.
    mutating func finish() {
        for prompt in prompts.indices {
            let tail = decoders[prompt].flush()
            if streaming { Terminal.emit(tail) } else { texts[prompt] += tail }
        }
        if streaming {
            if Terminal.stdoutMeetsStderr { Terminal.emit("\n") }
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for prompt in prompts.indices {
            let line = BatchLine(index: prompt, prompt: prompts[prompt], text: texts[prompt], error: errors[prompt])
            // Encoding strings and integers cannot fail.
            Terminal.emit(String(decoding: try! encoder.encode(line), as: UTF8.self) + "\n")
        }
    }
}
