import BPETokenizer

/// How a task lays out its document: an introduction, haystack units, and insertions (needles,
/// assignments) at fractional depths among the units. `build` finds the longest document of at most a
/// token budget and measures where each insertion landed in the token ids.
///
/// Layout: sections joined by `sectionSeparator`: the introduction, runs of units (joined by
/// `unitSeparator`) and the insertions between them. An insertion at depth `d` goes into gap
/// `round(d · n)` of `n` units (0 = before the first, n = after the last); insertions sharing a gap keep
/// their order.
struct NeedleDocument {
    var introduction: String
    var unitSeparator: String
    var sectionSeparator: String
    var insertions: [String]
    /// One per insertion, in [0, 1].
    var depths: [Double]

    /// The document text of `units`, and for each insertion the text before it (ending right before the
    /// separator that precedes it) and the text through it, both prefixes of the document.
    func compose(units: ArraySlice<String>) -> (text: String, before: [String], through: [String]) {
        let n = units.count
        let gaps = depths.map { min(n, max(0, Int(($0 * Double(n)).rounded()))) }
        let order = insertions.indices.sorted { (gaps[$0], $0) < (gaps[$1], $1) }
        var sections: [String] = introduction.isEmpty ? [] : [introduction]
        var before = [String](repeating: "", count: insertions.count)
        var through = before
        var next = 0  // next insertion in `order`
        var run: [String] = []
        func flushRun() {
            if !run.isEmpty { sections.append(run.joined(separator: unitSeparator)) }
            run = []
        }
        for gap in 0...n {
            while next < order.count, gaps[order[next]] == gap {
                flushRun()
                let i = order[next]
                before[i] = sections.joined(separator: sectionSeparator)
                sections.append(insertions[i])
                through[i] = sections.joined(separator: sectionSeparator)
                next += 1
            }
            if gap < n { run.append(units[units.startIndex + gap]) }
        }
        flushRun()
        return (sections.joined(separator: sectionSeparator), before, through)
    }

    /// Tokens of the document with no haystack at all (introduction and insertions only).
    func bareTokens(tokenizer: any TextTokenizer) -> Int {
        tokenizer.encodePrompt(compose(units: []).text).count
    }

    /// The longest document of at most `budget` tokens built from units `unit(0)`, `unit(1)`, …
    /// - Throws: `lengthTooShort` when the introduction and insertions alone do not fit.
    func build(
        task: String, budget: Int, minimumExtra: Int, tokenizer: any TextTokenizer, unit: (Int) -> String
    ) throws(TaskError) -> BuiltDocument {
        let bare = bareTokens(tokenizer: tokenizer)
        guard bare < budget else { throw .lengthTooShort(task: task, targetTokens: budget + minimumExtra, minimum: bare + 1 + minimumExtra) }
        // Estimate the unit count from each unit's own cost, then correct on the real encoding (tokens
        // of a concatenation differ slightly from the sum of the parts).
        var units: [String] = []
        var estimate = bare
        while true {
            let next = unit(units.count)
            let cost = tokenizer.encodeContinuation(unitSeparator + next).count
            if estimate + cost > budget { break }
            units.append(next)
            estimate += max(1, cost)
        }
        var count = units.count
        var composed = compose(units: units[0..<count])
        var tokens = tokenizer.encodePrompt(composed.text)
        while tokens.count > budget, count > 0 {
            // Drop several units at once when far over (long documents), one at a time when close.
            let over = tokens.count - budget
            count = max(0, count - max(1, over / 40))
            composed = compose(units: units[0..<count])
            tokens = tokenizer.encodePrompt(composed.text)
        }
        // Fill what is left with the first words of the next unit (RULER likewise cuts its haystack
        // at a word), so long units (prose sentences) still land within a few tokens of the budget.
        if budget - tokens.count > 2 {
            let words = unit(count).split(separator: " ", omittingEmptySubsequences: false)
            var low = 0, high = words.count - 1
            var best: (text: String, before: [String], through: [String], tokens: [Int32])?
            while low < high {
                let middle = (low + high + 1) / 2
                let partial = units[0..<count] + [words[0..<middle].joined(separator: " ")]
                let candidate = compose(units: partial[...])
                let candidateTokens = tokenizer.encodePrompt(candidate.text)
                if candidateTokens.count <= budget {
                    (low, best) = (middle, (candidate.text, candidate.before, candidate.through, candidateTokens))
                } else {
                    high = middle - 1
                }
            }
            if let best {
                composed = (best.text, best.before, best.through)
                tokens = best.tokens
            }
        }
        let evidence = insertions.indices.map { i in
            Self.commonPrefix(tokenizer.encodePrompt(composed.before[i]), tokens)..<Self.commonPrefix(tokenizer.encodePrompt(composed.through[i]), tokens)
        }
        return BuiltDocument(text: composed.text, tokens: tokens, evidence: evidence, units: count)
    }

    /// Length of the common prefix of two token lists: where a prefix of the text ends in the whole
    /// text's tokens, whatever the tokenizer does at the boundary.
    static func commonPrefix(_ a: [Int32], _ b: [Int32]) -> Int {
        var i = 0
        while i < a.count, i < b.count, a[i] == b[i] { i += 1 }
        return i
    }
}

/// A built document.
struct BuiltDocument {
    let text: String
    /// `tokenizer.encodePrompt(text)`.
    let tokens: [Int32]
    /// Token range of each insertion (with the separator before it), in insertion order.
    let evidence: [Range<Int>]
    /// Haystack units used.
    let units: Int
}

extension EvaluationTask {
    /// The instance of a document and its questions, tokenized.
    func makeInstance(
        seed: UInt64, targetTokens: Int, document: BuiltDocument, questions: [TaskQuestion], tokenizer: any TextTokenizer,
        depth: Double? = nil
    ) -> TaskInstance {
        TaskInstance(
            task: name, seed: seed, targetTokens: targetTokens, document: document.text, documentTokens: document.tokens,
            questions: questions, questionTokens: questions.map { tokenizer.encodeContinuation($0.text) }, depth: depth)
    }
}
