/*
 * window_lab2.cu (lab): the decoding window's step (retention.cu's step_window_kernel, included)
 * in other block shapes, at the 1.3B model's heads (H 8, dk 256, dv 512), W 16, B = 64 and 256,
 * on steps that fold no layer (the state read only) and on steps that fold (read and written).
 *
 * Why: read-only, step_window_kernel<64, 32> reads ~2.6 TB/s where a plain read gets ~4.4
 * (next84.sh), while step_kernel, reading and writing the state in the same shape, gets ~4.1:
 * a block's 64 KB is a chain of round trips (its rows, then the window's tokens, then the sums
 * over 32 row groups in two warps) and two blocks an SM leave the memory idle between them.
 * Here, `lab_window_kernel<COLS, RG, UNR, MINB>`:
 *  - wider blocks (up to a head's whole 512 columns: one window load and one score a (b, h)
 *    instead of 8, 2 KB runs of a row), fewer row groups to sum;
 *  - the next UNR rows asked for before the current ones are summed (two register sets);
 *  - the fold with the window's tokens outside the rows (each value read from shared memory
 *    once for UNR rows instead of once a row: the fold was ~3x a read-only step), in the same
 *    order of operations for each element as the flush's (so the same bits).
 * Checked against the first variant: o within 1e-5 of max |o| (other summation orders), the
 * state bit for bit, the ring bit for bit. next85.sh ran it against the first kernel
 * (step_window_kernel<64, 32, 8 rows in one set>); the winner, 512 columns, 4 row groups,
 * 2 rows x2, 2 blocks an SM, is now retention.cu's step_window_kernel for large states,
 * whose shapes are timed here beside the lab's. From the repository root:
 * nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a dev/cuda/window_lab2.cu
 */
#include "../../src/cuda/retention.cu"

#define CK(x) do { cudaError_t e = (x); if (e) { printf("%s: %s\n", #x, cudaGetErrorString(e)); exit(1); } } while (0)

template <int COLS, int RG, int UNR, int MINB>
__global__ void __launch_bounds__(COLS / 4 * RG, MINB)
    lab_window_kernel(int H, int dk, int dv, const bf16 *q, const bf16 *k, const bf16 *v,
                      const float *gamma, float scale, float *S, bf16 *kw, bf16 *vw,
                      const int *mw, int W, int phase, void *o, int o_f32) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    const int WP = window_wp(W);
    float *qs = reinterpret_cast<float *>(smem_raw), *kws = qs + dk;
    float *vws = kws + (W + 1) * dk, *coef = vws + (W + 1) * COLS, *gp = coef + WP;
    float *red = gp + WP; /* [RG][COLS] */
    constexpr int NT = COLS / 4 * RG, STEP = RG * UNR;
    const int tid = threadIdx.x, c4 = tid % (COLS / 4), rg = tid / (COLS / 4);
    const int h = blockIdx.y, b = blockIdx.z, col = blockIdx.x * COLS + c4 * 4;
    const int64_t bh = (int64_t)b * H + h;
    float *Sb = S + bh * dk * dv + col;
    float4 s[UNR], t[UNR];
    pdl_trigger();
    const int m = mw[b], wl = retention_window_len(m, phase, W);
    const bool fold = m > 0 && (m + phase) % W == 0, in = col < dv;
    auto ld = [&](float4 (&r)[UNR], int i0) {
#pragma unroll
        for (int u = 0; u < UNR; u++) {
            const int i = i0 + u * RG;
            if (in && i < dk) r[u] = *reinterpret_cast<const float4 *>(Sb + (int64_t)i * dv);
        }
    };
    ld(s, rg);
    if (STEP < dk) ld(t, rg + STEP);
    window_powers(gp, gamma[h], W);
    pdl_wait();
    window_load<COLS>(qs, kws, vws, kw, vw, q, k, v, b, h, H, dk, dv, m, wl, W, true, true);
    __syncthreads();
    const int j0 = fold ? wl : 0, lane = tid & 31;
    for (int j = j0 + (tid >> 5); j <= wl; j += NT / 32) {
        float d = 0.0f;
        for (int i = lane; i < dk; i += 32) d = fmaf(qs[i], kws[j * dk + i], d);
#pragma unroll
        for (int off = 16; off; off >>= 1) d += __shfl_xor_sync(0xffffffffu, d, off);
        if (lane == 0) coef[j] = gp[wl - j] * d;
    }
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    /* rows i0 + u RG of r: folded (and stored) if this step folds, then summed with q */
    auto use = [&](float4 (&r)[UNR], int i0) {
        if (fold) {
            const float g = gp[wl];
#pragma unroll
            for (int u = 0; u < UNR; u++) r[u].x *= g, r[u].y *= g, r[u].z *= g, r[u].w *= g;
            for (int j = 0; j < wl; j++) {
                const float4 vv = *reinterpret_cast<const float4 *>(vws + j * COLS + c4 * 4);
                const float gj = gp[wl - 1 - j];
#pragma unroll
                for (int u = 0; u < UNR; u++) {
                    const int i = i0 + u * RG;
                    const float kk = gj * kws[j * dk + (i < dk ? i : 0)];
                    r[u].x = fmaf(kk, vv.x, r[u].x), r[u].y = fmaf(kk, vv.y, r[u].y);
                    r[u].z = fmaf(kk, vv.z, r[u].z), r[u].w = fmaf(kk, vv.w, r[u].w);
                }
            }
#pragma unroll
            for (int u = 0; u < UNR; u++) {
                const int i = i0 + u * RG;
                if (in && i < dk) *reinterpret_cast<float4 *>(Sb + (int64_t)i * dv) = r[u];
            }
        }
#pragma unroll
        for (int u = 0; u < UNR; u++) {
            const int i = i0 + u * RG;
            if (i < dk) {
                const float qq = qs[i];
                acc.x += qq * r[u].x, acc.y += qq * r[u].y, acc.z += qq * r[u].z, acc.w += qq * r[u].w;
            }
        }
    };
    for (int i0 = rg; i0 < dk; i0 += 2 * STEP) {
        use(s, i0);
        if (i0 + 2 * STEP < dk) ld(s, i0 + 2 * STEP);
        if (i0 + STEP < dk) {
            use(t, i0 + STEP);
            if (i0 + 3 * STEP < dk) ld(t, i0 + 3 * STEP);
        }
    }
    if (in) *reinterpret_cast<float4 *>(red + rg * COLS + c4 * 4) = acc;
    __syncthreads();
    for (int tt = tid; tt < COLS; tt += NT) {
        const int c = blockIdx.x * COLS + tt;
        if (c < dv) {
            float sum = 0.0f;
            for (int r = 0; r < RG; r++) sum += red[r * COLS + tt];
            sum *= gp[wl + 1 - j0];
            for (int j = j0; j <= wl; j++) sum = fmaf(coef[j], vws[j * COLS + tt], sum);
            sum *= scale;
            if (o_f32)
                ((float *)o)[bh * dv + c] = sum;
            else
                ((bf16 *)o)[bh * dv + c] = __float2bfloat16_rn(sum);
        }
    }
}

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
#define V(C, R, U, M) {"lab " #C " cols, " #R " row groups, " #U " rows x2, " #M " blocks/SM", \
                       lab_window_kernel<C, R, U, M>, C, R}

int main(void) {
    const int H = 8, dk = 256, dv = 512, W = 16;
    int sms = 0;
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    variant vs[] = {
        {"mainline, small states' shape (64 cols, 16 row groups, 8 rows x2, hints)",
         step_window_kernel<64, 16, 8, true, true>, 64, 16},
        {"mainline, large states' shape at 512 cols", step_window_kernel<512, 4, 2, false, false>, 512, 4},
        {"mainline, large states' shape at 256 cols", step_window_kernel<256, 8, 2, false, false>, 256, 8},
        V(64, 32, 4, 2), V(128, 16, 4, 2), V(256, 8, 4, 2), V(512, 4, 4, 2),
        V(512, 4, 8, 1), V(512, 2, 4, 4), V(256, 4, 4, 4), V(128, 8, 4, 4), V(512, 1, 4, 8),
        V(512, 4, 2, 2), V(256, 8, 2, 2), V(512, 2, 2, 4),
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
