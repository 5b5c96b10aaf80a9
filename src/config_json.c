/*
 * config_json.c: retnet_config from and to JSON (retnet.h), in two dialects.
 *
 *  - Our keys ("d_model", "norm", ...; docs/FILE_FORMAT.md lists them): every key optional;
 *    a missing key keeps the value of `base`, or of the "small" preset when base is NULL.
 *    When d_model is given (and differs from the base's), missing d_key, d_value and d_ffn
 *    follow it as in the paper (d, 2d, 2d), so {"d_model": 512} is a complete paper model.
 *  - torchscale's RetNetConfig keys ("decoder_embed_dim", ...), recognised by any key that
 *    starts with "decoder_". They imply torchscale's variant (RMSNorm, per-head RMSNorm
 *    without affine, GLU FFN, paper rope, pow2 decay, §3 normalisations, d_key = d_model)
 *    and default to RetNetConfig's values. Our keys may be given beside them and win.
 *
 * Every failure names the key and what is allowed; the result always passes
 * retnet_config_validate. Unknown keys are ignored (a torchscale config has dozens that do
 * not change the function: dropout, fsdp, ...), except the torchscale options we cannot
 * represent, which fail with RETNET_EUNSUPPORTED rather than load a different model.
 */
#include "internal.h"
#include "json.h"

#include <errno.h>
#include <float.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_CONFIG_FILE (16 << 20) /* a config is a few hundred bytes; refuse anything huge */

static const char *const NORM_NAMES[] = {"layernorm", "rmsnorm", NULL};
static const char *const ARCH_NAMES[] = {"retnet", "transformer", NULL};
static const char *const HEAD_NORM_NAMES[] = {"groupnorm", "rmsnorm", "none", NULL};
static const char *const FFN_NAMES[] = {"gelu", "glu", NULL};
static const char *const ACT_NAMES[] = {"gelu", "swish", NULL};
static const char *const ROPE_NAMES[] = {"paper", "half", NULL};
static const char *const DECAY_NAMES[] = {"pow2", "linspace", "single", "none", NULL};

#define TRY(x)                                                                           \
    do {                                                                                 \
        retnet_status s_ = (x);                                                          \
        if (s_ != RETNET_OK) return s_;                                                  \
    } while (0)

/* The member `key`, or NULL if absent. torchscale's configs come from Python, where None
 * means "use the default", so there a null counts as absent. */
static const json_value *find(const json_value *root, const char *key, int null_is_absent) {
    const json_value *v = json_get(root, key);
    if (v && null_is_absent && v->type == JSON_NULL) return NULL;
    return v;
}

static retnet_status want_int(const json_value *v, const char *key, int64_t lo, int64_t hi,
                              int32_t *dst) {
    if (v->type != JSON_NUMBER || !v->is_int) {
        if (v->type == JSON_NUMBER)
            return retnet_fail(RETNET_EINVAL, "config: \"%s\" must be an integer, got %.17g",
                               key, v->num);
        return retnet_fail(RETNET_EINVAL, "config: \"%s\" must be an integer, got a %s", key,
                           json_type_name(v->type));
    }
    if (v->inum < lo || v->inum > hi)
        return retnet_fail(RETNET_EINVAL, "config: \"%s\" = %lld is out of range [%lld, %lld]",
                           key, (long long)v->inum, (long long)lo, (long long)hi);
    *dst = (int32_t)v->inum;
    return RETNET_OK;
}

static retnet_status want_bool(const json_value *v, const char *key, int32_t *dst) {
    if (v->type != JSON_BOOL)
        return retnet_fail(RETNET_EINVAL, "config: \"%s\" must be true or false, got a %s", key,
                           json_type_name(v->type));
    *dst = v->boolean;
    return RETNET_OK;
}

/* A finite number that a float can hold, >= lo (strictly > lo if open). */
static retnet_status want_float(const json_value *v, const char *key, double lo, int open,
                                float *dst) {
    if (v->type != JSON_NUMBER)
        return retnet_fail(RETNET_EINVAL, "config: \"%s\" must be a number, got a %s", key,
                           json_type_name(v->type));
    if (v->num > FLT_MAX || v->num < -FLT_MAX || (open ? !(v->num > lo) : !(v->num >= lo)))
        return retnet_fail(RETNET_EINVAL, "config: \"%s\" = %.9g is out of range (must be %s %g "
                           "and fit a float)", key, v->num, open ? ">" : ">=", lo);
    *dst = (float)v->num;
    return RETNET_OK;
}

/* Formats the allowed names as "a", "b" or "c". */
static void list_names(const char *const *names, char *buf, size_t cap) {
    json_writer w;
    json_writer_init(&w, buf, cap);
    for (int i = 0; names[i]; i++) {
        if (i) json_put(&w, names[i + 1] ? ", " : " or ");
        json_put_string(&w, names[i]);
    }
}

static retnet_status want_enum(const json_value *v, const char *key, const char *const *names,
                               int *dst) {
    char allowed[128];
    list_names(names, allowed, sizeof allowed);
    if (v->type != JSON_STRING)
        return retnet_fail(RETNET_EINVAL, "config: \"%s\" must be a string, one of %s; got a %s",
                           key, allowed, json_type_name(v->type));
    for (int i = 0; names[i]; i++)
        if (!strcmp(v->str, names[i])) {
            *dst = i;
            return RETNET_OK;
        }
    return retnet_fail(RETNET_EINVAL, "config: \"%s\" = \"%.100s\" is unknown; allowed: %s", key,
                       v->str, allowed);
}

#define INT_KEY(key, field, ts)                                                          \
    if ((v = find(root, key, ts))) TRY(want_int(v, key, 1, INT32_MAX, &c->field))
#define BOOL_KEY(key, field, ts)                                                         \
    if ((v = find(root, key, ts))) TRY(want_bool(v, key, &c->field))
#define ENUM_KEY(key, names, field, type)                                                \
    if ((v = find(root, key, 0))) {                                                      \
        int e_;                                                                          \
        TRY(want_enum(v, key, names, &e_));                                              \
        c->field = (type)e_;                                                             \
    }

/* Applies our keys to *c. A d_model that changes the width (or any d_model, with
 * derive_always) resets d_key, d_value and d_ffn to the paper's widths first. */
static retnet_status apply_ours(const json_value *root, retnet_config *c, int derive_always) {
    const json_value *v;
    ENUM_KEY("arch", ARCH_NAMES, arch, retnet_arch);
    int32_t old_d = c->d_model;
    INT_KEY("vocab", vocab, 0);
    INT_KEY("d_model", d_model, 0);
    if (json_get(root, "d_model") && (derive_always || c->d_model != old_d)) {
        /* The paper's widths for a new d (RETNET.md §5); explicit keys below override. */
        c->d_key = c->d_model;
        c->d_value = c->d_model > INT32_MAX / 2 ? INT32_MAX : 2 * c->d_model;
        c->d_ffn = c->d_value;
    }
    INT_KEY("n_layer", n_layer, 0);
    INT_KEY("n_head", n_head, 0);
    INT_KEY("d_key", d_key, 0);
    INT_KEY("d_value", d_value, 0);
    INT_KEY("d_ffn", d_ffn, 0);
    ENUM_KEY("norm", NORM_NAMES, norm, retnet_norm_kind);
    ENUM_KEY("head_norm", HEAD_NORM_NAMES, head_norm, retnet_head_norm_kind);
    BOOL_KEY("head_norm_affine", head_norm_affine, 0);
    ENUM_KEY("ffn", FFN_NAMES, ffn, retnet_ffn_kind);
    ENUM_KEY("ffn_act", ACT_NAMES, ffn_act, retnet_act);
    ENUM_KEY("rope", ROPE_NAMES, rope, retnet_rope_kind);
    if ((v = find(root, "rope_base", 0))) TRY(want_float(v, "rope_base", 0.0, 1, &c->rope_base));
    ENUM_KEY("decay", DECAY_NAMES, decay, retnet_decay_kind);
    BOOL_KEY("normalize", normalize, 0);
    if ((v = find(root, "eps", 0))) TRY(want_float(v, "eps", 0.0, 0, &c->eps));
    BOOL_KEY("tie_embeddings", tie_embeddings, 0);
    BOOL_KEY("embed_scale", embed_scale, 0);
    BOOL_KEY("gate", gate, 0);
    INT_KEY("context", context, 0);
    INT_KEY("chunk", chunk, 0);
    return RETNET_OK;
}

/* torchscale options that would change the function in ways we do not implement. */
static retnet_status check_torchscale_unsupported(const json_value *root) {
    static const struct { const char *key; int bad_if_true; } opts[] = {
        {"decoder_normalize_before", 0}, /* post-norm */
        {"layernorm_embedding", 1},      /* a norm after the embedding */
        {"deepnorm", 1},                 /* scaled residuals */
        {"no_output_layer", 1},          /* no output projection */
        {"use_lm_decay", 1},             /* a different decay schedule */
    };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        const json_value *v = find(root, opts[i].key, 1);
        if (!v) continue;
        if (v->type != JSON_BOOL)
            return retnet_fail(RETNET_EINVAL, "config: \"%s\" must be true or false, got a %s",
                               opts[i].key, json_type_name(v->type));
        if (v->boolean == opts[i].bad_if_true)
            return retnet_fail(RETNET_EUNSUPPORTED, "config: torchscale option \"%s\": %s is not "
                               "supported", opts[i].key, v->boolean ? "true" : "false");
    }
    const json_value *v = find(root, "moe_freq", 1);
    if (v && !(v->type == JSON_NUMBER && v->num == 0))
        return retnet_fail(RETNET_EUNSUPPORTED, "config: torchscale option \"moe_freq\" "
                           "(mixture of experts) is not supported; only 0");
    return RETNET_OK;
}

/* torchscale's RetNetConfig (torchscale/architecture/config.py). */
static retnet_status apply_torchscale(const json_value *root, const retnet_config *base,
                                      retnet_config *c) {
    const json_value *v;
    TRY(check_torchscale_unsupported(root));
    if (base) {
        *c = *base;
    } else {
        memset(c, 0, sizeof *c);
        c->d_model = 768;
        c->d_value = 1280;
        c->n_head = 3;
        c->d_ffn = 1280;
        c->n_layer = 12;
        c->vocab = -1; /* must be given */
        c->eps = 1e-6f;
        c->ffn_act = RETNET_ACT_GELU;
        c->embed_scale = 0;    /* no_scale_embedding = True */
        c->tie_embeddings = 0; /* share_decoder_input_output_embed = False */
        c->chunk = 512;
        c->gate = 1;
        c->context = 2048;
    }
    /* What torchscale's RetNetDecoder is, whatever the keys say. */
    c->norm = RETNET_NORM_RMSNORM;
    c->head_norm = RETNET_HEADNORM_RMSNORM;
    c->head_norm_affine = 0;
    c->ffn = RETNET_FFN_GLU;
    c->rope = RETNET_ROPE_PAPER;
    c->rope_base = 10000.0f; /* torchscale's angle: 1 / 10000^linspace(0, 1, dk/2) */
    c->decay = RETNET_DECAY_POW2;
    c->normalize = 1;

    INT_KEY("decoder_embed_dim", d_model, 1);
    INT_KEY("decoder_value_embed_dim", d_value, 1);
    INT_KEY("decoder_retention_heads", n_head, 1);
    INT_KEY("decoder_ffn_embed_dim", d_ffn, 1);
    INT_KEY("decoder_layers", n_layer, 1);
    if ((v = find(root, "vocab_size", 1))) {
        if (v->type == JSON_NUMBER && v->is_int && v->inum == -1 && !base)
            return retnet_fail(RETNET_EINVAL, "config: \"vocab_size\" is -1 (torchscale's "
                               "'unset'); give the vocabulary size");
        TRY(want_int(v, "vocab_size", 1, INT32_MAX, &c->vocab));
    }
    if ((v = find(root, "layernorm_eps", 1))) TRY(want_float(v, "layernorm_eps", 0.0, 0, &c->eps));
    if ((v = find(root, "activation_fn", 1))) {
        static const char *const TS_ACT[] = {"gelu", "swish", "silu", NULL};
        int e;
        TRY(want_enum(v, "activation_fn", TS_ACT, &e));
        c->ffn_act = e == 0 ? RETNET_ACT_GELU : RETNET_ACT_SWISH;
    }
    if ((v = find(root, "no_scale_embedding", 1))) {
        int32_t no_scale = 1;
        TRY(want_bool(v, "no_scale_embedding", &no_scale));
        c->embed_scale = !no_scale;
    }
    BOOL_KEY("share_decoder_input_output_embed", tie_embeddings, 1);
    INT_KEY("recurrent_chunk_size", chunk, 1);
    c->d_key = c->d_model;
    return RETNET_OK;
}

static int has_torchscale_keys(const json_value *root) {
    for (const json_value *m = root->child; m; m = m->next)
        if (!strncmp(m->key, "decoder_", 8)) return 1;
    return 0;
}

static retnet_status from_root(const json_value *root, const retnet_config *base,
                               retnet_config *out) {
    if (root->type != JSON_OBJECT)
        return retnet_fail(RETNET_EINVAL, "config: the JSON text must be an object, got a %s",
                           json_type_name(root->type));
    retnet_config c;
    if (has_torchscale_keys(root)) {
        TRY(apply_torchscale(root, base, &c));
        TRY(apply_ours(root, &c, 0));
        if (c.vocab < 1)
            return retnet_fail(RETNET_EINVAL, "config: \"vocab_size\" is required with "
                               "torchscale keys (its default -1 means unset)");
    } else {
        if (base) c = *base;
        else TRY(retnet_config_preset("small", &c));
        TRY(apply_ours(root, &c, base == NULL));
    }
    TRY(retnet_config_validate(&c));
    *out = c;
    return RETNET_OK;
}

retnet_status retnet_config_from_json(const char *json, size_t len, const retnet_config *base,
                                      retnet_config *out) {
    if (!json || !out) return retnet_fail(RETNET_EINVAL, "config: NULL argument");
    if (len > (size_t)INT64_MAX) return retnet_fail(RETNET_EINVAL, "config: text too long");
    json_doc *doc = NULL;
    char err[256];
    retnet_status s = json_parse(json, (int64_t)len, &doc, err, sizeof err);
    if (s != RETNET_OK) return retnet_fail(s, "config: invalid JSON: %s", err);
    s = from_root(json_root(doc), base, out);
    json_free(doc);
    return s;
}

retnet_status retnet_config_load(const char *path, retnet_config *out) {
    if (!path || !out) return retnet_fail(RETNET_EINVAL, "config: NULL argument");
    int64_t n;
    char *text;
    retnet_status rs = retnet_read_text(path, MAX_CONFIG_FILE, "a config", &text, &n);
    if (rs != RETNET_OK) return rs;
    retnet_status s = retnet_config_from_json(text, (size_t)n, NULL, out);
    free(text);
    if (s != RETNET_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", retnet_errmsg());
        return retnet_fail(s, "%s: %s", path, msg);
    }
    return RETNET_OK;
}

static const char *enum_name(const char *const *names, int n, int v) {
    return v >= 0 && v < n ? names[v] : "invalid";
}

int64_t retnet_config_to_json(const retnet_config *c, char *buf, size_t cap) {
    if (!c) {
        if (buf && cap) buf[0] = 0;
        return -1;
    }
    json_writer w;
    json_writer_init(&w, buf, cap);
    json_putf(&w, "{\"arch\": \"%s\", \"vocab\": %d, \"d_model\": %d, \"n_layer\": %d, "
              "\"n_head\": %d, \"d_key\": %d, \"d_value\": %d, \"d_ffn\": %d, ",
              enum_name(ARCH_NAMES, 2, (int)c->arch), c->vocab, c->d_model, c->n_layer,
              c->n_head, c->d_key, c->d_value, c->d_ffn);
    json_putf(&w, "\"norm\": \"%s\", \"head_norm\": \"%s\", \"head_norm_affine\": %s, "
              "\"ffn\": \"%s\", \"ffn_act\": \"%s\", \"rope\": \"%s\", \"rope_base\": ",
              enum_name(NORM_NAMES, 2, (int)c->norm),
              enum_name(HEAD_NORM_NAMES, 3, (int)c->head_norm),
              c->head_norm_affine ? "true" : "false", enum_name(FFN_NAMES, 2, (int)c->ffn),
              enum_name(ACT_NAMES, 2, (int)c->ffn_act), enum_name(ROPE_NAMES, 2, (int)c->rope));
    json_put_float(&w, c->rope_base);
    json_putf(&w, ", \"decay\": \"%s\", \"normalize\": %s, \"eps\": ",
              enum_name(DECAY_NAMES, 4, (int)c->decay), c->normalize ? "true" : "false");
    json_put_float(&w, c->eps);
    json_putf(&w, ", \"tie_embeddings\": %s, \"embed_scale\": %s, \"chunk\": %d, "
              "\"gate\": %s, \"context\": %d}",
              c->tie_embeddings ? "true" : "false", c->embed_scale ? "true" : "false", c->chunk,
              c->gate ? "true" : "false", c->context);
    return w.len;
}

/* ---------------------------------------------------------------- fla (Hugging Face) */

/*
 * fla's RetNetConfig (config.json of a RetNetForCausalLM; RETNET.md §6): hidden_size,
 * num_hidden_layers, num_heads, expand_k, expand_v, intermediate_size or hidden_ratio,
 * hidden_act, use_output_gate, elementwise_affine, norm_eps, vocab_size, tie_word_embeddings,
 * with RetNetConfig's defaults. fla's model is fixed otherwise: RMSNorm, per-head RMSNorm
 * (weight of width dv shared by the heads), SwiGLU FFN, rotary on halves with base 10000,
 * pow2 decays, no §3 normalisations. Options that change the function into something we do
 * not compute (short convolutions, feature maps, grouped keys, hybrid attention layers)
 * fail with RETNET_EUNSUPPORTED.
 */
retnet_status retnet_config_from_fla_json(const char *json, size_t len, retnet_config *out) {
    json_doc *doc = NULL;
    char err[256];
    retnet_status st = json_parse(json, (int64_t)len, &doc, err, sizeof err);
    if (st != RETNET_OK) return retnet_fail(st, "config.json: invalid JSON: %s", err);
    const json_value *root = json_root(doc), *v;
    retnet_config c;
    double ek = 1.0, ev = 2.0, ratio = 2.0;
    float ekf, evf, rf;
#define FAIL_DOC(...) do { st = retnet_fail(__VA_ARGS__); goto done; } while (0)
#define TRYD(x) do { if ((st = (x)) != RETNET_OK) goto done; } while (0)
    if (root->type != JSON_OBJECT) FAIL_DOC(RETNET_EINVAL, "config.json: not a JSON object");
    if ((v = find(root, "model_type", 1)) && (v->type != JSON_STRING || strcmp(v->str, "retnet")))
        FAIL_DOC(RETNET_EUNSUPPORTED, "config.json: model_type %s%.60s%s is not \"retnet\" "
                 "(fla's RetNetForCausalLM)", v->type == JSON_STRING ? "\"" : "",
                 v->type == JSON_STRING ? v->str : json_type_name(v->type),
                 v->type == JSON_STRING ? "\"" : "");
    memset(&c, 0, sizeof c);
    c.arch = RETNET_ARCH_RETNET;
    c.d_model = 2048, c.n_layer = 24, c.n_head = 8, c.vocab = 32000;
    c.norm = RETNET_NORM_RMSNORM, c.head_norm = RETNET_HEADNORM_RMSNORM, c.head_norm_affine = 1;
    c.ffn = RETNET_FFN_GLU, c.ffn_act = RETNET_ACT_SWISH, c.rope = RETNET_ROPE_HALF;
    c.rope_base = 10000.0f, c.decay = RETNET_DECAY_POW2, c.normalize = 0, c.eps = 1e-6f;
    c.tie_embeddings = 0, c.embed_scale = 0, c.chunk = 64, c.gate = 1, c.context = 2048;
    static const char *const unsupported[] = {"feature_map", "attn", "attnres_block_size", NULL};
    for (int i = 0; unsupported[i]; i++)
        if ((v = find(root, unsupported[i], 1)))
            FAIL_DOC(RETNET_EUNSUPPORTED, "config.json: \"%s\" is set; this fla option is not "
                     "supported (plain RetNet layers only)", unsupported[i]);
    if ((v = find(root, "use_short_conv", 1)) && !(v->type == JSON_BOOL && !v->boolean))
        FAIL_DOC(RETNET_EUNSUPPORTED, "config.json: \"use_short_conv\" is not supported");
    if ((v = find(root, "hidden_size", 1))) TRYD(want_int(v, "hidden_size", 1, 1 << 20, &c.d_model));
    if ((v = find(root, "num_hidden_layers", 1)))
        TRYD(want_int(v, "num_hidden_layers", 1, 4096, &c.n_layer));
    if ((v = find(root, "num_heads", 1))) TRYD(want_int(v, "num_heads", 1, 4096, &c.n_head));
    if ((v = find(root, "num_kv_heads", 1))) {
        int32_t kv = 0;
        TRYD(want_int(v, "num_kv_heads", 1, 4096, &kv));
        if (kv != c.n_head)
            FAIL_DOC(RETNET_EUNSUPPORTED, "config.json: num_kv_heads %d differs from num_heads "
                     "%d (grouped keys are not supported)", kv, c.n_head);
    }
    if ((v = find(root, "vocab_size", 1))) TRYD(want_int(v, "vocab_size", 1, 1 << 24, &c.vocab));
    if ((v = find(root, "expand_k", 1))) { TRYD(want_float(v, "expand_k", 0.0, 1, &ekf)); ek = v->num; }
    if ((v = find(root, "expand_v", 1))) { TRYD(want_float(v, "expand_v", 0.0, 1, &evf)); ev = v->num; }
    /* widths are checked before the casts: a hostile file must not make them overflow */
    if (c.d_model * ek > (1 << 24) || c.d_model * ev > (1 << 24))
        FAIL_DOC(RETNET_EINVAL, "config.json: hidden_size x expand_k / expand_v = %.9g / %.9g is "
                 "out of range (at most %d)", c.d_model * ek, c.d_model * ev, 1 << 24);
    c.d_key = (int32_t)(c.d_model * ek);      /* int(hidden_size * expand_k), as fla */
    c.d_value = (int32_t)(c.d_model * ev);
    if ((v = find(root, "intermediate_size", 1))) {
        TRYD(want_int(v, "intermediate_size", 1, 1 << 24, &c.d_ffn));
    } else {
        if ((v = find(root, "hidden_ratio", 1))) { TRYD(want_float(v, "hidden_ratio", 0.0, 1, &rf)); ratio = v->num; }
        if (c.d_model * ratio * 2 / 3 > (1 << 24))
            FAIL_DOC(RETNET_EINVAL, "config.json: hidden_size x hidden_ratio = %.9g is out of "
                     "range", c.d_model * ratio);
        int64_t f = (int64_t)(c.d_model * ratio * 2 / 3);  /* fla's GatedMLP */
        c.d_ffn = (int32_t)(256 * ((f + 255) / 256));
    }
    if ((v = find(root, "hidden_act", 1))) {
        static const char *const acts[] = {"swish", "silu", "gelu", NULL};
        int e;
        TRYD(want_enum(v, "hidden_act", acts, &e));
        c.ffn_act = e == 2 ? RETNET_ACT_GELU : RETNET_ACT_SWISH;
    }
    if ((v = find(root, "use_output_gate", 1))) TRYD(want_bool(v, "use_output_gate", &c.gate));
    if ((v = find(root, "elementwise_affine", 1)))
        TRYD(want_bool(v, "elementwise_affine", &c.head_norm_affine));
    if ((v = find(root, "norm_eps", 1))) TRYD(want_float(v, "norm_eps", 0.0, 0, &c.eps));
    if ((v = find(root, "tie_word_embeddings", 1)))
        TRYD(want_bool(v, "tie_word_embeddings", &c.tie_embeddings));
    if ((v = find(root, "max_position_embeddings", 1)))
        TRYD(want_int(v, "max_position_embeddings", 1, 1 << 24, &c.context));
    /* ours, beside fla's keys (fla and transformers keep an unknown key and ignore it): the
     * chunkwise form's chunk, which a state records with the config, so that a model converted
     * there and back takes its states */
    if ((v = find(root, "retnet_chunk", 1))) TRYD(want_int(v, "retnet_chunk", 1, 1 << 24, &c.chunk));
    if ((st = retnet_config_validate(&c)) != RETNET_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", retnet_errmsg());
        FAIL_DOC(st, "config.json: %s", msg);
    }
    *out = c;
done:
#undef FAIL_DOC
#undef TRYD
    json_free(doc);
    return st;
}
