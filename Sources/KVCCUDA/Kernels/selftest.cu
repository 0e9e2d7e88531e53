// Kernels of the host layer's own checks (Tests/KVCCUDATests/HostGPUTests.swift): one launch passes
// every KernelArgument kind (pointer, int, long long, float), so a wrong argument encoding shows up as
// a wrong result rather than inside a real kernel.

// out[i] = scale * x[i] + y[i] + offset for i < count.
// out, x, y: [count] float32
extern "C" __global__ void kvc_selftest_axpy(
    float *out, const float *x, const float *y, int count, long long offset, float scale) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) out[i] = scale * x[i] + y[i] + (float)offset;
}

// Sum of `values` by one block: a warp reduction with __shfl_xor_sync, then across warps through
// shared memory (dynamic, blockDim.x / 32 floats). Checks dynamic shared memory and warp shuffles.
// values: [count] float32; sum: [1] float32
extern "C" __global__ void kvc_selftest_block_sum(const float *values, int count, float *sum) {
    extern __shared__ float warpSums[];
    float partial = 0.0f;
    for (int i = threadIdx.x; i < count; i += blockDim.x) partial += values[i];
    for (int lane = 16; lane > 0; lane /= 2) partial += __shfl_xor_sync(0xffffffffu, partial, lane);
    const int warp = threadIdx.x / 32;
    if (threadIdx.x % 32 == 0) warpSums[warp] = partial;
    __syncthreads();
    if (threadIdx.x == 0) {
        float total = 0.0f;
        for (int w = 0; w < (int)(blockDim.x / 32); ++w) total += warpSums[w];
        *sum = total;
    }
}
