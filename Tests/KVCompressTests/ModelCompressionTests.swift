import EvictionPolicies
import KVCompress
import LlamaInference
import PagedKVCache
import PropertyBased
import SeededRandom
import Testing

/// Compression on a tiny random Llama: what the issue asks the model-level tests to show.
@Suite struct ModelCompressionTests {
    static let llama = try! LlamaConfiguration(
        layers: 2, hiddenSize: 96, intermediateSize: 160, attentionHeads: 6, kvHeads: 2, headDim: 24,
        contextLength: 512, vocabularySize: 97, tiedEmbeddings: true)
    static let model = LlamaModel.random(configuration: llama, seed: 42)

    static func tokens(_ count: Int, seed: UInt64) -> [Int32] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in Int32(rng.next() % UInt64(llama.vocabularySize)) }
    }

    static func argmax(_ logits: [Float]) -> Int32 { Int32(logits.indices.max { logits[$0] < logits[$1] }!) }

    /// Prefills `prompt`, then decodes `steps` greedy tokens, driving `driver` the way the generator does.
    /// Returns every step's logits.
    static func run(prompt: [Int32], steps: Int, cache: PagedKVCache, driver: CompressionDriver?) throws -> [[Float]] {
        let sequence = cache.addSequence()
        var logits = [try model.prefill(prompt, sequence: sequence, cache: cache, observer: driver?.observer)]
        try driver?.didPrefill(sequence, cache: cache)
        for step in 0..<steps {
            try driver?.willDecode([sequence], step: step, cache: cache)
            logits.append(try model.decode([(sequence, argmax(logits.last!))], cache: cache, observer: driver?.observer)[0])
        }
        return logits
    }

    static func driver(_ budget: CompressionBudget, blockSize: Int = 4, protectedWindow: Int = 8, interval: Int = 0, window: PluginSpec = "last") throws -> CompressionDriver {
        var c = configuration(budget: budget, protectedWindow: protectedWindow, blockSize: blockSize)
        c.window = window
        c.schedule.interval = interval
        return try CompressionDriver(configuration: c, registry: builtins)
    }

    @Test(arguments: [CompressionBudget.rate(1), .maxCacheTokens(200)])
    func aBudgetAboveTheLengthLeavesLogitsBitIdentical(budget: CompressionBudget) throws {
        let prompt = Self.tokens(70, seed: 7)
        let plain = try Self.run(prompt: prompt, steps: 6, cache: Self.model.makeCache(blockSize: 4, capacityBlocks: 400), driver: nil)
        let driver = try Self.driver(budget, interval: 2)
        let compressed = try Self.run(prompt: prompt, steps: 6, cache: Self.model.makeCache(blockSize: 4, capacityBlocks: 400), driver: driver)
        #expect(plain == compressed)
        #expect(driver.reports.count == 4 && driver.reports.allSatisfy { $0.kvsEvicted == 0 })
    }

    /// The same over random prompt lengths, block sizes, protected windows and metric settings.
    @Test func rateOneIsBitIdenticalWhateverTheSettings() async throws {
        await propertyCheck(
            count: 12, input: Gen.int(in: 1...100), Gen.int(in: 0...(CacheLayout.supportedBlockSizes.count - 1)), Gen.uint64()
        ) { length, bsIndex, seed in
            recordingErrors {
                let bs = CacheLayout.supportedBlockSizes[bsIndex]
                var c = configuration(budget: .rate(1), protectedWindow: Int(seed % 40), blockSize: bs)
                c.metric = PluginSpec("kvcompress", options: ["norm": seed % 2 == 0 ? "l1" : "l2", "aggregate": seed % 3 == 0 ? "avg" : "sum"])
                c.window = seed % 5 == 0 ? "full" : PluginSpec("last", options: ["queries": .int(Int(seed % 16) + 1)])
                c.schedule.interval = 1
                let prompt = Self.tokens(length, seed: seed)
                let capacity = 4 * Self.llama.layers * Self.llama.kvHeads * ((length + 4 + bs - 1) / bs)
                let plain = try Self.run(prompt: prompt, steps: 3, cache: Self.model.makeCache(blockSize: bs, capacityBlocks: capacity), driver: nil)
                let driver = try CompressionDriver(configuration: c, registry: builtins)
                let compressed = try Self.run(prompt: prompt, steps: 3, cache: Self.model.makeCache(blockSize: bs, capacityBlocks: capacity), driver: driver)
                #expect(plain == compressed)
                #expect(driver.reports.allSatisfy { $0.kvsEvicted == 0 })
            }
        }
    }

    @Test func compressionFreesTheEvictedBlocksAndAttendsOverExactlyTheKeptKVs() throws {
        let (cache, sequence) = try Self.checkKeptSetAttention(length: 90, blockSize: 4, rate: 4, protectedWindow: 8, seed: 11)
        // Variable rates: the heads do not all keep the same number of KVs.
        #expect(Set(cache.contextLengths(sequence)).count > 1)
    }

    @Test func keptSetAttentionHoldsWhateverTheSettings() async throws {
        await propertyCheck(
            count: 20, input: Gen.int(in: 1...120), Gen.int(in: 0...(CacheLayout.supportedBlockSizes.count - 1)), Gen.uint64()
        ) { length, bsIndex, seed in
            recordingErrors {
                _ = try Self.checkKeptSetAttention(
                    length: length, blockSize: CacheLayout.supportedBlockSizes[bsIndex], rate: 1 + Double(seed % 1000) / 100,
                    protectedWindow: Int(seed % 24), seed: seed)
            }
        }
    }

    /// Prefills a random prompt, compresses it, and checks that the freed blocks are the evicted ones,
    /// that every kept KV is bit-identical to the uncompressed prefill's, and that the next token's
    /// logits over the compressed cache equal those over a cache built directly from the kept set.
    @discardableResult
    static func checkKeptSetAttention(
        length: Int, blockSize: Int, rate: Double, protectedWindow: Int, seed: UInt64
    ) throws -> (PagedKVCache, SequenceID) {
        let prompt = Self.tokens(length, seed: seed)
        let capacity = 2 * Self.llama.layers * Self.llama.kvHeads * ((length + 1 + blockSize - 1) / blockSize)
        let full = try Self.model.makeCache(blockSize: blockSize, capacityBlocks: capacity)
        let fullSequence = full.addSequence()
        _ = try Self.model.prefill(prompt, sequence: fullSequence, cache: full)

        let cache = try Self.model.makeCache(blockSize: blockSize, capacityBlocks: capacity)
        let sequence = cache.addSequence()
        let driver = try Self.driver(.rate(rate), blockSize: blockSize, protectedWindow: protectedWindow)
        _ = try Self.model.prefill(prompt, sequence: sequence, cache: cache, observer: driver.observer)
        let freeBefore = cache.freeBlockCount, bytesBefore = cache.residentBytes
        try driver.didPrefill(sequence, cache: cache)
        let report = try #require(driver.reports.first)
        #expect(cache.freeBlockCount - freeBefore == report.blocksFreed)
        #expect(bytesBefore - cache.residentBytes == report.blocksFreed * cache.layout.bytesPerBlock)

        // The kept set: every KV still cached, with K and V exactly as the uncompressed prefill made them.
        let layout = cache.layout, d = layout.headDim
        var kept: [[Int32]] = []
        for layer in 0..<layout.layers {
            for head in 0..<layout.kvHeads {
                let view = cache.view(sequence, layer: layer, head: head)
                let original = full.view(fullSequence, layer: layer, head: head)
                var positions: [Int32] = []
                for i in 0..<view.length {
                    let p = view.position(i)
                    positions.append(p)
                    #expect(Array(view.key(i)) == Array(original.key(Int(p))))
                    #expect(Array(view.value(i)) == Array(original.value(Int(p))))
                }
                kept.append(positions.sorted())
                #expect(Set(positions).count == positions.count)
                #expect((max(0, length - protectedWindow)..<length).allSatisfy { positions.contains(Int32($0)) })
            }
        }

        // A cache built directly from the kept (position, K, V) set, in position order.
        let direct = try Self.model.makeCache(blockSize: blockSize, capacityBlocks: capacity)
        let directSequence = direct.addSequence()
        let longest = max(1, kept.map(\.count).max()!)
        try direct.reserve(directSequence, tokens: longest)
        let zeros = [Float](repeating: 0, count: longest * layout.kvHeads * d)
        for layer in 0..<layout.layers {
            direct.append(directSequence, layer: layer, count: longest, keys: zeros, values: zeros, positions: [Int32](repeating: 0, count: longest))
            for head in 0..<layout.kvHeads {
                let positions = kept[layer * layout.kvHeads + head]
                try direct.truncate(directSequence, layer: layer, head: head, to: positions.count)
                let target = direct.view(directSequence, layer: layer, head: head)
                let original = full.view(fullSequence, layer: layer, head: head)
                for (i, p) in positions.enumerated() {
                    // Widened and rounded back: exact for halves, so the copy is bit for bit.
                    direct.storeKey(slot: target.slot(i), from: Array(original.key(Int(p))))
                    direct.storeValue(slot: target.slot(i), from: Array(original.value(Int(p))))
                    target.positions(block: i / layout.blockSize)[i % layout.blockSize] = p
                }
            }
        }
        direct.advance(directSequence, by: prompt.count)

        // Next-token logits over the compressed cache equal those over the kept set.
        let next = Self.tokens(1, seed: seed &+ 1)[0]
        let fromCompressed = try Self.model.decode([(sequence, next)], cache: cache)[0]
        let fromDirect = try Self.model.decode([(directSequence, next)], cache: direct)[0]
        // Only the order of float additions differs, except that over a half cache a probability
        // a last-bit away from a rounding boundary can round to the neighbouring half (attention
        // rounds probabilities to f16 as llama.cpp does): 2^-11 of that probability's term, a few
        // 1e-4 of a logit after two layers (measured up to 4.4e-4).
        let tolerance: Float = layout.kvType == .f16 ? 2e-3 : 1e-4
        for (a, b) in zip(fromCompressed, fromDirect) { #expect(abs(a - b) <= tolerance * max(1, abs(b))) }
        return (cache, sequence)
    }

    @Test func theL1MetricOfTheFullPromptSumsToGroupSizeTimesQueries() throws {
        // Each softmax row sums to 1: with L1, no pooling and no buffer, a head's metrics sum to
        // groupSize × observed queries (prefill) plus groupSize per decode step.
        var c = configuration(budget: .rate(1), protectedWindow: 8, blockSize: 4)
        c.metric = PluginSpec("kvcompress", options: ["norm": "l1"])
        c.window = "full"
        c.schedule.afterPrefill = false
        let driver = try CompressionDriver(configuration: c, registry: builtins)
        let cache = try Self.model.makeCache(blockSize: 4, capacityBlocks: 200)
        _ = try Self.run(prompt: Self.tokens(40, seed: 3), steps: 3, cache: cache, driver: driver)
        let sequence = cache.sequences[0]
        for layer in 0..<Self.llama.layers {
            for head in 0..<Self.llama.kvHeads {
                let view = cache.view(sequence, layer: layer, head: head)
                let total = (0..<view.length).reduce(Float(0)) { $0 + view.metric($1).pointee }
                #expect(abs(total - Float(Self.llama.groupSize * (40 + 3))) < 1e-3)
            }
        }
        #expect(driver.statistics.metricObservations == Self.llama.layers * Self.llama.kvHeads * 4)
    }

    @Test func memoryPressureCompressesSoGenerationFitsWhereItOtherwiseCannot() throws {
        let prompt = Self.tokens(64, seed: 5)
        // 64 prompt tokens need 16 blocks per head × 4 heads = 64 blocks; 40 more tokens need 40 more.
        let capacity = 80
        let parameters = GenerationParameters(maxTokens: 40)
        #expect(throws: (any Error).self) {
            _ = try Generator(model: Self.model, cache: Self.model.makeCache(blockSize: 4, capacityBlocks: capacity)).generate(prompts: [prompt], parameters: parameters)
        }
        var c = configuration(budget: .rate(2), protectedWindow: 8, blockSize: 4)
        c.schedule.afterPrefill = false
        let driver = try CompressionDriver(configuration: c, registry: builtins)
        let generator = Generator(model: Self.model, cache: try Self.model.makeCache(blockSize: 4, capacityBlocks: capacity), controller: driver)
        let result = try generator.generate(prompts: [prompt], parameters: parameters)
        #expect(result.sequences[0].tokens.count == 40)
        #expect(!driver.reports.isEmpty && driver.reports.allSatisfy { $0.trigger == .memoryPressure })
        #expect(driver.statistics.blocksFreed > 0)
    }

    @Test func anUnreachableBudgetUnderPressureStillFailsClearly() throws {
        // Protected window larger than the pool can hold: compression cannot make room.
        var c = configuration(budget: .rate(2), protectedWindow: 200, blockSize: 4)
        c.schedule.afterPrefill = false
        let driver = try CompressionDriver(configuration: c, registry: builtins)
        let generator = Generator(model: Self.model, cache: try Self.model.makeCache(blockSize: 4, capacityBlocks: 66), controller: driver)
        #expect(throws: KVCacheError.self) { _ = try generator.generate(prompts: [Self.tokens(64, seed: 5)], parameters: GenerationParameters(maxTokens: 20)) }
    }
}
