import Testing

@testable import PagedKVCache

/// Fills `[count, kvHeads, headDim]` with values that encode (token, head, dim), so any misplaced
/// copy is visible.
func kvRows(start: Int, count: Int, layout: CacheLayout, salt: Float) -> [Float] {
    var rows: [Float] = []
    for t in 0..<count {
        for h in 0..<layout.kvHeads {
            for d in 0..<layout.headDim { rows.append(salt + Float(start + t) * 1000 + Float(h) * 100 + Float(d)) }
        }
    }
    return rows
}

func append(_ cache: PagedKVCache, _ sequence: SequenceID, start: Int, count: Int) throws {
    try cache.reserve(sequence, tokens: count)
    let l = cache.layout
    for layer in 0..<l.layers {
        let keys = kvRows(start: start, count: count, layout: l, salt: Float(layer) * 0.25)
        let values = kvRows(start: start, count: count, layout: l, salt: -Float(layer) * 0.25 - 0.5)
        let positions = (0..<count).map { Int32(start + $0) }
        cache.append(sequence, layer: layer, count: count, keys: keys, values: values, positions: positions)
    }
    cache.advance(sequence, by: count)
}

@Suite("Paged KV cache")
struct PagedKVCacheTests {
    @Test("appended KVs read back through the block tables in logical order", arguments: CacheLayout.supportedBlockSizes)
    func appendAndRead(blockSize: Int) throws {
        let layout = try CacheLayout(layers: 2, kvHeads: 3, headDim: 5, blockSize: blockSize, kvType: .f32)
        let cache = try PagedKVCache(layout: layout, capacityBlocks: 2 * 2 * 3 * (40 / blockSize + 2))
        let a = cache.addSequence(), b = cache.addSequence()
        // Interleave two sequences so their blocks alternate in the pool.
        try append(cache, a, start: 0, count: 13)
        try append(cache, b, start: 0, count: 7)
        try append(cache, a, start: 13, count: 20)
        try append(cache, b, start: 7, count: 1)
        for (sequence, length) in [(a, 33), (b, 8)] {
            #expect(cache.nextPosition(sequence) == length)
            for layer in 0..<2 {
                for head in 0..<3 {
                    let view = cache.view(sequence, layer: layer, head: head)
                    #expect(view.length == length)
                    #expect(view.blockCount == layout.blocks(forTokens: length))
                    for i in 0..<length {
                        #expect(view.position(i) == Int32(i))
                        #expect(view.key(i)[2] == Float(layer) * 0.25 + Float(i) * 1000 + Float(head) * 100 + 2)
                        #expect(view.value(i)[4] == -Float(layer) * 0.25 - 0.5 + Float(i) * 1000 + Float(head) * 100 + 4)
                        #expect(view.metric(i).pointee == 0)
                    }
                }
            }
        }
        #expect(cache.usedBlockCount == cache.residentBlocks(a) + cache.residentBlocks(b))
    }

    @Test("reserve is all or nothing")
    func reserveAllOrNothing() throws {
        let layout = try CacheLayout(layers: 2, kvHeads: 2, headDim: 4, blockSize: 4, kvType: .f32)
        let cache = try PagedKVCache(layout: layout, capacityBlocks: 10)
        let s = cache.addSequence()
        #expect(cache.blocksNeeded(s, appending: 8) == 8)
        try cache.reserve(s, tokens: 8)
        #expect(cache.freeBlockCount == 2)
        #expect(throws: KVCacheError.outOfBlocks(needed: 4, free: 2, capacity: 10)) { try cache.reserve(s, tokens: 9) }
        #expect(cache.freeBlockCount == 2)
        #expect(throws: KVCacheError.unknownSequence(SequenceID(99))) { try cache.reserve(SequenceID(99), tokens: 1) }
    }

    @Test("moving a slot carries key, value, metric and position; truncation frees trailing blocks")
    func moveAndTruncate() throws {
        let layout = try CacheLayout(layers: 1, kvHeads: 2, headDim: 3, blockSize: 4, kvType: .f32)
        let cache = try PagedKVCache(layout: layout, capacityBlocks: 8)
        let s = cache.addSequence()
        try append(cache, s, start: 0, count: 10)
        cache.view(s, layer: 0, head: 1).metric(9).pointee = 7.5
        cache.moveSlot(s, layer: 0, head: 1, from: 9, to: 2)
        let view = cache.view(s, layer: 0, head: 1)
        #expect(view.position(2) == 9)
        #expect(view.metric(2).pointee == 7.5)
        #expect(view.key(2)[1] == 9 * 1000 + 100 + 1)
        let free = cache.freeBlockCount
        #expect(try cache.truncate(s, layer: 0, head: 1, to: 3) == 2)
        #expect(cache.freeBlockCount == free + 2)
        #expect(cache.contextLengths(s) == [10, 3])
        #expect(cache.maxContextLength(s) == 10)
        #expect(cache.nextPosition(s) == 10, "eviction does not change the next position")
        #expect(throws: KVCacheError.self) { try cache.truncate(s, layer: 0, head: 1, to: 4) }
        // Growing again after truncation reuses freed blocks.
        try append(cache, s, start: 10, count: 2)
        #expect(cache.contextLengths(s) == [12, 5])
        #expect(cache.view(s, layer: 0, head: 1).position(4) == 11)
    }

    @Test("moving many slots at once equals moving them one by one, in order", arguments: [KVStorageType.f32, .f16])
    func moveSlotsInBulk(kvType: KVStorageType) throws {
        let layout = try CacheLayout(layers: 2, kvHeads: 2, headDim: 3, blockSize: 4, kvType: kvType)
        let one = try PagedKVCache(layout: layout, capacityBlocks: 16), bulk = try PagedKVCache(layout: layout, capacityBlocks: 16)
        let a = one.addSequence(), b = bulk.addSequence()
        try append(one, a, start: 0, count: 13)
        try append(bulk, b, start: 0, count: 13)
        // A chain (9 → 2, then 2 → 5) shows the order counts.
        let moves = [(source: 12, destination: 0), (9, 2), (2, 5), (11, 7)]
        for (source, destination) in moves { one.moveSlot(a, layer: 1, head: 0, from: source, to: destination) }
        bulk.moveSlots(b, layer: 1, head: 0, moves)
        let x = one.view(a, layer: 1, head: 0), y = bulk.view(b, layer: 1, head: 0)
        for i in 0..<13 {
            #expect(x.position(i) == y.position(i))
            #expect(Array(x.key(i)) == Array(y.key(i)) && Array(x.value(i)) == Array(y.value(i)))
        }
        #expect(y.position(5) == 9 && y.position(0) == 12)
    }

    @Test("removing a sequence returns all its blocks")
    func removeSequence() throws {
        let layout = try CacheLayout(layers: 3, kvHeads: 2, headDim: 2, blockSize: 2, kvType: .f32)
        let cache = try PagedKVCache(layout: layout, capacityBlocks: 64)
        let a = cache.addSequence(), b = cache.addSequence()
        try append(cache, a, start: 0, count: 5)
        try append(cache, b, start: 0, count: 3)
        cache.removeSequence(a)
        #expect(!cache.contains(a))
        #expect(cache.usedBlockCount == cache.residentBlocks(b))
        #expect(cache.residentBytes == cache.usedBlockCount * layout.bytesPerBlock)
        #expect(cache.sequences == [b])
    }

    @Test("invalid layouts are refused")
    func invalidLayouts() {
        #expect(throws: KVCacheError.unsupportedBlockSize(3)) { try CacheLayout(layers: 1, kvHeads: 1, headDim: 1, blockSize: 3) }
        #expect(throws: KVCacheError.self) { try CacheLayout(layers: 0, kvHeads: 1, headDim: 1) }
        #expect(throws: KVCacheError.self) { try PagedKVCache(layout: CacheLayout(layers: 1, kvHeads: 1, headDim: 1), capacityBlocks: 0) }
    }
}
