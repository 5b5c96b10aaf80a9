/*
 * retention.cu: retention on the GPU (API and conventions in retention.h; the math in
 * RETNET.md §2, the CPU mirror in src/ops/retention_{chunkwise,recurrent}.c).
 *
 * One kernel shape does all the chunkwise work: a chunkwise forward pass that keeps the
 * state in fp32 registers and walks through the sequence chunk by chunk. For a chunk of
 * L <= C rows with R the state before it (xi[j] = gamma^(j+1), zeta[j] = gamma^(L-1-j)):
 *   o_[i] = scale (Q K^T ⊙ D_L) V  +  scale xi ⊙ (Q R)          (1)
 *   R    <- gamma^L R + K^T (zeta ⊙ V)                          (2)
 * The backward is the same kernel three times, with the operands swapped (derived from (1),
 * (2); checked in float64 against autograd before any CUDA was written):
 *   dq = run(q := dO, k := V,  v := K,  forward in time,  initial state S0^T)
 *   dk = run(q := V,  k := dO, v := Q,  backward in time, initial state dS_T^T / (scale gamma))
 *   dv = run(q := K,  k := Q,  v := dO, backward in time, initial state dS_T   / (scale gamma)),
 *        and dS0 = scale gamma (the final state of that last run)
 * Running "backward in time" reverses the token order; the state it carries is dL/dS.
 *
 * RETNET.md §3's row sums r_n = sum_{m <= n} gamma^(n-m) scale q_n . k_m (retention with
 * v = 1) ride in the same passes on the wgmma kernel (its RW template argument; ChunkRun::rows):
 * the forward adds each row's scores and xi q . z (z the carried key sums) into 8 partial slots
 * (retention_cuda_forward_rows), the dq and dk passes take dr as one more score term and one
 * more carried state row (retention_cuda_backward_rows). Each had been a v = 1 pass of its own.
 *
 * Three implementations of that pass (run_chunk picks):
 *   wg_kernel   Hopper (sm_90a): wgmma products, TMA loads (section "the chunkwise kernel on
 *               Hopper" below); every contraction.
 *   wgc_kernel  Hopper (sm_90a): the same products, cp.async loads; only the lab's path 3
 *               (for comparisons). It ran KC <= 128 until the P build lost its branches
 *               (dev/cuda/runs/next23.sh, H16 forward: 0.73 ms against TMA's 0.54, where it had been
 *               the faster one, 0.71 against 0.90, while the P build dominated), then KC = 64
 *               until dev/cuda/runs/next30.sh timed TMA faster there too.
 *   chunk_kernel  any sm_80+ GPU: mma.sync m16n8k16 fed by ldmatrix (described next); what
 *               runs where this file was not built for sm_90a (the wgmma kernels are then
 *               stubs that the host recognises by their launch bound and never launches).
 *
 * chunk_kernel: blocks and tiles. One block of 8 warps per (batch, head, tile of VT output columns);
 * the whole contraction width KC (dk for the forward, padded up to 64/128/256/512) stays in
 * the block, so the block's state tile (KC x VT fp32) lives in the warps' registers (the
 * accumulators of (2)) for the whole sequence and is written once at the end. Per chunk,
 * two barriers and two phases:
 *   phase 1: A = scale Q K^T ⊙ D (only the causal 16x16 blocks) -> shared memory as bf16;
 *            O = scale xi ⊙ (Q R) with R read as bf16 from shared memory;
 *            zeta ⊙ V -> shared memory (bf16); the next chunk's loads are in flight
 *   phase 2: O += A V and store O;  R = gamma^L R + K^T (zeta ⊙ V);  bf16(R) -> shared
 * Every product is mma.sync m16n8k16 (bf16 in, fp32 out) on operands loaded by ldmatrix,
 * so it compiles for sm_80 and sm_90 alike. The price of keeping the state in registers is
 * that each column tile recomputes Q K^T (dk/.. of the work, counted in the benchmark).
 *
 * The decode step (`step_kernel`) is memory-bound: one read and one write of the state,
 * 16-byte accesses, the q S reduction over dk finished in shared memory (its row groups'
 * partial sums added in order: the results depend on the block shape, which depends on the
 * state's size, not on anything else). With a window (`step_window_kernel`,
 * retention_cuda_step_window) the state is read every step and written every W steps, the
 * last tokens' k and v kept in a ring beside it; `window_flush_kernel` folds the ring in.
 *
 * Status (bench/gpu/retention-h200.md, H200, the TMA kernel): over fla's chunk_retention,
 * forward 2.04-2.51x (H8 dk256 dv512) and 2.11-2.61x (H16 dk128 dv256), fwd+bwd 2.89-3.03x
 * and 2.78-3.02x; decode 1.07-1.61x over fused_recurrent (version 7's run). The output
 * tile leaves through shared memory by a TMA store (stage_o; forward 1.12-1.29x and backward
 * 1.11-1.19x faster than storing from the accumulator fragments). Left (ncu, H16 forward): the two warpgroups
 * wait for each other at the chunk barrier (24% of the stall samples), the first Q K^T wgmma
 * of a chunk for the tensor pipe (12%), warpgroup 1's proxy fence after storing R (7%). The
 * mma.sync kernel's chunk size is 64, or 32 when the contraction is wider than 256; the
 * wgmma kernels use 64 throughout. The tile is 64 columns unless that leaves SMs idle (then
 * 32; KC = 512 always 32).
 */
#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h> /* PFN_cuTensorMapEncodeTiled (TMA maps; no link to libcuda) */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbar.cuh"
#include "../row_factor.h" /* §3's row factor, one formula (the step's key sums) */
#include "mma.cuh"
#include "pdl.cuh"
#include "retention.h"

typedef __nv_bfloat16 bf16;

/* ==================================================================================== */
/* errors                                                                               */

static char g_msg[512];

static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return 1;
}

#define CUDA_OK(call, what)                                                                \
    do {                                                                                   \
        cudaError_t e_ = (call);                                                           \
        if (e_ != cudaSuccess)                                                             \
            return fail("CUDA: %s: %s: %s (%s:%d)", what, cudaGetErrorName(e_),            \
                        cudaGetErrorString(e_), __FILE__, __LINE__);                       \
    } while (0)

extern "C" const char *retention_cuda_errmsg(void) { return g_msg; }

/* ==================================================================================== */
/* device helpers: ldmatrix, mma (cp.async: mbar.cuh)                                 */

/* Four 8x8 bf16 matrices; lane l gives the row address of matrix l/8, row l%8. */
__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t a) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a)
                 : "memory");
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], uint32_t a) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a)
                 : "memory");
}
/* lanes 0-15 give the addresses */
__device__ __forceinline__ void ldsm_x2_t(uint32_t &r0, uint32_t &r1, uint32_t a) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r0), "=r"(r1)
                 : "r"(a)
                 : "memory");
}

/* A thread block cluster's barrier in two halves (sm_90; below it no kernel runs as a cluster
 * and they compile to nothing): every thread of the cluster arrives, its earlier memory
 * operations released, and a wait returns once all have arrived, acquiring theirs. Work
 * between the two halves overlaps the other blocks' way to the barrier. */
__device__ __forceinline__ void cluster_arrive() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.arrive.release.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void cluster_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.wait.acquire.aligned;\n" ::: "memory");
#endif
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}

/* ==================================================================================== */
/* the chunkwise kernel                                                                 */

/* One pass of (1)-(2) over all sequences; strides in elements. "q", "k" have Kc columns,
 * "v" and o have Vo; element (b, t, h, c) of x is x[b sx_b + t sx_t + h sx_h + c]. */
struct ChunkRun {
    const bf16 *q, *k, *v;
    int64_t sq_b, sq_t, sq_h, sk_b, sk_t, sk_h, sv_b, sv_t, sv_h;
    void *o; /* NULL: outputs not wanted (only the final state) */
    int64_t so_b, so_t, so_h;
    int o_f32, o_acc;
    int split2; /* the second half of a split contraction (run_chunk): adds by TMA in bf16 too */
    int par;    /* launches of this size running alongside, this one included (0: 1): the
                   grid-size choices of run_chunk count their blocks together */
    const float *gamma;
    const float *s_init; /* element (b, h, i < Kc, j < Vo) at b si_b + h si_h + i si_k + j si_v */
    int64_t si_b, si_h, si_k, si_v;
    float *s_final;
    int64_t sf_b, sf_h, sf_k, sf_v;
    int sf_acc;
    int B, T, H, Kc, Vo;
    float scale;
    int reverse;    /* tokens in reverse order */
    int grad_state; /* initial state / (scale gamma), final state * (scale gamma) */
    /* RETNET.md §3's row sums r_n = sum_{m <= n} gamma^(n-m) scale q_n . k_m (retention with
     * v = 1) carried through the backward's dq and dk passes (wgmma kernel only; no states):
     * rows 1, the dq pass (q := dO, k := V, v := K): dO and V gain a column dr and a column of
     * ones, so P += dr_n and the state gains the row z = decayed sum of the v tile; rows 2, the
     * dk pass (q := V, k := dO, v := Q): P += dr_m by key and the state's extra row is the
     * dr-weighted decayed sum of the v tile. dr (bf16) of (b, t, h) at b sd_b + t sd_t + h sd_h */
    int rows;
    const bf16 *dr;
    int64_t sd_b, sd_t, sd_h;
    /* rows 3, the forward (q := Q, k := K, forward in time): the row sums r_n in 8 partial
     * slots, r8[((b T + t) H + h) 8 + s]: slot s holds xi_n scale q_n . z over the key columns
     * [s KC / 8, (s + 1) KC / 8) (z the key sums carried, gamma-decayed), slot 0 also the
     * chunk's own sum_m P_nm; block x of nx takes the slots s = x (mod nx) */
    float *r8;
    int lab;        /* dev/cuda ablations (wrong results, timing only): 1 no loads after the
                       first chunk, 2 no phase-1 products (mma.sync kernel only), 4 no state
                       update, 8 no O stores, 16 O stored from the registers (no TMA store),
                       32 no contraction split (run_chunk), 128 the split at any size, 256
                       the backward's dq and dk passes one after the other
                       (retention_cuda_backward); 16, 32, 128, 256 keep the results right */
};

constexpr int NWARP = 8, NTHREAD = NWARP * 32;

template <int KC, int VT, int C> struct Cfg {
    static constexpr int QP = KC + 8, VP = VT + 8, AP = C + 8; /* padded row pitches */
    static constexpr int RB = C / 16;                          /* row blocks of a chunk */
    static constexpr int NG = NWARP / RB;                      /* warps per row block */
    static constexpr int OCOLS = VT / NG, ONT = OCOLS / 8;     /* O columns of a warp */
    static constexpr int MAXJB = (RB + NG - 1) / NG;           /* key blocks of a warp */
    static constexpr int WM = (KC / 16) < NWARP ? (KC / 16) : NWARP;
    static constexpr int WN = NWARP / WM;
    static constexpr int SMT = KC / 16 / WM, SNT = VT / 8 / WN; /* state tiles of a warp */
    /* shared memory, in bf16 elements, then the fp32 powers */
    static constexpr int Q_OFF = 0, K_OFF = Q_OFF + 2 * C * QP, V_OFF = K_OFF + 2 * C * QP;
    static constexpr int VZ_OFF = V_OFF + 2 * C * VP, S_OFF = VZ_OFF + C * VP;
    static constexpr int A_OFF = S_OFF + KC * VP, END = A_OFF + C * AP;
    static constexpr size_t SMEM = (size_t)END * 2 + (C + 2) * sizeof(float);
    static_assert(ONT >= 1 && (ONT == 1 || ONT % 2 == 0), "O tile of a warp");
    static_assert(SNT >= 2 && SNT % 2 == 0 && SMT >= 1, "state tile of a warp");
    static_assert(WM * WN == NWARP && NG * RB == NWARP, "warp layout");
};

template <int KC, int VT, int C>
__global__ void __launch_bounds__(NTHREAD, 1) chunk_kernel(const ChunkRun p) {
    using G = Cfg<KC, VT, C>;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    bf16 *sm = reinterpret_cast<bf16 *>(smem_raw);
    bf16 *sV = sm + G::V_OFF, *sVz = sm + G::VZ_OFF, *sS = sm + G::S_OFF, *sA = sm + G::A_OFF;
    float *pw = reinterpret_cast<float *>(sm + G::END); /* pw[i] = gamma^i, i = 0..C */
    /* shared-memory byte addresses (ldmatrix and cp.async take these; offsets below that do
     * not depend on the lane are compile-time immediates) */
    const uint32_t s0 = smem_u32(smem_raw);
    constexpr uint32_t QB = G::Q_OFF * 2, KB = G::K_OFF * 2, VB = G::V_OFF * 2;
    constexpr uint32_t VZB = G::VZ_OFF * 2, SB = G::S_OFF * 2, AB = G::A_OFF * 2;
    constexpr uint32_t QBUF = C * G::QP * 2, VBUF = C * G::VP * 2; /* bytes of one buffer */
    constexpr uint32_t QROW = G::QP * 2, VROW = G::VP * 2;

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t4 = lane & 3;
    const int vo0 = blockIdx.x * VT, h = blockIdx.y, b = blockIdx.z;
    const int T = p.T, Kc = p.Kc, Vo = p.Vo;
    const float gam = p.gamma[h], scale = p.scale;
    const int nchunk = (T + C - 1) / C;

    /* loads: a thread copies the same 16 bytes of rows j0, j0 + RP, ... of every chunk; rows
     * past the sequence and columns past Kc / Vo are zero-filled, so they add nothing */
    constexpr int SEGQ = KC / 8, RPQ = NTHREAD / SEGQ, NQ = C / RPQ;
    constexpr int SEGV = VT / 8, RPV = NTHREAD / SEGV, NV = (C + RPV - 1) / RPV;
    static_assert(NTHREAD % SEGQ == 0 && C % RPQ == 0 && NTHREAD % SEGV == 0, "load layout");
    const int qc = (tid % SEGQ) * 8, qj = tid / SEGQ;
    const int vc = (tid % SEGV) * 8, vj = tid / SEGV;
    const bool qcol_ok = qc < Kc, vcol_ok = vo0 + vc < Vo;
    const bf16 *qsrc = p.q + b * p.sq_b + h * p.sq_h + qc;
    const bf16 *ksrc = p.k + b * p.sk_b + h * p.sk_h + qc;
    const bf16 *vsrc = p.v + b * p.sv_b + h * p.sv_h + vo0 + vc;
    const uint32_t q_dst = s0 + QB + qj * QROW + qc * 2, k_dst = s0 + KB + qj * QROW + qc * 2;
    const uint32_t v_dst = s0 + VB + vj * VROW + vc * 2;
    auto load_chunk = [&](int ci, int buf) {
        const int c0 = ci * C;
        const int64_t tq = p.reverse ? (int64_t)(T - 1 - c0 - qj) : (int64_t)(c0 + qj);
        const int64_t dq = p.reverse ? -RPQ : RPQ;
#pragma unroll
        for (int n = 0; n < NQ; n++) {
            const bool ok = qcol_ok && c0 + qj + RPQ * n < T;
            const int64_t tt = tq + dq * n;
            cp_async16(q_dst + buf * QBUF + n * RPQ * QROW, ok ? qsrc + tt * p.sq_t : p.q, ok ? 16 : 0);
            cp_async16(k_dst + buf * QBUF + n * RPQ * QROW, ok ? ksrc + tt * p.sk_t : p.k, ok ? 16 : 0);
        }
        const int64_t tv = p.reverse ? (int64_t)(T - 1 - c0 - vj) : (int64_t)(c0 + vj);
        const int64_t dv = p.reverse ? -RPV : RPV;
#pragma unroll
        for (int n = 0; n < NV; n++) {
            if (vj + RPV * n < C) {
                const bool ok = vcol_ok && c0 + vj + RPV * n < T;
                cp_async16(v_dst + buf * VBUF + n * RPV * VROW,
                           ok ? vsrc + (tv + dv * n) * p.sv_t : p.v, ok ? 16 : 0);
            }
        }
        cp_async_commit();
    };

    if (nchunk > 0) load_chunk(0, 0);
    for (int i = tid; i <= C; i += NTHREAD) pw[i] = (float)pow((double)gam, (double)i);

    /* the state tile of this warp: rows (sm0 + mi) 16 + g (+8), columns (sn0 + ni) 8 + 2 t4 */
    const int sm0 = (warp % G::WM) * G::SMT, sn0 = (warp / G::WM) * G::SNT;
    float sacc[G::SMT][G::SNT][4];
    {
        const float mul = p.grad_state ? 1.0f / (scale * gam) : 1.0f;
        const float *si = p.s_init ? p.s_init + b * p.si_b + h * p.si_h : nullptr;
#pragma unroll
        for (int mi = 0; mi < G::SMT; mi++)
#pragma unroll
            for (int ni = 0; ni < G::SNT; ni++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int r = (sm0 + mi) * 16 + g + (e >> 1) * 8;
                    const int c = vo0 + (sn0 + ni) * 8 + 2 * t4 + (e & 1);
                    sacc[mi][ni][e] =
                        (si && r < Kc && c < Vo) ? mul * si[r * p.si_k + c * p.si_v] : 0.0f;
                }
    }
    uint32_t *const ss_w = reinterpret_cast<uint32_t *>(sS + (sm0 * 16 + g) * G::VP + sn0 * 8 + 2 * t4);
    auto store_state_bf16 = [&]() {
#pragma unroll
        for (int mi = 0; mi < G::SMT; mi++)
#pragma unroll
            for (int ni = 0; ni < G::SNT; ni++) {
                ss_w[(mi * 16 * G::VP + ni * 8) / 2] = pack_bf16(sacc[mi][ni][0], sacc[mi][ni][1]);
                ss_w[((mi * 16 + 8) * G::VP + ni * 8) / 2] =
                    pack_bf16(sacc[mi][ni][2], sacc[mi][ni][3]);
            }
    };
    store_state_bf16();

    /* O and A tiles of this warp: row block rb, column group cg; lane parts of the ldmatrix
     * addresses (A operands row-major [m][k]: row l%16, column 8 (l/16); B operands stored
     * [k][n] (trans): row l%16, column 8 (l/16); B stored [n][k] and A stored [k][m] (trans):
     * row l%8 + 8 (l/16), column 8 ((l/8)%2)) */
    const int rb = warp % G::RB, cg = warp / G::RB;
    const int ocol0 = cg * G::OCOLS; /* first O column of the warp, within the tile */
    const int r0 = rb * 16 + g;
    const uint32_t qa_addr = s0 + QB + (rb * 16 + (lane & 15)) * QROW + (lane >> 4) * 16;
    const uint32_t kn_addr = s0 + KB + ((lane & 7) + ((lane >> 4) << 3)) * QROW + ((lane >> 3) & 1) * 16;
    const uint32_t sb_addr = s0 + SB + (lane & 15) * VROW + ocol0 * 2 + (lane >> 4) * 16;
    const uint32_t vb_addr = s0 + VB + (lane & 15) * VROW + ocol0 * 2 + (lane >> 4) * 16;
    const uint32_t vz_addr = s0 + VZB + (lane & 15) * VROW + sn0 * 16 + (lane >> 4) * 16;
    const uint32_t a_addr = s0 + AB + (rb * 16 + (lane & 15)) * (G::AP * 2) + (lane >> 4) * 16;

    for (int ci = 0; ci < nchunk; ci++) {
        const int c0 = ci * C, L = min(C, T - c0), buf = ci & 1;
        const bf16 *cV = sV + buf * C * G::VP;
        cp_async_wait<0>();
        __syncthreads(); /* B1: chunk ci is in; sS holds R; last chunk's readers are done */
        if (ci + 1 < nchunk && !(p.lab & 1)) load_chunk(ci + 1, buf ^ 1);

        /* ---- phase 1 ---- */
        /* zeta ⊙ V, zeta[j] = gamma^(L-1-j) (rows j >= L are zero already) */
        for (int i = tid; i < C * (VT / 8); i += NTHREAD) {
            const int j = i / (VT / 8), c = (i % (VT / 8)) * 8;
            const float z = j < L ? pw[L - 1 - j] : 0.0f;
            const uint4 raw = *reinterpret_cast<const uint4 *>(cV + j * G::VP + c);
            const __nv_bfloat162 *x = reinterpret_cast<const __nv_bfloat162 *>(&raw);
            uint4 out;
            uint32_t *o = reinterpret_cast<uint32_t *>(&out);
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const float2 f = __bfloat1622float2(x[e]);
                o[e] = pack_bf16(f.x * z, f.y * z);
            }
            *reinterpret_cast<uint4 *>(sVz + j * G::VP + c) = out;
        }

        /* warps with few accumulators (one O tile, one A block) split the contraction into
         * independent partial sums, so that consecutive mma do not wait on each other */
        constexpr int OS = G::ONT == 1 ? 4 : 1, AS = G::MAXJB == 1 ? 2 : 1;
        float oacc[G::ONT][4], op[OS][G::ONT][4];
        float aacc[G::MAXJB][2][4], ap[AS][G::MAXJB][2][4];
#pragma unroll
        for (int s_ = 0; s_ < OS; s_++)
#pragma unroll
            for (int n = 0; n < G::ONT; n++)
#pragma unroll
                for (int e = 0; e < 4; e++) op[s_][n][e] = 0.0f;
#pragma unroll
        for (int s_ = 0; s_ < AS; s_++)
#pragma unroll
            for (int jb = 0; jb < G::MAXJB; jb++)
#pragma unroll
                for (int e = 0; e < 4; e++) ap[s_][jb][0][e] = ap[s_][jb][1][e] = 0.0f;

        const bool row_live = rb * 16 < L;
        if (row_live && !(p.lab & 2)) {
            const uint32_t qa_c = qa_addr + buf * QBUF, kn_c = kn_addr + buf * QBUF;
#pragma unroll
            for (int kk = 0; kk < KC / 16; kk++) {
                uint32_t qa[4];
                ldsm_x4(qa, qa_c + kk * 32);
                /* O = Q R: R (Kc x VT) stored [k][n] -> B fragments by ldmatrix.trans */
                if constexpr (G::ONT == 1) {
                    uint32_t b0, b1;
                    ldsm_x2_t(b0, b1, sb_addr + kk * 16 * VROW);
                    mma16816(op[kk % OS][0], qa, b0, b1);
                } else {
#pragma unroll
                    for (int pn = 0; pn < G::ONT / 2; pn++) {
                        uint32_t bb[4];
                        ldsm_x4_t(bb, sb_addr + kk * 16 * VROW + pn * 32);
                        mma16816(op[kk % OS][2 * pn], qa, bb[0], bb[1]);
                        mma16816(op[kk % OS][2 * pn + 1], qa, bb[2], bb[3]);
                    }
                }
                /* A = Q K^T: K stored [n = key][k] -> B fragments by plain ldmatrix */
#pragma unroll
                for (int jb = 0; jb < G::MAXJB; jb++) {
                    const int j = cg + jb * G::NG;
                    if (j <= rb) {
                        uint32_t bb[4];
                        ldsm_x4(bb, kn_c + j * 16 * QROW + kk * 32);
                        mma16816(ap[kk % AS][jb][0], qa, bb[0], bb[1]);
                        mma16816(ap[kk % AS][jb][1], qa, bb[2], bb[3]);
                    }
                }
            }
        }
#pragma unroll
        for (int n = 0; n < G::ONT; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float x = op[0][n][e];
#pragma unroll
                for (int s_ = 1; s_ < OS; s_++) x += op[s_][n][e];
                oacc[n][e] = x;
            }
#pragma unroll
        for (int jb = 0; jb < G::MAXJB; jb++)
#pragma unroll
            for (int hf = 0; hf < 2; hf++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float x = ap[0][jb][hf][e];
#pragma unroll
                    for (int s_ = 1; s_ < AS; s_++) x += ap[s_][jb][hf][e];
                    aacc[jb][hf][e] = x;
                }
        /* O rows times scale xi; A times scale D -> sA (bf16) */
        {
            const float x0 = scale * pw[r0 + 1], x1 = scale * pw[r0 + 9];
#pragma unroll
            for (int n = 0; n < G::ONT; n++) {
                oacc[n][0] *= x0, oacc[n][1] *= x0, oacc[n][2] *= x1, oacc[n][3] *= x1;
            }
        }
#pragma unroll
        for (int jb = 0; jb < G::MAXJB; jb++) {
            const int j = cg + jb * G::NG;
            if (j <= rb) {
#pragma unroll
                for (int hf = 0; hf < 2; hf++) {
                    const int m = j * 16 + hf * 8 + 2 * t4;
                    float v[4];
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int n = r0 + (e >> 1) * 8, mm = m + (e & 1);
                        v[e] = mm <= n ? scale * pw[n - mm] * aacc[jb][hf][e] : 0.0f;
                    }
                    *reinterpret_cast<uint32_t *>(sA + r0 * G::AP + m) = pack_bf16(v[0], v[1]);
                    *reinterpret_cast<uint32_t *>(sA + (r0 + 8) * G::AP + m) =
                        pack_bf16(v[2], v[3]);
                }
            }
        }
        __syncthreads(); /* B2: sA and sVz complete; every read of sS (R) done */

        /* ---- phase 2 ---- */
        if (row_live) {
            /* O += A V over key blocks 0..rb */
            const uint32_t vb_c = vb_addr + buf * VBUF;
#pragma unroll
            for (int kb16 = 0; kb16 < G::RB; kb16++) {
                if (kb16 <= rb) {
                    uint32_t af[4];
                    ldsm_x4(af, a_addr + kb16 * 32);
                    if constexpr (G::ONT == 1) {
                        uint32_t b0, b1;
                        ldsm_x2_t(b0, b1, vb_c + kb16 * 16 * VROW);
                        mma16816(oacc[0], af, b0, b1);
                    } else {
#pragma unroll
                        for (int pn = 0; pn < G::ONT / 2; pn++) {
                            uint32_t bb[4];
                            ldsm_x4_t(bb, vb_c + kb16 * 16 * VROW + pn * 32);
                            mma16816(oacc[2 * pn], af, bb[0], bb[1]);
                            mma16816(oacc[2 * pn + 1], af, bb[2], bb[3]);
                        }
                    }
                }
            }
            /* store O rows r0, r0 + 8 (those inside the sequence and the columns inside Vo) */
            if (p.o && !(p.lab & 8)) {
#pragma unroll
                for (int hr = 0; hr < 2; hr++) {
                    const int n = r0 + hr * 8;
                    if (n >= L) continue;
                    const int pos = c0 + n;
                    const int64_t tt = p.reverse ? (int64_t)(T - 1 - pos) : (int64_t)pos;
                    const int64_t base = b * p.so_b + tt * p.so_t + h * p.so_h;
#pragma unroll
                    for (int nt = 0; nt < G::ONT; nt++) {
                        const int col = vo0 + ocol0 + nt * 8 + 2 * t4;
                        if (col >= Vo) continue;
                        float v0 = oacc[nt][hr * 2], v1 = oacc[nt][hr * 2 + 1];
                        if (p.o_f32) {
                            float2 *dst = reinterpret_cast<float2 *>((float *)p.o + base + col);
                            if (p.o_acc) {
                                const float2 old = *dst;
                                v0 += old.x, v1 += old.y;
                            }
                            *dst = make_float2(v0, v1);
                        } else {
                            uint32_t *dst = reinterpret_cast<uint32_t *>((bf16 *)p.o + base + col);
                            if (p.o_acc) {
                                uint32_t old = *dst;
                                const float2 f =
                                    __bfloat1622float2(*reinterpret_cast<__nv_bfloat162 *>(&old));
                                v0 += f.x, v1 += f.y;
                            }
                            *dst = pack_bf16(v0, v1);
                        }
                    }
                }
            }
        }
        /* R = gamma^L R + K^T (zeta ⊙ V): A = K^T from K stored [k = key][m] (ldmatrix.trans),
         * B = zeta ⊙ V stored [k = key][n] (ldmatrix.trans); key rows past L are zero */
        {
            const float gl = pw[L];
#pragma unroll
            for (int mi = 0; mi < G::SMT; mi++)
#pragma unroll
                for (int ni = 0; ni < G::SNT; ni++)
#pragma unroll
                    for (int e = 0; e < 4; e++) sacc[mi][ni][e] *= gl;
            if (!(p.lab & 4)) {
                const uint32_t kt_c = kn_addr + buf * QBUF + sm0 * 32;
#pragma unroll
                for (int kb16 = 0; kb16 < C / 16; kb16++) {
                    uint32_t bz[G::SNT / 2][4];
#pragma unroll
                    for (int pn = 0; pn < G::SNT / 2; pn++)
                        ldsm_x4_t(bz[pn], vz_addr + kb16 * 16 * VROW + pn * 32);
#pragma unroll
                    for (int mi = 0; mi < G::SMT; mi++) {
                        uint32_t af[4];
                        ldsm_x4_t(af, kt_c + kb16 * 16 * QROW + mi * 32);
#pragma unroll
                        for (int ni = 0; ni < G::SNT; ni++)
                            mma16816(sacc[mi][ni], af, bz[ni >> 1][(ni & 1) * 2],
                                     bz[ni >> 1][(ni & 1) * 2 + 1]);
                    }
                }
            }
        }
        store_state_bf16(); /* read by the next chunk's phase 1, after its B1 */
    }

    /* the final state, fp32 */
    if (p.s_final) {
        const float mul = p.grad_state ? scale * gam : 1.0f;
        float *sf = p.s_final + b * p.sf_b + h * p.sf_h;
#pragma unroll
        for (int mi = 0; mi < G::SMT; mi++)
#pragma unroll
            for (int ni = 0; ni < G::SNT; ni++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int r = (sm0 + mi) * 16 + g + (e >> 1) * 8;
                    const int c = vo0 + (sn0 + ni) * 8 + 2 * t4 + (e & 1);
                    if (r < Kc && c < Vo) {
                        float *dst = sf + r * p.sf_k + c * p.sf_v;
                        const float val = mul * sacc[mi][ni][e];
                        *dst = p.sf_acc ? *dst + val : val;
                    }
                }
    }
}

/* ==================================================================================== */
/* the chunkwise kernel on Hopper: warpgroup MMA (wgmma) fed by TMA, sm_90a            */

/*
 * `wg_kernel` computes what `chunk_kernel` computes ((1), (2) above; same ChunkRun, same grid
 * of (tile of VT output columns, head, batch)), with the products as wgmma: one instruction
 * multiplies a 64 x N x 16 block for a whole warpgroup (4 warps), operands read straight from
 * shared memory, accumulators in registers. Chunks of 64. Two warpgroups with separate jobs:
 *   warpgroup 0 (the output): S = Q K^T (64 x 64), O = Q R (64 x VT), then the decayed
 *     P = scale D ⊙ S converted in registers to the A operand of O += P V (no shared memory
 *     and no barrier for P); O rows scaled by scale xi; O stored.
 *   warpgroup 1 (the state): R (KC x VT, fp32) in its registers; zeta ⊙ V -> shared memory,
 *     R = gamma^L R + K^T (zeta ⊙ V), bf16(R) -> shared memory (stmatrix) for warpgroup 0's
 *     next chunk.
 * Both work on the same chunk at once: warpgroup 0 reads R of the previous chunk from one of
 * two buffers while warpgroup 1 writes the next one into the other.
 *
 * Loads: the tensor memory accelerator (TMA) copies 64-row boxes of Q, K (64-column slabs)
 * and V into shared memory, 128-byte swizzled (64-byte for VT = 32), completing on an mbarrier
 * per chunk; one thread issues them, a chunk ahead (two buffers; one when KC = 512, then after
 * the chunk's Q K^T and state update). TMA replaced cp.async (16 bytes per thread, 4,600
 * requests per chunk) because those loads did not keep up even with few blocks running
 * (ncu of that version: L2 88% busy; H8 forward 1.22 -> 0.85 ms with TMA).
 * Optionally (lab: retention_cuda_lab_set_cluster) the blocks of one head's output tiles form a
 * cluster (up to 8): each loads a share of the Q and K slabs and multicasts it to all, so L2
 * serves each chunk of Q and K once per cluster instead of once per tile, and a cluster
 * barrier per chunk keeps every block's buffers free before anyone refills them. Measured
 * slower (H8 forward at T = 16k 1.66 against 0.85 ms: the barrier, and 16 clusters of 8 that
 * do not all fit on the GPU at once), so off by default.
 * Passes backward in time load the same boxes in forward order: a chunk's row r is then token
 * 63 - r of the chunk (rows of a short last chunk come first, zero-filled), and the causal
 * mask, the decays and the stores are mirrored.
 *
 * Stores: warpgroup 0 writes the chunk's O tile into shared memory (swizzled boxes of 128-byte
 * rows, stage_o) and one thread sends it to global memory by TMA (store_o_tma; fp32 gradients
 * that accumulate use the TMA's reduce-add), so the store leaves warpgroup 0's serial chain
 * (1.1-1.3x faster than storing from the accumulator fragments, bit for bit the same values
 * but for a bf16 sum, which the registers add in fp32 and TMA in bf16:
 * dev/cuda/retention_store.py, retention_ab.py 16 0). The staging buffer is its own where shared memory allows,
 * else the chunk's Q buffer, which Q K^T and Q R no longer need (KC = 256, VT = 64).
 *
 * Layouts for wgmma. Q and K slabs ([64 rows][64 columns], 128-byte rows, 16-byte pieces
 * swizzled by XOR with row % 8): Q as a K-major A and K as a K-major B of Q K^T (stride between
 * 8-row groups 1024 bytes; k-steps of 16 columns are +32 bytes, slabs +8 KB); the same K as
 * the MN-major A = K^T of the state update (8-key groups 1024 bytes apart, 64-row state tiles =
 * slabs). V and zeta ⊙ V ([64 keys][VT], the same swizzle): MN-major B. The bf16 state R
 * ([KC][VT], written by stmatrix) has no swizzle: 8 x 8 core matrices (128 contiguous bytes),
 * row-group major, element (r, c) at ((r / 8) (VT / 8) + c / 8) 128 + (r % 8) 16 + (c % 8) 2,
 * an MN-major B with 8-row groups VT 16 bytes apart and 8-column groups 128.
 */
/* the O staging's boxes (stage_o below): BC columns, rows of RB bytes, NBOX boxes of BOX bytes */
template <int VT, int F32> struct OStage {
    static constexpr int ES = F32 ? 4 : 2, BC = VT * ES > 128 ? 128 / ES : VT;
    static constexpr int RB = BC * ES, BOX = 64 * RB, NBOX = VT / BC;
    static constexpr uint32_t SWM = RB == 128 ? 7 : 3;
};

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define RET_WG_BODY 1
#define RET_WG_BOUNDS(n) __launch_bounds__(n, 1)
#elif defined(__CUDA_ARCH__)
/* other targets get an empty stub; its launch bound (32) tells the host not to use it */
#define RET_WG_BODY 0
#define RET_WG_BOUNDS(n) __launch_bounds__(32)
#else
#define RET_WG_BODY 0
#define RET_WG_BOUNDS(n)
#endif

/* swizzle modes of a descriptor (bits 62-63) */
enum { SW_NONE = 0, SW_128 = 1, SW_64 = 2 };

#if RET_WG_BODY
/* shared-memory matrix descriptor: start address, leading and stride byte offsets, swizzle */
__device__ __forceinline__ uint64_t wg_desc(uint32_t addr, uint32_t lbo, uint32_t sbo, int sw) {
    return (uint64_t)((addr & 0x3FFFFu) >> 4) | ((uint64_t)((lbo >> 4) & 0x3FFFu) << 16) |
           ((uint64_t)((sbo >> 4) & 0x3FFFu) << 32) | ((uint64_t)sw << 62);
}
/* a descriptor moved by `bytes` (multiple of 16; stays inside the 14-bit address field) */
__device__ __forceinline__ uint64_t wg_at(uint64_t d, uint32_t bytes) { return d + (bytes >> 4); }
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() {
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N> __device__ __forceinline__ void wg_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
/* keeps the compiler from moving accesses of accumulators across a wait */
template <int N> __device__ __forceinline__ void wg_pin(float (&d)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(d[i])::"memory");
}
/* generic-proxy writes (st.shared, stmatrix) -> visible to wgmma (async proxy) */
__device__ __forceinline__ void fence_async_smem() {
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
/* barrier.sync, not bar.sync (= barrier.sync.aligned, which wants every thread of a warp at the
 * same instruction converged): compute-sanitizer's synccheck found warps of wgc_kernel's
 * warpgroup 1 arriving diverged (1,472 reports on test_cuda_retention; none with these) */
__device__ __forceinline__ void bar_all() { asm volatile("barrier.sync 0;\n" ::: "memory"); }
__device__ __forceinline__ void bar_wg1() { asm volatile("barrier.sync 1, 128;\n" ::: "memory"); }
__device__ __forceinline__ void cluster_sync() {
    cluster_arrive();
    cluster_wait();
}
__device__ __forceinline__ uint32_t cluster_rank() {
    uint32_t r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
    return r;
}
/* TMA: box of a 4-D tensor map at (c0, c1, c2, c3) -> shared memory at dst, completion on bar;
 * with mask != 0 the same box lands at dst in every block of the mask (cluster multicast) */
__device__ __forceinline__ void tma_load4(uint32_t dst, const void *tmap, int c0, int c1, int c2,
                                          int c3, uint32_t bar, uint16_t mask) {
    if (mask)
        asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes"
                     ".multicast::cluster [%0], [%1, {%2, %3, %4, %5}], [%6], %7;\n" ::"r"(dst),
                     "l"(tmap), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(bar), "h"(mask)
                     : "memory");
    else
        asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes"
                     " [%0], [%1, {%2, %3, %4, %5}], [%6];\n" ::"r"(dst),
                     "l"(tmap), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(bar)
                     : "memory");
}
/* four 8x8 bf16 matrices from mma-layout fragments; lane l gives the row address of matrix
 * l/8, row l%8 */
__device__ __forceinline__ void stsm_x4(uint32_t a, uint32_t r0, uint32_t r1, uint32_t r2,
                                        uint32_t r3) {
    asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(a),
                 "r"(r0), "r"(r1), "r"(r2), "r"(r3)
                 : "memory");
}

/* TMA store of a staged box (shared memory at src) to a 4-D tensor map at (c0, c1, c2, c3);
 * add != 0 adds it to what is there (in the map's type, fp32 or bf16). One bulk group per chunk, committed by the caller. */
__device__ __forceinline__ void tma_store4(const void *tmap, uint32_t src, int c0, int c1, int c2,
                                           int c3, int add) {
    if (add)
        asm volatile("cp.reduce.async.bulk.tensor.4d.global.shared::cta.add.tile.bulk_group"
                     " [%0, {%2, %3, %4, %5}], [%1];\n" ::"l"(tmap),
                     "r"(src), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
                     : "memory");
    else
        asm volatile("cp.async.bulk.tensor.4d.global.shared::cta.tile.bulk_group"
                     " [%0, {%2, %3, %4, %5}], [%1];\n" ::"l"(tmap),
                     "r"(src), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
                     : "memory");
}
__device__ __forceinline__ void bulk_commit() {
    asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
}
/* the committed stores have read their shared memory (it may be written again) */
__device__ __forceinline__ void bulk_wait_read() {
    asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");
}
/* the committed stores are complete */
__device__ __forceinline__ void bulk_wait_all() {
    asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory");
}
__device__ __forceinline__ void bar_wg0() { asm volatile("barrier.sync 2, 128;\n" ::: "memory"); }

/* The O tile (64 x VT, fp32 accumulator fragments of warpgroup 0) staged for the TMA store
 * (OStage): boxes of 64 rows x BC columns (rows of 128 bytes, or 64 for a bf16 tile of 32 columns),
 * swizzled as the tensor map says (16-byte piece bits 4.. XOR row bits 7..: CUTLASS's
 * Swizzle<3,4,3> / <2,4,3>; the base is 1024-aligned). Thread rows pr0, pr1 are the box rows of
 * the fragment's rows rowA, rowA + 8. Each warp's stores touch every bank once (bf16) or twice
 * (fp32, 256 bytes). */
template <int VT, int F32>
__device__ __forceinline__ void stage_o(unsigned char *st, const float (&d)[VT / 2], int pr0,
                                        int pr1, int t4) {
    using S = OStage<VT, F32>;
#pragma unroll
    for (int rr = 0; rr < 2; rr++)
#pragma unroll
        for (int j = 0; j < VT / 8; j++) {
            const int col = 8 * j + 2 * t4;
            uint32_t off = (col / S::BC) * S::BOX + (rr ? pr1 : pr0) * S::RB + (col % S::BC) * S::ES;
            off ^= ((off >> 7) & S::SWM) << 4;
            if constexpr (F32)
                *reinterpret_cast<float2 *>(st + off) = make_float2(d[4 * j + 2 * rr], d[4 * j + 2 * rr + 1]);
            else
                *reinterpret_cast<uint32_t *>(st + off) = pack_bf16(d[4 * j + 2 * rr], d[4 * j + 2 * rr + 1]);
        }
}
/* the staged O's boxes to the map (one thread), then a commit of their bulk group */
template <int VT>
__device__ __forceinline__ void send_o(const void *tmap, uint32_t s_st, int f32, int mode, int vo0,
                                       int vo_end, int h, int row0, int b) {
    const int nbox = f32 ? OStage<VT, 1>::NBOX : OStage<VT, 0>::NBOX;
    const int box = f32 ? OStage<VT, 1>::BOX : OStage<VT, 0>::BOX;
    for (int i = 0; i < nbox; i++) /* a box wholly past the last column is not sent */
        if (vo0 + i * (VT / nbox) < vo_end)
            tma_store4(tmap, s_st + i * box, vo0 + i * (VT / nbox), h, row0, b, mode == 2);
    bulk_commit();
}
/* warpgroup 0 after a chunk's O is in acc: stage it (st, a free 1024-aligned buffer, at s_st in
 * the shared window) and one thread (tid 0) sends the boxes of rows row0.. (outside the tensor:
 * not written) to the map; mode 2 adds. Every staged row goes out; rows of a short chunk that
 * hold no token lie past its end (the callers keep the box start at 0 or later). */
template <int VT>
__device__ __forceinline__ void store_o_tma(const void *tmap, unsigned char *st, uint32_t s_st,
                                            const float (&d)[VT / 2], int pr0, int pr1, int t4,
                                            int f32, int mode, int vo0, int vo_end, int h,
                                            int row0, int b, int tid) {
    if (f32) stage_o<VT, 1>(st, d, pr0, pr1, t4);
    else stage_o<VT, 0>(st, d, pr0, pr1, t4);
    fence_async_smem();
    bar_wg0();
    if (tid == 0) send_o<VT>(tmap, s_st, f32, mode, vo0, vo_end, h, row0, b);
}

/* D (64 x N fp32) (+)= A (64 x 16) B (16 x N), bf16. SS: A and B from shared memory by
 * descriptor, TA / TB = 1 for MN-major. RS: A from registers (mma.sync m16n8k16 A fragments,
 * warp w of the warpgroup holding rows 16w..16w+15). acc = 0 overwrites D.
 * Accumulator fragment: d[4j + e] is row 16w + lane/4 + 8 (e/2), column 8j + 2 (lane%4) + e%2. */
#define WG_D16                                                                             \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),    \
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]),         \
        "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
#define WG_D32                                                                             \
    WG_D16, "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]),  \
        "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]),      \
        "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
#define WG_R16 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}"
#define WG_R32                                                                             \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, " \
    "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"

template <int TA, int TB>
__device__ __forceinline__ void wg_ss32(float (&d)[16], uint64_t a, uint64_t b, int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 " WG_R16
                 ", %16, %17, p, 1, 1, %19, %20;\n}\n"
                 : WG_D16
                 : "l"(a), "l"(b), "r"(acc), "n"(TA), "n"(TB));
}
template <int TA, int TB>
__device__ __forceinline__ void wg_ss64(float (&d)[32], uint64_t a, uint64_t b, int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " WG_R32
                 ", %32, %33, p, 1, 1, %35, %36;\n}\n"
                 : WG_D32
                 : "l"(a), "l"(b), "r"(acc), "n"(TA), "n"(TB));
}
template <int TB>
__device__ __forceinline__ void wg_rs32(float (&d)[16], const uint32_t (&a)[4], uint64_t b,
                                        int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %21, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 " WG_R16
                 ", {%16, %17, %18, %19}, %20, p, 1, 1, %22;\n}\n"
                 : WG_D16
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(acc), "n"(TB));
}
template <int TB>
__device__ __forceinline__ void wg_rs64(float (&d)[32], const uint32_t (&a)[4], uint64_t b,
                                        int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " WG_R32
                 ", {%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
                 : WG_D32
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(acc), "n"(TB));
}
template <int N, int TA, int TB>
__device__ __forceinline__ void wg_ss(float (&d)[N / 2], uint64_t a, uint64_t b, int acc) {
    if constexpr (N == 64) wg_ss64<TA, TB>(d, a, b, acc);
    else wg_ss32<TA, TB>(d, a, b, acc);
}
template <int N, int TB>
__device__ __forceinline__ void wg_rs(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t b,
                                      int acc) {
    if constexpr (N == 64) wg_rs64<TB>(d, a, b, acc);
    else wg_rs32<TB>(d, a, b, acc);
}
/* fp32 accumulator fragment (64 x N) -> bf16 core-matrix tile (rows 64 of cols N): the
 * fragment's block j, rows +0 / +8 are matrices (rg, j), (rg + 1, j) */
template <int N>
__device__ __forceinline__ void wg_store_frag(const float (&d)[N / 2], uint32_t tile, int wq,
                                              int lane) {
#pragma unroll
    for (int j = 0; j < N / 8; j += 2) {
        const int rg = wq * 2 + ((lane >> 3) & 1), cg = j + (lane >> 4);
        stsm_x4(tile + (rg * (N / 8) + cg) * 128 + (lane & 7) * 16,
                pack_bf16(d[4 * j], d[4 * j + 1]), pack_bf16(d[4 * j + 2], d[4 * j + 3]),
                pack_bf16(d[4 * j + 4], d[4 * j + 5]), pack_bf16(d[4 * j + 6], d[4 * j + 7]));
    }
}
#endif /* RET_WG_BODY */

/* gamma^i in double by repeated squaring (i <= 64: at most 12 products, within ~1e-14 of the
 * true power; as a float, pow's but for rare 1-ulp cases). pow() in double took microseconds
 * a block. */
__device__ __forceinline__ float gamma_pow(float gam, int i) {
    double r = 1.0, x = gam;
    for (; i; i >>= 1, x *= x)
        if (i & 1) r *= x;
    return (float)r;
}

/* The wgmma kernels' decay tables: pw[i] = gamma^i for i <= C, and the decays of
 * P = scale D ⊙ S by offset d = n - m (or m - n backward in time) in [-C, C): pz[C + d] =
 * scale gamma^d for d >= 0, 0 below (the same float as scale * pw[d]). P's elements read it
 * without a branch: the TMA kernel copies each thread's 32 decays into registers once, the
 * cp.async kernel loads pz every chunk (a per-thread base and immediate offsets), both then
 * select. With the load inside the condition the compiler branched around it for every
 * element (ncu, H16 forward: the P build was 41% of warpgroup 0's stall samples, branch
 * resolving and short scoreboard). */
template <int C>
__device__ __forceinline__ void decay_tables(float *pw, float *pz, float gam, float scale, int tid) {
    for (int i = tid; i <= C; i += NTHREAD) pw[i] = gamma_pow(gam, i);
    for (int i = tid; i < 2 * C; i += NTHREAD) pz[i] = i >= C ? scale * gamma_pow(gam, i - C) : 0.0f;
}

/* a CUtensorMap's storage (cuda.h's type, 128 bytes, 64-byte aligned), so that this part does
 * not need the driver API's header */
struct __align__(64) TensorMap {
    unsigned long long opaque[16];
};

template <int KC, int VT, int NB, int RW = 0> struct WCfg {
    static constexpr int C = 64;
    static constexpr uint32_t SLAB = C * 64 * 2;              /* 64 rows x 64 bf16 */
    static constexpr uint32_t QBYTES = C * KC * 2, VBYTES = C * VT * 2, RBYTES = KC * VT * 2;
    static constexpr uint32_t Q_OFF = 0, K_OFF = Q_OFF + NB * QBYTES, V_OFF = K_OFF + NB * QBYTES;
    static constexpr uint32_t VZ_OFF = V_OFF + 2 * VBYTES, R_OFF = VZ_OFF + VBYTES;
    static constexpr uint32_t PW_OFF = R_OFF + 2 * RBYTES, PZ_OFF = PW_OFF + 4 * (C + 4);
    static constexpr uint32_t BAR_OFF = PZ_OFF + 4 * 2 * C;
    /* §3's rows (ChunkRun::rows): dr of a chunk's rows (two chunks), the state's extra row z
     * (two chunks), and its column sums' partials (a row of VT per group of rows of the
     * warpgroup that forms zeta ⊙ V) */
    static constexpr int NRG = 128 / (VT / 8);
    static constexpr uint32_t DR_OFF = BAR_OFF + 16, Z_OFF = DR_OFF + 4 * 2 * C;
    static constexpr uint32_t ZP_OFF = Z_OFF + 4 * 2 * VT;
    /* rows 3 (the forward's row sums): the key sums z (two chunks, KC floats each), the
     * partials of their chunk sums (128 a slot, 8 slots) */
    static constexpr uint32_t Z3_OFF = BAR_OFF + 16, ZP3_OFF = Z3_OFF + 4 * 2 * KC;
    static constexpr int W8 = KC / 8, RG8 = 128 / W8; /* a slot's key columns; row groups */
    /* byte offset of element (row, col) in a chunk's Q or K buffer (64-column slabs of
     * 128-byte rows, 16-byte chunks swizzled by the row's low 3 bits, as TMA wrote them) */
    static __device__ __forceinline__ uint32_t qk_off(int row, int col) {
        return (col >> 6) * SLAB + row * 128 + ((((col & 63) >> 3) ^ (row & 7)) << 4) + (col & 7) * 2;
    }
    static constexpr uint32_t ROWS_END = RW == 3   ? ZP3_OFF + 4 * 8 * 128
                                         : RW      ? ZP_OFF + 4 * NRG * VT
                                                   : BAR_OFF + 16;
    /* the TMA store's O staging: a buffer of its own where it fits (bf16 O fits at KC = 256
     * without §3's rows, fp32 O does not fit there), else the chunk's Q buffer, free once
     * Q K^T and Q R are done (NB = 2); a buffer of its own lets the next chunk's loads go out
     * without waiting for the store */
    static constexpr uint32_t OST_BYTES = C * VT * 4, O_OFF = (ROWS_END + 1023) & ~1023u;
    static constexpr bool O_IN_Q = O_OFF + OST_BYTES + 1024 > 227 * 1024; /* fp32 O */
    static constexpr bool O16_IN_Q = O_OFF + OST_BYTES / 2 + 1024 > 227 * 1024; /* bf16 O */
    static constexpr size_t SMEM =
        (O16_IN_Q ? ROWS_END : O_OFF + (O_IN_Q ? OST_BYTES / 2 : OST_BYTES)) + 1024; /* + base alignment */
    static constexpr int NJ = VT / 8, MT = KC / 64;     /* n8 blocks of a row; 64-row tiles */
    static constexpr int VSW = VT == 64 ? SW_128 : SW_64; /* V rows of 128 or 64 bytes */
    static constexpr uint32_t VGRP = VT * 2 * 8;          /* bytes of 8 V rows */
    static constexpr uint32_t TXBYTES = 2 * QBYTES + VBYTES; /* arriving per chunk */
    static_assert(VT == 64 || VT == 32, "tile");
    static_assert(SMEM <= 227 * 1024, "shared memory");
    static_assert(NB == 1 || NB == 2, "buffers");
    static_assert(!O_IN_Q || (NB == 2 && QBYTES >= OST_BYTES), "O staging in the Q buffer");
};

/* dev/cuda lab only (NVCC_EXTRA=-DRET_WG_TRACE, dev/cuda/fwd_trace.py): per block (x + nx (y +
 * ny z)), RET_TRACE_N slots: 0 the SM, 1 and 11 %globaltimer at entry and at warpgroup 0's
 * end, the others clock64 at wg_kernel's phases (fwd_trace.py names them), read back by
 * retention_cuda_lab_trace. Off in every other build: the stamps compile to nothing. */
#ifdef RET_WG_TRACE
#define RET_TRACE_N 40
#define RET_TRACE_MAXB 16384
__device__ unsigned long long g_wg_trace[RET_TRACE_MAXB * RET_TRACE_N];
__device__ __forceinline__ void wg_stamp(int k, unsigned long long v) {
    const unsigned bid = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    if (bid < RET_TRACE_MAXB) g_wg_trace[bid * RET_TRACE_N + k] = v;
}
__device__ __forceinline__ unsigned long long wg_gtime() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}
__device__ __forceinline__ unsigned wg_smid() {
    unsigned r;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(r));
    return r;
}
#define WG_STAMP(tidv, k) do { if (tid == (tidv)) wg_stamp(k, clock64()); } while (0)
#else
#define WG_STAMP(tidv, k) do { } while (0)
#endif

/* RW: ChunkRun::rows (0: none; 1, 2: §3's row sums in the dq, dk pass), a template
 * argument so that the kernels without them are the code they were (with it a runtime flag,
 * the preset's step took 5 ms longer with the rows apart: dev/cuda/runs/next112.sh) */
/* ost: how O leaves the block. 0 from the accumulator registers (a caller's bf16 o_acc, or
 * the lab's flag 16); 1 staged in shared memory and written by TMA (tmo, a map of o); 2 the
 * same, added to what is there (fp32 o_acc, or a split's second half: run_chunk) */
/* OQ (KC 256 with fp32 O, which is staged in the chunk's Q buffer): warpgroup 0 only stages
 * O; thread 128 sends it after the next top barrier, waits for its read and then sends the
 * next chunk's Q slabs into that buffer, so neither the store nor the wait is on warpgroup 0's
 * path (a template argument: the other kernels' code stays as it was) */
template <int KC, int VT, int NB, int RW, bool OQ = false>
__global__ void RET_WG_BOUNDS(NTHREAD)
    wg_kernel(const __grid_constant__ ChunkRun p, const __grid_constant__ TensorMap tmq,
              const __grid_constant__ TensorMap tmk, const __grid_constant__ TensorMap tmv,
              const __grid_constant__ TensorMap tmo, int cl, int ost) {
#if RET_WG_BODY
    using G = WCfg<KC, VT, NB, RW>;
    constexpr int C = G::C;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    /* swizzled tiles need 1024-byte alignment */
    const uint32_t s0 = (smem_u32(smem_raw) + 1023u) & ~1023u;
    unsigned char *sbase = smem_raw + (s0 - smem_u32(smem_raw));
    float *pw = reinterpret_cast<float *>(sbase + G::PW_OFF); /* pw[i] = gamma^i, i <= C */
    float *pz = reinterpret_cast<float *>(sbase + G::PZ_OFF); /* pz[C + d]: decay_tables */
    const uint32_t bar_full = s0 + G::BAR_OFF;              /* two mbarriers, one per chunk parity */
    const int tid = threadIdx.x, wt = tid & 127, wq = wt >> 5, lane = tid & 31;
    /* the warpgroup, visibly uniform to the compiler (a lane-0 broadcast): wgmma in a branch
     * it cannot prove uniform gets serialized */
    const int wg = __shfl_sync(0xffffffffu, tid >> 7, 0);
    const int g = lane >> 2, t4 = lane & 3;
    const int vo0 = blockIdx.x * VT, h = blockIdx.y, b = blockIdx.z;
    const int T = p.T, Kc = p.Kc, Vo = p.Vo, rev = p.reverse;
    const float gam = p.gamma[h], scale = p.scale;
    const int nchunk = (T + C - 1) / C;
    const int crank = cl > 1 ? (int)cluster_rank() : 0;
    constexpr int rows = RW; /* §3's row sums (ChunkRun::rows): 0, 1 (dq) or 2 (dk) */
    float *drs = reinterpret_cast<float *>(sbase + G::DR_OFF); /* [2][C] dr by chunk row */
    float *zs = reinterpret_cast<float *>(sbase + G::Z_OFF);   /* [2][VT] the extra state row */
    float *zs3 = reinterpret_cast<float *>(sbase + G::Z3_OFF); /* rows 3: [2][KC] key sums */

#ifdef RET_WG_TRACE
    if (tid == 0) wg_stamp(0, wg_smid()), wg_stamp(1, wg_gtime());
#endif
    WG_STAMP(0, 2);
    if (tid == 0) {
        mbar_init(bar_full, 1);
        mbar_init(bar_full + 8, 1);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }

    /* the loads of chunk ci (one thread, or share w of nw threads): its Q and K slabs, shared
     * out over the cluster, each multicast to every block; this block's V tile. Boxes start at
     * the chunk's first row in forward order (negative or past T: zero-filled) */
    /* sel (OQ only): 0 every box, 1 the Q slabs only, 2 all but the Q slabs */
    auto issue = [&](int ci, int w = 0, int nw = 1, int sel = 0) { /* share w of nw: boxes w, w + nw, .. */
        const int st = ci & 1, qb = NB == 2 ? st : 0;
        const int row0 = rev ? T - (ci + 1) * C : ci * C;
        const uint32_t bar = bar_full + st * 8;
        /* one arrival with every byte; another share's bytes may land first (the tx-count may
         * go below zero, PTX allowing -(2^20 - 1); the phase cannot complete before this
         * arrival) */
        if (w == 0 && (!OQ || sel != 1)) mbar_expect_tx(bar, G::TXBYTES);
        const uint16_t mask = cl > 1 ? (uint16_t)((1u << cl) - 1u) : (uint16_t)0;
        /* two loops where one with `if (OQ && ...)` would do: the single loop changes the
         * other kernels' code (checked: their PTX differs), and this kernel's time moves with
         * its register allocation (next243: a change of that kind cost 22-28% at H8) */
        if constexpr (OQ) {
            int j = 0;
            for (int o = crank; o < 2 * G::MT; o += cl) {
                const bool isk = o >= G::MT;
                if (sel == 1 ? isk : sel == 2 ? !isk : false) continue;
                if (j++ % nw != w) continue;
                const int sl = isk ? o - G::MT : o;
                tma_load4(s0 + (isk ? G::K_OFF : G::Q_OFF) + qb * G::QBYTES + sl * G::SLAB,
                          isk ? (const void *)&tmk : (const void *)&tmq, sl * 64, h, row0, b, bar,
                          mask);
            }
            if (sel != 1 && j % nw == w)
                tma_load4(s0 + G::V_OFF + st * G::VBYTES, &tmv, vo0, h, row0, b, bar, 0);
        } else {
            int j = 0;
            for (int o = crank; o < 2 * G::MT; o += cl, j++) {
                if (j % nw != w) continue;
                const bool isk = o >= G::MT;
                const int sl = isk ? o - G::MT : o;
                tma_load4(s0 + (isk ? G::K_OFF : G::Q_OFF) + qb * G::QBYTES + sl * G::SLAB,
                          isk ? (const void *)&tmk : (const void *)&tmq, sl * 64, h, row0, b, bar,
                          mask);
            }
            if (j % nw == w) tma_load4(s0 + G::V_OFF + st * G::VBYTES, &tmv, vo0, h, row0, b, bar, 0);
        }
    };
    /* O staged in the chunk's Q buffer (fp32 O where a buffer of its own does not fit: KC 256) */
    const bool oq = ost && (p.o_f32 ? G::O_IN_Q : G::O16_IN_Q);
    /* OQ: chunk c's O was staged (backward in time a short chunk's box would start before
     * token 0; those rows go from the registers), and its box's first row */
    auto staged = [&](int c) { return !rev || T - (c + 1) * C >= 0; };
    auto orow = [&](int c) { return rev ? T - (c + 1) * C : c * C; };
    const bool no_more = p.lab & 1; /* lab: no loads after the first chunk (wrong results) */
    /* top of chunk ci: every block of the cluster is done with chunk ci - 1 (its buffers are
     * free, and this block's R buffer is written), the next loads go out, chunk ci is in */
    auto top = [&](int ci) {
        if (NB == 2 && cl > 1) cluster_sync();
        else bar_all();
        if (ci == 0) WG_STAMP(0, 15);
        /* The next chunk's boxes go out from warpgroup 1, a share a warp: sent from thread 0,
         * they held warpgroup 0 (this chunk's critical path) ~1.2 us of a 2.7 us chunk at H8
         * (9 boxes; 0.6 of 1.8 at H16, 5 boxes) while warpgroup 1 waited ~1.7 us here
         * (dev/cuda/fwd_trace.py, next237.sh -> next239.sh: the forward and the backward
         * 14-22% faster). Not where O is staged in the Q buffer being reloaded: thread 0
         * must first see its own store read it */
        if constexpr (OQ) {
            /* thread 128 sends chunk ci - 1's O (staged in its Q buffer), waits until the store
             * has read it, and loads chunk ci + 1's Q there; warps 5-7 load K and V. Warpgroup
             * 0 only stages O (next245.sh: fp32 O at KC 256 10-15% faster, its gradients'
             * passes ~11%) */
            if (tid == 128) {
                if (ci > 0 && staged(ci - 1) && !(p.lab & 8))
                    send_o<VT>(&tmo, s0 + G::Q_OFF + ((ci - 1) & 1) * G::QBYTES, 1, ost, vo0, Vo, h,
                               orow(ci - 1), b);
                if (ci + 1 < nchunk && !no_more) {
                    bulk_wait_read(); /* chunk ci - 1's O, staged where chunk ci + 1's Q goes */
                    issue(ci + 1, 0, 1, 1);
                }
            } else if (tid > 128 && lane == 0 && ci + 1 < nchunk && !no_more) {
                issue(ci + 1, wq - 1, 3, 2);
            }
        } else if (NB == 2 && ci + 1 < nchunk && !no_more) {
            if (oq) {
                if (tid == 0) {
                    bulk_wait_read();
                    issue(ci + 1);
                }
            } else if (tid >= 128 && lane == 0) {
                issue(ci + 1, wq, 4);
            }
        }
        if (no_more) mbar_wait(bar_full, 0); /* only chunk 0 ever arrives */
        else mbar_wait(bar_full + (ci & 1) * 8, (ci >> 1) & 1);
    };
    /* KC = 512 (one Q / K buffer): the next chunk's loads once every block has read this one */
    auto mid = [&](int ci) {
        if (cl > 1) cluster_sync();
        else bar_all();
        if (tid == 0 && ci + 1 < nchunk && !no_more) issue(ci + 1);
    };
    /* without a cluster the first chunk's loads go out at once, under the tables' work (the
     * issuing thread initialized the barrier itself); a multicast waits until the barriers
     * exist in every block of the cluster. (The second chunk's loads sent with them gained
     * nothing: the first chunk's wait at its end is for warpgroup 1, dev/cuda/runs/next233.sh) */
    if (cl == 1 && tid == 0 && nchunk > 0) issue(0);
    WG_STAMP(0, 16);
    decay_tables<C>(pw, pz, gam, scale, tid);
    if (cl > 1) cluster_sync();
    else bar_all();
    if (cl > 1 && tid == 0 && nchunk > 0) issue(0);
    WG_STAMP(0, 3);

    /* a chunk's row r is token j = r (forward in time) or j = 63 - r (backward); the rows that
     * hold tokens are r < L, or r >= 64 - L */
    if (wg == 0) {
        /* ---------------- warpgroup 0: the output rows rowA, rowA + 8 of each chunk -------- */
        const uint64_t dQ = wg_desc(s0 + G::Q_OFF, 16, 1024, SW_128);  /* A, K-major */
        const uint64_t dK = wg_desc(s0 + G::K_OFF, 16, 1024, SW_128);  /* B, K-major */
        const uint64_t dR = wg_desc(s0 + G::R_OFF, VT * 16, 128, SW_NONE); /* B, MN-major */
        const uint64_t dV = wg_desc(s0 + G::V_OFF, 8192, G::VGRP, G::VSW); /* B, MN-major */
        const int rowA = wq * 16 + g;
        /* the decays of this thread's 32 elements of P (the accumulator fragment of S), the
         * same every chunk: kept in registers (from shared memory they were 32 loads a chunk
         * on warpgroup 0's critical path). Element 4 j + 2 rr + e is row n = rowA + 8 rr, key
         * m = 8 j + 2 t4 + e; the offset d = n - m (m - n backward in time) */
        float dz[32];
        {
            const int sg = rev ? -1 : 1;
#pragma unroll
            for (int i = 0; i < 32; i++) {
                const int j = i >> 2, rr = (i >> 1) & 1, e = i & 1;
                dz[i] = pz[C + sg * (rowA + 8 * rr - 8 * j - 2 * t4 - e)];
            }
        }
        if (p.o == nullptr) { /* only the final state is wanted */
            for (int ci = 0; ci < nchunk; ci++) {
                top(ci);
                if constexpr (NB == 1) mid(ci);
            }
        } else
        for (int ci = 0; ci < nchunk; ci++) {
            const int c0 = ci * C, L = min(C, T - c0);
            const uint32_t qoff = (NB == 2 ? (ci & 1) : 0) * G::QBYTES;
            const uint32_t voff = (ci & 1) * G::VBYTES, roff = (ci & 1) * G::RBYTES;
            float acc_s[32], acc_o[VT / 2];
            if (ci == 1) WG_STAMP(0, 5);
            if (ci == 3) WG_STAMP(0, 25); /* chunk 2 done */
            if (ci == nchunk - 1) WG_STAMP(0, 7);
            top(ci);
            if (ci == 0) WG_STAMP(0, 4);
            if (ci == 1) WG_STAMP(0, 6);
            if (ci == nchunk - 1) WG_STAMP(0, 8);
            if (ci == 2) WG_STAMP(0, 24); /* chunk 2 in */
            /* every wgmma below is unconditional and waited for before its accumulators are
             * read: the compiler then keeps them asynchronous */
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < KC / 16; kk++) {
                const uint32_t off = qoff + (kk >> 2) * G::SLAB + (kk & 3) * 32;
                wg_ss<64, 0, 0>(acc_s, wg_at(dQ, off), wg_at(dK, off), kk > 0);
            }
            wg_commit();
#pragma unroll
            for (int kk = 0; kk < KC / 16; kk++)
                wg_ss<VT, 0, 1>(acc_o, wg_at(dQ, qoff + (kk >> 2) * G::SLAB + (kk & 3) * 32),
                                wg_at(dR, roff + kk * 2 * VT * 16), kk > 0);
            wg_commit();
            if (ci == 2) WG_STAMP(0, 20); /* trace: products asked for */
            if constexpr (NB == 1) {
                wg_wait<0>();
                wg_pin(acc_s);
                wg_pin(acc_o);
                mid(ci);
            }
            wg_wait<1>();
            if (ci == 2) WG_STAMP(0, 21); /* S in */
            wg_pin(acc_s);
            /* P = scale D ⊙ S as A fragments: block kb = keys 16 kb.., a0 (row, k 2t..),
             * a1 (row + 8), a2 (row, k 2t + 8..), a3 (row + 8, k 2t + 8..); D[n][m] is
             * gamma^(n-m) for m <= n (forward), gamma^(m-n) for m >= n (backward) */
            uint32_t pa[4][4];
            /* §3: the score gains dr of its row (rows 1) or of its key (rows 2) */
            const float *dri = drs + (ci & 1) * C;
            const float dra0 = rows == 1 ? dri[rowA] : 0.0f, dra1 = rows == 1 ? dri[rowA + 8] : 0.0f;
            float rsum[2] = {0.0f, 0.0f}; /* rows 3: sum_m P_nm of the rows rowA, rowA + 8 */
#pragma unroll
            for (int j = 0; j < 8; j++)
#pragma unroll
                for (int rr = 0; rr < 2; rr++) {
                    /* a zero decay is the mask, or an underflow (whose product with a finite
                     * score is 0 too; the other kernels give NaN there for an infinite one) */
                    const float w0 = dz[4 * j + 2 * rr], w1 = dz[4 * j + 2 * rr + 1];
                    float s0 = acc_s[4 * j + 2 * rr], s1 = acc_s[4 * j + 2 * rr + 1];
                    if (rows == 1) {
                        s0 += rr ? dra1 : dra0, s1 += rr ? dra1 : dra0;
                    } else if (rows == 2) {
                        const float2 dk2 = *reinterpret_cast<const float2 *>(dri + 8 * j + 2 * t4);
                        s0 += dk2.x, s1 += dk2.y;
                    }
                    const float v0 = w0 != 0.0f ? w0 * s0 : 0.0f;
                    const float v1 = w1 != 0.0f ? w1 * s1 : 0.0f;
                    pa[j >> 1][(j & 1) * 2 + rr] = pack_bf16(v0, v1);
                    if (rows == 3) rsum[rr] += v0 + v1;
                }
            wg_wait<0>();
            if (ci == 2) WG_STAMP(0, 22); /* Q R in (P built) */
            wg_pin(acc_o);
            {   /* xi of row n: gamma^(j+1), j = n or 63 - n */
                const float x0 = scale * pw[rev ? C - rowA : rowA + 1];
                const float x1 = scale * pw[rev ? C - rowA - 8 : rowA + 9];
#pragma unroll
                for (int j = 0; j < G::NJ; j++) {
                    acc_o[4 * j] *= x0, acc_o[4 * j + 1] *= x0;
                    acc_o[4 * j + 2] *= x1, acc_o[4 * j + 3] *= x1;
                }
                if constexpr (rows == 3) { /* the row sums' slots (ChunkRun::r8) */
                    constexpr int CW = KC / 32; /* a thread's columns of a slot */
                    const float *zi = zs3 + (ci & 1) * KC;
#pragma unroll
                    for (int rr = 0; rr < 2; rr++) {
                        rsum[rr] += __shfl_xor_sync(0xffffffffu, rsum[rr], 1);
                        rsum[rr] += __shfl_xor_sync(0xffffffffu, rsum[rr], 2);
                    }
                    for (int sl = blockIdx.x; sl < 8; sl += gridDim.x) {
                        const int col0 = sl * G::W8 + t4 * CW;
                        float rp[2] = {0.0f, 0.0f};
#pragma unroll
                        for (int rr = 0; rr < 2; rr++) {
                            const int row = rowA + 8 * rr;
#pragma unroll
                            for (int c = 0; c < CW; c += 2) {
                                const int col = col0 + c;
                                const float2 qv = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(
                                    sbase + G::Q_OFF + qoff + G::qk_off(row, col)));
                                rp[rr] += qv.x * zi[col] + qv.y * zi[col + 1];
                            }
                            rp[rr] += __shfl_xor_sync(0xffffffffu, rp[rr], 1);
                            rp[rr] += __shfl_xor_sync(0xffffffffu, rp[rr], 2);
                        }
                        if (t4 == 0)
#pragma unroll
                            for (int rr = 0; rr < 2; rr++) {
                                const int n = rowA + 8 * rr;
                                if (n >= L) continue;
                                const float v = (rr ? x1 : x0) * rp[rr] + (sl == 0 ? rsum[rr] : 0.0f);
                                p.r8[((int64_t)(b * T + c0 + n) * p.H + h) * 8 + sl] = v;
                            }
                    }
                }
                if (rows == 1 || rows == 2) { /* + xi (dr of the row, or 1) z: the extra state row's term */
                    const float *zi = zs + (ci & 1) * VT;
                    const float c0 = rows == 1 ? x0 * dra0 : x0, c1 = rows == 1 ? x1 * dra1 : x1;
#pragma unroll
                    for (int j = 0; j < G::NJ; j++) {
                        const float2 z2 = *reinterpret_cast<const float2 *>(zi + 8 * j + 2 * t4);
                        acc_o[4 * j] += c0 * z2.x, acc_o[4 * j + 1] += c0 * z2.y;
                        acc_o[4 * j + 2] += c1 * z2.x, acc_o[4 * j + 3] += c1 * z2.y;
                    }
                }
            }
            wg_fence();
#pragma unroll
            for (int kb = 0; kb < 4; kb++)
                wg_rs<VT, 1>(acc_o, pa[kb], wg_at(dV, voff + kb * 2 * G::VGRP), 1);
            wg_commit();
            wg_wait<0>();
            if (ci == 2) WG_STAMP(0, 23); /* P V in */
            wg_pin(acc_o);
            if (p.lab & 8) continue;
            /* staged, then TMA: rows in forward order, as loaded. Not for a short chunk backward
             * in time: its box starts before token 0, and a TMA store at a negative coordinate
             * stops the kernel (illegal instruction, H200), where a load there reads zeros */
            if (ost && (!rev || T - (ci + 1) * C >= 0)) {
                const uint32_t so = oq ? G::Q_OFF + qoff : G::O_OFF;
                /* the buffer is free: the last store from it has read it (a Q buffer's was
                 * waited for before its reload in top, unless the lab stopped the loads). In
                 * the Q buffer, each warp stages only its own 16 rows (O's box rows are Q's:
                 * 128-byte rows, the same swizzle), which only its own part of the Q K^T and
                 * Q R products reads, complete at its wgmma wait: no barrier. With one
                 * (commit 4428d54) the H8 forward took 0.82 instead of 0.69 ms on the H200
                 * (dev/cuda/bisect_fwd.sh); outputs are bit-identical to the register stores
                 * either way (retention_store.py). */
                if (!oq || no_more) {
                    if (tid == 0) bulk_wait_read();
                    bar_wg0();
                }
                if (ci == 2) WG_STAMP(0, 32); /* the staging buffer free */
                if constexpr (OQ) { /* thread 128 sends it after the next top barrier */
                    stage_o<VT, 1>(sbase + so, acc_o, rowA, rowA + 8, t4);
                    fence_async_smem();
                } else {
                    store_o_tma<VT>(&tmo, sbase + so, s0 + so, acc_o, rowA, rowA + 8, t4, p.o_f32,
                                    ost, vo0, Vo, h, rev ? T - (ci + 1) * C : c0, b, tid);
                }
                if (ci == 2) WG_STAMP(0, 33); /* O staged, its store sent (OQ: staged only) */
                continue;
            }
#pragma unroll
            for (int rr = 0; rr < 2; rr++) {
                const int n = rowA + 8 * rr;
                if (rev ? n < C - L : n >= L) continue;
                /* token position (forward order): c0 + n, or T - 64 - c0 + n backward */
                const int64_t tt = rev ? (int64_t)(T - C - c0 + n) : (int64_t)(c0 + n);
                const int64_t base = b * p.so_b + tt * p.so_t + h * p.so_h;
#pragma unroll
                for (int j = 0; j < G::NJ; j++) {
                    const int col = vo0 + 8 * j + 2 * t4;
                    if (col >= Vo) continue;
                    float v0 = acc_o[4 * j + 2 * rr], v1 = acc_o[4 * j + 2 * rr + 1];
                    if (p.o_f32) {
                        float2 *dst = reinterpret_cast<float2 *>((float *)p.o + base + col);
                        if (p.o_acc) {
                            const float2 old = *dst;
                            v0 += old.x, v1 += old.y;
                        }
                        *dst = make_float2(v0, v1);
                    } else {
                        uint32_t *dst = reinterpret_cast<uint32_t *>((bf16 *)p.o + base + col);
                        if (p.o_acc) {
                            uint32_t old = *dst;
                            const float2 f =
                                __bfloat1622float2(*reinterpret_cast<__nv_bfloat162 *>(&old));
                            v0 += f.x, v1 += f.y;
                        }
                        *dst = pack_bf16(v0, v1);
                    }
                }
            }
        }
        WG_STAMP(0, 9);
        if constexpr (OQ) bar_all(); /* the last chunk's O staged: thread 128 sends it */
        if (ost && tid == 0) bulk_wait_all(); /* the shared memory outlives the stores */
        WG_STAMP(0, 10);
#ifdef RET_WG_TRACE
        if (tid == 0) wg_stamp(11, wg_gtime());
#endif
    } else {
        /* ---------------- warpgroup 1: the state tile, rows 64 mt + 16 wq + g (+8) -------- */
        const uint64_t dKt = wg_desc(s0 + G::K_OFF, 8192, 1024, SW_128); /* A = K^T, MN-major */
        const uint64_t dVz = wg_desc(s0 + G::VZ_OFF, 8192, G::VGRP, G::VSW); /* B, MN-major */
        /* The state starts at zero, or at s_init. Apart, so that a block without an initial
         * state runs only the zeros: the one loop that chose per element took warpgroup 1
         * ~5.5 us at H8 (2.7 at H16; a chunk takes 2.3) with no s_init to read, likely its
         * instructions' fetch (run once a block), and warpgroup 0 waited for it at the first
         * chunk (dev/cuda/fwd_trace.py, next231.sh -> next232.sh: H8 6.8 -> 1.5 us, the
         * forward 3-10% faster at T = 2k, the backward ~3-8%) */
        float acc_r[G::MT][VT / 2];
#pragma unroll
        for (int mt = 0; mt < G::MT; mt++)
#pragma unroll
            for (int i = 0; i < VT / 2; i++) acc_r[mt][i] = 0.0f;
        if (p.s_init) {
            const float mul = p.grad_state ? 1.0f / (scale * gam) : 1.0f;
            const float *si = p.s_init + b * p.si_b + h * p.si_h;
#pragma unroll
            for (int mt = 0; mt < G::MT; mt++)
#pragma unroll
                for (int j = 0; j < G::NJ; j++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int r = mt * 64 + wq * 16 + g + (e >> 1) * 8;
                        const int c = vo0 + 8 * j + 2 * t4 + (e & 1);
                        if (r < Kc && c < Vo) acc_r[mt][4 * j + e] = mul * si[r * p.si_k + c * p.si_v];
                    }
        }
        auto store_r = [&](int rb) {
#pragma unroll
            for (int mt = 0; mt < G::MT; mt++)
                wg_store_frag<VT>(acc_r[mt], s0 + G::R_OFF + rb * G::RBYTES + mt * 64 * VT * 2, wq,
                                  lane);
            fence_async_smem();
        };
        WG_STAMP(128, 17);
        store_r(0);
        WG_STAMP(128, 12);
        /* §3's rows: dr of chunk c's rows (tokens in forward order, as loaded; 0 past the
         * sequence) read by the threads wt < C; z, the extra state row, kept by wt < VT */
        auto load_dr = [&](int c) {
            const int tt = (rev ? T - (c + 1) * C : c * C) + wt;
            return (wt < C && tt >= 0 && tt < T)
                       ? __bfloat162float(p.dr[b * p.sd_b + (int64_t)tt * p.sd_t + h * p.sd_h])
                       : 0.0f;
        };
        constexpr bool R12 = rows == 1 || rows == 2;
        float zc = 0.0f;
        if constexpr (R12) {
            if (wt < C) drs[wt] = load_dr(0);
            if (wt < VT) zs[wt] = 0.0f;
        }
        if constexpr (rows == 3)
            for (int i = wt; i < KC; i += 128) zs3[i] = 0.0f;
        /* this thread's 16-byte pieces of the V tile are 8 columns of one logical column group
         * in rows wt / (VT / 8) + NRG n: the swizzle (128 / 64-byte: chunk ^= row bits) gives
         * the same group in every n */
        const int lcg = (wt % (VT / 8)) ^ ((wt >> 3) & (VT == 64 ? 7 : 3));
        for (int ci = 0; ci < nchunk; ci++) {
            const int L = min(C, T - ci * C);
            const uint32_t qoff = (NB == 2 ? (ci & 1) : 0) * G::QBYTES;
            const uint32_t voff = (ci & 1) * G::VBYTES;
            if (ci == 2) WG_STAMP(128, 26);
            top(ci);
            if (ci == 2) WG_STAMP(128, 27);
            const float drn = R12 && ci + 1 < nchunk ? load_dr(ci + 1) : 0.0f; /* lands later */
            if constexpr (rows == 3) { /* the chunk's key sums, sum_j gamma^(L-1-j) k_j, by slot */
                const int c = wt % G::W8, rg = wt / G::W8;
                float *zp3 = reinterpret_cast<float *>(sbase + G::ZP3_OFF);
                for (int sl = blockIdx.x, k = 0; sl < 8; sl += gridDim.x, k++) {
                    const int col = sl * G::W8 + c;
                    float acc = 0.0f;
                    for (int j = rg; j < L; j += G::RG8)
                        acc += pw[L - 1 - j] * __bfloat162float(*reinterpret_cast<const bf16 *>(
                                                   sbase + G::K_OFF + qoff + G::qk_off(j, col)));
                    zp3[k * 128 + rg * G::W8 + c] = acc;
                }
            }
            const float *dri = drs + (ci & 1) * C;
            float zp[8] = {};
            /* zeta ⊙ V, zeta = gamma^(L-1-j) for token j of the chunk (zero on empty rows);
             * same swizzled layout as V: 16-byte piece i is in row i / (VT / 8) */
#pragma unroll
            for (int n = 0; n < G::VBYTES / 16 / 128; n++) {
                const int i = wt + n * 128, row = i / (VT / 8);
                const int e = rev ? row - (C - L) : L - 1 - row; /* L - 1 - j */
                const float z = (e >= 0 && e < L) ? pw[e < 0 ? 0 : e] : 0.0f;
                const uint4 raw = *reinterpret_cast<const uint4 *>(sbase + G::V_OFF + voff + i * 16);
                const __nv_bfloat162 *x = reinterpret_cast<const __nv_bfloat162 *>(&raw);
                uint4 out;
                uint32_t *o = reinterpret_cast<uint32_t *>(&out);
                const float zw = rows == 2 ? z * dri[row] : z; /* §3: the row's weight */
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    const float2 f = __bfloat1622float2(x[q]);
                    o[q] = pack_bf16(f.x * z, f.y * z);
                    if (R12) zp[2 * q] += f.x * zw, zp[2 * q + 1] += f.y * zw;
                }
                *reinterpret_cast<uint4 *>(sbase + G::VZ_OFF + i * 16) = out;
            }
            float *zpart = reinterpret_cast<float *>(sbase + G::ZP_OFF);
            if (R12)
#pragma unroll
                for (int c = 0; c < 8; c++) zpart[(wt / (VT / 8)) * VT + lcg * 8 + c] = zp[c];
            fence_async_smem();
            bar_wg1();
            if (ci == 2) WG_STAMP(128, 28); /* zeta V written, warpgroup's barrier */
            const float gl = pw[L];
            if constexpr (rows == 3) { /* z = gamma^L z + the chunk's key sums (a fixed order) */
                const float *zp3 = reinterpret_cast<const float *>(sbase + G::ZP3_OFF);
                const float *zo = zs3 + (ci & 1) * KC;
                float *zn = zs3 + ((ci + 1) & 1) * KC;
                for (int sl = blockIdx.x, k = 0; sl < 8; sl += gridDim.x, k++)
                    if (wt < G::W8) {
                        float sum = 0.0f;
                        for (int g2 = 0; g2 < G::RG8; g2++) sum += zp3[k * 128 + g2 * G::W8 + wt];
                        zn[sl * G::W8 + wt] = gl * zo[sl * G::W8 + wt] + sum;
                    }
            }
            if (R12) { /* z = gamma^L z + the chunk's column sums (in a fixed order) */
                if (wt < VT) {
                    float sum = 0.0f;
                    for (int g2 = 0; g2 < G::NRG; g2++) sum += zpart[g2 * VT + wt];
                    zc = gl * zc + sum;
                    zs[((ci + 1) & 1) * VT + wt] = zc;
                }
                if (wt < C) drs[((ci + 1) & 1) * C + wt] = drn;
            }
#pragma unroll
            for (int mt = 0; mt < G::MT; mt++)
#pragma unroll
                for (int i = 0; i < VT / 2; i++) acc_r[mt][i] *= gl;
            if (ci == 2) WG_STAMP(128, 29); /* state decayed */
            if (!(p.lab & 4)) {
                wg_fence();
#pragma unroll
                for (int mt = 0; mt < G::MT; mt++)
#pragma unroll
                    for (int kb = 0; kb < 4; kb++)
                        wg_ss<VT, 1, 1>(acc_r[mt], wg_at(dKt, qoff + mt * G::SLAB + kb * 2048),
                                        wg_at(dVz, kb * 2 * G::VGRP), 1);
                wg_commit();
                wg_wait<0>();
                if (ci == 2) WG_STAMP(128, 30); /* K^T (zeta V) in */
#pragma unroll
                for (int mt = 0; mt < G::MT; mt++) wg_pin(acc_r[mt]);
            }
            if constexpr (NB == 1) mid(ci);
            store_r((ci + 1) & 1); /* read by warpgroup 0 in the next chunk */
            if (ci == 2) WG_STAMP(128, 31); /* bf16 state stored */
        }
        WG_STAMP(128, 13);
        if (p.s_final) {
            const float mul = p.grad_state ? scale * gam : 1.0f;
            float *sf = p.s_final + b * p.sf_b + h * p.sf_h;
#pragma unroll
            for (int mt = 0; mt < G::MT; mt++)
#pragma unroll
                for (int j = 0; j < G::NJ; j++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int r = mt * 64 + wq * 16 + g + (e >> 1) * 8;
                        const int c = vo0 + 8 * j + 2 * t4 + (e & 1);
                        if (r < Kc && c < Vo) {
                            float *dst = sf + r * p.sf_k + c * p.sf_v;
                            const float val = mul * acc_r[mt][4 * j + e];
                            *dst = p.sf_acc ? *dst + val : val;
                        }
                    }
        }
    }
    WG_STAMP(128, 14);
    if constexpr (OQ) {
        if (wg == 1) {
            bar_all();
            if (tid == 128) {
                if (nchunk > 0 && staged(nchunk - 1) && !(p.lab & 8))
                    send_o<VT>(&tmo, s0 + G::Q_OFF + ((nchunk - 1) & 1) * G::QBYTES, 1, ost, vo0, Vo,
                               h, orow(nchunk - 1), b);
                bulk_wait_all(); /* the shared memory outlives the stores */
            }
        }
    }
    /* no block of the cluster leaves while a multicast into it could still be in flight */
    if (cl > 1) cluster_sync();
#endif /* RET_WG_BODY */
}

/* The same kernel with the loads of version 3 (dev/cuda/retention_v3.cu): cp.async by every
 * thread, 16 bytes each, into unswizzled 8 x 8 core-matrix tiles (element (r, c) of a [rows][cols]
 * tile at ((r / 8) (cols / 8) + c / 8) 128 + (r % 8) 16 + (c % 8) 2), tokens loaded in processing
 * order (no mirroring backward in time). Slower than TMA where a chunk's Q and K are large
 * (KC = 256: 0.85 against 1.22 ms for the H8 forward); it was faster where they are small
 * (KC <= 128, H16 forward 0.71 against 0.90 ms) until the P build lost its branches, which
 * left it bound by its loads' issue (0.73 against 0.54 ms; dev/cuda/runs/next23.sh; unchecked
 * loads of whole chunks from precomputed offsets gained 3%, so they were not kept); at KC = 64
 * too since (next30.sh). Now only the lab's path 3. */
template <int KC, int VT, int NB> struct WCCfg {
    static constexpr int C = 64;
    static constexpr uint32_t QBYTES = C * KC * 2, VBYTES = C * VT * 2, RBYTES = KC * VT * 2;
    static constexpr uint32_t Q_OFF = 0, K_OFF = Q_OFF + NB * QBYTES, V_OFF = K_OFF + NB * QBYTES;
    static constexpr uint32_t VZ_OFF = V_OFF + 2 * VBYTES, R_OFF = VZ_OFF + VBYTES;
    static constexpr uint32_t PW_OFF = R_OFF + 2 * RBYTES, PZ_OFF = PW_OFF + 4 * (C + 4);
    /* the TMA store's O staging (fp32 at most, 1024-aligned inside the window), where it fits */
    static constexpr uint32_t OST_BYTES = C * VT * 4, O_OFF = PZ_OFF + 4 * 2 * C;
    static constexpr bool OST = O_OFF + 1024 + OST_BYTES <= 227 * 1024;
    static constexpr size_t SMEM = OST ? O_OFF + 1024 + OST_BYTES : O_OFF;
    static constexpr int NJ = VT / 8, MT = KC / 64;  /* n8 blocks of a row; 64-row state tiles */
    static constexpr int NCQ = KC / 8, NCV = VT / 8; /* 16-byte pieces of a Q / K row, V row */
    static constexpr int QPIECES = C * NCQ, VPIECES = C * NCV;
    static_assert(QPIECES % NTHREAD == 0 && VPIECES % NTHREAD == 0 && VPIECES % 128 == 0,
                  "load layout");
    static_assert(SMEM <= 227 * 1024, "shared memory");
    static_assert(NB == 1 || NB == 2, "buffers");
};

template <int KC, int VT, int NB>
__global__ void RET_WG_BOUNDS(NTHREAD) wgc_kernel(const __grid_constant__ ChunkRun p,
                                                  const __grid_constant__ TensorMap tmo, int ost) {
#if RET_WG_BODY
    using G = WCCfg<KC, VT, NB>;
    constexpr int C = G::C;
    extern __shared__ __align__(16) unsigned char smem_raw[]; /* no swizzle: 16 is enough */
    const uint32_t s0 = smem_u32(smem_raw);
    float *pw = reinterpret_cast<float *>(smem_raw + G::PW_OFF); /* pw[i] = gamma^i, i <= C */
    float *pz = reinterpret_cast<float *>(smem_raw + G::PZ_OFF); /* pz[C + d]: decay_tables */
    const int tid = threadIdx.x, wt = tid & 127, wq = wt >> 5, lane = tid & 31;
    /* the warpgroup, visibly uniform to the compiler (a lane-0 broadcast): wgmma in a branch
     * it cannot prove uniform gets serialized */
    const int wg = __shfl_sync(0xffffffffu, tid >> 7, 0);
    const int g = lane >> 2, t4 = lane & 3;
    const int vo0 = blockIdx.x * VT, h = blockIdx.y, b = blockIdx.z;
    const int T = p.T, Kc = p.Kc, Vo = p.Vo;
    const float gam = p.gamma[h], scale = p.scale;
    const int nchunk = (T + C - 1) / C;

    /* loads: piece i of a tile (row (i/8/NC)*8 + i%8, columns 8 ((i/8)%NC)..) to byte 16 i */
    const bf16 *qsrc = p.q + b * p.sq_b + h * p.sq_h;
    const bf16 *ksrc = p.k + b * p.sk_b + h * p.sk_h;
    const bf16 *vsrc = p.v + b * p.sv_b + h * p.sv_h + vo0;
    auto load_chunk = [&](int ci, int qb, int vb) {
        const int c0 = ci * C;
#pragma unroll
        for (int n = 0; n < G::QPIECES / NTHREAD; n++) {
            const int i = tid + n * NTHREAD;
            const int row = ((i >> 3) / G::NCQ) * 8 + (i & 7), col = ((i >> 3) % G::NCQ) * 8;
            const bool ok = col < Kc && c0 + row < T;
            const int64_t tt = p.reverse ? (int64_t)(T - 1 - c0 - row) : (int64_t)(c0 + row);
            cp_async16(s0 + G::Q_OFF + qb * G::QBYTES + i * 16, ok ? qsrc + tt * p.sq_t + col : p.q,
                       ok ? 16 : 0);
            cp_async16(s0 + G::K_OFF + qb * G::QBYTES + i * 16, ok ? ksrc + tt * p.sk_t + col : p.k,
                       ok ? 16 : 0);
        }
#pragma unroll
        for (int n = 0; n < G::VPIECES / NTHREAD; n++) {
            const int i = tid + n * NTHREAD;
            const int row = ((i >> 3) / G::NCV) * 8 + (i & 7), col = ((i >> 3) % G::NCV) * 8;
            const bool ok = vo0 + col < Vo && c0 + row < T;
            const int64_t tt = p.reverse ? (int64_t)(T - 1 - c0 - row) : (int64_t)(c0 + row);
            cp_async16(s0 + G::V_OFF + vb * G::VBYTES + i * 16, ok ? vsrc + tt * p.sv_t + col : p.v,
                       ok ? 16 : 0);
        }
        cp_async_commit();
    };
    /* top of a chunk: its loads are in and visible to wgmma, the last chunk's readers are done.
     * (More stages, 4 for KC = 128, were measured slower on the H200: 0.771 against 0.735 ms,
     * H16 forward; bench/gpu/retention-ab-h200.txt. A generic NB-stage form of this code was
     * slower still at NB = 2: 0.78 against 0.71 ms, dev/cuda/bisect_fwd.sh.) */
    auto top = [&](int ci) {
        cp_async_wait<0>();
        fence_async_smem();
        bar_all();
        if (NB == 2 && ci + 1 < nchunk && !(p.lab & 1)) load_chunk(ci + 1, (ci + 1) & 1, (ci + 1) & 1);
    };
    /* KC = 512 (one Q / K buffer): the next chunk's loads once both warpgroups have read it */
    auto mid = [&](int ci) {
        bar_all();
        if (ci + 1 < nchunk && !(p.lab & 1)) load_chunk(ci + 1, 0, (ci + 1) & 1);
    };

    if (nchunk > 0) load_chunk(0, 0, 0);
    decay_tables<C>(pw, pz, gam, scale, tid);

    if (wg == 0) {
        /* ---------------- warpgroup 0: the output rows rowA, rowA + 8 of each chunk -------- */
        const uint64_t dQ = wg_desc(s0 + G::Q_OFF, 128, KC * 16, SW_NONE);  /* A, K-major */
        const uint64_t dK = wg_desc(s0 + G::K_OFF, 128, KC * 16, SW_NONE);  /* B, K-major */
        const uint64_t dR = wg_desc(s0 + G::R_OFF, VT * 16, 128, SW_NONE); /* B, MN-major */
        const uint64_t dV = wg_desc(s0 + G::V_OFF, VT * 16, 128, SW_NONE); /* B, MN-major */
        const int rowA = wq * 16 + g;
        if (p.o == nullptr) { /* only the final state is wanted */
            for (int ci = 0; ci < nchunk; ci++) {
                top(ci);
                if constexpr (NB == 1) mid(ci);
            }
        } else
        for (int ci = 0; ci < nchunk; ci++) {
            const int c0 = ci * C, L = min(C, T - c0);
            const uint32_t qoff = (NB == 2 ? (ci & 1) : 0) * G::QBYTES;
            const uint32_t voff = (ci & 1) * G::VBYTES, roff = (ci & 1) * G::RBYTES;
            float acc_s[32], acc_o[VT / 2];
            top(ci);
            /* every wgmma below is unconditional and waited for before its accumulators are
             * read: the compiler then keeps them asynchronous */
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < KC / 16; kk++)
                wg_ss<64, 0, 0>(acc_s, wg_at(dQ, qoff + kk * 256), wg_at(dK, qoff + kk * 256),
                                kk > 0);
            wg_commit();
#pragma unroll
            for (int kk = 0; kk < KC / 16; kk++)
                wg_ss<VT, 0, 1>(acc_o, wg_at(dQ, qoff + kk * 256),
                                wg_at(dR, roff + kk * 2 * VT * 16), kk > 0);
            wg_commit();
            if constexpr (NB == 1) {
                wg_wait<0>();
                wg_pin(acc_s);
                wg_pin(acc_o);
                mid(ci);
            }
            wg_wait<1>();
            wg_pin(acc_s);
            /* P = scale D ⊙ S as A fragments: block kb = keys 16 kb.., a0 (row, k 2t..),
             * a1 (row + 8), a2 (row, k 2t + 8..), a3 (row + 8, k 2t + 8..) */
            uint32_t pa[4][4];
            {   /* d0 = n - m (see decay_tables): a per-thread base and immediate offsets */
                const float *pzr = pz + C + rowA - 2 * t4;
                const int base = rowA - 2 * t4;
#pragma unroll
                for (int kb = 0; kb < 4; kb++)
#pragma unroll
                    for (int hf = 0; hf < 2; hf++)
#pragma unroll
                        for (int rr = 0; rr < 2; rr++) {
                            const int j = 2 * kb + hf, o0 = 8 * rr - 8 * j;
                            const float w0 = pzr[o0], w1 = pzr[o0 - 1];
                            const float v0 = base + o0 >= 0 ? w0 * acc_s[4 * j + 2 * rr] : 0.0f;
                            const float v1 = base + o0 - 1 >= 0 ? w1 * acc_s[4 * j + 2 * rr + 1] : 0.0f;
                            pa[kb][hf * 2 + rr] = pack_bf16(v0, v1);
                        }
            }
            wg_wait<0>();
            wg_pin(acc_o);
            {
                const float x0 = scale * pw[rowA + 1], x1 = scale * pw[rowA + 9];
#pragma unroll
                for (int j = 0; j < G::NJ; j++) {
                    acc_o[4 * j] *= x0, acc_o[4 * j + 1] *= x0;
                    acc_o[4 * j + 2] *= x1, acc_o[4 * j + 3] *= x1;
                }
            }
            wg_fence();
#pragma unroll
            for (int kb = 0; kb < 4; kb++)
                wg_rs<VT, 1>(acc_o, pa[kb], wg_at(dV, voff + kb * 2 * VT * 16), 1);
            wg_commit();
            wg_wait<0>();
            wg_pin(acc_o);
            if (p.lab & 8) continue;
            /* staged, then TMA; rows in forward order (mirrored backward); a short chunk
             * backward in time from the registers (see wg_kernel) */
            if (G::OST && ost && (!p.reverse || T - c0 - C >= 0)) {
                const uint32_t s_st = (s0 + G::O_OFF + 1023u) & ~1023u;
                if (tid == 0) bulk_wait_read(); /* the last chunk's store has read the buffer */
                bar_wg0();
                store_o_tma<VT>(&tmo, smem_raw + (s_st - s0), s_st, acc_o,
                                p.reverse ? C - 1 - rowA : rowA, p.reverse ? C - 9 - rowA : rowA + 8,
                                t4, p.o_f32, ost, vo0, Vo, h, p.reverse ? T - c0 - C : c0, b, tid);
                continue;
            }
#pragma unroll
            for (int rr = 0; rr < 2; rr++) {
                const int n = rowA + 8 * rr;
                if (n >= L) continue;
                const int pos = c0 + n;
                const int64_t tt = p.reverse ? (int64_t)(T - 1 - pos) : (int64_t)pos;
                const int64_t base = b * p.so_b + tt * p.so_t + h * p.so_h;
#pragma unroll
                for (int j = 0; j < G::NJ; j++) {
                    const int col = vo0 + 8 * j + 2 * t4;
                    if (col >= Vo) continue;
                    float v0 = acc_o[4 * j + 2 * rr], v1 = acc_o[4 * j + 2 * rr + 1];
                    if (p.o_f32) {
                        float2 *dst = reinterpret_cast<float2 *>((float *)p.o + base + col);
                        if (p.o_acc) {
                            const float2 old = *dst;
                            v0 += old.x, v1 += old.y;
                        }
                        *dst = make_float2(v0, v1);
                    } else {
                        uint32_t *dst = reinterpret_cast<uint32_t *>((bf16 *)p.o + base + col);
                        if (p.o_acc) {
                            uint32_t old = *dst;
                            const float2 f =
                                __bfloat1622float2(*reinterpret_cast<__nv_bfloat162 *>(&old));
                            v0 += f.x, v1 += f.y;
                        }
                        *dst = pack_bf16(v0, v1);
                    }
                }
            }
        }
        if (ost && tid == 0) bulk_wait_all(); /* the shared memory outlives the stores */
    } else {
        /* ---------------- warpgroup 1: the state tile, rows 64 mt + 16 wq + g (+8) -------- */
        const uint64_t dKt = wg_desc(s0 + G::K_OFF, KC * 16, 128, SW_NONE); /* A = K^T, MN-major */
        const uint64_t dVz = wg_desc(s0 + G::VZ_OFF, VT * 16, 128, SW_NONE); /* B, MN-major */
        float acc_r[G::MT][VT / 2];
        {
            const float mul = p.grad_state ? 1.0f / (scale * gam) : 1.0f;
            const float *si = p.s_init ? p.s_init + b * p.si_b + h * p.si_h : nullptr;
#pragma unroll
            for (int mt = 0; mt < G::MT; mt++)
#pragma unroll
                for (int j = 0; j < G::NJ; j++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int r = mt * 64 + wq * 16 + g + (e >> 1) * 8;
                        const int c = vo0 + 8 * j + 2 * t4 + (e & 1);
                        acc_r[mt][4 * j + e] =
                            (si && r < Kc && c < Vo) ? mul * si[r * p.si_k + c * p.si_v] : 0.0f;
                    }
        }
        auto store_r = [&](int rb) {
#pragma unroll
            for (int mt = 0; mt < G::MT; mt++)
                wg_store_frag<VT>(acc_r[mt], s0 + G::R_OFF + rb * G::RBYTES + mt * 64 * VT * 2, wq,
                                  lane);
            fence_async_smem();
        };
        store_r(0);
        for (int ci = 0; ci < nchunk; ci++) {
            const int L = min(C, T - ci * C);
            const uint32_t qoff = (NB == 2 ? (ci & 1) : 0) * G::QBYTES;
            const uint32_t voff = (ci & 1) * G::VBYTES;
            top(ci);
            /* zeta ⊙ V, zeta[j] = gamma^(L-1-j) (rows past L are zero) */
#pragma unroll
            for (int n = 0; n < G::VPIECES / 128; n++) {
                const int i = wt + n * 128;
                const int row = ((i >> 3) / G::NCV) * 8 + (i & 7);
                const float z = row < L ? pw[L - 1 - row] : 0.0f;
                const uint4 raw = *reinterpret_cast<const uint4 *>(smem_raw + G::V_OFF + voff + i * 16);
                const __nv_bfloat162 *x = reinterpret_cast<const __nv_bfloat162 *>(&raw);
                uint4 out;
                uint32_t *o = reinterpret_cast<uint32_t *>(&out);
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const float2 f = __bfloat1622float2(x[e]);
                    o[e] = pack_bf16(f.x * z, f.y * z);
                }
                *reinterpret_cast<uint4 *>(smem_raw + G::VZ_OFF + i * 16) = out;
            }
            fence_async_smem();
            bar_wg1();
            const float gl = pw[L];
#pragma unroll
            for (int mt = 0; mt < G::MT; mt++)
#pragma unroll
                for (int i = 0; i < VT / 2; i++) acc_r[mt][i] *= gl;
            if (!(p.lab & 4)) {
                wg_fence();
#pragma unroll
                for (int mt = 0; mt < G::MT; mt++)
#pragma unroll
                    for (int kb = 0; kb < 4; kb++)
                        wg_ss<VT, 1, 1>(acc_r[mt], wg_at(dKt, qoff + mt * 1024 + kb * 2 * KC * 16),
                                        wg_at(dVz, kb * 2 * VT * 16), 1);
                wg_commit();
                wg_wait<0>();
#pragma unroll
                for (int mt = 0; mt < G::MT; mt++) wg_pin(acc_r[mt]);
            }
            if constexpr (NB == 1) mid(ci);
            store_r((ci + 1) & 1); /* read by warpgroup 0 in the next chunk */
        }
        if (p.s_final) {
            const float mul = p.grad_state ? scale * gam : 1.0f;
            float *sf = p.s_final + b * p.sf_b + h * p.sf_h;
#pragma unroll
            for (int mt = 0; mt < G::MT; mt++)
#pragma unroll
                for (int j = 0; j < G::NJ; j++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int r = mt * 64 + wq * 16 + g + (e >> 1) * 8;
                        const int c = vo0 + 8 * j + 2 * t4 + (e & 1);
                        if (r < Kc && c < Vo) {
                            float *dst = sf + r * p.sf_k + c * p.sf_v;
                            const float val = mul * acc_r[mt][4 * j + e];
                            *dst = p.sf_acc ? *dst + val : val;
                        }
                    }
        }
    }
#endif /* RET_WG_BODY */
}

/* dev/cuda only: one wgmma of each operand arrangement of wg_kernel, on 64 x 64 x 64
 * (A (M x K) and B (K x N) row-major bf16 in global memory, D row-major fp32; N = 32 for
 * variants 8 and 10, the other columns of D zero). Layouts written by the threads:
 *   0: A K-major [m][k], B K-major [n][k], no swizzle   1: A K-major, B MN-major [k][n]
 *   2: A MN-major [k][m], B MN-major                     3: A registers, B MN-major
 *   4: variant 1, then D -> bf16 by wg_store_frag, read back from the core-matrix tile
 *   5: A, B K-major, 128-byte swizzle (Q K^T)            6: A, B MN-major, 128B swizzle (K^T Vz)
 *   7: A K-major 128B swizzle, B MN-major no swizzle (Q R)
 *   8: A registers, B MN-major 64B swizzle, N 32 (P V, VT 32)
 *   9: A registers, B MN-major 128B swizzle (P V, VT 64)
 *  10: A MN-major 128B swizzle, B MN-major 64B swizzle, N 32 (K^T Vz, VT 32) */
__global__ void RET_WG_BOUNDS(128) wg_selftest_kernel(int variant, const bf16 *A, const bf16 *Bm,
                                                      float *D) {
#if RET_WG_BODY
    __shared__ __align__(1024) unsigned char sm[3 * 8192];
    const uint32_t s0 = smem_u32(sm), sA = s0, sB = s0 + 8192, sD = s0 + 16384;
    const int tid = threadIdx.x, wq = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    auto core = [](int r, int c) { return ((r >> 3) * 8 + (c >> 3)) * 128 + (r & 7) * 16 + (c & 7) * 2; };
    auto sw128 = [](int r, int c) { return r * 128 + (((c >> 3) ^ (r & 7)) << 4) + (c & 7) * 2; };
    auto sw64 = [](int r, int c) { return r * 64 + (((c >> 3) ^ ((r >> 1) & 3)) << 4) + (c & 7) * 2; };
    const bool n32 = variant == 8 || variant == 10;
    for (int i = tid; i < 64 * 64; i += 128) {
        const int r = i >> 6, c = i & 63; /* A[r][c] = (m, k); B[r][c] = (k, n) */
        int oa, ob = -1;
        switch (variant) {
        case 2: oa = core(c, r); break;
        case 5: case 7: oa = sw128(r, c); break;
        case 6: case 10: oa = sw128(c, r); break;
        default: oa = core(r, c);
        }
        switch (variant) {
        case 0: ob = core(c, r); break;
        case 5: ob = sw128(c, r); break;
        case 6: case 9: ob = sw128(r, c); break;
        case 8: case 10: ob = c < 32 ? sw64(r, c) : -1; break;
        default: ob = core(r, c);
        }
        *reinterpret_cast<bf16 *>(sm + oa) = A[i];
        if (ob >= 0) *reinterpret_cast<bf16 *>(sm + 8192 + ob) = Bm[i];
    }
    fence_async_smem();
    __syncthreads();
    float d[32];
#pragma unroll
    for (int i = 0; i < 32; i++) d[i] = 0.0f;
    float (&d16)[16] = *reinterpret_cast<float (*)[16]>(d);
    wg_fence();
    if (variant == 0) {
        const uint64_t da = wg_desc(sA, 128, 1024, SW_NONE), db = wg_desc(sB, 128, 1024, SW_NONE);
        for (int kk = 0; kk < 4; kk++) wg_ss<64, 0, 0>(d, wg_at(da, kk * 256), wg_at(db, kk * 256), 1);
    } else if (variant == 1 || variant == 4) {
        const uint64_t da = wg_desc(sA, 128, 1024, SW_NONE), db = wg_desc(sB, 1024, 128, SW_NONE);
        for (int kk = 0; kk < 4; kk++) wg_ss<64, 0, 1>(d, wg_at(da, kk * 256), wg_at(db, kk * 2048), 1);
    } else if (variant == 2) {
        const uint64_t da = wg_desc(sA, 1024, 128, SW_NONE), db = wg_desc(sB, 1024, 128, SW_NONE);
        for (int kk = 0; kk < 4; kk++) wg_ss<64, 1, 1>(d, wg_at(da, kk * 2048), wg_at(db, kk * 2048), 1);
    } else if (variant == 5) {
        const uint64_t da = wg_desc(sA, 16, 1024, SW_128), db = wg_desc(sB, 16, 1024, SW_128);
        for (int kk = 0; kk < 4; kk++) wg_ss<64, 0, 0>(d, wg_at(da, kk * 32), wg_at(db, kk * 32), 1);
    } else if (variant == 6) {
        const uint64_t da = wg_desc(sA, 8192, 1024, SW_128), db = wg_desc(sB, 8192, 1024, SW_128);
        for (int kk = 0; kk < 4; kk++) wg_ss<64, 1, 1>(d, wg_at(da, kk * 2048), wg_at(db, kk * 2048), 1);
    } else if (variant == 7) {
        const uint64_t da = wg_desc(sA, 16, 1024, SW_128), db = wg_desc(sB, 1024, 128, SW_NONE);
        for (int kk = 0; kk < 4; kk++) wg_ss<64, 0, 1>(d, wg_at(da, kk * 32), wg_at(db, kk * 2048), 1);
    } else if (variant == 10) {
        const uint64_t da = wg_desc(sA, 8192, 1024, SW_128), db = wg_desc(sB, 4096, 512, SW_64);
        for (int kk = 0; kk < 4; kk++) wg_ss<32, 1, 1>(d16, wg_at(da, kk * 2048), wg_at(db, kk * 1024), 1);
    } else { /* 3, 8, 9: A from registers */
        const uint64_t db = variant == 3 ? wg_desc(sB, 1024, 128, SW_NONE)
                            : variant == 8 ? wg_desc(sB, 4096, 512, SW_64)
                                           : wg_desc(sB, 8192, 1024, SW_128);
        const uint32_t kstep = variant == 8 ? 1024 : 2048;
        const int r = wq * 16 + g;
        for (int kk = 0; kk < 4; kk++) {
            const int c = kk * 16 + 2 * t4;
            uint32_t a[4];
            a[0] = *reinterpret_cast<const uint32_t *>(A + r * 64 + c);
            a[1] = *reinterpret_cast<const uint32_t *>(A + (r + 8) * 64 + c);
            a[2] = *reinterpret_cast<const uint32_t *>(A + r * 64 + c + 8);
            a[3] = *reinterpret_cast<const uint32_t *>(A + (r + 8) * 64 + c + 8);
            wg_fence();
            if (variant == 8) wg_rs<32, 1>(d16, a, wg_at(db, kk * kstep), 1);
            else wg_rs<64, 1>(d, a, wg_at(db, kk * kstep), 1);
        }
    }
    wg_commit();
    wg_wait<0>();
    wg_pin(d);
    if (variant == 4) {
        wg_store_frag<64>(d, sD, wq, lane);
        __syncthreads();
        for (int i = tid; i < 64 * 64; i += 128)
            D[i] = __bfloat162float(*reinterpret_cast<const bf16 *>(sm + 16384 + core(i >> 6, i & 63)));
        return;
    }
    for (int i = tid; i < 64 * 64; i += 128) D[i] = 0.0f;
    __syncthreads();
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int e = 0; e < 4; e++)
            if (!n32 || j < 4)
                D[(wq * 16 + g + (e >> 1) * 8) * 64 + 8 * j + 2 * t4 + (e & 1)] = d[4 * j + e];
#endif
}

/* ==================================================================================== */
/* the decode step                                                                      */

/* Block: STEP_COLS columns of one (b, h), STEP_COLS / 4 lanes x float4 per row, STEP_RG row
 * groups, each thread UNR rows in flight (the first UNR asked for before the wait). Two shapes
 * (retention_cuda_step picks), both 64 columns: 32 row groups with plain accesses and 8 rows
 * for large states (dev/cuda/step_lab.cu, which times this kernel in other shapes, on the
 * H200: 4.04 / 4.18 TB/s at B = 64 / 256, against 3.94 / 4.01 for 16 hinted; copy_bw.cu's
 * in-place ceiling is 4.0-4.27), 16 with streaming hints (__ldcs / __stcs) and 16 rows for
 * small ones, where the step is latency: all of dk = 256 then streams while the products
 * before finish (1.3B decoding at B = 2 1.293 -> 1.253 ms, B = 1 1.127 -> 1.112; next70.sh). */
constexpr int STEP_UNROLL = 8;

template <bool HINT> __device__ __forceinline__ float4 step_ld(const float *p) {
    return HINT ? __ldcs(reinterpret_cast<const float4 *>(p)) : *reinterpret_cast<const float4 *>(p);
}
template <bool HINT> __device__ __forceinline__ void step_st(float *p, float4 v) {
    if (HINT) __stcs(reinterpret_cast<float4 *>(p), v);
    else *reinterpret_cast<float4 *>(p) = v;
}

/* HN (step_hn_kernel): the multi-scale retention block's head norm and gate on the step's
 * output, as norm.cu's norm_fwd_kernel forms them (cuda_op_head_norm_gate_bf16: the same
 * statistics, E[x] and E[x^2] in double, then the same float operations), so that the
 * products after need no launch of their own for it. A head's dv columns lie in the
 * dv / STEP_COLS blocks of one thread block cluster (at most 8); each block sums its columns
 * and reads the others' sums from their shared memory in rank order (the same sums in every
 * block). y (B, H, dv) bf16. The 1.3B fla shape at B = 1: 1.110 -> 1.089 ms a step
 * (dev/cuda/runs/next134.sh); the same epilogue in the window's step lost 7-11% at B = 4-8
 * (next135: clusters of 8 among two blocks an SM wait for their slowest block). */
/* hw, hb, hg (64 columns), 4 double2, and (PUSH) 8 double2: the cluster's blocks' sums */
constexpr int STEP_HN_FLOATS = 3 * 64 + 16 + 32;

/* PUSH: each block writes its sums into slot [its rank] of every block's shared memory and
 * one cluster barrier follows (its arrive's release orders the writes), where the pull form
 * needs two (the sums written; then read, before any block may leave). A block's memory may
 * be written only once it runs: the kernel arrives at the cluster's barrier at its start
 * (early, below) and waits here before writing, or (Z) Z's own arrive and wait did that. */
template <int COLS, bool PUSH = false, bool EARLY = false>
__device__ __forceinline__ void step_head_norm(const float *x, const float *hw, const float *hb,
                                               const float *hg, double2 *hs,
                                               const retention_cuda_head_norm &hn, int dv,
                                               int64_t row) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    static_assert(COLS == 64, "two warps hold a block's columns");
    namespace cg = cooperative_groups;
    cg::cluster_group cl = cg::this_cluster();
    const int tid = threadIdx.x, lane = tid & 31;
    const int c = blockIdx.x * COLS + tid;
    const bool live = tid < COLS && c < dv;
    const float xv = live ? x[tid] : 0.0f;
    double s1 = xv, s2 = (double)xv * xv;
#pragma unroll
    for (int off = 16; off; off >>= 1)
        s1 += __shfl_xor_sync(0xffffffffu, s1, off), s2 += __shfl_xor_sync(0xffffffffu, s2, off);
    if (tid < COLS && lane == 0) hs[tid >> 5] = make_double2(s1, s2);
    __syncthreads();
    double m1, m2;
    if constexpr (PUSH) {
        double2 *slots = hs + 4; /* [rank] */
        if (EARLY) cluster_wait(); /* every block of the cluster runs */
        const unsigned nb = cl.num_blocks();
        if (tid < (int)nb)
            *cl.map_shared_rank(slots + cl.block_rank(), tid) =
                make_double2(hs[0].x + hs[1].x, hs[0].y + hs[1].y);
        cluster_arrive();
        cluster_wait(); /* every block's sums here */
        double a = 0, q = 0;
        for (unsigned r = 0; r < nb; r++) a += slots[r].x, q += slots[r].y;
        m1 = a, m2 = q;
    } else {
        if (tid == 0) hs[2] = make_double2(hs[0].x + hs[1].x, hs[0].y + hs[1].y);
        cl.sync(); /* every block's sums written */
        if (tid == 0) {
            double a = 0, q = 0;
            for (unsigned r = 0; r < cl.num_blocks(); r++) {
                const double2 p = *cl.map_shared_rank(hs + 2, r);
                a += p.x, q += p.y;
            }
            hs[3] = make_double2(a, q);
        }
        cl.sync(); /* every block's sums read: none leaves while another reads its memory */
        m1 = hs[3].x, m2 = hs[3].y;
    }
    if (!live) return;
    const double rn = 1.0 / dv;
    float mu = 0.0f, r = 1.0f;
    if (hn.mode != 2) {
        double mean = 0, var;
        if (hn.mode == 1) mean = m1 * rn, var = fmax(m2 * rn - mean * mean, 0.0);
        else var = m2 * rn;
        r = (float)(1.0 / sqrt(var + hn.eps)), mu = (float)mean;
    }
    float v = (xv - mu) * r;
    if (hn.w) v *= hw[tid];
    if (hn.b) v += hb[tid];
    if (hn.g) {
        const float zg = hg[tid];
        v *= zg / (1.0f + expf(-zg));
    }
    ((bf16 *)hn.y)[row + c] = __float2bfloat16_rn(v);
#endif
}

/* Z: RETNET.md §3's key sums as well (step_rows_kernel): z (B, H, dk) = gamma z + k, r = q . z
 * and o scaled by the row factor f, the operations of retention_norm.cu's z_step_kernel (the
 * same z; r up to its sum's order), whose launch a step then does without. z's row is copied
 * into shared memory before the wait and the sums come after the state's rows, so the
 * state's registers are as without it. Every block of a head reads the old z and block 0
 * writes the new one in place, so a head's blocks form a thread block cluster and block 0
 * writes only after every block has arrived with its copy (a split cluster barrier: arrive
 * before the state's rows, wait after them). Without it a block that started after block 0
 * had written read the new z: at 16 sequences (1024 blocks) o was off by 4% of its largest
 * value, now and then (test_step_rows, dev/cuda/runs/next141.sh). */
template <int STEP_COLS, int STEP_RG, bool HINT, int UNR, bool Z, bool HN = false,
          bool PUSH = false>
__device__ __forceinline__ void step_body(int H, int dk, int dv, const bf16 *q, const bf16 *k,
                                          const bf16 *v, const float *gamma, float scale,
                                          float *S, void *o, int o_f32, float *z,
                                          const double *g64, const int64_t *pos,
                                          const retention_cuda_head_norm &hn) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    float *qs = reinterpret_cast<float *>(smem_raw), *ks = qs + dk;
    float *red = ks + dk; /* [STEP_RG][STEP_COLS] */
    /* HN: the block's columns of the norm's weight, bias and the gate, then 4 double2 (two
     * warps' sums, the block's, the head's) and 8 (PUSH: a slot for each block's sums) */
    float *hw = red + STEP_RG * STEP_COLS, *hb = hw + STEP_COLS, *hg = hb + STEP_COLS;
    double2 *hs = reinterpret_cast<double2 *>(hg + STEP_COLS);
    /* Z: z's row (dk), the warps' sums, s and f */
    float *zsm = red + STEP_RG * STEP_COLS + (HN ? STEP_HN_FLOATS : 0);
    double *zred = reinterpret_cast<double *>(zsm + dk), *zsf = zred + 32;
    const int tid = threadIdx.x, c4 = tid % (STEP_COLS / 4), rg = tid / (STEP_COLS / 4);
    const int h = blockIdx.y, b = blockIdx.z, col = blockIdx.x * STEP_COLS + c4 * 4;
    const int64_t bh = (int64_t)b * H + h;
    float *Sb = S + bh * dk * dv + col;
    /* the state's first rows are read before waiting for q, k, v: under programmatic launch
     * (retention_cuda_step_overlap) they stream while the products before finish */
    float4 s[UNR];
    pdl_trigger();
    if constexpr (HN && PUSH && !Z) cluster_arrive(); /* step_head_norm's: the blocks run */
    if (col < dv) {
#pragma unroll
        for (int u = 0; u < UNR; u++) {
            const int i = rg + u * STEP_RG;
            if (i < dk) s[u] = step_ld<HINT>(Sb + (int64_t)i * dv);
        }
    }
    const float gam = gamma[h]; /* a parameter: no kernel of the chain writes it */
    if constexpr (Z) {
        /* plain loads: the arrive's release orders them before block 0's rewrite */
        for (int i4 = tid; i4 < dk / 4; i4 += blockDim.x)
            *reinterpret_cast<float4 *>(zsm + 4 * i4) =
                *reinterpret_cast<const float4 *>(z + bh * dk + 4 * i4);
        if (tid == 0) zsf[0] = model_decay_row_scale(g64[h], pos[b]);
        cluster_arrive(); /* block 0 rewrites z only after every block's copy */
    }
    /* HN: the parameters' columns before the wait, the gate's (the products' output) after it;
     * the grid's columns are whole 16-byte chunks (dv % STEP_COLS == 0: the host's rule) */
    if constexpr (HN) {
        const int64_t hpo = (hn.mode == 1 ? (int64_t)h * dv : 0) + blockIdx.x * STEP_COLS;
        if (tid < STEP_COLS / 4) {
            if (hn.w) cp_async16(smem_u32(hw + 4 * tid), hn.w + hpo + 4 * tid, 16);
            if (hn.b) cp_async16(smem_u32(hb + 4 * tid), hn.b + hpo + 4 * tid, 16);
        }
        cp_async_commit();
    }
    pdl_wait();
    if constexpr (HN) {
        if (hn.g && tid < STEP_COLS / 4)
            cp_async16(smem_u32(hg + 4 * tid), hn.g + bh * dv + blockIdx.x * STEP_COLS + 4 * tid,
                       16);
        cp_async_commit();
    }
    /* v's load is issued before q and k are staged, so the two round trips overlap */
    const uint2 vraw = col < dv ? *reinterpret_cast<const uint2 *>(v + bh * dv + col) : uint2{0, 0};
    for (int i = tid; i < dk; i += blockDim.x) {
        qs[i] = __bfloat162float(q[bh * dk + i]);
        ks[i] = __bfloat162float(k[bh * dk + i]);
    }
    __syncthreads();
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    if (col < dv) {
        const float2 v01 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&vraw.x));
        const float2 v23 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&vraw.y));
        for (int i0 = rg; i0 < dk; i0 += STEP_RG * UNR) {
#pragma unroll
            for (int u = 0; u < UNR; u++) {
                const int i = i0 + u * STEP_RG;
                if (i0 != rg && i < dk)
                    s[u] = step_ld<HINT>(Sb + (int64_t)i * dv);
            }
#pragma unroll
            for (int u = 0; u < UNR; u++) {
                const int i = i0 + u * STEP_RG;
                if (i < dk) {
                    const float kk = ks[i], qq = qs[i];
                    s[u].x = gam * s[u].x + kk * v01.x;
                    s[u].y = gam * s[u].y + kk * v01.y;
                    s[u].z = gam * s[u].z + kk * v23.x;
                    s[u].w = gam * s[u].w + kk * v23.y;
                    step_st<HINT>(Sb + (int64_t)i * dv, s[u]);
                    acc.x += qq * s[u].x, acc.y += qq * s[u].y;
                    acc.z += qq * s[u].z, acc.w += qq * s[u].w;
                }
            }
        }
    }
    *reinterpret_cast<float4 *>(red + rg * STEP_COLS + c4 * 4) = acc;
    if constexpr (HN) cp_async_wait<0>();
    __syncthreads();
    float f = 1.0f;
    if constexpr (Z) {
        cluster_wait();
        const float g = (float)g64[h];
        double za = 0;
        for (int i = tid; i < dk; i += blockDim.x) {
            const float zi = g * zsm[i] + ks[i];
            if (blockIdx.x == 0) z[bh * dk + i] = zi;
            za += (double)(qs[i] * zi);
        }
#pragma unroll
        for (int off = 16; off; off >>= 1) za += __shfl_xor_sync(0xffffffffu, za, off);
        if ((tid & 31) == 0) zred[tid >> 5] = za;
        __syncthreads();
        if (tid == 0) {
            double r = 0;
            for (int w = 0; w < (int)(blockDim.x / 32); w++) r += zred[w];
            zsf[1] = model_row_factor_at(zsf[0], (float)r);
        }
        __syncthreads();
        f = (float)zsf[1];
    }
    /* a column a thread (once, where the block has at least as many threads as columns) */
    for (int t = tid; t < STEP_COLS; t += STEP_COLS / 4 * STEP_RG) {
        const int c = blockIdx.x * STEP_COLS + t;
        if (c < dv) {
            float sum = 0.0f;
            for (int r = 0; r < STEP_RG; r++) sum += red[r * STEP_COLS + t];
            sum *= scale;
            if constexpr (Z) sum *= f; /* as z_step_kernel scales the stored o */
            if (o_f32)
                ((float *)o)[bh * dv + c] = sum;
            else
                ((bf16 *)o)[bh * dv + c] = __float2bfloat16_rn(sum);
            if constexpr (HN) red[t] = sum; /* row 0 of red: this thread's alone */
        }
    }
    if constexpr (HN) step_head_norm<STEP_COLS, PUSH, !Z>(red, hw, hb, hg, hs, hn, dv, bh * dv);
}

template <int STEP_COLS, int STEP_RG, bool HINT, int UNR = STEP_UNROLL>
__global__ void __launch_bounds__(STEP_COLS / 4 * STEP_RG)
    step_kernel(int H, int dk, int dv, const bf16 *q, const bf16 *k, const bf16 *v,
                const float *gamma, float scale, float *S, void *o, int o_f32) {
    step_body<STEP_COLS, STEP_RG, HINT, UNR, false>(H, dk, dv, q, k, v, gamma, scale, S, o,
                                                     o_f32, nullptr, nullptr, nullptr, {});
}

template <int STEP_COLS, int STEP_RG, bool HINT, int UNR = STEP_UNROLL>
__global__ void __launch_bounds__(STEP_COLS / 4 * STEP_RG)
    step_rows_kernel(int H, int dk, int dv, const bf16 *q, const bf16 *k, const bf16 *v,
                     const float *gamma, float scale, float *S, void *o, int o_f32, float *z,
                     const double *g64, const int64_t *pos) {
    step_body<STEP_COLS, STEP_RG, HINT, UNR, true>(H, dk, dv, q, k, v, gamma, scale, S, o, o_f32,
                                                    z, g64, pos, {});
}

/* the step, [§3's key sums,] and the head norm and gate (a cluster of a head's blocks) */
template <int STEP_COLS, int STEP_RG, bool HINT, int UNR, bool Z, bool PUSH = false>
__global__ void __launch_bounds__(STEP_COLS / 4 * STEP_RG)
    step_hn_kernel(int H, int dk, int dv, const bf16 *q, const bf16 *k, const bf16 *v,
                   const float *gamma, float scale, float *S, void *o, float *z,
                   const double *g64, const int64_t *pos, retention_cuda_head_norm hn) {
    step_body<STEP_COLS, STEP_RG, HINT, UNR, Z, true, PUSH>(H, dk, dv, q, k, v, gamma, scale, S,
                                                             o, 1, z, g64, pos, hn);
}

/* ==================================================================================== */
/* the decode step with a window (retention_cuda_step_window)                           */

/* Shared memory of the window kernels: q (dk), the window's keys ((W + 1) dk: the old
 * tokens, then this step's), their values at the block's columns ((W + 1) COLS), the
 * scores' coefficients and gamma's powers (WP each), the row groups' partial sums. */
__host__ __device__ constexpr int window_wp(int W) { return (W + 4) & ~3; }
static size_t window_smem(int dk, int W, int cols, int rg) {
    return sizeof(float) * ((size_t)(W + 2) * dk + (size_t)(W + 1) * cols + 2 * window_wp(W) +
                            (size_t)rg * cols);
}

/* gamma^j, j = 0..W, as double products rounded once: the eager step's W multiplications by
 * gamma in fp32 would round W times */
__device__ __forceinline__ void window_powers(float *gp, float gam, int W) {
    for (int j = threadIdx.x; j <= W; j += blockDim.x) {
        double p = 1.0;
        for (int i = 0; i < j; i++) p *= (double)gam;
        gp[j] = (float)p;
    }
}

/* Loads into shared memory, widened: with `old`, the wl window tokens before token m (slots
 * (m - wl + j) % (W + 1)): every key into kws, the block's COLS columns of each value into
 * vws; with `now`, this step's q into qs, its k and v as window token wl (and into their slot
 * m % (W + 1) of the ring: no block of the launch reads that slot, the window's wl <= W
 * tokens hold the others). 16-byte loads, up to WL_U a thread in flight before any is stored
 * (one scalar load and its store at a time made every block a chain of round trips: the 1.3B
 * step at B = 256 23.8 ms against 14.3 without the window, next77.sh). */
constexpr int WL_U = 2;
template <int COLS>
__device__ __forceinline__ void window_load(float *qs, float *kws, float *vws, bf16 *kw, bf16 *vw,
                                            const bf16 *q, const bf16 *k, const bf16 *v,
                                            int64_t b, int h, int H, int dk, int dv, int m,
                                            int wl, int W, bool old, bool now) {
    const int nthr = blockDim.x, slots = W + 1, k8 = dk / 8, c8 = COLS / 8;
    const int nk = old ? wl * k8 : 0, nv = old ? wl * c8 : 0;
    const int total = nk + nv + (now ? 2 * k8 + c8 : 0);
    const int64_t bh = b * H + h, cur = b * slots + m % slots;
    /* offsets from qs (the kernels' shared memory starts with q, keys, values) */
    const int koff = (int)(kws - qs), voff = (int)(vws - qs);
    for (int e0 = threadIdx.x; e0 < total; e0 += WL_U * nthr) {
        uint4 r[WL_U];
        int dst[WL_U];  /* float offset from qs, or -1 */
        bf16 *put[WL_U]; /* this token's k or v: its ring slot, or NULL */
#pragma unroll
        for (int u = 0; u < WL_U; u++) {
            const int e = e0 + u * nthr;
            r[u] = make_uint4(0, 0, 0, 0), dst[u] = -1, put[u] = NULL;
            if (e >= total) continue;
            const bf16 *src = NULL;
            if (e < nk) { /* an old key */
                const int j = e / k8, i = (e - j * k8) * 8;
                src = kw + ((b * slots + (m - wl + j) % slots) * H + h) * dk + i;
                dst[u] = koff + j * dk + i;
            } else if (e < nk + nv) { /* an old value's columns */
                const int f = e - nk, j = f / c8, c = (f - j * c8) * 8;
                const int cc = blockIdx.x * COLS + c;
                if (cc < dv) /* dv % 8 == 0: a chunk is all in or all out */
                    src = vw + ((b * slots + (m - wl + j) % slots) * H + h) * dv + cc;
                dst[u] = voff + j * COLS + c;
            } else {
                const int f = e - nk - nv;
                if (f < k8) { /* q */
                    src = q + bh * dk + 8 * f, dst[u] = 8 * f;
                } else if (f < 2 * k8) { /* k */
                    const int i = 8 * (f - k8);
                    src = k + bh * dk + i, dst[u] = koff + wl * dk + i;
                    if (blockIdx.x == 0) put[u] = kw + (cur * H + h) * dk + i;
                } else { /* v's columns */
                    const int c = 8 * (f - 2 * k8), cc = blockIdx.x * COLS + c;
                    if (cc < dv) src = v + bh * dv + cc, put[u] = vw + (cur * H + h) * dv + cc;
                    dst[u] = voff + wl * COLS + c;
                }
            }
            if (src) r[u] = *reinterpret_cast<const uint4 *>(src);
        }
#pragma unroll
        for (int u = 0; u < WL_U; u++)
            if (dst[u] >= 0) {
                const __nv_bfloat162 *p = reinterpret_cast<const __nv_bfloat162 *>(&r[u]);
                const float2 a = __bfloat1622float2(p[0]), bb = __bfloat1622float2(p[1]);
                const float2 c = __bfloat1622float2(p[2]), d = __bfloat1622float2(p[3]);
                reinterpret_cast<float4 *>(qs + dst[u])[0] = make_float4(a.x, a.y, bb.x, bb.y);
                reinterpret_cast<float4 *>(qs + dst[u])[1] = make_float4(c.x, c.y, d.x, d.y);
                if (put[u]) *reinterpret_cast<uint4 *>(put[u]) = r[u];
            }
    }
}

/* Rows i0 .. i0 + 2 UNR - 1 of lane c4's 4 columns (a: the first UNR, b: the next UNR) with
 * the window's wl tokens folded in (the step's fold and the flush's, one order of operations
 * for every element, so the same bits): S = gamma^wl S + sum_j gamma^(wl-1-j) k_j^T v_j.
 * Each token's values are read from shared memory once for the 2 UNR rows and its keys for
 * them as float4s (i0 is a multiple of 4, dk of 8). Rows past dk are computed on whatever the
 * registers hold and never stored. */
template <int COLS, int UNR>
__device__ __forceinline__ void window_fold_rows(float4 (&a)[UNR], float4 (&b)[UNR],
                                                 const float *gp, const float *kws,
                                                 const float *vws, int wl, int dk, int i0,
                                                 int c4) {
    constexpr int N = 2 * UNR;
    static_assert(N % 4 == 0, "keys are read as float4s");
    const float g = gp[wl];
#pragma unroll
    for (int u = 0; u < UNR; u++) {
        a[u].x *= g, a[u].y *= g, a[u].z *= g, a[u].w *= g;
        b[u].x *= g, b[u].y *= g, b[u].z *= g, b[u].w *= g;
    }
    const bool whole = i0 + N <= dk;
    for (int j = 0; j < wl; j++) {
        const float4 vv = *reinterpret_cast<const float4 *>(vws + j * COLS + c4 * 4);
        const float gj = gp[wl - 1 - j], *kp = kws + j * dk + i0;
        float kr[N];
        if (whole) {
#pragma unroll
            for (int w = 0; w < N / 4; w++) {
                const float4 k4 = reinterpret_cast<const float4 *>(kp)[w];
                kr[4 * w] = k4.x, kr[4 * w + 1] = k4.y, kr[4 * w + 2] = k4.z, kr[4 * w + 3] = k4.w;
            }
        } else {
#pragma unroll
            for (int u = 0; u < N; u++) kr[u] = i0 + u < dk ? kp[u] : 0.0f;
        }
#pragma unroll
        for (int u = 0; u < UNR; u++) {
            const float ka = gj * kr[u], kb = gj * kr[UNR + u];
            a[u].x = fmaf(ka, vv.x, a[u].x), a[u].y = fmaf(ka, vv.y, a[u].y);
            a[u].z = fmaf(ka, vv.z, a[u].z), a[u].w = fmaf(ka, vv.w, a[u].w);
            b[u].x = fmaf(kb, vv.x, b[u].x), b[u].y = fmaf(kb, vv.y, b[u].y);
            b[u].z = fmaf(kb, vv.z, b[u].z), b[u].w = fmaf(kb, vv.w, b[u].w);
        }
    }
}

/* Block: COLS columns of one (b, h), RG row groups, each thread 2 UNR rows in flight in two
 * register sets (the next set asked for while one is summed; both before the wait). The state
 * is read; written only on the steps that fold. Two shapes (retention_cuda_step_window picks):
 *  - small states, where the step is latency (PRE): 64 columns, 16 row groups, 8 rows a set,
 *    streaming hints: at dk <= 256 every row, and the window's old tokens, asked for before
 *    the wait, as step_kernel's small shape; 128 or 256 columns (8 or 4 row groups: WIDE)
 *    where 64 would take more than a wave, each block's first rows before the wait;
 *  - large states (from 1 GB a layer: B = 256 at the 1.3B model), where the state streams:
 *    512 threads, as many columns as still give two blocks an SM, 2 rows a set (4 in
 *    the 128- and 64-column shapes): one window load and one set of scores a (b, h)
 *    instead of 8, 2 KB runs of a row, 4 row groups to sum. Read-only, B = 256 254.6 us a
 *    layer against 403.8 for the first kernel
 *    (64 columns, 32 row groups, 8 rows in one set: 4.22 TB/s against 2.66, a plain read
 *    4.5; dev/cuda/window_lab2.cu, next85.sh).
 * A thread's rows come 2 UNR in a row, so that the fold (window_fold_rows) folds both sets
 * at once, each window token's values read from shared memory once for them and its keys as
 * float4s (the fold was ~3x a read-only step, reading the values once a row: B = 256 1202 ->
 * 644 us with a set's rows, 598 with both; dev/cuda/runs/next91.sh). */
template <int COLS, int RG, int UNR, bool PRE, bool HINT, bool WIDE = false>
__global__ void __launch_bounds__(COLS / 4 * RG, 2)
    step_window_kernel(int H, int dk, int dv, const bf16 *q, const bf16 *k, const bf16 *v,
                       const float *gamma, float scale, float *S, bf16 *kw, bf16 *vw,
                       const int *mw, int W, int phase, void *o, int o_f32) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    const int WP = window_wp(W);
    float *qs = reinterpret_cast<float *>(smem_raw), *kws = qs + dk;
    float *vws = kws + (W + 1) * dk, *coef = vws + (W + 1) * COLS, *gp = coef + WP;
    constexpr int NT = COLS / 4 * RG, STEP = RG * UNR;
    /* [RG][COLS]; WIDE: on the keys once they are read (the host checks they are as large),
     * so that the wider blocks' shared memory grows by their values' columns alone */
    float *red = WIDE ? kws : gp + WP;
    const int tid = threadIdx.x, c4 = tid % (COLS / 4), rg = tid / (COLS / 4);
    const int h = blockIdx.y, b = blockIdx.z, col = blockIdx.x * COLS + c4 * 4;
    const int64_t bh = (int64_t)b * H + h;
    float *Sb = S + bh * dk * dv + col;
    const bool in = col < dv;
    /* a thread's rows: 2 UNR in a row from r0 in each block of 2 STEP rows, the first UNR in
     * s, the next in t */
    const int r0 = rg * 2 * UNR;
    float4 s[UNR], t[UNR];
    auto ld = [&](float4(&r)[UNR], int i0) {
#pragma unroll
        for (int u = 0; u < UNR; u++)
            if (in && i0 + u < dk) r[u] = step_ld<HINT>(Sb + (int64_t)(i0 + u) * dv);
    };
    pdl_trigger();
    /* before the wait: the state's first rows, gamma's powers and (PRE) the window's old
     * tokens, none of which a kernel of this step writes */
    const int m = mw[b], wl = retention_window_len(m, phase, W);
    const bool fold = m > 0 && (m + phase) % W == 0;
    ld(s, r0);
    ld(t, r0 + UNR);
    window_powers(gp, gamma[h], W);
    if (PRE) window_load<COLS>(qs, kws, vws, kw, vw, q, k, v, b, h, H, dk, dv, m, wl, W, true, false);
    pdl_wait();
    window_load<COLS>(qs, kws, vws, kw, vw, q, k, v, b, h, H, dk, dv, m, wl, W, !PRE, true);
    __syncthreads();
    /* the scores of the tokens o sums outside the state: after a fold only this one */
    const int j0 = fold ? wl : 0, lane = tid & 31;
    for (int j = j0 + (tid >> 5); j <= wl; j += NT / 32) {
        float d = 0.0f;
        for (int i = lane; i < dk; i += 32) d = fmaf(qs[i], kws[j * dk + i], d);
#pragma unroll
        for (int off = 16; off; off >>= 1) d += __shfl_xor_sync(0xffffffffu, d, off);
        if (lane == 0) coef[j] = gp[wl - j] * d;
    }
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    auto sum = [&](float4(&r)[UNR], int i0) {
#pragma unroll
        for (int u = 0; u < UNR; u++)
            if (i0 + u < dk) {
                const float qq = qs[i0 + u];
                acc.x += qq * r[u].x, acc.y += qq * r[u].y, acc.z += qq * r[u].z, acc.w += qq * r[u].w;
            }
    };
    auto st = [&](float4(&r)[UNR], int i0) {
#pragma unroll
        for (int u = 0; u < UNR; u++)
            if (in && i0 + u < dk) step_st<HINT>(Sb + (int64_t)(i0 + u) * dv, r[u]);
    };
    for (int p = 0; p < dk; p += 2 * STEP) {
        const int i0 = p + r0, next = p + 2 * STEP < dk;
        if (fold) { /* both sets folded at once: each token's values read once for 2 UNR rows */
            window_fold_rows<COLS, UNR>(s, t, gp, kws, vws, wl, dk, i0, c4);
            st(s, i0), st(t, i0 + UNR);
            sum(s, i0), sum(t, i0 + UNR);
            if (next) ld(s, i0 + 2 * STEP), ld(t, i0 + 2 * STEP + UNR);
        } else { /* the next set asked for while the other is summed */
            sum(s, i0);
            if (next) ld(s, i0 + 2 * STEP);
            sum(t, i0 + UNR);
            if (next) ld(t, i0 + 2 * STEP + UNR);
        }
    }
    if (WIDE) __syncthreads(); /* every thread's scores and fold done with the keys */
    if (in) *reinterpret_cast<float4 *>(red + rg * COLS + c4 * 4) = acc;
    __syncthreads();
    for (int tt = tid; tt < COLS; tt += NT) {
        const int c = blockIdx.x * COLS + tt;
        if (c < dv) {
            float sum = 0.0f;
            for (int r = 0; r < RG; r++) sum += red[r * COLS + tt];
            sum *= gp[wl + 1 - j0];
            for (int j = j0; j <= wl; j++) sum = fmaf(coef[j], vws[j * COLS + tt], sum);
            sum *= scale;
            if (o_f32)
                ((float *)o)[bh * dv + c] = sum;
            else
                ((bf16 *)o)[bh * dv + c] = __float2bfloat16_rn(sum);
        }
    }
}

/* The whole window folded into the state (the step's fold with no token of its own). */
template <int COLS, int RG>
__global__ void __launch_bounds__(COLS / 4 * RG)
    window_flush_kernel(int H, int dk, int dv, const float *gamma, float *S, const bf16 *kw,
                        const bf16 *vw, const int *mw, int W, int phase) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    const int WP = window_wp(W);
    float *kws = reinterpret_cast<float *>(smem_raw) + dk;
    float *vws = kws + (W + 1) * dk, *gp = vws + (W + 1) * COLS + WP;
    const int tid = threadIdx.x, c4 = tid % (COLS / 4), rg = tid / (COLS / 4);
    const int h = blockIdx.y, b = blockIdx.z, col = blockIdx.x * COLS + c4 * 4;
    const int m = mw[b], wl = retention_window_len(m, phase, W);
    if (wl == 0) return; /* the same in every thread of the block */
    window_powers(gp, gamma[h], W);
    window_load<COLS>(kws - dk, kws, vws, (bf16 *)kw, (bf16 *)vw, NULL, NULL, NULL, b, h, H, dk,
                      dv, m, wl, W, true, false);
    __syncthreads();
    if (col >= dv) return;
    float *Sb = S + ((int64_t)b * H + h) * dk * dv + col;
    constexpr int UNR = 2; /* 4 rows in a row a thread */
    for (int i0 = rg * 2 * UNR; i0 < dk; i0 += RG * 2 * UNR) {
        float4 r[2][UNR];
#pragma unroll
        for (int u = 0; u < 2 * UNR; u++)
            if (i0 + u < dk) r[u / UNR][u % UNR] = *reinterpret_cast<const float4 *>(Sb + (int64_t)(i0 + u) * dv);
        window_fold_rows<COLS, UNR>(r[0], r[1], gp, kws, vws, wl, dk, i0, c4);
#pragma unroll
        for (int u = 0; u < 2 * UNR; u++)
            if (i0 + u < dk) *reinterpret_cast<float4 *>(Sb + (int64_t)(i0 + u) * dv) = r[u / UNR][u % UNR];
    }
}

/* m += 1 (kept below 2^30 by whole periods W (W + 1) of both residues), or 0 */
__global__ void window_advance_kernel(int B, int *m, int reset, int W) {
    pdl_trigger();
    pdl_wait(); /* the step's kernels before have read m */
    const int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= B) return;
    if (reset) {
        m[b] = 0;
        return;
    }
    const int period = W * (W + 1);
    int n = m[b] + 1;
    if (n >= (1 << 30)) n -= ((n - W) / period) * period; /* >= W: past every first fold */
    m[b] = n;
}

/* ==================================================================================== */
/* host side                                                                            */

static int g_lab_vt = 0, g_lab_flags = 0, g_lab_path = 0, g_lab_cluster = 0;
/* the window step's forced shape (0: automatic; -1: RETNET_CUDA_WINDOW_SHAPE not read yet) */
static int g_window_shape = -1;
extern "C" void retention_cuda_lab_window_shape(int shape) {
    g_window_shape = shape >= 1 && shape <= 8 ? shape : 0;
}
extern "C" void retention_cuda_lab_set_tile(int vt) { g_lab_vt = vt; }
extern "C" void retention_cuda_lab_set_flags(int flags) { g_lab_flags = flags; }
extern "C" void retention_cuda_lab_set_path(int path) { g_lab_path = path; }
extern "C" void retention_cuda_lab_set_cluster(int n) { g_lab_cluster = n; }
/* wg_kernel's trace (RET_WG_TRACE builds only): the first n blocks' slots into dst (n at
 * most RET_TRACE_MAXB; the blocks written); dst NULL: the slots a block (RET_TRACE_N). -1 in
 * other builds */
extern "C" int retention_cuda_lab_trace(unsigned long long *dst, int n) {
#ifdef RET_WG_TRACE
    if (!dst) return RET_TRACE_N;
    if (n > RET_TRACE_MAXB) n = RET_TRACE_MAXB;
    if (cudaMemcpyFromSymbol(dst, g_wg_trace, (size_t)n * RET_TRACE_N * 8) != cudaSuccess) return -1;
    return n;
#else
    (void)dst, (void)n;
    return -1;
#endif
}

static int sm_count(void) {
    static int n = 0;
    if (!n) {
        int dev = 0;
        if (cudaGetDevice(&dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
            n = 132;
    }
    return n;
}

template <int KC, int VT, int C> static int launch(const ChunkRun &r, cudaStream_t s) {
    using G = Cfg<KC, VT, C>;
    static bool attr = false; /* per instantiation */
    if (!attr) {
        CUDA_OK(cudaFuncSetAttribute(chunk_kernel<KC, VT, C>,
                                     cudaFuncAttributeMaxDynamicSharedMemorySize, (int)G::SMEM),
                "cudaFuncSetAttribute (chunk_kernel shared memory)");
        attr = true;
    }
    dim3 grid((r.Vo + VT - 1) / VT, r.H, r.B);
    chunk_kernel<KC, VT, C><<<grid, NTHREAD, G::SMEM, s>>>(r);
    CUDA_OK(cudaGetLastError(), "chunk_kernel launch");
    return 0;
}

/* The wgmma kernel runs where this file was built for sm_90a and the device is 9.0: the
 * other targets compile a stub with a launch bound of 32 threads (RET_WG_BOUNDS). */
static PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder(void);
static int wg_available(void) {
    static int ok = -1;
    if (ok < 0) {
        int dev = 0, major = 0, minor = 0;
        cudaFuncAttributes fa;
        ok = cudaGetDevice(&dev) == cudaSuccess &&
             cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
             cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess &&
             major == 9 && minor == 0 &&
             cudaFuncGetAttributes(&fa, wg_kernel<64, 64, 2, 0>) == cudaSuccess &&
             tensor_map_encoder() != nullptr &&
             fa.maxThreadsPerBlock >= NTHREAD;
        (void)cudaGetLastError();
    }
    return ok;
}
extern "C" int retention_cuda_lab_have_wgmma(void) { return wg_available(); }

/* cuTensorMapEncodeTiled, from the driver through the runtime (no link to libcuda) */
static PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder(void) {
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

/* TMA map of a time-major (B, T, H, D) bf16 (or fp32) tensor with element strides sb, st, sh:
 * dimensions (D, H, T, B) (innermost first), boxes of 64 rows of one head, `cols` columns,
 * swizzled by rows of 128 or 64 bytes; reads outside the tensor give zeros, writes outside it
 * are dropped */
static int tensor_map(TensorMap *m, const void *base, int64_t sb, int64_t st, int64_t sh, int D,
                      int H, int T, int B, int cols, int f32 = 0) {
    PFN_cuTensorMapEncodeTiled_v12000 enc = tensor_map_encoder();
    if (!enc) return fail("retention_cuda: cuTensorMapEncodeTiled is not available");
    const int es = f32 ? 4 : 2;
    cuuint64_t dims[4] = {(cuuint64_t)D, (cuuint64_t)H, (cuuint64_t)T, (cuuint64_t)B};
    cuuint64_t strides[3] = {(cuuint64_t)(sh * es), (cuuint64_t)(st * es), (cuuint64_t)(sb * es)};
    cuuint32_t box[4] = {(cuuint32_t)cols, 1, 64, 1}, ones[4] = {1, 1, 1, 1};
    const CUresult r = enc(reinterpret_cast<CUtensorMap *>(m),
                           f32 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT32 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4,
                           const_cast<void *>(base), dims, strides, box, ones,
                           CU_TENSOR_MAP_INTERLEAVE_NONE,
                           cols * es == 128 ? CU_TENSOR_MAP_SWIZZLE_128B : CU_TENSOR_MAP_SWIZZLE_64B,
                           CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS)
        return fail("retention_cuda: cuTensorMapEncodeTiled failed (%d; D %d H %d T %d B %d)",
                    (int)r, D, H, T, B);
    return 0;
}

/* How the wgmma kernels write O (their `ost`): by TMA from a staged tile (1; 2 adds: fp32, or
 * bf16 for a split's second half), or from the registers where TMA cannot (a caller's bf16
 * sum, which the registers round once; an unaligned o) or the lab asks (16).
 * The map of o when TMA writes. */
template <int VT> static void o_store(const ChunkRun &r, TensorMap *m, int *ost) {
    *ost = 0;
    if (!r.o || (r.lab & 16) || ((uintptr_t)r.o & 15) || (r.o_acc && !r.o_f32 && !r.split2))
        return;
    const int bc = r.o_f32 ? OStage<VT, 1>::BC : OStage<VT, 0>::BC;
    if (tensor_map(m, r.o, r.so_b, r.so_t, r.so_h, r.Vo, r.H, r.T, r.B, bc, r.o_f32) == 0)
        *ost = r.o_acc ? 2 : 1;
    else
        g_msg[0] = 0; /* not an error: the register stores take any strides */
}
template <int KC, int VT, int NB, int RW> static int launch_wg_rw(const ChunkRun &r, cudaStream_t s) {
    using G = WCfg<KC, VT, NB, RW>;
    static_assert(sizeof(TensorMap) == sizeof(CUtensorMap), "tensor map size");
    static bool attr = false; /* per instantiation */
    if (!attr) {
        CUDA_OK(cudaFuncSetAttribute(wg_kernel<KC, VT, NB, RW>,
                                     cudaFuncAttributeMaxDynamicSharedMemorySize, (int)G::SMEM),
                "cudaFuncSetAttribute (wg_kernel shared memory)");
        attr = true;
    }
    TensorMap tq = {}, tk = {}, tv = {}, to = {};
    int ost = 0;
    if (r.T > 0 && (tensor_map(&tq, r.q, r.sq_b, r.sq_t, r.sq_h, r.Kc, r.H, r.T, r.B, 64) ||
                    tensor_map(&tk, r.k, r.sk_b, r.sk_t, r.sk_h, r.Kc, r.H, r.T, r.B, 64) ||
                    tensor_map(&tv, r.v, r.sv_b, r.sv_t, r.sv_h, r.Vo, r.H, r.T, r.B, VT)))
        return 1;
    /* lab: a cluster of the output tiles of one head (up to 8, a divisor of their number), Q
     * and K multicast. Measured slower (H200: H8 forward at T = 16k 1.66 against 0.85 ms; the
     * per-chunk cluster barrier, and clusters of 8 that do not all fit at once), so 1 by default */
    const int nx = (r.Vo + VT - 1) / VT;
    int cl = g_lab_cluster > 0 ? g_lab_cluster : 1; /* clusters measured slower: opt-in */
    while (cl > 1 && nx % cl) cl >>= 1;
    /* O by TMA, except under clusters: a peer's multicast into this block's Q buffer does not
     * wait for this block's store from it (O_IN_Q) */
    if (r.T > 0 && cl == 1) o_store<VT>(r, &to, &ost);
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(nx, r.H, r.B);
    cfg.blockDim = dim3(NTHREAD);
    cfg.dynamicSmemBytes = G::SMEM;
    cfg.stream = s;
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeClusterDimension;
    at[0].val.clusterDim.x = cl, at[0].val.clusterDim.y = 1, at[0].val.clusterDim.z = 1;
    cfg.attrs = at, cfg.numAttrs = 1;
    /* fp32 O staged in the Q buffer: the OQ kernel. Only without a cluster (ost is 0 with
     * one: a peer's multicast would refill the buffer under the store) and without the lab's
     * flag 1 (its loads stop, so thread 128 would not wait for the store before warpgroup 0
     * stages the chunk after next there) */
    if constexpr (G::O_IN_Q) {
        if (ost && r.o_f32 && cl == 1 && !(r.lab & 1)) {
            static bool attr_oq = false;
            if (!attr_oq) {
                CUDA_OK(cudaFuncSetAttribute(wg_kernel<KC, VT, NB, RW, true>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize, (int)G::SMEM),
                        "cudaFuncSetAttribute (wg_kernel shared memory)");
                attr_oq = true;
            }
            CUDA_OK(cudaLaunchKernelEx(&cfg, wg_kernel<KC, VT, NB, RW, true>, r, tq, tk, tv, to, cl, ost),
                    "wg_kernel launch");
            return 0;
        }
    }
    CUDA_OK(cudaLaunchKernelEx(&cfg, wg_kernel<KC, VT, NB, RW>, r, tq, tk, tv, to, cl, ost),
            "wg_kernel launch");
    return 0;
}
template <int KC, int VT, int NB> static int launch_wg(const ChunkRun &r, cudaStream_t s) {
    switch (r.rows) {
    case 0: return launch_wg_rw<KC, VT, NB, 0>(r, s);
    case 1: return launch_wg_rw<KC, VT, NB, 1>(r, s);
    case 2: return launch_wg_rw<KC, VT, NB, 2>(r, s);
    default:
        if constexpr (NB == 2) return launch_wg_rw<KC, VT, NB, 3>(r, s); /* KC <= 256 */
        else return fail("retention_cuda: the forward's row sums need dk <= 256");
    }
}

template <int KC, int VT, int NB> static int launch_wgc(const ChunkRun &r, cudaStream_t s) {
    using G = WCCfg<KC, VT, NB>;
    static bool attr = false; /* per instantiation */
    if (!attr) {
        CUDA_OK(cudaFuncSetAttribute(wgc_kernel<KC, VT, NB>,
                                     cudaFuncAttributeMaxDynamicSharedMemorySize, (int)G::SMEM),
                "cudaFuncSetAttribute (wgc_kernel shared memory)");
        attr = true;
    }
    TensorMap to = {};
    int ost = 0;
    if (G::OST && r.T > 0) o_store<VT>(r, &to, &ost);
    dim3 grid((r.Vo + VT - 1) / VT, r.H, r.B);
    wgc_kernel<KC, VT, NB><<<grid, NTHREAD, G::SMEM, s>>>(r, to, ost);
    CUDA_OK(cudaGetLastError(), "wgc_kernel launch");
    return 0;
}

extern "C" int retention_cuda_lab_wgmma_selftest(int variant, const void *a, const void *b,
                                                 float *d, void *stream) {
    if (!wg_available()) return fail("retention_cuda_lab_wgmma_selftest: no wgmma kernel here");
    wg_selftest_kernel<<<1, 128, 0, (cudaStream_t)stream>>>(variant, (const bf16 *)a,
                                                           (const bf16 *)b, d);
    CUDA_OK(cudaGetLastError(), "wg_selftest_kernel launch");
    return 0;
}

/* RETNET_CUDA_LAB_FLAGS: the lab's flags for a whole program */
static int env_lab_flags(void) {
    static int f = -1;
    if (f < 0) {
        const char *e = getenv("RETNET_CUDA_LAB_FLAGS");
        f = e ? atoi(e) : 0;
    }
    return f;
}

/* The backward's side stream and its fork / join events, made once per device (a process
 * drives one device at a time; retnet_cuda_init may move it to another). */
static int side_stream(cudaStream_t *s, cudaEvent_t *fork, cudaEvent_t *join) {
    enum { NDEV = 64 };
    static cudaStream_t ss[NDEV];
    static cudaEvent_t ef[NDEV], ej[NDEV];
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= NDEV) {
        (void)cudaGetLastError(); /* the caller runs the passes in turn: no error left behind */
        return 1;
    }
    if (!ss[dev]) {
        cudaEvent_t a = nullptr, b = nullptr;
        cudaStream_t c = nullptr;
        if (cudaEventCreateWithFlags(&a, cudaEventDisableTiming) != cudaSuccess ||
            cudaEventCreateWithFlags(&b, cudaEventDisableTiming) != cudaSuccess ||
            cudaStreamCreateWithFlags(&c, cudaStreamNonBlocking) != cudaSuccess) {
            if (a) cudaEventDestroy(a);
            if (b) cudaEventDestroy(b);
            (void)cudaGetLastError();
            return 1;
        }
        ef[dev] = a, ej[dev] = b, ss[dev] = c;
    }
    *s = ss[dev], *fork = ef[dev], *join = ej[dev];
    return 0;
}

/* The contraction width picks the instantiation (padded up); the tile width is 64 unless
 * that leaves SMs idle (32 doubles the blocks) or the state would not fit the registers.
 * Hopper (wgmma) first; mma.sync elsewhere, or when the lab asks (path 1). */
static int run_chunk(ChunkRun r, cudaStream_t s) {
    r.lab = g_lab_flags | env_lab_flags();
    /* A contraction wider than 256 (the backward's dq and dk passes when dv = 512) runs as
     * two passes over its halves, the second adding its O to the first's. (1) and (2) are sums
     * over the contraction index, and the state's rows are that index, so each half carries its
     * own rows of R and O = O_first + O_second. Each half then runs the KC = 256 kernel (two
     * Q/K buffers, 64-column tiles, no spills) instead of the KC = 512 one (one buffer,
     * 32-column tiles that each recompute Q K^T over 512 columns): 0.78x the executed products
     * and about half the bytes loaded per chunk. Only where the 64-column tiles fill the GPU:
     * with fewer blocks than SMs the halves' sequential launches cost twice the latency (H200:
     * H8 T = 16k B = 2, 3.2 -> 5.5 ms); with them, 1.3B layer backward 1.77 -> 1.39 ms. The
     * second half adds by TMA, in bf16 too (split2): a bf16 O is rounded twice more than in
     * one pass (the first half's O, the second's addend; 2.8e-3 relative L2 apart). Lab flag
     * 32: one pass, as before; 128: the split at any size
     * (so the lab's small cases check it against float64). */
    const int64_t blocks64 = (int64_t)r.B * r.H * ((r.Vo + 63) / 64) * (r.par > 1 ? r.par : 1);
    if (!(r.lab & 32) && r.Kc > 256 && r.rows != 3 && g_lab_path != 1 && wg_available() &&
        ((r.lab & 128) || blocks64 >= (int64_t)sm_count() * 9 / 10)) {
        ChunkRun a = r, z = r;
        a.Kc = 256;
        z.Kc = r.Kc - 256;
        z.q += 256, z.k += 256;
        if (z.s_init) z.s_init += 256 * r.si_k;
        if (z.s_final) z.s_final += 256 * r.sf_k;
        z.o_acc = 1, z.split2 = 1; /* onto the first half's O (a.o_acc is the caller's) */
        z.rows = 0;                /* §3's rows once, in the first half */
        return run_chunk(a, s) || run_chunk(z, s); /* Kc <= 256 each: no further split */
    }
    const int kc = r.Kc <= 64 ? 64 : r.Kc <= 128 ? 128 : r.Kc <= 256 ? 256 : 512;
    int vt = 64;
    if (kc == 512)
        vt = 32;
    else if (g_lab_vt == 32 || g_lab_vt == 64)
        vt = g_lab_vt;
    else if (blocks64 < (int64_t)sm_count() * 9 / 10)
        vt = 32;
    if (g_lab_path >= 2 && !wg_available())
        return fail("retention_cuda: the wgmma path was asked for, but is not built for this device");
    if (r.rows && (g_lab_path == 1 || g_lab_path == 3 || !wg_available()))
        return fail("retention_cuda: the section-3 row sums ride only on the wgmma kernel");
    /* Hopper: TMA loads at every KC (at KC = 64, H32 dk64 dv64, the cp.async kernel took
     * 0.250 / 0.495 ms forward at T = 2k / 16k and 0.697 / 1.134 backward, the TMA kernel
     * 0.204 / 0.275 and 0.563 / 0.624: dev/cuda/runs/next30.sh); the cp.async kernel when the lab
     * asks (path 3) */
    if (g_lab_path == 3) {
        switch (kc * 100 + vt) {
        case 6464: return launch_wgc<64, 64, 2>(r, s);
        case 6432: return launch_wgc<64, 32, 2>(r, s);
        case 12864: return launch_wgc<128, 64, 2>(r, s);
        case 12832: return launch_wgc<128, 32, 2>(r, s);
        case 25664: return launch_wgc<256, 64, 2>(r, s);
        case 25632: return launch_wgc<256, 32, 2>(r, s);
        default: return launch_wgc<512, 32, 1>(r, s);
        }
    }
    if (g_lab_path != 1 && wg_available()) {
        switch (kc * 100 + vt) {
        case 6464: return launch_wg<64, 64, 2>(r, s);
        case 6432: return launch_wg<64, 32, 2>(r, s);
        case 12864: return launch_wg<128, 64, 2>(r, s);
        case 12832: return launch_wg<128, 32, 2>(r, s);
        case 25664: return launch_wg<256, 64, 2>(r, s);
        case 25632: return launch_wg<256, 32, 2>(r, s);
        default: return launch_wg<512, 32, 1>(r, s);
        }
    }
    switch (kc * 100 + vt) {
    case 6464: return launch<64, 64, 64>(r, s);
    case 6432: return launch<64, 32, 64>(r, s);
    case 12864: return launch<128, 64, 64>(r, s);
    case 12832: return launch<128, 32, 64>(r, s);
    case 25664: return launch<256, 64, 64>(r, s);
    case 25632: return launch<256, 32, 64>(r, s);
    default: return launch<512, 32, 32>(r, s);
    }
}

/* The plain decode steps' split between their shapes: where a launch's states reach 64 MB
 * (B >= 16 at the 1.3B model's heads) they stream, and the kernels take their streaming shape;
 * below, the step is latency, and they ask for everything they can before the wait. (The
 * window's step has its own split, at 1 GB: retention_cuda_step_window.) */
static bool large_states(int B, int H, int dk, int dv) {
    return (double)B * H * dk * dv * sizeof(float) >= 64.0 * (1 << 20);
}

static int check_common(const char *fn, int B, int H, int dk, int dv, const void *gamma) {
    if (B < 1 || H < 1) return fail("%s: B = %d and H = %d must be at least 1", fn, B, H);
    if (dk < 8 || dv < 8 || dk > 512 || dv > 512 || dk % 8 || dv % 8)
        return fail("%s: dk = %d and dv = %d must be multiples of 8 in [8, 512]", fn, dk, dv);
    if (!gamma) return fail("%s: gamma is NULL", fn);
    return 0;
}
static int aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

static ChunkRun base_run(int B, int T, int H, float scale, const float *gamma) {
    ChunkRun r = {};
    r.B = B, r.T = T, r.H = H, r.scale = scale, r.gamma = gamma;
    return r;
}
/* (B, T, H, D) time-major strides */
#define SET_BTHD(r, P, ptr, D)                                                             \
    do {                                                                                   \
        r.P = (const bf16 *)(ptr);                                                         \
        r.s##P##_b = (int64_t)T * H * (D), r.s##P##_t = (int64_t)H * (D), r.s##P##_h = (D); \
    } while (0)

static int forward(const char *fn, int B, int T, int H, int dk, int dv, const void *q,
                   const void *k, const void *v, const float *gamma, float scale,
                   const float *state_in, float *state_out, void *o, int o_dtype, float *r8,
                   cudaStream_t stream) {
    if (check_common(fn, B, H, dk, dv, gamma)) return 1;
    if (T < 0) return fail("%s: T = %d is negative", fn, T);
    if (T > 0 && (!q || !k || !v || !o)) return fail("%s: q, k, v and o are required", fn);
    if (!aligned16(q) || !aligned16(k) || !aligned16(v))
        return fail("%s: q, k and v must be 16-byte aligned", fn);
    if (o_dtype != RETNET_CUDA_F32 && o_dtype != RETNET_CUDA_BF16)
        return fail("%s: o_dtype %d is neither RETNET_CUDA_F32 nor RETNET_CUDA_BF16", fn, o_dtype);
    if (scale <= 0.0f) scale = 1.0f / sqrtf((float)dk);
    ChunkRun r = base_run(B, T, H, scale, gamma);
    r.Kc = dk, r.Vo = dv;
    SET_BTHD(r, q, q, dk);
    SET_BTHD(r, k, k, dk);
    SET_BTHD(r, v, v, dv);
    r.o = T > 0 ? o : nullptr;
    r.so_b = (int64_t)T * H * dv, r.so_t = (int64_t)H * dv, r.so_h = dv;
    r.o_f32 = o_dtype == RETNET_CUDA_F32;
    const int64_t sb = (int64_t)H * dk * dv, sh = (int64_t)dk * dv;
    r.s_init = state_in, r.si_b = sb, r.si_h = sh, r.si_k = dv, r.si_v = 1;
    r.s_final = state_out, r.sf_b = sb, r.sf_h = sh, r.sf_k = dv, r.sf_v = 1;
    if (r8) r.rows = 3, r.r8 = r8;
    if (!r.o && !r.s_final) return 0;
    return run_chunk(r, stream);
}

extern "C" int retention_cuda_forward(int B, int T, int H, int dk, int dv, const void *q,
                                      const void *k, const void *v, const float *gamma,
                                      float scale, const float *state_in, float *state_out,
                                      void *o, int o_dtype, cudaStream_t stream) {
    return forward("retention_cuda_forward", B, T, H, dk, dv, q, k, v, gamma, scale, state_in,
                   state_out, o, o_dtype, nullptr, stream);
}

extern "C" int retention_cuda_forward_rows(int B, int T, int H, int dk, int dv, const void *q,
                                           const void *k, const void *v, const float *gamma,
                                           float scale, void *o, int o_dtype, float *r8,
                                           cudaStream_t stream) {
    const char *fn = "retention_cuda_forward_rows";
    if (!retention_cuda_have_rows())
        return fail("%s: needs the wgmma kernel (sm_90a), not built or not this device", fn);
    if (dk > RETENTION_CUDA_ROWS_DK_MAX)
        return fail("%s: dk = %d: the row sums ride only on dk <= %d", fn, dk,
                    RETENTION_CUDA_ROWS_DK_MAX);
    if (T > 0 && (!r8 || !o)) return fail("%s: o and r8 are required", fn);
    return forward(fn, B, T, H, dk, dv, q, k, v, gamma, scale, nullptr, nullptr, o, o_dtype, r8,
                   stream);
}

static int backward(const char *fn, int B, int T, int H, int dk, int dv, const void *q,
                    const void *k, const void *v, const float *gamma, float scale,
                    const float *state_in, const void *dout, const float *dstate_out, void *dq,
                    void *dk_, void *dv_, int grad_dtype, int accumulate, float *dstate_in,
                    const void *dr, int dr_ld, cudaStream_t stream) {
    if (check_common(fn, B, H, dk, dv, gamma)) return 1;
    if (T < 0) return fail("%s: T = %d is negative", fn, T);
    if (T > 0 && (!q || !k || !v || !dout)) return fail("%s: q, k, v and dout are required", fn);
    if (!aligned16(q) || !aligned16(k) || !aligned16(v) || !aligned16(dout))
        return fail("%s: q, k, v and dout must be 16-byte aligned", fn);
    if (grad_dtype != RETNET_CUDA_F32 && grad_dtype != RETNET_CUDA_BF16)
        return fail("%s: grad_dtype %d is neither RETNET_CUDA_F32 nor RETNET_CUDA_BF16", fn,
                    grad_dtype);
    if (scale <= 0.0f) scale = 1.0f / sqrtf((float)dk);
    const int64_t sb = (int64_t)H * dk * dv, sh = (int64_t)dk * dv;
    const int f32 = grad_dtype == RETNET_CUDA_F32;
    if (T == 0) { /* nothing but dS0 = dS_T: the last run below, with no tokens */
        dq = dk_ = dv_ = nullptr;
        if (!dstate_in) return 0;
    }
    /* The dq and dk passes are independent and alike (Kc = dv, Vo = dk): where both run, the
     * dk pass goes on a side stream alongside the dq pass (fork and join by events, which CUDA
     * graph capture also follows), and the tile and split choices count both grids. With few
     * sequence-heads (H16 dk128 at T = 16k: 64 blocks of 64 columns each) the two then fill the
     * GPU with 64-column tiles instead of 32-column ones that recompute dO V^T per tile. Lab
     * flag 256: one after the other, as before. */
    cudaStream_t side = nullptr;
    cudaEvent_t forked = nullptr, joined = nullptr;
    /* not where dq and dk overlap (both adding to one buffer: in turn, each sum is whole) */
    const size_t gbytes = (size_t)B * T * H * dk * (f32 ? 4 : 2);
    const uintptr_t pq = (uintptr_t)dq, pk = (uintptr_t)dk_;
    int par = dq && dk_ && !((g_lab_flags | env_lab_flags()) & 256) &&
              (pq + gbytes <= pk || pk + gbytes <= pq);
    if (par && side_stream(&side, &forked, &joined)) par = 0; /* then in turn */
    if (par) {
        CUDA_OK(cudaEventRecord(forked, stream), "cudaEventRecord (fork)");
        CUDA_OK(cudaStreamWaitEvent(side, forked, 0), "cudaStreamWaitEvent (fork)");
    }
    int bad = 0;
    /* dq = run(dO, V, K), forward in time, initial state S0^T (Kc = dv, Vo = dk) */
    if (dq) {
        ChunkRun r = base_run(B, T, H, scale, gamma);
        r.Kc = dv, r.Vo = dk;
        SET_BTHD(r, q, dout, dv);
        SET_BTHD(r, k, v, dv);
        SET_BTHD(r, v, k, dk);
        r.o = dq, r.so_b = (int64_t)T * H * dk, r.so_t = (int64_t)H * dk, r.so_h = dk;
        r.o_f32 = f32, r.o_acc = accumulate;
        r.s_init = state_in, r.si_b = sb, r.si_h = sh, r.si_k = 1, r.si_v = dv;
        r.par = par ? 2 : 1;
        if (dr) {
            r.rows = 1, r.dr = (const bf16 *)dr;
            r.sd_b = (int64_t)T * H * dr_ld, r.sd_t = (int64_t)H * dr_ld, r.sd_h = dr_ld;
        }
        bad = run_chunk(r, stream);
    }
    /* dk = run(V, dO, Q), backward in time, initial state dS_T^T / (scale gamma) */
    if (dk_ && !bad) {
        ChunkRun r = base_run(B, T, H, scale, gamma);
        r.Kc = dv, r.Vo = dk, r.reverse = 1, r.grad_state = 1;
        SET_BTHD(r, q, v, dv);
        SET_BTHD(r, k, dout, dv);
        SET_BTHD(r, v, q, dk);
        r.o = dk_, r.so_b = (int64_t)T * H * dk, r.so_t = (int64_t)H * dk, r.so_h = dk;
        r.o_f32 = f32, r.o_acc = accumulate;
        r.s_init = dstate_out, r.si_b = sb, r.si_h = sh, r.si_k = 1, r.si_v = dv;
        r.par = par ? 2 : 1;
        if (dr) {
            r.rows = 2, r.dr = (const bf16 *)dr;
            r.sd_b = (int64_t)T * H * dr_ld, r.sd_t = (int64_t)H * dr_ld, r.sd_h = dr_ld;
        }
        bad = run_chunk(r, par ? side : stream);
    }
    if (par) { /* joined even after a failure: a fork left open would break a graph capture */
        CUDA_OK(cudaEventRecord(joined, side), "cudaEventRecord (join)");
        CUDA_OK(cudaStreamWaitEvent(stream, joined, 0), "cudaStreamWaitEvent (join)");
    }
    if (bad) return 1;
    /* dv = run(K, Q, dO), backward in time, initial state dS_T / (scale gamma);
     * its final state times scale gamma is dS0 */
    if (dv_ || dstate_in) {
        ChunkRun r = base_run(B, T, H, scale, gamma);
        r.Kc = dk, r.Vo = dv, r.reverse = 1, r.grad_state = 1;
        SET_BTHD(r, q, k, dk);
        SET_BTHD(r, k, q, dk);
        SET_BTHD(r, v, dout, dv);
        r.o = dv_, r.so_b = (int64_t)T * H * dv, r.so_t = (int64_t)H * dv, r.so_h = dv;
        r.o_f32 = f32, r.o_acc = accumulate;
        r.s_init = dstate_out, r.si_b = sb, r.si_h = sh, r.si_k = dv, r.si_v = 1;
        r.s_final = dstate_in, r.sf_b = sb, r.sf_h = sh, r.sf_k = dv, r.sf_v = 1;
        r.sf_acc = accumulate;
        if (run_chunk(r, stream)) return 1;
    }
    return 0;
}

extern "C" int retention_cuda_backward(int B, int T, int H, int dk, int dv, const void *q,
                                       const void *k, const void *v, const float *gamma,
                                       float scale, const float *state_in, const void *dout,
                                       const float *dstate_out, void *dq, void *dk_, void *dv_,
                                       int grad_dtype, int accumulate, float *dstate_in,
                                       cudaStream_t stream) {
    return backward("retention_cuda_backward", B, T, H, dk, dv, q, k, v, gamma, scale, state_in,
                    dout, dstate_out, dq, dk_, dv_, grad_dtype, accumulate, dstate_in, nullptr, 0,
                    stream);
}

extern "C" int retention_cuda_have_rows(void) { return wg_available() && g_lab_path != 1 && g_lab_path != 3; }

extern "C" int retention_cuda_backward_rows(int B, int T, int H, int dk, int dv, const void *q,
                                            const void *k, const void *v, const float *gamma,
                                            float scale, const void *dout, const void *dr,
                                            int dr_ld, void *dq, void *dk_, int grad_dtype,
                                            cudaStream_t stream) {
    const char *fn = "retention_cuda_backward_rows";
    if (!retention_cuda_have_rows())
        return fail("%s: needs the wgmma kernel (sm_90a), not built or not this device", fn);
    if (T > 0 && (!dr || dr_ld < 1 || ((uintptr_t)dr & 1)))
        return fail("%s: dr is required (bf16, row stride dr_ld >= 1)", fn);
    return backward(fn, B, T, H, dk, dv, q, k, v, gamma, scale, nullptr, dout, nullptr, dq, dk_,
                    nullptr, grad_dtype, 0, nullptr, dr, dr_ld, stream);
}

/* Programmatic launch of the step (retention_cuda_step_overlap): per host thread, and only
 * where the device has it (sm_90) */
static thread_local int step_overlap = 0;
extern "C" int retention_cuda_step_overlap(int on) {
    const int was = step_overlap;
    step_overlap = on;
    return was;
}

static int have_pdl(void) {
    static int ok = -1;
    if (ok < 0) {
        int dev = 0, major = 0;
        ok = cudaGetDevice(&dev) == cudaSuccess &&
             cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
             major >= 9;
    }
    return ok;
}

static int step_launch(const char *fn, int B, int H, int dk, int dv, const void *q,
                       const void *k, const void *v, const float *gamma, float scale,
                       float *state, void *o, int o_dtype, float *z, const double *gamma64,
                       const int64_t *pos, const retention_cuda_head_norm *hn,
                       cudaStream_t stream);

extern "C" int retention_cuda_step(int B, int H, int dk, int dv, const void *q, const void *k,
                                   const void *v, const float *gamma, float scale, float *state,
                                   void *o, int o_dtype, cudaStream_t stream) {
    return step_launch("retention_cuda_step", B, H, dk, dv, q, k, v, gamma, scale, state, o,
                       o_dtype, NULL, NULL, NULL, NULL, stream);
}

extern "C" int retention_cuda_step_rows(int B, int H, int dk, int dv, const void *q,
                                        const void *k, const void *v, const float *gamma,
                                        float scale, float *state, void *o, float *z,
                                        const double *gamma64, const int64_t *pos,
                                        cudaStream_t stream) {
    if (!z) return fail("retention_cuda_step_rows: z is required");
    return step_launch("retention_cuda_step_rows", B, H, dk, dv, q, k, v, gamma, scale, state, o,
                       RETNET_CUDA_F32, z, gamma64, pos, NULL, stream);
}

extern "C" int retention_cuda_step_rows_ok(int dk, int dv) {
    return dv >= 1 && dv <= 512 && dk % 4 == 0 && have_pdl(); /* have_pdl: sm_90 on */
}

/* the head norm's kernel: the rows step's cluster, and whole blocks of 64 columns */
extern "C" int retention_cuda_step_hn_ok(int dk, int dv) {
    return dv % 64 == 0 && retention_cuda_step_rows_ok(dk, dv);
}

extern "C" int retention_cuda_step_hn(int B, int H, int dk, int dv, const void *q,
                                      const void *k, const void *v, const float *gamma,
                                      float scale, float *state, void *o, float *z,
                                      const double *gamma64, const int64_t *pos,
                                      const retention_cuda_head_norm *hn, cudaStream_t stream) {
    if (!hn) return fail("retention_cuda_step_hn: hn is required");
    return step_launch("retention_cuda_step_hn", B, H, dk, dv, q, k, v, gamma, scale, state, o,
                       RETNET_CUDA_F32, z, gamma64, pos, hn, stream);
}

/* The three steps' launch: the plain step; with z, §3's key sums (step_rows_kernel); with hn,
 * the head norm and gate as well (step_hn_kernel: the small states' shape, a cluster a head) */
static int step_launch(const char *fn, int B, int H, int dk, int dv, const void *q,
                       const void *k, const void *v, const float *gamma, float scale,
                       float *state, void *o, int o_dtype, float *z, const double *gamma64,
                       const int64_t *pos, const retention_cuda_head_norm *hn,
                       cudaStream_t stream) {
    if (check_common(fn, B, H, dk, dv, gamma)) return 1;
    if (!q || !k || !v || !state || !o) return fail("%s: q, k, v, state and o are required", fn);
    if (!aligned16(state) || ((uintptr_t)v & 7))
        return fail("%s: state must be 16-byte and v 8-byte aligned", fn);
    if (o_dtype != RETNET_CUDA_F32 && o_dtype != RETNET_CUDA_BF16)
        return fail("%s: o_dtype %d is neither RETNET_CUDA_F32 nor RETNET_CUDA_BF16", fn, o_dtype);
    if (z && (!gamma64 || !pos || !aligned16(z)))
        return fail("%s: z (16-byte aligned) needs gamma64 and pos", fn);
    if (z && !retention_cuda_step_rows_ok(dk, dv))
        return fail("%s: §3's sums in the step need a head's blocks in one cluster: dv at most "
                    "512, dk a multiple of 4, and sm_90 (dk %d, dv %d)", fn, dk, dv);
    if (hn) {
        if (!hn->y || hn->mode < 0 || hn->mode > 2)
            return fail("%s: the head norm needs y and a mode in 0..2 (mode %d)", fn, hn->mode);
        if (!retention_cuda_step_hn_ok(dk, dv))
            return fail("%s: needs dv a multiple of 64 up to 512, dk of 4, and sm_90 (dk %d, "
                        "dv %d)", fn, dk, dv);
        if ((hn->g && !aligned16(hn->g)) || (hn->w && !aligned16(hn->w)) ||
            (hn->b && !aligned16(hn->b)))
            return fail("%s: g, w and b must be 16-byte aligned", fn);
    }
    if (scale <= 0.0f) scale = 1.0f / sqrtf((float)dk);
    /* 32 row groups, plain accesses, where the states stream (64 MB or more: B >= 16 at the
     * 1.3B model's heads; B = 64 4.82 -> 4.71 ms a decoding step, B = 256 14.78 -> 14.23);
     * 16 row groups with streaming hints below, where the step is latency (B = 1 1.18 against
     * 1.20-1.22 with 32; dev/cuda/runs/next51.sh). RETNET_CUDA_STEP_RG=16 or 32 forces one. The
     * head norm's kernel comes in the small shape only. */
    static int forced = -1;
    if (forced < 0) {
        const char *e = getenv("RETNET_CUDA_STEP_RG");
        forced = e && !strcmp(e, "16") ? 16 : e && !strcmp(e, "32") ? 32 : 0;
    }
    const int rg = hn ? 16 : forced ? forced : large_states(B, H, dk, dv) ? 32 : 16;
    constexpr int cols = 64;
    /* small states: 16 rows a thread in flight, so that at dk <= 256 every row is asked for
     * before the wait (RETNET_CUDA_STEP_UNR=8: half of them, as before) */
    static int unr = -1;
    if (unr < 0) {
        const char *e = getenv("RETNET_CUDA_STEP_UNR");
        unr = e && !strcmp(e, "8") ? 8 : 16;
    }
    dim3 grid((dv + cols - 1) / cols, H, B);
    const int pdl = step_overlap && have_pdl();
    size_t smem = sizeof(float) * (2 * dk + rg * cols);
    if (z) smem += sizeof(float) * dk + sizeof(double) * 34; /* z's row, warps' sums, s, f */
    if (hn) {
        /* the head's sums pushed into every block (one cluster barrier, not two);
         * RETNET_CUDA_HN_PUSH=0: pulled, as before */
        static int push = -1;
        if (push < 0) {
            const char *e = getenv("RETNET_CUDA_HN_PUSH");
            push = !(e && !strcmp(e, "0"));
        }
        smem += sizeof(float) * STEP_HN_FLOATS;
        const retention_cuda_head_norm h = *hn;
        CUDA_OK(pdl_launch_cluster(pdl, (unsigned)grid.x,
                                   z ? (push ? step_hn_kernel<cols, 16, true, 16, true, true>
                                             : step_hn_kernel<cols, 16, true, 16, true>)
                                     : (push ? step_hn_kernel<cols, 16, true, 16, false, true>
                                             : step_hn_kernel<cols, 16, true, 16, false>),
                                   grid, dim3(cols / 4 * rg), smem, stream, H, dk, dv,
                                   (const bf16 *)q, (const bf16 *)k, (const bf16 *)v, gamma,
                                   scale, state, o, z, gamma64, pos, h),
                "step_hn_kernel launch");
        return 0;
    }
    if (z) {
        void (*kern)(int, int, int, const bf16 *, const bf16 *, const bf16 *, const float *,
                     float, float *, void *, int, float *, const double *, const int64_t *) =
            rg == 16 ? (unr == 16 ? step_rows_kernel<cols, 16, true, 16>
                                  : step_rows_kernel<cols, 16, true, 8>)
                     : step_rows_kernel<cols, 32, false>;
        CUDA_OK(pdl_launch_cluster(pdl, (unsigned)grid.x, kern, grid, dim3(cols / 4 * rg), smem,
                                   stream, H, dk, dv, (const bf16 *)q, (const bf16 *)k,
                                   (const bf16 *)v, gamma, scale, state, o,
                                   (int)(o_dtype == RETNET_CUDA_F32), z, gamma64, pos),
                "step_rows_kernel launch");
        return 0;
    }
    void (*kern)(int, int, int, const bf16 *, const bf16 *, const bf16 *, const float *, float,
                 float *, void *, int) = rg == 16 ? (unr == 16 ? step_kernel<cols, 16, true, 16>
                                                               : step_kernel<cols, 16, true, 8>)
                                                  : step_kernel<cols, 32, false>;
    CUDA_OK(pdl_launch(pdl, kern, grid, dim3(cols / 4 * rg), smem, stream, H, dk, dv,
                       (const bf16 *)q, (const bf16 *)k, (const bf16 *)v, gamma, scale, state, o,
                       (int)(o_dtype == RETNET_CUDA_F32)),
            "step_kernel launch");
    return 0;
}

/* The window's launches: the step's shape rule (retention_cuda_step), shared memory past the
 * default 48 KB where the window and dk ask for it */
static int window_args(const char *fn, int B, int H, int dk, int dv, const float *gamma,
                       const float *state, const void *kw, const void *vw, const int *m, int W,
                       int phase) {
    if (check_common(fn, B, H, dk, dv, gamma)) return 1;
    if (!state || !kw || !vw || !m) return fail("%s: state, kw, vw and m are required", fn);
    if (W < 1 || W > 64 || phase < 0 || phase >= W)
        return fail("%s: W = %d must be in [1, 64] and phase = %d in [0, W)", fn, W, phase);
    if (!aligned16(state) || !aligned16(kw) || !aligned16(vw))
        return fail("%s: state, kw and vw must be 16-byte aligned", fn);
    return 0;
}

template <typename K> static int window_smem_ok(K kern, size_t smem) {
    if (smem <= 48 * 1024) return 0;
    CUDA_OK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
            "window kernel shared memory");
    return 0;
}

extern "C" int retention_cuda_step_window(int B, int H, int dk, int dv, const void *q,
                                          const void *k, const void *v, const float *gamma,
                                          float scale, float *state, void *kw, void *vw,
                                          const int *m, int W, int phase, void *o, int o_dtype,
                                          cudaStream_t stream) {
    const char *fn = "retention_cuda_step_window";
    if (window_args(fn, B, H, dk, dv, gamma, state, kw, vw, m, W, phase)) return 1;
    if (!q || !k || !v || !o) return fail("%s: q, k, v and o are required", fn);
    if (!aligned16(q) || !aligned16(k) || !aligned16(v))
        return fail("%s: q, k and v must be 16-byte aligned", fn);
    if (o_dtype != RETNET_CUDA_F32 && o_dtype != RETNET_CUDA_BF16)
        return fail("%s: o_dtype %d is neither RETNET_CUDA_F32 nor RETNET_CUDA_BF16", fn, o_dtype);
    if (scale <= 0.0f) scale = 1.0f / sqrtf((float)dk);
    typedef void (*window_fn)(int, int, int, const bf16 *, const bf16 *, const bf16 *,
                              const float *, float, float *, bf16 *, bf16 *, const int *, int,
                              int, void *, int);
    /* the large states' shape at 512 >> i columns (512 threads: 2048 / cols row groups). The
     * narrow two (B = 16-31 at the 1.3B shape, where 64 MB of a layer's states make them
     * large) with 4 rows a set: at dk 256 a thread's rows then come in 2 rounds, not 4. 1.3B
     * step, 2 / 4 rows a set, best of two (dev/cuda/runs/next130.sh): B = 16 2.065 / 2.033 ms; the
     * wide two lost with 4 (B = 64 3.277 / 3.305, 256 8.604 / 8.780). (B = 4 and 8, 1.486 /
     * 1.478 and 1.671 / 1.647 in the same runs, take the small states' shape either way: the
     * runs' spread.) */
    static const window_fn wide[4] = {
        step_window_kernel<512, 4, 2, false, false>, step_window_kernel<256, 8, 2, false, false>,
        step_window_kernel<128, 16, 4, false, false>, step_window_kernel<64, 32, 4, false, false>};
    /* 1: the small states' shape; 2 + i: wide[i]; 6, 7, 8: the small states' shape at 64, 128,
     * 256 columns (WIDE, below); RETNET_CUDA_WINDOW_SHAPE forces one for a whole program (the
     * lab's A/B), retention_cuda_lab_window_shape for a test */
    if (g_window_shape < 0) {
        const char *e = getenv("RETNET_CUDA_WINDOW_SHAPE");
        g_window_shape = e && e[0] >= '1' && e[0] <= '8' && !e[1] ? e[0] - '0' : 0;
    }
    int shape = g_window_shape >= 6 ? 1 : g_window_shape; /* 6-8: 1 at 64-256 columns */
    if (!shape) {
        shape = 1;
        /* the large states' shape from 1 GB of a layer's states (B = 256 at the 1.3B shapes):
         * below it the small one at 256 columns was 1-4% faster (B = 16 2.014 -> 1.954 ms a
         * step, 48 2.763 -> 2.664, 64 3.151 -> 3.119, 128 4.883 -> 4.802; 256 8.470 against
         * 8.504; dev/cuda/runs/next214.sh) */
        if ((double)B * H * dk * dv * sizeof(float) >= 1024.0 * (1 << 20)) {
            /* the widest that is no wider than dv and still gives two blocks an SM */
            shape = 5;
            for (int i = 0; i < 3; i++)
                if ((512 >> i) < 2 * dv &&
                    (int64_t)B * H * ((dv + (512 >> i) - 1) / (512 >> i)) >= 2 * sm_count()) {
                    shape = 2 + i;
                    break;
                }
        }
    }
    static int optin = 0; /* a block's shared memory limit */
    if (!optin) {
        int dev = 0;
        CUDA_OK(cudaGetDevice(&dev), "cudaGetDevice");
        CUDA_OK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev),
                "shared memory limit");
    }
    int cols = shape == 1 ? 64 : 512 >> (shape - 2), rg = shape == 1 ? 16 : 2048 / cols;
    while (shape > 1 && shape < 5 && window_smem(dk, W, cols, rg) > (size_t)optin)
        shape++, cols >>= 1, rg <<= 1; /* a long window of wide keys: narrower blocks */
    /* the small states' shape at 128 or 256 columns (WIDE) where 64 would take more than one
     * wave of two blocks an SM (B >= 5 at the 1.3B shapes; 256 columns from B = 9): each
     * block asks for its first rows before the wait and for the rest right after it, where a
     * second wave's blocks started, and asked for their rows, only as the first wave's left.
     * The 1.3B step, 64 / 128 / 256 columns, ms (dev/cuda/runs/next211.sh, next212.sh): B = 8
     * 1.505 / 1.439 / -, 10 1.899 / 1.844 / 1.808, 12 1.943 / 1.885 / 1.832, 15 2.085 /
     * 1.942 / 1.911; the paper preset at B = 8 1.567 / 1.503. 512 columns (2 row groups) were
     * no faster (B = 16-32) or slower (48: 2.762 against 2.662; next213.sh).
     * RETNET_CUDA_WINDOW_WIDE=0 or 1 caps it at 64 or 128 columns (comparisons). */
    static int wide_max = -1; /* the widest: 64 << wide_max columns */
    if (wide_max < 0) {
        const char *e = getenv("RETNET_CUDA_WINDOW_WIDE");
        wide_max = e && e[0] >= '0' && e[0] <= '2' && !e[1] ? e[0] - '0' : 2;
    }
    int wide1 = 0; /* 64 << wide1 columns */
    if (shape == 1 && g_window_shape != 6) {
        if (g_window_shape >= 7) wide1 = g_window_shape - 6;
        else
            while (wide1 < wide_max && (64 << wide1) < dv &&
                   (int64_t)B * H * ((dv + (64 << wide1) - 1) / (64 << wide1)) > 2 * sm_count() &&
                   2 * window_smem(dk, W, 128 << wide1, 0) <= (size_t)optin) /* still 2 an SM */
                wide1++;
        /* the partial sums on the keys: they must be as large */
        while (wide1 && (int64_t)(W + 1) * dk < (int64_t)16 * 64) wide1--;
    }
    if (wide1) cols = 64 << wide1, rg = 16 >> wide1;
    const window_fn kern = wide1 == 2   ? step_window_kernel<256, 4, 8, true, true, true>
                           : wide1 == 1 ? step_window_kernel<128, 8, 8, true, true, true>
                           : shape == 1 ? step_window_kernel<64, 16, 8, true, true>
                                        : wide[shape - 2];
    const size_t smem = window_smem(dk, W, cols, wide1 ? 0 : rg);
    if (window_smem_ok(kern, smem)) return 1;
    dim3 grid((dv + cols - 1) / cols, H, B);
    CUDA_OK(pdl_launch(step_overlap && have_pdl(), kern, grid, dim3(cols / 4 * rg), smem, stream,
                       H, dk, dv, (const bf16 *)q, (const bf16 *)k, (const bf16 *)v, gamma,
                       scale, state, (bf16 *)kw, (bf16 *)vw, m, W, phase, o,
                       (int)(o_dtype == RETNET_CUDA_F32)),
            "step_window_kernel launch");
    return 0;
}

extern "C" int retention_cuda_window_flush(int B, int H, int dk, int dv, const float *gamma,
                                           float *state, const void *kw, const void *vw,
                                           const int *m, int W, int phase, cudaStream_t stream) {
    const char *fn = "retention_cuda_window_flush";
    if (window_args(fn, B, H, dk, dv, gamma, state, kw, vw, m, W, phase)) return 1;
    constexpr int cols = 64, rg = 16;
    const size_t smem = window_smem(dk, W, cols, 0);
    if (window_smem_ok(window_flush_kernel<cols, rg>, smem)) return 1;
    dim3 grid((dv + cols - 1) / cols, H, B);
    window_flush_kernel<cols, rg><<<grid, cols / 4 * rg, smem, stream>>>(
        H, dk, dv, gamma, state, (const bf16 *)kw, (const bf16 *)vw, m, W, phase);
    CUDA_OK(cudaGetLastError(), "window_flush_kernel launch");
    return 0;
}

extern "C" int retention_cuda_window_advance(int B, int *m, int reset, int W,
                                             cudaStream_t stream) {
    const char *fn = "retention_cuda_window_advance";
    if (B < 1 || !m || W < 1 || W > 64) return fail("%s: B = %d, m, W = %d in [1, 64]", fn, B, W);
    CUDA_OK(pdl_launch(step_overlap && have_pdl(), window_advance_kernel, dim3((B + 255) / 256),
                       dim3(256), 0, stream, B, m, reset, W),
            "window_advance_kernel launch");
    return 0;
}
