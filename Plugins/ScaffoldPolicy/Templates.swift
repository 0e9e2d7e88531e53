/// The text of the files `scaffold-policy` writes. The policy is a real, working one (metric top-k with
/// an optional recency bonus, same budget per head) so the generated tests pass before the user changes
/// anything, and every place meant to be changed says so.
enum Templates {
    static func policy(_ s: Scaffold) -> String {
        """
        import KVCompress

        /// \(s.typeName): TODO one line on what it keeps and why, citing the paper or idea it follows.
        ///
        /// Written by `swift package scaffold-policy` as a starting point. As generated it ranks every KV
        /// by the metric's scheduling score plus `recency_weight` × (position / sequence length), and lets
        /// ``BlockAllocator`` evict whole blocks of the lowest-ranked KVs, always from the head that keeps
        /// the most, until the sequence meets its budget (SnapKV's allocation: the same budget per head).
        ///
        /// How it maps onto the paged per-head cache (say so for your method too): each head loses a
        /// prefix of its ascending ranking in whole virtual blocks, so the executor frees real blocks;
        /// protected KVs (the last `protected_window` positions and the first `sinks`) are +inf and stay.
        ///
        /// Registered as `\(s.registryName)`; run it with `kvc generate --compression \(s.registryName) --rate 4`,
        /// or in a configuration file: `policy: {name: \(s.registryName), options: {recency_weight: 0.5}}`.
        ///
        /// Option `recency_weight` (≥ 0, default 0): how much a KV's recency adds to its metric.
        public struct \(s.typeName): EvictionPolicy {
            public let recencyWeight: Double

            public init(recencyWeight: Double = 0) { self.recencyWeight = recencyWeight }

            /// Reads the options; the registry rejects any option this did not read.
            init(options: OptionReader) throws {
                recencyWeight = try options.double("recency_weight", default: 0)
                guard recencyWeight >= 0, recencyWeight.isFinite else {
                    throw CompressionError.invalidOption(
                        plugin: "\(s.registryName)", key: "recency_weight", why: "must be a finite number ≥ 0 (got \\(recencyWeight))")
                }
            }

            public func plan(_ input: EvictionInput) throws -> EvictionPlan {
                // 1. Rank: one score per slot of every head, lower evicted first. `head.scores` holds the
                //    metric's scheduling scores (+inf when protected), `head.positions` token positions,
                //    `head.cache` the keys and values (e.g. `head.cache.key(slot)`, `input.headDim` floats).
                let length = Float(max(1, input.sequenceLength))
                let weight = Float(recencyWeight)
                let ranking = input.rankingScores { head, slot in
                    head.scores[slot] + weight * Float(head.positions[slot]) / length
                }
                // 2. Allocate: which head gives up its next whole block. Here: the head keeping the most
                //    (same budget per head); `a.keptKVs(h)`, `a.nextScore(h)`, `a.input.heads[h].layer` let you
                //    weigh heads or layers differently (see the PyramidKV and Ada-KV baselines).
                var allocator = BlockAllocator(input, rankingScores: ranking)
                allocator.evictFromLargest { a, h in Double(a.keptKVs(h)) }
                return allocator.plan
            }
        }

        /// Registers ``\(s.typeName)`` as `\(s.registryName)`; `registerUserPlugins(in:)` calls it.
        public func register\(s.typeName)(in registry: PluginRegistry) {
            registry.register(policy: "\(s.registryName)", summary: "\(s.typeName): metric + recency_weight (0) × recency, same budget per head") {
                try \(s.typeName)(options: $0)
            }
        }

        """
    }

    static func tests(_ s: Scaffold) -> String {
        """
        import EvictionPolicies
        import KVCompress
        import PagedKVCache
        import PropertyBased
        import Testing

        /// Tests of ``\(s.typeName)`` (written by `swift package scaffold-policy`; add checks of what your
        /// method keeps, worked by hand on a small cache).
        @Suite struct \(s.typeName)Tests {
            let registry = PluginRegistry.withAllPlugins()

            @Test func isRegisteredAndRejectsBadOptions() throws {
                #expect(registry.names(.policy).contains("\(s.registryName)"))
                #expect(throws: CompressionError.self) {
                    try registry.makePolicy(PluginSpec("\(s.registryName)", options: ["recency_weight": -1]))
                }
                #expect(throws: CompressionError.self) { try registry.makePolicy(PluginSpec("\(s.registryName)", options: ["typo": 1])) }
            }

            /// On random caches (random positions per head, shuffled slots, random metrics, block sizes 1…64,
            /// random budgets): the executor accepts the plan, protected KVs survive bit-identical, and the
            /// budget holds exactly when KV-Compress can meet it on the same cache.
            @Test func plansAreValidKeepProtectedKVsAndMeetTheBudget() async throws {
                await propertyCheck(
                    count: 50, input: Gen.int(in: 0...(CacheLayout.supportedBlockSizes.count - 1)), Gen.int(in: 1...200), Gen.uint64()
                ) { bsIndex, length, seed in
                    recordingErrors {
                        let (mine, configuration) = try Self.scenario(bsIndex: bsIndex, length: length, seed: seed, policy: "\(s.registryName)")
                        let (twin, kvc) = try Self.scenario(bsIndex: bsIndex, length: length, seed: seed, policy: "kvcompress")
                        let report = try Compressor(configuration: configuration, registry: registry).compress(mine.sequence, cache: mine.cache, trigger: .manual)
                        let reference = try Compressor(configuration: kvc, registry: registry).compress(twin.sequence, cache: twin.cache, trigger: .manual)
                        #expect(report.budgetHeld == reference.budgetHeld)
                        for index in 0..<mine.layout.headCount {
                            let before = mine.contents[index], after = mine.currentContents(index)
                            for position in before.keys where mine.isProtected(position) { #expect(after[position] == before[position]) }
                            for (position, kv) in after { #expect(before[position] == kv) }
                        }
                    }
                }
            }

            static func scenario(bsIndex: Int, length: Int, seed: UInt64, policy: String) throws -> (RandomCache, CompressionConfiguration) {
                var rng = Xoshiro(seed: (seed, seed &+ 1, 0x9E37_79B9_7F4A_7C15, seed ^ 0x5DEE_CE66))
                let bs = CacheLayout.supportedBlockSizes[bsIndex]
                let protectedWindow = Int.random(in: 0...min(32, length), using: &rng)
                let sinks = Int.random(in: 0...2, using: &rng)
                let cache = try RandomCache(
                    layers: Int.random(in: 1...3, using: &rng), kvHeads: Int.random(in: 1...2, using: &rng), blockSize: bs,
                    sequenceLength: length, protectedWindow: protectedWindow, sinks: sinks, tiedMetrics: Bool.random(using: &rng), using: &rng)
                let budget = CompressionBudget.maxCacheTokens(Int.random(in: max(1, protectedWindow + sinks)...(length + 8), using: &rng))
                let configuration = CompressionConfiguration(
                    policy: PluginSpec(policy), blockSize: PluginSpec("fixed", options: ["size": .int(bs)]), budget: budget,
                    protectedWindow: protectedWindow, sinks: sinks)
                return (cache, configuration)
            }
        }

        """
    }
}
