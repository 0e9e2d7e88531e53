/// Cuts text into special tokens and the plain-text fragments between them.
///
/// Follows llama.cpp's `tokenizer_st_partition` (src/llama-vocab.cpp): special tokens are tried
/// longest first; each one splits every remaining text fragment at all its occurrences, left to
/// right. The fragments are then byte-pair encoded one by one, so a pre-tokenizer word never
/// spans a special token.
struct SpecialTokenMatcher: Sendable {
    /// A piece of the input: raw text (a byte range of it) or a special token.
    enum Fragment: Equatable {
        case text(Range<Int>)
        case token(Int32)
    }

    private struct Entry: Sendable {
        let bytes: [UInt8]
        let id: Int32
        /// Control and unknown tokens are only matched when special tokens are parsed.
        let needsSpecialFlag: Bool
    }

    /// Longest first; equal lengths by id so the order never depends on hashing.
    private let entries: [Entry]

    init(tokens: [(bytes: [UInt8], id: Int32, kind: TokenKind)]) {
        entries = tokens.filter { $0.kind.isSpecial && !$0.bytes.isEmpty }
            .map { Entry(bytes: $0.bytes, id: $0.id, needsSpecialFlag: $0.kind.needsSpecialFlag) }
            .sorted { $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id }
    }

    /// - Parameters:
    ///   - text: UTF-8 bytes of the input.
    ///   - parseSpecial: match control and unknown tokens too (user-defined ones always match).
    func fragments(of text: [UInt8], parseSpecial: Bool) -> [Fragment] {
        guard !text.isEmpty else { return [] }
        var fragments: [Fragment] = [.text(0..<text.count)]
        text.withUnsafeBufferPointer { haystack in
            for entry in entries where parseSpecial || !entry.needsSpecialFlag {
                var split: [Fragment] = []
                split.reserveCapacity(fragments.count)
                var changed = false
                for fragment in fragments {
                    guard case .text(let range) = fragment else {
                        split.append(fragment)
                        continue
                    }
                    var start = range.lowerBound
                    while let match = Self.firstOccurrence(of: entry.bytes, in: haystack, within: start..<range.upperBound) {
                        if match > start { split.append(.text(start..<match)) }
                        split.append(.token(entry.id))
                        start = match + entry.bytes.count
                        changed = true
                    }
                    if start < range.upperBound { split.append(.text(start..<range.upperBound)) }
                }
                if changed { fragments = split }
            }
        }
        return fragments
    }

    private static func firstOccurrence(
        of needle: [UInt8], in haystack: UnsafeBufferPointer<UInt8>, within range: Range<Int>
    ) -> Int? {
        guard let first = needle.first, range.count >= needle.count else { return nil }
        var position = range.lowerBound
        let lastStart = range.upperBound - needle.count
        while position <= lastStart {
            if haystack[position] == first {
                var offset = 1
                while offset < needle.count && haystack[position + offset] == needle[offset] { offset += 1 }
                if offset == needle.count { return position }
            }
            position += 1
        }
        return nil
    }
}
