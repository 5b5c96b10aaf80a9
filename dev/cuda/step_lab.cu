/*
 * step_lab.cu (lab): the decoding step's state update (retention.cu's step_kernel, included
 * here, so what is timed is the kernel itself) in other block shapes, against the shape small
 * states take, at the 1.3B model's heads (H 8, dk 256, dv 512) for B = 1, 8, 64 and 256:
 * S = gamma S + k v^T, o = scale q S, the fp32 state read and rewritten once (512 MB a layer
 * at B = 64). copy_bw.cu puts the in-place ceiling at 4.0-4.27 TB/s. Each variant: COLS
 * columns a block (COLS / 4 lanes of float4), RG row groups, with or without the streaming
 * cache hints; checked against V0 (S bit for bit, o within 1e-5 of max |o|: other summation
 * orders). The runs of next50.sh and next52.sh timed a copy of the kernel with the rows in
 * flight a thread as a third parameter (4, 8, 16: 16 within 2% of 8). From the repository
 * root: nvcc -O2 -arch=sm_90a -std=c++17 dev/cuda/step_lab.cu
 */
/* the kernel itself (its block shape is a template: STEP_COLS, STEP_RG, cache hints) */
#include "../../src/cuda/retention.cu"

#define CK(x) do { cudaError_t e = (x); if (e) { printf("%s: %s\n", #x, cudaGetErrorString(e)); exit(1); } } while (0)

struct Variant {
    const char *name;
    void (*k)(int, int, int, const bf16 *, const bf16 *, const bf16 *, const float *, float,
              float *, void *, int);
    int cols, rg;
};

int main(void) {
    const int H = 8, dk = 256, dv = 512;
    Variant vs[] = {
        {"V0 small states: 64 cols, 16 rg (256 thr)", step_kernel<64, 16, true>, 64, 16},
        {"64 cols, 32 rg (512 thr)", step_kernel<64, 32, true>, 64, 32},
        {"128 cols, 16 rg (512 thr)", step_kernel<128, 16, true>, 128, 16},
        {"128 cols, 8 rg (256 thr)", step_kernel<128, 8, true>, 128, 8},
        {"32 cols, 32 rg (256 thr)", step_kernel<32, 32, true>, 32, 32},
        {"V0 without the cache hints", step_kernel<64, 16, false>, 64, 16},
        {"16 cols, 32 rg (128 thr)", step_kernel<16, 32, true>, 16, 32},
        {"large states: 64 cols, 32 rg, no hints", step_kernel<64, 32, false>, 64, 32},
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
            V.k<<<grid, nt, smem>>>(H, dk, dv, q, k, v, gamma, 0.0625f, S, o, 1);
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
            for (int i = 0; i < reps; i++) V.k<<<grid, nt, smem, st>>>(H, dk, dv, q, k, v, gamma, 0.0625f, S, o, 1);
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
