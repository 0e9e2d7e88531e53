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
public final class HDF5File: HDF5Container, @unchecked Sendable {
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
        try probeWritable(workingPath, destination: path, operation: operation)
        return try openWorkingFile(
            path: path, workingPath: workingPath, writable: true, operation: operation
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
            return try openWorkingFile(path: path, workingPath: path, writable: false, operation: operation) { fileAccess in
                H5Fopen(path, kvc_h5f_acc_rdonly(), fileAccess)
            }
        case .readWrite:
            let workingPath = partialPath(for: path)
            try probeWritable(workingPath, destination: path, operation: operation)
            do {
                _ = try? FileManager.default.removeItem(atPath: workingPath)
                try FileManager.default.copyItem(atPath: path, toPath: workingPath)
            } catch {
                unlink(workingPath)
                throw HDF5Error(.unwritablePath, operation: operation, file: path, reason: "cannot copy it to '\(workingPath)': \(error.localizedDescription)")
            }
            return try openWorkingFile(path: path, workingPath: workingPath, writable: true, operation: operation) { fileAccess in
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

    /// Creates (or truncates) the working file with plain POSIX calls to learn, before HDF5 is
    /// involved, whether the directory accepts it, and reports errno's reason if not.
    private static func probeWritable(_ workingPath: String, destination: String, operation: String) throws(HDF5Error) {
        let descriptor = Foundation.open(workingPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            let reason = HDF5Library.errnoText()
            throw HDF5Error(.unwritablePath, operation: operation, file: destination, reason: "\(reason) (while creating '\(workingPath)')")
        }
        Foundation.close(descriptor)
    }

    private static func openWorkingFile(
        path: String, workingPath: String, writable: Bool, operation: String, _ openFile: (hid_t) -> hid_t
    ) throws(HDF5Error) -> HDF5File {
        try HDF5Library.locked { () throws(HDF5Error) -> HDF5File in
            let fileAccess = TransientID(H5Pcreate(kvc_h5p_file_access()), close: H5Pclose)
            guard fileAccess.id >= 0, H5Pset_fclose_degree(fileAccess.id, H5F_CLOSE_STRONG) >= 0 else {
                if writable { unlink(workingPath) }
                throw HDF5Error(.libraryFailure, operation: operation, file: path, reason: HDF5Library.innermostErrorMessage())
            }
            let fileID = openFile(fileAccess.id)
            guard fileID >= 0 else {
                let reason = HDF5Library.innermostErrorMessage()
                if writable { unlink(workingPath) }
                throw HDF5Error(writable ? .unwritablePath : .unreadableFile, operation: operation, file: path, reason: reason)
            }
            let storage = HDF5FileStorage(path: path, workingPath: workingPath, isWritable: writable, fileID: fileID)
            return HDF5File(storage: storage, fileID: fileID)
        }
    }
}
