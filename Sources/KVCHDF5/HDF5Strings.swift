import CHDF5
import Foundation

/// Conversions between Swift strings and HDF5 string data (call under the lock).
enum HDF5Strings {
    /// A variable-length UTF-8 string type, the form h5py writes for `str`.
    static func variableLengthType(handle: HDF5ObjectHandle, operation: String, object: String) throws(HDF5Error) -> TransientID {
        let type = TransientID(H5Tcopy(kvc_h5t_c_s1()), close: H5Tclose)
        guard type.id >= 0,
            H5Tset_size(type.id, kvc_h5t_variable()) >= 0,
            H5Tset_cset(type.id, H5T_CSET_UTF8) >= 0
        else { throw handle.libraryError(operation, object: object) }
        return type
    }

    /// Calls `body` with an array of C string pointers, valid only during the call.
    static func withCStringPointers<Result>(_ strings: [String], _ body: (UnsafeRawPointer) -> Result) -> Result {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        let pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
        return pointers.withUnsafeBytes { body($0.baseAddress!) }
    }

    /// Decodes a NUL-terminated (or NUL-padded) buffer as UTF-8.
    static func decode(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Reads `count` strings of `storedType` through `read`, which receives the memory type and the buffer.
    /// Handles both variable-length strings and fixed-length ones (numpy `S`/h5py fixed strings).
    static func read(
        count: Int, storedType: hid_t, space: hid_t, handle: HDF5ObjectHandle, operation: String, object: String,
        _ readInto: (hid_t, UnsafeMutableRawPointer) -> herr_t
    ) throws(HDF5Error) -> [String] {
        let isVariable = H5Tis_variable_str(storedType)
        guard isVariable >= 0 else { throw handle.libraryError(operation, object: object) }
        if isVariable > 0 {
            let memoryType = TransientID(H5Tcopy(storedType), close: H5Tclose)
            guard memoryType.id >= 0 else { throw handle.libraryError(operation, object: object) }
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: max(count, 1))
            let status = pointers.withUnsafeMutableBytes { readInto(memoryType.id, $0.baseAddress!) }
            guard status >= 0 else { throw handle.libraryError(operation, object: object) }
            let strings = pointers.prefix(count).map { $0.map { String(cString: $0) } ?? "" }
            _ = pointers.withUnsafeMutableBytes { kvc_h5_reclaim(memoryType.id, space, $0.baseAddress!) }
            return strings
        }
        let width = H5Tget_size(storedType)
        guard width > 0 else { throw handle.libraryError(operation, object: object) }
        let memoryType = TransientID(H5Tcopy(storedType), close: H5Tclose)
        guard memoryType.id >= 0 else { throw handle.libraryError(operation, object: object) }
        var bytes = [CChar](repeating: 0, count: max(count * width, 1))
        let status = bytes.withUnsafeMutableBytes { readInto(memoryType.id, $0.baseAddress!) }
        guard status >= 0 else { throw handle.libraryError(operation, object: object) }
        let spacePadded = H5Tget_strpad(storedType) == H5T_STR_SPACEPAD
        return (0..<count).map { index in
            var text = decode(Array(bytes[index * width..<(index + 1) * width]))
            if spacePadded { while text.hasSuffix(" ") { text.removeLast() } }
            return text
        }
    }
}
