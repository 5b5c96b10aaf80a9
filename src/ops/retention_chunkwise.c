/*
 * retention_chunkwise.c: the chunkwise recurrent form (RETNET.md §2, form 3, the corrected
 * formula), one head. For chunk [i] of L <= C rows, with R the state before it:
 *   o_[i] = (Q_[i] K_[i]^T ⊙ D_L) V_[i]  +  (Q_[i] R) ⊙ xi,     xi[j]   = gamma^(j+1)
 *   R    <- K_[i]^T (V_[i] ⊙ zeta) + gamma^L R,                 zeta[j] = gamma^(L-j-1)
 * Cost and memory are linear in T; a last chunk shorter than C simply uses its own L.
 */
#include "ops.h"

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
