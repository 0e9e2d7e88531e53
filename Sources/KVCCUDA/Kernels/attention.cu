// Paged attention kernels of the KV-Compress layout (paper §3; reference kernels: reshape-and-cache
// and paged attention v2 with per-(sequence, KV head) block tables). Compiled at run time by NVRTC:
// plain C++ with extern "C" entry points, float32 math throughout; its one include, the project's
// kv_elements.cuh, is inlined by KernelSources before NVRTC sees it.
//
// Pools (one buffer each, the layout of Sources/PagedKVCache):
//   keys, values: [capacityBlocks, blockSize, headDim] elements of the KV type    metrics: [capacityBlocks, blockSize]
//   positions:    [capacityBlocks, blockSize] int32
// Physical slot of logical index i of a head: blockTable[i / blockSize] * blockSize + i % blockSize.
// Launch shapes and scratch sizes are chosen by the Swift launchers (Attention/GPUAttentionKernels.swift).
// The kernels that touch keys or values exist once per KV type, generated from one template body:
// kvc_append_kv_f32 / _f16 and kvc_decode_attention_f32 / _f16 (float pools / pools of half bits).

// Largest GQA group (query heads per KV head) the register accumulators hold; the launcher refuses
// larger groups.
#define KVC_MAX_GROUP 16
#define KVC_WARP 32
// −∞ without math.h (NVRTC compiles with no headers).
#define KVC_NEGATIVE_INFINITY __int_as_float(0xff800000)

static __device__ __forceinline__ float kvc_warp_sum(float value) {
    for (int offset = KVC_WARP / 2; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
    return value;
}

static __device__ __forceinline__ float kvc_warp_max(float value) {
    for (int offset = KVC_WARP / 2; offset > 0; offset /= 2) value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
    return value;
}

// KV element types (float32 or half bits) and their conversions, shared with the other kernels.
#include "kv_elements.cuh"

static __device__ __forceinline__ long long kvc_slot(const int* blockTable, int index, int blockSize) {
    return (long long)blockTable[index / blockSize] * blockSize + index % blockSize;
}

// MARK: - Reshape and cache

// Writes the KVs of `count` new tokens into their slots: K, V (rounded to the pool's type), the token
// position, metric 0 (a new KV starts unscored, as PagedKVCache.append).
//   newKeys, newValues: [count, kvHeads, headDim] (keys after RoPE)   newPositions: [count]
//   slotMapping: [count, kvHeads] int64 physical slot per token and head; a negative slot is skipped.
// Grid: (count * kvHeads); block: any width, threads stride over headDim.
template <typename T>
static __device__ __forceinline__ void kvc_append_kv_body(
    const float* __restrict__ newKeys, const float* __restrict__ newValues, const int* __restrict__ newPositions,
    const long long* __restrict__ slotMapping, T* __restrict__ keyPool, T* __restrict__ valuePool,
    float* __restrict__ metricPool, int* __restrict__ positionPool, int count, int kvHeads, int headDim) {
    const long long item = blockIdx.x;  // token * kvHeads + head
    if (item >= (long long)count * kvHeads) return;
    const long long slot = slotMapping[item];
    if (slot < 0) return;
    const float* key = newKeys + item * headDim;
    const float* value = newValues + item * headDim;
    for (int x = threadIdx.x; x < headDim; x += blockDim.x) {
        keyPool[slot * headDim + x] = kvc_element<T>::narrow(key[x]);
        valuePool[slot * headDim + x] = kvc_element<T>::narrow(value[x]);
    }
    if (threadIdx.x == 0) {
        metricPool[slot] = 0.0f;
        positionPool[slot] = newPositions[item / kvHeads];
    }
}

// One entry point per KV type (the parameter list written once).
#define KVC_APPEND_KV(SUFFIX, T)                                                                                      \
    extern "C" __global__ void kvc_append_kv_##SUFFIX(                                                                \
        const float* __restrict__ newKeys, const float* __restrict__ newValues, const int* __restrict__ newPositions, \
        const long long* __restrict__ slotMapping, T* __restrict__ keyPool, T* __restrict__ valuePool,                \
        float* __restrict__ metricPool, int* __restrict__ positionPool, int count, int kvHeads, int headDim) {         \
        kvc_append_kv_body<T>(                                                                                        \
            newKeys, newValues, newPositions, slotMapping, keyPool, valuePool, metricPool, positionPool, count,       \
            kvHeads, headDim);                                                                                        \
    }
KVC_APPEND_KV(f32, float)
KVC_APPEND_KV(f16, kvc_half)

// MARK: - Decode attention (partitions, then their exact merge)

// Pass 1. One CUDA block per (partition of `partitionSize` logical slots, KV head, sequence) serving
// every query head of the KV head's GQA group, so each K and V is read once for the whole group
// (KV-Compress: no KV repetition). Writes for each query head of the group:
//   scores:        [seqs, qHeads, maxContext]   scale · q · k per logical slot (for the metric pass)
//   partialMax:    [seqs, qHeads, maxPartitions] the partition's largest score
//   partialSum:    [seqs, qHeads, maxPartitions] Σ exp(score − partialMax) over the partition
//   partialOutput: [seqs, qHeads, maxPartitions, headDim] Σ exp(score − partialMax) · v (unnormalised)
// Inputs: queries [seqs, qHeads, headDim] (after RoPE); the layer's blockTables [seqs, kvHeads,
// maxBlocks] and contextLengths [seqs, kvHeads]. maxContext = maxBlocks * blockSize.
// Keys and values are read 4 elements at a time when headDim % 4 == 0 (float4 of floats, 8 bytes of
// halves widened to a float4; pools are 16-byte aligned): `lanesPerKey`
// threads per key for the scores (the pass is memory-bound: many independent loads in flight), and
// (stripe, 4-dimension chunk) per thread for the values, stripes summed through shared memory.
// blockDim.x: a multiple of 32; lanesPerKey: a power of two ≤ 32.
// Grid: (maxPartitions, kvHeads, seqs); partitions past a head's length return at once.
// Dynamic shared memory (4-byte words): group*headDim + group*partitionSize + partitionSize (slots)
//   + stripes*group*headDim.
template <typename T>
static __device__ __forceinline__ void kvc_decode_attention_body(
    const float* __restrict__ queries, const T* __restrict__ keyPool, const T* __restrict__ valuePool,
    const int* __restrict__ blockTables, const int* __restrict__ contextLengths, float* __restrict__ scores,
    float* __restrict__ partialMax, float* __restrict__ partialSum, float* __restrict__ partialOutput,
    int kvHeads, int group, int headDim, int blockSize, int maxBlocks, int partitionSize, int maxPartitions,
    int stripes, int lanesPerKey, float scale) {
    const int partition = blockIdx.x, kvHead = blockIdx.y, sequence = blockIdx.z;
    const int length = contextLengths[sequence * kvHeads + kvHead];
    const int start = partition * partitionSize;
    if (start >= length) return;
    const int count = min(partitionSize, length - start);
    const int qHeads = kvHeads * group;
    const long long maxContext = (long long)maxBlocks * blockSize;
    const int* blockTable = blockTables + ((long long)sequence * kvHeads + kvHead) * maxBlocks;
    const bool vectorised = (headDim & 3) == 0;

    // Named apart from the other kernels' `shared`: this declaration sits in a static template, and one
    // name with two linkages draws NVRTC warning 1556. All name the same dynamic shared memory.
    extern __shared__ float decodeShared[];
    float* groupQueries = decodeShared;                            // [group, headDim]
    float* weights = groupQueries + group * headDim;               // [group, partitionSize]
    int* slots = (int*)(weights + group * partitionSize);          // [partitionSize]
    float* stripeSums = (float*)(slots + partitionSize);           // [stripes, group, headDim]

    const int firstQueryHead = kvHead * group;
    for (int e = threadIdx.x; e < group * headDim; e += blockDim.x) {
        groupQueries[e] = queries[((long long)sequence * qHeads + firstQueryHead) * headDim + e];
    }
    for (int i = threadIdx.x; i < count; i += blockDim.x) slots[i] = (int)kvc_slot(blockTable, start + i, blockSize);
    __syncthreads();

    // Scores: `lanesPerKey` lanes per key (a power of two ≤ 32) split its dimensions, every query of the
    // group from one read of the key; partial dots meet through warp shuffles. The loop runs the same
    // number of passes in every thread, so all lanes take part in each shuffle.
    const int part = threadIdx.x % lanesPerKey, keysPerPass = blockDim.x / lanesPerKey;
    for (int base = 0; base < count; base += keysPerPass) {
        const int i = base + threadIdx.x / lanesPerKey;
        const bool valid = i < count;
        float dot[KVC_MAX_GROUP];
#pragma unroll
        for (int j = 0; j < KVC_MAX_GROUP; j++) dot[j] = 0.0f;
        if (valid) {
            const T* key = keyPool + (long long)slots[i] * headDim;
            if (vectorised) {
#pragma unroll 8
                for (int c = part; c < headDim / 4; c += lanesPerKey) {
                    const float4 k = kvc_load4(key, c);
#pragma unroll
                    for (int j = 0; j < KVC_MAX_GROUP; j++) {
                        if (j < group) {
                            const float4 q = ((const float4*)(groupQueries + j * headDim))[c];
                            dot[j] += q.x * k.x + q.y * k.y + q.z * k.z + q.w * k.w;
                        }
                    }
                }
            } else {
                for (int x = part; x < headDim; x += lanesPerKey) {
                    const float k = kvc_element<T>::widen(key[x]);
#pragma unroll
                    for (int j = 0; j < KVC_MAX_GROUP; j++) {
                        if (j < group) dot[j] += groupQueries[j * headDim + x] * k;
                    }
                }
            }
        }
#pragma unroll
        for (int j = 0; j < KVC_MAX_GROUP; j++) {
            if (j < group) {
                float total = dot[j];
                for (int offset = lanesPerKey / 2; offset > 0; offset /= 2) total += __shfl_xor_sync(0xffffffffu, total, offset);
                if (valid && part == 0) {
                    const float score = scale * total;
                    weights[j * partitionSize + i] = score;
                    scores[((long long)sequence * qHeads + firstQueryHead + j) * maxContext + start + i] = score;
                }
            }
        }
    }
    __syncthreads();

    // Partition-local softmax numerators: one warp per query head of the group.
    const int lane = threadIdx.x % KVC_WARP, warp = threadIdx.x / KVC_WARP, warps = blockDim.x / KVC_WARP;
    for (int j = warp; j < group; j += warps) {
        float* row = weights + j * partitionSize;
        float localMax = KVC_NEGATIVE_INFINITY;
        for (int i = lane; i < count; i += KVC_WARP) localMax = fmaxf(localMax, row[i]);
        localMax = kvc_warp_max(localMax);
        float localSum = 0.0f;
        for (int i = lane; i < count; i += KVC_WARP) {
            const float e = expf(row[i] - localMax);
            row[i] = e;
            localSum += e;
        }
        localSum = kvc_warp_sum(localSum);
        if (lane == 0) {
            const long long at = ((long long)sequence * qHeads + firstQueryHead + j) * maxPartitions + partition;
            partialMax[at] = localMax;
            partialSum[at] = localSum;
        }
    }
    __syncthreads();

    // Weighted values: thread (stripe, chunk of 4 dimensions — or 1 when headDim % 4 != 0) sums the
    // keys i ≡ stripe (mod stripes); each value element is read once for every query head of the group.
    const int width = vectorised ? 4 : 1, chunks = headDim / width;
    for (int e = threadIdx.x; e < stripes * chunks; e += blockDim.x) {
        const int stripe = e / chunks, chunk = e % chunks;
        float sum[KVC_MAX_GROUP][4];
#pragma unroll
        for (int j = 0; j < KVC_MAX_GROUP; j++) {
#pragma unroll
            for (int w = 0; w < 4; w++) sum[j][w] = 0.0f;
        }
#pragma unroll 8
        for (int i = stripe; i < count; i += stripes) {
            float v[4];
            if (vectorised) {
                const float4 v4 = kvc_load4(valuePool + (long long)slots[i] * headDim, chunk);
                v[0] = v4.x;
                v[1] = v4.y;
                v[2] = v4.z;
                v[3] = v4.w;
            } else {
                v[0] = kvc_element<T>::widen(valuePool[(long long)slots[i] * headDim + chunk]);
                v[1] = v[2] = v[3] = 0.0f;
            }
#pragma unroll
            for (int j = 0; j < KVC_MAX_GROUP; j++) {
                if (j < group) {
                    const float p = weights[j * partitionSize + i];
#pragma unroll
                    for (int w = 0; w < 4; w++) sum[j][w] += p * v[w];
                }
            }
        }
#pragma unroll
        for (int j = 0; j < KVC_MAX_GROUP; j++) {
            if (j < group) {
                for (int w = 0; w < width; w++) stripeSums[(stripe * group + j) * headDim + chunk * width + w] = sum[j][w];
            }
        }
    }
    __syncthreads();
    for (int e = threadIdx.x; e < group * headDim; e += blockDim.x) {
        float total = 0.0f;
        for (int stripe = 0; stripe < stripes; stripe++) total += stripeSums[stripe * group * headDim + e];
        const int j = e / headDim, x = e % headDim;
        partialOutput[(((long long)sequence * qHeads + firstQueryHead + j) * maxPartitions + partition) * headDim + x] = total;
    }
}


// One entry point per KV type (the parameter list written once).
#define KVC_DECODE_ATTENTION(SUFFIX, T)                                                                               \
    extern "C" __global__ void kvc_decode_attention_##SUFFIX(                                                         \
        const float* __restrict__ queries, const T* __restrict__ keyPool, const T* __restrict__ valuePool,            \
        const int* __restrict__ blockTables, const int* __restrict__ contextLengths, float* __restrict__ scores,      \
        float* __restrict__ partialMax, float* __restrict__ partialSum, float* __restrict__ partialOutput,            \
        int kvHeads, int group, int headDim, int blockSize, int maxBlocks, int partitionSize, int maxPartitions,      \
        int stripes, int lanesPerKey, float scale) {                                                                  \
        kvc_decode_attention_body<T>(                                                                                 \
            queries, keyPool, valuePool, blockTables, contextLengths, scores, partialMax, partialSum, partialOutput,  \
            kvHeads, group, headDim, blockSize, maxBlocks, partitionSize, maxPartitions, stripes, lanesPerKey, scale); \
    }
KVC_DECODE_ATTENTION(f32, float)
KVC_DECODE_ATTENTION(f16, kvc_half)

// The exact softmax normaliser of one query head from its partitions: the global max M and
// S = Σ_p partialSum_p · exp(partialMax_p − M). Passes 2 and 3 compute it identically.
static __device__ __forceinline__ void kvc_merge_partitions(
    const float* partialMax, const float* partialSum, long long row, int partitions, float* globalMax, float* globalSum) {
    float m = KVC_NEGATIVE_INFINITY;
    for (int p = 0; p < partitions; p++) m = fmaxf(m, partialMax[row + p]);
    float s = 0.0f;
    for (int p = 0; p < partitions; p++) s += partialSum[row + p] * expf(partialMax[row + p] - m);
    *globalMax = m;
    *globalSum = s;
}

// Pass 2. One CUDA block per (KV head, sequence): merges the partitions into the exact softmax and
// writes output [seqs, qHeads, headDim] = Σ_p partialOutput_p · exp(partialMax_p − M) / S (zeros for
// a head of length 0). Grid: (kvHeads, seqs). Dynamic shared memory: 2 * group floats.
extern "C" __global__ void kvc_decode_attention_reduce(
    const int* __restrict__ contextLengths, const float* __restrict__ partialMax, const float* __restrict__ partialSum,
    const float* __restrict__ partialOutput, float* __restrict__ output, int kvHeads, int group, int headDim,
    int partitionSize, int maxPartitions) {
    const int kvHead = blockIdx.x, sequence = blockIdx.y;
    const int length = contextLengths[sequence * kvHeads + kvHead];
    const int qHeads = kvHeads * group, firstQueryHead = kvHead * group;
    float* out = output + ((long long)sequence * qHeads + firstQueryHead) * headDim;
    if (length == 0) {
        for (int e = threadIdx.x; e < group * headDim; e += blockDim.x) out[e] = 0.0f;
        return;
    }
    const int partitions = (length + partitionSize - 1) / partitionSize;

    extern __shared__ float shared[];
    float* globalMax = shared;           // [group]
    float* globalSum = shared + group;   // [group]
    for (int j = threadIdx.x; j < group; j += blockDim.x) {
        const long long row = ((long long)sequence * qHeads + firstQueryHead + j) * maxPartitions;
        kvc_merge_partitions(partialMax, partialSum, row, partitions, globalMax + j, globalSum + j);
    }
    __syncthreads();

    for (int e = threadIdx.x; e < group * headDim; e += blockDim.x) {
        const int j = e / headDim, x = e % headDim;
        const long long row = ((long long)sequence * qHeads + firstQueryHead + j) * maxPartitions;
        float total = 0.0f;
        for (int p = 0; p < partitions; p++) {
            total += partialOutput[(row + p) * headDim + x] * expf(partialMax[row + p] - globalMax[j]);
        }
        out[e] = total / globalSum[j];
    }
}

// Pass 3 (only with a metric): the decode observation of KV-Compress §3.1 as MetricCollector applies
// AttentionMetric to it — every slot's metric gains Σ over the group's query heads of p (metricMode 1,
// L1) or p² (2, L2), p = exp(score − M) / S, unpooled; a slot whose token is closer than
// `metricBuffer` positions before the query (queryPosition − keyPosition < metricBuffer) is not
// scored (KeyMask). One CUDA block per (partition, KV head, sequence), as pass 1.
// queryPositions: [seqs] int32 (read only when metricBuffer > 0). Dynamic shared memory: 2 * group floats.
extern "C" __global__ void kvc_decode_metric(
    const int* __restrict__ blockTables, const int* __restrict__ contextLengths, const int* __restrict__ positionPool,
    const int* __restrict__ queryPositions, const float* __restrict__ scores, const float* __restrict__ partialMax,
    const float* __restrict__ partialSum, float* __restrict__ metricPool, int kvHeads, int group, int blockSize,
    int maxBlocks, int partitionSize, int maxPartitions, int metricMode, int metricBuffer) {
    const int partition = blockIdx.x, kvHead = blockIdx.y, sequence = blockIdx.z;
    const int length = contextLengths[sequence * kvHeads + kvHead];
    const int start = partition * partitionSize;
    if (start >= length) return;
    const int count = min(partitionSize, length - start);
    const int qHeads = kvHeads * group, firstQueryHead = kvHead * group;
    const int partitions = (length + partitionSize - 1) / partitionSize;
    const long long maxContext = (long long)maxBlocks * blockSize;

    extern __shared__ float shared[];
    float* globalMax = shared;           // [group]
    float* globalSum = shared + group;   // [group]
    for (int j = threadIdx.x; j < group; j += blockDim.x) {
        const long long row = ((long long)sequence * qHeads + firstQueryHead + j) * maxPartitions;
        kvc_merge_partitions(partialMax, partialSum, row, partitions, globalMax + j, globalSum + j);
    }
    __syncthreads();

    const int* blockTable = blockTables + ((long long)sequence * kvHeads + kvHead) * maxBlocks;
    const int queryPosition = metricBuffer > 0 ? queryPositions[sequence] : 0;
    for (int i = start + threadIdx.x; i < start + count; i += blockDim.x) {
        const long long slot = kvc_slot(blockTable, i, blockSize);
        if (metricBuffer > 0 && queryPosition - positionPool[slot] < metricBuffer) continue;
        float sum = 0.0f;
        for (int j = 0; j < group; j++) {
            const float p =
                expf(scores[((long long)sequence * qHeads + firstQueryHead + j) * maxContext + i] - globalMax[j]) /
                globalSum[j];
            sum += metricMode == 2 ? p * p : p;
        }
        metricPool[slot] += sum;
    }
}
