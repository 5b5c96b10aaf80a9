/*
 * window_lab2.cu (lab): the decoding window's step (retention.cu's step_window_kernel, included)
 * in other block shapes, at the 1.3B model's heads (H 8, dk 256, dv 512), W 16, B = 64 and 256,
 * on steps that fold no layer (the state read only) and on steps that fold (read and written),
 * beside a plain read of the state.
 *
 * Why: read-only, the first window kernel (64 columns, 32 row groups, 8 rows in one set) read
 * ~2.6 TB/s where a plain read gets ~4.4 (next84.sh), while step_kernel, reading and writing
 * the state in the same shape, gets ~4.1: a block's 64 KB was a chain of round trips (its rows,
 * then the window's tokens, then the sums over 32 row groups in two warps) and two blocks an
 * SM left the memory idle between them. next85.sh timed a copy of the kernel here in 12 shapes
 * (wider blocks, two register sets of rows, the fold reading each token's values once a set;
 * also 1 and 4 blocks an SM, which lost): the winner, 512 columns, 4 row groups, 2 rows x2,
 * 2 blocks an SM, became retention.cu's kernel for large states, so the lab now times that
 * kernel's own instantiations (step_window_kernel<COLS, RG, UNR, PRE, HINT>).
 * Checked against the first variant: o within 1e-5 of max |o| (other summation orders), the
 * state bit for bit, the ring bit for bit. From the repository root:
 * nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a dev/cuda/window_lab2.cu
 */
#include "../../src/cuda/retention.cu"

#define CK(x) do { cudaError_t e = (x); if (e) { printf("%s: %s\n", #x, cudaGetErrorString(e)); exit(1); } } while (0)

/* the plain read of the state, for the ceiling: every float4 once */
__global__ void read_kernel(const float4 *S, size_t n4, float *out) {
    float4 a = make_float4(0.f, 0.f, 0.f, 0.f);
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n4; i += (size_t)gridDim.x * blockDim.x) {
        const float4 x = S[i];
        a.x += x.x, a.y += x.y, a.z += x.z, a.w += x.w;
    }
    if (a.x + a.y + a.z + a.w == 12345.0f) out[0] = a.x; /* keeps the loads */
}

typedef void (*wk_fn)(int, int, int, const bf16 *, const bf16 *, const bf16 *, const float *, float,
                      float *, bf16 *, bf16 *, const int *, int, int, void *, int);
struct variant { const char *name; wk_fn k; int cols, rg; };
#define V(C, R, U) {"step_window_kernel<" #C " cols, " #R " row groups, " #U " rows x2>", \
                    step_window_kernel<C, R, U, false, false>, C, R}

int main(void) {
    const int H = 8, dk = 256, dv = 512, W = 16;
    int sms = 0;
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    variant vs[] = {
        {"mainline, small states' shape (64 cols, 16 row groups, 8 rows x2, hints)",
         step_window_kernel<64, 16, 8, true, true>, 64, 16},
        V(512, 4, 2), V(256, 8, 2), V(128, 16, 4), V(64, 32, 4), /* the mainline's large shapes */
        V(512, 4, 4), V(256, 8, 4), V(128, 16, 2), V(64, 32, 2), /* others */
        V(512, 2, 2), V(256, 4, 2),
    };
    const int nv = sizeof vs / sizeof vs[0];
    printf("window lab 2: H %d dk %d dv %d W %d, %d SMs\n", H, dk, dv, W, sms);
    printf("| B | step | kernel | us | state GB/s (read, + written if it folds) | regs | check |\n|---|---|---|---|---|---|---|\n");
    for (int B : {64, 256}) {
        const size_t ns = (size_t)B * H * dk * dv, nq = (size_t)B * H * dk, nvv = (size_t)B * H * dv;
        const size_t nkw = (size_t)B * (W + 1) * H * dk, nvw = (size_t)B * (W + 1) * H * dv;
        float *S, *S0, *o, *gamma, *sink;
        bf16 *q, *k, *v, *kw, *vw, *kw0, *vw0;
        int *m;
        CK(cudaMalloc(&S, ns * 4)); CK(cudaMalloc(&S0, ns * 4)); CK(cudaMalloc(&o, nvv * 4));
        CK(cudaMalloc(&gamma, H * 4)); CK(cudaMalloc(&sink, 4)); CK(cudaMalloc(&m, B * 4));
        CK(cudaMalloc(&q, nq * 2)); CK(cudaMalloc(&k, nq * 2)); CK(cudaMalloc(&v, nvv * 2));
        CK(cudaMalloc(&kw, nkw * 2)); CK(cudaMalloc(&vw, nvw * 2));
        CK(cudaMalloc(&kw0, nkw * 2)); CK(cudaMalloc(&vw0, nvw * 2));
        {
            float *hs = (float *)malloc(ns * 4);
            srand(1);
            for (size_t i = 0; i < ns; i++) hs[i] = (float)rand() / RAND_MAX * 2 - 1;
            CK(cudaMemcpy(S0, hs, ns * 4, cudaMemcpyHostToDevice));
            const size_t nb = nvw > nq ? nvw : nq;
            bf16 *hb = (bf16 *)malloc(nb * 2);
            auto fill = [&](bf16 *d, size_t n) {
                for (size_t i = 0; i < n; i++) hb[i] = __float2bfloat16((float)rand() / RAND_MAX - 0.5f);
                CK(cudaMemcpy(d, hb, n * 2, cudaMemcpyHostToDevice));
            };
            fill(q, nq), fill(k, nq), fill(v, nvv), fill(kw0, nkw), fill(vw0, nvw);
            float g[8];
            for (int i = 0; i < H; i++) g[i] = 1.0f - exp2f(-5.0f - i);
            CK(cudaMemcpy(gamma, g, H * 4, cudaMemcpyHostToDevice));
            free(hs), free(hb);
        }
        float *oref = (float *)malloc(nvv * 4), *ogot = (float *)malloc(nvv * 4);
        float *Sref = (float *)malloc(ns * 4), *Sgot = (float *)malloc(ns * 4);
        bf16 *wref = (bf16 *)malloc(nvw * 2), *wgot = (bf16 *)malloc(nvw * 2);
        cudaEvent_t e0, e1;
        cudaEventCreate(&e0), cudaEventCreate(&e1);
        {
            const int reps = 10;
            read_kernel<<<sms * 8, 512>>>((const float4 *)S0, ns / 4, sink);
            cudaEventRecord(e0);
            for (int i = 0; i < reps; i++) read_kernel<<<sms * 8, 512>>>((const float4 *)S0, ns / 4, sink);
            cudaEventRecord(e1);
            CK(cudaEventSynchronize(e1));
            float ms;
            cudaEventElapsedTime(&ms, e0, e1);
            const double us = ms * 1e3 / reps;
            printf("| %d | - | plain read of the state | %.1f | %.0f | - | - |\n", B, us, ns * 4 / (us * 1e-6) * 1e-9);
        }
        /* every sequence mid-window (m = 21: window 5, no fold at phase 0) or folding (m = 32) */
        for (int mode = 0; mode < 2; mode++) {
            const int mv = mode ? 32 : 21;
            int *hm = (int *)malloc(B * 4);
            for (int b = 0; b < B; b++) hm[b] = mv;
            CK(cudaMemcpy(m, hm, B * 4, cudaMemcpyHostToDevice));
            free(hm);
            for (int ki = 0; ki < nv; ki++) {
                const size_t smem = window_smem(dk, W, vs[ki].cols, vs[ki].rg);
                CK(cudaFuncSetAttribute(vs[ki].k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
                cudaFuncAttributes fa;
                CK(cudaFuncGetAttributes(&fa, vs[ki].k));
                CK(cudaMemcpy(S, S0, ns * 4, cudaMemcpyDeviceToDevice));
                CK(cudaMemcpy(kw, kw0, nkw * 2, cudaMemcpyDeviceToDevice));
                CK(cudaMemcpy(vw, vw0, nvw * 2, cudaMemcpyDeviceToDevice));
                dim3 grid(dv / vs[ki].cols, H, B);
                auto launch = [&]() {
                    vs[ki].k<<<grid, vs[ki].cols / 4 * vs[ki].rg, smem>>>(
                        H, dk, dv, q, k, v, gamma, 0.0625f, S, kw, vw, m, W, 0, o, 1);
                };
                launch();
                CK(cudaGetLastError());
                CK(cudaDeviceSynchronize());
                CK(cudaMemcpy(ki ? ogot : oref, o, nvv * 4, cudaMemcpyDeviceToHost));
                CK(cudaMemcpy(ki ? Sgot : Sref, S, ns * 4, cudaMemcpyDeviceToHost));
                CK(cudaMemcpy(ki ? wgot : wref, vw, nvw * 2, cudaMemcpyDeviceToHost));
                char chk[96] = "reference";
                if (ki) {
                    double mo = 0, eo = 0;
                    for (size_t i = 0; i < nvv; i++) mo = fmax(mo, fabs(oref[i])), eo = fmax(eo, fabs(oref[i] - ogot[i]));
                    const bool sb = !memcmp(Sref, Sgot, ns * 4), ring = !memcmp(wref, wgot, nvw * 2);
                    const bool ok = eo <= 1e-5 * mo && sb && ring;
                    snprintf(chk, sizeof chk, "o %.1e, S %s, ring %s%s", eo / mo, sb ? "same" : "DIFFERS",
                             ring ? "same" : "DIFFERS", ok ? "" : " FAIL");
                }
                const int reps = 10;
                cudaEventRecord(e0);
                for (int i = 0; i < reps; i++) launch();
                cudaEventRecord(e1);
                CK(cudaEventSynchronize(e1));
                float ms;
                cudaEventElapsedTime(&ms, e0, e1);
                const double us = ms * 1e3 / reps;
                const double bytes = ns * 4.0 * (mode ? 2 : 1);
                printf("| %d | %s | %s | %.1f | %.0f | %d%s | %s |\n", B, mode ? "folds" : "reads only",
                       vs[ki].name, us, bytes / (us * 1e-6) * 1e-9, fa.numRegs,
                       fa.localSizeBytes ? " SPILLS" : "", chk);
            }
        }
        cudaFree(S), cudaFree(S0), cudaFree(o), cudaFree(gamma), cudaFree(sink), cudaFree(m);
        cudaFree(q), cudaFree(k), cudaFree(v), cudaFree(kw), cudaFree(vw), cudaFree(kw0), cudaFree(vw0);
        free(oref), free(ogot), free(Sref), free(Sgot), free(wref), free(wgot);
    }
    return 0;
}
