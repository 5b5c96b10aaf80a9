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
