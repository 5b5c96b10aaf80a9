/*
 * test_checkpoint.c: safetensors reading and writing, and model checkpoints.
 *
 *  - round trips: init, save, load gives every parameter bit for bit and the same config;
 *    retnet_init_file writes the same bytes as init + save (several config variants);
 *  - dtypes: BF16 and F16 files (written here by hand, not by the library's writer) load with
 *    the exact float values of a table of bit patterns (subnormals, inf, NaN, -0);
 *    the writer's BF16 rounds to nearest even;
 *  - hostile files: truncated at every byte of the header and at points of the data, empty,
 *    huge or overflowing lengths and offsets, bad JSON, overlapping ranges, bad shapes and
 *    dtypes, missing/extra/misshapen tensors, bad or missing configs, unsupported versions,
 *    and random byte flips. Each must fail with a status and a message that names the
 *    problem, and never crash (the suite also runs under ASan + UBSan);
 *  - foreign files: a torchscale-style state dict (no metadata, the rel_pos buffers) loads
 *    with a torchscale JSON config; transformers' {"format": "pt"} metadata is not ours;
 *  - atomic writes: a save that fails (file size limit, target is a directory, no such
 *    directory) leaves the old file untouched and no temp file behind.
 * The files are made in a fresh directory under /tmp, removed at the end.
 */
#include "model.h"       /* retnet_model_find_tensor */
#include "retnet.h"
#include "safetensors.h"
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* ---------------------------------------------------------------- small helpers */

static unsigned char *read_file(const char *path, int64_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    *len = n;
    return b;
}

static void write_file(const char *path, const void *b, int64_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "cannot write %s\n", path); exit(2); }
    if (n) fwrite(b, 1, (size_t)n, f);
    fclose(f);
}

/* A growable byte buffer. */
typedef struct { unsigned char *b; int64_t n, cap; } buf_t;
static void buf_add(buf_t *s, const void *p, int64_t n) {
    if (s->n + n + 1 > s->cap) {
        s->cap = (s->n + n + 1) * 2;
        s->b = realloc(s->b, (size_t)s->cap);
    }
    memcpy(s->b + s->n, p, (size_t)n);
    s->n += n;
    s->b[s->n] = 0;
}
static void buf_printf(buf_t *s, const char *fmt, ...) {
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_add(s, tmp, n);
}

/* A safetensors file from a header text and raw data, with the header length given. */
static void write_st_len(const char *path, uint64_t hlen, const char *header, const void *data,
                         int64_t data_len) {
    buf_t s = {0};
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(hlen >> (8 * i));
    buf_add(&s, len8, 8);
    buf_add(&s, header, (int64_t)strlen(header));
    if (data_len) buf_add(&s, data, data_len);
    write_file(path, s.b, s.n);
    free(s.b);
}
static void write_st(const char *path, const char *header, const void *data, int64_t data_len) {
    write_st_len(path, strlen(header), header, data, data_len);
}

/* Loads path and checks that it fails with a message containing `phrase` (and, unless
 * want is RETNET_OK, with status want). */
static void expect_fail_cfg(const char *what, const char *path, const retnet_config *cfg,
                            retnet_status want, const char *phrase) {
    retnet_model *m = (retnet_model *)0x1;
    retnet_status s = retnet_model_load(path, cfg, &m);
    CHECK(s != RETNET_OK, "%s: loaded, should have failed", what);
    CHECK(m == NULL, "%s: *out not NULL on failure", what);
    if (s == RETNET_OK) { retnet_model_free(m); return; }
    if (want != RETNET_OK)
        CHECK(s == want, "%s: status %s, want %s (%s)", what, retnet_status_name(s),
              retnet_status_name(want), retnet_errmsg());
    CHECK(strstr(retnet_errmsg(), phrase) != NULL, "%s: message \"%s\" lacks \"%s\"", what,
          retnet_errmsg(), phrase);
}
static void expect_fail(const char *what, const char *path, retnet_status want,
                        const char *phrase) {
    expect_fail_cfg(what, path, NULL, want, phrase);
}

static int count_temp_files(void) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static retnet_config tiny(void) {
    retnet_config c;
    retnet_config_preset("tiny", &c);
    return c;
}

static retnet_model *make_model(const retnet_config *c, uint64_t seed) {
    retnet_model *m = NULL;
    if (retnet_model_create(c, &m) != RETNET_OK) {
        fprintf(stderr, "model_create: %s\n", retnet_errmsg());
        exit(2);
    }
    retnet_model_init(m, seed);
    return m;
}

static int same_config(const retnet_config *a, const retnet_config *b) {
    char x[1024], y[1024];
    retnet_config_to_json(a, x, sizeof x);
    retnet_config_to_json(b, y, sizeof y);
    return !strcmp(x, y) && !memcmp(a, b, sizeof *a);
}

/* ---------------------------------------------------------------- hand-made model files */

/* The test's own safetensors writer for a model's tensors, so that the reader is not only
 * checked against the library's writer. dtype "F32" writes the model's values; "F16" and
 * "BF16" write the bit patterns pattern[k % n_pattern] (k counts elements over the file). */
typedef struct {
    const char *dtype;
    const char *meta;           /* the __metadata__ object's text, or NULL for none */
    const char *drop;           /* leave this tensor out */
    const char *extra;          /* add a tensor of this name (shape [2]) */
    const char *reshape;        /* give this tensor a different shape of the same size */
    int ts_buffers;             /* add torchscale's retnet_rel_pos.angle/.decay */
    const uint16_t *pattern;
    int n_pattern;
} craft;

static void craft_file(const char *path, const retnet_model *m, const craft *o) {
    int esize = !strcmp(o->dtype, "F32") ? 4 : 2;
    buf_t h = {0}, d = {0};
    buf_printf(&h, "{");
    int first = 1;
    if (o->meta) { buf_printf(&h, "\"__metadata__\":%s", o->meta); first = 0; }
    int64_t k = 0;
    int32_t n = retnet_model_tensor_count(m);
    for (int32_t i = 0; i < n; i++) {
        retnet_tensor t;
        retnet_model_tensor(m, i, &t);
        if (o->drop && !strcmp(o->drop, t.name)) continue;
        char shape[64];
        if (o->reshape && !strcmp(o->reshape, t.name))
            snprintf(shape, sizeof shape, t.ndim == 2 ? "[%lld,%lld]" : "[1,%lld]",
                     (long long)(t.ndim == 2 ? t.shape[1] : t.shape[0]), (long long)t.shape[0]);
        else if (t.ndim == 2)
            snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)t.shape[0],
                     (long long)t.shape[1]);
        else
            snprintf(shape, sizeof shape, "[%lld]", (long long)t.shape[0]);
        buf_printf(&h, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%lld,%lld]}",
                   first ? "" : ",", t.name, o->dtype, shape, (long long)d.n,
                   (long long)(d.n + t.numel * esize));
        first = 0;
        for (int64_t j = 0; j < t.numel; j++, k++) {
            unsigned char b[4];
            if (esize == 4) {
                uint32_t u;
                memcpy(&u, &t.data[j], 4);
                for (int q = 0; q < 4; q++) b[q] = (unsigned char)(u >> (8 * q));
            } else {
                uint16_t u = o->pattern[k % o->n_pattern];
                b[0] = (unsigned char)u;
                b[1] = (unsigned char)(u >> 8);
            }
            buf_add(&d, b, esize);
        }
    }
    if (o->extra) {
        float z[2] = {1, 2};
        buf_printf(&h, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[%lld,%lld]}",
                   o->extra, (long long)d.n, (long long)d.n + 8);
        buf_add(&d, z, 8);
    }
    if (o->ts_buffers) {
        const retnet_config *c = retnet_model_config(m);
        int64_t dk = c->d_key / c->n_head, hh = c->n_head;
        buf_printf(&h, ",\"retnet_rel_pos.angle\":{\"dtype\":\"F32\",\"shape\":[%lld],"
                   "\"data_offsets\":[%lld,%lld]}", (long long)dk, (long long)d.n,
                   (long long)(d.n + 4 * dk));
        for (int64_t j = 0; j < dk; j++) { float v = 0.5f; buf_add(&d, &v, 4); }
        buf_printf(&h, ",\"retnet_rel_pos.decay\":{\"dtype\":\"F32\",\"shape\":[%lld],"
                   "\"data_offsets\":[%lld,%lld]}", (long long)hh, (long long)d.n,
                   (long long)(d.n + 4 * hh));
        for (int64_t j = 0; j < hh; j++) { float v = -3.0f; buf_add(&d, &v, 4); }
    }
    buf_printf(&h, "}");
    write_st(path, (const char *)h.b, d.b, d.n);
    free(h.b);
    free(d.b);
}

/* Our metadata for a config, as the text of a JSON object. */
static void our_meta(const retnet_config *c, const char *version, char *out, size_t cap) {
    char cj[1024], esc[2048];
    retnet_config_to_json(c, cj, sizeof cj);
    size_t j = 0;
    for (size_t i = 0; cj[i] && j + 2 < sizeof esc; i++) {
        if (cj[i] == '"' || cj[i] == '\\') esc[j++] = '\\';
        esc[j++] = cj[i];
    }
    esc[j] = 0;
    snprintf(out, cap, "{\"format\":\"retnet\",\"format_version\":\"%s\",\"config\":\"%s\"}",
             version, esc);
}

/* ---------------------------------------------------------------- round trips */

static void test_round_trip(void) {
    retnet_config c = tiny();
    retnet_model *m = make_model(&c, 7);
    const char *p = tmp_path("rt.safetensors");
    retnet_status s = retnet_model_save(m, p);
    CHECK(s == RETNET_OK, "save: %s", retnet_errmsg());
    retnet_model *m2 = NULL;
    s = retnet_model_load(p, NULL, &m2);
    CHECK(s == RETNET_OK && m2, "load: %s", retnet_errmsg());
    if (m2) {
        CHECK(same_config(retnet_model_config(m), retnet_model_config(m2)), "config differs");
        int64_t n = retnet_config_param_count(&c);
        CHECK(!memcmp(retnet_model_params(m), retnet_model_params(m2), sizeof(float) * (size_t)n),
              "parameters differ after a round trip");
        CHECK(retnet_model_tensor_count(m) == retnet_model_tensor_count(m2), "tensor count");
        retnet_model_free(m2);
    }
    /* The same file with the same config given: agrees. */
    s = retnet_model_load(p, &c, &m2);
    CHECK(s == RETNET_OK, "load with matching config: %s", retnet_errmsg());
    retnet_model_free(m2);
    /* Saved data starts 8-byte aligned, and the metadata is ours. */
    int64_t len;
    unsigned char *b = read_file(p, &len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
    CHECK(hl % 8 == 0, "header length %llu not a multiple of 8", (unsigned long long)hl);
    st_file *f = NULL;
    CHECK(st_open(p, &f) == RETNET_OK, "st_open: %s", retnet_errmsg());
    if (f) {
        CHECK(st_meta_get(f, "format") && !strcmp(st_meta_get(f, "format"), "retnet"), "format");
        CHECK(st_meta_get(f, "format_version") &&
              !strcmp(st_meta_get(f, "format_version"), "1"), "format_version");
        CHECK(st_meta_get(f, "config") != NULL, "config metadata");
        CHECK(f->n_tensors == retnet_model_tensor_count(m), "tensor count in file");
        for (int32_t i = 0; i < f->n_tensors; i++)
            CHECK(f->tensors[i].dtype == ST_F32, "dtype F32");
        st_close(f);
    }
    free(b);
    retnet_model_free(m);
    CHECK(count_temp_files() == 0, "temp files left");
}

/* Both architectures through the one loader: a Transformer checkpoint (and an ablated
 * RetNet's) round-trips with its arch and switches, gives the same logits after loading,
 * and a file of one architecture is refused with the other's config, naming the tensor. */
static void test_both_architectures(void) {
    retnet_config r = tiny(), t, a = tiny();
    CHECK(retnet_config_transformer(&r, 96, &t) == RETNET_OK, "transformer config: %s",
          retnet_errmsg());
    a.gate = 0, a.head_norm = RETNET_HEADNORM_NONE, a.decay = RETNET_DECAY_SINGLE;
    const retnet_config *cs[2] = {&t, &a};
    for (int i = 0; i < 2; i++) {
        retnet_config c = *cs[i];
        retnet_model *m = make_model(&c, 11 + i), *m2 = NULL;
        const char *p = tmp_path(i ? "ablated.safetensors" : "transformer.safetensors");
        CHECK(retnet_model_save(m, p) == RETNET_OK, "save: %s", retnet_errmsg());
        CHECK(retnet_model_load(p, NULL, &m2) == RETNET_OK && m2, "load: %s", retnet_errmsg());
        if (!m2) { retnet_model_free(m); continue; }
        const retnet_config *c2 = retnet_model_config(m2);
        CHECK(same_config(&c, c2), "config differs after a round trip");
        CHECK(c2->arch == c.arch && c2->gate == c.gate && c2->head_norm == c.head_norm &&
              c2->decay == c.decay && c2->context == c.context, "arch or switches lost");
        int32_t tok[5] = {1, 2, 3, 4, 5};
        float l1[5 * 260], l2[5 * 260];
        CHECK(retnet_forward(m, tok, 1, 5, RETNET_FORM_PARALLEL, 0, NULL, l1) == RETNET_OK &&
              retnet_forward(m2, tok, 1, 5, RETNET_FORM_PARALLEL, 0, NULL, l2) == RETNET_OK,
              "forward: %s", retnet_errmsg());
        CHECK(!memcmp(l1, l2, sizeof l1), "logits differ after a round trip");
        retnet_model_free(m2);
        m2 = NULL;
        /* the other architecture's config: refused, the message names a tensor */
        retnet_config other = i ? t : r;
        retnet_status st = retnet_model_load(p, &other, &m2);
        CHECK(st != RETNET_OK && !m2, "a %s file loaded with another config",
              i ? "ablated" : "transformer");
        CHECK(strstr(retnet_errmsg(), "config") || strstr(retnet_errmsg(), "tensor"),
              "unclear message: %s", retnet_errmsg());
        retnet_model_free(m2);
        retnet_model_free(m);
    }
    CHECK(count_temp_files() == 0, "temp files left");
}

/* retnet_init_file must give the bytes of init + save, for several variants. */
static void test_init_file_identical(void) {
    const char *variants[] = {
        "{}", /* tiny itself */
        "{\"norm\": \"rmsnorm\", \"head_norm\": \"rmsnorm\", \"head_norm_affine\": false, "
        "\"ffn\": \"glu\", \"tie_embeddings\": false, \"d_value\": 96, \"n_head\": 4}",
        "{\"norm\": \"rmsnorm\", \"head_norm\": \"rmsnorm\", \"head_norm_affine\": true, "
        "\"ffn\": \"glu\", \"ffn_act\": \"swish\", \"rope\": \"half\", \"normalize\": false}",
    };
    for (int v = 0; v < 3; v++) {
        retnet_config base = tiny(), c;
        retnet_status s = retnet_config_from_json(variants[v], strlen(variants[v]), &base, &c);
        CHECK(s == RETNET_OK, "variant %d: %s", v, retnet_errmsg());
        if (s) continue;
        retnet_model *m = make_model(&c, 1234);
        const char *a = tmp_path("init_a.safetensors"), *b = tmp_path("init_b.safetensors");
        CHECK(retnet_model_save(m, a) == RETNET_OK, "save: %s", retnet_errmsg());
        CHECK(retnet_init_file(&c, 1234, b) == RETNET_OK, "init_file: %s", retnet_errmsg());
        int64_t la = 0, lb = 0;
        unsigned char *x = read_file(a, &la), *y = read_file(b, &lb);
        CHECK(x && y && la == lb && !memcmp(x, y, (size_t)la),
              "variant %d: init_file differs from init + save (%lld vs %lld bytes)", v,
              (long long)la, (long long)lb);
        free(x);
        free(y);
        retnet_model_free(m);
    }
    retnet_config bad = tiny();
    bad.n_head = 3; /* d_key 64 not divisible */
    CHECK(retnet_init_file(&bad, 1, tmp_path("bad_init.safetensors")) != RETNET_OK,
          "init_file accepted an invalid config");
    CHECK(count_temp_files() == 0, "temp files left");
}

/* ---------------------------------------------------------------- dtypes */

/* A small model config for hand-made files. */
static retnet_config small_cfg(void) {
    const char *j = "{\"vocab\": 8, \"d_model\": 4, \"n_layer\": 1, \"n_head\": 1}";
    retnet_config c;
    if (retnet_config_from_json(j, strlen(j), NULL, &c) != RETNET_OK) {
        fprintf(stderr, "small_cfg: %s\n", retnet_errmsg());
        exit(2);
    }
    return c;
}

typedef struct { uint16_t bits; float want; } bits_case;

/* Checks that every parameter equals cases[k % n].want, bit for bit (NaN: any NaN). */
static void check_pattern(const retnet_model *m, const bits_case *cases, int n, const char *what) {
    const float *p = retnet_model_params((retnet_model *)m);
    int64_t total = retnet_config_param_count(retnet_model_config(m)), bad = 0;
    for (int64_t k = 0; k < total; k++) {
        float want = cases[k % n].want;
        int ok = isnan(want) ? isnan(p[k]) : !memcmp(&p[k], &want, 4);
        if (!ok && bad++ < 3)
            CHECK(0, "%s: element %lld (bits 0x%04x): got %.9g, want %.9g", what, (long long)k,
                  cases[k % n].bits, p[k], want);
    }
}

static void test_f16_bf16_files(void) {
    static const bits_case F16[] = {
        {0x3c00, 1.0f}, {0xc000, -2.0f}, {0x3555, 0.333251953125f}, {0x7bff, 65504.0f},
        {0x0001, 5.9604644775390625e-08f},  /* smallest subnormal, 2^-24 */
        {0x03ff, 6.0975551605224609375e-05f}, /* largest subnormal */
        {0x0400, 6.103515625e-05f},          /* smallest normal, 2^-14 */
        {0x8001, -5.9604644775390625e-08f}, {0x8000, -0.0f}, {0x0000, 0.0f},
        {0x7c00, INFINITY}, {0xfc00, -INFINITY}, {0x7e00, NAN}, {0x7c01, NAN},
        {0x5640, 100.0f}, {0x2e66, 0.0999755859375f},
    };
    static const bits_case BF16[] = {
        {0x3f80, 1.0f}, {0xc040, -3.0f}, {0x3eaa, 0.33203125f}, {0x7f7f, 3.3895313892515355e38f},
        {0x0001, 9.18354961579912115600575419705e-41f}, /* smallest subnormal, 2^-133 */
        {0x0080, 1.17549435082228750797e-38f},         /* FLT_MIN */
        {0x8000, -0.0f}, {0x7f80, INFINITY}, {0xff80, -INFINITY}, {0x7fc0, NAN},
        {0x42c8, 100.0f},
    };
    retnet_config c = small_cfg();
    retnet_model *m = make_model(&c, 3);
    char meta[4096];
    our_meta(&c, "1", meta, sizeof meta);
    const struct { const char *dtype; const bits_case *cases; int n; } kinds[] = {
        {"F16", F16, (int)(sizeof F16 / sizeof F16[0])},
        {"BF16", BF16, (int)(sizeof BF16 / sizeof BF16[0])},
    };
    for (int q = 0; q < 2; q++) {
        uint16_t pat[32];
        for (int i = 0; i < kinds[q].n; i++) pat[i] = kinds[q].cases[i].bits;
        craft o = {.dtype = kinds[q].dtype, .meta = meta, .pattern = pat, .n_pattern = kinds[q].n};
        const char *p = tmp_path("half.safetensors");
        craft_file(p, m, &o);
        retnet_model *m2 = NULL;
        retnet_status s = retnet_model_load(p, NULL, &m2);
        CHECK(s == RETNET_OK, "%s load: %s", kinds[q].dtype, retnet_errmsg());
        if (m2) check_pattern(m2, kinds[q].cases, kinds[q].n, kinds[q].dtype);
        retnet_model_free(m2);
    }
    /* Every F16 bit pattern against the formula value (independent of the table above). */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        int e = (h >> 10) & 31, mant = h & 1023;
        double v = e == 0 ? ldexp(mant, -24) : e == 31 ? (mant ? NAN : INFINITY)
                                                       : ldexp(1024 + mant, e - 25);
        if (h & 0x8000) v = -v;
        float got = st_f16_to_f32((uint16_t)h);
        int ok = isnan(v) ? isnan(got) : (got == (float)v && !signbit(got) == !signbit(v));
        if (!ok && bad++ < 3) CHECK(0, "f16 0x%04x: got %.9g want %.9g", h, got, v);
    }
    retnet_model_free(m);
}

static void test_bf16_rounding_and_writer(void) {
    const struct { float x; uint16_t want; } cases[] = {
        {1.0f, 0x3f80},
        {1.0f + 0x1p-8f, 0x3f80},                 /* tie: to even (down) */
        {1.0f + 3 * 0x1p-8f, 0x3f82},             /* tie: to even (up) */
        {1.0f + 0x1p-8f + 0x1p-20f, 0x3f81},      /* above the tie: up */
        {-1.0f - 0x1p-8f - 0x1p-20f, 0xbf81},
        {3.4028234663852886e38f, 0x7f80},         /* FLT_MAX rounds up to inf */
        {INFINITY, 0x7f80}, {-0.0f, 0x8000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(st_f32_to_bf16(cases[i].x) == cases[i].want, "bf16(%.9g) = 0x%04x, want 0x%04x",
              cases[i].x, st_f32_to_bf16(cases[i].x), cases[i].want);
    CHECK(isnan(st_bf16_to_f32(st_f32_to_bf16(NAN))), "NaN must stay NaN");
    uint32_t snan_bits = 0x7f800001; /* a NaN whose payload is only in the low bits */
    float snan;
    memcpy(&snan, &snan_bits, 4);
    CHECK(isnan(st_bf16_to_f32(st_f32_to_bf16(snan))), "low-payload NaN must stay NaN");

    /* The streaming writer with a BF16 tensor, a scalar and an empty tensor, in pieces. */
    const char *p = tmp_path("w.safetensors");
    st_spec specs[3] = {
        {.name = "a", .dtype = ST_BF16, .ndim = 2, .shape = {2, 3}},
        {.name = "empty", .dtype = ST_F32, .ndim = 1, .shape = {0}},
        {.name = "s", .dtype = ST_F32, .ndim = 0},
    };
    st_meta meta[1] = {{"k\"ey", "va\\lue\n"}};
    st_writer *w = NULL;
    CHECK(st_writer_open(p, meta, 1, specs, 3, &w) == RETNET_OK, "open: %s", retnet_errmsg());
    float a[6] = {1.0f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -2.5f, 0.0f, 100.0f};
    float sc = 42.0f;
    CHECK(st_writer_put(w, a, 4) == RETNET_OK, "put 1");
    CHECK(st_writer_put(w, a + 4, 2) == RETNET_OK, "put 2");
    CHECK(st_writer_put(w, &sc, 1) == RETNET_OK, "put 3");
    CHECK(st_writer_finish(w) == RETNET_OK, "finish: %s", retnet_errmsg());
    st_file *f = NULL;
    CHECK(st_open(p, &f) == RETNET_OK, "st_open: %s", retnet_errmsg());
    if (f) {
        CHECK(st_meta_get(f, "k\"ey") && !strcmp(st_meta_get(f, "k\"ey"), "va\\lue\n"),
              "metadata escapes");
        const st_tensor *t = st_find(f, "a");
        float got[6];
        const float want[6] = {1.0f, 1.0f, 1.0f + 4 * 0x1p-8f, -2.5f, 0.0f, 100.0f};
        CHECK(t && t->dtype == ST_BF16 && t->ndim == 2 && t->shape[1] == 3, "tensor a");
        if (t) {
            st_read_f32(f, t, got);
            CHECK(!memcmp(got, want, sizeof want), "bf16 values: %g %g %g", got[0], got[1],
                  got[2]);
        }
        t = st_find(f, "s");
        CHECK(t && t->ndim == 0 && t->numel == 1, "scalar");
        if (t) { st_read_f32(f, t, got); CHECK(got[0] == 42.0f, "scalar value"); }
        t = st_find(f, "empty");
        CHECK(t && t->numel == 0 && t->begin == t->end, "empty tensor");
        CHECK(st_find(f, "nope") == NULL, "st_find of an absent name");
        st_close(f);
    }
    /* Too many values, too few values: errors, temp file removed, target untouched. */
    int64_t len0;
    unsigned char *before = read_file(p, &len0);
    CHECK(st_writer_open(p, NULL, 0, specs, 3, &w) == RETNET_OK, "open 2");
    CHECK(st_writer_put(w, a, 7) != RETNET_OK, "7 values into a tensor of 6 accepted");
    CHECK(st_writer_finish(w) != RETNET_OK, "finish after a failed put succeeded");
    CHECK(st_writer_open(p, NULL, 0, specs, 3, &w) == RETNET_OK, "open 3");
    CHECK(st_writer_put(w, a, 6) == RETNET_OK, "put 6");
    CHECK(st_writer_finish(w) != RETNET_OK, "finish with a tensor unwritten succeeded");
    CHECK(strstr(retnet_errmsg(), "\"s\"") != NULL, "message names the tensor: %s",
          retnet_errmsg());
    int64_t len1;
    unsigned char *after = read_file(p, &len1);
    CHECK(before && after && len0 == len1 && !memcmp(before, after, (size_t)len0),
          "a failed write changed the file");
    free(before);
    free(after);
    /* F64 reads rounded to float; I64 is recognised but not loadable; a file that shrinks
     * after st_open gives an error on read, not a crash. */
    {
        double dv[3] = {1.0 / 3.0, -1e300, 5e-324};
        int64_t iv[2] = {1, 2};
        unsigned char raw[40];
        memcpy(raw, dv, 24); /* the test host is little-endian, as the format */
        memcpy(raw + 24, iv, 16);
        const char *q = tmp_path("f64.safetensors");
        write_st(q, "{\"d\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[0,24]},"
                    "\"i\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[24,40]}}", raw, 40);
        st_file *g = NULL;
        CHECK(st_open(q, &g) == RETNET_OK, "f64 file: %s", retnet_errmsg());
        if (g) {
            float got[3];
            CHECK(st_read_f32(g, st_find(g, "d"), got) == RETNET_OK, "read f64");
            CHECK(got[0] == (float)(1.0 / 3.0) && got[1] == -INFINITY && got[2] == 0.0f,
                  "f64 values %.9g %g %g", got[0], got[1], got[2]);
            CHECK(st_read_f32(g, st_find(g, "i"), got) == RETNET_EUNSUPPORTED &&
                  strstr(retnet_errmsg(), "\"i\": dtype I64"), "I64: %s", retnet_errmsg());
            CHECK(truncate(q, 30) == 0, "truncate");
            CHECK(st_read_f32(g, st_find(g, "d"), got) == RETNET_EIO &&
                  strstr(retnet_errmsg(), "unexpected end of file"), "shrunk file: %s",
                  retnet_errmsg());
            st_close(g);
        }
    }
    st_spec bad = {.name = "x", .dtype = ST_I64, .ndim = 1, .shape = {2}};
    CHECK(st_writer_open(p, NULL, 0, &bad, 1, &w) != RETNET_OK, "writer accepted I64");
    CHECK(count_temp_files() == 0, "temp files left");
}

/* ---------------------------------------------------------------- hostile files */

static void test_truncated(void) {
    retnet_config c = tiny();
    retnet_model *m = make_model(&c, 5);
    const char *good = tmp_path("good.safetensors"), *p = tmp_path("trunc.safetensors");
    retnet_model_save(m, good);
    retnet_model_free(m);
    int64_t len;
    unsigned char *b = read_file(good, &len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
    int64_t data_start = 8 + (int64_t)hl;
    CHECK(data_start > 200 && data_start < len, "unexpected layout");
    /* Every cut inside the length and the header, then cuts in the data. */
    int failures = 0;
    for (int64_t cut = 0; cut < data_start && failures < 5; cut++) {
        write_file(p, b, cut);
        char what[64];
        snprintf(what, sizeof what, "cut at %lld", (long long)cut);
        int before = test_cur_failed;
        expect_fail(what, p, RETNET_EFORMAT, "truncated");
        failures += test_cur_failed > before;
    }
    int64_t cuts[] = {data_start, data_start + 1, data_start + 4, data_start + (len - data_start) / 2,
                      len - 4, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_file(p, b, cuts[i]);
        char what[64];
        snprintf(what, sizeof what, "cut at %lld (data)", (long long)cuts[i]);
        expect_fail(what, p, RETNET_EFORMAT, "beyond the end");
    }
    /* Bytes appended to a good file: refused, as the reference reader does. */
    unsigned char *longer = malloc((size_t)len + 3);
    memcpy(longer, b, (size_t)len);
    memcpy(longer + len, "abc", 3);
    write_file(p, longer, len + 3);
    expect_fail("3 bytes appended", p, RETNET_EFORMAT, "3 bytes follow the last tensor's data");
    free(longer);
    free(b);
    expect_fail("no such file", tmp_path("does_not_exist"), RETNET_EIO, "cannot open");
    expect_fail("a directory", dir, RETNET_EIO, "not a regular file");
}

static void test_bad_headers(void) {
    const char *p = tmp_path("bad.safetensors");
    unsigned char data[64] = {0};
    write_file(p, "", 0);
    expect_fail("empty file", p, RETNET_EFORMAT, "truncated");
    write_file(p, "\x02\0\0\0", 4);
    expect_fail("4-byte file", p, RETNET_EFORMAT, "truncated");

    write_st_len(p, (uint64_t)1 << 63, "{}", NULL, 0);
    expect_fail("header length 2^63", p, RETNET_EFORMAT, "header length");
    write_st_len(p, (uint64_t)1 << 40, "{}", NULL, 0);
    expect_fail("header length 2^40", p, RETNET_EFORMAT, "header length");
    write_st_len(p, UINT64_MAX, "{}", NULL, 0);
    expect_fail("header length 2^64-1", p, RETNET_EFORMAT, "header length");
    write_st_len(p, 100, "{}", NULL, 0);
    expect_fail("header length past the end", p, RETNET_EFORMAT, "truncated");
    write_st_len(p, 0, "", NULL, 0);
    expect_fail("header length 0", p, RETNET_EFORMAT, "not valid JSON");

    struct { const char *what, *header; retnet_status st; const char *phrase; int64_t data; } cases[] = {
        {"not JSON", "{not json}", RETNET_EFORMAT, "not valid JSON", 0},
        {"truncated JSON", "{\"a\": {\"dtype\"", RETNET_EFORMAT, "not valid JSON", 0},
        {"trailing comma", "{\"a\": 1,}", RETNET_EFORMAT, "not valid JSON", 0},
        {"trailing bytes", "{} x", RETNET_EFORMAT, "not valid JSON", 0},
        {"NUL in header", "{\"a\\u0000\": 1}", RETNET_EFORMAT, "not valid JSON", 0},
        {"deep nesting", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
         RETNET_EFORMAT, "nesting", 0},
        {"not an object", "[1, 2]", RETNET_EFORMAT, "must be a JSON object", 0},
        {"a string", "\"x\"", RETNET_EFORMAT, "must be a JSON object", 0},
        {"entry not an object", "{\"w\": 5}", RETNET_EFORMAT, "\"w\"", 0},
        {"missing dtype", "{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", RETNET_EFORMAT,
         "missing \"dtype\"", 4},
        {"missing shape", "{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}",
         RETNET_EFORMAT, "missing \"shape\"", 4},
        {"missing offsets", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", RETNET_EFORMAT,
         "missing \"data_offsets\"", 4},
        {"unknown dtype", "{\"w\": {\"dtype\": \"Q4\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
         RETNET_EUNSUPPORTED, "tensor \"w\": unknown dtype \"Q4\"", 4},
        {"dtype not a string", "{\"w\": {\"dtype\": 4, \"shape\": [1], \"data_offsets\": [0, 4]}}",
         RETNET_EFORMAT, "dtype must be a string", 4},
        {"offsets out of range", "{\"w\": {\"dtype\": \"F32\", \"shape\": [250], "
         "\"data_offsets\": [0, 1000]}}", RETNET_EFORMAT, "beyond the end", 16},
        {"offsets past data by one", "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], "
         "\"data_offsets\": [4, 20]}}", RETNET_EFORMAT, "beyond the end", 16},
        {"overlapping", "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
         "\"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}", RETNET_EFORMAT,
         "overlap", 24},
        {"same range twice", "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
         "\"b\": {\"dtype\": \"I32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", RETNET_EFORMAT,
         "overlap", 8},
        {"offsets 2^64-1", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
         "\"data_offsets\": [18446744073709551611, 18446744073709551615]}}", RETNET_EFORMAT,
         "data_offsets must be two integers", 4},
        {"offsets 2^63-1", "{\"w\": {\"dtype\": \"U8\", \"shape\": [1], "
         "\"data_offsets\": [9223372036854775806, 9223372036854775807]}}", RETNET_EFORMAT,
         "beyond the end", 4},
        {"negative offset", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
         "\"data_offsets\": [-4, 0]}}", RETNET_EFORMAT, "data_offsets must be two integers", 4},
        {"offsets not a pair", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
         "\"data_offsets\": [0, 4, 8]}}", RETNET_EFORMAT, "data_offsets must be two integers", 8},
        {"float offsets", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
         "\"data_offsets\": [0, 4.0]}}", RETNET_EFORMAT, "data_offsets must be two integers", 4},
        {"end before begin", "{\"w\": {\"dtype\": \"F32\", \"shape\": [0], "
         "\"data_offsets\": [8, 4]}}", RETNET_EFORMAT, "end before they begin", 8},
        {"negative shape", "{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], "
         "\"data_offsets\": [0, 4]}}", RETNET_EFORMAT, "negative", 4},
        {"huge shape (not int64)", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1e30], "
         "\"data_offsets\": [0, 4]}}", RETNET_EFORMAT, "shape[0] must be a non-negative integer", 4},
        {"shape 2^64", "{\"w\": {\"dtype\": \"F32\", \"shape\": [18446744073709551616], "
         "\"data_offsets\": [0, 4]}}", RETNET_EFORMAT, "shape[0]", 4},
        {"shape product overflow", "{\"w\": {\"dtype\": \"U8\", \"shape\": [4294967296, "
         "4294967296], \"data_offsets\": [0, 4]}}", RETNET_EFORMAT, "overflows", 4},
        {"byte size overflow", "{\"w\": {\"dtype\": \"F64\", \"shape\": [4611686018427387904], "
         "\"data_offsets\": [0, 4]}}", RETNET_EFORMAT, "overflows", 4},
        {"shape not an array", "{\"w\": {\"dtype\": \"F32\", \"shape\": 4, "
         "\"data_offsets\": [0, 16]}}", RETNET_EFORMAT, "shape must be an array", 16},
        {"too many dims", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], "
         "\"data_offsets\": [0, 4]}}", RETNET_EUNSUPPORTED, "dimensions", 4},
        {"size mismatch", "{\"w\": {\"dtype\": \"F32\", \"shape\": [3], "
         "\"data_offsets\": [0, 16]}}", RETNET_EFORMAT, "size mismatch", 16},
        {"size mismatch bf16", "{\"w\": {\"dtype\": \"BF16\", \"shape\": [2, 2], "
         "\"data_offsets\": [0, 16]}}", RETNET_EFORMAT, "need 8", 16},
        {"duplicate name", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
         "\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", RETNET_EFORMAT,
         "duplicate key \"w\"", 8},
        /* The reference reader requires packed data; so do we (a gap or a tail could hide
         * anything, and PyTorch would refuse the file). */
        {"gap between tensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
         "\"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}", RETNET_EFORMAT,
         "\"b\" begins at byte 8 of the data, but the tensors before it end at 4", 12},
        {"data not from byte 0", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
         "\"data_offsets\": [4, 8]}}", RETNET_EFORMAT, "begins at byte 4", 8},
        {"empty tensor inside another", "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], "
         "\"data_offsets\": [0, 8]}, \"e\": {\"dtype\": \"F32\", \"shape\": [0], "
         "\"data_offsets\": [4, 4]}}", RETNET_EFORMAT, "\"e\" begins at byte 4", 8},
        {"bytes after the data", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
         "\"data_offsets\": [0, 4]}}", RETNET_EFORMAT, "12 bytes follow the last tensor's data", 16},
        {"data but no tensors", "{}", RETNET_EFORMAT, "4 bytes follow", 4},
        {"metadata not an object", "{\"__metadata__\": [1]}", RETNET_EFORMAT, "__metadata__", 0},
        {"metadata value not a string", "{\"__metadata__\": {\"format\": 1}}", RETNET_EFORMAT,
         "__metadata__ \"format\" must be a string", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_st(p, cases[i].header, data, cases[i].data);
        expect_fail(cases[i].what, p, cases[i].st, cases[i].phrase);
    }
    /* Every message names the file. */
    write_st(p, "[]", NULL, 0);
    expect_fail("file named", p, RETNET_EFORMAT, p);
}

/* Files whose tensors do not fit the config. */
static void test_bad_tensors(void) {
    retnet_config c = small_cfg();
    retnet_model *m = make_model(&c, 11);
    char meta[4096];
    our_meta(&c, "1", meta, sizeof meta);
    const char *p = tmp_path("tens.safetensors");

    craft o = {.dtype = "F32", .meta = meta};
    craft_file(p, m, &o);
    retnet_model *m2 = NULL;
    CHECK(retnet_model_load(p, NULL, &m2) == RETNET_OK, "hand-made F32 file: %s", retnet_errmsg());
    if (m2)
        CHECK(!memcmp(retnet_model_params(m), retnet_model_params(m2),
                      sizeof(float) * (size_t)retnet_config_param_count(&c)), "values differ");
    retnet_model_free(m2);

    o.drop = "layers.0.retention.k_proj.weight";
    craft_file(p, m, &o);
    expect_fail("missing tensor", p, RETNET_EFORMAT,
                "missing tensor \"layers.0.retention.k_proj.weight\"");
    o.drop = NULL;
    o.extra = "layers.0.retention.bonus";
    craft_file(p, m, &o);
    expect_fail("extra tensor", p, RETNET_EFORMAT, "extra tensor \"layers.0.retention.bonus\"");
    o.extra = NULL;
    o.reshape = "layers.0.ffn.fc1.weight"; /* (8, 4) written as (4, 8) */
    craft_file(p, m, &o);
    expect_fail("wrong shape", p, RETNET_EFORMAT,
                "\"layers.0.ffn.fc1.weight\": wrong shape: expected [8, 4], got [4, 8]");
    o.reshape = "layer_norm.weight"; /* (4) written as (1, 4) */
    craft_file(p, m, &o);
    expect_fail("wrong rank", p, RETNET_EFORMAT, "expected [4], got [1, 4]");
    o.reshape = NULL;

    /* An unloadable dtype for a parameter: a one-tensor file with I32 in place of F32. */
    {
        retnet_tensor t;
        buf_t h = {0}, d = {0};
        buf_printf(&h, "{\"__metadata__\":%s", meta);
        for (int32_t i = 0; i < retnet_model_tensor_count(m); i++) {
            retnet_model_tensor(m, i, &t);
            const char *dt = i == 2 ? "I32" : "F32";
            if (t.ndim == 2)
                buf_printf(&h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld,%lld],", t.name, dt,
                           (long long)t.shape[0], (long long)t.shape[1]);
            else
                buf_printf(&h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld],", t.name, dt,
                           (long long)t.shape[0]);
            buf_printf(&h, "\"data_offsets\":[%lld,%lld]}", (long long)d.n,
                       (long long)(d.n + 4 * t.numel));
            buf_add(&d, t.data, 4 * t.numel);
        }
        buf_printf(&h, "}");
        write_st(p, (const char *)h.b, d.b, d.n);
        retnet_model_tensor(m, 2, &t);
        char phrase[256];
        snprintf(phrase, sizeof phrase, "\"%s\": dtype I32 cannot be loaded", t.name);
        expect_fail("I32 parameter", p, RETNET_EUNSUPPORTED, phrase);
        free(h.b);
        free(d.b);
    }
    retnet_model_free(m);
}

/* Metadata and config problems. */
static void test_bad_configs(void) {
    retnet_config c = small_cfg();
    retnet_model *m = make_model(&c, 2);
    const char *p = tmp_path("cfg.safetensors");
    char meta[4096];

    craft o = {.dtype = "F32", .meta = NULL};
    craft_file(p, m, &o);
    expect_fail("no metadata, no config", p, RETNET_EINVAL, "config is missing");
    retnet_model *m2 = NULL;
    CHECK(retnet_model_load(p, &c, &m2) == RETNET_OK, "no metadata + config: %s", retnet_errmsg());
    retnet_model_free(m2);

    o.meta = "{\"format\":\"pt\"}"; /* transformers' files: not ours, needs a config */
    craft_file(p, m, &o);
    expect_fail("format pt, no config", p, RETNET_EINVAL, "config is missing");
    CHECK(retnet_model_load(p, &c, &m2) == RETNET_OK, "format pt + config: %s", retnet_errmsg());
    retnet_model_free(m2);

    o.meta = "{\"format\":\"retnet\",\"format_version\":\"1\",\"config\":\"{\\\"d_model\\\": -5}\"}";
    craft_file(p, m, &o);
    expect_fail("metadata config invalid", p, RETNET_EFORMAT,
                "the config in __metadata__ is invalid");
    CHECK(strstr(retnet_errmsg(), "d_model") != NULL, "names d_model: %s", retnet_errmsg());
    o.meta = "{\"format\":\"retnet\",\"format_version\":\"1\",\"config\":\"{not json\"}";
    craft_file(p, m, &o);
    expect_fail("metadata config not JSON", p, RETNET_EFORMAT, "invalid JSON");
    o.meta = "{\"format\":\"retnet\",\"format_version\":\"1\"}";
    craft_file(p, m, &o);
    expect_fail("metadata without config", p, RETNET_EFORMAT, "no config");

    our_meta(&c, "2", meta, sizeof meta);
    o.meta = meta;
    craft_file(p, m, &o);
    expect_fail("format_version 2", p, RETNET_EUNSUPPORTED, "format_version \"2\"");
    o.meta = "{\"format\":\"retnet\"}";
    craft_file(p, m, &o);
    expect_fail("no format_version", p, RETNET_EFORMAT, "format_version");

    /* File config and argument disagree: the message names the field. */
    our_meta(&c, "1", meta, sizeof meta);
    o.meta = meta;
    craft_file(p, m, &o);
    retnet_config other = c;
    other.eps = 1e-5f;
    expect_fail_cfg("config disagrees (eps)", p, &other, RETNET_EFORMAT, "\"eps\"");
    other = c;
    other.rope = RETNET_ROPE_HALF;
    expect_fail_cfg("config disagrees (rope)", p, &other, RETNET_EFORMAT,
                    "\"rope\": \"paper\" in the file, \"half\" given");
    other = c;
    other.n_head = 3;
    expect_fail_cfg("invalid config argument", p, &other, RETNET_EINVAL, "given config is invalid");
    /* A config that fits a different tensor set than the file: names the missing tensor. */
    other = c;
    other.norm = RETNET_NORM_RMSNORM;
    o.meta = NULL;
    craft_file(p, m, &o);
    expect_fail_cfg("extra bias for rmsnorm", p, &other, RETNET_EFORMAT, "extra tensor");
    retnet_model_free(m);
}

/* A torchscale state dict saved as safetensors: no metadata, the two rel_pos buffers. */
static void test_torchscale_file(void) {
    const char *ts = "{\"decoder_embed_dim\": 16, \"decoder_value_embed_dim\": 24, "
                     "\"decoder_retention_heads\": 2, \"decoder_ffn_embed_dim\": 40, "
                     "\"decoder_layers\": 2, \"vocab_size\": 30, \"activation_fn\": \"gelu\", "
                     "\"dropout\": 0.0, \"layernorm_eps\": 1e-6, \"no_scale_embedding\": true, "
                     "\"share_decoder_input_output_embed\": false, \"recurrent_chunk_size\": 8}";
    retnet_config c;
    retnet_status s = retnet_config_from_json(ts, strlen(ts), NULL, &c);
    CHECK(s == RETNET_OK, "torchscale config: %s", retnet_errmsg());
    if (s) return;
    retnet_model *m = make_model(&c, 77);
    const char *p = tmp_path("ts.safetensors");
    craft o = {.dtype = "F32", .ts_buffers = 1};
    craft_file(p, m, &o);
    retnet_model *m2 = NULL;
    s = retnet_model_load(p, &c, &m2);
    CHECK(s == RETNET_OK, "torchscale file: %s", retnet_errmsg());
    if (m2) {
        CHECK(!memcmp(retnet_model_params(m), retnet_model_params(m2),
                      sizeof(float) * (size_t)retnet_config_param_count(&c)), "values differ");
        CHECK(retnet_model_tensor_count(m2) == 2 * 10 + 3, "tensor count %d",
              retnet_model_tensor_count(m2));
        retnet_tensor t;
        for (int32_t i = 0; i < retnet_model_tensor_count(m2); i++) {
            retnet_model_tensor(m2, i, &t);
            CHECK(!strstr(t.name, "bias") && !strstr(t.name, "group_norm"),
                  "torchscale variant has no %s", t.name);
        }
        retnet_model_free(m2);
    }
    expect_fail("torchscale file without config", p, RETNET_EINVAL, "config is missing");
    retnet_model_free(m);
}

/* Random byte flips in the header and length must never crash (ASan/UBSan catch the rest). */
static void test_random_corruption(void) {
    retnet_config c = small_cfg();
    retnet_model *m = make_model(&c, 9);
    const char *good = tmp_path("fuzz_good.safetensors"), *p = tmp_path("fuzz.safetensors");
    retnet_model_save(m, good);
    retnet_model_free(m);
    int64_t len;
    unsigned char *b = read_file(good, &len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
    uint64_t seed = 0x1234567;
    int loaded = 0, failed = 0, no_msg = 0;
    const unsigned char repl[] = "{}[]\",:0123456789-.eE \\u\xff\x80";
    for (int it = 0; it < 3000; it++) {
        unsigned char *x = malloc((size_t)len);
        memcpy(x, b, (size_t)len);
        int flips = 1 + (int)((test_rand(&seed) + 1) * 2);
        for (int k = 0; k < flips; k++) {
            int64_t pos = (int64_t)((test_rand(&seed) + 1) * 0.5 * (double)(8 + hl));
            if (pos >= 8 + (int64_t)hl) pos = 8 + (int64_t)hl - 1;
            x[pos] = (it & 1) ? repl[(int)((test_rand(&seed) + 1) * 0.5 * (sizeof repl - 1))]
                              : (unsigned char)(x[pos] ^ (1u << (it % 8)));
        }
        write_file(p, x, len);
        free(x);
        retnet_model *mm = NULL;
        retnet_status s = retnet_model_load(p, NULL, &mm);
        if (s == RETNET_OK) { loaded++; retnet_model_free(mm); }
        else { failed++; if (!retnet_errmsg()[0]) no_msg++; }
    }
    CHECK(no_msg == 0, "%d failures without a message", no_msg);
    fprintf(stderr, "     3000 corrupted headers: %d rejected, %d still loadable\n", failed, loaded);
    free(b);
}

/* ---------------------------------------------------------------- atomic writes */

static void test_atomic_save(void) {
    retnet_config c = tiny();
    retnet_model *m = make_model(&c, 21), *m2 = make_model(&c, 22);
    const char *p = tmp_path("atomic.safetensors");
    CHECK(retnet_model_save(m, p) == RETNET_OK, "save: %s", retnet_errmsg());
    int64_t len0;
    unsigned char *orig = read_file(p, &len0);

    /* 1. The disk "fills up" in the middle of the data: the write fails with EFBIG. */
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 16384;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    retnet_status s = retnet_model_save(m2, p);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    CHECK(s == RETNET_EIO, "save past the file size limit: %s (%s)", retnet_status_name(s),
          retnet_errmsg());
    CHECK(strstr(retnet_errmsg(), "write failed") != NULL, "message: %s", retnet_errmsg());
    int64_t len1;
    unsigned char *now = read_file(p, &len1);
    CHECK(now && len1 == len0 && !memcmp(now, orig, (size_t)len0), "the original was changed");
    free(now);
    CHECK(count_temp_files() == 0, "temp file left after a failed write");

    /* 2. The rename fails: the target is a directory. */
    const char *dpath = tmp_path("a_directory");
    mkdir(dpath, 0755);
    s = retnet_model_save(m, dpath);
    CHECK(s == RETNET_EIO, "save over a directory: %s", retnet_status_name(s));
    struct stat st;
    CHECK(stat(dpath, &st) == 0 && S_ISDIR(st.st_mode), "the directory is gone");
    CHECK(count_temp_files() == 0, "temp file left after a failed rename");
    rmdir(dpath);

    /* 3. No such directory. */
    s = retnet_model_save(m, tmp_path("no/such/dir/x.safetensors"));
    CHECK(s == RETNET_EIO && strstr(retnet_errmsg(), "cannot create"), "missing dir: %s",
          retnet_errmsg());
    s = retnet_init_file(&c, 1, tmp_path("no/such/dir/x.safetensors"));
    CHECK(s == RETNET_EIO, "init_file into a missing dir: %s", retnet_status_name(s));

    /* 4. An unwritable directory (only meaningful when not root). */
    if (geteuid() != 0) {
        const char *ro = tmp_path("ro");
        mkdir(ro, 0755);
        char target[600];
        snprintf(target, sizeof target, "%s/x.safetensors", ro);
        CHECK(retnet_model_save(m, target) == RETNET_OK, "save into ro before chmod");
        int64_t la;
        unsigned char *a = read_file(target, &la);
        chmod(ro, 0555);
        CHECK(retnet_model_save(m2, target) == RETNET_EIO, "save into a read-only directory");
        int64_t lb;
        unsigned char *bb = read_file(target, &lb);
        CHECK(a && bb && la == lb && !memcmp(a, bb, (size_t)la), "original changed (ro dir)");
        chmod(ro, 0755);
        free(a);
        free(bb);
        unlink(target);
        rmdir(ro);
    }

    /* 5. A successful save replaces the file. */
    CHECK(retnet_model_save(m2, p) == RETNET_OK, "save: %s", retnet_errmsg());
    retnet_model *m3 = NULL;
    CHECK(retnet_model_load(p, NULL, &m3) == RETNET_OK, "load: %s", retnet_errmsg());
    if (m3)
        CHECK(!memcmp(retnet_model_params(m2), retnet_model_params(m3),
                      sizeof(float) * (size_t)retnet_config_param_count(&c)), "not replaced");
    retnet_model_free(m3);
    CHECK(count_temp_files() == 0, "temp files left");
    free(orig);
    retnet_model_free(m);
    retnet_model_free(m2);
}

static void test_find_tensor(void) {
    retnet_config c = tiny();
    retnet_model *m = make_model(&c, 1);
    retnet_tensor t;
    for (int32_t i = 0; i < retnet_model_tensor_count(m); i++) {
        retnet_model_tensor(m, i, &t);
        CHECK(retnet_model_find_tensor(m, t.name) == i, "find %s", t.name);
    }
    CHECK(retnet_model_find_tensor(m, "layers.99.ffn.fc1.weight") == -1, "absent name");
    CHECK(retnet_model_find_tensor(m, "embed_tokens.weight") == 0, "embed first");
    retnet_model_free(m);
}

static void remove_dir(void) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[1024];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    rmdir(dir);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/retnet_test_ckpt.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    RUN(test_round_trip);
    RUN(test_both_architectures);
    RUN(test_init_file_identical);
    RUN(test_f16_bf16_files);
    RUN(test_bf16_rounding_and_writer);
    RUN(test_truncated);
    RUN(test_bad_headers);
    RUN(test_bad_tensors);
    RUN(test_bad_configs);
    RUN(test_torchscale_file);
    RUN(test_random_corruption);
    RUN(test_atomic_save);
    RUN(test_find_tensor);
    remove_dir();
    return TEST_SUMMARY();
}
