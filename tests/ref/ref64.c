/*
 * ref64.c: the float64 reference (see ref64.h). Written from RETNET.md, section numbers cited.
 * Plain loops, one function per equation; no part of the library is used except the public
 * tensor API to read a model's parameters.
 */
#include "ref64.h"
#include "ref_attention.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "ref64: out of memory (%zu x %zu bytes)\n", n, size);
        abort();
    }
    return p;
}

/* ---------------------------------------------------------------- dense ops */

void ref_matmul(double *y, const double *x, const double *w, int64_t M, int64_t N, int64_t K) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += x[i * K + k] * w[j * K + k];
            y[i * N + j] = s;
        }
}

void ref_layernorm(double *y, const double *x, const double *w, const double *b, int64_t M,
                   int64_t d, double eps) {
    for (int64_t i = 0; i < M; i++) {
        const double *xr = x + i * d;
        double *yr = y + i * d;
        double mean = 0, var = 0;
        for (int64_t j = 0; j < d; j++) mean += xr[j];
        mean /= d;
        for (int64_t j = 0; j < d; j++) var += (xr[j] - mean) * (xr[j] - mean);
        var /= d;
        double inv = 1.0 / sqrt(var + eps);
        for (int64_t j = 0; j < d; j++)
            yr[j] = (xr[j] - mean) * inv * (w ? w[j] : 1.0) + (b ? b[j] : 0.0);
    }
}

void ref_rmsnorm(double *y, const double *x, const double *w, int64_t M, int64_t d, double eps) {
    for (int64_t i = 0; i < M; i++) {
        const double *xr = x + i * d;
        double *yr = y + i * d;
        double ms = 0;
        for (int64_t j = 0; j < d; j++) ms += xr[j] * xr[j];
        ms /= d;
        double inv = 1.0 / sqrt(ms + eps);
        for (int64_t j = 0; j < d; j++) yr[j] = xr[j] * inv * (w ? w[j] : 1.0);
    }
}

double ref_gelu(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
double ref_swish(double x) { return x / (1.0 + exp(-x)); }

void ref_head_norm_gate(double *y, const double *o, const double *g, const double *w,
                        const double *b, int64_t M, int h, int dv, double eps, int groupnorm) {
    int64_t width = (int64_t)h * dv;
    for (int64_t m = 0; m < M; m++)
        for (int i = 0; i < h; i++) {
            int64_t off = m * width + (int64_t)i * dv;
            if (groupnorm == 2)  /* no head norm (the ablation) */
                memmove(y + off, o + off, sizeof(double) * (size_t)dv);
            else if (groupnorm)   /* GroupNorm with h groups = LayerNorm per head, affine over h*dv */
                ref_layernorm(y + off, o + off, w ? w + (int64_t)i * dv : NULL,
                              b ? b + (int64_t)i * dv : NULL, 1, dv, eps);
            else             /* RMSNorm per head, weight of width dv shared by the heads */
                ref_rmsnorm(y + off, o + off, w, 1, dv, eps);
            if (g)
                for (int c = 0; c < dv; c++) y[off + c] *= ref_swish(g[off + c]);
        }
}

/* ---------------------------------------------------------------- rope (§2) */

double ref_rope_theta(int j, int dk, int half, double base) {
    double expo;
    if (half)
        expo = 2.0 * j / dk;
    else
        expo = dk / 2 > 1 ? (double)j / (dk / 2 - 1) : 0.0;   /* linspace(0, 1, dk/2) */
    return 1.0 / pow(base, expo);
}

static void rope_impl(double *x, int64_t ld, int64_t T, int h, int dk, int64_t pos0, int half,
                      double base, double scale, int absolute) {
    for (int64_t t = 0; t < T; t++)
        for (int i = 0; i < h; i++)
            for (int j = 0; j < dk / 2; j++) {
                int64_t ia = t * ld + (int64_t)i * dk + (half ? j : 2 * j);
                int64_t ib = t * ld + (int64_t)i * dk + (half ? j + dk / 2 : 2 * j + 1);
                double ang = (double)(pos0 + t) * ref_rope_theta(j, dk, half, base);
                double c = cos(ang), s = sin(ang), a = x[ia], b = x[ib];
                if (absolute) {
                    double m = (fabs(a) * fabs(c) + fabs(b) * fabs(s)) * fabs(scale);
                    double n = (fabs(a) * fabs(s) + fabs(b) * fabs(c)) * fabs(scale);
                    x[ia] = m;
                    x[ib] = n;
                } else {
                    x[ia] = (a * c - b * s) * scale;
                    x[ib] = (a * s + b * c) * scale;
                }
            }
}

void ref_rope(double *x, int64_t ld, int64_t T, int h, int dk, int64_t pos0, int half,
              double base, double scale) {
    rope_impl(x, ld, T, h, dk, pos0, half, base, scale, 0);
}

void ref_rope_abs(double *x, int64_t ld, int64_t T, int h, int dk, int64_t pos0, int half,
                  double base, double scale) {
    rope_impl(x, ld, T, h, dk, pos0, half, base, scale, 1);
}

/* ---------------------------------------------------------------- retention (§2) */

/* gamma^p for an integer p >= 0, from the logarithm (exact 1 for gamma = 1). */
static double gamma_pow(double gamma, int64_t p) { return exp((double)p * log(gamma)); }

void ref_retention_parallel(const ref_retention_args *a) {
    int64_t T = a->T;
    int dk = a->dk, dv = a->dv;
    /* The decay mask D and the decayed scores A = (Q K^T) ⊙ D, both (T, T). */
    double *D = xcalloc((size_t)(T * T), sizeof(double));
    double *A = xcalloc((size_t)(T * T), sizeof(double));
    for (int64_t n = 0; n < T; n++)
        for (int64_t m = 0; m <= n; m++) D[n * T + m] = gamma_pow(a->gamma, n - m);
    for (int64_t n = 0; n < T; n++)
        for (int64_t m = 0; m <= n; m++) {     /* D[n,m] = 0 for m > n: A stays 0 there */
            double qk = 0;
            for (int i = 0; i < dk; i++) qk += a->q[n * dk + i] * a->k[m * dk + i];
            A[n * T + m] = qk * D[n * T + m];
        }
    for (int64_t n = 0; n < T; n++) {
        double carry = gamma_pow(a->gamma, n + 1);   /* weight of the starting state at row n */
        if (a->o)
            for (int c = 0; c < dv; c++) {
                double s = 0;
                for (int64_t m = 0; m <= n; m++) s += A[n * T + m] * a->v[m * dv + c];
                if (a->S0)
                    for (int i = 0; i < dk; i++) s += carry * a->q[n * dk + i] * a->S0[i * dv + c];
                a->o[n * dv + c] = s;
            }
        if (a->rsum) {
            double s = 0;
            for (int64_t m = 0; m <= n; m++) s += A[n * T + m];
            if (a->z0)
                for (int i = 0; i < dk; i++) s += carry * a->q[n * dk + i] * a->z0[i];
            a->rsum[n] = s;
        }
    }
    /* The final state: the weight of step m is D[T-1, m] = gamma^(T-1-m) (last row of D),
     * that of the starting state gamma^T. */
    double carry = gamma_pow(a->gamma, T);
    if (a->S)
        for (int i = 0; i < dk; i++)
            for (int c = 0; c < dv; c++) {
                double s = a->S0 ? carry * a->S0[i * dv + c] : 0.0;
                for (int64_t m = 0; m < T; m++)
                    s += D[(T - 1) * T + m] * a->k[m * dk + i] * a->v[m * dv + c];
                a->S[i * dv + c] = s;
            }
    if (a->z)
        for (int i = 0; i < dk; i++) {
            double s = a->z0 ? carry * a->z0[i] : 0.0;
            for (int64_t m = 0; m < T; m++) s += D[(T - 1) * T + m] * a->k[m * dk + i];
            a->z[i] = s;
        }
    free(D);
    free(A);
}

void ref_retention_recurrent(const ref_retention_args *a) {
    int dk = a->dk, dv = a->dv;
    double *S = xcalloc((size_t)dk * dv, sizeof(double));
    double *z = xcalloc((size_t)dk, sizeof(double));
    if (a->S0) memcpy(S, a->S0, sizeof(double) * dk * dv);
    if (a->z0) memcpy(z, a->z0, sizeof(double) * dk);
    for (int64_t n = 0; n < a->T; n++) {
        const double *q = a->q + n * dk, *k = a->k + n * dk, *v = a->v + n * dv;
        for (int i = 0; i < dk; i++) {            /* S_n = gamma S_{n-1} + k_n^T v_n */
            for (int c = 0; c < dv; c++) S[i * dv + c] = a->gamma * S[i * dv + c] + k[i] * v[c];
            z[i] = a->gamma * z[i] + k[i];
        }
        if (a->o)                                 /* o_n = q_n S_n */
            for (int c = 0; c < dv; c++) {
                double s = 0;
                for (int i = 0; i < dk; i++) s += q[i] * S[i * dv + c];
                a->o[n * dv + c] = s;
            }
        if (a->rsum) {
            double s = 0;
            for (int i = 0; i < dk; i++) s += q[i] * z[i];
            a->rsum[n] = s;
        }
    }
    if (a->S) memcpy(a->S, S, sizeof(double) * dk * dv);
    if (a->z) memcpy(a->z, z, sizeof(double) * dk);
    free(S);
    free(z);
}

double ref_gamma(const retnet_config *c, int head) {
    if (c->decay == RETNET_DECAY_POW2) return 1.0 - pow(2.0, -5.0 - head);
    if (c->decay == RETNET_DECAY_SINGLE) return 1.0 - pow(2.0, -5.0); /* every head: head 0's */
    if (c->decay == RETNET_DECAY_NONE) return 1.0;
    /* linspace: 1 - exp(linspace(log(1/32), log(1/512), h)) */
    double lo = log(1.0 / 32), hi = log(1.0 / 512);
    double x = c->n_head > 1 ? lo + (hi - lo) * head / (c->n_head - 1) : lo;
    return 1.0 - exp(x);
}

/* ---------------------------------------------------------------- the model (§5) */

/* Finds tensor `name` in m, checks its shape, returns a double copy (NULL with a message). */
static double *load_tensor(const retnet_model *m, const char *name, int64_t rows, int64_t cols) {
    int32_t n = retnet_model_tensor_count(m);
    for (int32_t i = 0; i < n; i++) {
        retnet_tensor t;
        if (retnet_model_tensor(m, i, &t) != RETNET_OK || strcmp(t.name, name) != 0) continue;
        int ok = cols ? (t.ndim == 2 && t.shape[0] == rows && t.shape[1] == cols)
                      : (t.ndim == 1 && t.shape[0] == rows);
        if (!ok || t.numel != rows * (cols ? cols : 1)) {
            fprintf(stderr, "ref64: tensor %s has shape (%lld, %lld), ndim %d; want (%lld, %lld)\n",
                    name, (long long)t.shape[0], (long long)(t.ndim > 1 ? t.shape[1] : 0),
                    (int)t.ndim, (long long)rows, (long long)cols);
            return NULL;
        }
        double *d = xcalloc((size_t)t.numel, sizeof(double));
        for (int64_t j = 0; j < t.numel; j++) d[j] = t.data[j];
        return d;
    }
    fprintf(stderr, "ref64: the model has no tensor %s\n", name);
    return NULL;
}

void ref_model_free(ref_model *r) {
    if (r->layers)
        for (int l = 0; l < r->cfg.n_layer; l++) {
            ref_layer *p = &r->layers[l];
            double *all[] = {p->ret_norm_w, p->ret_norm_b, p->wq, p->wk, p->wv, p->wg, p->wo,
                             p->hn_w, p->hn_b, p->ffn_norm_w, p->ffn_norm_b, p->fc1, p->gate,
                             p->fc2};
            for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
        }
    free(r->layers);
    free(r->embed);
    free(r->norm_w);
    free(r->norm_b);
    free(r->out);
    memset(r, 0, sizeof *r);
}

int ref_model_load(ref_model *r, const retnet_model *m) {
    memset(r, 0, sizeof *r);
    const retnet_config *c = retnet_model_config(m);
    r->cfg = *c;
    int64_t d = c->d_model, V = c->vocab, dkh = c->d_key, dvh = c->d_value, f = c->d_ffn;
    int ln = c->norm == RETNET_NORM_LAYERNORM, gn = c->head_norm == RETNET_HEADNORM_GROUPNORM;
    int glu = c->ffn == RETNET_FFN_GLU, tf = c->arch == RETNET_ARCH_TRANSFORMER;
    int expected = 0, bad = 0;
    char name[128];
#define LOAD(dst, nm, rows, cols)                                                        \
    do {                                                                                 \
        expected++;                                                                      \
        if (!((dst) = load_tensor(m, (nm), (rows), (cols)))) bad = 1;                    \
    } while (0)
    LOAD(r->embed, "embed_tokens.weight", V, d);
    LOAD(r->norm_w, "layer_norm.weight", d, 0);
    if (ln) LOAD(r->norm_b, "layer_norm.bias", d, 0);
    if (!c->tie_embeddings) LOAD(r->out, "output_projection.weight", V, d);
    r->layers = xcalloc((size_t)c->n_layer, sizeof(ref_layer));
    for (int l = 0; l < c->n_layer; l++) {
        ref_layer *p = &r->layers[l];
#define LLOAD(dst, nm, rows, cols)                                                       \
    do {                                                                                 \
        snprintf(name, sizeof name, "layers.%d.%s", l, (nm));                            \
        LOAD(dst, name, rows, cols);                                                     \
    } while (0)
        if (tf) { /* torchscale's Transformer names */
            LLOAD(p->ret_norm_w, "self_attn_layer_norm.weight", d, 0);
            if (ln) LLOAD(p->ret_norm_b, "self_attn_layer_norm.bias", d, 0);
            LLOAD(p->wq, "self_attn.q_proj.weight", dkh, d);
            LLOAD(p->wk, "self_attn.k_proj.weight", dkh, d);
            LLOAD(p->wv, "self_attn.v_proj.weight", dvh, d);
            LLOAD(p->wo, "self_attn.out_proj.weight", d, dvh);
        } else {
            LLOAD(p->ret_norm_w, "retention_layer_norm.weight", d, 0);
            if (ln) LLOAD(p->ret_norm_b, "retention_layer_norm.bias", d, 0);
            LLOAD(p->wq, "retention.q_proj.weight", dkh, d);
            LLOAD(p->wk, "retention.k_proj.weight", dkh, d);
            LLOAD(p->wv, "retention.v_proj.weight", dvh, d);
            if (c->gate) LLOAD(p->wg, "retention.g_proj.weight", dvh, d);
            LLOAD(p->wo, "retention.out_proj.weight", d, dvh);
        }
        if (!tf && c->head_norm_affine && c->head_norm != RETNET_HEADNORM_NONE) {
            LLOAD(p->hn_w, "retention.group_norm.weight", gn ? dvh : dvh / c->n_head, 0);
            if (gn) LLOAD(p->hn_b, "retention.group_norm.bias", dvh, 0);
        }
        LLOAD(p->ffn_norm_w, "final_layer_norm.weight", d, 0);
        if (ln) LLOAD(p->ffn_norm_b, "final_layer_norm.bias", d, 0);
        LLOAD(p->fc1, "ffn.fc1.weight", f, d);
        if (glu) LLOAD(p->gate, "ffn.gate.weight", f, d);
        LLOAD(p->fc2, "ffn.fc2.weight", d, f);
#undef LLOAD
    }
#undef LOAD
    if (!bad && retnet_model_tensor_count(m) != expected) {
        fprintf(stderr, "ref64: the model has %d tensors, the config implies %d\n",
                (int)retnet_model_tensor_count(m), expected);
        bad = 1;
    }
    if (bad) {
        ref_model_free(r);
        return -1;
    }
    return 0;
}

/* The pre-norm / final norm of §5 (layernorm with bias, or rmsnorm). */
static void ref_norm(const retnet_config *c, double *y, const double *x, const double *w,
                     const double *b, int64_t T) {
    if (c->norm == RETNET_NORM_LAYERNORM)
        ref_layernorm(y, x, w, b, T, c->d_model, c->eps);
    else
        ref_rmsnorm(y, x, w, T, c->d_model, c->eps);
}

/* Multi-scale retention of one layer (§4), on the normed input xn (T, d): y (T, d).
 * Also writes this layer's final state (S per head, then z per head) into state if given. */
static void ref_msr(const retnet_config *c, const ref_layer *p, const double *xn, int64_t T,
                    double *y, double *state, double *kappa) {
    int64_t d = c->d_model;
    int h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    int64_t dkh = c->d_key, dvh = c->d_value;
    double *q = xcalloc((size_t)(T * dkh), sizeof(double));
    double *k = xcalloc((size_t)(T * dkh), sizeof(double));
    double *v = xcalloc((size_t)(T * dvh), sizeof(double));
    double *g = xcalloc((size_t)(T * dvh), sizeof(double));
    double *o = xcalloc((size_t)(T * dvh), sizeof(double));
    ref_matmul(q, xn, p->wq, T, dkh, d);
    ref_matmul(k, xn, p->wk, T, dkh, d);
    ref_matmul(v, xn, p->wv, T, dvh, d);
    if (p->wg) ref_matmul(g, xn, p->wg, T, dvh, d);
    /* Q = rot(X Wq), K = rot(X Wk) * dk^-0.5 (§2), positions 0 .. T-1. */
    int half = c->rope == RETNET_ROPE_HALF;
    ref_rope(q, dkh, T, h, dk, 0, half, c->rope_base, 1.0);
    ref_rope(k, dkh, T, h, dk, 0, half, c->rope_base, 1.0 / sqrt((double)dk));

    /* One head at a time, on contiguous copies. */
    double *qh = xcalloc((size_t)(T * dk), sizeof(double));
    double *kh = xcalloc((size_t)(T * dk), sizeof(double));
    double *vh = xcalloc((size_t)(T * dv), sizeof(double));
    double *oh = xcalloc((size_t)(T * dv), sizeof(double));
    double *rsum = xcalloc((size_t)T, sizeof(double));
    /* kappa (ref_forward_kappa): the terms' magnitudes, the retention of |q|, |k|, |v| */
    const int want_kappa = kappa && c->head_norm != RETNET_HEADNORM_NONE;
    double *aq = NULL, *ak = NULL, *av = NULL, *ao = NULL;
    if (want_kappa) {
        aq = xcalloc((size_t)(T * dk), sizeof(double)), ak = xcalloc((size_t)(T * dk), sizeof(double));
        av = xcalloc((size_t)(T * dv), sizeof(double)), ao = xcalloc((size_t)(T * dv), sizeof(double));
    }
    for (int i = 0; i < h; i++) {
        for (int64_t t = 0; t < T; t++) {
            memcpy(qh + t * dk, q + t * dkh + (int64_t)i * dk, sizeof(double) * dk);
            memcpy(kh + t * dk, k + t * dkh + (int64_t)i * dk, sizeof(double) * dk);
            memcpy(vh + t * dv, v + t * dvh + (int64_t)i * dv, sizeof(double) * dv);
        }
        double gamma = ref_gamma(c, i);
        ref_retention_args a = {.T = T, .dk = dk, .dv = dv, .q = qh, .k = kh, .v = vh,
                                .gamma = gamma, .o = oh, .rsum = rsum};
        if (state) {
            a.S = state + (int64_t)i * dk * dv;
            if (c->normalize) a.z = state + (int64_t)h * dk * dv + (int64_t)i * dk;
        }
        ref_retention_parallel(&a);
        if (want_kappa) { /* every term of o is a product of these and powers of gamma >= 0 */
            for (int64_t e = 0; e < T * dk; e++) aq[e] = fabs(qh[e]), ak[e] = fabs(kh[e]);
            for (int64_t e = 0; e < T * dv; e++) av[e] = fabs(vh[e]);
            ref_retention_args aa = {.T = T, .dk = dk, .dv = dv, .q = aq, .k = ak, .v = av,
                                     .gamma = gamma, .o = ao};
            ref_retention_parallel(&aa);
        }
        for (int64_t n = 0; n < T; n++) {
            double scale = 1.0;
            if (c->normalize) {
                /* §3.2: D~[n,m] = D[n,m] / sqrt(sum_{i<=n} D[n,i]) */
                double dsum = 0;
                for (int64_t j = 0; j <= n; j++) dsum += gamma_pow(gamma, j);
                double rowscale = 1.0 / sqrt(dsum);
                /* §3.3: R~[n,m] = R[n,m] / max(|sum_m R[n,m]|, 1), R with D~ */
                double rowsum = rsum[n] * rowscale;
                scale = rowscale / fmax(fabs(rowsum), 1.0);
            }
            for (int cc = 0; cc < dv; cc++) o[n * dvh + (int64_t)i * dv + cc] = oh[n * dv + cc] * scale;
            if (want_kappa) { /* rms(A) / the norm's divisor, A the row's terms' magnitudes */
                const double *on = oh + n * dv, *an = ao + n * dv;
                double mean = 0, aa2 = 0, var = 0;
                if (c->head_norm == RETNET_HEADNORM_GROUPNORM)
                    for (int cc = 0; cc < dv; cc++) mean += on[cc] / dv;
                for (int cc = 0; cc < dv; cc++) {
                    var += (on[cc] - mean) * (on[cc] - mean) / dv;
                    aa2 += an[cc] * an[cc] / dv;
                }
                const double div = sqrt(var * scale * scale + c->eps);
                const double kr = div > 0 ? sqrt(aa2) * fabs(scale) / div : INFINITY;
                if (kr > *kappa) *kappa = kr;
            }
        }
    }
    /* Y = HeadNorm(concat(heads)) ⊙ swish(X Wg); MSR = Y Wo (§4). */
    double *yo = xcalloc((size_t)(T * dvh), sizeof(double));
    ref_head_norm_gate(yo, o, p->wg ? g : NULL, p->hn_w, p->hn_b, T, h, dv, c->eps,
                       c->head_norm == RETNET_HEADNORM_NONE ? 2
                       : c->head_norm == RETNET_HEADNORM_GROUPNORM);
    ref_matmul(y, yo, p->wo, T, d, dvh);
    free(q); free(k); free(v); free(g); free(o);
    free(qh); free(kh); free(vh); free(oh); free(rsum); free(yo);
    free(aq); free(ak); free(av); free(ao);
}

/* The Transformer baseline's mixer on the normed input xn (T, d): causal softmax attention
 * over rotated queries and keys (positions 0 .. T-1), y = o Wo (T, d). The state, when given,
 * is the KV cache: rotated keys (context, d_key), then values (context, d_value), T rows. */
static void ref_attn(const retnet_config *c, const ref_layer *p, const double *xn, int64_t T,
                     double *y, double *state) {
    int64_t d = c->d_model, dkh = c->d_key, dvh = c->d_value;
    int h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    double *q = xcalloc((size_t)(T * dkh), sizeof(double));
    double *k = xcalloc((size_t)(T * dkh), sizeof(double));
    double *v = xcalloc((size_t)(T * dvh), sizeof(double));
    double *o = xcalloc((size_t)(T * dvh), sizeof(double));
    double *lse = xcalloc((size_t)(T * h), sizeof(double));
    ref_matmul(q, xn, p->wq, T, dkh, d);
    ref_matmul(k, xn, p->wk, T, dkh, d);
    ref_matmul(v, xn, p->wv, T, dvh, d);
    int half = c->rope == RETNET_ROPE_HALF;
    ref_rope(q, dkh, T, h, dk, 0, half, c->rope_base, 1.0);
    ref_rope(k, dkh, T, h, dk, 0, half, c->rope_base, 1.0);
    ref_attention_args a = {.B = 1, .Tq = T, .Tk = T, .H = h, .dk = dk, .dv = dv,
                            .scale = 1.0 / sqrt((double)dk), .q = q, .k = k, .v = v};
    ref_attention_forward(&a, o, lse, NULL);
    ref_matmul(y, o, p->wo, T, d, dvh);
    if (state) {
        memcpy(state, k, sizeof(double) * (size_t)(T * dkh));
        memcpy(state + (int64_t)c->context * dkh, v, sizeof(double) * (size_t)(T * dvh));
    }
    free(q); free(k); free(v); free(o); free(lse);
}

/* FFN (§5) on the normed input xn (T, d): y (T, d). */
static void ref_ffn(const retnet_config *c, const ref_layer *p, const double *xn, int64_t T,
                    double *y) {
    int64_t d = c->d_model, f = c->d_ffn;
    double *a = xcalloc((size_t)(T * f), sizeof(double));
    ref_matmul(a, xn, p->fc1, T, f, d);
    if (c->ffn == RETNET_FFN_GLU) {          /* fc2(act(fc1 x) ⊙ gate x), gate not activated */
        double *gt = xcalloc((size_t)(T * f), sizeof(double));
        ref_matmul(gt, xn, p->gate, T, f, d);
        for (int64_t i = 0; i < T * f; i++)
            a[i] = (c->ffn_act == RETNET_ACT_SWISH ? ref_swish(a[i]) : ref_gelu(a[i])) * gt[i];
        free(gt);
    } else {                                  /* fc2(gelu(fc1 x)) */
        for (int64_t i = 0; i < T * f; i++) a[i] = ref_gelu(a[i]);
    }
    ref_matmul(y, a, p->fc2, T, d, f);
    free(a);
}

void ref_forward(const retnet_config *c, const ref_model *r, const int32_t *tokens, int64_t T,
                 double *logits, double *state) {
    ref_forward_kappa(c, r, tokens, T, logits, state, NULL);
}

void ref_forward_kappa(const retnet_config *c, const ref_model *r, const int32_t *tokens,
                       int64_t T, double *logits, double *state, double *kappa) {
    int64_t d = c->d_model, V = c->vocab;
    int h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    int64_t per_layer = retnet_state_floats(c) / c->n_layer;
    (void)dk, (void)dv;
    if (kappa) *kappa = 1.0;
    double *x = xcalloc((size_t)(T * d), sizeof(double));
    double *xn = xcalloc((size_t)(T * d), sizeof(double));
    double *y = xcalloc((size_t)(T * d), sizeof(double));
    /* X0 = Embed(tokens), optionally times sqrt(d). */
    double es = c->embed_scale ? sqrt((double)d) : 1.0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t j = 0; j < d; j++) x[t * d + j] = r->embed[(int64_t)tokens[t] * d + j] * es;
    for (int l = 0; l < c->n_layer; l++) {
        const ref_layer *p = &r->layers[l];
        ref_norm(c, xn, x, p->ret_norm_w, p->ret_norm_b, T);      /* Y = MSR(Norm(X)) + X */
        if (c->arch == RETNET_ARCH_TRANSFORMER)
            ref_attn(c, p, xn, T, y, state ? state + l * per_layer : NULL);
        else
            ref_msr(c, p, xn, T, y, state ? state + l * per_layer : NULL, kappa);
        for (int64_t i = 0; i < T * d; i++) x[i] += y[i];
        ref_norm(c, xn, x, p->ffn_norm_w, p->ffn_norm_b, T);      /* X' = FFN(Norm(Y)) + Y */
        ref_ffn(c, p, xn, T, y);
        for (int64_t i = 0; i < T * d; i++) x[i] += y[i];
    }
    ref_norm(c, xn, x, r->norm_w, r->norm_b, T);                  /* logits = Norm(X) Wout */
    ref_matmul(logits, xn, c->tie_embeddings ? r->embed : r->out, T, V, d);
    free(x);
    free(xn);
    free(y);
}

/* ---------------------------------------------------------------- gradients (training) */

void ref_retention_backward(const ref_retention_args *a, const double *dout,
                            const double *drsum, double *dq, double *dk, double *dv) {
    int64_t T = a->T;
    int dkw = a->dk, dvw = a->dv;
    if (dq) memset(dq, 0, sizeof(double) * (size_t)(T * dkw));
    if (dk) memset(dk, 0, sizeof(double) * (size_t)(T * dkw));
    if (dv) memset(dv, 0, sizeof(double) * (size_t)(T * dvw));
    for (int64_t n = 0; n < T; n++)
        for (int64_t m = 0; m <= n; m++) {
            double D = gamma_pow(a->gamma, n - m), qk = 0, dov = 0;
            for (int i = 0; i < dkw; i++) qk += a->q[n * dkw + i] * a->k[m * dkw + i];
            for (int c = 0; c < dvw; c++) dov += dout[n * dvw + c] * a->v[m * dvw + c];
            /* P[n,m] = qk D;  dP[n,m] = (dO_n . v_m + drsum_n) D */
            double P = qk * D, dP = (dov + (drsum ? drsum[n] : 0.0)) * D;
            if (dv)
                for (int c = 0; c < dvw; c++) dv[m * dvw + c] += P * dout[n * dvw + c];
            for (int i = 0; i < dkw; i++) {
                if (dq) dq[n * dkw + i] += dP * a->k[m * dkw + i];
                if (dk) dk[m * dkw + i] += dP * a->q[n * dkw + i];
            }
        }
}

double ref_cross_entropy(const double *logits, const int32_t *targets, int64_t n, int64_t V) {
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        if (targets[i] < 0) continue;
        const double *x = logits + i * V;
        double m = x[0], s = 0;
        for (int64_t j = 1; j < V; j++) m = fmax(m, x[j]);
        for (int64_t j = 0; j < V; j++) s += exp(x[j] - m);
        total += m + log(s) - x[targets[i]];
    }
    return total;
}
