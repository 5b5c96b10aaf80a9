/*
 * dev/cuda/retention_v1.cu: version 1 of src/cuda/retention.cu, kept for the lab (METHOD.md:
 * a copy of each version that mattered). Same algorithm and fragment layout as the promoted
 * version; addresses computed per access, runtime-bounded loops, one accumulator chain per
 * O tile. Measured in bench/gpu/retention-h200.md (table "two versions"). Build beside the
 * promoted one:  SRC=dev/cuda/retention_v1.cu dev/cuda/build.sh build/ret-cuda-v1
 * (then RETNET_CUDA_LIB=build/ret-cuda-v1/libretention_cuda.so for the lab and the probe).
 */
/*
 * retention.cu: retention on the GPU (API and conventions in retention.h; the math in
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
__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(p))
                 : "memory");
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(p))
                 : "memory");
}
__device__ __forceinline__ void ldsm_x2_t(uint32_t &r0, uint32_t &r1, const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r0), "=r"(r1)
                 : "r"(smem_u32(p))
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
__device__ __forceinline__ void cp_async16(void *dst, const void *src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(dst)),
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
                       first chunk, 2 no phase-1 products, 4 no state update, 8 no O stores */
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
    bf16 *sQ = sm + G::Q_OFF, *sK = sm + G::K_OFF, *sV = sm + G::V_OFF;
    bf16 *sVz = sm + G::VZ_OFF, *sS = sm + G::S_OFF, *sA = sm + G::A_OFF;
    float *pw = reinterpret_cast<float *>(sm + G::END); /* pw[i] = gamma^i, i = 0..C */

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t4 = lane & 3;
    const int vo0 = blockIdx.x * VT, h = blockIdx.y, b = blockIdx.z;
    const int T = p.T, Kc = p.Kc, Vo = p.Vo;
    const float gam = p.gamma[h], scale = p.scale;
    const int nchunk = (T + C - 1) / C;
    const int nk16 = (Kc + 15) / 16; /* contraction steps that are not all padding */

    const bf16 *qb = p.q + b * p.sq_b + h * p.sq_h;
    const bf16 *kb = p.k + b * p.sk_b + h * p.sk_h;
    const bf16 *vb = p.v + b * p.sv_b + h * p.sv_h + vo0;

    /* chunk ci (in processing order) -> buffer: rows past the sequence and columns past
     * Kc / Vo are zero-filled, so they add nothing anywhere */
    auto load_chunk = [&](int ci, int buf) {
        const int c0 = ci * C;
        for (int i = tid; i < C * (KC / 8); i += NTHREAD) {
            const int j = i / (KC / 8), c = (i % (KC / 8)) * 8, pos = c0 + j;
            const bool ok = pos < T && c < Kc;
            const int64_t tt = p.reverse ? (int64_t)(T - 1 - pos) : (int64_t)pos;
            cp_async16(sQ + (buf * C + j) * G::QP + c, ok ? qb + tt * p.sq_t + c : p.q, ok ? 16 : 0);
            cp_async16(sK + (buf * C + j) * G::QP + c, ok ? kb + tt * p.sk_t + c : p.k, ok ? 16 : 0);
        }
        for (int i = tid; i < C * (VT / 8); i += NTHREAD) {
            const int j = i / (VT / 8), c = (i % (VT / 8)) * 8, pos = c0 + j;
            const bool ok = pos < T && vo0 + c < Vo;
            const int64_t tt = p.reverse ? (int64_t)(T - 1 - pos) : (int64_t)pos;
            cp_async16(sV + (buf * C + j) * G::VP + c, ok ? vb + tt * p.sv_t + c : p.v, ok ? 16 : 0);
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
    auto store_state_bf16 = [&]() {
#pragma unroll
        for (int mi = 0; mi < G::SMT; mi++)
#pragma unroll
            for (int ni = 0; ni < G::SNT; ni++) {
                const int r = (sm0 + mi) * 16 + g, c = (sn0 + ni) * 8 + 2 * t4;
                *reinterpret_cast<uint32_t *>(sS + r * G::VP + c) =
                    pack_bf16(sacc[mi][ni][0], sacc[mi][ni][1]);
                *reinterpret_cast<uint32_t *>(sS + (r + 8) * G::VP + c) =
                    pack_bf16(sacc[mi][ni][2], sacc[mi][ni][3]);
            }
    };
    store_state_bf16();

    /* O and A tiles of this warp: row block rb, column group cg */
    const int rb = warp % G::RB, cg = warp / G::RB;
    const int ocol0 = cg * G::OCOLS; /* first O column of the warp, within the tile */

    for (int ci = 0; ci < nchunk; ci++) {
        const int c0 = ci * C, L = min(C, T - c0), buf = ci & 1;
        const bf16 *cQ = sQ + buf * C * G::QP, *cK = sK + buf * C * G::QP;
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

        float oacc[G::ONT][4];
        float aacc[G::MAXJB][2][4];
#pragma unroll
        for (int n = 0; n < G::ONT; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) oacc[n][e] = 0.0f;
#pragma unroll
        for (int jb = 0; jb < G::MAXJB; jb++)
#pragma unroll
            for (int e = 0; e < 4; e++) aacc[jb][0][e] = aacc[jb][1][e] = 0.0f;

        const bool row_live = rb * 16 < L;
#pragma unroll 2
        for (int kk = 0; kk < (row_live && !(p.lab & 2) ? nk16 : 0); kk++) {
            uint32_t qa[4];
            ldsm_x4(qa, cQ + (rb * 16 + (lane & 15)) * G::QP + kk * 16 + (lane >> 4) * 8);
            /* O = Q R: R (Kc x VT) stored [k][n] -> B fragments by ldmatrix.trans */
            if constexpr (G::ONT == 1) {
                uint32_t b0, b1;
                ldsm_x2_t(b0, b1, sS + (kk * 16 + (lane & 15)) * G::VP + ocol0);
                mma16816(oacc[0], qa, b0, b1);
            } else {
#pragma unroll
                for (int pn = 0; pn < G::ONT / 2; pn++) {
                    uint32_t bb[4];
                    ldsm_x4_t(bb, sS + (kk * 16 + (lane & 15)) * G::VP + ocol0 + pn * 16 +
                                      (lane >> 4) * 8);
                    mma16816(oacc[2 * pn], qa, bb[0], bb[1]);
                    mma16816(oacc[2 * pn + 1], qa, bb[2], bb[3]);
                }
            }
            /* A = Q K^T: K stored [n = key][k] -> B fragments by plain ldmatrix */
#pragma unroll
            for (int jb = 0; jb < G::MAXJB; jb++) {
                const int j = cg + jb * G::NG;
                if (j <= rb) {
                    uint32_t bb[4];
                    ldsm_x4(bb, cK + (j * 16 + (lane & 7) + ((lane >> 4) << 3)) * G::QP +
                                    kk * 16 + ((lane >> 3) & 1) * 8);
                    mma16816(aacc[jb][0], qa, bb[0], bb[1]);
                    mma16816(aacc[jb][1], qa, bb[2], bb[3]);
                }
            }
        }
        /* O rows times scale xi; A times scale D -> sA (bf16) */
        const int r0 = rb * 16 + g;
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
            for (int kb16 = 0; kb16 <= rb; kb16++) {
                uint32_t af[4];
                ldsm_x4(af, sA + (rb * 16 + (lane & 15)) * G::AP + kb16 * 16 + (lane >> 4) * 8);
                if constexpr (G::ONT == 1) {
                    uint32_t b0, b1;
                    ldsm_x2_t(b0, b1, cV + (kb16 * 16 + (lane & 15)) * G::VP + ocol0);
                    mma16816(oacc[0], af, b0, b1);
                } else {
#pragma unroll
                    for (int pn = 0; pn < G::ONT / 2; pn++) {
                        uint32_t bb[4];
                        ldsm_x4_t(bb, cV + (kb16 * 16 + (lane & 15)) * G::VP + ocol0 + pn * 16 +
                                          (lane >> 4) * 8);
                        mma16816(oacc[2 * pn], af, bb[0], bb[1]);
                        mma16816(oacc[2 * pn + 1], af, bb[2], bb[3]);
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
         * B = zeta ⊙ V stored [k = key][n] (ldmatrix.trans) */
        {
            const float gl = pw[L];
#pragma unroll
            for (int mi = 0; mi < G::SMT; mi++)
#pragma unroll
                for (int ni = 0; ni < G::SNT; ni++)
#pragma unroll
                    for (int e = 0; e < 4; e++) sacc[mi][ni][e] *= gl;
            const int nkb = (p.lab & 4) ? 0 : (L + 15) / 16;
            for (int kb16 = 0; kb16 < nkb; kb16++) {
                uint32_t bz[G::SNT / 2][4];
#pragma unroll
                for (int pn = 0; pn < G::SNT / 2; pn++)
                    ldsm_x4_t(bz[pn], sVz + (kb16 * 16 + (lane & 15)) * G::VP +
                                          (sn0 + 2 * pn) * 8 + (lane >> 4) * 8);
#pragma unroll
                for (int mi = 0; mi < G::SMT; mi++) {
                    if ((sm0 + mi) * 16 >= Kc) continue;
                    uint32_t af[4];
                    ldsm_x4_t(af, cK + (kb16 * 16 + (lane & 7) + ((lane >> 4) << 3)) * G::QP +
                                      (sm0 + mi) * 16 + ((lane >> 3) & 1) * 8);
#pragma unroll
                    for (int ni = 0; ni < G::SNT; ni++)
                        mma16816(sacc[mi][ni], af, bz[ni >> 1][(ni & 1) * 2],
                                 bz[ni >> 1][(ni & 1) * 2 + 1]);
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

static int g_lab_vt = 0, g_lab_flags = 0;
extern "C" void retention_cuda_lab_set_tile(int vt) { g_lab_vt = vt; }
extern "C" void retention_cuda_lab_set_flags(int flags) { g_lab_flags = flags; }

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

/* The contraction width picks the instantiation (padded up); the tile width is 64 unless
 * that leaves SMs idle (32 doubles the blocks) or the state would not fit the registers. */
static int run_chunk(ChunkRun r, cudaStream_t s) {
    r.lab = g_lab_flags;
    const int kc = r.Kc <= 64 ? 64 : r.Kc <= 128 ? 128 : r.Kc <= 256 ? 256 : 512;
    int vt = 64;
    if (kc == 512)
        vt = 32;
    else if (g_lab_vt == 32 || g_lab_vt == 64)
        vt = g_lab_vt;
    else if ((int64_t)r.B * r.H * ((r.Vo + 63) / 64) < (int64_t)sm_count() * 9 / 10)
        vt = 32;
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
