/*
 * test_attention.c: causal multi-head attention (src/ops/attention.c: naive, flash, decode,
 * forward and backward) against the float64 reference (tests/ref/ref_attention.c), whose
 * backward is itself checked against finite differences of its forward. Fresh random inputs
 * every run; the seed is printed and RETNET_TEST_SEED=<n> replays a run.
 *
 * Inputs: q, k uniform in [-A, A] with A = 2 (scores of std ~1.3 with dk = 16 and
 * scale = 1/sqrt(dk): peaked softmax rows, not flat ones), v and dout in [-1, 1]; one case
 * with A = 12 (scores up to ~200: exp without the max subtracted would overflow).
 *
 * Tolerance rule (derived before running the kernels; the same style as test_ops.c)
 * ---------------------------------------------------------------------------------
 * u = 2^-24. A float32 sum of n terms, in any order or blocking, errs by at most n u times
 * the sum of the absolute values of its terms (Higham §3.1). Every element i is checked as
 *
 *     |got_i - want_i| <= C_TOL K u mag_i          (C_TOL = 2)
 *
 * with mag_i (in double, from the reference probabilities p) the size of the terms that
 * make up element i, and K the number of roundings a term can go through, added up along
 * the computation. Per test case: a = max over visible (i, j) of scale sum_d |q_id k_jd|
 * (the largest score magnitude), L = max |lse_i|, nt <= Tk the number of key tiles.
 *
 *   scores s = scale q.k      error <= (dk + 1) u a
 *   e = exp(s - m), rescales  relative error of each e: (dk+1)a [its score] + 2a + 2 [the
 *                             subtraction, the exp: <= 1.5 u] + 3 nt + 2a [rescales alpha:
 *                             the increases of the running max telescope to <= 2a]
 *                             =: E_p = (dk + 5) a + 3 Tk + 2
 *   o = sum e v / sum e       mag_o = sum_j p_ij |v_j|; the e errors move o by at most
 *                             2 E_p mag_o, the two sums of Tk terms and the nt rescales of
 *                             the accumulator by (2 Tk + nt + 3) mag_o:
 *                             K_o = 2 (dk + 5) a + 9 Tk + 8
 *   lse = m + log sum e       absolute (mag 1): K_lse = (dk + 5) a + 4 Tk + 4 + L
 *   backward, p = exp(s - lse): K_P = (dk + 2) a + L + 2 + K_lse (lse from the forward)
 *     D_i (do.o or sum p dp)  K_D = K_o + dv + Tk, magnitude MD_i = sum_j p_ij sum_c |do_ic v_jc|
 *     ds = p (dp - D)         K_ds = K_P + dv + K_D + 2, magnitude p_ij (MdP_ij + MD_i),
 *                             MdP_ij = sum_c |do_ic v_jc|
 *     dq = scale sum_j ds k   K_dq = K_ds + Tk + 6 (+ the += and the per-thread copies),
 *                             mag = scale sum_j p_ij (MdP_ij + MD_i) |k_j|
 *     dk = scale sum_i ds q   K_dk = K_ds + Tq + 6, mag = scale sum_i p_ij (MdP_ij + MD_i) |q_i|
 *     dv = sum_i p do         K_dv = K_P + Tq + 4, mag = sum_i p_ij |do_i|
 *   decode                    as the forward (K_o, K_lse) with Tk = len.
 *
 * These are worst-case bounds (for T = 257: C_TOL K u ~ 3e-4 for o, ~6e-4 for the
 * gradients, relative to mag);
 * a correct kernel cannot fail them, and what they are for is visible in the mutation
 * checks below: a wrong mask (one key too many or too few), a forgotten query offset, a
 * 1% wrong scale, a decode that forgets the new token, each built with the reference, must
 * FAIL the same check that the kernels pass. For T = 1 a mask shift of +1 changes nothing
 * (there is no later key), so those checks run only where the mutant differs.
 *
 * Besides the bound, the normalised metrics of test.h are printed with every failure and
 * the typical error is checked too: float rounding errors behave like independent random
 * signs, so sqrt(NMSE) <= C_TYP sqrt(K) u rms(mag) / rms(want), C_TYP = 4 (a worst-case
 * alignment of all signs would be sqrt(K) times more). Observed (several seeds): the
 * kernels reach at most 0.04 of the worst-case bound and 0.36 of the typical one (lse with
 * scores up to ~200, where one rounding of |lse| ~ 200 dominates; every other check stays
 * below 0.06 of it), and the weakest mutant exceeds its bound 17 times. Bugs planted in
 * the kernels by hand (flash forward seeing one key too few, flash backward one too many,
 * naive one too many, decode forgetting the new token, the sign of D in ds, no rescaling
 * of the running output) each fail 1 to 7 of the tests below.
 */
#include <float.h>
#include <time.h>

#include "ops/ops.h"
#include "ref/ref_attention.h"
#include "test.h"

#define U 0x1p-24
#define C_TOL 2.0
#define C_TYP 4.0

static uint64_t seed0;
static int64_t n_checks;

static uint64_t next_seed(void) {
    static uint64_t k;
    return (seed0 + 0x9E3779B97F4A7C15ull * ++k) | 1;
}

static float *fnew(int64_t n) { return malloc(sizeof(float) * (size_t)(n > 0 ? n : 1)); }
static double *dnew(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(double)); }
static float *frand(int64_t n, uint64_t *s, double scale) {
    float *x = fnew(n);
    test_fill(x, n, s, scale);
    return x;
}
static float *fnan(int64_t n) {
    float *x = fnew(n);
    for (int64_t i = 0; i < n; i++) x[i] = NAN;
    return x;
}
static float *fcopy(const float *x, int64_t n) {
    float *y = fnew(n);
    memcpy(y, x, sizeof(float) * (size_t)(n > 0 ? n : 1));
    return y;
}
static double *widen(const float *x, int64_t n) {
    double *d = dnew(n);
    for (int64_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}
static double *dconst(int64_t n, double v) {
    double *d = dnew(n);
    for (int64_t i = 0; i < n; i++) d[i] = v;
    return d;
}

/* The worst |a - r| / (C_TOL K u mag) over the elements (NaN counts as infinite). */
static double bound_ratio(const float *a, const double *r, const double *mag, int64_t n,
                          double K, int64_t *wi) {
    double worst = 0;
    *wi = -1;
    for (int64_t i = 0; i < n; i++) {
        double tol = C_TOL * K * U * mag[i] + K * 0x1p-149;
        double ratio = fabs((double)a[i] - r[i]) / tol;
        if (!(ratio <= worst)) { worst = isnan(ratio) ? INFINITY : ratio; *wi = i; }
    }
    return worst;
}

static double rms(const double *x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i] * x[i];
    return n ? sqrt(s / n) : 0;
}

/* The rule (worst-case element bound) and the typical-error NMSE check; prints test.h's
 * metrics and the worst element on failure. */
static void check_attn(const float *a, const double *r, const double *mag, int64_t n, double K,
                       const char *what) {
    n_checks++;
    int64_t wi;
    double worst = bound_ratio(a, r, mag, n, K, &wi);
    test_err e = test_compare(a, r, n, 1e-30);
    CHECK(worst <= 1.0,
          "%s: |err| > %g*K*u*mag (K=%.0f): worst [%lld] got %.9g want %.9g mag %.3g "
          "(err/tol %.3g); max_abs %.3g max_rel %.3g nmse %.3g",
          what, C_TOL, K, (long long)wi, wi >= 0 ? a[wi] : 0.0, wi >= 0 ? r[wi] : 0.0,
          wi >= 0 ? mag[wi] : 0.0, worst, e.max_abs, e.max_rel, e.nmse);
    double rr = rms(r, n), typ = rr > 0 ? C_TYP * sqrt(K) * U * rms(mag, n) / rr : 0;
    CHECK(rr == 0 ? e.max_abs == 0 : sqrt(e.nmse) <= typ,
          "%s: typical error sqrt(nmse) %.3g > %g sqrt(K) u rms(mag)/rms(want) = %.3g "
          "(max_abs %.3g)", what, sqrt(e.nmse), C_TYP, typ, e.max_abs);
}

/* A deliberately wrong result (double) must fail the check that the kernels pass. */
static void check_mutant_fails(const double *mutant, const double *r, const double *mag,
                               int64_t n, double K, const char *what) {
    n_checks++;
    float *m = fnew(n);
    for (int64_t i = 0; i < n; i++) m[i] = (float)mutant[i];
    int64_t wi;
    double worst = bound_ratio(m, r, mag, n, K, &wi);
    CHECK(worst > 1.0, "%s: the mutant passes the check (err/tol %.3g): the check is blind",
          what, worst);
    free(m);
}

static void check_same(const float *a, const float *b, int64_t n, const char *what) {
    n_checks++;
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) bad = i;
    CHECK(bad < 0, "%s: not bit-identical at [%lld]: %.9g vs %.9g", what, (long long)bad,
          bad >= 0 ? a[bad] : 0.0, bad >= 0 ? b[bad] : 0.0);
}

/* ---------------------------------------------------------------- one case */

typedef struct {
    int64_t B, Tq, Tk;
    int H, dk, dv;
    float scale;
    float *q, *k, *v, *dout;           /* float inputs */
    double *qd, *kd, *vd, *dd;         /* the same, widened */
    ref_attention_args ra;
    double *o, *lse, *p;               /* reference forward; p (B, H, Tq, Tk) */
    double *mag_o, *one_lse;           /* magnitudes of o; 1 for lse */
    double a, L;                       /* largest score magnitude, largest |lse| */
    double K_o, K_lse;
} acase;

#define NQ(c) ((c)->B * (c)->Tq * (c)->H * (c)->dk)
#define NK(c) ((c)->B * (c)->Tk * (c)->H * (c)->dk)
#define NV(c) ((c)->B * (c)->Tk * (c)->H * (c)->dv)
#define NO(c) ((c)->B * (c)->Tq * (c)->H * (c)->dv)
#define NL(c) ((c)->B * (c)->H * (c)->Tq)

static void case_make(acase *c, int64_t B, int64_t Tq, int64_t Tk, int H, int dk, int dv,
                      double A, uint64_t *s) {
    memset(c, 0, sizeof *c);
    c->B = B; c->Tq = Tq; c->Tk = Tk; c->H = H; c->dk = dk; c->dv = dv;
    c->scale = (float)(1.0 / sqrt((double)dk));
    c->q = frand(NQ(c), s, A); c->k = frand(NK(c), s, A);
    c->v = frand(NV(c), s, 1); c->dout = frand(NO(c), s, 1);
    c->qd = widen(c->q, NQ(c)); c->kd = widen(c->k, NK(c));
    c->vd = widen(c->v, NV(c)); c->dd = widen(c->dout, NO(c));
    c->ra = (ref_attention_args){B, Tq, Tk, H, dk, dv, c->scale, c->qd, c->kd, c->vd, 0};
    c->o = dnew(NO(c)); c->lse = dnew(NL(c)); c->p = dnew(NL(c) * Tk);
    ref_attention_forward(&c->ra, c->o, c->lse, c->p);
    c->mag_o = dnew(NO(c)); c->one_lse = dconst(NL(c), 1.0);
    const int64_t ldk = (int64_t)H * dk, ldv = (int64_t)H * dv;
    for (int64_t b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int64_t i = 0; i < Tq; i++) {
                const double *p = c->p + ((b * H + h) * Tq + i) * Tk;
                c->L = fmax(c->L, fabs(c->lse[(b * H + h) * Tq + i]));
                for (int64_t j = 0; j <= Tk - Tq + i; j++) {
                    double sa = 0;
                    for (int d = 0; d < dk; d++)
                        sa += fabs(c->qd[(b * Tq + i) * ldk + h * dk + d] *
                                   c->kd[(b * Tk + j) * ldk + h * dk + d]);
                    c->a = fmax(c->a, c->scale * sa);
                    for (int e = 0; e < dv; e++)
                        c->mag_o[(b * Tq + i) * ldv + h * dv + e] +=
                            p[j] * fabs(c->vd[(b * Tk + j) * ldv + h * dv + e]);
                }
            }
    c->K_o = 2 * (dk + 5) * c->a + 9.0 * Tk + 8;
    c->K_lse = (dk + 5) * c->a + 4.0 * Tk + 4 + c->L;
}

static void case_free(acase *c) {
    free(c->q); free(c->k); free(c->v); free(c->dout); free(c->qd); free(c->kd); free(c->vd);
    free(c->dd); free(c->o); free(c->lse); free(c->p); free(c->mag_o); free(c->one_lse);
}

static attention_args case_args(const acase *c, float *o, float *lse, int threads) {
    return (attention_args){c->B, c->Tq, c->Tk, c->H, c->dk, c->dv, c->scale, threads,
                            c->q, c->k, c->v, o, lse};
}

enum { NAIVE, FLASH };

/* Forward of one implementation into fresh o, lse (NaN-filled: must be overwritten), with
 * NaN-filled work (must be written before it is read). */
static void run_forward(const acase *c, int impl, int threads, float **o, float **lse) {
    *o = fnan(NO(c));
    *lse = fnan(NL(c));
    attention_args a = case_args(c, *o, *lse, threads);
    int64_t wn = impl == NAIVE ? op_attention_naive_work(c->Tq, c->Tk, threads)
                               : op_attention_flash_work(c->dk, c->dv, threads);
    float *work = fnan(wn);
    if (impl == NAIVE) op_attention_naive_forward(&a, work);
    else op_attention_flash_forward(&a, work);
    free(work);
}

/* ---------------------------------------------------------------- the reference itself */

/* A hand-worked case: dk = dv = 1, Tq = Tk = 2, scale 1: row 0 sees key 0 only. */
static void test_ref_by_hand(void) {
    double q[2] = {1, 2}, k[2] = {3, -1}, v[2] = {5, 7}, o[2], lse[2];
    ref_attention_args a = {1, 2, 2, 1, 1, 1, 1.0, q, k, v, 0};
    ref_attention_forward(&a, o, lse, NULL);
    /* row 0: s = {3}; row 1: s = {6, -2} */
    double p1 = exp(6) / (exp(6) + exp(-2));
    CHECK(o[0] == 5 && fabs(lse[0] - 3) < 1e-15, "row 0: o %g lse %g", o[0], lse[0]);
    CHECK(fabs(o[1] - (p1 * 5 + (1 - p1) * 7)) < 1e-14, "row 1: o %.17g", o[1]);
    CHECK(fabs(lse[1] - log(exp(6) + exp(-2))) < 1e-14, "row 1: lse %.17g", lse[1]);
    /* a prefix: Tq = 1 of Tk = 2 is the last row */
    ref_attention_args b = {1, 1, 2, 1, 1, 1, 1.0, q + 1, k, v, 0};
    double ob, lb;
    ref_attention_forward(&b, &ob, &lb, NULL);
    CHECK(ob == o[1] && lb == lse[1], "prefix row: o %.17g lse %.17g", ob, lb);
}

typedef struct { acase *c; double *x; } fd_ctx;

static double fd_loss(const acase *c) {
    double *o = dnew(NO(c)), L = 0;
    ref_attention_forward(&c->ra, o, NULL, NULL);
    for (int64_t i = 0; i < NO(c); i++) L += c->dd[i] * o[i];
    free(o);
    return L;
}

/* The reference backward against central differences of the reference forward (double):
 * the 4th-order stencil with h = 1e-3 for q and k (truncation ~h^4/30 times 5th derivatives
 * of O(1): < 1e-11), the 2nd-order one with h = 1 for v (L is linear in v: exact). */
static void test_ref_backward_fd(void) {
    static const int64_t shapes[][2] = {{1, 1}, {3, 3}, {5, 5}, {2, 6}, {1, 4}};
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        acase c;
        case_make(&c, 2, shapes[si][0], shapes[si][1], 2, 3, 4, 2.0, &s);
        double *gq = dnew(NQ(&c)), *gk = dnew(NK(&c)), *gv = dnew(NV(&c));
        ref_attention_backward(&c.ra, c.dd, gq, gk, gv);
        double *xs[3] = {c.qd, c.kd, c.vd}, *gs[3] = {gq, gk, gv};
        int64_t ns[3] = {NQ(&c), NK(&c), NV(&c)};
        double worst = 0;
        for (int t = 0; t < 3; t++)
            for (int64_t i = 0; i < ns[t]; i++) {
                double x0 = xs[t][i], g;
                if (t < 2) {
                    const double h = 1e-3;
                    xs[t][i] = x0 + h; double fp = fd_loss(&c);
                    xs[t][i] = x0 - h; double fm = fd_loss(&c);
                    xs[t][i] = x0 + 2 * h; double fp2 = fd_loss(&c);
                    xs[t][i] = x0 - 2 * h; double fm2 = fd_loss(&c);
                    g = (fm2 - 8 * fm + 8 * fp - fp2) / (12 * h);
                } else {
                    xs[t][i] = x0 + 1; double fp = fd_loss(&c);
                    xs[t][i] = x0 - 1; double fm = fd_loss(&c);
                    g = (fp - fm) / 2;
                }
                xs[t][i] = x0;
                worst = fmax(worst, fabs(g - gs[t][i]) / (1 + fabs(g)));
            }
        n_checks++;
        CHECK(worst < 1e-9, "Tq=%lld Tk=%lld: reference backward vs finite differences: %.3g",
              (long long)c.Tq, (long long)c.Tk, worst);
        /* and a gradient that is wrong (the mask shifted) is seen as wrong */
        if (c.Tk > 1) {
            double *mq = dnew(NQ(&c));
            c.ra.mask_shift = -1;
            ref_attention_backward(&c.ra, c.dd, mq, NULL, NULL);
            c.ra.mask_shift = 0;
            double w2 = 0;
            for (int64_t i = 0; i < NQ(&c); i++) w2 = fmax(w2, fabs(mq[i] - gq[i]));
            CHECK(w2 > 1e-6, "Tq=%lld Tk=%lld: a shifted mask gives the same dq",
                  (long long)c.Tq, (long long)c.Tk);
            free(mq);
        }
        free(gq); free(gk); free(gv);
        case_free(&c);
    }
}

/* ---------------------------------------------------------------- forward */

static const int64_t Ts[] = {1, 7, 64, 100, 257};
/* prefixes: Tq < Tk, not multiples of the tiles, one query and a whole tile */
static const int64_t Prefix[][2] = {{1, 64}, {7, 100}, {64, 128}, {63, 257}, {100, 257}, {1, 257}};

/* Forward of naive and flash against the reference, plus the mutants. */
static void forward_case(acase *c, const char *tag) {
    char what[160];
    float *o[2], *lse[2];
    for (int impl = 0; impl < 2; impl++) {
        run_forward(c, impl, 0, &o[impl], &lse[impl]);
        snprintf(what, sizeof what, "%s %s B=%lld H=%d Tq=%lld Tk=%lld dk=%d dv=%d: o", tag,
                 impl ? "flash" : "naive", (long long)c->B, c->H, (long long)c->Tq,
                 (long long)c->Tk, c->dk, c->dv);
        check_attn(o[impl], c->o, c->mag_o, NO(c), c->K_o, what);
        what[strlen(what) - 1] = 0;
        strcat(what, "lse");
        check_attn(lse[impl], c->lse, c->one_lse, NL(c), c->K_lse, what);
    }
    /* The mutants: each must fail the o check above. */
    snprintf(what, sizeof what, "%s Tq=%lld Tk=%lld mutant", tag, (long long)c->Tq, (long long)c->Tk);
    double *mo = dnew(NO(c));
    for (int shift = -1; shift <= 1; shift += 2) {
        if (shift > 0 && c->Tq == 1 && c->Tk == 1) continue; /* nothing to see beyond */
        ref_attention_args m = c->ra;
        m.mask_shift = shift;
        ref_attention_forward(&m, mo, NULL, NULL);
        char w2[200];
        snprintf(w2, sizeof w2, "%s mask shift %+d", what, shift);
        check_mutant_fails(mo, c->o, c->mag_o, NO(c), c->K_o, w2);
    }
    if (c->Tk > 1) {
        ref_attention_args m = c->ra;
        m.scale *= 1.01;
        ref_attention_forward(&m, mo, NULL, NULL);
        char w2[200];
        snprintf(w2, sizeof w2, "%s scale x1.01", what);
        check_mutant_fails(mo, c->o, c->mag_o, NO(c), c->K_o, w2);
    }
    free(mo);
    for (int impl = 0; impl < 2; impl++) { free(o[impl]); free(lse[impl]); }
}

static void test_forward(void) {
    uint64_t s = next_seed();
    for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
        acase c;
        case_make(&c, 2, Ts[ti], Ts[ti], 3, 16, 24, 2.0, &s);
        forward_case(&c, "forward");
        case_free(&c);
    }
    /* dk = dv, other widths, one head */
    acase c;
    case_make(&c, 1, 130, 130, 1, 64, 64, 1.0, &s);
    forward_case(&c, "forward");
    case_free(&c);
    case_make(&c, 3, 33, 33, 2, 5, 3, 2.0, &s);
    forward_case(&c, "forward");
    case_free(&c);
}

/* Scores up to ~200: the running max must keep every exp in range. */
static void test_forward_large_scores(void) {
    uint64_t s = next_seed();
    acase c;
    case_make(&c, 2, 200, 200, 3, 16, 24, 12.0, &s);
    forward_case(&c, "large scores");
    case_free(&c);
}

/*
 * Prefixes: Tq < Tk, the queries being the last Tq rows of a Tk-token sequence, checked
 * against those rows of the FULL reference (Tq = Tk). Mutant: the offset forgotten (queries
 * masked as if they were rows 0..Tq-1 of the sequence). Then a whole sequence prefilled
 * chunk by chunk (Tk = all tokens so far) equals the one-pass reference.
 */
static void test_prefix(void) {
    uint64_t s = next_seed();
    const int B = 2, H = 3, dk = 16, dv = 24;
    const int64_t ldk = (int64_t)H * dk, ldv = (int64_t)H * dv;
    for (size_t pi = 0; pi < sizeof Prefix / sizeof Prefix[0]; pi++) {
        const int64_t Tq = Prefix[pi][0], Tk = Prefix[pi][1];
        acase full;
        case_make(&full, B, Tk, Tk, H, dk, dv, 2.0, &s);
        /* the prefix case: the last Tq rows of q */
        acase c = full;
        c.Tq = Tq;
        c.q = fnew(B * Tq * ldk);
        for (int64_t b = 0; b < B; b++)
            memcpy(c.q + b * Tq * ldk, full.q + (b * Tk + Tk - Tq) * ldk, sizeof(float) * Tq * ldk);
        /* want: rows Tk-Tq.. of the full reference (o, lse, mag_o) */
        double *wo = dnew(NO(&c)), *wl = dnew(NL(&c)), *wm = dnew(NO(&c));
        for (int64_t b = 0; b < B; b++) {
            memcpy(wo + b * Tq * ldv, full.o + (b * Tk + Tk - Tq) * ldv, sizeof(double) * Tq * ldv);
            memcpy(wm + b * Tq * ldv, full.mag_o + (b * Tk + Tk - Tq) * ldv, sizeof(double) * Tq * ldv);
            for (int h = 0; h < H; h++)
                memcpy(wl + (b * H + h) * Tq, full.lse + (b * H + h) * Tk + Tk - Tq, sizeof(double) * Tq);
        }
        for (int impl = 0; impl < 2; impl++) {
            float *o, *lse;
            run_forward(&c, impl, 0, &o, &lse);
            char what[160];
            snprintf(what, sizeof what, "prefix %s Tq=%lld Tk=%lld: o", impl ? "flash" : "naive",
                     (long long)Tq, (long long)Tk);
            check_attn(o, wo, wm, NO(&c), full.K_o, what);
            snprintf(what, sizeof what, "prefix %s Tq=%lld Tk=%lld: lse", impl ? "flash" : "naive",
                     (long long)Tq, (long long)Tk);
            check_attn(lse, wl, full.one_lse, NL(&c), full.K_lse, what);
            free(o); free(lse);
        }
        /* mutant: the offset forgotten = the reference of the first Tq keys alone */
        {
            double *qd = widen(c.q, NQ(&c)), *kd = dnew(B * Tq * ldk), *vd = dnew(B * Tq * ldv);
            for (int64_t b = 0; b < B; b++) {
                memcpy(kd + b * Tq * ldk, full.kd + b * Tk * ldk, sizeof(double) * Tq * ldk);
                memcpy(vd + b * Tq * ldv, full.vd + b * Tk * ldv, sizeof(double) * Tq * ldv);
            }
            ref_attention_args m = {B, Tq, Tq, H, dk, dv, c.scale, qd, kd, vd, 0};
            double *mo = dnew(NO(&c));
            ref_attention_forward(&m, mo, NULL, NULL);
            char what[160];
            snprintf(what, sizeof what, "prefix Tq=%lld Tk=%lld mutant without the offset",
                     (long long)Tq, (long long)Tk);
            check_mutant_fails(mo, wo, wm, NO(&c), full.K_o, what);
            free(qd); free(kd); free(vd); free(mo);
        }
        free(c.q); free(wo); free(wl); free(wm);
        case_free(&full);
    }

    /* chunked prefill of 257 tokens: chunks 64, 100, 1, 7, 85 */
    static const int64_t chunks[] = {64, 100, 1, 7, 85};
    acase full;
    case_make(&full, B, 257, 257, H, dk, dv, 2.0, &s);
    for (int impl = 0; impl < 2; impl++) {
        float *o = fnan(NO(&full)), *lse = fnan(NL(&full));
        int64_t t0 = 0;
        for (size_t ci = 0; ci < sizeof chunks / sizeof chunks[0]; ci++) {
            const int64_t Tq = chunks[ci], Tk = t0 + Tq;
            /* the cache so far: keys and values 0..Tk-1 of each sequence; queries t0..Tk-1 */
            float *q = fnew(B * Tq * ldk), *k = fnew(B * Tk * ldk), *v = fnew(B * Tk * ldv);
            float *oc = fnew(B * Tq * ldv), *lc = fnew(B * H * Tq);
            for (int64_t b = 0; b < B; b++) {
                memcpy(q + b * Tq * ldk, full.q + (b * 257 + t0) * ldk, sizeof(float) * Tq * ldk);
                memcpy(k + b * Tk * ldk, full.k + b * 257 * ldk, sizeof(float) * Tk * ldk);
                memcpy(v + b * Tk * ldv, full.v + b * 257 * ldv, sizeof(float) * Tk * ldv);
            }
            attention_args a = {B, Tq, Tk, H, dk, dv, full.scale, 0, q, k, v, oc, lc};
            int64_t wn = impl == NAIVE ? op_attention_naive_work(Tq, Tk, 0)
                                       : op_attention_flash_work(dk, dv, 0);
            float *work = fnan(wn);
            if (impl == NAIVE) op_attention_naive_forward(&a, work);
            else op_attention_flash_forward(&a, work);
            for (int64_t b = 0; b < B; b++) {
                memcpy(o + (b * 257 + t0) * ldv, oc + b * Tq * ldv, sizeof(float) * Tq * ldv);
                for (int h = 0; h < H; h++)
                    memcpy(lse + (b * H + h) * 257 + t0, lc + (b * H + h) * Tq, sizeof(float) * Tq);
            }
            free(q); free(k); free(v); free(oc); free(lc); free(work);
            t0 = Tk;
        }
        char what[96];
        snprintf(what, sizeof what, "chunked prefill %s T=257: o", impl ? "flash" : "naive");
        check_attn(o, full.o, full.mag_o, NO(&full), full.K_o, what);
        snprintf(what, sizeof what, "chunked prefill %s T=257: lse", impl ? "flash" : "naive");
        check_attn(lse, full.lse, full.one_lse, NL(&full), full.K_lse, what);
        free(o); free(lse);
    }
    case_free(&full);
}

/* ---------------------------------------------------------------- backward */

typedef struct {
    double *dq, *dk, *dv;          /* want */
    double *mq, *mk, *mv;          /* magnitudes */
    double Kq, Kk, Kv;
} grad_want;

static void grad_want_make(const acase *c, grad_want *g) {
    const int64_t B = c->B, Tq = c->Tq, Tk = c->Tk, ldk = (int64_t)c->H * c->dk;
    const int64_t ldv = (int64_t)c->H * c->dv;
    const int H = c->H, dk = c->dk, dv = c->dv;
    g->dq = dnew(NQ(c)); g->dk = dnew(NK(c)); g->dv = dnew(NV(c));
    ref_attention_backward(&c->ra, c->dd, g->dq, g->dk, g->dv);
    g->mq = dnew(NQ(c)); g->mk = dnew(NK(c)); g->mv = dnew(NV(c));
    double *MdP = dnew(Tk);
    for (int64_t b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int64_t i = 0; i < Tq; i++) {
                const double *p = c->p + ((b * H + h) * Tq + i) * Tk;
                const double *doi = c->dd + (b * Tq + i) * ldv + h * dv;
                double MD = 0;
                for (int64_t j = 0; j < Tk; j++) {
                    double m = 0;
                    for (int e = 0; e < dv; e++)
                        m += fabs(doi[e] * c->vd[(b * Tk + j) * ldv + h * dv + e]);
                    MdP[j] = m;
                    MD += p[j] * m;
                }
                for (int64_t j = 0; j < Tk; j++) {
                    if (p[j] == 0) continue;
                    const double w = p[j] * (MdP[j] + MD);
                    for (int d = 0; d < dk; d++) {
                        g->mq[(b * Tq + i) * ldk + h * dk + d] +=
                            c->scale * w * fabs(c->kd[(b * Tk + j) * ldk + h * dk + d]);
                        g->mk[(b * Tk + j) * ldk + h * dk + d] +=
                            c->scale * w * fabs(c->qd[(b * Tq + i) * ldk + h * dk + d]);
                    }
                    for (int e = 0; e < dv; e++)
                        g->mv[(b * Tk + j) * ldv + h * dv + e] += p[j] * fabs(doi[e]);
                }
            }
    free(MdP);
    const double K_P = (dk + 2) * c->a + c->L + 2 + c->K_lse;
    const double K_D = c->K_o + dv + Tk, K_ds = K_P + dv + K_D + 2;
    g->Kq = K_ds + Tk + 6;
    g->Kk = K_ds + Tq + 6;
    g->Kv = K_P + Tq + 4;
}

static void grad_want_free(grad_want *g) {
    free(g->dq); free(g->dk); free(g->dv); free(g->mq); free(g->mk); free(g->mv);
}

/* The backward of one implementation, gradients pre-filled with pre* (the += rule), only
 * those in `want` (bits 1 dq, 2 dk, 4 dv) non-NULL. o, lse from the float forward of the
 * same implementation (what training passes). */
static void run_backward(const acase *c, int impl, int threads, int want, const float *o,
                         const float *lse, const float *preq, const float *prek,
                         const float *prev, float **dq, float **dk, float **dv) {
    *dq = fcopy(preq, NQ(c)); *dk = fcopy(prek, NK(c)); *dv = fcopy(prev, NV(c));
    attention_grad_args a = {c->B, c->Tq, c->Tk, c->H, c->dk, c->dv, c->scale, threads,
                             c->q, c->k, c->v,
                             impl == NAIVE ? NULL : o, impl == NAIVE ? NULL : lse, c->dout,
                             want & 1 ? *dq : NULL, want & 2 ? *dk : NULL,
                             want & 4 ? *dv : NULL};
    int64_t wn = impl == NAIVE
                     ? op_attention_naive_backward_work(c->Tq, c->Tk, threads)
                     : op_attention_flash_backward_work(c->B, c->Tq, c->H, c->dk, c->dv, threads);
    float *work = fnan(wn);
    if (impl == NAIVE) op_attention_naive_backward(&a, work);
    else op_attention_flash_backward(&a, work);
    free(work);
}

static void backward_case(acase *c, int mutants, uint64_t *s) {
    grad_want g;
    grad_want_make(c, &g);
    float *preq = frand(NQ(c), s, 1), *prek = frand(NK(c), s, 1), *prev = frand(NV(c), s, 1);
    double *wq = dnew(NQ(c)), *wk = dnew(NK(c)), *wv = dnew(NV(c));
    double *mq = dnew(NQ(c)), *mk = dnew(NK(c)), *mv = dnew(NV(c));
    for (int64_t i = 0; i < NQ(c); i++) { wq[i] = g.dq[i] + preq[i]; mq[i] = g.mq[i] + fabs(preq[i]); }
    for (int64_t i = 0; i < NK(c); i++) { wk[i] = g.dk[i] + prek[i]; mk[i] = g.mk[i] + fabs(prek[i]); }
    for (int64_t i = 0; i < NV(c); i++) { wv[i] = g.dv[i] + prev[i]; mv[i] = g.mv[i] + fabs(prev[i]); }
    char base[128], what[200];
    for (int impl = 0; impl < 2; impl++) {
        snprintf(base, sizeof base, "backward %s B=%lld H=%d Tq=%lld Tk=%lld dk=%d dv=%d",
                 impl ? "flash" : "naive", (long long)c->B, c->H, (long long)c->Tq,
                 (long long)c->Tk, c->dk, c->dv);
        float *o, *lse, *dq, *dk, *dv;
        run_forward(c, impl, 0, &o, &lse);
        run_backward(c, impl, 0, 7, o, lse, preq, prek, prev, &dq, &dk, &dv);
        snprintf(what, sizeof what, "%s: dq", base); check_attn(dq, wq, mq, NQ(c), g.Kq, what);
        snprintf(what, sizeof what, "%s: dk", base); check_attn(dk, wk, mk, NK(c), g.Kk, what);
        snprintf(what, sizeof what, "%s: dv", base); check_attn(dv, wv, mv, NV(c), g.Kv, what);
        /* one gradient at a time: the same bits as the full call's, the others untouched */
        for (int want = 1; want <= 4; want <<= 1) {
            float *nq, *nk, *nv;
            run_backward(c, impl, 0, want, o, lse, preq, prek, prev, &nq, &nk, &nv);
            snprintf(what, sizeof what, "%s only %s", base, want == 1 ? "dq" : want == 2 ? "dk" : "dv");
            check_same(nq, want == 1 ? dq : preq, NQ(c), what);
            check_same(nk, want == 2 ? dk : prek, NK(c), what);
            check_same(nv, want == 4 ? dv : prev, NV(c), what);
            free(nq); free(nk); free(nv);
        }
        free(o); free(lse); free(dq); free(dk); free(dv);
    }
    if (mutants && c->Tk > 1) { /* a wrong mask in the backward fails each gradient's check */
        double *gq = dnew(NQ(c)), *gk = dnew(NK(c)), *gv = dnew(NV(c));
        ref_attention_args m = c->ra;
        m.mask_shift = c->Tq > 1 ? 1 : -1;
        ref_attention_backward(&m, c->dd, gq, gk, gv);
        for (int64_t i = 0; i < NQ(c); i++) gq[i] += preq[i];
        for (int64_t i = 0; i < NK(c); i++) gk[i] += prek[i];
        for (int64_t i = 0; i < NV(c); i++) gv[i] += prev[i];
        snprintf(what, sizeof what, "backward Tq=%lld Tk=%lld mutant mask shift %+lld: dq",
                 (long long)c->Tq, (long long)c->Tk, (long long)m.mask_shift);
        check_mutant_fails(gq, wq, mq, NQ(c), g.Kq, what);
        what[strlen(what) - 2] = 0; strcat(what, "dk");
        check_mutant_fails(gk, wk, mk, NK(c), g.Kk, what);
        what[strlen(what) - 2] = 0; strcat(what, "dv");
        check_mutant_fails(gv, wv, mv, NV(c), g.Kv, what);
        free(gq); free(gk); free(gv);
    }
    free(preq); free(prek); free(prev); free(wq); free(wk); free(wv); free(mq); free(mk);
    free(mv);
    grad_want_free(&g);
}

static void test_backward(void) {
    uint64_t s = next_seed();
    for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
        acase c;
        case_make(&c, 2, Ts[ti], Ts[ti], 3, 16, 24, 2.0, &s);
        backward_case(&c, 1, &s);
        case_free(&c);
    }
    acase c;
    case_make(&c, 3, 33, 33, 2, 5, 3, 2.0, &s);
    backward_case(&c, 0, &s);
    case_free(&c);
    case_make(&c, 2, 150, 150, 3, 16, 24, 12.0, &s); /* large scores */
    backward_case(&c, 0, &s);
    case_free(&c);
}

/* Prefixes (Tq < Tk): gradients against the reference of the same prefix problem (its
 * forward was checked against the full sequence's rows above). */
static void test_backward_prefix(void) {
    uint64_t s = next_seed();
    for (size_t pi = 0; pi < sizeof Prefix / sizeof Prefix[0]; pi++) {
        acase c;
        case_make(&c, 2, Prefix[pi][0], Prefix[pi][1], 3, 16, 24, 2.0, &s);
        backward_case(&c, pi < 2, &s);
        case_free(&c);
    }
}

/* ---------------------------------------------------------------- decode */

/*
 * Sequences of lengths 1, 7, 64, 100, 257, 300 in one call, each cache its own allocation:
 * o and lse against the last row of the reference (Tq = Tk = len) and against the last row
 * of the flash forward. Mutant: a decode that forgets the new token (attends len - 1 keys).
 */
static void test_decode(void) {
    static const int64_t lens[] = {1, 7, 64, 100, 257, 300};
    enum { NS = sizeof lens / sizeof lens[0] };
    const int H = 3, dk = 16, dv = 24;
    uint64_t s = next_seed();
    acase cs[NS];
    const float *kc[NS], *vc[NS];
    float *q = fnew(NS * H * dk), *o = fnan(NS * H * dv), *lse = fnan(NS * H);
    double *wo = dnew(NS * H * dv), *wm = dnew(NS * H * dv), *wl = dnew(NS * H);
    double *fo = dnew(NS * H * dv), *fl = dnew(NS * H);
    double K_o = 0, K_lse = 0;
    for (int b = 0; b < NS; b++) {
        const int64_t T = lens[b];
        case_make(&cs[b], 1, T, T, H, dk, dv, 2.0, &s);
        kc[b] = cs[b].k;
        vc[b] = cs[b].v;
        memcpy(q + b * H * dk, cs[b].q + (T - 1) * H * dk, sizeof(float) * H * dk);
        for (int i = 0; i < H * dv; i++) {
            wo[b * H * dv + i] = cs[b].o[(T - 1) * H * dv + i];
            wm[b * H * dv + i] = cs[b].mag_o[(T - 1) * H * dv + i];
        }
        for (int h = 0; h < H; h++) wl[b * H + h] = cs[b].lse[h * T + T - 1];
        K_o = fmax(K_o, cs[b].K_o);
        K_lse = fmax(K_lse, cs[b].K_lse);
        /* the flash forward's last row */
        float *fwo, *fwl;
        run_forward(&cs[b], FLASH, 0, &fwo, &fwl);
        for (int i = 0; i < H * dv; i++) fo[b * H * dv + i] = fwo[(T - 1) * H * dv + i];
        for (int h = 0; h < H; h++) fl[b * H + h] = fwl[h * T + T - 1];
        free(fwo); free(fwl);
    }
    double *one = dconst(NS * H, 1.0);
    for (int threads = 1; threads <= 2; threads++) {
        float *o2 = fnan(NS * H * dv), *l2 = fnan(NS * H);
        op_attention_decode(o2, l2, q, kc, vc, lens, NS, H, dk, dv, cs[0].scale, threads);
        char what[96];
        snprintf(what, sizeof what, "decode threads=%d vs reference last rows: o", threads);
        check_attn(o2, wo, wm, NS * H * dv, K_o, what);
        snprintf(what, sizeof what, "decode threads=%d vs reference last rows: lse", threads);
        check_attn(l2, wl, one, NS * H, K_lse, what);
        /* against the flash forward's last rows: both within the bound, so within twice it */
        snprintf(what, sizeof what, "decode threads=%d vs flash last rows: o", threads);
        check_attn(o2, fo, wm, NS * H * dv, 2 * K_o, what);
        snprintf(what, sizeof what, "decode threads=%d vs flash last rows: lse", threads);
        check_attn(l2, fl, one, NS * H, 2 * K_lse, what);
        if (threads == 1) { memcpy(o, o2, sizeof(float) * NS * H * dv); memcpy(lse, l2, sizeof(float) * NS * H); }
        else {
            check_same(o2, o, NS * H * dv, "decode: 2 threads vs 1, o");
            check_same(l2, lse, NS * H, "decode: 2 threads vs 1, lse");
        }
        free(o2); free(l2);
    }
    /* lse may be NULL */
    {
        float *o3 = fnan(NS * H * dv);
        op_attention_decode(o3, NULL, q, kc, vc, lens, NS, H, dk, dv, cs[0].scale, 0);
        check_same(o3, o, NS * H * dv, "decode without lse");
        free(o3);
    }
    /* mutant: the new token forgotten (len - 1 keys; a sequence of length 1 is skipped) */
    {
        double *mo = dnew(NS * H * dv);
        memcpy(mo, wo, sizeof(double) * NS * H * dv);
        for (int b = 1; b < NS; b++) {
            const int64_t T = lens[b];
            double *qd = widen(q + b * H * dk, H * dk);
            ref_attention_args m = {1, 1, T - 1, H, dk, dv, cs[b].scale, qd, cs[b].kd, cs[b].vd, 0};
            ref_attention_forward(&m, mo + b * H * dv, NULL, NULL);
            free(qd);
        }
        check_mutant_fails(mo, wo, wm, NS * H * dv, K_o, "decode mutant forgetting the new token");
        free(mo);
    }
    for (int b = 0; b < NS; b++) case_free(&cs[b]);
    free(q); free(o); free(lse); free(wo); free(wm); free(wl); free(fo); free(fl); free(one);
}

/* ---------------------------------------------------------------- threads */

/*
 * The thread count. Flash: forward outputs, and dk, dv of the backward, are the same bits
 * with 1 and 2 threads (each element is computed by one task with our own tile products,
 * whatever thread runs it); dq sums per-thread copies, so it is checked against the
 * reference. Naive: its products are op_gemm, and OpenBLAS may split a product over its
 * own threads when the call runs on one thread, which changes the last bits; checked
 * against the reference with 1 thread. Both: two runs with 2 threads agree bit for bit
 * (the flash backward deals its tasks statically).
 */
static void test_threads(void) {
    uint64_t s = next_seed();
    acase c;
    case_make(&c, 2, 300, 300, 3, 16, 24, 2.0, &s);
    float *zq = calloc((size_t)NQ(&c), sizeof(float)), *zk = calloc((size_t)NK(&c), sizeof(float));
    float *zv = calloc((size_t)NV(&c), sizeof(float));
    grad_want g;
    grad_want_make(&c, &g);
    for (int impl = 0; impl < 2; impl++) {
        float *o1, *l1, *o2, *l2, *o3, *l3, *q1, *k1, *v1, *q2, *k2, *v2, *q3, *k3, *v3;
        run_forward(&c, impl, 1, &o1, &l1);
        run_forward(&c, impl, 2, &o2, &l2);
        run_forward(&c, impl, 2, &o3, &l3);
        const char *name = impl ? "flash" : "naive";
        char what[96];
        snprintf(what, sizeof what, "%s forward, two runs with 2 threads: o", name);
        check_same(o3, o2, NO(&c), what);
        snprintf(what, sizeof what, "%s forward, two runs with 2 threads: lse", name);
        check_same(l3, l2, NL(&c), what);
        snprintf(what, sizeof what, "%s forward 1 thread: o", name);
        check_attn(o1, c.o, c.mag_o, NO(&c), c.K_o, what);
        snprintf(what, sizeof what, "%s forward 1 thread: lse", name);
        check_attn(l1, c.lse, c.one_lse, NL(&c), c.K_lse, what);
        if (impl == FLASH) {
            check_same(o2, o1, NO(&c), "flash forward 1 vs 2 threads: o");
            check_same(l2, l1, NL(&c), "flash forward 1 vs 2 threads: lse");
        }
        run_backward(&c, impl, 1, 7, o1, l1, zq, zk, zv, &q1, &k1, &v1);
        run_backward(&c, impl, 2, 7, o1, l1, zq, zk, zv, &q2, &k2, &v2);
        run_backward(&c, impl, 2, 7, o1, l1, zq, zk, zv, &q3, &k3, &v3);
        snprintf(what, sizeof what, "%s backward, two runs with 2 threads: dq", name);
        check_same(q3, q2, NQ(&c), what);
        snprintf(what, sizeof what, "%s backward, two runs with 2 threads: dk", name);
        check_same(k3, k2, NK(&c), what);
        snprintf(what, sizeof what, "%s backward, two runs with 2 threads: dv", name);
        check_same(v3, v2, NV(&c), what);
        if (impl == FLASH) {
            check_same(k2, k1, NK(&c), "flash backward 1 vs 2 threads: dk");
            check_same(v2, v1, NV(&c), "flash backward 1 vs 2 threads: dv");
        }
        float *qs[2] = {q1, q2}, *ks[2] = {k1, k2}, *vs[2] = {v1, v2};
        for (int t = 0; t < 2; t++) {
            snprintf(what, sizeof what, "%s backward %d thread(s): dq", name, t + 1);
            check_attn(qs[t], g.dq, g.mq, NQ(&c), g.Kq, what);
            snprintf(what, sizeof what, "%s backward %d thread(s): dk", name, t + 1);
            check_attn(ks[t], g.dk, g.mk, NK(&c), g.Kk, what);
            snprintf(what, sizeof what, "%s backward %d thread(s): dv", name, t + 1);
            check_attn(vs[t], g.dv, g.mv, NV(&c), g.Kv, what);
        }
        free(o1); free(l1); free(o2); free(l2); free(o3); free(l3); free(q1); free(k1);
        free(v1); free(q2); free(k2); free(v2); free(q3); free(k3); free(v3);
    }
    grad_want_free(&g);
    free(zq); free(zk); free(zv);
    case_free(&c);
}

/* The forward without lse (NULL) gives the same o, naive and flash. */
static void test_no_lse(void) {
    uint64_t s = next_seed();
    acase c;
    case_make(&c, 2, 40, 50, 3, 16, 24, 2.0, &s);
    for (int impl = 0; impl < 2; impl++) {
        float *o, *lse, *o2 = fnan(NO(&c));
        run_forward(&c, impl, 0, &o, &lse);
        attention_args a = case_args(&c, o2, NULL, 0);
        float *work = fnan(impl == NAIVE ? op_attention_naive_work(c.Tq, c.Tk, 0)
                                         : op_attention_flash_work(c.dk, c.dv, 0));
        if (impl == NAIVE) op_attention_naive_forward(&a, work);
        else op_attention_flash_forward(&a, work);
        check_same(o2, o, NO(&c), impl == NAIVE ? "naive forward without lse"
                                                 : "flash forward without lse");
        free(o); free(lse); free(o2); free(work);
    }
    case_free(&c);
}

int main(void) {
    const char *env = getenv("RETNET_TEST_SEED");
    seed0 = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
    fprintf(stderr, "test_attention: seed %llu (RETNET_TEST_SEED=%llu reproduces this run)\n",
            (unsigned long long)seed0, (unsigned long long)seed0);
    RUN(test_ref_by_hand);
    RUN(test_ref_backward_fd);
    RUN(test_forward);
    RUN(test_forward_large_scores);
    RUN(test_prefix);
    RUN(test_backward);
    RUN(test_backward_prefix);
    RUN(test_decode);
    RUN(test_threads);
    RUN(test_no_lse);
    fprintf(stderr, "test_attention: %lld checks (seed %llu)\n", (long long)n_checks,
            (unsigned long long)seed0);
    return TEST_SUMMARY();
}
