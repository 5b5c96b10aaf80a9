/*
 * lab.cuh (lab): what ring_lab.cu and mega_lab.cu share: the CUDA error check, the plain read
 * that their streams are measured against, and the acquire load their meetings poll with.
 */
#ifndef RETNET_DEV_LAB_CUH
#define RETNET_DEV_LAB_CUH
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#define CK(x)                                                                                  \
    do {                                                                                       \
        cudaError_t e_ = (x);                                                                  \
        if (e_) {                                                                              \
            printf("%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_));          \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

/* n uint4s at p read once, grid-stride, 4 in flight a thread, streamed past the caches */
__global__ void read_kernel(const uint4 *p, long n, float *sink) {
    float acc = 0.f;
    const long stride = (long)gridDim.x * blockDim.x;
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    for (; i + 3 * stride < n; i += 4 * stride) {
        uint4 v[4];
#pragma unroll
        for (int u = 0; u < 4; u++) v[u] = __ldcs(p + i + u * stride);
#pragma unroll
        for (int u = 0; u < 4; u++) acc += __uint_as_float(v[u].x ^ v[u].y ^ v[u].z ^ v[u].w);
    }
    for (; i < n; i += stride) acc += __uint_as_float(p[i].x);
    if (acc == 1.2345f) *sink = acc;
}

/* a gpu-scope acquire load: a meeting's poll, ordered before what follows it */
__device__ __forceinline__ unsigned ld_acquire(const unsigned *p) {
    unsigned v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
    return v;
}
#endif
