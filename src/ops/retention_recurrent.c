/*
 * retention_recurrent.c: the recurrent form (RETNET.md §2, form 2), one head:
 *   S_n = gamma S_{n-1} + k_n^T v_n,   o_n = q_n S_n.
 * O(dk dv) per token whatever the position: the decoding form. The decay multiplies in
 * double so that a gamma that float cannot hold exactly (linspace decays) does not
 * compound its rounding over a long sequence.
 */
#include "ops.h"

int64_t retention_recurrent_work(int dk, int dv) { return dv; }

void retention_recurrent_forward(const retention_args *a, float *work) {
    const int64_t ldS = a->ldS ? a->ldS : a->dv;
    const int dk = a->dk, dv = a->dv;
    const double g = a->gamma;
    /* When gamma is a float exactly (the pow2 decays 1 - 2^-k are), the double product of
     * two floats is exact and rounds to the float product: the float loop gives the same
     * bits, at twice the speed. */
    const float gf = (float)g;
    const int exact = (double)gf == g;
    float *restrict acc = work;
    for (int64_t t = 0; t < a->T; t++) {
        const float *restrict q = a->q + t * a->ldq, *restrict k = a->k + t * a->ldk;
        const float *restrict v = a->v + t * a->ldv;
        for (int j = 0; j < dv; j++) acc[j] = 0.0f;
        for (int i = 0; i < dk; i++) {
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
        float *restrict o = a->o + t * a->ldo;
        for (int j = 0; j < dv; j++) o[j] = acc[j];
        if (a->z) {
            double s = 0;
            for (int i = 0; i < dk; i++) {
                a->z[i] = (float)(g * a->z[i]) + k[i];
                s += (double)q[i] * a->z[i];
            }
            a->rsum[t] = (float)s;
        }
    }
}
