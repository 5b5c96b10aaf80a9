/*
 * norm.cu: LayerNorm, RMSNorm and the MSR block's per-head norm fused with the swish gate
 * (src/ops/norm.c's counterpart, same formulas, statistics in double).
 *
 * All three are one computation on "segments" of n values: a row of layernorm / rmsnorm
 * (h = 1), or one head of a row for the head norm (h heads, segment s = row * h + head):
 *   xhat = (x - mu) r,  r = 1 / sqrt(var + eps)  (mu = 0 and var = mean(x^2) for RMS),
 *   y = (xhat w + b) [* swish(g)];  w, b of width n shared by the heads (wshared) or h*n;
 *   the head norm's mode 2 (no norm, an ablation) is xhat = x, and g NULL is no gate.
 *
 * Backward (norm.c's formulas):
 *   dn = dy swish(g),  dg += dy (xhat w + b) swish'(g),  dxhat = dn w,
 *   dx += r (dxhat - mean(dxhat) - xhat mean(dxhat xhat))   (no mean(dxhat) for RMS),
 *   dw += sum over segments of dn xhat,  db += sum of dn.
 *
 * Each kernel reads its inputs from global memory once (on an H200 the forward streams at
 * ~2.7-3.7 TB/s, the backward at ~2.2-3.4: it stages its rounds through shared memory, and its
 * instructions, not its bytes, are what is left to cut: norm_bwd_kernel): a
 * segment (n <= NORM_NMAX) is held in registers by a group of T threads (NORM_CONFIGS: one
 * warp for n <= 256, 2 warps for the heads of 512, a block of 256 for rows of 2048), thread t
 * holding the 16-byte chunks t, t + T, ... of it (4K values, K <= 2: the backward's double
 * column sums and its inputs then fit in ~110 registers, 16 warps an SM; 80 and 24 for the
 * rms head norm's backward). The loads are float4
 * where n % 4 == 0 and every pointer is 16-byte aligned (VEC, decided per call), else
 * scalar loads of the same elements: the same values sit in the same threads and are summed
 * in the same order either way, so VEC changes no result. Each thread sums its
 * values in double, then the group adds those in a fixed order (the warp's butterfly, then
 * the group's warps in order): every thread of the group holds the same bits.
 *
 * The parameter sums never use atomics; they are fused into the backward pass. The segments
 * fall into hp parameter sets: one when the parameters are shared (wshared: layernorm,
 * rmsnorm, the rms head norm), else one a head (the groupnorm head norm), whose segments are
 * rows r h + head. Block b takes set b % hp and that set's segments of rows [c spb,
 * (c + 1) spb), c = b / hp; each thread adds (in double) its columns over its group's
 * segments, the block adds its groups in order into partial row c at columns (b % hp) n, and
 * a last kernel adds the P partial rows of each of the hp n columns in order. spb, hence P,
 * depends only on the shape. Rows wider than NORM_NMAX (none in the models) keep a warp per
 * segment that re-reads the segment from global memory for each pass, and a second pass
 * (norm_bwd_cols_kernel) for the sums that re-reads dy, x, g with the (mu, r) the first
 * wrote.
 */
#include <stdlib.h>
#include <string.h>

#include "cuda/common.cuh"
#include "cuda/mbar.cuh" /* cp.async */

#define WARPS 8 /* segments per block of the wide-row kernels */

/* §3's rows in the head norm's backward (cuda_rows_grad, with its f in seg_shape's xs): the
 * kept r and the row sums' gradient */
typedef struct {
    const float *r;
    uint16_t *dr8;
} rows_args;

typedef struct {
    int64_t nseg;
    int h, n, center, wshared;
    int identity; /* no normalisation (head norm mode 2, the ablation): xhat = x */
    float eps;
    int bf16_out; /* forward: y is bf16; backward: dx and dg are bf16 and overwritten (the
                     model's operands of products, which read nothing else) */
    const float *xs; /* NULL, or a factor per segment: the norm of xs[s] x (§3's f o; in the
                        backward only with §3's rows, SEC3) */
    double rn; /* 1 / n: the register kernels' means multiply by it (a double division is ~25
                  instructions a round; for the models' widths, powers of two, the product is
                  the quotient exactly, and elsewhere within an ulp of double) */
} seg_shape;

__device__ __forceinline__ float sigmoidf_(float z) { return 1.0f / (1.0f + expf(-z)); }

/* ==================================================== segments held in registers (n <= 4096) */

/* Threads per block for groups of T threads: a warp per segment runs 4 segments a block,
 * wider groups fill a block of at least 256. NORM_MINB: blocks an SM at least, i.e. 512
 * threads and at most 128 registers (the backward's variants need 105-128; at 768 threads,
 * 80 registers, they spill 20-300 bytes: NORM_BWD_MINB). */
#define NORM_BLOCK(T) ((T) == 32 ? 128 : (T) > 256 ? (T) : 256)
#define NORM_MINB(T) (512 / NORM_BLOCK(T))
#define NORM_NMAX 4096
#define ROWS_NMAX 512 /* §3's rows in the backward: the retention kernels' widest heads */
/* The backward's blocks an SM at least. The heads of 512 without centring (the 1.3B models'
 * rms head norm) run at 3 (80 registers, ~50 bytes of spills): 540 -> 390 us on an H200
 * (dev/cuda/runs/next17.sh); the other variants were slower at 3 (layernorm's 221 -> 280 us), and
 * §3's rows spill 130-200 bytes at 80 registers (passed as CENTER). */
#define NORM_BWD_MINB(T, CENTER) ((T) == 64 && !(CENTER) ? 3 : NORM_MINB(T))
/* The forward's: 1024 threads an SM (at most 64 registers). A block of the model norms' rows
 * (2048: T = 256) holds one row, 8 KB in flight; at 71 registers 3 fit an SM and the kernel
 * read ~2.2 TB/s, waiting on each row's round trip. */
#define NORM_FWD_MINB(T) (1024 / NORM_BLOCK(T))

/* value v = 4k + i of thread t in its group of T: element 4 (t + T k) + i of the segment */
template <int T> __device__ __forceinline__ int seg_col(int t, int v) {
    return 4 * (t + T * (v >> 2)) + (v & 3);
}

/* Loads the thread's values of a segment (0 beyond n). */
template <int T, int K, bool VEC>
__device__ __forceinline__ void seg_load(float (&a)[4 * K], const float *p, int t, int n) {
#pragma unroll
    for (int k = 0; k < K; k++) {
        const int c = 4 * (t + T * k);
        if (VEC) { /* n % 4 == 0: a chunk is all in or all out */
            const float4 q = c < n ? *(const float4 *)(p + c) : make_float4(0.f, 0.f, 0.f, 0.f);
            a[4 * k] = q.x, a[4 * k + 1] = q.y, a[4 * k + 2] = q.z, a[4 * k + 3] = q.w;
        } else {
#pragma unroll
            for (int i = 0; i < 4; i++) a[4 * k + i] = c + i < n ? p[c + i] : 0.0f;
        }
    }
}

template <int T, int K>
__device__ __forceinline__ void seg_fill(float (&a)[4 * K], float v) {
#pragma unroll
    for (int j = 0; j < 4 * K; j++) a[j] = v;
}

template <int T, int K, bool VEC>
__device__ __forceinline__ void seg_store(float *p, const float (&a)[4 * K], int t, int n) {
#pragma unroll
    for (int k = 0; k < K; k++) {
        const int c = 4 * (t + T * k);
        if (VEC) {
            if (c < n) *(float4 *)(p + c) = make_float4(a[4 * k], a[4 * k + 1], a[4 * k + 2], a[4 * k + 3]);
        } else {
#pragma unroll
            for (int i = 0; i < 4; i++)
                if (c + i < n) p[c + i] = a[4 * k + i];
        }
    }
}

template <int T, int K, bool VEC>
__device__ __forceinline__ void seg_store_bf16(uint16_t *p, const float (&a)[4 * K], int t, int n) {
#pragma unroll
    for (int k = 0; k < K; k++) {
        const int c = 4 * (t + T * k);
        if (VEC) { /* 4 bf16, 8 bytes */
            if (c < n)
                *(uint2 *)(p + c) = make_uint2(bf16x2_rn(a[4 * k], a[4 * k + 1]),
                                               bf16x2_rn(a[4 * k + 2], a[4 * k + 3]));
        } else {
#pragma unroll
            for (int i = 0; i < 4; i++)
                if (c + i < n) p[c + i] = bf16_rn(a[4 * k + i]);
        }
    }
}

/* Sum over the group of T threads in a fixed order: the warp's butterfly, then (T > 32) the
 * group's warps in order through sh. Every thread of the group gets the same bits. T > 32
 * waits at __syncthreads: every thread of the block must call. sh holds two buffers of
 * NORM_BLOCK(T) / 32 entries used in turn (par flips at each call), so one barrier a call
 * suffices: a buffer is written again only after the barrier of the call between, which
 * every thread reaches after its reads of it. */
template <int T> __device__ __forceinline__ double2 group_sum2(double a, double b, double2 *sh,
                                                               int &par) {
    a = warp_sum(a), b = warp_sum(b);
    if (T > 32) {
        constexpr int NW = NORM_BLOCK(T) / 32;
        double2 *buf = sh + par * NW;
        par ^= 1;
        if ((threadIdx.x & 31) == 0) buf[threadIdx.x >> 5] = make_double2(a, b);
        __syncthreads();
        const double2 *gs = buf + (threadIdx.x / T) * (T / 32);
        a = gs[0].x, b = gs[0].y;
#pragma unroll
        for (int k = 1; k < T / 32; k++) a += gs[k].x, b += gs[k].y;
    }
    return make_double2(a, b);
}

/* group_sum2 of two pairs at once, ab summed as group_sum2 sums it (the same bits). sh: two
 * buffers of 2 NORM_BLOCK(T) / 32 entries, its own (not group_sum2's). */
template <int T> __device__ __forceinline__ void group_sum4(double2 &ab, double2 &cd, double2 *sh,
                                                           int &par) {
    ab.x = warp_sum(ab.x), ab.y = warp_sum(ab.y), cd.x = warp_sum(cd.x), cd.y = warp_sum(cd.y);
    if (T > 32) {
        constexpr int NW = NORM_BLOCK(T) / 32;
        double2 *buf = sh + par * 2 * NW;
        par ^= 1;
        if ((threadIdx.x & 31) == 0) buf[2 * (threadIdx.x >> 5)] = ab, buf[2 * (threadIdx.x >> 5) + 1] = cd;
        __syncthreads();
        const double2 *gs = buf + (threadIdx.x / T) * (T / 32) * 2;
        ab = gs[0], cd = gs[1];
#pragma unroll
        for (int k = 1; k < T / 32; k++) {
            ab.x += gs[2 * k].x, ab.y += gs[2 * k].y;
            cd.x += gs[2 * k + 1].x, cd.y += gs[2 * k + 1].y;
        }
    }
}

template <int T> __device__ __forceinline__ double group_sum(double a, double2 *sh, int &par) {
    a = warp_sum(a);
    if (T > 32) {
        constexpr int NW = NORM_BLOCK(T) / 32;
        double2 *buf = sh + par * NW;
        par ^= 1;
        if ((threadIdx.x & 31) == 0) buf[threadIdx.x >> 5].x = a;
        __syncthreads();
        const double2 *gs = buf + (threadIdx.x / T) * (T / 32);
        a = gs[0].x;
#pragma unroll
        for (int k = 1; k < T / 32; k++) a += gs[k].x;
    }
    return a;
}

/* mean and reciprocal standard deviation of the segment in xv. Centred (layernorm, groupnorm):
 * one group sum of x and x^2 in double, var = E[x^2] - mean^2, where norm.c's seg_stats takes
 * two passes (the variance about the mean): a group sum costs the T > 32 groups a barrier,
 * and the two differ by ~2^-53 E[x^2] / var relative (each x^2 exact in double), far below
 * the float results' rounding. Values beyond n are 0 (seg_load): they add exactly 0 to both
 * sums. */
template <int T, int K>
__device__ __forceinline__ void reg_stats(const float (&xv)[4 * K], const seg_shape &p, int t,
                                          double2 *sh, int &par, float *mu, float *r) {
    if (p.identity) {
        *mu = 0.0f, *r = 1.0f;
        return;
    }
    double mean = 0, var = 0;
    if (p.center) {
        double s2 = 0;
#pragma unroll
        for (int v = 0; v < 4 * K; v++) mean += xv[v], s2 += (double)xv[v] * xv[v];
        const double2 m = group_sum2<T>(mean, s2, sh, par);
        mean = m.x * p.rn;
        var = fmax(m.y * p.rn - mean * mean, 0.0);
    } else {
        const bool full = p.n == 4 * T * K; /* the models' widths: no column check */
#pragma unroll
        for (int v = 0; v < 4 * K; v++)
            if (full || seg_col<T>(t, v) < p.n) {
                const double dd = xv[v] - mean;
                var += dd * dd;
            }
        var = group_sum<T>(var, sh, par) * p.rn;
    }
    *r = (float)(1.0 / sqrt(var + p.eps));
    *mu = (float)mean;
}

/* One segment per group. y may be x (in place): each thread reads its elements before it
 * writes them, and no other thread touches them. */
template <int T, int K, bool VEC>
__global__ void __launch_bounds__(NORM_BLOCK(T), NORM_FWD_MINB(T))
norm_fwd_kernel(void *y, const float *x, const float *g, const float *w, const float *b,
                seg_shape p) {
    constexpr int G = NORM_BLOCK(T) / T, V = 4 * K;
    __shared__ double2 sh[2 * NORM_BLOCK(T) / 32];
    int par = 0;
    const int t = threadIdx.x % T, n = p.n;
    const int64_t s = blockIdx.x * (int64_t)G + threadIdx.x / T;
    /* a group without a segment (the grid's last block) still joins the group sums */
    const bool active = s < p.nseg;
    const int64_t off = active ? s * n : 0;
    float xv[V], gv[V], wv[V], bv[V];
    /* the parameters before the wait: no kernel of a decoding step writes them, so under
     * programmatic launch (decoding's chain, cuda_launch) their load overlaps the kernel
     * before instead of following the sums on the step's critical path */
    const int64_t poff = p.wshared ? 0 : (int64_t)(s % p.h) * n;
    if (active && w) seg_load<T, K, VEC>(wv, w + poff, t, n);
    if (active && b) seg_load<T, K, VEC>(bv, b + poff, t, n);
    pdl_trigger();
    pdl_wait(); /* x (and g) are the kernel before's output */
    seg_fill<T, K>(xv, 0.0f), seg_fill<T, K>(gv, 0.0f);
    if (active) {
        seg_load<T, K, VEC>(xv, x + off, t, n);
        if (g) seg_load<T, K, VEC>(gv, g + off, t, n);
        if (p.xs) { /* rounded as written (no fma with what follows): the backward's f o */
            const float f = p.xs[s];
#pragma unroll
            for (int j = 0; j < V; j++) xv[j] = __fmul_rn(xv[j], f);
        }
    }
    float mu, r;
    reg_stats<T, K>(xv, p, t, sh, par, &mu, &r);
    if (!active) return;
#pragma unroll
    for (int j = 0; j < V; j++) {
        float v = (xv[j] - mu) * r;
        if (w) v *= wv[j];
        if (b) v += bv[j];
        if (g) {
            const float z = gv[j];
            v *= z / (1.0f + expf(-z));
        }
        xv[j] = v;
    }
    if (p.bf16_out) seg_store_bf16<T, K, VEC>((uint16_t *)y + off, xv, t, n);
    else seg_store<T, K, VEC>((float *)y + off, xv, t, n);
}

/* The block's column sums a (each thread's V columns over its group's segments) into row
 * blockIdx.x of dst: the groups in order 0, 1, ... through red (4 T K doubles). */
template <int T, int K>
__device__ __forceinline__ void block_partial(double *dst, const double (&a)[4 * K], double *red,
                                              int t, int n) {
    constexpr int G = NORM_BLOCK(T) / T;
    dst += blockIdx.x * (int64_t)n;
    if (G == 1) {
#pragma unroll
        for (int v = 0; v < 4 * K; v++)
            if (seg_col<T>(t, v) < n) dst[seg_col<T>(t, v)] = a[v];
        return;
    }
    const int grp = threadIdx.x / T;
    for (int q = 0; q < G; q++) {
        __syncthreads(); /* the previous group's additions, or red's readers of a last call */
        if (grp == q)
#pragma unroll
            for (int v = 0; v < 4 * K; v++) {
                const int c = seg_col<T>(t, v);
                red[c] = q ? red[c] + a[v] : a[v];
            }
    }
    __syncthreads();
    for (int c = threadIdx.x; c < n; c += NORM_BLOCK(T)) dst[c] = red[c];
}

/* Block b: parameter set hs = b % hp (hp = 1 when wshared, else h) and, of that set's
 * segments s = r hp + hs, rows r in [c spb, min((c + 1) spb, nseg / hp)), c = b / hp;
 * group grp takes every G-th row from the block's first + grp. dx, dg written (bf16_out) or
 * added to (fp32, dx's sum then copied rounded to dx_round when that is not NULL); pw, pb:
 * the block's partial sums of dn xhat and of dn, row c of hp n columns, at columns hs n.
 * CENTER: layernorm and groupnorm, the only ones with b; GATE: g is not NULL; SEC3 (bf16_out,
 * dx; segments of at most ROWS_NMAX): §3's rows (f in p.xs; r, dr8 in ra): x is o, the input f o is
 * formed in registers (as the scaled forward forms it), and cuda_retention_normalize_backward's
 * rows_backward_kernel is done in the same pass: d o = f bf16(dx), and d f = <dx, f o> / f
 * formed from the segment's sums (below). They are template arguments so that the registers
 * of what a variant lacks are not reserved (the kernel's occupancy is set by its registers).
 *
 * The kernel issues more instructions than its bytes need (ncu, dev/cuda/runs/next123.sh: ~1100
 * a round of 8 values a thread in the preset's variant, 60% of the issue slots busy), so each
 * value is formed once (xhat in place of x, the sigmoid once for dg and dn) and a round has no
 * integer division or double division. The sums take no column check: beyond n, dy and x
 * are 0 (seg_load), so dn, dxhat and their products are exactly +-0 and leave every sum
 * unchanged (a sum starting at +0 never becomes -0), unless mu or r is not finite, when the
 * segment's own sums are NaN already. */
template <int T, int K, bool VEC, bool CENTER, bool GATE, bool SEC3>
__global__ void __launch_bounds__(NORM_BLOCK(T), NORM_BWD_MINB(T, CENTER || SEC3))
norm_bwd_kernel(void *dx, void *dg, double *pw, double *pb, const float *dy,
                const float *x, const float *g, const float *w, const float *b, seg_shape p,
                uint16_t *dx_round, int64_t spb, rows_args ra, int stages) {
    constexpr int G = NORM_BLOCK(T) / T, V = 4 * K;
    /* dx's old values loaded along with the inputs (one round trip) where registers allow */
    constexpr bool EARLY = V <= 8;
    __shared__ double2 sh[2 * NORM_BLOCK(T) / 32], sh4[SEC3 ? 4 * NORM_BLOCK(T) / 32 : 1];
    __shared__ double red[G > 1 ? 4 * T * K : 1];
    int par = 0, par4 = 0;
    const int t = threadIdx.x % T, grp = threadIdx.x / T, n = p.n;
    const int hp = p.wshared ? 1 : p.h, hs = (int)(blockIdx.x % hp);
    const int64_t R = p.nseg / hp, r0 = blockIdx.x / hp * spb, r1 = r0 + spb < R ? r0 + spb : R;
    const bool acc = !p.bf16_out; /* fp32 dx, dg: added to */
    /* VEC: a round's inputs (x, dy, g, dx's old values) stream into shared memory `stages` - 1
     * rounds ahead (cp.async; 2 or 3 buffers: bwd_stages), so that the block's loads
     * overlap its sums instead of following them (the kernel ran at ~2 TB/s waiting for each
     * round's loads). Each thread copies and later reads only its own 16-byte chunks, at the
     * registers' places, so no barrier orders them; chunks beyond n or of an inactive group
     * are zero-filled, as seg_load and seg_fill give them. */
    extern __shared__ float4 nstage[];
    const bool old_dx = EARLY && dx && acc;
    const int na = 2 + GATE + old_dx; /* staged arrays: x, dy, [g], [dx] */
    auto slot = [&](int st, int a, int k) {
        return nstage + ((st * na + a) * K + k) * NORM_BLOCK(T) + threadIdx.x;
    };
    auto issue = [&](int64_t base_i, int st) {
        const int64_t row = base_i + grp;
        const bool act = row < r1;
        const int64_t off = act ? (row * hp + hs) * n : 0;
        const uint32_t s0 = smem_u32(slot(st, 0, 0)), step = K * NORM_BLOCK(T) * 16; /* an array */
#pragma unroll
        for (int k = 0; k < K; k++) {
            const int c = 4 * (t + T * k);
            const bool ok = act && c < n;
            const int64_t o = ok ? off + c : 0; /* a zero fill reads nothing: any address */
            const int by = ok ? 16 : 0;
            const uint32_t d = s0 + k * NORM_BLOCK(T) * 16;
            cp_async16(d, x + o, by);
            cp_async16(d + step, dy + o, by);
            if (GATE) cp_async16(d + 2 * step, g + o, by);
            if (old_dx) cp_async16(d + (2 + GATE) * step, (const float *)dx + o, by);
        }
    };
    auto take = [&](float(&a)[V], int st, int ai) {
#pragma unroll
        for (int k = 0; k < K; k++) {
            const float4 q = *slot(st, ai, k);
            a[4 * k] = q.x, a[4 * k + 1] = q.y, a[4 * k + 2] = q.z, a[4 * k + 3] = q.w;
        }
    };
    if constexpr (VEC)
        for (int j = 0; j + 1 < stages; j++) {
            if (r0 + j * G < r1) issue(r0 + j * G, j);
            cp_async_commit();
        }
    int ist = stages - 1; /* the stage the round `stages` - 1 ahead goes to: (it - 1) mod stages */
    float fs_nx = SEC3 ? p.xs[r0 + grp < R ? (r0 + grp) * hp + hs : hs] : 1.0f;
    float wv[V], bv[V]; /* bv, ab: dead (no registers) unless CENTER */
    seg_fill<T, K>(wv, 1.0f), seg_fill<T, K>(bv, 0.0f);
    if (w) seg_load<T, K, VEC>(wv, w + (int64_t)hs * n, t, n); /* the block's set: loaded once */
    if (CENTER && b) seg_load<T, K, VEC>(bv, b + (int64_t)hs * n, t, n);
    double aw[V], ab[V];
#pragma unroll
    for (int j = 0; j < V; j++) aw[j] = 0, ab[j] = 0;
    for (int64_t base = r0; base < r1; base += G) { /* the same trip count for the block */
        const int64_t row = base + grp;
        const bool active = row < r1;
        const int64_t off = active ? (row * hp + hs) * n : 0;
        /* xv: x, then xhat; dn: dy, then dy swish(g); ox: dx's old values, then its new ones */
        float xv[V], dn[V], gv[V], ox[V];
        seg_fill<T, K>(xv, 0.0f), seg_fill<T, K>(dn, 0.0f), seg_fill<T, K>(gv, 0.0f);
        seg_fill<T, K>(ox, 0.0f);
        const int64_t s = row < R ? row * hp + hs : hs; /* in range when inactive, unused then */
        /* §3's f a round ahead and r at the round's start: their loads' latency under the
         * round before, or under this round's sums, not at the point of use */
        const float fs = fs_nx;
        const double rv = SEC3 ? (double)ra.r[s] : 1.0;
        if (SEC3) fs_nx = p.xs[base + G + grp < R ? (base + G + grp) * hp + hs : hs];
        if constexpr (VEC) {
            /* the round `stages` - 1 ahead into the buffer the last round read (its values
             * were used before this round began), then this round's */
            const int64_t ahead = base + (int64_t)(stages - 1) * G;
            if (ahead < r1) issue(ahead, ist);
            cp_async_commit();
            if (stages == 3) cp_async_wait<2>();
            else cp_async_wait<1>();
            const int st = ist + 1 < stages ? ist + 1 : 0; /* (it mod stages) */
            ist = st;
            take(xv, st, 0), take(dn, st, 1);
            if (GATE) take(gv, st, 2);
            if (old_dx) take(ox, st, 2 + GATE);
        } else if (active) { /* the scalar loads' variant */
            seg_load<T, K, false>(xv, x + off, t, n);
            seg_load<T, K, false>(dn, dy + off, t, n);
            if (GATE) seg_load<T, K, false>(gv, g + off, t, n);
            if (EARLY && dx && acc) seg_load<T, K, false>(ox, (const float *)dx + off, t, n);
        }
        if (SEC3 && active)
#pragma unroll
            for (int j = 0; j < V; j++) xv[j] = __fmul_rn(xv[j], fs); /* the forward's f o */
        float mu, r;
        reg_stats<T, K>(xv, p, t, sh, par, &mu, &r);
#pragma unroll
        for (int j = 0; j < V; j++) xv[j] = (xv[j] - mu) * r;
        if (GATE) { /* dg += dy (xhat w + b) swish'(g), or written as bf16; dn = dy swish(g) */
            const bool wdg = dg && active;
            float og[V];
            seg_fill<T, K>(og, 0.0f);
            if (wdg && acc) seg_load<T, K, VEC>(og, (const float *)dg + off, t, n);
#pragma unroll
            for (int j = 0; j < V; j++) {
                const float z = gv[j], sg = sigmoidf_(z);
                if (wdg) {
                    float yv = w ? xv[j] * wv[j] : xv[j];
                    if (CENTER && b) yv += bv[j];
                    const float v = dn[j] * yv * (sg * (1.0f + z * (1.0f - sg)));
                    og[j] = acc ? og[j] + v : v;
                }
                dn[j] *= z * sg;
            }
            if (wdg) {
                if (acc) seg_store<T, K, VEC>((float *)dg + off, og, t, n);
                else seg_store_bf16<T, K, VEC>((uint16_t *)dg + off, og, t, n);
            }
        }
        double sa = 0, sb = 0, q1 = 0, q2 = 0; /* sum dxhat, dxhat xhat; (SEC3) xhat, xhat^2 */
#pragma unroll
        for (int j = 0; j < V; j++) {
            const float dxh = dn[j] * wv[j]; /* wv is 1 without w: exact */
            sa += dxh;
            sb += (double)dxh * xv[j];
            if (SEC3 && (4 * T * K == n || seg_col<T>(t, j) < n)) /* xhat is -mu r beyond n */
                q1 += xv[j], q2 += (double)xv[j] * xv[j];
            if (pw && active) aw[j] += (double)dn[j] * xv[j];
            if (CENTER && pb && active) ab[j] += dn[j];
        }
        if (!dx) continue; /* uniform over the block */
        double2 m = make_double2(sa, sb), q = make_double2(q1, q2);
        if (SEC3) group_sum4<T>(m, q, sh4, par4); /* m: the same bits as group_sum2's */
        else m = group_sum2<T>(sa, sb, sh, par);
        const float ma = p.center ? (float)(m.x * p.rn) : 0.0f,
                    mb = p.identity ? 0.0f : (float)(m.y * p.rn);
        if (active) {
            if (!EARLY && acc) seg_load<T, K, VEC>(ox, (const float *)dx + off, t, n);
#pragma unroll
            for (int j = 0; j < V; j++) {
                /* rounded as written (no contraction into fma): every variant, with §3's
                 * rows or without, fp32 or bf16 out, gives the same bits */
                const float v = __fmul_rn(r, __fsub_rn(__fsub_rn(__fmul_rn(dn[j], wv[j]), ma),
                                                       __fmul_rn(xv[j], mb)));
                ox[j] = acc ? ox[j] + v : v;
            }
            if (acc) {
                seg_store<T, K, VEC>((float *)dx + off, ox, t, n);
                if (dx_round) seg_store_bf16<T, K, VEC>(dx_round + off, ox, t, n);
            } else if (SEC3) { /* d o = f d(f o), the latter rounded as rows_backward_kernel reads it */
#pragma unroll
                for (int j = 0; j < V; j++) ox[j] = fs * bf16_bits_to_f32(bf16_rn(ox[j]));
                seg_store_bf16<T, K, VEC>((uint16_t *)dx + off, ox, t, n);
            } else {
                seg_store_bf16<T, K, VEC>((uint16_t *)dx + off, ox, t, n);
            }
            if (SEC3 && t < 8) {
                /* d f = <dx, x> / f (x = f o). With dx_j = r (dxhat_j - ma - xhat_j mb) and
                 * x_j = xhat_j / r + mu, <dx, x> = sb - ma q1 - mb q2 + r mu (sa - n ma - mb q1)
                 * in double, where the norm makes it nearly 0 (a norm's output does not change
                 * with its input's scale: only eps gives d f a value): summing dx rounded to bf16
                 * times x, as rows_backward_kernel does, gives the roundings' noise instead. */
                float v = 0.0f; /* rv: 0 where |s r| <= 1: d r = 0 */
                if (t == 0 && fs != 0.0f && rv != 0.0) { /* f = 0 (|r| ~ 1e38): d r -> 0, as the CPU */
                    const double dxx = m.y - (double)ma * q.x - (double)mb * q.y +
                                       (double)r * mu * (m.x - (double)n * ma - (double)mb * q.x);
                    const double df = dxx / fs;
                    v = (float)(-df * (rv > 0 ? 1.0 : -1.0) / (rv * rv));
                }
                ra.dr8[s * 8 + t] = bf16_rn(v);
            }
        }
    }
    if (pw) block_partial<T, K>(pw, aw, red, t, n);
    if (CENTER && pb) block_partial<T, K>(pb, ab, red, t, n);
}

/* ========================================= rows wider than NORM_NMAX: a warp per segment */

/* mean and reciprocal standard deviation of one segment, as norm.c's seg_stats forms them */
__device__ __forceinline__ void seg_stats(const float *x, const seg_shape &p, int lane,
                                          float *mu, float *r) {
    if (p.identity) {
        *mu = 0.0f, *r = 1.0f;
        return;
    }
    double mean = 0, var = 0;
    if (p.center) {
        for (int j = lane; j < p.n; j += 32) mean += x[j];
        mean = warp_sum(mean) / p.n;
    }
    for (int j = lane; j < p.n; j += 32) {
        double dd = x[j] - mean;
        var += dd * dd;
    }
    var = warp_sum(var) / p.n;
    *r = (float)(1.0 / sqrt(var + p.eps));
    *mu = (float)mean;
}

__global__ void norm_fwd_wide_kernel(void *y, const float *x, const float *g, const float *w,
                                     const float *b, seg_shape p) {

    const int64_t s = blockIdx.x * (int64_t)WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    if (s >= p.nseg) return;
    const int64_t off = s * p.n;
    const float *xs = x + off;
    float mu, r;
    seg_stats(xs, p, lane, &mu, &r);
    const int64_t poff = p.wshared ? 0 : (int64_t)(s % p.h) * p.n;
    const float *ws = w ? w + poff : NULL, *bs = b ? b + poff : NULL;
    for (int j = lane; j < p.n; j += 32) {
        float v = (xs[j] - mu) * r;
        if (ws) v *= ws[j];
        if (bs) v += bs[j];
        if (g) {
            float z = g[off + j];
            v *= z / (1.0f + expf(-z));
        }
        if (p.bf16_out) ((uint16_t *)y)[off + j] = bf16_rn(v);
        else ((float *)y)[off + j] = v;
    }
}

/* dx, dg (+=) per segment; the segment's (mu, r) to stats when the parameter sums need them */
__global__ void norm_bwd_wide_kernel(void *dx, void *dg, float *stats, const float *dy,
                                     const float *x, const float *g, const float *w,
                                     const float *b, seg_shape p, uint16_t *dx_round) {
    const int64_t s = blockIdx.x * (int64_t)WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    if (s >= p.nseg) return;
    const int64_t off = s * p.n;
    const float *xs = x + off, *dys = dy + off, *gs = g ? g + off : NULL;
    float mu, r;
    seg_stats(xs, p, lane, &mu, &r);
    if (stats && lane == 0) stats[2 * s] = mu, stats[2 * s + 1] = r;
    if (!dx && !dg) return;
    const int64_t poff = p.wshared ? 0 : (int64_t)(s % p.h) * p.n;
    const float *ws = w ? w + poff : NULL, *bs = b ? b + poff : NULL;
    double sa = 0, sb = 0; /* sum dxhat, sum dxhat xhat */
    for (int j = lane; j < p.n; j += 32) {
        float xh = (xs[j] - mu) * r, wj = ws ? ws[j] : 1.0f, dn = dys[j];
        if (gs) {
            float z = gs[j], sg = sigmoidf_(z);
            if (dg) {
                float yv = ws ? xh * wj : xh;
                if (bs) yv += bs[j];
                const float v = dys[j] * yv * (sg * (1.0f + z * (1.0f - sg)));
                if (p.bf16_out) ((uint16_t *)dg)[off + j] = bf16_rn(v);
                else ((float *)dg)[off + j] += v;
            }
            dn *= z * sg;
        }
        float dxh = dn * wj;
        sa += dxh;
        sb += (double)dxh * xh;
    }
    if (!dx) return;
    sa = warp_sum(sa), sb = warp_sum(sb);
    const float ma = p.center ? (float)(sa / p.n) : 0.0f, mb = p.identity ? 0.0f : (float)(sb / p.n);
    for (int j = lane; j < p.n; j += 32) {
        float xh = (xs[j] - mu) * r;
        float dn = gs ? dys[j] * (gs[j] * sigmoidf_(gs[j])) : dys[j];
        float dxh = dn * (ws ? ws[j] : 1.0f);
        const float v = r * (dxh - ma - xh * mb);
        if (p.bf16_out) {
            ((uint16_t *)dx)[off + j] = bf16_rn(v);
        } else {
            const float nv = ((float *)dx)[off + j] + v;
            ((float *)dx)[off + j] = nv;
            if (dx_round) dx_round[off + j] = bf16_rn(nv);
        }
    }
}

#define COLS 32
#define ROWS 8

/* Rows wider than NORM_NMAX: partial column sums of dn xhat and dn over chunk blockIdx.y of
 * `rows_per` rows, V columns a thread: 4 (float4 loads, the rows unrolled; n a multiple of 4,
 * so the 4 share a segment) or 1. Each column's sum runs over the same rows in the same order
 * either way. (Until the per-head sums were fused into norm_bwd_kernel, this pass also took
 * the groupnorm head norm's: V 4 took a 1.3B step 330.3 -> 325.4 ms, dev/cuda/runs/next101.sh.) */
template <int V>
__global__ void norm_bwd_cols_kernel(double *pw, double *pb, const float *dy, const float *x,
                                     const float *g, const float *stats, int64_t R, int64_t W,
                                     int64_t rows_per, int n) {
    __shared__ double sw[ROWS][V * COLS], sbb[ROWS][V * COLS];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int64_t c = (blockIdx.x * (int64_t)COLS + tx) * V;
    const int64_t r0 = blockIdx.y * rows_per, r1 = r0 + rows_per < R ? r0 + rows_per : R;
    double aw[V], ab[V];
#pragma unroll
    for (int k = 0; k < V; k++) aw[k] = 0, ab[k] = 0;
    if (c < W) {
        const int64_t segs_per_row = W / n, seg_in_row = c / n;
#pragma unroll 4
        for (int64_t row = r0 + ty; row < r1; row += ROWS) {
            const int64_t i = row * W + c, s = row * segs_per_row + seg_in_row;
            float dn[V], xv[V], gv[V];
            if constexpr (V == 4) {
                const float4 d4 = *reinterpret_cast<const float4 *>(dy + i);
                const float4 x4 = *reinterpret_cast<const float4 *>(x + i);
                dn[0] = d4.x, dn[1] = d4.y, dn[2] = d4.z, dn[3] = d4.w;
                xv[0] = x4.x, xv[1] = x4.y, xv[2] = x4.z, xv[3] = x4.w;
                if (g) {
                    const float4 g4 = *reinterpret_cast<const float4 *>(g + i);
                    gv[0] = g4.x, gv[1] = g4.y, gv[2] = g4.z, gv[3] = g4.w;
                }
            } else {
                dn[0] = dy[i], xv[0] = x[i];
                if (g) gv[0] = g[i];
            }
            if (g)
#pragma unroll
                for (int k = 0; k < V; k++) dn[k] *= gv[k] * sigmoidf_(gv[k]);
            const float mu = stats[2 * s], rs = stats[2 * s + 1];
#pragma unroll
            for (int k = 0; k < V; k++) {
                aw[k] += (double)dn[k] * ((xv[k] - mu) * rs);
                ab[k] += dn[k];
            }
        }
    }
#pragma unroll
    for (int k = 0; k < V; k++) sw[ty][V * tx + k] = aw[k], sbb[ty][V * tx + k] = ab[k];
    __syncthreads();
    if (ty == 0 && c < W) {
#pragma unroll
        for (int q = 0; q < V; q++) {
            double a = aw[q], b2 = ab[q];
            for (int k = 1; k < ROWS; k++) a += sw[k][V * tx + q], b2 += sbb[k][V * tx + q];
            pw[blockIdx.y * W + c + q] = a;
            if (pb) pb[blockIdx.y * W + c + q] = b2;
        }
    }
}

/* One warp per column: lane i adds partials i, i + 32, ... in order, then the warp's fixed
 * butterfly (a column's P partials in parallel: one thread per column left all but a few
 * SMs idle, ~0.2 ms a call on an H200 for P = 1024). */
__global__ void norm_bwd_final_kernel(float *dw, float *db, const double *pw, const double *pb,
                                      int64_t W, int64_t P) {
    const int64_t c = blockIdx.x * (int64_t)(blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    if (c >= W) return;
    double aw = 0, ab = 0;
    for (int64_t k = lane; k < P; k += 32) { /* the fused kernel writes only the sums asked for */
        if (dw) aw += pw[k * W + c];
        if (db) ab += pb[k * W + c];
    }
    if (dw) aw = warp_sum(aw);
    if (db) ab = warp_sum(ab);
    if (lane == 0) {
        if (dw) dw[c] += (float)aw;
        if (db) db[c] += (float)ab;
    }
}


static retnet_status check_shape(const char *fn, int64_t M, int64_t h, int64_t n) {
    if (M < 0 || h < 1 || n < 1 || n > INT32_MAX)
        return retnet_fail(RETNET_EINVAL, "%s: bad shape (M %lld, h %lld, width %lld)", fn,
                           (long long)M, (long long)h, (long long)n);
    return cuda_ensure_init();
}

/* The register-resident kernels' shapes, (index, T, K): the first whose 4 T K holds n (a
 * function of n alone, so that the bf16 and fp32 variants sum in the same order). */
#define NORM_CONFIGS(F) F(0, 32, 1) F(1, 32, 2) F(2, 64, 2) F(3, 128, 2) F(4, 256, 2) \
    F(5, 512, 2)
#define CFG_(i, T, K) {T, K},
static const struct { int T, K; } norm_cfgs[] = {NORM_CONFIGS(CFG_)};
#undef CFG_

static int norm_config(int64_t n) {
    for (int i = 0; i < (int)(sizeof norm_cfgs / sizeof norm_cfgs[0]); i++)
        if (n <= 4 * norm_cfgs[i].T * norm_cfgs[i].K) return i;
    return -1; /* wider than NORM_NMAX: the wide-row kernels */
}

static bool aligned(const void *q, uintptr_t a) { return ((uintptr_t)q & (a - 1)) == 0; }

template <int T, int K>
static cudaError_t launch_fwd(bool vec, cudaStream_t cs, void *y, const float *x, const float *g,
                              const float *w, const float *b, const seg_shape &p) {
    const unsigned grid = cuda_blocks(p.nseg, NORM_BLOCK(T) / T, INT32_MAX);
    return cuda_launch(vec ? norm_fwd_kernel<T, K, true> : norm_fwd_kernel<T, K, false>, grid,
                       NORM_BLOCK(T), 0, cs, y, x, g, w, b, p);
}

/* The backward's staging buffers (norm_bwd_kernel, `per` bytes a round): 3 where an SM still
 * holds as many blocks as with 2, else 2 (the rms head norm's 3 blocks of 80 registers: 389 us
 * at 2, 420 at 3 on an H200, dev/cuda/runs/next121.sh). 0 where not even 2 fit a block's shared
 * memory (the widest rows, 4096, on GPUs with ~100 KB a block): the launch then takes the
 * scalar loads' variant. RETNET_CUDA_NORM_STAGES 2 or 3 forces a count where it fits, 0 the
 * scalar variant (for tests). A failed query is cleared, not left for the launch's error
 * check. */
static int stages_for(const void *kern, int threads, int per, int dev, int forced) {
    int optin = 0;
    cudaFuncAttributes fa;
    if (cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) !=
            cudaSuccess ||
        cudaFuncGetAttributes(&fa, kern) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    const int room = optin - (int)fa.sharedSizeBytes, most = room / per; /* buffers */
    if (most < 2) return 0;
    const int top = most < 3 ? most : 3;
    /* the whole room, not top * per: the attribute is the kernel's, and the memo's other
     * round sizes (the same kernel with or without dx staged) must still fit after it */
    if (cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, room) !=
        cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    if (forced > 0) return forced <= top ? forced : top;
    if (top < 3) return 2;
    int b2 = 0, b3 = 0;
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b2, kern, threads, 2 * per);
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b3, kern, threads, 3 * per);
    return b3 >= b2 && b3 > 0 ? 3 : 2;
}

/* stages_for, asked once per kernel, round size and device (the attribute is per device; the
 * memo per thread, so that threads driving other devices need no lock) */
static int bwd_stages(const void *kern, int threads, int per) {
    static int forced = -2; /* -2: not read yet, -1: none */
    if (forced == -2) {
        const char *e = getenv("RETNET_CUDA_NORM_STAGES");
        forced = e && (!strcmp(e, "0") || !strcmp(e, "2") || !strcmp(e, "3")) ? atoi(e) : -1;
    }
    if (forced == 0) return 0;
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    struct memo { const void *kern; int per, dev, st; };
    static thread_local memo seen[64];
    static thread_local int nseen;
    for (int i = 0; i < nseen; i++)
        if (seen[i].kern == kern && seen[i].per == per && seen[i].dev == dev) return seen[i].st;
    const int st = stages_for(kern, threads, per, dev, forced);
    if (nseen < 64) seen[nseen++] = {kern, per, dev, st};
    return st;
}

/* the arrays the backward stages a round: x, dy, g where gated, dx where added to */
static int norm_staged(const void *dx, const float *g, const seg_shape &p) {
    return 2 + (g != NULL) + (dx != NULL && !p.bf16_out);
}

template <int T, int K>
static void launch_bwd(bool vec, cudaStream_t cs, int64_t spb, void *dx, void *dg, double *pw,
                       double *pb, const float *dy, const float *x, const float *g,
                       const float *w, const float *b, const seg_shape &p, uint16_t *dx_round,
                       const rows_args &ra) {
    const int64_t hp = p.wshared ? 1 : p.h;
    const unsigned grid = (unsigned)((p.nseg / hp + spb - 1) / spb * hp);
    const int per = vec ? norm_staged(dx, g, p) * K * NORM_BLOCK(T) * 16 : 0; /* a round */
#define BWD_R(V, C, GT, RW)                                                            \
    do {                                                                               \
        auto kern = norm_bwd_kernel<T, K, V, C, GT, RW>;                               \
        const int st = V ? bwd_stages((const void *)kern, NORM_BLOCK(T), per) : 0;     \
        if (V && st < 2) /* no room to stage: the same sums from scalar loads */       \
            kern = norm_bwd_kernel<T, K, false, C, GT, RW>;                            \
        kern<<<grid, NORM_BLOCK(T), st * per, cs>>>(dx, dg, pw, pb, dy, x, g, w, b, p, \
                                                    dx_round, spb, ra, st);            \
    } while (0)
    /* the §3 rows' variants only where they are asked for (head widths <= ROWS_NMAX) */
#define BWD_(V, C, GT)                                                                 \
    do {                                                                               \
        if constexpr (4 * T * K <= ROWS_NMAX) {                                        \
            if (p.xs) {                                                                \
                BWD_R(V, C, GT, true);                                                 \
                break;                                                                 \
            }                                                                          \
        }                                                                              \
        BWD_R(V, C, GT, false);                                                        \
    } while (0)
#define BWD_G(V, C)              \
    do {                         \
        if (g) BWD_(V, C, true); \
        else BWD_(V, C, false);  \
    } while (0)
    if (vec) {
        if (p.center) BWD_G(true, true);
        else BWD_G(true, false);
    } else {
        if (p.center) BWD_G(false, true);
        else BWD_G(false, false);
    }
#undef BWD_G
#undef BWD_
#undef BWD_R
}

static retnet_status norm_forward(const char *fn, void *y, const float *x, const float *g,
                                  const float *w, const float *b, int64_t M, int h, int64_t n,
                                  int center, int wshared, int identity, float eps,
                                  cuda_stream s, int bf16_out = 0, const float *xs = NULL) {
    retnet_status st = check_shape(fn, M, h, n);
    if (st || M == 0) return st;
    if (xs && n > NORM_NMAX)
        return retnet_fail(RETNET_EINVAL, "%s: scaled rows need segments of at most %d", fn,
                           NORM_NMAX);
    cudaStream_t cs = (cudaStream_t)s;
    seg_shape p = {M * h, h, (int)n, center, wshared, identity, eps, bf16_out, xs, 1.0 / n};
    /* float4 loads where every segment of every operand starts on 16 bytes (8 for bf16) */
    const bool vec = n % 4 == 0 && aligned(x, 16) && aligned(g, 16) && aligned(w, 16) &&
                     aligned(b, 16) && aligned(y, bf16_out ? 8 : 16);
    cudaError_t e = cudaSuccess;
    switch (norm_config(n)) {
#define FWD_(i, T, K) \
    case i: e = launch_fwd<T, K>(vec, cs, y, x, g, w, b, p); break;
        NORM_CONFIGS(FWD_)
#undef FWD_
    default:
        norm_fwd_wide_kernel<<<cuda_blocks(p.nseg, WARPS, INT32_MAX), 32 * WARPS, 0, cs>>>(
            y, x, g, w, b, p);
    }
    CUDA_TRY(e, fn);
    CUDA_LAUNCHED(fn);
    return RETNET_OK;
}

static retnet_status norm_backward(const char *fn, void *dx, void *dg, float *dw, float *db,
                                   const float *dy, const float *x, const float *g,
                                   const float *w, const float *b, int64_t M, int h, int64_t n,
                                   int center, int wshared, int identity, float eps,
                                   cuda_stream s, int bf16_out = 0, cuda_bf16 *dx_round = NULL,
                                   const cuda_rows_grad *rows = NULL) {
    retnet_status st = check_shape(fn, M, h, n);
    if (st || M == 0) return st;
    rows_args ra = {};
    if (rows) {
        if (!bf16_out || !dx || !rows->f || !rows->r || !rows->dr8)
            return retnet_fail(RETNET_EINVAL, "%s: section-3 rows without their buffers", fn);
        if (n > ROWS_NMAX)
            return retnet_fail(RETNET_EINVAL, "%s: section-3 rows need heads of at most %d",
                               fn, ROWS_NMAX);
        ra = {rows->r, (uint16_t *)rows->dr8};
    }
    cudaStream_t cs = (cudaStream_t)s;
    seg_shape p = {M * h, h, (int)n, center, wshared, identity, eps, bf16_out,
                   rows ? rows->f : NULL, 1.0 / n};
    const int cfg = norm_config(n);
    const int64_t R = wshared ? M * h : M, W = wshared ? n : (int64_t)h * n;
    const int osz = bf16_out ? 8 : 16;
    const bool vec = n % 4 == 0 && aligned(dy, 16) && aligned(x, 16) && aligned(g, 16) &&
                     aligned(w, 16) && aligned(b, 16) && aligned(dx, osz) && aligned(dg, osz) &&
                     aligned(dx_round, 8);
    /* the parameter sums in the segment kernel, or a second pass (rows wider than NORM_NMAX) */
    const bool sums = dw || db, fused = sums && cfg >= 0;
    const int64_t G = cfg >= 0 ? NORM_BLOCK(norm_cfgs[cfg].T) / norm_cfgs[cfg].T : WARPS;
    int64_t spb = G, P = 0, rows_per = 0;
    float *stats = NULL;
    double *pw = NULL, *pb = NULL;
    if (fused) {
        /* Segments per block (R a parameter set's): at least 32 (the P partial rows stay a
         * few % of the traffic: 16k rows of 2048 give P = 512, 8 MB a sum) and enough that
         * P <= 1024, rounded up to whole rounds of the block's G groups. A function of the
         * shape alone. */
        spb = (R + 1023) / 1024;
        if (spb < 32) spb = 32;
        spb = (spb + G - 1) / G * G;
        P = (R + spb - 1) / spb;
    } else if (sums) {
        /* chunks of at least 64 rows, at most 1024 chunks: P depends on R alone */
        P = (R + 63) / 64;
        if (P > 1024) P = 1024;
        rows_per = (R + P - 1) / P;
    }
    if (sums) {
        void *scr;
        size_t bytes = sizeof(double) * (size_t)(2 * P * W);
        if (!fused) bytes += sizeof(float) * (size_t)(2 * p.nseg);
        st = cuda_scratch(&scr, bytes);
        if (st) return st;
        pw = (double *)scr, pb = pw + P * W;
        if (!fused) stats = (float *)(pb + P * W);
    }
    switch (cfg) {
#define BWD_(i, T, K)                                                                      \
    case i:                                                                                \
        launch_bwd<T, K>(vec, cs, spb, dx, dg, fused && dw ? pw : NULL,                    \
                         fused && db ? pb : NULL, dy, x, g, w, b, p, dx_round, ra);        \
        break;
        NORM_CONFIGS(BWD_)
#undef BWD_
    default:
        norm_bwd_wide_kernel<<<cuda_blocks(p.nseg, WARPS, INT32_MAX), 32 * WARPS, 0, cs>>>(
            dx, dg, stats, dy, x, g, w, b, p, dx_round);
    }
    CUDA_LAUNCHED(fn);
    if (sums && !fused) {
        const bool v4 = W % 4 == 0 && n % 4 == 0 && aligned(dy, 16) && aligned(x, 16) &&
                        aligned(g, 16);
        const int64_t cpb = (v4 ? 4 : 1) * COLS; /* columns a block */
        dim3 grid((unsigned)((W + cpb - 1) / cpb), (unsigned)P), block(COLS, ROWS);
        if (v4)
            norm_bwd_cols_kernel<4><<<grid, block, 0, cs>>>(pw, db ? pb : NULL, dy, x, g, stats,
                                                            R, W, rows_per, (int)n);
        else
            norm_bwd_cols_kernel<1><<<grid, block, 0, cs>>>(pw, db ? pb : NULL, dy, x, g, stats,
                                                            R, W, rows_per, (int)n);
        CUDA_LAUNCHED(fn);
    }
    if (sums) {
        norm_bwd_final_kernel<<<cuda_blocks(W, 8, INT32_MAX), 256, 0, cs>>>(dw, db, pw, pb, W, P);
        CUDA_LAUNCHED(fn);
    }
    return RETNET_OK;
}

retnet_status cuda_op_layernorm(float *y, const float *x, const float *w, const float *b,
                                int64_t M, int64_t d, float eps, cuda_stream s) {
    return norm_forward("cuda_op_layernorm", y, x, NULL, w, b, M, 1, d, 1, 1, 0, eps, s);
}

retnet_status cuda_op_rmsnorm(float *y, const float *x, const float *w, int64_t M, int64_t d,
                              float eps, cuda_stream s) {
    return norm_forward("cuda_op_rmsnorm", y, x, NULL, w, NULL, M, 1, d, 0, 1, 0, eps, s);
}

retnet_status cuda_op_head_norm_gate(float *y, const float *o, const float *g, const float *w,
                                     const float *b, int64_t M, int h, int dv, float eps,
                                     int mode, cuda_stream s) {
    if (mode < 0 || mode > 2)
        return retnet_fail(RETNET_EINVAL, "cuda_op_head_norm_gate: mode %d (0 rms, 1 group, 2 none)", mode);
    const int group = mode == 1;
    return norm_forward("cuda_op_head_norm_gate", y, o, g, w, group ? b : NULL, M, h, dv, group,
                        !group, mode == 2, eps, s);
}

retnet_status cuda_op_layernorm_backward(float *dx, float *dw, float *db, const float *dy,
                                         const float *x, const float *w, int64_t M, int64_t d,
                                         float eps, cuda_stream s) {
    return norm_backward("cuda_op_layernorm_backward", dx, NULL, dw, db, dy, x, NULL, w, NULL, M,
                         1, d, 1, 1, 0, eps, s);
}

retnet_status cuda_op_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                                       const float *w, int64_t M, int64_t d, float eps,
                                       cuda_stream s) {
    return norm_backward("cuda_op_rmsnorm_backward", dx, NULL, dw, NULL, dy, x, NULL, w, NULL, M,
                         1, d, 0, 1, 0, eps, s);
}

retnet_status cuda_op_head_norm_gate_backward(float *do_, float *dg, float *dw, float *db,
                                              const float *dy, const float *o, const float *g,
                                              const float *w, const float *b, int64_t M, int h,
                                              int dv, float eps, int mode, cuda_stream s) {
    if (mode < 0 || mode > 2)
        return retnet_fail(RETNET_EINVAL, "cuda_op_head_norm_gate_backward: mode %d (0 rms, 1 "
                           "group, 2 none)", mode);
    const int group = mode == 1;
    return norm_backward("cuda_op_head_norm_gate_backward", do_, dg, dw, group ? db : NULL, dy, o,
                         g, w, group ? b : NULL, M, h, dv, group, !group, mode == 2, eps, s);
}

/* ---- bf16 outputs for the model's product operands (cuda.h) ---- */

retnet_status cuda_op_layernorm_bf16(cuda_bf16 *y, const float *x, const float *w,
                                     const float *b, int64_t M, int64_t d, float eps,
                                     cuda_stream s) {
    return norm_forward("cuda_op_layernorm_bf16", y, x, NULL, w, b, M, 1, d, 1, 1, 0, eps, s, 1);
}

retnet_status cuda_op_rmsnorm_bf16(cuda_bf16 *y, const float *x, const float *w, int64_t M,
                                   int64_t d, float eps, cuda_stream s) {
    return norm_forward("cuda_op_rmsnorm_bf16", y, x, NULL, w, NULL, M, 1, d, 0, 1, 0, eps, s, 1);
}

retnet_status cuda_op_head_norm_gate_bf16(cuda_bf16 *y, const float *o, const float *g,
                                          const float *w, const float *b, int64_t M, int h,
                                          int dv, float eps, int mode, cuda_stream s) {
    if (mode < 0 || mode > 2)
        return retnet_fail(RETNET_EINVAL, "cuda_op_head_norm_gate_bf16: mode %d", mode);
    const int group = mode == 1;
    return norm_forward("cuda_op_head_norm_gate_bf16", y, o, g, w, group ? b : NULL, M, h, dv,
                        group, !group, mode == 2, eps, s, 1);
}

retnet_status cuda_op_head_norm_gate_scaled_bf16(cuda_bf16 *y, const float *o, const float *f,
                                                 const float *g, const float *w,
                                                 const float *b, int64_t M, int h, int dv,
                                                 float eps, int mode, cuda_stream s) {
    if (mode < 0 || mode > 2 || !f)
        return retnet_fail(RETNET_EINVAL, "cuda_op_head_norm_gate_scaled_bf16: mode %d, f %p",
                           mode, (const void *)f);
    const int group = mode == 1;
    return norm_forward("cuda_op_head_norm_gate_scaled_bf16", y, o, g, w, group ? b : NULL, M,
                        h, dv, group, !group, mode == 2, eps, s, 1, f);
}

retnet_status cuda_op_head_norm_gate_backward_bf16(cuda_bf16 *do_, cuda_bf16 *dg, float *dw,
                                                   float *db, const float *dy, const float *o,
                                                   const float *g, const float *w,
                                                   const float *b, int64_t M, int h, int dv,
                                                   float eps, int mode,
                                                   const cuda_rows_grad *rows, cuda_stream s) {
    if (mode < 0 || mode > 2)
        return retnet_fail(RETNET_EINVAL, "cuda_op_head_norm_gate_backward_bf16: mode %d", mode);
    const int group = mode == 1;
    return norm_backward("cuda_op_head_norm_gate_backward_bf16", do_, dg, dw, group ? db : NULL,
                         dy, o, g, w, group ? b : NULL, M, h, dv, group, !group, mode == 2, eps,
                         s, 1, NULL, rows);
}

retnet_status cuda_op_layernorm_backward_round(float *dx, cuda_bf16 *dx_bf16, float *dw,
                                               float *db, const float *dy, const float *x,
                                               const float *w, int64_t M, int64_t d, float eps,
                                               cuda_stream s) {
    if (!dx || !dx_bf16)
        return retnet_fail(RETNET_EINVAL, "cuda_op_layernorm_backward_round: NULL dx");
    return norm_backward("cuda_op_layernorm_backward_round", dx, NULL, dw, db, dy, x, NULL, w,
                         NULL, M, 1, d, 1, 1, 0, eps, s, 0, dx_bf16);
}

retnet_status cuda_op_rmsnorm_backward_round(float *dx, cuda_bf16 *dx_bf16, float *dw,
                                             const float *dy, const float *x, const float *w,
                                             int64_t M, int64_t d, float eps, cuda_stream s) {
    if (!dx || !dx_bf16)
        return retnet_fail(RETNET_EINVAL, "cuda_op_rmsnorm_backward_round: NULL dx");
    return norm_backward("cuda_op_rmsnorm_backward_round", dx, NULL, dw, NULL, dy, x, NULL, w,
                         NULL, M, 1, d, 0, 1, 0, eps, s, 0, dx_bf16);
}
