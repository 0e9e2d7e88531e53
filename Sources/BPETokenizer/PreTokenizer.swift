/// Splits text into the "words" that byte-pair merges are applied to, exactly as llama.cpp does.
///
/// llama.cpp describes each pre-tokenizer as a list of regexes applied one after the other
/// (src/llama-vocab.cpp, `llm_tokenizer_bpe`): each regex splits every piece left by the previous
/// one, and the text between its matches stays as pieces of its own
/// (src/unicode.cpp, `unicode_regex_split`). The GPT-2 and Llama-3 regexes run through
/// hand-written scanners there (`unicode_regex_split_custom_gpt2`/`_llama3`) whose behaviour at
/// piece boundaries is what the scanners in `PreTokenizerPatterns.swift` reproduce; the simple
/// character-class regexes are reproduced by run splitters.
public struct PreTokenizer: Sendable, Hashable, CustomStringConvertible {
    /// One regex of the chain.
    enum Pattern: Sendable, Hashable {
        /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
        case gpt2
        /// `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
        case llama3
        /// `\p{N}`: every number character on its own.
        case singleNumbers
        /// `\p{N}+`
        case numberRuns
        /// `[\p{P}\$\+<=>\^~\|]+`
        case punctuationRuns
        /// `[0-9][0-9][0-9]`
        case asciiDigitTriples
    }

    /// The name llama.cpp knows this pre-tokenizer by (`tokenizer.ggml.pre`).
    public let name: String
    let patterns: [Pattern]
    /// A word that is itself a vocabulary token is emitted whole, without merges
    /// (llama.cpp's `ignore_merges`, set for the Llama-3 family).
    let ignoresMerges: Bool
    /// Whether a BOS token is added when the GGUF file has no `tokenizer.ggml.add_bos_token`.
    let addsBOSByDefault: Bool

    public var description: String { name }

    /// The pre-tokenizer llama.cpp uses for a `tokenizer.ggml.pre` value.
    /// - Throws: `BPETokenizerError.unknownPreTokenizer` naming the value when it is not supported.
    public init(named name: String) throws(BPETokenizerError) {
        self.name = name
        switch name {
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b", "mellum2":
            (patterns, ignoresMerges, addsBOSByDefault) = ([.singleNumbers, .gpt2], false, false)
        case "gpt2", "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
            "mellum", "modern-bert", "mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4":
            (patterns, ignoresMerges, addsBOSByDefault) = ([.gpt2], false, false)
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
            "jina-v5-nano":
            (patterns, ignoresMerges, addsBOSByDefault) = ([.llama3], true, true)
        case "dbrx", "smaug-bpe":
            (patterns, ignoresMerges, addsBOSByDefault) = ([.llama3], false, false)
        case "default", "":
            (patterns, ignoresMerges, addsBOSByDefault) =
                ([.punctuationRuns, .gpt2, .numberRuns, .asciiDigitTriples], false, false)
        default:
            throw .unknownPreTokenizer(name)
        }
    }

    /// Splits `scalars` into words.
    /// - Parameters:
    ///   - scalars: the text's Unicode scalar values.
    ///   - classes: `CharacterClass` of each scalar, same count.
    /// - Returns: the end index (exclusive, in scalars) of every word, ascending; the last is `scalars.count`.
    func wordEnds(scalars: [UInt32], classes: [CharacterClass]) -> [Int] {
        guard !scalars.isEmpty else { return [] }
        var ends = [scalars.count]
        var next: [Int] = []
        for pattern in patterns {
            next.removeAll(keepingCapacity: true)
            next.reserveCapacity(ends.count * 2)
            var start = 0
            for end in ends {
                PieceSplitter(scalars: scalars, classes: classes, bounds: start..<end)
                    .split(by: pattern, appendingEndsTo: &next)
                start = end
            }
            swap(&ends, &next)
        }
        return ends
    }
}
