/*
 * activation.cu: elementwise kernels (src/ops/activation.c's counterpart, same formulas):
 * gelu (exact erf form), swish, the GLU FFN's act(h1) * h2 fused with its backward, the
 * residual add, and the fp32 <-> bf16 conversions. Grid-stride loops; every kernel is one
 * read and one write of each element.
 *   gelu'(x)  = Phi(x) + x phi(x) = 0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi)
 *   swish'(x) = s (1 + x (1 - s)),  s = sigmoid(x)
 */
#include "cuda/common.cuh"

__device__ __forceinline__ float gelu_f(float x) {
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}
__device__ __forceinline__ float gelu_d(float x) {
    return 0.5f * (1.0f + erff(x * 0.70710678118654752f)) +
           x * 0.39894228040143268f * expf(-0.5f * x * x);
}
__device__ __forceinline__ float swish_f(float x) { return x / (1.0f + expf(-x)); }
__device__ __forceinline__ float swish_d(float x) {
    float s = 1.0f / (1.0f + expf(-x));
    return s * (1.0f + x * (1.0f - s));
}

#define GRID_LOOP(i, n)                                                                  \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n);            \
         i += (int64_t)gridDim.x * blockDim.x)

template <int ACT>
__global__ void act_kernel(float *y, const float *x, int64_t n) {
    GRID_LOOP(i, n) y[i] = ACT == CUDA_ACT_GELU ? gelu_f(x[i]) : swish_f(x[i]);
}
template <int ACT>
__global__ void act_bwd_kernel(float *dx, const float *dy, const float *x, int64_t n) {
    GRID_LOOP(i, n) dx[i] += dy[i] * (ACT == CUDA_ACT_GELU ? gelu_d(x[i]) : swish_d(x[i]));
}
template <int ACT>
__global__ void glu_kernel(float *a, const float *h1, const float *h2, int64_t n) {
    GRID_LOOP(i, n) {
        float u = h1[i], v = h2[i];
        a[i] = (ACT == CUDA_ACT_GELU ? gelu_f(u) : swish_f(u)) * v;
    }
}
/* As model.c composes it: dh2 += da act(h1); dh1 += act'(h1) (da h2). */
template <int ACT>
__global__ void glu_bwd_kernel(float *dh1, float *dh2, const float *da, const float *h1,
                               const float *h2, int64_t n) {
    GRID_LOOP(i, n) {
        float u = h1[i], g = da[i];
        if (dh2) dh2[i] += g * (ACT == CUDA_ACT_GELU ? gelu_f(u) : swish_f(u));
        if (dh1) dh1[i] += (g * h2[i]) * (ACT == CUDA_ACT_GELU ? gelu_d(u) : swish_d(u));
    }
}
/* bf16 outputs, overwritten: the FFN's operands of products (cuda.h's _bf16 variants) */
template <int ACT>
__global__ void act_bf16_kernel(uint16_t *y, const float *x, int64_t n) {
    GRID_LOOP(i, n) y[i] = f32_to_bf16_bits(ACT == CUDA_ACT_GELU ? gelu_f(x[i]) : swish_f(x[i]));
}
template <int ACT>
__global__ void act_bwd_bf16_kernel(uint16_t *dx, const float *dy, const float *x, int64_t n) {
    GRID_LOOP(i, n)
        dx[i] = f32_to_bf16_bits(dy[i] * (ACT == CUDA_ACT_GELU ? gelu_d(x[i]) : swish_d(x[i])));
}
template <int ACT>
__global__ void glu_bf16_kernel(uint16_t *a, const float *h1, const float *h2, int64_t n) {
    GRID_LOOP(i, n) {
        float u = h1[i], v = h2[i];
        a[i] = f32_to_bf16_bits((ACT == CUDA_ACT_GELU ? gelu_f(u) : swish_f(u)) * v);
    }
}
template <int ACT>
__global__ void glu_bwd_bf16_kernel(uint16_t *dh1, uint16_t *dh2, const float *da,
                                    const float *h1, const float *h2, int64_t n) {
    GRID_LOOP(i, n) {
        float u = h1[i], g = da[i];
        dh2[i] = f32_to_bf16_bits(g * (ACT == CUDA_ACT_GELU ? gelu_f(u) : swish_f(u)));
        dh1[i] = f32_to_bf16_bits((g * h2[i]) * (ACT == CUDA_ACT_GELU ? gelu_d(u) : swish_d(u)));
    }
}
__global__ void add_kernel(float *y, const float *a, const float *b, int64_t n) {
    GRID_LOOP(i, n) y[i] = a[i] + b[i];
}
__global__ void to_bf16_kernel(uint16_t *y, const float *x, int64_t n) {
    GRID_LOOP(i, n) y[i] = f32_to_bf16_bits(x[i]);
}
__global__ void from_bf16_kernel(float *y, const uint16_t *x, int64_t n) {
    GRID_LOOP(i, n) y[i] = bf16_bits_to_f32(x[i]);
}

/* Blocks for an elementwise launch: enough to fill the GPU many times over, then the loop. */
static unsigned ew_blocks(int64_t n) {
    int sms = cuda_sm_count();
    return cuda_blocks(n, 256, (int64_t)(sms > 0 ? sms : 132) * 16);
}

#define EW_PROLOGUE(fn)                                                                  \
    retnet_status st_ = cuda_ensure_init();                                              \
    if (st_) return st_;                                                                 \
    if (n < 0) return retnet_fail(RETNET_EINVAL, "%s: n %lld < 0", fn, (long long)n);    \
    if (n == 0) return RETNET_OK;                                                        \
    cudaStream_t cs = (cudaStream_t)s;

#define EW_LAUNCH(kernel, fn, ...)                                                       \
    do {                                                                                 \
        kernel<<<ew_blocks(n), 256, 0, cs>>>(__VA_ARGS__);                               \
        CUDA_LAUNCHED(fn);                                                               \
        return RETNET_OK;                                                                \
    } while (0)

retnet_status cuda_op_gelu(float *y, const float *x, int64_t n, cuda_stream s) {
    EW_PROLOGUE("cuda_op_gelu");
    EW_LAUNCH(act_kernel<CUDA_ACT_GELU>, "cuda_op_gelu", y, x, n);
}
retnet_status cuda_op_swish(float *y, const float *x, int64_t n, cuda_stream s) {
    EW_PROLOGUE("cuda_op_swish");
    EW_LAUNCH(act_kernel<CUDA_ACT_SWISH>, "cuda_op_swish", y, x, n);
}
retnet_status cuda_op_gelu_backward(float *dx, const float *dy, const float *x, int64_t n,
                                    cuda_stream s) {
    EW_PROLOGUE("cuda_op_gelu_backward");
    EW_LAUNCH(act_bwd_kernel<CUDA_ACT_GELU>, "cuda_op_gelu_backward", dx, dy, x, n);
}
retnet_status cuda_op_swish_backward(float *dx, const float *dy, const float *x, int64_t n,
                                     cuda_stream s) {
    EW_PROLOGUE("cuda_op_swish_backward");
    EW_LAUNCH(act_bwd_kernel<CUDA_ACT_SWISH>, "cuda_op_swish_backward", dx, dy, x, n);
}
retnet_status cuda_op_glu(float *a, const float *h1, const float *h2, int64_t n, cuda_act act,
                          cuda_stream s) {
    EW_PROLOGUE("cuda_op_glu");
    if (act == CUDA_ACT_GELU) EW_LAUNCH(glu_kernel<CUDA_ACT_GELU>, "cuda_op_glu", a, h1, h2, n);
    EW_LAUNCH(glu_kernel<CUDA_ACT_SWISH>, "cuda_op_glu", a, h1, h2, n);
}
retnet_status cuda_op_glu_backward(float *dh1, float *dh2, const float *da, const float *h1,
                                   const float *h2, int64_t n, cuda_act act, cuda_stream s) {
    EW_PROLOGUE("cuda_op_glu_backward");
    if (act == CUDA_ACT_GELU)
        EW_LAUNCH(glu_bwd_kernel<CUDA_ACT_GELU>, "cuda_op_glu_backward", dh1, dh2, da, h1, h2, n);
    EW_LAUNCH(glu_bwd_kernel<CUDA_ACT_SWISH>, "cuda_op_glu_backward", dh1, dh2, da, h1, h2, n);
}
retnet_status cuda_op_add(float *y, const float *a, const float *b, int64_t n, cuda_stream s) {
    EW_PROLOGUE("cuda_op_add");
    EW_LAUNCH(add_kernel, "cuda_op_add", y, a, b, n);
}
retnet_status cuda_op_f32_to_bf16(cuda_bf16 *y, const float *x, int64_t n, cuda_stream s) {
    EW_PROLOGUE("cuda_op_f32_to_bf16");
    EW_LAUNCH(to_bf16_kernel, "cuda_op_f32_to_bf16", y, x, n);
}
retnet_status cuda_op_bf16_to_f32(float *y, const cuda_bf16 *x, int64_t n, cuda_stream s) {
    EW_PROLOGUE("cuda_op_bf16_to_f32");
    EW_LAUNCH(from_bf16_kernel, "cuda_op_bf16_to_f32", y, x, n);
}

retnet_status cuda_op_act_bf16(cuda_bf16 *y, const float *x, int64_t n, cuda_act act,
                               cuda_stream s) {
    EW_PROLOGUE("cuda_op_act_bf16");
    if (act == CUDA_ACT_GELU) EW_LAUNCH(act_bf16_kernel<CUDA_ACT_GELU>, "cuda_op_act_bf16", y, x, n);
    EW_LAUNCH(act_bf16_kernel<CUDA_ACT_SWISH>, "cuda_op_act_bf16", y, x, n);
}
retnet_status cuda_op_act_backward_bf16(cuda_bf16 *dx, const float *dy, const float *x,
                                        int64_t n, cuda_act act, cuda_stream s) {
    EW_PROLOGUE("cuda_op_act_backward_bf16");
    if (act == CUDA_ACT_GELU)
        EW_LAUNCH(act_bwd_bf16_kernel<CUDA_ACT_GELU>, "cuda_op_act_backward_bf16", dx, dy, x, n);
    EW_LAUNCH(act_bwd_bf16_kernel<CUDA_ACT_SWISH>, "cuda_op_act_backward_bf16", dx, dy, x, n);
}
retnet_status cuda_op_glu_bf16(cuda_bf16 *a, const float *h1, const float *h2, int64_t n,
                               cuda_act act, cuda_stream s) {
    EW_PROLOGUE("cuda_op_glu_bf16");
    if (act == CUDA_ACT_GELU) EW_LAUNCH(glu_bf16_kernel<CUDA_ACT_GELU>, "cuda_op_glu_bf16", a, h1, h2, n);
    EW_LAUNCH(glu_bf16_kernel<CUDA_ACT_SWISH>, "cuda_op_glu_bf16", a, h1, h2, n);
}
retnet_status cuda_op_glu_backward_bf16(cuda_bf16 *dh1, cuda_bf16 *dh2, const float *da,
                                        const float *h1, const float *h2, int64_t n,
                                        cuda_act act, cuda_stream s) {
    EW_PROLOGUE("cuda_op_glu_backward_bf16");
    if (!dh1 || !dh2) return retnet_fail(RETNET_EINVAL, "cuda_op_glu_backward_bf16: NULL output");
    if (act == CUDA_ACT_GELU)
        EW_LAUNCH(glu_bwd_bf16_kernel<CUDA_ACT_GELU>, "cuda_op_glu_backward_bf16", dh1, dh2, da,
                  h1, h2, n);
    EW_LAUNCH(glu_bwd_bf16_kernel<CUDA_ACT_SWISH>, "cuda_op_glu_backward_bf16", dh1, dh2, da, h1,
              h2, n);
}
