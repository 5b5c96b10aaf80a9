/*
 * common.cuh: what every .cu file of the backend shares: the error checks that turn CUDA and
 * cuBLAS failures into a retnet_status with a message, the runtime's internal entry points
 * (scratch memory, the cuBLASLt handle), launch-size helpers and device-side helpers (bf16
 * bits, warp and block reductions in double).
 */
#ifndef RETNET_CUDA_COMMON_CUH
#define RETNET_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "internal.h"
}
#include "cuda/cuda.h"
#include "cuda/pdl.cuh"

/* ---- errors ------------------------------------------------------------------------- */
/* Records "CUDA: what: name: text (file:line)" and returns the matching status
 * (allocation failures RETNET_ENOMEM, bad arguments RETNET_EINVAL, the rest RETNET_EDEVICE). */
retnet_status cuda_fail_(cudaError_t e, const char *what, const char *file, int line);
#define CUDA_TRY(call, what)                                                             \
    do {                                                                                 \
        cudaError_t e_ = (call);                                                         \
        if (e_ != cudaSuccess) return cuda_fail_(e_, what, __FILE__, __LINE__);         \
    } while (0)
/* A call that returns a retnet_status: return it if it is an error. */
#define TRY(call)                                                                        \
    do {                                                                                 \
        retnet_status st_ = (call);                                                      \
        if (st_ != RETNET_OK) return st_;                                                \
    } while (0)
/* After a launch: configuration errors show here, errors in the kernel at the next sync. */
#define CUDA_LAUNCHED(what) CUDA_TRY(cudaGetLastError(), what)

/* ---- runtime internals (runtime.cu) ------------------------------------------------- */
/* Initialises device 0 if nothing is initialised yet. */
retnet_status cuda_ensure_init(void);
/* A device buffer of at least `bytes` (grown on demand; shared: one stream at a time). */
retnet_status cuda_scratch(void **p, size_t bytes);
/* The cuBLASLt handle and its workspace; the cuBLAS handle (fallback products). */
void *cuda_lt_handle(void);
void *cuda_lt_workspace(size_t *bytes);
void *cuda_blas_handle(void);
int cuda_sm_count(void);
/* Programmatic dependent launch (cuda_launch below): set by the caller around a chain of
 * launches that may overlap (a decoding step, model_cuda.cu); returns the previous setting.
 * cuda_pdl() is the setting, and false off Hopper. */
int cuda_set_pdl(int on);
int cuda_pdl(void);

/* ---- launch helpers ----------------------------------------------------------------- */
static inline unsigned cuda_blocks(int64_t n, int threads, int64_t cap = 1 << 20) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    return (unsigned)(b < cap ? b : cap);
}

/* A kernel launch, with programmatic dependent launch (pdl.cuh) where cuda_pdl() */
template <typename... KArgs, typename... Args>
static inline cudaError_t cuda_launch(void (*k)(KArgs...), dim3 grid, dim3 block, size_t smem,
                                      cudaStream_t s, Args... args) {
    return pdl_launch(cuda_pdl(), k, grid, block, smem, s, args...);
}

/* ---- device helpers ----------------------------------------------------------------- */
/* bf16 of a float, round to nearest even, NaN kept quiet: bit for bit op_f32_to_bf16. */
__device__ __forceinline__ uint16_t f32_to_bf16_bits(float x) {
    uint32_t u = __float_as_uint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
/* bf16 of computed values by the hardware's conversion: round to nearest even like
 * f32_to_bf16_bits, in one instruction for two values where that takes ~6 integer ones for
 * each; a NaN becomes the canonical NaN (0x7fff), where f32_to_bf16_bits keeps its payload
 * (the rule for conversions and stored values). The norms use it (issue-bound kernels); the
 * elementwise kernels were no faster with it (dev/cuda/runs/next17.sh) and keep f32_to_bf16_bits. */
__device__ __forceinline__ uint16_t bf16_rn(float x) {
    uint16_t u;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(u) : "f"(x));
    return u;
}
__device__ __forceinline__ uint32_t bf16x2_rn(float lo, float hi) { /* lo in the low half */
    uint32_t u;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(u) : "f"(hi), "f"(lo));
    return u;
}
__device__ __forceinline__ float bf16_bits_to_f32(uint16_t b) {
    return __uint_as_float((uint32_t)b << 16);
}
/* 8 bf16 (one 16-byte load) to floats (exact). */
__device__ __forceinline__ void unpack8(const uint4 u, float *f) {
    f[0] = __uint_as_float(u.x << 16), f[1] = __uint_as_float(u.x & 0xffff0000u);
    f[2] = __uint_as_float(u.y << 16), f[3] = __uint_as_float(u.y & 0xffff0000u);
    f[4] = __uint_as_float(u.z << 16), f[5] = __uint_as_float(u.z & 0xffff0000u);
    f[6] = __uint_as_float(u.w << 16), f[7] = __uint_as_float(u.w & 0xffff0000u);
}

/* The activations (src/ops/activation.c's formulas): gelu in its exact erf form, swish. */
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

/* Rotary embedding's angle rate of pair j in a head of dk (rope.cu's rule, cuda.h): half,
 * pairs (j, j + dk/2) at base^(-2j/dk); the paper's, pairs (2j, 2j+1) at base^(-j/(dk/2-1)).
 * Every kernel that rotates (rope.cu's three, gemv.cu's epilogue) forms it here, so their
 * angles, hence their rotations, are the same bits. */
__device__ __forceinline__ double rope_theta(int j, int dk, int half, double base) {
    const int npair = dk / 2;
    return half ? pow(base, -2.0 * j / dk) : npair > 1 ? pow(base, -(double)j / (npair - 1)) : 1.0;
}

/* A pair (a, b) turned by the angle whose cosine and sine are c, s, then scaled:
 * u = (a c - b s) scale, v = (b c + a s) scale, with the contractions spelled out (a c and
 * a s fused, b s and b c rounded), so that every kernel that rotates gives the same bits
 * whatever the compiler would fuse around it. */
__device__ __forceinline__ void rope_rotate(float a, float b, float c, float s, float scale,
                                            float &u, float &v) {
    u = __fmaf_rn(a, c, -(b * s)) * scale;
    v = __fmaf_rn(a, s, b * c) * scale;
}

__device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
/* float sums over a warp, the same fixed butterfly (where fp32 accumulation is the rule) */
__device__ __forceinline__ float warp_sum_f(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum over the block (blockDim.x a multiple of 32, at most 1024) in a fixed order; every
 * thread gets the result. `sh` holds 32 doubles; the call ends with the block in step. */
__device__ __forceinline__ double block_sum(double v, double *sh) {
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads(); /* sh may still be read by a previous call */
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.0;
    return warp_sum(v);
}

#endif
