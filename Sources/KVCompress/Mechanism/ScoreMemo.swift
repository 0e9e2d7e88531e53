import Foundation
import PagedKVCache

/// A scorer's scores of one prefilled sequence, shared by the compressions of its unchanged forks.
///
/// A scorer's scores depend on its inputs, never on how many KVs will be kept (`KVScorer`: the budget
/// is the policy's business), so a sweep that compresses forks of one prefill at rates 2 … 64 needs
/// each method's scores once: CriticalKV's W_O products, Expected Attention's and LagKV's statistics
/// are then paid once per document instead of once per rate. The reused seconds are reported
/// (`CompressionReport.reusedScoringSeconds`) so a trial's compression cost still reads as it would in
/// serving, where each request scores its own document.
///
/// Keep one memo per prefilled sequence whose forks are compressed as prefilled (the sweep makes one
/// per prefill group and prompt); a fork that decoding or an earlier compression changed must not use
/// it. As a guard the key holds each head's context length, so a changed fork misses instead of
/// reading another sequence's scores.
public final class ScoreMemo: @unchecked Sendable {
    struct Key: Hashable {
        /// The scorer as configured (name and options) and the settings it resolved.
        let scorer: String
        /// The metric and window whose attention the scorer may read (`.windowAttention`, `.windowQueries`).
        let observation: String
        let sequenceLength: Int
        let contextLengths: [Int]
    }

    struct Entry {
        /// `[layers * kvHeads][contextLength]`, by logical slot.
        let scores: [[Float]]
        let extraTokens: Int
        /// Seconds the scoring took when it ran.
        let seconds: Double
    }

    private let lock = NSLock()
    private var entries: [Key: Entry] = [:]
    private var hitCount = 0

    public init() {}

    /// Scorings held.
    public var count: Int { lock.withLock { entries.count } }
    /// Compressions that reused a held scoring.
    public var hits: Int { lock.withLock { hitCount } }

    func entry(_ key: Key) -> Entry? {
        lock.withLock {
            let entry = entries[key]
            if entry != nil { hitCount += 1 }
            return entry
        }
    }

    func store(_ entry: Entry, for key: Key) { lock.withLock { entries[key] = entry } }
}
