/*
 * test_cuda_ops.c: every kernel of the CUDA backend (src/cuda/cuda.h) against the CPU kernel
 * it mirrors (src/ops/, src/optim.c), on fresh random inputs. The seed is printed;
 * RETNET_TEST_SEED=<n> replays a run. Without a GPU (no driver, or no device) every test is
 * skipped and the binary reports 0 passed, 0 failed: CI machines have no GPU.
 *
 * Tolerance rule (written before the kernels were run, as in test_ops.c)
 * -----------------------------------------------------------------------
 * u = 2^-24 (float32). Each float implementation of an op lies within C_TOL K u mag_i of the
 * exact result, element by element, whatever order it sums in (Higham §3.1): K is the longest
 * chain of roundings one term goes through, mag_i the sum of the absolute values of the
 * terms that make up element i (computed in double), C_TOL = 2 covering float library
 * functions (expf, erff: <= 2 ulp) and the final rounding. The GPU and the CPU are two such
 * implementations, so
 *
 *     |gpu_i - cpu_i| <= 2 C_TOL K u mag_i                     (PAIR = 2 C_TOL = 4)
 *
 * with K and mag per op as test_ops.c / test_grad_ops.c state them (copied where named):
 *   gemm, matmul              K_red + 2; mag = |alpha| sum |a b| + |beta c|
 *   matmul backward           N + 3 (dx), M + 3 (dw); |dy| |W| + |dx0|, |dy|^T |x| + |dw0|
 *   layernorm, rmsnorm        d + 4; test_ops.c's norm_mag
 *   head_norm_gate            dv + 4; mag_norm |swish(g)| + |norm| |g|
 *   norm backwards            dx, dg: 17; dw, db: 13; test_grad_ops.c's norm_seg_mag
 *   gelu, swish               4 / backward 8 (test_grad_ops.c's magnitudes); glu: +1
 *   embed backward            n + 2; sum |dx| |scale| + |dtable0|
 *   rope                      6; the rotation of |x| by |cos|, |sin|, times |scale|
 *   cross-entropy             the GPU sums the exps in float: each term goes through at most
 *                             V/512 per-thread additions and 9 levels of the block's tree,
 *                             so K = V/512 + 16 for the loss (mag 1 + sum_j p_j |x_j - m|)
 *                             and for dlogits (mag |gs| (p_j (1 + |x_j - m| + sum_k p_k
 *                             |x_k - m|) + [j = t]))
 *   adamw                     8 roundings per step for p, 3 for m, 4 for v, over S steps
 *                             (errors carried by the moments add up linearly):
 *                             K = 8S, 3S, 4S; mag = |p| + sum of |updates|, |m| + |g|, |v| + g^2
 * Outputs written as bf16 add one bf16 ulp of the result (2^-7 |y|): the GPU's and the CPU's
 * float results may round to neighbouring bf16 values.
 *
 * Besides the bound:
 *  - fp32 matrix products must not use TF32: the typical error of an fp32 sum grows as
 *    sqrt(K) u, so sqrt(NMSE) <= C_TYP sqrt(K) u (C_TYP = 4); TF32's 2^-11 rounding of the
 *    inputs gives ~1e-4, 30-300 times more at these sizes.
 *  - exact where the arithmetic is the same single operation: conversions (bit for bit),
 *    embedding lookup, add, and the bf16 copy AdamW writes;
 *  - deterministic: kernels with reductions, run twice on the same inputs, give the same
 *    bits (embedding backward, norm backwards, sums);
 *  - overwritten outputs are poisoned with NaN first, accumulated ones prefilled with random
 *    values (the += rule), and row padding must stay untouched.
 */
#include <float.h>
#include <time.h>

#include "cuda/cuda.h"
#include "model.h"
#include "ops/ops.h"
#include "../test.h"
#include "cuda_test.h"

#define U 0x1p-24
#define C_TOL 2.0
#define PAIR (2 * C_TOL)
#define C_TYP 4.0
#define SENTINEL 1234.5f

static uint64_t seed0;

static uint64_t next_seed(void) {
    static uint64_t k;
    return (seed0 + 0x9E3779B97F4A7C15ull * ++k) | 1;
}

/* ---- host helpers ------------------------------------------------------------------- */
static float *fnew(int64_t n) { return malloc(sizeof(float) * (size_t)(n > 0 ? n : 1)); }
static double *dnew(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(double)); }
static float *frand(int64_t n, uint64_t *s, double scale) {
    float *x = fnew(n);
    test_fill(x, n, s, scale);
    return x;
}
static float *fcopy(const float *x, int64_t n) {
    float *y = fnew(n);
    memcpy(y, x, sizeof(float) * (size_t)n);
    return y;
}
static float *fnan(int64_t n) {
    float *y = fnew(n);
    for (int64_t i = 0; i < n; i++) y[i] = NAN;
    return y;
}
static float bf16_to_f32(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
/* x rounded to bf16 (in place), and its bf16 bits */
static uint16_t *to_bf16(float *x, int64_t n) {
    uint16_t *b = malloc(sizeof(uint16_t) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) b[i] = op_f32_to_bf16(x[i]), x[i] = bf16_to_f32(b[i]);
    return b;
}
static double sigm(double z) { return 1 / (1 + exp(-z)); }

/* ---- device helpers: failures are CHECKed with the backend's message (OK, cuda_test.h) - */

static void *dput(const void *h, size_t bytes) {
    void *d = NULL;
    OK(retnet_cuda_malloc(&d, bytes ? bytes : 1, "test buffer"));
    if (d && h) OK(retnet_cuda_upload(d, h, bytes));
    return d;
}
static void *dputf(const float *h, int64_t n) { return dput(h, sizeof(float) * (size_t)n); }
/* Waits for the device (reporting kernel errors), then copies back. */
static void dget(void *h, const void *d, size_t bytes) {
    OK(retnet_cuda_sync(NULL));
    if (d) OK(retnet_cuda_download(h, d, bytes));
}
static float *dgetf(const void *d, int64_t n) {
    float *h = fnew(n);
    dget(h, d, sizeof(float) * (size_t)n);
    return h;
}
#define DFREE(...)                                                                       \
    do {                                                                                 \
        void *ps_[] = {__VA_ARGS__};                                                     \
        for (size_t i_ = 0; i_ < sizeof ps_ / sizeof ps_[0]; i_++) retnet_cuda_free(ps_[i_]); \
    } while (0)

/* ---- checks ----------------------------------------------------------------------------- */
/* |gpu - cpu| <= PAIR K u mag_i + extra_rel |cpu_i| (+ subnormal slack). NaN where the CPU
 * has NaN is accepted (and required). */
static void check_pair_x(const float *gpu, const float *cpu, const double *mag, int64_t n,
                         double K, double extra_rel, const char *what) {
    double worst = 0;
    int64_t wi = -1;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(cpu[i]) && isnan(gpu[i])) continue;
        double err = fabs((double)gpu[i] - cpu[i]);
        double tol = PAIR * K * U * mag[i] + extra_rel * fabs(cpu[i]) + K * 0x1p-149;
        double ratio = err / tol;
        if (!(ratio <= worst)) {
            worst = isnan(ratio) ? INFINITY : ratio;
            wi = i;
        }
    }
    test_err e = test_compare_ff(gpu, cpu, n, 1e-30);
    CHECK(worst <= 1.0,
          "%s: |gpu - cpu| > %g K u mag (K=%g): worst [%lld] gpu %.9g cpu %.9g mag %.3g "
          "(err/tol %.3g); max_abs %.3g max_rel %.3g nmse %.3g",
          what, PAIR, K, (long long)wi, wi >= 0 ? gpu[wi] : 0.0, wi >= 0 ? cpu[wi] : 0.0,
          wi >= 0 ? mag[wi] : 0.0, worst, e.max_abs, e.max_rel, e.nmse);
}
static void check_pair(const float *gpu, const float *cpu, const double *mag, int64_t n,
                       double K, const char *what) {
    check_pair_x(gpu, cpu, mag, n, K, 0.0, what);
}
static void check_same(const void *a, const void *b, size_t bytes, const char *what) {
    const unsigned char *x = a, *y = b;
    size_t i = 0;
    while (i < bytes && x[i] == y[i]) i++;
    CHECK(i == bytes, "%s: differs at byte %zu (of %zu)", what, i, bytes);
}
/* Columns cols..ld-1 of every row must still be SENTINEL. */
static void check_pad(const float *buf, int64_t rows, int64_t cols, int64_t ld, const char *what) {
    int64_t bad = -1;
    for (int64_t r = 0; r < rows && bad < 0; r++)
        for (int64_t c = cols; c < ld; c++)
            if (buf[r * ld + c] != SENTINEL) { bad = r * ld + c; break; }
    CHECK(bad < 0, "%s: wrote outside its output at [%lld]", what, (long long)bad);
}

/* =============================================================================== runtime */

static void test_runtime(void) {
    OK(retnet_cuda_init(0));
    CHECK(retnet_cuda_device_name()[0] != 0, "no device name");
    fprintf(stderr, "  device: %s\n", retnet_cuda_device_name());
    int n = retnet_cuda_device_count();
    CHECK(retnet_cuda_init(n) == RETNET_EINVAL && strstr(retnet_errmsg(), "does not exist"),
          "device %d: want EINVAL 'does not exist', got '%s'", n, retnet_errmsg());
    /* the failed init left device 0 in place */
    void *p = NULL;
    retnet_status st = retnet_cuda_malloc(&p, (size_t)1 << 52, "a 4 PiB buffer");
    CHECK(st == RETNET_ENOMEM && !p && strstr(retnet_errmsg(), "4 PiB buffer"),
          "huge allocation: want ENOMEM naming the buffer, got %d '%s'", st, retnet_errmsg());
    OK(retnet_cuda_malloc(&p, 1 << 20, "1 MiB"));
    OK(retnet_cuda_memset0(p, 1 << 20, NULL));
    unsigned char *h = malloc(1 << 20);
    dget(h, p, 1 << 20);
    int64_t nz = 0;
    for (int i = 0; i < 1 << 20; i++) nz += h[i] != 0;
    CHECK(nz == 0, "memset0 left %lld nonzero bytes", (long long)nz);
    cuda_stream s = NULL;
    OK(retnet_cuda_stream_create(&s));
    OK(retnet_cuda_memset0(p, 4096, s));
    OK(retnet_cuda_sync(s));
    retnet_cuda_stream_destroy(s);
    /* bad arguments are refused before any work, with a message */
    st = cuda_op_gemm(0, 0, 4, 4, 4, 1.0f, p, 2, p, 4, CUDA_F32, 0.0f, p, 4, CUDA_F32, NULL);
    CHECK(st == RETNET_EINVAL && strstr(retnet_errmsg(), "leading dimension"),
          "gemm lda < K: got %d '%s'", st, retnet_errmsg());
    retnet_adamw hp = {1e-3f, 0.9f, 0.98f, 1e-8f, 0.05f};
    st = cuda_op_adamw(p, NULL, p, p, p, 4, 0, &hp, 1, 1.0f, NULL);
    CHECK(st == RETNET_EINVAL && strstr(retnet_errmsg(), "step 0"), "adamw step 0: got %d '%s'",
          st, retnet_errmsg());
    retnet_cuda_free(p);
    free(h);
}

/* =========================================================================== conversions */

static void test_convert(void) {
    uint64_t s = next_seed();
    const int64_t n = 100003;
    float *x = frand(n, &s, 1e3);
    /* specials: NaNs (quiet, signalling, negative), infinities, ties to even both ways,
     * the largest float (rounds to inf), subnormals, zeros */
    const uint32_t sp[] = {0x7fc00000u, 0x7f800001u, 0xffc12345u, 0x7f800000u, 0xff800000u,
                           0x3f808000u, 0x3f818000u, 0x7f7fffffu, 0x00000001u, 0x807fffffu,
                           0x00000000u, 0x80000000u, 0x3f80ffffu, 0x3f807fffu};
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++) memcpy(&x[i * 7], &sp[i], 4);
    for (int64_t i = 200; i < 1200; i++) { /* random bit patterns */
        uint32_t u = (uint32_t)(test_rand(&s) * 2147483647.0) * 2654435761u;
        memcpy(&x[i], &u, 4);
    }
    uint16_t *want = malloc(sizeof(uint16_t) * n), *got = malloc(sizeof(uint16_t) * n);
    for (int64_t i = 0; i < n; i++) want[i] = op_f32_to_bf16(x[i]);
    void *dx = dputf(x, n), *db = dput(NULL, sizeof(uint16_t) * n), *dy = dputf(NULL, n);
    OK(cuda_op_f32_to_bf16(db, dx, n, NULL));
    dget(got, db, sizeof(uint16_t) * n);
    check_same(got, want, sizeof(uint16_t) * n, "f32_to_bf16 (bits of op_f32_to_bf16)");
    OK(cuda_op_bf16_to_f32(dy, db, n, NULL));
    float *y = dgetf(dy, n), *yw = fnew(n);
    for (int64_t i = 0; i < n; i++) yw[i] = bf16_to_f32(want[i]);
    check_same(y, yw, sizeof(float) * n, "bf16_to_f32 (exact widening)");
    DFREE(dx, db, dy);
    free(x); free(want); free(got); free(y); free(yw);
}

/* =============================================================================== matmul */

/* r, mag (M, N) of alpha op(A) op(B) + beta C0 in double. */
static void gemm_ref(double *r, double *mag, int ta, int tb, int64_t M, int64_t N, int64_t K,
                     double alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                     double beta, const float *C0, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0, am = 0;
            for (int64_t k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k];
                double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                acc += a * b;
                am += fabs(a * b);
            }
            double c0 = beta == 0 ? 0 : C0[i * ldc + j];
            r[i * N + j] = alpha * acc + beta * c0;
            mag[i * N + j] = fabs(alpha) * am + fabs(beta * c0);
        }
}

static void check_typical(const float *a, const double *r, int64_t n, double K, const char *what) {
    test_err e = test_compare(a, r, n, 1e-30);
    double lim = C_TYP * sqrt(K) * U;
    CHECK(sqrt(e.nmse) <= lim, "%s: sqrt(NMSE) %.3g > %g sqrt(K) u = %.3g (TF32 or worse?)", what,
          sqrt(e.nmse), C_TYP, lim);
}

/* C = alpha op(A) op(B) + beta C, fp32 and bf16 inputs, fp32 and bf16 outputs, strides. */
static void test_gemm(void) {
    static const int64_t shapes[][3] = {{1, 1, 1},    {7, 33, 5},    {33, 7, 64},
                                        {16, 16, 129}, {128, 96, 257}, {300, 200, 512},
                                        {64, 64, 0}};
    static const float ab[][2] = {{1.0f, 0.0f}, {1.0f, 1.0f}, {-0.5f, 0.75f}};
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int v = 0; v < 3; v++)
                    for (int types = 0; types < 3; types++) { /* f32/f32, bf16/f32, bf16/bf16 */
                        const int64_t M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
                        const float alpha = ab[v][0], beta = ab[v][1];
                        const int bf_in = types >= 1, bf_out = types == 2;
                        const int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K,
                                      bc = tb ? K : N;
                        /* padded strides on the smaller shapes, tight ones (aligned: the
                         * tensor-core path) on the larger */
                        const int pad = M * N < 4096;
                        const int64_t lda = ac + 3 * pad, ldb = bc + pad, ldc = N + 2 * pad;
                        float *A = frand(ar * lda, &s, 1), *B = frand(br * ldb, &s, 1);
                        float *C = fnew(M * ldc);
                        for (int64_t i = 0; i < M * ldc; i++)
                            C[i] = i % ldc < N ? (beta == 0 ? NAN : (float)test_rand(&s)) : SENTINEL;
                        uint16_t *Ab = NULL, *Bb = NULL, *Cb = NULL;
                        if (bf_in) Ab = to_bf16(A, ar * lda), Bb = to_bf16(B, br * ldb);
                        if (bf_out) Cb = to_bf16(C, M * ldc); /* C0 as the GPU sees it */
                        double *r = dnew(M * N), *mag = dnew(M * N);
                        gemm_ref(r, mag, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
                        float *Ccpu = fcopy(C, M * ldc);
                        op_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Ccpu, ldc);
                        size_t es = bf_in ? 2 : 4, ec = bf_out ? 2 : 4;
                        void *dA = dput(bf_in ? (void *)Ab : (void *)A, es * ar * lda);
                        void *dB = dput(bf_in ? (void *)Bb : (void *)B, es * br * ldb);
                        void *dC = dput(bf_out ? (void *)Cb : (void *)C, ec * M * ldc);
                        OK(cuda_op_gemm(ta, tb, M, N, K, alpha, dA, lda, dB, ldb,
                                        bf_in ? CUDA_BF16 : CUDA_F32, beta, dC, ldc,
                                        bf_out ? CUDA_BF16 : CUDA_F32, NULL));
                        float *got = fnew(M * ldc);
                        if (bf_out) { /* padding: SENTINEL where the bits were left alone */
                            uint16_t *g16 = malloc(2 * M * ldc);
                            dget(g16, dC, 2 * M * ldc);
                            for (int64_t i = 0; i < M * ldc; i++)
                                got[i] = i % ldc < N ? bf16_to_f32(g16[i])
                                                     : g16[i] == Cb[i] ? SENTINEL : NAN;
                            free(g16);
                        } else {
                            dget(got, dC, 4 * M * ldc);
                        }
                        char what[160];
                        snprintf(what, sizeof what, "gemm %s->%s M=%lld N=%lld K=%lld tA=%d tB=%d "
                                 "a=%g b=%g", bf_in ? "bf16" : "f32", bf_out ? "bf16" : "f32",
                                 (long long)M, (long long)N, (long long)K, ta, tb, alpha, beta);
                        float *g = fnew(M * N), *c = fnew(M * N);
                        for (int64_t i = 0; i < M; i++)
                            for (int64_t j = 0; j < N; j++)
                                g[i * N + j] = got[i * ldc + j], c[i * N + j] = Ccpu[i * ldc + j];
                        check_pair_x(g, c, mag, M * N, K + 2, bf_out ? 0x1p-7 : 0.0, what);
                        if (!bf_in && K >= 64) check_typical(g, r, M * N, K + 2, what);
                        check_pad(got, M, N, ldc, what);
                        DFREE(dA, dB, dC);
                        free(A); free(B); free(C); free(Ab); free(Bb); free(Cb); free(r);
                        free(mag); free(Ccpu); free(got); free(g); free(c);
                    }
}

/* y = x W^T and its backward (+=), bf16 and fp32 inputs, against op_matmul(_backward). */
static void test_matmul(void) {
    static const int64_t shapes[][3] = {{1, 33, 7}, {5, 1, 300}, {64, 48, 32}, {257, 384, 320}};
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int bf = 0; bf < 2; bf++)
            for (int acc = 0; acc < 2; acc++) {
                const int64_t M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
                float *x = frand(M * K, &s, 1), *w = frand(N * K, &s, 1), *dy = frand(M * N, &s, 1);
                float *y0 = acc ? frand(M * N, &s, 2) : fnan(M * N);
                float *dx0 = frand(M * K, &s, 1), *dw0 = frand(N * K, &s, 1);
                uint16_t *xb = NULL, *wb = NULL, *dyb = NULL;
                if (bf) xb = to_bf16(x, M * K), wb = to_bf16(w, N * K), dyb = to_bf16(dy, M * N);
                const size_t es = bf ? 2 : 4;
                const cuda_dtype t = bf ? CUDA_BF16 : CUDA_F32;
                void *dx_ = dput(bf ? (void *)xb : (void *)x, es * M * K);
                void *dw_ = dput(bf ? (void *)wb : (void *)w, es * N * K);
                void *ddy = dput(bf ? (void *)dyb : (void *)dy, es * M * N);
                void *dy_ = dputf(y0, M * N), *ddx = dputf(dx0, M * K), *ddw = dputf(dw0, N * K);
                OK(cuda_op_matmul(dy_, CUDA_F32, dx_, dw_, t, M, N, K, acc, NULL));
                OK(cuda_op_matmul_backward(ddx, CUDA_F32, ddw, CUDA_F32, ddy, dx_, dw_, t, M, N, K,
                                           NULL));
                float *y = dgetf(dy_, M * N), *gdx = dgetf(ddx, M * K), *gdw = dgetf(ddw, N * K);
                float *yc = fcopy(y0, M * N), *cdx = fcopy(dx0, M * K), *cdw = fcopy(dw0, N * K);
                op_matmul(yc, x, w, M, N, K, acc);
                op_matmul_backward(cdx, cdw, dy, x, w, M, N, K);
                double *my = dnew(M * N), *mdx = dnew(M * K), *mdw = dnew(N * K);
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        double a = acc ? fabs(y0[i * N + j]) : 0;
                        for (int64_t k = 0; k < K; k++) a += fabs((double)x[i * K + k] * w[j * K + k]);
                        my[i * N + j] = a;
                    }
                for (int64_t i = 0; i < M * K; i++) mdx[i] = fabs(dx0[i]);
                for (int64_t i = 0; i < N * K; i++) mdw[i] = fabs(dw0[i]);
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        double g = fabs(dy[i * N + j]);
                        for (int64_t k = 0; k < K; k++) {
                            mdx[i * K + k] += g * fabs(w[j * K + k]);
                            mdw[j * K + k] += g * fabs(x[i * K + k]);
                        }
                    }
                char what[128];
                snprintf(what, sizeof what, "matmul %s M=%lld N=%lld K=%lld acc=%d",
                         bf ? "bf16" : "f32", (long long)M, (long long)N, (long long)K, acc);
                check_pair(y, yc, my, M * N, K + 2, what);
                char w2[160];
                snprintf(w2, sizeof w2, "%s backward dx", what);
                check_pair(gdx, cdx, mdx, M * K, N + 3, w2);
                snprintf(w2, sizeof w2, "%s backward dw", what);
                check_pair(gdw, cdw, mdw, N * K, M + 3, w2);
                DFREE(dx_, dw_, ddy, dy_, ddx, ddw);
                free(x); free(w); free(dy); free(y0); free(dx0); free(dw0); free(xb); free(wb);
                free(dyb); free(y); free(gdx); free(gdw); free(yc); free(cdx); free(cdw); free(my);
                free(mdx); free(mdw);
            }
}

/* ============================================================================ embedding */

static void test_embed(void) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {333, 7, 33}, {1000, 1000, 300}, {5000, 3, 64},
                                        {64, 50257, 17}}; /* n V d */
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t n = shapes[si][0], V = shapes[si][1], d = shapes[si][2];
        const float scale = si & 1 ? 1.0f : sqrtf((float)d);
        int32_t *tok = malloc(sizeof(int32_t) * n);
        for (int64_t i = 0; i < n; i++) tok[i] = (int32_t)((test_rand(&s) + 1) * 0.5 * V);
        /* out of range: skipped by the backward, NaN rows in the forward */
        if (n > 10) tok[3] = -1, tok[n - 2] = (int32_t)V, tok[n / 2] = (int32_t)V + 5;
        float *table = frand(V * d, &s, 1), *dx = frand(n * d, &s, 1), *dt0 = frand(V * d, &s, 1);
        void *dtab = dputf(table, V * d), *dtok = dput(tok, sizeof(int32_t) * n);
        void *dxo = dputf(NULL, n * d), *ddx = dputf(dx, n * d), *ddt = dputf(dt0, V * d);
        OK(cuda_op_embed(dxo, dtab, dtok, n, d, V, scale, NULL));
        OK(cuda_op_embed_backward(ddt, ddx, dtok, n, d, V, scale, NULL));
        float *x = dgetf(dxo, n * d), *dt = dgetf(ddt, V * d);
        /* a second run from the same start: the same bits */
        OK(retnet_cuda_upload(ddt, dt0, sizeof(float) * V * d));
        OK(cuda_op_embed_backward(ddt, ddx, dtok, n, d, V, scale, NULL));
        float *dt2 = dgetf(ddt, V * d);
        /* the CPU on the valid tokens only */
        int32_t *vt = malloc(sizeof(int32_t) * n);
        float *vdx = fnew(n * d), *xc = fnan(n * d);
        int64_t nv = 0;
        for (int64_t i = 0; i < n; i++)
            if (tok[i] >= 0 && tok[i] < V) {
                vt[nv] = tok[i];
                memcpy(vdx + nv * d, dx + i * d, sizeof(float) * d);
                op_embed(xc + i * d, table, &tok[i], 1, d, scale);
                nv++;
            }
        float *dtc = fcopy(dt0, V * d);
        op_embed_backward(dtc, vdx, vt, nv, d, scale);
        double *mag = dnew(V * d);
        for (int64_t i = 0; i < V * d; i++) mag[i] = fabs(dt0[i]);
        for (int64_t i = 0; i < nv; i++)
            for (int64_t j = 0; j < d; j++) mag[vt[i] * d + j] += fabs(vdx[i * d + j] * scale);
        char what[96];
        snprintf(what, sizeof what, "embed n=%lld V=%lld d=%lld", (long long)n, (long long)V,
                 (long long)d);
        int64_t bad = -1;
        for (int64_t i = 0; i < n * d && bad < 0; i++)
            if (!(x[i] == xc[i] || (isnan(x[i]) && isnan(xc[i])))) bad = i;
        CHECK(bad < 0, "%s: forward differs at [%lld]: %.9g want %.9g (out-of-range rows NaN)",
              what, (long long)bad, bad >= 0 ? x[bad] : 0, bad >= 0 ? xc[bad] : 0);
        char w2[128];
        snprintf(w2, sizeof w2, "%s backward", what);
        check_pair(dt, dtc, mag, V * d, n + 2, w2);
        snprintf(w2, sizeof w2, "%s backward, run twice", what);
        check_same(dt2, dt, sizeof(float) * V * d, w2);
        DFREE(dtab, dtok, dxo, ddx, ddt);
        free(tok); free(table); free(dx); free(dt0); free(x); free(dt); free(dt2); free(vt);
        free(vdx); free(xc); free(dtc); free(mag);
    }
}

/* ================================================================================ norms */

/* test_ops.c's magnitude of the layernorm / rmsnorm error terms of row x */
static void norm_mag(double *mag, const float *x, const float *w, const float *b, int64_t d,
                     double eps, int layernorm) {
    double mean = 0, mabs = 0, ms = 0, var = 0;
    for (int64_t j = 0; j < d; j++) { mean += x[j]; mabs += fabs(x[j]); ms += (double)x[j] * x[j]; }
    mean /= d; mabs /= d; ms /= d;
    for (int64_t j = 0; j < d; j++) var += (x[j] - mean) * (x[j] - mean);
    var /= d;
    for (int64_t j = 0; j < d; j++) {
        double wj = w ? fabs(w[j]) : 1.0;
        if (layernorm)
            mag[j] = wj / sqrt(var + eps) * (mabs + fabs(x[j] - mean) * (1 + 2 * ms / (var + eps))) +
                     (b ? fabs(b[j]) : 0.0);
        else
            mag[j] = wj * fabs(x[j]) / sqrt(ms + eps);
    }
}

static void test_norms(void) {
    static const int64_t shapes[][2] = {{1, 2}, {7, 33}, {3, 1024}, {16, 64}, {5, 1}, {300, 4096},
                                        {5, 4094}, {3, 5000}};
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int v = 0; v < 8; v++) {
            const int layernorm = v & 1, with_b = (v >> 1) & 1, inplace = (v >> 2) & 1;
            if (with_b && !layernorm) continue;
            const int64_t M = shapes[si][0], d = shapes[si][1];
            const float eps = si & 1 ? 1e-6f : 1e-5f;
            float *x = frand(M * d, &s, 1), *w = frand(d, &s, 1.5), *b = frand(d, &s, 0.5);
            if (si == 3) /* mean >> std */
                for (int64_t i = 0; i < M * d; i++) x[i] += 3.0f;
            double *mag = dnew(M * d);
            for (int64_t i = 0; i < M; i++)
                norm_mag(mag + i * d, x + i * d, w, with_b ? b : NULL, d, eps, layernorm);
            void *dx = dputf(x, M * d), *dw = dputf(w, d), *db = dputf(b, d);
            void *dy = inplace ? dx : dputf(NULL, M * d);
            if (layernorm) OK(cuda_op_layernorm(dy, dx, dw, with_b ? db : NULL, M, d, eps, NULL));
            else OK(cuda_op_rmsnorm(dy, dx, dw, M, d, eps, NULL));
            float *y = dgetf(dy, M * d), *yc = fnew(M * d);
            if (layernorm) op_layernorm(yc, x, w, with_b ? b : NULL, M, d, eps);
            else op_rmsnorm(yc, x, w, M, d, eps);
            char what[96];
            snprintf(what, sizeof what, "%s M=%lld d=%lld bias=%d inplace=%d",
                     layernorm ? "layernorm" : "rmsnorm", (long long)M, (long long)d, with_b, inplace);
            check_pair(y, yc, mag, M * d, d + 4, what);
            if (!inplace) retnet_cuda_free(dy);
            DFREE(dx, dw, db);
            free(x); free(w); free(b); free(mag); free(y); free(yc);
        }
}

/* mode: HEAD_NORM_RMS (0), _GROUP (1), _NONE (2); gate 0: g NULL (no gate) */
static void test_head_norm_gate(void) {
    static const int shapes[][3] = {{1, 1, 2}, {7, 3, 33}, {4, 8, 16}, {2, 2, 256}, {200, 4, 512}};
    static const char *modes[] = {"rmsnorm", "groupnorm", "none"};
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int v = 0; v < 24; v++) {
            const int mode = v % 3, affine = (v / 3) & 1, inplace = (v / 6) & 1, gate = !((v / 12) & 1);
            const int group = mode == HEAD_NORM_GROUP;
            const int64_t M = shapes[si][0];
            const int h = shapes[si][1], dv = shapes[si][2];
            const int64_t N = M * h * dv, wn = group ? (int64_t)h * dv : dv;
            const float eps = 1e-5f;
            float *o = frand(N, &s, 2), *g = frand(N, &s, 4), *w = frand(wn, &s, 1.5),
                  *b = frand(wn, &s, 0.5);
            const float *pw = affine ? w : NULL, *pb = affine && group ? b : NULL;
            double *mag = dnew(N);
            float *yn = fnew(dv), *one = fnew(dv);
            for (int j = 0; j < dv; j++) one[j] = 1.0f;
            for (int64_t seg = 0; seg < M * h; seg++) {
                const int64_t po = group ? (seg % h) * dv : 0;
                const float *os = o + seg * dv;
                /* the norm's value and its magnitude, then the gate's part */
                if (mode == HEAD_NORM_NONE) {
                    for (int j = 0; j < dv; j++) {
                        yn[j] = pw ? os[j] * pw[j] : os[j];
                        mag[seg * dv + j] = fabs(yn[j]);
                    }
                } else {
                    if (group) op_layernorm(yn, os, pw ? pw + po : one, pb ? pb + po : NULL, 1, dv, eps);
                    else op_rmsnorm(yn, os, pw, 1, dv, eps);
                    norm_mag(mag + seg * dv, os, pw ? pw + po : NULL, pb ? pb + po : NULL, dv, eps,
                             group);
                }
                for (int j = 0; gate && j < dv; j++) {
                    double z = g[seg * dv + j];
                    mag[seg * dv + j] = mag[seg * dv + j] * fabs(z * sigm(z)) + fabs(yn[j]) * fabs(z);
                }
            }
            free(yn); free(one);
            void *dO = dputf(o, N), *dg = dputf(g, N), *dw = dputf(w, wn), *db = dputf(b, wn);
            void *dy = inplace ? dO : dputf(NULL, N);
            OK(cuda_op_head_norm_gate(dy, dO, gate ? dg : NULL, affine ? dw : NULL, pb ? db : NULL,
                                      M, h, dv, eps, mode, NULL));
            float *y = dgetf(dy, N), *yc = fnew(N);
            op_head_norm_gate(yc, o, gate ? g : NULL, pw, pb, M, h, dv, eps, mode);
            char what[128];
            snprintf(what, sizeof what, "head_norm_gate %s M=%lld h=%d dv=%d affine=%d inplace=%d gate=%d",
                     modes[mode], (long long)M, h, dv, affine, inplace, gate);
            check_pair(y, yc, mag, N, dv + 4, what);
            if (!inplace) retnet_cuda_free(dy);
            DFREE(dO, dg, dw, db);
            free(o); free(g); free(w); free(b); free(mag); free(y); free(yc);
        }
}

/* test_grad_ops.c's magnitudes of one segment's gradients (adds into mdx, mdg, mdw, mdb). */
/* identity: no normalisation (xhat = x, dx = dxhat: r = 1 and no mean terms). */
static void norm_seg_mag(const float *x, const float *dy, const float *g, const float *w,
                         const float *b, int n, double eps, int center, int identity, double *mdx,
                         double *mdg, double *mdw, double *mdb) {
    double mu = 0, var = 0;
    if (center) {
        for (int j = 0; j < n; j++) mu += x[j];
        mu /= n;
    }
    for (int j = 0; j < n; j++) var += (x[j] - mu) * (x[j] - mu);
    var /= n;
    double r = identity ? 1 : 1 / sqrt(var + eps), A = 0, B = 0;
    double *X = dnew(n), *dn = dnew(n), *dxh = dnew(n);
    for (int j = 0; j < n; j++) {
        X[j] = r * (fabs(x[j]) + 2 * fabs(mu));
        dn[j] = fabs(dy[j]) * (g ? fabs(g[j] * sigm(g[j])) : 1.0);
        dxh[j] = dn[j] * (w ? fabs(w[j]) : 1.0);
        A += dxh[j] / n;
        B += dxh[j] * X[j] / n;
    }
    for (int j = 0; j < n; j++) {
        if (mdx) mdx[j] += r * (dxh[j] + (center ? A : 0) + (identity ? 0 : 2 * X[j] * B));
        if (mdg && g)
            mdg[j] += fabs(dy[j]) * ((w ? fabs(w[j]) : 1.0) * X[j] + (b ? fabs(b[j]) : 0.0)) *
                      sigm(g[j]) * (1 + fabs(g[j]));
        mdw[j] += dn[j] * X[j];
        mdb[j] += dn[j];
    }
    free(X); free(dn); free(dxh);
}

/* One backward case: kind 0 layernorm, 1 rmsnorm (M rows of n), 2 head norm (M rows of h
 * heads of n) in mode `mode` (HEAD_NORM_*), gated unless nul has 16. nul: bit mask of the
 * gradients left NULL (1 dx, 2 dw, 4 db, 8 dg) and 16: no gate. */
static void norm_bwd_case(int kind, int mode, int64_t M, int h, int n, int affine, int nul,
                          double offset, uint64_t *s) {
    const int groupnorm = kind == 2 && mode == HEAD_NORM_GROUP;
    const int identity = kind == 2 && mode == HEAD_NORM_NONE, gate = kind == 2 && !(nul & 16);
    const int center = kind == 0 || groupnorm;
    if (kind < 2) h = 1;
    const int64_t N = M * h * n, wn = groupnorm ? (int64_t)h * n : n;
    const int with_b = affine && center;
    const float eps = 1e-5f;
    float *x = frand(N, s, 2), *g = frand(N, s, 4), *w = frand(wn, s, 1.5), *b = frand(wn, s, 0.5);
    float *dy = frand(N, s, 1);
    for (int64_t i = 0; i < N; i++) x[i] += (float)offset;
    float *dx0 = frand(N, s, 1), *dg0 = frand(N, s, 1), *dw0 = frand(wn, s, 1), *db0 = frand(wn, s, 1);
    const float *pw = affine ? w : NULL, *pb = with_b ? b : NULL;
    const int wdx = !(nul & 1), wdw = !(nul & 2) && affine, wdb = !(nul & 4) && with_b,
              wdg = !(nul & 8) && gate;

    float *cdx = fcopy(dx0, N), *cdg = fcopy(dg0, N), *cdw = fcopy(dw0, wn), *cdb = fcopy(db0, wn);
    if (kind == 0) op_layernorm_backward(wdx ? cdx : NULL, wdw ? cdw : NULL, wdb ? cdb : NULL, dy, x, pw, M, n, eps);
    else if (kind == 1) op_rmsnorm_backward(wdx ? cdx : NULL, wdw ? cdw : NULL, dy, x, pw, M, n, eps);
    else op_head_norm_gate_backward(wdx ? cdx : NULL, wdg ? cdg : NULL, wdw ? cdw : NULL,
                                    wdb ? cdb : NULL, dy, x, gate ? g : NULL, pw, pb, M, h, n, eps,
                                    mode);

    void *dX = dputf(x, N), *dG = dputf(g, N), *dW = dputf(w, wn), *dB = dputf(b, wn), *dDY = dputf(dy, N);
    void *gdx = dputf(dx0, N), *gdg = dputf(dg0, N), *gdw = dputf(dw0, wn), *gdb = dputf(db0, wn);
    float *r[2][4];
    for (int run = 0; run < 2; run++) { /* twice: the same bits */
        if (run) {
            OK(retnet_cuda_upload(gdx, dx0, sizeof(float) * N));
            OK(retnet_cuda_upload(gdg, dg0, sizeof(float) * N));
            OK(retnet_cuda_upload(gdw, dw0, sizeof(float) * wn));
            OK(retnet_cuda_upload(gdb, db0, sizeof(float) * wn));
        }
        void *ax = wdx ? gdx : NULL, *aw = wdw ? gdw : NULL, *ab = wdb ? gdb : NULL, *ag = wdg ? gdg : NULL;
        if (kind == 0) OK(cuda_op_layernorm_backward(ax, aw, ab, dDY, dX, affine ? dW : NULL, M, n, eps, NULL));
        else if (kind == 1) OK(cuda_op_rmsnorm_backward(ax, aw, dDY, dX, affine ? dW : NULL, M, n, eps, NULL));
        else OK(cuda_op_head_norm_gate_backward(ax, ag, aw, ab, dDY, dX, gate ? dG : NULL,
                                                affine ? dW : NULL, with_b ? dB : NULL, M, h, n,
                                                eps, mode, NULL));
        r[run][0] = dgetf(gdx, N), r[run][1] = dgetf(gdg, N), r[run][2] = dgetf(gdw, wn),
        r[run][3] = dgetf(gdb, wn);
    }
    double *mx = dnew(N), *mg = dnew(N), *mw = dnew(wn), *mb = dnew(wn);
    for (int64_t i = 0; i < N; i++) mx[i] = fabs(dx0[i]), mg[i] = fabs(dg0[i]);
    for (int64_t i = 0; i < wn; i++) mw[i] = fabs(dw0[i]), mb[i] = fabs(db0[i]);
    for (int64_t seg = 0; seg < M * h; seg++) {
        const int64_t po = groupnorm ? (seg % h) * n : 0;
        norm_seg_mag(x + seg * n, dy + seg * n, gate ? g + seg * n : NULL, pw ? pw + po : NULL,
                     pb ? pb + po : NULL, n, eps, center, identity, mx + seg * n, mg + seg * n,
                     mw + po, mb + po);
    }
    static const char *names[] = {"layernorm", "rmsnorm", "head_norm_gate"};
    static const char *modes[] = {" rmsnorm", " groupnorm", " none"};
    char what[160], w2[200];
    snprintf(what, sizeof what, "%s_backward%s M=%lld h=%d n=%d affine=%d null=%d offset=%g",
             names[kind], kind == 2 ? modes[mode] : "", (long long)M, h, n, affine, nul, offset);
    const char *gn[4] = {"dx", "dg", "dw", "db"};
    const float *want[4] = {cdx, cdg, cdw, cdb};
    const double *mags[4] = {mx, mg, mw, mb};
    const int64_t len[4] = {N, N, wn, wn};
    const double Ks[4] = {17, 17, 13, 13};
    for (int q = 0; q < 4; q++) {
        snprintf(w2, sizeof w2, "%s: %s", what, gn[q]);
        check_pair(r[0][q], want[q], mags[q], len[q], Ks[q], w2);
        snprintf(w2, sizeof w2, "%s: %s run twice", what, gn[q]);
        check_same(r[1][q], r[0][q], sizeof(float) * len[q], w2);
        free(r[0][q]); free(r[1][q]);
    }
    DFREE(dX, dG, dW, dB, dDY, gdx, gdg, gdw, gdb);
    free(x); free(g); free(w); free(b); free(dy); free(dx0); free(dg0); free(dw0); free(db0);
    free(cdx); free(cdg); free(cdw); free(cdb); free(mx); free(mg); free(mw); free(mb);
}

static void test_norm_backward(void) {
    static const int64_t shapes[][2] = {{1, 2},    {3, 5},    {4, 17},   {2, 1},   {300, 1024},
                                        {70000, 8}, {40, 2048}, {5, 4094}, {3, 5000}};
    uint64_t s = next_seed();
    for (int kind = 0; kind < 2; kind++) {
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (int affine = 0; affine < 2; affine++)
                norm_bwd_case(kind, 0, shapes[si][0], 1, (int)shapes[si][1], affine, 0, 0, &s);
        norm_bwd_case(kind, 0, 64, 1, 96, 1, 0, 3.0, &s);
        for (int nul = 1; nul < 8; nul++) norm_bwd_case(kind, 0, 33, 1, 40, 1, nul, 0, &s);
    }
}

static void test_head_norm_gate_backward(void) {
    static const int shapes[][3] = {{1, 1, 2}, {3, 2, 5}, {2, 3, 4}, {2, 2, 7}, {256, 4, 128},
                                    {4096, 8, 16}, {64, 8, 512}, {5, 2, 1030}}; /* M h dv */
    uint64_t s = next_seed();
    for (int mode = 0; mode < 3; mode++) {
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (int affine = 0; affine < 2; affine++)
                norm_bwd_case(2, mode, shapes[si][0], shapes[si][1], shapes[si][2], affine, 0, 0,
                              &s);
        norm_bwd_case(2, mode, 16, 2, 24, 1, 0, 3.0, &s);
        for (int nul = 1; nul < 32; nul++) norm_bwd_case(2, mode, 9, 3, 8, 1, nul, 0, &s);
    }
}

/* ================================================================================= rope */

static void test_rope(void) {
    static const int shapes[][3] = {{1, 1, 2}, {7, 3, 8}, {100, 2, 64}, {33, 4, 256}}; /* T h dk */
    static const int64_t pos[][2] = {{0, 0}, {5, 100000}};
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int v = 0; v < 16; v++) {
            const int half = v & 1, bwd = (v >> 1) & 1, pi = (v >> 2) & 1;
            const int64_t B = 2, T = shapes[si][0];
            const int h = shapes[si][1], dk = shapes[si][2];
            /* rows padded by 5 (the kernels' one-pair path) or 8 (16-byte rows when h dk is
             * a multiple of 4: their 4-pair path) */
            const int64_t ld = (int64_t)h * dk + (v >> 3 ? 8 : 5), n = B * T * ld;
            const float scale = bwd ? (float)(1.0 / sqrt((double)dk)) : 1.0f;
            const double base = 10000.0;
            float *x = frand(n, &s, 1);
            for (int64_t i = 0; i < n; i++) if (i % ld >= (int64_t)h * dk) x[i] = SENTINEL;
            float *xc = fcopy(x, n);
            for (int64_t b = 0; b < B; b++) {
                if (bwd) op_rope_backward(xc + b * T * ld, ld, T, h, dk, pos[pi][b], half, base, scale);
                else op_rope(xc + b * T * ld, ld, T, h, dk, pos[pi][b], half, base, scale);
            }
            void *dx = dputf(x, n), *dpos = dput(pos[pi], sizeof(int64_t) * 2);
            if (bwd) OK(cuda_op_rope_backward(dx, ld, B, T, h, dk, pi ? dpos : NULL, half, base, scale, NULL));
            else OK(cuda_op_rope(dx, ld, B, T, h, dk, pi ? dpos : NULL, half, base, scale, NULL));
            float *y = dgetf(dx, n);
            /* mag: the rotation of |x| by |cos|, |sin|, i.e. (|a| + |b|) |scale| bounds it */
            double *mag = dnew(n);
            const int npair = dk / 2;
            for (int64_t r = 0; r < B * T; r++)
                for (int head = 0; head < h; head++)
                    for (int j = 0; j < npair; j++) {
                        int i0 = half ? j : 2 * j, i1 = half ? j + npair : 2 * j + 1;
                        const float *xh = x + r * ld + head * dk;
                        double m = (fabs(xh[i0]) + fabs(xh[i1])) * scale;
                        mag[r * ld + head * dk + i0] = mag[r * ld + head * dk + i1] = m;
                    }
            char what[128];
            snprintf(what, sizeof what, "rope%s %s T=%lld h=%d dk=%d pos0=%lld,%lld",
                     bwd ? "_backward" : "", half ? "half" : "paper", (long long)T, h, dk,
                     (long long)pos[pi][0], (long long)pos[pi][1]);
            check_pair(y, xc, mag, n, 6, what);
            check_pad(y, B * T, (int64_t)h * dk, ld, what);
            DFREE(dx, dpos);
            free(x); free(xc); free(y); free(mag);
        }
}

/* =========================================================================== activations */

static void test_activations(void) {
    uint64_t s = next_seed();
    const int64_t n = 100003;
    float *x = frand(n, &s, 8), *h2 = frand(n, &s, 2), *dy = frand(n, &s, 1), *p1 = frand(n, &s, 1),
          *p2 = frand(n, &s, 1);
    void *dx = dputf(x, n), *dh2 = dputf(h2, n), *ddy = dputf(dy, n), *dout = dputf(NULL, n);
    void *dg1 = dputf(p1, n), *dg2 = dputf(p2, n);
    double *mag = dnew(n), *mag2 = dnew(n);
    for (int act = 0; act < 2; act++) {
        const char *name = act ? "swish" : "gelu";
        char what[64];
        float *yc = fnew(n), *t = fnew(n);
        /* forward: K 4; mag |x| (0.5 (1 + |erf|) for gelu, |sigmoid| for swish) <= |x| */
        for (int64_t i = 0; i < n; i++) mag[i] = fabs(x[i]);
        if (act) {
            OK(cuda_op_swish(dout, dx, n, NULL));
            op_swish(yc, x, n);
        } else {
            OK(cuda_op_gelu(dout, dx, n, NULL));
            op_gelu(yc, x, n);
        }
        float *y = dgetf(dout, n);
        snprintf(what, sizeof what, "%s", name);
        check_pair(y, yc, mag, n, 4, what);
        free(y);
        /* backward (+= into p1): K 8 (+1 the prefill) */
        for (int64_t i = 0; i < n; i++) {
            double xi = x[i], sg = sigm(xi);
            double d = act ? sg * (1 + fabs(xi))
                           : 0.5 * (1 + fabs(erf(xi / sqrt(2)))) + fabs(xi) * exp(-xi * xi / 2) / sqrt(2 * M_PI) * (1 + xi * xi);
            mag[i] = fabs(dy[i]) * d + fabs(p1[i]);
        }
        OK(retnet_cuda_upload(dg1, p1, sizeof(float) * n));
        if (act) OK(cuda_op_swish_backward(dg1, ddy, dx, n, NULL));
        else OK(cuda_op_gelu_backward(dg1, ddy, dx, n, NULL));
        float *g = dgetf(dg1, n), *gc = fcopy(p1, n);
        if (act) op_swish_backward(gc, dy, x, n);
        else op_gelu_backward(gc, dy, x, n);
        snprintf(what, sizeof what, "%s_backward", name);
        check_pair(g, gc, mag, n, 9, what);
        free(g); free(gc);
        /* glu: a = act(h1) h2 (K 5), as model.c composes it */
        if (act) op_swish(t, x, n);
        else op_gelu(t, x, n);
        op_mul(yc, t, h2, n);
        for (int64_t i = 0; i < n; i++) mag[i] = fabs(x[i]) * fabs(h2[i]);
        OK(cuda_op_glu(dout, dx, dh2, n, act ? CUDA_ACT_SWISH : CUDA_ACT_GELU, NULL));
        y = dgetf(dout, n);
        snprintf(what, sizeof what, "glu %s", name);
        check_pair(y, yc, mag, n, 5, what);
        free(y);
        /* glu backward: dh2 += da act(h1) (K 6), dh1 += act'(h1) (da h2) (K 10) */
        float *c1 = fcopy(p1, n), *c2 = fcopy(p2, n), *dah = fnew(n);
        for (int64_t i = 0; i < n; i++) c2[i] += dy[i] * t[i];
        op_mul(dah, dy, h2, n);
        if (act) op_swish_backward(c1, dah, x, n);
        else op_gelu_backward(c1, dah, x, n);
        for (int64_t i = 0; i < n; i++) {
            double xi = x[i], sg = sigm(xi);
            double d = act ? sg * (1 + fabs(xi))
                           : 0.5 * (1 + fabs(erf(xi / sqrt(2)))) + fabs(xi) * exp(-xi * xi / 2) / sqrt(2 * M_PI) * (1 + xi * xi);
            mag[i] = fabs(dy[i] * h2[i]) * d + fabs(p1[i]);
            mag2[i] = fabs(dy[i]) * fabs(x[i]) + fabs(p2[i]);
        }
        OK(retnet_cuda_upload(dg1, p1, sizeof(float) * n));
        OK(retnet_cuda_upload(dg2, p2, sizeof(float) * n));
        OK(cuda_op_glu_backward(dg1, dg2, ddy, dx, dh2, n, act ? CUDA_ACT_SWISH : CUDA_ACT_GELU, NULL));
        float *g1 = dgetf(dg1, n), *g2 = dgetf(dg2, n);
        snprintf(what, sizeof what, "glu_backward %s dh1", name);
        check_pair(g1, c1, mag, n, 10, what);
        snprintf(what, sizeof what, "glu_backward %s dh2", name);
        check_pair(g2, c2, mag2, n, 6, what);
        free(g1); free(g2); free(c1); free(c2); free(dah); free(yc); free(t);
    }
    /* add: one rounding, the same on both */
    OK(cuda_op_add(dout, dx, dh2, n, NULL));
    float *y = dgetf(dout, n), *yc = fnew(n);
    op_add(yc, x, h2, n);
    check_same(y, yc, sizeof(float) * n, "add");
    DFREE(dx, dh2, ddy, dout, dg1, dg2);
    free(x); free(h2); free(dy); free(p1); free(p2); free(mag); free(mag2); free(y); free(yc);
}

/* ========================================================================= cross-entropy */

static void test_cross_entropy(void) {
    static const int64_t Vs[] = {1, 2, 513, 4096, 50257};
    uint64_t s = next_seed();
    for (size_t vi = 0; vi < sizeof Vs / sizeof Vs[0]; vi++)
        for (int v = 0; v < 3; v++) { /* 0: gradient, 1: in place, 2: loss only */
            const int64_t n = 37, V = Vs[vi];
            const float gs = 1.0f / 29;
            float *x = frand(n * V, &s, 8);
            int32_t *t = malloc(sizeof(int32_t) * n);
            for (int64_t i = 0; i < n; i++) t[i] = (int32_t)((test_rand(&s) + 1) * 0.5 * V);
            t[2] = -1, t[5] = -7, t[11] = (int32_t)V, t[12] = (int32_t)V + 100;
            /* the CPU, row by row for each row's loss */
            float *dc = fnew(n * V);
            double *lc = dnew(n);
            for (int64_t i = 0; i < n; i++)
                lc[i] = op_cross_entropy(dc + i * V, x + i * V, &t[i], 1, V, gs, NULL);
            void *dx = dputf(x, n * V), *dt = dput(t, sizeof(int32_t) * n), *dl = dputf(NULL, n);
            void *dd = v == 0 ? dputf(NULL, n * V) : NULL;
            if (v == 0) { /* poisoned: every element must be written */
                float *nanb = fnan(n * V);
                OK(retnet_cuda_upload(dd, nanb, sizeof(float) * n * V));
                free(nanb);
            }
            OK(cuda_op_cross_entropy(v == 0 ? dd : v == 1 ? dx : NULL, dl, dx, dt, n, V, gs, NULL));
            float *lg = dgetf(dl, n);
            double *lm = dnew(n), *dm = dnew(n * V);
            for (int64_t i = 0; i < n; i++) {
                const float *xi = x + i * V;
                float m = xi[0];
                for (int64_t j = 1; j < V; j++) m = xi[j] > m ? xi[j] : m;
                double sum = 0, spx = 0;
                for (int64_t j = 0; j < V; j++) sum += exp((double)xi[j] - m);
                for (int64_t j = 0; j < V; j++) spx += exp((double)xi[j] - m) / sum * fabs(xi[j] - m);
                lm[i] = 1 + spx;
                for (int64_t j = 0; j < V; j++) {
                    double p = exp((double)xi[j] - m) / sum;
                    dm[i * V + j] = fabs(gs) * (p * (1 + fabs(xi[j] - m) + spx) + (j == t[i]));
                }
            }
            const double K = (double)(V / 512) + 16;
            char what[96];
            snprintf(what, sizeof what, "cross_entropy V=%lld %s", (long long)V,
                     v == 0 ? "dlogits" : v == 1 ? "in place" : "loss only");
            /* the loss: the GPU's float against the CPU's double (rounded: + u |loss|) */
            int64_t bad = -1;
            for (int64_t i = 0; i < n && bad < 0; i++) {
                if (t[i] < 0) { if (lg[i] != 0.0f) bad = i; continue; }
                if (t[i] >= V) { if (!isnan(lg[i])) bad = i; continue; }
                if (!(fabs(lg[i] - lc[i]) <= PAIR * K * U * lm[i] + U * fabs(lc[i]))) bad = i;
            }
            CHECK(bad < 0, "%s: row %lld (target %d) loss %.9g want %.9g (tol %.3g; ignored rows 0, "
                  "out-of-range targets NaN)", what, (long long)bad, bad >= 0 ? t[bad] : 0,
                  bad >= 0 ? lg[bad] : 0, bad >= 0 ? lc[bad] : 0,
                  bad >= 0 ? PAIR * K * U * lm[bad] + U * fabs(lc[bad]) : 0);
            if (v < 2) {
                float *d = dgetf(v == 0 ? dd : dx, n * V);
                check_pair(d, dc, dm, n * V, K, what);
                if (v == 0) { /* the bf16 gradient: this fp32 one rounded, bit for bit (and the
                                 same losses); poisoned with NaN first */
                    uint16_t *hb = malloc(sizeof(uint16_t) * n * V);
                    memset(hb, 0xff, sizeof(uint16_t) * n * V);
                    void *db = dput(hb, sizeof(uint16_t) * n * V), *dl2 = dputf(NULL, n);
                    OK(cuda_op_cross_entropy_bf16(db, dl2, dx, dt, n, V, V, gs, NULL));
                    dget(hb, db, sizeof(uint16_t) * n * V);
                    float *lg2 = dgetf(dl2, n);
                    int64_t badj = -1;
                    for (int64_t j = 0; j < n * V && badj < 0; j++)
                        if (hb[j] != op_f32_to_bf16(d[j])) badj = j;
                    CHECK(badj < 0, "%s: bf16 gradient element %lld is 0x%04x, the fp32 one "
                          "rounded 0x%04x", what, (long long)badj, badj >= 0 ? hb[badj] : 0,
                          badj >= 0 ? op_f32_to_bf16(d[badj]) : 0);
                    CHECK(memcmp(lg2, lg, sizeof(float) * n) == 0, "%s: bf16 variant's losses differ",
                          what);
                    /* rows ld = V + 5 apart (the model pads them to 16 bytes): the same
                     * gradient and losses, the padding neither read (NaN there) nor written */
                    const int64_t ld = V + 5;
                    float *xp = fnan(n * ld);
                    for (int64_t i = 0; i < n; i++) memcpy(xp + i * ld, x + i * V, sizeof(float) * V);
                    uint16_t *hp = malloc(sizeof(uint16_t) * n * ld);
                    memset(hp, 0xff, sizeof(uint16_t) * n * ld);
                    void *dxp = dputf(xp, n * ld), *dbp = dput(hp, sizeof(uint16_t) * n * ld);
                    void *dl3 = dputf(NULL, n);
                    OK(cuda_op_cross_entropy_bf16(dbp, dl3, dxp, dt, n, V, ld, gs, NULL));
                    dget(hp, dbp, sizeof(uint16_t) * n * ld);
                    float *lg3 = dgetf(dl3, n);
                    int64_t badp = -1;
                    for (int64_t i = 0; i < n && badp < 0; i++)
                        for (int64_t j = 0; j < ld && badp < 0; j++)
                            if (hp[i * ld + j] != (j < V ? hb[i * V + j] : 0xffff)) badp = i * ld + j;
                    CHECK(badp < 0, "%s: with rows %lld apart, element %lld of the bf16 gradient "
                          "differs (or padding written)", what, (long long)ld, (long long)badp);
                    CHECK(memcmp(lg3, lg, sizeof(float) * n) == 0, "%s: with rows %lld apart, "
                          "the losses differ", what, (long long)ld);
                    DFREE(db, dl2);
                    DFREE(dxp, dbp, dl3);
                    free(hb); free(lg2); free(xp); free(hp); free(lg3);
                }
                free(d);
            }
            /* the total, as op_cross_entropy adds it: valid rows only */
            double *dsum = dput(NULL, sizeof(double)), got;
            float *lv = fnew(n);
            int64_t nv = 0;
            double want = 0, wabs = 0;
            for (int64_t i = 0; i < n; i++)
                if (t[i] >= 0 && t[i] < V) lv[nv++] = lg[i], want += lg[i], wabs += fabs(lg[i]);
            void *dlv = dputf(lv, nv);
            OK(cuda_op_sum(dsum, dlv, nv, NULL));
            dget(&got, dsum, sizeof got);
            CHECK(fabs(got - want) <= 2 * nv * 0x1p-53 * wabs, "%s: sum of losses %.17g want %.17g",
                  what, got, want);
            DFREE(dx, dt, dl, dd, dsum, dlv);
            free(x); free(t); free(dc); free(lc); free(lg); free(lm); free(dm); free(lv);
        }
}

/* Deterministic sums against double sums on the host and retnet_grad_norm. */
static void test_sums(void) {
    static const int64_t ns[] = {0, 1, 1000, 1 << 20, 10000019};
    uint64_t s = next_seed();
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        const int64_t n = ns[k];
        float *x = frand(n, &s, 3);
        double want = 0, wabs = 0, want2 = 0;
        for (int64_t i = 0; i < n; i++) want += x[i], wabs += fabs(x[i]), want2 += (double)x[i] * x[i];
        double gn = retnet_grad_norm(x, n);
        void *dx = dputf(x, n ? n : 1);
        double *dout = dput(NULL, 2 * sizeof(double)), got[2], again[2];
        OK(cuda_op_sum(dout, dx, n, NULL));
        OK(cuda_op_sumsq(dout + 1, dx, n, NULL));
        dget(got, dout, sizeof got);
        OK(cuda_op_sum(dout, dx, n, NULL));
        OK(cuda_op_sumsq(dout + 1, dx, n, NULL));
        dget(again, dout, sizeof again);
        /* double sums of n terms: |err| <= n 2^-53 sum |terms|, for each of the two sums */
        CHECK(fabs(got[0] - want) <= 2 * (n + 1) * 0x1p-53 * wabs, "sum n=%lld: %.17g want %.17g",
              (long long)n, got[0], want);
        CHECK(fabs(got[1] - want2) <= 2 * (n + 1) * 0x1p-53 * want2, "sumsq n=%lld: %.17g want %.17g",
              (long long)n, got[1], want2);
        CHECK(fabs(sqrt(got[1]) - gn) <= 2 * (n + 2) * 0x1p-53 * gn,
              "sumsq n=%lld: sqrt %.17g, retnet_grad_norm %.17g", (long long)n, sqrt(got[1]), gn);
        check_same(again, got, sizeof got, "sum, sumsq run twice");
        DFREE(dx, dout);
        free(x);
    }
}

/* ================================================================================ AdamW */

/* S steps of cuda_op_adamw on every tensor of a tiny model against retnet_adamw_step. */
static void test_adamw(void) {
    uint64_t s = next_seed();
    retnet_config c;
    retnet_model *m = NULL;
    OK(retnet_config_preset("tiny", &c));
    OK(retnet_model_create(&c, &m));
    if (!m) return;
    OK(retnet_model_init(m, s));
    const int64_t np = m->n_params;
    const int S = 5;
    retnet_adamw hp = {3e-3f, 0.9f, 0.98f, 1e-8f, 0.05f};
    const float clip = 0.5f; /* the GPU scales the gradients; the CPU gets them scaled */
    float *p0 = fcopy(m->params, np), *m1 = calloc(np, 4), *m2 = calloc(np, 4);
    float *gsum = calloc(np, 4), *mag_p = calloc(np, 4);
    void *dp = dputf(p0, np), *dm = dput(m1, 4 * np), *dv = dput(m2, 4 * np), *dg = dputf(NULL, np);
    void *db = dput(NULL, 2 * np);
    for (int step = 1; step <= S; step++) {
        float *g = frand(np, &s, step * 0.5), *gc = fcopy(g, np);
        for (int64_t i = 0; i < np; i++) gc[i] *= clip, gsum[i] = fmaxf(gsum[i], fabsf(gc[i]));
        float *before = fcopy(m->params, np);
        OK(retnet_adamw_step(m, gc, m1, m2, step, &hp));
        for (int64_t i = 0; i < np; i++) mag_p[i] += fabsf(m->params[i] - before[i]);
        OK(retnet_cuda_upload(dg, g, 4 * np));
        for (int32_t t = 0; t < m->n_tensors; t++) {
            const retnet_param_desc *d = &m->table[t];
            OK(cuda_op_adamw((float *)dp + d->offset, (uint16_t *)db + d->offset,
                             (float *)dg + d->offset, (float *)dm + d->offset,
                             (float *)dv + d->offset, d->numel, step, &hp,
                             retnet_tensor_decayed(m, t), clip, NULL));
        }
        free(g); free(gc); free(before);
    }
    float *p = dgetf(dp, np), *mo = dgetf(dm, np), *ve = dgetf(dv, np);
    uint16_t *pb = malloc(2 * np), *pbw = malloc(2 * np);
    dget(pb, db, 2 * np);
    double *mp = dnew(np), *mm = dnew(np), *mv = dnew(np);
    for (int64_t i = 0; i < np; i++) {
        mp[i] = fabs(m->params[i]) + 2 * mag_p[i];
        mm[i] = fabs(m1[i]) + gsum[i];
        mv[i] = fabs(m2[i]) + (double)gsum[i] * gsum[i];
        pbw[i] = op_f32_to_bf16(p[i]);
    }
    check_pair(p, m->params, mp, np, 8 * S, "adamw weights");
    check_pair(mo, m1, mm, np, 3 * S, "adamw first moment");
    check_pair(ve, m2, mv, np, 4 * S, "adamw second moment");
    check_same(pb, pbw, 2 * np, "adamw bf16 copy = bf16(weights)");
    DFREE(dp, dm, dv, dg, db);
    free(p0); free(m1); free(m2); free(gsum); free(mag_p); free(p); free(mo); free(ve); free(pb);
    free(pbw); free(mp); free(mm); free(mv);
    retnet_model_free(m);
}

/* ==================================================================================== */

/*
 * The bf16-output variants (cuda.h's _bf16 ops, the model's operands of products) compute
 * the fp32 op's value and round it once: bit for bit the fp32 op's output passed through
 * cuda_op_f32_to_bf16 (the backward variants overwrite, so against the fp32 op accumulating
 * into zeros, where 0 + v = v exactly). And y = res + x W^T (cuda_op_matmul_residual) equals
 * res copied and then x W^T accumulated, within the product's bound (two cuBLASLt plans).
 */
static uint16_t *dgetb(const void *d, int64_t n) {
    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)(n > 0 ? n : 1));
    dget(h, d, sizeof(uint16_t) * (size_t)n);
    return h;
}
/* fp32 device result -> bf16 on the device, downloaded */
static uint16_t *round_dev(const float *y, int64_t n) {
    cuda_bf16 *b = dput(NULL, 2 * (size_t)n);
    OK(cuda_op_f32_to_bf16(b, y, n, NULL));
    uint16_t *h = dgetb(b, n);
    retnet_cuda_free(b);
    return h;
}

static void test_bf16_outputs(void) {
    uint64_t s = next_seed();
    const int64_t M = 37, h = 3, dv = 40, d = h * dv, n = M * d;
    float *x = frand(n, &s, 2.0), *g = frand(n, &s, 3.0), *w = frand(d, &s, 1.0);
    float *b = frand(d, &s, 0.5), *dy = frand(n, &s, 1.0), *h2 = frand(n, &s, 1.5);
    float *dx_ = dputf(x, n), *dg_ = dputf(g, n), *dw_ = dputf(w, d), *db_ = dputf(b, d);
    float *ddy = dputf(dy, n), *dh2 = dputf(h2, n), *y32 = dput(NULL, 4 * (size_t)n);
    float *z1 = dput(NULL, 4 * (size_t)n), *z2 = dput(NULL, 4 * (size_t)n);
    /* the norms' backward adds its weight gradients into pw, pb: zeros, though only dx is
     * compared (an unset accumulator is a read of memory never written: initcheck) */
    float *pw = dput(NULL, 4 * (size_t)d), *pb = dput(NULL, 4 * (size_t)d);
    OK(retnet_cuda_memset0(pw, 4 * (size_t)d, NULL));
    OK(retnet_cuda_memset0(pb, 4 * (size_t)d, NULL));
    cuda_bf16 *y16 = dput(NULL, 2 * (size_t)n), *y16b = dput(NULL, 2 * (size_t)n);
    uint16_t *got, *want;
    char what[96];
#define SAME16(a, b_, what_) do { got = dgetb(a, n); want = round_dev(b_, n); \
        check_same(got, want, 2 * (size_t)n, what_); free(got); free(want); } while (0)

    OK(cuda_op_layernorm(y32, dx_, dw_, db_, M, d, 1e-5f, NULL));
    OK(cuda_op_layernorm_bf16(y16, dx_, dw_, db_, M, d, 1e-5f, NULL));
    SAME16(y16, y32, "layernorm_bf16");
    OK(cuda_op_rmsnorm(y32, dx_, dw_, M, d, 1e-6f, NULL));
    OK(cuda_op_rmsnorm_bf16(y16, dx_, dw_, M, d, 1e-6f, NULL));
    SAME16(y16, y32, "rmsnorm_bf16");
    for (int mode = 0; mode < 3; mode++) {
        const float *wm = mode == 1 ? dw_ : dw_; /* group: width h dv; rms: dv (a prefix) */
        OK(cuda_op_head_norm_gate(y32, dx_, dg_, wm, db_, M, (int)h, (int)dv, 1e-5f, mode, NULL));
        OK(cuda_op_head_norm_gate_bf16(y16, dx_, dg_, wm, db_, M, (int)h, (int)dv, 1e-5f, mode, NULL));
        snprintf(what, sizeof what, "head_norm_gate_bf16 mode %d", mode);
        SAME16(y16, y32, what);
        /* backward: fp32 into zeros vs bf16 overwrite; dw, db both accumulate the same */
        OK(retnet_cuda_memset0(z1, 4 * (size_t)n, NULL));
        OK(retnet_cuda_memset0(z2, 4 * (size_t)n, NULL));
        OK(cuda_op_head_norm_gate_backward(z1, z2, NULL, NULL, ddy, dx_, dg_, wm, db_, M, (int)h,
                                           (int)dv, 1e-5f, mode, NULL));
        OK(cuda_op_head_norm_gate_backward_bf16(y16, y16b, NULL, NULL, ddy, dx_, dg_, wm, db_, M,
                                                (int)h, (int)dv, 1e-5f, mode, NULL, NULL));
        snprintf(what, sizeof what, "head_norm_gate_backward_bf16 mode %d: d o", mode);
        SAME16(y16, z1, what);
        snprintf(what, sizeof what, "head_norm_gate_backward_bf16 mode %d: d g", mode);
        SAME16(y16b, z2, what);
    }
    /* the norms' backward with the rounded copy: the same fp32 dx, and its bf16 */
    for (int ln = 0; ln < 2; ln++) {
        OK(retnet_cuda_upload(z1, dy, 4 * (size_t)n));
        OK(retnet_cuda_upload(z2, dy, 4 * (size_t)n));
        if (ln) {
            OK(cuda_op_layernorm_backward(z1, pw, pb, ddy, dx_, dw_, M, d, 1e-5f, NULL));
            OK(cuda_op_layernorm_backward_round(z2, y16, pw, pb, ddy, dx_, dw_, M, d, 1e-5f, NULL));
        } else {
            OK(cuda_op_rmsnorm_backward(z1, pw, ddy, dx_, dw_, M, d, 1e-5f, NULL));
            OK(cuda_op_rmsnorm_backward_round(z2, y16, pw, ddy, dx_, dw_, M, d, 1e-5f, NULL));
        }
        float *a1 = dgetf(z1, n), *a2 = dgetf(z2, n);
        check_same(a1, a2, 4 * (size_t)n, ln ? "layernorm_backward_round: dx" : "rmsnorm_backward_round: dx");
        free(a1), free(a2);
        SAME16(y16, z2, ln ? "layernorm_backward_round: bf16 copy" : "rmsnorm_backward_round: bf16 copy");
    }
    for (int half = 0; half < 2; half++) {
        int64_t pos[2] = {5, 1000};
        int64_t *dpos = dput(pos, sizeof pos);
        OK(retnet_cuda_upload(y32, x, 4 * (size_t)n));
        OK(cuda_op_rope_bf16(y16, y32, d, 2, 18, (int)h, (int)dv, dpos, half, 10000.0, 0.5f, NULL));
        OK(cuda_op_rope(y32, d, 2, 18, (int)h, (int)dv, dpos, half, 10000.0, 0.5f, NULL));
        got = dgetb(y16, 36 * d), want = round_dev(y32, 36 * d);
        check_same(got, want, 2 * (size_t)(36 * d), half ? "rope_bf16 half" : "rope_bf16 paper");
        free(got), free(want);
        OK(retnet_cuda_upload(y32, x, 4 * (size_t)n));
        OK(cuda_op_rope_backward_bf16(y16, y32, d, 2, 18, (int)h, (int)dv, dpos, half, 10000.0, 0.5f, NULL));
        OK(cuda_op_rope_backward(y32, d, 2, 18, (int)h, (int)dv, dpos, half, 10000.0, 0.5f, NULL));
        got = dgetb(y16, 36 * d), want = round_dev(y32, 36 * d);
        check_same(got, want, 2 * (size_t)(36 * d), "rope_backward_bf16");
        free(got), free(want);
        retnet_cuda_free(dpos);
    }
    for (int a = 0; a < 2; a++) {
        cuda_act act = a ? CUDA_ACT_SWISH : CUDA_ACT_GELU;
        OK(a ? cuda_op_swish(y32, dx_, n, NULL) : cuda_op_gelu(y32, dx_, n, NULL));
        OK(cuda_op_act_bf16(y16, dx_, n, act, NULL));
        SAME16(y16, y32, "act_bf16");
        OK(retnet_cuda_memset0(z1, 4 * (size_t)n, NULL));
        OK(a ? cuda_op_swish_backward(z1, ddy, dx_, n, NULL) : cuda_op_gelu_backward(z1, ddy, dx_, n, NULL));
        OK(cuda_op_act_backward_bf16(y16, ddy, dx_, n, act, NULL));
        SAME16(y16, z1, "act_backward_bf16");
        OK(cuda_op_glu(y32, dx_, dh2, n, act, NULL));
        OK(cuda_op_glu_bf16(y16, dx_, dh2, n, act, NULL));
        SAME16(y16, y32, "glu_bf16");
        OK(retnet_cuda_memset0(z1, 4 * (size_t)n, NULL));
        OK(retnet_cuda_memset0(z2, 4 * (size_t)n, NULL));
        OK(cuda_op_glu_backward(z1, z2, ddy, dx_, dh2, n, act, NULL));
        OK(cuda_op_glu_backward_bf16(y16, y16b, ddy, dx_, dh2, n, act, NULL));
        SAME16(y16, z1, "glu_backward_bf16 dh1");
        SAME16(y16b, z2, "glu_backward_bf16 dh2");
    }
    /* y = res + x W^T: x (M, K) bf16, W (N, K) bf16 with N = d, K = 64 */
    {
        const int64_t K = 64, N = d;
        float *xa = frand(M * K, &s, 1.0), *wa = frand(N * K, &s, 1.0), *res = frand(M * N, &s, 4.0);
        uint16_t *xb = to_bf16(xa, M * K), *wb = to_bf16(wa, N * K);
        void *dxb = dput(xb, 2 * (size_t)(M * K)), *dwb = dput(wb, 2 * (size_t)(N * K));
        float *dres = dputf(res, M * N), *out = dput(NULL, 4 * (size_t)(M * N));
        OK(cuda_op_matmul_residual(out, dres, dxb, dwb, CUDA_BF16, M, N, K, NULL));
        OK(cuda_op_matmul(dres, CUDA_F32, dxb, dwb, CUDA_BF16, M, N, K, 1, NULL));
        float *o1 = dgetf(out, M * N), *o2 = dgetf(dres, M * N);
        double *mag = dnew(M * N);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double m = fabs(res[i * N + j]);
                for (int64_t k = 0; k < K; k++)
                    m += fabs((double)bf16_to_f32(xb[i * K + k]) * bf16_to_f32(wb[j * K + k]));
                mag[i * N + j] = m;
            }
        check_pair(o1, o2, mag, M * N, (double)K + 2, "matmul_residual vs copy + accumulate");
        /* res may be y */
        OK(retnet_cuda_upload(dres, res, 4 * (size_t)(M * N)));
        OK(cuda_op_matmul_residual(dres, dres, dxb, dwb, CUDA_BF16, M, N, K, NULL));
        float *o3 = dgetf(dres, M * N);
        check_same(o3, o1, 4 * (size_t)(M * N), "matmul_residual in place");
        free(xa), free(wa), free(res), free(xb), free(wb), free(o1), free(o2), free(o3), free(mag);
        DFREE(dxb, dwb, dres, out);
    }
#undef SAME16
    free(x), free(g), free(w), free(b), free(dy), free(h2);
    DFREE(dx_, dg_, dw_, db_, ddy, dh2, y32, z1, z2, pw, pb, y16, y16b);
}

/* One product's rows split into the forward's operands (model_cuda.cu's joined products):
 * q k v g out of [q | k | v | g] must be bit for bit cuda_op_rope_bf16 of q and of k (times
 * kscale), bf16(v) and g; act(h1) h2 out of [h1 | h2] bit for bit cuda_op_glu_bf16. Shapes
 * with and without the 4-wide accesses (head widths 16 / 6, value widths 24 / 15, F 40 / 7),
 * rows padded and not, without g; the 1.3B heads (8 x 256 / 512: rope.cu's block a row), 1024
 * pair groups a tensor (the row kernel's loop over them) and dk / 2 = 520 (past its angle
 * table: the grid-stride kernel). */
static void test_joined_products(void) {
    uint64_t s = next_seed();
    const struct { int h, dk, dv, gate, pad; } cs[] = {
        {2, 16, 12, 1, 0}, {3, 6, 5, 0, 3}, {4, 8, 8, 1, 4},
        {8, 256, 512, 1, 0}, {16, 512, 8, 0, 4}, {2, 1040, 8, 1, 0}};
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++)
        for (int half = 0; half < 2; half++) {
            const int h = cs[ci].h, dk = cs[ci].dk, dv = cs[ci].dv;
            const int64_t B = 3, T = 5, rows = B * T, dkey = (int64_t)h * dk,
                          dval = (int64_t)h * dv,
                          ldx = 2 * dkey + (cs[ci].gate ? 2 : 1) * dval + cs[ci].pad;
            const float kscale = 0.25f;
            int64_t pos[3] = {0, 17, 70000};
            char what[128];
            const int64_t wmax = dkey > dval ? dkey : dval;
            float *x = frand(rows * ldx, &s, 2.0), *part = fnew(rows * wmax);
            float *dx = dputf(x, rows * ldx), *dpart = dput(NULL, 4 * (size_t)(rows * wmax));
            int64_t *dpos = dput(pos, sizeof pos);
            cuda_bf16 *qb = dput(NULL, 2 * (size_t)(rows * dkey)),
                      *kb = dput(NULL, 2 * (size_t)(rows * dkey)),
                      *vb = dput(NULL, 2 * (size_t)(rows * dval)),
                      *ref = dput(NULL, 2 * (size_t)(rows * wmax));
            float *g = cs[ci].gate ? dput(NULL, 4 * (size_t)(rows * dval)) : NULL;
            { /* every output poisoned with NaN (all bits set: NaN in bf16 and in fp32) */
                const size_t most = 4 * (size_t)(rows * wmax);
                unsigned char *ff = malloc(most);
                memset(ff, 0xff, most);
                OK(retnet_cuda_upload(qb, ff, 2 * (size_t)(rows * dkey)));
                OK(retnet_cuda_upload(kb, ff, 2 * (size_t)(rows * dkey)));
                OK(retnet_cuda_upload(vb, ff, 2 * (size_t)(rows * dval)));
                if (g) OK(retnet_cuda_upload(g, ff, 4 * (size_t)(rows * dval)));
                free(ff);
            }
            OK(cuda_op_qkvg_split(qb, kb, vb, g, dx, ldx, B, T, h, dk, dv, dpos, half, 10000.0,
                                  kscale, NULL));
            for (int which = 0; which < 4; which++) { /* q, k, v, g */
                const int64_t w = which < 2 ? dkey : dval, off = which < 2 ? which * dkey
                                                                           : 2 * dkey + (which - 2) * dval;
                if (which == 3 && !g) break;
                for (int64_t r = 0; r < rows; r++)
                    memcpy(part + r * w, x + r * ldx + off, sizeof(float) * (size_t)w);
                OK(retnet_cuda_upload(dpart, part, sizeof(float) * (size_t)(rows * w)));
                snprintf(what, sizeof what, "qkvg_split h %d dk %d dv %d %s: %c", h, dk, dv,
                         half ? "half" : "paper", "qkvg"[which]);
                if (which == 3) {
                    float *got = dgetf(g, rows * w);
                    check_same(got, part, sizeof(float) * (size_t)(rows * w), what);
                    free(got);
                    continue;
                }
                if (which < 2)
                    OK(cuda_op_rope_bf16(ref, dpart, w, B, T, h, dk, dpos, half, 10000.0,
                                         which ? kscale : 1.0f, NULL));
                else
                    OK(cuda_op_f32_to_bf16(ref, dpart, rows * w, NULL));
                uint16_t *got = dgetb(which == 0 ? qb : which == 1 ? kb : vb, rows * w),
                         *want = dgetb(ref, rows * w);
                check_same(got, want, 2 * (size_t)(rows * w), what);
                free(got), free(want);
            }
            /* a row stride too short for the columns is refused */
            CHECK(cuda_op_qkvg_split(qb, kb, vb, g, dx, 2 * dkey, B, T, h, dk, dv, dpos, half,
                                     10000.0, kscale, NULL) == RETNET_EINVAL,
                  "qkvg_split: short ldx accepted");
            free(x), free(part);
            DFREE(dx, dpart, dpos, qb, kb, vb, ref, g);
        }
    const int64_t Fs[] = {40, 7};
    for (int fi = 0; fi < 2; fi++)
        for (int a = 0; a < 2; a++) {
            const int64_t rows = 37, F = Fs[fi];
            const cuda_act act = a ? CUDA_ACT_SWISH : CUDA_ACT_GELU;
            float *hx = frand(rows * 2 * F, &s, 3.0), *h1 = fnew(rows * F), *h2 = fnew(rows * F);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = 0; j < F; j++)
                    h1[r * F + j] = hx[r * 2 * F + j], h2[r * F + j] = hx[r * 2 * F + F + j];
            float *dh = dputf(hx, rows * 2 * F), *d1 = dputf(h1, rows * F), *d2 = dputf(h2, rows * F);
            cuda_bf16 *y = dput(NULL, 2 * (size_t)(rows * F)), *yr = dput(NULL, 2 * (size_t)(rows * F));
            OK(cuda_op_glu_rows_bf16(y, dh, rows, F, act, NULL));
            OK(cuda_op_glu_bf16(yr, d1, d2, rows * F, act, NULL));
            uint16_t *got = dgetb(y, rows * F), *want = dgetb(yr, rows * F);
            char what[64];
            snprintf(what, sizeof what, "glu_rows_bf16 F %lld %s", (long long)F, a ? "swish" : "gelu");
            check_same(got, want, 2 * (size_t)(rows * F), what);
            free(got), free(want), free(hx), free(h1), free(h2);
            DFREE(dh, d1, d2, y, yr);
        }
}

/* RETNET.md §3's rows in the head norm (cuda_op_head_norm_gate_scaled_bf16, cuda_rows_grad),
 * o unscaled, f o formed on the GPU: the forward must give the same bits as the plain head
 * norm of f o formed on the host (one float product each). The head norm's backward of f o
 * run alone gives d(f o) in bf16, u (what cuda_retention_normalize_backward reads); from it
 * the host forms, as src/model.c does, d o = bf16(f u) (one float product and one rounding:
 * the same bits required), d f = <u, f o> / f in double and d r = -d f sign(r) / r^2 where
 * |s r| > 1, else 0 (exactly 0 required). The GPU forms <dx, f o> from the segment's sums
 * with dx unrounded: the two differ by at most sum |dx - u| |f o| <= 2^-9 sum |u f o| (one
 * bf16 rounding each, 2^-9 relative), plus float roundings ~2^-22 of the same terms; the GPU's
 * d r is then rounded to bf16 (2^-9). So |gpu - host| <= 2^-8 (|host| + mag), mag = sum
 * |u f o| / |f| / r^2. With eps 1e-5 a norm makes <dx, f o> nearly 0 (its output does not
 * change with its input's scale) and the check bounds the GPU's d r by the host's noise; eps
 * 1 (var(f o) <= 1/3) gives d f a value the check resolves to a few %. The other seven columns
 * of dr8 must be +0, and d g, dw, db the same bits as without the rows. Shapes: the paper's
 * heads (T 64, 8 x 512, group), odd widths (scalar loads), each head norm mode. */
static void test_head_norm_rows(void) {
    static const int shapes[][4] = {{2, 64, 8, 512}, {3, 7, 3, 40}, {2, 5, 2, 6}, {1, 33, 4, 128}};
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int mode = 0; mode < 3; mode++)
            for (int v = 0; v < 4; v++) {
                const int gate = v & 1;
                const float eps = v & 2 ? 1.0f : 1e-5f;
                const int64_t B = shapes[si][0], T = shapes[si][1], M = B * T;
                const int h = shapes[si][2], dv = shapes[si][3];
                const int64_t N = M * h * dv, wn = mode == 1 ? (int64_t)h * dv : dv, R = M * h;
                float *o = frand(N, &s, 2), *g = frand(N, &s, 3), *w = frand(wn, &s, 1.5);
                float *b = frand(wn, &s, 0.5), *dy = frand(N, &s, 1), *r = frand(R, &s, 8);
                float *f = fnew(R), *rk = fnew(R); /* rk: r as the forward keeps it */
                double gam[8];
                for (int i = 0; i < h; i++) gam[i] = 1.0 - exp2(-5.0 - i);
                for (int64_t i = 0; i < R; i++) {
                    if (i % 7 == 3) r[i] = 0.25f; /* |s r| <= 1: d r = 0 */
                    const double sn = model_decay_row_scale(gam[i % h], (i / h) % T);
                    f[i] = model_row_factor_at(sn, r[i]);
                    rk[i] = fabs(sn * r[i]) > 1.0 ? r[i] : 0.0f;
                }
                float *fo = fnew(N);
                for (int64_t i = 0; i < N; i++) fo[i] = f[i / dv] * o[i];
                void *dfo = dputf(fo, N), *dO = dputf(o, N), *dg_ = dputf(g, N), *dw_ = dputf(w, wn);
                void *db_ = dputf(b, wn);
                void *ddy = dputf(dy, N), *df = dputf(f, R), *dr = dputf(rk, R);
                cuda_bf16 *o1 = dput(NULL, 2 * (size_t)N), *o2 = dput(NULL, 2 * (size_t)N);
                cuda_bf16 *g1 = dput(NULL, 2 * (size_t)N), *g2 = dput(NULL, 2 * (size_t)N);
                uint16_t *h8 = malloc(2 * (size_t)R * 8);
                for (int64_t i = 0; i < R * 8; i++) h8[i] = 0x7fc1; /* NaN: every column written */
                cuda_bf16 *dr8 = dput(h8, 2 * (size_t)R * 8);
                float *pw1 = dputf(NULL, wn), *pb1 = dputf(NULL, wn);
                float *pw2 = dputf(NULL, wn), *pb2 = dputf(NULL, wn);
                OK(retnet_cuda_memset0(pw1, 4 * (size_t)wn, NULL));
                OK(retnet_cuda_memset0(pb1, 4 * (size_t)wn, NULL));
                OK(retnet_cuda_memset0(pw2, 4 * (size_t)wn, NULL));
                OK(retnet_cuda_memset0(pb2, 4 * (size_t)wn, NULL));
                const cuda_rows_grad rows = {df, dr, dr8};
                /* the forward: scaled on the GPU against scaled on the host */
                OK(cuda_op_head_norm_gate_scaled_bf16(o1, dO, df, gate ? dg_ : NULL, dw_, db_, M, h,
                                                      dv, eps, mode, NULL));
                OK(cuda_op_head_norm_gate_bf16(o2, dfo, gate ? dg_ : NULL, dw_, db_, M, h, dv, eps,
                                               mode, NULL));
                {
                    uint16_t *y1 = dgetb(o1, N), *y2 = dgetb(o2, N);
                    char fw[128];
                    snprintf(fw, sizeof fw, "head_norm_gate_scaled_bf16 B=%lld T=%lld h=%d dv=%d "
                             "mode %d gate %d eps %g", (long long)B, (long long)T, h, dv, mode,
                             gate, eps);
                    check_same(y1, y2, 2 * (size_t)N, fw);
                    free(y1); free(y2);
                }
                OK(cuda_op_head_norm_gate_backward_bf16(o1, gate ? g1 : NULL, pw1, pb1, ddy, dfo,
                                                        gate ? dg_ : NULL, dw_, db_, M, h, dv,
                                                        eps, mode, NULL, NULL));
                OK(cuda_op_head_norm_gate_backward_bf16(o2, gate ? g2 : NULL, pw2, pb2, ddy, dO,
                                                        gate ? dg_ : NULL, dw_, db_, M, h, dv,
                                                        eps, mode, &rows, NULL));
                uint16_t *a1 = dgetb(o1, N), *a2 = dgetb(o2, N), *r8 = dgetb(dr8, R * 8);
                uint16_t *want = malloc(2 * (size_t)N);
                char what[128];
                snprintf(what, sizeof what, "head norm rows B=%lld T=%lld h=%d dv=%d mode %d gate %d eps %g",
                         (long long)B, (long long)T, h, dv, mode, gate, eps);
                int64_t bad = -1, badz = -1;
                double bad_want = 0;
                for (int64_t i = 0; i < R; i++) {
                    double dfv = 0, mag = 0;
                    for (int j = 0; j < dv; j++) {
                        const float u = bf16_to_f32(a1[i * dv + j]);
                        dfv += (double)u * fo[i * dv + j];
                        mag += fabs((double)u * fo[i * dv + j]);
                        want[i * dv + j] = op_f32_to_bf16(f[i] * u);
                    }
                    const double sn = model_decay_row_scale(gam[i % h], (i / h) % T), rv = r[i];
                    const int live = fabs(sn * rv) > 1.0;
                    const double drv = live ? -(dfv / f[i]) * (rv > 0 ? 1 : -1) / (rv * rv) : 0.0;
                    mag = live ? mag / fabs(f[i]) / (rv * rv) : 0.0;
                    const double got = bf16_to_f32(r8[i * 8]);
                    const double err = live ? fabs(got - drv) / (0x1p-8 * (fabs(drv) + mag) + 1e-30)
                                            : (r8[i * 8] == 0 ? 0.0 : INFINITY);
                    if (!(err <= 1.0) && bad < 0) bad = i, bad_want = drv;
                    for (int c = 1; c < 8; c++)
                        if (r8[i * 8 + c] != 0 && badz < 0) badz = i * 8 + c;
                }
                CHECK(bad < 0, "%s: d r [%lld] gpu %.9g, host %.9g", what, (long long)bad,
                      bad >= 0 ? bf16_to_f32(r8[bad * 8]) : 0.0, bad_want);
                CHECK(badz < 0, "%s: dr8 [%lld] not +0", what, (long long)badz);
                check_same(a2, want, 2 * (size_t)N, what);
                if (gate) {
                    uint16_t *x1 = dgetb(g1, N), *x2 = dgetb(g2, N);
                    check_same(x2, x1, 2 * (size_t)N, what);
                    free(x1); free(x2);
                }
                float *w1 = dgetf(pw1, wn), *w2 = dgetf(pw2, wn), *b1 = dgetf(pb1, wn), *b2 = dgetf(pb2, wn);
                check_same(w2, w1, 4 * (size_t)wn, what);
                check_same(b2, b1, 4 * (size_t)wn, what);
                free(w1); free(w2); free(b1); free(b2);
                DFREE(dfo, dO, dg_, dw_, db_, ddy, df, dr, o1, o2, g1, g2, dr8, pw1, pb1, pw2, pb2);
                free(o); free(fo); free(g); free(w); free(b); free(dy); free(r); free(f); free(rk); free(h8);
                free(a1); free(a2); free(r8); free(want);
            }
}

/* With arguments, only the tests named (test.h's RUN_IF; e.g. under compute-sanitizer). */
int main(int argc, char **argv) {
    TEST_ONLY(argc, argv);
    if (!cuda_test_start("test_cuda_ops", &seed0)) return TEST_SUMMARY();
    RUN_IF(test_runtime);
    RUN_IF(test_convert);
    RUN_IF(test_gemm);
    RUN_IF(test_matmul);
    RUN_IF(test_embed);
    RUN_IF(test_norms);
    RUN_IF(test_head_norm_gate);
    RUN_IF(test_norm_backward);
    RUN_IF(test_head_norm_gate_backward);
    RUN_IF(test_rope);
    RUN_IF(test_activations);
    RUN_IF(test_cross_entropy);
    RUN_IF(test_sums);
    RUN_IF(test_adamw);
    RUN_IF(test_bf16_outputs);
    RUN_IF(test_head_norm_rows);
    RUN_IF(test_joined_products);
    retnet_cuda_shutdown();
    return TEST_SUMMARY();
}
