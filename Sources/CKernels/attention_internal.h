// Shared by the per-instruction-set decode attention kernels behind kvc_attention.h: the walk over a
// head's slots in logical order, and the kernels' signatures.
#ifndef KVC_ATTENTION_INTERNAL_H
#define KVC_ATTENTION_INTERNAL_H

#include "kvc_attention.h"
#include <stddef.h>

/// Position in the walk over a head's blocks: the next slot is `slot` of block `block`.
typedef struct kvc_slot_cursor {
    const kvc_kv_block *blocks;
    int32_t block_count;
    int32_t block;
    int32_t slot;
} kvc_slot_cursor;

static inline kvc_slot_cursor kvc_slot_cursor_start(const kvc_kv_block *blocks, int32_t block_count) {
    kvc_slot_cursor c = {blocks, block_count, 0, 0};
    return c;
}

/// Points rows[0..<width] at the key rows of the next `width` slots (fewer at the end of the head) and
/// advances past them; a row is `head_dim` elements of `element_size` bytes. Returns how many slots it
/// took; rows past that repeat the last one taken (so a kernel may load them without reading outside
/// the cache) or, when none was taken, are untouched.
static inline int kvc_next_key_rows(
    kvc_slot_cursor *c, int32_t head_dim, int32_t element_size, int width, const void **rows) {
    int n = 0;
    while (n < width && c->block < c->block_count) {
        const kvc_kv_block *b = c->blocks + c->block;
        if (c->slot >= b->count) {
            c->block++;
            c->slot = 0;
            continue;
        }
        rows[n++] = (const char *)b->keys + (size_t)c->slot * (size_t)head_dim * (size_t)element_size;
        c->slot++;
    }
    for (int k = n; n > 0 && k < width; k++) rows[k] = rows[n - 1];
    return n;
}

/// Element i of a cached row of `type` as a float (exact): the portable kernels' load.
static inline float kvc_kv_element(const void *row, size_t i, kvc_kv_type type) {
    return type == KVC_KV_F16 ? kvc_half_to_float_inline(((const uint16_t *)row)[i]) : ((const float *)row)[i];
}

/// Slots the vector kernels prefetch ahead of those they compute on (4 blocks of 16).
///
/// A head's blocks lie anywhere in the pool, and at decode they are mostly not in cache (at batch 32
/// the caches of all sequences exceed L3; at batch 1 the weights streaming through evict them).
/// Measured on the Zen 4 (KVM) development machine: a plain loop reads randomly ordered 4 KB blocks
/// at 7.4 GB/s per core (sequential memory: 20 GB/s); prefetching 4 blocks ahead into L2
/// (prefetcht1) raises that to 13 GB/s, while prefetching into L1 (prefetcht0) or non-temporally
/// gains nothing. In the kernels, at SmolLM2's batch-32 shape (2880 heads × 192 slots), scores plus
/// values of a head took 46 ns per slot with the prefetches below against 70 without, at a cost of
/// 3 ns per slot when the head is already in L2/L3 (`make bench-attention` measures both regimes).
#define KVC_ATTENTION_PREFETCH_SLOTS 64

/// Prefetches into L2 the key rows (with `keys`) and value rows (with `values`) of the next `count`
/// slots from `ahead` and advances it past them; the rows of consecutive slots of a block are
/// contiguous, `head_dim` elements of `element_size` bytes each (half floats: half the lines).
static inline void kvc_prefetch_slots(
    kvc_slot_cursor *ahead, int32_t head_dim, int32_t element_size, int count, int keys, int values) {
    while (count > 0 && ahead->block < ahead->block_count) {
        const kvc_kv_block *b = ahead->blocks + ahead->block;
        if (ahead->slot >= b->count) {
            ahead->block++;
            ahead->slot = 0;
            continue;
        }
        const int take = b->count - ahead->slot < count ? b->count - ahead->slot : count;
        const size_t row = (size_t)head_dim * (size_t)element_size;
        const size_t first = (size_t)ahead->slot * row;
        const size_t end = first + (size_t)take * row;
        for (size_t line = first; line < end; line += 64) {
            // Locality 2: prefetcht1, into L2.
            if (keys) __builtin_prefetch((const char *)b->keys + line, 0, 2);
            if (values) __builtin_prefetch((const char *)b->values + line, 0, 2);
        }
        ahead->slot += take;
        count -= take;
    }
}

void kvc_attention_scores_portable(
    const float *queries, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    kvc_kv_type type, int64_t length, float scale, float *scores);
void kvc_attention_values_portable(
    const float *probabilities, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    kvc_kv_type type, int64_t length, float *output);

void kvc_attention_softmax_portable(float *scores, int32_t group, int64_t length);
void kvc_attention_softmax_avx2(float *scores, int32_t group, int64_t length);
void kvc_attention_softmax_avx512(float *scores, int32_t group, int64_t length);

/// Need head_dim % 8 == 0.
void kvc_attention_scores_avx2(
    const float *queries, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    kvc_kv_type type, int64_t length, float scale, float *scores);
void kvc_attention_values_avx2(
    const float *probabilities, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    kvc_kv_type type, int64_t length, float *output);

/// Need head_dim % 16 == 0.
void kvc_attention_scores_avx512(
    const float *queries, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    kvc_kv_type type, int64_t length, float scale, float *scores);
void kvc_attention_values_avx512(
    const float *probabilities, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    kvc_kv_type type, int64_t length, float *output);


#endif
