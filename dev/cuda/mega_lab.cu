/*
 * mega_lab.cu (lab): one persistent kernel for a whole decoding step at B = 1, on the fla-shaped
 * 1.3B RetNet (d 2048, 24 layers, 8 heads, dk 256, dv 512, SwiGLU 2816, RMSNorm, rope "half",
 * head norm RMS with weight, swish gate, vocabulary 32000): how fast is the step that the ring
 * lab (ring_lab.cu mode 6, tc 2) estimated, once it does the real work?
 *
 * 128 blocks (one an SM: 16 a head), 8 consumer warps and a producer warp each. The producer
 * streams every weight the block reads, in the order it reads them, through a ring of 192 KB
 * (three 64 KB stages, MEGA_STAGE_KB; one bulk copy a stage) and runs ahead of the consumers
 * across every wait, bounded by the ring. A layer, for block b (head h = b / 16, s = b % 16):
 *
 *   after meeting A  x's RMSNorm (every block, from L2) -> bf16 a in shared memory
 *   q k v g          16 q rows and 16 k rows of head h (to global qk), and the 32 v and 32 g rows
 *                    of the state columns the block owns (kept in shared memory); then +1 on
 *                    head h's counter
 *   state update     (its 32 KB of S loaded before the wait) waits for the 16 blocks of head h,
 *                    rotates q and k, S = gamma S + k^T v on its 32 columns, o = q S; writes
 *                    z = o w swish(g) and the columns' sum of o^2
 *   after meeting M  o = bf16(z / rms(o of the head)) for all 4096 columns (from L2)
 *   wo               16 whole rows (K 4096): x[rows] += y (the block's own rows)
 *   after meeting B  x's RMSNorm -> b
 *   up | gate        22 rows of each: u = swish(gate) up, kept in shared memory
 *   down             the block's 22 columns of down, stored as a [2048][24] slice (the last two
 *                    columns zero): y = down[:, cols] u, added to x by red.global.add.v4.f32
 *   then meeting A of the next layer; after the last, the final norm and the output layer's
 *   250 rows a block.
 *
 * MEGA_WOS=1: wo split by the block's own 32 columns of o instead ([128][2048][32] slices, y
 * added to x by red.add as down's), the head norm's sums met on a second counter a head: two
 * meetings a layer, no meeting M. The meetings are grid barriers on one growing counter; while
 * they wait, the warps drain the next segment's first stage into registers (DRAIN), so that
 * the producer may send more. The products run on tensor cores (tc_rows.cuh), the slices on
 * FMA (their rows are 48 or 64 bytes). The bits of x vary from run to run (the red.add order);
 * the rest is fixed.
 *
 * Checked layer by layer against float64 (main: each product from the kernel's own bf16 input,
 * block 0's copy; the rounded inputs against float64's rounding), at any layer count; timed
 * against a plain read of the same bytes in the same run, with timing-only variants (LAB: no
 * meetings, no head waits, no state bytes, no products) and without the drain.
 * `mega_lab L reps ref` runs only the float64 step on the CPU: how a 2^-22 change of x_in moves
 * it with and without the inputs rounded to bf16 (why a whole-step comparison cannot be sharp).
 *
 * Thirty-fifth session (dev/cuda/README.md, next262-next267): 0.97 ms a step at 24 layers (57%
 * of the bound of reading the weights and the state once); the library's kernel chain in the
 * same call (next267) 1.01 ms; 0.62-0.65 with the meetings, head waits, state bytes and
 * products all left out.
 *
 * Thirty-sixth session (next268-next278): TRACE stamps each stage's issue and landing and the
 * consumers' waits; each block's stream stood idle ~330 us of the step, 264 of them while the
 * consumers were busy with the serial work between stages (round trips to L2 after meetings,
 * fences after red.adds, the state's loads), not with the products. MEGA_FIX and MEGA_XREP
 * remove those one by one (see their comment); the defaults (x in 2 copies, FIX 95, 48 KB
 * stages, no drain) take 0.91 ms (61%), against the library's chain 1.01-1.03 in the same call
 * (next278). FIX 128 (every wait on tagged values, the same bits every run) is correct but slower
 * (0.99): its polls re-read 16 KB a block while they wait.
 *
 * Standalone: nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -fopenmp
 *             -lgomp mega_lab.cu
 */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "../../src/cuda/mbar.cuh" /* smem_u32, mbarriers, bulk_load, mbar_test */
#include "lab.cuh"                 /* CK, read_kernel */
#include "tc_rows.cuh"             /* tcd_load_any, tcd_any */

constexpr int D = 2048, H = 8, DK = 256, DV = 512, DKT = H * DK, DVT = H * DV, F = 2816, V = 32000;
constexpr int NB = 128, CW = 8, NC = 32 * CW, NT = NC + 32, SUB = NB / H;
constexpr int FJ = F / NB, FJP = 24; /* u rows a block; down's slice padded to 24 columns */
constexpr int OUTR = V / NB;         /* output rows a block */
#ifndef MEGA_STAGE_KB /* the ring: 192 KB in stages of this size (next264: 32, 48, 64) */
#define MEGA_STAGE_KB 48 /* next277: 48 with no drain (64 was the thirty-fifth session's) */
#endif
/* MEGA_XREP: x as the sum of this many copies, block b adding down's y (and wo's slices) into copy
 * b % XREP, so that the red.adds of 128 blocks spread over XREP times as many L2 lines.
 * MEGA_FIX bits: 1 wo's rows added to x by red.add (one owner: the same bits) instead of a load
 * and a store; 2 after meeting M, z and the heads' sums loaded in one round trip; 4 q and k
 * stored with this step's tag beside each value (8-byte stores), read by the head's blocks
 * until every tag is this step's: no counter a head, no fence; 8 down's rows (and WOS's wo
 * slices) added to x by each row's thread as it is made, not after the segment; 16 the state
 * slice streamed through the ring as a segment after k (S stored a block's slice at a time,
 * [L][H][SUB][DK][32]), not loaded into registers from global memory; 32 the layers' weight
 * pointers read from a copy in shared memory, not from the kernel's parameters; 64 (with 16)
 * the state's segment after g instead of after k; 128 (with 4 and 16; 1, 2, 8 and XREP unused)
 * no counters, fences or red.adds: every value another block waits for is stored with its tag
 * beside it (8 bytes) and read until the tags are the awaited ones. x is a tagged array whose
 * rows the blocks own (16 each): wo's owner stores x + y; down's slices store their partial
 * y, each owner sums its rows' 128 partials in block order and stores x; z and the heads'
 * sums are tagged. The step's bits are then the same from run to run. */

#ifndef MEGA_XREP /* next273: 2 (1 is the thirty-fifth session's form) */
#define MEGA_XREP 2
#endif
#ifndef MEGA_FIX /* next273: 95 = 1 + 2 + 4 + 8 + 16 + 64 (0 is the thirty-fifth session's form) */
#define MEGA_FIX 95
#endif
constexpr int XREP = MEGA_XREP, FIX = MEGA_FIX;
constexpr bool LL = FIX & 128;
#ifndef MEGA_DRAIN /* the timed kernel drains a stage at each meeting (the other one is timed beside) */
#define MEGA_DRAIN 0
#endif
constexpr bool DR = MEGA_DRAIN;
#ifndef MEGA_RING_KB /* the ring's size (next269: 96, 128, 192) */
#define MEGA_RING_KB 192
#endif
constexpr int STAGE = MEGA_STAGE_KB * 1024, NS = MEGA_RING_KB / MEGA_STAGE_KB, PR = 256, MAXL = 24;
static_assert(NS <= 8, "the mbarriers' 128 bytes");
constexpr float EPS = 1e-6f;
static_assert(F % NB == 0 && V % NB == 0 && FJ <= FJP && DV / SUB == 32, "shapes");

struct layer_w {
    const uint16_t *q, *k, *v, *g, *o, *up, *gate, *down; /* bf16; down: [NB][D][FJP] */
    const float *an, *mn, *hn;                           /* attn / mlp norm [D], head norm [DV] */
};
struct step_t {
    int L;
    layer_w lw[MAXL];
    const uint16_t *out; /* [V][D] */
    const float *fn;     /* final norm [D] */
    float *x;            /* [XREP][D] in: this token's embedding (the other copies zero); out: x
                          * after the last layer, as the sum of the copies */
    float *S;            /* [L][H][DK][DV] */
    float *qk;           /* [H][2 DK]: q, then k, before the rotation */
    uint2 *qkt;          /* FIX 4: [H][2 DK] the same, each value beside its tag */
    unsigned tag;        /* FIX 4, 128: this step's tag (tags tag .. tag + 127 are this launch's) */
    uint2 *xt;           /* LL: [D] x, tagged (tag + 4 l entering layer l, + 4 l + 1 after wo) */
    uint2 *pt;           /* LL: [NB][D] down's partial y of each block, tagged tag + 4 l + 2 */
    uint2 *zt, *hpt;     /* LL: [DVT] z and [H][SUB] the heads' sums of o^2, tagged tag + 4 l + 3 */
    float *z;            /* [DVT] o w swish(g) */
    float *hp;           /* [L][H][SUB] each block's sum of o^2 */
    float *logits;       /* [V] */
    float *xl;           /* check: [L][D] x after each layer (block 0 copies it), or null */
    uint16_t *dump;      /* check: [L + 1][8192] the products' bf16 inputs: a layer's a, o and b
                          * (2048, 4096, 2048; block 0's copies, o under WOS each block's own
                          * columns); the final norm's in [L] */
    const float *cs, *sn; /* [DK / 2] the rotation at this step's position */
    unsigned *cnt;       /* [H] heads' counters (zero before the launch) */
    unsigned *cnt2;      /* WOS: [H] heads' counters of their sums of o^2 (zero before) */
    unsigned *bar;       /* the meetings' counter (zero before the launch) */
    unsigned long long *tr; /* TRACE: [NB][TR_N] stamps (ns), tags in trg, counts in trn */
    unsigned *trg;          /* [NB][TR_N] what each stamp is: code << 24 | stage or layer */
    unsigned *trn;          /* [NB][3] records of the consumer, the producer, the watcher */
};
/* TRACE's records a block: the consumer (thread 0) from 0, the producer from TR_P, the
 * watcher (the producer warp's lane 1, which sees each stage land) from TR_W */
constexpr int TR_N = 4096, TR_P = 2048, TR_W = 3072;
enum { T_CWAIT = 1, T_CREADY, T_MEET0, T_MEET1, T_HEAD0, T_HEAD1, T_SEG0, T_SEG1, T_DRAIN,
       T_PWAIT, T_ISSUE, T_LAND, T_END, T_BEGIN, T_ARR, T_SEEN, T_NORM0, T_NORM1, T_Z0, T_Z1, T_RED, T_SEGS };
__device__ __forceinline__ unsigned long long gtime() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

/* a segment of the block's stream: rows of rb bytes; kind 0 K 2048, 1 K 4096, 2 down's slice,
 * 3 wo's slice (WOS) */
struct seg_t {
    const uint16_t *p;
    int rows, rb, kind;
};
/* WOS: wo split by the block's 32 columns of o instead of by rows (kind 3: [NB][D][32] slices,
 * the layer's second meeting gone) */
template <bool WOS> __device__ __forceinline__ seg_t segment(const step_t &a, int b, int l, int i,
                                                            const layer_w *lws) {
    const int h = b / SUB, s = b % SUB;
    if (l == a.L) return seg_t{a.out + (size_t)OUTR * b * D, OUTR, 2 * D, 0};
    const layer_w &w = FIX & 32 ? lws[l] : a.lw[l];
    switch (i) {
    case 0: return seg_t{w.q + (size_t)(h * DK + 16 * s) * D, 16, 2 * D, 0};
    case 1: return seg_t{w.k + (size_t)(h * DK + 16 * s) * D, 16, 2 * D, 0};
    case 2: return seg_t{w.v + (size_t)(h * DV + 32 * s) * D, 32, 2 * D, 0};
    case 3: return seg_t{w.g + (size_t)(h * DV + 32 * s) * D, 32, 2 * D, 0};
    case 4: return WOS ? seg_t{w.o + (size_t)b * D * 32, D, 64, 3} : seg_t{w.o + (size_t)16 * b * DVT, 16, 2 * DVT, 1};
    case 5: return seg_t{w.up + (size_t)FJ * b * D, FJ, 2 * D, 0};
    case 6: return seg_t{w.gate + (size_t)FJ * b * D, FJ, 2 * D, 0};
    case 7: return seg_t{w.down + (size_t)b * D * FJP, D, 2 * FJP, 2};
    default: /* FIX 16: the block's slice of the state, one stage */
        return seg_t{reinterpret_cast<const uint16_t *>(a.S + (((size_t)l * H + h) * SUB + s) * DK * 32), 1, DK * 32 * 4, 4};
    }
}
/* the segments of layer l in stream order (ii-th: segment id sid), SSEG: with the state's */
template <bool SSEG> __device__ __forceinline__ int nseg(const step_t &a, int l) {
    return l == a.L ? 1 : SSEG ? 9 : 8;
}
template <bool SSEG> __device__ __forceinline__ int sid(const step_t &a, int l, int ii) {
    if (!SSEG || l == a.L) return ii;
    if (FIX & 64) return ii < 4 ? ii : ii == 4 ? 8 : ii - 1; /* q k v g S wo ... */
    return ii < 2 ? ii : ii == 2 ? 8 : ii - 1;                /* q k S v g wo ... */
}

/* LL: 8 bytes, a value and its tag, stored and loaded at once */
__device__ __forceinline__ void st_tag(uint2 *p, float v, unsigned tg) {
    asm volatile("st.relaxed.gpu.global.v2.u32 [%0], {%1, %2};\n" ::"l"(p), "r"(__float_as_uint(v)), "r"(tg)
                 : "memory");
}
__device__ __forceinline__ uint2 ld_tag(const uint2 *p) {
    uint2 u;
    asm volatile("ld.relaxed.gpu.global.v2.u32 {%0, %1}, [%2];\n" : "=r"(u.x), "=r"(u.y) : "l"(p) : "memory");
    return u;
}
/* a meeting's or a head's arrival, after this block's writes: MEGA_RED_ARRIVE one release
 * reduction (nothing comes back), else a fence and an atomic add (next269 compares them) */
__device__ __forceinline__ void arrive(unsigned *p) {
#ifdef MEGA_RED_ARRIVE
    asm volatile("red.release.gpu.global.add.u32 [%0], 1;\n" ::"l"(p) : "memory");
#else
    __threadfence();
    atomicAdd(p, 1u);
#endif
}
__device__ __forceinline__ void cbar() { asm volatile("bar.sync 1, %0;\n" ::"n"(NC) : "memory"); }
__device__ __forceinline__ uint16_t bf16_rn(float f) {
    const uint32_t u = __float_as_uint(f);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
__device__ __forceinline__ float swishf(float v) { return v / (1.0f + expf(-v)); }
__device__ __forceinline__ float bsum(float v, float *red) { /* over the consumers */
    for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int w = threadIdx.x >> 5;
    cbar();
    if ((threadIdx.x & 31) == 0) red[w] = v;
    cbar();
    float t = 0.f;
#pragma unroll
    for (int i = 0; i < CW; i++) t += red[i];
    return t;
}
/* the RMSNorm's end, from a thread's 8 values of x (columns tid + NC e) and their squares' sum */
__device__ __forceinline__ void norm_out(const float (&v)[8], float ss, const float *w, uint16_t *xs,
                                         float *red) {
    const float r = 1.0f / sqrtf(bsum(ss, red) / D + EPS);
#pragma unroll
    for (int e = 0; e < 8; e++) {
        const int i = threadIdx.x + NC * e;
        xs[i] = bf16_rn(v[e] * r * w[i]);
    }
    cbar();
}
/* x's RMSNorm with weight w into xs (bf16): 8 values a thread */
__device__ void norm_in(const float *x, const float *w, uint16_t *xs, float *red) {
    float v[8], ss = 0.f;
#pragma unroll
    for (int e = 0; e < 8; e++) {
        float c[XREP];
#pragma unroll
        for (int r = 0; r < XREP; r++) c[r] = __ldcg(x + r * D + threadIdx.x + NC * e);
        v[e] = c[0];
#pragma unroll
        for (int r = 1; r < XREP; r++) v[e] += c[r];
        ss += v[e] * v[e];
    }
    norm_out(v, ss, w, xs, red);
}

/* LL: x's RMSNorm as norm_in, x read from xt until every value carries tag tg (POLL); the
 * block's own 16 rows kept in xown */
template <bool POLL>
__device__ void norm_in_ll(const uint2 *xt, unsigned tg, const float *w, uint16_t *xs, float *red,
                           float *xown) {
    uint2 u[8];
    for (;;) {
        bool ok = true;
#pragma unroll
        for (int e = 0; e < 8; e++) u[e] = ld_tag(xt + threadIdx.x + NC * e), ok &= u[e].y == tg;
        if (ok || !POLL) break;
    }
    float v[8], ss = 0.f;
#pragma unroll
    for (int e = 0; e < 8; e++) {
        v[e] = __uint_as_float(u[e].x), ss += v[e] * v[e];
        const int i = threadIdx.x + NC * e;
        if (i >> 4 == (int)blockIdx.x) xown[i & 15] = v[e];
    }
    norm_out(v, ss, w, xs, red);
}

/* check: block 0 keeps a copy of the products' input (xs, n values) */
template <bool CHECK>
__device__ __forceinline__ void dump_xs(const step_t &a, const uint16_t *xs, size_t at, int n) {
    if (CHECK && blockIdx.x == 0)
        for (int q = threadIdx.x; q < n; q += NC) a.dump[at + q] = xs[q];
}

/* CHECK: block 0 keeps x after every layer (a.xl) and the products' inputs (a.dump). LAB,
 * timing only, wrong results: 1 no meetings, 2 no head waits, 4 no state loads or stores, 8 no
 * products (stages only handed back). DRAIN: the meetings drain a stage (meet_d). WOS: wo by
 * the block's columns of o (segment). Template arguments, so that the timed kernel's registers
 * are its own (as runtime flags they cost 160 bytes of spills and ~5%). */
template <bool CHECK, int LAB, bool DRAIN = true, bool WOS = false, bool TRACE = false>
__global__ void __launch_bounds__(NT, 1) step_kernel(step_t a) {
    extern __shared__ __align__(128) unsigned char sm[];
    uint16_t *xs = reinterpret_cast<uint16_t *>(sm);            /* 8 KB: a product's input */
    uint64_t *bars = reinterpret_cast<uint64_t *>(sm + 8192);   /* full[NS], empty[NS] */
    float *red = reinterpret_cast<float *>(sm + 8192 + 128);    /* [CW] */
    float *vs = reinterpret_cast<float *>(sm + 8192 + 192);     /* [32] */
    float *gs = vs + 32, *ups = gs + 32, *us = ups + 32, *rh = us + 32; /* [32] [32] [32] [H] */
    float *os = rh + H;                                         /* WOS: the block's o [32] */
    float *xown = os + 32;                                      /* LL: x's rows 16 b.. [16] */
    float *part = reinterpret_cast<float *>(sm + 9216);         /* [2][CW][PR], 16 KB */
    float *ys = part;                                           /* down's y [D]: part's place */
    float *qr = reinterpret_cast<float *>(sm + 9216 + 16384);   /* [DK] */
    float *kr = qr + DK, *op = kr + DK;                         /* [DK], [CW][32] */
    unsigned char *ring = sm + 9216 + 16384 + 3072;
    layer_w *lws = reinterpret_cast<layer_w *>(ring + (size_t)NS * STAGE); /* FIX 32: [L] */
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, tid = threadIdx.x;
    const int b = blockIdx.x, h = b / SUB, s = b % SUB;
    constexpr bool SSEG = (FIX & 16) && !(LAB & 4);
    int trc = 0, trp = TR_P, trw = TR_W; /* TRACE: the next record of each recorder */
    auto stamp = [&](int &n, int code, long v) {
        if (TRACE) {
            a.tr[(size_t)b * TR_N + n] = gtime();
            a.trg[(size_t)b * TR_N + n] = (unsigned)code << 24 | ((unsigned)v & 0xffffffu);
            n++;
        }
    };
    if (tid == 0) {
        for (int i = 0; i < NS; i++) mbar_init(smem_u32(bars + i), 1), mbar_init(smem_u32(bars + NS + i), CW);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    if (FIX & 32)
        for (int k = tid; k < a.L * (int)(sizeof(layer_w) / 8); k += NT)
            reinterpret_cast<uint64_t *>(lws)[k] = reinterpret_cast<const uint64_t *>(a.lw)[k];
    auto LW = [&](int l) -> const layer_w & { return FIX & 32 ? lws[l] : a.lw[l]; };
    __syncthreads();
    if (warp == CW) { /* the producer: every segment's rows, stage by stage */
        if (TRACE && lane == 1) { /* the watcher: each stage's landing */
            long it = 0;
            for (int l = 0; l <= a.L; l++)
                for (int ii = 0; ii < nseg<SSEG>(a, l); ii++) {
                    const seg_t g = segment<WOS>(a, b, l, sid<SSEG>(a, l, ii), lws);
                    for (int r = 0; r < g.rows; r += STAGE / g.rb, it++) {
                        mbar_wait(smem_u32(bars + it % NS), (uint32_t)((it / NS) & 1));
                        stamp(trw, T_LAND, it);
                    }
                }
            a.trn[b * 3 + 2] = trw - TR_W;
            return;
        }
        if (lane) return;
        long it = 0;
        for (int l = 0; l <= a.L; l++)
            for (int ii = 0; ii < nseg<SSEG>(a, l); ii++) {
                const seg_t g = segment<WOS>(a, b, l, sid<SSEG>(a, l, ii), lws);
                const int rps = STAGE / g.rb;
                for (int r = 0; r < g.rows; r += rps, it++) {
                    const int n = g.rows - r < rps ? g.rows - r : rps, sl = (int)(it % NS);
                    if (it >= NS) {
                        stamp(trp, T_PWAIT, it);
                        mbar_wait(smem_u32(bars + NS + sl), (uint32_t)((it / NS - 1) & 1));
                    }
                    stamp(trp, T_ISSUE, it);
                    mbar_expect_tx(smem_u32(bars + sl), (uint32_t)(n * g.rb));
                    bulk_load(smem_u32(ring + (size_t)sl * STAGE),
                              reinterpret_cast<const unsigned char *>(g.p) + (size_t)r * g.rb,
                              (uint32_t)(n * g.rb), smem_u32(bars + sl));
                }
            }
        if (TRACE) a.trn[b * 3 + 1] = trp - TR_P;
        return;
    }
    if (tid == 0) stamp(trc, T_BEGIN, 0);
    long it = 0;
    unsigned epoch = 0;
    int pb = 0; /* part's buffer: segments alternate */
    uint4 v[16]; /* a stage's fragments: the stage in hand, or one drained at a meeting */
    int nd = 0;  /* 1: v holds the first stage of the segment after the meeting */
    volatile unsigned *sflag = reinterpret_cast<volatile unsigned *>(sm + 8192 + 1000);
    if (tid == 0) *sflag = 0;
    /* a meeting (every block), whose waiting warps drain the next segment's first stage into
     * v if it lands, so that the producer may send more of the stream meanwhile (DRAIN) */
    auto meet_d = [&](int nl, int ni) {
        if (LAB & 1) return cbar();
        if (tid == 0) stamp(trc, T_MEET0, nl * 8 + ni);
        cbar();
        epoch += NB;
        if (tid == 0) {
            arrive(a.bar);
            stamp(trc, T_ARR, nl * 8 + ni);
        }
        const seg_t ng = segment<WOS>(a, b, nl, ni, lws);
        const bool may = DRAIN && ng.kind < 2 && !(LAB & 8);
        for (;;) {
            if (tid == 0 && *sflag != epoch && ld_acquire(a.bar) >= epoch) {
                *sflag = epoch;
                stamp(trc, T_SEEN, nl * 8 + ni);
            }
            if (may && !nd) {
                const int sl = (int)(it % NS);
                if (mbar_test(smem_u32(bars + sl), (uint32_t)((it / NS) & 1))) {
                    const int rps = STAGE / ng.rb, n = ng.rows < rps ? ng.rows : rps;
                    tcd_load_any<CW>(v, ring + (size_t)sl * STAGE, ng.kind ? DVT : D, lane, warp, n);
                    __syncwarp();
                    if (!lane) mbar_arrive(smem_u32(bars + NS + sl));
                    if (tid == 0) stamp(trc, T_DRAIN, it);
                    it++, nd = 1;
                }
            }
            if (__shfl_sync(0xffffffffu, *sflag == epoch, 0)) break;
        }
        cbar();
        if (tid == 0) stamp(trc, T_MEET1, nl * 8 + ni);
    };
    float sreg[32]; /* the block's state slice: rows warp * 32 + j, column lane */
    const float gamma = 1.0f - exp2f(-5.0f - (float)h);
    if (LL) norm_in_ll<true>(a.xt, a.tag, LW(0).an, xs, red, xown);
    else norm_in(a.x, LW(0).an, xs, red); /* x: x_in, copied there before the launch */
    dump_xs<CHECK>(a, xs, 0, D);
    for (int l = 0; l <= a.L; l++) {
        if (l == a.L) { /* after the last meeting A */
            if (!LL) norm_in(a.x, a.fn, xs, red); /* LL: done after down */
            dump_xs<CHECK>(a, xs, (size_t)a.L * 8192, D);
        }
        for (int ii = 0; ii < nseg<SSEG>(a, l); ii++) {
            const int i = sid<SSEG>(a, l, ii);
            const seg_t g = segment<WOS>(a, b, l, i, lws);
            if (tid == 0) stamp(trc, T_SEGS, l * 8 + i);
            const int rps = STAGE / g.rb;
            float *pp = part + pb * CW * PR;
            for (int r = 0; r < g.rows; r += rps) {
                const int n = g.rows - r < rps ? g.rows - r : rps, sl = (int)(it % NS);
                if (!LL && r == 0 && nd) { /* drained at the meeting before */
                    nd = 0;
                    tcd_any<CW>(v, reinterpret_cast<const unsigned char *>(xs), g.kind ? DVT : D,
                                lane, warp, n, pp + warp * PR + r);
                    continue;
                }
                const unsigned char *st = ring + (size_t)sl * STAGE;
                if (tid == 0) stamp(trc, T_CWAIT, it);
                mbar_wait(smem_u32(bars + sl), (uint32_t)((it / NS) & 1));
                if (tid == 0) stamp(trc, T_CREADY, it);
                it++;
                if (g.kind == 4) { /* the state slice: rows warp * 32 + j, column lane */
                    const float *sp = reinterpret_cast<const float *>(st) + warp * 32 * 32 + lane;
#pragma unroll
                    for (int j = 0; j < 32; j++) sreg[j] = sp[j * 32];
                    __syncwarp();
                    if (!lane) mbar_arrive(smem_u32(bars + NS + sl));
                    continue;
                }
                if (g.kind >= 2) { /* a slice (down 24 columns, wo 32): a thread a row */
                    const float *in = g.kind == 3 ? os : us;
                    const int nq = g.rb / 16;
                    for (int rr = tid; rr < n && !(LAB & 8); rr += NC) {
                        const uint4 *w4 = reinterpret_cast<const uint4 *>(st + (size_t)rr * g.rb);
                        float acc = 0.f;
#pragma unroll
                        for (int q = 0; q < 4; q++) {
                            if (q >= nq) break;
                            const uint4 wv = w4[q];
                            const uint32_t ww[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
                            for (int e = 0; e < 4; e++)
                                acc += __uint_as_float(ww[e] << 16) * in[8 * q + 2 * e] +
                                       __uint_as_float(ww[e] & 0xffff0000u) * in[8 * q + 2 * e + 1];
                        }
                        if (FIX & 8)
                            asm volatile("red.global.add.f32 [%0], %1;\n" ::"l"(a.x + (b % XREP) * D + r + rr), "f"(acc) : "memory");
                        else
                            ys[r + rr] = acc;
                    }
                    __syncwarp();
                    if (!lane) mbar_arrive(smem_u32(bars + NS + sl));
                    continue;
                }
                if (LAB & 8) {
                    __syncwarp();
                    if (!lane) mbar_arrive(smem_u32(bars + NS + sl));
                    continue;
                }
                tcd_load_any<CW>(v, st, g.kind ? DVT : D, lane, warp, n);
                __syncwarp();
                if (!lane) mbar_arrive(smem_u32(bars + NS + sl));
                tcd_any<CW>(v, reinterpret_cast<const unsigned char *>(xs), g.kind ? DVT : D, lane,
                            warp, n, pp + warp * PR + r);
            }
            if (g.kind == 4 && !(FIX & 64)) continue; /* the state is in sreg */
            if (tid == 0) stamp(trc, T_SEG0, l * 8 + i);
            cbar(); /* the segment's sums (or a slice's y) are in shared memory */
            if (tid == 0) stamp(trc, T_SEG1, l * 8 + i);
            if (LL && g.kind == 2) { /* partials out; this block's rows summed; x's rows out */
                const unsigned tp = a.tag + 4 * l + 2, ta = a.tag + 4 * (l + 1);
                for (int q = tid; q < D; q += NC) st_tag(a.pt + (size_t)b * D + q, ys[q], tp);
                float *pr = part + 2048; /* [NB][16] the rows' partials, in block order */
                const int row = tid & 15, j0 = tid >> 4;
                uint2 u[NB / 16];
                if (tid == 0) stamp(trc, T_ARR, l * 8 + 7);
                for (;;) {
                    bool ok = true;
#pragma unroll
                    for (int e = 0; e < NB / 16; e++)
                        u[e] = ld_tag(a.pt + (size_t)(j0 + 16 * e) * D + 16 * b + row), ok &= u[e].y == tp;
                    if (ok || (LAB & 1)) break;
                }
#pragma unroll
                for (int e = 0; e < NB / 16; e++) pr[(j0 + 16 * e) * 16 + row] = __uint_as_float(u[e].x);
                cbar();
                if (tid == 0) stamp(trc, T_SEEN, l * 8 + 7);
                if (tid < 16) {
                    float t = 0.f;
                    for (int j = 0; j < NB; j++) t += pr[j * 16 + tid];
                    const float xn = xown[tid] + t;
                    st_tag(a.xt + 16 * b + tid, xn, ta);
                }
                if (tid == 0) stamp(trc, T_NORM0, l);
                if (LAB & 1) norm_in_ll<false>(a.xt, ta, l + 1 < a.L ? LW(l + 1).an : a.fn, xs, red, xown);
                else norm_in_ll<true>(a.xt, ta, l + 1 < a.L ? LW(l + 1).an : a.fn, xs, red, xown);
                if (tid == 0) stamp(trc, T_NORM1, l);
                if (CHECK && b == 0)
                    for (int q = tid; q < D; q += NC) a.xl[(size_t)l * D + q] = __uint_as_float(ld_tag(a.xt + q).x);
                dump_xs<CHECK>(a, xs, (size_t)(l + 1) * 8192, D);
                continue;
            }
            if (g.kind == 2 || g.kind == 3) { /* x += y, four floats an add; then meeting B (wo) or A (down) */
                for (int q = tid; q < D / 4 && !(FIX & 8); q += NC) {
                    const float4 y = reinterpret_cast<const float4 *>(ys)[q];
                    asm volatile("red.global.add.v4.f32 [%0], {%1, %2, %3, %4};\n" ::"l"(a.x + (b % XREP) * D + 4 * q),
                                 "f"(y.x), "f"(y.y), "f"(y.z), "f"(y.w)
                                 : "memory");
                }
                if (g.kind == 3) {
                    meet_d(l, 5); /* B: x after the mixer */
                    if (tid == 0) stamp(trc, T_NORM0, l);
                    norm_in(a.x, LW(l).mn, xs, red);
                    if (tid == 0) stamp(trc, T_NORM1, l);
                    dump_xs<CHECK>(a, xs, (size_t)l * 8192 + D + DVT, D);
                    continue;
                }
                meet_d(l + 1, 0); /* A: x after the layer */
                if (CHECK && b == 0)
                    for (int q = tid; q < D; q += NC) {
                        float t = __ldcg(a.x + q);
                        for (int r = 1; r < XREP; r++) t += __ldcg(a.x + r * D + q);
                        a.xl[(size_t)l * D + q] = t;
                    }
                if (l + 1 < a.L) {
                    if (tid == 0) stamp(trc, T_NORM0, l);
                    norm_in(a.x, LW(l + 1).an, xs, red);
                    if (tid == 0) stamp(trc, T_NORM1, l);
                    dump_xs<CHECK>(a, xs, (size_t)(l + 1) * 8192, D);
                }
                continue;
            }
            for (int rr = tid; rr < g.rows; rr += NC) {
                float t = 0.f;
#pragma unroll
                for (int w = 0; w < CW; w++) t += pp[w * PR + rr];
                if (l == a.L) a.logits[OUTR * b + rr] = t;
                else if (i <= 1) {
                    const int at = h * 2 * DK + i * DK + 16 * s + rr;
                    if (FIX & 4) { /* one 8-byte store: the value and its tag land together */
                        const unsigned tg = a.tag + l;
                        asm volatile("st.relaxed.gpu.global.v2.u32 [%0], {%1, %2};\n" ::"l"(a.qkt + at),
                                     "r"(__float_as_uint(t)), "r"(tg)
                                     : "memory");
                    } else
                        a.qk[at] = t;
                }
                else if (i == 2) vs[rr] = t;
                else if (i == 3) gs[rr] = t;
                else if (i == 4) {
                    const int row = 16 * b + rr;
                    if (LL) {
                        const float xn = xown[rr] + t;
                        xown[rr] = xn;
                        st_tag(a.xt + row, xn, a.tag + 4 * l + 1);
                    } else if (FIX & 1)
                        asm volatile("red.global.add.f32 [%0], %1;\n" ::"l"(a.x + row), "f"(t) : "memory");
                    else
                        a.x[row] = __ldcg(a.x + row) + t;
                } else if (i == 5) ups[rr] = t;
                else if (i == 6) us[rr] = swishf(t) * ups[rr];
            }
            pb ^= 1;
            if (tid == 0) stamp(trc, T_RED, l * 8 + i);
            if (l == a.L) continue;
            if (i == 1) { /* q and k of this block are out: count them; the state slice in */
                cbar();
                if (!(FIX & 4) && tid == 0) arrive(a.cnt + h);
                if (tid == 0) stamp(trc, T_ARR, l * 8 + 1);
                const float *Sp = a.S + (((size_t)l * H + h) * DK + warp * 32) * DV + 32 * s + lane;
                if (!SSEG)
#pragma unroll
                    for (int j = 0; j < 32; j++) sreg[j] = LAB & 4 ? 0.f : __ldcg(Sp + (size_t)j * DV);
            } else if (i == (FIX & 64 ? 8 : 3)) { /* the state update, once the head's 16 blocks have counted */
                if (tid == 0) stamp(trc, T_HEAD0, l);
                if (!(FIX & 4) && tid == 0 && !(LAB & 2))
                    while (ld_acquire(a.cnt + h) < (unsigned)SUB * (l + 1)) {
                    }
                cbar();
                if (tid == 0) stamp(trc, T_HEAD1, l);
                if (tid < DK / 2) { /* rope "half": pairs (j, j + dk / 2); k also by dk^-0.5 */
                    const float c = a.cs[tid], sn = a.sn[tid];
                    float q0, q1, k0, k1;
                    if (FIX & 4) { /* until all four carry this layer's tag */
                        const uint2 *p = a.qkt + h * 2 * DK;
                        const int at[4] = {tid, tid + DK / 2, DK + tid, DK + tid + DK / 2};
                        uint32_t vv[4], tg[4];
                        for (;;) {
#pragma unroll
                            for (int e = 0; e < 4; e++)
                                asm volatile("ld.relaxed.gpu.global.v2.u32 {%0, %1}, [%2];\n"
                                             : "=r"(vv[e]), "=r"(tg[e])
                                             : "l"(p + at[e])
                                             : "memory");
                            const unsigned want = a.tag + l;
                            if ((LAB & 2) || (tg[0] == want && tg[1] == want && tg[2] == want && tg[3] == want)) break;
                        }
                        q0 = __uint_as_float(vv[0]), q1 = __uint_as_float(vv[1]);
                        k0 = __uint_as_float(vv[2]), k1 = __uint_as_float(vv[3]);
                    } else {
                        const float *q = a.qk + h * 2 * DK, *k = q + DK;
                        q0 = __ldcg(q + tid), q1 = __ldcg(q + tid + DK / 2);
                        k0 = __ldcg(k + tid), k1 = __ldcg(k + tid + DK / 2);
                    }
                    qr[tid] = q0 * c - q1 * sn, qr[tid + DK / 2] = q1 * c + q0 * sn;
                    kr[tid] = (k0 * c - k1 * sn) * 0.0625f, kr[tid + DK / 2] = (k1 * c + k0 * sn) * 0.0625f;
                }
                cbar();
                float o = 0.f;
                const float vc = vs[lane];
                float *Sp = a.S + (((size_t)l * H + h) * DK + warp * 32) * DV + 32 * s + lane;
                if (FIX & 16) Sp = a.S + ((((size_t)l * H + h) * SUB + s) * DK + warp * 32) * 32 + lane;
                const int sst = FIX & 16 ? 32 : DV;
#pragma unroll
                for (int j = 0; j < 32; j++) {
                    const float sv = gamma * sreg[j] + kr[warp * 32 + j] * vc;
                    o += qr[warp * 32 + j] * sv;
                    if (!(LAB & 4)) Sp[(size_t)j * sst] = sv;
                }
                op[warp * 32 + lane] = o;
                cbar();
                if (warp == 0) {
                    float t = 0.f;
#pragma unroll
                    for (int w = 0; w < CW; w++) t += op[w * 32 + lane];
                    const int c = 32 * s + lane;
                    const float z = t * LW(l).hn[c] * swishf(gs[lane]);
                    if (LL) st_tag(a.zt + h * DV + c, z, a.tag + 4 * l + 3);
                    else if (!WOS) a.z[h * DV + c] = z;
                    float q2 = t * t;
                    for (int o2 = 16; o2; o2 >>= 1) q2 += __shfl_xor_sync(0xffffffffu, q2, o2);
                    if (!lane) {
                        if (LL) st_tag(a.hpt + h * SUB + s, q2, a.tag + 4 * l + 3);
                        else a.hp[((size_t)l * H + h) * SUB + s] = q2;
                    }
                    if (WOS) { /* the head's sums, from its 16 blocks: a wait a head, not a meeting */
                        if (!lane) {
                            __threadfence();
                            atomicAdd(a.cnt2 + h, 1u);
                            if (!(LAB & 2))
                                while (ld_acquire(a.cnt2 + h) < (unsigned)SUB * (l + 1)) {
                                }
                        }
                        __syncwarp();
                        float hs = lane < SUB ? __ldcg(a.hp + ((size_t)l * H + h) * SUB + lane) : 0.f;
                        /* in block order, as the !WOS path sums them */
                        float tot = 0.f;
                        for (int q = 0; q < SUB; q++) tot += __shfl_sync(0xffffffffu, hs, q);
                        const uint16_t ob = bf16_rn(z * (1.0f / sqrtf(tot / DV + EPS)));
                        os[lane] = __uint_as_float((uint32_t)ob << 16);
                        if (CHECK) a.dump[(size_t)l * 8192 + D + h * DV + c] = ob;
                    }
                }
                if (WOS) {
                    cbar();
                    continue;
                }
                if (LL) { /* z and the sums, until tagged this layer's */
                    if (tid == 0) stamp(trc, T_Z0, l);
                    const unsigned tz = a.tag + 4 * l + 3;
                    uint2 zu[DVT / NC];
                    for (;;) {
                        bool ok = true;
#pragma unroll
                        for (int e = 0; e < DVT / NC; e++) zu[e] = ld_tag(a.zt + tid + NC * e), ok &= zu[e].y == tz;
                        if (ok || (LAB & 1)) break;
                    }
                    if (tid < H) {
                        uint2 hu[SUB];
                        for (;;) {
                            bool ok = true;
#pragma unroll
                            for (int q = 0; q < SUB; q++) hu[q] = ld_tag(a.hpt + tid * SUB + q), ok &= hu[q].y == tz;
                            if (ok || (LAB & 1)) break;
                        }
                        float t = 0.f;
#pragma unroll
                        for (int q = 0; q < SUB; q++) t += __uint_as_float(hu[q].x);
                        rh[tid] = 1.0f / sqrtf(t / DV + EPS);
                    }
                    cbar();
#pragma unroll
                    for (int e = 0; e < DVT / NC; e++) {
                        const int c = tid + NC * e;
                        xs[c] = bf16_rn(__uint_as_float(zu[e].x) * rh[c / DV]);
                    }
                    cbar();
                } else {
                meet_d(l, 4); /* M: every head's z and sums are out */
                if (tid == 0) stamp(trc, T_Z0, l);
                if (FIX & 2) { /* z's 16 values a thread and the sums in one round trip */
                    float zv[DVT / NC], hv[SUB];
#pragma unroll
                    for (int e = 0; e < DVT / NC; e++) zv[e] = __ldcg(a.z + tid + NC * e);
                    if (tid < H) {
#pragma unroll
                        for (int q = 0; q < SUB; q++) hv[q] = __ldcg(a.hp + ((size_t)l * H + tid) * SUB + q);
                        float t = 0.f;
#pragma unroll
                        for (int q = 0; q < SUB; q++) t += hv[q];
                        rh[tid] = 1.0f / sqrtf(t / DV + EPS);
                    }
                    cbar();
#pragma unroll
                    for (int e = 0; e < DVT / NC; e++) {
                        const int c = tid + NC * e;
                        xs[c] = bf16_rn(zv[e] * rh[c / DV]);
                    }
                    cbar();
                } else {
                    if (tid < H) {
                        float t = 0.f;
                        for (int q = 0; q < SUB; q++) t += __ldcg(a.hp + ((size_t)l * H + tid) * SUB + q);
                        rh[tid] = 1.0f / sqrtf(t / DV + EPS);
                    }
                    cbar();
                    for (int c = tid; c < DVT; c += NC) xs[c] = bf16_rn(__ldcg(a.z + c) * rh[c / DV]);
                    cbar();
                }
                }
                dump_xs<CHECK>(a, xs, (size_t)l * 8192 + D, DVT);
                if (tid == 0) stamp(trc, T_Z1, l);
            } else if (i == 4 && !WOS) {
                if (tid == 0) stamp(trc, T_NORM0, l);
                if (LL) { /* B: x after the mixer, tagged by its owners */
                    if (LAB & 1) norm_in_ll<false>(a.xt, a.tag + 4 * l + 1, LW(l).mn, xs, red, xown);
                    else norm_in_ll<true>(a.xt, a.tag + 4 * l + 1, LW(l).mn, xs, red, xown);
                } else {
                    meet_d(l, 5); /* B: x after the mixer */
                    norm_in(a.x, LW(l).mn, xs, red);
                }
                if (tid == 0) stamp(trc, T_NORM1, l);
                dump_xs<CHECK>(a, xs, (size_t)l * 8192 + D + DVT, D);
            } else if (i == 6) {
                if (tid < FJP - FJ) us[FJ + tid] = 0.f;
                cbar();
            }
        }
    }
    if (TRACE && tid == 0) {
        stamp(trc, T_END, 0);
        a.trn[b * 3] = trc;
    }
}

/* the weights' values: a hash of their place in the arena, uniform in [-scale, scale), bf16 */
__host__ __device__ inline uint16_t w_at(size_t e, float scale) {
    uint64_t z = (uint64_t)e * 0x9E3779B97F4A7C15ull + 0x1234567ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const float u = (float)((double)(z >> 11) * 0x1p-53 * 2.0 - 1.0) * scale;
    uint32_t bits;
    memcpy(&bits, &u, 4);
    return (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}
__host__ __device__ inline float bf(uint16_t v) {
    const uint32_t u = (uint32_t)v << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
/* [start, start + n) of the arena; pad24: down's slices, whose columns 22 and 23 are zero */
__global__ void fill_kernel(uint16_t *w, size_t start, size_t n, float scale, int pad24) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        w[start + i] = pad24 && i % FJP >= FJ ? 0 : w_at(start + i, scale);
}
static float bf16r(double v) { /* round to bf16 as the kernel does (from float) */
    const float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, 4);
    return bf((uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16));
}
static float urand(uint64_t &st) {
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(st >> 11) * 0x1p-53 * 2.0 - 1.0);
}

/* The float64 step. ref_in: the arena's offsets, the norms' weights, the rotation. */
struct ref_in {
    int L;
    const std::vector<size_t> *off;
    size_t out_off;
    const std::vector<float> *hf, *hcs, *hsn;
    const float *an(int l) const { return hf->data() + (size_t)l * (2 * D + DV); }
    int wos; /* wo stored as [NB][D][32] slices */
};
static const float sD = sqrtf(3.0f / D), sF = sqrtf(3.0f / F);
/* y = W x for the arena's N x K matrix at o0; sw > 0: stored as slices of sw columns, each
 * [N][pw] (down: 22 of 24; wo under WOS: 32 of 32) */
static void mv(size_t o0, int N, int K, float scale, const double *x, double *y, int sw = 0,
               int pw = 0) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
        double acc = 0;
        for (int c = 0; c < K; c++) {
            const size_t e = sw ? o0 + ((size_t)(c / sw) * N + r) * pw + c % sw : o0 + (size_t)r * K + c;
            acc += (double)bf(w_at(e, scale)) * x[c];
        }
        y[r] = acc;
    }
}
/* y = wo o, layer l */
static void wo_mv(const ref_in &R, int l, const double *o, double *y) {
    mv((*R.off)[8 * l + 4], D, DVT, sqrtf(3.0f / DVT), o, y, R.wos ? 32 : 0, 32);
}
/* RMSNorm of x (D) with weight w, rounded to bf16 where round */
static void rmsnorm(const double *x, const float *w, double *o, int round) {
    double ss = 0;
    for (int i = 0; i < D; i++) ss += x[i] * x[i];
    const double r = 1.0 / sqrt(ss / D + EPS);
    for (int i = 0; i < D; i++) o[i] = round ? bf16r(x[i] * r * w[i]) : x[i] * r * w[i];
}
/* layer l's mixer input a -> its heads' o w swish(g) / rms(o), each head's state updated in S */
static void mixer(const ref_in &R, int l, const double *in, std::vector<double> &S, double *o_out,
                  int round) {
    const std::vector<size_t> &off = *R.off;
    std::vector<double> q(DKT), k(DKT), vv(DVT), gg(DVT), o(DV);
    mv(off[8 * l], DKT, D, sD, in, q.data());
    mv(off[8 * l + 1], DKT, D, sD, in, k.data());
    mv(off[8 * l + 2], DVT, D, sD, in, vv.data());
    mv(off[8 * l + 3], DVT, D, sD, in, gg.data());
    const float *hn = R.an(l) + 2 * D;
    for (int hh = 0; hh < H; hh++) {
        double qr[DK], kr[DK];
        for (int j = 0; j < DK / 2; j++) { /* rope "half"; k also by dk^-0.5 */
            const double c = (*R.hcs)[j], sn = (*R.hsn)[j];
            const double *qq = q.data() + hh * DK, *kk = k.data() + hh * DK;
            qr[j] = qq[j] * c - qq[j + DK / 2] * sn, qr[j + DK / 2] = qq[j + DK / 2] * c + qq[j] * sn;
            kr[j] = (kk[j] * c - kk[j + DK / 2] * sn) / 16, kr[j + DK / 2] = (kk[j + DK / 2] * c + kk[j] * sn) / 16;
        }
        const double gam = 1.0 - pow(2.0, -5.0 - hh);
        double ss = 0;
        for (int c = 0; c < DV; c++) {
            double acc = 0;
            for (int i = 0; i < DK; i++) {
                double &sv = S[(((size_t)l * H + hh) * DK + i) * DV + c];
                sv = gam * sv + kr[i] * vv[hh * DV + c];
                acc += qr[i] * sv;
            }
            o[c] = acc, ss += acc * acc;
        }
        const double r = 1.0 / sqrt(ss / DV + EPS);
        for (int c = 0; c < DV; c++) {
            const double gv = gg[hh * DV + c], v = o[c] * hn[c] * (gv / (1 + exp(-gv))) * r;
            o_out[hh * DV + c] = round ? bf16r(v) : v;
        }
    }
}
/* x += down (swish(gate b) up b) */
static void ffn(const ref_in &R, int l, const double *bin, double *x) {
    const std::vector<size_t> &off = *R.off;
    std::vector<double> up(F), u(F), y(D);
    mv(off[8 * l + 5], F, D, sD, bin, up.data());
    mv(off[8 * l + 6], F, D, sD, bin, u.data());
    for (int j = 0; j < F; j++) u[j] = u[j] / (1 + exp(-u[j])) * up[j];
    mv(off[8 * l + 7], D, F, sF, u.data(), y.data(), FJ, FJP);
    for (int i = 0; i < D; i++) x[i] += y[i];
}
/* The whole step from x_in and the states S (updated in place): logits and the new x; the
 * products' inputs rounded to bf16 where round */
static void reference(const ref_in &R, const std::vector<double> &x_in, std::vector<double> &S,
                      std::vector<double> &x, std::vector<double> &lg, int round) {
    std::vector<double> in(DVT), y(D);
    x = x_in;
    for (int l = 0; l < R.L; l++) {
        rmsnorm(x.data(), R.an(l), in.data(), round);
        mixer(R, l, in.data(), S, in.data(), round);
        wo_mv(R, l, in.data(), y.data());
        for (int i = 0; i < D; i++) x[i] += y[i];
        rmsnorm(x.data(), R.an(l) + D, in.data(), round);
        ffn(R, l, in.data(), x.data());
    }
    rmsnorm(x.data(), R.an(R.L), in.data(), round);
    lg.assign(V, 0.0);
    mv(R.out_off, V, D, sD, in.data(), lg.data());
}
/* kb against the bf16 rounding of ref: the same (0), one bf16 step apart or within one step and
 * fp32's error of a sum (eps: a value near zero after cancellation) of ref (1), further (2) */
static int bf16_cmp(double ref, uint16_t kb, double eps) {
    const double r = bf16r(ref), k = bf(kb);
    if (r == k) return 0;
    const double m = fmax(fabs(r), fabs(k)), step = ldexp(1.0, ilogb(m) - 7);
    return fabs(r - k) <= step || fabs(ref - k) <= step + eps ? 1 : 2;
}

int main(int argc, char **argv) {
    const int L = argc > 1 ? atoi(argv[1]) : 24;
    const int reps = argc > 2 ? atoi(argv[2]) : 20;
    if (L < 1 || L > MAXL) return printf("layers: 1..%d\n", MAXL), 1;
    /* the arena, in the order each layer streams it */
    struct mat { size_t off, n; float scale; int pad; };
    std::vector<mat> mats;
    size_t elems = 0;
    auto add = [&](size_t n, int K, int pad) {
        mats.push_back(mat{elems, n, sqrtf(3.0f / K), pad});
        elems += n;
        return mats.back().off;
    };
    std::vector<size_t> off(8 * L);
    for (int l = 0; l < L; l++) {
        off[8 * l + 0] = add((size_t)DKT * D, D, 0), off[8 * l + 1] = add((size_t)DKT * D, D, 0);
        off[8 * l + 2] = add((size_t)DVT * D, D, 0), off[8 * l + 3] = add((size_t)DVT * D, D, 0);
        off[8 * l + 4] = add((size_t)D * DVT, DVT, 0);
        off[8 * l + 5] = add((size_t)F * D, D, 0), off[8 * l + 6] = add((size_t)F * D, D, 0);
        off[8 * l + 7] = add((size_t)NB * D * FJP, F, 1);
    }
    const size_t out_off = add((size_t)V * D, D, 0);
    /* norms' weights, x, the state, the rotation at position 100 */
    uint64_t st = 42;
    const int nf = L * (2 * D + DV) + D;
    std::vector<float> hf(nf), hx(D), hS((size_t)L * H * DK * DV), hcs(DK / 2), hsn(DK / 2);
    for (float &v : hf) v = 1.0f + 0.25f * urand(st);
    for (float &v : hx) v = urand(st);
    for (float &v : hS) v = 0.1f * urand(st);
    for (int j = 0; j < DK / 2; j++) {
        const double th = 100.0 * pow(10000.0, -2.0 * j / DK);
        hcs[j] = (float)cos(th), hsn[j] = (float)sin(th);
    }
    const bool wos = getenv("MEGA_WOS") != NULL;
    const ref_in R{L, &off, out_off, &hf, &hcs, &hsn, wos};
    if (argc > 3 && !strcmp(argv[3], "ref")) { /* no GPU: how the step amplifies a small change */
        const std::vector<double> x0(hx.begin(), hx.end());
        std::vector<double> x1 = x0;
        for (double &v : x1) v *= 1.0 + 0x1p-22;
        auto rel = [](const std::vector<double> &p, const std::vector<double> &q) {
            double e = 0, m = 0;
            for (size_t i = 0; i < p.size(); i++) e = fmax(e, fabs(p[i] - q[i])), m = fmax(m, fabs(q[i]));
            return e / m;
        };
        std::vector<double> Sr[2], xr[2], lr[2];
        for (int round = 0; round <= 1; round++) {
            std::vector<double> S0(hS.begin(), hS.end()), S1 = S0, xa, xb, la, lb;
            reference(R, x0, S0, xa, la, round);
            reference(R, x1, S1, xb, lb, round);
            printf("float64 step (%d layers, inputs %s): x_in changed by 2^-22 of itself moves the "
                   "logits by %.2e, x by %.2e, the states by %.2e of their largest\n",
                   L, round ? "rounded to bf16" : "unrounded", rel(la, lb), rel(xa, xb), rel(S0, S1));
            Sr[round] = S0, xr[round] = xa, lr[round] = la;
        }
        printf("float64 step (%d layers): rounded against unrounded: logits %.2e, x %.2e, states "
               "%.2e of their largest\n",
               L, rel(lr[1], lr[0]), rel(xr[1], xr[0]), rel(Sr[1], Sr[0]));
        return 0;
    }
    int sms = 0;
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    if (sms < NB) return printf("needs %d SMs, has %d\n", NB, sms), 1;
    uint16_t *w;
    CK(cudaMalloc(&w, elems * 2));
    for (const mat &m : mats) fill_kernel<<<sms * 8, 256>>>(w, m.off, m.n, m.scale, m.pad);
    CK(cudaDeviceSynchronize());
    float *d_f, *d_xin, *d_x, *d_S, *d_qk, *d_z, *d_hp, *d_lg, *d_cs, *d_sn, *sink;
    unsigned *d_cnt;
    CK(cudaMalloc(&d_f, nf * 4));
    CK(cudaMalloc(&d_xin, D * 4));
    CK(cudaMalloc(&d_x, XREP * D * 4));
    uint2 *d_qkt;
    CK(cudaMalloc(&d_qkt, H * 2 * DK * 8));
    CK(cudaMemset(d_qkt, 0, H * 2 * DK * 8));
    uint2 *d_tg; /* LL: xt, pt, zt, hpt */
    const size_t ntg = D + (size_t)NB * D + DVT + H * SUB;
    CK(cudaMalloc(&d_tg, ntg * 8));
    CK(cudaMemset(d_tg, 0, ntg * 8));
    std::vector<uint2> hxt(D);
    CK(cudaMalloc(&d_S, hS.size() * 4));
    CK(cudaMalloc(&d_qk, H * 2 * DK * 4));
    CK(cudaMalloc(&d_z, DVT * 4));
    CK(cudaMalloc(&d_hp, (size_t)L * H * SUB * 4));
    CK(cudaMalloc(&d_lg, V * 4));
    CK(cudaMalloc(&d_cs, DK / 2 * 4));
    CK(cudaMalloc(&d_sn, DK / 2 * 4));
    CK(cudaMalloc(&d_cnt, (2 * H + 1) * 4));
    float *d_xl;
    CK(cudaMalloc(&d_xl, (size_t)L * D * 4));
    CK(cudaMalloc(&sink, 4));
    CK(cudaMemcpy(d_f, hf.data(), nf * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_xin, hx.data(), D * 4, cudaMemcpyHostToDevice));
    /* FIX 16: S as each block's slice, [L][H][SUB][DK][32] */
    auto sperm = [&](size_t e) { /* the place of [L][H][DK][DV]'s element e */
        if (!(FIX & 16)) return e;
        const size_t c = e % DV, i = e / DV % DK, lh = e / ((size_t)DK * DV);
        return ((lh * SUB + c / 32) * DK + i) * 32 + c % 32;
    };
    {
        std::vector<float> t(hS.size());
        for (size_t e = 0; e < hS.size(); e++) t[sperm(e)] = hS[e];
        CK(cudaMemcpy(d_S, t.data(), t.size() * 4, cudaMemcpyHostToDevice));
    }
    CK(cudaMemcpy(d_cs, hcs.data(), DK / 2 * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_sn, hsn.data(), DK / 2 * 4, cudaMemcpyHostToDevice));
    step_t a;
    memset(&a, 0, sizeof a);
    a.L = L;
    for (int l = 0; l < L; l++) {
        layer_w &lw = a.lw[l];
        lw.q = w + off[8 * l], lw.k = w + off[8 * l + 1], lw.v = w + off[8 * l + 2];
        lw.g = w + off[8 * l + 3], lw.o = w + off[8 * l + 4], lw.up = w + off[8 * l + 5];
        lw.gate = w + off[8 * l + 6], lw.down = w + off[8 * l + 7];
        lw.an = d_f + (size_t)l * (2 * D + DV), lw.mn = lw.an + D, lw.hn = lw.mn + D;
    }
    a.out = w + out_off, a.fn = d_f + (size_t)L * (2 * D + DV);
    a.xt = d_tg, a.pt = d_tg + D, a.zt = a.pt + (size_t)NB * D, a.hpt = a.zt + DVT;
    a.x = d_x, a.S = d_S, a.qk = d_qk, a.qkt = d_qkt, a.z = d_z, a.hp = d_hp, a.logits = d_lg;
    a.cs = d_cs, a.sn = d_sn, a.cnt = d_cnt, a.bar = d_cnt + H, a.cnt2 = d_cnt + H + 1;
    const size_t smem = 9216 + 16384 + 3072 + (size_t)NS * STAGE + MAXL * sizeof(layer_w);
    const int labs[] = {0, 1, 2, 4, 8, 3, 7, 15, -1};
#define KERNELS(W)                                                                               \
    {step_kernel<false, 0, DR, W>,  step_kernel<false, 1, DR, W>,  step_kernel<false, 2, DR, W>, \
     step_kernel<false, 4, DR, W>,  step_kernel<false, 8, DR, W>,  step_kernel<false, 3, DR, W>, \
     step_kernel<false, 7, DR, W>,  step_kernel<false, 15, DR, W>, step_kernel<false, 0, !DR, W>, \
     step_kernel<true, 0, DR, W>}
    void (*kern_rows[])(step_t) = KERNELS(false);
    void (*kern_wos[])(step_t) = KERNELS(true);
    void (**kern)(step_t) = wos ? kern_wos : kern_rows;
    for (int k = 0; k < 10; k++)
        CK(cudaFuncSetAttribute(kern_wos[k], cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    for (int k = 0; k < 10; k++)
        CK(cudaFuncSetAttribute(kern_rows[k], cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    void *args[] = {&a};
    /* before each launch: the counters zero, x_in in copy 0 and the others zero, a new tag */
    auto prep = [&]() {
        CK(cudaMemsetAsync(d_cnt, 0, (2 * H + 1) * 4));
        CK(cudaMemcpyAsync(d_x, d_xin, D * 4, cudaMemcpyDeviceToDevice));
        if (XREP > 1) CK(cudaMemsetAsync(d_x + D, 0, (size_t)(XREP - 1) * D * 4));
        a.tag += 128;
        if (LL) { /* x_in, tagged as x entering layer 0 */
            for (int i = 0; i < D; i++) hxt[i] = make_uint2(*reinterpret_cast<const uint32_t *>(&hx[i]), a.tag);
            CK(cudaMemcpy(a.xt, hxt.data(), D * 8, cudaMemcpyHostToDevice));
        }
    };
    auto launch = [&](bool check) {
        prep();
        CK(cudaLaunchCooperativeKernel((void *)kern[check ? 9 : 0], dim3(NB), dim3(NT), args, smem, 0));
    };

    /* the check: one step from the uploaded state; block 0 keeps x after every layer and every
     * product's input */
    uint16_t *d_dump;
    CK(cudaMalloc(&d_dump, (size_t)(L + 1) * 8192 * 2));
    a.xl = d_xl, a.dump = d_dump;
    launch(true);
    CK(cudaDeviceSynchronize());
    a.xl = NULL, a.dump = NULL;
    std::vector<float> glg(V), gx(D), gS(hS.size()), gxl((size_t)L * D);
    std::vector<uint16_t> gd((size_t)(L + 1) * 8192);
    CK(cudaMemcpy(gxl.data(), d_xl, gxl.size() * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(gd.data(), d_dump, gd.size() * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(glg.data(), d_lg, V * 4, cudaMemcpyDeviceToHost));
    {
        std::vector<float> gr((size_t)XREP * D);
        CK(cudaMemcpy(gr.data(), d_x, gr.size() * 4, cudaMemcpyDeviceToHost));
        if (LL) { /* x from its tagged array */
            CK(cudaMemcpy(hxt.data(), a.xt, D * 8, cudaMemcpyDeviceToHost));
            for (int i = 0; i < D; i++) memcpy(&gr[i], &hxt[i].x, 4);
        }
        for (int i = 0; i < D; i++) { /* the copies summed in the kernel's order */
            float t = gr[i];
            for (int r = 1; r < XREP; r++) t += gr[(size_t)r * D + i];
            gx[i] = t;
        }
    }
    {
        std::vector<float> t(gS.size());
        CK(cudaMemcpy(t.data(), d_S, t.size() * 4, cudaMemcpyDeviceToHost));
        for (size_t e = 0; e < gS.size(); e++) gS[e] = t[sperm(e)];
    }
    {
        /* Layer by layer, from the kernel's own values: each product of the float64 step takes
         * the kernel's bf16 input (block 0's copy), so that what remains is fp32 sums against
         * float64: the kernel's x after each layer, its states and the logits within 2^-16 of
         * their largest (x after a layer sums ~10^4 products of weights ~0.03 and inputs ~3 in
         * fp32, ~1e-6 of it). Each rounded input the kernel made must be the float64 value
         * rounded to bf16, or one bf16 step from it (a value within fp32's error of a rounding
         * boundary; "flips", counted), or within a step and 2^-16 of the vector's largest value
         * of the float64 value (one that cancelled to near zero, where fp32's relative error is
         * large). A whole step cannot be compared as sharply: over 24
         * layers those flips make it chaotic (`mega_lab 24 1 ref`, no GPU: x_in changed by
         * 2^-22 of itself moves the float64 logits by 1.1e-2 with the inputs rounded to bf16,
         * by 1.1e-6 without). */
        auto rel = [](const float *g, const double *r, size_t n) {
            double e = 0, m = 0;
            for (size_t i = 0; i < n; i++) e = fmax(e, fabs(g[i] - r[i])), m = fmax(m, fabs(r[i]));
            return e / m;
        };
        const double tol = 0x1p-16;
        double wx = 0, ws = 0;
        int worst_x = 0, worst_s = 0;
        long flips = 0, bad = 0, inputs = 0;
        std::vector<double> S(hS.begin(), hS.end()), x(D), ref(DVT), kin(DVT), y(D);
        auto inputs_of = [&](const double *want, const uint16_t *got, int n) {
            double mx = 0; /* fp32's error in a value that cancelled: tol of the vector's largest */
            for (int i = 0; i < n; i++) mx = fmax(mx, fabs(want[i]));
            for (int i = 0; i < n; i++) {
                const int c = bf16_cmp(want[i], got[i], tol * mx);
                flips += c == 1, bad += c == 2, kin[i] = bf(got[i]);
            }
            inputs += n;
        };
        for (int l = 0; l < L; l++) {
            const uint16_t *dm = gd.data() + (size_t)l * 8192;
            for (int i = 0; i < D; i++) x[i] = l == 0 ? hx[i] : gxl[(size_t)(l - 1) * D + i];
            rmsnorm(x.data(), R.an(l), ref.data(), 0);
            inputs_of(ref.data(), dm, D); /* a */
            mixer(R, l, kin.data(), S, ref.data(), 0);
            inputs_of(ref.data(), dm + D, DVT); /* o */
            wo_mv(R, l, kin.data(), y.data());
            for (int i = 0; i < D; i++) x[i] += y[i];
            rmsnorm(x.data(), R.an(l) + D, ref.data(), 0);
            inputs_of(ref.data(), dm + D + DVT, D); /* b */
            ffn(R, l, kin.data(), x.data());
            const size_t so = (size_t)l * H * DK * DV, sn = (size_t)H * DK * DV;
            const double ex = rel(gxl.data() + (size_t)l * D, x.data(), D);
            const double es = rel(gS.data() + so, S.data() + so, sn);
            if (ex > wx) wx = ex, worst_x = l;
            if (es > ws) ws = es, worst_s = l;
        }
        std::vector<double> lg(V);
        for (int i = 0; i < D; i++) x[i] = gxl[(size_t)(L - 1) * D + i];
        rmsnorm(x.data(), R.an(L), ref.data(), 0);
        inputs_of(ref.data(), gd.data() + (size_t)L * 8192, D);
        mv(out_off, V, D, sD, kin.data(), lg.data());
        const double el = rel(glg.data(), lg.data(), V);
        double exf = 0; /* the kernel's x and block 0's copy of it after the last layer */
        for (int i = 0; i < D; i++) exf = fmax(exf, fabs((double)gx[i] - gxl[(size_t)(L - 1) * D + i]));
        const bool ok = el <= tol && wx <= tol && ws <= tol && exf == 0.0 && bad == 0;
        printf("check (%d layers, each product from the kernel's input): x after a layer %.2e (worst, "
               "layer %d), states %.2e (layer %d), logits %.2e of their largest (tol %.2e); "
               "rounded inputs: %ld of %ld one bf16 step off, %ld further; the copy of the last x "
               "%s: %s\n",
               L, wx, worst_x, ws, worst_s, el, tol, flips, inputs, bad,
               exf == 0.0 ? "the same" : "differs", ok ? "ok" : "FAILED");
    }

    /* timing: the state evolves step to step; x_in stays */
    const double wbytes = (double)elems * 2, lbytes = wbytes - (double)L * NB * D * (FJP - FJ) * 2;
    const double sbytes = (double)L * H * DK * DV * 4;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int li = 0; li < 9; li++) {
    const int lab = labs[li];
    float ms, best = 1e9, bestr = 1e9;
    std::vector<float> all;
    for (int r = 0; r < reps; r++) {
        prep();
        CK(cudaEventRecord(e0));
        CK(cudaLaunchCooperativeKernel((void *)kern[li], dim3(NB), dim3(NT), args, smem, 0));
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&ms, e0, e1));
        all.push_back(ms), best = ms < best ? ms : best;
        const long n = (long)(elems * 2 / 16);
        CK(cudaEventRecord(e0));
        read_kernel<<<sms * 8, 512>>>((const uint4 *)w, n, sink);
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&ms, e0, e1));
        bestr = ms < bestr ? ms : bestr;
    }
    std::sort(all.begin(), all.end());
    const double bound = (lbytes + sbytes) / 4.8e12 * 1e3;
    if (lab == 0)
        printf("step (%d layers, %s, %d KB stages, %s drain): best %.3f ms, median %.3f; plain read of its %.3f GB %.3f ms; bound "
               "(%.3f GB of weights + %.3f GB of state at 4.8 TB/s) %.3f ms: %.0f%% of it\n",
               L, wos ? "wo by o's columns, 2 meetings a layer" : "wo by rows, 3 meetings a layer",
               STAGE / 1024, DR ? "with" : "no", best, all[all.size() / 2], wbytes / 1e9, bestr, lbytes / 1e9, sbytes / 1e9, bound,
               100.0 * bound / all[all.size() / 2]);
    else if (lab < 0)
        printf("  the same %s the meetings' drain: best %.3f ms, median %.3f\n", DR ? "without" : "with", best,
               all[all.size() / 2]);
    else
        printf("  timing only, lab %2d (%s%s%s%s): best %.3f ms, median %.3f\n", lab,
               lab & 1 ? "no meetings " : "", lab & 2 ? "no head waits " : "",
               lab & 4 ? "no state bytes " : "", lab & 8 ? "no products" : "", best, all[all.size() / 2]);
    }
    /* TRACE: one more step with stamps; where each block's stream stood idle (no stage in
     * flight between its bulk copy and its landing), and what the consumers were doing then */
    {
        unsigned long long *d_tr;
        unsigned *d_trg, *d_trn;
        CK(cudaMalloc(&d_tr, (size_t)NB * TR_N * 8));
        CK(cudaMalloc(&d_trg, (size_t)NB * TR_N * 4));
        CK(cudaMalloc(&d_trn, (size_t)NB * 3 * 4));
        a.tr = d_tr, a.trg = d_trg, a.trn = d_trn;
        void (*tk)(step_t) = wos ? step_kernel<false, 0, DR, true, true> : step_kernel<false, 0, DR, false, true>;
        CK(cudaFuncSetAttribute(tk, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        std::vector<unsigned long long> ht((size_t)NB * TR_N);
        std::vector<unsigned> hg((size_t)NB * TR_N), hn(NB * 3);
        float tms = 0;
        for (int r = 0; r < 3; r++) { /* the last of three */
            prep();
            CK(cudaEventRecord(e0));
            CK(cudaLaunchCooperativeKernel((void *)tk, dim3(NB), dim3(NT), args, smem, 0));
            CK(cudaEventRecord(e1));
            CK(cudaEventSynchronize(e1));
            CK(cudaEventElapsedTime(&tms, e0, e1));
        }
        CK(cudaMemcpy(ht.data(), d_tr, ht.size() * 8, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(hg.data(), d_trg, hg.size() * 4, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(hn.data(), d_trn, hn.size() * 4, cudaMemcpyDeviceToHost));
        if (const char *f = getenv("MEGA_TRACE_FILE")) { /* raw: counts, tags, stamps */
            FILE *fp = fopen(f, "wb");
            if (fp) {
                fwrite(hn.data(), 4, hn.size(), fp), fwrite(hg.data(), 4, hg.size(), fp);
                fwrite(ht.data(), 8, ht.size(), fp), fclose(fp);
            }
        }
        /* a block's consumer states: 0 busy, 1 waiting for a stage, 2 meeting, 3 head wait,
         * 4 segment's barrier; the stream idle time split by them, and after the last landing */
        const char *names[] = {"busy", "waiting for a stage", "meeting", "head wait", "segment barrier"};
        std::vector<double> idle_by(NB * 6, 0.0), span(NB), lat, qwait;
        unsigned long long g0 = ~0ull;
        for (int b = 0; b < NB; b++) g0 = std::min(g0, ht[(size_t)b * TR_N]);
        for (int b = 0; b < NB; b++) {
            const unsigned long long *t = ht.data() + (size_t)b * TR_N;
            const unsigned *g = hg.data() + (size_t)b * TR_N;
            const int nc = hn[b * 3], np = hn[b * 3 + 1], nw = hn[b * 3 + 2];
            std::vector<unsigned long long> iss, land, ready;
            for (int k = 0; k < np; k++)
                if (g[TR_P + k] >> 24 == T_ISSUE) iss.push_back(t[TR_P + k]);
            for (int k = 0; k < nw; k++) land.push_back(t[TR_W + k]);
            ready.assign(land.size(), 0);
            /* consumer intervals */
            std::vector<std::pair<unsigned long long, int>> ev; /* (time, state from then) */
            for (int k = 0; k < nc; k++) {
                const int c = g[k] >> 24;
                const int st = c == T_CWAIT ? 1 : c == T_MEET0 ? 2 : c == T_HEAD0 ? 3 : c == T_SEG0 ? 4 : 0;
                ev.push_back({t[k], st});
                if ((c == T_CREADY || c == T_DRAIN) && (g[k] & 0xffffff) < ready.size())
                    ready[g[k] & 0xffffff] = t[k];
            }
            const unsigned long long b0 = t[0], b1 = t[nc - 1];
            span[b] = (b1 - b0) * 1e-3;
            /* idle: between b0 and b1, times no stage is between its issue and landing */
            std::vector<std::pair<unsigned long long, int>> fl; /* +1 issue, -1 land */
            const size_t ns = std::min(iss.size(), land.size());
            for (size_t k = 0; k < ns; k++) {
                fl.push_back({iss[k], +1}), fl.push_back({land[k], -1});
                lat.push_back((land[k] - iss[k]) * 1e-3);
                if (ready[k] >= land[k]) qwait.push_back((ready[k] - land[k]) * 1e-3);
            }
            std::sort(fl.begin(), fl.end());
            size_t fi = 0, ei = 0;
            int infl = 0, cs = 0;
            unsigned long long now = b0;
            while (now < b1) {
                while (fi < fl.size() && fl[fi].first <= now) infl += fl[fi++].second;
                while (ei < ev.size() && ev[ei].first <= now) cs = ev[ei++].second;
                unsigned long long nx = b1;
                if (fi < fl.size()) nx = std::min(nx, fl[fi].first);
                if (ei < ev.size()) nx = std::min(nx, ev[ei].first);
                if (nx <= now) nx = now + 1;
                if (infl == 0) idle_by[b * 6 + (fi >= fl.size() ? 5 : cs)] += (nx - now) * 1e-3;
                now = nx;
            }
        }
        auto med = [](std::vector<double> v) { std::sort(v.begin(), v.end()); return v.empty() ? 0.0 : v[v.size() / 2]; };
        printf("trace (one traced step, %.3f ms by events; a block's span median %.1f us): each "
               "block's stream idle (no stage in flight), us, mean over blocks [max]:\n",
               tms, med(span));
        double tot = 0;
        for (int c = 0; c < 6; c++) {
            double m = 0, mx = 0;
            for (int b = 0; b < NB; b++) m += idle_by[b * 6 + c], mx = std::max(mx, idle_by[b * 6 + c]);
            m /= NB, tot += m;
            printf("  while the consumers were %-22s %7.1f [%7.1f]\n", c < 5 ? names[c] : "done streaming (the tail)", m, mx);
        }
        printf("  in all %.1f us; a stage's copy from issue to landing: median %.2f us; a landed "
               "stage before the consumers took it: median %.2f us\n",
               tot, med(lat), med(qwait));
    }
    return 0;
}
