import Foundation
import KVCStatistics
import KVCompress

/// The markdown tables `kvc sweep` prints at the end: per length, one row per rate and one column per
/// method, each cell the accuracy k/n with its Wilson 95% interval (KVCStatistics) and the resident KV
/// MiB after compression (mean over prompts), so methods are compared at equal bytes; then the share
/// of the needle's KVs the caches kept, which explains most of the accuracy.
struct SweepSummary {
    let results: SweepResults

    func markdown() throws -> String {
        let s = results.specification
        var lines: [String] = []
        for (lengthIndex, length) in s.lengths.enumerated() {
            let atLength = results.trials.filter { $0.lengthIndex == lengthIndex }
            let promptTokens = Dictionary(grouping: atLength, by: \.promptIndex).values.map { $0[0].promptTokens }
            guard let shortest = promptTokens.min(), let longest = promptTokens.max() else { continue }
            let mean = Double(promptTokens.reduce(0, +)) / Double(promptTokens.count)
            lines.append(
                "### \(s.task.rawValue), target \(length) tokens (prompts of \(shortest)–\(longest) tokens, mean \(Format.fixed(mean, digits: 0)); "
                    + "\(promptTokens.count) prompts)")
            lines.append("")
            lines.append("Accuracy k/n [Wilson 95% CI] · resident KV MiB after compression (mean over prompts).")
            lines.append("")
            lines.append("| rate | " + s.methods.map(\.name).joined(separator: " | ") + " |")
            lines.append("|---:|" + String(repeating: ":--|", count: s.methods.count))
            for rate in s.rates {
                var cells: [String] = []
                for method in s.methods.indices {
                    let cell = atLength.filter { $0.method == method && $0.rate == rate }
                    let correct = cell.filter(\.correct).count
                    let interval = try ConfidenceInterval.wilson(successes: correct, trials: cell.count)
                    let mebibytes = Double(cell.reduce(0) { $0 + $1.residentBytes }) / Double(max(1, cell.count)) / 1_048_576
                    cells.append(
                        "\(correct)/\(cell.count) [\(Format.fixed(interval.lower, digits: 2)), \(Format.fixed(interval.upper, digits: 2))] · "
                            + "\(Format.fixed(mebibytes, digits: 1)) MiB")
                }
                lines.append("| \(Self.rate(rate)) | " + cells.joined(separator: " | ") + " |")
            }
            lines.append("")
            lines.append("Needle KVs kept over all layers × KV heads (mean over prompts).")
            lines.append("")
            lines.append("| rate | " + s.methods.map(\.name).joined(separator: " | ") + " |")
            lines.append("|---:|" + String(repeating: "--:|", count: s.methods.count))
            for rate in s.rates {
                let cells = s.methods.indices.map { method -> String in
                    let cell = atLength.filter { $0.method == method && $0.rate == rate }
                    let kept = cell.reduce(0.0) {
                        $0 + Double($1.needleKVsKept) / Double(max(1, $1.needleTokenCount * results.layers * results.kvHeads))
                    }
                    return "\(Format.fixed(100 * kept / Double(max(1, cell.count)), digits: 0))%"
                }
                lines.append("| \(Self.rate(rate)) | " + cells.joined(separator: " | ") + " |")
            }
            lines.append("")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func rate(_ r: Double) -> String { r == r.rounded() ? String(Int(r)) : String(r) }
}
