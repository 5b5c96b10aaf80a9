/*
 * attention.c: causal multi-head softmax attention for the Transformer baseline (ops.h has
 * the contract: layout, the causal rule with the query offset P = Tk - Tq, scratch, the +=
 * rule of the backward).
 *
 * Three families, one function:
 *   naive   per (b, h): S = scale Q K^T (Tq x Tk, op_gemm), mask, row softmax, O = P V
 *           (op_gemm). The backward recomputes P the same way and applies the textbook
 *           formulas with four more op_gemm.
 *   flash   FlashAttention-2 (Dao, "FlashAttention-2", 2023, Algorithms 1 and 2): the
 *           forward walks the key blocks of one query block keeping per row the running
 *           max m, the running sum l and an unnormalised output, rescaled by exp(m_old -
 *           m_new) whenever the max grows; lse = m + log l. The backward walks the query
 *           blocks of one key block and recomputes p = exp(s - lse) tile by tile, with
 *           D_i = do_i . o_i. Tiles above the diagonal are never visited.
 *   decode  one query per (sequence, head) against its own KV cache, an online softmax over
 *           blocks of 32 keys: the one kernel of the model's decoding step (decode.c).
 * Softmax statistics and sums are float; the naive and flash forms take every exp from exp8
 * below (so they differ only in the order of their sums); decode uses expf, once per key.
 *
 * Tile products. The flash tiles are small (96 x 96 x 64), and op_gemm (OpenBLAS sgemm)
 * measured half the speed of our own register-blocked loop, tile_mm: ~22 against ~45
 * GFLOP per CPU-second for the whole forward at T = 1024 (sgemm's packing and call cost
 * on every tile, and OpenBLAS's own threads when a call runs outside a parallel region).
 * tile_mm also makes the flash results independent of the thread count (see test_threads)
 * and of BLAS. The naive products are large (T x T) and stay with op_gemm.
 *
 * Threads: ours, over (b, h) in the naive functions, (b, h, query block) in the flash
 * forward (dynamic), (b, h, key block) in the flash backward (static) and (b, h) in
 * decode. Small calls skip the parallel region altogether (waking the other threads costs
 * more than the work, and libgomp allocates a team for a region run on one thread).
 *
 * dq in the flash backward. Tasks own key blocks, so their dk and dv rows are private, but
 * every key block adds into the dq of all the query rows after it. Two ways out: a second
 * pass over (b, h, query block) that recomputes s and dp once more for dq alone (2 more of
 * the 5 tile products, +40% arithmetic), or per-thread copies of dq summed at the end. With
 * 2 cores the copies cost one extra dq-sized buffer and a memory-bound pass of (threads - 1)
 * |dq| adds, far cheaper than 40% more products; we take the copies. Thread 0 adds into
 * the caller's dq directly; threads 1.. into zeroed copies that are added after a barrier.
 * The tasks are dealt out statically, round robin (schedule(static, 1): neighbouring key
 * blocks cost about the same, so the causal imbalance evens out), so the result is the
 * same bits on every run with the same thread count.
 *
 * Tile sizes, for 32 KB L1 and 1 MB L2 per core (AMD EPYC, AVX2), H = 8, dk = dv = 64.
 * Multiples of 6 rows x 16 columns, tile_mm's register block. Forward BQ x BK = 96 x 96:
 * the score tile is 36 KB, Qt 24 KB, the V tile 24 KB (L2, mostly L1). Measured at
 * T = 1024 in GFLOP per CPU-second (the machine is shared; runs vary by +-15%): 96 x 96
 * 41-48, 64 x 128 33-43, 64 x 64 38-39, 128 x 128 36-42, 48 x 96 42-44, 96 x 192 44-45.
 * Backward 96 x 96 (tied with 48 x 96, 96 x 48, 144 x 96 within the noise: 47-54 best of
 * four; 64 x 64 and 48 x 48 lower); the larger key block packs K and V fewer times.
 */
#include "ops.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#define BQ 96   /* forward: query rows per tile */
#define BK 96   /* forward: keys per tile */
#define BQB 96  /* backward: query rows per tile */
#define BKB 96  /* backward: keys per tile (one task) */

/* Below this many score entries (B H Tq Tk) a call runs on the calling thread alone. */
#define SERIAL_MAX 8192

static int nthreads(int threads) { return threads > 0 ? threads : omp_get_max_threads(); }
static int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

/* 8 floats (and ints), unaligned, allowed to alias float: GCC/Clang vector extensions
 * rather than intrinsics, so any -march builds (AVX2 makes one of these a ymm register,
 * x86-64-v2 two xmm). */
typedef float v8 __attribute__((vector_size(32), aligned(4), may_alias));
typedef int32_t v8i __attribute__((vector_size(32), aligned(4), may_alias));

/* Loads and stores as macros: no function takes or returns a vector, so no vector ABI is
 * involved (GCC notes one when the target lacks AVX). */
#define ld8(p) (*(const v8 *)(p))
#define st8(p, x) (*(v8 *)(p) = (x))

/*
 * exp of 8 floats in place, for x <= 88: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, and
 * Cephes' expf polynomial (S. Moshier), then the exponent added to n. Relative error
 * <= 1.5 u (u = 2^-24; measured over [-87.3, 1] in steps of 1e-5 against double exp;
 * libm's expf: 1 u); x < -87.34 gives 0 (exp(x) < 1.2e-38, a subnormal we do not
 * need next to a sum >= 1). libm's expf does not vectorise without -ffast-math; this is
 * the softmax's hot loop (one exp per score), so the speed matters, and one function
 * used everywhere keeps naive, flash and decode on the same exp.
 */
static inline void exp8(float *p) {
    const v8 zero = {0};
    v8 x = ld8(p);
    const v8i under = x < zero - 87.3365448f;
    x = (v8)((v8i)x & ~under);
    v8 n = x * 1.44269504088896341f + 12582912.0f; /* round to nearest: 1.5 2^23 */
    n -= 12582912.0f;
    v8 r = x - n * 0.693359375f;                    /* ln 2 in two parts */
    r = r - n * -2.12194440e-4f;
    v8 y = zero + 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * (r * r) + r + 1.0f;
    const v8i e = (__builtin_convertvector(n, v8i) + 127) << 23; /* 2^n, n >= -126 */
    st8(p, (v8)((v8i)(y * (v8)e) & ~under));
}

/* x[i] = exp(x[i] - (sub ? sub[i] : sub0)) for i < n; the tail goes through the same exp8. */
static void exp_sub(float *x, int64_t n, const float *sub, float sub0) {
    int64_t i = 0;
    const v8 zero = {0};
    for (; i + 8 <= n; i += 8) {
        if (sub) st8(x + i, ld8(x + i) - ld8(sub + i));
        else st8(x + i, ld8(x + i) - (zero + sub0));
        exp8(x + i);
    }
    if (i < n) {
        float t[8] = {0};
        for (int64_t j = i; j < n; j++) t[j - i] = x[j] - (sub ? sub[j] : sub0);
        exp8(t);
        memcpy(x + i, t, sizeof(float) * (size_t)(n - i));
    }
}

/*
 * Masked softmax of one score row in place: entries 0..n-1 become exp(x - max) / sum,
 * entries n..len-1 become 0 (n >= 1). Returns lse = max + log(sum).
 */
static float softmax_row(float *x, int64_t n, int64_t len) {
    float mx = x[0];
    for (int64_t j = 1; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    exp_sub(x, n, NULL, mx);
    float sum = 0.0f;
    for (int64_t j = 0; j < n; j++) sum += x[j];
    float inv = 1.0f / sum;
    for (int64_t j = 0; j < n; j++) x[j] *= inv;
    for (int64_t j = n; j < len; j++) x[j] = 0.0f;
    return mx + logf(sum);
}

/* ==================================================================================== */
/* naive */

int64_t op_attention_naive_work(int64_t Tq, int64_t Tk, int threads) {
    return nthreads(threads) * imax(1, Tq * Tk);
}

int64_t op_attention_naive_backward_work(int64_t Tq, int64_t Tk, int threads) {
    return nthreads(threads) * 2 * imax(1, Tq * Tk);
}

/* P (Tq, Tk) = softmax(scale Q K^T, causal) of head h of sequence b; lse (Tq) if not NULL. */
static void naive_probs(const float *q, const float *k, int64_t Tq, int64_t Tk, int dk,
                        int64_t ldq, int64_t ldk, float scale, float *P, float *lse) {
    const int64_t off = Tk - Tq;
    op_gemm(0, 1, Tq, Tk, dk, scale, q, ldq, k, ldk, 0.0f, P, Tk);
    for (int64_t i = 0; i < Tq; i++) {
        float l = softmax_row(P + i * Tk, off + i + 1, Tk);
        if (lse) lse[i] = l;
    }
}

void op_attention_naive_forward(const attention_args *a, float *work) {
    const int64_t B = a->B, Tq = a->Tq, Tk = a->Tk, BH = B * a->H;
    const int H = a->H, dk = a->dk, dv = a->dv;
    const int64_t ldq = (int64_t)H * dk, ldv = (int64_t)H * dv, per = imax(1, Tq * Tk);
    if (Tq <= 0) return;
    int nt = nthreads(a->threads);
#pragma omp parallel for schedule(dynamic) num_threads(nt) if (nt > 1 && BH * Tq * Tk > SERIAL_MAX)
    for (int64_t bh = 0; bh < BH; bh++) {
        const int64_t b = bh / H;
        const int h = (int)(bh % H);
        float *P = work + omp_get_thread_num() * per;
        naive_probs(a->q + b * Tq * ldq + h * dk, a->k + b * Tk * ldq + h * dk, Tq, Tk, dk,
                    ldq, ldq, a->scale, P, a->lse ? a->lse + bh * Tq : NULL);
        op_gemm(0, 0, Tq, dv, Tk, 1.0f, P, Tk, a->v + b * Tk * ldv + h * dv, ldv, 0.0f,
                a->o + b * Tq * ldv + h * dv, ldv);
    }
}

void op_attention_naive_backward(const attention_grad_args *a, float *work) {
    const int64_t B = a->B, Tq = a->Tq, Tk = a->Tk, BH = B * a->H;
    const int H = a->H, dk = a->dk, dv = a->dv;
    const int64_t ldq = (int64_t)H * dk, ldv = (int64_t)H * dv, per = imax(1, Tq * Tk);
    if (Tq <= 0 || (!a->dq && !a->dk_ && !a->dv_)) return;
    int nt = nthreads(a->threads);
#pragma omp parallel for schedule(dynamic) num_threads(nt) if (nt > 1 && BH * Tq * Tk > SERIAL_MAX)
    for (int64_t bh = 0; bh < BH; bh++) {
        const int64_t b = bh / H;
        const int h = (int)(bh % H);
        float *P = work + omp_get_thread_num() * 2 * per, *dP = P + per;
        const float *q = a->q + b * Tq * ldq + h * dk, *k = a->k + b * Tk * ldq + h * dk;
        const float *v = a->v + b * Tk * ldv + h * dv, *dout = a->dout + b * Tq * ldv + h * dv;
        naive_probs(q, k, Tq, Tk, dk, ldq, ldq, a->scale, P, NULL);
        /* dV += P^T dO */
        if (a->dv_)
            op_gemm(1, 0, Tk, dv, Tq, 1.0f, P, Tk, dout, ldv, 1.0f,
                    a->dv_ + b * Tk * ldv + h * dv, ldv);
        if (!a->dq && !a->dk_) continue;
        /* dP = dO V^T;  dS = P ⊙ (dP - D), D_i = sum_j P_ij dP_ij (masked P_ij are 0) */
        op_gemm(0, 1, Tq, Tk, dv, 1.0f, dout, ldv, v, ldv, 0.0f, dP, Tk);
        for (int64_t i = 0; i < Tq; i++) {
            const float *p = P + i * Tk;
            float *d = dP + i * Tk, D = 0.0f;
            for (int64_t j = 0; j < Tk; j++) D += p[j] * d[j];
            for (int64_t j = 0; j < Tk; j++) d[j] = p[j] * (d[j] - D);
        }
        /* dQ += scale dS K;  dK += scale dS^T Q */
        if (a->dq)
            op_gemm(0, 0, Tq, dk, Tk, a->scale, dP, Tk, k, ldq, 1.0f,
                    a->dq + b * Tq * ldq + h * dk, ldq);
        if (a->dk_)
            op_gemm(1, 0, Tk, dk, Tq, a->scale, dP, Tk, q, ldq, 1.0f,
                    a->dk_ + b * Tk * ldq + h * dk, ldq);
    }
}

/* ==================================================================================== */
/* tile products */

/*
 * C (m, n) = [C +] sum_{k < K} a(i, k) B[k, :], with a(i, k) = A[i*ai + k*ak] (so A may be
 * read transposed) and B, C row-major with strides ldb, ldc. The tile products of this
 * file, all of them. Blocks of 6 rows x 16 columns stay in 12 vector registers through the
 * whole k loop: per k, 2 loads of B, 6 broadcasts of a, 12 FMAs; 12 independent sums hide
 * the FMA latency (a 4 x 16 block, 8 sums, measured half as fast: ~40 against ~85
 * GFLOP/s per core for 64 x 64 x 128). Each C element is one sum over k in order, whatever
 * the block, so results do not depend on where a row falls.
 */
#define MR 6
static void tile_mm(int64_t m, int64_t n, int64_t K, const float *A, int64_t ai, int64_t ak,
                    const float *B, int64_t ldb, float *C, int64_t ldc, int accumulate) {
    int64_t i = 0;
    for (; i + MR <= m; i += MR) {
        const float *a[MR];
        float *c[MR];
        for (int r = 0; r < MR; r++) { a[r] = A + (i + r) * ai; c[r] = C + (i + r) * ldc; }
        int64_t j = 0;
        for (; j + 16 <= n; j += 16) {
            v8 x[MR][2];
            for (int r = 0; r < MR; r++) {
                const v8 zero = {0};
                x[r][0] = accumulate ? ld8(c[r] + j) : zero;
                x[r][1] = accumulate ? ld8(c[r] + j + 8) : zero;
            }
            const float *b = B + j;
            for (int64_t k = 0; k < K; k++, b += ldb) {
                const v8 b0 = ld8(b), b1 = ld8(b + 8);
                for (int r = 0; r < MR; r++) {
                    const float s = a[r][k * ak];
                    x[r][0] += s * b0;
                    x[r][1] += s * b1;
                }
            }
            for (int r = 0; r < MR; r++) { st8(c[r] + j, x[r][0]); st8(c[r] + j + 8, x[r][1]); }
        }
        for (; j + 8 <= n; j += 8) {
            v8 x[MR];
            for (int r = 0; r < MR; r++) {
                const v8 zero = {0};
                x[r] = accumulate ? ld8(c[r] + j) : zero;
            }
            const float *b = B + j;
            for (int64_t k = 0; k < K; k++, b += ldb) {
                const v8 b0 = ld8(b);
                for (int r = 0; r < MR; r++) x[r] += a[r][k * ak] * b0;
            }
            for (int r = 0; r < MR; r++) st8(c[r] + j, x[r]);
        }
        for (; j < n; j++)
            for (int r = 0; r < MR; r++) {
                float x = accumulate ? c[r][j] : 0.0f;
                for (int64_t k = 0; k < K; k++) x += a[r][k * ak] * B[k * ldb + j];
                c[r][j] = x;
            }
    }
    for (; i < m; i++) { /* the last m % 6 rows, one at a time */
        const float *a0 = A + i * ai;
        float *c0 = C + i * ldc;
        int64_t j = 0;
        for (; j + 16 <= n; j += 16) {
            const v8 zero = {0};
            v8 x0 = accumulate ? ld8(c0 + j) : zero, x1 = accumulate ? ld8(c0 + j + 8) : zero;
            const float *b = B + j;
            for (int64_t k = 0; k < K; k++, b += ldb) {
                x0 += a0[k * ak] * ld8(b);
                x1 += a0[k * ak] * ld8(b + 8);
            }
            st8(c0 + j, x0);
            st8(c0 + j + 8, x1);
        }
        for (; j + 8 <= n; j += 8) {
            const v8 zero = {0};
            v8 x0 = accumulate ? ld8(c0 + j) : zero;
            const float *b = B + j;
            for (int64_t k = 0; k < K; k++, b += ldb) x0 += a0[k * ak] * ld8(b);
            st8(c0 + j, x0);
        }
        for (; j < n; j++) {
            float x = accumulate ? c0[j] : 0.0f;
            for (int64_t k = 0; k < K; k++) x += a0[k * ak] * B[k * ldb + j];
            c0[j] = x;
        }
    }
}

/* Bt (cols, rows) = A (rows, cols)^T, A with row stride lda. */
static void transpose(float *Bt, const float *A, int64_t rows, int64_t cols, int64_t lda) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) Bt[c * rows + r] = A[r * lda + c];
}

/* ==================================================================================== */
/* flash forward */

static int64_t flash_fwd_per_thread(int dk, int dv) {
    return (int64_t)dk * BQ + (int64_t)BK * BQ + (int64_t)BQ * dv + 4 * BQ + (int64_t)BK * dv;
}

int64_t op_attention_flash_work(int dk, int dv, int threads) {
    return nthreads(threads) * flash_fwd_per_thread(dk, dv);
}

/*
 * One query block (rows i0 .. i0+R-1 of head h of sequence b). Scores are kept transposed,
 * St (C, R) = K_tile Q_blk^T, so that the softmax statistics of the R query rows are
 * vectors along a row of St. Tile scratch: Qt (dk, R), St (BK, R), O (R, dv) the
 * unnormalised output, m (R) the running max, l (R) the running sum, mx (R) the new max,
 * al (R) the rescaling factors, Vp (BK, dv) the V tile.
 */
static void flash_fwd_block(const attention_args *a, int64_t b, int h, int64_t i0, float *w) {
    const int64_t Tq = a->Tq, Tk = a->Tk, off = Tk - Tq;
    const int dk = a->dk, dv = a->dv;
    const int64_t ldq = (int64_t)a->H * dk, ldv = (int64_t)a->H * dv;
    const int64_t R = imin(BQ, Tq - i0);
    const float scale = a->scale;
    float *Qt = w, *St = Qt + (int64_t)dk * BQ, *O = St + BK * BQ, *m = O + BQ * dv;
    float *l = m + BQ, *mx = l + BQ, *al = mx + BQ, *Vp = al + BQ;
    const float *k = a->k + b * Tk * ldq + h * dk, *v = a->v + b * Tk * ldv + h * dv;

    transpose(Qt, a->q + (b * Tq + i0) * ldq + h * dk, R, dk, ldq);
    for (int64_t r = 0; r < R; r++) { m[r] = -INFINITY; l[r] = 0.0f; }
    memset(O, 0, sizeof(float) * (size_t)(R * dv));
    /* keys 0 .. kend-1 are seen by some row of the block (the last row sees off + i0 + R - 1);
     * key j is seen by the rows r >= j - off - i0. The first tile holds key 0, which every
     * row sees, so m is finite from then on. */
    const int64_t kend = off + i0 + R;
    for (int64_t j0 = 0; j0 < kend; j0 += BK) {
        const int64_t C = imin(BK, kend - j0);
        tile_mm(C, R, dk, k + j0 * ldq, ldq, 1, Qt, R, St, R, 0);
        for (int64_t r = 0; r < R; r++) mx[r] = m[r];
        for (int64_t c = 0; c < C; c++) {
            float *s = St + c * R;
            const int64_t r0 = imax(0, j0 + c - off - i0); /* first row that sees key j0+c */
            for (int64_t r = r0; r < R; r++) {
                s[r] *= scale;
                mx[r] = s[r] > mx[r] ? s[r] : mx[r];
            }
        }
        /* rescale by alpha = exp(m_old - m_new): 1 where the max did not move, 0 on the
         * first tile (m_old = -inf) */
        memcpy(al, m, sizeof(float) * (size_t)R);
        exp_sub(al, R, mx, 0.0f);
        for (int64_t r = 0; r < R; r++) {
            l[r] *= al[r];
            m[r] = mx[r];
            if (al[r] != 1.0f)
                for (int c = 0; c < dv; c++) O[r * dv + c] *= al[r];
        }
        for (int64_t c = 0; c < C; c++) {
            float *s = St + c * R;
            const int64_t r0 = imin(R, imax(0, j0 + c - off - i0));
            for (int64_t r = 0; r < r0; r++) s[r] = 0.0f;
            exp_sub(s + r0, R - r0, m + r0, 0.0f);
            for (int64_t r = r0; r < R; r++) l[r] += s[r];
        }
        /* O (R, dv) += St^T V_tile, V_tile copied to contiguous rows (its rows are H dv
         * apart in v: a power-of-two stride that maps them onto few L1 sets) */
        for (int64_t c = 0; c < C; c++) memcpy(Vp + c * dv, v + (j0 + c) * ldv, sizeof(float) * dv);
        tile_mm(R, dv, C, St, 1, R, Vp, dv, O, dv, 1);
    }
    float *o = a->o + (b * Tq + i0) * ldv + h * dv;
    for (int64_t r = 0; r < R; r++) {
        const float inv = 1.0f / l[r];
        for (int c = 0; c < dv; c++) o[r * ldv + c] = O[r * dv + c] * inv;
        if (a->lse) a->lse[((int64_t)b * a->H + h) * Tq + i0 + r] = m[r] + logf(l[r]);
    }
}

void op_attention_flash_forward(const attention_args *a, float *work) {
    const int64_t Tq = a->Tq, nqb = (Tq + BQ - 1) / BQ, ntask = a->B * a->H * nqb;
    if (Tq <= 0) return;
    const int nt = nthreads(a->threads);
    const int64_t per = flash_fwd_per_thread(a->dk, a->dv);
    /* Tasks in order of decreasing cost (last query blocks first) so dynamic scheduling
     * does not end on a long diagonal-heavy block. */
#pragma omp parallel for schedule(dynamic) num_threads(nt) if (nt > 1 && a->B * a->H * Tq * a->Tk > SERIAL_MAX)
    for (int64_t t = 0; t < ntask; t++) {
        const int64_t qb = nqb - 1 - t % nqb, bh = t / nqb;
        flash_fwd_block(a, bh / a->H, (int)(bh % a->H), qb * BQ,
                        work + omp_get_thread_num() * per);
    }
}

/* ==================================================================================== */
/* flash backward */

/* Per-thread tiles: Kt (dk, BKB), Kp (BKB, dk), Vt (dv, BKB) of the task's key block;
 * Qp (BQB, dk), dOp (BQB, dv) of the current query block; P and dS (BQB, BKB). */
static int64_t flash_bwd_per_thread(int dk, int dv) {
    return (int64_t)BKB * (2 * dk + dv) + (int64_t)BQB * (dk + dv) + 2 * (int64_t)BQB * BKB;
}

int64_t op_attention_flash_backward_work(int64_t B, int64_t Tq, int H, int dk, int dv,
                                         int threads) {
    const int nt = nthreads(threads);
    return B * H * Tq                       /* D = rowsum(dO ⊙ O) */
           + (nt - 1) * B * Tq * H * dk     /* dq copies of threads 1.. */
           + nt * flash_bwd_per_thread(dk, dv);
}

/*
 * One key block (keys j0 .. j0+C-1 of head h of sequence b) against every query block that
 * sees it. dq goes to dqt (the thread's copy of dq, layout as dq, or NULL). The tiles are
 * copied to contiguous rows first (rows of q, k, v, do are H d floats apart: a power-of-two
 * stride that maps them onto few L1 sets), K and V once per task, Q and dO per query block.
 */
static void flash_bwd_block(const attention_grad_args *a, int64_t b, int h, int64_t j0,
                            const float *Dall, float *dqt, float *w) {
    const int64_t Tq = a->Tq, Tk = a->Tk, off = Tk - Tq;
    const int H = a->H, dk = a->dk, dv = a->dv;
    const int64_t ldq = (int64_t)H * dk, ldv = (int64_t)H * dv, bh = b * H + h;
    const int64_t C = imin(BKB, Tk - j0);
    const float scale = a->scale;
    float *Kt = w, *Kp = Kt + (int64_t)dk * BKB, *Vt = Kp + (int64_t)BKB * dk;
    float *Qp = Vt + (int64_t)dv * BKB, *dOp = Qp + (int64_t)BQB * dk, *P = dOp + (int64_t)BQB * dv;
    float *dS = P + BQB * BKB;
    const float *k = a->k + (b * Tk + j0) * ldq + h * dk, *v = a->v + (b * Tk + j0) * ldv + h * dv;
    const float *lse = a->lse + bh * Tq, *D = Dall + bh * Tq;
    float *dk_ = a->dk_ ? a->dk_ + (b * Tk + j0) * ldq + h * dk : NULL;
    float *dv_ = a->dv_ ? a->dv_ + (b * Tk + j0) * ldv + h * dv : NULL;
    const int need_ds = dqt || dk_;

    transpose(Kt, k, C, dk, ldq);
    for (int64_t c = 0; c < C; c++) memcpy(Kp + c * dk, k + c * ldq, sizeof(float) * dk);
    if (need_ds) transpose(Vt, v, C, dv, ldv);
    /* the first query row that sees key j0 is j0 - off (and none before row 0) */
    for (int64_t i0 = imax(0, j0 - off); i0 < Tq; i0 += BQB) {
        const int64_t R = imin(BQB, Tq - i0);
        const float *q = a->q + (b * Tq + i0) * ldq + h * dk;
        const float *dout = a->dout + (b * Tq + i0) * ldv + h * dv;
        for (int64_t r = 0; r < R; r++) {
            memcpy(Qp + r * dk, q + r * ldq, sizeof(float) * dk);
            memcpy(dOp + r * dv, dout + r * ldv, sizeof(float) * dv);
        }
        /* P (R, C) = exp(scale Q K^T - lse), 0 where masked (key j0+c > off + i0 + r) */
        tile_mm(R, C, dk, Qp, dk, 1, Kt, C, P, C, 0);
        for (int64_t r = 0; r < R; r++) {
            float *p = P + r * C;
            const int64_t n = imin(C, off + i0 + r - j0 + 1); /* >= 1: i0 >= j0 - off */
            for (int64_t c = 0; c < n; c++) p[c] *= scale;
            exp_sub(p, n, NULL, lse[i0 + r]);
            for (int64_t c = n; c < C; c++) p[c] = 0.0f;
        }
        /* dV_blk (C, dv) += P^T dO */
        if (dv_) tile_mm(C, dv, R, P, 1, C, dOp, dv, dv_, ldv, 1);
        if (!need_ds) continue;
        /* dS = scale P ⊙ (dO V^T - D) (the scale of both products below, applied once) */
        tile_mm(R, C, dv, dOp, dv, 1, Vt, C, dS, C, 0);
        for (int64_t r = 0; r < R; r++) {
            const float *p = P + r * C, Di = D[i0 + r];
            float *d = dS + r * C;
            for (int64_t c = 0; c < C; c++) d[c] = scale * (p[c] * (d[c] - Di));
        }
        /* dK_blk (C, dk) += dS^T Q;  dQ_blk (R, dk) += dS K_blk */
        if (dk_) tile_mm(C, dk, R, dS, 1, C, Qp, dk, dk_, ldq, 1);
        if (dqt) tile_mm(R, dk, C, dS, C, 1, Kp, dk, dqt + (b * Tq + i0) * ldq + h * dk, ldq, 1);
    }
}

void op_attention_flash_backward(const attention_grad_args *a, float *work) {
    const int64_t B = a->B, Tq = a->Tq, Tk = a->Tk;
    const int H = a->H, dk = a->dk, dv = a->dv;
    if (Tq <= 0 || (!a->dq && !a->dk_ && !a->dv_)) return;
    const int nt = nthreads(a->threads);
    const int64_t nkb = (Tk + BKB - 1) / BKB, ntask = B * H * nkb;
    const int64_t ldv = (int64_t)H * dv, nq = B * Tq * H * dk;
    float *Dall = work, *copies = Dall + B * H * Tq, *tiles = copies + (nt - 1) * nq;
    const int par = nt > 1 && B * H * Tq * Tk > SERIAL_MAX;

#pragma omp parallel num_threads(nt) if (par)
    {
        const int tid = omp_get_thread_num(), team = omp_get_num_threads();
        float *dqt = !a->dq ? NULL : tid == 0 ? a->dq : copies + (tid - 1) * nq;
        if (dqt && tid > 0) memset(dqt, 0, sizeof(float) * (size_t)nq);
        /* D_i = do_i . o_i for every (b, h, i) */
#pragma omp for schedule(static)
        for (int64_t bt = 0; bt < B * Tq; bt++) {
            const int64_t b = bt / Tq, i = bt % Tq;
            for (int h = 0; h < H; h++) {
                const float *o = a->o + bt * ldv + h * dv, *d = a->dout + bt * ldv + h * dv;
                float s = 0.0f;
                for (int c = 0; c < dv; c++) s += o[c] * d[c];
                Dall[(b * H + h) * Tq + i] = s;
            }
        }
        /* key blocks, dealt round robin: fixed assignment, the same bits every run */
#pragma omp for schedule(static, 1)
        for (int64_t t = 0; t < ntask; t++) {
            const int64_t bh = t / nkb, kb = t % nkb;
            flash_bwd_block(a, bh / H, (int)(bh % H), kb * BKB, Dall, dqt,
                            tiles + tid * flash_bwd_per_thread(dk, dv));
        }
        /* dq += the copies of threads 1 .. team-1 (the loop's barrier is behind us) */
        if (a->dq && team > 1) {
#pragma omp for schedule(static)
            for (int64_t i = 0; i < nq; i++) {
                float s = a->dq[i];
                for (int t = 1; t < team; t++) s += copies[(t - 1) * nq + i];
                a->dq[i] = s;
            }
        }
    }
}

/* ==================================================================================== */
/* decode */

#define KEY_BLOCK 32 /* keys per step of the decoding attention */

/* One (sequence, head): keys in blocks, the block's scores first (independent dot products,
 * so they vectorise and pipeline), then one rescale per block if its maximum is new, then the
 * weighted values; an online softmax, no score buffer. */
void op_attention_decode_head(float *o, float *lse, const float *q, const float *K,
                              const float *V, int64_t len, int64_t ldk, int64_t ldv, int dk,
                              int dv, float scale) {
    float mx = -INFINITY, sum = 0, sc[KEY_BLOCK];
    for (int j = 0; j < dv; j++) o[j] = 0;
    for (int64_t t0 = 0; t0 < len; t0 += KEY_BLOCK) {
        int n = len - t0 < KEY_BLOCK ? (int)(len - t0) : KEY_BLOCK;
        float bm = -INFINITY;
        for (int j = 0; j < n; j++) {
            sc[j] = op_dot(q, K + (t0 + j) * ldk, dk) * scale;
            bm = sc[j] > bm ? sc[j] : bm;
        }
        if (bm > mx) { /* a new maximum: rescale what was summed */
            float r = expf(mx - bm);
            sum *= r;
            for (int j = 0; j < dv; j++) o[j] *= r;
            mx = bm;
        }
        for (int j = 0; j < n; j++) {
            const float *vt = V + (t0 + j) * ldv;
            float p = expf(sc[j] - mx);
            sum += p;
            for (int i = 0; i < dv; i++) o[i] += p * vt[i];
        }
    }
    for (int j = 0; j < dv; j++) o[j] /= sum;
    if (lse) *lse = mx + logf(sum);
}

void op_attention_decode(float *o, float *lse, const float *q, const float *const *kc,
                         const float *const *vc, const int64_t *len, int64_t B, int H, int dk,
                         int dv, float scale, int threads) {
    const int64_t ntask = B * H, ldk = (int64_t)H * dk, ldv = (int64_t)H * dv;
    const int nt = nthreads(threads);
    int64_t total = 0;
    for (int64_t b = 0; b < B; b++) total += len[b];
    /* Serial below SERIAL_MAX scores, outside any parallel region (libgomp would allocate a
     * team for a region that runs on one thread). */
    if (nt == 1 || total * H * (dk + dv) <= SERIAL_MAX * 8) {
        for (int64_t t = 0; t < ntask; t++) {
            const int64_t b = t / H;
            const int h = (int)(t % H);
            op_attention_decode_head(o + b * ldv + h * dv, lse ? lse + t : NULL,
                                     q + b * ldk + h * dk, kc[b] + h * dk, vc[b] + h * dv, len[b],
                                     ldk, ldv, dk, dv, scale);
        }
        return;
    }
#pragma omp parallel for schedule(dynamic) num_threads(nt)
    for (int64_t t = 0; t < ntask; t++) {
        const int64_t b = t / H;
        const int h = (int)(t % H);
        op_attention_decode_head(o + b * ldv + h * dv, lse ? lse + t : NULL,
                                 q + b * ldk + h * dk, kc[b] + h * dk, vc[b] + h * dv, len[b],
                                 ldk, ldv, dk, dv, scale);
    }
}
