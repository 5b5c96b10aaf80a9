/*
 * attention.cu: the Transformer baseline's KV cache and causal softmax attention on the
 * device (attention.h has the contract: layouts, positions, the two kernels and when each
 * runs, scratch). Three kernels and a combine:
 *
 *   append  k, v fp32 rows -> the bf16 cache at each sequence's positions (4 values a
 *           thread: one 16-byte read, one 8-byte write).
 *   split   flash-decoding (Dao, Haziza, Massa, Sizov 2023): the keys of one (row, head)
 *           are cut into splits, one thread block each, so that a decoding step of a few
 *           sequences still fills the GPU. In a block (128 threads) a group of G = 8, 16 or
 *           32 threads (dk, dv <= 64, 128, 256) owns one key at a time: each thread reads 8
 *           bf16 of the key and 8 of the value (16 bytes each, the group's loads one
 *           contiguous row of the head), so a warp's loads are whole 128-byte lines; every
 *           thread has U keys and values in flight before it uses the first. The group's
 *           dot product is a butterfly of shuffles (every lane gets the same sum), then the
 *           group's online softmax: one rescale per U keys. The groups of a block, then the
 *           splits of a row (the combine kernel) are merged in index order: fixed, whatever
 *           the timing. Scores are kept in log2 units (q times scale log2(e), exp2f): the
 *           same function as exp(scale q.k - max) with one multiplication folded into q.
 *   tiled   FlashAttention-2 (Dao 2023, Algorithm 1) on the tensor cores: a block of 4 warps
 *           takes 64 queries of one (sequence, head), 16 per warp, q in registers as bf16
 *           A fragments; key and value tiles of 64 positions are copied to shared memory by
 *           cp.async, two buffers deep (the next tile loads while this one is used), rows
 *           padded by 16 bytes so that ldmatrix reads are free of bank conflicts. S = Q K^T
 *           and O += P V are mma.sync m16n8k16 (bf16 x bf16 -> fp32); the score accumulators
 *           are already in the A-fragment layout of the P V product (FA2's register reuse),
 *           so P goes from registers to the tensor cores without shared memory. Tiles past
 *           a block's last query are never loaded; masking is applied only where a tile
 *           reaches past the first row of a warp. Query blocks run heaviest first.
 *
 * Positions beyond what a row may see are never read by the split kernel, and are read as
 * zeros (cp.async zero-fill) by the tiled one, so unwritten cache memory (NaN or garbage)
 * never reaches an output.
 */
#include <math.h>
#include <string.h>

#include "cuda/common.cuh"
#include "cuda/attention.h"
#include "cuda/mbar.cuh" /* smem_u32, cp.async */

#define NS_MAX 64         /* splits of one row at most */
#define MIN_SPLIT 128     /* keys of a split at least */
#define SPLIT_THREADS 128
#define ROWS_H_MAX 4096   /* (row, head) pairs per launch of the split kernel */
#define TQ 64             /* tiled: queries per block (4 warps x 16) */
#define TK 64             /* tiled: keys per tile */

static int lab_path, lab_unroll;

void cuda_attention_lab_set_path(int path) { lab_path = path; }
void cuda_attention_lab_set_unroll(int keys) { lab_unroll = keys; }

int64_t cuda_attention_cache_bytes(int64_t B, int64_t C, int H, int dk, int dv) {
    return 2 * B * C * (int64_t)H * (dk + dv);
}

/* Keys per split of a row that sees n keys: a function of n alone (attention.h). */
__host__ __device__ static inline int64_t split_len(int64_t n) {
    int64_t per = (n + NS_MAX - 1) / NS_MAX, L = MIN_SPLIT;
    while (L < per) L <<= 1;
    return L;
}
__host__ __device__ static inline int n_splits(int64_t n) {
    const int64_t L = split_len(n);
    return (int)((n + L - 1) / L);
}
/* The most splits of any row of length <= n (n_splits is not monotonic past 64 MIN_SPLIT). */
static int max_splits(int64_t n) {
    return n >= (int64_t)NS_MAX * MIN_SPLIT ? NS_MAX : (int)((n + MIN_SPLIT - 1) / MIN_SPLIT);
}


/* ==================================================================================== */
/* append */

__global__ void attn_append(uint16_t *__restrict__ kc, uint16_t *__restrict__ vc,
                            const float *__restrict__ k, const float *__restrict__ v,
                            const int64_t *__restrict__ pos, int64_t B, int64_t T, int64_t nk4,
                            int64_t nv4, int64_t C) {
    const int64_t per = nk4 + nv4, total = B * T * per;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t row = i / per, c4 = i % per, b = row / T, t = row % T;
        const int64_t p0 = pos[b];
        if (p0 < 0 || p0 > C - T) continue; /* refused: nothing written (attention.h) */
        const int64_t dst = b * C + p0 + t;
        float4 x;
        uint16_t *out;
        if (c4 < nk4) {
            x = reinterpret_cast<const float4 *>(k)[row * nk4 + c4];
            out = kc + (dst * nk4 + c4) * 4;
        } else {
            x = reinterpret_cast<const float4 *>(v)[row * nv4 + (c4 - nk4)];
            out = vc + (dst * nv4 + (c4 - nk4)) * 4;
        }
        uint2 w;
        w.x = f32_to_bf16_bits(x.x) | (uint32_t)f32_to_bf16_bits(x.y) << 16;
        w.y = f32_to_bf16_bits(x.z) | (uint32_t)f32_to_bf16_bits(x.w) << 16;
        *reinterpret_cast<uint2 *>(out) = w;
    }
}

/* ==================================================================================== */
/* split (flash-decoding) */

/*
 * Block (rh, s): rh = local row * H + head of rows row0.., s the split. Writes the split's
 * max m (log2 units), sum l = sum exp2(score - m) and unnormalised output acc (dv) to
 * part_ml[(rh NS + s) 2 + {0, 1}] and part_acc[(rh NS + s) dv ..].
 */
template <int G, int U>
__global__ void __launch_bounds__(SPLIT_THREADS)
attn_split(const float *__restrict__ q, const uint16_t *__restrict__ kc,
           const uint16_t *__restrict__ vc, const int64_t *__restrict__ pos, int64_t row0,
           int64_t T, int H, int dk, int dv, int64_t C, float qscale, int NS,
           float *__restrict__ part_ml, float *__restrict__ part_acc) {
    constexpr int NG = SPLIT_THREADS / G; /* key groups in the block */
    __shared__ float sm[NG], sl[NG], sf[NG];
    __shared__ float sacc[NG][8 * G];

    const int64_t rh = blockIdx.x;
    const int h = (int)(rh % H);
    const int64_t row = row0 + rh / H, b = row / T, t = row % T;
    const int64_t p0 = pos[b];
    if (p0 < 0 || p0 > C - T) return; /* the combine writes NaN */
    const int64_t n = p0 + t + 1, L = split_len(n), j0 = (int64_t)blockIdx.y * L;
    if (j0 >= n) return;              /* beyond this row's splits: not read */
    const int64_t j1 = j0 + L < n ? j0 + L : n;

    const int lg = threadIdx.x % G, g = threadIdx.x / G;
    const bool kon = 8 * lg < dk, von = 8 * lg < dv;
    const int64_t ldk = (int64_t)H * dk, ldv = (int64_t)H * dv;
    float qr[8];
    if (kon) {
        const float4 *qp = reinterpret_cast<const float4 *>(q + row * ldk + (int64_t)h * dk + 8 * lg);
        const float4 a = qp[0], c = qp[1];
        qr[0] = a.x * qscale, qr[1] = a.y * qscale, qr[2] = a.z * qscale, qr[3] = a.w * qscale;
        qr[4] = c.x * qscale, qr[5] = c.y * qscale, qr[6] = c.z * qscale, qr[7] = c.w * qscale;
    } else {
#pragma unroll
        for (int i = 0; i < 8; i++) qr[i] = 0.0f;
    }
    const uint16_t *kp = kc + b * C * ldk + (int64_t)h * dk + 8 * lg;
    const uint16_t *vp = vc + b * C * ldv + (int64_t)h * dv + 8 * lg;

    float m = -INFINITY, l = 0.0f, acc[8];
#pragma unroll
    for (int i = 0; i < 8; i++) acc[i] = 0.0f;
    for (int64_t base = j0; base < j1; base += NG * U) {
        uint4 kr[U], vr[U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int64_t j = base + u * NG + g;
            const bool ok = j < j1;
            kr[u] = ok && kon ? __ldg(reinterpret_cast<const uint4 *>(kp + j * ldk)) : make_uint4(0, 0, 0, 0);
            vr[u] = ok && von ? __ldg(reinterpret_cast<const uint4 *>(vp + j * ldv)) : make_uint4(0, 0, 0, 0);
        }
        float sc[U], mb = m;
#pragma unroll
        for (int u = 0; u < U; u++) {
            float kf[8];
            unpack8(kr[u], kf);
            float d = 0.0f;
#pragma unroll
            for (int i = 0; i < 8; i++) d = fmaf(qr[i], kf[i], d);
#pragma unroll
            for (int o = G / 2; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
            sc[u] = base + u * NG + g < j1 ? d : -INFINITY;
            mb = fmaxf(mb, sc[u]);
        }
        if (mb != -INFINITY) { /* the group has seen a key (uniform within the group) */
            const float alpha = exp2f(m - mb); /* 0 for the first keys (m = -inf) */
            l *= alpha;
#pragma unroll
            for (int i = 0; i < 8; i++) acc[i] *= alpha;
#pragma unroll
            for (int u = 0; u < U; u++) {
                const float pu = exp2f(sc[u] - mb);
                float vf[8];
                unpack8(vr[u], vf);
                l += pu;
#pragma unroll
                for (int i = 0; i < 8; i++) acc[i] = fmaf(pu, vf[i], acc[i]);
            }
            m = mb;
        }
    }

    /* the block's groups, in index order (group 0 has key j0, so M is finite) */
    if (lg == 0) sm[g] = m, sl[g] = l;
#pragma unroll
    for (int i = 0; i < 8; i++) sacc[g][8 * lg + i] = acc[i];
    __syncthreads();
    float M = -INFINITY;
    for (int k = 0; k < NG; k++) M = fmaxf(M, sm[k]);
    if (threadIdx.x < NG) sf[threadIdx.x] = exp2f(sm[threadIdx.x] - M); /* 0 for empty groups */
    __syncthreads();
    const int64_t slot = rh * NS + blockIdx.y;
    for (int c = threadIdx.x; c < dv; c += SPLIT_THREADS) {
        float a = 0.0f;
        for (int k = 0; k < NG; k++) a = fmaf(sf[k], sacc[k][c], a);
        part_acc[slot * dv + c] = a;
    }
    if (threadIdx.x == 0) {
        float ls = 0.0f;
        for (int k = 0; k < NG; k++) ls = fmaf(sf[k], sl[k], ls);
        part_ml[2 * slot] = M, part_ml[2 * slot + 1] = ls;
    }
}

/* One block per (row, head): o = sum_s exp2(m_s - M) acc_s / sum_s exp2(m_s - M) l_s, the
 * splits in index order. */
__global__ void __launch_bounds__(SPLIT_THREADS)
attn_combine(float *__restrict__ o, const float *__restrict__ part_ml,
             const float *__restrict__ part_acc, const int64_t *__restrict__ pos, int64_t row0,
             int64_t T, int H, int dv, int64_t C, int NS) {
    __shared__ float sf[NS_MAX];
    const int64_t rh = blockIdx.x;
    const int h = (int)(rh % H);
    const int64_t row = row0 + rh / H, b = row / T, t = row % T;
    float *out = o + row * (int64_t)H * dv + (int64_t)h * dv;
    const int64_t p0 = pos[b];
    if (p0 < 0 || p0 > C - T) { /* outside the cache: NaN (attention.h) */
        for (int c = threadIdx.x; c < dv; c += SPLIT_THREADS) out[c] = NAN;
        return;
    }
    const int ns = n_splits(p0 + t + 1);
    const float *ml = part_ml + 2 * rh * NS;
    float M = -INFINITY;
    for (int s = 0; s < ns; s++) M = fmaxf(M, ml[2 * s]);
    if (threadIdx.x < ns) sf[threadIdx.x] = exp2f(ml[2 * threadIdx.x] - M);
    __syncthreads();
    float L = 0.0f;
    for (int s = 0; s < ns; s++) L = fmaf(sf[s], ml[2 * s + 1], L);
    const float *acc = part_acc + rh * NS * (int64_t)dv;
    for (int c = threadIdx.x; c < dv; c += SPLIT_THREADS) {
        float a = 0.0f;
        for (int s = 0; s < ns; s++) a = fmaf(sf[s], acc[(int64_t)s * dv + c], a);
        out[c] = a / L;
    }
}

/* ==================================================================================== */
/* tiled (tensor cores) */

/* two floats -> bf16x2 (round to nearest even), lo in the low half */
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    const uint32_t a = f32_to_bf16_bits(lo), b = f32_to_bf16_bits(hi);
    return a | b << 16;
}
__device__ __forceinline__ void ldsm_x4(uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3,
                                        uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t &r0, uint32_t &r1, uint32_t &r2,
                                          uint32_t &r3, uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}
/* d (16x8 fp32) += a (16x16 bf16, row) b (16x8 bf16, col) */
__device__ __forceinline__ void mma16816(float *d, const uint32_t *a, uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <int D> constexpr size_t tiled_smem() { return (size_t)2 * 2 * TK * (D + 8) * 2; }

/*
 * D: the padded head width (64 or 128) for both dk and dv. Fragment layouts of
 * m16n8k16 (g = lane / 4, c = lane % 4): A regs (row g, cols 2c..), (row g+8, 2c..),
 * (row g, 2c+8..), (row g+8, 2c+8..); B regs (k 2c.., n g), (k 2c+8.., n g); C/D
 * (row g, cols 2c, 2c+1), (row g+8, cols 2c, 2c+1).
 */
template <int D>
__global__ void __launch_bounds__(128)
attn_tiled(const float *__restrict__ q, const uint16_t *__restrict__ kc,
           const uint16_t *__restrict__ vc, float *__restrict__ o,
           const int64_t *__restrict__ pos, int64_t T, int H, int dk, int dv, int64_t C,
           float qscale) {
    constexpr int LD = D + 8, CH = D / 8, KT = D / 16, NT = TK / 8, DT = D / 8;
    extern __shared__ __align__(16) uint16_t smem[]; /* [buffer][K, V][TK][LD] */
    const int64_t t0 = (int64_t)(gridDim.x - 1 - blockIdx.x) * TQ;
    const int h = blockIdx.y;
    const int64_t b = blockIdx.z;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    const int64_t ldk = (int64_t)H * dk, ldv = (int64_t)H * dv;
    const int64_t p0 = pos[b];
    float *ob = o + b * T * ldv + (int64_t)h * dv;
    if (p0 < 0 || p0 > C - T) { /* outside the cache: NaN (attention.h) */
        for (int i = threadIdx.x; i < TQ * dv; i += 128) {
            const int64_t t = t0 + i / dv;
            if (t < T) ob[t * ldv + i % dv] = NAN;
        }
        return;
    }
    const int64_t kend = p0 + (t0 + TQ - 1 < T - 1 ? t0 + TQ - 1 : T - 1); /* last key needed */
    const int ntiles = (int)(kend / TK) + 1;
    const int64_t r0 = t0 + warp * 16 + g, r1 = r0 + 8;

    /* q * scale log2(e) as bf16 A fragments, zero past T and past dk */
    uint32_t qf[KT][4];
    const float *qb = q + b * T * ldk + (int64_t)h * dk;
#pragma unroll
    for (int kk = 0; kk < KT; kk++) {
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            const int col = kk * 16 + 2 * c + 8 * hf;
            float2 x0 = make_float2(0.0f, 0.0f), x1 = x0;
            if (col < dk) {
                if (r0 < T) x0 = *reinterpret_cast<const float2 *>(qb + r0 * ldk + col);
                if (r1 < T) x1 = *reinterpret_cast<const float2 *>(qb + r1 * ldk + col);
            }
            qf[kk][2 * hf] = pack_bf16(x0.x * qscale, x0.y * qscale);
            qf[kk][2 * hf + 1] = pack_bf16(x1.x * qscale, x1.y * qscale);
        }
    }

    const uint16_t *kbase = kc + b * C * ldk + (int64_t)h * dk;
    const uint16_t *vbase = vc + b * C * ldv + (int64_t)h * dv;
    auto load_tile = [&](int kt, int buf) {
        uint16_t *Ks = smem + (size_t)buf * 2 * TK * LD, *Vs = Ks + TK * LD;
        for (int i = threadIdx.x; i < TK * CH; i += 128) {
            const int r = i / CH, ch = i % CH;
            const int64_t j = (int64_t)kt * TK + r;
            const bool kok = j <= kend && ch * 8 < dk, vok = j <= kend && ch * 8 < dv;
            cp_async16(smem_u32(Ks + r * LD + ch * 8), kok ? kbase + j * ldk + ch * 8 : kc,
                       kok ? 16 : 0);
            cp_async16(smem_u32(Vs + r * LD + ch * 8), vok ? vbase + j * ldv + ch * 8 : vc,
                       vok ? 16 : 0);
        }
        cp_async_commit();
    };

    float oacc[DT][4];
#pragma unroll
    for (int i = 0; i < DT; i++) oacc[i][0] = oacc[i][1] = oacc[i][2] = oacc[i][3] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f; /* rows r0, r1 (l: partial) */
    const int mi = lane >> 3, rr = lane & 7; /* ldmatrix: this lane's matrix and row */

    load_tile(0, 0);
    for (int kt = 0; kt < ntiles; kt++) {
        const int buf = kt & 1;
        if (kt + 1 < ntiles) {
            load_tile(kt + 1, buf ^ 1);
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const uint16_t *Ks = smem + (size_t)buf * 2 * TK * LD, *Vs = Ks + TK * LD;

        /* S (16 x TK) = Q K^T */
        float s[NT][4];
#pragma unroll
        for (int i = 0; i < NT; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < KT; kk++) {
#pragma unroll
            for (int nt = 0; nt < NT; nt += 2) {
                uint32_t b0, b1, b2, b3;
                ldsm_x4(b0, b1, b2, b3,
                        smem_u32(Ks + ((nt + (mi >> 1)) * 8 + rr) * LD + kk * 16 + (mi & 1) * 8));
                mma16816(s[nt], qf[kk], b0, b1);
                mma16816(s[nt + 1], qf[kk], b2, b3);
            }
        }
        /* causal mask where the tile reaches past the warp's first row */
        const int64_t jt = (int64_t)kt * TK;
        if (jt + TK - 1 > p0 + t0 + warp * 16) {
            const int64_t lim0 = p0 + r0, lim1 = p0 + r1;
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int64_t j = jt + nt * 8 + 2 * c + (e & 1);
                    if (j > (e < 2 ? lim0 : lim1)) s[nt][e] = -INFINITY;
                }
        }
        /* online softmax (every row sees key 0 in tile 0, so the maxima are finite) */
        float x0 = m0, x1 = m1;
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            x0 = fmaxf(x0, fmaxf(s[nt][0], s[nt][1]));
            x1 = fmaxf(x1, fmaxf(s[nt][2], s[nt][3]));
        }
        x0 = fmaxf(x0, __shfl_xor_sync(0xffffffffu, x0, 1));
        x0 = fmaxf(x0, __shfl_xor_sync(0xffffffffu, x0, 2));
        x1 = fmaxf(x1, __shfl_xor_sync(0xffffffffu, x1, 1));
        x1 = fmaxf(x1, __shfl_xor_sync(0xffffffffu, x1, 2));
        const float a0 = exp2f(m0 - x0), a1 = exp2f(m1 - x1);
        m0 = x0, m1 = x1;
        l0 *= a0, l1 *= a1;
#pragma unroll
        for (int i = 0; i < DT; i++) oacc[i][0] *= a0, oacc[i][1] *= a0, oacc[i][2] *= a1, oacc[i][3] *= a1;
        uint32_t pf[TK / 16][4];
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            const float e0 = exp2f(s[nt][0] - x0), e1 = exp2f(s[nt][1] - x0);
            const float e2 = exp2f(s[nt][2] - x1), e3 = exp2f(s[nt][3] - x1);
            l0 += e0 + e1, l1 += e2 + e3;
            pf[nt >> 1][(nt & 1) * 2] = pack_bf16(e0, e1);
            pf[nt >> 1][(nt & 1) * 2 + 1] = pack_bf16(e2, e3);
        }
        /* O (16 x D) += P V */
#pragma unroll
        for (int kk = 0; kk < TK / 16; kk++) {
#pragma unroll
            for (int dt = 0; dt < DT; dt += 2) {
                uint32_t b0, b1, b2, b3;
                ldsm_x4_t(b0, b1, b2, b3,
                          smem_u32(Vs + (kk * 16 + (mi & 1) * 8 + rr) * LD + (dt + (mi >> 1)) * 8));
                mma16816(oacc[dt], pf[kk], b0, b1);
                mma16816(oacc[dt + 1], pf[kk], b2, b3);
            }
        }
        __syncthreads(); /* the next iteration's copy overwrites this buffer */
    }

    /* the row sums over the quad, in a fixed butterfly; o = acc / l */
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const float i0 = 1.0f / l0, i1 = 1.0f / l1;
#pragma unroll
    for (int dt = 0; dt < DT; dt++) {
        const int col = dt * 8 + 2 * c;
        if (col >= dv) continue;
        if (r0 < T)
            *reinterpret_cast<float2 *>(ob + r0 * ldv + col) = make_float2(oacc[dt][0] * i0, oacc[dt][1] * i0);
        if (r1 < T)
            *reinterpret_cast<float2 *>(ob + r1 * ldv + col) = make_float2(oacc[dt][2] * i1, oacc[dt][3] * i1);
    }
}

/* ==================================================================================== */
/* host side */

static retnet_status check_shape(const char *fn, int64_t B, int64_t T, int H, int dk, int dv,
                                 int64_t C, const int64_t *pos_host) {
    if (B < 0 || T < 0 || H < 1 || C < 1)
        return retnet_fail(RETNET_EINVAL, "%s: bad shape (B %lld, T %lld, H %d, C %lld)", fn,
                           (long long)B, (long long)T, H, (long long)C);
    if (dk < 8 || dk > 256 || dk % 8 || dv < 8 || dv > 256 || dv % 8)
        return retnet_fail(RETNET_EINVAL, "%s: head widths dk %d, dv %d: each must be a "
                           "multiple of 8 from 8 to 256", fn, dk, dv);
    if (T > C)
        return retnet_fail(RETNET_EINVAL, "%s: %lld new tokens do not fit a cache of %lld "
                           "positions", fn, (long long)T, (long long)C);
    if (pos_host)
        for (int64_t b = 0; b < B; b++)
            if (pos_host[b] < 0 || pos_host[b] > C - T)
                return retnet_fail(RETNET_EINVAL, "%s: sequence %lld: positions %lld..%lld are "
                                   "outside its cache of %lld positions", fn, (long long)b,
                                   (long long)pos_host[b], (long long)(pos_host[b] + T - 1),
                                   (long long)C);
    return cuda_ensure_init();
}

static int misaligned(const void *p) { return ((uintptr_t)p & 15) != 0; }

retnet_status cuda_attention_append(cuda_bf16 *kc, cuda_bf16 *vc, const float *k, const float *v,
                                    int64_t B, int64_t T, int H, int dk, int dv, int64_t C,
                                    const int64_t *pos, const int64_t *pos_host, cuda_stream s) {
    const char *fn = "cuda_attention_append";
    retnet_status st = check_shape(fn, B, T, H, dk, dv, C, pos_host);
    if (st) return st;
    if (B == 0 || T == 0) return RETNET_OK;
    if (!kc || !vc || !k || !v || !pos)
        return retnet_fail(RETNET_EINVAL, "%s: NULL pointer", fn);
    if (misaligned(kc) || misaligned(vc) || misaligned(k) || misaligned(v))
        return retnet_fail(RETNET_EINVAL, "%s: a pointer is not 16-byte aligned", fn);
    const int64_t nk4 = (int64_t)H * dk / 4, nv4 = (int64_t)H * dv / 4;
    const int64_t total = B * T * (nk4 + nv4);
    attn_append<<<cuda_blocks(total, 256, 8 * 1024), 256, 0, (cudaStream_t)s>>>(
        kc, vc, k, v, pos, B, T, nk4, nv4, C);
    CUDA_LAUNCHED(fn);
    return RETNET_OK;
}

template <int G, int U>
static void launch_split(dim3 grid, cudaStream_t s, const float *q, const cuda_bf16 *kc,
                         const cuda_bf16 *vc, const int64_t *pos, int64_t row0, int64_t T, int H,
                         int dk, int dv, int64_t C, float qscale, int NS, float *ml, float *acc) {
    attn_split<G, U><<<grid, SPLIT_THREADS, 0, s>>>(q, kc, vc, pos, row0, T, H, dk, dv, C, qscale,
                                                    NS, ml, acc);
}

/* Rows of (sequence, new token) per launch of the split kernels, and their scratch: the
 * (max, sum) pair and dv partial sums of every split of every row and head. */
static int64_t split_rows(int64_t rows, int H) {
    const int64_t per = ROWS_H_MAX / H > 1 ? ROWS_H_MAX / H : 1;
    return rows < per ? rows : per;
}
static size_t split_scratch(int64_t rpl, int H, int NS, int dv) {
    return sizeof(float) * (size_t)(rpl * H * NS) * (dv + 2);
}

int64_t cuda_attention_scratch_bytes(int64_t B, int64_t T, int H, int dv, int64_t C) {
    if (B < 1 || T < 1 || H < 1 || dv < 1 || C < 1) return 0;
    return (int64_t)split_scratch(split_rows(B * T, H), H, max_splits(C), dv);
}

static retnet_status run_split(float *o, const float *q, const cuda_bf16 *kc,
                               const cuda_bf16 *vc, int64_t B, int64_t T, int H, int dk, int dv,
                               int64_t C, const int64_t *pos, const int64_t *pos_host,
                               float qscale, cudaStream_t s) {
    const char *fn = "cuda_attention_cached (split)";
    int64_t maxlen = C;
    if (pos_host) {
        maxlen = 0;
        for (int64_t b = 0; b < B; b++) maxlen = pos_host[b] + T > maxlen ? pos_host[b] + T : maxlen;
    }
    const int NS = max_splits(maxlen);
    const int64_t rows = B * T, rpl = split_rows(rows, H);
    void *scr = NULL;
    retnet_status st = cuda_scratch(&scr, split_scratch(rpl, H, NS, dv));
    if (st) return st;
    float *ml = (float *)scr, *acc = ml + 2 * rpl * H * NS;
    const int w = dk > dv ? dk : dv, G = w <= 64 ? 8 : w <= 128 ? 16 : 32;
    const int U = lab_unroll == 4 ? 4 : 8;
    for (int64_t r0 = 0; r0 < rows; r0 += rpl) {
        const int64_t nr = rows - r0 < rpl ? rows - r0 : rpl;
        const dim3 grid((unsigned)(nr * H), (unsigned)NS);
#define SPLIT_ARGS grid, s, q, kc, vc, pos, r0, T, H, dk, dv, C, qscale, NS, ml, acc
        if (G == 8) U == 8 ? launch_split<8, 8>(SPLIT_ARGS) : launch_split<8, 4>(SPLIT_ARGS);
        else if (G == 16) U == 8 ? launch_split<16, 8>(SPLIT_ARGS) : launch_split<16, 4>(SPLIT_ARGS);
        else U == 8 ? launch_split<32, 8>(SPLIT_ARGS) : launch_split<32, 4>(SPLIT_ARGS);
#undef SPLIT_ARGS
        CUDA_LAUNCHED(fn);
        attn_combine<<<(unsigned)(nr * H), SPLIT_THREADS, 0, s>>>(o, ml, acc, pos, r0, T, H, dv, C,
                                                                  NS);
        CUDA_LAUNCHED(fn);
    }
    return RETNET_OK;
}

template <int D>
static retnet_status run_tiled(float *o, const float *q, const cuda_bf16 *kc,
                               const cuda_bf16 *vc, int64_t B, int64_t T, int H, int dk, int dv,
                               int64_t C, const int64_t *pos, float qscale, cudaStream_t s) {
    const char *fn = "cuda_attention_cached (tiled)";
    const size_t smem = tiled_smem<D>();
    if (smem > 48 * 1024)
        CUDA_TRY(cudaFuncSetAttribute(attn_tiled<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      (int)smem), fn);
    const dim3 grid((unsigned)((T + TQ - 1) / TQ), (unsigned)H, (unsigned)B);
    attn_tiled<D><<<grid, 128, smem, s>>>(q, kc, vc, o, pos, T, H, dk, dv, C, qscale);
    CUDA_LAUNCHED(fn);
    return RETNET_OK;
}

retnet_status cuda_attention_cached(float *o, const float *q, const cuda_bf16 *kc,
                                    const cuda_bf16 *vc, int64_t B, int64_t T, int H, int dk,
                                    int dv, int64_t C, const int64_t *pos,
                                    const int64_t *pos_host, float scale, cuda_stream s) {
    const char *fn = "cuda_attention_cached";
    retnet_status st = check_shape(fn, B, T, H, dk, dv, C, pos_host);
    if (st) return st;
    if (B == 0 || T == 0) return RETNET_OK;
    if (!o || !q || !kc || !vc || !pos) return retnet_fail(RETNET_EINVAL, "%s: NULL pointer", fn);
    if (misaligned(o) || misaligned(q) || misaligned(kc) || misaligned(vc))
        return retnet_fail(RETNET_EINVAL, "%s: a pointer is not 16-byte aligned", fn);
    const float qscale = (float)((double)scale * 1.4426950408889634); /* log2(e) */
    const int w = dk > dv ? dk : dv;
    int tiled = T >= 16 && w <= 128;
    if (lab_path == 1) tiled = 0;
    if (lab_path == 2) {
        if (w > 128)
            return retnet_fail(RETNET_EINVAL, "%s: the tiled kernel takes head widths up to 128 "
                               "(dk %d, dv %d)", fn, dk, dv);
        tiled = 1;
    }
    if (tiled && (B > 65535 || H > 65535))
        return retnet_fail(RETNET_EINVAL, "%s: B %lld or H %d above 65535", fn, (long long)B, H);
    cudaStream_t cs = (cudaStream_t)s;
    if (!tiled) return run_split(o, q, kc, vc, B, T, H, dk, dv, C, pos, pos_host, qscale, cs);
    if (w <= 64) return run_tiled<64>(o, q, kc, vc, B, T, H, dk, dv, C, pos, qscale, cs);
    return run_tiled<128>(o, q, kc, vc, B, T, H, dk, dv, C, pos, qscale, cs);
}
