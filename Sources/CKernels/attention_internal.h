// Shared by the per-instruction-set decode attention kernels behind kvc_attention.h: the walk over a
// head's slots in logical order, and the kernels' signatures.
//
// The kernels issue no software prefetches. Measured on the Zen 4 (KVM) development machine at
// SmolLM2's batch-32 decode (2880 heads × 192 slots, blocks of 16 scattered over the pool), reading
// the cache runs at ~7.5 GB/s per core with or without prefetching K and V one to eight blocks ahead
// — the rate a plain loop reads randomly ordered 4 KB blocks at there (sequential memory: 20 GB/s;
// each block is a new page) — while the prefetch instructions cost ~25% when the head is in L2/L3.
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
/// advances past them. Returns how many slots it took; rows past that repeat the last one taken (so a
/// kernel may load them without reading outside the cache) or, when none was taken, are untouched.
static inline int kvc_next_key_rows(kvc_slot_cursor *c, int32_t head_dim, int width, const float **rows) {
    int n = 0;
    while (n < width && c->block < c->block_count) {
        const kvc_kv_block *b = c->blocks + c->block;
        if (c->slot >= b->count) {
            c->block++;
            c->slot = 0;
            continue;
        }
        rows[n++] = b->keys + (size_t)c->slot * (size_t)head_dim;
        c->slot++;
    }
    for (int k = n; n > 0 && k < width; k++) rows[k] = rows[n - 1];
    return n;
}

void kvc_attention_scores_portable(
    const float *queries, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    int64_t length, float scale, float *scores);
void kvc_attention_values_portable(
    const float *probabilities, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    int64_t length, float *output);

/// Need head_dim % 8 == 0.
void kvc_attention_scores_avx2(
    const float *queries, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    int64_t length, float scale, float *scores);
void kvc_attention_values_avx2(
    const float *probabilities, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    int64_t length, float *output);

/// Need head_dim % 16 == 0.
void kvc_attention_scores_avx512(
    const float *queries, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    int64_t length, float scale, float *scores);
void kvc_attention_values_avx512(
    const float *probabilities, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    int64_t length, float *output);


#endif
