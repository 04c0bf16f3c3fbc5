/* The time loops of the RNN, LSTM and GRU cells, forward and backward, for one instruction set.
 *
 * _cells.c includes this file once per instruction set, with SFX(name) naming its functions and
 * RN_AVX512 set where the micro-kernel is written with AVX-512 intrinsics (elsewhere it is plain C
 * that the compiler vectorizes for the target of the surrounding `#pragma GCC target`), and RN_AVX512
 * or RN_AVX2 choosing the vector type of the elementwise loops.
 *
 * Work split (after oneDNN's and LIBXSMM's RNNs): the forward runs each step's [x_t, h_{t-1}] [W; U]
 * over the weights packed once per call, with the step's elementwise work done right after the
 * product, on the tile that the product has just written; the backward runs each step's da_t U^T
 * likewise, then the weight gradients merged over time (dW, dU, db, dx: one product each over all
 * steps). Every product runs in the micro-kernel below, on the engine's own threads; no BLAS call.
 * The time loops split their work in one of two ways (_cells.c, "The two work splits"): with 6 batch
 * rows per thread or more, by rows: each thread takes a part of the rows through every step, all
 * units, with no wait between threads in the time loop; with fewer, by unit blocks: each step's
 * blocks of 16 hidden units with all their gates (the backward's panels of 64), all rows, so that
 * the thread that computes a block's product also finishes those units' state, and a step waits
 * until all of its blocks are done. Either way work items are claimed: each thread starts at its
 * own share and takes over items that another thread has not started, so a thread that the OS has
 * descheduled (a loaded machine, BLAS threads spinning) delays nobody. Both splits give the same bits.
 *
 * Equations: rnnlab/layers/lstm.py, gru.py (reset after) and rnn.py; the cache arrays are the ones
 * those modules keep.
 */

/* ----- micro-kernel: C[r][c] = sum_k [A1, A2][r, k] B[k, c], rows r < R <= 6, columns c < 16 V <= 64.
 * The inner dimension comes from two row-major sources: k < K1 from A1, the next K2 from A2; B is
 * packed, K1 + K2 rows of 16 V floats. The forward loops pass A1 = x_t, A2 = h_{t-1} over [W; U]
 * packed together, so x_t W is computed inside the loop with the recurrent product, in the same
 * accumulators (no separate input product, no BLAS call, no BLAS threads in the forward); the LSTM
 * at batch 1 and 2 stores x_t W first and starts h_{t-1} U's sums from it (kern_c0, RN_XW_ROWS).
 * C0 (rows ldc0 apart), when given, is where the sums start instead of 0. */
#if RN_AVX512
#define RN_KSTEP(a_ptr, a_ld, k) do {                                                   \
        __m512 bv[4];                                                                   \
        const float *bk = B + (k) * V * 16;                                             \
        _Pragma("GCC unroll 4") for (int v = 0; v < V; v++) bv[v] = _mm512_loadu_ps(bk + v * 16); \
        _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) {                           \
            __m512 a = _mm512_set1_ps((a_ptr)[r * (a_ld)]);                             \
            _Pragma("GCC unroll 4") for (int v = 0; v < V; v++) acc[r][v] = _mm512_fmadd_ps(a, bv[v], acc[r][v]); \
        } } while (0)
#endif
static inline __attribute__((always_inline)) void
SFX(kern_body)(const int R, const int V, long K1, const float *restrict A1, long lda1, long K2,
               const float *restrict A2, long lda2, const float *restrict B, const float *restrict C0, long ldc0,
               float *restrict C)
{
#if RN_AVX512
    __m512 acc[6][4];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) acc[r][v] = C0 ? _mm512_loadu_ps(C0 + r * ldc0 + v * 16) : _mm512_setzero_ps();
    for (long k = 0; k < K1; k++) RN_KSTEP(A1 + k, lda1, k);
    B += K1 * V * 16;
    for (long k = 0; k < K2; k++) RN_KSTEP(A2 + k, lda2, k);
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) _mm512_storeu_ps(C + r * 64 + v * 16, acc[r][v]);
#else
    float acc[6][64];
    memset(acc, 0, sizeof acc);
    if (C0)
        for (int r = 0; r < R; r++)
            for (int c = 0; c < V * 16; c++) acc[r][c] = C0[r * ldc0 + c];
    for (long k = 0; k < K1 + K2; k++) {
        const float *bk = B + k * V * 16;
        for (int r = 0; r < R; r++) {
            const float a = k < K1 ? A1[r * lda1 + k] : A2[r * lda2 + k - K1];
            for (int c = 0; c < V * 16; c++) acc[r][c] += a * bk[c];
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < V * 16; c++) C[r * 64 + c] = acc[r][c];
#endif
}

#define RN_KDEF(R, V) \
    static void SFX(kern_##R##_##V)(long K1, const float *restrict A1, long lda1, long K2, \
                                    const float *restrict A2, long lda2, const float *restrict B, \
                                    const float *restrict C0, long ldc0, float *restrict C) \
    { SFX(kern_body)(R, V, K1, A1, lda1, K2, A2, lda2, B, C0, ldc0, C); }
#define RN_KROW(R) RN_KDEF(R, 1) RN_KDEF(R, 2) RN_KDEF(R, 3) RN_KDEF(R, 4)
RN_KROW(1) RN_KROW(2) RN_KROW(3) RN_KROW(4) RN_KROW(5) RN_KROW(6)
#define RN_KREF(R) {SFX(kern_##R##_1), SFX(kern_##R##_2), SFX(kern_##R##_3), SFX(kern_##R##_4)}
static void (*const SFX(kern_tab)[6][4])(long, const float *, long, long, const float *, long,
                                         const float *, const float *, long, float *) = {
    RN_KREF(1), RN_KREF(2), RN_KREF(3), RN_KREF(4), RN_KREF(5), RN_KREF(6)};

/* One source (the backward's da U^T). */
static inline void SFX(kern)(int rows, int nv, long K, const float *A, long lda, const float *B, float *C)
{
    SFX(kern_tab)[rows - 1][nv - 1](K, A, lda, 0, A, lda, B, 0, 0, C);
}

/* One source, the sums started from C0 (rows ldc0 apart) instead of 0: C = C0 + A B. With C0 = the
 * stored tile of A1 B1, kern_c0 over A2 B2 gives kern2's bits (the same sums in the same order). */
static inline void SFX(kern_c0)(int rows, int nv, long K, const float *A, long lda, const float *C0, long ldc0,
                                const float *B, float *C)
{
    SFX(kern_tab)[rows - 1][nv - 1](K, A, lda, 0, A, lda, B, C0, ldc0, C);
}

/* Two sources: [A1, A2] B. */
static inline void SFX(kern2)(int rows, int nv, long K1, const float *A1, long lda1, long K2,
                              const float *A2, long lda2, const float *B, float *C)
{
    SFX(kern_tab)[rows - 1][nv - 1](K1, A1, lda1, K2, A2, lda2, B, 0, 0, C);
}

/* The same tile from a transposed A: C[r][c] = sum_k A[k, r] B[k, c] with A row-major (lda), for the
 * weight gradients h^T da and x^T da, whose A rows are time-and-batch rows. */
static inline __attribute__((always_inline)) void
SFX(kernT_body)(const int R, const int V, long K, const float *restrict A, long lda,
                const float *restrict B, float *restrict C)
{
#if RN_AVX512
    __m512 acc[6][4];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) acc[r][v] = _mm512_setzero_ps();
    for (long k = 0; k < K; k++) RN_KSTEP(A + k * lda, 1, k);
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) _mm512_storeu_ps(C + r * 64 + v * 16, acc[r][v]);
#else
    float acc[6][64];
    memset(acc, 0, sizeof acc);
    for (long k = 0; k < K; k++) {
        const float *bk = B + k * V * 16;
        for (int r = 0; r < R; r++) {
            const float a = A[k * lda + r];
            for (int c = 0; c < V * 16; c++) acc[r][c] += a * bk[c];
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < V * 16; c++) C[r * 64 + c] = acc[r][c];
#endif
}
#define RN_KTDEF(R, V) \
    static void SFX(kernT_##R##_##V)(long K, const float *restrict A, long lda, const float *restrict B, \
                                     float *restrict C) \
    { SFX(kernT_body)(R, V, K, A, lda, B, C); }
#define RN_KTROW(R) RN_KTDEF(R, 1) RN_KTDEF(R, 2) RN_KTDEF(R, 3) RN_KTDEF(R, 4)
RN_KTROW(1) RN_KTROW(2) RN_KTROW(3) RN_KTROW(4) RN_KTROW(5) RN_KTROW(6)
#define RN_KTREF(R) {SFX(kernT_##R##_1), SFX(kernT_##R##_2), SFX(kernT_##R##_3), SFX(kernT_##R##_4)}
static void (*const SFX(kernT_tab)[6][4])(long, const float *, long, const float *, float *) = {
    RN_KTREF(1), RN_KTREF(2), RN_KTREF(3), RN_KTREF(4), RN_KTREF(5), RN_KTREF(6)};

/* ----- activations: tanh as a [13/6] rational minimax fit (Eigen's float tanh), |error| < 3e-7 --- */
static inline float SFX(tanh_r)(float z)
{
    const float lim = 7.90531110763549805f;            /* tanh_r(+-lim) rounds to +-1 */
    z = z < -lim ? -lim : (z > lim ? lim : z);
    const float z2 = z * z;
    float p = -2.76076847742355e-16f;
    p = p * z2 + 2.00018790482477e-13f;
    p = p * z2 + -8.60467152213735e-11f;
    p = p * z2 + 5.12229709037114e-08f;
    p = p * z2 + 1.48572235717979e-05f;
    p = p * z2 + 6.37261928875436e-04f;
    p = p * z2 + 4.89352455891786e-03f;
    float q = 1.19825839466702e-06f;
    q = q * z2 + 1.18534705686654e-04f;
    q = q * z2 + 2.26843463243900e-03f;
    q = q * z2 + 4.89352518554385e-03f;
    return z * p / q;
}

static inline float SFX(sig_r)(float z) { return 0.5f + 0.5f * SFX(tanh_r)(0.5f * z); }

/* The same tanh and sigma on a vector of VL floats: 16 lanes (AVX-512), 8 (AVX2), or 1 (plain C,
 * where vf is a float). The elementwise loops run VL units at a time and finish a block's last
 * len % VL units with the scalar functions above; which path a unit takes depends only on its
 * position, never on the thread, so results do not depend on the thread count. */
#if RN_AVX512
typedef __m512 SFX(vf);
#define VL 16
#define V_LD(p) _mm512_loadu_ps(p)
#define V_ST(p, v) _mm512_storeu_ps(p, v)
#define V_SET(x) _mm512_set1_ps(x)
#define V_ADD(a, b) _mm512_add_ps(a, b)
#define V_SUB(a, b) _mm512_sub_ps(a, b)
#define V_MUL(a, b) _mm512_mul_ps(a, b)
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_DIV(a, b) _mm512_div_ps(a, b)
#define V_MIN(a, b) _mm512_min_ps(a, b)
#define V_MAX(a, b) _mm512_max_ps(a, b)
#define V_KEEP_LT(d, c, lim) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_abs_ps(c), lim, _CMP_LT_OQ), d)
#define V_KEEP_01(d, s) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(s, _mm512_setzero_ps(), _CMP_GT_OQ)           \
                                            & _mm512_cmp_ps_mask(s, _mm512_set1_ps(1.0f), _CMP_LT_OQ), d)
#define V_LTBITS(a, lim) ((unsigned)_mm512_cmp_ps_mask(_mm512_abs_ps(a), lim, _CMP_LT_OQ))
#define V_BITS(d, bits) _mm512_maskz_mov_ps((__mmask16)(bits), d)
#elif RN_AVX2
typedef __m256 SFX(vf);
#define VL 8
#define V_LD(p) _mm256_loadu_ps(p)
#define V_ST(p, v) _mm256_storeu_ps(p, v)
#define V_SET(x) _mm256_set1_ps(x)
#define V_ADD(a, b) _mm256_add_ps(a, b)
#define V_SUB(a, b) _mm256_sub_ps(a, b)
#define V_MUL(a, b) _mm256_mul_ps(a, b)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_DIV(a, b) _mm256_div_ps(a, b)
#define V_MIN(a, b) _mm256_min_ps(a, b)
#define V_MAX(a, b) _mm256_max_ps(a, b)
#define V_KEEP_LT(d, c, lim) \
    _mm256_and_ps(d, _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), c), lim, _CMP_LT_OQ))
#define V_KEEP_01(d, s) _mm256_and_ps(d, _mm256_and_ps(_mm256_cmp_ps(s, _mm256_setzero_ps(), _CMP_GT_OQ),       \
                                                       _mm256_cmp_ps(s, _mm256_set1_ps(1.0f), _CMP_LT_OQ)))
#define V_LTBITS(a, lim) \
    ((unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a), lim, _CMP_LT_OQ)))
#define V_BITS(d, bits) _mm256_and_ps(d, _mm256_castsi256_ps(_mm256_cmpeq_epi32(                                    \
    _mm256_and_si256(_mm256_set1_epi32((int)(bits)), _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128)),                \
    _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128))))
#else
typedef float SFX(vf);
#define VL 1
#define V_LD(p) (*(p))
#define V_ST(p, v) (*(p) = (v))
#define V_SET(x) (x)
#define V_ADD(a, b) ((a) + (b))
#define V_SUB(a, b) ((a) - (b))
#define V_MUL(a, b) ((a) * (b))
#define V_FMA(a, b, c) ((a) * (b) + (c))
#define V_DIV(a, b) ((a) / (b))
#define V_MIN(a, b) ((a) < (b) ? (a) : (b))
#define V_MAX(a, b) ((a) > (b) ? (a) : (b))
#define V_KEEP_LT(d, c, lim) ((c) < (lim) && (c) > -(lim) ? (d) : 0.0f)
#define V_KEEP_01(d, s) ((s) > 0.0f && (s) < 1.0f ? (d) : 0.0f)
#define V_LTBITS(a, lim) ((unsigned)((a) < (lim) && (a) > -(lim)))
#define V_BITS(d, bits) ((bits) & 1u ? (d) : 0.0f)
#endif
/* V_KEEP_LT(d, c, lim): d where |c| < lim, else 0 (the derivative of a clip to [-lim, lim]);
 * V_KEEP_01(d, s): d where 0 < s < 1, else 0 (the hard sigmoid's derivative from its value s);
 * V_LTBITS(a, lim): the VL bits [|a| < lim], lane k at bit k (gate_clip's record);
 * V_BITS(d, bits): d where bit k of bits is set, else 0, lane by lane */

/* dst[0 .. n - 1] = src[...], or += (copy_f, add_f): vector moves, the last n % VL floats under a
 * mask (AVX-512) or one at a time. The loops they replace became memcpy calls, one per row of a
 * product tile (6% of a (28, 64, 28, 128) training step in perf). */
static inline void SFX(copy_f)(float *dst, const float *src, const long n)
{
    long l = 0;
    for (; l + VL <= n; l += VL) V_ST(dst + l, V_LD(src + l));
#if RN_AVX512
    if (l < n) {
        const __mmask16 k = (__mmask16)((1u << (n - l)) - 1);
        _mm512_mask_storeu_ps(dst + l, k, _mm512_maskz_loadu_ps(k, src + l));
    }
#else
    for (; l < n; l++) dst[l] = src[l];
#endif
}

static inline void SFX(add_f)(float *dst, const float *src, const long n)
{
    long l = 0;
    for (; l + VL <= n; l += VL) V_ST(dst + l, V_ADD(V_LD(dst + l), V_LD(src + l)));
#if RN_AVX512
    if (l < n) {
        const __mmask16 k = (__mmask16)((1u << (n - l)) - 1);
        _mm512_mask_storeu_ps(dst + l, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, dst + l), _mm512_maskz_loadu_ps(k, src + l)));
    }
#else
    for (; l < n; l++) dst[l] += src[l];
#endif
}

/* The rows of the micro-kernel's next row block when r rows are left. With AVX-512 the fewest blocks
 * of at most 6 rows, as even as they go (32 rows: 6, 6, 5, 5, 5, 5, not five 6-row blocks and a
 * 2-row one, which streams the same packed weights from L2 for a third of the arithmetic); its kernel
 * sums each row alone in the same order whatever the block's rows, so the split changes no bits.
 * Elsewhere blocks of 6 and the rest: the compiler vectorizes the plain-C kernel for each row count
 * its own way, and a different split would change the AVX2 engine's rounding. */
static inline int SFX(tile_rows)(long r)
{
#if RN_AVX512
    const long blocks = (r + 5) / 6;
    return (int)((r + blocks - 1) / blocks);
#else
    return r < 6 ? (int)r : 6;
#endif
}

static inline SFX(vf) SFX(vtanh)(SFX(vf) z)
{
    const float lim = 7.90531110763549805f;
    z = V_MIN(V_SET(lim), V_MAX(V_SET(-lim), z));
    const SFX(vf) z2 = V_MUL(z, z);
    SFX(vf) p = V_SET(-2.76076847742355e-16f);
    p = V_FMA(p, z2, V_SET(2.00018790482477e-13f));
    p = V_FMA(p, z2, V_SET(-8.60467152213735e-11f));
    p = V_FMA(p, z2, V_SET(5.12229709037114e-08f));
    p = V_FMA(p, z2, V_SET(1.48572235717979e-05f));
    p = V_FMA(p, z2, V_SET(6.37261928875436e-04f));
    p = V_FMA(p, z2, V_SET(4.89352455891786e-03f));
    SFX(vf) q = V_SET(1.19825839466702e-06f);
    q = V_FMA(q, z2, V_SET(1.18534705686654e-04f));
    q = V_FMA(q, z2, V_SET(2.26843463243900e-03f));
    q = V_FMA(q, z2, V_SET(4.89352518554385e-03f));
    return V_DIV(V_MUL(z, p), q);
}

static inline SFX(vf) SFX(vsig)(SFX(vf) z)
{
    const SFX(vf) h = V_SET(0.5f);
    return V_FMA(h, SFX(vtanh)(V_MUL(h, z)), h);
}

/* The LSTM variant's gate activation (lstm_variants.py [7]): slope 0, sigma; slope > 0, the hard
 * sigmoid clip(slope z + 1/2, 0, 1) (activations.py: slope 1/6 hard_sigmoid, 0.2 hard_sigmoid_keras2).
 * vdgate: d sigma(z) times x, from the activated s: x s (1 - s), or x slope where 0 < s < 1, else 0
 * (the kinks included). */
static inline SFX(vf) SFX(vgate)(SFX(vf) z, const float slope)
{
    if (slope > 0.0f)
        return V_MIN(V_SET(1.0f), V_MAX(V_SET(0.0f), V_ADD(V_MUL(z, V_SET(slope)), V_SET(0.5f))));
    return SFX(vsig)(z);
}

static inline float SFX(gate_r)(float z, const float slope)
{
    if (slope > 0.0f) {
        const float s = z * slope + 0.5f;
        return s < 0.0f ? 0.0f : (s > 1.0f ? 1.0f : s);
    }
    return SFX(sig_r)(z);
}

static inline SFX(vf) SFX(vdgate)(SFX(vf) x, SFX(vf) s, const float slope)
{
    if (slope > 0.0f) return V_KEEP_01(V_MUL(x, V_SET(slope)), s);
    return V_MUL(V_MUL(x, s), V_SUB(V_SET(1.0f), s));
}

static inline float SFX(dgate_r)(float x, float s, const float slope)
{
    if (slope > 0.0f) return s > 0.0f && s < 1.0f ? x * slope : 0.0f;
    return x * s * (1.0f - s);
}

/* Recurrent dropout (regularizers.py [1]): h~_t = h_t s_r for len units of one row, written by the
 * thread that has just written those units of h_t (after the ragged carry), for the next step's
 * product and the weight gradient dU = h~^T da. */
static inline void SFX(rdrop_row)(const int len, const float *h, const float *s, float *hd)
{
    int l = 0;
    for (; l + VL <= len; l += VL) V_ST(hd + l, V_MUL(V_LD(h + l), V_LD(s + l)));
    for (; l < len; l++) hd[l] = h[l] * s[l];
}

/* ----- packing, once per call, each thread its own units ---------------------------------------
 * Forward: [W; U] (D + H rows). The panel of unit blocks pb .. pb+nb-1 holds, for each k < D + H, the
 * G gates' columns of those units: P[k][(g nb + v) 16 + l] = [W; U][k, g H + (pb + v) 16 + l] (0 past
 * H); it starts at P + pb 16 G (D + H).
 * Backward: U^T, P[k][v 16 + l] = U[(pb + v) 16 + l, k] for k < G H, at P + pb 16 G H. */
static void SFX(pack_fwd)(const float *W, const float *U, int D, int H, int G, int pb, int nb, float *P)
{
    float *base = P + (long)pb * 16 * G * (D + H);
    const int Wd = G * nb * 16;
    for (long k = 0; k < D + H; k++) {
        const float *row = k < D ? W + k * G * H : U + (k - D) * G * H;
        for (int g = 0; g < G; g++)
            for (int v = 0; v < nb; v++) {
                const int u0 = (pb + v) * 16;
                float *dst = base + k * Wd + (g * nb + v) * 16;
                if (u0 + 16 <= H)                       /* a whole block: 16 contiguous floats */
                    memcpy(dst, row + (long)g * H + u0, 16 * sizeof(float));
                else
                    for (int l = 0; l < 16; l++) dst[l] = u0 + l < H ? row[(long)g * H + u0 + l] : 0.0f;
            }
    }
}

#if RN_AVX512
/* The 16 x 16 transpose of r[0..15] (r[i][c] -> r[c][i]) in place: four levels, level b exchanging
 * bit b of the row index with bit b of the column index between the rows i and i + b, two two-source
 * permutes a pair (the off-diagonal b x b blocks swapped). */
static inline void SFX(transpose16)(__m512 r[16])
{
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
#pragma GCC unroll 4
    for (int b = 8; b >= 1; b >>= 1) {
        const __m512i bit = _mm512_set1_epi32(b), sixteen = _mm512_set1_epi32(16);
        const __mmask16 hi = _mm512_test_epi32_mask(lane, bit);        /* lanes c with c & b */
        /* row i: c, or 16 + c - b where c & b; row i + b: c + b, or 16 + c where c & b */
        const __m512i lo_idx = _mm512_mask_add_epi32(lane, hi, lane, _mm512_sub_epi32(sixteen, bit));
        const __m512i hi_idx = _mm512_mask_add_epi32(_mm512_add_epi32(lane, bit), hi, lane, sixteen);
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            if (!(i & b)) {
                const __m512 a = r[i], c = r[i + b];
                r[i] = _mm512_permutex2var_ps(a, lo_idx, c);
                r[i + b] = _mm512_permutex2var_ps(a, hi_idx, c);
            }
    }
}
#endif

/* M^T for M (rows x K): P[k][v 16 + l] = M[(pb + v) 16 + l, k] (0 past rows), at P + pb 16 K. With
 * AVX-512, 16 x 16 blocks: 16 rows' 16 contiguous floats in, transposed in registers, 16 stores out
 * (the scalar loop reads M's column at a stride of K floats, 6 cycles a float measured). */
static void SFX(pack_t)(const float *Mat, int rows, long K, int pb, int nb, float *P)
{
    float *base = P + (long)pb * 16 * K;
    const int W = nb * 16;
    long k0 = 0;
#if RN_AVX512
    for (; k0 + 16 <= K; k0 += 16)
        for (int v = 0; v < nb; v++) {
            __m512 r[16];
            for (int l = 0; l < 16; l++) {
                const int unit = (pb + v) * 16 + l;
                r[l] = unit < rows ? _mm512_loadu_ps(Mat + (long)unit * K + k0) : _mm512_setzero_ps();
            }
            SFX(transpose16)(r);
            for (int j = 0; j < 16; j++) _mm512_storeu_ps(base + (k0 + j) * W + v * 16, r[j]);
        }
#endif
    for (long k = k0; k < K; k++)
        for (int v = 0; v < nb; v++)
            for (int l = 0; l < 16; l++) {
                const int unit = (pb + v) * 16 + l;
                base[k * W + v * 16 + l] = unit < rows ? Mat[(long)unit * K + k] : 0.0f;
            }
}

static void SFX(pack_bwd)(const float *U, int H, int G, int pb, int nb, float *P)
{
    SFX(pack_t)(U, H, (long)G * H, pb, nb, P);
}

/* ----- the weight gradients, after the backward loop, on the same threads ----------------------
 * oneDNN's RNN merges them over time: with M = T N rows of da (time-major),
 *   dW = x^T da_x (D, G H),  dU = h_{t-1}^T da_h (H, G H),  db = 1^T da_x,  dx = da_x W^T (M, D),
 * each one product over all M rows (da_h = da_x except for the GRU, whose h part differs). They run
 * in the micro-kernel, never in a BLAS library: its worker threads would spin on the second core
 * after each call and slow the engine's next loop.
 * dW and dU walk the M rows in slabs of RN_KS rows, one phase each: a slab's rows of x, h_{t-1} and
 * da (a few MB) stay in the caches while every output block takes its share of them, where a walk
 * over all M rows per output block would fetch x and h_{t-1} from memory once per block of columns
 * (measured, one thread, 12800 x 256 by 12800 x 1024: 131 GFLOP/s, against 220+ when the rows fit
 * in the caches). Work items are RN_MB x 64 output blocks; within a slab an item walks its rows in
 * chunks of RN_KC, packing the chunk of da's 64 columns first (the repacking costs 1/RN_MB of the
 * item's arithmetic), so that the chunk stays in L1 / L2 for the item's RN_MB / 6 tiles. The chunk
 * boundaries and the order of the sums do not depend on RN_KS, so neither does the rounding. */
#ifndef RN_KC
#define RN_KC 256
#endif
#ifndef RN_MB
#define RN_MB 192
#endif
#ifndef RN_KS
#define RN_KS (2 * RN_KC)
#endif
#ifndef RN_MBX
#define RN_MBX 768
#endif
#ifndef RN_PF
#define RN_PF 32
#endif

/* Rows a0 .. a1 - 1 of C += A^T B for one packed chunk of B (kc rows, 64 columns from c0, nv vectors
 * wide): A (K x ., lda) read from its row kb, C (. x Nc) set at kb == 0, else added to. */
static inline void SFX(grad_rows)(const int kc, const long kb, const float *A, const long lda, const int a0,
                                  const int a1, const float *chunk, const int nv, float *C, const long Nc,
                                  const int c0, const int w)
{
    float tile[6 * 64] __attribute__((aligned(64)));
    for (int r0 = a0, rows; r0 < a1; r0 += rows) {
        rows = SFX(tile_rows)(a1 - r0);
        SFX(kernT_tab)[rows - 1][nv - 1](kc, A + kb * lda + r0, lda, chunk, tile);
        for (int r = 0; r < rows; r++) {
            float *cr = C + (long)(r0 + r) * Nc + c0;
            const float *tr = tile + r * 64;
            if (kb == 0)
                SFX(copy_f)(cr, tr, w);
            else
                SFX(add_f)(cr, tr, w);
        }
    }
}

/* Item (column panel p) of C1 += A1^T B over rows a0 .. a1 - 1 of C1 and C2 += A2^T B over rows
 * b0 .. b1 - 1 of C2 (either range may be empty), over rows k0 .. k1 - 1 of A1 (K x ., lda1), A2
 * (K x ., lda2) and B (K x Nc); C1, C2 are set, not added to, at k0 = 0. One packing of each chunk
 * of B's 64 columns serves both (dW = x^T da and dU = h^T da read the same da). With colsum, also B's
 * column sums over those rows for the panel's columns (continuing colsum's values after k0 = 0;
 * numpy's order: row by row). */
static void SFX(grad_item)(long k0, long k1, const float *A1, long lda1, float *C1, int a0, int a1,
                           const float *A2, long lda2, float *C2, int b0, int b1, const float *B, long Nc, int p,
                           float *colsum)
{
    float chunk[RN_KC * 64] __attribute__((aligned(64)));
    float sums[64];
    const int c0 = 64 * p, w = Nc - c0 < 64 ? (int)(Nc - c0) : 64, nv = (w + 15) / 16, wp = 16 * nv;
    for (int c = 0; c < w; c++) sums[c] = k0 == 0 || !colsum ? 0.0f : colsum[c0 + c];
    for (long kb = k0; kb < k1; kb += RN_KC) {
        const int kc = k1 - kb < RN_KC ? (int)(k1 - kb) : RN_KC;
        for (int k = 0; k < kc; k++) {
            const float *src = B + (kb + k) * Nc + c0;
            float *dst = chunk + k * wp;
            if (kb + k + RN_PF < k1)          /* its rows are pages apart: no hardware prefetch */
                for (int c = 0; c < w; c += 16) __builtin_prefetch(src + RN_PF * Nc + c);
            int c = 0;
            for (; c + VL <= w; c += VL) {    /* in vectors, the column sums beside the copy */
                const SFX(vf) v = V_LD(src + c);
                V_ST(dst + c, v);
                if (colsum) V_ST(sums + c, V_ADD(V_LD(sums + c), v));
            }
            for (; c < w; c++) {
                dst[c] = src[c];
                if (colsum) sums[c] += src[c];
            }
            for (c = w; c < wp; c++) dst[c] = 0.0f;
        }
        SFX(grad_rows)(kc, kb, A1, lda1, a0, a1, chunk, nv, C1, Nc, c0, w);
        SFX(grad_rows)(kc, kb, A2, lda2, b0, b1, chunk, nv, C2, Nc, c0, w);
    }
    if (colsum)
        for (int c = 0; c < w; c++) colsum[c0 + c] = sums[c];
}

/* Item (row block m0 of RN_MB rows, column panel p) of C (Mr x Nc) += A^T B alone (grad_item). */
static inline void SFX(grad_item1)(long k0, long k1, const float *A, long lda, int Mr, const float *B, long Nc,
                                   int m0, int p, float *C, float *colsum)
{
    const int m1 = m0 + RN_MB < Mr ? m0 + RN_MB : Mr;
    SFX(grad_item)(k0, k1, A, lda, C, m0, m1, A, lda, C, 0, 0, B, Nc, p, colsum);
}

/* Item (row block m0, column panel p) of dx = da W^T: da (M x K) row-major, Wt = W^T packed as
 * pack_bwd packs U^T (16-column blocks, 4 to a panel); row m = t N + n of dx at dx + t dx_ts + n dx_ns
 * (J's strides: (T, N, D) C-contiguous, or a batch-first (N, T, D) array's), set, or with
 * J->dx_add added to (a bidirectional layer's second direction adds its part). */
static void SFX(dx_item)(const rn_job *J, long M, long K, const float *da, const float *Wt, int D, long m0, int p,
                         float *dx)
{
    float tile[6 * 64] __attribute__((aligned(64)));
    const int nbd = (D + 15) / 16, pb = 4 * p, np_ = nbd - pb < 4 ? nbd - pb : 4;
    const int c0 = 64 * p, w = D - c0 < 64 ? D - c0 : 64, N = J->N;
    const float *panel = Wt + (long)pb * 16 * K;
    const long m1 = m0 + RN_MB < M ? m0 + RN_MB : M;
    for (long r0 = m0, rows; r0 < m1; r0 += rows) {
        rows = SFX(tile_rows)(m1 - r0);
        SFX(kern)(rows, np_, K, da + r0 * K, K, panel, tile);
        for (int r = 0; r < rows; r++) {
            const long m = r0 + r;
            float *dr = dx + m / N * J->dx_ts + m % N * J->dx_ns + c0;
            const float *tr = tile + r * 64;
            if (J->dx_add)
                SFX(add_f)(dr, tr, w);
            else
                SFX(copy_f)(dr, tr, w);
        }
    }
}

/* All of them, as phases of the calling loop's threads (S): pack W^T, then dU and dW slab by slab,
 * then dx. da_h may be da_x; dbh (G H) receives da_h's column sums where da_h differs (the GRU's
 * b_hn). */
static void SFX(weight_grads)(rn_job *J, rn_sync *S, int G, const float *dax, const float *dah)
{
    const int N = J->N, H = J->H, D = J->D;
    const long M = (long)J->T * N, GH = (long)G * H;
    const int nbd = (D + 15) / 16, npd = (nbd + 3) / 4;      /* W^T: 16-column blocks, panels of 4 */
    const float *hprev = (J->hd ? J->hd : J->hs) + (J->reverse ? (long)N * H : 0);   /* h_{t-1} (h~ with
                                                                      recurrent dropout), in time order */
    rn_phase(S, npd);                                  /* the loop is over: its packed U^T is free */
    for (int i; (i = rn_claim(J->claim2, S)) >= 0; rn_done(J))
        SFX(pack_t)(J->W, D, GH, 4 * i, nbd - 4 * i < 4 ? nbd - 4 * i : 4, J->packed);
    rn_wait(J, S);
    const int npc = (int)((GH + 63) / 64), same = dax == dah;
    /* items: with da_x = da_h, blocks of RN_MBX rows of the stacked [dW; dU] (D + H rows), each item
     * all of a block's rows of one panel, so that one packing of a da chunk serves dW's and dU's rows
     * (measured, debug timers, the LSTM's weight gradients at (T, N, D, H) = (28, 64, 28, 128): 2
     * packings to 1, 0.94 -> 0.84 ms; (50, 32, 64, 256): 3 to 1, 3.2 -> 3.1 ms); otherwise (the GRU's
     * da_h) dU's and dW's RN_MB-row blocks apart. The sums' order is the same either way. */
    const int nbx = (D + H + RN_MBX - 1) / RN_MBX;
    const int iu = (H + RN_MB - 1) / RN_MB * npc, iw = (D + RN_MB - 1) / RN_MB * npc;
    for (long k0 = 0; k0 < M; k0 += RN_KS) {
        const long k1 = M - k0 < RN_KS ? M : k0 + RN_KS;
        rn_phase(S, same ? nbx * npc : iu + iw);
        for (int i; (i = rn_claim(J->claim2, S)) >= 0; rn_done(J)) {
            if (same) {                                                 /* dW = x^T da, dU = h^T da, db */
                const int m0 = i / npc * RN_MBX, m1 = m0 + RN_MBX < D + H ? m0 + RN_MBX : D + H;
                SFX(grad_item)(k0, k1, J->x, D, J->dW, m0 < D ? m0 : D, m1 < D ? m1 : D, hprev, H, J->dU,
                               m0 > D ? m0 - D : 0, m1 > D ? m1 - D : 0, dax, GH, i % npc, m0 == 0 ? J->db : 0);
            } else if (i < iu) {                                        /* dU = h_{t-1}^T da_h */
                const int m0 = i / npc * RN_MB, m1 = m0 + RN_MB < H ? m0 + RN_MB : H;
                SFX(grad_item)(k0, k1, J->x, D, J->dW, 0, 0, hprev, H, J->dU, m0, m1, dah, GH, i % npc,
                               m0 == 0 ? J->dbh : 0);
            } else {                                                    /* dW = x^T da_x, db */
                const int j = i - iu, m0 = j / npc * RN_MB, m1 = m0 + RN_MB < D ? m0 + RN_MB : D;
                SFX(grad_item)(k0, k1, J->x, D, J->dW, m0, m1, hprev, H, J->dU, 0, 0, dax, GH, j % npc,
                               m0 == 0 ? J->db : 0);
            }
        }
        rn_wait(J, S);
    }
    if (same && J->dbh) memcpy(J->dbh, J->db, sizeof(float) * (size_t)GH);
    const int ix = (int)((M + RN_MB - 1) / RN_MB) * npd;
    rn_phase(S, ix);
    for (int i; (i = rn_claim(J->claim2, S)) >= 0; rn_done(J))               /* dx = da_x W^T */
        SFX(dx_item)(J, M, GH, dax, J->packed, D, (long)(i / npd) * RN_MB, i % npd, J->dx);
    rn_wait(J, S);
}

/* Work items of weight_grads' largest phase, for sizing the claim array. */
static inline long SFX(weight_grad_items)(long M, int G, int H, int D)
{
    const long npc = ((long)G * H + 63) / 64, npd = ((D + 15) / 16 + 3) / 4;
    const long iuw = ((H + RN_MB - 1) / RN_MB + (D + RN_MB - 1) / RN_MB) * npc, ix = (M + RN_MB - 1) / RN_MB * npd;
    /* (the stacked blocks of RN_MBX >= RN_MB rows are never more) */
    return iuw > ix ? iuw : ix;
}

/* ----- the backward loops' shared step structure -------------------------------------------
 * The hidden units are cut into panels of 4 unit blocks (64 units). Per step t, over the panels: a
 * panel's dh_{t-1} = da_t U^T + dhk (all of da_t's row is complete: the previous step made it), then,
 * on the same units, rows and thread, the elementwise work of the next step in the loop, which reads
 * only these units' dh. Split by unit blocks, each step is a phase over the panels with one wait;
 * split by rows (rows_ok, and rn_rows_min rows per thread), each thread runs every panel of its
 * rows, no wait. The first step's elementwise work shares the phase that packs U^T.
 * elem(J, t, u0, u1, n0, n1) does step t's elementwise work for units u0 .. u1 - 1 of rows
 * n0 .. n1 - 1; da_h is the array the product reads (the GRU's h part; da elsewhere). rows_ok: 0
 * where elem sums over a step's rows (the LSTM's peephole gradients). */
static inline __attribute__((always_inline)) void
SFX(bwd_loop)(rn_job *J, rn_sync *S, int G, void (*elem)(rn_job *, int, int, int, int, int), const float *da_h,
              const int rows_ok)
{
    const int T = J->T, N = J->N, H = J->H, r = J->reverse;
    const long GH = (long)G * H;
    const int nb = (H + 15) / 16, npan = (nb + 3) / 4;
    float tile[6 * 64] __attribute__((aligned(64)));
    float *dh = J->dh;
    const float *dhk = J->dhk_zero ? 0 : J->dhk, *sr = J->sr;   /* dhk NULL: 0; sr: recurrent dropout's s_r,
                                                                   or NULL */
    rn_phase(S, npan);
    for (int i; (i = rn_claim(J->claim2, S)) >= 0; rn_done(J)) {
        SFX(pack_bwd)(J->U, H, G, 4 * i, nb - 4 * i < 4 ? nb - 4 * i : 4, J->packed);
        elem(J, r ? 0 : T - 1, 64 * i, 64 * i + 64 < H ? 64 * i + 64 : H, 0, N);
    }
    rn_wait(J, S);
    rn_parts P = rn_parts_begin(S, rows_ok && rn_by_rows(N, S->tid, S->nt), N, RN_PART_ALIGN);
    while (rn_parts_next(J, J->claim2, S, &P))
    for (int s = 0; s < T; s++) {
        const int t = r ? s : T - 1 - s;
        const float *da = da_h + (long)t * N * GH;
        rn_items_begin(S, &P, npan);
        for (int i; (i = rn_item(J->claim2, S, &P)) >= 0; rn_item_done(J, &P)) {   /* dh_{t-1} = da_t U^T */
            const int pb = 4 * i, np_ = nb - pb < 4 ? nb - pb : 4, u0 = pb * 16;
            const int lim = H - u0 < np_ * 16 ? H - u0 : np_ * 16;
            const float *panel = J->packed + (long)pb * 16 * GH;
            for (int rb = P.n0, rows; rb < P.n1; rb += rows) {
                rows = SFX(tile_rows)(P.n1 - rb);
                SFX(kern)(rows, np_, GH, da + (long)rb * GH, GH, panel, tile);
                for (int rr = 0; rr < rows; rr++) {
                    const long n = rb + rr;
                    float *dhn = dh + n * H + u0;
                    const float *tr = tile + rr * 64;
                    if (!dhk) {                     /* no direct part: dh_{t-1} = da_t U^T */
                        SFX(copy_f)(dhn, tr, lim);
                        continue;
                    }
                    const float *dhkn = dhk + n * H + u0;
                    if (sr) {                       /* recurrent dropout: dh_{t-1} = dh~ s_r + dhk */
                        const float *srn = sr + n * H + u0;
                        for (int c = 0; c < lim; c++) dhn[c] = tr[c] * srn[c] + dhkn[c];
                    } else
                        for (int c = 0; c < lim; c++) dhn[c] = tr[c] + dhkn[c];
                }
            }
            if (s + 1 < T) elem(J, r ? t + 1 : t - 1, u0, u0 + lim, P.n0, P.n1);
        }
        rn_items_end(J, S, &P);
    }
    rn_parts_end(J, S, &P);
}

/* ----- layer normalization (RN_LN): the LSTM's and the GRU's layer_norm loops ------------------
 * Equations: lstm_variants.py ("Layer normalization", [6]) and gru_variants.py [L]. LN(z) =
 * (z - mean z) / s, s = sqrt(var z + 1e-5), over all G H pre-activations of a row, separately for
 * x_t W and h_{t-1} U (and, in the LSTM, over the H units of c^_t). A row's statistics span every
 * unit block, so these loops cannot finish a block's units right after its product as the plain
 * loops do; each step runs in phases, each ended by a wait (LSTM: 3 a step, GRU: 2):
 *   A  ux = x_t W and uh = h_{t-1} U per unit block, apart, into the scratch (ln_products; x_t W
 *      per step rather than for all steps before the loop: ux stays in cache, and an inference
 *      writes no (T, N, G H) array);
 *   B  every thread that claims a block first computes all N rows' statistics of ux and uh itself
 *      (reading 2 N G H floats costs less than another wait), then its units: n_x, n_h (cached),
 *      the gates, c^_t (the GRU: h_t);
 *   C  (LSTM) the same for c^_t's statistics, then tanh(LN(c^_t) g_c + b_c), h_t, zoneout, the mask.
 * The backward mirrors it. LSTM: (1) dh_{t-1} = du U^T, with the next step's first part (dm,
 * dn_c = dm o (1 - tanh^2), and each 64-unit panel's share of the row sums of dn_c g_c and
 * dn_c g_c n_c); (2) the gates' da from those row means, and the panel's share of the row sums of
 * da g_h, da g_h n_h, da g_x, da g_x n_x; (3) du = LN'(da g_h), d(x W) = LN'(da g_x) (in place of
 * da). GRU: (1) with the next step's gru_units_bwd and row sums; (2) as (3). The panels' shares are
 * added in panel order, and the column sums (db, dg_x, dg_h, the LSTM's dg_c, db_c, dp, the GRU's
 * b_hn) per step over its rows, then over the steps in order, on the thread that owns the panel
 * that step. After the loop, weight_grads' merged products give dW, dU, dx from d(x W) and du.
 * Every statistic is computed by the same code on the same data whichever thread runs it, and every
 * sum runs in a fixed order, so the results do not depend on the thread count. While a step's
 * product runs (compute bound), the rows the next phase reads from the forward's cache are
 * prefetched (RN_PREF).
 * Split by rows: with rn_rows_min rows per thread or more (_cells.c), the loops above give way
 * to a split of the batch rows instead: each thread owns whole chunks of RN_LN_RC rows and runs
 * them through every step, phases A-C (or the backward's three parts) one after the other on its
 * own rows, over all unit blocks, with no wait in the time loop (a row's recurrence reads only its
 * own row; the packed weights are shared, read only). Both splits make the same calls on the same
 * data, the micro-kernel's row blocks start at the same rows (multiples of RN_LN_KR), and the backward's
 * column sums go, on both, per step and chunk of rows into that chunk's sums (the scratch's part 9),
 * added in chunk order after the loop: the two splits give the same bits, on any thread count.
 * Measured (2 threads, bench_variants' shapes): the unit-block split waits 2-3 times a step, which
 * on a shared machine costs more than streaming all of [W; U] per thread and step. */

#ifndef RN_LN_RC
#define RN_LN_RC 4                   /* rows a chunk of the row split: the column sums' fixed partition */
#endif
#define RN_LN_KR 4                   /* rows a micro-kernel block in the layer-norm loops: blocks start at
                                        multiples of 4 on both splits (RN_LN_RC is a multiple of it; 4 and 4,
                                        measured: as fast as 6-row blocks, and 2 threads share 24, 32 or
                                        64 rows evenly) */
#ifndef RN_LN_MAXT
#define RN_LN_MAXT 64                /* threads at most (RN_MAX_THREADS): the per-thread statistics */
#endif

/* The sum of a vector's lanes, in a fixed order. */
static inline float SFX(vhsum)(SFX(vf) v)
{
#if RN_AVX512
    return _mm512_reduce_add_ps(v);
#elif RN_AVX2
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    return _mm_cvtss_f32(_mm_add_ss(lo, _mm_movehdup_ps(lo)));
#else
    return v;
#endif
}

/* mu, s of z[0 .. L-1] as layer_norm_forward: the mean, then the mean of the squared deviations.
 * Four vector accumulators (the adds' latency), added in a fixed order. */
static inline void SFX(ln_stats)(const float *z, const long L, float *mu, float *s)
{
    const SFX(vf) zero = V_SET(0.0f);
    SFX(vf) v0 = zero, v1 = zero, v2 = zero, v3 = zero;
    long l = 0;
    for (; l + 4 * VL <= L; l += 4 * VL) {
        v0 = V_ADD(v0, V_LD(z + l));
        v1 = V_ADD(v1, V_LD(z + l + VL));
        v2 = V_ADD(v2, V_LD(z + l + 2 * VL));
        v3 = V_ADD(v3, V_LD(z + l + 3 * VL));
    }
    for (; l + VL <= L; l += VL) v0 = V_ADD(v0, V_LD(z + l));
    float sum = SFX(vhsum)(V_ADD(V_ADD(v0, v1), V_ADD(v2, v3)));
    for (; l < L; l++) sum += z[l];
    const float m = sum / (float)L;
    const SFX(vf) mv = V_SET(m);
    v0 = v1 = v2 = v3 = zero;
    for (l = 0; l + 4 * VL <= L; l += 4 * VL) {
        const SFX(vf) d0 = V_SUB(V_LD(z + l), mv), d1 = V_SUB(V_LD(z + l + VL), mv);
        const SFX(vf) d2 = V_SUB(V_LD(z + l + 2 * VL), mv), d3 = V_SUB(V_LD(z + l + 3 * VL), mv);
        v0 = V_FMA(d0, d0, v0);
        v1 = V_FMA(d1, d1, v1);
        v2 = V_FMA(d2, d2, v2);
        v3 = V_FMA(d3, d3, v3);
    }
    for (; l + VL <= L; l += VL) { const SFX(vf) d = V_SUB(V_LD(z + l), mv); v0 = V_FMA(d, d, v0); }
    float sq = SFX(vhsum)(V_ADD(V_ADD(v0, v1), V_ADD(v2, v3)));
    for (; l < L; l++) { const float d = z[l] - m; sq += d * d; }
    *mu = m;
    *s = sqrtf(sq / (float)L + 1e-5f);
}

/* dz[j] = (dy[j] g[j] - m1 - n[j] m2) / s for j < L: LN's backward, given the row means m1 of dy g and
 * m2 of dy g n. */
static inline void SFX(ln_back)(const float *dy, const float *g, const float *n, const long L, const float m1,
                                const float m2, const float s, float *dz)
{
    const float rs = 1.0f / s;
    const SFX(vf) a = V_SET(m1), b = V_SET(m2), c = V_SET(rs);
    long l = 0;
    for (; l + VL <= L; l += VL)
        V_ST(dz + l, V_MUL(V_SUB(V_SUB(V_MUL(V_LD(dy + l), V_LD(g + l)), a), V_MUL(V_LD(n + l), b)), c));
    for (; l < L; l++) dz[l] = (dy[l] * g[l] - m1 - n[l] * m2) * rs;
}

/* The layer-norm loops' scratch (rn_run allocates J->lnw), part k of:
 *   0: (N, G H)  the forward's uh = h_{t-1} U; the backward's dm (N, H)
 *   1: (N, H)    the forward's c^_t (without a cache); the backward's dn_c
 *   6: (N, H)    the forward's o (without a cache)
 *   7: (N, G H)  the forward's ux = x_t W
 *   8: (G H)     unused (part 9 holds the GRU's b_hn sums)
 *   2: (RN_LN_MAXT, N, 4)  each thread's row statistics
 *   3: (npan, N, 2), 4: (npan, N, 4)  the backward's partial row sums, per panel of 64 units
 *   5: (G H)     the backward's db, summed over the steps (unused: part 9 holds the sums)
 *   9: (nch, 5 G H)  the backward's column sums, per chunk of RN_LN_RC rows (nch of them), summed over
 *                the steps: LSTM db, dg_x, dg_h (4 H each), dg_c, db_c (H), dp (3 H); GRU db, dg_x,
 *                dg_h, b_hn's (3 H each) */
static inline long SFX(ln_off)(int N, int G, int H, int k)
{
    const long npan = ((H + 15) / 16 + 3) / 4, nch = (N + RN_LN_RC - 1) / RN_LN_RC;
    const long sz[10] = {(long)N * G * H, (long)N * H, 4L * N * RN_LN_MAXT, 2 * npan * N, 4 * npan * N,
                         (long)G * H, (long)N * H, (long)N * G * H, (long)G * H, nch * 5 * G * H};
    long o = 0;
    for (int i = 0; i < k; i++) o += sz[i];
    return o;
}

static inline float *SFX(ln_w)(rn_job *J, int G, int k) { return J->lnw + SFX(ln_off)(J->N, G, J->H, k); }

static inline long SFX(ln_scratch)(int N, int G, int H) { return SFX(ln_off)(N, G, H, 10); }

/* dst[0 .. lim - 1] = src[...] (lim <= 16): a product tile's row of one gate block, in vector moves
 * where it is whole (a loop the compiler would turn into a memcpy call per 16 floats). */
static inline void SFX(ln_copy16)(float *dst, const float *src, const int lim)
{
    if (lim == 16)
        for (int l = 0; l < 16; l += VL) V_ST(dst + l, V_LD(src + l));
    else
        for (int l = 0; l < lim; l++) dst[l] = src[l];
}

/* Software prefetch of len floats from p (a line of 16 floats at a time), for reading (rw 0) or
 * writing (1). The loops prefetch the next phase's cache rows while a product (compute bound) runs:
 * the per-step elementwise phases otherwise wait on memory for the forward's cache (gates, n_x, n_h). */
#define RN_PREF(p, len, rw) do { const float *pp_ = (p); for (int k_ = 0; k_ < (len); k_ += 16) \
                                     __builtin_prefetch(pp_ + k_, rw, 3); } while (0)

/* A step's first phase: ux = x_t W and uh = h_{t-1} U (N, G H), apart (each is normalized on its
 * own), for the claimed unit blocks, over the packed [W; U] (one unit block a panel); the block's
 * columns of the arrays pre (the cache rows the next phase writes, or NULL) are prefetched. */
static void SFX(ln_products)(rn_job *J, rn_sync *S, const int G, const float *xt, const float *hp, float *ux,
                             float *uh, float *const pre[3])
{
    const int N = J->N, H = J->H, D = J->D, nb = (H + 15) / 16;
    const long GH = (long)G * H;
    float tile[6 * 64] __attribute__((aligned(64)));
    rn_phase(S, nb);
    for (int pb; (pb = rn_claim(J->claim1, S)) >= 0; rn_done(J)) {
        const int u0 = pb * 16, lim = H - u0 < 16 ? H - u0 : 16;
        const float *panel = J->packed + (long)pb * 16 * G * (D + H);
        for (int rb = 0; rb < N; rb += RN_LN_KR) {
            const int rows = N - rb < RN_LN_KR ? N - rb : RN_LN_KR;
            for (int part = 0; part < 2; part++) {
                if (part) SFX(kern)(rows, G, H, hp + (long)rb * H, H, panel + (long)D * 16 * G, tile);
                else SFX(kern)(rows, G, D, xt + (long)rb * D, D, panel, tile);
                float *u = part ? uh : ux;
                for (int rr = 0; rr < rows; rr++)
                    for (int g = 0; g < G; g++) {
                        float *dst = u + (rb + rr) * GH + g * H + u0;
                        const float *src = tile + rr * 64 + g * 16;
                        SFX(ln_copy16)(dst, src, lim);
                    }
            }
            for (int k = 0; k < 3; k++)                 /* the next phase's cache rows (pre: NULL, or (N, G H)) */
                if (pre[k])
                    for (int rr = 0; rr < rows; rr++)
                        for (int g = 0; g < G; g++) RN_PREF(pre[k] + (rb + rr) * GH + g * H + u0, lim, 1);
        }
    }
    rn_wait(J, S);
}

/* The statistics (mu, s) of each of the N rows of z (row stride ld, L columns), into st[2 n], st[2 n + 1]. */
static void SFX(ln_rows_stats)(const float *z, int N, long ld, long L, float *st)
{
    for (long n = 0; n < N; n++) SFX(ln_stats)(z + n * ld, L, st + 2 * n, st + 2 * n + 1);
}

/* The row split's products: ux = x_t W and uh = h_{t-1} U for rows n0 .. n1 - 1, every unit block
 * (block outer, so that its panel of the packed [W; U] stays in the cache over the rows). Each
 * element is computed as ln_products computes it. */
static void SFX(ln_row_products)(rn_job *J, const int G, const int n0, const int n1, const float *xt,
                                 const float *hp, float *ux, float *uh, float *const pre[3])
{
    const int H = J->H, D = J->D, nb = (H + 15) / 16;
    const long GH = (long)G * H;
    float tile[6 * 64] __attribute__((aligned(64)));
    for (int pb = 0; pb < nb; pb++) {
        const int u0 = pb * 16, lim = H - u0 < 16 ? H - u0 : 16;
        const float *panel = J->packed + (long)pb * 16 * G * (D + H);
        for (int rb = n0; rb < n1; rb += RN_LN_KR) {
            const int rows = n1 - rb < RN_LN_KR ? n1 - rb : RN_LN_KR;
            for (int part = 0; part < 2; part++) {
                if (part) SFX(kern)(rows, G, H, hp + (long)rb * H, H, panel + (long)D * 16 * G, tile);
                else SFX(kern)(rows, G, D, xt + (long)rb * D, D, panel, tile);
                float *u = part ? uh : ux;
                for (int rr = 0; rr < rows; rr++)
                    for (int g = 0; g < G; g++) {
                        float *dst = u + (rb + rr) * GH + g * H + u0;
                        const float *src = tile + rr * 64 + g * 16;
                        SFX(ln_copy16)(dst, src, lim);
                    }
            }
            for (int k = 0; k < 3; k++)                 /* the step's cache rows (pre: NULL, or (N, G H)) */
                if (pre[k])
                    for (int rr = 0; rr < rows; rr++)
                        for (int g = 0; g < G; g++) RN_PREF(pre[k] + (rb + rr) * GH + g * H + u0, lim, 1);
        }
    }
}

/* The row split's parts (rn_parts) are whole chunks of RN_LN_RC rows: the backward's column sums'
 * fixed partition, so that a thread's share of the sums is its own chunks'; and the products' row
 * blocks of RN_LN_KR rows start where the unit-block loops' do (the plain-C micro-kernel's results
 * may depend on a block's row count). */

/* ----- LSTM with layer_norm ---------------------------------------------------------------------
 * Phase B's work for one row, len <= 16 units (pointers at the row's unit u0; gate k at + k H):
 *   n_x = (ux - mu_x) / s_x, n_h = (u - mu) / s (kept in nx, nh unless NULL),  a = n_x g_x + b + n_h g_h,
 *   a_i += p_i c_{t-1}, a_f += p_f c_{t-1},  i = sigma(a_i), f = sigma(a_f) or 1 - i, g = tanh(a_g),
 *   c^ = clip(f c_{t-1} + i g),  a_o += p_o c^,  o = sigma(a_o)
 * (the options as lstm_units_v's). The gates go to a unless NULL, o to o (a + 2 H or a scratch), c^ to ch.
 * The last len % VL units run the plain-C instantiation. */
static void SFX(lstmln_gates)(const int len, const long H, const float *ux, const float mux, const float rsx,
                              float *nx, const float *u, const float mu, const float rs, float *nh, const float *gx,
                              const float *gh, const float *bu, const float *cp, float *a, float *o_, float *ch,
                              const float *pp, const float clip, const int cifg, const float slope)
{
    const SFX(vf) one = V_SET(1.0f), lo = V_SET(-clip), hi = V_SET(clip), mv = V_SET(mu), rv = V_SET(rs);
    const SFX(vf) mxv = V_SET(mux), rxv = V_SET(rsx);
    SFX(vf) z[4];
    int l = 0;
    for (; l + VL <= len; l += VL) {
        for (int k = 0; k < 4; k++) {
            const long o = k * H + l;
            const SFX(vf) n = V_MUL(V_SUB(V_LD(u + o), mv), rv);              /* LN(h U) */
            const SFX(vf) m = V_MUL(V_SUB(V_LD(ux + o), mxv), rxv);           /* LN(x W) */
            if (nh) { V_ST(nh + o, n); V_ST(nx + o, m); }
            z[k] = V_FMA(n, V_LD(gh + o), V_FMA(m, V_LD(gx + o), V_LD(bu + o)));
        }
        const SFX(vf) c0 = V_LD(cp + l);
        if (pp) { z[0] = V_FMA(V_LD(pp + l), c0, z[0]); z[1] = V_FMA(V_LD(pp + H + l), c0, z[1]); }
        const SFX(vf) i = SFX(vgate)(z[0], slope);
        const SFX(vf) f = cifg ? V_SUB(one, i) : SFX(vgate)(z[1], slope);
        const SFX(vf) g = SFX(vtanh)(z[3]);
        SFX(vf) c = V_FMA(f, c0, V_MUL(i, g));
        if (clip > 0.0f) c = V_MIN(hi, V_MAX(lo, c));
        V_ST(ch + l, c);
        if (pp) z[2] = V_FMA(V_LD(pp + 2 * H + l), c, z[2]);
        const SFX(vf) o = SFX(vgate)(z[2], slope);
        if (a) { V_ST(a + l, i); V_ST(a + H + l, f); V_ST(a + 3 * H + l, g); }
        V_ST(o_ + l, o);
    }
#if VL > 1
    if (l < len)
        RN_GEN(lstmln_gates)(len - l, H, ux + l, mux, rsx, nh ? nx + l : 0, u + l, mu, rs, nh ? nh + l : 0, gx + l,
                             gh + l, bu + l, cp + l, a ? a + l : 0, o_ + l, ch + l, pp ? pp + l : 0, clip, cifg, slope);
#endif
}

/* Phase C's work for one row, len <= 16 units: n_c = (c^ - mu) / s (the backward recomputes it from
 * c^, mu and s), tanh_c = tanh(n_c g_c + b_c) (kept in tc unless NULL), h^ = o tanh_c, then zoneout (zh, zc: the
 * row's d, or NULL) h = h^ + d_h (h_{t-1} - h^), c = c^ + d_c (c_{t-1} - c^), into hn, cn. */
static void SFX(lstmln_out)(const int len, const float *ch, const float mu, const float rs, const float *gc,
                            const float *bc, const float *o_, float *tc, const float *cp,
                            const float *hp, const float *zh, const float *zc, float *cn, float *hn)
{
    const SFX(vf) mv = V_SET(mu), rv = V_SET(rs);
    int l = 0;
    for (; l + VL <= len; l += VL) {
        SFX(vf) c = V_LD(ch + l);
        const SFX(vf) n = V_MUL(V_SUB(c, mv), rv);                             /* LN(c^_t) */
        const SFX(vf) th = SFX(vtanh)(V_FMA(n, V_LD(gc + l), V_LD(bc + l)));
        if (tc) V_ST(tc + l, th);
        SFX(vf) h = V_MUL(V_LD(o_ + l), th);                                    /* m_t = o tanh(...) */
        if (zc) c = V_FMA(V_LD(zc + l), V_SUB(V_LD(cp + l), c), c);
        if (zh) h = V_FMA(V_LD(zh + l), V_SUB(V_LD(hp + l), h), h);
        V_ST(cn + l, c);
        V_ST(hn + l, h);
    }
#if VL > 1
    if (l < len)
        RN_GEN(lstmln_out)(len - l, ch + l, mu, rs, gc + l, bc + l, o_ + l, tc ? tc + l : 0,
                           cp + l, hp + l, zh ? zh + l : 0, zc ? zc + l : 0, cn + l, hn + l);
#endif
}

/* The row split's forward (rows n0 .. n1 - 1, every step): per step the rows' products, then row by
 * row its statistics, gates, c^_t, LN(c^_t) and h_t, with the same calls on the same data as the
 * unit-block loop below (so the same bits). A row's recurrence reads only its own row: no wait. */
static void SFX(lstmln_fwd_rows)(rn_job *J, const int n0, const int n1)
{
    const int T = J->T, N = J->N, H = J->H, r = J->reverse;
    const long G4 = 4L * H;
    float *uh = SFX(ln_w)(J, 4, 0), *cw = SFX(ln_w)(J, 4, 1), *ow = SFX(ln_w)(J, 4, 6), *ux = SFX(ln_w)(J, 4, 7);
    const float *pp = J->vflags & RN_PEEP ? J->peep : 0;
    const float clip = J->vflags & RN_CLIP ? J->clip : 0.0f;
    const int cifg = J->vflags & RN_CIFG;
    const float slope = J->vflags & RN_HARD ? J->slope : 0.0f;
    for (int s = 0; s < T; s++) {
        const int t = r ? T - 1 - s : s;
        const float *hp = J->hs + (long)(t + r) * N * H, *cp = J->cs + (long)(t + r) * N * H;
        float *hn = J->hs + (long)(t + 1 - r) * N * H, *cn = J->cs + (long)(t + 1 - r) * N * H;
        float *a = J->gates ? J->gates + (long)t * N * G4 : 0, *tc = J->aux ? J->aux + (long)t * N * H : 0;
        float *ch = J->chat ? J->chat + (long)t * N * H : cw;
        float *nh = J->nh ? J->nh + (long)t * N * G4 : 0;
        float *nx = nh ? J->nx + (long)t * N * G4 : 0;
        const float *xt = J->x + (long)t * N * J->D, *m = J->mask ? J->mask + (long)t * N : 0;
        float *yt = J->y ? J->y + (long)t * N * H : 0;
        const long ost = a ? G4 : H;
        float *o_ = a ? a + 2 * H : ow;
        float *const pre[3] = {a, nx, nh};
        SFX(ln_row_products)(J, 4, n0, n1, xt, hp, ux, uh, pre);
        for (long n = n0; n < n1; n++) {
            float st[4];
            SFX(ln_stats)(uh + n * G4, G4, st, st + 1);
            SFX(ln_stats)(ux + n * G4, G4, st + 2, st + 3);
            if (nh) { J->sh[(long)t * N + n] = st[1]; J->sx[(long)t * N + n] = st[3]; }
            /* all H units at once: the same vector and plain-C units as 16-unit blocks (16 is a multiple of VL) */
            SFX(lstmln_gates)(H, H, ux + n * G4, st[2], 1.0f / st[3], nx ? nx + n * G4 : 0, uh + n * G4, st[0],
                              1.0f / st[1], nh ? nh + n * G4 : 0, J->gx, J->gh, J->b, cp + n * H,
                              a ? a + n * G4 : 0, o_ + n * ost, ch + n * H, pp, clip, cifg, slope);
            SFX(ln_stats)(ch + n * H, H, st, st + 1);
            if (J->sc) { J->mc[(long)t * N + n] = st[0]; J->sc[(long)t * N + n] = st[1]; }
            const long k = n * H;
            SFX(lstmln_out)(H, ch + k, st[0], 1.0f / st[1], J->gc, J->bc, o_ + n * ost, tc ? tc + k : 0, cp + k,
                            hp + k, J->zh ? J->zh + k : 0, J->zc ? J->zc + k : 0, cn + k, hn + k);
            if (m) {
                const float mv = m[n];
                for (int l = 0; l < H; l++) yt[k + l] = hn[k + l] * mv;
                if (mv == 0.0f)
                    for (int l = 0; l < H; l++) { hn[k + l] = hp[k + l]; cn[k + l] = cp[k + l]; }
            }
        }
    }
}

static void SFX(lstmln_fwd)(rn_job *J, int tid, int nt)
{
    const int T = J->T, N = J->N, H = J->H, D = J->D, r = J->reverse, nb = (H + 15) / 16;
    const long G4 = 4L * H;
    rn_sync S = {tid, nt, 0, 0, 0, 0};
    rn_phase(&S, nb);                                   /* pack [W; U], one unit block at a time */
    for (int pb; (pb = rn_claim(J->claim1, &S)) >= 0; rn_done(J)) SFX(pack_fwd)(J->W, J->U, D, H, 4, pb, 1, J->packed);
    rn_wait(J, &S);
    if (rn_by_rows(N, tid, nt)) {                       /* nt parts of the rows, all steps each */
        rn_parts R = rn_parts_begin(&S, 1, N, RN_LN_RC);
        while (rn_parts_next(J, J->claim1, &S, &R)) SFX(lstmln_fwd_rows)(J, R.n0, R.n1);
        rn_parts_end(J, &S, &R);
        return;
    }
    float *uh = SFX(ln_w)(J, 4, 0), *cw = SFX(ln_w)(J, 4, 1), *ow = SFX(ln_w)(J, 4, 6), *ux = SFX(ln_w)(J, 4, 7);
    float *st = SFX(ln_w)(J, 4, 2) + 4L * N * tid;
    const float *pp = J->vflags & RN_PEEP ? J->peep : 0;
    const float clip = J->vflags & RN_CLIP ? J->clip : 0.0f;
    const int cifg = J->vflags & RN_CIFG;
    const float slope = J->vflags & RN_HARD ? J->slope : 0.0f;
#ifdef RN_TIME
    long tm[4] = {0, 0, 0, 0}, t_ = rn_tnow();
#define RN_TICK(k) do { long t2_ = rn_tnow(); tm[k] += t2_ - t_; t_ = t2_; } while (0)
#else
#define RN_TICK(k) ((void)0)
#endif
    for (int s = 0; s < T; s++) {
        const int t = r ? T - 1 - s : s;
        const float *hp = J->hs + (long)(t + r) * N * H, *cp = J->cs + (long)(t + r) * N * H;
        float *hn = J->hs + (long)(t + 1 - r) * N * H, *cn = J->cs + (long)(t + 1 - r) * N * H;
        float *a = J->gates ? J->gates + (long)t * N * G4 : 0, *tc = J->aux ? J->aux + (long)t * N * H : 0;
        float *ch = J->chat ? J->chat + (long)t * N * H : cw;                   /* c^_t */
        float *nh = J->nh ? J->nh + (long)t * N * G4 : 0;
        float *nx = nh ? J->nx + (long)t * N * G4 : 0;
        const float *xt = J->x + (long)t * N * D, *m = J->mask ? J->mask + (long)t * N : 0;
        float *yt = J->y ? J->y + (long)t * N * H : 0;
        const long ost = a ? G4 : H;                    /* o: the cached gates' o block, or the scratch */
        float *o_ = a ? a + 2 * H : ow;
        RN_TICK(3);
        float *const pre[3] = {a, nx, nh};
        SFX(ln_products)(J, &S, 4, xt, hp, ux, uh, pre);   /* A: ux = x_t W, uh = h_{t-1} U */
        RN_TICK(0);
        rn_phase(&S, nb);                               /* B: LN(ux), LN(uh), the gates, c^_t */
        for (int pb, have = 0; (pb = rn_claim(J->claim1, &S)) >= 0; rn_done(J)) {
            if (!have) {                                /* every row's statistics, this thread's own copy */
                SFX(ln_rows_stats)(uh, N, G4, G4, st);
                SFX(ln_rows_stats)(ux, N, G4, G4, st + 2L * N);
                have = 1;
            }
            if (pb == 0 && nh)
                for (int n = 0; n < N; n++) {
                    J->sh[(long)t * N + n] = st[2 * n + 1];
                    J->sx[(long)t * N + n] = st[2 * N + 2 * n + 1];
                }
            const int u0 = pb * 16, lim = H - u0 < 16 ? H - u0 : 16;
            for (long n = 0; n < N; n++)
                SFX(lstmln_gates)(lim, H, ux + n * G4 + u0, st[2 * N + 2 * n], 1.0f / st[2 * N + 2 * n + 1],
                                  nx ? nx + n * G4 + u0 : 0, uh + n * G4 + u0, st[2 * n], 1.0f / st[2 * n + 1],
                                  nh ? nh + n * G4 + u0 : 0, J->gx + u0, J->gh + u0, J->b + u0, cp + n * H + u0,
                                  a ? a + n * G4 + u0 : 0, o_ + n * ost + u0, ch + n * H + u0, pp ? pp + u0 : 0,
                                  clip, cifg, slope);
        }
        rn_wait(J, &S);
        RN_TICK(1);
        rn_phase(&S, nb);                               /* C: LN(c^_t), h_t, zoneout, the mask */
        for (int pb, have = 0; (pb = rn_claim(J->claim1, &S)) >= 0; rn_done(J)) {
            if (!have) { SFX(ln_rows_stats)(ch, N, H, H, st); have = 1; }
            if (pb == 0 && J->sc)
                for (int n = 0; n < N; n++) {
                    J->mc[(long)t * N + n] = st[2 * n];
                    J->sc[(long)t * N + n] = st[2 * n + 1];
                }
            const int u0 = pb * 16, lim = H - u0 < 16 ? H - u0 : 16;
            for (long n = 0; n < N; n++) {
                const long k = n * H + u0;
                SFX(lstmln_out)(lim, ch + k, st[2 * n], 1.0f / st[2 * n + 1], J->gc + u0,
                                J->bc + u0, o_ + n * ost + u0, tc ? tc + k : 0, cp + k, hp + k,
                                J->zh ? J->zh + k : 0, J->zc ? J->zc + k : 0, cn + k, hn + k);
                if (m) {                                                 /* ragged: y = m h, carry */
                    const float mv = m[n];
                    for (int l = 0; l < lim; l++) yt[k + l] = hn[k + l] * mv;
                    if (mv == 0.0f)
                        for (int l = 0; l < lim; l++) { hn[k + l] = hp[k + l]; cn[k + l] = cp[k + l]; }
                }
            }
        }
        rn_wait(J, &S);
        RN_TICK(2);
    }
#ifdef RN_TIME
    if (tid == 0)
        fprintf(stderr, "lstmln_fwd A %.3f B %.3f C %.3f rest %.3f ms\n", tm[0] / 1e6, tm[1] / 1e6, tm[2] / 1e6,
                tm[3] / 1e6);
#endif
#undef RN_TICK
}

/* Backward, step t's first part for units u0 .. u1 - 1 (panel i) of every row (lstmv_backward's
 * loop head): dm = dh_t + dy_t, with zoneout dm (1 - d_h) and dhk = dm d_h (else dhk = 0); a padded
 * row: dm = 0, dhk = dh (the carry). dm goes to the scratch dmw, dn_c = dm o (1 - tanh_c^2) to the
 * scratch dnw, and the panel's share of the row sums of dn_c g_c and dn_c g_c n_c (n_c = (c^_t - mu_c)
 * / s_c) to the panel's partial sums pa (N, 2). */
static void SFX(lstmln_bwd1)(rn_job *J, int t, int u0, int u1, int i, const int n0, const int n1)
{
    const int N = J->N, H = J->H, r = J->reverse;
    const long G4 = 4L * H, k0 = (long)t * N;
    const float *gt = J->gates + k0 * G4, *tct = J->aux + k0 * H;
    const float *cct = J->chat ? J->chat + k0 * H : J->cs + (long)(t + 1 - r) * N * H;       /* c^_t */
    const float *dyt = J->dy + (long)t * J->dy_ts, *m = J->mask ? J->mask + k0 : 0;
    float *dmw = SFX(ln_w)(J, 4, 0), *dnw = SFX(ln_w)(J, 4, 1), *pa = SFX(ln_w)(J, 4, 3) + 2L * N * i;
    const SFX(vf) one = V_SET(1.0f), zero = V_SET(0.0f);
    for (long n = n0; n < n1; n++) {
        const float *o = gt + n * G4 + 2 * H, *th = tct + n * H, *dy = dyt + n * J->dy_ns, *dh = J->dh + n * H;
        const float *zh = J->zh ? J->zh + n * H : 0, *cc = cct + n * H, *gc = J->gc;
        float *dm = dmw + n * H, *dn = dnw + n * H, *dhk = J->dhk + n * H;
        if (m && m[n] == 0.0f) {
            for (int j = u0; j < u1; j++) { dm[j] = 0.0f; dn[j] = 0.0f; dhk[j] = dh[j]; }
            pa[2 * n] = pa[2 * n + 1] = 0.0f;
            continue;
        }
        const float mu = J->mc[k0 + n], rs = 1.0f / J->sc[k0 + n];
        const SFX(vf) mv = V_SET(mu), rv = V_SET(rs);
        SFX(vf) s1 = zero, s2 = zero;
        int j = u0;
        for (; j + VL <= u1; j += VL) {
            SFX(vf) d = V_ADD(V_LD(dh + j), V_LD(dy + j)), k = zero;
            if (zh) { const SFX(vf) z = V_LD(zh + j); k = V_MUL(d, z); d = V_MUL(d, V_SUB(one, z)); }
            const SFX(vf) t_ = V_LD(th + j), e = V_MUL(V_MUL(d, V_LD(o + j)), V_SUB(one, V_MUL(t_, t_)));
            V_ST(dhk + j, k);
            V_ST(dm + j, d);
            V_ST(dn + j, e);
            const SFX(vf) eg = V_MUL(e, V_LD(gc + j));
            s1 = V_ADD(s1, eg);
            s2 = V_FMA(eg, V_MUL(V_SUB(V_LD(cc + j), mv), rv), s2);
        }
        float p1 = SFX(vhsum)(s1), p2 = SFX(vhsum)(s2);
        for (; j < u1; j++) {
            float d = dh[j] + dy[j], k = 0.0f;
            if (zh) { k = d * zh[j]; d *= 1.0f - zh[j]; }
            const float e = d * o[j] * (1.0f - th[j] * th[j]);
            dhk[j] = k;
            dm[j] = d;
            dn[j] = e;
            p1 += e * gc[j];
            p2 += e * gc[j] * ((cc[j] - mu) * rs);
        }
        pa[2 * n] = p1;
        pa[2 * n + 1] = p2;
    }
}

/* Backward, step t's gates for the live rows of a chunk of nr <= RN_LN_RC rows (bit rr of live: row
 * rr is not padded), len units (lstmv_step_backward from its dn_c line on), per row:
 *   dc = dc_t (zoneout: dc_t (1 - d_c), and d_c dc_t joins dc_{t-1}) + (dn_c g_c - m1 - n_c m2) / s_c,
 *   da_o = sigma'(dm tanh_c),  dc += da_o p_o,  dc *= [|c^_t| < clip],  di = dc g, df = dc c_{t-1},
 *   dg = dc i,  dc_{t-1} = dc f,  da_f = df sigma'(f), or di -= df (cifg),  da_i = di sigma'(i),
 *   da_g = dg (1 - g^2),  dc_{t-1} += da_i p_i + da_f p_f  (as lstm_units_bwd_v's).
 * The column sums over the chunk's rows, in row order, stay in registers and are added once to the
 * chunk's sums acc: dn_c n_c and dn_c (dg_c's and db_c's terms) at acc + 12 H, + 13 H, the peephole
 * terms at acc + 14 H .. 16 H. cc: c^_t; n_c = (c^_t - mu) rs. Pointers at the chunk's first row and
 * the units' first column; g_, da: row stride 4 H, the others H; mu, m1, m2, rs: per row. */
static void SFX(lstmln_units_bwd)(const int nr, const unsigned live, const int len, const long H, const float *g_,
                                  const float *tc, const float *cp, const float *cc, const float *dm,
                                  const float *dnc, const float *mu, const float *gc, const float *m1,
                                  const float *m2, const float *rs, float *da, float *dc, const float *pp,
                                  const float clip, const int cifg, const float *zc, float *acc, const float slope)
{
    const SFX(vf) one = V_SET(1.0f), zero = V_SET(0.0f), lim = V_SET(clip);
    const long G4 = 4 * H;
    int j = 0;
    for (; j + VL <= len; j += VL) {
        SFX(vf) sg0 = zero, sg1 = zero, sp0 = zero, sp1 = zero, sp2 = zero;
        const SFX(vf) gcv = V_LD(gc + j);
        for (int rr = 0; rr < nr; rr++) {
            if (!(live >> rr & 1)) continue;
            const long og = rr * G4 + j, oh = rr * H + j;
            const SFX(vf) mv = V_SET(mu[rr]), a1 = V_SET(m1[rr]), a2 = V_SET(m2[rr]), rv = V_SET(rs[rr]);
            const SFX(vf) i = V_LD(g_ + og), f = V_LD(g_ + H + og), o = V_LD(g_ + 2 * H + og);
            const SFX(vf) g = V_LD(g_ + 3 * H + og);
            const SFX(vf) th = V_LD(tc + oh), c0 = V_LD(cp + oh), ct = V_LD(cc + oh), dn = V_LD(dnc + oh);
            const SFX(vf) nc = V_MUL(V_SUB(ct, mv), rv);
            sg0 = V_FMA(dn, nc, sg0);
            sg1 = V_ADD(dn, sg1);
            SFX(vf) dci = V_LD(dc + oh), dzc = zero;
            if (zc) { const SFX(vf) d = V_LD(zc + oh); dzc = V_MUL(dci, d); dci = V_MUL(dci, V_SUB(one, d)); }
            SFX(vf) dct = V_ADD(dci, V_MUL(V_SUB(V_SUB(V_MUL(dn, gcv), a1), V_MUL(nc, a2)), rv));
            const SFX(vf) dao = SFX(vdgate)(V_MUL(V_LD(dm + oh), th), o, slope);
            if (pp) dct = V_FMA(dao, V_LD(pp + 2 * H + j), dct);
            if (clip > 0.0f) dct = V_KEEP_LT(dct, ct, lim);
            SFX(vf) di = V_MUL(dct, g);
            const SFX(vf) df = V_MUL(dct, c0);
            SFX(vf) daf = zero;
            if (cifg) di = V_SUB(di, df);
            else daf = SFX(vdgate)(df, f, slope);
            const SFX(vf) dai = SFX(vdgate)(di, i, slope);
            SFX(vf) dcp = V_MUL(dct, f);
            if (pp) {
                dcp = V_FMA(daf, V_LD(pp + H + j), V_FMA(dai, V_LD(pp + j), dcp));
                sp0 = V_FMA(dai, c0, sp0);
                sp1 = V_FMA(daf, c0, sp1);
                sp2 = V_FMA(dao, ct, sp2);
            }
            V_ST(da + og, dai);
            V_ST(da + H + og, daf);
            V_ST(da + 2 * H + og, dao);
            V_ST(da + 3 * H + og, V_MUL(V_MUL(dct, i), V_SUB(one, V_MUL(g, g))));
            V_ST(dc + oh, V_ADD(dcp, dzc));
        }
        V_ST(acc + 12 * H + j, V_ADD(V_LD(acc + 12 * H + j), sg0));
        V_ST(acc + 13 * H + j, V_ADD(V_LD(acc + 13 * H + j), sg1));
        if (pp) {
            V_ST(acc + 14 * H + j, V_ADD(V_LD(acc + 14 * H + j), sp0));
            V_ST(acc + 15 * H + j, V_ADD(V_LD(acc + 15 * H + j), sp1));
            V_ST(acc + 16 * H + j, V_ADD(V_LD(acc + 16 * H + j), sp2));
        }
    }
#if VL > 1
    if (j < len)
        RN_GEN(lstmln_units_bwd)(nr, live, len - j, H, g_ + j, tc + j, cp + j, cc + j, dm + j, dnc + j, mu, gc + j,
                                 m1, m2, rs, da + j, dc + j, pp ? pp + j : 0, clip, cifg, zc ? zc + j : 0, acc + j,
                                 slope);
#endif
}

/* The live rows' (of NR, bit rr of live) shares, columns u0 .. u0 + w - 1 of each of the G gate
 * blocks (w <= 64), of the sums that LN's backward needs, for da_h (U side) and da_x (x side) (the
 * same array in the LSTM): q[4 rr .. 4 rr + 3] = row rr's sums of da_h g_h, da_h g_h n_h, da_x g_x,
 * da_x g_x n_x (lanes added in order, then the last units); and the column sums over the rows, in
 * row order, of da_x, da_x n_x, da_h n_h (and with dah_sum da_h), kept in registers and added once
 * to the chunk's sums: part k at acc + k G H. dax, dah, nh, nx at the first row's column 0, row
 * stride ld; gh, gx, acc at column 0. NR is a constant where the body is inlined (the row sums'
 * accumulators stay in registers). */
static inline __attribute__((always_inline)) void SFX(ln_row_sums_body)(
    const int NR, const unsigned live, const float *dax, const float *dah, const long ld, const float *gh,
    const float *nh, const float *gx, const float *nx, const long H, const int G, const int u0, const int w,
    float *q, float *acc, const int dah_sum)
{
    const SFX(vf) zero = V_SET(0.0f);
    const long GH = (long)G * H;
    SFX(vf) a1[RN_LN_RC], a2[RN_LN_RC], a3[RN_LN_RC], a4[RN_LN_RC];
    float t1[RN_LN_RC], t2[RN_LN_RC], t3[RN_LN_RC], t4[RN_LN_RC];
    for (int rr = 0; rr < NR; rr++) {
        a1[rr] = a2[rr] = a3[rr] = a4[rr] = zero;
        t1[rr] = t2[rr] = t3[rr] = t4[rr] = 0.0f;
    }
    for (int g = 0; g < G; g++) {
        const long c = g * H + u0;
        int l = 0;
        for (; l + VL <= w; l += VL) {
            SFX(vf) s0 = zero, s1 = zero, s2 = zero, s3 = zero;
            const SFX(vf) ghv = V_LD(gh + c + l), gxv = V_LD(gx + c + l);
            for (int rr = 0; rr < NR; rr++) {
                if (!(live >> rr & 1)) continue;
                const long o = rr * ld + c + l;
                const SFX(vf) d = V_LD(dax + o), e = V_LD(dah + o), m = V_LD(nh + o), n = V_LD(nx + o);
                const SFX(vf) dh = V_MUL(e, ghv), dx = V_MUL(d, gxv);
                a1[rr] = V_ADD(a1[rr], dh);
                a2[rr] = V_FMA(dh, m, a2[rr]);
                a3[rr] = V_ADD(a3[rr], dx);
                a4[rr] = V_FMA(dx, n, a4[rr]);
                s0 = V_ADD(s0, d);
                s1 = V_FMA(d, n, s1);
                s2 = V_FMA(e, m, s2);
                if (dah_sum) s3 = V_ADD(s3, e);
            }
            float *p = acc + c + l;
            V_ST(p, V_ADD(V_LD(p), s0));
            V_ST(p + GH, V_ADD(V_LD(p + GH), s1));
            V_ST(p + 2 * GH, V_ADD(V_LD(p + 2 * GH), s2));
            if (dah_sum) V_ST(p + 3 * GH, V_ADD(V_LD(p + 3 * GH), s3));
        }
        if (l < w) {                                /* the last w - l < VL columns: row by row, as above */
            const int l0 = l;
            float ts[4][16];
            for (int k = 0; k < 4; k++)
                for (int j = 0; j < w - l0; j++) ts[k][j] = 0.0f;
            float *s0 = ts[0] - l0, *s1 = ts[1] - l0, *s2 = ts[2] - l0, *s3 = ts[3] - l0;
            for (int rr = 0; rr < NR; rr++) {
                if (!(live >> rr & 1)) continue;
                const float *ax = dax + rr * ld + c, *ah = dah + rr * ld + c, *mh = nh + rr * ld + c;
                const float *mx = nx + rr * ld + c;
                for (l = l0; l < w; l++) {
                    const float d = ax[l], e = ah[l], dh = e * gh[c + l], dx = d * gx[c + l];
                    t1[rr] += dh;
                    t2[rr] += dh * mh[l];
                    t3[rr] += dx;
                    t4[rr] += dx * mx[l];
                    s0[l] += d;
                    s1[l] += d * mx[l];
                    s2[l] += e * mh[l];
                    if (dah_sum) s3[l] += e;
                }
            }
            for (l = l0; l < w; l++) {
                float *p = acc + c + l;
                p[0] += s0[l];
                p[GH] += s1[l];
                p[2 * GH] += s2[l];
                if (dah_sum) p[3 * GH] += s3[l];
            }
        }
    }
    for (int rr = 0; rr < NR; rr++)
        if (live >> rr & 1) {
            q[4 * rr] = SFX(vhsum)(a1[rr]) + t1[rr];
            q[4 * rr + 1] = SFX(vhsum)(a2[rr]) + t2[rr];
            q[4 * rr + 2] = SFX(vhsum)(a3[rr]) + t3[rr];
            q[4 * rr + 3] = SFX(vhsum)(a4[rr]) + t4[rr];
        }
}

/* ln_row_sums_body for a chunk of nr <= RN_LN_RC rows, each count compiled on its own. */
static void SFX(ln_row_sums)(const int nr, const unsigned live, const float *dax, const float *dah, const long ld,
                             const float *gh, const float *nh, const float *gx, const float *nx, const long H,
                             const int G, const int u0, const int w, float *q, float *acc, const int dah_sum)
{
#define RN_SUMS(k) SFX(ln_row_sums_body)(k, live, dax, dah, ld, gh, nh, gx, nx, H, G, u0, w, q, acc, dah_sum)
    switch (nr) {
    case 1: RN_SUMS(1); break;
    case 2: RN_SUMS(2); break;
    case 3: RN_SUMS(3); break;
    default: RN_SUMS(4); break;
    }
#undef RN_SUMS
}
#if RN_LN_RC != 4
#error "ln_row_sums: one case per chunk row count (RN_LN_RC 4)"
#endif

/* Backward, step t's gates for units u0 .. u1 - 1 (u1 - u0 <= 64; panel i) of every row. st: the rows'
 * m1, m2 of dn_c g_c. A padded row: da = 0, dc carried. The panel's share of the row sums of da g_h,
 * da g_h n_h, da g_x, da g_x n_x goes to its partial sums pb (N, 4), for the next phase. dp, dg_c,
 * db_c, and db (in the scratch: weight_grads sets J->db), dg_x, dg_h: per chunk of RN_LN_RC rows, the
 * chunk's rows summed first (in registers, lstmln_units_bwd and ln_row_sums), then added to its sums. */
static void SFX(lstmln_bwd2)(rn_job *J, int t, int u0, int u1, int i, const float *st, const int n0, const int n1)
{
    const int N = J->N, H = J->H, r = J->reverse, w = u1 - u0;
    const long G4 = 4L * H, k0 = (long)t * N;
    const float *m = J->mask ? J->mask + k0 : 0;
    const float *cp = J->cs + (long)(t + r) * N * H;
    const float *cct = J->chat ? J->chat + k0 * H : J->cs + (long)(t + 1 - r) * N * H;
    const float *pp = J->vflags & RN_PEEP ? J->peep : 0;
    const float clip = J->vflags & RN_CLIP ? J->clip : 0.0f;
    const int cifg = J->vflags & RN_CIFG;
    const float slope = J->vflags & RN_HARD ? J->slope : 0.0f;
    float *pb = SFX(ln_w)(J, 4, 4) + 4L * N * i;
    float mu[RN_LN_RC], m1[RN_LN_RC], m2[RN_LN_RC], rs[RN_LN_RC];
    for (int c0 = n0; c0 < n1; c0 += RN_LN_RC) {    /* a chunk's rows summed, then added to its sums */
        const int c1 = n1 - c0 < RN_LN_RC ? n1 : c0 + RN_LN_RC, nr = c1 - c0;
        unsigned live = 0;
        for (int rr = 0; rr < nr; rr++) {
            const long n = c0 + rr;
            float *da = J->da + (k0 + n) * G4, *q = pb + 4 * n;
            q[0] = q[1] = q[2] = q[3] = 0.0f;
            if (m && m[n] == 0.0f) {
                for (int j = u0; j < u1; j++) da[j] = da[H + j] = da[2 * H + j] = da[3 * H + j] = 0.0f;
                continue;
            }
            live |= 1u << rr;
            mu[rr] = J->mc[k0 + n];
            m1[rr] = st[2 * n];
            m2[rr] = st[2 * n + 1];
            rs[rr] = 1.0f / J->sc[k0 + n];
        }
        if (!live) continue;                        /* nothing to add (the sums are never -0) */
        float *acc = SFX(ln_w)(J, 4, 9) + (long)(c0 / RN_LN_RC) * 20 * H;
        const long k = (long)c0 * H + u0, o = (k0 + c0) * G4;
        SFX(lstmln_units_bwd)(nr, live, w, H, J->gates + o + u0, J->aux + k0 * H + k, cp + k, cct + k,
                              SFX(ln_w)(J, 4, 0) + k, SFX(ln_w)(J, 4, 1) + k, mu, J->gc + u0, m1, m2, rs,
                              J->da + o + u0, J->dc + k, pp ? pp + u0 : 0, clip, cifg, J->zc ? J->zc + k : 0,
                              acc + u0, slope);
        SFX(ln_row_sums)(nr, live, J->da + o, J->da + o, G4, J->gh, J->nh + o, J->gx, J->nx + o, H, 4, u0, w,
                         pb + 4L * c0, acc, 0);
    }
}

/* Backward, step t's last part for units u0 .. u1 - 1 (u1 - u0 <= 64) of the G gate blocks of every
 * row: du = LN'(da_h g_h) into du (da_h's own place in the GRU), and d(x W) = LN'(da_x g_x) in place
 * of da_x (neither is read after this), from st, the rows' four means (ln_row_sums' q). da_h, da_x:
 * (T, N, G H) (the same array in the LSTM). */
static void SFX(ln_bwd3)(rn_job *J, const int G, int t, int u0, int u1, const float *st, float *dax,
                         const float *dah, float *du, const int n0, const int n1)
{
    const int N = J->N, H = J->H, w = u1 - u0;
    const long GH = (long)G * H, k0 = (long)t * N;
    for (long n = n0; n < n1; n++) {
        const long o = (k0 + n) * GH;
        const float *nh = J->nh + o, *nx = J->nx + o, *q = st + 4 * n;
        for (int g = 0; g < G; g++) {
            const long c = o + g * H + u0, cg = g * H + u0;
            SFX(ln_back)(dah + c, J->gh + cg, nh + g * H + u0, w, q[0], q[1], J->sh[k0 + n], du + c);
            SFX(ln_back)(dax + c, J->gx + cg, nx + g * H + u0, w, q[2], q[3], J->sx[k0 + n], dax + c);
        }
    }
}

/* The rows' statistics from the panels' partial sums p (npan of (N, k) floats), added in panel
 * order and divided by L: st[k n + j] = sum_i p[i][n][j] / L. */
static void SFX(ln_combine)(const float *p, int npan, int N, int k, long L, float *st, const int n0, const int n1)
{
    for (long n = n0; n < n1; n++)
        for (int j = 0; j < k; j++) {
            float s = 0.0f;
            for (int i = 0; i < npan; i++) s += p[((long)i * N + n) * k + j];
            st[k * n + j] = s / (float)L;
        }
}

/* The backward's column sums, columns u0 .. u1 - 1 of each of the k parts (part j: len[j] columns at
 * offset off[j] of a chunk's 5 G H): the chunks' sums added in chunk order into out[j] (set), or
 * into out[j] as it is (add[j]). */
static void SFX(ln_chunk_sums)(rn_job *J, int G, int k, const long *off, const long *len, float *const *out,
                               const int *add, int u0, int u1)
{
    const long nch = (J->N + RN_LN_RC - 1) / RN_LN_RC, stride = 5L * G * J->H;
    const float *acc = SFX(ln_w)(J, G, 9);
    for (int j = 0; j < k; j++) {
        if (!out[j]) continue;
        for (long c = u0; c < len[j]; c += J->H)
            for (long l = c; l < c + (u1 - u0); l++) {
                float v = add[j] ? out[j][l] : 0.0f, sum = 0.0f;
                for (long ch = 0; ch < nch; ch++) sum += acc[ch * stride + off[j] + l];
                out[j][l] = v + sum;
            }
    }
}

/* The backward's steps for rows n0 .. n1 - 1 (the row split): per step the same calls as the
 * unit-block loop below on these rows, every panel, then dh_{t-1} = da_h U^T for these rows; no
 * wait (a row's recurrence reads only its own row). st: this thread's row statistics. */
static void SFX(lstmln_bwd_rows)(rn_job *J, const int n0, const int n1, float *st)
{
    const int T = J->T, N = J->N, H = J->H, r = J->reverse, nb = (H + 15) / 16, npan = (nb + 3) / 4;
    const long G4 = 4L * H;
    float tile[6 * 64] __attribute__((aligned(64)));
    for (int s = 0; s < T; s++) {
        const int t = r ? s : T - 1 - s;
        const long k0 = (long)t * N;
        for (int i = 0; i < npan; i++) SFX(lstmln_bwd1)(J, t, 64 * i, 64 * i + 64 < H ? 64 * i + 64 : H, i, n0, n1);
        SFX(ln_combine)(SFX(ln_w)(J, 4, 3), npan, N, 2, H, st, n0, n1);
        for (int i = 0; i < npan; i++)
            SFX(lstmln_bwd2)(J, t, 64 * i, 64 * i + 64 < H ? 64 * i + 64 : H, i, st, n0, n1);
        SFX(ln_combine)(SFX(ln_w)(J, 4, 4), npan, N, 4, G4, st, n0, n1);
        for (int i = 0; i < npan; i++)
            SFX(ln_bwd3)(J, 4, t, 64 * i, 64 * i + 64 < H ? 64 * i + 64 : H, st, J->da, J->da, J->dah, n0, n1);
        const float *dah = J->dah + k0 * G4;
        const long kn = (long)(r ? t + 1 : t - 1) * N;            /* the next step's rows */
        for (int i = 0; i < npan; i++) {
            const int pb = 4 * i, np_ = nb - pb < 4 ? nb - pb : 4, u0 = pb * 16;
            const int lim = H - u0 < np_ * 16 ? H - u0 : np_ * 16;
            const float *panel = J->packed + (long)pb * 16 * G4;
            for (int rb = n0; rb < n1; rb += RN_LN_KR) {
                const int rows = n1 - rb < RN_LN_KR ? n1 - rb : RN_LN_KR;
                SFX(kern)(rows, np_, G4, dah + (long)rb * G4, G4, panel, tile);
                for (int rr = 0; rr < rows; rr++) {
                    const long n = rb + rr;
                    float *dhn = J->dh + n * H + u0;
                    const float *dhkn = J->dhk + n * H + u0, *tr = tile + rr * 64;
                    for (int c = 0; c < lim; c++) dhn[c] = tr[c] + dhkn[c];
                    if (s + 1 < T) {                    /* the next step's cache rows */
                        const long o = (kn + n) * G4 + u0, oh = (kn + n) * H + u0;
                        for (int g = 0; g < 4; g++) {
                            RN_PREF(J->gates + o + g * H, lim, 0);
                            RN_PREF(J->nh + o + g * H, lim, 0);
                            RN_PREF(J->nx + o + g * H, lim, 0);
                        }
                        RN_PREF(J->aux + oh, lim, 0);
                        if (J->chat) RN_PREF(J->chat + oh, lim, 0);
                    }
                }
            }
        }
    }
}

static void SFX(lstmln_bwd)(rn_job *J, int tid, int nt)
{
    const int T = J->T, N = J->N, H = J->H, r = J->reverse, nb = (H + 15) / 16, npan = (nb + 3) / 4;
    const long G4 = 4L * H;
    rn_sync S = {tid, nt, 0, 0, 0, 0};
    float *st = SFX(ln_w)(J, 4, 2) + 4L * N * tid, *acc = SFX(ln_w)(J, 4, 9);
    const long nch = (N + RN_LN_RC - 1) / RN_LN_RC;
    const int rows = rn_by_rows(N, tid, nt);
    float tile[6 * 64] __attribute__((aligned(64)));
    rn_phase(&S, npan);                                 /* pack U^T; step T-1's (0's) first part */
    for (int i; (i = rn_claim(J->claim2, &S)) >= 0; rn_done(J)) {
        const int u0 = 64 * i, u1 = 64 * i + 64 < H ? 64 * i + 64 : H;
        SFX(pack_bwd)(J->U, H, 4, 4 * i, nb - 4 * i < 4 ? nb - 4 * i : 4, J->packed);
        for (long ch = 0; ch < nch; ch++)               /* the chunks' column sums: 17 H of 20 H */
            for (int g = 0; g < 17; g++)
                for (int j = u0; j < u1; j++) acc[ch * 20 * H + g * H + j] = 0.0f;
        if (!rows) SFX(lstmln_bwd1)(J, r ? 0 : T - 1, u0, u1, i, 0, N);
    }
    rn_wait(J, &S);
    if (rows) {                                         /* nt parts of the rows, all steps each */
        rn_parts R = rn_parts_begin(&S, 1, N, RN_LN_RC);
        while (rn_parts_next(J, J->claim2, &S, &R)) SFX(lstmln_bwd_rows)(J, R.n0, R.n1, st);
        rn_parts_end(J, &S, &R);
    }
#ifdef RN_TIME
    long tm[7] = {0}, t_ = rn_tnow();
#define RN_TICK(k) do { long t2_ = rn_tnow(); tm[k] += t2_ - t_; t_ = t2_; } while (0)
#else
#define RN_TICK(k) ((void)0)
#endif
    for (int s = 0; s < T && !rows; s++) {
        const int t = r ? s : T - 1 - s;
        const long k0 = (long)t * N;
        rn_phase(&S, npan);                             /* the gates' da_t, dc_{t-1} */
        for (int i, have = 0; (i = rn_claim(J->claim2, &S)) >= 0; rn_done(J)) {
            if (!have) { SFX(ln_combine)(SFX(ln_w)(J, 4, 3), npan, N, 2, H, st, 0, N); have = 1; }
            SFX(lstmln_bwd2)(J, t, 64 * i, 64 * i + 64 < H ? 64 * i + 64 : H, i, st, 0, N);
        }
        rn_wait(J, &S);
        RN_TICK(0);
        rn_phase(&S, npan);                             /* da_h = LN'(da g_h), d(x W) = LN'(da g_x) into da */
        for (int i, have = 0; (i = rn_claim(J->claim2, &S)) >= 0; rn_done(J)) {
            if (!have) { SFX(ln_combine)(SFX(ln_w)(J, 4, 4), npan, N, 4, G4, st, 0, N); have = 1; }
            SFX(ln_bwd3)(J, 4, t, 64 * i, 64 * i + 64 < H ? 64 * i + 64 : H, st, J->da, J->da, J->dah, 0, N);
        }
        rn_wait(J, &S);
        RN_TICK(1);
        const float *dah = J->dah + k0 * G4;
        rn_phase(&S, npan);                             /* dh_{t-1} = da_h U^T + dhk; the next step's first part */
        for (int i; (i = rn_claim(J->claim2, &S)) >= 0; rn_done(J)) {
            const int pb = 4 * i, np_ = nb - pb < 4 ? nb - pb : 4, u0 = pb * 16;
            const int lim = H - u0 < np_ * 16 ? H - u0 : np_ * 16;
            const float *panel = J->packed + (long)pb * 16 * G4;
            const long kn = (long)(r ? t + 1 : t - 1) * N;        /* the next step's rows */
            for (int rb = 0; rb < N; rb += RN_LN_KR) {
                const int rows = N - rb < RN_LN_KR ? N - rb : RN_LN_KR;
                SFX(kern)(rows, np_, G4, dah + (long)rb * G4, G4, panel, tile);
                for (int rr = 0; rr < rows; rr++) {
                    const long n = rb + rr;
                    float *dhn = J->dh + n * H + u0;
                    const float *dhkn = J->dhk + n * H + u0, *tr = tile + rr * 64;
                    for (int c = 0; c < lim; c++) dhn[c] = tr[c] + dhkn[c];
                    if (s + 1 < T) {                    /* the next step's cache rows, for its phases */
                        const long o = (kn + n) * G4 + u0, oh = (kn + n) * H + u0;
                        for (int g = 0; g < 4; g++) {
                            RN_PREF(J->gates + o + g * H, lim, 0);
                            RN_PREF(J->nh + o + g * H, lim, 0);
                            RN_PREF(J->nx + o + g * H, lim, 0);
                        }
                        RN_PREF(J->aux + oh, lim, 0);
                        if (J->chat) RN_PREF(J->chat + oh, lim, 0);
                    }
                }
            }
            if (s + 1 < T) SFX(lstmln_bwd1)(J, r ? t + 1 : t - 1, u0, u0 + lim, i, 0, N);
        }
        rn_wait(J, &S);
        RN_TICK(2);
    }
    SFX(weight_grads)(J, &S, 4, J->da, J->dah);         /* dW, dU, dx from d(x W) (db: the next phase's) */
    RN_TICK(3);
    rn_phase(&S, npan);                                 /* the column sums: the chunks' in chunk order */
    for (int i; (i = rn_claim(J->claim2, &S)) >= 0; rn_done(J)) {
        const long off[6] = {0, 4 * H, 8 * H, 12 * H, 13 * H, 14 * H}, len[6] = {G4, G4, G4, H, H, 3L * H};
        float *const out[6] = {J->db, J->dgx, J->dgh, J->dgc, J->dbc, J->vflags & RN_PEEP ? J->dp : 0};
        const int add[6] = {0, 0, 0, 0, 0, 1};
        SFX(ln_chunk_sums)(J, 4, 6, off, len, out, add, 64 * i, 64 * i + 64 < H ? 64 * i + 64 : H);
    }
    rn_wait(J, &S);
#ifdef RN_TIME
    if (tid == 0) fprintf(stderr, "lstmln_bwd gates %.3f dah %.3f dh %.3f | wgrads %.3f ms\n",
                          tm[0] / 1e6, tm[1] / 1e6, tm[2] / 1e6, tm[3] / 1e6);
#endif
#undef RN_TICK
}

/* ----- LSTM -------------------------------------------------------------------------------------- */
/* The gate work of one batch row for len <= 16 units from u0 (lstm.py, gate order i, f, o, g):
 *   i, f, o = sigma(x W + h U + b),  g = tanh(x W + h U + b),  c_t = f c_{t-1} + i g,  h_t = o tanh(c_t).
 * tr is the row of the product tile, x_t W + h_{t-1} U (gate k at tr + 16 k); the activated gates go
 * to a (the row's gates at unit u0, gate k at a + k H) and tanh(c_t) to tc, each unless NULL (an
 * inference keeps no cache: T N 5H floats fewer written, and read back from memory on a cold call). */
static inline void SFX(lstm_units)(const int len, float *a, long H, const float *bu, const float *tr,
                                   const float *cp, float *cn, float *hn, float *tc)
{
    int l = 0;
    for (; l + VL <= len; l += VL) {
        const SFX(vf) i = SFX(vsig)(V_ADD(V_LD(bu + l), V_LD(tr + l)));
        const SFX(vf) f = SFX(vsig)(V_ADD(V_LD(bu + H + l), V_LD(tr + 16 + l)));
        const SFX(vf) o = SFX(vsig)(V_ADD(V_LD(bu + 2 * H + l), V_LD(tr + 32 + l)));
        const SFX(vf) g = SFX(vtanh)(V_ADD(V_LD(bu + 3 * H + l), V_LD(tr + 48 + l)));
        if (a) { V_ST(a + l, i); V_ST(a + H + l, f); V_ST(a + 2 * H + l, o); V_ST(a + 3 * H + l, g); }
        const SFX(vf) c = V_FMA(f, V_LD(cp + l), V_MUL(i, g));          /* c_t = f c_{t-1} + i g */
        const SFX(vf) th = SFX(vtanh)(c);
        if (tc) V_ST(tc + l, th);
        V_ST(cn + l, c);
        V_ST(hn + l, V_MUL(o, th));                                     /* h_t = o tanh(c_t) */
    }
    for (; l < len; l++) {
        const float i = SFX(sig_r)(bu[l] + tr[l]);
        const float f = SFX(sig_r)(bu[H + l] + tr[16 + l]);
        const float o = SFX(sig_r)(bu[2 * H + l] + tr[32 + l]);
        const float g = SFX(tanh_r)(bu[3 * H + l] + tr[48 + l]);
        if (a) { a[l] = i; a[H + l] = f; a[2 * H + l] = o; a[3 * H + l] = g; }
        const float c = f * cp[l] + i * g;
        const float th = SFX(tanh_r)(c);
        if (tc) tc[l] = th;
        cn[l] = c;
        hn[l] = o * th;
    }
}

/* lstm_units for R rows at once (R a constant, 1 or 2), rows rr at a + rr G4, tr + 64 rr, cp, cn, tc
 * + rr H and hn + rr hns: the same operations on every unit (the same bits), interleaved so that the
 * rows' activation chains (tanh(a_g), then c_t, then tanh(c_t): about 110 cycles of latency a vector)
 * overlap instead of running one row after the other (measured, paired: inference 0.95-0.99 of
 * one row at a time; 3 rows no faster, 6 slower: their registers spill). */
static inline __attribute__((always_inline)) void
SFX(lstm_units_r)(const int R, const int len, float *a, const long G4, long H, const float *bu, const float *tr,
                  const float *cp, float *cn, float *hn, const long hns, float *tc)
{
    int l = 0;
    for (; l + VL <= len; l += VL) {
        SFX(vf) i[2], f[2], o[2], g[2], c[2], th[2];
        const SFX(vf) bi = V_LD(bu + l), bf = V_LD(bu + H + l), bo = V_LD(bu + 2 * H + l), bg = V_LD(bu + 3 * H + l);
#pragma GCC unroll 2
        for (int rr = 0; rr < R; rr++) {
            const float *t = tr + rr * 64 + l;
            i[rr] = SFX(vsig)(V_ADD(bi, V_LD(t)));
            f[rr] = SFX(vsig)(V_ADD(bf, V_LD(t + 16)));
            o[rr] = SFX(vsig)(V_ADD(bo, V_LD(t + 32)));
            g[rr] = SFX(vtanh)(V_ADD(bg, V_LD(t + 48)));
        }
#pragma GCC unroll 2
        for (int rr = 0; rr < R; rr++) {
            if (a) {
                float *ar = a + rr * G4 + l;
                V_ST(ar, i[rr]); V_ST(ar + H, f[rr]); V_ST(ar + 2 * H, o[rr]); V_ST(ar + 3 * H, g[rr]);
            }
            c[rr] = V_FMA(f[rr], V_LD(cp + rr * H + l), V_MUL(i[rr], g[rr]));      /* c_t = f c_{t-1} + i g */
        }
#pragma GCC unroll 2
        for (int rr = 0; rr < R; rr++) th[rr] = SFX(vtanh)(c[rr]);
#pragma GCC unroll 2
        for (int rr = 0; rr < R; rr++) {
            if (tc) V_ST(tc + rr * H + l, th[rr]);
            V_ST(cn + rr * H + l, c[rr]);
            V_ST(hn + rr * hns + l, V_MUL(o[rr], th[rr]));                       /* h_t = o tanh(c_t) */
        }
    }
    if (l < len)
        for (int rr = 0; rr < R; rr++)
            SFX(lstm_units)(len - l, a ? a + rr * G4 + l : 0, H, bu + l, tr + rr * 64 + l, cp + rr * H + l,
                            cn + rr * H + l, hn + rr * hns + l, tc ? tc + rr * H + l : 0);
}

/* lstm_units with the variant options (lstm_variants.py's lstmv_step_forward, regularizers.py's
 * zoneout), for one batch row, len <= 16 units from u0:
 *   a_i += p_i c_{t-1}, a_f += p_f c_{t-1}          (pp: peepholes p_i, p_f, p_o at pp, pp + H, pp + 2 H)
 *   i = sigma(a_i), f = sigma(a_f) or 1 - i (cifg), g = tanh(a_g),  c = f c_{t-1} + i g
 *   c^_t = clip(c, -clip, clip) (clip > 0),  a_o += p_o c^_t,  o = sigma(a_o),  h^_t = o tanh(c^_t)
 *   h_t = h^_t + d_h (h_{t-1} - h^_t), c_t likewise (zh, zc: the row's zoneout d, or NULL).
 * sigma: the sigmoid, or with slope > 0 the hard sigmoid clip(slope a + 1/2, 0, 1) (vgate).
 * gclip > 0 (gate_clip, lstm_variants.py [2]): a_i, a_f, a_g (after the peepholes) and a_o (after its
 * peephole) clipped to [-gclip, gclip] before their activations; where kp is not NULL the bits
 * [|a| < gclip] of gate k go to the 16-bit word kp[k nb] (unit l at bit l), for the backward.
 * The cache keeps the activated gates (f = 1 - i with cifg), tanh(c^_t) and, where ch is not NULL,
 * c^_t itself. */
static inline void SFX(lstm_units_v)(const int len, float *a, long H, const float *bu, const float *tr,
                                     const float *cp, float *cn, float *hn, float *tc, const float *pp,
                                     const float clip, const int cifg, const float *hp, const float *zh,
                                     const float *zc, float *ch, const float slope, const float gclip,
                                     uint16_t *kp, const int nb)
{
    const SFX(vf) one = V_SET(1.0f), lo = V_SET(-clip), hi = V_SET(clip), glo = V_SET(-gclip), ghi = V_SET(gclip);
    unsigned ki = 0, kf = 0, ko = 0, kg = 0;                     /* gate_clip's bits of this block */
    int l = 0;
    for (; l + VL <= len; l += VL) {
        const SFX(vf) c0 = V_LD(cp + l);
        SFX(vf) ai = V_ADD(V_LD(bu + l), V_LD(tr + l)), af = V_ADD(V_LD(bu + H + l), V_LD(tr + 16 + l));
        SFX(vf) ao = V_ADD(V_LD(bu + 2 * H + l), V_LD(tr + 32 + l)), ag = V_ADD(V_LD(bu + 3 * H + l), V_LD(tr + 48 + l));
        if (pp) { ai = V_FMA(V_LD(pp + l), c0, ai); af = V_FMA(V_LD(pp + H + l), c0, af); }
        if (gclip > 0.0f) {                                       /* a = clip(a, -gclip, gclip) */
            ki |= V_LTBITS(ai, ghi) << l; kf |= V_LTBITS(af, ghi) << l; kg |= V_LTBITS(ag, ghi) << l;
            ai = V_MIN(ghi, V_MAX(glo, ai)); af = V_MIN(ghi, V_MAX(glo, af)); ag = V_MIN(ghi, V_MAX(glo, ag));
        }
        const SFX(vf) i = SFX(vgate)(ai, slope);
        const SFX(vf) f = cifg ? V_SUB(one, i) : SFX(vgate)(af, slope);
        const SFX(vf) g = SFX(vtanh)(ag);
        SFX(vf) c = V_FMA(f, c0, V_MUL(i, g));
        if (clip > 0.0f) c = V_MIN(hi, V_MAX(lo, c));
        if (ch) V_ST(ch + l, c);
        if (pp) ao = V_FMA(V_LD(pp + 2 * H + l), c, ao);
        if (gclip > 0.0f) { ko |= V_LTBITS(ao, ghi) << l; ao = V_MIN(ghi, V_MAX(glo, ao)); }
        const SFX(vf) o = SFX(vgate)(ao, slope);
        if (a) { V_ST(a + l, i); V_ST(a + H + l, f); V_ST(a + 2 * H + l, o); V_ST(a + 3 * H + l, g); }
        const SFX(vf) th = SFX(vtanh)(c);
        if (tc) V_ST(tc + l, th);
        SFX(vf) h = V_MUL(o, th);
        if (zc) c = V_FMA(V_LD(zc + l), V_SUB(c0, c), c);
        if (zh) h = V_FMA(V_LD(zh + l), V_SUB(V_LD(hp + l), h), h);
        V_ST(cn + l, c);
        V_ST(hn + l, h);
    }
    for (; l < len; l++) {
        const float c0 = cp[l];
        float ai = bu[l] + tr[l], af = bu[H + l] + tr[16 + l], ao = bu[2 * H + l] + tr[32 + l];
        float ag = bu[3 * H + l] + tr[48 + l];
        if (pp) { ai += pp[l] * c0; af += pp[H + l] * c0; }
        if (gclip > 0.0f) {
            ki |= (unsigned)(ai < gclip && ai > -gclip) << l; ai = ai < -gclip ? -gclip : (ai > gclip ? gclip : ai);
            kf |= (unsigned)(af < gclip && af > -gclip) << l; af = af < -gclip ? -gclip : (af > gclip ? gclip : af);
            kg |= (unsigned)(ag < gclip && ag > -gclip) << l; ag = ag < -gclip ? -gclip : (ag > gclip ? gclip : ag);
        }
        const float i = SFX(gate_r)(ai, slope);
        const float f = cifg ? 1.0f - i : SFX(gate_r)(af, slope);
        const float g = SFX(tanh_r)(ag);
        float c = f * c0 + i * g;
        if (clip > 0.0f) c = c < -clip ? -clip : (c > clip ? clip : c);
        if (ch) ch[l] = c;
        if (pp) ao += pp[2 * H + l] * c;
        if (gclip > 0.0f) {
            ko |= (unsigned)(ao < gclip && ao > -gclip) << l; ao = ao < -gclip ? -gclip : (ao > gclip ? gclip : ao);
        }
        const float o = SFX(gate_r)(ao, slope);
        if (a) { a[l] = i; a[H + l] = f; a[2 * H + l] = o; a[3 * H + l] = g; }
        const float th = SFX(tanh_r)(c);
        if (tc) tc[l] = th;
        float h = o * th;
        if (zc) c += zc[l] * (c0 - c);
        if (zh) h += zh[l] * (hp[l] - h);
        cn[l] = c;
        hn[l] = h;
    }
    if (kp) { kp[0] = (uint16_t)ki; kp[nb] = (uint16_t)kf; kp[2 * nb] = (uint16_t)ko; kp[3 * nb] = (uint16_t)kg; }
}

/* The forward loop; variant is a constant (0: the plain cell, 1: J->vflags' options, 2: RN_FLOOR, the
 * products and waits alone), so that the plain loop compiles to the same code as without the options. */
/* x_t W for unit block pb and steps t0 .. t1 - 1 (ascending), into xw's rows (t - t0) N + n, each
 * block's 64 columns at pb 64 (rows lxw floats apart): kern over the W rows of the block's packed panel. */
static void SFX(xw_block)(const rn_job *J, const int pb, const int t0, const int t1, float *xw, const long lxw)
{
    const int N = J->N, D = J->D, H = J->H;
    const float *panel = J->packed + (long)pb * 64 * (D + H), *x = J->x + (long)t0 * N * D;
    float tile[6 * 64] __attribute__((aligned(64)));
    for (long q = 0, M = (long)(t1 - t0) * N, rows; q < M; q += rows) {
        rows = SFX(tile_rows)(M - q);
        SFX(kern)(rows, 4, D, x + q * D, D, panel, tile);
        for (int rr = 0; rr < rows; rr++) memcpy(xw + (q + rr) * lxw + pb * 64, tile + rr * 64, 64 * sizeof(float));
    }
}

/* The steps s0 .. s1 - 1 of chunk c (RN_XW_STEPS steps each), as the ascending range t0 .. t1 - 1 of t. */
static inline void SFX(xw_steps)(const int T, const int r, const int c, int *t0, int *t1)
{
    const int s0 = c * RN_XW_STEPS, s1 = s0 + RN_XW_STEPS < T ? s0 + RN_XW_STEPS : T;
    *t0 = r ? T - s1 : s0;
    *t1 = r ? T - s0 : s1;
}

static inline __attribute__((always_inline)) void SFX(lstm_fwd_body)(rn_job *J, int tid, int nt, const int variant)
{
    const int T = J->T, N = J->N, H = J->H, D = J->D, r = J->reverse;
    const long G4 = 4L * H;
    const int nb = (H + 15) / 16;
    rn_sync S = {tid, nt, 0, 0, 0, 0};
    float tile[6 * 64] __attribute__((aligned(64)));
    float *const xw = J->xw;             /* x_t W of RN_XW_STEPS steps at a time, or NULL (see rn_run) */
    const long lxw = (long)nb * 64;
    int xt0, xt1;                                       /* the steps (t) whose x_t W xw holds */
    SFX(xw_steps)(T, r, 0, &xt0, &xt1);
    rn_phase(&S, nb);                                   /* pack [W; U], one unit block at a time */
    for (int pb; (pb = rn_claim(J->claim1, &S)) >= 0; rn_done(J)) {
        SFX(pack_fwd)(J->W, J->U, D, H, 4, pb, 1, J->packed);
        if (xw) SFX(xw_block)(J, pb, xt0, xt1, xw, lxw);    /* and the block's x_t W for the first steps */
    }
    rn_wait(J, &S);
    const float *b = J->b;
    const float *pp = variant && (J->vflags & RN_PEEP) ? J->peep : 0;
    const float clip = variant && (J->vflags & RN_CLIP) ? J->clip : 0.0f;
    const int cifg = variant && (J->vflags & RN_CIFG);
    const float slope = variant && (J->vflags & RN_HARD) ? J->slope : 0.0f;
    const float gclip = variant && (J->vflags & RN_GCLIP) ? J->gclip : 0.0f;
    const int rdrop = variant && (J->vflags & RN_RDROP);
    /* h_t's slot t + 1 - r of hs (T + 1, N, H), or with J->h_ts (an inference) y[t], and c_t's
     * slot of cs, or slot (s + 1) % 2 of two: the output is written in place, no state kept */
    const int outy = J->h_ts > 0;
    const long hts = outy ? J->h_ts : (long)N * H, hns = outy ? J->h_ns : H, hoff = outy ? r - 1 : 0;
    rn_parts P = rn_parts_begin(&S, !xw && rn_by_rows(N, tid, nt), N, RN_PART_ALIGN);
    while (rn_parts_next(J, J->claim1, &S, &P))
    for (int s = 0; s < T; s++) {
        const int t = r ? T - 1 - s : s;
        if (xw && s > 0 && s % RN_XW_STEPS == 0) {      /* the next steps' x_t W (the last step has read xw) */
            SFX(xw_steps)(T, r, s / RN_XW_STEPS, &xt0, &xt1);
            rn_phase(&S, nb);
            for (int pb; (pb = rn_claim(J->claim1, &S)) >= 0; rn_done(J)) SFX(xw_block)(J, pb, xt0, xt1, xw, lxw);
            rn_wait(J, &S);
        }
        const int first = outy && s == 0;               /* h_{t-1}: h0 itself, rows H apart */
        const float *hp = first ? J->h0 : J->hs + (t + r + hoff) * hts;
        const long hpl = first ? H : hns;
        float *hn = J->hs + (t + 1 - r + hoff) * hts;
        const float *cp = J->cs + (outy ? (long)(s & 1) : (long)(t + r)) * N * H;
        float *cn = J->cs + (outy ? (long)((s + 1) & 1) : (long)(t + 1 - r)) * N * H;
        float *a = J->gates ? J->gates + (long)t * N * G4 : 0, *tc = J->aux ? J->aux + (long)t * N * H : 0;
        const float *xt = J->x + (long)t * N * D;
        const float *m = J->mask ? J->mask + (long)t * N : 0;
        float *yt = J->y ? J->y + (long)t * J->y_ts : 0;          /* y_t, rows y_ns apart */
        const float *hk = rdrop ? J->hd + (long)(t + r) * N * H : hp;    /* the product's h: h~ or h */
        float *hdn = rdrop ? J->hd + (long)(t + 1 - r) * N * H : 0;
        uint16_t *kt = variant && J->gkeep ? J->gkeep + (long)t * N * 4 * nb : 0;   /* gate_clip's bits */
        rn_items_begin(&S, &P, nb);
        for (int pb; (pb = rn_item(J->claim1, &S, &P)) >= 0; rn_item_done(J, &P)) {
            const float *panel = J->packed + (long)pb * 64 * (D + H);
            const int u0 = pb * 16, lim = H - u0 < 16 ? H - u0 : 16;
            for (int rb = P.n0, rows; rb < P.n1; rb += rows) {
                rows = SFX(tile_rows)(P.n1 - rb);
                if (xw)
                    SFX(kern_c0)(rows, 4, H, hk + rb * hpl, hpl, xw + ((long)(t - xt0) * N + rb) * lxw + pb * 64, lxw,
                                 panel + (long)D * 64, tile);
                else
                    SFX(kern2)(rows, 4, D, xt + (long)rb * D, D, H, hk + rb * hpl, hpl, panel, tile);
                if (variant == 2) continue;                  /* RN_FLOOR: the product alone */
                if (!variant)                                /* the plain cell: rows 2 at a time */
                    for (int r0 = 0; r0 < rows; r0 += 2) {
                        const long n = rb + r0;
                        float *an = a ? a + n * G4 + u0 : 0, *tcn = tc ? tc + n * H + u0 : 0;
                        if (rows - r0 >= 2)
                            SFX(lstm_units_r)(2, lim, an, G4, H, b + u0, tile + r0 * 64, cp + n * H + u0,
                                              cn + n * H + u0, hn + n * hns + u0, hns, tcn);
                        else
                            SFX(lstm_units_r)(1, lim, an, G4, H, b + u0, tile + r0 * 64, cp + n * H + u0,
                                              cn + n * H + u0, hn + n * hns + u0, hns, tcn);
                    }
                for (int rr = 0; rr < rows; rr++) {
                    const long n = rb + rr;
                    float *an = a ? a + n * G4 + u0 : 0, *cnn = cn + n * H + u0, *hnn = hn + n * hns + u0;
                    const float *cpn = cp + n * H + u0;
                    if (variant)
                        SFX(lstm_units_v)(lim, an, H, b + u0, tile + rr * 64, cpn, cnn, hnn, tc ? tc + n * H + u0 : 0,
                                          pp ? pp + u0 : 0, clip, cifg, hp + n * hpl + u0,
                                          J->zh ? J->zh + n * H + u0 : 0, J->zc ? J->zc + n * H + u0 : 0,
                                          J->chat ? J->chat + ((long)t * N + n) * H + u0 : 0, slope, gclip,
                                          kt ? kt + n * 4 * nb + pb : 0, nb);
                    if (m) {                                         /* ragged: y = m h, carry */
                        const float mv = m[n];
                        for (int l = 0; l < lim; l++) yt[n * J->y_ns + u0 + l] = hnn[l] * mv;
                        if (mv == 0.0f)
                            for (int l = 0; l < lim; l++) { hnn[l] = hp[n * hpl + u0 + l]; cnn[l] = cpn[l]; }
                    } else if (yt)                                   /* y = h, into the layer's output */
                        SFX(copy_f)(yt + n * J->y_ns + u0, hnn, lim);
                    if (hdn) SFX(rdrop_row)(lim, hnn, J->sr + n * H + u0, hdn + n * H + u0);
                }
            }
        }
        rn_items_end(J, &S, &P);
    }
    rn_parts_end(J, &S, &P);
}

static void SFX(lstm_fwd)(rn_job *J, int tid, int nt)
{
    if (J->vflags & RN_FLOOR) SFX(lstm_fwd_body)(J, tid, nt, 2);
    else if (J->vflags & RN_LN) SFX(lstmln_fwd)(J, tid, nt);
    else if (J->vflags) SFX(lstm_fwd_body)(J, tid, nt, 1);
    else SFX(lstm_fwd_body)(J, tid, nt, 0);
}

/* The backward of lstm_units for one batch row, units j0 .. j1 - 1 (lstm.py's lstm_step_backward):
 * dh = dh_{t} + dy_t; dc_t = dc + dh o (1 - tanh^2 c_t); da = the gates' derivatives; dc_{t-1} = dc_t f.
 * The product part of dh_{t-1} (da U^T) comes later; its direct part dhk is 0 here (not written where
 * dhk is NULL). tanh(c_t) is read from tc, or where tc is NULL computed again from c_t (cc) as
 * lstm_units computed it (the same function on the same units: the same bits). */
static inline void SFX(lstm_units_bwd)(int j0, const int j1, long H, const float *g_, const float *tc,
                                       const float *cc, const float *cp, const float *dy, float *da,
                                       const float *dh, float *dc, float *dhk)
{
    const SFX(vf) one = V_SET(1.0f);
    for (; j0 + VL <= j1; j0 += VL) {
        const int j = j0;
        const SFX(vf) i = V_LD(g_ + j), f = V_LD(g_ + H + j), o = V_LD(g_ + 2 * H + j), g = V_LD(g_ + 3 * H + j);
        const SFX(vf) th = tc ? V_LD(tc + j) : SFX(vtanh)(V_LD(cc + j));
        const SFX(vf) dhj = V_ADD(V_LD(dh + j), V_LD(dy + j));
        const SFX(vf) d_o = V_MUL(dhj, th);                                 /* h_t = o tanh(c_t) */
        const SFX(vf) dct = V_FMA(V_MUL(dhj, o), V_SUB(one, V_MUL(th, th)), V_LD(dc + j));
        V_ST(da + j, V_MUL(V_MUL(V_MUL(dct, g), i), V_SUB(one, i)));        /* c_t = f c_{t-1} + i g */
        V_ST(da + H + j, V_MUL(V_MUL(V_MUL(dct, V_LD(cp + j)), f), V_SUB(one, f)));
        V_ST(da + 2 * H + j, V_MUL(V_MUL(d_o, o), V_SUB(one, o)));
        V_ST(da + 3 * H + j, V_MUL(V_MUL(dct, i), V_SUB(one, V_MUL(g, g))));
        V_ST(dc + j, V_MUL(dct, f));
        if (dhk) V_ST(dhk + j, V_SET(0.0f));
    }
    for (int j = j0; j < j1; j++) {
        const float i = g_[j], f = g_[H + j], o = g_[2 * H + j], g = g_[3 * H + j];
        const float th = tc ? tc[j] : SFX(tanh_r)(cc[j]);
        const float dhj = dh[j] + dy[j];
        const float d_o = dhj * th;
        const float dct = dc[j] + dhj * o * (1.0f - th * th);
        da[j] = dct * g * i * (1.0f - i);
        da[H + j] = dct * cp[j] * f * (1.0f - f);
        da[2 * H + j] = d_o * o * (1.0f - o);
        da[3 * H + j] = dct * i * (1.0f - g * g);
        dc[j] = dct * f;
        if (dhk) dhk[j] = 0.0f;
    }
}

/* A padded (masked) row's step: no gradient into the gates; dh passes to h_{t-1} (dc stays). */
static inline void SFX(lstm_padded_row)(int u0, int u1, long H, float *da, const float *dh, float *dhk)
{
    for (int j = u0; j < u1; j++) {
        da[j] = da[H + j] = da[2 * H + j] = da[3 * H + j] = 0.0f;
        dhk[j] = dh[j];
    }
}

/* Step t's elementwise backward for units u0 .. u1 - 1 of rows n0 .. n1 - 1: da_t, dc_{t-1}, dhk. */
static void SFX(lstm_bwd_elem)(rn_job *J, int t, int u0, int u1, const int n0, const int n1)
{
    const int N = J->N, H = J->H, r = J->reverse;
    const long G4 = 4L * H;
    const float *gt = J->gates + (long)t * N * G4, *tct = J->aux ? J->aux + (long)t * N * H : 0;
    const float *cp = J->cs + (long)(t + r) * N * H, *dyt = J->dy + (long)t * J->dy_ts;
    const float *ct = J->cs + (long)(t + 1 - r) * N * H;        /* c_t, for tanh(c_t) without tct */
    const float *m = J->mask ? J->mask + (long)t * N : 0;
    float *da = J->da + (long)t * N * G4, *dh = J->dh, *dc = J->dc, *dhk = J->dhk;
    for (long n = n0; n < n1; n++) {
        const float *g_ = gt + n * G4, *tc = tct ? tct + n * H : 0, *cpn = cp + n * H, *dyn = dyt + n * J->dy_ns;
        float *dan = da + n * G4, *dhn = dh + n * H, *dcn = dc + n * H, *dhkn = dhk + n * H;
        if (m && m[n] == 0.0f) {                             /* padded: no gradient, carry dh, dc */
            SFX(lstm_padded_row)(u0, u1, H, dan, dhn, dhkn);
            continue;
        }
        SFX(lstm_units_bwd)(u0, u1, H, g_, tc, ct + n * H, cpn, dyn, dan, dhn, dcn, J->dhk_zero ? 0 : dhkn);
    }
}

/* The backward of lstm_units_v for one batch row, units j0 .. j1 - 1 (lstm_variants.py's
 * lstmv_step_backward, and regularizers.py's zoneout: ds^_t = ds_t (1 - d), ds_{t-1} += ds_t d):
 *   do = dh tanh(c_t),  dc += dh o (1 - tanh^2),  da_o = do o (1 - o),  dc += da_o p_o,
 *   dc *= [|c_t| < clip],  di = dc g, df = dc c_{t-1}, dg = dc i,  dc_{t-1} = dc f,
 *   da_f = df f (1 - f), or di -= df and da_f = 0 (cifg),  da_i = di i (1 - i),  da_g = dg (1 - g^2),
 *   (with slope > 0, the hard sigmoid's s' = slope where 0 < s < 1, else 0, in place of s (1 - s)),
 *   dc_{t-1} += da_i p_i + da_f p_f,  dp += (da_i c_{t-1}, da_f c_{t-1}, da_o c_t).
 * cc: c^_t (the clipped c before zoneout: cs without zoneout, else chat). The peephole terms are
 * summed into sp (unit j's three at sp[j - j0], sp[64 + j - j0], sp[128 + j - j0]; j1 - j0 <= 64).
 * kp: gate_clip's bits of the row (gate k's word for unit j at kp[k nb + j / 16], bit j % 16), or
 * NULL: da_k *= [|a_k| < gate_clip], da_o before dc reads it, da_i and da_f before the peepholes. */
static inline void SFX(lstm_units_bwd_v)(int j0, const int j1, long H, const float *g_, const float *tc,
                                         const float *cp, const float *cc, const float *dy, float *da,
                                         const float *dh, float *dc, float *dhk, const float *pp,
                                         const float clip, const int cifg, const float *zh, const float *zc,
                                         float *sp, const float slope, const uint16_t *kp, const int nb)
{
    const int o0 = j0;
    const SFX(vf) one = V_SET(1.0f), zero = V_SET(0.0f), lim = V_SET(clip);
    for (; j0 + VL <= j1; j0 += VL) {
        const int j = j0;
        const SFX(vf) i = V_LD(g_ + j), f = V_LD(g_ + H + j), o = V_LD(g_ + 2 * H + j), g = V_LD(g_ + 3 * H + j);
        const SFX(vf) th = V_LD(tc + j), c0 = V_LD(cp + j);
        SFX(vf) dhj = V_ADD(V_LD(dh + j), V_LD(dy + j)), dci = V_LD(dc + j), dzh = zero, dzc = zero;
        if (zh) { const SFX(vf) d = V_LD(zh + j); dzh = V_MUL(dhj, d); dhj = V_MUL(dhj, V_SUB(one, d)); }
        if (zc) { const SFX(vf) d = V_LD(zc + j); dzc = V_MUL(dci, d); dci = V_MUL(dci, V_SUB(one, d)); }
        unsigned ki = 0, kf = 0, ko = 0, kg = 0;
        if (kp) {
            const int w = j >> 4, sh = j & 15;
            ki = kp[w] >> sh; kf = kp[nb + w] >> sh; ko = kp[2 * nb + w] >> sh; kg = kp[3 * nb + w] >> sh;
        }
        SFX(vf) dao = SFX(vdgate)(V_MUL(dhj, th), o, slope);
        if (kp) dao = V_BITS(dao, ko);
        SFX(vf) dct = V_FMA(V_MUL(dhj, o), V_SUB(one, V_MUL(th, th)), dci);
        if (pp) dct = V_FMA(dao, V_LD(pp + 2 * H + j), dct);
        if (clip > 0.0f) dct = V_KEEP_LT(dct, V_LD(cc + j), lim);
        SFX(vf) di = V_MUL(dct, g);
        const SFX(vf) df = V_MUL(dct, c0);
        SFX(vf) daf = zero;
        if (cifg) di = V_SUB(di, df);
        else daf = SFX(vdgate)(df, f, slope);
        SFX(vf) dai = SFX(vdgate)(di, i, slope), dag = V_MUL(V_MUL(dct, i), V_SUB(one, V_MUL(g, g)));
        if (kp) { dai = V_BITS(dai, ki); daf = V_BITS(daf, kf); dag = V_BITS(dag, kg); }
        SFX(vf) dcp = V_MUL(dct, f);
        if (pp) {
            dcp = V_FMA(daf, V_LD(pp + H + j), V_FMA(dai, V_LD(pp + j), dcp));
            float *s = sp + j - o0;
            V_ST(s, V_FMA(dai, c0, V_LD(s)));
            V_ST(s + 64, V_FMA(daf, c0, V_LD(s + 64)));
            V_ST(s + 128, V_FMA(dao, V_LD(cc + j), V_LD(s + 128)));
        }
        V_ST(da + j, dai);
        V_ST(da + H + j, daf);
        V_ST(da + 2 * H + j, dao);
        V_ST(da + 3 * H + j, dag);
        V_ST(dc + j, V_ADD(dcp, dzc));
        V_ST(dhk + j, dzh);
    }
    for (int j = j0; j < j1; j++) {
        const float i = g_[j], f = g_[H + j], o = g_[2 * H + j], g = g_[3 * H + j], th = tc[j], c0 = cp[j];
        float dhj = dh[j] + dy[j], dci = dc[j], dzh = 0.0f, dzc = 0.0f;
        if (zh) { dzh = dhj * zh[j]; dhj *= 1.0f - zh[j]; }
        if (zc) { dzc = dci * zc[j]; dci *= 1.0f - zc[j]; }
        unsigned ki = 1, kf = 1, ko = 1, kg = 1;
        if (kp) {
            const int w = j >> 4, sh = j & 15;
            ki = kp[w] >> sh & 1; kf = kp[nb + w] >> sh & 1; ko = kp[2 * nb + w] >> sh & 1; kg = kp[3 * nb + w] >> sh & 1;
        }
        const float dao = ko ? SFX(dgate_r)(dhj * th, o, slope) : 0.0f;
        float dct = dci + dhj * o * (1.0f - th * th);
        if (pp) dct += dao * pp[2 * H + j];
        if (clip > 0.0f && !(cc[j] < clip && cc[j] > -clip)) dct = 0.0f;
        float di = dct * g;
        const float df = dct * c0;
        float daf = 0.0f;
        if (cifg) di -= df;
        else if (kf) daf = SFX(dgate_r)(df, f, slope);
        const float dai = ki ? SFX(dgate_r)(di, i, slope) : 0.0f;
        float dcp = dct * f;
        if (pp) {
            dcp += dai * pp[j] + daf * pp[H + j];
            float *s = sp + j - o0;
            s[0] += dai * c0;
            s[64] += daf * c0;
            s[128] += dao * cc[j];
        }
        da[j] = dai;
        da[H + j] = daf;
        da[2 * H + j] = dao;
        da[3 * H + j] = kg ? dct * i * (1.0f - g * g) : 0.0f;
        dc[j] = dcp + dzc;
        dhk[j] = dzh;
    }
}

/* Step t's elementwise backward of the variant cell for units u0 .. u1 - 1 of rows n0 .. n1 - 1, 64
 * units at a time. The peephole gradients dp = sum over steps and rows (da_i c_{t-1}, da_f c_{t-1},
 * da_o c^_t) are summed over the step's rows first, then added to dp: a unit belongs to one work item
 * per step, so the order of the sums is the loop's whatever the thread (with peepholes the loop
 * splits by unit blocks only, so that every item has all rows). */
static void SFX(lstm_bwd_elem_v)(rn_job *J, int t, int u0, const int u1, const int n0, const int n1)
{
    for (; u0 + 64 < u1; u0 += 64) SFX(lstm_bwd_elem_v)(J, t, u0, u0 + 64, n0, n1);
    const int N = J->N, H = J->H, r = J->reverse;
    const long G4 = 4L * H;
    const float *gt = J->gates + (long)t * N * G4, *tct = J->aux + (long)t * N * H;
    const float *cp = J->cs + (long)(t + r) * N * H;
    const float *cc = J->chat ? J->chat + (long)t * N * H : J->cs + (long)(t + 1 - r) * N * H;
    const float *dyt = J->dy + (long)t * J->dy_ts;
    const float *m = J->mask ? J->mask + (long)t * N : 0;
    const float *pp = J->vflags & RN_PEEP ? J->peep : 0;
    const float clip = J->vflags & RN_CLIP ? J->clip : 0.0f;
    const int cifg = J->vflags & RN_CIFG;
    const float slope = J->vflags & RN_HARD ? J->slope : 0.0f;
    const int nb = (H + 15) / 16;
    const uint16_t *kt = J->gkeep ? J->gkeep + (long)t * N * 4 * nb : 0;     /* gate_clip's bits */
    float *da = J->da + (long)t * N * G4, *dh = J->dh, *dc = J->dc, *dhk = J->dhk;
    float sp[3 * 64] __attribute__((aligned(64)));
    if (pp) memset(sp, 0, sizeof sp);
    for (long n = n0; n < n1; n++) {
        float *dan = da + n * G4, *dhn = dh + n * H, *dcn = dc + n * H, *dhkn = dhk + n * H;
        if (m && m[n] == 0.0f) {                             /* padded: no gradient, carry dh, dc */
            SFX(lstm_padded_row)(u0, u1, H, dan, dhn, dhkn);
            continue;
        }
        SFX(lstm_units_bwd_v)(u0, u1, H, gt + n * G4, tct + n * H, cp + n * H, cc + n * H, dyt + n * J->dy_ns,
                              dan, dhn, dcn, dhkn, pp, clip, cifg, J->zh ? J->zh + n * H : 0,
                              J->zc ? J->zc + n * H : 0, sp, slope, kt ? kt + n * 4 * nb : 0, nb);
    }
    if (pp)
        for (int j = u0; j < u1; j++) {
            J->dp[j] += sp[j - u0];
            J->dp[H + j] += sp[64 + j - u0];
            J->dp[2 * H + j] += sp[128 + j - u0];
        }
}

/* RN_FLOOR's backward step: no elementwise work (da as given). */
static void SFX(no_elem)(rn_job *J, int t, int u0, int u1, int n0, int n1)
{
    (void)J; (void)t; (void)u0; (void)u1; (void)n0; (void)n1;
}

static void SFX(lstm_bwd)(rn_job *J, int tid, int nt)
{
    rn_sync S = {tid, nt, 0, 0, 0, 0};
#ifdef RN_TIME
    long t0 = rn_tnow();
#endif
    if (J->vflags & RN_LN) {
        SFX(lstmln_bwd)(J, tid, nt);
        return;
    }
    if (J->vflags & RN_FLOOR) SFX(bwd_loop)(J, &S, 4, SFX(no_elem), J->da, 1);
    else if (J->vflags) SFX(bwd_loop)(J, &S, 4, SFX(lstm_bwd_elem_v), J->da, !(J->vflags & RN_PEEP));
    else SFX(bwd_loop)(J, &S, 4, SFX(lstm_bwd_elem), J->da, 1);
#ifdef RN_TIME
    long t1 = rn_tnow();
#endif
    SFX(weight_grads)(J, &S, 4, J->da, J->da);
#ifdef RN_TIME
    if (tid == 0) fprintf(stderr, "bwd loop %.2f ms, weight grads %.2f ms\n", (t1 - t0) / 1e6, (rn_tnow() - t1) / 1e6);
#endif
}

/* ----- GRU, reset after ---------------------------------------------------------------------- */
/* The gate work of one batch row for len <= 16 units (gru.py, reset after; gate order r, z, n):
 *   r, z = sigma(x W + h U + b),  q = h U_n + b_hn,  n = tanh(x W_n + b_n + r q),
 *   h_t = (1 - z) n + z h_{t-1}.
 * tx, tr: the tile rows of x_t W and h_{t-1} U (gate k at + 16 k); the activated gates go to a
 * (the row's gates at unit u0, gate k at a + k H) and q to q, each unless NULL (no cache).
 * slope: 0 (a constant in the plain loop), or the hard sigmoid's for sigma (vgate). */
static inline __attribute__((always_inline)) void
SFX(gru_units)(const int len, float *a, long H, const float *bu, const float *bh, const float *tx, const float *tr,
               const float *hp, float *q, float *hn, const float slope)
{
    int l = 0;
    for (; l + VL <= len; l += VL) {
        const SFX(vf) rg = SFX(vgate)(V_ADD(V_ADD(V_LD(tx + l), V_LD(bu + l)), V_LD(tr + l)), slope);
        const SFX(vf) z = SFX(vgate)(V_ADD(V_ADD(V_LD(tx + 16 + l), V_LD(bu + H + l)), V_LD(tr + 16 + l)), slope);
        const SFX(vf) qv = V_ADD(V_LD(tr + 32 + l), V_LD(bh + l));              /* q = h U_n + b_hn */
        const SFX(vf) nv = SFX(vtanh)(V_FMA(rg, qv, V_ADD(V_LD(tx + 32 + l), V_LD(bu + 2 * H + l))));
        if (a) { V_ST(a + l, rg); V_ST(a + H + l, z); V_ST(a + 2 * H + l, nv); }
        if (q) V_ST(q + l, qv);
        V_ST(hn + l, V_SUB(nv, V_MUL(z, V_SUB(nv, V_LD(hp + l)))));           /* (1 - z) n + z h */
    }
    for (; l < len; l++) {
        const float rg = SFX(gate_r)(tx[l] + bu[l] + tr[l], slope);
        const float z = SFX(gate_r)(tx[16 + l] + bu[H + l] + tr[16 + l], slope);
        const float qv = tr[32 + l] + bh[l];
        const float nv = SFX(tanh_r)(tx[32 + l] + bu[2 * H + l] + rg * qv);
        if (a) { a[l] = rg; a[H + l] = z; a[2 * H + l] = nv; }
        if (q) q[l] = qv;
        hn[l] = nv - z * (nv - hp[l]);
    }
}

/* The backward of gru_units for one batch row, units j0 .. j1 - 1 (gru.py's gru_step_backward):
 * da_x (the x W part) and da_h (the h U part; its n block is dq = da_n r); dhk = dh z, h_{t-1}'s
 * direct part. zd: the row's zoneout d, or NULL (regularizers.py: dh^_t = dh_t (1 - d), and
 * dh_t d joins the direct part). slope: as gru_units'. */
static inline __attribute__((always_inline)) void
SFX(gru_units_bwd)(int j0, const int j1, long H, const float *g_, const float *q, const float *hp,
                   const float *dy, const float *dh, float *dx, float *dhh, float *dhk, const float *zd,
                   const float slope)
{
    const SFX(vf) one = V_SET(1.0f);
    for (; j0 + VL <= j1; j0 += VL) {
        const int j = j0;
        const SFX(vf) rg = V_LD(g_ + j), z = V_LD(g_ + H + j), nv = V_LD(g_ + 2 * H + j);
        SFX(vf) dhj = V_ADD(V_LD(dh + j), V_LD(dy + j)), dz = V_SET(0.0f);
        if (zd) { const SFX(vf) d = V_LD(zd + j); dz = V_MUL(dhj, d); dhj = V_MUL(dhj, V_SUB(one, d)); }
        const SFX(vf) da_n = V_MUL(V_MUL(dhj, V_SUB(one, z)), V_SUB(one, V_MUL(nv, nv)));
        const SFX(vf) da_r = SFX(vdgate)(V_MUL(da_n, V_LD(q + j)), rg, slope);
        const SFX(vf) da_z = SFX(vdgate)(V_MUL(dhj, V_SUB(V_LD(hp + j), nv)), z, slope);
        V_ST(dx + j, da_r); V_ST(dx + H + j, da_z); V_ST(dx + 2 * H + j, da_n);
        V_ST(dhh + j, da_r); V_ST(dhh + H + j, da_z); V_ST(dhh + 2 * H + j, V_MUL(da_n, rg));   /* dq */
        V_ST(dhk + j, zd ? V_FMA(dhj, z, dz) : V_MUL(dhj, z));          /* direct path to h_{t-1} */
    }
    for (int j = j0; j < j1; j++) {
        const float rg = g_[j], z = g_[H + j], nv = g_[2 * H + j];
        float dhj = dh[j] + dy[j], dz = 0.0f;
        if (zd) { dz = dhj * zd[j]; dhj *= 1.0f - zd[j]; }
        const float da_n = dhj * (1.0f - z) * (1.0f - nv * nv);
        const float da_r = SFX(dgate_r)(da_n * q[j], rg, slope);
        const float da_z = SFX(dgate_r)(dhj * (hp[j] - nv), z, slope);
        dx[j] = da_r; dx[H + j] = da_z; dx[2 * H + j] = da_n;
        dhh[j] = da_r; dhh[H + j] = da_z; dhh[2 * H + j] = da_n * rg;
        dhk[j] = zd ? dhj * z + dz : dhj * z;
    }
}

/* ----- GRU (reset after) with layer_norm (gru_variants.py [L]) -----------------------------------
 * The loops of the layer-norm section above, for the GRU: per step, ux = x_t W and uh = h_{t-1} U
 * (ln_products), then every row's statistics and the block's units (the GRU's h_t reads only its own
 * units, so two phases a step). Backward: the product dh_{t-1} = du U^T shares its phase with the
 * next step's elementwise work (gru_units_bwd) and the row and column sums (ln_row_sums); then du =
 * LN'(da_h g_h) and d(x W) = LN'(da_x g_x) (ln_bwd3). Two waits a step.
 *
 * One row, len <= 16 units (pointers at the row's unit u0; gate k at + k H):
 *   n_x = (ux - mu_x) / s_x, n_h = (u - mu_h) / s_h (kept in nx, nh unless NULL),
 *   a_x = n_x g_x + b, a_h = n_h g_h,  r, z = sigma(a_x + a_h),  q = a_h_n + b_hn,
 *   n = tanh(a_x_n + r q),  h^ = (1 - z) n + z h_{t-1},  h = h^ + d (h_{t-1} - h^) (zh: zoneout's d, or NULL).
 * The gates go to a and q to q unless NULL. */
static void SFX(gruln_units)(const int len, const long H, const float *ux, const float mux, const float rsx,
                             float *nx, const float *u, const float mu, const float rs, float *nh, const float *gx,
                             const float *gh, const float *bu, const float *bh, const float *hp, float *a, float *q,
                             float *hn, const float *zh, const float slope)
{
    const SFX(vf) mv = V_SET(mu), rv = V_SET(rs), mxv = V_SET(mux), rxv = V_SET(rsx);
    SFX(vf) ax[3], ah[3];
    int l = 0;
    for (; l + VL <= len; l += VL) {
        for (int k = 0; k < 3; k++) {
            const long o = k * H + l;
            const SFX(vf) n = V_MUL(V_SUB(V_LD(u + o), mv), rv);              /* LN(h U) */
            const SFX(vf) m = V_MUL(V_SUB(V_LD(ux + o), mxv), rxv);           /* LN(x W) */
            if (nh) { V_ST(nh + o, n); V_ST(nx + o, m); }
            ax[k] = V_FMA(m, V_LD(gx + o), V_LD(bu + o));
            ah[k] = V_MUL(n, V_LD(gh + o));
        }
        const SFX(vf) rg = SFX(vgate)(V_ADD(ax[0], ah[0]), slope), z = SFX(vgate)(V_ADD(ax[1], ah[1]), slope);
        const SFX(vf) qv = V_ADD(ah[2], V_LD(bh + l));                        /* q = a_h_n + b_hn */
        const SFX(vf) nv = SFX(vtanh)(V_FMA(rg, qv, ax[2]));
        if (a) { V_ST(a + l, rg); V_ST(a + H + l, z); V_ST(a + 2 * H + l, nv); }
        if (q) V_ST(q + l, qv);
        SFX(vf) h = V_SUB(nv, V_MUL(z, V_SUB(nv, V_LD(hp + l))));             /* (1 - z) n + z h */
        if (zh) h = V_FMA(V_LD(zh + l), V_SUB(V_LD(hp + l), h), h);
        V_ST(hn + l, h);
    }
#if VL > 1
    if (l < len)
        RN_GEN(gruln_units)(len - l, H, ux + l, mux, rsx, nh ? nx + l : 0, u + l, mu, rs, nh ? nh + l : 0, gx + l,
                            gh + l, bu + l, bh + l, hp + l, a ? a + l : 0, q ? q + l : 0, hn + l, zh ? zh + l : 0,
                            slope);
#endif
}

/* The row split's forward (rows n0 .. n1 - 1, every step), as lstmln_fwd_rows: the same calls on the
 * same data as the unit-block loop below, no wait. */
static void SFX(gruln_fwd_rows)(rn_job *J, const int n0, const int n1)
{
    const int T = J->T, N = J->N, H = J->H, D = J->D, r = J->reverse;
    const long G3 = 3L * H;
    const float slope = J->vflags & RN_HARD ? J->slope : 0.0f;
    float *uh = SFX(ln_w)(J, 3, 0), *ux = SFX(ln_w)(J, 3, 7);
    for (int s = 0; s < T; s++) {
        const int t = r ? T - 1 - s : s;
        const float *hp = J->hs + (long)(t + r) * N * H;
        float *hn = J->hs + (long)(t + 1 - r) * N * H;
        float *a = J->gates ? J->gates + (long)t * N * G3 : 0, *q = J->aux ? J->aux + (long)t * N * H : 0;
        float *nh = J->nh ? J->nh + (long)t * N * G3 : 0, *nx = nh ? J->nx + (long)t * N * G3 : 0;
        const float *xt = J->x + (long)t * N * D, *m = J->mask ? J->mask + (long)t * N : 0;
        float *yt = J->y ? J->y + (long)t * N * H : 0;
        float *const pre[3] = {a, nx, nh};
        SFX(ln_row_products)(J, 3, n0, n1, xt, hp, ux, uh, pre);
        for (long n = n0; n < n1; n++) {
            float st[4];
            SFX(ln_stats)(uh + n * G3, G3, st, st + 1);
            SFX(ln_stats)(ux + n * G3, G3, st + 2, st + 3);
            if (nh) { J->sh[(long)t * N + n] = st[1]; J->sx[(long)t * N + n] = st[3]; }
            const long k = n * H, o = n * G3;         /* all H units at once, as lstmln_fwd_rows */
            SFX(gruln_units)(H, H, ux + o, st[2], 1.0f / st[3], nx ? nx + o : 0, uh + o, st[0], 1.0f / st[1],
                             nh ? nh + o : 0, J->gx, J->gh, J->b, J->b_hn, hp + k, a ? a + o : 0, q ? q + k : 0,
                             hn + k, J->zh ? J->zh + k : 0, slope);
            if (m) {
                const float mv = m[n];
                for (int l = 0; l < H; l++) yt[k + l] = hn[k + l] * mv;
                if (mv == 0.0f)
                    for (int l = 0; l < H; l++) hn[k + l] = hp[k + l];
            }
        }
    }
}

static void SFX(gruln_fwd)(rn_job *J, int tid, int nt)
{
    const int T = J->T, N = J->N, H = J->H, D = J->D, r = J->reverse, nb = (H + 15) / 16;
    const long G3 = 3L * H;
    const float slope = J->vflags & RN_HARD ? J->slope : 0.0f;
    rn_sync S = {tid, nt, 0, 0, 0, 0};
    rn_phase(&S, nb);                                   /* pack [W; U], one unit block at a time */
    for (int pb; (pb = rn_claim(J->claim1, &S)) >= 0; rn_done(J)) SFX(pack_fwd)(J->W, J->U, D, H, 3, pb, 1, J->packed);
    rn_wait(J, &S);
    if (rn_by_rows(N, tid, nt)) {                       /* nt parts of the rows, all steps each */
        rn_parts R = rn_parts_begin(&S, 1, N, RN_LN_RC);
        while (rn_parts_next(J, J->claim1, &S, &R)) SFX(gruln_fwd_rows)(J, R.n0, R.n1);
        rn_parts_end(J, &S, &R);
        return;
    }
    float *uh = SFX(ln_w)(J, 3, 0), *ux = SFX(ln_w)(J, 3, 7), *st = SFX(ln_w)(J, 3, 2) + 4L * N * tid;
    for (int s = 0; s < T; s++) {
        const int t = r ? T - 1 - s : s;
        const float *hp = J->hs + (long)(t + r) * N * H;
        float *hn = J->hs + (long)(t + 1 - r) * N * H;
        float *a = J->gates ? J->gates + (long)t * N * G3 : 0, *q = J->aux ? J->aux + (long)t * N * H : 0;
        float *nh = J->nh ? J->nh + (long)t * N * G3 : 0, *nx = nh ? J->nx + (long)t * N * G3 : 0;
        const float *xt = J->x + (long)t * N * D, *m = J->mask ? J->mask + (long)t * N : 0;
        float *yt = J->y ? J->y + (long)t * N * H : 0;
        float *const pre[3] = {a, nx, nh};
        SFX(ln_products)(J, &S, 3, xt, hp, ux, uh, pre);   /* ux = x_t W, uh = h_{t-1} U */
        rn_phase(&S, nb);                               /* LN(ux), LN(uh), the gates, h_t */
        for (int pb, have = 0; (pb = rn_claim(J->claim1, &S)) >= 0; rn_done(J)) {
            if (!have) {                                /* every row's statistics, this thread's own copy */
                SFX(ln_rows_stats)(uh, N, G3, G3, st);
                SFX(ln_rows_stats)(ux, N, G3, G3, st + 2L * N);
                have = 1;
            }
            if (pb == 0 && nh)
                for (int n = 0; n < N; n++) {
                    J->sh[(long)t * N + n] = st[2 * n + 1];
                    J->sx[(long)t * N + n] = st[2 * N + 2 * n + 1];
                }
            const int u0 = pb * 16, lim = H - u0 < 16 ? H - u0 : 16;
            for (long n = 0; n < N; n++) {
                const long k = n * H + u0, o = n * G3 + u0;
                SFX(gruln_units)(lim, H, ux + o, st[2 * N + 2 * n], 1.0f / st[2 * N + 2 * n + 1], nx ? nx + o : 0,
                                 uh + o, st[2 * n], 1.0f / st[2 * n + 1], nh ? nh + o : 0, J->gx + u0, J->gh + u0,
                                 J->b + u0, J->b_hn + u0, hp + k, a ? a + o : 0, q ? q + k : 0, hn + k,
                                 J->zh ? J->zh + k : 0, slope);
                if (m) {                                                 /* ragged: y = m h, carry */
                    const float mv = m[n];
                    for (int l = 0; l < lim; l++) yt[k + l] = hn[k + l] * mv;
                    if (mv == 0.0f)
                        for (int l = 0; l < lim; l++) hn[k + l] = hp[k + l];
                }
            }
        }
        rn_wait(J, &S);
    }
}

/* Backward, step t's elementwise work for units u0 .. u1 - 1 (u1 - u0 <= 64; panel i) of every row:
 * gru_units_bwd's da_x (into da), da_h = [da_r, da_z, dq] (into dah) and dhk; a padded row: no
 * gradient, dhk = dh. Then ln_row_sums, per chunk of RN_LN_RC rows: the panel's share of the row
 * sums into its partial sums (N, 4), and the chunk's column sums (its rows summed in registers) added
 * to its sums of db, dg_x, dg_h and b_hn's (the scratch's part 9). */
static void SFX(gruln_elem)(rn_job *J, int t, int u0, int u1, int i, const int n0, const int n1)
{
    const int N = J->N, H = J->H, r = J->reverse, w = u1 - u0;
    const long G3 = 3L * H, k0 = (long)t * N;
    const float slope = J->vflags & RN_HARD ? J->slope : 0.0f;
    const float *gt = J->gates + k0 * G3, *qt = J->aux + k0 * H;
    const float *hp = J->hs + (long)(t + r) * N * H, *dyt = J->dy + (long)t * J->dy_ts;
    const float *m = J->mask ? J->mask + k0 : 0;
    float *pb = SFX(ln_w)(J, 3, 4) + 4L * N * i;
    for (int c0 = n0; c0 < n1; c0 += RN_LN_RC) {    /* a chunk's rows summed, then added to its sums */
        const int c1 = n1 - c0 < RN_LN_RC ? n1 : c0 + RN_LN_RC;
        unsigned live = 0;
        for (long n = c0; n < c1; n++) {
            const long o = (k0 + n) * G3;
            float *dax = J->da + o, *dah = J->dah + o, *dh = J->dh + n * H, *dhk = J->dhk + n * H, *q = pb + 4 * n;
            if (m && m[n] == 0.0f) {
                for (int j = u0; j < u1; j++) {
                    dax[j] = dax[H + j] = dax[2 * H + j] = 0.0f;
                    dah[j] = dah[H + j] = dah[2 * H + j] = 0.0f;
                    dhk[j] = dh[j];
                }
                q[0] = q[1] = q[2] = q[3] = 0.0f;
                continue;
            }
            live |= 1u << (n - c0);
            SFX(gru_units_bwd)(u0, u1, H, gt + n * G3, qt + n * H, hp + n * H, dyt + n * J->dy_ns, dh, dax, dah,
                               dhk, J->zh ? J->zh + n * H : 0, slope);
        }
        if (!live) continue;                        /* nothing to add (the sums are never -0) */
        const long o = (k0 + c0) * G3;
        SFX(ln_row_sums)(c1 - c0, live, J->da + o, J->dah + o, G3, J->gh, J->nh + o, J->gx, J->nx + o, H, 3, u0, w,
                         pb + 4L * c0, SFX(ln_w)(J, 3, 9) + (long)(c0 / RN_LN_RC) * 15 * H, 1);
    }
}

/* The backward's steps for rows n0 .. n1 - 1 (the row split), as lstmln_bwd_rows. */
static void SFX(gruln_bwd_rows)(rn_job *J, const int n0, const int n1, float *st)
{
    const int T = J->T, N = J->N, H = J->H, r = J->reverse, nb = (H + 15) / 16, npan = (nb + 3) / 4;
    const long G3 = 3L * H;
    float tile[6 * 64] __attribute__((aligned(64)));
    for (int s = 0; s < T; s++) {
        const int t = r ? s : T - 1 - s;
        const long k0 = (long)t * N;
        for (int i = 0; i < npan; i++) SFX(gruln_elem)(J, t, 64 * i, 64 * i + 64 < H ? 64 * i + 64 : H, i, n0, n1);
        SFX(ln_combine)(SFX(ln_w)(J, 3, 4), npan, N, 4, G3, st, n0, n1);
        for (int i = 0; i < npan; i++)
            SFX(ln_bwd3)(J, 3, t, 64 * i, 64 * i + 64 < H ? 64 * i + 64 : H, st, J->da, J->dah, J->dah, n0, n1);
        const float *du = J->dah + k0 * G3;
        const long kn = (long)(r ? t + 1 : t - 1) * N;            /* the next step's rows */
        for (int i = 0; i < npan; i++) {
            const int pb = 4 * i, np_ = nb - pb < 4 ? nb - pb : 4, u0 = pb * 16;
            const int lim = H - u0 < np_ * 16 ? H - u0 : np_ * 16;
            const float *panel = J->packed + (long)pb * 16 * G3;
            for (int rb = n0; rb < n1; rb += RN_LN_KR) {
                const int rows = n1 - rb < RN_LN_KR ? n1 - rb : RN_LN_KR;
                SFX(kern)(rows, np_, G3, du + (long)rb * G3, G3, panel, tile);
                for (int rr = 0; rr < rows; rr++) {
                    const long n = rb + rr;
                    float *dhn = J->dh + n * H + u0;
                    const float *dhkn = J->dhk + n * H + u0, *tr = tile + rr * 64;
                    for (int c = 0; c < lim; c++) dhn[c] = tr[c] + dhkn[c];
                    if (s + 1 < T) {                    /* the next step's cache rows */
                        const long o = (kn + n) * G3 + u0;
                        for (int g = 0; g < 3; g++) {
                            RN_PREF(J->gates + o + g * H, lim, 0);
                            RN_PREF(J->nh + o + g * H, lim, 0);
                            RN_PREF(J->nx + o + g * H, lim, 0);
                        }
                        RN_PREF(J->aux + (kn + n) * H + u0, lim, 0);
                    }
                }
            }
        }
    }
}

static void SFX(gruln_bwd)(rn_job *J, int tid, int nt)
{
    const int T = J->T, N = J->N, H = J->H, r = J->reverse, nb = (H + 15) / 16, npan = (nb + 3) / 4;
    const long G3 = 3L * H;
    rn_sync S = {tid, nt, 0, 0, 0, 0};
    float *st = SFX(ln_w)(J, 3, 2) + 4L * N * tid, *acc = SFX(ln_w)(J, 3, 9);
    const long nch = (N + RN_LN_RC - 1) / RN_LN_RC;
    const int rows = rn_by_rows(N, tid, nt);
    float tile[6 * 64] __attribute__((aligned(64)));
    rn_phase(&S, npan);                                 /* pack U^T; step T-1's (0's) elementwise work */
    for (int i; (i = rn_claim(J->claim2, &S)) >= 0; rn_done(J)) {
        const int u0 = 64 * i, u1 = 64 * i + 64 < H ? 64 * i + 64 : H;
        SFX(pack_bwd)(J->U, H, 3, 4 * i, nb - 4 * i < 4 ? nb - 4 * i : 4, J->packed);
        for (long ch = 0; ch < nch; ch++)               /* the chunks' column sums: 12 H of 15 H */
            for (int g = 0; g < 12; g++)
                for (int j = u0; j < u1; j++) acc[ch * 15 * H + g * H + j] = 0.0f;
        if (!rows) SFX(gruln_elem)(J, r ? 0 : T - 1, u0, u1, i, 0, N);
    }
    rn_wait(J, &S);
    if (rows) {                                         /* nt parts of the rows, all steps each */
        rn_parts R = rn_parts_begin(&S, 1, N, RN_LN_RC);
        while (rn_parts_next(J, J->claim2, &S, &R)) SFX(gruln_bwd_rows)(J, R.n0, R.n1, st);
        rn_parts_end(J, &S, &R);
    }
    for (int s = 0; s < T && !rows; s++) {
        const int t = r ? s : T - 1 - s;
        const long k0 = (long)t * N;
        rn_phase(&S, npan);                             /* du = LN'(da_h g_h) in place, d(x W) = LN'(da_x g_x) */
        for (int i, have = 0; (i = rn_claim(J->claim2, &S)) >= 0; rn_done(J)) {
            if (!have) { SFX(ln_combine)(SFX(ln_w)(J, 3, 4), npan, N, 4, G3, st, 0, N); have = 1; }
            SFX(ln_bwd3)(J, 3, t, 64 * i, 64 * i + 64 < H ? 64 * i + 64 : H, st, J->da, J->dah, J->dah, 0, N);
        }
        rn_wait(J, &S);
        const float *du = J->dah + k0 * G3;
        rn_phase(&S, npan);                             /* dh_{t-1} = du U^T + dhk; the next step's elementwise work */
        for (int i; (i = rn_claim(J->claim2, &S)) >= 0; rn_done(J)) {
            const int pb = 4 * i, np_ = nb - pb < 4 ? nb - pb : 4, u0 = pb * 16;
            const int lim = H - u0 < np_ * 16 ? H - u0 : np_ * 16;
            const float *panel = J->packed + (long)pb * 16 * G3;
            const long kn = (long)(r ? t + 1 : t - 1) * N;        /* the next step's rows */
            for (int rb = 0; rb < N; rb += RN_LN_KR) {
                const int rows = N - rb < RN_LN_KR ? N - rb : RN_LN_KR;
                SFX(kern)(rows, np_, G3, du + (long)rb * G3, G3, panel, tile);
                for (int rr = 0; rr < rows; rr++) {
                    const long n = rb + rr;
                    float *dhn = J->dh + n * H + u0;
                    const float *dhkn = J->dhk + n * H + u0, *tr = tile + rr * 64;
                    for (int c = 0; c < lim; c++) dhn[c] = tr[c] + dhkn[c];
                    if (s + 1 < T) {                    /* the next step's cache rows */
                        const long o = (kn + n) * G3 + u0;
                        for (int g = 0; g < 3; g++) {
                            RN_PREF(J->gates + o + g * H, lim, 0);
                            RN_PREF(J->nh + o + g * H, lim, 0);
                            RN_PREF(J->nx + o + g * H, lim, 0);
                        }
                        RN_PREF(J->aux + (kn + n) * H + u0, lim, 0);
                    }
                }
            }
            if (s + 1 < T) SFX(gruln_elem)(J, r ? t + 1 : t - 1, u0, u0 + lim, i, 0, N);
        }
        rn_wait(J, &S);
    }
    SFX(weight_grads)(J, &S, 3, J->da, J->dah);         /* dW, dU, dx from d(x W) and du (db, dbh: next) */
    rn_phase(&S, npan);                                 /* the column sums: the chunks' in chunk order */
    for (int i; (i = rn_claim(J->claim2, &S)) >= 0; rn_done(J)) {
        const long off[4] = {0, 3 * H, 6 * H, 9 * H}, len[4] = {G3, G3, G3, G3};
        float *const out[4] = {J->db, J->dgx, J->dgh, J->dbh};
        const int add[4] = {0, 0, 0, 0};
        SFX(ln_chunk_sums)(J, 3, 4, off, len, out, add, 64 * i, 64 * i + 64 < H ? 64 * i + 64 : H);
    }
    rn_wait(J, &S);
}

/* The forward loop; hard is a constant (0: sigmoid gates, the plain loop's code; 1: RN_HARD's). */
static inline __attribute__((always_inline)) void SFX(gru_fwd_body)(rn_job *J, int tid, int nt, const int hard)
{
    const float slope = hard ? J->slope : 0.0f;
    const int T = J->T, N = J->N, H = J->H, D = J->D, r = J->reverse;
    const long G3 = 3L * H;
    const int nb = (H + 15) / 16;
    rn_sync S = {tid, nt, 0, 0, 0, 0};
    rn_phase(&S, nb);
    for (int pb; (pb = rn_claim(J->claim1, &S)) >= 0; rn_done(J)) SFX(pack_fwd)(J->W, J->U, D, H, 3, pb, 1, J->packed);
    rn_wait(J, &S);
    float tile[6 * 64] __attribute__((aligned(64))), tile_x[6 * 64] __attribute__((aligned(64)));
    const float *b = J->b, *bhn = J->b_hn;
    rn_parts P = rn_parts_begin(&S, rn_by_rows(N, tid, nt), N, RN_PART_ALIGN);
    while (rn_parts_next(J, J->claim1, &S, &P))
    for (int s = 0; s < T; s++) {
        const int t = r ? T - 1 - s : s;
        const float *hp = J->hs + (long)(t + r) * N * H;
        float *hn = J->hs + (long)(t + 1 - r) * N * H;
        float *a = J->gates ? J->gates + (long)t * N * G3 : 0, *q = J->aux ? J->aux + (long)t * N * H : 0;
        const float *xt = J->x + (long)t * N * D;
        const float *m = J->mask ? J->mask + (long)t * N : 0;
        float *yt = J->y ? J->y + (long)t * N * H : 0;
        const float *hk = J->hd ? J->hd + (long)(t + r) * N * H : hp;    /* the product's h: h~ or h */
        float *hdn = J->hd ? J->hd + (long)(t + 1 - r) * N * H : 0;
        rn_items_begin(&S, &P, nb);
        for (int pb; (pb = rn_item(J->claim1, &S, &P)) >= 0; rn_item_done(J, &P)) {
            const float *panel = J->packed + (long)pb * 48 * (D + H);
            const int u0 = pb * 16, lim = H - u0 < 16 ? H - u0 : 16;
            for (int rb = P.n0, rows; rb < P.n1; rb += rows) {
                rows = SFX(tile_rows)(P.n1 - rb);
                /* x_t W and h_{t-1} U apart: the n gate multiplies only the second by r */
                SFX(kern)(rows, 3, D, xt + (long)rb * D, D, panel, tile_x);
                SFX(kern)(rows, 3, H, hk + (long)rb * H, H, panel + (long)D * 48, tile);
                for (int rr = 0; rr < rows; rr++) {
                    const long n = rb + rr;
                    float *an = a ? a + n * G3 + u0 : 0, *qn = q ? q + n * H + u0 : 0, *hnn = hn + n * H + u0;
                    const float *tr = tile + rr * 64, *bu = b + u0, *bh = bhn + u0, *hpn = hp + n * H + u0;
                    SFX(gru_units)(lim, an, H, bu, bh, tile_x + rr * 64, tr, hpn, qn, hnn, slope);
                    if (J->zh) {                    /* zoneout: h_t = h^_t + d (h_{t-1} - h^_t) */
                        const float *zd = J->zh + n * H + u0;
                        for (int l = 0; l < lim; l++) hnn[l] += zd[l] * (hpn[l] - hnn[l]);
                    }
                    if (m) {
                        const float mv = m[n];
                        for (int l = 0; l < lim; l++) yt[n * H + u0 + l] = hnn[l] * mv;
                        if (mv == 0.0f)
                            for (int l = 0; l < lim; l++) hnn[l] = hpn[l];
                    }
                    if (hdn) SFX(rdrop_row)(lim, hnn, J->sr + n * H + u0, hdn + n * H + u0);
                }
            }
        }
        rn_items_end(J, &S, &P);
    }
    rn_parts_end(J, &S, &P);
}

static void SFX(gru_fwd)(rn_job *J, int tid, int nt)
{
    if (J->vflags & RN_LN) SFX(gruln_fwd)(J, tid, nt);
    else if (J->vflags & RN_HARD) SFX(gru_fwd_body)(J, tid, nt, 1);
    else SFX(gru_fwd_body)(J, tid, nt, 0);
}

/* Step t's elementwise backward for units u0 .. u1 - 1 of rows n0 .. n1 - 1: da_x, da_h, dhk; zone,
 * hard: constants, whether J->zh holds zoneout's d and whether the gates are hard sigmoids (RN_HARD). */
static inline __attribute__((always_inline)) void SFX(gru_bwd_elem_body)(rn_job *J, int t, int u0, int u1,
                                                                        const int n0, const int n1,
                                                                        const int zone, const int hard)
{
    const float slope = hard ? J->slope : 0.0f;
    const int N = J->N, H = J->H, r = J->reverse;
    const long G3 = 3L * H;
    const float *gt = J->gates + (long)t * N * G3, *qt = J->aux + (long)t * N * H;
    const float *hp = J->hs + (long)(t + r) * N * H, *dyt = J->dy + (long)t * J->dy_ts;
    const float *m = J->mask ? J->mask + (long)t * N : 0;
    float *dax = J->da + (long)t * N * G3, *dah = J->dah + (long)t * N * G3, *dh = J->dh, *dhk = J->dhk;
    for (long n = n0; n < n1; n++) {
        const float *g_ = gt + n * G3, *qn = qt + n * H, *hpn = hp + n * H, *dyn = dyt + n * J->dy_ns;
        float *dxn = dax + n * G3, *dhn_ = dah + n * G3, *dhn = dh + n * H, *dhkn = dhk + n * H;
        if (m && m[n] == 0.0f) {
            for (int j = u0; j < u1; j++) {
                dxn[j] = dxn[H + j] = dxn[2 * H + j] = 0.0f;
                dhn_[j] = dhn_[H + j] = dhn_[2 * H + j] = 0.0f;
                dhkn[j] = dhn[j];
            }
            continue;
        }
        SFX(gru_units_bwd)(u0, u1, H, g_, qn, hpn, dyn, dhn, dxn, dhn_, dhkn, zone ? J->zh + n * H : 0, slope);
    }
}

static void SFX(gru_bwd_elem)(rn_job *J, int t, int u0, int u1, int n0, int n1)
{
    SFX(gru_bwd_elem_body)(J, t, u0, u1, n0, n1, 0, 0);
}
static void SFX(gru_bwd_elem_z)(rn_job *J, int t, int u0, int u1, int n0, int n1)
{
    SFX(gru_bwd_elem_body)(J, t, u0, u1, n0, n1, 1, 0);
}
static void SFX(gru_bwd_elem_h)(rn_job *J, int t, int u0, int u1, int n0, int n1)
{
    SFX(gru_bwd_elem_body)(J, t, u0, u1, n0, n1, 0, 1);
}
static void SFX(gru_bwd_elem_zh)(rn_job *J, int t, int u0, int u1, int n0, int n1)
{
    SFX(gru_bwd_elem_body)(J, t, u0, u1, n0, n1, 1, 1);
}

static void SFX(gru_bwd)(rn_job *J, int tid, int nt)
{
    rn_sync S = {tid, nt, 0, 0, 0, 0};
    if (J->vflags & RN_LN) {
        SFX(gruln_bwd)(J, tid, nt);
        return;
    }
    if (J->vflags & RN_HARD) {
        if (J->zh) SFX(bwd_loop)(J, &S, 3, SFX(gru_bwd_elem_zh), J->dah, 1);
        else SFX(bwd_loop)(J, &S, 3, SFX(gru_bwd_elem_h), J->dah, 1);
    } else if (J->zh) SFX(bwd_loop)(J, &S, 3, SFX(gru_bwd_elem_z), J->dah, 1);
    else SFX(bwd_loop)(J, &S, 3, SFX(gru_bwd_elem), J->dah, 1);
    SFX(weight_grads)(J, &S, 3, J->da, J->dah);
}

/* ----- Elman RNN --------------------------------------------------------------------------------- */
static void SFX(rnn_fwd)(rn_job *J, int tid, int nt)
{
    const int T = J->T, N = J->N, H = J->H, D = J->D, r = J->reverse, act = J->act;
    const int nb = (H + 15) / 16, npan = (nb + 3) / 4;
    rn_sync S = {tid, nt, 0, 0, 0, 0};
    rn_phase(&S, npan);
    for (int i; (i = rn_claim(J->claim2, &S)) >= 0; rn_done(J))
        SFX(pack_fwd)(J->W, J->U, D, H, 1, 4 * i, nb - 4 * i < 4 ? nb - 4 * i : 4, J->packed);
    rn_wait(J, &S);
    float tile[6 * 64] __attribute__((aligned(64)));
    rn_parts P = rn_parts_begin(&S, rn_by_rows(N, tid, nt), N, RN_PART_ALIGN);
    while (rn_parts_next(J, J->claim2, &S, &P))
    for (int s = 0; s < T; s++) {
        const int t = r ? T - 1 - s : s;
        const float *hp = J->hs + (long)(t + r) * N * H;
        float *hn = J->hs + (long)(t + 1 - r) * N * H;
        float *a = J->gates + (long)t * N * H;                   /* h_new = phi(a_t) out */
        const float *hk = J->hd ? J->hd + (long)(t + r) * N * H : hp;    /* the product's h: h~ or h */
        float *hdn = J->hd ? J->hd + (long)(t + 1 - r) * N * H : 0;
        const float *xt = J->x + (long)t * N * D;
        const float *m = J->mask ? J->mask + (long)t * N : 0;
        rn_items_begin(&S, &P, npan);
        for (int i; (i = rn_item(J->claim2, &S, &P)) >= 0; rn_item_done(J, &P)) {
            const int pb = 4 * i, np_ = nb - pb < 4 ? nb - pb : 4;
            const float *panel = J->packed + (long)pb * 16 * (D + H);
            const int u0 = pb * 16, lim = H - u0 < np_ * 16 ? H - u0 : np_ * 16;
            for (int rb = P.n0, rows; rb < P.n1; rb += rows) {
                rows = SFX(tile_rows)(P.n1 - rb);
                SFX(kern2)(rows, np_, D, xt + (long)rb * D, D, H, hk + (long)rb * H, H, panel, tile);
                for (int rr = 0; rr < rows; rr++) {
                    const long n = rb + rr;
                    float *an = a + n * H + u0, *hnn = hn + n * H + u0;
                    const float *tr = tile + rr * 64, *bu = J->b + u0;
                    if (act == RN_ACT_RELU)
                        for (int l = 0; l < lim; l++) { const float v = bu[l] + tr[l]; an[l] = v > 0.0f || v != v ? v : 0.0f; }   /* a NaN passes, as np.maximum's */
                    else if (act == RN_ACT_IDENTITY)
                        for (int l = 0; l < lim; l++) an[l] = bu[l] + tr[l];
                    else
                    {
                        int l = 0;
                        for (; l + VL <= lim; l += VL)
                            V_ST(an + l, SFX(vtanh)(V_ADD(V_LD(bu + l), V_LD(tr + l))));
                        for (; l < lim; l++) an[l] = SFX(tanh_r)(bu[l] + tr[l]);
                    }
                    const int keep = m && m[n] == 0.0f;
                    const float *src = keep ? hp + n * H + u0 : an;
                    if (J->zh && !keep) {           /* zoneout: h_t = h^_t + d (h_{t-1} - h^_t) */
                        const float *zd = J->zh + n * H + u0, *hpn = hp + n * H + u0;
                        for (int l = 0; l < lim; l++) hnn[l] = an[l] + zd[l] * (hpn[l] - an[l]);
                    } else
                        for (int l = 0; l < lim; l++) hnn[l] = src[l];
                    if (hdn) SFX(rdrop_row)(lim, hnn, J->sr + n * H + u0, hdn + n * H + u0);
                }
            }
        }
        rn_items_end(J, &S, &P);
    }
    rn_parts_end(J, &S, &P);
}

/* Step t's elementwise backward for units u0 .. u1 - 1 of rows n0 .. n1 - 1: da_t = dh phi'(a_t), dhk. */
static void SFX(rnn_bwd_elem)(rn_job *J, int t, int u0, int u1, const int n0, const int n1)
{
    const int N = J->N, H = J->H, act = J->act;
    const float *ht = J->gates + (long)t * N * H, *dyt = J->dy + (long)t * J->dy_ts;
    const float *m = J->mask ? J->mask + (long)t * N : 0;
    float *da = J->da + (long)t * N * H, *dh = J->dh, *dhk = J->dhk;
    for (long n = n0; n < n1; n++) {
        const float *hn = ht + n * H, *dyn = dyt + n * J->dy_ns;
        float *dan = da + n * H, *dhn = dh + n * H, *dhkn = dhk + n * H;
        if (m && m[n] == 0.0f) {
            for (int j = u0; j < u1; j++) { dan[j] = 0.0f; dhkn[j] = dhn[j]; }
            continue;
        }
        if (J->zh) {                        /* zoneout: dh^_t = dh_t (1 - d), dh_{t-1} += dh_t d */
            const float *zd = J->zh + n * H;
            for (int j = u0; j < u1; j++) {
                const float dhj = dhn[j] + dyn[j], dhz = dhj * (1.0f - zd[j]);
                dan[j] = act == RN_ACT_RELU ? (hn[j] > 0.0f ? dhz : 0.0f)
                         : act == RN_ACT_IDENTITY ? dhz : dhz * (1.0f - hn[j] * hn[j]);
                dhkn[j] = dhj * zd[j];
            }
        } else if (act == RN_ACT_RELU)
            for (int j = u0; j < u1; j++) { dan[j] = hn[j] > 0.0f ? dhn[j] + dyn[j] : 0.0f; dhkn[j] = 0.0f; }
        else if (act == RN_ACT_IDENTITY)                         /* phi' = 1 */
            for (int j = u0; j < u1; j++) { dan[j] = dhn[j] + dyn[j]; dhkn[j] = 0.0f; }
        else
            for (int j = u0; j < u1; j++) { dan[j] = (dhn[j] + dyn[j]) * (1.0f - hn[j] * hn[j]); dhkn[j] = 0.0f; }
    }
}

static void SFX(rnn_bwd)(rn_job *J, int tid, int nt)
{
    rn_sync S = {tid, nt, 0, 0, 0, 0};
    SFX(bwd_loop)(J, &S, 1, SFX(rnn_bwd_elem), J->da, 1);
    SFX(weight_grads)(J, &S, 1, J->da, J->da);
}

/* ----- LSTM with a recurrent projection (proj_size; lstm_variants.py [5], Sak et al. 2014) ---------
 *   m_t = o tanh(c_t) (N, H),  h_t = m_t W_hr (N, P),  W_hr (H, P);  U (P, 4H) reads h_{t-1}; c keeps H.
 * Loops of their own (rn_run's 6 and 7, flag RN_PROJ), so that the plain and variant LSTM loops keep
 * their code; they take the same options (peepholes, cell_clip, input_forget, hard-sigmoid gates,
 * zoneout: of c on the H-wide c, of h on the P-wide h; weight drop: the layer passes U' = U * S).
 * Forward, two phases per step:
 *   1. per 16-unit block, as lstm_fwd: the gate product [x_t, h_{t-1}] [W; U] over [W; U] packed
 *      once per call (D + P rows), then the block's elementwise work (lstm_units, or lstm_units_v
 *      with the options and the zoneout of c), writing m_t's units in place of h; c's ragged carry.
 *      m_t is kept for every t (the backward's dW_hr reads it); without a cache it is one (N, H) row
 *      block, overwritten each step;
 *   2. per 64-column panel of P and chunk of rows (a few items per thread; rows are independent, so
 *      the cut changes no bit): h_t = m_t W_hr over W_hr packed once per call, then the zoneout of
 *      h, y_t = mask h_t and h's ragged carry.
 * Backward, with dh^_t the whole gradient at h_t before zoneout (from step t+1 and y_t, masked, times
 * 1 - d), kept for every t in dhs (dW_hr reads it); two phases per step:
 *   A. per 64-unit panel: dm = dh^_t W_hr^T over W_hr^T packed once per call, then those units'
 *      elementwise backward from dm (lstm_units_bwd / lstm_units_bwd_v with dy = 0): da_t, dc_{t-1},
 *      the peephole sums; a padded row: da = 0, dc carried;
 *   B. per 64-column panel of P: dh_{t-1} = da_t U^T + dhk over U^T packed (dhk: the direct part,
 *      zoneout's dh d or a padded row's dh), then, on the same columns and thread, step t-1's
 *      dh^_{t-1} and dhk (lstmp_pre), which read only those columns.
 * After the loop, merged over time as weight_grads does: dW = x^T da, db, dx = da W^T,
 * dU = h_{t-1}^T da (h of width P), and dW_hr = m^T dh^ over all T N rows.
 * Split by rows (rn_by_rows), each thread runs both phases of every step on its part of the rows,
 * every block and panel, with no wait (a row's phases read only that row); the backward with
 * peepholes splits by unit blocks, as A's peephole sums run over each unit's rows. */

/* [W; U] packed as pack_fwd packs it, with U's K2 rows (U is (K2, G H)); one unit block pb. */
static void SFX(pack_fwd_k)(const float *W, const float *U, int D, int K2, int H, int G, int pb, float *P)
{
    float *base = P + (long)pb * 16 * G * (D + K2);
    const int Wd = G * 16;
    for (long k = 0; k < D + K2; k++) {
        const float *row = k < D ? W + k * G * H : U + (k - D) * G * H;
        for (int g = 0; g < G; g++)
            for (int l = 0; l < 16; l++) {
                const int unit = pb * 16 + l;
                base[k * Wd + g * 16 + l] = unit < H ? row[(long)g * H + unit] : 0.0f;
            }
    }
}

/* Columns of M (K x C) for the micro-kernel, in panels of 4 16-column blocks: the panel of blocks
 * pb .. pb + nb - 1 holds P[k][v 16 + l] = M[k, 16 (pb + v) + l] (0 past C), at P + 16 pb K. */
static void SFX(pack_cols)(const float *Mat, long K, int C, int pb, int nb, float *P)
{
    float *base = P + (long)pb * 16 * K;
    for (long k = 0; k < K; k++)
        for (int l = 0; l < 16 * nb; l++) {
            const int col = pb * 16 + l;
            base[k * 16 * nb + l] = col < C ? Mat[k * C + col] : 0.0f;
        }
}

/* Scratch floats: [W; U] (forward), U^T (backward) and W^T (weight_grads), in J->packed ... */
static inline long SFX(lstmp_packed_part)(int H, int P, int D)
{
    const long nb = (H + 15) / 16, nbp = (P + 15) / 16, nbd = (D + 15) / 16;
    long n = nb * 16 * 4 * ((long)D + P);
    if (nbp * 16 * 4 * (long)H > n) n = nbp * 16 * 4 * (long)H;
    if (nbd * 16 * 4 * (long)H > n) n = nbd * 16 * 4 * (long)H;
    return n;
}

/* ... then W_hr (forward) or W_hr^T (backward) in J->packed_r. */
static inline long SFX(lstmp_packed_r)(int H, int P)
{
    const long a = (long)((P + 15) / 16) * 16 * H, b = (long)((H + 15) / 16) * 16 * P;
    return a > b ? a : b;
}

/* The forward loop; variant is a constant as in lstm_fwd_body. */
static inline __attribute__((always_inline)) void SFX(lstmp_fwd_body)(rn_job *J, int tid, int nt, const int variant)
{
    const int T = J->T, N = J->N, H = J->H, D = J->D, P = J->P, r = J->reverse;
    const long G4 = 4L * H;
    const int nb = (H + 15) / 16, nbp = (P + 15) / 16, npp = (nbp + 3) / 4;
    /* phase 2's items: npp column panels times nrc chunks of rbs 6-row blocks (about 2 items a thread) */
    const int nrb = (N + 5) / 6, want = (2 * nt + npp - 1) / npp;
    const int rbs = (nrb + (want < nrb ? want : nrb) - 1) / (want < nrb ? want : nrb), nrc = (nrb + rbs - 1) / rbs;
    rn_sync S = {tid, nt, 0, 0, 0, 0};
    rn_phase(&S, nb + npp);                              /* pack [W; U] per unit block, W_hr per column panel */
    for (int i; (i = rn_claim(J->claim2, &S)) >= 0; rn_done(J)) {
        if (i < nb) SFX(pack_fwd_k)(J->W, J->U, D, P, H, 4, i, J->packed);
        else SFX(pack_cols)(J->Whr, H, P, 4 * (i - nb), nbp - 4 * (i - nb) < 4 ? nbp - 4 * (i - nb) : 4, J->packed_r);
    }
    rn_wait(J, &S);
    float tile[6 * 64] __attribute__((aligned(64)));
    const float *b = J->b;
    const float *pp = variant && (J->vflags & RN_PEEP) ? J->peep : 0;
    const float clip = variant && (J->vflags & RN_CLIP) ? J->clip : 0.0f;
    const int cifg = variant && (J->vflags & RN_CIFG);
    const float slope = variant && (J->vflags & RN_HARD) ? J->slope : 0.0f;
    rn_parts R = rn_parts_begin(&S, rn_by_rows(N, tid, nt), N, RN_PART_ALIGN);
    while (rn_parts_next(J, J->claim1, &S, &R))
    for (int s = 0; s < T; s++) {
        const int t = r ? T - 1 - s : s;
        const float *hp = J->hs + (long)(t + r) * N * P, *cp = J->cs + (long)(t + r) * N * H;
        float *hn = J->hs + (long)(t + 1 - r) * N * P, *cn = J->cs + (long)(t + 1 - r) * N * H;
        float *a = J->gates ? J->gates + (long)t * N * G4 : 0, *tc = J->aux ? J->aux + (long)t * N * H : 0;
        float *mt = J->m + (J->gates ? (long)t * N * H : 0);
        const float *xt = J->x + (long)t * N * D;
        const float *mk = J->mask ? J->mask + (long)t * N : 0;
        float *yt = J->y ? J->y + (long)t * N * P : 0;
        rn_items_begin(&S, &R, nb);                      /* 1: gates, c_t, m_t */
        for (int pb; (pb = rn_item(J->claim1, &S, &R)) >= 0; rn_item_done(J, &R)) {
            const float *panel = J->packed + (long)pb * 64 * (D + P);
            const int u0 = pb * 16, lim = H - u0 < 16 ? H - u0 : 16;
            for (int rb = R.n0, rows; rb < R.n1; rb += rows) {
                rows = SFX(tile_rows)(R.n1 - rb);
                SFX(kern2)(rows, 4, D, xt + (long)rb * D, D, P, hp + (long)rb * P, P, panel, tile);
                for (int rr = 0; rr < rows; rr++) {
                    const long n = rb + rr;
                    float *an = a ? a + n * G4 + u0 : 0, *cnn = cn + n * H + u0, *mn = mt + n * H + u0;
                    const float *cpn = cp + n * H + u0;
                    if (variant)
                        SFX(lstm_units_v)(lim, an, H, b + u0, tile + rr * 64, cpn, cnn, mn, tc ? tc + n * H + u0 : 0,
                                          pp ? pp + u0 : 0, clip, cifg, 0, 0, J->zc ? J->zc + n * H + u0 : 0,
                                          J->chat ? J->chat + ((long)t * N + n) * H + u0 : 0, slope, 0.0f, 0, 0);
                    else
                        SFX(lstm_units)(lim, an, H, b + u0, tile + rr * 64, cpn, cnn, mn, tc ? tc + n * H + u0 : 0);
                    if (mk && mk[n] == 0.0f)                 /* ragged: c carried */
                        for (int l = 0; l < lim; l++) cnn[l] = cpn[l];
                }
            }
        }
        rn_items_end(J, &S, &R);
        /* 2: h_t = m_t W_hr, zoneout, y, carry; by rows the part's rows, every column panel */
        rn_items_begin(&S, &R, R.by_rows ? npp : npp * nrc);
        for (int i; (i = rn_item(J->claim2, &S, &R)) >= 0; rn_item_done(J, &R)) {
            const int pb = 4 * (i % npp), np_ = nbp - pb < 4 ? nbp - pb : 4, p0 = pb * 16;
            const int lim = P - p0 < 64 ? P - p0 : 64;
            const int r0 = R.by_rows ? R.n0 : i / npp * rbs * 6;
            const int r1 = R.by_rows ? R.n1 : (r0 + rbs * 6 < N ? r0 + rbs * 6 : N);
            const float *panel = J->packed_r + (long)pb * 16 * H;
            for (int rb = r0, rows; rb < r1; rb += rows) {
                rows = SFX(tile_rows)(r1 - rb);
                SFX(kern)(rows, np_, H, mt + (long)rb * H, H, panel, tile);
                for (int rr = 0; rr < rows; rr++) {
                    const long n = rb + rr;
                    float *hnn = hn + n * P + p0;
                    const float *hpn = hp + n * P + p0, *tr = tile + rr * 64;
                    for (int l = 0; l < lim; l++) hnn[l] = tr[l];
                    if (variant && J->zh) {          /* zoneout: h_t = h^_t + d (h_{t-1} - h^_t) */
                        const float *zd = J->zh + n * P + p0;
                        for (int l = 0; l < lim; l++) hnn[l] += zd[l] * (hpn[l] - hnn[l]);
                    }
                    if (mk) {                                /* ragged: y = m h, carry */
                        const float mv = mk[n];
                        for (int l = 0; l < lim; l++) yt[n * P + p0 + l] = hnn[l] * mv;
                        if (mv == 0.0f)
                            for (int l = 0; l < lim; l++) hnn[l] = hpn[l];
                    }
                }
            }
        }
        rn_items_end(J, &S, &R);
    }
    rn_parts_end(J, &S, &R);
}

static void SFX(lstmp_fwd)(rn_job *J, int tid, int nt)
{
    if (J->vflags & ~RN_PROJ) SFX(lstmp_fwd_body)(J, tid, nt, 1);
    else SFX(lstmp_fwd_body)(J, tid, nt, 0);
}

/* Step t's dh^_t and dhk for columns p0 .. p1 - 1 of h, every row: g = dh_t + dy_t; a padded row:
 * dh^_t = 0, dhk = dh_t (carried to h_{t-1}); with zoneout's d: dh^_t = g (1 - d), dhk = g d;
 * else dh^_t = g, dhk = 0. */
static void SFX(lstmp_pre)(rn_job *J, int t, int p0, int p1, const int n0, const int n1)
{
    const int N = J->N, P = J->P;
    const float *dyt = J->dy + (long)t * J->dy_ts, *mk = J->mask ? J->mask + (long)t * N : 0;
    float *dht = J->dhs + (long)t * N * P;
    for (long n = n0; n < n1; n++) {
        const float *dhn = J->dh + n * P, *dyn = dyt + n * J->dy_ns;
        float *dtn = dht + n * P, *dkn = J->dhk + n * P;
        if (mk && mk[n] == 0.0f) {
            for (int c = p0; c < p1; c++) { dtn[c] = 0.0f; dkn[c] = dhn[c]; }
        } else if (J->zh) {
            const float *zd = J->zh + n * P;
            for (int c = p0; c < p1; c++) {
                const float g = dhn[c] + dyn[c];
                dkn[c] = g * zd[c];
                dtn[c] = g * (1.0f - zd[c]);
            }
        } else
            for (int c = p0; c < p1; c++) { dtn[c] = dhn[c] + dyn[c]; dkn[c] = 0.0f; }
    }
}

/* Phase A of step t for the units u0 .. u0 + lim - 1 (lim <= 64) of every row: dm = dh^_t W_hr^T
 * (panel: W_hr^T's packed columns of these units), then their elementwise backward. The peephole
 * sums run over the step's rows first, then join dp, as in lstm_bwd_elem_v. */
static inline __attribute__((always_inline)) void
SFX(lstmp_bwd_units)(rn_job *J, int t, int u0, int lim, const float *panel, const int n0, const int n1,
                    const int variant)
{
    const int N = J->N, H = J->H, P = J->P, r = J->reverse, nv = (lim + 15) / 16;
    const long G4 = 4L * H;
    const float *gt = J->gates + (long)t * N * G4, *tct = J->aux + (long)t * N * H;
    const float *cp = J->cs + (long)(t + r) * N * H;
    const float *cc = J->chat ? J->chat + (long)t * N * H : J->cs + (long)(t + 1 - r) * N * H;
    const float *dht = J->dhs + (long)t * N * P, *mk = J->mask ? J->mask + (long)t * N : 0;
    const float *pp = variant && (J->vflags & RN_PEEP) ? J->peep : 0;
    const float clip = variant && (J->vflags & RN_CLIP) ? J->clip : 0.0f;
    const int cifg = variant && (J->vflags & RN_CIFG);
    const float slope = variant && (J->vflags & RN_HARD) ? J->slope : 0.0f;
    float *da = J->da + (long)t * N * G4, *dc = J->dc;
    float tile[6 * 64] __attribute__((aligned(64)));
    float zero[64] __attribute__((aligned(64))), junk[64] __attribute__((aligned(64)));
    float sp[3 * 64] __attribute__((aligned(64)));
    memset(zero, 0, sizeof zero);
    if (pp) memset(sp, 0, sizeof sp);
    for (int rb = n0, rows; rb < n1; rb += rows) {
        rows = SFX(tile_rows)(n1 - rb);
        SFX(kern)(rows, nv, P, dht + (long)rb * P, P, panel, tile);          /* dm = dh^_t W_hr^T */
        for (int rr = 0; rr < rows; rr++) {
            const long n = rb + rr;
            float *dan = da + n * G4 + u0;
            if (mk && mk[n] == 0.0f) {                   /* padded: no gradient, dc carried */
                for (int j = 0; j < lim; j++) dan[j] = dan[H + j] = dan[2 * H + j] = dan[3 * H + j] = 0.0f;
                continue;
            }
            /* the unit functions on this row's units from u0, with dh = dm and dy = 0 */
            if (variant)
                SFX(lstm_units_bwd_v)(0, lim, H, gt + n * G4 + u0, tct + n * H + u0, cp + n * H + u0,
                                      cc + n * H + u0, zero, dan, tile + rr * 64, dc + n * H + u0, junk,
                                      pp ? pp + u0 : 0, clip, cifg, 0, J->zc ? J->zc + n * H + u0 : 0, sp, slope,
                                      0, 0);
            else
                SFX(lstm_units_bwd)(0, lim, H, gt + n * G4 + u0, tct + n * H + u0, 0, cp + n * H + u0, zero, dan,
                                    tile + rr * 64, dc + n * H + u0, junk);
        }
    }
    if (pp)
        for (int j = 0; j < lim; j++) {
            J->dp[u0 + j] += sp[j];
            J->dp[H + u0 + j] += sp[64 + j];
            J->dp[2 * H + u0 + j] += sp[128 + j];
        }
}

/* The weight gradients of the projected cell, as weight_grads (which assumes h of width H):
 * pack W^T; dU = h_{t-1}^T da (P, 4H), dW = x^T da (D, 4H) and db, dW_hr = m^T dh^ (H, P), slab by
 * slab; then dx = da W^T. */
static void SFX(lstmp_weight_grads)(rn_job *J, rn_sync *S)
{
    const int N = J->N, H = J->H, D = J->D, P = J->P;
    const long M = (long)J->T * N, GH = 4L * H;
    const int nbd = (D + 15) / 16, npd = (nbd + 3) / 4;
    const float *hprev = J->hs + (J->reverse ? (long)N * P : 0);    /* h_{t-1}, in time order */
    rn_phase(S, npd);
    for (int i; (i = rn_claim(J->claim2, S)) >= 0; rn_done(J))
        SFX(pack_t)(J->W, D, GH, 4 * i, nbd - 4 * i < 4 ? nbd - 4 * i : 4, J->packed);
    rn_wait(J, S);
    const int npc = (int)((GH + 63) / 64), npr = (P + 63) / 64;
    const int iu = (P + RN_MB - 1) / RN_MB * npc, iw = (D + RN_MB - 1) / RN_MB * npc;
    const int ir = (H + RN_MB - 1) / RN_MB * npr;
    for (long k0 = 0; k0 < M; k0 += RN_KS) {
        const long k1 = M - k0 < RN_KS ? M : k0 + RN_KS;
        rn_phase(S, iu + iw + ir);
        for (int i; (i = rn_claim(J->claim2, S)) >= 0; rn_done(J)) {
            if (i < iu)                                                 /* dU = h_{t-1}^T da */
                SFX(grad_item1)(k0, k1, hprev, P, P, J->da, GH, i / npc * RN_MB, i % npc, J->dU, 0);
            else if (i < iu + iw) {                                     /* dW = x^T da, db */
                const int j = i - iu;
                SFX(grad_item1)(k0, k1, J->x, D, D, J->da, GH, j / npc * RN_MB, j % npc, J->dW,
                                j / npc == 0 ? J->db : 0);
            } else {                                                    /* dW_hr = m^T dh^ */
                const int j = i - iu - iw;
                SFX(grad_item1)(k0, k1, J->m, H, H, J->dhs, P, j / npr * RN_MB, j % npr, J->dWhr, 0);
            }
        }
        rn_wait(J, S);
    }
    const int ix = (int)((M + RN_MB - 1) / RN_MB) * npd;
    rn_phase(S, ix);
    for (int i; (i = rn_claim(J->claim2, S)) >= 0; rn_done(J))               /* dx = da W^T */
        SFX(dx_item)(J, M, GH, J->da, J->packed, D, (long)(i / npd) * RN_MB, i % npd, J->dx);
    rn_wait(J, S);
}

/* Work items of the projected loops' largest phase, for sizing the claim array. */
static inline long SFX(lstmp_items)(long M, int H, int P, int D)
{
    const long npc = (4L * H + 63) / 64, npd = ((D + 15) / 16 + 3) / 4, npr = (P + 63) / 64;
    const long nb = (H + 15) / 16, nbp = (P + 15) / 16;
    long n = ((P + RN_MB - 1) / RN_MB + (D + RN_MB - 1) / RN_MB) * npc + (H + RN_MB - 1) / RN_MB * npr;
    const long more[4] = {(M + RN_MB - 1) / RN_MB * npd, nb + nbp, (nbp + 3) / 4 + (nb + 3) / 4,
                          128 + (nbp + 3) / 4};     /* the last: phase 2's items, at most 2 nt + npp - 1, nt <= 64 */
    for (int i = 0; i < 4; i++) if (more[i] > n) n = more[i];
    return n;
}

static inline __attribute__((always_inline)) void SFX(lstmp_bwd_body)(rn_job *J, int tid, int nt, const int variant)
{
    const int T = J->T, N = J->N, H = J->H, P = J->P, r = J->reverse;
    const long G4 = 4L * H;
    const int nb = (H + 15) / 16, npan = (nb + 3) / 4, nbp = (P + 15) / 16, nppan = (nbp + 3) / 4;
    rn_sync S = {tid, nt, 0, 0, 0, 0};
    float tile[6 * 64] __attribute__((aligned(64)));
    float *dh = J->dh;
    const float *dhk = J->dhk;
    rn_phase(&S, nppan + npan);          /* pack U^T per column panel of P (and the first step's dh^),
                                            W_hr^T per unit panel */
    for (int i; (i = rn_claim(J->claim2, &S)) >= 0; rn_done(J)) {
        if (i < nppan) {
            SFX(pack_t)(J->U, P, G4, 4 * i, nbp - 4 * i < 4 ? nbp - 4 * i : 4, J->packed);
            SFX(lstmp_pre)(J, r ? 0 : T - 1, 64 * i, 64 * i + 64 < P ? 64 * i + 64 : P, 0, N);
        } else {
            const int k = i - nppan;
            SFX(pack_t)(J->Whr, H, P, 4 * k, nb - 4 * k < 4 ? nb - 4 * k : 4, J->packed_r);
        }
    }
    rn_wait(J, &S);
    /* by rows unless the peephole gradients sum each unit's rows */
    rn_parts R = rn_parts_begin(&S, !(variant && (J->vflags & RN_PEEP)) && rn_by_rows(N, tid, nt), N, RN_PART_ALIGN);
    while (rn_parts_next(J, J->claim1, &S, &R))
    for (int s = 0; s < T; s++) {
        const int t = r ? s : T - 1 - s;
        rn_items_begin(&S, &R, npan);                    /* A: dm, then da_t and dc_{t-1} */
        for (int i; (i = rn_item(J->claim1, &S, &R)) >= 0; rn_item_done(J, &R)) {
            const int u0 = 64 * i, lim = H - u0 < 64 ? H - u0 : 64;
            SFX(lstmp_bwd_units)(J, t, u0, lim, J->packed_r + (long)u0 * P, R.n0, R.n1, variant);
        }
        rn_items_end(J, &S, &R);
        const float *da = J->da + (long)t * N * G4;
        rn_items_begin(&S, &R, nppan);                   /* B: dh_{t-1} = da_t U^T + dhk, next dh^ */
        for (int i; (i = rn_item(J->claim2, &S, &R)) >= 0; rn_item_done(J, &R)) {
            const int pb = 4 * i, np_ = nbp - pb < 4 ? nbp - pb : 4, p0 = pb * 16;
            const int lim = P - p0 < np_ * 16 ? P - p0 : np_ * 16;
            const float *panel = J->packed + (long)pb * 16 * G4;
            for (int rb = R.n0, rows; rb < R.n1; rb += rows) {
                rows = SFX(tile_rows)(R.n1 - rb);
                SFX(kern)(rows, np_, G4, da + (long)rb * G4, G4, panel, tile);
                for (int rr = 0; rr < rows; rr++) {
                    const long n = rb + rr;
                    float *dhn = dh + n * P + p0;
                    const float *dhkn = dhk + n * P + p0, *tr = tile + rr * 64;
                    for (int c = 0; c < lim; c++) dhn[c] = tr[c] + dhkn[c];
                }
            }
            if (s + 1 < T) SFX(lstmp_pre)(J, r ? t + 1 : t - 1, p0, p0 + lim, R.n0, R.n1);
        }
        rn_items_end(J, &S, &R);
    }
    rn_parts_end(J, &S, &R);
    SFX(lstmp_weight_grads)(J, &S);
}

static void SFX(lstmp_bwd)(rn_job *J, int tid, int nt)
{
    if (J->vflags & ~RN_PROJ) SFX(lstmp_bwd_body)(J, tid, nt, 1);
    else SFX(lstmp_bwd_body)(J, tid, nt, 0);
}

static void (*const SFX(jobs)[8])(rn_job *, int, int) = {
    SFX(lstm_fwd), SFX(lstm_bwd), SFX(gru_fwd), SFX(gru_bwd), SFX(rnn_fwd), SFX(rnn_bwd),
    SFX(lstmp_fwd), SFX(lstmp_bwd)};

#undef VL
#undef V_LD
#undef V_ST
#undef V_SET
#undef V_ADD
#undef V_SUB
#undef V_MUL
#undef V_FMA
#undef V_DIV
#undef V_MIN
#undef V_MAX
#undef V_KEEP_LT
#undef V_KEEP_01
#undef V_LTBITS
#undef V_BITS
