/*
 * gemv_lab.cu (lab): the decoding products at M = 8 rows of x (the batch-8 step), the mma
 * gemv's way against a multistage one. gemv.cu's gemv_mma_kernel holds its weights in flight
 * in registers (16 loads a lane: 64 of its 120 registers), which caps it at 2 blocks an SM; at
 * M = 8 it reads q k v g's 50 MB in 25.5 us cold where a plain read with its grid takes 14.1
 * (dev/cuda/runs/next138.sh, next139.sh). Here:
 *   v0<W, U>: that kernel's scheme, reduced to one plain product (16 weight rows a block, W
 *       warps splitting K, U loads a lane and row in flight, the warps' tiles added in shared
 *       memory); W 8 U 8 is gemv.cu's before the twenty-sixth session, which then took 16 x 4
 *       for K <= 2048 and 16 x 8 past it (next178.sh, next179.sh);
 *   v1: copies that hold no registers: 4 warps, 16 weight rows a block, the rows streamed
 *       through S stages of 256 columns in shared memory by cp.async (16 rows x 512 bytes, rows
 *       padded by 64 bytes against bank conflicts), the first S - 1 issued before the
 *       programmatic-launch wait; each warp takes a quarter of a stage's columns, mma.sync
 *       m16n8k16 with lane (g, t)'s 8 consecutive k as fragments k 2t, 2t+1, 2t+8, 2t+9 of two
 *       mmas (the sum over k does not care which k a slot holds), x's fragments from L1.
 * Each launch reads its own weights (a ring over 1 GB, so L2 holds none), launches back to
 * back under programmatic launch, per product and as a layer's four products in turn (also
 * with each product's fastest variant); every variant's outputs checked against W 8 U 8's
 * (fp32 sums in other orders: relative 1e-5 of max |y|).
 * Standalone: nvcc -O3 -std=c++17 -arch=sm_90a gemv_lab.cu
 */
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#define CK(x) do { cudaError_t e_ = (x); if (e_) { printf("%s: %s\n", #x, cudaGetErrorString(e_)); exit(1); } } while (0)

__device__ __forceinline__ void wait_prior() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
__device__ __forceinline__ void trigger() { asm volatile("griddepcontrol.launch_dependents;"); }
__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void cp16(uint32_t dst, const void *src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(src));
}
__device__ __forceinline__ void commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void wait_group() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

/* The NW warps' tiles added in warp order by warp 0 and stored: lane (g, t) holds weight rows
 * n0 = 16 b + g (.x, .y) and n0 + 8 (.z, .w) for x rows 2t, 2t + 1. Every thread calls it. */
template <int NW>
__device__ __forceinline__ void store_tile(float4 (*part)[32], const float (&d)[4], float *y, int N) {
    const int lane = threadIdx.x & 31, wp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    part[wp][lane] = make_float4(d[0], d[1], d[2], d[3]);
    __syncthreads();
    if (wp) return;
    float4 s = part[0][lane];
    for (int v = 1; v < NW; v++) {
        const float4 q = part[v][lane];
        s.x += q.x, s.y += q.y, s.z += q.z, s.w += q.w;
    }
    const int n0 = blockIdx.x * 16 + g, n1 = n0 + 8;
    if (n0 < N) y[(2 * t) * N + n0] = s.x, y[(2 * t + 1) * N + n0] = s.y;
    if (n1 < N) y[(2 * t) * N + n1] = s.z, y[(2 * t + 1) * N + n1] = s.w;
}

/* y (8, N) fp32 = x (8, K) bf16 @ w (N, K)^T; lane (g, t)'s rows: 16 b + g and 16 b + 8 + g.
 * W warps split K, U 16-byte loads a lane and row in flight (v0: gemv.cu's W 8, U 8; the
 * twenty-sixth session's question: W 16 for the products whose K takes 8 warps more than one
 * round of loads, wo and fc2, whose 128 blocks of 8 warps fill half the GPU's places) */
template <int W, int U, int MINB>
__global__ void __launch_bounds__(32 * W, MINB) v0(const uint4 *w, const uint4 *x, float *y, int N, int K8) {
    __shared__ float4 part[W][32];
    trigger();
    const int lane = threadIdx.x & 31, wp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int n0 = blockIdx.x * 16 + g, n1 = n0 + 8;
    const uint4 *r0 = n0 < N ? w + (int64_t)n0 * K8 : NULL, *r1 = n1 < N ? w + (int64_t)n1 * K8 : NULL;
    const int nq = (K8 + 4 * W - 1) / (4 * W);
    const uint4 z = make_uint4(0, 0, 0, 0);
    uint4 w0[U], w1[U];
    auto load = [&](int q0) {
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int c = ((q0 + u) * W + wp) * 4 + t;
            w0[u] = r0 && c < K8 ? __ldcs(r0 + c) : z;
            w1[u] = r1 && c < K8 ? __ldcs(r1 + c) : z;
        }
    };
    load(0);
    wait_prior();
    const uint4 *xr = x + g * K8;
    float d[4] = {0, 0, 0, 0};
    for (int q0 = 0; q0 < nq; q0 += U) {
        if (q0) load(q0);
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int c0 = ((q0 + u) * W + wp) * 4, c = c0 + t;
            if (c0 >= K8) break;
            const uint32_t a0[4] = {w0[u].x, w1[u].x, w0[u].y, w1[u].y};
            const uint32_t a1[4] = {w0[u].z, w1[u].z, w0[u].w, w1[u].w};
            const uint4 xv = c < K8 ? __ldg(xr + c) : z;
            mma16816(d, a0, xv.x, xv.y);
            mma16816(d, a1, xv.z, xv.w);
        }
    }
    store_tile<W>(part, d, y, N);
}

/* v2<W, U>: v0 with each block walking tiles (16 weight rows each) tile, tile + grid, ...,
 * the next tile's loads issued as soon as this one's are summed, before the warps' tiles meet
 * in shared memory and warp 0 stores them (v0's blocks issue nothing from their last mma to
 * their exit, and a new block's loads start only after); the grid is the blocks that fit at
 * once. Only the first round of a warp's share of K is issued ahead. */
template <int W, int U, int MINB>
__global__ void __launch_bounds__(32 * W, MINB) v2(const uint4 *w, const uint4 *x, float *y, int N, int K8) {
    __shared__ float4 part[W][32];
    trigger();
    const int lane = threadIdx.x & 31, wp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int tiles = (N + 15) / 16;
    const uint4 z = make_uint4(0, 0, 0, 0);
    uint4 w0[U], w1[U];
    auto load = [&](int tile, int q0) {
        const int n0 = tile * 16 + g, n1 = n0 + 8;
        const uint4 *r0 = n0 < N ? w + (int64_t)n0 * K8 : NULL, *r1 = n1 < N ? w + (int64_t)n1 * K8 : NULL;
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int c = ((q0 + u) * W + wp) * 4 + t;
            w0[u] = r0 && c < K8 ? __ldcs(r0 + c) : z;
            w1[u] = r1 && c < K8 ? __ldcs(r1 + c) : z;
        }
    };
    const int nq = (K8 + 4 * W - 1) / (4 * W);
    int tile = blockIdx.x;
    load(tile, 0);
    wait_prior();
    const uint4 *xr = x + g * K8;
    for (; tile < tiles; tile += gridDim.x) {
        float d[4] = {0, 0, 0, 0};
        for (int q0 = 0; q0 < nq; q0 += U) { /* rounds past the first: v0's way */
            if (q0) load(tile, q0);
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int c0 = ((q0 + u) * W + wp) * 4, c = c0 + t;
                if (c0 >= K8) break;
                const uint32_t a0[4] = {w0[u].x, w1[u].x, w0[u].y, w1[u].y};
                const uint32_t a1[4] = {w0[u].z, w1[u].z, w0[u].w, w1[u].w};
                const uint4 xv = c < K8 ? __ldg(xr + c) : z;
                mma16816(d, a0, xv.x, xv.y);
                mma16816(d, a1, xv.z, xv.w);
            }
        }
        if (tile + (int)gridDim.x < tiles) load(tile + gridDim.x, 0);
        part[wp][lane] = make_float4(d[0], d[1], d[2], d[3]);
        __syncthreads();
        if (wp == 0) {
            float4 s = part[0][lane];
            for (int v = 1; v < W; v++) {
                const float4 q = part[v][lane];
                s.x += q.x, s.y += q.y, s.z += q.z, s.w += q.w;
            }
            const int n0 = tile * 16 + g, n1 = n0 + 8;
            if (n0 < N) y[(2 * t) * N + n0] = s.x, y[(2 * t + 1) * N + n0] = s.y;
            if (n1 < N) y[(2 * t) * N + n1] = s.z, y[(2 * t + 1) * N + n1] = s.w;
        }
        __syncthreads(); /* part is rewritten by the next tile */
    }
}

/* v1: S stages of 16 rows x 256 columns (32 uint4 a row, padded to 36) */
#define V1_WARPS 4
#define V1_KC8 32
#define V1_LD (V1_KC8 + 4)
template <int S>
__global__ void __launch_bounds__(32 * V1_WARPS) v1(const uint4 *w, const uint4 *x, float *y, int N, int K8) {
    extern __shared__ uint4 ring[]; /* [S][16][V1_LD] */
    __shared__ float4 part[V1_WARPS][32];
    trigger();
    const int tid = threadIdx.x, lane = tid & 31, wp = tid >> 5, g = lane >> 2, t = lane & 3;
    const int row0 = blockIdx.x * 16, nc = K8 / V1_KC8; /* K a multiple of 256 */
    auto issue = [&](int c) { /* stage c of the block's rows into slot c % S */
        uint4 *dst = ring + (c % S) * 16 * V1_LD;
#pragma unroll
        for (int e = tid; e < 16 * V1_KC8; e += 32 * V1_WARPS) {
            const int r = e / V1_KC8, col = e % V1_KC8;
            const int n = row0 + r < N ? row0 + r : N - 1; /* past N: a real row, never stored */
            cp16(smem_u32(dst + r * V1_LD + col), w + (int64_t)n * K8 + c * V1_KC8 + col);
        }
    };
#pragma unroll
    for (int c = 0; c < S - 1; c++) {
        if (c < nc) issue(c);
        commit();
    }
    wait_prior();
    const uint4 *xr = x + g * K8;
    float d[4] = {0, 0, 0, 0};
    for (int c = 0; c < nc; c++) {
        wait_group<S - 2>();
        __syncthreads(); /* stage c landed for every thread; slot (c - 1) % S free */
        if (c + S - 1 < nc) issue(c + S - 1);
        commit();
        const uint4 *st = ring + (c % S) * 16 * V1_LD;
#pragma unroll
        for (int s = 0; s < V1_KC8 / (4 * V1_WARPS); s++) {
            const int col = (s * V1_WARPS + wp) * 4 + t;
            const uint4 a = st[g * V1_LD + col], b = st[(g + 8) * V1_LD + col];
            const uint4 xv = __ldg(xr + c * V1_KC8 + col);
            const uint32_t a0[4] = {a.x, b.x, a.y, b.y}, a1[4] = {a.z, b.z, a.w, b.w};
            mma16816(d, a0, xv.x, xv.y);
            mma16816(d, a1, xv.z, xv.w);
        }
    }
    store_tile<V1_WARPS>(part, d, y, N);
}

struct Prod { const char *name; int N, K; };
/* the fla shape's four (a layer in turn), then the paper preset's fc1 (its wo and fc2 are 2048 x 4096) */
static const Prod prods[5] = {{"qkvg", 12288, 2048}, {"wo", 2048, 4096}, {"fc1|gate", 5632, 2048}, {"fc2", 2048, 2816}, {"fc1 gelu", 4096, 2048}};

typedef void (*kern)(const uint4 *, const uint4 *, float *, int, int);
struct Var { const char *name; kern k; int threads, smem, walk; /* walk: v2's grid, the blocks that fit */ };
#define V1_SMEM(S) ((S) * 16 * V1_LD * 16)
static const Var vars[] = {
    {"W8 U8", v0<8, 8, 2>, 256, 0, 0},   /* gemv.cu's gemv_mma_kernel before next178 */
    {"W16 U8", v0<16, 8, 1>, 512, 0, 0}, /* its shapes since (by K) */
    {"W16 U4", v0<16, 4, 2>, 512, 0, 0},
    {"walk 16x8", v2<16, 8, 1>, 512, 0, 1},
    {"walk 16x4", v2<16, 4, 2>, 512, 0, 2},
    {"walk 8x8", v2<8, 8, 2>, 256, 0, 2},
};
#define NVAR (int)(sizeof vars / sizeof vars[0])

static void launch(const Var &v, const uint4 *w, const uint4 *x, float *y, int N, int K, cudaStream_t s) {
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = at, cfg.numAttrs = 1, cfg.stream = s;
    const int tiles = (N + 15) / 16;
    cfg.gridDim = dim3(v.walk && tiles > v.walk * 132 ? v.walk * 132 : tiles);
    cfg.blockDim = dim3(v.threads), cfg.dynamicSmemBytes = v.smem;
    CK(cudaLaunchKernelEx(&cfg, v.k, w, x, y, N, K / 8));
}

int main(int argc, char **argv) {
    const int reps = argc > 1 ? atoi(argv[1]) : 200;
    const size_t ring = 1ul << 30;
    uint16_t *buf;
    uint4 *x;
    float *y0, *y1;
    CK(cudaMalloc(&buf, ring));
    CK(cudaMalloc(&x, 8 * 5632 * 2));
    CK(cudaMalloc(&y0, 8 * 12288 * 4));
    CK(cudaMalloc(&y1, 8 * 12288 * 4));
    { /* random bf16 weights and x in [-1, 1) */
        const size_t n = 64u << 20;
        uint16_t *h = (uint16_t *)malloc(2 * n);
        uint64_t st = 12345;
        for (size_t i = 0; i < n; i++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            const float f = (float)((st >> 40) & 0xffff) / 32768.0f - 1.0f;
            uint32_t u;
            memcpy(&u, &f, 4);
            h[i] = (uint16_t)(u >> 16);
        }
        for (size_t off = 0; off < ring / 2; off += n) CK(cudaMemcpy(buf + off, h, 2 * n, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(x, h + 777, 8 * 5632 * 2, cudaMemcpyHostToDevice));
        free(h);
    }
    for (int v = 0; v < NVAR; v++) {
        if (vars[v].smem) CK(cudaFuncSetAttribute(vars[v].k, cudaFuncAttributeMaxDynamicSharedMemorySize, vars[v].smem));
        int nb = 0;
        cudaFuncAttributes fa;
        CK(cudaFuncGetAttributes(&fa, vars[v].k));
        CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&nb, vars[v].k, vars[v].threads, vars[v].smem));
        printf("%-9s: %d threads, %d registers, %d bytes spilled, %d blocks an SM\n", vars[v].name,
               vars[v].threads, fa.numRegs, (int)fa.localSizeBytes, nb);
    }
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    /* check: every variant against the first (fp32 sums in other orders) */
    for (int p = 0; p < 5; p++) {
        const int N = prods[p].N, K = prods[p].K;
        float *h0 = (float *)malloc(8 * N * 4), *h1 = (float *)malloc(8 * N * 4);
        launch(vars[0], (const uint4 *)buf, x, y0, N, K, s);
        for (int v = 1; v < NVAR; v++) {
            CK(cudaMemset(y1, 0, 8 * N * 4));
            launch(vars[v], (const uint4 *)buf, x, y1, N, K, s);
            CK(cudaStreamSynchronize(s));
            CK(cudaMemcpy(h0, y0, 8 * N * 4, cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(h1, y1, 8 * N * 4, cudaMemcpyDeviceToHost));
            double mx = 0, err = 0;
            for (int i = 0; i < 8 * N; i++) mx = fmax(mx, fabs(h0[i])), err = fmax(err, fabs((double)h1[i] - h0[i]));
            printf("check %-9s %-7s: max |d| %.3g of max |y| %.3g: %s\n", prods[p].name, vars[v].name, err, mx,
                   err <= 1e-5 * mx ? "ok" : "BAD");
        }
        free(h0), free(h1);
    }
    /* per product and variant; then a layer's four in turn with each variant, and with the
     * best variant of each product (pick[]) */
    double best[5] = {1e30, 1e30, 1e30, 1e30, 1e30};
    int pick[5] = {0, 0, 0, 0, 0};
    for (int pass = 0; pass < 2; pass++)
        for (int vi = 0; vi <= NVAR; vi++) {
            double layer_us = 0;
            for (int p = 0; p < 5 && vi < NVAR; p++) {
                const int N = prods[p].N, K = prods[p].K;
                const size_t bytes = (size_t)N * K * 2, slots = ring / bytes;
                CK(cudaEventRecord(e0, s));
                for (int r = 0; r < reps; r++)
                    launch(vars[vi], (const uint4 *)((const char *)buf + (r % slots) * bytes), x, y0, N, K, s);
                CK(cudaEventRecord(e1, s));
                CK(cudaEventSynchronize(e1));
                float ms;
                CK(cudaEventElapsedTime(&ms, e0, e1));
                const double us = 1e3 * ms / reps;
                if (p < 4) layer_us += us; /* the preset's fc1 is not in the layer */
                if (us < best[p]) best[p] = us, pick[p] = vi;
                if (pass) printf("%-9s %-9s M 8: %7.2f us  %6.0f GB/s\n", vars[vi].name, prods[p].name, us, bytes / us * 1e-3);
            }
            size_t off = 0;
            CK(cudaEventRecord(e0, s));
            for (int r = 0; r < reps; r++)
                for (int p = 0; p < 4; p++) {
                    const size_t bytes = (size_t)prods[p].N * prods[p].K * 2;
                    if (off + bytes > ring) off = 0;
                    launch(vars[vi < NVAR ? vi : pick[p]], (const uint4 *)((const char *)buf + off), x, y0,
                           prods[p].N, prods[p].K, s);
                    off += bytes;
                }
            CK(cudaEventRecord(e1, s));
            CK(cudaEventSynchronize(e1));
            float ms;
            CK(cudaEventElapsedTime(&ms, e0, e1));
            if (!pass) continue;
            if (vi < NVAR)
                printf("%-9s a layer's four in turn: %7.2f us (the four alone: %7.2f)\n", vars[vi].name, 1e3 * ms / reps, layer_us);
            else
                printf("best of each (%s, %s, %s, %s) a layer's four in turn: %7.2f us\n", vars[pick[0]].name,
                       vars[pick[1]].name, vars[pick[2]].name, vars[pick[3]].name, 1e3 * ms / reps);
        }
    return 0;
}
