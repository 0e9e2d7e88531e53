import CHDF5
import Foundation

/// The single gate through which every HDF5 call passes.
///
/// The Debian/Ubuntu `libhdf5-dev` is the serial build, which is not thread-safe: two threads inside
/// the library at once corrupt its global state. One process-wide lock therefore serialises every
/// call (the design of open-meteo/swift-hdf5). The lock is recursive because releasing a handle
/// (whose `deinit` closes it under the lock) can happen while the lock is already held.
enum HDF5Library {
    private static let lock = NSRecursiveLock()

    /// Runs `body` with exclusive access to the HDF5 library, its error printing silenced and its
    /// error stack cleared, so any message read afterwards belongs to a call made inside `body`.
    static func locked<Value, Failure: Error>(_ body: () throws(Failure) -> Value) throws(Failure) -> Value {
        lock.lock()
        defer { lock.unlock() }
        // Cheap, and in thread-safe builds the setting is per thread, so it is renewed every time.
        kvc_h5_silence_errors()
        kvc_h5_clear_errors()
        return try body()
    }

    /// The most specific message on HDF5's error stack, or a generic text when the stack is empty.
    /// Call only while holding the lock, right after the failing call.
    static func innermostErrorMessage() -> String {
        var buffer = [CChar](repeating: 0, count: 512)
        buffer.withUnsafeMutableBufferPointer { kvc_h5_innermost_error($0.baseAddress!) }
        let message = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return message.isEmpty ? "the HDF5 library reported a failure" : "HDF5 says: \(message)"
    }

    /// The text of the current `errno`, e.g. "Permission denied".
    static func errnoText(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }
}

/// Closes a transient HDF5 id (dataspace, datatype, property list, attribute) when the scope ends.
struct TransientID: ~Copyable {
    let id: hid_t
    private let close: (hid_t) -> herr_t

    init(_ id: hid_t, close: @escaping (hid_t) -> herr_t) {
        self.id = id
        self.close = close
    }

    deinit { _ = close(id) }
}
