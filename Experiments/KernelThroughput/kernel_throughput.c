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
    return 0;
}
