// Shim for the GNU Scientific Library (Debian: libgsl-dev).
// GSL's BLAS calls are satisfied by OpenBLAS (linked above) instead of libgslcblas,
// so the process carries one CBLAS only.
#ifndef KVC_GSL_SHIM_H
#define KVC_GSL_SHIM_H
#include <gsl/gsl_errno.h>
#include <gsl/gsl_statistics_double.h>
#include <gsl/gsl_sort_double.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_randist.h>

/// GSL aborts the process on error by default; the wrapper reports errors through return codes instead.
static inline void kvc_gsl_disable_abort(void) { gsl_set_error_handler_off(); }
static inline const gsl_rng_type *kvc_gsl_rng_mt19937(void) { return gsl_rng_mt19937; }
#endif
