/// Splits one piece of text by one pattern of a `PreTokenizer`, reproducing llama.cpp's
/// `unicode_regex_split_custom_gpt2`, `unicode_regex_split_custom_llama3` and the
/// `std::regex` path of `unicode_regex_split` (src/unicode.cpp) for the patterns we support.
///
/// A pattern never looks outside `bounds`: every position outside reads as `.outside`, which is
/// how llama.cpp makes `\s+(?!\S)` take a whole whitespace run at the end of a piece.
struct PieceSplitter {
    let scalars: [UInt32]
    let classes: [CharacterClass]
    let bounds: Range<Int>

    func split(by pattern: PreTokenizer.Pattern, appendingEndsTo ends: inout [Int]) {
        switch pattern {
        case .gpt2: splitGPT2(into: &ends)
        case .llama3: splitLlama3(into: &ends)
        case .singleNumbers: splitRuns(into: &ends, matchLength: { $0 == .number ? 1 : 0 })
        case .numberRuns: splitRuns(into: &ends, matchLength: { $0 == .number ? Int.max : 0 })
        case .punctuationRuns: splitPunctuationRuns(into: &ends)
        case .asciiDigitTriples: splitASCIIDigitTriples(into: &ends)
        }
    }

    // MARK: - Reading the piece

    @inline(__always) private func characterClass(at position: Int) -> CharacterClass {
        position < bounds.upperBound ? classes[position] : .outside
    }

    @inline(__always) private func scalar(at position: Int) -> UInt32? {
        position < bounds.upperBound ? scalars[position] : nil
    }

    private static let apostrophe = UInt32(UInt8(ascii: "'"))
    private static let space = UInt32(UInt8(ascii: " "))
    private static let carriageReturn = UInt32(UInt8(ascii: "\r"))
    private static let lineFeed = UInt32(UInt8(ascii: "\n"))

    /// Length of the contraction (`'s 't 'm 'd 're 've 'll`) starting at `position`, or 0.
    /// - Parameter caseInsensitive: Llama-3 also accepts `'S`, `'Re`, … (its `(?i:…)` group).
    private func contractionLength(at position: Int, caseInsensitive: Bool) -> Int {
        guard scalars[position] == Self.apostrophe, let first = scalar(at: position + 1) else { return 0 }
        let lowered: (UInt32) -> UInt32 = { value in
            caseInsensitive && (0x41...0x5A).contains(value) ? value + 0x20 : value
        }
        switch Unicode.Scalar(lowered(first)) {
        case "s", "t", "m", "d": return 2
        default: break
        }
        guard let second = scalar(at: position + 2) else { return 0 }
        switch (Unicode.Scalar(lowered(first)), Unicode.Scalar(lowered(second))) {
        case ("r", "e"), ("v", "e"), ("l", "l"): return 3
        default: return 0
        }
    }

    /// Whether a class is neither whitespace, letter nor number (and lies inside the piece):
    /// the `[^\s\p{L}\p{N}]` of both regexes.
    @inline(__always) private static func isOtherThanWordOrSpace(_ characterClass: CharacterClass) -> Bool {
        switch characterClass {
        case .punctuation, .other: return true
        case .letter, .number, .whitespace, .outside: return false
        }
    }

    // MARK: - GPT-2

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    private func splitGPT2(into ends: inout [Int]) {
        var position = bounds.lowerBound
        while position < bounds.upperBound {
            let contraction = contractionLength(at: position, caseInsensitive: false)
            if contraction > 0 {
                position += contraction
                ends.append(position)
                continue
            }
            let leadingSpace = scalars[position] == Self.space
            let wordClass = leadingSpace ? characterClass(at: position + 1) : classes[position]
            if wordClass == .letter || wordClass == .number {
                position += leadingSpace ? 1 : 0
                while characterClass(at: position) == wordClass { position += 1 }
                ends.append(position)
                continue
            }
            if Self.isOtherThanWordOrSpace(wordClass) {
                position += leadingSpace ? 1 : 0
                while Self.isOtherThanWordOrSpace(characterClass(at: position)) { position += 1 }
                ends.append(position)
                continue
            }
            position = endOfWhitespace(from: position, endsAtLastLineBreak: false)
            ends.append(position)
        }
    }

    // MARK: - Llama 3

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    private func splitLlama3(into ends: inout [Int]) {
        var position = bounds.lowerBound
        while position < bounds.upperBound {
            let contraction = contractionLength(at: position, caseInsensitive: true)
            if contraction > 0 {
                position += contraction
                ends.append(position)
                continue
            }
            let current = scalars[position]
            let currentClass = classes[position]
            let isLineBreak = current == Self.carriageReturn || current == Self.lineFeed
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !isLineBreak && currentClass != .number
                && (currentClass == .letter || characterClass(at: position + 1) == .letter)
            {
                position += 1
                while characterClass(at: position) == .letter { position += 1 }
                ends.append(position)
                continue
            }
            // \p{N}{1,3}
            if currentClass == .number {
                var groupStart = position
                while characterClass(at: position) == .number {
                    position += 1
                    if position - groupStart >= 3 {
                        ends.append(position)
                        groupStart = position
                    }
                }
                if position > groupStart { ends.append(position) }
                continue
            }
            //  ?[^\s\p{L}\p{N}]+[\r\n]*
            let leadingSpace = current == Self.space
            let symbolClass = leadingSpace ? characterClass(at: position + 1) : currentClass
            if Self.isOtherThanWordOrSpace(symbolClass) {
                position += leadingSpace ? 1 : 0
                while Self.isOtherThanWordOrSpace(characterClass(at: position)) { position += 1 }
                while let next = scalar(at: position), next == Self.carriageReturn || next == Self.lineFeed {
                    position += 1
                }
                ends.append(position)
                continue
            }
            position = endOfWhitespace(from: position, endsAtLastLineBreak: true)
            ends.append(position)
        }
    }

    /// The whitespace alternatives shared by both regexes, at a position no other one matched.
    ///
    /// `\s*[\r\n]+` (Llama 3 only: up to the last line break of the run), then `\s+(?!\S)` (a run
    /// followed by a non-space keeps its last space for the next word), then `\s+`; a character
    /// nothing matches becomes a piece of its own.
    private func endOfWhitespace(from position: Int, endsAtLastLineBreak: Bool) -> Int {
        var runEnd = position
        var afterLastLineBreak: Int?
        while characterClass(at: runEnd) == .whitespace {
            if endsAtLastLineBreak, scalars[runEnd] == Self.carriageReturn || scalars[runEnd] == Self.lineFeed {
                afterLastLineBreak = runEnd + 1
            }
            runEnd += 1
        }
        if let afterLastLineBreak { return afterLastLineBreak }
        let count = runEnd - position
        if count > 1 && runEnd < bounds.upperBound { return runEnd - 1 }
        if count > 0 { return runEnd }
        return position + 1
    }

    // MARK: - Character-class runs (llama.cpp's std::regex path)

    /// Splits into matches and the gaps between them, where a match is a run of characters
    /// `matchLength` accepts, cut into pieces of at most `matchLength(class)` characters.
    private func splitRuns(into ends: inout [Int], matchLength: (CharacterClass) -> Int) {
        var position = bounds.lowerBound
        var gapStart = position
        while position < bounds.upperBound {
            let limit = matchLength(classes[position])
            if limit == 0 {
                position += 1
                continue
            }
            if position > gapStart { ends.append(position) }
            let matchStart = position
            while position < bounds.upperBound, position - matchStart < limit, matchLength(classes[position]) > 0 {
                position += 1
            }
            ends.append(position)
            gapStart = position
        }
        if position > gapStart { ends.append(position) }
    }

    /// The ASCII symbols `$+<=>^~|` that `[\p{P}\$\+<=>\^~\|]+` adds to `\p{P}`, by ASCII code.
    private static let punctuationRunSymbols: [Bool] = (0..<128).map { code in
        "$+<=>^~|".unicodeScalars.contains { $0.value == UInt32(code) }
    }

    /// `[\p{P}\$\+<=>\^~\|]+`
    private func splitPunctuationRuns(into ends: inout [Int]) {
        var position = bounds.lowerBound
        var gapStart = position
        func matches(_ index: Int) -> Bool {
            classes[index] == .punctuation || (scalars[index] < 128 && Self.punctuationRunSymbols[Int(scalars[index])])
        }
        while position < bounds.upperBound {
            guard matches(position) else {
                position += 1
                continue
            }
            if position > gapStart { ends.append(position) }
            while position < bounds.upperBound, matches(position) { position += 1 }
            ends.append(position)
            gapStart = position
        }
        if position > gapStart { ends.append(position) }
    }

    /// `[0-9][0-9][0-9]`: groups of three ASCII digits, leftmost first.
    private func splitASCIIDigitTriples(into ends: inout [Int]) {
        func isDigit(_ index: Int) -> Bool { index < bounds.upperBound && (0x30...0x39).contains(scalars[index]) }
        var position = bounds.lowerBound
        var gapStart = position
        while position < bounds.upperBound {
            if isDigit(position) && isDigit(position + 1) && isDigit(position + 2) {
                if position > gapStart { ends.append(position) }
                position += 3
                ends.append(position)
                gapStart = position
            } else {
                position += 1
            }
        }
        if position > gapStart { ends.append(position) }
    }
}
