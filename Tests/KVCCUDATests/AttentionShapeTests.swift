import PagedKVCache
import Testing

@testable import KVCCUDA

/// Wrong shapes are refused with an error naming the argument, before any driver call: the launchers
/// and the references share ``AttentionShapeCheck``, so these run on any machine.
@Suite("Attention launchers and references refuse wrong shapes")
struct AttentionShapeTests {
    static let layout = try! CacheLayout(layers: 2, kvHeads: 3, headDim: 64, blockSize: 16, kvType: .f32)

    /// Runs `body`, requires an invalidArgument, and returns its text.
    func refusal(_ body: () throws(CUDAError) -> Void) -> String? {
        do throws(CUDAError) {
            try body()
        } catch {
            if case .invalidArgument(let why) = error { return why }
            Issue.record("expected invalidArgument, got \(error)")
            return nil
        }
        Issue.record("wrong shape accepted")
        return nil
    }

    @Test("decode attention: queries, output, positions, layer, group, batch")
    func decode() {
        let layout = Self.layout, right = 8 * 9 * 64
        func check(sequences: Int = 8, layer: Int = 1, group: Int = 3, queries: Int = right, output: Int = right,
                   positions: Int = 8, buffer: Int = 0) -> String? {
            refusal { () throws(CUDAError) in
                try AttentionShapeCheck.decode(
                    layout: layout, sequenceCount: sequences, layer: layer, groupSize: group, queries: queries,
                    output: output, queryPositions: positions, metricBuffer: buffer)
            }
        }
        #expect(check(queries: right - 1)?.contains("queries hold \(right - 1) elements, expected [8 sequences, 9 query heads, 64 dims]") == true)
        #expect(check(output: 2 * right)?.contains("output") == true)
        #expect(check(positions: 7)?.contains("query positions hold 7") == true)
        #expect(check(layer: 2)?.contains("layer 2 is outside 0..<2") == true)
        #expect(check(group: 17)?.contains("group size 17") == true)
        #expect(check(group: 0)?.contains("group size 0") == true)
        #expect(check(sequences: 0)?.contains("no sequence tables") == true)
        #expect(check(buffer: -1)?.contains("metric buffer -1") == true)
        #expect(throws: Never.self) {
            try AttentionShapeCheck.decode(
                layout: layout, sequenceCount: 8, layer: 1, groupSize: 3, queries: right, output: right, queryPositions: 8,
                metricBuffer: 0)
        }
    }

    @Test("window metric: queries, positions, sequence index, metric mode, window")
    func window() {
        let layout = Self.layout
        func check(index: Int = 0, window: Int = 8, queries: Int = 8 * 9 * 64, positions: Int = 8,
                   mode: AttentionMetricMode = .l2, pool: Int = 7) -> String? {
            refusal { () throws(CUDAError) in
                try AttentionShapeCheck.window(
                    layout: layout, sequenceCount: 2, sequenceIndex: index, layer: 0, groupSize: 3, window: window,
                    queries: queries, queryPositions: positions, metricMode: mode, buffer: 0, poolKernel: pool)
            }
        }
        #expect(check(queries: 100)?.contains("queries hold 100 elements, expected [8 window queries, 9 query heads, 64 dims]") == true)
        #expect(check(positions: 9)?.contains("query positions hold 9") == true)
        #expect(check(index: 2)?.contains("sequence index 2") == true)
        #expect(check(mode: .none)?.contains("L1 or L2") == true)
        #expect(check(window: 0, queries: 0, positions: 0)?.contains("at least one query") == true)
        #expect(check(pool: -1)?.contains("pool kernel -1") == true)
    }

    @Test("append: keys, values, positions, slot mapping")
    func append() {
        let layout = Self.layout, kv = 4 * 3 * 64
        func check(keys: Int = kv, values: Int = kv, positions: Int = 4, slots: Int = 12) -> String? {
            refusal { () throws(CUDAError) in
                try AttentionShapeCheck.append(
                    layout: layout, count: 4, keys: keys, values: values, positions: positions, slotMapping: slots)
            }
        }
        #expect(check(keys: kv + 64)?.contains("keys hold") == true)
        #expect(check(values: 0)?.contains("values hold 0") == true)
        #expect(check(positions: 3)?.contains("positions hold 3") == true)
        #expect(check(slots: 4)?.contains("slot mapping hold 4 elements, expected [4 tokens, 3 KV heads]") == true)
    }

    @Test("the references run the same checks")
    func references() throws {
        let cache = try PagedKVCache(layout: Self.layout, capacityBlocks: 8)
        let sequence = cache.addSequence()
        let decode = refusal { () throws(CUDAError) in
            _ = try DecodeAttentionReference.run(
                cache: cache, layer: 0, sequences: [sequence], queries: [Float](repeating: 0, count: 10), queryPositions: [0],
                groupSize: 3, scale: 1, metricMode: .l2)
        }
        #expect(decode?.contains("decode attention: queries hold 10") == true)
        let window = refusal { () throws(CUDAError) in
            try WindowMetricReference.run(
                cache: cache, layer: 0, sequence: SequenceID(99), queries: [Float](repeating: 0, count: 9 * 64),
                queryPositions: [0], groupSize: 3, scale: 1, metricMode: .l1)
        }
        #expect(window?.contains("unknown sequence seq99") == true)
        let append = refusal { () throws(CUDAError) in
            try AppendKVReference.run(
                cache: cache, keys: [Float](repeating: 0, count: 3 * 64), values: [Float](repeating: 0, count: 3 * 64),
                positions: [0], slotMapping: [0, 1, 8 * 16])
        }
        #expect(append?.contains("slot 128 of token 0 is outside the pool's 128 slots") == true)
        let mapping = refusal { () throws(CUDAError) in _ = try SlotMapping.appending(1, to: sequence, layer: 0, in: cache) }
        #expect(mapping?.contains("reserve blocks first") == true)
    }
}
