import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `--threads N`: the model runs its kernels on a worker pool as wide as the CPUs the process may
/// use, so the way to give a run N cores is to pin the process to N of them. Threads created later
/// inherit the mask; the ones already running are pinned too (every task of /proc/self/task).
///
/// glibc declares `sched_getaffinity`/`sched_setaffinity` only under `_GNU_SOURCE`, which the Glibc
/// module does not define, so they are looked up at run time with `dlsym`.
enum CPUAffinity {
    #if os(Linux)
        private typealias AffinityCall = @convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> Int32
        private static func call(_ name: String) -> AffinityCall? {
            // The handle of the program itself (and the libraries it loaded, libc among them).
            dlsym(dlopen(nil, RTLD_NOW), name).map { unsafeBitCast($0, to: AffinityCall.self) }
        }
        private static let getAffinity = call("sched_getaffinity")
        private static let setAffinity = call("sched_setaffinity")
    #endif

    /// CPUs the process may run on now.
    static func allowedCPUs() -> [Int] {
        #if os(Linux)
            var set = cpu_set_t()
            guard let getAffinity, getAffinity(0, MemoryLayout<cpu_set_t>.size, &set) == 0 else {
                return Array(0..<ProcessInfo.processInfo.activeProcessorCount)
            }
            return withUnsafeBytes(of: &set) { bytes in
                (0..<bytes.count * 8).filter { bytes[$0 / 8] & (1 << ($0 % 8)) != 0 }
            }
        #else
            return Array(0..<ProcessInfo.processInfo.activeProcessorCount)
        #endif
    }

    /// Restricts the process to the first `count` allowed CPUs; does nothing when `count` covers them all.
    static func limit(to count: Int) throws(ComputeError) {
        let allowed = allowedCPUs()
        guard count < allowed.count else { return }
        #if os(Linux)
            guard let setAffinity else { throw .affinityRefused(count: count, reason: "sched_setaffinity is not available") }
            var set = cpu_set_t()
            withUnsafeMutableBytes(of: &set) { bytes in
                for cpu in allowed.prefix(count) { bytes[cpu / 8] |= UInt8(1 << (cpu % 8)) }
            }
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")).map { $0.compactMap { pid_t($0) } } ?? []
            for task in [0] + tasks where setAffinity(task, MemoryLayout<cpu_set_t>.size, &set) != 0 && task == 0 {
                throw .affinityRefused(count: count, reason: String(cString: strerror(errno)))
            }
        #endif
    }
}

enum ComputeError: Error, CustomStringConvertible, Equatable {
    case affinityRefused(count: Int, reason: String)

    var description: String {
        switch self {
        case let .affinityRefused(count, reason): "cannot restrict the process to \(count) CPUs: \(reason)"
        }
    }
}
