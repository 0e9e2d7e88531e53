/// A chat template family recognised from the Jinja text of `tokenizer.chat_template`, rendered
/// without a Jinja engine.
///
/// Recognition follows llama.cpp's `llm_chat_detect_template` (src/llama-chat.cpp), and the
/// families render as llama.cpp's `llm_chat_apply_template` does, with one addition: a ChatML
/// template that inserts a default system message when the conversation has none (SmolLM2's:
/// `{% if loop.first and messages[0]['role'] != 'system' %}…`) renders that message too, as the
/// Jinja template itself does (and as Hugging Face's `apply_chat_template` does).
public enum ChatTemplate: Sendable, Hashable {
    /// `<|im_start|>role\ncontent<|im_end|>\n`, with an optional default system message.
    case chatML(defaultSystemMessage: String?)
    /// `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>` (content trimmed). Like
    /// llama.cpp, the text does not start with `<|begin_of_text|>`: `encode` adds BOS for Llama 3.
    case llama3
    /// `[INST] … [/INST]` with the variant flags llama.cpp distinguishes.
    case llama2(systemBlock: Bool, bosInsideHistory: Bool, stripsMessages: Bool)
    /// `<|role|>\ncontent<|endoftext|>\n`
    case zephyr
    /// `<start_of_turn>role\ncontent<end_of_turn>\n` (content trimmed), the assistant's role called
    /// `model`; no system role: a system message opens the first user turn (Gemma 1–3).
    case gemma

    /// Recognises the family of a Jinja chat template.
    /// - Throws: `BPETokenizerError.unrecognizedChatTemplate` quoting the start of the template.
    public init(recognizing template: String) throws(BPETokenizerError) {
        if template.contains("<|im_start|>") && !template.contains("<|im_sep|>")
            && !template.contains("<end_of_utterance>")
        {
            self = .chatML(defaultSystemMessage: Self.defaultSystemMessage(inChatML: template))
        } else if template.contains("[INST]") && !template.contains("[SYSTEM_PROMPT]")
            && !template.contains("' [INST] ' + system_message") && !template.contains("[AVAILABLE_TOOLS]")
        {
            self = .llama2(
                systemBlock: template.contains("<<SYS>>"),
                bosInsideHistory: template.contains("bos_token + '[INST]"),
                stripsMessages: template.contains("content.strip()"))
        } else if template.contains("<|user|>") && template.contains("<|endoftext|>")
            && !template.contains("<|assistant|>")
        {
            self = .zephyr
        } else if template.contains("<|user|>") && template.contains("<|assistant|>")
            && template.contains("<|endoftext|>") && !template.contains("<|end|>")
        {
            self = .zephyr
        } else if template.contains("<|start_header_id|>") && template.contains("<|end_header_id|>") {
            self = .llama3
        } else if template.contains("<start_of_turn>") {
            self = .gemma
        } else {
            let excerpt = template.count > 120 ? String(template.prefix(120)) + "…" : template
            throw .unrecognizedChatTemplate(excerpt: excerpt)
        }
    }

    /// The family's name for messages.
    public var name: String {
        switch self {
        case .chatML: "ChatML"
        case .llama3: "Llama-3"
        case .llama2: "Llama-2"
        case .zephyr: "Zephyr"
        case .gemma: "Gemma"
        }
    }

    /// The prompt text for a conversation.
    /// - Parameter addGenerationPrompt: end with the opening of an assistant turn.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws(BPETokenizerError) -> String {
        var text = ""
        switch self {
        case .chatML(let defaultSystemMessage):
            if let defaultSystemMessage, let first = messages.first, first.role != "system" {
                text += "<|im_start|>system\n\(defaultSystemMessage)<|im_end|>\n"
            }
            for message in messages {
                text += "<|im_start|>\(message.role)\n\(message.content)<|im_end|>\n"
            }
            if addGenerationPrompt { text += "<|im_start|>assistant\n" }
        case .llama3:
            for message in messages {
                text += "<|start_header_id|>\(message.role)<|end_header_id|>\n\n"
                text += Self.trimmed(message.content) + "<|eot_id|>"
            }
            if addGenerationPrompt { text += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        case .llama2(let systemBlock, let bosInsideHistory, let stripsMessages):
            // Llama 2 has no generation prompt: a user turn already ends with [/INST].
            var insideTurn = true
            text += "[INST] "
            for message in messages {
                let content = stripsMessages ? Self.trimmed(message.content) : message.content
                if !insideTurn {
                    insideTurn = true
                    text += bosInsideHistory ? "<s>[INST] " : "[INST] "
                }
                switch message.role {
                case "system":
                    text += systemBlock ? "<<SYS>>\n\(content)\n<</SYS>>\n\n" : content + "\n"
                case "user":
                    text += content + " [/INST]"
                case "assistant":
                    text += content + "</s>"
                    insideTurn = false
                default:
                    throw .invalidChatRole(role: message.role, template: name)
                }
            }
        case .zephyr:
            for message in messages {
                text += "<|\(message.role)|>\n\(message.content)<|endoftext|>\n"
            }
            if addGenerationPrompt { text += "<|assistant|>\n" }
        case .gemma:
            // As llama.cpp: system messages are gathered and open the next user turn.
            var system = ""
            for message in messages {
                if message.role == "system" {
                    system += Self.trimmed(message.content)
                    continue
                }
                let role = message.role == "assistant" ? "model" : message.role
                text += "<start_of_turn>\(role)\n"
                if !system.isEmpty && role != "model" {
                    text += system + "\n\n"
                    system = ""
                }
                text += Self.trimmed(message.content) + "<end_of_turn>\n"
            }
            if addGenerationPrompt { text += "<start_of_turn>model\n" }
        }
        return text
    }

    /// The text that follows a user message's content up to where the assistant's reply begins: the
    /// end of the user turn and the opening of the assistant's (ChatML `<|im_end|>\n<|im_start|>assistant\n`,
    /// Gemma `<end_of_turn>\n<start_of_turn>model\n`). For text that turns a plain prompt into a
    /// question answered in the assistant's voice, as KVzip's repeat request is.
    public func userTurnClosing() throws(BPETokenizerError) -> String {
        let marker = "\u{1F}user-content\u{1F}"  // no template trims or contains it
        let rendered = try render([ChatMessage(role: "user", content: marker)], addGenerationPrompt: true)
        guard let range = rendered.range(of: marker, options: .backwards) else { return "" }
        return String(rendered[range.upperBound...])
    }

    /// ASCII whitespace trimmed from both ends (llama.cpp's `trim`, which uses `isspace`).
    private static func trimmed(_ text: String) -> String {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || (0x09...0x0D).contains($0) }
        let bytes = Array(text.utf8)
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }

    /// The system message a ChatML template writes when the conversation does not start with one:
    /// a plain string literal `'<|im_start|>system\n…<|im_end|>'` in a template that tests for the
    /// system role (SmolLM2: `messages[0]['role'] != 'system'`; Qwen: an `else` branch of
    /// `messages[0]['role'] == 'system'`). Blocks that splice in message content are skipped.
    static func defaultSystemMessage(inChatML template: String) -> String? {
        guard template.contains("'system'") || template.contains("\"system\"") else { return nil }
        for opening in ["<|im_start|>system\n", "<|im_start|>system\\n"] {
            var searchFrom = template.startIndex
            while let start = template[searchFrom...].firstRange(of: opening) {
                searchFrom = start.upperBound
                guard let end = template[start.upperBound...].firstRange(of: "<|im_end|>") else { break }
                let literal = template[start.upperBound..<end.lowerBound]
                // Only a plain literal: anything Jinja would evaluate means it is no fixed default.
                if !literal.isEmpty, !literal.contains("{"), !literal.contains("'"), !literal.contains("\"") {
                    return Self.unescapingJinjaLiteral(literal)
                }
            }
        }
        return nil
    }

    private static func unescapingJinjaLiteral(_ literal: Substring) -> String {
        var result = ""
        var escaping = false
        for character in literal {
            if escaping {
                switch character {
                case "n": result.append("\n")
                case "t": result.append("\t")
                default: result.append(character)
                }
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                result.append(character)
            }
        }
        return result
    }
}

extension TextTokenizer {
    /// The model's chat template family (`tokenizer.chat_template`).
    /// - Throws: `BPETokenizerError.missingChatTemplate` or `.unrecognizedChatTemplate`.
    public func chatTemplate() throws(BPETokenizerError) -> ChatTemplate {
        guard let chatTemplateText else { throw .missingChatTemplate }
        return try ChatTemplate(recognizing: chatTemplateText)
    }

    /// Renders a conversation with the model's chat template (`tokenizer.chat_template`).
    /// Encode the result with `parseSpecial: true` so `<|im_start|>` and the like become tokens.
    /// - Throws: `BPETokenizerError.missingChatTemplate` or `.unrecognizedChatTemplate`.
    public func applyChatTemplate(messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> String {
        try chatTemplate().render(messages, addGenerationPrompt: addGenerationPrompt)
    }
}
