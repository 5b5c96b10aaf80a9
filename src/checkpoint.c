/*
 * checkpoint.c: loading and saving models as safetensors (retnet.h; docs/FILE_FORMAT.md).
 *
 * Our files carry __metadata__ {"format": "retnet", "format_version": "1", "config": <JSON>}
 * and one F32 tensor per row of the parameter table (params.h), in table order. Loading also
 * takes foreign files (a torchscale state dict saved as safetensors, F32/F16/BF16) given a
 * config. A load checks everything before it allocates the model: the config, then that the
 * file has exactly the tensors of the table (torchscale's two rotation/decay buffers aside),
 * each with the table's shape and a loadable dtype.
 */
#include "json.h"
#include "model.h"
#include "safetensors.h"

#include <stdio.h>
#include <string.h>

/* torchscale registers these as buffers of RetNetRelPos; they are functions of the config. */
static int is_ignored_buffer(const char *name) {
    return !strcmp(name, "retnet_rel_pos.angle") || !strcmp(name, "retnet_rel_pos.decay");
}

int32_t retnet_model_find_tensor(const retnet_model *m, const char *name) {
    if (!m || !name) return -1;
    for (int32_t i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->table[i].name, name)) return i;
    return -1;
}

/* Copies the current error message, so that it can be wrapped by a new one. */
static const char *errmsg_copy(char *buf, size_t cap) {
    snprintf(buf, cap, "%s", retnet_errmsg());
    return buf;
}

/* Our config as a JSON string (malloc'ed), or NULL on ENOMEM. */
static char *config_json(const retnet_config *c) {
    int64_t n = retnet_config_to_json(c, NULL, 0);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) retnet_config_to_json(c, s, (size_t)n + 1);
    return s;
}

/* Formats a JSON scalar for a message. */
static void value_str(const json_value *v, char *buf, size_t cap) {
    if (!v) snprintf(buf, cap, "(absent)");
    else if (v->type == JSON_STRING) snprintf(buf, cap, "\"%s\"", v->str);
    else if (v->type == JSON_BOOL) snprintf(buf, cap, "%s", v->boolean ? "true" : "false");
    else if (v->type == JSON_NUMBER) snprintf(buf, cap, "%.9g", v->num);
    else snprintf(buf, cap, "%s", json_type_name(v->type));
}

/* Compares two configs key by key through their JSON forms (so that the message can use the
 * documented names and values). Returns OK if they agree. */
static retnet_status config_agree(const char *path, const retnet_config *file,
                                  const retnet_config *arg) {
    char *a = config_json(file), *b = config_json(arg);
    json_doc *da = NULL, *db = NULL;
    retnet_status s = RETNET_OK;
    if (!a || !b || json_parse(a, (int64_t)strlen(a), &da, NULL, 0) != RETNET_OK ||
        json_parse(b, (int64_t)strlen(b), &db, NULL, 0) != RETNET_OK) {
        s = retnet_fail(RETNET_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (const json_value *x = json_root(da)->child; x; x = x->next) {
        const json_value *y = json_get(json_root(db), x->key);
        int same = y && x->type == y->type &&
                   (x->type == JSON_STRING ? !strcmp(x->str, y->str)
                    : x->type == JSON_BOOL ? x->boolean == y->boolean
                    : x->num == y->num);
        if (!same) {
            char vx[128], vy[128];
            value_str(x, vx, sizeof vx);
            value_str(y, vy, sizeof vy);
            s = retnet_fail(RETNET_EFORMAT, "%s: the given config differs from the file's in "
                            "\"%s\": %s in the file, %s given", path, x->key, vx, vy);
            break;
        }
    }
done:
    json_free(da);
    json_free(db);
    free(a);
    free(b);
    return s;
}

/* The config of a file: from its metadata (format "retnet") and/or the argument. */
static retnet_status resolve_config(const char *path, const st_file *f, const retnet_config *arg,
                                    retnet_config *out) {
    char msg[1024];
    int have = 0;
    const char *format = st_meta_get(f, "format");
    if (format && !strcmp(format, "retnet-train"))
        return retnet_fail(RETNET_EINVAL, "%s is a training state (for --resume), not a model; "
                           "give the model.safetensors beside it", path);
    /* Other writers use __metadata__ too (transformers writes "format": "pt"): only a file
     * that says it is ours is read for our keys. */
    if (format && !strcmp(format, "retnet")) {
        const char *ver = st_meta_get(f, "format_version");
        char want[16];
        snprintf(want, sizeof want, "%d", RETNET_FORMAT_VERSION);
        if (!ver)
            return retnet_fail(RETNET_EFORMAT, "%s: __metadata__ has no format_version", path);
        if (strcmp(ver, want))
            return retnet_fail(RETNET_EUNSUPPORTED, "%s: format_version \"%.40s\" is not "
                               "supported (this build reads version %s)", path, ver, want);
        const char *cj = st_meta_get(f, "config");
        if (!cj) return retnet_fail(RETNET_EFORMAT, "%s: __metadata__ has no config", path);
        if (retnet_config_from_json(cj, strlen(cj), NULL, out) != RETNET_OK)
            return retnet_fail(RETNET_EFORMAT, "%s: the config in __metadata__ is invalid: %s",
                               path, errmsg_copy(msg, sizeof msg));
        have = 1;
    }
    if (arg) {
        if (retnet_config_validate(arg) != RETNET_OK)
            return retnet_fail(RETNET_EINVAL, "%s: the given config is invalid: %s", path,
                               errmsg_copy(msg, sizeof msg));
        if (have) return config_agree(path, out, arg);
        *out = *arg;
        return RETNET_OK;
    }
    if (!have)
        return retnet_fail(RETNET_EINVAL, "%s: the file has no retnet config in __metadata__ "
                           "(format \"%.40s\"); the config is missing: give one (e.g. a "
                           "torchscale config JSON)", path, format ? format : "none");
    return RETNET_OK;
}

static void shape_str(const int64_t *shape, int32_t ndim, char *buf, size_t cap) {
    json_writer w;
    json_writer_init(&w, buf, cap);
    json_put(&w, "[");
    for (int32_t i = 0; i < ndim; i++) json_putf(&w, i ? ", %lld" : "%lld", (long long)shape[i]);
    json_put(&w, "]");
}

/* Checks that the file holds exactly the table's tensors with the table's shapes. */
static retnet_status check_tensors(const char *path, const st_file *f,
                                   const retnet_param_desc *t, int32_t n) {
    char *used = calloc((size_t)f->n_tensors + 1, 1);
    if (!used) return retnet_fail(RETNET_ENOMEM, "%s: out of memory", path);
    retnet_status s = RETNET_OK;
    for (int32_t i = 0; i < n && s == RETNET_OK; i++) {
        char want[64], got[256];
        shape_str(t[i].shape, t[i].ndim, want, sizeof want);
        const st_tensor *ft = st_find(f, t[i].name);
        if (!ft) {
            s = retnet_fail(RETNET_EFORMAT, "%s: missing tensor \"%s\" (shape %s)", path,
                            t[i].name, want);
            break;
        }
        used[ft - f->tensors] = 1;
        int same = ft->ndim == t[i].ndim;
        for (int32_t d = 0; same && d < ft->ndim; d++) same = ft->shape[d] == t[i].shape[d];
        if (!same) {
            shape_str(ft->shape, ft->ndim, got, sizeof got);
            s = retnet_fail(RETNET_EFORMAT, "%s: tensor \"%s\": wrong shape: expected %s, got %s",
                            path, t[i].name, want, got);
        } else if (ft->dtype != ST_F32 && ft->dtype != ST_BF16 && ft->dtype != ST_F16 &&
                   ft->dtype != ST_F64) {
            s = retnet_fail(RETNET_EUNSUPPORTED, "%s: tensor \"%s\": dtype %s cannot be loaded "
                            "as parameters (F32, F16, BF16 or F64 only)", path, t[i].name,
                            st_dtype_name(ft->dtype));
        }
    }
    for (int32_t i = 0; i < f->n_tensors && s == RETNET_OK; i++)
        if (!used[i] && !is_ignored_buffer(f->tensors[i].name))
            s = retnet_fail(RETNET_EFORMAT, "%s: extra tensor \"%.200s\" is not a parameter of "
                            "this config", path, f->tensors[i].name);
    free(used);
    return s;
}

/* The parameter table of a config without a model (slots NULL). */
static retnet_status bare_table(const retnet_config *c, retnet_param_desc **out, int32_t *n) {
    int64_t total = 0;
    int32_t count = retnet_param_table(c, NULL, 0, &total, NULL, NULL);
    retnet_param_desc *t = calloc((size_t)count + 1, sizeof *t);
    if (!t) return retnet_fail(RETNET_ENOMEM, "out of memory for the parameter table");
    retnet_param_table(c, t, count, &total, NULL, NULL);
    *out = t;
    *n = count;
    return RETNET_OK;
}

/* Opens a checkpoint and checks it without reading the values: its config (from the file or
 * `config`) and every tensor's name, shape, dtype and range. On success *f is open. */
static retnet_status open_checked(const char *path, const retnet_config *config, st_file **f,
                                  retnet_config *cfg) {
    retnet_param_desc *table = NULL;
    int32_t n = 0;
    *f = NULL;
    retnet_status s = st_open(path, f);
    if (s == RETNET_OK) s = resolve_config(path, *f, config, cfg);
    if (s == RETNET_OK) s = bare_table(cfg, &table, &n);
    if (s == RETNET_OK) s = check_tensors(path, *f, table, n);
    free(table);
    if (s != RETNET_OK) {
        st_close(*f);
        *f = NULL;
    }
    return s;
}

retnet_status retnet_model_load(const char *path, const retnet_config *config,
                                retnet_model **out) {
    if (!out) return retnet_fail(RETNET_EINVAL, "retnet_model_load: NULL out");
    *out = NULL;
    if (!path) return retnet_fail(RETNET_EINVAL, "retnet_model_load: NULL path");
    st_file *f = NULL;
    retnet_model *m = NULL;
    retnet_config cfg;
    retnet_status s = open_checked(path, config, &f, &cfg);
    if (s == RETNET_OK) {
        s = retnet_model_create(&cfg, &m);
        if (s != RETNET_OK) {
            char msg[1024];
            s = retnet_fail(s, "%s: %s", path, errmsg_copy(msg, sizeof msg));
        }
    }
    for (int32_t i = 0; s == RETNET_OK && i < m->n_tensors; i++) {
        const st_tensor *ft = st_find(f, m->table[i].name);
        s = st_read_f32(f, ft, m->params + m->table[i].offset);
    }
    st_close(f);
    if (s != RETNET_OK) {
        retnet_model_free(m);
        return s;
    }
    *out = m;
    return RETNET_OK;
}

retnet_status retnet_checkpoint_config(const char *path, const retnet_config *config,
                                       retnet_config *out) {
    if (!path || !out) return retnet_fail(RETNET_EINVAL, "retnet_checkpoint_config: NULL argument");
    st_file *f = NULL;
    retnet_config cfg;
    retnet_status s = open_checked(path, config, &f, &cfg);
    st_close(f);
    if (s == RETNET_OK) *out = cfg;
    return s;
}

/* Writes a checkpoint of config c with tensors t[0..n): from params (a model's one
 * allocation) or, with params NULL, made by retnet_param_init one at a time. */
static retnet_status write_checkpoint(const char *path, const retnet_config *c,
                                      const retnet_param_desc *t, int32_t n, const float *params,
                                      uint64_t seed) {
    char version[16];
    snprintf(version, sizeof version, "%d", RETNET_FORMAT_VERSION);
    char *cj = config_json(c);
    st_spec *specs = calloc((size_t)n + 1, sizeof *specs);
    float *buf = NULL;
    if (!params) {
        int64_t max = 1;
        for (int32_t i = 0; i < n; i++)
            if (t[i].numel > max) max = t[i].numel;
        buf = retnet_alloc(sizeof(float) * (size_t)max);
    }
    if (!cj || !specs || (!params && !buf)) {
        free(cj);
        free(specs);
        retnet_free(buf);
        return retnet_fail(RETNET_ENOMEM, "%s: out of memory", path);
    }
    for (int32_t i = 0; i < n; i++) {
        specs[i].name = t[i].name;
        specs[i].dtype = ST_F32;
        specs[i].ndim = t[i].ndim;
        specs[i].shape[0] = t[i].shape[0];
        specs[i].shape[1] = t[i].shape[1];
    }
    st_meta meta[3] = {{"format", "retnet"}, {"format_version", version}, {"config", cj}};
    st_writer *w = NULL;
    retnet_status s = st_writer_open(path, meta, 3, specs, n, &w);
    for (int32_t i = 0; s == RETNET_OK && i < n; i++) {
        const float *src = params ? params + t[i].offset : buf;
        if (!params) retnet_param_init(c, &t[i], i, seed, buf);
        s = st_writer_put(w, src, t[i].numel);
    }
    if (s == RETNET_OK) s = st_writer_finish(w);
    else st_writer_abort(w);
    free(cj);
    free(specs);
    retnet_free(buf);
    return s;
}

retnet_status retnet_model_save(const retnet_model *m, const char *path) {
    if (!m || !path) return retnet_fail(RETNET_EINVAL, "retnet_model_save: NULL argument");
    return write_checkpoint(path, &m->cfg, m->table, m->n_tensors, m->params, 0);
}

retnet_status retnet_init_file(const retnet_config *c, uint64_t seed, const char *path) {
    if (!c || !path) return retnet_fail(RETNET_EINVAL, "retnet_init_file: NULL argument");
    retnet_status s = retnet_config_validate(c);
    if (s != RETNET_OK) return s;
    retnet_param_desc *t = NULL;
    int32_t n = 0;
    if ((s = bare_table(c, &t, &n)) != RETNET_OK) return s;
    s = write_checkpoint(path, c, t, n, NULL, seed);
    free(t);
    return s;
}
