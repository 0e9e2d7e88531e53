#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory; unmapped when the object is released.
///
/// Mapping instead of reading keeps loading a model cheap: the kernel pages the tensor data in on
/// first touch and can share it between processes.
final class MappedFile: @unchecked Sendable {
    /// The mapped bytes; empty for an empty file. Valid for the lifetime of the object.
    let bytes: UnsafeRawBufferPointer
    let path: String

    init(path: String) throws(GGUFError) {
        self.path = path
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT { throw .fileNotFound(file: path) }
            throw .unreadable(file: path, reason: Self.message(code))
        }
        defer { close(descriptor) }

        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .unreadable(file: path, reason: Self.message(errno)) }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw .unreadable(file: path, reason: "not a regular file")
        }
        let size = Int(status.st_size)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), address != MAP_FAILED else {
            throw .unreadable(file: path, reason: "mmap failed: " + Self.message(errno))
        }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }

    static func message(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
