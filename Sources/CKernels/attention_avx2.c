// AVX2 decode attention kernels (kvc_attention.h) for x86 without AVX-512; head_dim must be a multiple
// of 8.
//
// Scores: attention_scores8.h (8 slots' partial sums folded into one register of scores).
// Values: slots run in the inner loop with the sums of up to 3 queries × 32 dimensions in registers
// (with the value and probability registers that is one more than the 16 AVX2 has, yet measured
// fastest: 4.6 ns per slot against 6.0 for 4 queries × 16 or 2 × 32 dimensions, for SmolLM2's group
// of 3 × 64); every value load serves the whole query tile.
#if defined(__x86_64__)
#include "attention_internal.h"
#include <immintrin.h>

#define KVC_AVX2 __attribute__((target("avx2,fma")))
#define KVC_INLINE static inline __attribute__((always_inline))

// MARK: - Scores

#define KVC_SCORES_TARGET KVC_AVX2
#define KVC_SCORES_QUERY_TILE 3
#define KVC_SCORES_FUNCTION kvc_attention_scores_avx2
#include "attention_scores8.h"

/// Queries per values tile.
#define VALUE_QUERIES 3
/// 8-float chunks of a head held per values tile.
#define VALUE_CHUNKS 4

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
    switch (chunks) {                                                                                                  \
    case 1: VALUES_TILE(T, 1); break;                                                                                  \
    case 2: VALUES_TILE(T, 2); break;                                                                                  \
    case 3: VALUES_TILE(T, 3); break;                                                                                  \
    default: VALUES_TILE(T, 4); break;                                                                                 \
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
            const size_t left = (d - dim) / 8;
            const int chunks = left < VALUE_CHUNKS ? (int)left : VALUE_CHUNKS;
            switch (queries) {
            case 1: VALUES_TILES(1); break;
            case 2: VALUES_TILES(2); break;
            default: VALUES_TILES(3); break;
            }
        }
    }
}

#endif
