/*
 * row_factor.h: RETNET.md §3's row scalars, one formula for the CPU forms (model.c,
 * decode.c) and the CUDA kernels (retention_norm.cu, and retention.cu's decoding step, which
 * includes this file alone so that the kernel library stays free of the model's headers).
 */
#ifndef RETNET_ROW_FACTOR_H
#define RETNET_ROW_FACTOR_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define MODEL_HOST_DEVICE __host__ __device__
#else
#define MODEL_HOST_DEVICE
#endif

/* 1 / sqrt(sum_{i=0..p} gamma^i): the §3 decay-row normalisation at absolute position p. */
static inline MODEL_HOST_DEVICE double model_decay_row_scale(double gamma, int64_t p) {
    double sum = gamma < 1.0 ? -expm1((double)(p + 1) * log(gamma)) / (1.0 - gamma)
                             : (double)(p + 1);
    return 1.0 / sqrt(sum);
}

/* The §3 scale of an output row: f = s / max(|s r|, 1), s the decay-row normalisation at
 * absolute position pos, r the row's score sum (every form and the decoding step); _at takes
 * s already formed (the GPU's step forms it before waiting for r's inputs). */
static inline MODEL_HOST_DEVICE float model_row_factor_at(double sn, float rsum) {
    double r = fabs(sn * rsum);
    return (float)(sn / (r > 1.0 ? r : 1.0));
}
static inline MODEL_HOST_DEVICE float model_row_factor(double gamma, int64_t pos, float rsum) {
    return model_row_factor_at(model_decay_row_scale(gamma, pos), rsum);
}
#endif
