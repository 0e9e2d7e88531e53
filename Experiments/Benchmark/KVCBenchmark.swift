import ArgumentParser
import Foundation
import GGUF
import KVCLinearAlgebra
import LlamaInference
import PagedKVCache

/// `kvc-bench`: the engine's speed (`speed`, the default) and serving throughput under a fixed KV
/// memory (`throughput`).
@main
struct KVCBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kvc-bench",
        abstract: "Benchmarks of the engine: speed against llama.cpp, throughput under a fixed KV memory.",
        subcommands: [SpeedBenchmark.self, ThroughputBenchmark.self], defaultSubcommand: SpeedBenchmark.self)

    static func main() {
        BLAS.restartWithFasterKernelsIfGeneric()
        main(nil)
    }
}

/// `kvc-bench speed`: prefill and decode speed of our engine on a GGUF model, optionally beside
/// llama.cpp's figures from `Experiments/bench_llamacpp.py` (see Experiments/README.md).
struct SpeedBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "speed",
        abstract: "Measure prefill and batched decode tokens/s; print a markdown table.")

    @Option(help: "GGUF model.")
    var model = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(help: "Cores the run is pinned to, recorded with the results (scripts/bench.sh pins both engines with `taskset`).")
    var threads = 2

    @Option(help: "Timed runs per figure (after one warm-up); the median is reported.")
    var repetitions = 3

    @Option(parsing: .upToNextOption, help: "Prompt lengths to time prefill at.")
    var prefill: [Int] = [512, 2048, 8192]

    @Option(parsing: .upToNextOption, help: "Batch sizes to time decode at.")
    var batch: [Int] = [1, 8, 32]

    @Option(help: "Prompt tokens per sequence before decoding.")
    var decodePrompt = 128

    @Option(help: "Timed decode steps.")
    var decodeSteps = 64

    @Option(help: "KVs per cache block.")
    var blockSize = 16

    @Option(name: .customLong("kv-type"), help: ArgumentHelp("Element type of cached keys and values: f16 (default) or f32.", valueName: "f16|f32"))
    var kvTypeName = KVStorageType.default.rawValue

    /// `--kv-type`, checked by `validate`.
    var kvType: KVStorageType { (try? KVStorageType(parsing: kvTypeName, key: "--kv-type")) ?? .default }

    @Option(help: "llama.cpp results (JSON from bench_llamacpp.py) to compare against.")
    var reference: String?

    @Option(help: "Where to write our results as JSON.")
    var out = "results/bench-kvc.json"

    func validate() throws {
        do { _ = try KVStorageType(parsing: kvTypeName, key: "--kv-type") } catch { throw ValidationError(error.description) }
        guard threads >= 1, repetitions >= 1, decodePrompt >= 1, decodeSteps >= 1 else {
            throw ValidationError("--threads, --repetitions, --decode-prompt and --decode-steps must be at least 1")
        }
        guard prefill.allSatisfy({ $0 >= 1 }), batch.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("prefill lengths and batch sizes must be at least 1")
        }
    }

    func run() throws {
        let referenceResults = try reference.map(BenchmarkResults.load)
        let busyCores = BenchmarkResults.measureBusyCores()
        if let busyCores, busyCores > 0.3 {
            log("warning: other work kept \(ComparisonTable.rate(busyCores)) cores busy before the start: figures will be low")
        }
        guard FileManager.default.isReadableFile(atPath: model) else { throw BenchmarkError.modelMissing(path: model) }
        let llama = try LlamaModel(file: GGUFFile(path: model))
        let timing = Measurement(repetitions: repetitions)

        var prefillRates: [String: Double] = [:]
        for count in prefill {
            let tokens = BenchmarkPrompt.tokens(count)
            let cache = try llama.makeCache(blockSize: blockSize, kvType: kvType, capacityBlocks: blocks(tokens: count, sequences: 1, model: llama))
            let seconds = try timing.medianSeconds {
                let sequence = cache.addSequence()
                defer { cache.removeSequence(sequence) }
                return try Measurement.seconds { _ = try llama.prefill(tokens, sequence: sequence, cache: cache) }
            }
            prefillRates[String(count)] = Double(count) / seconds
            log("kvc prefill \(count) tokens: \(ComparisonTable.rate(Double(count) / seconds)) tok/s")
        }

        var decodeRates: [String: Double] = [:]
        for size in batch {
            let cache = try llama.makeCache(
                blockSize: blockSize, kvType: kvType, capacityBlocks: blocks(tokens: decodePrompt + decodeSteps, sequences: size, model: llama))
            let seconds = try timing.medianSeconds { try timeDecode(llama, cache: cache, batch: size) }
            let rate = Double(size * decodeSteps) / seconds
            decodeRates[String(size)] = rate
            log("kvc decode batch \(size): \(ComparisonTable.rate(rate)) tok/s")
        }

        let results = BenchmarkResults(
            engine: Self.engine, model: URL(fileURLWithPath: model).lastPathComponent, threads: threads, kernels: QuantizedKernels.name,
            kvType: kvType.rawValue,
            repetitions: repetitions, decodePromptTokens: decodePrompt, decodeSteps: decodeSteps,
            prefillTokensPerSecond: prefillRates, decodeTokensPerSecond: decodeRates, busyCoresBeforeStart: busyCores)
        try results.write(to: out)
        print(ComparisonTable(ours: results, reference: referenceResults).markdown)
        if let referenceResults, referenceResults.threads != threads {
            log("warning: llama.cpp ran with \(referenceResults.threads) threads, kvc with \(threads)")
        }
    }

    /// Prefills `batch` sequences with `decodePrompt` tokens each (untimed), then times `decodeSteps`
    /// decode steps of the whole batch; the fed tokens are fixed, since sampling is not what is measured.
    private func timeDecode(_ llama: LlamaModel, cache: PagedKVCache, batch: Int) throws -> Double {
        let sequences = (0..<batch).map { _ in cache.addSequence() }
        defer { sequences.forEach(cache.removeSequence) }
        for (index, sequence) in sequences.enumerated() {
            _ = try llama.prefill(BenchmarkPrompt.tokens(decodePrompt, offset: index), sequence: sequence, cache: cache)
        }
        let fed = BenchmarkPrompt.tokens(decodeSteps, offset: decodePrompt)
        return try Measurement.seconds {
            for token in fed { _ = try llama.decode(sequences.map { ($0, token) }, cache: cache) }
        }
    }

    /// Blocks for `sequences` sequences of `tokens` KVs on every head.
    private func blocks(tokens: Int, sequences: Int, model: LlamaModel) -> Int {
        let c = model.configuration
        return sequences * ((tokens + blockSize - 1) / blockSize) * c.layers * c.kvHeads
    }

    #if DEBUG
        static let engine = "kvc (Swift, debug build: not for comparisons)"
    #else
        static let engine = "kvc (Swift, release build)"
    #endif

    private func log(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
}
