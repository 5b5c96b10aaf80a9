/*
 * loss.cu: softmax cross-entropy over the vocabulary fused with its gradient
 * (src/ops/loss.c's counterpart), and deterministic sums (the loss total, the gradient
 * norm's square).
 *
 * Cross-entropy, one block per row x (V) with target t:
 *   pass 1 (one read of the row): each thread keeps a running max m and a sum s of
 *     exp(x_j - m) over its columns, rescaling s when m grows ("online softmax"); the block
 *     combines the (m, s) pairs: m = max(m1, m2), s = s1 e^(m1 - m) + s2 e^(m2 - m).
 *     loss = m + log(s) - x_t, in double.
 *   pass 2 (only when the gradient is wanted): dlogits_j = grad_scale (e^(x_j - m) / s - [j = t]),
 *     in fp32 or (cuda_op_cross_entropy_bf16, for training's logits product) rounded to bf16.
 * The exps are float as on the CPU; the CPU's sum is double, ours float per thread and
 * combined by a tree (at most ~V/threads + log2(threads) roundings per term, well under the
 * tests' 1e-6 relative).
 */
#include "cuda/common.cuh"

#define CE_THREADS 512

/* (m, s) <- combination with (m2, s2); products rounded separately, so the combination is
 * symmetric and a butterfly leaves the same bits in every lane. */
__device__ __forceinline__ void ms_combine(float &m, float &s, float m2, float s2) {
    const float mn = fmaxf(m, m2);
    const float a = m == mn ? s : __fmul_rn(s, expf(m - mn));
    const float b = m2 == mn ? s2 : __fmul_rn(s2, expf(m2 - mn));
    m = mn, s = a + b;
}

/* the gradient's element: fp32, or its bf16 rounding (f32_to_bf16_bits, as
 * cuda_op_f32_to_bf16 rounds: the same bits as converting the fp32 gradient afterwards) */
__device__ __forceinline__ void ce_put(float *d, int64_t j, float v) { d[j] = v; }
__device__ __forceinline__ void ce_put(uint16_t *d, int64_t j, float v) {
    d[j] = f32_to_bf16_bits(v);
}

template <class D>
__global__ void __launch_bounds__(CE_THREADS)
ce_kernel(D *dl, float *losses, const float *logits, const int32_t *targets, int64_t V,
          int64_t ld, float grad_scale) {
    __shared__ float shm[32], shs[32];
    const int64_t i = blockIdx.x;
    const float *x = logits + i * ld;
    D *d = dl ? dl + i * ld : NULL;
    const int32_t t = targets[i];
    if (t < 0) { /* ignored row */
        if (threadIdx.x == 0) losses[i] = 0.0f;
        if (d)
            for (int64_t j = threadIdx.x; j < V; j += blockDim.x) ce_put(d, j, 0.0f);
        return;
    }
    const float xt = t < V ? x[t] : 0.0f; /* read before pass 2 may overwrite it (in place) */
    float m = -INFINITY, s = 0.0f;
    for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
        const float v = x[j];
        if (v > m) {
            s = (m == -INFINITY ? 0.0f : s * expf(m - v)) + 1.0f;
            m = v;
        } else {
            s += expf(v - m);
        }
    }
    for (int o = 16; o > 0; o >>= 1)
        ms_combine(m, s, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, s, o));
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if (lane == 0) shm[wid] = m, shs[wid] = s;
    __syncthreads();
    m = lane < nw ? shm[lane] : -INFINITY;
    s = lane < nw ? shs[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1)
        ms_combine(m, s, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, s, o));
    if (threadIdx.x == 0)
        losses[i] = t < V ? (float)((double)m + log((double)s) - (double)xt)
                          : __int_as_float(0x7fc00000); /* target out of range: NaN */
    if (!d) return;
    const float inv = (float)(1.0 / (double)s);
    for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
        const float p = expf(x[j] - m) * inv;
        ce_put(d, j, grad_scale * (j == t ? p - 1.0f : p));
    }
}

template <class D>
static retnet_status cross_entropy(const char *fn, D *dlogits, float *losses,
                                   const float *logits, const int32_t *targets, int64_t n,
                                   int64_t V, int64_t ld, float grad_scale, cuda_stream s) {
    retnet_status st = cuda_ensure_init();
    if (st) return st;
    if (n < 0 || V < 1 || n > INT32_MAX || ld < V)
        return retnet_fail(RETNET_EINVAL, "%s: bad shape (n %lld V %lld row stride %lld)", fn,
                           (long long)n, (long long)V, (long long)ld);
    if (n == 0) return RETNET_OK;
    ce_kernel<D><<<(unsigned)n, CE_THREADS, 0, (cudaStream_t)s>>>(dlogits, losses, logits,
                                                                  targets, V, ld, grad_scale);
    CUDA_LAUNCHED(fn);
    return RETNET_OK;
}

retnet_status cuda_op_cross_entropy(float *dlogits, float *losses, const float *logits,
                                    const int32_t *targets, int64_t n, int64_t V,
                                    float grad_scale, cuda_stream s) {
    return cross_entropy("cuda_op_cross_entropy", dlogits, losses, logits, targets, n, V, V,
                         grad_scale, s);
}

retnet_status cuda_op_cross_entropy_bf16(cuda_bf16 *dlogits, float *losses, const float *logits,
                                         const int32_t *targets, int64_t n, int64_t V,
                                         int64_t ld, float grad_scale, cuda_stream s) {
    if (!dlogits) return retnet_fail(RETNET_EINVAL, "cuda_op_cross_entropy_bf16: no dlogits");
    return cross_entropy("cuda_op_cross_entropy_bf16", (uint16_t *)dlogits, losses, logits,
                         targets, n, V, ld, grad_scale, s);
}

/* ---- deterministic sums: G blocks of partial sums (G a function of n), then one block --- */
#define SUM_THREADS 256
#define SUM_MAX_BLOCKS 1024

template <int SQ>
__global__ void sum_partial_kernel(double *part, const float *x, int64_t n) {
    __shared__ double sh[32];
    double a = 0;
    for (int64_t i = blockIdx.x * (int64_t)SUM_THREADS + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * SUM_THREADS) {
        const double v = x[i];
        a += SQ ? v * v : v;
    }
    a = block_sum(a, sh);
    if (threadIdx.x == 0) part[blockIdx.x] = a;
}

__global__ void sum_final_kernel(double *out, const double *part, int G) {
    __shared__ double sh[32];
    double a = 0;
    for (int i = threadIdx.x; i < G; i += blockDim.x) a += part[i];
    a = block_sum(a, sh);
    if (threadIdx.x == 0) *out = a;
}

template <int SQ>
static retnet_status sum(const char *fn, double *out, const float *x, int64_t n, cuda_stream s) {
    retnet_status st = cuda_ensure_init();
    if (st) return st;
    if (n < 0) return retnet_fail(RETNET_EINVAL, "%s: n %lld < 0", fn, (long long)n);
    const int G = (int)cuda_blocks(n, SUM_THREADS * 8, SUM_MAX_BLOCKS);
    void *scr;
    st = cuda_scratch(&scr, sizeof(double) * G);
    if (st) return st;
    cudaStream_t cs = (cudaStream_t)s;
    sum_partial_kernel<SQ><<<G, SUM_THREADS, 0, cs>>>((double *)scr, x, n);
    CUDA_LAUNCHED(fn);
    sum_final_kernel<<<1, 1024, 0, cs>>>(out, (const double *)scr, G);
    CUDA_LAUNCHED(fn);
    return RETNET_OK;
}

retnet_status cuda_op_sum(double *out, const float *x, int64_t n, cuda_stream s) {
    return sum<0>("cuda_op_sum", out, x, n, s);
}
retnet_status cuda_op_sumsq(double *out, const float *x, int64_t n, cuda_stream s) {
    return sum<1>("cuda_op_sumsq", out, x, n, s);
}
