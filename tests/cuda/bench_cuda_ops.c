/*
 * bench_cuda_ops.c: times the CUDA backend's non-retention kernels at training sizes (16k
 * tokens, d = 2048, d_value = d_ffn = 4096, V = 50257) and prints, per kernel, the median
 * time, the bytes it must move at least (each input read once, each output written once)
 * over that time, and for the matrix products TFLOP/s. The H200's ceilings measured in this
 * workplace: ~4.3 TB/s device-to-device copy, ~790 TFLOP/s bf16 products.
 * Host timing around retnet_cuda_sync (each kernel runs long enough that launch overhead is
 * noise), 3 warm-ups, median of 15. Built by `make CUDA=1` as build-cuda/cuda/bench_cuda_ops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuda/cuda.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

#define TRY(call)                                                                        \
    do {                                                                                 \
        if ((call) != RETNET_OK) {                                                       \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, retnet_errmsg()); \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

static void *dalloc(size_t bytes, float fill) {
    void *d;
    TRY(retnet_cuda_malloc(&d, bytes, "bench buffer"));
    size_t n = bytes / sizeof(float);
    float *h = malloc(n * sizeof(float));
    uint64_t s = 88172645463325252ull ^ bytes;
    for (size_t i = 0; i < n; i++) { /* small random values (never zeros: see METHOD.md) */
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        h[i] = fill * ((float)(s >> 40) / (float)(1 << 24) - 0.5f);
    }
    TRY(retnet_cuda_upload(d, h, n * sizeof(float)));
    free(h);
    return d;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define REPS 15
#define BENCH(name, bytes, flops, call)                                                  \
    do {                                                                                 \
        double t_[REPS];                                                                 \
        for (int r_ = 0; r_ < 3; r_++) TRY(call);                                        \
        TRY(retnet_cuda_sync(NULL));                                                     \
        for (int r_ = 0; r_ < REPS; r_++) {                                              \
            double t0_ = now();                                                          \
            TRY(call);                                                                   \
            TRY(retnet_cuda_sync(NULL));                                                 \
            t_[r_] = now() - t0_;                                                        \
        }                                                                                \
        qsort(t_, REPS, sizeof(double), cmpd);                                           \
        double m_ = t_[REPS / 2];                                                        \
        printf("%-34s %9.1f us  %7.0f GB/s", name, m_ * 1e6, (double)(bytes) / m_ * 1e-9); \
        if ((flops) > 0) printf("  %6.0f TFLOP/s", (double)(flops) / m_ * 1e-12);        \
        printf("   (spread %.0f%%)\n", 100 * (t_[REPS - 1] - t_[0]) / m_);              \
    } while (0)

int main(void) {
    if (retnet_cuda_device_count() == 0) {
        printf("bench_cuda_ops: no CUDA device (%s)\n", retnet_errmsg());
        return 0;
    }
    TRY(retnet_cuda_init(0));
    printf("%s\n", retnet_cuda_device_name());
    const int64_t n = 16384, d = 2048, dv = 4096, h = 8, V = 50257, nce = 4096;
    const size_t F = sizeof(float);
    float *x = dalloc(n * dv * F, 2), *y = dalloc(n * dv * F, 2), *g = dalloc(n * dv * F, 2);
    float *dx = dalloc(n * dv * F, 1), *dg = dalloc(n * dv * F, 1), *w = dalloc(dv * F, 1);
    float *b = dalloc(dv * F, 1), *dw = dalloc(dv * F, 1), *db = dalloc(dv * F, 1);
    float *logits = dalloc(nce * V * F, 16), *dl = dalloc(nce * V * F, 1), *loss = dalloc(nce * F, 1);
    float *table = dalloc(V * d * F, 1), *dtable = dalloc(V * d * F, 1);
    int32_t *htok = malloc(n * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) htok[i] = (int32_t)((i * 2654435761u) % 30000); /* repeats */
    int32_t *tok, *tgt;
    TRY(retnet_cuda_malloc((void **)&tok, n * 4, "tokens"));
    TRY(retnet_cuda_upload(tok, htok, n * 4));
    TRY(retnet_cuda_malloc((void **)&tgt, nce * 4, "targets"));
    TRY(retnet_cuda_upload(tgt, htok, nce * 4));
    double *dsum;
    TRY(retnet_cuda_malloc((void **)&dsum, 8, "sum"));
    /* bf16 operands for the products: 16k x 2048 activations, 4096 x 2048 weights */
    const int64_t M = n, N = dv, K = d;
    uint16_t *xa, *wa, *ya;
    TRY(retnet_cuda_malloc((void **)&xa, M * K * 2, "x bf16"));
    TRY(retnet_cuda_malloc((void **)&wa, N * K * 2, "w bf16"));
    TRY(retnet_cuda_malloc((void **)&ya, M * N * 2, "y bf16"));
    TRY(cuda_op_f32_to_bf16(xa, x, M * K, NULL));
    TRY(cuda_op_f32_to_bf16(wa, x, N * K, NULL));
    const int64_t P = 100 * 1000 * 1000; /* AdamW over 100M parameters */
    float *p = dalloc(P * F, 1), *pg = dalloc(P * F, 1), *pm = dalloc(P * F, 1), *pv = dalloc(P * F, 0);
    uint16_t *pb;
    TRY(retnet_cuda_malloc((void **)&pb, P * 2, "p bf16"));
    retnet_adamw hp = {1e-3f, 0.9f, 0.98f, 1e-8f, 0.05f};

    printf("%-34s %12s  %12s\n", "kernel (size)", "median", "min bytes/t");
    const double nd = (double)n * d * F, ndv = (double)n * dv * F;
    BENCH("matmul bf16->f32 16k x 4096 x 2048", (M * K + N * K) * 2.0 + M * N * 4.0, 2.0 * M * N * K,
          cuda_op_matmul(y, CUDA_F32, xa, wa, CUDA_BF16, M, N, K, 0, NULL));
    BENCH("matmul bf16->bf16 16k x 4096 x 2048", (M * K + N * K + M * N) * 2.0, 2.0 * M * N * K,
          cuda_op_matmul(ya, CUDA_BF16, xa, wa, CUDA_BF16, M, N, K, 0, NULL));
    BENCH("matmul_backward bf16 (dx, dw f32)", (M * K + N * K + M * N) * 2.0 + (M * K + N * K) * 8.0,
          4.0 * M * N * K,
          cuda_op_matmul_backward(x, CUDA_F32, dx, CUDA_F32, ya, xa, wa, CUDA_BF16, M, N, K, NULL));
    BENCH("matmul f32 (SGEMM) 16k x 4096 x 2048", (M * K + N * K + M * N) * 4.0, 2.0 * M * N * K,
          cuda_op_matmul(y, CUDA_F32, x, g, CUDA_F32, M, N, K, 0, NULL));
    BENCH("layernorm 16k x 2048", 2 * nd, 0, cuda_op_layernorm(y, x, w, b, n, d, 1e-6f, NULL));
    BENCH("rmsnorm 16k x 2048", 2 * nd, 0, cuda_op_rmsnorm(y, x, w, n, d, 1e-6f, NULL));
    BENCH("layernorm_backward (dx dw db)", 4 * nd, 0,
          cuda_op_layernorm_backward(dx, dw, db, y, x, w, n, d, 1e-6f, NULL));
    BENCH("head_norm_gate group 16k x 8x512", 3 * ndv, 0,
          cuda_op_head_norm_gate(y, x, g, w, b, n, (int)h, (int)(dv / h), 1e-5f, 1, NULL));
    BENCH("head_norm_gate_backward group", 7 * ndv, 0,
          cuda_op_head_norm_gate_backward(dx, dg, dw, db, y, x, g, w, b, n, (int)h, (int)(dv / h),
                                          1e-5f, 1, NULL));
    /* the 1.3B training step's norms: rmsnorm (bf16 out) at d 2048 and its backward with the
     * rounded dx copy (dx f32 +=: read and written), the rms head norm (8 heads of 512, w
     * shared, gated) with bf16 outputs */
    BENCH("rmsnorm_bf16 16k x 2048", 1.5 * nd, 0,
          cuda_op_rmsnorm_bf16(ya, x, w, n, d, 1e-6f, NULL));
    BENCH("rmsnorm_backward_round (dx dw)", 4.5 * nd, 0,
          cuda_op_rmsnorm_backward_round(dx, ya, dw, y, x, w, n, d, 1e-6f, NULL));
    BENCH("head_norm_gate_bf16 rms 16k x 8x512", 2.5 * ndv, 0,
          cuda_op_head_norm_gate_bf16(ya, x, g, w, NULL, n, (int)h, (int)(dv / h), 1e-5f, 0, NULL));
    BENCH("head_norm_gate_backward_bf16 rms", 4 * ndv, 0,
          cuda_op_head_norm_gate_backward_bf16(ya, (cuda_bf16 *)dx, dw, NULL, y, x, g, w, NULL, n,
                                               (int)h, (int)(dv / h), 1e-5f, 0, NULL, NULL));
    /* the paper preset's: the groupnorm head norm (weights per head), then RETNET.md §3's
     * rows after it, in their own pass and in the head norm's */
    BENCH("head_norm_gate_backward_bf16 group", 4 * ndv, 0,
          cuda_op_head_norm_gate_backward_bf16(ya, (cuda_bf16 *)dx, dw, db, y, x, g, w, b, n,
                                               (int)h, (int)(dv / h), 1e-5f, 1, NULL, NULL));
    {
        float *rf = dalloc(n * h * F, 1), *rr = dalloc(n * h * F, 4);
        uint16_t *dr8;
        TRY(retnet_cuda_malloc((void **)&dr8, n * h * 8 * 2, "dr8"));
        const cuda_rows_grad rows = {rf, rr, (cuda_bf16 *)dr8};
        BENCH("retention_normalize_backward", 2.5 * ndv, 0,
              cuda_retention_normalize_backward((cuda_bf16 *)ya, x, rf, rr, (cuda_bf16 *)dr8,
                                                n / 2048, 2048, (int)h, (int)(dv / h), NULL));
        BENCH("head_norm_gate_backward_bf16 g+rows", 4 * ndv, 0,
              cuda_op_head_norm_gate_backward_bf16(ya, (cuda_bf16 *)dx, dw, db, y, x, g, w, b, n,
                                                   (int)h, (int)(dv / h), 1e-5f, 1, &rows, NULL));
    }
    BENCH("rope paper 16k x 8 heads x 256", 2 * nd, 0,
          cuda_op_rope(x, d, 1, n, (int)h, (int)(d / h), NULL, 0, 10000.0, 1.0f, NULL));
    BENCH("gelu 16k x 4096", 2 * ndv, 0, cuda_op_gelu(y, x, n * dv, NULL));
    BENCH("glu_backward swish 16k x 4096", 5 * ndv, 0,
          cuda_op_glu_backward(dx, dg, y, x, g, n * dv, CUDA_ACT_SWISH, NULL));
    BENCH("embed 16k x 2048", 2 * nd, 0, cuda_op_embed(y, table, tok, n, d, V, 1.0f, NULL));
    BENCH("embed_backward 16k x 2048 (V 50257)", 3 * nd, 0,
          cuda_op_embed_backward(dtable, y, tok, n, d, V, 1.0f, NULL));
    BENCH("cross_entropy 4096 x 50257 (+dlogits)", 2.0 * nce * V * F, 0,
          cuda_op_cross_entropy(dl, loss, logits, tgt, nce, V, 1.0f / nce, NULL));
    BENCH("cross_entropy loss only", 1.0 * nce * V * F, 0,
          cuda_op_cross_entropy(NULL, loss, logits, tgt, nce, V, 1.0f, NULL));
    { /* training's: 16k rows 16 bytes apart (the model's padding), the gradient in bf16 */
        const int64_t ld = (V + 7) / 8 * 8;
        float *lg = dalloc(n * ld * F, 16), *ls = dalloc(n * F, 1);
        void *g16 = dalloc(n * ld * 2, 1);
        BENCH("cross_entropy_bf16 16k x 50257 (training)", n * V * (F + 2.0), 0,
              cuda_op_cross_entropy_bf16((cuda_bf16 *)g16, ls, lg, tok, n, V, ld, 1.0f / n, NULL));
        retnet_cuda_free(lg), retnet_cuda_free(ls), retnet_cuda_free(g16);
    }
    BENCH("sumsq 100M", 1.0 * P * F, 0, cuda_op_sumsq(dsum, pg, P, NULL));
    BENCH("adamw 100M (+bf16 copy)", P * (4.0 * 7 + 2), 0,
          cuda_op_adamw(p, pb, pg, pm, pv, P, 10, &hp, 1, 1.0f, NULL));
    BENCH("f32_to_bf16 100M", P * 6.0, 0, cuda_op_f32_to_bf16(pb, p, P, NULL));
    retnet_cuda_shutdown();
    return 0;
}
