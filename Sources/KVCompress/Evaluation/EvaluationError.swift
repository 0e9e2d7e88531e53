/// Every failure a user can cause while specifying or running a sweep, each naming its cause.
public enum EvaluationError: Error, Equatable, CustomStringConvertible {
    /// The sweep specification file cannot be read or parsed.
    case unreadableSpecification(path: String, why: String)
    /// A specification that parses but cannot run (bad rates, duplicate method names, ...).
    case invalidSpecification(String)
    /// A target length too short to hold the task's fixed text (introduction, needle, question).
    case promptTooShort(task: String, targetTokens: Int, minimum: Int)
    /// A target length beyond what the model was trained for.
    case promptTooLong(targetTokens: Int, contextLength: Int)
    case unreadableCorpus(path: String, why: String)
    case emptyCorpus(path: String)

    public var description: String {
        switch self {
        case let .unreadableSpecification(path, why): "cannot read sweep specification \(path): \(why)"
        case .invalidSpecification(let why): "invalid sweep specification: \(why)"
        case let .promptTooShort(task, target, minimum):
            "a \(task) prompt of \(target) tokens cannot hold the introduction, needle and question; use a length of at least \(minimum)"
        case let .promptTooLong(target, context):
            "a prompt of \(target) tokens plus the generated tokens exceeds the model's context of \(context) tokens"
        case let .unreadableCorpus(path, why): "cannot read the prose corpus \(path): \(why)"
        case .emptyCorpus(let path): "the prose corpus \(path) has no paragraphs"
        }
    }
}
