// Decode attention over a paged KV cache: for one (sequence, KV head) of a decode step, the scaled
// scores of the head's group of query vectors against every cached key, and the probability-weighted
// sums of the cached values (KV-Compress §3: every KV head has its own blocks and length).
//
// The caller runs the three steps (scores, softmax, weighted values) one after the other, so that an
// observer can see the exact probabilities the value sum uses (KV-Compress §3.1).
//
// Slots are numbered in logical order: block after block, each block's valid slots in order. Every
// path (AVX-512, AVX2, portable C) computes the same quantities in float32; they differ only in the
// order of the additions.
//
// The cache stores keys and values as float32 or as IEEE half floats (kvc_kv_type; half by default,
// as llama.cpp and vLLM: half the bytes per KV, so twice the KVs per pool). Half keys and values are
// widened to float32 exactly as they are loaded (F16C / AVX-512 vcvtph2ps, or kvc_half_to_float on
// the portable path), so all arithmetic stays float32 whatever the storage.
#ifndef KVC_ATTENTION_H
#define KVC_ATTENTION_H

#include "kvc_half.h"
#include "kvc_quant.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One block of a head's cache, in logical order. The element type is the call's kvc_kv_type.
typedef struct kvc_kv_block {
    const void *keys;    // [count, head_dim] elements, row stride head_dim
    const void *values;  // [count, head_dim] elements, row stride head_dim
    int32_t count;       // valid slots of the block (≥ 0)
} kvc_kv_block;

/// scores[j·length + slot] = scale · Σ_i queries[j·head_dim + i] · key(slot)[i]
/// for the `group` queries j and every slot of `blocks` (length = Σ counts).
/// queries: [group, head_dim]; scores: [group, length].
void kvc_attention_scores(
    const float *queries, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    kvc_kv_type type, int64_t length, float scale, float *scores, kvc_isa isa);

/// In place, each of the `group` rows of scores [group, length] becomes its softmax:
/// p[slot] = e^(s[slot] − max) / Σ e^(s − max). The vector paths evaluate e^x by a polynomial
/// (relative error ~2e-7), the portable path by expf.
void kvc_attention_softmax(float *scores, int32_t group, int64_t length, kvc_isa isa);

/// output[j·head_dim + i] = Σ_slot probabilities[j·length + slot] · value(slot)[i]
/// probabilities: [group, length] (length = Σ counts); output: [group, head_dim].
void kvc_attention_values(
    const float *probabilities, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    kvc_kv_type type, int64_t length, float *output, kvc_isa isa);

/// Starts loading the keys and values of the first slots of a head into L2, for a caller that knows
/// which head it computes next: the kernels above prefetch ahead of themselves, but not before they
/// start, and a head's blocks are rarely in cache at decode.
void kvc_attention_prefetch(const kvc_kv_block *blocks, int32_t block_count, int32_t head_dim, kvc_kv_type type);

#ifdef __cplusplus
}
#endif

#endif
