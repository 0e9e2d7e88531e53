import Foundation
import KVCompress

/// Tasks by name, each built by a factory from its options (`{name: niah_multikey, options: {keys: 4}}`),
/// as `PluginRegistry` builds metrics and policies. The built-in tasks register here exactly as a
/// user's task does (`registerBuiltins`), so `kvc sweep --list-tasks` and specifications see both.
public final class TaskRegistry: @unchecked Sendable {
    public typealias Factory = @Sendable (OptionReader) throws -> any EvaluationTask

    private struct Entry {
        let summary: String
        let factory: Factory
    }

    private let lock = NSLock()
    private var entries: [String: Entry] = [:]

    public init() {}

    /// A registry holding the built-in tasks.
    public static func withBuiltins() -> TaskRegistry {
        let registry = TaskRegistry()
        registry.registerBuiltins()
        return registry
    }

    /// Registers `name`; a later registration under the same name replaces the earlier one.
    public func register(task name: String, summary: String, factory: @escaping Factory) {
        lock.withLock { entries[name] = Entry(summary: summary, factory: factory) }
    }

    public var names: [String] { lock.withLock { entries.keys.sorted() } }

    public var summaries: [(name: String, summary: String)] {
        lock.withLock { entries.map { ($0.key, $0.value.summary) }.sorted { $0.name < $1.name } }
    }

    /// Builds the task `spec` names; unknown names and options are errors naming them.
    public func makeTask(_ spec: PluginSpec) throws -> any EvaluationTask {
        guard let entry = lock.withLock({ entries[spec.name] }) else { throw TaskError.unknownTask(name: spec.name, known: names) }
        let reader = OptionReader(plugin: spec.name, values: spec.options)
        let task = try entry.factory(reader)
        try reader.rejectUnread()
        return task
    }
}
