// AVX-512 VNNI K-quant × Q8_K panel kernels (layout: kvc_kquant.h, "Row panels"): one zmm register
// holds 16 rows × 4 columns; vpdpbusd multiplies the unsigned quants with 4 broadcast activation
// bytes of one token and adds into the 16 rows' int32 lanes, up to 8 tokens sharing every weight
// register. Per sub-block, the exact integer dot is multiplied by the rows' integer scales
// (vpmulld) into the block's sum; the minimum (Q4_K) and −32 offset (Q6_K) terms come from vpdpwssd
// of int16 (scale or minimum) pairs with the activations' 16-sums. The float steps are those of
// kquant.c, on 16 rows at once, without contraction: results are bit-identical to the row kernels.
#if defined(__x86_64__)
#include "kquant_internal.h"
#include <immintrin.h>

#define KVC_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c")))
#define KVC_INLINE static inline __attribute__((always_inline))

enum {
    // Byte offsets inside a record (kvc_kpanel_record_bytes).
    Q4K_SCALES = 2048, Q4K_MIN_PAIRS = Q4K_SCALES + 128, Q4K_D = Q4K_MIN_PAIRS + 256, Q4K_DMIN = Q4K_D + 32,
    Q4K_RECORD = 2496,
    Q6K_SCALES = 4096, Q6K_SCALE_PAIRS = Q6K_SCALES + 256, Q6K_D = Q6K_SCALE_PAIRS + 512, Q6K_RECORD = 4928,
    // A decode step streams every weight once; fetch a few records ahead of the one in use.
    PREFETCH_AHEAD = 4096,
};

KVC_INLINE KVC_AVX512 __m512i broadcast4(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

KVC_INLINE KVC_AVX512 void prefetch_record(const uint8_t *record, int bytes) {
    for (int line = 0; line < bytes; line += 64) _mm_prefetch((const char *)record + PREFETCH_AHEAD + line, _MM_HINT_T0);
}

/// acc += (d·d_x)·sumi on 16 rows (kvc_kquant_accumulate's first step).
KVC_INLINE KVC_AVX512 __m512 add_scaled(__m512 acc, __m512 d, float dx, __m512i sumi) {
    return _mm512_add_ps(acc, _mm512_mul_ps(_mm512_mul_ps(d, _mm512_set1_ps(dx)), _mm512_cvtepi32_ps(sumi)));
}

KVC_INLINE KVC_AVX512 void q4k_panel(const uint8_t *panel, int32_t blocks, const kvc_q8k_block *x, const int T, float *out) {
    const __m512i low_nibbles = _mm512_set1_epi8(0x0F);
    __m512 acc[KVC_KPANEL_TILE];
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    const uint8_t *record = panel;
    for (int32_t b = 0; b < blocks; b++, record += Q4K_RECORD) {
        prefetch_record(record, Q4K_RECORD);
        const kvc_q8k_block *xb[KVC_KPANEL_TILE];
        for (int t = 0; t < T; t++) xb[t] = x + (size_t)t * (size_t)blocks + b;
        __m512i sumi[KVC_KPANEL_TILE];
        for (int t = 0; t < T; t++) sumi[t] = _mm512_setzero_si512();
        for (int s = 0; s < 8; s++) {
            // Sub-block s: columns 32s … 32s+31, groups 4s … 4s+3 of 8 columns.
            __m512i dot[KVC_KPANEL_TILE];
            for (int t = 0; t < T; t++) dot[t] = _mm512_setzero_si512();
            for (int g = 4 * s; g < 4 * s + 4; g++) {
                __m512i packed = _mm512_load_si512((const void *)(record + 64 * g));
                __m512i lo = _mm512_and_si512(packed, low_nibbles);
                __m512i hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low_nibbles);
                for (int t = 0; t < T; t++) {
                    dot[t] = _mm512_dpbusd_epi32(dot[t], lo, broadcast4(xb[t]->q + 8 * g));
                    dot[t] = _mm512_dpbusd_epi32(dot[t], hi, broadcast4(xb[t]->q + 8 * g + 4));
                }
            }
            __m512i scale = _mm512_cvtepu8_epi32(_mm_load_si128((const __m128i *)(record + Q4K_SCALES + 16 * s)));
            for (int t = 0; t < T; t++) sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(dot[t], scale));
        }
        __m512 d = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(record + Q4K_D)));
        __m512 dmin = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(record + Q4K_DMIN)));
        for (int t = 0; t < T; t++) {
            acc[t] = add_scaled(acc[t], d, xb[t]->d, sumi[t]);
            // Σ_s m_s·(16-sum 2s + 16-sum 2s+1): the pairs (b_2k, b_2k+1) of the 8 sub-block sums
            // meet the rows' (m_2k, m_2k+1) in one vpdpwssd per k.
            __m128i pair_sums = _mm_hadd_epi16(
                _mm_loadu_si128((const __m128i *)xb[t]->sums), _mm_loadu_si128((const __m128i *)(xb[t]->sums + 8)));
            int32_t pairs[4];
            _mm_storeu_si128((__m128i *)pairs, pair_sums);
            __m512i summ = _mm512_setzero_si512();
            for (int k = 0; k < 4; k++) {
                summ = _mm512_dpwssd_epi32(
                    summ, _mm512_load_si512((const void *)(record + Q4K_MIN_PAIRS + 64 * k)), _mm512_set1_epi32(pairs[k]));
            }
            acc[t] = _mm512_sub_ps(acc[t], _mm512_mul_ps(_mm512_mul_ps(dmin, _mm512_set1_ps(xb[t]->d)), _mm512_cvtepi32_ps(summ)));
        }
    }
    for (int t = 0; t < T; t++) _mm512_storeu_ps(out + KVC_KPANEL_ROWS * t, acc[t]);
}

KVC_INLINE KVC_AVX512 void q6k_panel(const uint8_t *panel, int32_t blocks, const kvc_q8k_block *x, const int T, float *out) {
    __m512 acc[KVC_KPANEL_TILE];
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    const uint8_t *record = panel;
    for (int32_t b = 0; b < blocks; b++, record += Q6K_RECORD) {
        prefetch_record(record, Q6K_RECORD);
        const kvc_q8k_block *xb[KVC_KPANEL_TILE];
        for (int t = 0; t < T; t++) xb[t] = x + (size_t)t * (size_t)blocks + b;
        // Start from −32·Σ_s sc_s·(16-sum s): pairs (sc_2k, sc_2k+1) × the adjacent 16-sums.
        __m512i sumi[KVC_KPANEL_TILE];
        for (int t = 0; t < T; t++) sumi[t] = _mm512_setzero_si512();
        for (int k = 0; k < 8; k++) {
            __m512i pair = _mm512_load_si512((const void *)(record + Q6K_SCALE_PAIRS + 64 * k));
            for (int t = 0; t < T; t++) sumi[t] = _mm512_dpwssd_epi32(sumi[t], pair, broadcast4(xb[t]->sums + 2 * k));
        }
        for (int t = 0; t < T; t++) sumi[t] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sumi[t], 5));
        for (int s = 0; s < 16; s++) {
            // Sub-block s: columns 16s … 16s+15, groups 4s … 4s+3 of 4 columns.
            __m512i dot[KVC_KPANEL_TILE];
            for (int t = 0; t < T; t++) dot[t] = _mm512_setzero_si512();
            for (int g = 4 * s; g < 4 * s + 4; g++) {
                __m512i u = _mm512_load_si512((const void *)(record + 64 * g));
                for (int t = 0; t < T; t++) dot[t] = _mm512_dpbusd_epi32(dot[t], u, broadcast4(xb[t]->q + 4 * g));
            }
            __m512i scale = _mm512_cvtepi8_epi32(_mm_load_si128((const __m128i *)(record + Q6K_SCALES + 16 * s)));
            for (int t = 0; t < T; t++) sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(dot[t], scale));
        }
        __m512 d = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(record + Q6K_D)));
        for (int t = 0; t < T; t++) acc[t] = add_scaled(acc[t], d, xb[t]->d, sumi[t]);
    }
    for (int t = 0; t < T; t++) _mm512_storeu_ps(out + KVC_KPANEL_ROWS * t, acc[t]);
}

#define KVC_KPANEL(name, body)                                                                                   \
    void name(const uint8_t *panel, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out);         \
    KVC_AVX512 void name(const uint8_t *panel, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out) { \
        switch (count) {                                                                                         \
        case 1: body(panel, blocks, x, 1, out); break;                                                           \
        case 2: body(panel, blocks, x, 2, out); break;                                                           \
        case 3: body(panel, blocks, x, 3, out); break;                                                           \
        case 4: body(panel, blocks, x, 4, out); break;                                                           \
        case 5: body(panel, blocks, x, 5, out); break;                                                           \
        case 6: body(panel, blocks, x, 6, out); break;                                                           \
        case 7: body(panel, blocks, x, 7, out); break;                                                           \
        default: body(panel, blocks, x, 8, out); break;                                                          \
        }                                                                                                        \
    }
KVC_KPANEL(kvc_q4k_panel_avx512, q4k_panel)
KVC_KPANEL(kvc_q6k_panel_avx512, q6k_panel)
#endif
