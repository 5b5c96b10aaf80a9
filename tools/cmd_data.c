/*
 * retnet tokenize / retnet tokenizer: text to token files, and tokenizers (docs/TOKENIZER.md).
 *
 *   retnet tokenize   --tokenizer TOK --data TEXT --out DIR [--val-fraction F | --val-data FILE]
 *   retnet tokenizer  train | encode | decode | info
 *
 * TOK is "byte", "gpt2" (data/gpt2/ or $RETNET_GPT2_DIR; scripts/get-gpt2-tokenizer.sh), a
 * directory with GPT-2's encoder.json and vocab.bpe, or a BPE file from `retnet tokenizer train`.
 * Every failure is one line on stderr (cli.h); progress goes to stderr, results to stdout.
 */
#include "cli.h"
#include "data.h"
#include "tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *TOK_HINT =
    "give 'byte', 'gpt2' (run scripts/get-gpt2-tokenizer.sh first), a directory with "
    "encoder.json and vocab.bpe, or a file from 'retnet tokenizer train'";

/* ---------------------------------------------------------------- progress */

typedef struct {
    int tty;
    double t0, last;
    const char *what;
} progress;

static void on_progress(void *ctx, const char *what, int64_t done, int64_t total) {
    progress *p = ctx;
    double now = cli_now();
    if (p->tty) {
        if (now - p->last < 0.1 && done < total) return;
        fprintf(stderr, "\r\033[K%s: %s %3.0f%% (%.1f MB, %.1f MB/s)", cli_cmd, what,
                100.0 * (double)done / (double)(total ? total : 1), done / 1e6,
                done / 1e6 / (now - p->t0 > 1e-9 ? now - p->t0 : 1e-9));
        if (done == total) fputc('\n', stderr);
    } else if (done == total || now - p->last > 10) {
        fprintf(stderr, "%s: %s %.0f%% of %.1f MB\n", cli_cmd, what,
                100.0 * (double)done / (double)(total ? total : 1), total / 1e6);
    } else {
        return;
    }
    p->last = now;
}

static void on_merges(void *ctx, int32_t done, int32_t want) {
    progress *p = ctx;
    double now = cli_now();
    if (p->tty && (now - p->last > 0.1 || done == want)) {
        fprintf(stderr, "\r\033[K%s: merges %d/%d", cli_cmd, done, want);
        p->last = now;
    }
}

/* ---------------------------------------------------------------- tokenize */

static void usage_tokenize(void) {
    printf("usage: retnet tokenize --tokenizer TOK --data TEXT --out DIR\n"
           "                       [--val-fraction F | --val-data FILE]\n\n"
           "Encodes a text file into a dataset directory for 'retnet train':\n"
           "  DIR/train.bin, DIR/val.bin   token files (docs/TOKENIZER.md)\n"
           "  DIR/meta.json                tokenizer, vocabulary, counts, sources and their sha256\n"
           "  DIR/tokenizer.bpe            a copy of a trained BPE tokenizer (the directory is\n"
           "                               self-contained)\n"
           "Each file is written atomically; meta.json last.\n\n"
           "  --tokenizer TOK     byte, gpt2 (data/gpt2/ or $RETNET_GPT2_DIR), a directory with\n"
           "                      GPT-2's encoder.json and vocab.bpe, or a file from\n"
           "                      'retnet tokenizer train'\n"
           "  --data TEXT         the training text (any bytes)\n"
           "  --out DIR           the dataset directory (created if missing)\n"
           "  --val-fraction F    hold out the last fraction F of TEXT for validation, cut at the\n"
           "                      next line start (default 0.1)\n"
           "  --val-data FILE     a separate validation text instead (e.g. whole held-out\n"
           "                      documents, as scripts/get-corpora.sh writes them)\n");
}

int cmd_tokenize(int argc, char **argv) {
    opt o[] = {{"--tokenizer", 1}, {"--data", 1}, {"--out", 1}, {"--val-fraction", 1}, {"--val-data", 1}};
    const int no = sizeof o / sizeof o[0];
    cli_parse(argc, argv, o, no, NULL, 0, usage_tokenize);
#define O(name) cli_opt(o, no, name)
    if (!O("--tokenizer")->given) FAIL("missing --tokenizer TOK; %s", TOK_HINT);
    if (!O("--data")->given) FAIL("missing --data TEXT; give the text file to tokenize");
    if (!O("--out")->given) FAIL("missing --out DIR; say where the dataset goes");
    if (O("--val-fraction")->given && O("--val-data")->given)
        FAIL("give --val-fraction F or --val-data FILE, not both");
    retnet_tokenize_opts to = {0};
    to.val_fraction = O("--val-fraction")->given ? cli_double(O("--val-fraction")->value, "--val-fraction", 0, 1) : 0.1;
    if (!(to.val_fraction > 0 && to.val_fraction < 1))
        FAIL("--val-fraction %s must be above 0 and below 1", O("--val-fraction")->value);
    to.val_data = O("--val-data")->value;
    /* the files the dataset writes into --out (src/data.c) are not the texts it reads */
    static const char *const outs[] = {"train.bin", "val.bin", "meta.json", "tokenizer.bpe"};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", O("--out")->value, outs[i]);
        cli_refuse_same(path, "--out", O("--data")->value, "--data");
        cli_refuse_same(path, "--out", O("--val-data")->value, "--val-data");
    }
    progress p = {cli_isatty_stderr(), cli_now(), cli_now(), NULL};
    to.progress = on_progress;
    to.ctx = &p;
    const char *dir = O("--out")->value;
    retnet_dataset_summary sum;
    CHECK(retnet_dataset_build(dir, O("--tokenizer")->value, O("--data")->value, &to, &sum),
          "check the tokenizer, the text files and that DIR is writable");
    printf("tokenizer %s, vocabulary %d\n", O("--tokenizer")->value, sum.vocab);
    const char *names[2] = {"train", "val"};
    for (int k = 0; k < 2; k++)
        printf("%-5s %12lld bytes -> %11lld tokens (%.2f bytes/token)\n", names[k],
               (long long)sum.bytes[k], (long long)sum.tokens[k],
               (double)sum.bytes[k] / (double)(sum.tokens[k] ? sum.tokens[k] : 1));
    printf("wrote %s/train.bin, %s/val.bin and %s/meta.json in %.2f s\n", dir, dir, dir, sum.seconds);
    return 0;
#undef O
}

/* ---------------------------------------------------------------- tokenizer */

static void usage_tokenizer(void) {
    printf("usage: retnet tokenizer train  --vocab N --data TEXT --out TOK [--min-frequency K]\n"
           "       retnet tokenizer encode --tokenizer TOK (--text STRING | --file FILE)\n"
           "       retnet tokenizer decode --tokenizer TOK (--ids LIST | --ids-file FILE) [--skip-special]\n"
           "       retnet tokenizer info   --tokenizer TOK [--list]\n\n"
           "  train   learns a byte-level BPE of N ids (256 bytes, <bos> <eos> <pad> <unk>, then\n"
           "          N - 260 merges) from TEXT, with GPT-2's pre-tokenisation; writes TOK\n"
           "          atomically. Stops early if no pair occurs K times (default 2).\n"
           "  encode  prints the ids of the text, separated by commas (the format of\n"
           "          'retnet logits --tokens')\n"
           "  decode  writes the bytes of the ids (commas or spaces) to stdout; specials as their\n"
           "          names unless --skip-special\n"
           "  info    kind, vocabulary and specials; --list prints every id and its bytes\n\n"
           "TOK: byte, gpt2 (data/gpt2/ or $RETNET_GPT2_DIR), a directory with GPT-2's encoder.json\n"
           "and vocab.bpe, or a BPE file.\n");
}

static retnet_tokenizer *load_tok(const char *spec) {
    retnet_tokenizer *t;
    CHECK(retnet_tokenizer_load(spec, &t), TOK_HINT);
    return t;
}

static int tok_train(int argc, char **argv) {
    opt o[] = {{"--vocab", 1}, {"--data", 1}, {"--out", 1}, {"--min-frequency", 1}};
    const int no = sizeof o / sizeof o[0];
    cli_parse(argc, argv, o, no, NULL, 0, usage_tokenizer);
#define O(name) cli_opt(o, no, name)
    if (!O("--vocab")->given) FAIL("missing --vocab N; say how many ids the tokenizer has (>= 260)");
    if (!O("--data")->given) FAIL("missing --data TEXT; give the text to learn from");
    if (!O("--out")->given) FAIL("missing --out TOK; say where to write the tokenizer");
    cli_refuse_same(O("--out")->value, "--out", O("--data")->value, "--data");
    int32_t vocab = (int32_t)cli_int(O("--vocab")->value, "--vocab", RETNET_BYTE_VOCAB, 1 << 24);
    progress p = {cli_isatty_stderr(), cli_now(), cli_now(), NULL};
    retnet_bpe_opts bo = {0};
    bo.min_frequency = O("--min-frequency")->given
                           ? cli_int(O("--min-frequency")->value, "--min-frequency", 1, 1LL << 62)
                           : 2;
    bo.progress = on_merges;
    bo.ctx = &p;
    int64_t len;
    char *text = cli_read_file(O("--data")->value, &len);
    double t0 = cli_now();
    retnet_tokenizer *t;
    CHECK(retnet_bpe_train(text, len, vocab, &bo, &t), "use a smaller --vocab or less text");
    double dt = cli_now() - t0;
    if (p.tty) fputc('\n', stderr);
    CHECK(retnet_tokenizer_save(t, O("--out")->value), "check that the output directory exists and is writable");
    int32_t got = retnet_tokenizer_vocab(t);
    int32_t *ids;
    int64_t n;
    CHECK(retnet_tokenizer_encode(t, text, len, &ids, &n), "");
    printf("learned %d merges from %lld bytes in %.2f s (%.2f MB/s)\n", got - RETNET_BYTE_VOCAB,
           (long long)len, dt, len / 1e6 / (dt > 1e-9 ? dt : 1e-9));
    if (got < vocab)
        printf("stopped at vocabulary %d of %d: no pair occurs %lld times any more\n", got, vocab,
               (long long)bo.min_frequency);
    printf("the text encodes to %lld tokens (%.2f bytes/token)\n", (long long)n,
           (double)len / (double)(n ? n : 1));
    printf("wrote %s (vocabulary %d)\n", O("--out")->value, got);
    free(ids);
    free(text);
    retnet_tokenizer_free(t);
    return 0;
#undef O
}

static int tok_encode(int argc, char **argv) {
    opt o[] = {{"--tokenizer", 1}, {"--text", 1}, {"--file", 1}};
    const int no = sizeof o / sizeof o[0];
    cli_parse(argc, argv, o, no, NULL, 0, usage_tokenizer);
#define O(name) cli_opt(o, no, name)
    if (!O("--tokenizer")->given) FAIL("missing --tokenizer TOK; %s", TOK_HINT);
    if (O("--text")->given == O("--file")->given) FAIL("give exactly one of --text STRING or --file FILE");
    retnet_tokenizer *t = load_tok(O("--tokenizer")->value);
    int64_t len;
    char *text = O("--file")->given ? cli_read_file(O("--file")->value, &len) : NULL;
    if (!text) len = (int64_t)strlen(O("--text")->value);
    int32_t *ids;
    int64_t n;
    CHECK(retnet_tokenizer_encode(t, text ? text : O("--text")->value, len, &ids, &n), "");
    for (int64_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
    printf("\n");
    fprintf(stderr, "%lld bytes -> %lld tokens\n", (long long)len, (long long)n);
    free(ids);
    free(text);
    retnet_tokenizer_free(t);
    return 0;
#undef O
}

/* Ids separated by commas and/or whitespace. */
static int32_t *parse_ids(const char *s, int64_t *n_out) {
    int64_t cap = 256, n = 0;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)cap);
    if (!ids) FAIL("out of memory");
    for (const char *p = s;;) {
        while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX ||
            (*end && *end != ',' && *end != ' ' && *end != '\t' && *end != '\n' && *end != '\r'))
            FAIL("bad token id near '%.12s'; ids are non-negative integers separated by commas or spaces", p);
        if (n == cap && !(ids = realloc(ids, sizeof(int32_t) * (size_t)(cap *= 2)))) FAIL("out of memory");
        ids[n++] = (int32_t)v;
        p = end;
    }
    *n_out = n;
    return ids;
}

static int tok_decode(int argc, char **argv) {
    opt o[] = {{"--tokenizer", 1}, {"--ids", 1}, {"--ids-file", 1}, {"--skip-special", 0}};
    const int no = sizeof o / sizeof o[0];
    cli_parse(argc, argv, o, no, NULL, 0, usage_tokenizer);
#define O(name) cli_opt(o, no, name)
    if (!O("--tokenizer")->given) FAIL("missing --tokenizer TOK; %s", TOK_HINT);
    if (O("--ids")->given == O("--ids-file")->given) FAIL("give exactly one of --ids LIST or --ids-file FILE");
    retnet_tokenizer *t = load_tok(O("--tokenizer")->value);
    char *file = O("--ids-file")->given ? cli_read_file(O("--ids-file")->value, NULL) : NULL;
    int64_t n, len;
    int32_t *ids = parse_ids(file ? file : O("--ids")->value, &n);
    char *text;
    CHECK(retnet_tokenizer_decode(t, ids, n, O("--skip-special")->given ? RETNET_DECODE_SKIP_SPECIAL : 0,
                                  &text, &len),
          "give ids below the tokenizer's vocabulary");
    fwrite(text, 1, (size_t)len, stdout);
    free(text);
    free(ids);
    free(file);
    retnet_tokenizer_free(t);
    return 0;
#undef O
}

static int tok_info(int argc, char **argv) {
    opt o[] = {{"--tokenizer", 1}, {"--list", 0}};
    const int no = sizeof o / sizeof o[0];
    cli_parse(argc, argv, o, no, NULL, 0, usage_tokenizer);
#define O(name) cli_opt(o, no, name)
    if (!O("--tokenizer")->given) FAIL("missing --tokenizer TOK; %s", TOK_HINT);
    retnet_tokenizer *t = load_tok(O("--tokenizer")->value);
    int32_t v = retnet_tokenizer_vocab(t);
    printf("tokenizer: %s (%s)\nvocabulary: %d\n", O("--tokenizer")->value, retnet_tokenizer_kind_name(t), v);
    printf("bos %d, eos %d, pad %d\n", retnet_tokenizer_bos(t), retnet_tokenizer_eos(t), retnet_tokenizer_pad(t));
    for (int32_t id = 0; O("--list")->given && id < v; id++) {
        int64_t l;
        const unsigned char *b = (const unsigned char *)retnet_tokenizer_token(t, id, &l);
        printf("%d\t%s\"", id, retnet_tokenizer_is_special(t, id) ? "special " : "");
        for (int64_t k = 0; k < l; k++) {
            if (b[k] == '"' || b[k] == '\\') printf("\\%c", b[k]);
            else if (b[k] >= 0x20 && b[k] < 0x7F) putchar(b[k]);
            else printf("\\x%02x", b[k]);
        }
        printf("\"\n");
    }
    retnet_tokenizer_free(t);
    return 0;
#undef O
}

int cmd_tokenizer(int argc, char **argv) {
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        usage_tokenizer();
        return argc < 1;
    }
    static char name[64];
    snprintf(name, sizeof name, "retnet tokenizer %s", argv[0]);
    struct { const char *name; int (*fn)(int, char **); } subs[] = {
        {"train", tok_train}, {"encode", tok_encode}, {"decode", tok_decode}, {"info", tok_info}};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (!strcmp(argv[0], subs[i].name)) {
            cli_cmd = name;
            return subs[i].fn(argc - 1, argv + 1);
        }
    FAIL("unknown subcommand '%s'; use train, encode, decode or info (see 'retnet tokenizer --help')", argv[0]);
}
