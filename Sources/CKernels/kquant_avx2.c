// AVX2 K-quant × Q8_K row kernels (same integer sums and float steps as kquant.c). vpmaddubsw
// multiplies the unsigned quants (Q4_K: 0…15, Q6_K: 0…63) with the signed activation bytes into
// int16 pairs (at most 2·63·127 = 16002, no saturation); vpmaddwd with the sub-block scales widens
// them to int32. Q6_K's −32 is applied once per block through the activations' 16-sums, as
// ggml_vec_dot_q6_K_q8_K (ggml-cpu/arch/x86/quants.c) does.
#if defined(__x86_64__)
#include "kquant_internal.h"
#include <immintrin.h>

#define KVC_AVX2 __attribute__((target("avx2,fma,f16c")))
#define KVC_INLINE static inline __attribute__((always_inline))

KVC_INLINE KVC_AVX2 int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

KVC_INLINE KVC_AVX2 void q4k_row(const uint8_t *row, int32_t blocks, const kvc_q8k_block *x, const int T, float *out) {
    const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
    float acc[KVC_KQUANT_TILE] = {0};
    for (int32_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + (size_t)b * KVC_Q4K_BYTES;
        _mm_prefetch((const char *)(block + 4 * KVC_Q4K_BYTES), _MM_HINT_T0);
        uint8_t scale[8], min[8];
        kvc_q4k_scales(block + KVC_Q4K_SCALES, scale, min);
        __m256i sum[KVC_KQUANT_TILE];
        for (int t = 0; t < T; t++) sum[t] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i packed = _mm256_loadu_si256((const __m256i *)(block + KVC_Q4K_QS + 32 * c));
            __m256i lo = _mm256_and_si256(packed, low_nibbles);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_nibbles);
            __m256i scale_lo = _mm256_set1_epi16(scale[2 * c]), scale_hi = _mm256_set1_epi16(scale[2 * c + 1]);
            for (int t = 0; t < T; t++) {
                const int8_t *q = x[(size_t)t * (size_t)blocks + b].q + 64 * c;
                __m256i xl = _mm256_loadu_si256((const __m256i *)q), xh = _mm256_loadu_si256((const __m256i *)(q + 32));
                sum[t] = _mm256_add_epi32(sum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(lo, xl), scale_lo));
                sum[t] = _mm256_add_epi32(sum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(hi, xh), scale_hi));
            }
        }
        float d = kvc_half_to_float(kvc_load_u16(block)), dmin = kvc_half_to_float(kvc_load_u16(block + 2));
        for (int t = 0; t < T; t++) {
            const kvc_q8k_block *xb = x + (size_t)t * (size_t)blocks + b;
            acc[t] = kvc_kquant_accumulate(acc[t], d, dmin, xb->d, hsum_i32(sum[t]), kvc_q4k_min_sum(min, xb->sums));
        }
    }
    for (int t = 0; t < T; t++) out[t] = acc[t];
}

KVC_INLINE KVC_AVX2 void q6k_row(const uint8_t *row, int32_t blocks, const kvc_q8k_block *x, const int T, float *out) {
    const __m256i low_nibbles = _mm256_set1_epi8(0x0F), high_pair = _mm256_set1_epi8(0x30);
    float acc[KVC_KQUANT_TILE] = {0};
    for (int32_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + (size_t)b * KVC_Q6K_BYTES;
        _mm_prefetch((const char *)(block + 4 * KVC_Q6K_BYTES), _MM_HINT_T0);
        const int8_t *scale = (const int8_t *)(block + KVC_Q6K_SCALES);
        __m256i sum[KVC_KQUANT_TILE];
        for (int t = 0; t < T; t++) sum[t] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i ql0 = _mm256_loadu_si256((const __m256i *)(block + 64 * h));
            __m256i ql1 = _mm256_loadu_si256((const __m256i *)(block + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(block + KVC_Q6K_QH + 32 * h));
            // u of elements 128h + 32k + l, k = 0…3 (quants 0…63).
            __m256i u[4] = {
                _mm256_or_si256(_mm256_and_si256(ql0, low_nibbles), _mm256_and_si256(_mm256_slli_epi16(qh, 4), high_pair)),
                _mm256_or_si256(_mm256_and_si256(ql1, low_nibbles), _mm256_and_si256(_mm256_slli_epi16(qh, 2), high_pair)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low_nibbles), _mm256_and_si256(qh, high_pair)),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low_nibbles), _mm256_and_si256(_mm256_srli_epi16(qh, 2), high_pair)),
            };
            for (int k = 0; k < 4; k++) {
                // Bytes 0–15 belong to sub-block 8h + 2k, bytes 16–31 to the next.
                __m256i scales = _mm256_set_m128i(
                    _mm_set1_epi16(scale[8 * h + 2 * k + 1]), _mm_set1_epi16(scale[8 * h + 2 * k]));
                for (int t = 0; t < T; t++) {
                    const int8_t *q = x[(size_t)t * (size_t)blocks + b].q + 128 * h + 32 * k;
                    __m256i products = _mm256_maddubs_epi16(u[k], _mm256_loadu_si256((const __m256i *)q));
                    sum[t] = _mm256_add_epi32(sum[t], _mm256_madd_epi16(products, scales));
                }
            }
        }
        float d = kvc_half_to_float(kvc_load_u16(block + KVC_Q6K_D));
        for (int t = 0; t < T; t++) {
            const kvc_q8k_block *xb = x + (size_t)t * (size_t)blocks + b;
            int32_t sumi = hsum_i32(sum[t]) - 32 * kvc_q6k_offset_sum(scale, xb->sums);
            acc[t] = kvc_kquant_accumulate(acc[t], d, 0, xb->d, sumi, 0);
        }
    }
    for (int t = 0; t < T; t++) out[t] = acc[t];
}

#define KVC_KQUANT_ROW(name, body)                                                                              \
    void name(const uint8_t *row, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out);          \
    KVC_AVX2 void name(const uint8_t *row, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out) { \
        switch (count) {                                                                                        \
        case 1: body(row, blocks, x, 1, out); break;                                                            \
        case 2: body(row, blocks, x, 2, out); break;                                                            \
        case 3: body(row, blocks, x, 3, out); break;                                                            \
        default: body(row, blocks, x, 4, out); break;                                                           \
        }                                                                                                       \
    }
KVC_KQUANT_ROW(kvc_q4k_row_avx2, q4k_row)
KVC_KQUANT_ROW(kvc_q6k_row_avx2, q6k_row)
#endif
