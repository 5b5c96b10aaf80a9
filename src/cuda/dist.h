/*
 * dist.h: data-parallel training over several GPUs with NCCL (make CUDA=1), the backend of
 * retnet_trainer_create_dist (include/retnet.h says what the caller sees). One process per
 * GPU; every rank holds the whole model, its fp32 master weights and its gradients
 * (model_cuda_train_begin_ex without moments), and:
 *
 *  - all-reduces (averages) the gradients during the backward of a step's last micro-batch:
 *    model_cuda's gradient hook hands over each range of the flat layout whose gradients are
 *    final; ranges are merged into buckets of at least `bucket_bytes`, and each bucket is
 *    averaged (ncclAvg, in place) on a communication stream after an event recorded on the
 *    legacy default stream, so that the reduction of the last layers overlaps the backward of
 *    the first. The stream is a non-blocking one: a blocking stream would serialise with the
 *    legacy default stream and undo the overlap.
 *  - ZeRO-1: rank r owns the shard [r S, (r+1) S) of the flat parameters, S = the
 *    parameter count over the world rounded down to a multiple of 256 floats (1 KiB), and
 *    keeps AdamW moments for it only; the tail [W S, n) (fewer than 256 W floats) is owned by
 *    every rank, which all update it identically. An update runs model_cuda_adamw_range on the
 *    shard and the tail, then gathers the shards' master weights in place (ncclAllGather with
 *    sendbuf = master + r S inside recvbuf = master: equal counts, no padding buffer) and
 *    rebuilds the bf16 copies from them.
 *  - The gradient norm is the model's own over the averaged gradients: the same numbers on
 *    every rank (an all-reduce leaves the same bits everywhere), so every rank clips alike.
 *
 * Failures. The communicator is non-blocking (ncclConfig_t.blocking = 0): its creation and
 * every wait for the other ranks is a polling loop over cudaStreamQuery and
 * ncclCommGetAsyncError, bounded by the timeout; an error or the timeout aborts the
 * communicator (ncclCommAbort, which ends its kernels) and fails with a message naming this
 * rank and what it waited for. After a failure every call fails with that message. The
 * model's own synchronising calls (cudaDeviceSynchronize at the end of its passes) never
 * wait on an unfinished reduction: the last bucket of a backward is waited for here, by
 * polling, before the hook returns.
 *
 * Every function but dist_free is collective where it communicates: all ranks call the
 * same functions in the same order. Not thread safe (one host thread per process).
 */
#ifndef RETNET_CUDA_DIST_H
#define RETNET_CUDA_DIST_H

#include <stdint.h>

#include "cuda/model_cuda.h"
#include "retnet.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DIST_ID_BYTES 128 /* sizeof(ncclUniqueId) */

typedef struct dist_ctx dist_ctx;

typedef struct dist_opts {
    int32_t rank, world;
    int32_t micro_batches; /* accumulate calls per step; the last one reduces (>= 1) */
    double timeout_s;      /* longest wait for the other ranks (> 0) */
    int64_t bucket_bytes;  /* gradient bytes per all-reduce (>= 1) */
} dist_opts;

/* A fresh NCCL unique id (ncclGetUniqueId: this process then hosts the rendezvous, so it must
 * live until the ranks have joined). Sets NCCL_NVLS_ENABLE=0 before NCCL first reads its
 * environment. */
retnet_status dist_make_id(uint8_t id[DIST_ID_BYTES]);

/*
 * Joins the communicator of `id` as rank o->rank of o->world on the model's device, makes
 * the model train (master weights and gradients, no full moments), allocates the shard's
 * moments and copies rank 0's master weights to every rank (so that all start identical).
 * m: the host model (its tensor table; its parameters are the ones d was made from).
 */
retnet_status dist_create(model_cuda *d, const retnet_model *m, const uint8_t id[DIST_ID_BYTES],
                          const dist_opts *o, dist_ctx **out);
/* Leaves the communicator (aborting it after a failure) and frees the rank's buffers. The
 * model stays training with its master weights and gradients. NULL is fine. */
void dist_free(dist_ctx *x);

/* model_cuda_zero_grads, and a new step: the next `micro_batches`-th accumulate reduces. */
retnet_status dist_zero_grad(dist_ctx *x);
/* This process's rank (0 for NULL). */
int32_t dist_rank(const dist_ctx *x);
/* model_cuda_forward_backward; on the step's last micro-batch with the reduction hooked in. */
retnet_status dist_accumulate(dist_ctx *x, const int32_t *tokens, const int32_t *targets,
                              int32_t B, int32_t T, float grad_scale, double *loss_sum,
                              int64_t *count);
/* The norm of the averaged gradients (reduced here, without overlap, when fewer than
 * micro_batches accumulates came). */
retnet_status dist_grad_norm(dist_ctx *x, double *norm);
/* The ZeRO-1 AdamW step: shard and tail updated, shards gathered, bf16 copies rebuilt. */
retnet_status dist_update(dist_ctx *x, int64_t step, const retnet_adamw *h, float clip_scale);
/* v[0..n) summed over the ranks in place (doubles; n <= 64); the same result everywhere. */
retnet_status dist_sum(dist_ctx *x, double *v, int32_t n);
/* The whole AdamW moments (param_count floats each, host) on rank 0: every rank's shard is
 * gathered through the gradient buffer, which is zeroed afterwards. Ranks other than 0 may
 * pass NULL (nothing is copied to them). */
retnet_status dist_moments_gather(dist_ctx *x, float *m1, float *m2);
/* Every rank takes its shard and the tail of whole host moments (param_count floats each). */
retnet_status dist_moments_scatter(dist_ctx *x, const float *m1, const float *m2);
/* The shard this rank owns, [*begin, *end), and the tail [*tail, n) every rank owns. */
void dist_shard(const dist_ctx *x, int64_t *begin, int64_t *end, int64_t *tail);
/* Device bytes of the rank's own buffers (the shard's moments). */
int64_t dist_bytes(const dist_ctx *x);

#ifdef __cplusplus
}
#endif

#endif
