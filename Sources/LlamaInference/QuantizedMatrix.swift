import GGUF

/// A weight matrix kept in its file's 4- or 8-bit block format (ggml Q4_1 or Q8_0, blocks of 32
/// weights along a row) for the matrix-vector products of small decode batches.
///
/// Why: a decode step of one sequence reads every weight once, so it is bound by memory bandwidth,
/// not arithmetic. Float32 weights of SmolLM2-135M are 540 MB per token; the file's Q4_1 blocks are
/// a fifth of that. The blocks are used exactly as stored (scale and minimum converted to float32),
/// so these products compute the same weights as the float32 copy used by prefill's sgemm — only
/// the summation order differs.
///
/// Storage (row-major, per row `blocksPerRow = columns / 32` blocks):
/// - `scales`: `[rows, blocksPerRow]` float32 — d of each block.
/// - `minimums`: `[rows, blocksPerRow]` float32 — m of each Q4_1 block (weight = d·q + m); unused for Q8_0.
/// - `quants`: Q4_1 `[rows, blocksPerRow, 16]` bytes (weight j in the low nibble of byte j, weight
///   j + 16 in its high nibble); Q8_0 `[rows, blocksPerRow, 32]` signed bytes (weight = d·q).
final class QuantizedMatrix: @unchecked Sendable {
    enum Format: Sendable { case q4_1, q8_0 }
    static let blockLength = 32

    let format: Format
    let rows: Int
    let columns: Int
    let blocksPerRow: Int
    let scales: UnsafeMutablePointer<Float>
    let minimums: UnsafeMutablePointer<Float>
    let quants: UnsafeMutableRawPointer

    var quantBytesPerBlock: Int { format == .q4_1 ? 16 : 32 }
    /// Bytes the matrix occupies.
    var byteCount: Int { rows * blocksPerRow * (quantBytesPerBlock + (format == .q4_1 ? 8 : 4)) }

    private init(format: Format, rows: Int, columns: Int) {
        self.format = format
        self.rows = rows
        self.columns = columns
        blocksPerRow = columns / Self.blockLength
        scales = .allocate(capacity: rows * blocksPerRow)
        minimums = .allocate(capacity: format == .q4_1 ? rows * blocksPerRow : 1)
        quants = .allocate(byteCount: rows * blocksPerRow * (format == .q4_1 ? 16 : 32), alignment: 64)
    }

    /// Unpacks the raw bytes of a ggml tensor of `rows` × `columns` weights; nil when its type is not
    /// Q4_1 or Q8_0 (the caller then keeps float32 only).
    convenience init?(raw: UnsafeRawBufferPointer, type: GGMLType, rows: Int, columns: Int) {
        let format: Format
        switch type {
        case .q4_1: format = .q4_1
        case .q8_0: format = .q8_0
        default: return nil
        }
        guard columns % Self.blockLength == 0 else { return nil }
        self.init(format: format, rows: rows, columns: columns)
        let blocks = rows * blocksPerRow
        let stride = format == .q4_1 ? 20 : 34
        guard raw.count >= blocks * stride else { return nil }
        let base = raw.baseAddress!
        for b in 0..<blocks {
            let block = base + b * stride
            scales[b] = Float(Float16(bitPattern: block.loadUnaligned(as: UInt16.self)))
            if format == .q4_1 {
                minimums[b] = Float(Float16(bitPattern: block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
                (quants + b * 16).copyMemory(from: block + 4, byteCount: 16)
            } else {
                (quants + b * 32).copyMemory(from: block + 2, byteCount: 32)
            }
        }
    }

    /// Stacks matrices of one format and width vertically (the fused QKV and gate-up projections).
    convenience init?(stacking parts: [QuantizedMatrix?]) {
        guard let first = parts.first ?? nil, parts.allSatisfy({ $0?.format == first.format && $0?.columns == first.columns })
        else { return nil }
        let parts = parts.map { $0! }
        self.init(format: first.format, rows: parts.reduce(0) { $0 + $1.rows }, columns: first.columns)
        var blockOffset = 0
        for part in parts {
            let blocks = part.rows * part.blocksPerRow
            (scales + blockOffset).update(from: part.scales, count: blocks)
            if format == .q4_1 { (minimums + blockOffset).update(from: part.minimums, count: blocks) }
            (quants + blockOffset * quantBytesPerBlock).copyMemory(from: part.quants, byteCount: blocks * quantBytesPerBlock)
            blockOffset += blocks
        }
    }

    deinit {
        scales.deallocate()
        minimums.deallocate()
        quants.deallocate()
    }

    /// y[b, r] (+)= Σ_c W[r, c] · x[b, c] for every row r and batch entry b, rows spread over all cores.
    /// - Parameters:
    ///   - x: `[batch, columns]`.
    ///   - y: `[batch, ldy]`; the result goes to columns `0..<rows`.
    ///   - accumulate: add to y (a residual connection) instead of overwriting it.
    func multiply(_ x: UnsafePointer<Float>, batch: Int, into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool) {
        // x reordered once per call to the lane order in which the kernels unpack a block (see
        // `lane(_:)`), plus the sum of each 32-block of x: the minimum term of Q4_1
        // (Σ (d q + m) x = d Σ q x + m Σ x). Both are shared by every row.
        let permuted = UnsafeMutablePointer<Float>.allocate(capacity: batch * columns)
        let blockSums = UnsafeMutablePointer<Float>.allocate(capacity: batch * blocksPerRow)
        defer {
            permuted.deallocate()
            blockSums.deallocate()
        }
        for b in 0..<batch {
            for k in 0..<blocksPerRow {
                let source = x + b * columns + k * Self.blockLength, target = permuted + b * columns + k * Self.blockLength
                var sum: Float = 0
                for e in 0..<Self.blockLength {
                    target[lane(e)] = source[e]
                    sum += source[e]
                }
                blockSums[b * blocksPerRow + k] = sum
            }
        }
        // Enough chunks for the cores to balance, each large enough to amortise the dispatch.
        let chunkRows = max(16, (rows + 15) / 16)
        let chunks = (rows + chunkRows - 1) / chunkRows
        let xs = SharedPointer(permuted), ys = SharedPointer(y), sums = SharedPointer(blockSums)
        parallelFor(chunks) { chunk in
            let start = chunk * chunkRows, end = min(self.rows, start + chunkRows)
            var b = 0
            // Sequences in pairs: the blocks are unpacked once for both.
            while b + 2 <= batch {
                let x0 = xs.base + b * self.columns, x1 = x0 + self.columns
                let y0 = ys.base + b * ldy, y1 = y0 + ldy
                let s0 = sums.base + b * self.blocksPerRow, s1 = s0 + self.blocksPerRow
                for r in start..<end {
                    let (v0, v1) = self.format == .q4_1
                        ? self.dotQ4_1(row: r, x0, x1, blockSums: s0, s1) : self.dotQ8_0(row: r, x0, x1)
                    y0[r] = accumulate ? y0[r] + v0 : v0
                    y1[r] = accumulate ? y1[r] + v1 : v1
                }
                b += 2
            }
            if b < batch {
                let xb = xs.base + b * self.columns, yb = ys.base + b * ldy
                var r = start
                if self.format == .q4_1 {
                    // Rows in pairs: one load of x serves both.
                    while r + 2 <= end {
                        let (first, second) = self.dotQ4_1(rows: r, x: xb, blockSums: sums.base + b * self.blocksPerRow)
                        yb[r] = accumulate ? yb[r] + first : first
                        yb[r + 1] = accumulate ? yb[r + 1] + second : second
                        r += 2
                    }
                }
                while r < end {
                    let value = self.format == .q4_1
                        ? self.dotQ4_1(row: r, x: xb, blockSums: sums.base + b * self.blocksPerRow)
                        : self.dotQ8_0(row: r, x: xb)
                    yb[r] = accumulate ? yb[r] + value : value
                    r += 1
                }
            }
        }
    }

    /// Where element `e` of a block sits in the kernels' unpacking order.
    ///
    /// The kernels read a block's bytes as 32-bit lanes (`SIMD4<UInt32>`) and peel one nibble or byte
    /// off every lane per shift, which yields the elements in a strided order; x is permuted to match
    /// once per product instead of shuffling every block of every row. Lanes are converted with the
    /// concrete `SIMD4<Int32>` → `SIMD4<Float>` initialiser, one instruction (`cvtdq2ps`); generic and
    /// wider conversions lower to scalar code.
    /// - Q4_1: step s (shift 4s) of lane L is byte 4L + s/2, low nibble (element 4L + s/2) for even s,
    ///   high nibble (element 4L + s/2 + 16) for odd s.
    /// - Q8_0: half h (bytes 16h..<16h+16), step i (shift 8i) of lane L is element 16h + 4L + i.
    private func lane(_ e: Int) -> Int {
        switch format {
        case .q4_1:
            let high = e >= 16, byte = e % 16
            let l = byte / 4, s = 2 * (byte % 4) + (high ? 1 : 0)
            return s * 4 + l
        case .q8_0:
            let h = e / 16, within = e % 16
            let l = within / 4, i = within % 4
            return h * 16 + i * 4 + l
        }
    }

    /// Σ_c W[row, c] · x[c] for Q4_1 blocks; `x` permuted by `lane(_:)`.
    @inline(__always)
    private func dotQ4_1(row: Int, x: UnsafePointer<Float>, blockSums: UnsafePointer<Float>) -> Float {
        var acc = SIMD4<Float>()
        let first = row * blocksPerRow
        let q = UnsafeRawPointer(quants) + first * 16
        let xr = UnsafeRawPointer(x)
        let mask = SIMD4<UInt32>(repeating: 0xF)
        for k in 0..<blocksPerRow {
            let packed = q.loadUnaligned(fromByteOffset: k * 16, as: SIMD4<UInt32>.self)
            let xk = xr + k * 128
            // Two partial sums halve the chain of dependent adds.
            var even = SIMD4<Float>(), odd = SIMD4<Float>()
            for s in 0..<8 {
                let t = (packed &>> UInt32(4 * s)) & mask
                let value = SIMD4<Float>(SIMD4<Int32>(truncatingIfNeeded: t))
                let product = value * xk.loadUnaligned(fromByteOffset: s * 16, as: SIMD4<Float>.self)
                if s % 2 == 0 { even += product } else { odd += product }
            }
            acc += (even + odd) * scales[first + k]
        }
        return acc.sum() + Kernels.dot(minimums + first, blockSums, blocksPerRow)
    }

    /// Rows `row` and `row + 1` at once (see `dotQ4_1(row:x:blockSums:)`): each x chunk is loaded
    /// once for both.
    @inline(__always)
    private func dotQ4_1(rows row: Int, x: UnsafePointer<Float>, blockSums: UnsafePointer<Float>) -> (Float, Float) {
        var acc0 = SIMD4<Float>(), acc1 = SIMD4<Float>()
        let first = row * blocksPerRow, second = first + blocksPerRow
        let q0 = UnsafeRawPointer(quants) + first * 16, q1 = UnsafeRawPointer(quants) + second * 16
        let xr = UnsafeRawPointer(x)
        let mask = SIMD4<UInt32>(repeating: 0xF)
        for k in 0..<blocksPerRow {
            let packed0 = q0.loadUnaligned(fromByteOffset: k * 16, as: SIMD4<UInt32>.self)
            let packed1 = q1.loadUnaligned(fromByteOffset: k * 16, as: SIMD4<UInt32>.self)
            let xk = xr + k * 128
            var block0 = SIMD4<Float>(), block1 = SIMD4<Float>()
            for s in 0..<8 {
                let xs = xk.loadUnaligned(fromByteOffset: s * 16, as: SIMD4<Float>.self)
                block0 += SIMD4<Float>(SIMD4<Int32>(truncatingIfNeeded: (packed0 &>> UInt32(4 * s)) & mask)) * xs
                block1 += SIMD4<Float>(SIMD4<Int32>(truncatingIfNeeded: (packed1 &>> UInt32(4 * s)) & mask)) * xs
            }
            acc0 += block0 * scales[first + k]
            acc1 += block1 * scales[second + k]
        }
        return (
            acc0.sum() + Kernels.dot(minimums + first, blockSums, blocksPerRow),
            acc1.sum() + Kernels.dot(minimums + second, blockSums, blocksPerRow)
        )
    }

    /// One Q4_1 row against two vectors (`x` permuted by `lane(_:)`): each block unpacked once.
    @inline(__always)
    private func dotQ4_1(
        row: Int, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, blockSums s0: UnsafePointer<Float>,
        _ s1: UnsafePointer<Float>
    ) -> (Float, Float) {
        var acc0 = SIMD4<Float>(), acc1 = SIMD4<Float>()
        let first = row * blocksPerRow
        let q = UnsafeRawPointer(quants) + first * 16
        let xr0 = UnsafeRawPointer(x0), xr1 = UnsafeRawPointer(x1)
        let mask = SIMD4<UInt32>(repeating: 0xF)
        for k in 0..<blocksPerRow {
            let packed = q.loadUnaligned(fromByteOffset: k * 16, as: SIMD4<UInt32>.self)
            var block0 = SIMD4<Float>(), block1 = SIMD4<Float>()
            for s in 0..<8 {
                let w = SIMD4<Float>(SIMD4<Int32>(truncatingIfNeeded: (packed &>> UInt32(4 * s)) & mask))
                block0 += w * xr0.loadUnaligned(fromByteOffset: k * 128 + s * 16, as: SIMD4<Float>.self)
                block1 += w * xr1.loadUnaligned(fromByteOffset: k * 128 + s * 16, as: SIMD4<Float>.self)
            }
            let scale = scales[first + k]
            acc0 += block0 * scale
            acc1 += block1 * scale
        }
        return (
            acc0.sum() + Kernels.dot(minimums + first, s0, blocksPerRow), acc1.sum() + Kernels.dot(minimums + first, s1, blocksPerRow)
        )
    }

    /// One Q8_0 row against two vectors (`x` permuted by `lane(_:)`): each block unpacked once.
    @inline(__always)
    private func dotQ8_0(row: Int, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>) -> (Float, Float) {
        var acc0 = SIMD4<Float>(), acc1 = SIMD4<Float>()
        let first = row * blocksPerRow
        let q = UnsafeRawPointer(quants) + first * 32
        let xr0 = UnsafeRawPointer(x0), xr1 = UnsafeRawPointer(x1)
        for k in 0..<blocksPerRow {
            var block0 = SIMD4<Float>(), block1 = SIMD4<Float>()
            for h in 0..<2 {
                let packed = q.loadUnaligned(fromByteOffset: k * 32 + h * 16, as: SIMD4<Int32>.self)
                for i in 0..<4 {
                    let w = SIMD4<Float>((packed &<< Int32(24 - 8 * i)) &>> 24)
                    let offset = k * 128 + (h * 16 + i * 4) * 4
                    block0 += w * xr0.loadUnaligned(fromByteOffset: offset, as: SIMD4<Float>.self)
                    block1 += w * xr1.loadUnaligned(fromByteOffset: offset, as: SIMD4<Float>.self)
                }
            }
            let scale = scales[first + k]
            acc0 += block0 * scale
            acc1 += block1 * scale
        }
        return (acc0.sum(), acc1.sum())
    }

    /// Σ_c W[row, c] · x[c] for Q8_0 blocks; `x` permuted by `lane(_:)`.
    @inline(__always)
    private func dotQ8_0(row: Int, x: UnsafePointer<Float>) -> Float {
        var acc = SIMD4<Float>()
        let first = row * blocksPerRow
        let q = UnsafeRawPointer(quants) + first * 32
        let xr = UnsafeRawPointer(x)
        for k in 0..<blocksPerRow {
            let xk = xr + k * 128
            var even = SIMD4<Float>(), odd = SIMD4<Float>()
            for h in 0..<2 {
                let packed = q.loadUnaligned(fromByteOffset: k * 32 + h * 16, as: SIMD4<Int32>.self)
                for i in 0..<4 {
                    // Byte i of each lane, sign-extended: shift it to the top, then arithmetically down.
                    let value = SIMD4<Float>((packed &<< Int32(24 - 8 * i)) &>> 24)
                    let product = value * xk.loadUnaligned(fromByteOffset: (h * 16 + i * 4) * 4, as: SIMD4<Float>.self)
                    if i % 2 == 0 { even += product } else { odd += product }
                }
            }
            acc += (even + odd) * scales[first + k]
        }
        return acc.sum()
    }
}
