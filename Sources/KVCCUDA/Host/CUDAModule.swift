import CCUDA

/// A cubin loaded into a context (`cuModuleLoadData`); unloaded when released.
public final class CUDAModule: @unchecked Sendable {
    public let fileName: String
    let context: CUDAContext
    let handle: kvc_cuda_module

    init(context: CUDAContext, handle: kvc_cuda_module, fileName: String) {
        self.context = context
        self.handle = handle
        self.fileName = fileName
    }

    deinit {
        let handle = handle
        context.call(ignoringFailureOf: { kvc_cuda_module_unload($0, handle) })
    }

    /// The `extern "C" __global__` kernel `name` of this module.
    public func function(_ name: String) throws(CUDAError) -> CUDAFunction {
        var function: kvc_cuda_function?
        try context.call("cuModuleGetFunction(\(name) in \(fileName))") { kvc_cuda_module_get_function($0, &function, handle, name) }
        guard let function else { throw .driver(function: "cuModuleGetFunction(\(name))", code: 0, message: "returned no function") }
        return CUDAFunction(module: self, handle: function, name: name)
    }
}

/// One kernel of a loaded module. Keeps its module (and so its context) alive.
public struct CUDAFunction: @unchecked Sendable {
    public let name: String
    let module: CUDAModule
    let handle: kvc_cuda_function

    init(module: CUDAModule, handle: kvc_cuda_function, name: String) {
        self.module = module
        self.handle = handle
        self.name = name
    }

    /// Lets launches use up to `bytes` of dynamic shared memory (above the default 48 KB a block needs
    /// this opt-in; the device's limit is `CUDAContext.maxSharedMemoryPerBlockOptIn`).
    public func setMaxDynamicSharedMemory(bytes: Int) throws(CUDAError) {
        let limit = module.context.maxSharedMemoryPerBlockOptIn
        guard bytes >= 0, bytes <= limit else {
            throw .invalidArgument("\(name) asks for \(bytes) bytes of dynamic shared memory; \(module.context.deviceName) allows at most \(limit) per block")
        }
        let handle = handle
        try module.context.call("cuFuncSetAttribute(\(name), MAX_DYNAMIC_SHARED_SIZE_BYTES, \(bytes))") {
            kvc_cuda_func_set_attribute($0, handle, Int32(KVC_CUDA_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES), Int32(bytes))
        }
    }

    /// Queues the kernel on the default stream with `grid` × `block` threads. Asynchronous: errors
    /// inside the kernel surface at the next synchronising call (`synchronize`, a download).
    /// A grid with a zero dimension (no work, e.g. no moves to execute) launches nothing.
    public func launch(
        grid: (x: Int, y: Int, z: Int), block: (x: Int, y: Int, z: Int),
        sharedMemoryBytes: Int = 0, arguments: [KernelArgument]
    ) throws(CUDAError) {
        let limit = Int(UInt32.max)
        guard [grid.x, grid.y, grid.z].allSatisfy({ $0 >= 0 && $0 <= limit }),
              [block.x, block.y, block.z].allSatisfy({ $0 > 0 && $0 <= limit }),
              sharedMemoryBytes >= 0, sharedMemoryBytes <= limit
        else {
            throw .invalidArgument(
                "launch of \(name) with grid \(grid), block \(block), \(sharedMemoryBytes) bytes of shared memory: block dimensions must be positive, grid dimensions and shared memory not negative")
        }
        if grid.x == 0 || grid.y == 0 || grid.z == 0 { return }
        // cuLaunchKernel takes `void **`: one pointer per parameter to its value. Every value gets an
        // 8-byte, 8-aligned slot that lives until the call returns (the driver copies the values).
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(1, arguments.count) * 8, alignment: 8)
        defer { storage.deallocate() }
        let pointers = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: max(1, arguments.count))
        defer { pointers.deallocate() }
        for (index, argument) in arguments.enumerated() {
            let slot = storage + index * 8
            argument.store(at: slot)
            pointers[index] = slot
        }
        let handle = handle
        try module.context.call("cuLaunchKernel(\(name), grid \(grid), block \(block), shared \(sharedMemoryBytes))") {
            kvc_cuda_launch_kernel(
                $0, handle, UInt32(grid.x), UInt32(grid.y), UInt32(grid.z), UInt32(block.x), UInt32(block.y), UInt32(block.z),
                UInt32(sharedMemoryBytes), nil, pointers)
        }
    }
}
