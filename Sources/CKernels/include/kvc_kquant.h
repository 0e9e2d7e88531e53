// Products of ggml K-quant weight rows (Q4_K, Q6_K) with activations quantized to Q8_K, in the
// arithmetic of llama.cpp's CPU backend (ggml-cpu: vec_dot_type of Q4_K and Q6_K is Q8_K;
// ggml_vec_dot_q4_K_q8_K / ggml_vec_dot_q6_K_q8_K in ggml-cpu/arch/x86/quants.c).
//
// Weights stay in the file's blocks (ggml-common.h block_q4_K / block_q6_K), row after row, so a
// 256-column super-block is read once per token tile and never dequantized to float32.
//
// Per (row, token) and super-block, every path (AVX-512, AVX2, portable C) computes the same exact
// integer sums and then, in this order, the same float operations:
//   Q4_K: sumi = Σ_s sc_s·Σ_{e∈s} u_e·q_e,  summ = Σ_s m_s·Σ_{e∈s} q_e   (s: 8 sub-blocks of 32)
//         acc += (d·d_x)·sumi;  acc −= (dmin·d_x)·summ
//   Q6_K: sumi = Σ_s sc_s·Σ_{e∈s} (u_e − 32)·q_e                         (s: 16 sub-blocks of 16)
//         acc += (d·d_x)·sumi
// so all paths give bit-identical results (they differ from llama.cpp only in the order of the
// float additions across super-blocks).
#ifndef KVC_KQUANT_H
#define KVC_KQUANT_H

#include "kvc_quant.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Elements of a K-quant super-block (ggml's QK_K).
#define KVC_KQUANT_BLOCK 256

/// The K-quant weight types, with their ggml type ids.
typedef enum kvc_kquant_type {
    KVC_KQUANT_Q4_K = 12,  // 144 bytes: d, dmin (f16); scales[12] (8 6-bit scale/min pairs); qs[128]
    KVC_KQUANT_Q6_K = 14,  // 210 bytes: ql[128]; qh[64]; int8 scales[16]; d (f16)
} kvc_kquant_type;

/// Bytes of one super-block of `type` (0 for an unknown type).
int32_t kvc_kquant_block_bytes(kvc_kquant_type type);

/// 256 activations quantized as ggml's block_q8_K: x ≈ d·q, with 16 sums of 16 quants each.
typedef struct kvc_q8k_block {
    float d;
    int8_t q[KVC_KQUANT_BLOCK];
    int16_t sums[KVC_KQUANT_BLOCK / 16];
} kvc_q8k_block;

/// Quantizes `tokens` rows of `columns` activations (a multiple of 256; row stride `columns`) to
/// `columns / 256` blocks per token, as ggml-quants.c quantize_row_q8_K_ref (which llama.cpp also
/// runs on x86): the value of largest magnitude `max` sets iscale = −127/max, q = min(127,
/// round-half-even(iscale·x)), d = 1/iscale; an all-zero block has d = 0.
void kvc_quantize_q8k(const float *x, int32_t tokens, int32_t columns, kvc_q8k_block *y);

/// y[t, r] (+)= Σ_c W[r, c]·x[t, c] for rows [row_begin, row_end) and tokens [token_begin,
/// token_end), by the portable row kernels (the definition; the SIMD paths are the panels below).
/// w: `rows` rows of `columns / 256` super-blocks of `type`, row after row; x: the Q8_K blocks of
/// all tokens (`columns / 256` per token); y: [tokens, ldy].
void kvc_kquant_matmul(
    kvc_kquant_type type, const uint8_t *w, int32_t columns, int32_t row_begin, int32_t row_end,
    const kvc_q8k_block *x, int32_t token_begin, int32_t token_end, float *y, int64_t ldy, int32_t accumulate);

// MARK: - Row panels (AVX-512 VNNI, AVX2)
//
// The same products from a copy of the weights repacked at load into panels of 16 rows, so that
// one zmm register holds 16 rows × 4 columns and vpdpbusd multiplies them with 4 broadcast
// activation bytes of a token (as the Q4_1 / Q8_0 panels of kvc_quant.h), up to 8 tokens sharing
// every weight register; AVX2 reads each panel as two halves of 8 rows (vpmaddubsw, vpmaddwd). Per (panel, super-block) a record holds, for its 16 rows:
//   Q4_K: quants, 32 groups of 8 columns × 64 bytes (byte 4·row + i: column 8g + i in the low
//         nibble, 8g + 4 + i in the high); scales sc_s [8][16] u8; minimum pairs [4][16] of int16
//         (m_2k, m_2k+1); d [16] and dmin [16] as half floats.
//   Q6_K: quants u (0…63), 64 groups of 4 columns × 64 bytes (byte 4·row + i: column 4g + i);
//         scales sc_s [16][16] int8; scale pairs [8][16] of int16 (sc_2k, sc_2k+1); d [16] half.
// Rows past the matrix's last row are zero. The integer sums and the float steps per (row, token)
// are those above, so the results are bit-identical to kvc_kquant_matmul's.

/// 16: rows per panel.
#define KVC_KPANEL_ROWS 16

/// Bytes of one (panel, super-block) record of `type` (a multiple of 64; 0 for an unknown type).
int32_t kvc_kpanel_record_bytes(kvc_kquant_type type);

/// Bytes of the panels of a `rows` × `columns` matrix: ceil(rows / 16) · columns / 256 records.
int64_t kvc_kpanel_bytes(kvc_kquant_type type, int32_t rows, int32_t columns);

/// Repacks the row-major super-blocks `w` (as kvc_kquant_matmul reads them) into `panels`
/// (kvc_kpanel_bytes of them, records panel after panel, super-blocks in order within a panel).
void kvc_kpanel_pack(kvc_kquant_type type, const uint8_t *w, int32_t rows, int32_t columns, uint8_t *panels);

/// Whether kvc_kpanel_matmul has kernels for `isa` and this CPU runs them (AVX2, AVX-512 VNNI).
int kvc_kpanel_supported(kvc_isa isa);

/// y[t, r] (+)= Σ_c W[r, c]·x[t, c] for the rows of panels [panel_begin, panel_end) below `rows`
/// and tokens [token_begin, token_end); arguments as kvc_kquant_matmul. Needs kvc_kpanel_supported(isa).
void kvc_kpanel_matmul(
    kvc_kquant_type type, const uint8_t *panels, int32_t rows, int32_t columns, int32_t panel_begin,
    int32_t panel_end, const kvc_q8k_block *x, int32_t token_begin, int32_t token_end, float *y, int64_t ldy,
    int32_t accumulate, kvc_isa isa);

/// out[c] = W[row, c] (float32, ggml's dequantize_row_q4_K / _q6_K), for embeddings and tests.
void kvc_kquant_dequantize_row(kvc_kquant_type type, const uint8_t *w, int32_t columns, int32_t row, float *out);

#ifdef __cplusplus
}
#endif

#endif
