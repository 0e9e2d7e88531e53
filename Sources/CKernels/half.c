// Bulk float32 ↔ half conversions (kvc_half.h) for the paged KV cache: F16C (8 lanes) on x86 CPUs of
// the AVX2 tier and above (kvc_isa_supported(KVC_ISA_AVX2) checks f16c), the scalar conversions of
// matrix.c on the portable path. Both round to nearest even, so the paths agree bit for bit.
#include "kvc_half.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#if defined(__x86_64__)
#define KVC_F16C __attribute__((target("avx,f16c")))

static KVC_F16C void floats_to_halves_f16c(const float *src, uint16_t *dst, int64_t count) {
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(dst + i), h);
    }
    for (; i < count; i++) dst[i] = kvc_float_to_half(src[i]);
}

static KVC_F16C void round_to_halves_f16c(float *x, int64_t count) {
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(h));
    }
    for (; i < count; i++) x[i] = kvc_half_to_float_inline(kvc_float_to_half(x[i]));
}

static KVC_F16C void halves_to_floats_f16c(const uint16_t *src, float *dst, int64_t count) {
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < count; i++) dst[i] = kvc_half_to_float_inline(src[i]);
}
#endif

void kvc_floats_to_halves(const float *src, uint16_t *dst, int64_t count, kvc_isa isa) {
#if defined(__x86_64__)
    if (isa != KVC_ISA_PORTABLE && kvc_isa_supported(KVC_ISA_AVX2)) {
        floats_to_halves_f16c(src, dst, count);
        return;
    }
#endif
    (void)isa;
    for (int64_t i = 0; i < count; i++) dst[i] = kvc_float_to_half(src[i]);
}

void kvc_halves_to_floats(const uint16_t *src, float *dst, int64_t count, kvc_isa isa) {
#if defined(__x86_64__)
    if (isa != KVC_ISA_PORTABLE && kvc_isa_supported(KVC_ISA_AVX2)) {
        halves_to_floats_f16c(src, dst, count);
        return;
    }
#endif
    (void)isa;
    for (int64_t i = 0; i < count; i++) dst[i] = kvc_half_to_float_inline(src[i]);
}

void kvc_round_to_halves(float *x, int64_t count, kvc_isa isa) {
#if defined(__x86_64__)
    if (isa != KVC_ISA_PORTABLE && kvc_isa_supported(KVC_ISA_AVX2)) {
        round_to_halves_f16c(x, count);
        return;
    }
#endif
    (void)isa;
    for (int64_t i = 0; i < count; i++) x[i] = kvc_half_to_float_inline(kvc_float_to_half(x[i]));
}
