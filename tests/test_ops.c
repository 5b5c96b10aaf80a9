/*
 * test_ops.c: every CPU kernel of src/ops/ops.h against the float64 reference (tests/ref/),
 * on fresh random inputs. The seed is printed; RETNET_TEST_SEED=<n> replays a run.
 *
 * Tolerance rule (written before the kernels were run, not tuned to them)
 * ------------------------------------------------------------------------
 * float32 unit roundoff u = 2^-24 ≈ 6e-8. A float result r = sum of terms t_j, however the
 * sum is ordered, blocked or fused, has |fl(r) - r| <= K u sum_j |t_j| (+ O(u^2)), where K
 * is the longest chain of roundings that one term goes through (Higham, "Accuracy and
 * Stability of Numerical Algorithms", §3.1). So every element i is checked against
 *
 *     |got_i - want_i| <= C_TOL * K * u * mag_i          (C_TOL = 2)
 *
 * where mag_i = sum_j |t_j| is computed in float64 (for the linear ops: the same reference
 * function on the absolute values of the inputs) and K is stated per op below. The factor 2
 * covers the final rounding to float, float library functions (expf, erff: <= 2 ulp) and the
 * 1/(1 - K u) of the exact bound. This is a worst-case bound: a correct kernel cannot fail
 * it, and a real bug (wrong power, index, stride, sign) errs by O(mag), 1e3..1e7 times more.
 * Besides the element bound, outputs are checked for NaN/inf, and every float outside an
 * output's shape (row padding, strides) must be left untouched.
 *
 *   op                        K
 *   matmul / gemm             K_red + 2 (reduction length, + accumulate/beta)
 *   layernorm, rmsnorm        d + 4 (mean and variance sums of d terms, sqrt, divide,
 *                             scale); mag_i, the error of (x-mean)/std propagated to y_i:
 *                             layernorm |w_i|/std (mean|x| + |x_i - mean| (1 + 2 E[x^2]/(var+eps))) + |b_i|
 *                             (covers one- and two-pass variance), rmsnorm |x_i w_i| / rms
 *   head_norm_gate            dv + 4, mag = mag_norm |swish(g)| + |norm| |g|
 *   gelu, swish               4, mag = |x| (0.5|x|(1 + |erf|) for gelu)
 *   mul, add, embed           1, mag = |result terms|
 *   rope                      6 (cos, sin, two products, a sum, the scale)
 *   retention (all forms)     3 T + 2 dk + 8: a term goes through the q.k dot (dk), at most
 *                             T steps of the recurrence or chunk sums with three roundings
 *                             each (power of gamma, product, sum), and the q.S dot (dk)
 *
 * For the long-sequence check (T = 100000) the worst-case bound is loose (K u ~ 2e-2), so it
 * also uses the typical rule: rounding errors are independent, so the relative rms error
 * grows as sqrt(K_eff) u, K_eff = 3 min(T, 1/(1-gamma)) + 2 dk the roundings inside the
 * decay window; checked as sqrt(NMSE) <= C_TYP sqrt(K_eff) u, C_TYP = 4.
 */
#include <float.h>
#include <time.h>

#include "ops/ops.h"
#include "ref/ref64.h"
#include "test.h"

#define U 0x1p-24
#define C_TOL 2.0
#define C_TYP 4.0

static uint64_t seed0;
static int64_t n_checks;

/* A fresh seed for each test, derived from the run's seed. */
static uint64_t next_seed(void) {
    static uint64_t k;
    return (seed0 + 0x9E3779B97F4A7C15ull * ++k) | 1;
}

static float *fnew(int64_t n) { return malloc(sizeof(float) * (size_t)(n > 0 ? n : 1)); }
static double *dnew(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(double)); }
static float *frand(int64_t n, uint64_t *s, double scale) {
    float *x = fnew(n);
    test_fill(x, n, s, scale);
    return x;
}
static double *widen(const float *x, int64_t n) {
    double *d = dnew(n);
    for (int64_t i = 0; i < n; i++) d[i] = x ? x[i] : 0;
    return d;
}
static double *dabs(const double *x, int64_t n) {
    double *d = dnew(n);
    for (int64_t i = 0; i < n; i++) d[i] = fabs(x[i]);
    return d;
}
/* Contiguous (rows, cols) copies of a strided float matrix. */
static float *gatherf(const float *x, int64_t rows, int64_t cols, int64_t ld) {
    float *y = fnew(rows * cols);
    for (int64_t r = 0; r < rows; r++) memcpy(y + r * cols, x + r * ld, sizeof(float) * cols);
    return y;
}
static double *gatherd(const float *x, int64_t rows, int64_t cols, int64_t ld) {
    double *y = dnew(rows * cols);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) y[r * cols + c] = x[r * ld + c];
    return y;
}

/*
 * The rule: |a_i - r_i| <= C_TOL K u mag_i (+ K * 2^-149 for subnormal results). Prints the
 * worst element (largest error / allowed error), the rule, and max_abs, max_rel, NMSE.
 */
static void check_bound(const float *a, const double *r, const double *mag, int64_t n, double K,
                        const char *what) {
    n_checks++;
    test_err e = test_compare(a, r, n, 1e-30);
    double worst = 0;
    int64_t wi = -1;
    for (int64_t i = 0; i < n; i++) {
        double err = fabs((double)a[i] - r[i]);
        double tol = C_TOL * K * U * mag[i] + K * 0x1p-149;
        double ratio = err / tol;
        if (!(ratio <= worst)) { /* also NaN */
            worst = isnan(ratio) ? INFINITY : ratio;
            wi = i;
        }
    }
    CHECK(worst <= 1.0,
          "%s: |err| > %g*K*u*mag (K=%g): worst [%lld] got %.9g want %.9g mag %.3g "
          "(err/tol %.3g); max_abs %.3g max_rel %.3g nmse %.3g",
          what, C_TOL, K, (long long)wi, wi >= 0 ? a[wi] : 0.0, wi >= 0 ? r[wi] : 0.0,
          wi >= 0 ? mag[wi] : 0.0, worst, e.max_abs, e.max_rel, e.nmse);
}

/* Every float of buf[i], i in [0, n), with (i % ld) >= cols must still equal `sentinel`. */
static void check_pad(const float *buf, int64_t rows, int64_t cols, int64_t ld, float sentinel,
                      const char *what) {
    n_checks++;
    int64_t bad = -1;
    for (int64_t r = 0; r < rows && bad < 0; r++)
        for (int64_t c = cols; c < ld; c++)
            if (memcmp(&buf[r * ld + c], &sentinel, sizeof sentinel) != 0) { bad = r * ld + c; break; }
    CHECK(bad < 0, "%s: wrote outside its output (row stride %lld, width %lld) at [%lld] = %g",
          what, (long long)ld, (long long)cols, (long long)bad, bad >= 0 ? buf[bad] : 0.0);
}

#define SENTINEL 1234.5f

/* ---------------------------------------------------------------- matmul, gemm */

static void test_matmul(void) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {1, 33, 7}, {2, 5, 64}, {3, 17, 100},
                                        {7, 33, 33}, {33, 7, 65}, {64, 48, 32}, {5, 1, 300},
                                        {128, 96, 257}, {3, 301, 129}, {1, 517, 100}};
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int acc = 0; acc < 2; acc++) {
            int64_t M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
            float *x = frand(M * K, &s, 1), *w = frand(N * K, &s, 1), *y = frand(M * N, &s, 2);
            double *xd = widen(x, M * K), *wd = widen(w, N * K), *y0 = widen(y, M * N);
            double *r = dnew(M * N), *mag = dnew(M * N);
            double *xa = dabs(xd, M * K), *wa = dabs(wd, N * K);
            ref_matmul(r, xd, wd, M, N, K);
            ref_matmul(mag, xa, wa, M, N, K);
            if (acc)
                for (int64_t i = 0; i < M * N; i++) { r[i] += y0[i]; mag[i] += fabs(y0[i]); }
            else
                for (int64_t i = 0; i < M * N; i++) y[i] = NAN;   /* must be overwritten */
            op_matmul(y, x, w, M, N, K, acc);
            char what[96];
            snprintf(what, sizeof what, "matmul M=%lld N=%lld K=%lld acc=%d", (long long)M,
                     (long long)N, (long long)K, acc);
            check_bound(y, r, mag, M * N, K + 2, what);
            free(x); free(w); free(y); free(xd); free(wd); free(y0); free(r); free(mag);
            free(xa); free(wa);
        }
}

/* Decoding splits a product's columns over threads (op_matvec_cols) and batches sequences:
 * any split of the columns, and any row computed with any number of other rows, gives the
 * bits of the whole product (fp32 and bf16 weights). */
static void test_matvec_split(void) {
    static const int64_t shapes[][3] = {{1, 37, 50}, {5, 64, 33}, {3, 301, 129}, {8, 19, 16}};
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int bf = 0; bf < 2; bf++) {
            int64_t M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
            float *x = frand(M * K, &s, 1), *w = frand(N * K, &s, 1);
            float *whole = fnew(M * N), *split = fnew(M * N), *row = fnew(N);
            uint16_t *wb = malloc(sizeof(uint16_t) * N * K);
            for (int64_t i = 0; i < N * K; i++) wb[i] = op_f32_to_bf16(w[i]);
            if (bf) op_matmul_bf16(whole, x, wb, M, N, K, 0);
            else op_matmul(whole, x, w, M, N, K, 0);
            /* uneven pieces: 1, 2, 3, ... columns, so groups of 4 start anywhere */
            for (int64_t j0 = 0, len = 1; j0 < N; j0 += len, len++) {
                int64_t j1 = j0 + len < N ? j0 + len : N;
                if (bf) op_matvec_cols_bf16(split, x, wb, M, N, K, j0, j1, 0);
                else op_matvec_cols(split, x, w, M, N, K, j0, j1, 0);
            }
            int64_t bad = -1;
            for (int64_t i = 0; i < M * N; i++)
                if (memcmp(&whole[i], &split[i], sizeof(float))) { bad = i; break; }
            CHECK(bad < 0, "matvec %s M=%lld N=%lld K=%lld: split columns differ at %lld: %.9g "
                  "vs %.9g", bf ? "bf16" : "fp32", (long long)M, (long long)N, (long long)K,
                  (long long)bad, bad >= 0 ? whole[bad] : 0, bad >= 0 ? split[bad] : 0);
            for (int64_t i = 0; i < M; i++) {
                if (bf) op_matmul_bf16(row, x + i * K, wb, 1, N, K, 0);
                else op_matmul(row, x + i * K, w, 1, N, K, 0);
                CHECK(!memcmp(row, whole + i * N, sizeof(float) * N),
                      "matvec %s M=%lld N=%lld K=%lld: row %lld alone differs from the batch",
                      bf ? "bf16" : "fp32", (long long)M, (long long)N, (long long)K,
                      (long long)i);
            }
            free(x); free(w); free(whole); free(split); free(row); free(wb);
        }
}

/* C = alpha op(A) op(B) + beta C, row-major with strides; beta = 0 must not read C. */
static void test_gemm(void) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {7, 33, 5}, {33, 7, 64}, {16, 16, 129}};
    static const float alphas[] = {1.0f, -0.5f}, betas[] = {0.0f, 1.0f, 0.75f};
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int ab = 0; ab < 6; ab++) {
                    int64_t M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
                    float alpha = alphas[ab / 3], beta = betas[ab % 3];
                    int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
                    int64_t lda = ac + 3, ldb = bc + 1, ldc = N + 2;
                    float *A = frand(ar * lda, &s, 1), *B = frand(br * ldb, &s, 1);
                    float *C = fnew(M * ldc);
                    for (int64_t i = 0; i < M * ldc; i++) C[i] = SENTINEL;
                    for (int64_t i = 0; i < M; i++)
                        for (int64_t j = 0; j < N; j++)
                            C[i * ldc + j] = beta == 0 ? NAN : (float)test_rand(&s);
                    double *r = dnew(M * N), *mag = dnew(M * N);
                    for (int64_t i = 0; i < M; i++)
                        for (int64_t j = 0; j < N; j++) {
                            double acc = 0, am = 0;
                            for (int64_t k = 0; k < K; k++) {
                                double a = ta ? A[k * lda + i] : A[i * lda + k];
                                double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                                acc += a * b;
                                am += fabs(a * b);
                            }
                            double c0 = beta == 0 ? 0 : C[i * ldc + j];
                            r[i * N + j] = alpha * acc + beta * c0;
                            mag[i * N + j] = fabs(alpha) * am + fabs(beta * c0);
                        }
                    op_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
                    char what[128];
                    snprintf(what, sizeof what, "gemm M=%lld N=%lld K=%lld tA=%d tB=%d a=%g b=%g",
                             (long long)M, (long long)N, (long long)K, ta, tb, alpha, beta);
                    float *Cc = gatherf(C, M, N, ldc);
                    check_bound(Cc, r, mag, M * N, K + 2, what);
                    check_pad(C, M, N, ldc, SENTINEL, what);
                    free(A); free(B); free(C); free(Cc); free(r); free(mag);
                }
}

/* ---------------------------------------------------------------- norms */

/* The magnitude of the layernorm / rmsnorm error terms of row x (see the rule above). */
static void norm_mag(double *mag, const double *x, const double *w, const double *b, int64_t d,
                     double eps, int layernorm) {
    double mean = 0, mabs = 0, ms = 0, var = 0;
    for (int64_t j = 0; j < d; j++) { mean += x[j]; mabs += fabs(x[j]); ms += x[j] * x[j]; }
    mean /= d; mabs /= d; ms /= d;
    for (int64_t j = 0; j < d; j++) var += (x[j] - mean) * (x[j] - mean);
    var /= d;
    for (int64_t j = 0; j < d; j++) {
        double wj = w ? fabs(w[j]) : 1.0;
        if (layernorm)
            mag[j] = wj / sqrt(var + eps) * (mabs + fabs(x[j] - mean) * (1 + 2 * ms / (var + eps)))
                     + (b ? fabs(b[j]) : 0.0);
        else
            mag[j] = wj * fabs(x[j]) / sqrt(ms + eps);
    }
}

static void test_norms(void) {
    static const int64_t shapes[][2] = {{1, 2}, {7, 33}, {3, 1024}, {16, 64}, {5, 1}};
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int v = 0; v < 8; v++) {
            int layernorm = v & 1, with_b = (v >> 1) & 1, inplace = (v >> 2) & 1;
            if (with_b && !layernorm) continue;   /* rmsnorm has no bias */
            int64_t M = shapes[si][0], d = shapes[si][1];
            float eps = (si & 1) ? 1e-6f : 1e-5f;
            float *x = frand(M * d, &s, 1), *w = frand(d, &s, 1.5), *b = frand(d, &s, 0.5);
            if (si == 3)   /* an offset: mean >> std stresses the variance */
                for (int64_t i = 0; i < M * d; i++) x[i] += 3.0f;
            double *xd = widen(x, M * d), *wd = widen(w, d), *bd = widen(b, d);
            double *r = dnew(M * d), *mag = dnew(M * d);
            if (layernorm) ref_layernorm(r, xd, wd, with_b ? bd : NULL, M, d, eps);
            else ref_rmsnorm(r, xd, wd, M, d, eps);
            for (int64_t i = 0; i < M; i++)
                norm_mag(mag + i * d, xd + i * d, wd, with_b ? bd : NULL, d, eps, layernorm);
            float *y = inplace ? x : fnew(M * d);
            if (layernorm) op_layernorm(y, x, w, with_b ? b : NULL, M, d, eps);
            else op_rmsnorm(y, x, w, M, d, eps);
            char what[96];
            snprintf(what, sizeof what, "%s M=%lld d=%lld bias=%d inplace=%d",
                     layernorm ? "layernorm" : "rmsnorm", (long long)M, (long long)d, with_b,
                     inplace);
            check_bound(y, r, mag, M * d, d + 4, what);
            if (!inplace) free(y);
            free(x); free(w); free(b); free(xd); free(wd); free(bd); free(r); free(mag);
        }
}

static void test_head_norm_gate(void) {
    static const int shapes[][3] = {{1, 1, 2}, {7, 3, 33}, {4, 8, 16}, {2, 2, 256}}; /* M h dv */
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int v = 0; v < 8; v++) {
            int groupnorm = v & 1, affine = (v >> 1) & 1, inplace = (v >> 2) & 1;
            int64_t M = shapes[si][0];
            int h = shapes[si][1], dv = shapes[si][2];
            int64_t n = M * h * dv, wn = groupnorm ? (int64_t)h * dv : dv;
            float eps = 1e-5f;
            float *o = frand(n, &s, 2), *g = frand(n, &s, 4), *w = frand(wn, &s, 1.5);
            float *b = frand((int64_t)h * dv, &s, 0.5);
            double *od = widen(o, n), *gd = widen(g, n), *wd = widen(w, wn);
            double *bd = widen(b, (int64_t)h * dv);
            double *r = dnew(n), *mag = dnew(n), *nr = dnew(n);
            const double *wr = affine ? wd : NULL, *br = affine && groupnorm ? bd : NULL;
            ref_head_norm_gate(r, od, gd, wr, br, M, h, dv, eps, groupnorm);
            /* mag: the norm's own error (norm_mag) times |swish g|, plus |norm| |g| */
            for (int64_t row = 0; row < M * h; row++) {
                int head = (int)(row % h);
                const double *wh = wr ? (groupnorm ? wr + (int64_t)head * dv : wr) : NULL;
                const double *bh = br ? br + (int64_t)head * dv : NULL;
                norm_mag(mag + row * dv, od + row * dv, wh, bh, dv, eps, groupnorm);
                if (groupnorm) ref_layernorm(nr + row * dv, od + row * dv, wh, bh, 1, dv, eps);
                else ref_rmsnorm(nr + row * dv, od + row * dv, wh, 1, dv, eps);
            }
            for (int64_t i = 0; i < n; i++)
                mag[i] = mag[i] * fabs(ref_swish(gd[i])) + fabs(nr[i]) * fabs(gd[i]);
            float *y = inplace ? o : fnew(n);
            op_head_norm_gate(y, o, g, affine ? w : NULL, affine && groupnorm ? b : NULL, M, h, dv,
                              eps, groupnorm);
            char what[112];
            snprintf(what, sizeof what, "head_norm_gate %s M=%lld h=%d dv=%d affine=%d inplace=%d",
                     groupnorm ? "groupnorm" : "rmsnorm", (long long)M, h, dv, affine, inplace);
            check_bound(y, r, mag, n, dv + 4, what);
            if (!inplace) free(y);
            free(o); free(g); free(w); free(b); free(od); free(gd); free(wd); free(bd);
            free(r); free(mag); free(nr);
        }
}

/* ---------------------------------------------------------------- elementwise, embed */

static void test_elementwise(void) {
    static const int64_t sizes[] = {1, 7, 33, 1000, 4099};
    static const double scales[] = {1, 6, 100};
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (size_t ci = 0; ci < sizeof scales / sizeof scales[0]; ci++) {
            int64_t n = sizes[si];
            float *x = frand(n, &s, scales[ci]), *b = frand(n, &s, scales[ci]), *y = fnew(n);
            double *r = dnew(n), *mag = dnew(n);
            char what[64];
            for (int op = 0; op < 4; op++) {
                static const char *names[] = {"gelu", "swish", "mul", "add"};
                for (int64_t i = 0; i < n; i++) {
                    double a = x[i], c = b[i];
                    switch (op) {
                    case 0: r[i] = ref_gelu(a); mag[i] = 0.5 * fabs(a) * (1 + fabs(erf(a / sqrt(2)))); break;
                    case 1: r[i] = ref_swish(a); mag[i] = fabs(a); break;
                    case 2: r[i] = a * c; mag[i] = fabs(a * c); break;
                    default: r[i] = a + c; mag[i] = fabs(a) + fabs(c); break;
                    }
                }
                for (int inplace = 0; inplace < 2; inplace++) {   /* the model runs y == x */
                    const float *in = x;
                    if (inplace) memcpy(y, x, sizeof(float) * n), in = y;
                    else for (int64_t i = 0; i < n; i++) y[i] = NAN;
                    switch (op) {
                    case 0: op_gelu(y, in, n); break;
                    case 1: op_swish(y, in, n); break;
                    case 2: op_mul(y, in, b, n); break;
                    default: op_add(y, in, b, n); break;
                    }
                    snprintf(what, sizeof what, "%s n=%lld scale=%g inplace=%d", names[op],
                             (long long)n, scales[ci], inplace);
                    check_bound(y, r, mag, n, op < 2 ? 4 : 1, what);
                }
            }
            free(x); free(b); free(y); free(r); free(mag);
        }
}

static void test_embed(void) {
    uint64_t s = next_seed();
    static const int64_t shapes[][3] = {{1, 1, 1}, {7, 33, 50}, {100, 64, 257}};  /* n d V */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int sc = 0; sc < 2; sc++) {
            int64_t n = shapes[si][0], d = shapes[si][1], V = shapes[si][2];
            float scale = sc ? sqrtf((float)d) : 1.0f;
            float *table = frand(V * d, &s, 1), *x = fnew(n * d);
            int32_t *tok = malloc(sizeof(int32_t) * n);
            for (int64_t i = 0; i < n; i++)
                tok[i] = i == 0 ? (int32_t)(V - 1) : (int32_t)((test_rand(&s) + 1) * 0.5 * V) % (int32_t)V;
            double *r = dnew(n * d), *mag = dnew(n * d);
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < d; j++) {
                    r[i * d + j] = (double)table[tok[i] * d + j] * scale;
                    mag[i * d + j] = fabs(r[i * d + j]);
                }
            op_embed(x, table, tok, n, d, scale);
            char what[64];
            snprintf(what, sizeof what, "embed n=%lld d=%lld V=%lld scale=%g", (long long)n,
                     (long long)d, (long long)V, scale);
            check_bound(x, r, mag, n * d, 1, what);
            free(table); free(x); free(tok); free(r); free(mag);
        }
}

/* ---------------------------------------------------------------- rope */

static void test_rope(void) {
    static const int shapes[][3] = {{1, 1, 2}, {7, 3, 4}, {64, 2, 16}, {5, 1, 34}, {3, 4, 256}};
    static const int64_t pos0s[] = {0, 5, 100003};
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t pi = 0; pi < sizeof pos0s / sizeof pos0s[0]; pi++)
            for (int v = 0; v < 4; v++) {
                int half = v & 1, kscale = v >> 1;
                int64_t T = shapes[si][0], pos0 = pos0s[pi];
                int h = shapes[si][1], dk = shapes[si][2];
                int64_t ld = (int64_t)h * dk + 3, n = T * ld;
                float scale = kscale ? 1.0f / sqrtf((float)dk) : 1.0f;
                double base = 10000.0;
                float *x = frand(n, &s, 1);
                for (int64_t t = 0; t < T; t++)
                    for (int64_t c = (int64_t)h * dk; c < ld; c++) x[t * ld + c] = SENTINEL;
                double *r = widen(x, n), *mag = widen(x, n);
                ref_rope(r, ld, T, h, dk, pos0, half, base, scale);
                ref_rope_abs(mag, ld, T, h, dk, pos0, half, base, scale);
                op_rope(x, ld, T, h, dk, pos0, half, base, scale);
                char what[112];
                snprintf(what, sizeof what, "rope %s T=%lld h=%d dk=%d pos0=%lld scale=%g",
                         half ? "half" : "paper", (long long)T, h, dk, (long long)pos0, scale);
                float *xc = gatherf(x, T, (int64_t)h * dk, ld);
                double *rc = dnew(T * h * dk), *mc = dnew(T * h * dk);
                for (int64_t t = 0; t < T; t++)
                    for (int64_t c = 0; c < (int64_t)h * dk; c++) {
                        rc[t * h * dk + c] = r[t * ld + c];
                        mc[t * h * dk + c] = mag[t * ld + c];
                    }
                check_bound(xc, rc, mc, T * h * dk, 6, what);
                check_pad(x, T, (int64_t)h * dk, ld, SENTINEL, what);
                free(x); free(r); free(mag); free(xc); free(rc); free(mc);
            }
}

/* The paper's frequencies are exponents linspace(0, 1, dk/2); fla's 2j/dk. Spot values. */
static void test_rope_theta(void) {
    n_checks += 4;
    CHECK(fabs(ref_rope_theta(0, 8, 0, 1e4) - 1) < 1e-15, "paper theta_0");
    CHECK(fabs(ref_rope_theta(3, 8, 0, 1e4) - 1e-4) < 1e-18, "paper theta_last = 1/base");
    CHECK(fabs(ref_rope_theta(2, 8, 1, 1e4) - 1e-2) < 1e-17, "half theta_2 = base^-(4/8)");
    CHECK(fabs(ref_rope_theta(0, 2, 0, 1e4) - 1) < 1e-15, "paper dk=2: theta_0 = 1");
}

/* ---------------------------------------------------------------- retention */

static const double pow2_gammas[] = {1 - 0x1p-5, 1 - 0x1p-6, 1 - 0x1p-7, 1 - 0x1p-8,
                                     1 - 0x1p-9, 1 - 0x1p-10, 1 - 0x1p-11, 1 - 0x1p-12};

/* pw[k] = gamma^k, k = 0..n: each within 2u relative, no early underflow or drift. */
static void test_retention_powers(void) {
    static const int64_t ns[] = {0, 1, 513, 100000};
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
        for (int gi = 0; gi < 10; gi++) {
            double gamma = gi < 8 ? pow2_gammas[gi] : gi == 8 ? 1.0 : 0.9;
            int64_t n = ns[ni];
            float *pw = fnew(n + 1);
            double *r = dnew(n + 1);
            for (int64_t k = 0; k <= n; k++) r[k] = pow(gamma, (double)k);
            retention_powers(gamma, n, pw);
            char what[64];
            snprintf(what, sizeof what, "retention_powers gamma=%.9g n=%lld", gamma, (long long)n);
            check_bound(pw, r, r, n + 1, 1, what);
            free(pw); free(r);
        }
}

enum { FORM_PAR, FORM_REC, FORM_CHUNK };

/*
 * One head, one (T, gamma, starting state) against the reference, in every form and chunk
 * length, with and without the §3 sums (z, rsum), with row strides and a strided state.
 */
static void retention_case(int dk, int dv, int64_t T, double gamma, int with_state,
                           uint64_t *s) {
    int64_t ldq = dk + 3, ldk = dk + 1, ldv = dv + 2, ldo = dv + 5;
    float *q = frand(T * ldq, s, 1), *k = frand(T * ldk, s, 1), *v = frand(T * ldv, s, 1);
    float *S0 = frand((int64_t)dk * dv, s, with_state ? 4 : 0);
    float *z0 = frand(dk, s, with_state ? 4 : 0);
    double *qd = gatherd(q, T, dk, ldq), *kd = gatherd(k, T, dk, ldk), *vd = gatherd(v, T, dv, ldv);
    double *S0d = widen(S0, (int64_t)dk * dv), *z0d = widen(z0, dk);
    double *o = dnew(T * dv), *S = dnew((int64_t)dk * dv), *z = dnew(dk), *rs = dnew(T);
    double *om = dnew(T * dv), *Sm = dnew((int64_t)dk * dv), *zm = dnew(dk), *rsm = dnew(T);
    ref_retention_args ra = {T, dk, dv, qd, kd, vd, gamma, S0d, z0d, o, S, z, rs};
    ref_retention_parallel(&ra);
    double *qa = dabs(qd, T * dk), *ka = dabs(kd, T * dk), *va = dabs(vd, T * dv);
    double *S0a = dabs(S0d, (int64_t)dk * dv), *z0a = dabs(z0d, dk);
    ref_retention_args ma = {T, dk, dv, qa, ka, va, gamma, S0a, z0a, om, Sm, zm, rsm};
    ref_retention_parallel(&ma);
    double K = 3.0 * T + 2.0 * dk + 8;

    static const int Cs[] = {1, 2, 3, 16, 64, 0 /* T */, -7 /* T + 7 */};
    int nrun = 2 + (int)(sizeof Cs / sizeof Cs[0]);
    for (int run = 0; run < nrun; run++) {
        int form = run == 0 ? FORM_PAR : run == 1 ? FORM_REC : FORM_CHUNK;
        int C = 0;
        if (form == FORM_CHUNK) {
            int c = Cs[run - 2];
            C = c > 0 ? c : (int)T - c;
            if (c > 0 && c >= T && c != 1) continue;  /* same as C = T or T + 7 */
        }
        for (int zmode = 0; zmode < 2; zmode++) {
            int64_t ldS = (run + zmode) & 1 ? dv + 2 : dv;
            float *of = fnew(T * ldo), *Sf = fnew((int64_t)dk * ldS), *zf = fnew(dk), *rf = fnew(T);
            for (int64_t i = 0; i < T * ldo; i++) of[i] = i % ldo < dv ? NAN : SENTINEL;
            for (int64_t i = 0; i < (int64_t)dk * ldS; i++)
                Sf[i] = i % ldS < dv ? S0[(i / ldS) * dv + i % ldS] : SENTINEL;
            memcpy(zf, z0, sizeof(float) * dk);
            for (int64_t i = 0; i < T; i++) rf[i] = NAN;
            retention_args a = {.T = T, .dk = dk, .dv = dv, .q = q, .k = k, .v = v,
                                .ldq = ldq, .ldk = ldk, .ldv = ldv, .o = of, .ldo = ldo,
                                .gamma = gamma, .S = Sf, .z = zmode ? zf : NULL,
                                .rsum = zmode ? rf : NULL, .ldS = ldS == dv ? 0 : ldS};
            int64_t wn = form == FORM_PAR ? retention_parallel_work(T, dk, dv)
                         : form == FORM_REC ? retention_recurrent_work(dk, dv)
                                            : retention_chunkwise_work(T, C, dk, dv);
            float *work = fnew(wn);
            for (int64_t i = 0; i < wn; i++) work[i] = NAN;   /* must be written before read */
            if (form == FORM_PAR) retention_parallel_forward(&a, work);
            else if (form == FORM_REC) retention_recurrent_forward(&a, work);
            else retention_chunkwise_forward(&a, C, work);

            char what[160], w2[180];
            snprintf(what, sizeof what, "retention %s%.0d dk=%d dv=%d T=%lld gamma=1-%.3g state=%d z=%d",
                     form == FORM_PAR ? "parallel" : form == FORM_REC ? "recurrent" : "chunkwise C=",
                     C, dk, dv, (long long)T, 1 - gamma, with_state, zmode);
            float *oc = gatherf(of, T, dv, ldo), *Sc = gatherf(Sf, dk, dv, ldS);
            snprintf(w2, sizeof w2, "%s: o", what);
            check_bound(oc, o, om, T * dv, K, w2);
            snprintf(w2, sizeof w2, "%s: o padding", what);
            check_pad(of, T, dv, ldo, SENTINEL, w2);
            snprintf(w2, sizeof w2, "%s: final S", what);
            check_bound(Sc, S, Sm, (int64_t)dk * dv, K, w2);
            snprintf(w2, sizeof w2, "%s: S padding", what);
            check_pad(Sf, dk, dv, ldS, SENTINEL, w2);
            if (zmode) {
                snprintf(w2, sizeof w2, "%s: final z", what);
                check_bound(zf, z, zm, dk, K, w2);
                snprintf(w2, sizeof w2, "%s: rsum", what);
                check_bound(rf, rs, rsm, T, K, w2);
            }
            free(of); free(Sf); free(zf); free(rf); free(work); free(oc); free(Sc);
        }
    }
    free(q); free(k); free(v); free(S0); free(z0); free(qd); free(kd); free(vd); free(S0d);
    free(z0d); free(o); free(S); free(z); free(rs); free(om); free(Sm); free(zm); free(rsm);
    free(qa); free(ka); free(va); free(S0a); free(z0a);
}

static void test_retention_forms(void) {
    static const int64_t Ts[] = {1, 2, 7, 64, 100, 513};
    static const int shapes[][2] = {{16, 24}, {3, 5}};
    uint64_t s = next_seed();
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++)
        for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++)
            for (int gi = 0; gi < 10; gi++)
                for (int st = 0; st < 2; st++) {
                    double gamma = gi < 8 ? pow2_gammas[gi] : gi == 8 ? 1.0 : 0.9;
                    int before = test_cur_failed;
                    retention_case(shapes[sh][0], shapes[sh][1], Ts[ti], gamma, st, &s);
                    if (test_cur_failed > before + 20) return;   /* enough said */
                }
}

/* The reference's two forms agree with each other (a check of the oracle itself). */
static void test_ref_self(void) {
    uint64_t s = next_seed();
    int dk = 5, dv = 3;
    int64_t T = 37;
    for (int gi = 0; gi < 3; gi++) {
        double gamma = gi == 0 ? 0.9 : gi == 1 ? 1 - 0x1p-12 : 1.0;
        float *buf = frand(T * (2 * dk + dv) + dk * dv + dk, &s, 1);
        double *b = widen(buf, T * (2 * dk + dv) + dk * dv + dk);
        double *q = b, *k = q + T * dk, *v = k + T * dk, *S0 = v + T * dv, *z0 = S0 + dk * dv;
        double *o1 = dnew(T * dv), *o2 = dnew(T * dv), *S1 = dnew(dk * dv), *S2 = dnew(dk * dv);
        double *z1 = dnew(dk), *z2 = dnew(dk), *r1 = dnew(T), *r2 = dnew(T);
        ref_retention_args a1 = {T, dk, dv, q, k, v, gamma, S0, z0, o1, S1, z1, r1};
        ref_retention_args a2 = {T, dk, dv, q, k, v, gamma, S0, z0, o2, S2, z2, r2};
        ref_retention_parallel(&a1);
        ref_retention_recurrent(&a2);
        double worst = 0;
        for (int64_t i = 0; i < T * dv; i++) worst = fmax(worst, fabs(o1[i] - o2[i]));
        for (int64_t i = 0; i < dk * dv; i++) worst = fmax(worst, fabs(S1[i] - S2[i]));
        for (int64_t i = 0; i < dk; i++) worst = fmax(worst, fabs(z1[i] - z2[i]));
        for (int64_t i = 0; i < T; i++) worst = fmax(worst, fabs(r1[i] - r2[i]));
        n_checks++;
        CHECK(worst < 1e-12, "ref parallel vs recurrent, gamma %.9g: max diff %.3g", gamma, worst);
        free(buf); free(b); free(o1); free(o2); free(S1); free(S2); free(z1); free(z2);
        free(r1); free(r2);
    }
}

/*
 * T = 100000 on a small head (dk = dv = 4): the recurrent and chunkwise forms against the
 * float64 recurrence. Powers of gamma must neither drift nor underflow early; the state
 * must stay finite.
 */
static void test_retention_long(void) {
    const int dk = 4, dv = 4;
    const int64_t T = 100000;
    static const double gammas[] = {1 - 0x1p-12, 1 - 0x1p-8, 1 - 0x1p-5};
    uint64_t s = next_seed();
    float *q = frand(T * dk, &s, 1), *k = frand(T * dk, &s, 0.5), *v = frand(T * dv, &s, 1);
    double *qd = widen(q, T * dk), *kd = widen(k, T * dk), *vd = widen(v, T * dv);
    double *qa = dabs(qd, T * dk), *ka = dabs(kd, T * dk), *va = dabs(vd, T * dv);
    double *o = dnew(T * dv), *om = dnew(T * dv), *S = dnew(dk * dv), *Sm = dnew(dk * dv);
    double *z = dnew(dk), *zm = dnew(dk), *rs = dnew(T), *rsm = dnew(T);
    float *of = fnew(T * dv), *Sf = fnew(dk * dv), *zf = fnew(dk), *rf = fnew(T);
    for (size_t gi = 0; gi < sizeof gammas / sizeof gammas[0]; gi++) {
        double gamma = gammas[gi];
        ref_retention_args ra = {T, dk, dv, qd, kd, vd, gamma, NULL, NULL, o, S, z, rs};
        ref_retention_args ma = {T, dk, dv, qa, ka, va, gamma, NULL, NULL, om, Sm, zm, rsm};
        ref_retention_recurrent(&ra);
        ref_retention_recurrent(&ma);
        double Keff = 3 * fmin((double)T, 1 / (1 - gamma)) + 2 * dk;
        double typ = C_TYP * sqrt(Keff) * U;
        static const int Cs[] = {0 /* recurrent */, 1, 64, 1000};
        for (size_t ci = 0; ci < sizeof Cs / sizeof Cs[0]; ci++) {
            int C = Cs[ci];
            memset(Sf, 0, sizeof(float) * dk * dv);
            memset(zf, 0, sizeof(float) * dk);
            retention_args a = {.T = T, .dk = dk, .dv = dv, .q = q, .k = k, .v = v, .ldq = dk,
                                .ldk = dk, .ldv = dv, .o = of, .ldo = dv, .gamma = gamma,
                                .S = Sf, .z = zf, .rsum = rf};
            int64_t wn = C ? retention_chunkwise_work(T, C, dk, dv) : retention_recurrent_work(dk, dv);
            float *work = fnew(wn);
            if (C) retention_chunkwise_forward(&a, C, work);
            else retention_recurrent_forward(&a, work);
            free(work);
            struct { const char *name; float *got; double *want, *mag; int64_t n; } outs[] = {
                {"o", of, o, om, T * dv}, {"S", Sf, S, Sm, dk * dv}, {"z", zf, z, zm, dk},
                {"rsum", rf, rs, rsm, T}};
            for (int i = 0; i < 4; i++) {
                char what[128];
                snprintf(what, sizeof what, "long T=%lld %s%.0d gamma=1-%.3g: %s", (long long)T,
                         C ? "chunkwise C=" : "recurrent", C, 1 - gamma, outs[i].name);
                check_bound(outs[i].got, outs[i].want, outs[i].mag, outs[i].n, 3.0 * T + 2 * dk + 8, what);
                test_err e = test_compare(outs[i].got, outs[i].want, outs[i].n, 1e-30);
                double rmax = 0;
                for (int64_t j = 0; j < outs[i].n; j++) rmax = fmax(rmax, fabs(outs[i].want[j]));
                n_checks++;
                CHECK(sqrt(e.nmse) <= typ && e.max_abs <= typ * rmax,
                      "%s (typical rule, %g sqrt(K_eff) u = %.3g, K_eff %g): sqrt(nmse) %.3g, "
                      "max_abs %.3g (tol %.3g), max_rel %.3g; worst [%lld] got %.9g want %.9g",
                      what, C_TYP, typ, Keff, sqrt(e.nmse), e.max_abs, typ * rmax, e.max_rel,
                      (long long)e.worst, e.worst_a, e.worst_r);
            }
        }
    }
    free(q); free(k); free(v); free(qd); free(kd); free(vd); free(qa); free(ka); free(va);
    free(o); free(om); free(S); free(Sm); free(z); free(zm); free(rs); free(rsm);
    free(of); free(Sf); free(zf); free(rf);
}

int main(void) {
    const char *env = getenv("RETNET_TEST_SEED");
    seed0 = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
    fprintf(stderr, "test_ops: seed %llu (RETNET_TEST_SEED=%llu reproduces this run)\n",
            (unsigned long long)seed0, (unsigned long long)seed0);
    RUN(test_ref_self);
    RUN(test_matmul);
    RUN(test_matvec_split);
    RUN(test_gemm);
    RUN(test_norms);
    RUN(test_head_norm_gate);
    RUN(test_elementwise);
    RUN(test_embed);
    RUN(test_rope_theta);
    RUN(test_rope);
    RUN(test_retention_powers);
    RUN(test_retention_forms);
    RUN(test_retention_long);
    fprintf(stderr, "test_ops: %lld checks (seed %llu)\n", (long long)n_checks,
            (unsigned long long)seed0);
    return TEST_SUMMARY();
}
