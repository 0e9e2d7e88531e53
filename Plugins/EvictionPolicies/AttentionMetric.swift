import KVCompress
import LlamaInference

/// KV-Compress's attention metric (§3.1): the attention probability each observed query paid to a KV,
/// squared for L2, summed over the observed queries; the avg variants divide the running sum by the
/// number of queries that could see the KV (`sequenceLength - tokenPosition`, every later position).
///
/// Options: `norm` (`l1` | `l2`, default `l2`), `aggregate` (`sum` | `avg` | `max`, default `sum`).
/// `max` is DefensiveKV's worst-case aggregation (arXiv 2510.13334 §4): the largest probability any
/// observed query of any head of the group paid the KV, instead of their sum or mean.
public struct AttentionMetric: ImportanceMetric {
    public enum Norm: String, Sendable, CaseIterable { case l1, l2 }
    public enum Aggregate: String, Sendable, CaseIterable { case sum, avg, max }

    public let norm: Norm
    public let aggregate: Aggregate

    public init(norm: Norm = .l2, aggregate: Aggregate = .sum) {
        self.norm = norm
        self.aggregate = aggregate
    }

    init(options: OptionReader) throws {
        norm = Norm(rawValue: try options.string("norm", default: "l2", allowed: Norm.allCases.map(\.rawValue)))!
        aggregate = Aggregate(rawValue: try options.string("aggregate", default: "sum", allowed: Aggregate.allCases.map(\.rawValue)))!
    }

    public func score(_ observation: HeadObservation, keys: KeyMask, into rows: UnsafeMutableBufferPointer<Float>) {
        let n = observation.contextLength, queries = observation.queryCount
        let squared = norm == .l2
        // Without a buffer every key a query could see counts, and the ones it could not see have
        // probability 0: no positions needed (the common case, and every decode step's).
        if keys.buffer <= 0, aggregate != .max {
            for g in 0..<observation.groupSize {
                let row = rows.baseAddress! + g * n
                for q in 0..<queries {
                    let probabilities = observation.probabilities.baseAddress! + (g * queries + q) * n
                    if squared {
                        for i in 0..<n { row[i] += probabilities[i] * probabilities[i] }
                    } else {
                        for i in 0..<n { row[i] += probabilities[i] }
                    }
                }
            }
            return
        }
        let keyPositions = (0..<n).map { observation.cache.position($0) }
        for g in 0..<observation.groupSize {
            for q in 0..<queries {
                let queryPosition = observation.queryPositions[q]
                let probabilities = observation.probabilities.baseAddress! + (g * queries + q) * n
                let row = rows.baseAddress! + g * n
                for i in 0..<n where keys.counts(queryPosition: queryPosition, keyPosition: keyPositions[i]) {
                    let p = squared ? probabilities[i] * probabilities[i] : probabilities[i]
                    row[i] = aggregate == .max ? Swift.max(row[i], p) : row[i] + p
                }
            }
        }
    }

    public var update: MetricUpdate { aggregate == .max ? .maximum : .accumulate }

    public var settings: [String: OptionValue] { ["norm": .string(norm.rawValue), "aggregate": .string(aggregate.rawValue)] }

    public func schedulingScore(stored: Float, tokenPosition: Int, sequenceLength: Int) -> Float {
        switch aggregate {
        case .sum, .max: stored
        case .avg: stored / Float(max(1, sequenceLength - tokenPosition))
        }
    }
}
