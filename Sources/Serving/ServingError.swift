import PagedKVCache

/// Failures of a serving run that stop it before any work, each naming the sizes involved.
public enum ServingError: Error, Equatable, CustomStringConvertible {
    /// The pool cannot give every KV head of every layer one block: no request can ever run.
    case poolTooSmall(capacityBlocks: Int, capacityBytes: Int, headsNeeded: Int, bytesPerBlock: Int)
    /// Compressed requests that ask for different metric or window plug-ins (one observer serves all).
    case inconsistentCompression(String)
    /// No request given.
    case noRequests
    /// A request's method needs more than the cache to score (the document again, the window's
    /// queries or attention, W_O), which the scheduler does not supply.
    case unsupportedCompression(request: Int, method: String, reason: String)

    public var description: String {
        switch self {
        case let .poolTooSmall(capacity, bytes, heads, bytesPerBlock):
            "KV cache pool of \(capacity) blocks (\(bytes) bytes) is too small: one block for each of the model's \(heads) "
                + "KV heads (layers × KV heads) needs \(heads) blocks of \(bytesPerBlock) bytes (\(heads * bytesPerBlock) bytes); raise the pool size (--cache-mb)"
        case .inconsistentCompression(let why): "compressed requests must share the metric and window plug-ins: \(why)"
        case .noRequests: "no request to serve"
        case let .unsupportedCompression(request, method, reason):
            "request \(request): method \(method) cannot be served by the request scheduler: \(reason); "
                + "run it with kvc generate --prompt-file, kvc compress or kvc sweep"
        }
    }
}
