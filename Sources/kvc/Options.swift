import ArgumentParser
import Foundation
import PagedKVCache

/// `--model PATH`: which GGUF to load (see ``ModelLocation`` for the default).
struct ModelOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Llama-family GGUF model file.",
            discussion: "Default: $\(ModelLocation.environmentVariable), else \(ModelLocation.defaultRelativePath) under the package root or the current directory.",
            valueName: "path"))
    var model: String?

    /// The model file to load; throws a message naming the fetch command when the default is missing.
    func resolvedPath() throws -> String { try ModelLocation.resolve(explicit: model) }
}

/// `--threads N`: how many CPU cores the forward pass runs on (see ``CPUAffinity``).
struct ComputeOptions: ParsableArguments {
    @Option(
        help: "CPU cores to run on: the process is pinned to the first N of the CPUs it may use (default: all of them). Runs side by side: start each under its own `taskset -c LIST`, or they share the same cores.")
    var threads: Int = CPUAffinity.allowedCPUs().count

    func validate() throws {
        let available = CPUAffinity.allowedCPUs().count
        guard (1...available).contains(threads) else {
            throw ValidationError("--threads must be between 1 and \(available), the CPUs this process may use (got \(threads))")
        }
    }

    /// Pins the process to `threads` cores; call before the model starts its workers.
    func apply() throws { try CPUAffinity.limit(to: threads) }
}

/// The paged KV cache: block size and pool size (KV-Compress §3: one block holds `blockSize` KVs of
/// one KV head of one layer).
struct CacheOptions: ParsableArguments {
    @Option(help: "KVs per cache block: one of \(CacheLayout.supportedBlockSizes.map(String.init).joined(separator: ", ")).")
    var blockSize: Int = 16

    @Option(help: "Pool size in blocks. Default: just enough for every prompt plus --max-tokens, uncompressed.")
    var cacheBlocks: Int?

    @Option(name: .customLong("cache-mb"), help: "Pool size in MiB (instead of --cache-blocks).")
    var cacheMegabytes: Double?

    @Option(
        name: .customLong("kv-type"),
        help: ArgumentHelp(
            "Element type of cached keys and values: f16 (default; half the bytes, so --cache-mb holds about twice the KVs) or f32. Overrides a --config file's kv_type.",
            valueName: "f16|f32"))
    var kvTypeName: String?

    func validate() throws {
        try Self.checkBlockSize(blockSize)
        _ = try kvType
        if cacheBlocks != nil, cacheMegabytes != nil { throw ValidationError("give --cache-blocks or --cache-mb, not both") }
        if let cacheBlocks, cacheBlocks < 1 { throw ValidationError("--cache-blocks must be at least 1 (got \(cacheBlocks))") }
        if let cacheMegabytes, !(cacheMegabytes > 0) { throw ValidationError("--cache-mb must be positive (got \(cacheMegabytes))") }
    }

    /// `--kv-type`, when given.
    var kvType: KVStorageType? {
        get throws { try Self.parseKVType(kvTypeName) }
    }

    /// A `--kv-type` value (nil: not given); a bad one is an error naming the flag and the choices.
    static func parseKVType(_ name: String?) throws -> KVStorageType? {
        guard let name else { return nil }
        do { return try KVStorageType(parsing: name, key: "--kv-type") } catch { throw ValidationError(error.description) }
    }

    /// `--block-size` must be one the paged cache supports (also checked by `kvc logits`).
    static func checkBlockSize(_ blockSize: Int) throws {
        guard CacheLayout.supportedBlockSizes.contains(blockSize) else {
            throw ValidationError(
                "--block-size must be one of \(CacheLayout.supportedBlockSizes.map(String.init).joined(separator: ", ")) (got \(blockSize))")
        }
    }

    /// Blocks in the pool for `layout`. Without an explicit size: room for `tokensPerSequence[i]` KVs
    /// on every head of sequence i, i.e. no compression ever needed.
    func capacityBlocks(layout: CacheLayout, tokensPerSequence: [Int]) -> Int {
        if let cacheBlocks { return cacheBlocks }
        if let cacheMegabytes { return max(1, Int(cacheMegabytes * 1024 * 1024) / layout.bytesPerBlock) }
        return max(1, tokensPerSequence.reduce(0) { $0 + layout.blocks(forTokens: $1) * layout.headCount })
    }
}

/// Decoding: how many tokens and how they are picked.
struct SamplingOptions: ParsableArguments {
    @Option(help: "Tokens to generate per prompt (0: prefill only).")
    var maxTokens: Int = 128

    @Option(help: "Sampling temperature; 0 picks the most likely token (greedy, deterministic).")
    var temperature: Double = 0

    @Option(help: "Nucleus sampling: sample among the most likely tokens whose probabilities sum to this (0 < p <= 1).")
    var topP: Double = 1

    @Option(help: "Random seed for sampling (same seed, same text).")
    var seed: UInt64 = 0

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be 0 or more (got \(maxTokens))") }
        guard temperature >= 0, temperature.isFinite else {
            throw ValidationError("--temperature must be a finite number >= 0 (got \(temperature))")
        }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1] (got \(topP))") }
    }
}

/// What to generate from: one prompt (inline or from a file) or a batch file, optionally wrapped in
/// the model's chat template.
struct PromptOptions: ParsableArguments {
    @Option(help: "Prompt text.")
    var prompt: String?

    @Option(help: "File whose whole content is the prompt (- for stdin).", completion: .file())
    var promptFile: String?

    @Option(help: "File with one prompt per line (blank lines skipped; - for stdin); the prompts are decoded together as a batch.", completion: .file())
    var batchFile: String?

    @Flag(help: "Wrap each prompt in the model's chat template as a user message.")
    var chat = false

    @Option(help: "System message for --chat.")
    var system: String?

    func validate() throws {
        let sources = [prompt != nil, promptFile != nil, batchFile != nil].filter { $0 }.count
        guard sources == 1 else { throw ValidationError("give exactly one of --prompt, --prompt-file, --batch-file") }
        if system != nil, !chat { throw ValidationError("--system needs --chat") }
    }

    /// The prompts as given (before any chat template), one per sequence.
    func prompts() throws(InputError) -> [String] {
        if let prompt {
            guard !prompt.isEmpty else { throw .emptyPrompt(source: "--prompt") }
            return [prompt]
        }
        if let promptFile {
            let text = try InputFile.readText(promptFile)
            guard !text.isEmpty else { throw .emptyPrompt(source: promptFile) }
            return [text]
        }
        let path = batchFile!  // validate() guarantees one source
        let lines = try InputFile.readText(path).split(whereSeparator: \.isNewline).map(String.init)
            .filter { !$0.allSatisfy(\.isWhitespace) }
        guard !lines.isEmpty else { throw .emptyPrompt(source: path) }
        return lines
    }
}
