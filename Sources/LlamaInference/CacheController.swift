import PagedKVCache

/// Decides what happens to the KV cache around forward steps: the seam where compression plugs
/// into generation. Without one, the cache only grows.
///
/// The generation loop calls, in order: `didPrefill` once after each prompt is prefilled, then before
/// every decode step `willDecode`, which must leave room for one more token on every head of every
/// sequence in `sequences` (compressing under memory pressure, or throwing `KVCacheError.outOfBlocks`).
public protocol CacheController: AnyObject {
    /// Observer to attach to attention (metric collection), or nil.
    var observer: (any AttentionObserver)? { get }
    /// The prompt's token ids, before its prefill (for scorers that read the document again).
    func willPrefill(_ sequence: SequenceID, tokens: [Int32], cache: PagedKVCache) throws
    func didPrefill(_ sequence: SequenceID, cache: PagedKVCache) throws
    func willDecode(_ sequences: [SequenceID], step: Int, cache: PagedKVCache) throws
}

extension CacheController {
    public func willPrefill(_ sequence: SequenceID, tokens: [Int32], cache: PagedKVCache) throws {}
}
