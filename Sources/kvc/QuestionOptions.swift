import ArgumentParser
import BPETokenizer

/// `--question` / `--question-file` and `--query-agnostic`: a question asked about the prompt (the
/// document), placed either way. Aware (default): the model reads the document and the question as one
/// prompt, DOC+Q, and compression after the prefill sees the question (the observation window is its
/// last tokens). Agnostic: the document alone is prefilled and compressed, then the question is
/// prefilled through the compressed cache, unseen by the metric — how a cached document is served
/// (and kvpress's default evaluation).
struct QuestionOptions: ParsableArguments {
    @Option(help: "Question asked after the prompt (appended to it as is: start it with a newline if it needs one).")
    var question: String?

    @Option(help: "File whose whole content is the question.", completion: .file())
    var questionFile: String?

    @Flag(help: "Compress the prompt before the question is read: prefill the question through the compressed cache.")
    var queryAgnostic = false

    func validate() throws {
        if question != nil, questionFile != nil { throw ValidationError("give --question or --question-file, not both") }
        if queryAgnostic, question == nil, questionFile == nil {
            throw ValidationError("--query-agnostic needs a question (--question or --question-file)")
        }
    }

    /// The question text, or nil when none was given; an empty question is an error naming its source.
    func text() throws(InputError) -> String? {
        if let question {
            guard !question.isEmpty else { throw .emptyQuestion(source: "--question") }
            return question
        }
        guard let questionFile else { return nil }
        let text = try InputFile.readText(questionFile)
        guard !text.isEmpty else { throw .emptyQuestion(source: questionFile) }
        return text
    }

    var source: String { questionFile ?? "--question" }

    /// The token ids of the document and the question as the placement reads them: aware, DOC+Q encoded
    /// as one prompt (exactly the plain prompt) and no separate question; agnostic, the document as a
    /// prompt and the question as its continuation (no BOS).
    func placement(document: String, question: String, tokenizer: any TextTokenizer) -> (prompt: [Int32], question: [Int32]) {
        queryAgnostic
            ? (tokenizer.encodePrompt(document), tokenizer.encodeContinuation(question))
            : (tokenizer.encodePrompt(document + question), [])
    }
}
