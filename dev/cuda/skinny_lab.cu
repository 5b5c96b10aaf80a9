/*
 * skinny_lab.cu (lab): the decoding step's products at 17-64 rows of x (B = 17-64) with the
 * Hopper machinery cuBLASLt's own kernels use and gemm_lab.cu's did not: the weights and x come
 * through a ring of shared-memory stages filled by the tensor memory accelerator (TMA: one
 * thread, a 2-D box a copy, 128-byte swizzled), and the products are warpgroup MMAs (wgmma)
 * reading both operands from shared memory: x as A (64 rows, K-major, rows past M zero-filled
 * by TMA), R weight rows as B (K-major: W's own layout), D = x W^T (64 x R fp32) in the
 * warpgroup's registers. One warpgroup a block; thread 0 keeps ST stages in flight. K is split
 * in S slices (a grid of (N / R, S)); each slice's fp32 partials go to P (S, M, N), meant to be
 * summed by the kernel that reads the product next (the norm, the split, the GLU), so no
 * meeting inside this kernel and no reduction kernel of its own (gemm_lab: both cost more than
 * they saved). Timed alone, with a reduction kernel, and with programmatic launch (the weights'
 * first stages asked before the wait, as the decoding chain would), against cuBLASLt as
 * src/cuda/matmul.cu asks it; every launch on its own copy of the weights (a ring past the L2).
 *
 *   nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -I src -o skinny_lab \
 *     dev/cuda/skinny_lab.cu -lcublasLt
 *   ./skinny_lab [M]      (default 64; past 64 rows only cuBLASLt and the plain read)
 *   ./skinny_lab M mc     the cluster form (x multicast over C blocks, mc_kernel) against the
 *                         ring, and the ring without products with and without x (next303)
 *
 * What it found (dev/cuda/README.md, twenty-seventh session): alone, level with cuBLASLt on
 * q k v g and fc1 | gate and 20-30% faster on wo and fc2, whose cuBLASLt time includes its
 * split-K reduction; in the model, with the slices added by the next norm (next191-192,
 * reverted: 510b50a), level with cuBLASLt at B = 24-64, the slices' meeting costing there what
 * cuBLASLt's reduction kernel costs. The cluster form (forty-first session, next303): correct,
 * and 1.4-2x slower than the ring (q k v g at M = 64: 22.6-35.5 us against 16.4-17.6); x's
 * share of the ring's traffic was not what held it above a plain read (16.39 -> 15.96 us
 * without x, the plain read 12.19).
 */
#include "lt_common.cuh"

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_bf16.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <vector>

#include "cuda/mbar.cuh"
#include "cuda/pdl.cuh"

#define SMAX 32

__device__ __forceinline__ uint64_t wg_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
    /* K-major, 128-byte swizzle (mode 1 in bits 62-63) */
    return (uint64_t)((addr & 0x3FFFFu) >> 4) | ((uint64_t)((lbo >> 4) & 0x3FFFu) << 16) |
           ((uint64_t)((sbo >> 4) & 0x3FFFu) << 32) | ((uint64_t)1 << 62);
}
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wg_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
template <int N> __device__ __forceinline__ void wg_pin(float (&d)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(d[i])::"memory");
}
__device__ __forceinline__ void wg_n64(float (&d)[32], uint64_t a, uint64_t b) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "l"(a), "l"(b));
}
__device__ __forceinline__ void wg_n128(float (&d)[64], uint64_t a, uint64_t b) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "l"(a), "l"(b));
}
__device__ __forceinline__ void wg_n256(float (&d)[128], uint64_t a, uint64_t b) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, %128, %129, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
                 : "l"(a), "l"(b));
}

__device__ __forceinline__ void wg_n32(float (&d)[16], uint64_t a, uint64_t b) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, %16, %17, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                 : "l"(a), "l"(b));
}
template <int R> __device__ __forceinline__ void wg_mma(float (&d)[R / 2], uint64_t a, uint64_t b) {
    if constexpr (R == 32) wg_n32(d, a, b);
    else if constexpr (R == 64) wg_n64(d, a, b);
    else if constexpr (R == 128) wg_n128(d, a, b);
    else wg_n256(d, a, b);
}

__device__ __forceinline__ void tma2d(uint32_t dst, const void *map, int c0, int c1, uint32_t bar) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst), "l"(map), "r"(c0), "r"(c1), "r"(bar)
                 : "memory");
}

/* a warpgroup's 64 x R accumulators into p (M, N): d[4j + e] is x row 16 w + lane / 4 +
 * 8 (e / 2), weight row n0 + 8 j + 2 (lane % 4) + e % 2 */
template <int R>
__device__ __forceinline__ void store_tile(const float (&d)[R / 2], float *p, int M, int N, int n0,
                                           int w, int lane) {
#pragma unroll
    for (int j = 0; j < R / 8; j++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int m = 16 * w + (lane >> 2) + 8 * h, n = n0 + 8 * j + 2 * (lane & 3);
            if (m < M && n < N)
                *reinterpret_cast<float2 *>(p + (size_t)m * N + n) =
                    make_float2(d[4 * j + 2 * h], d[4 * j + 2 * h + 1]);
        }
}

/* P[s] (M, N) fp32 = x (M, K) W (N, K)^T over K's slice s: slabs of 64 k, [s ks, s ks + ks);
 * a stage holds SK slabs (SK boxes of each operand back to back: SK 128-byte pieces of each
 * weight row asked together) */
template <int R, int ST, int NOMMA = 0, int SK = 1, int TILED = 0, int NOX = 0>
__global__ void __launch_bounds__(128, 1)
sk_kernel(const __grid_constant__ CUtensorMap wmap, const __grid_constant__ CUtensorMap xmap,
          float *P, int M, int N, int nslab, int ks, const __nv_bfloat16 *wt) {
    constexpr uint32_t WB = R * 128, XB = 64 * 128, SB = SK * (WB + XB);
    extern __shared__ unsigned char smraw[];
    __shared__ __align__(8) uint64_t full[ST];
    const uint32_t raw = smem_u32(smraw), base = (raw + 1023) & ~1023u;
    const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
    const int n0 = blockIdx.x * R, s = blockIdx.y;
    const int k0 = s * ks, k1 = min(nslab, k0 + ks), nk = (k1 - k0 + SK - 1) / SK;
    if (tid == 0) {
        for (int i = 0; i < ST; i++) mbar_init(smem_u32(&full[i]), 1);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    }
    __syncthreads();
    pdl_trigger();
    auto slabs = [&](int i) { return min(SK, k1 - (k0 + i * SK)); };
    auto load_w = [&](int i, uint32_t at) {
        const int n = slabs(i);
        mbar_expect_tx(smem_u32(&full[i % ST]), n * (WB + (NOX ? 0 : XB)));
        for (int j = 0; j < n; j++)
            if (TILED) /* one contiguous, pre-swizzled R x 64 tile: a 1-D bulk copy */
                bulk_load(at + j * WB, wt + ((size_t)blockIdx.x * nslab + k0 + i * SK + j) * R * 64,
                          WB, smem_u32(&full[i % ST]));
            else
                tma2d(at + j * WB, &wmap, (k0 + i * SK + j) * 64, n0, smem_u32(&full[i % ST]));
    };
    auto load_x = [&](int i, uint32_t at) {
        const int n = NOX ? 0 : slabs(i); /* NOX: x never asked for (timing only) */
        for (int j = 0; j < n; j++)
            tma2d(at + SK * WB + j * XB, &xmap, (k0 + i * SK + j) * 64, 0, smem_u32(&full[i % ST]));
    };
    /* the weights' first stages before the wait: nothing before this kernel writes them */
    if (tid == 0)
        for (int i = 0; i < ST && i < nk; i++) load_w(i, base + i * SB);
    pdl_wait();
    if (tid == 0)
        for (int i = 0; i < ST && i < nk; i++) load_x(i, base + i * SB);
    float d[R / 2];
#pragma unroll
    for (int i = 0; i < R / 2; i++) d[i] = 0.0f;
    for (int i = 0; i < nk; i++) {
        const int st = i % ST, n = slabs(i);
        mbar_wait(smem_u32(&full[st]), (i / ST) & 1);
        const uint32_t sw = base + st * SB, sx = sw + SK * WB;
        if (!NOMMA) {
            wg_fence();
#pragma unroll
            for (int j = 0; j < SK; j++)
                if (j < n) {
                    const uint64_t dw = wg_desc(sw + j * WB, 16, 1024), dx = wg_desc(sx + j * XB, 16, 1024);
#pragma unroll
                    for (int kk = 0; kk < 4; kk++) wg_mma<R>(d, dx + (kk * 32 >> 4), dw + (kk * 32 >> 4));
                }
            wg_commit();
            wg_wait<0>();
            wg_pin(d);
        }
        __syncthreads(); /* every thread's wgmma has read stage st */
        if (tid == 0 && i + ST < nk) load_w(i + ST, sw), load_x(i + ST, sw);
    }
    store_tile<R>(d, P + (size_t)s * M * N, M, N, n0, w, lane);
}

/* x shared over a cluster (the forty-first session): C blocks of neighbouring weight tiles and
 * the same slice of K form a thread block cluster, and each asks the TMA for 64 / C of x's 64
 * rows of a slab, multicast into every block of the cluster: x's share of what the blocks read
 * from the L2 falls from XB / (WB + XB) to that over C. A producer warp (lane 0) fills the
 * ring; the warpgroup multiplies; a stage is refilled once all 4 C consumer warps of the
 * cluster have released it (each warp's lanes 0..C-1 arrive on block `lane`'s empty barrier),
 * since the refill's multicast writes into every block's copy of it. */
__device__ __forceinline__ uint32_t cl_rank() {
    uint32_t r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
    return r;
}
__device__ __forceinline__ void cl_sync() {
    asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void tma2d_mc(uint32_t dst, const void *map, int c0, int c1, uint32_t bar,
                                         uint16_t mask) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
                 ".multicast::cluster [%0], [%1, {%2, %3}], [%4], %5;\n" ::"r"(dst),
                 "l"(map), "r"(c0), "r"(c1), "r"(bar), "h"(mask)
                 : "memory");
}
__device__ __forceinline__ void arrive_remote(uint32_t bar, uint32_t cta) {
    asm volatile("{\n.reg .b32 ra;\nmapa.shared::cluster.u32 ra, %0, %1;\n"
                 "mbarrier.arrive.release.cluster.shared::cluster.b64 _, [ra];\n}\n" ::"r"(bar),
                 "r"(cta)
                 : "memory");
}
__device__ __forceinline__ void mbar_wait_cl(uint32_t bar, uint32_t parity) {
    asm volatile("{\n.reg .pred P1;\nW_%=:\n"
                 "mbarrier.try_wait.parity.acquire.cluster.shared::cta.b64 P1, [%0], %1;\n"
                 "@P1 bra D_%=;\nbra W_%=;\nD_%=:\n}\n" ::"r"(bar),
                 "r"(parity)
                 : "memory");
}
template <int R, int ST, int C, int NOMMA = 0>
__global__ void __launch_bounds__(160, 1)
mc_kernel(const __grid_constant__ CUtensorMap wmap, const __grid_constant__ CUtensorMap xmap,
          float *P, int M, int N, int nslab, int ks) {
    constexpr uint32_t WB = R * 128, XB = 64 * 128, SB = WB + XB, XS = XB / C;
    extern __shared__ unsigned char smraw[];
    __shared__ __align__(8) uint64_t full[ST], empty[ST];
    const uint32_t raw = smem_u32(smraw), base = (raw + 1023) & ~1023u;
    const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
    const int n0 = blockIdx.x * R, s = blockIdx.y;
    const int k0 = s * ks, k1 = min(nslab, k0 + ks), nk = k1 - k0;
    const uint32_t rank = cl_rank();
    if (tid == 0) {
        for (int i = 0; i < ST; i++) mbar_init(smem_u32(&full[i]), 1), mbar_init(smem_u32(&empty[i]), 4 * C);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    cl_sync(); /* every block's barriers exist before a multicast or a remote arrival */
    pdl_trigger();
    if (w == 4) {
        if (lane == 0) {
            auto load_w = [&](int i) {
                const uint32_t bar = smem_u32(&full[i % ST]);
                mbar_expect_tx(bar, SB);
                tma2d(base + (i % ST) * SB, &wmap, (k0 + i) * 64, n0, bar);
            };
            auto load_x = [&](int i) {
                tma2d_mc(base + (i % ST) * SB + WB + rank * XS, &xmap, (k0 + i) * 64, rank * (64 / C),
                         smem_u32(&full[i % ST]), (uint16_t)((1u << C) - 1));
            };
            for (int i = 0; i < ST && i < nk; i++) load_w(i);
            pdl_wait();
            for (int i = 0; i < ST && i < nk; i++) load_x(i);
            for (int i = ST; i < nk; i++) {
                mbar_wait_cl(smem_u32(&empty[i % ST]), ((i / ST) - 1) & 1);
                load_w(i), load_x(i);
            }
        }
        __syncwarp();
    } else {
        float d[R / 2];
#pragma unroll
        for (int i = 0; i < R / 2; i++) d[i] = 0.0f;
        for (int i = 0; i < nk; i++) {
            const int st = i % ST;
            mbar_wait(smem_u32(&full[st]), (i / ST) & 1);
            const uint32_t sw = base + st * SB, sx = sw + WB;
            if (!NOMMA) {
                wg_fence();
                const uint64_t dw = wg_desc(sw, 16, 1024), dx = wg_desc(sx, 16, 1024);
#pragma unroll
                for (int kk = 0; kk < 4; kk++) wg_mma<R>(d, dx + (kk * 32 >> 4), dw + (kk * 32 >> 4));
                wg_commit();
                wg_wait<0>();
                wg_pin(d);
            }
            __syncwarp();
            if (i + ST < nk && lane < C) arrive_remote(smem_u32(&empty[st]), (uint32_t)lane);
        }
        store_tile<R>(d, P + (size_t)s * M * N, M, N, n0, w, lane);
    }
    cl_sync(); /* no block leaves while a peer may still write into it or arrive on it */
}

/* the plain read of n uint4 (one each a thread, one-shot grid), summed so that it is not dropped */
__global__ void read_kernel(const uint4 *w, int64_t n, unsigned *sink) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const uint4 v = __ldcs(w + i);
    if ((v.x ^ v.y ^ v.z ^ v.w) == 0x9e3779b9u) atomicAdd(sink, 1u);
}


static PFN_cuTensorMapEncodeTiled_v12000 encoder() {
    static PFN_cuTensorMapEncodeTiled_v12000 fn = nullptr;
    if (!fn) {
        void *f = nullptr;
        cudaDriverEntryPointQueryResult q;
        CK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q));
        fn = (PFN_cuTensorMapEncodeTiled_v12000)f;
    }
    return fn;
}
/* a (rows, K) bf16 matrix as boxes of 64 k x box_rows rows, 128-byte swizzled */
static CUtensorMap map2d(const void *p, int K, int rows, int box_rows) {
    CUtensorMap m;
    cuuint64_t dims[2] = {(cuuint64_t)K, (cuuint64_t)rows}, strides[1] = {(cuuint64_t)K * 2};
    cuuint32_t box[2] = {64, (cuuint32_t)box_rows}, ones[2] = {1, 1};
    const CUresult r = encoder()(&m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<void *>(p), dims,
                                 strides, box, ones, CU_TENSOR_MAP_INTERLEAVE_NONE,
                                 CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                                 CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS) {
        printf("cuTensorMapEncodeTiled: %d\n", (int)r);
        exit(1);
    }
    return m;
}

/* w (N, K) as [N / R][K / 64] tiles of R rows x 64 k, each the image TMA's 128-byte swizzle
 * leaves in shared memory (16-byte chunk c of row r at chunk c ^ (r % 8)) */
static void tiled_fill(std::vector<__nv_bfloat16> &t, const std::vector<__nv_bfloat16> &w, int N, int K,
                       int R) {
    size_t o = 0;
    for (int n0 = 0; n0 < N; n0 += R)
        for (int k0 = 0; k0 < K; k0 += 64, o += (size_t)R * 64)
            for (int r = 0; r < R; r++)
                for (int c = 0; c < 8; c++)
                    for (int e = 0; e < 8; e++)
                        t[o + r * 64 + ((c ^ (r & 7)) * 8) + e] = w[(size_t)(n0 + r) * K + k0 + c * 8 + e];
}

struct Case {
    const __nv_bfloat16 *X;
    float *Y, *P;
    int M, N, K, copies;
    std::vector<CUtensorMap> *wm;
    std::vector<__nv_bfloat16 *> *wt; /* the weights tiled for R (TILED), or NULL */
    CUtensorMap xm;
    const float *ylt;
    double mb;
    int sms;
};

/* S slices of K's nslab slabs (0: about bps blocks an SM), each whole stages of SK slabs:
 * S and each slice's slabs ks, as both forms launch them */
static void slices(int &S, int &ks, int bps, int sms, int tiles, int nslab, int SK) {
    if (S <= 0) S = bps * sms / tiles;
    if (S > nslab) S = nslab;
    if (S > SMAX) S = SMAX;
    if (S < 1) S = 1;
    ks = (nslab + S - 1) / S;
    ks = (ks + SK - 1) / SK * SK;
    S = (nslab + ks - 1) / ks;
}

struct Timed {
    float ta, tp, tr; /* us: alone, under programmatic launch, with the slices' sum kernel */
    double err;       /* max |ours - cuBLASLt| / max |cuBLASLt| (check only) */
};
/* launch(stream, pdl, out) of a product in S slices, timed three ways (50 in a graph each);
 * with check, run once more and summed, against cuBLASLt's outputs. ci: the launch's
 * weight copy counter, reset for the check */
template <class L> static Timed measure(Case &c, int S, int &ci, bool check, L launch) {
    const int MN = c.M * c.N;
    float *out = S > 1 ? c.P : c.Y;
    Timed t{};
    t.ta = graph_us([&](cudaStream_t st) { launch(st, 0, out); });
    t.tp = graph_us([&](cudaStream_t st) { launch(st, 1, out); });
    t.tr = graph_us([&](cudaStream_t st) {
        launch(st, 0, out);
        if (S > 1) slices_sum_kernel<SMAX><<<(MN + 255) / 256, 256, 0, st>>>(c.P, c.Y, MN, S);
    });
    if (!check) return t;
    ci = 0;
    CK(cudaMemset(c.Y, 0, (size_t)MN * 4));
    launch((cudaStream_t)0, 0, out);
    if (S > 1) slices_sum_kernel<SMAX><<<(MN + 255) / 256, 256>>>(c.P, c.Y, MN, S);
    CK(cudaDeviceSynchronize());
    std::vector<float> a((size_t)MN);
    CK(cudaMemcpy(a.data(), c.Y, (size_t)MN * 4, cudaMemcpyDeviceToHost));
    double md = 0;
    for (int i = 0; i < MN; i++) md = fmax(md, fabs((double)a[i] - c.ylt[i]));
    t.err = md / c.mb;
    return t;
}

/* one shape: R weight rows a block, ST stages, S slices (0: about `bps` blocks an SM) */
template <int R, int ST, int NOMMA = 0, int SK = 1, int TILED = 0, int NOX = 0>
static void run(const char *name, Case &c, int S, float tl) {
    const size_t smem = (size_t)ST * SK * (R * 128 + 64 * 128) + 1024;
    auto kern = sk_kernel<R, ST, NOMMA, SK, TILED, NOX>;
    CK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    int bps = 0;
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&bps, kern, 128, smem));
    const int tiles = c.N / R, nslab = c.K / 64;
    int ks;
    slices(S, ks, bps, c.sms, tiles, nslab, SK);
    int ci = 0;
    const Timed t = measure(c, S, ci, !NOMMA, [&](cudaStream_t st, int pdl, float *out) {
        cudaLaunchAttribute at[1];
        at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        at[0].val.programmaticStreamSerializationAllowed = 1;
        cudaLaunchConfig_t cfg = {};
        cfg.gridDim = dim3(tiles, S), cfg.blockDim = dim3(128), cfg.dynamicSmemBytes = smem;
        cfg.stream = st, cfg.attrs = at, cfg.numAttrs = pdl ? 1 : 0;
        const int cc = ci++ % c.copies;
        CK(cudaLaunchKernelEx(&cfg, kern, (*c.wm)[cc], c.xm, out, c.M, c.N, nslab, ks,
                              (const __nv_bfloat16 *)(TILED ? (*c.wt)[cc] : nullptr)));
    });
    const double mbytes = (double)c.N * c.K * 2;
    if (NOMMA) {
        printf("  %-11s R %3d ST %d SK %d S %2d%s, TMA only (no products%s): %6.2f us (%.2f TB/s), PDL %6.2f\n",
               name, R, ST, SK, S, TILED ? " tiled" : "", NOX ? ", no x" : "", t.ta, mbytes / (t.ta * 1e-6) / 1e12, t.tp);
        return;
    }
    printf("  %-11s R %3d ST %d SK %d%s (%3zu KB, %d a SM) S %2d (%4d blocks): alone %6.2f us (%.2f TB/s), "
           "PDL %6.2f, +sum %6.2f; cuBLASLt %6.2f  %.1e%s\n",
           name, R, ST, SK, TILED ? " tiled" : "", smem / 1024, bps, S, tiles * S, t.ta, mbytes / (t.ta * 1e-6) / 1e12, t.tp, t.tr, tl,
           t.err, t.err < 1e-4 ? "" : "  MISMATCH");
}

/* the cluster form: C blocks a cluster share x by multicast (S 0: about `bps` blocks an SM) */
template <int R, int ST, int C, int NOMMA = 0>
static void run_mc(const char *name, Case &c, int S, float tl) {
    const size_t smem = (size_t)ST * (R * 128 + 64 * 128) + 1024;
    auto kern = mc_kernel<R, ST, C, NOMMA>;
    CK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    CK(cudaFuncSetAttribute(kern, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
    int bps = 0;
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&bps, kern, 160, smem));
    const int tiles = c.N / R, nslab = c.K / 64;
    if (tiles % C) {
        printf("  %-11s R %3d: %d tiles not a multiple of C %d\n", name, R, tiles, C);
        return;
    }
    int ks;
    slices(S, ks, bps, c.sms, tiles, nslab, 1);
    const CUtensorMap xm = map2d(c.X, c.K, c.M, 64 / C);
    int ci = 0;
    const Timed t = measure(c, S, ci, !NOMMA, [&](cudaStream_t st, int pdl, float *out) {
        cudaLaunchAttribute at[2];
        at[0].id = cudaLaunchAttributeClusterDimension;
        at[0].val.clusterDim.x = C, at[0].val.clusterDim.y = 1, at[0].val.clusterDim.z = 1;
        at[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        at[1].val.programmaticStreamSerializationAllowed = 1;
        cudaLaunchConfig_t cfg = {};
        cfg.gridDim = dim3(tiles, S), cfg.blockDim = dim3(160), cfg.dynamicSmemBytes = smem;
        cfg.stream = st, cfg.attrs = at, cfg.numAttrs = pdl ? 2 : 1;
        const int cc = ci++ % c.copies;
        CK(cudaLaunchKernelEx(&cfg, kern, (*c.wm)[cc], xm, out, c.M, c.N, nslab, ks));
    });
    const double mbytes = (double)c.N * c.K * 2;
    if (NOMMA) {
        printf("  %-11s R %3d ST %d C %d S %2d, cluster, TMA only: %6.2f us (%.2f TB/s), PDL %6.2f\n", name, R,
               ST, C, S, t.ta, mbytes / (t.ta * 1e-6) / 1e12, t.tp);
        return;
    }
    printf("  %-11s R %3d ST %d C %d (%3zu KB, %d a SM) S %2d (%4d blocks), cluster: alone %6.2f us (%.2f TB/s), "
           "PDL %6.2f, +sum %6.2f; cuBLASLt %6.2f  %.1e%s\n",
           name, R, ST, C, smem / 1024, bps, S, tiles * S, t.ta, mbytes / (t.ta * 1e-6) / 1e12, t.tp, t.tr, tl,
           t.err, t.err < 1e-4 ? "" : "  MISMATCH");
}

int main(int argc, char **argv) {
    const int M = argc > 1 ? atoi(argv[1]) : 64;
    const bool mc = argc > 2 && !strcmp(argv[2], "mc"); /* the cluster form against the ring */
    if (M < 1 || M > 256) {
        printf("M must be 1..256 (past 64: cuBLASLt and the plain read only)\n");
        return 1;
    }
    int sms = 0;
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    cublasLtHandle_t lt;
    LK(cublasLtCreate(&lt));
    void *ws;
    const size_t wsb = 32u << 20;
    CK(cudaMalloc(&ws, wsb));
    struct Shape { const char *name; int N, K; } shapes[] = {
        {"q k v g", 12288, 2048}, {"fc1 | gate", 5632, 2048}, {"wo", 2048, 4096}, {"fc2", 2048, 2816}};
    printf("M = %d, %d SMs; us a launch (50 in a CUDA graph, each on its own copy of the weights); "
           "max |ours - cuBLASLt| / max |cuBLASLt|\n", M, sms);
    for (const Shape &sh : shapes) {
        const int N = sh.N, K = sh.K;
        const size_t wbytes = (size_t)N * K * 2;
        const int copies = (int)((600u << 20) / wbytes) + 1;
        std::vector<__nv_bfloat16 *> W(copies);
        std::vector<CUtensorMap> wm32(copies), wm64(copies), wm128(copies), wm256(copies);
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
            wm32[c] = map2d(W[c], K, N, 32);
            wm64[c] = map2d(W[c], K, N, 64), wm128[c] = map2d(W[c], K, N, 128);
            wm256[c] = map2d(W[c], K, N, 256);
        }
        std::vector<__nv_bfloat16 *> T64(copies), T128(copies);
        {
            std::vector<__nv_bfloat16> t64(h.size()), t128(h.size());
            tiled_fill(t64, h, N, K, 64), tiled_fill(t128, h, N, K, 128);
            for (int cc = 0; cc < copies; cc++) {
                CK(cudaMalloc(&T64[cc], wbytes));
                CK(cudaMalloc(&T128[cc], wbytes));
                CK(cudaMemcpy(T64[cc], t64.data(), wbytes, cudaMemcpyHostToDevice));
                CK(cudaMemcpy(T128[cc], t128.data(), wbytes, cudaMemcpyHostToDevice));
            }
        }
        __nv_bfloat16 *X;
        float *Y, *Yl, *P;
        CK(cudaMalloc(&X, (size_t)M * K * 2));
        CK(cudaMemcpy(X, hx.data(), (size_t)M * K * 2, cudaMemcpyHostToDevice));
        CK(cudaMalloc(&Y, (size_t)M * N * 4));
        CK(cudaMalloc(&Yl, (size_t)M * N * 4));
        CK(cudaMalloc(&P, (size_t)SMAX * M * N * 4));
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
        const float tl = graph_us(lt_call);
        ci = 0;
        lt_call(0);
        CK(cudaDeviceSynchronize());
        std::vector<float> b((size_t)M * N);
        CK(cudaMemcpy(b.data(), Yl, (size_t)M * N * 4, cudaMemcpyDeviceToHost));
        double mb = 0;
        for (float v : b) mb = fmax(mb, fabs((double)v));
        printf("%s (N %d, K %d, %.1f MB): cuBLASLt %.2f us (%.2f TB/s)\n", sh.name, N, K, wbytes / 1e6,
               tl, wbytes / (tl * 1e-6) / 1e12);
        if (M > 64) { /* cuBLASLt against the plain read and the tensor cores' floor */
            unsigned *sink;
            CK(cudaMalloc(&sink, 4));
            const int64_t n16 = (int64_t)wbytes / 16;
            int cr = 0;
            const float tr = graph_us([&](cudaStream_t s) {
                read_kernel<<<(unsigned)((n16 + 255) / 256), 256, 0, s>>>((const uint4 *)W[cr++ % copies], n16, sink);
            });
            const double fl = 2.0 * M * N * K;
            printf("  plain read %.2f us; cuBLASLt %.1f TFLOP/s (%.2f us at 800)\n", tr,
                   fl / (tl * 1e-6) / 1e12, fl / 800e12 * 1e6);
            cudaFree(sink);
            for (int i = 0; i < copies; i++) cudaFree(W[i]), cudaFree(T64[i]), cudaFree(T128[i]);
            cudaFree(X), cudaFree(Y), cudaFree(Yl), cudaFree(P);
            continue;
        }
        Case c{X, Y, P, M, N, K, copies, &wm128, nullptr, map2d(X, K, M, 64), b.data(), mb, sms};
        {
            unsigned *sink;
            CK(cudaMalloc(&sink, 4));
            const int64_t n16 = (int64_t)wbytes / 16;
            int cr = 0;
            const float tr = graph_us([&](cudaStream_t s) {
                read_kernel<<<(unsigned)((n16 + 255) / 256), 256, 0, s>>>((const uint4 *)W[cr++ % copies], n16, sink);
            });
            printf("  plain read: %.2f us (%.2f TB/s)\n", tr, wbytes / (tr * 1e-6) / 1e12);
            cudaFree(sink);
        }
        c.wm = &wm64, c.wt = &T64;
        if (mc) { /* what x's share costs, and the cluster form against it */
            run<64, 4, 1>(sh.name, c, 0, tl);
            run<64, 4, 1, 1, 0, 1>(sh.name, c, 0, tl);
            run<64, 4>(sh.name, c, 0, tl);
            run<64, 4>(sh.name, c, 1, tl);
            run_mc<64, 4, 2, 1>(sh.name, c, 0, tl);
            run_mc<64, 4, 4, 1>(sh.name, c, 0, tl);
            run_mc<64, 4, 8, 1>(sh.name, c, 0, tl);
            run_mc<64, 4, 2>(sh.name, c, 0, tl);
            run_mc<64, 4, 4>(sh.name, c, 0, tl);
            run_mc<64, 6, 4>(sh.name, c, 0, tl);
            run_mc<64, 4, 8>(sh.name, c, 0, tl);
            run_mc<64, 4, 4>(sh.name, c, 1, tl);
            run_mc<64, 6, 4>(sh.name, c, 1, tl);
            run_mc<64, 4, 8>(sh.name, c, 1, tl);
            c.wm = &wm32;
            run_mc<32, 6, 4>(sh.name, c, 0, tl);
            run_mc<32, 6, 8>(sh.name, c, 1, tl);
            run_mc<32, 8, 8>(sh.name, c, 1, tl);
            c.wm = &wm128;
            run_mc<128, 4, 4>(sh.name, c, 0, tl);
            run_mc<128, 4, 4>(sh.name, c, 1, tl);
            for (int cc = 0; cc < copies; cc++) cudaFree(T64[cc]), cudaFree(T128[cc]);
            for (int i = 0; i < copies; i++) cudaFree(W[i]);
            cudaFree(X), cudaFree(Y), cudaFree(Yl), cudaFree(P);
            continue;
        }
        run<64, 4, 1>(sh.name, c, 0, tl);
        run<64, 4, 1, 1, 1>(sh.name, c, 0, tl);
        run<64, 8, 1, 1, 1>(sh.name, c, 0, tl);
        run<64, 4>(sh.name, c, 0, tl);
        run<64, 4, 0, 1, 1>(sh.name, c, 0, tl);
        run<64, 6, 0, 1, 1>(sh.name, c, 0, tl);
        run<64, 8, 0, 1, 1>(sh.name, c, 0, tl);
        c.wm = &wm128, c.wt = &T128;
        run<128, 6, 1>(sh.name, c, 0, tl);
        run<128, 6, 1, 1, 1>(sh.name, c, 0, tl);
        run<128, 4, 0, 1, 1>(sh.name, c, 0, tl);
        run<128, 6, 0, 1, 1>(sh.name, c, 0, tl);
        for (int cc = 0; cc < copies; cc++) cudaFree(T64[cc]), cudaFree(T128[cc]);
        for (int i = 0; i < copies; i++) cudaFree(W[i]);
        cudaFree(X), cudaFree(Y), cudaFree(Yl), cudaFree(P);
    }
    return 0;
}
