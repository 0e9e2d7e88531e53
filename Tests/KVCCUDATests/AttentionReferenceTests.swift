import EvictionPolicies
import Foundation
import KVCompress
import PagedKVCache
import SeededRandom
import Testing

@testable import KVCCUDA
@testable import LlamaInference

/// The CPU references of the attention kernels against the production CPU code they mirror, on the
/// inputs that code receives: decode attention (LlamaInference's `Attention.decode`, its observed
/// probabilities and MetricCollector's decode metric), the prefill window metric (`Attention.prefill`
/// observed by MetricCollector with AttentionMetric and LastQueriesWindow), and the append
/// (`PagedKVCache.append`), each on float32 and on half-float caches. Both sides read a half-float cache
/// through its typed accessors, i.e. compute in float32 on the same rounded halves, so only float32
/// summation order differs and the float32 tolerance (relative 1e-4) holds for both types; the CPU
/// f16 kernel tests bound that summation error by 1e-5 of the magnitude on top of the half rounding
/// (DecodeAttentionKernelTests), which here is common to both sides.
@Suite("Attention kernel references against the production CPU code")
struct AttentionReferenceTests {
    static let kvHeads = 3, groupSize = 3, headDim = 64

    static func configuration() throws -> LlamaConfiguration {
        try LlamaConfiguration(
            layers: 2, hiddenSize: kvHeads * groupSize * headDim, intermediateSize: 64, attentionHeads: kvHeads * groupSize,
            kvHeads: kvHeads, headDim: headDim, contextLength: 4096, vocabularySize: 16, tiedEmbeddings: true)
    }

    /// The CPU attention with float32 queries and probabilities, as the CUDA kernels compute them;
    /// its default rounding of both to float16 over a float16 cache (llama.cpp's CPU behaviour) is
    /// checked in HalfPrecisionOperandsTests.
    static func float32OperandAttention(_ configuration: LlamaConfiguration) -> Attention {
        var attention = Attention(configuration: configuration)
        attention.roundsOperandsToHalf = false
        return attention
    }

    static func layout(blockSize: Int, kvType: KVStorageType) throws -> CacheLayout {
        try CacheLayout(layers: 2, kvHeads: kvHeads, headDim: headDim, blockSize: blockSize, kvType: kvType)
    }

    /// Head lengths 0...maxLength per (sequence, layer, head); the first head of the first sequence empty.
    static func lengths(batch: Int, layout: CacheLayout, maxLength: Int, seed: UInt64) -> [[Int]] {
        var random = SplitMix64(seed: seed)
        return (0..<batch).map { s in
            (0..<layout.headCount).map { head in s == 0 && head == 0 ? 0 : 1 + Int(random.next() % UInt64(maxLength)) }
        }
    }

    static func randomFloats(_ count: Int, seed: UInt64) -> [Float] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { _ in 2 * random.signedUnit() }
    }

    /// Forwards to a MetricCollector and keeps each decode observation's probabilities.
    final class RecordingObserver: AttentionObserver, @unchecked Sendable {
        let collector: MetricCollector
        private let lock = NSLock()
        private var recorded: [String: [Float]] = [:]

        init(collector: MetricCollector) { self.collector = collector }

        func observedQueries(sequence: SequenceID, chunkLength: Int, startPosition: Int) -> Range<Int> {
            collector.observedQueries(sequence: sequence, chunkLength: chunkLength, startPosition: startPosition)
        }
        func observesDecode(sequence: SequenceID) -> Bool { collector.observesDecode(sequence: sequence) }
        func observe(_ observation: HeadObservation) {
            collector.observe(observation)
            let key = "\(observation.sequence) \(observation.kvHead)"
            lock.withLock { recorded[key] = Array(observation.probabilities) }
        }
        func probabilities(_ sequence: SequenceID, kvHead: Int) -> [Float] {
            lock.withLock { recorded["\(sequence) \(kvHead)"] ?? [] }
        }
    }

    struct DecodeCase: CustomTestStringConvertible, Sendable {
        let blockSize: Int, norm: AttentionMetric.Norm, buffer: Int, kvType: KVStorageType
        var testDescription: String { "\(kvType), block \(blockSize), \(norm), buffer \(buffer)" }
    }

    static let decodeCases = KVStorageType.allCases.flatMap { kvType in
        [1, 16, 64].flatMap { blockSize in
            [DecodeCase(blockSize: blockSize, norm: .l1, buffer: 0, kvType: kvType),
             DecodeCase(blockSize: blockSize, norm: .l2, buffer: 0, kvType: kvType),
             DecodeCase(blockSize: blockSize, norm: .l2, buffer: 5, kvType: kvType)]
        }
    }

    @Test("decode attention reference equals Attention.decode: output, probabilities, metrics", arguments: decodeCases)
    func decode(_ test: DecodeCase) throws {
        let layout = try Self.layout(blockSize: test.blockSize, kvType: test.kvType), batch = 4, layer = 1
        let lengths = Self.lengths(batch: batch, layout: layout, maxLength: 300, seed: UInt64(test.blockSize + test.buffer))
        let production = try RandomPagedCache(layout: layout, lengths: lengths, seed: 11)
        let reference = try RandomPagedCache(layout: layout, lengths: lengths, seed: 11)
        let configuration = try Self.configuration()
        let queries = Self.randomFloats(batch * configuration.queryWidth, seed: 12)
        let positions = production.sequences.map { Int32(production.cache.nextPosition($0)) }

        let observer = RecordingObserver(
            collector: MetricCollector(
                metric: AttentionMetric(norm: test.norm), window: LastQueriesWindow(buffer: test.buffer)))
        let views = production.sequences.flatMap { sequence in
            (0..<layout.kvHeads).map { production.cache.view(sequence, layer: layer, head: $0) }
        }
        var output = [Float](repeating: .nan, count: queries.count)
        Self.float32OperandAttention(configuration).decode(
            qkv: queries, qkvStride: configuration.queryWidth, batch: batch, views: views, output: &output,
            sequences: production.sequences, positions: positions, layer: layer,
            observers: production.sequences.map { _ in observer })

        let expected = try DecodeAttentionReference.run(
            cache: reference.cache, layer: layer, sequences: reference.sequences, queries: queries, queryPositions: positions,
            groupSize: Self.groupSize, scale: 1 / Float(Self.headDim).squareRoot(),
            metricMode: test.norm == .l1 ? .l1 : .l2, metricBuffer: test.buffer)

        let outputs = FloatComparison(expected.output, output, floorFraction: AttentionKernelCheck.outputFloor)
        #expect(outputs.maxRelativeError <= 1e-4, "output: \(outputs.maxRelativeError)")
        for (s, sequence) in production.sequences.enumerated() {
            for head in 0..<layout.kvHeads {
                let observed = observer.probabilities(sequence, kvHead: head)
                let computed = expected.probabilities[s * layout.kvHeads + head]
                try #require(observed.count == computed.count, "\(sequence) head \(head): probability count")
                let comparison = FloatComparison(computed, observed, floorFraction: 1e-6)
                #expect(comparison.maxRelativeError <= 1e-4, "\(sequence) head \(head) probabilities: \(comparison.maxRelativeError)")
            }
        }
        let metrics = FloatComparison(reference.metrics(layer: layer), production.metrics(layer: layer), floorFraction: 1e-6)
        #expect(metrics.count > 0)
        #expect(metrics.maxRelativeError <= 1e-4, "metrics: \(metrics.maxRelativeError)")
        // The metric changed (the comparison is not of two untouched caches).
        let untouched = try RandomPagedCache(layout: layout, lengths: lengths, seed: 11)
        #expect(untouched.metrics(layer: layer) != reference.metrics(layer: layer))
    }

    struct WindowCase: CustomTestStringConvertible, Sendable {
        let blockSize: Int, norm: AttentionMetric.Norm, window: Int, chunk: Int, buffer: Int, pool: Int?, shuffled: Bool
        var kvType: KVStorageType = .f32
        var testDescription: String {
            "\(kvType), block \(blockSize), \(norm), window \(window), chunk \(chunk), buffer \(buffer), pool \(pool ?? 0)"
                + (shuffled ? ", past out of position order" : "")
        }
    }

    static let windowCases: [WindowCase] = KVStorageType.allCases.flatMap { kvType in
        [1, 16, 64].flatMap { blockSize in
            [
                WindowCase(blockSize: blockSize, norm: .l2, window: 8, chunk: 40, buffer: 0, pool: 7, shuffled: false),
                WindowCase(blockSize: blockSize, norm: .l1, window: 32, chunk: 70, buffer: 0, pool: 7, shuffled: true),
                WindowCase(blockSize: blockSize, norm: .l2, window: 32, chunk: 20, buffer: 3, pool: nil, shuffled: false),
                WindowCase(blockSize: blockSize, norm: .l1, window: 8, chunk: 8, buffer: 2, pool: 5, shuffled: true),
            ].map { test in
                var typed = test
                typed.kvType = kvType
                return typed
            }
        }
    }

    @Test("window metric reference equals MetricCollector on Attention.prefill", arguments: windowCases)
    func window(_ test: WindowCase) throws {
        let layout = try Self.layout(blockSize: test.blockSize, kvType: test.kvType), layer = 0, batch = 2
        let lengths = Self.lengths(batch: batch, layout: layout, maxLength: 150, seed: UInt64(test.window + test.chunk))
        let shuffledHeads: Set<Int> = test.shuffled ? [0, 1] : []
        let spare = layout.headCount * layout.blocks(forTokens: test.chunk + layout.blockSize)
        let production = try RandomPagedCache(layout: layout, lengths: lengths, shuffledHeads: shuffledHeads, spareBlocks: spare, seed: 21)
        let reference = try RandomPagedCache(layout: layout, lengths: lengths, shuffledHeads: shuffledHeads, spareBlocks: spare, seed: 21)
        let configuration = try Self.configuration()
        let sequenceIndex = 1
        // A prefill chunk on top of each head's (possibly compressed and moved) past, in both caches.
        let start = production.cache.nextPosition(production.sequences[sequenceIndex])
        let width = test.chunk * layout.kvHeads * layout.headDim
        let keys = Self.randomFloats(width, seed: 22), values = Self.randomFloats(width, seed: 23)
        let positions = (0..<test.chunk).map { Int32(start + $0) }
        for pair in [production, reference] {
            let sequence = pair.sequences[sequenceIndex]
            try pair.cache.reserve(sequence, tokens: test.chunk)
            pair.cache.append(sequence, layer: layer, count: test.chunk, keys: keys, values: values, positions: positions)
        }
        let qkv = Self.randomFloats(test.chunk * configuration.queryWidth, seed: 24)

        let collector = MetricCollector(
            metric: AttentionMetric(norm: test.norm),
            window: LastQueriesWindow(queries: test.window, buffer: test.buffer, poolKernel: test.pool))
        let sequence = production.sequences[sequenceIndex]
        let rows = collector.observedQueries(sequence: sequence, chunkLength: test.chunk, startPosition: start)
        var output = [Float](repeating: 0, count: qkv.count)
        Self.float32OperandAttention(configuration).prefill(
            qkv: qkv, qkvStride: configuration.queryWidth, count: test.chunk,
            views: (0..<layout.kvHeads).map { production.cache.view(sequence, layer: layer, head: $0) }, output: &output,
            sequence: sequence, layer: layer, startPosition: start, observation: (collector, rows))

        let windowQueries = rows.flatMap { qkv[$0 * configuration.queryWidth..<($0 + 1) * configuration.queryWidth] }
        try WindowMetricReference.run(
            cache: reference.cache, layer: layer, sequence: reference.sequences[sequenceIndex], queries: windowQueries,
            queryPositions: rows.map { Int32(start + $0) }, groupSize: Self.groupSize,
            scale: 1 / Float(Self.headDim).squareRoot(), metricMode: test.norm == .l1 ? .l1 : .l2, buffer: test.buffer,
            poolKernel: test.pool ?? 0)

        let metrics = FloatComparison(reference.metrics(layer: layer), production.metrics(layer: layer), floorFraction: 1e-6)
        #expect(metrics.count > 0)
        #expect(metrics.maxRelativeError <= 1e-4, "metrics: max relative \(metrics.maxRelativeError)")
    }

    @Test("append reference writes what PagedKVCache.append writes", arguments: KVStorageType.allCases, [1, 16, 64])
    func append(kvType: KVStorageType, blockSize: Int) throws {
        let layout = try Self.layout(blockSize: blockSize, kvType: kvType), layer = 1, count = 5
        let lengths = Self.lengths(batch: 2, layout: layout, maxLength: 90, seed: 31)
        let spare = 2 * layout.headCount * layout.blocks(forTokens: count + blockSize)
        let production = try RandomPagedCache(layout: layout, lengths: lengths, spareBlocks: spare, seed: 32)
        let reference = try RandomPagedCache(layout: layout, lengths: lengths, spareBlocks: spare, seed: 32)
        let width = count * layout.kvHeads * layout.headDim
        let keys = Self.randomFloats(width, seed: 33), values = Self.randomFloats(width, seed: 34)
        // What the cache holds of a key: the float itself, or the half nearest it (ties to even).
        let stored = kvType == .f32 ? keys : keys.map { HalfFloat.float(fromBits: HalfFloat.bits(from: $0)) }
        if kvType == .f16 { #expect(stored != keys, "the keys are not all halves already") }
        for (s, sequence) in production.sequences.enumerated() {
            let positions = (0..<count).map { Int32(1000 * s + $0) }
            for pair in [production, reference] { try pair.cache.reserve(pair.sequences[s], tokens: count) }
            let slots = try SlotMapping.appending(count, to: sequence, layer: layer, in: production.cache)
            production.cache.append(sequence, layer: layer, count: count, keys: keys, values: values, positions: positions)
            try AppendKVReference.run(cache: reference.cache, keys: keys, values: values, positions: positions, slotMapping: slots)
            for (item, slot) in slots.enumerated() {
                let at = Int(slot), d = layout.headDim, source = item * d
                #expect(reference.cache.key(slot: at) == Array(stored[source..<source + d]))
                #expect(
                    reference.cache.value(slot: at)
                        == production.cache.value(slot: at))
                #expect(reference.cache.positions[at] == production.cache.positions[at])
                #expect(reference.cache.metrics[at] == 0 && production.cache.metrics[at] == 0)
            }
        }
        // Every valid slot (the production tables, appended tokens included) holds the same KV in both pools.
        for sequence in production.sequences {
            for head in 0..<layout.kvHeads {
                for index in 0..<production.cache.contextLength(sequence, layer: layer, head: head) {
                    let slot = production.cache.slot(sequence, layer: layer, head: head, index: index)
                    #expect(
                        reference.cache.key(slot: slot)
                            == production.cache.key(slot: slot))
                    #expect(reference.cache.metrics[slot] == production.cache.metrics[slot])
                    #expect(reference.cache.positions[slot] == production.cache.positions[slot])
                }
            }
        }
    }
}
