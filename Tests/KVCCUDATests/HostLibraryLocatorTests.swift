import Foundation
import Testing
@testable import KVCCUDA

@Suite("Where the CUDA libraries and kernel files are looked for")
struct HostLibraryLocatorTests {
    @Test func explicitPathIsTheOnlyCandidate() {
        #expect(LibraryLocator.nvrtcCandidates(explicit: "/opt/x/libnvrtc.so.12") == ["/opt/x/libnvrtc.so.12"])
        #expect(LibraryLocator.driverCandidates(explicit: "/opt/x/libcuda.so.1") == ["/opt/x/libcuda.so.1"])
    }

    @Test("without an explicit path: sonames first, then the toolkit, then pip wheels, each once",
          .enabled(if: ProcessInfo.processInfo.environment["KVC_NVRTC_LIBRARY"].map(\.isEmpty) ?? true))
    func defaultSearchOrder() {
        let candidates = LibraryLocator.nvrtcCandidates(explicit: nil)
        #expect(Array(candidates.prefix(3)) == ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"])
        #expect(candidates.contains("/usr/local/cuda/lib64/libnvrtc.so.12"))
        #expect(Set(candidates).count == candidates.count)
        let wheels = candidates.filter { $0.contains("site-packages") || $0.contains("dist-packages") }
        #expect(wheels.allSatisfy { FileManager.default.fileExists(atPath: $0) && !$0.contains(".alt.") && !$0.contains("builtins") })
    }

    @Test func shellPatternsMatchFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kvc-locator-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in ["libnvrtc.so.12", "libnvrtc.so.13", "libnvrtc-builtins.so.12.9", "selftest.cu", "notes.md", "b.cu"] {
            try Data().write(to: directory.appendingPathComponent(name))
        }
        #expect(LibraryLocator.matchingPaths("\(directory.path)/libnvrtc.so.*") == ["12", "13"].map { "\(directory.path)/libnvrtc.so.\($0)" })
        #expect(LibraryLocator.matchingPaths("\(directory.path)/none*").isEmpty)
        #expect(KernelSources.fileNames(in: directory.path) == ["b.cu", "selftest.cu"])
    }
}
