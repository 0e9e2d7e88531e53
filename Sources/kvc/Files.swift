import Foundation

/// Failures reading what the user gave, each naming the file and the problem.
enum InputError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case notUTF8(path: String)
    case emptyPrompt(source: String)
    case emptyQuestion(source: String)
    case badTokenID(path: String, word: String, vocabularySize: Int)
    case noTokens(path: String)

    var description: String {
        switch self {
        case let .unreadable(path, reason): "cannot read \(path): \(reason)"
        case let .notUTF8(path): "\(path) is not UTF-8 text"
        case let .emptyPrompt(source): "the prompt from \(source) is empty"
        case let .emptyQuestion(source): "the question from \(source) is empty"
        case let .badTokenID(path, word, vocabularySize):
            "\(path): '\(word)' is not a token id (expected integers in 0..<\(vocabularySize), separated by whitespace)"
        case let .noTokens(path): "\(path) holds no token ids"
        }
    }
}

/// Failures writing results.
enum OutputError: Error, CustomStringConvertible, Equatable {
    case unwritable(path: String, reason: String)

    var description: String {
        switch self {
        case let .unwritable(path, reason): "cannot write \(path): \(reason)"
        }
    }
}

enum InputFile {
    /// The path that means standard input (`kvc generate --prompt-file -`).
    static let standardInput = "-"

    /// The whole file as UTF-8 text; `-` reads standard input.
    static func readText(_ path: String) throws(InputError) -> String {
        let data: Data
        do {
            data = path == standardInput
                ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(path: path, reason: FileManager.default.fileExists(atPath: path) ? "permission denied or not a file" : "no such file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw .notUTF8(path: path) }
        return text
    }

    /// Token ids separated by whitespace, each in `0..<vocabularySize`.
    static func readTokenIDs(_ path: String, vocabularySize: Int) throws(InputError) -> [Int32] {
        let words = try readText(path).split(whereSeparator: { $0.isWhitespace || $0 == "," })
        var ids: [Int32] = []
        ids.reserveCapacity(words.count)
        for word in words {
            guard let id = Int32(word), id >= 0, Int(id) < vocabularySize else {
                throw .badTokenID(path: path, word: String(word), vocabularySize: vocabularySize)
            }
            ids.append(id)
        }
        guard !ids.isEmpty else { throw .noTokens(path: path) }
        return ids
    }
}

enum OutputFile {
    /// Fails now, before any long computation, when `path` cannot be created: its directory is
    /// missing or not writable, or the path is a directory.
    static func checkWritable(_ path: String) throws(OutputError) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw .unwritable(path: path, reason: "it is a directory")
        }
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .unwritable(path: path, reason: "directory \(directory) does not exist")
        }
        guard FileManager.default.isWritableFile(atPath: directory) else {
            throw .unwritable(path: path, reason: "directory \(directory) is not writable")
        }
    }

    /// Writes `data` to a temporary file beside `path` and renames it into place: readers never
    /// see a half-written file.
    static func writeAtomically(_ data: Data, to path: String) throws(OutputError) {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw .unwritable(path: path, reason: error.localizedDescription)
        }
    }
}
