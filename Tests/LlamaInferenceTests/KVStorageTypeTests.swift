import CKernels
import Foundation
import PagedKVCache
import SeededRandom
import Testing

@testable import LlamaInference

/// Half-float KV storage: the float32 → half rounding (to nearest even) on every instruction set, the
/// exact widening, pool sizes, cache operations that must keep the stored bits, and a whole tiny model
/// run on f16 against f32.
@Suite("KV storage type: f16 against f32")
struct KVStorageTypeTests {
    static let isas = DecodeAttentionKernelTests.isas

    /// Rounds `x` through `kvc_floats_to_halves` on `isa` (a lone value goes through the vector path's
    /// scalar tail, so each is also rounded inside a full vector of 8).
    static func half(_ x: Float, isa: kvc_isa) -> (alone: UInt16, inVector: UInt16) {
        var alone: UInt16 = 0
        var vector = [UInt16](repeating: 0, count: 8)
        kvc_floats_to_halves([x], &alone, 1, isa)
        kvc_floats_to_halves([Float](repeating: x, count: 8), &vector, 8, isa)
        return (alone, vector[3])
    }

    /// (input, expected half bits): exact values, ties to even at both ends of a mantissa step, the
    /// largest finite half and the first value that rounds past it, subnormals and their ties,
    /// underflow to zero, infinities.
    static let cases: [(Float, UInt16)] = [
        (0, 0x0000), (-0.0, 0x8000), (1, 0x3C00), (-2, 0xC000), (0.5, 0x3800),
        // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties to the even mantissa (1).
        (1 + 0x1p-11, 0x3C00),
        // 1 + 3·2^-11 lies halfway between 1 + 2^-10 (odd) and 1 + 2^-9 (even): rounds up.
        (1 + 3 * 0x1p-11, 0x3C02),
        // Just above the tie: up.
        (Float(bitPattern: (1 + 0x1p-11 as Float).bitPattern + 1), 0x3C01),
        (65504, 0x7BFF), (65519, 0x7BFF),
        // 65520 is halfway between 65504 and 65536 (= 2^16, past the range): ties to even → inf.
        (65520, 0x7C00), (1e6, 0x7C00), (-1e6, 0xFC00), (.infinity, 0x7C00), (-.infinity, 0xFC00),
        // Smallest subnormal 2^-24, largest subnormal, smallest normal 2^-14.
        (0x1p-24, 0x0001), (1023 * 0x1p-24, 0x03FF), (0x1p-14, 0x0400),
        // 2^-25 is halfway between 0 and 2^-24: ties to even (0); a hair above rounds up.
        (0x1p-25, 0x0000), (Float(bitPattern: (0x1p-25 as Float).bitPattern + 1), 0x0001),
        // 3·2^-25 is halfway between 2^-24 (odd) and 2·2^-24: up to 2.
        (3 * 0x1p-25, 0x0002), (-3 * 0x1p-25, 0x8002),
        // Far below the smallest subnormal: signed zero.
        (1e-10, 0x0000), (-1e-10, 0x8000),
    ]

    @Test("float32 → half rounds to nearest even, on every instruction set", arguments: isas)
    func roundingEdgeCases(kernels: DecodeAttentionKernelTests.KernelSet) {
        for (x, expected) in Self.cases {
            let (alone, inVector) = Self.half(x, isa: kernels.isa)
            #expect(alone == expected, "\(x) → \(String(alone, radix: 16)), expected \(String(expected, radix: 16))")
            #expect(inVector == expected, "\(x) in a vector → \(String(inVector, radix: 16)), expected \(String(expected, radix: 16))")
        }
        // NaN stays NaN (the payload may differ between paths).
        let (alone, inVector) = Self.half(.nan, isa: kernels.isa)
        for bits in [alone, inVector] { #expect(bits & 0x7C00 == 0x7C00 && bits & 0x03FF != 0) }
    }

    @Test("every instruction set rounds random floats to the same halves", arguments: isas)
    func pathsAgree(kernels: DecodeAttentionKernelTests.KernelSet) {
        var rng = SplitMix64(seed: 99)
        // Random bit patterns over the whole float range (NaNs excluded: their payloads may differ).
        let floats = (0..<4099).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }.filter { !$0.isNaN }
        var portable = [UInt16](repeating: 0, count: floats.count), other = portable
        kvc_floats_to_halves(floats, &portable, Int64(floats.count), KVC_ISA_PORTABLE)
        kvc_floats_to_halves(floats, &other, Int64(floats.count), kernels.isa)
        #expect(portable == other)
        #expect(zip(floats, portable).allSatisfy { HalfFloat.bits(from: $0) == $1 })
    }

    @Test("half → float is exact and the same on every path, for all 65536 halves", arguments: isas)
    func widening(kernels: DecodeAttentionKernelTests.KernelSet) {
        let halves = (0...UInt16.max).map { $0 }
        var floats = [Float](repeating: 0, count: halves.count)
        kvc_halves_to_floats(halves, &floats, Int64(halves.count), kernels.isa)
        for h in halves {
            let reference = kvc_half_to_float(h), inline = HalfFloat.float(fromBits: h), bulk = floats[Int(h)]
            if reference.isNaN {
                #expect(inline.isNaN && bulk.isNaN)
            } else {
                #expect(inline.bitPattern == reference.bitPattern && bulk.bitPattern == reference.bitPattern, "half \(h)")
                // Exact: rounding back gives the same half.
                #expect(HalfFloat.bits(from: reference) == h)
            }
        }
    }

    @Test("a block of f16 KVs takes half the K/V bytes, so a pool of fixed bytes holds about twice the blocks")
    func bytesPerBlock() throws {
        let f16 = try CacheLayout(layers: 30, kvHeads: 3, headDim: 64, blockSize: 16)
        let f32 = f16.with(kvType: .f32)
        #expect(f16.kvType == .f16 && KVStorageType.default == .f16)
        #expect(f16.bytesPerBlock == 16 * (2 * 64 * 2 + 8) && f32.bytesPerBlock == 16 * (2 * 64 * 4 + 8))
        let bytes = 64 << 20
        let small = try PagedKVCache(layout: f32, capacityBytes: bytes), large = try PagedKVCache(layout: f16, capacityBytes: bytes)
        #expect(small.capacityBlocks == bytes / 8320 && large.capacityBlocks == bytes / 4224)
        #expect(Double(large.capacityBlocks) / Double(small.capacityBlocks) > 1.9)
        // Layouts recorded before the type existed described float32 caches.
        let old = try JSONDecoder().decode(CacheLayout.self, from: Data(#"{"layers":1,"kvHeads":1,"headDim":8,"blockSize":4}"#.utf8))
        #expect(old.kvType == .f32)
        let roundTrip = try JSONDecoder().decode(CacheLayout.self, from: JSONEncoder().encode(f16))
        #expect(roundTrip == f16)
        #expect(throws: KVCacheError.self) { try KVStorageType(parsing: "bf16") }
        #expect(try KVStorageType(parsing: "F32") == .f32)
    }

    /// Bytes of every valid slot of `sequence`: (key, value) rows as stored, in logical order per head.
    static func storedBytes(_ cache: PagedKVCache, _ sequence: SequenceID) -> [[UInt8]] {
        let layout = cache.layout, rowBytes = layout.headDim * layout.kvType.bytesPerElement
        var heads: [[UInt8]] = []
        for layer in 0..<layout.layers {
            for head in 0..<layout.kvHeads {
                let view = cache.view(sequence, layer: layer, head: head)
                var bytes: [UInt8] = []
                for i in 0..<view.length {
                    bytes += UnsafeRawBufferPointer(start: view.key(i).storage, count: rowBytes)
                    bytes += UnsafeRawBufferPointer(start: view.value(i).storage, count: rowBytes)
                }
                heads.append(bytes)
            }
        }
        return heads
    }

    @Test("moves, forks and sliding-window frees keep f16 keys and values bit for bit", arguments: [1, 4, 16])
    func operationsKeepBits(blockSize: Int) throws {
        let layout = try CacheLayout(layers: 2, kvHeads: 2, headDim: 24, blockSize: blockSize)
        let cache = try PagedKVCache(layout: layout, capacityBlocks: 4 * layout.headCount * layout.blocks(forTokens: 40))
        let sequence = cache.addSequence()
        let n = 37
        try cache.reserve(sequence, tokens: n)
        var rng = SplitMix64(seed: UInt64(blockSize))
        for layer in 0..<layout.layers {
            let kv = (0..<2 * n * layout.kvHeads * layout.headDim).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53)) * 8 - 4 }
            let width = n * layout.kvHeads * layout.headDim
            cache.append(
                sequence, layer: layer, count: n, keys: Array(kv[..<width]), values: Array(kv[width...]),
                positions: (0..<Int32(n)).map { $0 })
            // Appends round to nearest even: the stored half is the one kvc_float_to_half gives.
            let view = cache.view(sequence, layer: layer, head: 1)
            for i in [0, 17, n - 1] {
                for j in 0..<layout.headDim {
                    #expect(HalfFloat.bits(from: kv[(i * layout.kvHeads + 1) * layout.headDim + j]) == HalfFloat.bits(from: view.key(i)[j]))
                }
            }
        }
        cache.advance(sequence, by: n)
        let before = Self.storedBytes(cache, sequence)

        // Fork: the same bytes.
        let fork = try cache.fork(sequence)
        #expect(Self.storedBytes(cache, fork) == before)

        // Move slot 30 to 3 on every head: slot 3 now holds slot 30's bytes exactly.
        let rowBytes = layout.headDim * 2
        for layer in 0..<layout.layers {
            for head in 0..<layout.kvHeads {
                cache.moveSlot(fork, layer: layer, head: head, from: 30, to: 3)
                let view = cache.view(fork, layer: layer, head: head)
                let original = before[layer * layout.kvHeads + head]
                let moved = Array(UnsafeRawBufferPointer(start: view.key(3).storage, count: rowBytes))
                    + Array(UnsafeRawBufferPointer(start: view.value(3).storage, count: rowBytes))
                #expect(moved == Array(original[(30 * 2 * rowBytes)..<(31 * 2 * rowBytes)]))
                #expect(view.position(3) == 30)
            }
        }

        // Sliding-window free: the KVs left are the trailing ones, bytes unchanged.
        let freed = try cache.freeBlocksOutsideWindow(sequence, layers: [0], window: 8)
        let after = Self.storedBytes(cache, sequence)
        for head in 0..<layout.kvHeads {
            let dropped = before[head].count - after[head].count
            #expect(dropped % (2 * rowBytes) == 0)
            #expect(Array(before[head][dropped...]) == after[head])
        }
        #expect(freed > 0 || blockSize == 16 && n < 2 * 16 + 8)
        #expect(after[layout.kvHeads...] == before[layout.kvHeads...])
    }

    /// A whole generation on the tiny random model with f16 and with f32 KVs, fed the same tokens
    /// (the f32 run's greedy choices), so the logits compare step for step.
    ///
    /// Bound: with f16 KVs, the keys, values, queries and softmax probabilities each change by at
    /// most 2^-11 of themselves (f16 rounding of the cache, and of attention's operands as llama.cpp
    /// rounds them; HalfPrecisionOperands); attention passes a relative change of that order on to
    /// each layer's output, and the residual stream and the output projection carry it to the
    /// logits. The random model's logits reach tens, so we bound the difference relative to the
    /// largest logit: 2^-11 per rounded operand and layer, times a factor 8 for the softmax and
    /// projections' amplification, i.e. 8 · 2 · 4 · 2^-11 ≈ 3% of max |logit| (measured: up to 1.4%). Greedy
    /// tokens must agree wherever the f32 top-2 margin exceeds twice the observed difference (where
    /// the rounding cannot flip them).
    @Test("tiny-model generation: f16 logits close to f32, greedy tokens equal where the margin allows")
    func wholeGeneration() throws {
        let c = tinyConfiguration
        let prompt = randomTokens(45, seed: 5)
        func run(_ kvType: KVStorageType, forcing forced: [Int32]?) throws -> (logits: [[Float]], tokens: [Int32]) {
            let cache = try tinyModel.makeCache(blockSize: 16, kvType: kvType, capacityBlocks: c.layers * c.kvHeads * 8)
            let sequence = cache.addSequence()
            var logits = [try tinyModel.prefill(prompt, sequence: sequence, cache: cache)]
            var tokens: [Int32] = []
            for step in 0..<12 {
                let last = logits.last!
                tokens.append(Int32(last.indices.max { last[$0] < last[$1] }!))
                logits.append(try tinyModel.decode([(sequence, forced?[step] ?? tokens.last!)], cache: cache)[0])
            }
            return (logits, tokens)
        }
        let single = try run(.f32, forcing: nil), half = try run(.f16, forcing: single.tokens)
        for (step, (a, b)) in zip(half.logits, single.logits).enumerated() {
            let difference = maxDifference(a, b), scale = b.map(abs).max()!
            #expect(difference <= 8 * 2 * 4 * 0x1p-11 * scale, "step \(step): |f16 − f32| = \(difference), max |logit| \(scale)")
            let sorted = b.sorted(by: >)
            if step < single.tokens.count, sorted[0] - sorted[1] > 2 * difference {
                #expect(half.tokens[step] == single.tokens[step], "step \(step)")
            }
        }
        #expect(zip(half.logits, single.logits).contains { maxDifference($0, $1) > 0 }, "f16 storage should change the logits at all")
    }
}
