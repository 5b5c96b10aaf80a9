/*
 * norm.c: LayerNorm, RMSNorm (RETNET.md §5) and the MSR block's per-head norm fused with the
 * swish gate (§4). Statistics are accumulated in double: rows are short and it makes the
 * result independent of the summation order, so every backend can match it.
 */
#include "ops.h"

#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdlib.h>

void op_layernorm_row(float *y, const float *x, const float *w, const float *b, int64_t d,
                      float eps) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < d; j++) mean += x[j];
    mean /= d;
    for (int64_t j = 0; j < d; j++) var += (x[j] - mean) * (x[j] - mean);
    var /= d;
    float rstd = (float)(1.0 / sqrt(var + eps)), mu = (float)mean;
    for (int64_t j = 0; j < d; j++) {
        float v = (x[j] - mu) * rstd * w[j];
        y[j] = b ? v + b[j] : v;
    }
}

void op_rmsnorm_row(float *y, const float *x, const float *w, int64_t d, float eps) {
    double ss = 0;
    for (int64_t j = 0; j < d; j++) ss += (double)x[j] * x[j];
    float r = (float)(1.0 / sqrt(ss / d + eps));
    for (int64_t j = 0; j < d; j++) y[j] = x[j] * r * (w ? w[j] : 1.0f);
}

void op_head_norm_gate_seg(float *y, const float *o, const float *g, const float *w,
                           const float *b, int head, int dv, float eps, int mode) {
    double mean = 0, var = 0;
    float r = 1.0f, mu = 0.0f; /* HEAD_NORM_NONE: the identity */
    if (mode != HEAD_NORM_NONE) {
        if (mode == HEAD_NORM_GROUP) {
            for (int j = 0; j < dv; j++) mean += o[j];
            mean /= dv;
        }
        for (int j = 0; j < dv; j++) var += (o[j] - mean) * (o[j] - mean);
        var /= dv;
        r = (float)(1.0 / sqrt(var + eps)), mu = (float)mean;
    }
    /* groupnorm's affine is per channel of d_value; rmsnorm's weight (fla) is shared. */
    const float *wi = w ? (mode == HEAD_NORM_GROUP ? w + head * dv : w) : NULL;
    const float *bi = b ? b + head * dv : NULL;
    for (int j = 0; j < dv; j++) {
        float v = mode == HEAD_NORM_NONE ? o[j] : (o[j] - mu) * r;
        if (wi) v *= wi[j];
        if (bi) v += bi[j];
        y[j] = g ? v * op_swish1(g[j]) : v;
    }
}

/* Rows run in parallel only when there are enough of them to pay for waking the threads; a
 * serial call does not enter a parallel region at all (libgomp allocates a team for a region
 * it runs on one thread). */
#define PAR_ROWS(work) ((work) > 16384 && omp_get_max_threads() > 1)

void op_layernorm(float *y, const float *x, const float *w, const float *b, int64_t M,
                  int64_t d, float eps) {
    if (!PAR_ROWS(M * d)) {
        for (int64_t i = 0; i < M; i++) op_layernorm_row(y + i * d, x + i * d, w, b, d, eps);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++) op_layernorm_row(y + i * d, x + i * d, w, b, d, eps);
}

void op_rmsnorm(float *y, const float *x, const float *w, int64_t M, int64_t d, float eps) {
    if (!PAR_ROWS(M * d)) {
        for (int64_t i = 0; i < M; i++) op_rmsnorm_row(y + i * d, x + i * d, w, d, eps);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++) op_rmsnorm_row(y + i * d, x + i * d, w, d, eps);
}

void op_head_norm_gate(float *y, const float *o, const float *g, const float *w,
                       const float *b, int64_t M, int h, int dv, float eps, int mode) {
    if (!PAR_ROWS(M * h * dv)) {
        for (int64_t i = 0; i < M * h; i++)
            op_head_norm_gate_seg(y + i * dv, o + i * dv, g ? g + i * dv : NULL, w, b,
                                  (int)(i % h), dv, eps, mode);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M * h; i++)
        op_head_norm_gate_seg(y + i * dv, o + i * dv, g ? g + i * dv : NULL, w, b, (int)(i % h),
                              dv, eps, mode);
}

/* ==================================================================================== */
/*
 * Backward. All three norms are one computation on "segments" of n values (a row of
 * layernorm / rmsnorm, or one head of a row of the head norm), xhat = (x - mu) * r with
 * r = 1/sqrt(var + eps) (mu = 0 and var = mean(x^2) for RMSNorm), y = (xhat w + b) [* swish(g)]:
 *   dn    = dy * swish(g)          (dy without the gate)
 *   dg   += dy * (xhat w + b) * swish'(g),     swish'(z) = s(z) (1 + z (1 - s(z))), s = sigmoid
 *   dxhat = dn * w
 *   dx   += r (dxhat - mean(dxhat) - xhat mean(dxhat xhat))   (no mean(dxhat) term for RMS)
 *   dw   += sum over segments of dn * xhat,   db += sum over segments of dn
 * The per-segment part runs in parallel over segments. The parameter sums run in parallel
 * over blocks of parameter columns, each column summing its segments in order 0, 1, ... in
 * double: the result is deterministic and independent of the thread count.
 */
typedef struct {
    int64_t nseg;          /* segments: M rows x h heads */
    int h, n;              /* heads per row (1 for the plain norms), segment width */
    int center;            /* layernorm (subtract the mean) or rmsnorm */
    int identity;          /* no normalisation (HEAD_NORM_NONE): xhat = x */
    int wshared;           /* w, b of width n shared by the heads, else of width h*n */
    const float *x, *dy, *g, *w, *b;
    float *dx, *dg, *dw, *db;
    float eps;
} norm_bwd;

/* Mean and reciprocal standard deviation of segment s, formed as the forwards form them. */
static void seg_stats(const norm_bwd *p, int64_t s, float *mu, float *r) {
    if (p->identity) {
        *mu = 0.0f, *r = 1.0f;
        return;
    }
    const float *x = p->x + s * p->n;
    double mean = 0, var = 0;
    if (p->center) {
        for (int j = 0; j < p->n; j++) mean += x[j];
        mean /= p->n;
    }
    for (int j = 0; j < p->n; j++) var += (x[j] - mean) * (x[j] - mean);
    var /= p->n;
    *r = (float)(1.0 / sqrt(var + p->eps));
    *mu = (float)mean;
}

static inline float sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }

#define NORM_COLS 64 /* parameter columns per task of the parameter sums */

static void norm_backward(const norm_bwd *p) {
    const int64_t nseg = p->nseg;
    const int n = p->n, h = p->h;
    if (nseg <= 0 || n <= 0) return;
    float *stats = (p->dw || p->db) ? malloc(sizeof(float) * 2 * (size_t)nseg) : NULL;

#pragma omp parallel for schedule(static) if (nseg * n > 16384)
    for (int64_t s = 0; s < nseg; s++) {
        const int head = (int)(s % h);
        const float *x = p->x + s * n, *dy = p->dy + s * n, *g = p->g ? p->g + s * n : NULL;
        const float *w = p->w ? p->w + (p->wshared ? 0 : (int64_t)head * n) : NULL;
        const float *b = p->b ? p->b + (p->wshared ? 0 : (int64_t)head * n) : NULL;
        float mu, r;
        seg_stats(p, s, &mu, &r);
        if (stats) stats[2 * s] = mu, stats[2 * s + 1] = r;
        if (!p->dx && !p->dg) continue;
        double sa = 0, sb = 0; /* sum dxhat, sum dxhat xhat */
        for (int j = 0; j < n; j++) {
            float xh = (x[j] - mu) * r, wj = w ? w[j] : 1.0f, dn = dy[j];
            if (g) {
                float sg = sigmoid(g[j]);
                if (p->dg) {
                    float y = w ? xh * wj : xh;
                    if (b) y += b[j];
                    p->dg[s * n + j] += dy[j] * y * (sg * (1.0f + g[j] * (1.0f - sg)));
                }
                dn *= g[j] * sg;
            }
            float dxh = dn * wj;
            sa += dxh;
            sb += (double)dxh * xh;
        }
        if (!p->dx) continue;
        float ma = p->center ? (float)(sa / n) : 0.0f, mb = p->identity ? 0.0f : (float)(sb / n);
        float *dx = p->dx + s * n;
        for (int j = 0; j < n; j++) {
            float xh = (x[j] - mu) * r, dn = g ? dy[j] * (g[j] * sigmoid(g[j])) : dy[j];
            float dxh = dn * (w ? w[j] : 1.0f);
            dx[j] += r * (dxh - ma - xh * mb);
        }
    }

    if (p->dw || p->db) {
        /* Tasks: (head, block of NORM_COLS columns); with shared parameters one "head" that
         * sums every segment. Segment order within a column is fixed: s = 0, 1, ... */
        const int groups = p->wshared ? 1 : h;
        const int64_t nblk = (n + NORM_COLS - 1) / NORM_COLS, ntask = groups * nblk;
#pragma omp parallel for schedule(static) if (nseg * n > 16384)
        for (int64_t t = 0; t < ntask; t++) {
            const int head = (int)(t / nblk);
            const int c0 = (int)(t % nblk) * NORM_COLS;
            const int nc = n - c0 < NORM_COLS ? n - c0 : NORM_COLS;
            const int64_t poff = (int64_t)head * n + c0; /* parameter column of c0 */
            double aw[NORM_COLS] = {0}, ab[NORM_COLS] = {0};
            for (int64_t s = p->wshared ? 0 : head; s < nseg; s += p->wshared ? 1 : h) {
                const float *x = p->x + s * n + c0, *dy = p->dy + s * n + c0;
                const float *g = p->g ? p->g + s * n + c0 : NULL;
                float mu, r;
                if (stats) mu = stats[2 * s], r = stats[2 * s + 1];
                else seg_stats(p, s, &mu, &r);
                for (int j = 0; j < nc; j++) {
                    float dn = g ? dy[j] * (g[j] * sigmoid(g[j])) : dy[j];
                    aw[j] += (double)dn * ((x[j] - mu) * r);
                    ab[j] += dn;
                }
            }
            for (int j = 0; j < nc; j++) {
                if (p->dw) p->dw[poff + j] += (float)aw[j];
                if (p->db) p->db[poff + j] += (float)ab[j];
            }
        }
    }
    free(stats);
}

void op_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                           const float *w, int64_t M, int64_t d, float eps) {
    norm_bwd p = {.nseg = M, .h = 1, .n = (int)d, .center = 1, .wshared = 1, .x = x, .dy = dy,
                  .w = w, .dx = dx, .dw = dw, .db = db, .eps = eps};
    norm_backward(&p);
}

void op_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                         const float *w, int64_t M, int64_t d, float eps) {
    norm_bwd p = {.nseg = M, .h = 1, .n = (int)d, .center = 0, .wshared = 1, .x = x, .dy = dy,
                  .w = w, .dx = dx, .dw = dw, .eps = eps};
    norm_backward(&p);
}

void op_head_norm_gate_backward(float *do_, float *dg, float *dw, float *db, const float *dy,
                                const float *o, const float *g, const float *w,
                                const float *b, int64_t M, int h, int dv, float eps,
                                int mode) {
    /* groupnorm: affine of width h*dv (per head); rmsnorm: weight of width dv, shared */
    const int group = mode == HEAD_NORM_GROUP;
    norm_bwd p = {.nseg = M * h, .h = h, .n = dv, .center = group, .wshared = !group,
                  .identity = mode == HEAD_NORM_NONE, .x = o, .dy = dy, .g = g, .w = w,
                  .b = group ? b : NULL, .dx = do_, .dg = dg, .dw = dw,
                  .db = group ? db : NULL, .eps = eps};
    norm_backward(&p);
}
