/// One head's KVs in ascending score order, cut into virtual blocks (KV-Compress §4, "Schedule"):
/// the first holds the `hanging = ctx % bs` lowest KVs (bs when ctx is a multiple of bs), each later one
/// the next bs. Evicting the first n virtual blocks of a head leaves a multiple of bs KVs and therefore
/// frees exactly n physical blocks. A virtual block's score is the largest score in it.
///
/// Public so user policies get the same building block as the built-in ones.
public struct VirtualBlocks: Sendable {
    /// Logical slots sorted by ascending score (ties by slot index): `[contextLength]`.
    public let ascendingSlots: [Int]
    /// End (exclusive) of virtual block i in `ascendingSlots`: `[blockCount]`.
    public let ends: [Int]
    /// Score of virtual block i, its largest: `[blockCount]`; +inf when it holds a protected KV, never NaN.
    public let scores: [Float]

    public init(scores slotScores: [Float], blockSize: Int) {
        precondition(blockSize > 0)
        let n = slotScores.count
        // NaN would break every order built on these scores; it counts as the lowest score (a broken
        // metric evicts first, visibly, instead of corrupting the sort).
        let sane = slotScores.map { $0.isNaN ? -Float.infinity : $0 }
        let order = Self.ascendingOrder(sane)
        ascendingSlots = order
        var ends: [Int] = []
        if n > 0 {
            let hanging = n % blockSize == 0 ? blockSize : n % blockSize
            var end = hanging
            while end <= n {
                ends.append(end)
                end += blockSize
            }
        }
        self.ends = ends
        scores = ends.map { sane[order[$0 - 1]] }
    }

    /// Slot indices by ascending score, ties by index: one sort of integer keys (the score's bits
    /// mapped to an unsigned order, then the index), which a compression does once per head.
    static func ascendingOrder(_ scores: [Float]) -> [Int] {
        var keys = [UInt64](repeating: 0, count: scores.count)
        for (i, score) in scores.enumerated() {
            // + 0 makes −0 equal to +0, as `<` has them; then IEEE order as unsigned integers.
            let bits = (score + 0).bitPattern
            let ordered = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
            keys[i] = UInt64(ordered) << 32 | UInt64(i)
        }
        keys.sort()
        return keys.map { Int($0 & 0xFFFF_FFFF) }
    }

    public var count: Int { ends.count }
    /// KVs in virtual block i.
    public func size(_ i: Int) -> Int { i == 0 ? ends[0] : ends[i] - ends[i - 1] }
    /// Whether virtual block i may be evicted (no protected KV in it).
    public func isEvictable(_ i: Int) -> Bool { scores[i] != .infinity }
    /// Logical slots of the first `n` virtual blocks.
    public func slots(evictingFirst n: Int) -> [Int] { n == 0 ? [] : Array(ascendingSlots[0..<ends[n - 1]]) }
}
