// KV element types shared by the kernels that load or store keys and values (attention.cu,
// metric.cu). Included with `#include "kv_elements.cuh"`: KernelSources inlines it into the source
// before NVRTC sees it (NVRTC runs without headers; `#line` directives keep its messages pointing here),
// so both files hold one definition of the conversions and cannot drift apart.

// Keys and values are stored as float32 or as IEEE half floats (the host cache's KVStorageType); every
// kernel computes in float32, only loads and stores differ. NVRTC runs without headers (no
// cuda_fp16.h), so a half is its bits in an unsigned short and the conversions are single PTX
// instructions: cvt.f32.f16 widens exactly; cvt.rn.f16.f32 rounds to the nearest half, ties to even
// (overflow to ±inf, NaN stays NaN), the rounding of the host's kvc_floats_to_halves, so a KV appended
// on the device has the bits the CPU append would give it.
typedef unsigned short kvc_half;

// widen: the float an element holds (exact); narrow: the element nearest a float. Members of a class
// rather than free functions, so a file that only reads keys compiles without an unused-function
// warning for the narrowing.
template <typename T> struct kvc_element;
template <> struct kvc_element<float> {
    static __device__ __forceinline__ float widen(float x) { return x; }
    static __device__ __forceinline__ float narrow(float x) { return x; }
};
template <> struct kvc_element<kvc_half> {
    static __device__ __forceinline__ float widen(kvc_half x) {
        float f;
        asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x));
        return f;
    }
    static __device__ __forceinline__ kvc_half narrow(float x) {
        kvc_half h;
        asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(x));
        return h;
    }
};

// Elements 4·chunk ..< 4·chunk + 4 of a row as floats, in one load: 16 bytes of floats or 8 of halves
// (rows of headDim % 4 == 0 elements in a pool aligned to 16 bytes are aligned for either).
static __device__ __forceinline__ float4 kvc_load4(const float* row, int chunk) { return ((const float4*)row)[chunk]; }
static __device__ __forceinline__ float4 kvc_load4(const kvc_half* row, int chunk) {
    const uint2 bits = ((const uint2*)row)[chunk];  // little endian: the lower address in the low half
    float4 r;
    r.x = kvc_element<kvc_half>::widen((kvc_half)(bits.x & 0xffffu));
    r.y = kvc_element<kvc_half>::widen((kvc_half)(bits.x >> 16));
    r.z = kvc_element<kvc_half>::widen((kvc_half)(bits.y & 0xffffu));
    r.w = kvc_element<kvc_half>::widen((kvc_half)(bits.y >> 16));
    return r;
}
