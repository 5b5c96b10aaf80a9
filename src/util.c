/* util.c: errors, aligned allocation, random numbers, clocks. */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>

static _Thread_local char errmsg[1024];

/* Formatted aside first: a caller may wrap the message before (retnet_errmsg() among its
 * arguments), which vsnprintf must not read while it writes the same buffer. */
retnet_status retnet_fail(retnet_status s, const char *fmt, ...) {
    char msg[sizeof errmsg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(errmsg, msg, sizeof msg);
    return s;
}

void retnet_clear_error(void) { errmsg[0] = 0; }
const char *retnet_errmsg(void) { return errmsg; }

const char *retnet_status_name(retnet_status s) {
    switch (s) {
    case RETNET_OK: return "OK";
    case RETNET_EINVAL: return "EINVAL";
    case RETNET_ENOMEM: return "ENOMEM";
    case RETNET_EIO: return "EIO";
    case RETNET_EFORMAT: return "EFORMAT";
    case RETNET_EUNSUPPORTED: return "EUNSUPPORTED";
    }
    return "E?";
}

/* calloc, not malloc + memset: large blocks then come straight from the kernel as zero pages,
 * faulted in when first touched instead of all up front (a 1.3b model is 5.6 GB). The block
 * is aligned to 64 bytes by hand; the pointer calloc returned sits just below it. */
void *retnet_alloc(size_t bytes) {
    size_t extra = 64 + sizeof(void *);
    if (bytes > SIZE_MAX - extra) return NULL;
    void *raw = calloc(1, bytes + extra);
    if (!raw) return NULL;
    uintptr_t p = ((uintptr_t)raw + sizeof(void *) + 63) & ~(uintptr_t)63;
    ((void **)p)[-1] = raw;
    if (bytes >= ((size_t)4 << 20)) { /* large: ask for huge pages (fewer faults, TLB misses) */
        uintptr_t lo = (p + 4095) & ~(uintptr_t)4095, hi = (p + bytes) & ~(uintptr_t)4095;
        madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
    }
    return (void *)p;
}

void retnet_free(void *p) {
    if (p) free(((void **)p)[-1]);
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void retnet_rng_seed(retnet_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t retnet_rng_next(retnet_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return result;
}

double retnet_rng_uniform(retnet_rng *r) { return (retnet_rng_next(r) >> 11) * 0x1.0p-53; }

double retnet_rng_normal(retnet_rng *r) {
    /* Box-Muller; u1 in (0, 1] so the log is finite. */
    double u1 = 1.0 - retnet_rng_uniform(r), u2 = retnet_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double retnet_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int retnet_threads(void) { return omp_get_max_threads(); }

retnet_status retnet_read_text(const char *path, int64_t max, const char *what, char **out,
                               int64_t *len) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return retnet_fail(RETNET_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int64_t cap = 1 << 16; /* a regular file: its size (+1 to see it end); else grown */
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        if (st.st_size > max) {
            fclose(f);
            return retnet_fail(RETNET_EFORMAT, "%s: %lld bytes is too big for %s (at most %lld)",
                               path, (long long)st.st_size, what, (long long)max);
        }
        cap = (int64_t)st.st_size + 2;
    }
    int64_t n = 0;
    char *text = malloc((size_t)cap);
    for (;;) {
        if (!text) {
            fclose(f);
            return retnet_fail(RETNET_ENOMEM, "%s: out of memory", path);
        }
        n += (int64_t)fread(text + n, 1, (size_t)(cap - n - 1), f);
        if (n < cap - 1 || ferror(f)) break;
        if (n > max) break; /* a file that grew, or a pipe: not beyond the limit */
        char *t = realloc(text, (size_t)(cap *= 2));
        if (!t) free(text);
        text = t;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad || n > max) {
        free(text);
        if (bad) return retnet_fail(RETNET_EIO, "%s: read error", path);
        return retnet_fail(RETNET_EFORMAT, "%s: too big for %s (more than %lld bytes)", path, what,
                           (long long)max);
    }
    text[n] = 0;
    *len = n;
    *out = text;
    return RETNET_OK;
}
