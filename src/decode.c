/*
 * decode.c: one decoding step: one new token for each of B sequences, the recurrent form,
 * each sequence continuing from its caller-owned state. It computes what model.c's forward
 * computes with T = 1 (the same kernels row by row), organised for what bounds a decoding
 * step: reading every weight once.
 *
 *  - One OpenMP parallel region per step, not one per op: a small model's token takes about
 *    a millisecond, and ~50 regions per token cost a fifth of it in wake-ups and barriers.
 *    Inside, each stage is a work-shared loop; ops on one row (norms, the gate) are short.
 *  - Every matrix product is split by output columns over the threads (op_matvec_cols): each
 *    core streams its own weight rows, and a column's value depends on nothing but j.
 *  - Retention is split by blocks of key rows (each task streams a contiguous part of the
 *    state) and the blocks' partial outputs are summed in block order, as
 *    retention_recurrent_forward sums them. The rotation is applied per block as the rows
 *    are read, so there is no separate rope stage.
 *
 * Nothing here depends on the thread count or on B (up to DECODE_MAX_B): a sequence decoded
 * in a batch gets the bits it gets alone. Nothing is allocated after the first call.
 */
#include "model.h"
#include "ops/ops.h"

#include <omp.h>
#include <string.h>

#define COL_BLOCK 16 /* output columns per work-shared task of a product */

typedef struct {
    int32_t B;
    const int32_t *tokens;
    float *const *S;
    const int64_t *pos;
    float *logits;
    int bf16;
    float *x, *xn, *q, *k, *qr, *kr, *v, *g, *y, *part, *h1, *h2, *cs;
    double *rpart;
    int nblk;  /* row blocks per head */
} step;

/* y (B, N) [+]= x (B, K) W^T, this thread's share of the column blocks; no barrier. */
static void product(const retnet_model *m, const step *P, float *y, const float *x,
                    const float *w, int64_t N, int64_t K, int accumulate) {
    const int64_t nb = (N + COL_BLOCK - 1) / COL_BLOCK;
    const uint16_t *wb = P->bf16 ? m->params_bf16 + (w - m->params) : NULL;
#pragma omp for schedule(static) nowait
    for (int64_t blk = 0; blk < nb; blk++) {
        int64_t j0 = blk * COL_BLOCK, j1 = j0 + COL_BLOCK < N ? j0 + COL_BLOCK : N;
        if (wb) op_matvec_cols_bf16(y, x, wb, P->B, N, K, j0, j1, accumulate);
        else op_matvec_cols(y, x, w, P->B, N, K, j0, j1, accumulate);
    }
}

static void norm_rows(const retnet_config *c, float *y, const float *x, const float *w,
                      const float *b, int32_t B) {
#pragma omp for schedule(static)
    for (int32_t i = 0; i < B; i++) {
        if (c->norm == RETNET_NORM_LAYERNORM)
            op_layernorm_row(y + i * c->d_model, x + i * c->d_model, w, b, c->d_model, c->eps);
        else op_rmsnorm_row(y + i * c->d_model, x + i * c->d_model, w, c->d_model, c->eps);
    }
}

/* Retention of layer l for every (sequence, head): rows blocks, then the blocks combined,
 * the §3 row factor, the per-head norm and the gate. Leaves the gated output in P->y. */
static void retention(const retnet_model *m, int l, const step *P) {
    const retnet_config *c = &m->cfg;
    const int h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    const int half = c->rope == RETNET_ROPE_HALF;
    const float kscale = (float)(1.0 / sqrt((double)dk));
    const int64_t per_layer = retnet_state_floats(c) / c->n_layer;
    const int64_t ntask = (int64_t)P->B * h * P->nblk;
#pragma omp for schedule(static)
    for (int64_t task = 0; task < ntask; task++) {
        int32_t b = (int32_t)(task / (h * P->nblk));
        int head = (int)(task / P->nblk % h), blk = (int)(task % P->nblk);
        int i0 = blk * RETENTION_ROW_BLOCK;
        int i1 = i0 + RETENTION_ROW_BLOCK < dk ? i0 + RETENTION_ROW_BLOCK : dk;
        int64_t qo = (int64_t)b * c->d_key + (int64_t)head * dk;
        const float *cs = P->cs + (int64_t)b * dk;
        op_rope_rows(P->qr + qo, P->q + qo, dk, i0, i1, cs, half, 1.0f);
        op_rope_rows(P->kr + qo, P->k + qo, dk, i0, i1, cs, half, kscale);
        float *state = P->S[b] + l * per_layer;
        retention_args a = {
            .T = 1, .dk = dk, .dv = dv,
            .q = P->qr + qo, .k = P->kr + qo, .v = P->v + (int64_t)b * c->d_value + head * dv,
            .gamma = m->gamma[head],
            .S = state + (int64_t)head * dk * dv,
            .z = c->normalize ? state + (int64_t)h * dk * dv + (int64_t)head * dk : NULL,
        };
        retention_recurrent_rows(&a, i0, i1, P->part + task * dv, P->rpart + task);
    }
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < (int64_t)P->B * h; bh++) {
        int32_t b = (int32_t)(bh / h);
        int head = (int)(bh % h);
        float *o = P->y + (int64_t)b * c->d_value + head * dv;
        const float *part = P->part + bh * P->nblk * dv;
        double rsum = 0;
        for (int j = 0; j < dv; j++) o[j] = part[j];
        for (int blk = 1; blk < P->nblk; blk++)
            for (int j = 0; j < dv; j++) o[j] += part[(int64_t)blk * dv + j];
        if (c->normalize) {
            for (int blk = 0; blk < P->nblk; blk++) rsum += P->rpart[bh * P->nblk + blk];
            float f = model_row_factor(m->gamma[head], P->pos[b], (float)rsum);
            for (int j = 0; j < dv; j++) o[j] = f * o[j];
        }
        const retnet_layer_params *p = &m->layers[l];
        int mode = model_head_norm_mode(c);
        if (p->wg || mode != HEAD_NORM_NONE)
            op_head_norm_gate_seg(o, o, p->wg ? P->g + (int64_t)b * c->d_value + head * dv : NULL,
                                  p->hn_w, p->hn_b, head, dv, c->eps, mode);
    }
}

/* Transformer: for every (sequence, head), rotate the new query and key, append the key and
 * value to the cache at the sequence's position, and attend over the cache
 * (op_attention_decode_head). Leaves the output in P->y. */
static void attention(const retnet_model *m, int l, const step *P) {
    const retnet_config *c = &m->cfg;
    const int h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    const int half = c->rope == RETNET_ROPE_HALF;
    const float scale = (float)(1.0 / sqrt((double)dk));
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < (int64_t)P->B * h; bh++) {
        int32_t b = (int32_t)(bh / h);
        int head = (int)(bh % h);
        const int64_t pos = P->pos[b];
        float *K = model_kv_cache(c, P->S[b], l);
        float *V = K + (int64_t)c->context * c->d_key;
        const float *cs = P->cs + (int64_t)b * dk;
        int64_t qo = (int64_t)b * c->d_key + (int64_t)head * dk;
        float *q = P->qr + qo;
        op_rope_rows(q, P->q + qo, dk, 0, dk, cs, half, 1.0f);
        op_rope_rows(K + pos * c->d_key + head * dk, P->k + qo, dk, 0, dk, cs, half, 1.0f);
        memcpy(V + pos * c->d_value + head * dv, P->v + (int64_t)b * c->d_value + head * dv,
               sizeof(float) * (size_t)dv);
        op_attention_decode_head(P->y + (int64_t)b * c->d_value + head * dv, NULL, q,
                                 K + head * dk, V + head * dv, pos + 1, c->d_key, c->d_value,
                                 dk, dv, scale);
    }
}

/* The whole step; called by every thread of the region (or alone, outside any region). */
static void step_body(const retnet_model *m, const step *P) {
    const retnet_config *c = &m->cfg;
    const int64_t d = c->d_model, B = P->B, dk = c->d_key / c->n_head;
    const float escale = c->embed_scale ? sqrtf((float)d) : 1.0f;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        if (m->bf16_only)
            op_embed_bf16(P->x + b * d, m->params_bf16 + (m->g.embed - m->params), P->tokens + b,
                          1, d, escale);
        else op_embed(P->x + b * d, m->g.embed, P->tokens + b, 1, d, escale);
        op_rope_angles(P->cs + b * dk, (int)dk, P->pos[b], c->rope == RETNET_ROPE_HALF,
                       c->rope_base);
    }
    for (int l = 0; l < c->n_layer; l++) {
        const retnet_layer_params *p = &m->layers[l];
        norm_rows(c, P->xn, P->x, p->ret_norm_w, p->ret_norm_b, P->B);
        product(m, P, P->q, P->xn, p->wq, c->d_key, d, 0);
        product(m, P, P->k, P->xn, p->wk, c->d_key, d, 0);
        product(m, P, P->v, P->xn, p->wv, c->d_value, d, 0);
        if (p->wg) product(m, P, P->g, P->xn, p->wg, c->d_value, d, 0);
#pragma omp barrier
        if (c->arch == RETNET_ARCH_TRANSFORMER) attention(m, l, P);
        else retention(m, l, P);
        product(m, P, P->x, P->y, p->wo, d, c->d_value, 1);
#pragma omp barrier
        norm_rows(c, P->xn, P->x, p->ffn_norm_w, p->ffn_norm_b, P->B);
        /* The hidden layer by column blocks, each block's activation right after its
         * columns: no barrier between the products and the activation. */
        const int64_t F = c->d_ffn, nb = (F + COL_BLOCK - 1) / COL_BLOCK;
        const int glu = c->ffn == RETNET_FFN_GLU, swish = c->ffn_act == RETNET_ACT_SWISH;
        const uint16_t *w1 = P->bf16 ? m->params_bf16 + (p->fc1 - m->params) : NULL;
        const uint16_t *w2 = P->bf16 && glu ? m->params_bf16 + (p->gate - m->params) : NULL;
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < nb; blk++) {
            int64_t j0 = blk * COL_BLOCK, j1 = j0 + COL_BLOCK < F ? j0 + COL_BLOCK : F;
            if (w1) op_matvec_cols_bf16(P->h1, P->xn, w1, B, F, d, j0, j1, 0);
            else op_matvec_cols(P->h1, P->xn, p->fc1, B, F, d, j0, j1, 0);
            if (glu) {
                if (w2) op_matvec_cols_bf16(P->h2, P->xn, w2, B, F, d, j0, j1, 0);
                else op_matvec_cols(P->h2, P->xn, p->gate, B, F, d, j0, j1, 0);
            }
            for (int64_t b = 0; b < B; b++)
                for (int64_t j = j0; j < j1; j++) {
                    float *hj = P->h1 + b * F + j;
                    if (!glu) *hj = op_gelu1(*hj);
                    else *hj = (swish ? op_swish1(*hj) : op_gelu1(*hj)) * P->h2[b * F + j];
                }
        }
        product(m, P, P->x, P->h1, p->fc2, d, F, 1);
#pragma omp barrier
    }
    if (P->logits) {
        norm_rows(c, P->xn, P->x, m->g.norm_w, m->g.norm_b, P->B);
        product(m, P, P->logits, P->xn, c->tie_embeddings ? m->g.embed : m->g.out, c->vocab, d, 0);
#pragma omp barrier
    }
}

retnet_status model_decode(retnet_model *m, const int32_t *tokens, int32_t B,
                           float *const *S, const int64_t *pos, float *logits) {
    const retnet_config *c = &m->cfg;
    const int64_t h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    step P = {.B = B, .tokens = tokens, .S = S, .pos = pos, .logits = logits,
              .bf16 = model_use_bf16(m, B),
              .nblk = (int)((dk + RETENTION_ROW_BLOCK - 1) / RETENTION_ROW_BLOCK)};
    const int64_t d = c->d_model;
    const int64_t ntask = c->arch == RETNET_ARCH_TRANSFORMER ? 0 : B * h * P.nblk;
    float **slots[] = {&P.x, &P.xn, &P.q, &P.k, &P.qr, &P.kr, &P.v, &P.g, &P.y, &P.part,
                       &P.h1, &P.h2, &P.cs, (float **)&P.rpart};
    const int64_t sizes[] = {B * d, B * d, B * c->d_key, B * c->d_key, B * c->d_key,
                             B * c->d_key, B * c->d_value, B * c->d_value, B * c->d_value,
                             ntask * dv, B * c->d_ffn, B * c->d_ffn, B * dk, 2 * ntask};
    int64_t total = 0;
    for (int i = 0; i < 14; i++) total += (sizes[i] + 15) / 16 * 16;
    retnet_status st = model_grow(&m->scratch, &m->scratch_floats, total, "a decoding step");
    if (st) return st;
    if (4 * total > m->scratch_peak_bytes) m->scratch_peak_bytes = 4 * total;
    float *base = m->scratch;
    for (int i = 0; i < 14; i++) {
        *slots[i] = base;
        base += (sizes[i] + 15) / 16 * 16;
    }
    /* One thread: no region at all (libgomp would allocate a team for it); the work-shared
     * loops and barriers inside then run as plain loops. */
    if (omp_get_max_threads() == 1) {
        step_body(m, &P);
    } else {
#pragma omp parallel
        step_body(m, &P);
    }
    return RETNET_OK;
}
