import CHDF5
import Foundation

/// The open state of one HDF5 file, shared by the file and every group and dataset opened in it.
///
/// Children hold a strong reference, so the file stays open while any of them lives. The file is
/// opened with the "strong" close degree: closing it closes every object opened in it at once,
/// which is what lets `HDF5File.commit()` finish the file even while groups are still referenced.
/// All mutable state is read and written only under `HDF5Library.locked`, hence `@unchecked Sendable`.
final class HDF5FileStorage: @unchecked Sendable {
    /// Where the finished file lives (the path the user named).
    let path: String
    /// The file HDF5 actually has open: `<path>.partial` while writing, `path` when only reading.
    let workingPath: String
    /// Set when the working file is a private copy that `commit` renames onto `path`; released on close.
    let reservation: FileIdentity?
    /// The open file id; nil once committed, closed or discarded.
    private(set) var fileID: hid_t?

    init(path: String, workingPath: String, reservation: FileIdentity?, fileID: hid_t) {
        self.path = path
        self.workingPath = workingPath
        self.reservation = reservation
        self.fileID = fileID
    }

    var isOpen: Bool { fileID != nil }
    var isWritable: Bool { reservation != nil }

    /// Closes the file (and, by the strong close degree, everything opened in it). Call under the lock.
    /// Returns false when HDF5 reports that the close (which flushes pending data) failed.
    func closeFile() -> Bool {
        guard let fileID else { return true }
        self.fileID = nil
        let closed = H5Fclose(fileID) >= 0
        if let reservation { WorkingFiles.release(reservation) }
        return closed
    }

    deinit {
        // An abandoned write: close and delete the partial file, so nothing half-written remains
        // and an existing file at `path` is left as it was.
        HDF5Library.locked {
            guard isOpen else { return }
            _ = closeFile()
            if isWritable { unlink(workingPath) }
        }
    }
}

/// Identifies a file on disk independently of how its path is spelled.
struct FileIdentity: Hashable, Sendable {
    let device: UInt64
    let inode: UInt64
}

/// The working files this process is writing, so a second writer cannot empty one in use.
enum WorkingFiles {
    /// Touched only under `HDF5Library.locked`, which is what makes the unchecked access safe.
    nonisolated(unsafe) private static var reserved: Set<FileIdentity> = []

    static func isReserved(_ identity: FileIdentity) -> Bool { reserved.contains(identity) }
    static func reserve(_ identity: FileIdentity) { reserved.insert(identity) }
    static func release(_ identity: FileIdentity) { reserved.remove(identity) }
}

/// An open object inside an HDF5 file: the root group, a group or a dataset.
///
/// Opaque on purpose: the HDF5 id inside never leaves this module. It is closed when the last
/// reference goes away (or earlier, when its file is committed or closed).
public final class HDF5ObjectHandle: @unchecked Sendable {
    enum Kind { case root, group, dataset }

    let id: hid_t
    let kind: Kind
    let file: HDF5FileStorage
    /// Absolute path inside the file, "/" for the root; used in error messages.
    let path: String

    init(id: hid_t, kind: Kind, file: HDF5FileStorage, path: String) {
        self.id = id
        self.kind = kind
        self.file = file
        self.path = path
    }

    deinit {
        // The root's id is the file id, which the storage owns.
        guard kind != .root else { return }
        HDF5Library.locked {
            if file.isOpen { _ = H5Oclose(id) }
        }
    }

    /// The absolute path of `name` relative to this object.
    func childPath(_ name: String) -> String {
        path == "/" ? "/" + name : path + "/" + name
    }

    func error(_ kind: HDF5Error.Kind, _ operation: String, object: String? = nil, _ reason: String) -> HDF5Error {
        HDF5Error(kind, operation: operation, file: file.path, object: object ?? path, reason: reason)
    }

    /// An error carrying HDF5's own message; call under the lock right after the failing call.
    func libraryError(_ operation: String, object: String? = nil) -> HDF5Error {
        error(.libraryFailure, operation, object: object, HDF5Library.innermostErrorMessage())
    }

    /// Runs `body` under the HDF5 lock once the file is known to be open (and writable, when writing).
    func access<Value>(
        _ operation: String, object: String? = nil, writing: Bool = false, _ body: () throws(HDF5Error) -> Value
    ) throws(HDF5Error) -> Value {
        try HDF5Library.locked { () throws(HDF5Error) -> Value in
            guard file.isOpen else {
                throw error(.fileClosed, operation, object: object, "the file was already committed, closed or discarded")
            }
            if writing && !file.isWritable {
                throw error(.readOnly, operation, object: object, "the file was opened read-only")
            }
            return try body()
        }
    }
}
