/*
 * rope.cu: the position rotation of RETNET.md §2 (src/ops/rope.c's counterpart), for all B
 * sequences of a batch in one launch. A thread takes P consecutive channel pairs of one
 * (sequence, position) and turns them in every head. As on the CPU, theta_j and the angle
 * n theta_j are formed in double and so are their cosine and sine (n theta reaches 1e5 rad
 * at T = 100k, where a float angle would have lost its fraction), then rounded to float.
 * Memory-bound: with P = 4 (rows of 16-byte aligned groups) a head's pairs are read as two
 * float4 and written as two float4 / 4 x bf16, a few heads' loads issued at once; P = 1 is the
 * fallback for other layouts. The same operations either way (the rotation's contractions
 * spelled out), so the same bits.
 */
#include "cuda/common.cuh"
#include <stdlib.h>
#include <string.h>

/* The pairs j0 .. j0+P-1 of one head xh: a[p] = xh[i0], b[p] = xh[i1] with (i0, i1) =
 * (j, j + npair) for the half rotation, (2j, 2j+1) for the paper's interleaved pairs. P = 4
 * (j0 and npair multiples of 4, xh 16-byte aligned): half: a is the float4 at j0, b the one
 * at j0 + npair; interleaved: the 8 floats at 2 j0, a the even ones, b the odd. */
template <int P>
__device__ __forceinline__ void ld_pairs(float (&a)[P], float (&b)[P], const float *xh, int j0,
                                         int npair, int half) {
    if constexpr (P == 1) {
        a[0] = xh[half ? j0 : 2 * j0], b[0] = xh[half ? j0 + npair : 2 * j0 + 1];
    } else {
        static_assert(P == 4, "P is 1 or 4");
        if (half) {
            const float4 u = *(const float4 *)(xh + j0), v = *(const float4 *)(xh + j0 + npair);
            a[0] = u.x, a[1] = u.y, a[2] = u.z, a[3] = u.w;
            b[0] = v.x, b[1] = v.y, b[2] = v.z, b[3] = v.w;
        } else {
            const float4 u = *(const float4 *)(xh + 2 * j0), v = *(const float4 *)(xh + 2 * j0 + 4);
            a[0] = u.x, b[0] = u.y, a[1] = u.z, b[1] = u.w;
            a[2] = v.x, b[2] = v.y, a[3] = v.z, b[3] = v.w;
        }
    }
}
/* 4 consecutive outputs: one float4, or 4 bf16 (rounded as f32_to_bf16_bits) in 8 bytes. */
__device__ __forceinline__ void st4(float *y, float v0, float v1, float v2, float v3) {
    *(float4 *)y = make_float4(v0, v1, v2, v3);
}
__device__ __forceinline__ void st4(uint16_t *y, float v0, float v1, float v2, float v3) {
    *(uint2 *)y = make_uint2(f32_to_bf16_bits(v0) | (uint32_t)f32_to_bf16_bits(v1) << 16,
                             f32_to_bf16_bits(v2) | (uint32_t)f32_to_bf16_bits(v3) << 16);
}
__device__ __forceinline__ void st1(float *y, float v) { *y = v; }
__device__ __forceinline__ void st1(uint16_t *y, float v) { *y = f32_to_bf16_bits(v); }
/* The rotated pairs (u, v) back to where ld_pairs found them. */
template <int P, class O>
__device__ __forceinline__ void st_pairs(O *yh, const float (&u)[P], const float (&v)[P], int j0,
                                         int npair, int half) {
    if constexpr (P == 1) {
        st1(yh + (half ? j0 : 2 * j0), u[0]), st1(yh + (half ? j0 + npair : 2 * j0 + 1), v[0]);
    } else if (half) {
        st4(yh + j0, u[0], u[1], u[2], u[3]), st4(yh + j0 + npair, v[0], v[1], v[2], v[3]);
    } else {
        st4(yh + 2 * j0, u[0], v[0], u[1], v[1]), st4(yh + 2 * j0 + 4, u[2], v[2], u[3], v[3]);
    }
}

/* Heads whose loads a thread issues together (registers: 2 P HB floats; 2 keeps the P = 4
 * kernel at 64 registers, 4 blocks of 256 per SM on sm_90). */
#define ROPE_HB 2
#define ROPE_THREADS 256

/* y may be x (in place, fp32: each thread reads its elements before it writes them) or a
 * bf16 array of the same layout. Grid-stride over (sequence, position, pair group); with a
 * stride that is a multiple of the groups per row (the usual case) a thread keeps its pairs,
 * so theta_j (a pow) is formed once per thread, only the sincos once per position. Kept in
 * shared memory, as registers held across the loop cost occupancy. */
template <class O, int P>
__global__ void __launch_bounds__(ROPE_THREADS)
    rope_kernel(const float *x, O *y, int64_t ld, int64_t B, int64_t T, int h, int dk,
                const int64_t *pos0, int half, double base, float scale, float sign) {
    const int npair = dk / 2, ng = npair / P;
    const int64_t n = B * T * ng;
    __shared__ double theta[P][ROPE_THREADS]; /* this thread's theta_j (j = j0 + p): a slot, */
    int jc = -1;                              /* not registers; jc: the j0 it holds */
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < n;
         idx += (int64_t)gridDim.x * blockDim.x) {
        const int j0 = (int)(idx % ng) * P;
        const int64_t bt = idx / ng, b = bt / T, t = bt - b * T;
        const float *row = x + bt * ld;
        float a[ROPE_HB][P], bb[ROPE_HB][P];
        /* the first heads' loads go out before the double-precision work */
        auto load = [&](int h0) {
#pragma unroll
            for (int k = 0; k < ROPE_HB; k++)
                if (h0 + k < h)
                    ld_pairs<P>(a[k], bb[k], row + (int64_t)(h0 + k) * dk, j0, npair, half);
        };
        load(0);
        if (j0 != jc) {
#pragma unroll
            for (int p = 0; p < P; p++) {
                const int j = j0 + p;
                theta[p][threadIdx.x] = rope_theta(j, dk, half, base);
            }
            jc = j0;
        }
        float c[P], s[P];
#pragma unroll
        for (int p = 0; p < P; p++) {
            const double ang = (double)((pos0 ? pos0[b] : 0) + t) * theta[p][threadIdx.x];
            double sd, cd;
            sincos(ang, &sd, &cd);
            c[p] = (float)cd, s[p] = sign * (float)sd;
        }
        for (int h0 = 0; h0 < h; h0 += ROPE_HB) {
            if (h0) load(h0);
#pragma unroll
            for (int k = 0; k < ROPE_HB; k++) {
                if (h0 + k >= h) break;
                /* rope_rotate's contractions are what nvcc + ptxas made of the plain
                 * expressions in the one-pair-per-thread kernel before (checked on its sm_90
                 * code); left to the compiler, which product gets fused depends on the
                 * surrounding code, so bits could differ between P, O and versions. */
                float u[P], v[P];
#pragma unroll
                for (int p = 0; p < P; p++)
                    rope_rotate(a[k][p], bb[k][p], c[p], s[p], scale, u[p], v[p]);
                st_pairs<P>(y + bt * ld + (int64_t)(h0 + k) * dk, u, v, j0, npair, half);
            }
        }
    }
}

/* Launch: P = 4 when every group is 16-byte aligned in x (and 4 * sizeof(O) in y): npair and
 * ld multiples of 4, both bases aligned. Blocks: what stays resident (one wave), so that the
 * grid stride (blocks x 256) is a multiple of the groups per row whenever that divides 256. */
template <class O, int P>
static retnet_status rope_launch(const float *x, O *y, int64_t ld, int64_t B, int64_t T, int h,
                                 int dk, const int64_t *pos0, int half, double base, float scale,
                                 float sign, cudaStream_t cs) {
    static int per_sm = 0; /* resident blocks per SM of this instantiation (benign race) */
    if (!per_sm) {
        int nb = 0;
        CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&nb, rope_kernel<O, P>,
                                                               ROPE_THREADS, 0),
                 "rope occupancy");
        per_sm = nb > 0 ? nb : 1;
    }
    const int sms = cuda_sm_count();
    const int64_t n = B * T * (dk / 2 / P);
    const unsigned blocks = cuda_blocks(n, ROPE_THREADS, (int64_t)(sms > 0 ? sms : 132) * per_sm);
    rope_kernel<O, P><<<blocks, ROPE_THREADS, 0, cs>>>(x, y, ld, B, T, h, dk, pos0, half, base,
                                                       scale, sign);
    return RETNET_OK;
}

template <class O>
static retnet_status rope_pick(const float *x, O *y, int64_t ld, int64_t B, int64_t T, int h,
                               int dk, const int64_t *pos0, int half, double base, float scale,
                               float sign, cudaStream_t cs) {
    const bool grouped = (dk / 2) % 4 == 0 && ld % 4 == 0 && (uintptr_t)x % 16 == 0 &&
                         (uintptr_t)y % (4 * sizeof(O)) == 0;
    if (grouped) return rope_launch<O, 4>(x, y, ld, B, T, h, dk, pos0, half, base, scale, sign, cs);
    return rope_launch<O, 1>(x, y, ld, B, T, h, dk, pos0, half, base, scale, sign, cs);
}

static retnet_status rope(const char *fn, float *x, int64_t ld, int64_t B, int64_t T, int h,
                          int dk, const int64_t *pos0, int half, double base, float scale,
                          float sign, cuda_stream s, cuda_bf16 *ybf = NULL) {
    retnet_status st = cuda_ensure_init();
    if (st) return st;
    if (B < 0 || T < 0 || h < 1 || dk < 2 || dk % 2 || ld < (int64_t)h * dk)
        return retnet_fail(RETNET_EINVAL, "%s: bad shape (B %lld T %lld h %d dk %d ld %lld)", fn,
                           (long long)B, (long long)T, h, dk, (long long)ld);
    const int64_t n = B * T * (dk / 2);
    if (n == 0) return RETNET_OK;
    cudaStream_t cs = (cudaStream_t)s;
    if (ybf) TRY(rope_pick<uint16_t>(x, ybf, ld, B, T, h, dk, pos0, half, base, scale, sign, cs));
    else TRY(rope_pick<float>(x, x, ld, B, T, h, dk, pos0, half, base, scale, sign, cs));
    CUDA_LAUNCHED(fn);
    return RETNET_OK;
}
retnet_status cuda_op_rope(float *x, int64_t ld, int64_t B, int64_t T, int h, int dk,
                           const int64_t *pos0, int half, double base, float scale,
                           cuda_stream s) {
    return rope("cuda_op_rope", x, ld, B, T, h, dk, pos0, half, base, scale, 1.0f, s);
}

/* (x, y) <- scale rot(-angle) (x, y): the transpose of the forward's orthogonal rotation. */
retnet_status cuda_op_rope_backward(float *dx, int64_t ld, int64_t B, int64_t T, int h, int dk,
                                    const int64_t *pos0, int half, double base, float scale,
                                    cuda_stream s) {
    return rope("cuda_op_rope_backward", dx, ld, B, T, h, dk, pos0, half, base, scale, -1.0f, s);
}

retnet_status cuda_op_rope_bf16(cuda_bf16 *y, const float *x, int64_t ld, int64_t B, int64_t T,
                                int h, int dk, const int64_t *pos0, int half, double base,
                                float scale, cuda_stream s) {
    return rope("cuda_op_rope_bf16", (float *)x, ld, B, T, h, dk, pos0, half, base, scale, 1.0f,
                s, y);
}

retnet_status cuda_op_rope_backward_bf16(cuda_bf16 *y, const float *dx, int64_t ld, int64_t B,
                                         int64_t T, int h, int dk, const int64_t *pos0, int half,
                                         double base, float scale, cuda_stream s) {
    return rope("cuda_op_rope_backward_bf16", (float *)dx, ld, B, T, h, dk, pos0, half, base,
                scale, -1.0f, s, y);
}

/* ---- a forward's q k v g out of one product ----------------------------------------------
 * x's rows hold [q | k | v | g] (model_cuda.cu multiplies by the four weights at once, they
 * lie one after the other). blockIdx.y 0 and 1 rotate q and k into bf16, 2 rounds v to bf16
 * and copies g, four values a thread where `vec` (every row's columns 16-byte aligned). A
 * rotating thread takes P pairs of SPLIT_HB heads of one row, not every head as rope_kernel's
 * do: a decoding step has few rows (at B = 64, rope_kernel's layout gives 8 blocks a tensor,
 * 10 us under ncu's serialised timing, though in the step's graph both layouts timed the same:
 * dev/cuda/runs/next49.sh), and the angles cost a few more double-precision operations this way.
 * The same operations per element as rope_kernel, so the same bits (test_cuda_ops). */
#define SPLIT_HB 2
template <int P>
__global__ void __launch_bounds__(ROPE_THREADS)
    qkvg_split_kernel(const float *x, int64_t ldx, uint16_t *qb, uint16_t *kb, uint16_t *vb,
                      float *g, int64_t B, int64_t T, int h, int dk, int dv, const int64_t *pos0,
                      int half, double base, float kscale, int vec) {
    const int64_t dkey = (int64_t)h * dk, dval = (int64_t)h * dv;
    const int64_t rows = B * T, stride = (int64_t)gridDim.x * blockDim.x;
    if (blockIdx.y < 2) {
        const float *xs = x + blockIdx.y * dkey;
        uint16_t *y = blockIdx.y ? kb : qb;
        const float scale = blockIdx.y ? kscale : 1.0f;
        const int npair = dk / 2, ng = npair / P, nhg = (h + SPLIT_HB - 1) / SPLIT_HB;
        for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
             idx < rows * nhg * ng; idx += stride) {
            const int j0 = (int)(idx % ng) * P;
            const int64_t rest = idx / ng, bt = rest / nhg, b = bt / T, t = bt - b * T;
            const int h0 = (int)(rest - bt * nhg) * SPLIT_HB;
            const float *row = xs + bt * ldx;
            float a[SPLIT_HB][P], bb[SPLIT_HB][P];
#pragma unroll
            for (int k = 0; k < SPLIT_HB; k++)
                if (h0 + k < h)
                    ld_pairs<P>(a[k], bb[k], row + (int64_t)(h0 + k) * dk, j0, npair, half);
            float c[P], s[P];
#pragma unroll
            for (int p = 0; p < P; p++) {
                const int j = j0 + p;
                const double theta = rope_theta(j, dk, half, base);
                const double ang = (double)((pos0 ? pos0[b] : 0) + t) * theta;
                double sd, cd;
                sincos(ang, &sd, &cd);
                c[p] = (float)cd, s[p] = (float)sd;
            }
#pragma unroll
            for (int k = 0; k < SPLIT_HB; k++) {
                if (h0 + k >= h) break;
                float u[P], v[P]; /* rope_kernel's rotation, sign 1 */
#pragma unroll
                for (int p = 0; p < P; p++)
                    rope_rotate(a[k][p], bb[k][p], c[p], s[p], scale, u[p], v[p]);
                st_pairs<P>(y + bt * dkey + (int64_t)(h0 + k) * dk, u, v, j0, npair, half);
            }
        }
        return;
    }
    const float *xv = x + 2 * dkey, *xg = xv + dval;
    const int64_t w = vec ? 4 : 1, ng = dval / w, n = rows * ng;
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < n; idx += stride) {
        const int64_t r = idx / ng, c = (idx - r * ng) * w;
        if (vec) {
            const float4 v = *(const float4 *)(xv + r * ldx + c);
            st4(vb + r * dval + c, v.x, v.y, v.z, v.w);
            if (g) *(float4 *)(g + r * dval + c) = *(const float4 *)(xg + r * ldx + c);
        } else {
            st1(vb + r * dval + c, xv[r * ldx + c]);
            if (g) g[r * dval + c] = xg[r * ldx + c];
        }
    }
}

/* The same split with a block a row and part (grid: rows x (2 + copy parts)), for the
 * grouped, 16-byte aligned layouts with dk / 2 <= SPLIT_MAXPAIR (the 1.3B shapes): blocks
 * y = 0, 1 rotate the row's q, k in every head, y >= 2 round v and copy g, SPLIT_C float4 a
 * thread. A row's angles are formed once (one sincos a pair, into shared memory, while the
 * block's loads are in flight) instead of once per pair group of each head and tensor: at
 * h = 8 the old kernel's threads formed each angle 8 times in double. 1.3B decoding, best of
 * three alternated: B = 24 2.215 -> 2.068 ms a step, 64 3.334 -> 3.201, 256 8.619 -> 8.550
 * (dev/cuda/runs/next163.sh; the split alone at B = 64 10.2 -> 6.1 us under ncu). The angles'
 * double-precision work hides under the loads (skipping it: 0.5% more, next164.sh). The same
 * operations on each element, so the same bits (test_cuda_ops). */
#define SPLIT_THREADS 256
#define SPLIT_G 2        /* pair groups (of 4 pairs) a thread loads at once */
#define SPLIT_C 4        /* float4 of v | g a thread copies */
#define SPLIT_MAXPAIR 512
__global__ void __launch_bounds__(SPLIT_THREADS)
    qkvg_split_rows_kernel(const float *x, int64_t ldx, uint16_t *qb, uint16_t *kb, uint16_t *vb,
                           float *g, int64_t T, int h, int dk, int dv, const int64_t *pos0,
                           int half, double base, float kscale) {
    __shared__ float tc[SPLIT_MAXPAIR], ts[SPLIT_MAXPAIR];
    pdl_trigger();
    const int64_t bt = blockIdx.x, b = bt / T, t = bt - b * T;
    const int64_t dkey = (int64_t)h * dk, dval = (int64_t)h * dv;
    const float *row = x + bt * ldx;
    const int tid = threadIdx.x;
    if (blockIdx.y < 2) {
        const int npair = dk / 2, ng = npair / 4, groups = h * ng;
        const float *xs = row + blockIdx.y * dkey;
        uint16_t *y = (blockIdx.y ? kb : qb) + bt * dkey;
        const float scale = blockIdx.y ? kscale : 1.0f;
        pdl_wait();
        const double p = (double)((pos0 ? pos0[b] : 0) + t);
        for (int g0 = 0; g0 < groups; g0 += SPLIT_G * SPLIT_THREADS) {
            float a[SPLIT_G][4], bb[SPLIT_G][4];
#pragma unroll
            for (int u = 0; u < SPLIT_G; u++) {
                const int gi = g0 + u * SPLIT_THREADS + tid;
                if (gi < groups) ld_pairs<4>(a[u], bb[u], xs + (gi / ng) * dk, (gi % ng) * 4, npair, half);
            }
            if (g0 == 0) { /* the same for every thread of the block: the barrier is safe */
                for (int j = tid; j < npair; j += SPLIT_THREADS) {
                    double sd, cd;
                    sincos(p * rope_theta(j, dk, half, base), &sd, &cd);
                    tc[j] = (float)cd, ts[j] = (float)sd;
                }
                __syncthreads();
            }
#pragma unroll
            for (int u = 0; u < SPLIT_G; u++) {
                const int gi = g0 + u * SPLIT_THREADS + tid;
                if (gi >= groups) break;
                const int j0 = (gi % ng) * 4;
                float uu[4], vv[4]; /* rope_kernel's rotation, sign 1 */
#pragma unroll
                for (int q = 0; q < 4; q++)
                    rope_rotate(a[u][q], bb[u][q], tc[j0 + q], ts[j0 + q], scale, uu[q], vv[q]);
                st_pairs<4>(y + (int64_t)(gi / ng) * dk, uu, vv, j0, npair, half);
            }
        }
        return;
    }
    /* v and g lie side by side in the row: 2 dval / 4 float4 (dval / 4 without g) */
    const int64_t n4 = dval / 4, tot = g ? 2 * n4 : n4;
    const int64_t i0 = (int64_t)(blockIdx.y - 2) * SPLIT_C * SPLIT_THREADS + tid;
    const float4 *src = (const float4 *)(row + 2 * dkey);
    pdl_wait();
    float4 v[SPLIT_C];
#pragma unroll
    for (int u = 0; u < SPLIT_C; u++) {
        const int64_t i = i0 + (int64_t)u * SPLIT_THREADS;
        if (i < tot) v[u] = src[i];
    }
#pragma unroll
    for (int u = 0; u < SPLIT_C; u++) {
        const int64_t i = i0 + (int64_t)u * SPLIT_THREADS;
        if (i >= tot) break;
        if (i < n4) st4(vb + bt * dval + 4 * i, v[u].x, v[u].y, v[u].z, v[u].w);
        else *(float4 *)(g + bt * dval + 4 * (i - n4)) = v[u];
    }
}

/* RETNET_CUDA_SPLIT_ROWS=0: the grid-stride kernel above everywhere (comparisons) */
static int split_rows_on(void) {
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("RETNET_CUDA_SPLIT_ROWS");
        on = !(e && !strcmp(e, "0"));
    }
    return on;
}

template <int P>
static retnet_status split_launch(const float *x, int64_t ldx, uint16_t *qb, uint16_t *kb,
                                  uint16_t *vb, float *g, int64_t B, int64_t T, int h, int dk,
                                  int dv, const int64_t *pos0, int half, double base,
                                  float kscale, int vec, cudaStream_t cs) {
    static int per_sm = 0; /* as rope_launch's */
    if (!per_sm) {
        int nb = 0;
        CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&nb, qkvg_split_kernel<P>,
                                                               ROPE_THREADS, 0),
                 "qkvg split occupancy");
        per_sm = nb > 0 ? nb : 1;
    }
    const int sms = cuda_sm_count();
    const int64_t cap = (int64_t)(sms > 0 ? sms : 132) * per_sm;
    /* enough blocks for the rotations and for the copies, whichever need more */
    const unsigned br = cuda_blocks(B * T * ((h + SPLIT_HB - 1) / SPLIT_HB) * (dk / 2 / P),
                                    ROPE_THREADS, cap),
                   bc = cuda_blocks(B * T * ((int64_t)h * dv / (vec ? 4 : 1)), ROPE_THREADS, cap);
    qkvg_split_kernel<P><<<dim3(br > bc ? br : bc, 3), ROPE_THREADS, 0, cs>>>(
        x, ldx, qb, kb, vb, g, B, T, h, dk, dv, pos0, half, base, kscale, vec);
    return RETNET_OK;
}

retnet_status cuda_op_qkvg_split(cuda_bf16 *qb, cuda_bf16 *kb, cuda_bf16 *vb, float *g,
                                 const float *x, int64_t ldx, int64_t B, int64_t T, int h,
                                 int dk, int dv, const int64_t *pos0, int half, double base,
                                 float kscale, cuda_stream s) {
    const char *fn = "cuda_op_qkvg_split";
    retnet_status st = cuda_ensure_init();
    if (st) return st;
    const int64_t dkey = (int64_t)h * dk, dval = (int64_t)h * dv;
    if (B < 0 || T < 0 || h < 1 || dk < 2 || dk % 2 || dv < 1 ||
        ldx < 2 * dkey + (g ? 2 : 1) * dval)
        return retnet_fail(RETNET_EINVAL, "%s: bad shape (B %lld T %lld h %d dk %d dv %d ldx %lld)",
                           fn, (long long)B, (long long)T, h, dk, dv, (long long)ldx);
    if (!qb || !kb || !vb || !x) return retnet_fail(RETNET_EINVAL, "%s: NULL array", fn);
    if (B * T == 0) return RETNET_OK;
    cudaStream_t cs = (cudaStream_t)s;
    uint16_t *q = (uint16_t *)qb, *k = (uint16_t *)kb, *v = (uint16_t *)vb;
    /* the rotations grouped as rope_pick groups them, for each of q and k */
    const bool grouped = (dk / 2) % 4 == 0 && ldx % 4 == 0 && dkey % 4 == 0 &&
                         (uintptr_t)x % 16 == 0 && (uintptr_t)q % 8 == 0 && (uintptr_t)k % 8 == 0;
    const int vec = dval % 4 == 0 && ldx % 4 == 0 && (2 * dkey) % 4 == 0 &&
                    (uintptr_t)x % 16 == 0 && (uintptr_t)v % 8 == 0 && (uintptr_t)g % 16 == 0;
    if (grouped && vec && dk / 2 <= SPLIT_MAXPAIR && B * T <= INT32_MAX && split_rows_on()) {
        const int64_t tot = (g ? 2 : 1) * (dval / 4), per = SPLIT_C * SPLIT_THREADS;
        CUDA_TRY(cuda_launch(qkvg_split_rows_kernel, dim3((unsigned)(B * T),
                                                          (unsigned)(2 + (tot + per - 1) / per)),
                             dim3(SPLIT_THREADS), 0, cs, x, ldx, q, k, v, g, T, h, dk, dv, pos0,
                             half, base, kscale),
                 fn);
    } else if (grouped)
        TRY(split_launch<4>(x, ldx, q, k, v, g, B, T, h, dk, dv, pos0, half, base, kscale, vec, cs));
    else
        TRY(split_launch<1>(x, ldx, q, k, v, g, B, T, h, dk, dv, pos0, half, base, kscale, vec, cs));
    CUDA_LAUNCHED(fn);
    return RETNET_OK;
}
