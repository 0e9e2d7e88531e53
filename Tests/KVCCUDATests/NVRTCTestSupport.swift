import Foundation
import Testing
@testable import KVCCUDA

/// Shared set-up of tests that compile kernels with NVRTC (every helper's test files use it).
///
/// NVRTC is found as `NVRTCCompiler()` finds it. When it is missing the tests that need it are
/// skipped — unless `KVC_REQUIRE_NVRTC=1` (CI, `make test`): then they run and fail with the loading
/// error. Usage:
/// ```swift
/// @Test(.enabled(if: NVRTCTestSupport.shouldRun)) func compiles() throws {
///     let module = try NVRTCTestSupport.compile("attention.cu", for: .sm90)
/// }
/// ```
enum NVRTCTestSupport {
    /// Architectures every kernel file must compile for.
    static let architectures: [GPUArchitecture] = [.sm80, .sm90]

    /// NVRTC loaded once for the whole test run (or the reason it could not be).
    static let loaded: Result<NVRTCCompiler, CUDAError> = Result { () throws(CUDAError) in try NVRTCCompiler() }

    /// `KVC_REQUIRE_NVRTC=1`: a missing NVRTC is a failure.
    static var isRequired: Bool { ProcessInfo.processInfo.environment["KVC_REQUIRE_NVRTC"] == "1" }

    /// Whether NVRTC tests run: NVRTC loads, or it is required (and the test then fails).
    static var shouldRun: Bool {
        if case .success = loaded { return true }
        return isRequired
    }

    /// The compiler, or the loading error (which fails the calling test).
    static func compiler() throws -> NVRTCCompiler { try loaded.get() }

    /// Compiles kernel file `fileName` of `KernelSources` for `architecture`.
    static func compile(_ fileName: String, for architecture: GPUArchitecture, options: [String] = []) throws -> CompiledModule {
        try compiler().compile(source: KernelSources.source(named: fileName), fileName: fileName, architecture: architecture, options: options)
    }

    /// The global function symbols of `fileName` compiled for `architecture` (kernel entry points).
    static func functionNames(_ fileName: String, for architecture: GPUArchitecture) throws -> Set<String> {
        try compile(fileName, for: architecture).functionNames()
    }
}
