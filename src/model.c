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
#include "model.h"
#include "ops/ops.h"

#include <math.h>
#include <omp.h>
#include <string.h>

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
    for (int32_t i = 0; i < m->n_tensors; i++)
        retnet_param_init(&m->cfg, &m->table[i], i, seed, m->params + m->table[i].offset);
    return RETNET_OK;
}

void retnet_model_free(retnet_model *m) {
    if (!m) return;
    retnet_free(m->params);
    retnet_free(m->scratch);
    free(m->table);
    free(m->layers);
    free(m->gamma);
    free(m->seq_state);
    free(m->seq_pos);
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
    out->data = m->params + p->offset;
    return RETNET_OK;
}

int64_t retnet_model_scratch_bytes(const retnet_model *m) { return m->scratch_peak_bytes; }

/* ------------------------------------------------------------------ forward */

/* The scratch of one forward call, carved out of m->scratch. */
typedef struct {
    float *x, *xn, *q, *k, *v, *g, *o, *h1, *h2, *rsum, *zstate, *work;
    int64_t work_per_thread;
    int nsplit, slice;
} fwd_buffers;

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

static retnet_status plan(retnet_model *m, int64_t B, int64_t T, retnet_form form, int C,
                          int need_zero_states, fwd_buffers *fb) {
    const retnet_config *c = &m->cfg;
    const int64_t n = B * T, h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    int threads = omp_get_max_threads();
    plan_split(B * h, (int)dv, threads, &fb->nsplit, &fb->slice);
    fb->work_per_thread = form_work(form, T, C, (int)dk, fb->slice);
    int64_t sizes[] = {
        n * c->d_model, n * c->d_model,                  /* x, xn */
        n * c->d_key, n * c->d_key,                      /* q, k */
        n * c->d_value, n * c->d_value, n * c->d_value,  /* v, g, o */
        n * c->d_ffn, c->ffn == RETNET_FFN_GLU ? n * c->d_ffn : 0,
        c->normalize ? n * h : 0,                        /* rsum */
        need_zero_states ? B * retnet_state_floats(c) : 0,
        threads * fb->work_per_thread,
    };
    float **slots[] = {&fb->x, &fb->xn, &fb->q, &fb->k, &fb->v, &fb->g, &fb->o,
                       &fb->h1, &fb->h2, &fb->rsum, &fb->zstate, &fb->work};
    int64_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        total += (sizes[i] + 15) / 16 * 16; /* 64-byte aligned pieces */
    if (total > m->scratch_floats) {
        retnet_free(m->scratch);
        m->scratch = retnet_alloc(sizeof(float) * (size_t)total);
        m->scratch_floats = m->scratch ? total : 0;
        if (!m->scratch)
            return retnet_fail(RETNET_ENOMEM, "out of memory: forward of B=%lld T=%lld needs "
                               "%.2f GB of scratch", (long long)B, (long long)T, total * 4e-9);
    }
    if (4 * total > m->scratch_peak_bytes) m->scratch_peak_bytes = 4 * total;
    float *p = m->scratch;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *slots[i] = sizes[i] ? p : NULL;
        p += (sizes[i] + 15) / 16 * 16;
    }
    if (fb->zstate) memset(fb->zstate, 0, sizeof(float) * (size_t)B * retnet_state_floats(c));
    return RETNET_OK;
}

static void norm(const retnet_config *c, float *y, const float *x, const float *w,
                 const float *b, int64_t n) {
    if (c->norm == RETNET_NORM_LAYERNORM) op_layernorm(y, x, w, b, n, c->d_model, c->eps);
    else op_rmsnorm(y, x, w, n, c->d_model, c->eps);
}

/* 1 / sqrt(sum_{i=0..p} gamma^i): the §3 decay-row normalisation at absolute position p. */
static double decay_row_scale(double gamma, int64_t p) {
    double sum = gamma < 1.0 ? -expm1((double)(p + 1) * log(gamma)) / (1.0 - gamma)
                             : (double)(p + 1);
    return 1.0 / sqrt(sum);
}

/* Multi-scale retention of layer l over all sequences: o = retention of (q, k, v). */
static void retention_layer(retnet_model *m, int l, int64_t B, int64_t T, retnet_form form,
                            int C, float *const *S, const int64_t *pos0, fwd_buffers *fb) {
    const retnet_config *c = &m->cfg;
    const int h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    const int64_t per_layer = retnet_state_floats(c) / c->n_layer;
    const int64_t ntask = B * h * fb->nsplit;
    /* Tiny calls (a short sequence of a tiny model) run on one thread: waking the others
     * costs more than the work. */
#pragma omp parallel for schedule(dynamic) if (B * T * c->d_key * dv > 32768)
    for (int64_t task = 0; task < ntask; task++) {
        int64_t b = task / (h * fb->nsplit);
        int head = (int)(task / fb->nsplit % h), s = (int)(task % fb->nsplit);
        int c0 = s * fb->slice, width = dv - c0 < fb->slice ? dv - c0 : fb->slice;
        float *state = S[b] + l * per_layer;
        int with_norm = c->normalize && s == 0; /* the row sums are the same for every slice */
        retention_args a = {
            .T = T, .dk = dk, .dv = width,
            .q = fb->q + b * T * c->d_key + head * dk, .ldq = c->d_key,
            .k = fb->k + b * T * c->d_key + head * dk, .ldk = c->d_key,
            .v = fb->v + b * T * c->d_value + head * dv + c0, .ldv = c->d_value,
            .o = fb->o + b * T * c->d_value + head * dv + c0, .ldo = c->d_value,
            .gamma = m->gamma[head],
            .S = state + (int64_t)head * dk * dv + c0, .ldS = dv,
            .z = with_norm ? state + (int64_t)h * dk * dv + (int64_t)head * dk : NULL,
            .rsum = with_norm ? fb->rsum + (b * h + head) * T : NULL,
        };
        float *work = fb->work + omp_get_thread_num() * fb->work_per_thread;
        if (form == RETNET_FORM_PARALLEL) retention_parallel_forward(&a, work);
        else if (form == RETNET_FORM_CHUNKWISE) retention_chunkwise_forward(&a, C, work);
        else retention_recurrent_forward(&a, work);
    }
    if (!c->normalize) return;
    /* §3: row n of head i is scaled by s_n / max(|s_n * rowsum_n|, 1), s_n the decay-row
     * normalisation; the same scalar in every form, so the forms agree with any eps. */
#pragma omp parallel for schedule(static) if (B * T * c->d_value > 32768)
    for (int64_t bh = 0; bh < B * h; bh++) {
        int64_t b = bh / h;
        int head = (int)(bh % h);
        for (int64_t t = 0; t < T; t++) {
            double sn = decay_row_scale(m->gamma[head], pos0[b] + t);
            double r = fabs(sn * fb->rsum[bh * T + t]);
            float f = (float)(sn / (r > 1.0 ? r : 1.0));
            float *o = fb->o + (b * T + t) * c->d_value + (int64_t)head * dv;
            for (int j = 0; j < dv; j++) o[j] *= f;
        }
    }
}

retnet_status retnet_forward(retnet_model *m, const int32_t *tokens, int32_t B, int32_t T,
                             retnet_form form, int32_t chunk, retnet_state *states,
                             float *logits) {
    if (!m || !tokens) return retnet_fail(RETNET_EINVAL, "forward: NULL model or tokens");
    if (B < 1 || T < 1)
        return retnet_fail(RETNET_EINVAL, "forward: need at least one token (B=%d, T=%d)", B, T);
    if ((unsigned)form > RETNET_FORM_RECURRENT)
        return retnet_fail(RETNET_EINVAL, "forward: unknown form %d", (int)form);
    if (chunk < 0) return retnet_fail(RETNET_EINVAL, "forward: chunk %d must be >= 1", chunk);
    const retnet_config *c = &m->cfg;
    int C = chunk ? chunk : c->chunk;
    for (int64_t i = 0; i < (int64_t)B * T; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab)
            return retnet_fail(RETNET_EINVAL, "token %d at position %lld is out of range: the "
                               "model's vocabulary is 0..%d", tokens[i], (long long)i,
                               c->vocab - 1);
    if (states)
        for (int32_t b = 0; b < B; b++)
            if (!states[b].data || states[b].pos < 0 || states[b].pos > INT64_MAX / 2 - T)
                return retnet_fail(RETNET_EINVAL, "forward: state %d is invalid", b);

    fwd_buffers fb;
    retnet_status st = plan(m, B, T, form, C, states == NULL, &fb);
    if (st) return st;
    const int64_t n = (int64_t)B * T, d = c->d_model, h = c->n_head, dk = c->d_key / h;
    const int64_t sf = retnet_state_floats(c);
    if (B > m->seq_cap) {
        free(m->seq_state);
        free(m->seq_pos);
        m->seq_state = malloc(sizeof(float *) * (size_t)B);
        m->seq_pos = malloc(sizeof(int64_t) * (size_t)B);
        m->seq_cap = m->seq_state && m->seq_pos ? B : 0;
        if (!m->seq_cap) return retnet_fail(RETNET_ENOMEM, "out of memory");
    }
    float **Sptr = m->seq_state;
    int64_t *pos0 = m->seq_pos;
    for (int32_t b = 0; b < B; b++) {
        Sptr[b] = states ? states[b].data : fb.zstate + b * sf;
        pos0[b] = states ? states[b].pos : 0;
    }

    op_embed(fb.x, m->g.embed, tokens, n, d, c->embed_scale ? sqrtf((float)d) : 1.0f);
    for (int l = 0; l < c->n_layer; l++) {
        const retnet_layer_params *p = &m->layers[l];
        /* Y = MSR(Norm(X)) + X */
        norm(c, fb.xn, fb.x, p->ret_norm_w, p->ret_norm_b, n);
        op_matmul(fb.q, fb.xn, p->wq, n, c->d_key, d, 0);
        op_matmul(fb.k, fb.xn, p->wk, n, c->d_key, d, 0);
        op_matmul(fb.v, fb.xn, p->wv, n, c->d_value, d, 0);
        op_matmul(fb.g, fb.xn, p->wg, n, c->d_value, d, 0);
        for (int32_t b = 0; b < B; b++) {
            int half = c->rope == RETNET_ROPE_HALF;
            op_rope(fb.q + b * T * c->d_key, c->d_key, T, (int)h, (int)dk, pos0[b], half,
                    c->rope_base, 1.0f);
            op_rope(fb.k + b * T * c->d_key, c->d_key, T, (int)h, (int)dk, pos0[b], half,
                    c->rope_base, (float)(1.0 / sqrt((double)dk)));
        }
        retention_layer(m, l, B, T, form, C, Sptr, pos0, &fb);
        op_head_norm_gate(fb.o, fb.o, fb.g, p->hn_w, p->hn_b, n, (int)h, c->d_value / (int)h,
                          c->eps, c->head_norm == RETNET_HEADNORM_GROUPNORM);
        op_matmul(fb.x, fb.o, p->wo, n, d, c->d_value, 1);
        /* X = FFN(Norm(Y)) + Y */
        norm(c, fb.xn, fb.x, p->ffn_norm_w, p->ffn_norm_b, n);
        op_matmul(fb.h1, fb.xn, p->fc1, n, c->d_ffn, d, 0);
        if (c->ffn == RETNET_FFN_GLU) {
            op_matmul(fb.h2, fb.xn, p->gate, n, c->d_ffn, d, 0);
            if (c->ffn_act == RETNET_ACT_SWISH) op_swish(fb.h1, fb.h1, n * c->d_ffn);
            else op_gelu(fb.h1, fb.h1, n * c->d_ffn);
            op_mul(fb.h1, fb.h1, fb.h2, n * c->d_ffn);
        } else {
            op_gelu(fb.h1, fb.h1, n * c->d_ffn);
        }
        op_matmul(fb.x, fb.h1, p->fc2, n, d, c->d_ffn, 1);
    }
    if (logits) {
        norm(c, fb.xn, fb.x, m->g.norm_w, m->g.norm_b, n);
        op_matmul(logits, fb.xn, c->tie_embeddings ? m->g.embed : m->g.out, n, c->vocab, d, 0);
    }
    if (states)
        for (int32_t b = 0; b < B; b++) states[b].pos += T;
    return RETNET_OK;
}
