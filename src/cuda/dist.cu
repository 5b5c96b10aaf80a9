/*
 * dist.cu: data-parallel training with NCCL: the gradient all-reduce overlapped with the
 * backward, the ZeRO-1 sharded AdamW step and the bounded waits that turn a stopped rank into
 * an error (dist.h says what each part does and why). Host code only: the arithmetic is the
 * model's (model_cuda_adamw_range, model_cuda_grad_norm) and NCCL's.
 *
 * Streams: the model enqueues everything on the legacy default stream ("the model's stream"
 * below); NCCL runs on x->cs, a non-blocking stream, which waits for an event recorded on
 * the model's stream before each collective that reads what the model wrote. The model's
 * stream never waits on x->cs on the device: the host polls x->cs to completion (with the
 * timeout) before anything on the model's stream reads what NCCL wrote, so that no device
 * wait can hang on a collective whose peer is gone.
 */
#include <nccl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuda/common.cuh"

extern "C" {
#include "model.h"
}
#include "cuda/dist.h"

static_assert(sizeof(ncclUniqueId) == DIST_ID_BYTES, "ncclUniqueId is DIST_ID_BYTES bytes");

#define SHARD_ALIGN 256 /* floats: every shard starts on a 1 KiB boundary */
#define SUM_MAX 64      /* doubles per dist_sum */

struct dist_ctx {
    model_cuda *d;
    const retnet_model *m;
    int32_t rank, world, micro;
    double timeout;
    int64_t bucket;          /* floats per all-reduce, at least */
    ncclComm_t comm;         /* NULL once aborted */
    cudaStream_t cs;         /* NCCL's stream (non-blocking) */
    cudaEvent_t ev;          /* recorded on the model's stream before a collective */
    float *grads, *master;   /* the model's (n floats each) */
    int64_t n, S, tail;      /* parameters; shard length; the tail starts at world * S */
    float *m1, *m2;          /* this rank's moments: S shard floats, then n - tail tail floats */
    double *dsum, *hsum;     /* dist_sum: device and pinned host, SUM_MAX each */
    /* the step under way */
    int32_t done;            /* accumulates since zero_grad */
    int reduced;             /* the gradients are averaged over the ranks */
    int64_t pb, pe;          /* the bucket being filled: [pb, pe) */
    int64_t covered;         /* floats the hook handed over during this pass */
    int failed;
    char err[640];
};


static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Between two polls: yield for the first millisecond (a collective usually ends within it),
 * then sleep 50 us at a time. */
static void pause_after(double waited) {
    if (waited < 1e-3) {
        sched_yield();
        return;
    }
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------- failures */

static retnet_status failed_again(const dist_ctx *x) {
    return retnet_fail(RETNET_EDEVICE, "%s", x->err);
}

/* Keeps the message, aborts the communicator (its kernels end) and fails with it. */
static retnet_status dist_fail(dist_ctx *x, const char *fmt, ...) RETNET_PRINTF(2, 3);
static retnet_status dist_fail(dist_ctx *x, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err, sizeof x->err, fmt, ap);
    va_end(ap);
    x->failed = 1;
    if (x->comm) ncclCommAbort(x->comm);
    x->comm = NULL;
    return failed_again(x);
}

static retnet_status nccl_fail(dist_ctx *x, ncclResult_t r, const char *what) {
    const char *last = x->comm ? ncclGetLastError(x->comm) : ncclGetLastError(NULL);
    char detail[320] = "";
    if (last && *last) snprintf(detail, sizeof detail, ": %.300s", last);
    return dist_fail(x, "rank %d of %d: NCCL %s failed: %s%s%s; the communicator was aborted",
                     x->rank, x->world, what, ncclGetErrorString(r), detail,
                     r == ncclRemoteError || r == ncclSystemError
                         ? " (another rank stopped, or its connection broke)" : "");
}

static retnet_status timeout_fail(dist_ctx *x, const char *what) {
    return dist_fail(x, "rank %d of %d: %s did not complete within %.0f s: another rank "
                     "stopped, is stuck or is far behind (RETNET_DIST_TIMEOUT sets the limit "
                     "in seconds); the communicator was aborted", x->rank, x->world, what,
                     x->timeout);
}

/* The communicator's state after a call that returned r: a non-blocking communicator may
 * still be busy with it (ncclInProgress); no other NCCL call may come until it is ready. */
static retnet_status nccl_ready(dist_ctx *x, ncclResult_t r, const char *what) {
    if (r == ncclSuccess) return RETNET_OK;
    if (r != ncclInProgress || !x->comm) return nccl_fail(x, r, what);
    const double t0 = now_s();
    for (;;) {
        ncclResult_t a = ncclSuccess, q = ncclCommGetAsyncError(x->comm, &a);
        if (q != ncclSuccess) return nccl_fail(x, q, what);
        if (a == ncclSuccess) return RETNET_OK;
        if (a != ncclInProgress) return nccl_fail(x, a, what);
        double w = now_s() - t0;
        if (w > x->timeout) return timeout_fail(x, what);
        pause_after(w);
    }
}

/* Waits, by polling, until everything enqueued on x->cs is done; the communicator's errors
 * and the timeout end the wait. */
static retnet_status wait_comm(dist_ctx *x, const char *what) {
    const double t0 = now_s();
    for (;;) {
        cudaError_t e = cudaStreamQuery(x->cs);
        if (e == cudaSuccess) return RETNET_OK;
        if (e != cudaErrorNotReady) {
            cuda_fail_(e, what, __FILE__, __LINE__);
            return dist_fail(x, "rank %d of %d: %s", x->rank, x->world, retnet_errmsg());
        }
        ncclResult_t a = ncclSuccess;
        ncclCommGetAsyncError(x->comm, &a);
        if (a != ncclSuccess && a != ncclInProgress) return nccl_fail(x, a, what);
        double w = now_s() - t0;
        if (w > x->timeout) return timeout_fail(x, what);
        pause_after(w);
    }
}

/* x->cs waits (on the device) for the work enqueued so far on the model's stream. */
static retnet_status after_model(dist_ctx *x) {
    CUDA_TRY(cudaEventRecord(x->ev, 0), "cudaEventRecord");
    CUDA_TRY(cudaStreamWaitEvent(x->cs, x->ev, 0), "cudaStreamWaitEvent");
    return RETNET_OK;
}

/* ---------------------------------------------------------------- the gradient buckets */

/* Averages the pending bucket [pb, pe) over the ranks, in place, on x->cs. */
static retnet_status flush(dist_ctx *x) {
    if (x->pb >= x->pe) return RETNET_OK;
    TRY(after_model(x));
    TRY(nccl_ready(x, ncclAllReduce(x->grads + x->pb, x->grads + x->pb, (size_t)(x->pe - x->pb),
                                    ncclFloat, ncclAvg, x->comm, x->cs),
                   "all-reduce of the gradients"));
    x->pe = x->pb;
    return RETNET_OK;
}

static void bucket_reset(dist_ctx *x) {
    x->pb = x->pe = x->n;
    x->covered = 0;
}

/* model_cuda's gradient hook: [begin, end) is final. Ranges come from the end of the layout
 * down; adjacent ones join the bucket until it holds `bucket` floats. When the whole layout
 * has come, the last bucket goes and the host waits for all of them (see the top). */
static retnet_status on_grads(void *ctx, int64_t begin, int64_t end) {
    dist_ctx *x = (dist_ctx *)ctx;
    if (x->failed) return failed_again(x);
    if (begin < 0 || end > x->n || begin > end)
        return retnet_fail(RETNET_EINVAL, "dist: gradient range [%lld, %lld) outside [0, %lld)",
                           (long long)begin, (long long)end, (long long)x->n);
    if (end != x->pb) { /* not adjacent to the bucket: that one goes alone */
        TRY(flush(x));
        x->pb = x->pe = end;
    }
    x->pb = begin;
    x->covered += end - begin;
    if (x->pe - x->pb >= x->bucket) TRY(flush(x));
    if (x->covered >= x->n) {
        TRY(flush(x));
        TRY(wait_comm(x, "the all-reduce of the gradients"));
        x->reduced = 1;
    }
    return RETNET_OK;
}

/* The whole gradient averaged now (no overlap): for a step with fewer accumulates than
 * declared, or a pass whose hook did not cover everything. */
static retnet_status reduce_rest(dist_ctx *x) {
    if (x->reduced) return RETNET_OK;
    if (x->covered == 0) bucket_reset(x);
    int64_t rest = x->pb; /* [0, pb) has not been handed over */
    x->covered = x->n - rest;
    return on_grads(x, 0, rest);
}

/* ---------------------------------------------------------------- life cycle */

retnet_status dist_make_id(uint8_t id[DIST_ID_BYTES]) {
    if (!id) return retnet_fail(RETNET_EINVAL, "dist_make_id: NULL");
    setenv("NCCL_NVLS_ENABLE", "0", 1); /* NVLink multicast stays off (see retnet.h) */
    ncclUniqueId u;
    ncclResult_t r = ncclGetUniqueId(&u);
    if (r != ncclSuccess)
        return retnet_fail(RETNET_EDEVICE, "NCCL: ncclGetUniqueId failed: %s (%s)",
                           ncclGetErrorString(r), ncclGetLastError(NULL));
    memcpy(id, &u, DIST_ID_BYTES);
    return RETNET_OK;
}

void dist_shard(const dist_ctx *x, int64_t *begin, int64_t *end, int64_t *tail) {
    *begin = x->rank * x->S, *end = *begin + x->S, *tail = x->tail;
}

int64_t dist_bytes(const dist_ctx *x) {
    return x ? (int64_t)(2 * sizeof(float)) * (x->S + x->n - x->tail) : 0;
}

void dist_free(dist_ctx *x) {
    if (!x) return;
    if (x->comm && !x->failed) {
        /* a clean leave: finalize (flushes, then quiescent), bounded like every wait */
        ncclResult_t r = ncclCommFinalize(x->comm);
        if (nccl_ready(x, r, "leaving the communicator") == RETNET_OK && x->comm)
            ncclCommDestroy(x->comm);
    } else if (x->comm) {
        ncclCommAbort(x->comm);
    }
    x->comm = NULL;
    if (x->cs) cudaStreamDestroy(x->cs);
    if (x->ev) cudaEventDestroy(x->ev);
    retnet_cuda_free(x->m1);
    retnet_cuda_free(x->m2);
    retnet_cuda_free(x->dsum);
    if (x->hsum) cudaFreeHost(x->hsum);
    free(x);
}

static retnet_status create(dist_ctx *x, const uint8_t id[DIST_ID_BYTES]) {
    CUDA_TRY(cudaStreamCreateWithFlags(&x->cs, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    CUDA_TRY(cudaEventCreateWithFlags(&x->ev, cudaEventDisableTiming), "cudaEventCreate");
    TRY(retnet_cuda_malloc((void **)&x->dsum, SUM_MAX * sizeof(double), "a device sum"));
    CUDA_TRY(cudaMallocHost((void **)&x->hsum, SUM_MAX * sizeof(double)), "cudaMallocHost");

    /* the shard: S floats each, a multiple of SHARD_ALIGN; the tail is everyone's */
    x->S = x->n / x->world / SHARD_ALIGN * SHARD_ALIGN;
    x->tail = x->world * x->S;
    const size_t own = sizeof(float) * (size_t)(x->S + x->n - x->tail);
    TRY(retnet_cuda_malloc((void **)&x->m1, own, "AdamW's first moments (this rank's shard)"));
    TRY(retnet_cuda_malloc((void **)&x->m2, own, "AdamW's second moments (this rank's shard)"));
    TRY(retnet_cuda_memset0(x->m1, own, NULL));
    TRY(retnet_cuda_memset0(x->m2, own, NULL));
    TRY(retnet_cuda_sync(NULL));

    /* the communicator, non-blocking: joining is polled like every other wait */
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    ncclUniqueId u;
    memcpy(&u, id, DIST_ID_BYTES);
    ncclResult_t r = ncclCommInitRankConfig(&x->comm, x->world, u, x->rank, &cfg);
    TRY(nccl_ready(x, r, "joining the other ranks (ncclCommInitRank)"));

    /* every rank starts from rank 0's weights */
    TRY(after_model(x));
    TRY(nccl_ready(x, ncclBroadcast(x->master, x->master, (size_t)x->n, ncclFloat, 0, x->comm,
                                    x->cs),
                   "broadcast of rank 0's weights"));
    TRY(wait_comm(x, "the broadcast of rank 0's weights"));
    TRY(model_cuda_refresh_bf16(x->d, x->m));
    return retnet_cuda_sync(NULL);
}

retnet_status dist_create(model_cuda *d, const retnet_model *m, const uint8_t id[DIST_ID_BYTES],
                          const dist_opts *o, dist_ctx **out) {
    if (!out) return retnet_fail(RETNET_EINVAL, "dist_create: NULL output");
    *out = NULL;
    if (!d || !m || !id || !o)
        return retnet_fail(RETNET_EINVAL, "dist_create: NULL argument");
    if (o->world < 1 || o->rank < 0 || o->rank >= o->world || o->micro_batches < 1 ||
        !(o->timeout_s > 0) || o->bucket_bytes < 1)
        return retnet_fail(RETNET_EINVAL, "dist_create: rank %d of world %d, micro_batches %d, "
                           "timeout %g s, bucket %lld bytes: out of range", o->rank, o->world,
                           o->micro_batches, o->timeout_s, (long long)o->bucket_bytes);
    setenv("NCCL_NVLS_ENABLE", "0", 1);
    TRY(model_cuda_train_begin_ex(d, m, 0)); /* selects the device; no full moments */
    dist_ctx *x = (dist_ctx *)calloc(1, sizeof *x);
    if (!x) return retnet_fail(RETNET_ENOMEM, "out of memory");
    x->d = d, x->m = m;
    x->rank = o->rank, x->world = o->world, x->micro = o->micro_batches;
    x->timeout = o->timeout_s;
    x->bucket = (o->bucket_bytes + (int64_t)sizeof(float) - 1) / (int64_t)sizeof(float);
    x->n = model_cuda_n_params(d);
    x->grads = model_cuda_grads(d), x->master = model_cuda_master(d);
    bucket_reset(x);
    retnet_status st = create(x, id);
    if (st) {
        char msg[640];
        snprintf(msg, sizeof msg, "%s", retnet_errmsg());
        dist_free(x);
        return retnet_fail(st, "%s", msg);
    }
    *out = x;
    return RETNET_OK;
}

/* ---------------------------------------------------------------- the step */

int32_t dist_rank(const dist_ctx *x) { return x ? x->rank : 0; }

retnet_status dist_zero_grad(dist_ctx *x) {
    if (x->failed) return failed_again(x);
    x->done = 0, x->reduced = 0;
    bucket_reset(x);
    return model_cuda_zero_grads(x->d);
}

retnet_status dist_accumulate(dist_ctx *x, const int32_t *tokens, const int32_t *targets,
                              int32_t B, int32_t T, float grad_scale, double *loss_sum,
                              int64_t *count) {
    if (x->failed) return failed_again(x);
    if (x->reduced)
        return retnet_fail(RETNET_EINVAL, "distributed trainer: this step's gradients were "
                           "already averaged over the ranks after %d micro-batch%s (the "
                           "trainer's micro_batches); call zero_grad first, or make the trainer "
                           "with more micro_batches", x->done, x->done == 1 ? "" : "es");
    const int last = x->done + 1 >= x->micro;
    if (last) {
        bucket_reset(x);
        model_cuda_set_grad_hook(x->d, on_grads, x);
    }
    retnet_status st = model_cuda_forward_backward(x->d, tokens, targets, B, T, grad_scale,
                                                   loss_sum, count);
    model_cuda_set_grad_hook(x->d, NULL, NULL);
    if (st) return x->failed ? failed_again(x) : st;
    x->done++;
    if (last && !x->reduced) TRY(reduce_rest(x)); /* the hook left a part (or was not called) */
    return RETNET_OK;
}

retnet_status dist_grad_norm(dist_ctx *x, double *norm) {
    if (x->failed) return failed_again(x);
    TRY(reduce_rest(x));
    return model_cuda_grad_norm(x->d, norm);
}

retnet_status dist_update(dist_ctx *x, int64_t step, const retnet_adamw *h, float clip_scale) {
    if (x->failed) return failed_again(x);
    TRY(reduce_rest(x));
    const int64_t b = x->rank * x->S;
    if (x->S > 0)
        TRY(model_cuda_adamw_range(x->d, x->m, step, h, clip_scale, b, b + x->S, x->m1, x->m2));
    if (x->tail < x->n)
        TRY(model_cuda_adamw_range(x->d, x->m, step, h, clip_scale, x->tail, x->n, x->m1 + x->S,
                                   x->m2 + x->S));
    if (x->S > 0) {
        /* in place: rank r's shard is already at master + r S inside the result */
        TRY(after_model(x));
        TRY(nccl_ready(x, ncclAllGather(x->master + b, x->master, (size_t)x->S, ncclFloat,
                                        x->comm, x->cs),
                       "all-gather of the updated weights"));
        TRY(wait_comm(x, "the all-gather of the updated weights"));
    }
    /* the other ranks' shards arrived as fp32 only; with one rank, the range updates wrote
     * every bf16 copy already */
    if (x->world > 1) TRY(model_cuda_refresh_bf16(x->d, x->m));
    return retnet_cuda_sync(NULL);
}

retnet_status dist_sum(dist_ctx *x, double *v, int32_t n) {
    if (x->failed) return failed_again(x);
    if (n < 0 || n > SUM_MAX || (n && !v))
        return retnet_fail(RETNET_EINVAL, "dist_sum: %d values (at most %d)", n, SUM_MAX);
    if (n == 0) return RETNET_OK;
    const size_t bytes = sizeof(double) * (size_t)n;
    memcpy(x->hsum, v, bytes);
    CUDA_TRY(cudaMemcpyAsync(x->dsum, x->hsum, bytes, cudaMemcpyHostToDevice, x->cs),
             "cudaMemcpyAsync");
    TRY(nccl_ready(x, ncclAllReduce(x->dsum, x->dsum, (size_t)n, ncclDouble, ncclSum, x->comm,
                                    x->cs),
                   "all-reduce of the step's sums"));
    CUDA_TRY(cudaMemcpyAsync(x->hsum, x->dsum, bytes, cudaMemcpyDeviceToHost, x->cs),
             "cudaMemcpyAsync");
    TRY(wait_comm(x, "the all-reduce of the step's sums"));
    memcpy(v, x->hsum, bytes);
    return RETNET_OK;
}

/* ---------------------------------------------------------------- checkpoints */

retnet_status dist_moments_gather(dist_ctx *x, float *m1, float *m2) {
    if (x->failed) return failed_again(x);
    float *src[2] = {x->m1, x->m2}, *dst[2] = {m1, m2};
    const int64_t tl = x->n - x->tail;
    for (int k = 0; k < 2; k++) {
        /* through the gradient buffer: the shards side by side, then the tail */
        TRY(after_model(x));
        if (x->S > 0)
            TRY(nccl_ready(x, ncclAllGather(src[k], x->grads, (size_t)x->S, ncclFloat, x->comm,
                                            x->cs),
                           "all-gather of the AdamW moments"));
        if (tl > 0)
            CUDA_TRY(cudaMemcpyAsync(x->grads + x->tail, src[k] + x->S, sizeof(float) * (size_t)tl,
                                     cudaMemcpyDeviceToDevice, x->cs),
                     "cudaMemcpyAsync");
        TRY(wait_comm(x, "the all-gather of the AdamW moments"));
        if (x->rank == 0 && dst[k])
            TRY(retnet_cuda_download(dst[k], x->grads, sizeof(float) * (size_t)x->n));
    }
    x->reduced = 0, x->done = 0;
    TRY(model_cuda_zero_grads(x->d));
    return retnet_cuda_sync(NULL);
}

retnet_status dist_moments_scatter(dist_ctx *x, const float *m1, const float *m2) {
    if (x->failed) return failed_again(x);
    if (!m1 || !m2) return retnet_fail(RETNET_EINVAL, "dist_moments_scatter: NULL moments");
    const float *src[2] = {m1, m2};
    float *dst[2] = {x->m1, x->m2};
    const int64_t tl = x->n - x->tail;
    for (int k = 0; k < 2; k++) {
        TRY(retnet_cuda_upload(dst[k], src[k] + x->rank * x->S, sizeof(float) * (size_t)x->S));
        TRY(retnet_cuda_upload(dst[k] + x->S, src[k] + x->tail, sizeof(float) * (size_t)tl));
    }
    return retnet_cuda_sync(NULL);
}
