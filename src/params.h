/*
 * params.h: the one table of model parameters.
 *
 * Each tensor is declared once, as X(field, name, rows, cols, init, present):
 *   field    member of retnet_global_params / retnet_layer_params (float *, NULL if absent)
 *   name     checkpoint name (torchscale's, RETNET.md §6); layer names get "layers.{l}."
 *   rows     first dimension (a Linear weight is (out, in), as in PyTorch)
 *   cols     second dimension, 0 for a vector
 *   init     initialisation rule (RETNET.md §5, see params.c)
 *   present  whether the config has this tensor
 * From this table come the structs, the sizes, the one allocation, the checkpoint names and
 * order, and the tests' tensor lists. The expressions use `c` (const retnet_config *) and
 * the derived widths below.
 */
#ifndef RETNET_PARAMS_H
#define RETNET_PARAMS_H

#include "retnet.h"

#define P_D   (c->d_model)
#define P_DK  (c->d_key)
#define P_DV  (c->d_value)
#define P_LN  (c->norm == RETNET_NORM_LAYERNORM)
#define P_GN  (c->head_norm == RETNET_HEADNORM_GROUPNORM)
#define P_GLU (c->ffn == RETNET_FFN_GLU)
#define P_TF  (c->arch == RETNET_ARCH_TRANSFORMER)
#define P_HN  (!P_TF && c->head_norm != RETNET_HEADNORM_NONE && c->head_norm_affine)
/* Mixer tensor names: torchscale's RetNet ("retention.*") or its Transformer ("self_attn.*") */
#define P_MIX(ret, tf) (P_TF ? tf : ret)

typedef enum {
    INIT_ONE,        /* norm weights */
    INIT_ZERO,       /* norm biases */
    INIT_EMBED,      /* normal(0, d^-0.5) */
    INIT_XAVIER_QKVG,/* xavier-uniform, gain 2^-2.5 */
    INIT_XAVIER_OUT, /* xavier-uniform, gain 2^-1 */
    INIT_XAVIER_ATTN,/* xavier-uniform, gain 2^-0.5 (torchscale MultiheadAttention q, k, v) */
    INIT_XAVIER,     /* xavier-uniform, gain 1 (its out_proj) */
    INIT_LINEAR,     /* PyTorch's nn.Linear default: uniform(+-1/sqrt(fan_in)) */
    INIT_OUTPUT,     /* output projection: normal(0, d^-0.5) */
} retnet_init_rule;

#define RETNET_GLOBAL_PARAMS(X)                                                          \
    X(embed,  "embed_tokens.weight",      c->vocab, P_D, INIT_EMBED, 1)                  \
    X(norm_w, "layer_norm.weight",        P_D, 0, INIT_ONE, 1)                           \
    X(norm_b, "layer_norm.bias",          P_D, 0, INIT_ZERO, P_LN)                       \
    X(out,    "output_projection.weight", c->vocab, P_D, INIT_OUTPUT, !c->tie_embeddings)

#define RETNET_LAYER_PARAMS(X)                                                           \
    X(ret_norm_w, P_MIX("retention_layer_norm.weight", "self_attn_layer_norm.weight"),   \
      P_D, 0, INIT_ONE, 1)                                                               \
    X(ret_norm_b, P_MIX("retention_layer_norm.bias", "self_attn_layer_norm.bias"),       \
      P_D, 0, INIT_ZERO, P_LN)                                                           \
    X(wq, P_MIX("retention.q_proj.weight", "self_attn.q_proj.weight"), P_DK, P_D,        \
      P_TF ? INIT_XAVIER_ATTN : INIT_XAVIER_QKVG, 1)                                     \
    X(wk, P_MIX("retention.k_proj.weight", "self_attn.k_proj.weight"), P_DK, P_D,        \
      P_TF ? INIT_XAVIER_ATTN : INIT_XAVIER_QKVG, 1)                                     \
    X(wv, P_MIX("retention.v_proj.weight", "self_attn.v_proj.weight"), P_DV, P_D,        \
      P_TF ? INIT_XAVIER_ATTN : INIT_XAVIER_QKVG, 1)                                     \
    X(wg, "retention.g_proj.weight", P_DV, P_D, INIT_XAVIER_QKVG, !P_TF && c->gate)      \
    X(wo, P_MIX("retention.out_proj.weight", "self_attn.out_proj.weight"), P_D, P_DV,    \
      P_TF ? INIT_XAVIER : INIT_XAVIER_OUT, 1)                                           \
    X(hn_w, "retention.group_norm.weight", P_GN ? P_DV : P_DV / c->n_head, 0, INIT_ONE,  \
      P_HN)                                                                              \
    X(hn_b, "retention.group_norm.bias", P_DV, 0, INIT_ZERO, P_HN && P_GN)               \
    X(ffn_norm_w, "final_layer_norm.weight", P_D, 0, INIT_ONE, 1)                        \
    X(ffn_norm_b, "final_layer_norm.bias",   P_D, 0, INIT_ZERO, P_LN)                    \
    X(fc1,  "ffn.fc1.weight",  c->d_ffn, P_D, INIT_LINEAR, 1)                            \
    X(gate, "ffn.gate.weight", c->d_ffn, P_D, INIT_LINEAR, P_GLU)                        \
    X(fc2,  "ffn.fc2.weight",  P_D, c->d_ffn, INIT_LINEAR, 1)

#define P_FIELD(field, name, rows, cols, init, present) float *field;
typedef struct { RETNET_GLOBAL_PARAMS(P_FIELD) } retnet_global_params;
typedef struct { RETNET_LAYER_PARAMS(P_FIELD) } retnet_layer_params;
#undef P_FIELD

/* One row of the table, resolved for a config and a layer (-1 for the global tensors). */
typedef struct {
    char name[96];
    int32_t layer;
    int32_t ndim;
    int64_t shape[2];
    int64_t numel;
    int64_t offset;            /* in floats, inside the one parameter allocation */
    retnet_init_rule init;
    int64_t fan_in, fan_out;   /* for the init rules */
    float **slot;              /* where the model keeps the pointer (NULL in a bare table) */
} retnet_param_desc;

/*
 * Resolves the table for a config: fills up to `cap` descriptors in checkpoint order
 * (global embed, layers 0..L-1, then final norm and output projection) and returns how
 * many there are (call with cap 0 to count). Offsets are consecutive; *total gets the
 * total float count. `g` and `layers` (may be NULL) receive the slot addresses.
 */
int32_t retnet_param_table(const retnet_config *c, retnet_param_desc *out, int32_t cap,
                           int64_t *total, retnet_global_params *g, retnet_layer_params *layers);

/* Fills one tensor by its init rule; `seed` and the tensor's index make it reproducible
 * tensor by tensor (so init can stream to a file). */
void retnet_param_init(const retnet_config *c, const retnet_param_desc *p, int32_t index,
                       uint64_t seed, float *data);

#endif
