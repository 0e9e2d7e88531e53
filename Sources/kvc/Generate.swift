import ArgumentParser
import BPETokenizer
import Foundation
import KVCompress
import LlamaInference
import PagedKVCache
import Serving

/// `kvc generate`: continue one prompt (streamed to stdout) or a batch of prompts (decoded together).
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text; only the text goes to stdout, figures go to stderr.",
        discussion: """
            One prompt (--prompt, --prompt-file) streams its continuation to stdout as it is produced. \
            --batch-file serves one prompt per line as a stream of requests (continuous batching from one \
            KV pool: --cache-mb or --cache-blocks sets it; requests wait until the pool has their prompt's \
            blocks, and the newest is preempted and later recomputed when it runs out) and prints one JSON \
            object per prompt ({"index": i, "prompt": ..., "text": ...}) on stdout in prompt order when all \
            are done. A prompt that could never fit the pool gets an "error" instead of being served, and \
            the command exits with status 1 after serving the others.
            """)

    @OptionGroup(title: "Model") var modelOptions: ModelOptions
    @OptionGroup(title: "Prompt") var promptOptions: PromptOptions
    @OptionGroup(title: "Question") var questionOptions: QuestionOptions
    @OptionGroup(title: "Sampling") var sampling: SamplingOptions
    @OptionGroup(title: "KV cache") var cacheOptions: CacheOptions
    @OptionGroup(title: "KV-Compress") var compression: CompressionOptions
    @OptionGroup(title: "Compute") var compute: ComputeOptions

    @Option(help: "Write the run's figures (timings, tokens/s, KV blocks and bytes) as JSON to this file.", completion: .file())
    var statsJSON: String?

    func validate() throws {
        guard questionOptions.question != nil || questionOptions.questionFile != nil else { return }
        if promptOptions.batchFile != nil { throw ValidationError("--question/--question-file take one document (--prompt or --prompt-file), not --batch-file") }
        if promptOptions.chat { throw ValidationError("--question/--question-file with --chat is not supported: put the question in the prompt") }
    }

    func run() throws {
        if let statsJSON { try OutputFile.checkWritable(statsJSON) }  // fail before the work, not after
        try compute.apply()
        let prompts = try promptOptions.prompts()

        // Plug-ins built once, before the model loads, so a bad option costs nothing.
        var compressor = try compression.resolve(cacheBlockSize: cacheOptions.blockSize, kvType: cacheOptions.kvType)
        let loaded = try LoadedModel.load(path: modelOptions.resolvedPath())
        let model = loaded.model, tokenizer = loaded.tokenizer
        Terminal.note("loaded \(loaded.name) in \(Format.fixed(loaded.loadSeconds, digits: 2)) s: \(model.configuration)")

        if compression.globalLayersOnly { compressor?.uncompressedLayers = Set(model.configuration.localLayers) }
        var promptTokens = try prompts.map { try encode($0, with: tokenizer) }
        if promptOptions.batchFile != nil {
            try serve(prompts: prompts, promptTokens: promptTokens, loaded: loaded, compressor: compressor)
            return
        }
        var questionTokens: [[Int32]]?
        if let question = try questionOptions.text() {
            let placed = questionOptions.placement(document: prompts[0], question: question, tokenizer: tokenizer)
            promptTokens = [placed.prompt]
            if questionOptions.queryAgnostic {
                questionTokens = [placed.question]
                Terminal.note("query-agnostic: \(placed.prompt.count) document tokens compressed before the \(placed.question.count) question tokens are read")
            }
        }
        let compressionConfiguration = compressor?.configuration
        let driver = compressor.map { CompressionDriver(compressor: $0) }
        driver?.scoringModel = (model, tokenizer)  // for scorers that read the document again (kvzip)
        try compressor?.plugins.scorer?.check(tokenizer: tokenizer)
        let readTokens = zip(promptTokens.indices, promptTokens).map { $1 + (questionTokens?[$0] ?? []) }
        let cache = try makeCache(for: model.configuration, compressor: compressor, promptTokens: readTokens)

        let generator = Generator(model: model, cache: cache, controller: driver, loadSeconds: loaded.loadSeconds)
        let parameters = GenerationParameters(
            maxTokens: sampling.maxTokens,
            stopTokens: tokenizer.endOfTurnIDs.union([tokenizer.eosID]),
            sampler: try Sampler(temperature: Float(sampling.temperature), topP: Float(sampling.topP), seed: sampling.seed),
            // One sequence: keep its blocks so the final cache state can be reported.
            releasesFinishedSequences: false)

        let totalPromptTokens = readTokens.reduce(0) { $0 + $1.count }
        Terminal.note(
            "prefill: \(totalPromptTokens) prompt tokens in \(prompts.count) sequence(s); cache \(cache.capacityBlocks) blocks × "
                + "\(cache.layout.blockSize) KVs (\(Format.bytes(cache.capacityBlocks * cache.layout.bytesPerBlock)))")
        var output = TextOutput(tokenizer: tokenizer, prompts: prompts, streaming: prompts.count == 1)
        var progress = GenerationProgress(prompts: prompts.count, promptTokens: totalPromptTokens, maxTokens: sampling.maxTokens)
        let result = try generator.generate(prompts: promptTokens, questions: questionTokens, parameters: parameters) { index, token in
            progress.tokenArrived(for: index)
            output.append(token, to: index)
        }
        progress.finish()
        output.finish()

        if let driver { showRetention(driver.latestReports) }
        var report = makeReport(loaded: loaded, cache: cache, result: result, promptTokens: readTokens)
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
        for llama: LlamaConfiguration, compressor: Compressor?, promptTokens: [[Int32]]
    ) throws -> PagedKVCache {
        let blockSize =
            compressor?.plugins.blockSize.physicalBlockSize(layers: llama.layers, kvHeads: llama.kvHeads, headDim: llama.headDim)
            ?? cacheOptions.blockSize
        // `--kv-type`, else the configuration's kv_type, else half floats.
        let kvType = try compressor?.configuration.kvType ?? cacheOptions.kvType ?? .default
        let layout = try CacheLayout(
            layers: llama.layers, kvHeads: llama.kvHeads, headDim: llama.headDim, blockSize: blockSize, kvType: kvType)
        // A scorer that reads the document again (kvzip) forks a sequence and prefills it a second time.
        let rereads = compressor?.plugins.scorer?.inputs.contains(.reconstructionAttention) ?? false
        let reread = rereads ? [2 * (promptTokens.map(\.count).max() ?? 0) + 32] : []
        let capacity = cacheOptions.capacityBlocks(
            layout: layout, tokensPerSequence: promptTokens.map { min(llama.contextLength, $0.count + sampling.maxTokens) } + reread)
        return try PagedKVCache(layout: layout, capacityBlocks: capacity)
    }

    /// `--batch-file`: every prompt a request to the ``RequestScheduler``, served from one pool (the
    /// cache options' size, or room for every request uncompressed); each request compressed with the
    /// KV-Compress flags. Requests that can never fit are named on stderr before any work and get an
    /// "error" in their JSON line; the others are served, then the command fails.
    private func serve(
        prompts: [String], promptTokens: [[Int32]], loaded: LoadedModel, compressor: Compressor?
    ) throws {
        let model = loaded.model, tokenizer = loaded.tokenizer
        let compressionConfiguration = compressor?.configuration
        let cache = try makeCache(for: model.configuration, compressor: compressor, promptTokens: promptTokens)
        let scheduler = try RequestScheduler(model: model, cache: cache, registry: CompressionRegistry.shared)
        let sampler = try Sampler(temperature: Float(sampling.temperature), topP: Float(sampling.topP), seed: sampling.seed)
        let stopTokens = tokenizer.endOfTurnIDs.union([tokenizer.eosID])
        let requests = promptTokens.enumerated().map { index, tokens in
            ServingRequest(
                prompt: tokens, maxTokens: sampling.maxTokens, stopTokens: stopTokens, sampler: sampler.reseeded(sampler.seed &+ UInt64(index)),
                compression: compressionConfiguration)
        }
        var rejected: [String] = []
        for (index, request) in requests.enumerated() {
            if let reason = scheduler.rejection(of: request, index: index) {
                rejected.append(reason)
                Terminal.note("error: \(reason); it is not served")
            }
        }

        let totalPromptTokens = promptTokens.reduce(0) { $0 + $1.count }
        Terminal.note(
            "serving \(prompts.count) request(s), \(totalPromptTokens) prompt tokens; pool \(cache.capacityBlocks) blocks × "
                + "\(cache.layout.blockSize) KVs (\(Format.bytes(cache.capacityBlocks * cache.layout.bytesPerBlock)))")
        var output = TextOutput(tokenizer: tokenizer, prompts: prompts, streaming: false)
        var progress = ProgressLine(label: "generate", total: prompts.count * sampling.maxTokens, unit: "tokens", minimumTotal: 1)
        var generated = 0
        let served = try scheduler.serve(requests) { index, token in
            generated += 1
            progress.update(generated)
            output.append(token, to: index)
        }
        progress.finish()
        for request in served { if let reason = request.rejection { output.reject(request.index, reason: reason) } }
        output.finish()

        let statistics = scheduler.statistics
        if compressionConfiguration != nil { showRetention(latestReports(scheduler.reports)) }
        var report = GenerationReport(
            model: .init(
                path: loaded.path, name: loaded.name, layers: model.configuration.layers, kvHeads: model.configuration.kvHeads,
                queryHeads: model.configuration.attentionHeads, headDim: model.configuration.headDim,
                vocabularySize: model.configuration.vocabularySize),
            threads: compute.threads, kernels: QuantizedKernels.name, batchSize: prompts.count, loadSeconds: loaded.loadSeconds,
            promptTokens: statistics.prefilledTokens, prefillSeconds: statistics.prefillSeconds,
            generatedTokens: statistics.outputTokens, decodedTokens: statistics.decodedTokens, decodeSeconds: statistics.decodeSeconds,
            cache: .init(
                blockSize: cache.layout.blockSize, capacityBlocks: cache.capacityBlocks,
                capacityBytes: cache.capacityBlocks * cache.layout.bytesPerBlock, residentBlocks: cache.usedBlockCount,
                residentBytes: cache.residentBytes, peakResidentBlocks: statistics.peakUsedBlocks,
                peakResidentBytes: statistics.peakUsedBlocks * cache.layout.bytesPerBlock,
                uncompressedBlocks: zip(promptTokens, served).reduce(0) { total, pair in
                    total + cache.layout.blocks(forTokens: pair.0.count + pair.1.tokens.count) * cache.layout.headCount
                }),
            stopReasons: served.map { $0.stopReason?.rawValue ?? "rejected" })
        report.compression = compressionConfiguration.map {
            GenerationReport.Compression(
                configuration: $0, statistics: CompressionStatistics(reports: scheduler.reports, metricCollection: scheduler.metricCollection))
        }
        report.serving = statistics
        report.summaryLines.forEach(Terminal.note)
        Terminal.note(
            "serving: \(statistics.completed) of \(statistics.submitted) requests completed, \(statistics.preemptions) preemption(s), "
                + "mean \(Format.fixed(statistics.meanRunning, digits: 1)) running, \(Format.fixed(statistics.outputTokensPerSecond, digits: 1)) output tok/s")
        if let statsJSON {
            try OutputFile.writeAtomically(report.json(), to: statsJSON)
            Terminal.note("statistics written to \(statsJSON)")
        }
        if !rejected.isEmpty { throw ServingRejection(reasons: rejected, submitted: requests.count) }
    }

    /// The latest report of each sequence.
    private func latestReports(_ reports: [CompressionReport]) -> [CompressionReport] {
        var latest: [Int: CompressionReport] = [:]
        for r in reports { latest[r.sequence] = r }
        return latest.keys.sorted().map { latest[$0]! }
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
        var messages: [ChatMessage] = []
        if let system = promptOptions.system { messages.append(ChatMessage(role: "system", content: system)) }
        messages.append(ChatMessage(role: "user", content: prompt))
        let text = try tokenizer.applyChatTemplate(messages: messages, addGenerationPrompt: true)
        return tokenizer.encode(text, addBOS: tokenizer.addsBOSByDefault, parseSpecial: true)
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

/// Requests of a batch that could never fit the pool (the others were served).
struct ServingRejection: Error, CustomStringConvertible {
    let reasons: [String]
    let submitted: Int
    var description: String {
        "\(reasons.count) of \(submitted) request(s) not served: " + reasons.joined(separator: "; ")
    }
}
