/// Every failure a user can cause while configuring or running compression, each naming its cause
/// and, where there is a choice, the valid alternatives.
public enum CompressionError: Error, Equatable, CustomStringConvertible {
    /// A plug-in name that is not registered; `known` lists the registered names of that kind.
    case unknownPlugin(kind: PluginKind, name: String, known: [String])
    /// A plug-in option with a wrong type or an out-of-range value.
    case invalidOption(plugin: String, key: String, why: String)
    /// Options a plug-in does not read; `known` lists those it does.
    case unknownOptions(plugin: String, keys: [String], known: [String])
    /// A configuration that cannot work (budget impossible, negative window, ...).
    case invalidConfiguration(String)
    /// A configuration file that cannot be read or parsed.
    case unreadableConfiguration(path: String, why: String)
    /// An eviction plan the executor refuses (not whole blocks, touches protected KVs, ...).
    case invalidPlan(policy: String, why: String)

    public var description: String {
        switch self {
        case let .unknownPlugin(kind, name, known):
            "unknown \(kind) '\(name)'; known \(kind.plural): \(known.sorted().joined(separator: ", "))"
        case let .invalidOption(plugin, key, why):
            "option '\(key)' of '\(plugin)': \(why)"
        case let .unknownOptions(plugin, keys, known):
            "unknown option\(keys.count == 1 ? "" : "s") \(keys.sorted().map { "'\($0)'" }.joined(separator: ", ")) for '\(plugin)'; "
                + (known.isEmpty ? "it takes no options" : "it takes: \(known.sorted().joined(separator: ", "))")
        case .invalidConfiguration(let why): "invalid compression configuration: \(why)"
        case let .unreadableConfiguration(path, why):
            path.isEmpty ? "cannot parse compression configuration: \(why)" : "cannot read compression configuration \(path): \(why)"
        case let .invalidPlan(policy, why): "eviction policy '\(policy)' produced an invalid plan: \(why)"
        }
    }
}

/// The four kinds of plug-in (issue: "plug points").
public enum PluginKind: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case metric
    case window
    case policy
    case blockSize = "block size policy"
    case scorer
    public var description: String { rawValue }
    public var plural: String {
        switch self {
        case .metric: "metrics"
        case .window: "windows"
        case .policy: "policies"
        case .blockSize: "block size policies"
        case .scorer: "scorers"
        }
    }
}
