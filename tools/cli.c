/* cli.c: the shared plumbing of the `retnet` commands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *cli_cmd = "retnet";

void cli_die(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", cli_cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " [%s:%d]\n", file, line);
    exit(1);
}

void cli_parse(int argc, char **argv, opt *opts, int nopts, const char **pos, int npos,
               void (*usage)(void)) {
    int np = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            exit(0);
        }
        if (!strncmp(argv[i], "--", 2)) {
            int k = 0;
            while (k < nopts && strcmp(opts[k].name, argv[i])) k++;
            if (k == nopts) FAIL("unknown option '%s'; see '%s --help'", argv[i], cli_cmd);
            opts[k].given = 1;
            if (opts[k].takes_value) {
                if (i + 1 >= argc) FAIL("option %s needs a value; see '%s --help'", argv[i], cli_cmd);
                opts[k].value = argv[++i];
            }
        } else {
            if (np >= npos) FAIL("unexpected argument '%s'; see '%s --help'", argv[i], cli_cmd);
            pos[np++] = argv[i];
        }
    }
}

opt *cli_opt(opt *opts, int nopts, const char *name) {
    for (int i = 0; i < nopts; i++)
        if (!strcmp(opts[i].name, name)) return &opts[i];
    FAIL("internal: no option %s", name);
}

long long cli_int(const char *s, const char *what, long long lo, long long hi) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        FAIL("%s '%s' is not an integer in [%lld, %lld]; give a number in that range", what, s,
             lo, hi);
    return v;
}

double cli_double(const char *s, const char *what, double lo, double hi) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        FAIL("%s '%s' is not a number in [%g, %g]; give a number in that range", what, s, lo, hi);
    return v;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

char *cli_read_file(const char *path, int64_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) FAIL("cannot open '%s': %s; check the path", path, strerror(errno));
    char *buf = NULL;
    int64_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = 2 * cap + 131072;
            buf = realloc(buf, (size_t)cap);
            if (!buf) FAIL("out of memory reading '%s'", path);
        }
        size_t got = fread(buf + n, 1, 65536, f);
        n += (int64_t)got;
        if (got < 65536) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) FAIL("cannot read '%s'; check the file", path);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int cli_isatty_stderr(void) { return isatty(2); }

retnet_model *cli_load_model(const char *path, const char *config_path) {
    retnet_config c, *cp = NULL;
    if (config_path) {
        CHECK(retnet_config_load(config_path, &c), "fix the config file (docs/FILE_FORMAT.md)");
        cp = &c;
    }
    retnet_model *m;
    /* weights stored as bf16 stay bf16 in memory (half the RSS of float32, nothing lost) */
    CHECK(retnet_model_load_ex(path, cp, RETNET_LOAD_BF16_IF_STORED, &m),
          "give a retnet or torchscale safetensors checkpoint (with --config if it has no "
          "metadata), or a Hugging Face model directory in fla's layout");
    return m;
}
