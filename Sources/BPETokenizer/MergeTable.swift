/// Byte-pair merges by rank, and the merge loop over one word.
///
/// Every string that occurs in the vocabulary or in a merge gets a "symbol": vocabulary tokens
/// keep their token id, strings that appear only inside merges get ids after the vocabulary. A
/// merge is then a lookup from a pair of symbols to (rank, merged symbol), so the loop never
/// builds strings. The loop is llama.cpp's (`llm_tokenizer_bpe_session::tokenize`,
/// src/llama-vocab.cpp): repeatedly merge the adjacent pair of lowest rank, the leftmost on ties.
struct MergeTable: Sendable {
    /// Number of vocabulary tokens; symbols at or above it are merge-only strings.
    let vocabularySize: Int
    /// The symbol each single byte starts as.
    private let byteSymbols: [Int32]
    /// `(left << 32 | right) → (rank << 32 | merged)`.
    private let pairs: [UInt64: UInt64]
    /// Raw bytes of the merge-only symbols, `extraSymbolBytes[symbol - vocabularySize]`.
    private let extraSymbolBytes: [[UInt8]]
    /// Token for a leftover byte when a final symbol is no token (llama.cpp looks the byte up
    /// as one-character text, which only printable ASCII can match).
    private let byteFallbackTokens: [Int32?]

    /// - Parameters:
    ///   - tokenIDs: stored text → token id, for every vocabulary token.
    ///   - merges: `"left right"` strings in rank order (GGUF `tokenizer.ggml.merges`).
    init(vocabularySize: Int, tokenIDs: [String: Int32], merges: [String]) {
        self.vocabularySize = vocabularySize
        var extraIDs: [String: Int32] = [:]
        var extraBytes: [[UInt8]] = []
        func symbol(for text: Substring) -> Int32 {
            let text = String(text)
            if let id = tokenIDs[text] ?? extraIDs[text] { return id }
            let id = Int32(vocabularySize + extraBytes.count)
            extraIDs[text] = id
            extraBytes.append(ByteLevelAlphabet.bytes(ofEncodedText: text) ?? Array(text.utf8))
            return id
        }
        byteSymbols = (0..<256).map { byte in
            symbol(for: Substring(String(ByteLevelAlphabet.characterForByte[byte])))
        }
        var pairs: [UInt64: UInt64] = [:]
        pairs.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() {
            // As llama.cpp: split at the first space after the first character.
            let utf8 = merge.utf8
            guard utf8.count > 1,
                let space = utf8[utf8.index(after: utf8.startIndex)...].firstIndex(of: UInt8(ascii: " "))
            else { continue }
            let left = merge[..<space]
            let right = merge[merge.index(after: space)...]
            let key = Self.key(symbol(for: left), symbol(for: right))
            guard pairs[key] == nil else { continue }  // a repeated merge keeps its first rank
            let merged = symbol(for: Substring(left + right))
            pairs[key] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merged))
        }
        self.pairs = pairs
        extraSymbolBytes = extraBytes
        byteFallbackTokens = (0..<256).map { byte in
            (0x21...0x7E).contains(byte) ? tokenIDs[String(UnicodeScalar(UInt8(byte)))] : nil
        }
    }

    /// Whether a byte has a token of its own. A byte without one is dropped by encoding (as in
    /// llama.cpp) unless a merge absorbs it: SmolLM2, for instance, has no token for 0xF1/0xF2, the
    /// lead bytes of U+40000–U+BFFFF.
    func hasToken(forByte byte: UInt8) -> Bool {
        Int(byteSymbols[Int(byte)]) < vocabularySize
    }

    @inline(__always) private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// (rank, merged symbol) of an adjacent pair, or nil when the pair never merges.
    @inline(__always) private func merge(_ left: Int32, _ right: Int32) -> (rank: UInt32, merged: Int32)? {
        guard let value = pairs[Self.key(left, right)] else { return nil }
        return (UInt32(truncatingIfNeeded: value >> 32), Int32(bitPattern: UInt32(truncatingIfNeeded: value)))
    }

    /// How the merge loop finds the next pair; both give the same tokens.
    enum Strategy {
        /// Rescanning for short words, the priority queue for long ones.
        case automatic
        case scanning
        case queue
    }

    /// Appends the tokens of one pre-tokenized word.
    /// - Parameter word: the word's raw UTF-8 bytes (not empty).
    func encode(word: some Collection<UInt8>, into output: inout [Int32], strategy: Strategy = .automatic) {
        var symbols = word.map { byteSymbols[Int($0)] }
        if symbols.count > 1 {
            switch strategy {
            case .automatic where symbols.count <= Self.longWordThreshold, .scanning:
                mergeByScanning(&symbols)
            case .automatic, .queue:
                mergeWithQueue(&symbols)
            }
        }
        for symbol in symbols {
            if Int(symbol) < vocabularySize {
                output.append(symbol)
            } else {
                for byte in extraSymbolBytes[Int(symbol) - vocabularySize] {
                    if let token = byteFallbackTokens[Int(byte)] { output.append(token) }
                }
            }
        }
    }

    /// Beyond this many bytes a word is merged with a priority queue instead of rescanning.
    private static let longWordThreshold = 64

    /// Short words: keep the rank of every adjacent pair and rescan for the minimum.
    private func mergeByScanning(_ symbols: inout [Int32]) {
        var ranks = [UInt32](repeating: .max, count: symbols.count - 1)
        var merged = [Int32](repeating: -1, count: symbols.count - 1)
        for index in 0..<ranks.count {
            if let found = merge(symbols[index], symbols[index + 1]) {
                (ranks[index], merged[index]) = found
            }
        }
        while !ranks.isEmpty {
            var best = 0
            for index in 1..<ranks.count where ranks[index] < ranks[best] { best = index }
            guard ranks[best] != .max else { return }
            symbols[best] = merged[best]
            symbols.remove(at: best + 1)
            ranks.remove(at: best)
            merged.remove(at: best)
            if best > 0 {
                (ranks[best - 1], merged[best - 1]) = merge(symbols[best - 1], symbols[best]) ?? (.max, -1)
            }
            if best < ranks.count {
                (ranks[best], merged[best]) = merge(symbols[best], symbols[best + 1]) ?? (.max, -1)
            }
        }
    }

    /// Long words: a heap of candidate pairs ordered by (rank, left position); entries made stale
    /// by an earlier merge are recognised by their symbols no longer being there.
    private func mergeWithQueue(_ symbols: inout [Int32]) {
        let count = symbols.count
        var next = (0..<count).map { $0 + 1 == count ? -1 : $0 + 1 }
        var previous = (0..<count).map { $0 - 1 }
        var queue = CandidateHeap()
        func consider(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0, let found = merge(symbols[left], symbols[right]) else { return }
            queue.push(Candidate(rank: found.rank, left: Int32(left), right: Int32(right),
                leftSymbol: symbols[left], rightSymbol: symbols[right], merged: found.merged))
        }
        for index in 0..<(count - 1) { consider(index, index + 1) }
        while let candidate = queue.pop() {
            let left = Int(candidate.left)
            let right = Int(candidate.right)
            guard symbols[left] == candidate.leftSymbol, symbols[right] == candidate.rightSymbol,
                next[left] == right
            else { continue }
            symbols[left] = candidate.merged
            symbols[right] = -1
            next[left] = next[right]
            if next[right] >= 0 { previous[next[right]] = left }
            consider(previous[left], left)
            consider(left, next[left])
        }
        symbols.removeAll { $0 < 0 }
    }
}

/// A possible merge of two adjacent symbols, as queued by `MergeTable.mergeWithQueue`.
struct Candidate {
    var rank: UInt32
    var left: Int32
    var right: Int32
    var leftSymbol: Int32
    var rightSymbol: Int32
    var merged: Int32

    /// Lower rank first, then the leftmost (llama.cpp's `llm_bigram_bpe::comparator`).
    func precedes(_ other: Candidate) -> Bool {
        rank != other.rank ? rank < other.rank : left < other.left
    }
}

/// A binary min-heap of merge candidates.
struct CandidateHeap {
    private var items: [Candidate] = []

    mutating func push(_ candidate: Candidate) {
        items.append(candidate)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].precedes(items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Candidate? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let leftChild = 2 * parent + 1
                guard leftChild < items.count else { break }
                var smallest = leftChild
                if leftChild + 1 < items.count, items[leftChild + 1].precedes(items[leftChild]) {
                    smallest = leftChild + 1
                }
                guard items[smallest].precedes(items[parent]) else { break }
                items.swapAt(smallest, parent)
                parent = smallest
            }
        }
        return first
    }
}
