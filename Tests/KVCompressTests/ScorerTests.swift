import BPETokenizer
import EvictionPolicies
import Foundation
import KVCompress
import LlamaInference
import PagedKVCache
import SeededRandom
import Testing

/// The one-method scorers (`KVScorer`): LagKV and KVzip against hand-computed cases and an
/// independent reference, DefensiveKV's max aggregation, and a scorer allocated by a policy.
@Suite struct ScorerTests {
    /// One layer, one KV head of dimension 2 holding `keys`/`values` at positions 0, 1, …
    static func head(keys: [[Float]], values: [[Float]]) throws -> (PagedKVCache, SequenceID, HeadView) {
        let layout = try CacheLayout(layers: 1, kvHeads: 1, headDim: keys[0].count, blockSize: 16)
        let cache = try PagedKVCache(layout: layout, capacityBlocks: 4)
        let sequence = cache.addSequence()
        try cache.reserve(sequence, tokens: keys.count)
        let positions = (0..<keys.count).map(Int32.init)
        cache.append(sequence, layer: 0, count: keys.count, keys: keys.flatMap { $0 }, values: values.flatMap { $0 }, positions: positions)
        cache.advance(sequence, by: keys.count)
        return (cache, sequence, cache.view(sequence, layer: 0, head: 0))
    }

    static func layerInput(_ view: HeadView, length: Int) -> LayerScoringInput {
        LayerScoringInput(layer: 0, kvHeads: 1, headDim: 2, sequenceLength: length, heads: [view])
    }

    /// Sink, then chunks (A B) (C D) (E F) and a tail G, lag 2. Chunk (A B) against (C D): C = (0, 0),
    /// D = (1, 1) give the range [0, 1] per channel, so A = (0, 0) normalises to (0, 0), std 0, and
    /// B = (1, 0) to (1, 0), std 1/√2: B ranks above A. Values are equal everywhere, so they tie and
    /// the keys decide. Chunk (C D) against (E F): E = (0, 0), F = (2, 2): C → (0, 0), D → (0.5, 0.5),
    /// both std 0, a tie: ranks by order, C 0 and D 0.5. (E F) is the last full chunk and G the tail:
    /// kept, as is the sink.
    @Test func lagKVMatchesTheHandComputedRanks() throws {
        let keys: [[Float]] = [[9, 9], [0, 0], [1, 0], [0, 0], [1, 1], [0, 0], [2, 2], [5, 1]]
        let values = [[Float]](repeating: [0.5, 0.5], count: keys.count)
        let (cache, _, view) = try Self.head(keys: keys, values: values)
        let scores = try LagKVScorer(lagSize: 2, sinks: 1).score(Self.layerInput(view, length: keys.count))
        #expect(scores == [[.infinity, 0, 0.5, 0, 0.5, .infinity, .infinity, .infinity]])
        withExtendedLifetime(cache) {}
    }

    /// Too short for two chunks after the sinks: scores rise with position, a sliding window (kvpress).
    @Test func lagKVWithoutLagKeepsTheMostRecent() throws {
        let keys = (0..<5).map { [Float($0), 1] }
        let (cache, _, view) = try Self.head(keys: keys, values: keys)
        let scores = try LagKVScorer(lagSize: 4, sinks: 1).score(Self.layerInput(view, length: 5))
        #expect(scores == [[.infinity, 0, 0.25, 0.5, 0.75]])
        withExtendedLifetime(cache) {}
    }

    // MARK: - KVzip

    static let llama = try! LlamaConfiguration(
        layers: 2, hiddenSize: 96, intermediateSize: 160, attentionHeads: 6, kvHeads: 2, headDim: 24,
        contextLength: 512, vocabularySize: 256 + 1, tiedEmbeddings: true)
    static let model = LlamaModel.random(configuration: llama, seed: 8)
    /// Every byte one token (GPT-2's byte alphabet), so the repeat prompt is in the vocabulary.
    static let tokenizer = EvaluationSupport.byteTokenizer

    /// Records the probabilities of every observed query, by (layer, KV head).
    final class ProbabilityRecorder: AttentionObserver, @unchecked Sendable {
        let from: Int
        private let lock = NSLock()
        private(set) var largest: [Int: [Int32: Float]] = [:]
        init(observingFrom position: Int) { from = position }
        func observedQueries(sequence: SequenceID, chunkLength: Int, startPosition: Int) -> Range<Int> {
            max(0, from - startPosition)..<chunkLength
        }
        func observesDecode(sequence: SequenceID) -> Bool { false }
        func observe(_ o: HeadObservation) {
            lock.withLock {
                var row = largest[o.layer * 2 + o.kvHead, default: [:]]
                for i in 0..<o.contextLength {
                    let p = o.cache.position(i)
                    for r in 0..<(o.groupSize * o.queryCount) { row[p] = max(row[p] ?? 0, o.probabilities[r * o.contextLength + i]) }
                }
                largest[o.layer * 2 + o.kvHead] = row
            }
        }
    }

    /// A float32 cache holding one prefilled sequence of `tokens` random byte tokens.
    static func prefilledRandomDocument(seed: UInt64, tokens: Int, capacityBlocks: Int) throws -> (PagedKVCache, SequenceID, [Int32]) {
        var rng = SplitMix64(seed: seed)
        let document = (0..<tokens).map { _ in Int32(rng.next() % 256) }
        let cache = try model.makeCache(blockSize: 16, kvType: .f32, capacityBlocks: capacityBlocks)
        let sequence = cache.addSequence()
        _ = try model.prefill(document, sequence: sequence, cache: cache)
        return (cache, sequence, document)
    }

    /// KVzip's score of a KV is the largest attention any reconstruction query of its group paid it.
    /// Reference: one prefill of document + repeat prompt + document in a single chunk, recording the
    /// probabilities of the queries after the document. The pass under test forks the prefilled cache
    /// and reads the repeat in chunks: same numbers within float tolerance. A float32 cache: over
    /// float16 the chunked and the single-chunk reading round queries, probabilities and keys at
    /// different points (up to 3.5e-4 apart on an AMD EPYC), which is the cache's error, not the pass's.
    @Test func kvzipScoresAreTheLargestReconstructionAttention() throws {
        let (cache, sequence, document) = try Self.prefilledRandomDocument(seed: 3, tokens: 70, capacityBlocks: 200)
        let context = ScoringContext(model: Self.model, tokenizer: Self.tokenizer, tokens: document)
        let pass = ReconstructionPass(chunkLength: 16)
        let result = try pass.scores(sequence, cache: cache, context: context)
        let (scores, extra) = (result.scores, result.extraTokens)
        #expect(result.reusedSeconds == 0)
        let repeatTokens = Self.tokenizer.encodeContinuation(ReconstructionPass.repeatPrompt)
        #expect(extra == repeatTokens.count + document.count)
        #expect(cache.nextPosition(sequence) == 70 && cache.sequences.count == 1)  // the fork is gone

        let reference = cache.addSequence()
        let recorder = ProbabilityRecorder(observingFrom: 70)
        _ = try Self.model.prefill(document + repeatTokens + document, sequence: reference, cache: cache, observer: recorder)
        for head in 0..<4 {
            let view = cache.view(sequence, layer: head / 2, head: head % 2)
            for i in 0..<view.length {
                let expected = recorder.largest[head]![view.position(i)]!
                #expect(abs(scores[head][i] - expected) <= 1e-5 * max(1, expected), "head \(head) slot \(i)")
            }
        }
    }

    /// A memo in the scoring context: a second fork of the same prefill reuses the first pass's scores
    /// (same numbers, its seconds reported as reused, the same extra tokens charged); another setting
    /// or other tokens run their own pass.
    @Test func reconstructionMemoSharesOnePassBetweenForks() throws {
        let (cache, base, document) = try Self.prefilledRandomDocument(seed: 12, tokens: 50, capacityBlocks: 300)
        let memo = ReconstructionMemo()
        let context = ScoringContext(model: Self.model, tokenizer: Self.tokenizer, tokens: document, reconstructionMemo: memo)
        let fresh = try ReconstructionPass().scores(base, cache: cache, context: ScoringContext(model: Self.model, tokenizer: Self.tokenizer, tokens: document))
        let first = try cache.fork(base), second = try cache.fork(base)
        let a = try ReconstructionPass().scores(first, cache: cache, context: context)
        let b = try ReconstructionPass().scores(second, cache: cache, context: context)
        #expect(memo.count == 1)
        #expect(a.reusedSeconds == 0 && b.reusedSeconds > 0)
        #expect(a.scores == fresh.scores && b.scores == fresh.scores)
        #expect(a.extraTokens == fresh.extraTokens && b.extraTokens == fresh.extraTokens)
        _ = try ReconstructionPass(chunkLength: 7).scores(first, cache: cache, context: context)
        #expect(memo.count == 2)
        let shorter = ScoringContext(model: Self.model, tokenizer: Self.tokenizer, tokens: Array(document.dropLast()), reconstructionMemo: memo)
        let third = cache.addSequence()
        _ = try Self.model.prefill(Array(document.dropLast()), sequence: third, cache: cache)
        let c = try ReconstructionPass().scores(third, cache: cache, context: shorter)
        #expect(memo.count == 3 && c.reusedSeconds == 0)
    }

    /// A user's scorer that counts its calls: ‖v‖₂ per KV.
    final class CountingScorer: KVScorer, @unchecked Sendable {
        private let lock = NSLock()
        private(set) var calls = 0
        func score(_ layer: LayerScoringInput) throws -> [[Float]] {
            lock.withLock { calls += 1 }
            return layer.heads.map { head in (0..<head.length).map { i in head.value(i).reduce(0) { $0 + $1 * $1 }.squareRoot() } }
        }
    }

    /// The token positions each (layer, KV head) of `sequence` holds.
    static func keptPositions(_ sequence: SequenceID, cache: PagedKVCache) -> [[Int32]] {
        (0..<4).map { h in
            let view = cache.view(sequence, layer: h / 2, head: h % 2)
            return (0..<view.length).map { view.position($0) }
        }
    }

    /// A score memo: forks of one prefill compressed at rates 2, 4 and 8 score the document once (one
    /// call per layer) and keep exactly what compressions scoring anew keep; the reused scoring is
    /// reported in seconds; a fork changed by an earlier compression, or another scorer, scores anew.
    @Test func aScoreMemoScoresAPrefillOnceForEveryRate() throws {
        let counting = CountingScorer()
        let registry = PluginRegistry.withAllPlugins()
        registry.register(scorer: "counting-value-norm", summary: "test: ‖v‖₂, counting calls") { _ in counting }
        let (cache, base, document) = try Self.prefilledRandomDocument(seed: 21, tokens: 96, capacityBlocks: 400)
        func compressor(rate: Double, scorer: String = "counting-value-norm") throws -> Compressor {
            try Compressor(
                configuration: CompressionConfiguration(policy: "uniform", budget: .rate(rate), protectedWindow: 8, scorer: PluginSpec(scorer)),
                registry: registry)
        }
        let memo = ScoreMemo()
        let shared = ScoringContext(model: Self.model, tokenizer: Self.tokenizer, tokens: document, scoreMemo: memo)
        let alone = ScoringContext(model: Self.model, tokenizer: Self.tokenizer, tokens: document)
        for (i, rate) in [2.0, 4, 8].enumerated() {
            let viaMemo = try cache.fork(base), anew = try cache.fork(base)
            let report = try compressor(rate: rate).compress(viaMemo, cache: cache, trigger: .afterPrefill, context: shared)
            _ = try compressor(rate: rate).compress(anew, cache: cache, trigger: .afterPrefill, context: alone)
            #expect(Self.keptPositions(viaMemo, cache: cache) == Self.keptPositions(anew, cache: cache), "rate \(rate)")
            #expect(i == 0 ? report.reusedScoringSeconds == 0 : report.reusedScoringSeconds > 0)
            cache.removeSequence(viaMemo)
            cache.removeSequence(anew)
        }
        // 2 layers: once for the memo's three rates, three times for the three fresh compressions.
        #expect(counting.calls == 2 * 4 && memo.count == 1 && memo.hits == 2)
        let twice = try cache.fork(base)
        _ = try compressor(rate: 2).compress(twice, cache: cache, trigger: .afterPrefill, context: shared)
        _ = try compressor(rate: 4).compress(twice, cache: cache, trigger: .afterPrefill, context: shared)
        #expect(memo.count == 2 && counting.calls == 2 * 5, "the compressed fork's lengths differ: scored anew")
        _ = try compressor(rate: 2, scorer: "lagkv").compress(try cache.fork(base), cache: cache, trigger: .afterPrefill, context: shared)
        #expect(memo.count == 3)
    }

    /// `repeat_turn: chat` (KVzip's model/wrapper.py): the request closes a user turn of the model's
    /// chat template and the document is read again as the assistant's reply.
    @Test func kvzipChatRepeatTurnPutsTheDocumentInTheAssistantsReply() throws {
        let specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        let tokenizer = try BPETokenizer(
            tokens: EvaluationSupport.byteAlphabet + specials, merges: [], tokenTypes: Array(repeating: 1, count: 256) + [3, 3, 3],
            bos: nil, eos: 256, preTokenizer: "gpt-2",
            chatTemplate: "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
            addBOS: false)
        let document: [Int32] = [72, 105]
        let chat = try ReconstructionPass(repeatTurn: .chat).repetition(of: document, tokenizer: tokenizer)
        let expected =
            tokenizer.encodeContinuation("\n\nRepeat the previous context exactly.") + [258] + tokenizer.encodeContinuation("\n") + [257]
            + tokenizer.encodeContinuation("assistant\n") + document
        #expect(chat == expected)
        #expect(try ReconstructionPass().repetition(of: document, tokenizer: tokenizer) == tokenizer.encodeContinuation(ReconstructionPass.repeatPrompt) + document)
        // A model without a chat template: a clear error naming the option.
        #expect {
            try ReconstructionPass(repeatTurn: .chat).repetition(of: document, tokenizer: Self.tokenizer)
        } throws: { error in
            guard case CompressionError.invalidConfiguration(let message) = error else { return false }
            return message.contains("repeat_turn: chat") && message.contains("chat template")
        }
    }

    @Test func kvzipRepeatTurnIsAnOptionWithItsValuesChecked() throws {
        let registry = PluginRegistry.withAllPlugins()
        let chat = try #require(try registry.makeScorer(PluginSpec("kvzip", options: ["repeat_turn": "chat"])) as? KVzipScorer)
        #expect(chat.reconstruction.repeatTurn == .chat)
        #expect(chat.settings["repeat_turn"] == .string("chat"))
        let plain = try #require(try registry.makeScorer(PluginSpec("kvzip")) as? KVzipScorer)
        #expect(plain.reconstruction.repeatTurn == .plain)
        #expect(throws: CompressionError.self) { try registry.makeScorer(PluginSpec("kvzip", options: ["repeat_turn": "verbatim"])) }
    }

    @Test func kvzipWithoutContextIsAClearError() throws {
        let configuration = CompressionConfiguration(policy: "kvcompress", budget: .rate(2), protectedWindow: 4, scorer: "kvzip")
        let compressor = try Compressor(configuration: configuration, registry: .withAllPlugins())
        let cache = try Self.model.makeCache(blockSize: 16, capacityBlocks: 100)
        let sequence = cache.addSequence()
        _ = try Self.model.prefill(Array(repeating: 5, count: 40), sequence: sequence, cache: cache)
        #expect(throws: CompressionError.self) { try compressor.compress(sequence, cache: cache, trigger: .manual) }
    }

    /// The kvzip preset: the scorer's scores drive the KV-Compress global schedule; the budget holds
    /// and the lowest-scored KVs are the ones that went.
    @Test func kvzipPresetCompressesToTheBudgetByItsScores() throws {
        var rng = SplitMix64(seed: 4)
        let document = (0..<120).map { _ in Int32(rng.next() % 256) }
        let method = try #require(CompressionMethod.named("kvzip"))
        let configuration = method.configuration(budget: .rate(4), protectedWindow: 8)
        let compressor = try Compressor(configuration: configuration, registry: .withAllPlugins())
        let cache = try Self.model.makeCache(blockSize: 4, capacityBlocks: 400)
        let sequence = cache.addSequence()
        _ = try Self.model.prefill(document, sequence: sequence, cache: cache)
        let context = ScoringContext(model: Self.model, tokenizer: Self.tokenizer, tokens: document)
        let expected = try ReconstructionPass().scores(sequence, cache: cache, context: context).scores
        let before = (0..<4).map { h in
            let view = cache.view(sequence, layer: h / 2, head: h % 2)
            return Dictionary(uniqueKeysWithValues: (0..<view.length).map { (view.position($0), expected[h][$0]) })
        }
        let report = try compressor.compress(sequence, cache: cache, trigger: .manual, context: context)
        #expect(report.budgetHeld)
        #expect(report.scoringExtraTokens > 120)
        for h in 0..<4 {
            let view = cache.view(sequence, layer: h / 2, head: h % 2)
            let kept = Set((0..<view.length).map { view.position($0) })
            let evicted = before[h].filter { !kept.contains($0.key) }
            let keptCompressible = before[h].filter { kept.contains($0.key) && $0.key < 112 }
            // The global schedule evicts a prefix of each head's ascending scores: nothing evicted scored
            // above anything compressible that was kept.
            #expect(!evicted.isEmpty)
            if let highestEvicted = evicted.values.max(), let lowestKept = keptCompressible.values.min() {
                #expect(highestEvicted <= lowestKept)
            }
        }
    }

    // MARK: - DefensiveKV's worst-case aggregation

    /// `aggregate: max` stores the largest probability over every observed query and group head.
    @Test func maxAggregationKeepsTheLargestShare() throws {
        let metric = try PluginRegistry.withAllPlugins().makeMetric(PluginSpec("kvcompress", options: ["norm": "l1", "aggregate": "max"]))
        #expect(metric.update == .maximum)
        let cache = try Self.model.makeCache(blockSize: 16, capacityBlocks: 100)
        let sequence = cache.addSequence()
        let window = try PluginRegistry.withAllPlugins().makeWindow(PluginSpec("last", options: ["queries": 6, "pool_kernel": 0]))
        let collector = MetricCollector(metric: metric, window: window)
        let recorder = ProbabilityRecorder(observingFrom: 30)
        var rng = SplitMix64(seed: 9)
        let prompt = (0..<36).map { _ in Int32(rng.next() % 256) }
        _ = try Self.model.prefill(prompt, sequence: sequence, cache: cache, observer: collector)
        let reference = cache.addSequence()
        _ = try Self.model.prefill(prompt, sequence: reference, cache: cache, observer: recorder)
        for head in 0..<4 {
            let view = cache.view(sequence, layer: head / 2, head: head % 2)
            for i in 0..<view.length {
                let expected = recorder.largest[head]![view.position(i)]!
                #expect(abs(view.metric(i).pointee - expected) <= 1e-5)
            }
        }
    }
}

/// Expected Attention on hand-computed cases: head dimension 2 (one RoPE pair, θ = 1), one query head.
@Suite struct ExpectedAttentionScorerTests {
    /// Keys (1, 0), (0, 1), (−1, 0), values of norms 1, 2, 3; window queries at positions 4 and 5 whose
    /// pre-RoPE vectors are given; the sequence has processed 6 tokens and looks 2 positions ahead.
    static func scores(preRoPE: [[Float]], covariance: Bool) throws -> [Float] {
        let keys: [[Float]] = [[1, 0], [0, 1], [-1, 0]], values: [[Float]] = [[1, 0], [0, 2], [3, 0]]
        let (cache, _, view) = try ScorerTests.head(keys: keys, values: values)
        defer { withExtendedLifetime(cache) {} }
        let positions: [Int32] = [4, 5]
        var rotated: [Float] = []
        for (q, p) in zip(preRoPE, positions) {
            let c = cos(Float(p)), s = sin(Float(p))
            rotated += [q[0] * c - q[1] * s, q[0] * s + q[1] * c]
        }
        let window = ObservedQueries(groupSize: 1, headDim: 2, positions: positions, queries: rotated)
        let input = LayerScoringInput(
            layer: 0, kvHeads: 1, headDim: 2, sequenceLength: 6, heads: [view], windowQueries: [window],
            rotary: RotaryParameters(dimensions: 2, base: 10_000))
        return try ExpectedAttentionScorer(futurePositions: 2, sinks: 0, usesCovariance: covariance).score(input)[0]
    }

    static let c = (cos(Float(6)) + cos(Float(7))) / 2, s = (sin(Float(6)) + sin(Float(7))) / 2

    static func expected(logits: [Float]) -> [Float] {
        let e = logits.map { expf($0) }, total = e.reduce(0, +)
        return zip(e, [1, 2, 3]).map { $0 / total * $1 }
    }

    /// Both queries (1, 0) before RoPE: μ = (1, 0), Σ = 0, μ' = R̄μ = (C, S); logits k·μ'/√2.
    @Test func meanOnly() throws {
        let got = try Self.scores(preRoPE: [[1, 0], [1, 0]], covariance: true)
        let want = Self.expected(logits: [Self.c, Self.s, -Self.c].map { $0 / Float(2).squareRoot() })
        for (a, b) in zip(got, want) { #expect(abs(a - b) < 1e-5) }
    }

    /// Queries (1, 0) and (−1, 0): μ = 0, Σ = diag(1, 0), Σ' = R̄ΣR̄ᵀ = [[C², CS], [CS, S²]];
    /// logits kᵀΣ'k/(2·2) = (C·k₀ + S·k₁)²/4.
    @Test func covarianceOnly() throws {
        let got = try Self.scores(preRoPE: [[1, 0], [-1, 0]], covariance: true)
        let want = Self.expected(logits: [Self.c * Self.c / 4, Self.s * Self.s / 4, Self.c * Self.c / 4])
        for (a, b) in zip(got, want) { #expect(abs(a - b) < 1e-5) }
        // Without the covariance term every key scores the same expected attention, 1/3, times ‖v‖.
        let flat = try Self.scores(preRoPE: [[1, 0], [-1, 0]], covariance: false)
        for (a, b) in zip(flat, [Float(1), 2, 3].map { $0 / 3 }) { #expect(abs(a - b) < 1e-5) }
    }
}

/// Expected Attention reads the rotation each model applied: NEOX pairs (x[i], x[i + d/2]) in
/// Gemma 3, adjacent pairs in Llama. The same case laid out both ways (dimensions permuted so pair i
/// holds the same two numbers) must score the same; a scorer that assumed adjacent pairs on a NEOX
/// model would not.
@Suite struct RotaryPairingTests {
    /// Pair 0 = (a0, a1), pair 1 = (b0, b1): adjacent layout (a0, a1, b0, b1), halves (a0, b0, a1, b1).
    static func halves(_ v: [Float]) -> [Float] { [v[0], v[2], v[1], v[3]] }

    /// Rotates `q` (adjacent layout) to position `p`, θ_i = 100^(−2i/4).
    static func rotated(_ q: [Float], at p: Float) -> [Float] {
        var out = q
        for i in 0..<2 {
            let theta = pow(Float(100), -2 * Float(i) / 4), c = cos(p * theta), s = sin(p * theta)
            (out[2 * i], out[2 * i + 1]) = (q[2 * i] * c - q[2 * i + 1] * s, q[2 * i] * s + q[2 * i + 1] * c)
        }
        return out
    }

    static func scores(pairing: RotaryParameters.Pairing) throws -> [Float] {
        func layout(_ v: [Float]) -> [Float] { pairing == .adjacent ? v : halves(v) }
        let keyRows: [[Float]] = [[1, 0, 0.5, 0], [0, 1, 0, -1], [-1, 0.5, 1, 1], [0.2, -0.3, 0.9, 0.1]]
        let valueRows: [[Float]] = [[1, 0, 0, 0], [0, 2, 0, 0], [0, 0, 3, 0], [1, 1, 1, 1]]
        let keys = keyRows.map(layout), values = valueRows.map(layout)
        let (cache, _, view) = try ScorerTests.head(keys: keys, values: values)
        defer { withExtendedLifetime(cache) {} }
        let positions: [Int32] = [5, 6, 7]
        let preRoPE: [[Float]] = [[1, 0.5, -0.5, 2], [0.3, 1, 1, 0], [-1, 0.2, 0.7, 1.5]]
        var queries: [Float] = []
        for (q, p) in zip(preRoPE, positions) { queries += layout(rotated(q, at: Float(p))) }
        let window = ObservedQueries(groupSize: 1, headDim: 4, positions: positions, queries: queries)
        let input = LayerScoringInput(
            layer: 0, kvHeads: 1, headDim: 4, sequenceLength: 8, heads: [view], windowQueries: [window],
            rotary: RotaryParameters(dimensions: 4, base: 100, pairing: pairing))
        return try ExpectedAttentionScorer(futurePositions: 4, sinks: 0, usesCovariance: true).score(input)[0]
    }

    @Test func neoxAndAdjacentLayoutsOfOneCaseScoreTheSame() throws {
        let adjacent = try Self.scores(pairing: .adjacent), halves = try Self.scores(pairing: .halves)
        #expect(adjacent.count == 4 && Set(adjacent.map { ($0 * 1e4).rounded() }).count > 1, "\(adjacent)")
        for (a, b) in zip(adjacent, halves) { #expect(abs(a - b) < 1e-5, "\(adjacent) vs \(halves)") }
    }

    @Test func thePairsFollowTheMode() {
        #expect(RotaryParameters(dimensions: 8, base: 1, pairing: .adjacent).pair(1) == (2, 3))
        #expect(RotaryParameters(dimensions: 8, base: 1, pairing: .halves).pair(1) == (1, 5))
    }
}

/// Presets are registry entries: the built-ins are registered like a user's, and a user's own preset
/// (scorer + allocation + window + options) is found by name without editing the library's list.
@Suite struct PresetRegistryTests {
    @Test func builtinsAreRegisteredPresets() {
        let registry = PluginRegistry.withAllPlugins()
        #expect(registry.registeredPresets.map(\.name) == CompressionMethod.all.map(\.name).sorted())
        #expect(registry.preset(named: "kvzip")?.scorer?.name == "kvzip")
    }

    @Test func aUserPresetIsSelectableAndBuilds() throws {
        let registry = PluginRegistry.withAllPlugins()
        registry.register(
            preset: CompressionMethod(
                name: "kvzip-per-head", summary: "KVzip scores, the same share per head", metric: "kvcompress", window: "none",
                policy: "uniform", scorer: "kvzip"))
        let preset = try #require(registry.preset(named: "kvzip-per-head"))
        let plugins = try preset.configuration(budget: .rate(4)).validate(registry: registry)
        #expect(plugins.scorer is KVzipScorer)
        #expect(plugins.policy is UniformPolicy)
    }
}

/// CriticalKV on a hand-computed case: one KV head serving two query heads, head dimension 2, hidden 2,
/// W_O = [[2, 0, 0, 0], [0, 0, 0, 3]]: query head 0's slice maps v to (2·v₀, 0), head 1's to (0, 3·v₁).
@Suite struct CriticalKVScorerTests {
    @Test func weighsAttentionByTheProjectedValueNorm() throws {
        let (cache, _, view) = try ScorerTests.head(keys: [[0, 0], [0, 0]], values: [[1, 2], [-1, 1]])
        defer { withExtendedLifetime(cache) {} }
        let input = LayerScoringInput(
            layer: 0, kvHeads: 1, headDim: 2, sequenceLength: 2, heads: [view], windowAttention: [[0.5, 0.25]],
            outputProjection: [2, 0, 0, 0, 0, 0, 0, 3], groupSize: 2)
        let scores = try CriticalKVScorer().score(input)
        // v = (1, 2): L1 norms 2 and 6, mean 4; v = (−1, 1): 2 and 3, mean 2.5.
        #expect(abs(scores[0][0] - (0.5 + 1e-4) * 4) < 1e-6)
        #expect(abs(scores[0][1] - (0.25 + 1e-4) * 2.5) < 1e-6)
    }
}

/// CAKE's layer preferences on hand-computed attention, and the allocation they make.
@Suite struct CAKEPolicyTests {
    /// Rows [0.5, 0.5] and [1, 0]: mean [0.75, 0.25], entropy −(0.75 ln 0.75 + 0.25 ln 0.25) = 0.5623;
    /// per-key variances 0.0625 and 0.0625, summed 0.125.
    @Test func dispersionOfTwoRows() {
        let d = CAKEPolicy.dispersion([[0.5, 0.5], [1, 0]])
        #expect(abs(d.entropy - 0.562_335) < 1e-5)
        #expect(abs(d.variance - 0.125) < 1e-9)
    }

    /// Two layers, one KV head of group 1, 40 positions. Layer 0's window queries all attend the same
    /// way (variance 0: preference floored), layer 1's jump between keys: layer 1 keeps far more.
    @Test func theDispersedLayerKeepsMore() throws {
        let cache = try PrefilledCache(layers: 2, kvHeads: 1, blockSize: 1, length: 40, metric: { _, _, p in Float(p % 7) })
        let configuration = CompressionConfiguration(
            policy: "cake", blockSize: PluginSpec("fixed", options: ["size": 1]), budget: .maxCacheTokens(12), protectedWindow: 4)
        let compressor = try Compressor(configuration: configuration, registry: baselineRegistry)
        func attention(_ rows: [[Float]]) -> ObservedAttention {
            ObservedAttention(groupSize: 1, queryPositions: [36, 37, 38, 39], keyPositions: (0..<40).map(Int32.init), probabilities: rows.flatMap { $0 })
        }
        let flat = [[Float]](repeating: [Float](repeating: 1 / 40, count: 40), count: 4)
        let peaked = (0..<4).map { q in (0..<40).map { Float($0 == q * 9 ? 1 : 0) } }
        var input = try compressor.evictionInput(cache.sequence, cache: cache.cache)
        input.windowAttention = [HeadIndex(layer: 0, head: 0): attention(flat), HeadIndex(layer: 1, head: 0): attention(peaked)]
        let preferences = try CAKEPolicy().layerPreferences(input)
        #expect(preferences[0] == 0 && preferences[1] > 0)
        let plan = try CAKEPolicy().plan(input)
        #expect(plan.evicted[0].count > plan.evicted[1].count)
        // Without recorded attention the policy says what it needs.
        #expect(throws: CompressionError.self) { try compressor.compress(cache.sequence, cache: cache.cache, trigger: .manual) }
    }
}
