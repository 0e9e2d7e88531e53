// K-quant × Q8_K products: activation quantization, dequantization, and the portable row kernels
// over the file's blocks (the definition the vector panel kernels reproduce bit for bit) with their
// loop over rows and tokens.
// Layouts and arithmetic: ggml-common.h (block_q4_K, block_q6_K, block_q8_K), ggml-quants.c
// (quantize_row_q8_K_ref, dequantize_row_q4_K, dequantize_row_q6_K), ggml-cpu quants.c
// (ggml_vec_dot_q4_K_q8_K_generic, ggml_vec_dot_q6_K_q8_K_generic).
#include "kquant_internal.h"
#include <math.h>

int32_t kvc_kquant_block_bytes(kvc_kquant_type type) {
    switch (type) {
    case KVC_KQUANT_Q4_K: return KVC_Q4K_BYTES;
    case KVC_KQUANT_Q6_K: return KVC_Q6K_BYTES;
    default: return 0;
    }
}

/// Round half to even, as ggml's nearest_int (the 1.5·2^23 trick, valid for |v| < 2^22).
static inline int32_t kvc_nearest_int(float v) {
    float shifted = v + 12582912.0f;
    int32_t bits;
    memcpy(&bits, &shifted, 4);
    return (bits & 0x007FFFFF) - 0x00400000;
}

void kvc_quantize_q8k(const float *x, int32_t tokens, int32_t columns, kvc_q8k_block *y) {
    int32_t blocks = columns / KVC_KQUANT_BLOCK;
    for (int64_t b = 0; b < (int64_t)tokens * blocks; b++) {
        const float *xb = x + b * KVC_KQUANT_BLOCK;
        kvc_q8k_block *yb = y + b;
        float max = 0, amax = 0;
        for (int j = 0; j < KVC_KQUANT_BLOCK; j++) {
            float a = fabsf(xb[j]);
            if (a > amax) {
                amax = a;
                max = xb[j];
            }
        }
        if (amax == 0) {
            memset(yb, 0, sizeof *yb);
            continue;
        }
        float iscale = -127.0f / max;
        for (int j = 0; j < KVC_KQUANT_BLOCK; j++) {
            int32_t v = kvc_nearest_int(iscale * xb[j]);
            yb->q[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < 16; g++) {
            int32_t sum = 0;
            for (int j = 0; j < 16; j++) sum += yb->q[16 * g + j];
            yb->sums[g] = (int16_t)sum;
        }
        yb->d = 1 / iscale;
    }
}

void kvc_kquant_dequantize_row(kvc_kquant_type type, const uint8_t *w, int32_t columns, int32_t row, float *out) {
    int32_t blocks = columns / KVC_KQUANT_BLOCK, bytes = kvc_kquant_block_bytes(type);
    const uint8_t *block = w + (size_t)row * (size_t)blocks * (size_t)bytes;
    for (int32_t b = 0; b < blocks; b++, block += bytes, out += KVC_KQUANT_BLOCK) {
        if (type == KVC_KQUANT_Q4_K) {
            float d = kvc_half_to_float(kvc_load_u16(block)), dmin = kvc_half_to_float(kvc_load_u16(block + 2));
            uint8_t scale[8], min[8];
            kvc_q4k_scales(block + KVC_Q4K_SCALES, scale, min);
            // Sub-block s = e / 32: d·sc_s·u − dmin·m_s.
            for (int e = 0; e < KVC_KQUANT_BLOCK; e++) {
                float ds = d * scale[e / 32], ms = dmin * min[e / 32];
                out[e] = ds * (float)kvc_q4k_quant(block, e) - ms;
            }
        } else {
            float d = kvc_half_to_float(kvc_load_u16(block + KVC_Q6K_D));
            const int8_t *scale = (const int8_t *)(block + KVC_Q6K_SCALES);
            for (int e = 0; e < KVC_KQUANT_BLOCK; e++) out[e] = d * (float)scale[e / 16] * (float)(kvc_q6k_quant(block, e) - 32);
        }
    }
}

// MARK: - Portable kernels

void kvc_q4k_row_portable(const uint8_t *row, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out) {
    for (int t = 0; t < count; t++) out[t] = 0;
    for (int32_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + (size_t)b * KVC_Q4K_BYTES;
        float d = kvc_half_to_float(kvc_load_u16(block)), dmin = kvc_half_to_float(kvc_load_u16(block + 2));
        uint8_t scale[8], min[8];
        kvc_q4k_scales(block + KVC_Q4K_SCALES, scale, min);
        const uint8_t *qs = block + KVC_Q4K_QS;
        for (int t = 0; t < count; t++) {
            const kvc_q8k_block *xb = x + (size_t)t * (size_t)blocks + b;
            int32_t sumi = 0;
            for (int c = 0; c < 4; c++) {
                int32_t low = 0, high = 0;
                for (int l = 0; l < 32; l++) {
                    low += (qs[32 * c + l] & 0x0F) * xb->q[64 * c + l];
                    high += (qs[32 * c + l] >> 4) * xb->q[64 * c + 32 + l];
                }
                sumi += scale[2 * c] * low + scale[2 * c + 1] * high;
            }
            out[t] = kvc_kquant_accumulate(out[t], d, dmin, xb->d, sumi, kvc_q4k_min_sum(min, xb->sums));
        }
    }
}

void kvc_q6k_row_portable(const uint8_t *row, int32_t blocks, const kvc_q8k_block *x, int32_t count, float *out) {
    for (int t = 0; t < count; t++) out[t] = 0;
    for (int32_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + (size_t)b * KVC_Q6K_BYTES;
        float d = kvc_half_to_float(kvc_load_u16(block + KVC_Q6K_D));
        const int8_t *scale = (const int8_t *)(block + KVC_Q6K_SCALES);
        uint8_t u[KVC_KQUANT_BLOCK];
        for (int e = 0; e < KVC_KQUANT_BLOCK; e++) u[e] = (uint8_t)kvc_q6k_quant(block, e);
        for (int t = 0; t < count; t++) {
            const kvc_q8k_block *xb = x + (size_t)t * (size_t)blocks + b;
            // Σ sc·Σ (u − 32)·q, as Σ sc·Σ u·q − 32·Σ sc·(16-sum of q) (all exact).
            int32_t sumi = 0;
            for (int s = 0; s < 16; s++) {
                int32_t dot = 0;
                for (int l = 0; l < 16; l++) dot += u[16 * s + l] * xb->q[16 * s + l];
                sumi += scale[s] * dot;
            }
            sumi -= 32 * kvc_q6k_offset_sum(scale, xb->sums);
            out[t] = kvc_kquant_accumulate(out[t], d, 0, xb->d, sumi, 0);
        }
    }
}

// MARK: - Dispatch

void kvc_kquant_matmul(
    kvc_kquant_type type, const uint8_t *w, int32_t columns, int32_t row_begin, int32_t row_end,
    const kvc_q8k_block *x, int32_t token_begin, int32_t token_end, float *y, int64_t ldy, int32_t accumulate) {
    kvc_kquant_row_kernel kernel = type == KVC_KQUANT_Q4_K ? kvc_q4k_row_portable : kvc_q6k_row_portable;
    int32_t blocks = columns / KVC_KQUANT_BLOCK;
    size_t row_bytes = (size_t)blocks * (size_t)kvc_kquant_block_bytes(type);
    float out[KVC_KQUANT_TILE];
    for (int32_t t = token_begin; t < token_end; t += KVC_KQUANT_TILE) {
        int32_t count = token_end - t < KVC_KQUANT_TILE ? token_end - t : KVC_KQUANT_TILE;
        const kvc_q8k_block *xt = x + (size_t)t * (size_t)blocks;
        for (int32_t r = row_begin; r < row_end; r++) {
            kernel(w + (size_t)r * row_bytes, blocks, xt, count, out);
            for (int32_t k = 0; k < count; k++) {
                float *yr = y + (size_t)(t + k) * (size_t)ldy + r;
                *yr = accumulate ? *yr + out[k] : out[k];
            }
        }
    }
}
