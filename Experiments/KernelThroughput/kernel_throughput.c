// Throughput of the quantized matrix kernel (kvc_qmatmul) alone, in multiply-adds per second, for
// the shapes of SmolLM2-135M's projections: what bounds a batched decode step on this machine.
//
// Each configuration runs on one thread, then on N threads at once (each with its own matrix), so
// the table shows whether the CPUs share execution units (SMT siblings, or vCPUs mapped onto
// them): if two threads each get half of one thread's rate, the machine has one core's worth of
// vector throughput, whatever it reports.
//
// Build and run: scripts/bench-kernels.sh (clang, -O3, the project's Sources/CKernels).
#include "kvc_quant.h"
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int rows, columns, tokens, bits;
    double seconds;
    kvc_qmatrix matrix;
    int8_t *q;
    float *d, *s, *y;
    long repetitions;
} job;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/// Random quants and scales of ordinary magnitude; activations uniform in [-1, 1].
static void prepare(job *j, unsigned seed) {
    srand(seed);
    kvc_qmatrix_init(&j->matrix, j->rows, j->columns, j->bits, 1, 0);
    uint8_t u[32];
    for (int r = 0; r < j->rows; r++) {
        for (int b = 0; b < j->columns / 32; b++) {
            for (int k = 0; k < 32; k++) u[k] = (uint8_t)(rand() % (1 << j->bits));
            kvc_qmatrix_set_block(&j->matrix, r, b, u, 0x2000, 0xA000);
        }
    }
    size_t n = (size_t)j->tokens * (size_t)j->columns, blocks = n / 32;
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)(rand() % 2001 - 1000) / 1000.0f;
    j->q = malloc(n);
    j->d = malloc(blocks * sizeof(float));
    j->s = malloc(blocks * sizeof(float));
    j->y = malloc((size_t)j->tokens * (size_t)j->rows * sizeof(float));
    kvc_quantize_activations(x, j->tokens, j->columns, j->q, j->d, j->s, kvc_best_isa());
    free(x);
}

static void *run(void *argument) {
    job *j = argument;
    double start = now();
    long done = 0;
    while (now() - start < j->seconds) {
        for (int i = 0; i < 10; i++) {
            kvc_qmatmul(&j->matrix, 0, j->matrix.panels, 0, j->tokens, j->q, j->d, j->s, j->y, j->rows, 0, kvc_best_isa());
        }
        done += 10;
    }
    j->repetitions = done;
    j->seconds = now() - start;
    return NULL;
}

static void release(job *j) {
    kvc_qmatrix_free(&j->matrix);
    free(j->q);
    free(j->d);
    free(j->s);
    free(j->y);
}

/// Total multiply-adds per second of `threads` concurrent jobs of one shape.
static double measure(int rows, int columns, int tokens, int bits, int threads) {
    job jobs[16];
    pthread_t ids[16];
    for (int t = 0; t < threads; t++) {
        memset(&jobs[t], 0, sizeof jobs[t]);
        jobs[t] = (job){.rows = rows, .columns = columns, .tokens = tokens, .bits = bits, .seconds = 0.5};
        prepare(&jobs[t], 7 + (unsigned)t);
    }
    for (int t = 0; t < threads; t++) pthread_create(&ids[t], NULL, run, &jobs[t]);
    double total = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
        total += (double)rows * columns * tokens * (double)jobs[t].repetitions / jobs[t].seconds;
        release(&jobs[t]);
    }
    return total;
}

// MARK: - The instruction's own ceiling

/// Multiply-adds per second of `vpdpbusd` from registers only: no loads, so neither memory nor
/// latency limits it (16 independent chains hide the instruction's latency). Two variants:
/// - `bare`: the instruction alone, 16 lanes × 4 u8·s8 products each: the most any int8 product can
///   do on these CPUs;
/// - `epilogue`: per 8 instructions (one 32-column block of one token: 16 rows × 32 columns) also the
///   float work every kernel on Q4_1 blocks needs, as panel_tile does it: int32 → float, weight scale ×
///   activation scale, fused multiply-add into the sum, and the block minimum's fused multiply-add.
///   This is the ceiling of a block-quantized product with 32-column blocks, whatever the loads.
typedef struct {
    double seconds;
    int epilogue;
    long instructions;
} peak_job;

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void *peak_run(void *argument) {
    peak_job *j = argument;
    __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
    __m512i dot[8];
    __m512 sum[8], scale = _mm512_set1_ps(0.5f), minimum = _mm512_set1_ps(0.25f), activation = _mm512_set1_ps(1e-3f);
    for (int i = 0; i < 8; i++) {
        dot[i] = _mm512_set1_epi32(i);
        sum[i] = _mm512_setzero_ps();
    }
    double start = now();
    long done = 0;
    while (now() - start < j->seconds) {
        for (int r = 0; r < 1024; r++) {
            // 8 chains (tokens) × 8 instructions (one block): the shape of panel_tile_8's inner loop.
            for (int k = 0; k < 8; k++) {
                for (int t = 0; t < 8; t++) dot[t] = _mm512_dpbusd_epi32(dot[t], a, b);
            }
            if (j->epilogue) {
                for (int t = 0; t < 8; t++) {
                    __m512 s = _mm512_mul_ps(scale, activation);
                    sum[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[t]), s, sum[t]);
                    sum[t] = _mm512_fmadd_ps(minimum, activation, sum[t]);
                }
            }
            // Keep the chains opaque to the optimiser without touching memory.
            __asm__ volatile("" : "+v"(dot[0]), "+v"(dot[1]), "+v"(dot[2]), "+v"(dot[3]), "+v"(dot[4]),
                             "+v"(dot[5]), "+v"(dot[6]), "+v"(dot[7]));
            __asm__ volatile("" : "+v"(sum[0]), "+v"(sum[1]), "+v"(sum[2]), "+v"(sum[3]), "+v"(sum[4]),
                             "+v"(sum[5]), "+v"(sum[6]), "+v"(sum[7]), "+v"(activation));
        }
        done += 1024L * 64;
    }
    j->seconds = now() - start;
    j->instructions = done;
    __m512 total = sum[0];
    for (int i = 1; i < 8; i++) total = _mm512_add_ps(total, _mm512_add_ps(sum[i], _mm512_cvtepi32_ps(dot[i])));
    volatile float sink = _mm512_reduce_add_ps(total);
    (void)sink;
    return NULL;
}

/// Total vpdpbusd multiply-adds per second of `threads` concurrent register-only loops.
static double measure_peak(int threads, int epilogue) {
    peak_job jobs[16];
    pthread_t ids[16];
    for (int t = 0; t < threads; t++) jobs[t] = (peak_job){.seconds = 1.0, .epilogue = epilogue};
    for (int t = 0; t < threads; t++) pthread_create(&ids[t], NULL, peak_run, &jobs[t]);
    double total = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
        total += 64.0 * (double)jobs[t].instructions / jobs[t].seconds;
    }
    return total;
}

// MARK: - Memory read bandwidth

/// Bytes per second `threads` threads read together from buffers far larger than the caches (each
/// its own 512 MB, summed with AVX-512 loads): what a step that streams weights and KV cache from
/// memory is bound by.
typedef struct {
    double seconds;
    double bytes;
} stream_job;

__attribute__((target("avx512f"))) static void *stream_run(void *argument) {
    stream_job *j = argument;
    const size_t count = (size_t)512 << 20 >> 2;  // floats in 512 MB
    float *buffer = aligned_alloc(64, count * sizeof(float));
    for (size_t i = 0; i < count; i++) buffer[i] = (float)(i & 1023);
    __m512 sum[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    double start = now();
    long passes = 0;
    while (now() - start < j->seconds) {
        for (size_t i = 0; i < count; i += 64) {
            for (int k = 0; k < 4; k++) sum[k] = _mm512_add_ps(sum[k], _mm512_load_ps(buffer + i + 16 * k));
        }
        passes++;
    }
    j->seconds = now() - start;
    j->bytes = (double)passes * (double)count * sizeof(float);
    volatile float sink = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(sum[0], sum[1]), _mm512_add_ps(sum[2], sum[3])));
    (void)sink;
    free(buffer);
    return NULL;
}

static double measure_stream(int threads) {
    stream_job jobs[16];
    pthread_t ids[16];
    for (int t = 0; t < threads; t++) jobs[t] = (stream_job){.seconds = 2.0};
    for (int t = 0; t < threads; t++) pthread_create(&ids[t], NULL, stream_run, &jobs[t]);
    double total = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
        total += jobs[t].bytes / jobs[t].seconds;
    }
    return total;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    if (threads < 1 || threads > 16) {
        fprintf(stderr, "usage: %s [threads 1-16]\n", argv[0]);
        return 2;
    }
    const char *isa = kvc_best_isa() == KVC_ISA_AVX512_VNNI ? "avx512-vnni" : kvc_best_isa() == KVC_ISA_AVX2 ? "avx2" : "portable";
    printf("kernels: %s; GMAC/s = 10^9 multiply-adds per second, all threads together\n\n", isa);
    printf("| matrix (rows × columns, bits) | tokens | 1 thread | %d threads at once | ratio |\n", threads);
    printf("|---|---:|---:|---:|---:|\n");
    struct { int rows, columns, bits; const char *name; } shapes[] = {
        {3072, 576, 4, "gate+up 3072 × 576, u4"},
        {576, 1536, 4, "down 576 × 1536, u4"},
        {49152, 576, 8, "output 49152 × 576, u8 (30 MB)"},
    };
    int token_counts[] = {1, 8, 32};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (size_t k = 0; k < sizeof token_counts / sizeof token_counts[0]; k++) {
            double one = measure(shapes[s].rows, shapes[s].columns, token_counts[k], shapes[s].bits, 1);
            double many = measure(shapes[s].rows, shapes[s].columns, token_counts[k], shapes[s].bits, threads);
            printf("| %s | %d | %.1f | %.1f | %.2f× |\n", shapes[s].name, token_counts[k], one / 1e9, many / 1e9, many / one);
            fflush(stdout);
        }
    }
    if (kvc_isa_supported(KVC_ISA_AVX512_VNNI)) {
        double bare_one = measure_peak(1, 0), bare = measure_peak(threads, 0);
        double block_one = measure_peak(1, 1), block = measure_peak(threads, 1);
        printf("| ceiling: vpdpbusd alone, registers only | - | %.1f | %.1f | %.2f× |\n", bare_one / 1e9, bare / 1e9, bare / bare_one);
        printf("| ceiling: vpdpbusd + Q4_1 block epilogue, registers only | - | %.1f | %.1f | %.2f× |\n", block_one / 1e9, block / 1e9, block / block_one);
        // SmolLM2-135M: 134.5 M multiply-adds per token in its projections (30 layers × 3.54 M + the
        // 49152 × 576 output), whatever the batch.
        printf("\ndecode tokens/s the projections alone allow on %d threads (134.5 M multiply-adds a token):\n", threads);
        printf("  at the bare instruction's ceiling: %.0f; at the block-epilogue ceiling: %.0f\n", bare / 134.5e6, block / 134.5e6);
    }
    if (kvc_isa_supported(KVC_ISA_AVX512_VNNI)) {
        double one = measure_stream(1), many = measure_stream(threads);
        printf("\nmemory read bandwidth (512 MB per thread): 1 thread %.1f GB/s, %d threads %.1f GB/s\n", one / 1e9, threads, many / 1e9);
        // A decode step of 32 sequences at an average of 160 cached tokens (make bench: 128-token
        // prompts, 64 steps) reads 32 × 30 layers × 3 KV heads × 160 × 512 B of float32 K and V, plus
        // the 96 MB of quantized weights once.
        double step_bytes = 32.0 * 30 * 3 * 160 * 512 + 96e6;
        printf("a batch-32 decode step at 160 cached tokens reads %.0f MB: at most %.0f tokens/s from memory alone\n", step_bytes / 1e6, 32.0 * many / step_bytes);
    }
    return 0;
}
