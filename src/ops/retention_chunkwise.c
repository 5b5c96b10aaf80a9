/*
 * retention_chunkwise.c: the chunkwise recurrent form (RETNET.md §2, form 3, the corrected
 * formula), one head. For chunk [i] of L <= C rows, with R the state before it:
 *   o_[i] = (Q_[i] K_[i]^T ⊙ D_L) V_[i]  +  (Q_[i] R) ⊙ xi,     xi[j]   = gamma^(j+1)
 *   R    <- K_[i]^T (V_[i] ⊙ zeta) + gamma^L R,                 zeta[j] = gamma^(L-j-1)
 * Cost and memory are linear in T; a last chunk shorter than C simply uses its own L.
 * The backward (second half of the file) needs no per-chunk storage: see its comment.
 */
#include "ops.h"

#include <stddef.h>

int64_t retention_chunkwise_work(int64_t T, int C, int dk, int dv) {
    int64_t L = T < C ? T : C;
    return (L + 1) + L * L + 2 * L * dk;
}

void retention_chunkwise_forward(const retention_args *a, int C, float *work) {
    const int64_t T = a->T, ldS = a->ldS ? a->ldS : a->dv;
    const int dk = a->dk, dv = a->dv;
    const int64_t Cm = T < C ? T : C;
    float *pw = work, *P = pw + Cm + 1, *Qs = P + Cm * Cm, *Ks = Qs + Cm * dk;
    retention_powers(a->gamma, Cm, pw);

    for (int64_t c0 = 0; c0 < T; c0 += C) {
        const int64_t L = T - c0 < C ? T - c0 : C;
        const float *q = a->q + c0 * a->ldq, *k = a->k + c0 * a->ldk, *v = a->v + c0 * a->ldv;
        float *o = a->o + c0 * a->ldo;

        /* inner-chunk: (Q K^T ⊙ D_L) V */
        op_gemm(0, 1, L, L, dk, 1.0f, q, a->ldq, k, a->ldk, 0.0f, P, L);
        for (int64_t i = 0; i < L; i++) {
            float *row = P + i * L;
            double sum = 0;
            for (int64_t j = 0; j <= i; j++) {
                row[j] *= pw[i - j];
                sum += row[j];
            }
            for (int64_t j = i + 1; j < L; j++) row[j] = 0.0f;
            if (a->rsum) a->rsum[c0 + i] = (float)sum;
        }
        op_gemm(0, 0, L, dv, L, 1.0f, P, L, v, a->ldv, 0.0f, o, a->ldo);

        /* cross-chunk: (Q R) ⊙ xi, by scaling the rows of Q first */
        for (int64_t i = 0; i < L; i++)
            for (int j = 0; j < dk; j++) Qs[i * dk + j] = pw[i + 1] * q[i * a->ldq + j];
        op_gemm(0, 0, L, dv, dk, 1.0f, Qs, dk, a->S, ldS, 1.0f, o, a->ldo);
        if (a->rsum)
            for (int64_t i = 0; i < L; i++) {
                double s = 0;
                for (int j = 0; j < dk; j++) s += (double)Qs[i * dk + j] * a->z[j];
                a->rsum[c0 + i] += (float)s;
            }

        /* state: R = K^T (V ⊙ zeta) + gamma^L R, with zeta folded into the rows of K */
        for (int64_t i = 0; i < L; i++)
            for (int j = 0; j < dk; j++) Ks[i * dk + j] = pw[L - 1 - i] * k[i * a->ldk + j];
        op_gemm(1, 0, dk, dv, L, 1.0f, Ks, dk, v, a->ldv, pw[L], a->S, ldS);
        if (a->z)
            for (int j = 0; j < dk; j++) {
                double s = (double)pw[L] * a->z[j];
                for (int64_t i = 0; i < L; i++) s += Ks[i * dk + j];
                a->z[j] = (float)s;
            }
    }
}

/* ==================================================================================== */
/*
 * Backward, from the empty state (ops.h). Chunk [i] has L_i <= C rows; R_i is the state
 * after it (R_{-1} = 0), z_i its key sum (only when drsum is given). The forward was
 *   o_[i]    = P_[i] V_[i] + ((Q_[i] ⊙ xi) R_{i-1}),     P_[i] = Q_[i] K_[i]^T ⊙ D_L
 *   rsum_[i] = P_[i] 1     + (Q_[i] ⊙ xi) z_{i-1}
 *   R_i      = (K_[i] ⊙ zeta)^T V_[i] + gamma^L R_{i-1},  z_i = (K_[i] ⊙ zeta)^T 1 + gamma^L z_{i-1}
 * (xi[j] = gamma^(j+1), zeta[j] = gamma^(L-j-1), rows of Q, K scaled). Its gradients:
 *   inner-chunk, as the parallel form on L x L:
 *     dV_[i] += P^T dO_[i];  dP = (dO_[i] V_[i]^T + drsum 1^T) ⊙ D_L;
 *     dQ_[i] += dP K_[i];    dK_[i] += dP^T Q_[i]
 *   cross-chunk, through the state read by chunk i (needs the forward states R_{i-1}):
 *     dQ_[i] += xi ⊙ (dO_[i] R_{i-1}^T + drsum_[i] z_{i-1}^T)
 *   cross-chunk, through the state written by chunk i (needs dR_i = dLoss/dR_i, carried
 *   backwards from the last chunk, dR_{last} = 0):
 *     dK_[i] += zeta ⊙ (V_[i] dR_i^T + 1 dz_i^T);   dV_[i] += (K_[i] ⊙ zeta) dR_i
 *     dR_{i-1} = gamma^L dR_i + (Q_[i] ⊙ xi)^T dO_[i],  dz_{i-1} = gamma^L dz_i + (Q_[i] ⊙ xi)^T drsum_[i]
 *
 * Memory: no state is stored per chunk. Two sweeps: a forward sweep (chunks in order)
 * does the inner-chunk terms and recomputes R_{i-1} on the fly for the dQ term (the cost of
 * the forward's state update once more); a backward sweep (chunks in reverse) carries dR for
 * the dK, dV terms. Scratch: (Cm+1) powers + Cm^2 block + dk*dv state (R, then dR) + dk
 * (z, then dz) + Cm*max(dk, dv) scaled rows, Cm = min(C, T): independent of T.
 */
int64_t retention_chunkwise_backward_work(int64_t T, int C, int dk, int dv) {
    int64_t L = T < C ? T : C;
    return (L + 1) + L * L + (int64_t)dk * dv + dk + L * (dk > dv ? dk : dv);
}

void retention_chunkwise_backward(const retention_grad_args *a, int C, float *work) {
    const int64_t T = a->T;
    const int dk = a->dk, dv = a->dv;
    if (T <= 0 || (!a->dq && !a->dk_ && !a->dv_)) return;
    const int64_t Cm = T < C ? T : C;
    float *pw = work, *P = pw + Cm + 1, *R = P + Cm * Cm, *z = R + (int64_t)dk * dv;
    float *X = z + dk; /* Cm rows of scaled Q, K, V or dO */
    const float *drs = a->drsum;
    retention_powers(a->gamma, Cm, pw);

    /* ---- forward sweep: inner-chunk terms, and dQ through R_{i-1} ---- */
    for (int64_t i = 0; i < (int64_t)dk * dv; i++) R[i] = 0.0f;
    for (int j = 0; j < dk; j++) z[j] = 0.0f;
    for (int64_t c0 = 0; c0 < T; c0 += C) {
        const int64_t L = T - c0 < C ? T - c0 : C;
        const float *q = a->q + c0 * a->ldq, *k = a->k + c0 * a->ldk, *v = a->v + c0 * a->ldv;
        const float *dout = a->dout + c0 * a->lddo, *dr = drs ? drs + c0 : NULL;
        float *dq = a->dq ? a->dq + c0 * a->lddq : NULL;
        float *dk_ = a->dk_ ? a->dk_ + c0 * a->lddk : NULL;
        float *dv_ = a->dv_ ? a->dv_ + c0 * a->lddv : NULL;

        /* inner-chunk: dV += P^T dO, P = Q K^T ⊙ D_L */
        if (dv_) {
            op_gemm(0, 1, L, L, dk, 1.0f, q, a->ldq, k, a->ldk, 0.0f, P, L);
            for (int64_t r = 0; r < L; r++) {
                float *row = P + r * L;
                for (int64_t j = 0; j <= r; j++) row[j] *= pw[r - j];
                for (int64_t j = r + 1; j < L; j++) row[j] = 0.0f;
            }
            op_gemm(1, 0, L, dv, L, 1.0f, P, L, dout, a->lddo, 1.0f, dv_, a->lddv);
        }
        /* inner-chunk: dP = (dO V^T + drsum) ⊙ D_L; dQ += dP K; dK += dP^T Q */
        if (dq || dk_) {
            op_gemm(0, 1, L, L, dv, 1.0f, dout, a->lddo, v, a->ldv, 0.0f, P, L);
            for (int64_t r = 0; r < L; r++) {
                float *row = P + r * L, d = dr ? dr[r] : 0.0f;
                for (int64_t j = 0; j <= r; j++) row[j] = (row[j] + d) * pw[r - j];
                for (int64_t j = r + 1; j < L; j++) row[j] = 0.0f;
            }
            if (dq) op_gemm(0, 0, L, dk, L, 1.0f, P, L, k, a->ldk, 1.0f, dq, a->lddq);
            if (dk_) op_gemm(1, 0, L, dk, L, 1.0f, P, L, q, a->ldq, 1.0f, dk_, a->lddk);
        }
        if (!dq) continue;

        /* cross-chunk (R_{-1} = 0 for the first chunk): dQ += (xi ⊙ dO) R^T + xi drsum z^T */
        if (c0 > 0) {
            for (int64_t r = 0; r < L; r++)
                for (int j = 0; j < dv; j++) X[r * dv + j] = pw[r + 1] * dout[r * a->lddo + j];
            op_gemm(0, 1, L, dk, dv, 1.0f, X, dv, R, dv, 1.0f, dq, a->lddq);
            if (dr)
                for (int64_t r = 0; r < L; r++) {
                    float s = pw[r + 1] * dr[r];
                    for (int j = 0; j < dk; j++) dq[r * a->lddq + j] += s * z[j];
                }
        }
        /* state: R = (K ⊙ zeta)^T V + gamma^L R (and z), as in the forward; only later
         * chunks read it */
        if (c0 + L >= T) break;
        for (int64_t r = 0; r < L; r++)
            for (int j = 0; j < dk; j++) X[r * dk + j] = pw[L - 1 - r] * k[r * a->ldk + j];
        op_gemm(1, 0, dk, dv, L, 1.0f, X, dk, v, a->ldv, pw[L], R, dv);
        if (dr)
            for (int j = 0; j < dk; j++) {
                double s = (double)pw[L] * z[j];
                for (int64_t r = 0; r < L; r++) s += X[r * dk + j];
                z[j] = (float)s;
            }
    }

    /* ---- backward sweep: dK, dV through the state each chunk writes, dR carried back ---- */
    if (!a->dk_ && !a->dv_) return;
    float *dR = R, *dz = z;
    for (int64_t i = 0; i < (int64_t)dk * dv; i++) dR[i] = 0.0f;
    for (int j = 0; j < dk; j++) dz[j] = 0.0f;
    const int64_t nchunk = (T + C - 1) / C;
    for (int64_t ci = nchunk - 1; ci >= 0; ci--) {
        const int64_t c0 = ci * C, L = T - c0 < C ? T - c0 : C;
        const float *q = a->q + c0 * a->ldq, *k = a->k + c0 * a->ldk, *v = a->v + c0 * a->ldv;
        const float *dout = a->dout + c0 * a->lddo, *dr = drs ? drs + c0 : NULL;
        if (ci < nchunk - 1) { /* dR_i = 0 for the last chunk */
            /* dK += zeta ⊙ (V dR^T + 1 dz^T) */
            if (a->dk_) {
                float *dk_ = a->dk_ + c0 * a->lddk;
                for (int64_t r = 0; r < L; r++)
                    for (int j = 0; j < dv; j++) X[r * dv + j] = pw[L - 1 - r] * v[r * a->ldv + j];
                op_gemm(0, 1, L, dk, dv, 1.0f, X, dv, dR, dv, 1.0f, dk_, a->lddk);
                if (dr)
                    for (int64_t r = 0; r < L; r++)
                        for (int j = 0; j < dk; j++) dk_[r * a->lddk + j] += pw[L - 1 - r] * dz[j];
            }
            /* dV += (K ⊙ zeta) dR */
            if (a->dv_) {
                for (int64_t r = 0; r < L; r++)
                    for (int j = 0; j < dk; j++) X[r * dk + j] = pw[L - 1 - r] * k[r * a->ldk + j];
                op_gemm(0, 0, L, dv, dk, 1.0f, X, dk, dR, dv, 1.0f, a->dv_ + c0 * a->lddv, a->lddv);
            }
        }
        if (ci == 0) break; /* no earlier chunk to carry dR to */
        /* dR_{i-1} = gamma^L dR_i + (Q ⊙ xi)^T dO;  dz_{i-1} = gamma^L dz_i + (Q ⊙ xi)^T drsum */
        for (int64_t r = 0; r < L; r++)
            for (int j = 0; j < dk; j++) X[r * dk + j] = pw[r + 1] * q[r * a->ldq + j];
        op_gemm(1, 0, dk, dv, L, 1.0f, X, dk, dout, a->lddo, pw[L], dR, dv);
        if (dr)
            for (int j = 0; j < dk; j++) {
                double s = (double)pw[L] * dz[j];
                for (int64_t r = 0; r < L; r++) s += (double)X[r * dk + j] * dr[r];
                dz[j] = (float)s;
            }
    }
}
