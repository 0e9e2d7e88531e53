// AVX2 K-quant × Q8_K panel kernels (x86 without AVX-512 VNNI), on the same 16-row panels as the
// AVX-512 ones (kvc_kquant.h), processed as two halves of 8 rows: one ymm register = 8 rows × 4
// columns. vpmaddubsw multiplies the unsigned quants with 4 broadcast activation bytes into int16
// pairs (at most 2·63·127 = 16002 per pair, so a Q4_K sub-block of 32 columns, 8 × 2·15·127 =
// 30480, and half a Q6_K sub-block, 2 × 16002, are summed in int16 without saturation); vpmaddwd
// with the rows' sub-block scales as int16 pairs widens them to int32, exactly sc_s·dot. The minimum
// and offset terms and the float steps are those of the AVX-512 kernels: results are bit-identical
// to the portable row kernels.
#if defined(__x86_64__)
#include "kquant_internal.h"
#include <immintrin.h>

#define KVC_AVX2 __attribute__((target("avx2,fma,f16c")))
#define KVC_INLINE static inline __attribute__((always_inline))

enum {
    Q4K_SCALES = 2048, Q4K_MIN_PAIRS = Q4K_SCALES + 128, Q4K_D = Q4K_MIN_PAIRS + 256, Q4K_DMIN = Q4K_D + 32,
    Q4K_RECORD = 2496,
    Q6K_SCALES = 4096, Q6K_SCALE_PAIRS = Q6K_SCALES + 256, Q6K_D = Q6K_SCALE_PAIRS + 512, Q6K_RECORD = 4928,
    PREFETCH_AHEAD = 4096,
    HALF_TILE = 4,
};

KVC_INLINE KVC_AVX2 __m256i broadcast4(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/// The 8 rows' scales of one sub-block as int16 pairs (sc, sc) in int32 lanes, from 8 scale bytes.
KVC_INLINE KVC_AVX2 __m256i scale_pairs(__m256i scale32) {
    return _mm256_or_si256(_mm256_and_si256(scale32, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(scale32, 16));
}

KVC_INLINE KVC_AVX2 __m256 add_scaled(__m256 acc, __m256 d, float dx, __m256i sumi) {
    return _mm256_add_ps(acc, _mm256_mul_ps(_mm256_mul_ps(d, _mm256_set1_ps(dx)), _mm256_cvtepi32_ps(sumi)));
}

/// Rows 8·half … 8·half + 7 of a Q4_K panel for T ≤ HALF_TILE tokens.
KVC_INLINE KVC_AVX2 void q4k_half(
    const uint8_t *panel, int32_t blocks, int half, const kvc_q8k_block *x, const int T, float *out) {
    const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
    __m256 acc[HALF_TILE];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    const uint8_t *record = panel;
    for (int32_t b = 0; b < blocks; b++, record += Q4K_RECORD) {
        for (int line = 0; line < Q4K_RECORD / 2; line += 64) {
            _mm_prefetch((const char *)record + PREFETCH_AHEAD + half * (Q4K_RECORD / 2) + line, _MM_HINT_T0);
        }
        const kvc_q8k_block *xb[HALF_TILE];
        for (int t = 0; t < T; t++) xb[t] = x + (size_t)t * (size_t)blocks + b;
        __m256i sumi[HALF_TILE];
        for (int t = 0; t < T; t++) sumi[t] = _mm256_setzero_si256();
        for (int s = 0; s < 8; s++) {
            __m256i pairs[HALF_TILE];
            for (int t = 0; t < T; t++) pairs[t] = _mm256_setzero_si256();
            for (int g = 4 * s; g < 4 * s + 4; g++) {
                __m256i packed = _mm256_load_si256((const __m256i *)(record + 64 * g + 32 * half));
                __m256i lo = _mm256_and_si256(packed, low_nibbles);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_nibbles);
                for (int t = 0; t < T; t++) {
                    pairs[t] = _mm256_add_epi16(pairs[t], _mm256_maddubs_epi16(lo, broadcast4(xb[t]->q + 8 * g)));
                    pairs[t] = _mm256_add_epi16(pairs[t], _mm256_maddubs_epi16(hi, broadcast4(xb[t]->q + 8 * g + 4)));
                }
            }
            __m256i scale = scale_pairs(
                _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(record + Q4K_SCALES + 16 * s + 8 * half))));
            for (int t = 0; t < T; t++) sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(pairs[t], scale));
        }
        __m256 d = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(record + Q4K_D + 16 * half)));
        __m256 dmin = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(record + Q4K_DMIN + 16 * half)));
        for (int t = 0; t < T; t++) {
            acc[t] = add_scaled(acc[t], d, xb[t]->d, sumi[t]);
            __m128i pair_sums = _mm_hadd_epi16(
                _mm_loadu_si128((const __m128i *)xb[t]->sums), _mm_loadu_si128((const __m128i *)(xb[t]->sums + 8)));
            int32_t pairs[4];
            _mm_storeu_si128((__m128i *)pairs, pair_sums);
            __m256i summ = _mm256_setzero_si256();
            for (int k = 0; k < 4; k++) {
                summ = _mm256_add_epi32(summ, _mm256_madd_epi16(
                    _mm256_load_si256((const __m256i *)(record + Q4K_MIN_PAIRS + 64 * k + 32 * half)),
                    _mm256_set1_epi32(pairs[k])));
            }
            acc[t] = _mm256_sub_ps(acc[t], _mm256_mul_ps(_mm256_mul_ps(dmin, _mm256_set1_ps(xb[t]->d)), _mm256_cvtepi32_ps(summ)));
        }
    }
    for (int t = 0; t < T; t++) _mm256_storeu_ps(out + KVC_KPANEL_ROWS * t + 8 * half, acc[t]);
}

/// Rows 8·half … 8·half + 7 of a Q6_K panel for T ≤ HALF_TILE tokens.
KVC_INLINE KVC_AVX2 void q6k_half(
    const uint8_t *panel, int32_t blocks, int half, const kvc_q8k_block *x, const int T, float *out) {
    __m256 acc[HALF_TILE];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    const uint8_t *record = panel;
    for (int32_t b = 0; b < blocks; b++, record += Q6K_RECORD) {
        for (int line = 0; line < Q6K_RECORD / 2; line += 64) {
            _mm_prefetch((const char *)record + PREFETCH_AHEAD + half * (Q6K_RECORD / 2) + line, _MM_HINT_T0);
        }
        const kvc_q8k_block *xb[HALF_TILE];
        for (int t = 0; t < T; t++) xb[t] = x + (size_t)t * (size_t)blocks + b;
        // −32·Σ_s sc_s·(16-sum s), then Σ_s sc_s·dot_s.
        __m256i sumi[HALF_TILE];
        for (int t = 0; t < T; t++) sumi[t] = _mm256_setzero_si256();
        for (int k = 0; k < 8; k++) {
            __m256i pair = _mm256_load_si256((const __m256i *)(record + Q6K_SCALE_PAIRS + 64 * k + 32 * half));
            for (int t = 0; t < T; t++) sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(pair, broadcast4(xb[t]->sums + 2 * k)));
        }
        for (int t = 0; t < T; t++) sumi[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sumi[t], 5));
        for (int s = 0; s < 16; s++) {
            __m256i scale = scale_pairs(
                _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(record + Q6K_SCALES + 16 * s + 8 * half))));
            // Two groups of 4 columns per int16 sum (2 × 2·63·127 < 2^15).
            for (int g = 4 * s; g < 4 * s + 4; g += 2) {
                __m256i u0 = _mm256_load_si256((const __m256i *)(record + 64 * g + 32 * half));
                __m256i u1 = _mm256_load_si256((const __m256i *)(record + 64 * (g + 1) + 32 * half));
                for (int t = 0; t < T; t++) {
                    __m256i pairs = _mm256_add_epi16(
                        _mm256_maddubs_epi16(u0, broadcast4(xb[t]->q + 4 * g)),
                        _mm256_maddubs_epi16(u1, broadcast4(xb[t]->q + 4 * g + 4)));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(pairs, scale));
                }
            }
        }
        __m256 d = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(record + Q6K_D + 16 * half)));
        for (int t = 0; t < T; t++) acc[t] = add_scaled(acc[t], d, xb[t]->d, sumi[t]);
    }
    for (int t = 0; t < T; t++) _mm256_storeu_ps(out + KVC_KPANEL_ROWS * t + 8 * half, acc[t]);
}

#define KVC_KPANEL_HALF(name, body)                                                                             \
    static KVC_AVX2 void name(const uint8_t *panel, int32_t blocks, int half, const kvc_q8k_block *x, int n, float *out) { \
        switch (n) {                                                                                            \
        case 1: body(panel, blocks, half, x, 1, out); break;                                                    \
        case 2: body(panel, blocks, half, x, 2, out); break;                                                    \
        case 3: body(panel, blocks, half, x, 3, out); break;                                                    \
        default: body(panel, blocks, half, x, 4, out); break;                                                   \
        }                                                                                                       \
    }
KVC_KPANEL_HALF(q4k_half_tile, q4k_half)
KVC_KPANEL_HALF(q6k_half_tile, q6k_half)

/// Both halves, tokens HALF_TILE at a time (16 ymm registers hold no more).
#define KVC_KPANEL_AVX2(name, half_tile)                                                                        \
    void name(const uint8_t *panel, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out);        \
    KVC_AVX2 void name(const uint8_t *panel, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out) { \
        for (int half = 0; half < 2; half++) {                                                                  \
            for (int32_t t = 0; t < count; t += HALF_TILE) {                                                    \
                int n = count - t < HALF_TILE ? count - t : HALF_TILE;                                          \
                half_tile(panel, blocks, half, x + (size_t)t * (size_t)blocks, n, out + KVC_KPANEL_ROWS * t);   \
            }                                                                                                   \
        }                                                                                                       \
    }
KVC_KPANEL_AVX2(kvc_q4k_panel_avx2, q4k_half_tile)
KVC_KPANEL_AVX2(kvc_q6k_panel_avx2, q6k_half_tile)
#endif
