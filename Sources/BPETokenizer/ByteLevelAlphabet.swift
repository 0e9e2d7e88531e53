/// GPT-2's reversible byte ↔ character mapping (byte-level BPE).
///
/// Byte-level vocabularies store every token as text in which each raw byte is replaced by one
/// printable Unicode character: the printable Latin-1 bytes (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) stand for
/// themselves and the remaining 68 bytes (controls, space, soft hyphen, …) are shifted to
/// U+0100, U+0101, … in byte order. So a space is stored as `Ġ` (U+0120) and a newline as `Ċ`.
/// This follows GPT-2's `bytes_to_unicode` and llama.cpp's `unicode_byte_to_utf8_map`
/// (src/unicode.cpp).
enum ByteLevelAlphabet {
    /// The character that stands for each byte value: `characterForByte[b]`.
    static let characterForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var shifted: UInt32 = 256
        for byte in 0..<256 {
            if standsForItself(UInt8(byte)) {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(shifted)!
                shifted += 1
            }
        }
        return table
    }()

    /// The byte a character stands for, or nil when the character is not part of the alphabet.
    static func byte(for character: Unicode.Scalar) -> UInt8? {
        let value = character.value
        if value < 256 {
            return standsForItself(UInt8(value)) ? UInt8(value) : nil
        }
        let index = Int(value &- 256)
        return index < shiftedToByte.count ? shiftedToByte[index] : nil
    }

    /// Decodes a token's stored text to its raw bytes; nil when a character is outside the alphabet.
    static func bytes(ofEncodedText text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.unicodeScalars.count)
        for character in text.unicodeScalars {
            guard let byte = byte(for: character) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    /// Encodes raw bytes to the stored-text form used by the vocabulary.
    static func encodedText(of bytes: some Sequence<UInt8>) -> String {
        var text = String.UnicodeScalarView()
        for byte in bytes { text.append(characterForByte[Int(byte)]) }
        return String(text)
    }

    private static func standsForItself(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }

    /// `shiftedToByte[c - 256]` is the byte that U+(c) stands for (68 entries).
    private static let shiftedToByte: [UInt8?] = {
        var table = [UInt8?](repeating: nil, count: 68)
        for byte in 0..<256 where !standsForItself(UInt8(byte)) {
            let character = characterForByte[byte].value
            table[Int(character - 256)] = UInt8(byte)
        }
        return table
    }()
}
