/*
 * window_lab.cu (lab): the decoding window's step for large states (retention.cu's
 * step_window_kernel<64, 32, false, 8>, included, so what is timed is the kernel itself)
 * against a streamed version, at the 1.3B model's heads (H 8, dk 256, dv 512), W 16, for
 * B = 64 and 256, on steps that fold no layer (the state read only) and on steps that fold
 * (read and written).
 *
 * Why: read-only, the block kernel reads ~2.6 TB/s (next80.sh: a layer of B = 256 in ~410 us):
 * a block holds its unit's state in registers from its loads to its sums, so an SM has at most
 * its two blocks' 128 KB in flight, in bursts. The fifteenth session's first streamed kernel
 * (next81.sh, removed) kept a stage in flight while it summed another, but took ~5 us of work
 * a unit on one block an SM (slower: B = 256 17.2 ms a step against 12.8). This one:
 *  - one block an SM walks a contiguous range of units (b, h, 64 columns; columns fastest),
 *    cp.async filling the next unit's stage (64 KB of state columns, the ring's value
 *    columns, this token's value columns) while one is summed;
 *  - the window's scores (q . k_j) once a (b, h), on the unit that starts it (its stage also
 *    carries the ring's keys, q and k), reused by the (b, h)'s other column blocks;
 *  - the slots of the window's tokens formed once a unit;
 *  - the sum over row groups first within each warp (its two row groups), then 16 partials a
 *    column in shared memory.
 * Three shapes: 64 columns a unit with 2 stages (~152 KB), 32 columns with 3 or 4 (more,
 * smaller units in flight). Checked against the block kernel: o within 1e-5 of max |o| (other summation orders), the
 * state within 1e-6 of max |S| after folding steps, the ring's new slot bit for bit. From the
 * repository root: nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a dev/cuda/window_lab.cu
 */
#include "../../src/cuda/retention.cu"

#define CK(x) do { cudaError_t e = (x); if (e) { printf("%s: %s\n", #x, cudaGetErrorString(e)); exit(1); } } while (0)

constexpr int LNT = 512; /* threads a block; a unit is LC columns, LNT / (LC / 4) row groups */

struct lw_layout { /* bytes: a stage's state columns, the ring's value columns, this token's
                      value columns, then (units that start a (b, h)) keys, q, k */
    int s, vals, vc, keys, q, kc, stage;
};
template <int LC> __host__ __device__ inline lw_layout lw_layout_of(int dk, int W) {
    lw_layout L;
    L.s = dk * LC * 4, L.vals = (W + 1) * LC * 2, L.vc = LC * 2;
    L.keys = (W + 1) * dk * 2, L.q = dk * 2, L.kc = dk * 2;
    L.stage = L.s + L.vals + L.vc + L.keys + L.q + L.kc;
    return L;
}
template <int LC, int NST> static size_t lw_smem(int dk, int H, int W) {
    return NST * (size_t)lw_layout_of<LC>(dk, W).stage + lw_layout_of<LC>(dk, W).keys +
           sizeof(float) * ((size_t)16 * LC + window_wp(W) + (size_t)H * (W + 1) + dk) +
           sizeof(int) * window_wp(W);
}

template <int LC, int NST>
__global__ void __launch_bounds__(LNT, 1)
    lw_stream_kernel(int B, int H, int dk, int dv, const bf16 *q, const bf16 *k, const bf16 *v,
                     const float *gamma, float scale, float *S, bf16 *kw, bf16 *vw,
                     const int *mw, int W, int phase, float *o) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    constexpr int LRG = LNT / (LC / 4);
    const lw_layout L = lw_layout_of<LC>(dk, W);
    const int WP = window_wp(W);
    /* the (b, h)'s keys, kept from the stage that started it for the other units' folds */
    bf16 *kp = reinterpret_cast<bf16 *>(smem_raw + NST * L.stage);
    float *red = reinterpret_cast<float *>(smem_raw + NST * L.stage + L.keys); /* [16 warps][LC] */
    float *coef = red + 16 * LC, *gpow = coef + WP;                  /* gpow [H][W + 1] */
    int *slot = reinterpret_cast<int *>(gpow + H * (W + 1));         /* window token -> slot */
    const int tid = threadIdx.x, c4 = tid % (LC / 4), rg = tid / (LC / 4), lane = tid & 31;
    const int warp = tid >> 5, ncb = (dv + LC - 1) / LC, slots = W + 1, k8 = dk / 8;
    const int U = B * H * ncb, per = (U + gridDim.x - 1) / gridDim.x;
    const int u0 = blockIdx.x * per, u1 = u0 + per < U ? u0 + per : U;
    pdl_trigger();
    for (int e = tid; e < H * slots; e += LNT) {
        const int hh = e / slots, j = e - hh * slots;
        double p = 1.0;
        for (int i = 0; i < j; i++) p *= (double)gamma[hh];
        gpow[e] = (float)p;
    }
    pdl_wait();
    /* unit u: (bh, cb) = (u / ncb, u % ncb); it starts its (b, h) when cb == 0 or u == u0 */
    auto issue = [&](int st, int u) {
        if (u < u1) {
            const int cb = u % ncb, bh = u / ncb, b = bh / H, h = bh - b * H, c0 = cb * LC;
            const bool first = cb == 0 || u == u0;
            const uint32_t base = smem_u32(smem_raw + (size_t)st * L.stage);
            const int ns = dk * (LC / 4), nv = slots * (LC / 8), nvc = LC / 8;
            const int total = ns + nv + nvc + (first ? slots * k8 + 2 * k8 : 0);
            for (int e = tid; e < total; e += LNT) {
                const void *src;
                uint32_t dst;
                int ok = 16;
                if (e < ns) {
                    const int i = e / (LC / 4), c = (e % (LC / 4)) * 4;
                    ok = c0 + c < dv ? 16 : 0;
                    src = S + ((size_t)bh * dk + i) * dv + (ok ? c0 + c : 0);
                    dst = base + 4 * (i * LC + c);
                } else if (e < ns + nv) {
                    const int f = e - ns, sl = f / (LC / 8), c = (f % (LC / 8)) * 8;
                    ok = c0 + c < dv ? 16 : 0;
                    src = vw + (((size_t)b * slots + sl) * H + h) * dv + (ok ? c0 + c : 0);
                    dst = base + L.s + 2 * (sl * LC + c);
                } else if (e < ns + nv + nvc) {
                    const int c = (e - ns - nv) * 8;
                    ok = c0 + c < dv ? 16 : 0;
                    src = v + (size_t)bh * dv + (ok ? c0 + c : 0);
                    dst = base + L.s + L.vals + 2 * c;
                } else {
                    const int f = e - ns - nv - nvc, kb = L.s + L.vals + L.vc;
                    if (f < slots * k8) {
                        const int sl = f / k8, i = (f - sl * k8) * 8;
                        src = kw + (((size_t)b * slots + sl) * H + h) * dk + i;
                        dst = base + kb + 2 * (sl * dk + i);
                    } else if (f < slots * k8 + k8) {
                        const int i = (f - slots * k8) * 8;
                        src = q + (size_t)bh * dk + i, dst = base + kb + L.keys + 2 * i;
                    } else {
                        const int i = (f - slots * k8 - k8) * 8;
                        src = k + (size_t)bh * dk + i, dst = base + kb + L.keys + L.q + 2 * i;
                    }
                }
                cp_async16(dst, src, ok);
            }
        }
        cp_async_commit(); /* empty groups too: the wait below counts them */
    };
#pragma unroll
    for (int i = 0; i < NST; i++) issue(i, u0 + i);
    /* q of the current (b, h), widened, from the stage that started it: kept for the rows */
    float *qf = reinterpret_cast<float *>(slot + WP); /* [dk] */
    for (int u = u0; u < u1; u++) {
        const int st = (u - u0) % NST;
        const int cb = u % ncb, bh = u / ncb, b = bh / H, h = bh - b * H;
        const bool first = cb == 0 || u == u0;
        const int m = __ldg(mw + b), wl = retention_window_len(m, phase, W);
        const bool fold = m > 0 && (m + phase) % W == 0;
        const int j0 = fold ? wl : 0;
        const float *gp = gpow + h * slots;
        asm volatile("cp.async.wait_group %0;\n" ::"n"(NST - 1) : "memory");
        __syncthreads();
        const unsigned char *sb = smem_raw + (size_t)st * L.stage;
        const float *Ss = reinterpret_cast<const float *>(sb);
        const bf16 *vs = reinterpret_cast<const bf16 *>(sb + L.s);
        const bf16 *vc = reinterpret_cast<const bf16 *>(sb + L.s + L.vals);
        const bf16 *ks = reinterpret_cast<const bf16 *>(sb + L.s + L.vals + L.vc);
        const bf16 *qs = ks + (W + 1) * dk, *kc = qs + dk;
        if (tid <= W) slot[tid] = tid < wl ? (m - wl + tid) % slots : -1; /* wl: this token */
        if (first) { /* the (b, h)'s scores, q widened, and k into its ring slot */
            for (int i = tid; i < dk; i += LNT) qf[i] = __bfloat162float(qs[i]);
            for (int e = tid; e < (W + 1) * k8; e += LNT)
                reinterpret_cast<uint4 *>(kp)[e] = reinterpret_cast<const uint4 *>(ks)[e];
            const int64_t cur = (int64_t)b * slots + m % slots;
            for (int e = tid; e < k8; e += LNT)
                reinterpret_cast<uint4 *>(kw + (cur * H + h) * dk)[e] = reinterpret_cast<const uint4 *>(kc)[e];
            for (int j = j0 + warp; j <= wl; j += LNT / 32) {
                const bf16 *kj = j < wl ? ks + ((m - wl + j) % slots) * dk : kc;
                float d = 0.0f;
                for (int i = lane; i < dk; i += 32)
                    d = fmaf(__bfloat162float(qs[i]), __bfloat162float(kj[i]), d);
#pragma unroll
                for (int off = 16; off; off >>= 1) d += __shfl_xor_sync(0xffffffffu, d, off);
                if (lane == 0) coef[j] = gp[wl - j] * d;
            }
        }
        __syncthreads(); /* slot, qf, coef */
        const int col = cb * LC + c4 * 4;
        float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
        if (col < dv) {
            float *Sg = S + ((size_t)bh * dk) * dv + col;
            const float g = gp[wl];
            for (int i = rg; i < dk; i += LRG) {
                float4 sv = *reinterpret_cast<const float4 *>(Ss + i * LC + c4 * 4);
                if (fold) { /* S = gamma^wl S + sum_j gamma^(wl-1-j) k_j^T v_j */
                    sv.x *= g, sv.y *= g, sv.z *= g, sv.w *= g;
                    for (int j = 0; j < wl; j++) {
                        const int sl = slot[j];
                        const float kk = gp[wl - 1 - j] * __bfloat162float(kp[sl * dk + i]);
                        const bf16 *vj = vs + sl * LC + c4 * 4;
                        const float2 v01 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(vj));
                        const float2 v23 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(vj + 2));
                        sv.x = fmaf(kk, v01.x, sv.x), sv.y = fmaf(kk, v01.y, sv.y);
                        sv.z = fmaf(kk, v23.x, sv.z), sv.w = fmaf(kk, v23.y, sv.w);
                    }
                    *reinterpret_cast<float4 *>(Sg + (int64_t)i * dv) = sv;
                }
                const float qq = qf[i];
                acc.x += qq * sv.x, acc.y += qq * sv.y, acc.z += qq * sv.z, acc.w += qq * sv.w;
            }
        }
        /* a warp's row groups first (lanes l, l ^ LC / 4, ...: the same columns) */
#pragma unroll
        for (int off = LC / 4; off < 32; off <<= 1) {
            acc.x += __shfl_xor_sync(0xffffffffu, acc.x, off), acc.y += __shfl_xor_sync(0xffffffffu, acc.y, off);
            acc.z += __shfl_xor_sync(0xffffffffu, acc.z, off), acc.w += __shfl_xor_sync(0xffffffffu, acc.w, off);
        }
        if (lane < LC / 4) *reinterpret_cast<float4 *>(red + warp * LC + c4 * 4) = acc;
        if (tid < LC / 8 && cb * LC + 8 * tid < dv) /* this token's value columns into its slot */
            reinterpret_cast<uint4 *>(vw + (((int64_t)b * slots + m % slots) * H + h) * dv + cb * LC)[tid] =
                reinterpret_cast<const uint4 *>(vc)[tid];
        __syncthreads();
        if (tid < LC) {
            const int c = cb * LC + tid;
            if (c < dv) {
                float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
#pragma unroll
                for (int w = 0; w < 16; w += 4)
                    s0 += red[w * LC + tid], s1 += red[(w + 1) * LC + tid],
                    s2 += red[(w + 2) * LC + tid], s3 += red[(w + 3) * LC + tid];
                float sum = ((s0 + s1) + (s2 + s3)) * gp[wl + 1 - j0];
                for (int j = j0; j <= wl; j++) {
                    const float vv = __bfloat162float(j < wl ? vs[slot[j] * LC + tid] : vc[tid]);
                    sum = fmaf(coef[j], vv, sum);
                }
                o[(size_t)bh * dv + c] = sum * scale;
            }
        }
        __syncthreads(); /* the stage, red, slot, coef (the next unit of this (b, h) keeps coef) */
        issue(st, u + NST);
    }
    asm volatile("cp.async.wait_group 0;\n" ::: "memory");
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

int main(void) {
    const int H = 8, dk = 256, dv = 512, W = 16;
    int sms = 0;
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    typedef void (*lw_fn)(int, int, int, int, const bf16 *, const bf16 *, const bf16 *, const float *,
                          float, float *, bf16 *, bf16 *, const int *, int, int, float *);
    struct { const char *name; lw_fn k; size_t smem; int lc; } sv[] = {
        {"streamed (lab) 64 cols, 2 stages", lw_stream_kernel<64, 2>, lw_smem<64, 2>(dk, H, W), 64},
        {"streamed (lab) 32 cols, 3 stages", lw_stream_kernel<32, 3>, lw_smem<32, 3>(dk, H, W), 32},
        {"streamed (lab) 32 cols, 4 stages", lw_stream_kernel<32, 4>, lw_smem<32, 4>(dk, H, W), 32},
    };
    const int nsv = sizeof sv / sizeof sv[0];
    for (int i = 0; i < nsv; i++)
        CK(cudaFuncSetAttribute(sv[i].k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sv[i].smem));
    auto blk = step_window_kernel<64, 32, false, 8>;
    const size_t bsm = window_smem(dk, W, 64, 32);
    printf("window lab: H %d dk %d dv %d W %d, %d SMs; the streamed kernels' shared memory:", H, dk,
           dv, W, sms);
    for (int i = 0; i < nsv; i++) printf(" %zu KB", sv[i].smem >> 10);
    printf("\n");
    printf("| B | step | kernel | us | state GB/s (read, + written if it folds) | check |\n|---|---|---|---|---|---|\n");
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
            float *h = (float *)malloc(ns * 4);
            srand(1);
            for (size_t i = 0; i < ns; i++) h[i] = (float)rand() / RAND_MAX * 2 - 1;
            CK(cudaMemcpy(S0, h, ns * 4, cudaMemcpyHostToDevice));
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
            free(h), free(hb);
        }
        float *oref = (float *)malloc(nvv * 4), *ogot = (float *)malloc(nvv * 4);
        float *Sref = (float *)malloc(ns * 4), *Sgot = (float *)malloc(ns * 4);
        bf16 *wref = (bf16 *)malloc(nvw * 2), *wgot = (bf16 *)malloc(nvw * 2);
        cudaEvent_t e0, e1;
        cudaEventCreate(&e0), cudaEventCreate(&e1);
        /* the state read alone */
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
            printf("| %d | - | plain read of the state | %.1f | %.0f | - |\n", B, us, ns * 4 / (us * 1e-6) * 1e-9);
        }
        /* m per sequence: every sequence mid-window (no fold at phase 0, W 16: m = 21, window
         * 5) or every sequence folding (m = 32: window 16, folded) */
        for (int mode = 0; mode < 2; mode++) {
            const int mv = mode ? 32 : 21;
            int *hm = (int *)malloc(B * 4);
            for (int b = 0; b < B; b++) hm[b] = mv;
            CK(cudaMemcpy(m, hm, B * 4, cudaMemcpyHostToDevice));
            free(hm);
            for (int ki = 0; ki <= nsv; ki++) {
                CK(cudaMemcpy(S, S0, ns * 4, cudaMemcpyDeviceToDevice));
                CK(cudaMemcpy(kw, kw0, nkw * 2, cudaMemcpyDeviceToDevice));
                CK(cudaMemcpy(vw, vw0, nvw * 2, cudaMemcpyDeviceToDevice));
                auto launch = [&]() {
                    if (ki == 0) {
                        dim3 grid(dv / 64, H, B);
                        blk<<<grid, 512, bsm>>>(H, dk, dv, q, k, v, gamma, 0.0625f, S, kw, vw, m, W, 0, o, 1);
                    } else {
                        const int units = B * H * (dv / sv[ki - 1].lc);
                        sv[ki - 1].k<<<units < sms ? units : sms, LNT, sv[ki - 1].smem>>>(
                            B, H, dk, dv, q, k, v, gamma, 0.0625f, S, kw, vw, m, W, 0, o);
                    }
                };
                if (ki == 0) CK(cudaFuncSetAttribute(blk, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bsm));
                launch();
                CK(cudaGetLastError());
                CK(cudaDeviceSynchronize());
                CK(cudaMemcpy(ki ? ogot : oref, o, nvv * 4, cudaMemcpyDeviceToHost));
                CK(cudaMemcpy(ki ? Sgot : Sref, S, ns * 4, cudaMemcpyDeviceToHost));
                CK(cudaMemcpy(ki ? wgot : wref, vw, nvw * 2, cudaMemcpyDeviceToHost));
                char chk[96] = "reference";
                if (ki) {
                    double mo = 0, eo = 0, ms_ = 0, es = 0;
                    for (size_t i = 0; i < nvv; i++) mo = fmax(mo, fabs(oref[i])), eo = fmax(eo, fabs(oref[i] - ogot[i]));
                    for (size_t i = 0; i < ns; i++) ms_ = fmax(ms_, fabs(Sref[i])), es = fmax(es, fabs(Sref[i] - Sgot[i]));
                    const bool ring = !memcmp(wref, wgot, nvw * 2);
                    const bool ok = eo <= 1e-5 * mo && es <= 1e-6 * ms_ && ring;
                    snprintf(chk, sizeof chk, "o %.1e, S %.1e, ring %s%s", eo / mo, es / ms_,
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
                printf("| %d | %s | %s | %.1f | %.0f | %s |\n", B, mode ? "folds" : "reads only",
                       ki ? sv[ki - 1].name : "step_window_kernel", us, bytes / (us * 1e-6) * 1e-9, chk);
            }
        }
        cudaFree(S), cudaFree(S0), cudaFree(o), cudaFree(gamma), cudaFree(sink), cudaFree(m);
        cudaFree(q), cudaFree(k), cudaFree(v), cudaFree(kw), cudaFree(vw), cudaFree(kw0), cudaFree(vw0);
        free(oref), free(ogot), free(Sref), free(Sgot), free(wref), free(wgot);
    }
    return 0;
}
