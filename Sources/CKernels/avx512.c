// AVX-512 VNNI kernels: one zmm register = 16 rows × 4 columns of a panel; vpdpbusd multiplies the
// unsigned quants with 4 broadcast activation bytes of one token and adds into 16 int32 lanes. Up to
// 8 tokens share every unpacked weight register. Same float operations as portable.c.
#if defined(__x86_64__)
#include "internal.h"
#include <immintrin.h>

#define KVC_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,f16c,fma")))
#define KVC_INLINE static inline __attribute__((always_inline))

/// `T` tokens (a compile-time constant after inlining). With few tokens the chain of dependent
/// vpdpbusd is the bottleneck, so the two halves of each block go to separate accumulators (exact:
/// integer sums).
KVC_INLINE KVC_AVX512 void panel_tile(
    const kvc_qmatrix *w, int32_t panel, const int8_t *q, const float *d, const float *s, const int T, float *out) {
    const int split = T < 4;
    const __m512i low_nibbles = _mm512_set1_epi8(0x0F);
    const __m512 negative_zero_point = _mm512_set1_ps(-w->zero_point);
    const int quant_bytes = w->bits == 4 ? 256 : 512;
    const size_t columns = (size_t)w->columns, blocks = (size_t)w->blocks;
    __m512 acc[8];
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    const uint8_t *record = kvc_record(w, panel, 0);
    for (int32_t b = 0; b < w->blocks; b++, record += w->record_bytes) {
        __m512i even[8], odd[8];
        for (int t = 0; t < T; t++) {
            even[t] = _mm512_setzero_si512();
            odd[t] = _mm512_setzero_si512();
        }
        const int8_t *qb = q + (size_t)b * KVC_BLOCK_COLUMNS;
        // A decode step streams every weight once from memory; the hardware prefetcher alone leaves
        // each new record waiting on DRAM, so fetch a few records ahead (the records of a panel and
        // of the next panels are contiguous).
        for (int line = 0; line < w->record_bytes; line += 64) {
            _mm_prefetch((const char *)record + KVC_PREFETCH_BYTES + line, _MM_HINT_T0);
        }
        if (w->bits == 4) {
            for (int c = 0; c < 4; c++) {
                __m512i packed = _mm512_loadu_si512(record + 64 * c);
                __m512i lo = _mm512_and_si512(packed, low_nibbles);
                __m512i hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low_nibbles);
                for (int t = 0; t < T; t++) {
                    const int8_t *x = qb + (size_t)t * columns + 8 * c;
                    even[t] = _mm512_dpbusd_epi32(even[t], lo, _mm512_set1_epi32(kvc_load_i32(x)));
                    if (split) {
                        odd[t] = _mm512_dpbusd_epi32(odd[t], hi, _mm512_set1_epi32(kvc_load_i32(x + 4)));
                    } else {
                        even[t] = _mm512_dpbusd_epi32(even[t], hi, _mm512_set1_epi32(kvc_load_i32(x + 4)));
                    }
                }
            }
        } else {
            for (int c = 0; c < 8; c += 2) {
                __m512i first = _mm512_loadu_si512(record + 64 * c);
                __m512i second = _mm512_loadu_si512(record + 64 * (c + 1));
                for (int t = 0; t < T; t++) {
                    const int8_t *x = qb + (size_t)t * columns + 4 * c;
                    even[t] = _mm512_dpbusd_epi32(even[t], first, _mm512_set1_epi32(kvc_load_i32(x)));
                    if (split) {
                        odd[t] = _mm512_dpbusd_epi32(odd[t], second, _mm512_set1_epi32(kvc_load_i32(x + 4)));
                    } else {
                        even[t] = _mm512_dpbusd_epi32(even[t], second, _mm512_set1_epi32(kvc_load_i32(x + 4)));
                    }
                }
            }
        }
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(record + quant_bytes)));
        __m512 mw = w->has_min ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(record + quant_bytes + 32)))
                               : _mm512_mul_ps(dw, negative_zero_point);
        for (int t = 0; t < T; t++) {
            __m512i dot = split ? _mm512_add_epi32(even[t], odd[t]) : even[t];
            __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(d[(size_t)t * blocks + b]));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc[t]);
            acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(s[(size_t)t * blocks + b]), acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm512_storeu_ps(out + 16 * t, acc[t]);
}

#define KVC_TILE(T)                                                                                             \
    static KVC_AVX512 void panel_tile_##T(                                                                      \
        const kvc_qmatrix *w, int32_t panel, const int8_t *q, const float *d, const float *s, float *out) {     \
        panel_tile(w, panel, q, d, s, T, out);                                                                  \
    }
KVC_TILE(1)
KVC_TILE(2)
KVC_TILE(3)
KVC_TILE(4)
KVC_TILE(5)
KVC_TILE(6)
KVC_TILE(7)
KVC_TILE(8)

void kvc_panel_avx512(
    const kvc_qmatrix *w, int32_t panel, const int8_t *q, const float *d, const float *s, int32_t count, float *out) {
    switch (count) {
    case 1: panel_tile_1(w, panel, q, d, s, out); break;
    case 2: panel_tile_2(w, panel, q, d, s, out); break;
    case 3: panel_tile_3(w, panel, q, d, s, out); break;
    case 4: panel_tile_4(w, panel, q, d, s, out); break;
    case 5: panel_tile_5(w, panel, q, d, s, out); break;
    case 6: panel_tile_6(w, panel, q, d, s, out); break;
    case 7: panel_tile_7(w, panel, q, d, s, out); break;
    default: panel_tile_8(w, panel, q, d, s, out); break;
    }
}

/// 32 activations → int8 with the arithmetic of kvc_quantize_portable.
void KVC_AVX512 kvc_quantize_avx512(const float *x, int32_t columns, int8_t *q, float *d, float *s) {
    const __m512 sign_bit = _mm512_set1_ps(-0.0f), half = _mm512_set1_ps(0.5f);
    for (int32_t b = 0; b < columns / KVC_BLOCK_COLUMNS; b++) {
        __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        float scale = amax / 127.0f;
        float inverse = scale != 0.0f ? 1.0f / scale : 0.0f;
        __m512 inv = _mm512_set1_ps(inverse);
        __m512i sum = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m512 v = _mm512_mul_ps(h ? v1 : v0, inv);
            __m512 magnitude = _mm512_roundscale_ps(
                _mm512_add_ps(_mm512_abs_ps(v), half), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            __m512 rounded = _mm512_or_ps(magnitude, _mm512_and_ps(v, sign_bit));
            __m512i integers = _mm512_cvttps_epi32(rounded);
            sum = _mm512_add_epi32(sum, integers);
            _mm_storeu_si128((__m128i *)(q + 32 * b + 16 * h), _mm512_cvtepi32_epi8(integers));
        }
        d[b] = scale;
        s[b] = scale * (float)_mm512_reduce_add_epi32(sum);
    }
}
#endif
