import EvictionPolicies
import KVCompress
import LlamaInference
import PagedKVCache
import Testing

/// Each baseline on small caches worked by hand: what it keeps, per head and per layer.
@Suite struct BaselinesExampleTests {
    // MARK: - StreamingLLM

    /// 1 layer × 2 heads, bs 4, 22 tokens, last 4 protected, max_cache_tokens 12 (3 blocks per head).
    /// Each head drops its hanging 2 oldest non-sinks (4, 5) then two blocks (6…9, 10…13), keeping the
    /// 4 sinks and the 8 most recent: exactly {0…3} ∪ {14…21}.
    @Test func streamingLLMKeepsExactlySinksAndTheMostRecent() throws {
        let cache = try PrefilledCache(layers: 1, kvHeads: 2, blockSize: 4, length: 22, metric: { _, h, p in Float((p * 7 + h) % 5) })
        let report = try cache.compress(baselineConfiguration(baselineMethod("streaming-llm"), budget: .maxCacheTokens(12), protectedWindow: 4, blockSize: 4))
        #expect(report.budgetHeld && report.blocksFreed == 6)
        for head in 0..<2 { #expect(cache.keptPositions(layer: 0, head: head) == Array(0...3) + Array(14...21)) }
    }

    /// Without sinks StreamingLLM is a sliding window: the 12 most recent positions.
    @Test func streamingLLMWithoutSinksIsASlidingWindow() throws {
        let cache = try PrefilledCache(layers: 1, kvHeads: 2, blockSize: 4, length: 22, metric: { _, _, _ in 0 })
        let method = baselineMethod("streaming-llm").withPolicyOptions(["sinks": 0])
        try cache.compress(baselineConfiguration(method, budget: .maxCacheTokens(12), protectedWindow: 4, blockSize: 4))
        for head in 0..<2 { #expect(cache.keptPositions(layer: 0, head: head) == Array(10...21)) }
    }

    // MARK: - SnapKV

    /// 2 layers × 2 heads, bs 2, 10 tokens, last 2 protected, max_cache_tokens 4: every head keeps the
    /// protected 8, 9 and its own two highest-scored positions (a per-head top-2).
    @Test func snapKVTakesEachHeadsTopK() throws {
        let top: [[Int]] = [[1, 5], [0, 7], [2, 3], [4, 6]]  // per head (layer * 2 + head)
        let cache = try PrefilledCache(layers: 2, kvHeads: 2, blockSize: 2, length: 10, metric: { l, h, p in
            top[l * 2 + h].contains(p) ? 1 + Float(p) / 10 : Float(p) / 100
        })
        try cache.compress(baselineConfiguration(baselineMethod("snapkv"), budget: .maxCacheTokens(4), protectedWindow: 2, blockSize: 2))
        for l in 0..<2 {
            for h in 0..<2 { #expect(cache.keptPositions(layer: l, head: h) == top[l * 2 + h] + [8, 9]) }
        }
    }

    /// A head whose metric is 10× larger draws more of the budget under KV-Compress, never under SnapKV:
    /// with max_cache_tokens 32 every SnapKV head keeps exactly 32.
    @Test func snapKVGivesEveryHeadTheSameCount() throws {
        func cache() throws -> PrefilledCache {
            try PrefilledCache(layers: 3, kvHeads: 2, blockSize: 8, length: 100, metric: { l, h, p in
                Float((p * 37 + l * 11 + h * 5) % 23) * (h == 0 ? 10 : 1)
            })
        }
        let snap = try cache(), kvc = try cache()
        try snap.compress(baselineConfiguration(baselineMethod("snapkv"), budget: .maxCacheTokens(32), protectedWindow: 8, blockSize: 8))
        try kvc.compress(baselineConfiguration(.kvCompress, budget: .maxCacheTokens(32), protectedWindow: 8, blockSize: 8))
        #expect(snap.lengths == Array(repeating: 32, count: 6))
        #expect(Set(kvc.lengths).count > 1)  // the contrast: KV-Compress varies the rate per head
        #expect(snap.lengths.reduce(0, +) == kvc.lengths.reduce(0, +))  // at the same resident size
    }

    // MARK: - PyramidKV

    /// 4 layers × 1 head, bs 4, 256 tokens, last 8 protected, max_cache_tokens 64 (256 KVs in all), β 20.
    /// Layer weights beyond the window: 1.95, 1.3167, 0.6833, 0.05 (mean 1), so the targets are
    /// 8 + 56·w = 117.2, 81.7, 46.3, 10.8. Water-filling in 4-KV blocks lands on 120, 84, 44, 8.
    @Test func pyramidKVBudgetsFallLinearlyWithDepth() throws {
        let policy = PyramidKVPolicy(beta: 20)
        let weights = policy.layerWeights(layers: 4)
        for (w, expected) in zip(weights, [1.95, 1.3166667, 0.6833333, 0.05]) { #expect(abs(w - expected) < 1e-6) }
        #expect(abs(weights.reduce(0, +) - 4) < 1e-9)

        let cache = try PrefilledCache(layers: 4, kvHeads: 1, blockSize: 4, length: 256, metric: { l, _, p in Float((p * 13 + l) % 29) })
        let report = try cache.compress(baselineConfiguration(baselineMethod("pyramidkv"), budget: .maxCacheTokens(64), protectedWindow: 8, blockSize: 4))
        #expect(cache.lengths == [120, 84, 44, 8])
        #expect(report.budgetHeld && cache.lengths.reduce(0, +) == 256)
        for (kept, w) in zip(cache.lengths, weights) { #expect(abs(Double(kept) - (8 + 56 * w)) <= 4) }
    }

    /// β = 1 flattens the pyramid into SnapKV's equal budgets.
    @Test func pyramidKVWithBetaOneIsFlat() throws {
        let cache = try PrefilledCache(layers: 4, kvHeads: 2, blockSize: 4, length: 256, metric: { l, h, p in Float((p * 13 + l + h) % 29) })
        let method = baselineMethod("pyramidkv").withPolicyOptions(["beta": 1])
        try cache.compress(baselineConfiguration(method, budget: .maxCacheTokens(64), protectedWindow: 8, blockSize: 4))
        #expect(cache.lengths == Array(repeating: 64, count: 8))
    }

    // MARK: - Ada-KV

    /// 1 layer × 2 heads, bs 4, 64 tokens, nothing protected, max_cache_tokens 16: the layer keeps 32 KVs.
    /// Head 0's scores are all below head 1's, so a pure top-k over head × token empties head 0 (α 0);
    /// the floor α·32/2 = 3.2 makes it keep one block at α 0.2; α 1 is the even split.
    @Test(arguments: [(0.0, [0, 32]), (0.2, [4, 28]), (1.0, [16, 16])])
    func adaKVSharesTheLayerBudgetAboveTheFloor(alpha: Double, expected: [Int]) throws {
        let cache = try PrefilledCache(layers: 1, kvHeads: 2, blockSize: 4, length: 64, metric: { _, h, p in
            h == 0 ? Float(p) / 1000 : 1 + Float(p)
        })
        let method = baselineMethod("adakv").withPolicyOptions(["alpha": .double(alpha)])
        let report = try cache.compress(baselineConfiguration(method, budget: .maxCacheTokens(16), protectedWindow: 0, blockSize: 4))
        #expect(cache.lengths == expected)
        #expect(report.budgetHeld)
        // Head 1 keeps its highest-scored (most recent) positions.
        #expect(cache.keptPositions(layer: 0, head: 1) == Array((64 - expected[1])..<64))
    }

    // MARK: - TOVA

    /// One KV head, GQA group of 2, three cached KVs. The first observation's last query stores
    /// [.2+.1, .3+.1, .5+.8]; the second REPLACES it with [.6+.5, .2+.25, .2+.25]; the accumulating L1 metric
    /// of KV-Compress would hold the sums instead. An observation's earlier queries do not count.
    @Test func tovaMetricReplacesWithTheLatestQuery() throws {
        func observe(_ metric: any ImportanceMetric, _ probabilities: [[Float]], queryCount: Int) throws -> [Float] {
            let cache = try PrefilledCache(layers: 1, kvHeads: 1, blockSize: 4, length: 3, metric: { _, _, _ in 0 })
            let view = cache.cache.view(cache.sequence, layer: 0, head: 0)
            let collector = MetricCollector(metric: metric, window: try baselineRegistry.makeWindow(baselineMethod("tova").window))
            for rows in probabilities {  // rows: [groupSize, queryCount, 3]
                let queries = [Float](repeating: 0, count: 2 * queryCount * 2)
                rows.withUnsafeBufferPointer { p in
                    queries.withUnsafeBufferPointer { q in
                        collector.observe(HeadObservation(
                            sequence: cache.sequence, layer: 0, kvHead: 0, groupSize: 2, headDim: 2,
                            queryPositions: (0..<queryCount).map { Int32(3 - queryCount + $0) }, phase: .decode, queries: q,
                            probabilities: p, cache: view))
                    }
                }
            }
            return (0..<3).map { view.metric($0).pointee }
        }
        let first: [Float] = [0.2, 0.3, 0.5, 0.1, 0.1, 0.8], second: [Float] = [0.6, 0.2, 0.2, 0.5, 0.25, 0.25]
        let tova = try observe(TOVAMetric(), [first, second], queryCount: 1)
        for (x, y) in zip(tova, [1.1, 0.45, 0.45] as [Float]) { #expect(abs(x - y) < 1e-6) }
        let accumulated = try observe(AttentionMetric(norm: .l1), [first, second], queryCount: 1)
        for (x, y) in zip(accumulated, [1.4, 0.85, 1.75] as [Float]) { #expect(abs(x - y) < 1e-6) }
        // Two queries in one observation ([group 0: q0, q1], [group 1: q0, q1]): only q1 counts.
        let twoQueries: [Float] = [0.9, 0.05, 0.05, 0.2, 0.3, 0.5, 0.9, 0.05, 0.05, 0.1, 0.1, 0.8]
        for (x, y) in zip(try observe(TOVAMetric(), [twoQueries], queryCount: 2), [0.3, 0.4, 1.3] as [Float]) { #expect(abs(x - y) < 1e-6) }
        #expect(TOVAMetric().update == .replace)
    }

    /// 1 layer × 2 heads, bs 1, 6 tokens, last protected, max_cache_tokens 3. Head 0 scores
    /// [0, .9, .1, .4, .2], head 1 [.8, 0, .6, .1, .3]: the layer mean ranks 1 (.45) and 0 (.4) highest, so
    /// BOTH heads keep {0, 1, 5}, although head 0 alone would keep {1, 3} and head 1 {0, 2}.
    @Test func tovaEvictsTheSamePositionsFromEveryHeadOfALayer() throws {
        let scores: [[Float]] = [[0, 0.9, 0.1, 0.4, 0.2, 0], [0.8, 0, 0.6, 0.1, 0.3, 0]]
        let cache = try PrefilledCache(layers: 1, kvHeads: 2, blockSize: 1, length: 6, metric: { _, h, p in scores[h][p] })
        try cache.compress(baselineConfiguration(baselineMethod("tova"), budget: .maxCacheTokens(3), protectedWindow: 1, blockSize: 1))
        #expect(cache.keptPositions(layer: 0, head: 0) == [0, 1, 5])
        #expect(cache.keptPositions(layer: 0, head: 1) == [0, 1, 5])
    }

    // MARK: - Key-norm and KeyDiff

    /// 1 head, bs 1, keys with norms 3, 1, 4, 1.5 and a protected last one: keeping 3 drops the two
    /// largest norms (positions 2 then 0).
    @Test func keyNormEvictsTheLargestNormKeysFirst() throws {
        let keys: [[Float]] = [[3, 0], [0, 1], [0, -4], [1.2, 0.9], [10, 10]]
        let cache = try PrefilledCache(layers: 1, kvHeads: 1, blockSize: 1, length: 5, metric: { _, _, _ in 0 }, key: { _, _, p in keys[p] })
        try cache.compress(baselineConfiguration(baselineMethod("key-norm"), budget: .maxCacheTokens(3), protectedWindow: 1, blockSize: 1))
        #expect(cache.keptPositions(layer: 0, head: 0) == [1, 3, 4])
        try cache.compress(baselineConfiguration(baselineMethod("key-norm"), budget: .maxCacheTokens(2), protectedWindow: 1, blockSize: 1))
        #expect(cache.keptPositions(layer: 0, head: 0) == [1, 4])  // then 1.5 before 1
    }

    /// Unit keys (1,0), (.995,.0995), (0,1), (.995,−.0995), (.707,.707) average to the direction
    /// (.908, .419); cosines .908, .945, .419, .862 (position 4 protected). Keeping 3 drops the two most
    /// typical keys, 1 then 0, and keeps the outlier 2.
    @Test func keyDiffEvictsTheKeysMostLikeTheMeanKey() throws {
        let keys: [[Float]] = [[1, 0], [1, 0.1], [0, 1], [1, -0.1], [0.5, 0.5]]
        let cache = try PrefilledCache(layers: 1, kvHeads: 1, blockSize: 1, length: 5, metric: { _, _, _ in 0 }, key: { _, _, p in keys[p] })
        try cache.compress(baselineConfiguration(baselineMethod("keydiff"), budget: .maxCacheTokens(3), protectedWindow: 1, blockSize: 1))
        #expect(cache.keptPositions(layer: 0, head: 0) == [2, 3, 4])
    }

    // MARK: - Random

    /// The same seed evicts the same positions; another seed other ones.
    @Test func randomIsReproducibleWithASeedAndDiffersAcrossSeeds() throws {
        func kept(seed: Int) throws -> [[Int]] {
            let cache = try PrefilledCache(layers: 2, kvHeads: 2, blockSize: 4, length: 200, metric: { _, _, _ in 0 })
            let method = baselineMethod("random").withPolicyOptions(["seed": .int(seed)])
            try cache.compress(baselineConfiguration(method, budget: .maxCacheTokens(64), protectedWindow: 8, blockSize: 4))
            return (0..<4).map { cache.keptPositions(layer: $0 / 2, head: $0 % 2) }
        }
        let a = try kept(seed: 1), again = try kept(seed: 1), b = try kept(seed: 2)
        #expect(a == again)
        #expect(a != b)
        #expect(a.allSatisfy { $0.count == 64 })
        // Different heads draw differently under one seed.
        #expect(Set(a).count == 4)
    }

    // MARK: - H2O

    /// 1 head, bs 1, 20 tokens, last 2 protected, max_cache_tokens 8, recent_ratio 0.5: the 4 most recent
    /// (16…19, the protected two included) and the 4 heaviest hitters among the rest (3, 7, 9, 11).
    @Test func h2oKeepsHeavyHittersAndTheRecentShare() throws {
        let heavy: Set<Int> = [3, 7, 9, 11]
        let cache = try PrefilledCache(layers: 1, kvHeads: 1, blockSize: 1, length: 20, metric: { _, _, p in
            heavy.contains(p) ? 5 + Float(p) : Float(20 - p) / 100
        })
        try cache.compress(baselineConfiguration(baselineMethod("h2o"), budget: .maxCacheTokens(8), protectedWindow: 2, blockSize: 1))
        #expect(cache.keptPositions(layer: 0, head: 0) == [3, 7, 9, 11, 16, 17, 18, 19])
        // recent_ratio 0: heavy hitters only, besides the protected window; the next heaviest are the oldest.
        let heavyOnly = try PrefilledCache(layers: 1, kvHeads: 1, blockSize: 1, length: 20, metric: { _, _, p in
            heavy.contains(p) ? 5 + Float(p) : Float(20 - p) / 100
        })
        try heavyOnly.compress(baselineConfiguration(
            baselineMethod("h2o").withPolicyOptions(["recent_ratio": 0.0]), budget: .maxCacheTokens(8), protectedWindow: 2, blockSize: 1))
        #expect(heavyOnly.keptPositions(layer: 0, head: 0) == [0, 1, 3, 7, 9, 11, 18, 19])
    }
}

/// Every baseline is registered under its name with the options it documents, and a bad option is a
/// clear error, not a crash.
@Suite struct BaselinesRegistryTests {
    @Test(arguments: CompressionMethod.baselines.map(\.name))
    func everyBaselinePresetValidates(name: String) throws {
        let method = baselineMethod(name)
        #expect(baselineRegistry.names(.policy).contains(method.policy.name))
        let plugins = try method.configuration(budget: .rate(4)).validate(registry: baselineRegistry)
        // Each differs from KV-Compress in its allocation, or in its scores (kvzip: the same global schedule).
        #expect(type(of: plugins.policy) != KVCompressPolicy.self || plugins.scorer != nil)
    }

    /// Each preset observes what its paper scores: SnapKV the last 32 prompt queries pooled with kernel 7
    /// and no decode queries; H2O every prompt and decode query, unpooled; TOVA only the latest query with
    /// a replacing metric; the attention-free methods nothing.
    @Test func presetsObserveWhatTheirPapersScore() throws {
        func plugins(_ name: String) throws -> CompressionPlugins {
            try baselineMethod(name).configuration(budget: .rate(4)).validate(registry: baselineRegistry)
        }
        let snap = try plugins("snapkv").window
        #expect(snap.observedQueries(chunkLength: 100, startPosition: 0) == 68..<100)
        #expect(!snap.observesDecode && snap.poolKernel == 7)
        let h2o = try plugins("h2o")
        #expect(h2o.window.observedQueries(chunkLength: 100, startPosition: 0) == 0..<100)
        #expect(h2o.window.observesDecode && h2o.window.poolKernel == nil && h2o.metric.update == .accumulate)
        let tova = try plugins("tova")
        #expect(tova.window.observedQueries(chunkLength: 100, startPosition: 0) == 99..<100)
        #expect(tova.window.observesDecode && tova.window.poolKernel == nil && tova.metric.update == .replace)
        for name in ["streaming-llm", "key-norm", "keydiff", "random"] {
            let window = try plugins(name).window
            #expect(window.observedQueries(chunkLength: 100, startPosition: 0).isEmpty && !window.observesDecode)
        }
    }

    /// A method's configuration survives a YAML round trip, so a run can be saved and replayed.
    @Test(arguments: CompressionMethod.baselines.map(\.name))
    func presetConfigurationsRoundTripThroughYAML(name: String) throws {
        let configuration = baselineMethod(name).withPolicyOptions(name == "random" ? ["seed": 7] : [:])
            .configuration(budget: .paperRate(8), protectedWindow: 16, sinks: 2)
        let decoded = try CompressionConfiguration.fromYAML(try configuration.toYAML())
        #expect(decoded == configuration)
        _ = try decoded.validate(registry: baselineRegistry)
    }

    @Test func theUniformAndKVCompressMethodsExistToo() {
        #expect(CompressionMethod.named("kvcompress")?.policy == "kvcompress")
        #expect(CompressionMethod.named("uniform")?.policy == "uniform")
        #expect(CompressionMethod.named("nope") == nil)
    }

    @Test(arguments: [
        (PluginSpec("streaming-llm", options: ["sink": 4]), "unknown option 'sink' for 'streaming-llm'; it takes: sinks"),
        (PluginSpec("streaming-llm", options: ["sinks": -1]), "option 'sinks' of 'streaming-llm': -1 is outside 0..."),
        (PluginSpec("pyramidkv", options: ["beta": 0.5]), "option 'beta' of 'pyramidkv': β must be a finite number ≥ 1 (got 0.5)"),
        (PluginSpec("adakv", options: ["alpha": 1.5]), "option 'alpha' of 'adakv': 1.5 is outside 0.0...1.0"),
        (PluginSpec("h2o", options: ["recent_ratio": -0.1]), "option 'recent_ratio' of 'h2o': -0.1 is outside 0.0...1.0"),
        (PluginSpec("h2o", options: ["recent_ratio": "half"]), "option 'recent_ratio' of 'h2o': expected a number, got \"half\""),
        (PluginSpec("random", options: ["seed": 1.5]), "option 'seed' of 'random': expected an integer, got 1.5"),
        (PluginSpec("snapkv", options: ["window": 32]), "unknown option 'window' for 'snapkv'; it takes no options"),
    ])
    func badOptionsAreClearErrors(spec: PluginSpec, message: String) {
        #expect(throws: CompressionError.self) { try baselineRegistry.makePolicy(spec) }
        do {
            _ = try baselineRegistry.makePolicy(spec)
        } catch {
            #expect("\(error)" == message)
        }
    }
}
