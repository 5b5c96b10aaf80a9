/*
 * rope.c: the position rotation of RETNET.md §2 (xPos without its scaling, as in the
 * official code): channel pair j of a head at absolute position n turns by n * theta_j.
 * Angles are formed in double (n * theta reaches 1e5 rad at T = 100k; float would lose
 * the fraction).
 */
#include "ops.h"

#include <math.h>
#include <omp.h>

static void rope_thetas(double *theta, int dk, int half, double base) {
    int npair = dk / 2;
    for (int j = 0; j < npair; j++) {
        if (half) theta[j] = pow(base, -2.0 * j / dk);
        else theta[j] = npair > 1 ? pow(base, -(double)j / (npair - 1)) : 1.0;
    }
}

void op_rope_angles(float *cs, int dk, int64_t pos, int half, double base) {
    double theta[RETNET_MAX_HEAD_DIM / 2]; /* the config caps dk */
    rope_thetas(theta, dk, half, base);
    for (int j = 0; j < dk / 2; j++) {
        double ang = (double)pos * theta[j];
        cs[2 * j] = (float)cos(ang);
        cs[2 * j + 1] = (float)sin(ang);
    }
}

void op_rope_rows(float *y, const float *x, int dk, int i0, int i1, const float *cs, int half,
                  float scale) {
    int npair = dk / 2;
    for (int i = i0; i < i1; i++) {
        int j = half ? i % npair : i / 2;                    /* the pair */
        int first = half ? i < npair : (i & 1) == 0;         /* a (rotated by +) or b */
        int i0p = half ? j : 2 * j, i1p = half ? j + npair : 2 * j + 1;
        float c = cs[2 * j], s = cs[2 * j + 1], a = x[i0p], b = x[i1p];
        y[i] = first ? (a * c - b * s) * scale : (b * c + a * s) * scale;
    }
}

static void rope_row(float *x, int h, int dk, int64_t pos, int half, const double *theta,
                     float scale, float sign) {
    int npair = dk / 2;
    for (int j = 0; j < npair; j++) {
        double ang = (double)pos * theta[j];
        float c = (float)cos(ang), s = sign * (float)sin(ang);
        int i0 = half ? j : 2 * j, i1 = half ? j + npair : 2 * j + 1;
        for (int head = 0; head < h; head++) {
            float *xh = x + (int64_t)head * dk;
            float a = xh[i0], b = xh[i1];
            xh[i0] = (a * c - b * s) * scale;
            xh[i1] = (b * c + a * s) * scale;
        }
    }
}

/* Turns by sign * (pos0 + t) * theta_j, then scales: the forward (sign +1) and, as the
 * rotation is orthogonal, the transpose that its backward needs (sign -1). */
static void rope_apply(float *x, int64_t ld, int64_t T, int h, int dk, int64_t pos0, int half,
                       double base, float scale, float sign) {
    double theta[RETNET_MAX_HEAD_DIM / 2]; /* the config caps dk */
    rope_thetas(theta, dk, half, base);
    if (T * h * dk <= 16384 || omp_get_max_threads() == 1) { /* see norm.c's PAR_ROWS */
        for (int64_t t = 0; t < T; t++) rope_row(x + t * ld, h, dk, pos0 + t, half, theta, scale, sign);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < T; t++) rope_row(x + t * ld, h, dk, pos0 + t, half, theta, scale, sign);
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
