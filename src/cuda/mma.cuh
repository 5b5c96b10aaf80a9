/*
 * mma.cuh: the tensor-core product the mma.sync kernels share (retention.cu's chunk_kernel,
 * gemv.cu's gemv_mma_kernel). Like pdl.cuh it includes nothing of the project: retention.cu
 * stands alone for the kernel lab. sm_80 and later.
 */
#ifndef RETNET_CUDA_MMA_CUH
#define RETNET_CUDA_MMA_CUH

#include <stdint.h>

/* d += a b: a 16x16 (row), b 16x8 (col), bf16; d 16x8 fp32. Fragments (g = lane/4,
 * t = lane%4): a0 (g, 2t..), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..);
 * b0 (k 2t.., n g), b1 (k 2t+8.., n g); d0,d1 (g, 2t..), d2,d3 (g+8, 2t..). */
__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
        "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

#endif
