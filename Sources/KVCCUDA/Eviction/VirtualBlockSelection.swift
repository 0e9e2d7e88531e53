import KVCBudget

/// The host step of the GPU schedule (KV-Compress §4): from every head's virtual-block scores, pick
/// the globally lowest virtual blocks until the sequence meets its budget.
///
/// A re-implementation of `BlockAllocator.evictLowestFirst` and of KVCompressPolicy's
/// `even_layer_evict` rounds (Plugins/EvictionPolicies), with the same tie rule (equal scores go to
/// the lowest head index) and the same stopping rule (the budget is checked before each eviction, in
/// physical blocks or KVs): KVCCUDA must not depend on the plug-ins, and
/// Tests/KVCCUDATests/EvictionReferenceTests.swift checks both choose the same blocks.
///
/// Without `even_layer_evict` the policy takes, one at a time, the head whose next virtual block
/// scores lowest. When every head's evictable scores ascend (what `kvc_sort_head_metrics` writes:
/// each block's score is the largest of a run of an ascending sort), that sequence of choices is the
/// k-way merge of the heads' lists, i.e. all evictable blocks in (score, head, block) order, and the
/// kept KVs and blocks only shrink along it. So the selection is the shortest prefix of that order
/// after which the budget holds, found without walking it: a binary search over the score (each step
/// counts, per head, the blocks at or below a threshold by binary search in its list), then the blocks
/// tied at the threshold score are taken head by head, lowest head first. That is O(heads · log
/// blocks · 32) instead of O(evicted blocks · log heads) (about 40 000 blocks for an 8k-token
/// SmolLM2 sequence at rate 8). Scores that do not ascend (or NaN) fall back to the block-by-block
/// merge through a heap. Tests/KVCCUDATests/EvictionSelectionTests.swift checks both against a
/// literal scan of every head per eviction.
public struct VirtualBlockSelection: Sendable, Equatable {
    /// Virtual blocks each head gives up, a prefix of its ascending order: `[heads]`.
    public let evictedBlocks: [Int]
    /// KVs each head gives up: `[heads]`.
    public let evictedKVs: [Int]
    /// Whether the sequence meets its limit after the evictions (false when protected KVs alone exceed it).
    public let budgetHeld: Bool

    /// How the blocks are found; every method chooses the same blocks.
    enum Method {
        /// The threshold search when every head's evictable scores ascend, else the merge.
        case automatic
        /// Block by block through a heap of each head's next block (any scores).
        case merge
    }

    public init(ordering: HeadOrdering, limit: BudgetLimit, evenLayerEvict: Bool) {
        // A HeadOrdering's arrays were checked against its shape when it was made.
        self = ordering.virtualBlockScores.withUnsafeBufferPointer {
            VirtualBlockSelection(checked: ordering.shape, virtualBlockScores: $0, limit: limit, evenLayerEvict: evenLayerEvict)
        }
    }

    /// - Parameter virtualBlockScores: `[heads, maxVirtualBlocks]` as `kvc_sort_head_metrics` writes them.
    public init(shape: EvictionShape, virtualBlockScores: [Float], limit: BudgetLimit, evenLayerEvict: Bool) throws(EvictionError) {
        guard virtualBlockScores.count == shape.heads * shape.maxVirtualBlocks else {
            throw .shapeMismatch("\(virtualBlockScores.count) virtual-block scores for \(shape.heads) heads × \(shape.maxVirtualBlocks)")
        }
        self = virtualBlockScores.withUnsafeBufferPointer {
            VirtualBlockSelection(checked: shape, virtualBlockScores: $0, limit: limit, evenLayerEvict: evenLayerEvict)
        }
    }

    /// - Parameter virtualBlockScores: at least `[heads, maxVirtualBlocks]` (the caller checked).
    init(
        checked shape: EvictionShape, virtualBlockScores scores: UnsafeBufferPointer<Float>, limit: BudgetLimit, evenLayerEvict: Bool,
        method: Method = .automatic
    ) {
        precondition(scores.count >= shape.heads * shape.maxVirtualBlocks, "virtual-block scores shorter than the shape")
        var ledger = SelectionLedger(shape: shape, scores: scores, limit: limit)
        if !ledger.holds {
            if evenLayerEvict {
                ledger.evictInLayerRounds()
            } else if method == .automatic && ledger.scoresAscend {
                ledger.evictLowestByThreshold()
            } else {
                ledger.evictLowestByMerge()
            }
        }
        evictedBlocks = ledger.evicted
        evictedKVs = ledger.evicted.indices.map { shape.evictedKVs(head: $0, blocks: ledger.evicted[$0]) }
        budgetHeld = ledger.holds
    }

    public var totalEvictedKVs: Int { evictedKVs.reduce(0, +) }

    /// The order of scores as unsigned integers: `a < b` ⇔ `orderKey(a) < orderKey(b)` for non-NaN
    /// floats, with -0 and +0 one key (they are equal scores, tied by head index).
    static func orderKey(_ score: Float) -> UInt32 {
        let bits = score == 0 ? Float(0).bitPattern : score.bitPattern
        return bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
    }
}

/// Every head's virtual-block scores, how many of them it may give up, how many it gave up, and the
/// KVs and physical blocks the sequence keeps, while blocks are taken.
private struct SelectionLedger {
    /// `[heads, maxVirtualBlocks]`, borrowed for the selection.
    let scores: UnsafeBufferPointer<Float>
    let rowLength: Int
    let limit: BudgetLimit
    let kvHeads: Int
    let layers: Int
    /// Physical block size: kept blocks are counted in it.
    let blockSize: Int
    /// Per head: KVs, eviction unit, KVs of its first virtual block. `[heads]` each.
    let lengths: [Int]
    let units: [Int]
    let hangings: [Int]
    /// Leading virtual blocks without a protected (+inf) KV, per head: the only evictable ones.
    let evictable: [Int]
    /// Whether every head's evictable scores ascend and none is NaN (the threshold search's premise).
    let scoresAscend: Bool
    /// Virtual blocks each head gave up so far: `[heads]`.
    var evicted: [Int]
    var keptKVs: Int
    var keptBlocks: Int

    init(shape: EvictionShape, scores: UnsafeBufferPointer<Float>, limit: BudgetLimit) {
        self.scores = scores
        self.limit = limit
        rowLength = shape.maxVirtualBlocks
        kvHeads = shape.kvHeads
        layers = shape.layers
        blockSize = shape.blockSize
        lengths = shape.contextLengths
        units = shape.evictionBlockSizes
        hangings = (0..<shape.heads).map { EvictionShape.hanging(length: shape.contextLengths[$0], blockSize: shape.evictionBlockSizes[$0]) }
        var evictable = [Int](repeating: 0, count: shape.heads)
        var ascend = true
        for h in 0..<shape.heads {
            let count = EvictionShape.virtualBlockCount(length: shape.contextLengths[h], blockSize: shape.evictionBlockSizes[h])
            let row = h * shape.maxVirtualBlocks
            var j = 0
            while j < count && scores[row + j] != .infinity {
                let score = scores[row + j]
                // `!(a <= b)` also catches NaN on either side.
                if score.isNaN || (j > 0 && !(scores[row + j - 1] <= score)) { ascend = false }
                j += 1
            }
            evictable[h] = j
        }
        self.evictable = evictable
        scoresAscend = ascend
        evicted = [Int](repeating: 0, count: shape.heads)
        keptKVs = shape.contextLengths.reduce(0, +)
        keptBlocks = shape.contextLengths.reduce(0) { $0 + ($1 + shape.blockSize - 1) / shape.blockSize }
    }

    var heads: Int { lengths.count }

    var holds: Bool { limit.holds(blocks: keptBlocks, kvs: keptKVs) }

    /// KVs head `h` keeps after giving up its first `blocks` virtual blocks.
    func keptKVs(head h: Int, after blocks: Int) -> Int {
        blocks == 0 ? lengths[h] : lengths[h] - hangings[h] - (blocks - 1) * units[h]
    }

    func physicalBlocks(holding kvs: Int) -> Int { (kvs + blockSize - 1) / blockSize }

    /// Head `h` now gives up its first `blocks` virtual blocks (more or fewer than before).
    mutating func setEvicted(head h: Int, to blocks: Int) {
        let before = keptKVs(head: h, after: evicted[h]), after = keptKVs(head: h, after: blocks)
        keptKVs += after - before
        keptBlocks += physicalBlocks(holding: after) - physicalBlocks(holding: before)
        evicted[h] = blocks
    }

    func canEvict(_ h: Int) -> Bool { evicted[h] < evictable[h] }

    /// Score of head `h`'s next virtual block (it must `canEvict`).
    func nextScore(_ h: Int) -> Float { scores[h * rowLength + evicted[h]] }

    // MARK: - even_layer_evict

    /// Rounds: every layer gives up its lowest remaining block; the budget is checked between rounds
    /// only, so all layers lose the same number (a layer out of blocks gives what it has). A layer's
    /// choice depends on its own heads only, so each layer evicts as soon as it has chosen.
    mutating func evictInLayerRounds() {
        // Each head's next score, +inf once it has nothing left to give (evictable scores are never +inf).
        var next = [Float](repeating: .infinity, count: heads)
        for h in 0..<heads where canEvict(h) { next[h] = nextScore(h) }
        while !holds {
            var evictedAny = false
            for layer in 0..<layers {
                // The evictable head of the layer whose next block scores lowest; ties to the lowest index.
                var best = -1
                var bestScore: Float = 0
                for h in layer * kvHeads..<(layer + 1) * kvHeads {
                    let score = next[h]
                    if score == .infinity || (best >= 0 && score >= bestScore) { continue }
                    best = h
                    bestScore = score
                }
                if best >= 0 {
                    setEvicted(head: best, to: evicted[best] + 1)
                    next[best] = canEvict(best) ? nextScore(best) : .infinity
                    evictedAny = true
                }
            }
            if !evictedAny { break }
        }
    }

    // MARK: - Lowest first, block by block

    /// The head whose next block scores lowest, ties to the lowest index, taken from a heap of every
    /// evictable head's next block (any scores; the same choices as scanning all heads each time).
    mutating func evictLowestByMerge() {
        var queue = NextBlockQueue()
        for h in 0..<heads where canEvict(h) { queue.push(score: nextScore(h), head: h) }
        while !holds, let head = queue.popLowest() {
            setEvicted(head: head, to: evicted[head] + 1)
            if canEvict(head) { queue.push(score: nextScore(head), head: head) }
        }
    }

    // MARK: - Lowest first, by threshold (ascending scores)

    /// Evictable blocks of head `h` whose score key is at most `key` (its scores ascend).
    func blocks(head h: Int, atMost key: UInt32) -> Int {
        let row = h * rowLength
        var low = 0, high = evictable[h]  // the answer lies in low...high
        while low < high {
            let middle = (low + high) / 2
            if VirtualBlockSelection.orderKey(scores[row + middle]) <= key { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Whether the budget holds once every head gave up all its evictable blocks keyed at most `key`.
    func holdsEvicting(atMost key: UInt32) -> Bool {
        var kvs = 0, blocks = 0
        for h in 0..<heads {
            let kept = keptKVs(head: h, after: self.blocks(head: h, atMost: key))
            kvs += kept
            blocks += physicalBlocks(holding: kept)
        }
        return limit.holds(blocks: blocks, kvs: kvs)
    }

    /// The shortest prefix of the (score, head, block) order after which the budget holds, or every
    /// evictable block when none does. The budget does not hold yet, and nothing is evicted.
    mutating func evictLowestByThreshold() {
        var lowestKey = UInt32.max, highestKey = UInt32.min
        for h in 0..<heads where evictable[h] > 0 {
            lowestKey = min(lowestKey, VirtualBlockSelection.orderKey(scores[h * rowLength]))
            highestKey = max(highestKey, VirtualBlockSelection.orderKey(scores[h * rowLength + evictable[h] - 1]))
        }
        guard lowestKey <= highestKey, holdsEvicting(atMost: highestKey) else {
            // Nothing evictable, or not even all of it meets the budget: all of it goes.
            for h in 0..<heads { setEvicted(head: h, to: evictable[h]) }
            return
        }
        // The smallest key whose blocks (with all lower ones) meet the budget: `fails` never does
        // (no key of -inf or above is below `lowestKey`, so it evicts nothing), `meets` does.
        var fails = lowestKey - 1, meets = highestKey  // orderKey(-inf) > 0, so lowestKey ≥ 1
        while meets - fails > 1 {
            let middle = fails + (meets - fails) / 2
            if holdsEvicting(atMost: middle) { meets = middle } else { fails = middle }
        }
        // Every block below the threshold score goes; of those tied at it, lower heads go first and
        // each head's in block order, until the budget holds.
        for h in 0..<heads { setEvicted(head: h, to: blocks(head: h, atMost: fails)) }
        for h in 0..<heads where !holds {
            let below = evicted[h], throughTies = blocks(head: h, atMost: meets)
            guard throughTies > below else { continue }
            setEvicted(head: h, to: throughTies)
            guard holds else { continue }
            // The budget holds within this head's ties: the fewest of them that suffice.
            var enough = throughTies
            for blocks in below + 1..<throughTies {
                setEvicted(head: h, to: blocks)
                if holds {
                    enough = blocks
                    break
                }
            }
            setEvicted(head: h, to: enough)
        }
    }
}

/// Binary min-heap of (score, head), ordered by score then head index.
private struct NextBlockQueue {
    private var entries: [(score: Float, head: Int)] = []

    private func lower(_ a: Int, _ b: Int) -> Bool {
        entries[a].score < entries[b].score || (entries[a].score == entries[b].score && entries[a].head < entries[b].head)
    }

    mutating func push(score: Float, head: Int) {
        entries.append((score, head))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard lower(child, parent) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popLowest() -> Int? {
        guard let top = entries.first else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var lowest = parent
                if left < entries.count && lower(left, lowest) { lowest = left }
                if right < entries.count && lower(right, lowest) { lowest = right }
                if lowest == parent { break }
                entries.swapAt(parent, lowest)
                parent = lowest
            }
        }
        return top.head
    }
}
