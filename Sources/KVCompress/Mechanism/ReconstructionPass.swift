import BPETokenizer
import Foundation
import LlamaInference
import PagedKVCache

/// KVzip's query-agnostic importance (J.-H. Kim et al., "KVzip: Query-Agnostic KV Cache Compression
/// with Context Reconstruction", arXiv 2505.23416 §3.2; snu-mllab/KVzip attention/score.py): after the
/// document is prefilled, a fork of its cache is fed a repeat prompt followed by the document again,
/// teacher-forced, and each original KV is scored by the largest attention probability any of those
/// reconstruction queries — any query head of its GQA group — paid it:
/// `s_i = max over reconstruction positions t and group heads g of softmax_t(q_{t,g} · K / √d)_i`.
/// The fork is dropped afterwards; only the scores remain.
///
/// One deviation, for simplicity: KVzip normalises each chunk's softmax over the sinks, the chunk's own
/// original keys and the repeat keys so far (an efficiency device for long contexts); here every
/// reconstruction query attends causally over the whole forked cache, as the model does.
public struct ReconstructionPass: Sendable {
    /// The repeat instruction before the second reading (KVzip's "Repeat the previous context:", as
    /// plain text since the lab's tasks are plain completions).
    public static let repeatPrompt = "\n\nRepeat the previous context exactly.\n"
    /// Tokens prefilled per chunk of the reconstruction (bounds the observed attention's memory).
    public let chunkLength: Int

    public init(chunkLength: Int = 512) {
        precondition(chunkLength > 0)
        self.chunkLength = chunkLength
    }

    /// Scores of `sequence`'s KVs: `[layers * kvHeads][contextLength]`, index `layer * kvHeads + head`,
    /// by logical slot; also the tokens the pass prefilled.
    public func scores(
        _ sequence: SequenceID, cache: PagedKVCache, context: ScoringContext
    ) throws -> (scores: [[Float]], extraTokens: Int) {
        let length = cache.nextPosition(sequence)
        // The prompt's tokens; a sequence that has decoded since is read back up to its prompt (the
        // generated tokens are the most recent, inside the protected window for short answers).
        guard !context.tokens.isEmpty, context.tokens.count <= length else {
            throw CompressionError.invalidConfiguration(
                "kvzip: the scoring context holds \(context.tokens.count) token ids but the sequence has processed \(length)")
        }
        let document = context.tokens.first == context.tokenizer.bosID && context.tokenizer.addsBOSByDefault
            ? Array(context.tokens.dropFirst()) : context.tokens
        let fed = context.tokenizer.encodeContinuation(Self.repeatPrompt) + document
        let layout = cache.layout
        let observer = ReconstructionObserver(heads: layout.headCount, kvHeads: layout.kvHeads, originalLength: length)
        let fork: SequenceID
        do { fork = try cache.fork(sequence) } catch {
            throw CompressionError.invalidConfiguration(
                "kvzip needs room to fork the sequence and read it again (\(length) + \(fed.count) tokens per head); the pool is too small: \(error)")
        }
        defer { cache.removeSequence(fork) }
        var start = 0
        while start < fed.count {
            let chunk = Array(fed[start..<min(fed.count, start + chunkLength)])
            _ = try context.model.prefill(chunk, sequence: fork, cache: cache, observer: observer)
            start += chunk.count
        }
        var scores: [[Float]] = []
        scores.reserveCapacity(layout.headCount)
        for layer in 0..<layout.layers {
            for head in 0..<layout.kvHeads {
                let view = cache.view(sequence, layer: layer, head: head)
                let byPosition = observer.scores(head: layer * layout.kvHeads + head)
                scores.append((0..<view.length).map { byPosition[Int(view.position($0))] })
            }
        }
        return (scores, fed.count)
    }
}

/// Records, per (layer, KV head) and original token position, the largest probability a
/// reconstruction query of the group paid it. Attention calls `observe` concurrently for different
/// heads; each head writes only its own row, so no lock is needed.
final class ReconstructionObserver: AttentionObserver, @unchecked Sendable {
    let kvHeads: Int
    let originalLength: Int
    /// `[heads][originalLength]`.
    private let table: UnsafeMutablePointer<Float>

    init(heads: Int, kvHeads: Int, originalLength: Int) {
        self.kvHeads = kvHeads
        self.originalLength = originalLength
        table = .allocate(capacity: max(1, heads * originalLength))
        table.initialize(repeating: 0, count: max(1, heads * originalLength))
    }

    deinit { table.deallocate() }

    func scores(head: Int) -> [Float] { Array(UnsafeBufferPointer(start: table + head * originalLength, count: originalLength)) }

    func observedQueries(sequence: SequenceID, chunkLength: Int, startPosition: Int) -> Range<Int> { 0..<chunkLength }
    func observesDecode(sequence: SequenceID) -> Bool { false }

    func observe(_ o: HeadObservation) {
        let row = table + (o.layer * kvHeads + o.kvHead) * originalLength
        let n = o.contextLength, rows = o.groupSize * o.queryCount
        // Largest over the observation's rows first (contiguous reads), then into the position table.
        var largest = [Float](repeating: 0, count: n)
        for r in 0..<rows {
            let probabilities = o.probabilities.baseAddress! + r * n
            for i in 0..<n { largest[i] = max(largest[i], probabilities[i]) }
        }
        for i in 0..<n {
            let p = Int(o.cache.position(i))
            if p < originalLength { row[p] = max(row[p], largest[i]) }
        }
    }
}
