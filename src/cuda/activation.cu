/*
 * activation.cu: elementwise kernels (src/ops/activation.c's counterpart, same formulas):
 * gelu (exact erf form), swish, the GLU FFN's act(h1) * h2 fused with its backward, the
 * residual add (and with dropout: src/dropout.h), and the fp32 <-> bf16 conversions. Every
 * kernel is one read and one write of each element, so they are memory-bound: each thread
 * moves 2 groups of 4 consecutive elements per step (16-byte fp32, 8-byte bf16 accesses, all
 * its loads issued before its stores, to keep bytes in flight), the last partial tile one
 * element per thread, and pointers not aligned to a group take a scalar kernel. Both paths evaluate the same
 * per-element expression: the results are bit for bit those of a plain loop.
 *   gelu'(x)  = Phi(x) + x phi(x) = 0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi)
 *   swish'(x) = s (1 + x (1 - s)),  s = sigmoid(x)
 */
#include "cuda/common.cuh"
#include "dropout.h"

/* ---- a thread's values ------------------------------------------------------------------
 * One step of a thread covers N elements of each array: N = 1 (the scalar path: element i),
 * or N / 4 groups of 4 consecutive elements, group u starting at i + u * step (step = 4
 * blockDim, so that each warp's accesses stay contiguous). fp32 is read as float4, bf16 as
 * 4 x 16 bits in a uint2; bf16 stores round each value with f32_to_bf16_bits. */
template <int N>
__device__ __forceinline__ void ld(float (&r)[N], const float *p, int64_t i, int64_t step) {
    if constexpr (N == 1) r[0] = p[i];
    else
#pragma unroll
        for (int u = 0; u < N / 4; u++) {
            const float4 v = *(const float4 *)(p + i + u * step);
            r[4 * u] = v.x, r[4 * u + 1] = v.y, r[4 * u + 2] = v.z, r[4 * u + 3] = v.w;
        }
}
template <int N>
__device__ __forceinline__ void ld(float (&r)[N], const uint16_t *p, int64_t i, int64_t step) {
    if constexpr (N == 1) r[0] = bf16_bits_to_f32(p[i]);
    else
#pragma unroll
        for (int u = 0; u < N / 4; u++) {
            const uint2 v = *(const uint2 *)(p + i + u * step);
            r[4 * u] = bf16_bits_to_f32((uint16_t)v.x);
            r[4 * u + 1] = bf16_bits_to_f32((uint16_t)(v.x >> 16));
            r[4 * u + 2] = bf16_bits_to_f32((uint16_t)v.y);
            r[4 * u + 3] = bf16_bits_to_f32((uint16_t)(v.y >> 16));
        }
}
template <int N>
__device__ __forceinline__ void st(float *p, int64_t i, int64_t step, const float (&r)[N]) {
    if constexpr (N == 1) p[i] = r[0];
    else
#pragma unroll
        for (int u = 0; u < N / 4; u++)
            *(float4 *)(p + i + u * step) =
                make_float4(r[4 * u], r[4 * u + 1], r[4 * u + 2], r[4 * u + 3]);
}
__device__ __forceinline__ uint32_t bf16x2_bits(float lo, float hi) {
    return f32_to_bf16_bits(lo) | (uint32_t)f32_to_bf16_bits(hi) << 16;
}
template <int N>
__device__ __forceinline__ void st(uint16_t *p, int64_t i, int64_t step, const float (&r)[N]) {
    if constexpr (N == 1) p[i] = f32_to_bf16_bits(r[0]);
    else
#pragma unroll
        for (int u = 0; u < N / 4; u++)
            *(uint2 *)(p + i + u * step) = make_uint2(bf16x2_bits(r[4 * u], r[4 * u + 1]),
                                                      bf16x2_bits(r[4 * u + 2], r[4 * u + 3]));
}

/* Host side: may this array take the grouped accesses (4 elements' worth of alignment)?
 * NULL (an absent optional output) may. */
template <class... T> static bool groups_ok(const T *...p) {
    return ((((uintptr_t)p % (4 * sizeof(T))) == 0) && ...);
}

/* ---- the operations ----------------------------------------------------------------------
 * Each is a struct of its arrays with run<N>(i, step): load all its inputs, apply the formula
 * to each value, store (so in-place calls, y == x, stay safe). The output type O is float or
 * uint16_t (bf16 bits, cuda.h's _bf16 variants); the backward ops accumulate into fp32
 * outputs (+=) and overwrite bf16 ones, as cuda.h defines them. */
template <int ACT> __device__ __forceinline__ float act_f(float x) {
    return ACT == CUDA_ACT_GELU ? gelu_f(x) : swish_f(x);
}
template <int ACT> __device__ __forceinline__ float act_d(float x) {
    return ACT == CUDA_ACT_GELU ? gelu_d(x) : swish_d(x);
}
template <class O> constexpr bool accumulates = sizeof(O) == sizeof(float);

template <int ACT, class O> struct Act { /* y = act(x) */
    O *y;
    const float *x;
    bool vec_ok() const { return groups_ok(y, x); }
    template <int N> __device__ void run(int64_t i, int64_t s) const {
        float a[N];
        ld(a, x, i, s);
#pragma unroll
        for (int k = 0; k < N; k++) a[k] = act_f<ACT>(a[k]);
        st(y, i, s, a);
    }
};
template <int ACT, class O> struct ActBwd { /* dx (+)= dy act'(x) */
    O *dx;
    const float *dy, *x;
    bool vec_ok() const { return groups_ok(dx, dy, x); }
    template <int N> __device__ void run(int64_t i, int64_t s) const {
        float g[N], u[N], o[N];
        ld(g, dy, i, s), ld(u, x, i, s);
        if constexpr (accumulates<O>) ld(o, dx, i, s);
#pragma unroll
        for (int k = 0; k < N; k++) {
            const float v = g[k] * act_d<ACT>(u[k]);
            if constexpr (accumulates<O>) o[k] += v;
            else o[k] = v;
        }
        st(dx, i, s, o);
    }
};
template <int ACT, class O> struct Glu { /* a = act(h1) h2 */
    O *a;
    const float *h1, *h2;
    bool vec_ok() const { return groups_ok(a, h1, h2); }
    template <int N> __device__ void run(int64_t i, int64_t s) const {
        float u[N], v[N];
        ld(u, h1, i, s), ld(v, h2, i, s);
#pragma unroll
        for (int k = 0; k < N; k++) u[k] = act_f<ACT>(u[k]) * v[k];
        st(a, i, s, u);
    }
};
/* The same with h1 and h2 side by side in rows of 2F (h): element i of a is row i / F, column
 * i % F. Groups of 4 stay inside a row when F % 4 == 0 (vec_ok). */
template <int ACT, class O> struct GluRows {
    O *a;
    const float *h;
    int64_t F;
    bool vec_ok() const { return F % 4 == 0 && groups_ok(a, h); }
    template <int N> __device__ void run(int64_t i, int64_t s) const {
        float u[N], v[N];
        constexpr int G = N == 1 ? 1 : N / 4, W = N == 1 ? 1 : 4;
#pragma unroll
        for (int q = 0; q < G; q++) {
            const int64_t e = i + q * s, r = e / F, c = e - r * F;
            const float *p = h + r * 2 * F + c;
            if constexpr (W == 1) {
                u[q] = p[0], v[q] = p[F];
            } else {
                const float4 x = *(const float4 *)p, y = *(const float4 *)(p + F);
                u[4 * q] = x.x, u[4 * q + 1] = x.y, u[4 * q + 2] = x.z, u[4 * q + 3] = x.w;
                v[4 * q] = y.x, v[4 * q + 1] = y.y, v[4 * q + 2] = y.z, v[4 * q + 3] = y.w;
            }
        }
#pragma unroll
        for (int k = 0; k < N; k++) u[k] = act_f<ACT>(u[k]) * v[k];
        st(a, i, s, u);
    }
};
/* As model.c composes it: dh2 (+)= da act(h1); dh1 (+)= act'(h1) (da h2). fp32: either output
 * may be NULL (not computed); bf16: both are there (checked by the caller). */
template <int ACT, class O> struct GluBwd {
    O *dh1, *dh2;
    const float *da, *h1, *h2;
    bool vec_ok() const { return groups_ok(dh1, dh2, da, h1, h2); }
    template <int N> __device__ void run(int64_t i, int64_t s) const {
        const bool w1 = !accumulates<O> || dh1, w2 = !accumulates<O> || dh2; /* outputs wanted */
        float g[N], u[N], v[N], o1[N], o2[N];
        ld(g, da, i, s), ld(u, h1, i, s);
        if (w1) ld(v, h2, i, s);
        if constexpr (accumulates<O>) {
            if (w1) ld(o1, dh1, i, s);
            if (w2) ld(o2, dh2, i, s);
        }
#pragma unroll
        for (int k = 0; k < N; k++) {
            if (w2) {
                const float w = g[k] * act_f<ACT>(u[k]);
                if constexpr (accumulates<O>) o2[k] += w;
                else o2[k] = w;
            }
            if (w1) {
                const float w = (g[k] * v[k]) * act_d<ACT>(u[k]);
                if constexpr (accumulates<O>) o1[k] += w;
                else o1[k] = w;
            }
        }
        if (w2) st(dh2, i, s, o2);
        if (w1) st(dh1, i, s, o1);
    }
};
struct Add { /* y = a + b */
    float *y;
    const float *a, *b;
    bool vec_ok() const { return groups_ok(y, a, b); }
    template <int N> __device__ void run(int64_t i, int64_t s) const {
        float u[N], v[N];
        ld(u, a, i, s), ld(v, b, i, s);
#pragma unroll
        for (int k = 0; k < N; k++) u[k] = u[k] + v[k];
        st(y, i, s, u);
    }
};
/* Residual dropout (dropout.h's mask; model.c's add_dropout and branch_grad). Value k of a
 * run<N> sits at element i (N = 1) or i + (k / 4) step + k % 4; the mask takes that index
 * plus `first`, the micro-batch's first element in the global batch. */
struct DropMask {
    uint64_t seed;
    int64_t first;
    float p, scale;
    int layer, which;
    __device__ bool keep(int64_t e) const { return dropout_keep(seed, layer, which, first + e, p); }
};
template <int N> __device__ __forceinline__ int64_t elem(int64_t i, int64_t s, int k) {
    return N == 1 ? i : i + (k >> 2) * s + (k & 3);
}
struct DropoutAdd { /* y = x + mask(branch) / (1 - p) */
    float *y;
    const float *x, *branch;
    DropMask m{};
    bool vec_ok() const { return groups_ok(y, x, branch); }
    template <int N> __device__ void run(int64_t i, int64_t s) const {
        float u[N], v[N];
        ld(u, x, i, s), ld(v, branch, i, s);
#pragma unroll
        for (int k = 0; k < N; k++)
            if (m.keep(elem<N>(i, s, k))) u[k] += v[k] * m.scale;
        st(y, i, s, u);
    }
};
struct DropoutGrad { /* g = bf16(mask(dy) / (1 - p)): the branch's gradient, overwritten */
    uint16_t *g;
    const float *dy;
    DropMask m{};
    bool vec_ok() const { return groups_ok(g, dy); }
    template <int N> __device__ void run(int64_t i, int64_t s) const {
        float v[N];
        ld(v, dy, i, s);
#pragma unroll
        for (int k = 0; k < N; k++) v[k] = m.keep(elem<N>(i, s, k)) ? v[k] * m.scale : 0.0f;
        st(g, i, s, v);
    }
};
template <class O, class I> struct Convert { /* y = x, rounded to bf16 or widened to fp32 */
    O *y;
    const I *x;
    bool vec_ok() const { return groups_ok(y, x); }
    template <int N> __device__ void run(int64_t i, int64_t s) const {
        float v[N];
        ld(v, x, i, s);
        st(y, i, s, v);
    }
};

/* ---- the launch ----------------------------------------------------------------------------
 * U > 0: the first n - n % (U 4 blockDim) elements in tiles of U groups per thread, grid-
 * stride over the tiles; the rest (and everything when U == 0, the unaligned case) one
 * element per thread. */
#define EW_THREADS 256
#define EW_GROUPS 2

template <class Op, int U>
__global__ void __launch_bounds__(EW_THREADS) ew_kernel(Op op, int64_t n) {
    int64_t done = 0;
    if constexpr (U > 0) {
        const int64_t step = 4 * (int64_t)blockDim.x, tile = U * step, tiles = n / tile;
        for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x)
            op.template run<4 * U>(t * tile + 4 * threadIdx.x, step);
        done = tiles * tile;
    }
    for (int64_t i = done + blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        op.template run<1>(i, 0);
}

/* Blocks for an elementwise launch: enough to fill the GPU many times over, then the loop
 * (per_thread: the elements one thread takes per step). */
static unsigned ew_blocks(int64_t n, int per_thread) {
    int sms = cuda_sm_count();
    return cuda_blocks((n + per_thread - 1) / per_thread, EW_THREADS,
                       (int64_t)(sms > 0 ? sms : 132) * 16);
}

template <class Op>
static retnet_status ew_launch(const char *fn, const Op &op, int64_t n, cuda_stream s) {
    retnet_status st = cuda_ensure_init();
    if (st) return st;
    if (n < 0) return retnet_fail(RETNET_EINVAL, "%s: n %lld < 0", fn, (long long)n);
    if (n == 0) return RETNET_OK;
    cudaStream_t cs = (cudaStream_t)s;
    if (op.vec_ok())
        ew_kernel<Op, EW_GROUPS><<<ew_blocks(n, 4 * EW_GROUPS), EW_THREADS, 0, cs>>>(op, n);
    else
        ew_kernel<Op, 0><<<ew_blocks(n, 1), EW_THREADS, 0, cs>>>(op, n);
    CUDA_LAUNCHED(fn);
    return RETNET_OK;
}

/* The fp32 / bf16 pairs pick the activation at run time (n, s: the calling function's). */
#define EW_ACT(fn, act, Op, O, ...)                                                      \
    ((act) == CUDA_ACT_GELU ? ew_launch(fn, Op<CUDA_ACT_GELU, O>{__VA_ARGS__}, n, s)     \
                            : ew_launch(fn, Op<CUDA_ACT_SWISH, O>{__VA_ARGS__}, n, s))

retnet_status cuda_op_gelu(float *y, const float *x, int64_t n, cuda_stream s) {
    return ew_launch("cuda_op_gelu", Act<CUDA_ACT_GELU, float>{y, x}, n, s);
}
retnet_status cuda_op_swish(float *y, const float *x, int64_t n, cuda_stream s) {
    return ew_launch("cuda_op_swish", Act<CUDA_ACT_SWISH, float>{y, x}, n, s);
}
retnet_status cuda_op_gelu_backward(float *dx, const float *dy, const float *x, int64_t n,
                                    cuda_stream s) {
    return ew_launch("cuda_op_gelu_backward", ActBwd<CUDA_ACT_GELU, float>{dx, dy, x}, n, s);
}
retnet_status cuda_op_swish_backward(float *dx, const float *dy, const float *x, int64_t n,
                                     cuda_stream s) {
    return ew_launch("cuda_op_swish_backward", ActBwd<CUDA_ACT_SWISH, float>{dx, dy, x}, n, s);
}
retnet_status cuda_op_glu(float *a, const float *h1, const float *h2, int64_t n, cuda_act act,
                          cuda_stream s) {
    return EW_ACT("cuda_op_glu", act, Glu, float, a, h1, h2);
}
retnet_status cuda_op_glu_backward(float *dh1, float *dh2, const float *da, const float *h1,
                                   const float *h2, int64_t n, cuda_act act, cuda_stream s) {
    return EW_ACT("cuda_op_glu_backward", act, GluBwd, float, dh1, dh2, da, h1, h2);
}
retnet_status cuda_op_add(float *y, const float *a, const float *b, int64_t n, cuda_stream s) {
    return ew_launch("cuda_op_add", Add{y, a, b}, n, s);
}
static retnet_status drop_mask(const char *fn, float p, uint64_t seed, int layer, int which,
                               int64_t first, DropMask *m) {
    if (!(p > 0.0f && p < 1.0f) || layer < 0 || which < 0 || which > 1 || first < 0)
        return retnet_fail(RETNET_EINVAL, "%s: p %g must be in (0, 1), layer %d >= 0, branch %d "
                           "0 or 1, first element %lld >= 0", fn, (double)p, layer, which,
                           (long long)first);
    *m = DropMask{seed, first, p, 1.0f / (1.0f - p), layer, which};
    return RETNET_OK;
}
retnet_status cuda_op_dropout_add(float *y, const float *x, const float *branch, int64_t n,
                                  float p, uint64_t seed, int layer, int which, int64_t first,
                                  cuda_stream s) {
    DropMask m{};
    TRY(drop_mask("cuda_op_dropout_add", p, seed, layer, which, first, &m));
    return ew_launch("cuda_op_dropout_add", DropoutAdd{y, x, branch, m}, n, s);
}
retnet_status cuda_op_dropout_grad_bf16(cuda_bf16 *g, const float *dy, int64_t n, float p,
                                        uint64_t seed, int layer, int which, int64_t first,
                                        cuda_stream s) {
    DropMask m{};
    TRY(drop_mask("cuda_op_dropout_grad_bf16", p, seed, layer, which, first, &m));
    return ew_launch("cuda_op_dropout_grad_bf16", DropoutGrad{g, dy, m}, n, s);
}
retnet_status cuda_op_f32_to_bf16(cuda_bf16 *y, const float *x, int64_t n, cuda_stream s) {
    return ew_launch("cuda_op_f32_to_bf16", Convert<uint16_t, float>{y, x}, n, s);
}
retnet_status cuda_op_bf16_to_f32(float *y, const cuda_bf16 *x, int64_t n, cuda_stream s) {
    return ew_launch("cuda_op_bf16_to_f32", Convert<float, uint16_t>{y, x}, n, s);
}

retnet_status cuda_op_act_bf16(cuda_bf16 *y, const float *x, int64_t n, cuda_act act,
                               cuda_stream s) {
    return EW_ACT("cuda_op_act_bf16", act, Act, uint16_t, y, x);
}
retnet_status cuda_op_act_backward_bf16(cuda_bf16 *dx, const float *dy, const float *x,
                                        int64_t n, cuda_act act, cuda_stream s) {
    return EW_ACT("cuda_op_act_backward_bf16", act, ActBwd, uint16_t, dx, dy, x);
}
retnet_status cuda_op_glu_bf16(cuda_bf16 *a, const float *h1, const float *h2, int64_t n,
                               cuda_act act, cuda_stream s) {
    return EW_ACT("cuda_op_glu_bf16", act, Glu, uint16_t, a, h1, h2);
}
retnet_status cuda_op_glu_rows_bf16(cuda_bf16 *a, const float *h, int64_t rows, int64_t F,
                                    cuda_act act, cuda_stream s) {
    if (rows < 0 || F < 0) {
        TRY(cuda_ensure_init());
        return retnet_fail(RETNET_EINVAL, "cuda_op_glu_rows_bf16: rows %lld, F %lld < 0",
                           (long long)rows, (long long)F);
    }
    const int64_t n = rows * F;
    return EW_ACT("cuda_op_glu_rows_bf16", act, GluRows, uint16_t, a, h, F);
}
retnet_status cuda_op_glu_backward_bf16(cuda_bf16 *dh1, cuda_bf16 *dh2, const float *da,
                                        const float *h1, const float *h2, int64_t n,
                                        cuda_act act, cuda_stream s) {
    if (n > 0 && (!dh1 || !dh2)) { /* n < 0 and n == 0 answer first, as ew_launch has them */
        TRY(cuda_ensure_init());
        return retnet_fail(RETNET_EINVAL, "cuda_op_glu_backward_bf16: NULL output");
    }
    return EW_ACT("cuda_op_glu_backward_bf16", act, GluBwd, uint16_t, dh1, dh2, da,
                  h1, h2);
}
