// AVX-512 decode attention kernels (kvc_attention.h); head_dim must be a multiple of 16.
//
// Scores: attention_scores8.h on 8-float registers, with AVX-512VL's 32 of them (see there why not
// 16-float ones): 8 slots' partial sums folded into one register of scores.
// Values: slots run in the inner loop with the sums of up to 4 queries × 64 dimensions held in
// 16-float registers; every value load serves the whole query tile.
#if defined(__x86_64__)
#include "attention_internal.h"
#include <immintrin.h>

#define KVC_AVX512 __attribute__((target("avx512f,avx512vl,fma")))
#define KVC_INLINE static inline __attribute__((always_inline))

// MARK: - Scores

#define KVC_SCORES_TARGET KVC_AVX512
#define KVC_SCORES_QUERY_TILE 4
#define KVC_SCORES_FUNCTION kvc_attention_scores_avx512
#include "attention_scores8.h"

/// Queries per values tile.
#define QUERY_TILE 4
/// 16-float chunks of a head held per values tile.
#define VALUE_CHUNKS 4

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
    kvc_slot_cursor ahead = kvc_slot_cursor_start(blocks, block_count);
    // Mostly in L2 already after the scores pass, yet measured faster with (and long heads outgrow L2).
    kvc_prefetch_slots(&ahead, (int32_t)d, KVC_ATTENTION_PREFETCH_SLOTS, 0, 1);
    size_t slot = 0;
    for (int32_t b = 0; b < block_count; b++) {
        const float *values = blocks[b].values + dim;
        kvc_prefetch_slots(&ahead, (int32_t)d, blocks[b].count, 0, 1);
        for (int32_t s = 0; s < blocks[b].count; s++, slot++) {
            const float *v = values + (size_t)s * d;
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
