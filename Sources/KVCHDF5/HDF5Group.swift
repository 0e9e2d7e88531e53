/// A group inside an HDF5 file: holds datasets, further groups and attributes.
/// Obtained from `createGroup(_:)` or `group(_:)` of a file or another group.
public final class HDF5Group: HDF5Container, Sendable {
    public let objectHandle: HDF5ObjectHandle

    /// Absolute path inside the file, e.g. "/runs/0".
    public var path: String { objectHandle.path }

    init(_ handle: HDF5ObjectHandle) {
        objectHandle = handle
    }
}
