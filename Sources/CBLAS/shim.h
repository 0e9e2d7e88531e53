// Shim for OpenBLAS's CBLAS interface (Debian: libopenblas-dev).
// Only the prefixed helpers below are ours; everything else is OpenBLAS's own API.
#ifndef KVC_CBLAS_SHIM_H
#define KVC_CBLAS_SHIM_H
#include <cblas.h>

/// Number of threads OpenBLAS uses for one call.
static inline void kvc_blas_set_threads(int n) { openblas_set_num_threads(n); }
static inline int kvc_blas_get_threads(void) { return openblas_get_num_threads(); }

/// The OPENBLAS_CORETYPE this CPU runs faster than what OpenBLAS picked, or NULL. A DYNAMIC_ARCH
/// OpenBLAS (Debian's) that does not recognise a CPU model (seen: a virtual "Intel Xeon Processor"
/// with AVX-512) falls back to its generic SSE3 "Prescott" kernels, which ran a 2.8k-token prefill
/// 1.4-1.9 times slower than its SkylakeX ones; the CPU's own feature bits tell which kernels it can run.
static inline const char *kvc_blas_faster_core(void) {
    const char *core = openblas_get_corename();
    if (core == 0 || __builtin_strcmp(core, "Prescott") != 0) return 0;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512cd"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return 0;
}
#endif
