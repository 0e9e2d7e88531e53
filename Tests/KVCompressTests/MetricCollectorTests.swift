import EvictionPolicies
import KVCompress
import LlamaInference
import PagedKVCache
import Testing

/// The metric collector on hand-made observations: L1/L2, buffer b, max-pool per query head before the
/// GQA sum, accumulation without decay, avg scheduling scores.
@Suite struct MetricCollectorTests {
    /// A one-head cache of `positions.count` KVs whose slot i holds token position `positions[i]`.
    static func head(positions: [Int32], blockSize: Int = 2) throws -> (PagedKVCache, SequenceID) {
        let layout = try CacheLayout(layers: 1, kvHeads: 1, headDim: 2, blockSize: blockSize)
        let cache = try PagedKVCache(layout: layout, capacityBlocks: layout.blocks(forTokens: positions.count))
        let sequence = cache.addSequence()
        try cache.reserve(sequence, tokens: positions.count)
        let zeros = [Float](repeating: 0, count: positions.count * 2)
        cache.append(sequence, layer: 0, count: positions.count, keys: zeros, values: zeros, positions: positions)
        cache.advance(sequence, by: positions.count)
        return (cache, sequence)
    }

    /// Feeds one observation with probabilities `[groupSize][queries][context]` to `collector`.
    static func observe(
        _ collector: MetricCollector, cache: PagedKVCache, sequence: SequenceID, queryPositions: [Int32],
        probabilities: [[[Float]]], phase: HeadObservation.Phase = .prefill
    ) {
        let flat = probabilities.flatMap { $0.flatMap { $0 } }
        let queries = [Float](repeating: 0, count: probabilities.count * queryPositions.count * 2)
        flat.withUnsafeBufferPointer { p in
            queries.withUnsafeBufferPointer { q in
                collector.observe(
                    HeadObservation(
                        sequence: sequence, layer: 0, kvHead: 0, groupSize: probabilities.count, headDim: 2,
                        queryPositions: queryPositions, phase: phase, queries: q, probabilities: p,
                        cache: cache.view(sequence, layer: 0, head: 0)))
            }
        }
    }

    static func metrics(_ cache: PagedKVCache, _ sequence: SequenceID) -> [Float] {
        let view = cache.view(sequence, layer: 0, head: 0)
        return (0..<view.length).map { view.metric($0).pointee }
    }

    /// Group of two query heads, one query at position 3 over 4 keys.
    static let probabilities: [[[Float]]] = [[[0.1, 0.2, 0.3, 0.4]], [[0.4, 0.3, 0.2, 0.1]]]

    static func collect(metric: AttentionMetric = AttentionMetric(), window: LastQueriesWindow) throws -> [Float] {
        let (cache, sequence) = try head(positions: [0, 1, 2, 3])
        observe(MetricCollector(metric: metric, window: window), cache: cache, sequence: sequence, queryPositions: [3], probabilities: probabilities)
        return metrics(cache, sequence)
    }

    static func expectClose(_ a: [Float], _ b: [Float], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.count == b.count, sourceLocation: sourceLocation)
        for (x, y) in zip(a, b) { #expect(abs(x - y) < 1e-6, "\(a) vs \(b)", sourceLocation: sourceLocation) }
    }

    @Test func l2SumsSquaredProbabilitiesOverTheGroup() throws {
        // 0.1² + 0.4², 0.2² + 0.3², ...
        Self.expectClose(try Self.collect(window: LastQueriesWindow(poolKernel: nil)), [0.17, 0.13, 0.13, 0.17])
        Self.expectClose(try Self.collect(metric: AttentionMetric(norm: .l1), window: LastQueriesWindow(poolKernel: nil)), [0.5, 0.5, 0.5, 0.5])
    }

    @Test func bufferIgnoresKeysCloseToTheQuery() throws {
        // Buffer 2: the query at position 3 scores only keys at distance ≥ 2 (positions 0 and 1).
        Self.expectClose(try Self.collect(window: LastQueriesWindow(buffer: 2, poolKernel: nil)), [0.17, 0.13, 0, 0])
    }

    @Test func maxPoolsEachQueryHeadBeforeTheGroupSum() throws {
        // Kernel 3: head 0 [.01 .04 .09 .16] → [.04 .09 .16 .16]; head 1 [.16 .09 .04 .01] → [.16 .16 .09 .04].
        // Sum [.20 .25 .25 .20] (pooling the sum instead would give .17 everywhere).
        Self.expectClose(try Self.collect(window: LastQueriesWindow(poolKernel: 3)), [0.2, 0.25, 0.25, 0.2])
    }

    @Test func poolsOverTokenPositionsNotSlots() throws {
        // Slots hold positions [2, 0, 3, 1]: pooling must use position order 0,1,2,3 = slots 1,3,0,2.
        let (cache, sequence) = try Self.head(positions: [2, 0, 3, 1])
        let collector = MetricCollector(metric: AttentionMetric(norm: .l1), window: LastQueriesWindow(poolKernel: 3))
        // L1 per slot: [0.3, 0.1, 0.4, 0.2] → by position [0.1, 0.2, 0.3, 0.4] → pooled [0.2, 0.3, 0.4, 0.4].
        Self.observe(collector, cache: cache, sequence: sequence, queryPositions: [3], probabilities: [[[0.3, 0.1, 0.4, 0.2]]])
        Self.expectClose(Self.metrics(cache, sequence), [0.4, 0.2, 0.4, 0.3])
    }

    @Test func decodeQueriesAccumulateWithoutDecayAndWithoutPooling() throws {
        let (cache, sequence) = try Self.head(positions: [0, 1, 2, 3])
        let collector = MetricCollector(metric: AttentionMetric(norm: .l1), window: LastQueriesWindow(poolKernel: 7))
        Self.observe(collector, cache: cache, sequence: sequence, queryPositions: [3], probabilities: [[[0.1, 0.2, 0.3, 0.4]]], phase: .decode)
        Self.observe(collector, cache: cache, sequence: sequence, queryPositions: [4], probabilities: [[[0.4, 0.3, 0.2, 0.1]]], phase: .decode)
        Self.expectClose(Self.metrics(cache, sequence), [0.5, 0.5, 0.5, 0.5])
        #expect(collector.timing.observations == 2)
    }

    @Test func avgDividesByTheQueriesThatCouldSeeTheKV() {
        let avg = AttentionMetric(aggregate: .avg)
        // A KV at position 6 of a 10-token sequence was visible to queries 6, 7, 8, 9.
        #expect(avg.schedulingScore(stored: 2, tokenPosition: 6, sequenceLength: 10) == 0.5)
        #expect(AttentionMetric().schedulingScore(stored: 2, tokenPosition: 6, sequenceLength: 10) == 2)
    }

    @Test func windowsPickTheirQueries() {
        #expect(LastQueriesWindow(queries: 8).observedQueries(chunkLength: 100, startPosition: 0) == 92..<100)
        #expect(LastQueriesWindow(queries: 8).observedQueries(chunkLength: 5, startPosition: 0) == 0..<5)
        #expect(FullPromptWindow().observedQueries(chunkLength: 100, startPosition: 0) == 0..<100)
        #expect(FullPromptWindow().poolKernel == nil && LastQueriesWindow().poolKernel == 7)
    }
}
