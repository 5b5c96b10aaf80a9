/*
 * test_generate: text generation and saved states, in the library and through `retnet
 * generate` / `retnet chat` (the binary built next to this test, ../retnet).
 *
 * The models are the tiny preset: one made by `retnet init`, and one whose weights are
 * perturbed by noise (so that greedy decoding does not just repeat a byte), saved with
 * retnet_model_save. Checked:
 *   - XXH64 against the reference's test vectors (the model fingerprint of saved states);
 *   - greedy decoding (chunkwise prefill, then the recurrent form token by token) chooses,
 *     at every step, the argmax of the parallel form's logits re-run over the whole sequence
 *     so far (a near-tie, |difference| < 1e-4, would be accepted and reported); the CLI's
 *     greedy tokens are exactly those;
 *   - seeded sampling is reproducible, and another seed gives other text;
 *   - a batch (--prompts-file, 5 prompts of different lengths, an empty one among them,
 *     decoded together) equals its members generated one by one with seed + index, with
 *     sampling, top-k/top-p, a stop string, greedily and with --bf16. (With 4 or more
 *     sequences in a step the products go to BLAS, whose rounding differs from the one-row
 *     loop by ~1e-6: these seeds meet no choice that close; another model or BLAS could);
 *   - a state saved after n1 tokens and loaded for n2 more gives the tokens of one run of
 *     n1 + n2 (sampling; again in three pieces with --bf16); --load-state with a --prompt
 *     continues from the state; chat replies equal generate's, and a chat saved and resumed
 *     in a second process equals one uninterrupted chat;
 *   - the library saves and loads states exactly (floats, pos, last token, extra), refuses a
 *     state of another model (other weights; other config) with EINVAL, and any truncation
 *     of a state file with an error (never a crash), leaving the caller's state unchanged;
 *   - bad input (n <= 0, temperature < 0, top-p outside (0, 1], top-k < 0, a tokenizer larger
 *     than the model's vocabulary, no or two prompts, a
 *     truncated state or one of another model, ...) is one line on stderr and a non-zero exit;
 *   - a vocabulary padded past the tokenizer's never draws the ids it cannot decode;
 *   - --json output parses and has its keys.
 * Children run with OMP_NUM_THREADS=1 and ASAN_OPTIONS=detect_leaks=0 (the CLI's error path
 * exits without freeing, by design).
 */
#include "json.h"
#include "tokenizer.h" /* RETNET_BYTE_VOCAB */
#include "retnet.h"
#include "test.h"
#include "cli_run.h"

#include <libgen.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char retnet[4200], tmp[256], model[512], model_init[512], model_other[512],
    model_v300[512], model_v200[512];

/* ---------------------------------------------------------------- running the CLI */

typedef cli_result result;

static void result_free(result *r) { cli_result_free(r); }
/* Runs `retnet ARGS` (stdin from `input` if not NULL). */
static result run_in(const char *args, const char *input) {
    return cli_run("", retnet, args, input, tmp);
}
static result run(const char *args) { return run_in(args, NULL); }

static int count_lines(const char *s) { return test_count_lines(s); }

/* Lines of output that may hold NUL bytes. */
static int count_lines_n(const char *s, size_t len) {
    int n = 0;
    for (size_t i = 0; i < len; i++) n += s[i] == '\n';
    return n;
}

/* The bytes of byte-tokenizer ids (specials give none); returns the length. */
static size_t token_bytes(const int32_t *t, int n, char *out) {
    size_t k = 0;
    for (int i = 0; i < n; i++)
        if (t[i] < 256) out[k++] = (char)t[i];
    return k;
}

static void expect_error_in(const char *args, const char *input, const char *phrase) {
    cli_expect_error(run_in(args, input), args, phrase);
}
static void expect_error(const char *args, const char *phrase) { expect_error_in(args, NULL, phrase); }

/* ---------------------------------------------------------------- JSON output */

typedef struct {
    int ok;
    int32_t tokens[4096];
    int n_tokens;
    char text[16384];
    char reason[16];
    long long pos, prompt_tokens, generated;
} gen_out;

/* Parses one JSON object of `generate --json`; checks the keys. */
static gen_out parse_gen(const char *line, size_t len, int batch) {
    gen_out g;
    memset(&g, 0, sizeof g);
    json_doc *doc = NULL;
    char err[256];
    /* "\u0000" is valid JSON (a NUL byte of the text) that our strict parser refuses (its
     * strings are C strings): read it as U+FFFD, in every output alike */
    char *copy = malloc(len + 1);
    memcpy(copy, line, len);
    copy[len] = 0;
    for (char *q = copy; (q = strstr(q, "\\u0000"));) memcpy(q, "\\ufffd", 6);
    retnet_status ps = json_parse(copy, (int64_t)len, &doc, err, sizeof err);
    free(copy);
    if (ps != RETNET_OK) {
        CHECK(0, "output is not JSON (%s): %.300s", err, line);
        return g;
    }
    const json_value *r = json_root(doc);
    const char *keys_single[] = {"prompt_tokens", "generated_tokens", "prefill_tokens_per_s",
                                 "decode_tokens_per_s", "state_bytes", "stop_reason", "pos",
                                 "tokens", "text"};
    const char *keys_batch[] = {"index", "prompt_tokens", "generated_tokens", "stop_reason",
                                "pos", "tokens", "text"};
    const char **keys = batch ? keys_batch : keys_single;
    int nk = batch ? 7 : 9;
    g.ok = 1;
    for (int i = 0; i < nk; i++)
        if (!json_get(r, keys[i])) {
            CHECK(0, "JSON output lacks \"%s\": %.300s", keys[i], line);
            g.ok = 0;
        }
    if (!g.ok) {
        json_free(doc);
        return g;
    }
    const json_value *t = json_get(r, "tokens");
    for (const json_value *e = t->child; e && g.n_tokens < 4096; e = e->next)
        g.tokens[g.n_tokens++] = (int32_t)e->inum;
    snprintf(g.text, sizeof g.text, "%s", json_get(r, "text")->str);
    snprintf(g.reason, sizeof g.reason, "%s", json_get(r, "stop_reason")->str);
    g.pos = json_get(r, "pos")->inum;
    g.prompt_tokens = json_get(r, "prompt_tokens")->inum;
    g.generated = json_get(r, "generated_tokens")->inum;
    CHECK(g.generated == g.n_tokens, "generated_tokens %lld but %d tokens", g.generated,
          g.n_tokens);
    json_free(doc);
    return g;
}

/* `retnet generate ARGS --json`, parsed (ok = 0 on any failure). */
static gen_out gen(const char *args) {
    char a[8192];
    snprintf(a, sizeof a, "generate %s --json", args);
    result r = run(a);
    gen_out g;
    memset(&g, 0, sizeof g);
    CHECK(r.status == 0, "'retnet %s' failed (%d): %s", a, r.status, r.err);
    if (r.status == 0) {
        CHECK(count_lines(r.out) == 1, "'retnet %s': want one JSON line, got:\n%s", a, r.out);
        g = parse_gen(r.out, strlen(r.out), 0);
    }
    result_free(&r);
    return g;
}

static int same_tokens(const gen_out *a, const gen_out *b) {
    return a->ok && b->ok && a->n_tokens == b->n_tokens &&
           !memcmp(a->tokens, b->tokens, sizeof(int32_t) * (size_t)a->n_tokens);
}

static void print_tokens(const char *what, const gen_out *g) {
    fprintf(stderr, "    %s (%d):", what, g->n_tokens);
    for (int i = 0; i < g->n_tokens; i++) fprintf(stderr, " %d", g->tokens[i]);
    fprintf(stderr, "\n");
}

/* ---------------------------------------------------------------- library */

static retnet_model *load(const char *path) {
    retnet_model *m = NULL;
    if (retnet_model_load(path, NULL, &m) != RETNET_OK)
        fprintf(stderr, "cannot load %s: %s\n", path, retnet_errmsg());
    return m;
}

static void test_xxh64(void) {
    struct { const char *s; uint64_t want; } v[] = {
        {"", 0xef46db3751d8e999ull},
        {"a", 0xd24ec4f1a98c6e5bull},
        {"abc", 0x44bc2cf5ad770999ull},
        {"Nobody inspects the spammish repetition", 0xfbcea83c8a378bf1ull},
    };
    for (int i = 0; i < 4; i++) {
        uint64_t h = retnet_xxh64(v[i].s, strlen(v[i].s), 0);
        CHECK(h == v[i].want, "XXH64(\"%s\") = %016llx, want %016llx", v[i].s,
              (unsigned long long)h, (unsigned long long)v[i].want);
    }
    retnet_model *m = load(model), *o = load(model_other);
    if (!m || !o) { CHECK(0, "models"); return; }
    uint64_t a = 0, b = 0, a2 = 0;
    CHECK(retnet_model_fingerprint(m, &a) == RETNET_OK && retnet_model_fingerprint(m, &a2) == RETNET_OK &&
          retnet_model_fingerprint(o, &b) == RETNET_OK, "fingerprint: %s", retnet_errmsg());
    CHECK(a == a2 && a != b, "fingerprints: %016llx %016llx %016llx", (unsigned long long)a,
          (unsigned long long)a2, (unsigned long long)b);
    /* one parameter changed by one ulp changes it */
    float *p = retnet_model_params(m);
    p[12345] = nextafterf(p[12345], 1.0f);
    CHECK(retnet_model_fingerprint(m, &a2) == RETNET_OK && a2 != a, "one ulp: same fingerprint");
    retnet_model_free(m);
    retnet_model_free(o);
}

/* Greedy decoding as generate does it (chunkwise prefill of all but the last prompt token,
 * the last and every new token through the recurrent form); at every step the chosen token
 * must be the argmax of the parallel form run over the whole sequence so far. Returns the
 * number of tokens generated into out (stops at eos = 257). */
static int greedy_checked(retnet_model *m, const int32_t *prompt, int T, int n, int32_t *out) {
    const retnet_config *c = retnet_model_config(m);
    const int V = c->vocab;
    int32_t *seqv = malloc(sizeof(int32_t) * (size_t)(T + n));
    float *lg = malloc(sizeof(float) * (size_t)V);
    float *par = malloc(sizeof(float) * (size_t)(T + n) * V);
    retnet_state st = {0, malloc(sizeof(float) * (size_t)retnet_state_floats(c))};
    retnet_state_reset(c, &st);
    memcpy(seqv, prompt, sizeof(int32_t) * (size_t)T);
    if (T > 1) CHECK(retnet_forward(m, seqv, 1, T - 1, RETNET_FORM_CHUNKWISE, 0, &st, NULL) == RETNET_OK, "prefill");
    CHECK(retnet_forward(m, seqv + T - 1, 1, 1, RETNET_FORM_RECURRENT, 0, &st, lg) == RETNET_OK, "last");
    int len = T, k = 0, ties = 0;
    for (; k < n; k++) {
        int32_t best = 0;
        for (int v = 1; v < V; v++) if (lg[v] > lg[best]) best = v;
        CHECK(retnet_forward(m, seqv, 1, len, RETNET_FORM_PARALLEL, 0, NULL, par) == RETNET_OK, "parallel");
        const float *row = par + (size_t)(len - 1) * V;
        int32_t pbest = 0;
        for (int v = 1; v < V; v++) if (row[v] > row[pbest]) pbest = v;
        if (best != pbest) {
            ties++;
            CHECK(fabsf(row[best] - row[pbest]) < 1e-4f,
                  "step %d: recurrent chose %d, parallel's argmax is %d (logits %g vs %g)", k,
                  best, pbest, row[best], row[pbest]);
        }
        float md = 0;
        for (int v = 0; v < V; v++) md = fmaxf(md, fabsf(row[v] - lg[v]));
        CHECK(md < 1e-4f, "step %d: recurrent and parallel logits differ by %g", k, md);
        out[k] = best;
        if (best == 257) break;
        seqv[len++] = best;
        CHECK(retnet_forward(m, &best, 1, 1, RETNET_FORM_RECURRENT, 0, &st, lg) == RETNET_OK, "decode");
    }
    if (ties) fprintf(stderr, "    (%d near-ties between the forms' argmax)\n", ties);
    free(seqv);
    free(lg);
    free(par);
    free(st.data);
    return k < n ? k + 1 : n;
}

static void test_greedy_equals_parallel(void) {
    retnet_model *m = load(model);
    if (!m) { CHECK(0, "model"); return; }
    const char *p = "Hi there, ";
    int32_t prompt[32];
    int T = 0;
    prompt[T++] = 256; /* <bos> */
    for (const char *q = p; *q; q++) prompt[T++] = (unsigned char)*q;
    int32_t out[64];
    int n = greedy_checked(m, prompt, T, 40, out);
    int distinct = 0;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++) seen |= out[j] == out[i];
        distinct += !seen;
    }
    CHECK(distinct >= 3, "greedy decoding of the perturbed model gives only %d distinct tokens", distinct);
    /* the CLI's greedy tokens are exactly these */
    char a[2048];
    snprintf(a, sizeof a, "--model %s --prompt '%s' -n 40 --temperature 0", model, p);
    gen_out g = gen(a);
    int want = n;
    if (n > 0 && out[n - 1] == 257) want = n - 1; /* eos is not a generated token */
    CHECK(g.ok && g.n_tokens == want && !memcmp(g.tokens, out, sizeof(int32_t) * (size_t)want),
          "CLI greedy tokens differ from the library's (%d vs %d tokens)", g.n_tokens, want);
    CHECK(g.prompt_tokens == T, "prompt_tokens %lld, want %d (<bos> + the bytes)", g.prompt_tokens, T);
    /* an empty prompt starts from <bos> alone; temperature 0 ignores the seed */
    snprintf(a, sizeof a, "--model %s --prompt '' -n 10 --temperature 0 --seed 3", model);
    gen_out e1 = gen(a);
    snprintf(a, sizeof a, "--model %s --prompt '' -n 10 --temperature 0 --seed 4", model);
    gen_out e2 = gen(a);
    CHECK(e1.ok && e1.prompt_tokens == 1 && same_tokens(&e1, &e2), "empty prompt, greedy");
    int32_t bos = 256;
    int n2 = greedy_checked(m, &bos, 1, 10, out);
    CHECK(e1.ok && e1.n_tokens <= n2 && !memcmp(e1.tokens, out, sizeof(int32_t) * (size_t)e1.n_tokens),
          "empty prompt: CLI and library greedy differ");
    retnet_model_free(m);
}

static void test_state_file_library(void) {
    retnet_model *m = load(model), *other = load(model_other), *v300 = load(model_v300);
    if (!m || !other || !v300) { CHECK(0, "models"); return; }
    const retnet_config *c = retnet_model_config(m);
    int64_t sf = retnet_state_floats(c);
    retnet_state st = {0, malloc(sizeof(float) * (size_t)sf)};
    retnet_state back = {0, malloc(sizeof(float) * (size_t)sf)};
    retnet_state_reset(c, &st);
    int32_t toks[20];
    for (int i = 0; i < 20; i++) toks[i] = (i * 37 + 11) % 256;
    CHECK(retnet_forward(m, toks, 1, 20, RETNET_FORM_CHUNKWISE, 7, &st, NULL) == RETNET_OK, "forward");
    char path[600], trunc[600];
    snprintf(path, sizeof path, "%s/lib.state", tmp);
    int32_t last = 42, got = -7;
    CHECK(retnet_state_save_ex(path, m, &st, &last, "{\"k\": 1}") == RETNET_OK, "save: %s", retnet_errmsg());
    char extra[64] = "";
    retnet_state_reset(c, &back);
    CHECK(retnet_state_load_ex(path, m, &back, &got, extra, sizeof extra) == RETNET_OK, "load: %s", retnet_errmsg());
    CHECK(back.pos == 20 && got == 42 && !memcmp(back.data, st.data, sizeof(float) * (size_t)sf) &&
          !strcmp(extra, "{\"k\": 1}"), "round trip: pos %lld last %d extra '%s'", (long long)back.pos, got, extra);
    /* a saved sampler value out of its range is refused by the CLI (it was replaced by the
     * default without a word), unless the command line gives that value; an RNG state with
     * a sign is refused too */
    static const struct { const char *extra, *phrase, *fix; } bad_sampler[] = {
        {"{\"temperature\": -1}", "bad saved temperature", "--temperature 0"},
        {"{\"top_k\": -5}", "bad saved top_k", "--top-k 0"},
        {"{\"top_p\": 5}", "bad saved top_p", "--top-p 1"},
        {"{\"rng\": \"-1\"}", "bad saved RNG state", "--seed 1"},
    };
    for (size_t i = 0; i < sizeof bad_sampler / sizeof bad_sampler[0]; i++) {
        CHECK(retnet_state_save_ex(path, m, &st, &last, bad_sampler[i].extra) == RETNET_OK,
              "save: %s", retnet_errmsg());
        char a[2048];
        snprintf(a, sizeof a, "generate --model %s --load-state %s -n 2", model, path);
        expect_error(a, bad_sampler[i].phrase);
        snprintf(a, sizeof a, "generate --model %s --load-state %s -n 2 %s", model, path,
                 bad_sampler[i].fix);
        result r = run(a);
        CHECK(r.status == 0, "'retnet %s' (the command line's value wins): %s", a, r.err);
        result_free(&r);
    }
    /* the plain pair, with no last token */
    CHECK(retnet_state_save(path, m, &st, NULL) == RETNET_OK, "save: %s", retnet_errmsg());
    CHECK(retnet_state_load(path, m, &back, &got) == RETNET_OK && got == -1, "no last token: %d", got);
    /* another model: same config, other weights; another config */
    retnet_state_reset(c, &back);
    retnet_status s = retnet_state_load(path, other, &back, &got);
    CHECK(s == RETNET_EINVAL && strstr(retnet_errmsg(), "different model") &&
          strstr(retnet_errmsg(), "fingerprint"), "other weights: %s %s", retnet_status_name(s), retnet_errmsg());
    CHECK(back.pos == 0, "a refused load changed the state");
    float *big = malloc(sizeof(float) * (size_t)retnet_state_floats(retnet_model_config(v300)));
    retnet_state b3 = {0, big};
    s = retnet_state_load(path, v300, &b3, NULL);
    /* the message names the first key that differs, with both values */
    char vwant[96];
    snprintf(vwant, sizeof vwant, "its \"vocab\" is %d, the model's %d", c->vocab,
             retnet_model_config(v300)->vocab);
    CHECK(s == RETNET_EINVAL && strstr(retnet_errmsg(), "different model") &&
          strstr(retnet_errmsg(), vwant), "other config: %s %s (want '%s')",
          retnet_status_name(s), retnet_errmsg(), vwant);
    free(big);
    /* a model checkpoint is not a state */
    s = retnet_state_load(model, m, &back, NULL);
    CHECK(s == RETNET_EFORMAT && strstr(retnet_errmsg(), "not a retnet state"), "checkpoint as a state: %s", retnet_errmsg());
    /* every truncation is refused, and leaves the state as it was */
    size_t len;
    char *bytes = test_slurp(path, &len);
    snprintf(trunc, sizeof trunc, "%s/trunc.state", tmp);
    int refused = 0, tried = 0;
    for (size_t cut = 0; bytes && cut < len; cut += (cut < 64 ? 1 : 97)) {
        FILE *f = fopen(trunc, "wb");
        fwrite(bytes, 1, cut, f);
        fclose(f);
        retnet_state_reset(c, &back);
        back.pos = 5;
        tried++;
        s = retnet_state_load(trunc, m, &back, NULL);
        refused += s != RETNET_OK && back.pos == 5 && strlen(retnet_errmsg()) > 0;
    }
    CHECK(tried > 100 && refused == tried, "truncated states: %d of %d refused", refused, tried);
    /* a byte flipped in the data still loads (the values are not checked), one in the
     * metadata is refused or loads the same; never a crash */
    free(bytes);
    /* bad arguments */
    CHECK(retnet_state_save(path, m, NULL, NULL) == RETNET_EINVAL, "NULL state");
    int32_t bad = c->vocab;
    CHECK(retnet_state_save(path, m, &st, &bad) == RETNET_EINVAL, "last token out of range");
    snprintf(trunc, sizeof trunc, "%s/no-such-dir/x.state", tmp);
    CHECK(retnet_state_save(trunc, m, &st, NULL) != RETNET_OK, "unwritable path");
    CHECK(retnet_state_load_ex(path, m, &back, NULL, extra, 2) == RETNET_EFORMAT, "extra longer than cap");
    free(st.data);
    free(back.data);
    retnet_model_free(m);
    retnet_model_free(other);
    retnet_model_free(v300);
}

/* A Transformer's state is its KV cache (n_layer x context x (d_key + d_value) floats): the
 * state file holds all of it (a key and a value tensor a layer), round trip bit for bit, and a
 * step from the loaded state gives the logits of a step from the saved one. (It had used
 * RetNet's layout for every model: a Transformer's save read past its state's end.) */
static void test_state_file_transformer(void) {
    retnet_config c;
    retnet_model *m = NULL;
    CHECK(retnet_config_preset("tf-tiny", &c) == RETNET_OK, "tf-tiny preset");
    c.context = 24;
    CHECK(retnet_model_create(&c, &m) == RETNET_OK && m, "tf model: %s", retnet_errmsg());
    if (!m) return;
    CHECK(retnet_model_init(m, 3) == RETNET_OK, "init");
    const int64_t sf = retnet_state_floats(&c);
    retnet_state st = {0, calloc((size_t)sf, sizeof(float))};
    retnet_state back = {0, calloc((size_t)sf, sizeof(float))};
    int32_t toks[7] = {3, 1, 4, 1, 5, 9, 2}, next = 6;
    CHECK(retnet_forward(m, toks, 1, 7, RETNET_FORM_CHUNKWISE, 0, &st, NULL) == RETNET_OK,
          "forward: %s", retnet_errmsg());
    char path[600];
    snprintf(path, sizeof path, "%s/tf.state", tmp);
    CHECK(retnet_state_save(path, m, &st, NULL) == RETNET_OK, "tf save: %s", retnet_errmsg());
    CHECK(retnet_state_load(path, m, &back, NULL) == RETNET_OK, "tf load: %s", retnet_errmsg());
    CHECK(back.pos == 7 && !memcmp(back.data, st.data, sizeof(float) * (size_t)sf),
          "tf round trip: pos %lld", (long long)back.pos);
    float *l1 = malloc(sizeof(float) * (size_t)c.vocab), *l2 = malloc(sizeof(float) * (size_t)c.vocab);
    CHECK(retnet_forward(m, &next, 1, 1, RETNET_FORM_RECURRENT, 0, &st, l1) == RETNET_OK &&
          retnet_forward(m, &next, 1, 1, RETNET_FORM_RECURRENT, 0, &back, l2) == RETNET_OK &&
          !memcmp(l1, l2, sizeof(float) * (size_t)c.vocab), "tf step from the loaded state");
    free(l1), free(l2), free(st.data), free(back.data);
    retnet_model_free(m);
}

/* retnet_sample where there is no token to give: a NaN logit, every logit -inf, V < 1:
 * -1 (it had returned the last id, or read before its scratch); a +inf logit is chosen, at any
 * temperature. And a batch forward with a bad token anywhere (here the last of a prefill) is
 * refused before any token runs: states and positions as they were. */
static void test_sample_and_batch_edges(void) {
    float work[16];
    uint64_t rng = 1;
    const float nan_row[4] = {1, NAN, 5, 2}, inf_row[4] = {1, INFINITY, 5, 2};
    const float none[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    CHECK(retnet_sample(nan_row, 4, 1.0f, 0, 1.0f, &rng, work) == -1, "a NaN logit sampled");
    CHECK(retnet_sample(nan_row, 4, 0.0f, 0, 1.0f, &rng, work) == -1, "a NaN logit, greedy");
    CHECK(retnet_sample(none, 4, 1.0f, 0, 1.0f, &rng, work) == -1, "all -inf sampled");
    CHECK(retnet_sample(inf_row, 0, 1.0f, 0, 1.0f, &rng, work) == -1, "V = 0 sampled");
    CHECK(retnet_sample(inf_row, 4, 1.0f, 2, 0.5f, &rng, work) == 1, "+inf not chosen (T 1)");
    CHECK(retnet_sample(inf_row, 4, 0.0f, 0, 1.0f, &rng, work) == 1, "+inf not chosen (greedy)");
    retnet_model *m = load(model);
    if (!m) { CHECK(0, "model"); return; }
    const retnet_config *c = retnet_model_config(m);
    retnet_batch *b = NULL;
    CHECK(retnet_batch_create(m, 2, &b) == RETNET_OK && b, "batch: %s", retnet_errmsg());
    if (b) {
        int32_t first[2] = {5, 6}, bad[8] = {1, 2, 3, 4, 5, 6, 7, c->vocab};
        CHECK(retnet_batch_forward(b, first, 1, NULL) == RETNET_OK, "a step: %s", retnet_errmsg());
        const int64_t sf = retnet_state_floats(c);
        float *before = malloc(sizeof(float) * (size_t)sf), *after = malloc(sizeof(float) * (size_t)sf);
        retnet_state s0 = {0, before}, s1 = {0, after};
        retnet_batch_get(b, 0, &s0);
        const retnet_status st = retnet_batch_forward(b, bad, 4, NULL);
        CHECK(st == RETNET_EINVAL && strstr(retnet_errmsg(), "sequence 1 at position 3"),
              "a bad last token: %s (%s)", retnet_status_name(st), retnet_errmsg());
        retnet_batch_get(b, 0, &s1);
        CHECK(s1.pos == s0.pos && !memcmp(before, after, sizeof(float) * (size_t)sf),
              "the refused forward moved sequence 0 (pos %lld -> %lld)", (long long)s0.pos,
              (long long)s1.pos);
        free(before), free(after);
    }
    retnet_batch_free(b);
    retnet_model_free(m);
}

/* ---------------------------------------------------------------- CLI */

static void test_seeded_sampling(void) {
    char a[2048];
    snprintf(a, sizeof a, "--model %s --prompt 'Once upon' -n 40 --seed 7 --temperature 1 --top-k 50 --top-p 0.9", model);
    gen_out x = gen(a), y = gen(a);
    CHECK(x.ok && x.n_tokens > 5 && same_tokens(&x, &y) && !strcmp(x.text, y.text), "two seeded runs differ");
    snprintf(a, sizeof a, "--model %s --prompt 'Once upon' -n 40 --seed 8 --temperature 1 --top-k 50 --top-p 0.9", model);
    gen_out z = gen(a);
    CHECK(z.ok && !same_tokens(&x, &z), "seeds 7 and 8 give the same tokens");
    /* the streamed bytes are those of the tokens (byte tokenizer: ids below 256 are bytes,
     * specials give none), and the summary is one stderr line */
    snprintf(a, sizeof a, "generate --model %s --prompt 'Once upon' -n 40 --seed 7 --temperature 1 --top-k 50 --top-p 0.9", model);
    result r = run(a);
    char want[4096];
    size_t wn = token_bytes(x.tokens, x.n_tokens, want);
    CHECK(r.status == 0 && r.out_len == wn && !memcmp(r.out, want, wn),
          "streamed bytes (%zu) differ from the tokens' (%zu)", r.out_len, wn);
    CHECK(count_lines(r.err) == 1 && strstr(r.err, "prefill") && strstr(r.err, "decode") &&
          strstr(r.err, "bytes per sequence"), "summary: %s", r.err);
    result_free(&r);
    /* a stop string ends the text before it (streamed: the bytes before it, exactly) */
    char raw[4096];
    size_t rn = x.ok ? token_bytes(x.tokens, x.n_tokens, raw) : 0;
    /* two printable bytes in a row if there are (the stream must hold back a partial
     * match), else one */
    int at = -1, sl = 2;
    for (sl = 2; sl >= 1 && at < 0; sl--)
        for (size_t i = 3; i + sl <= rn && at < 0; i++) {
            int ok = 1;
            for (int j = 0; j < sl; j++)
                ok &= raw[i + j] > ' ' && raw[i + j] < 127 && raw[i + j] != '\'' && raw[i + j] != '\\';
            if (ok) at = (int)i;
        }
    sl++;
    CHECK(at >= 0, "no printable byte to stop at: cannot test --stop");
    if (at >= 0) {
        char stop[3] = {raw[at], sl == 2 ? raw[at + 1] : 0, 0};
        const char *first = memmem(raw, rn, stop, (size_t)sl);
        size_t p = (size_t)(first - raw);
        /* the token that completes the first match: the one of its last byte */
        int k = 0;
        for (size_t seen = 0; k < x.n_tokens; k++) {
            seen += x.tokens[k] < 256;
            if (seen == p + (size_t)sl) break;
        }
        snprintf(a, sizeof a, "--model %s --prompt 'Once upon' -n 40 --seed 7 --temperature 1 --top-k 50 --top-p 0.9 --stop '%s'", model, stop);
        gen_out g = gen(a);
        CHECK(g.ok && !strcmp(g.reason, "stop") && g.n_tokens == k + 1 &&
                  !memcmp(g.tokens, x.tokens, sizeof(int32_t) * (size_t)(k + 1)),
              "--stop '%s': %d tokens (%s), want %d", stop, g.n_tokens, g.reason, k + 1);
        snprintf(a, sizeof a, "generate --model %s --prompt 'Once upon' -n 40 --seed 7 --temperature 1 --top-k 50 --top-p 0.9 --stop '%s'", model, stop);
        result rs = run(a);
        CHECK(rs.status == 0 && rs.out_len == p && !memcmp(rs.out, raw, p),
              "--stop '%s': streamed %zu bytes, want the %zu before it", stop, rs.out_len, p);
        result_free(&rs);
    }
}

/* Writes lines to DIR/name; returns the path in buf. */
static const char *write_file(const char *name, const char *text, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", tmp, name);
    FILE *f = fopen(buf, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return buf;
}

static void batch_case(const char *opts) {
    const char *prompts[5] = {"To be", "", "or not to be, that is the question:", "x",
                              "Whether 'tis nobler in the mind to suffer"};
    char file[600], a[4096];
    write_file("prompts.txt",
               "To be\n\nor not to be, that is the question:\r\nx\nWhether 'tis nobler in the mind to suffer\n",
               file, sizeof file);
    snprintf(a, sizeof a, "generate --model %s --prompts-file %s --seed 11 %s --json", model, file, opts);
    result r = run(a);
    CHECK(r.status == 0 && count_lines(r.out) == 5, "batch (%s): status %d, %d lines: %s%s", opts,
          r.status, count_lines(r.out), r.out, r.err);
    if (r.status != 0) { result_free(&r); return; }
    char *line = r.out;
    for (int i = 0; i < 5 && line && *line; i++) {
        char *nl = strchr(line, '\n');
        gen_out b = parse_gen(line, nl ? (size_t)(nl - line) : strlen(line), 1);
        char one[4096];
        snprintf(one, sizeof one, "--model %s --prompt %s%s%s --seed %d %s", model,
                 strchr(prompts[i], '\'') ? "\"" : "'", prompts[i],
                 strchr(prompts[i], '\'') ? "\"" : "'", 11 + i, opts);
        gen_out s = gen(one);
        CHECK(same_tokens(&b, &s) && !strcmp(b.text, s.text) && b.pos == s.pos &&
                  b.prompt_tokens == s.prompt_tokens && !strcmp(b.reason, s.reason),
              "batch (%s) member %d differs from its single run", opts, i);
        if (!same_tokens(&b, &s)) { print_tokens("batch ", &b); print_tokens("single", &s); }
        line = nl ? nl + 1 : NULL;
    }
    result_free(&r);
}

static void test_batch_equals_single(void) {
    batch_case("-n 24 --temperature 0.9 --top-k 100 --top-p 0.95");
    batch_case("-n 30 --temperature 1 --stop e");   /* members finish at different steps */
    batch_case("-n 16 --temperature 0");
    batch_case("-n 12 --temperature 0.7 --bf16");
    /* the text form: every line prefixed "[i] " */
    char file[600], a[4096];
    write_file("prompts2.txt", "ab\ncd\n", file, sizeof file);
    snprintf(a, sizeof a, "generate --model %s --prompts-file %s -n 8", model, file);
    result r = run(a);
    CHECK(r.status == 0 && !strncmp(r.out, "[0] ", 4) && strstr(r.out, "\n[1] ") &&
              count_lines(r.err) == 1 && strstr(r.err, "batch of 2"),
          "batch text: %s%s", r.out, r.err);
    result_free(&r);
}

static void test_state_continuation(void) {
    char a[4096], s1[600], s2[600];
    snprintf(s1, sizeof s1, "%s/s1.state", tmp);
    snprintf(s2, sizeof s2, "%s/s2.state", tmp);
    const char *samp = "--temperature 0.9 --top-k 60 --top-p 0.95 --seed 5";
    snprintf(a, sizeof a, "--model %s --prompt 'The ' -n 30 %s", model, samp);
    gen_out full = gen(a);
    snprintf(a, sizeof a, "--model %s --prompt 'The ' -n 12 %s --save-state %s", model, samp, s1);
    gen_out p1 = gen(a);
    /* the sampler comes from the state: none given here */
    snprintf(a, sizeof a, "--model %s --load-state %s -n 18", model, s1);
    gen_out p2 = gen(a);
    gen_out cat = p1;
    for (int i = 0; i < p2.n_tokens && cat.n_tokens < 4096; i++) cat.tokens[cat.n_tokens++] = p2.tokens[i];
    cat.ok = p1.ok && p2.ok;
    CHECK(!strcmp(p1.reason, "length") && same_tokens(&cat, &full) && p2.pos == full.pos,
          "12 + 18 tokens through a saved state differ from 30 at once");
    if (!same_tokens(&cat, &full)) { print_tokens("full", &full); print_tokens("12+18", &cat); }
    CHECK(p2.prompt_tokens == 1, "a continuation prefills the pending token only (%lld)", p2.prompt_tokens);
    /* three pieces with bf16 decoding (kept in the state), against one run */
    const char *s3 = "--temperature 1.1 --seed 9 --bf16";
    snprintf(a, sizeof a, "--model %s --prompt 'Be' -n 30 %s", model, s3);
    gen_out f3 = gen(a);
    snprintf(a, sizeof a, "--model %s --prompt 'Be' -n 10 %s --save-state %s", model, s3, s1);
    gen_out q1 = gen(a);
    snprintf(a, sizeof a, "--model %s --load-state %s -n 10 --save-state %s", model, s1, s2);
    gen_out q2 = gen(a);
    snprintf(a, sizeof a, "--model %s --load-state %s -n 10", model, s2);
    gen_out q3 = gen(a);
    gen_out c3 = q1;
    for (int i = 0; i < q2.n_tokens; i++) c3.tokens[c3.n_tokens++] = q2.tokens[i];
    for (int i = 0; i < q3.n_tokens; i++) c3.tokens[c3.n_tokens++] = q3.tokens[i];
    c3.ok = q1.ok && q2.ok && q3.ok;
    CHECK(same_tokens(&c3, &f3), "10 + 10 + 10 tokens (bf16) differ from 30 at once");
    if (!same_tokens(&c3, &f3)) { print_tokens("full", &f3); print_tokens("10+10+10", &c3); }
    /* a prompt appended to a loaded state: prefilled from it */
    snprintf(a, sizeof a, "--model %s --load-state %s --prompt 'abc' -n 5 --temperature 0", model, s1);
    gen_out pa = gen(a);
    CHECK(pa.ok && pa.prompt_tokens == 4 && pa.pos == q1.pos + 4 + pa.n_tokens - 1,
          "--load-state --prompt: prompt_tokens %lld, pos %lld (state at %lld)", pa.prompt_tokens,
          pa.pos, q1.pos);
}

static void test_chat(void) {
    char a[4096], st[600];
    snprintf(st, sizeof st, "%s/chat.state", tmp);
    snprintf(a, sizeof a, "chat --model %s --temperature 0 -n 15", model);
    result r = run_in(a, "hello\nhow are you\n");
    CHECK(r.status == 0 && count_lines_n(r.out, r.out_len) == 2, "chat: status %d, out:\n%s%s",
          r.status, r.out, r.err);
    char reply1[256], reply2[256];
    size_t n1 = 0, n2 = 0;
    if (r.status == 0 && count_lines_n(r.out, r.out_len) == 2 && r.out_len < 256) {
        const char *nl = memchr(r.out, '\n', r.out_len);
        n1 = (size_t)(nl - r.out);
        memcpy(reply1, r.out, n1);
        n2 = r.out_len - n1 - 1;
        memcpy(reply2, nl + 1, n2);
    }
    result_free(&r);
    /* the first reply is generate's for "hello\n", up to a newline (streamed bytes) */
    snprintf(a, sizeof a, "generate --model %s --prompt 'hello\n' -n 15 --temperature 0 --stop '\\n'", model);
    r = run(a);
    CHECK(r.status == 0 && r.out_len == n1 && !memcmp(r.out, reply1, n1),
          "chat's first reply differs from generate's");
    result_free(&r);
    /* saved after one turn and resumed in another process: the same second reply */
    snprintf(a, sizeof a, "chat --model %s --temperature 0 -n 15 --save-state %s", model, st);
    r = run_in(a, "hello\n");
    CHECK(r.status == 0 && r.out_len == n1 + 1 && !memcmp(r.out, reply1, n1), "chat 1: %s", r.err);
    result_free(&r);
    snprintf(a, sizeof a, "chat --model %s -n 15 --load-state %s", model, st);
    r = run_in(a, "how are you\n");
    CHECK(r.status == 0 && r.out_len == n2 && !memcmp(r.out, reply2, n2),
          "resumed chat's reply differs from the uninterrupted chat's: %s", r.err);
    result_free(&r);
    /* sampling chat runs and ends at EOF (a last line without a newline included) */
    snprintf(a, sizeof a, "chat --model %s -n 5 --seed 3", model);
    r = run_in(a, "a\nb\nc");
    CHECK(r.status == 0 && count_lines_n(r.out, r.out_len) == 3, "sampling chat: %s", r.err);
    result_free(&r);
}

/* A Transformer whose KV cache fills during generate stops there (stop_reason "context") and
 * prints what it made, one prompt or a file of them, and saves its state (it had exited 1 with
 * nothing printed and no state written). */
static void test_context_stop(void) {
    char tf[600], st[600], pf[600];
    snprintf(tf, sizeof tf, "%s/tfctx.safetensors", tmp);
    snprintf(st, sizeof st, "%s/tfctx.state", tmp);
    snprintf(pf, sizeof pf, "%s/tfctx-prompts.txt", tmp);
    char a[2048];
    snprintf(a, sizeof a, "init --preset tf-tiny --seed 3 --out %s", tf);
    result r = run(a);
    CHECK(r.status == 0, "init tf-tiny: %s", r.err);
    result_free(&r);
    snprintf(a, sizeof a, "generate --model %s --prompt hi --context 10 -n 50 --json --save-state %s",
             tf, st);
    r = run(a);
    CHECK(r.status == 0 && strstr(r.out, "\"stop_reason\": \"context\"") && strstr(r.out, "\"pos\": 10"),
          "one prompt: rc %d, out %s, err %s", r.status, r.out, r.err);
    struct stat sb;
    CHECK(stat(st, &sb) == 0 && sb.st_size > 0, "no state written at the context's end");
    result_free(&r);
    FILE *f = fopen(pf, "w");
    if (f) fputs("hi\nthere\n", f), fclose(f);
    snprintf(a, sizeof a, "generate --model %s --prompts-file %s --context 10 -n 50 --json", tf, pf);
    r = run(a);
    CHECK(r.status == 0 && count_lines(r.out) == 2 && strstr(r.out, "\"context\""),
          "prompts file: rc %d, out %s, err %s", r.status, r.out, r.err);
    result_free(&r);
    /* a prompt of the batch past the context is named by its line (the library's message
     * counts the one sequence it was given: it said "sequence 0" for the third line) */
    f = fopen(pf, "w");
    if (f) fputs("ab\nab\nabcdefghijklmnop\n", f), fclose(f);
    snprintf(a, sizeof a, "generate --model %s --prompts-file %s --context 10 -n 5", tf, pf);
    char want[700];
    snprintf(want, sizeof want, "%s line 3:", pf);
    expect_error(a, want);
    /* a context whose KV cache exceeds the memory available is refused with a message, not
     * left to the kernel's OOM killer (where the machine has less than it would need) */
    retnet_config tc;
    CHECK(retnet_config_preset("tf-tiny", &tc) == RETNET_OK, "tf-tiny preset");
    tc.context = 1 << 24;
    const double need = 8.0 * (double)retnet_state_floats(&tc);
    double avail = -1, kb;
    char line[256];
    FILE *mi = fopen("/proc/meminfo", "r");
    while (mi && fgets(line, sizeof line, mi))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) avail = kb * 1024;
    if (mi) fclose(mi);
    if (avail > 0 && avail < need) {
        snprintf(a, sizeof a, "generate --model %s --prompt a --context %d", tf, 1 << 24);
        expect_error(a, "more than the");
    } else {
        fprintf(stderr, "     (the KV-cache check skipped: %.1f GB available, %.1f GB asked)\n",
                avail / 1e9, need / 1e9);
    }
    /* a line with a NUL byte is taken whole, as --prompt-file takes it: BOS + 5 bytes */
    f = fopen(pf, "wb");
    if (f) fwrite("ab\0cd\n", 1, 6, f), fclose(f);
    snprintf(a, sizeof a, "generate --model %s --prompts-file %s -n 1 --json", model, pf);
    r = run(a);
    CHECK(r.status == 0 && strstr(r.out, "\"prompt_tokens\": 6"), "a NUL in a prompts file's "
          "line: rc %d, out %s, err %s", r.status, r.out, r.err);
    result_free(&r);
}

static void test_bad_input(void) {
    char a[4096], f[600], st[600];
    const char *M = model;
#define E(phrase, ...) do { snprintf(a, sizeof a, __VA_ARGS__); expect_error(a, phrase); } while (0)
    E("-n", "generate --model %s --prompt hi -n 0", M);
    E("-n", "generate --model %s --prompt hi -n -3", M);
    E("-n", "generate --model %s --prompt hi -n x", M);
    E("--temperature", "generate --model %s --prompt hi --temperature -1", M);
    E("--temperature", "generate --model %s --prompt hi --temperature nan", M);
    E("--top-p", "generate --model %s --prompt hi --top-p 0", M);
    E("--top-p", "generate --model %s --prompt hi --top-p 1.5", M);
    E("--top-k", "generate --model %s --prompt hi --top-k -1", M);
    E("--seed", "generate --model %s --prompt hi --seed x", M);
    E("--chunk", "generate --model %s --prompt hi --chunk 0", M);
    E("--stop", "generate --model %s --prompt hi --stop ''", M);
    E("missing --model", "generate --prompt hi");
    E("give a prompt", "generate --model %s", M);
    E("only one of", "generate --model %s --prompt a --prompt-file %s", M, M);
    E("unknown option", "generate --model %s --prompt a --frob", M);
    E("nope", "generate --model %s/nope.safetensors --prompt a", tmp);
    E("nope", "generate --model %s --prompt a --tokenizer %s/nope.bpe", M, tmp);
    E("cannot open", "generate --model %s --prompt-file %s/missing.txt", M, tmp);
    E("missing.txt", "generate --model %s --prompts-file %s/missing.txt", M, tmp);
    write_file("empty.txt", "", f, sizeof f);
    E("no prompts", "generate --model %s --prompts-file %s", M, f);
    E("one sequence", "generate --model %s --prompts-file %s --save-state %s/x", M, f, tmp);
    /* the tokenizer has more ids than the model */
    E("vocabulary is 200", "generate --model %s --prompt hi", model_v200);
    /* a vocabulary padded past the tokenizer's (300 against the byte tokenizer's 260): the
     * ids it cannot decode are never drawn, so a hot sampler runs to its end (it stopped at
     * the first such id, with an error, before) */
    snprintf(a, sizeof a, "--model %s --prompt hi -n 400 --temperature 2 --seed 3", model_v300);
    gen_out pv = gen(a);
    int32_t top = -1;
    for (int i = 0; i < pv.n_tokens; i++) top = pv.tokens[i] > top ? pv.tokens[i] : top;
    CHECK(pv.ok && (pv.generated == 400 || !strcmp(pv.reason, "eos")) && top >= 0 &&
              top < RETNET_BYTE_VOCAB,
          "a padded vocabulary: %lld tokens generated (want 400 or an <eos>; stop reason %s), "
          "largest id %d (want < %d)", pv.generated, pv.reason, top, RETNET_BYTE_VOCAB);
    /* states: truncated, of another model, not a state, absent */
    snprintf(st, sizeof st, "%s/bad.state", tmp);
    snprintf(a, sizeof a, "generate --model %s --prompt hi -n 3 --save-state %s --json", M, st);
    result r = run(a);
    CHECK(r.status == 0, "save: %s", r.err);
    result_free(&r);
    /* a state given where a model goes; a --save-state that cannot be written, refused
     * before the generation */
    E("is a decoding state (for --load-state), not a model", "info %s", st);
    E("is a decoding state", "generate --model %s --prompt hi -n 3", st);
    E("cannot write the state", "generate --model %s --prompt hi -n 3 --save-state "
      "/proc/nope/x.state", M);
    size_t len;
    char *bytes = test_slurp(st, &len);
    if (bytes) {
        char tr[600];
        snprintf(tr, sizeof tr, "%s/trunc.state", tmp);
        size_t cuts[3] = {4, len / 2, len - 1};
        for (int i = 0; i < 3; i++) {
            FILE *fp = fopen(tr, "wb");
            fwrite(bytes, 1, cuts[i], fp);
            fclose(fp);
            E("trunc.state", "generate --model %s --load-state %s -n 3", M, tr);
        }
        free(bytes);
    }
    E("different model", "generate --model %s --load-state %s -n 3", model_other, st);
    E("different model", "generate --model %s --load-state %s -n 3", model_v300, st);
    E("not a retnet state", "generate --model %s --load-state %s -n 3", M, M);
    E("nostate", "generate --model %s --load-state %s/nostate -n 3", M, tmp);
    E("gpt2", "generate --model %s --load-state %s -n 3 --tokenizer gpt2", model_v300, st);
    E("cannot", "generate --model %s --prompt hi -n 3 --save-state %s/no-dir/x.state", M, tmp);
    /* chat */
    E("missing --model", "chat");
    E("--prompt", "chat --model %s --prompt hi", M);
    E("-n", "chat --model %s -n 0", M);
    E("--top-p", "chat --model %s --top-p 2", M);
    snprintf(a, sizeof a, "chat --model %s --load-state %s/trunc.state", M, tmp);
    expect_error_in(a, "hi\n", "trunc.state");
    snprintf(a, sizeof a, "chat --model %s --temperature 2 -n 400", model_v300);
    r = run_in(a, "hi\n"); /* the padded vocabulary's ids are never drawn here either */
    CHECK(r.status == 0, "'retnet %s' (a padded vocabulary) failed: %s", a, r.err);
    result_free(&r);
    /* --help */
    r = run("generate --help");
    CHECK(r.status == 0 && strstr(r.out, "usage:"), "generate --help");
    result_free(&r);
    r = run("chat --help");
    CHECK(r.status == 0 && strstr(r.out, "usage:"), "chat --help");
    result_free(&r);
#undef E
}

static void test_json_keys(void) {
    char a[2048];
    snprintf(a, sizeof a, "generate --model %s --prompt 'q\"\\' -n 6 --json", model);
    result r = run(a);
    CHECK(r.status == 0 && count_lines(r.out) == 1, "json: %s%s", r.out, r.err);
    if (r.status == 0) {
        json_doc *doc = NULL;
        char err[256];
        CHECK(json_parse(r.out, (int64_t)strlen(r.out), &doc, err, sizeof err) == RETNET_OK,
              "not JSON (%s): %s", err, r.out);
        const json_value *root = doc ? json_root(doc) : NULL;
        const char *keys[] = {"prompt_tokens", "prefill_tokens_per_s", "decode_tokens_per_s",
                              "state_bytes", "generated_tokens", "text"};
        for (int i = 0; root && i < 6; i++)
            CHECK(json_get(root, keys[i]) != NULL, "JSON lacks %s: %s", keys[i], r.out);
        retnet_config c;
        retnet_config_preset("tiny", &c);
        const json_value *sb = root ? json_get(root, "state_bytes") : NULL;
        CHECK(sb && sb->inum == 4 * retnet_state_floats(&c), "state_bytes");
        const json_value *pt = root ? json_get(root, "prompt_tokens") : NULL;
        CHECK(pt && pt->inum == 4, "prompt_tokens of 'q\"\\' after <bos>: want 4");
        CHECK(r.err[0] == 0, "--json: nothing on stderr, got %s", r.err);
        json_free(doc);
    }
    result_free(&r);
}

/* ---------------------------------------------------------------- main */

static int make_models(void) {
    char a[2048], cfg[600];
    snprintf(model_init, sizeof model_init, "%s/init.safetensors", tmp);
    snprintf(model, sizeof model, "%s/m.safetensors", tmp);
    snprintf(model_other, sizeof model_other, "%s/other.safetensors", tmp);
    snprintf(model_v300, sizeof model_v300, "%s/v300.safetensors", tmp);
    snprintf(model_v200, sizeof model_v200, "%s/v200.safetensors", tmp);
    snprintf(a, sizeof a, "init --preset tiny --out %s --seed 3", model_init);
    result r = run(a);
    int bad = r.status;
    result_free(&r);
    /* the perturbed model: random init plus noise, so that greedy text varies */
    retnet_model *m = load(model_init);
    if (bad || !m) return 1;
    float *p = retnet_model_params(m);
    int64_t n = retnet_config_param_count(retnet_model_config(m));
    uint64_t s = 12345;
    for (int64_t i = 0; i < n; i++) p[i] += (float)(0.15 * test_rand(&s));
    bad |= retnet_model_save(m, model) != RETNET_OK;
    for (int64_t i = 0; i < n; i++) p[i] += (float)(0.01 * test_rand(&s));
    bad |= retnet_model_save(m, model_other) != RETNET_OK;
    retnet_model_free(m);
    const char *cf[2] = {"{\"vocab\": 300, \"d_model\": 64, \"n_layer\": 2, \"n_head\": 2, \"d_ffn\": 128}",
                         "{\"vocab\": 200, \"d_model\": 64, \"n_layer\": 2, \"n_head\": 2, \"d_ffn\": 128}"};
    const char *out[2] = {model_v300, model_v200};
    for (int i = 0; i < 2; i++) {
        write_file(i ? "v200.json" : "v300.json", cf[i], cfg, sizeof cfg);
        snprintf(a, sizeof a, "init --config %s --out %s", cfg, out[i]);
        r = run(a);
        bad |= r.status;
        if (r.status) fprintf(stderr, "%s\n", r.err);
        result_free(&r);
    }
    return bad;
}

int main(int argc, char **argv) {
    char self[4096];
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(retnet, sizeof retnet, "%s/../retnet", dirname(self));
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
    setenv("OMP_NUM_THREADS", "1", 1);
    snprintf(tmp, sizeof tmp, "/tmp/retnet-test-generate.XXXXXX");
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (make_models()) {
        fprintf(stderr, "cannot make the test models\n");
        return 1;
    }
    RUN(test_xxh64);
    RUN(test_greedy_equals_parallel);
    RUN(test_state_file_library);
    RUN(test_state_file_transformer);
    RUN(test_sample_and_batch_edges);
    RUN(test_seeded_sampling);
    RUN(test_batch_equals_single);
    RUN(test_state_continuation);
    RUN(test_chat);
    RUN(test_context_stop);
    RUN(test_bad_input);
    RUN(test_json_keys);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "test_generate: %.1f s\n", (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec));
    char a[512];
    snprintf(a, sizeof a, "rm -rf %s", tmp);
    if (!getenv("RETNET_TEST_KEEP") && system(a)) {}
    (void)argc;
    return TEST_SUMMARY();
}
