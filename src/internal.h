/*
 * internal.h: helpers shared by the library's translation units (not installed).
 * Error reporting: a failing function calls retnet_fail(status, fmt, ...) which records the
 * message for retnet_errmsg() and returns the status, so that `return retnet_fail(...)`
 * is the one way to fail.
 */
#ifndef RETNET_INTERNAL_H
#define RETNET_INTERNAL_H

#include "retnet.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__GNUC__)
#define RETNET_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RETNET_PRINTF(a, b)
#endif

retnet_status retnet_fail(retnet_status s, const char *fmt, ...) RETNET_PRINTF(2, 3);
/* A whole small text file into *out, NUL-terminated (malloc'ed; *len its bytes), refusing one
 * over max bytes (`what` names it in the message). */
retnet_status retnet_read_text(const char *path, int64_t max, const char *what, char **out,
                               int64_t *len);
/* fla's config.json (config_json.c). */
retnet_status retnet_config_from_fla_json(const char *json, size_t len, retnet_config *out);
void retnet_clear_error(void);
/* The first key (in config JSON order) where two configs differ, its two values as written in
 * JSON (checkpoint.c): 1 if they differ, 0 if not, -1 on ENOMEM. */
int retnet_config_first_diff(const retnet_config *a, const retnet_config *b, char *key,
                             size_t kcap, char *va, char *vb, size_t vcap);

/* 64-byte aligned allocation, zeroed; NULL on failure (the caller reports ENOMEM). */
void *retnet_alloc(size_t bytes);
void retnet_free(void *p);

/* Overflow-checked size arithmetic: returns 0 (false) on overflow. */
static inline int retnet_mul_ok(int64_t a, int64_t b, int64_t *out) {
    return !__builtin_mul_overflow(a, b, out) && *out >= 0;
}
static inline int retnet_add_ok(int64_t a, int64_t b, int64_t *out) {
    return !__builtin_add_overflow(a, b, out) && *out >= 0;
}

/* Seeded random numbers (splitmix64 seeding a xoshiro256**), used by init and tests. */
typedef struct { uint64_t s[4]; } retnet_rng;
void retnet_rng_seed(retnet_rng *r, uint64_t seed);
uint64_t retnet_rng_next(retnet_rng *r);
double retnet_rng_uniform(retnet_rng *r);          /* [0, 1) */
double retnet_rng_normal(retnet_rng *r);           /* N(0, 1) */

/* Monotonic seconds, for progress and benchmarks. */
double retnet_now(void);

/* dist.c: how the ranks of a data-parallel run meet (retnet_dist). The timeout in force
 * (given if > 0, else $RETNET_DIST_TIMEOUT, else 300 s), and the run's unique id (128 bytes,
 * an ncclUniqueId) from d->id, d->id_file or NCCL_COMM_ID. RETNET_EUNSUPPORTED without CUDA. */
double retnet_dist_timeout(double given);
retnet_status retnet_dist_meet(const retnet_dist *d, double timeout_s, uint8_t id[128]);

#endif
