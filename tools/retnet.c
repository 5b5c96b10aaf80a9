/*
 * retnet: the command-line tool, a thin client of the library (include/retnet.h).
 *
 *   retnet init    make a model with the official initialisation
 *   retnet logits  run a model over tokens and write the logits
 *   retnet info    describe a checkpoint
 *   retnet forms   show that the three forms of retention agree, and how fast each is
 *
 * Every failure exits non-zero with one line: what is wrong, and what to do about it.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Reads token ids separated by commas and/or whitespace. */
static int32_t *parse_tokens(const char *text, int64_t *n_out) {
    int64_t cap = 256, n = 0;
    int32_t *t = malloc(sizeof(int32_t) * cap);
    const char *p = text;
    while (t) {
        while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX)
            FAIL("bad token id near '%.12s'; token ids are non-negative integers separated by "
                 "commas or spaces", p);
        if (*end && *end != ',' && *end != ' ' && *end != '\t' && *end != '\n' && *end != '\r')
            FAIL("bad token id near '%.12s'; token ids are non-negative integers separated by "
                 "commas or spaces", p);
        if (n == cap) t = realloc(t, sizeof(int32_t) * (cap *= 2));
        if (t) t[n++] = (int32_t)v;
        p = end;
    }
    if (!t) FAIL("out of memory reading tokens");
    if (n == 0) FAIL("the token list is empty; give at least one token id");
    *n_out = n;
    return t;
}

int cmd_train(int argc, char **argv);     /* cmd_train.c */
int cmd_tokenize(int argc, char **argv);  /* cmd_data.c */
int cmd_tokenizer(int argc, char **argv); /* cmd_data.c */
int cmd_generate(int argc, char **argv);  /* cmd_generate.c */
int cmd_chat(int argc, char **argv);      /* cmd_generate.c */
int cmd_eval(int argc, char **argv);      /* cmd_eval.c */
int cmd_bench(int argc, char **argv);     /* cmd_bench.c */

static void print_config(const retnet_config *c) {
    char buf[2048];
    retnet_config_to_json(c, buf, sizeof buf);
    printf("config: %s\n", buf);
}

static void describe(const retnet_config *c) {
    int64_t np = retnet_config_param_count(c);
    int64_t sb = 4 * retnet_state_floats(c);
    printf("parameters: %lld (%.2f M), %.1f MB as float32\n", (long long)np, np / 1e6, 4.0 * np / 1e6);
    printf("%s: layers %d, d_model %d, heads %d (dk %d, dv %d), d_ffn %d, vocab %d\n",
           c->arch == RETNET_ARCH_TRANSFORMER ? "transformer" : "retnet", c->n_layer,
           c->d_model, c->n_head, c->d_key / c->n_head, c->d_value / c->n_head, c->d_ffn, c->vocab);
    if (c->arch == RETNET_ARCH_TRANSFORMER)
        printf("KV cache: %lld bytes per token per sequence; %lld bytes (%.1f MB) at the full "
               "context of %d tokens\n", (long long)retnet_state_bytes_used(c, 1), (long long)sb,
               sb / 1e6, c->context);
    else
        printf("recurrent state: %lld bytes per sequence (%.1f KB), independent of context "
               "length\n", (long long)sb, sb / 1024.0);
}

/* ---------------------------------------------------------------- init */

static void usage_init(void) {
    printf("usage: retnet init (--preset NAME | --config FILE) --out MODEL.safetensors [--seed N]\n\n"
           "Makes a model with the official initialisation (RETNET.md §5) and writes it as a\n"
           "float32 safetensors checkpoint, tensor by tensor (the 6.7b preset needs no more\n"
           "memory than its largest tensor).\n\n"
           "  --preset NAME   tiny, small, base, 1.3b, 2.7b or 6.7b; tf-NAME: the Transformer\n"
           "                  matched to it in parameters (same d, layers, norms, FFN kind)\n"
           "  --config FILE   a JSON config (our keys, or torchscale's decoder_* keys)\n"
           "  --out FILE      where to write the checkpoint (written atomically)\n"
           "  --seed N        random seed (default 1)\n");
}

static int cmd_init(int argc, char **argv) {
    opt o[] = {{"--preset", 1}, {"--config", 1}, {"--out", 1}, {"--seed", 1}};
    cli_parse(argc, argv, o, 4, NULL, 0, usage_init);
    if (o[0].given == o[1].given) FAIL("give exactly one of --preset NAME or --config FILE");
    if (!o[2].given) FAIL("missing --out FILE; say where to write the model");
    if (o[1].given) cli_refuse_same(o[2].value, "--out", o[1].value, "--config");
    retnet_config c;
    if (o[0].given) CHECK(retnet_config_preset(o[0].value, &c), "pick one of the listed presets");
    else CHECK(retnet_config_load(o[1].value, &c), "fix the config file (docs/FILE_FORMAT.md)");
    uint64_t seed = o[3].given ? (uint64_t)cli_int(o[3].value, "--seed", 0, LLONG_MAX) : 1;
    double t0 = cli_now();
    CHECK(retnet_init_file(&c, seed, o[2].value), "check that the output directory exists and is writable");
    describe(&c);
    printf("wrote %s in %.1f s\n", o[2].value, cli_now() - t0);
    return 0;
}

/* ---------------------------------------------------------------- logits */

static void usage_logits(void) {
    printf("usage: retnet logits --model MODEL [--config FILE] (--tokens 1,2,3 | --tokens-file FILE)\n"
           "                     [--form parallel|chunkwise|recurrent] [--chunk C] [--device D]\n"
           "                     --out FILE\n\n"
           "Runs the model over the tokens and writes the logits as float32 little-endian,\n"
           "shape [T, vocab], row-major (numpy: np.fromfile(FILE, '<f4').reshape(T, vocab)).\n\n"
           "  --model FILE        safetensors checkpoint\n"
           "  --config FILE       config for a checkpoint without our metadata (e.g. torchscale's)\n"
           "  --tokens LIST       token ids separated by commas\n"
           "  --tokens-file FILE  token ids separated by commas or whitespace\n"
           "  --form NAME         parallel (default), chunkwise or recurrent\n"
           "  --chunk C           chunk length for the chunkwise form (default: the config's)\n"
           "  --device D          cpu (default) or cuda / cuda:N (a CUDA build; bf16 products,\n"
           "                      the form and chunk are the GPU's own)\n"
           "  --out FILE          where to write the logits\n");
}


static int cmd_logits(int argc, char **argv) {
    opt o[] = {{"--model", 1}, {"--config", 1}, {"--tokens", 1}, {"--tokens-file", 1},
               {"--form", 1},  {"--chunk", 1},  {"--out", 1},
               {"--device", 1}};
    cli_parse(argc, argv, o, 8, NULL, 0, usage_logits);
    if (!o[0].given) FAIL("missing --model FILE");
    if (o[2].given == o[3].given) FAIL("give exactly one of --tokens LIST or --tokens-file FILE");
    if (!o[6].given) FAIL("missing --out FILE; say where to write the logits");
    for (int i = 0; i < 4; i++) /* --model, --config, --tokens-file */
        if (i != 2 && o[i].given) cli_refuse_same(o[6].value, "--out", o[i].value, o[i].name);
    int form = RETNET_FORM_PARALLEL;
    if (o[4].given && (form = retnet_form_parse(o[4].value)) < 0)
        FAIL("unknown form '%s'; use parallel, chunkwise or recurrent", o[4].value);
    int chunk = o[5].given ? (int)cli_int(o[5].value, "--chunk", 1, 1 << 20) : 0;
    int64_t T;
    char *text = o[3].given ? cli_read_file(o[3].value, NULL) : NULL;
    int32_t *tokens = parse_tokens(text ? text : o[2].value, &T);
    free(text);
    if (T > INT32_MAX) FAIL("too many tokens");
    retnet_model *m = cli_load_model(o[0].value, o[1].value);
    if (o[7].given)
        CHECK(retnet_model_to_device(m, o[7].value), "use --device cpu, or a CUDA build on a "
              "machine with a GPU");
    const retnet_config *c = retnet_model_config(m);
    for (int64_t i = 0; i < T; i++)
        if (tokens[i] >= c->vocab)
            FAIL("token %d (position %lld) is out of range for this model's vocabulary of %d; "
                 "token ids must be below %d", tokens[i], (long long)i, c->vocab, c->vocab);
    float *logits = malloc(sizeof(float) * (size_t)T * (size_t)c->vocab);
    if (!logits) FAIL("out of memory for %lld x %d logits", (long long)T, c->vocab);
    double t0 = cli_now();
    CHECK(retnet_forward(m, tokens, 1, (int32_t)T, form, chunk, NULL, logits), "check the inputs");
    double dt = cli_now() - t0;
    /* atomically: a temp file beside it, renamed over it once written in full */
    char tmpname[4200];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", o[6].value, (long)getpid());
    FILE *f = fopen(tmpname, "wb");
    if (!f) FAIL("cannot write '%s': %s; check the path", o[6].value, strerror(errno));
    size_t wrote = fwrite(logits, sizeof(float), (size_t)T * c->vocab, f);
    /* on the disk before the rename, as the library's writers do: a crash then leaves the
     * old file or the whole new one, never an empty one under the final name */
    const int synced = fflush(f) == 0 && fsync(fileno(f)) == 0;
    const int werr = ferror(f) || !synced ? errno : 0;
    if (fclose(f) || wrote != (size_t)T * c->vocab || !synced) {
        const int e = werr ? werr : errno;
        remove(tmpname);
        FAIL("failed writing '%s': %s; it is as it was", o[6].value, strerror(e));
    }
    if (rename(tmpname, o[6].value)) {
        const int e = errno;
        remove(tmpname);
        FAIL("cannot rename '%s' to '%s': %s", tmpname, o[6].value, strerror(e));
    }
    const char *where = o[7].given && strcmp(o[7].value, "cpu") ? ", on the GPU" : "";
    fprintf(stderr, "%lld tokens, %s form%s, %.1f ms (%.0f tokens/s); wrote [%lld, %d] float32 to %s\n",
            (long long)T, *where ? "chunkwise" : retnet_form_name(form), where, dt * 1e3, T / dt,
            (long long)T, c->vocab, o[6].value);
    free(logits);
    free(tokens);
    retnet_model_free(m);
    return 0;
}

/* ---------------------------------------------------------------- info */

static void usage_info(void) {
    printf("usage: retnet info MODEL [--config FILE]\n\n"
           "Prints a checkpoint's config, parameter count, bytes and the recurrent state size.\n"
           "Checks the file's tensor table (names, shapes, dtypes, byte ranges) but not the values.\n");
}

static int cmd_info(int argc, char **argv) {
    opt o[] = {{"--config", 1}};
    const char *pos[1] = {NULL};
    cli_parse(argc, argv, o, 1, pos, 1, usage_info);
    if (!pos[0]) FAIL("missing MODEL; usage: retnet info MODEL");
    retnet_config given, c;
    if (o[0].given) CHECK(retnet_config_load(o[0].value, &given), "fix the config file (docs/FILE_FORMAT.md)");
    CHECK(retnet_checkpoint_config(pos[0], o[0].given ? &given : NULL, &c),
          "give a retnet or torchscale safetensors checkpoint (with --config if it has no metadata)");
    printf("model: %s\n", pos[0]);
    print_config(&c);
    describe(&c);
    return 0;
}

/* ---------------------------------------------------------------- forms */

static void usage_forms(void) {
    printf("usage: retnet forms (--model MODEL | --preset NAME) [--tokens T] [--chunk C] [--seed N]\n\n"
           "Runs T random tokens through the parallel, chunkwise and recurrent forms, prints how\n"
           "far their logits and final states are from the parallel form's, and how fast each is.\n");
}

static float max_abs_diff(const float *a, const float *b, int64_t n, double *scale) {
    float m = 0;
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= m)) m = isnan(d) ? INFINITY : d;
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    if (scale) *scale = s;
    return m;
}

static int cmd_forms(int argc, char **argv) {
    opt o[] = {{"--model", 1}, {"--preset", 1}, {"--tokens", 1}, {"--chunk", 1}, {"--seed", 1}};
    cli_parse(argc, argv, o, 5, NULL, 0, usage_forms);
    if (o[0].given == o[1].given) FAIL("give exactly one of --model FILE or --preset NAME");
    int T = o[2].given ? (int)cli_int(o[2].value, "--tokens", 1, 1 << 24) : 1024;
    int chunk = o[3].given ? (int)cli_int(o[3].value, "--chunk", 1, 1 << 20) : 0;
    uint64_t seed = o[4].given ? (uint64_t)cli_int(o[4].value, "--seed", 0, LLONG_MAX) : 1;
    retnet_model *m;
    if (o[0].given) m = cli_load_model(o[0].value, NULL);
    else {
        retnet_config c;
        CHECK(retnet_config_preset(o[1].value, &c), "pick one of the listed presets");
        CHECK(retnet_model_create(&c, &m), "use a smaller preset");
        CHECK(retnet_model_init(m, seed), "");
    }
    const retnet_config *c = retnet_model_config(m);
    int32_t *tokens = malloc(sizeof(int32_t) * T);
    if (!tokens) FAIL("out of memory; use fewer --tokens");
    float *logits[3];
    float *state[3];
    int64_t sf = retnet_state_floats(c);
    uint64_t s = seed * 2654435761u + 1;
    for (int i = 0; i < T; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        tokens[i] = (int32_t)((s >> 33) % (uint64_t)c->vocab);
    }
    printf("%d random tokens, %s; chunk %d\n", T, o[0].given ? o[0].value : o[1].value,
           chunk ? chunk : c->chunk);
    printf("%-10s %12s %12s %14s %14s\n", "form", "ms", "tokens/s", "max|dlogit|", "max|dstate|");
    for (int f = 0; f < 3; f++) {
        logits[f] = malloc(sizeof(float) * (size_t)T * c->vocab);
        state[f] = malloc(sizeof(float) * sf);
        if (!tokens || !logits[f] || !state[f]) FAIL("out of memory; use fewer --tokens");
        retnet_state st = {0, state[f]};
        retnet_state_reset(c, &st);
        double t0 = cli_now();
        CHECK(retnet_forward(m, tokens, 1, T, (retnet_form)f, chunk, &st, logits[f]), "");
        double dt = cli_now() - t0;
        double scale;
        float dl = max_abs_diff(logits[f], logits[0], (int64_t)T * c->vocab, &scale);
        float ds = max_abs_diff(state[f], state[0], sf, NULL);
        printf("%-10s %12.1f %12.0f %14.3g %14.3g\n", retnet_form_name((retnet_form)f), dt * 1e3,
               T / dt, dl, ds);
    }
    double scale;
    max_abs_diff(logits[0], logits[0], (int64_t)T * c->vocab, &scale);
    printf("(largest |logit| %.3g; differences are float32 rounding)\n", scale);
    for (int f = 0; f < 3; f++) free(logits[f]), free(state[f]);
    free(tokens);
    retnet_model_free(m);
    return 0;
}

/* ---------------------------------------------------------------- convert */

static void usage_convert(void) {
    printf("usage: retnet convert --model SRC [--config FILE] --out DST [--to retnet|fla]\n"
           "                      [--dtype f32|bf16]\n\n"
           "Rewrites a checkpoint in another layout. SRC is anything --model takes: our\n"
           "safetensors file, a torchscale state dict saved as safetensors (with --config, its\n"
           "config JSON in torchscale's keys), or a Hugging Face directory in fla's layout.\n"
           "  --to retnet   (default) one safetensors file with our metadata; its tensor names\n"
           "                are torchscale's, so torchscale's RetNetDecoder loads it by name\n"
           "  --to fla      a directory: config.json and model.safetensors with fla's names, for\n"
           "                transformers + fla's RetNetForCausalLM (fla's variant only)\n"
           "  --dtype       f32 (default) or bf16 (rounded to nearest even)\n");
}

static int cmd_convert(int argc, char **argv) {
    opt o[] = {{"--model", 1}, {"--config", 1}, {"--out", 1}, {"--to", 1}, {"--dtype", 1}};
    cli_parse(argc, argv, o, 5, NULL, 0, usage_convert);
    if (!o[0].given) FAIL("missing --model SRC");
    if (!o[2].given) FAIL("missing --out DST; say where to write");
    /* never over the checkpoint read (a bf16 copy over the float32 original loses its bits)
     * nor over a config given for it; an fla directory's files count as the model's */
    cli_refuse_same(o[2].value, "--out", o[0].value, "--model");
    if (o[1].given) cli_refuse_same(o[2].value, "--out", o[1].value, "--config");
    unsigned flags = 0;
    if (o[3].given && strcmp(o[3].value, "retnet")) {
        if (strcmp(o[3].value, "fla")) FAIL("unknown --to '%s'; use retnet or fla", o[3].value);
        flags |= RETNET_SAVE_FLA;
    }
    if (o[4].given && strcmp(o[4].value, "f32")) {
        if (strcmp(o[4].value, "bf16")) FAIL("unknown --dtype '%s'; use f32 or bf16", o[4].value);
        flags |= RETNET_SAVE_BF16;
    }
    double t0 = cli_now();
    retnet_model *m = cli_load_model(o[0].value, o[1].value);
    /* the hint for what fla's layout cannot hold, not for a disk or path problem */
    const retnet_status st = retnet_model_save_ex(m, o[2].value, flags);
    if (st != RETNET_OK)
        FAIL("%s; %s", retnet_errmsg(),
             st == RETNET_EUNSUPPORTED ? "convert to our format instead (--to retnet)"
                                       : "check DST");
    fprintf(stderr, "wrote %s (%s, %s) in %.1f s\n", o[2].value,
            (flags & RETNET_SAVE_FLA) ? "fla's layout" : "retnet",
            (flags & RETNET_SAVE_BF16) ? "bf16" : "f32", cli_now() - t0);
    retnet_model_free(m);
    return 0;
}

/* ---------------------------------------------------------------- main */

/*
 * OpenBLAS picks its kernels when it is loaded, by the CPU's model; Debian 12's 0.3.21 does
 * not know newer ones (Emerald Rapids: family 6, model 207) and falls back to its Prescott
 * kernels (SSE3, no FMA): `retnet bench train --preset tiny` 1.47x slower on such a machine.
 * Where OPENBLAS_CORETYPE is unset and OpenBLAS fell back so on a CPU with AVX-512 or AVX2,
 * name the kernels it can run and start again (once: the variable is then set).
 */
extern char *openblas_get_corename(void) __attribute__((weak));
static void blas_kernels(char **argv) {
#if defined(__x86_64__) && defined(__linux__)
    if (!openblas_get_corename || getenv("OPENBLAS_CORETYPE")) return;
    const char *core = openblas_get_corename();
    if (!core || strcasecmp(core, "prescott")) return;
    __builtin_cpu_init();
    const char *want = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                               __builtin_cpu_supports("avx512vl") &&
                               __builtin_cpu_supports("avx512dq")
                           ? "SkylakeX"
                       : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
                           ? "Haswell"
                           : NULL;
    if (!want) return;
    setenv("OPENBLAS_CORETYPE", want, 1);
    execv("/proc/self/exe", argv);
    fprintf(stderr, "retnet: OpenBLAS runs its Prescott kernels on this CPU (restarting with "
                    "OPENBLAS_CORETYPE=%s failed: %s); set it for faster products\n",
            want, strerror(errno));
#else
    (void)argv;
#endif
}

static void usage(void) {
    printf("usage: retnet COMMAND [options]   (retnet COMMAND --help for each)\n\n"
           "  init     make a model with the official initialisation\n"
           "  logits   run a model over tokens, write float32 logits\n"
           "  info     describe a checkpoint\n"
           "  forms    show that the three forms agree, and how fast each is\n"
           "  tokenizer  train a byte-level BPE tokenizer (or encode/decode with one)\n"
           "  tokenize   turn a text file into token files for training\n"
           "  train    train a model on tokenized data\n"
           "  generate   generate text (a prompt, a batch of prompts, or a saved state)\n"
           "  chat     talk with a model, keeping its state between lines\n"
           "  eval     perplexity and bits per byte of a text, or multiple-choice task accuracy\n"
           "  convert  rewrite a checkpoint: ours, torchscale's names, fla's directory layout\n"
           "  bench    end-to-end speed: training steps (tokens/s, MFU, memory) or decoding\n");
}

int main(int argc, char **argv) {
    blas_kernels(argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage();
        return argc < 2;
    }
    static char name[64];
    snprintf(name, sizeof name, "retnet %s", argv[1]);
    cli_cmd = name;
    struct { const char *name; int (*fn)(int, char **); } cmds[] = {
        {"init", cmd_init},         {"logits", cmd_logits},       {"info", cmd_info},
        {"forms", cmd_forms},       {"train", cmd_train},         {"tokenize", cmd_tokenize},
        {"tokenizer", cmd_tokenizer}, {"generate", cmd_generate},   {"chat", cmd_chat},
        {"eval", cmd_eval},         {"convert", cmd_convert},     {"bench", cmd_bench}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].fn(argc - 2, argv + 2);
    cli_cmd = "retnet";
    FAIL("unknown command '%s'; run 'retnet --help' for the list", argv[1]);
}
