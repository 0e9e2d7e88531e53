import KVCompress

/// Random eviction (kvpress `RandomPress`): every KV gets a uniform score in [0, 1) from a seeded
/// generator, the floor any real method must beat. Attention-free: its preset observes nothing.
///
/// The score is a hash of (seed, layer, head, token position), not of the slot, so it is reproducible
/// whatever order the cache moves left the slots in, and a KV keeps its score across compressions
/// (a token survives or not by one draw, not by a fresh coin at every compression).
///
/// In our paged per-head cache: each head gives up whole virtual blocks of its lowest-scored KVs,
/// always from the head that keeps the most, until the sequence meets its ``BudgetLimit`` (same budget
/// per head); the blocks are freed.
///
/// Option `seed` (default 0).
public struct RandomPolicy: EvictionPolicy {
    public let seed: UInt64

    public init(seed: UInt64 = 0) { self.seed = seed }

    init(options: OptionReader) throws {
        seed = UInt64(bitPattern: Int64(try options.int("seed", default: 0)))
    }

    public func plan(_ input: EvictionInput) throws -> EvictionPlan {
        var allocator = BlockAllocator(
            input,
            rankingScores: input.rankingScores { head, slot in
                Self.score(seed: seed, layer: head.layer, head: head.head, position: head.positions[slot])
            })
        allocator.evictFromLargest { a, h in Double(a.keptKVs(h)) }
        return allocator.plan
    }

    /// The score of the KV at `position` of (layer, head) under `seed`: a uniform draw in [0, 1) determined
    /// by its arguments (SplitMix64's finaliser applied to the seed mixed with each coordinate in turn, the
    /// top 24 bits as the fraction, exact in a Float).
    public static func score(seed: UInt64, layer: Int, head: Int, position: Int32) -> Float {
        var state = seed
        for coordinate in [UInt64(layer), UInt64(head), UInt64(UInt32(bitPattern: position))] {
            state = mix(state &+ 0x9E37_79B9_7F4A_7C15 &+ coordinate)
        }
        return Float(state >> 40) / Float(1 << 24)
    }

    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
