/*
 * gemm_lab.cu (lab): the decoding step's products at 17-64 rows of x (B = 17-64) as a
 * multistage GEMM of our own, against cuBLASLt as src/cuda/matmul.cu asks it, on the 1.3B
 * layer's four products. next153-155 lost with x in shared memory but the weights loaded into
 * registers a round at a time (~1.25 TB/s); here both operands come through a ring of STAGES
 * cp.async stages (16-byte copies that hold no registers), A (weights) and B (x) fragments by
 * ldmatrix from XOR-swizzled tiles, mma.sync m16n8k16. Block tile: 128 weight rows x 64 rows
 * of x x 64 of K; 8 warps as 4 x 2, each 32 x 32. The grid splits K into S slices so that the
 * small products fill the GPU; each slice's fp32 partial sums go to (S, M, N) and a second
 * kernel adds them in order (timed apart and together). Every launch reads its own copy of the
 * weights (a ring of copies past the L2's size), as a decoding step does.
 *
 *   nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o gemm_lab gemm_lab.cu -lcublasLt
 *   ./gemm_lab [M]      (default 64)
 */
#include "lt_common.cuh"

#include <cooperative_groups.h>

#include <cuda_bf16.h>
#include <math.h>
#include <stdint.h>
#include <vector>

#define BM 128
#define BN 64
#define BK 64
#define STAGES 4
#define THREADS 256
#define SMAX 16

__device__ __forceinline__ uint32_t su32(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}
__device__ __forceinline__ void cpa16(uint32_t dst, const void *src, int bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void ldsm4(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
__device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* a tile row of BK bf16 is 8 chunks of 16 bytes; chunk c of row r lies at c ^ (r & 7), so
 * that ldmatrix's 8 rows of one chunk column fall on 8 different bank groups */
__device__ __forceinline__ int swz(int r, int c) { return r * 8 + (c ^ (r & 7)); }

/* part (S, M, N) fp32 (or y (M, N) when S = 1) = x (M, K) @ w (N, K)^T over slice blockIdx.y.
 * TM weight rows a block (128 or 64), ST stages; the 8 warps as TM / 32 along the weight rows
 * by the rest along x's 64 rows. y: where not NULL (S > 1), the slices meet in the kernel:
 * each block, once its tile's S partials are written (a count a tile, cnt[2 tile]; every block
 * of the grid resident: one wave), sums a run of its tile's rows in slice order into y; the
 * last to leave (cnt[2 tile + 1]) sets both counts back to 0 for the next launch. CL: the
 * slices are a cluster instead (below). */
template <bool CL, int TM = BM, int ST = STAGES>
__global__ void __launch_bounds__(THREADS, 2)
gemm_kernel(const __nv_bfloat16 *x, const __nv_bfloat16 *w, float *part, int M, int N, int K,
            int ksteps, float *y, unsigned *cnt) {
    constexpr int WMW = TM / 32, WNW = 8 / WMW, XW = BN / WNW, NI = XW / 8, NJ = NI / 2;
    static_assert(WMW * WNW == 8 && NJ >= 1, "8 warps of 32 weight rows by >= 16 rows of x");
    extern __shared__ uint4 sm[];
    uint4 *As = sm, *Bs = sm + ST * TM * 8;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
    const int wm = warp % WMW, wn = warp / WMW;
    const int n0 = blockIdx.x * TM, s = blockIdx.y;
    const int kt0 = s * ksteps, kt1 = min(kt0 + ksteps, K / BK), nk = kt1 - kt0;
    /* stage loads: A TM rows x 8 chunks (TM / 32 a thread), B 64 rows x 8 chunks (2 a thread) */
    auto load = [&](int kt, int st) {
        const int k0 = kt * BK;
#pragma unroll
        for (int i = 0; i < TM * 8 / THREADS; i++) {
            const int e = tid + i * THREADS, r = e >> 3, c = e & 7;
            const int n = n0 + r;
            cpa16(su32(As + st * TM * 8 + swz(r, c)), w + (size_t)(n < N ? n : 0) * K + k0 + c * 8,
                  n < N ? 16 : 0);
        }
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const int e = tid + i * THREADS, r = e >> 3, c = e & 7;
            cpa16(su32(Bs + st * BN * 8 + swz(r, c)), x + (size_t)(r < M ? r : 0) * K + k0 + c * 8,
                  r < M ? 16 : 0);
        }
    };
    float acc[2][NI][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < NI; j++) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.0f;
#pragma unroll
    for (int st = 0; st < ST - 1; st++) {
        if (st < nk) load(kt0 + st, st);
        asm volatile("cp.async.commit_group;\n" ::: "memory");
    }
    for (int i = 0; i < nk; i++) {
        asm volatile("cp.async.wait_group %0;\n" ::"n"(ST - 2) : "memory");
        __syncthreads(); /* stage i landed for all; stage i - 1 read by all */
        if (i + ST - 1 < nk) load(kt0 + i + ST - 1, (i + ST - 1) % ST);
        asm volatile("cp.async.commit_group;\n" ::: "memory");
        const uint4 *A = As + (i % ST) * TM * 8, *B = Bs + (i % ST) * BN * 8;
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) {
            uint32_t a[2][4], b[NJ][4];
#pragma unroll
            for (int mi = 0; mi < 2; mi++) {
                /* matrices: rows 0-7 / 8-15 of k 0-7, then of k 8-15 */
                const int r = wm * 32 + mi * 16 + (lane & 15), c = kk * 2 + (lane >> 4);
                ldsm4(a[mi], su32(A + swz(r, c)));
            }
#pragma unroll
            for (int nj = 0; nj < NJ; nj++) {
                /* matrices: x rows 0-7 k 0-7, rows 0-7 k 8-15, rows 8-15 k 0-7, rows 8-15 k 8-15 */
                const int j = lane >> 3;
                const int r = wn * XW + nj * 16 + (j >> 1) * 8 + (lane & 7), c = kk * 2 + (j & 1);
                ldsm4(b[nj], su32(B + swz(r, c)));
            }
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
#pragma unroll
                for (int ni = 0; ni < NI; ni++)
                    mma(acc[mi][ni], a[mi], b[ni >> 1][(ni & 1) * 2], b[ni >> 1][(ni & 1) * 2 + 1]);
        }
    }
    /* acc[mi][ni]: weight rows n0 + wm 32 + mi 16 + g (+ 8), x rows wn XW + ni 8 + 2t (+ 1) */
    if (CL) {
        /* the tile's S slices are one cluster (1, S, 1): each block's accumulators into its
         * shared memory (the ring's room: 128 x 64 floats), a cluster barrier, then block s
         * sums rows s, s + S, ... of the tile from every block's copy in slice order (the
         * distributed shared memory: no partials in global memory), a barrier before leaving.
         * Rows in runs, not strided: next159 had consecutive threads on consecutive m, y's
         * writes N floats apart */
        namespace cg = cooperative_groups;
        cg::cluster_group cl = cg::this_cluster();
        const int S = (int)cl.num_blocks(), rank = (int)cl.block_rank();
        asm volatile("cp.async.wait_group 0;\n" ::: "memory");
        __syncthreads();
        float *ct = (float *)sm; /* [BN rows of x][TM weight rows] */
#pragma unroll
        for (int mi = 0; mi < 2; mi++)
#pragma unroll
            for (int ni = 0; ni < NI; ni++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                    ct[(wn * XW + ni * 8 + 2 * t + (e & 1)) * TM + wm * 32 + mi * 16 + g + (e >> 1) * 8] =
                        acc[mi][ni][e];
        cl.sync();
        const float *src[8];
#pragma unroll
        for (int k = 0; k < 8; k++) src[k] = k < S ? cl.map_shared_rank(ct, k) : ct;
        /* block `rank` takes a run of the tile's rows: consecutive threads, consecutive
         * outputs (y's writes coalesced, ct's reads on distinct banks) */
        const int rpb = (TM + S - 1) / S, rb = rank * rpb, rows = min(rpb, TM - rb);
        for (int e = tid; e < rows * M; e += THREADS) {
            const int m = e / rows, r = rb + (e - m * rows), n = n0 + r;
            float v[8];
#pragma unroll
            for (int k = 0; k < 8; k++) v[k] = k < S ? src[k][m * TM + r] : 0.0f;
            float a = 0.0f;
#pragma unroll
            for (int k = 0; k < 8; k++)
                if (k < S) a += v[k];
            if (n < N) y[(size_t)m * N + n] = a;
        }
        cl.sync();
        return;
    }
    float *p = part + (size_t)s * M * N;
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < NI; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int n = n0 + wm * 32 + mi * 16 + g + (e >> 1) * 8;
                const int m = wn * XW + ni * 8 + 2 * t + (e & 1);
                if (n < N && m < M) p[(size_t)m * N + n] = acc[mi][ni][e];
            }
    if (!y) return;
    const int S = gridDim.y;
    unsigned *arrive = cnt + 2 * blockIdx.x, *leave = arrive + 1;
    __threadfence();
    __syncthreads();
    if (tid == 0) {
        atomicAdd(arrive, 1u);
        while (atomicAdd(arrive, 0u) < (unsigned)S) __nanosleep(64);
        __threadfence();
    }
    __syncthreads();
    /* a run of the tile's rows a block (consecutive threads, consecutive outputs), each
     * summed in slice order; every slice's load in flight before the sums */
    const int rpb = (TM + S - 1) / S, rb = s * rpb, rows = max(0, min(rpb, TM - rb));
    for (int e = tid; e < rows * M; e += THREADS) {
        const int m = e / rows, r = rb + (e - m * rows), n = n0 + r;
        if (n >= N) continue;
        float v[SMAX];
#pragma unroll
        for (int k = 0; k < SMAX; k++) v[k] = k < S ? __ldcg(part + ((size_t)k * M + m) * N + n) : 0.0f;
        float a = 0.0f;
#pragma unroll
        for (int k = 0; k < SMAX; k++)
            if (k < S) a += v[k];
        y[(size_t)m * N + n] = a;
    }
    __syncthreads();
    if (tid == 0 && atomicAdd(leave, 1u) == (unsigned)S - 1) *arrive = 0, *leave = 0;
}


/* Other tiles and depths (main kernel alone, and with the sum kernel), on the same inputs:
 * the blocks an SM from the occupancy API, the slices for one wave; checked against
 * cuBLASLt's y (ylt, from the same copy of the weights) */
template <int TM, int ST>
static void sweep(const char *name, int M, int N, int K, int sms, std::vector<__nv_bfloat16 *> &W,
                  int copies, const __nv_bfloat16 *X, float *Y, float *P, const float *ylt,
                  double mb) {
    const size_t smem = (size_t)ST * (TM + BN) * BK * 2;
    CK(cudaFuncSetAttribute(gemm_kernel<false, TM, ST>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                            (int)smem));
    int bps = 0;
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&bps, gemm_kernel<false, TM, ST>, THREADS, smem));
    const int tiles = (N + TM - 1) / TM, kt = K / BK;
    int S = bps * sms / tiles;
    if (S > kt / 2) S = kt / 2;
    if (S > SMAX) S = SMAX;
    if (S < 1) S = 1;
    const int ksteps = (kt + S - 1) / S, MN = M * N;
    const dim3 grid(tiles, S);
    int ci = 0;
    auto main_ = [&](cudaStream_t s) {
        gemm_kernel<false, TM, ST><<<grid, THREADS, smem, s>>>(X, W[ci++ % copies], S > 1 ? P : Y, M,
                                                               N, K, ksteps, nullptr, nullptr);
    };
    auto all_ = [&](cudaStream_t s) {
        main_(s);
        if (S > 1) slices_sum_kernel<SMAX><<<(MN + 255) / 256, 256, 0, s>>>(P, Y, MN, S);
    };
    const float tm = graph_us(main_), ta = graph_us(all_);
    ci = 0;
    all_(0);
    CK(cudaDeviceSynchronize());
    std::vector<float> a((size_t)MN);
    CK(cudaMemcpy(a.data(), Y, (size_t)MN * 4, cudaMemcpyDeviceToHost));
    double md = 0;
    for (int i = 0; i < MN; i++) md = fmax(md, fabs((double)a[i] - ylt[i]));
    printf("  %-11s tile %3d, %d stages (%3zu KB): %d blocks an SM, S %2d: %7.2f us alone, %7.2f with "
           "the sum  %.2e%s\n", name, TM, ST, smem / 1024, bps, S, tm, ta, md / mb,
           md / mb < 1e-4 ? "" : "  MISMATCH");
}

static int slices(int N, int K, int sms) {
    const int tiles = (N + BM - 1) / BM, kt = K / BK;
    const char *e = getenv("LAB_BLOCKS_PER_SM"); /* the grid's blocks an SM (default 2) */
    int S = (e ? atoi(e) : 2) * sms / tiles;
    if (S > kt / 2) S = kt / 2;
    if (S > SMAX) S = SMAX;
    return S < 1 ? 1 : S;
}

int main(int argc, char **argv) {
    const int M = argc > 1 ? atoi(argv[1]) : 64;
    if (M < 1 || M > BN) {
        printf("M must be 1..%d\n", BN);
        return 1;
    }
    int sms = 0;
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    const size_t smem = (size_t)STAGES * (BM + BN) * BK * 2;
    CK(cudaFuncSetAttribute(gemm_kernel<false>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    CK(cudaFuncSetAttribute(gemm_kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    cublasLtHandle_t lt;
    LK(cublasLtCreate(&lt));
    void *ws;
    const size_t wsb = 32u << 20;
    CK(cudaMalloc(&ws, wsb));
    struct Shape { const char *name; int N, K; } shapes[] = {
        {"q k v g", 12288, 2048}, {"fc1 | gate", 5632, 2048}, {"wo", 2048, 4096}, {"fc2", 2048, 2816}};
    printf("M = %d, %d SMs, %zu KB of shared memory a block; us a launch (50 in a CUDA graph, each "
           "on its own copy of the weights)\n", M, sms, smem / 1024);
    printf("%-11s %6s %5s %3s %9s %9s %9s %9s %9s %9s  %s\n", "product", "N", "K", "S", "cublasLt",
           "ours", "+reduce", "met", "cluster", "TB/s", "max |ours - lt| / max |lt| (+reduce, cluster)");
    double lt_sum = 0, our_sum = 0, meet_sum = 0, cl_sum = 0;
    for (const Shape &sh : shapes) {
        const int N = sh.N, K = sh.K;
        const size_t wbytes = (size_t)N * K * 2;
        const int copies = (int)((600u << 20) / wbytes) + 1;
        std::vector<__nv_bfloat16 *> W(copies);
        std::vector<__nv_bfloat16> h((size_t)N * K), hx((size_t)M * K);
        uint64_t st = 12345;
        auto rnd = [&]() {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            return (float)((st >> 40) * (1.0 / (1ull << 24)) - 0.5);
        };
        for (auto &v : h) v = __float2bfloat16(rnd());
        for (auto &v : hx) v = __float2bfloat16(rnd());
        for (int c = 0; c < copies; c++) {
            CK(cudaMalloc(&W[c], wbytes));
            CK(cudaMemcpy(W[c], h.data(), wbytes, cudaMemcpyHostToDevice));
        }
        __nv_bfloat16 *X;
        float *Y, *Yl, *P;
        const int S = slices(N, K, sms), ksteps = (K / BK + S - 1) / S;
        CK(cudaMalloc(&X, (size_t)M * K * 2));
        CK(cudaMemcpy(X, hx.data(), (size_t)M * K * 2, cudaMemcpyHostToDevice));
        CK(cudaMalloc(&Y, (size_t)M * N * 4));
        CK(cudaMalloc(&Yl, (size_t)M * N * 4));
        CK(cudaMalloc(&P, (size_t)SMAX * M * N * 4)); /* room for the sweep's slices too */
        unsigned *CNT;
        CK(cudaMalloc(&CNT, 2 * 4 * (size_t)((N + BM - 1) / BM)));
        CK(cudaMemset(CNT, 0, 2 * 4 * (size_t)((N + BM - 1) / BM)));
        LtProduct prod(M, N, K, K, CUDA_R_32F);
        cublasLtMatmulHeuristicResult_t res[1];
        if (prod.heuristics(lt, wsb, 0xffffffffu, res, 1) < 1) {
            printf("%s: no cuBLASLt algorithm\n", sh.name);
            continue;
        }
        const float one = 1.0f, zero = 0.0f;
        int ci = 0;
        auto lt_call = [&](cudaStream_t s) {
            LK(cublasLtMatmul(lt, prod.op, &one, W[ci++ % copies], prod.la, X, prod.lb, &zero, Yl,
                              prod.lc, Yl, prod.lc, &res[0].algo, ws, wsb, s));
        };
        const dim3 grid((N + BM - 1) / BM, S);
        const int MN = M * N;
        auto our_main = [&](cudaStream_t s) {
            gemm_kernel<false><<<grid, THREADS, smem, s>>>(X, W[ci++ % copies], S > 1 ? P : Y, M,
                                                           N, K, ksteps, nullptr, nullptr);
        };
        auto our_meet = [&](cudaStream_t s) {
            gemm_kernel<false><<<grid, THREADS, smem, s>>>(X, W[ci++ % copies], S > 1 ? P : Y, M,
                                                           N, K, ksteps, S > 1 ? Y : nullptr, CNT);
        };
        /* the slices as a cluster (S <= 8: its own grid) */
        const int Sc = S < 8 ? S : 8, kc = (K / BK + Sc - 1) / Sc;
        const dim3 gridc((N + BM - 1) / BM, Sc);
        auto our_cl = [&](cudaStream_t s) {
            cudaLaunchAttribute at[1];
            at[0].id = cudaLaunchAttributeClusterDimension;
            at[0].val.clusterDim.x = 1, at[0].val.clusterDim.y = Sc, at[0].val.clusterDim.z = 1;
            cudaLaunchConfig_t cfg = {};
            cfg.gridDim = gridc, cfg.blockDim = dim3(THREADS), cfg.dynamicSmemBytes = smem;
            cfg.stream = s, cfg.attrs = at, cfg.numAttrs = 1;
            CK(cudaLaunchKernelEx(&cfg, gemm_kernel<true>, (const __nv_bfloat16 *)X,
                                  (const __nv_bfloat16 *)W[ci++ % copies], (float *)nullptr, M, N,
                                  K, kc, Y, (unsigned *)nullptr));
        };
        auto our_all = [&](cudaStream_t s) {
            our_main(s);
            if (S > 1) slices_sum_kernel<SMAX><<<(MN + 255) / 256, 256, 0, s>>>(P, Y, MN, S);
        };
        const float tl = graph_us(lt_call), tm = graph_us(our_main), ta = graph_us(our_all);
        /* the meeting needs every block resident (2 an SM): else it would wait forever */
        const bool meet_ok = S > 1 && (long)grid.x * grid.y <= 2L * sms;
        const float tq = meet_ok ? graph_us(our_meet) : ta;
        const float tc = graph_us(our_cl);
        {   /* how many such clusters the GPU places at once, against the grid's */
            cudaLaunchAttribute at[1];
            at[0].id = cudaLaunchAttributeClusterDimension;
            at[0].val.clusterDim.x = 1, at[0].val.clusterDim.y = Sc, at[0].val.clusterDim.z = 1;
            cudaLaunchConfig_t cfg = {};
            cfg.gridDim = gridc, cfg.blockDim = dim3(THREADS), cfg.dynamicSmemBytes = smem;
            cfg.attrs = at, cfg.numAttrs = 1;
            int nc = 0;
            CK(cudaOccupancyMaxActiveClusters(&nc, gemm_kernel<true>, &cfg));
            printf("  %s: clusters of %d: %d resident at once, the grid has %u\n", sh.name, Sc, nc,
                   gridc.x);
        }
        CK(cudaGetLastError());
        /* check: ours against cuBLASLt on the same copy */
        ci = 0;
        lt_call(0);
        ci = 0;
        our_all(0);
        CK(cudaDeviceSynchronize());
        std::vector<float> a((size_t)MN), b((size_t)MN), q((size_t)MN);
        CK(cudaMemcpy(a.data(), Y, (size_t)MN * 4, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(b.data(), Yl, (size_t)MN * 4, cudaMemcpyDeviceToHost));
        CK(cudaMemset(Y, 0, (size_t)MN * 4));
        ci = 0;
        if (meet_ok) our_meet(0);
        else our_all(0);
        CK(cudaDeviceSynchronize());
        CK(cudaMemcpy(q.data(), Y, (size_t)MN * 4, cudaMemcpyDeviceToHost));
        CK(cudaMemset(Y, 0, (size_t)MN * 4));
        ci = 0;
        our_cl(0);
        CK(cudaDeviceSynchronize());
        std::vector<float> cv((size_t)MN);
        CK(cudaMemcpy(cv.data(), Y, (size_t)MN * 4, cudaMemcpyDeviceToHost));
        double md = 0, mb = 0, mc = 0;
        int same = 1;
        for (int i = 0; i < MN; i++) {
            md = fmax(md, fabs((double)a[i] - b[i])), mb = fmax(mb, fabs((double)b[i]));
            mc = fmax(mc, fabs((double)cv[i] - b[i]));
            same &= a[i] == q[i];
        }
        printf("%-11s %6d %5d %3d %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f  %.2e %.2e%s%s\n", sh.name, N,
               K, S, tl, tm, ta, tq, tc, wbytes / (tc * 1e-6) / 1e12, md / mb, mc / mb,
               md / mb < 1e-4 && mc / mb < 1e-4 ? "" : "  MISMATCH", same ? "" : "  MEET DIFFERS");
        lt_sum += tl, our_sum += ta, meet_sum += tq, cl_sum += tc;
        sweep<128, 6>(sh.name, M, N, K, sms, W, copies, X, Y, P, b.data(), mb);
        sweep<64, 4>(sh.name, M, N, K, sms, W, copies, X, Y, P, b.data(), mb);
        sweep<64, 6>(sh.name, M, N, K, sms, W, copies, X, Y, P, b.data(), mb);
        sweep<64, 8>(sh.name, M, N, K, sms, W, copies, X, Y, P, b.data(), mb);
        for (int c = 0; c < copies; c++) cudaFree(W[c]);
        cudaFree(X), cudaFree(Y), cudaFree(Yl), cudaFree(P), cudaFree(CNT);
    }
    printf("a layer's four: cublasLt %.1f us, ours %.1f us (a reduction kernel), %.1f us (met in "
           "the kernel), %.1f us (a cluster's slices, S <= 8)\n", lt_sum, our_sum, meet_sum, cl_sum);
    return 0;
}
