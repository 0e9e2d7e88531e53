import CHDF5
import Foundation

/// An HDF5 file, written atomically.
///
/// Writing never happens at the destination path itself: `create(path:)` (and `open` in
/// `.readWrite` mode) work on `<path>.partial` in the same directory, and `commit()` (or `close()`)
/// renames it into place. A run that fails or forgets to commit therefore leaves no half-written
/// file behind and does not touch an existing file at `path`; the partial file is deleted when the
/// `HDF5File` and everything opened from it are released, or by `discard()`.
///
/// Groups, datasets and attributes are reached through `HDF5Container` and `HDF5AttributeHolder`,
/// which the file implements for its root group "/".
public final class HDF5File: HDF5Container, Sendable {
    public enum Mode: Sendable {
        case readOnly
        /// Modifies a copy of the file and replaces the original on `commit()`.
        case readWrite
    }

    /// The destination path the user named.
    public var path: String { storage.path }
    public let objectHandle: HDF5ObjectHandle
    private var storage: HDF5FileStorage { objectHandle.file }

    private init(storage: HDF5FileStorage, fileID: hid_t) {
        objectHandle = HDF5ObjectHandle(id: fileID, kind: .root, file: storage, path: "/")
    }

    /// Starts writing a new HDF5 file that will appear at `path` on `commit()`.
    ///
    /// Checks up front that `<path>.partial` can be created in the target directory, so a bad path
    /// fails here, before any expensive work, with an error naming the path and the reason.
    public static func create(path: String) throws(HDF5Error) -> HDF5File {
        let operation = "create HDF5 file"
        guard !path.isEmpty else {
            throw HDF5Error(.invalidArgument, operation: operation, file: path, reason: "the path is empty")
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw HDF5Error(.unwritablePath, operation: operation, file: path, reason: "a directory exists at that path")
        }
        let workingPath = partialPath(for: path)
        let identity = try reserveWorkingFile(workingPath, destination: path, operation: operation)
        return try openWorkingFile(
            path: path, workingPath: workingPath, reservation: identity, operation: operation
        ) { fileAccess in
            H5Fcreate(workingPath, kvc_h5f_acc_trunc(), kvc_h5p_default(), fileAccess)
        }
    }

    /// Opens an existing HDF5 file. In `.readWrite` mode the changes go to a copy that replaces
    /// the file on `commit()`, so the original stays intact until the new version is complete.
    public static func open(path: String, mode: Mode = .readOnly) throws(HDF5Error) -> HDF5File {
        let operation = mode == .readOnly ? "open HDF5 file" : "open HDF5 file for writing"
        guard FileManager.default.isReadableFile(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "Permission denied" : "No such file or directory"
            throw HDF5Error(.unreadableFile, operation: operation, file: path, reason: reason)
        }
        let isHDF5 = HDF5Library.locked { H5Fis_hdf5(path) }
        guard isHDF5 > 0 else {
            throw HDF5Error(.unreadableFile, operation: operation, file: path, reason: "not an HDF5 file")
        }
        switch mode {
        case .readOnly:
            return try openWorkingFile(path: path, workingPath: path, reservation: nil, operation: operation) { fileAccess in
                H5Fopen(path, kvc_h5f_acc_rdonly(), fileAccess)
            }
        case .readWrite:
            let workingPath = partialPath(for: path)
            let identity = try reserveWorkingFile(workingPath, destination: path, operation: operation)
            do {
                try copyContents(of: path, to: workingPath)
            } catch {
                HDF5Library.locked { WorkingFiles.release(identity) }
                unlink(workingPath)
                throw HDF5Error(.unwritablePath, operation: operation, file: path, reason: "cannot copy it to '\(workingPath)': \(error)")
            }
            return try openWorkingFile(path: path, workingPath: workingPath, reservation: identity, operation: operation) { fileAccess in
                H5Fopen(workingPath, kvc_h5f_acc_rdwr(), fileAccess)
            }
        }
    }

    /// Finishes the file: flushes and closes it (and every group and dataset opened in it) and, for
    /// a file being written, renames `<path>.partial` onto `path`. Later use of this file or its
    /// objects throws `.fileClosed`. Calling it again does nothing.
    public func commit() throws(HDF5Error) {
        let storage = self.storage
        try HDF5Library.locked { () throws(HDF5Error) in
            guard storage.isOpen else { return }
            let closed = storage.closeFile()
            guard storage.isWritable else { return }
            guard closed else {
                let reason = HDF5Library.innermostErrorMessage()
                unlink(storage.workingPath)
                throw HDF5Error(.libraryFailure, operation: "finish HDF5 file", file: storage.path, reason: reason)
            }
            // Force the bytes to disk before the rename makes them the file at `path`, so even a
            // system crash cannot leave a renamed but incomplete file.
            let descriptor = Foundation.open(storage.workingPath, O_RDONLY)
            if descriptor >= 0 {
                _ = fsync(descriptor)
                Foundation.close(descriptor)
            }
            if rename(storage.workingPath, storage.path) != 0 {
                let reason = HDF5Library.errnoText()
                unlink(storage.workingPath)
                throw HDF5Error(.unwritablePath, operation: "move the finished HDF5 file into place at", file: storage.path, reason: reason)
            }
        }
    }

    /// Same as `commit()`: a written file is finished and moved into place; a read-only one is closed.
    public func close() throws(HDF5Error) {
        try commit()
    }

    /// Abandons a file being written: closes it and deletes `<path>.partial`, leaving `path` as it was.
    public func discard() {
        let storage = self.storage
        HDF5Library.locked {
            guard storage.isOpen else { return }
            _ = storage.closeFile()
            if storage.isWritable { unlink(storage.workingPath) }
        }
    }

    /// False once the file was committed, closed or discarded.
    public var isOpen: Bool {
        let storage = self.storage
        return HDF5Library.locked { storage.isOpen }
    }

    /// The temporary file a write goes to before it is renamed onto `path`.
    public static func partialPath(for path: String) -> String { path + ".partial" }

    // MARK: - Opening

    /// Creates (or empties) the working file with plain POSIX calls to learn, before HDF5 is
    /// involved, whether the directory accepts it, and reports errno's reason if not.
    ///
    /// A working file another writer still uses is refused rather than emptied under it: within this
    /// process through the `WorkingFiles` reservation (made here, under the lock, so two racing
    /// creates cannot both pass), across processes through the `flock` HDF5 holds on files it writes.
    private static func reserveWorkingFile(_ workingPath: String, destination: String, operation: String) throws(HDF5Error) -> FileIdentity {
        func failure(_ reason: String) -> HDF5Error {
            HDF5Error(.unwritablePath, operation: operation, file: destination, reason: reason)
        }
        return try HDF5Library.locked { () throws(HDF5Error) -> FileIdentity in
            let descriptor = Foundation.open(workingPath, O_WRONLY | O_CREAT, 0o644)
            guard descriptor >= 0 else {
                throw failure("\(HDF5Library.errnoText()) (while creating '\(workingPath)')")
            }
            defer { Foundation.close(descriptor) }
            var status = stat()
            guard fstat(descriptor, &status) == 0 else {
                throw failure("\(HDF5Library.errnoText()) (while inspecting '\(workingPath)')")
            }
            let identity = FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
            let busy = failure("another writer still has '\(workingPath)' open (commit or discard it first)")
            guard !WorkingFiles.isReserved(identity) else { throw busy }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { throw busy }
            defer { flock(descriptor, LOCK_UN) }
            guard ftruncate(descriptor, 0) == 0 else {
                throw failure("\(HDF5Library.errnoText()) (while emptying '\(workingPath)')")
            }
            WorkingFiles.reserve(identity)
            return identity
        }
    }

    /// Copies the bytes of `source` into the (reserved, empty) file at `destination`.
    private static func copyContents(of source: String, to destination: String) throws {
        let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: source))
        defer { try? input.close() }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: destination))
        defer { try? output.close() }
        while let block = try input.read(upToCount: 1 << 22), !block.isEmpty {
            try output.write(contentsOf: block)
        }
        try output.synchronize()
    }

    private static func openWorkingFile(
        path: String, workingPath: String, reservation: FileIdentity?, operation: String, _ openFile: (hid_t) -> hid_t
    ) throws(HDF5Error) -> HDF5File {
        let writable = reservation != nil
        return try HDF5Library.locked { () throws(HDF5Error) -> HDF5File in
            func abandon() {
                guard let reservation else { return }
                WorkingFiles.release(reservation)
                unlink(workingPath)
            }
            let fileAccess = TransientID(H5Pcreate(kvc_h5p_file_access()), close: H5Pclose)
            guard fileAccess.id >= 0, H5Pset_fclose_degree(fileAccess.id, H5F_CLOSE_STRONG) >= 0 else {
                abandon()
                throw HDF5Error(.libraryFailure, operation: operation, file: path, reason: HDF5Library.innermostErrorMessage())
            }
            let fileID = openFile(fileAccess.id)
            guard fileID >= 0 else {
                let reason = HDF5Library.innermostErrorMessage()
                abandon()
                throw HDF5Error(writable ? .unwritablePath : .unreadableFile, operation: operation, file: path, reason: reason)
            }
            let storage = HDF5FileStorage(path: path, workingPath: workingPath, reservation: reservation, fileID: fileID)
            return HDF5File(storage: storage, fileID: fileID)
        }
    }
}
