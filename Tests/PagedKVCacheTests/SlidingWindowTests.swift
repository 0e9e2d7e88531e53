import Testing

@testable import PagedKVCache

@Suite("Paged KV cache: sliding-window layers")
struct SlidingWindowTests {
    @Test("leading blocks no later query can see are freed; the rest read back in order", arguments: [1, 4, 16])
    func freesStaleLeadingBlocks(blockSize: Int) throws {
        let layout = try CacheLayout(layers: 2, kvHeads: 2, headDim: 3, blockSize: blockSize, kvType: .f32)
        let cache = try PagedKVCache(layout: layout, capacityBlocks: 2 * 2 * (100 / blockSize + 2))
        let s = cache.addSequence()
        try append(cache, s, start: 0, count: 100)
        let freeBefore = cache.freeBlockCount
        let window = 40
        let freed = try cache.freeBlocksOutsideWindow(s, layers: [0], window: window)
        // The next query is at position 100 and sees positions ≥ 61: whole blocks below 61 go.
        let stale = 61 / blockSize
        #expect(freed == 2 * stale)
        #expect(cache.freeBlockCount == freeBefore + freed)
        for head in 0..<2 {
            let view = cache.view(s, layer: 0, head: head)
            #expect(view.length == 100 - stale * blockSize)
            #expect((0..<view.length).map { view.position($0) } == (stale * blockSize..<100).map(Int32.init))
            #expect(view.key(0)[0] == Float(stale * blockSize) * 1000 + Float(head) * 100)
            #expect(cache.view(s, layer: 1, head: head).length == 100, "layer 1 is not windowed")
        }
        // A local head holds at most the window plus one partly stale block.
        #expect(cache.contextLength(s, layer: 0, head: 0) <= window + blockSize)
        // Appending continues after the kept KVs.
        try append(cache, s, start: 100, count: 3)
        let view = cache.view(s, layer: 0, head: 1)
        #expect(view.position(view.length - 1) == 102)
        #expect(view.key(view.length - 1)[2] == 102 * 1000 + 100 + 2)
    }

    @Test("a block holding any KV still in the window is kept, whatever its place")
    func keepsBlocksWithVisibleKVs() throws {
        let layout = try CacheLayout(layers: 1, kvHeads: 1, headDim: 2, blockSize: 4, kvType: .f32)
        let cache = try PagedKVCache(layout: layout, capacityBlocks: 8)
        let s = cache.addSequence()
        try append(cache, s, start: 0, count: 12)
        // Compression moved a recent KV into the first block.
        cache.moveSlot(s, layer: 0, head: 0, from: 11, to: 1)
        #expect(try cache.freeBlocks(s, layer: 0, head: 0, olderThan: 8) == 0)
        try append(cache, s, start: 12, count: 2)
        // Every KV is stale now, but the last block is only partly filled: it stays.
        #expect(try cache.freeBlocks(s, layer: 0, head: 0, olderThan: 14) == 3)
        #expect(cache.contextLength(s, layer: 0, head: 0) == 2)
        #expect(throws: KVCacheError.self) { try cache.freeBlocks(SequenceID(99), layer: 0, head: 0, olderThan: 1) }
    }
}
