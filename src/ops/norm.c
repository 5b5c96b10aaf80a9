/*
 * norm.c: LayerNorm, RMSNorm (RETNET.md §5) and the MSR block's per-head norm fused with the
 * swish gate (§4). Statistics are accumulated in double: rows are short and it makes the
 * result independent of the summation order, so every backend can match it.
 */
#include "ops.h"

#include <math.h>
#include <stddef.h>

void op_layernorm(float *y, const float *x, const float *w, const float *b, int64_t M,
                  int64_t d, float eps) {
#pragma omp parallel for schedule(static) if (M * d > 16384)
    for (int64_t i = 0; i < M; i++) {
        const float *xi = x + i * d;
        float *yi = y + i * d;
        double mean = 0, var = 0;
        for (int64_t j = 0; j < d; j++) mean += xi[j];
        mean /= d;
        for (int64_t j = 0; j < d; j++) var += (xi[j] - mean) * (xi[j] - mean);
        var /= d;
        float rstd = (float)(1.0 / sqrt(var + eps)), mu = (float)mean;
        for (int64_t j = 0; j < d; j++) {
            float v = (xi[j] - mu) * rstd * w[j];
            yi[j] = b ? v + b[j] : v;
        }
    }
}

void op_rmsnorm(float *y, const float *x, const float *w, int64_t M, int64_t d, float eps) {
#pragma omp parallel for schedule(static) if (M * d > 16384)
    for (int64_t i = 0; i < M; i++) {
        const float *xi = x + i * d;
        float *yi = y + i * d;
        double ss = 0;
        for (int64_t j = 0; j < d; j++) ss += (double)xi[j] * xi[j];
        float r = (float)(1.0 / sqrt(ss / d + eps));
        for (int64_t j = 0; j < d; j++) yi[j] = xi[j] * r * (w ? w[j] : 1.0f);
    }
}

static inline float swish(float z) { return z / (1.0f + expf(-z)); }

void op_head_norm_gate(float *y, const float *o, const float *g, const float *w,
                       const float *b, int64_t M, int h, int dv, float eps, int groupnorm) {
#pragma omp parallel for schedule(static) if (M * h * dv > 16384)
    for (int64_t i = 0; i < M * h; i++) {
        int head = (int)(i % h);
        const float *oi = o + i * dv, *gi = g + i * dv;
        float *yi = y + i * dv;
        double mean = 0, var = 0;
        if (groupnorm) {
            for (int j = 0; j < dv; j++) mean += oi[j];
            mean /= dv;
        }
        for (int j = 0; j < dv; j++) var += (oi[j] - mean) * (oi[j] - mean);
        var /= dv;
        float r = (float)(1.0 / sqrt(var + eps)), mu = (float)mean;
        /* groupnorm's affine is per channel of d_value; rmsnorm's weight (fla) is shared. */
        const float *wi = w ? (groupnorm ? w + head * dv : w) : NULL;
        const float *bi = b ? b + head * dv : NULL;
        for (int j = 0; j < dv; j++) {
            float v = (oi[j] - mu) * r;
            if (wi) v *= wi[j];
            if (bi) v += bi[j];
            yi[j] = v * swish(gi[j]);
        }
    }
}
