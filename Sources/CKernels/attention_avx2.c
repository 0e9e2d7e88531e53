// AVX2 decode attention kernels (kvc_attention.h) for x86 without AVX-512; head_dim must be a multiple
// of 8. The same scheme as attention_avx512.c on 8-float registers: scores fold the partial sums of
// 8 consecutive slots into one register (7 additions, 14 shuffles for 8 dot products); values keep
// up to 4 queries × 16 dimensions of sums in registers (16 registers in all leave no room for more).
#if defined(__x86_64__)
#include "attention_internal.h"
#include <immintrin.h>
#include <string.h>

#define KVC_AVX2 __attribute__((target("avx2,fma")))
#define KVC_INLINE static inline __attribute__((always_inline))

/// Queries per scores tile.
#define QUERY_TILE 2
/// Slots folded into one register of scores.
#define SLOT_GROUP 8
/// Queries per values tile.
#define VALUE_QUERIES 4
/// 8-float chunks of a head held per values tile.
#define VALUE_CHUNKS 2

// MARK: - Scores

/// Fold of two slots' partial-sum registers a, b: per 128-bit lane [a0+a2, b0+b2, a1+a3, b1+b3].
KVC_INLINE KVC_AVX2 __m256 fold_pair(__m256 a, __m256 b) {
    return _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
}

/// Fold of two pair folds (slots a, b and c, d): per 128-bit lane [a, b, c, d], each the sum of that
/// lane's four partial sums of the slot.
KVC_INLINE KVC_AVX2 __m256 fold_quad(__m256 ab, __m256 cd) {
    __m256d x = _mm256_castps_pd(ab), y = _mm256_castps_pd(cd);
    return _mm256_add_ps(
        _mm256_castpd_ps(_mm256_unpacklo_pd(x, y)), _mm256_castpd_ps(_mm256_unpackhi_pd(x, y)));
}

/// Fold across the two 128-bit lanes: [x0 + x1, y0 + y1] — quads x and y complete, in order.
KVC_INLINE KVC_AVX2 __m256 fold_lanes(__m256 x, __m256 y) {
    return _mm256_add_ps(_mm256_permute2f128_ps(x, y, 0x20), _mm256_permute2f128_ps(x, y, 0x31));
}

/// Partial sums of `T` queries (rows of q, stride d) with key rows ka and kb over `chunks` chunks of
/// 8 dimensions: da[j], db[j].
KVC_INLINE KVC_AVX2 void dot_pair(
    const float *q, size_t d, const int chunks, const float *ka, const float *kb, const int T, __m256 *da, __m256 *db) {
    for (int j = 0; j < T; j++) {
        da[j] = _mm256_setzero_ps();
        db[j] = _mm256_setzero_ps();
    }
    for (int c = 0; c < chunks; c++) {
        const __m256 a = _mm256_loadu_ps(ka + 8 * c), b = _mm256_loadu_ps(kb + 8 * c);
        for (int j = 0; j < T; j++) {
            const __m256 qv = _mm256_loadu_ps(q + (size_t)j * d + 8 * c);
            da[j] = _mm256_fmadd_ps(qv, a, da[j]);
            db[j] = _mm256_fmadd_ps(qv, b, db[j]);
        }
    }
}

/// Prefetches the key rows the next group will read.
KVC_INLINE KVC_AVX2 void prefetch_rows(const float *const *rows, int n, size_t d) {
    for (int k = 0; k < n; k++) {
        for (size_t i = 0; i < d; i += 16) _mm_prefetch((const char *)(rows[k] + i), _MM_HINT_T0);
    }
}

/// Scores of `T` queries (compile-time after inlining) against every slot; `chunks` is d / 8.
KVC_INLINE KVC_AVX2 void scores_tile(
    const float *q, size_t d, const int chunks, const int T, const kvc_kv_block *blocks, int32_t block_count,
    int64_t length, float scale, float *scores) {
    const __m256 scale_v = _mm256_set1_ps(scale);
    kvc_slot_cursor cursor = kvc_slot_cursor_start(blocks, block_count);
    const float *rows[SLOT_GROUP], *next[SLOT_GROUP];
    int n = kvc_next_key_rows(&cursor, (int32_t)d, SLOT_GROUP, rows);
    for (int64_t first = 0; n > 0; first += SLOT_GROUP) {
        const int following = kvc_next_key_rows(&cursor, (int32_t)d, SLOT_GROUP, next);
        prefetch_rows(next, following, d);
        __m256 quads[QUERY_TILE][2];
        for (int quad = 0; quad < 2; quad++) {
            __m256 pairs[QUERY_TILE][2];
            for (int pair = 0; pair < 2; pair++) {
                const int s = 4 * quad + 2 * pair;
                __m256 da[QUERY_TILE], db[QUERY_TILE];
                dot_pair(q, d, chunks, rows[s], rows[s + 1], T, da, db);
                for (int j = 0; j < T; j++) pairs[j][pair] = fold_pair(da[j], db[j]);
            }
            for (int j = 0; j < T; j++) quads[j][quad] = fold_quad(pairs[j][0], pairs[j][1]);
        }
        for (int j = 0; j < T; j++) {
            const __m256 result = _mm256_mul_ps(fold_lanes(quads[j][0], quads[j][1]), scale_v);
            float *row = scores + (size_t)j * (size_t)length + (size_t)first;
            if (n == SLOT_GROUP) {
                _mm256_storeu_ps(row, result);
            } else {
                float lanes[SLOT_GROUP];
                _mm256_storeu_ps(lanes, result);
                memcpy(row, lanes, (size_t)n * sizeof(float));
            }
        }
        if (following > 0) memcpy(rows, next, sizeof rows);
        n = following;
    }
}

KVC_AVX2 void kvc_attention_scores_avx2(
    const float *queries, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    int64_t length, float scale, float *scores) {
    const size_t d = (size_t)head_dim;
    for (int32_t j = 0; j < group; j += QUERY_TILE) {
        const float *q = queries + (size_t)j * d;
        float *out = scores + (size_t)j * (size_t)length;
        const int pair = group - j >= 2;
        if (head_dim == 64) {
            if (pair) scores_tile(q, d, 8, 2, blocks, block_count, length, scale, out);
            else scores_tile(q, d, 8, 1, blocks, block_count, length, scale, out);
        } else {
            if (pair) scores_tile(q, d, head_dim / 8, 2, blocks, block_count, length, scale, out);
            else scores_tile(q, d, head_dim / 8, 1, blocks, block_count, length, scale, out);
        }
    }
}

// MARK: - Values

/// out[j·d + dim + 8c + i] = Σ_slot p[j·length + slot] · value(slot)[dim + 8c + i] for `T` queries and
/// `C` chunks (compile-time after inlining) starting at dimension `dim`.
KVC_INLINE KVC_AVX2 void values_tile(
    const float *p, int64_t length, size_t d, size_t dim, const int T, const int C, const kvc_kv_block *blocks,
    int32_t block_count, float *out) {
    __m256 acc[VALUE_QUERIES][VALUE_CHUNKS];
    for (int j = 0; j < T; j++) {
        for (int c = 0; c < C; c++) acc[j][c] = _mm256_setzero_ps();
    }
    size_t slot = 0;
    for (int32_t b = 0; b < block_count; b++) {
        const float *values = blocks[b].values + dim;
        // The next block lies anywhere in the pool: fetch its row s while row s of this one is used.
        const float *ahead = b + 1 < block_count ? blocks[b + 1].values + dim : NULL;
        const int32_t ahead_count = ahead ? blocks[b + 1].count : 0;
        for (int32_t s = 0; s < blocks[b].count; s++, slot++) {
            const float *v = values + (size_t)s * d;
            if (s < ahead_count) _mm_prefetch((const char *)(ahead + (size_t)s * d), _MM_HINT_T0);
            for (int c = 0; c < C; c++) {
                const __m256 vv = _mm256_loadu_ps(v + 8 * c);
                for (int j = 0; j < T; j++) {
                    acc[j][c] = _mm256_fmadd_ps(_mm256_set1_ps(p[(size_t)j * (size_t)length + slot]), vv, acc[j][c]);
                }
            }
        }
    }
    for (int j = 0; j < T; j++) {
        for (int c = 0; c < C; c++) _mm256_storeu_ps(out + (size_t)j * d + dim + 8 * c, acc[j][c]);
    }
}

#define VALUES_TILE(T, C) values_tile(p, length, d, dim, T, C, blocks, block_count, out)
#define VALUES_TILES(T)                                                                                                \
    if (chunks == 1) {                                                                                                 \
        VALUES_TILE(T, 1);                                                                                             \
    } else {                                                                                                           \
        VALUES_TILE(T, 2);                                                                                             \
    }

KVC_AVX2 void kvc_attention_values_avx2(
    const float *probabilities, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    int64_t length, float *output) {
    const size_t d = (size_t)head_dim;
    for (int32_t j = 0; j < group; j += VALUE_QUERIES) {
        const float *p = probabilities + (size_t)j * (size_t)length;
        float *out = output + (size_t)j * d;
        const int32_t queries = group - j < VALUE_QUERIES ? group - j : VALUE_QUERIES;
        for (size_t dim = 0; dim < d; dim += 8 * VALUE_CHUNKS) {
            const int chunks = d - dim >= 8 * VALUE_CHUNKS ? VALUE_CHUNKS : 1;
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
