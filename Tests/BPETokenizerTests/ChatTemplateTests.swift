import BPETokenizer
import Testing

/// Template recognition and rendering (llama.cpp's `llm_chat_detect_template` and
/// `llm_chat_apply_template`, src/llama-chat.cpp). SmolLM2's own template is checked against a
/// Jinja rendering in `LlamaCppParityTests`.
struct ChatTemplateTests {
    static let conversation = [
        ChatMessage(role: "system", content: "Be brief."),
        ChatMessage(role: "user", content: "Hi"),
        ChatMessage(role: "assistant", content: "Hello!"),
        ChatMessage(role: "user", content: "Bye"),
    ]

    // Templates as published with the models (Hugging Face tokenizer_config.json).
    static let qwen2 =
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    static let plainChatML =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    static let llama3 =
        "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
    static let llama2 =
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
    static let zephyr =
        "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}<|endoftext|>"

    @Test func chatMLWithADefaultSystemMessageInsertsItOnlyWhenNoneIsGiven() throws {
        let template = try ChatTemplate(recognizing: Self.qwen2)
        #expect(template == .chatML(defaultSystemMessage: "You are a helpful assistant."))
        let withoutSystem = try template.render(Array(Self.conversation.dropFirst()), addGenerationPrompt: true)
        #expect(withoutSystem == """
            <|im_start|>system
            You are a helpful assistant.<|im_end|>
            <|im_start|>user
            Hi<|im_end|>
            <|im_start|>assistant
            Hello!<|im_end|>
            <|im_start|>user
            Bye<|im_end|>
            <|im_start|>assistant

            """)
        let withSystem = try template.render(Self.conversation, addGenerationPrompt: false)
        #expect(withSystem.hasPrefix("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi"))
        #expect(!withSystem.contains("helpful"))
        #expect(withSystem.hasSuffix("Bye<|im_end|>\n"))
    }

    @Test func theDefaultSystemMessageIsTheFirstPlainSystemLiteral() throws {
        // A tools branch that splices content comes first; the fixed default comes in the else branch.
        let template = """
            {%- if tools %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\
            {%- elif messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\
            {%- else %}{{- '<|im_start|>system\\nYou are Qwen, a helpful assistant.<|im_end|>\\n' }}{%- endif %}\
            {%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endfor %}
            """
        #expect(try ChatTemplate(recognizing: template) == .chatML(defaultSystemMessage: "You are Qwen, a helpful assistant."))
    }

    @Test func plainChatMLHasNoDefaultSystemMessage() throws {
        let template = try ChatTemplate(recognizing: Self.plainChatML)
        #expect(template == .chatML(defaultSystemMessage: nil))
        #expect(try template.render([ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
                == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test func llama3TrimsContentAndOpensAnAssistantHeader() throws {
        let template = try ChatTemplate(recognizing: Self.llama3)
        #expect(template == .llama3)
        let text = try template.render([ChatMessage(role: "user", content: "  Hi \n")], addGenerationPrompt: true)
        #expect(text == "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    }

    @Test func llama2PutsTheSystemMessageInsideTheFirstInstruction() throws {
        let template = try ChatTemplate(recognizing: Self.llama2)
        #expect(template == .llama2(systemBlock: true, bosInsideHistory: true, stripsMessages: true))
        let text = try template.render(Self.conversation, addGenerationPrompt: true)
        #expect(text == "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]Hello!</s><s>[INST] Bye [/INST]")
        #expect(throws: BPETokenizerError.invalidChatRole(role: "tool", template: "Llama-2")) {
            try template.render([ChatMessage(role: "tool", content: "x")], addGenerationPrompt: true)
        }
    }

    @Test func zephyrEndsTurnsWithEndOfText() throws {
        let template = try ChatTemplate(recognizing: Self.zephyr)
        #expect(template == .zephyr)
        let text = try template.render([ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
        #expect(text == "<|user|>\nHi<|endoftext|>\n<|assistant|>\n")
    }

    /// Gemma 3's published template (abridged to what recognition reads): `<start_of_turn>` turns, the
    /// assistant called `model`, a system message folded into the first user turn (llama.cpp's
    /// LLM_CHAT_TEMPLATE_GEMMA).
    static let gemma =
        "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}{%- endif -%}{%- for message in messages -%}{%- if (message['role'] == 'assistant') -%}{%- set role = \"model\" -%}{%- else -%}{%- set role = message['role'] -%}{%- endif -%}{{ '<start_of_turn>' + role + '\n' }}{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}{%- endfor -%}{%- if add_generation_prompt -%}{{'<start_of_turn>model\n'}}{%- endif -%}"

    @Test func gemmaFoldsTheSystemMessageIntoTheFirstUserTurn() throws {
        let template = try ChatTemplate(recognizing: Self.gemma)
        #expect(template == .gemma)
        let text = try template.render(Self.conversation, addGenerationPrompt: true)
        #expect(text == """
            <start_of_turn>user
            Be brief.

            Hi<end_of_turn>
            <start_of_turn>model
            Hello!<end_of_turn>
            <start_of_turn>user
            Bye<end_of_turn>
            <start_of_turn>model

            """)
        #expect(try template.render([ChatMessage(role: "user", content: " Hi\n")], addGenerationPrompt: false) == "<start_of_turn>user\nHi<end_of_turn>\n")
    }

    /// What follows a user message up to the assistant's reply, per family (KVzip's chat repeat turn).
    @Test(arguments: [
        (ChatTemplate.chatML(defaultSystemMessage: "You are helpful."), "<|im_end|>\n<|im_start|>assistant\n"),
        (.chatML(defaultSystemMessage: nil), "<|im_end|>\n<|im_start|>assistant\n"),
        (.gemma, "<end_of_turn>\n<start_of_turn>model\n"),
        (.llama3, "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
        (.llama2(systemBlock: true, bosInsideHistory: true, stripsMessages: true), " [/INST]"),
        (.zephyr, "<|endoftext|>\n<|assistant|>\n"),
    ])
    func userTurnClosing(template: ChatTemplate, closing: String) throws {
        #expect(try template.userTurnClosing() == closing)
    }

    @Test func unknownTemplatesAreRefusedWithAnExcerpt() {
        let template = "{% for m in messages %}### {{ m.role }}: {{ m.content }}{% endfor %}"
        #expect(throws: BPETokenizerError.unrecognizedChatTemplate(excerpt: template)) {
            try ChatTemplate(recognizing: template)
        }
        #expect(BPETokenizerError.unrecognizedChatTemplate(excerpt: template).description.contains("### {{ m.role }}"))
    }

    @Test func aTokenizerWithoutTemplateSaysSo() throws {
        let tokenizer = try TinyVocabulary().tokenizer(chatTemplate: nil)
        #expect(throws: BPETokenizerError.missingChatTemplate) {
            try tokenizer.applyChatTemplate(messages: [ChatMessage(role: "user", content: "Hi")])
        }
    }
}
