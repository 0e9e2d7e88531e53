// The spinning worker pool of kvc_pool.h.
//
// A job is published through one 64-bit atomic ticket: generation (24 bits) | item count (20 bits)
// | next unclaimed item (20 bits). Claiming an item is a compare-and-swap on the whole ticket, so a
// worker still holding an old generation can never claim an item of a newer job; the job's body
// and context are only read after a successful claim, and the caller rewrites them only after every
// item of the previous job has finished (`pending` reached 0).
#define _GNU_SOURCE
#include "kvc_pool.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KVC_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define KVC_PAUSE() __asm__ __volatile__("yield")
#else
#define KVC_PAUSE() ((void)0)
#endif

/// A worker waiting for a job first spins with pause (tens of cycles each: ~0.1 ms in all), then
/// yields its core KVC_YIELDS times (so an oversubscribed machine runs the thread that has work),
/// then sleeps on the condition variable.
#define KVC_SPINS (1 << 12)
#define KVC_YIELDS 256

/// Waits one round: pause while `round` is below KVC_SPINS, yield the core after.
static inline void wait_round(int round) {
    if (round < KVC_SPINS) {
        KVC_PAUSE();
    } else {
        sched_yield();
    }
}

#define GENERATION_SHIFT 40
#define COUNT_SHIFT 20
#define FIELD_MASK ((UINT64_C(1) << 20) - 1)

struct kvc_pool {
    int32_t threads;
    pthread_t *workers;
    _Atomic uint64_t ticket;
    _Atomic int32_t pending;
    _Atomic(kvc_pool_body) body;
    _Atomic(void *) context;
    _Atomic int32_t sleepers;
    _Atomic int32_t stopping;
    atomic_flag busy;
    pthread_mutex_t lock;
    pthread_cond_t wake;
};

/// Set in the pool's own threads while they run items, to refuse nested jobs.
static _Thread_local int kvc_in_pool_job;

static inline uint64_t generation_of(uint64_t ticket) { return ticket >> GENERATION_SHIFT; }

/// Claims and runs items of the job of `generation` until none is left or a newer job replaced it.
static void work(kvc_pool *pool, uint64_t generation) {
    uint64_t ticket = atomic_load_explicit(&pool->ticket, memory_order_acquire);
    for (;;) {
        if (generation_of(ticket) != generation) return;
        uint64_t count = (ticket >> COUNT_SHIFT) & FIELD_MASK, next = ticket & FIELD_MASK;
        if (next >= count) return;
        if (!atomic_compare_exchange_weak_explicit(
                &pool->ticket, &ticket, ticket + 1, memory_order_acq_rel, memory_order_acquire)) {
            continue;
        }
        kvc_pool_body body = atomic_load_explicit(&pool->body, memory_order_relaxed);
        void *context = atomic_load_explicit(&pool->context, memory_order_relaxed);
        kvc_in_pool_job = 1;
        body(context, (int32_t)next);
        kvc_in_pool_job = 0;
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
        ticket = atomic_load_explicit(&pool->ticket, memory_order_acquire);
    }
}

static void *worker_main(void *argument) {
    kvc_pool *pool = argument;
    uint64_t seen = generation_of(atomic_load(&pool->ticket));
    for (;;) {
        uint64_t generation = seen;
        for (int round = 0; round < KVC_SPINS + KVC_YIELDS; round++) {
            generation = generation_of(atomic_load_explicit(&pool->ticket, memory_order_acquire));
            if (generation != seen || atomic_load_explicit(&pool->stopping, memory_order_relaxed)) break;
            wait_round(round);
        }
        if (generation == seen) {
            // Sleep until a new job or stop. sleepers is raised before the ticket is re-read and the
            // caller reads sleepers after publishing (both sequentially consistent), so either this
            // thread sees the new ticket or the caller sees a sleeper and signals under the lock.
            pthread_mutex_lock(&pool->lock);
            atomic_fetch_add(&pool->sleepers, 1);
            while (generation_of(atomic_load(&pool->ticket)) == seen && !atomic_load(&pool->stopping)) {
                pthread_cond_wait(&pool->wake, &pool->lock);
            }
            atomic_fetch_sub(&pool->sleepers, 1);
            pthread_mutex_unlock(&pool->lock);
            generation = generation_of(atomic_load(&pool->ticket));
        }
        if (atomic_load(&pool->stopping)) return NULL;
        seen = generation;
        work(pool, generation);
    }
}

kvc_pool *kvc_pool_create(int32_t threads) {
    if (threads < 1) return NULL;
    kvc_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->threads = threads;
    atomic_init(&pool->ticket, 0);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->body, NULL);
    atomic_init(&pool->context, NULL);
    atomic_init(&pool->sleepers, 0);
    atomic_init(&pool->stopping, 0);
    atomic_flag_clear(&pool->busy);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pool->workers = calloc((size_t)(threads > 1 ? threads - 1 : 1), sizeof(pthread_t));
    if (!pool->workers) {
        free(pool);
        return NULL;
    }
    for (int32_t i = 0; i < threads - 1; i++) {
        if (pthread_create(&pool->workers[i], NULL, worker_main, pool) != 0) {
            pool->threads = i + 1;
            kvc_pool_destroy(pool);
            return NULL;
        }
    }
    return pool;
}

void kvc_pool_destroy(kvc_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->stopping, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int32_t i = 0; i < pool->threads - 1; i++) pthread_join(pool->workers[i], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    free(pool->workers);
    free(pool);
}

int32_t kvc_pool_threads(const kvc_pool *pool) { return pool->threads; }

int32_t kvc_available_cpus(void) {
#if defined(__linux__)
    cpu_set_t mask;
    if (sched_getaffinity(0, sizeof mask, &mask) == 0) {
        int count = CPU_COUNT(&mask);
        if (count > 0) return count;
    }
#endif
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int32_t)online : 1;
}

int32_t kvc_pool_run(kvc_pool *pool, int32_t count, kvc_pool_body body, void *context) {
    if (count > KVC_POOL_MAX_ITEMS) return -2;
    if (count <= 0) return 0;
    if (kvc_in_pool_job || atomic_flag_test_and_set_explicit(&pool->busy, memory_order_acquire)) return -1;
    // The previous job is complete (pending was 0 when its caller returned), so no thread reads
    // body or context until the new ticket is published.
    atomic_store_explicit(&pool->body, body, memory_order_relaxed);
    atomic_store_explicit(&pool->context, context, memory_order_relaxed);
    atomic_store_explicit(&pool->pending, count, memory_order_relaxed);
    uint64_t generation = (generation_of(atomic_load(&pool->ticket)) + 1) & ((UINT64_C(1) << 24) - 1);
    atomic_store(&pool->ticket, generation << GENERATION_SHIFT | (uint64_t)count << COUNT_SHIFT);
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->lock);
    }
    work(pool, generation);
    for (int round = 0; atomic_load_explicit(&pool->pending, memory_order_acquire) > 0; round++) {
        wait_round(round < KVC_SPINS ? round : KVC_SPINS);
    }
    atomic_flag_clear_explicit(&pool->busy, memory_order_release);
    return 0;
}
