import EvictionPolicies
import Foundation
import KVCHDF5
import KVCompress
import LlamaInference
import PagedKVCache
import Testing

/// A whole sweep on a tiny random-weight model with the byte-level tokenizer: 1 prompt × 2 rates ×
/// 2 methods, end to end to the HDF5 file whose layout `SweepResults+HDF5.swift` documents.
@Suite struct EvaluationSweepTests {
    static let configuration = try! LlamaConfiguration(
        layers: 2, hiddenSize: 48, intermediateSize: 96, attentionHeads: 4, kvHeads: 2, headDim: 12, contextLength: 1024,
        vocabularySize: 257, tiedEmbeddings: true)
    static let model = LlamaModel.random(configuration: configuration, seed: 5)
    static let tokenizer = EvaluationSupport.byteTokenizer
    static let registry = PluginRegistry.withBuiltins()

    static let specification = SweepSpecification(
        task: .passkey, lengths: [400], prompts: 1, seed: 9, rates: [1, 4], maxNewTokens: 6, blockSize: 4,
        window: PluginSpec("last", options: ["queries": 8]), protectedWindow: 16,
        methods: [SweepMethod(name: "kvcompress", policy: "kvcompress"), SweepMethod(name: "uniform", policy: "uniform")])

    static let results: SweepResults = try! SweepRunner(
        specification: specification, model: model, tokenizer: tokenizer, registry: registry
    ).run()

    @Test func everyMethodAndRateGetsOneTrialAndRateOneKeepsEverything() throws {
        let r = Self.results
        #expect(r.trials.count == 4)
        #expect(r.trials.map(\.method) == [0, 0, 1, 1] && r.trials.map(\.rate) == [1, 4, 1, 4])
        let heads = Self.configuration.layers * Self.configuration.kvHeads
        for t in r.trials where t.rate == 1 {
            #expect(t.keptKVs == Array(repeating: t.promptTokens, count: heads))
            #expect(t.needleKVsKept == t.needleTokenCount * heads)
        }
        for t in r.trials where t.rate == 4 {
            #expect(t.residentBlocks < r.trials[0].residentBlocks / 2)
            #expect(t.keptKVs.reduce(0, +) <= (t.promptTokens - 16) * heads / 4 + 1 + 16 * heads)
            #expect(t.budgetHeld)
        }
        // At rate 1 the methods do the same thing: nothing.
        #expect(r.trials[0].generatedTokens == r.trials[2].generatedTokens)
    }

    @Test func rateOneGivesTheFullCacheAnswerOfThePlainGenerator() throws {
        let prompt = try PasskeyTask().prompt(targetTokens: 400, seed: 9, tokenizer: Self.tokenizer)
        let cache = try Self.model.makeCache(blockSize: 4, capacityBlocks: 2000)
        let plain = try Generator(model: Self.model, cache: cache).generate(
            prompts: [prompt.tokens], parameters: GenerationParameters(maxTokens: 6, stopTokens: Self.tokenizer.endOfTurnIDs))
        #expect(Self.results.trials[0].generatedTokens == plain.sequences[0].tokens)
        #expect(Self.results.trials[0].generated == Self.tokenizer.decode(plain.sequences[0].tokens, renderSpecial: false))
    }

    @Test func forkingThePrefilledCacheLeavesTheOriginalIntact() throws {
        let cache = try Self.model.makeCache(blockSize: 4, capacityBlocks: 600)
        let base = cache.addSequence()
        let tokens = Self.tokenizer.encode(PasskeyTask.noise + " " + PasskeyTask.noise)
        _ = try Self.model.prefill(tokens, sequence: base, cache: cache)
        let used = cache.usedBlockCount
        let fork = try cache.fork(base)
        #expect(cache.usedBlockCount == 2 * used)
        #expect(cache.contextLengths(fork) == cache.contextLengths(base) && cache.nextPosition(fork) == cache.nextPosition(base))
        let compressor = try Compressor(
            configuration: Self.specification.configuration(of: Self.specification.methods[0], rate: 4), registry: Self.registry)
        _ = try compressor.compress(fork, cache: cache, trigger: .manual)
        #expect(cache.contextLengths(base) == Array(repeating: tokens.count, count: 4))
        let next = Self.tokenizer.encode(" The")[0]
        let a = try Self.model.decode([(base, next)], cache: cache)[0]
        let reference = try Self.model.makeCache(blockSize: 4, capacityBlocks: 600)
        let only = reference.addSequence()
        _ = try Self.model.prefill(tokens, sequence: only, cache: reference)
        #expect(a == (try Self.model.decode([(only, next)], cache: reference)[0]), "the base sequence decodes as if never forked")
        #expect(throws: KVCacheError.self) { _ = try cache.fork(SequenceID(99)) }
    }

    @Test func theHDF5FileHasTheDocumentedLayout() throws {
        let directory = try EvaluationSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("sweep.h5").path
        try Self.results.write(to: path, attributes: ["model": "random"])
        #expect(!FileManager.default.fileExists(atPath: HDF5File.partialPath(for: path)))
        let file = try HDF5File.open(path: path)
        #expect(try file.attribute("format", as: String.self) == SweepResults.formatName)
        #expect(try file.attribute("model", as: String.self) == "random")
        #expect(try file.attribute("layers", as: Int.self) == 2 && file.attribute("kv_heads", as: Int.self) == 2)
        #expect(try file.readStrings(dataset: "methods") == ["kvcompress", "uniform"])
        #expect(try file.read(Double.self, dataset: "rates").values == [1, 4])
        let n = 4
        for name in ["method", "length_index", "target_tokens", "prompt_index", "prompt_tokens", "resident_blocks", "needle_token_offset", "needle_token_count", "needle_kvs_kept"] {
            #expect(try file.dataset("trials/\(name)").shape == [n], "trials/\(name)")
        }
        for name in ["rate", "depth", "seconds"] { #expect(try file.read(Double.self, dataset: "trials/\(name)").shape == [n]) }
        #expect(try file.read(UInt8.self, dataset: "trials/correct").values == Self.results.trials.map { $0.correct ? 1 : 0 })
        #expect(try file.read(Int64.self, dataset: "trials/resident_bytes").values == Self.results.trials.map { Int64($0.residentBytes) })
        #expect(try file.readStrings(dataset: "trials/generated") == Self.results.trials.map(\.generated))
        let kept = try file.read(Int32.self, dataset: "trials/kept_kvs")
        #expect(kept.shape == [n, 2, 2] && kept.values == Self.results.trials.flatMap { $0.keptKVs.map(Int32.init) })
        let retention = try file.read(Double.self, dataset: "example/retention")
        #expect(retention.shape == [2, 2, 2, 2])
        #expect(retention.values[0..<4].allSatisfy { $0 == 1 }, "rate 1 keeps every KV")
        #expect(retention.values[4..<8].allSatisfy { $0 < 0.5 })
        let spec = try JSONDecoder().decode(SweepSpecification.self, from: Data(try file.attribute("specification_json", as: String.self).utf8))
        #expect(spec.rates == [1, 4] && spec.methods.count == 2)
    }

    @Test func anUnwritableOutputFailsWithoutLeavingAFile() throws {
        #expect(throws: HDF5Error.self) { try Self.results.write(to: "/nonexistent-directory/sweep.h5") }
    }

    @Test func aLengthBeyondTheModelsContextIsRefused() {
        var s = Self.specification
        s.lengths = [2000]
        #expect(throws: EvaluationError.promptTooLong(targetTokens: 2000, contextLength: 1024)) {
            try SweepRunner(specification: s, model: Self.model, tokenizer: Self.tokenizer, registry: Self.registry)
        }
    }
}
