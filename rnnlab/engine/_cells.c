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

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(RN_NO_X86)
#define RN_X86 1
#include <immintrin.h>
#else
#define RN_X86 0
#endif

#define RN_EXPORT __attribute__((visibility("default")))

/* GCC turns a loop of loads and stores (even of vectors) into a memcpy or memset call; the loops
 * here move 16 to 64 floats at a time (a product tile's row), where the call costs more than the
 * move (glibc's memcpy, __memmove_avx512_unaligned_erms in perf, was 6% of a (28, 64, 28, 128) LSTM
 * training step). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

static inline void rn_pause(void)
{
#if RN_X86
    __builtin_ia32_pause();
#endif
}

/* Spin a little, then give the core away: on a loaded machine the thread we wait for may need it. */
static inline void rn_spin(long *spins)
{
    if (++*spins < 4000) rn_pause();
    else sched_yield();
}

/* ----- one call's arguments -------------------------------------------------------------------- */
typedef struct {
    int T, N, H, D, reverse, act;     /* act: the RNN's phi, 0 tanh, 1 relu, 2 identity */
    long dy_ts, dy_ns;               /* dy strides (elements) of time and batch */
    const float *x, *W;              /* forward: x (T, N, D), W (D, G H) */
    float *gates;                    /* (T, N, G H): forward out, the activated gates */
    const float *b, *b_hn, *U;       /* bias (G H), GRU b_hn (H), U (H, G H) */
    float *packed;                   /* scratch for the packed [W; U] or U^T */
    float *hs, *cs;                  /* (T + 1, N, H) carried states; or, in an LSTM inference with
                                        h_ts > 0, hs the output y (T, N, H) with strides h_ts, h_ns and
                                        cs two slots (2, N, H) that c_t alternates between */
    long h_ts, h_ns;                 /* y's strides (elements) of time and batch, or 0 (hs as above) */
    const float *h0;                 /* (N, H) the initial h when h_ts > 0 (hs has no slot for it) */
    float *aux;                      /* LSTM tanh(c_t), GRU q_t: (T, N, H); the plain LSTM without a mask
                                        keeps none (NULL: its backward computes tanh(c_t) again) */
    float *y;                        /* (T, N, H) masked output, or NULL; the LSTM's forward (which 0)
                                        also writes it without a mask: y_t = h_t (the layer's output) */
    long y_ts, y_ns;                 /* y's strides (elements) of time and batch (rn_run: N P and P
                                        unless given; given only to the LSTM's forward) */
    long dx_ts, dx_ns;               /* dx's strides (elements) of time and batch (rn_run: N D and D
                                        unless given, e.g. a batch-first (N, T, D) array's) */
    int dx_add;                      /* 1: dx += da W^T (a second direction's part), 0: dx = da W^T */
    int dhk_zero;                    /* the backward's dh_{t-1} has no direct part (the plain LSTM without
                                        a mask): dhk is neither written nor read */
    const float *mask;               /* (T, N) of 0 / 1, or NULL */
    const float *dy;                 /* backward: dL/dy, strided */
    float *da, *dah;                 /* backward: (T, N, G H) */
    float *dh, *dc, *dhk;            /* backward: (N, H) running dh, dc, and dh's direct part */
    float *dW, *dU, *db, *dbh, *dx;  /* backward: the gradients (D, G H), (H, G H), (G H), (G H) or
                                        NULL (GRU: da_h's column sums), (T, N, D) */
    /* LSTM variants (lstm_variants.py) and zoneout (regularizers.py); vflags 0: the plain cell */
    int vflags;                      /* RN_PEEP | RN_CLIP | RN_CIFG | RN_ZONE | RN_HARD */
    float clip;                      /* cell_clip (with RN_CLIP) */
    float slope;                     /* the hard sigmoid's slope, 1/6 or 0.2 (with RN_HARD) */
    const float *peep;               /* (3 H) peephole weights p_i, p_f, p_o (with RN_PEEP) */
    const float *zh, *zc;            /* (N, H) zoneout's d of h and c, or NULL (with RN_ZONE) */
    float *dp;                       /* backward: (3 H) peephole gradients, summed into */
    float *chat;                     /* (T, N, H) c^_t before zoneout, or NULL (zoneout with RN_PEEP
                                        or RN_CLIP: their backward reads c^_t) */
    atomic_long *claim1, *claim2;    /* per work item: the last phase that claimed it */
    atomic_long done;                /* work items finished, over all phases */
    /* recurrent dropout (regularizers.py [1]) and the LSTM's gate_clip (lstm_variants.py [2]) */
    const float *sr;                 /* (N, H) recurrent dropout's s_r (with RN_RDROP) */
    float *hd;                       /* (T + 1, N, H) h~ = h s_r, laid out as hs (with RN_RDROP): the
                                        forward writes it, the products and dU read it */
    float gclip;                     /* gate_clip (with RN_GCLIP) */
    uint16_t *gkeep;                 /* (T, N, 4, nb) bits [|a| < gate_clip], bit l of word (t, n, g, k)
                                        for unit 16 k + l of gate g; or NULL (an inference) */
    /* proj_size (lstm_variants.py [5]; the loops lstmp_fwd / lstmp_bwd, with RN_PROJ): h has width P */
    int P;                           /* the width of h (proj_size) */
    const float *Whr;                /* W_hr (H, P) */
    float *m;                        /* m_t = o tanh(c_t): (T, N, H), or (N, H) when the forward keeps no cache */
    float *dWhr;                     /* backward: dW_hr (H, P) */
    float *dhs;                      /* backward: (T, N, P) the whole gradient at h^_t, per step */
    float *packed_r;                 /* scratch for the packed W_hr (forward) or W_hr^T (backward) */
    /* layer normalization (RN_LN; lstm_variants.py [6], gru_variants.py [L]); G H: the gate columns */
    const float *gx, *gh;            /* gains g_x, g_h (G H) */
    const float *gc, *bc;            /* LSTM: g_c, b_c (H) */
    float *nx, *sx;                  /* (T, N, G H) n of LN(x W), (T, N) its s, or NULL (inference) */
    float *nh, *sh;                  /* (T, N, G H), (T, N): LN(h U)'s n and s, or NULL (inference) */
    float *mc, *sc;                  /* LSTM: (T, N) mean and s of c^_t, or NULL (inference) */
    float *dgx, *dgh, *dgc, *dbc;    /* backward: the gains' and b_c's gradients */
    float *lnw;                      /* scratch of the layer-norm loops (rn_run allocates it) */
    float *xw;                       /* scratch: the LSTM forward's x_t W of RN_XW_STEPS steps at small N (rn_run
                                        allocates it; RN_XW_ROWS), tile by tile, or NULL */
} rn_job;

#define RN_PEEP 1                    /* peepholes: a_i, a_f += p c_{t-1}, a_o += p_o c_t */
#define RN_CLIP 2                    /* cell_clip: c_t = clip(c, -x, x) */
#define RN_CIFG 4                    /* input_forget: f = 1 - i */
#define RN_ZONE 8                    /* zoneout: s_t = d s_{t-1} + (1 - d) s^_t */
#define RN_HARD 16                   /* hard-sigmoid gates: sigma(a) = clip(slope a + 1/2, 0, 1) */
#define RN_RDROP 32                  /* recurrent dropout: the product reads h~_{t-1} = h_{t-1} s_r */
#define RN_GCLIP 64                  /* gate_clip: every gate pre-activation clipped to [-x, x] */
#define RN_ACT_TANH 0                /* the RNN's phi (rn_job.act) */
#define RN_ACT_RELU 1
#define RN_ACT_IDENTITY 2
#define RN_PROJ 128                  /* proj_size: h_t = (o tanh(c_t)) W_hr (the loops lstmp_fwd, lstmp_bwd) */
#define RN_LSTMP_FWD 6               /* rn_run's which of the projected LSTM's loops */
#define RN_LSTMP_BWD 7
#define RN_LN 256                    /* layer_norm: LN(x W) g_x + b + LN(h U) g_h (the LSTM also LN(c_t)) */
#ifndef RN_XW_ROWS
#define RN_XW_ROWS 2                 /* at most this many batch rows, the LSTM forward computes x_t W
                                        ahead of the steps that read it (the first steps' right after packing
                                        each block), so that a step reads only U's panels: at small batch a step is
                                        bound by reading the packed weights, not by arithmetic. Same sums
                                        in the same order (kern_c0), so the same bits */
#endif
#ifndef RN_XW_STEPS
#define RN_XW_STEPS 128              /* ... for this many steps at a time, one phase each: the scratch is
                                        bounded by RN_XW_STEPS N 4H floats, not T N 4H */
#endif
#define RN_PART_ALIGN (RN_AVX512 ? 1 : 6)   /* rows a part of the split by rows starts at a multiple of: the
                                        AVX-512 kernel's rows are independent sums whatever its blocks;
                                        the AVX2 and plain-C kernels' blocks of 6 must start where the
                                        unit-block split's do (the compiler vectorizes them per row
                                        count) */
#define RN_FLOOR (1 << 14)           /* the LSTM loops' matrix products and work split alone, no elementwise
                                        work (benchmarks' floor; the results are not the cell's) */

/* ----- sharing a phase's work items between threads ---------------------------------------------
 * A call is a sequence of phases (pack U, then one or two per time step); each phase has n work
 * items. Every thread runs the same sequence of phases; in each it claims items (compare-and-swap
 * of the item's last claiming phase), starting at its own share and going round, then waits until
 * all n are done. A thread that starts late or is descheduled finds the items taken and catches up
 * without computing anything. */
typedef struct {
    int tid, nt;
    long ph;          /* current phase, from 1 */
    long target;      /* items done when this phase is complete */
    int n, j;         /* the phase's item count; items this thread has looked at */
} rn_sync;

static inline void rn_phase(rn_sync *S, int n)
{
    S->ph++;
    S->target += n;
    S->n = n;
    S->j = 0;
}

#ifdef RN_COUNT                      /* debug builds (-DRN_COUNT): work items claimed per thread */
static atomic_long rn_counts_[64];
RN_EXPORT long rn_count(int tid) { return atomic_exchange(&rn_counts_[tid], 0); }
#define RN_COUNTED(tid) atomic_fetch_add_explicit(&rn_counts_[tid], 1, memory_order_relaxed)
#else
#define RN_COUNTED(tid) ((void)0)
#endif

static inline int rn_claim(atomic_long *claim, rn_sync *S)
{
    const int start = (int)((long)S->tid * S->n / S->nt);
    while (S->j < S->n) {
        const int i = (start + S->j++) % S->n;
        long old = atomic_load_explicit(&claim[i], memory_order_relaxed);
        if (old < S->ph && atomic_compare_exchange_strong(&claim[i], &old, S->ph)) {
            RN_COUNTED(S->tid);
            return i;
        }
    }
    return -1;
}

static inline void rn_done(rn_job *J) { atomic_fetch_add_explicit(&J->done, 1, memory_order_release); }

static inline void rn_wait(rn_job *J, rn_sync *S)
{
    long spins = 0;
    while (atomic_load_explicit(&J->done, memory_order_acquire) < S->target) rn_spin(&spins);
}

/* The two work splits of a time loop. By unit blocks: every step is a phase whose items are the
 * hidden units' blocks, each with all batch rows, and ends with a wait (the next step's product reads
 * all of h_t). By rows: the batch rows are cut into nt parts, each part one item of a single phase
 * that runs all the steps for those rows, with no wait in the time loop (a row's recurrence reads
 * only its own row; the packed weights are shared, read only); each thread then streams all of the
 * packed weights every step rather than its blocks' share. The loops split by rows when every
 * thread has rn_rows_min rows or more (the same bits either way: rows are independent sums, and the
 * parts start where a block of the unit-block split starts). rn_set_rows_min sets the rule (tests
 * force each split) and returns the old value; rn_row_runs_taken returns the loops run by rows since
 * it was last called.
 * Measured (2 threads, training, alternating with a build that split by unit blocks only): the LSTM
 * rows of the benchmark grid took 0.88-1.02 of the time (geometric mean 0.96), the GRU's and RNN's
 * 0.62-0.93, most on the shortest steps (where the per-step wait, and each core reading the h_{t-1}
 * rows the other wrote, weigh most), nearly all of it in the backward; inference 0.99-1.01. */
static atomic_int rn_rows_min = 6;
RN_EXPORT int rn_set_rows_min(int k) { return atomic_exchange(&rn_rows_min, k); }
static atomic_long rn_row_runs;        /* loops (forward or backward) that split by rows */
RN_EXPORT long rn_row_runs_taken(void) { return atomic_exchange(&rn_row_runs, 0); }

/* Whether a loop over N rows on nt threads splits by rows (thread tid counts it once). */
static inline int rn_by_rows(long N, int tid, int nt)
{
    const int rows = N >= (long)atomic_load_explicit(&rn_rows_min, memory_order_relaxed) * nt;
    if (rows && tid == 0) atomic_fetch_add_explicit(&rn_row_runs, 1, memory_order_relaxed);
    return rows;
}

/* A time loop's rows and its steps' work items under either split:
 *   rn_parts P = rn_parts_begin(S, by_rows, N, align);
 *   while (rn_parts_next(J, claim, S, &P)) {         -- rows P.n0 .. P.n1 - 1
 *       for each step: rn_items_begin(S, &P, n);
 *                      for (i; (i = rn_item(claim, S, &P)) >= 0; rn_item_done(J, &P)) ...
 *                      rn_items_end(J, S, &P);
 *   }
 *   rn_parts_end(J, S, &P);
 * By unit blocks there is one part (all rows) and each step's items are claimed and waited for; by
 * rows each thread claims parts (rows of part c: whole blocks of align rows, nearly even) and runs
 * all items of every step itself. */
typedef struct {
    int by_rows, N, align;
    int part, n0, n1;        /* the current part and its rows */
    int next, n;             /* by rows: the step's next item and item count */
} rn_parts;

static inline rn_parts rn_parts_begin(rn_sync *S, int by_rows, int N, int align)
{
    rn_parts P = {by_rows, N, align, -1, 0, 0, 0, 0};
    if (by_rows) rn_phase(S, S->nt);
    return P;
}

static inline int rn_parts_next(rn_job *J, atomic_long *claim, rn_sync *S, rn_parts *P)
{
    if (!P->by_rows) {
        if (P->part >= 0) return 0;
        P->part = 0, P->n0 = 0, P->n1 = P->N;
        return 1;
    }
    if (P->part >= 0) rn_done(J);
    if ((P->part = rn_claim(claim, S)) < 0) return 0;
    const long blocks = (P->N + P->align - 1) / P->align;
    P->n0 = (int)(blocks * P->part / S->nt) * P->align;
    P->n1 = (int)(blocks * (P->part + 1) / S->nt) * P->align;
    if (P->n1 > P->N) P->n1 = P->N;
    return 1;
}

static inline void rn_parts_end(rn_job *J, rn_sync *S, const rn_parts *P)
{
    if (P->by_rows) rn_wait(J, S);
}

static inline void rn_items_begin(rn_sync *S, rn_parts *P, int n)
{
    if (P->by_rows) P->next = 0, P->n = n;
    else rn_phase(S, n);
}

static inline int rn_item(atomic_long *claim, rn_sync *S, rn_parts *P)
{
    if (P->by_rows) return P->next < P->n ? P->next++ : -1;
    return rn_claim(claim, S);
}

static inline void rn_item_done(rn_job *J, const rn_parts *P)
{
    if (!P->by_rows) rn_done(J);
}

static inline void rn_items_end(rn_job *J, rn_sync *S, const rn_parts *P)
{
    if (!P->by_rows) rn_wait(J, S);
}

#ifdef RN_TIME                       /* debug builds (-DRN_TIME): phase times on stderr */
#include <stdio.h>
static long rn_tnow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}
#endif

/* ----- the loops, per instruction set ------------------------------------------------------------ */
#define RN_GEN(name) name##_generic  /* the plain-C instantiation (the layer-norm loops' last units) */
#define RN_AVX512 0
#define RN_AVX2 0
#define SFX(name) name##_generic
#include "_cells_impl.h"
#undef SFX
#undef RN_AVX2
#undef RN_AVX512

#if RN_X86
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define RN_AVX512 0
#define RN_AVX2 1
#define SFX(name) name##_avx2
#include "_cells_impl.h"
#undef SFX
#undef RN_AVX2
#undef RN_AVX512
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
#define RN_AVX512 1
#define RN_AVX2 0
#define SFX(name) name##_avx512
#include "_cells_impl.h"
#undef SFX
#undef RN_AVX2
#undef RN_AVX512
#pragma GCC pop_options
#endif

/* ----- the thread pool -------------------------------------------------------------------------
 * Between calls a worker first spins for RN_IDLE_SPIN_NS, watching the call number, then sleeps on
 * a condition variable. The spin covers the gap between the calls of one training step (forward,
 * backward, the next layer, a few Python lines each): a sleeping worker takes tens of microseconds
 * or more to wake, and until then the calling thread does every block alone. It yields the core
 * while it spins, so another runnable thread there is not starved. A call publishes its job and wakes them;
 * each worker that wakes while the call is still open joins it (pool_active counts them, stamped
 * with the call's number), and the caller, once every item is done, closes the call and waits only
 * for the workers that joined. So a worker that wakes late never holds the caller up. */
#define RN_MAX_THREADS 64
typedef void (*rn_fn)(rn_job *, int, int);
#define RN_CLOSED (1L << 20)

static pthread_mutex_t run_mu = PTHREAD_MUTEX_INITIALIZER;    /* one call at a time uses the pool */
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static int pool_n = 0;                                        /* workers started (threads 1 ..) */
static atomic_long pool_gen = 0;
#define RN_IDLE_SPIN_NS 2000000L

static long rn_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}
static rn_fn pool_fn;
static rn_job *pool_job;
static int pool_nt;
static atomic_long pool_active;        /* (call number << 21) | closed bit | workers inside */
static long pool_start_gen[RN_MAX_THREADS + 1];
static pthread_t pool_th[RN_MAX_THREADS + 1];                 /* workers 1 .. pool_n */
static int pool_cpu[RN_MAX_THREADS + 1];                      /* the CPU each is pinned to, or -1 */

static void *rn_worker(void *arg)
{
    const int tid = (int)(intptr_t)arg;
    long seen;
    pthread_mutex_lock(&pool_mu);
    seen = pool_start_gen[tid];        /* the call number current when it was created */
    pthread_mutex_unlock(&pool_mu);
    for (;;) {
        if (atomic_load(&pool_gen) == seen) {
            const long until = rn_now_ns() + RN_IDLE_SPIN_NS;
            for (int i = 1; atomic_load(&pool_gen) == seen; i++) {
                rn_pause();
                if (i % 256 == 0) {
                    if (rn_now_ns() > until) break;
                    sched_yield();
                }
            }
        }
        pthread_mutex_lock(&pool_mu);
        while (atomic_load(&pool_gen) == seen) pthread_cond_wait(&pool_cv, &pool_mu);
        seen = atomic_load(&pool_gen);
        rn_fn fn = pool_fn;
        rn_job *job = pool_job;
        const int nt = pool_nt;
        pthread_mutex_unlock(&pool_mu);
        if (tid >= nt) continue;
        long v = atomic_load(&pool_active);
        int joined = 0;
        while ((v >> 21) == seen && !(v & RN_CLOSED))
            if (atomic_compare_exchange_weak(&pool_active, &v, v + 1)) { joined = 1; break; }
        if (!joined) continue;         /* the call is over (or another began): nothing to do */
        fn(job, tid, nt);
        atomic_fetch_sub(&pool_active, 1);
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
    while (pool_n < want && pool_n < RN_MAX_THREADS - 1) {
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_mutex_lock(&pool_mu);
        pool_start_gen[pool_n + 1] = pool_gen;
        const int ok = pthread_create(&th, &attr, rn_worker, (void *)(intptr_t)(pool_n + 1)) == 0;
        if (ok) {
            pool_n++;
            pool_th[pool_n] = th;
            pool_cpu[pool_n] = -1;
        }
        pthread_mutex_unlock(&pool_mu);
        pthread_attr_destroy(&attr);
        if (!ok) break;
    }
    return pool_n + 1;
}

/* Pin worker k (1 .. nt-1) to the k-th usable CPU other than the caller's, for this call.
 * Measured on a 2-core machine where other processes kept one core busy: left to the scheduler, the
 * worker woke on the caller's own core (the wake-up places it beside its waker when no core is idle)
 * and the two time-shared one core: the worker claimed 1% of the blocks and the call ran at one
 * thread's speed. Pinned apart, each shares its core only with the other processes. The affinity
 * changes only when the caller has moved; a process affinity (taskset) is respected. */
static void rn_place_workers(int nt)
{
    cpu_set_t allowed;
    const int me = sched_getcpu();
    if (me < 0 || sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
    int cpu = -1;
    for (int k = 1; k < nt; k++) {
        do cpu++; while (cpu < CPU_SETSIZE && (!CPU_ISSET(cpu, &allowed) || cpu == me));
        if (cpu >= CPU_SETSIZE) return;             /* fewer CPUs than threads: leave the rest free */
        if (pool_cpu[k] != cpu) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            pool_cpu[k] = pthread_setaffinity_np(pool_th[k], sizeof one, &one) == 0 ? cpu : -1;
        }
    }
}

static void rn_parallel(rn_fn fn, rn_job *job, int nt)
{
    if (nt > 1 && pthread_mutex_trylock(&run_mu) == 0) {
        const int have = rn_start_workers(nt - 1);
        if (have < nt) nt = have;
        if (nt > 1) {
            rn_place_workers(nt);
            pthread_mutex_lock(&pool_mu);
            pool_fn = fn;
            pool_job = job;
            pool_nt = nt;
            pool_gen++;
            atomic_store(&pool_active, pool_gen << 21);
            pthread_cond_broadcast(&pool_cv);
            pthread_mutex_unlock(&pool_mu);
            fn(job, 0, nt);                    /* returns when every item of the call is done */
            long v = atomic_fetch_or(&pool_active, RN_CLOSED) | RN_CLOSED, spins = 0;
            while ((v & (RN_CLOSED - 1)) != 0) {
                rn_spin(&spins);
                v = atomic_load(&pool_active);
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

/* The arrays a layer-norm call (RN_LN) reads and writes: the forward keeps its cache (nh .. sc, and
 * the LSTM's c^_t in chat with zoneout of c) when it keeps the gates; the backward reads that cache. */
static int rn_ln_args_ok(const rn_job *J, int which)
{
    if (which > 3 || !J->gx || !J->gh) return 0;
    const int lstm = which < 2, bwd = which & 1;
    if (lstm && (!J->gc || !J->bc)) return 0;
    if ((bwd || J->gates) && (!J->nx || !J->sx || !J->nh || !J->sh || (lstm && (!J->mc || !J->sc)))) return 0;
    if (lstm && J->zc && (bwd || J->gates) && !J->chat) return 0;       /* c^_t, which cs lacks */
    if (bwd && (!J->dgx || !J->dgh || !J->da || !J->dah || !J->db || (lstm && (!J->dgc || !J->dbc))
                || (!lstm && !J->dbh)))
        return 0;
    return 1;
}

/* Run one loop: which = 0 LSTM forward, 1 LSTM backward, 2 GRU forward, 3 GRU backward,
 * 4 RNN forward, 5 RNN backward, 6 LSTM with projection forward, 7 its backward (with RN_PROJ);
 * isa as rn_isa() (never above it); I = T, N, H, reverse, act, dy_ts, dy_ns, D, vflags, P (the
 * projection's width), h_ts, h_ns (lstm_infer's output), y_ts, y_ns, dx_ts, dx_ns (strides, 0 for
 * contiguous), dx_add (rn_job's); P = the array addresses in rn_job's order (gates .. dhk), then x, W, dW,
 * dU, db, dbh, dx, then peep, zh, zc, dp, the address of one float (cell_clip), chat, the address of
 * one float (the hard sigmoid's slope), sr, hd, the address of one float (gate_clip), gkeep, then
 * W_hr, m, dW_hr, dhs (the projection's; packed then holds rn_proj_packed_size floats), then (RN_LN)
 * gx, gh, gc, bc, nx, sx, nh, sh, mc, sc, dgx, dgh, dgc, dbc.
 * Returns 0, or -1 for arguments out of range, -2 when out of memory. */
RN_EXPORT int rn_run(int which, int isa, int nthreads, const int64_t *I, const uintptr_t *P)
{
    if (which < 0 || which > 7 || isa < 0 || isa > rn_isa()) return -1;
    rn_job job;
    memset(&job, 0, sizeof job);
    job.T = (int)I[0]; job.N = (int)I[1]; job.H = (int)I[2];
    job.reverse = (int)I[3]; job.act = (int)I[4];
    job.dy_ts = (long)I[5]; job.dy_ns = (long)I[6]; job.D = (int)I[7];
    if (job.T < 1 || job.N < 1 || job.H < 1 || job.D < 0) return -1;
    job.gates = (float *)P[0]; job.b = (const float *)P[1]; job.b_hn = (const float *)P[2];
    job.U = (const float *)P[3]; job.packed = (float *)P[4];
    job.hs = (float *)P[5]; job.cs = (float *)P[6]; job.aux = (float *)P[7]; job.y = (float *)P[8];
    job.mask = (const float *)P[9]; job.dy = (const float *)P[10];
    job.da = (float *)P[11]; job.dah = (float *)P[12];
    job.dh = (float *)P[13]; job.dc = (float *)P[14]; job.dhk = (float *)P[15];
    job.x = (const float *)P[16]; job.W = (const float *)P[17];
    job.dW = (float *)P[18]; job.dU = (float *)P[19]; job.db = (float *)P[20]; job.dbh = (float *)P[21];
    job.dx = (float *)P[22];
    job.vflags = (int)I[8];
    job.h_ts = (long)I[10]; job.h_ns = (long)I[11]; job.h0 = (const float *)P[52];
    job.y_ts = (long)I[12]; job.y_ns = (long)I[13]; job.dx_ts = (long)I[14]; job.dx_ns = (long)I[15];
    job.dx_add = (int)I[16];
    if (job.y_ts < 0 || job.y_ns < 0 || !job.y_ts != !job.y_ns || job.dx_ts < 0 || job.dx_ns < 0
        || !job.dx_ts != !job.dx_ns || job.dx_add < 0 || job.dx_add > 1 || (job.dx_add && !job.dx))
        return -1;
    if (job.h_ts < 0 || job.h_ns < 0 || !job.h_ts != !job.h0) return -1;
    if (job.h_ts && (which != 0 || job.gates || job.aux || job.mask || job.y || job.h_ns < job.H || !job.cs
                     || (job.vflags & (RN_RDROP | RN_LN | RN_FLOOR | RN_PROJ))))
        return -1;                   /* the strided output: the LSTM's inference, no mask, no own loop */
    job.peep = (const float *)P[23]; job.zh = (const float *)P[24]; job.zc = (const float *)P[25];
    job.dp = (float *)P[26];
    job.clip = P[27] ? *(const float *)P[27] : 0.0f;
    job.chat = (float *)P[28];
    job.slope = P[29] ? *(const float *)P[29] : 0.0f;
    job.sr = (const float *)P[30]; job.hd = (float *)P[31];
    job.gclip = P[32] ? *(const float *)P[32] : 0.0f;
    job.gkeep = (uint16_t *)P[33];
    /* proj_size: the loops 6 and 7, which take the LSTM's options but gate_clip and recurrent dropout */
    const int proj = which == RN_LSTMP_FWD || which == RN_LSTMP_BWD;
    job.P = proj ? (int)I[9] : job.H;
    if (job.y_ts && (which != 0 || !job.y || job.y_ns < job.P || (job.vflags & (RN_LN | RN_FLOOR))))
        return -1;                   /* a strided y: the LSTM's own forward loop only */
    if (!job.y_ts) { job.y_ts = (long)job.N * job.P; job.y_ns = job.P; }
    if (job.dx_ts && job.dx_ns < job.D) return -1;
    if (!job.dx_ts) { job.dx_ts = (long)job.N * job.D; job.dx_ns = job.D; }
    job.Whr = (const float *)P[34]; job.m = (float *)P[35]; job.dWhr = (float *)P[36]; job.dhs = (float *)P[37];
    if (!(job.vflags & RN_PROJ) != !proj || job.P < 1) return -1;
    if (proj && (!job.Whr || !job.m || !job.hs || !job.cs || (which == RN_LSTMP_BWD && (!job.dWhr || !job.dhs))))
        return -1;
    if (proj && (job.vflags & (RN_RDROP | RN_GCLIP))) return -1;
    job.gx = (const float *)P[38]; job.gh = (const float *)P[39];
    job.gc = (const float *)P[40]; job.bc = (const float *)P[41];
    job.nx = (float *)P[42]; job.sx = (float *)P[43]; job.nh = (float *)P[44]; job.sh = (float *)P[45];
    job.mc = (float *)P[46]; job.sc = (float *)P[47];
    job.dgx = (float *)P[48]; job.dgh = (float *)P[49]; job.dgc = (float *)P[50]; job.dbc = (float *)P[51];
    if (job.vflags & ~(RN_PEEP | RN_CLIP | RN_CIFG | RN_ZONE | RN_HARD | RN_RDROP | RN_GCLIP | RN_PROJ | RN_LN
                       | RN_FLOOR))
        return -1;
    if ((job.vflags & RN_LN) && (proj || (job.vflags & (RN_RDROP | RN_GCLIP)) || !rn_ln_args_ok(&job, which)))
        return -1;
    if (job.act < 0 || job.act > 2 || (job.act && (which < 4 || proj))) return -1;
    if (job.vflags & RN_RDROP ? !job.sr || !job.hd : job.sr || job.hd) return -1;
    if ((job.vflags & RN_GCLIP) && (which > 1 || !(job.gclip > 0.0f) || (which == 1 && !job.gkeep))) return -1;
    if (!(job.vflags & RN_GCLIP)) job.gkeep = 0;
    if ((job.vflags & RN_FLOOR) && (job.vflags != RN_FLOOR || which > 1)) return -1;
    if (job.vflags & (RN_PEEP | RN_CLIP | RN_CIFG) && which > 1 && !proj) return -1;     /* LSTM options */
    if (job.vflags & RN_HARD && which > 3 && !proj) return -1;                          /* LSTM and GRU gates */
    if ((job.vflags & RN_HARD) && !(job.slope > 0.0f)) return -1;
    if ((job.vflags & RN_PEEP) && !job.peep) return -1;
    if ((job.vflags & RN_PEEP) && (which == 1 || which == RN_LSTMP_BWD) && !job.dp) return -1;
    if ((job.vflags & RN_CLIP) && !(job.clip > 0.0f)) return -1;
    if ((job.vflags & RN_ZONE) && (job.vflags & (RN_PEEP | RN_CLIP)) && (which == 1 || which == RN_LSTMP_BWD)
        && !job.chat) return -1;
    job.dhk_zero = which == 1 && !job.mask && (!job.vflags || job.vflags == RN_FLOOR);
    if (which == 1 && !job.aux && (job.mask || (job.vflags & ~(RN_FLOOR | RN_LN))))
        return -1;                   /* tanh(c_t) is computed again only in the plain loop without a mask */
    const int nb = (job.H + 15) / 16;
    int nt = nthreads < 1 ? 1 : (nthreads > RN_MAX_THREADS ? RN_MAX_THREADS : nthreads);
    if (nt > nb) nt = nb;
    static const int gates_of[8] = {4, 4, 3, 3, 1, 1, 4, 4};
    long items = proj ? lstmp_items_generic((long)job.T * job.N, job.H, job.P, job.D)
                      : weight_grad_items_generic((long)job.T * job.N, gates_of[which], job.H, job.D);
    if (items < nb) items = nb;
    if (proj) job.packed_r = job.packed + lstmp_packed_part_generic(job.H, job.P, job.D);
    float *lnw = 0;
    if (which == 0 && job.N <= RN_XW_ROWS && job.T > 1 && !(job.vflags & RN_LN)) {
        lnw = malloc(sizeof(float) * (size_t)(job.T < RN_XW_STEPS ? job.T : RN_XW_STEPS) * job.N * nb * 64);
        if (!lnw) return -2;
        job.xw = lnw;
    }
    if (job.vflags & RN_LN) {        /* the layer-norm loops' scratch (ln_scratch) */
        lnw = malloc(sizeof(float) * (size_t)ln_scratch_generic(job.N, gates_of[which], job.H));
        if (!lnw) return -2;
        job.lnw = lnw;
    }
    atomic_long *claims = calloc((size_t)nb + (size_t)items, sizeof *claims);   /* zero: never claimed */
    if (!claims) { free(lnw); return -2; }
    job.claim1 = claims;
    job.claim2 = claims + nb;
    atomic_init(&job.done, 0);
    rn_fn fn = jobs_generic[which];
#if RN_X86
    if (isa == 2) fn = jobs_avx512[which];
    else if (isa == 1) fn = jobs_avx2[which];
#endif
    rn_parallel(fn, &job, nt);
    free(claims);
    free(lnw);
    return 0;
}

/* Floats of scratch rn_run needs for the packed [W; U] (and U^T) of a cell with G gate blocks,
 * H units and D inputs. */
RN_EXPORT int64_t rn_packed_size(int G, int H, int D)
{
    return (int64_t)((H + 15) / 16) * 16 * G * ((int64_t)H + D);
}

/* Floats of scratch rn_run needs for the projected LSTM's loops (6, 7): the packed [W; U], U^T and
 * W^T, then the packed W_hr or W_hr^T; H units, P = proj_size, D inputs. */
RN_EXPORT int64_t rn_proj_packed_size(int H, int P, int D)
{
    return lstmp_packed_part_generic(H, P, D) + lstmp_packed_r_generic(H, P);
}

static struct PyModuleDef rn_module = {PyModuleDef_HEAD_INIT, "_cells",
                                       "rnnlab's compiled cell loops (loaded with ctypes).", -1, NULL};

PyMODINIT_FUNC PyInit__cells(void) { return PyModule_Create(&rn_module); }
