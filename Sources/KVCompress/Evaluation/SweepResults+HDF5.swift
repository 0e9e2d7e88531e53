import Foundation
import KVCHDF5

/// The sweep's HDF5 file (`kvc sweep --out FILE`), written atomically (KVCHDF5: a partial file
/// renamed into place on success). Layout, documented for readers (notebooks-export/passkey.ipynb):
///
/// ```text
/// /                      attributes: format "kvc-sweep/1", task, spec_yaml (the specification file's
///                        text), specification_json, model, created (ISO 8601), seconds, layers,
///                        kv_heads, block_size, bytes_per_block, max_new_tokens, protected_window,
///                        window, metric, budget, example_prompt; from `kvc sweep` also model_path,
///                        spec_path and kernels (instruction set of the C kernels, e.g. "avx512-vnni")
/// /methods               [M] strings: method names; attribute `configurations`: JSON of each
///                        method's compression configuration at rate 2
/// /rates                 [R] float64
/// /lengths               [T] int64: target prompt lengths
/// /trials/               one row per (length, prompt, method, rate), sorted in that order; N rows
///   method               [N] int32, index into /methods
///   rate                 [N] float64
///   length_index         [N] int32, index into /lengths
///   target_tokens        [N] int32
///   prompt_index         [N] int32: prompt number within its length
///   seed                 [N] int64
///   prompt_tokens        [N] int32
///   correct              [N] uint8: the answer's 5 digits appear in the generated text
///   answer               [N] strings: the 5 digits
///   generated            [N] strings: the greedy continuation
///   resident_blocks      [N] int32: blocks the sequence holds after compression
///   resident_bytes       [N] int64
///   kept_kvs             [N, layers, kv_heads] int32: KVs each head keeps after compression
///                        (retention = kept_kvs / prompt_tokens)
///   needle_token_offset  [N] int32, needle_token_count [N] int32
///   needle_kvs_kept      [N] int32: needle KVs still held over all heads (of
///                        needle_token_count * layers * kv_heads)
///   depth                [N] float64: needle depth among the haystack units (0 first … 1 last)
///   budget_held          [N] uint8
///   seconds              [N] float64: fork + compression + decoding
/// /example/              the per-layer × per-head retention of one example: the first prompt of
///                        the first length; attributes length_index, prompt_index, seed,
///                        prompt_tokens, answer
///   retention            [M, R, layers, kv_heads] float64: kept_kvs / prompt_tokens
///   generated            [M * R] strings, method-major
/// ```
extension SweepResults {
    public static let formatName = "kvc-sweep/1"

    /// Writes the results to `path` atomically; `attributes` (model name, spec text, …) go on the root.
    public func write(to path: String, attributes: [String: String] = [:]) throws {
        let file = try HDF5File.create(path: path)
        do {
            try write(into: file, attributes: attributes)
            try file.commit()
        } catch {
            file.discard()
            throw error
        }
    }

    /// Writes the layout above into an open file (the caller commits it).
    public func write(into file: HDF5File, attributes: [String: String] = [:]) throws {
        let s = specification, n = trials.count, heads = layers * kvHeads
        try file.setAttribute("format", Self.formatName)
        try file.setAttribute("task", s.task.rawValue)
        try file.setAttribute("created", ISO8601DateFormatter().string(from: Date()))
        try file.setAttribute("seconds", seconds)
        try file.setAttribute("layers", layers)
        try file.setAttribute("kv_heads", kvHeads)
        try file.setAttribute("block_size", blockSize)
        try file.setAttribute("bytes_per_block", bytesPerBlock)
        try file.setAttribute("max_new_tokens", s.maxNewTokens)
        try file.setAttribute("protected_window", s.protectedWindow)
        try file.setAttribute("window", s.window.description)
        try file.setAttribute("metric", s.metric.description)
        try file.setAttribute("budget", s.budget.rawValue)
        try file.setAttribute("example_prompt", examplePrompt)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try file.setAttribute("specification_json", String(decoding: try encoder.encode(s), as: UTF8.self))
        for (key, value) in attributes.sorted(by: { $0.key < $1.key }) { try file.setAttribute(key, value) }

        let methods = try file.createDataset("methods", strings: s.methods.map(\.name))
        let configurations = try s.methods.map { String(decoding: try encoder.encode(s.configuration(of: $0, rate: 2)), as: UTF8.self) }
        try methods.setAttribute("configurations", "[" + configurations.joined(separator: ",") + "]")
        try file.createDataset("rates", values: s.rates, shape: [s.rates.count])
        try file.createDataset("lengths", values: s.lengths.map(Int64.init), shape: [s.lengths.count])

        let group = try file.createGroup("trials")
        func column<E: HDF5Element>(_ name: String, _ values: [E]) throws { try group.createDataset(name, values: values, shape: [n]) }
        try column("method", trials.map { Int32($0.method) })
        try column("rate", trials.map(\.rate))
        try column("length_index", trials.map { Int32($0.lengthIndex) })
        try column("target_tokens", trials.map { Int32($0.targetTokens) })
        try column("prompt_index", trials.map { Int32($0.promptIndex) })
        try column("seed", trials.map { Int64(bitPattern: $0.seed) })
        try column("prompt_tokens", trials.map { Int32($0.promptTokens) })
        try column("correct", trials.map { UInt8($0.correct ? 1 : 0) })
        try group.createDataset("answer", strings: trials.map(\.answer))
        try group.createDataset("generated", strings: trials.map(\.generated))
        try column("resident_blocks", trials.map { Int32($0.residentBlocks) })
        try column("resident_bytes", trials.map { Int64($0.residentBytes) })
        try group.createDataset(
            "kept_kvs", values: trials.flatMap { $0.keptKVs.map(Int32.init) }, shape: [n, layers, kvHeads],
            chunks: n > 0 ? [min(n, 256), layers, kvHeads] : nil, deflateLevel: n > 0 ? 4 : nil)
        try column("needle_token_offset", trials.map { Int32($0.needleTokenOffset) })
        try column("needle_token_count", trials.map { Int32($0.needleTokenCount) })
        try column("needle_kvs_kept", trials.map { Int32($0.needleKVsKept) })
        try column("depth", trials.map(\.depth))
        try column("budget_held", trials.map { UInt8($0.budgetHeld ? 1 : 0) })
        try column("seconds", trials.map(\.seconds))

        // The first prompt of the first length, every method × rate.
        let example = try file.createGroup("example")
        let rows = trials.filter { $0.lengthIndex == 0 && $0.promptIndex == 0 }.sorted { ($0.method, $0.rate) < ($1.method, $1.rate) }
        var retention: [Double] = []
        for method in s.methods.indices {
            for rate in s.rates {
                if let t = rows.first(where: { $0.method == method && $0.rate == rate }) {
                    retention += t.keptKVs.map { Double($0) / Double(max(1, t.promptTokens)) }
                } else {
                    retention += [Double](repeating: .nan, count: heads)
                }
            }
        }
        try example.createDataset("retention", values: retention, shape: [s.methods.count, s.rates.count, layers, kvHeads])
        try example.createDataset("generated", strings: rows.map(\.generated))
        if let first = rows.first {
            try example.setAttribute("length_index", first.lengthIndex)
            try example.setAttribute("prompt_index", first.promptIndex)
            try example.setAttribute("seed", Int(first.seed))
            try example.setAttribute("prompt_tokens", first.promptTokens)
            try example.setAttribute("answer", first.answer)
        }
    }
}
