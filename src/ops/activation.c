/* activation.c: elementwise ops (RETNET.md §4-5). gelu is the exact erf form. */
#include "ops.h"

#include <math.h>
#include <omp.h>

/* Large arrays in parallel; small ones serially without entering a region (libgomp allocates
 * a team for a region it runs on one thread). */
#define EACH(n, body)                                                                     \
    do {                                                                                  \
        if ((n) > 65536 && omp_get_max_threads() > 1) {                                   \
            _Pragma("omp parallel for schedule(static)")                                  \
            for (int64_t i = 0; i < (n); i++) { body; }                                   \
        } else {                                                                          \
            for (int64_t i = 0; i < (n); i++) { body; }                                   \
        }                                                                                 \
    } while (0)

void op_gelu(float *y, const float *x, int64_t n) { EACH(n, y[i] = op_gelu1(x[i])); }
void op_swish(float *y, const float *x, int64_t n) { EACH(n, y[i] = op_swish1(x[i])); }
void op_mul(float *y, const float *a, const float *b, int64_t n) { EACH(n, y[i] = a[i] * b[i]); }
void op_add(float *y, const float *a, const float *b, int64_t n) { EACH(n, y[i] = a[i] + b[i]); }

/* Backward (x the forward's input; += into dx):
 *   gelu'(x)  = Phi(x) + x phi(x) = 0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi)
 *   swish'(x) = s + x s (1 - s) = s (1 + x (1 - s)),  s = sigmoid(x) */
void op_gelu_backward(float *dx, const float *dy, const float *x, int64_t n) {
    EACH(n, float xi = x[i];
         float d = 0.5f * (1.0f + erff(xi * 0.70710678118654752f)) +
                   xi * 0.39894228040143268f * expf(-0.5f * xi * xi);
         dx[i] += dy[i] * d);
}

void op_swish_backward(float *dx, const float *dy, const float *x, int64_t n) {
    EACH(n, float s = 1.0f / (1.0f + expf(-x[i]));
         dx[i] += dy[i] * (s * (1.0f + x[i] * (1.0f - s))));
}
