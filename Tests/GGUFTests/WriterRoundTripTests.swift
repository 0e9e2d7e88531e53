import Foundation
import SeededRandom
import Testing

import GGUF

/// GGUFWriter → GGUFFile round trips of metadata of every type and of every writable tensor type.
@Suite struct WriterRoundTripTests {
    static let everyValueType: [(String, GGUFValue)] = [
        ("t.uint8", .uint8(255)), ("t.int8", .int8(-128)), ("t.uint16", .uint16(65535)), ("t.int16", .int16(-32768)),
        ("t.uint32", .uint32(.max)), ("t.int32", .int32(.min)), ("t.float32", .float32(-0.1)),
        ("t.bool.true", .bool(true)), ("t.bool.false", .bool(false)), ("t.string", .string("héllo ✓")),
        ("t.string.empty", .string("")), ("t.uint64", .uint64(.max)), ("t.int64", .int64(.min)),
        ("t.float64", .float64(.pi)),
        ("t.array.string", .array([.string("a"), .string(""), .string("ü")])),
        ("t.array.float32", .array([.float32(1.5), .float32(-2)])),
        ("t.array.empty", .array([])),
        ("t.array.nested", .array([.array([.uint16(1)]), .array([.array([.int64(-5)])]), .array([])])),
    ]

    @Test func metadataOfEveryTypeSurvivesARoundTrip() throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { TestSupport.removeDirectory(directory) }
        var writer = GGUFWriter()
        for (key, value) in Self.everyValueType { writer.set(key, value) }
        writer.set("t.uint8", .uint8(7))  // replacing keeps the first position
        let path = directory + "/metadata.gguf"
        try writer.write(to: path)

        let file = try GGUFFile(path: path)
        #expect(file.version == 3)
        #expect(file.tensors.isEmpty)
        #expect(file.metadataKeys == Self.everyValueType.map(\.0))
        for (key, value) in Self.everyValueType where key != "t.uint8" {
            #expect(file.metadata[key] == value, "\(key)")
        }
        #expect(file.metadata["t.uint8"] == .uint8(7))
    }

    @Test func tensorsOfEveryWritableTypeSurviveARoundTrip() throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { TestSupport.removeDirectory(directory) }
        var generator = SplitMix64(seed: 42)
        let values = (0..<(64 * 3)).map { _ in Float.random(in: -2...2, using: &generator) }
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("test"))
        for type in GGMLType.writable {
            writer.addTensor(name: "w.\(type)", dimensions: [64, 3], data: values, type: type)
        }
        writer.addTensor(name: "scalar", dimensions: [1], data: [42], type: .f32)
        let path = directory + "/tensors.gguf"
        try writer.write(to: path)

        let file = try GGUFFile(path: path)
        #expect(file.tensors.map(\.name) == GGMLType.writable.map { "w.\($0)" } + ["scalar"])
        #expect(try file.dequantize(named: "scalar") == [42])
        #expect(try file.dequantize(named: "w.F32") == values)
        #expect(try file.dequantize(named: "w.F16") == values.map { Float(Float16($0)) })
        for type in GGMLType.writable {
            let tensor = try file.tensorInfo(named: "w.\(type)")
            #expect(tensor.dimensions == [64, 3])
            #expect(tensor.type == type)
            #expect(tensor.offset % 32 == 0)
            let decoded = try file.dequantize(tensor)
            // Reading back must give exactly what the encoder's bytes mean …
            let bytes = try Quantizer.quantize(values, to: type)
            let expected = bytes.withUnsafeBytes { Dequantizer.dequantize($0, type: type, elementCount: values.count) }
            #expect(decoded == expected, "\(type)")
            // … and those must be close to the input: within half a quantization step (4-bit
            // types: range/15 or max/8 per block; Q8_0: max/127) plus f16 rounding of the scale.
            let tolerance: Float = switch type {
            case .f32: 0
            case .f16: 1e-3
            case .bf16: 1e-2
            case .q8_0: 2.0 / 127
            default: 4.0 / 15 + 0.02
            }
            let worst = zip(decoded, values).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= tolerance, "\(type): worst error \(worst)")
        }
    }

    @Test func customAlignmentIsHonoured() throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { TestSupport.removeDirectory(directory) }
        var writer = GGUFWriter()
        writer.set("general.alignment", .uint32(64))
        writer.addTensor(name: "a", dimensions: [3], data: [1, 2, 3])
        writer.addTensor(name: "b", dimensions: [2], data: [4, 5], type: .f16)
        let path = directory + "/aligned.gguf"
        try writer.write(to: path)
        let file = try GGUFFile(path: path)
        #expect(file.alignment == 64)
        #expect(file.dataOffset % 64 == 0)
        #expect(try file.tensorInfo(named: "b").offset == 64)
        #expect(try file.dequantize(named: "b") == [4, 5])
    }

    @Test func rawTensorsOfAnyTypeAreWrittenAsGiven() throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { TestSupport.removeDirectory(directory) }
        let blocks = (0..<(2 * 210)).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var writer = GGUFWriter()
        writer.addTensor(name: "q6", dimensions: [256, 2], rawBytes: blocks, type: .q6_K)
        let path = directory + "/raw.gguf"
        try writer.write(to: path)
        let file = try GGUFFile(path: path)
        #expect(Array(try file.rawBytes(of: file.tensorInfo(named: "q6"))) == blocks)
    }

    @Test func inconsistentInputIsRefusedWithAReason() throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { TestSupport.removeDirectory(directory) }
        let path = directory + "/refused.gguf"
        let cases: [(String, (inout GGUFWriter) -> Void)] = [
            ("need 6", { $0.addTensor(name: "x", dimensions: [2, 3], data: [1, 2, 3]) }),
            ("block size", { $0.addTensor(name: "x", dimensions: [16], data: Array(repeating: 0, count: 16), type: .q8_0) }),
            ("cannot encode Q6_K", { $0.addTensor(name: "x", dimensions: [256], data: Array(repeating: 0, count: 256), type: .q6_K) }),
            ("not finite", { $0.addTensor(name: "x", dimensions: [32], data: [.nan] + Array(repeating: 0, count: 31), type: .q4_0) }),
            ("used twice", { $0.addTensor(name: "x", dimensions: [1], data: [1]); $0.addTensor(name: "x", dimensions: [1], data: [2]) }),
            ("positive dimensions", { $0.addTensor(name: "x", dimensions: [], data: [1]) }),
            ("positive dimensions", { $0.addTensor(name: "x", dimensions: [1, 1, 1, 1, 1], data: [1]) }),
            ("bytes", { $0.addTensor(name: "x", dimensions: [32], rawBytes: [1, 2], type: .q8_0) }),
            ("share one type", { $0.set("mixed", .array([.uint8(1), .int8(1)])) }),
            ("power of two", { $0.set("general.alignment", .uint32(24)) }),
            ("power of two", { $0.set("general.alignment", .uint64(32)) }),
        ]
        for (expectedReason, build) in cases {
            var writer = GGUFWriter()
            build(&writer)
            let error = TestSupport.error { () throws(GGUFError) in try writer.write(to: path) }
            guard case .invalidWriterInput(let file, let reason) = error else {
                Issue.record("expected invalidWriterInput for '\(expectedReason)', got \(String(describing: error))")
                continue
            }
            #expect(file == path)
            #expect(reason.contains(expectedReason), "\(reason)")
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test func unwritablePathsAreNamedAndLeaveNothingBehind() throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { TestSupport.removeDirectory(directory) }
        var writer = GGUFWriter()
        writer.addTensor(name: "x", dimensions: [1], data: [1])
        let missingDirectory = directory + "/no/such/dir/model.gguf"
        let error = TestSupport.error { () throws(GGUFError) in try writer.write(to: missingDirectory) }
        #expect(error?.file == missingDirectory)
        #expect(error?.description.contains(missingDirectory) == true)

        // Renaming over a directory fails after the data was written: the temporary file must go.
        let occupied = directory + "/occupied"
        try FileManager.default.createDirectory(atPath: occupied + "/inside", withIntermediateDirectories: true)
        let renameError = TestSupport.error { () throws(GGUFError) in try writer.write(to: occupied) }
        guard case .writeFailed(let file, _) = renameError else {
            Issue.record("expected writeFailed, got \(String(describing: renameError))")
            return
        }
        #expect(file == occupied)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["occupied"])
    }

    @Test func rewritingReplacesTheOldFileAtomically() throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { TestSupport.removeDirectory(directory) }
        let path = directory + "/model.gguf"
        var writer = GGUFWriter()
        writer.set("generation", .uint32(1))
        try writer.write(to: path)
        let first = try GGUFFile(path: path)  // keeps the old mapping alive while replacing
        writer.set("generation", .uint32(2))
        try writer.write(to: path)
        #expect(try first.int("generation") == 1)
        #expect(try GGUFFile(path: path).int("generation") == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["model.gguf"])
    }
}
