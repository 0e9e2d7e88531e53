// Element types of the paged KV cache and bulk conversions between float32 and IEEE half floats.
//
// Float to half rounds to nearest, ties to even (as llama.cpp's fp32 → fp16 and F16C's vcvtps2ph with
// _MM_FROUND_TO_NEAREST_INT): relative error at most 2^-11 for normal halves (|x| ≥ 2^-14), absolute
// error at most 2^-25 below, ±inf from 65520 up (the first value that rounds past 65504), NaN stays
// NaN. Half to float is exact. Every path (F16C, portable C) gives the same bits, except for the
// payload of a NaN (the portable path writes the canonical quiet NaN), so the instruction set never
// changes what the cache holds.
#ifndef KVC_HALF_H
#define KVC_HALF_H

#include "kvc_quant.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Element type of cached keys and values.
typedef enum kvc_kv_type {
    KVC_KV_F32 = 0,  // float32, 4 bytes
    KVC_KV_F16 = 1,  // IEEE binary16, 2 bytes
} kvc_kv_type;

/// Bytes of one element of `type`.
static inline int32_t kvc_kv_type_size(kvc_kv_type type) { return type == KVC_KV_F16 ? 2 : 4; }

/// Half → float, exact for every half, without branches or a table, so that the portable kernels can
/// widen K and V inline (a call per element made them 8× slower than float32). With the half's bits
/// shifted to the top of a word, minus the sign: for a normal half, its 5 exponent and 10 mantissa
/// bits land in a float's fields and the float's exponent is rebased from 15 to 127 by adding 224 and
/// multiplying by 2^-112 (an exponent of 31 becomes 255 and stays infinity or NaN); for a subnormal
/// half (exponent 0) the mantissa m is placed under the exponent of 0.5, giving 0.5 + m·2^-24, and 0.5
/// is subtracted: m·2^-24 exactly.
static inline float kvc_half_to_float_inline(uint16_t h) {
    const uint32_t shifted = (uint32_t)h << 17;  // exponent at bits 31..27, mantissa at 26..17
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    union { uint32_t u; float f; } normal, subnormal, result;
    normal.u = (shifted >> 4) + (224u << 23);
    normal.f *= 0x1.0p-112f;
    subnormal.u = (shifted >> 17) | (126u << 23);
    subnormal.f -= 0.5f;
    result.u = sign | (shifted < (1u << 27) ? subnormal.u : normal.u);
    return result.f;
}

/// dst[i] = half(src[i]) for i < count, rounded to nearest even. src: [count]; dst: [count].
void kvc_floats_to_halves(const float *src, uint16_t *dst, int64_t count, kvc_isa isa);

/// dst[i] = float(src[i]) for i < count (exact). src: [count]; dst: [count].
void kvc_halves_to_floats(const uint16_t *src, float *dst, int64_t count, kvc_isa isa);

/// x[i] = float(half(x[i])) in place for i < count: the value a float16 operand of a product carries
/// (llama.cpp's CPU backend converts the float32 operand of a product with a float16 matrix to
/// float16 first). x: [count].
void kvc_round_to_halves(float *x, int64_t count, kvc_isa isa);

#ifdef __cplusplus
}
#endif

#endif
