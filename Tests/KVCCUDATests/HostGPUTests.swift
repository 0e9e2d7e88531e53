import Foundation
import PagedKVCache
import Testing
@testable import KVCCUDA

/// Tests that execute on a GPU: skipped on machines without one (CUDAContext.isAvailable() is false).
@Suite("CUDA host layer on a GPU", .enabled(if: CUDAContext.isAvailable()), .serialized)
struct HostGPUTests {
    let context: CUDAContext

    init() throws { context = try CUDAContext() }

    @Test func deviceIsDescribed() {
        #expect(!context.deviceName.isEmpty)
        #expect(context.architecture.major >= 7)
        #expect(context.totalMemoryBytes > 1 << 30)
        #expect(context.multiprocessorCount > 0)
        #expect(context.maxSharedMemoryPerBlockOptIn >= 48 * 1024)
    }

    @Test func bufferRoundTrip() throws {
        let floats = (0..<1000).map { Float($0) * 0.5 - 17 }
        let buffer = try context.allocate(Float.self, count: floats.count)
        try buffer.upload(floats)
        #expect(try buffer.download() == floats)

        // Partial copies land at their offsets.
        let patch: [Float] = [-1, -2, -3]
        try patch.withUnsafeBufferPointer { try buffer.upload(from: $0.baseAddress!, count: 3, offset: 500) }
        var expected = floats
        expected.replaceSubrange(500..<503, with: patch)
        #expect(try buffer.download() == expected)
        var middle = [Float](repeating: 0, count: 4)
        try middle.withUnsafeMutableBufferPointer { try buffer.download(into: $0.baseAddress!, count: 4, offset: 499) }
        #expect(middle == Array(expected[499..<503]))

        try buffer.zero()
        #expect(try buffer.download() == [Float](repeating: 0, count: floats.count))

        let integers = try context.allocate(Int32.self, count: 5)
        try integers.upload([1, -2, 3, Int32.max, Int32.min])
        #expect(try integers.download() == [1, -2, 3, Int32.max, Int32.min])
    }

    @Test func bufferRangesAreChecked() throws {
        let buffer = try context.allocate(Float.self, count: 4)
        #expect(throws: CUDAError.self) { try buffer.upload([1, 2, 3]) }
        var host = [Float](repeating: 0, count: 4)
        #expect(throws: CUDAError.self) { try host.withUnsafeMutableBufferPointer { try buffer.download(into: $0.baseAddress!, count: 2, offset: 3) } }
        let empty = try context.allocate(Float.self, count: 0)
        #expect(empty.address == 0)
        #expect(try empty.download().isEmpty)
    }

    @Test("a launch passes pointer, int32, int64 and float arguments")
    func launchWithEveryArgumentKind() throws {
        let module = try context.loadKernels("selftest.cu", compiler: NVRTCTestSupport.compiler())
        #expect(try context.loadKernels("selftest.cu", compiler: NVRTCTestSupport.compiler()) === module)
        let count = 1000
        let x = (0..<count).map { Float($0) }, y = (0..<count).map { Float($0 % 7) - 3 }
        let xs = try context.allocate(Float.self, count: count), ys = try context.allocate(Float.self, count: count)
        let out = try context.allocate(Float.self, count: count)
        try xs.upload(x)
        try ys.upload(y)
        try out.zero()
        let offset: Int64 = 5_000_000_000  // beyond 32 bits: a truncated int64 shows in every element
        let milliseconds = try context.timeMilliseconds {
            try module.function("kvc_selftest_axpy").launch(
                grid: (x: (count + 127) / 128, y: 1, z: 1), block: (x: 128, y: 1, z: 1),
                arguments: [out.argument, xs.argument, ys.argument, .int32(Int32(count)), .int64(offset), .float(2.5)])
        }
        #expect(milliseconds >= 0)
        let expected = (0..<count).map { 2.5 * x[$0] + y[$0] + Float(offset) }
        #expect(try out.download() == expected)
    }

    @Test("dynamic shared memory and warp shuffles")
    func blockSum() throws {
        let module = try context.loadKernels("selftest.cu", compiler: NVRTCTestSupport.compiler())
        let function = try module.function("kvc_selftest_block_sum")
        let values = (0..<4096).map { Float($0 % 13) }
        let input = try context.allocate(Float.self, count: values.count), sum = try context.allocate(Float.self, count: 1)
        try input.upload(values)
        try function.setMaxDynamicSharedMemory(bytes: 64 * 1024)
        try function.launch(
            grid: (x: 1, y: 1, z: 1), block: (x: 256, y: 1, z: 1), sharedMemoryBytes: 256 / 32 * 4,
            arguments: [input.argument, .int32(Int32(values.count)), sum.argument])
        try context.synchronize()
        #expect(try sum.download() == [values.reduce(0, +)])
        #expect(throws: CUDAError.self) { try function.setMaxDynamicSharedMemory(bytes: context.maxSharedMemoryPerBlockOptIn + 1) }
    }

    @Test("an empty grid launches nothing; a zero or negative block is refused")
    func launchDimensions() throws {
        let module = try context.loadKernels("selftest.cu", compiler: NVRTCTestSupport.compiler())
        let function = try module.function("kvc_selftest_axpy")
        let out = try context.allocate(Float.self, count: 4)
        try out.upload([1, 2, 3, 4])
        let arguments: [KernelArgument] = [out.argument, out.argument, out.argument, .int32(4), .int64(0), .float(1)]
        try function.launch(grid: (x: 0, y: 1, z: 1), block: (x: 32, y: 1, z: 1), arguments: arguments)
        #expect(try out.download() == [1, 2, 3, 4])
        #expect(throws: CUDAError.self) { try function.launch(grid: (x: 1, y: 1, z: 1), block: (x: 0, y: 1, z: 1), arguments: arguments) }
        #expect(throws: CUDAError.self) { try function.launch(grid: (x: -1, y: 1, z: 1), block: (x: 32, y: 1, z: 1), arguments: arguments) }
    }

    @Test func unknownKernelNameIsNamed() throws {
        let module = try context.loadKernels("selftest.cu", compiler: NVRTCTestSupport.compiler())
        #expect {
            _ = try module.function("kvc_no_such_kernel")
        } throws: { error in
            (error as? CUDAError)?.description.contains("kvc_no_such_kernel") == true
        }
    }

    @Test("a module compiled for another architecture is refused")
    func architectureMismatch() throws {
        let other: GPUArchitecture = context.architecture == .sm80 ? .sm90 : .sm80
        let module = try NVRTCTestSupport.compile("selftest.cu", for: other)
        #expect(throws: CUDAError.self) { try context.load(module) }
    }

    @Test("GPUPagedKVCache: upload then download reproduces the host pools and tables", arguments: KVStorageType.allCases)
    func pagedCacheRoundTrip(kvType: KVStorageType) throws {
        let layout = try CacheLayout(layers: 2, kvHeads: 3, headDim: 8, blockSize: 4, kvType: kvType)
        let host = try PagedKVCache(layout: layout, capacityBlocks: 64)
        var random = SystemRandomNumberGenerator()
        let sequences = [host.addSequence(), host.addSequence()]
        for (index, sequence) in sequences.enumerated() {
            let tokens = 9 + 4 * index
            try host.reserve(sequence, tokens: tokens)
            for layer in 0..<layout.layers {
                let keys = (0..<tokens * layout.kvHeads * layout.headDim).map { _ in Float.random(in: -1...1, using: &random) }
                let values = (0..<tokens * layout.kvHeads * layout.headDim).map { _ in Float.random(in: -1...1, using: &random) }
                let positions = (0..<tokens).map { Int32($0) }
                host.append(sequence, layer: layer, count: tokens, keys: keys, values: values, positions: positions)
            }
        }
        // Heads with different lengths, as after a compression.
        try host.truncate(sequences[1], layer: 1, head: 2, to: 3)
        for slot in 0..<(host.capacityBlocks * layout.blockSize) { host.metrics[slot] = Float(slot) * 0.25 }

        let device = try GPUPagedKVCache(context: context, layout: layout, capacityBlocks: host.capacityBlocks)
        // Pools of the layout's element size: half the bytes for half floats.
        #expect(device.keys.byteCount == host.capacityBlocks * layout.blockSize * layout.headDim * kvType.bytesPerElement)
        let order = [sequences[1], sequences[0]]
        try device.upload(from: host, sequences: order)
        #expect(device.sequenceCount == 2)
        let widest = order.flatMap { s in (0..<layout.layers).flatMap { l in (0..<layout.kvHeads).map { host.blockTable(s, layer: l, head: $0).count } } }.max()!
        #expect(device.maxBlocks == widest)

        let tables = try device.blockTables.download(), lengths = try device.contextLengths.download()
        for layer in 0..<layout.layers {
            for (index, sequence) in order.enumerated() {
                for head in 0..<layout.kvHeads {
                    let row = device.row(layer: layer, sequence: index, head: head)
                    let table = host.blockTable(sequence, layer: layer, head: head)
                    #expect(Int(lengths[row]) == host.contextLength(sequence, layer: layer, head: head))
                    #expect(Array(tables[(row * device.maxBlocks)..<(row * device.maxBlocks + table.count)]) == table)
                }
            }
        }

        let copy = try PagedKVCache(layout: layout, capacityBlocks: host.capacityBlocks)
        try device.downloadPools(into: copy)
        let slots = host.capacityBlocks * layout.blockSize
        let kvBytes = slots * layout.headDim * kvType.bytesPerElement
        #expect(memcmp(copy.keyStorage, host.keyStorage, kvBytes) == 0)
        #expect(memcmp(copy.valueStorage, host.valueStorage, kvBytes) == 0)
        #expect(memcmp(copy.metrics, host.metrics, slots * 4) == 0)
        #expect(memcmp(copy.positions, host.positions, slots * 4) == 0)

        let mismatched = try PagedKVCache(layout: layout, capacityBlocks: 32)
        #expect(throws: CUDAError.self) { try device.downloadPools(into: mismatched) }
        // Same shape, the other KV type: the bytes would be misread, so it is refused.
        let otherType = try PagedKVCache(layout: layout.with(kvType: kvType == .f16 ? .f32 : .f16), capacityBlocks: host.capacityBlocks)
        #expect(throws: CUDAError.self) { try device.downloadPools(into: otherType) }
        #expect(throws: CUDAError.self) { try device.uploadTables(from: host, sequences: [SequenceID(99)]) }
    }
}
