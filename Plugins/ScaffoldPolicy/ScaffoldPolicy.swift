import Foundation
import PackagePlugin

/// `swift package scaffold-policy --name MyScorer [--kind scorer|policy] [--registry-name my-scorer]`
///
/// `--kind scorer` (the default) writes the one-method front door: a `KVScorer` (one score per KV per
/// head, allocated by any policy chosen at run time) and its tests. `--kind policy` writes a whole
/// eviction policy (ranking and allocation) and its tests:
/// - `Plugins/EvictionPolicies/User/MyPolicy.swift`: `struct MyPolicy: EvictionPolicy` plus
///   `registerMyPolicy(in:)`, registering it as `my-policy`;
/// - `Tests/KVCompressTests/User/MyPolicyTests.swift`: Swift Testing properties on random caches;
/// - one call `registerMyPolicy(in: registry)` added to `registerUserPlugins(in:)` in
///   `Plugins/EvictionPolicies/User/UserPlugins.swift`.
///
/// It refuses to overwrite anything: every check (name, existing files, clashing names, the
/// registration marker) runs before the first write, files are written to a temporary name and moved
/// into place, and a failure part-way removes what this run created.
@main
struct ScaffoldPolicy: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        var extractor = ArgumentExtractor(arguments)
        let names = extractor.extractOption(named: "name")
        let registryNames = extractor.extractOption(named: "registry-name")
        let kinds = extractor.extractOption(named: "kind")
        guard kinds.count <= 1, let kind = Scaffold.Kind(rawValue: kinds.first ?? "scorer") else {
            throw ScaffoldError("--kind must be given at most once, as scorer (the default) or policy; usage: \(ScaffoldError.usage)")
        }
        guard extractor.remainingArguments.isEmpty else {
            throw ScaffoldError("unexpected argument(s) \(extractor.remainingArguments.joined(separator: " ")); usage: \(ScaffoldError.usage)")
        }
        guard names.count == 1, let name = names.first else {
            throw ScaffoldError(names.isEmpty ? "missing --name; usage: \(ScaffoldError.usage)" : "give --name once; usage: \(ScaffoldError.usage)")
        }
        guard registryNames.count <= 1 else { throw ScaffoldError("give --registry-name at most once") }
        let scaffold = try Scaffold(
            packageRoot: context.package.directoryURL, typeName: name, registryName: registryNames.first ?? Scaffold.kebabCase(name), kind: kind)
        try scaffold.write()
        print(scaffold.summary)
    }
}

/// A user-facing failure: SwiftPM prints its description after `error:`.
struct ScaffoldError: Error, CustomStringConvertible {
    static let usage =
        "swift package --allow-writing-to-package-directory scaffold-policy --name MyScorer [--kind scorer|policy] [--registry-name my-scorer]"
    let description: String
    init(_ description: String) { self.description = description }
}

/// The files one scaffold writes and the registration it adds, checked before anything is written.
struct Scaffold {
    /// A scorer (one `score` function, the front door) or a whole eviction policy.
    enum Kind: String { case scorer, policy }

    static let policyDirectory = "Plugins/EvictionPolicies/User"
    static let testDirectory = "Tests/KVCompressTests/User"
    static let indexFile = "Plugins/EvictionPolicies/User/UserPlugins.swift"
    static let marker = "// scaffold-policy: new registrations go above this line"

    let root: URL
    let typeName: String
    let registryName: String
    let kind: Kind

    var policyPath: String { "\(Self.policyDirectory)/\(typeName).swift" }
    var testPath: String { "\(Self.testDirectory)/\(typeName)Tests.swift" }
    var registration: String { "register\(typeName)(in: registry)" }

    init(packageRoot: URL, typeName: String, registryName: String, kind: Kind = .scorer) throws {
        root = packageRoot
        self.typeName = typeName
        self.registryName = registryName
        self.kind = kind
        try validate()
    }

    func url(_ path: String) -> URL { root.appendingPathComponent(path) }

    // MARK: - Checks (all before the first write)

    private func validate() throws {
        let identifier = typeName.unicodeScalars
        guard let first = identifier.first, CharacterSet.uppercaseLetters.contains(first),
            identifier.allSatisfy({ $0.isASCII && CharacterSet.alphanumerics.contains($0) })
        else {
            throw ScaffoldError("--name '\(typeName)' must be a Swift type name: an ASCII capital letter, then letters and digits (e.g. MyPolicy)")
        }
        guard registryName.range(of: "^[a-z0-9]+(-[a-z0-9]+)*$", options: .regularExpression) != nil else {
            throw ScaffoldError("--registry-name '\(registryName)' must be lowercase words joined by '-' (e.g. my-policy)")
        }
        for path in [policyPath, testPath] where FileManager.default.fileExists(atPath: url(path).path) {
            throw ScaffoldError("\(path) already exists; refusing to overwrite it (choose another --name or remove the file)")
        }
        let sources = Self.swiftFiles(under: url("Plugins/EvictionPolicies")) + Self.swiftFiles(under: url("Sources/KVCompress"))
        for file in sources {
            let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
            for declaration in ["struct \(typeName)", "class \(typeName)", "enum \(typeName)", "protocol \(typeName)", "func register\(typeName)("]
            where text.range(of: "\\b\(NSRegularExpression.escapedPattern(for: declaration))\\b", options: .regularExpression) != nil {
                throw ScaffoldError("'\(typeName)' is already declared in \(file.path.replacingOccurrences(of: root.path + "/", with: "")); choose another --name")
            }
            if text.contains("(\(kind.rawValue): \"\(registryName)\"") {
                throw ScaffoldError("a \(kind.rawValue) is already registered as '\(registryName)' in \(file.lastPathComponent); choose another --registry-name")
            }
        }
        guard let index = try? String(contentsOf: url(Self.indexFile), encoding: .utf8) else {
            throw ScaffoldError("cannot read \(Self.indexFile), where user plug-ins are registered; restore it from git")
        }
        guard index.components(separatedBy: Self.marker).count == 2 else {
            throw ScaffoldError("\(Self.indexFile) must contain the line '\(Self.marker)' exactly once; restore it from git")
        }
    }

    static func swiftFiles(under directory: URL) -> [URL] {
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else { return [] }
        return walker.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
    }

    /// `MyPolicy` → `my-policy`, `KVDrop` → `kv-drop`, `Top2Heads` → `top2-heads`.
    static func kebabCase(_ name: String) -> String {
        let characters = Array(name)
        var out = ""
        for (i, c) in characters.enumerated() {
            if c.isUppercase, i > 0 {
                let previous = characters[i - 1]
                let nextIsLower = i + 1 < characters.count && characters[i + 1].isLowercase
                if previous.isLowercase || previous.isNumber || (previous.isUppercase && nextIsLower) { out.append("-") }
            }
            out.append(contentsOf: c.lowercased())
        }
        return out
    }

    // MARK: - Writing

    func write() throws {
        let fm = FileManager.default
        var created: [URL] = []
        do {
            for directory in [Self.policyDirectory, Self.testDirectory] {
                try fm.createDirectory(at: url(directory), withIntermediateDirectories: true)
            }
            let files =
                kind == .scorer
                ? [(policyPath, ScorerTemplates.scorer(self)), (testPath, ScorerTemplates.tests(self))]
                : [(policyPath, Templates.policy(self)), (testPath, Templates.tests(self))]
            for (path, text) in files {
                try Self.createAtomically(text, at: url(path))
                created.append(url(path))
            }
            let index = try String(contentsOf: url(Self.indexFile), encoding: .utf8)
            let updated = index.replacingOccurrences(of: "    " + Self.marker, with: "    \(registration)\n    \(Self.marker)")
            guard updated != index else { throw ScaffoldError("the marker in \(Self.indexFile) must be indented by four spaces") }
            // Written beside the index, then renamed over it (rename(2) replaces atomically).
            let temporary = url(Self.indexFile + ".scaffold-\(UUID().uuidString)")
            try Data(updated.utf8).write(to: temporary)
            guard rename(temporary.path, url(Self.indexFile).path) == 0 else {
                let why = String(cString: strerror(errno))
                try? fm.removeItem(at: temporary)
                throw ScaffoldError("could not update \(Self.indexFile): \(why); nothing was kept")
            }
        } catch {
            for file in created { try? fm.removeItem(at: file) }
            if let own = error as? ScaffoldError { throw own }
            throw ScaffoldError("could not write the scaffold (nothing was kept): \(error)")
        }
    }

    /// Writes `text` to a temporary file beside `destination` and moves it there; fails if `destination` exists.
    static func createAtomically(_ text: String, at destination: URL) throws {
        let temporary = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).scaffold-\(UUID().uuidString)")
        try Data(text.utf8).write(to: temporary)
        do { try FileManager.default.moveItem(at: temporary, to: destination) } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw ScaffoldError("\(destination.lastPathComponent) appeared while writing; refusing to overwrite it")
        }
    }

    var summary: String {
        """
        Created \(policyPath)
        Created \(testPath)
        Registered \(registration) in \(Self.indexFile)

        Next:
          swift build --target EvictionPolicies
          swift test --filter \(typeName)Tests
          \(kind == .scorer ? "kvc generate --scorer \(registryName) --compression kvcompress --rate 4 --prompt \"…\"" : "kvc generate --compression \(registryName) --rate 4 --prompt \"…\"")
        \(kind == .scorer ? "Edit the score in \(policyPath); choose the allocation with --compression." : "Edit the ranking (and, if you like, the budget split) in \(policyPath).")
        """
    }
}
