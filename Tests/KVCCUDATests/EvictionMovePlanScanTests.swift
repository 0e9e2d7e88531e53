import KVCCUDA
import PagedKVCache
import SeededRandom
import Testing

/// `kvc_plan_moves` finds each head's moves in parallel from a prefix sum over the evicted flags
/// (Kernels/eviction.cu). These tests run that exact arithmetic on the CPU — tiles of `threads`
/// slots, warp ballots, the Kogge-Stone scan of the warp counts, the hole and source formulas — and
/// require the move list of the two-pointer walk of EvictionExecutor.compact (transcribed below) and
/// of ``EvictionReference/planMoves(ordering:evictedKVs:)``, move for move, on thousands of random heads.
@Suite struct EvictionMovePlanScanTests {
    /// What the kernel writes for one head: the move count (-1 for inconsistent input) and the row
    /// `[maxMoves, 2]` (nil when the kernel leaves it unwritten).
    struct HeadPlan: Equatable {
        var count: Int
        var row: [Int32]?
    }

    /// The kernel's steps for one head, block of `threads` threads (a multiple of 32).
    static func scanPlan(order: [Int32], length: Int, evicted: Int, maxContext: Int, maxMoves: Int, threads: Int) -> HeadPlan {
        let warpSize = 32
        guard evicted >= 0, evicted <= length, length <= maxContext else { return HeadPlan(count: -1, row: nil) }
        let kept = length - evicted
        var flags = [UInt8](repeating: 0, count: length)
        for i in 0..<evicted where order[i] >= 0 && Int(order[i]) < length { flags[Int(order[i])] = 1 }
        let flagged = flags.reduce(0) { $0 + Int($1) }
        let count = flags.prefix(kept).reduce(0) { $0 + Int($1) }
        guard flagged == evicted, count <= maxMoves else { return HeadPlan(count: -1, row: nil) }

        var row = [Int32](repeating: -99, count: maxMoves * 2)  // unwritten entries show
        for k in count..<maxMoves { (row[2 * k], row[2 * k + 1]) = (0, 0) }
        let warps = threads / warpSize
        var before = 0
        for tile in stride(from: 0, to: length, by: threads) {
            // Warp ballots: each lane's flag, the flags of lower lanes, each warp's count.
            var laneFlags = [Int](repeating: 0, count: threads)
            var lanesBefore = [Int](repeating: 0, count: threads)
            var warpCounts = [Int](repeating: 0, count: warpSize)
            for t in 0..<threads {
                let i = tile + t
                laneFlags[t] = i < length ? Int(flags[i]) : 0
            }
            for w in 0..<warps {
                var ballot: UInt32 = 0
                for lane in 0..<warpSize where laneFlags[w * warpSize + lane] != 0 { ballot |= 1 << UInt32(lane) }
                for lane in 0..<warpSize {
                    lanesBefore[w * warpSize + lane] = (ballot & ((UInt32(1) << UInt32(lane)) &- 1)).nonzeroBitCount
                }
                warpCounts[w] = ballot.nonzeroBitCount
            }
            // Warp 0: Kogge-Stone inclusive scan with shuffle-up (a lane below the offset keeps its value).
            let own = (0..<warpSize).map { $0 < warps ? warpCounts[$0] : 0 }
            var sums = own
            var offset = 1
            while offset < warpSize {
                let shuffled = (0..<warpSize).map { $0 >= offset ? sums[$0 - offset] : sums[$0] }
                for lane in 0..<warpSize where lane >= offset { sums[lane] += shuffled[lane] }
                offset <<= 1
            }
            let warpOffsets = (0..<warpSize).map { sums[$0] - own[$0] }
            let tileTotal = sums[warpSize - 1]
            for t in 0..<threads {
                let i = tile + t
                guard i < length else { continue }
                let evictedBefore = before + warpOffsets[t / warpSize] + lanesBefore[t]
                if laneFlags[t] != 0 && i < kept {
                    row[2 * evictedBefore + 1] = Int32(i)
                } else if laneFlags[t] == 0 && i >= kept {
                    row[2 * ((length - 1 - i) - (evicted - evictedBefore))] = Int32(i)
                }
            }
            before += tileTotal
        }
        return HeadPlan(count: count, row: row)
    }

    /// The two-pointer walk of EvictionExecutor.compact (and of the former serial kernel).
    static func walkPlan(order: [Int32], length: Int, evicted: Int, maxMoves: Int) -> HeadPlan {
        var flags = [Bool](repeating: false, count: length)
        for i in 0..<evicted { flags[Int(order[i])] = true }
        var row = [Int32](repeating: 0, count: maxMoves * 2)
        var destination = 0
        while destination < length && !flags[destination] { destination += 1 }
        var source = length - 1
        while source >= 0 && flags[source] { source -= 1 }
        var count = 0
        while destination < source {
            if count == maxMoves { return HeadPlan(count: -1, row: nil) }
            (row[2 * count], row[2 * count + 1]) = (Int32(source), Int32(destination))
            count += 1
            destination += 1
            while destination < length && !flags[destination] { destination += 1 }
            source -= 1
            while source >= 0 && flags[source] { source -= 1 }
        }
        return HeadPlan(count: count, row: row)
    }

    /// The reference's pairing for one head.
    static func referencePlan(order: [Int32], length: Int, evicted: Int) throws -> HeadPlan {
        let layout = try CacheLayout(layers: 1, kvHeads: 1, headDim: 1, blockSize: 1, kvType: .f32)
        let shape = try EvictionShape(layout: layout, sequenceLength: length, contextLengths: [length], layerBlockSizes: [1])
        let indices = order + [Int32](repeating: -1, count: shape.maxContext - order.count)
        let ordering = try HeadOrdering(
            shape: shape, ascendingIndices: indices, virtualBlockScores: [Float](repeating: .infinity, count: shape.maxVirtualBlocks))
        let plan = try EvictionReference.planMoves(ordering: ordering, evictedKVs: [evicted])
        return HeadPlan(count: Int(plan.counts[0]), row: plan.moves)
    }

    @Test(arguments: [32, 64, 96, 1024])
    func theScanWritesTheWalksMoves(threads: Int) throws {
        var random = SplitMix64(seed: UInt64(threads))
        var moved = 0
        for trial in 0..<(threads == 1024 ? 400 : 1500) {
            // Lengths across tile boundaries (a multiple of the tile, one more, one less) and random.
            let length =
                switch trial % 4 {
                case 0: Int.random(in: 0...3 * threads, using: &random)
                case 1: threads * Int.random(in: 1...3, using: &random) + Int.random(in: -1...1, using: &random)
                default: Int.random(in: 0...80, using: &random)
                }
            let evicted = Int.random(in: 0...length, using: &random)
            let order = (0..<Int32(length)).shuffled(using: &random)
            let maxContext = max(1, length)
            let maxMoves = max(1, maxContext / 2)
            let scan = Self.scanPlan(order: order, length: length, evicted: evicted, maxContext: maxContext, maxMoves: maxMoves, threads: threads)
            let walk = Self.walkPlan(order: order, length: length, evicted: evicted, maxMoves: maxMoves)
            #expect(scan == walk, "length \(length), evicted \(evicted)")
            #expect(scan == (try Self.referencePlan(order: order, length: length, evicted: evicted)), "length \(length), evicted \(evicted)")
            moved += max(0, scan.count)
        }
        #expect(moved > 1000)
    }

    @Test func inconsistentInputIsFlagged() {
        let order: [Int32] = [3, 1, 0, 2]
        #expect(Self.scanPlan(order: order, length: 4, evicted: 5, maxContext: 4, maxMoves: 2, threads: 32).count == -1)
        #expect(Self.scanPlan(order: order, length: 4, evicted: -1, maxContext: 4, maxMoves: 2, threads: 32).count == -1)
        #expect(Self.scanPlan(order: order, length: 5, evicted: 1, maxContext: 4, maxMoves: 2, threads: 32).count == -1)
        #expect(Self.scanPlan(order: [1, 1, 0, 2], length: 4, evicted: 2, maxContext: 4, maxMoves: 2, threads: 32).count == -1, "a repeated slot")
        // Evicting slots 0 and 1 of 4 needs two moves; a capacity of one is too small.
        #expect(Self.scanPlan(order: [0, 1, 2, 3], length: 4, evicted: 2, maxContext: 4, maxMoves: 1, threads: 32).count == -1)
        #expect(Self.scanPlan(order: [0, 1, 2, 3], length: 4, evicted: 2, maxContext: 4, maxMoves: 2, threads: 32).count == 2)
    }
}
