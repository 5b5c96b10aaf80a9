/*
 * mbar_race_lab.cu (lab): does compute-sanitizer's racecheck order an mbarrier's init by one
 * thread before another thread's arrive.expect_tx across a block barrier? (next251: warnings
 * "mbar_init against mbar_expect_tx" in the wgmma retention kernel since its next-chunk loads
 * moved to warpgroup 1, where thread 0 initialises the barriers and thread 128 arrives on them,
 * a `barrier.sync 0` or more between.) Variant v: 0 `barrier.sync 0`, 1 `bar.sync 0`,
 * 2 __syncthreads(), 3 the same thread initialises and arrives (the control).
 * Standalone: nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a mbar_race_lab.cu
 */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../src/cuda/mbar.cuh"

__global__ void lab(int v, int *out) {
    __shared__ __align__(8) unsigned long long bar;
    const uint32_t b = smem_u32(&bar);
    if (threadIdx.x == 0) {
        mbar_init(b, 1);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    if (v == 0) asm volatile("barrier.sync 0;\n" ::: "memory");
    else if (v == 1) asm volatile("bar.sync 0;\n" ::: "memory");
    else __syncthreads();
    if (threadIdx.x == (v == 3 ? 0 : 128)) mbar_expect_tx(b, 0);
    mbar_wait(b, 0);
    if (threadIdx.x == 0) out[blockIdx.x] = 1;
}

int main(int argc, char **argv) {
    const int v = argc > 1 ? atoi(argv[1]) : 0;
    int *out;
    cudaMalloc(&out, 64 * sizeof(int));
    lab<<<4, 256>>>(v, out);
    const cudaError_t e = cudaDeviceSynchronize();
    printf("variant %d: %s\n", v, cudaGetErrorString(e));
    return e != cudaSuccess;
}
