/// A GGUF model file (version 2 or 3): its metadata, its tensor descriptions and, memory-mapped,
/// its tensor data.
///
/// Layout (GGUF specification, ggml/docs/gguf.md), all little-endian:
///
///     magic "GGUF" | version u32 | tensor count u64 | metadata count u64
///     metadata: key (string), value type u32, value          × metadata count
///     tensor infos: name (string), rank u32, dims u64 × rank, type u32, offset u64   × tensor count
///     padding to `general.alignment` (default 32) | data section (tensor offsets count from here)
///
/// Strings are a u64 byte length followed by UTF-8 bytes. The whole file is parsed eagerly and
/// validated (every tensor must lie inside the file), so later accesses cannot fail on corruption.
public final class GGUFFile: @unchecked Sendable, CustomStringConvertible {
    // @unchecked Sendable: every stored property is immutable after init; the mapping is read-only.

    /// Alignment of the data section and of every tensor when `general.alignment` is absent.
    public static let defaultAlignment = 32
    /// The rank limit of ggml (`GGML_MAX_DIMS`).
    public static let maximumRank = 4
    /// Arrays nested deeper than this are rejected instead of recursing without bound.
    static let maximumArrayNesting = 16

    public let path: String
    public let version: UInt32
    /// All key/value pairs of the header.
    public let metadata: [String: GGUFValue]
    /// The metadata keys in the order the file stores them.
    public let metadataKeys: [String]
    /// The tensors in file order.
    public let tensors: [GGUFTensorInfo]
    /// The alignment of the data section (`general.alignment`, default 32).
    public let alignment: Int
    /// Byte offset of the data section from the start of the file.
    public let dataOffset: Int

    private let mapping: MappedFile
    private let tensorIndex: [String: Int]

    /// Opens, maps and parses the file at `path`.
    public init(path: String) throws(GGUFError) {
        self.path = path
        mapping = try MappedFile(path: path)
        var reader = ByteReader(bytes: mapping.bytes, path: path)

        reader.context = "magic"
        try reader.require(4)
        let magic = Array(mapping.bytes[0..<4])
        guard magic == Array("GGUF".utf8) else { throw .badMagic(file: path, found: magic) }
        _ = try reader.read(UInt32.self)
        reader.context = "version"
        version = try reader.read(UInt32.self)
        // Version 1 used 32-bit counts and lengths; a byte-swapped 2 or 3 is a big-endian file.
        guard version == 2 || version == 3 else { throw .unsupportedVersion(file: path, version: version) }

        reader.context = "tensor count"
        let tensorCount = try reader.readCount(minimumItemSize: 8 + 4 + 4 + 8)
        reader.context = "metadata count"
        let metadataCount = try reader.readCount(minimumItemSize: 8 + 4 + 1)

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(metadataCount)
        for index in 0..<metadataCount {
            reader.context = "key of metadata entry \(index)"
            let keyOffset = reader.offset
            let key = try reader.readString()
            reader.context = "value of key '\(key)'"
            let value = try Self.readValue(&reader, key: key, depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw .malformed(file: path, offset: keyOffset, reason: "metadata key '\(key)' appears twice")
            }
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys
        alignment = try Self.alignment(in: metadata, path: path)

        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(tensorCount)
        var tensorIndex: [String: Int] = [:]
        for index in 0..<tensorCount {
            let tensor = try Self.readTensorInfo(&reader, index: index, alignment: alignment)
            guard tensorIndex.updateValue(index, forKey: tensor.name) == nil else {
                throw .invalidTensor(file: path, tensor: tensor.name, reason: "the name appears twice")
            }
            tensors.append(tensor)
        }

        reader.align(to: alignment)
        dataOffset = reader.offset
        let dataSize = max(0, mapping.bytes.count - dataOffset)
        for tensor in tensors where tensor.offset > dataSize - tensor.byteCount {
            throw .tensorDataOutOfBounds(file: path, tensor: tensor.name, offset: tensor.offset,
                                         byteCount: tensor.byteCount, dataSize: dataSize)
        }
        self.tensors = tensors
        self.tensorIndex = tensorIndex
    }

    /// Size of the data section in bytes.
    public var dataSize: Int { max(0, mapping.bytes.count - dataOffset) }

    /// Size of the whole file in bytes.
    public var fileSize: Int { mapping.bytes.count }

    /// One line: version, counts and the tensor types, e.g.
    /// "GGUF v3 model.gguf: 33 metadata keys, 272 tensors (F32 ×61, Q4_1 ×210, Q8_0 ×1), 98362432 bytes".
    public var description: String {
        var typeCounts: [GGMLType: Int] = [:]
        for tensor in tensors { typeCounts[tensor.type, default: 0] += 1 }
        let types = typeCounts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key) ×\($0.value)" }
        return "GGUF v\(version) \(path): \(metadata.count) metadata keys, \(tensors.count) tensors "
            + "(\(types.joined(separator: ", "))), \(fileSize) bytes"
    }

    // MARK: - Tensors

    /// The tensor called `name`; throws `.missingTensor` when there is none.
    public func tensorInfo(named name: String) throws(GGUFError) -> GGUFTensorInfo {
        guard let index = tensorIndex[name] else { throw .missingTensor(name: name, file: path) }
        return tensors[index]
    }

    /// Whether the file has a tensor called `name`.
    public func hasTensor(named name: String) -> Bool { tensorIndex[name] != nil }

    /// The raw (possibly quantized) bytes of `tensor`, straight from the mapping.
    ///
    /// The buffer stays valid as long as this `GGUFFile` is alive; do not keep it beyond that.
    public func rawBytes(of tensor: GGUFTensorInfo) throws(GGUFError) -> UnsafeRawBufferPointer {
        try checkBounds(of: tensor)
        return UnsafeRawBufferPointer(rebasing: mapping.bytes[(dataOffset + tensor.offset)...].prefix(tensor.byteCount))
    }

    /// Dequantized float32 data; element order = ggml order (ne[0] fastest), i.e. a 2-D weight
    /// with dimensions [ne0, ne1] is a row-major matrix of ne1 rows × ne0 columns.
    public func dequantize(_ tensor: GGUFTensorInfo) throws(GGUFError) -> [Float] {
        guard tensor.type.isDequantizable else {
            throw .unsupportedTensorType(file: path, tensor: tensor.name, type: tensor.type)
        }
        let source = try rawBytes(of: tensor)
        return Dequantizer.dequantize(source, type: tensor.type, elementCount: tensor.elementCount)
    }

    /// Dequantized float32 data of the tensor called `name` (see `dequantize(_:)`).
    public func dequantize(named name: String) throws(GGUFError) -> [Float] {
        try dequantize(tensorInfo(named: name))
    }

    /// Dequantized float32 data of some rows of `tensor` (a row is `dimensions[0]` consecutive
    /// elements; rows count over all higher dimensions), e.g. the embeddings of a few tokens
    /// without converting the whole table.
    /// Result: [rows.count, dimensions[0]], row-major.
    public func dequantize(_ tensor: GGUFTensorInfo, rows: Range<Int>) throws(GGUFError) -> [Float] {
        guard tensor.type.isDequantizable else {
            throw .unsupportedTensorType(file: path, tensor: tensor.name, type: tensor.type)
        }
        let source = try rawBytes(of: tensor)
        guard rows.lowerBound >= 0, rows.upperBound <= tensor.rowCount else {
            throw .invalidTensor(file: path, tensor: tensor.name,
                                 reason: "rows \(rows) requested, but it has \(tensor.rowCount) rows")
        }
        let rowLength = tensor.dimensions.first ?? 1
        let rowBytes = rowLength / tensor.type.blockSize * tensor.type.bytesPerBlock
        let slice = UnsafeRawBufferPointer(rebasing: source[(rows.lowerBound * rowBytes)..<(rows.upperBound * rowBytes)])
        return Dequantizer.dequantize(slice, type: tensor.type, elementCount: rows.count * rowLength)
    }

    /// Guards against tensor descriptions that did not come from this file (or were built by hand):
    /// the shape must be valid for the type and the bytes must lie inside the data section.
    private func checkBounds(of tensor: GGUFTensorInfo) throws(GGUFError) {
        var elements = 1
        for dimension in tensor.dimensions {
            let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
            guard dimension >= 0, !overflow else {
                throw .invalidTensor(file: path, tensor: tensor.name, reason: "dimensions \(tensor.dimensions) are invalid")
            }
            elements = product
        }
        guard (tensor.dimensions.first ?? 1) % tensor.type.blockSize == 0 else {
            throw .invalidTensor(file: path, tensor: tensor.name,
                                 reason: "dimension 0 is not a multiple of the \(tensor.type) block size \(tensor.type.blockSize)")
        }
        guard tensor.offset >= 0, tensor.offset <= dataSize - tensor.byteCount else {
            throw .tensorDataOutOfBounds(file: path, tensor: tensor.name, offset: tensor.offset,
                                         byteCount: tensor.byteCount, dataSize: dataSize)
        }
    }

    // MARK: - Typed metadata access

    /// Whether the metadata has `key`.
    public func has(_ key: String) -> Bool { metadata[key] != nil }

    /// The value of `key`, or `.missingKey`.
    public func value(_ key: String) throws(GGUFError) -> GGUFValue {
        guard let value = metadata[key] else { throw .missingKey(key: key, file: path) }
        return value
    }

    public func string(_ key: String) throws(GGUFError) -> String {
        try convert(key, expected: "string") { $0.stringValue }
    }

    /// Any integer type, as long as the value fits into `Int`.
    public func int(_ key: String) throws(GGUFError) -> Int {
        try convert(key, expected: "an integer that fits into Int") { $0.intValue }
    }

    /// Any float or integer type.
    public func float(_ key: String) throws(GGUFError) -> Float {
        try convert(key, expected: "a float or an integer") { $0.floatValue }
    }

    public func bool(_ key: String) throws(GGUFError) -> Bool {
        try convert(key, expected: "bool") { $0.boolValue }
    }

    public func stringArray(_ key: String) throws(GGUFError) -> [String] {
        try convertArray(key, expected: "array of string") { $0.stringValue }
    }

    public func intArray(_ key: String) throws(GGUFError) -> [Int] {
        try convertArray(key, expected: "array of integers that fit into Int") { $0.intValue }
    }

    public func floatArray(_ key: String) throws(GGUFError) -> [Float] {
        try convertArray(key, expected: "array of floats or integers") { $0.floatValue }
    }

    private func convert<T>(_ key: String, expected: String, _ transform: (GGUFValue) -> T?) throws(GGUFError) -> T {
        let value = try value(key)
        guard let converted = transform(value) else {
            throw .wrongType(key: key, expected: expected, found: Self.describe(value), file: path)
        }
        return converted
    }

    private func convertArray<T>(_ key: String, expected: String, _ transform: (GGUFValue) -> T?) throws(GGUFError) -> [T] {
        let value = try value(key)
        guard let elements = value.arrayValue else {
            throw .wrongType(key: key, expected: expected, found: Self.describe(value), file: path)
        }
        var result: [T] = []
        result.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            guard let converted = transform(element) else {
                throw .wrongType(key: key, expected: expected,
                                 found: "\(value.typeName) whose element \(index) is \(Self.describe(element))", file: path)
            }
            result.append(converted)
        }
        return result
    }

    /// "uint32 7", "string \"llama\"", "array of string (3 elements)": type and a short value.
    private static func describe(_ value: GGUFValue) -> String {
        switch value {
        case .array(let elements): "\(value.typeName) (\(elements.count) elements)"
        case .string(let s): "string \"\(s.prefix(40))\""
        case .uint8(let v): "uint8 \(v)"
        case .int8(let v): "int8 \(v)"
        case .uint16(let v): "uint16 \(v)"
        case .int16(let v): "int16 \(v)"
        case .uint32(let v): "uint32 \(v)"
        case .int32(let v): "int32 \(v)"
        case .uint64(let v): "uint64 \(v)"
        case .int64(let v): "int64 \(v)"
        case .float32(let v): "float32 \(v)"
        case .float64(let v): "float64 \(v)"
        case .bool(let v): "bool \(v)"
        }
    }

    // MARK: - Parsing

    private static func readValue(_ reader: inout ByteReader, key: String, depth: Int) throws(GGUFError) -> GGUFValue {
        let rawType = try reader.read(UInt32.self)
        guard let type = GGUFValueType(rawValue: rawType) else {
            throw .unknownValueType(file: reader.path, key: key, rawType: rawType)
        }
        return try readValue(of: type, &reader, key: key, depth: depth)
    }

    private static func readValue(
        of type: GGUFValueType, _ reader: inout ByteReader, key: String, depth: Int
    ) throws(GGUFError) -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try reader.read(UInt8.self))
        case .int8: return .int8(try reader.read(Int8.self))
        case .uint16: return .uint16(try reader.read(UInt16.self))
        case .int16: return .int16(try reader.read(Int16.self))
        case .uint32: return .uint32(try reader.read(UInt32.self))
        case .int32: return .int32(try reader.read(Int32.self))
        case .uint64: return .uint64(try reader.read(UInt64.self))
        case .int64: return .int64(try reader.read(Int64.self))
        case .float32: return .float32(try reader.readFloat())
        case .float64: return .float64(try reader.readDouble())
        case .string: return .string(try reader.readString())
        case .bool:
            let offset = reader.offset
            let byte = try reader.read(UInt8.self)
            guard byte <= 1 else {
                throw .malformed(file: reader.path, offset: offset, reason: "bool value \(byte) of key '\(key)' is neither 0 nor 1")
            }
            return .bool(byte == 1)
        case .array:
            guard depth < maximumArrayNesting else {
                throw .malformed(file: reader.path, offset: reader.offset,
                                 reason: "arrays of key '\(key)' are nested more than \(maximumArrayNesting) levels deep")
            }
            let rawElementType = try reader.read(UInt32.self)
            guard let elementType = GGUFValueType(rawValue: rawElementType) else {
                throw .unknownValueType(file: reader.path, key: key, rawType: rawElementType)
            }
            let count = try reader.readCount(minimumItemSize: elementType.minimumEncodedSize)
            var elements: [GGUFValue] = []
            elements.reserveCapacity(count)
            for _ in 0..<count {
                elements.append(try readValue(of: elementType, &reader, key: key, depth: depth + 1))
            }
            return .array(elements)
        }
    }

    private static func alignment(in metadata: [String: GGUFValue], path: String) throws(GGUFError) -> Int {
        let key = "general.alignment"
        guard let value = metadata[key] else { return defaultAlignment }
        guard case .uint32(let alignment) = value else {
            throw .wrongType(key: key, expected: "uint32", found: value.typeName, file: path)
        }
        guard alignment > 0, alignment & (alignment - 1) == 0 else {
            throw .malformed(file: path, offset: 0, reason: "\(key) is \(alignment), not a power of two")
        }
        return Int(alignment)
    }

    private static func readTensorInfo(
        _ reader: inout ByteReader, index: Int, alignment: Int
    ) throws(GGUFError) -> GGUFTensorInfo {
        let path = reader.path
        reader.context = "name of tensor \(index)"
        let name = try reader.readString()
        reader.context = "description of tensor '\(name)'"
        let rank = try reader.read(UInt32.self)
        guard rank <= maximumRank else {
            throw .invalidTensor(file: path, tensor: name, reason: "rank \(rank) exceeds ggml's maximum of \(maximumRank)")
        }
        var dimensions: [Int] = []
        var elements = 1
        for _ in 0..<rank {
            let raw = try reader.read(UInt64.self)
            guard let dimension = Int(exactly: raw) else {
                throw .invalidTensor(file: path, tensor: name, reason: "dimension \(raw) is too large")
            }
            let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
            guard !overflow else {
                throw .invalidTensor(file: path, tensor: name, reason: "the element count overflows")
            }
            elements = product
            dimensions.append(dimension)
        }
        let rawType = try reader.read(UInt32.self)
        guard let type = GGMLType(rawValue: rawType) else {
            throw .unknownTensorType(file: path, tensor: name, rawType: rawType)
        }
        // A rank-0 tensor is one element: a row of 1, which no block type larger than 1 can hold
        // (found by the fuzzer: the message used to index the missing dimension 0).
        let rowLength = dimensions.first ?? 1
        guard rowLength % type.blockSize == 0 else {
            let what = dimensions.isEmpty ? "a scalar (rank 0)" : "dimension 0 (\(rowLength))"
            throw .invalidTensor(file: path, tensor: name,
                                 reason: "\(what) is not a multiple of the \(type) block size \(type.blockSize)")
        }
        guard elements / type.blockSize <= Int.max / type.bytesPerBlock else {
            throw .invalidTensor(file: path, tensor: name, reason: "the byte count overflows")
        }
        let rawOffset = try reader.read(UInt64.self)
        guard let offset = Int(exactly: rawOffset), offset % alignment == 0 else {
            throw .invalidTensor(file: path, tensor: name, reason: "data offset \(rawOffset) is not a multiple of the alignment \(alignment)")
        }
        return GGUFTensorInfo(name: name, dimensions: dimensions, type: type, offset: offset)
    }
}
