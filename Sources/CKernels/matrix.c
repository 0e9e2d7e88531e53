// Allocation, packing and reading back of panel matrices; instruction-set selection; the
// dispatcher that runs the per-ISA panel kernels over a range of panels and tokens.
#include "internal.h"
#include <math.h>
#include <stdlib.h>

float kvc_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1F;
    uint32_t mantissa = h & 0x3FF;
    uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {
            // Subnormal half: normalise into a float exponent.
            int shift = 0;
            while ((mantissa & 0x400) == 0) {
                mantissa <<= 1;
                shift++;
            }
            mantissa &= 0x3FF;
            bits = sign | (uint32_t)(127 - 15 - shift + 1) << 23 | mantissa << 13;
        }
    } else if (exponent == 31) {
        bits = sign | 0x7F800000u | mantissa << 13;
    } else {
        bits = sign | (exponent + 127 - 15) << 23 | mantissa << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int kvc_qmatrix_init(kvc_qmatrix *m, int32_t rows, int32_t columns, int32_t bits, int32_t has_min, float zero_point) {
    memset(m, 0, sizeof *m);
    if (rows <= 0 || columns <= 0 || columns % KVC_BLOCK_COLUMNS != 0 || (bits != 4 && bits != 8)) return -1;
    m->rows = rows;
    m->columns = columns;
    m->panels = (rows + KVC_PANEL_ROWS - 1) / KVC_PANEL_ROWS;
    m->blocks = columns / KVC_BLOCK_COLUMNS;
    m->bits = bits;
    m->has_min = has_min ? 1 : 0;
    m->zero_point = zero_point;
    m->record_bytes = kvc_quant_bytes(bits) + 32 * (1 + m->has_min);
    size_t bytes = (size_t)m->panels * (size_t)m->blocks * (size_t)m->record_bytes;
    bytes = (bytes + 63) / 64 * 64;
    m->records = aligned_alloc(64, bytes);
    if (!m->records) return -2;
    memset(m->records, 0, bytes);
    return 0;
}

void kvc_qmatrix_free(kvc_qmatrix *m) {
    free(m->records);
    m->records = NULL;
}

/// Byte offset in a record of the quant of (row within panel i, column j of the block), and whether
/// it is the high nibble (4-bit only).
static inline size_t kvc_quant_offset(int bits, int i, int j, int *high) {
    if (bits == 4) {
        int c = j / 8, within = j % 8;
        *high = within >= 4;
        return (size_t)(64 * c + 4 * i + within % 4);
    }
    *high = 0;
    return (size_t)(64 * (j / 4) + 4 * i + j % 4);
}

void kvc_qmatrix_set_block(kvc_qmatrix *m, int32_t row, int32_t block, const uint8_t *u, uint16_t d, uint16_t min) {
    uint8_t *record = (uint8_t *)kvc_record(m, row / KVC_PANEL_ROWS, block);
    int i = row % KVC_PANEL_ROWS;
    for (int j = 0; j < KVC_BLOCK_COLUMNS; j++) {
        int high;
        size_t offset = kvc_quant_offset(m->bits, i, j, &high);
        if (m->bits == 4) {
            uint8_t nibble = u[j] & 0x0F;
            record[offset] = high ? (uint8_t)((record[offset] & 0x0F) | nibble << 4) : (uint8_t)((record[offset] & 0xF0) | nibble);
        } else {
            record[offset] = u[j];
        }
    }
    uint8_t *scales = record + kvc_quant_bytes(m->bits);
    memcpy(scales + 2 * i, &d, 2);
    if (m->has_min) memcpy(scales + 32 + 2 * i, &min, 2);
}

void kvc_qmatrix_get_block(const kvc_qmatrix *m, int32_t row, int32_t block, uint8_t *u, uint16_t *d, uint16_t *min) {
    const uint8_t *record = kvc_record(m, row / KVC_PANEL_ROWS, block);
    int i = row % KVC_PANEL_ROWS;
    for (int j = 0; j < KVC_BLOCK_COLUMNS; j++) {
        int high;
        size_t offset = kvc_quant_offset(m->bits, i, j, &high);
        u[j] = m->bits == 4 ? (uint8_t)(high ? record[offset] >> 4 : record[offset] & 0x0F) : record[offset];
    }
    const uint8_t *scales = record + kvc_quant_bytes(m->bits);
    memcpy(d, scales + 2 * i, 2);
    if (m->has_min) {
        memcpy(min, scales + 32 + 2 * i, 2);
    } else {
        *min = 0;
    }
}

void kvc_qmatrix_dequantize_row(const kvc_qmatrix *m, int32_t row, float *out) {
    uint8_t u[KVC_BLOCK_COLUMNS];
    for (int32_t b = 0; b < m->blocks; b++) {
        uint16_t dh, mh;
        kvc_qmatrix_get_block(m, row, b, u, &dh, &mh);
        float d = kvc_half_to_float(dh);
        float minimum = m->has_min ? kvc_half_to_float(mh) : d * -m->zero_point;
        for (int j = 0; j < KVC_BLOCK_COLUMNS; j++) out[b * KVC_BLOCK_COLUMNS + j] = d * (float)u[j] + minimum;
    }
}

// MARK: - Instruction sets

int kvc_isa_supported(kvc_isa isa) {
    switch (isa) {
    case KVC_ISA_PORTABLE: return 1;
#if defined(__x86_64__) || defined(__i386__)
    case KVC_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    case KVC_ISA_AVX512_VNNI:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
            && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")
            && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("fma");
#endif
    default: return 0;
    }
}

kvc_isa kvc_best_isa(void) {
    if (kvc_isa_supported(KVC_ISA_AVX512_VNNI)) return KVC_ISA_AVX512_VNNI;
    if (kvc_isa_supported(KVC_ISA_AVX2)) return KVC_ISA_AVX2;
    return KVC_ISA_PORTABLE;
}

/// An instruction set this CPU runs: the requested one, else the portable code.
static kvc_isa kvc_usable(kvc_isa isa) { return kvc_isa_supported(isa) ? isa : KVC_ISA_PORTABLE; }

// MARK: - Activations

void kvc_quantize_activations(
    const float *x, int32_t tokens, int32_t columns, int8_t *q, float *d, float *s, kvc_isa isa) {
    int32_t blocks = columns / KVC_BLOCK_COLUMNS;
    isa = kvc_usable(isa);
    for (int32_t t = 0; t < tokens; t++) {
        const float *xt = x + (size_t)t * (size_t)columns;
        int8_t *qt = q + (size_t)t * (size_t)columns;
        float *dt = d + (size_t)t * (size_t)blocks, *st = s + (size_t)t * (size_t)blocks;
        switch (isa) {
#if defined(__x86_64__)
        case KVC_ISA_AVX512_VNNI: kvc_quantize_avx512(xt, columns, qt, dt, st); break;
        case KVC_ISA_AVX2: kvc_quantize_avx2(xt, columns, qt, dt, st); break;
#endif
        default: kvc_quantize_portable(xt, columns, qt, dt, st); break;
        }
    }
}

uint16_t kvc_float_to_half(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
    uint32_t magnitude = bits & 0x7FFFFFFF;
    if (magnitude >= 0x7F800000) return (uint16_t)(sign | 0x7C00 | (magnitude > 0x7F800000 ? 0x200 : 0));  // inf, NaN
    if (magnitude >= 0x477FF000) return (uint16_t)(sign | 0x7C00);  // rounds past 65504: inf
    if (magnitude < 0x38800000) {
        // Subnormal half (or zero): the value in units of 2^-24, rounded to nearest even.
        if (magnitude < 0x33000000) return sign;  // below half the smallest subnormal
        uint32_t mantissa = (magnitude & 0x7FFFFF) | 0x800000;
        int shift = 126 - (int)(magnitude >> 23);  // 14 + (113 - exponent)
        uint32_t value = mantissa >> shift, rest = mantissa & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (value & 1))) value++;
        return (uint16_t)(sign | value);
    }
    uint32_t value = ((magnitude >> 13) - (112u << 10));  // rebias exponent 127 → 15
    uint32_t rest = magnitude & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (value & 1))) value++;
    return (uint16_t)(sign | value);
}

void kvc_quantize_activations_ggml(
    const float *x, int32_t tokens, int32_t columns, int8_t *q, float *d, float *s, kvc_activation_rounding rounding) {
    int32_t blocks = columns / KVC_BLOCK_COLUMNS;
    for (int64_t b = 0; b < (int64_t)tokens * blocks; b++) {
        const float *xb = x + b * KVC_BLOCK_COLUMNS;
        int8_t *qb = q + b * KVC_BLOCK_COLUMNS;
        float amax = 0;
        for (int j = 0; j < KVC_BLOCK_COLUMNS; j++) {
            float a = fabsf(xb[j]);
            amax = a > amax ? a : amax;
        }
        float scale = amax / 127.0f;
        float multiplier = amax != 0.0f ? 127.0f / amax : 0.0f;
        int32_t sum = 0;
        for (int j = 0; j < KVC_BLOCK_COLUMNS; j++) {
            // Round half to even (|v| ≤ 127: the 1.5·2^23 trick is exact), as _mm256_round_ps.
            float v = xb[j] * multiplier;
            float r = (v + 12582912.0f) - 12582912.0f;
            qb[j] = (int8_t)(int32_t)r;
            sum += (int32_t)r;
        }
        float rounded = kvc_half_to_float(kvc_float_to_half(scale));
        d[b] = rounded;
        s[b] = rounding == KVC_ROUNDING_Q8_1 ? kvc_half_to_float(kvc_float_to_half(scale * (float)sum))
                                             : rounded * (float)sum;
    }
}

// MARK: - Products

void kvc_qmatmul(
    const kvc_qmatrix *w, int32_t panel_begin, int32_t panel_end, int32_t token_begin, int32_t token_end,
    const int8_t *q, const float *d, const float *s, float *y, int64_t ldy, int32_t accumulate, kvc_isa isa) {
    kvc_panel_kernel kernel = kvc_panel_portable;
    int tile = KVC_TILE_PORTABLE;
    switch (kvc_usable(isa)) {
#if defined(__x86_64__)
    case KVC_ISA_AVX512_VNNI: kernel = kvc_panel_avx512; tile = KVC_TILE_AVX512; break;
    case KVC_ISA_AVX2: kernel = kvc_panel_avx2; tile = KVC_TILE_AVX2; break;
#endif
    default: break;
    }
    float out[KVC_TILE_AVX512 * KVC_PANEL_ROWS];
    size_t columns = (size_t)w->columns, blocks = (size_t)w->blocks;
    for (int32_t p = panel_begin; p < panel_end; p++) {
        int32_t first = p * KVC_PANEL_ROWS;
        int32_t live = w->rows - first < KVC_PANEL_ROWS ? w->rows - first : KVC_PANEL_ROWS;
        for (int32_t t = token_begin; t < token_end; t += tile) {
            int32_t count = token_end - t < tile ? token_end - t : tile;
            kernel(w, p, q + (size_t)t * columns, d + (size_t)t * blocks, s + (size_t)t * blocks, count, out);
            for (int32_t k = 0; k < count; k++) {
                float *row = y + (size_t)(t + k) * (size_t)ldy + first;
                const float *o = out + k * KVC_PANEL_ROWS;
                if (accumulate) {
                    for (int32_t i = 0; i < live; i++) row[i] += o[i];
                } else {
                    for (int32_t i = 0; i < live; i++) row[i] = o[i];
                }
            }
        }
    }
}
