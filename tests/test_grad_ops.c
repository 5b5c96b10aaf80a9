/*
 * test_grad_ops.c: every backward kernel of src/ops/ops.h against finite differences of the
 * float64 reference forward (tests/ref/), on tiny random shapes. The seed is printed;
 * RETNET_TEST_SEED=<n> replays a run.
 *
 * What "the gradient" is
 * ----------------------
 * For an op y = f(x) and a random upstream gradient dy, the kernel must return
 * dL/dx for L = sum(dy ⊙ f(x)). The want is that derivative taken numerically from the
 * reference forward in double, never from a hand-derived formula (for retention a float64
 * analytic backward, ref_retention_backward, is checked against those differences too, and
 * then stands in for them at T = 513 where differences would cost O(T^3)).
 *
 * Finite differences (in double), step h = h0 max(1, |x_i|):
 * - ops whose loss is affine along each single input coordinate (matmul, rope, embed,
 *   retention: every term is a product in which a given input appears once): central
 *   differences (L(x+h) - L(x-h)) / 2h are exact for any h, so h0 = 1 and the only error
 *   is double rounding, E_fd <= N_L 2^-53 L_abs / h (N_L the number of terms summed into L,
 *   L_abs the sum of their absolute values);
 * - the others (norms, gate, gelu, swish, cross-entropy): the 4th-order stencil
 *   (L(x-2h) - 8 L(x-h) + 8 L(x+h) - L(x+2h)) / 12h with h0 = 1e-3, and for a norm's input
 *   h = h0 sqrt(var + eps) of its row (the scale on which a norm varies; a row of one value
 *   near 0, where RMSNorm is almost sign(x), defeats a fixed step): truncation
 *   ~ (h / scale)^4 / 30 < 1e-10 relative, rounding 1.5 N_L 2^-53 L_abs / h < 1e-10 L_abs / s
 *   (s = min(1, smallest step scale)), so E_fd = 1e-9 (1 + L_abs / s).
 * Both are far below the float tolerance, and are added to it.
 *
 * Tolerance rule (as in test_ops.c, written before the kernels were run)
 * -----------------------------------------------------------------------
 * u = 2^-24. Each element i of a float gradient is checked as
 *     |got_i - want_i| <= C_TOL K u mag_i + E_fd          (C_TOL = 2)
 * with mag_i the sum of the absolute values of the terms that make up gradient i (for the
 * products: the same derivative taken at the absolute values of every input, i.e. the
 * reference on |x|, |dy|) plus the rounding-error magnitudes of the nonlinear pieces, and
 * K the longest chain of roundings one term goes through:
 *
 *   kernel                 K, mag
 *   matmul dx, dw          N + 2, M + 2 (reduction length, accumulate); |dy| |W|, |dy|^T |x|
 *   layernorm, rmsnorm,    dx, dg: 16; dw, db: 12 (their sums over rows are in double).
 *   head_norm_gate         With r = 1/std, X_j = r (|x_j| + 2|mean|) (xhat's terms),
 *                          dn = dy swish(g) (or dy), dxh = |dn| |w|, A = mean|dxh|,
 *                          B = mean(|dxh| X):   dx: r (|dxh_j| + A + 2 X_j B);
 *                          dg: |dy| (|w| X + |b|) s (1 + |g|), s = sigmoid(g);
 *                          dw: sum |dn| X;  db: sum |dn|
 *   gelu, swish            8; |dy| (0.5 (1 + |erf|) + |x| phi(x) (1 + x^2)), |dy| s (1 + |x|)
 *   embed                  n + 2 (tokens adding into one row); sum |dx| scale
 *   rope                   6; the rotation of |dy| by |cos|, |sin| (ref_rope_abs)
 *   cross-entropy          loss: 4, per row 1 + sum_j p_j |x_j - m| (expf, and x_j - m
 *                          rounded, m the row max); dlogits: 8, |gs| (p_j (1 + |x_j - m| +
 *                          sum_k p_k |x_k - m|) + [j = t])
 *   retention (both forms) 3T + 2dk + 2dv + 8: a term goes through a dk- and a dv-long dot,
 *                          and at most T steps of chunk sums or carried states with three
 *                          roundings each (power of gamma, product, sum); mag: the
 *                          reference backward at |q|, |k|, |v|, |dO|, |drsum|
 * Accumulation (+=): every gradient buffer is pre-filled with random values p, the want is
 * p + gradient and mag gains |p| (K + 1). Row padding of strided outputs must be untouched.
 * The two retention forms are also compared with each other: each lies within its bound of
 * the truth, so they must agree within twice the bound.
 */
#include <float.h>
#include <omp.h>
#include <time.h>

#include "ops/ops.h"
#include "ref/ref64.h"
#include "test.h"

#define U 0x1p-24
#define C_TOL 2.0
#define SENTINEL 1234.5f

static uint64_t seed0;
static int64_t n_checks; /* element-wise comparisons made (each over a whole array) */

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
static double *widen(const float *x, int64_t n) {
    double *d = dnew(n);
    for (int64_t i = 0; i < n; i++) d[i] = x ? x[i] : 0;
    return d;
}
static double *dabs(const double *x, int64_t n) {
    double *d = dnew(n);
    for (int64_t i = 0; i < n; i++) d[i] = fabs(x[i]);
    return d;
}
static float *fcopy(const float *x, int64_t n) {
    float *y = fnew(n);
    memcpy(y, x, sizeof(float) * (size_t)n);
    return y;
}
/* Strided (rows, cols, ld) float matrix: random values, SENTINEL in the padding. */
static float *frand_ld(int64_t rows, int64_t cols, int64_t ld, uint64_t *s, double scale) {
    float *x = fnew(rows * ld);
    for (int64_t i = 0; i < rows * ld; i++)
        x[i] = i % ld < cols ? (float)(scale * test_rand(s)) : SENTINEL;
    return x;
}
static double *gatherd(const float *x, int64_t rows, int64_t cols, int64_t ld) {
    double *y = dnew(rows * cols);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) y[r * cols + c] = x[r * ld + c];
    return y;
}
static float *gatherf(const float *x, int64_t rows, int64_t cols, int64_t ld) {
    float *y = fnew(rows * cols);
    for (int64_t r = 0; r < rows; r++) memcpy(y + r * cols, x + r * ld, sizeof(float) * cols);
    return y;
}

/*
 * |a_i - r_i| <= C_TOL K u mag_i + fd_err (+ K 2^-149 for subnormals). Prints the worst
 * element (largest error / allowed error) and max_abs, max_rel, NMSE.
 */
static void check_grad(const float *a, const double *r, const double *mag, int64_t n, double K,
                       double fd_err, const char *what) {
    n_checks++;
    test_err e = test_compare(a, r, n, 1e-30);
    double worst = 0;
    int64_t wi = -1;
    for (int64_t i = 0; i < n; i++) {
        double tol = C_TOL * K * U * mag[i] + fd_err + K * 0x1p-149;
        double ratio = fabs((double)a[i] - r[i]) / tol;
        if (!(ratio <= worst)) {
            worst = isnan(ratio) ? INFINITY : ratio;
            wi = i;
        }
    }
    CHECK(worst <= 1.0,
          "%s: |err| > %g*K*u*mag + %.3g (K=%g): worst [%lld] got %.9g want %.9g mag %.3g "
          "(err/tol %.3g); max_abs %.3g max_rel %.3g nmse %.3g",
          what, C_TOL, fd_err, K, (long long)wi, wi >= 0 ? a[wi] : 0.0, wi >= 0 ? r[wi] : 0.0,
          wi >= 0 ? mag[wi] : 0.0, worst, e.max_abs, e.max_rel, e.nmse);
}

static void check_pad(const float *buf, int64_t rows, int64_t cols, int64_t ld, const char *what) {
    n_checks++;
    int64_t bad = -1;
    float sentinel = SENTINEL;
    for (int64_t r = 0; r < rows && bad < 0; r++)
        for (int64_t c = cols; c < ld; c++)
            if (memcmp(&buf[r * ld + c], &sentinel, sizeof sentinel) != 0) { bad = r * ld + c; break; }
    CHECK(bad < 0, "%s: wrote outside its output (row stride %lld, width %lld) at [%lld] = %g",
          what, (long long)ld, (long long)cols, (long long)bad, bad >= 0 ? buf[bad] : 0.0);
}

/* Bitwise equality of two float arrays. */
static void check_same(const float *a, const float *b, int64_t n, const char *what) {
    n_checks++;
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) bad = i;
    CHECK(bad < 0, "%s: not bit-identical at [%lld]: %.9g vs %.9g", what, (long long)bad,
          bad >= 0 ? a[bad] : 0.0, bad >= 0 ? b[bad] : 0.0);
}

/* want += prefill, mag += |prefill| (the += rule). */
static void add_prefill(double *want, double *mag, const float *pre, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        want[i] += pre[i];
        mag[i] += fabs((double)pre[i]);
    }
}

/* ---------------------------------------------------------------- finite differences */

typedef double (*loss_fn)(void *ctx);

/* g[i] = dL/dx[i], i < n, where L = f(ctx) reads x. order 2 (central, for losses affine
 * along each coordinate) or 4; h = h0 max(1, |x_i|), or h0 hs[i] when hs is given (the
 * scale on which L varies along x_i). x is restored exactly. */
static void fd_grad_s(loss_fn f, void *ctx, double *x, int64_t n, double h0, int order,
                      const double *hs, double *g) {
    for (int64_t i = 0; i < n; i++) {
        double x0 = x[i], h = h0 * (hs ? hs[i] : fmax(1.0, fabs(x0)));
        x[i] = x0 + h; double fp = f(ctx);
        x[i] = x0 - h; double fm = f(ctx);
        if (order == 2) g[i] = (fp - fm) / (2 * h);
        else {
            x[i] = x0 + 2 * h; double fp2 = f(ctx);
            x[i] = x0 - 2 * h; double fm2 = f(ctx);
            g[i] = (fm2 - 8 * fm + 8 * fp - fp2) / (12 * h);
        }
        x[i] = x0;
    }
}

static void fd_grad(loss_fn f, void *ctx, double *x, int64_t n, double h0, int order, double *g) {
    fd_grad_s(f, ctx, x, n, h0, order, NULL, g);
}

#define FD_LIN 1.0      /* h0 for affine-per-coordinate losses */
#define FD_NL 1e-3      /* h0 for the others, with the 4th-order stencil */

static double fd_err_nl(double L_abs) { return 1e-9 * (1 + L_abs); }

static double dot_abs(const double *a, const double *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += fabs(a[i] * b[i]);
    return s;
}
static double dot(const double *a, const double *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* ---------------------------------------------------------------- matmul */

typedef struct { double *x, *w, *dy, *y; int64_t M, N, K; } mm_ctx;
static double mm_loss(void *p) {
    mm_ctx *c = p;
    ref_matmul(c->y, c->x, c->w, c->M, c->N, c->K);
    return dot(c->dy, c->y, c->M * c->N);
}

static void test_matmul_backward(void) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 4}, {7, 6, 33}, {33, 7, 5}, {5, 40, 3}};
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int nul = 0; nul < 3; nul++) { /* 0: both, 1: dx only, 2: dw only */
            int64_t M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
            float *x = frand(M * K, &s, 1), *w = frand(N * K, &s, 1), *dy = frand(M * N, &s, 1);
            float *dx = frand(M * K, &s, 1), *dw = frand(N * K, &s, 1);
            float *dx0 = fcopy(dx, M * K), *dw0 = fcopy(dw, N * K);
            mm_ctx c = {widen(x, M * K), widen(w, N * K), widen(dy, M * N), dnew(M * N), M, N, K};
            double *gx = dnew(M * K), *gw = dnew(N * K), *mx = dnew(M * K), *mw = dnew(N * K);
            fd_grad(mm_loss, &c, c.x, M * K, FD_LIN, 2, gx);
            fd_grad(mm_loss, &c, c.w, N * K, FD_LIN, 2, gw);
            for (int64_t i = 0; i < M; i++)          /* |dy| |W| and |dy|^T |x| */
                for (int64_t j = 0; j < N; j++)
                    for (int64_t k = 0; k < K; k++) {
                        mx[i * K + k] += fabs(c.dy[i * N + j] * c.w[j * K + k]);
                        mw[j * K + k] += fabs(c.dy[i * N + j] * c.x[i * K + k]);
                    }
            double L_abs = 0;
            for (int64_t i = 0; i < M * K; i++) L_abs += mx[i] * fabs(c.x[i]);
            double fd_err = (double)M * N * K * 0x1p-53 * L_abs;
            add_prefill(gx, mx, dx0, M * K);
            add_prefill(gw, mw, dw0, N * K);
            op_matmul_backward(nul == 2 ? NULL : dx, nul == 1 ? NULL : dw, dy, x, w, M, N, K);
            char what[96];
            snprintf(what, sizeof what, "matmul_backward M=%lld N=%lld K=%lld null=%d",
                     (long long)M, (long long)N, (long long)K, nul);
            if (nul != 2) check_grad(dx, gx, mx, M * K, N + 3, fd_err, what);
            else check_same(dx, dx0, M * K, what);
            if (nul != 1) check_grad(dw, gw, mw, N * K, M + 3, fd_err, what);
            else check_same(dw, dw0, N * K, what);
            free(x); free(w); free(dy); free(dx); free(dw); free(dx0); free(dw0);
            free(c.x); free(c.w); free(c.dy); free(c.y); free(gx); free(gw); free(mx); free(mw);
        }
}

/* ---------------------------------------------------------------- norms */

/*
 * Magnitudes (see the rule) for one segment of n values: x, dy, g (NULL: no gate), w (NULL:
 * 1), b (NULL: 0). Adds into mdx, mdg (n each, may be NULL), mdw, mdb (n each).
 */
static void norm_seg_mag(const double *x, const double *dy, const double *g, const double *w,
                         const double *b, int n, double eps, int center, double *mdx,
                         double *mdg, double *mdw, double *mdb) {
    double mu = 0, var = 0;
    if (center) {
        for (int j = 0; j < n; j++) mu += x[j];
        mu /= n;
    }
    for (int j = 0; j < n; j++) var += (x[j] - mu) * (x[j] - mu);
    var /= n;
    double r = 1 / sqrt(var + eps), A = 0, B = 0;
    double *X = dnew(n), *dn = dnew(n), *dxh = dnew(n);
    for (int j = 0; j < n; j++) {
        X[j] = r * (fabs(x[j]) + 2 * fabs(mu));
        dn[j] = fabs(dy[j]) * (g ? fabs(ref_swish(g[j])) : 1.0);
        dxh[j] = dn[j] * (w ? fabs(w[j]) : 1.0);
        A += dxh[j] / n;
        B += dxh[j] * X[j] / n;
    }
    for (int j = 0; j < n; j++) {
        if (mdx) mdx[j] += r * (dxh[j] + (center ? A : 0) + 2 * X[j] * B);
        if (mdg && g) {
            double sg = 1 / (1 + exp(-g[j]));
            mdg[j] += fabs(dy[j]) * ((w ? fabs(w[j]) : 1.0) * X[j] + (b ? fabs(b[j]) : 0.0)) *
                      sg * (1 + fabs(g[j]));
        }
        mdw[j] += dn[j] * X[j];
        mdb[j] += dn[j];
    }
    free(X); free(dn); free(dxh);
}

typedef struct {
    int kind;                 /* 0 layernorm, 1 rmsnorm, 2 head_norm_gate */
    int groupnorm, h, n;
    int64_t M;
    double *x, *g, *w, *b, *dy, *y;
    double eps;
} norm_ctx;

static double norm_loss(void *p) {
    norm_ctx *c = p;
    if (c->kind == 0) ref_layernorm(c->y, c->x, c->w, c->b, c->M, c->n, c->eps);
    else if (c->kind == 1) ref_rmsnorm(c->y, c->x, c->w, c->M, c->n, c->eps);
    else ref_head_norm_gate(c->y, c->x, c->g, c->w, c->b, c->M, c->h, c->n, c->eps, c->groupnorm);
    return dot(c->dy, c->y, c->M * c->h * c->n);
}

/*
 * One norm case: kind 0/1 (M rows of d = n), or 2 (M rows of h heads of n = dv, gate g).
 * affine: w (and b for layernorm/groupnorm); nul: bit mask of the gradients left NULL
 * (1 dx, 2 dw, 4 db, 8 dg).
 */
static void norm_case(int kind, int groupnorm, int64_t M, int h, int n, int affine,
                      int with_b, int nul, double offset, uint64_t *s) {
    const int center = kind == 0 || (kind == 2 && groupnorm);
    const int64_t N = M * h * n;
    const int64_t wn = kind == 2 && groupnorm ? (int64_t)h * n : n; /* parameter width */
    const float eps = 1e-5f;
    float *x = frand(N, s, 2), *g = frand(N, s, 4), *w = frand(wn, s, 1.5), *b = frand(wn, s, 0.5);
    float *dy = frand(N, s, 1);
    for (int64_t i = 0; i < N; i++) x[i] += (float)offset;
    if (!affine) with_b = 0;
    if (kind == 1 || (kind == 2 && !groupnorm)) with_b = 0; /* RMSNorm has no bias */
    float *dx = frand(N, s, 1), *dg = frand(N, s, 1), *dw = frand(wn, s, 1), *db = frand(wn, s, 1);
    float *dx0 = fcopy(dx, N), *dg0 = fcopy(dg, N), *dw0 = fcopy(dw, wn), *db0 = fcopy(db, wn);

    norm_ctx c = {kind, groupnorm, kind == 2 ? h : 1, n, M, widen(x, N), widen(g, N),
                  affine ? widen(w, wn) : NULL, with_b ? widen(b, wn) : NULL, widen(dy, N),
                  dnew(N), eps};
    double *gx = dnew(N), *gg = dnew(N), *gw = dnew(wn), *gb = dnew(wn);
    /* A norm varies along x on the scale of its segment's std (or rms): steps relative to
     * it keep the truncation error scale-free (a segment of one value near 0, where
     * RMSNorm is almost sign(x), would otherwise defeat a fixed step). */
    double *hs = dnew(N), hmin = INFINITY;
    for (int64_t seg = 0; seg < M * c.h; seg++) {
        const double *xs = c.x + seg * n;
        double mu = 0, var = 0;
        for (int j = 0; j < n && center; j++) mu += xs[j] / n;
        for (int j = 0; j < n; j++) var += (xs[j] - mu) * (xs[j] - mu) / n;
        for (int j = 0; j < n; j++) hs[seg * n + j] = sqrt(var + eps);
        hmin = fmin(hmin, sqrt(var + eps));
    }
    fd_grad_s(norm_loss, &c, c.x, N, FD_NL, 4, hs, gx);
    free(hs);
    if (kind == 2) fd_grad(norm_loss, &c, c.g, N, FD_NL, 4, gg);
    if (c.w) fd_grad(norm_loss, &c, c.w, wn, FD_NL, 4, gw);
    if (c.b) fd_grad(norm_loss, &c, c.b, wn, FD_NL, 4, gb);
    norm_loss(&c);
    double L_abs = dot_abs(c.dy, c.y, N), fd_err = fd_err_nl(L_abs / fmin(hmin, 1.0));

    double *mx = dnew(N), *mg = dnew(N), *mw = dnew(wn), *mb = dnew(wn);
    for (int64_t seg = 0; seg < M * c.h; seg++) {
        int head = (int)(seg % c.h);
        int64_t po = kind == 2 && groupnorm ? (int64_t)head * n : 0;
        norm_seg_mag(c.x + seg * n, c.dy + seg * n, kind == 2 ? c.g + seg * n : NULL,
                     c.w ? c.w + po : NULL, c.b ? c.b + po : NULL, n, eps, center, mx + seg * n,
                     mg + seg * n, mw + po, mb + po);
    }
    add_prefill(gx, mx, dx0, N);
    add_prefill(gg, mg, dg0, N);
    add_prefill(gw, mw, dw0, wn);
    add_prefill(gb, mb, db0, wn);

    float *pdx = nul & 1 ? NULL : dx, *pdw = nul & 2 || !affine ? NULL : dw;
    float *pdb = nul & 4 || !with_b ? NULL : db, *pdg = nul & 8 ? NULL : dg;
    const float *pw = affine ? w : NULL, *pb = with_b ? b : NULL;
    if (kind == 0) op_layernorm_backward(pdx, pdw, pdb, dy, x, pw, M, n, eps);
    else if (kind == 1) op_rmsnorm_backward(pdx, pdw, dy, x, pw, M, n, eps);
    else op_head_norm_gate_backward(pdx, pdg, pdw, pdb, dy, x, g, pw, pb, M, h, n, eps, groupnorm);

    static const char *names[] = {"layernorm", "rmsnorm", "head_norm_gate"};
    char what[160];
    snprintf(what, sizeof what, "%s_backward%s M=%lld h=%d n=%d affine=%d bias=%d null=%d offset=%g",
             names[kind], kind == 2 ? (groupnorm ? " groupnorm" : " rmsnorm") : "", (long long)M,
             c.h, n, affine, with_b, nul, offset);
    char w2[200];
    snprintf(w2, sizeof w2, "%s: dx", what);
    if (pdx) check_grad(dx, gx, mx, N, 17, fd_err, w2); else check_same(dx, dx0, N, w2);
    snprintf(w2, sizeof w2, "%s: dw", what);
    if (pdw) check_grad(dw, gw, mw, wn, 13, fd_err, w2); else check_same(dw, dw0, wn, w2);
    snprintf(w2, sizeof w2, "%s: db", what);
    if (pdb) check_grad(db, gb, mb, wn, 13, fd_err, w2); else check_same(db, db0, wn, w2);
    if (kind == 2) {
        snprintf(w2, sizeof w2, "%s: dg", what);
        if (pdg) check_grad(dg, gg, mg, N, 17, fd_err, w2); else check_same(dg, dg0, N, w2);
    }
    free(x); free(g); free(w); free(b); free(dy); free(dx); free(dg); free(dw); free(db);
    free(dx0); free(dg0); free(dw0); free(db0);
    free(c.x); free(c.g); free(c.w); free(c.b); free(c.dy); free(c.y);
    free(gx); free(gg); free(gw); free(gb); free(mx); free(mg); free(mw); free(mb);
}

static void test_norm_backward(void) {
    static const int64_t shapes[][2] = {{1, 2}, {3, 5}, {4, 17}, {2, 1}};
    uint64_t s = next_seed();
    for (int kind = 0; kind < 2; kind++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (int v = 0; v < 3; v++) /* (affine, bias) = (1, 1), (1, 0), (0, 0) */
                norm_case(kind, 0, shapes[si][0], 1, (int)shapes[si][1], v < 2, v == 0, 0, 0, &s);
    /* a mean far from 0 (the variance's cancellation), and the NULL outputs */
    for (int kind = 0; kind < 2; kind++) {
        norm_case(kind, 0, 3, 1, 6, 1, 1, 0, 3.0, &s);
        for (int nul = 1; nul < 8; nul++) norm_case(kind, 0, 3, 1, 5, 1, 1, nul, 0, &s);
    }
}

static void test_head_norm_gate_backward(void) {
    static const int shapes[][3] = {{1, 1, 2}, {3, 2, 5}, {2, 3, 4}, {2, 2, 7}}; /* M h dv */
    uint64_t s = next_seed();
    for (int groupnorm = 0; groupnorm < 2; groupnorm++) {
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (int v = 0; v < 3; v++)
                norm_case(2, groupnorm, shapes[si][0], shapes[si][1], shapes[si][2], v < 2,
                          v == 0, 0, 0, &s);
        norm_case(2, groupnorm, 3, 2, 6, 1, 1, 0, 3.0, &s);
        for (int nul = 1; nul < 16; nul++) norm_case(2, groupnorm, 2, 2, 5, 1, 1, nul, 0, &s);
    }
}

/*
 * Parameter gradients are sums over rows: they must be deterministic and the same for any
 * thread count (bit for bit), and so must everything else. Shapes above the kernels'
 * threading thresholds.
 */
static void test_determinism(void) {
    uint64_t s = next_seed();
    const int threads[] = {1, 2, 3, 4};
    const int nt = sizeof threads / sizeof threads[0], t0 = omp_get_max_threads();
    const int64_t M = 256, d = 100, Mh = 64, V = 2048, ne = 512, de = 160;
    const int h = 4, dv = 96;
    const int64_t Nh = Mh * h * dv;
    float *x = frand(M * d, &s, 2), *dy = frand(M * d, &s, 1), *w = frand(d, &s, 1.5);
    float *o = frand(Nh, &s, 2), *g = frand(Nh, &s, 4), *dyh = frand(Nh, &s, 1);
    float *wh = frand((int64_t)h * dv, &s, 1), *bh = frand((int64_t)h * dv, &s, 1);
    float *logits = frand(Mh * V, &s, 5), *dxe = frand(ne * de, &s, 1);
    int32_t *tg = malloc(sizeof(int32_t) * Mh), *tok = malloc(sizeof(int32_t) * ne);
    for (int64_t i = 0; i < Mh; i++) tg[i] = i % 5 == 0 ? -1 : (int32_t)((i * 7919) % V);
    for (int64_t i = 0; i < ne; i++) tok[i] = (int32_t)((i * 3) % 5); /* many repeats */
    /* per thread count: dx dw db (layernorm), dx dw (rmsnorm), do dg dw db (groupnorm),
     * do dg dw (rmsnorm head), dtable, loss + dlogits */
    struct { float *a; int64_t n; } out[nt][14];
    double loss[nt];
    for (int t = 0; t < nt; t++) {
        omp_set_num_threads(threads[t]);
        int64_t sizes[14] = {M * d, d, d, M * d, d, Nh, Nh, (int64_t)h * dv, (int64_t)h * dv,
                             Nh, Nh, dv, 5 * de, Mh * V};
        for (int i = 0; i < 14; i++) {
            out[t][i].n = sizes[i];
            out[t][i].a = calloc((size_t)sizes[i], sizeof(float));
        }
        op_layernorm_backward(out[t][0].a, out[t][1].a, out[t][2].a, dy, x, w, M, d, 1e-5f);
        op_rmsnorm_backward(out[t][3].a, out[t][4].a, dy, x, w, M, d, 1e-5f);
        op_head_norm_gate_backward(out[t][5].a, out[t][6].a, out[t][7].a, out[t][8].a, dyh, o, g,
                                   wh, bh, Mh, h, dv, 1e-5f, 1);
        op_head_norm_gate_backward(out[t][9].a, out[t][10].a, out[t][11].a, NULL, dyh, o, g, wh,
                                   NULL, Mh, h, dv, 1e-5f, 0);
        op_embed_backward(out[t][12].a, dxe, tok, ne, de, 0.5f);
        loss[t] = op_cross_entropy(out[t][13].a, logits, tg, Mh, V, 1.0f / 51, NULL);
    }
    omp_set_num_threads(t0);
    static const char *names[14] = {"layernorm dx", "layernorm dw", "layernorm db", "rmsnorm dx",
                                    "rmsnorm dw", "groupnorm do", "groupnorm dg", "groupnorm dw",
                                    "groupnorm db", "rms head do", "rms head dg", "rms head dw",
                                    "embed dtable", "cross-entropy dlogits"};
    for (int t = 1; t < nt; t++) {
        char what[96];
        for (int i = 0; i < 14; i++) {
            snprintf(what, sizeof what, "%s, %d threads vs 1", names[i], threads[t]);
            check_same(out[t][i].a, out[0][i].a, out[0][i].n, what);
        }
        CHECK(memcmp(&loss[t], &loss[0], sizeof(double)) == 0,
              "cross-entropy loss, %d threads vs 1: %.17g vs %.17g", threads[t], loss[t], loss[0]);
    }
    for (int t = 0; t < nt; t++)
        for (int i = 0; i < 14; i++) free(out[t][i].a);
    free(x); free(dy); free(w); free(o); free(g); free(dyh); free(wh); free(bh); free(logits);
    free(dxe); free(tg); free(tok);
}

/* ---------------------------------------------------------------- activations */

static void test_activation_backward(void) {
    static const int64_t sizes[] = {1, 7, 33, 1000};
    static const double scales[] = {1, 6, 30};
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (size_t ci = 0; ci < sizeof scales / sizeof scales[0]; ci++)
            for (int op = 0; op < 2; op++) {
                int64_t n = sizes[si];
                float *x = frand(n, &s, scales[ci]), *dy = frand(n, &s, 1), *dx = frand(n, &s, 1);
                float *dx0 = fcopy(dx, n);
                double *want = dnew(n), *mag = dnew(n), L_abs = 0;
                for (int64_t i = 0; i < n; i++) {
                    /* the elementwise derivative, 4th-order differences of the reference */
                    double xi = x[i], h = FD_NL * fmax(1.0, fabs(xi));
                    double (*f)(double) = op ? ref_swish : ref_gelu;
                    double d = (f(xi - 2 * h) - 8 * f(xi - h) + 8 * f(xi + h) - f(xi + 2 * h)) / (12 * h);
                    want[i] = dy[i] * d;
                    double sg = 1 / (1 + exp(-xi)), phi = exp(-0.5 * xi * xi) / sqrt(2 * M_PI);
                    mag[i] = fabs(dy[i]) * (op ? sg * (1 + fabs(xi))
                                               : 0.5 * (1 + fabs(erf(xi / sqrt(2)))) +
                                                     fabs(xi) * phi * (1 + xi * xi));
                    L_abs = fmax(L_abs, fabs(dy[i] * f(xi)));
                }
                add_prefill(want, mag, dx0, n);
                if (op) op_swish_backward(dx, dy, x, n);
                else op_gelu_backward(dx, dy, x, n);
                char what[64];
                snprintf(what, sizeof what, "%s_backward n=%lld scale=%g", op ? "swish" : "gelu",
                         (long long)n, scales[ci]);
                check_grad(dx, want, mag, n, 9, fd_err_nl(L_abs), what);
                free(x); free(dy); free(dx); free(dx0); free(want); free(mag);
            }
}

/* ---------------------------------------------------------------- embed */

typedef struct { double *table, *dy; const int32_t *tok; int64_t n, d; double scale; } emb_ctx;
static double emb_loss(void *p) {
    emb_ctx *c = p;
    double L = 0;
    for (int64_t i = 0; i < c->n; i++)
        for (int64_t j = 0; j < c->d; j++)
            L += c->dy[i * c->d + j] * c->table[c->tok[i] * c->d + j] * c->scale;
    return L;
}

static void test_embed_backward(void) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {7, 5, 4}, {33, 3, 50}, {40, 70, 3}}; /* n d V */
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int sc = 0; sc < 2; sc++) {
            int64_t n = shapes[si][0], d = shapes[si][1], V = shapes[si][2];
            float scale = sc ? sqrtf((float)d) : 1.0f;
            int32_t *tok = malloc(sizeof(int32_t) * n);
            for (int64_t i = 0; i < n; i++)
                tok[i] = (int32_t)((test_rand(&s) + 1) * 0.5 * V) % (int32_t)V;
            if (n > 2) tok[n - 1] = tok[0] = (int32_t)(V - 1); /* a repeat, the last row */
            float *dxf = frand(n * d, &s, 1), *dt = frand(V * d, &s, 1), *dt0 = fcopy(dt, V * d);
            emb_ctx c = {dnew(V * d), widen(dxf, n * d), tok, n, d, scale};
            double *want = dnew(V * d), *mag = dnew(V * d);
            fd_grad(emb_loss, &c, c.table, V * d, FD_LIN, 2, want);
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < d; j++) mag[tok[i] * d + j] += fabs(c.dy[i * d + j] * scale);
            double L_abs = 0;
            for (int64_t i = 0; i < V * d; i++) L_abs += mag[i];
            add_prefill(want, mag, dt0, V * d);
            op_embed_backward(dt, dxf, tok, n, d, scale);
            char what[80];
            snprintf(what, sizeof what, "embed_backward n=%lld d=%lld V=%lld scale=%g",
                     (long long)n, (long long)d, (long long)V, scale);
            check_grad(dt, want, mag, V * d, n + 3, n * d * 0x1p-53 * L_abs, what);
            free(tok); free(dxf); free(dt); free(dt0); free(c.table); free(c.dy); free(want);
            free(mag);
        }
}

/* ---------------------------------------------------------------- rope */

typedef struct { double *x, *y, *dy; int64_t ld, T; int h, dk, half; int64_t pos0; double scale; } rope_ctx;
static double rope_loss(void *p) {
    rope_ctx *c = p;
    memcpy(c->y, c->x, sizeof(double) * (size_t)(c->T * c->ld));
    ref_rope(c->y, c->ld, c->T, c->h, c->dk, c->pos0, c->half, 10000.0, c->scale);
    double L = 0;
    for (int64_t t = 0; t < c->T; t++)
        for (int64_t j = 0; j < (int64_t)c->h * c->dk; j++) L += c->dy[t * c->ld + j] * c->y[t * c->ld + j];
    return L;
}

static void test_rope_backward(void) {
    static const int shapes[][3] = {{1, 1, 2}, {3, 2, 4}, {5, 1, 6}, {4, 3, 8}}; /* T h dk */
    static const int64_t pos0s[] = {0, 5, 100003};
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t pi = 0; pi < sizeof pos0s / sizeof pos0s[0]; pi++)
            for (int v = 0; v < 4; v++) {
                int half = v & 1, kscale = v >> 1, h = shapes[si][1], dk = shapes[si][2];
                int64_t T = shapes[si][0], pos0 = pos0s[pi], ld = (int64_t)h * dk + 3, hd = (int64_t)h * dk;
                float scale = kscale ? 1.0f / sqrtf((float)dk) : 1.0f;
                float *dyf = frand_ld(T, hd, ld, &s, 1);
                rope_ctx c = {dnew(T * ld), dnew(T * ld), widen(dyf, T * ld), ld, T, h, dk, half, pos0, scale};
                for (int64_t i = 0; i < T * ld; i++) c.x[i] = test_rand(&s);
                double *g = dnew(T * ld), *mag = widen(dyf, T * ld);
                fd_grad(rope_loss, &c, c.x, T * ld, FD_LIN, 2, g);
                for (int64_t i = 0; i < T * ld; i++) mag[i] = fabs(mag[i]);
                ref_rope_abs(mag, ld, T, h, dk, pos0, half, 10000.0, scale);
                double *gc = dnew(T * hd), *mc = dnew(T * hd), L_abs = 0;
                for (int64_t t = 0; t < T; t++)
                    for (int64_t j = 0; j < hd; j++) {
                        gc[t * hd + j] = g[t * ld + j];
                        mc[t * hd + j] = mag[t * ld + j];
                        L_abs += mag[t * ld + j] * fabs(c.x[t * ld + j]);
                    }
                op_rope_backward(dyf, ld, T, h, dk, pos0, half, 10000.0, scale);
                char what[112];
                snprintf(what, sizeof what, "rope_backward %s T=%lld h=%d dk=%d pos0=%lld scale=%g",
                         half ? "half" : "paper", (long long)T, h, dk, (long long)pos0, scale);
                float *dc = gatherf(dyf, T, hd, ld);
                check_grad(dc, gc, mc, T * hd, 6, T * hd * 0x1p-53 * L_abs * 4, what);
                check_pad(dyf, T, hd, ld, what);
                free(dyf); free(c.x); free(c.y); free(c.dy); free(g); free(mag); free(gc); free(mc);
                free(dc);
            }
}

/* ---------------------------------------------------------------- cross-entropy */

typedef struct { double *x; const int32_t *t; int64_t n, V; } ce_ctx;
static double ce_loss(void *p) {
    ce_ctx *c = p;
    return ref_cross_entropy(c->x, c->t, c->n, c->V);
}

static void test_cross_entropy(void) {
    static const int64_t shapes[][2] = {{1, 1}, {1, 7}, {5, 7}, {6, 300}}; /* n V */
    static const double offsets[] = {0, 80};
    uint64_t s = next_seed();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t oi = 0; oi < sizeof offsets / sizeof offsets[0]; oi++)
            for (int v = 0; v < 2; v++) {
                int64_t n = shapes[si][0], V = shapes[si][1];
                float *x = frand(n * V, &s, 5);
                for (int64_t i = 0; i < n * V; i++) x[i] += (float)offsets[oi];
                int32_t *t = malloc(sizeof(int32_t) * n);
                int64_t want_count = 0;
                for (int64_t i = 0; i < n; i++) {
                    t[i] = (i % 3 == 1) ? -1 : (int32_t)((test_rand(&s) + 1) * 0.5 * V) % (int32_t)V;
                    if (i == 0) t[i] = (int32_t)(V - 1);
                    want_count += t[i] >= 0;
                }
                float gs = v ? 1.0f / (float)want_count : 1.0f;
                ce_ctx c = {widen(x, n * V), t, n, V};
                double want_loss = ref_cross_entropy(c.x, t, n, V);
                double *g = dnew(n * V), *mag = dnew(n * V), loss_mag = 0;
                fd_grad(ce_loss, &c, c.x, n * V, FD_NL, 4, g);
                for (int64_t i = 0; i < n; i++) {
                    const double *xi = c.x + i * V;
                    double m = xi[0], sum = 0, spx = 0;
                    for (int64_t j = 1; j < V; j++) m = fmax(m, xi[j]);
                    for (int64_t j = 0; j < V; j++) sum += exp(xi[j] - m);
                    for (int64_t j = 0; j < V; j++) spx += exp(xi[j] - m) / sum * (xi[j] - m) * -1;
                    if (t[i] >= 0) loss_mag += 1 + spx;
                    for (int64_t j = 0; j < V; j++) {
                        g[i * V + j] *= gs;
                        double p = exp(xi[j] - m) / sum;
                        mag[i * V + j] = t[i] < 0 ? 0 : fabs(gs) * (p * (1 + (m - xi[j]) + spx) + (j == t[i]));
                    }
                }
                double fd_err = fabs(gs) * fd_err_nl(fabs(want_loss) + 2 * offsets[oi] * n);
                char what[96];
                snprintf(what, sizeof what, "cross_entropy n=%lld V=%lld offset=%g scale=%g",
                         (long long)n, (long long)V, offsets[oi], gs);
                /* out of place, in place, and without a gradient: same loss, bit for bit */
                float *dl = frand(n * V, &s, 1), *inpl = fcopy(x, n * V);
                int64_t cnt = -1, cnt2 = -1, cnt3 = -1;
                double L1 = op_cross_entropy(dl, x, t, n, V, gs, &cnt);
                double L2 = op_cross_entropy(inpl, inpl, t, n, V, gs, &cnt2);
                double L3 = op_cross_entropy(NULL, x, t, n, V, gs, &cnt3);
                double L4 = op_cross_entropy(NULL, x, t, n, V, gs, NULL);
                double tol = C_TOL * 4 * U * loss_mag + 1e-15 * fabs(want_loss);
                CHECK(fabs(L1 - want_loss) <= tol, "%s: loss %.17g want %.17g (tol %.3g)", what,
                      L1, want_loss, tol);
                CHECK(cnt == want_count && cnt2 == want_count && cnt3 == want_count,
                      "%s: count %lld %lld %lld want %lld", what, (long long)cnt, (long long)cnt2,
                      (long long)cnt3, (long long)want_count);
                CHECK(L1 == L2 && L1 == L3 && L1 == L4, "%s: loss differs in place / without "
                      "gradient: %.17g %.17g %.17g %.17g", what, L1, L2, L3, L4);
                check_grad(dl, g, mag, n * V, 8, fd_err, what);
                char w2[128];
                snprintf(w2, sizeof w2, "%s: in place vs out of place", what);
                check_same(inpl, dl, n * V, w2);
                for (int64_t i = 0; i < n; i++)   /* ignored rows: exactly zero */
                    if (t[i] < 0)
                        for (int64_t j = 0; j < V; j++)
                            CHECK(dl[i * V + j] == 0.0f, "%s: ignored row %lld not zero", what, (long long)i);
                free(x); free(t); free(c.x); free(g); free(mag); free(dl); free(inpl);
            }
    /* every row ignored: loss 0, count 0, gradient 0 */
    float x[6] = {1, 2, 3, 4, 5, 6}, dl[6];
    int32_t t[2] = {-1, -5};
    int64_t cnt = -1;
    double L = op_cross_entropy(dl, x, t, 2, 3, 1.0f, &cnt);
    CHECK(L == 0 && cnt == 0, "all ignored: loss %g count %lld", L, (long long)cnt);
    for (int i = 0; i < 6; i++) CHECK(dl[i] == 0.0f, "all ignored: dlogits[%d] = %g", i, dl[i]);
}

/* ---------------------------------------------------------------- retention */

static const double gammas[] = {1 - 0x1p-5, 1 - 0x1p-8, 1.0};

typedef struct {
    ref_retention_args a;
    double *q, *k, *v, *dout, *drsum, *o, *rsum;
} ret_ctx;

static double ret_loss(void *p) {
    ret_ctx *c = p;
    ref_retention_parallel(&c->a);
    double L = dot(c->dout, c->o, c->a.T * c->a.dv);
    if (c->drsum) L += dot(c->drsum, c->rsum, c->a.T);
    return L;
}

enum { F_PAR = -1 }; /* form: F_PAR, or the chunk length C of the chunkwise form */

/*
 * Runs one backward (parallel, or chunkwise with chunk C) with strided inputs and outputs,
 * gradients pre-filled with pre*, only those selected by `want` (bits 1 dq, 2 dk, 4 dv)
 * non-NULL. Returns the gathered (T, dk), (T, dk), (T, dv) gradients.
 */
typedef struct {
    int64_t T;
    int dk, dv;
    float *q, *k, *v, *dout, *drsum;   /* strided as below */
    float *preq, *prek, *prev;        /* contiguous pre-fills */
    double gamma;
} ret_case;

#define LDQ(c) ((c)->dk + 3)
#define LDK(c) ((c)->dk + 1)
#define LDV(c) ((c)->dv + 2)
#define LDO(c) ((c)->dv + 5)

static void run_backward(const ret_case *c, int form, int want, float *gq, float *gk, float *gv,
                         const char *what) {
    const int64_t T = c->T;
    const int dk = c->dk, dv = c->dv;
    const int64_t lq = dk + 2, lk = dk + 4, lv = dv + 1;
    float *dq = frand_ld(T, dk, lq, &(uint64_t){1}, 0), *dk_ = frand_ld(T, dk, lk, &(uint64_t){1}, 0);
    float *dv_ = frand_ld(T, dv, lv, &(uint64_t){1}, 0);
    for (int64_t t = 0; t < T; t++) {
        memcpy(dq + t * lq, c->preq + t * dk, sizeof(float) * dk);
        memcpy(dk_ + t * lk, c->prek + t * dk, sizeof(float) * dk);
        memcpy(dv_ + t * lv, c->prev + t * dv, sizeof(float) * dv);
    }
    retention_grad_args a = {.T = T, .dk = dk, .dv = dv, .q = c->q, .k = c->k, .v = c->v,
                             .ldq = LDQ(c), .ldk = LDK(c), .ldv = LDV(c), .dout = c->dout,
                             .lddo = LDO(c), .drsum = c->drsum, .dq = want & 1 ? dq : NULL,
                             .dk_ = want & 2 ? dk_ : NULL, .dv_ = want & 4 ? dv_ : NULL,
                             .lddq = lq, .lddk = lk, .lddv = lv, .gamma = c->gamma};
    int64_t wn = form == F_PAR ? retention_parallel_backward_work(T, dk, dv)
                               : retention_chunkwise_backward_work(T, form, dk, dv);
    float *work = fnew(wn);
    for (int64_t i = 0; i < wn; i++) work[i] = NAN; /* must be written before it is read */
    if (form == F_PAR) retention_parallel_backward(&a, work);
    else retention_chunkwise_backward(&a, form, work);
    char w2[256];
    snprintf(w2, sizeof w2, "%s: dq padding", what); check_pad(dq, T, dk, lq, w2);
    snprintf(w2, sizeof w2, "%s: dk padding", what); check_pad(dk_, T, dk, lk, w2);
    snprintf(w2, sizeof w2, "%s: dv padding", what); check_pad(dv_, T, dv, lv, w2);
    for (int64_t t = 0; t < T; t++) {
        memcpy(gq + t * dk, dq + t * lq, sizeof(float) * dk);
        memcpy(gk + t * dk, dk_ + t * lk, sizeof(float) * dk);
        memcpy(gv + t * dv, dv_ + t * lv, sizeof(float) * dv);
    }
    free(dq); free(dk_); free(dv_); free(work);
}

/*
 * One (T, gamma, drsum or not): the want from finite differences of the reference forward
 * (fd != 0; the reference backward is checked against them) or from the reference backward;
 * then the parallel form and the chunkwise form for every C, each against the want, and the
 * chunkwise forms against the parallel one.
 */
static void retention_grad_case(int dk, int dv, int64_t T, double gamma, int with_drsum, int fd,
                                uint64_t *s) {
    static const int Cs[] = {1, 2, 3, 5, 64, 0 /* T */, -3 /* T + 3 */};
    ret_case c = {T, dk, dv, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, gamma};
    c.q = frand_ld(T, dk, LDQ(&c), s, 1);
    c.k = frand_ld(T, dk, LDK(&c), s, 1);
    c.v = frand_ld(T, dv, LDV(&c), s, 1);
    c.dout = frand_ld(T, dv, LDO(&c), s, 1);
    c.drsum = with_drsum ? frand(T, s, 1) : NULL;
    c.preq = frand(T * dk, s, 1); c.prek = frand(T * dk, s, 1); c.prev = frand(T * dv, s, 1);

    ret_ctx x = {{0}};
    x.q = gatherd(c.q, T, dk, LDQ(&c)); x.k = gatherd(c.k, T, dk, LDK(&c));
    x.v = gatherd(c.v, T, dv, LDV(&c)); x.dout = gatherd(c.dout, T, dv, LDO(&c));
    x.drsum = with_drsum ? widen(c.drsum, T) : NULL;
    x.o = dnew(T * dv); x.rsum = dnew(T);
    x.a = (ref_retention_args){T, dk, dv, x.q, x.k, x.v, gamma, NULL, NULL, x.o, NULL, NULL,
                               with_drsum ? x.rsum : NULL};
    double *wq = dnew(T * dk), *wk = dnew(T * dk), *wv = dnew(T * dv);
    ref_retention_backward(&x.a, x.dout, x.drsum, wq, wk, wv);

    /* magnitudes: the reference backward on absolute values; L_abs likewise */
    double *qa = dabs(x.q, T * dk), *ka = dabs(x.k, T * dk), *va = dabs(x.v, T * dv);
    double *doa = dabs(x.dout, T * dv), *dra = with_drsum ? dabs(x.drsum, T) : NULL;
    double *mq = dnew(T * dk), *mk = dnew(T * dk), *mv = dnew(T * dv);
    ref_retention_args aa = {T, dk, dv, qa, ka, va, gamma, NULL, NULL, NULL, NULL, NULL, NULL};
    ref_retention_backward(&aa, doa, dra, mq, mk, mv);
    double L_abs = dot(mv, va, T * dv); /* sum over all terms of L of |dO o-terms| ... */
    if (with_drsum) L_abs += dot(mq, qa, T * dk);  /* ... and an upper bound on the rest */
    double N_L = (double)T * (T + 1) / 2 * (dk + dv + 1);
    double fd_err = fd ? N_L * 0x1p-53 * L_abs : 0;

    char what[160];
    snprintf(what, sizeof what, "retention_backward dk=%d dv=%d T=%lld gamma=1-%.3g drsum=%d",
             dk, dv, (long long)T, 1 - gamma, with_drsum);
    if (fd) {
        double *fq = dnew(T * dk), *fk = dnew(T * dk), *fv = dnew(T * dv);
        fd_grad(ret_loss, &x, x.q, T * dk, FD_LIN, 2, fq);
        fd_grad(ret_loss, &x, x.k, T * dk, FD_LIN, 2, fk);
        fd_grad(ret_loss, &x, x.v, T * dv, FD_LIN, 2, fv);
        /* the oracle's own check: analytic float64 backward vs differences */
        double worst = 0;
        for (int64_t i = 0; i < T * dk; i++)
            worst = fmax(worst, fmax(fabs(fq[i] - wq[i]) / (mq[i] + 1), fabs(fk[i] - wk[i]) / (mk[i] + 1)));
        for (int64_t i = 0; i < T * dv; i++) worst = fmax(worst, fabs(fv[i] - wv[i]) / (mv[i] + 1));
        CHECK(worst < 1e-10, "%s: reference backward vs finite differences: %.3g", what, worst);
        free(wq); free(wk); free(wv);
        wq = fq; wk = fk; wv = fv;
    }
    add_prefill(wq, mq, c.preq, T * dk);
    add_prefill(wk, mk, c.prek, T * dk);
    add_prefill(wv, mv, c.prev, T * dv);
    const double K = 3.0 * T + 2 * dk + 2 * dv + 8 + 1;

    float *pq = fnew(T * dk), *pk = fnew(T * dk), *pv = fnew(T * dv);
    float *gq = fnew(T * dk), *gk = fnew(T * dk), *gv = fnew(T * dv);
    const int nC = sizeof Cs / sizeof Cs[0];
    for (int run = -1; run < nC; run++) {
        int C = run < 0 ? F_PAR : Cs[run] > 0 ? Cs[run] : (int)T - Cs[run];
        char w1[200], w2[220];
        if (C == F_PAR) snprintf(w1, sizeof w1, "%s parallel", what);
        else snprintf(w1, sizeof w1, "%s chunkwise C=%d", what, C);
        float *oq = run < 0 ? pq : gq, *ok = run < 0 ? pk : gk, *ov = run < 0 ? pv : gv;
        run_backward(&c, C, 7, oq, ok, ov, w1);
        snprintf(w2, sizeof w2, "%s: dq", w1); check_grad(oq, wq, mq, T * dk, K, fd_err, w2);
        snprintf(w2, sizeof w2, "%s: dk", w1); check_grad(ok, wk, mk, T * dk, K, fd_err, w2);
        snprintf(w2, sizeof w2, "%s: dv", w1); check_grad(ov, wv, mv, T * dv, K, fd_err, w2);
        if (run >= 0) { /* chunkwise vs parallel: both within the bound, so within twice it */
            double *rq = widen(pq, T * dk), *rk = widen(pk, T * dk), *rv = widen(pv, T * dv);
            snprintf(w2, sizeof w2, "%s vs parallel: dq", w1);
            check_grad(gq, rq, mq, T * dk, 2 * K, 2 * fd_err, w2);
            snprintf(w2, sizeof w2, "%s vs parallel: dk", w1);
            check_grad(gk, rk, mk, T * dk, 2 * K, 2 * fd_err, w2);
            snprintf(w2, sizeof w2, "%s vs parallel: dv", w1);
            check_grad(gv, rv, mv, T * dv, 2 * K, 2 * fd_err, w2);
            free(rq); free(rk); free(rv);
        }
        /* NULL outputs: one gradient at a time, bit-identical to the full call's; the
         * others left untouched */
        if (fd && (run < 0 || Cs[run] == 3))
            for (int want = 1; want <= 4; want <<= 1) {
                float *nq = fnew(T * dk), *nk = fnew(T * dk), *nv = fnew(T * dv);
                snprintf(w2, sizeof w2, "%s only %s", w1, want == 1 ? "dq" : want == 2 ? "dk" : "dv");
                run_backward(&c, C, want, nq, nk, nv, w2);
                check_same(nq, want == 1 ? oq : c.preq, T * dk, w2);
                check_same(nk, want == 2 ? ok : c.prek, T * dk, w2);
                check_same(nv, want == 4 ? ov : c.prev, T * dv, w2);
                free(nq); free(nk); free(nv);
            }
    }
    free(pq); free(pk); free(pv); free(gq); free(gk); free(gv);
    free(c.q); free(c.k); free(c.v); free(c.dout); free(c.drsum); free(c.preq); free(c.prek);
    free(c.prev); free(x.q); free(x.k); free(x.v); free(x.dout); free(x.drsum); free(x.o);
    free(x.rsum); free(wq); free(wk); free(wv); free(qa); free(ka); free(va); free(doa);
    free(dra); free(mq); free(mk); free(mv);
}

/* Small T: against finite differences of the reference forward. */
static void test_retention_backward_fd(void) {
    static const int64_t Ts[] = {1, 2, 7, 33};
    uint64_t s = next_seed();
    for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++)
        for (size_t gi = 0; gi < sizeof gammas / sizeof gammas[0]; gi++)
            for (int dr = 0; dr < 2; dr++) {
                int before = test_cur_failed;
                retention_grad_case(4, 6, Ts[ti], gammas[gi], dr, 1, &s);
                if (test_cur_failed > before + 20) return;
            }
}

/* Up to T = 513 (several parallel row blocks; many chunks): against the float64 backward,
 * and the two forms against each other. */
static void test_retention_backward_long(void) {
    static const int64_t Ts[] = {64, 100, 513};
    uint64_t s = next_seed();
    for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++)
        for (size_t gi = 0; gi < sizeof gammas / sizeof gammas[0]; gi++)
            for (int dr = 0; dr < 2; dr++) {
                int before = test_cur_failed;
                retention_grad_case(ti == 1 ? 16 : 4, ti == 1 ? 24 : 6, Ts[ti], gammas[gi], dr, 0, &s);
                if (test_cur_failed > before + 20) return;
            }
}

int main(void) {
    const char *env = getenv("RETNET_TEST_SEED");
    seed0 = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("seed %llu (RETNET_TEST_SEED=%llu replays it)\n", (unsigned long long)seed0,
           (unsigned long long)seed0);
    RUN(test_retention_backward_fd);
    RUN(test_retention_backward_long);
    RUN(test_norm_backward);
    RUN(test_head_norm_gate_backward);
    RUN(test_determinism);
    RUN(test_matmul_backward);
    RUN(test_activation_backward);
    RUN(test_embed_backward);
    RUN(test_rope_backward);
    RUN(test_cross_entropy);
    printf("%lld array checks\n", (long long)n_checks);
    return TEST_SUMMARY();
}
