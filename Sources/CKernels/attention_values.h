// Decode attention value sums, compiled twice — by attention_avx2.c on 8-float registers (tiles of 3
// queries) and by attention_avx512.c on 16-float registers (tiles of 4) — the same loop at two
// widths, like attention_scores8.h for the scores.
//
// Slots run in the inner loop with the sums of a tile of queries × VALUE_CHUNKS registers of
// dimensions held in registers, so every value load serves the whole query tile.
//
// The includer defines KVC_VALUES_TARGET (the target attribute), KVC_VALUES_QUERY_TILE (3 or 4),
// KVC_VALUES_FUNCTION (the kernel's name) and the vector operations KVC_VEC (the register type),
// KVC_VEC_WIDTH (floats per register), KVC_VEC_ZERO(), KVC_VEC_LOAD(p), KVC_VEC_STORE(p, v),
// KVC_VEC_SET1(x), KVC_VEC_FMADD(a, b, c) and KVC_VEC_LOAD_HALF(p) (KVC_VEC_WIDTH half floats at p,
// widened exactly); head_dim must be a multiple of KVC_VEC_WIDTH. Half-float values are widened as
// they are loaded; `f16` is a compile-time constant after inlining, so each storage type gets its
// own loop.
#include "attention_internal.h"

#define KVC_VALUES_INLINE static inline __attribute__((always_inline))
/// Registers of a head's dimensions held per values tile.
#define VALUE_CHUNKS 4

/// out[j·d + dim + W·c + i] = Σ_slot p[j·length + slot] · value(slot)[dim + W·c + i] for `T` queries
/// and `C` chunks of W = KVC_VEC_WIDTH floats (compile-time after inlining) from dimension `dim`.
KVC_VALUES_INLINE KVC_VALUES_TARGET void values_tile(
    const float *p, int64_t length, size_t d, size_t dim, const int T, const int C, const int f16,
    const kvc_kv_block *blocks, int32_t block_count, float *out) {
    const int32_t size = f16 ? 2 : 4;
    KVC_VEC acc[KVC_VALUES_QUERY_TILE][VALUE_CHUNKS];
    for (int j = 0; j < T; j++) {
        for (int c = 0; c < C; c++) acc[j][c] = KVC_VEC_ZERO();
    }
    kvc_slot_cursor ahead = kvc_slot_cursor_start(blocks, block_count);
    // Mostly in L2 already after the scores pass, yet measured faster with (and long heads outgrow L2).
    kvc_prefetch_slots(&ahead, (int32_t)d, size, KVC_ATTENTION_PREFETCH_SLOTS, 0, 1);
    size_t slot = 0;
    for (int32_t b = 0; b < block_count; b++) {
        const char *values = (const char *)blocks[b].values + dim * (size_t)size;
        kvc_prefetch_slots(&ahead, (int32_t)d, size, blocks[b].count, 0, 1);
        for (int32_t s = 0; s < blocks[b].count; s++, slot++) {
            const void *v = values + (size_t)s * d * (size_t)size;
            for (int c = 0; c < C; c++) {
                const KVC_VEC vv = f16 ? KVC_VEC_LOAD_HALF((const uint16_t *)v + KVC_VEC_WIDTH * c)
                                       : KVC_VEC_LOAD((const float *)v + KVC_VEC_WIDTH * c);
                for (int j = 0; j < T; j++) {
                    acc[j][c] = KVC_VEC_FMADD(KVC_VEC_SET1(p[(size_t)j * (size_t)length + slot]), vv, acc[j][c]);
                }
            }
        }
    }
    for (int j = 0; j < T; j++) {
        for (int c = 0; c < C; c++) KVC_VEC_STORE(out + (size_t)j * d + dim + KVC_VEC_WIDTH * c, acc[j][c]);
    }
}

#define VALUES_TILE(T, C) values_tile(p, length, d, dim, T, C, f16, blocks, block_count, out)
#define VALUES_TILES(T)                                                                                                \
    switch (chunks) {                                                                                                  \
    case 1: VALUES_TILE(T, 1); break;                                                                                  \
    case 2: VALUES_TILE(T, 2); break;                                                                                  \
    case 3: VALUES_TILE(T, 3); break;                                                                                  \
    default: VALUES_TILE(T, 4); break;                                                                                 \
    }

/// Every query tile and dimension range, for values stored as halves (f16 = 1) or floats.
KVC_VALUES_INLINE KVC_VALUES_TARGET void values_for_type(
    const float *probabilities, int32_t group, int32_t head_dim, const int f16, const kvc_kv_block *blocks,
    int32_t block_count, int64_t length, float *output) {
    const size_t d = (size_t)head_dim;
    for (int32_t j = 0; j < group; j += KVC_VALUES_QUERY_TILE) {
        const float *p = probabilities + (size_t)j * (size_t)length;
        float *out = output + (size_t)j * d;
        const int32_t queries = group - j < KVC_VALUES_QUERY_TILE ? group - j : KVC_VALUES_QUERY_TILE;
        for (size_t dim = 0; dim < d; dim += KVC_VEC_WIDTH * VALUE_CHUNKS) {
            const size_t left = (d - dim) / KVC_VEC_WIDTH;
            const int chunks = left < VALUE_CHUNKS ? (int)left : VALUE_CHUNKS;
            switch (queries) {
            case 1: VALUES_TILES(1); break;
            case 2: VALUES_TILES(2); break;
#if KVC_VALUES_QUERY_TILE >= 4
            case 3: VALUES_TILES(3); break;
#endif
            default: VALUES_TILES(KVC_VALUES_QUERY_TILE); break;
            }
        }
    }
}

KVC_VALUES_TARGET void KVC_VALUES_FUNCTION(
    const float *probabilities, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    kvc_kv_type type, int64_t length, float *output) {
    if (type == KVC_KV_F16) values_for_type(probabilities, group, head_dim, 1, blocks, block_count, length, output);
    else values_for_type(probabilities, group, head_dim, 0, blocks, block_count, length, output);
}
