/// The text of the files `scaffold-policy --kind scorer` (the default) writes: a `KVScorer`, the one-
/// method front door, working as generated (value norms, higher kept) so its tests pass before the user
/// changes anything.
enum ScorerTemplates {
    static func scorer(_ s: Scaffold) -> String {
        """
        import Foundation
        import KVCompress

        /// \(s.typeName): TODO one line on what it keeps and why, citing the paper or idea it follows.
        ///
        /// Written by `swift package scaffold-policy` as a starting point: a scorer returns one score per
        /// cached KV per KV head of one layer, higher kept. How many KVs each head keeps is the allocation's
        /// business, chosen by name when you run it:
        ///
        ///     kvc generate --scorer \(s.registryName) --compression kvcompress --rate 8 --prompt "…"   # KV-Compress's global schedule
        ///     kvc generate --scorer \(s.registryName) --compression uniform --rate 8 --prompt "…"      # the same share per head
        ///     kvc generate --scorer \(s.registryName) --compression adakv --rate 8 --prompt "…"        # head-adaptive per layer
        ///
        /// or in a configuration file: `scorer: {name: \(s.registryName), options: {power: 2}}`.
        /// As generated it scores a KV by the norm of its value raised to `power` (option, default 1).
        /// Ask for more through `inputs` (`.windowAttention`, `.windowQueries`, `.reconstructionAttention`).
        public struct \(s.typeName): KVScorer {
            public let power: Double

            public init(power: Double = 1) { self.power = power }

            /// Reads the options; the registry rejects any option this did not read.
            init(options: OptionReader) throws {
                power = try options.double("power", default: 1, in: 0...16)
            }

            public var settings: [String: OptionValue] { ["power": .double(power)] }

            public func score(_ layer: LayerScoringInput) throws -> [[Float]] {
                // `layer.heads[h]` is one KV head: `length` slots, `key(i)` / `value(i)` point at
                // `layer.headDim` floats, `position(i)` is the token position. Return [kvHeads][length].
                layer.heads.map { head in
                    (0..<head.length).map { i in
                        var squared: Float = 0
                        for j in 0..<layer.headDim { squared += head.value(i)[j] * head.value(i)[j] }
                        return Float(pow(Double(squared.squareRoot()), power))
                    }
                }
            }
        }

        /// Registers ``\(s.typeName)`` as `\(s.registryName)`; `registerUserPlugins(in:)` calls it.
        public func register\(s.typeName)(in registry: PluginRegistry) {
            registry.register(scorer: "\(s.registryName)", summary: "\(s.typeName): ‖v‖^power (1), higher kept") {
                try \(s.typeName)(options: $0)
            }
        }

        """
    }

    static func tests(_ s: Scaffold) -> String {
        """
        import EvictionPolicies
        import Foundation
        import KVCompress
        import PagedKVCache
        import PropertyBased
        import Testing

        /// Tests of ``\(s.typeName)`` (written by `swift package scaffold-policy`; add checks of what your
        /// scorer gives, worked by hand on a small cache).
        @Suite struct \(s.typeName)Tests {
            let registry = PluginRegistry.withAllPlugins()

            @Test func isRegisteredAndRejectsBadOptions() throws {
                #expect(registry.names(.scorer).contains("\(s.registryName)"))
                #expect(throws: CompressionError.self) { try registry.makeScorer(PluginSpec("\(s.registryName)", options: ["power": -1])) }
                #expect(throws: CompressionError.self) { try registry.makeScorer(PluginSpec("\(s.registryName)", options: ["typo": 1])) }
            }

            /// On random caches under KV-Compress's global schedule: the budget holds whenever it can,
            /// protected KVs survive bit-identical, and within each head nothing evicted scored above a
            /// compressible KV that was kept (the schedule evicts a prefix of each head's ascending scores).
            @Test func theGlobalScheduleEvictsTheLowestScores() async throws {
                await propertyCheck(count: 40, input: Gen.int(in: 1...200), Gen.uint64()) { length, seed in
                    var rng = Xoshiro(seed: (seed, seed &+ 1, 0x9E37_79B9_7F4A_7C15, seed ^ 0x5DEE_CE66))
                    let protectedWindow = Int.random(in: 0...min(16, length), using: &rng)
                    let random = try RandomCache(
                        layers: 2, kvHeads: 2, blockSize: 1, sequenceLength: length, protectedWindow: protectedWindow, sinks: 0,
                        tiedMetrics: false, using: &rng)
                    let configuration = CompressionConfiguration(
                        policy: "kvcompress", blockSize: PluginSpec("fixed", options: ["size": 1]),
                        budget: .maxCacheTokens(max(1, protectedWindow + length / 3)), protectedWindow: protectedWindow,
                        scorer: "\(s.registryName)")
                    let compressor = try Compressor(configuration: configuration, registry: registry)
                    let input = try compressor.evictionInput(random.sequence, cache: random.cache)
                    let scores = try (0..<2).flatMap { layer in
                        try compressor.plugins.scorer!.score(
                            LayerScoringInput(
                                layer: layer, kvHeads: 2, headDim: random.layout.headDim, sequenceLength: length,
                                heads: (0..<2).map { input.head(layer: layer, head: $0).cache }))
                    }
                    let before = (0..<4).map { h in
                        let head = input.heads[h]
                        return Dictionary(uniqueKeysWithValues: (0..<head.contextLength).map { (head.positions[$0], scores[h][$0]) })
                    }
                    let report = try compressor.compress(random.sequence, cache: random.cache, trigger: .manual)
                    #expect(report.budgetHeld)
                    for h in 0..<4 {
                        let after = random.currentContents(h)
                        for position in random.contents[h].keys where random.isProtected(position) { #expect(after[position] == random.contents[h][position]) }
                        let evicted = before[h].filter { after[$0.key] == nil }.map(\\.value)
                        let kept = before[h].filter { after[$0.key] != nil && !random.isProtected($0.key) }.map(\\.value)
                        if let highest = evicted.max(), let lowest = kept.min() { #expect(highest <= lowest) }
                    }
                }
            }
        }

        """
    }
}
