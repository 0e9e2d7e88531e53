import ArgumentParser
import Foundation
import KVCHDF5
import LlamaInference
import PagedKVCache

/// `kvc logits`: the model's logits at every position of a token sequence, as HDF5 — the raw
/// material for comparing against llama.cpp (scripts/reference/).
struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the logits of every position of a token sequence to HDF5.",
        discussion: """
            The output holds dataset /logits, float32 [n_tokens, vocab] (row i: the distribution of token i+1 \
            given tokens 0...i), and /tokens, int32 [n_tokens]. With --trace, group /trace holds the \
            intermediate tensors of every layer under llama.cpp's graph names (attn_norm-L, kqv_out-L, ffn_norm-L, \
            ffn_out-L, l_out-L), float32 [n_tokens, width], for Experiments/fidelity/compare_trace.py. The file \
            appears only when complete.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var compute: ComputeOptions

    @Option(help: "File of token ids separated by whitespace, as `kvc tokenize` prints them (- for stdin).", completion: .file())
    var tokensFile: String

    @Option(help: "HDF5 file to write.", completion: .file())
    var out: String

    @Option(help: "Tokens per prefill step.")
    var chunkSize: Int = 512

    @Option(help: "KVs per cache block.")
    var blockSize: Int = 16

    @Option(
        name: .customLong("kv-type"),
        help: ArgumentHelp("Element type of cached keys and values: f16 (default, as llama.cpp) or f32.", valueName: "f16|f32"))
    var kvTypeName: String?

    @Flag(help: "Also write every layer's intermediate tensors (group /trace).")
    var trace = false

    func validate() throws {
        guard chunkSize >= 1 else { throw ValidationError("--chunk-size must be at least 1 (got \(chunkSize))") }
        try CacheOptions.checkBlockSize(blockSize)
        _ = try CacheOptions.parseKVType(kvTypeName)
    }

    func run() throws {
        try compute.apply()
        let output = try HDF5File.create(path: out)  // fails now on an unwritable path, not after the work
        defer { output.discard() }  // no-op after commit; otherwise removes the partial file
        let loaded = try LoadedModel.load(path: modelOptions.resolvedPath())
        let configuration = loaded.model.configuration
        let tokens = try InputFile.readTokenIDs(tokensFile, vocabularySize: configuration.vocabularySize)
        guard tokens.count <= configuration.contextLength else {
            throw LlamaError.contextOverflow(tokens: tokens.count, contextLength: configuration.contextLength)
        }

        let kvType = try CacheOptions.parseKVType(kvTypeName) ?? .default
        let cache = try loaded.model.makeCache(
            blockSize: blockSize, kvType: kvType,
            capacityBlocks: (tokens.count + blockSize - 1) / blockSize * configuration.layers * configuration.kvHeads)
        let sequence = cache.addSequence()
        var logits: [Float] = []
        logits.reserveCapacity(tokens.count * configuration.vocabularySize)
        var progress = ProgressLine(label: "logits", total: tokens.count, unit: "tokens")
        let recorder = trace ? TraceRecorder() : nil
        let start = Date()
        for chunkStart in stride(from: 0, to: tokens.count, by: chunkSize) {
            let chunk = Array(tokens[chunkStart..<min(tokens.count, chunkStart + chunkSize)])
            logits += try loaded.model.prefill(chunk, sequence: sequence, cache: cache, allLogits: true, trace: recorder)
            progress.update(chunkStart + chunk.count)
        }
        progress.finish()
        let seconds = Date().timeIntervalSince(start)

        try output.createDataset("logits", values: logits, shape: [tokens.count, configuration.vocabularySize])
        try output.createDataset("tokens", values: tokens, shape: [tokens.count])
        if let recorder {
            let group = try output.createGroup("trace")
            for tensor in recorder.tensors {
                try group.createDataset(tensor.name, values: tensor.values, shape: [tensor.values.count / tensor.width, tensor.width])
            }
        }
        try output.setAttribute("model", loaded.name)
        try output.setAttribute("model_path", loaded.path)
        try output.setAttribute("kv_type", kvType.rawValue)
        try output.commit()
        Terminal.note(
            "wrote \(out): logits [\(tokens.count), \(configuration.vocabularySize)] in \(Format.fixed(seconds, digits: 2)) s "
                + "(\(Format.fixed(tokens.count.perSecond(seconds), digits: 1)) tok/s, load \(Format.fixed(loaded.loadSeconds, digits: 2)) s)")
    }
}

/// Collects a prefill's traced tensors, chunk after chunk (rows appended), for `kvc logits --trace`.
final class TraceRecorder: ForwardTrace, @unchecked Sendable {
    /// Name → rows so far, `[rows, width]` flattened. Written by the model's thread only (the trace
    /// seam is called between parallel sections), read after the prefill.
    private(set) var tensors: [(name: String, width: Int, values: [Float])] = []
    private var index: [String: Int] = [:]

    func record(_ name: String, _ values: UnsafePointer<Float>, rows: Int, width: Int) {
        let new = UnsafeBufferPointer(start: values, count: rows * width)
        if let i = index[name] {
            tensors[i].values += new
        } else {
            index[name] = tensors.count
            tensors.append((name, width, Array(new)))
        }
    }
}
