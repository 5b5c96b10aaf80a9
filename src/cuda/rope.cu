/*
 * rope.cu: the position rotation of RETNET.md §2 (src/ops/rope.c's counterpart), for all B
 * sequences of a batch in one launch. One thread per (sequence, position, channel pair)
 * turns that pair in every head. As on the CPU, theta_j and the angle n theta_j are formed
 * in double and so are their cosine and sine (n theta reaches 1e5 rad at T = 100k, where a
 * float angle would have lost its fraction), then rounded to float.
 */
#include "cuda/common.cuh"

/* y may be x (in place, fp32) or a bf16 array of the same layout (BF). */
template <bool BF>
__global__ void rope_kernel(const float *x, void *y, int64_t ld, int64_t B, int64_t T, int h,
                            int dk, const int64_t *pos0, int half, double base, float scale,
                            float sign) {
    const int npair = dk / 2;
    const int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (idx >= B * T * npair) return;
    const int j = (int)(idx % npair);
    const int64_t bt = idx / npair, b = bt / T, t = bt - b * T;
    double theta;
    if (half) theta = pow(base, -2.0 * j / dk);
    else theta = npair > 1 ? pow(base, -(double)j / (npair - 1)) : 1.0;
    const double ang = (double)((pos0 ? pos0[b] : 0) + t) * theta;
    double sd, cd;
    sincos(ang, &sd, &cd);
    const float c = (float)cd, s = sign * (float)sd;
    const int i0 = half ? j : 2 * j, i1 = half ? j + npair : 2 * j + 1;
    const float *row = x + bt * ld;
    for (int head = 0; head < h; head++) {
        const int64_t o = bt * ld + (int64_t)head * dk;
        const float *xh = row + (int64_t)head * dk;
        const float a = xh[i0], bb = xh[i1];
        const float u = (a * c - bb * s) * scale, v = (bb * c + a * s) * scale;
        if (BF) {
            ((uint16_t *)y)[o + i0] = f32_to_bf16_bits(u);
            ((uint16_t *)y)[o + i1] = f32_to_bf16_bits(v);
        } else {
            ((float *)y)[o + i0] = u;
            ((float *)y)[o + i1] = v;
        }
    }
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
    if (ybf)
        rope_kernel<true><<<cuda_blocks(n, 256, INT32_MAX), 256, 0, (cudaStream_t)s>>>(
            x, ybf, ld, B, T, h, dk, pos0, half, base, scale, sign);
    else
        rope_kernel<false><<<cuda_blocks(n, 256, INT32_MAX), 256, 0, (cudaStream_t)s>>>(
            x, x, ld, B, T, h, dk, pos0, half, base, scale, sign);
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
