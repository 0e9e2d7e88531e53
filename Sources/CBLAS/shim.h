// Shim for OpenBLAS's CBLAS interface (Debian: libopenblas-dev).
// Only the prefixed helpers below are ours; everything else is OpenBLAS's own API.
#ifndef KVC_CBLAS_SHIM_H
#define KVC_CBLAS_SHIM_H
#include <cblas.h>

/// Number of threads OpenBLAS uses for one call.
static inline void kvc_blas_set_threads(int n) { openblas_set_num_threads(n); }
static inline int kvc_blas_get_threads(void) { return openblas_get_num_threads(); }
#endif
