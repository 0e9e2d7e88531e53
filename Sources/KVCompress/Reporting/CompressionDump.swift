import KVCHDF5

/// Writes one compression to HDF5 for notebooks (`kvc compress --dump run.h5`; layout in
/// `notebooks-export/SCHEMA.md`). The file appears only when complete (the wrapper writes
/// `<path>.partial` and renames it on commit).
///
/// Datasets:
/// - `metrics` float32 `[layers, kv_heads, prompt_len]`: the score the schedule sorted, by token position
///   (+inf protected, NaN for positions the head no longer held).
/// - `evicted` uint8 `[layers, kv_heads, prompt_len]`: 1 = not in the cache afterwards.
/// - `context_lens` int32 `[layers, kv_heads]` after; `context_lens_before` int32 `[layers, kv_heads]`.
/// - `block_tables` int32 `[layers, kv_heads, max_blocks]` after, -1 padded.
/// Root attributes: the configuration and the outcome (see SCHEMA.md).
public enum CompressionDump {
    public static func write(
        to path: String, snapshot: CompressionSnapshot, report: CompressionReport, configuration: CompressionConfiguration,
        plugins: CompressionPlugins, attention: AttentionDump? = nil, extraAttributes: [String: String] = [:]
    ) throws {
        let file = try HDF5File.create(path: path)
        do {
            let l = snapshot.layers, h = snapshot.kvHeads, n = snapshot.sequenceLength
            try file.createDataset("metrics", values: snapshot.scores, shape: [l, h, n])
            try file.createDataset("evicted", values: snapshot.evicted, shape: [l, h, n])
            try file.createDataset("context_lens", values: snapshot.contextLengths, shape: [l, h])
            try file.createDataset("context_lens_before", values: report.lengthsBefore.map { Int32($0) }, shape: [l, h])
            try file.createDataset("block_tables", values: snapshot.blockTables, shape: [l, h, snapshot.maxBlocks])
            if let attention { try write(attention, to: file) }
            if let scorer = configuration.scorer {
                try file.setAttribute("scorer", scorer.name)
                for (key, value) in plugins.scorer?.settings ?? [:] { try file.setAttribute("scorer.\(key)", attribute(value)) }
            }

            try file.setAttribute("layers", l)
            try file.setAttribute("kv_heads", h)
            try file.setAttribute("prompt_len", n)
            try file.setAttribute("block_size", report.blockSize)
            try file.setAttribute("kv_type", configuration.resolvedKVType.rawValue)
            try file.setAttribute("protected_window", configuration.protectedWindow)
            try file.setAttribute("sinks", configuration.sinks)
            switch configuration.budget {
            case .maxCacheTokens(let t): try file.setAttribute("max_cache_tokens", t)
            case .rate(let r): try file.setAttribute("rate", r)
            case .paperRate(let r): try file.setAttribute("paper_rate", r)
            }
            try file.setAttribute("metric", configuration.metric.name)
            try file.setAttribute("window", configuration.window.name)
            try file.setAttribute("policy", configuration.policy.name)
            try file.setAttribute("block_size_policy", configuration.blockSize.name)
            // The paper's knobs under the names notebooks look for, from the resolved plug-in settings.
            let metricSettings = plugins.metric.settings, windowSettings = plugins.window.settings
            if case .string(let norm)? = metricSettings["norm"] { try file.setAttribute("norm", norm) }
            if case .string(let aggregate)? = metricSettings["aggregate"] { try file.setAttribute("aggregate", aggregate) }
            try file.setAttribute("maxpool", plugins.window.poolKernel ?? 0)
            if case .int(let w)? = windowSettings["queries"] { try file.setAttribute("window_queries", w) }
            try file.setAttribute("buffer", plugins.window.buffer)
            for (prefix, settings) in [("metric", metricSettings), ("window", windowSettings), ("policy", plugins.policy.settings)] {
                for (key, value) in settings { try file.setAttribute("\(prefix).\(key)", attribute(value)) }
            }
            try file.setAttribute("blocks_before", report.blocksBefore)
            try file.setAttribute("blocks_after", report.blocksAfter)
            try file.setAttribute("blocks_freed", report.blocksFreed)
            try file.setAttribute("budget_held", report.budgetHeld ? 1 : 0)
            try file.setAttribute("configuration_json", try configuration.toJSON())
            for (key, value) in extraAttributes { try file.setAttribute(key, value) }
            try file.commit()
        } catch {
            file.discard()
            throw error
        }
    }

    /// Groups `attention` (probabilities, query positions, the selection) and `tensors` (queries, keys,
    /// values), chunked by (layer, query head) and deflated: a 2k-token prompt's window attention is
    /// mostly near-zero floats that compress well.
    private static func write(_ dump: AttentionDump, to file: HDF5File) throws {
        let s = dump.layers.count, q = dump.kvHeads.count * dump.groupSize, w = dump.queryPositions.count
        let n = dump.promptLength, d = dump.headDim
        let group = try file.createGroup("attention")
        try group.createDataset("layers", values: dump.layers.map { Int32($0) }, shape: [s])
        try group.createDataset("kv_heads", values: dump.kvHeads.map { Int32($0) }, shape: [dump.kvHeads.count])
        try group.createDataset("query_positions", values: dump.queryPositions, shape: [w])
        try group.setAttribute("group_size", dump.groupSize)
        if let probabilities = dump.probabilities, w > 0 {
            try group.createDataset("probabilities", values: probabilities, shape: [s, q, w, n], chunks: [1, 1, w, n], deflateLevel: 4)
        }
        guard let keys = dump.keys, let values = dump.values else { return }
        let tensors = try file.createGroup("tensors")
        if let queries = dump.queries, w > 0 {
            try tensors.createDataset("queries", values: queries, shape: [s, q, w, d], chunks: [1, 1, w, d], deflateLevel: 4)
        }
        try tensors.createDataset("keys", values: keys, shape: [s, dump.kvHeads.count, n, d], chunks: [1, 1, n, d], deflateLevel: 4)
        try tensors.createDataset("values", values: values, shape: [s, dump.kvHeads.count, n, d], chunks: [1, 1, n, d], deflateLevel: 4)
    }

    private static func attribute(_ value: OptionValue) -> String {
        switch value {
        case .bool(let b): String(b)
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .string(let s): s
        }
    }
}
