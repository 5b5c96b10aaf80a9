/*
 * gemv.cu: products with a few rows of activations (decoding: one row per sequence), where
 * the time is reading the weights once. cuBLASLt's kernels for M <= 8 reach ~1.2 TB/s on an
 * H200 (7 us for a 2048 x 2048 bf16 matrix, profiled); these stream each weight row once at
 * close to the copy bandwidth, and several products that share their input run as one launch
 * (the mixer's q, k, v, g; the GLU's two products with act(a) * b in the epilogue), so a small
 * matrix is not a launch's worth of latency on its own.
 *
 * One warp computes two output columns (two weight rows) for all M rows of x: each lane reads
 * 16 bytes (8 bf16) of each weight row per step, U steps in flight, and the matching 16 bytes
 * of every x row (from L1: x is a few KB); fp32 products and sums, then the warp's fixed
 * butterfly. The order of the sum differs from cuBLAS's; both accumulate in fp32 (the same
 * error bound: K u_f32 of sum |x w|).
 *
 * Decoding's chain of short kernels: launched with programmatic dependent launch (a decoding
 * step sets cuda_set_pdl), each warp asks L2 for its two weight rows and loads their first
 * part before it waits for the kernel before, so the weights stream while that one ends.
 * The norm in front of a product can be folded in (cuda_gemv_norm): every block forms x =
 * norm(src) in its shared memory from the fp32 rows, summed as norm.cu sums (the same bits),
 * which drops the norm's kernel and x's round trip through memory.
 */
#include "cuda/common.cuh"

#include <stdlib.h>
#include <string.h>

#define GEMV_WARPS 4 /* warps per block */
#define GEMV_U 4     /* 16-byte loads in flight per lane and weight row */

typedef struct {
    const uint4 *w;  /* (N, K) bf16, rows of K / 8 uint4 */
    void *y;         /* (M, N), row stride ldy; fp32 or bf16 */
    const void *cin; /* addend of y's type (may be y), or NULL */
    const uint4 *w2; /* GLU: the second weight (y = act(x w^T) * (x w2^T), bf16) */
    int64_t N, ldy;
    int bf16;
    /* rope (cuda_gemv_rope): the warp's two rows are a rotation pair of one head, rotated
     * and scaled in the epilogue as rope.cu does it */
    const int64_t *pos;
    double base;
    float scale;
    int rope, half, dk;
} gemv_seg;

/* x folded in (cuda_gemv_norm): the norm's rows and norm.cu's group shape (T, K) for them */
typedef struct {
    const float *src, *gate, *w, *b;
    int on, h, n, T, K, center, wshared, identity;
    float eps;
} gemv_norm;

#define GEMV_NORM_SEGS 64 /* segments of a fold (M h) */
#define GEMV_NORM_RED 256 /* their warps' partial sums (M h T / 32) */
#define GEMV_NORM_SMEM (40 << 10) /* x in shared memory, M K bf16 (with the fold's 3 KiB of
                                    static memory, within the 48 KiB a launch gets) */

typedef struct {
    const uint4 *x; /* (M, K) bf16, row stride ldx8 uint4 */
    int64_t ldx8, K8;
    int nseg, act, prefetch;
    gemv_norm nrm;
    gemv_seg seg[CUDA_GEMV_MAX_OUT];
    int64_t first[CUDA_GEMV_MAX_OUT + 1]; /* first warp of each segment */
} gemv_args;

/*
 * The fold: the M rows of x = norm(src) as bf16 into xs (K8 uint4 a row), by the whole block.
 * The statistics are summed as norm.cu's register kernels sum them, so the values are its
 * bits: virtual thread t of a group of T holds values 4 (t + T k) + i of its segment and adds
 * them in that order in double, each virtual warp's sum is the warp's butterfly, the group's
 * is its warps' in order; then (x - mu) r [w] [+ b] [swish(gate)] in rounded fp32 steps.
 * The inputs were written by the kernel before: read through L2 (__ldcg).
 */
__device__ void gemv_fold(const gemv_norm &p, int M, int64_t K8, uint4 *xs) {
    __shared__ double red[GEMV_NORM_RED], mean[GEMV_NORM_SEGS];
    __shared__ float2 st[GEMV_NORM_SEGS]; /* (mu, r) */
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    const int nseg = M * p.h, nvw = p.T / 32;
    const int64_t K = K8 * 8;
    for (int sg = threadIdx.x; sg < nseg; sg += blockDim.x)
        mean[sg] = 0.0, st[sg] = make_float2(0.0f, 1.0f);
    __syncthreads();
    for (int pass = p.identity ? 2 : p.center ? 0 : 1; pass < 2; pass++) { /* mean, variance */
        for (int q = wid; q < nseg * nvw; q += nw) {
            const int sg = q / nvw, t = (q % nvw) * 32 + lane;
            const float *seg = p.src + (int64_t)(sg / p.h) * K + (int64_t)(sg % p.h) * p.n;
            const double mu = mean[sg];
            double acc = 0;
            for (int k = 0; k < p.K; k++)
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const int c = 4 * (t + p.T * k) + i;
                    if (c < p.n) {
                        const float xv = __ldcg(seg + c);
                        if (pass) {
                            const double dd = xv - mu;
                            acc += dd * dd;
                        } else {
                            acc += xv;
                        }
                    }
                }
            acc = warp_sum(acc);
            if (lane == 0) red[q] = acc;
        }
        __syncthreads();
        for (int sg = threadIdx.x; sg < nseg; sg += blockDim.x) {
            double acc = red[sg * nvw];
            for (int k = 1; k < nvw; k++) acc += red[sg * nvw + k];
            if (pass == 0) mean[sg] = acc / p.n;
            else st[sg] = make_float2((float)mean[sg], (float)(1.0 / sqrt(acc / p.n + p.eps)));
        }
        __syncthreads();
    }
    for (int64_t e = threadIdx.x; e < M * K8; e += blockDim.x) {
        const int64_t m = e / K8, c0 = (e % K8) * 8;
        uint32_t pk[4];
#pragma unroll
        for (int j = 0; j < 8; j += 2) {
            uint32_t two = 0;
#pragma unroll
            for (int jj = 0; jj < 2; jj++) {
                const int64_t col = c0 + j + jj;
                const int head = (int)(col / p.n), c = (int)(col % p.n);
                const float2 ms = st[m * p.h + head];
                const int64_t poff = p.wshared ? 0 : (int64_t)head * p.n;
                float v = __fmul_rn(__ldcg(p.src + m * K + col) - ms.x, ms.y);
                if (p.w) v = __fmul_rn(v, __ldg(p.w + poff + c));
                if (p.b) v += __ldg(p.b + poff + c);
                if (p.gate) {
                    const float z = __ldcg(p.gate + m * K + col);
                    v *= z / (1.0f + expf(-z));
                }
                two |= (uint32_t)f32_to_bf16_bits(v) << (16 * jj);
            }
            pk[j / 2] = two;
        }
        xs[e] = make_uint4(pk[0], pk[1], pk[2], pk[3]);
    }
    __syncthreads();
}

template <int MB, int U = GEMV_U>
__global__ void __launch_bounds__(32 * GEMV_WARPS) gemv_kernel(gemv_args a) {
    extern __shared__ uint4 xs[]; /* the fold's x */
    pdl_trigger();
    const int lane = threadIdx.x & 31;
    const int64_t wid = (int64_t)blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    int s = 0;
    while (s < a.nseg - 1 && wid >= a.first[s + 1]) s++;
    /* warps past the last column still take part in the fold (its barriers) */
    const bool live = wid < a.first[a.nseg];
    const gemv_seg &g = a.seg[s];
    const int glu = g.w2 != NULL;
    /* plain: columns n, n + 1 of one weight; GLU: column n of both weights; rope: the
     * columns n, n1 of pair j of a head (j, j + dk/2 for the half rotation, 2j, 2j + 1 for
     * the paper's) */
    int64_t n = 0, n1 = 1;
    int j = 0;
    const uint4 *r0 = NULL, *r1 = NULL;
    if (live) {
        const int64_t local = wid - a.first[s];
        n = glu ? local : 2 * local, n1 = n + 1;
        if (g.rope) {
            const int npair = g.dk / 2;
            const int64_t head = local / npair;
            j = (int)(local % npair);
            n = head * g.dk + (g.half ? j : 2 * j);
            n1 = head * g.dk + (g.half ? j + npair : 2 * j + 1);
        }
        r0 = g.w + n * a.K8;
        r1 = glu ? g.w2 + n * a.K8 : (n1 < g.N ? g.w + n1 * a.K8 : NULL);
    }
    float acc0[MB], acc1[MB];
#pragma unroll
    for (int m = 0; m < MB; m++) acc0[m] = 0.0f, acc1[m] = 0.0f;
    /* the weights' first loads are issued before waiting for x: under programmatic launch
     * (cuda_launch) they stream while the kernel before finishes */
    uint4 w0[U], w1[U];
    auto load = [&](int64_t i0) {
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int64_t i = i0 + 32 * u;
            const uint4 z = make_uint4(0, 0, 0, 0);
            w0[u] = i < a.K8 ? __ldcs(r0 + i) : z; /* streamed: no reuse */
            w1[u] = i < a.K8 && r1 ? __ldcs(r1 + i) : z;
        }
    };
    /* the rest of both rows asked of L2 too (RETNET_CUDA_GEMV_PREFETCH=0: not): under
     * programmatic launch the whole matrix streams in while the kernels before finish */
    if (live) {
        if (a.prefetch && lane < 2 && (lane ? r1 : r0))
            prefetch_l2(lane ? r1 : r0, (uint32_t)(a.K8 * 16));
        load(lane);
    }
    pdl_wait();
    if (a.nrm.on) gemv_fold(a.nrm, MB, a.K8, xs);
    if (!live) return;
    for (int64_t i0 = lane; i0 < a.K8; i0 += 32 * U) {
        if (i0 != lane) load(i0);
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int64_t i = i0 + 32 * u;
            if (i >= a.K8) break;
            /* each value widened once: the weights' for all rows of x, x's for both columns
             * (at M = 8, widening per product made the kernel issue-bound) */
            float f0[8], f1[8];
            unpack8(w0[u], f0);
            unpack8(w1[u], f1);
#pragma unroll
            for (int m = 0; m < MB; m++) {
                float xf[8];
                unpack8(a.nrm.on ? xs[m * a.K8 + i] : __ldg(a.x + m * a.ldx8 + i), xf);
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    acc0[m] = fmaf(f0[j], xf[j], acc0[m]);
                    acc1[m] = fmaf(f1[j], xf[j], acc1[m]);
                }
            }
        }
    }
#pragma unroll
    for (int m = 0; m < MB; m++) acc0[m] = warp_sum_f(acc0[m]), acc1[m] = warp_sum_f(acc1[m]);
    if (lane != 0) return;
    if (g.rope) { /* rope.cu's rope_kernel, operation for operation (the same bits) */
        const int npair = g.dk / 2;
        const double theta = g.half ? pow(g.base, -2.0 * j / g.dk)
                                    : (npair > 1 ? pow(g.base, -(double)j / (npair - 1)) : 1.0);
#pragma unroll
        for (int m = 0; m < MB; m++) {
            double sd, cd;
            sincos((double)g.pos[m] * theta, &sd, &cd);
            const float c = (float)cd, sn = (float)sd, av = acc0[m], bv = acc1[m];
            const float u = __fmaf_rn(av, c, -(bv * sn)) * g.scale;
            const float v = __fmaf_rn(av, sn, bv * c) * g.scale;
            ((uint16_t *)g.y)[m * g.ldy + n] = f32_to_bf16_bits(u);
            ((uint16_t *)g.y)[m * g.ldy + n1] = f32_to_bf16_bits(v);
        }
        return;
    }
#pragma unroll
    for (int m = 0; m < MB; m++) {
        const int64_t o = m * g.ldy + n;
        if (glu) {
            const float v = (a.act == CUDA_ACT_GELU ? gelu_f(acc0[m]) : swish_f(acc0[m])) * acc1[m];
            ((uint16_t *)g.y)[o] = f32_to_bf16_bits(v);
            continue;
        }
        for (int c = 0; c < 2 && n + c < g.N; c++) {
            float v = c ? acc1[m] : acc0[m];
            if (g.bf16) {
                if (g.cin) v += bf16_bits_to_f32(((const uint16_t *)g.cin)[o + c]);
                ((uint16_t *)g.y)[o + c] = f32_to_bf16_bits(v);
            } else {
                if (g.cin) v += ((const float *)g.cin)[o + c];
                ((float *)g.y)[o + c] = v;
            }
        }
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
 * H200 B = 1 decoding went 1.63 -> 1.34 ms per token (dev/cuda/next1.sh, same run) */
static int rope_on = -1;

int cuda_gemv_rope_epilogue(void) {
    if (rope_on < 0) {
        const char *e = getenv("RETNET_CUDA_ROPE_EPILOGUE");
        rope_on = !(e && !strcmp(e, "0"));
    }
    return rope_on && cuda_gemv_enabled();
}

static int aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

int cuda_gemv_suits(int64_t M, int64_t K, const void *x, int64_t ldx) {
    return cuda_gemv_enabled() && M >= 1 && M <= CUDA_GEMV_MAX_M && K >= 8 && K % 8 == 0 &&
           ldx % 8 == 0 && aligned16(x);
}

static int prefetch_on = -1;

static retnet_status run(gemv_args *a, int64_t M, cuda_stream s) {
    TRY(cuda_ensure_init());
    if (prefetch_on < 0) {
        const char *e = getenv("RETNET_CUDA_GEMV_PREFETCH");
        prefetch_on = !(e && !strcmp(e, "0"));
    }
    a->prefetch = prefetch_on;
    static int u8 = -1; /* lab: RETNET_CUDA_GEMV_U=8, 8 loads in flight per row at M = 1 */
    if (u8 < 0) {
        const char *e = getenv("RETNET_CUDA_GEMV_U");
        u8 = e && !strcmp(e, "8");
    }
    const int64_t warps = a->first[a->nseg];
    if (warps == 0) return RETNET_OK;
    const int64_t blocks = (warps + GEMV_WARPS - 1) / GEMV_WARPS;
    if (blocks > INT32_MAX) return retnet_fail(RETNET_EINVAL, "cuda gemv: too many columns");
    const dim3 grid((unsigned)blocks), block(32 * GEMV_WARPS);
    const size_t smem = a->nrm.on ? (size_t)(M * a->K8 * 16) : 0;
    cudaStream_t cs = (cudaStream_t)s;
    void (*const k[])(gemv_args) = {gemv_kernel<1>, gemv_kernel<2>, gemv_kernel<3>,
                                     gemv_kernel<4>, gemv_kernel<5>, gemv_kernel<6>,
                                     gemv_kernel<7>, gemv_kernel<8>};
    CUDA_TRY(cuda_launch(M == 1 && u8 ? gemv_kernel<1, 8> : k[(M < 8 ? M : 8) - 1], grid, block,
                         smem, cs, *a),
             "cuda gemv");
    return RETNET_OK;
}

static retnet_status check(const char *fn, int64_t M, int64_t K, const void *x, int64_t ldx) {
    if (!cuda_gemv_suits(M, K, x, ldx))
        return retnet_fail(RETNET_EUNSUPPORTED, "%s: needs 1 <= M <= %d, K and the row stride "
                           "multiples of 8, x 16-byte aligned (M %lld, K %lld, stride %lld)",
                           fn, CUDA_GEMV_MAX_M, (long long)M, (long long)K, (long long)ldx);
    return RETNET_OK;
}

/* ---- the fold ---- */

cuda_gemv_norm cuda_gemv_norm_of_row(const float *x, const float *w, const float *b, int center,
                                     float eps) {
    cuda_gemv_norm n = {x, NULL, w, center ? b : NULL, 1, center, 1, 0, eps};
    return n;
}

cuda_gemv_norm cuda_gemv_norm_of_heads(const float *o, const float *g, const float *w,
                                       const float *b, int h, float eps, int mode) {
    const int group = mode == 1; /* as cuda_op_head_norm_gate_bf16 takes its mode */
    cuda_gemv_norm n = {o, g, w, group ? b : NULL, h, group, !group, mode == 2, eps};
    return n;
}

/* x's fold into a (0 without one), or why it cannot be */
static const char *set_fold(gemv_args *a, const cuda_gemv_norm *nx, int64_t M, int64_t K) {
    int T = 0, G = 0;
    if (!nx->src || nx->h < 1 || K % nx->h || !cuda_norm_group(K / nx->h, &T, &G))
        return "no source, or K not h segments that norm.cu's register kernels take";
    if (M < 1 || M > CUDA_GEMV_MAX_M || K < 8 || K % 8 || !cuda_gemv_enabled())
        return "M, K or RETNET_CUDA_GEMV";
    if (M * K * 2 > GEMV_NORM_SMEM || M * nx->h > GEMV_NORM_SEGS ||
        M * nx->h * (T / 32) > GEMV_NORM_RED)
        return "x or its segments too many for the block's shared memory";
    gemv_norm &p = a->nrm;
    p.src = nx->src, p.gate = nx->gate, p.w = nx->w, p.b = nx->b, p.on = 1, p.h = nx->h;
    p.n = (int)(K / nx->h), p.T = T, p.K = G, p.center = nx->center, p.wshared = nx->wshared;
    p.identity = nx->identity, p.eps = nx->eps;
    return NULL;
}

int cuda_gemv_norm_suits(const cuda_gemv_norm *nx, int64_t M, int64_t K) {
    gemv_args a;
    return nx && !set_fold(&a, nx, M, K);
}

static int overlaps(const void *p, size_t pn, const void *q, size_t qn) {
    return p && q && (const char *)p < (const char *)q + qn && (const char *)q < (const char *)p + pn;
}

/* x (ldx) or its fold nx: the outputs' segments, then the launch */
static retnet_status multi(const char *fn, const cuda_bf16 *x, int64_t ldx,
                           const cuda_gemv_norm *nx, int64_t M, int64_t K,
                           const cuda_gemv_out *out, int n_out, cuda_stream s) {
    gemv_args a;
    memset(&a, 0, sizeof a);
    if (nx) {
        const char *why = set_fold(&a, nx, M, K);
        if (why) return retnet_fail(RETNET_EUNSUPPORTED, "%s: the norm cannot be folded: %s "
                                    "(M %lld, K %lld)", fn, why, (long long)M, (long long)K);
    } else {
        TRY(check(fn, M, K, x, ldx));
    }
    if (n_out < 1 || n_out > CUDA_GEMV_MAX_OUT || !out)
        return retnet_fail(RETNET_EINVAL, "%s: %d outputs (1..%d)", fn, n_out, CUDA_GEMV_MAX_OUT);
    a.x = (const uint4 *)x, a.ldx8 = ldx / 8, a.K8 = K / 8, a.nseg = n_out;
    for (int i = 0; i < n_out; i++) {
        const cuda_gemv_out *o = &out[i];
        if (!o->w || !o->y || o->N < 0 || o->ldy < o->N || !aligned16(o->w) ||
            (o->y_type != CUDA_F32 && o->y_type != CUDA_BF16))
            return retnet_fail(RETNET_EINVAL, "%s: output %d: NULL, unaligned weight, bad type "
                               "or row stride below N", fn, i);
        /* a block's fold reads all of the source while other blocks write their outputs */
        const size_t ybytes = (size_t)(M * o->ldy) * (o->y_type == CUDA_BF16 ? 2 : 4);
        if (nx && (overlaps(o->y, ybytes, nx->src, sizeof(float) * (size_t)(M * K)) ||
                   overlaps(o->y, ybytes, nx->gate, sizeof(float) * (size_t)(M * K))))
            return retnet_fail(RETNET_EINVAL, "%s: output %d overlaps the folded norm's input",
                               fn, i);
        a.seg[i].w = (const uint4 *)o->w, a.seg[i].y = o->y, a.seg[i].cin = o->addend;
        a.seg[i].N = o->N, a.seg[i].ldy = o->ldy, a.seg[i].bf16 = o->y_type == CUDA_BF16;
        if (o->rope) {
            const cuda_gemv_rope *r = o->rope;
            if (o->y_type != CUDA_BF16 || o->addend || !r->pos || r->dk < 2 || r->dk % 2 ||
                o->N % r->dk)
                return retnet_fail(RETNET_EINVAL, "%s: output %d: rope needs a bf16 output, no "
                                   "addend, positions, and N a multiple of an even head width "
                                   "(N %lld, dk %d)", fn, i, (long long)o->N, r->dk);
            a.seg[i].rope = 1, a.seg[i].half = r->half, a.seg[i].dk = r->dk;
            a.seg[i].base = r->base, a.seg[i].scale = r->scale, a.seg[i].pos = r->pos;
        }
        a.first[i + 1] = a.first[i] + (o->N + 1) / 2;
    }
    return run(&a, M, s);
}

retnet_status cuda_op_gemv_multi(const cuda_bf16 *x, int64_t M, int64_t K, int64_t ldx,
                                 const cuda_gemv_out *out, int n_out, cuda_stream s) {
    return multi("cuda_op_gemv_multi", x, ldx, NULL, M, K, out, n_out, s);
}

retnet_status cuda_op_gemv_multi_norm(const cuda_gemv_norm *nx, int64_t M, int64_t K,
                                      const cuda_gemv_out *out, int n_out, cuda_stream s) {
    if (!nx) return retnet_fail(RETNET_EINVAL, "cuda_op_gemv_multi_norm: NULL norm");
    return multi("cuda_op_gemv_multi_norm", NULL, K, nx, M, K, out, n_out, s);
}

static retnet_status glu(const char *fn, cuda_bf16 *y, const cuda_bf16 *x,
                         const cuda_gemv_norm *nx, const cuda_bf16 *w1, const cuda_bf16 *w2,
                         int64_t M, int64_t N, int64_t K, cuda_act act, cuda_stream s) {
    gemv_args a;
    memset(&a, 0, sizeof a);
    if (nx) {
        const char *why = set_fold(&a, nx, M, K);
        if (why) return retnet_fail(RETNET_EUNSUPPORTED, "%s: the norm cannot be folded: %s "
                                    "(M %lld, K %lld)", fn, why, (long long)M, (long long)K);
    } else {
        TRY(check(fn, M, K, x, K));
    }
    if (!y || !w1 || !w2 || N < 0 || !aligned16(w1) || !aligned16(w2))
        return retnet_fail(RETNET_EINVAL, "%s: NULL or unaligned argument", fn);
    if (nx && (overlaps(y, sizeof(uint16_t) * (size_t)(M * N), nx->src, sizeof(float) * (size_t)(M * K)) ||
               overlaps(y, sizeof(uint16_t) * (size_t)(M * N), nx->gate, sizeof(float) * (size_t)(M * K))))
        return retnet_fail(RETNET_EINVAL, "%s: y overlaps the folded norm's input", fn);
    a.x = (const uint4 *)x, a.ldx8 = K / 8, a.K8 = K / 8, a.nseg = 1, a.act = act;
    a.seg[0].w = (const uint4 *)w1, a.seg[0].w2 = (const uint4 *)w2, a.seg[0].y = y;
    a.seg[0].N = N, a.seg[0].ldy = N, a.seg[0].bf16 = 1;
    a.first[1] = N;
    return run(&a, M, s);
}

retnet_status cuda_op_gemv_glu(cuda_bf16 *y, const cuda_bf16 *x, const cuda_bf16 *w1,
                               const cuda_bf16 *w2, int64_t M, int64_t N, int64_t K,
                               cuda_act act, cuda_stream s) {
    return glu("cuda_op_gemv_glu", y, x, NULL, w1, w2, M, N, K, act, s);
}

retnet_status cuda_op_gemv_glu_norm(cuda_bf16 *y, const cuda_gemv_norm *nx, const cuda_bf16 *w1,
                                    const cuda_bf16 *w2, int64_t M, int64_t N, int64_t K,
                                    cuda_act act, cuda_stream s) {
    if (!nx) return retnet_fail(RETNET_EINVAL, "cuda_op_gemv_glu_norm: NULL norm");
    return glu("cuda_op_gemv_glu_norm", y, NULL, nx, w1, w2, M, N, K, act, s);
}
