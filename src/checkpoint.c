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
#include "ops/ops.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

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
    else if (v->type == JSON_NUMBER && v->is_int) snprintf(buf, cap, "%lld", (long long)v->inum);
    else if (v->type == JSON_NUMBER) snprintf(buf, cap, "%.9g", v->num);
    else snprintf(buf, cap, "%s", json_type_name(v->type));
}

/* Compares two configs key by key through their JSON forms (so that the message can use the
 * documented names and values). Returns OK if they agree. */
int retnet_config_first_diff(const retnet_config *a, const retnet_config *b, char *key,
                             size_t kcap, char *va, char *vb, size_t vcap) {
    char *ja = config_json(a), *jb = config_json(b);
    json_doc *da = NULL, *db = NULL;
    int r = 0;
    if (!ja || !jb || json_parse(ja, (int64_t)strlen(ja), &da, NULL, 0) != RETNET_OK ||
        json_parse(jb, (int64_t)strlen(jb), &db, NULL, 0) != RETNET_OK) {
        r = -1;
        goto done;
    }
    for (const json_value *x = json_root(da)->child; x; x = x->next) {
        const json_value *y = json_get(json_root(db), x->key);
        int same = y && x->type == y->type &&
                   (x->type == JSON_STRING ? !strcmp(x->str, y->str)
                    : x->type == JSON_BOOL ? x->boolean == y->boolean
                    : x->num == y->num);
        if (!same) {
            snprintf(key, kcap, "%s", x->key);
            value_str(x, va, vcap);
            value_str(y, vb, vcap);
            r = 1;
            break;
        }
    }
done:
    json_free(da);
    json_free(db);
    free(ja);
    free(jb);
    return r;
}

static retnet_status config_agree(const char *path, const retnet_config *file,
                                  const retnet_config *arg) {
    char key[64], vx[128], vy[128];
    const int d = retnet_config_first_diff(file, arg, key, sizeof key, vx, vy, sizeof vx);
    if (d < 0) return retnet_fail(RETNET_ENOMEM, "%s: out of memory", path);
    if (d > 0)
        return retnet_fail(RETNET_EFORMAT, "%s: the given config differs from the file's in "
                           "\"%s\": %s in the file, %s given", path, key, vx, vy);
    return RETNET_OK;
}

/* The config of a file: from its metadata (format "retnet") and/or the argument. */
static retnet_status resolve_config(const char *path, const st_file *f, const retnet_config *arg,
                                    retnet_config *out) {
    int have = 0;
    const char *format = st_meta_get(f, "format");
    if (format && !strcmp(format, "retnet-train"))
        return retnet_fail(RETNET_EINVAL, "%s is a training state (for --resume), not a model; "
                           "give the model.safetensors beside it", path);
    if (format && !strcmp(format, "retnet-state"))
        return retnet_fail(RETNET_EINVAL, "%s is a decoding state (for --load-state), not a "
                           "model; give the model it was saved with", path);
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
                               path, retnet_errmsg());
        have = 1;
    }
    if (arg) {
        if (retnet_config_validate(arg) != RETNET_OK)
            return retnet_fail(RETNET_EINVAL, "%s: the given config is invalid: %s", path,
                               retnet_errmsg());
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

/* ---------------------------------------------------------------- sources */

/* What a path names: one safetensors file (our names, or torchscale's), or a Hugging Face
 * model directory in fla's layout (config.json; model.safetensors, or the shards listed by
 * model.safetensors.index.json) whose tensor names are fla's. */
typedef struct {
    const char *path;
    st_file **f;
    int32_t nf;
    int fla;
    retnet_config fla_cfg; /* from config.json */
} ckpt;

static void ckpt_close(ckpt *k) {
    for (int32_t i = 0; i < k->nf; i++) st_close(k->f[i]);
    free(k->f);
    k->f = NULL;
    k->nf = 0;
}

#define MAX_JSON_FILE (64 << 20) /* config.json, the shard index */

static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static retnet_status ckpt_add(ckpt *k, const char *dir, const char *name) {
    char *p = join_path(dir, name);
    if (!p) return retnet_fail(RETNET_ENOMEM, "out of memory");
    st_file **nf = realloc(k->f, sizeof *nf * (size_t)(k->nf + 1));
    if (!nf) {
        free(p);
        return retnet_fail(RETNET_ENOMEM, "out of memory");
    }
    k->f = nf;
    retnet_status s = st_open(p, &k->f[k->nf]);
    free(p);
    if (s == RETNET_OK) k->nf++;
    return s;
}

/* The shards of model.safetensors.index.json ({"weight_map": {tensor: file}}): each distinct
 * file once; a file name must be a plain name inside the directory. */
static retnet_status open_index(ckpt *k, const char *dir, const char *index) {
    int64_t len;
    char *text;
    retnet_status rs = retnet_read_text(index, MAX_JSON_FILE, "a shard index", &text, &len);
    if (rs != RETNET_OK) return rs;
    json_doc *doc = NULL;
    char err[256];
    retnet_status s = json_parse(text, len, &doc, err, sizeof err);
    if (s != RETNET_OK) {
        free(text);
        return retnet_fail(RETNET_EFORMAT, "%s: invalid JSON: %s", index, err);
    }
    const json_value *map = json_get(json_root(doc), "weight_map");
    if (!map || map->type != JSON_OBJECT || !map->child)
        s = retnet_fail(RETNET_EFORMAT, "%s: no \"weight_map\" object", index);
    for (const json_value *e = map ? map->child : NULL; s == RETNET_OK && e; e = e->next) {
        if (e->type != JSON_STRING || !e->str[0] || strchr(e->str, '/') || !strcmp(e->str, "..") ||
            !strcmp(e->str, "."))
            s = retnet_fail(RETNET_EFORMAT, "%s: tensor \"%.100s\": the shard must be a file "
                            "name in the directory", index, e->key);
        int seen = 0; /* the first match ends the search: a shard's entries repeat its name */
        for (const json_value *x = map->child; s == RETNET_OK && x != e && !seen; x = x->next)
            if (x->type == JSON_STRING && !strcmp(x->str, e->str)) seen = 1;
        if (s == RETNET_OK && !seen) s = ckpt_add(k, dir, e->str);
    }
    json_free(doc);
    free(text);
    return s;
}

static retnet_status ckpt_open(const char *path, ckpt *k) {
    memset(k, 0, sizeof *k);
    k->path = path;
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        k->f = calloc(1, sizeof *k->f);
        if (!k->f) return retnet_fail(RETNET_ENOMEM, "out of memory");
        retnet_status s = st_open(path, &k->f[0]);
        if (s == RETNET_OK) k->nf = 1;
        return s;
    }
    k->fla = 1;
    char *cfgp = join_path(path, "config.json"), *idx = join_path(path, "model.safetensors.index.json");
    retnet_status s = cfgp && idx ? RETNET_OK : retnet_fail(RETNET_ENOMEM, "out of memory");
    int64_t len = 0;
    char *text = NULL;
    if (s == RETNET_OK && retnet_read_text(cfgp, MAX_JSON_FILE, "config.json", &text, &len)) {
        s = retnet_fail(RETNET_EIO, "%s is a directory, not a regular file, and has no readable "
                        "config.json (a Hugging Face model directory has one): %s", path,
                        retnet_errmsg());
    }
    retnet_status cs = s == RETNET_OK ? retnet_config_from_fla_json(text, (size_t)len, &k->fla_cfg)
                                      : RETNET_OK;
    if (cs != RETNET_OK) {
        /* an invalid file is EFORMAT; a valid one asking for what we lack keeps its status */
        s = retnet_fail(cs == RETNET_EUNSUPPORTED ? cs : RETNET_EFORMAT, "%s/%s", path,
                        retnet_errmsg());
    }
    if (s == RETNET_OK) {
        if (access(idx, F_OK) == 0) s = open_index(k, path, idx);
        else s = ckpt_add(k, path, "model.safetensors");
    }
    free(text);
    free(cfgp);
    free(idx);
    if (s != RETNET_OK) ckpt_close(k);
    return s;
}

/* fla's name of our tensor (alt 1: the unfused head norm's), or "" when there is none. */
static void fla_name(const char *ours, int alt, char *out, size_t cap) {
    static const struct { const char *ours, *fla, *alt; } map[] = {
        {"retention_layer_norm.weight", "attn_norm.weight", NULL},
        {"retention.q_proj.weight", "attn.q_proj.weight", NULL},
        {"retention.k_proj.weight", "attn.k_proj.weight", NULL},
        {"retention.v_proj.weight", "attn.v_proj.weight", NULL},
        {"retention.g_proj.weight", "attn.g_proj.weight", NULL},
        {"retention.out_proj.weight", "attn.o_proj.weight", NULL},
        {"retention.group_norm.weight", "attn.g_norm_swish_gate.weight", "attn.g_norm.weight"},
        {"final_layer_norm.weight", "mlp_norm.weight", NULL},
        {"ffn.fc1.weight", "mlp.gate_proj.weight", NULL},  /* fla's gate_proj is activated */
        {"ffn.gate.weight", "mlp.up_proj.weight", NULL},
        {"ffn.fc2.weight", "mlp.down_proj.weight", NULL},
    };
    out[0] = 0;
    int l;
    char rest[96];
    if (sscanf(ours, "layers.%d.%95s", &l, rest) == 2) {
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (!strcmp(rest, map[i].ours)) {
                const char *n = alt ? map[i].alt : map[i].fla;
                if (n) snprintf(out, cap, "model.layers.%d.%s", l, n);
            }
        return;
    }
    if (alt) return;
    if (!strcmp(ours, "embed_tokens.weight")) snprintf(out, cap, "model.embeddings.weight");
    else if (!strcmp(ours, "layer_norm.weight")) snprintf(out, cap, "model.norm.weight");
    else if (!strcmp(ours, "output_projection.weight")) snprintf(out, cap, "lm_head.weight");
}

/* The tensor holding our tensor `ours`, and its file. */
static const st_tensor *ckpt_find(const ckpt *k, const char *ours, st_file **file) {
    for (int alt = 0; alt < (k->fla ? 2 : 1); alt++) {
        char name[160];
        if (k->fla) fla_name(ours, alt, name, sizeof name);
        else snprintf(name, sizeof name, "%s", ours);
        if (!name[0]) continue;
        for (int32_t i = 0; i < k->nf; i++) {
            const st_tensor *t = st_find(k->f[i], name);
            if (t) {
                if (file) *file = k->f[i];
                return t;
            }
        }
    }
    return NULL;
}

/* Checks that the source holds exactly the table's tensors with the table's shapes. */
static retnet_status check_tensors(const ckpt *k, const retnet_config *c,
                                   const retnet_param_desc *t, int32_t n) {
    const char *path = k->path;
    char **used = calloc((size_t)k->nf + 1, sizeof *used);
    retnet_status s = used ? RETNET_OK : retnet_fail(RETNET_ENOMEM, "%s: out of memory", path);
    for (int32_t i = 0; s == RETNET_OK && i < k->nf; i++)
        if (!(used[i] = calloc((size_t)k->f[i]->n_tensors + 1, 1)))
            s = retnet_fail(RETNET_ENOMEM, "%s: out of memory", path);
    for (int32_t i = 0; i < n && s == RETNET_OK; i++) {
        char want[64], got[256], fname[160] = "";
        shape_str(t[i].shape, t[i].ndim, want, sizeof want);
        st_file *f = NULL;
        const st_tensor *ft = ckpt_find(k, t[i].name, &f);
        if (k->fla) fla_name(t[i].name, 0, fname, sizeof fname);
        const char *shown = k->fla ? fname : t[i].name;
        if (!ft) {
            s = retnet_fail(RETNET_EFORMAT, "%s: missing tensor \"%s\" (shape %s)", path, shown,
                            want);
            break;
        }
        for (int32_t j = 0; j < k->nf; j++)
            if (k->f[j] == f) used[j][ft - f->tensors] = 1;
        int same = ft->ndim == t[i].ndim;
        for (int32_t d = 0; same && d < ft->ndim; d++) same = ft->shape[d] == t[i].shape[d];
        if (!same) {
            shape_str(ft->shape, ft->ndim, got, sizeof got);
            s = retnet_fail(RETNET_EFORMAT, "%s: tensor \"%s\": wrong shape: expected %s, got %s",
                            path, ft->name, want, got);
        } else if (ft->dtype != ST_F32 && ft->dtype != ST_BF16 && ft->dtype != ST_F16 &&
                   ft->dtype != ST_F64) {
            s = retnet_fail(RETNET_EUNSUPPORTED, "%s: tensor \"%s\": dtype %s cannot be loaded "
                            "as parameters (F32, F16, BF16 or F64 only)", path, ft->name,
                            st_dtype_name(ft->dtype));
        }
    }
    for (int32_t j = 0; j < k->nf && s == RETNET_OK; j++)
        for (int32_t i = 0; i < k->f[j]->n_tensors && s == RETNET_OK; i++) {
            const char *name = k->f[j]->tensors[i].name;
            /* a tied model's saved lm_head is the embedding again */
            int ignored = k->fla ? c->tie_embeddings && !strcmp(name, "lm_head.weight")
                                 : is_ignored_buffer(name);
            if (!used[j][i] && !ignored)
                s = retnet_fail(RETNET_EFORMAT, "%s: extra tensor \"%.200s\" is not a parameter "
                                "of this config", k->f[j]->path, name);
        }
    for (int32_t i = 0; used && i < k->nf; i++) free(used[i]);
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

/* Opens a checkpoint and checks it without reading the values: its config (from the file,
 * config.json or `config`) and every tensor's name, shape, dtype and range. */
static retnet_status open_checked(const char *path, const retnet_config *config, ckpt *k,
                                  retnet_config *cfg) {
    retnet_param_desc *table = NULL;
    int32_t n = 0;
    retnet_status s = ckpt_open(path, k);
    if (s == RETNET_OK) {
        if (k->fla) {
            *cfg = k->fla_cfg;
            if (config) s = config_agree(path, cfg, config);
        } else {
            s = resolve_config(path, k->f[0], config, cfg);
        }
    }
    if (s == RETNET_OK) s = bare_table(cfg, &table, &n);
    if (s == RETNET_OK) s = check_tensors(k, cfg, table, n);
    free(table);
    if (s != RETNET_OK) ckpt_close(k);
    return s;
}

retnet_status retnet_model_load_ex(const char *path, const retnet_config *config,
                                   unsigned flags, retnet_model **out) {
    if (!out) return retnet_fail(RETNET_EINVAL, "retnet_model_load: NULL out");
    *out = NULL;
    if (!path) return retnet_fail(RETNET_EINVAL, "retnet_model_load: NULL path");
    if (flags & ~(RETNET_LOAD_BF16 | RETNET_LOAD_BF16_IF_STORED))
        return retnet_fail(RETNET_EINVAL, "retnet_model_load: unknown flags 0x%x", flags);
    ckpt k;
    retnet_model *m = NULL;
    retnet_config cfg;
    retnet_status s = open_checked(path, config, &k, &cfg);
    if (s == RETNET_OK) {
        s = retnet_model_create(&cfg, &m);
        int bf16 = (flags & RETNET_LOAD_BF16) != 0;
        if (s == RETNET_OK && (flags & RETNET_LOAD_BF16_IF_STORED)) {
            bf16 = 1;
            for (int32_t i = 0; i < m->n_tensors; i++) {
                const st_tensor *ft = ckpt_find(&k, m->table[i].name, NULL);
                if (m->table[i].ndim == 2 && ft->dtype != ST_BF16) bf16 = 0;
            }
        }
        if (s == RETNET_OK && bf16) s = model_make_bf16_only(m);
        if (s != RETNET_OK) {
            s = retnet_fail(s, "%s: %s", path, retnet_errmsg());
        }
    }
    for (int32_t i = 0; s == RETNET_OK && i < m->n_tensors; i++) {
        st_file *f = NULL;
        const st_tensor *ft = ckpt_find(&k, m->table[i].name, &f);
        if (m->bf16_only && m->table[i].ndim == 2)
            s = st_read_bf16(f, ft, m->params_bf16 + m->table[i].offset);
        else
            s = st_read_f32(f, ft, m->params + m->table[i].offset);
    }
    ckpt_close(&k);
    if (s != RETNET_OK) {
        retnet_model_free(m);
        return s;
    }
    *out = m;
    return RETNET_OK;
}

retnet_status retnet_model_load(const char *path, const retnet_config *config,
                                retnet_model **out) {
    return retnet_model_load_ex(path, config, 0, out);
}

retnet_status retnet_checkpoint_config(const char *path, const retnet_config *config,
                                       retnet_config *out) {
    if (!path || !out) return retnet_fail(RETNET_EINVAL, "retnet_checkpoint_config: NULL argument");
    ckpt k;
    retnet_config cfg;
    retnet_status s = open_checked(path, config, &k, &cfg);
    ckpt_close(&k);
    if (s == RETNET_OK) *out = cfg;
    return s;
}

/* Writes a checkpoint of config c with tensors t[0..n): from params (a model's one
 * allocation; the 2-D tensors from bf16 when given: a bf16-only model) or, with params NULL,
 * made by retnet_param_init one at a time. Stored as `dtype` (F32 or BF16). fla: fla's names
 * and no metadata (the directory's config.json describes the model). */
static retnet_status write_checkpoint(const char *path, const retnet_config *c,
                                      const retnet_param_desc *t, int32_t n, const float *params,
                                      const uint16_t *bf16, uint64_t seed, st_dtype dtype,
                                      int fla) {
    char version[16];
    snprintf(version, sizeof version, "%d", RETNET_FORMAT_VERSION);
    char *cj = config_json(c);
    st_spec *specs = calloc((size_t)n + 1, sizeof *specs);
    char (*names)[160] = fla ? calloc((size_t)n + 1, sizeof *names) : NULL;
    float *buf = NULL;
    if (!params || bf16) {
        int64_t max = 1;
        for (int32_t i = 0; i < n; i++)
            if (t[i].numel > max) max = t[i].numel;
        buf = retnet_alloc(sizeof(float) * (size_t)max);
    }
    if (!cj || !specs || ((!params || bf16) && !buf) || (fla && !names)) {
        free(cj);
        free(specs);
        free(names);
        retnet_free(buf);
        return retnet_fail(RETNET_ENOMEM, "%s: out of memory", path);
    }
    for (int32_t i = 0; i < n; i++) {
        if (fla) fla_name(t[i].name, 0, names[i], sizeof names[i]);
        specs[i].name = fla ? names[i] : t[i].name;
        specs[i].dtype = dtype;
        specs[i].ndim = t[i].ndim;
        specs[i].shape[0] = t[i].shape[0];
        specs[i].shape[1] = t[i].shape[1];
    }
    st_meta meta[3] = {{"format", "retnet"}, {"format_version", version}, {"config", cj}};
    st_meta meta_pt[1] = {{"format", "pt"}}; /* what transformers writes */
    st_writer *w = NULL;
    retnet_status s = st_writer_open(path, fla ? meta_pt : meta, fla ? 1 : 3, specs, n, &w);
    for (int32_t i = 0; s == RETNET_OK && i < n; i++) {
        const float *src = params ? params + t[i].offset : buf;
        if (!params) retnet_param_init(c, &t[i], i, seed, buf);
        else if (bf16 && t[i].ndim == 2) {
            op_bf16_to_f32(buf, bf16 + t[i].offset, t[i].numel);
            src = buf;
        }
        s = st_writer_put(w, src, t[i].numel);
    }
    if (s == RETNET_OK) s = st_writer_finish(w);
    else st_writer_abort(w);
    free(cj);
    free(specs);
    free(names);
    retnet_free(buf);
    return s;
}

retnet_status retnet_model_save(const retnet_model *m, const char *path) {
    return retnet_model_save_ex(m, path, 0);
}

/* fla's config.json for c, or NULL with the reason when fla's model cannot express c. */
static char *fla_config_json(const retnet_config *c) {
    const char *why = c->arch != RETNET_ARCH_RETNET ? "it is not a RetNet"
                      : c->norm != RETNET_NORM_RMSNORM ? "its norm is not rmsnorm"
                      : c->head_norm != RETNET_HEADNORM_RMSNORM ? "its head norm is not rmsnorm"
                      : c->ffn != RETNET_FFN_GLU ? "its FFN is not a GLU"
                      : c->rope != RETNET_ROPE_HALF ? "its rope is not \"half\""
                      : c->rope_base != 10000.0f ? "its rope base is not 10000"
                      : c->decay != RETNET_DECAY_POW2 ? "its decays are not pow2"
                      : c->normalize ? "it uses the section-3 normalisations"
                      : c->embed_scale ? "it scales the embeddings" : NULL;
    if (why) {
        retnet_fail(RETNET_EUNSUPPORTED, "fla's RetNetForCausalLM cannot hold this model: %s "
                    "(fla: rmsnorm, per-head rmsnorm, glu, rope half with base 10000, pow2 "
                    "decays, no section-3 normalisations, no embedding scale)", why);
        return NULL;
    }
    char eps[32]; /* the shortest decimal that reads back as the same float */
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(eps, sizeof eps, "%.*g", prec, (double)c->eps);
        if ((float)strtod(eps, NULL) == c->eps) break;
    }
    char *out = malloc(2048);
    if (!out) {
        retnet_fail(RETNET_ENOMEM, "out of memory");
        return NULL;
    }
    snprintf(out, 2048,
             "{\n  \"architectures\": [\"RetNetForCausalLM\"],\n  \"model_type\": \"retnet\",\n"
             "  \"hidden_size\": %d,\n  \"num_hidden_layers\": %d,\n  \"num_heads\": %d,\n"
             "  \"expand_k\": %.17g,\n  \"expand_v\": %.17g,\n  \"intermediate_size\": %d,\n"
             "  \"hidden_act\": \"%s\",\n  \"use_output_gate\": %s,\n"
             "  \"elementwise_affine\": %s,\n  \"norm_eps\": %s,\n  \"vocab_size\": %d,\n"
             "  \"tie_word_embeddings\": %s,\n  \"max_position_embeddings\": %d,\n"
             "  \"attn_mode\": \"chunk\",\n  \"fuse_norm\": true,\n  \"retnet_chunk\": %d\n}\n",
             c->d_model, c->n_layer, c->n_head, (double)c->d_key / c->d_model,
             (double)c->d_value / c->d_model, c->d_ffn,
             c->ffn_act == RETNET_ACT_SWISH ? "swish" : "gelu", c->gate ? "true" : "false",
             c->head_norm_affine ? "true" : "false", eps, c->vocab,
             c->tie_embeddings ? "true" : "false", c->context, c->chunk);
    /* fla forms widths as int(hidden_size * expand): they must come back exactly */
    retnet_config back;
    if (retnet_config_from_fla_json(out, strlen(out), &back) != RETNET_OK ||
        back.d_key != c->d_key || back.d_value != c->d_value) {
        free(out);
        retnet_fail(RETNET_EUNSUPPORTED, "fla's config cannot express d_key %d / d_value %d "
                    "with d_model %d exactly", c->d_key, c->d_value, c->d_model);
        return NULL;
    }
    return out;
}

retnet_status retnet_model_save_ex(const retnet_model *m, const char *path, unsigned flags) {
    if (!m || !path) return retnet_fail(RETNET_EINVAL, "retnet_model_save: NULL argument");
    if (flags & ~(RETNET_SAVE_BF16 | RETNET_SAVE_FLA))
        return retnet_fail(RETNET_EINVAL, "retnet_model_save: unknown flags 0x%x", flags);
    st_dtype dt = flags & RETNET_SAVE_BF16 ? ST_BF16 : ST_F32;
    const uint16_t *bf16 = m->bf16_only ? m->params_bf16 : NULL;
    if (!(flags & RETNET_SAVE_FLA))
        return write_checkpoint(path, &m->cfg, m->table, m->n_tensors, m->params, bf16, 0, dt, 0);
    char *cfg = fla_config_json(&m->cfg);
    if (!cfg) {
        return retnet_fail(RETNET_EUNSUPPORTED, "%s: %s", path, retnet_errmsg());
    }
    retnet_status s = RETNET_OK;
    const int made = mkdir(path, 0777) == 0; /* a failed save removes it again, empty */
    if (!made && errno != EEXIST)
        s = retnet_fail(RETNET_EIO, "%s: cannot create the directory: %s", path, strerror(errno));
    /* a sharded checkpoint's index there would be read before the model.safetensors written
     * now (ckpt_open): the directory would load as its old model */
    char *ix = join_path(path, "model.safetensors.index.json");
    struct stat ixs;
    if (s == RETNET_OK && ix && stat(ix, &ixs) == 0)
        s = retnet_fail(RETNET_EINVAL, "%s holds a sharded checkpoint (model.safetensors."
                        "index.json), whose index a load would read before the model written "
                        "now; give a new or empty directory", path);
    free(ix);
    char *st = join_path(path, "model.safetensors"), *cj = join_path(path, "config.json");
    char *tmp = cj ? malloc(strlen(cj) + 32) : NULL;
    if (s == RETNET_OK && (!st || !cj || !tmp)) s = retnet_fail(RETNET_ENOMEM, "out of memory");
    if (s == RETNET_OK)
        s = write_checkpoint(st, &m->cfg, m->table, m->n_tensors, m->params, bf16, 0, dt, 1);
    if (s == RETNET_OK) { /* config.json atomically too */
        snprintf(tmp, strlen(cj) + 32, "%s.tmp.%d", cj, (int)getpid());
        FILE *fp = fopen(tmp, "wb");
        int ok = fp && fputs(cfg, fp) >= 0;
        ok = fp && fflush(fp) == 0 && fsync(fileno(fp)) == 0 && ok;
        if (fp) ok = fclose(fp) == 0 && ok;
        if (!ok || rename(tmp, cj) != 0) {
            s = retnet_fail(RETNET_EIO, "%s: cannot write: %s", cj, strerror(errno));
            remove(tmp);
        }
    }
    if (s != RETNET_OK && made) { /* the directory and what it holds are this save's alone */
        if (st) remove(st);
        rmdir(path);
    }
    free(cfg);
    free(st);
    free(cj);
    free(tmp);
    return s;
}

retnet_status retnet_init_file(const retnet_config *c, uint64_t seed, const char *path) {
    if (!c || !path) return retnet_fail(RETNET_EINVAL, "retnet_init_file: NULL argument");
    retnet_status s = retnet_config_validate(c);
    if (s != RETNET_OK) return s;
    retnet_param_desc *t = NULL;
    int32_t n = 0;
    if ((s = bare_table(c, &t, &n)) != RETNET_OK) return s;
    s = write_checkpoint(path, c, t, n, NULL, NULL, seed, ST_F32, 0);
    free(t);
    return s;
}
