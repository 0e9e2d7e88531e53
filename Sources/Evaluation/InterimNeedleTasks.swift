import BPETokenizer
import EvaluationTasks
import Foundation
import KVCompress
import SeededRandom

// The two retrieval tasks of the previous sweep engine (`passkey`, `prose_needle`), on the
// `EvaluationTask` contract so the runner has real tasks before the lead's ports in
// Sources/EvaluationTasks land on main. Registered only under names the registry lacks
// (`registerInterimNeedleTasks`), so the ports replace them without any change here; delete this file
// once they have landed.

extension TaskRegistry {
    /// Registers `passkey` and `prose_needle` where the registry has no task of that name yet.
    public func registerInterimNeedleTasks() {
        if !names.contains("passkey") {
            register(task: "passkey", summary: "Passkey retrieval: noise haystack, 5-digit pass key at a seeded depth (Mohtashami & Jaggi 2023)") { _ in
                InterimNeedleTask.passkey
            }
        }
        if !names.contains("prose_needle") {
            register(task: "prose_needle", summary: "A 5-digit code in paragraphs of the Python reference manual (option corpus: a text file)") { options in
                let path = try options.string("corpus", default: "Experiments/data/python-reference-prose.txt")
                return try InterimNeedleTask.proseNeedle(corpusPath: path)
            }
        }
    }
}

/// A needle sentence holding a 5-digit code in a haystack of units, at a seeded depth, then one question.
struct InterimNeedleTask: EvaluationTask {
    let name: String
    let introduction: String
    let unitSeparator: String
    let sectionSeparator: String
    let questionText: String
    let needle: @Sendable (String) -> String
    /// The haystack units for a seed, from unit 0 on.
    let unit: @Sendable (_ index: Int, _ start: Int) -> String
    let unitCount: Int

    var maxNewTokens: Int { 8 }

    static let passkey = InterimNeedleTask(
        name: "passkey",
        introduction: "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. I will quiz you about the important information there.",
        unitSeparator: " ", sectionSeparator: "\n", questionText: "What is the pass key? The pass key is",
        needle: { "The pass key is \($0). Remember it." },
        unit: { _, _ in "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again." }, unitCount: 1)

    static func proseNeedle(corpusPath path: String) throws(TaskError) -> InterimNeedleTask {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .unreadableData(task: "prose_needle", path: path, why: FileManager.default.fileExists(atPath: path) ? error.localizedDescription : "no such file")
        }
        let paragraphs = text.components(separatedBy: "\n\n").map { $0.replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard !paragraphs.isEmpty else { throw .unreadableData(task: "prose_needle", path: path, why: "no paragraphs") }
        return InterimNeedleTask(
            name: "prose_needle", introduction: "", unitSeparator: "\n\n", sectionSeparator: "\n\n",
            questionText: "What is the secret code of the archive? The secret code of the archive is",
            needle: { "The secret code of the archive is \($0)." },
            unit: { index, start in paragraphs[(start + index) % paragraphs.count] }, unitCount: paragraphs.count)
    }

    func minimumTokens(tokenizer: any TextTokenizer) throws(TaskError) -> Int {
        let (document, _) = compose(units: [], depth: 0, code: "00000")
        return tokenizer.encodePrompt(document).count + tokenizer.encodeContinuation(sectionSeparator + questionText).count + 1
    }

    /// The document with the needle before unit `depth`, and the text before the needle.
    func compose(units: ArraySlice<String>, depth: Int, code: String) -> (document: String, beforeNeedle: String) {
        let split = units.startIndex + depth
        var sections: [String] = []
        if !introduction.isEmpty { sections.append(introduction) }
        let before = units[units.startIndex..<split].joined(separator: unitSeparator)
        if !before.isEmpty { sections.append(before) }
        let beforeNeedle = sections.joined(separator: sectionSeparator)
        sections.append(needle(code))
        let after = units[split..<units.endIndex].joined(separator: unitSeparator)
        if !after.isEmpty { sections.append(after) }
        return (sections.joined(separator: sectionSeparator), beforeNeedle)
    }

    func instance(targetTokens: Int, seed: UInt64, tokenizer: any TextTokenizer) throws(TaskError) -> TaskInstance {
        var rng = SplitMix64(seed: seed)
        let code = String(10_000 + Int(rng.next() % 90_000))
        let start = unitCount > 1 ? Int(rng.next() % UInt64(unitCount)) : 0
        let question = sectionSeparator + questionText
        let questionTokens = tokenizer.encodeContinuation(question)
        let minimum = try minimumTokens(tokenizer: tokenizer)
        guard targetTokens >= minimum else { throw .lengthTooShort(task: name, targetTokens: targetTokens, minimum: minimum) }
        let room = targetTokens - questionTokens.count
        // Estimate the unit count from each unit's own tokens, then correct on the real encoding.
        var units: [String] = []
        var estimate = tokenizer.encodePrompt(compose(units: [], depth: 0, code: code).document).count
        while true {
            let next = unit(units.count, start)
            let cost = tokenizer.encodeContinuation(unitSeparator + next).count
            if estimate + cost > room { break }
            units.append(next)
            estimate += cost
        }
        let depthIndex = Int(rng.next() % UInt64(units.count + 1))
        var count = units.count
        var composed = compose(units: units[0..<count], depth: min(depthIndex, count), code: code)
        var tokens = tokenizer.encodePrompt(composed.document)
        while tokens.count > room, count > 0 {
            count -= 1
            composed = compose(units: units[0..<count], depth: min(depthIndex, count), code: code)
            tokens = tokenizer.encodePrompt(composed.document)
        }
        let bos = tokenizer.addsBOSByDefault && tokenizer.bosID != nil ? 1 : 0
        let offset = composed.beforeNeedle.isEmpty ? bos : tokenizer.encodePrompt(composed.beforeNeedle).count
        let through = composed.beforeNeedle.isEmpty ? needle(code) : composed.beforeNeedle + sectionSeparator + needle(code)
        let end = min(tokens.count, tokenizer.encodePrompt(through).count)
        return TaskInstance(
            task: name, seed: seed, targetTokens: targetTokens, document: composed.document, documentTokens: tokens,
            questions: [TaskQuestion(text: question, answers: [code], evidence: [offset..<end])], questionTokens: [questionTokens],
            depth: count == 0 ? 0 : Double(min(depthIndex, count)) / Double(count))
    }
}
