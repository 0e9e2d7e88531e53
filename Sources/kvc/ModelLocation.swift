import Foundation

/// Where `kvc` finds its model: `--model PATH`, else env `KVC_MODEL`, else the default model
/// `models/SmolLM2-135M-Instruct.Q4_1.gguf` under the package root (where this binary was built from)
/// or under the current directory.
struct ModelLocation {
    static let defaultRelativePath = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    static let environmentVariable = "KVC_MODEL"
    static let fetchCommand = "scripts/fetch-model.sh"

    /// The package root this file was compiled in: `<root>/Sources/kvc/ModelLocation.swift`.
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The model file to load.
    /// - Parameters:
    ///   - explicit: the `--model` option, if given; it wins and must exist.
    ///   - environment: the process environment (a parameter so tests can pass their own).
    ///   - currentDirectory, packageRoot: where the default model is looked for.
    static func resolve(
        explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
        currentDirectory: String = FileManager.default.currentDirectoryPath, packageRoot: URL = packageRoot
    ) throws(ModelLocationError) -> String {
        if let explicit {
            guard isReadableFile(explicit) else { throw .notFound(path: explicit, origin: "--model") }
            return explicit
        }
        if let fromEnvironment = environment[environmentVariable], !fromEnvironment.isEmpty {
            guard isReadableFile(fromEnvironment) else { throw .notFound(path: fromEnvironment, origin: environmentVariable) }
            return fromEnvironment
        }
        let candidates = [
            packageRoot.appendingPathComponent(defaultRelativePath).path,
            URL(fileURLWithPath: currentDirectory).appendingPathComponent(defaultRelativePath).path,
        ]
        if let found = candidates.first(where: isReadableFile) { return found }
        throw .defaultMissing(searched: Array(Set(candidates)).sorted())
    }

    private static func isReadableFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
            && FileManager.default.isReadableFile(atPath: path)
    }
}

enum ModelLocationError: Error, CustomStringConvertible, Equatable {
    /// A path the user named (option or environment variable) is not a readable file.
    case notFound(path: String, origin: String)
    /// No model was named and the default one is not in any place searched.
    case defaultMissing(searched: [String])

    var description: String {
        switch self {
        case let .notFound(path, origin):
            "model file not found: \(path) (from \(origin)); pass a Llama-family GGUF file"
        case let .defaultMissing(searched):
            """
            no model given and the default model is missing (looked for \(searched.joined(separator: ", "))).
            Fetch it with `\(ModelLocation.fetchCommand)` (from the package root), or pass --model PATH, \
            or set \(ModelLocation.environmentVariable)=PATH.
            """
        }
    }
}
