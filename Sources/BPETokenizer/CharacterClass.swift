/// The character classes the pre-tokenizer regexes of llama.cpp distinguish.
///
/// llama.cpp classifies every code point by its Unicode general category (`\p{L}`, `\p{N}`,
/// `\p{P}`, …) plus a separate whitespace set (`\s`, the Unicode White_Space property), both
/// generated from Python's `regex` module (scripts/gen-unicode-data.py → src/unicode-data.cpp).
/// Whitespace wins over the category here because every regex tests `\s` before anything else
/// that could also match a space separator (U+00A0, U+3000, …) or a control (`\t`, `\n`).
enum CharacterClass: UInt8 {
    case letter  // \p{L}
    case number  // \p{N}
    case whitespace  // \s
    case punctuation  // \p{P}
    case other  // symbols, marks, controls, format characters, unassigned code points
    /// A position outside the chunk being split (llama.cpp's OUT_OF_RANGE / empty flags).
    case outside

    init(_ scalar: UInt32) {
        if scalar < 128 {
            self = CharacterClass.ascii[Int(scalar)]
        } else {
            self = CharacterClass.classify(scalar)
        }
    }

    private static func classify(_ value: UInt32) -> CharacterClass {
        guard let scalar = Unicode.Scalar(value) else { return .other }
        let properties = scalar.properties
        if properties.isWhitespace { return .whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return .punctuation
        default:
            return .other
        }
    }

    private static let ascii: [CharacterClass] = (0..<128).map { classify(UInt32($0)) }
}
