/*
 * batch.c: retnet_batch (retnet.h), B decoding states kept where the model runs. On the CPU
 * they are ordinary retnet_states and a forward is retnet_forward; on a GPU they live in the
 * device's layer-major layout (src/cuda/model_cuda.h) and never cross the bus during
 * decoding: a step uploads B token ids and, unless the caller asks for logits, downloads B
 * argmax ids.
 */
#include "model.h"

#include <string.h>

#ifdef RETNET_CUDA
#include "cuda/cuda.h"
#include "cuda/model_cuda.h"
#endif

struct retnet_batch {
    retnet_model *m;
    int32_t B;
    int64_t sf;            /* floats per state */
    void *device;          /* the model_cuda when the batch was made, or NULL: the CPU */
    uint64_t device_id;    /* its model_cuda_id */
    float *state_dev;      /* device: per layer the B states (cuda/model_cuda.h's layout) */
    float *last_dev;       /* device: (B, model_cuda_logits_stride) logits of the last position */
    int64_t *pos;          /* (B) */
    retnet_state *st;      /* CPU: B states over `data` */
    float *data;
    float *last;           /* CPU: (B, V) logits of the last position */
    int32_t *tmp;          /* CPU: (B, T-1) tokens of a prefill, grown on demand */
    int64_t tmp_cap;
    int have_last;
};

retnet_status retnet_batch_create(retnet_model *m, int32_t B, retnet_batch **out) {
    if (!out) return retnet_fail(RETNET_EINVAL, "batch_create: NULL output");
    *out = NULL;
    if (!m || B < 1) return retnet_fail(RETNET_EINVAL, "batch_create: need a model and B >= 1");
    const retnet_config *c = retnet_model_config(m);
    retnet_batch *b = calloc(1, sizeof *b);
    if (!b) return retnet_fail(RETNET_ENOMEM, "out of memory");
    b->m = m, b->B = B, b->sf = retnet_state_floats(c), b->device = m->device;
#ifdef RETNET_CUDA
    b->device_id = m->device ? model_cuda_id(m->device) : 0;
#endif
    b->pos = calloc((size_t)B, sizeof *b->pos);
    retnet_status st = b->pos ? RETNET_OK : retnet_fail(RETNET_ENOMEM, "out of memory");
#ifdef RETNET_CUDA
    if (!st && b->device) st = model_cuda_states_alloc(b->device, B, &b->state_dev);
    if (!st && b->device)
        st = retnet_cuda_malloc((void **)&b->last_dev,
                                sizeof(float) * (size_t)B * (size_t)model_cuda_logits_stride(b->device),
                                "the batch's logits");
#endif
    if (!st && !b->device) {
        b->st = calloc((size_t)B, sizeof *b->st);
        b->data = retnet_alloc(sizeof(float) * (size_t)(B * b->sf));
        b->last = retnet_alloc(sizeof(float) * (size_t)B * (size_t)c->vocab);
        if (!b->st || !b->data || !b->last)
            st = retnet_fail(RETNET_ENOMEM, "out of memory for %d states of %.1f MB", B,
                             4e-6 * (double)b->sf);
        else {
            memset(b->data, 0, sizeof(float) * (size_t)(B * b->sf));
            for (int32_t i = 0; i < B; i++) b->st[i].data = b->data + i * b->sf;
        }
    }
    if (st) {
        retnet_batch_free(b);
        return st;
    }
    *out = b;
    return RETNET_OK;
}

void retnet_batch_free(retnet_batch *b) {
    if (!b) return;
#ifdef RETNET_CUDA
    retnet_cuda_free(b->state_dev);
    retnet_cuda_free(b->last_dev);
#endif
    free(b->pos), free(b->st), free(b->tmp);
    retnet_free(b->data), retnet_free(b->last);
    free(b);
}

/* The model's device copy is no longer the batch's: moved, or a new copy (perhaps where the
 * old one was) */
static int moved(const retnet_batch *b) {
    if (b->m->device != b->device) return 1;
#ifdef RETNET_CUDA
    if (b->device && model_cuda_id(b->device) != b->device_id) return 1;
#endif
    return 0;
}

int64_t retnet_batch_state_bytes(const retnet_batch *b) {
    if (!b) return 0;
#ifdef RETNET_CUDA
    if (b->device && !moved(b)) return 4 * b->sf + model_cuda_window_bytes(b->device, b->B);
#endif
    return 4 * b->sf;
}

/* The batch still fits its model: same device, same state size (a Transformer's KV cache
 * follows retnet_model_set_context). */
static retnet_status same_place(const retnet_batch *b) {
    if (moved(b))
        return retnet_fail(RETNET_EINVAL, "batch: the model moved (retnet_model_to_device) "
                           "after the batch was made; make a new batch");
    if (retnet_state_floats(retnet_model_config(b->m)) != b->sf)
        return retnet_fail(RETNET_EINVAL, "batch: the model's context changed "
                           "(retnet_model_set_context) after the batch was made; make a new batch");
    return RETNET_OK;
}

retnet_status retnet_batch_forward(retnet_batch *b, const int32_t *tokens, int32_t T,
                                   float *logits) {
    if (!b || !tokens || T < 1)
        return retnet_fail(RETNET_EINVAL, "batch_forward: need a batch, tokens and T >= 1");
    retnet_status st = same_place(b);
    if (st) return st;
    const int32_t B = b->B;
    /* every token checked before any is run: a refused call leaves the states as they were
     * (the CPU path runs a prefill's first T - 1 tokens apart from the last) */
    if ((st = model_check_tokens(retnet_model_config(b->m), tokens, B, T))) return st;
    b->have_last = 0;
#ifdef RETNET_CUDA
    if (b->device) {
        st = logits ? model_cuda_forward_states(b->device, tokens, B, T, b->state_dev, b->pos,
                                                logits)
                    : model_cuda_forward_last(b->device, tokens, B, T, b->state_dev, b->pos,
                                              b->last_dev);
        if (st) return st;
        for (int32_t i = 0; i < B; i++) b->pos[i] += T;
        b->have_last = !logits;
        return RETNET_OK;
    }
#endif
    for (int32_t i = 0; i < B; i++) b->st[i].pos = b->pos[i];
    if (logits) {
        st = retnet_forward(b->m, tokens, B, T, T > 1 ? RETNET_FORM_CHUNKWISE
                                                      : RETNET_FORM_RECURRENT, 0, b->st, logits);
    } else {
        /* the first T-1 tokens for the states only (chunkwise), the last with logits */
        int64_t need = (int64_t)B * (T > 1 ? T - 1 : 1);
        if (need > b->tmp_cap) {
            free(b->tmp);
            b->tmp = malloc(sizeof(int32_t) * (size_t)need);
            b->tmp_cap = b->tmp ? need : 0;
            if (!b->tmp) return retnet_fail(RETNET_ENOMEM, "out of memory");
        }
        if (T > 1) {
            for (int32_t i = 0; i < B; i++)
                memcpy(b->tmp + (int64_t)i * (T - 1), tokens + (int64_t)i * T,
                       sizeof(int32_t) * (size_t)(T - 1));
            st = retnet_forward(b->m, b->tmp, B, T - 1, RETNET_FORM_CHUNKWISE, 0, b->st, NULL);
        }
        if (!st) {
            for (int32_t i = 0; i < B; i++) b->tmp[i] = tokens[(int64_t)i * T + T - 1];
            st = retnet_forward(b->m, b->tmp, B, 1, RETNET_FORM_RECURRENT, 0, b->st, b->last);
        }
        b->have_last = !st;
    }
    if (st) { /* states may be part-way: positions follow what retnet_forward did */
        for (int32_t i = 0; i < B; i++) b->pos[i] = b->st[i].pos;
        return st;
    }
    for (int32_t i = 0; i < B; i++) b->pos[i] = b->st[i].pos;
    return RETNET_OK;
}

retnet_status retnet_batch_advance(retnet_batch *b, const int32_t *tokens, int32_t T,
                                   int32_t chunk) {
    if (!b || !tokens || T < 1)
        return retnet_fail(RETNET_EINVAL, "batch_advance: need a batch, tokens and T >= 1");
    retnet_status st = same_place(b);
    if (st) return st;
    b->have_last = 0;
#ifdef RETNET_CUDA
    if (b->device) {
        if ((st = model_cuda_forward_states(b->device, tokens, b->B, T, b->state_dev, b->pos,
                                            NULL)))
            return st;
        for (int32_t i = 0; i < b->B; i++) b->pos[i] += T;
        return RETNET_OK;
    }
#endif
    for (int32_t i = 0; i < b->B; i++) b->st[i].pos = b->pos[i];
    st = retnet_forward(b->m, tokens, b->B, T, RETNET_FORM_CHUNKWISE, chunk, b->st, NULL);
    for (int32_t i = 0; i < b->B; i++) b->pos[i] = b->st[i].pos;
    return st;
}

retnet_status retnet_batch_argmax(retnet_batch *b, int32_t *next) {
    if (!b || !next) return retnet_fail(RETNET_EINVAL, "batch_argmax: NULL argument");
    retnet_status st = same_place(b);
    if (st) return st;
    if (!b->have_last)
        return retnet_fail(RETNET_EINVAL, "batch_argmax: the last forward kept no logits "
                           "(call retnet_batch_forward with logits NULL first)");
#ifdef RETNET_CUDA
    if (b->device) return model_cuda_argmax(b->device, b->last_dev, b->B, next);
#endif
    const int32_t V = retnet_model_config(b->m)->vocab;
    for (int32_t i = 0; i < b->B; i++) {
        const float *row = b->last + (int64_t)i * V;
        int32_t best = 0;
        for (int32_t j = 1; j < V; j++)
            if (row[j] > row[best]) best = j;
        next[i] = best;
    }
    return RETNET_OK;
}

retnet_status retnet_batch_greedy(retnet_batch *b, int32_t n, int32_t *ids) {
    if (!b || !ids || n < 1) return retnet_fail(RETNET_EINVAL, "batch_greedy: need ids and n >= 1");
    retnet_status st = same_place(b);
    if (st) return st;
    if (!b->have_last)
        return retnet_fail(RETNET_EINVAL, "batch_greedy: the last forward kept no logits "
                           "(call retnet_batch_forward with logits NULL first)");
    const retnet_config *c = retnet_model_config(b->m);
    const int32_t B = b->B;
    if (c->arch == RETNET_ARCH_TRANSFORMER) /* refused before any step, states untouched */
        for (int32_t i = 0; i < B; i++)
            if (b->pos[i] + n > c->context) return model_cache_overflow(c, i, b->pos[i] + n);
#ifdef RETNET_CUDA
    if (b->device && model_cuda_greedy_queues(b->device)) {
        b->have_last = 0;
        if ((st = model_cuda_greedy(b->device, B, n, b->state_dev, b->pos, b->last_dev, ids)))
            return st;
        for (int32_t i = 0; i < B; i++) b->pos[i] += n;
        b->have_last = 1;
        return RETNET_OK;
    }
#endif
    for (int32_t k = 0; k < n; k++) { /* the CPU, or a GPU without decoding graphs */
        int32_t *t = ids + (int64_t)k * B;
        if ((st = retnet_batch_argmax(b, t)) || (st = retnet_batch_forward(b, t, 1, NULL))) return st;
    }
    return RETNET_OK;
}

retnet_status retnet_batch_get(retnet_batch *b, int32_t i, retnet_state *s) {
    if (!b || !s || !s->data || i < 0 || i >= b->B)
        return retnet_fail(RETNET_EINVAL, "batch_get: bad sequence %d or state", i);
    retnet_status st = same_place(b);
    if (st) return st;
#ifdef RETNET_CUDA
    if (b->device) {
        if ((st = model_cuda_state_copy(b->device, b->state_dev, b->B, i, s->data, b->pos[i], 0)))
            return st;
        s->pos = b->pos[i];
        return RETNET_OK;
    }
#endif
    memcpy(s->data, b->st[i].data, sizeof(float) * (size_t)b->sf);
    s->pos = b->pos[i];
    return RETNET_OK;
}

retnet_status retnet_batch_set(retnet_batch *b, int32_t i, const retnet_state *s) {
    if (!b || !s || !s->data || i < 0 || i >= b->B || s->pos < 0)
        return retnet_fail(RETNET_EINVAL, "batch_set: bad sequence %d or state", i);
    retnet_status st = same_place(b);
    if (st) return st;
    b->have_last = 0;
#ifdef RETNET_CUDA
    if (b->device) {
        if ((st = model_cuda_state_copy(b->device, b->state_dev, b->B, i, s->data, s->pos, 1)))
            return st;
        b->pos[i] = s->pos;
        return RETNET_OK;
    }
#endif
    memcpy(b->st[i].data, s->data, sizeof(float) * (size_t)b->sf);
    b->pos[i] = s->pos;
    return RETNET_OK;
}
