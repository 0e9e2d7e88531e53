import Foundation
import Testing

import GGUF

/// Reading quant-reference.gguf, a file written by gguf-py's GGUFWriter (not by this module), and
/// comparing every dequantizer and quantizer with gguf-py's results.
@Suite struct ReferenceFileTests {
    let file: GGUFFile

    init() throws {
        file = try GGUFFile(path: TestSupport.fixture("quant-reference.gguf"))
    }

    @Test func headerOfAFileWrittenByGGUFPy() {
        #expect(file.version == 3)
        #expect(file.alignment == 32)
        #expect(file.dataOffset % 32 == 0)
        #expect(file.metadata["general.architecture"] == .string("fixture"))
        #expect(file.metadataKeys.first == "general.architecture")
        #expect(file.tensors.count == 2 * GGMLType.dequantizable.count + 1 + 5)
    }

    @Test func metadataOfEveryValueType() throws {
        let expected: [String: GGUFValue] = [
            "fixture.uint8": .uint8(200),
            "fixture.int8": .int8(-100),
            "fixture.uint16": .uint16(60000),
            "fixture.int16": .int16(-30000),
            "fixture.uint32": .uint32(4_000_000_000),
            "fixture.int32": .int32(-2_000_000_000),
            "fixture.float32": .float32(0.15625),
            "fixture.bool": .bool(true),
            "fixture.string": .string("Grüße, GGUF ✓"),
            "fixture.uint64": .uint64(18_000_000_000_000_000_000),
            "fixture.int64": .int64(-9_000_000_000_000_000_000),
            "fixture.float64": .float64(-2.718281828459045),
            "fixture.array_int32": .array([.int32(1), .int32(-2), .int32(3)]),
            "fixture.array_uint8": .array([.uint8(1), .uint8(2), .uint8(255)]),
            "fixture.array_float32": .array([.float32(0.5), .float32(-1.25)]),
            "fixture.array_string": .array([.string("a"), .string("bc"), .string("")]),
            "fixture.array_bool": .array([.bool(true), .bool(false)]),
            "fixture.array_nested": .array([
                .array([.int32(1), .int32(2)]), .array([.int32(3)]), .array([.string("x"), .string("y")]),
            ]),
        ]
        for (key, value) in expected {
            #expect(file.metadata[key] == value, "\(key)")
        }
    }

    @Test func typedAccessorsConvertWhatTheyShould() throws {
        #expect(try file.int("fixture.uint8") == 200)
        #expect(try file.int("fixture.int64") == -9_000_000_000_000_000_000)
        #expect(try file.int("fixture.uint32") == 4_000_000_000)
        #expect(try file.float("fixture.float64") == Float(-2.718281828459045))
        #expect(try file.float("fixture.int16") == -30000)
        #expect(try file.bool("fixture.bool"))
        #expect(try file.string("fixture.string") == "Grüße, GGUF ✓")
        #expect(try file.stringArray("fixture.array_string") == ["a", "bc", ""])
        #expect(try file.intArray("fixture.array_uint8") == [1, 2, 255])
        #expect(try file.floatArray("fixture.array_float32") == [0.5, -1.25])
        #expect(try file.floatArray("fixture.array_int32") == [1, -2, 3])
        #expect(file.has("fixture.bool"))
        #expect(!file.has("fixture.nothing"))
    }

    @Test func accessorsNameTheKeyWhenTheTypeIsWrong() throws {
        let path = file.path
        #expect(TestSupport.error { () throws(GGUFError) in try file.string("fixture.uint8") }
                == .wrongType(key: "fixture.uint8", expected: "string", found: "uint8 200", file: path))
        // A uint64 above Int.max does not fit into Int.
        let tooLarge = TestSupport.error { () throws(GGUFError) in try file.int("fixture.uint64") }
        #expect(tooLarge?.description.contains("fixture.uint64") == true)
        let notAnArray = TestSupport.error { () throws(GGUFError) in try file.stringArray("fixture.string") }
        #expect(notAnArray?.description.contains("fixture.string") == true)
        let mixed = TestSupport.error { () throws(GGUFError) in try file.intArray("fixture.array_string") }
        #expect(mixed?.description.contains("element 0") == true)
        #expect(TestSupport.error { () throws(GGUFError) in try file.bool("fixture.int8") }?.description
                .contains(path) == true)
        #expect(TestSupport.error { () throws(GGUFError) in try file.int("no.such.key") }
                == .missingKey(key: "no.such.key", file: path))
        #expect(TestSupport.error { () throws(GGUFError) in try file.tensorInfo(named: "no.such.tensor") }
                == .missingTensor(name: "no.such.tensor", file: path))
    }

    /// Every dequantizer against gguf-py on random blocks. Converting f16 scales to float32 and
    /// the arithmetic order match ggml, so the results must be bit-identical.
    @Test(arguments: GGMLType.dequantizable)
    func dequantizationMatchesGGUFPyBitForBit(type: GGMLType) throws {
        let blocks = try file.tensorInfo(named: "\(type).blocks")
        #expect(blocks.type == type)
        let expected = try file.dequantize(named: "\(type).expected")
        let actual = try file.dequantize(blocks)
        #expect(actual.count == blocks.elementCount)
        #expect(actual.count == expected.count)
        let mismatches = zip(actual, expected).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
        let firstMismatches = mismatches.prefix(3).map { "[\($0.offset)] \($0.element.0) vs \($0.element.1)" }
        #expect(mismatches.count == 0, "\(type): first mismatches \(firstMismatches)")
    }

    /// The quantizers against gguf-py's (which reproduces ggml's reference quantizers) byte for byte.
    @Test(arguments: [GGMLType.f16, .bf16, .q8_0, .q4_0, .q4_1])
    func quantizationMatchesGGUFPyByteForByte(type: GGMLType) throws {
        let input = try file.dequantize(named: "quantize.input")
        let reference = try file.rawBytes(of: file.tensorInfo(named: "quantize.\(type)"))
        let encoded = try Quantizer.quantize(input, to: type)
        #expect(encoded == Array(reference))
    }

    @Test func unsupportedTypesAreReportedByName() throws {
        let fake = GGUFTensorInfo(name: "fake", dimensions: [256], type: .iq2_xxs, offset: 0)
        let error = TestSupport.error { () throws(GGUFError) in try file.dequantize(fake) }
        #expect(error == .unsupportedTensorType(file: file.path, tensor: "fake", type: .iq2_xxs))
        #expect(error?.description.contains("IQ2_XXS") == true)
    }

    @Test func handMadeTensorInfosOutsideTheDataAreRejected() throws {
        let outside = GGUFTensorInfo(name: "outside", dimensions: [32], type: .f32, offset: file.dataSize)
        #expect(TestSupport.error { () throws(GGUFError) in try file.dequantize(outside) }
                == .tensorDataOutOfBounds(file: file.path, tensor: "outside", offset: file.dataSize, byteCount: 128,
                                          dataSize: file.dataSize))
        let ragged = GGUFTensorInfo(name: "ragged", dimensions: [33], type: .q8_0, offset: 0)
        #expect(TestSupport.error { () throws(GGUFError) in try file.dequantize(ragged) }?.description
                .contains("block size") == true)
    }
}
