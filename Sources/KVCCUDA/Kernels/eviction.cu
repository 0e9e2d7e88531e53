// KV-Compress eviction on the GPU (paper §4, "Schedule" and "Cache moves") for ONE sequence.
//
// A "head" is one (layer, KV head) pair of the sequence, numbered layer * kvHeads + kvHead, as in
// Sources/PagedKVCache. The three kernels run in this order:
//
//   1. kvc_sort_head_metrics  one CUDA block per head: scheduling score of every logical slot
//                             (protected +inf, NaN -inf), bitonic sort ascending (ties by logical
//                             index), then the score of every virtual block.
//   2. (host)                 picks the globally lowest virtual blocks up to the budget and uploads
//                             the number of KVs each head evicts (a prefix of its ascending order).
//   3. kvc_plan_moves         one CUDA block per head: the moves of the two-pointer compaction of
//                             Sources/KVCompress/Mechanism/EvictionExecutor.swift (compact), in the
//                             same order, found in parallel from a prefix sum over the evicted flags.
//   4. kvc_execute_moves      every move of every head at once (sources and destinations are
//                             disjoint), one warp per move: K, V, metric and position travel together.
//
// Layouts (row-major, as the CPU PagedKVCache):
//   keys, values     [capacityBlocks, blockSize, headDim] float
//   metrics          [capacityBlocks, blockSize] float
//   positions        [capacityBlocks, blockSize] int
//   blockTables      [layers, sequences, kvHeads, maxBlocks] int
//   contextLengths   [layers, sequences, kvHeads] int
// The physical slot of logical index i of a head is table[i / blockSize] * blockSize + i % blockSize.
//
// No include directives: NVRTC compiles this file on machines without CUDA headers.

#define KVC_EVICTION_WARP 32

// +inf and -inf from their bit patterns (NVRTC runs without the math headers).
static __device__ __forceinline__ float kvc_positive_infinity() { return __int_as_float(0x7f800000); }
static __device__ __forceinline__ float kvc_negative_infinity() { return __int_as_float(0xff800000); }

// Row of (layer, kvHead) of sequence `sequenceIndex` in the block-table and context-length arrays.
static __device__ __forceinline__ long long kvc_head_row(int head, int kvHeads, int sequenceIndex, int sequenceCount) {
    const int layer = head / kvHeads;
    const int kvHead = head % kvHeads;
    return ((long long)layer * sequenceCount + sequenceIndex) * kvHeads + kvHead;
}

// Physical slot of logical index `logical` through a head's block table.
static __device__ __forceinline__ long long kvc_physical_slot(const int* table, int logical, int blockSize) {
    return (long long)table[logical / blockSize] * blockSize + logical % blockSize;
}

// Whether (scoreA, indexA) sorts strictly before (scoreB, indexB): ascending score, ties by logical
// index (VirtualBlocks.swift). Scores are never NaN here, so `<` and `==` form a total order.
static __device__ __forceinline__ bool kvc_sorts_before(float scoreA, int indexA, float scoreB, int indexB) {
    return scoreA < scoreB || (scoreA == scoreB && indexA < indexB);
}

// 1. Per-head sort of scheduling scores and virtual-block scores.
//
// Scheduling score of a slot (Sources/KVCompress/Mechanism/Compressor.swift, evictionInput, and the
// KV-Compress AttentionMetric): +inf when its position is protected (position >= sequenceLength -
// protectedWindow, or position < sinks); otherwise the stored metric, divided by
// max(1, sequenceLength - position) when aggregateMode == 1 (the "avg" aggregates). NaN then counts
// as -inf (VirtualBlocks.swift: a broken metric evicts first instead of corrupting the sort).
//
// Grid: one block per head (gridDim.x = heads). Dynamic shared memory: paddedLength floats then
// paddedLength ints (8 bytes per entry); paddedLength is a power of two >= every head's context
// length. Each head sorts only the next power of two above its own length.
//
// Outputs:
//   ascendingIndices     [heads, maxContext]: logical indices by ascending score; -1 past the length.
//   virtualBlockScores   [heads, maxVirtualBlocks]: the first virtual block holds the
//                        hanging = ctx % bs lowest KVs (bs when ctx is a multiple of bs), each later
//                        one the next bs; a block's score is its largest; +inf past the last block.
// evictionBlockSizes [layers]: the eviction unit of each layer (a multiple of blockSize).
extern "C" __global__ void kvc_sort_head_metrics(
    const float* __restrict__ metrics, const int* __restrict__ positions, const int* __restrict__ blockTables,
    const int* __restrict__ contextLengths, const int* __restrict__ evictionBlockSizes, int sequenceIndex,
    int sequenceCount, int kvHeads, int maxBlocks, int blockSize, int sequenceLength, int protectedWindow, int sinks,
    int aggregateMode, int paddedLength, int maxContext, int maxVirtualBlocks, int* __restrict__ ascendingIndices,
    float* __restrict__ virtualBlockScores) {
    extern __shared__ float kvc_sort_shared[];
    float* scores = kvc_sort_shared;
    int* indices = (int*)(kvc_sort_shared + paddedLength);

    const int head = blockIdx.x;
    const long long row = kvc_head_row(head, kvHeads, sequenceIndex, sequenceCount);
    const int* table = blockTables + row * maxBlocks;
    const int length = contextLengths[row];

    int sortLength = 1;
    while (sortLength < length) sortLength <<= 1;

    const float positiveInfinity = kvc_positive_infinity();
    for (int i = threadIdx.x; i < sortLength; i += blockDim.x) {
        float score = positiveInfinity;  // padding sorts after every real slot (its index is larger)
        if (i < length) {
            const long long slot = kvc_physical_slot(table, i, blockSize);
            const int position = positions[slot];
            if (position >= sequenceLength - protectedWindow || position < sinks) {
                score = positiveInfinity;
            } else {
                score = metrics[slot];
                if (aggregateMode == 1) {
                    const int seen = sequenceLength - position;
                    score = score / (float)(seen > 1 ? seen : 1);
                }
                if (score != score) score = kvc_negative_infinity();
            }
        }
        scores[i] = score;
        indices[i] = i;
    }
    __syncthreads();

    // Bitonic sort: k is the size of the sequences being merged, j the compare distance.
    for (int k = 2; k <= sortLength; k <<= 1) {
        for (int j = k >> 1; j > 0; j >>= 1) {
            for (int i = threadIdx.x; i < sortLength; i += blockDim.x) {
                const int partner = i ^ j;
                if (partner > i) {
                    const bool ascending = (i & k) == 0;
                    const bool partnerFirst = kvc_sorts_before(scores[partner], indices[partner], scores[i], indices[i]);
                    if (partnerFirst == ascending) {
                        const float s = scores[i];
                        scores[i] = scores[partner];
                        scores[partner] = s;
                        const int x = indices[i];
                        indices[i] = indices[partner];
                        indices[partner] = x;
                    }
                }
            }
            __syncthreads();
        }
    }

    int* outIndices = ascendingIndices + (long long)head * maxContext;
    for (int i = threadIdx.x; i < maxContext; i += blockDim.x) outIndices[i] = i < length ? indices[i] : -1;

    const int evictionBlockSize = evictionBlockSizes[head / kvHeads];
    int blockCount = 0;
    int hanging = 0;
    if (length > 0) {
        hanging = length % evictionBlockSize == 0 ? evictionBlockSize : length % evictionBlockSize;
        blockCount = (length - hanging) / evictionBlockSize + 1;
    }
    float* outScores = virtualBlockScores + (long long)head * maxVirtualBlocks;
    for (int b = threadIdx.x; b < maxVirtualBlocks; b += blockDim.x) {
        outScores[b] = b < blockCount ? scores[hanging + b * evictionBlockSize - 1] : positiveInfinity;
    }
}

// Sum of `value` over the 32 lanes of a warp (every lane gets the sum); all lanes must call it.
static __device__ __forceinline__ int kvc_warp_sum(int value) {
    for (int offset = KVC_EVICTION_WARP / 2; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
    return value;
}

// 3. Move plan per head: the first evictedCounts[head] entries of the head's ascending order go.
//
// EvictionExecutor.compact walks two pointers: the destination up over the evicted slots, the source
// down over the surviving ones, moving while destination < source. With L = length, e = evicted and
// n = L - e kept, that walk pairs the k-th lowest evicted slot below n (a "hole") with the k-th
// highest surviving slot at or above n (a "source"): both lists are equally long (the survivors
// below n are n minus the holes, those at or above n are n minus them too), every hole is below n and
// every source at or above it, and the next pair after them would be an evicted slot >= n and a
// survivor < n, which ends the walk. So, with P(i) = evicted slots in [0, i):
//   a hole i     is the destination of move P(i);
//   a source i   is the source of move (L - 1 - i) - (e - P(i)) (the survivors above it);
// and each thread finds its slots' moves from one block-wide prefix sum, in parallel, writing exactly
// the walk's list. Survivors end in logical slots [0, n).
//
// Grid: one block per head; blockDim.x a multiple of 32 (at most 1024). Dynamic shared memory:
// maxContext bytes (one evicted flag per slot). Steps: clear and mark the flags; count the flags
// (must be e: the order holds each slot once) and the holes; then the prefix sum over the flags in
// tiles of blockDim.x slots (warp ballots, then a scan of the warp counts by warp 0), each thread
// writing the move of its slot of the tile. Entries past the move count are zeroed.
//
// Outputs: moves [heads, maxMoves, 2] (source, destination) logical indices in walk order, and
// moveCounts [heads]; -1 when the input is inconsistent (evicted count outside 0...length, a length
// above maxContext, an order that does not name e distinct slots of the head, or more moves than
// maxMoves), which the host reports as an error (the head's moves are then left unwritten).
extern "C" __global__ void kvc_plan_moves(
    const int* __restrict__ ascendingIndices, const int* __restrict__ evictedCounts,
    const int* __restrict__ contextLengths, int sequenceIndex, int sequenceCount, int kvHeads, int maxContext,
    int maxMoves, int* __restrict__ moves, int* __restrict__ moveCounts) {
    extern __shared__ unsigned char kvc_evicted_flags[];
    __shared__ int kvc_plan_totals[2];                    // flags set, holes (flags below n)
    __shared__ int kvc_plan_warp_offsets[KVC_EVICTION_WARP];  // per warp of a tile: flags before it
    __shared__ int kvc_plan_tile_total;

    const int head = blockIdx.x;
    const int length = contextLengths[kvc_head_row(head, kvHeads, sequenceIndex, sequenceCount)];
    const int evicted = evictedCounts[head];
    // Uniform over the block: every thread returns together, before any barrier.
    if (evicted < 0 || evicted > length || length > maxContext) {
        if (threadIdx.x == 0) moveCounts[head] = -1;
        return;
    }
    const int kept = length - evicted;
    const int lane = threadIdx.x % KVC_EVICTION_WARP;
    const int warp = threadIdx.x / KVC_EVICTION_WARP;
    const int warps = blockDim.x / KVC_EVICTION_WARP;

    const int* order = ascendingIndices + (long long)head * maxContext;
    if (threadIdx.x < 2) kvc_plan_totals[threadIdx.x] = 0;
    for (int i = threadIdx.x; i < length; i += blockDim.x) kvc_evicted_flags[i] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < evicted; i += blockDim.x) {
        const int slot = order[i];
        if (slot >= 0 && slot < length) kvc_evicted_flags[slot] = 1;
    }
    __syncthreads();

    int flagged = 0;
    int holes = 0;
    for (int i = threadIdx.x; i < length; i += blockDim.x) {
        const int flag = kvc_evicted_flags[i];
        flagged += flag;
        if (i < kept) holes += flag;
    }
    flagged = kvc_warp_sum(flagged);
    holes = kvc_warp_sum(holes);
    if (lane == 0) {
        atomicAdd(&kvc_plan_totals[0], flagged);
        atomicAdd(&kvc_plan_totals[1], holes);
    }
    __syncthreads();
    const int count = kvc_plan_totals[1];
    // Uniform again: every thread read the same totals after the barrier.
    if (kvc_plan_totals[0] != evicted || count > maxMoves) {
        if (threadIdx.x == 0) moveCounts[head] = -1;
        return;
    }

    int* headMoves = moves + (long long)head * maxMoves * 2;
    for (int k = count + threadIdx.x; k < maxMoves; k += blockDim.x) {
        headMoves[2 * k] = 0;
        headMoves[2 * k + 1] = 0;
    }

    int before = 0;  // flags in [0, tile start), the same in every thread
    for (int tile = 0; tile < length; tile += blockDim.x) {
        const int i = tile + threadIdx.x;
        const int flag = i < length ? kvc_evicted_flags[i] : 0;
        const unsigned int ballot = __ballot_sync(0xffffffffu, flag != 0);
        const int lanesBefore = __popc(ballot & ((1u << lane) - 1u));
        if (lane == 0) kvc_plan_warp_offsets[warp] = __popc(ballot);
        __syncthreads();
        if (warp == 0) {
            // Inclusive scan of the warp counts (Kogge-Stone), then exclusive offsets and the tile total.
            const int own = lane < warps ? kvc_plan_warp_offsets[lane] : 0;
            int sum = own;
            for (int offset = 1; offset < KVC_EVICTION_WARP; offset <<= 1) {
                const int lower = __shfl_up_sync(0xffffffffu, sum, offset);
                if (lane >= offset) sum += lower;
            }
            if (lane < warps) kvc_plan_warp_offsets[lane] = sum - own;
            if (lane == KVC_EVICTION_WARP - 1) kvc_plan_tile_total = sum;
        }
        __syncthreads();
        if (i < length) {
            const int evictedBefore = before + kvc_plan_warp_offsets[warp] + lanesBefore;  // P(i)
            if (flag && i < kept) {
                headMoves[2 * evictedBefore + 1] = i;
            } else if (!flag && i >= kept) {
                headMoves[2 * ((length - 1 - i) - (evicted - evictedBefore))] = i;
            }
        }
        before += kvc_plan_tile_total;
        __syncthreads();  // the next tile rewrites the warp offsets and the total
    }
    if (threadIdx.x == 0) moveCounts[head] = count;
}

// 4. Executes every planned move: grid (ceil(maxMoves / warpsPerBlock), heads), blockDim.x =
// 32 * warpsPerBlock; warp w of block x handles move x * warpsPerBlock + w of head blockIdx.y.
// Lanes copy K and V (headDim elements of the KV type each, lane-strided); lane 0 copies metric and position. Every
// source is a survivor in the tail and every destination a hole in the kept prefix, so no move reads
// what another writes.
template <typename T>
static __device__ __forceinline__ void kvc_execute_moves_body(
    T* __restrict__ keys, T* __restrict__ values, float* __restrict__ metrics, int* __restrict__ positions,
    const int* __restrict__ blockTables, const int* __restrict__ moves, const int* __restrict__ moveCounts,
    int sequenceIndex, int sequenceCount, int kvHeads, int maxBlocks, int blockSize, int headDim, int maxMoves) {
    const int head = blockIdx.y;
    const int warpsPerBlock = blockDim.x / KVC_EVICTION_WARP;
    const int lane = threadIdx.x % KVC_EVICTION_WARP;
    const int move = blockIdx.x * warpsPerBlock + threadIdx.x / KVC_EVICTION_WARP;
    if (move >= moveCounts[head]) return;

    const int* table = blockTables + kvc_head_row(head, kvHeads, sequenceIndex, sequenceCount) * maxBlocks;
    const int* pair = moves + ((long long)head * maxMoves + move) * 2;
    const long long source = kvc_physical_slot(table, pair[0], blockSize);
    const long long destination = kvc_physical_slot(table, pair[1], blockSize);
    for (int d = lane; d < headDim; d += KVC_EVICTION_WARP) {
        keys[destination * headDim + d] = keys[source * headDim + d];
        values[destination * headDim + d] = values[source * headDim + d];
    }
    if (lane == 0) {
        metrics[destination] = metrics[source];
        positions[destination] = positions[source];
    }
}

// One entry point per KV type (the parameter list written once): kvc_execute_moves_f32 / _f16.
#define KVC_EXECUTE_MOVES(SUFFIX, T)                                                                                  \
    extern "C" __global__ void kvc_execute_moves_##SUFFIX(                                                            \
        T* __restrict__ keys, T* __restrict__ values, float* __restrict__ metrics, int* __restrict__ positions,       \
        const int* __restrict__ blockTables, const int* __restrict__ moves, const int* __restrict__ moveCounts,       \
        int sequenceIndex, int sequenceCount, int kvHeads, int maxBlocks, int blockSize, int headDim, int maxMoves) { \
        kvc_execute_moves_body<T>(                                                                                    \
            keys, values, metrics, positions, blockTables, moves, moveCounts, sequenceIndex, sequenceCount, kvHeads,  \
            maxBlocks, blockSize, headDim, maxMoves);                                                                 \
    }
KVC_EXECUTE_MOVES(f32, float)
// Half floats as their bits: a move copies them unchanged (no conversion, so every bit pattern — NaN
// payloads included — survives).
KVC_EXECUTE_MOVES(f16, unsigned short)
