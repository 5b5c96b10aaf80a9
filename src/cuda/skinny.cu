/*
 * skinny.cu: products with a few dozen rows of activations against a whole weight (decoding at
 * B = 17-64: wo and fc2, y (M, N) += x (M, K) W (N, K)^T), on Hopper. cuBLASLt's kernels there
 * read wo's 16.8 MB at ~1.7 TB/s, fc2's 11.5 MB at ~1.35, their split-K reductions included
 * (dev/cuda/skinny_lab.cu, next186.sh); this kernel streams the weights through shared memory
 * and leaves the slices of K unsummed, for the kernel that reads the product next (the
 * residual's norm, cuda_op_residual_norm_bf16) to add them as it reads the residual.
 *
 * A block: 64 weight rows by one slice of K, one warpgroup (128 threads). Thread 0 keeps ST
 * stages in flight, each a 64 x 64 box of the weights and a 64 x 64 box of x (rows past M
 * zero-filled) copied by the tensor memory accelerator (TMA), 128-byte swizzled; the
 * warpgroup multiplies them with wgmma (m64n64k16: x as A, the weights as a K-major B, their
 * own layout), D = x W^T in registers, and stores its slice's partial sums into part
 * (S, M, N) fp32. The weights' first stages are asked for before the programmatic-launch wait
 * (no kernel of a decoding step writes them), x's after it. Lab figures at M = 64, us under
 * programmatic launch against cuBLASLt: wo 6.6 against 9.9, fc2 5.9 against 8.6 (next186).
 *
 * The sums over K are fp32 in wgmma's order and then in slice order: the same error bound as
 * cuBLAS's (K u_f32 of sum |x w|), not the same bits.
 */
#include "cuda/common.cuh"
#include "cuda/mbar.cuh"

#include <cuda.h> /* CUtensorMap */
#include <cudaTypedefs.h> /* PFN_cuTensorMapEncodeTiled (no link to libcuda) */
#include <stdlib.h>
#include <string.h>

#define SK_R 64       /* weight rows a block */
#define SK_ST 4       /* stages in flight */
#define SK_SMAX 16    /* slices of K at most */
#define SK_MIN_M 17   /* rows of x: past the gemv kernels' 16 */
#define SK_MAX_M 64   /* one warpgroup's wgmma rows */

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SK_BODY 1
#define SK_BOUNDS __launch_bounds__(128, 1)
#else
#define SK_BODY 0
#define SK_BOUNDS __launch_bounds__(32) /* the stub: tells the host not to use it */
#endif

#if SK_BODY
/* K-major operand, 128-byte swizzle: start address, stride between 8-row groups */
__device__ __forceinline__ uint64_t sk_desc(uint32_t addr) {
    return (uint64_t)((addr & 0x3FFFFu) >> 4) | ((uint64_t)1 << 16) | ((uint64_t)(1024 >> 4) << 32) |
           ((uint64_t)1 << 62);
}
/* D (64 x 64 fp32) += A (64 x 16) B (16 x 64), both bf16 from shared memory */
__device__ __forceinline__ void sk_mma(float (&d)[32], uint64_t a, uint64_t b) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, "
                 "%17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
                 "%32, %33, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),
                   "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]),
                   "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]),
                   "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]),
                   "+f"(d[30]), "+f"(d[31])
                 : "l"(a), "l"(b));
}
/* a 2-D box of a tensor map at (c0, c1) into shared memory at dst, completing on bar */
__device__ __forceinline__ void sk_tma(uint32_t dst, const void *map, int c0, int c1, uint32_t bar) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst), "l"(map), "r"(c0), "r"(c1), "r"(bar)
                 : "memory");
}
#endif

/* part[s] (M, N) = x (M, K) W (N, K)^T over K's slabs of 64 [s ks, s ks + ks) */
__global__ void SK_BOUNDS skinny_kernel(const __grid_constant__ CUtensorMap wmap,
                                        const __grid_constant__ CUtensorMap xmap, float *part,
                                        int M, int N, int nslab, int ks) {
#if SK_BODY
    constexpr uint32_t WB = SK_R * 128, XB = 64 * 128, SB = WB + XB;
    extern __shared__ unsigned char sk_smem[];
    __shared__ __align__(8) uint64_t full[SK_ST];
    const uint32_t base = (smem_u32(sk_smem) + 1023) & ~1023u; /* the swizzle's 1 KB atoms */
    const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
    const int n0 = blockIdx.x * SK_R, s = blockIdx.y;
    const int k0 = s * ks, nk = min(nslab, k0 + ks) - k0;
    if (tid == 0) {
        for (int i = 0; i < SK_ST; i++) mbar_init(smem_u32(&full[i]), 1);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    }
    __syncthreads();
    pdl_trigger();
    if (tid == 0)
        for (int i = 0; i < SK_ST && i < nk; i++) {
            mbar_expect_tx(smem_u32(&full[i]), SB);
            sk_tma(base + i * SB, &wmap, (k0 + i) * 64, n0, smem_u32(&full[i]));
        }
    pdl_wait(); /* x is the kernel before's output */
    if (tid == 0)
        for (int i = 0; i < SK_ST && i < nk; i++)
            sk_tma(base + i * SB + WB, &xmap, (k0 + i) * 64, 0, smem_u32(&full[i]));
    float d[32];
#pragma unroll
    for (int i = 0; i < 32; i++) d[i] = 0.0f;
    for (int i = 0; i < nk; i++) {
        const int st = i % SK_ST;
        mbar_wait(smem_u32(&full[st]), (i / SK_ST) & 1);
        const uint32_t sw = base + st * SB, sx = sw + WB;
        asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
        for (int kk = 0; kk < 4; kk++) sk_mma(d, sk_desc(sx + kk * 32), sk_desc(sw + kk * 32));
        asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
        asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
#pragma unroll
        for (int j = 0; j < 32; j++) asm volatile("" : "+f"(d[j])::"memory");
        __syncthreads(); /* every thread's wgmma has read stage st: refill it */
        if (tid == 0 && i + SK_ST < nk) {
            mbar_expect_tx(smem_u32(&full[st]), SB);
            sk_tma(sw, &wmap, (k0 + i + SK_ST) * 64, n0, smem_u32(&full[st]));
            sk_tma(sx, &xmap, (k0 + i + SK_ST) * 64, 0, smem_u32(&full[st]));
        }
    }
    /* d[4j + e]: x row 16 w + lane / 4 + 8 (e / 2), weight row n0 + 8 j + 2 (lane % 4) + e % 2 */
    float *p = part + (size_t)s * M * N;
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int m = 16 * w + (lane >> 2) + 8 * h, n = n0 + 8 * j + 2 * (lane & 3);
            if (m < M)
                *reinterpret_cast<float2 *>(p + (size_t)m * N + n) =
                    make_float2(d[4 * j + 2 * h], d[4 * j + 2 * h + 1]);
        }
#endif
}

static size_t skinny_smem(void) { return (size_t)SK_ST * (SK_R * 128 + 64 * 128) + 1024; }

/* cuTensorMapEncodeTiled, from the driver through the runtime (no link to libcuda) */
static PFN_cuTensorMapEncodeTiled_v12000 skinny_encoder(void) {
    static PFN_cuTensorMapEncodeTiled_v12000 fn = nullptr;
    if (!fn) {
        void *f = nullptr;
        cudaDriverEntryPointQueryResult q;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault,
                                             &q) == cudaSuccess &&
            q == cudaDriverEntryPointSuccess)
            fn = (PFN_cuTensorMapEncodeTiled_v12000)f;
        (void)cudaGetLastError();
    }
    return fn;
}

/* The kernel runs where this file was built for sm_90a, the device is 9.0 and the driver
 * encodes tensor maps; RETNET_CUDA_SKINNY=0 turns it off (cuBLASLt then). */
static int skinny_available(void) {
    static int ok = -1;
    if (ok < 0) {
        const char *e = getenv("RETNET_CUDA_SKINNY");
        int dev = 0, major = 0, minor = 0;
        cudaFuncAttributes fa;
        ok = !(e && !strcmp(e, "0")) && cudaGetDevice(&dev) == cudaSuccess &&
             cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
             cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess &&
             major == 9 && minor == 0 && cudaFuncGetAttributes(&fa, skinny_kernel) == cudaSuccess &&
             fa.maxThreadsPerBlock >= 128 && skinny_encoder() != nullptr &&
             cudaFuncSetAttribute(skinny_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  (int)skinny_smem()) == cudaSuccess;
        (void)cudaGetLastError();
    }
    return ok;
}

int cuda_skinny_suits(int64_t M, int64_t N, int64_t K, const void *x, const void *w) {
    return M >= SK_MIN_M && M <= SK_MAX_M && N >= SK_R && N % SK_R == 0 && N <= INT32_MAX &&
           K >= 64 && K % 64 == 0 && K <= INT32_MAX && ((uintptr_t)x & 15) == 0 &&
           ((uintptr_t)w & 15) == 0 && skinny_available();
}

/* slices for about three blocks an SM (65 KB of shared memory each), whole slabs a slice;
 * RETNET_CUDA_SKINNY_S=n asks for n (lab) */
static int skinny_ks(int64_t N, int64_t K) {
    const int nslab = (int)(K / 64), tiles = (int)(N / SK_R);
    static int forced = -1;
    if (forced < 0) {
        const char *e = getenv("RETNET_CUDA_SKINNY_S");
        forced = e ? atoi(e) : 0;
    }
    int S = forced > 0 ? forced : 3 * cuda_sm_count() / tiles;
    if (S > SK_SMAX) S = SK_SMAX;
    if (S > nslab) S = nslab;
    if (S < 1) S = 1;
    return (nslab + S - 1) / S;
}

int cuda_skinny_slices(int64_t N, int64_t K) {
    const int nslab = (int)(K / 64), ks = skinny_ks(N, K);
    return (nslab + ks - 1) / ks;
}

/* a (rows, K) bf16 matrix as boxes of 64 k x 64 rows, 128-byte swizzled; rows past `rows`
 * read as zeros */
static retnet_status skinny_map(CUtensorMap *m, const void *p, int64_t K, int64_t rows) {
    cuuint64_t dims[2] = {(cuuint64_t)K, (cuuint64_t)rows}, strides[1] = {(cuuint64_t)K * 2};
    cuuint32_t box[2] = {64, 64}, ones[2] = {1, 1};
    const CUresult r = skinny_encoder()(m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<void *>(p),
                                        dims, strides, box, ones, CU_TENSOR_MAP_INTERLEAVE_NONE,
                                        CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                                        CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS)
        return retnet_fail(RETNET_EDEVICE, "cuda_op_skinny: cuTensorMapEncodeTiled failed (%d)",
                           (int)r);
    return RETNET_OK;
}

retnet_status cuda_op_skinny(float *part, const cuda_bf16 *x, const cuda_bf16 *w, int64_t M,
                             int64_t N, int64_t K, cuda_stream s) {
    if (!part || !x || !w || !cuda_skinny_suits(M, N, K, x, w))
        return retnet_fail(RETNET_EUNSUPPORTED, "cuda_op_skinny: M %lld, N %lld, K %lld: not "
                           "taken (cuda_skinny_suits)", (long long)M, (long long)N, (long long)K);
    CUtensorMap wm, xm;
    TRY(skinny_map(&wm, w, K, N));
    TRY(skinny_map(&xm, x, K, M));
    const int nslab = (int)(K / 64), ks = skinny_ks(N, K), S = (nslab + ks - 1) / ks;
    CUDA_TRY(cuda_launch(skinny_kernel, dim3((unsigned)(N / SK_R), (unsigned)S), dim3(128),
                         skinny_smem(), (cudaStream_t)s, wm, xm, part, (int)M, (int)N, nslab, ks),
             "cuda_op_skinny");
    return RETNET_OK;
}
