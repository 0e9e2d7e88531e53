import CCUDA
import Foundation

/// NVRTC, the CUDA run-time compiler, loaded with dlopen: turns a kernel source into a cubin for one
/// GPU architecture. Works on machines without a GPU (only the library is needed), which is how the
/// tests compile every kernel for sm_80 and sm_90 on a CPU machine.
///
/// Thread safety: compilations are serialised by one lock per loaded library (NVRTC's own guarantees
/// vary between versions; a compile takes well under a second for these kernels).
public final class NVRTCCompiler: @unchecked Sendable {
    /// The file NVRTC was loaded from.
    public let libraryPath: String
    public let version: (major: Int, minor: Int)

    private let library: OpaquePointer
    private let lock = NSLock()

    /// Loads NVRTC from `libraryPath`, else from `$KVC_NVRTC_LIBRARY`, else from the first of
    /// `libnvrtc.so`, `libnvrtc.so.13`, `libnvrtc.so.12`, the CUDA toolkit (`/usr/local/cuda/lib64`)
    /// and the pip wheels (`nvidia/cuda_nvrtc/lib`) of the python3 installations found.
    public init(libraryPath: String? = nil) throws(CUDAError) {
        let candidates = LibraryLocator.nvrtcCandidates(explicit: libraryPath)
        var tried: [String] = []
        let explicit = libraryPath != nil || LibraryLocator.environment("KVC_NVRTC_LIBRARY") != nil
        for candidate in candidates {
            var reason = [CChar](repeating: 0, count: 1024)
            if let handle = kvc_nvrtc_open(candidate, &reason, reason.count) {
                library = handle
                self.libraryPath = candidate
                var major: Int32 = 0, minor: Int32 = 0
                let code = kvc_nvrtc_version(handle, &major, &minor)
                guard code == 0 else {
                    throw .nvrtc(function: "nvrtcVersion", code: Int(code), message: String(cString: kvc_nvrtc_error_string(handle, code)))
                }
                version = (Int(major), Int(minor))
                return
            }
            let why = String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if why.contains("has no symbol") { throw .librarySymbolMissing(name: "NVRTC", detail: why) }
            // A file that exists but does not load: name dlerror's reason (a missing dependency…).
            if FileManager.default.fileExists(atPath: candidate) {
                if explicit { throw .libraryUnloadable(path: candidate, reason: why) }
                tried.append("\(candidate) (\(why))")
                continue
            }
            tried.append(candidate)
        }
        throw .libraryNotFound(name: "NVRTC (libnvrtc)", tried: tried)
    }

    /// Compiles `source` to a cubin for `architecture` with `--gpu-architecture=sm_XY -std=c++17`
    /// followed by `options`. `fileName` names the program in NVRTC's messages (`file.cu(12): error …`).
    /// - Throws: `.compilation` with NVRTC's log when the source does not compile.
    public func compile(
        source: String, fileName: String, architecture: GPUArchitecture, options: [String] = []
    ) throws(CUDAError) -> CompiledModule {
        let arguments = ["--gpu-architecture=\(architecture.name)", "-std=c++17"] + options
        let (log, cubin) = try run(source: source, fileName: fileName, architecture: architecture, arguments: arguments, output: .cubin)
        return CompiledModule(fileName: fileName, architecture: architecture, cubin: cubin, log: log)
    }

    /// Compiles `source` to PTX text for the virtual architecture `compute_XY` (for reading what the
    /// compiler made of a kernel; the driver loads cubins from `compile`).
    public func compileToPTX(
        source: String, fileName: String, architecture: GPUArchitecture, options: [String] = []
    ) throws(CUDAError) -> String {
        let arguments = ["--gpu-architecture=compute_\(architecture.major)\(architecture.minor)", "-std=c++17"] + options
        let (_, ptx) = try run(source: source, fileName: fileName, architecture: architecture, arguments: arguments, output: .ptx)
        return String(decoding: ptx.prefix { $0 != 0 }, as: UTF8.self)
    }

    private enum Output { case cubin, ptx }

    /// One NVRTC program: create, compile, read the log and the output, destroy.
    private func run(
        source: String, fileName: String, architecture: GPUArchitecture, arguments: [String], output: Output
    ) throws(CUDAError) -> (log: String, bytes: [UInt8]) {
        lock.lock()
        defer { lock.unlock() }
        var program: kvc_nvrtc_program?
        try check("nvrtcCreateProgram", kvc_nvrtc_create_program(library, &program, source, fileName))
        defer { _ = kvc_nvrtc_destroy_program(library, &program) }

        let compiled = withCStrings(arguments) { kvc_nvrtc_compile_program(library, program, Int32(arguments.count), $0) }
        let log = try programLog(program)
        if compiled == Int32(KVC_NVRTC_ERROR_COMPILATION) { throw .compilation(kernelFile: fileName, architecture: architecture, log: log) }
        try check("nvrtcCompileProgram(\(fileName), \(arguments.joined(separator: " ")))", compiled)

        var size = 0
        let bytes: [UInt8]
        switch output {
        case .cubin:
            try check("nvrtcGetCUBINSize", kvc_nvrtc_get_cubin_size(library, program, &size))
            var buffer = [UInt8](repeating: 0, count: size)
            try check("nvrtcGetCUBIN", buffer.withUnsafeMutableBytes { kvc_nvrtc_get_cubin(library, program, $0.baseAddress!.assumingMemoryBound(to: CChar.self)) })
            bytes = buffer
        case .ptx:
            try check("nvrtcGetPTXSize", kvc_nvrtc_get_ptx_size(library, program, &size))
            var buffer = [UInt8](repeating: 0, count: size)
            try check("nvrtcGetPTX", buffer.withUnsafeMutableBytes { kvc_nvrtc_get_ptx(library, program, $0.baseAddress!.assumingMemoryBound(to: CChar.self)) })
            bytes = buffer
        }
        return (log, bytes)
    }

    /// The compiler's messages, without the terminating NUL and surrounding blank lines ("" when clean).
    private func programLog(_ program: kvc_nvrtc_program?) throws(CUDAError) -> String {
        var size = 0
        try check("nvrtcGetProgramLogSize", kvc_nvrtc_get_program_log_size(library, program, &size))
        guard size > 1 else { return "" }
        var buffer = [CChar](repeating: 0, count: size)
        try check("nvrtcGetProgramLog", kvc_nvrtc_get_program_log(library, program, &buffer))
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func check(_ function: String, _ code: Int32) throws(CUDAError) {
        guard code != Int32(KVC_NVRTC_SUCCESS) else { return }
        throw .nvrtc(function: function, code: Int(code), message: String(cString: kvc_nvrtc_error_string(library, code)))
    }
}

/// Calls `body` with a C array of C strings (`const char *const *`) valid for the call.
func withCStrings<Result>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> Result) -> Result {
    let duplicates = strings.map { strdup($0) }
    defer { duplicates.forEach { free($0) } }
    let pointers = duplicates.map { UnsafePointer<CChar>($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
