/*
 * matmul.c: matrix products. Large products go to BLAS (OpenBLAS, OpenMP build); a product
 * with few rows (decoding one token per sequence) is memory bound and goes to our own
 * matrix-vector loop over both cores, since sgemm with M=1 is far from the bandwidth bound.
 * Without BLAS (RETNET_BLAS undefined) plain loops compute the same products.
 */
#include "ops.h"

#include <omp.h>
#include <string.h>
#ifdef RETNET_BLAS
#include <cblas.h>
#endif

void op_gemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
             const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
             int64_t ldc) {
    if (M <= 0 || N <= 0) return;
#ifdef RETNET_BLAS
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, alpha, A, (int)lda,
                B, (int)ldb, beta, C, (int)ldc);
#else
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float acc = 0;
            for (int64_t k = 0; k < K; k++) {
                float a = transA ? A[k * lda + i] : A[i * lda + k];
                float b = transB ? B[j * ldb + k] : B[k * ldb + j];
                acc += a * b;
            }
            C[i * ldc + j] = alpha * acc + (beta == 0 ? 0 : beta * C[i * ldc + j]);
        }
#endif
}

/* Dot product with 16 independent lanes: vectorises without reassociating any one sum. */
static inline float dot(const float *a, const float *b, int64_t n) {
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += a[i + j] * b[i + j];
    float s = 0;
    for (int j = 0; j < 16; j++) s += acc[j];
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* The same with bf16 weights: each weight is widened by a shift (bf16 is float32's upper half). */
static inline float dot_bf16(const float *a, const uint16_t *b, int64_t n) {
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) {
            uint32_t u = (uint32_t)b[i + j] << 16;
            float w;
            memcpy(&w, &u, sizeof w);
            acc[j] += a[i + j] * w;
        }
    float s = 0;
    for (int j = 0; j < 16; j++) s += acc[j];
    for (; i < n; i++) {
        uint32_t u = (uint32_t)b[i] << 16;
        float w;
        memcpy(&w, &u, sizeof w);
        s += a[i] * w;
    }
    return s;
}

void op_matmul_bf16(float *y, const float *x, const uint16_t *w, int64_t M, int64_t N,
                    int64_t K, int accumulate) {
#pragma omp parallel for schedule(static) if (N * K > 32768)
    for (int64_t j = 0; j < N; j++) {
        const uint16_t *wj = w + j * K;
        for (int64_t i = 0; i < M; i++) {
            float v = dot_bf16(x + i * K, wj, K);
            y[i * N + j] = accumulate ? y[i * N + j] + v : v;
        }
    }
}

uint16_t op_f32_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

/* Up to this many rows (decoding a batch of sequences one token each), each weight row is
 * read once and dotted with every row of x by the same dot(): the product is bound by
 * reading the weights, and a row's result does not depend on how many rows came with it,
 * so a sequence decoded in a batch gives exactly what it gives alone. */
#define SMALL_M 64

void op_matmul(float *y, const float *x, const float *w, int64_t M, int64_t N, int64_t K,
               int accumulate) {
    if (M > SMALL_M) {
        op_gemm(0, 1, M, N, K, 1.0f, x, K, w, K, accumulate ? 1.0f : 0.0f, y, N);
        return;
    }
    /* Each weight row is read once and used for all M rows of x. */
#pragma omp parallel for schedule(static) if (N * K > 32768)
    for (int64_t j = 0; j < N; j++) {
        const float *wj = w + j * K;
        for (int64_t i = 0; i < M; i++) {
            float v = dot(x + i * K, wj, K);
            y[i * N + j] = accumulate ? y[i * N + j] + v : v;
        }
    }
}

/* Backward of y = x W^T (ops.h; += into both): dx (M, K) += dy W;  dw (N, K) += dy^T x. */
void op_matmul_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                        int64_t M, int64_t N, int64_t K) {
    if (dx) op_gemm(0, 0, M, K, N, 1.0f, dy, N, w, K, 1.0f, dx, K);
    if (dw) op_gemm(1, 0, N, K, M, 1.0f, dy, N, x, K, 1.0f, dw, K);
}
