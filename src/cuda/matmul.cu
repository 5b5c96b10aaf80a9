/*
 * matmul.cu: matrix products through cuBLASLt (src/ops/matmul.c's counterpart). Row-major
 * products are computed as their column-major transposes: C^T = op(B)^T op(A)^T, so cuBLAS's
 * first operand is our B. Accumulation is fp32 always: bf16 inputs use the tensor cores, and
 * fp32 inputs an exact SGEMM (compute type CUBLAS_COMPUTE_32F, never TF32).
 *
 * The algorithm for each shape comes from cuBLASLt's heuristic, cached (the heuristic costs
 * about as much as a small product), among those whose split-K partial sums stay fp32;
 * shapes cuBLASLt has no algorithm for fall back to cublasGemmEx with the same types (and
 * cuBLAS's pedantic math mode: no TF32, no reduced-precision reductions).
 */
#include "cuda/common.cuh"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <string.h>

typedef struct {
    int ta, tb, abt, ct, beta0;
    int64_t M, N, K, lda, ldb, ldc;
    int alA, alB, alC, alCin; /* pointer alignments, bytes (up to 256) */
} gemm_key;

typedef struct {
    gemm_key k;
    int used, found;
    cublasLtMatmulAlgo_t algo;
} gemm_plan;

#define PLANS 128
static gemm_plan plans[PLANS];
static int plan_next;

static int align_of(const void *p) {
    uintptr_t u = (uintptr_t)p;
    int a = 1;
    while (a < 256 && !(u & (uintptr_t)a)) a <<= 1;
    return a;
}

/* C = beta C (the K = 0 product); beta 0 writes zeros without reading C. */
template <typename T>
__global__ void scale_kernel(T *C, int64_t M, int64_t N, int64_t ldc, float beta) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < M * N;
         i += (int64_t)gridDim.x * blockDim.x) {
        T *c = C + (i / N) * ldc + i % N;
        float v = beta == 0.0f ? 0.0f : beta * (float)*c;
        *c = (T)v;
    }
}

#define LT_TRY(call, what)                                                               \
    do {                                                                                 \
        cublasStatus_t st_ = (call);                                                     \
        if (st_ != CUBLAS_STATUS_SUCCESS) {                                              \
            status = retnet_fail(RETNET_EDEVICE, "CUDA: %s: %s (matmul.cu:%d; M %lld N %lld " \
                                 "K %lld)", what, cublasGetStatusString(st_), __LINE__,  \
                                 (long long)M, (long long)N, (long long)K);              \
            goto done;                                                                   \
        }                                                                                \
    } while (0)

/* The product with the addend read from Cin (same layout as C; Cin == C: in place). */
static retnet_status gemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                          const void *A, int64_t lda, const void *B, int64_t ldb,
                          cuda_dtype ab_type, float beta, const void *Cin, void *C, int64_t ldc,
                          cuda_dtype c_type, cuda_stream s) {
    retnet_status status = cuda_ensure_init();
    if (status) return status;
    if (M < 0 || N < 0 || K < 0)
        return retnet_fail(RETNET_EINVAL, "cuda_op_gemm: negative size (M %lld N %lld K %lld)",
                           (long long)M, (long long)N, (long long)K);
    if (ab_type == CUDA_F32 && c_type != CUDA_F32)
        return retnet_fail(RETNET_EINVAL, "cuda_op_gemm: fp32 inputs need an fp32 output");
    if (ldc < N || lda < (transA ? M : K) || ldb < (transB ? K : N))
        return retnet_fail(RETNET_EINVAL, "cuda_op_gemm: a leading dimension is too small "
                           "(lda %lld ldb %lld ldc %lld for M %lld N %lld K %lld)",
                           (long long)lda, (long long)ldb, (long long)ldc, (long long)M,
                           (long long)N, (long long)K);
    if (M == 0 || N == 0) return RETNET_OK;
    cudaStream_t cs = (cudaStream_t)s;
    if (Cin != C && beta != 0.0f && (K == 0 || alpha == 0.0f)) {
        /* only the addend: copy it, then scale in place */
        const size_t es = c_type == CUDA_F32 ? 4 : 2;
        CUDA_TRY(cudaMemcpy2DAsync(C, es * (size_t)ldc, Cin, es * (size_t)ldc, es * (size_t)N,
                                   (size_t)M, cudaMemcpyDeviceToDevice, cs), "gemm addend copy");
        Cin = C;
    }
    if (K == 0 || alpha == 0.0f) {
        if (beta == 1.0f) return RETNET_OK;
        if (c_type == CUDA_F32)
            scale_kernel<float><<<cuda_blocks(M * N, 256, 4096), 256, 0, cs>>>(
                (float *)C, M, N, ldc, beta);
        else
            scale_kernel<__nv_bfloat16><<<cuda_blocks(M * N, 256, 4096), 256, 0, cs>>>(
                (__nv_bfloat16 *)C, M, N, ldc, beta);
        CUDA_LAUNCHED("gemm scale_kernel");
        return RETNET_OK;
    }

    if (ab_type == CUDA_BF16 && !transA && transB && alpha == 1.0f &&
        (beta == 0.0f || beta == 1.0f) && ldb == K && !((uintptr_t)B & 15) &&
        CUDA_GEMV_SINGLE(M, N, K) && cuda_gemv_suits(M, K, A, lda)) {
        /* a few rows of x (decoding): gemv.cu reads the weights once, near the copy rate */
        cuda_gemv_out o = {(const cuda_bf16 *)B, C, c_type, N, ldc, beta == 1.0f ? Cin : NULL};
        return cuda_op_gemv_multi((const cuda_bf16 *)A, M, K, lda, &o, 1, s);
    }

    {
        /* cuBLASLt's fast kernels read and write whole 16-byte vectors along each operand's
         * contiguous extent: one that is not a multiple of 8 elements (the paper's
         * vocabulary, 50257: the output layer's N, its gradient's K and M) leaves them a
         * cutlass "align1" kernel, 4-10x slower. There the product runs as its aligned part
         * and the few rows or columns left (the paper's 1.3B: a decoding step at B = 256
         * 9.30 -> 8.82 ms, a training step 387 -> 327 ms: dev/cuda/runs/next99.sh). */
        const size_t ea = ab_type == CUDA_BF16 ? 2 : 4, ec = c_type == CUDA_BF16 ? 2 : 4;
        const bool al = align_of(A) >= 16 && align_of(B) >= 16 && align_of(C) >= 16 &&
                        align_of(Cin) >= 16 && !((size_t)lda * ea % 16) &&
                        !((size_t)ldb * ea % 16) && !((size_t)ldc * ec % 16);
        const char *a = (const char *)A, *b = (const char *)B, *ci = (const char *)Cin;
        char *c = (char *)C;
        if (al && N > 8 && N % 8) { /* C's rows (and B's, untransposed) */
            const int64_t n8 = N - N % 8;
            retnet_status st = gemm(transA, transB, M, n8, K, alpha, A, lda, B, ldb, ab_type, beta,
                                    Cin, C, ldc, c_type, s);
            if (st) return st;
            return gemm(transA, transB, M, N - n8, K, alpha, A, lda,
                        b + (transB ? (size_t)n8 * ldb : (size_t)n8) * ea, ldb, ab_type, beta,
                        ci + n8 * ec, c + n8 * ec, ldc, c_type, s);
        }
        if (al && K > 8 && K % 8 && (!transA || transB)) { /* A's rows or B's: the rest added */
            const int64_t k8 = K - K % 8;
            retnet_status st = gemm(transA, transB, M, N, k8, alpha, A, lda, B, ldb, ab_type, beta,
                                    Cin, C, ldc, c_type, s);
            if (st) return st;
            return gemm(transA, transB, M, N, K - k8, alpha,
                        a + (transA ? (size_t)k8 * lda : (size_t)k8) * ea, lda,
                        b + (transB ? (size_t)k8 : (size_t)k8 * ldb) * ea, ldb, ab_type, 1.0f, C, C,
                        ldc, c_type, s);
        }
        if (al && transA && M > 8 && M % 8) { /* A transposed: its rows run along M */
            const int64_t m8 = M - M % 8;
            retnet_status st = gemm(transA, transB, m8, N, K, alpha, A, lda, B, ldb, ab_type, beta,
                                    Cin, C, ldc, c_type, s);
            if (st) return st;
            return gemm(transA, transB, M - m8, N, K, alpha, a + (size_t)m8 * ea, lda, B, ldb,
                        ab_type, beta, ci + (size_t)m8 * ldc * ec, c + (size_t)m8 * ldc * ec, ldc,
                        c_type, s);
        }
    }

    const cudaDataType_t abt = ab_type == CUDA_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    const cudaDataType_t ct = c_type == CUDA_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    const cublasOperation_t opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N; /* cuBLAS's A */
    const cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N; /* cuBLAS's B */
    cublasLtHandle_t lt = (cublasLtHandle_t)cuda_lt_handle();
    size_t ws_bytes;
    void *ws = cuda_lt_workspace(&ws_bytes);

    gemm_key key;
    memset(&key, 0, sizeof key); /* padding too: keys are compared with memcmp */
    key.ta = transA, key.tb = transB, key.abt = ab_type, key.ct = c_type, key.beta0 = beta == 0;
    key.M = M, key.N = N, key.K = K, key.lda = lda, key.ldb = ldb, key.ldc = ldc;
    key.alA = align_of(A), key.alB = align_of(B), key.alC = align_of(C);
    key.alCin = align_of(Cin);

    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    gemm_plan *plan = NULL;
    for (int i = 0; i < PLANS; i++)
        if (plans[i].used && !memcmp(&plans[i].k, &key, sizeof key)) { plan = &plans[i]; break; }

    LT_TRY(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
    LT_TRY(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &opB, sizeof opB),
           "cublasLtMatmulDescSetAttribute");
    LT_TRY(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &opA, sizeof opA),
           "cublasLtMatmulDescSetAttribute");
    /* column-major views: our B is (transB ? K x N : N x K), A (transA ? M x K : K x M),
     * C (N x M), each with its row stride as leading dimension */
    LT_TRY(cublasLtMatrixLayoutCreate(&la, abt, transB ? K : N, transB ? N : K, ldb), "layout B");
    LT_TRY(cublasLtMatrixLayoutCreate(&lb, abt, transA ? M : K, transA ? K : M, lda), "layout A");
    LT_TRY(cublasLtMatrixLayoutCreate(&lc, ct, N, M, ldc), "layout C");

    if (!plan) {
        plan = &plans[plan_next];
        plan_next = (plan_next + 1) % PLANS;
        memset(plan, 0, sizeof *plan);
        plan->k = key;
        LT_TRY(cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
        LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                    &ws_bytes, sizeof ws_bytes), "preference");
        uint32_t al[3] = {(uint32_t)key.alB, (uint32_t)key.alA, (uint32_t)key.alC};
        LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                    &al[0], sizeof al[0]), "preference");
        LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                    &al[1], sizeof al[1]), "preference");
        LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                    &al[2], sizeof al[2]), "preference");
        LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                    &al[2], sizeof al[2]), "preference");
        /* split-K partial sums in fp32 only: the output-type schemes (and the in-place one)
         * add the partials in bf16 when the output is bf16, 2^-9 of each partial (seen on
         * the H200: errors ~2^-11 of sum |x w| for 300x200x512 products) */
        uint32_t schemes = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
        LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                                                    &schemes, sizeof schemes), "preference");
        cublasLtMatmulHeuristicResult_t res;
        int nres = 0;
        cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 1, &res,
                                                           &nres);
        plan->found = st == CUBLAS_STATUS_SUCCESS && nres > 0;
        if (plan->found) plan->algo = res.algo;
        plan->used = 1;
    }

    if (plan->found) {
        LT_TRY(cublasLtMatmul(lt, op, &alpha, B, la, A, lb, &beta, Cin, lc, C, lc, &plan->algo, ws,
                              ws_bytes, cs), "cublasLtMatmul");
    } else {
        /* no cuBLASLt algorithm (unusual strides or alignment): cuBLAS, same types */
        if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || lda > INT32_MAX ||
            ldb > INT32_MAX || ldc > INT32_MAX) {
            status = retnet_fail(RETNET_EUNSUPPORTED, "cuda_op_gemm: no cuBLASLt algorithm and "
                                 "sizes beyond cuBLAS's int (M %lld N %lld K %lld)",
                                 (long long)M, (long long)N, (long long)K);
            goto done;
        }
        if (Cin != C && beta != 0.0f) {
            const size_t es = c_type == CUDA_F32 ? 4 : 2;
            if (cudaMemcpy2DAsync(C, es * (size_t)ldc, Cin, es * (size_t)ldc, es * (size_t)N,
                                  (size_t)M, cudaMemcpyDeviceToDevice, cs) != cudaSuccess) {
                status = retnet_fail(RETNET_EDEVICE, "CUDA: gemm addend copy failed");
                goto done;
            }
        }
        cublasHandle_t bh = (cublasHandle_t)cuda_blas_handle();
        LT_TRY(cublasSetStream(bh, cs), "cublasSetStream");
        LT_TRY(cublasGemmEx(bh, opB, opA, (int)N, (int)M, (int)K, &alpha, B, abt, (int)ldb, A, abt,
                            (int)lda, &beta, C, ct, (int)ldc, CUBLAS_COMPUTE_32F,
                            CUBLAS_GEMM_DEFAULT), "cublasGemmEx");
    }
    CUDA_LAUNCHED("cuda_op_gemm");
done:
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (lc) cublasLtMatrixLayoutDestroy(lc);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (op) cublasLtMatmulDescDestroy(op);
    return status;
}

retnet_status cuda_op_gemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                           const void *A, int64_t lda, const void *B, int64_t ldb,
                           cuda_dtype ab_type, float beta, void *C, int64_t ldc,
                           cuda_dtype c_type, cuda_stream s) {
    return gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, ab_type, beta, C, C, ldc, c_type,
                s);
}

retnet_status cuda_op_matmul_residual(float *y, const float *res, const void *x, const void *w,
                                      cuda_dtype in_type, int64_t M, int64_t N, int64_t K,
                                      cuda_stream s) {
    if (!res) return retnet_fail(RETNET_EINVAL, "cuda_op_matmul_residual: NULL addend");
    return gemm(0, 1, M, N, K, 1.0f, x, K, w, K, in_type, 1.0f, res, y, N, CUDA_F32, s);
}

retnet_status cuda_op_matmul(void *y, cuda_dtype y_type, const void *x, const void *w,
                             cuda_dtype in_type, int64_t M, int64_t N, int64_t K,
                             int accumulate, cuda_stream s) {
    return cuda_op_gemm(0, 1, M, N, K, 1.0f, x, K, w, K, in_type, accumulate ? 1.0f : 0.0f, y, N,
                        y_type, s);
}

retnet_status cuda_op_matmul_backward(void *dx, cuda_dtype dx_type, void *dw,
                                      cuda_dtype dw_type, const void *dy, const void *x,
                                      const void *w, cuda_dtype in_type, int64_t M, int64_t N,
                                      int64_t K, cuda_stream s) {
    retnet_status st = RETNET_OK;
    if (dx) st = cuda_op_gemm(0, 0, M, K, N, 1.0f, dy, N, w, K, in_type, 1.0f, dx, K, dx_type, s);
    if (!st && dw) st = cuda_op_gemm(1, 0, N, K, M, 1.0f, dy, N, x, K, in_type, 1.0f, dw, K, dw_type, s);
    return st;
}
