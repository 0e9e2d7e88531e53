// Shared pieces of the K-quant kernels (kquant.c, kquant_avx2.c, kquant_avx512.c): block field
// offsets (ggml-common.h), the 6-bit scale unpacking of Q4_K, and the per-super-block float step
// every path performs identically (see kvc_kquant.h).
#ifndef KVC_KQUANT_INTERNAL_H
#define KVC_KQUANT_INTERNAL_H

#include "kvc_kquant.h"
#include <string.h>

enum {
    KVC_Q4K_BYTES = 144, KVC_Q4K_SCALES = 4, KVC_Q4K_QS = 16,
    KVC_Q6K_BYTES = 210, KVC_Q6K_QH = 128, KVC_Q6K_SCALES = 192, KVC_Q6K_D = 208,
};

/// Tokens one kernel call handles (its register tile).
enum { KVC_KQUANT_TILE = 4 };

static inline uint16_t kvc_load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/// The 8 (scale, min) pairs of a Q4_K block from its 12 packed bytes (ggml-quants.c
/// get_scale_min_k4): pairs 0–3 are the low 6 bits of bytes 0–3 / 4–7; pairs 4–7 take their low
/// 4 bits from bytes 8–11 and their high 2 bits from the top bits of bytes 0–3 / 4–7.
static inline void kvc_q4k_scales(const uint8_t *packed, uint8_t scale[8], uint8_t min[8]) {
    for (int j = 0; j < 4; j++) {
        scale[j] = packed[j] & 63;
        min[j] = packed[j + 4] & 63;
    }
    for (int j = 4; j < 8; j++) {
        scale[j] = (uint8_t)((packed[j + 4] & 0x0F) | (packed[j - 4] >> 6) << 4);
        min[j] = (uint8_t)((packed[j + 4] >> 4) | (packed[j] >> 6) << 4);
    }
}

/// Σ_s m_s·(sum of the two 16-sums of sub-block s): the minimum term of a Q4_K block.
static inline int32_t kvc_q4k_min_sum(const uint8_t min[8], const int16_t sums[16]) {
    int32_t total = 0;
    for (int s = 0; s < 8; s++) total += (int32_t)min[s] * ((int32_t)sums[2 * s] + (int32_t)sums[2 * s + 1]);
    return total;
}

/// Σ_s sc_s·(16-sum of sub-block s): 32× this is the offset of Q6_K's −32.
static inline int32_t kvc_q6k_offset_sum(const int8_t scale[16], const int16_t sums[16]) {
    int32_t total = 0;
    for (int s = 0; s < 16; s++) total += (int32_t)scale[s] * (int32_t)sums[s];
    return total;
}

/// The float step of one super-block, identical in every path (compiled without contraction).
static inline float kvc_kquant_accumulate(float acc, float d, float dmin, float dx, int32_t sumi, int32_t summ) {
    acc += (d * dx) * (float)sumi;
    acc -= (dmin * dx) * (float)summ;
    return acc;
}

/// One weight row × `count` ≤ KVC_KQUANT_TILE tokens (the portable kernels): out[t] = Σ_c W[row, c]·x_t[c].
/// x: the first token's blocks; token t's are at x + t·blocks.
typedef void (*kvc_kquant_row_kernel)(
    const uint8_t *row, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out);

void kvc_q4k_row_portable(const uint8_t *row, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out);
void kvc_q6k_row_portable(const uint8_t *row, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out);

/// The 4-bit quant u (0…15) of element e of a Q4_K block: element 64c + l is the low nibble of
/// qs[32c + l], element 64c + 32 + l its high nibble.
static inline int kvc_q4k_quant(const uint8_t *block, int e) {
    uint8_t packed = block[KVC_Q4K_QS + 32 * (e / 64) + e % 32];
    return e % 64 < 32 ? packed & 0x0F : packed >> 4;
}

/// The 6-bit quant u (0…63) of element e of a Q6_K block: per half h of 128, element 32k + l
/// takes its low 4 bits from ql[64h + l + 32(k&1)] (low nibble for k < 2, high for k ≥ 2) and its
/// high 2 bits from bits 2k, 2k+1 of qh[32h + l].
static inline int kvc_q6k_quant(const uint8_t *block, int e) {
    int h = e / 128, k = (e % 128) / 32, l = e % 32;
    uint8_t low = block[64 * h + l + 32 * (k & 1)];
    return (k < 2 ? low & 0x0F : low >> 4) | ((block[KVC_Q6K_QH + 32 * h + l] >> (2 * k)) & 3) << 4;
}

/// Tokens one panel kernel call handles.
enum { KVC_KPANEL_TILE = 8 };

/// One panel (16 rows, `blocks` records) × `count` ≤ KVC_KPANEL_TILE tokens:
/// out[16·t + r] = Σ_c W[16p + r, c]·x_t[c]. x: the first token's blocks; token t's at x + t·blocks.
void kvc_q4k_panel_avx512(const uint8_t *panel, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out);
void kvc_q6k_panel_avx512(const uint8_t *panel, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out);
void kvc_q4k_panel_avx2(const uint8_t *panel, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out);
void kvc_q6k_panel_avx2(const uint8_t *panel, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out);

#endif
