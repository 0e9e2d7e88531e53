import CKernels
import Foundation
import KVCLinearAlgebra

/// Element-wise kernels of the forward pass, written on raw buffers with SIMD types so that no
/// per-element Swift overhead (bounds checks, array copies, retain/release) enters the hot loops.
///
/// Multiply-adds are written `acc += x * y` rather than `addProduct`: without a target CPU that
/// guarantees FMA, `addProduct` lowers to a libm call per lane.
enum Kernels {
    /// Dot product of two float vectors of length `count`.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
        var i = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i + 32 <= count {
            acc0 += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            acc1 += ra.loadUnaligned(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self)
                * rb.loadUnaligned(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self)
            i += 32
        }
        if i + 16 <= count {
            acc0 += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        var sum = (acc0 + acc1).sum()
        while i < count {
            sum += a[i] * b[i]
            i += 1
        }
        return sum
    }

    /// RMSNorm of `rows` rows of width `width` (Llama: x / sqrt(mean(x²) + ε) · weight).
    /// - Parameters:
    ///   - input: `[rows, width]`, row stride `width`.
    ///   - output: `[rows, width]` (may alias `input`).
    static func rmsNorm(
        _ input: UnsafePointer<Float>, weight: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        rows: Int, width: Int, epsilon: Float
    ) {
        for r in 0..<rows {
            let x = input + r * width, y = output + r * width
            let meanSquare = meanOfSquares(x, width)
            let scale = 1 / (meanSquare + epsilon).squareRoot()
            for i in 0..<width { y[i] = x[i] * scale * weight[i] }
        }
    }

    /// Σ x[i]² / width as ggml's `rms_norm` forms it: float squares summed in double precision, the
    /// mean rounded to float once (ggml-cpu ops.cpp, `ggml_compute_forward_rms_norm_f32`). A double
    /// sum of float terms hardly depends on its order, so the 8-lane sum gives ggml's float mean
    /// where a float sum (one rounding per addition) differed from it in the last bits.
    static func meanOfSquares(_ x: UnsafePointer<Float>, _ width: Int) -> Float {
        var lanes = SIMD8<Double>()
        var i = 0
        while i + 8 <= width {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            lanes += SIMD8<Double>(v * v)
            i += 8
        }
        var sum = lanes.sum()
        while i < width {
            sum += Double(x[i] * x[i])
            i += 1
        }
        return Float(sum / Double(width))
    }

    /// SwiGLU: out[r, i] = silu(gate[r, i]) · up[r, i] with silu(g) = g / (1 + e^-g).
    /// - Parameters:
    ///   - gateUp: `[rows, 2 * width]`, gate in the first `width` columns of a row, up in the rest.
    ///   - output: `[rows, width]`.
    static func swiGLU(_ gateUp: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        // Rows split over the cores from a few rows on (a decode batch): serial, it showed as 3% of a
        // batch-32 step with the other core idle.
        let chunk = rows < 4 ? rows : (rows + 3) / 4, chunks = (rows + chunk - 1) / chunk
        let input = SharedPointer(UnsafeMutablePointer(mutating: gateUp)), out = SharedPointer(output)
        parallelFor(chunks) { c in
            for r in c * chunk..<min(rows, (c + 1) * chunk) {
                swiGLURow(input.base + r * 2 * width, output: out.base + r * width, width: width)
            }
        }
    }

    /// One row of ``swiGLU(_:output:rows:width:)``: gate `[width]` followed by up `[width]`.
    private static func swiGLURow(_ g: UnsafePointer<Float>, output o: UnsafeMutablePointer<Float>, width: Int) {
        let u = g + width
        var i = 0
        while i + 16 <= width {
            let gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self)
            let uv = UnsafeRawPointer(u + i).loadUnaligned(as: SIMD16<Float>.self)
            let silu = gv / (1 + exp16(-gv))
            UnsafeMutableRawPointer(o + i).storeBytes(of: silu * uv, as: SIMD16<Float>.self)
            i += 16
        }
        while i < width {
            o[i] = g[i] / (1 + Foundation.exp(-g[i])) * u[i]
            i += 1
        }
    }

    /// In-place softmax of `x[0..<count]`; returns nothing, leaves probabilities summing to 1.
    static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        var maxValue = -Float.infinity
        var i = 0
        var m16 = SIMD16<Float>(repeating: -.infinity)
        while i + 16 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            m16.replace(with: v, where: v .> m16)
            i += 16
        }
        maxValue = m16.max()
        while i < count {
            maxValue = max(maxValue, x[i])
            i += 1
        }
        // The sum in double precision and the factor 1/sum rounded to float once, as ggml's
        // `ggml_vec_soft_max_f32` / `ggml_compute_forward_soft_max_f32` form it (a float sum differed
        // in the last bits, which float16 rounding of the probabilities can magnify).
        var low = SIMD8<Double>(), high = SIMD8<Double>()
        var sum: Double = 0
        i = 0
        let m = SIMD16<Float>(repeating: maxValue)
        while i + 16 <= count {
            let e = exp16(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self) - m)
            UnsafeMutableRawPointer(x + i).storeBytes(of: e, as: SIMD16<Float>.self)
            low += SIMD8<Double>(e.lowHalf)
            high += SIMD8<Double>(e.highHalf)
            i += 16
        }
        while i < count {
            let e = Foundation.exp(x[i] - maxValue)
            x[i] = e
            sum += Double(e)
            i += 1
        }
        sum += (low + high).sum()
        scale(x, count: count, by: Float(1 / sum))
    }

    /// x[0..<count] *= factor.
    @inline(__always)
    static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        var i = 0
        let f = SIMD16<Float>(repeating: factor)
        while i + 16 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self) * f
            UnsafeMutableRawPointer(x + i).storeBytes(of: v, as: SIMD16<Float>.self)
            i += 16
        }
        while i < count {
            x[i] *= factor
            i += 1
        }
    }

    /// e^x for 16 lanes, relative error about 2e-7 (Cephes-style: x = n·ln2 + r, |r| ≤ ln2/2,
    /// e^r by a degree-6 polynomial, 2^n assembled in the exponent bits). Inputs below −87 give 0.
    /// Clamping uses masked replacement, not `pointwiseMin`/`Max`, which lower to scalar loops.
    @inline(__always)
    static func exp16(_ input: SIMD16<Float>) -> SIMD16<Float> {
        let low = SIMD16<Float>(repeating: -87.33654), high = SIMD16<Float>(repeating: 88.72283)
        var x = input
        x.replace(with: low, where: x .< low)
        x.replace(with: high, where: x .> high)
        // Round x·log2(e) to the nearest integer with the 1.5·2^23 trick (no SSE4.1 needed): the
        // integer lands in the low mantissa bits of `shifted`.
        let magic = SIMD16<Float>(repeating: 12_582_912)
        let shifted = x * SIMD16(repeating: 1.442_695_04) + magic
        let n = shifted - magic
        let r = x - n * SIMD16(repeating: 0.693_359_375) - n * SIMD16(repeating: -2.121_944_4e-4)
        var p = SIMD16<Float>(repeating: 1.987_569_15e-4)
        p = p * r + SIMD16(repeating: 1.398_199_95e-3)
        p = p * r + SIMD16(repeating: 8.333_451_9e-3)
        p = p * r + SIMD16(repeating: 4.166_579_6e-2)
        p = p * r + SIMD16(repeating: 1.666_666_55e-1)
        p = p * r + SIMD16(repeating: 5.000_000_1e-1)
        p = p * r * r + r + SIMD16(repeating: 1)
        let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
        let twoToN = unsafeBitCast((integer &+ 127) &<< 23, to: SIMD16<Float>.self)
        var result = p * twoToN
        // Underflow: below the clamp, e^x is zero to float precision.
        result.replace(with: 0, where: input .< low)
        return result
    }

    /// C[m, n] (+)= A[m, k] · Wᵀ for a weight W `[n, k]`, with the n output columns split over all
    /// cores (single-threaded BLAS calls on the model's worker pool: one thread pool for the whole
    /// model, so BLAS threads never spin against attention workers).
    static func parallelGemm(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, weight: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
        accumulate: Bool
    ) {
        let chunks = m * n * k < 1 << 20 ? 1 : 2 * WorkerPool.shared.threads
        let chunk = ((n + chunks - 1) / chunks + 15) / 16 * 16
        let count = (n + chunk - 1) / chunk
        let ap = SharedPointer(UnsafeMutablePointer(mutating: a)), wp = SharedPointer(UnsafeMutablePointer(mutating: weight))
        let cp = SharedPointer(c)
        parallelFor(count) { i in
            let start = i * chunk, width = min(chunk, n - start)
            BLAS.gemm(
                m: m, n: width, k: k, a: ap.base, b: wp.base + start * k, ldb: k, transposeB: true, c: cp.base + start, ldc: n,
                beta: accumulate ? 1 : 0)
        }
    }
}

/// Runs `body(i)` for i in 0..<count on all cores, inline when count is 1.
///
/// Uses the model's spinning ``WorkerPool``; when another thread holds the pool (tests running in
/// parallel, two models used at once) or the call is nested inside a pool job, Dispatch's
/// concurrentPerform runs the loop instead.
@inline(__always)
func parallelFor(_ count: Int, _ body: @Sendable (Int) -> Void) {
    if count == 1 {
        body(0)
    } else if count > 1, !WorkerPool.shared.run(count, body) {
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
}

/// One process-wide pool of spinning workers (`kvc_pool` in CKernels), as wide as the CPUs this
/// process may use — its affinity mask, which `ProcessInfo.activeProcessorCount` ignores (created
/// on first use, so after `kvc --threads` has pinned the process).
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(threads: Int(kvc_available_cpus()))

    private let pool: OpaquePointer?
    /// Threads that run a job, the caller included.
    let threads: Int

    init(threads: Int) {
        pool = threads > 1 ? kvc_pool_create(Int32(threads)) : nil
        self.threads = pool == nil ? 1 : threads
    }

    deinit { if let pool { kvc_pool_destroy(pool) } }

    /// Runs `body(i)` for i in 0..<count on the pool; false (nothing run) when the pool is busy
    /// with another caller, is called from inside its own job, or has no workers.
    func run(_ count: Int, _ body: (Int) -> Void) -> Bool {
        guard let pool, count <= Int(KVC_POOL_MAX_ITEMS) else { return false }
        return withoutActuallyEscaping(body) { body in
            var job = body
            return withUnsafeMutablePointer(to: &job) { pointer in
                kvc_pool_run(pool, Int32(count), { context, index in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(index))
                }, pointer) == 0
            }
        }
    }
}

/// Wraps a raw pointer so worker closures may capture it. Safe because every parallel loop in this
/// module writes disjoint ranges and reads only what no worker writes.
struct SharedPointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
    init(_ base: UnsafeMutablePointer<T>) { self.base = base }
}

/// Log-probabilities from logits, for scoring (perplexity, KL against a reference).
public enum LogSoftmax {
    /// log Σ exp(row[i]), computed stably (shifted by the maximum) with double accumulation.
    public static func logSumExp(_ row: UnsafeBufferPointer<Float>) -> Double {
        guard let maxValue = row.max(), maxValue.isFinite else { return row.max().map(Double.init) ?? -.infinity }
        let shift = SIMD16<Float>(repeating: maxValue)
        var sum = 0.0
        var i = 0
        let base = UnsafeRawPointer(row.baseAddress!)
        while i + 16 <= row.count {
            sum += Double(Kernels.exp16(base.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - shift).sum())
            i += 16
        }
        while i < row.count {
            sum += Foundation.exp(Double(row[i] - maxValue))
            i += 1
        }
        return Double(maxValue) + Foundation.log(sum)
    }

    /// log-probability of `token` under `row`.
    public static func logProbability(of token: Int, in row: UnsafeBufferPointer<Float>) -> Double {
        Double(row[token]) - logSumExp(row)
    }
}
