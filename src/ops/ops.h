/*
 * ops.h: the CPU kernels, one family per file in src/ops/. The model (src/model.c) calls
 * only these; a GPU backend provides the same signatures (src/cuda/, later).
 *
 * Conventions: row-major; `ld*` are row strides in floats; shapes in comments use
 * RETNET.md's letters (B T d h dk dv C L V). Outputs never alias inputs unless stated.
 */
#ifndef RETNET_OPS_H
#define RETNET_OPS_H

#include <math.h>
#include <stdint.h>

#define RETNET_MAX_HEAD_DIM 4096 /* per-head key/value width cap (config.c checks it) */

/* ---- matmul.c ---------------------------------------------------------------------- */
/* y (M, N) = x (M, K) @ w(N, K)^T  [+ y if accumulate]; w is a PyTorch Linear weight. */
void op_matmul(float *y, const float *x, const float *w, int64_t M, int64_t N, int64_t K,
               int accumulate);

/* General row-major GEMM, C = alpha op(A) op(B) + beta C (BLAS when built with it). */
void op_gemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
             const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
             int64_t ldc);

/* y (M, N) = x (M, K) @ w(N, K)^T [+ y] with w in bfloat16 (the upper 16 bits of a float32):
 * half the bytes of a matrix-vector product, which is bound by memory bandwidth. Each
 * weight row is read once for all M rows of x; meant for small M (decoding). */
void op_matmul_bf16(float *y, const float *x, const uint16_t *w, int64_t M, int64_t N,
                    int64_t K, int accumulate);
/* Columns j0..j1-1 of the same products, serially (one thread's share of a product inside a
 * caller's parallel region). Each column's arithmetic depends on j only, so any split of the
 * columns over threads, and any M, gives the same bits. */
void op_matvec_cols(float *y, const float *x, const float *w, int64_t M, int64_t N, int64_t K,
                    int64_t j0, int64_t j1, int accumulate);
void op_matvec_cols_bf16(float *y, const float *x, const uint16_t *w, int64_t M, int64_t N,
                         int64_t K, int64_t j0, int64_t j1, int accumulate);
/* a . b over n floats, 16 independent lanes (the products' own dot product). */
float op_dot(const float *a, const float *b, int64_t n);
/* dst[i] = the float32 of bf16 src[i] (exact). */
void op_bf16_to_f32(float *dst, const uint16_t *src, int64_t n);
/* bfloat16 of a float32, round to nearest even (NaN stays NaN). */
uint16_t op_f32_to_bf16(float x);

/* ---- norm.c ------------------------------------------------------------------------ */
/* Row-wise over d: y = (x - mean) / sqrt(var + eps) * w + b (b may be NULL). y may be x. */
void op_layernorm(float *y, const float *x, const float *w, const float *b, int64_t M,
                  int64_t d, float eps);
/* Row-wise over d: y = x / sqrt(mean(x^2) + eps) * w. y may be x. */
void op_rmsnorm(float *y, const float *x, const float *w, int64_t M, int64_t d, float eps);
/*
 * Per-head norm and swish gate of the MSR block (RETNET.md §4), fused:
 *   y[m, i*dv + c] = norm_head(o[m, i*dv .. i*dv+dv])[c] * swish(g[m, i*dv + c])
 * mode HEAD_NORM_GROUP: LayerNorm over dv with affine w, b of width h*dv (NULL: no affine);
 * HEAD_NORM_RMS: RMSNorm over dv with w of width dv shared by heads (NULL: no affine);
 * HEAD_NORM_NONE: no normalisation (the ablation). g NULL: no gate (the other ablation).
 * o, g, y: (M, h*dv). y may be o.
 */
enum { HEAD_NORM_RMS = 0, HEAD_NORM_GROUP = 1, HEAD_NORM_NONE = 2 };
void op_head_norm_gate(float *y, const float *o, const float *g, const float *w,
                       const float *b, int64_t M, int h, int dv, float eps, int mode);

/* One row of layernorm / rmsnorm, one (row, head) segment of the head norm + gate: what
 * the functions above do per row, serially (same arithmetic). */
void op_layernorm_row(float *y, const float *x, const float *w, const float *b, int64_t d,
                      float eps);
void op_rmsnorm_row(float *y, const float *x, const float *w, int64_t d, float eps);
void op_head_norm_gate_seg(float *y, const float *o, const float *g, const float *w,
                           const float *b, int head, int dv, float eps, int mode);

/* ---- activation.c ------------------------------------------------------------------ */
static inline float op_gelu1(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
static inline float op_swish1(float x) { return x / (1.0f + expf(-x)); }
void op_gelu(float *y, const float *x, int64_t n);              /* exact, erf form */
void op_swish(float *y, const float *x, int64_t n);             /* x * sigmoid(x) */
void op_mul(float *y, const float *a, const float *b, int64_t n);
void op_add(float *y, const float *a, const float *b, int64_t n);

/* ---- embed.c ----------------------------------------------------------------------- */
/* x (n, d) = table[tokens] * scale. Tokens are already range-checked. */
void op_embed(float *x, const float *table, const int32_t *tokens, int64_t n, int64_t d,
              float scale);

/* The same from a bf16 table (models loaded with RETNET_LOAD_BF16), serially. */
void op_embed_bf16(float *x, const uint16_t *table, const int32_t *tokens, int64_t n, int64_t d,
                   float scale);

/* ---- rope.c ------------------------------------------------------------------------ */
/*
 * Rotates every head of x (T, ld) in place: head i occupies columns i*dk .. i*dk+dk-1;
 * row t has absolute position pos0 + t. paper: pairs (2j, 2j+1), theta_j = base^-(j/(dk/2-1));
 * half: pairs (j, j+dk/2), theta_j = base^-(2j/dk). Angles are computed in double.
 * The rotated vector is then multiplied by `scale` (dk^-0.5 for keys, 1 for queries).
 */
void op_rope(float *x, int64_t ld, int64_t T, int h, int dk, int64_t pos0, int half,
             double base, float scale);
/* The same rotation split in two, for decoding: op_rope_angles fills cs (dk floats: cos and
 * sin of pair j at cs[2j], cs[2j+1]) for one position; op_rope_rows writes channels i0..i1-1
 * of one rotated, scaled head, y[i] from x[i] and its pair partner (y must not be x). */
void op_rope_angles(float *cs, int dk, int64_t pos, int half, double base);
void op_rope_rows(float *y, const float *x, int dk, int i0, int i1, const float *cs, int half,
                  float scale);

/* ---- retention_*.c ----------------------------------------------------------------- */
/*
 * Raw retention of one head of one sequence (RETNET.md §2), continuing from a state:
 *   o[n] = sum_{m<=n} (q_n . k_m) gamma^(n-m) v_m  +  gamma^(n+1) q_n S0
 *   S   <- gamma^T S0 + sum_m gamma^(T-1-m) k_m^T v_m
 * q, k: (T, dk) with row strides ldq, ldk (k already scaled by dk^-0.5 and rotated);
 * v: (T, dv) stride ldv; o: (T, dv) stride ldo, overwritten.
 * S: (dk, dv) contiguous, in/out (zeros for a fresh sequence).
 * For the §3 normalisations (both NULL when off):
 *   z:    (dk) key-sum state in/out, z <- gamma^T z0 + sum_m gamma^(T-1-m) k_m
 *   rsum: (T) output, rsum[n] = sum_{m<=n} (q_n . k_m) gamma^(n-m) + gamma^(n+1) q_n . z0,
 *         the row sum of the decayed scores (equivalently, retention of a column of ones).
 * Powers of gamma are formed in double from log(gamma) and never by repeated products, so
 * they neither drift nor underflow early at long T.
 */
typedef struct {
    int64_t T;
    int dk, dv;
    const float *q, *k, *v;
    int64_t ldq, ldk, ldv;
    float *o;
    int64_t ldo;
    double gamma;
    float *S;
    float *z;
    float *rsum;
    int64_t ldS;   /* row stride of S; 0 means dv (callers may pass a column slice of a head:
                      columns of v, o and S are independent, which is how work is split) */
} retention_args;

/* Scratch floats each form needs (per call; calls on different heads need their own). */
int64_t retention_parallel_work(int64_t T, int dk, int dv);
int64_t retention_chunkwise_work(int64_t T, int C, int dk, int dv);
int64_t retention_recurrent_work(int dk, int dv);

/* pw[k] = gamma^k for k = 0..n, each formed as exp(k log gamma) in double. */
void retention_powers(double gamma, int64_t n, float *pw);

void retention_parallel_forward(const retention_args *a, float *work);
void retention_chunkwise_forward(const retention_args *a, int C, float *work);
void retention_recurrent_forward(const retention_args *a, float *work);
/*
 * One token of the recurrent form over key rows i0..i1-1 only (a->T must be 1; a->S, a->z
 * point at the head's row 0 as above): updates those rows of S (and of z), and writes the
 * rows' share of the output, o_part[j] = sum_{i0<=i<i1} q_i S_ij (dv floats), and of the
 * row sum, *rsum_part (when a->z). retention_recurrent_forward sums the shares of blocks of
 * RETENTION_ROW_BLOCK rows in block order: any split on block boundaries, combined in that
 * order, gives its bits.
 */
#define RETENTION_ROW_BLOCK 32
void retention_recurrent_rows(const retention_args *a, int i0, int i1, float *o_part,
                              double *rsum_part);

/* ==================================================================================== */
/* Backward passes. Rule for every function below: gradients ACCUMULATE (+=) into every
 * output, parameter and input gradients alike (the caller zeroes them once), so residual
 * branches and shared weights need no extra adds. Any gradient output may be NULL when it is
 * not wanted. Forward inputs are passed again as they were given to the forward. */

/* matmul.c: y = x W^T.  dx (M, K) += dy W;  dw (N, K) += dy^T x. */
void op_matmul_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                        int64_t M, int64_t N, int64_t K);

/* norm.c */
void op_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                           const float *w, int64_t M, int64_t d, float eps);
void op_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                         const float *w, int64_t M, int64_t d, float eps);
/* do_ (M, h*dv), dg (M, h*dv), dw/db as the forward's w/b. */
void op_head_norm_gate_backward(float *do_, float *dg, float *dw, float *db, const float *dy,
                                const float *o, const float *g, const float *w,
                                const float *b, int64_t M, int h, int dv, float eps,
                                int mode);

/* activation.c (x is the forward's input) */
void op_gelu_backward(float *dx, const float *dy, const float *x, int64_t n);
void op_swish_backward(float *dx, const float *dy, const float *x, int64_t n);

/* embed.c: dtable[tokens[i]] += dx[i] * scale. */
void op_embed_backward(float *dtable, const float *dx, const int32_t *tokens, int64_t n,
                       int64_t d, float scale);

/* rope.c: the forward is linear and orthogonal (times scale): the backward rotates the
 * gradient (in place, layout as op_rope) by the opposite angles and multiplies by scale.
 * (In place, so it overwrites rather than accumulates.) */
void op_rope_backward(float *dx, int64_t ld, int64_t T, int h, int dk, int64_t pos0, int half,
                      double base, float scale);

/* loss.c: softmax cross-entropy over V for n rows; rows whose target is < 0 are ignored.
 * Returns the sum of the losses (double) and the count of counted rows; when dlogits is
 * not NULL, writes (overwrites) dlogits = grad_scale * (softmax - onehot) for counted rows
 * and 0 for ignored ones. dlogits may be logits (in place). */
double op_cross_entropy(float *dlogits, const float *logits, const int32_t *targets, int64_t n,
                        int64_t V, float grad_scale, int64_t *count);

/* retention_parallel.c / retention_chunkwise.c: backward of one head from the EMPTY state
 * (training windows start from zero state; no gradient reaches a final state):
 *   forward:  o[n] = sum_{m<=n} (q_n . k_m) gamma^(n-m) v_m,
 *             rsum[n] = sum_{m<=n} (q_n . k_m) gamma^(n-m)          (when normalising)
 *   given do (T, dv) and drsum (T, or NULL), accumulates dq, dk (T, dk) and dv (T, dv).
 * The chunkwise backward keeps memory linear in T: it recomputes the chunk states instead of
 * storing them for every chunk. Column slices are NOT allowed here (dq, dk sum over all dv). */
typedef struct {
    int64_t T;
    int dk, dv;
    const float *q, *k, *v;
    int64_t ldq, ldk, ldv;
    const float *dout;
    int64_t lddo;
    const float *drsum;
    float *dq, *dk_, *dv_;
    int64_t lddq, lddk, lddv;
    double gamma;
} retention_grad_args;

int64_t retention_parallel_backward_work(int64_t T, int dk, int dv);
int64_t retention_chunkwise_backward_work(int64_t T, int C, int dk, int dv);
void retention_parallel_backward(const retention_grad_args *a, float *work);
void retention_chunkwise_backward(const retention_grad_args *a, int C, float *work);

/* ==================================================================================== */
/* ---- attention.c: causal multi-head softmax attention (the Transformer baseline) ---- */
/*
 * Called after the projections and the rotary embedding (q, k, v arrive rotated). Layout as
 * the model's activations, time-major with the heads side by side in a row:
 *   q (B, Tq, H*dk), k (B, Tk, H*dk), v (B, Tk, H*dv), o (B, Tq, H*dv), lse (B, H, Tq);
 * head h of a row is columns h*dk .. h*dk+dk-1 (h*dv .. for v and o). dk and dv may differ.
 *   s[i,j] = scale (q_i . k_j)   (the model passes scale = 1/sqrt(dk))
 * Query row i (0..Tq-1) sits at absolute position P + i, P = Tk - Tq >= 0, and sees the keys
 * j <= P + i: one rule for training (Tq = Tk), chunked prefill on a cache (Tq < Tk) and
 * decoding (Tq = 1). Requires Tk >= Tq, so every row sees at least key 0.
 *   o_i = sum_{j <= P+i} softmax_j(s[i,.]) v_j,   lse_i = log sum_{j <= P+i} exp(s[i,j]).
 *
 * Two implementations of one function:
 *   naive: materialises the Tq x Tk scores of one (b, h) at a time (memory O(Tq Tk) per
 *          thread), the two products by op_gemm. The reference-style one.
 *   flash: FlashAttention-2 (Dao 2023): query blocks x key blocks with an online softmax;
 *          scratch is a few tiles per thread, independent of T. Fully masked tiles are
 *          skipped. Its tile products are attention.c's own (faster than sgemm here).
 * Threads: a call runs up to `threads` OpenMP threads (0: omp_get_max_threads() at the time
 * of the call), and its `work` is scratch of the size the matching _work function returns
 * for the same `threads` (sizes in floats). Calls that run at the same time need their own
 * work. No function here allocates. Every result is the same bits on every run with the
 * same thread count. Flash and decode results do not depend on the thread count either,
 * except dq of the flash backward (the order of its sums); the naive ones may differ in the
 * last bits (OpenBLAS splits a product over its own threads when the call runs on one).
 */
typedef struct {
    int64_t B, Tq, Tk;
    int H, dk, dv;
    float scale;
    int threads;
    const float *q, *k, *v;  /* (B, Tq, H*dk), (B, Tk, H*dk), (B, Tk, H*dv) */
    float *o;                /* (B, Tq, H*dv), written */
    float *lse;              /* (B, H, Tq), written; may be NULL (no flash backward then) */
} attention_args;

int64_t op_attention_naive_work(int64_t Tq, int64_t Tk, int threads);
int64_t op_attention_flash_work(int dk, int dv, int threads);
void op_attention_naive_forward(const attention_args *a, float *work);
void op_attention_flash_forward(const attention_args *a, float *work);

/*
 * Backward (the rule above: += into dq (B, Tq, H*dk), dk_ (B, Tk, H*dk), dv_ (B, Tk, H*dv);
 * any may be NULL). With p_ij = exp(s_ij - lse_i) and dout = dL/do (B, Tq, H*dv):
 *   dv_j += sum_i p_ij do_i,   dp_ij = do_i . v_j,   ds_ij = p_ij (dp_ij - D_i),
 *   dq_i += scale sum_j ds_ij k_j,   dk_j += scale sum_i ds_ij q_i,
 * D_i = sum_j p_ij dp_ij = do_i . o_i.
 * naive: recomputes the probabilities of one (b, h) from q and k (a full softmax, as the
 *        forward) and takes D_i = sum_j p_ij dp_ij from them: it reads neither o nor lse.
 *        Memory 2 Tq Tk per thread.
 * flash: recomputes scores tile by tile, p from the forward's lse, D_i = do_i . o_i from its
 *        o; threads take key blocks (dk, dv rows owned, no races) and sum dq in per-thread
 *        copies, added at the end. Scratch: D (B H Tq), (threads - 1) copies of dq, and
 *        a few tiles per thread.
 */
typedef struct {
    int64_t B, Tq, Tk;
    int H, dk, dv;
    float scale;
    int threads;
    const float *q, *k, *v;  /* as the forward */
    const float *o, *lse;    /* the forward's outputs (flash only; the naive ignores them) */
    const float *dout;       /* (B, Tq, H*dv) */
    float *dq, *dk_, *dv_;
} attention_grad_args;

int64_t op_attention_naive_backward_work(int64_t Tq, int64_t Tk, int threads);
int64_t op_attention_flash_backward_work(int64_t B, int64_t Tq, int H, int dk, int dv,
                                         int threads);
void op_attention_naive_backward(const attention_grad_args *a, float *work);
void op_attention_flash_backward(const attention_grad_args *a, float *work);

/*
 * Decoding one token of one (sequence, head) against its KV cache: q (dk) the new query;
 * K, V the cache's keys and values with row strides ldk, ldv, len >= 1 rows (the new token's
 * key and value already appended); writes o (dv) and, when not NULL, *lse. Equals the last row
 * of the forward with Tq = Tk = len. No scratch, no allocation: the model's decoding step
 * (decode.c) calls it for every (sequence, head) inside its one parallel region.
 */
void op_attention_decode_head(float *o, float *lse, const float *q, const float *K,
                              const float *V, int64_t len, int64_t ldk, int64_t ldv, int dk,
                              int dv, float scale);
/* The same for B sequences with caches of different lengths: kc[b] keys (len[b], H*dk),
 * vc[b] values (len[b], H*dv), q (B, H*dk); o (B, H*dv), lse (B, H) or NULL. Parallel over
 * (b, h). */
void op_attention_decode(float *o, float *lse, const float *q, const float *const *kc,
                         const float *const *vc, const int64_t *len, int64_t B, int H, int dk,
                         int dv, float scale, int threads);

#endif
