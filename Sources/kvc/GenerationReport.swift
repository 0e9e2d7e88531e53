import Foundation
import KVCompress
import Serving

/// The figures of one `kvc generate` run: printed as a table on stderr and, with `--stats-json`,
/// written as JSON (snake_case keys).
struct GenerationReport: Codable, Equatable {
    struct Model: Codable, Equatable {
        var path: String
        var name: String
        var layers: Int
        var kvHeads: Int
        var queryHeads: Int
        var headDim: Int
        var vocabularySize: Int
    }

    struct Cache: Codable, Equatable {
        var blockSize: Int
        var capacityBlocks: Int
        var capacityBytes: Int
        /// Blocks (and their bytes) held when generation ended.
        var residentBlocks: Int
        var residentBytes: Int
        /// Most blocks held at any point of the run.
        var peakResidentBlocks: Int
        var peakResidentBytes: Int
        /// Blocks the same sequences would hold without compression.
        var uncompressedBlocks: Int
    }

    /// What KV-Compress was asked to do and what it did (nil without compression).
    struct Compression: Codable, Equatable {
        var configuration: CompressionConfiguration
        var statistics: CompressionStatistics
    }

    var model: Model
    var threads: Int
    /// Instruction set of the quantized matrix and attention kernels (`QuantizedKernels.name`).
    var kernels: String
    var batchSize: Int
    var loadSeconds: Double
    var promptTokens: Int
    var prefillSeconds: Double
    /// Tokens generated over all sequences (the first of each comes from the prefill's logits).
    var generatedTokens: Int
    /// Tokens fed through decode steps: what `decodeSeconds` was spent on.
    var decodedTokens: Int
    var decodeSeconds: Double
    var cache: Cache
    /// Why each sequence stopped: "stopToken", "maxTokens" or "contextFull" (`StopReason`).
    var stopReasons: [String]
    var compression: Compression?
    /// The request scheduler's figures (`--batch-file`): preemptions, mean running sequences, overheads.
    var serving: ServingStatistics?

    var prefillTokensPerSecond: Double { promptTokens.perSecond(prefillSeconds) }
    var decodeTokensPerSecond: Double { decodedTokens.perSecond(decodeSeconds) }

    /// The report as pretty JSON, derived rates included.
    func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        var object = try JSONSerialization.jsonObject(with: encoder.encode(self)) as! [String: Any]
        object["prefill_tokens_per_second"] = prefillTokensPerSecond
        object["decode_tokens_per_second"] = decodeTokensPerSecond
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            + Data("\n".utf8)
    }

    /// The summary table printed on stderr at the end of a run.
    var summaryLines: [String] {
        var table = TextTable(alignments: [.left, .right, .right, .right])
        table.add("", "tokens", "seconds", "tokens/s")
        table.add("load", "", Format.fixed(loadSeconds, digits: 2), "")
        table.add("prefill", "\(promptTokens)", Format.fixed(prefillSeconds, digits: 2), Format.fixed(prefillTokensPerSecond, digits: 1))
        table.add("decode", "\(decodedTokens)", Format.fixed(decodeSeconds, digits: 2), Format.fixed(decodeTokensPerSecond, digits: 1))
        let stops = Dictionary(grouping: stopReasons, by: { $0 }).sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value.count)" }
        var lines = ["\(model.name): \(model.layers) layers, \(model.queryHeads)/\(model.kvHeads) query/KV heads, \(threads) threads, \(kernels) kernels, batch \(batchSize)"]
        lines += table.lines
        lines.append("generated \(generatedTokens) tokens (stop: \(stops.joined(separator: ", ")))")
        lines.append(
            "KV cache: \(cache.residentBlocks) blocks resident at the end (\(Format.bytes(cache.residentBytes))), peak \(cache.peakResidentBlocks) "
                + "(\(Format.bytes(cache.peakResidentBytes))), pool \(cache.capacityBlocks) blocks × \(cache.blockSize) KVs (\(Format.bytes(cache.capacityBytes)))")
        if let compression {
            let s = compression.statistics
            lines.append(
                "KV-Compress (\(compression.configuration.policy.name), \(compression.configuration.budget)): \(s.compressions) compression(s), "
                    + "\(s.kvsEvicted) KVs evicted, \(s.blocksFreed) blocks freed (\(Format.bytes(s.blocksFreed * cache.capacityBytes / max(1, cache.capacityBlocks)))), "
                    + "\(Format.fixed(1000 * (s.schedulingSeconds + s.moveSeconds), digits: 1)) ms scheduling + moves")
        }
        let rule = String(repeating: "─", count: min(100, lines.map(\.count).max() ?? 0))
        return [rule] + lines + [rule]
    }
}

extension Int {
    /// `self / seconds`, 0 when no time was spent.
    func perSecond(_ seconds: Double) -> Double { seconds > 0 ? Double(self) / seconds : 0 }
}
