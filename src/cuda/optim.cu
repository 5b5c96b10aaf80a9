/*
 * optim.cu: the AdamW step (src/optim.c's counterpart, torch.optim.AdamW's arithmetic): fp32
 * master weights and moments, and a bf16 copy of the updated weights written in the same
 * pass (what the bf16 matrix products read next). The scalars that depend on the step only
 * (bias corrections in double, the decay factor) are formed on the host exactly as
 * retnet_adamw_step forms them, so both backends run the same float operations per element.
 */
#include "cuda/common.cuh"

#include <math.h>

/* One element's update: the same float operations in both kernels below (and as the CPU's). */
__device__ __forceinline__ float adamw_one(float &p, float &m, float &v, float g, float decay,
                                           float b1, float b2, float eps, float step_size,
                                           float bc2_sqrt, float grad_scale) {
    const float gi = grad_scale == 1.0f ? g : g * grad_scale;
    float pi = p * decay;
    const float mo = b1 * m + (1.0f - b1) * gi;
    const float ve = b2 * v + (1.0f - b2) * gi * gi;
    pi -= step_size * mo / (sqrtf(ve) / bc2_sqrt + eps);
    p = pi, m = mo, v = ve;
    return pi;
}

__global__ void adamw_kernel(float *p, uint16_t *pb, const float *g, float *m, float *v,
                             int64_t n, float decay, float b1, float b2, float eps,
                             float step_size, float bc2_sqrt, float grad_scale) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float pi = p[i], mi = m[i], vi = v[i];
        adamw_one(pi, mi, vi, g[i], decay, b1, b2, eps, step_size, bc2_sqrt, grad_scale);
        p[i] = pi, m[i] = mi, v[i] = vi;
        if (pb) pb[i] = f32_to_bf16_bits(pi);
    }
}

/* The same, four elements a thread by 16-byte accesses (8 for the bf16 copy): p, g, m, v
 * 16-byte aligned, pb 8, n4 = n / 4 groups (the caller does the rest with the kernel above).
 * A scalar thread keeps one 4-byte read of each array in flight; these four times the bytes
 * (the scalar kernel moved 3.6 TB/s on an H200). */
__global__ void adamw4_kernel(float *p, uint16_t *pb, const float *g, float *m, float *v,
                              int64_t n4, float decay, float b1, float b2, float eps,
                              float step_size, float bc2_sqrt, float grad_scale) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4;
         i += (int64_t)gridDim.x * blockDim.x) {
        float4 pp = reinterpret_cast<const float4 *>(p)[i];
        float4 mm = reinterpret_cast<const float4 *>(m)[i];
        float4 vv = reinterpret_cast<const float4 *>(v)[i];
        const float4 gg = reinterpret_cast<const float4 *>(g)[i];
        adamw_one(pp.x, mm.x, vv.x, gg.x, decay, b1, b2, eps, step_size, bc2_sqrt, grad_scale);
        adamw_one(pp.y, mm.y, vv.y, gg.y, decay, b1, b2, eps, step_size, bc2_sqrt, grad_scale);
        adamw_one(pp.z, mm.z, vv.z, gg.z, decay, b1, b2, eps, step_size, bc2_sqrt, grad_scale);
        adamw_one(pp.w, mm.w, vv.w, gg.w, decay, b1, b2, eps, step_size, bc2_sqrt, grad_scale);
        reinterpret_cast<float4 *>(p)[i] = pp;
        reinterpret_cast<float4 *>(m)[i] = mm;
        reinterpret_cast<float4 *>(v)[i] = vv;
        if (pb)
            reinterpret_cast<uint2 *>(pb)[i] =
                make_uint2(f32_to_bf16_bits(pp.x) | (uint32_t)f32_to_bf16_bits(pp.y) << 16,
                           f32_to_bf16_bits(pp.z) | (uint32_t)f32_to_bf16_bits(pp.w) << 16);
    }
}

retnet_status cuda_op_adamw(float *p, cuda_bf16 *p_bf16, const float *g, float *m, float *v,
                            int64_t n, int64_t step, const retnet_adamw *h, int decayed,
                            float grad_scale, cuda_stream s) {
    retnet_status st = cuda_ensure_init();
    if (st) return st;
    if (!p || !g || !m || !v || !h || n < 0)
        return retnet_fail(RETNET_EINVAL, "cuda_op_adamw: NULL argument or n < 0");
    if (step < 1)
        return retnet_fail(RETNET_EINVAL, "cuda_op_adamw: step %lld must be >= 1", (long long)step);
    if (!(h->lr >= 0) || !(h->beta1 >= 0 && h->beta1 < 1) || !(h->beta2 >= 0 && h->beta2 < 1) ||
        !(h->eps > 0) || !(h->weight_decay >= 0))
        return retnet_fail(RETNET_EINVAL, "cuda_op_adamw: hyperparameters out of range (lr %g, "
                           "betas %g %g, eps %g, weight decay %g)", (double)h->lr,
                           (double)h->beta1, (double)h->beta2, (double)h->eps,
                           (double)h->weight_decay);
    if (n == 0) return RETNET_OK;
    /* as retnet_adamw_step: bias corrections in double, then the float scalars */
    const double bc1 = 1.0 - pow(h->beta1, (double)step), bc2 = 1.0 - pow(h->beta2, (double)step);
    const float lr = h->lr;
    const float step_size = (float)(h->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float decay = decayed ? 1.0f - lr * h->weight_decay : 1.0f;
    int sms = cuda_sm_count();
    const int64_t cap = (int64_t)(sms > 0 ? sms : 132) * 16;
    cudaStream_t cs = (cudaStream_t)s;
    const bool vec = ((uintptr_t)p & 15) == 0 && ((uintptr_t)g & 15) == 0 &&
                     ((uintptr_t)m & 15) == 0 && ((uintptr_t)v & 15) == 0 &&
                     ((uintptr_t)p_bf16 & 7) == 0;
    const int64_t n4 = vec ? n / 4 : 0, done = 4 * n4;
    if (n4 > 0) {
        adamw4_kernel<<<cuda_blocks(n4, 256, cap), 256, 0, cs>>>(
            p, (uint16_t *)p_bf16, g, m, v, n4, decay, h->beta1, h->beta2, h->eps, step_size,
            bc2_sqrt, grad_scale);
        CUDA_LAUNCHED("cuda_op_adamw");
    }
    if (n > done) {
        adamw_kernel<<<cuda_blocks(n - done, 256, cap), 256, 0, cs>>>(
            p + done, p_bf16 ? (uint16_t *)p_bf16 + done : NULL, g + done, m + done, v + done,
            n - done, decay, h->beta1, h->beta2, h->eps, step_size, bc2_sqrt, grad_scale);
        CUDA_LAUNCHED("cuda_op_adamw");
    }
    return RETNET_OK;
}
