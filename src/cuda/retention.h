/*
 * retention.h: the CUDA retention kernels (src/cuda/retention.cu) behind a plain C API:
 * the chunkwise forward, its backward, and the recurrent decoding step (RETNET.md §2, the
 * three forms; §3's normalisation is the model's, but its row sums r can ride in the
 * chunkwise passes: retention_cuda_forward_rows, retention_cuda_backward_rows).
 *
 * Conventions
 *  - Every pointer is DEVICE memory, row-major, contiguous in the shapes given; bf16 is the
 *    raw 16-bit pattern (uint16_t here, __nv_bfloat16 on the device). q, k, v, o and the
 *    gradients are time-major like fla's chunk_retention with head_first=False:
 *    q, k (B, T, H, dk), v, o (B, T, H, dv). States are fp32 (B, H, dk, dv).
 *  - gamma: H fp32 decays on the device (RETNET.md §2, e.g. 1 - 2^(-5-h)); every power of
 *    gamma and every state is kept in fp32.
 *  - scale multiplies q (fla's default, dk^-0.5, is what scale <= 0 selects).
 *  - dk and dv: multiples of 8, at most 512. Pointers 16-byte aligned (cudaMalloc's are).
 *  - dtype arguments take RETNET_CUDA_F32 (0) or RETNET_CUDA_BF16 (1), the values of
 *    cuda_dtype in cuda/cuda.h.
 *  - stream: a cudaStream_t (NULL: the legacy default stream). Calls only ENQUEUE work.
 *  - Return 0, or nonzero with a one-line message in retention_cuda_errmsg() (bad
 *    arguments are refused before any work; errors inside a kernel show at the next sync).
 *  - Deterministic: no two writers race on an element; each is summed in a fixed order.
 *  - Accuracy: tensor-core products on bf16 operands with fp32 accumulation. Besides the
 *    inputs, three roundings to bf16 happen inside (the decayed score block, the state as an
 *    operand of q S, and v * gamma^(L-1-j) in the state update), each 2^-8 relative (bf16's unit roundoff);
 *    dev/cuda/retention_lab.py measures the result against float64. A contraction wider
 *    than 256 (dv > 256 for dq and dk, dk > 256 for o and dv) runs as two passes over its
 *    halves where the GPU is full, the second adding to the first's output: a bf16 output
 *    is then rounded twice more (the first half's, the second's addend).
 */
#ifndef RETNET_CUDA_RETENTION_H
#define RETNET_CUDA_RETENTION_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RETNET_CUDA_F32 0
#define RETNET_CUDA_BF16 1

struct CUstream_st; /* cudaStream_t is struct CUstream_st * */

/*
 * Chunkwise forward, all B sequences and H heads in one launch: per head with gamma,
 *   o_n = sum_{m <= n} gamma^(n-m) (scale q_n . k_m) v_m  +  gamma^(n+1) scale q_n S0
 *   state_out = S_T = gamma^T S0 + sum_m gamma^(T-1-m) k_m^T v_m
 * q, k (B, T, H, dk) bf16; v (B, T, H, dv) bf16; o (B, T, H, dv) of o_dtype.
 * state_in (B, H, dk, dv) fp32 or NULL (zero); state_out (B, H, dk, dv) fp32 or NULL
 * (not wanted); state_out may be state_in (each block reads its part before writing it).
 * T may be 0 (then state_out = state_in). Chunks of 64 tokens (the mma.sync kernel that runs
 * off Hopper: 32 when dk > 256).
 */
int retention_cuda_forward(int B, int T, int H, int dk, int dv, const void *q, const void *k,
                           const void *v, const float *gamma, float scale,
                           const float *state_in, float *state_out, void *o, int o_dtype,
                           struct CUstream_st *stream);

/*
 * Backward of retention_cuda_forward. Inputs as the forward's (state_in the same, or NULL),
 * dout (B, T, H, dv) bf16; dstate_out (B, H, dk, dv) fp32, the gradient reaching the final
 * state, or NULL (zero). Outputs, each may be NULL when not wanted:
 *   dq, dk_ (B, T, H, dk) and dv_ (B, T, H, dv) of grad_dtype; dstate_in (B, H, dk, dv) fp32,
 *   the gradient of the initial state.
 * accumulate = 0 overwrites the outputs, 1 adds to them (+=, the rule of cuda/cuda.h).
 * Nothing is stored between forward and backward: three chunkwise passes recompute what
 * they need (dq: forward in time, carrying the states; dk, dv: backward in time, carrying
 * dL/dS), so the work is about three forwards and needs no scratch memory. When both dq and
 * dk are asked for, their passes run side by side: the dk pass on a second stream of this
 * file's (one per device), forked from and joined back to `stream` by events, so the call
 * stays ordered on `stream` (and can be captured in a CUDA graph). That stream is shared:
 * calls from several host threads at once are not supported (as for the error message).
 */
int retention_cuda_backward(int B, int T, int H, int dk, int dv, const void *q, const void *k,
                            const void *v, const float *gamma, float scale,
                            const float *state_in, const void *dout, const float *dstate_out,
                            void *dq, void *dk_, void *dv_, int grad_dtype, int accumulate,
                            float *dstate_in, struct CUstream_st *stream);

/*
 * The backward's dq and dk (no states, not accumulated) with RETNET.md §3's row sums'
 * gradient added: r_n = sum_{m <= n} gamma^(n-m) scale q_n . k_m (retention with v = 1, the
 * model's row factors), dr (B, T, H) bf16 at element ((b T + t) H + h) dr_ld. Inside the dq
 * and dk passes (the scores gain dr, the carried state a row: the key sums, resp. the dr-
 * weighted query sums), where it had taken a pass of its own for each (a v = 1 retention
 * backward adding to dq and dk). Only on the wgmma kernel: retention_cuda_have_rows() says
 * whether this build and device have it (else this call fails, nothing enqueued).
 */
int retention_cuda_have_rows(void);
/*
 * The forward (no states) with those row sums formed on the way: r8 (B, T, H, 8) fp32 gets
 * 8 partial sums of each r_n, r_n = sum_{s < 8} r8[((b T + t) H + h) 8 + s] in that order
 * (slot s: the carried key sums' term over the key columns s dk / 8 ..; slot 0 also the
 * chunk's own scores). Every slot is written. dk <= RETENTION_CUDA_ROWS_DK_MAX (the kernel with
 * two Q / K buffers); retention_cuda_have_rows().
 */
#define RETENTION_CUDA_ROWS_DK_MAX 256 /* retention_cuda_forward_rows' widest heads */
int retention_cuda_forward_rows(int B, int T, int H, int dk, int dv, const void *q,
                                const void *k, const void *v, const float *gamma, float scale,
                                void *o, int o_dtype, float *r8, struct CUstream_st *stream);
int retention_cuda_backward_rows(int B, int T, int H, int dk, int dv, const void *q,
                                 const void *k, const void *v, const float *gamma, float scale,
                                 const void *dout, const void *dr, int dr_ld, void *dq, void *dk_,
                                 int grad_dtype, struct CUstream_st *stream);

/*
 * One decoding step for B sequences (recurrent form): per head,
 *   S = gamma S + k^T v;   o = scale q S   (the state after this token)
 * q, k (B, H, dk) bf16; v (B, H, dv) bf16; state (B, H, dk, dv) fp32, updated in place
 * (read and written once); o (B, H, dv) of o_dtype. T steps of this equal one
 * retention_cuda_forward over the T tokens (outputs and state).
 */
int retention_cuda_step(int B, int H, int dk, int dv, const void *q, const void *k,
                        const void *v, const float *gamma, float scale, float *state, void *o,
                        int o_dtype, struct CUstream_st *stream);
/* The same step with RETNET.md §3's key sums z (B, H, dk) fp32 updated in place
 * (z = gamma z + k) and each head's o (fp32) scaled by its row factor f = s / max(|s r|, 1),
 * r = q . z, s the decay-row normalisation at the sequence's position pos[b] (device int64),
 * gamma64 (H) the decays in double (row_factor.h: the CPU's formula): in one launch what
 * retention_cuda_step and then cuda_retention_normalize_step do. dk a multiple of 4. */
int retention_cuda_step_rows(int B, int H, int dk, int dv, const void *q, const void *k,
                             const void *v, const float *gamma, float scale, float *state,
                             void *o, float *z, const double *gamma64, const int64_t *pos,
                             struct CUstream_st *stream);
/* Whether retention_cuda_step_rows takes these shapes on this device: a head's blocks in one
 * cluster (dv at most 512), dk a multiple of 4, compute capability 9 or newer. */
int retention_cuda_step_rows_ok(int dk, int dv);
/* The multi-scale retention block's head norm and gate after a step (RETNET.md §4, as
 * cuda_op_head_norm_gate_bf16 forms them): y = norm(o) [* w] [+ b] [* swish(g)] per head,
 * mode 0 RMSNorm (w shared by the heads), 1 GroupNorm (w, b per head: H dv each), 2 none;
 * g (B, H, dv) fp32 or NULL; y (B, H, dv) bf16. */
typedef struct {
    const float *g, *w, *b;
    int mode;
    float eps;
    void *y;
} retention_cuda_head_norm;
/* Whether retention_cuda_step_hn takes these shapes on this device: dv a multiple of 64 and
 * at most 512 (a head's blocks in one cluster), compute capability 9 or newer. */
int retention_cuda_step_hn_ok(int dk, int dv);
/* retention_cuda_step (o fp32), with §3's key sums as retention_cuda_step_rows where z is
 * given, then the head norm and gate into hn->y, in one launch. */
int retention_cuda_step_hn(int B, int H, int dk, int dv, const void *q, const void *k,
                           const void *v, const float *gamma, float scale, float *state, void *o,
                           float *z, const double *gamma64, const int64_t *pos,
                           const retention_cuda_head_norm *hn, struct CUstream_st *stream);

/*
 * The decoding step with a window: the state is read every step but written only every W
 * steps, so a step moves about half the bytes of retention_cuda_step's read and write. The
 * last tokens' k and v wait in a ring of W + 1 slots beside the state, and
 *   o = scale (gamma^c q S + sum_j gamma^(c-1-j) (q . k_j) v_j)
 * over the c window tokens including this one (RETNET.md's recurrence unrolled over the
 * window: the chunkwise form's split between the state and the tokens since). Every W
 * steps, at a layer's own phase, the window is folded first:
 *   S = gamma^w S + sum_j gamma^(w-1-j) k_j^T v_j   (w tokens, read and written once).
 * kw (B, W + 1, H, dk) bf16 and vw (B, W + 1, H, dv) bf16 hold the window: token j since the
 * window was last empty in slot j % (W + 1). m (B) int32: the tokens since then before this
 * step (device; only retention_cuda_window_advance changes it). phase: 0 <= phase < W, the
 * layer's offset in the fold schedule (layers fold on different steps, so every step costs
 * about the same). The other arguments are retention_cuda_step's; the state and o equal its
 * up to fp32 rounding once the window is folded in (retention_cuda_window_flush).
 */
int retention_cuda_step_window(int B, int H, int dk, int dv, const void *q, const void *k,
                               const void *v, const float *gamma, float scale, float *state,
                               void *kw, void *vw, const int *m, int W, int phase, void *o,
                               int o_dtype, struct CUstream_st *stream);
/* The window folded into the state (state = what retention_cuda_step would hold), for B
 * sequences with their m; m itself is left alone (advance with reset next). */
int retention_cuda_window_flush(int B, int H, int dk, int dv, const float *gamma, float *state,
                                const void *kw, const void *vw, const int *m, int W, int phase,
                                struct CUstream_st *stream);
/* m (B) += 1 after a step's layers (kept below 2^30 by steps of W (W + 1), which leave every
 * schedule the same), or = 0 (reset) after a flush or a new state */
int retention_cuda_window_advance(int B, int *m, int reset, int W, struct CUstream_st *stream);
/* Window tokens (before a step) of a layer of the given phase after m tokens: the first fold
 * comes at m = W - phase, then every W */
#ifdef __CUDACC__
__host__ __device__
#endif
static inline int retention_window_len(int m, int phase, int W) {
    if (m <= 0) return 0;
    const int r = (m + phase) % W;
    if (r == 0) return m < W ? m : W;
    return m < W - phase ? m : r;
}

/*
 * Whether this host thread's retention_cuda_step calls use programmatic dependent launch
 * (sm_90; elsewhere ignored): the step's kernel then starts while the kernel before it in
 * the stream finishes, reads the state's first rows, and waits for that kernel before it
 * reads q, k, v. Only for chains where no kernel launched since the last ordinary launch
 * writes the state (a model's decoding step). Off by default; returns the previous setting.
 */
int retention_cuda_step_overlap(int on);

/* The message of the last failed call of this file ("" if none). Not thread safe. */
const char *retention_cuda_errmsg(void);

/*
 * For the kernel lab (dev/cuda) only: force the output-tile width of the chunkwise kernels
 * (32 or 64; 0 restores the automatic choice, which takes 64 unless that leaves SMs idle).
 */
void retention_cuda_lab_set_tile(int vt);
/* For the kernel lab only: ablations that give WRONG results, to time parts of the chunkwise
 * kernel (bit 1: no loads after the first chunk; 2: no phase-1 products, mma.sync kernel only;
 * 4: no state update; 8: no output stores), and the ways not taken, which give the same
 * results up to rounding (16: the wgmma kernels write O from the registers, not staged and
 * stored by TMA; 32: a contraction wider than 256 in one pass, not split in halves; 128: the
 * split at every size, not only where the tiles fill the GPU; 256: the backward's dq and dk passes in turn,
 * not side by side). 0 (the default) is the real kernel. RETNET_CUDA_LAB_FLAGS in the
 * environment ORs flags in for a whole program. */
void retention_cuda_lab_set_flags(int flags);
/* For the kernel lab only: which chunkwise kernel runs (0: automatic, the wgmma kernel with
 * TMA loads on Hopper when this file was built for sm_90a, else the mma.sync kernel; 1: the
 * mma.sync kernel; 2: the wgmma kernel with TMA loads; 3: the wgmma kernel with cp.async
 * loads, which only this path runs; 2 and 3 are an error where they are not available), and
 * whether the wgmma kernels are available here. */
void retention_cuda_lab_set_path(int path);
int retention_cuda_lab_have_wgmma(void);
/* For the kernel lab only: one wgmma per operand arrangement of the Hopper kernel (variant
 * 0..10, see retention.cu) on 64 x 64 x 64 bf16 matrices a (M x K), b (K x N), d (M x N fp32),
 * device memory, on `stream`. */
int retention_cuda_lab_wgmma_selftest(int variant, const void *a, const void *b, float *d,
                                      void *stream);
/* For the kernel lab only: blocks per cluster of the Hopper TMA kernel, sharing Q and K by
 * multicast (n > 1, reduced to a divisor of a head's output tiles, at most 8); 0 or 1: no
 * clusters, the default (clusters measured slower). */
void retention_cuda_lab_set_cluster(int n);
/* For tests and the lab: the shape of retention_cuda_step_window's kernel (0: automatic, by
 * the state's size; 1: the small states' shape; 2, 3, 4, 5: the large states' shape at 512,
 * 256, 128, 64 columns, narrower where the window's shared memory asks for it; 6, 7, 8: the
 * small states' shape at 64, 128, 256 columns, which 1 picks between by the blocks' waves);
 * overrides RETNET_CUDA_WINDOW_SHAPE. */
void retention_cuda_lab_window_shape(int shape);

#ifdef __cplusplus
}
#endif

#endif
