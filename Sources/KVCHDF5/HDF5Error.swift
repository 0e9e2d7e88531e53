/// A failure of an HDF5 operation, naming the file, the object inside it and what went wrong.
///
/// `description` reads like
/// `HDF5: cannot write dataset '/runs/0/keys' in '/tmp/out.h5': shape [2, 3] needs 6 values, got 5`.
public struct HDF5Error: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is, for callers that react differently to each.
    public enum Kind: String, Sendable, Equatable {
        /// The path cannot be written (missing directory, permissions, read-only file system...).
        case unwritablePath
        /// The file does not exist or is not an HDF5 file.
        case unreadableFile
        /// A group, dataset or attribute with that name is not there.
        case notFound
        /// A group or dataset with that name already exists.
        case alreadyExists
        /// The number of values does not match the shape, or a chunk shape does not fit.
        case shapeMismatch
        /// The stored element type is not the one asked for.
        case typeMismatch
        /// A write was attempted on a file opened read-only.
        case readOnly
        /// The file was already committed, closed or discarded.
        case fileClosed
        /// A name or argument the wrapper rejects before calling HDF5.
        case invalidArgument
        /// The HDF5 library itself reported a failure.
        case libraryFailure
    }

    public let kind: Kind
    /// The operation that failed, e.g. "create dataset".
    public let operation: String
    /// The file on disk the operation was about (the destination path for files being written).
    public let file: String
    /// The object inside the file, e.g. "/runs/0/keys" or "attribute 'rate' of /runs/0"; nil for the file itself.
    public let object: String?
    /// Why it failed, in words (errno text or HDF5's own message where available).
    public let reason: String

    public init(_ kind: Kind, operation: String, file: String, object: String? = nil, reason: String) {
        self.kind = kind
        self.operation = operation
        self.file = file
        self.object = object
        self.reason = reason
    }

    public var description: String {
        if let object {
            return "HDF5: cannot \(operation) '\(object)' in '\(file)': \(reason)"
        }
        return "HDF5: cannot \(operation) '\(file)': \(reason)"
    }
}
