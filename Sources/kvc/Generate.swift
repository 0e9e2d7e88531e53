import ArgumentParser
import BPETokenizer
import Foundation
import KVCompress
import LlamaInference
import PagedKVCache

/// `kvc generate`: continue one prompt (streamed to stdout) or a batch of prompts (decoded together).
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text; only the text goes to stdout, figures go to stderr.",
        discussion: """
            One prompt (--prompt, --prompt-file) streams its continuation to stdout as it is produced. \
            --batch-file decodes one prompt per line together and prints one JSON object per prompt \
            ({"index": i, "prompt": ..., "text": ...}) on stdout in prompt order when all are done.
            """)

    @OptionGroup(title: "Model") var modelOptions: ModelOptions
    @OptionGroup(title: "Prompt") var promptOptions: PromptOptions
    @OptionGroup(title: "Sampling") var sampling: SamplingOptions
    @OptionGroup(title: "KV cache") var cacheOptions: CacheOptions
    @OptionGroup(title: "KV-Compress") var compression: CompressionOptions
    @OptionGroup(title: "Compute") var compute: ComputeOptions

    @Option(help: "Write the run's figures (timings, tokens/s, KV blocks and bytes) as JSON to this file.", completion: .file())
    var statsJSON: String?

    func run() throws {
        if let statsJSON { try OutputFile.checkWritable(statsJSON) }  // fail before the work, not after
        try compute.apply()
        let prompts = try promptOptions.prompts()

        let loaded = try LoadedModel.load(path: modelOptions.resolvedPath())
        let model = loaded.model, tokenizer = loaded.tokenizer
        Terminal.note("loaded \(loaded.name) in \(Format.fixed(loaded.loadSeconds, digits: 2)) s: \(model.configuration)")

        let promptTokens = try prompts.map { try encode($0, with: tokenizer) }
        let compressionConfiguration = try compression.resolve(cacheBlockSize: cacheOptions.blockSize)
        let driver = try compressionConfiguration.map { configuration in
            var compressor = try Compressor(configuration: configuration, registry: CompressionRegistry.shared)
            if compression.globalLayersOnly { compressor.uncompressedLayers = Set(model.configuration.localLayers) }
            return CompressionDriver(compressor: compressor)
        }
        let cache = try makeCache(for: model.configuration, driver: driver, promptTokens: promptTokens)

        let generator = Generator(model: model, cache: cache, controller: driver, loadSeconds: loaded.loadSeconds)
        let parameters = GenerationParameters(
            maxTokens: sampling.maxTokens,
            stopTokens: tokenizer.endOfTurnIDs.union([tokenizer.eosID]),
            sampler: try Sampler(temperature: Float(sampling.temperature), topP: Float(sampling.topP), seed: sampling.seed),
            // One sequence: keep its blocks so the final cache state can be reported. A batch: hand
            // a finished sequence's blocks to the others.
            releasesFinishedSequences: prompts.count > 1)

        let totalPromptTokens = promptTokens.reduce(0) { $0 + $1.count }
        Terminal.note(
            "prefill: \(totalPromptTokens) prompt tokens in \(prompts.count) sequence(s); cache \(cache.capacityBlocks) blocks × "
                + "\(cache.layout.blockSize) KVs (\(Format.bytes(cache.capacityBlocks * cache.layout.bytesPerBlock)))")
        var output = TextOutput(tokenizer: tokenizer, prompts: prompts, streaming: prompts.count == 1)
        var progress = GenerationProgress(prompts: prompts.count, promptTokens: totalPromptTokens, maxTokens: sampling.maxTokens)
        let result = try generator.generate(prompts: promptTokens, parameters: parameters) { index, token in
            progress.tokenArrived(for: index)
            output.append(token, to: index)
        }
        progress.finish()
        output.finish()

        if let driver { showRetention(driver.latestReports) }
        var report = makeReport(loaded: loaded, cache: cache, result: result, promptTokens: promptTokens)
        report.compression = compressionConfiguration.map {
            GenerationReport.Compression(configuration: $0, statistics: driver!.statistics)
        }
        report.summaryLines.forEach(Terminal.note)
        if let statsJSON {
            try OutputFile.writeAtomically(report.json(), to: statsJSON)
            Terminal.note("statistics written to \(statsJSON)")
        }
    }

    /// The paged cache: the block size of `--block-size`, or the physical one a per-layer block-size
    /// policy asks for (its smallest); the pool as `--cache-blocks`/`--cache-mb` say, or just enough
    /// for every prompt plus `--max-tokens`.
    private func makeCache(
        for llama: LlamaConfiguration, driver: CompressionDriver?, promptTokens: [[Int32]]
    ) throws -> PagedKVCache {
        let blockSize =
            driver?.compressor.plugins.blockSize.physicalBlockSize(layers: llama.layers, kvHeads: llama.kvHeads, headDim: llama.headDim)
            ?? cacheOptions.blockSize
        let layout = try CacheLayout(layers: llama.layers, kvHeads: llama.kvHeads, headDim: llama.headDim, blockSize: blockSize)
        let capacity = cacheOptions.capacityBlocks(
            layout: layout, tokensPerSequence: promptTokens.map { min(llama.contextLength, $0.count + sampling.maxTokens) })
        return try PagedKVCache(layout: layout, capacityBlocks: capacity)
    }

    /// What compression kept: the per-head retention grid of the latest compression for a single
    /// sequence (KV-Compress's point is that rates differ per head), one line per sequence for a batch.
    private func showRetention(_ reports: [CompressionReport]) {
        if reports.count == 1 {
            Terminal.note(reports[0].renderGrid())
            return
        }
        for report in reports {
            Terminal.note(
                "seq \(report.sequence): kept \(Format.fixed(100 * report.totalRetention, digits: 1))% of KVs, "
                    + "\(report.blocksBefore) → \(report.blocksAfter) blocks (\(report.trigger.rawValue))")
        }
    }

    /// Token ids of one prompt: as is, or wrapped in the model's chat template (system message first).
    private func encode(_ prompt: String, with tokenizer: any TokenPieces) throws -> [Int32] {
        guard promptOptions.chat else { return tokenizer.encodePrompt(prompt) }
        // Chat templates are rendered by the byte-level BPE tokenizer's families (ChatML, Llama …).
        guard let tokenizer = tokenizer as? BPETokenizer else {
            throw ValidationError("--chat: no chat template renderer for this model's tokenizer (SentencePiece); give the prompt as plain text")
        }
        var messages: [ChatMessage] = []
        if let system = promptOptions.system { messages.append(ChatMessage(role: "system", content: system)) }
        messages.append(ChatMessage(role: "user", content: prompt))
        let text = try tokenizer.applyChatTemplate(messages: messages, addGenerationPrompt: true)
        return tokenizer.encode(text, parseSpecial: true)
    }

    /// The run's figures, from the generator's statistics and the cache.
    private func makeReport(
        loaded: LoadedModel, cache: PagedKVCache, result: GenerationResult, promptTokens: [[Int32]]
    ) -> GenerationReport {
        let configuration = loaded.model.configuration, statistics = result.statistics, layout = cache.layout
        let uncompressedBlocks = zip(promptTokens, result.sequences).reduce(0) { total, pair in
            total + layout.blocks(forTokens: pair.0.count + pair.1.tokens.count) * layout.headCount
        }
        return GenerationReport(
            model: .init(
                path: loaded.path, name: loaded.name, layers: configuration.layers, kvHeads: configuration.kvHeads,
                queryHeads: configuration.attentionHeads, headDim: configuration.headDim,
                vocabularySize: configuration.vocabularySize),
            threads: compute.threads, kernels: QuantizedKernels.name, batchSize: promptTokens.count, loadSeconds: loaded.loadSeconds,
            promptTokens: statistics.promptTokens, prefillSeconds: statistics.prefillSeconds,
            generatedTokens: result.sequences.reduce(0) { $0 + $1.tokens.count }, decodedTokens: statistics.decodedTokens,
            decodeSeconds: statistics.decodeSeconds,
            cache: .init(
                blockSize: layout.blockSize, capacityBlocks: cache.capacityBlocks,
                capacityBytes: cache.capacityBlocks * layout.bytesPerBlock, residentBlocks: cache.usedBlockCount,
                residentBytes: cache.residentBytes, peakResidentBlocks: statistics.peakResidentBlocks,
                peakResidentBytes: statistics.peakResidentBytes, uncompressedBlocks: uncompressedBlocks),
            stopReasons: result.sequences.map { $0.stopReason?.rawValue ?? "none" })
    }
}
