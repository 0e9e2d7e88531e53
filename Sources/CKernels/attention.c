// Decode attention (kvc_attention.h): the portable reference kernels and the dispatcher that picks the
// instruction set. The portable code is the plainest statement of what every path computes.
#include "attention_internal.h"
#include <math.h>
#include <string.h>

void kvc_attention_scores_portable(
    const float *queries, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    kvc_kv_type type, int64_t length, float scale, float *scores) {
    const size_t d = (size_t)head_dim, row = d * (size_t)kvc_kv_type_size(type);
    int64_t slot = 0;
    for (int32_t b = 0; b < block_count; b++) {
        for (int32_t s = 0; s < blocks[b].count; s++, slot++) {
            const void *key = (const char *)blocks[b].keys + (size_t)s * row;
            for (int32_t j = 0; j < group; j++) {
                const float *q = queries + (size_t)j * d;
                float sum = 0;
                for (size_t i = 0; i < d; i++) sum += q[i] * kvc_kv_element(key, i, type);
                scores[(size_t)j * (size_t)length + (size_t)slot] = sum * scale;
            }
        }
    }
}

void kvc_attention_softmax_portable(float *scores, int32_t group, int64_t length) {
    for (int32_t j = 0; j < group; j++) {
        float *row = scores + (size_t)j * (size_t)length;
        // The sum in double and 1/sum rounded to float once, as ggml's soft_max (ggml_vec_soft_max_f32).
        float max = row[0];
        double sum = 0;
        for (int64_t i = 1; i < length; i++) max = row[i] > max ? row[i] : max;
        for (int64_t i = 0; i < length; i++) {
            row[i] = expf(row[i] - max);
            sum += (double)row[i];
        }
        const float inverse = (float)(1.0 / sum);
        for (int64_t i = 0; i < length; i++) row[i] *= inverse;
    }
}

void kvc_attention_values_portable(
    const float *probabilities, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    kvc_kv_type type, int64_t length, float *output) {
    const size_t d = (size_t)head_dim, row = d * (size_t)kvc_kv_type_size(type);
    memset(output, 0, (size_t)group * d * sizeof(float));
    int64_t slot = 0;
    for (int32_t b = 0; b < block_count; b++) {
        for (int32_t s = 0; s < blocks[b].count; s++, slot++) {
            const void *value = (const char *)blocks[b].values + (size_t)s * row;
            for (int32_t j = 0; j < group; j++) {
                const float p = probabilities[(size_t)j * (size_t)length + (size_t)slot];
                float *out = output + (size_t)j * d;
                for (size_t i = 0; i < d; i++) out[i] += p * kvc_kv_element(value, i, type);
            }
        }
    }
}

// MARK: - Dispatch

void kvc_attention_prefetch(const kvc_kv_block *blocks, int32_t block_count, int32_t head_dim, kvc_kv_type type) {
    kvc_slot_cursor ahead = kvc_slot_cursor_start(blocks, block_count);
    kvc_prefetch_slots(&ahead, head_dim, kvc_kv_type_size(type), KVC_ATTENTION_PREFETCH_SLOTS, 1, 1);
}

/// The kernels run: the requested instruction set when this CPU has it and the head width suits its
/// registers, else the portable code. (The AVX-512 tier of kvc_isa includes VNNI, which attention
/// does not use; a CPU in that tier has every feature the AVX-512 attention kernels need.)
static kvc_isa kvc_attention_isa(kvc_isa isa, int32_t head_dim) {
    if (!kvc_isa_supported(isa)) return KVC_ISA_PORTABLE;
    switch (isa) {
    case KVC_ISA_AVX512_VNNI: return head_dim % 16 == 0 ? isa : kvc_attention_isa(KVC_ISA_AVX2, head_dim);
    case KVC_ISA_AVX2: return head_dim % 8 == 0 ? isa : KVC_ISA_PORTABLE;
    default: return KVC_ISA_PORTABLE;
    }
}

void kvc_attention_scores(
    const float *queries, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    kvc_kv_type type, int64_t length, float scale, float *scores, kvc_isa isa) {
    if (group <= 0 || head_dim <= 0 || length <= 0) return;
    switch (kvc_attention_isa(isa, head_dim)) {
#if defined(__x86_64__)
    case KVC_ISA_AVX512_VNNI:
        kvc_attention_scores_avx512(queries, group, head_dim, blocks, block_count, type, length, scale, scores);
        break;
    case KVC_ISA_AVX2:
        kvc_attention_scores_avx2(queries, group, head_dim, blocks, block_count, type, length, scale, scores);
        break;
#endif
    default: kvc_attention_scores_portable(queries, group, head_dim, blocks, block_count, type, length, scale, scores); break;
    }
}

void kvc_attention_softmax(float *scores, int32_t group, int64_t length, kvc_isa isa) {
    if (group <= 0 || length <= 0) return;
    switch (kvc_attention_isa(isa, 16)) {
#if defined(__x86_64__)
    case KVC_ISA_AVX512_VNNI: kvc_attention_softmax_avx512(scores, group, length); break;
    case KVC_ISA_AVX2: kvc_attention_softmax_avx2(scores, group, length); break;
#endif
    default: kvc_attention_softmax_portable(scores, group, length); break;
    }
}

void kvc_attention_values(
    const float *probabilities, int32_t group, int32_t head_dim, const kvc_kv_block *blocks, int32_t block_count,
    kvc_kv_type type, int64_t length, float *output, kvc_isa isa) {
    if (group <= 0 || head_dim <= 0) return;
    switch (kvc_attention_isa(isa, head_dim)) {
#if defined(__x86_64__)
    case KVC_ISA_AVX512_VNNI:
        kvc_attention_values_avx512(probabilities, group, head_dim, blocks, block_count, type, length, output);
        break;
    case KVC_ISA_AVX2:
        kvc_attention_values_avx2(probabilities, group, head_dim, blocks, block_count, type, length, output);
        break;
#endif
    default: kvc_attention_values_portable(probabilities, group, head_dim, blocks, block_count, type, length, output); break;
    }
}
