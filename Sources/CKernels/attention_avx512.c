// AVX-512 decode attention kernels (kvc_attention.h); head_dim must be a multiple of 16.
//
// Scores: a key row is multiplied with each query of a tile of up to 4 queries, 16 dimensions per
// register, so every key load serves the whole tile and a (query, slot) pair leaves one register of
// 16 partial sums. Instead of summing each register horizontally, the registers of 16 consecutive
// slots are folded together (a transpose that adds as it goes: 15 additions and 30 shuffles for 16
// dot products), leaving one register with the 16 slots' scores in order.
//
// Values: slots run in the inner loop with up to 4 queries × 64 dimensions of sums held in registers;
// every value load serves the whole query tile.
#if defined(__x86_64__)
#include "attention_internal.h"
#include <immintrin.h>
#include <string.h>

#define KVC_AVX512 __attribute__((target("avx512f,fma")))
#define KVC_INLINE static inline __attribute__((always_inline))

/// Queries per tile (registers: 4 queries × 4 chunks of a 64-wide head, plus the folds in flight).
#define QUERY_TILE 4
/// Slots folded into one register of scores.
#define SLOT_GROUP 16
/// 16-float chunks of a head held per values tile.
#define VALUE_CHUNKS 4

// MARK: - Scores

/// Fold of two slots' partial-sum registers a, b: per 128-bit lane [a0+a2, b0+b2, a1+a3, b1+b3].
KVC_INLINE KVC_AVX512 __m512 fold_pair(__m512 a, __m512 b) {
    return _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
}

/// Fold of two pair folds (slots a, b and c, d): per 128-bit lane [a, b, c, d], each the sum of that
/// lane's four partial sums of the slot.
KVC_INLINE KVC_AVX512 __m512 fold_quad(__m512 ab, __m512 cd) {
    __m512d x = _mm512_castps_pd(ab), y = _mm512_castps_pd(cd);
    return _mm512_add_ps(
        _mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
}

/// Fold across 128-bit lanes: with x = [x0, x1, x2, x3] and y likewise (lanes), returns
/// [x0 + x1, x2 + x3, y0 + y1, y2 + y3]. Applied twice to four quad folds it leaves lane k holding
/// the complete sums of quad k.
KVC_INLINE KVC_AVX512 __m512 fold_lanes(__m512 x, __m512 y) {
    return _mm512_add_ps(_mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(3, 1, 3, 1)));
}

/// Partial sums of `T` queries (rows of q, stride d) with key rows ka and kb over `chunks` chunks of
/// 16 dimensions: da[j], db[j].
KVC_INLINE KVC_AVX512 void dot_pair(
    const float *q, size_t d, const int chunks, const float *ka, const float *kb, const int T, __m512 *da, __m512 *db) {
    for (int j = 0; j < T; j++) {
        da[j] = _mm512_setzero_ps();
        db[j] = _mm512_setzero_ps();
    }
    for (int c = 0; c < chunks; c++) {
        const __m512 a = _mm512_loadu_ps(ka + 16 * c), b = _mm512_loadu_ps(kb + 16 * c);
        for (int j = 0; j < T; j++) {
            const __m512 qv = _mm512_loadu_ps(q + (size_t)j * d + 16 * c);
            da[j] = _mm512_fmadd_ps(qv, a, da[j]);
            db[j] = _mm512_fmadd_ps(qv, b, db[j]);
        }
    }
}

/// Prefetches the key rows the next group will read.
KVC_INLINE KVC_AVX512 void prefetch_rows(const float *const *rows, int n, size_t d) {
    for (int k = 0; k < n; k++) {
        for (size_t i = 0; i < d; i += 16) _mm_prefetch((const char *)(rows[k] + i), _MM_HINT_T0);
    }
}

/// Scores of `T` queries (compile-time after inlining) against every slot. `chunks` is d / 16, a
/// compile-time constant for the common head widths.
KVC_INLINE KVC_AVX512 void scores_tile(
    const float *q, size_t d, const int chunks, const int T, const kvc_kv_block *blocks, int32_t block_count,
    int64_t length, float scale, float *scores) {
    const __m512 scale_v = _mm512_set1_ps(scale);
    kvc_slot_cursor cursor = kvc_slot_cursor_start(blocks, block_count);
    const float *rows[SLOT_GROUP], *next[SLOT_GROUP];
    int n = kvc_next_key_rows(&cursor, (int32_t)d, SLOT_GROUP, rows);
    for (int64_t first = 0; n > 0; first += SLOT_GROUP) {
        const int following = kvc_next_key_rows(&cursor, (int32_t)d, SLOT_GROUP, next);
        prefetch_rows(next, following, d);
        __m512 quads[QUERY_TILE][2], halves[QUERY_TILE][2];
        for (int quad = 0; quad < 4; quad++) {
            __m512 pairs[QUERY_TILE][2];
            for (int pair = 0; pair < 2; pair++) {
                const int s = 4 * quad + 2 * pair;
                __m512 da[QUERY_TILE], db[QUERY_TILE];
                dot_pair(q, d, chunks, rows[s], rows[s + 1], T, da, db);
                for (int j = 0; j < T; j++) pairs[j][pair] = fold_pair(da[j], db[j]);
            }
            for (int j = 0; j < T; j++) quads[j][quad & 1] = fold_quad(pairs[j][0], pairs[j][1]);
            if (quad & 1) {
                for (int j = 0; j < T; j++) halves[j][quad >> 1] = fold_lanes(quads[j][0], quads[j][1]);
            }
        }
        const __mmask16 live = n == SLOT_GROUP ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
        for (int j = 0; j < T; j++) {
            const __m512 result = _mm512_mul_ps(fold_lanes(halves[j][0], halves[j][1]), scale_v);
            _mm512_mask_storeu_ps(scores + (size_t)j * (size_t)length + (size_t)first, live, result);
        }
        if (following > 0) memcpy(rows, next, sizeof rows);
        n = following;
    }
}

/// One tile of `T` queries with the head width's chunk count fixed where it is common (64 and 128).
KVC_INLINE KVC_AVX512 void scores_for_width(
    const float *q, int32_t head_dim, const int T, const kvc_kv_block *blocks, int32_t block_count, int64_t length,
    float scale, float *scores) {
    const size_t d = (size_t)head_dim;
    switch (head_dim) {
    case 64: scores_tile(q, d, 4, T, blocks, block_count, length, scale, scores); break;
    case 128: scores_tile(q, d, 8, T, blocks, block_count, length, scale, scores); break;
    default: scores_tile(q, d, head_dim / 16, T, blocks, block_count, length, scale, scores); break;
    }
}

KVC_AVX512 void kvc_attention_scores_avx512(
    const float *queries, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    int64_t length, float scale, float *scores) {
    for (int32_t j = 0; j < group; j += QUERY_TILE) {
        const float *q = queries + (size_t)j * (size_t)head_dim;
        float *out = scores + (size_t)j * (size_t)length;
        switch (group - j < QUERY_TILE ? group - j : QUERY_TILE) {
        case 1: scores_for_width(q, head_dim, 1, blocks, block_count, length, scale, out); break;
        case 2: scores_for_width(q, head_dim, 2, blocks, block_count, length, scale, out); break;
        case 3: scores_for_width(q, head_dim, 3, blocks, block_count, length, scale, out); break;
        default: scores_for_width(q, head_dim, 4, blocks, block_count, length, scale, out); break;
        }
    }
}

// MARK: - Values

/// out[j·d + dim + 16c + i] = Σ_slot p[j·length + slot] · value(slot)[dim + 16c + i] for `T` queries
/// and `C` chunks (compile-time after inlining) starting at dimension `dim`.
KVC_INLINE KVC_AVX512 void values_tile(
    const float *p, int64_t length, size_t d, size_t dim, const int T, const int C, const kvc_kv_block *blocks,
    int32_t block_count, float *out) {
    __m512 acc[QUERY_TILE][VALUE_CHUNKS];
    for (int j = 0; j < T; j++) {
        for (int c = 0; c < C; c++) acc[j][c] = _mm512_setzero_ps();
    }
    size_t slot = 0;
    for (int32_t b = 0; b < block_count; b++) {
        const float *values = blocks[b].values + dim;
        // The next block lies anywhere in the pool: fetch its row s while row s of this one is used.
        const float *ahead = b + 1 < block_count ? blocks[b + 1].values + dim : NULL;
        const int32_t ahead_count = ahead ? blocks[b + 1].count : 0;
        for (int32_t s = 0; s < blocks[b].count; s++, slot++) {
            const float *v = values + (size_t)s * d;
            if (s < ahead_count) {
                for (int c = 0; c < C; c++) _mm_prefetch((const char *)(ahead + (size_t)s * d + 16 * c), _MM_HINT_T0);
            }
            for (int c = 0; c < C; c++) {
                const __m512 vv = _mm512_loadu_ps(v + 16 * c);
                for (int j = 0; j < T; j++) {
                    acc[j][c] = _mm512_fmadd_ps(_mm512_set1_ps(p[(size_t)j * (size_t)length + slot]), vv, acc[j][c]);
                }
            }
        }
    }
    for (int j = 0; j < T; j++) {
        for (int c = 0; c < C; c++) _mm512_storeu_ps(out + (size_t)j * d + dim + 16 * c, acc[j][c]);
    }
}

#define VALUES_TILE(T, C) values_tile(p, length, d, dim, T, C, blocks, block_count, out)
#define VALUES_TILES(T)                                                                                                \
    switch (chunks) {                                                                                                  \
    case 1: VALUES_TILE(T, 1); break;                                                                                  \
    case 2: VALUES_TILE(T, 2); break;                                                                                  \
    case 3: VALUES_TILE(T, 3); break;                                                                                  \
    default: VALUES_TILE(T, 4); break;                                                                                 \
    }

KVC_AVX512 void kvc_attention_values_avx512(
    const float *probabilities, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    int64_t length, float *output) {
    const size_t d = (size_t)head_dim;
    for (int32_t j = 0; j < group; j += QUERY_TILE) {
        const float *p = probabilities + (size_t)j * (size_t)length;
        float *out = output + (size_t)j * d;
        const int32_t queries = group - j < QUERY_TILE ? group - j : QUERY_TILE;
        for (size_t dim = 0; dim < d; dim += 16 * VALUE_CHUNKS) {
            const size_t left = (d - dim) / 16;
            const int chunks = left < VALUE_CHUNKS ? (int)left : VALUE_CHUNKS;
            switch (queries) {
            case 1: VALUES_TILES(1); break;
            case 2: VALUES_TILES(2); break;
            case 3: VALUES_TILES(3); break;
            default: VALUES_TILES(4); break;
            }
        }
    }
}

#endif
