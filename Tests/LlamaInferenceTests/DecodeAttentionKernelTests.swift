import CKernels
import Foundation
import PagedKVCache
import SeededRandom
import Testing

@testable import LlamaInference

/// The decode attention kernels (`kvc_attention.h`) on every instruction set this CPU runs, against
/// a plain double-precision re-implementation, over heads laid out as the paged cache lays them out:
/// blocks scattered over a pool in shuffled order, the last one partly filled; keys and values stored
/// as float32 and as half floats (the reference reads the stored halves, widened exactly).
@Suite("Decode attention kernels against a double-precision reference")
struct DecodeAttentionKernelTests {
    /// One head shape: query heads per KV head, head width, KVs per block, context length.
    struct Shape: CustomTestStringConvertible, Sendable {
        let groupSize: Int
        let headDim: Int
        let blockSize: Int
        let length: Int
        var testDescription: String { "g=\(groupSize) d=\(headDim) block=\(blockSize) length=\(length)" }
    }

    /// SmolLM2's shape (g 3, d 64) at every block size and at lengths around block and fold-group
    /// edges; other group sizes exercise query tiles of 1–4 and their remainders; d 16 and 48 leave a
    /// values tile short of 64 dimensions; d 128 is the other common width; d 40 runs AVX2 but not
    /// AVX-512 code, and d 20 only portable code.
    static let shapes: [Shape] =
        [1, 16, 64].flatMap { blockSize in
            [1, 7, 16, 17, 63, 64, 65, 200].map { Shape(groupSize: 3, headDim: 64, blockSize: blockSize, length: $0) }
        } + [
            Shape(groupSize: 1, headDim: 64, blockSize: 16, length: 33),
            Shape(groupSize: 2, headDim: 64, blockSize: 16, length: 40),
            Shape(groupSize: 4, headDim: 64, blockSize: 64, length: 130),
            Shape(groupSize: 5, headDim: 64, blockSize: 1, length: 19),
            Shape(groupSize: 8, headDim: 64, blockSize: 16, length: 100),
            Shape(groupSize: 9, headDim: 128, blockSize: 16, length: 50),
            Shape(groupSize: 3, headDim: 16, blockSize: 16, length: 1),
            Shape(groupSize: 3, headDim: 16, blockSize: 1, length: 37),
            Shape(groupSize: 2, headDim: 48, blockSize: 16, length: 77),
            Shape(groupSize: 6, headDim: 48, blockSize: 64, length: 64),
            Shape(groupSize: 3, headDim: 128, blockSize: 64, length: 129),
            Shape(groupSize: 3, headDim: 40, blockSize: 16, length: 45),
            Shape(groupSize: 3, headDim: 20, blockSize: 16, length: 45),
            Shape(groupSize: 1, headDim: 20, blockSize: 1, length: 1),
        ]

    /// An instruction set, named in test reports.
    struct KernelSet: CustomTestStringConvertible, Sendable {
        let isa: kvc_isa
        var testDescription: String { QuantizedKernels.name(of: isa) }
    }

    static let isas = QuantizedKernels.supported.map(KernelSet.init)

    @Test("scores equal q·k·scale in logical slot order", arguments: isas, shapes)
    func scores(kernels: KernelSet, shape: Shape) {
        for kvType in KVStorageType.allCases { scores(kernels: kernels, shape: shape, kvType: kvType) }
    }

    func scores(kernels: KernelSet, shape: Shape, kvType: KVStorageType) {
        let isa = kernels.isa
        let head = ScatteredHead(shape, seed: UInt64(shape.length * 131 + shape.headDim), kvType: kvType)
        let scale = 1 / Float(shape.headDim).squareRoot()
        var scores = [Float](repeating: .nan, count: shape.groupSize * shape.length)
        head.withBlocks { blocks in
            DecodeAttentionKernels.scores(
                queries: head.queries, groupSize: shape.groupSize, headDim: shape.headDim, blocks: blocks,
                kvType: kvType, length: shape.length, scale: scale, into: &scores, isa: isa)
        }
        for j in 0..<shape.groupSize {
            for slot in 0..<shape.length {
                var exact = 0.0, magnitude = 0.0
                let key = head.key(slot)
                for i in 0..<shape.headDim {
                    let product = Double(head.queries[j * shape.headDim + i]) * Double(key[i])
                    exact += product
                    magnitude += abs(product)
                }
                exact *= Double(scale)
                magnitude *= Double(scale)
                let got = Double(scores[j * shape.length + slot])
                #expect(
                    abs(got - exact) <= 1e-5 * magnitude,
                    "query \(j) slot \(slot): \(got) vs \(exact) (Σ|q·k|·scale \(magnitude)) on \(QuantizedKernels.name(of: isa)), \(kvType)")
            }
        }
    }

    @Test("weighted values equal Σ p·v", arguments: isas, shapes)
    func weightedValues(kernels: KernelSet, shape: Shape) {
        for kvType in KVStorageType.allCases { weightedValues(kernels: kernels, shape: shape, kvType: kvType) }
    }

    func weightedValues(kernels: KernelSet, shape: Shape, kvType: KVStorageType) {
        let isa = kernels.isa
        let head = ScatteredHead(shape, seed: UInt64(shape.length * 977 + shape.groupSize), kvType: kvType)
        let probabilities = head.randomProbabilities(seed: UInt64(shape.blockSize + 5))
        var output = [Float](repeating: .nan, count: shape.groupSize * shape.headDim)
        head.withBlocks { blocks in
            DecodeAttentionKernels.weightedValues(
                probabilities: probabilities, groupSize: shape.groupSize, headDim: shape.headDim, blocks: blocks,
                kvType: kvType, length: shape.length, into: &output, isa: isa)
        }
        let values = (0..<shape.length).map(head.value)
        for j in 0..<shape.groupSize {
            for i in 0..<shape.headDim {
                var exact = 0.0, magnitude = 0.0
                for slot in 0..<shape.length {
                    let product = Double(probabilities[j * shape.length + slot]) * Double(values[slot][i])
                    exact += product
                    magnitude += abs(product)
                }
                let got = Double(output[j * shape.headDim + i])
                #expect(
                    abs(got - exact) <= 1e-5 * magnitude,
                    "query \(j) dim \(i): \(got) vs \(exact) (Σ|p·v| \(magnitude)) on \(QuantizedKernels.name(of: isa)), \(kvType)")
            }
        }
    }

    /// f16 storage against the f32 path on the same float keys and values. Rounding to half changes
    /// each element by at most 2^-11 of itself (|x| ≥ 2^-14; the uniform draws here are almost all
    /// that large, and below it the change is at most 2^-25 absolute), so a score Σ q·k moves by at
    /// most 2^-11 · Σ|q·k| and a value sum by at most 2^-11 · Σ|p·v|; on top, each path's float32
    /// summation error, bounded by 1e-5 of the same magnitude as in the tests above. Tolerance:
    /// (2^-11 + 2e-5) · magnitude + 2^-25 · Σ|q| (resp. Σ p).
    @Test("f16 kernels match the f32 path within half-float rounding", arguments: isas, shapes)
    func halfAgainstFloat(kernels: KernelSet, shape: Shape) {
        let isa = kernels.isa, d = shape.headDim, g = shape.groupSize, n = shape.length
        let seed = UInt64(shape.length * 31 + shape.headDim * 7 + shape.groupSize)
        let half = ScatteredHead(shape, seed: seed, kvType: .f16), single = ScatteredHead(shape, seed: seed, kvType: .f32)
        let relative = 0x1p-11 + 2e-5, absolute = 0x1p-25
        let scale = 1 / Float(d).squareRoot()
        var fromHalf = [Float](repeating: .nan, count: g * n), fromSingle = fromHalf
        half.withBlocks { blocks in
            DecodeAttentionKernels.scores(
                queries: half.queries, groupSize: g, headDim: d, blocks: blocks, kvType: .f16, length: n, scale: scale,
                into: &fromHalf, isa: isa)
        }
        single.withBlocks { blocks in
            DecodeAttentionKernels.scores(
                queries: single.queries, groupSize: g, headDim: d, blocks: blocks, kvType: .f32, length: n, scale: scale,
                into: &fromSingle, isa: isa)
        }
        for j in 0..<g {
            let q = single.queries[j * d..<(j + 1) * d]
            for slot in 0..<n {
                let magnitude = zip(q, single.key(slot)).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) } * Double(scale)
                let bound = relative * magnitude + absolute * q.reduce(0.0) { $0 + abs(Double($1)) } * Double(scale)
                let difference = abs(Double(fromHalf[j * n + slot]) - Double(fromSingle[j * n + slot]))
                #expect(difference <= bound, "scores: query \(j) slot \(slot): f16 − f32 = \(difference) > \(bound)")
            }
        }
        let probabilities = single.randomProbabilities(seed: seed ^ 0x55)
        var valuesHalf = [Float](repeating: .nan, count: g * d), valuesSingle = valuesHalf
        half.withBlocks { blocks in
            DecodeAttentionKernels.weightedValues(
                probabilities: probabilities, groupSize: g, headDim: d, blocks: blocks, kvType: .f16, length: n,
                into: &valuesHalf, isa: isa)
        }
        single.withBlocks { blocks in
            DecodeAttentionKernels.weightedValues(
                probabilities: probabilities, groupSize: g, headDim: d, blocks: blocks, kvType: .f32, length: n,
                into: &valuesSingle, isa: isa)
        }
        let values = (0..<n).map(single.value)
        for j in 0..<g {
            for i in 0..<d {
                var magnitude = 0.0, mass = 0.0
                for slot in 0..<n {
                    magnitude += abs(Double(probabilities[j * n + slot]) * Double(values[slot][i]))
                    mass += Double(probabilities[j * n + slot])
                }
                let bound = relative * magnitude + absolute * mass
                let difference = abs(Double(valuesHalf[j * d + i]) - Double(valuesSingle[j * d + i]))
                #expect(difference <= bound, "values: query \(j) dim \(i): f16 − f32 = \(difference) > \(bound)")
            }
        }
    }

    @Test("softmax equals e^(s − max) / Σ e^(s − max)", arguments: isas, [1, 7, 16, 17, 33, 200, 1000])
    func softmax(kernels: KernelSet, length: Int) {
        let isa = kernels.isa
        let groupSize = 3
        var rng = SplitMix64(seed: UInt64(length))
        // Scores over ±30, so that probabilities span many orders of magnitude without underflow.
        let scores = (0..<groupSize * length).map { _ in Float(Double(rng.next() % 60_000) / 1000 - 30) }
        var probabilities = scores
        DecodeAttentionKernels.softmax(&probabilities, groupSize: groupSize, length: length, isa: isa)
        for j in 0..<groupSize {
            let row = scores[j * length..<(j + 1) * length].map(Double.init)
            let max = row.max()!
            let sum = row.reduce(0) { $0 + exp($1 - max) }
            for (i, score) in row.enumerated() {
                let exact = exp(score - max) / sum, got = Double(probabilities[j * length + i])
                #expect(
                    abs(got - exact) <= 1e-5 * exact,
                    "row \(j) slot \(i): \(got) vs \(exact) on \(QuantizedKernels.name(of: isa))")
            }
        }
    }

    @Test("every instruction set falls back to code that handles any head width", arguments: isas)
    func oddWidthFallsBack(kernels: KernelSet) {
        let isa = kernels.isa
        // d 20 is a multiple of neither 8 nor 16: the request must still be answered (by portable C).
        let shape = Shape(groupSize: 2, headDim: 20, blockSize: 4, length: 9)
        let head = ScatteredHead(shape, seed: 3)
        var fromRequested = [Float](repeating: .nan, count: 2 * 9), fromPortable = fromRequested
        head.withBlocks { blocks in
            DecodeAttentionKernels.scores(
                queries: head.queries, groupSize: 2, headDim: 20, blocks: blocks, kvType: .f32, length: 9, scale: 0.5,
                into: &fromRequested, isa: isa)
            DecodeAttentionKernels.scores(
                queries: head.queries, groupSize: 2, headDim: 20, blocks: blocks, kvType: .f32, length: 9, scale: 0.5,
                into: &fromPortable, isa: KVC_ISA_PORTABLE)
        }
        #expect(fromRequested == fromPortable)
    }
}

/// A head's keys and values in a pool of blocks, in a shuffled physical order like the paged cache
/// after allocations and frees, stored as `kvType` (the same seed draws the same floats whatever the
/// type; half floats are those rounded to nearest even). Unused slots of the last block (and the
/// pool's spare blocks) hold NaN, so a kernel that reads past a block's count poisons its results.
final class ScatteredHead {
    let shape: DecodeAttentionKernelTests.Shape
    let kvType: KVStorageType
    /// `[groupSize, headDim]`.
    let queries: [Float]
    /// `[poolBlocks, blockSize, headDim]` elements of `kvType` each.
    private let keys: UnsafeMutableRawPointer
    private let values: UnsafeMutableRawPointer
    /// Physical block of each logical block.
    private let physical: [Int]

    init(_ shape: DecodeAttentionKernelTests.Shape, seed: UInt64, kvType: KVStorageType = .f32) {
        self.shape = shape
        self.kvType = kvType
        var rng = SplitMix64(seed: seed)
        let d = shape.headDim, bs = shape.blockSize
        let logical = (shape.length + bs - 1) / bs, pool = logical + 3
        physical = Array((0..<pool).shuffled(using: &rng).prefix(logical))
        let bytes = pool * bs * d * kvType.bytesPerElement
        keys = .allocate(byteCount: bytes, alignment: 64)
        values = .allocate(byteCount: bytes, alignment: 64)
        func uniform(_ rng: inout SplitMix64) -> Float { Float(Double(rng.next() >> 11) / Double(1 << 53)) * 2 - 1 }
        // Queries a few times larger than keys, so that scores spread over several units as in a model.
        queries = (0..<shape.groupSize * d).map { _ in 3 * uniform(&rng) }
        var floatKeys = [Float](repeating: .nan, count: pool * bs * d), floatValues = floatKeys
        for slot in 0..<shape.length {
            for i in 0..<d {
                floatKeys[self.slot(slot) * d + i] = uniform(&rng)
                floatValues[self.slot(slot) * d + i] = uniform(&rng)
            }
        }
        for (floats, storage) in [(floatKeys, keys), (floatValues, values)] {
            switch kvType {
            case .f32: storage.initializeMemory(as: Float.self, from: floats, count: floats.count)
            case .f16: storage.initializeMemory(as: UInt16.self, from: floats.map(HalfFloat.bits(from:)), count: floats.count)
            }
        }
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Physical slot of logical slot `index`.
    private func slot(_ index: Int) -> Int { physical[index / shape.blockSize] * shape.blockSize + index % shape.blockSize }

    /// Key of logical slot `index` as stored, widened to floats: `[headDim]`.
    func key(_ index: Int) -> [Float] {
        Array(KVVector(base: keys + slot(index) * shape.headDim * kvType.bytesPerElement, type: kvType, count: shape.headDim))
    }

    /// Value of logical slot `index` as stored, widened to floats: `[headDim]`.
    func value(_ index: Int) -> [Float] {
        Array(KVVector(base: values + slot(index) * shape.headDim * kvType.bytesPerElement, type: kvType, count: shape.headDim))
    }

    /// The blocks in logical order, as the kernels take them.
    func withBlocks(_ body: (UnsafeBufferPointer<kvc_kv_block>) -> Void) {
        let bs = shape.blockSize, rowBytes = shape.headDim * kvType.bytesPerElement
        let blocks = physical.enumerated().map { logical, block in
            kvc_kv_block(
                keys: keys + block * bs * rowBytes, values: values + block * bs * rowBytes,
                count: Int32(min(bs, shape.length - logical * bs)))
        }
        blocks.withUnsafeBufferPointer(body)
    }

    /// `[groupSize, length]` rows of positive weights summing to 1, some far larger than others.
    func randomProbabilities(seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        var p = (0..<shape.groupSize * shape.length).map { _ in Float(exp(Double(rng.next() % 1000) / 100)) }
        for j in 0..<shape.groupSize {
            let row = j * shape.length..<(j + 1) * shape.length
            let sum = p[row].reduce(0, +)
            for k in row { p[k] /= sum }
        }
        return p
    }
}
