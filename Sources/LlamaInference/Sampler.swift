import Foundation
import SeededRandom

/// Picks the next token from a row of logits: greedy (argmax) by default, or sampling at a
/// temperature restricted to the nucleus of top-p probability mass, from a seeded generator so that
/// a run is reproducible.
public struct Sampler: Sendable {
    /// 0 means greedy.
    public let temperature: Float
    /// Nucleus mass in (0, 1]; 1 samples from the whole distribution.
    public let topP: Float
    public let seed: UInt64
    private var generator: SplitMix64

    /// Argmax decoding.
    public static let greedy = try! Sampler()

    public init(temperature: Float = 0, topP: Float = 1, seed: UInt64 = 0) throws(LlamaError) {
        guard temperature >= 0, temperature.isFinite else {
            throw .invalidParameter("temperature must be a finite number ≥ 0 (got \(temperature))")
        }
        guard topP > 0, topP <= 1 else { throw .invalidParameter("top-p must be in (0, 1] (got \(topP))") }
        self.temperature = temperature
        self.topP = topP
        self.seed = seed
        generator = SplitMix64(seed: seed)
    }

    public var isGreedy: Bool { temperature == 0 }

    /// The same sampler with its generator seeded differently (one per sequence of a batch, so a
    /// sequence's tokens do not depend on which others share its batch).
    public func reseeded(_ seed: UInt64) -> Sampler {
        var copy = self
        copy.generator = SplitMix64(seed: seed)
        return copy
    }

    /// Next token for `logits` (`[vocabulary]`).
    public mutating func sample(_ logits: [Float]) -> Int32 {
        logits.withUnsafeBufferPointer { sample($0) }
    }

    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        precondition(!logits.isEmpty, "cannot sample from an empty row of logits")
        if isGreedy { return Self.argmax(logits) }
        let maxLogit = logits.max()!
        let inverseTemperature = 1 / temperature
        var probabilities = logits.map { Foundation.exp(($0 - maxLogit) * inverseTemperature) }
        let total = probabilities.reduce(0, +)
        for i in probabilities.indices { probabilities[i] /= total }

        // Candidates: with top-p < 1 only tokens above (1 − p)/V can be in the nucleus (the ones below
        // it hold less than 1 − p together), which spares sorting the whole vocabulary.
        let threshold = topP < 1 ? (1 - topP) / Float(probabilities.count) : 0
        var candidates = probabilities.indices.filter { probabilities[$0] >= threshold }
        if topP < 1 {
            candidates.sort { probabilities[$0] > probabilities[$1] || (probabilities[$0] == probabilities[$1] && $0 < $1) }
            var mass: Float = 0
            var end = 0
            while end < candidates.count && mass < topP {
                mass += probabilities[candidates[end]]
                end += 1
            }
            candidates.removeLast(candidates.count - end)
        }
        let nucleus = candidates.reduce(Float(0)) { $0 + probabilities[$1] }
        let u = Float(Double(generator.next() >> 11) / Double(1 << 53)) * nucleus
        var cumulative: Float = 0
        for i in candidates {
            cumulative += probabilities[i]
            if u < cumulative { return Int32(i) }
        }
        return Int32(candidates.last!)
    }

    /// Index of the largest logit (the lowest index among ties).
    static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        for i in 1..<logits.count where logits[i] > logits[best] { best = i }
        return Int32(best)
    }
}
