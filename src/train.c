/*
 * train.c: what a training run needs besides the model's forward/backward (model.c) and the
 * optimizer (optim.c): the learning-rate schedule, and the training state that makes a
 * resume bit-identical.
 *
 * The training state is ONE safetensors file (written atomically), holding the parameters,
 * both AdamW moments and, in __metadata__, the config, the step and the trainer's own JSON
 * (data position, RNG, hyperparameters). Parameters are stored again, beside the user-facing
 * model checkpoint, so that the state never pairs weights of one step with moments of
 * another: a kill at any moment leaves the previous state whole.
 */
#include "model.h"
#include "safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

double retnet_lr_schedule(int64_t step, int64_t steps, int64_t warmup, double lr,
                          double min_lr, int cosine) {
    if (warmup > 0 && step <= warmup) return lr * (double)step / (double)warmup;
    if (steps <= warmup) return lr;
    double t = (double)(step - warmup) / (double)(steps - warmup); /* 0 .. 1 */
    if (t > 1) t = 1;
    double w = cosine ? 0.5 * (1.0 + cos(3.14159265358979323846 * t)) : 1.0 - t;
    return min_lr + (lr - min_lr) * w;
}

#define STATE_FORMAT "retnet-train"

/* The first value of x[0..n) that a resume cannot train from: NaN or Inf, or with nonneg (the
 * second moment, whose square root the update takes) a negative one; -1 if none. */
static int64_t first_bad(const float *x, int64_t n, int nonneg) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]) || (nonneg && x[i] < 0)) return i;
    return -1;
}

retnet_status retnet_train_state_save(const char *path, const retnet_model *m, const float *m1,
                                      const float *m2, int64_t step, const char *extra_json) {
    if (!path || !m || !m1 || !m2)
        return retnet_fail(RETNET_EINVAL, "train_state_save: NULL argument");
    retnet_status st0 = model_need_f32(m, "train_state_save");
    if (st0) return st0;
    char cfg[4096], stepbuf[32];
    retnet_config_to_json(&m->cfg, cfg, sizeof cfg);
    snprintf(stepbuf, sizeof stepbuf, "%lld", (long long)step);
    st_meta meta[4] = {{"format", STATE_FORMAT}, {"config", cfg}, {"step", stepbuf},
                       {"trainer", extra_json ? extra_json : "{}"}};
    st_spec specs[3] = {{"params", ST_F32, 1, {m->n_params}},
                        {"adamw.m1", ST_F32, 1, {m->n_params}},
                        {"adamw.m2", ST_F32, 1, {m->n_params}}};
    st_writer *w = NULL;
    retnet_status s = st_writer_open(path, meta, 4, specs, 3, &w);
    if (s == RETNET_OK) s = st_writer_put(w, m->params, m->n_params);
    if (s == RETNET_OK) s = st_writer_put(w, m1, m->n_params);
    if (s == RETNET_OK) s = st_writer_put(w, m2, m->n_params);
    if (s == RETNET_OK) return st_writer_finish(w);
    st_writer_abort(w);
    return s;
}

retnet_status retnet_train_state_load(const char *path, retnet_model *m, float *m1, float *m2,
                                      int64_t *step, char *extra_json, size_t cap) {
    if (!path || !m || !m1 || !m2 || !step)
        return retnet_fail(RETNET_EINVAL, "train_state_load: NULL argument");
    retnet_status st0 = model_need_f32(m, "train_state_load");
    if (st0) return st0;
    st_file *f = NULL;
    retnet_status s = st_open(path, &f);
    if (s) return s;
    const char *fmt = st_meta_get(f, "format"), *cfg = st_meta_get(f, "config");
    const char *stp = st_meta_get(f, "step"), *extra = st_meta_get(f, "trainer");
    retnet_config c;
    char mine[4096], theirs[4096], *end = NULL;
    long long stepv = -1;
    if (!fmt || strcmp(fmt, STATE_FORMAT) || !cfg || !stp) {
        s = retnet_fail(RETNET_EFORMAT, "%s: not a retnet training state (no \"%s\" metadata)",
                        path, STATE_FORMAT);
    } else if (retnet_config_from_json(cfg, strlen(cfg), NULL, &c) != RETNET_OK) {
        s = retnet_fail(RETNET_EFORMAT, "%s: its config is invalid: %s", path, retnet_errmsg());
    } else if (retnet_config_to_json(&c, mine, sizeof mine),
               retnet_config_to_json(&m->cfg, theirs, sizeof theirs), strcmp(mine, theirs)) {
        s = retnet_fail(RETNET_EINVAL, "%s: the training state is of a different model "
                        "(its config: %.1000s)", path, cfg);
    } else {
        errno = 0;
        stepv = strtoll(stp, &end, 10);
        if (!*stp || errno || !end || *end || stepv < 0)
            s = retnet_fail(RETNET_EFORMAT, "%s: bad step '%.40s'", path, stp);
    }
    if (s == RETNET_OK && extra_json && cap && strlen(extra ? extra : "{}") >= cap)
        s = retnet_fail(RETNET_EFORMAT, "%s: the trainer metadata is longer than %zu bytes",
                        path, cap - 1);
    /* every tensor's table entry checked before any is read, so that a file refused for its
     * form changes nothing (the reader has checked their extents against the file's size:
     * only an I/O error, or the values checked below, can leave them part loaded) */
    const char *names[3] = {"params", "adamw.m1", "adamw.m2"};
    float *dst[3] = {m->params, m1, m2};
    const st_tensor *ts[3] = {NULL, NULL, NULL};
    for (int i = 0; s == RETNET_OK && i < 3; i++) {
        ts[i] = st_find(f, names[i]);
        if (!ts[i] || ts[i]->dtype != ST_F32 || ts[i]->numel != m->n_params)
            s = retnet_fail(RETNET_EFORMAT, "%s: tensor %s is missing or not %lld float32 values",
                            path, names[i], (long long)m->n_params);
    }
    /* each tensor's values checked as it is read (one pass over the array): a state saved
     * after the run diverged would resume into NaN at once, or (a negative second moment) make
     * sqrt(v) NaN at the first update; refused, it leaves the arrays holding what was read */
    for (int i = 0; s == RETNET_OK && i < 3; i++) {
        s = st_read_f32(f, ts[i], dst[i]);
        const int64_t at = s == RETNET_OK ? first_bad(dst[i], m->n_params, i == 2) : -1;
        if (at < 0) continue;
        const float x = dst[i][at];
        if (isfinite(x))
            s = retnet_fail(RETNET_EFORMAT, "%s: tensor %s holds a negative second moment (%g "
                            "at index %lld; it must be >= 0): the file is damaged", path,
                            names[i], (double)x, (long long)at);
        else
            s = retnet_fail(RETNET_EFORMAT, "%s: tensor %s holds a non-finite value (%s at "
                            "index %lld): saved after the run diverged, or damaged", path,
                            names[i], isnan(x) ? "NaN" : x > 0 ? "+Inf" : "-Inf", (long long)at);
    }
    if (s == RETNET_OK) {
        *step = stepv;
        if (extra_json && cap) snprintf(extra_json, cap, "%s", extra ? extra : "{}");
    }
    st_close(f);
    return s;
}
