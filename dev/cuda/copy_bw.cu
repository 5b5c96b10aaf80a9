/*
 * copy_bw.cu (lab): the ceiling for the decoding step's state update, which reads and
 * rewrites every fp32 state once (512 MB a layer at B = 64 for the 1.3B model; step_kernel
 * runs it at ~3.9 TB/s, next48.sh's ncu). Timed: s = a s + b over 512 MB and 2 GB in place,
 * float4 per access, U accesses in flight per thread, with and without the streaming cache
 * hints (__ldcs / __stcs), one-shot grids and grid-stride grids of k blocks an SM; and reads
 * only, writes only. Standalone: nvcc -O2 -arch=sm_90a copy_bw.cu
 */
#include <cuda_runtime.h>
#include <stdio.h>

#define CK(x) do { cudaError_t e = (x); if (e) { printf("%s: %s\n", #x, cudaGetErrorString(e)); return 1; } } while (0)

template <int U, bool HINT>
__global__ void __launch_bounds__(256) update(float4 *s, long n4, float a, float b) {
    const long stride = (long)gridDim.x * blockDim.x * U;
    for (long base = (long)blockIdx.x * blockDim.x * U + threadIdx.x; base < n4; base += stride) {
        float4 r[U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const long i = base + (long)u * blockDim.x;
            if (i < n4) r[u] = HINT ? __ldcs(s + i) : s[i];
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const long i = base + (long)u * blockDim.x;
            if (i < n4) {
                float4 v = r[u];
                v.x = a * v.x + b, v.y = a * v.y + b, v.z = a * v.z + b, v.w = a * v.w + b;
                if (HINT) __stcs(s + i, v);
                else s[i] = v;
            }
        }
    }
}
template <int U>
__global__ void __launch_bounds__(256) readonly(const float4 *s, long n4, float *sink) {
    const long stride = (long)gridDim.x * blockDim.x * U;
    float acc = 0;
    for (long base = (long)blockIdx.x * blockDim.x * U + threadIdx.x; base < n4; base += stride) {
#pragma unroll
        for (int u = 0; u < U; u++) {
            const long i = base + (long)u * blockDim.x;
            if (i < n4) { const float4 v = __ldcs(s + i); acc += v.x + v.y + v.z + v.w; }
        }
    }
    if (acc == 1234.5f) *sink = acc;
}
__global__ void __launch_bounds__(256) writeonly(float4 *s, long n4) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += (long)gridDim.x * blockDim.x)
        __stcs(s + i, make_float4(1, 2, 3, 4));
}

int main(void) {
    int sms = 0;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
    float4 *s;
    float *sink;
    const long maxb = 2l << 30;
    CK(cudaMalloc(&s, maxb));
    CK(cudaMalloc(&sink, 4));
    CK(cudaMemset(s, 0, maxb));
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0), cudaEventCreate(&e1);
    auto time = [&](auto launch, double bytes, const char *what) {
        for (int i = 0; i < 3; i++) launch();
        cudaEventRecord(e0);
        const int reps = 20;
        for (int i = 0; i < reps; i++) launch();
        cudaEventRecord(e1);
        cudaEventSynchronize(e1);
        float ms;
        cudaEventElapsedTime(&ms, e0, e1);
        printf("%-48s %8.1f us  %6.2f TB/s\n", what, ms * 1e3 / reps, bytes * reps / (ms * 1e-3) * 1e-12);
    };
    char w[96];
    for (long bytes : {512l << 20, 2l << 30}) {
        const long n4 = bytes / 16;
        printf("-- %ld MB, read + write counted\n", bytes >> 20);
#define ONE(U, H)                                                                                   \
        {                                                                                           \
            const unsigned g1 = (unsigned)((n4 + 256l * U - 1) / (256l * U));                       \
            snprintf(w, sizeof w, "update U=%d %s one-shot (%u blocks)", U, H ? "ldcs/stcs" : "plain", g1); \
            time([&] { update<U, H><<<g1, 256>>>(s, n4, 0.9f, 0.1f); }, 2.0 * bytes, w);          \
            for (int k : {2, 4, 8}) {                                                               \
                snprintf(w, sizeof w, "update U=%d %s grid-stride %d/SM", U, H ? "ldcs/stcs" : "plain", k); \
                time([&] { update<U, H><<<sms * k, 256>>>(s, n4, 0.9f, 0.1f); }, 2.0 * bytes, w); \
            }                                                                                       \
        }
        ONE(1, true) ONE(2, true) ONE(4, true) ONE(8, true) ONE(16, true) ONE(4, false) ONE(8, false)
        snprintf(w, sizeof w, "read only U=8 grid-stride 4/SM");
        time([&] { readonly<8><<<sms * 4, 256>>>(s, n4, sink); }, (double)bytes, w);
        snprintf(w, sizeof w, "write only grid-stride 8/SM");
        time([&] { writeonly<<<sms * 8, 256>>>(s, n4); }, (double)bytes, w);
    }
    return 0;
}
