import Foundation

/// What a sweep's output belongs to: the specification, the model and the shard. `--resume` and
/// `kvc sweep merge` compare it and name the first difference.
public struct SweepHeader: Sendable, Hashable, Codable {
    public static let formatName = "kvc-sweep-journal/1"
    public var format = SweepHeader.formatName
    /// ``SweepSpecification/canonicalJSON``.
    public var specification: String
    public var model: String
    /// `I/N`, or nil for the whole sweep.
    public var shard: SweepShard?
    public var layers: Int
    public var kvHeads: Int

    public init(specification: String, model: String, shard: SweepShard?, layers: Int, kvHeads: Int) {
        self.specification = specification
        self.model = model
        self.shard = shard
        self.layers = layers
        self.kvHeads = kvHeads
    }

    enum CodingKeys: String, CodingKey {
        case format, specification, model, shard, layers
        case kvHeads = "kv_heads"
    }

    /// Why `other` (found on disk) is not the same sweep as this one, or nil. Shards are compared
    /// only when `includingShard`.
    public func difference(from other: SweepHeader, includingShard: Bool = true) -> String? {
        if specification != other.specification {
            let path: String
            if let mine = try? SpecValue.parse(json: specification), let theirs = try? SpecValue.parse(json: other.specification) {
                path = SpecValue.firstDifference(theirs, mine) ?? "its text"
            } else {
                path = "its text"
            }
            return "the specification changed at '\(path)'"
        }
        if model != other.model { return "the model changed: '\(other.model)' then, '\(model)' now" }
        if includingShard, shard != other.shard {
            return "the shard changed: \(other.shard.map(\.description) ?? "none") then, \(shard.map(\.description) ?? "none") now"
        }
        return nil
    }
}

/// The append-only record of finished trials next to a sweep's HDF5 file (`OUT.journal`): one JSON
/// line for the header, then one per trial, each written with a single `write` and `fsync`ed before
/// the runner moves on. A process killed at any moment leaves every earlier line intact and at most
/// one partial last line, which reading drops (and `--resume` cuts off before appending).
///
/// Why a journal and an HDF5 file: HDF5 files are not safe to append to under SIGKILL (a killed
/// writer can leave the superblock inconsistent), so the HDF5 file is only ever rewritten whole
/// through KVCHDF5's `.partial` + rename, while the journal makes each trial durable immediately.
public final class SweepJournal {
    public let path: String
    public let header: SweepHeader
    private let descriptor: Int32

    /// The journal path for a results path.
    public static func path(for results: String) -> String { results + ".journal" }

    private init(path: String, header: SweepHeader, descriptor: Int32) {
        self.path = path
        self.header = header
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Creates a new journal; fails when the file exists.
    public static func create(path: String, header: SweepHeader) throws(EvaluationError) -> SweepJournal {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            if errno == EEXIST { throw .outputExists(path: path) }
            throw .unwritableOutput(path: path, why: String(cString: strerror(errno)))
        }
        let journal = SweepJournal(path: path, header: header, descriptor: fd)
        try journal.appendLine(try encode(header))
        syncDirectory(of: path)
        return journal
    }

    /// Opens an existing journal for appending: reads its header and complete trials, and cuts off a
    /// partial last line left by a killed writer.
    public static func resume(path: String) throws(EvaluationError) -> (journal: SweepJournal, trials: [TrialRecord]) {
        let (header, trials, validBytes) = try read(path: path)
        guard truncate(path, off_t(validBytes)) == 0 else { throw .unwritableOutput(path: path, why: String(cString: strerror(errno))) }
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw .unwritableOutput(path: path, why: String(cString: strerror(errno))) }
        return (SweepJournal(path: path, header: header, descriptor: fd), trials)
    }

    /// The header and complete trials of a journal, and the bytes they span.
    public static func read(path: String) throws(EvaluationError) -> (header: SweepHeader, trials: [TrialRecord], validBytes: Int) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadableResults(path: path, why: FileManager.default.fileExists(atPath: path) ? "not readable" : "no such file")
        }
        var lines: [Data] = []
        var start = data.startIndex
        var validEnd = 0
        while let newline = data[start...].firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(data[start..<newline])
            start = newline + 1
            validEnd = start - data.startIndex
        }
        // Bytes after the last newline: a line cut by a kill, dropped.
        guard let first = lines.first, let header = try? JSONDecoder().decode(SweepHeader.self, from: first), header.format == SweepHeader.formatName else {
            throw .unreadableResults(path: path, why: "no \(SweepHeader.formatName) header line")
        }
        var trials: [TrialRecord] = []
        for (i, line) in lines.dropFirst().enumerated() {
            do { trials.append(try JSONDecoder().decode(TrialRecord.self, from: line)) } catch {
                throw .unreadableResults(path: path, why: "line \(i + 2) is not a trial record: \(error)")
            }
        }
        return (header, trials, validEnd)
    }

    /// Appends one trial durably.
    public func append(_ trial: TrialRecord) throws(EvaluationError) { try appendLine(try Self.encode(trial)) }

    private func appendLine(_ data: Data) throws(EvaluationError) {
        var line = data
        line.append(UInt8(ascii: "\n"))
        let ok = line.withUnsafeBytes { buffer -> Bool in
            var offset = 0
            while offset < buffer.count {
                let n = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return fsync(descriptor) == 0
        }
        guard ok else { throw .unwritableOutput(path: path, why: String(cString: strerror(errno))) }
    }

    static func encode<T: Encodable>(_ value: T) throws(EvaluationError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do { return try encoder.encode(value) } catch { throw .unwritableOutput(path: "journal", why: "\(error)") }
    }

    /// Makes a new directory entry durable.
    static func syncDirectory(of path: String) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let fd = open(directory, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}

/// `--shard I/N`: shard I (0-based) of N.
public struct SweepShard: Sendable, Hashable, Codable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) throws(EvaluationError) {
        guard count >= 1, (0..<count).contains(index) else { throw .invalidShard("shard \(index)/\(count): need 0 ≤ I < N") }
        self.index = index
        self.count = count
    }

    /// Parses `I/N`.
    public init(parsing text: String) throws(EvaluationError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else { throw .invalidShard("'\(text)' is not I/N (e.g. 0/4)") }
        try self.init(index: i, count: n)
    }

    public var description: String { "\(index)/\(count)" }

    /// This shard's documents: every document goes whole to one shard (so one prefill still serves all
    /// of its cells); documents are dealt longest first to the shard with the least work so far
    /// (ties to the lower shard), which is deterministic and balances shards to within one document.
    public func units(of all: [SweepUnit], cost: (SweepUnit) -> Int) -> [SweepUnit] {
        var load = [Int](repeating: 0, count: count)
        var mine: [SweepUnit] = []
        let ordered = all.sorted { (cost($0), $1) > (cost($1), $0) }
        for unit in ordered {
            let target = load.indices.min { (load[$0], $0) < (load[$1], $1) }!
            load[target] += cost(unit)
            if target == index { mine.append(unit) }
        }
        return mine.sorted()
    }
}
