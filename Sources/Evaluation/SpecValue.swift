import Foundation
import Yams

/// A specification's YAML as a plain value tree (maps keep their order), so a sweep can set any key
/// path of a configuration (`window.options.queries`) and hand the result to the one decoder of
/// ``CompressionConfiguration`` (the code behind `kvc --config`), instead of re-declaring its fields.
public indirect enum SpecValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([SpecValue])
    /// Keys in file order: grid axes expand in the order they are written.
    case map([SpecEntry])

    // MARK: - From YAML

    /// Parses YAML (or JSON) text; an empty document is an empty map.
    public static func parse(yaml text: String) throws -> SpecValue {
        guard let node = try Yams.compose(yaml: text) else { return .map([]) }
        return try SpecValue(node: node)
    }

    init(node: Node) throws {
        switch node {
        case .scalar(let scalar):
            // Plain scalars take the type YAML's core schema resolves; quoted ones stay strings.
            if scalar.style != .plain { self = .string(scalar.string); return }
            if node.null != nil { self = .null } else if let b = node.bool { self = .bool(b) } else if let i = node.int { self = .int(i) } else if let d = node.float {
                self = .double(d)
            } else {
                self = .string(scalar.string)
            }
        case .sequence(let sequence): self = .list(try sequence.map { try SpecValue(node: $0) })
        case .mapping(let mapping):
            var entries: [SpecEntry] = []
            for (key, value) in mapping {
                guard let name = key.string else { throw SpecValueError.nonStringKey("\(key)") }
                if entries.contains(where: { $0.key == name }) { throw SpecValueError.duplicateKey(name) }
                entries.append(SpecEntry(key: name, value: try SpecValue(node: value)))
            }
            self = .map(entries)
        }
    }

    // MARK: - Access

    public subscript(key: String) -> SpecValue? {
        guard case .map(let entries) = self else { return nil }
        return entries.first { $0.key == key }?.value
    }

    public var entries: [SpecEntry]? {
        if case .map(let e) = self { return e }
        return nil
    }

    /// This map with `key` set to `value` (appended when new).
    public func setting(_ key: String, to value: SpecValue) -> SpecValue {
        var entries = self.entries ?? []
        if let i = entries.firstIndex(where: { $0.key == key }) { entries[i].value = value } else { entries.append(SpecEntry(key: key, value: value)) }
        return .map(entries)
    }

    /// Sets a dotted key path (`window.options.queries`), creating maps on the way. A plug-in written
    /// as a bare name (`window: last`) becomes `{name: last}` when a path descends into it, as
    /// ``PluginSpec`` reads both forms the same.
    public func setting(path: [String], to value: SpecValue) throws(SpecValueError) -> SpecValue {
        guard let first = path.first else { return value }
        var node = self
        if case .string(let name) = node { node = .map([SpecEntry(key: "name", value: .string(name))]) }
        guard node.entries != nil || node == .null else {
            throw .notAMap(key: first, found: node.description)
        }
        if node == .null { node = .map([]) }
        let child = node[first] ?? .null
        return node.setting(first, to: try child.setting(path: Array(path.dropFirst()), to: value))
    }

    // MARK: - As JSON

    /// JSON text; maps with sorted keys when `canonical` (the form compared between runs).
    public func json(canonical: Bool = true) -> String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return d.isFinite ? (d == d.rounded() && abs(d) < 1e15 ? String(format: "%.1f", d) : "\(d)") : "null"
        case .string(let s): return Self.quote(s)
        case .list(let items): return "[" + items.map { $0.json(canonical: canonical) }.joined(separator: ",") + "]"
        case .map(let entries):
            let ordered = canonical ? entries.sorted { $0.key < $1.key } : entries
            return "{" + ordered.map { Self.quote($0.key) + ":" + $0.value.json(canonical: canonical) }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// The value from JSON text (the form stored in result files).
    public static func parse(json text: String) throws -> SpecValue {
        // JSON is YAML 1.2; Yams keeps map order and scalar types.
        try parse(yaml: text)
    }

    /// Short form for messages: scalars bare, containers as JSON.
    public var description: String {
        switch self {
        case .string(let s): s
        case .int(let i): String(i)
        case .double(let d): d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case .bool(let b): String(b)
        case .null: "null"
        default: json(canonical: false)
        }
    }

    /// The first key path at which two values differ (`grid.rate[2]`), or nil when equal (map order ignored).
    public static func firstDifference(_ a: SpecValue, _ b: SpecValue, path: String = "") -> String? {
        switch (a, b) {
        case (.map(let x), .map(let y)):
            let keys = Set(x.map(\.key)).union(y.map(\.key)).sorted()
            for key in keys {
                let p = path.isEmpty ? key : path + "." + key
                switch (a[key], b[key]) {
                case (nil, nil): continue
                case (nil, .some), (.some, nil): return p
                case (.some(let u), .some(let v)): if let d = firstDifference(u, v, path: p) { return d }
                }
            }
            return nil
        case (.list(let x), .list(let y)):
            for i in 0..<max(x.count, y.count) {
                guard i < x.count, i < y.count else { return "\(path)[\(i)]" }
                if let d = firstDifference(x[i], y[i], path: "\(path)[\(i)]") { return d }
            }
            return nil
        default:
            return a.json() == b.json() ? nil : (path.isEmpty ? "top level" : path)
        }
    }
}

/// One key of a ``SpecValue`` map.
public struct SpecEntry: Sendable, Hashable {
    public var key: String
    public var value: SpecValue
}

public enum SpecValueError: Error, Equatable, CustomStringConvertible {
    case nonStringKey(String)
    case duplicateKey(String)
    case unsupported(String)
    case notAMap(key: String, found: String)

    public var description: String {
        switch self {
        case .nonStringKey(let k): "map key \(k) is not a string"
        case .duplicateKey(let k): "key '\(k)' appears twice in one map"
        case .unsupported(let what): "\(what) are not supported in sweep specifications"
        case let .notAMap(key, found): "cannot set '\(key)' inside \(found), which is a value, not a map"
        }
    }
}
