/*
 * fuzz_common.h: what the libFuzzer harnesses of tests/fuzz/ share (header only).
 *
 * The loaders under test take paths, so each input is written to a file in a private
 * temporary directory (made once per process, removed at exit) and the loader reads it from
 * there. FUZZ_CHECK aborts, so that libFuzzer records the input as a crash, when a property
 * that must hold for ANY input does not (a failure without a message, an id out of range,
 * a round trip that does not give back what went in).
 */
#ifndef RETNET_FUZZ_COMMON_H
#define RETNET_FUZZ_COMMON_H

#include "retnet.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_CHECK(cond, ...)                                                            \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "FUZZ_CHECK failed (%s:%d): %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                \
            fprintf(stderr, "\n");                                                       \
            abort();                                                                     \
        }                                                                                \
    } while (0)

static char fuzz_dir_[256];

static int fuzz_rm_(const char *p, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb; (void)type; (void)ftw;
    return remove(p);
}
static void fuzz_cleanup_(void) {
    if (fuzz_dir_[0]) nftw(fuzz_dir_, fuzz_rm_, 16, FTW_DEPTH | FTW_PHYS);
}

/* The private temporary directory of this process. */
static inline const char *fuzz_dir(void) {
    if (!fuzz_dir_[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fuzz_dir_, sizeof fuzz_dir_, "%s/retnet-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(fuzz_dir_)) { perror("mkdtemp"); abort(); }
        atexit(fuzz_cleanup_);
    }
    return fuzz_dir_;
}

/* dir/name into buf (buf of 512 bytes). */
static inline const char *fuzz_path(char *buf, const char *name) {
    snprintf(buf, 512, "%s/%s", fuzz_dir(), name);
    return buf;
}

/* Writes n bytes to path (replacing it). */
static inline void fuzz_write(const char *path, const void *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) { perror(path); abort(); }
    const char *p = data;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k <= 0) { perror(path); abort(); }
        p += k;
        n -= (size_t)k;
    }
    close(fd);
}

/* A failing load must say something, and name the file it read. */
static inline void fuzz_check_failure(retnet_status s, const char *path) {
    const char *m = retnet_errmsg();
    if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "load failed (%d): %s\n", (int)s, m);
    FUZZ_CHECK(s != RETNET_OK && m[0], "status %d without a message", (int)s);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    FUZZ_CHECK(strstr(m, base) != NULL, "the message does not name the file %s: %s", base, m);
}

/* The tiny config the model-file harnesses use (a few hundred parameters: files of a few KB). */
static inline retnet_config fuzz_tiny_config(void) {
    retnet_config c;
    if (retnet_config_preset("tiny", &c) != RETNET_OK) abort();
    c.vocab = 6;
    c.d_model = 4;
    c.n_layer = 1;
    c.n_head = 2;
    c.d_key = 4;
    c.d_value = 4;
    c.d_ffn = 4;
    c.chunk = 4;
    if (retnet_config_validate(&c) != RETNET_OK) abort();
    return c;
}

#endif
