/*
 * test_cli: the `retnet` tool as a user meets it. Runs the binary built next to this test
 * (../retnet relative to this binary) on good and bad input and checks the exit status, that
 * every failure is exactly one line on stderr saying what is wrong, and that the outputs are
 * right (logits files of the right size, equal across forms).
 */
#include "test.h"
#include "cli_run.h"

#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>

static char retnet[4096], tmpdir[256];

typedef cli_result result;

/* Runs `retnet ARGS`. The CLI exits through one error path without freeing what it holds (by
 * design: the process ends); leak checking is for the library's own tests. */
static result run(const char *args) {
    return cli_run("ASAN_OPTIONS=detect_leaks=0", retnet, args, NULL, tmpdir);
}

static void expect_error(const char *args, const char *phrase) {
    cli_expect_error(run(args), args, phrase);
}

static void test_help(void) {
    const char *cmds[] = {"--help",          "init --help",           "logits --help",
                          "info --help",     "forms --help",          "train --help",
                          "tokenize --help", "tokenizer --help",      "tokenizer train --help",
                          "generate --help", "chat --help",
                          "tokenizer encode --help", "tokenizer decode --help",
                          "tokenizer info --help", "bench --help", "bench train --help",
                          "bench decode --help"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        result r = run(cmds[i]);
        CHECK(r.status == 0 && strstr(r.out, "usage:"), "'retnet %s': status %d, out:\n%s",
              cmds[i], r.status, r.out);
        cli_result_free(&r);
    }
}

/* retnet bench on the CPU: a few training steps and decoding steps of the tiny presets, as
 * JSON rows with the figures a user reads; bad arguments are one-line errors. */
static void test_bench(void) {
    result r = run("bench train --preset tiny --steps 2 --warmup 1 --batch 2 --seq 32 --json");
    CHECK(r.status == 0 && strstr(r.out, "\"bench\": \"train\"") &&
              strstr(r.out, "\"tokens_per_s\"") && strstr(r.out, "\"loss_last\"") &&
              strstr(r.out, "\"flops_per_token\""),
          "bench train: status %d, out:\n%s%s", r.status, r.out, r.err);
    cli_result_free(&r);
    const char *dec[] = {"bench decode --preset tiny --batch 1,2 --context 16,40 --steps 2 "
                         "--warmup 1 --json",
                         "bench decode --preset tf-tiny --batch 1,2 --context 16,40 --steps 2 "
                         "--warmup 1 --json",
                         "bench decode --preset tf-tiny --batch 1,2 --context 16,40 --steps 5 "
                         "--warmup 3 --queue 2 --json"};
    for (int i = 0; i < 3; i++) {
        r = run(dec[i]);
        int rows = 0;
        for (const char *p = r.out; (p = strstr(p, "\"bench\": \"decode\"")); p++) rows++;
        CHECK(r.status == 0 && rows == 4 && strstr(r.out, "\"ms_per_step\"") &&
                  strstr(r.out, "\"state_bytes_per_seq\""),
              "'retnet %s': status %d, %d decode rows, out:\n%s%s", dec[i], r.status, rows,
              r.out, r.err);
        cli_result_free(&r);
    }
    expect_error("bench nope", "unknown");
    expect_error("bench train --preset tiny --steps 0", "--steps");
    expect_error("bench decode --preset tiny --batch 0", "--batch");
    expect_error("bench decode --preset tiny --context 1,x", "--context");
    expect_error("bench decode --preset tiny --queue 0", "--queue");
    expect_error("bench train --preset tiny --queue 2", "--queue");
    expect_error("bench train --preset nope", "unknown preset");
}

static void test_bad_input(void) {
    char a[2048];
    expect_error("bogus", "unknown command");
    expect_error("init --preset nope --out x.safetensors", "unknown preset");
    expect_error("init --preset tiny", "missing --out");
    expect_error("init --preset tiny --config x.json --out x", "exactly one of");
    expect_error("init --preset tiny --out x --frobnicate", "unknown option");
    expect_error("init --preset tiny --out x --seed", "needs a value");
    expect_error("init --preset tiny --out /nonexistent-dir/x.safetensors", "");
    snprintf(a, sizeof a, "init --config %s/missing.json --out x", tmpdir);
    expect_error(a, "missing.json");
    expect_error("logits --model /nonexistent.safetensors --tokens 1 --out /dev/null",
                 "nonexistent");
    snprintf(a, sizeof a, "logits --model %s/tiny.safetensors --tokens 1,2,999 --out %s/l", tmpdir, tmpdir);
    expect_error(a, "out of range");
    snprintf(a, sizeof a, "logits --model %s/tiny.safetensors --tokens '' --out %s/l", tmpdir, tmpdir);
    expect_error(a, "empty");
    snprintf(a, sizeof a, "logits --model %s/tiny.safetensors --tokens 1,x --out %s/l", tmpdir, tmpdir);
    expect_error(a, "bad token id");
    snprintf(a, sizeof a, "logits --model %s/tiny.safetensors --tokens 1,-2 --out %s/l", tmpdir, tmpdir);
    expect_error(a, "bad token id");
    snprintf(a, sizeof a, "logits --model %s/tiny.safetensors --tokens 1 --chunk 0 --out %s/l", tmpdir, tmpdir);
    expect_error(a, "--chunk");
    snprintf(a, sizeof a, "logits --model %s/tiny.safetensors --tokens 1 --form sideways --out %s/l", tmpdir, tmpdir);
    expect_error(a, "unknown form");
    snprintf(a, sizeof a, "logits --model %s/tiny.safetensors --tokens 1 --out /nonexistent-dir/l", tmpdir);
    expect_error(a, "cannot write");
    snprintf(a, sizeof a, "logits --model %s/tiny.safetensors --tokens-file %s/nope --out %s/l", tmpdir, tmpdir, tmpdir);
    expect_error(a, "cannot open");
    /* a config that does not match the checkpoint */
    char path[512];
    snprintf(path, sizeof path, "%s/other.json", tmpdir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"d_model\": 32, \"n_layer\": 2, \"n_head\": 2, \"vocab\": 260}\n");
    fclose(f);
    snprintf(a, sizeof a, "logits --model %s/tiny.safetensors --config %s --tokens 1 --out %s/l", tmpdir, path, tmpdir);
    expect_error(a, "d_model");
    /* not a checkpoint at all */
    snprintf(a, sizeof a, "info %s/other.json", tmpdir);
    expect_error(a, "other.json");
    expect_error("info", "missing MODEL");
}

/* tokenize, tokenizer and train: their bad input (train's own is in test_train). */
static void test_data_bad_input(void) {
    char a[4096], text[512], d[512];
    snprintf(text, sizeof text, "%s/text.txt", tmpdir);
    FILE *f = fopen(text, "w");
    fprintf(f, "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n");
    fclose(f);
    snprintf(d, sizeof d, "%s/ds", tmpdir);
    snprintf(a, sizeof a, "tokenize --data %s --out %s", text, d);
    expect_error(a, "missing --tokenizer");
    snprintf(a, sizeof a, "tokenize --tokenizer byte --out %s", d);
    expect_error(a, "missing --data");
    snprintf(a, sizeof a, "tokenize --tokenizer byte --data %s", text);
    expect_error(a, "missing --out");
    snprintf(a, sizeof a, "tokenize --tokenizer nope --data %s --out %s", text, d);
    expect_error(a, "nope");
    snprintf(a, sizeof a, "tokenize --tokenizer byte --data %s --out %s --val-fraction 1.5", text, d);
    expect_error(a, "--val-fraction");
    snprintf(a, sizeof a, "tokenize --tokenizer byte --data %s --out %s --val-fraction 0.2 --val-data %s",
             text, d, text);
    expect_error(a, "not both");
    snprintf(a, sizeof a, "tokenize --tokenizer byte --data %s/missing.txt --out %s", tmpdir, d);
    expect_error(a, "missing.txt");
    snprintf(a, sizeof a, "tokenize --tokenizer byte --data %s --out /proc/nope/ds", text);
    expect_error(a, "/proc/nope/ds");
    expect_error("tokenizer frob", "unknown subcommand");
    expect_error("tokenizer encode --text hi", "missing --tokenizer");
    expect_error("tokenizer encode --tokenizer byte", "exactly one of");
    expect_error("tokenizer encode --tokenizer nope --text hi", "nope");
    expect_error("tokenizer decode --tokenizer byte --ids 1,x", "bad token id");
    expect_error("tokenizer decode --tokenizer byte --ids 1,999", "out of range");
    snprintf(a, sizeof a, "tokenizer train --vocab 100 --data %s --out %s/t.bpe", text, tmpdir);
    expect_error(a, "--vocab");
    expect_error("train --preset tiny --out x --steps 1", "missing --data");
    expect_error("train --data x --preset tiny --out x --steps 1 --bogus", "unknown option");
    /* good input: the byte tokenizer round trip, and a dataset */
    result r = run("tokenizer encode --tokenizer byte --text Speak");
    CHECK(r.status == 0 && !strcmp(r.out, "83,112,101,97,107\n"), "encode: status %d, out '%s' %s",
          r.status, r.out, r.err);
    cli_result_free(&r);
    r = run("tokenizer decode --tokenizer byte --ids 83,112,101,97,107");
    CHECK(r.status == 0 && !strcmp(r.out, "Speak"), "decode: status %d, out '%s' %s", r.status,
          r.out, r.err);
    cli_result_free(&r);
    snprintf(a, sizeof a, "tokenize --tokenizer byte --data %s --out %s --val-fraction 0.3", text, d);
    r = run(a);
    CHECK(r.status == 0 && strstr(r.out, "vocabulary 260"), "tokenize: status %d: %s%s", r.status,
          r.out, r.err);
    cli_result_free(&r);
    const char *files[3] = {"train.bin", "val.bin", "meta.json"};
    for (int i = 0; i < 3; i++) {
        struct stat st;
        snprintf(a, sizeof a, "%s/%s", d, files[i]);
        CHECK(stat(a, &st) == 0 && st.st_size > 0, "tokenize did not write %s", a);
    }
}

static float *read_floats(const char *path, int64_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *x = malloc(bytes > 0 ? bytes : 1);
    *n = (int64_t)fread(x, sizeof(float), bytes / sizeof(float), f);
    fclose(f);
    return x;
}

static void test_logits_and_info(void) {
    char a[2048], p[3][512];
    const char *forms[3] = {"parallel", "chunkwise --chunk 3", "recurrent"};
    float *x[3];
    int64_t n[3];
    for (int i = 0; i < 3; i++) {
        snprintf(p[i], sizeof p[i], "%s/logits%d", tmpdir, i);
        snprintf(a, sizeof a, "logits --model %s/tiny.safetensors --tokens 5,7,259,0,1,2,3 --form %s --out %s",
                 tmpdir, forms[i], p[i]);
        result r = run(a);
        CHECK(r.status == 0, "'retnet %s' failed: %s", a, r.err);
        cli_result_free(&r);
        x[i] = read_floats(p[i], &n[i]);
        CHECK(x[i] && n[i] == 7 * 260, "logits file %s has %lld floats, want 7*260", p[i],
              (long long)n[i]);
    }
    for (int i = 1; i < 3; i++)
        if (x[0] && x[i] && n[i] == n[0]) {
            test_err e = test_compare_ff(x[i], x[0], n[0], 1e-3);
            /* tiny model, |logit| ~ 1: float32 rounding of a few hundred-term sums */
            CHECK_ERR(e, 1e-4, 1e-10, forms[i]);
        }
    for (int i = 0; i < 3; i++) free(x[i]);
    /* tokens from a file, whitespace and commas mixed, equal the same tokens inline */
    snprintf(a, sizeof a, "%s/tok.txt", tmpdir);
    FILE *f = fopen(a, "w");
    fprintf(f, "5 7\n259,0, 1\t2\n3\n");
    fclose(f);
    char b[4096];
    snprintf(b, sizeof b, "logits --model %s/tiny.safetensors --tokens-file %s --out %s/lf", tmpdir, a, tmpdir);
    result r = run(b);
    CHECK(r.status == 0, "tokens-file: %s", r.err);
    cli_result_free(&r);
    snprintf(a, sizeof a, "%s/lf", tmpdir);
    int64_t nf;
    float *xf = read_floats(a, &nf), *x0 = read_floats(p[0], &n[0]);
    CHECK(xf && x0 && nf == n[0] && !memcmp(xf, x0, sizeof(float) * nf),
          "--tokens-file gives other logits than --tokens");
    free(xf);
    free(x0);
    snprintf(a, sizeof a, "info %s/tiny.safetensors", tmpdir);
    r = run(a);
    CHECK(r.status == 0 && strstr(r.out, "parameters:") && strstr(r.out, "recurrent state:"),
          "info: %s%s", r.out, r.err);
    cli_result_free(&r);
}

/* An output path that names an input (under another spelling) is refused before any work,
 * and the input stays as it was: the model, a tokens file, a config, the text a tokenizer or
 * a dataset is made from, and a .safetensors or .json file inside a model's directory. A
 * state saved over the state it continues, and a state file beside a model's directory's
 * files, are fine. */
static void test_output_is_input(void) {
    char a[4096], m[512], m2[512], toks[512], text[512], cfg[512], ds[512], fla[512];
    snprintf(m, sizeof m, "%s/tiny.safetensors", tmpdir);
    snprintf(m2, sizeof m2, "%s/./tiny.safetensors", tmpdir);
    snprintf(toks, sizeof toks, "%s/toks.txt", tmpdir);
    snprintf(text, sizeof text, "%s/src.txt", tmpdir);
    snprintf(cfg, sizeof cfg, "%s/c.json", tmpdir);
    snprintf(ds, sizeof ds, "%s/dsx", tmpdir);
    snprintf(fla, sizeof fla, "%s/fladir", tmpdir);
    FILE *f = fopen(toks, "w");
    fprintf(f, "1, 2, 3\n");
    fclose(f);
    f = fopen(text, "w");
    for (int i = 0; i < 200; i++) fprintf(f, "Speak, speak. Before we proceed any further.\n");
    fclose(f);
    f = fopen(cfg, "w");
    fprintf(f, "{\"vocab\": 64, \"d_model\": 32, \"n_layer\": 1, \"n_head\": 2, \"d_ffn\": 64}\n");
    fclose(f);
    size_t n0[4];
    char *b0[4] = {test_slurp(m, &n0[0]), test_slurp(toks, &n0[1]), test_slurp(text, &n0[2]),
                   test_slurp(cfg, &n0[3])};
    snprintf(a, sizeof a, "generate --model %s --prompt a -n 3 --save-state %s", m, m2);
    expect_error(a, "is the --model file");
    snprintf(a, sizeof a, "logits --model %s --tokens 1 --out %s", m, m2);
    expect_error(a, "is the --model file");
    snprintf(a, sizeof a, "logits --model %s --tokens-file %s --out %s/./toks.txt", m, toks, tmpdir);
    expect_error(a, "is the --tokens-file file");
    snprintf(a, sizeof a, "tokenizer train --vocab 300 --data %s --out %s", text, text);
    expect_error(a, "is the --data file");
    snprintf(a, sizeof a, "init --config %s --out %s", cfg, cfg);
    expect_error(a, "is the --config file");
    snprintf(a, sizeof a, "convert --model %s --out %s --dtype bf16", m, m2);
    expect_error(a, "is the --model file");
    if (mkdir(ds, 0755)) {}
    char dtrain[600];
    snprintf(dtrain, sizeof dtrain, "%s/train.bin", ds);
    snprintf(a, sizeof a, "cp %s %s", text, dtrain);
    if (system(a)) {}
    size_t nd0;
    char *d0 = test_slurp(dtrain, &nd0);
    snprintf(a, sizeof a, "tokenize --tokenizer byte --data %s --out %s", dtrain, ds);
    expect_error(a, "is the --data file");
    size_t nd1;
    char *d1 = test_slurp(dtrain, &nd1);
    CHECK(d0 && d1 && nd0 == nd1 && !memcmp(d0, d1, nd0), "tokenize changed its own --data");
    free(d0), free(d1);
    const char *names[4] = {"the model", "the tokens file", "the text", "the config"};
    const char *paths[4] = {m, toks, text, cfg};
    for (int i = 0; i < 4; i++) {
        size_t n1;
        char *b1 = test_slurp(paths[i], &n1);
        CHECK(b0[i] && b1 && n0[i] == n1 && !memcmp(b0[i], b1, n1), "a refused command changed "
              "%s (%s)", names[i], paths[i]);
        free(b0[i]), free(b1);
    }
    /* a model's directory: its JSON and weights are refused, a state file beside them is not
     * (a small model in fla's variant, which its layout holds) */
    char fcfg[512], fm[512];
    snprintf(fcfg, sizeof fcfg, "%s/fla.json", tmpdir);
    snprintf(fm, sizeof fm, "%s/fla.safetensors", tmpdir);
    f = fopen(fcfg, "w");
    fprintf(f, "{\"vocab\": 300, \"d_model\": 32, \"n_layer\": 1, \"n_head\": 2, \"d_key\": 32, "
               "\"d_value\": 64, \"d_ffn\": 64, \"norm\": \"rmsnorm\", \"head_norm\": \"rmsnorm\", "
               "\"ffn\": \"glu\", \"ffn_act\": \"swish\", \"rope\": \"half\", \"decay\": \"pow2\", "
               "\"normalize\": false, \"eps\": 1e-6, \"embed_scale\": false, \"gate\": true}\n");
    fclose(f);
    snprintf(a, sizeof a, "init --config %s --out %s", fcfg, fm);
    result r = run(a);
    CHECK(r.status == 0, "'retnet %s': %s", a, r.err);
    cli_result_free(&r);
    snprintf(a, sizeof a, "convert --model %s --out %s --to fla", fm, fla);
    r = run(a);
    CHECK(r.status == 0, "'retnet %s': %s", a, r.err);
    cli_result_free(&r);
    snprintf(a, sizeof a, "logits --model %s --tokens 1 --out %s/config.json", fla, fla);
    expect_error(a, "lies in the --model directory");
    snprintf(a, sizeof a, "generate --model %s --prompt a -n 2 --save-state %s/chat.state", fla,
             fla);
    r = run(a);
    CHECK(r.status == 0, "'retnet %s' (a state beside the model's files): %s", a, r.err);
    cli_result_free(&r);
    /* a state saved over the state it continues */
    snprintf(a, sizeof a, "generate --model %s --load-state %s/chat.state -n 2 --save-state "
             "%s/chat.state", fla, fla, fla);
    r = run(a);
    CHECK(r.status == 0, "'retnet %s' (a state over the one it continues): %s", a, r.err);
    cli_result_free(&r);
}

int main(int argc, char **argv) {
    char self[4096];
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(retnet, sizeof retnet, "%s/../retnet", dirname(self));
    snprintf(tmpdir, sizeof tmpdir, "/tmp/retnet-test-cli.XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    char a[1024];
    snprintf(a, sizeof a, "init --preset tiny --out %s/tiny.safetensors --seed 7", tmpdir);
    result r = run(a);
    if (r.status) {
        fprintf(stderr, "cannot make the test model: %s%s\n", r.out, r.err);
        return 1;
    }
    cli_result_free(&r);
    RUN(test_help);
    RUN(test_bad_input);
    RUN(test_bench);
    RUN(test_logits_and_info);
    RUN(test_data_bad_input);
    RUN(test_output_is_input);
    snprintf(a, sizeof a, "rm -rf %s", tmpdir);
    if (system(a)) {}
    (void)argc;
    return TEST_SUMMARY();
}
