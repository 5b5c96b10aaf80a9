/*
 * test_cuda_gemv.c: the decoding products (src/cuda/gemv.cu) against float64, on random bf16
 * inputs; also through cuda_op_matmul (which routes M <= 8 to them) and against cuBLASLt's
 * result for the same inputs (RETNET_CUDA_GEMV=0 in a second process is not needed: a
 * product with M = 9 rows, whose first M rows are the same, goes to cuBLASLt).
 *
 * Tolerance (written before the kernels ran): the inputs are exact bf16 values, so the only
 * errors are the fp32 products and sums: |y - y64| <= (K + 2) u_f32 sum_k |x_k w_k| (Higham
 * §3.1, any order of summation), C = 2 for safety. A bf16 output adds its own rounding,
 * 2^-8 |y| (8 significant bits), and the GLU's act(a) * b in fp32 adds a few u of |act(a) b|
 * beyond the products' errors carried through act (|act'| <= 1.13 for gelu and 1.1 for swish):
 *   |glu - glu64| <= 2 (K + 2) u (1.2 |b| sum|x w1| + |act(a)| sum|x w2|) + 8 u |act(a) b|
 *                    + 2^-8 |glu64|.
 * Control: the same check against a reference that lacks 8 consecutive terms (one lane's
 * 16-byte load) must fail (fp32 outputs; a bf16 output's rounding bound is of that size),
 * so the bound is not so loose that a skipped load would pass.
 */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "cuda/cuda.h"
#include "ops/ops.h"
#include "../test.h"
#include "cuda_test.h"

#define U 0x1p-24
static uint64_t seed0;
static uint64_t rng(void) {
    static uint64_t k;
    return (seed0 + 0x9E3779B97F4A7C15ull * ++k) | 1;
}

/* n random bf16 values in [-scale, scale), as bits, and their floats */
static uint16_t *rand_bf16(int64_t n, double scale, float **as_float) {
    uint64_t s = rng();
    uint16_t *b = malloc(2 * (size_t)n);
    float *f = malloc(4 * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        b[i] = op_f32_to_bf16((float)(scale * test_rand(&s)));
        op_bf16_to_f32(&f[i], &b[i], 1);
    }
    *as_float = f;
    return b;
}
static void *dput(const void *h, size_t bytes) {
    void *d = NULL;
    OK(retnet_cuda_malloc(&d, bytes, "test buffer"));
    if (d && h) OK(retnet_cuda_upload(d, h, bytes));
    return d;
}
static void dget(void *h, const void *d, size_t bytes) {
    OK(retnet_cuda_sync(NULL));
    OK(retnet_cuda_download(h, d, bytes));
}
static double act64(double v, int act) {
    return act == CUDA_ACT_GELU ? 0.5 * v * (1 + erf(v / sqrt(2.0))) : v / (1 + exp(-v));
}

/* worst err / bound over n values (NaN or inf if any value is NaN) */
static double worst_ratio(const float *y, const double *ref, const double *bound, int64_t n,
                          int64_t *at) {
    double w = 0;
    *at = -1;
    for (int64_t i = 0; i < n; i++) {
        double r = fabs((double)y[i] - ref[i]) / bound[i];
        if (!(r <= w)) w = isnan(r) ? INFINITY : r, *at = i;
    }
    return w;
}

/* y (M, N) = [addend +] x (M, K) @ w (N, K)^T, through cuda_op_gemv_multi with n_out outputs
 * splitting N, or through cuda_op_matmul (via = 1). */
static void product_case(int64_t M, int64_t N, int64_t K, int bf16_out, int addend, int n_out,
                         int via_matmul) {
    float *xf, *wf;
    uint16_t *xb = rand_bf16(M * K, 1.0, &xf), *wb = rand_bf16(N * K, 1.0, &wf);
    const int64_t ldy = N + 3; /* padded rows: nothing may land in the padding */
    float *y0 = malloc(4 * (size_t)(M * ldy));
    uint64_t s = rng();
    for (int64_t i = 0; i < M * ldy; i++) y0[i] = (float)test_rand(&s);
    uint16_t *y0b = malloc(2 * (size_t)(M * ldy));
    for (int64_t i = 0; i < M * ldy; i++) {
        y0b[i] = op_f32_to_bf16(y0[i]);
        op_bf16_to_f32(&y0[i], &y0b[i], 1); /* the addend as its type holds it */
    }
    const size_t es = bf16_out ? 2 : 4;
    void *dx = dput(xb, 2 * (size_t)(M * K)), *dw = dput(wb, 2 * (size_t)(N * K));
    void *dy = dput(bf16_out ? (void *)y0b : (void *)y0, es * (size_t)(M * ldy));
    if (via_matmul) {
        /* cuda_op_matmul has no row stride for y: use ldy = N there */
        OK(cuda_op_matmul(dy, bf16_out ? CUDA_BF16 : CUDA_F32, dx, dw, CUDA_BF16, M, N, K, addend,
                          NULL));
    } else {
        cuda_gemv_out o[CUDA_GEMV_MAX_OUT] = {0};
        int64_t n0 = 0;
        for (int i = 0; i < n_out; i++) {
            int64_t n1 = N * (i + 1) / n_out;
            o[i].w = (const cuda_bf16 *)dw + n0 * K;
            o[i].y = (char *)dy + es * (size_t)n0;
            o[i].y_type = bf16_out ? CUDA_BF16 : CUDA_F32;
            o[i].N = n1 - n0, o[i].ldy = ldy;
            o[i].addend = addend ? o[i].y : NULL;
            n0 = n1;
        }
        OK(cuda_op_gemv_multi(dx, M, K, K, o, n_out, NULL));
    }
    const int64_t ld = via_matmul ? N : ldy;
    float *y = malloc(4 * (size_t)(M * ldy));
    uint16_t *yb = malloc(2 * (size_t)(M * ldy));
    if (bf16_out) {
        dget(yb, dy, 2 * (size_t)(M * ldy));
        op_bf16_to_f32(y, yb, M * ldy);
    } else {
        dget(y, dy, 4 * (size_t)(M * ldy));
    }
    double *ref = malloc(8 * (size_t)(M * N)), *bound = malloc(8 * (size_t)(M * N));
    float *got = malloc(4 * (size_t)(M * N));
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double acc = 0, mag = 0;
            for (int64_t k = 0; k < K; k++) {
                double p = (double)xf[m * K + k] * wf[n * K + k];
                acc += p, mag += fabs(p);
            }
            const double a0 = addend ? y0[m * ld + n] : 0.0;
            ref[m * N + n] = acc + a0;
            bound[m * N + n] = 2 * (K + 2) * U * (mag + fabs(a0)) +
                               (bf16_out ? 0x1p-8 * fabs(acc + a0) : 0) + 0x1p-140;
            got[m * N + n] = y[m * ld + n];
        }
    int64_t at;
    double w = worst_ratio(got, ref, bound, M * N, &at);
    char what[160];
    snprintf(what, sizeof what, "M %lld N %lld K %lld %s%s outputs %d%s", (long long)M,
             (long long)N, (long long)K, bf16_out ? "bf16" : "fp32", addend ? " +addend" : "",
             n_out, via_matmul ? " (cuda_op_matmul)" : "");
    CHECK(w <= 1.0, "%s: worst err/bound %.3g at [%lld]: got %.9g want %.9g", what, w,
          (long long)at, at >= 0 ? got[at] : 0.0, at >= 0 ? ref[at] : 0.0);
    if (!via_matmul)
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = N; n < ldy; n++) {
                const int64_t i = m * ldy + n;
                CHECK(bf16_out ? yb[i] == y0b[i] : y[i] == y0[i],
                      "%s: wrote into the padding at (%lld, %lld)", what, (long long)m,
                      (long long)n);
            }
    /* control: the same check against a reference that lacks one 16-byte load's worth of
     * terms (8 consecutive k, what one lane reads at a time) must fail somewhere: a single
     * term can hide inside the worst-case bound at large K, eight rarely do */
    if (!via_matmul && !bf16_out) {
        const int64_t k0 = 8 * ((K / 8) / 2);
        double ctl = 0;
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double drop = 0;
                for (int64_t k = k0; k < k0 + 8; k++) drop += (double)xf[m * K + k] * wf[n * K + k];
                ctl = fmax(ctl, fabs(got[m * N + n] - (ref[m * N + n] - drop)) / bound[m * N + n]);
            }
        CHECK(ctl > 1.0, "%s: the control (8 terms dropped) passed: worst %.3g", what, ctl);
    }
    retnet_cuda_free(dx), retnet_cuda_free(dw), retnet_cuda_free(dy);
    free(xf), free(wf), free(xb), free(wb), free(y0), free(y0b), free(y), free(yb), free(ref),
        free(bound), free(got);
}

static void test_products(void) {
    /* M 1..16 (the FMA kernel at 1-2, the mma kernel from 3 with 1 or 2 tiles of 8 rows,
     * full and partial); K: one lane step (8), not a multiple of either kernel's step (40,
     * 2056), the model's widths (2048, 2816, 4096); N odd and even (a warp or a lane computes
     * two columns) */
    static const int64_t shapes[][3] = {{1, 1, 8},      {1, 7, 40},     {2, 33, 2056},
                                        {3, 64, 2048},  {4, 130, 2816}, {5, 9, 4096},
                                        {6, 17, 264},   {7, 255, 1024}, {8, 128, 2048},
                                        {8, 3, 5632},   {9, 33, 40},    {16, 130, 2056},
                                        {12, 17, 1032}, {16, 64, 2816}, {11, 9, 264},
                                        {13, 255, 4096}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int64_t M = shapes[i][0], N = shapes[i][1], K = shapes[i][2];
        for (int v = 0; v < 4; v++) product_case(M, N, K, v & 1, (v >> 1) & 1, 1, 0);
        product_case(M, N, K, 0, 0, N >= 4 ? 4 : 1, 0);
        product_case(M, N, K, 1, 1, N >= 3 ? 3 : 1, 0);
        product_case(M, N, K, i & 1, (int)(i >> 1) & 1, 1, 1);
    }
}

static void glu_case(int64_t M, int64_t N, int64_t K, int act) {
    float *xf, *af, *bf;
    uint16_t *xb = rand_bf16(M * K, 1.0, &xf), *w1 = rand_bf16(N * K, 0.1, &af),
             *w2 = rand_bf16(N * K, 0.1, &bf);
    void *dx = dput(xb, 2 * (size_t)(M * K)), *d1 = dput(w1, 2 * (size_t)(N * K)),
         *d2 = dput(w2, 2 * (size_t)(N * K)), *dy = dput(NULL, 2 * (size_t)(M * N));
    OK(cuda_op_gemv_glu(dy, dx, d1, d2, M, N, K, act, NULL));
    uint16_t *yb = malloc(2 * (size_t)(M * N));
    float *y = malloc(4 * (size_t)(M * N));
    dget(yb, dy, 2 * (size_t)(M * N));
    op_bf16_to_f32(y, yb, M * N);
    double *ref = malloc(8 * (size_t)(M * N)), *bound = malloc(8 * (size_t)(M * N));
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double a = 0, b = 0, ma = 0, mb = 0;
            for (int64_t k = 0; k < K; k++) {
                double pa = (double)xf[m * K + k] * af[n * K + k];
                double pb = (double)xf[m * K + k] * bf[n * K + k];
                a += pa, b += pb, ma += fabs(pa), mb += fabs(pb);
            }
            const double g = act64(a, act) * b;
            ref[m * N + n] = g;
            bound[m * N + n] = 2 * (K + 2) * U * (1.2 * fabs(b) * ma + fabs(act64(a, act)) * mb) +
                               8 * U * fabs(g) + 0x1p-8 * fabs(g) + 0x1p-140;
        }
    int64_t at;
    double w = worst_ratio(y, ref, bound, M * N, &at);
    CHECK(w <= 1.0, "glu %s M %lld N %lld K %lld: worst err/bound %.3g at [%lld]: got %.9g want "
          "%.9g", act == CUDA_ACT_GELU ? "gelu" : "swish", (long long)M, (long long)N,
          (long long)K, w, (long long)at, at >= 0 ? y[at] : 0.0, at >= 0 ? ref[at] : 0.0);
    retnet_cuda_free(dx), retnet_cuda_free(d1), retnet_cuda_free(d2), retnet_cuda_free(dy);
    free(xf), free(af), free(bf), free(xb), free(w1), free(w2), free(yb), free(y), free(ref),
        free(bound);
}

static void test_glu(void) {
    glu_case(1, 2816, 2048, CUDA_ACT_SWISH);
    glu_case(3, 5, 40, CUDA_ACT_GELU);
    glu_case(8, 129, 1032, CUDA_ACT_SWISH);
    glu_case(2, 64, 8, CUDA_ACT_GELU);
    glu_case(13, 40, 1032, CUDA_ACT_SWISH);
    glu_case(16, 129, 2048, CUDA_ACT_GELU);
}

/* The rope epilogue (decoding's q and k rotated in the products): the same bits as the
 * product into fp32 followed by cuda_op_rope_bf16, for both pair layouts, several head
 * widths, batches, positions (to 100000) and scales. */
static void test_rope(void) {
    static const int shapes[][3] = {{1, 1, 8},    {3, 2, 64},  {8, 3, 256},
                                    {2, 4, 32},   {16, 2, 64}, {11, 1, 128}}; /* M h dk */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int v = 0; v < 4; v++) {
            const int M = shapes[si][0], h = shapes[si][1], dk = shapes[si][2], half = v & 1;
            const int64_t N = (int64_t)h * dk, K = 1032;
            const float scale = v >> 1 ? (float)(1.0 / sqrt((double)dk)) : 1.0f;
            const double base = 10000.0;
            float *xf, *wf;
            uint16_t *xb = rand_bf16(M * K, 1.0, &xf), *wb = rand_bf16(N * K, 0.5, &wf);
            int64_t pos[CUDA_GEMV_MAX_M];
            uint64_t s = rng();
            for (int m = 0; m < M; m++) pos[m] = m == 1 ? 100000 : (int64_t)((test_rand(&s) + 1) * 500);
            void *dx = dput(xb, 2 * (size_t)(M * K)), *dw = dput(wb, 2 * (size_t)(N * K));
            void *dp = dput(pos, sizeof(int64_t) * (size_t)M);
            void *y32 = dput(NULL, 4 * (size_t)(M * N)), *ya = dput(NULL, 2 * (size_t)(M * N));
            void *yb = dput(NULL, 2 * (size_t)(M * N));
            /* unfused: the product, then rope.cu */
            cuda_gemv_out o = {dw, y32, CUDA_F32, N, N, NULL, NULL};
            OK(cuda_op_gemv_multi(dx, M, K, K, &o, 1, NULL));
            OK(cuda_op_rope_bf16(ya, y32, N, M, 1, h, dk, dp, half, base, scale, NULL));
            /* fused */
            cuda_gemv_rope r = {dk, half, base, scale, dp};
            cuda_gemv_out of = {dw, yb, CUDA_BF16, N, N, NULL, &r};
            OK(cuda_op_gemv_multi(dx, M, K, K, &of, 1, NULL));
            uint16_t *a = malloc(2 * (size_t)(M * N)), *b = malloc(2 * (size_t)(M * N));
            dget(a, ya, 2 * (size_t)(M * N));
            dget(b, yb, 2 * (size_t)(M * N));
            int64_t at = -1;
            for (int64_t i = 0; i < M * N && at < 0; i++)
                if (a[i] != b[i]) at = i;
            CHECK(at < 0, "rope %s M %d h %d dk %d scale %g: differs from product + rope at [%lld] "
                  "(%04x vs %04x)", half ? "half" : "paper", M, h, dk, scale, (long long)at,
                  at >= 0 ? a[at] : 0, at >= 0 ? b[at] : 0);
            /* and it is a rotation: not the product unrotated (positions > 0 move it) */
            float *y = malloc(4 * (size_t)(M * N));
            dget(y, y32, 4 * (size_t)(M * N));
            int moved = 0;
            for (int64_t i = N; i < M * N; i++) moved |= b[i] != op_f32_to_bf16(y[i] * scale);
            if (M > 1) CHECK(moved, "rope M %d: the rotation changed nothing", M);
            retnet_cuda_free(dx), retnet_cuda_free(dw), retnet_cuda_free(dp);
            retnet_cuda_free(y32), retnet_cuda_free(ya), retnet_cuda_free(yb);
            free(xf), free(wf), free(xb), free(wb), free(a), free(b), free(y);
        }
    /* refused: an fp32 output, N not a multiple of dk */
    cuda_gemv_rope r = {8, 1, 10000.0, 1.0f, (const int64_t *)(uintptr_t)256};
    cuda_gemv_out o = {(const cuda_bf16 *)(uintptr_t)256, (void *)(uintptr_t)256, CUDA_F32, 16, 16,
                       NULL, &r};
    CHECK(cuda_op_gemv_multi((const cuda_bf16 *)(uintptr_t)256, 1, 64, 64, &o, 1, NULL) ==
              RETNET_EINVAL, "rope with an fp32 output accepted");
    o.y_type = CUDA_BF16, o.N = 12, o.ldy = 12;
    CHECK(cuda_op_gemv_multi((const cuda_bf16 *)(uintptr_t)256, 1, 64, 64, &o, 1, NULL) ==
              RETNET_EINVAL, "rope with N = 12, dk = 8 accepted");
}

/* The gelu epilogue (the paper's FFN at decoding: act(x fc1^T) rounded to bf16 in the
 * product): the same bits as the product into fp32 followed by cuda_op_act_bf16, on both
 * kernels (M 1, 2: FMA; 3-16: mma), odd N (a pair's second row absent). Refused with an
 * fp32 output or an addend. */
static void test_gelu(void) {
    static const int64_t shapes[][3] = {{1, 64, 2048}, {2, 33, 1032}, {3, 130, 64},
                                        {8, 4096, 2048}, {16, 17, 256}}; /* M N K */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
        float *xf, *wf;
        uint16_t *xb = rand_bf16(M * K, 1.0, &xf), *wb = rand_bf16(N * K, 0.1, &wf);
        void *dx = dput(xb, 2 * (size_t)(M * K)), *dw = dput(wb, 2 * (size_t)(N * K));
        void *y32 = dput(NULL, 4 * (size_t)(M * N)), *ya = dput(NULL, 2 * (size_t)(M * N));
        void *yb = dput(NULL, 2 * (size_t)(M * N));
        cuda_gemv_out o = {dw, y32, CUDA_F32, N, N, NULL, NULL, 0};
        OK(cuda_op_gemv_multi(dx, M, K, K, &o, 1, NULL));
        OK(cuda_op_act_bf16(ya, y32, M * N, CUDA_ACT_GELU, NULL));
        cuda_gemv_out of = {dw, yb, CUDA_BF16, N, N, NULL, NULL, 1};
        OK(cuda_op_gemv_multi(dx, M, K, K, &of, 1, NULL));
        uint16_t *a = malloc(2 * (size_t)(M * N)), *b = malloc(2 * (size_t)(M * N));
        float *y = malloc(4 * (size_t)(M * N));
        dget(a, ya, 2 * (size_t)(M * N));
        dget(b, yb, 2 * (size_t)(M * N));
        dget(y, y32, 4 * (size_t)(M * N));
        int64_t at = -1, neg = 0;
        for (int64_t i = 0; i < M * N; i++) {
            if (at < 0 && a[i] != b[i]) at = i;
            neg += y[i] < -0.5f; /* gelu moved these far from the product: it ran */
        }
        CHECK(at < 0, "gelu M %lld N %lld K %lld: differs from product + act at [%lld] (%04x vs "
              "%04x)", (long long)M, (long long)N, (long long)K, (long long)at,
              at >= 0 ? a[at] : 0, at >= 0 ? b[at] : 0);
        int64_t same = 0;
        for (int64_t i = 0; i < M * N; i++) same += y[i] < -0.5f && b[i] == op_f32_to_bf16(y[i]);
        CHECK(same == 0 && neg > 0, "gelu M %lld N %lld: %lld of %lld negative "
              "outputs unchanged", (long long)M, (long long)N, (long long)same, (long long)neg);
        retnet_cuda_free(dx), retnet_cuda_free(dw), retnet_cuda_free(y32);
        retnet_cuda_free(ya), retnet_cuda_free(yb);
        free(xf), free(wf), free(xb), free(wb), free(a), free(b), free(y);
    }
    cuda_gemv_out o = {(const cuda_bf16 *)(uintptr_t)256, (void *)(uintptr_t)256, CUDA_F32, 16, 16,
                       NULL, NULL, 1};
    CHECK(cuda_op_gemv_multi((const cuda_bf16 *)(uintptr_t)256, 1, 64, 64, &o, 1, NULL) ==
              RETNET_EINVAL, "gelu with an fp32 output accepted");
    o.y_type = CUDA_BF16, o.addend = (const void *)(uintptr_t)256;
    CHECK(cuda_op_gemv_multi((const cuda_bf16 *)(uintptr_t)256, 1, 64, 64, &o, 1, NULL) ==
              RETNET_EINVAL, "gelu with an addend accepted");
}

/* What the kernels refuse (cuda_op_matmul then takes cuBLASLt), and the decoding shapes'
 * agreement with cuBLASLt's result: rows of a product beyond CUDA_GEMV_MAX_M rows (cuBLASLt)
 * against the same rows alone (the gemv kernel), within twice the fp32 bound. */
static void test_refusals_and_cublas(void) {
    CHECK(!cuda_gemv_suits(CUDA_GEMV_MAX_M + 1, 64, (void *)(uintptr_t)256, 64), "M = %d taken",
          CUDA_GEMV_MAX_M + 1);
    CHECK(!cuda_gemv_suits(1, 60, (void *)(uintptr_t)256, 60), "K = 60 taken");
    CHECK(!cuda_gemv_suits(1, 64, (void *)(uintptr_t)258, 64), "unaligned x taken");
    CHECK(!cuda_gemv_suits(2, 64, (void *)(uintptr_t)256, 68), "row stride 68 taken");
    cuda_gemv_out o = {NULL, NULL, CUDA_F32, 4, 4, NULL, NULL};
    CHECK(cuda_op_gemv_multi(NULL, 1, 64, 64, &o, 1, NULL) != RETNET_OK, "NULL x accepted");

    const int64_t M = CUDA_GEMV_MAX_M + 1, N = 2048, K = 2048;
    float *xf, *wf;
    uint16_t *xb = rand_bf16(M * K, 1.0, &xf), *wb = rand_bf16(N * K, 1.0, &wf);
    void *dx = dput(xb, 2 * (size_t)(M * K)), *dw = dput(wb, 2 * (size_t)(N * K));
    void *y9 = dput(NULL, 4 * (size_t)(M * N)), *y1 = dput(NULL, 4 * (size_t)(M * N));
    OK(cuda_op_matmul(y9, CUDA_F32, dx, dw, CUDA_BF16, M, N, K, 0, NULL));
    for (int64_t m = 0; m < M; m++)
        OK(cuda_op_matmul((float *)y1 + m * N, CUDA_F32, (uint16_t *)dx + m * K, dw, CUDA_BF16, 1,
                          N, K, 0, NULL));
    float *a = malloc(4 * (size_t)(M * N)), *b = malloc(4 * (size_t)(M * N));
    dget(a, y9, 4 * (size_t)(M * N));
    dget(b, y1, 4 * (size_t)(M * N));
    double worst = 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double mag = 0;
            for (int64_t k = 0; k < K; k++) mag += fabs((double)xf[m * K + k] * wf[n * K + k]);
            worst = fmax(worst, fabs((double)a[m * N + n] - b[m * N + n]) / (4 * (K + 2) * U * mag));
        }
    CHECK(worst <= 1.0, "gemv against cuBLASLt: worst err/bound %.3g", worst);
    retnet_cuda_free(dx), retnet_cuda_free(dw), retnet_cuda_free(y9), retnet_cuda_free(y1);
    free(xf), free(wf), free(xb), free(wb), free(a), free(b);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* One product y (M, N) fp32 [+]= x w^T: the gemv kernel itself at every M (cuda_op_matmul
 * takes it only where CUDA_GEMV_SINGLE says), or cuBLASLt when gemv is off. */
static void single(void *y, const void *x, const uint16_t *w, int M, int64_t N, int64_t K,
                   int acc, int gemv) {
    if (!gemv) {
        OK(cuda_op_matmul(y, CUDA_F32, x, w, CUDA_BF16, M, N, K, acc, NULL));
        return;
    }
    cuda_gemv_out o = {w, y, CUDA_F32, N, N, acc ? y : NULL, NULL};
    OK(cuda_op_gemv_multi(x, M, K, K, &o, 1, NULL));
}

/* RMSNorm carried across two products (cuda_gemv_rms_out, cuda_gemv_rms: decoding's norms
 * without launches of their own). The producer y = y0 + a @ wp^T (fp32, D columns) also
 * writes xw: y must be the bits of the same product without it, xw bit for bit bf16(y w)
 * formed on the CPU from the downloaded y. The consumer (two outputs, or the GLU) reads xw and
 * y (for mean(y^2), summed in fp32: relative error <= D u), and is checked against float64
 * products of the unrounded operand y r w (r = 1 / sqrt(mean(y^2) + eps) in double from the
 * downloaded y): beyond product_case's bound, xw's rounding moves each term by at most
 * 2^-9 |y_k r w_k W_k|, and r's relative error, at most (D / 2 + 1) u (the fp32 sum's D u
 * halved by the square root, and r's rounding to float), moves the result by that times
 * |y64| <= ma; so, with that added to the products' term,
 *   plain: (2 (K + 2) + D / 2 + 1) u ma + 2^-9 ma + 2 u |y64|,   ma = sum_k |y_k r w_k W_k|,
 *   GLU:   as glu_case's with the same factor of ma for its products' term and 4 u more
 *          (1.2 |a b| + |act(a) b|) for r.
 * Against the separate launches (cuda_op_rmsnorm_bf16 then the product, whose operand is
 * rounded after the scale: the same bound): within twice the bound. Control: the reference
 * without r must fail. */
static void rms_case(int64_t M, int64_t D, int64_t Ka, int64_t N, int glu) {
    uint64_t s = rng();
    float *af, *wpf, *f1, *f2;
    uint16_t *a = rand_bf16(M * Ka, 1.0, &af), *wp = rand_bf16(D * Ka, 0.1, &wpf);
    uint16_t *w1 = rand_bf16(N * D, 0.1, &f1), *w2 = rand_bf16(N * D, 0.1, &f2);
    float *y0 = malloc(4 * (size_t)(M * D)), *nw = malloc(4 * (size_t)D);
    for (int64_t i = 0; i < M * D; i++) y0[i] = (float)(3.0 * test_rand(&s)); /* r far from 1 */
    for (int64_t k = 0; k < D; k++) nw[k] = (float)(1.0 + 0.5 * test_rand(&s));
    const float eps = 1e-5f;
    const size_t yb = 4 * (size_t)(M * D), zb = (glu ? 2 : 4) * (size_t)(M * N);
    void *da = dput(a, 2 * (size_t)(M * Ka)), *dwp = dput(wp, 2 * (size_t)(D * Ka));
    void *d1 = dput(w1, 2 * (size_t)(N * D)), *d2 = dput(w2, 2 * (size_t)(N * D));
    void *dnw = dput(nw, 4 * (size_t)D), *dy = dput(y0, yb), *dyp = dput(y0, yb);
    void *dxw = dput(NULL, 2 * (size_t)(M * D));
    void *dxb = dput(NULL, 2 * (size_t)(M * D)), *dz = dput(NULL, zb), *dzs = dput(NULL, zb);
    const cuda_gemv_rms_out ro = {dnw, dxw};
    cuda_gemv_out op = {dwp, dy, CUDA_F32, D, D, dy, NULL, 0, &ro};
    OK(cuda_op_gemv_multi(da, M, Ka, Ka, &op, 1, NULL));
    op.y = dyp, op.addend = dyp, op.rms = NULL;
    OK(cuda_op_gemv_multi(da, M, Ka, Ka, &op, 1, NULL));
    const cuda_gemv_rms rin = {dy, eps};
    OK(cuda_op_rmsnorm_bf16(dxb, dy, dnw, M, D, eps, NULL));
    if (glu) {
        OK(cuda_op_gemv_glu_rms(dz, dxw, d1, d2, M, N, D, CUDA_ACT_SWISH, &rin, NULL));
        OK(cuda_op_gemv_glu(dzs, dxb, d1, d2, M, N, D, CUDA_ACT_SWISH, NULL));
    } else {
        const int64_t h = N / 2;
        cuda_gemv_out o[2] = {{d1, dz, CUDA_F32, h, N, NULL},
                              {(const uint16_t *)d1 + h * D, (float *)dz + h, CUDA_F32, N - h, N, NULL}};
        OK(cuda_op_gemv_multi_rms(dxw, M, D, D, o, 2, &rin, NULL));
        o[0].y = dzs, o[1].y = (float *)dzs + h;
        OK(cuda_op_gemv_multi(dxb, M, D, D, o, 2, NULL));
    }
    float *y = malloc(yb), *yp = malloc(yb);
    uint16_t *xw = malloc(2 * (size_t)(M * D));
    dget(y, dy, yb), dget(yp, dyp, yb), dget(xw, dxw, 2 * (size_t)(M * D));
    char what[120];
    snprintf(what, sizeof what, "rms chain %s M %lld D %lld Ka %lld N %lld", glu ? "glu" : "two outputs",
             (long long)M, (long long)D, (long long)Ka, (long long)N);
    CHECK(!memcmp(y, yp, yb), "%s: the producer's y differs from the plain product's", what);
    int64_t xw_bad = 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t k = 0; k < D; k++) {
            const float v = y[m * D + k] * nw[k];
            xw_bad += op_f32_to_bf16(v) != xw[m * D + k];
        }
    CHECK(xw_bad == 0, "%s: %lld of xw's values not bf16(y w)", what, (long long)xw_bad);
    float *z = malloc(4 * (size_t)(M * N)), *zs = malloc(4 * (size_t)(M * N));
    if (glu) {
        uint16_t *b1 = malloc(zb), *b2 = malloc(zb);
        dget(b1, dz, zb), dget(b2, dzs, zb);
        op_bf16_to_f32(z, b1, M * N), op_bf16_to_f32(zs, b2, M * N);
        free(b1), free(b2);
    } else {
        dget(z, dz, zb), dget(zs, dzs, zb);
    }
    double *ref = malloc(8 * (size_t)(M * N)), *ctl = malloc(8 * (size_t)(M * N));
    double *bound = malloc(8 * (size_t)(M * N));
    /* a product's error per unit of sum |terms|, with r's (D / 2 + 1) u */
    const double T = 2 * (D + 2) * U + (D / 2 + 1) * U + 0x1p-9;
    for (int64_t m = 0; m < M; m++) {
        double sy = 0;
        for (int64_t k = 0; k < D; k++) sy += (double)y[m * D + k] * y[m * D + k];
        const double r = 1.0 / sqrt(sy / D + eps);
        for (int64_t n = 0; n < N; n++) {
            double p = 0, q = 0, mp = 0, mq = 0;
            for (int64_t k = 0; k < D; k++) {
                const double xv = (double)y[m * D + k] * nw[k];
                p += xv * f1[n * D + k], q += xv * f2[n * D + k];
                mp += fabs(xv * f1[n * D + k]), mq += fabs(xv * f2[n * D + k]);
            }
            const int64_t i = m * N + n;
            if (glu) {
                const double ar = act64(p * r, CUDA_ACT_SWISH), g = ar * q * r;
                ref[i] = g, ctl[i] = act64(p, CUDA_ACT_SWISH) * q;
                bound[i] = T * (1.2 * fabs(q * r) * mp * r + fabs(ar) * mq * r) +
                           4 * U * (1.2 * fabs(p * r * q * r) + fabs(g)) + 8 * U * fabs(g) +
                           0x1p-8 * fabs(g) + 0x1p-140;
            } else {
                /* column n is w1's row n in both outputs */
                ref[i] = p * r, ctl[i] = p;
                bound[i] = T * mp * r + 2 * U * fabs(p * r) + 0x1p-140;
            }
        }
    }
    int64_t at;
    const double w = worst_ratio(z, ref, bound, M * N, &at);
    double wsep = 0, wctl = 0;
    for (int64_t i = 0; i < M * N; i++) {
        wsep = fmax(wsep, fabs((double)z[i] - zs[i]) / (2 * bound[i]));
        wctl = fmax(wctl, fabs((double)z[i] - ctl[i]) / bound[i]);
    }
    CHECK(w <= 1.0, "%s: worst err/bound %.3g at [%lld]: got %.9g want %.9g", what, w, (long long)at,
          at >= 0 ? z[at] : 0.0, at >= 0 ? ref[at] : 0.0);
    CHECK(wsep <= 1.0, "%s: against the separate norm and product: worst %.3g of twice the bound",
          what, wsep);
    CHECK(wctl > 1.0, "%s: the control (no scale) passed: worst %.3g", what, wctl);
    printf("  %s: worst %.3g of the bound, %.3g of twice it against the separate launches\n", what,
           w, wsep);
    retnet_cuda_free(da), retnet_cuda_free(dwp), retnet_cuda_free(d1), retnet_cuda_free(d2),
        retnet_cuda_free(dnw), retnet_cuda_free(dy), retnet_cuda_free(dyp), retnet_cuda_free(dxw),
        retnet_cuda_free(dxb), retnet_cuda_free(dz), retnet_cuda_free(dzs);
    free(a), free(af), free(wp), free(wpf), free(w1), free(f1), free(w2), free(f2), free(y0),
        free(nw), free(y), free(yp), free(xw), free(z), free(zs), free(ref), free(ctl),
        free(bound);
}

static void test_rms_chain(void) {
    /* M 1 (the FMA kernel's one row); D the models' widths and small multiples of 8 */
    static const int64_t shapes[][4] = {{1, 2048, 4096, 257}, {1, 2048, 2816, 65},
                                        {1, 1032, 40, 33}, {1, 40, 16, 9}, {1, 8, 8, 5}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int glu = 0; glu < 2; glu++)
            rms_case(shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], glu);
    /* refusals: 2 rows and the mma kernel's; pieces of a bf16 output or an N not a multiple
     * of 8 */
    float *dx = dput(NULL, 4 * 3 * 64), *dw = dput(NULL, 4 * 64 * 64);
    const cuda_gemv_rms rin = {dx, 1e-5f};
    CHECK(cuda_gemv_rms_suits(1, 64, dx, 64), "a norm's scale at 1 row refused");
    CHECK(!cuda_gemv_rms_suits(2, 64, dx, 64), "a norm's scale at 2 rows taken");
    CHECK(!cuda_gemv_rms_suits(3, 64, dx, 64), "a norm's scale at 3 rows taken");
    cuda_gemv_out o = {(const cuda_bf16 *)dw, dx, CUDA_F32, 2, 2, NULL};
    CHECK(cuda_op_gemv_multi_rms((const cuda_bf16 *)dw, 3, 64, 64, &o, 1, &rin, NULL) ==
          RETNET_EUNSUPPORTED, "a norm's scale at 3 rows not refused");
    const cuda_gemv_rms_out ro = {dx, (cuda_bf16 *)dx};
    cuda_gemv_out ob = {(const cuda_bf16 *)dw, dx, CUDA_BF16, 8, 8, NULL, NULL, 0, &ro};
    CHECK(cuda_op_gemv_multi((const cuda_bf16 *)dw, 1, 64, 64, &ob, 1, NULL) == RETNET_EINVAL,
          "a norm's pieces of a bf16 output taken");
    ob.y_type = CUDA_F32, ob.N = 6, ob.ldy = 6;
    CHECK(cuda_op_gemv_multi((const cuda_bf16 *)dw, 1, 64, 64, &ob, 1, NULL) == RETNET_EINVAL,
          "a norm's pieces of 6 columns taken");
    retnet_cuda_free(dx), retnet_cuda_free(dw);
}

/* --bench: the decoding products of the 1.3B shape (d 2048, d_key 2048, d_value 4096, SwiGLU
 * 2816, vocabulary 32000), time per call and the weights' read rate; RETNET_CUDA_GEMV=0 gives
 * cuBLASLt's for the single products (each launch of a group is then one cuBLASLt call). */
static void bench(void) {
    const int64_t D = 2048, DK = 2048, DV = 4096, F = 2816, V = 32000;
    const int64_t wmax = V * D;
    const int64_t MM = CUDA_GEMV_MAX_M;
    void *dw = dput(NULL, 2 * (size_t)(wmax + 2 * F * D)), *dx = dput(NULL, 2 * MM * (size_t)DV);
    void *dy = dput(NULL, 4 * MM * (size_t)(V + 3 * DV));
    OK(retnet_cuda_memset0(dw, 2 * (size_t)(wmax + 2 * F * D), NULL));
    OK(retnet_cuda_memset0(dx, 2 * MM * (size_t)DV, NULL));
    const int gemv = cuda_gemv_suits(1, 64, dx, 64);
    printf("gemv kernels %s (RETNET_CUDA_GEMV)\n", gemv ? "on" : "off: cuBLASLt");
    printf("%-34s %3s %10s %10s\n", "product", "M", "us/call", "GB/s");
    for (int M = 1; M <= MM; M *= 2) {
        for (int kind = 0; kind < 5; kind++) {
            const int reps = 200;
            int64_t bytes = 0;
            const char *name = "";
            double t0 = 0;
            for (int r = -10; r < reps; r++) {
                if (r == 0) {
                    OK(retnet_cuda_sync(NULL));
                    t0 = now_s();
                }
                const uint16_t *w = dw;
                if (kind == 0) { /* the mixer's q, k, v, g */
                    name = "q k v g (2048+2048+4096+4096) x 2048";
                    bytes = 2 * D * (2 * DK + 2 * DV);
                    if (gemv) {
                        cuda_gemv_out o[4] = {{w, dy, CUDA_F32, DK, DK, NULL},
                                              {w + DK * D, dy, CUDA_F32, DK, DK, NULL},
                                              {w + 2 * DK * D, dy, CUDA_BF16, DV, DV, NULL},
                                              {w + (2 * DK + DV) * D, dy, CUDA_F32, DV, DV, NULL}};
                        OK(cuda_op_gemv_multi(dx, M, D, D, o, 4, NULL));
                    } else {
                        OK(cuda_op_matmul(dy, CUDA_F32, dx, w, CUDA_BF16, M, DK, D, 0, NULL));
                        OK(cuda_op_matmul(dy, CUDA_F32, dx, w + DK * D, CUDA_BF16, M, DK, D, 0, NULL));
                        OK(cuda_op_matmul(dy, CUDA_BF16, dx, w + 2 * DK * D, CUDA_BF16, M, DV, D, 0, NULL));
                        OK(cuda_op_matmul(dy, CUDA_F32, dx, w + (2 * DK + DV) * D, CUDA_BF16, M, DV, D, 0, NULL));
                    }
                } else if (kind == 1) {
                    name = "wo 2048 x 4096 (+ residual)";
                    bytes = 2 * D * DV;
                    single(dy, dx, w, M, D, DV, 1, gemv);
                } else if (kind == 2) {
                    name = "fc1, gate 2 x 2816 x 2048, GLU";
                    bytes = 2 * 2 * F * D;
                    if (gemv) OK(cuda_op_gemv_glu(dy, dx, w, w + F * D, M, F, D, CUDA_ACT_SWISH, NULL));
                    else {
                        OK(cuda_op_matmul(dy, CUDA_F32, dx, w, CUDA_BF16, M, F, D, 0, NULL));
                        OK(cuda_op_matmul((float *)dy + MM * F, CUDA_F32, dx, w + F * D, CUDA_BF16, M, F, D, 0, NULL));
                    }
                } else if (kind == 3) {
                    name = "fc2 2048 x 2816 (+ residual)";
                    bytes = 2 * D * F;
                    single(dy, dx, w, M, D, F, 1, gemv);
                } else {
                    name = "logits 32000 x 2048";
                    bytes = 2 * V * D;
                    single(dy, dx, w, M, V, D, 0, gemv);
                }
            }
            OK(retnet_cuda_sync(NULL));
            const double us = (now_s() - t0) / reps * 1e6;
            printf("%-34s %3d %10.2f %10.0f\n", name, M, us, bytes / us * 1e-3);
        }
    }
    retnet_cuda_free(dw), retnet_cuda_free(dx), retnet_cuda_free(dy);
}

int main(int argc, char **argv) {
    if (!cuda_test_start("test_cuda_gemv", &seed0)) return TEST_SUMMARY();
    if (argc > 1 && !strcmp(argv[1], "--bench")) {
        bench();
        retnet_cuda_shutdown();
        return 0;
    }
    TEST_ONLY(argc, argv); /* names: only those tests (under compute-sanitizer) */
    RUN_IF(test_products);
    RUN_IF(test_glu);
    RUN_IF(test_rope);
    RUN_IF(test_gelu);
    RUN_IF(test_rms_chain);
    RUN_IF(test_refusals_and_cublas);
    retnet_cuda_shutdown();
    return TEST_SUMMARY();
}
