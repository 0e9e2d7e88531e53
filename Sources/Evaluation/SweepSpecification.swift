import EvaluationTasks
import EvictionPolicies
import Foundation
import KVCompress

/// What a sweep runs (`kvc sweep --spec FILE`). A base compression configuration in the schema of
/// `kvc --config` (decoded by the same ``CompressionConfiguration`` code), the methods compared, and
/// axes over any configuration key:
///
/// ```yaml
/// model: models/SmolLM2-135M-Instruct.Q4_1.gguf   # optional (else `--model`); or a list: the model axis
/// configuration:                  # exactly a `kvc --config` file; `budget` may be left out (rate 1)
///   window: {name: last, options: {queries: 8}}
///   block_size: {name: fixed, options: {size: 16}}
///   protected_window: 32
///   schedule: {after_prefill: true, interval: 0, under_memory_pressure: false}
/// tasks: [{name: passkey}, {name: niah_multikey, options: {keys: 4}}]   # or `task: passkey`
/// lengths: [1200, 3500]           # target tokens of document + question
/// prompts: 20                     # seeded documents per (task, length): seeds seed, seed+1, ...
/// seed: 1000
/// question: aware                 # aware | agnostic (also an axis); default aware
/// max_new_tokens: 8               # default: the task's (also an axis)
/// prefill_tail: 128               # optional: cells observing only the prompt's last 128 tokens share
///                                 # one prefill of the rest (SweepRunner, "Sharing"); default 0: none
/// methods:
///   - kvcompress                  # a preset (metric + window + policy) or a registered policy
///   - snapkv
///   - {name: kvc-even, preset: kvcompress, policy: {name: kvcompress, options: {even_layer_evict: true}}}
///   - {name: mine, metric: kvcompress, window: last, policy: my_policy}   # composed by name
/// grid:                           # cartesian product, first key outermost
///   rate: [1, 2, 4, 8]            # shorthand for `budget: {rate: R}`
///   window.options.queries: [8, 32]
/// zip:                            # keys that vary together (a map, or a list of such maps)
///   protected_window: [16, 32]
///   sinks: [0, 4]
/// ```
///
/// Cells are methods × grid × each zip group. Each cell's configuration is the base, then the method's
/// preset and keys, then the cell's axis values set at their key paths, decoded and validated; a cell
/// that cannot run is rejected before any model work, naming its axis values and the key at fault.
/// Rate 1 (`budget: {rate: 1}`) is the full cache: the sweep skips its compression.
public struct SweepSpecification: Sendable {
    /// The file as parsed: what `--resume` and `kvc sweep merge` compare (map order ignored).
    public let source: SpecValue
    public let tasks: [PluginSpec]
    public let lengths: [Int]
    public let prompts: Int
    public let seed: UInt64
    /// The GGUF model file the sweep runs (`model: PATH`; `kvc sweep --model` when absent), as written:
    /// relative paths are resolved from the working directory. nil when `model:` is a list.
    public let model: String?
    /// The models of a model axis (`model: [A, B]`), in order; nil when `model:` names one file or none.
    /// The sweep runs once per model, each into its own results file (``SweepModelAxis``): a file's
    /// per-head arrays are shaped by its model's layers and KV heads, so one file holds one model.
    public let modelAxis: [String]?
    /// The axis keys, in expansion order: `method` first, then the grid's, then each zip group's.
    public let axisKeys: [String]
    public let cells: [SweepCell]
    /// `prefill_tail`: when > 0, the prompt (document + question, or the document alone) is prefilled
    /// in two chunks, all but its last `prefillTail` tokens once with no observer, and the tail once
    /// per metric group, observed; a group whose window reads queries before the tail prefills the
    /// whole prompt itself. 0 (the default): every group prefills the whole prompt in one chunk.
    /// Part of the specification because the split changes the association of attention's sums, so
    /// greedy answers may differ from a one-chunk prefill where the model is unsure.
    public let prefillTail: Int

    static let topLevelKeys = [
        "model", "configuration", "methods", "task", "tasks", "lengths", "prompts", "seed", "question", "max_new_tokens", "prefill_tail", "grid", "zip",
    ]
    /// Axes that are settings of the sweep rather than configuration keys.
    static let sweepAxes: Set<String> = ["question", "max_new_tokens", "rate"]

    /// The seed of prompt `index` of every (task, length).
    public func seed(ofPrompt index: Int) -> UInt64 { seed &+ UInt64(index) }

    /// Every document, in run order: task, then length, then prompt.
    public var units: [SweepUnit] {
        tasks.indices.flatMap { t in lengths.indices.flatMap { l in (0..<prompts).map { SweepUnit(task: t, length: l, prompt: $0) } } }
    }

    /// The canonical text of ``source``, stored in result files.
    public var canonicalJSON: String { source.json(canonical: true) }

    // MARK: - Loading

    /// Loads and checks a specification file (YAML or JSON).
    public static func load(path: String, plugins: PluginRegistry, tasks: TaskRegistry) throws(EvaluationError) -> SweepSpecification {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .unreadableSpecification(path: path, why: FileManager.default.fileExists(atPath: path) ? error.localizedDescription : "no such file")
        }
        do { return try parse(yaml: text, plugins: plugins, tasks: tasks) } catch {
            if case .invalidSpecification(let why) = error { throw .unreadableSpecification(path: path, why: why) }
            throw error
        }
    }

    /// Parses and checks a specification; every cell's configuration is built and validated.
    public static func parse(yaml text: String, plugins: PluginRegistry, tasks taskRegistry: TaskRegistry) throws(EvaluationError) -> SweepSpecification {
        let source: SpecValue
        do { source = try SpecValue.parse(yaml: text) } catch { throw .invalidSpecification("not valid YAML: \(error)") }
        return try SweepSpecification(source: source, plugins: plugins, tasks: taskRegistry)
    }

    /// The specification a results file records, with its cells in the order the sweep ran them.
    ///
    /// A trial names its cell by index, and cells are the cartesian product of the grid's keys in the
    /// order they are written; the canonical JSON sorts map keys (so that `--resume` and merges ignore
    /// layout), which reorders the cells of a grid whose keys are not in alphabetical order
    /// (`rate` then `kv_type`). So the cells are expanded again from the file's own specification text,
    /// and that text must be the specification its canonical JSON records.
    public init(recordedIn results: SweepResults, path: String, plugins: PluginRegistry, tasks taskRegistry: TaskRegistry) throws(EvaluationError) {
        let source: SpecValue
        do { source = try SpecValue.parse(yaml: results.specificationText) } catch {
            throw .unreadableResults(path: path, why: "its spec_yaml does not parse: \(error)")
        }
        guard source.json(canonical: true) == results.header.specification else {
            throw .unreadableResults(path: path, why: "its spec_yaml is not the specification its specification_json records (the file was altered)")
        }
        try self.init(source: source, plugins: plugins, tasks: taskRegistry)
    }

    public init(source: SpecValue, plugins: PluginRegistry, tasks taskRegistry: TaskRegistry) throws(EvaluationError) {
        func invalid(_ why: String) -> EvaluationError { .invalidSpecification(why) }
        guard let entries = source.entries else { throw invalid("the top level must be a map of keys (configuration, methods, tasks, lengths, ...)") }
        let unknown = entries.map(\.key).filter { !Self.topLevelKeys.contains($0) }
        guard unknown.isEmpty else {
            throw invalid("unknown key\(unknown.count == 1 ? "" : "s") \(unknown.map { "'\($0)'" }.joined(separator: ", ")); known: \(Self.topLevelKeys.joined(separator: ", "))")
        }
        self.source = source

        // Tasks: built once here so an unknown task or option fails now.
        var tasks: [PluginSpec] = []
        switch (source["task"], source["tasks"]) {
        case (.some, .some): throw invalid("give `task:` or `tasks:`, not both")
        case (nil, nil): throw invalid("missing key 'tasks' (e.g. `tasks: [{name: passkey}]` or `task: passkey`)")
        case (.some(let one), nil): tasks = [try Self.pluginSpec(one, key: "task")]
        case (nil, .some(let many)):
            guard case .list(let items) = many, !items.isEmpty else { throw invalid("tasks must be a non-empty list") }
            tasks = try items.enumerated().map { (i, item) throws(EvaluationError) in try Self.pluginSpec(item, key: "tasks[\(i)]") }
        }
        guard Set(tasks).count == tasks.count else { throw invalid("a task with the same options appears twice in tasks") }
        for (i, task) in tasks.enumerated() {
            do { _ = try taskRegistry.makeTask(task) } catch { throw invalid("tasks[\(i)] (\(task.name)): \(error)") }
        }
        self.tasks = tasks

        lengths = try Self.intList(source["lengths"], key: "lengths", minimum: 16)
        guard Set(lengths).count == lengths.count else { throw invalid("lengths has duplicates: \(lengths)") }
        guard let prompts = source["prompts"] else { throw invalid("missing key 'prompts' (seeded documents per task and length)") }
        guard case .int(let count) = prompts, count >= 1 else { throw invalid("prompts must be an integer ≥ 1 (got \(prompts))") }
        self.prompts = count
        switch source["prefill_tail"] {
        case nil: prefillTail = 0
        case .int(let tail)? where tail >= 0: prefillTail = tail
        case let other?: throw invalid("prefill_tail must be an integer ≥ 0, the prompt's last tokens prefilled once per metric group (got \(other))")
        }
        switch source["seed"] {
        case nil: seed = 0
        case .int(let s)? where s >= 0: seed = UInt64(s)
        case let other?: throw invalid("seed must be an integer ≥ 0 (got \(other))")
        }

        switch source["model"] {
        case nil: (model, modelAxis) = (nil, nil)
        case .string(let path)? where !path.isEmpty: (model, modelAxis) = (path, nil)
        case .list(let items)?: (model, modelAxis) = (nil, try SweepModelAxis.paths(items))
        case let other?: throw invalid("model must be the path of a GGUF file or a non-empty list of them (got \(other))")
        }

        // The base configuration, with a full-cache budget when it names none (the grid usually sets it).
        var base = source["configuration"] ?? .map([])
        guard base.entries != nil else { throw invalid("configuration must be a map in the schema of `kvc --config`") }
        if base["budget"] == nil { base = base.setting("budget", to: .map([SpecEntry(key: "rate", value: .int(1))])) }

        let methods = try Self.methods(source["methods"], plugins: plugins)

        // Axes: grid keys (cartesian), then zip groups (each a list of value tuples).
        var axisKeys: [String] = ["method"]
        var axes: [[[SpecEntry]]] = [methods.map { [SpecEntry(key: "method", value: .string($0.name))] }]
        if let grid = source["grid"] {
            guard let gridEntries = grid.entries else { throw invalid("grid must be a map from key path to a list of values") }
            for entry in gridEntries {
                try Self.checkAxisKey(entry.key, seen: axisKeys)
                guard case .list(let values) = entry.value, !values.isEmpty else { throw invalid("grid.\(entry.key) must be a non-empty list of values") }
                guard Set(values.map { $0.json() }).count == values.count else { throw invalid("grid.\(entry.key) has duplicate values") }
                axisKeys.append(entry.key)
                axes.append(values.map { [SpecEntry(key: entry.key, value: $0)] })
            }
        }
        if let zipped = source["zip"] {
            let groups: [SpecValue]
            switch zipped {
            case .map: groups = [zipped]
            case .list(let items): groups = items
            default: throw invalid("zip must be a map of equally long lists, or a list of such maps")
            }
            for (g, group) in groups.enumerated() {
                guard let groupEntries = group.entries, !groupEntries.isEmpty else { throw invalid("zip group \(g) must be a non-empty map") }
                var columns: [[SpecValue]] = []
                for entry in groupEntries {
                    try Self.checkAxisKey(entry.key, seen: axisKeys)
                    guard case .list(let values) = entry.value, !values.isEmpty else { throw invalid("zip.\(entry.key) must be a non-empty list of values") }
                    if let first = columns.first, first.count != values.count {
                        throw invalid("zip keys vary together, so their lists need one length: \(groupEntries[0].key) has \(first.count) values, \(entry.key) has \(values.count)")
                    }
                    axisKeys.append(entry.key)
                    columns.append(values)
                }
                axes.append((0..<columns[0].count).map { row in zip(groupEntries, columns).map { SpecEntry(key: $0.key, value: $1[row]) } })
            }
        }
        self.axisKeys = axisKeys

        // The question placement and answer length shared by every cell unless an axis sets them.
        let defaultPlacement = try Self.placement(source["question"] ?? .string("aware"), key: "question")
        let defaultMaxNewTokens: Int? = try source["max_new_tokens"].map { v throws(EvaluationError) in try Self.maxNewTokens(v, key: "max_new_tokens") }

        var cells: [SweepCell] = []
        var combination = [Int](repeating: 0, count: axes.count)
        outer: while true {
            let values = zip(axes, combination).flatMap { $0[$1] }
            let label = values.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
            let method = methods[combination[0]]
            var tree = base
            func set(_ key: String, _ value: SpecValue) throws(EvaluationError) {
                do { tree = try tree.setting(path: key.split(separator: ".").map(String.init), to: value) } catch {
                    throw .invalidCell(cell: label, why: "key \(key): \(error)")
                }
            }
            for entry in method.overrides { try set(entry.key, entry.value) }
            var placement = defaultPlacement, maxNew = defaultMaxNewTokens
            for entry in values.dropFirst() {
                switch entry.key {
                case "question": placement = try Self.placement(entry.value, key: "question", cell: label)
                case "max_new_tokens": maxNew = try Self.maxNewTokens(entry.value, key: "max_new_tokens", cell: label)
                case "rate": try set("budget", .map([SpecEntry(key: "rate", value: entry.value)]))
                default: try set(entry.key, entry.value)
                }
            }
            let configuration: CompressionConfiguration
            do {
                configuration = try CompressionConfiguration.fromJSON(tree.json(canonical: false))
                _ = try Compressor(configuration: configuration, registry: plugins)
            } catch {
                throw .invalidCell(cell: label, why: "\(error)")
            }
            cells.append(
                SweepCell(
                    index: cells.count, method: method.name, axes: Array(values.dropFirst()), label: label, configuration: configuration,
                    question: placement, maxNewTokens: maxNew))
            // Next combination, last axis fastest.
            var axis = axes.count - 1
            while axis >= 0 {
                combination[axis] += 1
                if combination[axis] < axes[axis].count { continue outer }
                combination[axis] = 0
                axis -= 1
            }
            break
        }
        self.cells = cells
    }

    // MARK: - Pieces

    /// A method: its name and the configuration keys it sets (its preset's metric, window and policy, then its own keys).
    struct Method {
        let name: String
        let overrides: [SpecEntry]
    }

    static func methods(_ value: SpecValue?, plugins: PluginRegistry) throws(EvaluationError) -> [Method] {
        func invalid(_ why: String) -> EvaluationError { .invalidSpecification(why) }
        guard let value else { throw invalid("missing key 'methods' (e.g. `methods: [kvcompress, snapkv]`)") }
        guard case .list(let items) = value, !items.isEmpty else { throw invalid("methods must be a non-empty list") }
        let presets = plugins.registeredPresets.map(\.name)
        func preset(_ name: String, key: String) throws(EvaluationError) -> [SpecEntry] {
            if let m = plugins.preset(named: name) {
                var entries = [
                    SpecEntry(key: "metric", value: m.metric.specValue), SpecEntry(key: "window", value: m.window.specValue),
                    SpecEntry(key: "policy", value: m.policy.specValue),
                ]
                if let scorer = m.scorer { entries.append(SpecEntry(key: "scorer", value: scorer.specValue)) }
                return entries
            }
            if plugins.names(.policy).contains(name) { return [SpecEntry(key: "policy", value: .string(name))] }
            throw invalid(
                "\(key): unknown method '\(name)'; presets: \(presets.joined(separator: ", ")); policies: \(plugins.names(.policy).joined(separator: ", "))")
        }
        var result: [Method] = []
        for (i, item) in items.enumerated() {
            let key = "methods[\(i)]"
            switch item {
            case .string(let name): result.append(Method(name: name, overrides: try preset(name, key: key)))
            case .map(let entries):
                guard case .string(let name)? = item["name"], !name.isEmpty else { throw invalid("\(key) needs a `name`") }
                var overrides: [SpecEntry] = []
                if let p = item["preset"] {
                    guard case .string(let presetName) = p else { throw invalid("\(key).preset must be a method name") }
                    overrides = try preset(presetName, key: "\(key).preset")
                }
                for entry in entries where entry.key != "name" && entry.key != "preset" {
                    guard CompressionConfiguration.keys.contains(entry.key) else {
                        throw invalid("\(key) (\(name)): unknown key '\(entry.key)'; a method takes name, preset and configuration keys (\(CompressionConfiguration.keys.sorted().joined(separator: ", ")))")
                    }
                    overrides.append(entry)
                }
                result.append(Method(name: name, overrides: overrides))
            default: throw invalid("\(key) must be a method name or a map {name, preset, metric, window, policy, ...}")
            }
        }
        let names = result.map(\.name)
        if let twice = names.first(where: { n in names.filter { $0 == n }.count > 1 }) { throw invalid("method name '\(twice)' appears twice") }
        return result
    }

    static func checkAxisKey(_ key: String, seen: [String]) throws(EvaluationError) {
        func invalid(_ why: String) -> EvaluationError { .invalidSpecification(why) }
        if key == "method" || key == "methods" { throw invalid("'\(key)' cannot be an axis: the methods come from `methods:`") }
        if ["task", "tasks", "lengths", "length", "prompts", "seed", "prefill_tail"].contains(key) { throw invalid("'\(key)' cannot be an axis: give it at the top level") }
        if seen.contains(key) { throw invalid("axis '\(key)' appears twice (grid and zip keys must be distinct)") }
        let root = String(key.split(separator: ".").first ?? "")
        guard sweepAxes.contains(key) || CompressionConfiguration.keys.contains(root) else {
            throw invalid(
                "unknown axis key '\(key)'; an axis is question, max_new_tokens, rate, or a configuration key path starting with one of \(CompressionConfiguration.keys.sorted().joined(separator: ", "))")
        }
        if sweepAxes.contains(root) && key != root { throw invalid("axis '\(key)': \(root) has no sub-keys") }
    }

    static func placement(_ value: SpecValue, key: String, cell: String? = nil) throws(EvaluationError) -> QuestionPlacement {
        guard case .string(let s) = value, let p = QuestionPlacement(rawValue: s) else {
            let why = "\(key) must be aware or agnostic (got \(value))"
            throw cell.map { .invalidCell(cell: $0, why: why) } ?? .invalidSpecification(why)
        }
        return p
    }

    static func maxNewTokens(_ value: SpecValue, key: String, cell: String? = nil) throws(EvaluationError) -> Int {
        guard case .int(let n) = value, (1...256).contains(n) else {
            let why = "\(key) must be an integer in 1...256 (got \(value))"
            throw cell.map { .invalidCell(cell: $0, why: why) } ?? .invalidSpecification(why)
        }
        return n
    }

    static func intList(_ value: SpecValue?, key: String, minimum: Int) throws(EvaluationError) -> [Int] {
        guard let value else { throw .invalidSpecification("missing key '\(key)'") }
        guard case .list(let items) = value, !items.isEmpty else { throw .invalidSpecification("\(key) must be a non-empty list of integers") }
        return try items.map { item throws(EvaluationError) in
            guard case .int(let i) = item, i >= minimum else { throw .invalidSpecification("\(key): \(item) is not an integer ≥ \(minimum)") }
            return i
        }
    }

    static func pluginSpec(_ value: SpecValue, key: String) throws(EvaluationError) -> PluginSpec {
        do { return try JSONDecoder().decode(PluginSpec.self, from: Data(value.json(canonical: false).utf8)) } catch {
            throw .invalidSpecification("\(key) must be a name or {name: ..., options: {...}} (got \(value)): \(error)")
        }
    }
}

/// Where the question goes relative to compression (issue 10; kvpress's default is agnostic).
public enum QuestionPlacement: String, Sendable, Hashable, Codable, CaseIterable {
    /// Document and question prefilled together and observed by the metric, then compressed.
    case aware
    /// The document alone prefilled, observed and compressed once; each question then prefilled
    /// through a fork of the compressed cache, unobserved.
    case agnostic
}

/// One point of the grid: a method and its axis values, resolved to a configuration.
public struct SweepCell: Sendable, Hashable {
    public let index: Int
    public let method: String
    /// The cell's values of every axis but `method`, in ``SweepSpecification/axisKeys`` order.
    public let axes: [SpecEntry]
    /// `method=snapkv, rate=4, window.options.queries=8`.
    public let label: String
    public let configuration: CompressionConfiguration
    public let question: QuestionPlacement
    /// Tokens the answer may take; nil: the task's own.
    public let maxNewTokens: Int?

    /// Whether the cell compresses at all: rate 1 keeps every KV, so it is the full cache and runs no compression.
    public var compresses: Bool { configuration.budget != .rate(1) }

    /// The value of axis `key` in this cell (the method for `method`).
    public func value(of key: String) -> SpecValue? {
        key == "method" ? .string(method) : axes.first { $0.key == key }?.value
    }
}

extension PluginSpec {
    /// `{name, options}` as a spec value.
    var specValue: SpecValue {
        guard !options.isEmpty else { return .string(name) }
        let opts: [SpecEntry] = options.sorted { $0.key < $1.key }.map { key, value in
            let v: SpecValue =
                switch value {
                case .bool(let b): .bool(b)
                case .int(let i): .int(i)
                case .double(let d): .double(d)
                case .string(let s): .string(s)
                }
            return SpecEntry(key: key, value: v)
        }
        return .map([SpecEntry(key: "name", value: .string(name)), SpecEntry(key: "options", value: .map(opts))])
    }
}
