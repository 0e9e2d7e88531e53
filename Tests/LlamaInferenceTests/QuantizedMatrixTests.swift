import CKernels
import Foundation
import GGUF
import SeededRandom
import Testing

@testable import LlamaInference

/// The quantized products against the portable C definition (bit for bit), against a
/// double-precision re-implementation, and against the float product they approximate.
@Suite("Quantized matrix kernels")
struct QuantizedMatrixTests {
    static let formats: [QuantizedMatrix.Format] = [
        .q4Min, .q8Min, .init(bits: 4, zeroPoint: 8), .init(bits: 8, zeroPoint: 128),
    ]

    /// A matrix of random blocks: 37 rows (two full panels and a partial one), 3 blocks a row.
    static func randomMatrix(_ format: QuantizedMatrix.Format, rows: Int = 37, columns: Int = 96, seed: UInt64) throws
        -> QuantizedMatrix
    {
        var rng = SplitMix64(seed: seed)
        let matrix = try QuantizedMatrix(rows: rows, columns: columns, format: format)
        var block = QuantizedMatrix.Block()
        for r in 0..<rows {
            for k in 0..<columns / 32 {
                for j in 0..<32 { block.quants[j] = UInt8(truncatingIfNeeded: rng.next() % (1 << UInt64(format.bits))) }
                block.scale = Float16(rng.uniform(0.001, 0.05)).bitPattern
                block.minimum = Float16(rng.uniform(-0.4, 0)).bitPattern
                matrix.set(row: r, block: k, block)
            }
        }
        return matrix
    }

    /// Activations with an outlier column, as real hidden states have.
    static func randomActivations(tokens: Int, columns: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<tokens * columns).map { i in rng.uniform(-1, 1) * (i % columns == 5 ? 20 : 1) }
    }

    /// y = W·x with the given kernels: `[tokens, rows]`.
    static func product(
        _ w: QuantizedMatrix, _ x: [Float], tokens: Int, isa: kvc_isa, accumulateOnto start: [Float]? = nil
    ) -> [Float] {
        let activations = x.withUnsafeBufferPointer {
            QuantizedActivations($0.baseAddress!, tokens: tokens, columns: w.columns, isa: isa)
        }
        var y = start ?? [Float](repeating: .nan, count: tokens * w.rows)
        y.withUnsafeMutableBufferPointer {
            w.multiply(activations, into: $0.baseAddress!, ldy: w.rows, accumulate: start != nil, isa: isa)
        }
        return y
    }

    @Test("every instruction set gives the portable result bit for bit", arguments: formats)
    func pathsAgreeExactly(format: QuantizedMatrix.Format) throws {
        let w = try Self.randomMatrix(format, seed: 1)
        // 70 tokens: full tiles of 8 and 4, a remainder, and two token chunks of the dispatcher.
        let x = Self.randomActivations(tokens: 70, columns: w.columns, seed: 2)
        let portable = Self.product(w, x, tokens: 70, isa: KVC_ISA_PORTABLE)
        #expect(portable.allSatisfy { $0.isFinite })
        for isa in QuantizedKernels.supported where isa != KVC_ISA_PORTABLE {
            let vector = Self.product(w, x, tokens: 70, isa: isa)
            let mismatches = (0..<portable.count).filter { vector[$0].bitPattern != portable[$0].bitPattern }
            #expect(mismatches.isEmpty, "\(QuantizedKernels.name(of: isa)): \(mismatches.count) results differ, first at \(mismatches.first ?? 0)")
        }
    }

    @Test("the product is Σ_b d_w·d_x·Σu·q + m_w·s_x, computed in double", arguments: formats)
    func matchesDoubleReference(format: QuantizedMatrix.Format) throws {
        let w = try Self.randomMatrix(format, seed: 3)
        let tokens = 9
        let x = Self.randomActivations(tokens: tokens, columns: w.columns, seed: 4)
        let activations = x.withUnsafeBufferPointer {
            QuantizedActivations($0.baseAddress!, tokens: tokens, columns: w.columns)
        }
        let y = Self.product(w, x, tokens: tokens, isa: QuantizedKernels.isa)
        let blocks = w.columns / 32
        for t in 0..<tokens {
            for r in 0..<w.rows {
                var exact = 0.0, magnitude = 0.0
                for k in 0..<blocks {
                    let block = w.block(row: r, block: k)
                    let dw = Double(Float16(bitPattern: block.scale))
                    let mw = format.zeroPoint.map { -Double($0) * dw } ?? Double(Float16(bitPattern: block.minimum))
                    var dot = 0
                    for j in 0..<32 { dot += Int(block.quants[j]) * Int(activations.quants[t * w.columns + k * 32 + j]) }
                    let term = dw * Double(activations.scales[t * blocks + k]) * Double(dot)
                        + mw * Double(activations.sums[t * blocks + k])
                    exact += term
                    magnitude += abs(term)
                }
                #expect(abs(Double(y[t * w.rows + r]) - exact) <= 1e-6 * magnitude + 1e-12, "token \(t) row \(r)")
            }
        }
    }

    @Test("8-bit activations approximate the float product within half a step per element", arguments: formats)
    func approximatesFloatProduct(format: QuantizedMatrix.Format) throws {
        let w = try Self.randomMatrix(format, seed: 5)
        let tokens = 3
        let x = Self.randomActivations(tokens: tokens, columns: w.columns, seed: 6)
        let weights = w.dequantized()
        let y = Self.product(w, x, tokens: tokens, isa: QuantizedKernels.isa)
        for t in 0..<tokens {
            for r in 0..<w.rows {
                var exact = 0.0, bound = 1e-5
                for k in 0..<w.columns / 32 {
                    let block = x[(t * w.columns + k * 32)..<(t * w.columns + k * 32 + 32)]
                    let step = Double(block.map { abs($0) }.max()!) / 127
                    for j in 0..<32 {
                        let c = k * 32 + j, weight = Double(weights[r * w.columns + c])
                        exact += weight * Double(x[t * w.columns + c])
                        bound += abs(weight) * step / 2
                    }
                }
                #expect(abs(Double(y[t * w.rows + r]) - exact) <= bound)
            }
        }
    }

    @Test("a token's result does not depend on the other tokens of the call")
    func batchInvariant() throws {
        let w = try Self.randomMatrix(.q4Min, seed: 7)
        let x = Self.randomActivations(tokens: 21, columns: w.columns, seed: 8)
        for isa in QuantizedKernels.supported {
            let together = Self.product(w, x, tokens: 21, isa: isa)
            for t in [0, 7, 8, 20] {
                let alone = Self.product(w, Array(x[t * w.columns..<(t + 1) * w.columns]), tokens: 1, isa: isa)
                #expect(alone.map(\.bitPattern) == together[t * w.rows..<(t + 1) * w.rows].map(\.bitPattern), "token \(t)")
            }
        }
    }

    @Test("accumulate adds the product to what y holds")
    func accumulates() throws {
        let w = try Self.randomMatrix(.q8Min, seed: 9)
        let x = Self.randomActivations(tokens: 2, columns: w.columns, seed: 10)
        let start = (0..<2 * w.rows).map { Float($0) }
        let product = Self.product(w, x, tokens: 2, isa: QuantizedKernels.isa)
        let sum = Self.product(w, x, tokens: 2, isa: QuantizedKernels.isa, accumulateOnto: start)
        #expect(sum == zip(start, product).map { $0 + $1 })
    }

    @Test("activation quantization: same bytes on every path, within half a step, zero blocks stay zero")
    func activationQuantization() {
        var x = Self.randomActivations(tokens: 3, columns: 64, seed: 11)
        for j in 32..<64 { x[j] = 0 }  // token 0, block 1
        let reference = x.withUnsafeBufferPointer { QuantizedActivations($0.baseAddress!, tokens: 3, columns: 64, isa: KVC_ISA_PORTABLE) }
        for isa in QuantizedKernels.supported {
            let a = x.withUnsafeBufferPointer { QuantizedActivations($0.baseAddress!, tokens: 3, columns: 64, isa: isa) }
            #expect(Array(UnsafeBufferPointer(start: a.quants, count: 192)) == Array(UnsafeBufferPointer(start: reference.quants, count: 192)))
            #expect(Array(UnsafeBufferPointer(start: a.scales, count: 6)) == Array(UnsafeBufferPointer(start: reference.scales, count: 6)))
            #expect(Array(UnsafeBufferPointer(start: a.sums, count: 6)) == Array(UnsafeBufferPointer(start: reference.sums, count: 6)))
        }
        for t in 0..<3 {
            for k in 0..<2 {
                let d = reference.scales[t * 2 + k]
                var sum = 0
                for j in 0..<32 {
                    let i = t * 64 + k * 32 + j, q = reference.quants[i]
                    #expect(abs(Float(q) * d - x[i]) <= d / 2 * 1.0001)
                    sum += Int(q)
                }
                #expect(reference.sums[t * 2 + k] == d * Float(sum))
            }
        }
        #expect(reference.scales[1] == 0 && (32..<64).allSatisfy { reference.quants[$0] == 0 })
    }

    /// Random bytes for every block, with finite half-float scale fields.
    static func randomBlocks(_ type: GGMLType, blocks: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        var bytes = (0..<blocks * type.bytesPerBlock).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let halves = type == .q4_1 || type == .q5_1 ? 2 : 1
        for b in 0..<blocks {
            for h in 0..<halves {
                let value = Float16(rng.uniform(h == 0 ? 0.001 : -0.5, h == 0 ? 0.05 : 0.5)).bitPattern
                bytes[b * type.bytesPerBlock + 2 * h] = UInt8(value & 0xFF)
                bytes[b * type.bytesPerBlock + 2 * h + 1] = UInt8(value >> 8)
            }
        }
        return bytes
    }

    @Test("ggml blocks of the form d·u + m are kept exactly", arguments: [GGMLType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0])
    func exactBlockTypes(type: GGMLType) throws {
        let rows = 19, columns = 64
        let bytes = Self.randomBlocks(type, blocks: rows * columns / 32, seed: UInt64(type.rawValue))
        let matrix = try bytes.withUnsafeBytes { try QuantizedMatrix(raw: $0, type: type, rows: rows, columns: columns) }
        let expected = bytes.withUnsafeBytes { Dequantizer.dequantize($0, type: type, elementCount: rows * columns) }
        #expect(matrix?.format == QuantizedMatrix.format(of: type))
        #expect(matrix?.dequantized() == expected)
    }

    @Test("other types are requantized to 8 bits within half a step of their block's range")
    func requantization() throws {
        var rng = SplitMix64(seed: 12)
        let rows = 5, columns = 64
        let values = (0..<rows * columns).map { _ in rng.uniform(-2, 3) }
        let matrix = try values.withUnsafeBufferPointer { try QuantizedMatrix(requantizing: $0.baseAddress!, rows: rows, columns: columns) }
        let back = matrix.dequantized()
        for block in 0..<rows * columns / 32 {
            let range = values[block * 32..<(block + 1) * 32]
            let step = (range.max()! - range.min()!) / 255
            for i in block * 32..<(block + 1) * 32 { #expect(abs(back[i] - values[i]) <= step * 0.51 + 1e-3) }
        }
    }

    @Test("stacking parts of different formats keeps every weight")
    func stackingMixedFormats() throws {
        let a = try Self.randomMatrix(.init(bits: 4, zeroPoint: 8), rows: 7, columns: 64, seed: 13)
        let b = try Self.randomMatrix(.init(bits: 8, zeroPoint: 128), rows: 20, columns: 64, seed: 14)
        let stacked = try QuantizedMatrix(stacking: [a, b])
        #expect(stacked.format == .q8Min && stacked.rows == 27)
        #expect(stacked.dequantized() == a.dequantized() + b.dequantized())
        let same = try QuantizedMatrix(stacking: [a, a])
        #expect(same.format == a.format && same.dequantized() == a.dequantized() + a.dequantized())
    }

    @Test("a width that is not a multiple of 32 is refused with the shape")
    func badWidth() {
        #expect(throws: LlamaError.self) { try QuantizedMatrix(rows: 4, columns: 40, format: .q4Min) }
    }
}

@Suite("Worker pool")
struct WorkerPoolTests {
    @Test("every index runs exactly once, for many jobs in a row", arguments: [1, 2, 7, 1000])
    func runsEveryIndexOnce(count: Int) {
        let pool = WorkerPool(threads: 3)
        for _ in 0..<200 {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
            hits.initialize(repeating: 0, count: count)
            defer { hits.deallocate() }
            let shared = SharedPointer(hits)
            #expect(pool.run(count) { shared.base[$0] += 1 })
            #expect((0..<count).allSatisfy { hits[$0] == 1 })
        }
    }

    @Test("a job started inside a job is refused, so the caller runs it another way")
    func nestedJobRefused() {
        let pool = WorkerPool(threads: 2)
        let refused = UnsafeMutablePointer<Bool>.allocate(capacity: 4)
        defer { refused.deallocate() }
        let shared = SharedPointer(refused)
        #expect(pool.run(4) { i in shared.base[i] = !pool.run(2) { _ in } })
        #expect((0..<4).allSatisfy { refused[$0] })
    }

    @Test("parallelFor from several threads at once still runs every index once")
    func concurrentCallers() {
        let results = UnsafeMutablePointer<Int>.allocate(capacity: 8 * 500)
        results.initialize(repeating: 0, count: 8 * 500)
        defer { results.deallocate() }
        let shared = SharedPointer(results)
        DispatchQueue.concurrentPerform(iterations: 8) { caller in
            for _ in 0..<20 { parallelFor(500) { shared.base[caller * 500 + $0] += 1 } }
        }
        #expect((0..<8 * 500).allSatisfy { results[$0] == 20 })
    }
}
