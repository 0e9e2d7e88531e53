/// Why a GPU compression could not run, or found its own results inconsistent. Each case names the
/// setting, head or shape concerned and what to change.
public enum EvictionError: Error, Equatable, CustomStringConvertible {
    /// The budget can never be met (e.g. fewer tokens than the protected window).
    case impossibleBudget(String)
    /// Settings that do not fit the cache (block sizes, negative windows).
    case invalidSettings(String)
    /// A head holds more KVs than the per-head sort can take in shared memory on this device.
    case headTooLongForSort(layer: Int, head: Int, length: Int, limit: Int, architecture: String)
    /// Host arrays or device buffers of the wrong size for the cache's shape.
    case shapeMismatch(String)
    /// The sequence is not in the host cache.
    case unknownSequence(String)
    /// The sequence is not among those whose tables the GPU cache holds.
    case sequenceNotOnDevice(String)
    /// The move plan a kernel returned breaks its own invariants (a bug, reported rather than applied).
    case inconsistentPlan(String)

    public var description: String {
        switch self {
        case .impossibleBudget(let why): "impossible eviction budget: \(why)"
        case .invalidSettings(let why): "invalid eviction settings: \(why)"
        case let .headTooLongForSort(layer, head, length, limit, architecture):
            "layer \(layer) KV head \(head) holds \(length) KVs; the per-head GPU sort takes at most \(limit) on \(architecture) (its shared memory holds 8 bytes per KV, padded to a power of two); compress earlier or use the CPU compressor"
        case .shapeMismatch(let why): "shape mismatch: \(why)"
        case .unknownSequence(let sequence): "unknown sequence \(sequence): it is not in the host cache"
        case .sequenceNotOnDevice(let why): "sequence not on the device: \(why)"
        case .inconsistentPlan(let why): "inconsistent move plan from the GPU: \(why)"
        }
    }
}
