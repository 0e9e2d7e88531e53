import ArgumentParser
import Foundation
import KVCCUDA

extension KVCCUDATool {
    /// Compiles every kernel file for sm_80, sm_90 and the GPU present (if any); prints what it got.
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compile every kernel with NVRTC for sm_80, sm_90 and the GPU present; print sizes and times.")

        @OptionGroup var libraries: LibraryOptions

        @Option(help: "Architectures to compile for, besides the GPU present (sm_XY).")
        var architecture: [String] = ["sm_80", "sm_90"]

        func validate() throws {
            for name in architecture {
                do { _ = try GPUArchitecture(parsing: name) } catch { throw ValidationError("\(error)") }
            }
        }

        func run() throws {
            let compiler = try libraries.compiler()
            print("NVRTC \(compiler.version.major).\(compiler.version.minor): \(compiler.libraryPath)")
            var architectures = try architecture.map { (name: String) throws -> GPUArchitecture in try GPUArchitecture(parsing: name) }
            if CUDAContext.isAvailable() {
                let context = try libraries.context()
                let gib = Double(context.totalMemoryBytes) / Double(1 << 30)
                print("GPU \(libraries.device): \(context.deviceName), \(context.architecture), \(String(format: "%.1f", gib)) GiB")
                if !architectures.contains(context.architecture) { architectures.append(context.architecture) }
            } else {
                print("GPU: none (the driver does not load or reports no device); compiling only")
            }
            print("")
            print("| kernel file | architecture | compile ms | cubin bytes | log |")
            print("|---|---|---:|---:|---|")
            for file in KernelSources.fileNames {
                let source = try KernelSources.source(named: file)
                for target in architectures {
                    let start = ContinuousClock.now
                    let module = try compiler.compile(source: source, fileName: file, architecture: target)
                    let elapsed = ContinuousClock.now - start
                    let milliseconds = Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) * 1e-15
                    let log = module.log.trimmingCharacters(in: .whitespacesAndNewlines)
                    print("| \(file) | \(target) | \(String(format: "%.0f", milliseconds)) | \(module.cubin.count) | \(log.isEmpty ? "clean" : log.replacingOccurrences(of: "\n", with: " ")) |")
                }
            }
        }
    }
}
