// Repacking of K-quant rows into the 16-row panels of the AVX-512 and AVX2 kernels (layout: kvc_kquant.h),
// and the dispatcher over panels and token tiles. The packing only moves bytes and unpacks the
// 6-bit Q4_K scales; no value is rounded, so the panels hold exactly the file's weights.
#include "kquant_internal.h"

enum { KVC_Q4K_PANEL_QUANTS = 2048, KVC_Q6K_PANEL_QUANTS = 4096 };

int32_t kvc_kpanel_record_bytes(kvc_kquant_type type) {
    switch (type) {
    // quants 2048 + scales 128 + minimum pairs 256 + d 32 + dmin 32.
    case KVC_KQUANT_Q4_K: return 2496;
    // quants 4096 + scales 256 + scale pairs 512 + d 32 = 4896, padded to 64 bytes.
    case KVC_KQUANT_Q6_K: return 4928;
    default: return 0;
    }
}

int64_t kvc_kpanel_bytes(kvc_kquant_type type, int32_t rows, int32_t columns) {
    int64_t panels = ((int64_t)rows + KVC_KPANEL_ROWS - 1) / KVC_KPANEL_ROWS;
    return panels * (columns / KVC_KQUANT_BLOCK) * kvc_kpanel_record_bytes(type);
}

/// Writes the record of super-block b of rows 16p … 16p+15 (zero past `rows`).
static void pack_q4k(const uint8_t *w, int32_t rows, int32_t blocks, int32_t p, int32_t b, uint8_t *record) {
    uint8_t *scales = record + KVC_Q4K_PANEL_QUANTS, *pairs = scales + 128, *d = pairs + 256, *dmin = d + 32;
    for (int r = 0; r < KVC_KPANEL_ROWS; r++) {
        int32_t row = p * KVC_KPANEL_ROWS + r;
        if (row >= rows) continue;
        const uint8_t *block = w + ((size_t)row * (size_t)blocks + (size_t)b) * KVC_Q4K_BYTES;
        uint8_t scale[8], min[8];
        kvc_q4k_scales(block + KVC_Q4K_SCALES, scale, min);
        for (int g = 0; g < 32; g++) {
            for (int i = 0; i < 4; i++) {
                record[64 * g + 4 * r + i] = (uint8_t)(kvc_q4k_quant(block, 8 * g + i) | kvc_q4k_quant(block, 8 * g + 4 + i) << 4);
            }
        }
        for (int s = 0; s < 8; s++) scales[16 * s + r] = scale[s];
        for (int k = 0; k < 4; k++) {
            int16_t pair[2] = {min[2 * k], min[2 * k + 1]};
            memcpy(pairs + 64 * k + 4 * r, pair, 4);
        }
        memcpy(d + 2 * r, block, 2);
        memcpy(dmin + 2 * r, block + 2, 2);
    }
}

static void pack_q6k(const uint8_t *w, int32_t rows, int32_t blocks, int32_t p, int32_t b, uint8_t *record) {
    uint8_t *scales = record + KVC_Q6K_PANEL_QUANTS, *pairs = scales + 256, *d = pairs + 512;
    for (int r = 0; r < KVC_KPANEL_ROWS; r++) {
        int32_t row = p * KVC_KPANEL_ROWS + r;
        if (row >= rows) continue;
        const uint8_t *block = w + ((size_t)row * (size_t)blocks + (size_t)b) * KVC_Q6K_BYTES;
        const int8_t *scale = (const int8_t *)(block + KVC_Q6K_SCALES);
        for (int e = 0; e < KVC_KQUANT_BLOCK; e++) record[64 * (e / 4) + 4 * r + e % 4] = (uint8_t)kvc_q6k_quant(block, e);
        for (int s = 0; s < 16; s++) scales[16 * s + r] = (uint8_t)scale[s];
        for (int k = 0; k < 8; k++) {
            int16_t pair[2] = {scale[2 * k], scale[2 * k + 1]};
            memcpy(pairs + 64 * k + 4 * r, pair, 4);
        }
        memcpy(d + 2 * r, block + KVC_Q6K_D, 2);
    }
}

void kvc_kpanel_pack(kvc_kquant_type type, const uint8_t *w, int32_t rows, int32_t columns, uint8_t *panels) {
    int32_t blocks = columns / KVC_KQUANT_BLOCK, record_bytes = kvc_kpanel_record_bytes(type);
    int32_t panel_count = (rows + KVC_KPANEL_ROWS - 1) / KVC_KPANEL_ROWS;
    memset(panels, 0, (size_t)kvc_kpanel_bytes(type, rows, columns));
    for (int32_t p = 0; p < panel_count; p++) {
        for (int32_t b = 0; b < blocks; b++) {
            uint8_t *record = panels + ((size_t)p * (size_t)blocks + (size_t)b) * (size_t)record_bytes;
            if (type == KVC_KQUANT_Q4_K) {
                pack_q4k(w, rows, blocks, p, b, record);
            } else {
                pack_q6k(w, rows, blocks, p, b, record);
            }
        }
    }
}

int kvc_kpanel_supported(kvc_isa isa) {
    return (isa == KVC_ISA_AVX2 || isa == KVC_ISA_AVX512_VNNI) && kvc_isa_supported(isa);
}

void kvc_kpanel_matmul(
    kvc_kquant_type type, const uint8_t *panels, int32_t rows, int32_t columns, int32_t panel_begin,
    int32_t panel_end, const kvc_q8k_block *x, int32_t token_begin, int32_t token_end, float *y, int64_t ldy,
    int32_t accumulate, kvc_isa isa) {
#if defined(__x86_64__)
    int q4 = type == KVC_KQUANT_Q4_K, wide = isa == KVC_ISA_AVX512_VNNI;
    void (*kernel)(const uint8_t *, int32_t, const kvc_q8k_block *, int32_t, float *) =
        wide ? (q4 ? kvc_q4k_panel_avx512 : kvc_q6k_panel_avx512) : (q4 ? kvc_q4k_panel_avx2 : kvc_q6k_panel_avx2);
    int32_t blocks = columns / KVC_KQUANT_BLOCK;
    size_t panel_bytes = (size_t)blocks * (size_t)kvc_kpanel_record_bytes(type);
    float out[KVC_KPANEL_TILE * KVC_KPANEL_ROWS];
    for (int32_t t = token_begin; t < token_end; t += KVC_KPANEL_TILE) {
        int32_t count = token_end - t < KVC_KPANEL_TILE ? token_end - t : KVC_KPANEL_TILE;
        const kvc_q8k_block *xt = x + (size_t)t * (size_t)blocks;
        for (int32_t p = panel_begin; p < panel_end; p++) {
            const uint8_t *panel = panels + (size_t)p * panel_bytes;
            kernel(panel, blocks, xt, count, out);
            int32_t valid = rows - p * KVC_KPANEL_ROWS < KVC_KPANEL_ROWS ? rows - p * KVC_KPANEL_ROWS : KVC_KPANEL_ROWS;
            for (int32_t k = 0; k < count; k++) {
                float *yr = y + (size_t)(t + k) * (size_t)ldy + (size_t)p * KVC_KPANEL_ROWS;
                const float *o = out + KVC_KPANEL_ROWS * k;
                if (accumulate) {
                    for (int32_t r = 0; r < valid; r++) yr[r] += o[r];
                } else {
                    memcpy(yr, o, sizeof(float) * (size_t)valid);
                }
            }
        }
    }
#else
    (void)type, (void)panels, (void)rows, (void)columns, (void)panel_begin, (void)panel_end, (void)x;
    (void)token_begin, (void)token_end, (void)y, (void)ldy, (void)accumulate, (void)isa;
#endif
}
