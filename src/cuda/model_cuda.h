/*
 * model_cuda.h: the RetNet model's inference forward on a CUDA device (make CUDA=1; the
 * public way in is retnet_model_to_device + retnet_forward, include/retnet.h).
 *
 * A model_cuda is a device copy of a retnet_model's parameters, taken when it is made (a
 * snapshot: after changing the host weights, make it again), plus activation buffers grown
 * on demand. The 2-D weights are held in bf16 (rounded to nearest even from float32
 * parameters, copied as they are from a bf16-only model); the norms' weights and biases, the
 * decays and the embedding table (for the lookup) in fp32; a tied output projection reads a
 * bf16 copy of the embedding.
 *
 * The forward is src/model.c's inference forward, op for op (RETNET.md §4-5): products on
 * bf16 operands with fp32 accumulation (cuBLASLt), fp32 activations, norms and residuals;
 * retention in the chunkwise form (retention_cuda_forward, chunks of the kernel's own
 * length: the `form` and `chunk` of a call are not used, the forms being one function) for
 * any T, and the recurrent step (retention_cuda_step) for T = 1 with states. States are fp32
 * throughout. Bf16 roundings (2^-9 relative each) happen where a tensor becomes a product's
 * operand: the norms' outputs, q/k/v, the head-norm output, the FFN's hidden activation, and
 * three inside the retention kernel (retention.h).
 *
 * Supported: arch retnet with every option but the §3 normalisations: rope paper and half,
 * layernorm and rmsnorm, gelu and glu FFNs (gelu or swish), head norm groupnorm / rmsnorm /
 * none with or without affine weights, the gate on or off, tied or untied output, embed scale,
 * every decay. Refused with RETNET_EUNSUPPORTED (at model_cuda_create, with a message): the
 * Transformer baseline, normalize = 1 (the CUDA retention kernels have no row sums: fla's
 * variant, what real checkpoints use, has it off), and head widths the kernels do not take
 * (dk, dv multiples of 8 and at most 512).
 *
 * One device per process (the runtime's rule, cuda.h); not thread safe; everything runs on
 * the legacy default stream and every call returns with the device idle.
 */
#ifndef RETNET_MODEL_CUDA_H
#define RETNET_MODEL_CUDA_H

#include <stdint.h>

#include "retnet.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct model_cuda model_cuda;

/* Selects CUDA device `device` and uploads m's parameters. *out NULL on failure. */
retnet_status model_cuda_create(const retnet_model *m, int device, model_cuda **out);
void model_cuda_free(model_cuda *d); /* NULL is fine */
/* Device bytes the parameters take. */
int64_t model_cuda_param_bytes(const model_cuda *d);

/*
 * Device-resident states for B sequences, layer-major: (L, B, h, dk, dv) fp32, so that each
 * layer's B states are contiguous for the retention kernels. Block (l, b) is exactly layer l
 * of sequence b's host retnet_state data (retnet.h's layout, normalize off).
 */
/* Allocates (cudaMalloc) zeroed device states for B sequences; free with retnet_cuda_free. */
retnet_status model_cuda_states_alloc(const model_cuda *d, int32_t B, float **state_dev);
/* Copies B host states (their data; pos is not touched) to / from the device layout. */
retnet_status model_cuda_states_upload(model_cuda *d, float *state_dev,
                                       const retnet_state *states, int32_t B);
retnet_status model_cuda_states_download(model_cuda *d, retnet_state *states,
                                         const float *state_dev, int32_t B);

/*
 * B sequences of T tokens from device states:
 *   tokens (B, T) host, each in [0, vocab);
 *   state_dev (L, B, h, dk, dv) device, read and updated to the state after the last token,
 *     or NULL: every sequence starts empty and no state is kept;
 *   pos (B) host: the position of each sequence's first token (rope), or NULL for all 0;
 *   logits (B, T, vocab) HOST output, or NULL when only the states are wanted.
 * T = 1 with states runs the recurrent step, anything else the chunkwise form.
 */
retnet_status model_cuda_forward_states(model_cuda *d, const int32_t *tokens, int32_t B,
                                        int32_t T, float *state_dev, const int64_t *pos,
                                        float *logits);

/*
 * The hook of retnet_forward for a model on the device (m->device): the same contract, with
 * the caller's host states uploaded before and downloaded after the call (2 L h dk dv floats
 * per sequence each way per call: for decoding that is the cost that dominates at small
 * sizes; model_cuda_forward_states keeps them on the device). States and positions are
 * updated only on success. `form` and `chunk` are not used (see above).
 */
retnet_status model_cuda_forward(retnet_model *m, const int32_t *tokens, int32_t B, int32_t T,
                                 retnet_form form, retnet_state *states, float *logits);

#ifdef __cplusplus
}
#endif

#endif
