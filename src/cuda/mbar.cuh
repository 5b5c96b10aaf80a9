/*
 * mbar.cuh: shared-memory addresses, per-thread async copies (cp.async, sm_80), mbarriers and
 * bulk copies (sm_90), for the kernels that stream through shared memory (retention.cu,
 * attention.cu, norm.cu's backward, dev/cuda/ring_lab.cu). Like
 * pdl.cuh it includes nothing of the project: retention.cu stands alone for the kernel lab.
 * Below sm_90 the mbarrier and bulk helpers compile to nothing; no kernel uses them there.
 */
#ifndef RETNET_CUDA_MBAR_CUH
#define RETNET_CUDA_MBAR_CUH

#include <cuda_runtime.h>
#include <stdint.h>

__device__ __forceinline__ uint32_t smem_u32(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* 16 bytes global -> shared, asynchronously; src_bytes 0 fills the 16 bytes with zeros */
__device__ __forceinline__ void cp_async16(uint32_t dst, const void *src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
                 "r"(src_bytes)
                 : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}
/* until at most N of this thread's committed groups are still in flight; what completed is
 * visible to this thread (other threads: after a barrier) */
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define RETNET_MBAR_ASM(...) asm volatile(__VA_ARGS__)
#else
#define RETNET_MBAR_ASM(...) ((void)0)
#endif

/* an mbarrier at shared address bar expecting `count` arrivals a phase */
__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
    RETNET_MBAR_ASM("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
/* one arrival that also expects `bytes` of transactions (bulk copies completing on bar) */
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
    RETNET_MBAR_ASM("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar),
                    "r"(bytes)
                    : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
    RETNET_MBAR_ASM("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
/* until the phase of the given parity has completed */
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
    RETNET_MBAR_ASM("{\n.reg .pred P1;\nWAIT_%=:\n"
                    "mbarrier.try_wait.parity.shared::cta.b64 P1, [%0], %1;\n"
                    "@P1 bra DONE_%=;\nbra WAIT_%=;\nDONE_%=:\n}\n" ::"r"(bar),
                    "r"(parity)
                    : "memory");
}
/* whether the phase of the given parity has completed, without waiting */
__device__ __forceinline__ bool mbar_test(uint32_t bar, uint32_t parity) {
    uint32_t ok = 0;
    RETNET_MBAR_ASM("{\n.reg .pred P1;\nmbarrier.try_wait.parity.shared::cta.b64 P1, [%1], %2;\n"
                    "selp.u32 %0, 1, 0, P1;\n}\n"
                    : "=r"(ok)
                    : "r"(bar), "r"(parity)
                    : "memory");
    return ok;
}
/* bytes (a multiple of 16; both addresses 16-byte aligned) global -> shared, counted on bar */
__device__ __forceinline__ void bulk_load(uint32_t dst, const void *src, uint32_t bytes,
                                          uint32_t bar) {
    RETNET_MBAR_ASM("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], "
                    "[%1], %2, [%3];\n" ::"r"(dst),
                    "l"(src), "r"(bytes), "r"(bar)
                    : "memory");
}

#endif
