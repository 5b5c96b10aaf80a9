/*
 * test_eval: `retnet eval` (the binary built next to this test, ../retnet) against the library
 * run directly. Run from the repository root (the sample tasks are tests/fixtures/tasks/).
 *
 * The models are the tiny preset and the Transformer matched to it (tf-tiny), their weights
 * perturbed by noise so that the predictions are far from uniform. The reference of every
 * number is one parallel forward over the whole token sequence (states NULL), with the
 * log-softmax taken in double here. Checked:
 *   - perplexity: the nats summed over windows of 1, 7 and the whole document (the state, or
 *     the Transformer's KV cache, carried from window to window, chunk 3 and the config's)
 *     equal the one parallel forward's; --context N equals parallel forwards over disjoint
 *     segments of N inputs; --documents blank / lines and --doc-sep equal one forward per
 *     document; tokens, bytes (UTF-8 text), perplexity = exp(nats/tokens) and bits per byte =
 *     nats / ln 2 / bytes;
 *   - tasks: each choice's log-likelihood equals the sum of the log-softmax of the parallel
 *     forward over <bos> + context (right-stripped) + whitespace + choice at the choice's
 *     positions; acc, acc_norm (per byte), the predictions and the greedy flags follow from
 *     those; --shots K (the file's first K examples as demonstrations) and --fewshot-file;
 *     the sample task files all parse and score;
 *   - bad input (missing or invalid JSON lines, gold out of range, empty or too few choices,
 *     an empty text, options of the other mode, ...) is one line on stderr and a non-zero
 *     exit, never a crash.
 * Tolerances: the forms agree to float32 rounding of the logits (~1e-6 for this model, see
 * test_forms); a sum of n log-probabilities then differs by at most ~n * 1e-5, far below what a
 * lost state would change (tenths of a nat per token).
 * Children and this process run on one thread; children with ASAN_OPTIONS=detect_leaks=0.
 */
#include "json.h"
#include "retnet.h"
#include "test.h"
#include "cli_run.h"

#include <libgen.h>
#include <omp.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char retnet[4200], tmp[256], model[512], model_tf[512], text_path[512];

/* ---------------------------------------------------------------- running the CLI */

typedef cli_result result;

static result run(const char *args) { return cli_run("", retnet, args, NULL, tmp); }
static void result_free(result *r) { cli_result_free(r); }
static void expect_error(const char *args, const char *phrase) {
    cli_expect_error(run(args), args, phrase);
}

static void write_file(const char *name, const char *content, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", tmp, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(content, f);
        fclose(f);
    }
}

/* `retnet eval ARGS --json`, parsed; NULL (and a failed check) on any failure. */
static json_doc *eval_json(const char *args) {
    char a[8192];
    snprintf(a, sizeof a, "eval %s --json", args);
    result r = run(a);
    json_doc *doc = NULL;
    CHECK(r.status == 0, "'retnet %s' failed (%d): %s", a, r.status, r.err);
    if (r.status == 0) {
        char err[256];
        if (json_parse(r.out, (int64_t)strlen(r.out), &doc, err, sizeof err) != RETNET_OK) {
            CHECK(0, "'retnet %s': output is not JSON (%s): %.300s", a, err, r.out);
            doc = NULL;
        }
    }
    result_free(&r);
    return doc;
}

static double num(const json_doc *d, const char *key) {
    const json_value *v = json_get(json_root(d), key);
    CHECK(v && v->type == JSON_NUMBER, "JSON output lacks the number \"%s\"", key);
    return v && v->type == JSON_NUMBER ? v->num : NAN;
}

/* ---------------------------------------------------------------- references */

static retnet_model *load(const char *path) {
    retnet_model *m = NULL;
    if (retnet_model_load(path, NULL, &m) != RETNET_OK)
        fprintf(stderr, "cannot load %s: %s\n", path, retnet_errmsg());
    return m;
}

/* log softmax(row)[t] in double; *argmax: the row's first maximum. */
static double logp(const float *row, int V, int t, int *argmax) {
    int am = 0;
    for (int v = 1; v < V; v++) if (row[v] > row[am]) am = v;
    double s = 0;
    for (int v = 0; v < V; v++) s += exp((double)row[v] - row[am]);
    if (argmax) *argmax = am;
    return (double)row[t] - row[am] - log(s);
}

/* Negative log-likelihood of tokens[from+1 .. n) given all before, by one parallel forward
 * over tokens[0 .. n-1) from the empty state (a Transformer's cache sized to fit). */
static double nll_parallel(retnet_model *m, const int32_t *t, int n, int from, int *greedy_all) {
    const int V = retnet_model_config(m)->vocab;
    float *lg = malloc(sizeof(float) * (size_t)(n - 1) * V);
    CHECK(retnet_forward(m, t, 1, n - 1, RETNET_FORM_PARALLEL, 0, NULL, lg) == RETNET_OK,
          "parallel forward: %s", retnet_errmsg());
    double s = 0;
    int g = 1;
    for (int i = from; i < n - 1; i++) {
        int am;
        s -= logp(lg + (size_t)i * V, V, t[i + 1], &am);
        g &= am == t[i + 1];
    }
    if (greedy_all) *greedy_all = g;
    free(lg);
    return s;
}

/* <bos> + the bytes of s[0 .. n): the byte tokenizer's ids. */
static int byte_tokens(const char *s, int n, int32_t *out) {
    out[0] = 256;
    for (int i = 0; i < n; i++) out[i + 1] = (unsigned char)s[i];
    return n + 1;
}

static double nll_text(retnet_model *m, const char *s, int n) {
    int32_t *t = malloc(sizeof(int32_t) * (size_t)(n + 1));
    int k = byte_tokens(s, n, t);
    double r = nll_parallel(m, t, k, 0, NULL);
    free(t);
    return r;
}

/* ---------------------------------------------------------------- perplexity */

static const char *TEXT =
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish? Na\xc3\xafve caf\xc3\xa9, "
    "\xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82.\n   \n"
    "All:\nResolved. resolved.\n";

static void check_nats(const char *what, double got, double want, int64_t tokens) {
    double tol = 1e-5 * (double)tokens + 1e-9 * fabs(want);
    CHECK(fabs(got - want) <= tol, "%s: nats %.10g, the parallel forward's %.10g (|d| %.3g > tol %.3g)",
          what, got, want, fabs(got - want), tol);
}

static void test_windows_equal_parallel(void) {
    const char *paths[2] = {model, model_tf};
    const int n = (int)strlen(TEXT);
    for (int p = 0; p < 2; p++) {
        retnet_model *m = load(paths[p]);
        if (!m) { CHECK(0, "model"); return; }
        if (p == 1) retnet_model_set_context(m, n + 1);
        double want = nll_text(m, TEXT, n);
        const char *opts[] = {"--window 1", "--window 7", "--window 7 --chunk 3",
                              "--window 100000", ""};
        for (int i = 0; i < 5; i++) {
            char a[2048];
            snprintf(a, sizeof a, "--model %s --data %s %s", paths[p], text_path, opts[i]);
            json_doc *d = eval_json(a);
            if (!d) continue;
            char what[256];
            snprintf(what, sizeof what, "%s %s", p ? "tf-tiny" : "tiny", opts[i]);
            check_nats(what, num(d, "nats"), want, n);
            CHECK(num(d, "tokens") == n && num(d, "bytes") == n && num(d, "documents") == 1,
                  "%s: tokens %g bytes %g documents %g, want %d %d 1", what, num(d, "tokens"),
                  num(d, "bytes"), num(d, "documents"), n, n);
            json_free(d);
        }
        /* --context 50: the state reset every 50 inputs = disjoint parallel forwards */
        int32_t *t = malloc(sizeof(int32_t) * (size_t)(n + 1));
        byte_tokens(TEXT, n, t);
        double seg = 0;
        for (int s = 0; s < n; s += 50) {
            int e = s + 50 < n ? s + 50 : n; /* inputs t[s .. e), targets t[s+1 .. e] */
            seg += nll_parallel(m, t + s, e - s + 1, 0, NULL);
        }
        free(t);
        char a[2048];
        snprintf(a, sizeof a, "--model %s --data %s --context 50 --window 7", paths[p], text_path);
        json_doc *d = eval_json(a);
        if (d) {
            check_nats(p ? "tf-tiny --context 50" : "tiny --context 50", num(d, "nats"), seg, n);
            CHECK(num(d, "state_resets") == (n + 49) / 50, "state_resets %g, want %d",
                  num(d, "state_resets"), (n + 49) / 50);
            CHECK(fabs(seg - want) > 1, "--context 50 should change the result (%g vs %g)", seg, want);
            json_free(d);
        }
        retnet_model_free(m);
    }
}

static void test_bits_per_byte(void) {
    char a[2048];
    snprintf(a, sizeof a, "--model %s --data %s --window 64", model, text_path);
    json_doc *d = eval_json(a);
    if (!d) return;
    double nats = num(d, "nats"), tokens = num(d, "tokens"), bytes = num(d, "bytes");
    CHECK(bytes == (double)strlen(TEXT), "bytes %g, want %zu", bytes, strlen(TEXT));
    CHECK(fabs(num(d, "bits_per_byte") - nats / log(2.0) / bytes) <= 1e-12 * nats,
          "bits_per_byte %.17g, want nats / ln 2 / bytes = %.17g", num(d, "bits_per_byte"),
          nats / log(2.0) / bytes);
    CHECK(fabs(num(d, "perplexity") - exp(nats / tokens)) <= 1e-9 * exp(nats / tokens),
          "perplexity %.17g, want exp(nats / tokens) = %.17g", num(d, "perplexity"),
          exp(nats / tokens));
    CHECK(fabs(num(d, "nats_per_token") - nats / tokens) <= 1e-12 * nats, "nats_per_token");
    CHECK(fabs(num(d, "bits_per_token") - nats / tokens / log(2.0)) <= 1e-12 * nats,
          "bits_per_token");
    CHECK(num(d, "tokens_per_s") > 0 && num(d, "seconds") >= 0, "timing fields");
    json_free(d);
    /* the text mode's plain output has the numbers too */
    snprintf(a, sizeof a, "eval --model %s --data %s", model, text_path);
    result r = run(a);
    CHECK(r.status == 0 && strstr(r.out, "perplexity") && strstr(r.out, "bits per byte"),
          "plain output: %s%s", r.out, r.err);
    result_free(&r);
}

/* Documents: blank-line separated, one per line, and by a separator string; each is its own
 * <bos> + text, and the bytes counted are the documents' (separators excluded). */
static void test_documents(void) {
    retnet_model *m = load(model);
    if (!m) { CHECK(0, "model"); return; }
    /* blank: the documents are the runs of non-blank lines (TEXT has a line of spaces) */
    const char *blank_docs[] = {
        "First Citizen:\nBefore we proceed any further, hear me speak.", "All:\nSpeak, speak.",
        "First Citizen:\nYou are all resolved rather to die than to famish? Na\xc3\xafve caf\xc3\xa9, "
        "\xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82.",
        "All:\nResolved. resolved."};
    double want = 0;
    int bytes = 0;
    for (int i = 0; i < 4; i++) {
        want += nll_text(m, blank_docs[i], (int)strlen(blank_docs[i]));
        bytes += (int)strlen(blank_docs[i]);
    }
    char a[2048];
    snprintf(a, sizeof a, "--model %s --data %s --documents blank --window 5", model, text_path);
    json_doc *d = eval_json(a);
    if (d) {
        check_nats("--documents blank", num(d, "nats"), want, bytes);
        CHECK(num(d, "documents") == 4 && num(d, "bytes") == bytes && num(d, "tokens") == bytes,
              "--documents blank: documents %g bytes %g tokens %g, want 4 %d %d",
              num(d, "documents"), num(d, "bytes"), num(d, "tokens"), bytes, bytes);
        json_free(d);
    }
    /* lines: each non-blank line */
    want = 0;
    bytes = 0;
    int docs = 0;
    for (const char *s = TEXT; *s;) {
        const char *e = strchr(s, '\n');
        int len = e ? (int)(e - s) : (int)strlen(s);
        int blank = 1;
        for (int i = 0; i < len; i++) blank &= s[i] == ' ';
        if (!blank) {
            want += nll_text(m, s, len);
            bytes += len;
            docs++;
        }
        s += len + (e != NULL);
    }
    snprintf(a, sizeof a, "--model %s --data %s --documents lines", model, text_path);
    d = eval_json(a);
    if (d) {
        check_nats("--documents lines", num(d, "nats"), want, bytes);
        CHECK(num(d, "documents") == docs && num(d, "bytes") == bytes, "--documents lines: "
              "documents %g bytes %g, want %d %d", num(d, "documents"), num(d, "bytes"), docs, bytes);
        json_free(d);
    }
    /* --doc-sep: "\n\n" splits TEXT in three */
    const char *p1 = strstr(TEXT, "\n\n"), *p2 = strstr(p1 + 2, "\n\n");
    want = nll_text(m, TEXT, (int)(p1 - TEXT)) + nll_text(m, p1 + 2, (int)(p2 - p1 - 2)) +
           nll_text(m, p2 + 2, (int)strlen(p2 + 2));
    bytes = (int)strlen(TEXT) - 4;
    snprintf(a, sizeof a, "--model %s --data %s --doc-sep '\\n\\n' --window 9", model, text_path);
    d = eval_json(a);
    if (d) {
        check_nats("--doc-sep", num(d, "nats"), want, bytes);
        CHECK(num(d, "documents") == 3 && num(d, "bytes") == bytes, "--doc-sep: documents %g "
              "bytes %g, want 3 %d", num(d, "documents"), num(d, "bytes"), bytes);
        json_free(d);
    }
    retnet_model_free(m);
}

/* ---------------------------------------------------------------- tasks */

typedef struct {
    const char *context;
    const char *choices[4];
    int n, gold;
} item;

static const item ITEMS[] = {
    {"The cat sat on the", {" mat", " moon", " x"}, 3, 0},
    {"Question: What is 2 plus 2?\nAnswer: ", {"4", "five", "22", "four"}, 4, 0},
    {"", {"Hello", "Hi there"}, 2, 1},
    {"Snow is\n", {"white", "warm and loud", "\xc3\xa9t\xc3\xa9"}, 3, 2},
    {"A b c d e f g h i j k l m n o p", {" q", " r s t", " qq"}, 3, 0},
};
#define N_ITEMS (int)(sizeof ITEMS / sizeof ITEMS[0])

static void put_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if (*s == '\n') fputs("\\n", f);
        else fputc(*s, f);
    }
    fputc('"', f);
}

static void write_items(const char *path, const item *it, int n) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    for (int i = 0; i < n; i++) {
        fprintf(f, "{\"id\": \"item%d\", \"context\": ", i);
        put_json_str(f, it[i].context);
        fprintf(f, ", \"choices\": [");
        for (int k = 0; k < it[i].n; k++) {
            if (k) fprintf(f, ", ");
            put_json_str(f, it[i].choices[k]);
        }
        fprintf(f, "], \"gold\": %d}\n", it[i].gold);
        if (i == 1) fprintf(f, "\n"); /* blank lines are skipped */
    }
    fclose(f);
}

/* The reference log-likelihood of a choice: <bos> + prefix + context, right-stripped, then the
 * stripped whitespace + the choice; the sum over the choice's positions. */
static double ref_loglik(retnet_model *m, const char *prefix, const char *context,
                         const char *choice, int *greedy) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s%s", prefix, context);
    int kept = (int)strlen(buf);
    while (kept > 0 && strchr(" \t\n\r\v\f", buf[kept - 1])) kept--;
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s", choice);
    int n = (int)strlen(buf);
    int32_t t[4200];
    int k = byte_tokens(buf, n, t);
    return -nll_parallel(m, t, k, kept, greedy);
}

/* Checks one --json task result against the references for items it[0 .. n). */
static void check_task(const char *what, retnet_model *m, const json_doc *d, const item *it, int n,
                       const char *prefix) {
    const json_value *res = json_get(json_root(d), "results");
    CHECK(res && res->type == JSON_ARRAY && res->count == n, "%s: want %d results", what, n);
    if (!res || res->count != n) return;
    int correct = 0, correct_norm = 0, i = 0;
    for (const json_value *r = res->child; r; r = r->next, i++) {
        const json_value *ll = json_get(r, "loglik"), *gr = json_get(r, "greedy");
        const json_value *by = json_get(r, "bytes"), *pr = json_get(r, "pred");
        const json_value *pn = json_get(r, "pred_norm");
        if (!ll || !gr || !by || !pr || !pn || ll->count != it[i].n || gr->count != it[i].n ||
            by->count != it[i].n) {
            CHECK(0, "%s: result %d lacks keys or has the wrong number of choices", what, i);
            continue;
        }
        double best = -INFINITY, best_norm = -INFINITY;
        int b = 0, bn = 0, k = 0;
        const json_value *lv = ll->child, *gv = gr->child, *bv = by->child;
        for (; lv && gv && bv; lv = lv->next, gv = gv->next, bv = bv->next, k++) {
            int greedy;
            double want = ref_loglik(m, prefix, it[i].context, it[i].choices[k], &greedy);
            int nb = (int)strlen(it[i].choices[k]);
            CHECK(fabs(lv->num - want) <= 1e-4, "%s: item %d choice %d: loglik %.10g, the "
                  "parallel forward's %.10g", what, i, k, lv->num, want);
            CHECK(gv->boolean == greedy, "%s: item %d choice %d: greedy %d, want %d", what, i, k,
                  gv->boolean, greedy);
            CHECK(bv->num == nb, "%s: item %d choice %d: bytes %g, want %d", what, i, k, bv->num, nb);
            if (want > best) best = want, b = k;
            if (want / nb > best_norm) best_norm = want / nb, bn = k;
        }
        CHECK(pr->num == b && pn->num == bn, "%s: item %d: pred %g pred_norm %g, want %d %d",
              what, i, pr->num, pn->num, b, bn);
        correct += b == it[i].gold;
        correct_norm += bn == it[i].gold;
    }
    CHECK(num(d, "acc_correct") == correct && num(d, "acc_norm_correct") == correct_norm,
          "%s: acc_correct %g acc_norm_correct %g, want %d %d", what, num(d, "acc_correct"),
          num(d, "acc_norm_correct"), correct, correct_norm);
    CHECK(fabs(num(d, "acc") - (double)correct / n) < 1e-12 &&
          fabs(num(d, "acc_norm") - (double)correct_norm / n) < 1e-12,
          "%s: acc %g acc_norm %g, want %g %g", what, num(d, "acc"), num(d, "acc_norm"),
          (double)correct / n, (double)correct_norm / n);
    CHECK(num(d, "examples") == n, "%s: examples %g, want %d", what, num(d, "examples"), n);
}

static void test_task_scoring(void) {
    char task[512], a[2048];
    snprintf(task, sizeof task, "%s/task.jsonl", tmp);
    write_items(task, ITEMS, N_ITEMS);
    const char *paths[2] = {model, model_tf};
    for (int p = 0; p < 2; p++) {
        retnet_model *m = load(paths[p]);
        if (!m) { CHECK(0, "model"); return; }
        if (p) retnet_model_set_context(m, 1024);
        const char *name = p ? "tf-tiny" : "tiny";
        snprintf(a, sizeof a, "--model %s --task %s", paths[p], task);
        json_doc *d = eval_json(a);
        if (d) {
            check_task(name, m, d, ITEMS, N_ITEMS, "");
            json_free(d);
        }
        /* chunk 2: the same numbers */
        snprintf(a, sizeof a, "--model %s --task %s --chunk 2", paths[p], task);
        d = eval_json(a);
        if (d) {
            check_task(name, m, d, ITEMS, N_ITEMS, "");
            json_free(d);
        }
        /* --shots 2: the first two items are the demonstrations and not scored */
        char prefix[1024];
        snprintf(prefix, sizeof prefix, "%s%s\n\n%s%s\n\n", ITEMS[0].context,
                 ITEMS[0].choices[ITEMS[0].gold], ITEMS[1].context, ITEMS[1].choices[ITEMS[1].gold]);
        snprintf(a, sizeof a, "--model %s --task %s --shots 2", paths[p], task);
        d = eval_json(a);
        if (d) {
            check_task(name, m, d, ITEMS + 2, N_ITEMS - 2, prefix);
            CHECK(num(d, "shots") == 2, "shots");
            json_free(d);
        }
        /* --fewshot-file: demonstrations from another file, every item scored */
        snprintf(a, sizeof a, "--model %s --task %s --shots 2 --fewshot-file %s", paths[p], task, task);
        d = eval_json(a);
        if (d) {
            check_task(name, m, d, ITEMS, N_ITEMS, prefix);
            json_free(d);
        }
        retnet_model_free(m);
    }
    /* ids: strings as given, numbers as numbers, the line number when absent */
    snprintf(a, sizeof a, "--model %s --task tests/fixtures/tasks/tiny.jsonl", model);
    json_doc *d = eval_json(a);
    if (d) {
        const json_value *r = json_get(json_root(d), "results");
        const json_value *x = r ? r->child : NULL;
        const json_value *ids[4] = {NULL};
        for (int i = 0; i < 4 && x; i++, x = x->next) ids[i] = json_get(x, "id");
        CHECK(ids[0] && ids[0]->type == JSON_STRING && !strcmp(ids[0]->str, "t1") && ids[1] &&
              ids[1]->type == JSON_NUMBER && ids[1]->num == 2 && ids[2] &&
              ids[2]->type == JSON_NUMBER && ids[2]->num == 7, "ids of tiny.jsonl");
        json_free(d);
    }
}

/* The sample task files parse and score (plain and --json). */
static void test_sample_tasks(void) {
    const char *files[] = {"cloze", "arithmetic", "commonsense", "tiny"};
    const int counts[] = {20, 20, 20, 4};
    for (int i = 0; i < 4; i++) {
        char a[2048];
        snprintf(a, sizeof a, "--model %s --task tests/fixtures/tasks/%s.jsonl", model, files[i]);
        json_doc *d = eval_json(a);
        if (d) {
            CHECK(num(d, "examples") == counts[i], "%s: %g examples, want %d", files[i],
                  num(d, "examples"), counts[i]);
            json_free(d);
        }
        snprintf(a, sizeof a, "eval --model %s --task tests/fixtures/tasks/%s.jsonl --shots 3",
                 model, files[i]);
        result r = run(a);
        CHECK(r.status == 0 && strstr(r.out, "acc_norm"), "%s: %s%s", a, r.out, r.err);
        result_free(&r);
    }
}

/* ---------------------------------------------------------------- bad input */

static void test_bad_input(void) {
    char a[4096], p[512];
    result r = run("eval --help");
    CHECK(r.status == 0 && strstr(r.out, "usage:"), "eval --help: %d %s", r.status, r.out);
    result_free(&r);
    expect_error("eval --data x", "missing --model");
    snprintf(a, sizeof a, "eval --model %s", model);
    expect_error(a, "exactly one of");
    snprintf(a, sizeof a, "eval --model %s --data %s --task %s", model, text_path, text_path);
    expect_error(a, "exactly one of");
    snprintf(a, sizeof a, "eval --model %s --data %s/nope.txt", model, tmp);
    expect_error(a, "nope.txt");
    write_file("empty.txt", "", p, sizeof p);
    snprintf(a, sizeof a, "eval --model %s --data %s", model, p);
    expect_error(a, "is empty");
    write_file("blank.txt", "\n  \n\n", p, sizeof p);
    snprintf(a, sizeof a, "eval --model %s --data %s --documents blank", model, p);
    expect_error(a, "no documents");
    snprintf(a, sizeof a, "eval --model %s --data %s --window 0", model, text_path);
    expect_error(a, "--window");
    snprintf(a, sizeof a, "eval --model %s --data %s --chunk 0", model, text_path);
    expect_error(a, "--chunk");
    snprintf(a, sizeof a, "eval --model %s --data %s --documents pages", model, text_path);
    expect_error(a, "unknown --documents");
    snprintf(a, sizeof a, "eval --model %s --data %s --doc-sep ''", model, text_path);
    expect_error(a, "--doc-sep is empty");
    snprintf(a, sizeof a, "eval --model %s --data %s --shots 2", model, text_path);
    expect_error(a, "for --task");
    snprintf(a, sizeof a, "eval --model %s --data %s --tokenizer nope", model, text_path);
    expect_error(a, "nope");
    snprintf(a, sizeof a, "eval --model %s/nope.safetensors --data %s", tmp, text_path);
    expect_error(a, "nope.safetensors");

    struct { const char *content, *phrase; } bad[] = {
        {"", "no examples"},
        {"\n\n", "no examples"},
        {"{\"context\": \"a\", \"choices\": [\" b\", \" c\"], \"gold\": 0}\nnot json\n", "line 2: not JSON"},
        {"{\"context\": \"a\", \"choices\": [\" b\", \" c\"], \"gold\": 0,}\n", "line 1: not JSON"},
        {"[1, 2]\n", "line 1: an array, not an object"},
        {"{\"choices\": [\" b\", \" c\"], \"gold\": 0}\n", "no \"context\""},
        {"{\"context\": \"a\", \"gold\": 0}\n", "no \"choices\""},
        {"{\"context\": \"a\", \"choices\": [\" b\", \" c\"]}\n", "no \"gold\""},
        {"{\"context\": \"a\", \"choices\": [\" b\", \" c\"], \"gold\": 2}\n", "gold 2 is not a choice index"},
        {"{\"context\": \"a\", \"choices\": [\" b\", \" c\"], \"gold\": -1}\n", "gold -1"},
        {"{\"context\": \"a\", \"choices\": [\" b\", \" c\"], \"gold\": 0.5}\n", "gold 0.5"},
        {"{\"context\": \"a\", \"choices\": [\" b\", \" c\"], \"gold\": 1.0}\n",
         "gold 1 is not written as an integer"},
        {"{\"context\": \"a\", \"choices\": [], \"gold\": 0}\n", "has 0 elements"},
        {"{\"context\": \"a\", \"choices\": [\" b\"], \"gold\": 0}\n", "at least 2"},
        {"{\"context\": \"a\", \"choices\": [\" b\", \"\"], \"gold\": 0}\n", "choice 1 is empty"},
        {"{\"context\": \"a\", \"choices\": [\" b\", 3], \"gold\": 0}\n", "choice 1 is a number"},
        {"{\"context\": 5, \"choices\": [\" b\", \" c\"], \"gold\": 0}\n", "\"context\" is a number"},
        {"{\"context\": \"a\", \"choices\": \" b\", \"gold\": 0}\n", "\"choices\" is a string"},
        {"{\"context\": \"a\", \"choices\": [\" b\", \" c\"], \"gold\": \"0\"}\n", "\"gold\" is a string"},
        {"{\"context\": \"a\", \"choices\": [\" b\", \" c\"], \"gold\": 0, \"id\": [1]}\n", "\"id\" is an array"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file("bad.jsonl", bad[i].content, p, sizeof p);
        snprintf(a, sizeof a, "eval --model %s --task %s", model, p);
        expect_error(a, bad[i].phrase);
    }
    write_file("two.jsonl",
               "{\"context\": \"a\", \"choices\": [\" b\", \" c\"], \"gold\": 0}\n"
               "{\"context\": \"d\", \"choices\": [\" e\", \" f\"], \"gold\": 1}\n", p, sizeof p);
    snprintf(a, sizeof a, "eval --model %s --task %s --shots 2", model, p);
    expect_error(a, "none of its 2 to score");
    snprintf(a, sizeof a, "eval --model %s --task %s --shots 3 --fewshot-file %s", model, p, p);
    expect_error(a, "give fewer shots");
    snprintf(a, sizeof a, "eval --model %s --task %s --fewshot-file %s", model, p, p);
    expect_error(a, "needs --shots");
    snprintf(a, sizeof a, "eval --model %s --task %s --window 8", model, p);
    expect_error(a, "for --data");
    snprintf(a, sizeof a, "eval --model %s --task %s --shots -1", model, p);
    expect_error(a, "--shots");
    snprintf(a, sizeof a, "eval --model %s --task %s/nope.jsonl", model, tmp);
    expect_error(a, "nope.jsonl");
}

/* ---------------------------------------------------------------- main */

static int make_models(void) {
    const char *presets[2] = {"tiny", "tf-tiny"};
    char *out[2] = {model, model_tf};
    snprintf(model, sizeof model, "%s/m.safetensors", tmp);
    snprintf(model_tf, sizeof model_tf, "%s/tf.safetensors", tmp);
    for (int i = 0; i < 2; i++) {
        retnet_config c;
        retnet_model *m;
        if (retnet_config_preset(presets[i], &c) || retnet_model_create(&c, &m)) return 1;
        int bad = retnet_model_init(m, 3) != RETNET_OK;
        /* noise, so that the predictions are far from uniform */
        float *p = retnet_model_params(m);
        int64_t n = retnet_config_param_count(&c);
        uint64_t s = 12345 + (uint64_t)i;
        for (int64_t j = 0; j < n; j++) p[j] += (float)(0.15 * test_rand(&s));
        bad |= retnet_model_save(m, out[i]) != RETNET_OK;
        retnet_model_free(m);
        if (bad) return 1;
    }
    write_file("text.txt", TEXT, text_path, sizeof text_path);
    return 0;
}

int main(int argc, char **argv) {
    char self[4096];
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(retnet, sizeof retnet, "%s/../retnet", dirname(self));
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
    setenv("OMP_NUM_THREADS", "1", 1);
    /* this process too: its idle OpenMP threads would spin on the cores the children need */
    omp_set_num_threads(1);
    snprintf(tmp, sizeof tmp, "/tmp/retnet-test-eval.XXXXXX");
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (make_models()) {
        fprintf(stderr, "cannot make the test models: %s\n", retnet_errmsg());
        return 1;
    }
    RUN(test_windows_equal_parallel);
    RUN(test_bits_per_byte);
    RUN(test_documents);
    RUN(test_task_scoring);
    RUN(test_sample_tasks);
    RUN(test_bad_input);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "test_eval: %.1f s\n", (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec));
    char a[512];
    snprintf(a, sizeof a, "rm -rf %s", tmp);
    if (!getenv("RETNET_TEST_KEEP") && system(a)) {}
    (void)argc;
    return TEST_SUMMARY();
}
