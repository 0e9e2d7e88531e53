import Foundation

/// A one-line progress bar on stderr for long work (a prefill of thousands of tokens):
/// `prefill  [#########.........]  1536/4096 tokens  312 tok/s`.
///
/// Redrawn in place with `\r` when stderr is a terminal and at most ~10 times a second; silent
/// otherwise, so logs and pipes get only the final summary.
struct ProgressLine {
    let label: String
    let total: Int
    let unit: String
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var drawn = false
    private let enabled: Bool

    /// Progress for `total` units; shown only when stderr is a terminal and the work is long enough
    /// (`minimumTotal`) to be worth a bar.
    init(label: String, total: Int, unit: String, minimumTotal: Int = 256) {
        self.label = label
        self.total = total
        self.unit = unit
        enabled = Terminal.stderrIsTerminal && total >= minimumTotal
    }

    /// Shows that `done` of `total` units are finished.
    mutating func update(_ done: Int) {
        guard enabled else { return }
        let now = Date()
        guard done >= total || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        drawn = true
        Terminal.noteRaw("\r" + Self.render(label: label, done: done, total: total, unit: unit, seconds: now.timeIntervalSince(start)))
    }

    /// Clears the bar so the next stderr line starts on a clean line.
    mutating func finish() {
        guard drawn else { return }
        Terminal.noteRaw("\r\u{1B}[2K")
        drawn = false
    }

    /// The text of the bar (separate from drawing so it can be checked without a terminal).
    static func render(label: String, done: Int, total: Int, unit: String, seconds: Double, width: Int = 24) -> String {
        let fraction = total > 0 ? min(1, max(0, Double(done) / Double(total))) : 1
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let rate = seconds > 0 ? Double(done) / seconds : 0
        return "\(label)  [\(bar)]  \(done)/\(total) \(unit)  \(Format.fixed(rate, digits: 0)) \(unit)/s"
    }
}
