import BPETokenizer
import EvaluationTasks
import EvictionPolicies
import Evaluation
import Foundation
import KVCompress
import LlamaInference
import SeededRandom

/// What the evaluation tests share: a real byte-level BPE tokenizer (GPT-2's byte alphabet, no merges,
/// one `<|endoftext|>` control token), so every byte is one token and lengths are easy to reason about;
/// a tiny random-weight model; a small real task with several questions per document; and the
/// SmolLM2 model file when it is there.
enum EvaluationSupport {
    /// GPT-2's byte-to-character alphabet: printable bytes stand for themselves, the others for 256 + n.
    static let byteAlphabet: [String] = {
        let printable = Array(33...126) + Array(161...172) + Array(174...255)
        var next = 256
        return (0..<256).map { byte in
            if printable.contains(byte) { return String(UnicodeScalar(UInt8(byte))) }
            defer { next += 1 }
            return String(UnicodeScalar(UInt32(next))!)
        }
    }()

    static let byteTokenizer: BPETokenizer = try! BPETokenizer(
        tokens: byteAlphabet + ["<|endoftext|>"], merges: [], tokenTypes: Array(repeating: 1, count: 256) + [3], bos: nil, eos: 256,
        preTokenizer: "gpt-2", chatTemplate: nil, addBOS: false)

    static let configuration = try! LlamaConfiguration(
        layers: 2, hiddenSize: 48, intermediateSize: 96, attentionHeads: 4, kvHeads: 2, headDim: 12, contextLength: 1024,
        vocabularySize: 257, tiedEmbeddings: true)
    static let model = LlamaModel.random(configuration: configuration, seed: 5)

    /// The package root: `<root>/Tests/EvaluationTests/EvaluationSupport.swift`.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let smolLM2Path = packageRoot.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    static var hasSmolLM2: Bool { FileManager.default.fileExists(atPath: smolLM2Path) }

    /// A fresh directory for one test's files, removed by the caller.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kvc-evaluation-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Every plug-in (built-ins, baselines, user plug-ins), plus the test's own user-style policy
    /// `oldest_first` and the metric `recording`, which scores like `kvcompress` and remembers every
    /// query position it was shown.
    static let plugins: PluginRegistry = {
        let registry = PluginRegistry.withAllPlugins()
        registry.register(policy: "oldest_first", summary: "a user's policy: evict the oldest KVs first") { _ in OldestFirst() }
        registry.register(metric: "recording", summary: "kvcompress's metric, remembering the query positions it scores") { options in
            RecordingMetric(inner: try registry.makeMetric(PluginSpec("kvcompress")), log: QueryLog.named(try options.string("log", default: "default")))
        }
        return registry
    }()

    /// The built-in tasks plus `key_value`, this test target's task.
    static let tasks: TaskRegistry = {
        let registry = TaskRegistry.withBuiltins()
        registry.register(task: "key_value", summary: "test task: pairs `k=v`, several questions") { options in
            KeyValueTask(questions: try options.int("questions", default: 3, in: 1...8))
        }
        return registry
    }()

    static func specification(_ yaml: String) throws -> SweepSpecification {
        try SweepSpecification.parse(yaml: yaml, plugins: plugins, tasks: tasks)
    }

    static func runner(_ specification: SweepSpecification) throws -> SweepRunner {
        try SweepRunner(specification: specification, model: model, tokenizer: byteTokenizer, plugins: plugins, tasks: tasks)
    }

    /// Every trial of `specification` (or of `units`), in memory.
    static func run(
        _ specification: SweepSpecification, units: [SweepUnit]? = nil, done: Set<TrialKey> = [], decodeBatch: Int = 32, sharesScores: Bool = true
    ) throws -> [TrialRecord] {
        let r = try runner(specification)
        r.decodeBatch = decodeBatch
        r.sharesScores = sharesScores
        var trials: [TrialRecord] = []
        try r.run(units: units ?? r.allUnits, done: done) { trials.append($0) }
        return trials.sorted { $0.key < $1.key }
    }

    static func header(_ specification: SweepSpecification, shard: SweepShard? = nil) -> SweepHeader {
        SweepHeader(specification: specification.canonicalJSON, model: "random", shard: shard, layers: configuration.layers, kvHeads: configuration.kvHeads)
    }
}

/// A user's policy, as Plugins/README.md writes one: evict the oldest KVs first.
struct OldestFirst: EvictionPolicy {
    func plan(_ input: EvictionInput) throws -> EvictionPlan {
        var allocator = BlockAllocator(input, rankingScores: input.heads.map { $0.positions.map(Float.init) })
        allocator.evictLowestFirst()
        return allocator.plan
    }
}

/// Query positions a `recording` metric was shown, per log name (tests run in parallel, each uses its own).
final class QueryLog: @unchecked Sendable {
    private static let lock = NSLock()
    private nonisolated(unsafe) static var logs: [String: QueryLog] = [:]

    static func named(_ name: String) -> QueryLog {
        lock.withLock {
            if let log = logs[name] { return log }
            let log = QueryLog()
            logs[name] = log
            return log
        }
    }

    private let lock = NSLock()
    private var storage: Set<Int32> = []
    var positions: Set<Int32> { lock.withLock { storage } }
    func add(_ p: [Int32]) { lock.withLock { storage.formUnion(p) } }
}

/// The kvcompress metric, recording the query positions of every observation.
struct RecordingMetric: ImportanceMetric {
    let inner: any ImportanceMetric
    let log: QueryLog
    func score(_ observation: HeadObservation, keys: KeyMask, into rows: UnsafeMutableBufferPointer<Float>) {
        log.add(observation.queryPositions)
        inner.score(observation, keys: keys, into: rows)
    }
}

/// A document of `name=value` pairs (seeded letters and digits) and one question per asked key;
/// scored as RULER does. Its evidence is the pair's token range.
struct KeyValueTask: EvaluationTask {
    let questions: Int
    var name: String { "key_value" }
    var maxNewTokens: Int { 4 }

    func minimumTokens(tokenizer: any TextTokenizer) throws(TaskError) -> Int { 64 }

    func instance(targetTokens: Int, seed: UInt64, tokenizer: any TextTokenizer) throws(TaskError) -> TaskInstance {
        var rng = SplitMix64(seed: seed)
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        var pairs: [(String, String)] = []
        var text = ""
        let questionLength = 16
        while text.count + 8 < targetTokens - questionLength {
            let key = String((0..<3).map { _ in letters[Int(rng.next() % 26)] })
            let value = String(100 + Int(rng.next() % 900))
            if pairs.contains(where: { $0.0 == key }) { continue }
            text += "\(key)=\(value);"
            pairs.append((key, value))
        }
        var asked: [TaskQuestion] = []
        var offset = 0
        var ranges: [String: Range<Int>] = [:]
        for (key, value) in pairs {
            let length = key.count + 1 + value.count + 1
            ranges[key] = offset..<(offset + length)
            offset += length
        }
        for i in 0..<questions {
            let (key, value) = pairs[(i * 7 + Int(seed % 5)) % pairs.count]
            asked.append(TaskQuestion(text: "?\(key)=", answers: [value], evidence: [ranges[key]!]))
        }
        return TaskInstance(
            task: name, seed: seed, targetTokens: targetTokens, document: text, documentTokens: tokenizer.encodePrompt(text),
            questions: asked, questionTokens: asked.map { tokenizer.encodeContinuation($0.text) })
    }
}
