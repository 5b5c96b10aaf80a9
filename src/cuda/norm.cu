/*
 * norm.cu: LayerNorm, RMSNorm and the MSR block's per-head norm fused with the swish gate
 * (src/ops/norm.c's counterpart, same formulas, statistics in double).
 *
 * All three are one computation on "segments" of n values: a row of layernorm / rmsnorm
 * (h = 1), or one head of a row for the head norm (h heads, segment s = row * h + head):
 *   xhat = (x - mu) r,  r = 1 / sqrt(var + eps)  (mu = 0 and var = mean(x^2) for RMS),
 *   y = (xhat w + b) [* swish(g)];  w, b of width n shared by the heads (wshared) or h*n;
 *   the head norm's mode 2 (no norm, an ablation) is xhat = x, and g NULL is no gate.
 * One warp per segment; lanes stride over its n values; the warp's sums go through a fixed
 * butterfly, so every lane holds the same bits.
 *
 * Backward (norm.c's formulas):
 *   dn = dy swish(g),  dg += dy (xhat w + b) swish'(g),  dxhat = dn w,
 *   dx += r (dxhat - mean(dxhat) - xhat mean(dxhat xhat))   (no mean(dxhat) for RMS),
 *   dw += sum over segments of dn xhat,  db += sum of dn.
 * The parameter sums never use atomics: the data (M, h*n) is viewed as R rows of W columns
 * (R = M*h rows of n when the parameters are shared by the heads, else M rows of h*n, so a
 * column is one parameter), each of P chunks of rows sums its rows in double into a partial
 * row, and a second kernel adds the P partials of each column in order. P depends only on R.
 */
#include "cuda/common.cuh"

#define WARPS 8 /* segments per block of the per-segment kernels */

typedef struct {
    int64_t nseg;
    int h, n, center, wshared;
    int identity; /* no normalisation (head norm mode 2, the ablation): xhat = x */
    float eps;
    int bf16_out; /* forward: y is bf16; backward: dx and dg are bf16 and overwritten (the
                     model's operands of products, which read nothing else) */
} seg_shape;

__device__ __forceinline__ float sigmoidf_(float z) { return 1.0f / (1.0f + expf(-z)); }

/* mean and reciprocal standard deviation of one segment, as norm.c's seg_stats forms them */
__device__ __forceinline__ void seg_stats(const float *x, const seg_shape &p, int lane,
                                          float *mu, float *r) {
    if (p.identity) {
        *mu = 0.0f, *r = 1.0f;
        return;
    }
    double mean = 0, var = 0;
    if (p.center) {
        for (int j = lane; j < p.n; j += 32) mean += x[j];
        mean = warp_sum(mean) / p.n;
    }
    for (int j = lane; j < p.n; j += 32) {
        double dd = x[j] - mean;
        var += dd * dd;
    }
    var = warp_sum(var) / p.n;
    *r = (float)(1.0 / sqrt(var + p.eps));
    *mu = (float)mean;
}

__global__ void norm_fwd_kernel(void *y, const float *x, const float *g, const float *w,
                                const float *b, seg_shape p) {
    const int64_t s = blockIdx.x * (int64_t)WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    if (s >= p.nseg) return;
    const int64_t off = s * p.n;
    const float *xs = x + off;
    float mu, r;
    seg_stats(xs, p, lane, &mu, &r);
    const int64_t poff = p.wshared ? 0 : (int64_t)(s % p.h) * p.n;
    const float *ws = w ? w + poff : NULL, *bs = b ? b + poff : NULL;
    for (int j = lane; j < p.n; j += 32) {
        float v = (xs[j] - mu) * r;
        if (ws) v *= ws[j];
        if (bs) v += bs[j];
        if (g) {
            float z = g[off + j];
            v *= z / (1.0f + expf(-z));
        }
        if (p.bf16_out) ((uint16_t *)y)[off + j] = f32_to_bf16_bits(v);
        else ((float *)y)[off + j] = v;
    }
}

/* dx, dg (+=) per segment; the segment's (mu, r) to stats when the parameter sums need them */
__global__ void norm_bwd_seg_kernel(void *dx, void *dg, float *stats, const float *dy,
                                    const float *x, const float *g, const float *w,
                                    const float *b, seg_shape p, uint16_t *dx_round) {
    const int64_t s = blockIdx.x * (int64_t)WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    if (s >= p.nseg) return;
    const int64_t off = s * p.n;
    const float *xs = x + off, *dys = dy + off, *gs = g ? g + off : NULL;
    float mu, r;
    seg_stats(xs, p, lane, &mu, &r);
    if (stats && lane == 0) stats[2 * s] = mu, stats[2 * s + 1] = r;
    if (!dx && !dg) return;
    const int64_t poff = p.wshared ? 0 : (int64_t)(s % p.h) * p.n;
    const float *ws = w ? w + poff : NULL, *bs = b ? b + poff : NULL;
    double sa = 0, sb = 0; /* sum dxhat, sum dxhat xhat */
    for (int j = lane; j < p.n; j += 32) {
        float xh = (xs[j] - mu) * r, wj = ws ? ws[j] : 1.0f, dn = dys[j];
        if (gs) {
            float z = gs[j], sg = sigmoidf_(z);
            if (dg) {
                float yv = ws ? xh * wj : xh;
                if (bs) yv += bs[j];
                const float v = dys[j] * yv * (sg * (1.0f + z * (1.0f - sg)));
                if (p.bf16_out) ((uint16_t *)dg)[off + j] = f32_to_bf16_bits(v);
                else ((float *)dg)[off + j] += v;
            }
            dn *= z * sg;
        }
        float dxh = dn * wj;
        sa += dxh;
        sb += (double)dxh * xh;
    }
    if (!dx) return;
    sa = warp_sum(sa), sb = warp_sum(sb);
    const float ma = p.center ? (float)(sa / p.n) : 0.0f, mb = p.identity ? 0.0f : (float)(sb / p.n);
    for (int j = lane; j < p.n; j += 32) {
        float xh = (xs[j] - mu) * r;
        float dn = gs ? dys[j] * (gs[j] * sigmoidf_(gs[j])) : dys[j];
        float dxh = dn * (ws ? ws[j] : 1.0f);
        const float v = r * (dxh - ma - xh * mb);
        if (p.bf16_out) {
            ((uint16_t *)dx)[off + j] = f32_to_bf16_bits(v);
        } else {
            const float nv = ((float *)dx)[off + j] + v;
            ((float *)dx)[off + j] = nv;
            if (dx_round) dx_round[off + j] = f32_to_bf16_bits(nv);
        }
    }
}

#define COLS 32
#define ROWS 8

/* Partial column sums of dn xhat and dn over chunk blockIdx.y of `rows_per` rows. */
__global__ void norm_bwd_cols_kernel(double *pw, double *pb, const float *dy, const float *x,
                                     const float *g, const float *stats, int64_t R, int64_t W,
                                     int64_t rows_per, int n) {
    __shared__ double sw[ROWS][COLS], sbb[ROWS][COLS];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int64_t c = blockIdx.x * (int64_t)COLS + tx;
    const int64_t r0 = blockIdx.y * rows_per, r1 = r0 + rows_per < R ? r0 + rows_per : R;
    double aw = 0, ab = 0;
    if (c < W) {
        const int64_t segs_per_row = W / n, seg_in_row = c / n;
        for (int64_t row = r0 + ty; row < r1; row += ROWS) {
            const int64_t i = row * W + c, s = row * segs_per_row + seg_in_row;
            float dn = dy[i];
            if (g) dn *= g[i] * sigmoidf_(g[i]);
            aw += (double)dn * ((x[i] - stats[2 * s]) * stats[2 * s + 1]);
            ab += dn;
        }
    }
    sw[ty][tx] = aw, sbb[ty][tx] = ab;
    __syncthreads();
    if (ty == 0 && c < W) {
        for (int k = 1; k < ROWS; k++) aw += sw[k][tx], ab += sbb[k][tx];
        pw[blockIdx.y * W + c] = aw;
        if (pb) pb[blockIdx.y * W + c] = ab;
    }
}

/* One warp per column: lane i adds partials i, i + 32, ... in order, then the warp's fixed
 * butterfly (a column's P partials in parallel: one thread per column left all but a few
 * SMs idle, ~0.2 ms a call on an H200 for P = 1024). */
__global__ void norm_bwd_final_kernel(float *dw, float *db, const double *pw, const double *pb,
                                      int64_t W, int64_t P) {
    const int64_t c = blockIdx.x * (int64_t)(blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    if (c >= W) return;
    double aw = 0, ab = 0;
    for (int64_t k = lane; k < P; k += 32) {
        aw += pw[k * W + c];
        if (db) ab += pb[k * W + c];
    }
    aw = warp_sum(aw);
    if (db) ab = warp_sum(ab);
    if (lane == 0) {
        if (dw) dw[c] += (float)aw;
        if (db) db[c] += (float)ab;
    }
}

static retnet_status check_shape(const char *fn, int64_t M, int64_t h, int64_t n) {
    if (M < 0 || h < 1 || n < 1 || n > INT32_MAX)
        return retnet_fail(RETNET_EINVAL, "%s: bad shape (M %lld, h %lld, width %lld)", fn,
                           (long long)M, (long long)h, (long long)n);
    return cuda_ensure_init();
}

static retnet_status norm_forward(const char *fn, void *y, const float *x, const float *g,
                                  const float *w, const float *b, int64_t M, int h, int64_t n,
                                  int center, int wshared, int identity, float eps,
                                  cuda_stream s, int bf16_out = 0) {
    retnet_status st = check_shape(fn, M, h, n);
    if (st || M == 0) return st;
    seg_shape p = {M * h, h, (int)n, center, wshared, identity, eps, bf16_out};
    norm_fwd_kernel<<<cuda_blocks(p.nseg, WARPS, INT32_MAX), 32 * WARPS, 0, (cudaStream_t)s>>>(
        y, x, g, w, b, p);
    CUDA_LAUNCHED(fn);
    return RETNET_OK;
}

static retnet_status norm_backward(const char *fn, void *dx, void *dg, float *dw, float *db,
                                   const float *dy, const float *x, const float *g,
                                   const float *w, const float *b, int64_t M, int h, int64_t n,
                                   int center, int wshared, int identity, float eps,
                                   cuda_stream s, int bf16_out = 0, cuda_bf16 *dx_round = NULL) {
    retnet_status st = check_shape(fn, M, h, n);
    if (st || M == 0) return st;
    cudaStream_t cs = (cudaStream_t)s;
    seg_shape p = {M * h, h, (int)n, center, wshared, identity, eps, bf16_out};
    const int64_t R = wshared ? M * h : M, W = wshared ? n : (int64_t)h * n;
    /* chunks of at least 64 rows, at most 1024 chunks: P depends on R alone */
    int64_t P = (R + 63) / 64;
    if (P > 1024) P = 1024;
    const int64_t rows_per = (R + P - 1) / P;
    float *stats = NULL;
    double *pw = NULL, *pb = NULL;
    if (dw || db) {
        void *scr;
        size_t bytes = sizeof(double) * (size_t)(2 * P * W) + sizeof(float) * (size_t)(2 * p.nseg);
        st = cuda_scratch(&scr, bytes);
        if (st) return st;
        pw = (double *)scr, pb = pw + P * W;
        stats = (float *)(pb + P * W);
    }
    norm_bwd_seg_kernel<<<cuda_blocks(p.nseg, WARPS, INT32_MAX), 32 * WARPS, 0, cs>>>(
        dx, dg, stats, dy, x, g, w, b, p, dx_round);
    CUDA_LAUNCHED(fn);
    if (dw || db) {
        dim3 grid((unsigned)((W + COLS - 1) / COLS), (unsigned)P), block(COLS, ROWS);
        norm_bwd_cols_kernel<<<grid, block, 0, cs>>>(pw, db ? pb : NULL, dy, x, g, stats, R, W,
                                                     rows_per, (int)n);
        CUDA_LAUNCHED(fn);
        norm_bwd_final_kernel<<<cuda_blocks(W, 8, INT32_MAX), 256, 0, cs>>>(dw, db, pw, pb, W, P);
        CUDA_LAUNCHED(fn);
    }
    return RETNET_OK;
}

retnet_status cuda_op_layernorm(float *y, const float *x, const float *w, const float *b,
                                int64_t M, int64_t d, float eps, cuda_stream s) {
    return norm_forward("cuda_op_layernorm", y, x, NULL, w, b, M, 1, d, 1, 1, 0, eps, s);
}

retnet_status cuda_op_rmsnorm(float *y, const float *x, const float *w, int64_t M, int64_t d,
                              float eps, cuda_stream s) {
    return norm_forward("cuda_op_rmsnorm", y, x, NULL, w, NULL, M, 1, d, 0, 1, 0, eps, s);
}

retnet_status cuda_op_head_norm_gate(float *y, const float *o, const float *g, const float *w,
                                     const float *b, int64_t M, int h, int dv, float eps,
                                     int mode, cuda_stream s) {
    if (mode < 0 || mode > 2)
        return retnet_fail(RETNET_EINVAL, "cuda_op_head_norm_gate: mode %d (0 rms, 1 group, 2 none)", mode);
    const int group = mode == 1;
    return norm_forward("cuda_op_head_norm_gate", y, o, g, w, group ? b : NULL, M, h, dv, group,
                        !group, mode == 2, eps, s);
}

retnet_status cuda_op_layernorm_backward(float *dx, float *dw, float *db, const float *dy,
                                         const float *x, const float *w, int64_t M, int64_t d,
                                         float eps, cuda_stream s) {
    return norm_backward("cuda_op_layernorm_backward", dx, NULL, dw, db, dy, x, NULL, w, NULL, M,
                         1, d, 1, 1, 0, eps, s);
}

retnet_status cuda_op_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                                       const float *w, int64_t M, int64_t d, float eps,
                                       cuda_stream s) {
    return norm_backward("cuda_op_rmsnorm_backward", dx, NULL, dw, NULL, dy, x, NULL, w, NULL, M,
                         1, d, 0, 1, 0, eps, s);
}

retnet_status cuda_op_head_norm_gate_backward(float *do_, float *dg, float *dw, float *db,
                                              const float *dy, const float *o, const float *g,
                                              const float *w, const float *b, int64_t M, int h,
                                              int dv, float eps, int mode, cuda_stream s) {
    if (mode < 0 || mode > 2)
        return retnet_fail(RETNET_EINVAL, "cuda_op_head_norm_gate_backward: mode %d (0 rms, 1 "
                           "group, 2 none)", mode);
    const int group = mode == 1;
    return norm_backward("cuda_op_head_norm_gate_backward", do_, dg, dw, group ? db : NULL, dy, o,
                         g, w, group ? b : NULL, M, h, dv, group, !group, mode == 2, eps, s);
}

/* ---- bf16 outputs for the model's product operands (cuda.h) ---- */

retnet_status cuda_op_layernorm_bf16(cuda_bf16 *y, const float *x, const float *w,
                                     const float *b, int64_t M, int64_t d, float eps,
                                     cuda_stream s) {
    return norm_forward("cuda_op_layernorm_bf16", y, x, NULL, w, b, M, 1, d, 1, 1, 0, eps, s, 1);
}

retnet_status cuda_op_rmsnorm_bf16(cuda_bf16 *y, const float *x, const float *w, int64_t M,
                                   int64_t d, float eps, cuda_stream s) {
    return norm_forward("cuda_op_rmsnorm_bf16", y, x, NULL, w, NULL, M, 1, d, 0, 1, 0, eps, s, 1);
}

retnet_status cuda_op_head_norm_gate_bf16(cuda_bf16 *y, const float *o, const float *g,
                                          const float *w, const float *b, int64_t M, int h,
                                          int dv, float eps, int mode, cuda_stream s) {
    if (mode < 0 || mode > 2)
        return retnet_fail(RETNET_EINVAL, "cuda_op_head_norm_gate_bf16: mode %d", mode);
    const int group = mode == 1;
    return norm_forward("cuda_op_head_norm_gate_bf16", y, o, g, w, group ? b : NULL, M, h, dv,
                        group, !group, mode == 2, eps, s, 1);
}

retnet_status cuda_op_head_norm_gate_backward_bf16(cuda_bf16 *do_, cuda_bf16 *dg, float *dw,
                                                   float *db, const float *dy, const float *o,
                                                   const float *g, const float *w,
                                                   const float *b, int64_t M, int h, int dv,
                                                   float eps, int mode, cuda_stream s) {
    if (mode < 0 || mode > 2)
        return retnet_fail(RETNET_EINVAL, "cuda_op_head_norm_gate_backward_bf16: mode %d", mode);
    const int group = mode == 1;
    return norm_backward("cuda_op_head_norm_gate_backward_bf16", do_, dg, dw, group ? db : NULL,
                         dy, o, g, w, group ? b : NULL, M, h, dv, group, !group, mode == 2, eps,
                         s, 1);
}

retnet_status cuda_op_layernorm_backward_round(float *dx, cuda_bf16 *dx_bf16, float *dw,
                                               float *db, const float *dy, const float *x,
                                               const float *w, int64_t M, int64_t d, float eps,
                                               cuda_stream s) {
    if (!dx || !dx_bf16)
        return retnet_fail(RETNET_EINVAL, "cuda_op_layernorm_backward_round: NULL dx");
    return norm_backward("cuda_op_layernorm_backward_round", dx, NULL, dw, db, dy, x, NULL, w,
                         NULL, M, 1, d, 1, 1, 0, eps, s, 0, dx_bf16);
}

retnet_status cuda_op_rmsnorm_backward_round(float *dx, cuda_bf16 *dx_bf16, float *dw,
                                             const float *dy, const float *x, const float *w,
                                             int64_t M, int64_t d, float eps, cuda_stream s) {
    if (!dx || !dx_bf16)
        return retnet_fail(RETNET_EINVAL, "cuda_op_rmsnorm_backward_round: NULL dx");
    return norm_backward("cuda_op_rmsnorm_backward_round", dx, NULL, dw, NULL, dy, x, NULL, w,
                         NULL, M, 1, d, 0, 1, 0, eps, s, 0, dx_bf16);
}
