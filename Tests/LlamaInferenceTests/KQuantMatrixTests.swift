import CKernels
import GGUF
import SeededRandom
import Testing

@testable import LlamaInference

/// The K-quant × Q8_K products (Q4_K, Q6_K: the down and output projections of Gemma 3's Q4_K_M
/// file) against the GGUF module's independent dequantizer, a double-precision reference, the
/// portable C definition (bit for bit) and the float product they approximate.
@Suite("K-quant matrix kernels")
struct KQuantMatrixTests {
    static let types: [GGMLType] = [.q4_K, .q6_K]

    /// Random super-blocks of `type` for `rows` × `columns` weights: random quants and sub-block
    /// scales, half-float super-block scales of realistic size (ggml-common.h layouts).
    static func randomBlocks(_ type: GGMLType, rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        let count = rows * columns / 256
        var bytes = (0..<count * type.bytesPerBlock).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        func half(_ value: Float, at offset: Int) {
            let bits = Float16(value).bitPattern
            bytes[offset] = UInt8(bits & 0xFF)
            bytes[offset + 1] = UInt8(bits >> 8)
        }
        for b in 0..<count {
            let base = b * type.bytesPerBlock
            if type == .q4_K {
                half(rng.uniform(0.0005, 0.002), at: base)  // d
                half(rng.uniform(0.0005, 0.002), at: base + 2)  // dmin
            } else {
                half(rng.uniform(0.0002, 0.001), at: base + 208)  // d
            }
        }
        return bytes
    }

    static func randomMatrix(_ type: GGMLType, rows: Int = 37, columns: Int = 768, seed: UInt64) throws -> KQuantMatrix {
        let bytes = randomBlocks(type, rows: rows, columns: columns, seed: seed)
        let matrix = try bytes.withUnsafeBytes { try KQuantMatrix(raw: $0, type: type, rows: rows, columns: columns) }
        return try #require(matrix)
    }

    /// Activations with an outlier column, as real hidden states have.
    static func randomActivations(tokens: Int, columns: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<tokens * columns).map { i in rng.uniform(-1, 1) * (i % columns == 5 ? 20 : 1) }
    }

    static func quantize(_ x: [Float], tokens: Int, columns: Int) -> Q8KActivations {
        x.withUnsafeBufferPointer { Q8KActivations($0.baseAddress!, tokens: tokens, columns: columns) }
    }

    /// y = W·x with the given kernels: `[tokens, rows]`.
    static func product(
        _ w: KQuantMatrix, _ x: [Float], tokens: Int, isa: kvc_isa, accumulateOnto start: [Float]? = nil
    ) -> [Float] {
        let activations = quantize(x, tokens: tokens, columns: w.columns)
        var y = start ?? [Float](repeating: .nan, count: tokens * w.rows)
        y.withUnsafeMutableBufferPointer {
            w.multiply(activations, into: $0.baseAddress!, ldy: w.rows, accumulate: start != nil, isa: isa)
        }
        return y
    }

    /// The dequantized activations d·q of token t: `[columns]`.
    static func dequantized(_ a: Q8KActivations, token t: Int) -> [Double] {
        let perToken = a.columns / 256
        return (0..<a.columns).map { c in
            let block = a.blocks[t * perToken + c / 256]
            let q = withUnsafeBytes(of: block.q) { $0.load(fromByteOffset: c % 256, as: Int8.self) }
            return Double(block.d) * Double(q)
        }
    }

    @Test("the kernels' dequantization equals the GGUF module's", arguments: types)
    func dequantizationMatchesGGUF(type: GGMLType) throws {
        let rows = 5, columns = 512
        let bytes = Self.randomBlocks(type, rows: rows, columns: columns, seed: 11)
        let w = try #require(try bytes.withUnsafeBytes { try KQuantMatrix(raw: $0, type: type, rows: rows, columns: columns) })
        let expected = bytes.withUnsafeBytes { Dequantizer.dequantize($0, type: type, elementCount: rows * columns) }
        let got = w.dequantized()
        let worst = zip(got, expected).map { abs($0 - $1) / max(abs($1), 1e-6) }.max()!
        #expect(worst <= 1e-6, "relative difference \(worst)")
    }

    @Test("Q8_K: iscale = −127/max, round half to even, clamp at 127, 16-sums")
    func q8kQuantization() {
        let columns = 512
        var x = Self.randomActivations(tokens: 2, columns: columns, seed: 12)
        for j in 256..<512 { x[j] = 0 }  // an all-zero block
        x[300] = 0  // stays zero
        let a = Self.quantize(x, tokens: 2, columns: columns)
        for b in 0..<4 {
            let values = x[(b * 256)..<(b * 256 + 256)]
            let block = a.blocks[b]
            let quants = withUnsafeBytes(of: block.q) { Array($0.bindMemory(to: Int8.self)) }
            let sums = withUnsafeBytes(of: block.sums) { Array($0.bindMemory(to: Int16.self)) }
            guard let max = values.max(by: { abs($0) < abs($1) }), max != 0 else {
                #expect(block.d == 0 && quants.allSatisfy { $0 == 0 }, "block \(b) is zero")
                continue
            }
            let iscale = -127 / max
            let expected = values.map { Int8(min(127, ($0 * iscale).rounded(.toNearestOrEven))) }
            #expect(quants == expected, "block \(b)")
            #expect(block.d == 1 / iscale)
            for g in 0..<16 { #expect(Int(sums[g]) == quants[(16 * g)..<(16 * g + 16)].reduce(0) { $0 + Int($1) }) }
        }
    }

    @Test("every instruction set gives the portable result bit for bit", arguments: types)
    func pathsAgreeExactly(type: GGMLType) throws {
        let w = try Self.randomMatrix(type, seed: 1)
        // 70 tokens: full tiles of 4, a remainder, and two token chunks of the dispatcher.
        let x = Self.randomActivations(tokens: 70, columns: w.columns, seed: 2)
        let portable = Self.product(w, x, tokens: 70, isa: KVC_ISA_PORTABLE)
        #expect(portable.allSatisfy { $0.isFinite })
        for isa in QuantizedKernels.supported where isa != KVC_ISA_PORTABLE {
            let vector = Self.product(w, x, tokens: 70, isa: isa)
            let mismatches = (0..<portable.count).filter { vector[$0].bitPattern != portable[$0].bitPattern }
            #expect(mismatches.isEmpty, "\(QuantizedKernels.name(of: isa)): \(mismatches.count) results differ, first at \(mismatches.first ?? 0)")
        }
    }

    @Test("the product is Σ_c W[r, c]·d_x·q[c] with the dequantized weights, in double", arguments: types)
    func matchesDoubleReference(type: GGMLType) throws {
        let w = try Self.randomMatrix(type, seed: 3)
        let tokens = 5
        let x = Self.randomActivations(tokens: tokens, columns: w.columns, seed: 4)
        let activations = Self.quantize(x, tokens: tokens, columns: w.columns)
        let weights = w.dequantized()
        for isa in QuantizedKernels.supported {
            let y = Self.product(w, x, tokens: tokens, isa: isa)
            for t in 0..<tokens {
                let xt = Self.dequantized(activations, token: t)
                for r in 0..<w.rows {
                    var exact = 0.0, magnitude = 0.0
                    for c in 0..<w.columns {
                        let term = Double(weights[r * w.columns + c]) * xt[c]
                        exact += term
                        magnitude += abs(term)
                    }
                    #expect(abs(Double(y[t * w.rows + r]) - exact) <= 1e-5 * magnitude, "token \(t) row \(r)")
                }
            }
        }
    }

    @Test("Q8_K activations approximate the float product within half a step per element", arguments: types)
    func approximatesFloatProduct(type: GGMLType) throws {
        let w = try Self.randomMatrix(type, seed: 5)
        let tokens = 3
        let x = Self.randomActivations(tokens: tokens, columns: w.columns, seed: 6)
        let weights = w.dequantized()
        let y = Self.product(w, x, tokens: tokens, isa: QuantizedKernels.isa)
        for t in 0..<tokens {
            for r in 0..<w.rows {
                var exact = 0.0, bound = 1e-4
                for k in 0..<w.columns / 256 {
                    let block = x[(t * w.columns + k * 256)..<(t * w.columns + k * 256 + 256)]
                    let step = Double(block.map { abs($0) }.max()!) / 127
                    for j in 0..<256 {
                        let c = k * 256 + j, weight = Double(weights[r * w.columns + c])
                        exact += weight * Double(x[t * w.columns + c])
                        bound += abs(weight) * step / 2
                    }
                }
                #expect(abs(Double(y[t * w.rows + r]) - exact) <= bound)
            }
        }
    }

    @Test("a token's result does not depend on the other tokens of the call", arguments: types)
    func batchInvariant(type: GGMLType) throws {
        let w = try Self.randomMatrix(type, seed: 7)
        let x = Self.randomActivations(tokens: 21, columns: w.columns, seed: 8)
        for isa in QuantizedKernels.supported {
            let together = Self.product(w, x, tokens: 21, isa: isa)
            for t in [0, 3, 4, 20] {
                let alone = Self.product(w, Array(x[t * w.columns..<(t + 1) * w.columns]), tokens: 1, isa: isa)
                #expect(alone.map(\.bitPattern) == together[t * w.rows..<(t + 1) * w.rows].map(\.bitPattern), "token \(t)")
            }
        }
    }

    @Test("accumulate adds the product to what y holds")
    func accumulates() throws {
        let w = try Self.randomMatrix(.q6_K, seed: 9)
        let x = Self.randomActivations(tokens: 2, columns: w.columns, seed: 10)
        let start = (0..<2 * w.rows).map { Float($0) }
        let product = Self.product(w, x, tokens: 2, isa: QuantizedKernels.isa)
        let sum = Self.product(w, x, tokens: 2, isa: QuantizedKernels.isa, accumulateOnto: start)
        #expect(sum == zip(start, product).map { $0 + $1 })
    }

    @Test("a width that is not a multiple of 256 or too few bytes is a clear error")
    func rejectsBadShapes() {
        let bytes = [UInt8](repeating: 0, count: 144)
        bytes.withUnsafeBytes { raw in
            #expect(throws: LlamaError.self) { _ = try KQuantMatrix(raw: raw, type: .q4_K, rows: 1, columns: 128) }
            #expect(throws: LlamaError.self) { _ = try KQuantMatrix(raw: raw, type: .q4_K, rows: 2, columns: 256) }
            #expect((try? KQuantMatrix(raw: raw, type: .q8_0, rows: 1, columns: 256)) == nil)
        }
    }
}
