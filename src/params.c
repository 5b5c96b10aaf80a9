/*
 * params.c: resolves the parameter table of params.h for a config, and the official
 * initialisation (RETNET.md §5), one tensor at a time.
 */
#include "params.h"
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Appends one descriptor (when it is present in this config). */
static void add(const retnet_config *c, retnet_param_desc *out, int32_t cap, int32_t *n,
                int64_t *off, const char *name, int32_t layer, int64_t rows, int64_t cols,
                retnet_init_rule init, int present, float **slot) {
    (void)c;
    if (!present) {
        if (slot) *slot = NULL;
        return;
    }
    int64_t numel = rows * (cols ? cols : 1);
    if (out && *n < cap) {
        retnet_param_desc *p = &out[*n];
        memset(p, 0, sizeof *p);
        if (layer >= 0) snprintf(p->name, sizeof p->name, "layers.%d.%s", layer, name);
        else snprintf(p->name, sizeof p->name, "%s", name);
        p->layer = layer;
        p->ndim = cols ? 2 : 1;
        p->shape[0] = rows;
        p->shape[1] = cols;
        p->numel = numel;
        p->offset = *off;
        p->init = init;
        p->fan_out = rows;           /* Linear (out, in) */
        p->fan_in = cols ? cols : 1;
        p->slot = slot;
    }
    (*n)++;
    *off += numel;
}

int32_t retnet_param_table(const retnet_config *c, retnet_param_desc *out, int32_t cap,
                           int64_t *total, retnet_global_params *g, retnet_layer_params *layers) {
    int32_t n = 0;
    int64_t off = 0;
#define G_SLOT(field) (g ? &g->field : NULL)
#define ADD_G(field, name, rows, cols, init, present)                                     \
    add(c, out, cap, &n, &off, name, -1, rows, cols, init, present, G_SLOT(field));
    /* Checkpoint order: embedding, the layers, then the final norm and output projection. */
    add(c, out, cap, &n, &off, "embed_tokens.weight", -1, c->vocab, c->d_model, INIT_EMBED, 1,
        G_SLOT(embed));
    for (int32_t l = 0; l < c->n_layer; l++) {
        retnet_layer_params *lp = layers ? &layers[l] : NULL;
#define ADD_L(field, name, rows, cols, init, present)                                     \
    add(c, out, cap, &n, &off, name, l, rows, cols, init, present, lp ? &lp->field : NULL);
        RETNET_LAYER_PARAMS(ADD_L)
#undef ADD_L
    }
#define ADD_G_NOT_EMBED(field, name, rows, cols, init, present)                           \
    if (strcmp(name, "embed_tokens.weight")) ADD_G(field, name, rows, cols, init, present)
    RETNET_GLOBAL_PARAMS(ADD_G_NOT_EMBED)
#undef ADD_G_NOT_EMBED
#undef ADD_G
#undef G_SLOT
    if (total) *total = off;
    return n;
}

#define INIT_BLOCK ((int64_t)1 << 16) /* values per random stream: blocks fill in parallel */

void retnet_param_init(const retnet_config *c, const retnet_param_desc *p, int32_t index,
                       uint64_t seed, float *data) {
    double bound = 0, std = 0;
    switch (p->init) {
    case INIT_ONE:
        for (int64_t i = 0; i < p->numel; i++) data[i] = 1.0f;
        return;
    case INIT_ZERO:
        memset(data, 0, sizeof(float) * (size_t)p->numel);
        return;
    case INIT_EMBED:
    case INIT_OUTPUT:
        std = 1.0 / sqrt((double)c->d_model);
        break;
    case INIT_XAVIER_QKVG:
        bound = pow(2.0, -2.5) * sqrt(6.0 / (double)(p->fan_in + p->fan_out));
        break;
    case INIT_XAVIER_OUT:
        bound = 0.5 * sqrt(6.0 / (double)(p->fan_in + p->fan_out));
        break;
    case INIT_XAVIER_ATTN:
        bound = sqrt(0.5) * sqrt(6.0 / (double)(p->fan_in + p->fan_out));
        break;
    case INIT_XAVIER:
        bound = sqrt(6.0 / (double)(p->fan_in + p->fan_out));
        break;
    case INIT_LINEAR:
        bound = 1.0 / sqrt((double)p->fan_in);
        break;
    }
    /* One stream per (seed, tensor, block): the values do not depend on the thread count or
     * on the order tensors are made in, so init can stream to a file. */
    int64_t nblock = (p->numel + INIT_BLOCK - 1) / INIT_BLOCK;
#pragma omp parallel for schedule(static) if (nblock > 1)
    for (int64_t blk = 0; blk < nblock; blk++) {
        retnet_rng rng;
        retnet_rng_seed(&rng, seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(index + 1)) ^
                                  (0xd1b54a32d192ed03ull * (uint64_t)blk));
        int64_t end = (blk + 1) * INIT_BLOCK < p->numel ? (blk + 1) * INIT_BLOCK : p->numel;
        for (int64_t i = blk * INIT_BLOCK; i < end; i++)
            data[i] = std > 0 ? (float)(std * retnet_rng_normal(&rng))
                              : (float)(bound * (2.0 * retnet_rng_uniform(&rng) - 1.0));
    }
}
