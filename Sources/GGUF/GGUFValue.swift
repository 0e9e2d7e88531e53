/// One metadata value of a GGUF file, with the exact type the file stores.
///
/// The case order and the type ids follow the GGUF specification (`gguf_type` in ggml's gguf.h):
/// uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7,
/// string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    /// All elements of one array share one type in the file; nested arrays are allowed.
    case array([GGUFValue])
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)

    /// The value as an `Int` when it is an integer of any width that fits into `Int`.
    public var intValue: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        default: nil
        }
    }

    /// The value as a `Float` when it is a float or an integer (integers convert with rounding).
    public var floatValue: Float? {
        switch self {
        case .float32(let v): v
        case .float64(let v): Float(v)
        case .uint64(let v): Float(v)
        default: intValue.map(Float.init)
        }
    }

    /// The value when it is a string.
    public var stringValue: String? {
        if case .string(let s) = self { s } else { nil }
    }

    /// The value when it is a bool.
    public var boolValue: Bool? {
        if case .bool(let b) = self { b } else { nil }
    }

    /// The elements when it is an array.
    public var arrayValue: [GGUFValue]? {
        if case .array(let a) = self { a } else { nil }
    }

    /// A short human-readable type, e.g. "uint32" or "array of string" (used in error messages).
    public var typeName: String {
        switch self {
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .uint32: "uint32"
        case .int32: "int32"
        case .float32: "float32"
        case .bool: "bool"
        case .string: "string"
        case .array(let elements): "array of " + (elements.first.map(\.typeName) ?? "nothing (empty)")
        case .uint64: "uint64"
        case .int64: "int64"
        case .float64: "float64"
        }
    }
}

/// The type ids of metadata values as stored in the file (`gguf_type`).
enum GGUFValueType: UInt32 {
    case uint8 = 0, int8, uint16, int16, uint32, int32, float32, bool, string, array, uint64, int64, float64

    /// The smallest number of bytes one value of this type occupies in the file; used to reject
    /// element counts that cannot possibly fit before allocating anything.
    var minimumEncodedSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8  // a string is at least its 8-byte length
        case .array: 12  // element type (4) + count (8)
        }
    }
}

extension GGUFValue {
    /// The type id this value is stored with. For arrays, the id of `array`.
    var valueType: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .array: .array
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        }
    }
}
