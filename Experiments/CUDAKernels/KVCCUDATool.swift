import ArgumentParser
import KVCCUDA

/// `kvc-cuda`: the CUDA kernels of KV-Compress outside the test suite.
///
/// `info` compiles every kernel with NVRTC (no GPU needed); `check` runs every kernel on the GPU
/// against its CPU reference; `bench` times them. The tool depends on KVCCUDA alone (no BLAS, GSL or
/// HDF5), so `scripts/cuda-device-check.sh` can link it statically and run it on a GPU machine that
/// has only the NVIDIA driver and NVRTC.
@main
struct KVCCUDATool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kvc-cuda",
        abstract: "Compile, check and time the KV-Compress CUDA kernels.",
        subcommands: [Info.self, Check.self, Bench.self],
        defaultSubcommand: Info.self)
}

/// Where NVRTC and the driver come from; both default to the search the library does.
struct LibraryOptions: ParsableArguments {
    @Option(help: "libnvrtc to load (default: $KVC_NVRTC_LIBRARY, then the usual places).")
    var nvrtc: String?

    @Option(help: "libcuda to load (default: $KVC_CUDA_DRIVER_LIBRARY, then libcuda.so.1).")
    var driver: String?

    @Option(help: "CUDA device index.")
    var device = 0

    func compiler() throws -> NVRTCCompiler { try NVRTCCompiler(libraryPath: nvrtc) }
    func context() throws -> CUDAContext { try CUDAContext(device: device, driverPath: driver) }

    /// NVRTC and the GPU, for the commands that run kernels; prints which they are.
    func openGPU() throws -> (NVRTCCompiler, CUDAContext) {
        let compiler = try compiler()
        let context = try context()
        print("GPU: \(context.deviceName) (\(context.architecture)); NVRTC \(compiler.version.major).\(compiler.version.minor)")
        return (compiler, context)
    }
}
