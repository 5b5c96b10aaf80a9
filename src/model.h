/*
 * model.h: the model object shared by model.c (forward), params.c (table, init) and
 * checkpoint.c (load/save). Not part of the public API.
 */
#ifndef RETNET_MODEL_H
#define RETNET_MODEL_H

#include "internal.h"
#include "params.h"
#include "row_factor.h" /* RETNET.md §3's row scalars: shared with the CUDA kernels */

#include <math.h>

struct retnet_model {
    retnet_config cfg;
    float *params;                 /* the one allocation of all parameters */
    int64_t n_params;
    retnet_global_params g;        /* pointers into params (NULL: absent in this config) */
    retnet_layer_params *layers;   /* n_layer entries */
    retnet_param_desc *table;      /* n_tensors, checkpoint order */
    int32_t n_tensors;
    double *gamma;                 /* per-head decay, double (§2) */
    uint16_t *params_bf16;         /* bf16 copy of the 2-D weights for decoding, or NULL */
    int bf16_only;                 /* the 2-D weights exist only in params_bf16: their fp32
                                      range of params is never written (and, where whole pages,
                                      PROT_NONE, so that a read of it faults loudly) */
    float *wconv;                  /* bf16_only: one weight widened to fp32 for a product of
                                      many rows (BLAS), grown on demand */
    int64_t wconv_floats;
    /* Scratch for forward passes, grown on demand, reused across calls. */
    float *scratch;
    int64_t scratch_floats;
    int64_t scratch_peak_bytes;
    void *acts;                    /* per-layer activation pointers (model.c's layer_acts) */
    int32_t acts_cap;
    float *train;                  /* training activations and gradients, grown on demand */
    int64_t train_floats;
    float **seq_state;             /* per-sequence state pointers of a forward, grown on demand */
    int64_t *seq_pos;
    int32_t seq_cap;
    void *device;                  /* CUDA builds: the model_cuda copy that retnet_forward runs
                                      on (retnet_model_to_device), or NULL: the CPU */
};

/* Grows a scratch block to `floats` (contents not kept); ENOMEM names `what`. */
retnet_status model_grow(float **buf, int64_t *cap, int64_t floats, const char *what);
/* Every one of B x T tokens in the vocabulary, else EINVAL naming the first outside it by its
 * sequence and position (every entry point's check: the CPU and CUDA forwards, the batch). */
retnet_status model_check_tokens(const retnet_config *c, const int32_t *tokens, int32_t B,
                                 int64_t T);

/* The head-norm mode of ops.h for a config (ops.h's HEAD_NORM_*: 0 rms, 1 group, 2 none). */
static inline int model_head_norm_mode(const retnet_config *c) {
    return c->head_norm == RETNET_HEADNORM_GROUPNORM ? 1 : c->head_norm == RETNET_HEADNORM_NONE ? 2 : 0;
}

/* The Transformer's KV cache of one sequence in layer l (retnet.h): keys (context, d_key),
 * then values (context, d_value). */
static inline float *model_kv_cache(const retnet_config *c, float *state, int l) {
    return state + (int64_t)l * c->context * (c->d_key + c->d_value);
}

/* A Transformer's forward that would write position end - 1 into a KV cache of c->context
 * positions is refused (both backends say the same). */
static inline retnet_status model_cache_overflow(const retnet_config *c, int32_t b, int64_t end) {
    return retnet_fail(RETNET_EINVAL, "forward: sequence %d would reach position %lld, but the "
                       "Transformer's KV cache holds %d tokens (raise it: --context in the CLI)",
                       b, (long long)end, c->context);
}

/* Products of up to this many rows (decoding) read the bf16 copy of the weights when the
 * model has one: they are bound by reading the weights, and bf16 halves the bytes. */
#define BF16_MAX_ROWS 8
/* A bf16-only model's products read its bf16 weights directly up to this many rows; above, a
 * weight is widened to float32 once for BLAS (model.c's mm). */
#define BF16_ONLY_MAX_ROWS 64

/* Decoding steps (decode.c): one token per sequence, recurrent form, up to this many
 * sequences, each with its caller-owned state. */
#define DECODE_MAX_B 64

/* Whether a product of `rows` rows reads the bf16 weights (the one rule of model.c's products
 * and of the decoding step). */
static inline int model_use_bf16(const retnet_model *m, int64_t rows) {
    return m->params_bf16 &&
           (rows <= BF16_MAX_ROWS || (m->bf16_only && rows <= BF16_ONLY_MAX_ROWS));
}

retnet_status model_decode(retnet_model *m, const int32_t *tokens, int32_t B,
                           float *const *S, const int64_t *pos, float *logits);

/* The calls that read or write the float32 weights refuse a bf16-only model (whose float32
 * range is never written, and PROT_NONE where it covers whole pages) with this one message:
 * `what` names the call. */
static inline retnet_status model_need_f32(const retnet_model *m, const char *what) {
    if (!m->bf16_only) return RETNET_OK;
    return retnet_fail(RETNET_EINVAL, "%s needs float32 weights, and this model holds them in "
                       "bf16 only (loaded with RETNET_LOAD_BF16): load it without", what);
}

/* Makes a freshly created model hold its 2-D weights in bf16 only (params_bf16); the 1-D ones
 * stay in params. For loaders: the values are then read into both arrays. */
retnet_status model_make_bf16_only(retnet_model *m);

/* Index of the tensor with this checkpoint name, or -1. */
int32_t retnet_model_find_tensor(const retnet_model *m, const char *name);

#endif
