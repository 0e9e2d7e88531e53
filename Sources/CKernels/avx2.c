// AVX2 kernels (x86 without AVX-512 VNNI): a panel is processed as two halves of 8 rows, one ymm
// register = 8 rows × 4 columns. vpmaddubsw multiplies unsigned quants with signed activation bytes
// into int16 pairs; with quants below 16 and |q| ≤ 127 a whole block's pairs stay below 2^15
// (8 × 2 × 15 × 127 = 30480), so they are summed in int16 and widened once per block. 8-bit quants
// are split into nibbles (u = 16·high + low). Same float operations as portable.c.
#if defined(__x86_64__)
#include "internal.h"
#include <immintrin.h>

#define KVC_AVX2 __attribute__((target("avx2,fma,f16c")))
#define KVC_INLINE static inline __attribute__((always_inline))

/// Rows 8·half ..< 8·half + 8 of the panel for `T` tokens (compile-time constant after inlining).
KVC_INLINE KVC_AVX2 void half_tile(
    const kvc_qmatrix *w, int32_t panel, int half, const int8_t *q, const float *d, const float *s, const int T,
    float *out) {
    const __m256i low_nibbles = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    const __m256 negative_zero_point = _mm256_set1_ps(-w->zero_point);
    const int quant_bytes = w->bits == 4 ? 256 : 512;
    const size_t columns = (size_t)w->columns, blocks = (size_t)w->blocks;
    __m256 acc[4];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    const uint8_t *record = kvc_record(w, panel, 0);
    for (int32_t b = 0; b < w->blocks; b++, record += w->record_bytes) {
        const int8_t *qb = q + (size_t)b * KVC_BLOCK_COLUMNS;
        __m256i dot[4];
        if (w->bits == 4) {
            __m256i pairs[4];
            for (int t = 0; t < T; t++) pairs[t] = _mm256_setzero_si256();
            for (int c = 0; c < 4; c++) {
                __m256i packed = _mm256_loadu_si256((const __m256i *)(record + 64 * c + 32 * half));
                __m256i lo = _mm256_and_si256(packed, low_nibbles);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_nibbles);
                for (int t = 0; t < T; t++) {
                    const int8_t *x = qb + (size_t)t * columns + 8 * c;
                    __m256i p = _mm256_add_epi16(
                        _mm256_maddubs_epi16(lo, _mm256_set1_epi32(kvc_load_i32(x))),
                        _mm256_maddubs_epi16(hi, _mm256_set1_epi32(kvc_load_i32(x + 4))));
                    pairs[t] = _mm256_add_epi16(pairs[t], p);
                }
            }
            for (int t = 0; t < T; t++) dot[t] = _mm256_madd_epi16(pairs[t], ones);
        } else {
            __m256i low_pairs[4], high_pairs[4];
            for (int t = 0; t < T; t++) {
                low_pairs[t] = _mm256_setzero_si256();
                high_pairs[t] = _mm256_setzero_si256();
            }
            for (int c = 0; c < 8; c++) {
                __m256i packed = _mm256_loadu_si256((const __m256i *)(record + 64 * c + 32 * half));
                __m256i lo = _mm256_and_si256(packed, low_nibbles);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_nibbles);
                for (int t = 0; t < T; t++) {
                    __m256i x = _mm256_set1_epi32(kvc_load_i32(qb + (size_t)t * columns + 4 * c));
                    low_pairs[t] = _mm256_add_epi16(low_pairs[t], _mm256_maddubs_epi16(lo, x));
                    high_pairs[t] = _mm256_add_epi16(high_pairs[t], _mm256_maddubs_epi16(hi, x));
                }
            }
            for (int t = 0; t < T; t++) {
                dot[t] = _mm256_add_epi32(
                    _mm256_madd_epi16(low_pairs[t], ones), _mm256_slli_epi32(_mm256_madd_epi16(high_pairs[t], ones), 4));
            }
        }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(record + quant_bytes + 16 * half)));
        __m256 mw = w->has_min ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(record + quant_bytes + 32 + 16 * half)))
                               : _mm256_mul_ps(dw, negative_zero_point);
        for (int t = 0; t < T; t++) {
            __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(d[(size_t)t * blocks + b]));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[t]), scale, acc[t]);
            acc[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(s[(size_t)t * blocks + b]), acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm256_storeu_ps(out + 16 * t + 8 * half, acc[t]);
}

#define KVC_TILE(T)                                                                                             \
    static KVC_AVX2 void half_tile_##T(                                                                         \
        const kvc_qmatrix *w, int32_t panel, int half, const int8_t *q, const float *d, const float *s,         \
        float *out) {                                                                                           \
        half_tile(w, panel, half, q, d, s, T, out);                                                             \
    }
KVC_TILE(1)
KVC_TILE(2)
KVC_TILE(3)
KVC_TILE(4)

void kvc_panel_avx2(
    const kvc_qmatrix *w, int32_t panel, const int8_t *q, const float *d, const float *s, int32_t count, float *out) {
    const size_t columns = (size_t)w->columns, blocks = (size_t)w->blocks;
    for (int half = 0; half < 2; half++) {
        // 8-bit quants need twice the int16 accumulators: at most 2 tokens at a time in 16 registers.
        int step = w->bits == 4 ? 4 : 2;
        for (int32_t t = 0; t < count; t += step) {
            int n = count - t < step ? count - t : step;
            const int8_t *qt = q + (size_t)t * columns;
            const float *dt = d + (size_t)t * blocks, *st = s + (size_t)t * blocks;
            float *o = out + 16 * t;
            switch (n) {
            case 1: half_tile_1(w, panel, half, qt, dt, st, o); break;
            case 2: half_tile_2(w, panel, half, qt, dt, st, o); break;
            case 3: half_tile_3(w, panel, half, qt, dt, st, o); break;
            default: half_tile_4(w, panel, half, qt, dt, st, o); break;
            }
        }
    }
}

/// 32 activations → int8 with the arithmetic of kvc_quantize_portable.
void KVC_AVX2 kvc_quantize_avx2(const float *x, int32_t columns, int8_t *q, float *d, float *s) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.5f);
    for (int32_t b = 0; b < columns / KVC_BLOCK_COLUMNS; b++) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(x + 32 * b + 8 * k);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign_bit, v[k]));
        }
        float lanes[8];
        _mm256_storeu_ps(lanes, m);
        float amax = 0;
        for (int k = 0; k < 8; k++) amax = lanes[k] > amax ? lanes[k] : amax;
        float scale = amax / 127.0f;
        float inverse = scale != 0.0f ? 1.0f / scale : 0.0f;
        __m256 inv = _mm256_set1_ps(inverse);
        __m256i sum = _mm256_setzero_si256();
        for (int k = 0; k < 4; k++) {
            __m256 value = _mm256_mul_ps(v[k], inv);
            __m256 magnitude = _mm256_floor_ps(_mm256_add_ps(_mm256_andnot_ps(sign_bit, value), half));
            __m256i integers = _mm256_cvttps_epi32(_mm256_or_ps(magnitude, _mm256_and_ps(value, sign_bit)));
            sum = _mm256_add_epi32(sum, integers);
            int32_t lanes_i[8];
            _mm256_storeu_si256((__m256i *)lanes_i, integers);
            for (int j = 0; j < 8; j++) q[32 * b + 8 * k + j] = (int8_t)lanes_i[j];
        }
        int32_t sums[8];
        _mm256_storeu_si256((__m256i *)sums, sum);
        int32_t total = 0;
        for (int j = 0; j < 8; j++) total += sums[j];
        d[b] = scale;
        s[b] = scale * (float)total;
    }
}
#endif
