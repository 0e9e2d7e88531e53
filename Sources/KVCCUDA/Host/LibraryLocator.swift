import Foundation

/// Where the two dlopen'ed CUDA libraries are looked for, in order.
///
/// An explicit path (an initializer argument, else the environment variable) is the ONLY candidate:
/// a wrong path must fail naming it rather than silently load another library.
enum LibraryLocator {
    /// Candidates for NVRTC: `$KVC_NVRTC_LIBRARY`, else the loader's search by soname (newest major
    /// first), the CUDA toolkit, then the `nvidia-cuda-nvrtc-cu12` / CUDA 13 pip wheels of any python3.
    static func nvrtcCandidates(explicit: String?) -> [String] {
        if let path = explicit ?? environment("KVC_NVRTC_LIBRARY") { return [path] }
        var candidates = ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"]
        for toolkit in ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/local/cuda/targets/sbsa-linux/lib"] {
            candidates += ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"].map { "\(toolkit)/\($0)" }
        }
        var pythonRoots = ["/usr/local/lib/python3*", "/usr/lib/python3*", "/opt/*/.venv/lib/python3*", "/opt/conda/lib/python3*"]
        if let home = environment("HOME") {
            pythonRoots += ["\(home)/.pyenv/versions/*/lib/python3*", "\(home)/.local/lib/python3*"]
        }
        if let pyenv = environment("PYENV_ROOT") { pythonRoots.append("\(pyenv)/versions/*/lib/python3*") }
        if let venv = environment("VIRTUAL_ENV") { pythonRoots.append("\(venv)/lib/python3*") }
        var wheels: [String] = []
        for root in pythonRoots {
            for packages in ["site-packages", "dist-packages"] {
                // cu12 wheels: nvidia/cuda_nvrtc/lib; CUDA 13 wheels: nvidia/cu13/lib.
                for lib in ["nvidia/cuda_nvrtc/lib", "nvidia/cu13/lib"] {
                    wheels += matchingPaths("\(root)/\(packages)/\(lib)/libnvrtc.so.*")
                }
            }
        }
        // Newest CUDA major first (libnvrtc.so.13 before .12), each path once.
        candidates += wheels.sorted { majorSuffix($0) > majorSuffix($1) }
        var seen = Set<String>()
        return candidates.filter { seen.insert($0).inserted }
    }

    /// Candidates for the CUDA driver: `$KVC_CUDA_DRIVER_LIBRARY`, else libcuda.so.1 by soname and at
    /// the usual driver install locations (the driver, not the toolkit, provides it).
    static func driverCandidates(explicit: String?) -> [String] {
        if let path = explicit ?? environment("KVC_CUDA_DRIVER_LIBRARY") { return [path] }
        return [
            "libcuda.so.1", "libcuda.so", "/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib/aarch64-linux-gnu/libcuda.so.1",
            "/usr/lib64/libcuda.so.1", "/usr/lib/wsl/lib/libcuda.so.1",
            // Where the NVIDIA container toolkit mounts the driver.
            "/usr/local/nvidia/lib64/libcuda.so.1",
        ]
    }

    /// A non-empty environment variable (an empty one counts as unset, as `make` passes them).
    static func environment(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    /// Paths matching a shell pattern, sorted; none when nothing matches.
    static func matchingPaths(_ pattern: String) -> [String] {
        var matches = glob_t()
        defer { globfree(&matches) }
        guard glob(pattern, 0, nil, &matches) == 0 else { return [] }
        return (0..<Int(matches.gl_pathc)).compactMap { matches.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }

    private static func majorSuffix(_ path: String) -> Int {
        Int(path.split(separator: ".").last ?? "") ?? 0
    }
}
