import Testing
@testable import KVCCUDA

@Suite("GPUArchitecture")
struct HostArchitectureTests {
    @Test("sm_XY names parse to their compute capability and back", arguments: [
        ("sm_80", 8, 0), ("sm_86", 8, 6), ("sm_90", 9, 0), ("sm_75", 7, 5), ("sm_100", 10, 0), ("sm_120", 12, 0),
    ])
    func parsesNames(text: String, major: Int, minor: Int) throws {
        let architecture = try GPUArchitecture(parsing: text)
        #expect(architecture == GPUArchitecture(major: major, minor: minor))
        #expect(architecture.name == text)
    }

    @Test("malformed names are rejected with the text in the message", arguments: [
        "", "sm_", "sm_8", "80", "compute_80", "sm_8x", "sm_-80", "SM_80", "sm_08", "sm_９０",
    ])
    func rejectsMalformed(text: String) {
        #expect {
            _ = try GPUArchitecture(parsing: text)
        } throws: { error in
            guard let error = error as? CUDAError, case .invalidArgument(let why) = error else { return false }
            return why.contains("'\(text)'")
        }
    }

    @Test func namedArchitectures() {
        #expect(GPUArchitecture.sm80.name == "sm_80")
        #expect(GPUArchitecture.sm90.description == "sm_90")
    }
}
