// AVX-512 K-quant × Q8_K row kernels (same integer sums and float steps as kquant.c): 64 quants
// per register; vpmaddubsw forms int16 pairs of (unsigned quant × signed activation) and VNNI's
// vpdpwssd multiplies them with the sub-block scales and accumulates in int32 (ggml's AVX-512
// paths use the same two steps, ggml-cpu/arch/x86/quants.c).
#if defined(__x86_64__)
#include "kquant_internal.h"
#include <immintrin.h>

#define KVC_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c")))
#define KVC_INLINE static inline __attribute__((always_inline))

/// Two 256-bit halves as one 512-bit register (low, high).
KVC_INLINE KVC_AVX512 __m512i join(__m256i low, __m256i high) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1);
}

KVC_INLINE KVC_AVX512 void q4k_row(const uint8_t *row, int32_t blocks, const kvc_q8k_block *x, const int T, float *out) {
    const __m512i low_nibbles = _mm512_set1_epi8(0x0F);
    float acc[KVC_KQUANT_TILE] = {0};
    for (int32_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + (size_t)b * KVC_Q4K_BYTES;
        _mm_prefetch((const char *)(block + 4 * KVC_Q4K_BYTES), _MM_HINT_T0);
        uint8_t scale[8], min[8];
        kvc_q4k_scales(block + KVC_Q4K_SCALES, scale, min);
        __m512i sum[KVC_KQUANT_TILE];
        for (int t = 0; t < T; t++) sum[t] = _mm512_setzero_si512();
        for (int p = 0; p < 2; p++) {
            // qs bytes 64p…64p+63: chunks c = 2p, 2p+1 (32 bytes each) of elements 128p + 64(c−2p) + …
            __m512i packed = _mm512_loadu_si512((const void *)(block + KVC_Q4K_QS + 64 * p));
            __m512i lo = _mm512_and_si512(packed, low_nibbles);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low_nibbles);
            __m512i scale_lo = join(_mm256_set1_epi16(scale[4 * p]), _mm256_set1_epi16(scale[4 * p + 2]));
            __m512i scale_hi = join(_mm256_set1_epi16(scale[4 * p + 1]), _mm256_set1_epi16(scale[4 * p + 3]));
            for (int t = 0; t < T; t++) {
                const int8_t *q = x[(size_t)t * (size_t)blocks + b].q + 128 * p;
                __m512i xl = join(_mm256_loadu_si256((const __m256i *)q), _mm256_loadu_si256((const __m256i *)(q + 64)));
                __m512i xh = join(_mm256_loadu_si256((const __m256i *)(q + 32)), _mm256_loadu_si256((const __m256i *)(q + 96)));
                sum[t] = _mm512_dpwssd_epi32(sum[t], _mm512_maddubs_epi16(lo, xl), scale_lo);
                sum[t] = _mm512_dpwssd_epi32(sum[t], _mm512_maddubs_epi16(hi, xh), scale_hi);
            }
        }
        float d = kvc_half_to_float(kvc_load_u16(block)), dmin = kvc_half_to_float(kvc_load_u16(block + 2));
        for (int t = 0; t < T; t++) {
            const kvc_q8k_block *xb = x + (size_t)t * (size_t)blocks + b;
            acc[t] = kvc_kquant_accumulate(
                acc[t], d, dmin, xb->d, _mm512_reduce_add_epi32(sum[t]), kvc_q4k_min_sum(min, xb->sums));
        }
    }
    for (int t = 0; t < T; t++) out[t] = acc[t];
}

KVC_INLINE KVC_AVX512 void q6k_row(const uint8_t *row, int32_t blocks, const kvc_q8k_block *x, const int T, float *out) {
    const __m512i low_nibbles = _mm512_set1_epi8(0x0F), high_pair = _mm512_set1_epi8(0x30);
    // Byte j of a 256-bit lane pair picks scale 4·pair + j/8 (each of 4 sub-blocks spans 8 int16 lanes).
    const __m256i pick = _mm256_setr_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    float acc[KVC_KQUANT_TILE] = {0};
    for (int32_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + (size_t)b * KVC_Q6K_BYTES;
        _mm_prefetch((const char *)(block + 4 * KVC_Q6K_BYTES), _MM_HINT_T0);
        const int8_t *scale = (const int8_t *)(block + KVC_Q6K_SCALES);
        __m256i all_scales = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)scale));
        __m512i sum[KVC_KQUANT_TILE];
        for (int t = 0; t < T; t++) sum[t] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m512i ql = _mm512_loadu_si512((const void *)(block + 64 * h));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(block + KVC_Q6K_QH + 32 * h));
            // Elements 128h + 0…63 (low nibbles of ql, qh bits 0–1 / 2–3) and 128h + 64…127
            // (high nibbles, qh bits 4–5 / 6–7).
            __m512i u01 = _mm512_or_si512(
                _mm512_and_si512(ql, low_nibbles),
                _mm512_and_si512(join(_mm256_slli_epi16(qh, 4), _mm256_slli_epi16(qh, 2)), high_pair));
            __m512i u23 = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi16(ql, 4), low_nibbles),
                _mm512_and_si512(join(qh, _mm256_srli_epi16(qh, 2)), high_pair));
            __m512i s01 = _mm512_cvtepi8_epi16(
                _mm256_shuffle_epi8(all_scales, _mm256_add_epi8(pick, _mm256_set1_epi8((char)(8 * h)))));
            __m512i s23 = _mm512_cvtepi8_epi16(
                _mm256_shuffle_epi8(all_scales, _mm256_add_epi8(pick, _mm256_set1_epi8((char)(8 * h + 4)))));
            for (int t = 0; t < T; t++) {
                const int8_t *q = x[(size_t)t * (size_t)blocks + b].q + 128 * h;
                sum[t] = _mm512_dpwssd_epi32(sum[t], _mm512_maddubs_epi16(u01, _mm512_loadu_si512((const void *)q)), s01);
                sum[t] = _mm512_dpwssd_epi32(sum[t], _mm512_maddubs_epi16(u23, _mm512_loadu_si512((const void *)(q + 64))), s23);
            }
        }
        float d = kvc_half_to_float(kvc_load_u16(block + KVC_Q6K_D));
        for (int t = 0; t < T; t++) {
            const kvc_q8k_block *xb = x + (size_t)t * (size_t)blocks + b;
            int32_t sumi = _mm512_reduce_add_epi32(sum[t]) - 32 * kvc_q6k_offset_sum(scale, xb->sums);
            acc[t] = kvc_kquant_accumulate(acc[t], d, 0, xb->d, sumi, 0);
        }
    }
    for (int t = 0; t < T; t++) out[t] = acc[t];
}

#define KVC_KQUANT_ROW(name, body)                                                                                \
    void name(const uint8_t *row, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out);            \
    KVC_AVX512 void name(const uint8_t *row, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out) { \
        switch (count) {                                                                                          \
        case 1: body(row, blocks, x, 1, out); break;                                                              \
        case 2: body(row, blocks, x, 2, out); break;                                                              \
        case 3: body(row, blocks, x, 3, out); break;                                                              \
        default: body(row, blocks, x, 4, out); break;                                                             \
        }                                                                                                         \
    }
KVC_KQUANT_ROW(kvc_q4k_row_avx512, q4k_row)
KVC_KQUANT_ROW(kvc_q6k_row_avx512, q6k_row)
#endif
