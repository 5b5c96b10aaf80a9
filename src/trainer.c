/*
 * trainer.c: retnet_trainer (retnet.h), the training step wherever the model runs. On the CPU
 * it is the composition the trainer always was (retnet_forward_backward, retnet_grad_norm,
 * clipping, retnet_adamw_step) over host arrays; on a GPU it hands each step to the CUDA
 * model (src/cuda/model_cuda.h), which keeps master weights, gradients and moments on the
 * device so that a step moves only tokens and three scalars.
 */
#include "model.h"

#include <stdio.h>
#include <string.h>

#ifdef RETNET_CUDA
#include "cuda/model_cuda.h"
#endif

struct retnet_trainer {
    retnet_model *m;
    float *grads, *m1, *m2; /* CPU: param_count floats each; NULL on a device */
    int device;             /* -1: the CPU; else the CUDA ordinal */
    char name[24];
};

retnet_status retnet_trainer_create(retnet_model *m, retnet_trainer **out) {
    if (!out) return retnet_fail(RETNET_EINVAL, "trainer_create: NULL output");
    *out = NULL;
    if (!m) return retnet_fail(RETNET_EINVAL, "trainer_create: NULL model");
    retnet_trainer *t = calloc(1, sizeof *t);
    if (!t) return retnet_fail(RETNET_ENOMEM, "out of memory");
    t->m = m;
    t->device = -1;
    snprintf(t->name, sizeof t->name, "cpu");
#ifdef RETNET_CUDA
    if (m->device) {
        retnet_status st = model_cuda_train_begin(m->device, m);
        if (st) {
            free(t);
            return st;
        }
        t->device = model_cuda_device(m->device);
        snprintf(t->name, sizeof t->name, "cuda:%d", t->device);
        *out = t;
        return RETNET_OK;
    }
#endif
    if (m->bf16_only) {
        free(t);
        return retnet_fail(RETNET_EINVAL, "training needs float32 weights, and this model holds "
                           "them in bf16 only: load it without RETNET_LOAD_BF16");
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

void retnet_trainer_free(retnet_trainer *t) {
    if (!t) return;
    retnet_free(t->grads), retnet_free(t->m1), retnet_free(t->m2);
    free(t);
}

const char *retnet_trainer_device(const retnet_trainer *t) { return t ? t->name : ""; }

#ifdef RETNET_CUDA
/* The device copy the trainer works on; an error if the model moved since. */
static retnet_status dev(retnet_trainer *t, model_cuda **d) {
    *d = t->m->device;
    if (!*d || model_cuda_device(*d) != t->device)
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
        return st ? st : model_cuda_zero_grads(d);
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
        if (opts->dropout != 0.0f)
            return retnet_fail(RETNET_EUNSUPPORTED, "dropout %g: the CUDA trainer has no dropout "
                               "yet; train with dropout 0 on the GPU, or on the cpu",
                               (double)opts->dropout);
        if (opts->form != RETNET_FORM_PARALLEL && opts->form != RETNET_FORM_CHUNKWISE)
            return retnet_fail(RETNET_EINVAL, "training runs the parallel or the chunkwise form, "
                               "not '%s'", retnet_form_name(opts->form));
        /* the forms compute one function: the device runs its chunkwise kernels for both */
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
        return st ? st : model_cuda_grad_norm(d, norm);
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
        return st ? st : model_cuda_adamw(d, t->m, step, h, clip_scale);
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
        return st ? st : model_cuda_train_download(d, t->m->params, NULL, NULL, NULL);
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

retnet_status retnet_trainer_save(retnet_trainer *t, const char *path, int64_t step,
                                  const char *extra_json) {
    if (!t || !path) return retnet_fail(RETNET_EINVAL, "trainer_save: NULL argument");
    float *m1, *m2;
    retnet_status st = host_moments(t, &m1, &m2);
    if (st) return st;
#ifdef RETNET_CUDA
    if (ON_DEVICE(t)) {
        model_cuda *d;
        if (!(st = dev(t, &d))) st = model_cuda_train_download(d, t->m->params, m1, m2, NULL);
    }
#endif
    if (!st) st = retnet_train_state_save(path, t->m, m1, m2, step, extra_json);
    if (ON_DEVICE(t)) retnet_free(m1), retnet_free(m2);
    return st;
}

retnet_status retnet_trainer_load(retnet_trainer *t, const char *path, int64_t *step,
                                  char *extra_json, size_t cap) {
    if (!t || !path || !step) return retnet_fail(RETNET_EINVAL, "trainer_load: NULL argument");
    float *m1, *m2;
    retnet_status st = host_moments(t, &m1, &m2);
    if (st) return st;
    st = retnet_train_state_load(path, t->m, m1, m2, step, extra_json, cap);
#ifdef RETNET_CUDA
    if (!st && ON_DEVICE(t)) {
        model_cuda *d;
        if (!(st = dev(t, &d))) st = model_cuda_train_upload(d, t->m, t->m->params, m1, m2);
    }
#endif
    if (ON_DEVICE(t)) retnet_free(m1), retnet_free(m2);
    return st;
}
