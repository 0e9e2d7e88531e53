// Portable C kernels: the definition every vector path reproduces bit for bit.
//
// Per (row, token) and block, in this order:
//   i   = Σ_j u_j · q_j                         (exact, int32)
//   acc = fma((float)i, d_w · d_x, acc)
//   acc = fma(m_w, s_x, acc)                    (m_w = −zero_point · d_w without stored minimums)
// Compiled with -ffp-contract=off so the compiler fuses nothing else.
#include "internal.h"
#include <math.h>

void kvc_quantize_portable(const float *x, int32_t columns, int8_t *q, float *d, float *s) {
    for (int32_t b = 0; b < columns / KVC_BLOCK_COLUMNS; b++) {
        const float *xb = x + b * KVC_BLOCK_COLUMNS;
        float amax = 0;
        for (int j = 0; j < KVC_BLOCK_COLUMNS; j++) {
            float a = fabsf(xb[j]);
            amax = a > amax ? a : amax;
        }
        // As llama.cpp's quantize_row_q8_1_ref (ggml-quants.c): d = amax / 127, q = round(x · (1/d)).
        float scale = amax / 127.0f;
        float inverse = scale != 0.0f ? 1.0f / scale : 0.0f;
        int32_t sum = 0;
        for (int j = 0; j < KVC_BLOCK_COLUMNS; j++) {
            // round half away from zero; |x · inverse| ≤ 127, where floor(|v| + 0.5) is exact.
            float v = xb[j] * inverse;
            float r = floorf(fabsf(v) + 0.5f);
            int32_t qi = (int32_t)(v < 0 ? -r : r);
            q[b * KVC_BLOCK_COLUMNS + j] = (int8_t)qi;
            sum += qi;
        }
        d[b] = scale;
        s[b] = scale * (float)sum;
    }
}

void kvc_panel_portable(
    const kvc_qmatrix *w, int32_t panel, const int8_t *q, const float *d, const float *s, int32_t count, float *out) {
    const int quant_bytes = w->bits == 4 ? 256 : 512;
    for (int t = 0; t < count; t++) {
        for (int i = 0; i < KVC_PANEL_ROWS; i++) out[t * KVC_PANEL_ROWS + i] = 0.0f;
    }
    for (int32_t b = 0; b < w->blocks; b++) {
        const uint8_t *record = kvc_record(w, panel, b);
        for (int i = 0; i < KVC_PANEL_ROWS; i++) {
            uint8_t u[KVC_BLOCK_COLUMNS];
            for (int j = 0; j < KVC_BLOCK_COLUMNS; j++) {
                if (w->bits == 4) {
                    uint8_t byte = record[64 * (j / 8) + 4 * i + (j % 8) % 4];
                    u[j] = (j % 8) < 4 ? byte & 0x0F : byte >> 4;
                } else {
                    u[j] = record[64 * (j / 4) + 4 * i + j % 4];
                }
            }
            uint16_t dh, mh = 0;
            memcpy(&dh, record + quant_bytes + 2 * i, 2);
            if (w->has_min) memcpy(&mh, record + quant_bytes + 32 + 2 * i, 2);
            float dw = kvc_half_to_float(dh);
            float mw = w->has_min ? kvc_half_to_float(mh) : dw * -w->zero_point;
            for (int t = 0; t < count; t++) {
                const int8_t *qb = q + (size_t)t * (size_t)w->columns + (size_t)b * KVC_BLOCK_COLUMNS;
                int32_t dot = 0;
                for (int j = 0; j < KVC_BLOCK_COLUMNS; j++) dot += (int32_t)u[j] * (int32_t)qb[j];
                float *acc = out + t * KVC_PANEL_ROWS + i;
                *acc = fmaf((float)dot, dw * d[(size_t)t * (size_t)w->blocks + b], *acc);
                *acc = fmaf(mw, s[(size_t)t * (size_t)w->blocks + b], *acc);
            }
        }
    }
}
