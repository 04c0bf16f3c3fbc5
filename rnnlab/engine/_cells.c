/* rnnlab's compiled cell engine: the time loops of the RNN, LSTM and GRU cells in C.
 *
 * Python loads this module with ctypes (rnnlab/engine/__init__.py) and calls rn_run() once per
 * layer direction and pass; the arrays are NumPy's, passed as addresses. The loops themselves are in
 * _cells_impl.h, compiled here once per instruction set (AVX-512, AVX2 + FMA, plain C) and chosen at
 * run time. A small pool of POSIX threads runs each loop; the calling thread is thread 0.
 *
 * It is a Python extension module only so that setuptools builds and installs it; the module object
 * has no functions.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(RN_NO_X86)
#define RN_X86 1
#include <immintrin.h>
#else
#define RN_X86 0
#endif

#define RN_EXPORT __attribute__((visibility("default")))

/* ----- a spinning barrier (sense reversal), yielding the core after a while ------------------- */
typedef struct {
    atomic_int count;
    atomic_int sense;
} rn_barrier_t;

static inline void rn_pause(void)
{
#if RN_X86
    __builtin_ia32_pause();
#endif
}

static void rn_barrier(rn_barrier_t *b, int nt, int *local)
{
    if (nt <= 1) return;
    *local = !*local;
    if (atomic_fetch_add_explicit(&b->count, 1, memory_order_acq_rel) == nt - 1) {
        atomic_store_explicit(&b->count, 0, memory_order_relaxed);
        atomic_store_explicit(&b->sense, *local, memory_order_release);
        return;
    }
    for (long spins = 0; atomic_load_explicit(&b->sense, memory_order_acquire) != *local; spins++) {
        if (spins < 20000) rn_pause();
        else sched_yield();
    }
}

/* ----- one call's arguments -------------------------------------------------------------------- */
typedef struct {
    int T, N, H, reverse, relu;
    long dy_ts, dy_ns;               /* dy strides (elements) of time and batch */
    float *gates;                    /* (T, N, G H): forward x W in, activated gates out */
    const float *b, *b_hn, *U;       /* bias (G H), GRU b_hn (H), U (H, G H) */
    float *packed;                   /* scratch for the packed U */
    float *hs, *cs;                  /* (T + 1, N, H) carried states */
    float *aux;                      /* LSTM tanh(c_t), GRU q_t: (T, N, H) */
    float *y;                        /* (T, N, H) masked output, or NULL */
    const float *mask;               /* (T, N) of 0 / 1, or NULL */
    const float *dy;                 /* backward: dL/dy, strided */
    float *da, *dah;                 /* backward: (T, N, G H) */
    float *dh, *dc, *dhk;            /* backward: (N, H) running dh, dc, and dh's direct part */
    rn_barrier_t bar;
} rn_job;

/* The unit blocks (16 units each) of thread tid: [b0, b1). */
static void rn_units(int H, int tid, int nt, int *b0, int *b1)
{
    const int nb = (H + 15) / 16;
    *b0 = (int)((long)tid * nb / nt);
    *b1 = (int)((long)(tid + 1) * nb / nt);
}

/* ----- the loops, per instruction set ------------------------------------------------------------ */
#define RN_AVX512 0
#define SFX(name) name##_generic
#include "_cells_impl.h"
#undef SFX
#undef RN_AVX512

#if RN_X86
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define RN_AVX512 0
#define SFX(name) name##_avx2
#include "_cells_impl.h"
#undef SFX
#undef RN_AVX512
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
#define RN_AVX512 1
#define SFX(name) name##_avx512
#include "_cells_impl.h"
#undef SFX
#undef RN_AVX512
#pragma GCC pop_options
#endif

/* ----- the thread pool ------------------------------------------------------------------------- */
#define RN_MAX_THREADS 64
typedef void (*rn_fn)(rn_job *, int, int);

static pthread_mutex_t run_mu = PTHREAD_MUTEX_INITIALIZER;    /* one call at a time uses the pool */
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static int pool_n = 0;                                        /* workers started (threads 1 ..) */
static unsigned long pool_gen = 0;
static rn_fn pool_fn;
static rn_job *pool_job;
static int pool_nt;
static atomic_int pool_done;
static unsigned long pool_start_gen[RN_MAX_THREADS + 1];

static void *rn_worker(void *arg)
{
    const int tid = (int)(intptr_t)arg;
    unsigned long seen;
    pthread_mutex_lock(&pool_mu);
    seen = pool_start_gen[tid];        /* the generation current when it was created */
    pthread_mutex_unlock(&pool_mu);
    for (;;) {
        pthread_mutex_lock(&pool_mu);
        while (pool_gen == seen) pthread_cond_wait(&pool_cv, &pool_mu);
        seen = pool_gen;
        rn_fn fn = pool_fn;
        rn_job *job = pool_job;
        const int nt = pool_nt;
        pthread_mutex_unlock(&pool_mu);
        if (tid < nt) fn(job, tid, nt);
        atomic_fetch_add_explicit(&pool_done, 1, memory_order_acq_rel);
    }
    return NULL;
}

static void rn_after_fork(void)     /* a forked child has no workers: start afresh */
{
    pthread_mutex_init(&run_mu, NULL);
    pthread_mutex_init(&pool_mu, NULL);
    pthread_cond_init(&pool_cv, NULL);
    pool_n = 0;
}

static int rn_start_workers(int want)
{
    static int atfork_set = 0;
    if (!atfork_set) {
        pthread_atfork(NULL, NULL, rn_after_fork);
        atfork_set = 1;
    }
    while (pool_n < want) {
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_mutex_lock(&pool_mu);
        pool_start_gen[pool_n + 1] = pool_gen;
        const int ok = pthread_create(&th, &attr, rn_worker, (void *)(intptr_t)(pool_n + 1)) == 0;
        if (ok) pool_n++;
        pthread_mutex_unlock(&pool_mu);
        pthread_attr_destroy(&attr);
        if (!ok) break;
    }
    return pool_n + 1;
}

static void rn_parallel(rn_fn fn, rn_job *job, int nt)
{
    if (nt > 1 && pthread_mutex_trylock(&run_mu) == 0) {
        nt = rn_start_workers(nt - 1) < nt ? pool_n + 1 : nt;
        if (nt > 1) {
            atomic_store(&job->bar.count, 0);
            atomic_store(&job->bar.sense, 0);
            atomic_store(&pool_done, 0);
            pthread_mutex_lock(&pool_mu);
            pool_fn = fn;
            pool_job = job;
            pool_nt = nt;
            pool_gen++;
            pthread_cond_broadcast(&pool_cv);
            pthread_mutex_unlock(&pool_mu);
            fn(job, 0, nt);
            for (long spins = 0; atomic_load_explicit(&pool_done, memory_order_acquire) < pool_n; spins++) {
                if (spins < 20000) rn_pause();
                else sched_yield();
            }
            pthread_mutex_unlock(&run_mu);
            return;
        }
        pthread_mutex_unlock(&run_mu);
    }
    fn(job, 0, 1);                     /* one thread, or the pool is busy with another call */
}

/* ----- exported ---------------------------------------------------------------------------------- */

/* The best instruction set this CPU and OS support: 2 AVX-512, 1 AVX2 + FMA, 0 neither. */
RN_EXPORT int rn_isa(void)
{
#if RN_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

/* Run one loop: which = 0 LSTM forward, 1 LSTM backward, 2 GRU forward, 3 GRU backward,
 * 4 RNN forward, 5 RNN backward; isa as rn_isa() (never above it); I = T, N, H, reverse, relu,
 * dy_ts, dy_ns; P = the array addresses in rn_job's order (gates .. dhk). Returns 0, or -1 for
 * arguments out of range. */
RN_EXPORT int rn_run(int which, int isa, int nthreads, const int64_t *I, const uintptr_t *P)
{
    if (which < 0 || which > 5 || isa < 0 || isa > rn_isa()) return -1;
    rn_job job;
    memset(&job, 0, sizeof job);
    job.T = (int)I[0]; job.N = (int)I[1]; job.H = (int)I[2];
    job.reverse = (int)I[3]; job.relu = (int)I[4];
    job.dy_ts = (long)I[5]; job.dy_ns = (long)I[6];
    if (job.T < 1 || job.N < 1 || job.H < 1) return -1;
    job.gates = (float *)P[0]; job.b = (const float *)P[1]; job.b_hn = (const float *)P[2];
    job.U = (const float *)P[3]; job.packed = (float *)P[4];
    job.hs = (float *)P[5]; job.cs = (float *)P[6]; job.aux = (float *)P[7]; job.y = (float *)P[8];
    job.mask = (const float *)P[9]; job.dy = (const float *)P[10];
    job.da = (float *)P[11]; job.dah = (float *)P[12];
    job.dh = (float *)P[13]; job.dc = (float *)P[14]; job.dhk = (float *)P[15];
    const int nb = (job.H + 15) / 16;
    int nt = nthreads < 1 ? 1 : (nthreads > RN_MAX_THREADS ? RN_MAX_THREADS : nthreads);
    if (nt > nb) nt = nb;
    rn_fn fn = jobs_generic[which];
#if RN_X86
    if (isa == 2) fn = jobs_avx512[which];
    else if (isa == 1) fn = jobs_avx2[which];
#endif
    rn_parallel(fn, &job, nt);
    return 0;
}

/* Floats of scratch rn_run needs for the packed U of a cell with G gate blocks and H units. */
RN_EXPORT int64_t rn_packed_size(int G, int H)
{
    return (int64_t)((H + 15) / 16) * 16 * G * H;
}

static struct PyModuleDef rn_module = {PyModuleDef_HEAD_INIT, "_cells",
                                       "rnnlab's compiled cell loops (loaded with ctypes).", -1, NULL};

PyMODINIT_FUNC PyInit__cells(void) { return PyModule_Create(&rn_module); }
