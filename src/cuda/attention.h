/*
 * attention.h: the Transformer baseline's attention on the device (src/cuda/attention.cu):
 * a bf16 KV cache per layer, the append of new keys and values, and causal softmax attention
 * of new queries against the cache, for prefill (T > 1, chunked or not) and decoding (T = 1).
 * The CPU functions it mirrors are ops.h's op_attention_flash_forward (Tq = T queries against
 * Tk = pos + T cached keys, as src/model.c calls it) and op_attention_decode (the kernel of
 * src/decode.c's step); inference only (no backward).
 *
 * Conventions: those of cuda/cuda.h (DEVICE pointers, row-major, calls only ENQUEUE work on
 * the stream, retnet_status with a message in retnet_errmsg(), deterministic, no atomics).
 *  - One layer's cache: keys kc (B, C, H, dk) and values vc (B, C, H, dv), bf16, C the
 *    capacity in positions (the config's context). Row j of sequence b is position j: the
 *    same layout as the CPU model's per-sequence cache (context, d_key) then (context,
 *    d_value) (model.h's model_kv_cache), with the B sequences side by side.
 *  - q, k (B, T, H*dk), v, o (B, T, H*dv) fp32, time-major, heads side by side in a row
 *    (the model's activations; q and k already rotated by rope, k NOT scaled: the scores
 *    are scaled instead, as the CPU's Transformer does).
 *  - pos: B DEVICE int64s, the position of each sequence's first new token (its tokens in
 *    the cache before the call). pos_host: the same B values on the host, or NULL. With
 *    pos_host the calls check 0 <= pos[b] and pos[b] + T <= C and refuse (RETNET_EINVAL)
 *    before any work; the grids are also sized from it (a smaller split grid for short
 *    caches). Without it nothing can be checked before launch: a sequence whose pos[b] < 0 or
 *    pos[b] + T > C is skipped by the append (nothing written) and gets rows of NaN from the
 *    attention (never an out-of-bounds access; a NaN shows the bug).
 *  - dk, dv: multiples of 8 from 8 to 256 (any mix). Pointers 16-byte aligned (cudaMalloc's
 *    are; a layer's slice of a larger allocation must keep that).
 *  - Sizes are int64_t; B * C * H * max(dk, dv) may exceed 2^31.
 */
#ifndef RETNET_CUDA_ATTENTION_H
#define RETNET_CUDA_ATTENTION_H

#include <stdint.h>

#include "cuda/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of one layer's cache for B sequences of capacity C: keys and values together,
 * 2 B C H (dk + dv). The model's allocation for L layers is L times this. */
int64_t cuda_attention_cache_bytes(int64_t B, int64_t C, int H, int dk, int dv);

/* The most scratch memory (runtime.cu's cuda_scratch) one cuda_attention_cached call of B
 * sequences of T new tokens, a cache of capacity C and value width dv may ask for; a caller
 * that captures the call in a CUDA graph grows the scratch to this first (the capture must
 * not reallocate it). */
int64_t cuda_attention_scratch_bytes(int64_t B, int64_t T, int H, int dv, int64_t C);

/*
 * Writes T new rows per sequence into the cache: for t < T,
 *   kc[b, pos[b] + t, :, :] = bf16(k[b, t, :]),   vc[b, pos[b] + t, :, :] = bf16(v[b, t, :])
 * rounded to nearest even (bit for bit op_f32_to_bf16). No other position is touched.
 * T = 0 does nothing.
 */
retnet_status cuda_attention_append(cuda_bf16 *kc, cuda_bf16 *vc, const float *k, const float *v,
                                    int64_t B, int64_t T, int H, int dk, int dv, int64_t C,
                                    const int64_t *pos, const int64_t *pos_host, cuda_stream s);

/*
 * Causal softmax attention of T new queries per sequence against the cache (after the
 * append of their own keys and values): query t of sequence b, at position P = pos[b] + t,
 * attends to the cache positions 0 .. P inclusive, head by head:
 *   o[b, t, head] = sum_{j <= P} softmax_j(scale q[b, t, head] . kc[b, j, head]) vc[b, j, head]
 * with fp32 scores, exp, sums and accumulation (online softmax with a running max). scale:
 * the model's 1/sqrt(dk). o is written (every element), never read.
 *
 * Two kernels (the choice depends on T and the head widths only, never on the data):
 *  - split (flash-decoding): one thread block per (row, head, split of the keys); the
 *    block's keys are read once, 16 bytes per thread, by groups of dk/8 threads per key, q
 *    stays fp32; partial max, sum and output per split go to scratch and a second kernel
 *    combines the splits in a fixed order. A row of length n = P + 1 is cut into splits of
 *    max(128, 2^ceil(log2(n / 64))) keys (at most 64 splits), a function of n alone: a
 *    sequence's output does not depend on the rest of the batch. Used for T < 16 (decoding;
 *    a few rows read the same keys at about the same time, from L2: on the H200 at the end
 *    of a 32k cache, B = 1, H = 16, T = 8 takes 0.25 ms against the tiled kernel's 1.04 ms,
 *    whose grid is then only H blocks), and for any T when max(dk, dv) > 128 (rows in
 *    chunks of 4096 / H per launch).
 *  - tiled (FlashAttention-2 style): one block of 4 warps per 64 queries of a (sequence,
 *    head), key and value tiles of 64 positions double-buffered in shared memory (cp.async),
 *    both products on the tensor cores (mma.sync m16n8k16, bf16 operands, fp32
 *    accumulation): q * scale log2(e) and the probabilities are rounded to bf16 as operands
 *    (2^-8 relative each, bf16's unit roundoff, like the cache's k and v), the softmax
 *    statistics stay fp32. Used for T >= 16 with max(dk, dv) <= 128 (widths zero-padded to
 *    64 or 128).
 * Scratch (the runtime's, cuda.h): the split kernel takes 4 rows H S (dv + 2) bytes, S the
 * splits of the longest row (<= 64), rows = B T or 4096 / H per chunk; e.g. 136 MB for a
 * decoding step of B = 256, H = 16, dv = 128 at 32k positions. T = 0 does nothing.
 */
retnet_status cuda_attention_cached(float *o, const float *q, const cuda_bf16 *kc,
                                    const cuda_bf16 *vc, int64_t B, int64_t T, int H, int dk,
                                    int dv, int64_t C, const int64_t *pos,
                                    const int64_t *pos_host, float scale, cuda_stream s);

/* For tests and the benchmark only: which kernel cuda_attention_cached runs (0: automatic,
 * the rule above; 1: the split kernel for every T; 2: the tiled kernel for every T, refused
 * where max(dk, dv) > 128), and the split kernel's keys per thread group in flight (4 or 8;
 * 0: the default, 8, measured 3-25% faster on the H200 than 4). Not thread safe; process-wide. */
void cuda_attention_lab_set_path(int path);
void cuda_attention_lab_set_unroll(int keys);

#ifdef __cplusplus
}
#endif

#endif
