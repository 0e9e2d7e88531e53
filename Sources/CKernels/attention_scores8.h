// Decode attention scores on 8-float registers, compiled twice: by attention_avx2.c for AVX2 and by
// attention_avx512.c for AVX-512, where the same code gets 32 registers (AVX-512VL) instead of 16 and
// so a tile of 4 queries. On Zen 4, whose 512-bit operations take two passes through 256-bit units,
// the same scheme on 16-float registers measured no faster (5.7 against 5.8 ns per slot for SmolLM2's
// group of 3 queries × 64 dimensions, cache-resident, without prefetching), so one implementation
// serves both.
//
// A key row is multiplied with each query of a tile, 8 dimensions per register, so every key load
// serves the whole tile and a (query, slot) pair leaves one register of 8 partial sums. Instead of
// summing each register horizontally, the registers of 8 consecutive slots are folded together (a
// transpose that adds as it goes: 7 additions and 14 shuffles for 8 dot products), leaving one
// register with the 8 slots' scores in order.
//
// Half-float keys are widened as they are loaded (F16C vcvtph2ps: 8 halves, one 16-byte load, into
// one register), so the arithmetic is the float32 kernel's; `f16` is a compile-time constant after
// inlining, so each storage type gets its own loop with no branch in it.
//
// The includer defines KVC_SCORES_TARGET (the target attribute, which must include f16c),
// KVC_SCORES_QUERY_TILE (queries per pass over the keys, at most what its registers hold) and
// KVC_SCORES_FUNCTION (the kernel's name); head_dim must be a multiple of 8.
#include "attention_internal.h"
#include <immintrin.h>
#include <string.h>

#define KVC_SCORES_INLINE static inline __attribute__((always_inline))
/// Slots folded into one register of scores.
#define KVC_SCORES_SLOT_GROUP 8

/// Fold of two slots' partial-sum registers a, b: per 128-bit lane [a0+a2, b0+b2, a1+a3, b1+b3].
KVC_SCORES_INLINE KVC_SCORES_TARGET __m256 fold_pair(__m256 a, __m256 b) {
    return _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
}

/// Fold of two pair folds (slots a, b and c, d): per 128-bit lane [a, b, c, d], each the sum of that
/// lane's four partial sums of the slot.
KVC_SCORES_INLINE KVC_SCORES_TARGET __m256 fold_quad(__m256 ab, __m256 cd) {
    __m256d x = _mm256_castps_pd(ab), y = _mm256_castps_pd(cd);
    return _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(x, y)), _mm256_castpd_ps(_mm256_unpackhi_pd(x, y)));
}

/// Fold across the two 128-bit lanes of quad folds x (slots 0–3) and y (slots 4–7): the 8 complete
/// sums in slot order.
KVC_SCORES_INLINE KVC_SCORES_TARGET __m256 fold_lanes(__m256 x, __m256 y) {
    return _mm256_add_ps(_mm256_permute2f128_ps(x, y, 0x20), _mm256_permute2f128_ps(x, y, 0x31));
}

/// Dimensions 8c ..< 8c + 8 of a key row of floats or (f16) halves, as floats.
KVC_SCORES_INLINE KVC_SCORES_TARGET __m256 load_key8(const void *row, int c, const int f16) {
    return f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + 8 * c)))
               : _mm256_loadu_ps((const float *)row + 8 * c);
}

/// Quad folds of `T` queries' dot products with key rows[0..<4] over `chunks` chunks of 8
/// dimensions: quad[j]. Each key chunk is loaded once for all queries, each query chunk once for
/// the four rows.
KVC_SCORES_INLINE KVC_SCORES_TARGET void quad_scores(
    const float *q, size_t d, const int chunks, const void *const *rows, const int T, const int f16, __m256 *quad) {
    __m256 acc[KVC_SCORES_QUERY_TILE][4];
    for (int j = 0; j < T; j++) {
        for (int r = 0; r < 4; r++) acc[j][r] = _mm256_setzero_ps();
    }
    for (int c = 0; c < chunks; c++) {
        __m256 k[4];
        for (int r = 0; r < 4; r++) k[r] = load_key8(rows[r], c, f16);
        for (int j = 0; j < T; j++) {
            const __m256 qv = _mm256_loadu_ps(q + (size_t)j * d + 8 * c);
            for (int r = 0; r < 4; r++) acc[j][r] = _mm256_fmadd_ps(qv, k[r], acc[j][r]);
        }
    }
    for (int j = 0; j < T; j++) quad[j] = fold_quad(fold_pair(acc[j][0], acc[j][1]), fold_pair(acc[j][2], acc[j][3]));
}

/// Scores of `T` queries (compile-time after inlining) against every slot; `chunks` is d / 8, a
/// compile-time constant for the common head widths.
KVC_SCORES_INLINE KVC_SCORES_TARGET void scores_tile(
    const float *q, size_t d, const int chunks, const int T, const int f16, const kvc_kv_block *blocks,
    int32_t block_count, int64_t length, float scale, float *scores) {
    const int32_t size = f16 ? 2 : 4;
    const __m256 scale_v = _mm256_set1_ps(scale);
    kvc_slot_cursor cursor = kvc_slot_cursor_start(blocks, block_count), ahead = cursor;
    // Keys for this pass and values for the values kernel that follows.
    kvc_prefetch_slots(&ahead, (int32_t)d, size, KVC_ATTENTION_PREFETCH_SLOTS, 1, 1);
    const void *rows[KVC_SCORES_SLOT_GROUP];
    int n = kvc_next_key_rows(&cursor, (int32_t)d, size, KVC_SCORES_SLOT_GROUP, rows);
    for (int64_t first = 0; n > 0; first += KVC_SCORES_SLOT_GROUP) {
        kvc_prefetch_slots(&ahead, (int32_t)d, size, KVC_SCORES_SLOT_GROUP, 1, 1);
        // One quad at a time, in a loop the compiler must not unroll: unrolled, its scheduler hoists
        // the loads of both quads (and the queries, out of the slot loop) and the sums spill. The
        // empty asm makes the queries look new to each quad, so they are read from L1 as operands.
        __m256 quads[2][KVC_SCORES_QUERY_TILE];
#pragma clang loop unroll(disable)
        for (int k = 0; k < 2; k++) {
            const float *fresh = q;
            __asm__ volatile("" : "+r"(fresh));
            quad_scores(fresh, d, chunks, rows + 4 * k, T, f16, quads[k]);
        }
        for (int j = 0; j < T; j++) {
            const __m256 result = _mm256_mul_ps(fold_lanes(quads[0][j], quads[1][j]), scale_v);
            float *row = scores + (size_t)j * (size_t)length + (size_t)first;
            if (n == KVC_SCORES_SLOT_GROUP) {
                _mm256_storeu_ps(row, result);
            } else {
                float lanes[KVC_SCORES_SLOT_GROUP];
                _mm256_storeu_ps(lanes, result);
                memcpy(row, lanes, (size_t)n * sizeof(float));
            }
        }
        n = kvc_next_key_rows(&cursor, (int32_t)d, size, KVC_SCORES_SLOT_GROUP, rows);
    }
}

/// One tile of `T` queries with the chunk count fixed for SmolLM2's width (64) and the other common
/// one (128).
KVC_SCORES_INLINE KVC_SCORES_TARGET void scores_for_width(
    const float *q, int32_t head_dim, const int T, const int f16, const kvc_kv_block *blocks, int32_t block_count,
    int64_t length, float scale, float *scores) {
    const size_t d = (size_t)head_dim;
    switch (head_dim) {
    case 64: scores_tile(q, d, 8, T, f16, blocks, block_count, length, scale, scores); break;
    case 128: scores_tile(q, d, 16, T, f16, blocks, block_count, length, scale, scores); break;
    default: scores_tile(q, d, head_dim / 8, T, f16, blocks, block_count, length, scale, scores); break;
    }
}

/// One tile of `T` queries for keys stored as `type`.
KVC_SCORES_INLINE KVC_SCORES_TARGET void scores_for_type(
    const float *q, int32_t head_dim, const int T, kvc_kv_type type, const kvc_kv_block *blocks, int32_t block_count,
    int64_t length, float scale, float *scores) {
    if (type == KVC_KV_F16) scores_for_width(q, head_dim, T, 1, blocks, block_count, length, scale, scores);
    else scores_for_width(q, head_dim, T, 0, blocks, block_count, length, scale, scores);
}

KVC_SCORES_TARGET void KVC_SCORES_FUNCTION(
    const float *queries, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    kvc_kv_type type, int64_t length, float scale, float *scores) {
    for (int32_t j = 0; j < group; j += KVC_SCORES_QUERY_TILE) {
        const float *q = queries + (size_t)j * (size_t)head_dim;
        float *out = scores + (size_t)j * (size_t)length;
        switch (group - j < KVC_SCORES_QUERY_TILE ? group - j : KVC_SCORES_QUERY_TILE) {
        case 1: scores_for_type(q, head_dim, 1, type, blocks, block_count, length, scale, out); break;
        case 2: scores_for_type(q, head_dim, 2, type, blocks, block_count, length, scale, out); break;
#if KVC_SCORES_QUERY_TILE >= 4
        case 3: scores_for_type(q, head_dim, 3, type, blocks, block_count, length, scale, out); break;
        default: scores_for_type(q, head_dim, 4, type, blocks, block_count, length, scale, out); break;
#else
        default: scores_for_type(q, head_dim, 3, type, blocks, block_count, length, scale, out); break;
#endif
        }
    }
}
