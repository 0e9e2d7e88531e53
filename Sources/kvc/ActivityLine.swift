import Dispatch
import Foundation

/// A stderr status line for work whose progress cannot be counted from outside, such as a prefill
/// (one `Generator` call per prompt): `prefill  4096 tokens  12.4 s`, redrawn every 0.2 s by a
/// timer while the work runs. Only on a terminal; silent in logs and pipes.
final class ActivityLine: @unchecked Sendable {
    private let lock = NSLock()
    private var label: String
    private let start = Date()
    private var timer: DispatchSourceTimer?
    private var drawn = false

    /// Starts redrawing `label` with the elapsed time, if stderr is a terminal.
    init(_ label: String) {
        self.label = label
        guard Terminal.stderrIsTerminal else { return }
        let timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        timer.schedule(deadline: .now() + 0.2, repeating: 0.2)
        timer.setEventHandler { [weak self] in self?.draw() }
        self.timer = timer
        timer.resume()
    }

    /// Changes the text shown (e.g. as prompts of a batch finish their prefill).
    func relabel(_ newLabel: String) {
        lock.withLock { label = newLabel }
    }

    /// Stops the timer and clears the line. Safe to call more than once.
    func stop() {
        lock.withLock {
            timer?.cancel()
            timer = nil
            if drawn { Terminal.noteRaw("\r\u{1B}[2K") }
            drawn = false
        }
    }

    deinit { timer?.cancel() }

    private func draw() {
        lock.withLock {
            guard timer != nil else { return }
            drawn = true
            Terminal.noteRaw("\r\u{1B}[2K\(label)  \(Format.fixed(Date().timeIntervalSince(start), digits: 1)) s")
        }
    }
}
