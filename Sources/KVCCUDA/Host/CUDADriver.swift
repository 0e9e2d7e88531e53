import CCUDA
import Foundation

/// The CUDA driver library (libcuda), loaded once per path and initialised (`cuInit`).
///
/// Thread safety: every driver call of this package goes through `call`, under one process-wide
/// lock, after making the caller's context current on the calling thread — Swift concurrency may run
/// consecutive calls of one task on different threads, and the driver's "current context" is
/// per-thread state.
final class CUDADriver: @unchecked Sendable {
    let path: String
    let library: OpaquePointer

    private static let lock = NSLock()
    nonisolated(unsafe) private static var loaded: [String: CUDADriver] = [:]

    private init(path: String, library: OpaquePointer) {
        self.path = path
        self.library = library
    }

    /// The driver at `explicitPath`, else `$KVC_CUDA_DRIVER_LIBRARY`, else libcuda.so.1 at the usual
    /// places; loaded and `cuInit`-ed on first use.
    static func load(explicitPath: String?) throws(CUDAError) -> CUDADriver {
        lock.lock()
        defer { lock.unlock() }
        var tried: [String] = []
        let explicit = explicitPath != nil || LibraryLocator.environment("KVC_CUDA_DRIVER_LIBRARY") != nil
        for candidate in LibraryLocator.driverCandidates(explicit: explicitPath) {
            if let driver = loaded[candidate] { return driver }
            var reason = [CChar](repeating: 0, count: 1024)
            guard let library = kvc_cuda_driver_open(candidate, &reason, reason.count) else {
                let why = String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if why.contains("has no symbol") { throw .librarySymbolMissing(name: "the CUDA driver", detail: why) }
                // A file that exists but does not load: name dlerror's reason (a missing dependency…).
                if FileManager.default.fileExists(atPath: candidate) {
                    if explicit { throw .libraryUnloadable(path: candidate, reason: why) }
                    tried.append("\(candidate) (\(why))")
                    continue
                }
                tried.append(candidate)
                continue
            }
            let driver = CUDADriver(path: candidate, library: library)
            let code = kvc_cuda_init(library, 0)
            if code == Int32(KVC_CUDA_ERROR_NO_DEVICE) {
                throw .noDevice("cuInit: \(driver.message(code)) (driver \(candidate))")
            }
            try driver.check("cuInit", code)
            loaded[candidate] = driver
            return driver
        }
        throw .libraryNotFound(name: "the CUDA driver (libcuda.so.1)", tried: tried)
    }

    /// Runs `body` (a driver call returning its CUresult) under the driver lock with `context` current
    /// on this thread; throws `.driver` naming `function` when the result is not CUDA_SUCCESS.
    func call(_ function: @autoclosure () -> String, context: kvc_cuda_context?, _ body: (OpaquePointer) -> Int32) throws(CUDAError) {
        Self.lock.lock()
        defer { Self.lock.unlock() }
        if let context {
            try check("cuCtxSetCurrent", kvc_cuda_ctx_set_current(library, context))
        }
        try check(function(), body(library))
    }

    /// The same as `call`, ignoring failure: for releasing resources in `deinit`, where nothing can
    /// be reported and a failure (e.g. after a fatal kernel error) must not stop the process.
    func callIgnoringFailure(context: kvc_cuda_context?, _ body: (OpaquePointer) -> Int32) {
        Self.lock.lock()
        defer { Self.lock.unlock() }
        if let context { _ = kvc_cuda_ctx_set_current(library, context) }
        _ = body(library)
    }

    func check(_ function: @autoclosure () -> String, _ code: Int32) throws(CUDAError) {
        guard code != Int32(KVC_CUDA_SUCCESS) else { return }
        throw .driver(function: function(), code: Int(code), message: message(code))
    }

    func message(_ code: Int32) -> String { String(cString: kvc_cuda_error_string(library, code)) }
}
