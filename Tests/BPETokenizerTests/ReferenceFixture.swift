import Foundation

/// Token ids produced by llama.cpp for the texts in `Fixtures/smollm2_tokens.json`
/// (written by scripts/reference/make_token_fixtures.py).
struct ReferenceFixture: Decodable, Sendable {
    struct TokenizedText: Decodable, Sendable {
        let name: String
        let text: String
        let addBOS: Bool
        let parseSpecial: Bool
        let ids: [Int32]
    }

    struct RenderedChat: Decodable, Sendable {
        struct Message: Decodable, Sendable {
            let role: String
            let content: String
        }
        let messages: [Message]
        let addGenerationPrompt: Bool
        /// Rendered by jinja2 from the GGUF template (as Hugging Face does).
        let rendered: String
        /// Rendered by llama.cpp's `llama_chat_apply_template` (family formats, no Jinja).
        let llamaCppBuiltin: String
        let ids: [Int32]
    }

    /// File name of the model the ids come from.
    let model: String
    /// The llama.cpp build that produced them.
    let reference: String
    /// The model's own pre-tokenizer.
    let preTokenizer: String
    let cases: [TokenizedText]
    /// The same texts tokenized by llama.cpp with the vocabulary under other pre-tokenizers.
    let otherPreTokenizers: [String: [TokenizedText]]
    let chat: [RenderedChat]
    /// Every string of up to `maxLength` characters over `alphabet`, tokenized under each
    /// pre-tokenizer (`ids[name][i]` belongs to `texts[i]`).
    let exhaustive: Exhaustive
    /// Ids for which llama.cpp's `llama_vocab_is_eog` is true.
    let endOfGenerationIDs: [Int32]
    /// llama.cpp's `detokenize` of id sequences (real texts and random ids), as raw bytes.
    let decoded: [DecodedIDs]

    struct Exhaustive: Decodable, Sendable {
        let alphabet: [String]
        let maxLength: Int
        let ids: [String: [[Int32]]]

        /// The strings in the script's order: by length, then as `itertools.product`.
        var texts: [String] {
            var texts: [String] = []
            var previous: [String] = [""]
            for _ in 1...maxLength {
                previous = previous.flatMap { prefix in alphabet.map { prefix + $0 } }
                texts += previous
            }
            return texts
        }
    }

    struct DecodedIDs: Decodable, Sendable {
        let ids: [Int32]
        let renderSpecial: Bool
        let bytes: [UInt8]
    }

    static func load() throws -> ReferenceFixture {
        guard let url = Bundle.module.url(forResource: "smollm2_tokens", withExtension: "json", subdirectory: "Fixtures")
        else { throw FixtureMissing(name: "Fixtures/smollm2_tokens.json") }
        return try JSONDecoder().decode(ReferenceFixture.self, from: Data(contentsOf: url))
    }
}

struct FixtureMissing: Error, CustomStringConvertible {
    let name: String
    var description: String { "test resource \(name) is missing from the bundle" }
}
