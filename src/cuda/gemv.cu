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

typedef struct {
    const uint4 *x; /* (M, K) bf16, row stride ldx8 uint4 */
    int64_t ldx8, K8;
    int nseg, act;
    gemv_seg seg[CUDA_GEMV_MAX_OUT];
    int64_t first[CUDA_GEMV_MAX_OUT + 1]; /* first warp of each segment */
} gemv_args;

template <int MB>
__global__ void __launch_bounds__(32 * GEMV_WARPS) gemv_kernel(gemv_args a) {
    pdl_trigger();
    const int lane = threadIdx.x & 31;
    const int64_t wid = (int64_t)blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    int s = 0;
    while (s < a.nseg - 1 && wid >= a.first[s + 1]) s++;
    if (wid >= a.first[a.nseg]) {
        pdl_wait();
        return;
    }
    const gemv_seg &g = a.seg[s];
    const int glu = g.w2 != NULL;
    /* plain: columns n, n + 1 of one weight; GLU: column n of both weights; rope: the
     * columns n, n1 of pair j of a head (j, j + dk/2 for the half rotation, 2j, 2j + 1 for
     * the paper's) */
    const int64_t local = wid - a.first[s];
    int64_t n = glu ? local : 2 * local, n1 = n + 1;
    int j = 0;
    if (g.rope) {
        const int npair = g.dk / 2;
        const int64_t head = local / npair;
        j = (int)(local % npair);
        n = head * g.dk + (g.half ? j : 2 * j), n1 = head * g.dk + (g.half ? j + npair : 2 * j + 1);
    }
    const uint4 *r0 = g.w + n * a.K8;
    const uint4 *r1 = glu ? g.w2 + n * a.K8 : (n1 < g.N ? g.w + n1 * a.K8 : NULL);
    float acc0[MB], acc1[MB];
#pragma unroll
    for (int m = 0; m < MB; m++) acc0[m] = 0.0f, acc1[m] = 0.0f;
    /* the weights' first loads are issued before waiting for x: under programmatic launch
     * (cuda_launch) they stream while the kernel before finishes */
    uint4 w0[GEMV_U], w1[GEMV_U];
    auto load = [&](int64_t i0) {
#pragma unroll
        for (int u = 0; u < GEMV_U; u++) {
            const int64_t i = i0 + 32 * u;
            const uint4 z = make_uint4(0, 0, 0, 0);
            w0[u] = i < a.K8 ? __ldcs(r0 + i) : z; /* streamed: no reuse */
            w1[u] = i < a.K8 && r1 ? __ldcs(r1 + i) : z;
        }
    };
    load(lane);
    pdl_wait();
    for (int64_t i0 = lane; i0 < a.K8; i0 += 32 * GEMV_U) {
        if (i0 != lane) load(i0);
#pragma unroll
        for (int u = 0; u < GEMV_U; u++) {
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
                unpack8(__ldg(a.x + m * a.ldx8 + i), xf);
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

static retnet_status run(gemv_args *a, int64_t M, cuda_stream s) {
    TRY(cuda_ensure_init());
    const int64_t warps = a->first[a->nseg];
    if (warps == 0) return RETNET_OK;
    const int64_t blocks = (warps + GEMV_WARPS - 1) / GEMV_WARPS;
    if (blocks > INT32_MAX) return retnet_fail(RETNET_EINVAL, "cuda gemv: too many columns");
    const dim3 grid((unsigned)blocks), block(32 * GEMV_WARPS);
    cudaStream_t cs = (cudaStream_t)s;
    void (*const k[])(gemv_args) = {gemv_kernel<1>, gemv_kernel<2>, gemv_kernel<3>,
                                     gemv_kernel<4>, gemv_kernel<5>, gemv_kernel<6>,
                                     gemv_kernel<7>, gemv_kernel<8>};
    CUDA_TRY(cuda_launch(k[(M < 8 ? M : 8) - 1], grid, block, 0, cs, *a), "cuda gemv");
    return RETNET_OK;
}

static retnet_status check(const char *fn, int64_t M, int64_t K, const void *x, int64_t ldx) {
    if (!cuda_gemv_suits(M, K, x, ldx))
        return retnet_fail(RETNET_EUNSUPPORTED, "%s: needs 1 <= M <= %d, K and the row stride "
                           "multiples of 8, x 16-byte aligned (M %lld, K %lld, stride %lld)",
                           fn, CUDA_GEMV_MAX_M, (long long)M, (long long)K, (long long)ldx);
    return RETNET_OK;
}

retnet_status cuda_op_gemv_multi(const cuda_bf16 *x, int64_t M, int64_t K, int64_t ldx,
                                 const cuda_gemv_out *out, int n_out, cuda_stream s) {
    TRY(check("cuda_op_gemv_multi", M, K, x, ldx));
    if (n_out < 1 || n_out > CUDA_GEMV_MAX_OUT || !out)
        return retnet_fail(RETNET_EINVAL, "cuda_op_gemv_multi: %d outputs (1..%d)", n_out,
                           CUDA_GEMV_MAX_OUT);
    gemv_args a;
    memset(&a, 0, sizeof a);
    a.x = (const uint4 *)x, a.ldx8 = ldx / 8, a.K8 = K / 8, a.nseg = n_out;
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
        a.first[i + 1] = a.first[i] + (o->N + 1) / 2;
    }
    return run(&a, M, s);
}

retnet_status cuda_op_gemv_glu(cuda_bf16 *y, const cuda_bf16 *x, const cuda_bf16 *w1,
                               const cuda_bf16 *w2, int64_t M, int64_t N, int64_t K,
                               cuda_act act, cuda_stream s) {
    TRY(check("cuda_op_gemv_glu", M, K, x, K));
    if (!y || !w1 || !w2 || N < 0 || !aligned16(w1) || !aligned16(w2))
        return retnet_fail(RETNET_EINVAL, "cuda_op_gemv_glu: NULL or unaligned argument");
    gemv_args a;
    memset(&a, 0, sizeof a);
    a.x = (const uint4 *)x, a.ldx8 = K / 8, a.K8 = K / 8, a.nseg = 1, a.act = act;
    a.seg[0].w = (const uint4 *)w1, a.seg[0].w2 = (const uint4 *)w2, a.seg[0].y = y;
    a.seg[0].N = N, a.seg[0].ldy = N, a.seg[0].bf16 = 1;
    a.first[1] = N;
    return run(&a, M, s);
}
