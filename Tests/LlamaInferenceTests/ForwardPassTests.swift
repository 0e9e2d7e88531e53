import Foundation
import PagedKVCache
import SeededRandom
import Testing

@testable import LlamaInference

/// A tiny random model shaped like SmolLM2 (groups of 3 query heads per KV head) but with a head
/// dimension of 24 (one 16-wide SIMD step plus a scalar tail) and a head width different from the
/// hidden size, so no kernel can silently assume either.
let tinyConfiguration = try! LlamaConfiguration(
    layers: 2, hiddenSize: 96, intermediateSize: 160, attentionHeads: 6, kvHeads: 2, headDim: 24,
    ropeFrequencyBase: 10_000, rmsNormEpsilon: 1e-5, contextLength: 512, vocabularySize: 97, tiedEmbeddings: true)
let tinyModel = LlamaModel.random(configuration: tinyConfiguration, seed: 42)

func randomTokens(_ count: Int, seed: UInt64) -> [Int32] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in Int32(rng.next() % UInt64(tinyConfiguration.vocabularySize)) }
}

/// Largest absolute difference between two equally long vectors.
func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "compared vectors differ in length: \(a.count) vs \(b.count)")
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Cache with room for `tokens` per head of `sequences` sequences. float32 KVs: these tests hold the
/// paged machinery to a dense float32 reference at 1e-4 to 1e-5 (f16 storage is tested against f32
/// in KVStorageTypeTests).
func makeCache(blockSize: Int, tokens: Int, sequences: Int = 1, kvType: KVStorageType = .f32) throws -> PagedKVCache {
    let c = tinyConfiguration
    let blocks = sequences * c.layers * c.kvHeads * ((tokens + blockSize - 1) / blockSize + 1)
    return try tinyModel.makeCache(blockSize: blockSize, kvType: kvType, capacityBlocks: blocks)
}

@Suite("Forward pass against a dense reference")
struct ForwardPassTests {
    static let prompt = randomTokens(37, seed: 1)
    static let reference = ReferenceLlama(model: tinyModel).forward(prompt)

    @Test("prefill logits equal the dense reference", arguments: CacheLayout.supportedBlockSizes)
    func prefillMatchesReference(blockSize: Int) throws {
        let cache = try makeCache(blockSize: blockSize, tokens: Self.prompt.count)
        let sequence = cache.addSequence()
        let logits = try tinyModel.prefill(Self.prompt, sequence: sequence, cache: cache, allLogits: true)
        #expect(maxDifference(logits, Self.reference.logits.flatMap { $0 }) < 1e-4)
        #expect(cache.nextPosition(sequence) == Self.prompt.count)
        #expect(cache.contextLengths(sequence).allSatisfy { $0 == Self.prompt.count })
        // Without allLogits only the last row comes back.
        let cache2 = try makeCache(blockSize: blockSize, tokens: Self.prompt.count)
        let last = try tinyModel.prefill(Self.prompt, sequence: cache2.addSequence(), cache: cache2)
        #expect(maxDifference(last, Self.reference.logits.last!) < 1e-4)
    }

    @Test("a prompt spanning several query tiles equals the dense reference")
    func longPrefillMatchesReference() throws {
        let tokens = randomTokens(Attention.queryTile * 2 + 19, seed: 2)
        let cache = try makeCache(blockSize: 16, tokens: tokens.count)
        let logits = try tinyModel.prefill(tokens, sequence: cache.addSequence(), cache: cache, allLogits: true)
        let reference = ReferenceLlama(model: tinyModel).forward(tokens)
        // Logits reach 4 here; past 256 positions the model's float32 cos/sin of angles of hundreds of
        // radians (as llama.cpp's) differ from the reference's double ones by a float ulp of the angle's
        // size, so the bound is 2e-4 (measured 1.1e-4) rather than the short prompt's 1e-4.
        #expect(maxDifference(logits, reference.logits.flatMap { $0 }) < 2e-4)
    }

    @Test("prefill of n tokens equals prefill of k, a chunk, then decoding the rest", arguments: [1, 4, 16])
    func chunkedAndDecodedMatchPrefill(blockSize: Int) throws {
        let tokens = Self.prompt
        let cache = try makeCache(blockSize: blockSize, tokens: tokens.count)
        let sequence = cache.addSequence()
        var rows = try tinyModel.prefill(Array(tokens[0..<11]), sequence: sequence, cache: cache, allLogits: true)
        rows += try tinyModel.prefill(Array(tokens[11..<24]), sequence: sequence, cache: cache, allLogits: true)
        for t in tokens[24...] {
            rows += try tinyModel.decode([(sequence, t)], cache: cache)[0]
        }
        #expect(maxDifference(rows, Self.reference.logits.flatMap { $0 }) < 1e-4)
        #expect(cache.nextPosition(sequence) == tokens.count)
    }

    @Test("batched decode of sequences of different lengths equals decoding each alone", arguments: [1, 8, 64])
    func batchedDecodeMatchesSingle(blockSize: Int) throws {
        let prompts = [randomTokens(5, seed: 10), randomTokens(23, seed: 11), randomTokens(40, seed: 12)]
        let steps = [randomTokens(4, seed: 20), randomTokens(4, seed: 21), randomTokens(4, seed: 22)]
        let shared = try makeCache(blockSize: blockSize, tokens: 50, sequences: prompts.count)
        let ids = prompts.map { _ in shared.addSequence() }
        for (id, prompt) in zip(ids, prompts) { _ = try tinyModel.prefill(prompt, sequence: id, cache: shared) }
        var batched: [[[Float]]] = []
        for step in 0..<4 {
            batched.append(try tinyModel.decode(ids.indices.map { (ids[$0], steps[$0][step]) }, cache: shared))
        }
        for (i, prompt) in prompts.enumerated() {
            let alone = try makeCache(blockSize: blockSize, tokens: 50)
            let id = alone.addSequence()
            _ = try tinyModel.prefill(prompt, sequence: id, cache: alone)
            for step in 0..<4 {
                let logits = try tinyModel.decode([(id, steps[i][step])], cache: alone)[0]
                // The tiny model's float32 weights go through OpenBLAS, whose sgemm kernel (picked by
                // the CPU and the matrix shape) may sum a 1-row and a 3-row product in different
                // orders: on a Xeon that OpenBLAS does not recognise (its generic "Prescott" kernels)
                // batched and alone differ by 1.1e-5; with its Haswell kernels within 1e-5. Rounding
                // stays far below the 1e-4 of the dense reference above; a sequence reading another's
                // KVs or position moves logits by O(1). (The GGUF models' integer dot products are exact.)
                #expect(maxDifference(logits, batched[step][i]) < 1e-4, "sequence \(i), step \(step)")
            }
        }
    }

    @Test("prefill and decode over heads compressed to different lengths equal attention over the kept KVs",
          arguments: CacheLayout.supportedBlockSizes)
    func decodeOverCompressedHeads(blockSize: Int) throws {
        let c = tinyConfiguration, prompt = Self.prompt, n = prompt.count
        let cache = try makeCache(blockSize: blockSize, tokens: n + 4)
        let sequence = cache.addSequence()
        _ = try tinyModel.prefill(prompt, sequence: sequence, cache: cache)
        // Keep a different random subset per (layer, head), down to a single KV.
        var rng = SplitMix64(seed: UInt64(blockSize))
        var kept = [[Set<Int>]]()
        for layer in 0..<c.layers {
            var layerKept = [Set<Int>]()
            for head in 0..<c.kvHeads {
                let keep = 1 + Int(rng.next() % UInt64(n))
                var positions = Array(0..<n)
                positions.shuffle(using: &rng)
                let survivors = Set(positions.prefix(keep))
                try evict(cache, sequence, layer: layer, head: head, keeping: survivors, length: n)
                layerKept.append(survivors)
            }
            kept.append(layerKept)
        }
        // A prefilled chunk and a decode step after compression: both read each head's own blocks
        // and length, and see the chunk's or step's new KVs as well.
        let next = randomTokens(4, seed: 99)
        let chunk = try tinyModel.prefill(Array(next.prefix(3)), sequence: sequence, cache: cache, allLogits: true)
        let decoded = try tinyModel.decode([(sequence, next[3])], cache: cache)[0]
        let reference = ReferenceLlama(model: tinyModel).forward(prompt + next) { layer, head, query, key in
            query < n ? key <= query : key <= query && (key >= n || kept[layer][head].contains(key))
        }
        #expect(maxDifference(chunk, reference.logits[n..<n + 3].flatMap { $0 }) < 1e-4)
        #expect(maxDifference(decoded, reference.logits[n + 3]) < 1e-4)
        for layer in 0..<c.layers {
            for head in 0..<c.kvHeads {
                #expect(cache.contextLength(sequence, layer: layer, head: head) == kept[layer][head].count + 4)
            }
        }
    }

    @Test("a prompt past the context window is refused")
    func contextOverflow() throws {
        let cache = try makeCache(blockSize: 16, tokens: 600)
        let sequence = cache.addSequence()
        #expect(throws: LlamaError.contextOverflow(tokens: 513, contextLength: 512)) {
            try tinyModel.prefill(randomTokens(513, seed: 3), sequence: sequence, cache: cache)
        }
        #expect(cache.usedBlockCount == 0)
    }

    @Test("running out of blocks leaves the cache unchanged")
    func outOfBlocks() throws {
        let cache = try tinyModel.makeCache(blockSize: 16, capacityBlocks: 5)
        let sequence = cache.addSequence()
        #expect(throws: LlamaError.self) {
            try tinyModel.prefill(randomTokens(40, seed: 3), sequence: sequence, cache: cache)
        }
        #expect(cache.usedBlockCount == 0)
        #expect(cache.nextPosition(sequence) == 0)
    }

    @Test("invalid tokens and unknown sequences are refused")
    func invalidInput() throws {
        let cache = try makeCache(blockSize: 16, tokens: 10)
        let sequence = cache.addSequence()
        #expect(throws: LlamaError.tokenOutOfRange(token: 97, vocabularySize: 97)) {
            try tinyModel.prefill([1, 97], sequence: sequence, cache: cache)
        }
        #expect(throws: LlamaError.self) { try tinyModel.prefill([], sequence: sequence, cache: cache) }
        #expect(throws: LlamaError.self) { try tinyModel.decode([(SequenceID(5), 1)], cache: cache) }
        let wrong = try LlamaModel.random(
            configuration: LlamaConfiguration(
                layers: 1, hiddenSize: 32, intermediateSize: 64, attentionHeads: 2, kvHeads: 1, contextLength: 64,
                vocabularySize: 10, tiedEmbeddings: false), seed: 1
        ).makeCache(capacityBlocks: 4)
        #expect(throws: LlamaError.self) { try tinyModel.prefill([1], sequence: wrong.addSequence(), cache: wrong) }
    }
}

/// Evicts every KV of a head except `survivors` the way KV-Compress does (paper §3, cache moves):
/// the source walks down from the last slot, the destination up through evicted slots, survivors
/// land in [0, kept) in scrambled order, then the trailing blocks are freed.
func evict(
    _ cache: PagedKVCache, _ sequence: SequenceID, layer: Int, head: Int, keeping survivors: Set<Int>, length: Int
) throws {
    // Fresh prefill: logical slot i holds position i.
    var source = length - 1, destination = 0
    while true {
        while destination < length && survivors.contains(destination) { destination += 1 }
        while source >= 0 && !survivors.contains(source) { source -= 1 }
        if destination >= source { break }
        cache.moveSlot(sequence, layer: layer, head: head, from: source, to: destination)
        destination += 1
        source -= 1
    }
    try cache.truncate(sequence, layer: layer, head: head, to: survivors.count)
    let view = cache.view(sequence, layer: layer, head: head)
    #expect(Set((0..<view.length).map { Int(view.position($0)) }) == survivors)
}

/// Records every observation (copies, since the buffers die with the call).
final class RecordingObserver: AttentionObserver, @unchecked Sendable {
    struct Record: Sendable {
        let layer: Int, kvHead: Int, phase: HeadObservation.Phase
        let queryPositions: [Int32]
        let probabilities: [Float]
        let slotPositions: [Int32]
    }
    let window: Int
    private let lock = NSLock()
    private var recorded: [Record] = []
    var records: [Record] { lock.withLock { recorded } }
    init(window: Int) { self.window = window }

    func observedQueries(sequence: SequenceID, chunkLength: Int, startPosition: Int) -> Range<Int> {
        max(0, chunkLength - window)..<chunkLength
    }
    func observesDecode(sequence: SequenceID) -> Bool { true }
    func observe(_ o: HeadObservation) {
        let record = Record(
            layer: o.layer, kvHead: o.kvHead, phase: o.phase, queryPositions: o.queryPositions,
            probabilities: Array(o.probabilities), slotPositions: (0..<o.contextLength).map { o.cache.position($0) })
        lock.withLock { recorded.append(record) }
    }
}

@Suite("Attention observation")
struct ObservationTests {
    @Test("observed probabilities are the reference softmax of the chosen queries", arguments: [1, 16])
    func observedProbabilities(blockSize: Int) throws {
        let c = tinyConfiguration, prompt = ForwardPassTests.prompt, n = prompt.count
        let cache = try makeCache(blockSize: blockSize, tokens: n + 1)
        let sequence = cache.addSequence()
        let observer = RecordingObserver(window: 5)
        _ = try tinyModel.prefill(prompt, sequence: sequence, cache: cache, observer: observer)
        let next = randomTokens(1, seed: 5)
        _ = try tinyModel.decode([(sequence, next[0])], cache: cache, observer: observer)
        let reference = ReferenceLlama(model: tinyModel).forward(prompt + next)
        let records = observer.records
        #expect(records.count == 2 * c.layers * c.kvHeads)
        for r in records {
            let queries = r.queryPositions.map(Int.init)
            #expect(queries == (r.phase == .prefill ? Array(n - 5..<n) : [n]))
            let length = r.slotPositions.count
            for j in 0..<c.groupSize {
                for (i, q) in queries.enumerated() {
                    let row = Array(r.probabilities[(j * queries.count + i) * length..<(j * queries.count + i + 1) * length])
                    let expected = r.slotPositions.map { reference.probabilities[r.layer][r.kvHead * c.groupSize + j][q][Int($0)] }
                    // Peaked attention amplifies float rounding of the projections a little; 1e-4 is
                    // still far below any real disagreement (a wrong slot or query moves mass ≫ 1e-2).
                    #expect(maxDifference(row, expected) < 1e-4)
                    #expect(abs(row.reduce(0, +) - 1) < 1e-5)
                }
            }
        }
    }
}
