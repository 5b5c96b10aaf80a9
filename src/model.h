/*
 * model.h: the model object shared by model.c (forward), params.c (table, init) and
 * checkpoint.c (load/save). Not part of the public API.
 */
#ifndef RETNET_MODEL_H
#define RETNET_MODEL_H

#include "internal.h"
#include "params.h"

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
};

/* Index of the tensor with this checkpoint name, or -1. */
int32_t retnet_model_find_tensor(const retnet_model *m, const char *name);

#endif
