/*
 * model_cuda.h: the model on a CUDA device (make CUDA=1): its inference forward, decoding
 * states on the device, and its training forward/backward and AdamW (the public ways in are
 * retnet_model_to_device + retnet_forward / retnet_batch / retnet_trainer, include/retnet.h).
 *
 * A model_cuda is a device copy of a retnet_model's parameters, taken when it is made (a
 * snapshot: after changing the host weights, make it again), plus activation buffers grown
 * on demand. The 2-D weights are held in bf16 (rounded to nearest even from float32
 * parameters, copied as they are from a bf16-only model); the norms' weights and biases, the
 * decays and the embedding table (for the lookup) in fp32; a tied output projection reads a
 * bf16 copy of the embedding. Training adds fp32 master weights (the fp32 reads move to them),
 * gradients and moments (model_cuda_train_begin).
 *
 * The forward is src/model.c's forward, op for op (RETNET.md §4-5): products on bf16 operands
 * with fp32 accumulation (cuBLASLt), fp32 activations, norms and residuals; retention in the
 * chunkwise form (retention_cuda_forward, chunks of the kernel's own length: the `form` and
 * `chunk` of a call are not used, the forms being one function) for any T, and the recurrent
 * step (retention_cuda_step) for T = 1 with states; a decoding step with device states and
 * device logits runs as one CUDA graph. RetNet states are fp32. Bf16 roundings (2^-8 relative
 * each: bf16's unit roundoff) happen where a tensor becomes a product's operand: the norms'
 * outputs, q/k/v, the head-norm output, the FFN's hidden activation, three inside the
 * retention kernel (retention.h); in training also the gradients that feed products.
 *
 * Supported: arch retnet with every option: rope paper and half, layernorm and rmsnorm, gelu
 * and glu FFNs (gelu or swish), head norm groupnorm / rmsnorm / none with or without affine
 * weights, the gate on or off, tied or untied output, embed scale, every decay, the §3
 * normalisations (cuda.h's retention_norm.cu); and the Transformer baseline for inference
 * (cuda/attention.h: its KV cache in bf16 on the device, so a host state that went through the
 * GPU comes back rounded to bf16). Refused with RETNET_EUNSUPPORTED (with a message): head
 * widths the kernels do not take (RetNet: multiples of 8 up to 512; Transformer: up to 256),
 * training the Transformer, dropout in training.
 *
 * One device per process (the runtime's rule, cuda.h); not thread safe; work runs on the
 * legacy default stream (the decoding graph on the model's own stream) and every call returns
 * with the device idle.
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

/*
 * Device-resident states for B sequences, layer-major: per layer the B sequences' S (B, h, dk,
 * dv) fp32, contiguous for the retention kernels, then with §3 their key sums z (B, h, dk). A
 * sequence's host retnet_state data (retnet.h's layout: per layer S, then z) is gathered from
 * those parts (the Transformer: its bf16 KV cache, cuda/attention.h's layout).
 */
/* Allocates (cudaMalloc) zeroed device states for B sequences; free with retnet_cuda_free. */
retnet_status model_cuda_states_alloc(const model_cuda *d, int32_t B, float **state_dev);
/* Sequence i of a device batch of B states to / from one host state's data (upload 1: host
 * to device). rows: the Transformer's positions to copy (its state's pos; the rest of a KV
 * cache is never read); not used by a RetNet. */
retnet_status model_cuda_state_copy(model_cuda *d, float *state_dev, int32_t B, int32_t i,
                                    float *host, int64_t rows, int upload);
/* The Transformer's KV-cache capacity changed (retnet_model_set_context): device states made
 * before no longer fit (the caller's batches must be made again). */
void model_cuda_set_context(model_cuda *d, int32_t context);
/* The CUDA device ordinal the model is on. */
int model_cuda_device(const model_cuda *d);
/* A number no other model_cuda of this process has had (a batch or trainer made on one tells
 * it from a later copy that happens to sit at the same address). */
uint64_t model_cuda_id(const model_cuda *d);
/* Device bytes per sequence beyond the states themselves, for B sequences: the decoding
 * window's ring and count (model_cuda.cu's win_of; 0 without one). */
int64_t model_cuda_window_bytes(const model_cuda *d, int32_t B);
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

/* The same, but only each sequence's last logits, into logits_dev (B rows of
 * model_cuda_logits_stride floats, the first V of each used) on the device (nothing is
 * downloaded: the decoding loop of retnet_batch). */
retnet_status model_cuda_forward_last(model_cuda *d, const int32_t *tokens, int32_t B,
                                      int32_t T, float *state_dev, const int64_t *pos,
                                      float *logits_dev);
/* How many decoding steps' graphs the model has captured so far (tests: batches stepped in
 * turn replay their own graphs, not capture one a step). */
int64_t model_cuda_graph_captures(const model_cuda *d);
/* 1 where decoding steps of one (and, where the GPU runs that kernel, two) sequences run as
 * one persistent kernel (cuda.h's decode_persistent.cu: fla's variant at the 1.3B shapes on an
 * sm_90 GPU, unless RETNET_CUDA_PERSISTENT=0 when the model moved to the GPU), 0 where the
 * kernel chain runs them */
int model_cuda_persistent(const model_cuda *d);
/* The greedy next token (first largest logit) of each of B rows of device logits (B rows
 * of model_cuda_logits_stride floats). */
retnet_status model_cuda_argmax(model_cuda *d, const float *logits_dev, int32_t B,
                                int32_t *next);
/* n greedy steps of B sequences from the logits at logits_dev (the last forward's, kept there
 * by model_cuda_forward_last): step i's tokens, the argmax of the logits before it, into ids
 * (n x B, step-major), each fed to the next step on the device; the states at pos advance n
 * tokens and logits_dev then holds the last step's logits (model_cuda_argmax reads their ids). */
retnet_status model_cuda_greedy(model_cuda *d, int32_t B, int32_t n, float *state_dev,
                                const int64_t *pos, float *logits_dev, int32_t *ids);
/* 1 where model_cuda_greedy can queue the steps (decoding graphs with their argmax on) */
int model_cuda_greedy_queues(const model_cuda *d);
/* The device logits' row stride in floats: the vocabulary rounded up to 8 (16-byte rows) */
int64_t model_cuda_logits_stride(const model_cuda *d);

/*
 * The hook of retnet_forward for a model on the device (m->device): the same contract, with
 * the caller's host states uploaded before and downloaded after the call (2 L h dk dv floats
 * per sequence each way per call: for decoding that is the cost that dominates at small
 * sizes; model_cuda_forward_states keeps them on the device). States and positions are
 * updated only on success. `form` and `chunk` are not used (see above).
 */
retnet_status model_cuda_forward(retnet_model *m, const int32_t *tokens, int32_t B, int32_t T,
                                 retnet_form form, retnet_state *states, float *logits);

/*
 * Training on the device (retnet_trainer's backend; mixed precision). train_begin allocates
 * fp32 master weights (the host parameters' layout: one array of param_count floats, uploaded
 * from m->params), gradients and AdamW moments (zeroed), and points every fp32 read of the
 * forward at the master weights; the bf16 copies stay what the products read, refreshed by
 * each AdamW step. Device memory: 16 bytes per parameter besides the bf16 copy.
 */
retnet_status model_cuda_train_begin(model_cuda *d, const retnet_model *m);
retnet_status model_cuda_zero_grads(model_cuda *d);
/*
 * retnet_forward_backward on the device, B windows of T tokens from the empty state, the
 * chunkwise kernels: grads += grad_scale d loss / d params. tokens, targets (B, T) host;
 * targets < 0 not counted. loss_sum (summed in double) and count may be NULL. Every
 * layer's activations are kept for the backward (bf16 where they are a product's operand).
 */
retnet_status model_cuda_forward_backward(model_cuda *d, const int32_t *tokens,
                                          const int32_t *targets, int32_t B, int32_t T,
                                          float grad_scale, double *loss_sum, int64_t *count);
/* Residual dropout for the next model_cuda_forward_backward calls (src/dropout.h's masks, the
 * CPU's: retnet_train_opts' dropout and seed): p in [0, 1), 0 off; rank (data-parallel: the
 * micro-batch's place in the global batch, which starts at rank B T d_model elements). */
retnet_status model_cuda_set_dropout(model_cuda *d, float p, uint64_t seed, int32_t rank);
retnet_status model_cuda_grad_norm(model_cuda *d, double *norm);
/* AdamW on every tensor of m's table (m: the host model, for the table and which tensors
 * are decayed), gradients times clip_scale; master weights, moments and bf16 copies updated. */
retnet_status model_cuda_adamw(model_cuda *d, const retnet_model *m, int64_t step,
                               const retnet_adamw *h, float clip_scale);
/* Copies master weights / moments / gradients (param_count floats each; any may be NULL)
 * from or to the device. Uploading params also refreshes the bf16 copies. */
retnet_status model_cuda_train_download(model_cuda *d, float *params, float *m1, float *m2,
                                        float *grads);
retnet_status model_cuda_train_upload(model_cuda *d, const retnet_model *m, const float *params,
                                      const float *m1, const float *m2);
/* train_begin without the AdamW moments when moments == 0 (a ZeRO-1 rank keeps only its
 * shard's, for model_cuda_adamw_range). */
retnet_status model_cuda_train_begin_ex(model_cuda *d, const retnet_model *m, int moments);

/*
 * Distributed training (src/cuda/dist.cu builds on these). The flat parameter layout is
 * [embedding][layer 0] ... [layer L-1][final norm, output projection]. During
 * model_cuda_forward_backward the hook is called each time the gradients of a range
 * [begin, end) of it are final for this micro-batch: once for the final norm and output
 * projection, once per layer from the last to the first, once for the embedding, in that
 * order; the work that produced them is enqueued on the legacy default stream (record an
 * event there and make another stream wait on it, to overlap a reduction with the rest of
 * the backward). A hook's failure stops the pass with its status. fn NULL removes it.
 */
typedef retnet_status (*model_cuda_grad_hook)(void *ctx, int64_t begin, int64_t end);
void model_cuda_set_grad_hook(model_cuda *d, model_cuda_grad_hook fn, void *ctx);
/* The device arrays of a training model: gradients and master weights (n_params floats). */
float *model_cuda_grads(model_cuda *d);
float *model_cuda_master(model_cuda *d);
int64_t model_cuda_n_params(const model_cuda *d);
/* AdamW on the elements [begin, end) of the flat layout only (each tensor's part of it, with
 * its own decay rule), moments m1, m2 of end - begin floats on the device (a ZeRO-1 shard);
 * the bf16 copies of those elements follow. Enqueued on the legacy default stream. */
retnet_status model_cuda_adamw_range(model_cuda *d, const retnet_model *m, int64_t step,
                                     const retnet_adamw *h, float clip_scale, int64_t begin,
                                     int64_t end, float *m1, float *m2);
/* Rebuilds every bf16 copy from the master weights (after they were all-gathered). */
retnet_status model_cuda_refresh_bf16(model_cuda *d, const retnet_model *m);

/* Device bytes in use by this model (parameters, training buffers, activations). */
int64_t model_cuda_bytes(const model_cuda *d);

#ifdef __cplusplus
}
#endif

#endif
