/*
 * state_file.c: saved recurrent states (retnet.h, "saved states").
 *
 * A decoding state is small and fixed in size (retnet_state_floats() floats, whatever the
 * context length), so a conversation or a generation can be stopped and continued later, or
 * elsewhere, by saving it. The file is ONE safetensors file, written atomically (temp file +
 * rename, st_writer), holding per layer l
 *     layers.<l>.retention.S   F32 (h, dk, dv)   the retention state
 *     layers.<l>.retention.z   F32 (h, dk)       the key sums (only when config.normalize)
 * (exactly the layout of retnet_state.data, so a load is a sequence of reads into place) and
 * in __metadata__:
 *     format        "retnet-state"
 *     version       "1"
 *     config        the model's config JSON (retnet_config_to_json)
 *     pos           tokens consumed
 *     last_token    the next input (a sampled token not yet fed), or "-1" for none
 *     fingerprint   16 hex digits: XXH64 of all parameter bytes (float32, little-endian, in
 *                   the layout of retnet_model_params()), seeded with XXH64 of the config JSON
 *     fingerprint_method  "xxh64(params f32le, seed=xxh64(config json))"
 *     extra         the caller's JSON (the CLI keeps its sampler's RNG state there), or "{}"
 *
 * The fingerprint is a full pass over the weights: XXH64 runs at several GB/s (~5 ms for the
 * 10.7M-parameter small preset), so it is computed on every save and load rather than cached.
 * Loading checks the config first, then the fingerprint: a state of another model is
 * RETNET_EINVAL naming what differs; a malformed or truncated file is RETNET_EFORMAT/EIO from
 * st_open's checks (the file is treated as hostile) or from ours (every tensor present, F32,
 * of the right shape; pos and last_token in range).
 */
#include "model.h"
#include "safetensors.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define STATE_FORMAT "retnet-state"
#define STATE_VERSION "1"
#define FP_METHOD "xxh64(params f32le, seed=xxh64(config json))"

/* ---------------------------------------------------------------- XXH64 */

#define XP1 11400714785074694791ull
#define XP2 14029467366897019727ull
#define XP3 1609587929392839161ull
#define XP4 9650029242287828579ull
#define XP5 2870177450012600261ull

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t rd64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}
static inline uint32_t rd32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}
static inline uint64_t xround(uint64_t acc, uint64_t in) {
    acc += in * XP2;
    acc = rotl64(acc, 31);
    return acc * XP1;
}
static inline uint64_t xmerge(uint64_t acc, uint64_t v) {
    acc ^= xround(0, v);
    return acc * XP1 + XP4;
}

/* XXH64 (Collet's xxHash, 64-bit), streaming: 32-byte stripes into four lanes, the tail
 * (< 32 bytes) buffered until the digest. The reference's test vector XXH64("", 0) =
 * ef46db3751d8e999 is checked in tests/test_generate.c. */
typedef struct {
    uint64_t v[4], seed, total;
    unsigned char buf[32];
    int nbuf;
} xxh64_state;

static void xxh64_init(xxh64_state *s, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->v[0] = seed + XP1 + XP2, s->v[1] = seed + XP2, s->v[2] = seed, s->v[3] = seed - XP1;
}

static void xxh64_stripe(xxh64_state *s, const unsigned char *p) {
    for (int i = 0; i < 4; i++) s->v[i] = xround(s->v[i], rd64(p + 8 * i));
}

static void xxh64_update(xxh64_state *s, const void *data, size_t len) {
    const unsigned char *p = data;
    s->total += len;
    if (s->nbuf) {
        size_t take = 32 - (size_t)s->nbuf < len ? 32 - (size_t)s->nbuf : len;
        memcpy(s->buf + s->nbuf, p, take);
        s->nbuf += (int)take, p += take, len -= take;
        if (s->nbuf < 32) return;
        xxh64_stripe(s, s->buf);
        s->nbuf = 0;
    }
    for (; len >= 32; p += 32, len -= 32) xxh64_stripe(s, p);
    memcpy(s->buf, p, len);
    s->nbuf = (int)len;
}

static uint64_t xxh64_digest(const xxh64_state *s) {
    uint64_t h;
    if (s->total >= 32) {
        h = rotl64(s->v[0], 1) + rotl64(s->v[1], 7) + rotl64(s->v[2], 12) + rotl64(s->v[3], 18);
        for (int i = 0; i < 4; i++) h = xmerge(h, s->v[i]);
    } else {
        h = s->seed + XP5;
    }
    h += s->total;
    const unsigned char *p = s->buf, *end = s->buf + s->nbuf;
    while (p + 8 <= end) {
        h ^= xround(0, rd64(p));
        h = rotl64(h, 27) * XP1 + XP4;
        p += 8;
    }
    if (p + 4 <= end) {
        h ^= (uint64_t)rd32(p) * XP1;
        h = rotl64(h, 23) * XP2 + XP3;
        p += 4;
    }
    while (p < end) {
        h ^= (uint64_t)(*p) * XP5;
        h = rotl64(h, 11) * XP1;
        p++;
    }
    h ^= h >> 33;
    h *= XP2;
    h ^= h >> 29;
    h *= XP3;
    h ^= h >> 32;
    return h;
}

uint64_t retnet_xxh64(const void *data, size_t len, uint64_t seed) {
    xxh64_state s;
    xxh64_init(&s, seed);
    xxh64_update(&s, data, len);
    return xxh64_digest(&s);
}

/* ---------------------------------------------------------------- fingerprint */

static char *config_json(const retnet_config *c) {
    int64_t n = retnet_config_to_json(c, NULL, 0);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) retnet_config_to_json(c, s, (size_t)n + 1);
    return s;
}

/* XXH64 of the parameters as float32 little-endian bytes, in retnet_model_params() order,
 * streamed in blocks: a bf16-only model's 2-D weights are widened on the way (exactly), so it
 * has the fingerprint of the float32 model holding the same values. */
static retnet_status fingerprint(const retnet_model *m, const char *cfg_json, uint64_t *out) {
    enum { BLOCK = 1 << 16 };
    uint32_t *le = malloc(sizeof(uint32_t) * BLOCK);
    if (!le) return retnet_fail(RETNET_ENOMEM, "out of memory for the model fingerprint");
    xxh64_state s;
    xxh64_init(&s, retnet_xxh64(cfg_json, strlen(cfg_json), 0));
    for (int32_t t = 0; t < m->n_tensors; t++) {
        const retnet_param_desc *d = &m->table[t];
        int widen = m->bf16_only && d->ndim == 2;
        for (int64_t i = 0; i < d->numel; i += BLOCK) {
            int64_t n = d->numel - i < BLOCK ? d->numel - i : BLOCK;
            for (int64_t j = 0; j < n; j++) {
                uint32_t u;
                if (widen) u = (uint32_t)m->params_bf16[d->offset + i + j] << 16;
                else memcpy(&u, &m->params[d->offset + i + j], 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
                u = __builtin_bswap32(u); /* the little-endian bytes, as in a checkpoint */
#endif
                le[j] = u;
            }
            xxh64_update(&s, le, sizeof(uint32_t) * (size_t)n);
        }
    }
    free(le);
    *out = xxh64_digest(&s);
    return RETNET_OK;
}

retnet_status retnet_model_fingerprint(const retnet_model *m, uint64_t *out) {
    if (!m || !out) return retnet_fail(RETNET_EINVAL, "model_fingerprint: NULL argument");
    char *cfg = config_json(&m->cfg);
    if (!cfg) return retnet_fail(RETNET_ENOMEM, "out of memory for the config JSON");
    retnet_status s = fingerprint(m, cfg, out);
    free(cfg);
    return s;
}

/* ---------------------------------------------------------------- layout */

/* The tensors of a state file, in the order of retnet_state.data. */
typedef struct {
    int32_t n;
    st_spec *specs;
    char (*names)[48];
    int64_t *numel;
} state_layout;

static void layout_free(state_layout *L) {
    free(L->specs);
    free(L->names);
    free(L->numel);
}

/* Tensor i of the layout: layer l's `what`, float32 of this shape */
static void layout_put(state_layout *L, int32_t i, int32_t l, const char *what, int32_t ndim,
                       const int64_t *shape) {
    snprintf(L->names[i], sizeof L->names[i], "layers.%d.%s", l, what);
    L->specs[i] = (st_spec){L->names[i], ST_F32, ndim, {0}};
    L->numel[i] = 1;
    for (int32_t d = 0; d < ndim; d++) L->specs[i].shape[d] = shape[d], L->numel[i] *= shape[d];
}

static retnet_status layout_make(const retnet_config *c, state_layout *L) {
    const int64_t h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    const int tf = c->arch == RETNET_ARCH_TRANSFORMER;
    /* RetNet: S (and z with §3) a layer; the Transformer: its KV cache, keys (context,
     * d_key) then values (context, d_value) a layer (model.h's model_kv_cache) */
    const int per = tf || c->normalize ? 2 : 1;
    L->n = c->n_layer * per;
    L->specs = calloc((size_t)L->n, sizeof *L->specs);
    L->names = calloc((size_t)L->n, sizeof *L->names);
    L->numel = calloc((size_t)L->n, sizeof *L->numel);
    if (!L->specs || !L->names || !L->numel) {
        layout_free(L);
        return retnet_fail(RETNET_ENOMEM, "out of memory for the state layout");
    }
    for (int32_t l = 0, i = 0; l < c->n_layer; l++) {
        if (tf) {
            layout_put(L, i++, l, "attention.k_cache", 2, (int64_t[]){c->context, c->d_key});
            layout_put(L, i++, l, "attention.v_cache", 2, (int64_t[]){c->context, c->d_value});
        } else {
            layout_put(L, i++, l, "retention.S", 3, (int64_t[]){h, dk, dv});
            if (per == 2) layout_put(L, i++, l, "retention.z", 2, (int64_t[]){h, dk});
        }
    }
    return RETNET_OK;
}

/* ---------------------------------------------------------------- save / load */

retnet_status retnet_state_save_ex(const char *path, const retnet_model *m,
                                   const retnet_state *s, const int32_t *last_token,
                                   const char *extra_json) {
    if (!path || !m || !s || !s->data)
        return retnet_fail(RETNET_EINVAL, "state_save: NULL argument");
    if (s->pos < 0) return retnet_fail(RETNET_EINVAL, "state_save: negative position %lld",
                                       (long long)s->pos);
    if (last_token && (*last_token < 0 || *last_token >= m->cfg.vocab))
        return retnet_fail(RETNET_EINVAL, "state_save: last token %d is outside the model's "
                           "vocabulary 0..%d", *last_token, m->cfg.vocab - 1);
    char *cfg = config_json(&m->cfg);
    if (!cfg) return retnet_fail(RETNET_ENOMEM, "out of memory for the config JSON");
    uint64_t fp = 0;
    retnet_status st = fingerprint(m, cfg, &fp);
    state_layout L = {0};
    if (st == RETNET_OK) st = layout_make(&m->cfg, &L);
    if (st) {
        free(cfg);
        return st;
    }
    char posbuf[32], lastbuf[32], fpbuf[32];
    snprintf(posbuf, sizeof posbuf, "%lld", (long long)s->pos);
    snprintf(lastbuf, sizeof lastbuf, "%d", last_token ? *last_token : -1);
    snprintf(fpbuf, sizeof fpbuf, "%016" PRIx64, fp);
    st_meta meta[] = {{"format", STATE_FORMAT},
                      {"version", STATE_VERSION},
                      {"config", cfg},
                      {"pos", posbuf},
                      {"last_token", lastbuf},
                      {"fingerprint", fpbuf},
                      {"fingerprint_method", FP_METHOD},
                      {"extra", extra_json ? extra_json : "{}"}};
    st_writer *w = NULL;
    st = st_writer_open(path, meta, (int32_t)(sizeof meta / sizeof meta[0]), L.specs, L.n, &w);
    const float *p = s->data;
    for (int32_t i = 0; st == RETNET_OK && i < L.n; i++) {
        st = st_writer_put(w, p, L.numel[i]);
        p += L.numel[i];
    }
    if (st == RETNET_OK) st = st_writer_finish(w);
    else st_writer_abort(w);
    layout_free(&L);
    free(cfg);
    return st;
}

retnet_status retnet_state_save(const char *path, const retnet_model *m, const retnet_state *s,
                                const int32_t *last_token) {
    return retnet_state_save_ex(path, m, s, last_token, NULL);
}

/* A decimal integer metadata value in [lo, hi]; 0 if it is not one. */
static int meta_int(const char *v, long long lo, long long hi, long long *out) {
    if (!v || !*v) return 0;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

retnet_status retnet_state_load_ex(const char *path, const retnet_model *m, retnet_state *s,
                                   int32_t *last_token, char *extra_json, size_t cap) {
    if (!path || !m || !s || !s->data)
        return retnet_fail(RETNET_EINVAL, "state_load: NULL argument");
    st_file *f = NULL;
    retnet_status st = st_open(path, &f);
    if (st) return st;
    const char *fmt = st_meta_get(f, "format"), *ver = st_meta_get(f, "version");
    const char *cfg = st_meta_get(f, "config"), *pos = st_meta_get(f, "pos");
    const char *last = st_meta_get(f, "last_token"), *fps = st_meta_get(f, "fingerprint");
    const char *extra = st_meta_get(f, "extra");
    char *mine = config_json(&m->cfg), *theirs = NULL;
    state_layout L = {0};
    long long posv = 0, lastv = -1;
    retnet_config c;
    if (!mine) {
        st = retnet_fail(RETNET_ENOMEM, "out of memory for the config JSON");
    } else if (!fmt || strcmp(fmt, STATE_FORMAT)) {
        st = retnet_fail(RETNET_EFORMAT, "%s: not a retnet state file (its __metadata__ has no "
                         "\"format\": \"%s\")", path, STATE_FORMAT);
    } else if (!ver || strcmp(ver, STATE_VERSION)) {
        st = retnet_fail(RETNET_EUNSUPPORTED, "%s: state file version %.20s, this build reads "
                         "version %s", path, ver ? ver : "(none)", STATE_VERSION);
    } else if (!cfg || !pos || !last || !fps) {
        st = retnet_fail(RETNET_EFORMAT, "%s: the state file lacks its config, pos, last_token "
                         "or fingerprint metadata", path);
    } else if (retnet_config_from_json(cfg, strlen(cfg), NULL, &c) != RETNET_OK) {
        st = retnet_fail(RETNET_EFORMAT, "%s: the state's config is invalid: %s", path,
                         retnet_errmsg());
    } else if (!(theirs = config_json(&c))) {
        st = retnet_fail(RETNET_ENOMEM, "out of memory for the config JSON");
    } else if (strcmp(mine, theirs)) {
        char key[64] = "?", vs[128] = "", vm[128] = "";
        retnet_config_first_diff(&c, &m->cfg, key, sizeof key, vs, vm, sizeof vs);
        st = retnet_fail(RETNET_EINVAL, "%s: the state is of a different model: its \"%s\" is "
                         "%s, the model's %s%s", path, key, vs, vm,
                         !strcmp(key, "context") ? " (give the model the state's --context)"
                                                 : "");
    } else if (!meta_int(pos, 0,
                         m->cfg.arch == RETNET_ARCH_TRANSFORMER ? m->cfg.context : INT64_MAX / 4,
                         &posv)) {
        st = retnet_fail(RETNET_EFORMAT, "%s: bad pos '%.40s' in the state file (a "
                         "Transformer's at most its context)", path, pos);
    } else if (!meta_int(last, -1, (long long)m->cfg.vocab - 1, &lastv)) {
        st = retnet_fail(RETNET_EFORMAT, "%s: bad last_token '%.40s' in the state file (the "
                         "model's vocabulary is 0..%d)", path, last, m->cfg.vocab - 1);
    } else {
        uint64_t fp = 0;
        char fpbuf[32];
        if ((st = fingerprint(m, mine, &fp)) == RETNET_OK) {
            snprintf(fpbuf, sizeof fpbuf, "%016" PRIx64, fp);
            if (strcmp(fps, fpbuf))
                st = retnet_fail(RETNET_EINVAL, "%s: the state is of a different model: same "
                                 "config, other weights (fingerprint %.20s, this model's %s)",
                                 path, fps, fpbuf);
        }
    }
    if (st == RETNET_OK) st = layout_make(&m->cfg, &L);
    /* exactly the expected tensors: ours, F32, of our shapes, and nothing else */
    if (st == RETNET_OK && f->n_tensors != L.n)
        st = retnet_fail(RETNET_EFORMAT, "%s: the state file has %d tensors, want %d", path,
                         f->n_tensors, L.n);
    for (int32_t i = 0; st == RETNET_OK && i < L.n; i++) {
        const st_tensor *t = st_find(f, L.names[i]);
        int ok = t && t->dtype == ST_F32 && t->ndim == L.specs[i].ndim;
        for (int32_t d = 0; ok && d < t->ndim; d++) ok = t->shape[d] == L.specs[i].shape[d];
        if (!ok)
            st = retnet_fail(RETNET_EFORMAT, "%s: tensor %s is missing, not F32 or not of the "
                             "model's shape", path, L.names[i]);
    }
    /* read into a copy first, so that a failing read leaves the caller's state unchanged */
    const int64_t sf = retnet_state_floats(&m->cfg);
    float *tmp = st == RETNET_OK ? malloc(sizeof(float) * (size_t)sf) : NULL;
    if (st == RETNET_OK && !tmp) st = retnet_fail(RETNET_ENOMEM, "out of memory for the state");
    float *p = tmp;
    for (int32_t i = 0; st == RETNET_OK && i < L.n; i++) {
        st = st_read_f32(f, st_find(f, L.names[i]), p);
        p += L.numel[i];
    }
    if (st == RETNET_OK && extra_json && cap && strlen(extra ? extra : "{}") >= cap)
        st = retnet_fail(RETNET_EFORMAT, "%s: the state's extra metadata is longer than %zu "
                         "bytes", path, cap - 1);
    if (st == RETNET_OK) {
        memcpy(s->data, tmp, sizeof(float) * (size_t)sf);
        s->pos = posv;
        if (last_token) *last_token = (int32_t)lastv;
        if (extra_json && cap) snprintf(extra_json, cap, "%s", extra ? extra : "{}");
    }
    free(tmp);
    layout_free(&L);
    free(mine);
    free(theirs);
    st_close(f);
    return st;
}

retnet_status retnet_state_load(const char *path, const retnet_model *m, retnet_state *s,
                                int32_t *last_token) {
    return retnet_state_load_ex(path, m, s, last_token, NULL, 0);
}
