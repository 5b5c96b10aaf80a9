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

/*
 * Dot products with 16 independent lanes: they vectorise without reassociating any one sum,
 * so a column's value depends on nothing but j (not on the thread, the split or the batch).
 * One weight row at a time: dotting 4 rows at once (sharing the loads of x) measured 2x
 * slower here, the interleaved rows defeating the hardware prefetcher.
 */
static inline float bf16f(uint16_t b) {
    uint32_t u = (uint32_t)b << 16; /* bf16 is float32's upper half */
    float w;
    memcpy(&w, &u, sizeof w);
    return w;
}

/* GCC/clang vector extensions (portable C, no intrinsics): two 8-lane vectors are the 16
 * lanes. Unaligned loads go through memcpy. */
typedef float v8f __attribute__((vector_size(32)));
typedef uint16_t v8h __attribute__((vector_size(16)));
typedef uint32_t v8u __attribute__((vector_size(32)));

static inline v8f load_f(const float *p) { v8f v; memcpy(&v, p, sizeof v); return v; }
static inline v8f load_h(const uint16_t *p) {
    v8h h;
    memcpy(&h, p, sizeof h);
    v8u u = __builtin_convertvector(h, v8u) << 16;
    v8f f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float reduce16(v8f lo, v8f hi) {
    float s = 0;
    for (int l = 0; l < 8; l++) s += lo[l];
    for (int l = 0; l < 8; l++) s += hi[l];
    return s;
}

/* The last n % 16 elements go through the same vector step, zero-padded: scalar tails
 * would let the compiler contract or vectorise them differently in the two kernels. */
#define DOT_BODY(LOAD, W)                                                                \
    v8f lo = {0}, hi = {0};                                                              \
    int64_t i = 0;                                                                       \
    for (; i + 16 <= n; i += 16) {                                                       \
        lo += load_f(a + i) * LOAD(b + i);                                               \
        hi += load_f(a + i + 8) * LOAD(b + i + 8);                                       \
    }                                                                                    \
    if (i < n) {                                                                         \
        float ta[16] = {0}, tb[16] = {0};                                                \
        for (int64_t t = i; t < n; t++) ta[t - i] = a[t], tb[t - i] = W(b[t]);           \
        lo += load_f(ta) * load_f(tb);                                                   \
        hi += load_f(ta + 8) * load_f(tb + 8);                                           \
    }                                                                                    \
    return reduce16(lo, hi);

#define F32(x) (x)
static inline float dot(const float *a, const float *b, int64_t n) { DOT_BODY(load_f, F32) }
static inline float dot_bf16(const float *a, const uint16_t *b, int64_t n) {
    DOT_BODY(load_h, bf16f)
}

float op_dot(const float *a, const float *b, int64_t n) { return dot(a, b, n); }

/* Columns j0..j1-1 of y (M, N) = x (M, K) w(N, K)^T [+ y], serially: each weight row is
 * read once and dotted with every row of x. */
#define MATVEC_COLS(DOT1)                                                                \
    for (int64_t j = j0; j < j1; j++)                                                    \
        for (int64_t i = 0; i < M; i++) {                                                \
            float v = DOT1(x + i * K, w + j * K, K);                                      \
            y[i * N + j] = accumulate ? y[i * N + j] + v : v;                            \
        }

void op_matvec_cols(float *y, const float *x, const float *w, int64_t M, int64_t N, int64_t K,
                    int64_t j0, int64_t j1, int accumulate) {
    MATVEC_COLS(dot)
}

void op_matvec_cols_bf16(float *y, const float *x, const uint16_t *w, int64_t M, int64_t N,
                         int64_t K, int64_t j0, int64_t j1, int accumulate) {
    MATVEC_COLS(dot_bf16)
}

/* Columns in blocks of MATVEC_BLOCK per task: both cores stream disjoint weight rows. The
 * region is entered only when there is enough work for two threads: libgomp allocates a
 * team for every region it runs on one thread. */
#define MATVEC_BLOCK 16
#define MATVEC_PAR_MIN 32768

/* y = x W^T [+ y] for a few rows, W float32 (w) or bf16 (wb), by column blocks. */
static void matvec_blocks(float *y, const float *x, const float *w, const uint16_t *wb,
                          int64_t M, int64_t N, int64_t K, int accumulate) {
    if (N * K <= MATVEC_PAR_MIN || omp_get_max_threads() == 1) {
        if (wb) op_matvec_cols_bf16(y, x, wb, M, N, K, 0, N, accumulate);
        else op_matvec_cols(y, x, w, M, N, K, 0, N, accumulate);
        return;
    }
    const int64_t nb = (N + MATVEC_BLOCK - 1) / MATVEC_BLOCK;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        int64_t j0 = b * MATVEC_BLOCK, j1 = j0 + MATVEC_BLOCK < N ? j0 + MATVEC_BLOCK : N;
        if (wb) op_matvec_cols_bf16(y, x, wb, M, N, K, j0, j1, accumulate);
        else op_matvec_cols(y, x, w, M, N, K, j0, j1, accumulate);
    }
}

void op_matmul_bf16(float *y, const float *x, const uint16_t *w, int64_t M, int64_t N,
                    int64_t K, int accumulate) {
    matvec_blocks(y, x, NULL, w, M, N, K, accumulate);
}

void op_bf16_to_f32(float *dst, const uint16_t *src, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) dst[i] = bf16f(src[i]);
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
    matvec_blocks(y, x, w, NULL, M, N, K, accumulate);
}

/* Backward of y = x W^T (ops.h; += into both): dx (M, K) += dy W;  dw (N, K) += dy^T x. */
void op_matmul_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                        int64_t M, int64_t N, int64_t K) {
    if (dx) op_gemm(0, 0, M, K, N, 1.0f, dy, N, w, K, 1.0f, dx, K);
    if (dw) op_gemm(1, 0, N, K, M, 1.0f, dy, N, x, K, 1.0f, dw, K);
}
