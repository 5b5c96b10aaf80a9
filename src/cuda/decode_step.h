/*
 * decode_step.h: a RetNet decoding step (one token for each of B <= 4 sequences, states on the
 * device) as one persistent kernel (decode_step.cu says how). model_cuda.cu fills the
 * arguments from the model and calls it in place of the step's ~10 launches a layer.
 */
#ifndef RETNET_CUDA_DECODE_STEP_H
#define RETNET_CUDA_DECODE_STEP_H

#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "internal.h"
}

#define DS_MAX_B 4 /* sequences a step at most */
/* The profile (prof non-NULL): block 0's %globaltimer (ns) at the end of each phase's own work
 * and of its barrier, 10 a layer (A work, A barrier, B, B, C, C, D, D, E, E), then the
 * producer's ns spent waiting for free stages in slot 10 L (block 0) */
#define DS_PROF_SLOTS 10

/* One layer's device tensors (the model's: fp32 vectors, bf16 (rows, K) matrices); NULL
 * where the config has none. */
typedef struct {
    const float *norm1_w, *norm1_b;         /* the mixer's pre-norm */
    const uint16_t *wq, *wk, *wv, *wg, *wo; /* wg NULL: no gate */
    const float *hn_w, *hn_b;               /* the head norm's affine parameters */
    const float *norm2_w, *norm2_b;         /* the FFN's pre-norm */
    const uint16_t *fc1, *gate, *fc2;       /* gate non-NULL: GLU */
} ds_layer;

typedef struct {
    const ds_layer *layers; /* device array of L */
    int L, B, D, H, dk, dv, F;
    int64_t V;
    int center;     /* the pre-norms: LayerNorm (1) or RMSNorm (0) */
    int head_norm;  /* 0 rms, 1 group (per-head affine), 2 none, -1: neither norm nor gate */
    int act;        /* the FFN's activation (cuda_act) */
    int rope_half;  /* rope pairs (j, j + dk/2), else (2j, 2j + 1) */
    int normalize;  /* RETNET.md §3: key sums z after the B sequences' S, row factors */
    float eps, rope_base, kscale;
    const float *gamma;      /* (H) decays */
    const double *gamma64;   /* (H) the same in double (§3) */
    const int64_t *pos;      /* (B) the tokens' positions */
    float *state;            /* layer l's block at state + l * state_stride floats */
    int64_t state_stride;
    float *x;                /* (B, D) the embedded tokens in, the residual stream */
    const float *fnorm_w, *fnorm_b;
    const uint16_t *wout;    /* (V, D) the output projection */
    float *logits;           /* (B, V) out */
    void *scratch;           /* cuda_decode_step_scratch_bytes(B, ...) bytes, 256-aligned */
    int inflight;            /* ring stages on their way at most (0: the default, 2) */
    int debug;               /* timing experiments only (wrong results): 1 no products' arithmetic,
                                2 no grid barriers */
    int l2_ahead;            /* stages past the ring requested into L2 (0: none) */
    unsigned long long *prof; /* NULL, or DS_PROF_SLOTS (L + 1) stamps: the timeline below */
} ds_args;

/* Whether the step can run this config and batch on this device (sm_90: TMA bulk copies; the
 * widths' limits are in decode_step.cu); *why gets the reason where not. */
int cuda_decode_step_suits(const ds_args *a, const char **why);
size_t cuda_decode_step_scratch_bytes(const ds_args *a);
/* Launches the step on s (capturable in a graph). */
retnet_status cuda_decode_step(const ds_args *a, cudaStream_t s);

#endif
