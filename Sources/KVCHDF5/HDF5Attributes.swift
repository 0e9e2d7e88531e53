import CHDF5

/// The values an attribute can hold.
///
/// Stored as: `int` → int64 scalar, `double` → float64 scalar, `float` → float32 scalar,
/// `string` → variable-length UTF-8 scalar, `ints` → 1-D int64, `doubles` → 1-D float64
/// (the forms h5py writes for Python `int`, `float`, `str` and lists of them).
public enum HDF5AttributeValue: Sendable, Equatable, CustomStringConvertible {
    case int(Int)
    case double(Double)
    case float(Float)
    case string(String)
    case ints([Int])
    case doubles([Double])

    public var description: String {
        switch self {
        case .int(let value): "int64 \(value)"
        case .double(let value): "float64 \(value)"
        case .float(let value): "float32 \(value)"
        case .string(let value): "string \"\(value)\""
        case .ints(let values): "int64 array of \(values.count)"
        case .doubles(let values): "float64 array of \(values.count)"
        }
    }
}

/// A Swift type that can be written as an attribute and read back.
public protocol HDF5AttributeConvertible: Sendable {
    var hdf5AttributeValue: HDF5AttributeValue { get }
    /// Nil when `value` is of another kind.
    init?(hdf5AttributeValue value: HDF5AttributeValue)
}

extension HDF5AttributeValue: HDF5AttributeConvertible {
    public var hdf5AttributeValue: HDF5AttributeValue { self }
    public init?(hdf5AttributeValue value: HDF5AttributeValue) { self = value }
}

extension Int: HDF5AttributeConvertible {
    public var hdf5AttributeValue: HDF5AttributeValue { .int(self) }
    public init?(hdf5AttributeValue value: HDF5AttributeValue) {
        guard case .int(let stored) = value else { return nil }
        self = stored
    }
}

extension Double: HDF5AttributeConvertible {
    public var hdf5AttributeValue: HDF5AttributeValue { .double(self) }
    /// Also accepts a float32 attribute (widening loses nothing).
    public init?(hdf5AttributeValue value: HDF5AttributeValue) {
        switch value {
        case .double(let stored): self = stored
        case .float(let stored): self = Double(stored)
        default: return nil
        }
    }
}

extension Float: HDF5AttributeConvertible {
    public var hdf5AttributeValue: HDF5AttributeValue { .float(self) }
    public init?(hdf5AttributeValue value: HDF5AttributeValue) {
        guard case .float(let stored) = value else { return nil }
        self = stored
    }
}

extension String: HDF5AttributeConvertible {
    public var hdf5AttributeValue: HDF5AttributeValue { .string(self) }
    public init?(hdf5AttributeValue value: HDF5AttributeValue) {
        guard case .string(let stored) = value else { return nil }
        self = stored
    }
}

/// An element type whose arrays are attribute values (`[Int]` → int64 array, `[Double]` → float64 array).
public protocol HDF5AttributeArrayElement: Sendable {
    static func hdf5AttributeValue(of array: [Self]) -> HDF5AttributeValue
    /// Nil when `value` is not an array of this element type.
    static func array(from value: HDF5AttributeValue) -> [Self]?
}

extension Int: HDF5AttributeArrayElement {
    public static func hdf5AttributeValue(of array: [Int]) -> HDF5AttributeValue { .ints(array) }
    public static func array(from value: HDF5AttributeValue) -> [Int]? {
        guard case .ints(let stored) = value else { return nil }
        return stored
    }
}

extension Double: HDF5AttributeArrayElement {
    public static func hdf5AttributeValue(of array: [Double]) -> HDF5AttributeValue { .doubles(array) }
    public static func array(from value: HDF5AttributeValue) -> [Double]? {
        guard case .doubles(let stored) = value else { return nil }
        return stored
    }
}

extension Array: HDF5AttributeConvertible where Element: HDF5AttributeArrayElement {
    public var hdf5AttributeValue: HDF5AttributeValue { Element.hdf5AttributeValue(of: self) }
    public init?(hdf5AttributeValue value: HDF5AttributeValue) {
        guard let stored = Element.array(from: value) else { return nil }
        self = stored
    }
}

/// An object that carries attributes: a file (its root group), a group or a dataset.
public protocol HDF5AttributeHolder: AnyObject, Sendable {
    /// The open HDF5 object behind this value (opaque outside this module).
    var objectHandle: HDF5ObjectHandle { get }
}

extension HDF5AttributeHolder {
    /// Writes (or replaces) the attribute `name`.
    public func setAttribute(_ name: String, _ value: some HDF5AttributeConvertible) throws(HDF5Error) {
        let handle = objectHandle
        let object = attributeObject(name)
        let operation = "write"
        guard !name.isEmpty else { throw handle.error(.invalidArgument, operation, object: object, "attribute names cannot be empty") }
        let stored = value.hdf5AttributeValue
        if case .string(let text) = stored, text.utf8.contains(0) {
            throw handle.error(.invalidArgument, operation, object: object, "the string contains a NUL character, which HDF5 strings cannot hold")
        }
        try handle.access(operation, object: object, writing: true) { () throws(HDF5Error) in
            let exists = H5Aexists(handle.id, name)
            guard exists >= 0 else { throw handle.libraryError(operation, object: object) }
            if exists > 0, H5Adelete(handle.id, name) < 0 { throw handle.libraryError(operation, object: object) }
            switch stored {
            case .int(let value):
                try writeAttribute(name, object: object, shape: [], type: .int64, bytes: [Int64(value)])
            case .double(let value):
                try writeAttribute(name, object: object, shape: [], type: .float64, bytes: [value])
            case .float(let value):
                try writeAttribute(name, object: object, shape: [], type: .float32, bytes: [value])
            case .ints(let values):
                try writeAttribute(name, object: object, shape: [values.count], type: .int64, bytes: values.map { Int64($0) })
            case .doubles(let values):
                try writeAttribute(name, object: object, shape: [values.count], type: .float64, bytes: values)
            case .string(let text):
                let stringType = try HDF5Strings.variableLengthType(handle: handle, operation: operation, object: object)
                try createAttribute(name, object: object, shape: [], fileType: stringType.id) { attribute throws(HDF5Error) in
                    let status = HDF5Strings.withCStringPointers([text]) { H5Awrite(attribute, stringType.id, $0) }
                    guard status >= 0 else { throw handle.libraryError(operation, object: object) }
                }
            }
        }
    }

    /// Reads the attribute `name` as whatever it holds.
    public func attributeValue(_ name: String) throws(HDF5Error) -> HDF5AttributeValue {
        let handle = objectHandle
        let object = attributeObject(name)
        let operation = "read"
        return try handle.access(operation, object: object) { () throws(HDF5Error) -> HDF5AttributeValue in
            guard H5Aexists(handle.id, name) > 0 else { throw handle.error(.notFound, operation, object: object, "no such attribute") }
            let attribute = TransientID(H5Aopen(handle.id, name, kvc_h5p_default()), close: H5Aclose)
            let type = TransientID(H5Aget_type(attribute.id), close: H5Tclose)
            let space = TransientID(H5Aget_space(attribute.id), close: H5Sclose)
            guard attribute.id >= 0, type.id >= 0, space.id >= 0 else { throw handle.libraryError(operation, object: object) }
            let isScalar = H5Sget_simple_extent_type(space.id) == H5S_SCALAR
            let count = Int(H5Sget_simple_extent_npoints(space.id))
            func readNumbers<Number: HDF5Element>(_: Number.Type) throws(HDF5Error) -> [Number] {
                var status: herr_t = 0
                let numbers = [Number](unsafeUninitializedCapacity: count) { buffer, initialized in
                    if count > 0 {
                        status = H5Aread(attribute.id, Number.hdf5ElementType.memoryType, UnsafeMutableRawPointer(buffer.baseAddress!))
                    }
                    initialized = status >= 0 ? count : 0
                }
                guard status >= 0 else { throw handle.libraryError(operation, object: object) }
                return numbers
            }
            switch H5Tget_class(type.id) {
            case H5T_INTEGER:
                let values = try readNumbers(Int64.self).map { Int($0) }
                return isScalar ? .int(values[0]) : .ints(values)
            case H5T_FLOAT where isScalar && H5Tget_size(type.id) == 4:
                return .float(try readNumbers(Float.self)[0])
            case H5T_FLOAT:
                let values = try readNumbers(Double.self)
                return isScalar ? .double(values[0]) : .doubles(values)
            case H5T_STRING where count == 1:
                let strings = try HDF5Strings.read(
                    count: 1, storedType: type.id, space: space.id, handle: handle, operation: operation, object: object
                ) { memoryType, buffer in H5Aread(attribute.id, memoryType, buffer) }
                return .string(strings[0])
            default:
                throw handle.error(.typeMismatch, operation, object: object, "its type (class \(H5Tget_class(type.id).rawValue), \(count) elements) is not one this wrapper reads")
            }
        }
    }

    /// Reads the attribute `name` as `type`; fails with `.typeMismatch` when it holds something else.
    public func attribute<Value: HDF5AttributeConvertible>(_ name: String, as type: Value.Type = Value.self) throws(HDF5Error) -> Value {
        let stored = try attributeValue(name)
        guard let value = Value(hdf5AttributeValue: stored) else {
            throw objectHandle.error(.typeMismatch, "read", object: attributeObject(name), "it holds \(stored), not \(Value.self)")
        }
        return value
    }

    /// Whether the attribute `name` exists.
    public func hasAttribute(_ name: String) throws(HDF5Error) -> Bool {
        let handle = objectHandle
        return try handle.access("look up", object: attributeObject(name)) { H5Aexists(handle.id, name) > 0 }
    }

    /// Names of all attributes, in name order.
    public func attributeNames() throws(HDF5Error) -> [String] {
        let handle = objectHandle
        let operation = "list attributes of"
        return try handle.access(operation) { () throws(HDF5Error) -> [String] in
            let count = kvc_h5_attribute_count(handle.id)
            guard count >= 0 else { throw handle.libraryError(operation) }
            var names: [String] = []
            for index in 0..<hsize_t(count) {
                let length = H5Aget_name_by_idx(handle.id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, kvc_h5p_default())
                guard length >= 0 else { throw handle.libraryError(operation) }
                var buffer = [CChar](repeating: 0, count: length + 1)
                guard H5Aget_name_by_idx(handle.id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, length + 1, kvc_h5p_default()) >= 0 else {
                    throw handle.libraryError(operation)
                }
                names.append(HDF5Strings.decode(buffer))
            }
            return names
        }
    }

    // MARK: - Internals (under the lock)

    private func attributeObject(_ name: String) -> String {
        "attribute '\(name)' of \(objectHandle.path)"
    }

    private func writeAttribute<Number: HDF5Element>(
        _ name: String, object: String, shape: [Int], type: HDF5ElementType, bytes values: [Number]
    ) throws(HDF5Error) {
        let handle = objectHandle
        try createAttribute(name, object: object, shape: shape, fileType: type.fileType) { attribute throws(HDF5Error) in
            // A zero-length attribute has nothing to write.
            guard !values.isEmpty else { return }
            let status = values.withUnsafeBytes { H5Awrite(attribute, type.memoryType, $0.baseAddress) }
            guard status >= 0 else { throw handle.libraryError("write", object: object) }
        }
    }

    private func createAttribute(
        _ name: String, object: String, shape: [Int], fileType: hid_t, _ write: (hid_t) throws(HDF5Error) -> Void
    ) throws(HDF5Error) {
        let handle = objectHandle
        let space = TransientID(HDF5Dataspace.create(shape: shape), close: H5Sclose)
        guard space.id >= 0 else { throw handle.libraryError("write", object: object) }
        let attribute = TransientID(H5Acreate2(handle.id, name, fileType, space.id, kvc_h5p_default(), kvc_h5p_default()), close: H5Aclose)
        guard attribute.id >= 0 else { throw handle.libraryError("write", object: object) }
        do throws(HDF5Error) {
            try write(attribute.id)
        } catch {
            _ = H5Adelete(handle.id, name)
            throw error
        }
    }
}
