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

/// [sum(a), sum(b), sum(c), sum(d)] of four int32 vectors, exactly (integer adds in any order).
KVC_INLINE KVC_AVX512 __m128i sum4(__m512i a, __m512i b, __m512i c, __m512i d) {
    // 512 → 256 bits each, then a horizontal-add tree: hadd(hadd(a, b), hadd(c, d)) holds, per
    // 128-bit lane, [a, b, c, d] partial sums; the two lanes added give the totals.
    __m256i a8 = _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1));
    __m256i b8 = _mm256_add_epi32(_mm512_castsi512_si256(b), _mm512_extracti64x4_epi64(b, 1));
    __m256i c8 = _mm256_add_epi32(_mm512_castsi512_si256(c), _mm512_extracti64x4_epi64(c, 1));
    __m256i d8 = _mm256_add_epi32(_mm512_castsi512_si256(d), _mm512_extracti64x4_epi64(d, 1));
    __m256i abcd = _mm256_hadd_epi32(_mm256_hadd_epi32(a8, b8), _mm256_hadd_epi32(c8, d8));
    return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

/// The same for 256-bit vectors.
KVC_INLINE KVC_AVX512 __m128i sum4_256(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i abcd = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

/// d_x of tokens t0 … t0+3 (0 past T) for super-block b.
KVC_INLINE KVC_AVX512 __m128 token_scales(const kvc_q8k_block *x, int32_t blocks, int32_t b, int t0, const int T) {
    float dx[4];
    for (int i = 0; i < 4; i++) dx[i] = t0 + i < T ? x[(size_t)(t0 + i) * (size_t)blocks + b].d : 0;
    return _mm_loadu_ps(dx);
}

/// acc += (d·d_x)·sumi, lane by lane, as kvc_kquant_accumulate (separate multiplies and add, no FMA).
KVC_INLINE KVC_AVX512 __m128 accumulate4(__m128 acc, __m128 d, __m128 dx, __m128i sumi) {
    return _mm_add_ps(acc, _mm_mul_ps(_mm_mul_ps(d, dx), _mm_cvtepi32_ps(sumi)));
}

// Per super-block, the T tokens' integer sums stay in vector registers and are reduced four tokens
// at a time (sum4), with the minimum / offset terms (vpmaddwd of the block's 16-sums) reduced
// alongside; the float step then runs on four tokens per instruction.

KVC_INLINE KVC_AVX512 void q4k_row(const uint8_t *row, int32_t blocks, const kvc_q8k_block *x, const int T, float *out) {
    const __m512i low_nibbles = _mm512_set1_epi8(0x0F);
    __m128 acc[KVC_KQUANT_TILE / 4] = {0};
    for (int32_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + (size_t)b * KVC_Q4K_BYTES;
        _mm_prefetch((const char *)(block + 4 * KVC_Q4K_BYTES), _MM_HINT_T0);
        uint8_t scale[8], min[8];
        kvc_q4k_scales(block + KVC_Q4K_SCALES, scale, min);
        __m512i sum[KVC_KQUANT_TILE];
        for (int t = 0; t < KVC_KQUANT_TILE; t++) sum[t] = _mm512_setzero_si512();
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
        // m_s for both 16-sums of sub-block s: [m0, m0, m1, m1, …, m7, m7] as int16.
        __m128i m8 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)min));
        __m256i m16 = _mm256_set_m128i(_mm_unpackhi_epi16(m8, m8), _mm_unpacklo_epi16(m8, m8));
        __m256i mins[KVC_KQUANT_TILE];
        for (int t = 0; t < KVC_KQUANT_TILE; t++) {
            mins[t] = t < T ? _mm256_madd_epi16(
                                  _mm256_loadu_si256((const __m256i *)x[(size_t)t * (size_t)blocks + b].sums), m16)
                            : _mm256_setzero_si256();
        }
        __m128 d = _mm_set1_ps(_cvtsh_ss(kvc_load_u16(block))), dmin = _mm_set1_ps(_cvtsh_ss(kvc_load_u16(block + 2)));
        for (int g = 0; g * 4 < T; g++) {
            __m128i sumi = sum4(sum[4 * g], sum[4 * g + 1], sum[4 * g + 2], sum[4 * g + 3]);
            __m128i summ = sum4_256(mins[4 * g], mins[4 * g + 1], mins[4 * g + 2], mins[4 * g + 3]);
            __m128 dx = token_scales(x, blocks, b, 4 * g, T);
            acc[g] = accumulate4(acc[g], d, dx, sumi);
            acc[g] = _mm_sub_ps(acc[g], _mm_mul_ps(_mm_mul_ps(dmin, dx), _mm_cvtepi32_ps(summ)));
        }
    }
    float all[KVC_KQUANT_TILE];
    for (int g = 0; g * 4 < T; g++) _mm_storeu_ps(all + 4 * g, acc[g]);
    for (int t = 0; t < T; t++) out[t] = all[t];
}

KVC_INLINE KVC_AVX512 void q6k_row(const uint8_t *row, int32_t blocks, const kvc_q8k_block *x, const int T, float *out) {
    const __m512i low_nibbles = _mm512_set1_epi8(0x0F), high_pair = _mm512_set1_epi8(0x30);
    // Byte j of a 256-bit lane pair picks scale 4·pair + j/8 (each of 4 sub-blocks spans 8 int16 lanes).
    const __m256i pick = _mm256_setr_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    __m128 acc[KVC_KQUANT_TILE / 4] = {0};
    for (int32_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + (size_t)b * KVC_Q6K_BYTES;
        _mm_prefetch((const char *)(block + 4 * KVC_Q6K_BYTES), _MM_HINT_T0);
        const int8_t *scale = (const int8_t *)(block + KVC_Q6K_SCALES);
        __m128i scale_bytes = _mm_loadu_si128((const __m128i *)scale);
        __m256i all_scales = _mm256_broadcastsi128_si256(scale_bytes);
        __m512i sum[KVC_KQUANT_TILE];
        for (int t = 0; t < KVC_KQUANT_TILE; t++) sum[t] = _mm512_setzero_si512();
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
        // Σ_s sc_s·(16-sum s) per token: the −32 offset's factor.
        __m256i sc16 = _mm256_cvtepi8_epi16(scale_bytes);
        __m256i offsets[KVC_KQUANT_TILE];
        for (int t = 0; t < KVC_KQUANT_TILE; t++) {
            offsets[t] = t < T ? _mm256_madd_epi16(
                                     _mm256_loadu_si256((const __m256i *)x[(size_t)t * (size_t)blocks + b].sums), sc16)
                               : _mm256_setzero_si256();
        }
        __m128 d = _mm_set1_ps(_cvtsh_ss(kvc_load_u16(block + KVC_Q6K_D)));
        for (int g = 0; g * 4 < T; g++) {
            __m128i sumi = sum4(sum[4 * g], sum[4 * g + 1], sum[4 * g + 2], sum[4 * g + 3]);
            __m128i offset = sum4_256(offsets[4 * g], offsets[4 * g + 1], offsets[4 * g + 2], offsets[4 * g + 3]);
            sumi = _mm_sub_epi32(sumi, _mm_slli_epi32(offset, 5));
            acc[g] = accumulate4(acc[g], d, token_scales(x, blocks, b, 4 * g, T), sumi);
        }
    }
    float all[KVC_KQUANT_TILE];
    for (int g = 0; g * 4 < T; g++) _mm_storeu_ps(all + 4 * g, acc[g]);
    for (int t = 0; t < T; t++) out[t] = all[t];
}

#define KVC_KQUANT_ROW(name, body)                                                                                \
    void name(const uint8_t *row, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out);            \
    KVC_AVX512 void name(const uint8_t *row, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out) { \
        switch (count) {                                                                                          \
        case 1: body(row, blocks, x, 1, out); break;                                                              \
        case 2: body(row, blocks, x, 2, out); break;                                                              \
        case 3: body(row, blocks, x, 3, out); break;                                                              \
        default: body(row, blocks, x, KVC_KQUANT_TILE, out); break;                                               \
        }                                                                                                         \
    }
KVC_KQUANT_ROW(kvc_q4k_row_avx512, q4k_row)
KVC_KQUANT_ROW(kvc_q6k_row_avx512, q6k_row)
#endif
