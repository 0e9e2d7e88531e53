/// The cache moves of one compression: per head, (source, destination) logical slots in the order of
/// the two-pointer walk of Sources/KVCompress/Mechanism/EvictionExecutor.swift (`compact`). What
/// `kvc_plan_moves` writes and ``EvictionReference/planMoves(ordering:evictedKVs:)`` computes.
public struct MovePlan: Sendable, Equatable {
    public let heads: Int
    /// Row capacity: ``EvictionShape/maxMoves``.
    public let maxMoves: Int
    /// `[heads, maxMoves, 2]` (source, destination); zero past each head's count.
    public var moves: [Int32]
    /// Moves per head: `[heads]`.
    public var counts: [Int32]

    public init(heads: Int, maxMoves: Int, moves: [Int32], counts: [Int32]) throws(EvictionError) {
        guard moves.count == heads * maxMoves * 2, counts.count == heads else {
            throw .shapeMismatch("\(moves.count) move entries and \(counts.count) counts for \(heads) heads × \(maxMoves) moves × 2")
        }
        for (h, count) in counts.enumerated() where count < 0 || Int(count) > maxMoves {
            throw .inconsistentPlan("head \(h) reports \(count) moves (capacity \(maxMoves)); its evicted count was outside its length")
        }
        self.heads = heads
        self.maxMoves = maxMoves
        self.moves = moves
        self.counts = counts
    }

    /// The moves of head `h` in walk order.
    public func moves(head h: Int) -> [(source: Int, destination: Int)] {
        (0..<Int(counts[h])).map { i in
            let at = (h * maxMoves + i) * 2
            return (Int(moves[at]), Int(moves[at + 1]))
        }
    }

    public var totalMoves: Int { counts.reduce(0) { $0 + Int($1) } }
}
