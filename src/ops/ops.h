/*
 * ops.h: the CPU kernels, one family per file in src/ops/. The model (src/model.c) calls
 * only these; a GPU backend provides the same signatures (src/cuda/, later).
 *
 * Conventions: row-major; `ld*` are row strides in floats; shapes in comments use
 * RETNET.md's letters (B T d h dk dv C L V). Outputs never alias inputs unless stated.
 */
#ifndef RETNET_OPS_H
#define RETNET_OPS_H

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
 * groupnorm: LayerNorm over dv with affine w, b of width h*dv (NULL: no affine);
 * rmsnorm: RMSNorm over dv with w of width dv shared by heads (NULL: no affine).
 * o, g, y: (M, h*dv). y may be o.
 */
void op_head_norm_gate(float *y, const float *o, const float *g, const float *w,
                       const float *b, int64_t M, int h, int dv, float eps, int groupnorm);

/* ---- activation.c ------------------------------------------------------------------ */
void op_gelu(float *y, const float *x, int64_t n);              /* exact, erf form */
void op_swish(float *y, const float *x, int64_t n);             /* x * sigmoid(x) */
void op_mul(float *y, const float *a, const float *b, int64_t n);
void op_add(float *y, const float *a, const float *b, int64_t n);

/* ---- embed.c ----------------------------------------------------------------------- */
/* x (n, d) = table[tokens] * scale. Tokens are already range-checked. */
void op_embed(float *x, const float *table, const int32_t *tokens, int64_t n, int64_t d,
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
                                int groupnorm);

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

#endif
