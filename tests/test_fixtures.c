/*
 * test_fixtures.c: the C library against the independent PyTorch reference.
 *
 * tests/pytorch/retnet_ref.py implements RetNet from RETNET.md alone (float64, parallel form,
 * self-checked against its own recurrent and chunkwise forms); tests/pytorch/make_fixtures.py
 * writes, per configuration, a checkpoint (tests/fixtures/<name>.safetensors, F32 or BF16), B
 * token sequences (<name>.tokens, one comma-separated line each) and the float64 logits rounded
 * once to float32 (<name>.logits, little-endian (B, T, vocab)). This test loads each
 * checkpoint through retnet_model_load and checks every form of retnet_forward against them:
 *   - parallel; chunkwise with chunk 0 (the config's), 1, 3, 16, T, T+5; recurrent;
 *   - split runs: a prefill of T1 tokens with one form into caller-owned retnet_states, then the
 *     rest with another form from those states (token by token for the recurrent form);
 *   - one sequence alone (B = 1) against its row of the batch;
 *   - the BF16 checkpoint's tensors are exactly the F32 checkpoint's rounded to bf16.
 * Run from the repository root (the fixtures are found at tests/fixtures/).
 *
 * Tolerance rule (one rule for every fixture, derived from the config, not tuned):
 *   the library computes in fp32 (unit roundoff eps = 2^-23 ~ 1.19e-7). Each dot product of
 *   length K carries a relative rounding error that grows like eps * sqrt(K) (a random walk),
 *   and the normalised residual stream passes errors on with gain ~1, so each of the 2L
 *   sublayers and the output projection adds one such term. With R the longest reduction
 *   (max of d_model, d_key, d_value, d_ffn, T):
 *       u        = eps * sqrt(R) * (2L + 1)       expected relative error of a logit
 *       tol_nmse = u^2                              (rms error <= u * rms logit)
 *       tol_abs  = 4 * u * max|logit|               (worst element: a few sigma, at the logits' scale)
 *   For the fixtures (R = 60..72, L = 2) u ~ 4.6e-6, tol_nmse ~ 2e-11; PyTorch itself in float32 on the
 *   same math lands at nmse 3e-14 .. 5e-13 (tests/pytorch/README.md), 40-500x inside.
 */
#include "retnet.h"
#include "test.h"

#include <stdint.h>

#define FIXTURE_DIR "tests/fixtures/"

static const char *const FIXTURES[] = {"paper", "torchscale", "fla", "fla_bf16", "linspace",
                                       "narrowkey"};
#define N_FIXTURES ((int)(sizeof(FIXTURES) / sizeof(FIXTURES[0])))

typedef struct {
    const char *name;
    retnet_model *m;
    const retnet_config *c;
    int32_t B, T, V;
    int32_t *tokens;   /* (B, T) */
    double *logits;    /* (B, T, V), the reference */
    double max_ref;    /* max |logit| */
    double tol_abs, tol_nmse;
} fixture;

/* Reads a whole file; NULL if it cannot. */
static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) { cap *= 2; buf = realloc(buf, cap + 1); }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Tokens: B lines of T comma-separated ids (every line the same length). */
static int parse_tokens(const char *text, int32_t **out, int32_t *B, int32_t *T) {
    int32_t cap = 256, n = 0, rows = 0, cols = -1, cur = 0;
    int32_t *t = malloc(sizeof(int32_t) * cap);
    const char *p = text;
    while (*p) {
        if (*p == '\n') {
            if (cur) {
                if (cols >= 0 && cur != cols) { free(t); return 0; }
                cols = cur; cur = 0; rows++;
            }
            p++;
            continue;
        }
        if (*p == ',' || *p == ' ' || *p == '\r') { p++; continue; }
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) { free(t); return 0; }
        if (n == cap) { cap *= 2; t = realloc(t, sizeof(int32_t) * cap); }
        t[n++] = (int32_t)v;
        cur++;
        p = end;
    }
    if (cur) {
        if (cols >= 0 && cur != cols) { free(t); return 0; }
        cols = cur; rows++;
    }
    *out = t; *B = rows; *T = cols;
    return rows > 0 && cols > 0;
}

static double tol_rule_u(const retnet_config *c, int32_t T) {
    int32_t r = c->d_model;
    if (c->d_key > r) r = c->d_key;
    if (c->d_value > r) r = c->d_value;
    if (c->d_ffn > r) r = c->d_ffn;
    if (T > r) r = T;
    return 0x1p-23 * sqrt((double)r) * (2.0 * c->n_layer + 1.0);
}

static int fixture_open(const char *name, fixture *fx) {
    memset(fx, 0, sizeof(*fx));
    fx->name = name;
    char path[512];
    snprintf(path, sizeof path, FIXTURE_DIR "%s.safetensors", name);
    retnet_status s = retnet_model_load(path, NULL, &fx->m);
    CHECK(s == RETNET_OK, "%s: load %s: %s (%s); run from the repository root", name, path,
          retnet_status_name(s), retnet_errmsg());
    if (s != RETNET_OK) return 0;
    fx->c = retnet_model_config(fx->m);
    fx->V = fx->c->vocab;

    size_t len;
    snprintf(path, sizeof path, FIXTURE_DIR "%s.tokens", name);
    char *text = read_all(path, &len);
    CHECK(text != NULL, "%s: cannot read %s", name, path);
    if (!text) return 0;
    int ok = parse_tokens(text, &fx->tokens, &fx->B, &fx->T);
    free(text);
    CHECK(ok, "%s: malformed %s", name, path);
    if (!ok) return 0;
    for (int64_t i = 0; i < (int64_t)fx->B * fx->T; i++)
        CHECK(fx->tokens[i] >= 0 && fx->tokens[i] < fx->V, "%s: token %d out of range",
              name, fx->tokens[i]);

    snprintf(path, sizeof path, FIXTURE_DIR "%s.logits", name);
    unsigned char *raw = (unsigned char *)read_all(path, &len);
    int64_t n = (int64_t)fx->B * fx->T * fx->V;
    CHECK(raw && (int64_t)len == 4 * n, "%s: %s has %zu bytes, want 4*B*T*vocab = %lld", name,
          path, raw ? len : 0, (long long)(4 * n));
    if (!raw || (int64_t)len != 4 * n) { free(raw); return 0; }
    fx->logits = malloc(sizeof(double) * n);
    for (int64_t i = 0; i < n; i++) {   /* little-endian float32, whatever the host */
        uint32_t u = (uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 |
                     (uint32_t)raw[4 * i + 2] << 16 | (uint32_t)raw[4 * i + 3] << 24;
        float f;
        memcpy(&f, &u, 4);
        fx->logits[i] = f;
        if (fabs(fx->logits[i]) > fx->max_ref) fx->max_ref = fabs(fx->logits[i]);
    }
    free(raw);
    double u = tol_rule_u(fx->c, fx->T);
    fx->tol_nmse = u * u;
    fx->tol_abs = 4.0 * u * fx->max_ref;
    return 1;
}

static void fixture_close(fixture *fx) {
    if (fx->m) retnet_model_free(fx->m);
    free(fx->tokens);
    free(fx->logits);
}

static retnet_state *states_new(const retnet_config *c, int32_t B) {
    retnet_state *st = calloc((size_t)B, sizeof(retnet_state));
    int64_t nf = retnet_state_floats(c);
    for (int32_t b = 0; b < B; b++) {
        st[b].data = malloc(sizeof(float) * (size_t)(nf ? nf : 1));
        retnet_state_reset(c, &st[b]);
    }
    return st;
}

static void states_free(retnet_state *st, int32_t B) {
    for (int32_t b = 0; b < B; b++) free(st[b].data);
    free(st);
}

/* Compares logits (B, T, V) with the fixture; returns the error for the summary line. */
static test_err check_logits(const fixture *fx, const float *got, const char *what) {
    int64_t n = (int64_t)fx->B * fx->T * fx->V;
    test_err e = test_compare(got, fx->logits, n, 1e-3 * fx->max_ref);
    char label[160];
    snprintf(label, sizeof label, "%s %s", fx->name, what);
    CHECK_ERR(e, fx->tol_abs, fx->tol_nmse, label);
    return e;
}

/* Tokens [t0, t1) of every sequence, as a contiguous (B, t1 - t0) array. */
static int32_t *token_cols(const fixture *fx, int32_t t0, int32_t t1) {
    int32_t w = t1 - t0;
    int32_t *t = malloc(sizeof(int32_t) * (size_t)fx->B * (size_t)(w ? w : 1));
    for (int32_t b = 0; b < fx->B; b++)
        memcpy(t + (int64_t)b * w, fx->tokens + (int64_t)b * fx->T + t0, sizeof(int32_t) * w);
    return t;
}

/* Scatters (B, w, V) logits of columns [t0, t0 + w) into a (B, T, V) array. */
static void put_cols(const fixture *fx, float *all, const float *part, int32_t t0, int32_t w) {
    for (int32_t b = 0; b < fx->B; b++)
        memcpy(all + ((int64_t)b * fx->T + t0) * fx->V, part + (int64_t)b * w * fx->V,
               sizeof(float) * (size_t)w * fx->V);
}

static void update_worst(test_err *w, test_err e) {
    if (e.max_abs > w->max_abs) w->max_abs = e.max_abs;
    if (e.nmse > w->nmse) w->nmse = e.nmse;
}

/* ---------------------------------------------------------------- one-pass forms */

static void test_fixture_forms(void) {
    for (int f = 0; f < N_FIXTURES; f++) {
        fixture fx;
        if (!fixture_open(FIXTURES[f], &fx)) { fixture_close(&fx); continue; }
        int64_t n = (int64_t)fx.B * fx.T * fx.V;
        float *lg = malloc(sizeof(float) * n);
        test_err worst = {0, 0, 0, -1, 0, 0};
        const int32_t chunks[] = {0, 1, 3, 16, fx.T, fx.T + 5};
        struct { retnet_form form; int32_t chunk; } runs[8];
        int nr = 0;
        runs[nr].form = RETNET_FORM_PARALLEL; runs[nr++].chunk = 0;
        for (int i = 0; i < 6; i++) { runs[nr].form = RETNET_FORM_CHUNKWISE; runs[nr++].chunk = chunks[i]; }
        runs[nr].form = RETNET_FORM_RECURRENT; runs[nr++].chunk = 0;
        for (int r = 0; r < nr; r++) {
            char what[64];
            snprintf(what, sizeof what, "%s chunk %d", retnet_form_name(runs[r].form), runs[r].chunk);
            for (int64_t i = 0; i < n; i++) lg[i] = NAN;
            /* half of the runs with caller-owned states (which must end at pos T) */
            retnet_state *st = (r % 2) ? states_new(fx.c, fx.B) : NULL;
            retnet_status s = retnet_forward(fx.m, fx.tokens, fx.B, fx.T, runs[r].form,
                                             runs[r].chunk, st, lg);
            CHECK(s == RETNET_OK, "%s %s: %s (%s)", fx.name, what, retnet_status_name(s),
                  retnet_errmsg());
            if (s == RETNET_OK) update_worst(&worst, check_logits(&fx, lg, what));
            if (st) {
                for (int32_t b = 0; b < fx.B; b++)
                    CHECK(st[b].pos == fx.T, "%s %s: state pos %lld, want %d", fx.name, what,
                          (long long)st[b].pos, fx.T);
                states_free(st, fx.B);
            }
        }
        /* one sequence alone: row B-1 with B = 1 */
        {
            float *one = malloc(sizeof(float) * (size_t)fx.T * fx.V);
            retnet_status s = retnet_forward(fx.m, fx.tokens + (int64_t)(fx.B - 1) * fx.T, 1, fx.T,
                                             RETNET_FORM_CHUNKWISE, 0, NULL, one);
            CHECK(s == RETNET_OK, "%s B=1: %s (%s)", fx.name, retnet_status_name(s), retnet_errmsg());
            if (s == RETNET_OK) {
                test_err e = test_compare(one, fx.logits + (int64_t)(fx.B - 1) * fx.T * fx.V,
                                          (int64_t)fx.T * fx.V, 1e-3 * fx.max_ref);
                char label[96];
                snprintf(label, sizeof label, "%s one sequence (B=1)", fx.name);
                CHECK_ERR(e, fx.tol_abs, fx.tol_nmse, label);
            }
            free(one);
        }
        fprintf(stderr, "     %-10s B=%d T=%d vocab=%d: worst of %d forms max_abs %.2e (tol %.2e) "
                "nmse %.2e (tol %.2e)\n", fx.name, fx.B, fx.T, fx.V, nr, worst.max_abs, fx.tol_abs,
                worst.nmse, fx.tol_nmse);
        free(lg);
        fixture_close(&fx);
    }
}

/* ---------------------------------------------------------------- prefill, then continue */

/* Runs tokens [t0, t1) with `form` from states; token by token when step is set. */
static int run_cols(fixture *fx, float *all, int32_t t0, int32_t t1, retnet_form form,
                    int32_t chunk, int step, retnet_state *st, const char *what) {
    int32_t w = step ? 1 : t1 - t0;
    float *part = malloc(sizeof(float) * (size_t)fx->B * w * fx->V);
    for (int32_t t = t0; t < t1; t += w) {
        int32_t *tok = token_cols(fx, t, t + w);
        retnet_status s = retnet_forward(fx->m, tok, fx->B, w, form, chunk, st, part);
        free(tok);
        CHECK(s == RETNET_OK, "%s %s at t=%d: %s (%s)", fx->name, what, t, retnet_status_name(s),
              retnet_errmsg());
        if (s != RETNET_OK) { free(part); return 0; }
        for (int32_t b = 0; b < fx->B; b++)
            CHECK(st[b].pos == t + w, "%s %s: state pos %lld after token %d", fx->name, what,
                  (long long)st[b].pos, t + w);
        put_cols(fx, all, part, t, w);
    }
    free(part);
    return 1;
}

static void test_fixture_prefill_then_decode(void) {
    static const struct {
        retnet_form pre; int32_t pre_chunk; retnet_form cont; int32_t cont_chunk; int step;
        const char *what;
    } plans[] = {
        {RETNET_FORM_CHUNKWISE, 3, RETNET_FORM_RECURRENT, 0, 1, "chunkwise(3) prefill, recurrent decode"},
        {RETNET_FORM_PARALLEL, 0, RETNET_FORM_RECURRENT, 0, 1, "parallel prefill, recurrent decode"},
        {RETNET_FORM_PARALLEL, 0, RETNET_FORM_CHUNKWISE, 4, 0, "parallel prefill, chunkwise(4) rest"},
        {RETNET_FORM_RECURRENT, 0, RETNET_FORM_PARALLEL, 0, 0, "recurrent prefill, parallel rest"},
    };
    for (int f = 0; f < N_FIXTURES; f++) {
        fixture fx;
        if (!fixture_open(FIXTURES[f], &fx)) { fixture_close(&fx); continue; }
        int64_t n = (int64_t)fx.B * fx.T * fx.V;
        float *lg = malloc(sizeof(float) * n);
        test_err worst = {0, 0, 0, -1, 0, 0};
        int32_t T1 = fx.T / 3 + 2;   /* not a multiple of the chunks above */
        for (size_t p = 0; p < sizeof(plans) / sizeof(plans[0]); p++) {
            for (int64_t i = 0; i < n; i++) lg[i] = NAN;
            retnet_state *st = states_new(fx.c, fx.B);
            if (run_cols(&fx, lg, 0, T1, plans[p].pre, plans[p].pre_chunk, 0, st, plans[p].what) &&
                run_cols(&fx, lg, T1, fx.T, plans[p].cont, plans[p].cont_chunk, plans[p].step, st,
                         plans[p].what))
                update_worst(&worst, check_logits(&fx, lg, plans[p].what));
            states_free(st, fx.B);
        }
        fprintf(stderr, "     %-10s prefill %d + %d: worst max_abs %.2e nmse %.2e\n", fx.name, T1,
                fx.T - T1, worst.max_abs, worst.nmse);
        free(lg);
        fixture_close(&fx);
    }
}

/* ---------------------------------------------------------------- the BF16 checkpoint */

static float bf16_round(float x) {   /* nearest, ties to even (as make_fixtures.py) */
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    memcpy(&x, &u, 4);
    return x;
}

static void test_fixture_bf16_weights(void) {
    retnet_model *a = NULL, *b = NULL;
    retnet_status s1 = retnet_model_load(FIXTURE_DIR "fla.safetensors", NULL, &a);
    retnet_status s2 = retnet_model_load(FIXTURE_DIR "fla_bf16.safetensors", NULL, &b);
    CHECK(s1 == RETNET_OK && s2 == RETNET_OK, "load: %s", retnet_errmsg());
    if (s1 == RETNET_OK && s2 == RETNET_OK) {
        int32_t n = retnet_model_tensor_count(a);
        CHECK(n == retnet_model_tensor_count(b), "tensor counts differ");
        for (int32_t i = 0; i < n && i < retnet_model_tensor_count(b); i++) {
            retnet_tensor ta, tb;
            if (retnet_model_tensor(a, i, &ta) != RETNET_OK || retnet_model_tensor(b, i, &tb) != RETNET_OK) {
                CHECK(0, "tensor %d: %s", i, retnet_errmsg());
                continue;
            }
            CHECK(strcmp(ta.name, tb.name) == 0 && ta.numel == tb.numel, "tensor %d: %s vs %s", i,
                  ta.name, tb.name);
            int64_t bad = 0, first = -1;
            for (int64_t k = 0; k < ta.numel && k < tb.numel; k++)
                if (bf16_round(ta.data[k]) != tb.data[k]) { if (first < 0) first = k; bad++; }
            CHECK(bad == 0, "%s: %lld values are not the F32 values rounded to bf16 (first [%lld]: "
                  "%.9g -> %.9g)", tb.name, (long long)bad, (long long)first,
                  first >= 0 ? ta.data[first] : 0.0, first >= 0 ? tb.data[first] : 0.0);
        }
    }
    if (a) retnet_model_free(a);
    if (b) retnet_model_free(b);
}

int main(void) {
    RUN(test_fixture_forms);
    RUN(test_fixture_prefill_then_decode);
    RUN(test_fixture_bf16_weights);
    return TEST_SUMMARY();
}
