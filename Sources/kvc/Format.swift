import Foundation

/// Number formatting for the human-readable stderr output (machine-readable output is JSON).
enum Format {
    /// `value` with `digits` decimals, e.g. `fixed(3.14159, digits: 2) == "3.14"`.
    static func fixed(_ value: Double, digits: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "n/a" : (value > 0 ? "inf" : "-inf") }
        return String(format: "%.\(digits)f", value)
    }

    /// Bytes in binary units: `1536 -> "1.5 KiB"`.
    static func bytes(_ count: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : "\(fixed(value, digits: 1)) \(units[unit])"
    }
}

/// A plain-text table with aligned columns, for the summary `kvc generate` prints at the end.
struct TextTable {
    enum Alignment { case left, right }

    let alignments: [Alignment]
    private(set) var rows: [[String]] = []

    init(alignments: [Alignment]) { self.alignments = alignments }

    mutating func add(_ cells: String...) {
        precondition(cells.count == alignments.count, "row has \(cells.count) cells, table has \(alignments.count) columns")
        rows.append(cells)
    }

    /// The table as lines, columns separated by two spaces, trailing blanks trimmed.
    var lines: [String] {
        let widths = alignments.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            let cells = row.indices.map { column -> String in
                let padding = String(repeating: " ", count: widths[column] - row[column].count)
                return alignments[column] == .left ? row[column] + padding : padding + row[column]
            }
            var line = cells.joined(separator: "  ")
            while line.last == " " { line.removeLast() }
            return line
        }
    }
}
