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
public struct ReconstructionPass: Sendable, Hashable {
    /// How the repeat request is put to the model.
    public enum RepeatTurn: String, Sendable, Hashable, CaseIterable {
        /// As plain text, `repeatPrompt` then the document (the lab's tasks are plain completions).
        case plain
        /// In the model's chat template, as KVzip does (model/wrapper.py `self_task`): the request
        /// ends the user turn and the document is the assistant's reply — `repeatPrompt` without its
        /// final newline, the template's turn closing (ChatML `<|im_end|>\n<|im_start|>assistant\n`,
        /// Gemma `<end_of_turn>\n<start_of_turn>model\n`), then the document.
        case chat
    }

    /// The repeat instruction before the second reading (KVzip's "Repeat the previous context").
    public static let repeatPrompt = "\n\nRepeat the previous context exactly.\n"
    /// Tokens prefilled per chunk of the reconstruction (bounds the observed attention's memory).
    public let chunkLength: Int
    public let repeatTurn: RepeatTurn

    public init(chunkLength: Int = 512, repeatTurn: RepeatTurn = .plain) {
        precondition(chunkLength > 0)
        self.chunkLength = chunkLength
        self.repeatTurn = repeatTurn
    }

    /// The tokens fed after the document: the repeat request, then the document again.
    /// - Parameter document: the document's token ids without a leading BOS.
    /// - Throws: `CompressionError.invalidConfiguration` for `.chat` when the model has no chat
    ///   template this lab can render.
    public func repetition(of document: [Int32], tokenizer: any TextTokenizer) throws -> [Int32] {
        switch repeatTurn {
        case .plain:
            return tokenizer.encodeContinuation(Self.repeatPrompt) + document
        case .chat:
            let closing: String
            do { closing = try tokenizer.chatTemplate().userTurnClosing() } catch {
                throw CompressionError.invalidConfiguration("kvzip repeat_turn: chat needs the model's chat template: \(error)")
            }
            let request = String(Self.repeatPrompt.dropLast())
            return tokenizer.encodeContinuation(request) + tokenizer.encode(closing, addBOS: false, parseSpecial: true) + document
        }
    }

    /// What one pass over a sequence yields.
    public struct Result: Sendable {
        /// `[layers * kvHeads][contextLength]`, index `layer * kvHeads + head`, by logical slot.
        public let scores: [[Float]]
        /// Tokens the pass prefilled (the repeat request and the document again).
        public let extraTokens: Int
        /// Seconds of the pass whose scores were reused from `ScoringContext.reconstructionMemo`
        /// rather than computed now; 0 when computed now.
        public let reusedSeconds: Double
    }

    /// Scores of `sequence`'s KVs, and the tokens the pass prefilled. With a
    /// `context.reconstructionMemo` that already holds this pass over the same tokens, its scores are
    /// reused (they do not depend on the budget), so a sweep compressing forks of one prefill at
    /// several rates reads the document again once.
    public func scores(
        _ sequence: SequenceID, cache: PagedKVCache, context: ScoringContext
    ) throws -> Result {
        let layout = cache.layout
        let byPosition: [[Float]], extraTokens: Int, reusedSeconds: Double
        let key = ReconstructionMemo.Key(pass: self, tokens: context.tokens, blockSize: layout.blockSize, kvType: layout.kvType)
        if let memo = context.reconstructionMemo, let entry = memo.entry(key) {
            (byPosition, extraTokens, reusedSeconds) = (entry.byPosition, entry.extraTokens, entry.seconds)
        } else {
            let started = ContinuousClock.now
            (byPosition, extraTokens) = try positionScores(sequence, cache: cache, context: context)
            reusedSeconds = 0
            let seconds = (ContinuousClock.now - started).seconds
            context.reconstructionMemo?.store(.init(byPosition: byPosition, extraTokens: extraTokens, seconds: seconds), for: key)
        }
        var scores: [[Float]] = []
        scores.reserveCapacity(layout.headCount)
        for layer in 0..<layout.layers {
            for head in 0..<layout.kvHeads {
                let view = cache.view(sequence, layer: layer, head: head)
                let row = byPosition[layer * layout.kvHeads + head]
                scores.append((0..<view.length).map { row[Int(view.position($0))] })
            }
        }
        return Result(scores: scores, extraTokens: extraTokens, reusedSeconds: reusedSeconds)
    }

    /// Runs the pass on a fork of `sequence`: per (layer, KV head), the score of every original token
    /// position `[layers * kvHeads][sequenceLength]`, and the tokens prefilled.
    private func positionScores(
        _ sequence: SequenceID, cache: PagedKVCache, context: ScoringContext
    ) throws -> (byPosition: [[Float]], extraTokens: Int) {
        let length = cache.nextPosition(sequence)
        // The prompt's tokens; a sequence that has decoded since is read back up to its prompt (the
        // generated tokens are the most recent, inside the protected window for short answers).
        guard !context.tokens.isEmpty, context.tokens.count <= length else {
            throw CompressionError.invalidConfiguration(
                "kvzip: the scoring context holds \(context.tokens.count) token ids but the sequence has processed \(length)")
        }
        let document = context.tokens.first == context.tokenizer.bosID && context.tokenizer.addsBOSByDefault
            ? Array(context.tokens.dropFirst()) : context.tokens
        let fed = try repetition(of: document, tokenizer: context.tokenizer)
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
        return ((0..<layout.headCount).map { observer.scores(head: $0) }, fed.count)
    }
}

/// Reconstruction scores already computed for one document, by pass settings, so that compressions of
/// forks of one prefill (a sweep's cells at different rates, KVzip with two allocations) read the
/// document again once. Entries are keyed by the pass's settings and the token ids, so a memo can span
/// the question placements of one document; keep one per document (or per prefill) to bound memory.
public final class ReconstructionMemo: @unchecked Sendable {
    struct Entry {
        /// `[layers * kvHeads][sequenceLength]` by token position.
        let byPosition: [[Float]]
        let extraTokens: Int
        /// Seconds the pass took when it ran.
        let seconds: Double
    }

    /// The scores depend on the pass, the tokens and the stored KVs' precision and layout.
    struct Key: Hashable {
        let pass: ReconstructionPass
        let tokens: [Int32]
        let blockSize: Int
        let kvType: KVStorageType
    }

    private let lock = NSLock()
    private var entries: [Key: Entry] = [:]

    public init() {}

    /// Passes held (for tests and reports).
    public var count: Int { lock.withLock { entries.count } }

    func entry(_ key: Key) -> Entry? { lock.withLock { entries[key] } }

    func store(_ entry: Entry, for key: Key) { lock.withLock { entries[key] = entry } }
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
