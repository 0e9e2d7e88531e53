import Foundation

/// One engine's figures, in the JSON shape `bench_llamacpp.py` writes too (tokens/s keyed by prompt
/// length or batch size).
struct BenchmarkResults: Codable {
    var engine: String
    var model: String
    var threads: Int
    var repetitions: Int
    var decodePromptTokens: Int
    var decodeSteps: Int
    var prefillTokensPerSecond: [String: Double]
    var decodeTokensPerSecond: [String: Double]
    /// 1-minute load average when the run started: above ~0.5 other work shared the cores.
    var loadAverageAtStart: Double?

    static func currentLoadAverage() -> Double? {
        var load = [0.0]
        return getloadavg(&load, 1) == 1 ? load[0] : nil
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
