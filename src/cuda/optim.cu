/*
 * optim.cu: the AdamW step (src/optim.c's counterpart, torch.optim.AdamW's arithmetic): fp32
 * master weights and moments, and a bf16 copy of the updated weights written in the same
 * pass (what the bf16 matrix products read next). The scalars that depend on the step only
 * (bias corrections in double, the decay factor) are formed on the host exactly as
 * retnet_adamw_step forms them, so both backends run the same float operations per element.
 */
#include "cuda/common.cuh"

#include <math.h>

__global__ void adamw_kernel(float *p, uint16_t *pb, const float *g, float *m, float *v,
                             int64_t n, float decay, float b1, float b2, float eps,
                             float step_size, float bc2_sqrt, float grad_scale) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const float gi = grad_scale == 1.0f ? g[i] : g[i] * grad_scale;
        float pi = p[i] * decay;
        const float mo = b1 * m[i] + (1.0f - b1) * gi;
        const float ve = b2 * v[i] + (1.0f - b2) * gi * gi;
        pi -= step_size * mo / (sqrtf(ve) / bc2_sqrt + eps);
        p[i] = pi, m[i] = mo, v[i] = ve;
        if (pb) pb[i] = f32_to_bf16_bits(pi);
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
    adamw_kernel<<<cuda_blocks(n, 256, (int64_t)(sms > 0 ? sms : 132) * 16), 256, 0,
                   (cudaStream_t)s>>>(p, p_bf16, g, m, v, n, decay, h->beta1, h->beta2, h->eps,
                                      step_size, bc2_sqrt, grad_scale);
    CUDA_LAUNCHED("cuda_op_adamw");
    return RETNET_OK;
}
