// A pool of worker threads that spin between jobs, for the many short parallel loops of a decode
// step (about 150 per token for a 30-layer model, each tens of microseconds).
//
// Why: waking sleeping threads through the kernel (futex) costs microseconds per loop and showed as
// // a sixth of a batch-1 decode step with Dispatch's concurrentPerform. Workers here spin on an atomic
// ticket for a while after each job (pausing, then yielding the core so an oversubscribed machine
// still runs the threads with work) and only then sleep on a condition variable, as llama.cpp's
// ggml thread pool does.
#ifndef KVC_POOL_H
#define KVC_POOL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kvc_pool kvc_pool;

/// A job body: runs item `index` of the job with the caller's `context`.
typedef void (*kvc_pool_body)(void *context, int32_t index);

/// A pool of `threads - 1` workers (the calling thread is the last one); NULL when threads < 1 or
/// the threads cannot be started.
kvc_pool *kvc_pool_create(int32_t threads);
/// Stops and joins the workers.
void kvc_pool_destroy(kvc_pool *pool);
/// Number of threads that run a job, the caller included.
int32_t kvc_pool_threads(const kvc_pool *pool);

/// CPUs this process may run on (its affinity mask, as `taskset` or `kvc --threads` set it; the
/// online CPUs where there is no mask). A pool wider than this would spin against its own caller.
int32_t kvc_available_cpus(void);

/// Runs body(context, i) for i in [0, count) on the workers and the calling thread; returns when
/// all are done. Returns 0, or -1 without running anything when the pool is busy with another
/// caller's job or is called from inside one of its own jobs (the caller then runs the loop some
/// other way), or -2 when count exceeds KVC_POOL_MAX_ITEMS.
int32_t kvc_pool_run(kvc_pool *pool, int32_t count, kvc_pool_body body, void *context);

/// The largest item count of one job.
enum { KVC_POOL_MAX_ITEMS = (1 << 20) - 1 };

#ifdef __cplusplus
}
#endif

#endif
