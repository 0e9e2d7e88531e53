import Foundation

/// The markdown table of the benchmark: our figures beside llama.cpp's and the issue's targets
/// (prefill ≥ 2× llama.cpp at 2048 tokens; batch-1 decode ≥ llama.cpp; batch-32 decode ≥ 10× our batch 1).
struct ComparisonTable {
    let ours: BenchmarkResults
    let reference: BenchmarkResults?

    var markdown: String {
        var lines = [
            "| measure (\(ours.threads) threads) | kvc tok/s | llama.cpp tok/s | kvc / llama.cpp | target | met |",
            "|---|---:|---:|---:|---|---|",
        ]
        for tokens in ours.prefillTokensPerSecond.keys.sorted(by: { Int($0)! < Int($1)! }) {
            let mine = ours.prefillTokensPerSecond[tokens]!
            let theirs = reference?.prefillTokensPerSecond[tokens]
            let target = tokens == "2048" ? theirs.map { (goal: "≥ 2× llama.cpp", met: mine >= 2 * $0) } : nil
            lines.append(row("prefill \(tokens) tokens", mine, theirs, target))
        }
        let batchOne = ours.decodeTokensPerSecond["1"]
        for batch in ours.decodeTokensPerSecond.keys.sorted(by: { Int($0)! < Int($1)! }) {
            let mine = ours.decodeTokensPerSecond[batch]!
            let theirs = reference?.decodeTokensPerSecond[batch]
            let target: (goal: String, met: Bool)?
            switch batch {
            case "1": target = theirs.map { ("≥ llama.cpp", mine >= $0) }
            case "32": target = batchOne.map { ("≥ 10× kvc batch 1 (\(Self.rate($0 * 10)))", mine >= 10 * $0) }
            default: target = nil
            }
            lines.append(row("decode batch \(batch)", mine, theirs, target))
        }
        return lines.joined(separator: "\n")
    }

    private func row(_ measure: String, _ mine: Double, _ theirs: Double?, _ target: (goal: String, met: Bool)?) -> String {
        let ratio = theirs.map { Format.ratio(mine / $0) } ?? "—"
        return "| \(measure) | \(Self.rate(mine)) | \(theirs.map(Self.rate) ?? "—") | \(ratio) | \(target?.goal ?? "") | \(target.map { $0.met ? "yes" : "**no**" } ?? "") |"
    }

    static func rate(_ value: Double) -> String { String(format: "%.1f", value) }
}

enum Format {
    static func ratio(_ value: Double) -> String { String(format: "%.2f×", value) }
}
