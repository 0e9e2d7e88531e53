/// The benchmark's input tokens. Speed depends on how many tokens a step processes, not on which, so
/// both engines get the same ids from one formula (mirrored in Experiments/bench_llamacpp.py) instead
/// of a shared data file.
enum BenchmarkPrompt {
    /// `count` ids starting at index `offset` of the sequence `1000 + (i * 7919) mod 40000`.
    static func tokens(_ count: Int, offset: Int = 0) -> [Int32] {
        (offset..<offset + count).map { Int32(1000 + ($0 * 7919) % 40000) }
    }
}
