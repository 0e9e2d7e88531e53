/// Failures of the CUDA host layer, each naming the library, function or file concerned and, where the
/// library gave one, its status code and message.
public enum CUDAError: Error, Equatable, CustomStringConvertible {
    /// A shared library could not be loaded from any of the paths tried.
    case libraryNotFound(name: String, tried: [String])
    /// The file exists but the dynamic loader refused it (`reason` is dlerror's text, e.g. a missing
    /// dependency such as libnvrtc-builtins, or a library for another architecture).
    case libraryUnloadable(path: String, reason: String)
    /// The library loaded but lacks an entry point this package needs (e.g. a too-old NVRTC).
    case librarySymbolMissing(name: String, detail: String)
    /// A CUDA driver API call returned `code` (a `CUresult`).
    case driver(function: String, code: Int, message: String)
    /// An NVRTC call returned `code` (an `nvrtcResult`).
    case nvrtc(function: String, code: Int, message: String)
    /// NVRTC rejected `kernelFile` for `architecture`; `log` is its compiler output.
    case compilation(kernelFile: String, architecture: GPUArchitecture, log: String)
    /// The driver loaded but reports no CUDA device (or not the one asked for).
    case noDevice(String)
    case invalidArgument(String)
    /// A kernel source file could not be found or read.
    case kernelSourceMissing(String)

    public var description: String {
        switch self {
        case let .libraryNotFound(name, tried):
            "\(name) could not be loaded; tried: \(tried.joined(separator: ", "))"
                + (name.contains("nvrtc")
                    ? ". Install NVRTC with `python3 -m pip install nvidia-cuda-nvrtc-cu12` (or a CUDA toolkit), or set KVC_NVRTC_LIBRARY to the path of libnvrtc.so"
                    : ". It ships with the NVIDIA driver (libcuda.so.1); set KVC_CUDA_DRIVER_LIBRARY to its path if it is installed elsewhere")
        case let .libraryUnloadable(path, reason):
            "\(path) exists but cannot be loaded: \(reason)"
        case let .librarySymbolMissing(name, detail):
            "\(name) is unusable: \(detail) (too old a version?)"
        case let .driver(function, code, message):
            "CUDA driver call \(function) failed with CUresult \(code): \(message)"
        case let .nvrtc(function, code, message):
            "NVRTC call \(function) failed with nvrtcResult \(code): \(message)"
        case let .compilation(file, architecture, log):
            "NVRTC could not compile \(file) for \(architecture):\n\(log)"
        case .noDevice(let why): "no CUDA device: \(why)"
        case .invalidArgument(let why): "invalid argument: \(why)"
        case .kernelSourceMissing(let why): "kernel source missing: \(why)"
        }
    }
}
