/*
 * test_alloc: decoding allocates nothing after the first step.
 *
 * The allocator calls are counted by wrapping them with the linker (the Makefile links this
 * test with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,
 * --wrap=posix_memalign,--wrap=free): every call that libretnet.a makes goes through the
 * __wrap_ functions below, which count it and call the real one. That works the same in the
 * release build and under AddressSanitizer (the real functions are then ASan's). --wrap only
 * sees calls linked statically, i.e. the library's own; calls made inside shared libraries
 * (libgomp, OpenBLAS, libc) do not pass through it.
 *
 * In the release build the test also counts process-wide: it defines malloc & co. itself
 * (forwarding to glibc's __libc_ functions), so the calls of every shared library are seen
 * too, and it must be zero as well: libgomp mallocs and frees a team for every parallel
 * region it runs on one thread (an `if` clause that is false, or OMP_NUM_THREADS=1), and
 * glibc's qsort mallocs above 1 KB, so the decoding step enters one region per step only when
 * it has threads to use, and the sampler selects in place. Not under ASan, whose own malloc
 * must stay in place.
 *
 * The checks: after a prompt (chunkwise prefill into a caller-owned state) and one decode
 * step, 10,000 more recurrent steps (T = 1, logits into a caller buffer, retnet_sample into
 * caller scratch) make no allocator call; so do batch steps (B = 4), bf16 decoding, and the
 * `small` model (two threads, the parallel paths; release build only), and one thread. And
 * the counter works:
 * an allocation by the library inside the window (a bf16 copy of the weights; a wider batch
 * growing its per-sequence arrays) is counted.
 */
#include "retnet.h"
#include "test.h"

#include <omp.h>

#include <stdatomic.h>
#include <stddef.h>

/* ------------------------------------------------------------------ the --wrap counters */

static atomic_long wrap_calls; /* allocator calls of this test and libretnet.a */

/* Weak: when the test is linked without --wrap these stay undefined (NULL) and the __wrap_
 * functions are never called; wrap_active() then fails the test with what to add. */
extern void *__real_malloc(size_t) __attribute__((weak));
extern void *__real_calloc(size_t, size_t) __attribute__((weak));
extern void *__real_realloc(void *, size_t) __attribute__((weak));
extern void *__real_aligned_alloc(size_t, size_t) __attribute__((weak));
extern int __real_posix_memalign(void **, size_t, size_t) __attribute__((weak));
extern void __real_free(void *) __attribute__((weak));

void *__wrap_malloc(size_t n) { wrap_calls++; return __real_malloc(n); }
void *__wrap_calloc(size_t a, size_t b) { wrap_calls++; return __real_calloc(a, b); }
void *__wrap_realloc(void *p, size_t n) { wrap_calls++; return __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { wrap_calls++; return __real_aligned_alloc(a, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n) {
    wrap_calls++;
    return __real_posix_memalign(p, a, n);
}
void __wrap_free(void *p) {
    if (p) wrap_calls++;
    __real_free(p);
}

/* ------------------------------------------------------------------ process-wide counters */

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif
#ifndef ASAN
#define ASAN 0
#endif

static atomic_long all_calls; /* every allocator call in the process (release build only) */

#if !ASAN
/* glibc's own entry points: replacing malloc & co. by these is glibc's documented way of
 * interposing its allocator (each block still comes from and goes back to glibc). */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

void *malloc(size_t n) { all_calls++; return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { all_calls++; return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { all_calls++; return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { all_calls++; return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { all_calls++; return __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n) {
    all_calls++;
    if (a < sizeof(void *) || (a & (a - 1))) return 22; /* EINVAL */
    void *q = __libc_memalign(a, n);
    if (!q) return 12; /* ENOMEM */
    *p = q;
    return 0;
}
void free(void *p) {
    if (p) all_calls++;
    __libc_free(p);
}
#endif

/* ------------------------------------------------------------------ helpers */

/* Whether the library's allocator calls reach the __wrap_ functions: a model made and freed
 * calls calloc and free. (The test's own calls cannot show it in the release build: this file
 * defines malloc & co., and --wrap only redirects references to symbols a file does not
 * define.) */
static long library_alloc_calls(void) {
    retnet_config c;
    retnet_model *m = NULL;
    long before = wrap_calls;
    if (retnet_config_preset("tiny", &c) || retnet_model_create(&c, &m)) return -1;
    retnet_model_free(m);
    return wrap_calls - before;
}

typedef struct {
    retnet_config c;
    retnet_model *m;
    float *logits, *work;
    uint64_t rng;
} dec;

/* A model of the preset, initialised (init != 0) or all zero. */
static int dec_open(dec *d, const char *preset, int B, int init) {
    memset(d, 0, sizeof *d);
    if (retnet_config_preset(preset, &d->c) || retnet_model_create(&d->c, &d->m) ||
        (init && retnet_model_init(d->m, 3)))
        return -1;
    d->logits = malloc(sizeof(float) * (size_t)B * d->c.vocab);
    d->work = malloc(sizeof(float) * 2 * (size_t)d->c.vocab);
    d->rng = 12345;
    return d->logits && d->work ? 0 : -1;
}

static void dec_close(dec *d) {
    retnet_model_free(d->m);
    free(d->logits);
    free(d->work);
}

/* B states, a prompt of `prompt` tokens each (chunkwise), then the first decode step. */
static retnet_state *dec_start(dec *d, int B, int prompt, int32_t *tok) {
    retnet_state *s = calloc((size_t)B, sizeof *s);
    int32_t *p = malloc(sizeof(int32_t) * (size_t)B * prompt);
    for (int b = 0; b < B; b++) {
        s[b].data = malloc(sizeof(float) * (size_t)retnet_state_floats(&d->c));
        retnet_state_reset(&d->c, &s[b]);
    }
    for (int i = 0; i < B * prompt; i++) p[i] = (int32_t)((i * 37 + 11) % d->c.vocab);
    retnet_status st = retnet_forward(d->m, p, B, prompt, RETNET_FORM_CHUNKWISE, 0, s, NULL);
    CHECK(st == RETNET_OK, "prefill: %s", retnet_errmsg());
    for (int b = 0; b < B; b++) tok[b] = p[b * prompt + prompt - 1];
    free(p);
    st = retnet_forward(d->m, tok, B, 1, RETNET_FORM_RECURRENT, 0, s, d->logits);
    CHECK(st == RETNET_OK, "first step: %s", retnet_errmsg());
    return s;
}

static void dec_end(retnet_state *s, int B) {
    for (int b = 0; b < B; b++) free(s[b].data);
    free(s);
}

/* `steps` decode steps of B sequences: forward (T = 1), then a sample per row. Returns the
 * number of failed calls. `inject_at`: the step after which the library is made to allocate
 * (a bf16 copy of the weights; -1: never). */
static int dec_steps(dec *d, retnet_state *s, int B, int32_t *tok, int steps, int inject_at) {
    int bad = 0;
    for (int i = 0; i < steps; i++) {
        if (retnet_forward(d->m, tok, B, 1, RETNET_FORM_RECURRENT, 0, s, d->logits)) bad++;
        for (int b = 0; b < B; b++)
            tok[b] = retnet_sample(d->logits + (size_t)b * d->c.vocab, d->c.vocab, 0.8f, 40,
                                   0.95f, &d->rng, d->work);
        if (i == inject_at && retnet_model_set_bf16_decode(d->m, 1)) bad++;
    }
    return bad;
}

/* Runs the window and checks it: no library allocation. Prints the process-wide count. */
static void window(dec *d, retnet_state *s, int B, int32_t *tok, int steps, const char *what) {
    long w0 = wrap_calls, a0 = all_calls;
    int bad = dec_steps(d, s, B, tok, steps, -1);
    long w = wrap_calls - w0, a = all_calls - a0;
    CHECK(bad == 0, "%s: %d failed steps: %s", what, bad, retnet_errmsg());
    CHECK(w == 0, "%s: %ld allocator calls by the library in %d steps", what, w, steps);
    CHECK(ASAN || a == 0, "%s: %ld allocator calls in the process in %d steps (libgomp: a "
          "parallel region run on one thread? glibc: qsort?)", what, a, steps);
    CHECK(s[0].pos > steps, "%s: the state did not advance (pos %lld)", what,
          (long long)s[0].pos);
    if (ASAN)
        fprintf(stderr, "     %s, %d steps: library allocator calls %ld (process-wide: not "
                "counted under ASan)\n", what, steps, w);
    else
        fprintf(stderr, "     %s, %d steps: library allocator calls %ld; process-wide %ld "
                "\n", what, steps, w, a);
}

/* ------------------------------------------------------------------ tests */

static void test_counter_works(void) {
    long n = library_alloc_calls();
    CHECK(n >= 2, "the library's allocator calls are not counted (%ld): link test_alloc with "
          "-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,"
          "--wrap=posix_memalign,--wrap=free", n);
#if !ASAN
    /* the process-wide count sees the library's calls, and those inside libc (strdup's
     * malloc) that --wrap does not */
    long a0 = all_calls;
    n = library_alloc_calls();
    CHECK(all_calls - a0 == n, "model create + free: process-wide %ld, wrapped %ld",
          all_calls - a0, n);
    long w0 = wrap_calls;
    a0 = all_calls;
    char *s = strdup("retnet");
    long a = all_calls - a0;
    free(s);
    CHECK(a == 1 && wrap_calls == w0, "strdup: process-wide %ld (want 1), wrapped %ld (want 0)",
          a, wrap_calls - w0);
#endif
}

static void test_decode_10000_tokens(void) {
    dec d;
    CHECK(dec_open(&d, "tiny", 1, 1) == 0, "model: %s", retnet_errmsg());
    if (test_cur_failed) return;
    int32_t tok[1];
    retnet_state *s = dec_start(&d, 1, 32, tok);
    window(&d, s, 1, tok, 10000, "tiny, B=1");
    CHECK(s[0].pos == 32 + 1 + 10000, "pos %lld, want %d", (long long)s[0].pos, 32 + 1 + 10000);
    dec_end(s, 1);
    dec_close(&d);
}

static void test_batch_decode(void) {
    dec d;
    CHECK(dec_open(&d, "tiny", 4, 1) == 0, "model: %s", retnet_errmsg());
    if (test_cur_failed) return;
    int32_t tok[4];
    retnet_state *s = dec_start(&d, 4, 24, tok);
    window(&d, s, 4, tok, ASAN ? 500 : 2000, "tiny, B=4");
    dec_end(s, 4);
    dec_close(&d);
}

static void test_bf16_decode(void) {
    dec d;
    CHECK(dec_open(&d, "tiny", 4, 1) == 0, "model: %s", retnet_errmsg());
    if (test_cur_failed) return;
    CHECK(retnet_model_set_bf16_decode(d.m, 1) == RETNET_OK, "bf16: %s", retnet_errmsg());
    int32_t tok[4];
    retnet_state *s = dec_start(&d, 1, 16, tok);
    window(&d, s, 1, tok, ASAN ? 500 : 2000, "tiny bf16, B=1");
    dec_end(s, 1);
    s = dec_start(&d, 4, 16, tok);
    window(&d, s, 4, tok, ASAN ? 200 : 500, "tiny bf16, B=4");
    dec_end(s, 4);
    dec_close(&d);
}

/* The small model: its products and retention run on all threads (the tiny model's are too
 * small to be split). Release build only: under ASan it takes seconds, and the tiny model's
 * steps above go through the same functions. */
static void test_small_model(void) {
    if (ASAN) {
        fprintf(stderr, "     small: skipped under ASan (slow; same code as tiny)\n");
        return;
    }
    dec d;
    CHECK(dec_open(&d, "small", 4, 1) == 0, "model: %s", retnet_errmsg());
    if (test_cur_failed) return;
    int32_t tok[4];
    retnet_state *s = dec_start(&d, 1, 16, tok);
    window(&d, s, 1, tok, 100, "small, B=1");
    dec_end(s, 1);
    s = dec_start(&d, 4, 8, tok);
    window(&d, s, 4, tok, 20, "small, B=4");
    dec_end(s, 4);
    dec_close(&d);
}

/* One thread (OMP_NUM_THREADS=1): no parallel region may be entered at all. */
static void test_one_thread(void) {
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    dec d;
    CHECK(dec_open(&d, "tiny", 4, 1) == 0, "model: %s", retnet_errmsg());
    if (!test_cur_failed) {
        int32_t tok[4];
        retnet_state *s = dec_start(&d, 4, 16, tok);
        window(&d, s, 4, tok, ASAN ? 200 : 1000, "tiny, B=4, one thread");
        dec_end(s, 4);
        dec_close(&d);
    }
    omp_set_num_threads(saved);
}

/* The window detects the library's allocations: a bf16 copy made between two steps, and the
 * growth of its per-sequence arrays for a wider batch. */
static void test_window_detects(void) {
    dec d;
    CHECK(dec_open(&d, "tiny", 8, 1) == 0, "model: %s", retnet_errmsg());
    if (test_cur_failed) return;
    int32_t tok[8];
    retnet_state *s = dec_start(&d, 4, 8, tok);
    long w0 = wrap_calls;
    CHECK(dec_steps(&d, s, 4, tok, 100, 50) == 0, "steps: %s", retnet_errmsg());
    CHECK(wrap_calls - w0 == 1, "the bf16 copy made at step 50: counted %ld, want 1 (its "
          "calloc)", wrap_calls - w0);
    /* a batch wider than any before: the library grows its per-sequence arrays */
    retnet_state *s8 = calloc(8, sizeof *s8);
    for (int b = 0; b < 8; b++) {
        s8[b].data = malloc(sizeof(float) * (size_t)retnet_state_floats(&d.c));
        retnet_state_reset(&d.c, &s8[b]);
        tok[b] = b;
    }
    w0 = wrap_calls;
    CHECK(retnet_forward(d.m, tok, 8, 1, RETNET_FORM_RECURRENT, 0, s8, d.logits) == RETNET_OK,
          "B=8 step: %s", retnet_errmsg());
    CHECK(wrap_calls - w0 >= 2, "B=8 after B=4: the library's growth was not counted (%ld)",
          wrap_calls - w0);
    dec_end(s8, 8);
    dec_end(s, 4);
    dec_close(&d);
}

int main(void) {
    RUN(test_counter_works);
    RUN(test_decode_10000_tokens);
    RUN(test_batch_decode);
    RUN(test_bf16_decode);
    RUN(test_small_model);
    RUN(test_one_thread);
    RUN(test_window_detects);
    return TEST_SUMMARY();
}
