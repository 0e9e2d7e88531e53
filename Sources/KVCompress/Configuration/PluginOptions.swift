/// One option value of a plug-in, as written in YAML/JSON or on the command line.
public enum OptionValue: Sendable, Hashable, Codable, CustomStringConvertible, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral, ExpressibleByStringLiteral
{
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)

    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(stringLiteral value: String) { self = .string(value) }

    /// Decodes the narrowest type that fits, string last because YAML scalars always decode as strings.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? container.decode(Int.self) {
            self = .int(i)
        } else if let d = try? container.decode(Double.self) {
            self = .double(d)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "a plug-in option must be a boolean, number or string")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .bool(let b): try container.encode(b)
        case .int(let i): try container.encode(i)
        case .double(let d): try container.encode(d)
        case .string(let s): try container.encode(s)
        }
    }

    public var description: String {
        switch self {
        case .bool(let b): "\(b)"
        case .int(let i): "\(i)"
        case .double(let d): "\(d)"
        case .string(let s): "\"\(s)\""
        }
    }
}

/// Names a plug-in and its options: `{name: kvcompress, options: {norm: l2, aggregate: sum}}`.
/// In YAML/JSON a bare string `kvcompress` means the plug-in with default options.
public struct PluginSpec: Sendable, Hashable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var name: String
    public var options: [String: OptionValue]

    public init(_ name: String, options: [String: OptionValue] = [:]) {
        self.name = name
        self.options = options
    }
    public init(stringLiteral name: String) { self.init(name) }

    enum CodingKeys: String, CodingKey { case name, options }

    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let name = try? single.decode(String.self) {
            self.init(name)
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try rejectUnknownKeys(in: decoder, known: ["name", "options"], context: "plug-in")
        self.init(
            try container.decode(String.self, forKey: .name),
            options: try container.decodeIfPresent([String: OptionValue].self, forKey: .options) ?? [:])
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        if !options.isEmpty { try container.encode(options, forKey: .options) }
    }

    public var description: String {
        options.isEmpty
            ? name
            : "\(name)(\(options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")))"
    }
}

/// Reads a plug-in's options with typed accessors and remembers which keys were read, so the
/// registry can reject keys the plug-in does not know (typos) with the list of those it does.
public final class OptionReader {
    public let plugin: String
    private let values: [String: OptionValue]
    private(set) var readKeys: Set<String> = []

    public init(plugin: String, values: [String: OptionValue]) {
        self.plugin = plugin
        self.values = values
    }

    private func value(_ key: String) -> OptionValue? {
        readKeys.insert(key)
        return values[key]
    }

    private func invalid(_ key: String, _ why: String) -> CompressionError {
        .invalidOption(plugin: plugin, key: key, why: why)
    }

    public func int(_ key: String, default fallback: Int, in range: ClosedRange<Int> = Int.min...Int.max) throws(CompressionError) -> Int {
        guard let v = value(key) else { return fallback }
        let i: Int
        switch v {
        case .int(let x): i = x
        case .double(let d) where d.rounded() == d && abs(d) < 1e15: i = Int(d)
        case .string(let s) where Int(s) != nil: i = Int(s)!
        default: throw invalid(key, "expected an integer, got \(v)")
        }
        guard range.contains(i) else { throw invalid(key, "\(i) is outside \(Self.describe(range))") }
        return i
    }

    /// An integer option that may be absent or explicitly `none`/`null`-like (`0` is a value, not absence).
    public func optionalInt(_ key: String, in range: ClosedRange<Int> = Int.min...Int.max) throws(CompressionError) -> Int? {
        guard let v = value(key) else { return nil }
        if case .string(let s) = v, ["none", "off", "null"].contains(s.lowercased()) { return nil }
        return try int(key, default: 0, in: range)
    }

    /// A number option; outside `range` (e.g. `0...1` for a fraction) is an error naming the range.
    public func double(
        _ key: String, default fallback: Double, in range: ClosedRange<Double> = -Double.infinity...Double.infinity
    ) throws(CompressionError) -> Double {
        guard let v = value(key) else { return fallback }
        let d: Double
        switch v {
        case .int(let x): d = Double(x)
        case .double(let x): d = x
        case .string(let s) where Double(s) != nil: d = Double(s)!
        default: throw invalid(key, "expected a number, got \(v)")
        }
        guard range.contains(d) else { throw invalid(key, "\(d) is outside \(range.lowerBound)...\(range.upperBound)") }
        return d
    }

    public func bool(_ key: String, default fallback: Bool) throws(CompressionError) -> Bool {
        guard let v = value(key) else { return fallback }
        switch v {
        case .bool(let b): return b
        case .string(let s) where ["true", "yes", "on"].contains(s.lowercased()): return true
        case .string(let s) where ["false", "no", "off"].contains(s.lowercased()): return false
        default: throw invalid(key, "expected true or false, got \(v)")
        }
    }

    public func string(_ key: String, default fallback: String, allowed: [String]? = nil) throws(CompressionError) -> String {
        guard let v = value(key) else { return fallback }
        let s: String
        switch v {
        case .string(let x): s = x
        case .int(let x): s = String(x)
        case .double(let x): s = String(x)
        case .bool(let x): s = String(x)
        }
        if let allowed, !allowed.contains(s) {
            throw invalid(key, "'\(s)' is not one of \(allowed.joined(separator: ", "))")
        }
        return s
    }

    /// A string option that may be absent (`nil`), e.g. an optional file path.
    public func optionalString(_ key: String) throws(CompressionError) -> String? {
        guard values[key] != nil else {
            readKeys.insert(key)
            return nil
        }
        return try string(key, default: "")
    }

    /// A comma-separated list of integers (`"16,16,32"`) or a single integer.
    public func intList(_ key: String, default fallback: [Int]) throws(CompressionError) -> [Int] {
        guard let v = value(key) else { return fallback }
        switch v {
        case .int(let i): return [i]
        case .string(let s):
            let parts = s.split(separator: ",").map { $0.trimmingCharacters() }
            let ints = parts.compactMap { Int($0) }
            guard ints.count == parts.count, !ints.isEmpty else { throw invalid(key, "expected integers separated by commas, got \(v)") }
            return ints
        default: throw invalid(key, "expected integers separated by commas, got \(v)")
        }
    }

    /// Throws when options were given that the plug-in never read.
    public func rejectUnread() throws(CompressionError) {
        let unknown = Set(values.keys).subtracting(readKeys)
        guard unknown.isEmpty else {
            throw .unknownOptions(plugin: plugin, keys: Array(unknown), known: Array(readKeys))
        }
    }

    private static func describe(_ range: ClosedRange<Int>) -> String {
        switch (range.lowerBound, range.upperBound) {
        case (Int.min, Int.max): "all integers"
        case (let lo, Int.max): "\(lo)..."
        case (Int.min, let hi): "...\(hi)"
        case (let lo, let hi): "\(lo)...\(hi)"
        }
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}

/// Rejects keys of a keyed container that are not in `known` (typos in configuration files).
func rejectUnknownKeys(in decoder: any Decoder, known: Set<String>, context: String) throws {
    let all = try decoder.container(keyedBy: AnyCodingKey.self).allKeys.map(\.stringValue)
    let unknown = all.filter { !known.contains($0) }
    guard unknown.isEmpty else {
        throw CompressionError.invalidConfiguration(
            "unknown \(context) key\(unknown.count == 1 ? "" : "s") \(unknown.sorted().map { "'\($0)'" }.joined(separator: ", ")); known: \(known.sorted().joined(separator: ", "))")
    }
}

struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}
