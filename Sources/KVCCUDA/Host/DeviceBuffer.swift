import CCUDA

/// `count` elements of device memory, freed when the buffer is released.
///
/// Copies are synchronous (`cuMemcpyHtoD` / `cuMemcpyDtoH` on the default stream): an upload returns
/// when the data is on the device, a download waits for earlier kernels to finish.
public final class DeviceBuffer<Element: BitwiseCopyable>: @unchecked Sendable {
    public let count: Int
    public let context: CUDAContext
    /// The device address (0 for an empty buffer); pass it to kernels as `argument`.
    public var address: UInt64 { pointer }
    /// Size in bytes.
    public var byteCount: Int { count * MemoryLayout<Element>.stride }

    private let pointer: kvc_cuda_device_ptr

    init(context: CUDAContext, count: Int) throws(CUDAError) {
        guard count >= 0 else { throw .invalidArgument("cannot allocate \(count) elements of \(Element.self)") }
        self.context = context
        self.count = count
        var pointer: kvc_cuda_device_ptr = 0
        let bytes = count * MemoryLayout<Element>.stride
        if bytes > 0 {
            try context.call("cuMemAlloc_v2(\(bytes) bytes)") { kvc_cuda_mem_alloc($0, &pointer, bytes) }
        }
        self.pointer = pointer
    }

    deinit {
        guard pointer != 0 else { return }
        let pointer = pointer
        context.call(ignoringFailureOf: { kvc_cuda_mem_free($0, pointer) })
    }

    /// Copies `values` to the device; `values.count` must equal `count`.
    public func upload(_ values: [Element]) throws(CUDAError) {
        guard values.count == count else {
            throw .invalidArgument("upload of \(values.count) \(Element.self) into a device buffer of \(count)")
        }
        guard count > 0 else { return }
        let stride = MemoryLayout<Element>.stride, destination = pointer
        try context.call("cuMemcpyHtoD_v2(\(count * stride) bytes)") { driver in
            values.withUnsafeBytes { kvc_cuda_memcpy_htod(driver, destination, $0.baseAddress, $0.count) }
        }
    }

    /// Copies `count` host elements to elements `offset ..< offset + count` of the buffer.
    public func upload(from source: UnsafePointer<Element>, count: Int, offset: Int = 0) throws(CUDAError) {
        try checkRange(count: count, offset: offset, operation: "upload")
        guard count > 0 else { return }
        let stride = MemoryLayout<Element>.stride
        let destination = pointer + UInt64(offset * stride)
        try context.call("cuMemcpyHtoD_v2(\(count * stride) bytes)") { kvc_cuda_memcpy_htod($0, destination, source, count * stride) }
    }

    /// The whole buffer as a host array.
    public func download() throws(CUDAError) -> [Element] {
        guard count > 0 else { return [] }
        let buffer = UnsafeMutablePointer<Element>.allocate(capacity: count)
        defer { buffer.deallocate() }
        try download(into: buffer, count: count)
        return Array(UnsafeBufferPointer(start: buffer, count: count))
    }

    /// Copies elements `offset ..< offset + count` of the buffer into `destination`.
    public func download(into destination: UnsafeMutablePointer<Element>, count: Int, offset: Int = 0) throws(CUDAError) {
        try checkRange(count: count, offset: offset, operation: "download")
        guard count > 0 else { return }
        let stride = MemoryLayout<Element>.stride
        let source = pointer + UInt64(offset * stride)
        try context.call("cuMemcpyDtoH_v2(\(count * stride) bytes)") { kvc_cuda_memcpy_dtoh($0, destination, source, count * stride) }
    }

    /// Copies `byteCount` bytes from host memory of any type to the start of the buffer (for pools
    /// whose element type only the layout knows, e.g. keys of either KV type).
    public func upload(bytes source: UnsafeRawPointer, byteCount: Int) throws(CUDAError) {
        guard byteCount >= 0, byteCount <= self.byteCount else {
            throw .invalidArgument("upload of \(byteCount) bytes into a device buffer of \(self.byteCount)")
        }
        guard byteCount > 0 else { return }
        let destination = pointer
        try context.call("cuMemcpyHtoD_v2(\(byteCount) bytes)") { kvc_cuda_memcpy_htod($0, destination, source, byteCount) }
    }

    /// Copies the first `byteCount` bytes of the buffer into host memory of any type.
    public func download(bytesInto destination: UnsafeMutableRawPointer, byteCount: Int) throws(CUDAError) {
        guard byteCount >= 0, byteCount <= self.byteCount else {
            throw .invalidArgument("download of \(byteCount) bytes from a device buffer of \(self.byteCount)")
        }
        guard byteCount > 0 else { return }
        let source = pointer
        try context.call("cuMemcpyDtoH_v2(\(byteCount) bytes)") { kvc_cuda_memcpy_dtoh($0, destination, source, byteCount) }
    }

    /// Sets every byte of the buffer to 0.
    public func zero() throws(CUDAError) {
        guard byteCount > 0 else { return }
        let pointer = pointer, bytes = byteCount
        try context.call("cuMemsetD8_v2(\(bytes) bytes)") { kvc_cuda_memset_d8($0, pointer, 0, bytes) }
    }

    private func checkRange(count: Int, offset: Int, operation: String) throws(CUDAError) {
        guard count >= 0, offset >= 0, offset + count <= self.count else {
            throw .invalidArgument("\(operation) of \(count) \(Element.self) at offset \(offset) exceeds the device buffer of \(self.count)")
        }
    }
}

extension DeviceBuffer {
    /// The buffer as a kernel pointer argument.
    public var argument: KernelArgument { .pointer(address) }
}
