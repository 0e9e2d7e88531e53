#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds a GGUF version 3 file: metadata of every value type and tensors given as float32 data
/// (stored as F32, F16, BF16, Q8_0, Q4_0 or Q4_1) or as raw bytes of any type.
///
///     var writer = GGUFWriter()
///     writer.set("general.architecture", .string("llama"))
///     writer.set("llama.block_count", .uint32(2))
///     writer.addTensor(name: "output_norm.weight", dimensions: [64], data: weights, type: .f32)
///     try writer.write(to: "/tmp/tiny.gguf")
///
/// Nothing is checked until `write`/`encode`, which report every inconsistency as
/// `GGUFError.invalidWriterInput`. Writing is atomic: a temporary file in the same directory is
/// renamed over `path` only when complete, so a failed write never leaves a half-written file.
public struct GGUFWriter: Sendable {
    /// The tensor data as the caller handed it over.
    private enum Payload: Sendable {
        case floats([Float])
        case raw([UInt8])
    }

    private struct PendingTensor: Sendable {
        let name: String
        let dimensions: [Int]
        let type: GGMLType
        let payload: Payload
    }

    private var metadataKeys: [String] = []
    private var metadataValues: [String: GGUFValue] = [:]
    private var pendingTensors: [PendingTensor] = []

    public init() {}

    /// Sets (or replaces) a metadata value; keys keep the order of their first `set`.
    /// Setting `general.alignment` (as `.uint32`, a power of two) changes the data alignment.
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if metadataValues.updateValue(value, forKey: key) == nil { metadataKeys.append(key) }
    }

    /// Adds a tensor from float32 values in ggml order (`dimensions[0]` fastest), encoded as
    /// `type` (one of `GGMLType.writable`). Tensors are stored in the order they are added.
    public mutating func addTensor(name: String, dimensions: [Int], data: [Float], type: GGMLType = .f32) {
        pendingTensors.append(PendingTensor(name: name, dimensions: dimensions, type: type, payload: .floats(data)))
    }

    /// Adds a tensor whose bytes are already encoded as `type` (any type, e.g. Q6_K blocks).
    public mutating func addTensor(name: String, dimensions: [Int], rawBytes: [UInt8], type: GGMLType) {
        pendingTensors.append(PendingTensor(name: name, dimensions: dimensions, type: type, payload: .raw(rawBytes)))
    }

    /// Writes the file atomically (temporary file + rename). Throws `.invalidWriterInput` for
    /// inconsistent input and `.writeFailed` when the file system refuses, both naming `path`.
    public func write(to path: String) throws(GGUFError) {
        let bytes = try encode(path: path)
        try Self.writeAtomically(bytes, to: path)
    }

    /// The complete file as bytes; `path` only names the destination in error messages.
    public func encode(path: String = "<memory>") throws(GGUFError) -> [UInt8] {
        func invalid(_ reason: String) -> GGUFError { .invalidWriterInput(file: path, reason: reason) }

        let alignment = try alignment(path: path)
        var output = ByteWriter()
        output.append(contentsOf: Array("GGUF".utf8))
        output.append(UInt32(3))
        output.append(UInt64(pendingTensors.count))
        output.append(UInt64(metadataKeys.count))
        for key in metadataKeys {
            let value = metadataValues[key]!
            output.appendString(key)
            output.append(value.valueType.rawValue)
            do throws(EncodingFailure) {
                try Self.appendValue(value, to: &output)
            } catch {
                throw invalid("metadata key '\(key)': \(error.reason)")
            }
        }

        var tensorData: [[UInt8]] = []
        var names = Set<String>()
        var offset = 0
        for tensor in pendingTensors {
            let bytes = try Self.encodeTensor(tensor, invalid: invalid)
            guard names.insert(tensor.name).inserted else { throw invalid("tensor name '\(tensor.name)' is used twice") }
            output.appendString(tensor.name)
            output.append(UInt32(tensor.dimensions.count))
            for dimension in tensor.dimensions { output.append(UInt64(dimension)) }
            output.append(tensor.type.rawValue)
            output.append(UInt64(offset))
            offset += Self.padded(bytes.count, to: alignment)
            tensorData.append(bytes)
        }

        output.pad(to: alignment)
        for bytes in tensorData {
            output.append(contentsOf: bytes)
            output.pad(to: alignment)
        }
        return output.bytes
    }

    // MARK: - Validation and encoding

    private func alignment(path: String) throws(GGUFError) -> Int {
        guard let value = metadataValues["general.alignment"] else { return GGUFFile.defaultAlignment }
        guard case .uint32(let alignment) = value, alignment > 0, alignment & (alignment - 1) == 0 else {
            throw .invalidWriterInput(file: path, reason: "general.alignment must be a uint32 power of two, not \(value)")
        }
        return Int(alignment)
    }

    private static func encodeTensor(
        _ tensor: PendingTensor, invalid: (String) -> GGUFError
    ) throws(GGUFError) -> [UInt8] {
        let name = tensor.name
        guard (1...GGUFFile.maximumRank).contains(tensor.dimensions.count), tensor.dimensions.allSatisfy({ $0 > 0 }) else {
            throw invalid("tensor '\(name)' needs 1 to \(GGUFFile.maximumRank) positive dimensions, not \(tensor.dimensions)")
        }
        var elementCount = 1
        for dimension in tensor.dimensions {
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw invalid("tensor '\(name)' has too many elements: \(tensor.dimensions)") }
            elementCount = product
        }
        guard tensor.dimensions[0] % tensor.type.blockSize == 0 else {
            throw invalid("tensor '\(name)': dimension 0 (\(tensor.dimensions[0])) is not a multiple of the "
                          + "\(tensor.type) block size \(tensor.type.blockSize)")
        }
        switch tensor.payload {
        case .floats(let values):
            guard values.count == elementCount else {
                throw invalid("tensor '\(name)' has \(values.count) values but dimensions \(tensor.dimensions) need \(elementCount)")
            }
            do throws(Quantizer.Failure) {
                return try Quantizer.quantize(values, to: tensor.type)
            } catch {
                throw invalid("tensor '\(name)': \(error)")
            }
        case .raw(let bytes):
            let expected = elementCount / tensor.type.blockSize * tensor.type.bytesPerBlock
            guard bytes.count == expected else {
                throw invalid("tensor '\(name)' has \(bytes.count) bytes but \(elementCount) \(tensor.type) elements need \(expected)")
            }
            return bytes
        }
    }

    private struct EncodingFailure: Error {
        let reason: String
    }

    /// Appends a value without its type id (the caller writes that; array elements carry none).
    private static func appendValue(_ value: GGUFValue, to output: inout ByteWriter) throws(EncodingFailure) {
        switch value {
        case .uint8(let v): output.append(v)
        case .int8(let v): output.append(v)
        case .uint16(let v): output.append(v)
        case .int16(let v): output.append(v)
        case .uint32(let v): output.append(v)
        case .int32(let v): output.append(v)
        case .uint64(let v): output.append(v)
        case .int64(let v): output.append(v)
        case .float32(let v): output.append(v.bitPattern)
        case .float64(let v): output.append(v.bitPattern)
        case .bool(let v): output.append(UInt8(v ? 1 : 0))
        case .string(let s): output.appendString(s)
        case .array(let elements):
            // GGUF arrays are homogeneous: one element type id, then the bare elements. An empty
            // array has no element to take the type from; uint8 is as good as any.
            let elementType = elements.first?.valueType ?? .uint8
            if let mismatch = elements.firstIndex(where: { $0.valueType != elementType }) {
                throw EncodingFailure(reason: "array elements must share one type, but element 0 is "
                                      + "\(elements[0].typeName) and element \(mismatch) is \(elements[mismatch].typeName)")
            }
            output.append(elementType.rawValue)
            output.append(UInt64(elements.count))
            for element in elements { try appendValue(element, to: &output) }
        }
    }

    private static func padded(_ count: Int, to alignment: Int) -> Int {
        (count + alignment - 1) / alignment * alignment
    }

    // MARK: - Atomic file output

    private static func writeAtomically(_ bytes: [UInt8], to path: String) throws(GGUFError) {
        let temporary = path + ".partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard descriptor >= 0 else {
            throw .writeFailed(file: path, reason: "cannot create \(temporary): \(MappedFile.message(errno))")
        }
        var failure: String?
        bytes.withUnsafeBytes { buffer in
            var written = 0
            while written < buffer.count {
                let result = posixWrite(descriptor, buffer.baseAddress! + written, buffer.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    failure = MappedFile.message(errno)
                    return
                }
                written += result
            }
        }
        if failure == nil, fsync(descriptor) != 0 { failure = MappedFile.message(errno) }
        if close(descriptor) != 0, failure == nil { failure = MappedFile.message(errno) }
        if failure == nil, rename(temporary, path) != 0 { failure = MappedFile.message(errno) }
        if let failure {
            unlink(temporary)
            throw .writeFailed(file: path, reason: failure)
        }
    }
}

/// Little-endian serialization into a growing byte array.
private struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(contentsOf other: [UInt8]) { bytes.append(contentsOf: other) }

    mutating func appendString(_ string: String) {
        let utf8 = Array(string.utf8)
        append(UInt64(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    mutating func pad(to alignment: Int) {
        let remainder = bytes.count % alignment
        if remainder != 0 { bytes.append(contentsOf: repeatElement(0, count: alignment - remainder)) }
    }
}

/// The POSIX `write(2)`, reachable under another name inside `GGUFWriter`, whose `write(to:)`
/// method shadows it.
private func posixWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}
