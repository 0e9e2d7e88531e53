import KVCompress

/// The last w prompt queries (KV-Compress default; w = 8 for the 8B LongBench runs, 32 for larger
/// models), optionally every decode query, the buffer b and the max-pool kernel.
///
/// Options: `queries` (w, default 8), `decode` (default true), `buffer` (b, default 0),
/// `pool_kernel` (default 7; 0 or 1 disables), `maxpool` (default true; false disables pooling).
public struct LastQueriesWindow: AggregationWindow {
    public let queries: Int
    public let observesDecode: Bool
    public let buffer: Int
    public let poolKernel: Int?

    public init(queries: Int = 8, observesDecode: Bool = true, buffer: Int = 0, poolKernel: Int? = 7) {
        self.queries = queries
        self.observesDecode = observesDecode
        self.buffer = buffer
        self.poolKernel = poolKernel
    }

    init(options: OptionReader) throws {
        try self.init(queries: try options.int("queries", default: 8, in: 1...Int.max), common: options, defaultPool: 7)
    }

    /// Reads the options every window shares.
    init(queries: Int, common options: OptionReader, defaultPool: Int) throws {
        self.queries = queries
        observesDecode = try options.bool("decode", default: true)
        buffer = try options.int("buffer", default: 0, in: 0...Int.max)
        let kernel = try options.int("pool_kernel", default: defaultPool, in: 0...4097)
        let pooling = try options.bool("maxpool", default: true)
        poolKernel = pooling && kernel > 1 ? kernel : nil
    }

    public func observedQueries(chunkLength: Int, startPosition: Int) -> Range<Int> {
        max(0, chunkLength - queries)..<chunkLength
    }

    public var settings: [String: OptionValue] {
        ["queries": .int(queries), "decode": .bool(observesDecode), "buffer": .int(buffer), "pool_kernel": .int(poolKernel ?? 0)]
    }
}

/// Every prompt query ("KVC-full" in the paper: the whole prompt, no max-pool by default).
///
/// Options: `decode` (default true), `buffer` (default 0), `pool_kernel` (default 0 = off), `maxpool`.
public struct FullPromptWindow: AggregationWindow {
    public let observesDecode: Bool
    public let buffer: Int
    public let poolKernel: Int?

    public init(observesDecode: Bool = true, buffer: Int = 0, poolKernel: Int? = nil) {
        self.observesDecode = observesDecode
        self.buffer = buffer
        self.poolKernel = poolKernel
    }

    init(options: OptionReader) throws {
        let shared = try LastQueriesWindow(queries: Int.max, common: options, defaultPool: 0)
        self.init(observesDecode: shared.observesDecode, buffer: shared.buffer, poolKernel: shared.poolKernel)
    }

    public func observedQueries(chunkLength: Int, startPosition: Int) -> Range<Int> { 0..<chunkLength }
}
