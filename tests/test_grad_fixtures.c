/*
 * test_grad_fixtures.c: training (retnet_forward_backward, retnet_adamw_step) against the
 * independent PyTorch reference.
 *
 * tests/pytorch/make_fixtures.py writes, per configuration (grad_paper, grad_torchscale,
 * grad_fla: the three variants, 2 layers, B = 2, T = 24):
 *   grad_<name>.safetensors        the weights (a checkpoint like the forward fixtures)
 *   grad_<name>.grads.safetensors  d loss_sum / d param from float64 autograd, rounded to F32,
 *                                  with the same names, shapes and metadata, so that
 *                                  retnet_model_load reads it as a model whose parameters are
 *                                  the gradient; __metadata__ also holds "loss_sum" (float64),
 *                                  "count" and "max_abs_logit"
 *   grad_<name>.tokens             B lines of inputs, then B lines of targets (-1: not counted)
 *   grad_<name>.adamw.txt          the AdamW hyperparameters (line 1), then the float64 loss
 *                                  (mean over counted targets) before each of 10 steps of
 *                                  torch.optim.AdamW on that batch (2-D weights decayed)
 * loss_sum = sum over counted positions of -log softmax(logits)[target].
 *
 * This test, per fixture:
 *   - retnet_forward_backward in the parallel form and the chunkwise form with chunk 0 (the
 *     config's), 1, 3, 8, T and T + 5, into a zeroed buffer with grad_scale 1: loss_sum, count
 *     and every parameter tensor's gradient (named in failures) against the reference;
 *   - accumulation: the two sequences one at a time (B = 1) and grad_scale 0.5 twice add up to
 *     the batch's gradient; loss_sum and count may be NULL; the weights are not touched;
 *   - 10 AdamW steps (retnet_adamw_step, grads zeroed each step, grad_scale = 1/count), losses
 *     from the parallel form and, in a second run, the chunkwise form (chunk 3);
 *   - retnet_tensor_decayed is true exactly for the 2-D tensors; retnet_grad_norm.
 * Run from the repository root (the fixtures are found at tests/fixtures/);
 * RETNET_TEST_VERBOSE=1 prints every tensor's errors.
 *
 * Tolerance rules (the same as grad_tolerances() in make_fixtures.py, which refuses to write a
 * fixture unless float32 PyTorch on the same math sits >= 10x inside them (nmse, loss, AdamW)
 * and >= 5x (max abs); its last run printed 29-64x, 18-32x, 400-2000x and 170-300x):
 *   eps = 2^-23 (float32 machine epsilon, twice the unit roundoff u = 2^-24), L layers,
 *   forward (tests/test_fixtures.c): u_f = eps sqrt(R_f) (2L+1), R_f = max(d, d_key, d_value,
 *       d_ffn, T): a logit is within tol_logit = 4 u_f max|logit|;
 *   loss_sum: each counted term -log softmax(z)[y] moves by at most 2 max|dz|, so
 *       |dloss_sum| <= 2 count tol_logit;
 *   gradients: the forward's rounding and the same again on the way back through the 2L+1
 *       sublayers; weight gradients reduce over B*T positions, the softmax over the vocabulary:
 *       u_g = 2 eps sqrt(R_g) (2L+1), R_g = max(R_f, B*T, vocab);
 *       per tensor: nmse <= u_g^2 and max|dg| <= 4 u_g max|g|;
 *   AdamW: a step moves each parameter by lr m^/(sqrt(v^)+eps), relatively as wrong as the
 *       gradient, and the errors add up: the loss before step k (1-based) is within a relative
 *       u_g k of the reference.
 * For these fixtures R_g = 48, u_g ~ 8.3e-6, tol_nmse ~ 6.8e-11.
 *
 * What the tolerances catch (one-off runs, not committed): one gradient value off by 1e-4
 * (relative) in a 12-element tensor fails (every run, named); a reference AdamW loss off by 1e-4
 * at step 5 fails. Float64 AdamW variants, scored in units of the AdamW tolerance over the three
 * fixtures: weight decay on every tensor 39-56x, on none 16-38x, decay not multiplied by lr
 * 1600-3300x, no bias correction 1500-2900x (of v only 3700-22000x), eps inside the sqrt 9-28x,
 * betas swapped 780-980x, step counted from 2 1300-2700x; not caught everywhere: eps 1e-6 for
 * 1e-8 (0.7-3.8x, grad_torchscale only).
 */
#include "retnet.h"
#include "test.h"

#include <stdint.h>

#define FIXTURE_DIR "tests/fixtures/"
#define MAX_STEPS 64

static const char *const FIXTURES[] = {"grad_paper", "grad_torchscale", "grad_fla"};
#define N_FIXTURES ((int)(sizeof(FIXTURES) / sizeof(FIXTURES[0])))

typedef struct {
    const char *name;
    retnet_model *m;        /* the weights */
    retnet_model *g;        /* the reference gradient, as a model */
    const retnet_config *c;
    int32_t B, T;
    int32_t *tokens, *targets;          /* (B, T) each */
    double loss_sum, max_abs_logit;     /* reference */
    int64_t count;
    int64_t n_params;
    retnet_adamw hp;
    int32_t steps;
    double losses[MAX_STEPS];           /* reference AdamW losses, before each step */
    double u_f, u_g, tol_loss;
} fixture;

/* Reads a whole file; NULL if it cannot. */
static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 14, n = 0;
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

/* Rows of comma-separated integers (every row the same length). */
static int parse_rows(const char *text, int32_t **out, int32_t *rows_out, int32_t *cols_out) {
    int32_t cap = 256, n = 0, rows = 0, cols = -1, cur = 0;
    int32_t *t = malloc(sizeof(int32_t) * cap);
    const char *p = text;
    for (;;) {
        if (*p == '\n' || *p == 0) {
            if (cur) {
                if (cols >= 0 && cur != cols) { free(t); return 0; }
                cols = cur; cur = 0; rows++;
            }
            if (*p == 0) break;
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
    *out = t; *rows_out = rows; *cols_out = cols;
    return rows > 0 && cols > 0;
}

/* A string value of a safetensors file's __metadata__ (our own fixture: trusted, but checked).
 * Returns 1 and copies it into buf if found. */
static int st_meta_value(const char *path, const char *key, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char len8[8];
    int ok = 0;
    if (fread(len8, 1, 8, f) == 8) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
        if (n > 0 && n < (1u << 20)) {
            char *h = malloc(n + 1);
            if (fread(h, 1, n, f) == n) {
                h[n] = 0;
                char pat[128];
                snprintf(pat, sizeof pat, "\"%s\":\"", key);
                const char *s = strstr(h, "\"__metadata__\"");
                s = s ? strstr(s, pat) : NULL;
                if (s) {
                    s += strlen(pat);
                    const char *e = strchr(s, '"');
                    if (e && (size_t)(e - s) < cap) {
                        memcpy(buf, s, (size_t)(e - s));
                        buf[e - s] = 0;
                        ok = 1;
                    }
                }
            }
            free(h);
        }
    }
    fclose(f);
    return ok;
}

static void fixture_close(fixture *fx) {
    if (fx->m) retnet_model_free(fx->m);
    if (fx->g) retnet_model_free(fx->g);
    free(fx->tokens);
    free(fx->targets);
    memset(fx, 0, sizeof(*fx));
}

static int fixture_open(const char *name, fixture *fx) {
    memset(fx, 0, sizeof(*fx));
    fx->name = name;
    char path[512], val[128];
    snprintf(path, sizeof path, FIXTURE_DIR "%s.safetensors", name);
    retnet_status s = retnet_model_load(path, NULL, &fx->m);
    CHECK(s == RETNET_OK, "%s: load %s: %s (%s); run from the repository root", name, path,
          retnet_status_name(s), retnet_errmsg());
    if (s != RETNET_OK) return 0;
    fx->c = retnet_model_config(fx->m);
    fx->n_params = retnet_config_param_count(fx->c);

    snprintf(path, sizeof path, FIXTURE_DIR "%s.grads.safetensors", name);
    s = retnet_model_load(path, fx->c, &fx->g);   /* the config must be the weights' config */
    CHECK(s == RETNET_OK, "%s: load %s: %s (%s)", name, path, retnet_status_name(s),
          retnet_errmsg());
    if (s != RETNET_OK) return 0;
    int have = st_meta_value(path, "loss_sum", val, sizeof val);
    fx->loss_sum = have ? strtod(val, NULL) : NAN;
    have &= st_meta_value(path, "count", val, sizeof val);
    fx->count = have ? strtoll(val, NULL, 10) : -1;
    have &= st_meta_value(path, "max_abs_logit", val, sizeof val);
    fx->max_abs_logit = have ? strtod(val, NULL) : NAN;
    CHECK(have, "%s: %s lacks loss_sum, count or max_abs_logit in __metadata__", name, path);
    if (!have) return 0;

    size_t len;
    snprintf(path, sizeof path, FIXTURE_DIR "%s.tokens", name);
    char *text = read_all(path, &len);
    CHECK(text != NULL, "%s: cannot read %s", name, path);
    if (!text) return 0;
    int32_t *all = NULL, rows = 0, cols = 0;
    int ok = parse_rows(text, &all, &rows, &cols) && rows % 2 == 0;
    free(text);
    CHECK(ok, "%s: malformed %s (want B lines of inputs, then B lines of targets)", name, path);
    if (!ok) { free(all); return 0; }
    fx->B = rows / 2;
    fx->T = cols;
    size_t bt = (size_t)fx->B * fx->T;
    fx->tokens = malloc(sizeof(int32_t) * bt);
    fx->targets = malloc(sizeof(int32_t) * bt);
    memcpy(fx->tokens, all, sizeof(int32_t) * bt);
    memcpy(fx->targets, all + bt, sizeof(int32_t) * bt);
    free(all);
    int64_t counted = 0;
    for (size_t i = 0; i < bt; i++) {
        CHECK(fx->tokens[i] >= 0 && fx->tokens[i] < fx->c->vocab, "%s: token %d out of range",
              name, fx->tokens[i]);
        CHECK(fx->targets[i] >= -1 && fx->targets[i] < fx->c->vocab, "%s: target %d out of range",
              name, fx->targets[i]);
        counted += fx->targets[i] >= 0;
    }
    CHECK(counted == fx->count, "%s: %lld counted targets in %s, metadata says %lld", name,
          (long long)counted, path, (long long)fx->count);

    snprintf(path, sizeof path, FIXTURE_DIR "%s.adamw.txt", name);
    text = read_all(path, &len);
    CHECK(text != NULL, "%s: cannot read %s", name, path);
    if (!text) return 0;
    double lr, b1, b2, eps, wd;
    int steps = 0;
    ok = sscanf(text, "lr=%lf beta1=%lf beta2=%lf eps=%lf weight_decay=%lf steps=%d", &lr, &b1,
                &b2, &eps, &wd, &steps) == 6 && steps > 0 && steps <= MAX_STEPS;
    const char *p = strchr(text, '\n');
    for (int k = 0; ok && k < steps; k++) {
        int step;
        int used = 0;
        ok = p && sscanf(p, " %d %lf%n", &step, &fx->losses[k], &used) == 2 && step == k + 1;
        if (ok) p += used;
    }
    free(text);
    CHECK(ok, "%s: malformed %s", name, path);
    if (!ok) return 0;
    fx->hp.lr = (float)lr;
    fx->hp.beta1 = (float)b1;
    fx->hp.beta2 = (float)b2;
    fx->hp.eps = (float)eps;
    fx->hp.weight_decay = (float)wd;
    fx->steps = steps;

    /* the tolerance rules of the header comment */
    const retnet_config *c = fx->c;
    int32_t rf = c->d_model;
    if (c->d_key > rf) rf = c->d_key;
    if (c->d_value > rf) rf = c->d_value;
    if (c->d_ffn > rf) rf = c->d_ffn;
    if (fx->T > rf) rf = fx->T;
    int32_t rg = rf;
    if (fx->B * fx->T > rg) rg = fx->B * fx->T;
    if (c->vocab > rg) rg = c->vocab;
    fx->u_f = 0x1p-23 * sqrt((double)rf) * (2.0 * c->n_layer + 1.0);
    fx->u_g = 2.0 * 0x1p-23 * sqrt((double)rg) * (2.0 * c->n_layer + 1.0);
    fx->tol_loss = 2.0 * (double)fx->count * 4.0 * fx->u_f * fx->max_abs_logit;
    return 1;
}

/* ---------------------------------------------------------------- gradient comparison */

static int verbose;   /* RETNET_TEST_VERBOSE=1: every tensor's errors */

typedef struct {
    double worst_ratio;        /* largest nmse / tol_nmse over the tensors */
    char worst_name[96];
    double worst_nmse;
} grad_worst;

/* Compares a gradient buffer (layout of retnet_model_params) with the reference, tensor by
 * tensor. `what` names the run in failures. Returns the number of failing tensors. */
static int check_grads(const fixture *fx, const float *grads, const char *what, grad_worst *w) {
    int bad = 0;
    const float *base = retnet_model_params((retnet_model *)fx->m);
    int32_t nt = retnet_model_tensor_count(fx->m);
    CHECK(nt == retnet_model_tensor_count(fx->g), "%s: tensor counts differ (%d vs %d)", fx->name,
          nt, retnet_model_tensor_count(fx->g));
    double tol_nmse = fx->u_g * fx->u_g;
    for (int32_t i = 0; i < nt; i++) {
        retnet_tensor tm, tg;
        if (retnet_model_tensor(fx->m, i, &tm) != RETNET_OK ||
            retnet_model_tensor(fx->g, i, &tg) != RETNET_OK) {
            CHECK(0, "%s: tensor %d: %s", fx->name, i, retnet_errmsg());
            bad++;
            continue;
        }
        CHECK(strcmp(tm.name, tg.name) == 0 && tm.numel == tg.numel, "%s: tensor %d is %s in the "
              "weights, %s in the gradients", fx->name, i, tm.name, tg.name);
        int64_t off = tm.data - base;   /* where the tensor lives in retnet_model_params() */
        CHECK(off >= 0 && off + tm.numel <= fx->n_params, "%s: %s lies outside the parameters",
              fx->name, tm.name);
        if (off < 0 || off + tm.numel > fx->n_params || tm.numel != tg.numel) { bad++; continue; }
        double *ref = malloc(sizeof(double) * (size_t)tg.numel);
        double mx = 0;
        for (int64_t k = 0; k < tg.numel; k++) {
            ref[k] = tg.data[k];
            if (fabs(ref[k]) > mx) mx = fabs(ref[k]);
        }
        test_err e = test_compare(grads + off, ref, tg.numel, 1e-3 * mx);
        double tol_abs = 4.0 * fx->u_g * mx;
        char label[256];
        snprintf(label, sizeof label, "%s %s: d loss / d %s", fx->name, what, tm.name);
        int before = test_cur_failed;
        CHECK_ERR(e, tol_abs, tol_nmse, label);
        bad += test_cur_failed != before;
        double ratio = e.nmse / tol_nmse;
        if (verbose)
            fprintf(stderr, "       %-16s %-22s %-40s nmse %.2e (%5.3f of tol) max_abs %.2e (%5.3f "
                    "of tol)\n", fx->name, what, tm.name, e.nmse, ratio, e.max_abs,
                    tol_abs > 0 ? e.max_abs / tol_abs : 0.0);
        if (w && !(ratio <= w->worst_ratio)) {
            w->worst_ratio = ratio;
            w->worst_nmse = e.nmse;
            snprintf(w->worst_name, sizeof w->worst_name, "%s (%s)", tm.name, what);
        }
        free(ref);
    }
    return bad;
}

static void check_loss(const fixture *fx, double loss, int64_t count, const char *what) {
    CHECK(count == fx->count, "%s %s: count %lld, want %lld", fx->name, what, (long long)count,
          (long long)fx->count);
    CHECK(fabs(loss - fx->loss_sum) <= fx->tol_loss, "%s %s: loss_sum %.10g, want %.10g "
          "(|diff| %.3g, tol %.3g)", fx->name, what, loss, fx->loss_sum, fabs(loss - fx->loss_sum),
          fx->tol_loss);
}

/* ---------------------------------------------------------------- the tests */

static void test_grad_fixture_gradients(void) {
    for (int f = 0; f < N_FIXTURES; f++) {
        fixture fx;
        if (!fixture_open(FIXTURES[f], &fx)) { fixture_close(&fx); continue; }
        float *grads = malloc(sizeof(float) * (size_t)fx.n_params);
        const int32_t chunks[] = {-1 /* parallel */, 0, 1, 3, 8, fx.T, fx.T + 5};
        grad_worst w = {0, "", 0};
        double worst_loss = 0;
        for (size_t r = 0; r < sizeof(chunks) / sizeof(chunks[0]); r++) {
            retnet_train_opts o = {chunks[r] < 0 ? RETNET_FORM_PARALLEL : RETNET_FORM_CHUNKWISE,
                                   chunks[r] < 0 ? 0 : chunks[r], 0.0f, 0};
            char what[64];
            if (chunks[r] < 0) snprintf(what, sizeof what, "parallel");
            else snprintf(what, sizeof what, "chunkwise chunk %d", chunks[r]);
            memset(grads, 0, sizeof(float) * (size_t)fx.n_params);
            double loss = NAN;
            int64_t count = -1;
            retnet_status s = retnet_forward_backward(fx.m, fx.tokens, fx.targets, fx.B, fx.T, &o,
                                                      1.0f, grads, &loss, &count);
            CHECK(s == RETNET_OK, "%s %s: %s (%s)", fx.name, what, retnet_status_name(s),
                  retnet_errmsg());
            if (s != RETNET_OK) continue;
            check_loss(&fx, loss, count, what);
            if (fabs(loss - fx.loss_sum) > worst_loss) worst_loss = fabs(loss - fx.loss_sum);
            check_grads(&fx, grads, what, &w);
        }
        fprintf(stderr, "     %-16s B=%d T=%d, %lld params: loss_sum %.6f worst |diff| %.2e (tol "
                "%.2e); worst tensor nmse %.2e (tol %.2e): %s\n", fx.name, fx.B, fx.T,
                (long long)fx.n_params, fx.loss_sum, worst_loss, fx.tol_loss, w.worst_nmse,
                fx.u_g * fx.u_g, w.worst_name);
        free(grads);
        fixture_close(&fx);
    }
}

/* grads += grad_scale * gradient: the batch one sequence at a time, and in two halves of
 * grad_scale 0.5, add up to the batch's gradient; the weights do not change. */
static void test_grad_fixture_accumulate(void) {
    for (int f = 0; f < N_FIXTURES; f++) {
        fixture fx;
        if (!fixture_open(FIXTURES[f], &fx)) { fixture_close(&fx); continue; }
        size_t np = (size_t)fx.n_params;
        float *grads = calloc(np, sizeof(float));
        float *before = malloc(sizeof(float) * np);
        memcpy(before, retnet_model_params(fx.m), sizeof(float) * np);
        retnet_train_opts o = {RETNET_FORM_CHUNKWISE, 5, 0.0f, 0};
        double loss = 0;
        int64_t count = 0;
        int ok = 1;
        for (int32_t b = 0; b < fx.B && ok; b++) {   /* one sequence at a time */
            double l1 = NAN;
            int64_t c1 = -1;
            retnet_status s = retnet_forward_backward(fx.m, fx.tokens + (int64_t)b * fx.T,
                                                      fx.targets + (int64_t)b * fx.T, 1, fx.T, &o,
                                                      1.0f, grads, &l1, &c1);
            CHECK(s == RETNET_OK, "%s sequence %d alone: %s (%s)", fx.name, b,
                  retnet_status_name(s), retnet_errmsg());
            ok = s == RETNET_OK;
            loss += l1;
            count += c1;
        }
        if (ok) {
            check_loss(&fx, loss, count, "sequences one at a time");
            check_grads(&fx, grads, "sequences one at a time, accumulated", NULL);
        }
        memset(grads, 0, sizeof(float) * np);
        retnet_train_opts op = {RETNET_FORM_PARALLEL, 0, 0.0f, 0};
        for (int k = 0; k < 2 && ok; k++) {   /* grad_scale 0.5 twice; loss and count NULL */
            retnet_status s = retnet_forward_backward(fx.m, fx.tokens, fx.targets, fx.B, fx.T, &op,
                                                      0.5f, grads, NULL, NULL);
            CHECK(s == RETNET_OK, "%s grad_scale 0.5 (NULL loss, count): %s (%s)", fx.name,
                  retnet_status_name(s), retnet_errmsg());
            ok = s == RETNET_OK;
        }
        if (ok) check_grads(&fx, grads, "grad_scale 0.5, twice", NULL);
        CHECK(memcmp(before, retnet_model_params(fx.m), sizeof(float) * np) == 0,
              "%s: retnet_forward_backward changed the weights", fx.name);
        free(before);
        free(grads);
        fixture_close(&fx);
    }
}

/* 10 AdamW steps on the fixture's batch; the losses before each step against the reference. */
static void test_grad_fixture_adamw(void) {
    for (int f = 0; f < N_FIXTURES; f++) {
        for (int run = 0; run < 2; run++) {
            fixture fx;
            if (!fixture_open(FIXTURES[f], &fx)) { fixture_close(&fx); continue; }
            retnet_train_opts o = {run ? RETNET_FORM_CHUNKWISE : RETNET_FORM_PARALLEL, run ? 3 : 0,
                                   0.0f, 0};
            const char *what = run ? "chunkwise(3)" : "parallel";
            size_t np = (size_t)fx.n_params;
            float *grads = malloc(sizeof(float) * np);
            float *m1 = calloc(np, sizeof(float)), *m2 = calloc(np, sizeof(float));
            double got[MAX_STEPS], worst = 0;
            int n = 0;
            for (int k = 0; k < fx.steps; k++) {
                memset(grads, 0, sizeof(float) * np);
                double loss = NAN;
                int64_t count = -1;
                retnet_status s = retnet_forward_backward(fx.m, fx.tokens, fx.targets, fx.B, fx.T,
                                                          &o, 1.0f / (float)fx.count, grads,
                                                          &loss, &count);
                CHECK(s == RETNET_OK, "%s AdamW %s step %d: %s (%s)", fx.name, what, k + 1,
                      retnet_status_name(s), retnet_errmsg());
                if (s != RETNET_OK) break;
                CHECK(count == fx.count, "%s AdamW %s step %d: count %lld, want %lld", fx.name,
                      what, k + 1, (long long)count, (long long)fx.count);
                got[n++] = loss / (double)fx.count;
                double rel = fabs(got[k] - fx.losses[k]) / fabs(fx.losses[k]);
                double tol = fx.u_g * (k + 1);
                CHECK(rel <= tol, "%s AdamW %s: loss before step %d is %.10g, want %.10g (rel %.3g, "
                      "tol %.3g)", fx.name, what, k + 1, got[k], fx.losses[k], rel, tol);
                if (!(rel / tol <= worst)) worst = rel / tol;
                s = retnet_adamw_step(fx.m, grads, m1, m2, k + 1, &fx.hp);
                CHECK(s == RETNET_OK, "%s AdamW %s step %d: retnet_adamw_step: %s (%s)", fx.name,
                      what, k + 1, retnet_status_name(s), retnet_errmsg());
                if (s != RETNET_OK) break;
            }
            if (n == fx.steps) {
                double maxrel = 0;
                for (int k = 0; k < n; k++) {
                    double rel = fabs(got[k] - fx.losses[k]) / fabs(fx.losses[k]);
                    if (rel > maxrel) maxrel = rel;
                }
                fprintf(stderr, "     %-16s AdamW %-12s losses %.5f -> %.5f (ref %.5f -> %.5f), "
                        "max rel diff %.2e (tol %.1e k), worst %.4f of its tolerance\n", fx.name,
                        what, got[0], got[n - 1], fx.losses[0], fx.losses[n - 1], maxrel, fx.u_g,
                        worst);
            }
            free(grads);
            free(m1);
            free(m2);
            fixture_close(&fx);
        }
    }
}

/* Weight decay applies to the 2-D tensors (projections, embedding, output projection) only;
 * retnet_grad_norm is sqrt(sum g^2) in double. */
static void test_grad_fixture_decay_and_norm(void) {
    for (int f = 0; f < N_FIXTURES; f++) {
        fixture fx;
        if (!fixture_open(FIXTURES[f], &fx)) { fixture_close(&fx); continue; }
        int32_t nt = retnet_model_tensor_count(fx.m);
        for (int32_t i = 0; i < nt; i++) {
            retnet_tensor t;
            if (retnet_model_tensor(fx.m, i, &t) != RETNET_OK) continue;
            CHECK(!!retnet_tensor_decayed(fx.m, i) == (t.ndim == 2), "%s: %s (%d-D) decayed = %d",
                  fx.name, t.name, t.ndim, retnet_tensor_decayed(fx.m, i));
        }
        const float *g = retnet_model_params(fx.g);
        double ss = 0;
        for (int64_t k = 0; k < fx.n_params; k++) ss += (double)g[k] * g[k];
        double norm = retnet_grad_norm(g, fx.n_params);
        CHECK(fabs(norm - sqrt(ss)) <= 1e-12 * sqrt(ss), "%s: retnet_grad_norm %.17g, want %.17g",
              fx.name, norm, sqrt(ss));
        fixture_close(&fx);
    }
}

int main(void) {
    verbose = getenv("RETNET_TEST_VERBOSE") && atoi(getenv("RETNET_TEST_VERBOSE")) > 0;
    RUN(test_grad_fixture_gradients);
    RUN(test_grad_fixture_accumulate);
    RUN(test_grad_fixture_adamw);
    RUN(test_grad_fixture_decay_and_norm);
    return TEST_SUMMARY();
}
