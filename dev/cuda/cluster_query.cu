// cluster_query.cu (lab): could the persistent B = 1 step (decode_persistent.cu: 128 blocks of
// 288 threads, one an SM with ~220 KB of shared memory, launched cooperatively) run as
// clusters of C blocks, e.g. a head's 16 blocks in one cluster, so that q and k could reach the
// head's blocks through distributed shared memory instead of tagged stores polled in L2?
// Prints cudaOccupancyMaxActiveClusters for C = 1, 2, 4, 8, 16 at that shape, then tries the
// launch itself (128 blocks, cooperative and clustered at once) for each C and reports what
// the runtime says and the SMs the blocks landed on.
//
//   nvcc -std=c++17 -arch=sm_90a dev/cuda/cluster_query.cu -o build/cluster_query && build/cluster_query
#include <cooperative_groups.h>
#include <cstdio>

namespace cg = cooperative_groups;

constexpr int NB = 128, NT = 288, SMEM = 220 * 1024;

__global__ void probe(int *sm_of, int *rank_of) {
    extern __shared__ unsigned char sm[];
    sm[threadIdx.x] = 1;
    unsigned smid;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(smid));
    if (threadIdx.x == 0) {
        sm_of[blockIdx.x] = (int)smid;
        rank_of[blockIdx.x] = (int)cg::this_cluster().block_rank();
    }
    cg::this_grid().sync(); // a cooperative launch's grid barrier: every block resident
}

int main() {
    cudaDeviceProp pr;
    cudaGetDeviceProperties(&pr, 0);
    printf("%s: %d SMs, %zu B shared opt-in\n", pr.name, pr.multiProcessorCount, pr.sharedMemPerBlockOptin);
    cudaFuncSetAttribute(probe, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM);
    cudaFuncSetAttribute(probe, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
    int *sm_of, *rank_of;
    cudaMalloc(&sm_of, NB * sizeof(int));
    cudaMalloc(&rank_of, NB * sizeof(int));
    for (int c : {1, 2, 4, 8, 16}) {
        cudaLaunchConfig_t cfg = {};
        cfg.gridDim = dim3(NB), cfg.blockDim = dim3(NT), cfg.dynamicSmemBytes = SMEM;
        cudaLaunchAttribute at[2];
        at[0].id = cudaLaunchAttributeClusterDimension;
        at[0].val.clusterDim.x = c, at[0].val.clusterDim.y = 1, at[0].val.clusterDim.z = 1;
        at[1].id = cudaLaunchAttributeCooperative, at[1].val.cooperative = 1;
        cfg.attrs = at, cfg.numAttrs = 1;
        int clusters = -1;
        cudaError_t e = cudaOccupancyMaxActiveClusters(&clusters, probe, &cfg);
        printf("cluster %2d: max active clusters %d (%d blocks at once; %s)", c, clusters,
               clusters * c, cudaGetErrorString(e));
        cudaGetLastError();
        cfg.numAttrs = 2;
        cudaMemset(sm_of, 0xff, NB * sizeof(int));
        e = cudaLaunchKernelEx(&cfg, probe, sm_of, rank_of);
        cudaError_t e2 = cudaDeviceSynchronize();
        printf("; cooperative launch of %d: %s / %s", NB, cudaGetErrorString(e), cudaGetErrorString(e2));
        cudaGetLastError();
        if (e == cudaSuccess && e2 == cudaSuccess) {
            int h[NB];
            cudaMemcpy(h, sm_of, sizeof h, cudaMemcpyDeviceToHost);
            printf("; blocks 0-15 on SMs");
            for (int i = 0; i < 16; i++) printf(" %d", h[i]);
        }
        printf("\n");
    }
    return 0;
}
