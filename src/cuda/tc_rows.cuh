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
 * its sums dropped; with ZF, not read (zeros: reading them costs wavefronts). PAD: bytes
 * between rows beyond their 2 KK (a producer that lays rows 2 KK + 64 bytes apart puts lanes g
 * and g + 1 on other banks: no conflicts). */
template <int KK, int NW, int PAD = 0, bool ZF = false>
__device__ __forceinline__ void tcd_load(uint4 (&v)[16], const unsigned char *st, int lane,
                                         int warp, int n) {
    const int g = lane >> 2, t = lane & 3;
    const int ra = g < n ? g : n - 1, rb = g + 8 < n ? g + 8 : n - 1;
    const bool za = ZF && g >= n, zb = ZF && g + 8 >= n;
    static_assert(PAD % 16 == 0, "rows on 16-byte boundaries");
    constexpr int P = KK + PAD / 2; /* a row's pitch in bf16 values */
#pragma unroll
    for (int j = 0; j < (KK == 2048 ? 8 : 16); j++) {
        const int col = warp * (KK / NW) + 32 * j + 8 * t;
        if (KK == 2048) {
            v[2 * j] = za ? make_uint4(0u, 0u, 0u, 0u)
                          : *reinterpret_cast<const uint4 *>(st + ((size_t)ra * P + col) * 2);
            v[2 * j + 1] = zb ? make_uint4(0u, 0u, 0u, 0u)
                              : *reinterpret_cast<const uint4 *>(st + ((size_t)rb * P + col) * 2);
        } else {
            v[j] = za ? make_uint4(0u, 0u, 0u, 0u)
                      : *reinterpret_cast<const uint4 *>(st + ((size_t)ra * P + col) * 2);
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
 * col for the lane's column n = g of B), in CH chains (2 or 4: pairs of k-steps alternate
 * between chain pairs, for shorter dependent runs): the sum of c[0..CH) is the tile's C */
template <int KK, int NW, class XF, int CH = 2>
__device__ __forceinline__ void tcd_mma(const uint4 (&v)[16], XF xf, int lane, int warp,
                                        float (&c)[CH][4]) {
    static_assert(CH == 2 || CH == 4, "chains");
    const int t = lane & 3;
#pragma unroll
    for (int j = 0; j < (KK == 2048 ? 8 : 16); j++) {
        const int col = warp * (KK / NW) + 32 * j + 8 * t;
        const uint4 X = xf(col);
        const uint4 A = KK == 2048 ? v[2 * j] : v[j];
        const uint4 B = KK == 2048 ? v[2 * j + 1] : make_uint4(0u, 0u, 0u, 0u);
        const int c0 = CH == 4 ? 2 * (j & 1) : 0;
        mma16(c[c0], A.x, B.x, A.y, B.y, X.x, X.y);
        mma16(c[c0 + 1], A.z, B.z, A.w, B.w, X.z, X.w);
    }
}
/* the warp's sums of rows g and g + 8 over its columns, x (bf16) in shared memory at xs:
 * prow[g], prow[g + 8] (rows < n), by the lanes of t = 0 */
template <int KK, int NW, int CH = 2>
__device__ __forceinline__ void tcd_rows(const uint4 (&v)[16], const unsigned char *xs, int lane,
                                         int warp, int n, float *prow) {
    const int g = lane >> 2, t = lane & 3;
    float c[CH][4] = {};
    tcd_mma<KK, NW>(
        v,
        [&](int col) {
            return g == 0 ? *reinterpret_cast<const uint4 *>(xs + col * 2) : make_uint4(0u, 0u, 0u, 0u);
        },
        lane, warp, c);
    if (t == 0) {
        if (g < n)
            prow[g] = CH == 4 ? (c[0][0] + c[1][0]) + (c[CH - 2][0] + c[CH - 1][0])
                              : c[0][0] + c[1][0];
        if (KK == 2048 && g + 8 < n)
            prow[g + 8] = CH == 4 ? (c[0][2] + c[1][2]) + (c[CH - 2][2] + c[CH - 1][2])
                                  : c[0][2] + c[1][2];
    }
}
template <int NW, int PAD = 0, bool ZF = false>
__device__ __forceinline__ void tcd_load_any(uint4 (&v)[16], const unsigned char *st, int K,
                                             int lane, int warp, int n) {
    if (K == 2048) tcd_load<2048, NW, PAD, ZF>(v, st, lane, warp, n);
    else tcd_load<4096, NW, PAD, ZF>(v, st, lane, warp, n);
}
template <int NW, int CH = 2>
__device__ __forceinline__ void tcd_any(const uint4 (&v)[16], const unsigned char *xs, int K,
                                        int lane, int warp, int n, float *prow) {
    if (K == 2048) tcd_rows<2048, NW, CH>(v, xs, lane, warp, n, prow);
    else tcd_rows<4096, NW, CH>(v, xs, lane, warp, n, prow);
}
#endif
