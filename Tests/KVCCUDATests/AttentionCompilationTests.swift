import Foundation
import Testing

@testable import KVCCUDA

/// attention.cu and metric.cu compile with NVRTC for sm_80 and sm_90 with an empty log, and every
/// kernel the launchers look up is an entry point of the cubin (a renamed kernel fails here, not on
/// the GPU machine). Runs where NVRTC loads; with `KVC_REQUIRE_NVRTC=1` a missing NVRTC fails.
@Suite("Attention kernels compile for sm_80 and sm_90")
struct AttentionCompilationTests {
    struct Compilation: CustomTestStringConvertible, Sendable {
        let file: String
        let architecture: GPUArchitecture
        var testDescription: String { "\(file) for \(architecture)" }
    }

    static let compilations = GPUAttentionKernels.kernelNames.keys.sorted().flatMap { file in
        NVRTCTestSupport.architectures.map { Compilation(file: file, architecture: $0) }
    }

    @Test("compiles without warnings and holds every launched kernel", .enabled(if: NVRTCTestSupport.shouldRun), arguments: compilations)
    func compiles(_ compilation: Compilation) throws {
        let module = try NVRTCTestSupport.compile(compilation.file, for: compilation.architecture)
        #expect(module.log.isEmpty, "NVRTC log: \(module.log)")
        let names = try module.functionNames()
        for kernel in GPUAttentionKernels.kernelNames[compilation.file] ?? [] {
            #expect(names.contains(kernel), "\(kernel) missing from \(compilation.file) for \(compilation.architecture): \(names.sorted())")
        }
    }

    @Test("the launchers' kernel files are the package's attention and metric sources")
    func kernelFilesExist() throws {
        for file in GPUAttentionKernels.kernelNames.keys {
            #expect(KernelSources.fileNames.contains(file), "\(file) not among \(KernelSources.fileNames)")
            let lines = try KernelSources.source(named: file).split(separator: "\n")
            #expect(!lines.contains { $0.hasPrefix("#include") }, "\(file) must not include headers (NVRTC has none)")
        }
    }

    /// One definition of the half-float helpers for both files: they include kv_elements.cuh, and
    /// the source NVRTC gets holds it inlined once (one rounding on the append, another on a read
    /// would go unnoticed on the CPU).
    @Test("attention.cu and metric.cu share kv_elements.cuh, inlined once")
    func elementHelpersAreShared() throws {
        let directory = try #require(KernelSources.directory)
        for file in [GPUAttentionKernels.attentionFile, GPUAttentionKernels.metricFile] {
            let raw = try String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8)
            #expect(raw.contains("#include \"kv_elements.cuh\""), "\(file) does not include kv_elements.cuh")
            #expect(!raw.contains("cvt.rn.f16.f32"), "\(file) defines its own half conversion")
            let source = try KernelSources.source(named: file)
            #expect(source.components(separatedBy: "template <> struct kvc_element<kvc_half>").count == 2, "\(file)")
            // Round to nearest even on the store, as kvc_floats_to_halves; exact widening on the load.
            #expect(source.contains("cvt.rn.f16.f32") && source.contains("cvt.f32.f16"))
            #expect(source.contains("#line 1 \"kv_elements.cuh\""))
        }
        #expect(!KernelSources.fileNames.contains("kv_elements.cuh"), "a header is not a kernel file")
    }

    @Test("includes are inlined once with #line framing; a missing or foreign header is a clear error")
    func headerInlining() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kvc-cuh-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "#include \"inner.cuh\"\nint a;".write(toFile: "\(directory)/outer.cuh", atomically: true, encoding: .utf8)
        try "int b;".write(toFile: "\(directory)/inner.cuh", atomically: true, encoding: .utf8)
        let source = "// k\n#include \"outer.cuh\"\n#include \"inner.cuh\"\nint c;"
        let inlined = try KernelSources.inliningHeaders(of: source, fileName: "k.cu", directory: directory)
        #expect(inlined == """
            // k
            #line 1 "outer.cuh"
            #line 1 "inner.cuh"
            int b;
            #line 2 "outer.cuh"
            int a;
            #line 3 "k.cu"
            // inner.cuh: already inlined above
            int c;
            """)
        for (bad, names) in [
            ("#include \"missing.cuh\"", "k.cu:1 includes missing.cuh"), ("#include <cuda_fp16.h>", "k.cu:1"),
            ("\n#include \"../x.cuh\"", "k.cu:2"),
        ] {
            #expect {
                _ = try KernelSources.inliningHeaders(of: bad, fileName: "k.cu", directory: directory)
            } throws: { error in
                "\(error)".contains(names)
            }
        }
    }

    @Test("every kernel that touches keys or values has an entry point per KV type")
    func typedEntryPoints() {
        let names = GPUAttentionKernels.kernelNames.values.flatMap { $0 }
        for base in [
            GPUAttentionKernels.appendKVName, GPUAttentionKernels.decodeAttentionName, GPUAttentionKernels.windowStatsName,
            GPUAttentionKernels.windowMetricName,
        ] {
            #expect(names.contains("\(base)_f32") && names.contains("\(base)_f16"), "\(base)")
            #expect(!names.contains(base), "\(base) has no untyped entry point any more")
        }
    }
}
