import ArgumentParser
import Testing
@testable import KVCCUDATool

/// `kvc-cuda` refuses bad arguments before it loads a library or touches a GPU, naming the problem.
struct KVCCUDAToolArgumentTests {
    @Test(arguments: [["check"], ["bench"]])
    func missingOutputFolderIsRefusedUpFront(_ subcommand: [String]) {
        #expect {
            _ = try KVCCUDATool.parseAsRoot(subcommand + ["--json", "/nonexistent-folder/results.json"])
        } throws: { error in
            KVCCUDATool.message(for: error).contains("folder /nonexistent-folder does not exist")
        }
    }

    @Test func writableOutputFolderIsAccepted() throws {
        let command = try KVCCUDATool.parseAsRoot(["check", "--json", "/tmp/kvc-cuda-check.json"])
        #expect(command is KVCCUDATool.Check)
    }

    @Test func unknownArchitectureIsNamed() {
        #expect {
            _ = try KVCCUDATool.parseAsRoot(["info", "--architecture", "sm_9x"])
        } throws: { error in
            KVCCUDATool.message(for: error).contains("'sm_9x' is not a GPU architecture")
        }
    }
}
