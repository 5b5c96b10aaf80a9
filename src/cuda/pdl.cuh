/*
 * pdl.cuh: programmatic dependent launch (sm_90), shared by common.cuh's kernels and by
 * retention.cu (which stands alone for the kernel lab, so this header includes nothing of
 * the project). A kernel launched with it may start while the previous kernel in the stream
 * still runs, once all of that kernel's blocks have called pdl_trigger (or exited). Such a
 * kernel must call pdl_wait in every thread before it reads or writes anything a kernel
 * before it writes, and before it exits; before the wait it may read only what no kernel of
 * the chain writes (the weights of a decoding step, the layer's own state, the positions and
 * decays uploaded before it).
 */
#ifndef RETNET_CUDA_PDL_CUH
#define RETNET_CUDA_PDL_CUH

#include <cuda_runtime.h>

/* pdl_wait returns once the kernels before this one have finished and their writes are
 * visible; pdl_trigger lets the next kernel start (its blocks then wait in pdl_wait). No-ops
 * below sm_90 and in kernels launched without the attribute. */
__device__ __forceinline__ void pdl_wait(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

/* A range of memory a later kernel of the chain reads (a decoding step's next weights), for
 * l2_prefetch. */
struct l2_ahead {
    const void *p; /* 16-byte aligned */
    unsigned long long n; /* bytes, a multiple of 16 */
};

/* Asks the L2 for this block's share of a.n bytes at a.p (sm_90's bulk prefetch: no
 * registers, nothing to wait for), in pieces of 16 KB over the first warp's lanes, so that
 * the kernel reading them later finds them in the L2 where the memory would otherwise idle
 * (a chain's latency-bound kernels, the tails of its products). A hint: a no-op below sm_90. */
__device__ __forceinline__ void l2_prefetch(const l2_ahead &a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (!a.n || threadIdx.x >= 32 || threadIdx.y || threadIdx.z) return;
    const unsigned long long nb = (unsigned long long)gridDim.x * gridDim.y * gridDim.z;
    const unsigned long long b = blockIdx.x + (unsigned long long)gridDim.x *
                                                  (blockIdx.y + (unsigned long long)gridDim.y * blockIdx.z);
    const unsigned long long share = ((a.n + nb - 1) / nb + 255) & ~255ull, piece = 16384;
    const unsigned long long lo = b * share, hi = lo + share < a.n ? lo + share : a.n;
    for (unsigned long long o = lo + threadIdx.x * piece; o < hi; o += 32 * piece) {
        const unsigned sz = (unsigned)(hi - o < piece ? hi - o : piece);
        asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"((const char *)a.p + o),
                     "r"(sz)
                     : "memory");
    }
#endif
}

/* k<<<grid, block, smem, s>>>(args...), with the attribute where `pdl`, and blocks grouped in
 * thread block clusters of cluster_x along x where cluster_x > 1 (sm_90); the launch's error */
template <typename... KArgs, typename... Args>
static inline cudaError_t pdl_launch_cluster(int pdl, unsigned cluster_x, void (*k)(KArgs...),
                                             dim3 grid, dim3 block, size_t smem, cudaStream_t s,
                                             Args... args) {
    cudaLaunchAttribute at[2];
    unsigned n = 0;
    if (pdl) {
        at[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        at[n++].val.programmaticStreamSerializationAllowed = 1;
    }
    if (cluster_x > 1) {
        at[n].id = cudaLaunchAttributeClusterDimension;
        at[n].val.clusterDim.x = cluster_x, at[n].val.clusterDim.y = 1;
        at[n++].val.clusterDim.z = 1;
    }
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid, cfg.blockDim = block, cfg.dynamicSmemBytes = smem, cfg.stream = s;
    cfg.attrs = at, cfg.numAttrs = n;
    return cudaLaunchKernelEx(&cfg, k, args...);
}

template <typename... KArgs, typename... Args>
static inline cudaError_t pdl_launch(int pdl, void (*k)(KArgs...), dim3 grid, dim3 block,
                                     size_t smem, cudaStream_t s, Args... args) {
    return pdl_launch_cluster(pdl, 1, k, grid, block, smem, s, args...);
}

#endif
