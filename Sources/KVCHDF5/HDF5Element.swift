import CHDF5

/// The numeric element types a dataset can hold.
///
/// On disk every type is stored little-endian (IEEE float or two's-complement integer), which is
/// what numpy calls `<f4`, `<f8`, `|i1`, `|u1`, `<i4`, `<i8`.
public enum HDF5ElementType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32, float64, int8, uint8, int32, int64

    public var description: String { rawValue }

    /// Size of one element in bytes.
    public var byteCount: Int {
        switch self {
        case .int8, .uint8: 1
        case .float32, .int32: 4
        case .float64, .int64: 8
        }
    }

    /// The in-memory type HDF5 converts to and from.
    var memoryType: hid_t {
        switch self {
        case .float32: kvc_h5t_native_float()
        case .float64: kvc_h5t_native_double()
        case .int8: kvc_h5t_native_int8()
        case .uint8: kvc_h5t_native_uint8()
        case .int32: kvc_h5t_native_int32()
        case .int64: kvc_h5t_native_int64()
        }
    }

    /// The type written to the file.
    var fileType: hid_t {
        switch self {
        case .float32: kvc_h5t_ieee_f32le()
        case .float64: kvc_h5t_ieee_f64le()
        case .int8: kvc_h5t_std_i8le()
        case .uint8: kvc_h5t_std_u8le()
        case .int32: kvc_h5t_std_i32le()
        case .int64: kvc_h5t_std_i64le()
        }
    }

    /// Recognises a stored datatype; nil for anything that is not one of the six numeric types
    /// (strings, compounds, 16-bit integers...). Call under the HDF5 lock.
    init?(datatype: hid_t) {
        let size = H5Tget_size(datatype)
        switch H5Tget_class(datatype) {
        case H5T_FLOAT:
            switch size {
            case 4: self = .float32
            case 8: self = .float64
            default: return nil
            }
        case H5T_INTEGER:
            let signed = H5Tget_sign(datatype) == H5T_SGN_2
            switch (size, signed) {
            case (1, true): self = .int8
            case (1, false): self = .uint8
            case (4, true): self = .int32
            case (8, true): self = .int64
            default: return nil
            }
        default:
            return nil
        }
    }
}

/// A Swift number type that can be stored in and read from an HDF5 dataset.
public protocol HDF5Element: Sendable, Equatable, BitwiseCopyable {
    static var hdf5ElementType: HDF5ElementType { get }
}

extension Float: HDF5Element { public static var hdf5ElementType: HDF5ElementType { .float32 } }
extension Double: HDF5Element { public static var hdf5ElementType: HDF5ElementType { .float64 } }
extension Int8: HDF5Element { public static var hdf5ElementType: HDF5ElementType { .int8 } }
extension UInt8: HDF5Element { public static var hdf5ElementType: HDF5ElementType { .uint8 } }
extension Int32: HDF5Element { public static var hdf5ElementType: HDF5ElementType { .int32 } }
extension Int64: HDF5Element { public static var hdf5ElementType: HDF5ElementType { .int64 } }

/// A dense row-major array as stored in a dataset.
///
/// `values[i]` is the element at the multi-index whose last coordinate varies fastest (C order,
/// as in numpy). An empty `shape` is a scalar holding exactly one value.
public struct HDF5Array<Element: HDF5Element>: Sendable, Equatable {
    public let shape: [Int]
    public let values: [Element]

    /// Fails when `values.count` is not the product of `shape` or a dimension is negative.
    public init(shape: [Int], values: [Element]) throws(HDF5ShapeError) {
        try HDF5ShapeError.check(shape: shape, count: values.count)
        self.shape = shape
        self.values = values
    }

    init(unchecked shape: [Int], values: [Element]) {
        self.shape = shape
        self.values = values
    }
}

/// A shape that does not describe the given number of values.
public struct HDF5ShapeError: Error, CustomStringConvertible, Sendable, Equatable {
    public let shape: [Int]
    public let count: Int

    public var description: String {
        if shape.contains(where: { $0 < 0 }) {
            return "shape \(shape) has a negative dimension"
        }
        return "shape \(shape) needs \(HDF5ShapeError.elementCount(shape)) values, got \(count)"
    }

    static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    static func check(shape: [Int], count: Int) throws(HDF5ShapeError) {
        if shape.contains(where: { $0 < 0 }) || elementCount(shape) != count {
            throw HDF5ShapeError(shape: shape, count: count)
        }
    }
}
