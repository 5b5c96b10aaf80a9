/*
 * step_lab.cu (lab): the decoding step's state update (retention.cu's step_kernel) in other
 * block shapes, against the kernel as it is, at the 1.3B model's heads (H 8, dk 256, dv 512)
 * for B = 1, 8, 64 and 256: S = gamma S + k v^T, o = scale q S, fp32 state read and rewritten once
 * (512 MB a layer at B = 64). copy_bw.cu put the in-place ceiling at 4.0-4.27 TB/s; next48's
 * ncu had step_kernel at ~3.9. Each variant: COLS columns a block (COLS / 4 lanes of float4),
 * RG row groups, UNROLL rows in flight a thread; checked against V0 (S bit for bit, o within
 * 1e-5 of max |o|: other summation orders). Standalone: nvcc -O2 -arch=sm_90a step_lab.cu
 */
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK(x) do { cudaError_t e = (x); if (e) { printf("%s: %s\n", #x, cudaGetErrorString(e)); exit(1); } } while (0)
typedef __nv_bfloat16 bf16;

template <bool HINT> __device__ __forceinline__ float4 ld4(const float *p) {
    return HINT ? __ldcs(reinterpret_cast<const float4 *>(p)) : *reinterpret_cast<const float4 *>(p);
}
template <bool HINT> __device__ __forceinline__ void st4(float *p, float4 v) {
    if (HINT) __stcs(reinterpret_cast<float4 *>(p), v);
    else *reinterpret_cast<float4 *>(p) = v;
}

template <int COLS, int RG, int UNROLL, bool HINT = true>
__global__ void __launch_bounds__(COLS / 4 * RG) step_v(int H, int dk, int dv, const bf16 *q,
                                                        const bf16 *k, const bf16 *v,
                                                        const float *gamma, float scale, float *S,
                                                        float *o) {
    constexpr int LANES = COLS / 4, NT = LANES * RG;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    float *qs = reinterpret_cast<float *>(smem_raw), *ks = qs + dk;
    float *red = ks + dk; /* [RG][COLS] */
    const int tid = threadIdx.x, c4 = tid % LANES, rg = tid / LANES;
    const int h = blockIdx.y, b = blockIdx.z, col = blockIdx.x * COLS + c4 * 4;
    const int64_t bh = (int64_t)b * H + h;
    float *Sb = S + bh * dk * dv + col;
    float4 s[UNROLL];
    if (col < dv) {
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            const int i = rg + u * RG;
            if (i < dk) s[u] = ld4<HINT>(Sb + (int64_t)i * dv);
        }
    }
    for (int i = tid; i < dk; i += NT) {
        qs[i] = __bfloat162float(q[bh * dk + i]);
        ks[i] = __bfloat162float(k[bh * dk + i]);
    }
    __syncthreads();
    const float gam = gamma[h];
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    if (col < dv) {
        const uint2 vraw = *reinterpret_cast<const uint2 *>(v + bh * dv + col);
        const float2 v01 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&vraw.x));
        const float2 v23 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&vraw.y));
        for (int i0 = rg; i0 < dk; i0 += RG * UNROLL) {
#pragma unroll
            for (int u = 0; u < UNROLL; u++) {
                const int i = i0 + u * RG;
                if (i0 != rg && i < dk)
                    s[u] = ld4<HINT>(Sb + (int64_t)i * dv);
            }
#pragma unroll
            for (int u = 0; u < UNROLL; u++) {
                const int i = i0 + u * RG;
                if (i < dk) {
                    const float kk = ks[i], qq = qs[i];
                    s[u].x = gam * s[u].x + kk * v01.x;
                    s[u].y = gam * s[u].y + kk * v01.y;
                    s[u].z = gam * s[u].z + kk * v23.x;
                    s[u].w = gam * s[u].w + kk * v23.y;
                    st4<HINT>(Sb + (int64_t)i * dv, s[u]);
                    acc.x += qq * s[u].x, acc.y += qq * s[u].y;
                    acc.z += qq * s[u].z, acc.w += qq * s[u].w;
                }
            }
        }
    }
    *reinterpret_cast<float4 *>(red + rg * COLS + c4 * 4) = acc;
    __syncthreads();
    for (int c = tid; c < COLS; c += NT) {
        const int cc = blockIdx.x * COLS + c;
        if (cc < dv) {
            float sum = 0.0f;
            for (int r = 0; r < RG; r++) sum += red[r * COLS + c];
            o[bh * dv + cc] = sum * scale;
        }
    }
}

struct Variant {
    const char *name;
    void (*k)(int, int, int, const bf16 *, const bf16 *, const bf16 *, const float *, float,
              float *, float *);
    int cols, rg;
};

int main(void) {
    const int H = 8, dk = 256, dv = 512;
    Variant vs[] = {
        {"V0 now: 64 cols, 16 rg, unroll 8 (256 thr)", step_v<64, 16, 8>, 64, 16},
        {"64 cols, 16 rg, unroll 16 (256 thr)", step_v<64, 16, 16>, 64, 16},
        {"64 cols, 16 rg, unroll 4 (256 thr)", step_v<64, 16, 4>, 64, 16},
        {"64 cols, 32 rg, unroll 8 (512 thr)", step_v<64, 32, 8>, 64, 32},
        {"64 cols, 64 rg, unroll 4 (1024 thr)", step_v<64, 64, 4>, 64, 64},
        {"64 cols, 32 rg, unroll 4 (512 thr)", step_v<64, 32, 4>, 64, 32},
        {"128 cols, 16 rg, unroll 8 (512 thr)", step_v<128, 16, 8>, 128, 16},
        {"128 cols, 8 rg, unroll 8 (256 thr)", step_v<128, 8, 8>, 128, 8},
        {"32 cols, 32 rg, unroll 8 (256 thr)", step_v<32, 32, 8>, 32, 32},
        {"32 cols, 64 rg, unroll 4 (512 thr)", step_v<32, 64, 4>, 32, 64},
        {"512 cols, 2 rg, unroll 16 (256 thr)", step_v<512, 2, 16>, 512, 2},
        {"V0 without the cache hints", step_v<64, 16, 8, false>, 64, 16},
        {"32 cols, 16 rg, unroll 16 (128 thr)", step_v<32, 16, 16>, 32, 16},
        {"16 cols, 64 rg, unroll 4 (256 thr)", step_v<16, 64, 4>, 16, 64},
        {"16 cols, 32 rg, unroll 8 (128 thr)", step_v<16, 32, 8>, 16, 32},
        {"64 cols, 32 rg, unroll 8, no hints", step_v<64, 32, 8, false>, 64, 32},
    };
    const int nv = sizeof vs / sizeof vs[0];
    for (int B : {1, 8, 64, 256}) {
        const size_t ns = (size_t)B * H * dk * dv, nq = (size_t)B * H * dk, nvv = (size_t)B * H * dv;
        float *S, *S0, *o, *o0, *gamma;
        bf16 *q, *k, *v;
        CK(cudaMalloc(&S, ns * 4)); CK(cudaMalloc(&S0, ns * 4));
        CK(cudaMalloc(&o, nvv * 4)); CK(cudaMalloc(&o0, nvv * 4)); CK(cudaMalloc(&gamma, H * 4));
        CK(cudaMalloc(&q, nq * 2)); CK(cudaMalloc(&k, nq * 2)); CK(cudaMalloc(&v, nvv * 2));
        /* inputs: small random values (host), the state random in [-1, 1] */
        {
            float *h = (float *)malloc(ns * 4);
            srand(1);
            for (size_t i = 0; i < ns; i++) h[i] = (float)rand() / RAND_MAX * 2 - 1;
            CK(cudaMemcpy(S0, h, ns * 4, cudaMemcpyHostToDevice));
            bf16 *hb = (bf16 *)malloc((nq > nvv ? nq : nvv) * 2);
            for (size_t i = 0; i < nq; i++) hb[i] = __float2bfloat16((float)rand() / RAND_MAX - 0.5f);
            CK(cudaMemcpy(q, hb, nq * 2, cudaMemcpyHostToDevice));
            for (size_t i = 0; i < nq; i++) hb[i] = __float2bfloat16((float)rand() / RAND_MAX - 0.5f);
            CK(cudaMemcpy(k, hb, nq * 2, cudaMemcpyHostToDevice));
            for (size_t i = 0; i < nvv; i++) hb[i] = __float2bfloat16((float)rand() / RAND_MAX - 0.5f);
            CK(cudaMemcpy(v, hb, nvv * 2, cudaMemcpyHostToDevice));
            float g[8];
            for (int i = 0; i < H; i++) g[i] = 1.0f - exp2f(-5.0f - i);
            CK(cudaMemcpy(gamma, g, H * 4, cudaMemcpyHostToDevice));
            free(h), free(hb);
        }
        float *Sref = (float *)malloc(ns * 4), *Sgot = (float *)malloc(ns * 4);
        float *oref = (float *)malloc(nvv * 4), *ogot = (float *)malloc(nvv * 4);
        printf("-- B = %d (state %zu MB, read + write counted)\n", B, ns * 4 >> 20);
        cudaEvent_t e0, e1;
        cudaEventCreate(&e0), cudaEventCreate(&e1);
        for (int vi = 0; vi < nv; vi++) {
            const Variant &V = vs[vi];
            const int nt = V.cols / 4 * V.rg;
            const size_t smem = sizeof(float) * (2 * dk + V.rg * V.cols);
            if (smem > 48 * 1024) CK(cudaFuncSetAttribute(V.k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
            dim3 grid((dv + V.cols - 1) / V.cols, H, B);
            /* one step from S0 for the check */
            CK(cudaMemcpy(S, S0, ns * 4, cudaMemcpyDeviceToDevice));
            V.k<<<grid, nt, smem>>>(H, dk, dv, q, k, v, gamma, 0.0625f, S, o);
            CK(cudaGetLastError());
            CK(cudaDeviceSynchronize());
            CK(cudaMemcpy(vi ? Sgot : Sref, S, ns * 4, cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(vi ? ogot : oref, o, nvv * 4, cudaMemcpyDeviceToHost));
            const char *ok = "reference";
            char buf[64];
            if (vi) {
                const bool same = !memcmp(Sref, Sgot, ns * 4);
                double mx = 0, err = 0;
                for (size_t i = 0; i < nvv; i++) mx = fmax(mx, fabs(oref[i])), err = fmax(err, fabs(oref[i] - ogot[i]));
                snprintf(buf, sizeof buf, "S %s, o err %.1e", same ? "same" : "DIFFERS", err / mx);
                ok = buf;
                if (!same || err > 1e-5 * mx) ok = strcat(buf, " FAIL");
            }
            /* 20 launches in one graph (at B = 1 and 8 a launch is a few us, less than the
             * host's cost of launching it) */
            cudaStream_t st;
            CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
            const int reps = 20;
            cudaGraph_t gr;
            cudaGraphExec_t ge;
            CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
            for (int i = 0; i < reps; i++) V.k<<<grid, nt, smem, st>>>(H, dk, dv, q, k, v, gamma, 0.0625f, S, o);
            CK(cudaStreamEndCapture(st, &gr));
            CK(cudaGraphInstantiate(&ge, gr, 0));
            CK(cudaGraphLaunch(ge, st));
            CK(cudaStreamSynchronize(st));
            cudaEventRecord(e0, st);
            CK(cudaGraphLaunch(ge, st));
            cudaEventRecord(e1, st);
            CK(cudaEventSynchronize(e1));
            cudaGraphExecDestroy(ge), cudaGraphDestroy(gr), cudaStreamDestroy(st);
            float ms;
            cudaEventElapsedTime(&ms, e0, e1);
            const double us = ms * 1e3 / reps;
            printf("%-46s %8.1f us  %5.2f TB/s  %s\n", V.name, us, 2.0 * ns * 4 / (us * 1e-6) * 1e-12, ok);
        }
        cudaFree(S), cudaFree(S0), cudaFree(o), cudaFree(o0), cudaFree(gamma), cudaFree(q), cudaFree(k), cudaFree(v);
        free(Sref), free(Sgot), free(oref), free(ogot);
    }
    return 0;
}
