import Foundation

/// A fresh directory under the system temporary directory, deleted with everything in it on deinit.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "kvc-wrapper-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    /// Names of the entries in the directory, sorted.
    func entries() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }

    deinit {
        // Restore write permission in case a test removed it, so the cleanup cannot fail.
        chmod(path, 0o755)
        try? FileManager.default.removeItem(atPath: path)
    }
}
