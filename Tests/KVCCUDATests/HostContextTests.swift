import Foundation
import Testing
@testable import KVCCUDA

/// The driver side without a GPU: every way opening a device can fail is a clear `CUDAError`.
@Suite("CUDA context without a device")
struct HostContextTests {
    @Test("no driver or no device: isAvailable is false and init explains why", .enabled(if: !CUDAContext.isAvailable()))
    func unavailableDriverIsExplained() {
        #expect(!CUDAContext.isAvailable())
        #expect {
            _ = try CUDAContext()
        } throws: { error in
            guard let error = error as? CUDAError else { return false }
            switch error {
            case let .libraryNotFound(name, tried): return name.contains("libcuda") && tried.contains("libcuda.so.1") && error.description.contains("KVC_CUDA_DRIVER_LIBRARY")
            case .noDevice: return !error.description.isEmpty
            default: return false
            }
        }
    }

    @Test("a wrong driver path is named in the error")
    func wrongDriverPath() {
        let path = "/nonexistent/libcuda.so.1"
        #expect {
            _ = try CUDAContext(driverPath: path)
        } throws: { error in
            guard let error = error as? CUDAError, case .libraryNotFound(_, let tried) = error else { return false }
            return tried == [path] && error.description.contains(path)
        }
    }

    @Test("a library that is not the driver is refused naming the missing entry point")
    func libraryWithoutDriverSymbols() {
        #expect {
            _ = try CUDAContext(driverPath: "libm.so.6")
        } throws: { error in
            guard let error = error as? CUDAError, case .librarySymbolMissing(_, let detail) = error else { return false }
            return detail.contains("cuInit")
        }
    }

    @Test("error descriptions name the function, the code and the message")
    func errorDescriptions() {
        let driver = CUDAError.driver(function: "cuMemAlloc_v2(64 bytes)", code: 2, message: "out of memory")
        #expect(driver.description.contains("cuMemAlloc_v2") && driver.description.contains("2") && driver.description.contains("out of memory"))
        let compilation = CUDAError.compilation(kernelFile: "attention.cu", architecture: .sm80, log: "attention.cu(7): error: x")
        #expect(compilation.description.contains("attention.cu") && compilation.description.contains("sm_80") && compilation.description.contains("(7)"))
    }

    @Test("kernel arguments refuse counts that do not fit 32 bits")
    func narrowIntegerArguments() throws {
        #expect(try KernelArgument.int(7) == .int32(7))
        #expect(throws: CUDAError.self) { try KernelArgument.int(Int(Int32.max) + 1) }
    }
}
