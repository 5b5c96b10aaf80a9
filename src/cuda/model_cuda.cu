/*
 * model_cuda.cu: the RetNet model's inference forward on the device (model_cuda.h says what
 * it computes, in which precision, and what it refuses). Host code only: it strings together
 * the backend's kernels (cuda.h, retention.h) as src/model.c's layer_forward and
 * model_forward string together the CPU's, op for op, on all n = B*T positions at once.
 *
 * The parameters live in two arenas, fp32 and bf16, and are reached through device copies of
 * the model's own pointer structs (retnet_global_params / retnet_layer_params): each field
 * holds the device address of that tensor in the one precision the forward reads it in (the
 * bf16 structs' pointers are typed float * but point at bf16), NULL where the config has no
 * such tensor. The table's slots say which field a tensor fills.
 */
#include <math.h>
#include <string.h>

#include "cuda/common.cuh"

extern "C" {
#include "model.h"
}
#include "cuda/model_cuda.h"
#include "cuda/retention.h"

#define ALIGN 256 /* every tensor and activation starts on a 256-byte boundary (cuBLASLt) */

static size_t align_up(size_t b) { return (b + ALIGN - 1) / ALIGN * ALIGN; }

struct model_cuda {
    retnet_config cfg;
    int device;
    void *w32, *w16;                 /* the parameter arenas */
    size_t w32_bytes, w16_bytes;
    retnet_global_params g32, g16;   /* device addresses (see the top of the file) */
    retnet_layer_params *l32, *l16;  /* n_layer each */
    float *gamma;                    /* (h) fp32 decays */
    /* activations for n rows (grown on demand; one block) */
    void *acts;
    int64_t acts_rows;
    float *x, *xn;                   /* (n, d) residual stream, a norm's output */
    float *q, *k;                    /* (n, d_key) before rope and the bf16 rounding */
    float *g, *o;                    /* (n, d_value) gate pre-activation, retention output */
    float *h1, *h2;                  /* (n, d_ffn) FFN hidden (h2: the GLU's second branch) */
    float *logits;                   /* (n, V) */
    cuda_bf16 *xb;                   /* (n, max(d, d_value, d_ffn)): a product's bf16 operand */
    cuda_bf16 *qb, *kb, *vb;         /* retention's bf16 operands */
    int32_t *tok;                    /* (n) */
    int64_t *pos;                    /* (n) >= B positions */
    /* retnet_forward's hook: the callers' states on the device, and their positions */
    float *state;
    int32_t state_B;
    int64_t *hpos;
    int32_t hpos_cap;
    char **hptr;                     /* the host states' data pointers */
    int32_t hptr_cap;
};

#define TRY(call)                                                                        \
    do {                                                                                 \
        retnet_status st_ = (call);                                                      \
        if (st_ != RETNET_OK) return st_;                                                \
    } while (0)

/* floats of one layer's state of one sequence: h dk dv (normalize is refused) */
static int64_t layer_state_floats(const retnet_config *c) {
    return (int64_t)c->d_key * (c->d_value / c->n_head);
}

/* --------------------------------------------------------------------- parameters */

void model_cuda_free(model_cuda *d) {
    if (!d) return;
    retnet_cuda_free(d->w32);
    retnet_cuda_free(d->w16);
    retnet_cuda_free(d->gamma);
    retnet_cuda_free(d->acts);
    retnet_cuda_free(d->state);
    free(d->l32);
    free(d->l16);
    free(d->hpos);
    free(d->hptr);
    free(d);
}

int64_t model_cuda_param_bytes(const model_cuda *d) {
    return d ? (int64_t)(d->w32_bytes + d->w16_bytes) : 0;
}

/* The field of `dst` (a copy of g or of layers[layer]) that tensor p's slot is in the model. */
static float **field(const retnet_model *m, const retnet_param_desc *p,
                     retnet_global_params *g, retnet_layer_params *layers) {
    if (p->layer < 0)
        return (float **)((char *)g + ((const char *)p->slot - (const char *)&m->g));
    return (float **)((char *)&layers[p->layer] +
                      ((const char *)p->slot - (const char *)&m->layers[p->layer]));
}

retnet_status model_cuda_create(const retnet_model *m, int device, model_cuda **out) {
    if (!out) return retnet_fail(RETNET_EINVAL, "model_cuda_create: NULL output");
    *out = NULL;
    if (!m) return retnet_fail(RETNET_EINVAL, "model_cuda_create: NULL model");
    const retnet_config *c = &m->cfg;
    if (c->arch != RETNET_ARCH_RETNET)
        return retnet_fail(RETNET_EUNSUPPORTED, "CUDA: the Transformer baseline has no CUDA "
                           "forward yet; run it on the cpu");
    if (c->normalize)
        return retnet_fail(RETNET_EUNSUPPORTED, "CUDA: this config has normalize on (the "
                           "section-3 normalisations of the paper and torchscale), which the "
                           "CUDA retention kernels do not compute; run it on the cpu, or use a "
                           "config with normalize 0 (fla's variant, what its checkpoints use)");
    const int h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    if (dk % 8 || dv % 8 || dk > 512 || dv > 512)
        return retnet_fail(RETNET_EUNSUPPORTED, "CUDA: head widths dk %d, dv %d: the retention "
                           "kernels take multiples of 8 up to 512; run this model on the cpu",
                           dk, dv);
    TRY(retnet_cuda_init(device));

    model_cuda *d = (model_cuda *)calloc(1, sizeof *d);
    if (!d) return retnet_fail(RETNET_ENOMEM, "out of memory");
    d->cfg = *c;
    d->device = device;
    d->l32 = (retnet_layer_params *)calloc((size_t)c->n_layer, sizeof *d->l32);
    d->l16 = (retnet_layer_params *)calloc((size_t)c->n_layer, sizeof *d->l16);
    if (!d->l32 || !d->l16) {
        model_cuda_free(d);
        return retnet_fail(RETNET_ENOMEM, "out of memory");
    }

    /* Which precision each tensor is read in: the 2-D weights bf16 (the products), the rest
     * fp32; the embedding fp32 for the lookup, and bf16 too when it is the output projection. */
    size_t b32 = 0, b16 = 0, stage = 0;
    for (int32_t i = 0; i < m->n_tensors; i++) {
        const retnet_param_desc *p = &m->table[i];
        int two_d = p->ndim == 2, embed = p->slot == &m->g.embed;
        if (!two_d || embed) b32 += align_up(4 * (size_t)p->numel);
        if (two_d && (!embed || c->tie_embeddings)) b16 += align_up(2 * (size_t)p->numel);
        if (4 * (size_t)p->numel > stage) stage = 4 * (size_t)p->numel;
    }
    void *tmp = NULL;
    retnet_status st = retnet_cuda_malloc(&d->w32, b32, "the fp32 parameters");
    if (!st) st = retnet_cuda_malloc(&d->w16, b16, "the bf16 weights");
    if (!st) st = retnet_cuda_malloc((void **)&d->gamma, sizeof(float) * (size_t)h, "the decays");
    if (!st) st = retnet_cuda_malloc(&tmp, stage, "staging a weight");
    d->w32_bytes = b32, d->w16_bytes = b16;

    size_t o32 = 0, o16 = 0;
    for (int32_t i = 0; i < m->n_tensors && !st; i++) {
        const retnet_param_desc *p = &m->table[i];
        int two_d = p->ndim == 2, embed = p->slot == &m->g.embed;
        /* the host values: bf16 for the 2-D weights of a bf16-only model (whose fp32 range
         * must not be read), fp32 otherwise */
        const uint16_t *src16 = m->bf16_only && two_d ? m->params_bf16 + p->offset : NULL;
        const float *src32 = src16 ? NULL : m->params + p->offset;
        if (two_d && (!embed || c->tie_embeddings)) {
            cuda_bf16 *dst = (cuda_bf16 *)((char *)d->w16 + o16);
            o16 += align_up(2 * (size_t)p->numel);
            *field(m, p, &d->g16, d->l16) = (float *)dst;
            if (src16) st = retnet_cuda_upload(dst, src16, 2 * (size_t)p->numel);
            else if (!(st = retnet_cuda_upload(tmp, src32, 4 * (size_t)p->numel)))
                st = cuda_op_f32_to_bf16(dst, (const float *)tmp, p->numel, NULL);
        }
        if (!st && (!two_d || embed)) {
            float *dst = (float *)((char *)d->w32 + o32);
            o32 += align_up(4 * (size_t)p->numel);
            *field(m, p, &d->g32, d->l32) = dst;
            if (src32) st = retnet_cuda_upload(dst, src32, 4 * (size_t)p->numel);
            else if (!(st = retnet_cuda_upload(tmp, src16, 2 * (size_t)p->numel)))
                st = cuda_op_bf16_to_f32(dst, (const cuda_bf16 *)tmp, p->numel, NULL);
        }
    }
    if (!st) {
        float gh[1024];
        for (int i = 0; i < h && i < 1024; i++) gh[i] = (float)m->gamma[i];
        if (h > 1024) st = retnet_fail(RETNET_EUNSUPPORTED, "CUDA: %d heads (at most 1024)", h);
        else st = retnet_cuda_upload(d->gamma, gh, sizeof(float) * (size_t)h);
    }
    if (!st) st = retnet_cuda_sync(NULL); /* the conversions are done before tmp goes */
    retnet_cuda_free(tmp);
    if (st) {
        model_cuda_free(d);
        return st;
    }
    *out = d;
    return RETNET_OK;
}

/* --------------------------------------------------------------------- activations */

/* The activation buffers for n rows (n >= B). */
static retnet_status acts_ready(model_cuda *d, int64_t n) {
    if (n <= d->acts_rows) return RETNET_OK;
    const retnet_config *c = &d->cfg;
    const int64_t D = c->d_model, wide = D > c->d_value ? (D > c->d_ffn ? D : c->d_ffn)
                                                        : (c->d_value > c->d_ffn ? c->d_value : c->d_ffn);
    void **slots[] = {(void **)&d->x,  (void **)&d->xn, (void **)&d->q,  (void **)&d->k,
                      (void **)&d->g,  (void **)&d->o,  (void **)&d->h1, (void **)&d->h2,
                      (void **)&d->logits, (void **)&d->xb, (void **)&d->qb, (void **)&d->kb,
                      (void **)&d->vb, (void **)&d->tok, (void **)&d->pos};
    const size_t bytes[] = {4 * (size_t)(n * D), 4 * (size_t)(n * D),
                            4 * (size_t)(n * c->d_key), 4 * (size_t)(n * c->d_key),
                            4 * (size_t)(n * c->d_value), 4 * (size_t)(n * c->d_value),
                            4 * (size_t)(n * c->d_ffn),
                            c->ffn == RETNET_FFN_GLU ? 4 * (size_t)(n * c->d_ffn) : 0,
                            4 * (size_t)(n * c->vocab), 2 * (size_t)(n * wide),
                            2 * (size_t)(n * c->d_key), 2 * (size_t)(n * c->d_key),
                            2 * (size_t)(n * c->d_value), 4 * (size_t)n, 8 * (size_t)n};
    const int count = (int)(sizeof bytes / sizeof bytes[0]);
    size_t total = 0;
    for (int i = 0; i < count; i++) total += align_up(bytes[i]);
    retnet_cuda_free(d->acts);
    d->acts = NULL;
    d->acts_rows = 0;
    TRY(retnet_cuda_malloc(&d->acts, total, "the forward's activations"));
    size_t off = 0;
    for (int i = 0; i < count; i++) {
        *slots[i] = bytes[i] ? (char *)d->acts + off : NULL;
        off += align_up(bytes[i]);
    }
    d->acts_rows = n;
    return RETNET_OK;
}

/* --------------------------------------------------------------------- forward */

static retnet_status norm(const retnet_config *c, float *y, const float *x, const float *w,
                          const float *b, int64_t n) {
    if (c->norm == RETNET_NORM_LAYERNORM)
        return cuda_op_layernorm(y, x, w, b, n, c->d_model, c->eps, NULL);
    return cuda_op_rmsnorm(y, x, w, n, c->d_model, c->eps, NULL);
}

/* y (n, N) fp32 [+]= x (n, K) bf16 @ w (N, K)^T bf16 */
static retnet_status mm(float *y, const cuda_bf16 *x, const float *w, int64_t n, int64_t N,
                        int64_t K, int accumulate) {
    return cuda_op_matmul(y, CUDA_F32, x, w, CUDA_BF16, n, N, K, accumulate, NULL);
}

/* One layer, in place on d->x: x += MSR(Norm(x)); x += FFN(Norm(x))   (RETNET.md §5). */
static retnet_status layer_forward(model_cuda *d, int l, int64_t B, int64_t T, float *state) {
    const retnet_config *c = &d->cfg;
    const retnet_layer_params *p32 = &d->l32[l], *p16 = &d->l16[l];
    const int64_t n = B * T, D = c->d_model, nk = n * c->d_key, nv = n * c->d_value;
    const int h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    const int half = c->rope == RETNET_ROPE_HALF;

    TRY(norm(c, d->xn, d->x, p32->ret_norm_w, p32->ret_norm_b, n));
    TRY(cuda_op_f32_to_bf16(d->xb, d->xn, n * D, NULL));
    TRY(mm(d->q, d->xb, p16->wq, n, c->d_key, D, 0));
    TRY(mm(d->k, d->xb, p16->wk, n, c->d_key, D, 0));
    TRY(cuda_op_matmul(d->vb, CUDA_BF16, d->xb, p16->wv, CUDA_BF16, n, c->d_value, D, 0, NULL));
    if (p16->wg) TRY(mm(d->g, d->xb, p16->wg, n, c->d_value, D, 0));
    /* as the CPU: dk^-0.5 folded into the keys with their rotation; retention's scale is 1 */
    TRY(cuda_op_rope(d->q, c->d_key, B, T, h, dk, d->pos, half, c->rope_base, 1.0f, NULL));
    TRY(cuda_op_rope(d->k, c->d_key, B, T, h, dk, d->pos, half, c->rope_base,
                     (float)(1.0 / sqrt((double)dk)), NULL));
    TRY(cuda_op_f32_to_bf16(d->qb, d->q, nk, NULL));
    TRY(cuda_op_f32_to_bf16(d->kb, d->k, nk, NULL));

    float *S = state ? state + (int64_t)l * B * layer_state_floats(c) : NULL;
    int r = T == 1 && S
                ? retention_cuda_step((int)B, h, dk, dv, d->qb, d->kb, d->vb, d->gamma, 1.0f, S,
                                      d->o, RETNET_CUDA_F32, NULL)
                : retention_cuda_forward((int)B, (int)T, h, dk, dv, d->qb, d->kb, d->vb, d->gamma,
                                         1.0f, S, S, d->o, RETNET_CUDA_F32, NULL);
    if (r)
        return retnet_fail(RETNET_EDEVICE, "CUDA: retention of layer %d: %s", l,
                           retention_cuda_errmsg());
    if (p16->wg || c->head_norm != RETNET_HEADNORM_NONE)
        TRY(cuda_op_head_norm_gate(d->o, d->o, p16->wg ? d->g : NULL, p32->hn_w, p32->hn_b, n, h,
                                   dv, c->eps, model_head_norm_mode(c), NULL));
    TRY(cuda_op_f32_to_bf16(d->xb, d->o, nv, NULL));
    TRY(mm(d->x, d->xb, p16->wo, n, D, c->d_value, 1));

    const int64_t nf = n * c->d_ffn;
    TRY(norm(c, d->xn, d->x, p32->ffn_norm_w, p32->ffn_norm_b, n));
    TRY(cuda_op_f32_to_bf16(d->xb, d->xn, n * D, NULL));
    TRY(mm(d->h1, d->xb, p16->fc1, n, c->d_ffn, D, 0));
    if (c->ffn == RETNET_FFN_GLU) {
        /* as the CPU: act(fc1 x) * (gate x) */
        TRY(mm(d->h2, d->xb, p16->gate, n, c->d_ffn, D, 0));
        TRY(cuda_op_glu(d->h1, d->h1, d->h2, nf,
                        c->ffn_act == RETNET_ACT_SWISH ? CUDA_ACT_SWISH : CUDA_ACT_GELU, NULL));
    } else {
        TRY(cuda_op_gelu(d->h1, d->h1, nf, NULL));
    }
    TRY(cuda_op_f32_to_bf16(d->xb, d->h1, nf, NULL));
    TRY(mm(d->x, d->xb, p16->fc2, n, D, c->d_ffn, 1));
    return RETNET_OK;
}

retnet_status model_cuda_forward_states(model_cuda *d, const int32_t *tokens, int32_t B,
                                        int32_t T, float *state_dev, const int64_t *pos,
                                        float *logits) {
    if (!d || !tokens) return retnet_fail(RETNET_EINVAL, "CUDA forward: NULL model or tokens");
    if (B < 1 || T < 1)
        return retnet_fail(RETNET_EINVAL, "CUDA forward: need at least one token (B=%d, T=%d)",
                           B, T);
    const retnet_config *c = &d->cfg;
    const int64_t n = (int64_t)B * T, D = c->d_model;
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab)
            return retnet_fail(RETNET_EINVAL, "token %d at position %lld is out of range: the "
                               "model's vocabulary is 0..%d", tokens[i], (long long)i,
                               c->vocab - 1);
    TRY(retnet_cuda_init(d->device));
    TRY(acts_ready(d, n));
    TRY(retnet_cuda_upload(d->tok, tokens, sizeof(int32_t) * (size_t)n));
    if (pos) TRY(retnet_cuda_upload(d->pos, pos, sizeof(int64_t) * (size_t)B));
    else TRY(retnet_cuda_memset0(d->pos, sizeof(int64_t) * (size_t)B, NULL));

    TRY(cuda_op_embed(d->x, d->g32.embed, d->tok, n, D, c->vocab,
                      c->embed_scale ? sqrtf((float)D) : 1.0f, NULL));
    for (int l = 0; l < c->n_layer; l++) TRY(layer_forward(d, l, B, T, state_dev));
    if (!logits) return retnet_cuda_sync(NULL);
    TRY(norm(c, d->xn, d->x, d->g32.norm_w, d->g32.norm_b, n));
    TRY(cuda_op_f32_to_bf16(d->xb, d->xn, n * D, NULL));
    TRY(mm(d->logits, d->xb, c->tie_embeddings ? d->g16.embed : d->g16.out, n, c->vocab, D, 0));
    TRY(retnet_cuda_sync(NULL));
    return retnet_cuda_download(logits, d->logits, sizeof(float) * (size_t)(n * c->vocab));
}

/* --------------------------------------------------------------------- states */

retnet_status model_cuda_states_alloc(const model_cuda *d, int32_t B, float **state_dev) {
    if (!d || !state_dev || B < 1)
        return retnet_fail(RETNET_EINVAL, "model_cuda_states_alloc: bad arguments");
    size_t bytes = sizeof(float) * (size_t)(d->cfg.n_layer * (int64_t)B *
                                            layer_state_floats(&d->cfg));
    TRY(retnet_cuda_malloc((void **)state_dev, bytes, "the decoding states"));
    TRY(retnet_cuda_memset0(*state_dev, bytes, NULL));
    return retnet_cuda_sync(NULL);
}

/* Sequence b's L layer blocks, B blocks apart on the device: one strided copy per sequence
 * (one per block where the stride passes cudaMemcpy2D's pitch limit, 2^31 bytes). */
static retnet_status states_copy(const model_cuda *d, char *dev, char *const *host, int32_t B,
                                 cudaMemcpyKind kind) {
    const size_t P = sizeof(float) * (size_t)layer_state_floats(&d->cfg), L = d->cfg.n_layer;
    const int up = kind == cudaMemcpyHostToDevice;
    const char *what = up ? "uploading a state" : "downloading a state";
    for (int32_t b = 0; b < B; b++) {
        char *dv = dev + b * P, *hs = host[b];
        if (P * (size_t)B < ((size_t)1 << 30)) {
            if (up) CUDA_TRY(cudaMemcpy2D(dv, P * B, hs, P, P, L, kind), what);
            else CUDA_TRY(cudaMemcpy2D(hs, P, dv, P * B, P, L, kind), what);
        } else {
            for (size_t l = 0; l < L; l++)
                CUDA_TRY(up ? cudaMemcpy(dv + l * B * P, hs + l * P, P, kind)
                            : cudaMemcpy(hs + l * P, dv + l * B * P, P, kind), what);
        }
    }
    return RETNET_OK;
}

/* The host states' data pointers, for states_copy (B of them; grown on demand). */
static retnet_status host_ptrs(model_cuda *d, const retnet_state *states, int32_t B) {
    if (B > d->hptr_cap) {
        free(d->hptr);
        d->hptr = (char **)malloc(sizeof(char *) * (size_t)B);
        d->hptr_cap = d->hptr ? B : 0;
        if (!d->hptr) return retnet_fail(RETNET_ENOMEM, "out of memory");
    }
    for (int32_t b = 0; b < B; b++) d->hptr[b] = (char *)states[b].data;
    return RETNET_OK;
}

retnet_status model_cuda_states_upload(model_cuda *d, float *state_dev,
                                       const retnet_state *states, int32_t B) {
    TRY(host_ptrs(d, states, B));
    return states_copy(d, (char *)state_dev, d->hptr, B, cudaMemcpyHostToDevice);
}

retnet_status model_cuda_states_download(model_cuda *d, retnet_state *states,
                                         const float *state_dev, int32_t B) {
    TRY(host_ptrs(d, states, B));
    return states_copy(d, (char *)state_dev, d->hptr, B, cudaMemcpyDeviceToHost);
}

retnet_status model_cuda_forward(retnet_model *m, const int32_t *tokens, int32_t B, int32_t T,
                                 retnet_form form, retnet_state *states, float *logits) {
    (void)form;
    model_cuda *d = (model_cuda *)m->device;
    if (!d) return retnet_fail(RETNET_EINVAL, "CUDA forward: the model is not on a device");
    if (!states) return model_cuda_forward_states(d, tokens, B, T, NULL, NULL, logits);
    TRY(retnet_cuda_init(d->device));
    if (B > d->state_B) {
        retnet_cuda_free(d->state);
        d->state = NULL;
        d->state_B = 0;
        size_t bytes = sizeof(float) * (size_t)(d->cfg.n_layer * (int64_t)B *
                                                layer_state_floats(&d->cfg));
        TRY(retnet_cuda_malloc((void **)&d->state, bytes, "the callers' states"));
        d->state_B = B;
    }
    if (B > d->hpos_cap) {
        free(d->hpos);
        d->hpos = (int64_t *)malloc(sizeof(int64_t) * (size_t)B);
        d->hpos_cap = d->hpos ? B : 0;
        if (!d->hpos) return retnet_fail(RETNET_ENOMEM, "out of memory");
    }
    for (int32_t b = 0; b < B; b++) d->hpos[b] = states[b].pos;
    TRY(model_cuda_states_upload(d, d->state, states, B));
    TRY(model_cuda_forward_states(d, tokens, B, T, d->state, d->hpos, logits));
    TRY(model_cuda_states_download(d, states, d->state, B));
    for (int32_t b = 0; b < B; b++) states[b].pos += T;
    return RETNET_OK;
}
