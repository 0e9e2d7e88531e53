/// How much of a sequence's KV cache may stay after a GPU compression (KV-Compress §4, "Schedule").
///
/// The same three budgets, and the same arithmetic, as `CompressionBudget` in
/// Sources/KVCompress/Protocols/CompressionBudget.swift, re-implemented here because KVCCUDA must not
/// depend on KVCompress (the GPU check binary is linked statically and carried to a machine without
/// BLAS or HDF5). Tests/KVCCUDATests/EvictionReferenceTests.swift checks both give equal limits.
public enum EvictionBudget: Sendable, Hashable, CustomStringConvertible {
    /// At most this many KVs per head on average: rounded up to a multiple of the block size, the
    /// sequence keeps at most `ceil(maxCacheTokens * layers * kvHeads / blockSize)` blocks in total.
    case maxCacheTokens(Int)
    /// Compression rate r ≥ 1: the sequence keeps at most
    /// `ceil((len - protected) * L * H / r) + protected * L * H` KVs.
    case rate(Double)
    /// The paper experiments' mapping of a rate to a token budget:
    /// `max_cache_tokens = max(128, ((len / r - 1) // 16) * 16)`.
    case paperRate(Double)

    public var description: String {
        switch self {
        case .maxCacheTokens(let n): "max_cache_tokens \(n)"
        case .rate(let r): "rate \(r)x"
        case .paperRate(let r): "paper rate \(r)x"
        }
    }

    /// Why this budget can never be met with the given protected KVs, or nil when it can.
    public func impossibility(protectedWindow: Int, sinks: Int) -> String? {
        switch self {
        case .maxCacheTokens(let n):
            if n <= 0 { return "max_cache_tokens must be positive (got \(n))" }
            if n < protectedWindow + sinks {
                return "max_cache_tokens \(n) is below the \(protectedWindow) protected + \(sinks) sink positions every head must keep; raise max_cache_tokens or lower protected_window/sinks"
            }
        case .rate(let r), .paperRate(let r):
            if !(r >= 1) || !r.isFinite {
                return "the compression rate must be a finite number ≥ 1 (uncompressed / kept KVs; 8 keeps about 1/8), got \(r)"
            }
        }
        return nil
    }

    /// The limit for a sequence of `sequenceLength` processed tokens.
    public func limit(sequenceLength len: Int, layers: Int, kvHeads: Int, blockSize bs: Int, protectedWindow: Int) -> EvictionLimit {
        let heads = layers * kvHeads
        func tokens(_ n: Int) -> EvictionLimit {
            let rounded = (n + bs - 1) / bs * bs
            return .blocks((rounded * heads + bs - 1) / bs)
        }
        switch self {
        case .maxCacheTokens(let n):
            return tokens(n)
        case .rate(let r):
            let protected = min(protectedWindow, len)
            let compressible = Double((len - protected) * heads) / r
            return .kvs(Int(compressible.rounded(.up)) + protected * heads)
        case .paperRate(let r):
            let n = max(128, ((Int(Double(len) / r) - 1) / 16) * 16)
            return tokens(n)
        }
    }
}

/// A budget resolved for one sequence: a cap on its physical blocks or on its KVs, over all layers and
/// heads together.
public enum EvictionLimit: Sendable, Hashable, CustomStringConvertible {
    case blocks(Int)
    case kvs(Int)

    /// Whether keeping `blocks` blocks holding `kvs` KVs satisfies the limit.
    public func holds(blocks: Int, kvs: Int) -> Bool {
        switch self {
        case .blocks(let max): blocks <= max
        case .kvs(let max): kvs <= max
        }
    }

    public var description: String {
        switch self {
        case .blocks(let n): "≤ \(n) blocks"
        case .kvs(let n): "≤ \(n) KVs"
        }
    }
}
