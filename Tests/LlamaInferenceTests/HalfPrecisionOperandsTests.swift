import CKernels
import Foundation
import PagedKVCache
import SeededRandom
import Testing

@testable import LlamaInference

/// The rounding of attention's float32 operands to float16 over a float16 cache (llama.cpp's CPU
/// behaviour, HalfPrecisionOperands): the rounding itself on every instruction set, and decode
/// attention against a plain double-precision re-implementation that rounds the queries and the
/// probabilities as ggml's F16 `mul_mat` does.
/// Uniform in [-1, 1).
private func signedUnit(_ random: inout SplitMix64) -> Float { Float(Double(random.next() >> 11) / Double(1 << 53)) * 2 - 1 }

@Suite("Half-precision attention operands")
struct HalfPrecisionOperandsTests {
    struct KernelSet: CustomTestStringConvertible, Sendable {
        let isa: kvc_isa
        var testDescription: String { QuantizedKernels.name(of: isa) }
    }

    /// Normal and subnormal halves, ties, the overflow edge, zeros of both signs, and a lane count
    /// that leaves a remainder after every vector width.
    static let values: [Float] = {
        var random = SplitMix64(seed: 5)
        let edges: [Float] = [0, -0, 1, 1 + 0x1p-11, 1 + 0x1p-10 + 0x1p-11, 65504, 65519, 65520, -70000, 0x1p-24, 0x1p-25,
                              3 * 0x1p-26, 6e-8, -1e-6, .infinity, -.infinity]
        let random83: [Float] = (0..<83).map { _ in
            let exponent = Float(random.next() % 40) - 28
            return signedUnit(&random) * powf(2, exponent)
        }
        return edges + random83
    }()

    @Test("rounding gives the nearest half (ties to even) on every instruction set",
          arguments: QuantizedKernels.supported.map(KernelSet.init))
    func roundingIsTheNearestHalf(kernels: KernelSet) {
        var x = Self.values
        x.withUnsafeMutableBufferPointer { HalfPrecisionOperands.round($0.baseAddress!, count: $0.count, isa: kernels.isa) }
        for (rounded, original) in zip(x, Self.values) {
            let expected = HalfFloat.float(fromBits: HalfFloat.bits(from: original))
            #expect(rounded.bitPattern == expected.bitPattern, "\(original) → \(rounded), expected \(expected)")
        }
    }

    /// Decode attention of one sequence (2 KV heads, groups of 3, d 64, 150 KVs over 16-KV blocks).
    /// Returns the output `[6, 64]` and the reference output computed in double precision with the
    /// queries and probabilities rounded to halves (`roundOperands`) or not.
    static func decode(roundsOperands: Bool) throws -> (output: [Float], rounded: [Float], unrounded: [Float], magnitude: [Double]) {
        let kvHeads = 2, g = 3, d = 64, length = 150
        let configuration = try LlamaConfiguration(
            layers: 1, hiddenSize: kvHeads * g * d, intermediateSize: 64, attentionHeads: kvHeads * g, kvHeads: kvHeads,
            headDim: d, contextLength: 4096, vocabularySize: 16, tiedEmbeddings: true)
        let layout = try CacheLayout(layers: 1, kvHeads: kvHeads, headDim: d, blockSize: 16, kvType: .f16)
        let cache = try PagedKVCache(layout: layout, capacityBlocks: 64)
        let sequence = cache.addSequence()
        try cache.reserve(sequence, tokens: length)
        var random = SplitMix64(seed: 17)
        let keys = (0..<length * kvHeads * d).map { _ in 2 * Float(signedUnit(&random)) }
        let values = (0..<length * kvHeads * d).map { _ in Float(signedUnit(&random)) }
        let positions = (0..<length).map(Int32.init)
        cache.append(sequence, layer: 0, count: length, keys: keys, values: values, positions: positions)
        let queries = (0..<kvHeads * g * d).map { _ in 3 * Float(signedUnit(&random)) }
        let views = (0..<kvHeads).map { cache.view(sequence, layer: 0, head: $0) }

        var attention = Attention(configuration: configuration)
        attention.roundsOperandsToHalf = roundsOperands
        var output = [Float](repeating: .nan, count: queries.count)
        attention.decode(
            qkv: queries, qkvStride: queries.count, batch: 1, views: views, output: &output, sequences: [sequence],
            positions: [Int32(length)], layer: 0, observers: [nil])

        func half(_ x: Float) -> Float { HalfFloat.float(fromBits: HalfFloat.bits(from: x)) }
        let scale = 1 / Double(d).squareRoot()
        var rounded = [Float](), unrounded = [Float](), magnitude = [Double]()
        for h in 0..<kvHeads {
            let view = views[h]
            let k = (0..<length).map { Array(view.key($0)) }, v = (0..<length).map { Array(view.value($0)) }
            for j in 0..<g {
                let q = Array(queries[(h * g + j) * d..<(h * g + j + 1) * d])
                for roundsHere in [true, false] {
                    let qUsed = roundsHere ? q.map(half) : q
                    let s: [Double] = k.map { key in
                        var dot = 0.0
                        for e in 0..<d { dot += Double(qUsed[e]) * Double(key[e]) }
                        return dot * scale
                    }
                    let m = s.max()!
                    let e: [Double] = s.map { exp($0 - m) }
                    let total = e.reduce(0, +)
                    let p: [Double] = e.map { roundsHere ? Double(half(Float($0 / total))) : $0 / total }
                    for i in 0..<d {
                        var value = 0.0, sumOfMagnitudes = 0.0
                        for t in 0..<length {
                            value += p[t] * Double(v[t][i])
                            sumOfMagnitudes += abs(p[t] * Double(v[t][i]))
                        }
                        if roundsHere {
                            rounded.append(Float(value))
                            magnitude.append(sumOfMagnitudes)
                        } else {
                            unrounded.append(Float(value))
                        }
                    }
                }
            }
        }
        return (output, rounded, unrounded, magnitude)
    }

    @Test("decode over a half cache equals a reference that rounds queries and probabilities to halves")
    func decodeRoundsLikeLlamaCpp() throws {
        let run = try Self.decode(roundsOperands: true)
        // Float32 summation against double: a few ulps of Σ|p·v| (measured 3e-7 of it at most; a
        // probability that rounds to a different half in float than in double would add up to 2^-11
        // of its term, which this seed does not hit).
        for i in run.output.indices {
            #expect(abs(Double(run.output[i]) - Double(run.rounded[i])) <= 1e-5 * run.magnitude[i], "element \(i)")
        }
        // The rounding is visible at that tolerance: without it the reference is farther away.
        let unroundedDistance = run.output.indices.map { abs(Double(run.output[$0]) - Double(run.unrounded[$0])) / run.magnitude[$0] }
        #expect(unroundedDistance.max()! > 1e-4)
    }

    @Test("with the rounding off, decode over a half cache keeps float32 operands")
    func decodeWithoutRounding() throws {
        let run = try Self.decode(roundsOperands: false)
        for i in run.output.indices {
            #expect(abs(Double(run.output[i]) - Double(run.unrounded[i])) <= 1e-5 * run.magnitude[i], "element \(i)")
        }
    }
}
