// AVX-512 decode attention kernels (kvc_attention.h); head_dim must be a multiple of 16.
//
// Scores: attention_scores8.h on 8-float registers, with AVX-512VL's 32 of them (see there why not
// 16-float ones): 8 slots' partial sums folded into one register of scores.
// Softmax: e^x by a polynomial on 16 lanes, tails masked.
// Values: attention_values.h with the sums of up to 4 queries × 64 dimensions held in 16-float
// registers.
#if defined(__x86_64__)
#include "attention_internal.h"
#include <immintrin.h>
#include <math.h>

// f16c for the 8-lane vcvtph2ps of the scores (the 16-lane one of the values is AVX-512F).
#define KVC_AVX512 __attribute__((target("avx512f,avx512vl,fma,f16c")))
#define KVC_INLINE static inline __attribute__((always_inline))

// MARK: - Scores

#define KVC_SCORES_TARGET KVC_AVX512
#define KVC_SCORES_QUERY_TILE 4
#define KVC_SCORES_FUNCTION kvc_attention_scores_avx512
#include "attention_scores8.h"

// MARK: - Softmax

/// e^x for 16 lanes, relative error about 2e-7 (Cephes' expf scheme): x = n·ln2 + r with |r| ≤ ln2/2
/// (ln2 in two parts, so r carries no rounding from n·ln2), e^r by a degree-7 polynomial, times 2^n by
/// vscalefps. Inputs below −87.34, where e^x leaves the normal floats, give 0.
KVC_INLINE KVC_AVX512 __m512 exp16(__m512 x) {
    const __m512 low = _mm512_set1_ps(-87.33654f), high = _mm512_set1_ps(88.72283f);
    const __mmask16 underflow = _mm512_cmp_ps_mask(x, low, _CMP_LT_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, low), high);
    const __m512 n = _mm512_roundscale_ps(
        _mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1));
    return _mm512_maskz_mov_ps((__mmask16)~underflow, _mm512_scalef_ps(p, n));
}

KVC_AVX512 void kvc_attention_softmax_avx512(float *scores, int32_t group, int64_t length) {
    const int64_t full = length / 16 * 16;
    const __mmask16 tail = (__mmask16)((1u << (length - full)) - 1);
    for (int32_t j = 0; j < group; j++) {
        float *row = scores + (size_t)j * (size_t)length;
        __m512 max = _mm512_set1_ps(-INFINITY);
        for (int64_t i = 0; i < full; i += 16) max = _mm512_max_ps(max, _mm512_loadu_ps(row + i));
        if (tail) max = _mm512_mask_max_ps(max, tail, max, _mm512_maskz_loadu_ps(tail, row + full));
        const __m512 shift = _mm512_set1_ps(_mm512_reduce_max_ps(max));
        // Summed in double (two 8-lane halves), 1/sum rounded to float once: ggml's soft_max.
        __m512d low = _mm512_setzero_pd(), high = _mm512_setzero_pd();
        for (int64_t i = 0; i < full; i += 16) {
            const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(row + i), shift));
            _mm512_storeu_ps(row + i, e);
            low = _mm512_add_pd(low, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
            high = _mm512_add_pd(high, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
        }
        if (tail) {
            // Masked-off lanes load as 0 and exp16 of them is dropped by the mask: add zeros there.
            const __m512 e = _mm512_maskz_mov_ps(tail, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, row + full), shift)));
            _mm512_mask_storeu_ps(row + full, tail, e);
            low = _mm512_add_pd(low, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
            high = _mm512_add_pd(high, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
        }
        const __m512 inverse = _mm512_set1_ps((float)(1.0 / _mm512_reduce_add_pd(_mm512_add_pd(low, high))));
        for (int64_t i = 0; i < full; i += 16) _mm512_storeu_ps(row + i, _mm512_mul_ps(_mm512_loadu_ps(row + i), inverse));
        if (tail) _mm512_mask_storeu_ps(row + full, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, row + full), inverse));
    }
}

// MARK: - Values

#define KVC_VALUES_TARGET KVC_AVX512
#define KVC_VALUES_QUERY_TILE 4
#define KVC_VALUES_FUNCTION kvc_attention_values_avx512
#define KVC_VEC __m512
#define KVC_VEC_WIDTH 16
#define KVC_VEC_ZERO() _mm512_setzero_ps()
#define KVC_VEC_LOAD(p) _mm512_loadu_ps(p)
#define KVC_VEC_LOAD_HALF(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define KVC_VEC_STORE(p, v) _mm512_storeu_ps(p, v)
#define KVC_VEC_SET1(x) _mm512_set1_ps(x)
#define KVC_VEC_FMADD(a, b, c) _mm512_fmadd_ps(a, b, c)
#include "attention_values.h"

#endif
