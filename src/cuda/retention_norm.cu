/*
 * retention_norm.cu: RETNET.md §3 on the GPU, as src/model.c and src/decode.c do it: each
 * output row of a head is scaled by f = s / max(|s r|, 1) (model.h's model_row_factor), s the
 * decay-row normalisation at the token's absolute position, r the row's score sum
 *   r_n = sum_j (q_n . k_j) gamma^(n-j)  (+ q_n . gamma^(n+1) z_in from an initial state),
 * which is retention's output for v = 1. Its recurrent state is the key sums
 *   z_n = gamma z_{n-1} + k_n   (h, dk per sequence: the state's part after S).
 *
 * A forward of T tokens gets r from the chunkwise retention kernel itself, with v a column of
 * ones padded to the kernel's smallest value width (8; the kernel computes the 8 equal columns
 * and the first is used) and z as its state, broadcast to those 8 columns; a decoding step
 * updates z and forms r directly (one block per sequence and head), or, without a decoding
 * window, retention.cu's step does it in the state update's launch (retention_cuda_step_rows,
 * the same operations). f is formed in double
 * from the host's double decays, as the CPU forms it. Training, where the wgmma kernel is
 * built, forms r inside retention's own forward pass instead (cuda_retention_forward_normalized:
 * 8 partial slots a row, added here) and its gradient inside the dq and dk passes (the model
 * calls retention_cuda_backward_rows): no v = 1 pass either way.
 */
#include "cuda/common.cuh"
#include "cuda/retention.h"

extern "C" {
#include "model.h" /* model_row_factor(_at), model_decay_row_scale: the CPU's formulas */
}

#define NW 8 /* the value width of the v = 1 pass */

__global__ void fill_ones_kernel(uint16_t *x, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        x[i] = 0x3F80; /* bf16 1.0 */
}

/* z (m) -> z8 (m, NW), every column a copy; and back: column 0 */
__global__ void widen_z_kernel(float *z8, const float *z, int64_t m) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < m * NW;
         i += (int64_t)gridDim.x * blockDim.x)
        z8[i] = z ? z[i / NW] : 0.0f;
}
__global__ void narrow_z_kernel(float *z, const float *z8, int64_t m) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < m;
         i += (int64_t)gridDim.x * blockDim.x)
        z[i] = z8[i * NW];
}

/* o (B, T, h, dv) *= f; one warp per (row, head); r8 (B, T, h, NW) the v = 1 outputs; f and
 * r kept (B, T, h) for a backward when f_out, r_out are given, r as 0 where |s r| <= 1 (f does
 * not depend on r there): the backward then needs no s, whose double log and expm1 on one
 * lane a row held its warps back */
__global__ void scale_rows_kernel(float *o, const float *r8, const double *gamma,
                                  const int64_t *pos, int64_t B, int64_t T, int h, int dv,
                                  float *f_out, float *r_out) {
    const int64_t w = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x & 31;
    if (w >= B * T * h) return;
    const int head = (int)(w % h);
    const int64_t bt = w / h, b = bt / T, t = bt % T;
    const double sn = model_decay_row_scale(gamma[head], (pos ? pos[b] : 0) + t);
    const float rs = r8[w * NW], f = model_row_factor_at(sn, rs);
    if (lane == 0 && f_out) f_out[w] = f, r_out[w] = fabs(sn * rs) > 1.0 ? rs : 0.0f;
    float *row = o + w * dv;
    for (int j = lane; j < dv; j += 32) row[j] *= f;
}

/* f and r only (o left to cuda_op_head_norm_gate_scaled_bf16): a thread a row; r the sum of
 * the row's first nslot columns of r8 (1: the v = 1 pass's; 8: retention_cuda_forward_rows'
 * slots, in order) */
__global__ void row_factors_kernel(const float *r8, int nslot, const double *gamma,
                                   const int64_t *pos, int64_t B, int64_t T, int h,
                                   float *f_out, float *r_out) {
    const int64_t w = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (w >= B * T * h) return;
    const int64_t bt = w / h, b = bt / T, t = bt % T;
    const double sn = model_decay_row_scale(gamma[w % h], (pos ? pos[b] : 0) + t);
    float rs = r8[w * NW];
    for (int i = 1; i < nslot; i++) rs += r8[w * NW + i];
    f_out[w] = model_row_factor_at(sn, rs), r_out[w] = fabs(sn * rs) > 1.0 ? rs : 0.0f;
}

/* A decoding step: z (B, h, dk) updated in place with k, r = q . z, o (B, h, dv) *= f.
 * One block per (sequence, head), ZT threads, at most ZR of z's values a thread (dk <= 512).
 * Under programmatic launch (cuda_launch: a decoding step's chain) z, the decay and the
 * row's decay scale (from the positions, uploaded before the step) are read before the wait:
 * no kernel of the chain writes them. */
#define ZT 128
#define ZR 4
__global__ void __launch_bounds__(ZT) z_step_kernel(float *z, float *o, const uint16_t *q,
                                                    const uint16_t *k, const double *gamma,
                                                    const int64_t *pos, int h, int dk, int dv) {
    __shared__ double sh[32];
    const int64_t bh = blockIdx.x;
    const int head = (int)(bh % h);
    const float g = (float)gamma[head];
    const double sn = model_decay_row_scale(gamma[head], pos[bh / h]);
    float *zs = z + bh * dk;
    float zv[ZR];
#pragma unroll
    for (int u = 0; u < ZR; u++) {
        const int i = threadIdx.x + u * ZT;
        zv[u] = i < dk ? zs[i] : 0.0f;
    }
    pdl_trigger();
    pdl_wait();
    double acc = 0;
#pragma unroll
    for (int u = 0; u < ZR; u++) {
        const int i = threadIdx.x + u * ZT;
        if (i < dk) {
            const float zi = g * zv[u] + bf16_bits_to_f32(k[bh * dk + i]);
            zs[i] = zi;
            acc += (double)(bf16_bits_to_f32(q[bh * dk + i]) * zi);
        }
    }
    const float f = model_row_factor_at(sn, (float)block_sum(acc, sh));
    float *os = o + bh * dv;
    for (int j = threadIdx.x; j < dv; j += ZT) os[j] *= f;
}

retnet_status cuda_retention_normalize(float *o, const cuda_bf16 *q, const cuda_bf16 *k,
                                       const float *gamma, const double *gamma64,
                                       const int64_t *pos, const float *z_in, float *z_out,
                                       int64_t B, int64_t T, int h, int dk, int dv,
                                       float *f_out, float *r_out, cuda_stream s) {
    if (B < 1 || T < 1 || h < 1 || dk < 8 || dk % 8 || dv < 1 || (!o && !f_out) || !q || !k ||
        !gamma || !gamma64 || !f_out != !r_out)
        return retnet_fail(RETNET_EINVAL, "cuda_retention_normalize: bad arguments (B %lld T "
                           "%lld h %d dk %d dv %d)", (long long)B, (long long)T, h, dk, dv);
    TRY(cuda_ensure_init());
    cudaStream_t cs = (cudaStream_t)s;
    const int64_t rows = B * T * h, zm = B * h * dk;
    /* scratch: ones (rows, NW) bf16, r8 (rows, NW) fp32, z8 in and out (zm, NW) fp32 */
    const size_t ones_b = (2 * (size_t)(rows * NW) + 255) / 256 * 256;
    const size_t r8_b = 4 * (size_t)(rows * NW), z8_b = 4 * (size_t)(zm * NW);
    void *scr = NULL;
    TRY(cuda_scratch(&scr, ones_b + r8_b + 2 * z8_b));
    uint16_t *ones = (uint16_t *)scr;
    float *r8 = (float *)((char *)scr + ones_b), *z8i = r8 + rows * NW, *z8o = z8i + zm * NW;
    fill_ones_kernel<<<cuda_blocks(rows * NW, 256, 4096), 256, 0, cs>>>(ones, rows * NW);
    CUDA_LAUNCHED("cuda_retention_normalize");
    if (z_in) {
        widen_z_kernel<<<cuda_blocks(zm * NW, 256, 4096), 256, 0, cs>>>(z8i, z_in, zm);
        CUDA_LAUNCHED("cuda_retention_normalize");
    }
    if (retention_cuda_forward((int)B, (int)T, h, dk, NW, q, k, ones, gamma, 1.0f,
                               z_in ? z8i : NULL, z_out ? z8o : NULL, r8, RETNET_CUDA_F32,
                               cs))
        return retnet_fail(RETNET_EDEVICE, "CUDA: the section-3 row sums: %s",
                           retention_cuda_errmsg());
    if (o)
        scale_rows_kernel<<<cuda_blocks(rows * 32, 256, INT32_MAX), 256, 0, cs>>>(
            o, r8, gamma64, pos, B, T, h, dv, f_out, r_out);
    else
        row_factors_kernel<<<cuda_blocks(rows, 256, INT32_MAX), 256, 0, cs>>>(
            r8, 1, gamma64, pos, B, T, h, f_out, r_out);
    CUDA_LAUNCHED("cuda_retention_normalize");
    if (z_out) {
        narrow_z_kernel<<<cuda_blocks(zm, 256, 4096), 256, 0, cs>>>(z_out, z8o, zm);
        CUDA_LAUNCHED("cuda_retention_normalize");
    }
    return RETNET_OK;
}

retnet_status cuda_retention_forward_normalized(float *o, const cuda_bf16 *q, const cuda_bf16 *k,
                                                const cuda_bf16 *v, const float *gamma,
                                                const double *gamma64, int64_t B, int64_t T,
                                                int h, int dk, int dv, float *f_out,
                                                float *r_out, cuda_stream s) {
    if (B < 1 || T < 1 || h < 1 || !o || !q || !k || !v || !gamma || !gamma64 || !f_out ||
        !r_out || B * T > INT32_MAX)
        return retnet_fail(RETNET_EINVAL, "cuda_retention_forward_normalized: bad arguments");
    TRY(cuda_ensure_init());
    cudaStream_t cs = (cudaStream_t)s;
    const int64_t rows = B * T * h;
    void *scr = NULL;
    TRY(cuda_scratch(&scr, 4 * (size_t)(rows * NW)));
    float *r8 = (float *)scr;
    if (retention_cuda_forward_rows((int)B, (int)T, h, dk, dv, q, k, v, gamma, 1.0f, o,
                                    RETNET_CUDA_F32, r8, cs))
        return retnet_fail(RETNET_EDEVICE, "CUDA: retention with the section-3 row sums: %s",
                           retention_cuda_errmsg());
    row_factors_kernel<<<cuda_blocks(rows, 256, INT32_MAX), 256, 0, cs>>>(
        r8, NW, gamma64, NULL, B, T, h, f_out, r_out);
    CUDA_LAUNCHED("cuda_retention_forward_normalized");
    return RETNET_OK;
}

retnet_status cuda_retention_normalize_step(float *o, float *z, const cuda_bf16 *q,
                                            const cuda_bf16 *k, const double *gamma64,
                                            const int64_t *pos, int64_t B, int h, int dk, int dv,
                                            cuda_stream s) {
    if (B < 1 || h < 1 || dk < 1 || dk > ZT * ZR || dv < 1 || !o || !z || !q || !k ||
        !gamma64 || !pos)
        return retnet_fail(RETNET_EINVAL, "cuda_retention_normalize_step: bad arguments");
    TRY(cuda_ensure_init());
    CUDA_TRY(cuda_launch(z_step_kernel, dim3((unsigned)(B * h)), dim3(ZT), 0, (cudaStream_t)s, z,
                         o, (const uint16_t *)q, (const uint16_t *)k, gamma64, pos, h, dk, dv),
             "cuda_retention_normalize_step");
    return RETNET_OK;
}

/* The backward's first half, one warp per (row, head), positions from 0: with fo = f o (what
 * the head norm read) and dfo its gradient (bf16, in place):
 *   d o = f dfo (bf16, in place: retention's dout);  d f = <dfo, o> = <dfo, fo> / f;
 *   f = s / max(|s r|, 1):  d r = -d f sign(r) / r^2 where |s r| > 1 (r kept), else 0
 * into column 0 of dr8 (B, T, h, NW) bf16 (the other columns 0), as src/model.c. */
__global__ void rows_backward_kernel(uint16_t *dfo, const float *fo, const float *f,
                                     const float *r, uint16_t *dr8, int64_t rows, int dv) {
    const int64_t w = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x & 31;
    if (w >= rows) return;
    const float fv = f[w];
    uint16_t *g = dfo + w * dv;
    const float *x = fo + w * dv;
    double df = 0;
    for (int j = lane; j < dv; j += 32) {
        const float gj = bf16_bits_to_f32(g[j]);
        df += (double)gj * x[j];
        g[j] = f32_to_bf16_bits(fv * gj);
    }
    df = fv != 0.0f ? warp_sum(df) / fv : 0.0; /* f = 0 (|r| ~ 1e38): d r -> 0, as the CPU */
    if (lane < NW) {
        float v = 0.0f;
        if (lane == 0) {
            const double rv = r[w];
            v = rv != 0.0 ? (float)(-df * (rv > 0 ? 1.0 : -1.0) / (rv * rv)) : 0.0f;
        }
        dr8[w * NW + lane] = f32_to_bf16_bits(v);
    }
}

retnet_status cuda_retention_normalize_backward(cuda_bf16 *dfo, const float *fo, const float *f,
                                                const float *r, cuda_bf16 *dr8, int64_t B,
                                                int64_t T, int h, int dv, cuda_stream s) {
    if (B < 1 || T < 1 || h < 1 || dv < 1 || !dfo || !fo || !f || !r || !dr8)
        return retnet_fail(RETNET_EINVAL, "cuda_retention_normalize_backward: bad arguments");
    TRY(cuda_ensure_init());
    const int64_t rows = B * T * h;
    rows_backward_kernel<<<cuda_blocks(rows * 32, 256, INT32_MAX), 256, 0, (cudaStream_t)s>>>(
        (uint16_t *)dfo, fo, f, r, (uint16_t *)dr8, rows, dv);
    CUDA_LAUNCHED("cuda_retention_normalize_backward");
    return RETNET_OK;
}

retnet_status cuda_retention_normalize_backward_sums(const cuda_bf16 *q, const cuda_bf16 *k,
                                                     const float *gamma, const cuda_bf16 *dr8,
                                                     cuda_bf16 *ones8, float *dq, float *dk_,
                                                     int64_t B, int64_t T, int h, int dk,
                                                     cuda_stream s) {
    if (B < 1 || T < 1 || !q || !k || !gamma || !dr8 || !ones8 || !dq || !dk_)
        return retnet_fail(RETNET_EINVAL, "cuda_retention_normalize_backward_sums: bad arguments");
    TRY(cuda_ensure_init());
    const int64_t n = B * T * h * NW;
    fill_ones_kernel<<<cuda_blocks(n, 256, 4096), 256, 0, (cudaStream_t)s>>>((uint16_t *)ones8, n);
    CUDA_LAUNCHED("cuda_retention_normalize_backward_sums");
    if (retention_cuda_backward((int)B, (int)T, h, dk, NW, q, k, ones8, gamma, 1.0f, NULL, dr8,
                                NULL, dq, dk_, NULL, RETNET_CUDA_F32, 1, NULL,
                                (cudaStream_t)s))
        return retnet_fail(RETNET_EDEVICE, "CUDA: the section-3 row sums' backward: %s",
                           retention_cuda_errmsg());
    return RETNET_OK;
}
