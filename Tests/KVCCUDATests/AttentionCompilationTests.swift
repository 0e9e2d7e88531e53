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

    /// The files compile alone (no includes), so each carries the half-float helpers; the copies must
    /// not drift apart (one rounding on the append, another on a read would go unnoticed on the CPU).
    @Test("attention.cu and metric.cu carry the same KV element helpers")
    func elementHelpersAreIdentical() throws {
        func helpers(_ file: String) throws -> Substring {
            let source = try KernelSources.source(named: file)
            let start = try #require(source.range(of: "// MARK: - KV element types"), "\(file): no helper block")
            let end = try #require(source.range(of: "// END KV element types"), "\(file): no end of the helper block")
            return source[start.lowerBound..<end.upperBound]
        }
        let attention = try helpers(GPUAttentionKernels.attentionFile)
        #expect(attention == (try helpers(GPUAttentionKernels.metricFile)))
        // Round to nearest even on the store, as kvc_floats_to_halves; exact widening on the load.
        #expect(attention.contains("cvt.rn.f16.f32") && attention.contains("cvt.f32.f16"))
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
