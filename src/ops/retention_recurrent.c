/*
 * retention_recurrent.c: the recurrent form (RETNET.md §2, form 2), one head:
 *   S_n = gamma S_{n-1} + k_n^T v_n,   o_n = q_n S_n.
 * O(dk dv) per token whatever the position: the decoding form. The decay multiplies in
 * double so that a gamma that float cannot hold exactly (linspace decays) does not
 * compound its rounding over a long sequence.
 *
 * The output is summed by blocks of RETENTION_ROW_BLOCK key rows, in block order: a decoding
 * step splits a head's rows over threads on those boundaries (each thread streams a
 * contiguous part of S), and gets the same bits as this one-thread loop.
 */
#include "ops.h"

int64_t retention_recurrent_work(int dk, int dv) { return 2 * (int64_t)dv; }

void retention_recurrent_rows(const retention_args *a, int i0, int i1, float *o_part,
                              double *rsum_part) {
    const int64_t ldS = a->ldS ? a->ldS : a->dv;
    const int dv = a->dv;
    const double g = a->gamma;
    /* When gamma is a float exactly (the pow2 decays 1 - 2^-k are), the double product of
     * two floats is exact and rounds to the float product: the float loop gives the same
     * bits, at twice the speed. */
    const float gf = (float)g;
    const int exact = (double)gf == g;
    const float *restrict q = a->q, *restrict k = a->k, *restrict v = a->v;
    float *restrict acc = o_part;
    for (int j = 0; j < dv; j++) acc[j] = 0.0f;
    for (int i = i0; i < i1; i++) {
        float *restrict S = a->S + i * ldS;
        const float ki = k[i], qi = q[i];
        if (exact) {
#pragma omp simd
            for (int j = 0; j < dv; j++) {
                float s = gf * S[j] + ki * v[j];
                S[j] = s;
                acc[j] += qi * s;
            }
        } else {
#pragma omp simd
            for (int j = 0; j < dv; j++) {
                float s = (float)(g * S[j]) + ki * v[j];
                S[j] = s;
                acc[j] += qi * s;
            }
        }
    }
    if (a->z) {
        double s = 0;
        for (int i = i0; i < i1; i++) {
            a->z[i] = (float)(g * a->z[i]) + k[i];
            s += (double)q[i] * a->z[i];
        }
        *rsum_part = s;
    }
}

void retention_recurrent_forward(const retention_args *a, float *work) {
    const int dk = a->dk, dv = a->dv;
    float *restrict o_part = work + dv;
    for (int64_t t = 0; t < a->T; t++) {
        retention_args r = *a;
        r.T = 1;
        r.q = a->q + t * a->ldq, r.k = a->k + t * a->ldk, r.v = a->v + t * a->ldv;
        float *restrict o = work;
        double rsum = 0;
        for (int i0 = 0; i0 < dk; i0 += RETENTION_ROW_BLOCK) {
            int i1 = i0 + RETENTION_ROW_BLOCK < dk ? i0 + RETENTION_ROW_BLOCK : dk;
            double part = 0;
            retention_recurrent_rows(&r, i0, i1, i0 ? o_part : o, &part);
            if (i0)
                for (int j = 0; j < dv; j++) o[j] += o_part[j];
            rsum += part;
        }
        float *restrict out = a->o + t * a->ldo;
        for (int j = 0; j < dv; j++) out[j] = o[j];
        if (a->z) a->rsum[t] = (float)rsum;
    }
}
