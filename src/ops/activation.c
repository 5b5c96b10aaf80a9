/* activation.c: elementwise ops (RETNET.md §4-5). gelu is the exact erf form. */
#include "ops.h"

#include <math.h>

#define PAR _Pragma("omp parallel for schedule(static) if (n > 65536)")

void op_gelu(float *y, const float *x, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void op_swish(float *y, const float *x, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i]));
}

void op_mul(float *y, const float *a, const float *b, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

void op_add(float *y, const float *a, const float *b, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}
