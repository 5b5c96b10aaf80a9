/*
 * retention.cu: retention on the GPU
 * (dev/cuda/retention_v3.cu: version 3, wgmma with cp.async loads, kept for comparison;
 *  SRC=dev/cuda/retention_v3.cu dev/cuda/build.sh build/ret-cuda-v3)
 * (API and conventions in retention.h; the math in
 * RETNET.md §2, the CPU mirror in src/ops/retention_{chunkwise,recurrent}.c).
 *
 * One kernel does all the chunkwise work: `chunk_kernel`, a chunkwise forward pass that
 * keeps the state in fp32 registers and walks through the sequence chunk by chunk. For a
 * chunk of L <= C rows with R the state before it (xi[j] = gamma^(j+1),
 * zeta[j] = gamma^(L-1-j)):
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
 * Blocks and tiles. One block of 8 warps per (batch, head, tile of VT output columns);
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
 * 16-byte accesses, the q S reduction over dk finished in shared memory.
 *
 * Status (bench/gpu/retention-h200.md, H200): fwd+bwd 1.06-1.33x fla's tokens/s, forward
 * 0.78-0.89x; decode 1.06-1.55x. The profile says issue- and latency-bound (one block of 8
 * warps per SM, ~200 registers, ~209 KB shared memory; mma.sync fed by ldmatrix), not memory-
 * or tensor-bound; the next steps (wgmma, Q/K shared across a head's tiles through a cluster)
 * are listed there. The chunk size is 64, or 32 when the contraction is wider than 256 (the
 * shared memory of two chunk buffers); the tile is 64 columns unless that leaves SMs idle.
 */
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

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
/* device helpers: ldmatrix, mma, cp.async                                              */

__device__ __forceinline__ uint32_t smem_u32(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

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

/* 16 bytes global -> shared, asynchronously; src_bytes 0 fills the 16 bytes with zeros. */
__device__ __forceinline__ void cp_async16(uint32_t dst, const void *src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst),
                 "l"(src), "r"(src_bytes)
                 : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}
__device__ __forceinline__ void cp_async_wait_all() {
    asm volatile("cp.async.wait_group 0;\n" ::: "memory");
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
    int lab;        /* dev/cuda ablations (wrong results, timing only): 1 no loads after the
                       first chunk, 2 no phase-1 products (mma.sync kernel only), 4 no state
                       update, 8 no O stores */
    int wg_swap;    /* dev/cuda only: bit 0 swaps LBO / SBO of the K-major wgmma descriptors,
                       bit 1 of the MN-major ones (0, the layout documented below, is right) */
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
        cp_async_wait_all();
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
/* the chunkwise kernel on Hopper: warpgroup MMA (wgmma, sm_90a)                        */

/*
 * `wg_kernel` computes what `chunk_kernel` computes ((1), (2) above; same ChunkRun, same grid
 * of (tile of VT output columns, head, batch)), with the products as wgmma: one instruction
 * multiplies a 64 x N x 16 block for a whole warpgroup (4 warps), operands read straight from
 * shared memory (no ldmatrix), accumulators in registers. Two warpgroups with separate jobs:
 *   warpgroup 0 (the output): S = Q K^T (64 x 64), O = Q R (64 x VT), then the decayed
 *     P = scale D ⊙ S converted in registers to the A operand of O += P V (no shared memory
 *     and no barrier for P); O rows scaled by scale xi; O stored.
 *   warpgroup 1 (the state): R (KC x VT, fp32) in its registers; zeta ⊙ V -> shared memory,
 *     R = gamma^L R + K^T (zeta ⊙ V), bf16(R) -> shared memory (stmatrix) for warpgroup 0's
 *     next chunk.
 * Both work on the same chunk at once: warpgroup 0 reads R of the previous chunk from one of
 * two buffers while warpgroup 1 writes the next one into the other. One block-wide barrier
 * per chunk (two when KC = 512, whose Q and K chunks fit shared memory only once).
 *
 * Shared-memory layout of every bf16 tile [rows][cols]: 8 x 8 "core matrices" (8 rows of 16
 * bytes, 128 contiguous bytes), row-group major: element (r, c) at byte
 *   ((r / 8) * (cols / 8) + c / 8) * 128 + (r % 8) * 16 + (c % 8) * 2.
 * This is wgmma's no-swizzle layout, for either use of a tile: as a K-major operand (rows = M or
 * N, cols = K) the descriptor's leading byte offset (next 8 K) is 128 and the stride byte
 * offset (next 8 M/N) cols * 16; as an MN-major operand (rows = K, cols = M or N) they are
 * cols * 16 (next 8 K) and 128 (next 8 M/N). So the K chunk [keys][KC] is the K-major B of
 * Q K^T and the MN-major A (= K^T) of the state update, from one copy. cp.async fills it: piece
 * i (16 bytes) of a tile goes to byte 16 i, so a warp writes 512 contiguous bytes.
 */
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

#if RET_WG_BODY
/* shared-memory matrix descriptor, no swizzle: start address, leading and stride byte offsets */
__device__ __forceinline__ uint64_t wg_desc(uint32_t addr, uint32_t lbo, uint32_t sbo, int swap) {
    if (swap) {
        const uint32_t x = lbo;
        lbo = sbo, sbo = x;
    }
    return (uint64_t)((addr & 0x3FFFFu) >> 4) | ((uint64_t)((lbo >> 4) & 0x3FFFu) << 16) |
           ((uint64_t)((sbo >> 4) & 0x3FFFu) << 32);
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
/* generic-proxy writes (st.shared, stmatrix, cp.async) -> visible to wgmma (async proxy) */
__device__ __forceinline__ void fence_async_smem() {
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
__device__ __forceinline__ void bar_all() { asm volatile("bar.sync 0;\n" ::: "memory"); }
__device__ __forceinline__ void bar_wg1() { asm volatile("bar.sync 1, 128;\n" ::: "memory"); }
/* four 8x8 bf16 matrices from mma-layout fragments; lane l gives the row address of matrix
 * l/8, row l%8 */
__device__ __forceinline__ void stsm_x4(uint32_t a, uint32_t r0, uint32_t r1, uint32_t r2,
                                        uint32_t r3) {
    asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(a),
                 "r"(r0), "r"(r1), "r"(r2), "r"(r3)
                 : "memory");
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

template <int KC, int VT, int NB> struct WCfg {
    static constexpr int C = 64;
    static constexpr uint32_t QBYTES = C * KC * 2, VBYTES = C * VT * 2, RBYTES = KC * VT * 2;
    static constexpr uint32_t Q_OFF = 0, K_OFF = Q_OFF + NB * QBYTES, V_OFF = K_OFF + NB * QBYTES;
    static constexpr uint32_t VZ_OFF = V_OFF + 2 * VBYTES, R_OFF = VZ_OFF + VBYTES;
    static constexpr uint32_t PW_OFF = R_OFF + 2 * RBYTES;
    static constexpr size_t SMEM = PW_OFF + 4 * (C + 4);
    static constexpr int NJ = VT / 8, MT = KC / 64;  /* n8 blocks of a row; 64-row state tiles */
    static constexpr int NCQ = KC / 8, NCV = VT / 8; /* 16-byte pieces of a Q / K row, V row */
    static constexpr int QPIECES = C * NCQ, VPIECES = C * NCV;
    static_assert(QPIECES % NTHREAD == 0 && VPIECES % NTHREAD == 0 && VPIECES % 128 == 0,
                  "load layout");
    static_assert(SMEM <= 227 * 1024, "shared memory");
    static_assert(NB == 1 || NB == 2, "buffers");
};

template <int KC, int VT, int NB>
__global__ void RET_WG_BOUNDS(NTHREAD) wg_kernel(const ChunkRun p) {
#if RET_WG_BODY
    using G = WCfg<KC, VT, NB>;
    constexpr int C = G::C;
    extern __shared__ __align__(16) unsigned char smem_raw[]; /* no swizzle: 16 is enough */
    const uint32_t s0 = smem_u32(smem_raw);
    float *pw = reinterpret_cast<float *>(smem_raw + G::PW_OFF); /* pw[i] = gamma^i, i <= C */
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
    /* top of a chunk: its loads are in and visible to wgmma, the last chunk's readers are done */
    auto top = [&](int ci) {
        cp_async_wait_all();
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
    for (int i = tid; i <= C; i += NTHREAD) pw[i] = (float)pow((double)gam, (double)i);

    const int sk = p.wg_swap & 1, smn = (p.wg_swap >> 1) & 1;
    if (wg == 0) {
        /* ---------------- warpgroup 0: the output rows rowA, rowA + 8 of each chunk -------- */
        const uint64_t dQ = wg_desc(s0 + G::Q_OFF, 128, KC * 16, sk);  /* A, K-major */
        const uint64_t dK = wg_desc(s0 + G::K_OFF, 128, KC * 16, sk);  /* B, K-major */
        const uint64_t dR = wg_desc(s0 + G::R_OFF, VT * 16, 128, smn); /* B, MN-major */
        const uint64_t dV = wg_desc(s0 + G::V_OFF, VT * 16, 128, smn); /* B, MN-major */
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
#pragma unroll
            for (int kb = 0; kb < 4; kb++)
#pragma unroll
                for (int hf = 0; hf < 2; hf++)
#pragma unroll
                    for (int rr = 0; rr < 2; rr++) {
                        const int j = 2 * kb + hf, n = rowA + 8 * rr, m = 8 * j + 2 * t4;
                        const int d0 = n - m, d1 = n - m - 1;
                        const float v0 = d0 >= 0 ? scale * pw[d0 < 0 ? 0 : d0] * acc_s[4 * j + 2 * rr] : 0.0f;
                        const float v1 = d1 >= 0 ? scale * pw[d1 < 0 ? 0 : d1] * acc_s[4 * j + 2 * rr + 1] : 0.0f;
                        pa[kb][hf * 2 + rr] = pack_bf16(v0, v1);
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
    } else {
        /* ---------------- warpgroup 1: the state tile, rows 64 mt + 16 wq + g (+8) -------- */
        const uint64_t dKt = wg_desc(s0 + G::K_OFF, KC * 16, 128, smn); /* A = K^T, MN-major */
        const uint64_t dVz = wg_desc(s0 + G::VZ_OFF, VT * 16, 128, smn); /* B, MN-major */
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
 * (A (M x K) and B (K x N) row-major bf16 in global memory, D row-major fp32):
 *   0: A K-major [m][k], B K-major [n][k]  (Q K^T)   1: A K-major, B MN-major [k][n]  (Q R)
 *   2: A MN-major [k][m], B MN-major       (K^T Vz)  3: A registers, B MN-major      (P V)
 *   4: variant 1, then D -> bf16 by wg_store_frag, read back from the core-matrix tile */
__global__ void RET_WG_BOUNDS(128) wg_selftest_kernel(int variant, int swap, const bf16 *A,
                                                      const bf16 *Bm, float *D) {
#if RET_WG_BODY
    __shared__ __align__(1024) unsigned char sm[3 * 8192];
    const uint32_t s0 = smem_u32(sm), sA = s0, sB = s0 + 8192, sD = s0 + 16384;
    const int tid = threadIdx.x, wq = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    auto core = [](int r, int c) { return ((r >> 3) * 8 + (c >> 3)) * 128 + (r & 7) * 16 + (c & 7) * 2; };
    for (int i = tid; i < 64 * 64; i += 128) {
        const int r = i >> 6, c = i & 63; /* A[r][c] = (m, k); B[r][c] = (k, n) */
        *reinterpret_cast<bf16 *>(sm + (variant == 2 ? core(c, r) : core(r, c))) = A[i];
        *reinterpret_cast<bf16 *>(sm + 8192 + (variant == 0 ? core(c, r) : core(r, c))) = Bm[i];
    }
    fence_async_smem();
    __syncthreads();
    const int sk = swap & 1, smn = (swap >> 1) & 1;
    float d[32];
#pragma unroll
    for (int i = 0; i < 32; i++) d[i] = 0.0f;
    wg_fence();
    if (variant == 0) {
        const uint64_t da = wg_desc(sA, 128, 1024, sk), db = wg_desc(sB, 128, 1024, sk);
#pragma unroll
        for (int kk = 0; kk < 4; kk++) wg_ss<64, 0, 0>(d, wg_at(da, kk * 256), wg_at(db, kk * 256), 1);
    } else if (variant == 1 || variant == 4) {
        const uint64_t da = wg_desc(sA, 128, 1024, sk), db = wg_desc(sB, 1024, 128, smn);
#pragma unroll
        for (int kk = 0; kk < 4; kk++) wg_ss<64, 0, 1>(d, wg_at(da, kk * 256), wg_at(db, kk * 2048), 1);
    } else if (variant == 2) {
        const uint64_t da = wg_desc(sA, 1024, 128, smn), db = wg_desc(sB, 1024, 128, smn);
#pragma unroll
        for (int kk = 0; kk < 4; kk++) wg_ss<64, 1, 1>(d, wg_at(da, kk * 2048), wg_at(db, kk * 2048), 1);
    } else {
        const uint64_t db = wg_desc(sB, 1024, 128, smn);
        const int r = wq * 16 + g;
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            const int c = kk * 16 + 2 * t4;
            uint32_t a[4];
            a[0] = *reinterpret_cast<const uint32_t *>(A + r * 64 + c);
            a[1] = *reinterpret_cast<const uint32_t *>(A + (r + 8) * 64 + c);
            a[2] = *reinterpret_cast<const uint32_t *>(A + r * 64 + c + 8);
            a[3] = *reinterpret_cast<const uint32_t *>(A + (r + 8) * 64 + c + 8);
            wg_fence();
            wg_rs<64, 1>(d, a, wg_at(db, kk * 2048), 1);
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
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int e = 0; e < 4; e++)
            D[(wq * 16 + g + (e >> 1) * 8) * 64 + 8 * j + 2 * t4 + (e & 1)] = d[4 * j + e];
#endif
}

/* ==================================================================================== */
/* the decode step                                                                      */

/* Block: 64 columns of one (b, h); 16 lanes x float4 per row, 16 row groups. */
constexpr int STEP_COLS = 64, STEP_RG = 16, STEP_UNROLL = 8;

__global__ void __launch_bounds__(256) step_kernel(int H, int dk, int dv, const bf16 *q,
                                                   const bf16 *k, const bf16 *v,
                                                   const float *gamma, float scale, float *S,
                                                   void *o, int o_f32) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    float *qs = reinterpret_cast<float *>(smem_raw), *ks = qs + dk;
    float *red = ks + dk; /* [STEP_RG][STEP_COLS] */
    const int tid = threadIdx.x, c4 = tid & 15, rg = tid >> 4;
    const int h = blockIdx.y, b = blockIdx.z, col = blockIdx.x * STEP_COLS + c4 * 4;
    const int64_t bh = (int64_t)b * H + h;
    for (int i = tid; i < dk; i += blockDim.x) {
        qs[i] = __bfloat162float(q[bh * dk + i]);
        ks[i] = __bfloat162float(k[bh * dk + i]);
    }
    __syncthreads();
    const float gam = gamma[h];
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    if (col < dv) {
        const uint2 vraw = *reinterpret_cast<const uint2 *>(v + bh * dv + col);
        const float2 v01 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&vraw.x));
        const float2 v23 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&vraw.y));
        float *Sb = S + bh * dk * dv + col;
        for (int i0 = rg; i0 < dk; i0 += STEP_RG * STEP_UNROLL) {
            float4 s[STEP_UNROLL];
#pragma unroll
            for (int u = 0; u < STEP_UNROLL; u++) {
                const int i = i0 + u * STEP_RG;
                if (i < dk) s[u] = __ldcs(reinterpret_cast<const float4 *>(Sb + (int64_t)i * dv));
            }
#pragma unroll
            for (int u = 0; u < STEP_UNROLL; u++) {
                const int i = i0 + u * STEP_RG;
                if (i < dk) {
                    const float kk = ks[i], qq = qs[i];
                    s[u].x = gam * s[u].x + kk * v01.x;
                    s[u].y = gam * s[u].y + kk * v01.y;
                    s[u].z = gam * s[u].z + kk * v23.x;
                    s[u].w = gam * s[u].w + kk * v23.y;
                    __stcs(reinterpret_cast<float4 *>(Sb + (int64_t)i * dv), s[u]);
                    acc.x += qq * s[u].x, acc.y += qq * s[u].y;
                    acc.z += qq * s[u].z, acc.w += qq * s[u].w;
                }
            }
        }
    }
    *reinterpret_cast<float4 *>(red + rg * STEP_COLS + c4 * 4) = acc;
    __syncthreads();
    if (tid < STEP_COLS) {
        const int c = blockIdx.x * STEP_COLS + tid;
        if (c < dv) {
            float sum = 0.0f;
            for (int r = 0; r < STEP_RG; r++) sum += red[r * STEP_COLS + tid];
            sum *= scale;
            if (o_f32)
                ((float *)o)[bh * dv + c] = sum;
            else
                ((bf16 *)o)[bh * dv + c] = __float2bfloat16_rn(sum);
        }
    }
}

/* ==================================================================================== */
/* host side                                                                            */

static int g_lab_vt = 0, g_lab_flags = 0, g_lab_path = 0, g_lab_wgswap = 0;
extern "C" void retention_cuda_lab_set_tile(int vt) { g_lab_vt = vt; }
extern "C" void retention_cuda_lab_set_flags(int flags) { g_lab_flags = flags; }
extern "C" void retention_cuda_lab_set_path(int path) { g_lab_path = path; }
extern "C" void retention_cuda_lab_set_wgswap(int mask) { g_lab_wgswap = mask; }

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
static int wg_available(void) {
    static int ok = -1;
    if (ok < 0) {
        int dev = 0, major = 0, minor = 0;
        cudaFuncAttributes fa;
        ok = cudaGetDevice(&dev) == cudaSuccess &&
             cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
             cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess &&
             major == 9 && minor == 0 &&
             cudaFuncGetAttributes(&fa, wg_kernel<64, 64, 2>) == cudaSuccess &&
             fa.maxThreadsPerBlock >= NTHREAD;
        (void)cudaGetLastError();
    }
    return ok;
}
extern "C" int retention_cuda_lab_have_wgmma(void) { return wg_available(); }

template <int KC, int VT, int NB> static int launch_wg(const ChunkRun &r, cudaStream_t s) {
    using G = WCfg<KC, VT, NB>;
    static bool attr = false; /* per instantiation */
    if (!attr) {
        CUDA_OK(cudaFuncSetAttribute(wg_kernel<KC, VT, NB>,
                                     cudaFuncAttributeMaxDynamicSharedMemorySize, (int)G::SMEM),
                "cudaFuncSetAttribute (wg_kernel shared memory)");
        attr = true;
    }
    dim3 grid((r.Vo + VT - 1) / VT, r.H, r.B);
    wg_kernel<KC, VT, NB><<<grid, NTHREAD, G::SMEM, s>>>(r);
    CUDA_OK(cudaGetLastError(), "wg_kernel launch");
    return 0;
}

extern "C" int retention_cuda_lab_wgmma_selftest(int variant, int swap, const void *a,
                                                 const void *b, float *d, void *stream) {
    if (!wg_available()) return fail("retention_cuda_lab_wgmma_selftest: no wgmma kernel here");
    wg_selftest_kernel<<<1, 128, 0, (cudaStream_t)stream>>>(variant, swap, (const bf16 *)a,
                                                           (const bf16 *)b, d);
    CUDA_OK(cudaGetLastError(), "wg_selftest_kernel launch");
    return 0;
}

/* The contraction width picks the instantiation (padded up); the tile width is 64 unless
 * that leaves SMs idle (32 doubles the blocks) or the state would not fit the registers.
 * Hopper (wgmma) first; mma.sync elsewhere, or when the lab asks (path 1). */
static int run_chunk(ChunkRun r, cudaStream_t s) {
    r.lab = g_lab_flags;
    r.wg_swap = g_lab_wgswap;
    const int kc = r.Kc <= 64 ? 64 : r.Kc <= 128 ? 128 : r.Kc <= 256 ? 256 : 512;
    int vt = 64;
    if (kc == 512)
        vt = 32;
    else if (g_lab_vt == 32 || g_lab_vt == 64)
        vt = g_lab_vt;
    else if ((int64_t)r.B * r.H * ((r.Vo + 63) / 64) < (int64_t)sm_count() * 9 / 10)
        vt = 32;
    if (g_lab_path == 2 && !wg_available())
        return fail("retention_cuda: the wgmma path was asked for, but is not built for this device");
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

extern "C" int retention_cuda_forward(int B, int T, int H, int dk, int dv, const void *q,
                                      const void *k, const void *v, const float *gamma,
                                      float scale, const float *state_in, float *state_out,
                                      void *o, int o_dtype, cudaStream_t stream) {
    const char *fn = "retention_cuda_forward";
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
    if (!r.o && !r.s_final) return 0;
    return run_chunk(r, stream);
}

extern "C" int retention_cuda_backward(int B, int T, int H, int dk, int dv, const void *q,
                                       const void *k, const void *v, const float *gamma,
                                       float scale, const float *state_in, const void *dout,
                                       const float *dstate_out, void *dq, void *dk_, void *dv_,
                                       int grad_dtype, int accumulate, float *dstate_in,
                                       cudaStream_t stream) {
    const char *fn = "retention_cuda_backward";
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
        if (run_chunk(r, stream)) return 1;
    }
    /* dk = run(V, dO, Q), backward in time, initial state dS_T^T / (scale gamma) */
    if (dk_) {
        ChunkRun r = base_run(B, T, H, scale, gamma);
        r.Kc = dv, r.Vo = dk, r.reverse = 1, r.grad_state = 1;
        SET_BTHD(r, q, v, dv);
        SET_BTHD(r, k, dout, dv);
        SET_BTHD(r, v, q, dk);
        r.o = dk_, r.so_b = (int64_t)T * H * dk, r.so_t = (int64_t)H * dk, r.so_h = dk;
        r.o_f32 = f32, r.o_acc = accumulate;
        r.s_init = dstate_out, r.si_b = sb, r.si_h = sh, r.si_k = 1, r.si_v = dv;
        if (run_chunk(r, stream)) return 1;
    }
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

extern "C" int retention_cuda_step(int B, int H, int dk, int dv, const void *q, const void *k,
                                   const void *v, const float *gamma, float scale, float *state,
                                   void *o, int o_dtype, cudaStream_t stream) {
    const char *fn = "retention_cuda_step";
    if (check_common(fn, B, H, dk, dv, gamma)) return 1;
    if (!q || !k || !v || !state || !o) return fail("%s: q, k, v, state and o are required", fn);
    if (!aligned16(state) || ((uintptr_t)v & 7))
        return fail("%s: state must be 16-byte and v 8-byte aligned", fn);
    if (o_dtype != RETNET_CUDA_F32 && o_dtype != RETNET_CUDA_BF16)
        return fail("%s: o_dtype %d is neither RETNET_CUDA_F32 nor RETNET_CUDA_BF16", fn, o_dtype);
    if (scale <= 0.0f) scale = 1.0f / sqrtf((float)dk);
    dim3 grid((dv + STEP_COLS - 1) / STEP_COLS, H, B);
    const size_t smem = sizeof(float) * (2 * dk + STEP_RG * STEP_COLS);
    step_kernel<<<grid, 256, smem, stream>>>(H, dk, dv, (const bf16 *)q, (const bf16 *)k,
                                             (const bf16 *)v, gamma, scale, state, o,
                                             o_dtype == RETNET_CUDA_F32);
    CUDA_OK(cudaGetLastError(), "step_kernel launch");
    return 0;
}
