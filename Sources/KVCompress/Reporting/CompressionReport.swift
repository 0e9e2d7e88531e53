import Foundation

/// What one compression of one sequence did: per (layer, head) lengths before and after, blocks, time.
public struct CompressionReport: Sendable, Hashable, Codable {
    public let sequence: Int
    public let trigger: CompressionTrigger
    /// Tokens the sequence had processed.
    public let sequenceLength: Int
    public let layers: Int
    public let kvHeads: Int
    public let blockSize: Int
    public let budget: String
    /// The budget resolved for this sequence, e.g. "≤ 120 blocks".
    public let limit: String
    /// Whether the sequence fits the budget afterwards (false when protected KVs alone exceed it).
    public let budgetHeld: Bool
    /// Context length of each head before / after: `[layers * kvHeads]`, index `layer * kvHeads + head`.
    public let lengthsBefore: [Int]
    public let lengthsAfter: [Int]
    /// Blocks of this sequence before / after.
    public let blocksBefore: Int
    public let blocksAfter: Int
    public let blocksFreed: Int
    /// Blocks in use in the whole pool before / after (all sequences).
    public let poolBlocksUsedBefore: Int
    public let poolBlocksUsedAfter: Int
    public let bytesPerBlock: Int
    public let kvsEvicted: Int
    public let kvsMoved: Int
    public let schedulingSeconds: Double
    public let moveSeconds: Double
    /// Seconds the scorer's inputs and scores took (a KVzip reconstruction pass included), 0 without a scorer.
    public var scoringSeconds: Double = 0
    /// Tokens prefilled only to score (KVzip's repeat prompt and second reading of the document), also
    /// when the pass's scores were reused: what this compression costs on its own.
    public var scoringExtraTokens: Int = 0
    /// Seconds of a reconstruction pass whose scores were reused from the `ScoringContext`'s memo
    /// instead of run again (not in `scoringSeconds`); 0 when it ran.
    public var reusedScoringSeconds: Double = 0

    /// Fraction of the sequence's tokens whose KV the head still holds (after repeated compressions,
    /// relative to the uncompressed cache, not to the previous compression).
    public func retention(layer: Int, head: Int) -> Double {
        sequenceLength == 0 ? 1 : Double(lengthsAfter[layer * kvHeads + head]) / Double(sequenceLength)
    }

    /// Fraction of the uncompressed cache's KVs kept, over all layers and heads.
    public var totalRetention: Double {
        sequenceLength == 0 ? 1 : Double(lengthsAfter.reduce(0, +)) / Double(sequenceLength * lengthsAfter.count)
    }

    /// A compact terminal grid: one row per layer, one column per KV head, the percentage of the
    /// sequence's KVs the head holds after this compression, then the layer's mean. Variable rates per head are the point of KV-Compress, so they must be visible.
    public func renderGrid() -> String {
        var lines: [String] = []
        lines.append(
            "KV retention, seq \(sequence) (\(trigger.rawValue)): \(sequenceLength) tokens, \(budget) (\(limit)); holds \(percent(totalRetention)) of the uncompressed KVs; this compression: "
                + "\(blocksBefore) → \(blocksAfter) blocks (\(blocksFreed) freed, \(formatBytes(blocksFreed * bytesPerBlock)))"
                + (budgetHeld ? "" : " — budget not reachable without evicting protected KVs"))
        let headLabels = (0..<kvHeads).map { pad("h\($0)", 5) }.joined()
        lines.append("layer" + headLabels + "  mean")
        for layer in 0..<layers {
            let cells = (0..<kvHeads).map { pad(percent(retention(layer: layer, head: $0)), 5) }.joined()
            let after = (0..<kvHeads).reduce(0) { $0 + lengthsAfter[layer * kvHeads + $1] }
            lines.append(pad("\(layer)", 5) + cells + pad(percent(sequenceLength == 0 ? 1 : Double(after) / Double(sequenceLength * kvHeads)), 6))
        }
        return lines.joined(separator: "\n")
    }

    private func percent(_ x: Double) -> String { "\(Int((x * 100).rounded()))%" }
    private func pad(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
}

func formatBytes(_ bytes: Int) -> String {
    let b = Double(bytes)
    if b >= 1_073_741_824 { return String(format: "%.2f GiB", b / 1_073_741_824) }
    if b >= 1_048_576 { return String(format: "%.2f MiB", b / 1_048_576) }
    if b >= 1024 { return String(format: "%.1f KiB", b / 1024) }
    return "\(bytes) B"
}
