import SeededRandom

extension SplitMix64 {
    /// A float uniform in [-1, 1).
    mutating func signedUnit() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
}
