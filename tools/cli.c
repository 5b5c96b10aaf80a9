/* cli.c: the shared plumbing of the `retnet` commands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
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

double cli_mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    double kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
    fclose(f);
    return kb > 0 ? kb * 1024.0 : -1;
}

const char *cli_split_path(const char *path, char *dir, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, cap, ".");
    else if (slash == path) snprintf(dir, cap, "/");
    else snprintf(dir, cap, "%.*s", (int)(slash - path), path);
    return slash ? slash + 1 : path;
}

void cli_refuse_same(const char *out, const char *out_flag, const char *in, const char *in_flag) {
    struct stat so, si;
    if (!out || !in || stat(in, &si)) return;
    if (!stat(out, &so) && so.st_dev == si.st_dev && so.st_ino == si.st_ino)
        FAIL("%s '%s' is the %s file '%s' itself: writing it would destroy it; give another "
             "%s", out_flag, out, in_flag, in, out_flag);
    if (!S_ISDIR(si.st_mode)) return;
    char dir[4200]; /* out's directory */
    /* the directory's own kinds of file: weights (model.safetensors, shards) and JSON
     * (config.json, the shards' index); a state or logits file beside them is fine */
    const char *base = cli_split_path(out, dir, sizeof dir);
    const size_t n = strlen(base);
    const int own = (n >= 12 && !strcmp(base + n - 12, ".safetensors")) ||
                    (n >= 5 && !strcmp(base + n - 5, ".json"));
    struct stat sd;
    if (own && !stat(dir, &sd) && sd.st_dev == si.st_dev && sd.st_ino == si.st_ino)
        FAIL("%s '%s' lies in the %s directory '%s', beside its weights and config: writing it "
             "could destroy one of them; give a path outside it", out_flag, out, in_flag, in);
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

char *cli_unescape(const char *s) {
    size_t n = strlen(s);
    char *out = malloc(n + 1), *p = out;
    if (!out) FAIL("out of memory");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            char e = s[i + 1];
            if (e == 'n' || e == 't' || e == 'r' || e == '\\') {
                *p++ = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : '\\';
                i++;
                continue;
            }
        }
        *p++ = s[i];
    }
    *p = 0;
    return out;
}

/* Bytes of the valid UTF-8 character at s (n bytes left), or 0 if it is not one. */
static int utf8_len(const unsigned char *s, int64_t n) {
    unsigned c = s[0];
    int k;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) k = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) k = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) k = 4, cp = c & 0x07;
    else return 0;
    if (n < k) return 0;
    for (int i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return k;
}

/* The JSON form of the character at s[*i] (n bytes in all) into out (at most 7 bytes + NUL);
 * advances *i. */
static int json_char(const char *s, int64_t n, int64_t *i, char out[8]) {
    unsigned char c = (unsigned char)s[*i];
    int k = 0;
    if (c == '"' || c == '\\') out[k++] = '\\', out[k++] = (char)c;
    else if (c == '\n') out[k++] = '\\', out[k++] = 'n';
    else if (c == '\r') out[k++] = '\\', out[k++] = 'r';
    else if (c == '\t') out[k++] = '\\', out[k++] = 't';
    else if (c < 0x20 || c == 0x7f) k = snprintf(out, 8, "\\u%04x", c);
    else {
        int u = utf8_len((const unsigned char *)s + *i, n - *i);
        if (u == 0) {
            memcpy(out, "\\ufffd", 6);
            k = 6;
        } else {
            memcpy(out, s + *i, (size_t)u);
            *i += u;
            out[u] = 0;
            return u;
        }
    }
    *i += 1;
    out[k] = 0;
    return k;
}

void cli_json_string(FILE *f, const char *s, int64_t n) {
    char e[8];
    fputc('"', f);
    for (int64_t i = 0; i < n;) fwrite(e, 1, (size_t)json_char(s, n, &i, e), f);
    fputc('"', f);
}

const char *cli_json_escape(char *buf, size_t cap, const char *s) {
    const int64_t n = (int64_t)strlen(s);
    size_t k = 0;
    char e[8];
    if (!cap) return buf;
    for (int64_t i = 0; i < n;) {
        int m = json_char(s, n, &i, e);
        if (k + (size_t)m + 1 > cap) break;
        memcpy(buf + k, e, (size_t)m);
        k += (size_t)m;
    }
    buf[k] = 0;
    return buf;
}
