// Layout of a panel record and the per-instruction-set kernels behind kvc_qmatmul.
//
// Record of (panel p, block b), at records + (p * blocks + b) * record_bytes:
//   4-bit: 256 bytes of quants in 4 chunks of 64. Byte 64c + 4i + j holds, for row i of the panel,
//          u[8c + j] in its low nibble and u[8c + 4 + j] in its high nibble (j = 0..3). So one chunk
//          unpacks into two registers of 16 rows × 4 consecutive columns: columns 8c..8c+3 and
//          8c+4..8c+7 — the operand shape of vpdpbusd.
//   8-bit: 512 bytes of quants in 8 chunks of 64. Byte 64c + 4i + j = u[4c + j] of row i.
//   then 16 half-float scales d (one per row), then, with has_min, 16 half-float minimums.
#ifndef KVC_QUANT_INTERNAL_H
#define KVC_QUANT_INTERNAL_H

#include "kvc_quant.h"
#include <stddef.h>
#include <string.h>

static inline int kvc_quant_bytes(int bits) { return bits == 4 ? 256 : 512; }

static inline const uint8_t *kvc_record(const kvc_qmatrix *m, int32_t panel, int32_t block) {
    return m->records + ((size_t)panel * (size_t)m->blocks + (size_t)block) * (size_t)m->record_bytes;
}

static inline int32_t kvc_load_i32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/// One panel × a run of tokens: out[t * 16 + i] = result of row i of the panel for token t.
/// Kernels share this signature; `count` ≤ their tile width is handled by kvc_qmatmul.
typedef void (*kvc_panel_kernel)(
    const kvc_qmatrix *w, int32_t panel, const int8_t *q, const float *d, const float *s, int32_t count, float *out);

void kvc_panel_portable(
    const kvc_qmatrix *w, int32_t panel, const int8_t *q, const float *d, const float *s, int32_t count, float *out);
void kvc_panel_avx2(
    const kvc_qmatrix *w, int32_t panel, const int8_t *q, const float *d, const float *s, int32_t count, float *out);
void kvc_panel_avx512(
    const kvc_qmatrix *w, int32_t panel, const int8_t *q, const float *d, const float *s, int32_t count, float *out);

/// How far ahead of the record in use the kernels prefetch weights.
#define KVC_PREFETCH_BYTES 4096

/// Tokens each kernel handles per call (its register tile).
enum { KVC_TILE_PORTABLE = 4, KVC_TILE_AVX2 = 4, KVC_TILE_AVX512 = 8 };

void kvc_quantize_portable(const float *x, int32_t columns, int8_t *q, float *d, float *s);
void kvc_quantize_avx2(const float *x, int32_t columns, int8_t *q, float *d, float *s);
void kvc_quantize_avx512(const float *x, int32_t columns, int8_t *q, float *d, float *s);

#endif
