// The prefill importance metric of KV-Compress (paper §3.1) for ONE sequence and ONE layer, as
// Sources/KVCompress/Mechanism/MetricCollector.swift applies Plugins/EvictionPolicies/AttentionMetric
// to a prefill observation: the last w prompt queries attend over the head's cached keys (causal by
// token position); each query head of the GQA group scores every key with Σ_window p (L1) or p² (L2),
// skipping keys closer than `buffer` positions before the query (KeyMask); each query head's row is
// max-pooled over the head's KVs in token-position order (kernel k, padding k/2, -∞ padding as
// torch's max_pool1d); the pooled rows of the group are summed and ADDED to each slot's metric.
// Four kernels, launched in this order by the Swift launcher (Attention/GPUAttentionKernels.swift):
//   kvc_window_softmax_stats → kvc_window_metric → kvc_position_order → kvc_max_pool_metric.
// Compiled at run time by NVRTC: plain C++ with extern "C" entry points, float32 math; its one include,
// the project's kv_elements.cuh, is inlined by KernelSources before NVRTC sees it. The two kernels
// that read keys exist once per KV type from one template body: kvc_window_softmax_stats_f32 / _f16
// and kvc_window_metric_f32 / _f16.
//
// Shared arguments (the layer's and sequence's slice of the device tables):
//   queries: [window, qHeads, headDim] (after RoPE)   queryPositions: [window] int32
//   blockTables: [kvHeads, maxBlocks]   contextLengths: [kvHeads]
//   keyPool: [capacityBlocks, blockSize, headDim] elements of the KV type   positionPool, metricPool: [capacityBlocks, blockSize]
// qHeads = kvHeads * group; query head q reads KV head q / group.

#define KVC_WARP 32
#define KVC_NEGATIVE_INFINITY __int_as_float(0xff800000)

// KV element types (float32 or half bits) and their conversions, shared with the other kernels.
#include "kv_elements.cuh"

static __device__ __forceinline__ long long kvc_metric_slot(const int* blockTable, int index, int blockSize) {
    return (long long)blockTable[index / blockSize] * blockSize + index % blockSize;
}

// q · k of a float query and a key of the pool's type.
template <typename T> static __device__ __forceinline__ float kvc_metric_dot(const float* a, const T* b, int count) {
    float dot = 0.0f;
    for (int x = 0; x < count; x++) dot += a[x] * kvc_element<T>::widen(b[x]);
    return dot;
}

// The same dot product with 4-element loads when `count` is a multiple of 4 (`a` then 16-byte aligned,
// `b` aligned for kvc_load4: the query in shared memory, a key in a pool of rows of `count` elements).
template <typename T>
static __device__ __forceinline__ float kvc_metric_dot_aligned(const float* a, const T* b, int count) {
    if ((count & 3) != 0) return kvc_metric_dot(a, b, count);
    const float4* a4 = (const float4*)a;
    float dot = 0.0f;
#pragma unroll 8
    for (int c = 0; c < count / 4; c++) {
        const float4 x = a4[c], y = kvc_load4(b, c);
        dot += x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w;
    }
    return dot;
}

// Block-wide reductions through `scratch` (at least blockDim.x / 32 floats; a different array for
// consecutive reductions, so no write of one can meet a read of the other); every thread gets the result.
static __device__ float kvc_block_max(float value, float* scratch) {
    for (int offset = KVC_WARP / 2; offset > 0; offset /= 2) value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
    const int lane = threadIdx.x % KVC_WARP, warp = threadIdx.x / KVC_WARP, warps = (blockDim.x + KVC_WARP - 1) / KVC_WARP;
    if (lane == 0) scratch[warp] = value;
    __syncthreads();
    float result = KVC_NEGATIVE_INFINITY;
    for (int w = 0; w < warps; w++) result = fmaxf(result, scratch[w]);
    __syncthreads();
    return result;
}

static __device__ float kvc_block_sum(float value, float* scratch) {
    for (int offset = KVC_WARP / 2; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
    const int lane = threadIdx.x % KVC_WARP, warp = threadIdx.x / KVC_WARP, warps = (blockDim.x + KVC_WARP - 1) / KVC_WARP;
    if (lane == 0) scratch[warp] = value;
    __syncthreads();
    float result = 0.0f;
    for (int w = 0; w < warps; w++) result += scratch[w];
    __syncthreads();
    return result;
}

// Softmax statistics of each (window query, query head) row over the keys it sees (keyPosition ≤
// queryPosition): stats[(queryHead * window + w) * 2] = max of scale · q · k, [... + 1] = Σ exp(s − max)
// (accumulated online: Σ_threads Σ_thread's keys exp(s − m_thread) · exp(m_thread − max)).
// A row that sees no key gets (−∞, 0) and scores nothing.
// Grid: (window, qHeads); block: a multiple of 32 threads, at most 1024. Dynamic shared memory:
// headDim rounded up to a multiple of 4 floats.
template <typename T>
static __device__ __forceinline__ void kvc_window_softmax_stats_body(
    const float* __restrict__ queries, const int* __restrict__ queryPositions, const T* __restrict__ keyPool,
    const int* __restrict__ positionPool, const int* __restrict__ blockTables, const int* __restrict__ contextLengths,
    float* __restrict__ stats, int window, int kvHeads, int group, int headDim, int blockSize, int maxBlocks,
    float scale) {
    const int w = blockIdx.x, queryHead = blockIdx.y, kvHead = queryHead / group;
    const int qHeads = kvHeads * group;
    const int length = contextLengths[kvHead];
    const int queryPosition = queryPositions[w];
    const int* blockTable = blockTables + (long long)kvHead * maxBlocks;

    // The query alone in dynamic shared memory (padded to a multiple of 4 floats: the compiler reads it
    // with 16-byte loads); the reduction scratch in separate static arrays, so that no read of the
    // query can meet a scratch write (compute-sanitizer racecheck flagged the shared layout otherwise).
    extern __shared__ __align__(16) float query[];  // [headDim rounded up to a multiple of 4]
    __shared__ float maxScratch[KVC_WARP];
    __shared__ float sumScratch[KVC_WARP];
    for (int x = threadIdx.x; x < headDim; x += blockDim.x) query[x] = queries[((long long)w * qHeads + queryHead) * headDim + x];
    __syncthreads();

    // One pass per thread with a running (max, sum) pair (sum rescaled when the max grows), then the
    // pairs merged exactly over the block.
    float localMax = KVC_NEGATIVE_INFINITY, localSum = 0.0f;
    for (int i = threadIdx.x; i < length; i += blockDim.x) {
        const long long slot = kvc_metric_slot(blockTable, i, blockSize);
        if (positionPool[slot] > queryPosition) continue;
        const float score = scale * kvc_metric_dot_aligned(query, keyPool + slot * headDim, headDim);
        if (score > localMax) {
            localSum = localSum * expf(localMax - score) + 1.0f;
            localMax = score;
        } else {
            localSum += expf(score - localMax);
        }
    }
    const float rowMax = kvc_block_max(localMax, maxScratch);
    localSum = localMax == KVC_NEGATIVE_INFINITY ? 0.0f : localSum * expf(localMax - rowMax);
    const float rowSum = kvc_block_sum(localSum, sumScratch);
    if (threadIdx.x == 0) {
        stats[((long long)queryHead * window + w) * 2] = rowMax;
        stats[((long long)queryHead * window + w) * 2 + 1] = rowSum;
    }
}

// One entry point per KV type (the parameter list written once).
#define KVC_WINDOW_SOFTMAX_STATS(SUFFIX, T) \
    extern "C" __global__ void kvc_window_softmax_stats_##SUFFIX( \
        const float* __restrict__ queries, const int* __restrict__ queryPositions, const T* __restrict__ keyPool, \
        const int* __restrict__ positionPool, const int* __restrict__ blockTables, const int* __restrict__ contextLengths, \
        float* __restrict__ stats, int window, int kvHeads, int group, int headDim, int blockSize, int maxBlocks, \
        float scale) { \
        kvc_window_softmax_stats_body<T>( \
            queries, queryPositions, keyPool, positionPool, blockTables, contextLengths, stats, window, kvHeads, group, \
            headDim, blockSize, maxBlocks, scale); \
    }
KVC_WINDOW_SOFTMAX_STATS(f32, float)
KVC_WINDOW_SOFTMAX_STATS(f16, kvc_half)

// Raw (unpooled) scores: raw[queryHead, i] = Σ_w p_w(i) (metricMode 1, L1) or p_w(i)² (2, L2) over the
// window queries that see logical slot i and for which queryPosition − keyPosition ≥ buffer, with
// p = exp(s − max) · (1 / sum) — the order of AttentionMetric.score (queries in window order); s is
// computed exactly as kvc_window_softmax_stats computes it.
//   stats: [qHeads, window, 2] from kvc_window_softmax_stats   raw: [qHeads, maxContext]
// Grid: (ceil(longest head / blockDim.x), kvHeads); one thread per logical slot.
template <typename T>
static __device__ __forceinline__ void kvc_window_metric_body(
    const float* __restrict__ queries, const int* __restrict__ queryPositions, const T* __restrict__ keyPool,
    const int* __restrict__ positionPool, const int* __restrict__ blockTables, const int* __restrict__ contextLengths,
    const float* __restrict__ stats, float* __restrict__ raw, int window, int kvHeads, int group, int headDim,
    int blockSize, int maxBlocks, float scale, int metricMode, int buffer) {
    const int kvHead = blockIdx.y;
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const int length = contextLengths[kvHead];
    if (i >= length) return;
    const int qHeads = kvHeads * group;
    const long long maxContext = (long long)maxBlocks * blockSize;
    const long long slot = kvc_metric_slot(blockTables + (long long)kvHead * maxBlocks, i, blockSize);
    const int keyPosition = positionPool[slot];
    const T* key = keyPool + slot * headDim;
    for (int j = 0; j < group; j++) {
        const int queryHead = kvHead * group + j;
        float total = 0.0f;
        for (int w = 0; w < window; w++) {
            const int queryPosition = queryPositions[w];
            if (keyPosition > queryPosition || queryPosition - keyPosition < buffer) continue;
            const float rowMax = stats[((long long)queryHead * window + w) * 2];
            const float rowSum = stats[((long long)queryHead * window + w) * 2 + 1];
            if (rowSum == 0.0f) continue;
            const float score =
                scale * kvc_metric_dot_aligned(queries + ((long long)w * qHeads + queryHead) * headDim, key, headDim);
            const float p = expf(score - rowMax) * (1.0f / rowSum);
            total += metricMode == 2 ? p * p : p;
        }
        raw[(long long)queryHead * maxContext + i] = total;
    }
}

// One entry point per KV type (the parameter list written once).
#define KVC_WINDOW_METRIC(SUFFIX, T) \
    extern "C" __global__ void kvc_window_metric_##SUFFIX( \
        const float* __restrict__ queries, const int* __restrict__ queryPositions, const T* __restrict__ keyPool, \
        const int* __restrict__ positionPool, const int* __restrict__ blockTables, const int* __restrict__ contextLengths, \
        const float* __restrict__ stats, float* __restrict__ raw, int window, int kvHeads, int group, int headDim, \
        int blockSize, int maxBlocks, float scale, int metricMode, int buffer) { \
        kvc_window_metric_body<T>( \
            queries, queryPositions, keyPool, positionPool, blockTables, contextLengths, stats, raw, window, kvHeads, \
            group, headDim, blockSize, maxBlocks, scale, metricMode, buffer); \
    }
KVC_WINDOW_METRIC(f32, float)
KVC_WINDOW_METRIC(f16, kvc_half)

// Token-position order of each head's KVs, for the max-pool: unordered[kvHead] = 1 when some slot's
// position is lower than its predecessor's (slots moved by a compression), and then
// order[kvHead, rank] = logical index of the KV of that rank, ranks counted (stable for equal
// positions, as a stable sort); 0 when the slots are in position order (a fresh prefill: rank = index).
//   unordered: [kvHeads] int32   order: [kvHeads, maxContext] int32
// Grid: (kvHeads); block: any width.
extern "C" __global__ void kvc_position_order(
    const int* __restrict__ positionPool, const int* __restrict__ blockTables, const int* __restrict__ contextLengths,
    int* __restrict__ unorderedFlags, int* __restrict__ orderScratch, int kvHeads, int blockSize, int maxBlocks) {
    const int kvHead = blockIdx.x;
    const int length = contextLengths[kvHead];
    const long long maxContext = (long long)maxBlocks * blockSize;
    const int* blockTable = blockTables + (long long)kvHead * maxBlocks;
    int* order = orderScratch + (long long)kvHead * maxContext;

    int unordered = 0;
    for (int i = threadIdx.x + 1; i < length; i += blockDim.x) {
        if (positionPool[kvc_metric_slot(blockTable, i, blockSize)] < positionPool[kvc_metric_slot(blockTable, i - 1, blockSize)]) unordered = 1;
    }
    unordered = __syncthreads_or(unordered);
    if (threadIdx.x == 0) unorderedFlags[kvHead] = unordered;
    if (!unordered) return;
    for (int i = threadIdx.x; i < length; i += blockDim.x) {
        const int position = positionPool[kvc_metric_slot(blockTable, i, blockSize)];
        int rank = 0;
        for (int k = 0; k < length; k++) {
            const int other = positionPool[kvc_metric_slot(blockTable, k, blockSize)];
            if (other < position || (other == position && k < i)) rank++;
        }
        order[rank] = i;
    }
}

// Max-pool of each query head's raw row over the head's KVs in token-position order (window
// [r − kernel/2, r + (kernel−1)/2] of ranks, clipped at the ends; kernel ≤ 1: no pooling), then the
// group's pooled rows summed into one score per KV and added to its metric slot. One thread per rank;
// the order comes from kvc_position_order.
// Grid: (ceil(maxContext / blockDim.x), kvHeads).
extern "C" __global__ void kvc_max_pool_metric(
    const float* __restrict__ raw, const int* __restrict__ blockTables, const int* __restrict__ contextLengths,
    float* __restrict__ metricPool, const int* __restrict__ unorderedFlags, const int* __restrict__ orderScratch,
    int kvHeads, int group, int blockSize, int maxBlocks, int poolKernel) {
    const int kvHead = blockIdx.y;
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    const int length = contextLengths[kvHead];
    if (r >= length) return;
    const long long maxContext = (long long)maxBlocks * blockSize;
    const int* blockTable = blockTables + (long long)kvHead * maxBlocks;
    const int* order = orderScratch + (long long)kvHead * maxContext;
    const bool unordered = unorderedFlags[kvHead] != 0;

    const int left = poolKernel / 2, right = (poolKernel - 1) / 2;
    const int i = unordered ? order[r] : r;
    float sum = 0.0f;
    for (int j = 0; j < group; j++) {
        const float* row = raw + ((long long)kvHead * group + j) * maxContext;
        float pooled;
        if (poolKernel > 1) {
            pooled = KVC_NEGATIVE_INFINITY;
            const int last = min(length - 1, r + right);
            for (int n = max(0, r - left); n <= last; n++) pooled = fmaxf(pooled, row[unordered ? order[n] : n]);
        } else {
            pooled = row[i];
        }
        sum += pooled;
    }
    metricPool[kvc_metric_slot(blockTable, i, blockSize)] += sum;
}
