// AVX2 decode attention kernels (kvc_attention.h) for x86 without AVX-512; head_dim must be a multiple
// of 8.
//
// Scores: attention_scores8.h (8 slots' partial sums folded into one register of scores).
// Softmax: e^x by a polynomial on 8 lanes, expf on the tail.
// Values: attention_values.h with the sums of up to 3 queries × 32 dimensions in registers (with the
// value and probability registers that is one more than the 16 AVX2 has, yet measured fastest: 4.6 ns
// per slot against 6.0 for 4 queries × 16 or 2 × 32 dimensions, for SmolLM2's group of 3 × 64).
#if defined(__x86_64__)
#include "attention_internal.h"
#include <immintrin.h>
#include <math.h>

// f16c: half-float keys and values are widened by vcvtph2ps (kvc_isa_supported(KVC_ISA_AVX2) checks it).
#define KVC_AVX2 __attribute__((target("avx2,fma,f16c")))
#define KVC_INLINE static inline __attribute__((always_inline))

// MARK: - Scores

#define KVC_SCORES_TARGET KVC_AVX2
#define KVC_SCORES_QUERY_TILE 3
#define KVC_SCORES_FUNCTION kvc_attention_scores_avx2
#include "attention_scores8.h"

// MARK: - Softmax

/// e^x for 8 lanes, relative error about 2e-7 (Cephes' expf scheme, as exp16 in attention_avx512.c;
/// 2^n assembled in the exponent bits). Inputs below −87.34 give 0.
KVC_INLINE KVC_AVX2 __m256 exp8(__m256 x) {
    const __m256 low = _mm256_set1_ps(-87.33654f), high = _mm256_set1_ps(88.72283f);
    const __m256 underflow = _mm256_cmp_ps(x, low, _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, low), high);
    const __m256 n = _mm256_round_ps(
        _mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1));
    const __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(exponent)));
}

/// Horizontal maximum and sum of 8 lanes.
KVC_INLINE KVC_AVX2 float max8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

KVC_AVX2 void kvc_attention_softmax_avx2(float *scores, int32_t group, int64_t length) {
    const int64_t full = length / 8 * 8;
    for (int32_t j = 0; j < group; j++) {
        float *row = scores + (size_t)j * (size_t)length;
        __m256 maxes = _mm256_set1_ps(-INFINITY);
        for (int64_t i = 0; i < full; i += 8) maxes = _mm256_max_ps(maxes, _mm256_loadu_ps(row + i));
        float max = max8(maxes);
        for (int64_t i = full; i < length; i++) max = row[i] > max ? row[i] : max;
        const __m256 shift = _mm256_set1_ps(max);
        // Summed in double, 1/sum rounded to float once: ggml's soft_max.
        __m256d low = _mm256_setzero_pd(), high = _mm256_setzero_pd();
        for (int64_t i = 0; i < full; i += 8) {
            const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(row + i), shift));
            _mm256_storeu_ps(row + i, e);
            low = _mm256_add_pd(low, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
            high = _mm256_add_pd(high, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
        }
        double lanes[4];
        _mm256_storeu_pd(lanes, _mm256_add_pd(low, high));
        double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
        for (int64_t i = full; i < length; i++) {
            row[i] = expf(row[i] - max);
            sum += (double)row[i];
        }
        const float inverse = (float)(1.0 / sum);
        const __m256 inverses = _mm256_set1_ps(inverse);
        for (int64_t i = 0; i < full; i += 8) _mm256_storeu_ps(row + i, _mm256_mul_ps(_mm256_loadu_ps(row + i), inverses));
        for (int64_t i = full; i < length; i++) row[i] *= inverse;
    }
}

// MARK: - Values

#define KVC_VALUES_TARGET KVC_AVX2
#define KVC_VALUES_QUERY_TILE 3
#define KVC_VALUES_FUNCTION kvc_attention_values_avx2
#define KVC_VEC __m256
#define KVC_VEC_WIDTH 8
#define KVC_VEC_ZERO() _mm256_setzero_ps()
#define KVC_VEC_LOAD(p) _mm256_loadu_ps(p)
#define KVC_VEC_LOAD_HALF(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define KVC_VEC_STORE(p, v) _mm256_storeu_ps(p, v)
#define KVC_VEC_SET1(x) _mm256_set1_ps(x)
#define KVC_VEC_FMADD(a, b, c) _mm256_fmadd_ps(a, b, c)
#include "attention_values.h"

#endif
