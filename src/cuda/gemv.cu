/*
 * gemv.cu: products with a few rows of activations (decoding: one row per sequence), where
 * the time is reading the weights once. cuBLASLt's kernels for M <= 8 reach ~1.2 TB/s on an
 * H200 (7 us for a 2048 x 2048 bf16 matrix, profiled); these stream each weight row once at
 * close to the copy bandwidth, and several products that share their input run as one launch
 * (the mixer's q, k, v, g; the GLU's two products with act(a) * b in the epilogue), so a small
 * matrix is not a launch's worth of latency on its own. Epilogues: the rotation of q and k,
 * the residual's addend, the GLU, and gelu (the paper's FFN: 1.3b-preset decoding at B = 1
 * 1.302 -> 1.194 ms with the §3 step's earlier loads, dev/cuda/runs/next73.sh), each with the
 * bits of the separate op it replaces. Two kernels, by the rows of x:
 *
 * M <= 2, gemv_fma_kernel: two warps compute two output columns (two weight rows) for all M
 * rows of x, each half of K in alternate runs: each lane reads 16 bytes (8 bf16) of each
 * weight row per step, 4 steps in flight (8 where K > 2048: fma_long_u), and the matching 16
 * bytes of every x row (from L1: x is a few KB); fp32 products and sums, the warp's fixed
 * butterfly, the two warps' sums added in order. Two warps a pair rather than one: half the
 * rounds of dependent loads a warp (1.3B decoding at B = 2 1.42 -> 1.34 ms a step, fma_ks).
 *
 * M >= 3, gemv_mma_kernel: there the FMA kernel is issue-bound (every weight widened and
 * multiplied M times; 1.0-1.5 TB/s at M = 8). A block computes 16 output columns for all
 * M <= 16 rows of x with tensor cores: mma.sync m16n8k16, the weights as A (16 rows), x as B
 * (one or two tiles of 8 columns, the rows of x; those beyond M zeros). Each lane loads 16
 * bytes of its two weight rows per step straight from global memory, U steps in flight; the
 * sum over k does not care which k a fragment slot holds, so lane (g, t)'s 8 consecutive k
 * feed two mmas as the fragments' k 2t, 2t+1, 2t+8, 2t+9 (x loaded the same way). The
 * block's W warps split K (warp w takes every W-th 64-byte run of each row) and add their
 * partial tiles in shared memory in warp order; W and U by K (gemv_mma_shape: at M 3-8 one
 * round of loads a warp and 16 warps in each of an SM's block places; 8 x 8 at M 9-16). At
 * M = 1 and 2 it is slower than the FMA kernel (fewer loads in flight an SM: 1.3B decoding at
 * B = 1 1.229 -> 1.335 ms with it, dev/cuda/runs/next32.sh); at M = 8 1.5x faster (2.807 -> 1.888
 * ms a step at B = 8). At M = 16 (two tiles) 1.35-1.84x faster than cuBLASLt's products (B =
 * 16 decoding 2.903 -> 2.429 ms a step, next44.sh); with 4 and 8 tiles (M = 32, 64) every
 * block reads all of x through L1 and lost to cuBLASLt (B = 32 3.75 -> 3.82 ms, B = 64 5.34
 * -> 7.32: next43.sh), so 16 is the limit.
 *
 * Both sum in a fixed order (the same bits every run) that differs from cuBLAS's; all
 * accumulate in fp32 (the same error bound: K u_f32 of sum |x w|).
 */
#include "cuda/common.cuh"
#include "cuda/mma.cuh"

#include <stdlib.h>
#include <string.h>

#define FMA_WARPS 4  /* gemv_fma_kernel: warps per block */
#define FMA_U 4      /* 16-byte loads in flight per lane and weight row (or 2 FMA_U) */
#define MMA_WARPS 8  /* gemv_mma_kernel: warps per block, each a share of K for 16 rows, */
#define MMA_WARPS_LONG 16 /* or these (gemv_mma_shape) */
#define MMA_U 8      /* 16-byte loads in flight per lane and weight row (or MMA_U / 2) */
#define MMA_MIN_M 3  /* rows of x from which the mma kernel runs (RETNET_CUDA_GEMV_MMA_M) */

typedef struct {
    const uint4 *w;  /* (N, K) bf16, rows of K / 8 uint4 */
    void *y;         /* (M, N), row stride ldy; fp32 or bf16 */
    const void *cin; /* addend of y's type (may be y), or NULL */
    const uint4 *w2; /* GLU: the second weight (y = act(x w^T) * (x w2^T), bf16) */
    int64_t N, ldy, P; /* P: the segment's row pairs (plain: (N + 1) / 2, GLU: N) */
    int bf16;
    /* rope (cuda_gemv_rope): the two rows of a warp (FMA) or lane (mma) are a rotation pair
     * of one head, rotated and scaled in the epilogue as rope.cu does it */
    const int64_t *pos;
    double base;
    float scale;
    int rope, half, dk;
    int gelu; /* plain bf16 outputs: gelu before the rounding (cuda_gemv_out's gelu) */
    /* the next RMSNorm's operand (cuda_gemv_rms_out; plain fp32 outputs): xw (M, N) bf16 =
     * bf16(y nw) */
    const float *nw;
    uint16_t *xw;
} gemv_seg;

typedef struct {
    const uint4 *x; /* (M, K) bf16, row stride ldx8 uint4 */
    int64_t ldx8, K8;
    int M, nseg, act;
    /* x is an xw of cuda_gemv_rms_out: the sums scaled by each row's 1 / sqrt(mean(y^2) +
     * eps), y (M, K) fp32 read beside x (row stride 2 ldx8 float4) */
    const float4 *ys;
    double rn, eps;
    gemv_seg seg[CUDA_GEMV_MAX_OUT];
    /* first pair-unit of each segment: a warp of the FMA kernel takes one pair, a block of
     * the mma kernel 8 */
    int64_t first[CUDA_GEMV_MAX_OUT + 1];
} gemv_args;

/* The rows of pair `local` of segment g: plain, columns n, n + 1 of one weight; GLU, column n
 * of both weights; rope, the columns n, n1 of pair j of a head (j, j + dk/2 for the half
 * rotation, 2j, 2j + 1 for the paper's). */
__device__ __forceinline__ void pair_rows(const gemv_seg &g, int64_t local, int64_t &n,
                                          int64_t &n1, int &j) {
    n = g.w2 ? local : 2 * local, n1 = n + 1, j = 0;
    if (g.rope) {
        const int npair = g.dk / 2;
        const int64_t head = local / npair;
        j = (int)(local % npair);
        n = head * g.dk + (g.half ? j : 2 * j), n1 = head * g.dk + (g.half ? j + npair : 2 * j + 1);
    }
}

/* The rotation of pair j at row m's position (rope.cu's rope_kernel, operation for
 * operation: the same bits). It reads only the weights' segment and the positions, which no
 * kernel of a decoding step writes (they are uploaded before it), so the kernels compute it
 * before their programmatic-launch wait: double pow and sincos are ~1 us of dependent
 * instructions that would otherwise follow the sums. */
struct rope_cs {
    float c, sn;
};

__device__ __forceinline__ rope_cs rope_at(const gemv_seg &g, int m, int j) {
    const double theta = rope_theta(j, g.dk, g.half, g.base);
    double sd, cd;
    sincos((double)g.pos[m] * theta, &sd, &cd);
    return {(float)cd, (float)sd};
}

/* Row m's outputs v0 (column n), v1 (column n1) of pair j: rotated (by r, from rope_at), GLU,
 * or stored (with the addend) */
__device__ __forceinline__ void store_pair(const gemv_seg &g, int act, int m, int64_t n,
                                           int64_t n1, rope_cs r, float v0, float v1) {
    if (g.rope) {
        float u, v;
        rope_rotate(v0, v1, r.c, r.sn, g.scale, u, v);
        ((uint16_t *)g.y)[m * g.ldy + n] = f32_to_bf16_bits(u);
        ((uint16_t *)g.y)[m * g.ldy + n1] = f32_to_bf16_bits(v);
        return;
    }
    const int64_t o = m * g.ldy + n;
    if (g.w2) {
        const float v = (act == CUDA_ACT_GELU ? gelu_f(v0) : swish_f(v0)) * v1;
        ((uint16_t *)g.y)[o] = f32_to_bf16_bits(v);
        return;
    }
    for (int c = 0; c < 2 && n + c < g.N; c++) {
        float v = c ? v1 : v0;
        if (g.bf16) {
            if (g.cin) v += bf16_bits_to_f32(((const uint16_t *)g.cin)[o + c]);
            if (g.gelu) v = gelu_f(v);
            ((uint16_t *)g.y)[o + c] = f32_to_bf16_bits(v);
        } else {
            if (g.cin) v += ((const float *)g.cin)[o + c];
            ((float *)g.y)[o + c] = v;
            if (g.xw) g.xw[m * g.N + n + c] = f32_to_bf16_bits(v * g.nw[n + c]);
        }
    }
}

/* MB rows of x; KS warps share a pair's K (warp ks takes every KS-th run of 32 FMA_U uint4s),
 * their sums added in warp order. RMS: x is an xw (cuda_gemv_rms); each lane also sums the
 * squares of the fp32 y values behind the xw values it reads (the warps of a pair together
 * read every one), and the sums are scaled by the row's norm before the epilogue: no round
 * trip of its own, where reading statistics written by the producer cost one before the sums
 * (1.3B decoding at B = 1 1.087 -> 1.131 ms, dev/cuda/runs/next148.sh). At M = 1 only: the 1.3B
 * step 1.080-1.121 -> 1.044-1.072 ms (next165.sh; held to 72 registers for a seventh block an
 * SM, with spills, it gained nothing). At M = 2 the step lost 12% (1.236 -> 1.385 ms), and
 * as much with the block's pair units sharing the sums (half the loads of y, next167.sh): ncu
 * put the two-row consumer at 20.4 us a launch cold, ~5 us above the plain kernel's, where at
 * one row the two are level (next169.sh). Why is not yet known; not the loads of y alone. */
template <int MB, int KS, bool RMS, int FU = FMA_U>
__global__ void __launch_bounds__(32 * FMA_WARPS) gemv_fma_kernel(gemv_args a) {
    static_assert(FMA_WARPS % KS == 0, "a block holds whole pairs");
    __shared__ float part[KS > 1 ? FMA_WARPS : 1][MB][RMS ? 3 : 2];
    pdl_trigger();
    const int lane = threadIdx.x & 31, wb = threadIdx.x >> 5, ks = wb % KS;
    const int64_t wid = (int64_t)blockIdx.x * (FMA_WARPS / KS) + wb / KS; /* the pair unit */
    int s = 0;
    while (s < a.nseg - 1 && wid >= a.first[s + 1]) s++;
    const bool live = wid < a.first[a.nseg];
    const gemv_seg &g = a.seg[s];
    int64_t n = 0, n1 = 0;
    int j = 0;
    if (live) pair_rows(g, wid - a.first[s], n, n1, j);
    const uint4 *r0 = live ? g.w + n * a.K8 : NULL;
    const uint4 *r1 = !live ? NULL : g.w2 ? g.w2 + n * a.K8 : (n1 < g.N ? g.w + n1 * a.K8 : NULL);
    float acc0[MB], acc1[MB];
#pragma unroll
    for (int m = 0; m < MB; m++) acc0[m] = 0.0f, acc1[m] = 0.0f;
    /* the weights' first loads are issued before waiting for x: under programmatic launch
     * (cuda_launch) they stream while the kernel before finishes */
    uint4 w0[FU], w1[FU];
    auto load = [&](int64_t i0) {
#pragma unroll
        for (int u = 0; u < FU; u++) {
            const int64_t i = i0 + 32 * u;
            const uint4 z = make_uint4(0, 0, 0, 0);
            w0[u] = r0 && i < a.K8 ? __ldcs(r0 + i) : z; /* streamed: no reuse */
            w1[u] = r1 && i < a.K8 ? __ldcs(r1 + i) : z;
        }
    };
    const int64_t first = (int64_t)ks * 32 * FU + lane, stride = (int64_t)32 * FU * KS;
    load(first);
    rope_cs rc[MB];
#pragma unroll
    for (int m = 0; m < MB; m++) rc[m] = {0.0f, 0.0f};
    if (g.rope && live && lane == 0 && ks == 0)
#pragma unroll
        for (int m = 0; m < MB; m++)
            if (m < a.M) rc[m] = rope_at(g, m, j);
    pdl_wait();
    float ss[MB]; /* RMS: this lane's sums of y^2 */
#pragma unroll
    for (int m = 0; m < MB; m++) ss[m] = 0.0f;
    for (int64_t i0 = first; r0 && i0 < a.K8; i0 += stride) {
        if (i0 != first) load(i0);
#pragma unroll
        for (int u = 0; u < FU; u++) {
            const int64_t i = i0 + 32 * u;
            if (i >= a.K8) break;
            /* each value widened once: the weights' for all rows of x, x's for both columns */
            float f0[8], f1[8];
            unpack8(w0[u], f0);
            unpack8(w1[u], f1);
#pragma unroll
            for (int m = 0; m < MB; m++) {
                float xf[8];
                unpack8(__ldg(a.x + m * a.ldx8 + i), xf);
                if constexpr (RMS) {
                    const float4 *yr = a.ys + m * 2 * a.ldx8 + 2 * i;
                    const float4 p = __ldg(yr), q = __ldg(yr + 1);
                    ss[m] = fmaf(p.x, p.x, ss[m]), ss[m] = fmaf(p.y, p.y, ss[m]);
                    ss[m] = fmaf(p.z, p.z, ss[m]), ss[m] = fmaf(p.w, p.w, ss[m]);
                    ss[m] = fmaf(q.x, q.x, ss[m]), ss[m] = fmaf(q.y, q.y, ss[m]);
                    ss[m] = fmaf(q.z, q.z, ss[m]), ss[m] = fmaf(q.w, q.w, ss[m]);
                }
#pragma unroll
                for (int k = 0; k < 8; k++) {
                    acc0[m] = fmaf(f0[k], xf[k], acc0[m]);
                    acc1[m] = fmaf(f1[k], xf[k], acc1[m]);
                }
            }
        }
    }
#pragma unroll
    for (int m = 0; m < MB; m++) {
        acc0[m] = warp_sum_f(acc0[m]), acc1[m] = warp_sum_f(acc1[m]);
        if constexpr (RMS) ss[m] = warp_sum_f(ss[m]);
    }
    if (KS > 1) {
        if (lane == 0)
#pragma unroll
            for (int m = 0; m < MB; m++) {
                part[wb][m][0] = acc0[m], part[wb][m][1] = acc1[m];
                if constexpr (RMS) part[wb][m][2] = ss[m];
            }
        __syncthreads();
        if (ks != 0) return;
#pragma unroll
        for (int m = 0; m < MB; m++)
#pragma unroll
            for (int v = 1; v < KS; v++) {
                acc0[m] += part[wb + v][m][0], acc1[m] += part[wb + v][m][1];
                if constexpr (RMS) ss[m] += part[wb + v][m][2];
            }
    }
    if (lane != 0 || !live) return;
#pragma unroll
    for (int m = 0; m < MB; m++) {
        float r = 1.0f; /* norm.cu's 1 / sqrt(mean + eps), in double */
        if constexpr (RMS) r = (float)(1.0 / sqrt((double)ss[m] * a.rn + a.eps));
        store_pair(g, a.act, m, n, n1, rc[m], acc0[m] * r, acc1[m] * r);
    }
}

/* NT (1 or 2) tiles of 8 rows of x: M <= 8 NT; W warps a block of U loads in flight a lane
 * and row (gemv_mma_shape). With W U = 64 (two blocks of 16 warps an SM: 64 registers) the
 * rotation's angles, whose double sincos beside 32 registers of loads in flight spilled, are
 * formed by the last warp into shared memory before it issues its loads. */
template <int NT, int W, int U>
__global__ void __launch_bounds__(32 * W, 128 / (W * U)) gemv_mma_kernel(gemv_args a) {
    constexpr bool RC_SHARED = W * U <= 64;
    __shared__ float4 part[W][NT][32];
    __shared__ rope_cs rcs[RC_SHARED ? NT : 1][2][32];
    pdl_trigger();
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int64_t blk = blockIdx.x;
    int s = 0;
    while (s < a.nseg - 1 && blk >= a.first[s + 1]) s++;
    const gemv_seg &sg = a.seg[s];
    /* lane (g, t)'s two rows: those of pair 8 (blk - first) + g of the segment */
    const int64_t local = (blk - a.first[s]) * 8 + g;
    const bool live = local < sg.P;
    int64_t n = 0, n1 = 0;
    int j = 0;
    if (live) pair_rows(sg, local, n, n1, j);
    const uint4 *r0 = live ? sg.w + n * a.K8 : NULL;
    const uint4 *r1 = !live ? NULL : sg.w2 ? sg.w2 + n * a.K8 : n1 < sg.N ? sg.w + n1 * a.K8 : NULL;
    /* lane (g, t) stores rows 8 i + 2t and 8 i + 2t + 1 of x, rotated by rc (the same lane of
     * every warp has the same rows) */
    rope_cs rc[NT][2];
    auto angles = [&]() {
#pragma unroll
        for (int i = 0; i < NT; i++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const int m = 8 * i + 2 * t + e;
                rc[i][e] = sg.rope && live && m < a.M ? rope_at(sg, m, j) : rope_cs{0.0f, 0.0f};
            }
    };
    if (RC_SHARED && w == W - 1) {
        angles();
#pragma unroll
        for (int i = 0; i < NT; i++) rcs[i][0][lane] = rc[i][0], rcs[i][1][lane] = rc[i][1];
    }
    /* step q of warp w: uint4 columns c = (q W + w) 4 + t of both rows; the first U steps
     * are issued before waiting for x (as the FMA kernel's) */
    const int K8 = (int)a.K8, nq = (K8 + 4 * W - 1) / (4 * W);
    const uint4 z = make_uint4(0, 0, 0, 0);
    uint4 w0[U], w1[U];
    auto load = [&](int q0) {
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int c = ((q0 + u) * W + w) * 4 + t;
            w0[u] = r0 && c < K8 ? __ldcs(r0 + c) : z; /* streamed: no reuse */
            w1[u] = r1 && c < K8 ? __ldcs(r1 + c) : z;
        }
    };
    load(0);
    if (!RC_SHARED) angles();
    pdl_wait();
    /* tile i's x row for lane (g, t): 8 i + g (rows beyond M: zeros) */
    const uint4 *xr[NT];
#pragma unroll
    for (int i = 0; i < NT; i++) xr[i] = 8 * i + g < a.M ? a.x + (8 * i + g) * a.ldx8 : NULL;
    float d[NT][4];
#pragma unroll
    for (int i = 0; i < NT; i++) d[i][0] = d[i][1] = d[i][2] = d[i][3] = 0.0f;
    for (int q0 = 0; q0 < nq; q0 += U) {
        if (q0) load(q0);
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int c0 = ((q0 + u) * W + w) * 4, c = c0 + t;
            if (c0 >= K8) break; /* the same in every lane: the mma is the warp's */
            const uint32_t a0[4] = {w0[u].x, w1[u].x, w0[u].y, w1[u].y};
            const uint32_t a1[4] = {w0[u].z, w1[u].z, w0[u].w, w1[u].w};
#pragma unroll
            for (int i = 0; i < NT; i++) {
                const uint4 xv = xr[i] && c < K8 ? __ldg(xr[i] + c) : z;
                mma16816(d[i], a0, xv.x, xv.y);
                mma16816(d[i], a1, xv.z, xv.w);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < NT; i++) part[w][i][lane] = make_float4(d[i][0], d[i][1], d[i][2], d[i][3]);
    __syncthreads();
    if (w != 0 || !live) return;
#pragma unroll
    for (int i = 0; i < NT; i++) {
        float4 sum = part[0][i][lane];
#pragma unroll
        for (int v = 1; v < W; v++) {
            const float4 q = part[v][i][lane];
            sum.x += q.x, sum.y += q.y, sum.z += q.z, sum.w += q.w;
        }
        /* lane (g, t) holds rows n (.x, .y) and n1 (.z, .w) for rows 8 i + 2t, + 1 of x */
        const int m = 8 * i + 2 * t;
        if (RC_SHARED) rc[i][0] = rcs[i][0][lane], rc[i][1] = rcs[i][1][lane];
        if (m < a.M) store_pair(sg, a.act, m, n, n1, rc[i][0], sum.x, sum.z);
        if (m + 1 < a.M) store_pair(sg, a.act, m + 1, n, n1, rc[i][1], sum.y, sum.w);
    }
}

static int gemv_off = -1; /* RETNET_CUDA_GEMV=0: cuBLASLt for every product (comparisons) */
int cuda_gemv_enabled(void) {
    if (gemv_off < 0) {
        const char *e = getenv("RETNET_CUDA_GEMV");
        gemv_off = e && !strcmp(e, "0");
    }
    return !gemv_off;
}

/* decoding's q, k rotated in the products (RETNET_CUDA_ROPE_EPILOGUE=0 turns it off): on the
 * H200 B = 1 decoding went 1.63 -> 1.34 ms per token (dev/cuda/runs/next1.sh, same run) */
static int rope_on = -1;

int cuda_gemv_rope_epilogue(void) {
    if (rope_on < 0) {
        const char *e = getenv("RETNET_CUDA_ROPE_EPILOGUE");
        rope_on = !(e && !strcmp(e, "0"));
    }
    return rope_on && cuda_gemv_enabled();
}

static int aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

/* the rows of x up to which products run here: CUDA_GEMV_MAX_M, or RETNET_CUDA_GEMV_MAX_M
 * (1..CUDA_GEMV_MAX_M, e.g. 8: B = 9-16 decoding through cuBLASLt) for comparisons */
static int gemv_max_m(void) {
    static int m = 0;
    if (!m) {
        const char *e = getenv("RETNET_CUDA_GEMV_MAX_M");
        m = e && atoi(e) >= 1 && atoi(e) <= CUDA_GEMV_MAX_M ? atoi(e) : CUDA_GEMV_MAX_M;
    }
    return m;
}

int cuda_gemv_suits(int64_t M, int64_t K, const void *x, int64_t ldx) {
    return cuda_gemv_enabled() && M >= 1 && M <= gemv_max_m() && K >= 8 && K % 8 == 0 &&
           ldx % 8 == 0 && aligned16(x);
}

/* rows of x from which the mma kernel runs: MMA_MIN_M, or RETNET_CUDA_GEMV_MMA_M (1..9; 9:
 * the FMA kernel up to its limit of 8) for comparisons */
static int mma_min_m(void) {
    static int m = 0;
    if (!m) {
        const char *e = getenv("RETNET_CUDA_GEMV_MMA_M");
        m = e && atoi(e) >= 1 && atoi(e) <= 9 ? atoi(e) : MMA_MIN_M;
    }
    return m;
}

/* The FMA kernel's warps per row pair: 2, or RETNET_CUDA_FMA=4,1 (one, as before b231f59)
 * for comparisons. The 1.3B step (dev/cuda/runs/next58.sh, next59.sh, the same runs): B = 1
 * 1.165-1.183 ms with one against 1.144-1.153 with two; B = 2 1.417-1.439 against
 * 1.337-1.342. Four warps a pair (next58), for the products with K 2816 and 4096 alone (a
 * warp's whole share in one round of loads before the wait; B = 1 1.243) or for all, and 8
 * loads in flight instead of 4 for every product were slower: 1024-block grids fill the GPU
 * and keep the next kernel's blocks from starting under programmatic launch. (8 for the
 * products with K > 2048 alone gain: fma_long_u.) */
static int fma_ks(void) {
    static int ks = 0;
    if (!ks) {
        const char *e = getenv("RETNET_CUDA_FMA");
        ks = e && !strcmp(e, "4,1") ? 1 : 2;
    }
    return ks;
}

/* The mma kernel's shape for K at one tile of x (M 3-8): W warps a block splitting K, U
 * loads in flight a lane and row, so that a warp's share of K is one round of loads (K <=
 * 4096) with 16 warps in each SM's block places: 16 x 4 for K <= 2048 (two blocks an SM), 16
 * x 8 up to 4096 (one). The old 8 x 8 (two blocks of 8 warps an SM) read wo and fc2 (K 4096,
 * 2816) in two rounds a warp, the second issued only after the first was summed, and their
 * 2048 rows (128 blocks) filled half the GPU's places. M = 8, each launch on its own weights
 * under programmatic launch (dev/cuda/gemv_lab.cu, next178.sh), 8 x 8 / 16 x 8 / 16 x 4, us:
 * q k v g 16.7 / 18.8 / 15.3, wo 9.6 / 6.6 / 8.6, fc1 | gate 9.5 / 10.1 / 8.4, fc2 6.2 / 5.1
 * / 5.3. The 1.3B step (next179.sh), old / this, ms: fla shape B = 4 1.483-1.504 / 1.369-1.372,
 * B = 8 1.655-1.683 / 1.541-1.549; the paper preset B = 8 1.748-1.750 / 1.579-1.588. Two
 * tiles (M 9-16) keep 8 x 8: 16 x 8 past K 2048 was level to 1.5% slower there (B = 12, 16),
 * and 16 x 4 spills at 64 registers. RETNET_CUDA_MMA_SHAPE=old (8 x 8 everywhere) or long (16
 * x 8 past K 2048 only, next178's first form) for comparisons. */
static void gemv_mma_shape(int64_t K8, int NT, int *W, int *U) {
    static int mode = -1; /* 0 this rule, 1 old, 2 long */
    if (mode < 0) {
        const char *e = getenv("RETNET_CUDA_MMA_SHAPE");
        mode = e && !strcmp(e, "old") ? 1 : e && !strcmp(e, "long") ? 2 : 0;
    }
    const int long_k = K8 > 4 * MMA_WARPS * MMA_U; /* 8 x 8 would take two rounds */
    if (mode == 1 || NT == 2 || (mode == 2 && !long_k))
        *W = MMA_WARPS, *U = MMA_U;
    else
        *W = MMA_WARPS_LONG, *U = long_k ? MMA_U : MMA_U / 2;
}

/* The FMA kernel's loads in flight a lane and row at M 1-2 (no norm's scale): 8 where K takes
 * two rounds of FMA_U a warp (K > 2048: wo, fc2), so that each warp's share is one round.
 * The 1.3B step (next179.sh), 4 / 8, ms: fla shape B = 1 1.076-1.081 / 1.042-1.053, B = 2
 * 1.267-1.271 / 1.227-1.243; the paper preset B = 1 1.178-1.186 / 1.132-1.138.
 * RETNET_CUDA_FMA_LONG_U=4 keeps FMA_U (comparisons). */
static int fma_long_u(void) {
    static int u = 0;
    if (!u) {
        const char *e = getenv("RETNET_CUDA_FMA_LONG_U");
        u = e && atoi(e) == FMA_U ? FMA_U : 2 * FMA_U;
    }
    return u;
}

/* a->seg[].P set: first[] for the kernel of M rows, and the launch */
static retnet_status run(gemv_args *a, int64_t M, cuda_stream s) {
    TRY(cuda_ensure_init());
    /* the FMA kernel takes up to 8 rows; a norm's scale (ys) one (rms_in's check) */
    const int mma = M >= mma_min_m() || M > 8;
    a->M = (int)M, a->first[0] = 0;
    for (int i = 0; i < a->nseg; i++)
        a->first[i + 1] = a->first[i] + (mma ? (a->seg[i].P + 7) / 8 : a->seg[i].P);
    const int64_t units = a->first[a->nseg];
    if (units == 0) return RETNET_OK;
    const int KS = fma_ks(); /* the FMA kernel's warps a unit */
    const int64_t blocks = mma ? units : (units * KS + FMA_WARPS - 1) / FMA_WARPS;
    if (blocks > INT32_MAX) return retnet_fail(RETNET_EINVAL, "cuda gemv: too many columns");
    cudaStream_t cs = (cudaStream_t)s;
    if (mma) {
        const int NT = M <= 8 ? 1 : 2;
        int W, U;
        gemv_mma_shape(a->K8, NT, &W, &U);
        void (*const k)(gemv_args) =
            NT == 2          ? gemv_mma_kernel<2, MMA_WARPS, MMA_U>
            : W == MMA_WARPS ? gemv_mma_kernel<1, MMA_WARPS, MMA_U>
            : U == MMA_U     ? gemv_mma_kernel<1, MMA_WARPS_LONG, MMA_U>
                             : gemv_mma_kernel<1, MMA_WARPS_LONG, MMA_U / 2>;
        CUDA_TRY(cuda_launch(k, dim3((unsigned)blocks), dim3(32 * W), 0, cs, *a), "cuda gemv");
        return RETNET_OK;
    }
#define FMA_KS(MB) {gemv_fma_kernel<MB, 1, false>, gemv_fma_kernel<MB, 2, false>}
    void (*const k[8][2])(gemv_args) = {FMA_KS(1), FMA_KS(2), FMA_KS(3), FMA_KS(4),
                                        FMA_KS(5), FMA_KS(6), FMA_KS(7), FMA_KS(8)};
#undef FMA_KS
    /* a norm's scale: one row (cuda_gemv_rms_suits) */
    void (*const kr[2])(gemv_args) = {gemv_fma_kernel<1, 1, true>, gemv_fma_kernel<1, 2, true>};
    void (*kf)(gemv_args) = a->ys ? kr[KS - 1] : k[(M < 8 ? M : 8) - 1][KS - 1];
    if (!a->ys && KS == 2 && M <= 2 && a->K8 > 32 * FMA_U * KS && fma_long_u() > FMA_U)
        kf = M == 1 ? gemv_fma_kernel<1, 2, false, 2 * FMA_U>
                    : gemv_fma_kernel<2, 2, false, 2 * FMA_U>;
    CUDA_TRY(cuda_launch(kf, dim3((unsigned)blocks), dim3(32 * FMA_WARPS), 0, cs, *a), "cuda gemv");
    return RETNET_OK;
}

static retnet_status check(const char *fn, int64_t M, int64_t K, const void *x, int64_t ldx) {
    if (!cuda_gemv_suits(M, K, x, ldx))
        return retnet_fail(RETNET_EUNSUPPORTED, "%s: needs 1 <= M <= %d, K and the row stride "
                           "multiples of 8, x 16-byte aligned (M %lld, K %lld, stride %lld)",
                           fn, CUDA_GEMV_MAX_M, (long long)M, (long long)K, (long long)ldx);
    return RETNET_OK;
}

int cuda_gemv_rms_suits(int64_t M, int64_t K, const void *x, int64_t ldx) {
    return cuda_gemv_suits(M, K, x, ldx) && M == 1 && mma_min_m() > 1;
}

/* the consumer's side of cuda_gemv_rms into a */
static retnet_status rms_in(gemv_args *a, const char *fn, int64_t M, int64_t K, const void *x,
                            int64_t ldx, const cuda_gemv_rms *rms) {
    if (!rms) return RETNET_OK;
    if (!cuda_gemv_rms_suits(M, K, x, ldx) || !rms->y || !aligned16(rms->y))
        return retnet_fail(RETNET_EUNSUPPORTED, "%s: a norm's scale needs the FMA kernel's rows "
                           "(M %lld: 1) and 16-byte aligned rows y", fn, (long long)M);
    a->ys = (const float4 *)rms->y, a->rn = 1.0 / (double)K, a->eps = rms->eps;
    return RETNET_OK;
}

retnet_status cuda_op_gemv_multi(const cuda_bf16 *x, int64_t M, int64_t K, int64_t ldx,
                                 const cuda_gemv_out *out, int n_out, cuda_stream s) {
    return cuda_op_gemv_multi_rms(x, M, K, ldx, out, n_out, NULL, s);
}

retnet_status cuda_op_gemv_multi_rms(const cuda_bf16 *x, int64_t M, int64_t K, int64_t ldx,
                                     const cuda_gemv_out *out, int n_out,
                                     const cuda_gemv_rms *rms, cuda_stream s) {
    TRY(check("cuda_op_gemv_multi", M, K, x, ldx));
    if (n_out < 1 || n_out > CUDA_GEMV_MAX_OUT || !out)
        return retnet_fail(RETNET_EINVAL, "cuda_op_gemv_multi: %d outputs (1..%d)", n_out,
                           CUDA_GEMV_MAX_OUT);
    gemv_args a;
    memset(&a, 0, sizeof a);
    a.x = (const uint4 *)x, a.ldx8 = ldx / 8, a.K8 = K / 8, a.nseg = n_out;
    TRY(rms_in(&a, "cuda_op_gemv_multi", M, K, x, ldx, rms));
    for (int i = 0; i < n_out; i++) {
        const cuda_gemv_out *o = &out[i];
        if (!o->w || !o->y || o->N < 0 || o->ldy < o->N || !aligned16(o->w) ||
            (o->y_type != CUDA_F32 && o->y_type != CUDA_BF16))
            return retnet_fail(RETNET_EINVAL, "cuda_op_gemv_multi: output %d: NULL, unaligned "
                               "weight, bad type or row stride below N", i);
        a.seg[i].w = (const uint4 *)o->w, a.seg[i].y = o->y, a.seg[i].cin = o->addend;
        a.seg[i].N = o->N, a.seg[i].ldy = o->ldy, a.seg[i].bf16 = o->y_type == CUDA_BF16;
        if (o->rope) {
            const cuda_gemv_rope *r = o->rope;
            if (o->y_type != CUDA_BF16 || o->addend || !r->pos || r->dk < 2 || r->dk % 2 ||
                o->N % r->dk)
                return retnet_fail(RETNET_EINVAL, "cuda_op_gemv_multi: output %d: rope needs a "
                                   "bf16 output, no addend, positions, and N a multiple of an "
                                   "even head width (N %lld, dk %d)", i, (long long)o->N, r->dk);
            a.seg[i].rope = 1, a.seg[i].half = r->half, a.seg[i].dk = r->dk;
            a.seg[i].base = r->base, a.seg[i].scale = r->scale, a.seg[i].pos = r->pos;
        }
        if (o->gelu) {
            if (o->y_type != CUDA_BF16 || o->addend || o->rope)
                return retnet_fail(RETNET_EINVAL, "cuda_op_gemv_multi: output %d: gelu needs a "
                                   "bf16 output, no addend and no rope", i);
            a.seg[i].gelu = 1;
        }
        if (o->rms) {
            const cuda_gemv_rms_out *r = o->rms;
            if (o->y_type != CUDA_F32 || o->rope || o->gelu || o->N % 8 || !r->w || !r->xw ||
                !aligned16(r->xw))
                return retnet_fail(RETNET_EINVAL, "cuda_op_gemv_multi: output %d: a norm's "
                                   "operand needs an fp32 output without rope or gelu, N a "
                                   "multiple of 8 (%lld) and a 16-byte aligned xw", i,
                                   (long long)o->N);
            a.seg[i].nw = r->w, a.seg[i].xw = (uint16_t *)r->xw;
        }
        a.seg[i].P = (o->N + 1) / 2;
    }
    return run(&a, M, s);
}

retnet_status cuda_op_gemv_glu(cuda_bf16 *y, const cuda_bf16 *x, const cuda_bf16 *w1,
                               const cuda_bf16 *w2, int64_t M, int64_t N, int64_t K,
                               cuda_act act, cuda_stream s) {
    return cuda_op_gemv_glu_rms(y, x, w1, w2, M, N, K, act, NULL, s);
}

retnet_status cuda_op_gemv_glu_rms(cuda_bf16 *y, const cuda_bf16 *x, const cuda_bf16 *w1,
                                   const cuda_bf16 *w2, int64_t M, int64_t N, int64_t K,
                                   cuda_act act, const cuda_gemv_rms *rms, cuda_stream s) {
    TRY(check("cuda_op_gemv_glu", M, K, x, K));
    if (!y || !w1 || !w2 || N < 0 || !aligned16(w1) || !aligned16(w2))
        return retnet_fail(RETNET_EINVAL, "cuda_op_gemv_glu: NULL or unaligned argument");
    gemv_args a;
    memset(&a, 0, sizeof a);
    a.x = (const uint4 *)x, a.ldx8 = K / 8, a.K8 = K / 8, a.nseg = 1, a.act = act;
    TRY(rms_in(&a, "cuda_op_gemv_glu", M, K, x, K, rms));
    a.seg[0].w = (const uint4 *)w1, a.seg[0].w2 = (const uint4 *)w2, a.seg[0].y = y;
    a.seg[0].N = N, a.seg[0].ldy = N, a.seg[0].bf16 = 1, a.seg[0].P = N;
    return run(&a, M, s);
}
