import Testing
@testable import KVCCUDA

/// Every kernel the eviction launchers call exists in eviction.cu compiled for sm_80 and sm_90, and
/// the file compiles without a word from NVRTC.
@Suite struct EvictionKernelNameTests {
    @Test(.enabled(if: NVRTCTestSupport.shouldRun), arguments: NVRTCTestSupport.architectures)
    func launchedKernelsExistInTheCompiledModule(architecture: GPUArchitecture) throws {
        let module = try NVRTCTestSupport.compile(EvictionKernels.fileName, for: architecture)
        #expect(module.log.isEmpty, "NVRTC log for \(architecture): \(module.log)")
        #expect(try module.functionNames() == Set(EvictionKernels.functionNames))
    }

    @Test func launcherNamesAreTheFileEntryPoints() throws {
        let source = try KernelSources.source(named: EvictionKernels.fileName)
        for name in [EvictionKernels.sortFunctionName, EvictionKernels.planFunctionName] {
            #expect(source.contains("extern \"C\" __global__ void \(name)("), "\(name) is an entry point of eviction.cu")
        }
        // The move kernel: one macro-generated entry point per KV type.
        #expect(source.contains("extern \"C\" __global__ void \(EvictionKernels.executeFunctionName)_##SUFFIX("))
        #expect(source.contains("KVC_EXECUTE_MOVES(f32, float)") && source.contains("KVC_EXECUTE_MOVES(f16, unsigned short)"))
        #expect(EvictionKernels.functionNames.contains("kvc_execute_moves_f16") && EvictionKernels.functionNames.contains("kvc_execute_moves_f32"))
    }
}
