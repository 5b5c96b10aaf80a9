/*
 * cli_run.h: running the `retnet` CLI from a test and reading what it printed (header only,
 * as test.h; include after it). The tests of the commands (test_generate, test_eval,
 * test_train) share these instead of each keeping a copy.
 */
#ifndef RETNET_TEST_CLI_RUN_H
#define RETNET_TEST_CLI_RUN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

typedef struct {
    int status;          /* exit status; 128 + the signal if killed */
    char *out, *err;     /* what it printed, NUL-terminated (never NULL) */
    size_t out_len;      /* bytes of out (it may hold NUL bytes) */
} cli_result;

/* A whole file, NUL-terminated (NULL if it cannot be read); *len gets its size. */
static inline char *test_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            char *b = realloc(buf, 2 * cap + 1);
            if (!b) { free(buf); buf = NULL; break; }
            buf = b;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

static inline int test_count_lines(const char *s) {
    int n = 0;
    for (; s && *s; s++) n += *s == '\n';
    return n;
}

/* A status from system() or waitpid(): the exit status, 128 + the signal if killed. */
static inline int test_exit_status(int st) {
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
}

/* Runs `ENV BIN ARGS` through the shell with stdin from `input` (NULL: /dev/null), capturing
 * stdout and stderr through files in dir. */
static inline cli_result cli_run(const char *env, const char *bin, const char *args,
                                 const char *input, const char *dir) {
    cli_result r = {0, NULL, NULL, 0};
    char cmd[16384], in[512], op[512], ep[512];
    snprintf(op, sizeof op, "%s/out", dir);
    snprintf(ep, sizeof ep, "%s/err", dir);
    snprintf(in, sizeof in, "%s/stdin", dir);
    if (input) {
        FILE *f = fopen(in, "w");
        int ok = f && fputs(input, f) >= 0;
        if (f) ok = fclose(f) == 0 && ok;
        CHECK(ok, "cannot write the stdin file %s", in);
    }
    int len = snprintf(cmd, sizeof cmd, "%s %s %s <%s >%s 2>%s", env ? env : "", bin, args,
                       input ? in : "/dev/null", op, ep);
    CHECK(len > 0 && (size_t)len < sizeof cmd, "command too long (%d bytes)", len);
    fflush(NULL);
    r.status = test_exit_status(system(cmd));
    r.out = test_slurp(op, &r.out_len);
    r.err = test_slurp(ep, NULL);
    if (!r.out) r.out = calloc(1, 1), r.out_len = 0;
    if (!r.err) r.err = calloc(1, 1);
    return r;
}

static inline void cli_result_free(cli_result *r) {
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* A failure as the CLI must fail: non-zero status (not a crash), one line on stderr that
 * contains `phrase`. Frees r. */
static inline void cli_expect_error(cli_result r, const char *args, const char *phrase) {
    CHECK(r.status != 0, "'retnet %s' should fail but exited 0", args);
    CHECK(r.status < 128, "'retnet %s' crashed (status %d): %s", args, r.status, r.err);
    CHECK(test_count_lines(r.err) == 1, "'retnet %s': want one line on stderr, got:\n%s", args,
          r.err);
    CHECK(strstr(r.err, phrase) != NULL, "'retnet %s': stderr lacks '%s':\n%s", args, phrase,
          r.err);
    cli_result_free(&r);
}

#endif
