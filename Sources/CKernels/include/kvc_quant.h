// Quantized matrix products for the forward pass: int8 activations × 4/8-bit weight blocks.
//
// A weight matrix [rows, columns] is stored in panels of 16 rows. Every panel holds one record per
// 32-column block; a record holds the 16 rows' unsigned quants u (4 or 8 bits), their scales d and
// (optionally) minimums m as IEEE half floats, so that weight = d·u + m. That form covers ggml's
// Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 blocks exactly (Q*_0: m = −zero_point·d) and any other weights
// after 8-bit requantization.
//
// Activations are quantized per 32-block of a row the way llama.cpp quantizes to Q8_0/Q8_1:
// d = max|x| / 127, q = round(x · (1/d)) (half away from zero), s = d · Σq (d and s kept in float32,
// where llama.cpp rounds them to half). A block's dot product is then
//   Σ w·x ≈ d_w·d_x·Σ u·q + m_w·s_x
// computed with integer dot products; every path (AVX-512 VNNI, AVX2, portable C) performs the same
// float operations in the same order, so all paths give bit-identical results, and a token's result
// never depends on which other tokens share the call.
#ifndef KVC_QUANT_H
#define KVC_QUANT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Rows per panel: one 512-bit register holds 4 quants of each of 16 rows.
#define KVC_PANEL_ROWS 16
/// Columns per block (ggml's QK).
#define KVC_BLOCK_COLUMNS 32

typedef struct kvc_qmatrix {
    int32_t rows;
    int32_t columns;
    int32_t panels;        // ceil(rows / 16)
    int32_t blocks;        // columns / 32
    int32_t bits;          // 4 or 8
    int32_t has_min;       // 1: per-block minimum stored; 0: m = -zero_point * d
    float zero_point;      // used when has_min == 0 (8 for Q4_0, 16 for Q5_0, 128 for Q8_0)
    int32_t record_bytes;  // bytes of one (panel, block) record
    uint8_t *records;      // panels * blocks records, 64-byte aligned
} kvc_qmatrix;

/// Instruction sets of the matrix kernels.
typedef enum kvc_isa {
    KVC_ISA_PORTABLE = 0,
    KVC_ISA_AVX2 = 1,
    KVC_ISA_AVX512_VNNI = 2,
} kvc_isa;

/// The fastest instruction set this CPU supports.
kvc_isa kvc_best_isa(void);
/// Whether this CPU can run `isa`.
int kvc_isa_supported(kvc_isa isa);

/// Allocates a zeroed matrix. Returns 0, or -1 for invalid arguments (columns not a multiple of 32,
/// bits not 4 or 8, non-positive sizes), or -2 when memory runs out.
int kvc_qmatrix_init(kvc_qmatrix *m, int32_t rows, int32_t columns, int32_t bits, int32_t has_min, float zero_point);
void kvc_qmatrix_free(kvc_qmatrix *m);

/// Stores block `block` of row `row`: quants u[32] (each < 2^bits), scale and minimum as half-float
/// bit patterns (the minimum is ignored without has_min).
void kvc_qmatrix_set_block(kvc_qmatrix *m, int32_t row, int32_t block, const uint8_t *u, uint16_t d, uint16_t min);
/// Reads block `block` of row `row` back.
void kvc_qmatrix_get_block(const kvc_qmatrix *m, int32_t row, int32_t block, uint8_t *u, uint16_t *d, uint16_t *min);
/// out[c] = d·u + m for every column c of `row` (float32, one rounding).
void kvc_qmatrix_dequantize_row(const kvc_qmatrix *m, int32_t row, float *out);

/// Quantizes rows of activations. x: [tokens, columns] (row stride `columns`); q: [tokens, columns];
/// d, s: [tokens, columns / 32].
void kvc_quantize_activations(
    const float *x, int32_t tokens, int32_t columns, int8_t *q, float *d, float *s, kvc_isa isa);

/// How kvc_quantize_activations_ggml rounds: as llama.cpp quantizes activations for weights
/// without a stored minimum (Q4_0, Q5_0, Q8_0 × Q8_0) or with one (Q4_1, Q5_1 × Q8_1).
typedef enum kvc_activation_rounding {
    KVC_ROUNDING_Q8_0 = 0,
    KVC_ROUNDING_Q8_1 = 1,
} kvc_activation_rounding;

/// Quantizes rows of activations with llama.cpp's rounding (ggml-cpu/arch/x86/quants.c
/// quantize_row_q8_0 / quantize_row_q8_1, the AVX path its x86 builds run), for the same layout as
/// kvc_quantize_activations: per 32-block, d = half(amax/127) (kept as the float the half
/// rounds to), q = round-half-even(x · (127/amax)); s = d·Σq (exact in float) for Q8_0, or
/// half((amax/127)·Σq) for Q8_1 (llama.cpp's block_q8_1.s). Portable C; the products are the
/// kernels' usual d_w·d_x·Σu·q + m_w·s_x, which then equal llama.cpp's up to float summation order.
void kvc_quantize_activations_ggml(
    const float *x, int32_t tokens, int32_t columns, int8_t *q, float *d, float *s, kvc_activation_rounding rounding);

/// Float to the nearest half float (ties to even), as bits; ±inf beyond the half range.
uint16_t kvc_float_to_half(float f);

/// y[t, r] (+)= Σ_c W[r, c]·x[t, c] for rows r of panels [panel_begin, panel_end) and tokens
/// [token_begin, token_end), from activations quantized by kvc_quantize_activations (q, d, s of
/// all tokens). y: [tokens, ldy]; rows past the matrix's last row are not written.
void kvc_qmatmul(
    const kvc_qmatrix *w, int32_t panel_begin, int32_t panel_end, int32_t token_begin, int32_t token_end,
    const int8_t *q, const float *d, const float *s, float *y, int64_t ldy, int32_t accumulate, kvc_isa isa);

/// Half-float bits to float (exact), as the kernels read scales.
float kvc_half_to_float(uint16_t h);

#ifdef __cplusplus
}
#endif

#endif
