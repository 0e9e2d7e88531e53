import Foundation
import SeededRandom
import Testing

import GGUF

/// Every kind of broken file gives a GGUFError naming the file and the problem, never a crash.
@Suite struct CorruptFileTests {
    let directory: String

    init() throws {
        directory = try TestSupport.temporaryDirectory()
    }

    // Each test owns its directory; Swift Testing has no teardown, so remove it per test.
    private func cleanUp() { TestSupport.removeDirectory(directory) }

    /// A valid file with metadata of every type and tensors of several types (written by GGUFWriter).
    static func validFile() throws -> [UInt8] {
        var writer = GGUFWriter()
        for (key, value) in WriterRoundTripTests.everyValueType { writer.set(key, value) }
        var generator = SplitMix64(seed: 7)
        let values = (0..<64).map { _ in Float.random(in: -1...1, using: &generator) }
        writer.addTensor(name: "a.f32", dimensions: [8, 8], data: values, type: .f32)
        writer.addTensor(name: "b.q8_0", dimensions: [32, 2], data: values, type: .q8_0)
        writer.addTensor(name: "c.q4_1", dimensions: [64], data: values, type: .q4_1)
        writer.addTensor(name: "d.f16", dimensions: [4, 4, 2, 2], data: values, type: .f16)
        return try writer.encode()
    }

    @Test func missingFile() {
        defer { cleanUp() }
        let path = directory + "/absent.gguf"
        let error = TestSupport.error { () throws(GGUFError) in try GGUFFile(path: path) }
        #expect(error == .fileNotFound(file: path))
        #expect(error?.description.contains(path) == true)
    }

    @Test func directoryInsteadOfAFile() {
        defer { cleanUp() }
        let error = TestSupport.error { () throws(GGUFError) in try GGUFFile(path: directory) }
        #expect(error == .unreadable(file: directory, reason: "not a regular file"))
    }

    @Test func unreadableFile() throws {
        defer { cleanUp() }
        let path = directory + "/locked.gguf"
        try TestSupport.write(Self.validFile(), to: path)
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: path)
        // root may read anything; the check only means something for other users.
        guard getuid() != 0 else { return }
        guard case .unreadable(let file, _) = TestSupport.error({ () throws(GGUFError) in try GGUFFile(path: path) }) else {
            Issue.record("expected .unreadable")
            return
        }
        #expect(file == path)
    }

    @Test func emptyFileIsTruncated() {
        defer { cleanUp() }
        guard case .failure(let error) = TestSupport.parse([], in: directory),
              case .truncated(_, "magic", 0, 4, 0) = error else {
            Issue.record("expected a truncated magic")
            return
        }
    }

    @Test func badMagic() {
        defer { cleanUp() }
        var builder = RawGGUFBuilder()
        builder.magic("GGML")
        builder.u32(3)
        let result = TestSupport.parse(builder.bytes, in: directory)
        #expect(throws: GGUFError.badMagic(file: directory + "/test.gguf", found: Array("GGML".utf8))) { try result.get() }
    }

    @Test(arguments: [UInt32(0), 1, 4, 0x0300_0000])
    func unsupportedVersions(version: UInt32) {
        defer { cleanUp() }
        var builder = RawGGUFBuilder()
        builder.header(version: version, tensors: 0, metadata: 0)
        let result = TestSupport.parse(builder.bytes, in: directory)
        #expect(throws: GGUFError.unsupportedVersion(file: directory + "/test.gguf", version: version)) { try result.get() }
        if case .failure(let error) = result, version == 1 || version == 0x0300_0000 {
            #expect(error.description.contains(version == 1 ? "re-convert" : "big-endian"))
        }
    }

    @Test(arguments: [UInt32(2), 3])
    func versionsTwoAndThreeAreRead(version: UInt32) throws {
        defer { cleanUp() }
        var builder = RawGGUFBuilder()
        builder.header(version: version, tensors: 1, metadata: 1)
        builder.string("general.name")
        builder.u32(8)
        builder.string("tiny")
        builder.tensorInfo(name: "t", dimensions: [2], type: 0, offset: 0)
        builder.pad()
        builder.u32(Float(1.5).bitPattern)
        builder.u32(Float(-3).bitPattern)
        let file = try TestSupport.parse(builder.bytes, in: directory).get()
        #expect(file.version == version)
        #expect(try file.string("general.name") == "tiny")
        #expect(try file.dequantize(named: "t") == [1.5, -3])
    }

    @Test func unknownValueType() {
        defer { cleanUp() }
        var builder = RawGGUFBuilder()
        builder.header(tensors: 0, metadata: 1)
        builder.string("weird.key")
        builder.u32(13)
        builder.u64(0)
        let result = TestSupport.parse(builder.bytes, in: directory)
        #expect(throws: GGUFError.unknownValueType(file: directory + "/test.gguf", key: "weird.key", rawType: 13)) {
            try result.get()
        }
    }

    @Test func unknownArrayElementType() {
        defer { cleanUp() }
        var builder = RawGGUFBuilder()
        builder.header(tensors: 0, metadata: 1)
        builder.string("weird.array")
        builder.u32(9)
        builder.u32(99)
        builder.u64(1)
        let result = TestSupport.parse(builder.bytes, in: directory)
        #expect(throws: GGUFError.unknownValueType(file: directory + "/test.gguf", key: "weird.array", rawType: 99)) {
            try result.get()
        }
    }

    @Test(arguments: [UInt32(4), 5, 31, 1000])
    func unknownTensorType(rawType: UInt32) {
        defer { cleanUp() }
        var builder = RawGGUFBuilder()
        builder.header(tensors: 1, metadata: 0)
        builder.tensorInfo(name: "mystery", dimensions: [32], type: rawType, offset: 0)
        let result = TestSupport.parse(builder.bytes, in: directory)
        #expect(throws: GGUFError.unknownTensorType(file: directory + "/test.gguf", tensor: "mystery", rawType: rawType)) {
            try result.get()
        }
    }

    @Test func tensorDataOutsideTheFile() {
        defer { cleanUp() }
        var builder = RawGGUFBuilder()
        builder.header(tensors: 1, metadata: 0)
        builder.tensorInfo(name: "big", dimensions: [16], type: 0, offset: 0)
        builder.pad()
        builder.bytes += Array(repeating: 0, count: 60)  // 64 bytes needed
        let result = TestSupport.parse(builder.bytes, in: directory)
        #expect(throws: GGUFError.tensorDataOutOfBounds(file: directory + "/test.gguf", tensor: "big", offset: 0,
                                                        byteCount: 64, dataSize: 60)) { try result.get() }
    }

    @Test func hugeOffsetOrDimensionsAreRejectedWithoutOverflow() {
        defer { cleanUp() }
        for (dimensions, offset) in [([UInt64(16)], UInt64.max - 31), ([1 << 40, 1 << 40], 0), ([UInt64.max], 0)] {
            var builder = RawGGUFBuilder()
            builder.header(tensors: 1, metadata: 0)
            builder.tensorInfo(name: "huge", dimensions: dimensions, type: 0, offset: offset)
            builder.pad()
            guard case .failure(let error) = TestSupport.parse(builder.bytes, in: directory) else {
                Issue.record("accepted \(dimensions) at \(offset)")
                continue
            }
            #expect(error.description.contains("huge"), "\(error)")
        }
    }

    @Test func invalidTensorDescriptions() {
        defer { cleanUp() }
        let cases: [(String, (inout RawGGUFBuilder) -> Void)] = [
            ("rank 5", { $0.tensorInfo(name: "t", dimensions: [1, 1, 1, 1, 1], type: 0, offset: 0) }),
            ("block size", { $0.tensorInfo(name: "t", dimensions: [33], type: 8, offset: 0) }),
            ("alignment", { $0.tensorInfo(name: "t", dimensions: [1], type: 0, offset: 4) }),
        ]
        for (reason, describe) in cases {
            var builder = RawGGUFBuilder()
            builder.header(tensors: 1, metadata: 0)
            describe(&builder)
            builder.pad()
            builder.bytes += Array(repeating: 0, count: 256)
            guard case .failure(.invalidTensor(_, "t", let message)) = TestSupport.parse(builder.bytes, in: directory) else {
                Issue.record("expected invalidTensor for \(reason)")
                continue
            }
            #expect(message.contains(reason), "\(message)")
        }
    }

    @Test func duplicateKeysAndTensorsAreRejected() {
        defer { cleanUp() }
        var keys = RawGGUFBuilder()
        keys.header(tensors: 0, metadata: 2)
        for _ in 0..<2 {
            keys.string("same")
            keys.u32(0)
            keys.u8(1)
        }
        guard case .failure(.malformed(_, _, let reason)) = TestSupport.parse(keys.bytes, in: directory) else {
            Issue.record("duplicate key accepted")
            return
        }
        #expect(reason.contains("twice"))

        var tensors = RawGGUFBuilder()
        tensors.header(tensors: 2, metadata: 0)
        tensors.tensorInfo(name: "same", dimensions: [1], type: 0, offset: 0)
        tensors.tensorInfo(name: "same", dimensions: [1], type: 0, offset: 32)
        tensors.pad()
        tensors.bytes += Array(repeating: 0, count: 64)
        #expect(throws: GGUFError.invalidTensor(file: directory + "/test.gguf", tensor: "same", reason: "the name appears twice")) {
            try TestSupport.parse(tensors.bytes, in: directory).get()
        }
    }

    @Test func stringLongerThanTheFile() {
        defer { cleanUp() }
        var builder = RawGGUFBuilder()
        builder.header(tensors: 0, metadata: 1)
        builder.u64(1 << 62)  // key length
        builder.bytes += Array("abc".utf8) + Array(repeating: 0, count: 20)
        guard case .failure(.truncated(let file, let what, _, let needed, _)) = TestSupport.parse(builder.bytes, in: directory) else {
            Issue.record("expected truncated")
            return
        }
        #expect(file == directory + "/test.gguf")
        #expect(what.contains("key of metadata entry 0"))
        #expect(needed == 1 << 62)
    }

    @Test func countsLargerThanTheFileFailBeforeAllocating() {
        defer { cleanUp() }
        for (tensors, metadata) in [(UInt64.max, UInt64(0)), (0, UInt64.max), (0, 1 << 40)] {
            var builder = RawGGUFBuilder()
            builder.header(tensors: tensors, metadata: metadata)
            guard case .failure(.truncated) = TestSupport.parse(builder.bytes, in: directory) else {
                Issue.record("counts \(tensors), \(metadata) accepted")
                continue
            }
        }
        var array = RawGGUFBuilder()
        array.header(tensors: 0, metadata: 1)
        array.string("a")
        array.u32(9)
        array.u32(8)  // strings
        array.u64(UInt64.max)
        guard case .failure(.truncated) = TestSupport.parse(array.bytes, in: directory) else {
            Issue.record("array count accepted")
            return
        }
    }

    @Test func deeplyNestedArraysAreRejected() {
        defer { cleanUp() }
        var builder = RawGGUFBuilder()
        builder.header(tensors: 0, metadata: 1)
        builder.string("deep")
        builder.u32(9)
        for _ in 0..<10_000 {
            builder.u32(9)
            builder.u64(1)
        }
        guard case .failure(.malformed(_, _, let reason)) = TestSupport.parse(builder.bytes, in: directory) else {
            Issue.record("deep nesting accepted")
            return
        }
        #expect(reason.contains("nested"))
    }

    @Test func invalidUTF8AndBadBoolsAreMalformed() {
        defer { cleanUp() }
        var utf8 = RawGGUFBuilder()
        utf8.header(tensors: 0, metadata: 1)
        utf8.u64(2)
        utf8.bytes += [0xC3, 0x28]
        utf8.u32(0)
        utf8.u8(0)
        guard case .failure(.malformed(_, _, let reason)) = TestSupport.parse(utf8.bytes, in: directory) else {
            Issue.record("invalid UTF-8 accepted")
            return
        }
        #expect(reason.contains("UTF-8"))

        var bool = RawGGUFBuilder()
        bool.header(tensors: 0, metadata: 1)
        bool.string("flag")
        bool.u32(7)
        bool.u8(2)
        guard case .failure(.malformed(_, _, let boolReason)) = TestSupport.parse(bool.bytes, in: directory) else {
            Issue.record("bool 2 accepted")
            return
        }
        #expect(boolReason.contains("flag"))
    }

    @Test func alignmentOfTheWrongTypeOrValue() {
        defer { cleanUp() }
        var wrongType = RawGGUFBuilder()
        wrongType.header(tensors: 0, metadata: 1)
        wrongType.string("general.alignment")
        wrongType.u32(10)
        wrongType.u64(32)
        #expect(throws: GGUFError.wrongType(key: "general.alignment", expected: "uint32", found: "uint64",
                                            file: directory + "/test.gguf")) {
            try TestSupport.parse(wrongType.bytes, in: directory).get()
        }
        var notPowerOfTwo = RawGGUFBuilder()
        notPowerOfTwo.header(tensors: 0, metadata: 1)
        notPowerOfTwo.string("general.alignment")
        notPowerOfTwo.u32(4)
        notPowerOfTwo.u32(48)
        guard case .failure(.malformed) = TestSupport.parse(notPowerOfTwo.bytes, in: directory) else {
            Issue.record("alignment 48 accepted")
            return
        }
    }

    /// Cutting a valid file anywhere must throw (the last tensor ends the file, so no cut leaves
    /// a complete file), and the message must name the file.
    @Test func truncationAtEveryOffsetThrows() throws {
        defer { cleanUp() }
        let valid = try Self.validFile()
        let path = directory + "/cut.gguf"
        #expect(throws: Never.self) { _ = try TestSupport.parse(valid, in: directory, name: "cut.gguf").get() }
        // The last tensor's data ends at the last non-padding byte; cut before it.
        let lastDataByte = try GGUFFile(path: path).dataOffset + GGUFFile(path: path).tensors.map { $0.offset + $0.byteCount }.max()!
        for length in 0..<lastDataByte {
            let result = TestSupport.parse(Array(valid[0..<length]), in: directory, name: "cut.gguf")
            guard case .failure(let error) = result else {
                Issue.record("a file cut to \(length) of \(valid.count) bytes was accepted")
                continue
            }
            #expect(error.file == path)
        }
    }

    /// The same for a file written by gguf-py: every cut inside the header, and cuts through the
    /// data section at a stride.
    @Test func truncatingAFileOfGGUFPyThrows() throws {
        defer { cleanUp() }
        let source = try TestSupport.fixture("quant-reference.gguf")
        let valid = try Array(Data(contentsOf: URL(fileURLWithPath: source)))
        let file = try GGUFFile(path: source)
        let end = file.dataOffset + file.tensors.map { $0.offset + $0.byteCount }.max()!
        for length in Array(0..<file.dataOffset) + Array(stride(from: file.dataOffset, to: end, by: 97)) {
            guard case .failure(let error) = TestSupport.parse(Array(valid[0..<length]), in: directory, name: "cut.gguf") else {
                Issue.record("a copy of quant-reference.gguf cut to \(length) bytes was accepted")
                continue
            }
            #expect(error.file.hasSuffix("cut.gguf"))
        }
    }

    /// Random byte flips in a valid file: parsing and dequantizing either succeed or throw a
    /// GGUFError, but never crash (a crash would end the test process).
    @Test func randomByteFlipsNeverCrash() throws {
        defer { cleanUp() }
        let valid = try Self.validFile()
        var generator = SplitMix64(seed: 2024)
        var rejected = 0
        let trials = 3000
        for trial in 0..<trials {
            var corrupt = valid
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                // Mostly the header, where flips change structure; sometimes anywhere.
                let limit = trial % 4 == 0 ? corrupt.count : min(corrupt.count, 700)
                let index = Int.random(in: 0..<limit, using: &generator)
                corrupt[index] ^= UInt8.random(in: 1...255, using: &generator)
            }
            switch TestSupport.parse(corrupt, in: directory, name: "flip.gguf") {
            case .failure(let error):
                rejected += 1
                #expect(!error.description.isEmpty)
            case .success(let file):
                for tensor in file.tensors {
                    _ = try? file.dequantize(tensor)
                }
                for key in file.metadataKeys {
                    _ = try? file.stringArray(key)
                    _ = try? file.floatArray(key)
                }
            }
        }
        #expect(rejected > trials / 10)
    }

    /// Inputs the libFuzzer target (scripts/fuzz.sh) found crashing, minus its mode byte: each now
    /// parses or throws a GGUFError, and dequantizing what parses never traps. The same bytes are
    /// seeds in Fuzz/corpus (named regression-*).
    @Test(arguments: FuzzerFindings.all)
    func fuzzerFindingNeverCrashes(_ finding: FuzzerFindings.Finding) throws {
        defer { cleanUp() }
        let bytes = try #require(Data(base64Encoded: finding.base64)).dropFirst()
        switch TestSupport.parse(Array(bytes), in: directory, name: "fuzz.gguf") {
        case .failure(let error):
            #expect(error.description.contains(finding.expectedMessage), "\(error)")
        case .success(let file):
            Issue.record("\(finding.name) was accepted: \(file.description)")
        }
    }
}

/// Crashing inputs found by the fuzzer, kept as regression cases (base64 of the whole fuzzer
/// input, mode byte included, as libFuzzer prints it).
enum FuzzerFindings {
    struct Finding: Sendable, CustomTestStringConvertible {
        let name: String
        let base64: String
        /// A part of the error's description that names the problem.
        let expectedMessage: String
        var testDescription: String { name }
    }

    static let all: [Finding] = [
        Finding(
            name: "2026-12-04: a rank-0 tensor of a block type",
            base64: "AEdHVUYDAAAABAAAAAAAAAACAAAAAAAAABQAAAAAAAAAZ2VuZXJhbC5hcmNoaXRlY3R1cmUIAAAABQAAAAAAAABsbGFtYREAAAAAAAAAbGxhbWEuYmxvY2tfY291bnQEAAAAAQAAAAsAAAAAAAAABAAAAAAAAAAAAAAAAAAAAgAAAAAAAwAAAAAAAABmMTYCAAAAAQAAPAAAAAAIAAAAAABxAjAAOF8AAEAAAAAAAAAAAgAAAAAAAACJklu1ZDO2AAAAAAAEAAAAAAAAAHE0XzACAAAAQAAAa2icmHicpnoApwAAAAAAAAAA//8AAAAAAAAAAAAAAAAAAA==",
            expectedMessage: "a scalar (rank 0) is not a multiple of the"),
    ]
}
