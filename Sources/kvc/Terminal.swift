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

    /// Whether stdout ends up where a person reads stderr too (a terminal, or the same file or pipe
    /// as stderr, as with `2>&1`): then the generated text needs a final newline so the figures that
    /// follow start on a line of their own. Otherwise stdout gets the generated text exactly.
    static let stdoutMeetsStderr: Bool = {
        if isatty(STDOUT_FILENO) == 1 { return true }
        var out = stat(), err = stat()
        guard fstat(STDOUT_FILENO, &out) == 0, fstat(STDERR_FILENO, &err) == 0 else { return false }
        return out.st_dev == err.st_dev && out.st_ino == err.st_ino
    }()
}
