/// `kvc sweep --only KEY=VALUE`: runs the documents of some tasks or lengths first, in the same
/// results file. A filter chooses which documents this run takes; it is not part of what the output
/// belongs to (`SweepHeader`), so a later `--resume` with another filter, or none, continues the same
/// file and its journal (a grid too big for one sitting can be run breadth-first: every task at 2k,
/// then at 4k).
///
/// `task=NAME` matches a task of the specification by name (every entry of that name, whatever its
/// options) or by its full description (`niah_multikey(keys=4)`); `length=N` a target length of the
/// specification. Values of one key are alternatives (`--only length=2000 --only length=4000`); keys
/// together narrow (`--only task=niah_single --only length=2000`).
public struct SweepUnitFilter: Sendable, Equatable, CustomStringConvertible {
    /// Task indices into the specification's `tasks`; nil: every task.
    public let tasks: Set<Int>?
    /// Length indices into the specification's `lengths`; nil: every length.
    public let lengths: Set<Int>?
    /// The terms as given, for messages.
    public let terms: [String]

    /// Parses `terms` against `specification`.
    /// - Throws: `EvaluationError.invalidFilter` naming the term and what the specification offers.
    public init(parsing terms: [String], specification: SweepSpecification) throws(EvaluationError) {
        var tasks: Set<Int>?, lengths: Set<Int>?
        for term in terms {
            let parts = term.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, !parts[1].isEmpty else { throw .invalidFilter("'\(term)' is not KEY=VALUE (task=NAME or length=N)") }
            let (key, value) = (parts[0], parts[1])
            switch key {
            case "task":
                let matching = specification.tasks.indices.filter { specification.tasks[$0].name == value || specification.tasks[$0].description == value }
                guard !matching.isEmpty else {
                    throw .invalidFilter(
                        "task=\(value): the specification has no such task (its tasks: \(specification.tasks.map(\.description).joined(separator: ", ")))")
                }
                tasks = (tasks ?? []).union(matching)
            case "length":
                guard let n = Int(value), let index = specification.lengths.firstIndex(of: n) else {
                    throw .invalidFilter(
                        "length=\(value): the specification has no such length (its lengths: \(specification.lengths.map(String.init).joined(separator: ", ")))")
                }
                lengths = (lengths ?? []).union([index])
            default:
                throw .invalidFilter("unknown key '\(key)' in '\(term)': filter by task=NAME or length=N")
            }
        }
        self.tasks = tasks
        self.lengths = lengths
        self.terms = terms
    }

    /// Whether this run takes `unit`.
    public func includes(_ unit: SweepUnit) -> Bool {
        (tasks?.contains(unit.task) ?? true) && (lengths?.contains(unit.length) ?? true)
    }

    public var description: String { terms.joined(separator: ", ") }
}
