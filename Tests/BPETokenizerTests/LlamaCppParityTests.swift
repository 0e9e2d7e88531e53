import BPETokenizer
import Testing

/// Our ids against llama.cpp's for every fixture text (the fixture is the independent reference).
@Suite(.enabled(if: SmolLM2Model.isAvailable, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf"))
struct LlamaCppParityTests {
    let fixture: ReferenceFixture

    init() throws {
        fixture = try ReferenceFixture.load()
    }

    @Test func fixtureCoversTheBriefedTexts() {
        let names = Set(fixture.cases.map(\.name))
        for required in ["prose", "python", "swift", "digits", "whitespace", "non-ascii", "contractions",
                         "special-parsed", "special-as-text", "long-passage"] {
            #expect(names.contains(required), "fixture lacks \(required)")
        }
        let long = fixture.cases.first { $0.name == "long-passage" }
        #expect((long?.ids.count ?? 0) >= 2000)
    }

    @Test func smolLM2TokenizationMatchesLlamaCpp() throws {
        let tokenizer = try SmolLM2Model.tokenizer()
        #expect(tokenizer.preTokenizer.name == fixture.preTokenizer)
        try expectParity(tokenizer, fixture.cases, usesDefaultBOS: true)
    }

    @Test(arguments: ["gpt-2", "llama-bpe", "default"])
    func otherPreTokenizersMatchLlamaCpp(name: String) throws {
        let cases = try #require(fixture.otherPreTokenizers[name])
        try expectParity(SmolLM2Model.tokenizer(preTokenizer: name), cases, usesDefaultBOS: false)
    }

    @Test(arguments: ["smollm", "gpt-2", "llama-bpe", "default"])
    func everyShortStringOverATrickyAlphabetMatchesLlamaCpp(name: String) throws {
        let tokenizer = try name == fixture.preTokenizer
            ? SmolLM2Model.tokenizer() : SmolLM2Model.tokenizer(preTokenizer: name)
        let expected = try #require(fixture.exhaustive.ids[name])
        let texts = fixture.exhaustive.texts
        try #require(texts.count == expected.count)
        var mismatches: [String] = []
        for (text, ids) in zip(texts, expected) where tokenizer.encode(text, addBOS: false) != ids {
            mismatches.append(String(reflecting: text))
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(texts.count) differ, e.g. \(mismatches.prefix(10))")
    }

    @Test func chatTemplateRendersAsJinjaAndTokenizesAsLlamaCpp() throws {
        let tokenizer = try SmolLM2Model.tokenizer()
        for chat in fixture.chat {
            let messages = chat.messages.map { ChatMessage(role: $0.role, content: $0.content) }
            let rendered = try tokenizer.applyChatTemplate(messages: messages, addGenerationPrompt: chat.addGenerationPrompt)
            #expect(rendered == chat.rendered)
            #expect(tokenizer.encode(rendered, addBOS: false, parseSpecial: true) == chat.ids)
            // llama.cpp's built-in ChatML renderer is the same except that it leaves out the
            // template's default system message.
            let defaultSystemBlock =
                "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            let startsWithSystem = chat.messages.first?.role == "system"
            #expect(rendered == (startsWithSystem ? "" : defaultSystemBlock) + chat.llamaCppBuiltin)
        }
    }

    @Test func endOfTurnTokensAreLlamaCppsEndOfGenerationTokens() throws {
        let tokenizer = try SmolLM2Model.tokenizer()
        #expect(tokenizer.endOfTurnIDs == Set(fixture.endOfGenerationIDs))
        #expect(tokenizer.endOfTurnIDs.contains(tokenizer.eosID))
    }

    @Test func decodingMatchesLlamaCppDetokenize() throws {
        let tokenizer = try SmolLM2Model.tokenizer()
        for decoded in fixture.decoded {
            #expect(tokenizer.bytes(of: decoded.ids, renderSpecial: decoded.renderSpecial) == decoded.bytes,
                    "ids \(decoded.ids.prefix(8))… renderSpecial \(decoded.renderSpecial)")
        }
    }

    /// - Parameter usesDefaultBOS: `addBOS` in the fixture means llama.cpp's `add_special`, which
    ///   adds BOS only when the model asks for it: our default.
    private func expectParity(
        _ tokenizer: BPETokenizer, _ cases: [ReferenceFixture.TokenizedText], usesDefaultBOS: Bool
    ) throws {
        var mismatches = 0
        for fixtureCase in cases {
            let ids =
                fixtureCase.addBOS && usesDefaultBOS
                ? tokenizer.encode(fixtureCase.text, parseSpecial: fixtureCase.parseSpecial)
                : tokenizer.encode(fixtureCase.text, addBOS: fixtureCase.addBOS, parseSpecial: fixtureCase.parseSpecial)
            if ids != fixtureCase.ids {
                mismatches += 1
                let firstDifference = zip(ids, fixtureCase.ids).enumerated().first { $1.0 != $1.1 }?.offset ?? min(ids.count, fixtureCase.ids.count)
                Issue.record(
                    """
                    \(fixtureCase.name): ids differ from llama.cpp at index \(firstDifference) \
                    (ours \(ids.count) tokens, llama.cpp \(fixtureCase.ids.count)); text: \(String(reflecting: String(fixtureCase.text.prefix(160)))) \
                    ours: \(ids[firstDifference...].prefix(8)) llama.cpp: \(fixtureCase.ids[firstDifference...].prefix(8))
                    """)
            }
        }
        #expect(mismatches == 0, "\(mismatches) of \(cases.count) texts differ from llama.cpp")
    }
}
