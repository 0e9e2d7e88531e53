import KVCompress

/// StreamingLLM (Xiao et al., "Efficient Streaming Language Models with Attention Sinks", ICLR 2024,
/// arXiv 2309.17453): keep the first `sinks` tokens (attention sinks) and the most recent tokens,
/// drop everything in between. It needs no attention at all, so its preset observes nothing.
///
/// In our paged per-head cache: every head ranks its KVs by token position (oldest first), with the
/// sinks ranked above every ordinary KV and the protected window at +inf, and gives up whole virtual
/// blocks of its oldest non-sink KVs. Every head gets the same budget (water-filling over heads until
/// the sequence meets its ``BudgetLimit``), so after a prefill each head keeps exactly the sinks plus
/// its most recent KVs, and the freed blocks go back to the pool (kvpress only masks them).
///
/// The sinks of this policy are kept as long as the budget allows; only the configuration's `sinks`
/// are protected by the executor, so set both when the budget might be smaller than sinks + window.
///
/// Option `sinks` (default 4, the paper's four initial tokens); the configuration's `sinks`, if larger,
/// wins.
public struct StreamingLLMPolicy: EvictionPolicy {
    public let sinks: Int

    public init(sinks: Int = 4) { self.sinks = sinks }

    init(options: OptionReader) throws {
        sinks = try options.int("sinks", default: 4, in: 0...Int.max)
    }

    public func plan(_ input: EvictionInput) throws -> EvictionPlan {
        let sinkCount = max(sinks, input.sinks)
        var allocator = BlockAllocator(
            input,
            rankingScores: input.rankingScores { head, slot in
                let position = Int(head.positions[slot])
                // Sinks rank above every ordinary KV (they go last), yet stay finite: evictable if the budget demands.
                return position < sinkCount ? .greatestFiniteMagnitude : Float(position)
            })
        allocator.evictFromLargest { a, h in Double(a.keptKVs(h)) }
        return allocator.plan
    }
}
