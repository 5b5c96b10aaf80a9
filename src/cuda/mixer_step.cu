/*
 * mixer_step.cu: a decoding step's retention mixer after its q k v g product, for one
 * sequence, as one kernel: the state's update and o = q S (retention.cu's step_kernel), the
 * head norm and gate (norm.cu's head_norm_gate), and x += y wo^T (gemv.cu's product with the
 * residual), which are three dependent launches in the kernel chain.
 *
 * Why: at B = 1 the step's time is its chain of dependent launches (~20 us a layer) plus the
 * weights' stream, and a launch that must wait for its input cannot stream its weights
 * before it (dev/cuda/README.md, eleventh and fourteenth sessions). Here the output product
 * is split along its contraction, by state columns: block b owns 32 columns c of one head,
 * so everything it reads that no kernel of the chain writes (its 32 columns of wo, its 32
 * columns of the state, the decay and the norm's weights) is loaded before the
 * programmatic-launch wait, while the q k v g product still runs. After the wait it needs
 * only q, k (its head's), v and g (its columns):
 *
 *   S[:, c] = gamma S[:, c] + k v[c];  o[c] = q . S[:, c]           (registers)
 *   the head's norm statistics: each block's sums, then the head's 16 blocks meet (a counter)
 *   y[c] = bf16(HeadNorm(o)[c] * swish(g[c]));  p_b = wo[:, c] y[c]  (D partial sums)
 *   every block meets (a counter); block b adds rows [D b / G, D (b+1) / G) of the G partial
 *   sums, in block order, to x.
 *
 * The two meetings spin on counters in global memory, so every block must be resident at
 * once: cuda_mixer_step_suits checks that the grid (h dv / 32 blocks, one an SM by its shared
 * memory) fits the device. The counters only grow (64 bits: they never wrap), so they need
 * no reset between launches: a block's arrival at a meeting of n blocks returns the count
 * before it, and the meeting is over when the count reaches the next multiple of n.
 *
 * The arithmetic is the chain's: the same state update, the norm's formulas with its
 * statistics in double (the variance as E[o^2] - E[o]^2 in one pass, where norm.cu makes two),
 * y rounded to bf16 as the chain rounds the product's operand, fp32 products. Summation
 * orders differ (o over rows, the product over columns), so results agree with the chain to
 * rounding, not bit for bit; every order is fixed, so a run repeats its bits.
 */
#include "cuda/common.cuh"

#include <string.h>

#define MX_COLS 32                   /* state columns a block */
#define MX_THREADS 256
#define MX_RG (MX_THREADS / MX_COLS) /* row groups: thread t has column t % 32, rows t / 32 + 8 j */
#define MX_ROWS 32                   /* state rows a thread at most: dk <= 256 */
#define MX_DMAX 3072                 /* model width at most (wo's columns: 64 bytes a row) */
#define MX_XR 4                      /* rows of x a warp loaded early (the 1.3B: 2) */
#define MX_SMEM(D, dk) ((size_t)(D) * 64 + (size_t)(dk) * 8 + MX_RG * MX_COLS * 4 + 256)

typedef __nv_bfloat16 bf16;

struct mx_args {
    float *x, *S, *part;
    double *stats;
    unsigned long long *ctr; /* [h]: the heads' meetings; [h]: every block's */
    const bf16 *q, *k, *v, *wo;
    const float *g, *gamma, *hn_w, *hn_b;
    int H, dk, dv, D, mode; /* mode: 0 rms, 1 group, 2 none (norm.cu's head-norm modes) */
    int lab; /* RETNET_CUDA_MIXER (timing experiments): 2 x by atomic adds (no second
                meeting, bits vary), 3 wo loaded after the wait */
    float eps;
};

__device__ __forceinline__ unsigned long long ld_acquire_u64(const unsigned long long *p) {
    unsigned long long v;
    asm volatile("ld.acquire.gpu.global.u64 %0, [%1];\n" : "=l"(v) : "l"(p) : "memory");
    return v;
}

/* Thread 0 arrives at a meeting of n blocks on *ctr and waits for the others; the block's
 * writes before it are visible to every block after it. A meeting that never completes (a
 * block not resident: a bug in the suits check) traps after ~10 s instead of hanging. */
__device__ __forceinline__ void meet(unsigned long long *ctr, unsigned n) {
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();
        const unsigned long long old = atomicAdd(ctr, 1ull);
        const unsigned long long target = (old / n + 1) * n;
        const long long t0 = clock64();
        while (ld_acquire_u64(ctr) < target)
            if (clock64() - t0 > (1ll << 35)) __trap();
    }
    __syncthreads();
}

/* 16 bytes global -> shared, asynchronously (completed by cp_async_wait) */
__device__ __forceinline__ void cp_async16(void *dst, const void *src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(
                     (uint32_t)__cvta_generic_to_shared(dst)),
                 "l"(src)
                 : "memory");
}
__device__ __forceinline__ void cp_async_wait(void) {
    asm volatile("cp.async.wait_all;\n" ::: "memory");
}

/* wo's 16-byte chunk j (of 4) of row r at chunk (j ^ (r / 2 % 4)) of its 64 bytes: a warp's
 * 32 rows read at one j then fall in 8 distinct 16-byte bank groups a quarter-warp */
__device__ __forceinline__ int wo_chunk(int r, int j) { return r * 4 + (j ^ ((r >> 1) & 3)); }

__global__ void __launch_bounds__(MX_THREADS, 1) mixer_step_kernel(mx_args a) {
    extern __shared__ __align__(16) unsigned char smem[];
    uint4 *ws = reinterpret_cast<uint4 *>(smem); /* D rows x 4 chunks */
    float *qs = reinterpret_cast<float *>(smem + (size_t)a.D * 64), *ks = qs + a.dk;
    float *red = ks + a.dk;         /* [MX_RG][MX_COLS] */
    float *ys = red + MX_RG * MX_COLS; /* MX_COLS */
    __shared__ double st[2];

    const int t = threadIdx.x, col = t % MX_COLS, rg = t / MX_COLS;
    const int nb = a.dv / MX_COLS, h = blockIdx.x / nb, c0 = (blockIdx.x % nb) * MX_COLS;
    const int c = c0 + col, dvt = a.H * a.dv, nrow = a.dk / MX_RG;

    /* before the wait: what no kernel of the chain writes */
    const bf16 *wo = a.wo + (int64_t)h * a.dv + c0;
    if (a.lab != 3)
        for (int i = t; i < a.D * 4; i += MX_THREADS)
            cp_async16(ws + wo_chunk(i >> 2, i & 3), wo + (int64_t)(i >> 2) * dvt + (i & 3) * 8);
    float *S = a.S + (int64_t)h * a.dk * a.dv + c;
    float s[MX_ROWS];
#pragma unroll
    for (int j = 0; j < MX_ROWS; j++)
        if (j < nrow) s[j] = S[(int64_t)(rg + MX_RG * j) * a.dv];
    const float gam = a.gamma[h];
    const float w = a.hn_w ? a.hn_w[(a.mode == 1 ? h * a.dv : 0) + c] : 1.0f;
    const float b = a.hn_b && a.mode == 1 ? a.hn_b[h * a.dv + c] : 0.0f;
    pdl_trigger();
    pdl_wait();
    if (a.lab == 3)
        for (int i = t; i < a.D * 4; i += MX_THREADS)
            cp_async16(ws + wo_chunk(i >> 2, i & 3), wo + (int64_t)(i >> 2) * dvt + (i & 3) * 8);

    /* this block's rows of x (final once the chain before has finished), a warp's rows in
     * its lane 0, loaded now so that the last step does not wait for them */
    const int G = gridDim.x, lane = t & 31, wid = t >> 5;
    const int r0 = (int)((int64_t)a.D * blockIdx.x / G), r1 = (int)((int64_t)a.D * (blockIdx.x + 1) / G);
    float xr[MX_XR];
#pragma unroll
    for (int m = 0; m < MX_XR; m++) {
        const int r = r0 + wid + m * (MX_THREADS / 32);
        xr[m] = lane == 0 && r < r1 && a.lab != 2 ? a.x[r] : 0.0f;
    }
    const float vc = __bfloat162float(a.v[(int64_t)h * a.dv + c]);
    const float gc = a.g ? a.g[(int64_t)h * a.dv + c] : 0.0f;
    for (int i = t; i < a.dk; i += MX_THREADS) {
        qs[i] = __bfloat162float(a.q[(int64_t)h * a.dk + i]);
        ks[i] = __bfloat162float(a.k[(int64_t)h * a.dk + i]);
    }
    __syncthreads();
    float acc = 0.0f;
#pragma unroll
    for (int j = 0; j < MX_ROWS; j++)
        if (j < nrow) {
            const int i = rg + MX_RG * j;
            s[j] = gam * s[j] + ks[i] * vc; /* step_kernel's update, term for term */
            S[(int64_t)i * a.dv] = s[j];
            acc += qs[i] * s[j];
        }
    red[rg * MX_COLS + col] = acc;
    __syncthreads();

    /* warp 0: the block's 32 values of o, its sums, the head's statistics, y */
    double *stats = a.stats + 2 * (int64_t)blockIdx.x;
    float o = 0.0f;
    if (t < MX_COLS) {
        for (int r = 0; r < MX_RG; r++) o += red[r * MX_COLS + t];
        const double s1 = warp_sum((double)o), s2 = warp_sum((double)o * o);
        if (t == 0) __stcg(stats, s1), __stcg(stats + 1, s2);
    }
    if (a.mode != 2) meet(a.ctr + h, (unsigned)nb);
    if (t < MX_COLS) {
        float mu = 0.0f, rs = 1.0f;
        if (a.mode != 2) {
            /* lane j < nb (<= 32: dv <= 1024) loads block j's sums: one round trip */
            double s1 = 0, s2 = 0;
            if (t < nb) {
                s1 = __ldcg(a.stats + 2 * (int64_t)(h * nb + t));
                s2 = __ldcg(a.stats + 2 * (int64_t)(h * nb + t) + 1);
            }
            s1 = warp_sum(s1), s2 = warp_sum(s2);
            if (t == 0) st[0] = s1, st[1] = s2;
            __syncwarp();
            const double mean = a.mode == 1 ? st[0] / a.dv : 0.0;
            const double var = a.mode == 1 ? st[1] / a.dv - mean * mean : st[1] / a.dv;
            rs = (float)(1.0 / sqrt(var + a.eps));
            mu = (float)mean;
        }
        float y = (o - mu) * rs;
        if (a.hn_w) y *= w;
        if (a.mode == 1 && a.hn_b) y += b;
        if (a.g) y *= gc / (1.0f + expf(-gc));
        ys[t] = __bfloat162float(__float2bfloat16_rn(y));
    }
    cp_async_wait();
    __syncthreads();

    /* this block's share of x += y wo^T: D partial sums over its 32 columns */
    float yv[MX_COLS];
#pragma unroll
    for (int j = 0; j < MX_COLS; j++) yv[j] = ys[j];
    float *part = a.part + (int64_t)blockIdx.x * a.D;
    for (int r = t; r < a.D; r += MX_THREADS) {
        float p = 0.0f;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            float f[8];
            unpack8(ws[wo_chunk(r, j)], f);
#pragma unroll
            for (int e = 0; e < 8; e++) p += f[e] * yv[8 * j + e];
        }
        if (a.lab == 2) atomicAdd(a.x + r, p);
        else __stcg(part + r, p);
    }
    if (a.lab == 2) return;
    meet(a.ctr + a.H, gridDim.x);

    /* rows [D b / G, D (b + 1) / G) of x: a warp a row, lane l adding partials l, l + 32, ...
     * in order, then the warp's fixed butterfly */
#pragma unroll
    for (int m = 0; m < MX_XR; m++) {
        const int r = r0 + wid + m * (MX_THREADS / 32);
        if (r >= r1) break;
        float p = 0.0f;
        for (int j = lane; j < G; j += 32) p += __ldcg(a.part + (int64_t)j * a.D + r);
        p = warp_sum_f(p);
        if (lane == 0) a.x[r] = xr[m] + p;
    }
    for (int r = r0 + wid + MX_XR * (MX_THREADS / 32); r < r1; r += MX_THREADS / 32) {
        float p = 0.0f; /* past MX_XR rows a warp (small grids): x loaded here */
        for (int j = lane; j < G; j += 32) p += __ldcg(a.part + (int64_t)j * a.D + r);
        p = warp_sum_f(p);
        if (lane == 0) a.x[r] += p;
    }
}

/* ------------------------------------------------------------------------ host side */

static int mx_fits(int64_t B, int h, int dk, int dv, int64_t D) {
    if (B != 1 || dv % MX_COLS || dv > 32 * MX_COLS || dk % MX_RG || dk / MX_RG > MX_ROWS ||
        D > MX_DMAX || D % 8)
        return 0;
    static int attr_set = 0, per_sm = 0;
    static int64_t last_D = -1, last_dk = -1; /* the occupancy of the last shape asked */
    const size_t smem = MX_SMEM(D, dk);
    if (D == last_D && dk == last_dk)
        return per_sm >= 1 && (int64_t)h * (dv / MX_COLS) <= (int64_t)per_sm * cuda_sm_count();
    if (!attr_set) {
        if (cudaFuncSetAttribute(mixer_step_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int)MX_SMEM(MX_DMAX, MX_ROWS * MX_RG)) != cudaSuccess) {
            cudaGetLastError();
            return 0;
        }
        attr_set = 1;
    }
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, mixer_step_kernel, MX_THREADS,
                                                      smem) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    last_D = D, last_dk = dk;
    return per_sm >= 1 && (int64_t)h * (dv / MX_COLS) <= (int64_t)per_sm * cuda_sm_count();
}

static int mx_lab(void) {
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("RETNET_CUDA_MIXER");
        v = e ? atoi(e) : 1;
    }
    return v;
}

int cuda_mixer_step_suits(int64_t B, int h, int dk, int dv, int64_t D) {
    return mx_lab() != 0 && mx_fits(B, h, dk, dv, D);
}

size_t cuda_mixer_step_scratch_bytes(int h, int dv, int64_t D) {
    const size_t G = (size_t)h * (dv / MX_COLS);
    return 8 * (size_t)(h + 1) + 16 * G + 4 * G * (size_t)D;
}

retnet_status cuda_mixer_step(float *x, float *S, const cuda_bf16 *q, const cuda_bf16 *k,
                              const cuda_bf16 *v, const float *g, const float *gamma,
                              const float *hn_w, const float *hn_b, const cuda_bf16 *wo, int h,
                              int dk, int dv, int64_t D, float eps, int mode, void *scratch,
                              cuda_stream s) {
    if (!mx_fits(1, h, dk, dv, D) || mode < 0 || mode > 2)
        return retnet_fail(RETNET_EINVAL, "cuda_mixer_step: h %d, dk %d, dv %d, D %lld, mode %d "
                           "do not suit the fused kernel", h, dk, dv, (long long)D, mode);
    const int G = h * (dv / MX_COLS);
    mx_args a;
    a.ctr = (unsigned long long *)scratch;
    a.stats = (double *)((char *)scratch + 8 * (size_t)(h + 1));
    a.part = (float *)((char *)a.stats + 16 * (size_t)G);
    a.x = x, a.S = S, a.q = (const bf16 *)q, a.k = (const bf16 *)k, a.v = (const bf16 *)v;
    a.wo = (const bf16 *)wo, a.g = g, a.gamma = gamma, a.hn_w = hn_w, a.hn_b = hn_b;
    a.H = h, a.dk = dk, a.dv = dv, a.D = (int)D, a.mode = mode, a.eps = eps, a.lab = mx_lab();
    CUDA_TRY(cuda_launch(mixer_step_kernel, dim3((unsigned)G), dim3(MX_THREADS),
                         MX_SMEM(D, dk), (cudaStream_t)s, a),
             "mixer_step_kernel launch");
    return RETNET_OK;
}
