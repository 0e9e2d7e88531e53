import CCUDA
import Foundation

/// One CUDA device and its primary context: the entry point for loading kernels, allocating device
/// memory and timing work on the GPU.
///
/// Thread safety: driver calls are serialised (see `CUDADriver`); the kernel cache has its own lock.
/// Objects made by a context (buffers, modules) keep it alive.
public final class CUDAContext: @unchecked Sendable {
    public let deviceName: String
    public let architecture: GPUArchitecture
    public let totalMemoryBytes: Int
    /// Streaming multiprocessors of the device.
    public let multiprocessorCount: Int
    /// The most dynamic shared memory one block may opt in to (`setMaxDynamicSharedMemory`).
    public let maxSharedMemoryPerBlockOptIn: Int
    /// The driver library in use.
    public var driverPath: String { driver.path }

    let driver: CUDADriver
    let device: kvc_cuda_device
    let handle: kvc_cuda_context

    private let cacheLock = NSLock()
    private var kernelModules: [String: CUDAModule] = [:]

    /// Whether the driver loads and reports at least one device (false on a machine without a GPU).
    /// Tests that execute kernels are `.enabled(if: CUDAContext.isAvailable())`.
    public static func isAvailable() -> Bool { availability }
    private static let availability: Bool = {
        guard let driver = try? CUDADriver.load(explicitPath: nil) else { return false }
        var count: Int32 = 0
        guard (try? driver.call("cuDeviceGetCount", context: nil, { kvc_cuda_device_get_count($0, &count) })) != nil else { return false }
        return count > 0
    }()

    /// Opens device `device` (its primary context, shared with any other user of the driver in this
    /// process). `driverPath` overrides the search for libcuda.so.1 (else `$KVC_CUDA_DRIVER_LIBRARY`).
    public init(device ordinal: Int = 0, driverPath: String? = nil) throws(CUDAError) {
        let driver = try CUDADriver.load(explicitPath: driverPath)
        var count: Int32 = 0
        try driver.call("cuDeviceGetCount", context: nil) { kvc_cuda_device_get_count($0, &count) }
        guard ordinal >= 0, ordinal < Int(count) else {
            throw .noDevice("device \(ordinal) asked for, the driver (\(driver.path)) reports \(count) device\(count == 1 ? "" : "s")")
        }
        var device: kvc_cuda_device = 0
        try driver.call("cuDeviceGet(\(ordinal))", context: nil) { kvc_cuda_device_get($0, &device, Int32(ordinal)) }

        var name = [CChar](repeating: 0, count: 256)
        try driver.call("cuDeviceGetName", context: nil) { kvc_cuda_device_get_name($0, &name, Int32(name.count), device) }
        func attribute(_ attribute: Int, _ label: String) throws(CUDAError) -> Int {
            var value: Int32 = 0
            try driver.call("cuDeviceGetAttribute(\(label))", context: nil) { kvc_cuda_device_get_attribute($0, &value, Int32(attribute), device) }
            return Int(value)
        }
        let major = try attribute(KVC_CUDA_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, "COMPUTE_CAPABILITY_MAJOR")
        let minor = try attribute(KVC_CUDA_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, "COMPUTE_CAPABILITY_MINOR")
        multiprocessorCount = try attribute(KVC_CUDA_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, "MULTIPROCESSOR_COUNT")
        maxSharedMemoryPerBlockOptIn = try attribute(KVC_CUDA_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, "MAX_SHARED_MEMORY_PER_BLOCK_OPTIN")
        var bytes = 0
        try driver.call("cuDeviceTotalMem_v2", context: nil) { kvc_cuda_device_total_mem($0, &bytes, device) }

        var context: kvc_cuda_context?
        try driver.call("cuDevicePrimaryCtxRetain", context: nil) { kvc_cuda_device_primary_ctx_retain($0, &context, device) }
        guard let context else { throw .driver(function: "cuDevicePrimaryCtxRetain", code: 0, message: "returned no context") }

        self.driver = driver
        self.device = device
        self.handle = context
        deviceName = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        architecture = GPUArchitecture(major: major, minor: minor)
        totalMemoryBytes = bytes
    }

    deinit {
        kernelModules.removeAll()
        let device = device
        driver.callIgnoringFailure(context: nil) { kvc_cuda_device_primary_ctx_release($0, device) }
    }

    /// Runs a driver call with this context current (see `CUDADriver.call`).
    func call(_ function: @autoclosure () -> String, _ body: (OpaquePointer) -> Int32) throws(CUDAError) {
        try driver.call(function(), context: handle, body)
    }

    // MARK: - Kernels

    /// Loads a compiled cubin into this context. Its architecture must match the device's.
    public func load(_ module: CompiledModule) throws(CUDAError) -> CUDAModule {
        guard module.architecture == architecture else {
            throw .invalidArgument("\(module.fileName) was compiled for \(module.architecture), the device \(deviceName) is \(architecture)")
        }
        var loaded: kvc_cuda_module?
        let cubin = module.cubin
        try call("cuModuleLoadData(\(module.fileName) \(module.architecture))") { driver in
            cubin.withUnsafeBytes { kvc_cuda_module_load_data(driver, &loaded, $0.baseAddress) }
        }
        guard let loaded else { throw .driver(function: "cuModuleLoadData(\(module.fileName))", code: 0, message: "returned no module") }
        return CUDAModule(context: self, handle: loaded, fileName: module.fileName)
    }

    /// Compiles kernel file `fileName` (`KernelSources`) for this device with `compiler` and loads it;
    /// the module is cached per file name, so later calls cost a dictionary lookup.
    public func loadKernels(_ fileName: String, compiler: NVRTCCompiler) throws(CUDAError) -> CUDAModule {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if let module = kernelModules[fileName] { return module }
        let source = try KernelSources.source(named: fileName)
        let module = try load(compiler.compile(source: source, fileName: fileName, architecture: architecture))
        kernelModules[fileName] = module
        return module
    }

    // MARK: - Memory and synchronisation

    /// Allocates `count` elements of device memory (uninitialised; `zero()` clears it).
    public func allocate<Element: BitwiseCopyable>(_ type: Element.Type, count: Int) throws(CUDAError) -> DeviceBuffer<Element> {
        try DeviceBuffer(context: self, count: count)
    }

    /// Waits until all work queued on this context finished; reports errors of earlier kernel launches.
    public func synchronize() throws(CUDAError) {
        try call("cuCtxSynchronize") { kvc_cuda_ctx_synchronize($0) }
    }

    /// Runs `body` between two CUDA events on the default stream and returns the GPU milliseconds
    /// between them (waits for the work `body` queued).
    public func timeMilliseconds(_ body: () throws -> Void) throws -> Double {
        var start: kvc_cuda_event?, end: kvc_cuda_event?
        try call("cuEventCreate") { kvc_cuda_event_create($0, &start, UInt32(KVC_CUDA_EVENT_DEFAULT)) }
        defer { call(ignoringFailureOf: { kvc_cuda_event_destroy($0, start) }) }
        try call("cuEventCreate") { kvc_cuda_event_create($0, &end, UInt32(KVC_CUDA_EVENT_DEFAULT)) }
        defer { call(ignoringFailureOf: { kvc_cuda_event_destroy($0, end) }) }
        try call("cuEventRecord") { kvc_cuda_event_record($0, start, nil) }
        try body()
        try call("cuEventRecord") { kvc_cuda_event_record($0, end, nil) }
        try call("cuEventSynchronize") { kvc_cuda_event_synchronize($0, end) }
        var milliseconds: Float = 0
        try call("cuEventElapsedTime") { kvc_cuda_event_elapsed_time($0, &milliseconds, start, end) }
        return Double(milliseconds)
    }

    func call(ignoringFailureOf body: (OpaquePointer) -> Int32) {
        driver.callIgnoringFailure(context: handle, body)
    }
}
