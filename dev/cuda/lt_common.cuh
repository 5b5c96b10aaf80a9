/*
 * lt_common.cuh (lab): what lt_algos.cu, lt_splitk.cu and the GEMM labs share: error checks, a product as
 * src/cuda/matmul.cu asks cuBLASLt for it, and timing inside a CUDA graph.
 */
#ifndef LT_COMMON_CUH
#define LT_COMMON_CUH
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#define CK(x) do { cudaError_t e = (x); if (e) { printf("%s: %s\n", #x, cudaGetErrorString(e)); exit(1); } } while (0)
#define LK(x) do { cublasStatus_t e = (x); if (e) { printf("%s: %d\n", #x, (int)e); exit(1); } } while (0)

/* y (M, N) = the S <= SMAX split-K slices' partial sums part (S, M, N), added in order (the
 * GEMM labs' reduction after their own kernels) */
template <int SMAX>
__global__ void slices_sum_kernel(const float *part, float *y, int MN, int S) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= MN) return;
    float v[SMAX];
#pragma unroll
    for (int k = 0; k < SMAX; k++) v[k] = k < S ? part[(size_t)k * MN + i] : 0.0f;
    float a = 0.0f;
#pragma unroll
    for (int k = 0; k < SMAX; k++)
        if (k < S) a += v[k];
    y[i] = a;
}

/* y (M, N) of type ct = x (M, rows of K) @ w (N, same)^T, bf16, fp32 compute, as matmul.cu
 * forms it (the column-major transpose: w is cuBLAS's A, transposed). kr: the K each product
 * takes, ld: the row stride of x and w (kr < ld: a slice of K). */
struct LtProduct {
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    LtProduct(int M, int N, int kr, int ld, cudaDataType_t ct) {
        const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
        LK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
        LK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT));
        LK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof opN));
        LK(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, kr, N, ld));
        LK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, kr, M, ld));
        LK(cublasLtMatrixLayoutCreate(&lc, ct, N, M, N));
    }
    ~LtProduct() {
        cublasLtMatrixLayoutDestroy(la), cublasLtMatrixLayoutDestroy(lb);
        cublasLtMatrixLayoutDestroy(lc), cublasLtMatmulDescDestroy(op);
    }
    /* the heuristic's first n algorithms with this workspace and reduction-scheme mask */
    int heuristics(cublasLtHandle_t lt, size_t ws_bytes, uint32_t schemes,
                   cublasLtMatmulHeuristicResult_t *res, int n) const {
        cublasLtMatmulPreference_t pref;
        LK(cublasLtMatmulPreferenceCreate(&pref));
        LK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                &ws_bytes, sizeof ws_bytes));
        LK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                                                &schemes, sizeof schemes));
        int got = 0;
        if (cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, n, res, &got) !=
            CUBLAS_STATUS_SUCCESS)
            got = 0;
        cublasLtMatmulPreferenceDestroy(pref);
        return got;
    }
};

/* us per call of call(stream): 3 warm-ups, then 50 calls captured in one CUDA graph, as the
 * decoding step runs them (launched back to back, the host's cost of a small cublasLtMatmul,
 * ~14 us, is what would be timed) */
template <class F> static float graph_us(F call) {
    cudaStream_t st;
    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    for (int i = 0; i < 3; i++) call(st);
    CK(cudaStreamSynchronize(st));
    cudaGraph_t g;
    cudaGraphExec_t ge;
    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < 50; i++) call(st);
    CK(cudaStreamEndCapture(st, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    CK(cudaGraphLaunch(ge, st));
    CK(cudaStreamSynchronize(st));
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0), cudaEventCreate(&e1);
    cudaEventRecord(e0, st);
    CK(cudaGraphLaunch(ge, st));
    cudaEventRecord(e1, st);
    CK(cudaEventSynchronize(e1));
    float ms;
    cudaEventElapsedTime(&ms, e0, e1);
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    cudaGraphExecDestroy(ge), cudaGraphDestroy(g), cudaStreamDestroy(st);
    return ms * 1e3f / 50;
}
#endif
