/*
 * read_lab.cu (lab): the floor for one decoding product's launch, a plain read of its weights.
 * At B = 1 the step's products stream 2.6 GB in ~0.93 ms (ncu: the q k v g launch, 50 MB, in
 * 18.7 us at 2.8 TB/s, cold), where a long read runs at ~4.5 TB/s. How much of the gap is the
 * launch itself (fill, drain, the last wave), and how much the gemv kernel? Here: reads of the
 * products' sizes (16.8, 23.1, 50.3 MB, and 2.6 GB's worth in one launch), each launch on a
 * buffer of its own (a ring of buffers over 1 GB, so L2 holds none), stream-ordered, with and
 * without programmatic launch (the next launch's loads issued before griddepcontrol.wait, as
 * the gemv kernels do), for one-shot grids of U 16-byte loads a thread. A sum a block is
 * stored so the loads are not dropped. Standalone: nvcc -O3 -arch=sm_90a read_lab.cu
 *
 * Measured (dev/cuda/runs/next139.sh, H200): under programmatic launch a one-shot grid of 4-16 loads
 * a thread reads q k v g's 50 MB in 11.7-11.9 us (4.27 TB/s), fc1 | gate's 23 MB in 5.3-6.0,
 * wo's 16.8 MB in 3.8-4.4, fc2's 11.5 MB in 3.2-3.9; one load a thread is slower (15.5 us for
 * q k v g). Cold, one launch at a time (ncu): 14.0, 8.0, 6.6, 5.5 us, where the gemv kernels
 * take 18.6, 12.5, 11.8, 9.8 (next140): 4.4-5.2 us more a launch whatever its size. The 1 GB
 * read: 4555 GB/s. rdw (next140's stand-in for the work after the loads) failed there (its
 * shared slots lay in the dynamic allocation, size 0 when uncapped); fixed since, not run.
 */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

#define CK(x) do { cudaError_t e = (x); if (e) { printf("%s: %s\n", #x, cudaGetErrorString(e)); return 1; } } while (0)

__device__ __forceinline__ void wait_prior() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
__device__ __forceinline__ void trigger() { asm volatile("griddepcontrol.launch_dependents;"); }

/* block b, thread t: uint4s (b U + u) T + t, u < U (coalesced across the block), loaded before
 * the programmatic-launch wait (as the gemv kernels load their weights), then xor-ed */
template <int U, int T>
__device__ __forceinline__ uint32_t read_xor(const uint4 *w, long n16, int pdl) {
    if (pdl) trigger();
    const long base = (long)blockIdx.x * T * U + threadIdx.x;
    uint4 r[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
        const long i = base + (long)u * T;
        r[u] = i < n16 ? __ldcs(w + i) : make_uint4(0, 0, 0, 0);
    }
    if (pdl) wait_prior();
    uint32_t acc = 0;
#pragma unroll
    for (int u = 0; u < U; u++) acc ^= r[u].x ^ r[u].y ^ r[u].z ^ r[u].w;
    for (int o = 16; o; o >>= 1) acc ^= __shfl_xor_sync(0xffffffffu, acc, o);
    return acc;
}

/* the plain read: a warp's xor stored only if it is a value no data here makes (never), so
 * the loads stay and almost nothing is written */
template <int U, int T>
__global__ void __launch_bounds__(T) rd(const uint4 *w, long n16, float *sink, int pdl, int) {
    const uint32_t acc = read_xor<U, T>(w, n16, pdl);
    if (acc == 0x7f7f7f7fu && (threadIdx.x & 31) == 0) sink[blockIdx.x % 1024] = (float)acc;
}

/* rd with the work a gemv block does after its loads, as a stand-in: `spin` cycles of a warp
 * (the products, the warp's sums), then a block barrier (the warps' partial sums); dynamic
 * shared memory (unused) caps the blocks an SM */
template <int U, int T>
__global__ void __launch_bounds__(T) rdw(const uint4 *w, long n16, float *sink, int pdl, int spin) {
    extern __shared__ float pad[]; /* only to cap the blocks an SM */
    __shared__ float part[T / 32];
    uint32_t acc = read_xor<U, T>(w, n16, pdl);
    const long long t0 = clock64();
    while (clock64() - t0 < spin) acc = acc * 1664525u + 1013904223u;
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = (float)acc;
    __syncthreads();
    if (threadIdx.x == 0 && part[1] == 12345.0f) sink[blockIdx.x % 1024] = part[0];
}

/* reps launches of rd (work 0) or rdw (work 1), each on the next buffer of the ring, after as
 * many to warm up; a line with the time a launch */
template <int U, int T>
static int run(const char *name, uint4 *buf, long ring16, long n16, int reps, int pdl, float *sink,
               cudaStream_t s, int work = 0, int spin = 0, int smem = 0) {
    void (*k)(const uint4 *, long, float *, int, int) = work ? rdw<U, T> : rd<U, T>;
    const long blocks = (n16 + (long)T * U - 1) / ((long)T * U);
    if (work) CK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024));
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.gridDim = dim3((unsigned)blocks), cfg.blockDim = dim3(T), cfg.stream = s;
    cfg.attrs = at, cfg.numAttrs = pdl ? 1 : 0, cfg.dynamicSmemBytes = smem;
    int per_sm = 0;
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k, T, smem));
    const long slots = ring16 / n16;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int pass = 0; pass < 2; pass++) { /* pass 0 warms up */
        CK(cudaEventRecord(e0, s));
        for (int r = 0; r < reps; r++)
            CK(cudaLaunchKernelEx(&cfg, k, (const uint4 *)(buf + (r % slots) * n16), n16, sink,
                                  pdl, spin));
        CK(cudaEventRecord(e1, s));
        CK(cudaEventSynchronize(e1));
    }
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    const double us = 1e3 * ms / reps;
    if (work)
        printf("%-10s work U %d T %d spin %5d  blocks/SM %2d  %8.1f MB  %8.2f us  %6.0f GB/s\n",
               name, U, T, spin, per_sm, 16e-6 * n16, us, 16.0 * n16 / us * 1e-3);
    else
        printf("%-10s U %2d T %3d pdl %d  %8.1f MB  %6ld blocks  %8.2f us  %6.0f GB/s\n", name, U,
               T, pdl, 16e-6 * n16, blocks, us, 16.0 * n16 / us * 1e-3);
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    return 0;
}

int main(int argc, char **argv) {
    const int reps = argc > 1 ? atoi(argv[1]) : 200; /* fewer under ncu */
    const long ring = 1L << 30; /* bytes */
    uint4 *buf;
    float *sink;
    CK(cudaMalloc(&buf, ring));
    CK(cudaMalloc(&sink, 4096));
    CK(cudaMemset(buf, 1, ring));
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    /* the 1.3B fla shape's products, bytes: q k v g, fc1 | gate, wo, fc2 */
    const long sizes[4] = {2L * 2048 * 12288, 2L * 2 * 2816 * 2048, 2L * 4096 * 2048, 2L * 2816 * 2048};
    const char *names[4] = {"qkvg", "fc1|gate", "wo", "fc2"};
    for (int pdl = 0; pdl < 2; pdl++)
        for (int i = 0; i < 4; i++) {
            const long n16 = sizes[i] / 16;
            if (run<1, 256>(names[i], buf, ring / 16, n16, reps, pdl, sink, s)) return 1;
            if (run<4, 128>(names[i], buf, ring / 16, n16, reps, pdl, sink, s)) return 1;
            if (run<8, 128>(names[i], buf, ring / 16, n16, reps, pdl, sink, s)) return 1;
            if (run<16, 256>(names[i], buf, ring / 16, n16, reps, pdl, sink, s)) return 1;
        }
    /* the gemv kernel's shape (3072 blocks of 128 threads, 8 loads a thread for q k v g) with
     * work after the loads and the blocks an SM capped: 16, 8, 7 (the FMA gemv's 71
     * registers), 4; spin 0, 1000, 3000 cycles */
    const int smems[4] = {0, 26 * 1024, 30 * 1024, 54 * 1024};
    const int spins[3] = {0, 1000, 3000};
    for (int i = 0; i < 4; i += 2)
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 3; b++)
                if (run<8, 128>(names[i], buf, ring / 16, sizes[i] / 16, reps, 1, sink, s, 1, spins[b], smems[a]))
                    return 1;
    /* a long read: what the bandwidth is without launches */
    if (run<4, 256>("1 GB", buf, ring / 16, ring / 16, reps < 10 ? reps : 10, 0, sink, s)) return 1;
    if (run<8, 128>("1 GB", buf, ring / 16, ring / 16, reps < 10 ? reps : 10, 0, sink, s)) return 1;
    return 0;
}
