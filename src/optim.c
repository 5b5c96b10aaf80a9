/*
 * optim.c: AdamW (Loshchilov & Hutter), exactly as torch.optim.AdamW computes it, and the
 * global gradient norm used for clipping. Which tensors are decayed is decided here once:
 * the 2-D weights (projections, embedding, output projection), not the norms' weights and
 * biases (RETNET.md §5's recipe: weight decay 0.05).
 */
#include "model.h"

#include <math.h>

int retnet_tensor_decayed(const retnet_model *m, int32_t i) {
    return i >= 0 && i < m->n_tensors && m->table[i].ndim == 2;
}

double retnet_grad_norm(const float *g, int64_t n) {
    /* fixed-size blocks summed in order: the result does not depend on the thread count */
    enum { BLOCK = 1 << 16 };
    int64_t nb = (n + BLOCK - 1) / BLOCK;
    double total = 0;
    double *part = malloc(sizeof(double) * (size_t)(nb ? nb : 1));
    if (!part) { /* no memory: serial, same order */
        for (int64_t i = 0; i < n; i++) total += (double)g[i] * g[i];
        return sqrt(total);
    }
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        double s = 0;
        int64_t end = (b + 1) * BLOCK < n ? (b + 1) * BLOCK : n;
        for (int64_t i = b * BLOCK; i < end; i++) s += (double)g[i] * g[i];
        part[b] = s;
    }
    for (int64_t b = 0; b < nb; b++) total += part[b];
    free(part);
    return sqrt(total);
}

retnet_status retnet_adamw_step(retnet_model *m, const float *grads, float *m1, float *m2,
                                int64_t step, const retnet_adamw *h) {
    if (!m || !grads || !m1 || !m2 || !h)
        return retnet_fail(RETNET_EINVAL, "adamw_step: NULL argument");
    retnet_status st = model_need_f32(m, "adamw_step");
    if (st) return st;
    if (step < 1) return retnet_fail(RETNET_EINVAL, "adamw_step: step %lld must be >= 1",
                                     (long long)step);
    if (!(h->lr >= 0) || !(h->beta1 >= 0 && h->beta1 < 1) || !(h->beta2 >= 0 && h->beta2 < 1) ||
        !(h->eps > 0) || !(h->weight_decay >= 0))
        return retnet_fail(RETNET_EINVAL, "adamw_step: hyperparameters out of range (lr %g, "
                           "betas %g %g, eps %g, weight decay %g)", (double)h->lr,
                           (double)h->beta1, (double)h->beta2, (double)h->eps,
                           (double)h->weight_decay);
    /* bias corrections in double: beta2^t for t ~ 1e5 needs the precision */
    const double bc1 = 1.0 - pow(h->beta1, (double)step), bc2 = 1.0 - pow(h->beta2, (double)step);
    const float lr = h->lr, b1 = h->beta1, b2 = h->beta2, eps = h->eps;
    const float step_size = (float)(h->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    for (int32_t t = 0; t < m->n_tensors; t++) {
        const retnet_param_desc *d = &m->table[t];
        const float decay = retnet_tensor_decayed(m, t) ? 1.0f - lr * h->weight_decay : 1.0f;
        float *p = m->params + d->offset;
        const float *g = grads + d->offset;
        float *mo = m1 + d->offset, *ve = m2 + d->offset;
#pragma omp parallel for schedule(static) if (d->numel > 65536)
        for (int64_t i = 0; i < d->numel; i++) {
            float gi = g[i];
            p[i] *= decay;
            mo[i] = b1 * mo[i] + (1.0f - b1) * gi;
            ve[i] = b2 * ve[i] + (1.0f - b2) * gi * gi;
            p[i] -= step_size * mo[i] / (sqrtf(ve[i]) / bc2_sqrt + eps);
        }
    }
    return RETNET_OK;
}
