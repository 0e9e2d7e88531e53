import Foundation

/// Converts tensor data of the supported ggml types to float32.
///
/// Block layouts follow ggml's `ggml-common.h` (structs `block_q4_0` … `block_q6_K`) and the
/// reference dequantizers of `ggml-quants.c` / gguf-py `quants.py`. The arithmetic is written in
/// the same order as those references (e.g. `d * q + m`, `(d * scale) * q - dmin * min`), so the
/// results are bit-identical to gguf-py, which the fixture tests check.
///
/// Hot loops work on raw pointers (no bounds checks); the caller guarantees that `source` holds
/// `elementCount / blockSize` whole blocks. Large tensors are split over all cores.
public enum Dequantizer {
    /// Below this many elements a tensor is converted on the calling thread.
    static let parallelThreshold = 1 << 16

    /// float32 values of `elementCount` elements of `type` stored in `source`.
    ///
    /// Precondition (checked): `type.isDequantizable`, `elementCount` is a multiple of
    /// `type.blockSize` and `source` holds at least `elementCount / blockSize * bytesPerBlock` bytes.
    public static func dequantize(_ source: UnsafeRawBufferPointer, type: GGMLType, elementCount: Int) -> [Float] {
        precondition(type.isDequantizable && elementCount % type.blockSize == 0
                     && source.count >= elementCount / type.blockSize * type.bytesPerBlock,
                     "Dequantizer.dequantize: \(source.count) bytes do not hold \(elementCount) \(type) elements")
        guard elementCount > 0, let base = source.baseAddress else { return [] }
        return [Float](unsafeUninitializedCapacity: elementCount) { output, initialized in
            let destination = output.baseAddress!
            let blockCount = elementCount / type.blockSize
            HalfPrecision.halfToFloatTable.withUnsafeBufferPointer { table in
                let halves = table.baseAddress!
                if elementCount < parallelThreshold {
                    convert(type, base, destination, blocks: 0..<blockCount, halves)
                } else {
                    let chunks = min(blockCount, ProcessInfo.processInfo.activeProcessorCount * 4)
                    let shared = SharedPointers(source: base, destination: destination, halves: halves)
                    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                        let blocks = (blockCount * chunk / chunks)..<(blockCount * (chunk + 1) / chunks)
                        convert(type, shared.source, shared.destination, blocks: blocks, shared.halves)
                    }
                }
            }
            initialized = elementCount
        }
    }

    /// The pointers the parallel chunks share. @unchecked Sendable is sound: the source and the
    /// table are only read, and every chunk writes a disjoint range of the destination.
    private struct SharedPointers: @unchecked Sendable {
        let source: UnsafeRawPointer
        let destination: UnsafeMutablePointer<Float>
        let halves: UnsafePointer<Float>
    }

    /// Converts the blocks `blocks` of `source` into the matching elements of `destination`.
    private static func convert(
        _ type: GGMLType, _ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>,
        blocks: Range<Int>, _ halves: UnsafePointer<Float>
    ) {
        let blockBytes = type.bytesPerBlock
        let blockSize = type.blockSize
        var input = source + blocks.lowerBound * blockBytes
        var output = destination + blocks.lowerBound * blockSize
        let kernel: (UnsafeRawPointer, UnsafeMutablePointer<Float>, UnsafePointer<Float>) -> Void
        switch type {
        case .f32:
            UnsafeMutableRawPointer(output).copyMemory(from: input, byteCount: blocks.count * 4)
            return
        case .f16:
            for i in 0..<blocks.count { output[i] = halves[Int(input.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))] }
            return
        case .bf16:
            for i in 0..<blocks.count {
                output[i] = HalfPrecision.floatFromBFloat16(input.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            }
            return
        case .q4_0: kernel = q4_0
        case .q4_1: kernel = q4_1
        case .q5_0: kernel = q5_0
        case .q5_1: kernel = q5_1
        case .q8_0: kernel = q8_0
        case .q2_K: kernel = q2_K
        case .q3_K: kernel = q3_K
        case .q4_K: kernel = q4_K
        case .q5_K: kernel = q5_K
        case .q6_K: kernel = q6_K
        default: preconditionFailure("\(type) is not dequantizable")
        }
        for _ in blocks {
            kernel(input, output, halves)
            input += blockBytes
            output += blockSize
        }
    }

    @inline(__always) private static func half(_ block: UnsafeRawPointer, _ offset: Int, _ halves: UnsafePointer<Float>) -> Float {
        halves[Int(block.loadUnaligned(fromByteOffset: offset, as: UInt16.self))]
    }

    @inline(__always) private static func bytes(_ block: UnsafeRawPointer, _ offset: Int) -> UnsafePointer<UInt8> {
        (block + offset).assumingMemoryBound(to: UInt8.self)
    }

    // MARK: - 32-element blocks

    /// block_q4_0: d (f16) | 16 bytes; element j is the low nibble of byte j, element j + 16 the
    /// high nibble; value = (nibble - 8) · d.
    private static func q4_0(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ halves: UnsafePointer<Float>) {
        let d = half(block, 0, halves)
        let qs = bytes(block, 2)
        for j in 0..<16 {
            out[j] = Float(Int32(qs[j] & 0x0F) - 8) * d
            out[j + 16] = Float(Int32(qs[j] >> 4) - 8) * d
        }
    }

    /// block_q4_1: d, m (f16) | 16 bytes of nibbles as q4_0; value = d · nibble + m.
    private static func q4_1(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ halves: UnsafePointer<Float>) {
        let d = half(block, 0, halves)
        let m = half(block, 2, halves)
        let qs = bytes(block, 4)
        for j in 0..<16 {
            out[j] = d * Float(qs[j] & 0x0F) + m
            out[j + 16] = d * Float(qs[j] >> 4) + m
        }
    }

    /// block_q5_0: d (f16) | qh (u32, bit j = 5th bit of element j) | 16 bytes of nibbles as q4_0;
    /// value = (q - 16) · d.
    private static func q5_0(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ halves: UnsafePointer<Float>) {
        let d = half(block, 0, halves)
        let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        let qs = bytes(block, 6)
        for j in 0..<16 {
            let low = Int32(qs[j] & 0x0F) | Int32((qh >> UInt32(j)) & 1) << 4
            let high = Int32(qs[j] >> 4) | Int32((qh >> UInt32(j + 16)) & 1) << 4
            out[j] = Float(low - 16) * d
            out[j + 16] = Float(high - 16) * d
        }
    }

    /// block_q5_1: d, m (f16) | qh (u32) | 16 bytes of nibbles; value = d · q + m.
    private static func q5_1(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ halves: UnsafePointer<Float>) {
        let d = half(block, 0, halves)
        let m = half(block, 2, halves)
        let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let qs = bytes(block, 8)
        for j in 0..<16 {
            let low = UInt32(qs[j] & 0x0F) | ((qh >> UInt32(j)) & 1) << 4
            let high = UInt32(qs[j] >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
            out[j] = d * Float(low) + m
            out[j + 16] = d * Float(high) + m
        }
    }

    /// block_q8_0: d (f16) | 32 × int8; value = q · d.
    private static func q8_0(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ halves: UnsafePointer<Float>) {
        let d = half(block, 0, halves)
        let qs = (block + 2).assumingMemoryBound(to: Int8.self)
        for j in 0..<32 { out[j] = Float(qs[j]) * d }
    }

    // MARK: - 256-element K-quant super-blocks

    /// block_q2_K: 16 bytes of scales (low nibble scale, high nibble min, one per 16 elements) |
    /// qs (64 bytes, 2 bits per element) | d, dmin (f16). Each half of 128 elements uses 32 qs
    /// bytes: elements 32s + l (s = 0…3) take bits 2s…2s+1 of byte l;
    /// value = (d · scale) · q − dmin · min.
    private static func q2_K(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ halves: UnsafePointer<Float>) {
        let scales = bytes(block, 0)
        let qs = bytes(block, 16)
        let d = half(block, 80, halves)
        let dmin = half(block, 82, halves)
        for group in 0..<16 {
            let scale = d * Float(scales[group] & 0x0F)
            let minimum = dmin * Float(scales[group] >> 4)
            // Group g covers elements 16g..<16g+16: half g/8, shift (g/2)%4, bytes from 16·(g%2).
            let q = qs + 32 * (group / 8) + 16 * (group % 2)
            let shift = UInt8(2 * ((group / 2) % 4))
            let o = out + 16 * group
            for l in 0..<16 { o[l] = scale * Float((q[l] >> shift) & 3) - minimum }
        }
    }

    /// block_q3_K: hmask (32 bytes; bit j of byte l is the high bit of element 32j + l) |
    /// qs (64 bytes, low 2 bits as q2_K) | 12 bytes of 6-bit scales | d (f16).
    /// Scale i (per 16 elements) has its low 4 bits in the nibbles of bytes 0–7 (i < 8: low nibble
    /// of byte i, else high nibble of byte i − 8) and its top 2 bits in bytes 8–11 (bits 2·(i/4)
    /// of byte 8 + i%4); it is stored offset by 32. A clear high bit subtracts 4 from q.
    /// value = (d · (scale − 32)) · q.
    private static func q3_K(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ halves: UnsafePointer<Float>) {
        let hmask = bytes(block, 0)
        let qs = bytes(block, 32)
        let packed = bytes(block, 96)
        let d = half(block, 108, halves)
        for group in 0..<16 {
            let low = group < 8 ? packed[group] & 0x0F : packed[group - 8] >> 4
            let high = (packed[8 + group % 4] >> UInt8(2 * (group / 4))) & 3
            let scale = d * Float(Int32(low | high << 4) - 32)
            let q = qs + 32 * (group / 8) + 16 * (group % 2)
            let shift = UInt8(2 * ((group / 2) % 4))
            let maskOffset = 16 * (group % 2)
            let maskBit = UInt8(group / 2)
            let o = out + 16 * group
            for l in 0..<16 {
                let lowBits = Int32((q[l] >> shift) & 3)
                let highBitClear = Int32(((hmask[maskOffset + l] >> maskBit) & 1) ^ 1)
                o[l] = scale * Float(lowBits - 4 * highBitClear)
            }
        }
    }

    /// The 6-bit scale and min of sub-block `j` (0..<8) from the 12 packed bytes of q4_K / q5_K
    /// (`get_scale_min_k4` in ggml-quants.c): sub-blocks 0–3 keep their low 6 bits in bytes
    /// j and j + 4; sub-blocks 4–7 take 4 bits from byte j + 4 and 2 bits from the top of
    /// bytes j − 4 and j.
    @inline(__always) private static func scaleAndMin(_ scales: UnsafePointer<UInt8>, _ j: Int) -> (UInt8, UInt8) {
        if j < 4 { return (scales[j] & 63, scales[j + 4] & 63) }
        return ((scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4), (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4))
    }

    /// block_q4_K: d, dmin (f16) | 12 bytes scales/mins | 128 bytes of nibbles. Sub-block 2i
    /// (32 elements) is the low nibbles of bytes 32i..<32i+32, sub-block 2i+1 their high nibbles;
    /// value = (d · scale) · q − dmin · min.
    private static func q4_K(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ halves: UnsafePointer<Float>) {
        let d = half(block, 0, halves)
        let dmin = half(block, 2, halves)
        let scales = bytes(block, 4)
        let qs = bytes(block, 16)
        for pair in 0..<4 {
            let (scaleLow, minLow) = scaleAndMin(scales, 2 * pair)
            let (scaleHigh, minHigh) = scaleAndMin(scales, 2 * pair + 1)
            let dLow = d * Float(scaleLow), mLow = dmin * Float(minLow)
            let dHigh = d * Float(scaleHigh), mHigh = dmin * Float(minHigh)
            let q = qs + 32 * pair
            let o = out + 64 * pair
            for l in 0..<32 {
                o[l] = dLow * Float(q[l] & 0x0F) - mLow
                o[l + 32] = dHigh * Float(q[l] >> 4) - mHigh
            }
        }
    }

    /// block_q5_K: d, dmin (f16) | 12 bytes scales/mins | qh (32 bytes; bit s of byte l is the
    /// 5th bit of element l of sub-block s) | 128 bytes of nibbles as q4_K.
    private static func q5_K(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ halves: UnsafePointer<Float>) {
        let d = half(block, 0, halves)
        let dmin = half(block, 2, halves)
        let scales = bytes(block, 4)
        let qh = bytes(block, 16)
        let qs = bytes(block, 48)
        for pair in 0..<4 {
            let (scaleLow, minLow) = scaleAndMin(scales, 2 * pair)
            let (scaleHigh, minHigh) = scaleAndMin(scales, 2 * pair + 1)
            let dLow = d * Float(scaleLow), mLow = dmin * Float(minLow)
            let dHigh = d * Float(scaleHigh), mHigh = dmin * Float(minHigh)
            let q = qs + 32 * pair
            let o = out + 64 * pair
            let lowBit = UInt8(2 * pair), highBit = UInt8(2 * pair + 1)
            for l in 0..<32 {
                let low = (q[l] & 0x0F) | ((qh[l] >> lowBit) & 1) << 4
                let high = (q[l] >> 4) | ((qh[l] >> highBit) & 1) << 4
                o[l] = dLow * Float(low) - mLow
                o[l + 32] = dHigh * Float(high) - mHigh
            }
        }
    }

    /// block_q6_K: ql (128 bytes, low 4 bits) | qh (64 bytes, high 2 bits) | 16 int8 scales |
    /// d (f16). Each half of 128 elements uses 64 ql and 32 qh bytes: elements l, l+32, l+64,
    /// l+96 take the low nibble of ql[l], of ql[l+32], the high nibble of ql[l], of ql[l+32], and
    /// bits 0–1, 2–3, 4–5, 6–7 of qh[l]; value = (d · scale[element / 16]) · (q − 32).
    private static func q6_K(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ halves: UnsafePointer<Float>) {
        let d = half(block, 208, halves)
        let scales = (block + 192).assumingMemoryBound(to: Int8.self)
        var factors = (Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0),
                       Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0))
        withUnsafeMutableBytes(of: &factors) { raw in
            let factor = raw.baseAddress!.assumingMemoryBound(to: Float.self)
            for s in 0..<16 { factor[s] = d * Float(scales[s]) }
            for half in 0..<2 {
                let ql = bytes(block, 64 * half)
                let qh = bytes(block, 128 + 32 * half)
                let o = out + 128 * half
                let f = factor + 8 * half
                for l in 0..<32 {
                    let q1 = Int32((ql[l] & 0x0F) | (qh[l] & 3) << 4) - 32
                    let q2 = Int32((ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4) - 32
                    let q3 = Int32((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32
                    let q4 = Int32((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32
                    let group = l / 16
                    o[l] = f[group] * Float(q1)
                    o[l + 32] = f[group + 2] * Float(q2)
                    o[l + 64] = f[group + 4] * Float(q3)
                    o[l + 96] = f[group + 6] * Float(q4)
                }
            }
        }
    }
}
