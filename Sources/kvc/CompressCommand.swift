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

    @OptionGroup(title: "Question") var questionOptions: QuestionOptions
    @OptionGroup(title: "KV cache") var cacheOptions: CacheOptions
    @OptionGroup(title: "KV-Compress") var compression: CompressionOptions
    @OptionGroup(title: "Compute") var compute: ComputeOptions

    @Option(help: "Write scores, evictions, context lengths and block tables to this HDF5 file.", completion: .file())
    var dump: String?

    @Option(help: ArgumentHelp("With --dump: also the attention probabilities the metric saw (window: observed queries × cached keys, per layer and query head), or none.", valueName: "window|none"))
    var dumpAttention: String?

    @Flag(help: "With --dump: also the observed queries (after RoPE) and every cached key and value, by position, before compression.")
    var dumpTensors = false

    @Option(help: ArgumentHelp("With --dump: the layers to dump attention and tensors for (default all).", valueName: "0,5,…"))
    var dumpLayers: String?

    @Option(help: ArgumentHelp("With --dump: the KV heads to dump attention and tensors for, each with its group of query heads (default all).", valueName: "0,1,…"))
    var dumpHeads: String?

    @Option(help: "Write the compression report (per-head lengths, blocks, timings) as JSON to this file.", completion: .file())
    var reportJSON: String?

    @Flag(help: "List the registered plug-ins and exit.")
    var listPlugins = false

    func validate() throws {
        if listPlugins { return }
        guard (prompt != nil) != (promptFile != nil) else { throw ValidationError("give exactly one of --prompt, --prompt-file") }
        if compression.compression == "none" { throw ValidationError("kvc compress needs a policy; --compression none does nothing") }
        if dump == nil, dumpAttention != nil || dumpTensors || dumpLayers != nil || dumpHeads != nil {
            throw ValidationError("--dump-attention, --dump-tensors, --dump-layers and --dump-heads need --dump FILE")
        }
        if let dumpAttention, !["window", "none"].contains(dumpAttention) {
            throw ValidationError("--dump-attention must be window or none (got '\(dumpAttention)')")
        }
        for (flag, list) in [("--dump-layers", dumpLayers), ("--dump-heads", dumpHeads)] {
            if let list, Self.indices(list) == nil { throw ValidationError("\(flag) must be integers ≥ 0 separated by commas (got '\(list)')") }
        }
    }

    func run() throws {
        if listPlugins {
            for kind in PluginKind.allCases {
                print("\(kind.plural):")
                for (name, summary) in CompressionRegistry.shared.summaries(kind) { print("  \(name): \(summary)") }
            }
            print("presets (--compression NAME):")
            for preset in CompressionRegistry.shared.registeredPresets { print("  \(preset.name): \(preset.summary)") }
            return
        }
        if let dump { try OutputFile.checkWritable(dump) }  // fail before the work, not after
        if let reportJSON { try OutputFile.checkWritable(reportJSON) }
        try compute.apply()
        guard var compressor = try compression.resolve(cacheBlockSize: cacheOptions.blockSize, kvType: cacheOptions.kvType, required: true)
        else { return }
        let configuration = compressor.configuration
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
        var tokens = loaded.tokenizer.encodePrompt(text)
        if let question = try questionOptions.text() {
            // Aware: DOC+Q as one prompt, the question inside the observation window. Agnostic: the
            // document alone is compressed; the question would be read afterwards (kvc generate does).
            tokens = questionOptions.placement(document: text, question: question, tokenizer: loaded.tokenizer).prompt
            if questionOptions.queryAgnostic {
                Terminal.note("query-agnostic: the question (\(questionOptions.source)) is kept out of the prefill this compression observes")
            }
        }
        guard !tokens.isEmpty else { throw InputError.emptyPrompt(source: promptFile ?? "--prompt") }
        if compression.globalLayersOnly { compressor.uncompressedLayers = Set(llama.localLayers) }

        let blockSize = compressor.plugins.blockSize.physicalBlockSize(layers: llama.layers, kvHeads: llama.kvHeads, headDim: llama.headDim)
        let layout = try CacheLayout(
            layers: llama.layers, kvHeads: llama.kvHeads, headDim: llama.headDim, blockSize: blockSize,
            kvType: configuration.resolvedKVType)
        // A scorer that reads the document again (kvzip) forks the sequence and prefills it a second time.
        try compressor.plugins.scorer?.check(tokenizer: loaded.tokenizer)
        let rereads = compressor.plugins.scorer?.inputs.contains(.reconstructionAttention) ?? false
        let cache = try model.makeCache(
            blockSize: blockSize, kvType: layout.kvType,
            capacityBlocks: cacheOptions.capacityBlocks(layout: layout, tokensPerSequence: [tokens.count] + (rereads ? [2 * tokens.count + 32] : [])))
        let sequence = cache.addSequence()
        let dumpsAttention = dump != nil && (dumpAttention ?? "window") == "window"
        let collector = MetricCollector(
            metric: compressor.plugins.metric, window: compressor.plugins.window,
            recordsWindowQueries: dumpTensors || (compressor.plugins.scorer?.inputs.contains(.windowQueries) ?? false),
            recordsWindowAttention: dumpsAttention || compressor.plugins.policy.needsWindowAttention)
        let layers = Self.indices(dumpLayers ?? "") ?? [], heads = Self.indices(dumpHeads ?? "") ?? []
        if let bad = layers.first(where: { $0 >= llama.layers }) { throw ValidationError("--dump-layers: layer \(bad) does not exist; the model has \(llama.layers) (0…\(llama.layers - 1))") }
        if let bad = heads.first(where: { $0 >= llama.kvHeads }) { throw ValidationError("--dump-heads: KV head \(bad) does not exist; the model has \(llama.kvHeads) (0…\(llama.kvHeads - 1))") }

        Terminal.note("prefill: \(tokens.count) tokens; policy \(configuration.policy), metric \(configuration.metric), window \(configuration.window), \(configuration.budget), protected \(configuration.protectedWindow)")
        let prefillStart = Date()
        _ = try model.prefill(tokens, sequence: sequence, cache: cache, observer: collector)
        let prefillSeconds = Date().timeIntervalSince(prefillStart)
        let attention =
            dump == nil || (!dumpsAttention && !dumpTensors)
            ? nil
            : AttentionDump.capture(
                collector: collector, sequence: sequence, cache: cache, layers: layers.isEmpty ? Array(0..<llama.layers) : layers,
                kvHeads: heads.isEmpty ? Array(0..<llama.kvHeads) : heads, attention: dumpsAttention, tensors: dumpTensors)
        let context = ScoringContext(
            model: model, tokenizer: loaded.tokenizer, tokens: tokens, windowQueries: collector.windowQueries(sequence),
            windowAttention: collector.windowAttention(sequence))
        let (report, snapshot) = try compressor.compressWithSnapshot(sequence, cache: cache, trigger: .afterPrefill, context: context)
        if report.scoringExtraTokens > 0 {
            Terminal.note("scorer: \(report.scoringExtraTokens) extra tokens prefilled to score, \(Format.fixed(report.scoringSeconds, digits: 3)) s")
        }

        report.renderGrid().split(separator: "\n").forEach { Terminal.note(String($0)) }
        let statistics = CompressionStatistics(reports: [report], metricCollection: collector.timing)
        Terminal.note(
            "KV cache: \(statistics.residentBlocksBefore) → \(statistics.residentBlocksAfter) blocks (\(Format.bytes(statistics.residentBytesBefore)) → \(Format.bytes(statistics.residentBytesAfter))), \(report.kvsEvicted) KVs evicted, \(report.kvsMoved) moved")
        Terminal.note(
            "time: prefill \(Format.fixed(prefillSeconds, digits: 3)) s, metric collection \(Format.fixed(statistics.metricSeconds, digits: 4)) s (summed over threads), scheduling \(Format.fixed(report.schedulingSeconds, digits: 4)) s, moves \(Format.fixed(report.moveSeconds, digits: 4)) s")

        if let dump {
            try CompressionDump.write(
                to: dump, snapshot: snapshot, report: report, configuration: configuration, plugins: compressor.plugins, attention: attention,
                extraAttributes: [
                    "model": loaded.path, "prompt_file": promptFile ?? "(--prompt)", "rope_base": "\(llama.ropeFrequencyBase)",
                    "rope_dimensions": "\(llama.ropeDimensions)", "query_heads": "\(llama.attentionHeads)",
                ])
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

extension Compress {
    /// "0,5,7" → [0, 5, 7]; "" → []; nil when malformed or negative.
    static func indices(_ list: String) -> [Int]? {
        if list.isEmpty { return [] }
        let parts = list.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.allSatisfy({ ($0 ?? -1) >= 0 }) else { return nil }
        return parts.map { $0! }
    }
}

/// `kvc compress --report-json`: the report of the compression, its totals and the configuration.
struct CompressRunReport: Encodable {
    let report: CompressionReport
    let statistics: CompressionStatistics
    let prefillSeconds: Double
    let configuration: CompressionConfiguration
}
