/*
 * model.c: the RetNet model (RETNET.md §4-5): creation, initialisation, parameter access,
 * and the forward pass in any of the three forms of retention.
 *
 * The forward pass runs layer by layer over all B*T positions at once; only retention
 * itself differs between the forms (ops/retention_{parallel,chunkwise,recurrent}.c), since
 * everything else in a layer acts on each position alone. Retention work is split into
 * tasks (sequence, head, slice of value columns) spread over the OpenMP threads: value
 * columns are independent in all three forms, so the split changes no result.
 */
#include "dropout.h"
#include "model.h"
#include "ops/ops.h"
#ifdef RETNET_CUDA
#include "cuda/model_cuda.h"
#endif

#include <math.h>
#include <omp.h>
#include <string.h>
#include <sys/mman.h>

retnet_status retnet_model_create(const retnet_config *c, retnet_model **out) {
    if (!out) return retnet_fail(RETNET_EINVAL, "model_create: NULL output");
    *out = NULL;
    retnet_status st = retnet_config_validate(c);
    if (st) return st;
    retnet_model *m = calloc(1, sizeof *m);
    if (!m) return retnet_fail(RETNET_ENOMEM, "out of memory");
    m->cfg = *c;
    m->n_tensors = retnet_param_table(c, NULL, 0, &m->n_params, NULL, NULL);
    m->table = calloc((size_t)m->n_tensors, sizeof *m->table);
    m->layers = calloc((size_t)c->n_layer, sizeof *m->layers);
    m->gamma = calloc((size_t)c->n_head, sizeof *m->gamma);
    m->params = retnet_alloc(sizeof(float) * (size_t)m->n_params);
    if (!m->table || !m->layers || !m->gamma || !m->params) {
        int64_t bytes = 4 * m->n_params;
        retnet_model_free(m);
        return retnet_fail(RETNET_ENOMEM, "out of memory allocating %.2f GB of parameters",
                           bytes / 1e9);
    }
    retnet_param_table(c, m->table, m->n_tensors, &m->n_params, &m->g, m->layers);
    for (int32_t i = 0; i < m->n_tensors; i++) *m->table[i].slot = m->params + m->table[i].offset;
    for (int i = 0; i < c->n_head; i++) m->gamma[i] = retnet_config_gamma(c, i);
    *out = m;
    return RETNET_OK;
}

retnet_status retnet_model_init(retnet_model *m, uint64_t seed) {
    if (!m) return retnet_fail(RETNET_EINVAL, "model_init: NULL model");
    retnet_status st = model_need_f32(m, "model_init");
    if (st) return st;
    for (int32_t i = 0; i < m->n_tensors; i++)
        retnet_param_init(&m->cfg, &m->table[i], i, seed, m->params + m->table[i].offset);
    return RETNET_OK;
}

/* The page-aligned interior of each 2-D tensor's fp32 range (bf16_only models). */
static void protect_2d(retnet_model *m, int prot) {
    const uintptr_t page = 4096;
    for (int32_t i = 0; i < m->n_tensors; i++) {
        if (m->table[i].ndim != 2) continue;
        uintptr_t a = (uintptr_t)(m->params + m->table[i].offset);
        uintptr_t b = a + 4 * (uintptr_t)m->table[i].numel;
        a = (a + page - 1) & ~(page - 1);
        b &= ~(page - 1);
        if (b > a) mprotect((void *)a, b - a, prot);
    }
}

retnet_status model_make_bf16_only(retnet_model *m) {
    retnet_free(m->params_bf16);
    m->params_bf16 = retnet_alloc(sizeof(uint16_t) * (size_t)m->n_params);
    if (!m->params_bf16)
        return retnet_fail(RETNET_ENOMEM, "out of memory for the bf16 weights (%.2f GB)",
                           m->n_params * 2e-9);
    m->bf16_only = 1;
    protect_2d(m, PROT_NONE);
    return RETNET_OK;
}

void retnet_model_free(retnet_model *m) {
    if (!m) return;
    if (m->bf16_only) protect_2d(m, PROT_READ | PROT_WRITE);
#ifdef RETNET_CUDA
    model_cuda_free(m->device);
#endif
    retnet_free(m->params);
    retnet_free(m->wconv);
    retnet_free(m->params_bf16);
    retnet_free(m->scratch);
    free(m->table);
    free(m->layers);
    free(m->gamma);
    free(m->seq_state);
    free(m->seq_pos);
    free(m->acts);
    retnet_free(m->train);
    free(m);
}

const retnet_config *retnet_model_config(const retnet_model *m) { return &m->cfg; }
float *retnet_model_params(retnet_model *m) { return m->params; }
int32_t retnet_model_tensor_count(const retnet_model *m) { return m->n_tensors; }

retnet_status retnet_model_tensor(const retnet_model *m, int32_t i, retnet_tensor *out) {
    if (!m || !out || i < 0 || i >= m->n_tensors)
        return retnet_fail(RETNET_EINVAL, "model_tensor: index %d out of range", i);
    const retnet_param_desc *p = &m->table[i];
    out->name = p->name;
    out->ndim = p->ndim;
    out->shape[0] = p->shape[0];
    out->shape[1] = p->shape[1];
    out->numel = p->numel;
    out->data = m->bf16_only && p->ndim == 2 ? NULL : m->params + p->offset;
    out->data_bf16 = m->params_bf16 && (m->bf16_only || p->ndim == 2) ? m->params_bf16 + p->offset
                                                                        : NULL;
    return RETNET_OK;
}

int64_t retnet_model_scratch_bytes(const retnet_model *m) { return m->scratch_peak_bytes; }

/* ------------------------------------------------------------------ forward */

/*
 * The activations of one layer over all n = B*T positions. In training every layer keeps its
 * own (the backward needs them); in inference all layers share one set, and the marked
 * aliases make the layer work in place.
 */
typedef struct {
    float *x;        /* (n, d) layer input */
    float *xn1;      /* (n, d) Norm(x) */
    float *q, *k;    /* (n, d_key) rotated (k also scaled by dk^-0.5) */
    float *v, *g;    /* (n, d_value) */
    float *o;        /* (n, d_value) raw retention output, before the §3 row factor */
    float *rsum, *f; /* (B, h, T) §3 row sums and row factors (NULL when normalize is off) */
    float *lse;      /* (B, h, T) transformer: log-sum-exp of each row's scores (else NULL) */
    float *y;        /* (n, d_value) HeadNorm(f * o) * swish(g)   (inference: = o) */
    float *xm;       /* (n, d) x + MSR(x)                         (inference: = x) */
    float *xn2;      /* (n, d) Norm(xm)                           (inference: = xn1) */
    float *h1, *h2;  /* (n, d_ffn) x W1 and x Wgate, before the activation */
    float *a;        /* (n, d_ffn) the FFN's hidden activation    (inference: = h1) */
    float *out;      /* (n, d) xm + FFN(xm) = the next layer's x  (inference: = x) */
} layer_acts;

/* Carves `count` float arrays of the given sizes out of one block, each 64-byte aligned.
 * Returns the floats needed; assigns only when base != NULL. */
static int64_t carve(float *base, float **const *slots, const int64_t *sizes, int count) {
    int64_t off = 0;
    for (int i = 0; i < count; i++) {
        if (base) *slots[i] = sizes[i] ? base + off : NULL;
        off += (sizes[i] + 15) / 16 * 16;
    }
    return off;
}

/* Grows a scratch block to `floats` (contents not kept). */
retnet_status model_grow(float **buf, int64_t *cap, int64_t floats, const char *what) {
    if (floats <= *cap) return RETNET_OK;
    retnet_free(*buf);
    *buf = retnet_alloc(sizeof(float) * (size_t)floats);
    *cap = *buf ? floats : 0;
    if (!*buf)
        return retnet_fail(RETNET_ENOMEM, "out of memory: %s needs %.2f GB", what, floats * 4e-9);
    return RETNET_OK;
}

/* Splits value columns so that there are at least two tasks per thread when B*h is small. */
static void plan_split(int64_t Bh, int dv, int threads, int *nsplit, int *slice) {
    int n = 1;
    while (Bh * n < 2 * threads && dv / (2 * n) >= 32) n *= 2;
    int s = (dv + n - 1) / n;
    s = (s + 15) / 16 * 16; /* keep slices vector-aligned */
    if (s > dv) s = dv;
    *slice = s;
    *nsplit = (dv + s - 1) / s;
}

static int64_t form_work(retnet_form form, int64_t T, int C, int dk, int dv) {
    switch (form) {
    case RETNET_FORM_PARALLEL: return retention_parallel_work(T, dk, dv);
    case RETNET_FORM_CHUNKWISE: return retention_chunkwise_work(T, C, dk, dv);
    default: return retention_recurrent_work(dk, dv);
    }
}

/* Everything one forward (and backward) call needs besides the parameters. */
typedef struct {
    int64_t B, T, n;
    retnet_form form;
    int C, nsplit, slice;
    float **S;            /* per sequence: its state (caller's or zero scratch) */
    const int64_t *pos0;  /* per sequence: position of its first token */
    layer_acts *acts;     /* n_layer entries (inference: all equal) */
    float *xf, *xnf;      /* (n, d) final residual and Norm of it */
    float *branch;        /* (n, d) a residual branch before dropout (training only) */
    float *work;          /* per-thread retention work */
    int64_t work_per_thread;
    float *attn_work;     /* transformer: the attention call's scratch (all threads) */
    int cache;            /* transformer: S are the callers' KV caches */
    float dropout;
    uint64_t seed;
} fwd_plan;

static void norm(const retnet_config *c, float *y, const float *x, const float *w,
                 const float *b, int64_t n) {
    if (c->norm == RETNET_NORM_LAYERNORM) op_layernorm(y, x, w, b, n, c->d_model, c->eps);
    else op_rmsnorm(y, x, w, n, c->d_model, c->eps);
}

static void norm_backward(const retnet_config *c, float *dx, float *dw, float *db,
                          const float *dy, const float *x, const float *w, int64_t n) {
    if (c->norm == RETNET_NORM_LAYERNORM)
        op_layernorm_backward(dx, dw, db, dy, x, w, n, c->d_model, c->eps);
    else op_rmsnorm_backward(dx, dw, dy, x, w, n, c->d_model, c->eps);
}

/* out += dropout(branch) (out may hold the residual already). */
static void add_dropout(float *out, const float *branch, int64_t n, float p, uint64_t seed,
                        int l, int which) {
    float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        if (dropout_keep(seed, l, which, i, p)) out[i] += branch[i] * scale;
}

/* Retention of layer l over all sequences and heads: A->o (raw), and when normalising the
 * row sums and the §3 row factors. States are read and updated. */
static void retention_layer(retnet_model *m, int l, const fwd_plan *P, layer_acts *A) {
    const retnet_config *c = &m->cfg;
    const int64_t B = P->B, T = P->T;
    const int h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    const int64_t per_layer = retnet_state_floats(c) / c->n_layer;
    const int64_t ntask = B * h * P->nsplit;
    /* Tiny calls (a short sequence of a tiny model) run on one thread: waking the others
     * costs more than the work. */
#pragma omp parallel for schedule(dynamic) if (B * T * c->d_key * dv > 32768)
    for (int64_t task = 0; task < ntask; task++) {
        int64_t b = task / (h * P->nsplit);
        int head = (int)(task / P->nsplit % h), s = (int)(task % P->nsplit);
        int c0 = s * P->slice, width = dv - c0 < P->slice ? dv - c0 : P->slice;
        float *state = P->S[b] + l * per_layer;
        int with_norm = c->normalize && s == 0; /* the row sums are the same for every slice */
        retention_args a = {
            .T = T, .dk = dk, .dv = width,
            .q = A->q + b * T * c->d_key + head * dk, .ldq = c->d_key,
            .k = A->k + b * T * c->d_key + head * dk, .ldk = c->d_key,
            .v = A->v + b * T * c->d_value + head * dv + c0, .ldv = c->d_value,
            .o = A->o + b * T * c->d_value + head * dv + c0, .ldo = c->d_value,
            .gamma = m->gamma[head],
            .S = state + (int64_t)head * dk * dv + c0, .ldS = dv,
            .z = with_norm ? state + (int64_t)h * dk * dv + (int64_t)head * dk : NULL,
            .rsum = with_norm ? A->rsum + (b * h + head) * T : NULL,
        };
        float *work = P->work + omp_get_thread_num() * P->work_per_thread;
        if (P->form == RETNET_FORM_PARALLEL) retention_parallel_forward(&a, work);
        else if (P->form == RETNET_FORM_CHUNKWISE) retention_chunkwise_forward(&a, P->C, work);
        else retention_recurrent_forward(&a, work);
    }
    if (!c->normalize) return;
    /* §3: row n of head i is scaled by f = s_n / max(|s_n * rowsum_n|, 1), s_n the decay-row
     * normalisation; the same scalar in every form, so the forms agree with any eps. */
#pragma omp parallel for schedule(static) if (B * T * h > 4096)
    for (int64_t bh = 0; bh < B * h; bh++) {
        int64_t b = bh / h;
        int head = (int)(bh % h);
        for (int64_t t = 0; t < T; t++) {
            A->f[bh * T + t] = model_row_factor(m->gamma[head], P->pos0[b] + t,
                                                A->rsum[bh * T + t]);
        }
    }
}

/* y = f ⊙ o row by row and head by head (y may be o). */
static void scale_rows(const retnet_config *c, float *y, const float *o, const float *f,
                       int64_t B, int64_t T) {
    const int h = c->n_head, dv = c->d_value / h;
#pragma omp parallel for schedule(static) if (B * T * c->d_value > 32768)
    for (int64_t bt = 0; bt < B * T; bt++)
        for (int head = 0; head < h; head++) {
            float fv = f[((bt / T) * h + head) * T + bt % T];
            const float *oi = o + bt * c->d_value + head * dv;
            float *yi = y + bt * c->d_value + head * dv;
            for (int j = 0; j < dv; j++) yi[j] = fv * oi[j];
        }
}

/* y = x W^T [+ y]. A product of few rows (decoding) reads the bf16 copy of W when the model
 * has one: such a product is bound by reading W, and bf16 halves the bytes. */
static void mm(const retnet_model *m, float *y, const float *x, const float *w, int64_t n,
               int64_t N, int64_t K, int accumulate) {
    const uint16_t *wb = m->params_bf16 ? m->params_bf16 + (w - m->params) : NULL;
    if (model_use_bf16(m, n)) {
        op_matmul_bf16(y, x, wb, n, N, K, accumulate);
    } else if (m->bf16_only) { /* many rows: widen the weight once, then BLAS */
        op_bf16_to_f32(m->wconv, wb, N * K);
        op_matmul(y, x, m->wconv, n, N, K, accumulate);
    } else {
        op_matmul(y, x, w, n, N, K, accumulate);
    }
}

/* bf16_only: the widening buffer for the largest 2-D weight, once a product of many rows
 * needs it. */
static retnet_status wconv_ready(retnet_model *m, int64_t rows) {
    if (!m->bf16_only || rows <= BF16_ONLY_MAX_ROWS) return RETNET_OK;
    int64_t max = 0;
    for (int32_t i = 0; i < m->n_tensors; i++)
        if (m->table[i].ndim == 2 && m->table[i].numel > max) max = m->table[i].numel;
    return model_grow(&m->wconv, &m->wconv_floats, max, "widening a bf16 weight");
}

retnet_status retnet_model_set_bf16_decode(retnet_model *m, int on) {
    if (!m) return retnet_fail(RETNET_EINVAL, "set_bf16_decode: NULL model");
    if (m->bf16_only) {
        if (on) return RETNET_OK;
        return retnet_fail(RETNET_EINVAL, "this model holds its weights in bf16 only (loaded "
                           "with RETNET_LOAD_BF16): there is no float32 copy to decode with");
    }
    retnet_free(m->params_bf16);
    m->params_bf16 = NULL;
    if (!on) return RETNET_OK;
    m->params_bf16 = retnet_alloc(sizeof(uint16_t) * (size_t)m->n_params);
    if (!m->params_bf16)
        return retnet_fail(RETNET_ENOMEM, "out of memory for the bf16 weights (%.2f GB)",
                           m->n_params * 2e-9);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < m->n_params; i++) m->params_bf16[i] = op_f32_to_bf16(m->params[i]);
    return RETNET_OK;
}

retnet_status retnet_model_to_device(retnet_model *m, const char *device) {
    if (!m || !device) return retnet_fail(RETNET_EINVAL, "model_to_device: NULL argument");
    int cuda = !strncmp(device, "cuda", 4), ordinal = 0;
    if (cuda && device[4]) {
        char *end = NULL;
        long v = device[4] == ':' && device[5] >= '0' && device[5] <= '9'
                     ? strtol(device + 5, &end, 10) : -1;
        if (v < 0 || v > 1024 || *end) cuda = 0;
        else ordinal = (int)v;
    }
    if (strcmp(device, "cpu") && !cuda)
        return retnet_fail(RETNET_EINVAL, "unknown device '%s'; use cpu, cuda or cuda:N", device);
#ifdef RETNET_CUDA
    model_cuda_free(m->device); /* first: two copies need not fit at once */
    m->device = NULL;
    if (!cuda) return RETNET_OK;
    model_cuda *d = NULL;
    retnet_status st = model_cuda_create(m, ordinal, &d);
    if (st) return st; /* the model stays on the cpu */
    m->device = d;
    return RETNET_OK;
#else
    (void)ordinal;
    if (!cuda) return RETNET_OK;
    return retnet_fail(RETNET_EUNSUPPORTED, "device '%s': this build has no CUDA backend "
                       "(build with make CUDA=1 on a machine with nvcc)", device);
#endif
}

/* Transformer: the naive (materialised scores) attention for the parallel form, the tiled
 * one otherwise (chunkwise, and prefill or decoding on a cache). */
static int attn_naive(const fwd_plan *P) { return P->form == RETNET_FORM_PARALLEL; }

/* Causal softmax attention of layer l (A->q, A->k rotated, A->v) into A->o, A->lse. With
 * states (KV caches) the new keys and values are appended at each sequence's position and
 * its queries attend to the whole cache; without, to their own window. */
static void attention_layer(retnet_model *m, int l, const fwd_plan *P, layer_acts *A) {
    const retnet_config *c = &m->cfg;
    const int h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    const float scale = (float)(1.0 / sqrt((double)dk));
    attention_args a = {.B = P->B, .Tq = P->T, .Tk = P->T, .H = h, .dk = dk, .dv = dv,
                        .scale = scale, .q = A->q, .k = A->k, .v = A->v, .o = A->o,
                        .lse = A->lse};
    if (!P->cache) {
        if (attn_naive(P)) op_attention_naive_forward(&a, P->attn_work);
        else op_attention_flash_forward(&a, P->attn_work);
        return;
    }
    for (int64_t b = 0; b < P->B; b++) {
        float *K = model_kv_cache(c, P->S[b], l), *V = K + (int64_t)c->context * c->d_key;
        int64_t pos = P->pos0[b], T = P->T;
        memcpy(K + pos * c->d_key, A->k + b * T * c->d_key, sizeof(float) * (size_t)(T * c->d_key));
        memcpy(V + pos * c->d_value, A->v + b * T * c->d_value,
               sizeof(float) * (size_t)(T * c->d_value));
        attention_args ab = a;
        ab.B = 1, ab.Tk = pos + T;
        ab.q = A->q + b * T * c->d_key, ab.k = K, ab.v = V;
        ab.o = A->o + b * T * c->d_value, ab.lse = A->lse + b * h * T;
        if (attn_naive(P)) op_attention_naive_forward(&ab, P->attn_work);
        else op_attention_flash_forward(&ab, P->attn_work);
    }
}

retnet_status retnet_model_set_context(retnet_model *m, int32_t context) {
    if (!m) return retnet_fail(RETNET_EINVAL, "set_context: NULL model");
    if (m->cfg.arch != RETNET_ARCH_TRANSFORMER) return RETNET_OK;
    if (context < 1 || context > (1 << 24))
        return retnet_fail(RETNET_EINVAL, "context %d is out of range [1, %d]", context, 1 << 24);
    m->cfg.context = context;
#ifdef RETNET_CUDA
    if (m->device) model_cuda_set_context(m->device, context);
#endif
    return RETNET_OK;
}

/* One layer: Y = MSR(Norm(X)) + X; X' = FFN(Norm(Y)) + Y   (RETNET.md §5); for the
 * Transformer, Y = Attention(Norm(X)) + X. */
static void layer_forward(retnet_model *m, int l, const fwd_plan *P, layer_acts *A) {
    const retnet_config *c = &m->cfg;
    const retnet_layer_params *p = &m->layers[l];
    const int64_t n = P->n, d = c->d_model, h = c->n_head, dk = c->d_key / h;
    const int half = c->rope == RETNET_ROPE_HALF;

    const int tf = c->arch == RETNET_ARCH_TRANSFORMER;
    norm(c, A->xn1, A->x, p->ret_norm_w, p->ret_norm_b, n);
    mm(m, A->q, A->xn1, p->wq, n, c->d_key, d, 0);
    mm(m, A->k, A->xn1, p->wk, n, c->d_key, d, 0);
    mm(m, A->v, A->xn1, p->wv, n, c->d_value, d, 0);
    if (p->wg) mm(m, A->g, A->xn1, p->wg, n, c->d_value, d, 0);
    /* retention folds dk^-0.5 into the keys; attention scales its scores instead */
    const float kscale = tf ? 1.0f : (float)(1.0 / sqrt((double)dk));
    for (int64_t b = 0; b < P->B; b++) {
        op_rope(A->q + b * P->T * c->d_key, c->d_key, P->T, (int)h, (int)dk, P->pos0[b], half,
                c->rope_base, 1.0f);
        op_rope(A->k + b * P->T * c->d_key, c->d_key, P->T, (int)h, (int)dk, P->pos0[b], half,
                c->rope_base, kscale);
    }
    if (tf) {
        attention_layer(m, l, P, A);
        if (A->y != A->o) memcpy(A->y, A->o, sizeof(float) * (size_t)(n * c->d_value));
    } else {
        retention_layer(m, l, P, A);
        if (c->normalize) scale_rows(c, A->y, A->o, A->f, P->B, P->T);
        else if (A->y != A->o) memcpy(A->y, A->o, sizeof(float) * (size_t)(n * c->d_value));
        if (p->wg || c->head_norm != RETNET_HEADNORM_NONE)
            op_head_norm_gate(A->y, A->y, p->wg ? A->g : NULL, p->hn_w, p->hn_b, n, (int)h,
                              c->d_value / (int)h, c->eps, model_head_norm_mode(c));
    }
    if (A->xm != A->x) memcpy(A->xm, A->x, sizeof(float) * (size_t)(n * d));
    if (P->dropout > 0) {
        mm(m, P->branch, A->y, p->wo, n, d, c->d_value, 0);
        add_dropout(A->xm, P->branch, n * d, P->dropout, P->seed, l, 0);
    } else {
        mm(m, A->xm, A->y, p->wo, n, d, c->d_value, 1);
    }

    norm(c, A->xn2, A->xm, p->ffn_norm_w, p->ffn_norm_b, n);
    const int64_t nf = n * c->d_ffn;
    mm(m, A->h1, A->xn2, p->fc1, n, c->d_ffn, d, 0);
    if (c->ffn == RETNET_FFN_GLU) {
        mm(m, A->h2, A->xn2, p->gate, n, c->d_ffn, d, 0);
        if (c->ffn_act == RETNET_ACT_SWISH) op_swish(A->a, A->h1, nf);
        else op_gelu(A->a, A->h1, nf);
        op_mul(A->a, A->a, A->h2, nf);
    } else {
        op_gelu(A->a, A->h1, nf);
    }
    if (A->out != A->xm) memcpy(A->out, A->xm, sizeof(float) * (size_t)(n * d));
    if (P->dropout > 0) {
        mm(m, P->branch, A->a, p->fc2, n, d, c->d_ffn, 0);
        add_dropout(A->out, P->branch, n * d, P->dropout, P->seed, l, 1);
    } else {
        mm(m, A->out, A->a, p->fc2, n, d, c->d_ffn, 1);
    }
}

/* Embedding, all layers, final norm (and the logits when wanted). */
static void model_forward(retnet_model *m, const int32_t *tokens, const fwd_plan *P,
                          float *logits) {
    const retnet_config *c = &m->cfg;
    const int64_t n = P->n, d = c->d_model;
    const float es = c->embed_scale ? sqrtf((float)d) : 1.0f;
    if (m->bf16_only) op_embed_bf16(P->acts[0].x, m->params_bf16 + (m->g.embed - m->params),
                                    tokens, n, d, es);
    else op_embed(P->acts[0].x, m->g.embed, tokens, n, d, es);
    for (int l = 0; l < c->n_layer; l++) layer_forward(m, l, P, &P->acts[l]);
    if (logits) {
        norm(c, P->xnf, P->xf, m->g.norm_w, m->g.norm_b, n);
        mm(m, logits, P->xnf, c->tie_embeddings ? m->g.embed : m->g.out, n, c->vocab, d, 0);
    }
}

/* Checks what every entry point checks. */
static retnet_status check_input(const retnet_model *m, const int32_t *tokens, int32_t B,
                                 int32_t T, int chunk) {
    if (!m || !tokens) return retnet_fail(RETNET_EINVAL, "forward: NULL model or tokens");
    if (B < 1 || T < 1)
        return retnet_fail(RETNET_EINVAL, "forward: need at least one token (B=%d, T=%d)", B, T);
    if (chunk < 0) return retnet_fail(RETNET_EINVAL, "forward: chunk %d must be >= 1", chunk);
    return model_check_tokens(&m->cfg, tokens, B, T);
}

retnet_status model_check_tokens(const retnet_config *c, const int32_t *tokens, int32_t B,
                                 int64_t T) {
    for (int64_t i = 0; i < (int64_t)B * T; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab)
            return retnet_fail(RETNET_EINVAL, "token %d of sequence %lld at position %lld is out "
                               "of range: the model's vocabulary is 0..%d", tokens[i],
                               (long long)(i / T), (long long)(i % T), c->vocab - 1);
    return RETNET_OK;
}

/* Per-sequence state pointers and positions, kept in the model so a decoding step allocates
 * nothing. */
static retnet_status seq_arrays(retnet_model *m, int32_t B) {
    if (B <= m->seq_cap) return RETNET_OK;
    free(m->seq_state);
    free(m->seq_pos);
    m->seq_state = malloc(sizeof(float *) * (size_t)B);
    m->seq_pos = malloc(sizeof(int64_t) * (size_t)B);
    m->seq_cap = m->seq_state && m->seq_pos ? B : 0;
    return m->seq_cap ? RETNET_OK : retnet_fail(RETNET_ENOMEM, "out of memory");
}

static retnet_status acts_array(retnet_model *m) {
    if (m->acts_cap >= m->cfg.n_layer) return RETNET_OK;
    free(m->acts);
    m->acts = calloc((size_t)m->cfg.n_layer, sizeof(layer_acts));
    m->acts_cap = m->acts ? m->cfg.n_layer : 0;
    return m->acts ? RETNET_OK : retnet_fail(RETNET_ENOMEM, "out of memory");
}

retnet_status retnet_forward(retnet_model *m, const int32_t *tokens, int32_t B, int32_t T,
                             retnet_form form, int32_t chunk, retnet_state *states,
                             float *logits) {
    retnet_status st = check_input(m, tokens, B, T, chunk);
    if (st) return st;
    if ((unsigned)form > RETNET_FORM_RECURRENT)
        return retnet_fail(RETNET_EINVAL, "forward: unknown form %d", (int)form);
    const retnet_config *c = &m->cfg;
    if (states)
        for (int32_t b = 0; b < B; b++)
            if (!states[b].data || states[b].pos < 0 || states[b].pos > INT64_MAX / 2 - T)
                return retnet_fail(RETNET_EINVAL, "forward: state %d is invalid", b);
#ifdef RETNET_CUDA
    if (m->device) return model_cuda_forward(m, tokens, B, T, form, states, logits);
#endif
    const int tf = c->arch == RETNET_ARCH_TRANSFORMER;
    int64_t tk_max = T; /* transformer: the longest key range of a query */
    if (tf && states)
        for (int32_t b = 0; b < B; b++) {
            if (states[b].pos + T > c->context)
                return model_cache_overflow(c, b, states[b].pos + T);
            if (states[b].pos + T > tk_max) tk_max = states[b].pos + T;
        }
    if ((st = seq_arrays(m, B))) return st;
    if (form == RETNET_FORM_RECURRENT && T == 1 && B <= DECODE_MAX_B && states) {
        for (int32_t b = 0; b < B; b++) {
            m->seq_state[b] = states[b].data;
            m->seq_pos[b] = states[b].pos;
        }
        if ((st = model_decode(m, tokens, B, m->seq_state, m->seq_pos, logits))) return st;
        for (int32_t b = 0; b < B; b++) states[b].pos += 1;
        return RETNET_OK;
    }

    /* Inference: one set of activations for all layers, updated in place. */
    fwd_plan P = {.B = B, .T = T, .n = (int64_t)B * T, .form = form,
                  .C = chunk ? chunk : c->chunk};
    const int64_t n = P.n, h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    const int64_t sf = retnet_state_floats(c);
    int threads = omp_get_max_threads();
    plan_split(B * h, (int)dv, threads, &P.nsplit, &P.slice);
    P.work_per_thread = tf ? 0 : form_work(form, T, P.C, (int)dk, P.slice);
    P.cache = tf && states;
    int64_t attn = !tf ? 0 : attn_naive(&P) ? op_attention_naive_work(T, tk_max, threads)
                                            : op_attention_flash_work((int)dk, (int)dv, threads);
    layer_acts A = {0};
    float *zstate = NULL;
    const int nz = c->normalize && !tf;
    int64_t sizes[] = {n * c->d_model, n * c->d_model, n * c->d_key, n * c->d_key,
                       n * c->d_value, n * c->d_value, n * c->d_value,
                       nz ? n * h : 0, nz ? n * h : 0, tf ? n * h : 0,
                       n * c->d_ffn, c->ffn == RETNET_FFN_GLU ? n * c->d_ffn : 0,
                       states || tf ? 0 : B * sf, threads * P.work_per_thread, attn};
    float **slots[] = {&A.x, &A.xn1, &A.q, &A.k, &A.v, &A.g, &A.o, &A.rsum, &A.f, &A.lse,
                       &A.h1, &A.h2, &zstate, &P.work, &P.attn_work};
    int64_t total = carve(NULL, slots, sizes, 15);
    if ((st = model_grow(&m->scratch, &m->scratch_floats, total, "the forward pass"))) return st;
    if (4 * total > m->scratch_peak_bytes) m->scratch_peak_bytes = 4 * total;
    carve(m->scratch, slots, sizes, 15);
    A.y = A.o, A.xm = A.x, A.xn2 = A.xn1, A.a = A.h1, A.out = A.x;
    if (zstate) memset(zstate, 0, sizeof(float) * (size_t)(B * sf));
    for (int32_t b = 0; b < B; b++) {
        m->seq_state[b] = states ? states[b].data : zstate ? zstate + b * sf : NULL;
        m->seq_pos[b] = states ? states[b].pos : 0;
    }
    P.S = m->seq_state;
    P.pos0 = m->seq_pos;
    P.xf = A.x;
    P.xnf = A.xn1;
    /* every layer's entry is the same shared set */
    if ((st = acts_array(m))) return st;
    layer_acts *acts = m->acts;
    for (int l = 0; l < c->n_layer; l++) acts[l] = A;
    P.acts = acts;
    if ((st = wconv_ready(m, n))) return st;
    model_forward(m, tokens, &P, logits);
    if (states)
        for (int32_t b = 0; b < B; b++) states[b].pos += T;
    return RETNET_OK;
}

/* ------------------------------------------------------------------ backward */

/* The gradient buffer's tensor that mirrors parameter pointer p (NULL stays NULL). */
#define GRAD(p) ((p) ? grads + ((p) - m->params) : NULL)

/* Training-only buffers besides the per-layer activations. */
typedef struct {
    float *logits;                 /* (n, V), turned into dlogits in place */
    float *dx, *dxn;               /* (n, d) gradient of the residual stream, of a norm's output */
    float *dbranch;                /* (n, d) gradient of a residual branch before dropout */
    float *dq, *dk, *dv, *dg, *dy; /* (n, d_key) x 2, (n, d_value) x 3 */
    float *drsum;                  /* (B, h, T) */
    float *dh1, *dh2, *da, *act;   /* (n, d_ffn) */
} bwd_bufs;

/* The gradient of a residual branch's output before dropout: the same mask and scale. */
static const float *branch_grad(const fwd_plan *P, const float *dout, float *dbranch, int l,
                                int which, int64_t count) {
    if (P->dropout <= 0) return dout;
    float scale = 1.0f / (1.0f - P->dropout);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; i++)
        dbranch[i] = dropout_keep(P->seed, l, which, i, P->dropout) ? dout[i] * scale : 0.0f;
    return dbranch;
}

/* Backward of layer l: on entry G->dx holds d loss / d out; on exit d loss / d x. */
static void layer_backward(retnet_model *m, int l, const fwd_plan *P, const layer_acts *A,
                           bwd_bufs *G, float *grads) {
    const retnet_config *c = &m->cfg;
    const retnet_layer_params *p = &m->layers[l];
    const int64_t n = P->n, d = c->d_model, B = P->B, T = P->T, nf = n * c->d_ffn;
    const int h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    const int half = c->rope == RETNET_ROPE_HALF;

    /* ---- FFN: out = xm + fc2(a), a = act(h1) [* h2] */
    const float *db = branch_grad(P, G->dx, G->dbranch, l, 1, n * d);
    memset(G->da, 0, sizeof(float) * (size_t)nf);
    op_matmul_backward(G->da, GRAD(p->fc2), db, A->a, p->fc2, n, d, c->d_ffn);
    memset(G->dh1, 0, sizeof(float) * (size_t)nf);
    if (c->ffn == RETNET_FFN_GLU) {
        /* a = act(h1) * h2:  dh2 = da * act(h1),  d act = da * h2 */
        if (c->ffn_act == RETNET_ACT_SWISH) op_swish(G->act, A->h1, nf);
        else op_gelu(G->act, A->h1, nf);
        op_mul(G->dh2, G->da, G->act, nf);
        op_mul(G->da, G->da, A->h2, nf);
        if (c->ffn_act == RETNET_ACT_SWISH) op_swish_backward(G->dh1, G->da, A->h1, nf);
        else op_gelu_backward(G->dh1, G->da, A->h1, nf);
    } else {
        op_gelu_backward(G->dh1, G->da, A->h1, nf);
    }
    memset(G->dxn, 0, sizeof(float) * (size_t)(n * d));
    op_matmul_backward(G->dxn, GRAD(p->fc1), G->dh1, A->xn2, p->fc1, n, c->d_ffn, d);
    if (c->ffn == RETNET_FFN_GLU)
        op_matmul_backward(G->dxn, GRAD(p->gate), G->dh2, A->xn2, p->gate, n, c->d_ffn, d);
    /* dx (now d/d xm) += Norm backward; the residual passes G->dx through unchanged */
    norm_backward(c, G->dx, GRAD(p->ffn_norm_w), GRAD(p->ffn_norm_b), G->dxn, A->xm,
                  p->ffn_norm_w, n);

    /* ---- mixer: xm = x + out_proj(y) */
    db = branch_grad(P, G->dx, G->dbranch, l, 0, n * d);
    memset(G->dy, 0, sizeof(float) * (size_t)(n * c->d_value));
    op_matmul_backward(G->dy, GRAD(p->wo), db, A->y, p->wo, n, d, c->d_value);
    memset(G->dq, 0, sizeof(float) * (size_t)(n * c->d_key));
    memset(G->dk, 0, sizeof(float) * (size_t)(n * c->d_key));
    memset(G->dv, 0, sizeof(float) * (size_t)(n * c->d_value));
    if (c->arch == RETNET_ARCH_TRANSFORMER) {
        /* y = o = attention(q, k, v) */
        attention_grad_args a = {.B = B, .Tq = T, .Tk = T, .H = h, .dk = dk, .dv = dv,
                                 .scale = (float)(1.0 / sqrt((double)dk)), .q = A->q, .k = A->k,
                                 .v = A->v, .o = A->o, .lse = A->lse, .dout = G->dy,
                                 .dq = G->dq, .dk_ = G->dk, .dv_ = G->dv};
        if (attn_naive(P)) op_attention_naive_backward(&a, P->attn_work);
        else op_attention_flash_backward(&a, P->attn_work);
    } else {
        /* the head norm's input f * o, rebuilt in G->dv (free until the retention backward) */
        float *fo = G->dv;
        if (c->normalize) scale_rows(c, fo, A->o, A->f, B, T);
        else memcpy(fo, A->o, sizeof(float) * (size_t)(n * c->d_value));
        if (p->wg) memset(G->dg, 0, sizeof(float) * (size_t)(n * c->d_value));
        float *d_fo = G->act; /* free after the FFN; sized max(n d_ffn, n d_value) */
        memset(d_fo, 0, sizeof(float) * (size_t)(n * c->d_value));
        op_head_norm_gate_backward(d_fo, p->wg ? G->dg : NULL, GRAD(p->hn_w), GRAD(p->hn_b), G->dy,
                                   fo, p->wg ? A->g : NULL, p->hn_w, p->hn_b, n, h, dv, c->eps,
                                   model_head_norm_mode(c));
        /* §3: (f*o)' -> d o = f * d(fo); d f = <d(fo), o>; f = s/max(|s r|, 1) -> d r */
        if (c->normalize) {
#pragma omp parallel for schedule(static) if (B * T * c->d_value > 32768)
            for (int64_t bh = 0; bh < B * h; bh++) {
                int64_t b = bh / h;
                int head = (int)(bh % h);
                for (int64_t t = 0; t < T; t++) {
                    float *dfr = d_fo + (b * T + t) * c->d_value + (int64_t)head * dv;
                    const float *orow = A->o + (b * T + t) * c->d_value + (int64_t)head * dv;
                    float fv = A->f[bh * T + t];
                    double dfv = 0;
                    for (int j = 0; j < dv; j++) {
                        dfv += (double)dfr[j] * orow[j];
                        dfr[j] *= fv;
                    }
                    double sn = model_decay_row_scale(m->gamma[head], P->pos0[b] + t);
                    double r = A->rsum[bh * T + t];
                    /* |s r| > 1: f = 1/|r|, df/dr = -sign(r)/r^2; otherwise f = s, df/dr = 0 */
                    G->drsum[bh * T + t] =
                        fabs(sn * r) > 1.0 ? (float)(-dfv * (r > 0 ? 1.0 : -1.0) / (r * r)) : 0.0f;
                }
            }
        }
        memset(G->dv, 0, sizeof(float) * (size_t)(n * c->d_value)); /* fo no longer needed */
        /* retention backward, one task per (sequence, head): dq, dk, dv from d o and d rsum */
#pragma omp parallel for schedule(dynamic)
        for (int64_t bh = 0; bh < B * h; bh++) {
            int64_t b = bh / h;
            int head = (int)(bh % h);
            retention_grad_args a = {
                .T = T, .dk = dk, .dv = dv,
                .q = A->q + b * T * c->d_key + head * dk, .ldq = c->d_key,
                .k = A->k + b * T * c->d_key + head * dk, .ldk = c->d_key,
                .v = A->v + b * T * c->d_value + head * dv, .ldv = c->d_value,
                .dout = d_fo + b * T * c->d_value + head * dv, .lddo = c->d_value,
                .drsum = c->normalize ? G->drsum + bh * T : NULL,
                .dq = G->dq + b * T * c->d_key + head * dk, .lddq = c->d_key,
                .dk_ = G->dk + b * T * c->d_key + head * dk, .lddk = c->d_key,
                .dv_ = G->dv + b * T * c->d_value + head * dv, .lddv = c->d_value,
                .gamma = m->gamma[head],
            };
            float *work = P->work + omp_get_thread_num() * P->work_per_thread;
            if (P->form == RETNET_FORM_PARALLEL) retention_parallel_backward(&a, work);
            else retention_chunkwise_backward(&a, P->C, work);
        }
    }
    for (int64_t b = 0; b < B; b++) {
        op_rope_backward(G->dq + b * T * c->d_key, c->d_key, T, h, dk, P->pos0[b], half,
                         c->rope_base, 1.0f);
        op_rope_backward(G->dk + b * T * c->d_key, c->d_key, T, h, dk, P->pos0[b], half,
                         c->rope_base, c->arch == RETNET_ARCH_TRANSFORMER
                                           ? 1.0f : (float)(1.0 / sqrt((double)dk)));
    }
    memset(G->dxn, 0, sizeof(float) * (size_t)(n * d));
    op_matmul_backward(G->dxn, GRAD(p->wq), G->dq, A->xn1, p->wq, n, c->d_key, d);
    op_matmul_backward(G->dxn, GRAD(p->wk), G->dk, A->xn1, p->wk, n, c->d_key, d);
    op_matmul_backward(G->dxn, GRAD(p->wv), G->dv, A->xn1, p->wv, n, c->d_value, d);
    if (p->wg) op_matmul_backward(G->dxn, GRAD(p->wg), G->dg, A->xn1, p->wg, n, c->d_value, d);
    norm_backward(c, G->dx, GRAD(p->ret_norm_w), GRAD(p->ret_norm_b), G->dxn, A->x,
                  p->ret_norm_w, n);
}

retnet_status retnet_forward_backward(retnet_model *m, const int32_t *tokens,
                                      const int32_t *targets, int32_t B, int32_t T,
                                      const retnet_train_opts *opts, float grad_scale,
                                      float *grads, double *loss_sum, int64_t *count) {
    retnet_status st = check_input(m, tokens, B, T, opts ? opts->chunk : 0);
    if (st) return st;
    if (!opts || !targets || !grads)
        return retnet_fail(RETNET_EINVAL, "forward_backward: NULL options, targets or grads");
    if (opts->form != RETNET_FORM_PARALLEL && opts->form != RETNET_FORM_CHUNKWISE)
        return retnet_fail(RETNET_EINVAL, "training runs the parallel or the chunkwise form, "
                           "not '%s'", retnet_form_name(opts->form));
    if (m && (st = model_need_f32(m, "training")))
        return st;
    if (m && m->device) /* its weights may have moved on there: the host copy can be stale */
        return retnet_fail(RETNET_EINVAL, "forward_backward computes on the cpu, and this model "
                           "is on a GPU: train it with retnet_trainer, or move it back first "
                           "(retnet_model_to_device(m, \"cpu\"))");
    if (!(opts->dropout >= 0.0f && opts->dropout < 1.0f))
        return retnet_fail(RETNET_EINVAL, "dropout %g must be in [0, 1)", (double)opts->dropout);
    const retnet_config *c = &m->cfg;
    for (int64_t i = 0; i < (int64_t)B * T; i++)
        if (targets[i] >= c->vocab)
            return retnet_fail(RETNET_EINVAL, "target %d at position %lld is out of range: the "
                               "model's vocabulary is 0..%d", targets[i], (long long)i,
                               c->vocab - 1);
    if ((st = seq_arrays(m, B)) || (st = acts_array(m))) return st;

    fwd_plan P = {.B = B, .T = T, .n = (int64_t)B * T, .form = opts->form,
                  .C = opts->chunk ? opts->chunk : c->chunk, .dropout = opts->dropout,
                  .seed = opts->seed};
    const int64_t n = P.n, d = c->d_model, h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    const int L = c->n_layer, glu = c->ffn == RETNET_FFN_GLU;
    const int tf = c->arch == RETNET_ARCH_TRANSFORMER, nz = c->normalize && !tf;
    const int64_t sf = retnet_state_floats(c);
    int threads = omp_get_max_threads();
    plan_split(B * h, (int)dv, threads, &P.nsplit, &P.slice);
    int64_t wf = form_work(P.form, T, P.C, (int)dk, P.slice);
    int64_t wb = P.form == RETNET_FORM_PARALLEL ? retention_parallel_backward_work(T, (int)dk, (int)dv)
                                                : retention_chunkwise_backward_work(T, P.C, (int)dk, (int)dv);
    P.work_per_thread = tf ? 0 : wf > wb ? wf : wb;
    int64_t attn = 0;
    if (tf) {
        int64_t af = attn_naive(&P) ? op_attention_naive_work(T, T, threads)
                                    : op_attention_flash_work((int)dk, (int)dv, threads);
        int64_t ab = attn_naive(&P) ? op_attention_naive_backward_work(T, T, threads)
                                    : op_attention_flash_backward_work(B, T, (int)h, (int)dk,
                                                                       (int)dv, threads);
        attn = af > ab ? af : ab;
    }

    /* Per layer: the activations the backward reads (layer_acts); then the rest. */
    layer_acts *acts = m->acts;
    bwd_bufs G = {0};
    float *zstate = NULL, *xs_last = NULL;
    enum { PER_LAYER = 16 };
    int64_t nslots = (int64_t)L * PER_LAYER + 20;
    int64_t *sizes = calloc((size_t)nslots, sizeof(int64_t));
    float ***slots = calloc((size_t)nslots, sizeof(float **));
    if (!sizes || !slots) {
        free(sizes);
        free(slots);
        return retnet_fail(RETNET_ENOMEM, "out of memory");
    }
    int k = 0;
#define SLOT(ptr, size) (slots[k] = &(ptr), sizes[k] = (size), k++)
    for (int l = 0; l < L; l++) {
        layer_acts *A = &acts[l];
        memset(A, 0, sizeof *A);
        SLOT(A->x, n * d);
        SLOT(A->xn1, n * d);
        SLOT(A->q, n * c->d_key);
        SLOT(A->k, n * c->d_key);
        SLOT(A->v, n * c->d_value);
        SLOT(A->g, m->layers[l].wg ? n * c->d_value : 0);
        SLOT(A->o, n * c->d_value);
        SLOT(A->rsum, nz ? n * h : 0);
        SLOT(A->f, nz ? n * h : 0);
        SLOT(A->lse, tf ? n * h : 0);
        SLOT(A->y, n * c->d_value);
        SLOT(A->xm, n * d);
        SLOT(A->xn2, n * d);
        SLOT(A->h1, n * c->d_ffn);
        SLOT(A->h2, glu ? n * c->d_ffn : 0);
        SLOT(A->a, n * c->d_ffn);
    }
    int64_t nfv = n * (c->d_ffn > c->d_value ? c->d_ffn : c->d_value);
    SLOT(xs_last, n * d);
    SLOT(P.xnf, n * d);
    SLOT(P.branch, P.dropout > 0 ? n * d : 0);
    SLOT(zstate, tf ? 0 : B * sf);
    SLOT(P.work, threads * P.work_per_thread);
    SLOT(P.attn_work, attn);
    SLOT(G.logits, n * c->vocab);
    SLOT(G.dx, n * d);
    SLOT(G.dxn, n * d);
    SLOT(G.dbranch, P.dropout > 0 ? n * d : 0);
    SLOT(G.dq, n * c->d_key);
    SLOT(G.dk, n * c->d_key);
    SLOT(G.dv, n * c->d_value);
    SLOT(G.dg, n * c->d_value);
    SLOT(G.dy, n * c->d_value);
    SLOT(G.drsum, nz ? n * h : 0);
    SLOT(G.dh1, n * c->d_ffn);
    SLOT(G.dh2, glu ? n * c->d_ffn : 0);
    SLOT(G.da, n * c->d_ffn);
    SLOT(G.act, nfv);
#undef SLOT
    int64_t total = carve(NULL, slots, sizes, k);
    st = model_grow(&m->train, &m->train_floats, total, "training activations");
    if (st == RETNET_OK) carve(m->train, slots, sizes, k);
    free(sizes);
    free(slots);
    if (st) return st;
    if (4 * total > m->scratch_peak_bytes) m->scratch_peak_bytes = 4 * total;
    for (int l = 0; l < L; l++) acts[l].out = l + 1 < L ? acts[l + 1].x : xs_last;
    P.xf = xs_last;
    P.acts = acts;
    if (zstate) memset(zstate, 0, sizeof(float) * (size_t)(B * sf));
    for (int32_t b = 0; b < B; b++) {
        m->seq_state[b] = zstate ? zstate + b * sf : NULL;
        m->seq_pos[b] = 0;
    }
    P.S = m->seq_state;
    P.pos0 = m->seq_pos;

    /* forward, loss, and d loss / d logits (in place) */
    model_forward(m, tokens, &P, G.logits);
    int64_t cnt = 0;
    double loss = op_cross_entropy(G.logits, G.logits, targets, n, c->vocab, grad_scale, &cnt);
    if (loss_sum) *loss_sum = loss;
    if (count) *count = cnt;

    /* backward: logits = Norm(xf) Wout^T */
    const float *wout = c->tie_embeddings ? m->g.embed : m->g.out;
    memset(G.dxn, 0, sizeof(float) * (size_t)(n * d));
    op_matmul_backward(G.dxn, GRAD(wout), G.logits, P.xnf, wout, n, c->vocab, d);
    memset(G.dx, 0, sizeof(float) * (size_t)(n * d));
    norm_backward(c, G.dx, GRAD(m->g.norm_w), GRAD(m->g.norm_b), G.dxn, P.xf, m->g.norm_w, n);
    for (int l = L - 1; l >= 0; l--) layer_backward(m, l, &P, &acts[l], &G, grads);
    op_embed_backward(GRAD(m->g.embed), G.dx, tokens, n, d,
                      c->embed_scale ? sqrtf((float)d) : 1.0f);
    return RETNET_OK;
}

int64_t retnet_model_device_bytes(const retnet_model *m) {
#ifdef RETNET_CUDA
    return m && m->device ? model_cuda_bytes(m->device) : 0;
#else
    (void)m;
    return 0;
#endif
}
