/*
 * lt_algos.cu (lab): the 1.3B decoding step's products at M = 16, 64, 256 rows of x through
 * cuBLASLt, as src/cuda/matmul.cu asks for them (bf16 inputs, fp32 compute, split-K partials
 * in fp32, 32 MiB workspace), timed for each of the heuristic's first 16 algorithms: how far
 * the heuristic's first choice (the one matmul.cu takes) is from the best, and the weights'
 * read rate and TFLOP/s of each, each timed inside a CUDA graph (lt_common.cuh). next40.sh's
 * run timed launches back to back, so its figures for the small products (M = 16, 64) were
 * largely cublasLtMatmul's host cost (next48.sh). Standalone: nvcc -O2 -arch=sm_90a
 * lt_algos.cu -lcublasLt
 */
#include "lt_common.cuh"

int main(void) {
    struct { const char *name; int N, K, bf16out, beta; } P[] = {
        {"q, k 2048 x 2048", 2048, 2048, 0, 0}, {"v 4096 x 2048 (bf16)", 4096, 2048, 1, 0},
        {"g 4096 x 2048", 4096, 2048, 0, 0},    {"wo 2048 x 4096 (+)", 2048, 4096, 0, 1},
        {"fc1, gate 2816 x 2048", 2816, 2048, 0, 0}, {"fc2 2048 x 2816 (+)", 2048, 2816, 0, 1},
        {"qkvg as one 12288 x 2048", 12288, 2048, 0, 0}, {"logits 32000 x 2048", 32000, 2048, 0, 0}};
    const int Ms[] = {16, 64, 256};
    cublasLtHandle_t lt;
    LK(cublasLtCreate(&lt));
    size_t ws_bytes = 32 << 20;
    void *ws, *A, *B, *C;
    CK(cudaMalloc(&ws, ws_bytes));
    CK(cudaMalloc(&A, 2ull * 256 * 4096));
    CK(cudaMalloc(&B, 2ull * 32000 * 4096));
    CK(cudaMalloc(&C, 4ull * 256 * 32000));
    CK(cudaMemset(A, 0, 2ull * 256 * 4096));
    CK(cudaMemset(B, 0, 2ull * 32000 * 4096));
    CK(cudaMemset(C, 0, 4ull * 256 * 32000));
    printf("%-26s %4s %9s %9s %4s %8s %8s\n", "product", "M", "first us", "best us", "idx",
           "best GB/s", "TFLOP/s");
    for (int mi = 0; mi < 3; mi++)
        for (size_t p = 0; p < sizeof P / sizeof P[0]; p++) {
            const int M = Ms[mi], N = P[p].N, K = P[p].K;
            const cudaDataType_t ct = P[p].bf16out ? CUDA_R_16BF : CUDA_R_32F;
            LtProduct pr(M, N, K, K, ct);
            cublasLtMatmulHeuristicResult_t res[16];
            const int nres = pr.heuristics(lt, ws_bytes, CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE,
                                           res, 16);
            const float alpha = 1.0f, beta = (float)P[p].beta;
            float first = 0, best = 1e30f;
            int bi = -1;
            for (int r = 0; r < nres; r++) {
                if (cublasLtMatmul(lt, pr.op, &alpha, B, pr.la, A, pr.lb, &beta, C, pr.lc, C,
                                   pr.lc, &res[r].algo, ws, ws_bytes, 0) != CUBLAS_STATUS_SUCCESS)
                    continue;
                CK(cudaDeviceSynchronize());
                const float us = graph_us([&](cudaStream_t st) {
                    LK(cublasLtMatmul(lt, pr.op, &alpha, B, pr.la, A, pr.lb, &beta, C, pr.lc, C,
                                      pr.lc, &res[r].algo, ws, ws_bytes, st));
                });
                if (r == 0) first = us;
                if (us < best) best = us, bi = r;
            }
            printf("%-26s %4d %9.2f %9.2f %4d %8.0f %8.1f\n", P[p].name, M, first, best, bi,
                   2.0 * N * K / best * 1e-3, 2.0 * M * N * K / best * 1e-6);
        }
    return 0;
}
