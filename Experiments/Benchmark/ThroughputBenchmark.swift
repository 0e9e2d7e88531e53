import ArgumentParser
import EvictionPolicies
import Foundation
import GGUF
import KVCompress
import LlamaInference
import PagedKVCache
import SeededRandom
import Serving

/// `kvc-bench throughput`: the paper's throughput experiment (KV-Compress §5, "Throughput"; 256
/// prompts of 500–14 000 tokens, 500 output tokens, one GPU's KV memory, vLLM against KV-Compress at
/// rates 1–64) scaled to this model and a CPU: `--requests` prompts with lengths drawn (seeded) from
/// `--prompt-min…--prompt-max`, `--output-tokens` greedy tokens each (no stop token, so every run
/// does the same work), one KV pool of `--cache-mb`, served by the ``RequestScheduler``:
/// uncompressed, then compressed at each `--rates` value, then once in a pool that never binds (the
/// compute ceiling of the workload).
struct ThroughputBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "throughput",
        abstract: "Output tokens/s of a stream of requests in a fixed KV memory, without and with KV-Compress; writes JSON.")

    @Option(help: "GGUF model.")
    var model = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(help: "Requests submitted (all at once, served in order).")
    var requests = 32

    @Option(help: "Shortest prompt, in tokens.")
    var promptMin = 64

    @Option(help: "Longest prompt, in tokens.")
    var promptMax = 256

    @Option(help: "Tokens generated per request.")
    var outputTokens = 128

    @Option(name: .customLong("cache-mb"), help: "KV pool of the limited-memory runs, in MiB.")
    var cacheMegabytes: Double = 32

    @Option(parsing: .upToNextOption, help: "Compression rates to run (each in the same pool).")
    var rates: [Double] = [2, 4, 8, 16, 32, 64]

    @Option(help: "Most recent positions never evicted (the paper's throughput runs: 32).")
    var protectedWindow = 32

    @Option(help: "KVs per cache block.")
    var blockSize = 16

    @Option(name: .customLong("kv-type"), help: ArgumentHelp("Element type of cached keys and values: f16 (default) or f32.", valueName: "f16|f32"))
    var kvTypeName = KVStorageType.default.rawValue

    /// `--kv-type`, checked by `validate`.
    var kvType: KVStorageType { (try? KVStorageType(parsing: kvTypeName, key: "--kv-type")) ?? .default }

    @Option(help: "Sweeps over all configurations; each configuration's fastest run is reported (the least disturbed on a shared machine).")
    var repetitions = 1

    @Option(help: "Seed of the prompt lengths and tokens.")
    var seed: UInt64 = 0

    @Option(help: "Where to write the runs as JSON.")
    var out = "results/throughput.json"

    func validate() throws {
        guard requests >= 1, outputTokens >= 1, repetitions >= 1 else {
            throw ValidationError("--requests, --output-tokens and --repetitions must be at least 1")
        }
        guard promptMin >= 1, promptMax >= promptMin else {
            throw ValidationError("need 1 ≤ --prompt-min ≤ --prompt-max (got \(promptMin), \(promptMax))")
        }
        do { _ = try KVStorageType(parsing: kvTypeName, key: "--kv-type") } catch { throw ValidationError(error.description) }
        guard cacheMegabytes > 0 else { throw ValidationError("--cache-mb must be positive (got \(cacheMegabytes))") }
        guard rates.allSatisfy({ $0 >= 1 && $0.isFinite }) else { throw ValidationError("every rate must be a finite number ≥ 1") }
        guard CacheLayout.supportedBlockSizes.contains(blockSize) else {
            throw ValidationError("--block-size must be one of \(CacheLayout.supportedBlockSizes.map(String.init).joined(separator: ", ")) (got \(blockSize))")
        }
    }

    func run() throws {
        try OutputFileCheck.writable(out)
        guard FileManager.default.isReadableFile(atPath: model) else { throw BenchmarkError.modelMissing(path: model) }
        let busyCores = BenchmarkResults.measureBusyCores()
        if let busyCores, busyCores > 0.3 {
            log("warning: other work kept \(ComparisonTable.rate(busyCores)) cores busy before the start: figures will be low")
        }
        let llama = try LlamaModel(file: GGUFFile(path: model))
        let c = llama.configuration
        // --cache-mb holds about twice the blocks with f16 KVs.
        let layout = try CacheLayout(layers: c.layers, kvHeads: c.kvHeads, headDim: c.headDim, blockSize: blockSize, kvType: kvType)
        let limitedBlocks = Int(cacheMegabytes * 1024 * 1024) / layout.bytesPerBlock
        let workload = makeWorkload()
        let unlimitedBlocks = workload.reduce(0) { $0 + layout.headCount * layout.blocks(forTokens: $1.count + outputTokens) }
        log(
            "workload: \(requests) requests, prompts \(promptMin)–\(promptMax) tokens (\(workload.reduce(0) { $0 + $1.count }) in all), "
                + "\(outputTokens) output tokens each; limited pool \(limitedBlocks) blocks (\(cacheMegabytes) MiB), "
                + "unlimited \(unlimitedBlocks) blocks (\(kvType) KVs); \(WorkerThreads.count) threads, \(QuantizedKernels.name) kernels")

        // Every request must fit the limited pool alone: say so before any run.
        guard limitedBlocks >= layout.headCount else {
            throw ServingError.poolTooSmall(
                capacityBlocks: limitedBlocks, capacityBytes: limitedBlocks * layout.bytesPerBlock, headsNeeded: layout.headCount,
                bytesPerBlock: layout.bytesPerBlock)
        }
        let probe = try RequestScheduler(
            model: llama, cache: PagedKVCache(layout: layout, capacityBlocks: limitedBlocks), registry: Self.registry)
        for (i, prompt) in workload.enumerated() {
            if let reason = probe.rejection(of: ServingRequest(prompt: prompt, maxTokens: outputTokens), index: i) {
                throw ValidationError("--cache-mb \(cacheMegabytes) is too small for the workload: \(reason)")
            }
        }

        var runs: [ThroughputRun] = []
        let plan: [(rate: Double?, limited: Bool)] = [(nil, true)] + rates.map { ($0, true) } + [(nil, false)]
        // Repetitions sweep the whole plan in turn, so on a shared machine every configuration
        // samples each period of load; the fastest run of each is reported.
        var fastest: [ThroughputRun?] = Array(repeating: nil, count: plan.count)
        for _ in 0..<repetitions {
            for (index, (rate, limited)) in plan.enumerated() {
                let measured = try measure(llama, layout: layout, workload: workload, rate: rate, blocks: limited ? limitedBlocks : unlimitedBlocks)
                let run = ThroughputRun(
                    rate: rate, memory: limited ? "limited" : "unlimited", submitted: measured.submitted, completed: measured.completed,
                    outputTokensPerSecond: measured.outputTokensPerSecond, meanRunning: measured.meanRunning, preemptions: measured.preemptions,
                    overheadFraction: measured.overheadFraction)
                log(summary(run, measured))
                if fastest[index].map({ run.outputTokensPerSecond > $0.outputTokensPerSecond }) ?? true { fastest[index] = run }
            }
        }
        runs = fastest.compactMap { $0 }
        try ThroughputResults(kvType: kvType.rawValue, runs: runs).write(to: out)
        print(ThroughputResults(kvType: kvType.rawValue, runs: runs).markdown)
        log("results written to \(out)")
    }

    static let registry = PluginRegistry.withAllPlugins()

    /// Serves the workload once from a fresh pool of `blocks` blocks; fails if a request is lost or the
    /// pool's peak exceeds it.
    func measure(_ llama: LlamaModel, layout: CacheLayout, workload: [[Int32]], rate: Double?, blocks: Int) throws -> ServingStatistics {
        let cache = try PagedKVCache(layout: layout, capacityBlocks: blocks)
        let scheduler = try RequestScheduler(
            model: llama, cache: cache, registry: Self.registry, options: SchedulerOptions(maxRunning: max(256, requests)))
        let compression = rate.map { compressionConfiguration(rate: $0) }
        let served = try scheduler.serve(workload.map { ServingRequest(prompt: $0, maxTokens: outputTokens, compression: compression) })
        let s = scheduler.statistics
        guard s.completed == requests, served.allSatisfy({ $0.tokens.count == outputTokens }), s.peakUsedBlocks <= cache.capacityBlocks else {
            throw ValidationError("run at rate \(rate.map { "\($0)" } ?? "none") lost a request or exceeded the pool: \(s)")
        }
        return s
    }

    /// One stderr line: the run's figures and where its time went.
    func summary(_ run: ThroughputRun, _ s: ServingStatistics) -> String {
        "rate \(run.rate.map { String(format: "%g", $0) } ?? "none") (\(run.memory)): \(ComparisonTable.rate(run.outputTokensPerSecond)) output tok/s, "
            + "mean running \(String(format: "%.1f", run.meanRunning)), \(run.preemptions) preemptions, "
            + "\(s.compressions) compressions (\(s.memoryPressureCompressions) under pressure), overhead \(String(format: "%.2f%%", 100 * run.overheadFraction)) "
            + "[metric \(ms(s.metricSeconds)), schedule \(ms(s.scheduleSeconds)), moves \(ms(s.moveSeconds)), allocation \(ms(s.allocationSeconds)) ms; "
            + "prefill \(String(format: "%.1f", s.prefillSeconds)) s (\(s.recomputedTokens) of \(s.prefilledTokens) tokens recomputed), "
            + "decode \(String(format: "%.1f", s.decodeSeconds)) s in \(s.decodedTokens) tokens, "
            + "total \(String(format: "%.1f", s.totalSeconds)) s; peak \(s.peakUsedBlocks)/\(s.capacityBlocks) blocks]"
    }

    /// KV-Compress at `rate` (L2 metric summed over the GQA group, the engine's default window), the
    /// paper's protected window, this cache's block size.
    func compressionConfiguration(rate: Double) -> CompressionConfiguration {
        CompressionConfiguration(
            blockSize: PluginSpec("fixed", options: ["size": .int(blockSize)]), budget: .rate(rate), protectedWindow: protectedWindow)
    }

    /// Prompt token ids, lengths uniform in the range (seeded); ids from the speed benchmark's formula.
    func makeWorkload() -> [[Int32]] {
        var rng = SplitMix64(seed: seed)
        return (0..<requests).map { i in
            let length = promptMin + Int(rng.next() % UInt64(promptMax - promptMin + 1))
            return BenchmarkPrompt.tokens(length, offset: Int(rng.next() % 40000))
        }
    }

    private func ms(_ seconds: Double) -> String { String(format: "%.0f", 1000 * seconds) }
    private func log(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
}

/// One run of `kvc-bench throughput`, in the issue's JSON schema.
struct ThroughputRun: Encodable {
    /// Compression rate, nil without compression.
    var rate: Double?
    /// "limited" (the `--cache-mb` pool) or "unlimited" (room for every request uncompressed).
    var memory: String
    var submitted: Int
    var completed: Int
    var outputTokensPerSecond: Double
    var meanRunning: Double
    var preemptions: Int
    var overheadFraction: Double

    enum CodingKeys: String, CodingKey {
        case rate, memory, submitted, completed, preemptions
        case outputTokensPerSecond = "output_tokens_per_second", meanRunning = "mean_running", overheadFraction = "overhead_fraction"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rate, forKey: .rate)  // null without compression
        try container.encode(memory, forKey: .memory)
        try container.encode(submitted, forKey: .submitted)
        try container.encode(completed, forKey: .completed)
        try container.encode(outputTokensPerSecond, forKey: .outputTokensPerSecond)
        try container.encode(meanRunning, forKey: .meanRunning)
        try container.encode(preemptions, forKey: .preemptions)
        try container.encode(overheadFraction, forKey: .overheadFraction)
    }
}

/// `{"runs": [...]}`, and the markdown table beside the paper's ratios.
struct ThroughputResults: Encodable {
    /// Element type of the cached keys and values (`--kv-type`).
    var kvType: String
    var runs: [ThroughputRun]

    /// The paper's throughput over vanilla vLLM by rate (Llama-3.1-8B on an NVIDIA L4).
    static let paperRatios: [Double: Double] = [1: 1.38, 2: 2.00, 4: 2.54, 8: 3.44, 16: 3.90, 32: 4.93, 64: 5.18]

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try (encoder.encode(self) + Data("\n".utf8)).write(to: url, options: .atomic)
        } catch {
            throw BenchmarkError.unwritable(path: path, reason: error.localizedDescription)
        }
    }

    var markdown: String {
        let baseline = runs.first { $0.rate == nil && $0.memory == "limited" }?.outputTokensPerSecond ?? 0
        let ceiling = runs.first { $0.memory == "unlimited" }?.outputTokensPerSecond ?? 0
        var lines = [
            "| run | output tok/s | × uncompressed | paper × | % of unlimited | mean running | preemptions | overhead |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for run in runs {
            let name = run.memory == "unlimited" ? "unlimited memory" : run.rate.map { "rate \(String(format: "%g", $0))" } ?? "no compression"
            let paper = run.rate.flatMap { Self.paperRatios[$0] }.map { String(format: "%.2f×", $0) } ?? ""
            lines.append(
                "| \(name) | \(String(format: "%.1f", run.outputTokensPerSecond)) | "
                    + "\(baseline > 0 ? String(format: "%.2f×", run.outputTokensPerSecond / baseline) : "") | \(paper) | "
                    + "\(ceiling > 0 ? String(format: "%.0f%%", 100 * run.outputTokensPerSecond / ceiling) : "") | "
                    + "\(String(format: "%.1f", run.meanRunning)) | \(run.preemptions) | \(String(format: "%.2f%%", 100 * run.overheadFraction)) |")
        }
        return lines.joined(separator: "\n")
    }
}

/// Output paths are checked before the work, not after.
enum OutputFileCheck {
    static func writable(_ path: String) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw BenchmarkError.unwritable(path: path, reason: error.localizedDescription)
        }
        guard FileManager.default.isWritableFile(atPath: directory.path) else {
            throw BenchmarkError.unwritable(path: path, reason: "directory \(directory.path) is not writable")
        }
    }
}
