import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// Single-precision matrix products through OpenBLAS.
///
/// All matrices are row-major and dense; leading dimensions default to the row length.
/// This is the one place the project calls CBLAS, so a different BLAS can be swapped in here.
public enum BLAS {
    /// Threads OpenBLAS may use for one product.
    public static var threads: Int {
        get { Int(kvc_blas_get_threads()) }
        set { kvc_blas_set_threads(Int32(max(1, newValue))) }
    }

    /// C[m, n] = alpha * A[m, k] · op(B) + beta * C, where op(B) is B[k, n] or, with
    /// `transposeB`, the transpose of B[n, k] (the layout of a GGUF weight matrix, whose rows are output units).
    @inlinable
    public static func gemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil, transposeB: Bool,
        c: UnsafeMutablePointer<Float>, ldc: Int? = nil,
        alpha: Float = 1, beta: Float = 0
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "gemm: negative dimension")
        if m == 0 || n == 0 { return }
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda ?? k),
            b, Int32(ldb ?? (transposeB ? k : n)),
            beta, c, Int32(ldc ?? n))
    }

    /// y[m] = alpha * A[m, n] · x[n] + beta * y.
    @inlinable
    public static func gemv(
        m: Int, n: Int, a: UnsafePointer<Float>, lda: Int? = nil,
        x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, alpha: Float = 1, beta: Float = 0
    ) {
        if m == 0 { return }
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda ?? n), x, 1, beta, y, 1)
    }

    /// For an executable's `main`, before anything else: when OpenBLAS did not recognise the CPU and
    /// fell back to its generic kernels although the CPU has AVX2 or AVX-512, restarts the process
    /// (same pid, arguments and descriptors) with `OPENBLAS_CORETYPE` naming the kernels it can run.
    /// OpenBLAS reads that variable only while it loads, so no in-process call can switch kernels.
    /// A `OPENBLAS_CORETYPE` already set (by the user or by this restart) is left alone, so it runs
    /// at most once; if the restart fails the process goes on with the generic kernels.
    public static func restartWithFasterKernelsIfGeneric() {
        guard getenv("OPENBLAS_CORETYPE") == nil, let faster = kvc_blas_faster_core() else { return }
        setenv("OPENBLAS_CORETYPE", faster, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")
    }

    /// Dot product of two vectors of length n.
    @inlinable
    public static func dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        cblas_sdot(Int32(n), x, 1, y, 1)
    }
}
