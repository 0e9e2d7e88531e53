import Foundation
import SeededRandom
import Testing

import GGUF

/// Paths and helpers shared by the GGUF tests.
enum TestSupport {
    /// A file of `Fixtures/` (made by scripts/reference/make_gguf_fixtures.py).
    static func fixture(_ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil),
                               "fixture \(name) is missing; run scripts/reference/make_gguf_fixtures.py")
        return url.path
    }

    /// The default model: `$KVC_MODEL`, else models/SmolLM2-135M-Instruct.Q4_1.gguf of the package.
    static func modelPath() throws -> String {
        let path = ProcessInfo.processInfo.environment["KVC_MODEL"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        try #require(FileManager.default.fileExists(atPath: path),
                     "model file \(path) is missing: run scripts/fetch-model.sh (or set KVC_MODEL)")
        return path
    }

    /// A fresh empty directory, removed by the caller with `removeDirectory`.
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "gguf-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func removeDirectory(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Opens `bytes` as a GGUF file (written to a temporary path); returns the result of the parse.
    static func parse(_ bytes: [UInt8], in directory: String, name: String = "test.gguf") -> Result<GGUFFile, GGUFError> {
        let path = directory + "/" + name
        do {
            try write(bytes, to: path)
        } catch {
            Issue.record("cannot write \(path): \(error)")
        }
        return Result { () throws(GGUFError) in try GGUFFile(path: path) }
    }

    /// The GGUF error `body` throws, or nil (recording an issue) when it throws none.
    static func error<T>(_ body: () throws(GGUFError) -> T) -> GGUFError? {
        do {
            _ = try body()
            Issue.record("expected a GGUFError, but the call succeeded")
            return nil
        } catch {
            return error
        }
    }
}

/// Builds GGUF bytes field by field, for files `GGUFWriter` refuses to produce (bad magic,
/// unknown type ids, corrupt counts).
struct RawGGUFBuilder {
    var bytes: [UInt8] = []

    mutating func magic(_ text: String = "GGUF") { bytes.append(contentsOf: Array(text.utf8)) }
    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func string(_ text: String) {
        u64(UInt64(text.utf8.count))
        bytes.append(contentsOf: Array(text.utf8))
    }
    /// magic, version, tensor count, metadata count.
    mutating func header(version: UInt32 = 3, tensors: UInt64, metadata: UInt64) {
        magic()
        u32(version)
        u64(tensors)
        u64(metadata)
    }
    mutating func tensorInfo(name: String, dimensions: [UInt64], type: UInt32, offset: UInt64) {
        string(name)
        u32(UInt32(dimensions.count))
        for dimension in dimensions { u64(dimension) }
        u32(type)
        u64(offset)
    }
    mutating func pad(to alignment: Int = 32) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }
}
