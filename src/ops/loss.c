/*
 * loss.c: softmax cross-entropy of the language-model head, with its gradient fused.
 * For a row of logits x (V) and target t:
 *   loss = logsumexp(x) - x_t,   logsumexp(x) = m + log(sum_j exp(x_j - m)),  m = max_j x_j
 *   dloss/dx_j = softmax(x)_j - [j == t] = exp(x_j - m) / sum - [j == t]
 * Subtracting the max keeps every exp in (0, 1]; the exps are float, their sum and the log
 * are double (V terms: a float sum would lose ~V u relative). Rows are independent and run
 * in parallel; the losses are added in row order, so the total does not depend on the
 * thread count. Rows with a target < 0 are ignored (no loss, zero gradient); targets must
 * be < V (a target >= V adds NaN to the loss rather than reading out of bounds).
 */
#include "ops.h"

#include <math.h>
#include <stdlib.h>

/* The loss of one row; writes its gradient (times grad_scale) when dl is not NULL. */
static double row_ce(float *dl, const float *x, int32_t t, int64_t V, float grad_scale) {
    if (t < 0) {
        if (dl)
            for (int64_t j = 0; j < V; j++) dl[j] = 0.0f;
        return 0.0;
    }
    float m = x[0];
    for (int64_t j = 1; j < V; j++) m = x[j] > m ? x[j] : m;
    double sum = 0;
    for (int64_t j = 0; j < V; j++) sum += expf(x[j] - m);
    double loss = t < V ? (double)m + log(sum) - x[t] : NAN; /* read x_t before dl overwrites it */
    if (dl) {
        float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j < V; j++) {
            float p = expf(x[j] - m) * inv;
            dl[j] = grad_scale * (j == t ? p - 1.0f : p);
        }
    }
    return loss;
}

double op_cross_entropy(float *dlogits, const float *logits, const int32_t *targets, int64_t n,
                        int64_t V, float grad_scale, int64_t *count) {
    int64_t cnt = 0;
    for (int64_t i = 0; i < n; i++) cnt += targets[i] >= 0;
    if (count) *count = cnt;

    /* Per-row losses, then one sum in row order (serially when there is no room for them:
     * the same sum). */
    double *rl = n > 0 ? malloc(sizeof(double) * (size_t)n) : NULL;
    double total = 0;
    if (rl) {
#pragma omp parallel for schedule(static) if (n * V > 65536)
        for (int64_t i = 0; i < n; i++)
            rl[i] = row_ce(dlogits ? dlogits + i * V : NULL, logits + i * V, targets[i], V,
                           grad_scale);
        for (int64_t i = 0; i < n; i++) total += rl[i];
        free(rl);
    } else {
        for (int64_t i = 0; i < n; i++)
            total += row_ce(dlogits ? dlogits + i * V : NULL, logits + i * V, targets[i], V,
                            grad_scale);
    }
    return total;
}
