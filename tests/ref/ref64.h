/*
 * ref64.h: the float64 reference of the tests, written from RETNET.md alone.
 *
 * Naive on purpose: plain loops, no BLAS, no blocking, no reuse of the library's kernels.
 * It is the oracle that the float32 kernels (src/ops/) and the model (src/model.c) are
 * checked against, so it favours being obviously right over being fast. Every function
 * takes contiguous row-major double arrays; shapes are in the comments with RETNET.md's
 * letters (B T d h dk dv C L V).
 *
 * A useful trick for tolerances: calling a linear reference function on the absolute values
 * of its inputs gives, element by element, the sum of the absolute values of the terms that
 * make up each result (the "magnitude" that float rounding errors are proportional to).
 */
#ifndef RETNET_REF64_H
#define RETNET_REF64_H

#include <stdint.h>

#include "retnet.h"

/* y (M, N) = x (M, K) @ w (N, K)^T: a PyTorch Linear without bias. */
void ref_matmul(double *y, const double *x, const double *w, int64_t M, int64_t N, int64_t K);

/* Row-wise over d: y = (x - mean) / sqrt(var + eps) * w + b, var the biased (population)
 * variance; w NULL means 1, b NULL means 0. y may equal x. */
void ref_layernorm(double *y, const double *x, const double *w, const double *b, int64_t M,
                   int64_t d, double eps);
/* Row-wise over d: y = x / sqrt(mean(x^2) + eps) * w; w NULL means 1. y may equal x. */
void ref_rmsnorm(double *y, const double *x, const double *w, int64_t M, int64_t d, double eps);
/*
 * Per-head norm of the MSR block with its swish gate (RETNET.md §4):
 *   y[m, i*dv + c] = norm(o[m, i*dv .. i*dv+dv-1])[c] * swish(g[m, i*dv + c])
 * groupnorm != 0: LayerNorm over dv, affine w, b of width h*dv (NULL: none);
 * groupnorm == 0: RMSNorm over dv, weight w of width dv shared by the heads (NULL: none).
 * o, g, y: (M, h*dv).
 */
void ref_head_norm_gate(double *y, const double *o, const double *g, const double *w,
                        const double *b, int64_t M, int h, int dv, double eps, int groupnorm);

double ref_gelu(double x);    /* 0.5 x (1 + erf(x / sqrt 2)) */
double ref_swish(double x);   /* x * sigmoid(x) */

/* The rotation frequency of pair j for head width dk (RETNET.md §2):
 * half == 0 (paper): base^-(j / (dk/2 - 1)), i.e. exponents linspace(0, 1, dk/2)
 *                    (dk == 2: linspace(0, 1, 1) = {0}, so theta_0 = 1);
 * half != 0 (fla):   base^-(2j / dk). */
double ref_rope_theta(int j, int dk, int half, double base);
/*
 * Rotates every head of x (T, ld) in place: head i is columns i*dk .. i*dk+dk-1, row t is at
 * absolute position pos0 + t. Pair (a, b) = channels (2j, 2j+1) (paper) or (j, j+dk/2)
 * (half), angle (pos0 + t) * theta_j: a' = a cos - b sin, b' = a sin + b cos.
 * Then every rotated value is multiplied by scale.
 */
void ref_rope(double *x, int64_t ld, int64_t T, int h, int dk, int64_t pos0, int half,
              double base, double scale);
/* The same rotation, but on absolute values: x' = |a||cos| + |b||sin| for both channels of
 * a pair, times |scale|. The magnitude of the terms of each rotated value. */
void ref_rope_abs(double *x, int64_t ld, int64_t T, int h, int dk, int64_t pos0, int half,
                  double base, double scale);

/*
 * Raw retention of one head (RETNET.md §2), continuing from a state (S0, z0):
 *   o[n]    = sum_{m<=n} (q_n . k_m) gamma^(n-m) v_m  +  gamma^(n+1) q_n S0
 *   rsum[n] = sum_{m<=n} (q_n . k_m) gamma^(n-m)      +  gamma^(n+1) q_n . z0
 *   S       = gamma^T S0 + sum_m gamma^(T-1-m) k_m^T v_m
 *   z       = gamma^T z0 + sum_m gamma^(T-1-m) k_m
 * q, k: (T, dk); v: (T, dv); all contiguous. S0 (dk, dv) and z0 (dk) may be NULL (zeros).
 * Outputs o (T, dv), S (dk, dv), z (dk), rsum (T): each may be NULL if not wanted.
 */
typedef struct {
    int64_t T;
    int dk, dv;
    const double *q, *k, *v;
    double gamma;
    const double *S0, *z0;
    double *o, *S, *z, *rsum;
} ref_retention_args;

/* The parallel form: materialises the decay mask D (T x T), D[n,m] = gamma^(n-m) =
 * exp((n-m) log gamma) for n >= m, and the scores (Q K^T) ⊙ D. O(T^2) time and memory. */
void ref_retention_parallel(const ref_retention_args *a);
/* The recurrent form, S_n = gamma S_{n-1} + k_n^T v_n, o_n = q_n S_n, in double: O(T) time,
 * for sequences too long for the parallel form. */
void ref_retention_recurrent(const ref_retention_args *a);

/* Per-head decay gamma_i (RETNET.md §2), computed here from the formula, not the library. */
double ref_gamma(const retnet_config *c, int head);

/*
 * The whole model in float64 (RETNET.md §5). The parameters are the float tensors of a
 * retnet_model, found by their checkpoint names through the public tensor API and widened to
 * double; every name and shape is checked against what the config implies.
 */
typedef struct {
    double *ret_norm_w, *ret_norm_b;      /* (d), (d) or NULL */
    double *wq, *wk, *wv, *wg, *wo;       /* (h dk, d), (h dk, d), (h dv, d), (h dv, d), (d, h dv) */
    double *hn_w, *hn_b;                  /* head norm affine or NULL */
    double *ffn_norm_w, *ffn_norm_b;      /* (d), (d) or NULL */
    double *fc1, *gate, *fc2;             /* (d_ffn, d), (d_ffn, d) or NULL, (d, d_ffn) */
} ref_layer;

typedef struct {
    retnet_config cfg;                    /* the model's config */
    double *embed;                        /* (V, d) */
    double *norm_w, *norm_b;              /* final norm (d), (d) or NULL */
    double *out;                          /* (V, d), or NULL when tied to embed */
    ref_layer *layers;                    /* n_layer */
} ref_model;

/* Copies the parameters of m. Returns 0, or -1 after printing which tensor is missing or has
 * the wrong shape (then r holds nothing to free). */
int ref_model_load(ref_model *r, const retnet_model *m);
void ref_model_free(ref_model *r);

/*
 * Logits (T, V) of one sequence of T tokens, starting from the empty state, with the config
 * `c` (normally &r->cfg; a copy with another eps may be passed; the widths must match r).
 * With c->normalize, the §3 normalisations: the decay row n is divided by
 * sqrt(sum_{i<=n} gamma^(n-i)) (n the absolute position), then each score row by
 * max(|its signed sum|, 1).
 * state: NULL, or retnet_state_floats(c) doubles that receive the state after the last token
 * in retnet_state's layout: per layer S (h, dk, dv), then z (h, dk) when c->normalize.
 */
void ref_forward(const retnet_config *c, const ref_model *r, const int32_t *tokens, int64_t T,
                 double *logits, double *state);

/*
 * ref_forward, and the condition of its head norms in *kappa: the largest, over layers,
 * positions and heads, of rms(A) / sqrt(var(o) + eps), o a head's retention output row (after
 * §3's factor), A the magnitudes of its terms (the retention of |q|, |k|, |v|), var about the
 * row's mean for the groupnorm, about 0 for the rms head norm. A float form's rounding of o is
 * a few u of A, and the norm divides it by that divisor: where a row's spread vanishes against
 * its terms (with eps = 0, GroupNorm(c v) = sign(c) GroupNorm(v), discontinuous at c = 0), a
 * form that rounds each column's terms differently (the recurrent one) errs by up to kappa
 * times what the norm would otherwise pass on. 1 without a head norm (and for Transformers).
 */
void ref_forward_kappa(const retnet_config *c, const ref_model *r, const int32_t *tokens,
                       int64_t T, double *logits, double *state, double *kappa);

/* ---- gradients (training) ---- */

/*
 * The backward of raw retention from the empty state (a->S0, a->z0 ignored), written from
 * P = Q K^T ⊙ D, O = P V, rsum = P 1:
 *   dV = P^T dO,  dP = (dO V^T + drsum 1^T) ⊙ D,  dQ = dP K,  dK = dP^T Q.
 * dout (T, dv); drsum (T) or NULL; dq, dk (T, dk), dv (T, dv): each overwritten, or NULL.
 * Called on the absolute values of every input it gives the magnitude of each gradient's
 * terms (every term is a product of inputs and powers of gamma >= 0).
 */
void ref_retention_backward(const ref_retention_args *a, const double *dout,
                            const double *drsum, double *dq, double *dk, double *dv);

/* Sum over rows with targets[i] >= 0 of logsumexp(logits_i) - logits_i[targets[i]]
 * (log-softmax cross-entropy in double, max subtracted). logits (n, V). */
double ref_cross_entropy(const double *logits, const int32_t *targets, int64_t n, int64_t V);

#endif
