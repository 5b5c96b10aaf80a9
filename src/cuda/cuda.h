/*
 * cuda.h: the CUDA backend's internal C API (built with `make CUDA=1`, which defines
 * RETNET_CUDA). Plain C: the library's C files, the tests and the CLI include it. The
 * kernels behind it mirror src/ops/ file for file: src/cuda/matmul.cu, norm.cu,
 * activation.cu, embed.cu, rope.cu, loss.cu, optim.cu (src/optim.c's AdamW); gemv.cu has the
 * decoding products (a few rows of x), retention_norm.cu the §3 normalisations; runtime.cu
 * holds the device, errors, memory, streams and cuBLAS handles; retention is retention.h's.
 *
 * Conventions, as src/ops/ops.h (whose CPU kernels these mirror, name for name):
 *  - Every pointer argument of a cuda_op_* is DEVICE memory unless stated; row-major; `ld*`
 *    are row strides in elements; shapes in comments use RETNET.md's letters.
 *  - bf16 is `cuda_bf16` here (uint16_t: the upper half of a float32), `__nv_bfloat16` on
 *    the device; conversions round to nearest even exactly as op_f32_to_bf16.
 *  - Every call takes a stream (`cuda_stream`, i.e. cudaStream_t; NULL: the legacy default
 *    stream) and only ENQUEUES work: results are ready after retnet_cuda_sync(stream).
 *  - Every call that can fail returns a retnet_status and leaves a one-line message in
 *    retnet_errmsg() ("CUDA: what: cudaErrorName: text (file:line)"). Launch errors are seen
 *    at once; errors inside a kernel surface at the next synchronising call.
 *  - Backward rule, as ops.h: gradients ACCUMULATE (+=) into every output; a gradient output
 *    may be NULL when it is not wanted. Forward inputs are passed again as they were given.
 *  - Some kernels need scratch memory (named below): they take it from one buffer of the
 *    runtime that grows on demand (cudaMalloc; growing waits for the device). Calls that use
 *    it must therefore be ordered on one stream at a time.
 *  - The runtime's state (device, handles, scratch) is per process and not thread safe: use
 *    the backend from one host thread.
 *  - Results are deterministic: no floating-point atomics; every reduction has a fixed
 *    order that depends only on the shapes.
 */
#ifndef RETNET_CUDA_H
#define RETNET_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "retnet.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st *cuda_stream; /* the same type as cudaStream_t */
typedef uint16_t cuda_bf16;              /* __nv_bfloat16 on the device */
typedef enum { CUDA_F32 = 0, CUDA_BF16 = 1 } cuda_dtype;
typedef enum { CUDA_ACT_GELU = 0, CUDA_ACT_SWISH = 1 } cuda_act;

/* Device failures have no status of their own in retnet.h yet: they report this one. */
#define RETNET_EDEVICE RETNET_EUNSUPPORTED

/* ==================================================================================== */
/* runtime.cu --------------------------------------------------------------------------- */

/* Number of CUDA devices; 0 when there is none or no driver (then retnet_errmsg() says why,
 * e.g. "CUDA: cudaGetDeviceCount: cudaErrorNoDevice: no CUDA-capable device is detected").
 * Never fails otherwise; tests call it to decide whether to skip. */
int retnet_cuda_device_count(void);

/* Selects device `device` for this process and creates the cuBLAS and cuBLASLt handles and
 * the matmul workspace. Calling it again with the same device does nothing; another device
 * shuts the first down. Every other call below needs it (cuda_op_* call it for device 0 if
 * the program did not). */
retnet_status retnet_cuda_init(int device);
/* Frees the handles, the workspace and the scratch (not the caller's allocations). */
void retnet_cuda_shutdown(void);
/* "NVIDIA H200 (sm_90, 132 SMs, 139.8 GiB)"; "" before init. */
const char *retnet_cuda_device_name(void);

/* Device memory. `what` names the buffer in the error message. *p is NULL on failure
 * (RETNET_ENOMEM with the size and the free memory). bytes 0 gives NULL and OK. */
retnet_status retnet_cuda_malloc(void **p, size_t bytes, const char *what);
void retnet_cuda_free(void *p); /* NULL is fine */

/* Copies between host and device, synchronous for the host (ordered after the work already
 * enqueued on the legacy default stream, and so on every blocking stream). */
retnet_status retnet_cuda_upload(void *dst_dev, const void *src_host, size_t bytes);
retnet_status retnet_cuda_download(void *dst_host, const void *src_dev, size_t bytes);
/* Enqueued: dst = 0 (bytes) on the stream. */
retnet_status retnet_cuda_memset0(void *dst_dev, size_t bytes, cuda_stream s);

/* Streams; blocking ones: ordered with the legacy default stream, so with the copies above. */
retnet_status retnet_cuda_stream_create(cuda_stream *s);
void retnet_cuda_stream_destroy(cuda_stream s);
/* Waits for the stream (NULL: the whole device) and reports any error raised by its work. */
retnet_status retnet_cuda_sync(cuda_stream s);

/* ==================================================================================== */
/* matmul.cu: matrix products (cuBLASLt, fp32 accumulation) ----------------------------- */

/*
 * General row-major product C (M, N) = alpha op(A) op(B) + beta C, as op_gemm: op(A) is
 * (M, K) (A stored (K, M) when transA), op(B) is (K, N) (B stored (N, K) when transB).
 * A and B are both CUDA_F32 (an exact fp32 SGEMM: TF32 is never used) or both CUDA_BF16
 * (tensor cores); C is CUDA_F32 or CUDA_BF16 (fp32 inputs need an fp32 C). The
 * accumulation is always fp32. beta 0 never reads C (it may hold NaN).
 */
retnet_status cuda_op_gemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                           const void *A, int64_t lda, const void *B, int64_t ldb,
                           cuda_dtype ab_type, float beta, void *C, int64_t ldc,
                           cuda_dtype c_type, cuda_stream s);

/* y (M, N) [y_type] = x (M, K) @ w (N, K)^T  [+ y if accumulate]; x and w of in_type. */
retnet_status cuda_op_matmul(void *y, cuda_dtype y_type, const void *x, const void *w,
                             cuda_dtype in_type, int64_t M, int64_t N, int64_t K,
                             int accumulate, cuda_stream s);
/* y (M, N) fp32 = res + x (M, K) @ w (N, K)^T: a residual branch's output projection added
 * to the stream without copying it first (cuBLASLt's separate C and D; res may be y). */
retnet_status cuda_op_matmul_residual(float *y, const float *res, const void *x, const void *w,
                                      cuda_dtype in_type, int64_t M, int64_t N, int64_t K,
                                      cuda_stream s);
/* Backward of y = x W^T: dx (M, K) += dy W;  dw (N, K) += dy^T x. dy, x, w of in_type;
 * dx and dw of their own types (e.g. bf16 activations' gradients, fp32 weight gradients). */
retnet_status cuda_op_matmul_backward(void *dx, cuda_dtype dx_type, void *dw,
                                      cuda_dtype dw_type, const void *dy, const void *x,
                                      const void *w, cuda_dtype in_type, int64_t M, int64_t N,
                                      int64_t K, cuda_stream s);

/* ==================================================================================== */
/* gemv.cu: products with a few rows of x (decoding), at the speed of reading the weights */

#define CUDA_GEMV_MAX_M 16  /* rows of x */
/* Which single products cuda_op_matmul / cuda_op_gemm give the gemv kernels: up to 2 rows of
 * x, and up to CUDA_GEMV_MAX_M for weights of at most 2^24 values. On the H200
 * (bench/gpu/gemv-h200.txt) the FMA kernel (M <= 2) beat cuBLASLt 1.5-2.8x for the model's
 * d x d-sized weights and tied for the 32000 x 2048 output layer at M = 2, same run; the mma
 * kernel (M >= 3, next32.sh's run) took 9.5 / 7.6 us at M = 8 for wo / fc2 and 39.8-40.5 us
 * for the output layer at M = 4-8, where cuBLASLt took 13.4 / 15.8 and 35.1-35.5 us in the
 * earlier run (not the same run: the ratios are approximate); at M = 16 (next44.sh, same run)
 * 11.2 / 9.6 us against cuBLASLt's 15.6 / 15.1. */
#define CUDA_GEMV_SINGLE(M, N, K) ((M) <= 2 || (int64_t)(N) * (K) <= (1 << 24))
#define CUDA_GEMV_MAX_OUT 4 /* products sharing x in one launch */

/* An output rotated as cuda_op_rope_bf16 would rotate it (the same bits): heads of dk,
 * pairs (j, j + dk/2) when half, else (2j, 2j + 1); row m of x at position pos[m] (device). */
typedef struct {
    int dk, half;
    double base;
    float scale;
    const int64_t *pos;
} cuda_gemv_rope;

/* RMSNorm carried across a decoding step's products, so that the norm is no launch of its
 * own. A product that adds to the residual (fp32 y = addend + x w^T) can also write the next
 * norm's operand unscaled, xw = bf16(y w_norm): the norm's scale is one number a row, which
 * the next product forms from y itself while it reads xw and applies after its sums. */
typedef struct {
    const float *w; /* (N) the norm's weight */
    cuda_bf16 *xw;  /* (M, N) bf16(y w), 16-byte aligned */
} cuda_gemv_rms_out;

/* The next product's side: its x is such an xw, y (M, K) fp32 (x's row stride, 16-byte
 * aligned) the rows it came from; each row's sums are scaled by 1 / sqrt(mean(y^2) + eps),
 * mean(y^2) summed in fp32 by the lanes that read the matching xw. So the operand is rounded
 * before the scale, not after as in cuda_op_rmsnorm_bf16: the same relative rounding. */
typedef struct {
    const float *y;
    float eps;
} cuda_gemv_rms;

typedef struct {
    const cuda_bf16 *w;   /* (N, K) bf16, 16-byte aligned */
    void *y;              /* (M, N) of y_type, row stride ldy */
    cuda_dtype y_type;    /* CUDA_F32 or CUDA_BF16 */
    int64_t N, ldy;
    const void *addend;   /* y = addend + x w^T (y_type, row stride ldy; may be y), or NULL */
    const cuda_gemv_rope *rope; /* or NULL; with it y is bf16 and there is no addend */
    int gelu;             /* y = bf16(gelu(x w^T)), as cuda_op_act_bf16 on the fp32 product
                             (the same bits): y bf16, no addend, no rope */
    const cuda_gemv_rms_out *rms; /* or NULL: the next norm's operand (y fp32, N % 8 == 0) */
} cuda_gemv_out;

/* Whether decoding rotates q and k in the products' epilogue (on unless
 * RETNET_CUDA_ROPE_EPILOGUE=0; the same bits as product then rope: test_cuda_gemv test_rope). */
int cuda_gemv_rope_epilogue(void);

/* Whether the gemv kernels take x (M, K) with row stride ldx: 1 <= M <= CUDA_GEMV_MAX_M,
 * K >= 8, K and ldx multiples of 8, x 16-byte aligned, and not turned off
 * (RETNET_CUDA_GEMV=0). */
int cuda_gemv_suits(int64_t M, int64_t K, const void *x, int64_t ldx);
/* y_i = [addend_i +] x (M, K) bf16 @ w_i (N_i, K)^T, for n_out <= CUDA_GEMV_MAX_OUT outputs
 * in one launch; fp32 accumulation. RETNET_EUNSUPPORTED where cuda_gemv_suits says no. */
retnet_status cuda_op_gemv_multi(const cuda_bf16 *x, int64_t M, int64_t K, int64_t ldx,
                                 const cuda_gemv_out *out, int n_out, cuda_stream s);
/* Whether a product of M rows can take a norm's scale (cuda_gemv_rms): one row, in the FMA
 * kernel, and cuda_gemv_suits. */
int cuda_gemv_rms_suits(int64_t M, int64_t K, const void *x, int64_t ldx);
/* cuda_op_gemv_multi, cuda_op_gemv_glu with x an xw and its scale (rms not NULL) */
retnet_status cuda_op_gemv_multi_rms(const cuda_bf16 *x, int64_t M, int64_t K, int64_t ldx,
                                     const cuda_gemv_out *out, int n_out,
                                     const cuda_gemv_rms *rms, cuda_stream s);
retnet_status cuda_op_gemv_glu_rms(cuda_bf16 *y, const cuda_bf16 *x, const cuda_bf16 *w1,
                                   const cuda_bf16 *w2, int64_t M, int64_t N, int64_t K,
                                   cuda_act act, const cuda_gemv_rms *rms, cuda_stream s);
/* The GLU FFN's hidden layer in one pass over both weights: y (M, N) bf16 =
 * act(x @ w1^T) * (x @ w2^T) (cuda_op_glu_bf16's formula on the fp32 products). */
retnet_status cuda_op_gemv_glu(cuda_bf16 *y, const cuda_bf16 *x, const cuda_bf16 *w1,
                               const cuda_bf16 *w2, int64_t M, int64_t N, int64_t K,
                               cuda_act act, cuda_stream s);

/* ==================================================================================== */
/* retention_norm.cu: RETNET.md §3 (the config's `normalize`), after retention's raw output */

/* o (B, T, h, dv) fp32 *= f per row and head (o NULL: f_out only, for
 * cuda_op_head_norm_gate_scaled_bf16), f = model_row_factor(gamma64[head], pos[b] + t,
 * r), r the row's score sum over q, k (B, T, h, dk) bf16 (retention's operands) and the
 * initial key sums z_in (B, h, dk) fp32 (NULL: zero); the key sums after the T tokens into
 * z_out (NULL: not wanted; may be z_in). gamma (h) fp32 for the retention kernel, gamma64 the
 * same decays in double for f. Uses the scratch buffer. */
retnet_status cuda_retention_normalize(float *o, const cuda_bf16 *q, const cuda_bf16 *k,
                                       const float *gamma, const double *gamma64,
                                       const int64_t *pos, const float *z_in, float *z_out,
                                       int64_t B, int64_t T, int h, int dk, int dv,
                                       float *f_out, float *r_out, cuda_stream s);
/* Training's forward with the row sums formed inside retention's own pass
 * (retention_cuda_forward_rows: where retention_cuda_have_rows() and dk <=
 * RETENTION_CUDA_ROWS_DK_MAX): o (B, T, h, dv) fp32 unscaled, f_out and r_out as
 * cuda_retention_normalize keeps them with o NULL. Uses the scratch buffer. */
retnet_status cuda_retention_forward_normalized(float *o, const cuda_bf16 *q, const cuda_bf16 *k,
                                                const cuda_bf16 *v, const float *gamma,
                                                const double *gamma64, int64_t B, int64_t T,
                                                int h, int dk, int dv, float *f_out,
                                                float *r_out, cuda_stream s);
/* Training (positions from 0, no states), with f_out, r_out (B, T, h) kept by the forward (r
 * as 0 where |s r| <= 1, where f does not depend on it):
 * dfo (B, T, h, dv) bf16, the gradient of the scaled rows fo = f o, becomes in place that of
 * o (f dfo); the row sums' gradient goes to column 0 of dr8 (B, T, h, 8) bf16. Then
 * ..._sums adds what it gives q and k to dq, dk (B, T, h, dk) fp32 (retention's backward with
 * v = 1; ones8 (B, T, h, 8) bf16 is its scratch). */
retnet_status cuda_retention_normalize_backward(cuda_bf16 *dfo, const float *fo, const float *f,
                                                const float *r, cuda_bf16 *dr8, int64_t B,
                                                int64_t T, int h, int dv, cuda_stream s);
retnet_status cuda_retention_normalize_backward_sums(const cuda_bf16 *q, const cuda_bf16 *k,
                                                     const float *gamma, const cuda_bf16 *dr8,
                                                     cuda_bf16 *ones8, float *dq, float *dk_,
                                                     int64_t B, int64_t T, int h, int dk,
                                                     cuda_stream s);
/* The same for one decoding step (T = 1): z (B, h, dk) updated in place, o (B, h, dv) scaled. */
retnet_status cuda_retention_normalize_step(float *o, float *z, const cuda_bf16 *q,
                                            const cuda_bf16 *k, const double *gamma64,
                                            const int64_t *pos, int64_t B, int h, int dk, int dv,
                                            cuda_stream s);

/* ==================================================================================== */
/* activation.cu: conversions ----------------------------------------------------------- */
retnet_status cuda_op_f32_to_bf16(cuda_bf16 *y, const float *x, int64_t n, cuda_stream s);
retnet_status cuda_op_bf16_to_f32(float *y, const cuda_bf16 *x, int64_t n, cuda_stream s);

/* ==================================================================================== */
/* embed.cu: embedding ------------------------------------------------------------------ */

/* x (n, d) = table (V, d)[tokens] * scale. A token outside [0, V) gives a row of NaN (the
 * model checks tokens before; a NaN shows a bug where the CPU would read out of bounds). */
retnet_status cuda_op_embed(float *x, const float *table, const int32_t *tokens, int64_t n,
                            int64_t d, int64_t V, float scale, cuda_stream s);
/* dtable[tokens[i]] += dx[i] * scale, tokens outside [0, V) skipped. Without atomics: the
 * positions are sorted by token (a stable radix sort) and each row of the table adds its
 * positions in increasing order, the CPU's order. Uses scratch (~16 n bytes + the sort's). */
retnet_status cuda_op_embed_backward(float *dtable, const float *dx, const int32_t *tokens,
                                     int64_t n, int64_t d, int64_t V, float scale,
                                     cuda_stream s);

/* ==================================================================================== */
/* norm.cu: norms (statistics accumulated in double, as norm.c) ------------------------- */

/* Row-wise over d: y = (x - mean) / sqrt(var + eps) * w + b (b may be NULL). y may be x. */
retnet_status cuda_op_layernorm(float *y, const float *x, const float *w, const float *b,
                                int64_t M, int64_t d, float eps, cuda_stream s);
/* Row-wise over d: y = x / sqrt(mean(x^2) + eps) * w (w may be NULL). y may be x. */
retnet_status cuda_op_rmsnorm(float *y, const float *x, const float *w, int64_t M, int64_t d,
                              float eps, cuda_stream s);
/* Per-head norm and swish gate, fused (RETNET.md §4; op_head_norm_gate): o, g, y (M, h*dv).
 * mode (ops.h's HEAD_NORM_*): 1 groupnorm: LayerNorm over dv, affine w, b of width h*dv
 * (NULL: none); 0 rmsnorm: RMSNorm over dv, w of width dv shared by the heads (NULL: none);
 * 2 none: no normalisation (an ablation), w as rmsnorm's. b is used by groupnorm only.
 * g NULL: no gate (the other ablation). y may be o. */
retnet_status cuda_op_head_norm_gate(float *y, const float *o, const float *g, const float *w,
                                     const float *b, int64_t M, int h, int dv, float eps,
                                     int mode, cuda_stream s);

/* Backward (+=). The parameter gradients dw, db are column sums over rows, formed in double
 * in a fixed order (row chunks, then the chunks in order): they use scratch. */
retnet_status cuda_op_layernorm_backward(float *dx, float *dw, float *db, const float *dy,
                                         const float *x, const float *w, int64_t M, int64_t d,
                                         float eps, cuda_stream s);
retnet_status cuda_op_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                                       const float *w, int64_t M, int64_t d, float eps,
                                       cuda_stream s);
/* do_ (M, h*dv), dg (M, h*dv), dw/db as the forward's w/b. */
retnet_status cuda_op_head_norm_gate_backward(float *do_, float *dg, float *dw, float *db,
                                              const float *dy, const float *o, const float *g,
                                              const float *w, const float *b, int64_t M, int h,
                                              int dv, float eps, int mode, cuda_stream s);

/* The same with bf16 outputs, for tensors that are only a product's operand (2^-8 relative
 * each). The backward's _bf16 variant OVERWRITES do_ and dg (bf16) instead of adding; dw, db
 * are still added (fp32). */
retnet_status cuda_op_layernorm_bf16(cuda_bf16 *y, const float *x, const float *w,
                                     const float *b, int64_t M, int64_t d, float eps,
                                     cuda_stream s);
retnet_status cuda_op_rmsnorm_bf16(cuda_bf16 *y, const float *x, const float *w, int64_t M,
                                   int64_t d, float eps, cuda_stream s);
retnet_status cuda_op_head_norm_gate_bf16(cuda_bf16 *y, const float *o, const float *g,
                                          const float *w, const float *b, int64_t M, int h,
                                          int dv, float eps, int mode, cuda_stream s);
/* RETNET.md §3's rows, training. The forward's norm of f o, o unscaled (M h rows of dv, f
 * (M h) from cuda_retention_normalize with o NULL): the same bits as scaling o in place first
 * and cuda_op_head_norm_gate_bf16. dv at most 4096. */
retnet_status cuda_op_head_norm_gate_scaled_bf16(cuda_bf16 *y, const float *o, const float *f,
                                                 const float *g, const float *w,
                                                 const float *b, int64_t M, int h, int dv,
                                                 float eps, int mode, cuda_stream s);
/* The backward's rows (cuda_op_head_norm_gate_backward_bf16's `rows`): with the forward's f,
 * r (M h, as cuda_retention_normalize keeps them) and o UNSCALED (the norm's input f o is
 * formed as the scaled forward forms it), the bf16 d o written is that of o, f bf16(d(f o)),
 * and the row sums' gradient goes to column 0 of dr8 (M h, 8) bf16:
 * cuda_retention_normalize_backward's work in the same pass (d f from the segment's sums,
 * norm.cu). dv at most 512. */
typedef struct {
    const float *f, *r;
    cuda_bf16 *dr8;
} cuda_rows_grad;
retnet_status cuda_op_head_norm_gate_backward_bf16(cuda_bf16 *do_, cuda_bf16 *dg, float *dw,
                                                   float *db, const float *dy, const float *o,
                                                   const float *g, const float *w,
                                                   const float *b, int64_t M, int h, int dv,
                                                   float eps, int mode,
                                                   const cuda_rows_grad *rows, cuda_stream s);

/* The norms' backward (+= into dx, as above) that also writes the updated dx rounded to
 * bf16 into dx_bf16: the residual stream's gradient and, in the same pass, the operand of
 * the next products of the backward. */
retnet_status cuda_op_layernorm_backward_round(float *dx, cuda_bf16 *dx_bf16, float *dw,
                                               float *db, const float *dy, const float *x,
                                               const float *w, int64_t M, int64_t d, float eps,
                                               cuda_stream s);
retnet_status cuda_op_rmsnorm_backward_round(float *dx, cuda_bf16 *dx_bf16, float *dw,
                                             const float *dy, const float *x, const float *w,
                                             int64_t M, int64_t d, float eps, cuda_stream s);

/* ==================================================================================== */
/* rope.cu: rotary embedding (op_rope), all B sequences in one launch ------------------- */

/* Rotates every head of x in place: sequence b, row t is x + (b T + t) ld, head i its
 * columns i*dk .. i*dk+dk-1, at absolute position pos0[b] + t (pos0: B DEVICE int64s, or
 * NULL for all 0). half: pairs (j, j + dk/2), theta_j = base^(-2j/dk); paper: pairs
 * (2j, 2j+1), theta_j = base^(-j/(dk/2-1)). Angles and their sin/cos in double; then times
 * `scale`. dk even. */
retnet_status cuda_op_rope(float *x, int64_t ld, int64_t B, int64_t T, int h, int dk,
                           const int64_t *pos0, int half, double base, float scale,
                           cuda_stream s);
/* Backward, in place (overwrites, as op_rope_backward): the opposite rotation, times scale. */
retnet_status cuda_op_rope_backward(float *dx, int64_t ld, int64_t B, int64_t T, int h, int dk,
                                    const int64_t *pos0, int half, double base, float scale,
                                    cuda_stream s);

/* Out of place into bf16 (the same layout, row stride ld): y = round(rope(x)), resp. the
 * backward's rotation; x is not changed. */
retnet_status cuda_op_rope_bf16(cuda_bf16 *y, const float *x, int64_t ld, int64_t B, int64_t T,
                                int h, int dk, const int64_t *pos0, int half, double base,
                                float scale, cuda_stream s);
retnet_status cuda_op_rope_backward_bf16(cuda_bf16 *y, const float *dx, int64_t ld, int64_t B,
                                         int64_t T, int h, int dk, const int64_t *pos0, int half,
                                         double base, float scale, cuda_stream s);
/* q k v g out of one product's rows (model_cuda.cu's forward: the four weights lie one after
 * the other, so one product gives them): x (B T rows, row stride ldx) holds [q | k | v | g],
 * h dk, h dk, h dv, h dv columns (no g when g == NULL). Writes qb = bf16(rope(q)) and
 * kb = bf16(rope(k) kscale), as cuda_op_rope_bf16 rotates them (scale 1 and kscale: the
 * same bits), vb = bf16(v) and g = g, each (B T, its width) without padding. One launch. */
retnet_status cuda_op_qkvg_split(cuda_bf16 *qb, cuda_bf16 *kb, cuda_bf16 *vb, float *g,
                                 const float *x, int64_t ldx, int64_t B, int64_t T, int h,
                                 int dk, int dv, const int64_t *pos0, int half, double base,
                                 float kscale, cuda_stream s);

/* ==================================================================================== */
/* activation.cu: activations (gelu: exact erf form; swish: x sigmoid(x)) --------------- */
retnet_status cuda_op_gelu(float *y, const float *x, int64_t n, cuda_stream s);
retnet_status cuda_op_swish(float *y, const float *x, int64_t n, cuda_stream s);
retnet_status cuda_op_gelu_backward(float *dx, const float *dy, const float *x, int64_t n,
                                    cuda_stream s);
retnet_status cuda_op_swish_backward(float *dx, const float *dy, const float *x, int64_t n,
                                     cuda_stream s);
/* The GLU FFN's middle, fused: a = act(h1) * h2 (fla's SwiGLU with CUDA_ACT_SWISH,
 * torchscale's with CUDA_ACT_GELU). a may be h1 or h2. */
retnet_status cuda_op_glu(float *a, const float *h1, const float *h2, int64_t n, cuda_act act,
                          cuda_stream s);
/* dh1 += da h2 act'(h1);  dh2 += da act(h1). */
retnet_status cuda_op_glu_backward(float *dh1, float *dh2, const float *da, const float *h1,
                                   const float *h2, int64_t n, cuda_act act, cuda_stream s);
/* bf16 outputs, OVERWRITTEN (not added): for tensors that are only a product's operand.
 * act: y = act(x); its backward dx = dy act'(x); glu: a = act(h1) h2; its backward
 * dh1 = da h2 act'(h1), dh2 = da act(h1) (both required). */
retnet_status cuda_op_act_bf16(cuda_bf16 *y, const float *x, int64_t n, cuda_act act,
                               cuda_stream s);
retnet_status cuda_op_act_backward_bf16(cuda_bf16 *dx, const float *dy, const float *x,
                                        int64_t n, cuda_act act, cuda_stream s);
retnet_status cuda_op_glu_bf16(cuda_bf16 *a, const float *h1, const float *h2, int64_t n,
                               cuda_act act, cuda_stream s);
/* The same out of one product's rows: h (rows, 2F) holds [h1 | h2] (fc1 and gate as one
 * product), a (rows, F) = act(h1) h2 rounded to bf16, as cuda_op_glu_bf16 (the same bits). */
retnet_status cuda_op_glu_rows_bf16(cuda_bf16 *a, const float *h, int64_t rows, int64_t F,
                                    cuda_act act, cuda_stream s);
retnet_status cuda_op_glu_backward_bf16(cuda_bf16 *dh1, cuda_bf16 *dh2, const float *da,
                                        const float *h1, const float *h2, int64_t n,
                                        cuda_act act, cuda_stream s);
/* y = a + b (residuals). y may be a or b. */
retnet_status cuda_op_add(float *y, const float *a, const float *b, int64_t n, cuda_stream s);
/* Residual dropout with src/dropout.h's mask (the CPU's): y = x + branch / (1 - p) where
 * element first + i of branch `which` (0 mixer, 1 FFN) of `layer` is kept, else y = x (y may
 * be x); its backward g = bf16(dy / (1 - p)) where kept, else 0 (overwritten). 0 < p < 1. */
retnet_status cuda_op_dropout_add(float *y, const float *x, const float *branch, int64_t n,
                                  float p, uint64_t seed, int layer, int which, int64_t first,
                                  cuda_stream s);
retnet_status cuda_op_dropout_grad_bf16(cuda_bf16 *g, const float *dy, int64_t n, float p,
                                        uint64_t seed, int layer, int which, int64_t first,
                                        cuda_stream s);

/* ==================================================================================== */
/* loss.cu: loss ------------------------------------------------------------------------ */

/*
 * Softmax cross-entropy over V for n rows (op_cross_entropy), fused with its gradient:
 *   loss[i] = logsumexp(logits[i]) - logits[i, t_i]; one read of the row with an online
 *   max and sum; dlogits[i] = grad_scale (softmax - onehot) written in a second pass.
 * Rows with target < 0 are ignored (loss 0, dlogits 0); a target >= V gives a NaN loss
 * (flagged, never read out of bounds) and dlogits = grad_scale softmax. losses (n) is
 * written; dlogits may be NULL (loss only) or logits itself (in place).
 * Add the losses with cuda_op_sum for op_cross_entropy's total.
 */
retnet_status cuda_op_cross_entropy(float *dlogits, float *losses, const float *logits,
                                    const int32_t *targets, int64_t n, int64_t V,
                                    float grad_scale, cuda_stream s);
/* The same with dlogits in bf16 (not NULL, not overlapping logits): the bits that
 * cuda_op_f32_to_bf16 of cuda_op_cross_entropy's fp32 gradient gives, without writing it
 * (training's logits product takes the bf16 gradient). The rows of logits and dlogits are
 * ld >= V elements apart (the model pads them to 16 bytes for cuBLASLt); the V..ld-1 of a
 * row are neither read nor written. */
retnet_status cuda_op_cross_entropy_bf16(cuda_bf16 *dlogits, float *losses, const float *logits,
                                         const int32_t *targets, int64_t n, int64_t V,
                                         int64_t ld, float grad_scale, cuda_stream s);

/* out (1 double, device) = sum x[i], resp. sum x[i]^2 (the gradient norm's square), in
 * double, in a fixed order for a given n. Uses scratch. */
retnet_status cuda_op_sum(double *out, const float *x, int64_t n, cuda_stream s);
retnet_status cuda_op_sumsq(double *out, const float *x, int64_t n, cuda_stream s);

/* ==================================================================================== */
/* optim.cu: optimiser ------------------------------------------------------------------ */

/*
 * One AdamW step of one tensor of n elements, exactly as retnet_adamw_step (src/optim.c,
 * torch.optim.AdamW): with gi = g[i] * grad_scale (the clipping factor; 1 for none),
 *   p *= 1 - lr wd  (when `decayed`),  m = b1 m + (1 - b1) gi,  v = b2 v + (1 - b2) gi^2,
 *   p -= lr / (1 - b1^step) * m / (sqrt(v) / sqrt(1 - b2^step) + eps).
 * p, m, v fp32 (the master weights and moments); p_bf16 (may be NULL) receives bf16(p).
 * step >= 1; hyperparameters are checked as retnet_adamw_step checks them.
 */
retnet_status cuda_op_adamw(float *p, cuda_bf16 *p_bf16, const float *g, float *m, float *v,
                            int64_t n, int64_t step, const retnet_adamw *h, int decayed,
                            float grad_scale, cuda_stream s);

/* ==================================================================================== */
/* decode_persistent.cu: a whole decoding step of one or two sequences as one kernel ---- */

/*
 * The fla-shaped 1.3B RetNet's step at B = 1 or 2 (d 2048, 8 heads of dk 256 / dv 512, SwiGLU 2816,
 * RMSNorm, rope "half", gate and the head's RMSNorm with weight, no §3): the embedding, every
 * layer, the final norm and the output layer in one cooperative launch of 128 blocks on an
 * sm_90 GPU, streaming each weight once through shared memory. Its products take the same
 * bf16 inputs as the chain's (the norms' outputs, the head norm's output, the FFN's hidden),
 * with fp32 accumulation; q, k and v stay fp32 (the chain rounds them to bf16), and the
 * residual x is summed in fixed point, so the step is deterministic. Where a value of a
 * sequence's x passes 2^23, that sequence's logits come out NaN. model_cuda.cu takes it for
 * B <= cuda_pstep_batches() where cuda_pstep_shape says yes, unless RETNET_CUDA_PERSISTENT=0
 * (faster than the kernel chain: decode_persistent.cu's header); it keeps down's packed copy
 * (24 / 22 of down's bytes) in step with the bf16 weights.
 */
#define CUDA_PSTEP_MAXL 32
typedef struct {
    const cuda_bf16 *wq, *wk, *wv, *wg, *wo; /* (rows, cols) as the model holds them */
    const cuda_bf16 *fc1, *gate;             /* the GLU: swish(fc1 x) * (gate x) */
    const float *attn_norm, *ffn_norm, *head_norm; /* (d), (d), (dv: one for every head) */
} cuda_pstep_layer;
typedef struct {
    int n_layer;
    int64_t vocab;
    cuda_pstep_layer layer[CUDA_PSTEP_MAXL];
    const cuda_bf16 *down; /* every layer's down, packed by cuda_pstep_pack */
    const cuda_bf16 *out; /* (vocab, d): the output layer (or the tied embedding's bf16 copy) */
    const float *final_norm, *embed; /* (d), the fp32 embedding table (vocab, d) */
    float embed_scale, eps;
    const float *gamma; /* (h) decays */
    double rope_base;
    int batch;          /* B: 1 or 2 sequences (cuda_pstep_batches) */
    const int32_t *tok; /* (B) this step's tokens, on the device */
    const int64_t *pos; /* (B) their positions */
    float *state;       /* layer l's S (B, h, dk, dv) at state + l state_layer_floats (read,
                           written) */
    int64_t state_layer_floats; /* a multiple of 4 */
    float *logits;      /* (B, logits_stride) */
    int64_t logits_stride;
    unsigned delay_ns;  /* a test's (test_persistent): the last block reads x this late after
                         * each layer's second meeting; 0 in use */
} cuda_pstep;
/* 1 where the kernel computes this config's shapes (the variant itself is the caller's check) */
int cuda_pstep_shape(int64_t d_model, int n_head, int64_t d_key, int64_t d_value, int64_t d_ffn,
                     int n_layer, int64_t vocab);
/* 1 on a GPU that runs it (sm_90, 128 SMs, 226 KB of shared memory a block, cooperative launch) */
int cuda_pstep_available(void);
/* The most sequences a step of it takes here: 2, 1 or 0 (not available) */
int cuda_pstep_batches(void);
/* device bytes of its scratch, which must be zeroed once before the first step and then be
 * left to it (it keeps the meetings' counter and the steps' tags there) */
size_t cuda_pstep_scratch_bytes(void);
/* down (d, d_ffn) of one layer into the kernel's layout at dst: each block's columns
 * together, so that it reads them in one stream (cuda_pstep_pack_bytes(n_layer) for all) */
size_t cuda_pstep_pack_bytes(int n_layer);
retnet_status cuda_pstep_pack(cuda_bf16 *dst, const cuda_bf16 *fc2, cuda_stream s);
retnet_status cuda_pstep_run(const cuda_pstep *p, void *scratch, cuda_stream s);

#ifdef __cplusplus
}
#endif

#endif
