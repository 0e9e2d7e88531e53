/// Every failure a user can cause while specifying, running, resuming, merging or reporting a sweep,
/// each naming its cause (the key, the cell, the file).
public enum EvaluationError: Error, Equatable, CustomStringConvertible {
    /// The sweep specification file cannot be read or parsed.
    case unreadableSpecification(path: String, why: String)
    /// A specification that parses but cannot run (unknown key, bad value, impossible budget, ...).
    case invalidSpecification(String)
    /// One cell of the grid cannot run: its axis values and why.
    case invalidCell(cell: String, why: String)
    /// A task cannot build its instances at a length of the specification.
    case invalidTask(String)
    /// `--shard I/N` out of range or malformed.
    case invalidShard(String)
    /// `--only` with a malformed term, or a task or length the specification does not have.
    case invalidFilter(String)
    /// An output that exists and would be overwritten without `--resume`.
    case outputExists(path: String)
    /// `--resume` against results of another specification, model or shard; names the difference.
    case resumeMismatch(path: String, difference: String)
    /// Result files that cannot be merged (other specification, overlapping trials).
    case mergeMismatch(String)
    /// Result files that cannot be reported together (other specifications, one model twice).
    case reportMismatch(String)
    /// A results file or journal that cannot be read.
    case unreadableResults(path: String, why: String)
    /// An output that cannot be written.
    case unwritableOutput(path: String, why: String)

    public var description: String {
        switch self {
        case let .unreadableSpecification(path, why): "cannot read sweep specification \(path): \(why)"
        case .invalidSpecification(let why): "invalid sweep specification: \(why)"
        case let .invalidCell(cell, why): "invalid sweep specification: cell {\(cell)}: \(why)"
        case .invalidTask(let why): "invalid sweep specification: \(why)"
        case .invalidShard(let why): "invalid --shard: \(why)"
        case .invalidFilter(let why): "invalid --only: \(why)"
        case .outputExists(let path):
            "\(path) exists; pass --resume to continue that sweep, or choose another --out (an existing output is never overwritten)"
        case let .resumeMismatch(path, difference): "cannot resume \(path): \(difference)"
        case .mergeMismatch(let why): "cannot merge: \(why)"
        case .reportMismatch(let why): "cannot report these files together: \(why)"
        case let .unreadableResults(path, why): "cannot read sweep results \(path): \(why)"
        case let .unwritableOutput(path, why): "cannot write \(path): \(why)"
        }
    }
}
