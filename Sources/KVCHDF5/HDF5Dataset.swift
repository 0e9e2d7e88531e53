import CHDF5

/// A dataset inside an HDF5 file: a dense array of numbers or strings, with attributes.
public final class HDF5Dataset: HDF5AttributeHolder, Sendable {
    /// What a dataset's elements are.
    public enum Content: Sendable, Equatable, CustomStringConvertible {
        case numeric(HDF5ElementType)
        case strings
        /// A type this wrapper does not read (compound, 16-bit integer...), described in words.
        case unsupported(String)

        public var description: String {
            switch self {
            case .numeric(let type): type.description
            case .strings: "strings"
            case .unsupported(let text): text
            }
        }
    }

    public let objectHandle: HDF5ObjectHandle
    /// Dimensions, outermost first (`[]` for a scalar).
    public let shape: [Int]
    public let content: Content

    /// Absolute path inside the file, e.g. "/runs/0/keys".
    public var path: String { objectHandle.path }
    public var elementCount: Int { shape.reduce(1, *) }

    /// Reads shape and type of a freshly opened dataset. Call under the lock.
    init(_ handle: HDF5ObjectHandle) throws(HDF5Error) {
        let operation = "inspect dataset"
        let space = TransientID(H5Dget_space(handle.id), close: H5Sclose)
        guard space.id >= 0, let shape = HDF5Dataspace.shape(of: space.id) else { throw handle.libraryError(operation) }
        let type = TransientID(H5Dget_type(handle.id), close: H5Tclose)
        guard type.id >= 0 else { throw handle.libraryError(operation) }
        if let elementType = HDF5ElementType(datatype: type.id) {
            content = .numeric(elementType)
        } else if H5Tget_class(type.id) == H5T_STRING {
            content = .strings
        } else {
            content = .unsupported("HDF5 type class \(H5Tget_class(type.id).rawValue) of \(H5Tget_size(type.id)) bytes")
        }
        self.objectHandle = handle
        self.shape = shape
    }

    /// Reads all values; fails unless the dataset holds exactly `Element`'s type (no silent conversion).
    public func read<Element: HDF5Element>(_ type: Element.Type) throws(HDF5Error) -> HDF5Array<Element> {
        let handle = objectHandle
        let operation = "read dataset"
        guard content == .numeric(Element.hdf5ElementType) else {
            throw handle.error(.typeMismatch, operation, "it holds \(content), not \(Element.hdf5ElementType)")
        }
        let count = elementCount
        return try handle.access(operation) { () throws(HDF5Error) -> HDF5Array<Element> in
            var status: herr_t = 0
            let values = [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0 {
                    status = H5Dread(handle.id, Element.hdf5ElementType.memoryType, kvc_h5s_all(), kvc_h5s_all(), kvc_h5p_default(), UnsafeMutableRawPointer(buffer.baseAddress!))
                }
                // The elements are plain numbers; on failure the buffer is discarded below anyway.
                initialized = status >= 0 ? count : 0
            }
            guard status >= 0 else { throw handle.libraryError(operation) }
            return HDF5Array(unchecked: shape, values: values)
        }
    }

    /// Reads the rows `rows` of the outermost dimension, e.g. the keys of some tokens out of a
    /// `[tokens, heads, headDim]` dataset, without loading the rest. The result has shape
    /// `[rows.count] + shape.dropFirst()`.
    public func read<Element: HDF5Element>(_ type: Element.Type, rows: Range<Int>) throws(HDF5Error) -> HDF5Array<Element> {
        let handle = objectHandle
        let operation = "read rows of dataset"
        guard content == .numeric(Element.hdf5ElementType) else {
            throw handle.error(.typeMismatch, operation, "it holds \(content), not \(Element.hdf5ElementType)")
        }
        guard let rowCount = shape.first else {
            throw handle.error(.shapeMismatch, operation, "a scalar dataset has no rows")
        }
        guard rows.lowerBound >= 0, rows.upperBound <= rowCount else {
            throw handle.error(.shapeMismatch, operation, "rows \(rows) lie outside 0..<\(rowCount)")
        }
        let sliceShape = [rows.count] + shape.dropFirst()
        let count = sliceShape.reduce(1, *)
        if count == 0 { return HDF5Array(unchecked: sliceShape, values: []) }
        return try handle.access(operation) { () throws(HDF5Error) -> HDF5Array<Element> in
            let fileSpace = TransientID(H5Dget_space(handle.id), close: H5Sclose)
            let memorySpace = TransientID(HDF5Dataspace.create(shape: sliceShape), close: H5Sclose)
            guard fileSpace.id >= 0, memorySpace.id >= 0 else { throw handle.libraryError(operation) }
            let start = [hsize_t(rows.lowerBound)] + [hsize_t](repeating: 0, count: shape.count - 1)
            let extent = sliceShape.map { hsize_t($0) }
            guard H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, start, nil, extent, nil) >= 0 else {
                throw handle.libraryError(operation)
            }
            var status: herr_t = 0
            let values = [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
                status = H5Dread(handle.id, Element.hdf5ElementType.memoryType, memorySpace.id, fileSpace.id, kvc_h5p_default(), UnsafeMutableRawPointer(buffer.baseAddress!))
                initialized = status >= 0 ? count : 0
            }
            guard status >= 0 else { throw handle.libraryError(operation) }
            return HDF5Array(unchecked: sliceShape, values: values)
        }
    }

    /// Reads all strings of a string dataset, in row-major order.
    public func readStrings() throws(HDF5Error) -> [String] {
        let handle = objectHandle
        let operation = "read string dataset"
        guard content == .strings else {
            throw handle.error(.typeMismatch, operation, "it holds \(content), not strings")
        }
        let count = elementCount
        return try handle.access(operation) { () throws(HDF5Error) -> [String] in
            let type = TransientID(H5Dget_type(handle.id), close: H5Tclose)
            let space = TransientID(H5Dget_space(handle.id), close: H5Sclose)
            guard type.id >= 0, space.id >= 0 else { throw handle.libraryError(operation) }
            if count == 0 { return [] }
            return try HDF5Strings.read(
                count: count, storedType: type.id, space: space.id, handle: handle, operation: operation, object: handle.path
            ) { memoryType, buffer in
                H5Dread(handle.id, memoryType, kvc_h5s_all(), kvc_h5s_all(), kvc_h5p_default(), buffer)
            }
        }
    }
}
