/*
 * trainer.c: retnet_trainer (retnet.h), the training step wherever the model runs. On the CPU
 * it is the composition the trainer always was (retnet_forward_backward, retnet_grad_norm,
 * clipping, retnet_adamw_step) over host arrays; on a GPU it hands each step to the CUDA
 * model (src/cuda/model_cuda.h), which keeps master weights, gradients and moments on the
 * device so that a step moves only tokens and three scalars; a distributed trainer (one rank
 * of a data-parallel run, retnet_trainer_create_dist) hands it to src/cuda/dist.h, which
 * averages the gradients over the ranks and keeps only its shard of the moments.
 */
#include "model.h"

#include <stdio.h>
#include <string.h>

#ifdef RETNET_CUDA
#include "cuda/dist.h"
#include "cuda/model_cuda.h"
#endif

struct retnet_trainer {
    retnet_model *m;
    float *grads, *m1, *m2; /* CPU: param_count floats each; NULL on a device */
    int device;             /* -1: the CPU; else the CUDA ordinal */
    uint64_t device_id;     /* on a device: its model_cuda_id (a new copy at the same address
                               is another model) */
    char name[24];
    int32_t rank, world;    /* 0 and 1 unless distributed */
    int synced;             /* on a device: the host parameters equal the master weights (no
                               update since the last copy either way) */
#ifdef RETNET_CUDA
    dist_ctx *dist;         /* distributed (then on a device), or NULL */
#endif
};

retnet_status retnet_trainer_create(retnet_model *m, retnet_trainer **out) {
    if (!out) return retnet_fail(RETNET_EINVAL, "trainer_create: NULL output");
    *out = NULL;
    if (!m) return retnet_fail(RETNET_EINVAL, "trainer_create: NULL model");
    retnet_trainer *t = calloc(1, sizeof *t);
    if (!t) return retnet_fail(RETNET_ENOMEM, "out of memory");
    t->m = m;
    t->device = -1;
    t->world = 1;
    snprintf(t->name, sizeof t->name, "cpu");
#ifdef RETNET_CUDA
    if (m->device) {
        retnet_status st = model_cuda_train_begin(m->device, m);
        if (st) {
            free(t);
            return st;
        }
        t->device = model_cuda_device(m->device), t->device_id = model_cuda_id(m->device);
        snprintf(t->name, sizeof t->name, "cuda:%d", t->device);
        *out = t;
        return RETNET_OK;
    }
#endif
    retnet_status st = model_need_f32(m, "training");
    if (st) {
        free(t);
        return st;
    }
    size_t bytes = sizeof(float) * (size_t)m->n_params;
    t->grads = retnet_alloc(bytes), t->m1 = retnet_alloc(bytes), t->m2 = retnet_alloc(bytes);
    if (!t->grads || !t->m1 || !t->m2) {
        retnet_trainer_free(t);
        return retnet_fail(RETNET_ENOMEM, "out of memory for the gradients and AdamW moments "
                           "(%.2f GB)", 3 * (double)bytes * 1e-9);
    }
    memset(t->grads, 0, bytes), memset(t->m1, 0, bytes), memset(t->m2, 0, bytes);
    *out = t;
    return RETNET_OK;
}

retnet_status retnet_trainer_create_dist(retnet_model *m, const retnet_dist *dd,
                                         retnet_trainer **out) {
    if (!out) return retnet_fail(RETNET_EINVAL, "trainer_create_dist: NULL output");
    *out = NULL;
    if (!m || !dd) return retnet_fail(RETNET_EINVAL, "trainer_create_dist: NULL argument");
    if (dd->world < 1 || dd->rank < 0 || dd->rank >= dd->world)
        return retnet_fail(RETNET_EINVAL, "distributed trainer: rank %d of world %d; the rank "
                           "must be in 0 .. world-1", dd->rank, dd->world);
    if (dd->micro_batches < 0 || dd->timeout_s < 0 || dd->bucket_bytes < 0)
        return retnet_fail(RETNET_EINVAL, "distributed trainer: micro_batches %d, timeout %g s, "
                           "bucket %lld bytes: none may be negative", dd->micro_batches,
                           dd->timeout_s, (long long)dd->bucket_bytes);
#ifndef RETNET_CUDA
    return retnet_dist_meet(dd, 0, NULL); /* RETNET_EUNSUPPORTED, saying why */
#else
    if (!m->device)
        return retnet_fail(RETNET_EINVAL, "distributed training runs on GPUs: move the model to "
                           "this rank's GPU first (retnet_model_to_device(m, \"cuda:N\"))");
    const double timeout = retnet_dist_timeout(dd->timeout_s);
    uint8_t id[DIST_ID_BYTES];
    retnet_status st = retnet_dist_meet(dd, timeout, id);
    if (st) return st;
    retnet_trainer *t = calloc(1, sizeof *t);
    if (!t) return retnet_fail(RETNET_ENOMEM, "out of memory");
    dist_opts o = {.rank = dd->rank, .world = dd->world,
                   .micro_batches = dd->micro_batches ? dd->micro_batches : 1,
                   .timeout_s = timeout,
                   .bucket_bytes = dd->bucket_bytes ? dd->bucket_bytes : (int64_t)32 << 20};
    st = dist_create(m->device, m, id, &o, &t->dist);
    if (st) {
        free(t);
        return st;
    }
    t->m = m;
    t->device = model_cuda_device(m->device), t->device_id = model_cuda_id(m->device);
    t->rank = dd->rank, t->world = dd->world;
    snprintf(t->name, sizeof t->name, "cuda:%d", t->device);
    *out = t;
    return RETNET_OK;
#endif
}

void retnet_trainer_free(retnet_trainer *t) {
    if (!t) return;
#ifdef RETNET_CUDA
    dist_free(t->dist);
#endif
    retnet_free(t->grads), retnet_free(t->m1), retnet_free(t->m2);
    free(t);
}

void retnet_trainer_rank(const retnet_trainer *t, int32_t *rank, int32_t *world) {
    if (rank) *rank = t ? t->rank : 0;
    if (world) *world = t ? t->world : 1;
}

retnet_status retnet_trainer_sum(retnet_trainer *t, double *v, int32_t n) {
    if (!t || (n && !v)) return retnet_fail(RETNET_EINVAL, "trainer_sum: NULL argument");
    if (n < 0 || n > 64) return retnet_fail(RETNET_EINVAL, "trainer_sum: %d values (0 .. 64)", n);
#ifdef RETNET_CUDA
    if (t->dist) return dist_sum(t->dist, v, n);
#endif
    return RETNET_OK;
}

const char *retnet_trainer_device(const retnet_trainer *t) { return t ? t->name : ""; }

#ifdef RETNET_CUDA
/* The device copy the trainer works on; an error if the model moved since. */
static retnet_status dev(retnet_trainer *t, model_cuda **d) {
    *d = t->m->device;
    if (!*d || model_cuda_id(*d) != t->device_id) /* the copy it was made on, by its id */
        return retnet_fail(RETNET_EINVAL, "trainer: the model moved off %s after the trainer "
                           "was made; make a new trainer", t->name);
    return RETNET_OK;
}
#define ON_DEVICE(t) ((t)->device >= 0)
#else
#define ON_DEVICE(t) 0
#endif

retnet_status retnet_trainer_zero_grad(retnet_trainer *t) {
    if (!t) return retnet_fail(RETNET_EINVAL, "trainer: NULL");
#ifdef RETNET_CUDA
    if (ON_DEVICE(t)) {
        model_cuda *d;
        retnet_status st = dev(t, &d);
        if (st) return st;
        return t->dist ? dist_zero_grad(t->dist) : model_cuda_zero_grads(d);
    }
#endif
    memset(t->grads, 0, sizeof(float) * (size_t)t->m->n_params);
    return RETNET_OK;
}

retnet_status retnet_trainer_accumulate(retnet_trainer *t, const int32_t *tokens,
                                        const int32_t *targets, int32_t B, int32_t T,
                                        const retnet_train_opts *opts, float grad_scale,
                                        double *loss_sum, int64_t *count) {
    if (!t) return retnet_fail(RETNET_EINVAL, "trainer: NULL");
#ifdef RETNET_CUDA
    if (ON_DEVICE(t)) {
        model_cuda *d;
        retnet_status st = dev(t, &d);
        if (st) return st;
        if (!opts) return retnet_fail(RETNET_EINVAL, "trainer_accumulate: NULL options");
        /* the CPU's masks (src/dropout.h); a rank's micro-batch sits at rank B T d in the
         * global batch */
        st = model_cuda_set_dropout(d, opts->dropout, opts->seed, t->dist ? dist_rank(t->dist) : 0);
        if (st) return st;
        if (opts->form != RETNET_FORM_PARALLEL && opts->form != RETNET_FORM_CHUNKWISE)
            return retnet_fail(RETNET_EINVAL, "training runs the parallel or the chunkwise form, "
                               "not '%s'", retnet_form_name(opts->form));
        /* the forms compute one function: the device runs its chunkwise kernels for both */
        if (t->dist)
            return dist_accumulate(t->dist, tokens, targets, B, T, grad_scale, loss_sum, count);
        return model_cuda_forward_backward(d, tokens, targets, B, T, grad_scale, loss_sum, count);
    }
#endif
    return retnet_forward_backward(t->m, tokens, targets, B, T, opts, grad_scale, t->grads,
                                   loss_sum, count);
}

retnet_status retnet_trainer_grad_norm(retnet_trainer *t, double *norm) {
    if (!t || !norm) return retnet_fail(RETNET_EINVAL, "trainer_grad_norm: NULL argument");
#ifdef RETNET_CUDA
    if (ON_DEVICE(t)) {
        model_cuda *d;
        retnet_status st = dev(t, &d);
        if (st) return st;
        return t->dist ? dist_grad_norm(t->dist, norm) : model_cuda_grad_norm(d, norm);
    }
#endif
    *norm = retnet_grad_norm(t->grads, t->m->n_params);
    return RETNET_OK;
}

retnet_status retnet_trainer_update(retnet_trainer *t, int64_t step, const retnet_adamw *h,
                                    float clip_scale) {
    if (!t || !h) return retnet_fail(RETNET_EINVAL, "trainer_update: NULL argument");
    if (!(clip_scale > 0.0f && clip_scale <= 1.0f))
        return retnet_fail(RETNET_EINVAL, "trainer_update: clip scale %g must be in (0, 1]",
                           (double)clip_scale);
#ifdef RETNET_CUDA
    if (ON_DEVICE(t)) {
        model_cuda *d;
        retnet_status st = dev(t, &d);
        if (st) return st;
        t->synced = 0;
        return t->dist ? dist_update(t->dist, step, h, clip_scale)
                       : model_cuda_adamw(d, t->m, step, h, clip_scale);
    }
#endif
    if (clip_scale != 1.0f)
        for (int64_t i = 0; i < t->m->n_params; i++) t->grads[i] *= clip_scale;
    return retnet_adamw_step(t->m, t->grads, t->m1, t->m2, step, h);
}

retnet_status retnet_trainer_sync(retnet_trainer *t) {
    if (!t) return retnet_fail(RETNET_EINVAL, "trainer: NULL");
#ifdef RETNET_CUDA
    if (ON_DEVICE(t)) {
        model_cuda *d;
        retnet_status st = dev(t, &d);
        if (st || t->synced) return st;
        st = model_cuda_train_download(d, t->m->params, NULL, NULL, NULL);
        t->synced = st == RETNET_OK;
        return st;
    }
#endif
    return RETNET_OK;
}

/* Host moments for a save or load on a device (param_count floats each). */
static retnet_status host_moments(retnet_trainer *t, float **m1, float **m2) {
    *m1 = t->m1, *m2 = t->m2;
    if (!ON_DEVICE(t)) return RETNET_OK;
    size_t bytes = sizeof(float) * (size_t)t->m->n_params;
    *m1 = retnet_alloc(bytes), *m2 = retnet_alloc(bytes);
    if (*m1 && *m2) return RETNET_OK;
    retnet_free(*m1), retnet_free(*m2);
    return retnet_fail(RETNET_ENOMEM, "out of memory for the AdamW moments (%.2f GB)",
                       2 * (double)bytes * 1e-9);
}

#ifdef RETNET_CUDA
/* Distributed: rank 0 gathers the moments and writes; all ranks learn how it went. */
static retnet_status dist_save(retnet_trainer *t, model_cuda *d, const char *path, int64_t step,
                               const char *extra_json) {
    float *m1 = NULL, *m2 = NULL;
    retnet_status st = RETNET_OK;
    if (t->rank == 0 && (st = host_moments(t, &m1, &m2)) != RETNET_OK) m1 = m2 = NULL;
    if (t->rank == 0 && !st && !t->synced)
        st = model_cuda_train_download(d, t->m->params, NULL, NULL, NULL);
    /* collective: rank 0 takes part even when it cannot keep the result */
    retnet_status gs = dist_moments_gather(t->dist, st ? NULL : m1, st ? NULL : m2);
    if (!gs && t->rank == 0 && !st) st = retnet_train_state_save(path, t->m, m1, m2, step, extra_json);
    retnet_free(m1), retnet_free(m2);
    if (gs) return gs;
    char msg[512] = "";
    if (st) snprintf(msg, sizeof msg, "%s", retnet_errmsg());
    double bad = st != RETNET_OK;
    gs = dist_sum(t->dist, &bad, 1);
    if (gs) return gs;
    if (st) return retnet_fail(st, "%s", msg);
    if (bad > 0) return retnet_fail(RETNET_EIO, "rank 0 could not write the training state %s "
                                    "(its message says why)", path);
    return RETNET_OK;
}

/* Distributed: every rank reads the whole state and keeps its shard of the moments. */
static retnet_status dist_load(retnet_trainer *t, model_cuda *d, const char *path,
                               int64_t *step, char *extra_json, size_t cap) {
    float *m1, *m2;
    retnet_status st = host_moments(t, &m1, &m2);
    if (!st) {
        st = retnet_train_state_load(path, t->m, m1, m2, step, extra_json, cap);
        if (!st) st = model_cuda_train_upload(d, t->m, t->m->params, NULL, NULL);
        t->synced = st == RETNET_OK;
        if (!st) st = dist_moments_scatter(t->dist, m1, m2);
        retnet_free(m1), retnet_free(m2);
    }
    char msg[512] = "";
    if (st) snprintf(msg, sizeof msg, "%s", retnet_errmsg());
    double bad = st != RETNET_OK;
    retnet_status gs = dist_sum(t->dist, &bad, 1);
    if (gs) return gs;
    if (st) return retnet_fail(st, "%s", msg);
    if (bad > 0) return retnet_fail(RETNET_EIO, "another rank could not load the training state "
                                    "%s (its message says why)", path);
    return RETNET_OK;
}
#endif

retnet_status retnet_trainer_save(retnet_trainer *t, const char *path, int64_t step,
                                  const char *extra_json) {
    if (!t || !path) return retnet_fail(RETNET_EINVAL, "trainer_save: NULL argument");
#ifdef RETNET_CUDA
    if (t->dist) {
        model_cuda *d;
        retnet_status st = dev(t, &d);
        return st ? st : dist_save(t, d, path, step, extra_json);
    }
#endif
    float *m1, *m2;
    retnet_status st = host_moments(t, &m1, &m2);
    if (st) return st;
#ifdef RETNET_CUDA
    if (ON_DEVICE(t)) {
        model_cuda *d;
        if (!(st = dev(t, &d)))
            st = model_cuda_train_download(d, t->synced ? NULL : t->m->params, m1, m2, NULL);
        t->synced = st == RETNET_OK;
    }
#endif
    if (!st) st = retnet_train_state_save(path, t->m, m1, m2, step, extra_json);
    if (ON_DEVICE(t)) retnet_free(m1), retnet_free(m2);
    return st;
}

retnet_status retnet_trainer_load(retnet_trainer *t, const char *path, int64_t *step,
                                  char *extra_json, size_t cap) {
    if (!t || !path || !step) return retnet_fail(RETNET_EINVAL, "trainer_load: NULL argument");
#ifdef RETNET_CUDA
    if (t->dist) {
        model_cuda *d;
        retnet_status st = dev(t, &d);
        return st ? st : dist_load(t, d, path, step, extra_json, cap);
    }
#endif
    float *m1, *m2;
    retnet_status st = host_moments(t, &m1, &m2);
    if (st) return st;
    st = retnet_train_state_load(path, t->m, m1, m2, step, extra_json, cap);
#ifdef RETNET_CUDA
    /* a refused load may have written the host weights (retnet_train_state_load): they no
     * longer mirror the device's, so a later save must download again */
    if (st && ON_DEVICE(t)) t->synced = 0;
    if (!st && ON_DEVICE(t)) {
        model_cuda *d;
        if (!(st = dev(t, &d))) st = model_cuda_train_upload(d, t->m, t->m->params, m1, m2);
        t->synced = st == RETNET_OK;
    }
#endif
    if (ON_DEVICE(t)) retnet_free(m1), retnet_free(m2);
    return st;
}
