import ArgumentParser
import EvictionPolicies
import Foundation
import KVCompress
import LlamaInference
import PagedKVCache

/// `kvc compress`: prefill one prompt, compress its KV cache once with the configured policy, print
/// what every (layer, head) kept, and optionally dump scores, evictions and block tables to HDF5.
struct Compress: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prefill a prompt, compress its KV cache once, and show what each layer and head kept.",
        discussion: """
            The retention grid (percent of KVs kept per layer × KV head) goes to stderr; --dump writes the \
            metric the schedule sorted and the evictions per token position to HDF5 (layout: \
            notebooks-export/SCHEMA.md). Without --compression or --config the policy is kvcompress; a budget \
            (--rate, --max-cache-tokens, --paper-rate or --config) is required. --list-plugins shows every \
            registered metric, window, policy and block-size policy.
            """)

    @OptionGroup(title: "Model") var modelOptions: ModelOptions

    @Option(help: "Prompt text.")
    var prompt: String?

    @Option(help: "File whose whole content is the prompt.", completion: .file())
    var promptFile: String?

    @OptionGroup(title: "KV cache") var cacheOptions: CacheOptions
    @OptionGroup(title: "KV-Compress") var compression: CompressionOptions
    @OptionGroup(title: "Compute") var compute: ComputeOptions

    @Option(help: "Write scores, evictions, context lengths and block tables to this HDF5 file.", completion: .file())
    var dump: String?

    @Option(help: "Write the compression report (per-head lengths, blocks, timings) as JSON to this file.", completion: .file())
    var reportJSON: String?

    @Flag(help: "List the registered plug-ins and exit.")
    var listPlugins = false

    func validate() throws {
        if listPlugins { return }
        guard (prompt != nil) != (promptFile != nil) else { throw ValidationError("give exactly one of --prompt, --prompt-file") }
        if compression.compression == "none" { throw ValidationError("kvc compress needs a policy; --compression none does nothing") }
    }

    func run() throws {
        if listPlugins {
            for kind in PluginKind.allCases {
                print("\(kind.plural):")
                for (name, summary) in CompressionRegistry.shared.summaries(kind) { print("  \(name): \(summary)") }
            }
            return
        }
        if let dump { try OutputFile.checkWritable(dump) }  // fail before the work, not after
        if let reportJSON { try OutputFile.checkWritable(reportJSON) }
        try compute.apply()
        guard let configuration = try compression.resolve(cacheBlockSize: cacheOptions.blockSize, required: true) else { return }
        let text: String
        if let prompt {
            text = prompt
        } else {
            text = try InputFile.readText(promptFile!)
        }
        guard !text.isEmpty else { throw InputError.emptyPrompt(source: promptFile ?? "--prompt") }

        let loaded = try LoadedModel.load(path: modelOptions.resolvedPath())
        let model = loaded.model, llama = model.configuration
        Terminal.note("loaded \(loaded.name) in \(Format.fixed(loaded.loadSeconds, digits: 2)) s: \(llama)")
        let tokens = loaded.tokenizer.encodePrompt(text)
        guard !tokens.isEmpty else { throw InputError.emptyPrompt(source: promptFile ?? "--prompt") }

        var compressor = try Compressor(configuration: configuration, registry: CompressionRegistry.shared)
        if compression.globalLayersOnly { compressor.uncompressedLayers = Set(llama.localLayers) }
        let blockSize = compressor.plugins.blockSize.physicalBlockSize(layers: llama.layers, kvHeads: llama.kvHeads, headDim: llama.headDim)
        let layout = try CacheLayout(layers: llama.layers, kvHeads: llama.kvHeads, headDim: llama.headDim, blockSize: blockSize)
        let cache = try model.makeCache(
            blockSize: blockSize, capacityBlocks: cacheOptions.capacityBlocks(layout: layout, tokensPerSequence: [tokens.count]))
        let sequence = cache.addSequence()
        let collector = MetricCollector(metric: compressor.plugins.metric, window: compressor.plugins.window)

        Terminal.note("prefill: \(tokens.count) tokens; policy \(configuration.policy), metric \(configuration.metric), window \(configuration.window), \(configuration.budget), protected \(configuration.protectedWindow)")
        let prefillStart = Date()
        _ = try model.prefill(tokens, sequence: sequence, cache: cache, observer: collector)
        let prefillSeconds = Date().timeIntervalSince(prefillStart)
        let (report, snapshot) = try compressor.compressWithSnapshot(sequence, cache: cache, trigger: .afterPrefill)

        report.renderGrid().split(separator: "\n").forEach { Terminal.note(String($0)) }
        let statistics = CompressionStatistics(reports: [report], metricCollection: collector.timing)
        Terminal.note(
            "KV cache: \(statistics.residentBlocksBefore) → \(statistics.residentBlocksAfter) blocks (\(Format.bytes(statistics.residentBytesBefore)) → \(Format.bytes(statistics.residentBytesAfter))), \(report.kvsEvicted) KVs evicted, \(report.kvsMoved) moved")
        Terminal.note(
            "time: prefill \(Format.fixed(prefillSeconds, digits: 3)) s, metric collection \(Format.fixed(statistics.metricSeconds, digits: 4)) s (summed over threads), scheduling \(Format.fixed(report.schedulingSeconds, digits: 4)) s, moves \(Format.fixed(report.moveSeconds, digits: 4)) s")

        if let dump {
            try CompressionDump.write(
                to: dump, snapshot: snapshot, report: report, configuration: configuration, plugins: compressor.plugins,
                extraAttributes: ["model": loaded.path, "prompt_file": promptFile ?? "(--prompt)"])
            Terminal.note("dump written to \(dump)")
        }
        if let reportJSON {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            var data = try encoder.encode(CompressRunReport(report: report, statistics: statistics, prefillSeconds: prefillSeconds, configuration: configuration))
            data.append(0x0A)
            try OutputFile.writeAtomically(data, to: reportJSON)
            Terminal.note("report written to \(reportJSON)")
        }
    }
}

/// `kvc compress --report-json`: the report of the compression, its totals and the configuration.
struct CompressRunReport: Encodable {
    let report: CompressionReport
    let statistics: CompressionStatistics
    let prefillSeconds: Double
    let configuration: CompressionConfiguration
}
