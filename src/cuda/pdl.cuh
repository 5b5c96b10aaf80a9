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

/* L2 prefetch of weights a later kernel of the chain reads (a decoding step's products): a
 * kernel that leaves the memory bus idle while it runs (the recurrent step, whose 4 MB of
 * state take microseconds of latency, not of bandwidth) issues bulk prefetches of up to
 * L2PF_RANGES address ranges, so that the products after it read from L2 what the bus would
 * otherwise stream only once they start. A hint: nothing waits for it, and a range evicted
 * before its use is read again from memory. The host names the ranges for the next launch
 * with l2pf_next (one launch consumes them: l2pf_take). */
#define L2PF_RANGES 4
struct l2pf {
    const char *p[L2PF_RANGES]; /* 16-byte aligned */
    unsigned long long n[L2PF_RANGES]; /* bytes, multiples of 16 */
};
inline thread_local l2pf l2pf_pending = {};
static inline void l2pf_next(const l2pf &r) { l2pf_pending = r; }
static inline l2pf l2pf_take(void) {
    const l2pf r = l2pf_pending;
    l2pf_pending = l2pf{};
    return r;
}

/* Block `blk` of `nblk` issues its share of the ranges' 64 KB pieces (sm_90's
 * cp.async.bulk.prefetch.L2; nothing below it) */
__device__ __forceinline__ void l2pf_issue(const l2pf &r, unsigned blk, unsigned nblk) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    constexpr unsigned long long piece = 1ull << 16;
    unsigned long long g = blk + (unsigned long long)nblk * threadIdx.x, base = 0;
    const unsigned long long step = (unsigned long long)nblk * blockDim.x;
#pragma unroll
    for (int i = 0; i < L2PF_RANGES; i++) {
        const unsigned long long np = (r.n[i] + piece - 1) / piece;
        for (; g < base + np; g += step) {
            const unsigned long long off = (g - base) * piece;
            const unsigned long long left = r.n[i] - off;
            const unsigned bytes = (unsigned)(left < piece ? left : piece);
            asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(r.p[i] + off),
                         "r"(bytes)
                         : "memory");
        }
        base += np;
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
