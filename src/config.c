/*
 * config.c: presets, validation and derived quantities of retnet_config.
 * JSON parsing and printing of configs is in config_json.c.
 */
#include "internal.h"
#include "params.h"
#include "ops/ops.h"

#include <math.h>
#include <string.h>

/* The paper's variant (RETNET.md §4-5): LayerNorm, GroupNorm per head with affine weights,
 * gelu FFN, d_value = d_ffn = 2d, paper rope, pow2 decays, §3 normalisations on. */
static retnet_config paper(int32_t vocab, int32_t d, int32_t L, int32_t h, int32_t chunk) {
    retnet_config c = {
        .vocab = vocab, .d_model = d, .n_layer = L, .n_head = h,
        .d_key = d, .d_value = 2 * d, .d_ffn = 2 * d,
        .norm = RETNET_NORM_LAYERNORM, .head_norm = RETNET_HEADNORM_GROUPNORM,
        .head_norm_affine = 1, .ffn = RETNET_FFN_GELU, .ffn_act = RETNET_ACT_GELU,
        .rope = RETNET_ROPE_PAPER, .rope_base = 10000.0f, .decay = RETNET_DECAY_POW2,
        .normalize = 1, .eps = 1e-6f, .tie_embeddings = 1, .embed_scale = 0, .chunk = chunk,
        .gate = 1, .context = 2048,
    };
    return c;
}

static const char *const preset_names[] = {"tiny", "small", "base", "1.3b", "2.7b", "6.7b", NULL};

const char *const *retnet_preset_names(void) { return preset_names; }

retnet_status retnet_config_transformer(const retnet_config *r, int32_t context,
                                        retnet_config *out) {
    if (!r || !out) return retnet_fail(RETNET_EINVAL, "config_transformer: NULL argument");
    retnet_config c = *r;
    int64_t d = r->d_model;
    c.arch = RETNET_ARCH_TRANSFORMER;
    c.d_key = c.d_value = (int32_t)d;
    c.n_head = d >= 128 && d % 64 == 0 ? (int32_t)(d / 64) : 1;
    /* RetNet mixer: q, k (d x d_key), v, g, o (d x d_value); attention: 4 d^2. The FFN takes
     * the difference: 2 d F (gelu) or 3 d F (glu) parameters. */
    int64_t ret = 2 * d * r->d_key + (r->gate ? 3 : 2) * d * r->d_value;
    int64_t per = r->ffn == RETNET_FFN_GLU ? 3 : 2;
    int64_t ffn = (ret - 4 * d * d + per * d * r->d_ffn) / (per * d);
    if (ffn < 1) ffn = 1;
    c.d_ffn = (int32_t)ffn;
    c.context = context > 0 ? context : 2048;
    *out = c;
    return retnet_config_validate(out);
}

retnet_status retnet_config_preset(const char *name, retnet_config *out) {
    if (!name || !out) return retnet_fail(RETNET_EINVAL, "preset: NULL argument");
    if (!strncmp(name, "tf-", 3)) {
        retnet_config r;
        retnet_status st = retnet_config_preset(name + 3, &r);
        if (st) return st;
        return retnet_config_transformer(&r, 0, out);
    }
    /* tiny/small use the byte-level vocabulary: 256 bytes + 4 specials (bos, eos, pad, unk).
     * The paper sizes use GPT-2's BPE vocabulary and an untied output projection. */
    if (!strcmp(name, "tiny")) *out = paper(260, 64, 2, 2, 16);
    else if (!strcmp(name, "small")) *out = paper(260, 384, 6, 3, 64);
    else if (!strcmp(name, "base")) *out = paper(260, 768, 14, 3, 64); /* ~99M: decoding benchmarks */
    else if (!strcmp(name, "1.3b")) *out = paper(50257, 2048, 24, 8, 256);
    else if (!strcmp(name, "2.7b")) *out = paper(50257, 2560, 32, 10, 256);
    else if (!strcmp(name, "6.7b")) *out = paper(50257, 4096, 32, 16, 256);
    else
        return retnet_fail(RETNET_EINVAL,
                           "unknown preset '%s' (choose tiny, small, base, 1.3b, 2.7b or 6.7b; "
                           "tf-<preset> for the matched Transformer)", name);
    if (out->vocab > 1000) out->tie_embeddings = 0;
    return RETNET_OK;
}

#define LIMIT (1 << 20) /* no width or count above this: keeps every product in int64 */

retnet_status retnet_config_validate(const retnet_config *c) {
    if (!c) return retnet_fail(RETNET_EINVAL, "config: NULL");
    struct { const char *name; int32_t v, lo, hi; } ints[] = {
        {"vocab", c->vocab, 1, 1 << 24},      {"d_model", c->d_model, 1, LIMIT},
        {"n_layer", c->n_layer, 1, 4096},      {"n_head", c->n_head, 1, 4096},
        {"d_key", c->d_key, 1, LIMIT},        {"d_value", c->d_value, 1, LIMIT},
        {"d_ffn", c->d_ffn, 1, LIMIT},        {"chunk", c->chunk, 1, LIMIT},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (ints[i].v < ints[i].lo || ints[i].v > ints[i].hi)
            return retnet_fail(RETNET_EINVAL, "config: %s = %d is out of range [%d, %d]",
                               ints[i].name, ints[i].v, ints[i].lo, ints[i].hi);
    if (c->d_key % c->n_head)
        return retnet_fail(RETNET_EINVAL, "config: d_key %d is not divisible by n_head %d",
                           c->d_key, c->n_head);
    if (c->d_value % c->n_head)
        return retnet_fail(RETNET_EINVAL, "config: d_value %d is not divisible by n_head %d",
                           c->d_value, c->n_head);
    if (c->d_key / c->n_head > RETNET_MAX_HEAD_DIM || c->d_value / c->n_head > RETNET_MAX_HEAD_DIM)
        return retnet_fail(RETNET_EINVAL, "config: head widths %d (key) and %d (value) must be "
                           "at most %d", c->d_key / c->n_head, c->d_value / c->n_head,
                           RETNET_MAX_HEAD_DIM);
    if ((c->d_key / c->n_head) % 2)
        return retnet_fail(RETNET_EINVAL,
                           "config: the key head width d_key/n_head = %d must be even (rotation "
                           "works on pairs of channels)", c->d_key / c->n_head);
    if ((unsigned)c->norm > RETNET_NORM_RMSNORM) return retnet_fail(RETNET_EINVAL, "config: bad norm");
    if ((unsigned)c->arch > RETNET_ARCH_TRANSFORMER)
        return retnet_fail(RETNET_EINVAL, "config: bad arch");
    if (c->arch == RETNET_ARCH_TRANSFORMER && (c->context < 1 || c->context > (1 << 24)))
        return retnet_fail(RETNET_EINVAL, "config: context %d is out of range [1, %d] (the "
                           "Transformer's KV cache per sequence)", c->context, 1 << 24);
    if ((unsigned)c->head_norm > RETNET_HEADNORM_NONE)
        return retnet_fail(RETNET_EINVAL, "config: bad head_norm");
    if ((unsigned)c->ffn > RETNET_FFN_GLU) return retnet_fail(RETNET_EINVAL, "config: bad ffn");
    if ((unsigned)c->ffn_act > RETNET_ACT_SWISH) return retnet_fail(RETNET_EINVAL, "config: bad ffn_act");
    if ((unsigned)c->rope > RETNET_ROPE_HALF) return retnet_fail(RETNET_EINVAL, "config: bad rope");
    if ((unsigned)c->decay > RETNET_DECAY_NONE) return retnet_fail(RETNET_EINVAL, "config: bad decay");
    if (!(c->rope_base > 1.0f) || !isfinite(c->rope_base))
        return retnet_fail(RETNET_EINVAL, "config: rope_base %g must be a finite number > 1",
                           (double)c->rope_base);
    if (!(c->eps >= 0.0f) || !(c->eps < 1.0f))
        return retnet_fail(RETNET_EINVAL, "config: eps %g must be in [0, 1)", (double)c->eps);
    int64_t total = 0;
    retnet_param_table(c, NULL, 0, &total, NULL, NULL);
    if (total <= 0 || total > ((int64_t)1 << 40))
        return retnet_fail(RETNET_EINVAL, "config: the model would have %lld parameters",
                           (long long)total);
    return RETNET_OK;
}

int64_t retnet_config_param_count(const retnet_config *c) {
    int64_t total = 0;
    retnet_param_table(c, NULL, 0, &total, NULL, NULL);
    return total;
}

double retnet_config_gamma(const retnet_config *c, int head) {
    int h = c->n_head;
    if (c->decay == RETNET_DECAY_LINSPACE) {
        /* gamma = 1 - exp(linspace(log(1/32), log(1/512), h)) */
        double a = log(1.0 / 32), b = log(1.0 / 512);
        double t = h > 1 ? a + (b - a) * head / (h - 1) : a;
        return 1.0 - exp(t);
    }
    if (c->decay == RETNET_DECAY_SINGLE) return 1.0 - ldexp(1.0, -5);
    if (c->decay == RETNET_DECAY_NONE) return 1.0;
    return 1.0 - ldexp(1.0, -5 - head); /* pow2: 1 - 2^(-5-i) */
}

int64_t retnet_state_floats(const retnet_config *c) {
    if (c->arch == RETNET_ARCH_TRANSFORMER)
        return (int64_t)c->n_layer * c->context * (c->d_key + c->d_value);
    int64_t per_layer = (int64_t)c->d_key * (c->d_value / c->n_head); /* h * dk * dv */
    if (c->normalize) per_layer += c->d_key;                        /* z: h * dk */
    return per_layer * c->n_layer;
}

int64_t retnet_state_bytes_used(const retnet_config *c, int64_t pos) {
    if (c->arch != RETNET_ARCH_TRANSFORMER) return 4 * retnet_state_floats(c);
    if (pos > c->context) pos = c->context;
    return 4 * (int64_t)c->n_layer * pos * (c->d_key + c->d_value);
}

void retnet_state_reset(const retnet_config *c, retnet_state *s) {
    s->pos = 0;
    memset(s->data, 0, sizeof(float) * (size_t)retnet_state_floats(c));
}

const char *retnet_form_name(retnet_form f) {
    switch (f) {
    case RETNET_FORM_PARALLEL: return "parallel";
    case RETNET_FORM_CHUNKWISE: return "chunkwise";
    case RETNET_FORM_RECURRENT: return "recurrent";
    }
    return "?";
}

int retnet_form_parse(const char *s) {
    if (!s) return -1;
    if (!strcmp(s, "parallel")) return RETNET_FORM_PARALLEL;
    if (!strcmp(s, "chunkwise")) return RETNET_FORM_CHUNKWISE;
    if (!strcmp(s, "recurrent")) return RETNET_FORM_RECURRENT;
    return -1;
}
