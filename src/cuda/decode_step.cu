/*
 * decode_step.cu: a whole RetNet decoding step for B <= 4 sequences as one persistent kernel.
 *
 * Why: at small batches a step is reading the weights once (1.3B: 2.4 GB of bf16 matrices,
 * 0.2 GB of state), yet as ~10 kernels a layer each product's launch ramps up and drains
 * (1.2 ms a token at B = 1, 47% of the 4.8 TB/s bound). Here one block per SM runs the whole
 * step, and the weights never wait for the data: each block's producer warp streams the
 * block's rows of every matrix, in the order they are used, through a ring of shared-memory
 * stages (TMA bulk copies, cp.async.bulk, completing on mbarriers). It runs ahead across the
 * phases' grid barriers, bounded only by the ring, so HBM keeps streaming while the eight
 * consumer warps wait for a barrier, form a norm or update the state.
 *
 * A layer is five phases, each ending in a grid barrier (every block's writes visible):
 *   A  x_n = Norm(x) (every block forms it, from L2); q, k, v, g = x_n W^T (block b: rows
 *      [N b / G, N (b + 1) / G) of each matrix); q, k kept unrotated in fp32.
 *   B  retention's step on units of (sequence, head, 32 state columns): q, k rotated and
 *      rounded to bf16 as rope.cu does, S = gamma S + k^T v, o = q S; with §3 the key sums z
 *      and the row factor f (model_row_factor) by the unit of column 0.
 *   C  y = HeadNorm(o f) * swish(g) (every block, from L2); x += y wo^T.
 *   D  x_n = Norm(x); h = act(x_n fc1^T) [* (x_n gate^T)], bf16.
 *   E  x += h fc2^T.
 * then the final norm and the logits. Products: each consumer warp takes one eighth of K (its
 * slice of x in registers for the whole phase) for every row of a stage; the 8 rows of a group
 * are summed over the warp's lanes by a transposing butterfly (9 shuffles for 8 rows), the
 * warps' partial sums added in warp order: fixed order, the same bits every run. The
 * arithmetic is the kernel-by-kernel path's (norm.cu, gemv.cu, retention.cu's step_kernel,
 * retention_norm.cu, rope.cu): the same formulas and roundings, other summation orders.
 *
 * The grid barrier is cooperative groups' (a counter whose top bit flips once per barrier,
 * reset to 0 before each launch); the launch is cooperative, so every block is resident.
 */
#include "cuda/common.cuh"
#include "cuda/decode_step.h"

extern "C" {
#include "model.h" /* model_row_factor: the CPU's §3 formula */
}

#define CW 8                   /* consumer warps */
#define NTHREADS (32 * (CW + 1)) /* and one producer warp */
#define CT (32 * CW)           /* consumer threads */
#define STAGE 32768            /* bytes a ring stage */
#define MAX_STAGES 8
#define RMAX 16                /* weight rows a stage at most (a GLU stage: twice) */
#define CPL 4                  /* 16-byte chunks of x a lane at most: K <= 64 * 32 * CPL */
#define KMAX (64 * 32 * CPL)
#define NVMAX 16               /* values a thread of a row norm (D <= CT NVMAX) and a lane of a head
                                  norm (dv <= 32 NVMAX) */
#define TC 32                  /* state columns a step unit */
#define DKMAX 1024

enum { SEG_Q, SEG_K, SEG_V, SEG_G, SEG_RESID, SEG_ACT, SEG_GLU, SEG_LOGITS };

typedef struct {
    const uint16_t *w, *w2; /* w2: the GLU's second matrix (same rows) */
    int64_t N;
    int K, type;
} seg_t;

/* scratch layout (floats): q, k (B, H dk) unrotated; f (B, H); rope (B, dk/2) cos, sin;
 * v (B, H dv) bf16; g, o (B, H dv); h (B, F) bf16; the barrier word */
typedef struct {
    float *q, *k, *f, *g, *o;
    float2 *rope;
    uint16_t *v, *h;
    unsigned *bar;
} scr_t;

static __host__ __device__ size_t al(size_t b) { return (b + 255) / 256 * 256; }

/* The scratch's parts at base (0: their offsets), and its size. */
static __host__ __device__ scr_t scr_layout(const ds_args &a, uintptr_t base, size_t *bytes) {
    uintptr_t p = base;
    const size_t B = a.B, dkt = (size_t)a.H * a.dk, dvt = (size_t)a.H * a.dv;
    scr_t s;
    s.q = (float *)p, p += al(B * dkt * 4);
    s.k = (float *)p, p += al(B * dkt * 4);
    s.f = (float *)p, p += al(B * a.H * 4);
    s.rope = (float2 *)p, p += al(B * (a.dk / 2) * 8);
    s.v = (uint16_t *)p, p += al(B * dvt * 2);
    s.g = (float *)p, p += al(B * dvt * 4);
    s.o = (float *)p, p += al(B * dvt * 4);
    s.h = (uint16_t *)p, p += al(B * (size_t)a.F * 2);
    s.bar = (unsigned *)p, p += al(4);
    if (bytes) *bytes = p - base;
    return s;
}

size_t cuda_decode_step_scratch_bytes(const ds_args *a) {
    size_t bytes = 0;
    scr_layout(*a, 0, &bytes);
    return bytes;
}

/* Shared memory: the ring, then x_n / y (B, kx) bf16 (kx: the widest K), the products'
 * partial sums (two buffers), the step's q, k and column sums, the mbarriers, the sums'
 * doubles. As many ring stages as fit (at most MAX_STAGES). */
#define SMEM_MAX (227 * 1024)
static __host__ __device__ int widest_k(const ds_args &a) {
    const int dvt = a.H * a.dv;
    int k = a.D > dvt ? a.D : dvt;
    return k > a.F ? k : a.F;
}
static __host__ __device__ size_t fixed_bytes(const ds_args &a) {
    return al((size_t)a.B * widest_k(a) * 2) + al(2 * 2 * RMAX * CW * a.B * 4) +
           al(2 * DKMAX * 4) + al(32 * TC * 4) + al(16 * MAX_STAGES) + al(8 * CW * 8) +
           al(sizeof(ds_layer) * a.L) + al((size_t)a.H * 12) + al(8 * DS_MAX_B);
}
static __host__ __device__ int ring_stages(const ds_args &a) {
    const long room = (long)SMEM_MAX - (long)fixed_bytes(a);
    const long ns = room > 0 ? room / STAGE : 0;
    return (int)(ns < MAX_STAGES ? ns : MAX_STAGES);
}

/* The products of phase `ph` (0: q k v g, 1: wo, 2: fc1 [gate], 3: fc2) of layer l, or at
 * l == L the output projection; false past the last. */
__device__ __forceinline__ bool get_seg(const ds_args &a, const ds_layer *tab, int l, int ph,
                                        int i, seg_t &s) {
    const int dkt = a.H * a.dk, dvt = a.H * a.dv;
    s.w2 = NULL;
    if (l == a.L) {
        if (i) return false;
        s = seg_t{a.wout, NULL, a.V, a.D, SEG_LOGITS};
        return true;
    }
    const ds_layer &y = tab[l];
    switch (ph) {
    case 0:
        if (i == 0) s = seg_t{y.wq, NULL, dkt, a.D, SEG_Q};
        else if (i == 1) s = seg_t{y.wk, NULL, dkt, a.D, SEG_K};
        else if (i == 2) s = seg_t{y.wv, NULL, dvt, a.D, SEG_V};
        else if (i == 3 && y.wg) s = seg_t{y.wg, NULL, dvt, a.D, SEG_G};
        else return false;
        return true;
    case 1:
        if (i) return false;
        s = seg_t{y.wo, NULL, a.D, dvt, SEG_RESID};
        return true;
    case 2:
        if (i) return false;
        s = seg_t{y.fc1, y.gate, a.F, a.D, y.gate ? SEG_GLU : SEG_ACT};
        return true;
    default:
        if (i) return false;
        s = seg_t{y.fc2, NULL, a.D, a.F, SEG_RESID};
        return true;
    }
}

/* rows of a stage for this product */
__device__ __forceinline__ int stage_rows(const seg_t &s) {
    const int r = STAGE / (s.K * 2 * (s.w2 ? 2 : 1));
    return r < RMAX ? r : RMAX;
}

/* ------------------------------------------------------------------ barriers and copies */

__device__ __forceinline__ uint32_t smem_u32(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes)
                 : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
    asm volatile("{\n.reg .pred P1;\nWAIT_%=:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 P1, [%0], %1;\n"
                 "@P1 bra DONE_%=;\nbra WAIT_%=;\nDONE_%=:\n}\n" ::"r"(bar),
                 "r"(parity)
                 : "memory");
}
/* bytes (a multiple of 16, both addresses 16-byte aligned) from global to shared, counted on bar */
__device__ __forceinline__ void bulk_load(uint32_t dst, const void *src, uint32_t bytes,
                                          uint32_t bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], "
                 "%2, [%3];\n" ::"r"(dst),
                 "l"(src), "r"(bytes), "r"(bar)
                 : "memory");
}
#endif

/* the consumer warps' own barrier (the producer warp never joins) */
__device__ __forceinline__ void cbar() { asm volatile("bar.sync 1, %0;\n" ::"n"(CT) : "memory"); }

/* Every block's consumers arrive; returns when all have (their writes visible). A block
 * stuck for ~10 s (a bug) traps instead of hanging the device. */
__device__ __forceinline__ void grid_sync(unsigned *bar, int skip = 0) {
    cbar();
    if (skip) return;
    if (threadIdx.x == 0) {
        const unsigned nb = blockIdx.x == 0 ? 0x80000000u - (gridDim.x - 1) : 1u;
        unsigned old, now;
        /* release: the block's writes (ordered before by the barrier above) go first */
        asm volatile("atom.add.release.gpu.u32 %0, [%1], %2;" : "=r"(old) : "l"(bar), "r"(nb) : "memory");
        const long long t0 = clock64();
        do {
            asm volatile("ld.acquire.gpu.u32 %0, [%1];" : "=r"(now) : "l"(bar) : "memory");
            if (clock64() - t0 > 20000000000ll) __trap();
        } while (((old ^ now) & 0x80000000u) == 0);
    }
    cbar();
}

/* Sum over the consumer threads in a fixed order; every one gets it. sh: CW doubles. */
__device__ __forceinline__ double csum(double v, double *sh) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    v = warp_sum(v);
    cbar();
    if (lane == 0) sh[w] = v;
    cbar();
    double s = 0;
#pragma unroll
    for (int i = 0; i < CW; i++) s += sh[i];
    return s;
}

__device__ __forceinline__ float bf16r(float x) { return bf16_bits_to_f32(f32_to_bf16_bits(x)); }

/* -------------------------------------------------------------------------- the norms */

/* xs (M, D) bf16 = Norm(x) of norm.cu's forward (statistics in double, two passes) */
template <int M>
__device__ void row_norm(const float *x, const float *w, const float *b, int D, int center,
                         float eps, uint16_t *xs, double *sh) {
    const int t = threadIdx.x;
    float wv[NVMAX], bv[NVMAX];
    /* every load issued before the first use: one round trip, not one per element */
#pragma unroll
    for (int i = 0; i < NVMAX; i++) {
        const int j = t + CT * i;
        wv[i] = w && j < D ? w[j] : 1.0f;
        bv[i] = b && j < D ? b[j] : 0.0f;
    }
    for (int m = 0; m < M; m++) {
        float v[NVMAX];
        double s = 0;
#pragma unroll
        for (int i = 0; i < NVMAX; i++) {
            const int j = t + CT * i;
            v[i] = j < D ? __ldcg(x + (int64_t)m * D + j) : 0.0f;
        }
#pragma unroll
        for (int i = 0; i < NVMAX; i++) s += v[i];
        const double mean = center ? csum(s, sh) / D : 0.0;
        double q = 0;
#pragma unroll
        for (int i = 0; i < NVMAX; i++)
            if (t + CT * i < D) {
                const double dd = v[i] - mean;
                q += dd * dd;
            }
        const double var = csum(q, sh) / D;
        const float r = (float)(1.0 / sqrt(var + eps)), mu = (float)mean;
#pragma unroll
        for (int i = 0; i < NVMAX; i++) {
            const int j = t + CT * i;
            if (j < D) {
                float y = (v[i] - mu) * r;
                if (w) y *= wv[i];
                if (b) y += bv[i];
                xs[m * D + j] = f32_to_bf16_bits(y);
            }
        }
    }
}

/* xs (M, H dv) bf16 = HeadNorm(o f) * swish(g): a warp per (sequence, head), as norm.cu's
 * head norm (mode 0 rms with shared weights, 1 group with per-head weights and bias, 2 none;
 * -1: neither norm nor gate, a plain rounding) */
template <int M>
__device__ __noinline__ void head_norm(const ds_args &a, const ds_layer &y, const scr_t &sc, uint16_t *xs) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, dv = a.dv, dvt = a.H * a.dv;
    const int mode = a.head_norm;
    for (int sg = w; sg < M * a.H; sg += CW) {
        const int m = sg / a.H, h = sg % a.H;
        const int64_t off = (int64_t)m * dvt + (int64_t)h * dv;
        const float f = a.normalize ? __ldcg(sc.f + m * a.H + h) : 1.0f;
        const float *wp = y.hn_w ? y.hn_w + (mode == 1 ? (int64_t)h * dv : 0) : NULL;
        const float *bp = mode == 1 && y.hn_b ? y.hn_b + (int64_t)h * dv : NULL;
        float v[NVMAX], gv[NVMAX], wv[NVMAX], bv[NVMAX];
        /* every load before the first use: one round trip */
#pragma unroll
        for (int i = 0; i < NVMAX; i++) {
            const int j = lane + 32 * i;
            const bool in = j < dv;
            v[i] = in ? __ldcg(sc.o + off + j) : 0.0f;
            gv[i] = in && y.wg ? __ldcg(sc.g + off + j) : 0.0f;
            wv[i] = in && wp ? wp[j] : 1.0f;
            bv[i] = in && bp ? bp[j] : 0.0f;
        }
        double s = 0;
#pragma unroll
        for (int i = 0; i < NVMAX; i++) {
            if (a.normalize) v[i] *= f;
            s += v[i];
        }
        float mu = 0.0f, r = 1.0f;
        if (mode == 0 || mode == 1) {
            const double mean = mode == 1 ? warp_sum(s) / dv : 0.0;
            double q = 0;
#pragma unroll
            for (int i = 0; i < NVMAX; i++)
                if (lane + 32 * i < dv) {
                    const double dd = v[i] - mean;
                    q += dd * dd;
                }
            const double var = warp_sum(q) / dv;
            r = (float)(1.0 / sqrt(var + a.eps)), mu = (float)mean;
        }
#pragma unroll
        for (int i = 0; i < NVMAX; i++) {
            const int j = lane + 32 * i;
            if (j < dv) {
                float u = v[i];
                if (mode >= 0) {
                    u = (u - mu) * r;
                    if (wp) u *= wv[i];
                    if (bp) u += bv[i];
                    if (y.wg) {
                        const float z = gv[i];
                        u *= z / (1.0f + expf(-z));
                    }
                }
                xs[off + j] = f32_to_bf16_bits(u);
            }
        }
    }
}

/* ----------------------------------------------------------------------- the products */

/* h (M, F) bf16 from global into xs (fc2's operand) */
template <int M>
__device__ __forceinline__ void copy_x(uint16_t *xs, const uint16_t *h, int n) {
    const int n8 = M * n / 8;
    for (int i0 = threadIdx.x; i0 < n8; i0 += 4 * CT) { /* 4 loads in flight */
        uint4 u[4];
#pragma unroll
        for (int k = 0; k < 4; k++)
            if (i0 + k * CT < n8) u[k] = __ldcg((const uint4 *)h + i0 + k * CT);
#pragma unroll
        for (int k = 0; k < 4; k++)
            if (i0 + k * CT < n8) ((uint4 *)xs)[i0 + k * CT] = u[k];
    }
}

/* One output row of a stage: w (K bf16) [and the GLU's second row w2] times the M rows of x
 * (smem, row stride K), summed over the warp: lane l takes the 16-byte chunks l, l + 32, ...
 * in order, then the warp's fixed butterfly. Every lane gets the sums. */
template <int M>
__device__ __forceinline__ void row_dot(const uint4 *w, const uint4 *w2, int K,
                                        const uint16_t *xs, float (&v)[M], float (&v2)[M]) {
    const int lane = threadIdx.x & 31, K8 = K >> 3;
#pragma unroll
    for (int m = 0; m < M; m++) v[m] = 0.0f, v2[m] = 0.0f;
    for (int c0 = lane; c0 < K8; c0 += 4 * 32) {
        uint4 wr[4], wr2[4];
#pragma unroll
        for (int u = 0; u < 4; u++) { /* 4 loads before the arithmetic */
            const int c = c0 + 32 * u;
            wr[u] = c < K8 ? w[c] : make_uint4(0, 0, 0, 0);
            if (w2) wr2[u] = c < K8 ? w2[c] : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < 4; u++) {
            const int c = c0 + 32 * u;
            if (c >= K8) break;
            float wf[8], wf2[8];
            unpack8(wr[u], wf);
            if (w2) unpack8(wr2[u], wf2);
#pragma unroll
            for (int m = 0; m < M; m++) {
                float xf[8];
                unpack8(((const uint4 *)(xs + (int64_t)m * K))[c], xf);
#pragma unroll
                for (int e = 0; e < 8; e++) v[m] = fmaf(wf[e], xf[e], v[m]);
                if (w2)
#pragma unroll
                    for (int e = 0; e < 8; e++) v2[m] = fmaf(wf2[e], xf[e], v2[m]);
            }
        }
    }
#pragma unroll
    for (int m = 0; m < M; m++) {
        v[m] = warp_sum_f(v[m]);
        if (w2) v2[m] = warp_sum_f(v2[m]);
    }
}

/* Row n's result for sequence m, stored as the product's type asks (gemv.cu's store_pair and
 * the separate kernels' formulas). */
__device__ __forceinline__ void store_out(const ds_args &a, const scr_t &sc, const seg_t &s,
                                          int m, int64_t n, float v, float v2, float x0) {
    const int dkt = a.H * a.dk, dvt = a.H * a.dv;
    switch (s.type) {
    case SEG_Q: sc.q[(int64_t)m * dkt + n] = v; break;
    case SEG_K: sc.k[(int64_t)m * dkt + n] = v; break;
    case SEG_V: sc.v[(int64_t)m * dvt + n] = f32_to_bf16_bits(v); break;
    case SEG_G: sc.g[(int64_t)m * dvt + n] = v; break;
    case SEG_RESID: a.x[(int64_t)m * a.D + n] = v + x0; break;
    case SEG_ACT:
        sc.h[(int64_t)m * a.F + n] =
            f32_to_bf16_bits(a.act == CUDA_ACT_GELU ? gelu_f(v) : swish_f(v));
        break;
    case SEG_GLU:
        sc.h[(int64_t)m * a.F + n] =
            f32_to_bf16_bits((a.act == CUDA_ACT_GELU ? gelu_f(v) : swish_f(v)) * v2);
        break;
    default: a.logits[(int64_t)m * a.V + n] = v;
    }
}

/* The ring's position, shared by the producer's and the consumers' walks over the stages. */
typedef struct {
    unsigned char *ring;
    uint32_t full, empty; /* shared addresses of the stages' mbarriers (8 bytes each) */
    int ns;
    uint32_t it; /* stages so far */
} ring_t;

/* The consumers' side of one phase's products: every stage of this block's rows. Each warp
 * takes every CW-th output row of the block's slice and walks the stages on its own (no
 * block barrier a stage): it waits for a stage only where it has rows in it, and releases
 * every stage (the producer refills a slot once all CW warps have). */
template <int M>
__device__ void run_products(const ds_args &a, const ds_layer *tab, const scr_t &sc, int l,
                             int ph, const uint16_t *xs, ring_t &rg, float *red) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    const int G = gridDim.x, b = blockIdx.x, lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    seg_t s;
    for (int i = 0; get_seg(a, tab, l, ph, i, s); i++) {
        const int64_t r0 = s.N * b / G, r1 = s.N * (b + 1) / G;
        const int R = stage_rows(s);
        for (int64_t r = r0; r < r1; r += R) {
            const int nr = (int)(r1 - r < R ? r1 - r : R);
            const int slot = (int)(rg.it % rg.ns);
            const uint32_t par = (rg.it / rg.ns) & 1;
            rg.it++;
            /* this warp's rows of the stage: q = first .. nr, step CW, counted from r0 */
            int q = (int)((w - (r - r0) % CW + CW) % CW);
            if (q < nr) {
                /* the residual of the warp's first row, loaded before the wait */
                float x0[M];
#pragma unroll
                for (int m = 0; m < M; m++)
                    x0[m] = s.type == SEG_RESID && lane == m
                                ? __ldcg(a.x + (int64_t)m * a.D + r + q) : 0.0f;
                mbar_wait(rg.full + 8 * slot, par);
                const unsigned char *st = rg.ring + (size_t)slot * STAGE;
                for (bool first = true; q < nr; q += CW, first = false) {
                    float v[M], v2[M];
                    const uint4 *wr = (const uint4 *)(st + (size_t)q * s.K * 2);
                    const uint4 *wr2 =
                        s.w2 ? (const uint4 *)(st + (size_t)(nr + q) * s.K * 2) : NULL;
                    if (!(a.debug & 1)) {
                        row_dot<M>(wr, wr2, s.K, xs, v, v2);
                    } else {
#pragma unroll
                        for (int m = 0; m < M; m++) v[m] = v2[m] = 0.0f;
                    }
#pragma unroll
                    for (int m = 0; m < M; m++)
                        if (lane == m) {
                            const float xo = first || s.type != SEG_RESID
                                                 ? x0[m] : __ldcg(a.x + (int64_t)m * a.D + r + q);
                            store_out(a, sc, s, m, r + q, v[m], v2[m], xo);
                        }
                }
            }
            __syncwarp();
            if (lane == 0) mbar_arrive(rg.empty + 8 * slot);
        }
    }
#endif
}

__device__ __forceinline__ unsigned long long gtimer() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

/* A walk over this block's stages in the order they are used: layer, phase, product, rows. */
typedef struct {
    int l, ph, i;
    seg_t s;
    int64_t r, r1;
    int R, nr;
    bool valid;
} cursor_t;

__device__ __forceinline__ void cursor_seek(const ds_args &a, const ds_layer *tab, cursor_t &c) {
    const int G = gridDim.x, b = blockIdx.x;
    for (;;) { /* the first product from (l, ph, i) on with rows in this block */
        if (c.l > a.L) {
            c.valid = false;
            return;
        }
        if (get_seg(a, tab, c.l, c.ph, c.i, c.s)) {
            c.r = c.s.N * b / G, c.r1 = c.s.N * (b + 1) / G, c.R = stage_rows(c.s);
            if (c.r < c.r1) break;
            c.i++;
        } else if (c.ph < (c.l == a.L ? 0 : 3)) {
            c.ph++, c.i = 0;
        } else {
            c.l++, c.ph = 0, c.i = 0;
        }
    }
    c.nr = (int)(c.r1 - c.r < c.R ? c.r1 - c.r : c.R);
    c.valid = true;
}
__device__ __forceinline__ void cursor_next(const ds_args &a, const ds_layer *tab, cursor_t &c) {
    c.r += c.R;
    if (c.r < c.r1) {
        c.nr = (int)(c.r1 - c.r < c.R ? c.r1 - c.r : c.R);
        return;
    }
    c.i++;
    cursor_seek(a, tab, c);
}

/* The producer: the consumers' walk, issuing each stage's copies once its slot is free and
 * at most `inflight` copies are on their way; with l2_ahead, the stages after the ring's are
 * also requested into L2 (cp.async.bulk.prefetch), so that HBM keeps streaming while the
 * ring is full and the consumers wait at a barrier. */
__device__ void produce(const ds_args &a, const ds_layer *tab, ring_t &rg) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    unsigned long long waited = 0;
    cursor_t c = {0, 0, 0}, pf = {0, 0, 0};
    cursor_seek(a, tab, c);
    cursor_seek(a, tab, pf);
    uint32_t npf = 0; /* stages prefetched */
    for (; c.valid; cursor_next(a, tab, c)) {
        const uint32_t it = rg.it++;
        while (a.l2_ahead > 0 && pf.valid && npf < it + rg.ns + a.l2_ahead) {
            if (npf >= it + rg.ns) {
                const uint32_t bytes = (uint32_t)pf.nr * pf.s.K * 2;
                asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(pf.s.w + pf.r * pf.s.K),
                             "r"(bytes) : "memory");
                if (pf.s.w2)
                    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(pf.s.w2 + pf.r * pf.s.K),
                                 "r"(bytes) : "memory");
            }
            npf++;
            cursor_next(a, tab, pf);
        }
        const int slot = (int)(it % rg.ns);
        const uint32_t use = it / rg.ns;
        const unsigned long long t0 = a.prof ? gtimer() : 0;
        if (use > 0) mbar_wait(rg.empty + 8 * slot, (use - 1) & 1);
        /* at most `inflight` copies on their way */
        if (it >= (uint32_t)a.inflight) {
            const uint32_t j = it - a.inflight;
            mbar_wait(rg.full + 8 * (j % rg.ns), (j / rg.ns) & 1);
        }
        if (a.prof) waited += gtimer() - t0;
        const uint32_t bytes = (uint32_t)c.nr * c.s.K * 2;
        const uint32_t dst = smem_u32(rg.ring + (size_t)slot * STAGE);
        mbar_expect_tx(rg.full + 8 * slot, c.s.w2 ? 2 * bytes : bytes);
        bulk_load(dst, c.s.w + c.r * c.s.K, bytes, rg.full + 8 * slot);
        if (c.s.w2) bulk_load(dst + bytes, c.s.w2 + c.r * c.s.K, bytes, rg.full + 8 * slot);
    }
    if (a.prof && blockIdx.x == 0) a.prof[DS_PROF_SLOTS * a.L] = waited;
#endif
}

/* ------------------------------------------------------------------- retention's step */

/* q or k of (m, h) rotated (rope.cu's formula) and rounded to bf16, into dst (dk floats) */
__device__ __forceinline__ void rotate(const ds_args &a, const float *src, const float2 *cs,
                                       float scale, float *dst) {
    const int dk = a.dk, hp = dk / 2;
    for (int i = threadIdx.x; i < dk; i += CT) {
        int j, first, partner;
        if (a.rope_half) j = i % hp, first = i < hp, partner = first ? i + hp : i - hp;
        else j = i >> 1, first = !(i & 1), partner = i ^ 1;
        const float c = cs[j].x, sn = cs[j].y;
        const float v0 = __ldcg(src + (first ? i : partner)), v1 = __ldcg(src + (first ? partner : i));
        const float u = first ? __fmaf_rn(v0, c, -(v1 * sn)) : __fmaf_rn(v0, sn, v1 * c);
        dst[i] = bf16r(u * scale);
    }
}

/* Units (m, h, 32 columns): this block's, from `first`, stepping by the grid. */
__device__ __noinline__ void step_units(const ds_args &a, const scr_t &sc, float *S, float *qs, float *ks,
                           float *red2, double *sh, const float *gam_s, const double *gam64_s,
                           const int64_t *pos_s) {
    const int G = gridDim.x, t = threadIdx.x, H = a.H, dk = a.dk, dv = a.dv;
    const int dkt = H * dk, dvt = H * dv, nt = dv / TC;
    const int units = a.B * H * nt;
    const int c4 = t & 7, rgp = t >> 3; /* 8 float4 columns, 32 row groups */
    for (int u = blockIdx.x; u < units; u += G) {
        const int tile = u % nt, h = (u / nt) % H, m = u / (nt * H);
        const int64_t bh = (int64_t)m * H + h;
        const float2 *cs = sc.rope + (int64_t)m * (dk / 2);
        rotate(a, sc.q + (int64_t)m * dkt + (int64_t)h * dk, cs, 1.0f, qs);
        rotate(a, sc.k + (int64_t)m * dkt + (int64_t)h * dk, cs, a.kscale, ks);
        cbar();
        if (a.normalize && tile == 0) { /* retention_norm.cu's z_step_kernel */
            float *z = S + (int64_t)a.B * dkt * dv + bh * dk;
            const float g = (float)gam64_s[h];
            double acc = 0;
            for (int i = t; i < dk; i += CT) {
                const float zi = g * z[i] + ks[i];
                z[i] = zi;
                acc += (double)(qs[i] * zi);
            }
            const double r = csum(acc, sh);
            if (t == 0) sc.f[bh] = model_row_factor(gam64_s[h], pos_s[m], (float)r);
        }
        /* retention.cu's step_kernel on 32 columns */
        const int col = tile * TC + c4 * 4;
        float *Sb = S + bh * dk * dv + col;
        const float gam = gam_s[h];
        const uint2 vraw = __ldcg((const uint2 *)(sc.v + (int64_t)m * dvt + (int64_t)h * dv + col));
        const float2 v01 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&vraw.x));
        const float2 v23 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&vraw.y));
        float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
        for (int i0 = rgp; i0 < dk; i0 += 32 * 8) {
            float4 s[8];
#pragma unroll
            for (int uu = 0; uu < 8; uu++) {
                const int i = i0 + 32 * uu;
                if (i < dk) s[uu] = __ldcs((const float4 *)(Sb + (int64_t)i * dv));
            }
#pragma unroll
            for (int uu = 0; uu < 8; uu++) {
                const int i = i0 + 32 * uu;
                if (i < dk) {
                    const float kk = ks[i], qq = qs[i];
                    s[uu].x = gam * s[uu].x + kk * v01.x;
                    s[uu].y = gam * s[uu].y + kk * v01.y;
                    s[uu].z = gam * s[uu].z + kk * v23.x;
                    s[uu].w = gam * s[uu].w + kk * v23.y;
                    __stcs((float4 *)(Sb + (int64_t)i * dv), s[uu]);
                    acc.x += qq * s[uu].x, acc.y += qq * s[uu].y;
                    acc.z += qq * s[uu].z, acc.w += qq * s[uu].w;
                }
            }
        }
        *(float4 *)(red2 + rgp * TC + c4 * 4) = acc;
        cbar();
        if (t < TC) {
            float sum = 0.0f;
            for (int r = 0; r < 32; r++) sum += red2[r * TC + t];
            sc.o[(int64_t)m * dvt + (int64_t)h * dv + tile * TC + t] = sum;
        }
        cbar(); /* qs, ks, red2 are reused by the next unit */
    }
}

/* the first state rows of this block's first unit into L2 while the products finish */
__device__ __forceinline__ void prefetch_state(const ds_args &a, const float *S) {
    const int nt = a.dv / TC, u = blockIdx.x;
    if (u >= a.B * a.H * nt) return;
    const int tile = u % nt, h = (u / nt) % a.H, m = u / (nt * a.H);
    const int t = threadIdx.x, c4 = t & 7, rgp = t >> 3;
    const float *Sb = S + ((int64_t)m * a.H + h) * a.dk * a.dv + tile * TC + c4 * 4;
    for (int i = rgp; i < a.dk; i += 32)
        asm volatile("prefetch.L2 [%0];" ::"l"(Sb + (int64_t)i * a.dv));
}

/* ------------------------------------------------------------------------- the kernel */

template <int M>
__global__ void __launch_bounds__(NTHREADS, 1) decode_step_kernel(const __grid_constant__ ds_args a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    extern __shared__ __align__(1024) unsigned char smem[];
    const int t = threadIdx.x;
    const scr_t sc = scr_layout(a, (uintptr_t)a.scratch, NULL);
    ring_t rg;
    rg.ring = smem;
    rg.ns = ring_stages(a);
    rg.it = 0;
    unsigned char *p = smem + (size_t)rg.ns * STAGE;
    uint16_t *xs = (uint16_t *)p;
    p += al((size_t)M * widest_k(a) * 2);
    float *red = (float *)p;
    p += al(2 * 2 * RMAX * CW * M * 4);
    float *qs = (float *)p, *ks = qs + DKMAX;
    p += al(2 * DKMAX * 4);
    float *red2 = (float *)p;
    p += al(32 * TC * 4);
    rg.full = smem_u32(p), rg.empty = rg.full + 8 * MAX_STAGES;
    p += al(16 * MAX_STAGES);
    double *sh = (double *)p;
    p += al(8 * CW * 8);
    /* the layer table, decays and positions: read at every phase, so kept here rather than
     * re-read from global memory (a round trip each) */
    ds_layer *tab = (ds_layer *)p;
    p += al(sizeof(ds_layer) * a.L);
    double *gam64_s = (double *)p;
    float *gam_s = (float *)(gam64_s + a.H);
    p += al((size_t)a.H * 12);
    int64_t *pos_s = (int64_t *)p;
    for (int i = t; i < (int)(sizeof(ds_layer) / 8) * a.L; i += NTHREADS)
        ((unsigned long long *)tab)[i] = ((const unsigned long long *)a.layers)[i];
    for (int i = t; i < a.H; i += NTHREADS) gam64_s[i] = a.gamma64[i], gam_s[i] = a.gamma[i];
    for (int i = t; i < a.B; i += NTHREADS) pos_s[i] = a.pos[i];
    if (t == 0) {
        for (int i = 0; i < rg.ns; i++) mbar_init(rg.full + 8 * i, 1), mbar_init(rg.empty + 8 * i, CW);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
    if (t >= CT) { /* the producer warp */
        if (t == CT) produce(a, tab, rg);
        return;
    }

    /* the rotation's cos, sin per (sequence, pair), rope.cu's formula; read after a barrier */
    for (int e = blockIdx.x * CT + t; e < a.B * (a.dk / 2); e += gridDim.x * CT) {
        const int m = e / (a.dk / 2), j = e % (a.dk / 2), npair = a.dk / 2;
        const double theta = a.rope_half ? pow((double)a.rope_base, -2.0 * j / a.dk)
                                         : (npair > 1 ? pow((double)a.rope_base, -(double)j / (npair - 1)) : 1.0);
        double sd, cd;
        sincos((double)pos_s[m] * theta, &sd, &cd);
        sc.rope[e] = make_float2((float)cd, (float)sd);
    }


    const bool pr = a.prof && blockIdx.x == 0 && t == 0;
    if (pr) a.prof[DS_PROF_SLOTS * a.L + 1] = gtimer();
#define STAMP(k) \
    if (pr) a.prof[DS_PROF_SLOTS * l + (k)] = gtimer()
    for (int l = 0; l < a.L; l++) {
        const ds_layer &y = tab[l];
        float *S = a.state + l * a.state_stride;
        /* A: q, k, v, g */
        row_norm<M>(a.x, y.norm1_w, y.norm1_b, a.D, a.center, a.eps, xs, sh);
        cbar();
        run_products<M>(a, tab, sc, l, 0, xs, rg, red);
        prefetch_state(a, S);
        STAMP(0);
        grid_sync(sc.bar, a.debug & 2);
        STAMP(1);
        /* B: the state */
        step_units(a, sc, S, qs, ks, red2, sh, gam_s, gam64_s, pos_s);
        STAMP(2);
        grid_sync(sc.bar, a.debug & 2);
        STAMP(3);
        /* C: head norm, gate, wo */
        head_norm<M>(a, y, sc, xs);
        cbar();
        run_products<M>(a, tab, sc, l, 1, xs, rg, red);
        STAMP(4);
        grid_sync(sc.bar, a.debug & 2);
        STAMP(5);
        /* D: the FFN's first product */
        row_norm<M>(a.x, y.norm2_w, y.norm2_b, a.D, a.center, a.eps, xs, sh);
        cbar();
        run_products<M>(a, tab, sc, l, 2, xs, rg, red);
        STAMP(6);
        grid_sync(sc.bar, a.debug & 2);
        STAMP(7);
        /* E: fc2 */
        copy_x<M>(xs, sc.h, a.F);
        cbar();
        run_products<M>(a, tab, sc, l, 3, xs, rg, red);
        STAMP(8);
        grid_sync(sc.bar, a.debug & 2);
        STAMP(9);
    }
#undef STAMP
    row_norm<M>(a.x, a.fnorm_w, a.fnorm_b, a.D, a.center, a.eps, xs, sh);
    cbar();
    run_products<M>(a, tab, sc, a.L, 0, xs, rg, red);
    if (pr) a.prof[DS_PROF_SLOTS * a.L + 2] = gtimer();
#else
    __trap(); /* sm_90 only: cuda_decode_step_suits refuses older devices */
#endif
}

/* ---------------------------------------------------------------------------- host side */

static size_t smem_bytes(const ds_args *a) {
    return fixed_bytes(*a) + (size_t)ring_stages(*a) * STAGE;
}

int cuda_decode_step_suits(const ds_args *a, const char **why) {
    const char *w = NULL;
    const int dvt = a->H * a->dv;
    int dev = 0, major = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    if (major < 9) w = "needs sm_90 (TMA bulk copies)";
    else if (a->B < 1 || a->B > DS_MAX_B) w = "batch above 4";
    else if (a->D % 64 || dvt % 64 || a->F % 64) w = "widths not multiples of 64";
    else if (a->D > KMAX || dvt > KMAX || a->F > KMAX) w = "widths above 8192";
    else if (a->D > CT * NVMAX) w = "d_model above 4096";
    else if (a->dv % TC || a->dv > 32 * NVMAX) w = "head value width not a multiple of 32 or above 512";
    else if (a->dk % 2 || a->dk > DKMAX) w = "head key width odd or above 1024";
    else if (ring_stages(*a) < 2) w = "shared memory (the widths)";
    if (why) *why = w;
    return w == NULL;
}

retnet_status cuda_decode_step(const ds_args *a, cudaStream_t s) {
    const char *why = NULL;
    if (!cuda_decode_step_suits(a, &why))
        return retnet_fail(RETNET_EUNSUPPORTED, "CUDA decoding step: %s", why);
    const size_t smem = smem_bytes(a);
    void (*k)(ds_args) = a->B == 1 ? decode_step_kernel<1> : a->B == 2 ? decode_step_kernel<2>
                       : a->B == 3 ? decode_step_kernel<3> : decode_step_kernel<4>;
    CUDA_TRY(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
             "decode_step smem");
    int per_sm = 0;
    CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k, NTHREADS, smem),
             "decode_step occupancy");
    if (per_sm < 1) return retnet_fail(RETNET_EDEVICE, "CUDA decoding step: no block fits an SM");
    const scr_t sc = scr_layout(*a, (uintptr_t)a->scratch, NULL);
    CUDA_TRY(cudaMemsetAsync(sc.bar, 0, 4, s), "decode_step barrier");
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeCooperative;
    at[0].val.cooperative = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(cuda_sm_count()), cfg.blockDim = dim3(NTHREADS);
    cfg.dynamicSmemBytes = smem, cfg.stream = s, cfg.attrs = at, cfg.numAttrs = 1;
    ds_args b = *a;
    const int ns = ring_stages(b);
    if (b.inflight <= 0) b.inflight = 2;
    if (b.inflight > ns) b.inflight = ns;
    CUDA_TRY(cudaLaunchKernelEx(&cfg, k, b), "decode_step launch");
    return RETNET_OK;
}
