/*
 * rope.c: the position rotation of RETNET.md §2 (xPos without its scaling, as in the
 * official code): channel pair j of a head at absolute position n turns by n * theta_j.
 * Angles are formed in double (n * theta reaches 1e5 rad at T = 100k; float would lose
 * the fraction).
 */
#include "ops.h"

#include <math.h>

/* Turns by sign * (pos0 + t) * theta_j, then scales: the forward (sign +1) and, as the
 * rotation is orthogonal, the transpose that its backward needs (sign -1). */
static void rope_apply(float *x, int64_t ld, int64_t T, int h, int dk, int64_t pos0, int half,
                       double base, float scale, float sign) {
    int npair = dk / 2;
    double theta[RETNET_MAX_HEAD_DIM / 2]; /* the config caps dk */
    for (int j = 0; j < npair; j++) {
        if (half) theta[j] = pow(base, -2.0 * j / dk);
        else theta[j] = npair > 1 ? pow(base, -(double)j / (npair - 1)) : 1.0;
    }
#pragma omp parallel for schedule(static) if (T * h * dk > 16384)
    for (int64_t t = 0; t < T; t++) {
        double n = (double)(pos0 + t);
        for (int j = 0; j < npair; j++) {
            double ang = n * theta[j];
            float c = (float)cos(ang), s = sign * (float)sin(ang);
            int i0 = half ? j : 2 * j, i1 = half ? j + npair : 2 * j + 1;
            for (int head = 0; head < h; head++) {
                float *xh = x + t * ld + (int64_t)head * dk;
                float a = xh[i0], b = xh[i1];
                xh[i0] = (a * c - b * s) * scale;
                xh[i1] = (b * c + a * s) * scale;
            }
        }
    }
}

void op_rope(float *x, int64_t ld, int64_t T, int h, int dk, int64_t pos0, int half,
             double base, float scale) {
    rope_apply(x, ld, T, h, dk, pos0, half, base, scale, 1.0f);
}

/* Backward, in place: x = scale * rot(-angle) dx, i.e. for each pair
 *   da = (da' cos + db' sin) scale,   db = (db' cos - da' sin) scale. */
void op_rope_backward(float *dx, int64_t ld, int64_t T, int h, int dk, int64_t pos0, int half,
                      double base, float scale) {
    rope_apply(dx, ld, T, h, dk, pos0, half, base, scale, -1.0f);
}
