/*
 * lt_splitk.cu (lab): the 1.3B decoding step's output products (wo 2048 x 4096, fc2 2048 x
 * 2816, each + the residual) and q k v g as one (12288 x 2048) at M = 17-256 rows of x,
 * through cuBLASLt three ways: (a) as matmul.cu asks (heuristic's first algorithm, split-K
 * partials in fp32 through the workspace only); (b) the same with every reduction scheme
 * allowed (fp32 output: the in-place and output-type schemes add in fp32 too); (c) K split
 * by hand into S slices as one strided-batched product into fp32 partials, then one kernel
 * y = res + sum of the partials. Each timed as 50 calls in one CUDA graph (the decoding step
 * is one: lt_common.cuh). Standalone: nvcc -O2 -arch=sm_90a lt_splitk.cu -lcublasLt
 */
#include "lt_common.cuh"

__global__ void reduce_kernel(float *y, const float *res, const float *P, int S, long mn) {
    for (long i = (blockIdx.x * (long)blockDim.x + threadIdx.x) * 4; i < mn;
         i += (long)gridDim.x * blockDim.x * 4) {
        float4 a = res ? *(const float4 *)(res + i) : make_float4(0, 0, 0, 0);
        for (int s = 0; s < S; s++) {
            const float4 p = *(const float4 *)(P + s * mn + i);
            a.x += p.x, a.y += p.y, a.z += p.z, a.w += p.w;
        }
        *(float4 *)(y + i) = a;
    }
}

static cublasLtHandle_t lt;
static void *ws;
static size_t ws_bytes = 32 << 20;

/* one (batched) product: C (S batches of M x N, fp32) [+]= x[:, slice] w[:, slice]^T; returns
 * us per call (graph_us), or -1 where no algorithm */
static float timed(int M, int N, int K, int S, float beta, uint32_t schemes, const void *A,
                   const void *B, float *C, const float *res, float *Pbuf, int reduce) {
    const int Ks = K / S;
    LtProduct pr(M, N, Ks, K, CUDA_R_32F);
    if (S > 1) {
        const int32_t bc = S;
        const int64_t oa = Ks, ob = Ks, oc = (int64_t)M * N;
        for (cublasLtMatrixLayout_t l : {pr.la, pr.lb, pr.lc})
            LK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc, sizeof bc));
        LK(cublasLtMatrixLayoutSetAttribute(pr.la, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &oa, sizeof oa));
        LK(cublasLtMatrixLayoutSetAttribute(pr.lb, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &ob, sizeof ob));
        LK(cublasLtMatrixLayoutSetAttribute(pr.lc, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &oc, sizeof oc));
    }
    cublasLtMatmulHeuristicResult_t r;
    if (pr.heuristics(lt, ws_bytes, schemes, &r, 1) < 1) return -1;
    const float alpha = 1.0f, b = S > 1 ? 0.0f : beta;
    float *out = S > 1 ? Pbuf : C;
    const long mn = (long)M * N;
    return graph_us([&](cudaStream_t st) {
        LK(cublasLtMatmul(lt, pr.op, &alpha, B, pr.la, A, pr.lb, &b, out, pr.lc, out, pr.lc,
                          &r.algo, ws, ws_bytes, st));
        if (S > 1 || reduce) reduce_kernel<<<264, 256, 0, st>>>(C, res, out, S, mn);
    });
}

int main(void) {
    struct { const char *name; int N, K, beta; } P[] = {
        {"wo 2048 x 4096 (+)", 2048, 4096, 1}, {"fc2 2048 x 2816 (+)", 2048, 2816, 1},
        {"fc1|gate 5632 x 2048", 5632, 2048, 0}, {"qkvg 12288 x 2048", 12288, 2048, 0}};
    const int Ms[] = {17, 32, 64, 128, 256};
    const int Ss[] = {2, 4, 8, 16};
    LK(cublasLtCreate(&lt));
    void *A, *B;
    float *C, *R, *Pb;
    CK(cudaMalloc(&ws, ws_bytes));
    CK(cudaMalloc(&A, 2ull * 256 * 4096));
    CK(cudaMalloc(&B, 2ull * 12288 * 4096));
    CK(cudaMalloc(&C, 4ull * 256 * 12288));
    CK(cudaMalloc(&R, 4ull * 256 * 12288));
    CK(cudaMalloc(&Pb, 4ull * 16 * 256 * 12288));
    CK(cudaMemset(A, 0, 2ull * 256 * 4096));
    CK(cudaMemset(B, 0, 2ull * 12288 * 4096));
    CK(cudaMemset(C, 0, 4ull * 256 * 12288));
    CK(cudaMemset(R, 0, 4ull * 256 * 12288));
    const uint32_t fp32 = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE, all = CUBLASLT_REDUCTION_SCHEME_MASK;
    printf("us per product (+ the reduction kernel where split by hand); GB/s of weights for the best\n");
    printf("%-22s %4s %8s %8s", "product", "M", "(a) now", "(b) all");
    for (int s : Ss) printf("  (c) S=%-2d", s);
    printf("  best GB/s\n");
    for (size_t p = 0; p < sizeof P / sizeof P[0]; p++)
        for (int M : Ms) {
            const int N = P[p].N, K = P[p].K;
            const float beta = (float)P[p].beta;
            float a = timed(M, N, K, 1, beta, fp32, A, B, C, NULL, Pb, 0);
            float b = timed(M, N, K, 1, beta, all, A, B, C, NULL, Pb, 0);
            float best = a > 0 ? a : 1e30f;
            if (b > 0 && b < best) best = b;
            printf("%-22s %4d %8.2f %8.2f", P[p].name, M, a, b);
            for (int S : Ss) {
                float c = K % (S * 8) ? -1 : timed(M, N, K, S, beta, fp32, A, B, C, beta ? R : NULL, Pb, 1);
                printf("  %9.2f", c);
                if (c > 0 && c < best) best = c;
            }
            printf("  %8.0f\n", 2.0 * N * K / best * 1e-3);
        }
    return 0;
}
