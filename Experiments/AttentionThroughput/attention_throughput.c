// Time per cached KV of the decode attention kernels (kvc_attention.h) on one thread, for SmolLM2's
// head shape (groups of 3 queries, 64 dimensions, blocks of 16), in two regimes:
//   in cache:  8 heads of 512 KVs (2 MB of K and V), read again and again from L2/L3;
//   in memory: 2880 heads of 192 KVs (a batch-32 decode step's 30 layers × 3 heads × 32 sequences,
//              280 MB), blocks in shuffled order over the pool as a paged cache holds them.
// Each head runs scores, softmax and weighted values in turn, as Attention.decodeHead does, with K
// and V stored as float32 and as float16 (the cache's default: half the bytes to read). The figures
// behind the comments in Sources/CKernels/attention_*.
//
// Build and run: scripts/bench-attention.sh (clang, -O3, the project's Sources/CKernels).
#include "kvc_attention.h"
#include "kvc_half.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { GROUP = 3, HEAD_DIM = 64, BLOCK = 16 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static float uniform(void) { return (float)(rand() % 2001 - 1000) / 1000.0f; }

/// Per-KV nanoseconds of scores, softmax and values over `heads` heads of `length` KVs each, best of
/// five passes, for every instruction set this CPU runs, with K and V stored as `type`.
static void measure(const char *regime, int heads, int length, kvc_kv_type type) {
    const int per_head = (length + BLOCK - 1) / BLOCK;
    const size_t pool = (size_t)heads * (size_t)per_head, elements = pool * BLOCK * HEAD_DIM;
    const size_t size = (size_t)kvc_kv_type_size(type);
    float *key_floats = malloc(elements * sizeof(float)), *value_floats = malloc(elements * sizeof(float));
    for (size_t i = 0; i < elements; i++) {
        key_floats[i] = uniform();
        value_floats[i] = uniform();
    }
    char *keys = aligned_alloc(64, elements * size), *values = aligned_alloc(64, elements * size);
    if (type == KVC_KV_F16) {
        kvc_floats_to_halves(key_floats, (uint16_t *)keys, (int64_t)elements, KVC_ISA_PORTABLE);
        kvc_floats_to_halves(value_floats, (uint16_t *)values, (int64_t)elements, KVC_ISA_PORTABLE);
    } else {
        memcpy(keys, key_floats, elements * sizeof(float));
        memcpy(values, value_floats, elements * sizeof(float));
    }
    free(key_floats);
    free(value_floats);
    // Physical blocks in shuffled order (Fisher–Yates), as a paged cache hands them out over time.
    size_t *physical = malloc(pool * sizeof(size_t));
    for (size_t i = 0; i < pool; i++) physical[i] = i;
    for (size_t i = pool - 1; i > 0; i--) {
        size_t j = (size_t)rand() % (i + 1), t = physical[i];
        physical[i] = physical[j];
        physical[j] = t;
    }
    kvc_kv_block *blocks = malloc(pool * sizeof(kvc_kv_block));
    for (size_t i = 0; i < pool; i++) {
        const int last = (int)(i % (size_t)per_head) == per_head - 1;
        blocks[i].keys = keys + physical[i] * BLOCK * HEAD_DIM * size;
        blocks[i].values = values + physical[i] * BLOCK * HEAD_DIM * size;
        blocks[i].count = last ? length - (per_head - 1) * BLOCK : BLOCK;
    }
    float queries[GROUP * HEAD_DIM], output[GROUP * HEAD_DIM];
    for (int i = 0; i < GROUP * HEAD_DIM; i++) queries[i] = 3 * uniform();
    float *scores = malloc((size_t)GROUP * (size_t)length * sizeof(float));
    const char *names[] = {"portable", "avx2", "avx512"};
    const kvc_isa isas[] = {KVC_ISA_PORTABLE, KVC_ISA_AVX2, KVC_ISA_AVX512_VNNI};
    for (int k = 0; k < 3; k++) {
        if (!kvc_isa_supported(isas[k])) continue;
        double best[3] = {1e30, 1e30, 1e30};
        for (int pass = 0; pass < 5; pass++) {
            double spent[3] = {0, 0, 0};
            for (int h = 0; h < heads; h++) {
                const kvc_kv_block *head = blocks + (size_t)h * (size_t)per_head;
                double t0 = now();
                kvc_attention_scores(queries, GROUP, HEAD_DIM, head, per_head, type, length, 0.125f, scores, isas[k]);
                double t1 = now();
                kvc_attention_softmax(scores, GROUP, length, isas[k]);
                double t2 = now();
                kvc_attention_values(scores, GROUP, HEAD_DIM, head, per_head, type, length, output, isas[k]);
                double t3 = now();
                spent[0] += t1 - t0;
                spent[1] += t2 - t1;
                spent[2] += t3 - t2;
            }
            for (int i = 0; i < 3; i++) best[i] = spent[i] < best[i] ? spent[i] : best[i];
        }
        const double kvs = (double)heads * (double)length;
        printf(
            "| %-9s | %s | %-8s | %6.2f | %6.2f | %6.2f | %6.2f |\n", regime, type == KVC_KV_F16 ? "f16" : "f32", names[k],
            best[0] / kvs * 1e9,
            best[1] / kvs * 1e9, best[2] / kvs * 1e9, (best[0] + best[1] + best[2]) / kvs * 1e9);
    }
    free(scores);
    free(blocks);
    free(physical);
    free(keys);
    free(values);
}

int main(void) {
    srand(2410);
    printf("ns per cached KV, one thread (g %d, d %d, blocks of %d)\n\n", GROUP, HEAD_DIM, BLOCK);
    printf("| regime    | KV  | kernels  | scores | softmax | values | total |\n|---|---|---|---:|---:|---:|---:|\n");
    measure("in cache", 8, 512, KVC_KV_F32);
    measure("in cache", 8, 512, KVC_KV_F16);
    measure("in memory", 2880, 192, KVC_KV_F32);
    measure("in memory", 2880, 192, KVC_KV_F16);
    return 0;
}
