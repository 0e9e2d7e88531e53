import Foundation

/// One engine's figures, in the JSON shape `bench_llamacpp.py` writes too (tokens/s keyed by prompt
/// length or batch size).
struct BenchmarkResults: Codable {
    var engine: String
    var model: String
    var threads: Int
    /// Instruction set of our kernels (absent from llama.cpp's record).
    var kernels: String?
    /// Element type of our cached keys and values (absent from llama.cpp's record, which stores f16).
    var kvType: String?
    var repetitions: Int
    var decodePromptTokens: Int
    var decodeSteps: Int
    var prefillTokensPerSecond: [String: Double]
    var decodeTokensPerSecond: [String: Double]
    /// Cores other work kept busy during the second before the run (from /proc/stat): above ~0.3
    /// the figures are low. (The load average would lag: right after the other engine's run it
    /// still reads about 2 on an idle machine.)
    var busyCoresBeforeStart: Double?

    /// Busy cores over the next `seconds`, from two samples of /proc/stat's aggregate `cpu` line.
    static func measureBusyCores(over seconds: Double = 1) -> Double? {
        func sample() -> (busy: Double, total: Double)? {
            guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
                let line = stat.split(separator: "\n").first, line.hasPrefix("cpu ")
            else { return nil }
            let ticks = line.split(separator: " ").dropFirst().compactMap { Double($0) }
            guard ticks.count >= 5 else { return nil }
            let total = ticks.reduce(0, +), idle = ticks[3] + ticks[4]  // idle + iowait
            return (total - idle, total)
        }
        guard let before = sample() else { return nil }
        Thread.sleep(forTimeInterval: seconds)
        guard let after = sample(), after.total > before.total else { return nil }
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        return (after.busy - before.busy) / (after.total - before.total) * cores
    }

    static func load(_ path: String) throws -> BenchmarkResults {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw BenchmarkError.unreadableReference(path: path, reason: "cannot read it")
        }
        do { return try decoder.decode(BenchmarkResults.self, from: data) } catch {
            throw BenchmarkError.unreadableReference(path: path, reason: "not a benchmark result: \(error)")
        }
    }

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try encoder.encode(self).write(to: url, options: .atomic)
        } catch {
            throw BenchmarkError.unwritable(path: path, reason: error.localizedDescription)
        }
    }

    private static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }
}

enum BenchmarkError: Error, CustomStringConvertible {
    case unreadableReference(path: String, reason: String)
    case unwritable(path: String, reason: String)
    case modelMissing(path: String)

    var description: String {
        switch self {
        case let .unreadableReference(path, reason): "reference results \(path): \(reason)"
        case let .unwritable(path, reason): "cannot write \(path): \(reason)"
        case let .modelMissing(path): "model not found at \(path); fetch it with scripts/fetch-model.sh"
        }
    }
}
