/*
 * retnet eval: how well a model predicts text (perplexity, bits per byte), and multiple-choice
 * tasks scored by log-likelihood in the manner of EleutherAI's lm-evaluation-harness.
 * docs/EVAL.md is the user's manual: formats, the scoring rules and their reasons.
 *
 * Text (--data). Each document is <bos> followed by its tokens; every token of the text is
 * predicted from everything before it in its document, so the context is the whole document.
 * The tokens are fed in windows of W through the chunkwise form, the recurrent state carried
 * from window to window: the sum of the windows is the one long forward (the three forms
 * compute one function, RETNET.md), at a memory cost that does not grow with the document.
 * --context N resets the state every N input tokens instead (disjoint segments).
 * A Transformer's state is its KV cache of `context` tokens (retnet_model_set_context); it is
 * sized to the longest document (or to --context N when given), so that it computes the same
 * quantity as a RetNet does: the cache, unlike the recurrent state, grows with the document.
 *
 * Tasks (--task). Per example the context (with <bos>) is prefilled once into a state; each
 * choice is scored from a copy of that state: one chunkwise forward over the context's last
 * token and the choice's tokens but its last, whose rows give log P(choice token | all before).
 * Context and choice are encoded separately (the choice with RETNET_ENCODE_CONTINUE, so that a
 * tokenizer.json adds no leading "▁"), after moving the context's trailing whitespace onto the
 * choice as the harness does, so that " blue" stays one GPT-2 token.
 *
 * Log-probabilities are computed in double from the float32 logits and summed in double.
 */
#include "cli.h"
#include "json.h"
#include "tokenizer.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *TOK_HINT =
    "give 'byte', 'gpt2' (run scripts/get-gpt2-tokenizer.sh first), a directory with "
    "encoder.json and vocab.bpe, a tokenizer.json, or a file from 'retnet tokenizer train'";

/* ---------------------------------------------------------------- options */

enum {
    O_MODEL, O_CONFIG, O_TOK, O_DATA, O_TASK, O_WINDOW, O_CHUNK, O_CONTEXT, O_DOCS, O_DOCSEP,
    O_SHOTS, O_FEWSHOT, O_JSON, O_QUIET, O_DEVICE, O_COUNT
};

static void usage_eval(void) {
    printf(
        "usage: retnet eval --model MODEL [--config FILE] [--tokenizer TOK] --data TEXT\n"
        "                   [--window W] [--chunk C] [--context N]\n"
        "                   [--documents file|lines|blank | --doc-sep STRING] [--device D]\n"
        "                   [--json] [--quiet]\n"
        "       retnet eval --model MODEL [--config FILE] [--tokenizer TOK] --task FILE.jsonl\n"
        "                   [--shots K [--fewshot-file F.jsonl]] [--chunk C] [--json] [--quiet]\n\n"
        "Text: perplexity per token, bits per byte (total nats / ln 2 / bytes of the scored text),\n"
        "the token count and tokens/s. Each document is <bos> then its tokens; every token is\n"
        "predicted from the whole document before it: the tokens go through the chunkwise form in\n"
        "windows of W, the recurrent state carried from window to window (constant memory).\n\n"
        "Task: multiple-choice items, one JSON object a line: {\"context\": \"...\", \"choices\":\n"
        "[\"...\", ...], \"gold\": i} (optional \"id\"). Each choice is scored by the sum of the\n"
        "log-probabilities of its tokens after the context (prefilled once, each choice scored\n"
        "from a copy of its state). Reports acc (argmax of the sum) and acc_norm (argmax of the\n"
        "sum divided by the choice's length in bytes). See docs/EVAL.md.\n\n"
        "  --model FILE        safetensors checkpoint\n"
        "  --config FILE       config for a checkpoint without our metadata\n"
        "  --tokenizer TOK     byte (default), gpt2, a GPT-2 directory, a tokenizer.json or a BPE\n"
        "                      file from 'retnet tokenizer train'; its ids must all be the model's\n"
        "  --data TEXT         a text file to score\n"
        "  --window W          tokens per forward call (default 2048; memory ~ W x vocab floats)\n"
        "  --chunk C           chunk length of the chunkwise form (default: the config's)\n"
        "  --context N         reset the state every N tokens of a document (default: never, the\n"
        "                      context is the whole document). A Transformer's KV cache holds N\n"
        "                      tokens (default: the longest document's)\n"
        "  --documents MODE    file (default): the whole file is one document; lines: each\n"
        "                      non-blank line is one; blank: documents are separated by blank\n"
        "                      lines. The state is reset at every document\n"
        "  --doc-sep STRING    documents are separated by STRING (\\n, \\t, \\r, \\\\ escapes)\n"
        "  --task FILE         a multiple-choice task file (JSON lines)\n"
        "  --device D          cpu (default) or cuda / cuda:N: run the model on a GPU (a CUDA\n"
        "                      build; bf16 products, so scores differ from the cpu's by rounding)\n"
        "  --shots K           prepend K demonstrations (context + gold choice, separated by\n"
        "                      blank lines): the first K examples of the task file, which are\n"
        "                      then not scored, or of --fewshot-file\n"
        "  --fewshot-file F    take the demonstrations from F (same format) instead\n"
        "  --json              print one JSON object on stdout (with --task: per-example results)\n"
        "  --quiet             no progress on stderr\n");
}

/* A JSON string (paths, ids). */
static void put_str(FILE *f, const char *s) { cli_json_string(f, s, (int64_t)strlen(s)); }

static double rate(double n, double dt) { return dt > 0 && n > 0 ? n / dt : 0; }

/* ---------------------------------------------------------------- model and scoring */

typedef struct {
    retnet_model *m;
    retnet_tokenizer *tok;
    int32_t V, bos, chunk;
    const char *model_path;
} eval_ctx;

static void ctx_open(eval_ctx *e, opt *o) {
    memset(e, 0, sizeof *e);
    CHECK(retnet_tokenizer_load(o[O_TOK].value ? o[O_TOK].value : "byte", &e->tok), TOK_HINT);
    e->m = cli_load_model(o[O_MODEL].value, o[O_CONFIG].value);
    if (o[O_DEVICE].given)
        CHECK(retnet_model_to_device(e->m, o[O_DEVICE].value), "use --device cpu, or a CUDA "
              "build on a machine with a GPU");
    e->model_path = o[O_MODEL].value;
    e->V = retnet_model_config(e->m)->vocab;
    int32_t tv = retnet_tokenizer_vocab(e->tok);
    if (tv > e->V)
        FAIL("the %s tokenizer has %d ids but the model's vocabulary is %d; give the tokenizer "
             "the model was trained with (--tokenizer)", retnet_tokenizer_kind_name(e->tok), tv,
             e->V);
    e->bos = retnet_tokenizer_bos(e->tok);
    if (e->bos < 0) FAIL("the tokenizer has no <bos> token; give another --tokenizer");
}

static void ctx_close(eval_ctx *e) {
    retnet_model_free(e->m);
    retnet_tokenizer_free(e->tok);
}

/* log softmax(row)[target] over V logits, in double; *greedy: whether target is the row's
 * argmax (the first maximum on ties). */
static double log_prob(const float *row, int32_t V, int32_t target, int *greedy) {
    float mx = row[0];
    int32_t am = 0;
    for (int32_t v = 1; v < V; v++)
        if (row[v] > mx) mx = row[v], am = v;
    double s = 0;
    for (int32_t v = 0; v < V; v++) s += exp((double)row[v] - (double)mx);
    if (greedy) *greedy = am == target;
    return (double)row[target] - (double)mx - log(s);
}

/* The chunkwise form; for one token the recurrent form, the same function through the
 * library's decoding step, which is cheaper for a single token. */
static retnet_form form_for(int64_t T) {
    return T == 1 ? RETNET_FORM_RECURRENT : RETNET_FORM_CHUNKWISE;
}

/* Progress on stderr: in place on a terminal (twice a second), else a line every 10 s. */
typedef struct {
    int on, tty;
    double t0, last;
    int printed;
} progress;

static void progress_init(progress *p, int on) {
    p->on = on;
    p->tty = cli_isatty_stderr();
    p->t0 = p->last = cli_now();
    p->printed = 0;
}

static void progress_show(progress *p, int64_t done, int64_t total, const char *unit,
                          int64_t tokens) {
    if (!p->on) return;
    double now = cli_now();
    if (now - p->last < (p->tty ? 0.5 : 10)) return;
    p->last = now;
    p->printed = 1;
    fprintf(stderr, "%s%s: %lld/%lld %s (%.0f%%), %.0f tokens/s%s", p->tty ? "\r\033[K" : "",
            cli_cmd, (long long)done, (long long)total, unit,
            total ? 100.0 * (double)done / (double)total : 100.0,
            rate((double)tokens, now - p->t0), p->tty ? "" : "\n");
}

static void progress_end(progress *p) {
    if (p->on && p->printed && p->tty) fputs("\r\033[K", stderr);
}

/* ---------------------------------------------------------------- text: documents */

typedef struct {
    int64_t off, len;
} span;

static int blank_line(const char *s, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

static void push_span(span **d, int64_t *n, int64_t *cap, int64_t off, int64_t len) {
    if (len <= 0) return;
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        *d = realloc(*d, sizeof(span) * (size_t)*cap);
        if (!*d) FAIL("out of memory splitting the text into documents");
    }
    (*d)[(*n)++] = (span){off, len};
}

/* Splits the text into documents (empty ones dropped). mode: "file", "lines", "blank"; or
 * sep != NULL: pieces between occurrences of sep. */
static span *split_documents(const char *text, int64_t len, const char *mode, const char *sep,
                             int64_t *count) {
    span *d = NULL;
    int64_t n = 0, cap = 0;
    if (sep) {
        int64_t sl = (int64_t)strlen(sep), start = 0;
        for (;;) {
            const char *hit = memmem(text + start, (size_t)(len - start), sep, (size_t)sl);
            int64_t end = hit ? hit - text : len;
            push_span(&d, &n, &cap, start, end - start);
            if (!hit) break;
            start = end + sl;
        }
    } else if (!strcmp(mode, "file")) {
        push_span(&d, &n, &cap, 0, len);
    } else {
        int lines = !strcmp(mode, "lines");
        int64_t doc_start = -1, doc_end = 0;
        for (int64_t i = 0; i < len;) {
            int64_t j = i;
            while (j < len && text[j] != '\n') j++;
            int64_t e = j;
            if (e > i && text[e - 1] == '\r') e--; /* a CRLF line's \r is part of its end */
            if (lines) {
                if (!blank_line(text + i, e - i)) push_span(&d, &n, &cap, i, e - i);
            } else if (blank_line(text + i, e - i)) {
                if (doc_start >= 0) push_span(&d, &n, &cap, doc_start, doc_end - doc_start);
                doc_start = -1;
            } else {
                if (doc_start < 0) doc_start = i;
                doc_end = e;
            }
            i = j + 1;
        }
        if (!lines && doc_start >= 0) push_span(&d, &n, &cap, doc_start, doc_end - doc_start);
    }
    *count = n;
    return d;
}

/* ---------------------------------------------------------------- text: scoring */

static int eval_text(opt *o) {
    int32_t W = o[O_WINDOW].given ? (int32_t)cli_int(o[O_WINDOW].value, "--window", 1, 1 << 20)
                                  : 2048;
    int32_t chunk = o[O_CHUNK].given ? (int32_t)cli_int(o[O_CHUNK].value, "--chunk", 1, 1 << 20) : 0;
    int64_t reset = o[O_CONTEXT].given ? cli_int(o[O_CONTEXT].value, "--context", 1, 1 << 24) : 0;
    const char *mode = o[O_DOCS].given ? o[O_DOCS].value : "file";
    if (strcmp(mode, "file") && strcmp(mode, "lines") && strcmp(mode, "blank"))
        FAIL("unknown --documents '%s'; use file, lines or blank", mode);
    if (o[O_DOCS].given && o[O_DOCSEP].given) FAIL("give --documents or --doc-sep, not both");
    char *sep = o[O_DOCSEP].given ? cli_unescape(o[O_DOCSEP].value) : NULL;
    if (sep && !*sep) FAIL("--doc-sep is empty; give the string that separates documents");
    if (o[O_SHOTS].given || o[O_FEWSHOT].given)
        FAIL("--shots and --fewshot-file are for --task, not --data");
    int json = o[O_JSON].given;
    const char *path = o[O_DATA].value;

    int64_t len;
    char *text = cli_read_file(path, &len);
    if (len == 0) FAIL("%s is empty; give a text file to score", path);
    int64_t n_docs;
    span *docs = split_documents(text, len, mode, sep, &n_docs);
    if (n_docs == 0) FAIL("%s has no documents (only separators or blank lines); give some text", path);

    eval_ctx e;
    ctx_open(&e, o);
    /* every document's tokens, encoded up front: a Transformer's cache is sized from them */
    int32_t **ids = malloc(sizeof(int32_t *) * (size_t)n_docs);
    int64_t *n_ids = malloc(sizeof(int64_t) * (size_t)n_docs);
    if (!ids || !n_ids) FAIL("out of memory for %lld documents", (long long)n_docs);
    int64_t bytes = 0, tokens = 0, longest = 1;
    for (int64_t i = 0; i < n_docs; i++) {
        int32_t *t;
        int64_t n;
        CHECK(retnet_tokenizer_encode(e.tok, text + docs[i].off, docs[i].len, &t, &n),
              "check the text");
        ids[i] = malloc(sizeof(int32_t) * (size_t)(n + 1));
        if (!ids[i]) FAIL("out of memory for the tokens of document %lld", (long long)i + 1);
        ids[i][0] = e.bos;
        memcpy(ids[i] + 1, t, sizeof(int32_t) * (size_t)n);
        free(t);
        n_ids[i] = n + 1;
        bytes += docs[i].len;
        tokens += n;
        if (n > longest) longest = n; /* the inputs of a document: <bos> and all but its last */
    }
    if (tokens == 0) FAIL("%s gives no tokens; give a text file to score", path);
    const retnet_config *c0 = retnet_model_config(e.m);
    int tf = c0->arch == RETNET_ARCH_TRANSFORMER;
    if (tf) {
        int64_t cap = reset ? (reset < longest ? reset : longest) : longest;
        if (cap > (1 << 24))
            FAIL("the longest document has %lld tokens, more than a Transformer's KV cache can "
                 "hold (%d); give --context N to reset the cache every N tokens",
                 (long long)longest, 1 << 24);
        CHECK(retnet_model_set_context(e.m, (int32_t)cap), "give a smaller --context");
    }
    const retnet_config *c = retnet_model_config(e.m);
    int64_t sf = retnet_state_floats(c);
    retnet_state st = {0, malloc(sizeof(float) * (size_t)sf)};
    int64_t wmax = W < longest ? W : longest;
    float *logits = malloc(sizeof(float) * (size_t)wmax * (size_t)e.V);
    if (!st.data || !logits)
        FAIL("out of memory for a window of %lld x %d logits and a state of %lld bytes; give a "
             "smaller --window", (long long)wmax, e.V, (long long)(4 * sf));

    progress pr;
    progress_init(&pr, !json && !o[O_QUIET].given);
    double t0 = cli_now(), nats = 0;
    int64_t done = 0, resets = 0;
    for (int64_t d = 0; d < n_docs; d++) {
        const int32_t *t = ids[d];
        const int64_t n_in = n_ids[d] - 1; /* inputs t[0 .. n_in), targets t[1 .. n_in] */
        const int64_t seg_len = reset ? reset : n_in;
        for (int64_t seg = 0; seg < n_in; seg += seg_len) {
            retnet_state_reset(c, &st);
            resets++;
            int64_t seg_end = seg + seg_len < n_in ? seg + seg_len : n_in;
            for (int64_t w = seg; w < seg_end; w += W) {
                int32_t T = (int32_t)(seg_end - w < W ? seg_end - w : W);
                CHECK(retnet_forward(e.m, t + w, 1, T, form_for(T), chunk, &st, logits),
                      "check the model and --chunk");
                for (int32_t i = 0; i < T; i++)
                    nats -= log_prob(logits + (int64_t)i * e.V, e.V, t[w + i + 1], NULL);
                done += T;
                progress_show(&pr, done, tokens, "tokens", done);
            }
        }
    }
    double dt = cli_now() - t0;
    progress_end(&pr);
    if (!isfinite(nats))
        FAIL("the model's log-likelihood is %s (NaN or Inf logits); check the checkpoint",
             isnan(nats) ? "NaN" : "infinite");

    double npt = nats / (double)tokens, bpb = nats / log(2.0) / (double)bytes;
    double state_bytes = (double)retnet_state_bytes_used(c, tf ? c->context : 0);
    if (json) {
        printf("{\"mode\": \"text\", \"model\": ");
        put_str(stdout, e.model_path);
        printf(", \"data\": ");
        put_str(stdout, path);
        printf(", \"arch\": \"%s\", \"tokenizer\": \"%s\", \"documents\": %lld, \"bytes\": %lld, "
               "\"tokens\": %lld, \"nats\": %.17g, \"nats_per_token\": %.17g, \"perplexity\": "
               "%.17g, \"bits_per_token\": %.17g, \"bits_per_byte\": %.17g, \"window\": %d, "
               "\"chunk\": %d, \"context\": %lld, \"state_resets\": %lld, \"state_bytes\": %.0f, "
               "\"seconds\": %.6f, \"tokens_per_s\": %.1f}\n",
               tf ? "transformer" : "retnet", retnet_tokenizer_kind_name(e.tok),
               (long long)n_docs, (long long)bytes, (long long)tokens, nats, npt, exp(npt),
               npt / log(2.0), bpb, W, chunk ? chunk : c->chunk, (long long)reset,
               (long long)resets, state_bytes, dt, rate((double)tokens, dt));
    } else {
        printf("%s: %lld document%s, %lld bytes, %lld tokens (%s tokenizer)\n", path,
               (long long)n_docs, n_docs == 1 ? "" : "s", (long long)bytes, (long long)tokens,
               retnet_tokenizer_kind_name(e.tok));
        printf("perplexity     %.4f  (%.5f nats/token, %.5f bits/token)\n", exp(npt), npt,
               npt / log(2.0));
        printf("bits per byte  %.5f\n", bpb);
        char ctxs[64];
        if (reset) snprintf(ctxs, sizeof ctxs, "reset every %lld tokens", (long long)reset);
        else snprintf(ctxs, sizeof ctxs, "the whole document");
        printf("%lld tokens in %.2f s: %.0f tokens/s; windows of %d, chunk %d; context: %s; "
               "%s %.0f bytes\n", (long long)tokens, dt, rate((double)tokens, dt), W,
               chunk ? chunk : c->chunk, ctxs, tf ? "KV cache" : "state", state_bytes);
    }
    for (int64_t i = 0; i < n_docs; i++) free(ids[i]);
    free(ids);
    free(n_ids);
    free(docs);
    free(text);
    free(sep);
    free(logits);
    free(st.data);
    ctx_close(&e);
    return 0;
}

/* ---------------------------------------------------------------- tasks: reading */

typedef struct {
    char *id;          /* the "id" as given (string or number), or the line number */
    int id_is_num;
    int64_t line;
    char *context;     /* as given */
    int32_t n_choices;
    char **choices;    /* as given */
    int32_t gold;
    /* filled when scoring */
    int32_t *ctx;      /* <bos> + tokens of the (few-shot prefixed, right-stripped) context */
    int64_t n_ctx;
    int32_t **ch;      /* tokens of each (whitespace-prefixed) choice */
    int64_t *n_ch;
} example;

/* "a string", "an array", ... */
static const char *a_type(json_type t) {
    static char buf[4][16];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s %s", t == JSON_ARRAY || t == JSON_OBJECT ? "an" : "a",
             json_type_name(t));
    return buf[k];
}

static const json_value *member(const char *path, int64_t line, const json_value *r,
                                const char *key, json_type type, int required) {
    const json_value *v = json_get(r, key);
    if (!v && required)
        FAIL("%s line %lld: no \"%s\"; each line is {\"context\": \"...\", \"choices\": [\"...\", "
             "...], \"gold\": i} (docs/EVAL.md)", path, (long long)line, key);
    if (v && v->type != type)
        FAIL("%s line %lld: \"%s\" is %s, not %s; see docs/EVAL.md", path, (long long)line,
             key, a_type(v->type), a_type(type));
    return v;
}

static char *dup_str(const char *s) {
    char *d = strdup(s);
    if (!d) FAIL("out of memory reading a task");
    return d;
}

/* Reads a task file: one JSON object a line, blank lines skipped. */
static example *read_task(const char *path, int64_t *count) {
    int64_t len;
    char *buf = cli_read_file(path, &len);
    example *ex = NULL;
    int64_t n = 0, cap = 0, line = 0;
    for (int64_t i = 0; i < len;) {
        int64_t j = i;
        while (j < len && buf[j] != '\n') j++;
        line++;
        int64_t e = j;
        if (e > i && buf[e - 1] == '\r') e--;
        const char *s = buf + i;
        int64_t sl = e - i;
        i = j + 1;
        if (blank_line(s, sl)) continue;
        json_doc *doc = NULL;
        char err[256];
        if (json_parse(s, sl, &doc, err, sizeof err) != RETNET_OK)
            FAIL("%s line %lld: not JSON (%s); each line is one JSON object (docs/EVAL.md)", path,
                 (long long)line, strncmp(err, "line 1, ", 8) ? err : err + 8);
        const json_value *r = json_root(doc);
        if (r->type != JSON_OBJECT)
            FAIL("%s line %lld: %s, not an object; each line is {\"context\": ..., "
                 "\"choices\": [...], \"gold\": i}", path, (long long)line, a_type(r->type));
        const json_value *ctxv = member(path, line, r, "context", JSON_STRING, 1);
        const json_value *chv = member(path, line, r, "choices", JSON_ARRAY, 1);
        const json_value *gv = member(path, line, r, "gold", JSON_NUMBER, 1);
        const json_value *idv = json_get(r, "id");
        if (chv->count < 2)
            FAIL("%s line %lld: \"choices\" has %d element%s; give at least 2 choices", path,
                 (long long)line, chv->count, chv->count == 1 ? "" : "s");
        if (!gv->is_int)
            FAIL("%s line %lld: gold %.17g is not written as an integer; give the 0-based index "
                 "of the right choice as an integer (0, 1, ...: no fraction or exponent)", path,
                 (long long)line, gv->num);
        if (gv->inum < 0 || gv->inum >= chv->count)
            FAIL("%s line %lld: gold %lld is not a choice index; give an integer in [0, %d] (the "
                 "0-based index of the right choice)", path, (long long)line,
                 (long long)gv->inum, chv->count - 1);
        if (idv && idv->type != JSON_STRING && idv->type != JSON_NUMBER)
            FAIL("%s line %lld: \"id\" is %s; give a string or a number", path, (long long)line,
                 a_type(idv->type));
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            ex = realloc(ex, sizeof(example) * (size_t)cap);
            if (!ex) FAIL("out of memory reading '%s'", path);
        }
        example *x = &ex[n++];
        memset(x, 0, sizeof *x);
        x->line = line;
        x->context = dup_str(ctxv->str);
        x->n_choices = chv->count;
        x->gold = (int32_t)gv->inum;
        x->choices = malloc(sizeof(char *) * (size_t)chv->count);
        if (!x->choices) FAIL("out of memory reading '%s'", path);
        int32_t k = 0;
        for (const json_value *v = chv->child; v; v = v->next, k++) {
            if (v->type != JSON_STRING)
                FAIL("%s line %lld: choice %d is %s; choices are strings", path, (long long)line,
                     k, a_type(v->type));
            if (v->str_len == 0)
                FAIL("%s line %lld: choice %d is empty; every choice needs some text (it is "
                     "appended to the context as is, usually with a leading space)", path,
                     (long long)line, k);
            x->choices[k] = dup_str(v->str);
        }
        char idbuf[64];
        if (idv && idv->type == JSON_STRING) x->id = dup_str(idv->str);
        else {
            if (idv && idv->is_int) snprintf(idbuf, sizeof idbuf, "%" PRId64, idv->inum);
            else if (idv) snprintf(idbuf, sizeof idbuf, "%.17g", idv->num);
            else snprintf(idbuf, sizeof idbuf, "%lld", (long long)line);
            x->id = dup_str(idbuf);
            x->id_is_num = 1;
        }
        json_free(doc);
    }
    free(buf);
    if (n == 0) FAIL("%s has no examples; give one JSON object a line (docs/EVAL.md)", path);
    *count = n;
    return ex;
}

static void free_examples(example *ex, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        for (int32_t k = 0; k < ex[i].n_choices; k++) {
            free(ex[i].choices[k]);
            if (ex[i].ch) free(ex[i].ch[k]);
        }
        free(ex[i].choices);
        free(ex[i].ch);
        free(ex[i].n_ch);
        free(ex[i].ctx);
        free(ex[i].context);
        free(ex[i].id);
    }
    free(ex);
}

/* ---------------------------------------------------------------- tasks: scoring */

static int is_space(char ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

static int32_t *encode(eval_ctx *e, const char *s, int64_t n, int flags, int32_t first,
                       int64_t *count) {
    int32_t *t;
    int64_t k;
    CHECK(retnet_tokenizer_encode_ex(e->tok, s, n, flags, &t, &k), "check the task file");
    int32_t *out = malloc(sizeof(int32_t) * (size_t)(k + 1));
    if (!out) FAIL("out of memory for tokens");
    int64_t o = 0;
    if (first >= 0) out[o++] = first;
    memcpy(out + o, t, sizeof(int32_t) * (size_t)k);
    free(t);
    *count = o + k;
    return out;
}

/* Tokens of an example: the context is the demonstrations' prefix + its own context, right-
 * stripped of whitespace; the choice is that whitespace + the choice (the harness's split). */
static void tokenize_example(eval_ctx *e, example *x, const char *prefix, int64_t plen,
                             const char *path) {
    int64_t cl = (int64_t)strlen(x->context);
    char *full = malloc((size_t)(plen + cl + 1));
    if (!full) FAIL("out of memory");
    memcpy(full, prefix, (size_t)plen);
    memcpy(full + plen, x->context, (size_t)cl + 1);
    int64_t fl = plen + cl, kept = fl;
    while (kept > 0 && is_space(full[kept - 1])) kept--;
    x->ctx = encode(e, full, kept, 0, e->bos, &x->n_ctx);
    x->ch = calloc((size_t)x->n_choices, sizeof(int32_t *));
    x->n_ch = calloc((size_t)x->n_choices, sizeof(int64_t));
    if (!x->ch || !x->n_ch) FAIL("out of memory");
    for (int32_t k = 0; k < x->n_choices; k++) {
        int64_t chl = (int64_t)strlen(x->choices[k]), ws = fl - kept;
        char *s = malloc((size_t)(ws + chl + 1));
        if (!s) FAIL("out of memory");
        memcpy(s, full + kept, (size_t)ws);
        memcpy(s + ws, x->choices[k], (size_t)chl + 1);
        x->ch[k] = encode(e, s, ws + chl, RETNET_ENCODE_CONTINUE, -1, &x->n_ch[k]);
        if (x->n_ch[k] == 0)
            FAIL("%s line %lld: choice %d gives no tokens with this tokenizer; give another "
                 "--tokenizer", path, (long long)x->line, k);
        free(s);
    }
    free(full);
}

/* The demonstrations: "context + gold choice" of each, separated by blank lines, and a blank
 * line before the example's own context. */
static char *fewshot_prefix(const example *demo, int64_t k, int64_t *len) {
    int64_t n = 0;
    for (int64_t i = 0; i < k; i++)
        n += (int64_t)strlen(demo[i].context) + (int64_t)strlen(demo[i].choices[demo[i].gold]) + 2;
    char *p = malloc((size_t)n + 1), *q = p;
    if (!p) FAIL("out of memory for the demonstrations");
    for (int64_t i = 0; i < k; i++)
        q += sprintf(q, "%s%s\n\n", demo[i].context, demo[i].choices[demo[i].gold]);
    *q = 0;
    *len = n;
    return p;
}

static int eval_task(opt *o) {
    if (o[O_WINDOW].given || o[O_CONTEXT].given || o[O_DOCS].given || o[O_DOCSEP].given)
        FAIL("--window, --context, --documents and --doc-sep are for --data, not --task");
    if (o[O_FEWSHOT].given && !o[O_SHOTS].given)
        FAIL("--fewshot-file needs --shots K, the number of demonstrations to take from it");
    int32_t chunk = o[O_CHUNK].given ? (int32_t)cli_int(o[O_CHUNK].value, "--chunk", 1, 1 << 20) : 0;
    int64_t shots = o[O_SHOTS].given ? cli_int(o[O_SHOTS].value, "--shots", 0, 1 << 20) : 0;
    int json = o[O_JSON].given;
    const char *path = o[O_TASK].value;
    int64_t n_all;
    example *all = read_task(path, &n_all);
    example *demo = all, *ex = all;
    int64_t n_demo = n_all, n = n_all;
    if (o[O_FEWSHOT].given) {
        demo = read_task(o[O_FEWSHOT].value, &n_demo);
        if (shots > n_demo)
            FAIL("--shots %lld but %s has %lld examples; give fewer shots", (long long)shots,
                 o[O_FEWSHOT].value, (long long)n_demo);
    } else if (shots > 0) {
        if (shots >= n_all)
            FAIL("--shots %lld takes the first %lld examples of %s as demonstrations, which leaves "
                 "none of its %lld to score; give fewer shots or a --fewshot-file",
                 (long long)shots, (long long)shots, path, (long long)n_all);
        ex = all + shots;
        n = n_all - shots;
    }
    int64_t plen;
    char *prefix = fewshot_prefix(demo, shots, &plen);

    eval_ctx e;
    ctx_open(&e, o);
    int64_t longest = 1, max_choices = 0, max_ch = 1;
    for (int64_t i = 0; i < n; i++) {
        tokenize_example(&e, &ex[i], prefix, plen, path);
        for (int32_t k = 0; k < ex[i].n_choices; k++) {
            if (ex[i].n_ctx + ex[i].n_ch[k] > longest) longest = ex[i].n_ctx + ex[i].n_ch[k];
            if (ex[i].n_ch[k] > max_ch) max_ch = ex[i].n_ch[k];
        }
        if (ex[i].n_choices > max_choices) max_choices = ex[i].n_choices;
    }
    if (longest > INT32_MAX / 2) FAIL("an example is too long (%lld tokens)", (long long)longest);
    const retnet_config *c0 = retnet_model_config(e.m);
    int tf = c0->arch == RETNET_ARCH_TRANSFORMER;
    if (tf) {
        if (longest > (1 << 24))
            FAIL("an example has %lld tokens, more than a Transformer's KV cache can hold; give "
                 "fewer --shots", (long long)longest);
        CHECK(retnet_model_set_context(e.m, (int32_t)longest), "give fewer --shots");
    }
    const retnet_config *c = retnet_model_config(e.m);
    int64_t sf = retnet_state_floats(c);
    retnet_state ctx_st = {0, malloc(sizeof(float) * (size_t)sf)};
    retnet_state ch_st = {0, malloc(sizeof(float) * (size_t)sf)};
    float *logits = malloc(sizeof(float) * (size_t)max_ch * (size_t)e.V);
    int32_t *in = malloc(sizeof(int32_t) * (size_t)max_ch);
    double *ll = malloc(sizeof(double) * (size_t)n * (size_t)max_choices);
    int *greedy = malloc(sizeof(int) * (size_t)n * (size_t)max_choices);
    if (!ctx_st.data || !ch_st.data || !logits || !in || !ll || !greedy)
        FAIL("out of memory for %lld x %d logits and two states of %lld bytes",
             (long long)max_ch, e.V, (long long)(4 * sf));

    progress pr;
    progress_init(&pr, !json && !o[O_QUIET].given);
    double t0 = cli_now();
    int64_t fed = 0;
    for (int64_t i = 0; i < n; i++) {
        example *x = &ex[i];
        retnet_state_reset(c, &ctx_st);
        if (x->n_ctx > 1) {
            CHECK(retnet_forward(e.m, x->ctx, 1, (int32_t)(x->n_ctx - 1), RETNET_FORM_CHUNKWISE,
                                 chunk, &ctx_st, NULL), "check the model and --chunk");
            fed += x->n_ctx - 1;
        }
        for (int32_t k = 0; k < x->n_choices; k++) {
            /* inputs: the context's last token, then the choice's tokens but the last;
             * row r predicts choice token r */
            const int64_t m = x->n_ch[k];
            in[0] = x->ctx[x->n_ctx - 1];
            memcpy(in + 1, x->ch[k], sizeof(int32_t) * (size_t)(m - 1));
            memcpy(ch_st.data, ctx_st.data, sizeof(float) * (size_t)sf);
            ch_st.pos = ctx_st.pos;
            CHECK(retnet_forward(e.m, in, 1, (int32_t)m, form_for(m), chunk, &ch_st,
                                 logits), "check the model and --chunk");
            fed += m;
            double s = 0;
            int all_greedy = 1;
            for (int64_t r = 0; r < m; r++) {
                int g;
                s += log_prob(logits + r * e.V, e.V, x->ch[k][r], &g);
                all_greedy &= g;
            }
            if (!isfinite(s))
                FAIL("%s line %lld: the log-likelihood of choice %d is %s (NaN or Inf logits); "
                     "check the checkpoint", path, (long long)x->line, k, isnan(s) ? "NaN" : "infinite");
            ll[i * max_choices + k] = s;
            greedy[i * max_choices + k] = all_greedy;
        }
        progress_show(&pr, i + 1, n, "examples", fed);
    }
    double dt = cli_now() - t0;
    progress_end(&pr);

    /* acc: argmax of the sum; acc_norm: of the sum per byte of the choice (first max on ties) */
    int64_t correct = 0, correct_norm = 0;
    int32_t *pred = malloc(sizeof(int32_t) * (size_t)n), *pred_norm = malloc(sizeof(int32_t) * (size_t)n);
    if (!pred || !pred_norm) FAIL("out of memory");
    for (int64_t i = 0; i < n; i++) {
        const example *x = &ex[i];
        const double *l = ll + i * max_choices;
        int32_t b = 0, bn = 0;
        for (int32_t k = 1; k < x->n_choices; k++) {
            if (l[k] > l[b]) b = k;
            if (l[k] / (double)strlen(x->choices[k]) > l[bn] / (double)strlen(x->choices[bn])) bn = k;
        }
        pred[i] = b;
        pred_norm[i] = bn;
        correct += b == x->gold;
        correct_norm += bn == x->gold;
    }
    double acc = (double)correct / (double)n, acc_norm = (double)correct_norm / (double)n;
    if (json) {
        printf("{\"mode\": \"task\", \"model\": ");
        put_str(stdout, e.model_path);
        printf(", \"task\": ");
        put_str(stdout, path);
        printf(", \"arch\": \"%s\", \"tokenizer\": \"%s\", \"examples\": %lld, \"shots\": %lld, "
               "\"fewshot_file\": ", tf ? "transformer" : "retnet",
               retnet_tokenizer_kind_name(e.tok), (long long)n, (long long)shots);
        if (o[O_FEWSHOT].given) put_str(stdout, o[O_FEWSHOT].value);
        else printf("null");
        printf(", \"acc\": %.17g, \"acc_correct\": %lld, \"acc_norm\": %.17g, "
               "\"acc_norm_correct\": %lld, \"tokens\": %lld, \"seconds\": %.6f, "
               "\"tokens_per_s\": %.1f, \"results\": [",
               acc, (long long)correct, acc_norm, (long long)correct_norm, (long long)fed, dt,
               rate((double)fed, dt));
        for (int64_t i = 0; i < n; i++) {
            const example *x = &ex[i];
            printf("%s\n  {\"id\": ", i ? "," : "");
            if (x->id_is_num) printf("%s", x->id);
            else put_str(stdout, x->id);
            printf(", \"line\": %lld, \"gold\": %d, \"pred\": %d, \"pred_norm\": %d, \"acc\": %d, "
                   "\"acc_norm\": %d, \"context_tokens\": %lld, \"loglik\": [",
                   (long long)x->line, x->gold, pred[i], pred_norm[i], pred[i] == x->gold,
                   pred_norm[i] == x->gold, (long long)x->n_ctx);
            for (int32_t k = 0; k < x->n_choices; k++)
                printf("%s%.17g", k ? ", " : "", ll[i * max_choices + k]);
            printf("], \"bytes\": [");
            for (int32_t k = 0; k < x->n_choices; k++)
                printf("%s%zu", k ? ", " : "", strlen(x->choices[k]));
            printf("], \"choice_tokens\": [");
            for (int32_t k = 0; k < x->n_choices; k++)
                printf("%s%lld", k ? ", " : "", (long long)x->n_ch[k]);
            printf("], \"greedy\": [");
            for (int32_t k = 0; k < x->n_choices; k++)
                printf("%s%s", k ? ", " : "", greedy[i * max_choices + k] ? "true" : "false");
            printf("]}");
        }
        printf("\n]}\n");
    } else {
        printf("%s: %lld examples scored", path, (long long)n);
        if (shots) printf(", %lld-shot (demonstrations from %s)", (long long)shots,
                          o[O_FEWSHOT].given ? o[O_FEWSHOT].value : "its first examples");
        printf(" (%s tokenizer)\n", retnet_tokenizer_kind_name(e.tok));
        printf("acc       %.4f  (%lld/%lld)\n", acc, (long long)correct, (long long)n);
        printf("acc_norm  %.4f  (%lld/%lld)\n", acc_norm, (long long)correct_norm, (long long)n);
        printf("%lld tokens in %.2f s: %.0f tokens/s (each context prefilled once)\n",
               (long long)fed, dt, rate((double)fed, dt));
    }
    free(pred);
    free(pred_norm);
    free(ll);
    free(greedy);
    free(in);
    free(logits);
    free(ctx_st.data);
    free(ch_st.data);
    free(prefix);
    if (demo != all) free_examples(demo, n_demo);
    free_examples(all, n_all);
    ctx_close(&e);
    return 0;
}

/* ---------------------------------------------------------------- entry */

int cmd_eval(int argc, char **argv) {
    opt o[] = {{"--model", 1},  {"--config", 1},    {"--tokenizer", 1}, {"--data", 1},
               {"--task", 1},   {"--window", 1},    {"--chunk", 1},     {"--context", 1},
               {"--documents", 1}, {"--doc-sep", 1}, {"--shots", 1},    {"--fewshot-file", 1},
               {"--json", 0},   {"--quiet", 0},     {"--device", 1}};
    cli_parse(argc, argv, o, O_COUNT, NULL, 0, usage_eval);
    if (!o[O_MODEL].given) FAIL("missing --model FILE");
    if (o[O_DATA].given == o[O_TASK].given)
        FAIL("give exactly one of --data TEXT (perplexity) or --task FILE.jsonl (multiple choice)");
    return o[O_DATA].given ? eval_text(o) : eval_task(o);
}
