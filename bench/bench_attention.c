/*
 * bench_attention: causal multi-head attention (src/ops/attention.c), naive against flash:
 * forward and forward+backward throughput and the scratch each needs, at T = 256 .. 16k
 * with H = 8, dk = dv = 64 and B = 16384 / T (16k tokens per call at every T). Prints a
 * table. Not run by CI.
 *
 *   bench_attention [--T 256,1024,4096,16384] [--reps N] [--threads N] [--max-gb G]
 *                   [--impl naive|flash|both] [--fwd-only 1] [--warmup 0|1]
 *
 * Timing: one warm-up call of each (faults in the buffers; --warmup 0 skips it where one
 * call takes many seconds and the faults are noise), then N timed calls on a
 * monotonic clock (N = 3 by default, 1 for T >= 8192 where one call takes seconds); the
 * median is printed, with the spread (max/min - 1). tokens/s = B T / time. GFLOP/s counts
 * the useful causal work only, 2 flops per multiply-add over the T (T+1)/2 visible (query,
 * key) pairs of each (b, h): forward 2 (dk + dv) per pair (Q K^T and P V), backward
 * 2 (3 dk + 2 dv) (Q K^T again, P^T dO, dO V^T, dS^T Q, dS K: 2.5x the forward); "f+b"
 * counts both. The naive one computes the full T x T products (twice the causal work) and
 * the flash one only the tiles on and below the diagonal, so the same GFLOP/s means the
 * naive one ran its products twice as fast. The naive rows are skipped where its T^2
 * scratch exceeds --max-gb (2 GB).
 * Scratch: the work buffer (floats x 4 bytes) for this --threads; the tensors themselves
 * (q, k, v, o, dout, dq, dk, dv: 16k x 512 floats = 32 MB each) are the same for both.
 */
#include "ops/ops.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *alloc_rand(int64_t n, uint64_t *s, float scale) {
    float *x = malloc(sizeof(float) * (size_t)n);
    if (!x) { fprintf(stderr, "bench_attention: out of memory\n"); exit(1); }
    for (int64_t i = 0; i < n; i++) {
        *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
        x[i] = scale * (float)((double)((*s * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-52 - 1.0);
    }
    return x;
}

typedef struct { double med, spread; } timing;

enum { NAIVE, FLASH };

typedef struct {
    attention_args f;
    attention_grad_args g;
    float *wf, *wb;
} setup;

static void run_fwd(setup *s, int impl) {
    if (impl == NAIVE) op_attention_naive_forward(&s->f, s->wf);
    else op_attention_flash_forward(&s->f, s->wf);
}

static void run_fb(setup *s, int impl) {
    run_fwd(s, impl);
    if (impl == NAIVE) op_attention_naive_backward(&s->g, s->wb);
    else op_attention_flash_backward(&s->g, s->wb);
}

static int warmup = 1;

static timing time_it(void (*fn)(setup *, int), setup *s, int impl, int reps) {
    double *t = malloc(sizeof(double) * reps);
    if (warmup) fn(s, impl);
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        fn(s, impl);
        t[r] = now() - t0;
    }
    qsort(t, reps, sizeof(double), cmp);
    timing out = {t[reps / 2], t[reps - 1] / t[0] - 1};
    free(t);
    return out;
}

int main(int argc, char **argv) {
    int64_t Tlist[16] = {256, 1024, 4096, 16384};
    int nT = 4, reps = 0, threads = 0, impl0 = NAIVE, impl1 = FLASH, fwd_only = 0;
    double max_gb = 2.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--T")) {
            nT = 0;
            for (char *p = argv[i + 1]; *p && nT < 16;) {
                Tlist[nT++] = strtoll(p, &p, 10);
                if (*p == ',') p++;
            }
        } else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-gb")) max_gb = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--fwd-only")) fwd_only = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup")) warmup = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--impl")) {
            impl0 = strcmp(argv[i + 1], "flash") ? NAIVE : FLASH;
            impl1 = strcmp(argv[i + 1], "naive") ? FLASH : NAIVE;
        }
        else { fprintf(stderr, "bench_attention: unknown option %s\n", argv[i]); return 2; }
    }
    const int H = 8, dk = 64, dv = 64;
    const int nt = threads > 0 ? threads : omp_get_max_threads();
    printf("causal attention, H=%d dk=%d dv=%d, B*T = 16384 tokens per call, %d threads\n",
           H, dk, dv, nt);
    printf("%6s %3s %6s | %10s %8s %6s | %10s %8s %6s | %10s %10s\n", "T", "B", "impl",
           "fwd tok/s", "GFLOP/s", "spread", "f+b tok/s", "GFLOP/s", "spread", "fwd MB",
           "bwd MB");
    for (int ti = 0; ti < nT; ti++) {
        const int64_t T = Tlist[ti], B = T >= 16384 ? 1 : 16384 / T;
        const int r = reps > 0 ? reps : T >= 8192 ? 1 : 3;
        uint64_t seed = 0x1234567ull + T;
        const int64_t nq = B * T * H * dk, nv = B * T * H * dv;
        float *q = alloc_rand(nq, &seed, 1), *k = alloc_rand(nq, &seed, 1);
        float *v = alloc_rand(nv, &seed, 1), *dout = alloc_rand(nv, &seed, 1);
        float *o = alloc_rand(nv, &seed, 0), *lse = alloc_rand(B * H * T, &seed, 0);
        float *dq = alloc_rand(nq, &seed, 0), *dk_ = alloc_rand(nq, &seed, 0);
        float *dv_ = alloc_rand(nv, &seed, 0);
        const double pairs = (double)B * H * T * (T + 1) / 2;
        const double fl_f = 2 * pairs * (dk + dv), fl_b = 2 * pairs * (3 * dk + 2 * dv);
        for (int impl = impl0; impl <= impl1; impl++) {
            int64_t wf = impl == NAIVE ? op_attention_naive_work(T, T, nt)
                                       : op_attention_flash_work(dk, dv, nt);
            int64_t wb = impl == NAIVE ? op_attention_naive_backward_work(T, T, nt)
                                       : op_attention_flash_backward_work(B, T, H, dk, dv, nt);
            double mbf = wf * 4.0 / 1048576, mbb = wb * 4.0 / 1048576;
            const char *name = impl == NAIVE ? "naive" : "flash";
            if (fmax(mbf, mbb) > max_gb * 1024) {
                printf("%6lld %3lld %6s | %10s %8s %6s | %10s %8s %6s | %10.1f %10.1f  (skipped: "
                       "scratch > %.0f GB)\n", (long long)T, (long long)B, name, "-", "-", "-",
                       "-", "-", "-", mbf, mbb, max_gb);
                continue;
            }
            setup s;
            s.f = (attention_args){B, T, T, H, dk, dv, (float)(1 / sqrt(dk)), nt, q, k, v, o, lse};
            s.g = (attention_grad_args){B, T, T, H, dk, dv, (float)(1 / sqrt(dk)), nt, q, k, v,
                                        o, lse, dout, dq, dk_, dv_};
            s.wf = malloc(sizeof(float) * (size_t)wf);
            s.wb = malloc(sizeof(float) * (size_t)wb);
            if (!s.wf || !s.wb) { fprintf(stderr, "bench_attention: out of memory\n"); return 1; }
            timing tf = time_it(run_fwd, &s, impl, r);
            timing tb = fwd_only ? (timing){NAN, NAN} : time_it(run_fb, &s, impl, r);
            printf("%6lld %3lld %6s | %10.0f %8.1f %5.0f%% | %10.0f %8.1f %5.0f%% | %10.1f %10.1f\n",
                   (long long)T, (long long)B, name, B * T / tf.med, fl_f / tf.med * 1e-9,
                   100 * tf.spread, B * T / tb.med, (fl_f + fl_b) / tb.med * 1e-9,
                   100 * tb.spread, mbf, mbb);
            fflush(stdout);
            free(s.wf);
            free(s.wb);
        }
        free(q); free(k); free(v); free(dout); free(o); free(lse); free(dq); free(dk_); free(dv_);
    }
    return 0;
}
