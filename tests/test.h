/*
 * test.h: the project's tiny test harness (header only).
 *
 * A test binary defines test functions and lists them in main with RUN(fn). Checks record
 * failures with a message and the source line; a test passes if none of its checks failed.
 * main ends with TEST_SUMMARY(), which prints "<binary>: N passed, N failed" and returns
 * non-zero on any failure; tests/run.sh adds the binaries' counts into the suite's one
 * closing line.
 *
 * Comparisons against a float64 reference use error metrics that cannot cancel:
 *   max_abs = max |a - r|, max_rel = max |a - r| / (|r| + floor), NMSE = sum (a-r)^2 / sum r^2,
 * and print the worst element with its index.
 */
#ifndef RETNET_TEST_H
#define RETNET_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed, test_cur_failed;
static const char *test_cur_name = "";

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            test_cur_failed++;                                                           \
            fprintf(stderr, "  FAIL %s (%s:%d): ", test_cur_name, __FILE__, __LINE__);   \
            fprintf(stderr, __VA_ARGS__);                                                \
            fprintf(stderr, "\n");                                                       \
        }                                                                                \
    } while (0)

/* Runs one test function; `fn` may call CHECK any number of times. */
#define RUN(fn)                                                                          \
    do {                                                                                 \
        test_cur_name = #fn;                                                             \
        test_cur_failed = 0;                                                             \
        fn();                                                                            \
        if (test_cur_failed) { test_failed++; fprintf(stderr, "FAIL %s\n", #fn); }       \
        else { test_passed++; fprintf(stderr, "ok   %s\n", #fn); }                       \
    } while (0)

/* With arguments, only the tests named run (e.g. under compute-sanitizer, which is slow):
 * TEST_ONLY(argc, argv) in main, then RUN_IF(fn) instead of RUN(fn). */
static int test_n_only;
static char **test_only;
#define TEST_ONLY(argc, argv) (test_n_only = (argc) - 1, test_only = (argv) + 1)
static inline int test_wanted(const char *name) {
    for (int i = 0; i < test_n_only; i++)
        if (!strcmp(test_only[i], name)) return 1;
    return test_n_only == 0;
}
#define RUN_IF(fn) do { if (test_wanted(#fn)) RUN(fn); } while (0)

#define TEST_SUMMARY()                                                                   \
    (printf("%s: %d passed, %d failed\n", __FILE__, test_passed, test_failed),           \
     test_failed ? 1 : 0)

typedef struct {
    double max_abs, max_rel, nmse;
    int64_t worst;       /* index of the largest |a - r| */
    double worst_a, worst_r;
} test_err;

/* Errors of a (float) against r (double), n elements. rel_floor keeps max_rel finite near 0. */
static inline test_err test_compare(const float *a, const double *r, int64_t n, double rel_floor) {
    test_err e = {0, 0, 0, -1, 0, 0};
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - r[i]);
        if (!(d <= e.max_abs)) { /* also catches NaN */
            e.max_abs = isnan(d) ? INFINITY : d;
            e.worst = i; e.worst_a = a[i]; e.worst_r = r[i];
        }
        double rel = d / (fabs(r[i]) + rel_floor);
        if (!(rel <= e.max_rel)) e.max_rel = isnan(rel) ? INFINITY : rel;
        num += d * d;
        den += r[i] * r[i];
    }
    e.nmse = den > 0 ? num / den : num;
    if (isnan(e.nmse)) e.nmse = INFINITY;
    return e;
}

/* The same for two float arrays (b is taken as the reference). */
static inline test_err test_compare_ff(const float *a, const float *b, int64_t n, double rel_floor) {
    double *r = (double *)malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) r[i] = b[i];
    test_err e = test_compare(a, r, n, rel_floor);
    free(r);
    return e;
}

/* CHECK that an error is within max_abs <= tol_abs and nmse <= tol_nmse; prints all metrics. */
#define CHECK_ERR(e, tol_abs, tol_nmse, what)                                            \
    CHECK((e).max_abs <= (tol_abs) && (e).nmse <= (tol_nmse),                            \
          "%s: max_abs %.3g (tol %.3g) max_rel %.3g nmse %.3g (tol %.3g); worst [%lld] " \
          "got %.9g want %.9g",                                                          \
          (what), (e).max_abs, (double)(tol_abs), (e).max_rel, (e).nmse,                 \
          (double)(tol_nmse), (long long)(e).worst, (e).worst_a, (e).worst_r)

/* Deterministic random numbers for tests (xorshift64*), uniform in [-1, 1). */
static inline double test_rand(uint64_t *s) {
    *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
    return ((*s * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-52 - 1.0;
}

static inline void test_fill(float *x, int64_t n, uint64_t *s, double scale) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(scale * test_rand(s));
}

#endif
