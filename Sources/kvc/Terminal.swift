import Foundation

/// The two output streams of `kvc`: stdout carries only the product (generated text, token ids),
/// stderr everything a person reads about the run (timings, progress, tables), so that
/// `kvc generate ... > out.txt` captures the text alone.
enum Terminal {
    /// Writes `text` to stdout at once (unbuffered `write(2)`), so generated text streams as it is made.
    static func emit(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Writes one line to stderr.
    static func note(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Writes `text` to stderr as is (no newline), for progress lines redrawn with `\r`.
    static func noteRaw(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Whether stderr is a terminal: progress lines are redrawn in place only there, never in logs.
    static let stderrIsTerminal: Bool = isatty(STDERR_FILENO) == 1
}
