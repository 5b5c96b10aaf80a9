/*
 * tc_rows.cuh: a warp's share of a matrix-vector product on tensor cores, straight from a
 * stage of whole rows in shared memory as one bulk copy left it: the persistent decoding step's
 * products (decode_persistent.cu; born in dev/cuda/ring_lab.cu as tc 2, also used by the labs
 * mega_lab.cu and ring_lab.cu). NW warps (a template argument) split the columns; each reads
 * its rows with ld.shared.v4 and the mma's k order is permuted to match.
 */
#ifndef RETNET_CUDA_TC_ROWS_CUH
#define RETNET_CUDA_TC_ROWS_CUH
#include <stdint.h>

/* The stage as the producer copied it (rows 2K bytes apart, no padding), read with
 * ld.shared.v4 instead of ldmatrix. Lane (g, t) takes 16 bytes of row g (and g + 8) at column
 * k0 + 8 t, and the mma's k order is permuted to match: in a pair of k-steps of 32 columns,
 * mma 1 takes words .x and .y of each lane's chunk, mma 2 .z and .w, and x the same words of
 * its chunk at k0 + 8 t. Rows 4096 bytes apart put lanes g and g + 1 of a quarter-warp on the
 * same banks: 2-way conflicts, ~64 bytes a clock, 3x what the stream needs. K 2048: 16 rows a
 * stage, 8 pairs a warp of 8 (v[2j] row g, v[2j + 1] row g + 8); K 4096: 8 rows, 16 pairs (v[j]
 * row g; rows 8-15 of the tile zero). 64 registers either way. Rows past n: row n - 1 read,
 * its sums dropped. Rows padded 64 bytes apart (no conflicts) and rows past n not read halve
 * the persistent step's wavefronts (ncu) and slow it by 1% (dev/cuda/runs/next317.sh; 132b30d has
 * both); four mma chains instead of two: level (next319.sh; 7f0d42c): the consumers' round
 * trips between stages, not these loads, hold that step. */
template <int KK, int NW>
__device__ __forceinline__ void tcd_load(uint4 (&v)[16], const unsigned char *st, int lane,
                                         int warp, int n) {
    const int g = lane >> 2, t = lane & 3;
    const int ra = g < n ? g : n - 1, rb = g + 8 < n ? g + 8 : n - 1;
#pragma unroll
    for (int j = 0; j < (KK == 2048 ? 8 : 16); j++) {
        const int col = warp * (KK / NW) + 32 * j + 8 * t;
        if (KK == 2048) {
            v[2 * j] = *reinterpret_cast<const uint4 *>(st + ((size_t)ra * KK + col) * 2);
            v[2 * j + 1] = *reinterpret_cast<const uint4 *>(st + ((size_t)rb * KK + col) * 2);
        } else {
            v[j] = *reinterpret_cast<const uint4 *>(st + ((size_t)ra * KK + col) * 2);
        }
    }
}
__device__ __forceinline__ void mma16(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                      uint32_t a3, uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
                 "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
/* the mma steps of a warp's fragments v against x's chunk xf(col) (8 bf16 values at column
 * col for the lane's column n = g of B), in two chains: c[0] + c[1] is the tile's C */
template <int KK, int NW, class XF>
__device__ __forceinline__ void tcd_mma(const uint4 (&v)[16], XF xf, int lane, int warp,
                                        float (&c)[2][4]) {
    const int t = lane & 3;
#pragma unroll
    for (int j = 0; j < (KK == 2048 ? 8 : 16); j++) {
        const int col = warp * (KK / NW) + 32 * j + 8 * t;
        const uint4 X = xf(col);
        const uint4 A = KK == 2048 ? v[2 * j] : v[j];
        const uint4 B = KK == 2048 ? v[2 * j + 1] : make_uint4(0u, 0u, 0u, 0u);
        mma16(c[0], A.x, B.x, A.y, B.y, X.x, X.y);
        mma16(c[1], A.z, B.z, A.w, B.w, X.z, X.w);
    }
}
/* the warp's sums of rows g and g + 8 over its columns for E <= 2 vectors x (bf16, in shared
 * memory at xs, xb bytes apart; the mma's columns 0 .. E - 1, whose sums lanes t = 0 hold):
 * prow[E g + e], prow[E (g + 8) + e] (rows < n) */
template <int KK, int NW, int E>
__device__ __forceinline__ void tcd_rows_e(const uint4 (&v)[16], const unsigned char *xs, int xb,
                                           int lane, int warp, int n, float *prow) {
    static_assert(E >= 1 && E <= 2, "the columns lanes t = 0 hold");
    const int g = lane >> 2, t = lane & 3;
    float c[2][4] = {};
    tcd_mma<KK, NW>(
        v,
        [&](int col) {
            return g < E ? *reinterpret_cast<const uint4 *>(xs + g * xb + col * 2)
                         : make_uint4(0u, 0u, 0u, 0u);
        },
        lane, warp, c);
    if (t == 0) {
        if (g < n) {
            prow[E * g] = c[0][0] + c[1][0];
            if (E == 2) prow[E * g + 1] = c[0][1] + c[1][1];
        }
        if (KK == 2048 && g + 8 < n) {
            prow[E * (g + 8)] = c[0][2] + c[1][2];
            if (E == 2) prow[E * (g + 8) + 1] = c[0][3] + c[1][3];
        }
    }
}
/* one vector: prow[g], prow[g + 8] */
template <int KK, int NW>
__device__ __forceinline__ void tcd_rows(const uint4 (&v)[16], const unsigned char *xs, int lane,
                                         int warp, int n, float *prow) {
    tcd_rows_e<KK, NW, 1>(v, xs, 0, lane, warp, n, prow);
}
template <int NW>
__device__ __forceinline__ void tcd_load_any(uint4 (&v)[16], const unsigned char *st, int K,
                                             int lane, int warp, int n) {
    if (K == 2048) tcd_load<2048, NW>(v, st, lane, warp, n);
    else tcd_load<4096, NW>(v, st, lane, warp, n);
}
template <int NW>
__device__ __forceinline__ void tcd_any(const uint4 (&v)[16], const unsigned char *xs, int K,
                                        int lane, int warp, int n, float *prow) {
    if (K == 2048) tcd_rows<2048, NW>(v, xs, lane, warp, n, prow);
    else tcd_rows<4096, NW>(v, xs, lane, warp, n, prow);
}
template <int NW, int E>
__device__ __forceinline__ void tcd_any_e(const uint4 (&v)[16], const unsigned char *xs, int xb,
                                          int K, int lane, int warp, int n, float *prow) {
    if (K == 2048) tcd_rows_e<2048, NW, E>(v, xs, xb, lane, warp, n, prow);
    else tcd_rows_e<4096, NW, E>(v, xs, xb, lane, warp, n, prow);
}
#endif
