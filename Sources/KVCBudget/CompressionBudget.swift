/// How much of a sequence's KV cache may stay (KV-Compress §4, "Schedule").
///
/// The one budget type of the package: KVCompress (CPU compression) and KVCCUDA (GPU eviction) both
/// use it. It lives in this leaf module, which depends on nothing (no BLAS, no HDF5), so the statically
/// linked GPU check binary can carry it to a machine that has only the NVIDIA driver.
public enum CompressionBudget: Sendable, Hashable, Codable, CustomStringConvertible {
    /// At most this many KVs per head on average: rounded up to a multiple of the block size, the
    /// sequence keeps at most `ceil(maxCacheTokens * layers * kvHeads / blockSize)` blocks in total.
    case maxCacheTokens(Int)
    /// Compression rate r ≥ 1 relative to the uncompressed cache: the sequence keeps at most
    /// `ceil((len - protected) * L * H / r) + protected * L * H` KVs.
    case rate(Double)
    /// The paper experiments' mapping of a rate to a token budget:
    /// `max_cache_tokens = max(128, ((len / r - 1) // 16) * 16)`.
    case paperRate(Double)

    enum CodingKeys: String, CodingKey {
        case maxCacheTokens = "max_cache_tokens"
        case rate
        case paperRate = "paper_rate"
    }

    public init(from decoder: any Decoder) throws {
        let all = try decoder.container(keyedBy: AnyBudgetKey.self).allKeys.map(\.stringValue)
        let known = ["max_cache_tokens", "paper_rate", "rate"]
        let unknown = all.filter { !known.contains($0) }
        guard unknown.isEmpty else {
            throw BudgetError(
                "unknown budget key\(unknown.count == 1 ? "" : "s") \(unknown.sorted().map { "'\($0)'" }.joined(separator: ", ")); known: \(known.joined(separator: ", "))")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let given = c.allKeys
        guard given.count == 1, let key = given.first else {
            throw BudgetError(
                "the budget needs exactly one of max_cache_tokens, rate, paper_rate (got \(given.isEmpty ? "none" : given.map(\.stringValue).joined(separator: " and ")))")
        }
        switch key {
        case .maxCacheTokens: self = .maxCacheTokens(try c.decode(Int.self, forKey: key))
        case .rate: self = .rate(try c.decode(Double.self, forKey: key))
        case .paperRate: self = .paperRate(try c.decode(Double.self, forKey: key))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .maxCacheTokens(let n): try c.encode(n, forKey: .maxCacheTokens)
        case .rate(let r): try c.encode(r, forKey: .rate)
        case .paperRate(let r): try c.encode(r, forKey: .paperRate)
        }
    }

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
    public func limit(sequenceLength len: Int, layers: Int, kvHeads: Int, blockSize bs: Int, protectedWindow: Int) -> BudgetLimit {
        let heads = layers * kvHeads
        func tokens(_ n: Int) -> BudgetLimit {
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

/// A budget resolved for one sequence: a cap on its blocks or on its KVs (over all layers and heads).
public enum BudgetLimit: Sendable, Hashable, CustomStringConvertible {
    case blocks(Int)
    case kvs(Int)

    /// Whether keeping `blocks` blocks holding `kvs` KVs satisfies the limit.
    @inlinable public func holds(blocks: Int, kvs: Int) -> Bool {
        switch self {
        case .blocks(let max): blocks <= max
        case .kvs(let max): kvs <= max
        }
    }

    /// The limit divided evenly over `parts` heads (rounded down, so the parts together hold the whole).
    public func share(of parts: Int) -> BudgetLimit {
        switch self {
        case .blocks(let n): .blocks(n / parts)
        case .kvs(let n): .kvs(n / parts)
        }
    }

    public var description: String {
        switch self {
        case .blocks(let n): "≤ \(n) blocks"
        case .kvs(let n): "≤ \(n) KVs"
        }
    }
}

/// A budget written wrongly in a configuration file; KVCompress reports it as an invalid configuration.
public struct BudgetError: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

struct AnyBudgetKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
