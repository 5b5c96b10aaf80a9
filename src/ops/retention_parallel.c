/*
 * retention_parallel.c: the parallel form of retention (RETNET.md §2, form 1), one head:
 *   o = (Q K^T ⊙ D) V,  D[n,m] = gamma^(n-m) for n >= m, else 0,
 * plus the contribution of a starting state S0, gamma^(n+1) q_n S0, so that it can continue
 * any sequence, and the final state, so that recurrent decoding can continue from it.
 * The T x T matrix is formed a block of query rows at a time (same values, memory BQ x T),
 * and only its causal part (columns 0 .. last row of the block) is computed.
 */
#include "ops.h"

#include <math.h>
#include <string.h>

#define BQ 128 /* query rows per block */

void retention_powers(double gamma, int64_t n, float *pw) {
    double lg = log(gamma);
    for (int64_t k = 0; k <= n; k++) pw[k] = (float)exp((double)k * lg);
}

int64_t retention_parallel_work(int64_t T, int dk, int dv) {
    return (T + 1) + BQ * T + T * dk;
}

void retention_parallel_forward(const retention_args *a, float *work) {
    const int64_t T = a->T, ldS = a->ldS ? a->ldS : a->dv;
    const int dk = a->dk, dv = a->dv;
    float *pw = work, *P = pw + T + 1, *Xs = P + BQ * T;
    retention_powers(a->gamma, T, pw);

    for (int64_t r0 = 0; r0 < T; r0 += BQ) {
        int64_t R = T - r0 < BQ ? T - r0 : BQ, ncols = r0 + R;
        /* P (R, ncols) = Q[r0:r0+R] K[0:ncols]^T, then ⊙ D */
        op_gemm(0, 1, R, ncols, dk, 1.0f, a->q + r0 * a->ldq, a->ldq, a->k, a->ldk, 0.0f, P,
                ncols);
        for (int64_t i = 0; i < R; i++) {
            int64_t n = r0 + i;
            float *row = P + i * ncols;
            double sum = 0;
            for (int64_t m = 0; m <= n; m++) {
                row[m] *= pw[n - m];
                sum += row[m];
            }
            for (int64_t m = n + 1; m < ncols; m++) row[m] = 0.0f;
            if (a->rsum) a->rsum[n] = (float)sum;
        }
        op_gemm(0, 0, R, dv, ncols, 1.0f, P, ncols, a->v, a->ldv, 0.0f, a->o + r0 * a->ldo,
                a->ldo);
    }

    /* The starting state: o[n] += gamma^(n+1) q_n S0 (and the same for the row sums). */
    for (int64_t n = 0; n < T; n++)
        for (int i = 0; i < dk; i++) Xs[n * dk + i] = pw[n + 1] * a->q[n * a->ldq + i];
    op_gemm(0, 0, T, dv, dk, 1.0f, Xs, dk, a->S, ldS, 1.0f, a->o, a->ldo);
    if (a->rsum)
        for (int64_t n = 0; n < T; n++) {
            double s = 0;
            for (int i = 0; i < dk; i++) s += (double)Xs[n * dk + i] * a->z[i];
            a->rsum[n] += (float)s;
        }

    /* The final state: S = gamma^T S0 + sum_m gamma^(T-1-m) k_m^T v_m. */
    for (int64_t m = 0; m < T; m++)
        for (int i = 0; i < dk; i++) Xs[m * dk + i] = pw[T - 1 - m] * a->k[m * a->ldk + i];
    op_gemm(1, 0, dk, dv, T, 1.0f, Xs, dk, a->v, a->ldv, pw[T], a->S, ldS);
    if (a->z)
        for (int i = 0; i < dk; i++) {
            double s = (double)pw[T] * a->z[i];
            for (int64_t m = 0; m < T; m++) s += Xs[m * dk + i];
            a->z[i] = (float)s;
        }
}

/* ==================================================================================== */
/*
 * Backward, from the empty state (ops.h). With P = Q K^T ⊙ D (T x T) and O = P V:
 *   dV += P^T dO
 *   dP  = (dO V^T + drsum 1^T) ⊙ D          (drsum: the row sums rsum = P 1, when given)
 *   dQ += dP K,   dK += dP^T Q
 * Blocked like the forward: BQ query rows at a time, only their causal columns, so the
 * scratch is one BQ x T block (P first, then overwritten by dP) and the powers of gamma.
 */
int64_t retention_parallel_backward_work(int64_t T, int dk, int dv) {
    return (T + 1) + BQ * T;
}

void retention_parallel_backward(const retention_grad_args *a, float *work) {
    const int64_t T = a->T;
    const int dk = a->dk, dv = a->dv;
    if (T <= 0 || (!a->dq && !a->dk_ && !a->dv_)) return;
    float *pw = work, *P = pw + T + 1;
    retention_powers(a->gamma, T, pw);

    for (int64_t r0 = 0; r0 < T; r0 += BQ) {
        const int64_t R = T - r0 < BQ ? T - r0 : BQ, ncols = r0 + R;
        const float *q = a->q + r0 * a->ldq, *dout = a->dout + r0 * a->lddo;

        /* dV[0:ncols] += P_blk^T dO_blk, P_blk (R, ncols) = Q_blk K[0:ncols]^T ⊙ D */
        if (a->dv_) {
            op_gemm(0, 1, R, ncols, dk, 1.0f, q, a->ldq, a->k, a->ldk, 0.0f, P, ncols);
            for (int64_t i = 0; i < R; i++) {
                int64_t n = r0 + i;
                float *row = P + i * ncols;
                for (int64_t m = 0; m <= n; m++) row[m] *= pw[n - m];
                for (int64_t m = n + 1; m < ncols; m++) row[m] = 0.0f;
            }
            op_gemm(1, 0, ncols, dv, R, 1.0f, P, ncols, dout, a->lddo, 1.0f, a->dv_, a->lddv);
        }
        if (!a->dq && !a->dk_) continue;

        /* dP_blk (R, ncols) = (dO_blk V[0:ncols]^T + drsum) ⊙ D */
        op_gemm(0, 1, R, ncols, dv, 1.0f, dout, a->lddo, a->v, a->ldv, 0.0f, P, ncols);
        for (int64_t i = 0; i < R; i++) {
            int64_t n = r0 + i;
            float *row = P + i * ncols, dr = a->drsum ? a->drsum[n] : 0.0f;
            for (int64_t m = 0; m <= n; m++) row[m] = (row[m] + dr) * pw[n - m];
            for (int64_t m = n + 1; m < ncols; m++) row[m] = 0.0f;
        }
        /* dQ_blk += dP_blk K[0:ncols];  dK[0:ncols] += dP_blk^T Q_blk */
        if (a->dq)
            op_gemm(0, 0, R, dk, ncols, 1.0f, P, ncols, a->k, a->ldk, 1.0f,
                    a->dq + r0 * a->lddq, a->lddq);
        if (a->dk_)
            op_gemm(1, 0, ncols, dk, R, 1.0f, P, ncols, q, a->ldq, 1.0f, a->dk_, a->lddk);
    }
}
