import Foundation
import Testing
@testable import KVCCUDA

@Suite("NVRTC compiler")
struct HostNVRTCTests {
    static let smallKernel = """
        extern "C" __global__ void kvc_test_scale(float *data, float factor, int count) {
            const int i = blockIdx.x * blockDim.x + threadIdx.x;
            if (i < count) data[i] *= factor;
        }
        """

    @Test(.enabled(if: NVRTCTestSupport.shouldRun))
    func loadsAndReportsVersion() throws {
        let compiler = try NVRTCTestSupport.compiler()
        #expect(compiler.version.major >= 11)
        #expect(compiler.libraryPath.contains("nvrtc"))
    }

    @Test("a small kernel compiles to a CUDA ELF cubin holding its entry point",
          .enabled(if: NVRTCTestSupport.shouldRun), arguments: NVRTCTestSupport.architectures)
    func compilesSmallKernel(architecture: GPUArchitecture) throws {
        let module = try NVRTCTestSupport.compiler().compile(source: Self.smallKernel, fileName: "scale.cu", architecture: architecture)
        #expect(module.log.isEmpty)
        #expect(Array(module.cubin.prefix(4)) == [0x7F, 0x45, 0x4C, 0x46])
        #expect(module.cubin.count > 256)
        #expect(try module.functionNames() == ["kvc_test_scale"])
        #expect(module.cubin.firstRange(of: Array("kvc_test_scale".utf8)) != nil)
        // ELF e_flags of a cubin carry the SM number (sm_80 → 80): in the low byte up to CUDA 12, in
        // the second byte in the CUDA 13 encoding.
        let flags = module.cubin[48..<52].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let sm = architecture.major * 10 + architecture.minor
        #expect(flags & 0xFF == sm || (flags >> 8) & 0xFF == sm, "e_flags \(String(flags, radix: 16))")
    }

    @Test("PTX for the virtual architecture declares the entry point", .enabled(if: NVRTCTestSupport.shouldRun))
    func compilesToPTX() throws {
        let ptx = try NVRTCTestSupport.compiler().compileToPTX(source: Self.smallKernel, fileName: "scale.cu", architecture: .sm80)
        #expect(ptx.contains(".target sm_80"))
        #expect(ptx.contains(".entry kvc_test_scale"))
    }

    @Test("compilations from many tasks at once all succeed", .enabled(if: NVRTCTestSupport.shouldRun))
    func concurrentCompilations() async throws {
        let compiler = try NVRTCTestSupport.compiler()
        let names = try await withThrowingTaskGroup(of: Set<String>.self) { group in
            for index in 0..<8 {
                group.addTask {
                    let source = Self.smallKernel.replacingOccurrences(of: "kvc_test_scale", with: "kvc_test_scale_\(index)")
                    let architecture: GPUArchitecture = index.isMultiple(of: 2) ? .sm80 : .sm90
                    return try compiler.compile(source: source, fileName: "scale\(index).cu", architecture: architecture).functionNames()
                }
            }
            return try await group.reduce(into: Set<String>()) { $0.formUnion($1) }
        }
        #expect(names == Set((0..<8).map { "kvc_test_scale_\($0)" }))
    }

    @Test("every kernel file compiles warning-free", .enabled(if: NVRTCTestSupport.shouldRun),
          arguments: KernelSources.fileNames, NVRTCTestSupport.architectures)
    func everyKernelFileCompiles(fileName: String, architecture: GPUArchitecture) throws {
        let module = try NVRTCTestSupport.compile(fileName, for: architecture)
        #expect(module.log.isEmpty, "NVRTC log of \(fileName) for \(architecture): \(module.log)")
        let names = try module.functionNames()
        #expect(!names.isEmpty)
        #expect(names.allSatisfy { $0.hasPrefix("kvc_") }, "entry points must start with kvc_: \(names.sorted())")
    }

    @Test func kernelFilesAreFoundAndSelfContained() throws {
        #expect(KernelSources.fileNames.contains("selftest.cu"))
        for name in KernelSources.fileNames {
            let source = try KernelSources.source(named: name)
            let includes = source.split(separator: "\n").filter { $0.drop { $0 == " " || $0 == "\t" }.hasPrefix("#") && $0.contains("include") }
            #expect(includes.isEmpty, "\(name) must not #include (NVRTC runs without CUDA headers): \(includes)")
        }
    }

    @Test func missingKernelFileIsAClearError() {
        #expect {
            _ = try KernelSources.source(named: "no-such-kernel.cu")
        } throws: { error in
            guard let error = error as? CUDAError, case .kernelSourceMissing(let why) = error else { return false }
            return why.contains("no-such-kernel.cu") && why.contains("selftest.cu")
        }
    }

    @Test("a syntax error names the file, the architecture and the line", .enabled(if: NVRTCTestSupport.shouldRun))
    func syntaxErrorIsReported() throws {
        let broken = """
            extern "C" __global__ void kvc_broken(float *data) {
                data[0] = 1.0f
                data[1] = 2.0f;
            }
            """
        let compiler = try NVRTCTestSupport.compiler()
        #expect {
            _ = try compiler.compile(source: broken, fileName: "broken.cu", architecture: .sm90)
        } throws: { error in
            guard let error = error as? CUDAError, case .compilation(let file, let architecture, _) = error else { return false }
            let text = error.description
            return file == "broken.cu" && architecture == .sm90 && text.contains("broken.cu(3)") && text.contains("sm_90")
        }
    }

    @Test("an error in an inlined header names the header's line, one after it the file's", .enabled(if: NVRTCTestSupport.shouldRun))
    func inlinedHeaderLinesAreReported() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kvc-cuh-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "// helper\nstatic __device__ float kvc_twice(float x) { return 2.0f * x }\n".write(
            toFile: "\(directory)/helper.cuh", atomically: true, encoding: .utf8)
        let file = """
            #include "helper.cuh"
            extern "C" __global__ void kvc_uses(float *data) {
                data[0] = kvc_twice(data[0])
            }
            """
        let source = try KernelSources.inliningHeaders(of: file, fileName: "uses.cu", directory: directory)
        let compiler = try NVRTCTestSupport.compiler()
        #expect {
            _ = try compiler.compile(source: source, fileName: "uses.cu", architecture: .sm90)
        } throws: { error in
            let text = "\(error)"
            return text.contains("helper.cuh(2)") && text.contains("uses.cu(4)")
        }
    }

    @Test("a wrong library path is named in the error")
    func wrongLibraryPath() {
        let path = "/nonexistent/libnvrtc.so.99"
        #expect {
            _ = try NVRTCCompiler(libraryPath: path)
        } throws: { error in
            guard let error = error as? CUDAError, case .libraryNotFound(_, let tried) = error else { return false }
            return tried == [path] && error.description.contains(path) && error.description.contains("nvidia-cuda-nvrtc-cu12")
        }
    }

    @Test("a library that is not NVRTC is refused naming the missing entry point")
    func libraryWithoutNVRTCSymbols() {
        // libm loads everywhere but exports no nvrtc* symbol.
        #expect {
            _ = try NVRTCCompiler(libraryPath: "libm.so.6")
        } throws: { error in
            guard let error = error as? CUDAError, case .librarySymbolMissing(_, let detail) = error else { return false }
            return detail.contains("nvrtcVersion")
        }
    }

    @Test("a corrupt cubin is rejected by the symbol reader")
    func corruptCubin() {
        let module = CompiledModule(fileName: "fake.cu", architecture: .sm90, cubin: Array("not an elf image at all".utf8), log: "")
        #expect(throws: CUDAError.self) { try module.functionNames() }
    }
}

@Suite("NVRTC library loading")
struct HostNVRTCLoadingTests {
    @Test("a file that exists but is no shared library is refused with the loader's reason")
    func unloadableFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kvc-not-a-library-\(getpid()).so").path
        try Data("not an ELF file".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            _ = try NVRTCCompiler(libraryPath: path)
        } throws: { error in
            guard let error = error as? CUDAError, case .libraryUnloadable(let failed, let reason) = error else { return false }
            return failed == path && !reason.isEmpty && error.description.contains(path)
        }
    }
}
