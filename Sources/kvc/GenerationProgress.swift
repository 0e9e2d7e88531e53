/// The stderr progress of `kvc generate`, driven by the generator's token callback: during prefill
/// (one generator call per prompt, so not countable from outside) an elapsed-time line with the
/// prompts done; then, for a batch (whose text is not streamed), a decode progress bar.
struct GenerationProgress {
    let prompts: Int
    let promptTokens: Int
    let maxTokens: Int
    private let prefillLine: ActivityLine
    private var prefilled = Set<Int>()
    private var decodedTokens = 0
    private var decodeBar: ProgressLine?

    init(prompts: Int, promptTokens: Int, maxTokens: Int) {
        self.prompts = prompts
        self.promptTokens = promptTokens
        self.maxTokens = maxTokens
        prefillLine = ActivityLine("prefill  \(promptTokens) tokens")
    }

    /// A token of prompt `index` was generated. A prompt's first token arrives right after its prefill
    /// (it comes from the prefill's logits); the others each come from a decode step.
    mutating func tokenArrived(for index: Int) {
        guard prefilled.count == prompts else {
            if prefilled.insert(index).inserted {
                prefillLine.relabel("prefill  \(promptTokens) tokens  (\(prefilled.count)/\(prompts) prompts done)")
                if prefilled.count == prompts { startDecode() }
            }
            return
        }
        decodedTokens += 1
        decodeBar?.update(decodedTokens)
    }

    mutating func finish() {
        prefillLine.stop()
        decodeBar?.finish()
    }

    private mutating func startDecode() {
        prefillLine.stop()
        // The streamed text of a single prompt shows its own progress.
        guard prompts > 1 else { return }
        decodeBar = ProgressLine(label: "decode", total: prompts * (maxTokens - 1), unit: "tokens", minimumTotal: 1)
    }
}
