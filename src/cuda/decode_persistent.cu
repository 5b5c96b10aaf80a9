/*
 * decode_persistent.cu: a whole decoding step of one or two sequences (B = 1, 2) as one
 * persistent kernel, for the fla-shaped 1.3B RetNet (d 2048, 8 heads of dk 256 and dv 512,
 * SwiGLU 2816, RMSNorm, rope "half", the gate and the head's RMSNorm, no §3, up to 32 layers, a
 * vocabulary of a multiple of 128 up to 32768). The kernel chain of model_cuda.cu computes the
 * same step for every variant. This kernel streams every weight once through shared memory
 * instead of ~10 launches a layer (from dev/cuda/mega_lab.cu, 0.91 ms by its events with x in
 * floats).
 *
 * Where it stands (dev/cuda/README.md, next284-next335): correct and deterministic, and faster
 * than the chain, which overlaps its launches (programmatic dependent launch), by `retnet
 * bench decode` in one call (next335): B = 1 0.911-0.928 ms a step against the chain's
 * 1.003-1.005, B = 2 1.093-1.109 against 1.214-1.218. So it takes B = 1's and 2's steps where
 * it fits (RETNET_CUDA_PERSISTENT=0: the chain; RETNET_CUDA_PSTEP_B=1: one sequence only).
 * What made the difference: x in two copies (below) with down by the block's own columns
 * (down by tiles of 8 blocks, next290, and down's adds as 32-bit integers were slower); at
 * most two stages in flight (next311-next312); and the state's slices and updates in a loop
 * of their own, out of the products' loop, which spills fewer registers (B = 1 0.955-0.968 ->
 * 0.911-0.928 ms, next335). Its ceilings (next296, on the kernel of then, timing only):
 * without the meetings' waits ~7% faster, without x's adds ~4%, without either or the tag
 * waits ~13%: the rest is the stream and the consumers' work between stages.
 * Two sequences take the products' mma columns 0 and 1 (lanes t = 0 hold both sums); the
 * rest of the step is each sequence's work repeated, so each sequence's bits are its bits
 * decoded alone (test_persistent2). More would cost more than the chain: by this kernel
 * carrying B sequences' state traffic and x's adds (next321-next327; 00e0d7d has the switch),
 * 4 1.27-1.31 ms against the chain's 1.32-1.34, 8 1.80-1.86 against 1.43-1.46 (at 8, 0.39 ms of
 * the extra is the slices and 0.50 x's adds), and B = 2's estimate (1.03) fell 6% short of the
 * kernel built (1.09).
 *
 * 128 blocks (one an SM, 16 a head), 8 consumer warps and a producer warp each. The producer
 * copies, in the order the consumers read them, the block's share of every weight into a ring
 * of four 48 KB stages (bulk copies; each sequence's state slice by a TMA tensor map), at most
 * two of them in flight, and runs ahead of the consumers across every wait; its other lanes
 * compute the rotations. A layer, for block b
 * (head h = b / 16, s = b % 16):
 *
 *   x's RMSNorm (every block, from L2) -> bf16 in shared memory
 *   q k v g     16 q rows and 16 k rows of head h, stored with this step's tag beside each
 *               value (8 bytes: value and tag land together, no counter or fence); the 32 v
 *               and 32 g rows of the state columns the block owns, kept in shared memory
 *   state       the block's 256 x 32 slice of S through the ring; once the head's q and k all
 *               carry this layer's tag: rotation, S = gamma S + k^T v, o = q S, S stored;
 *               z = o w swish(g) and the columns' sum of o^2 to global memory
 *   meeting M   o = bf16(z / rms(o of the head)) for all 4096 columns
 *   wo          16 whole rows (K 4096), added to the block's own rows of x (as read after
 *               meeting A) and stored into both copies, xb and xa
 *   meeting B   x's RMSNorm, from xb
 *   up, gate    22 rows of each: u = swish(fc1) gate, kept in shared memory
 *   down        the block's 22 columns of down for all 2048 rows, from a copy packed for it
 *               (cuda_pstep_pack: each block's columns padded to 24, contiguous: down's own
 *               layout came in 64-byte rows, next283), each row's sum added to xa
 *   meeting A   (the next layer, from xa); after the last, the final norm and 250 rows a
 *               block of the output layer (vocabulary / 128)
 *
 * x is kept in fixed point (int64, 2^31 to the unit) and down's sums are added to it by integer
 * atomics: addition is then exact and associative, so the step's bits do not depend on the
 * order of the blocks' adds and a step replays bit for bit, as the chain's does (cuda.h: no
 * floating-point atomics). Two copies, because down's adds wait for nothing after meeting B:
 * a block may still be reading x after meeting B while the first blocks' adds already arrive.
 * So meeting B's readers read xb, which only wo's rows write, and down adds onto xa, which
 * nobody reads between meeting M and meeting A (with one copy, a late reader could see some of
 * the adds; test_persistent delays one to make sure it does not).
 * Each added value is rounded to 2^-31 (fp32 rounds x itself to 2^-24 of |x|). Values of x or
 * of an addend past 2^23 do not fit: the step then writes NaN logits instead of wrong ones, for
 * that sequence alone.
 *
 * The meetings are grid barriers on one counter; the kernel is launched cooperatively, so
 * that all 128 blocks are resident or the launch fails (a spin wait on a block that never runs
 * would hang). The last block to leave resets the counter for the next step.
 */
#include "cuda/common.cuh"
#include "cuda/mbar.cuh"
#include "cuda/tc_rows.cuh"

#include <cudaTypedefs.h> /* PFN_cuTensorMapEncodeTiled (TMA maps; no link to libcuda) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

namespace {
constexpr int D = 2048, H = 8, DK = 256, DV = 512, DVT = H * DV, F = 2816;
constexpr int NB = 128, CW = 8, NC = 32 * CW, NT = NC + 32, SUB = NB / H;
/* up / gate rows a block, which are also its columns of down (packed, padded to FJP) */
constexpr int FJ = F / NB, FJP = 24;
constexpr int PR = 256;                    /* a segment's rows, at most (partial sums) */
/* the ring (dev/cuda/runs/next276-277: 48 KB stages; five of 36 KB with the cap 1.03-1.05 ms,
 * next313); PSTEP_STAGE and PSTEP_NS for comparisons */
#ifndef PSTEP_STAGE
#define PSTEP_STAGE (48 * 1024)
#endif
#ifndef PSTEP_NS
#define PSTEP_NS 4
#endif
constexpr int STAGE1 = PSTEP_STAGE, NS = PSTEP_NS;
/* two sequences (B = 2): their partial sums take 32 rows a segment (the output layer's a stage
 * at a time), so that the second sequence's input and state update vectors fit beside a ring
 * of the same stages; PSTEP_STAGE2 for comparisons */
#ifndef PSTEP_STAGE2
#define PSTEP_STAGE2 (48 * 1024)
#endif
constexpr int STAGE2 = PSTEP_STAGE2;
/* stages asked for and not yet landed, at most (NS: no cap). Two, not every free stage: fewer
 * of the block's own bytes queue ahead of the consumers' round trips to L2 (the meetings, x's
 * reloads), which hold the step more than the stream does (next311-next312: 0.955-0.968 ms a
 * step against 0.971-0.981 uncapped; one stage 0.975-0.992). PSTEP_INFLIGHT for comparisons */
#ifndef PSTEP_INFLIGHT
#define PSTEP_INFLIGHT 2
#endif
constexpr int INFLIGHT = PSTEP_INFLIGHT;
static_assert(INFLIGHT >= 1 && INFLIGHT <= NS, "stages in flight");
constexpr int MAXL = CUDA_PSTEP_MAXL;
static_assert(F % NB == 0 && FJ <= FJP && FJP % 8 == 0 && DV / SUB == 32 && D == NC * 8, "shapes");
static_assert(DK * 32 * 4 <= STAGE1 && STAGE1 % (2 * FJP) == 0 && DK * 32 * 4 <= STAGE2 &&
                  STAGE2 % (2 * FJP) == 0,
              "stages");

/* shared memory for E sequences: xs (each sequence's bf16 input of a product) 8 KB each; the
 * mbarriers; small vectors (512 bytes a sequence); x's own rows; the partial sums (E a row);
 * q, k and o of the state update (3 KB a sequence); the ring. 220 KB in all for one sequence
 * and for two: the rotation's cosines and sines live in the scratch, each block's own (a
 * thread reads back only what it wrote) */
template <int E> struct lay {
    static constexpr int STAGE = E == 1 ? STAGE1 : STAGE2;
    /* the partial sums' rows a segment: every segment's (PR), or 32, all but the output
     * layer's, whose rows are then summed a stage at a time */
    static constexpr int PRE = E == 1 ? PR : 32;
    static constexpr int XS = 8192, BARS = E * XS, MISC = BARS + 128, OWN = MISC + 512 * E;
    static constexpr int PART = (OWN + 128 * E + 1023) / 1024 * 1024;
    static constexpr int QR = PART + 2 * CW * PRE * 4 * E, RING = QR + 3072 * E;
    static constexpr int SMEM = RING + NS * STAGE;
};
static_assert(lay<1>::PART == 9216 && lay<1>::RING == 28672, "one sequence's layout");
static_assert(lay<1>::RING % 128 == 0 && lay<2>::RING % 128 == 0, "TMA destinations");
static_assert(lay<2>::SMEM <= 232448, "two sequences' shared memory");
/* the small vectors (red, then vs, gs, ups [E][32] and rh [E][H]) and the flag in 512 E bytes */
static_assert((16 + 104 * 1) * 4 + 4 <= 512 && (16 + 104 * 2) * 4 + 4 <= 1024 && 3 * 32 + H == 104,
              "the small vectors");
static_assert(STAGE2 / (2 * D) <= lay<2>::PRE, "an output stage's rows in the partial sums");
constexpr int EMAX = 2;

enum { C_BAR, C_DONE, C_BAD, C_GEN }; /* the control words (scratch, zero when allocated) */

struct args { /* each per sequence (E of them, EMAX in the scratch), one after the other */
    cuda_pstep p;
    unsigned long long *xa; /* [D] x in fixed point: the layer's input, down's adds */
    unsigned long long *xb; /* [D] x after the mixer (wo's rows, one writer a row) */
    uint2 *qkt;            /* [H][2 DK] q then k of each head, each value beside its tag */
    float *z;              /* [DVT] o w swish(g) */
    float *hp;             /* [MAXL][H][SUB] each block's sum of o^2 */
    float *rot;            /* [NB][DK] each block's cosines, then sines */
    unsigned *ctl;         /* C_BAR, C_DONE, C_BAD, C_GEN (once) */
};

/* a CUtensorMap's storage (128 bytes, 64-byte aligned), as retention.cu keeps it */
struct __align__(64) tmap {
    unsigned long long opaque[16];
};

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
/* x in fixed point: 2^31 to the unit; |x| and each addend below 2^23 (XLIM), so that a layer's
 * 130 adds to a row cannot wrap the int64 */
constexpr double XONE = 2147483648.0, XINV = 1.0 / 2147483648.0;
constexpr float XLIM = 8388608.0f;

/* a segment of the block's stream: rows of rb bytes; kind 0 K 2048 rows, 1 K 4096 rows (wo),
 * 2 down's packed columns, 3 the state slice (tensor map) */
struct seg_t {
    const unsigned char *p;
    int rows, rb, kind;
};
template <int E> __device__ __forceinline__ seg_t segment(const args &a, int b, int l, int i) {
    const int h = b / SUB, s = b % SUB;
    const int outr = a.p.vocab / NB;
    if (l == a.p.n_layer)
        return seg_t{(const unsigned char *)(a.p.out + (size_t)outr * b * D), outr, 2 * D, 0};
    const cuda_pstep_layer &w = a.p.layer[l];
    switch (i) {
    case 0: return seg_t{(const unsigned char *)(w.wq + (size_t)(h * DK + 16 * s) * D), 16, 2 * D, 0};
    case 1: return seg_t{(const unsigned char *)(w.wk + (size_t)(h * DK + 16 * s) * D), 16, 2 * D, 0};
    case 2: return seg_t{(const unsigned char *)(w.wv + (size_t)(h * DV + 32 * s) * D), 32, 2 * D, 0};
    case 3: return seg_t{(const unsigned char *)(w.wg + (size_t)(h * DV + 32 * s) * D), 32, 2 * D, 0};
    case 4: return seg_t{nullptr, E, DK * 32 * 4, 3}; /* a slice a sequence */
    case 5: return seg_t{(const unsigned char *)(w.wo + (size_t)16 * b * DVT), 16, 2 * DVT, 1};
    case 6: return seg_t{(const unsigned char *)(w.gate + (size_t)FJ * b * D), FJ, 2 * D, 0};
    case 7: return seg_t{(const unsigned char *)(w.fc1 + (size_t)FJ * b * D), FJ, 2 * D, 0};
    default:
        return seg_t{(const unsigned char *)(a.p.down + ((size_t)l * NB + b) * D * FJP), D, 2 * FJP, 2};
    }
}
__device__ __forceinline__ int nseg(const args &a, int l) { return l == a.p.n_layer ? 1 : 9; }

__device__ __forceinline__ void tma_load3(uint32_t dst, const tmap *m, int c0, int c1, int c2,
                                          uint32_t bar) {
    asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3, %4}], [%5];\n" ::"r"(dst),
                 "l"(m), "r"(c0), "r"(c1), "r"(c2), "r"(bar)
                 : "memory");
}
__device__ __forceinline__ unsigned ld_acq(const unsigned *p) {
    unsigned v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
    return v;
}
__device__ __forceinline__ void st_tag(uint2 *p, float v, unsigned tg) {
    asm volatile("st.relaxed.gpu.global.v2.u32 [%0], {%1, %2};\n" ::"l"(p), "r"(__float_as_uint(v)),
                 "r"(tg)
                 : "memory");
}
__device__ __forceinline__ uint2 ld_tag(const uint2 *p) {
    uint2 u;
    asm volatile("ld.relaxed.gpu.global.v2.u32 {%0, %1}, [%2];\n" : "=r"(u.x), "=r"(u.y) : "l"(p)
                 : "memory");
    return u;
}
/* v added to x's word i, in fixed point; bit into bad (the sequences' flags): v does not fit */
__device__ __forceinline__ void x_add(unsigned long long *x, int i, float v, unsigned &bad,
                                      unsigned bit) {
    if (!(fabsf(v) < XLIM)) bad |= bit;
    const long long f = __double2ll_rn((double)v * XONE);
    asm volatile("red.global.add.u64 [%0], %1;\n" ::"l"(x + i), "l"(f) : "memory");
}
__device__ __forceinline__ float x_get(long long f, unsigned &bad, unsigned bit) {
    const double v = (double)f * XINV;
    if (!(fabs(v) < (double)XLIM)) bad |= bit;
    return (float)v;
}
/* the rotation of pair j at position pos (rope.cu's angles, in double); apart, so that the
 * double sine's slow path keeps its stack out of the kernel's registers */
__device__ __noinline__ void rotation(int64_t pos, double base, int j, float *cs, float *sn) {
    const double ang = (double)pos * rope_theta(j, DK, 1, base);
    double sd, cd;
    sincos(ang, &sd, &cd);
    cs[j] = (float)cd, sn[j] = (float)sd;
}
__device__ __forceinline__ void cbar() { asm volatile("bar.sync 1, %0;\n" ::"n"(NC) : "memory"); }

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
/* the RMSNorm's end, from a thread's 8 values of x (columns tid + NC e); the weight's loads
 * go out before the sum's barriers (after them, they would be one more trip to L2) */
__device__ __forceinline__ void norm_out(const float (&v)[8], float ss, const float *w, float eps,
                                         uint16_t *xs, float *red) {
    float wv[8];
#pragma unroll
    for (int e = 0; e < 8; e++) wv[e] = __ldg(w + threadIdx.x + NC * e);
    const float r = 1.0f / sqrtf(bsum(ss, red) / D + eps);
#pragma unroll
    for (int e = 0; e < 8; e++) xs[threadIdx.x + NC * e] = f32_to_bf16_bits(v[e] * r * wv[e]);
    cbar();
}
/* x's RMSNorm with weight w into xs (bf16), for each of E sequences (x and xs D and 4096
 * apart; every sequence's loads first, one trip to L2); own (if set): the block's 16 rows of
 * each sequence's x as read */
template <int E>
__device__ void norm_in(const unsigned long long *x, const float *w, float eps, uint16_t *xs,
                        float *red, long long *own, unsigned &bad) {
    float v[E][8], ss[E];
#pragma unroll
    for (int q = 0; q < E; q++) {
        ss[q] = 0.f;
#pragma unroll
        for (int e = 0; e < 8; e++) {
            const int c = threadIdx.x + NC * e;
            const long long t = (long long)__ldcg(x + q * D + c);
            if (own && (c >> 4) == (int)blockIdx.x) own[16 * q + (c & 15)] = t;
            v[q][e] = x_get(t, bad, 1u << q);
            ss[q] += v[q][e] * v[q][e];
        }
    }
#pragma unroll
    for (int q = 0; q < E; q++) norm_out(v[q], ss[q], w, eps, xs + q * (DVT), red);
}
#endif

/* 168 registers at most: 288 threads an SM take 12 warps' worth (registers go to warps four at
 * a time), 65536 / (12 * 32) = 170. E sequences (1 or 2): the products take them as the mma's
 * columns (lanes t = 0 hold both), the rest repeats a sequence's work, which is each
 * sequence's own: a sequence's bits do not depend on the other's */
template <int E>
__global__ void __launch_bounds__(NT, 1)
    pstep_kernel(const __grid_constant__ args a, const __grid_constant__ tmap tm_state) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    using Y = lay<E>;
    constexpr int STAGE = Y::STAGE;
    extern __shared__ __align__(128) unsigned char sm[];
    uint16_t *xs = reinterpret_cast<uint16_t *>(sm); /* [E][DVT] */
    uint64_t *bars = reinterpret_cast<uint64_t *>(sm + Y::BARS); /* full[NS], empty[NS], rot */
    float *red = reinterpret_cast<float *>(sm + Y::MISC);         /* [CW] */
    /* [E][32] each; rh [E][H] */
    float *vs = red + 16, *gs = vs + 32 * E, *ups = gs + 32 * E, *rh = ups + 32 * E;
    volatile unsigned *sflag = reinterpret_cast<volatile unsigned *>(rh + H * E);
    long long *xown = reinterpret_cast<long long *>(sm + Y::OWN); /* [E][16] x's 16 rows of b */
    constexpr int PRE = Y::PRE;
    constexpr bool OSTAGE = PRE < PR; /* the output layer's sums a stage at a time */
    float *part = reinterpret_cast<float *>(sm + Y::PART); /* [2][CW][PRE][E] */
    int os = 0;                                            /* (OSTAGE) output stages */
    float *qr0 = reinterpret_cast<float *>(sm + Y::QR);   /* [E][3][DK]: q, k, o */
    /* the block's u [E][32] (q's place: free from wo to the next state update) */
    float *us = qr0;
    unsigned char *ring = sm + Y::RING;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, tid = threadIdx.x;
    const int b = blockIdx.x, h = b / SUB, s = b % SUB, L = a.p.n_layer;
    if (tid == 0) {
        for (int i = 0; i < NS; i++)
            mbar_init(smem_u32(bars + i), 1), mbar_init(smem_u32(bars + NS + i), CW);
        mbar_init(smem_u32(bars + 2 * NS), 1); /* the rotations are ready */
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
    if (warp == CW) { /* the producer: every segment's rows, stage by stage */
        if (lane) { /* its other lanes: the rotations (in double), off the consumers' path */
            for (int q = 0; q < E; q++) {
                float *cs = a.rot + ((size_t)q * NB + blockIdx.x) * DK, *sn = cs + DK / 2;
                for (int j = lane - 1; j < DK / 2; j += 31) rotation(a.p.pos[q], a.p.rope_base, j, cs, sn);
            }
            __syncwarp(0xfffffffeu);
            if (lane == 1) mbar_arrive(smem_u32(bars + 2 * NS));
            return;
        }
        long it = 0;
        for (int l = 0; l <= L; l++)
            for (int i = 0; i < nseg(a, l); i++) {
                const seg_t g = segment<E>(a, b, l, i);
                const int rps = STAGE / g.rb;
                for (int r = 0; r < g.rows; r += rps, it++) {
                    const int n = g.rows - r < rps ? g.rows - r : rps, sl = (int)(it % NS);
                    if (it >= NS) mbar_wait(smem_u32(bars + NS + sl), (uint32_t)((it / NS - 1) & 1));
                    if (INFLIGHT < NS && it >= INFLIGHT) /* stage it - INFLIGHT has landed */
                        mbar_wait(smem_u32(bars + (it - INFLIGHT) % NS),
                                  (uint32_t)(((it - INFLIGHT) / NS) & 1));
                    const uint32_t dst = smem_u32(ring + (size_t)sl * STAGE), bar = smem_u32(bars + sl);
                    mbar_expect_tx(bar, (uint32_t)(n * g.rb));
                    if (g.kind == 3) { /* sequence r's slice (one a stage) */
                        tma_load3(dst, &tm_state, 32 * s, (r * H + h) * DK, l, bar);
                    } else {
                        bulk_load(dst, g.p + (size_t)r * g.rb, (uint32_t)(n * g.rb), bar);
                    }
                }
            }
        return;
    }
    const unsigned gen = ld_acq(a.ctl + C_GEN);
    const unsigned tag0 = gen * 64u + 1u; /* this step's tags: tag0 + l (never 0: zeroed slots) */
    long it = 0;
    unsigned epoch = 0;
    int pb = 0; /* part's buffer: segments alternate */
    unsigned bad = 0; /* bit q: a value of sequence q's x did not fit */
    uint4 v[16];
    if (tid == 0) *sflag = 0;
    auto meet = [&]() { /* every block: a grid barrier (and what did not fit, told before it) */
        if (bad) atomicOr(a.ctl + C_BAD, bad);
        cbar();
        epoch += NB;
        if (tid == 0) {
            __threadfence();
            atomicAdd(a.ctl + C_BAR, 1u);
            while ((int)(ld_acq(a.ctl + C_BAR) - epoch) < 0) {
            }
        }
        cbar();
    };
    float sreg[32]; /* a sequence's state slice: rows warp * 32 + j, column lane */
    const float gamma = a.p.gamma[h];
    /* sequence q's state update in layer l, its slice in sreg, once the head's q and k carry
     * this layer's tag: rotation, S = gamma S + k^T v, o = q S, S stored; z = o w swish(g)
     * and the columns' sum of o^2 to global memory */
    auto update = [&](int q, int l) {
        float *qr = qr0 + q * 3 * DK, *kr = qr + DK, *op = kr + DK;
        /* loads of this thread's own values, before the wait (not a trip after it) */
        const float hnw = warp == 0 ? __ldg(a.p.layer[l].head_norm + 32 * s + lane) : 0.f;
        if (tid < DK / 2) { /* rope "half": pairs (j, j + dk / 2); k also by dk^-0.5 */
            if (l == 0 && q == 0) mbar_wait(smem_u32(bars + 2 * NS), 0);
            const float *cs = a.rot + ((size_t)q * NB + blockIdx.x) * DK, *sn = cs + DK / 2;
            const float c = cs[tid], sv = sn[tid];
            const uint2 *p = a.qkt + ((size_t)q * H + h) * 2 * DK;
            const int at[4] = {tid, tid + DK / 2, DK + tid, DK + tid + DK / 2};
            const unsigned want = tag0 + (unsigned)l;
            uint2 u[4];
            for (;;) {
#pragma unroll
                for (int e = 0; e < 4; e++) u[e] = ld_tag(p + at[e]);
                if (u[0].y == want && u[1].y == want && u[2].y == want && u[3].y == want) break;
            }
            rope_rotate(__uint_as_float(u[0].x), __uint_as_float(u[1].x), c, sv, 1.0f,
                        qr[tid], qr[tid + DK / 2]);
            rope_rotate(__uint_as_float(u[2].x), __uint_as_float(u[3].x), c, sv, 0.0625f,
                        kr[tid], kr[tid + DK / 2]);
        }
        cbar();
        float o = 0.f;
        const float vc = vs[32 * q + lane];
        float *Sp = a.p.state + (size_t)l * a.p.state_layer_floats +
                    ((size_t)q * H * DK + h * DK + warp * 32) * DV + 32 * s + lane;
#pragma unroll
        for (int j = 0; j < 32; j++) {
            const float sv = gamma * sreg[j] + kr[warp * 32 + j] * vc;
            o += qr[warp * 32 + j] * sv;
            Sp[(size_t)j * DV] = sv;
        }
        op[warp * 32 + lane] = o;
        cbar();
        if (warp == 0) {
            float t = 0.f;
#pragma unroll
            for (int w = 0; w < CW; w++) t += op[w * 32 + lane];
            const int c = 32 * s + lane;
            a.z[(size_t)q * DVT + h * DV + c] = t * hnw * swish_f(gs[32 * q + lane]);
            float q2 = t * t;
            for (int o2 = 16; o2; o2 >>= 1) q2 += __shfl_xor_sync(0xffffffffu, q2, o2);
            if (!lane) a.hp[(((size_t)q * MAXL + l) * H + h) * SUB + s] = q2;
        }
    };
    { /* x from the embedding: this block's 16 rows (for wo's rows), and the first norm */
        float v8[E][8], ss[E];
#pragma unroll
        for (int q = 0; q < E; q++) {
            const float *e = a.p.embed + (size_t)a.p.tok[q] * D;
            if (tid < 16) {
                const float v0 = e[16 * b + tid] * a.p.embed_scale;
                if (!(fabsf(v0) < XLIM)) bad |= 1u << q;
                xown[16 * q + tid] = __double2ll_rn((double)v0 * XONE);
            }
            ss[q] = 0.f;
#pragma unroll
            for (int k = 0; k < 8; k++) {
                v8[q][k] = e[tid + NC * k] * a.p.embed_scale;
                ss[q] += v8[q][k] * v8[q][k];
            }
        }
#pragma unroll
        for (int q = 0; q < E; q++) norm_out(v8[q], ss[q], a.p.layer[0].attn_norm, a.p.eps, xs + q * DVT, red);
    }
    for (int l = 0; l <= L; l++) {
        if (l == L) norm_in<E>(a.xa, a.p.final_norm, a.p.eps, xs, red, nullptr, bad); /* after meeting A */
        for (int i = 0; i < nseg(a, l); i++) {
            const seg_t g = segment<E>(a, b, l, i);
            if (g.kind == 3) { /* the state: each sequence's slice (a stage), then its update */
                for (int q = 0; q < E; q++) {
                    const int sl = (int)(it % NS);
                    const unsigned char *st = ring + (size_t)sl * STAGE;
                    mbar_wait(smem_u32(bars + sl), (uint32_t)((it / NS) & 1));
                    it++;
                    /* rows warp * 32 + j, column lane */
                    const float *sp = reinterpret_cast<const float *>(st) + warp * 32 * 32 + lane;
#pragma unroll
                    for (int j = 0; j < 32; j++) sreg[j] = sp[j * 32];
                    __syncwarp();
                    if (!lane) mbar_arrive(smem_u32(bars + NS + sl));
                    cbar();
                    update(q, l);
                }
                meet(); /* M: every head's z and sums are out */
                float zv[E][DVT / NC];
#pragma unroll
                for (int q = 0; q < E; q++)
#pragma unroll
                    for (int e = 0; e < DVT / NC; e++) zv[q][e] = __ldcg(a.z + (size_t)q * DVT + tid + NC * e);
                if (tid < H * E) { /* the head's sums in block order */
                    const int q = tid / H, hh = tid % H;
                    float hv[SUB], t = 0.f;
#pragma unroll
                    for (int k = 0; k < SUB; k++)
                        hv[k] = __ldcg(a.hp + (((size_t)q * MAXL + l) * H + hh) * SUB + k);
#pragma unroll
                    for (int k = 0; k < SUB; k++) t += hv[k];
                    rh[tid] = 1.0f / sqrtf(t / DV + a.p.eps);
                }
                cbar();
#pragma unroll
                for (int q = 0; q < E; q++)
#pragma unroll
                    for (int e = 0; e < DVT / NC; e++) {
                        const int c = tid + NC * e;
                        xs[q * DVT + c] = f32_to_bf16_bits(zv[q][e] * rh[q * H + c / DV]);
                    }
                cbar();
                pb ^= 1;
                continue;
            }
            const int rps = STAGE / g.rb;
            float *pp = part + pb * CW * PRE * E;
            for (int r = 0; r < g.rows; r += rps) {
                const int n = g.rows - r < rps ? g.rows - r : rps, sl = (int)(it % NS);
                const unsigned char *st = ring + (size_t)sl * STAGE;
                mbar_wait(smem_u32(bars + sl), (uint32_t)((it / NS) & 1));
                it++;
                if (g.kind == 2) { /* down's columns: a thread a row, added to x (48-byte
                                           * rows: a quarter warp's reads fall on every bank once) */
                    for (int rr = tid; rr < n; rr += NC) {
                        const uint4 *w4 = reinterpret_cast<const uint4 *>(st + (size_t)rr * g.rb);
                        float acc[E];
#pragma unroll
                        for (int q = 0; q < E; q++) acc[q] = 0.f;
#pragma unroll
                        for (int k = 0; k < FJP / 8; k++) {
                            const uint4 wv = w4[k];
                            const uint32_t ww[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
                            for (int e = 0; e < 4; e++)
#pragma unroll
                                for (int q = 0; q < E; q++)
                                    acc[q] += __uint_as_float(ww[e] << 16) * us[32 * q + 8 * k + 2 * e] +
                                              __uint_as_float(ww[e] & 0xffff0000u) * us[32 * q + 8 * k + 2 * e + 1];
                        }
#pragma unroll
                        for (int q = 0; q < E; q++) x_add(a.xa + q * D, r + rr, acc[q], bad, 1u << q);
                    }
                } else {
                    tcd_load_any<CW>(v, st, g.kind ? DVT : D, lane, warp, n);
                }
                __syncwarp();
                if (!lane) mbar_arrive(smem_u32(bars + NS + sl));
                if (OSTAGE && l == L) { /* the stage's rows (at most 12) summed and stored now */
                    float *ps = part + (os++ & 1) * CW * PRE * E;
                    tcd_any_e<CW, E>(v, reinterpret_cast<const unsigned char *>(xs), 2 * DVT, D,
                                     lane, warp, n, ps + warp * PRE * E);
                    cbar();
                    for (int k = tid; k < n * E; k += NC) {
                        const int rr = k / E, q = k % E;
                        float t = 0.f;
#pragma unroll
                        for (int w = 0; w < CW; w++) t += ps[(w * PRE + rr) * E + q];
                        a.p.logits[(size_t)q * a.p.logits_stride + (size_t)g.rows * b + r + rr] = t;
                    }
                } else if (g.kind <= 1) {
                    tcd_any_e<CW, E>(v, reinterpret_cast<const unsigned char *>(xs), 2 * DVT,
                                     g.kind ? DVT : D, lane, warp, n, pp + (warp * PRE + r) * E);
                }
            }
            cbar(); /* the segment's sums are in shared memory (or its adds issued) */
            if (g.kind == 2) { /* down: x complete after every block's adds */
                meet(); /* A */
                if (l + 1 < L) norm_in<E>(a.xa, a.p.layer[l + 1].attn_norm, a.p.eps, xs, red, xown, bad);
                continue;
            }
            for (int rr = tid; rr < (OSTAGE && l == L ? 0 : g.rows); rr += NC) {
                float t[E];
#pragma unroll
                for (int q = 0; q < E; q++) {
                    t[q] = 0.f;
#pragma unroll
                    for (int w = 0; w < CW; w++) t[q] += pp[(w * PRE + rr) * E + q];
                }
#pragma unroll
                for (int q = 0; q < E; q++) {
                    if (l == L) {
                        a.p.logits[(size_t)q * a.p.logits_stride + (size_t)g.rows * b + rr] = t[q];
                    } else if (i <= 1) {
                        st_tag(a.qkt + ((size_t)q * H + h) * 2 * DK + i * DK + 16 * s + rr, t[q],
                               tag0 + (unsigned)l);
                    } else if (i == 2) {
                        vs[32 * q + rr] = t[q];
                    } else if (i == 3) {
                        gs[32 * q + rr] = t[q];
                    } else if (i == 5) { /* wo: the block's own rows of x, stored (one writer a row) */
                        if (!(fabsf(t[q]) < XLIM)) bad |= 1u << q;
                        const unsigned long long f =
                            (unsigned long long)(xown[16 * q + rr] + __double2ll_rn((double)t[q] * XONE));
                        __stcg(a.xb + q * D + 16 * b + rr, f);
                        __stcg(a.xa + q * D + 16 * b + rr, f); /* down's adds go onto it after meeting B */
                    } else if (i == 6) {
                        ups[32 * q + rr] = t[q];
                    } else if (i == 7) {
                        us[32 * q + rr] = swish_f(t[q]) * ups[32 * q + rr];
                    }
                }
            }
            pb ^= 1;
            if (l == L) continue;
            if (i == 5) {
                meet(); /* B: x after the mixer */
                if (a.p.delay_ns && b == NB - 1) { /* the test of the two copies (test_persistent) */
                    unsigned long long t0, t1;
                    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
                    do {
                        __nanosleep(500);
                        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t1));
                    } while (t1 - t0 < a.p.delay_ns);
                }
                norm_in<E>(a.xb, a.p.layer[l].ffn_norm, a.p.eps, xs, red, nullptr, bad);
            } else if (i == 7) {
                if (tid >= FJ && tid < FJP)
#pragma unroll
                    for (int q = 0; q < E; q++) us[32 * q + tid] = 0.f; /* the padding's */
                cbar();
            }
        }
    }
    /* the end: a value that did not fit makes its sequence's logits NaN (every block's: each
     * sees the flags told before the last meeting, and the final norm read the same x in
     * every block), the other sequence's are left as they are; the last block out resets the
     * control words for the next step */
    if (bad) atomicOr((unsigned *)sflag, bad);
    cbar();
    if (tid == 0) *sflag |= ld_acq(a.ctl + C_BAD);
    cbar();
    const unsigned nan_of = *sflag;
    for (int q = 0; q < E; q++)
        if (nan_of >> q & 1)
            for (int rr = tid; rr < a.p.vocab / NB; rr += NC)
                a.p.logits[(size_t)q * a.p.logits_stride + (size_t)(a.p.vocab / NB) * b + rr] =
                    __int_as_float(0x7fc00000);
    cbar();
    if (tid == 0) {
        __threadfence();
        if (atomicAdd(a.ctl + C_DONE, 1u) == NB - 1) {
            a.ctl[C_BAR] = 0, a.ctl[C_DONE] = 0, a.ctl[C_BAD] = 0;
            a.ctl[C_GEN] = gen + 1;
            __threadfence();
        }
    }
#endif
}

/* down (D, F) into each block's columns: [NB][D][FJP], zeros in the padding */
__global__ void pack_kernel(cuda_bf16 *dst, const cuda_bf16 *fc2) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)NB * D * FJP) return;
    const int c = (int)(i % FJP), r = (int)(i / FJP % D), b = (int)(i / ((int64_t)FJP * D));
    dst[i] = c < FJ ? fc2[(size_t)r * F + FJ * b + c] : (cuda_bf16)0;
}

/* cuTensorMapEncodeTiled from the driver through the runtime (retention.cu fetches it the same
 * way; that file stands alone for the kernel lab) */
PFN_cuTensorMapEncodeTiled_v12000 encoder(void) {
    static PFN_cuTensorMapEncodeTiled_v12000 fn = nullptr;
    if (!fn) {
        void *f = nullptr;
        cudaDriverEntryPointQueryResult q;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault,
                                             &q) == cudaSuccess &&
            q == cudaDriverEntryPointSuccess)
            fn = (PFN_cuTensorMapEncodeTiled_v12000)f;
        (void)cudaGetLastError();
    }
    return fn;
}
/* a 3-D map (innermost first) read in boxes, zeros outside the tensor */
retnet_status map3(tmap *m, const void *base, CUtensorMapDataType ty, int es, const uint64_t dims[3],
                   const uint64_t strides[2], const uint32_t box[3], const char *what) {
    PFN_cuTensorMapEncodeTiled_v12000 enc = encoder();
    if (!enc) return retnet_fail(RETNET_EDEVICE, "CUDA: cuTensorMapEncodeTiled is not available");
    cuuint64_t d[3] = {dims[0], dims[1], dims[2]};
    cuuint64_t st[2] = {strides[0] * es, strides[1] * es};
    cuuint32_t bx[3] = {box[0], box[1], box[2]}, ones[3] = {1, 1, 1};
    const CUresult r = enc(reinterpret_cast<CUtensorMap *>(m), ty, 3, const_cast<void *>(base), d,
                           st, bx, ones, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
                           CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS)
        return retnet_fail(RETNET_EDEVICE, "CUDA: the persistent step's map of %s: error %d", what,
                           (int)r);
    return RETNET_OK;
}
} // namespace

extern "C" int cuda_pstep_shape(int64_t d_model, int n_head, int64_t d_key, int64_t d_value,
                                int64_t d_ffn, int n_layer, int64_t vocab) {
    return d_model == D && n_head == H && d_key == (int64_t)H * DK && d_value == DVT &&
           d_ffn == F && n_layer >= 1 && n_layer <= MAXL && vocab % NB == 0 && vocab >= NB &&
           vocab / NB <= PR;
}

/* whether pstep_kernel<E> runs here: a Hopper GPU with cooperative launches and every block
 * resident at once, one an SM with nearly all of its shared memory (the carveout set to its
 * largest) */
template <int E> static int available(void) {
    static int ok = -1;
    if (ok >= 0) return ok;
    ok = 0;
    constexpr int SMEM = lay<E>::SMEM;
    int dev = 0, per_sm = 0;
    cudaDeviceProp pr = {};
    cudaFuncAttributes fa = {};
    const char *why = "";
    cudaError_t e = cudaSuccess;
    if ((e = cudaGetDevice(&dev)) != cudaSuccess || (e = cudaGetDeviceProperties(&pr, dev)) != cudaSuccess)
        why = "no device";
    else if (pr.major != 9 || !pr.cooperativeLaunch || pr.sharedMemPerBlockOptin < (size_t)SMEM)
        why = "not a Hopper GPU with the shared memory and cooperative launches";
    else if ((e = cudaFuncGetAttributes(&fa, pstep_kernel<E>)) != cudaSuccess || fa.binaryVersion < 90)
        why = "no sm_90 code";
    else if (!encoder())
        why = "no cuTensorMapEncodeTiled";
    else if ((e = cudaFuncSetAttribute(pstep_kernel<E>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       SMEM)) != cudaSuccess ||
             (e = cudaFuncSetAttribute(pstep_kernel<E>, cudaFuncAttributePreferredSharedMemoryCarveout,
                                       cudaSharedmemCarveoutMaxShared)) != cudaSuccess)
        why = "the shared memory attributes";
    else if ((e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, pstep_kernel<E>, NT, SMEM)) !=
                 cudaSuccess ||
             per_sm * pr.multiProcessorCount < NB)
        why = "the blocks do not all fit at once";
    else
        ok = 1;
    (void)cudaGetLastError();
    if (getenv("RETNET_CUDA_PSTEP_DEBUG")) {
        size_t avail = 0;
        (void)cudaFuncGetAttributes(&fa, pstep_kernel<E>);
        (void)cudaOccupancyAvailableDynamicSMemPerBlock(&avail, pstep_kernel<E>, 1, NT);
        fprintf(stderr,
                "pstep<%d>: ok %d (%s; %s), %d blocks an SM of %d SMs; %d registers, %zu B static, "
                "%zu B local, %d threads at most, %d B dynamic allowed, %zu B available, %d B asked, "
                "%zu B opt-in, binary %d\n",
                E, ok, why, cudaGetErrorString(e), per_sm, pr.multiProcessorCount, fa.numRegs,
                fa.sharedSizeBytes, fa.localSizeBytes, fa.maxThreadsPerBlock,
                fa.maxDynamicSharedSizeBytes, avail, SMEM, pr.sharedMemPerBlockOptin, fa.binaryVersion);
        (void)cudaGetLastError();
    }
    return ok;
}

extern "C" int cuda_pstep_batches(void) { return available<1>() ? (available<2>() ? 2 : 1) : 0; }

extern "C" int cuda_pstep_available(void) { return available<1>(); }

/* a sequence's share of the scratch: xa, xb, qkt, z, hp, rot */
static constexpr size_t SEQ_SCRATCH = sizeof(unsigned long long) * 2 * D + sizeof(uint2) * H * 2 * DK +
                                      sizeof(float) * DVT + sizeof(float) * MAXL * H * SUB +
                                      sizeof(float) * NB * DK;

extern "C" size_t cuda_pstep_scratch_bytes(void) { return EMAX * SEQ_SCRATCH + 256; }

extern "C" size_t cuda_pstep_pack_bytes(int n_layer) {
    return sizeof(cuda_bf16) * (size_t)n_layer * NB * D * FJP;
}

extern "C" retnet_status cuda_pstep_pack(cuda_bf16 *dst, const cuda_bf16 *fc2, cuda_stream s) {
    const int64_t n = (int64_t)NB * D * FJP;
    pack_kernel<<<(unsigned)((n + 255) / 256), 256, 0, (cudaStream_t)s>>>(dst, fc2);
    CUDA_LAUNCHED("packing down for the persistent step");
    return RETNET_OK;
}

template <int E> static cudaError_t launch(const args &a, const tmap &ms, cudaStream_t cs) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(NB), cfg.blockDim = dim3(NT), cfg.dynamicSmemBytes = lay<E>::SMEM;
    cfg.stream = cs;
    cudaLaunchAttribute at1[1];
    at1[0].id = cudaLaunchAttributeCooperative, at1[0].val.cooperative = 1;
    cfg.attrs = at1, cfg.numAttrs = 1;
    return cudaLaunchKernelEx(&cfg, pstep_kernel<E>, a, ms);
}

extern "C" retnet_status cuda_pstep_run(const cuda_pstep *p, void *scratch, cuda_stream cs) {
    if (!p || !scratch || p->batch < 1 || p->batch > cuda_pstep_batches())
        return retnet_fail(RETNET_EINVAL, "CUDA: the persistent step is not available here (for "
                           "%d sequences)", p ? p->batch : 0);
    args a;
    a.p = *p;
    /* each array for EMAX sequences, one sequence's after the other's */
    char *at = (char *)scratch;
    a.xa = (unsigned long long *)at, at += sizeof(unsigned long long) * D * EMAX;
    a.xb = (unsigned long long *)at, at += sizeof(unsigned long long) * D * EMAX;
    a.qkt = (uint2 *)at, at += sizeof(uint2) * H * 2 * DK * EMAX;
    a.z = (float *)at, at += sizeof(float) * DVT * EMAX;
    a.hp = (float *)at, at += sizeof(float) * MAXL * H * SUB * EMAX;
    a.rot = (float *)at, at += sizeof(float) * NB * DK * EMAX;
    a.ctl = (unsigned *)at;
    tmap ms;
    /* the B sequences' states of a layer together: rows (b H + h) dk + i */
    const uint64_t sd[3] = {DV, (uint64_t)p->batch * H * DK, (uint64_t)p->n_layer},
                   ss[2] = {DV, (uint64_t)p->state_layer_floats};
    const uint32_t sb[3] = {32, DK, 1};
    TRY(map3(&ms, p->state, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 4, sd, ss, sb, "the states"));
    const cudaError_t e = p->batch == 1 ? launch<1>(a, ms, (cudaStream_t)cs)
                                        : launch<2>(a, ms, (cudaStream_t)cs);
    if (e != cudaSuccess) {
        (void)cudaGetLastError(); /* a launch that failed leaves nothing behind for the next */
        return cuda_fail_(e, "the persistent decoding step", __FILE__, __LINE__);
    }
    return RETNET_OK;
}
