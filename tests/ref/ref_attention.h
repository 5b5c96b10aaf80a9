/*
 * ref_attention.h: the float64 reference of causal multi-head softmax attention (the
 * Transformer baseline's mixer), written from the definition in src/ops/ops.h alone:
 *
 *   s[i,j] = scale (q_i . k_j),  query i (0..Tq-1) at position P + i, P = Tk - Tq,
 *   sees keys j <= P + i;  p_ij = exp(s_ij) / sum_{j' seen} exp(s_ij');
 *   o_i = sum_j p_ij v_j,  lse_i = log sum_{j seen} exp(s_ij).
 *
 * Plain loops in double, no BLAS, no blocking, no online softmax, nothing shared with the
 * library. Layout as the library's: q (B, Tq, H*dk), k (B, Tk, H*dk), v (B, Tk, H*dv),
 * o (B, Tq, H*dv), lse (B, H, Tq), p (B, H, Tq, Tk), all contiguous.
 */
#ifndef RETNET_REF_ATTENTION_H
#define RETNET_REF_ATTENTION_H

#include <stdint.h>

typedef struct {
    int64_t B, Tq, Tk;
    int H, dk, dv;
    double scale;
    const double *q, *k, *v;
    /* 0 for the rule above. Tests set it to +-1 to build deliberately wrong ("mutant")
     * results, query i then seeing j <= P + i + mask_shift, to prove that their checks
     * would catch a wrong mask. A row that sees no key gets o = 0, lse = -inf, p = 0. */
    int64_t mask_shift;
} ref_attention_args;

/* o, lse, p: each may be NULL. Softmax with the row max subtracted. */
void ref_attention_forward(const ref_attention_args *a, double *o, double *lse, double *p);

/*
 * The analytic backward of L = sum dout ⊙ o (dout (B, Tq, H*dv)):
 *   dv_j = sum_i p_ij dout_i,  dp_ij = dout_i . v_j,  ds_ij = p_ij (dp_ij - sum_j' p_ij' dp_ij'),
 *   dq_i = scale sum_j ds_ij k_j,  dk_j = scale sum_i ds_ij q_i.
 * dq (B, Tq, H*dk), dk (B, Tk, H*dk), dv (B, Tk, H*dv): overwritten; each may be NULL.
 */
void ref_attention_backward(const ref_attention_args *a, const double *dout, double *dq,
                            double *dk, double *dv);

#endif
