/*
 * test_cuda_attention.c: the Transformer's CUDA attention (src/cuda/attention.h: the bf16 KV
 * cache, its append, causal attention of T new queries against it) against a float64
 * reference written here from ops.h's contract, on fresh random inputs; the CPU kernels the
 * model uses (op_attention_decode for a decoding step, op_attention_flash_forward with
 * Tk = pos + T for a prefill on a cache, as src/decode.c and src/model.c call them) are
 * checked against the same reference, so the GPU is held to the CPU model's function. The
 * seed is printed; RETNET_TEST_SEED=<n> replays a run. Without a GPU every test is skipped
 * and the binary reports 0 passed, 0 failed.
 *
 *   --quick   small sizes only (for compute-sanitizer)
 *   --bench   after the tests: decoding step time and bandwidth for B = 1, 8, 64, 256 at
 *             2k, 8k and 32k positions (H = 16, dk = dv = 128; U = 8 keys in flight per
 *             thread group, the default, and 4), prefill tokens/s at T = 2048 and 8192
 *             (tiled and split kernels), short chunks (T = 2..32) at the end of a 32k cache
 *
 * Tolerance rule (derived before the kernels were run)
 * ----------------------------------------------------
 * The reference is float64 on the fp32 inputs as the CPU model holds them (k and v NOT
 * rounded: the CPU's cache is fp32). For query row i, head h, output column c, with
 * p_j the exact probabilities, a_j = scale sum_d |q_d k_jd| (the score's magnitude) and
 * o_c the exact output, first-order perturbation of o_c = sum_j p_j v_jc gives:
 *  - v rounded to bf16 (round to nearest; bf16 keeps 8 significant bits, so the relative
 *    error is <= r = 2^-8, the unit roundoff: a first run with 2^-9 measured err/tol up to
 *    0.986 at one position, where o = bf16(v) exactly and the error is the rounding alone):
 *        |d o_c| <= r sum_j p_j |v_jc|                                  =: r Bv_c
 *  - k rounded to bf16: each score moves by <= r a_j, and d p_j = p_j (d s_j - sum_l p_l
 *    d s_l), so |d o_c| = |sum_j p_j d s_j (v_jc - o_c)| <= r sum_j p_j a_j |v_jc - o_c| =: r A_c
 *  - the tiled kernel also rounds q * scale log2(e) (another r A_c) and the probabilities
 *    as the P V operand (another r Bv_c; the row sum uses the unrounded ones);
 *  - fp32 arithmetic: dot products of dk terms, exp2f (<= 2 ulp), sums and online-softmax
 *    rescales along chains shorter than n + 64 for a row of n keys: <= (dk + n + 64) u
 *    (A_c + Bv_c), u = 2^-24, and the rounding of s - max for the negligible keys,
 *    <= 64 u max_j |v_jc|.
 *   tol_c = 2 [(r + r_q) A_c + (r + r_p) Bv_c] + 4 (dk + n + 64) u (A_c + Bv_c)
 *           + 64 u max_j |v_jc|,           r_q = r_p = r (tiled), 0 (split).
 * The factor 2 on the first-order terms covers the second-order ones while r a_j <= 1/8
 * (here a_j < 16 for q in [-3, 3) and k in [-1, 1): measured up to 12). The bound is worst case (all roundings
 * aligned); measured errors sit well under it (the worst ratio err/tol is printed). The
 * CPU kernels (fp32 on fp32 inputs) are held to the fp32 part alone.
 *
 * The check can fail: against references with the causal limit moved by one key (row i
 * attending 0..P-1, or 0..P+1 where that key exists), the GPU output must exceed the
 * tolerance wherever one key weighs enough to be seen (the first chunk of a prefill, whose
 * first sequence starts at position 0; decoding at 17 positions; at 1000 or 5000 positions
 * one key's weight, ~1/n, is under the bf16 tolerance by design, and the ratio is printed
 * only). The cache is poisoned with NaN before the test
 * appends (a read of an unwritten position shows as NaN), outputs with NaN before the call.
 */
#include <time.h>

#include "cuda/attention.h"
#include "cuda/cuda.h"
#include "ops/ops.h"
#include "../test.h"
#include "cuda_test.h"

#define U 0x1p-24
#define R 0x1p-8 /* bf16's unit roundoff */

static uint64_t seed0;
static int quick;
static double worst_ratio_split, worst_ratio_tiled, worst_ratio_cpu;

static uint64_t next_seed(void) {
    static uint64_t k;
    return (seed0 + 0x9E3779B97F4A7C15ull * ++k) | 1;
}

/* ---- host and device helpers ------------------------------------------------------- */

static float *fnew(int64_t n) { return malloc(sizeof(float) * (size_t)(n > 0 ? n : 1)); }
static float *frand(int64_t n, uint64_t *s, double scale) {
    float *x = fnew(n);
    test_fill(x, n, s, scale);
    return x;
}
static void *dalloc(size_t bytes) {
    void *d = NULL;
    OK(retnet_cuda_malloc(&d, bytes ? bytes : 1, "test buffer"));
    return d;
}
static void *dput(const void *h, size_t bytes) {
    void *d = dalloc(bytes);
    if (d && h && bytes) OK(retnet_cuda_upload(d, h, bytes));
    return d;
}
static void dget(void *h, const void *d, size_t bytes) {
    OK(retnet_cuda_sync(NULL));
    if (d) OK(retnet_cuda_download(h, d, bytes));
}
/* n floats of NaN on the device */
static float *dnan(int64_t n) {
    float *h = fnew(n);
    for (int64_t i = 0; i < n; i++) h[i] = NAN;
    float *d = dput(h, sizeof(float) * (size_t)n);
    free(h);
    return d;
}
/* a cache of n bf16 of NaN (0xFFFF) */
static cuda_bf16 *dcache(int64_t n) {
    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)(n > 0 ? n : 1));
    memset(h, 0xFF, sizeof(uint16_t) * (size_t)n);
    cuda_bf16 *d = dput(h, sizeof(uint16_t) * (size_t)n);
    free(h);
    return d;
}
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* ---- the host mirror of a cache: fp32 rows as the CPU model holds them --------------- */
typedef struct {
    int64_t B, C;
    int H, dk, dv;
    float *K, *V; /* (B, C, H*dk), (B, C, H*dv) */
    cuda_bf16 *kc, *vc; /* the device cache */
} cache;

static void cache_new(cache *c, int64_t B, int64_t C, int H, int dk, int dv) {
    c->B = B, c->C = C, c->H = H, c->dk = dk, c->dv = dv;
    c->K = calloc((size_t)(B * C * H * dk), sizeof(float));
    c->V = calloc((size_t)(B * C * H * dv), sizeof(float));
    c->kc = dcache(B * C * H * dk);
    c->vc = dcache(B * C * H * dv);
}
static void cache_free(cache *c) {
    free(c->K), free(c->V);
    retnet_cuda_free(c->kc), retnet_cuda_free(c->vc);
}
/* Appends T random rows per sequence at pos[b] on both sides. */
static void cache_append(cache *c, int64_t T, const int64_t *pos, uint64_t *s) {
    const int64_t ldk = (int64_t)c->H * c->dk, ldv = (int64_t)c->H * c->dv;
    float *k = frand(c->B * T * ldk, s, 1.0), *v = frand(c->B * T * ldv, s, 1.0);
    for (int64_t b = 0; b < c->B; b++) {
        memcpy(c->K + (b * c->C + pos[b]) * ldk, k + b * T * ldk, sizeof(float) * (size_t)(T * ldk));
        memcpy(c->V + (b * c->C + pos[b]) * ldv, v + b * T * ldv, sizeof(float) * (size_t)(T * ldv));
    }
    float *kd = dput(k, sizeof(float) * (size_t)(c->B * T * ldk));
    float *vd = dput(v, sizeof(float) * (size_t)(c->B * T * ldv));
    int64_t *pd = dput(pos, sizeof(int64_t) * (size_t)c->B);
    OK(cuda_attention_append(c->kc, c->vc, kd, vd, c->B, T, c->H, c->dk, c->dv, c->C, pd, pos,
                             NULL));
    OK(retnet_cuda_sync(NULL));
    retnet_cuda_free(kd), retnet_cuda_free(vd), retnet_cuda_free(pd);
    free(k), free(v);
}

/* ---- float64 reference ------------------------------------------------------------- */
/*
 * One query row q (H*dk) of sequence b attending keys 0..lim of the host cache: o, and the
 * bound's terms A, Bv, Vmax (each H*dv). w: 2 (lim + 1) doubles of scratch.
 */
static void ref_row(const cache *c, int64_t b, const float *q, int64_t lim, double scale,
                    double *o, double *A, double *Bv, double *Vmax, double *w) {
    const int H = c->H, dk = c->dk, dv = c->dv;
    const int64_t ldk = (int64_t)H * dk, ldv = (int64_t)H * dv, n = lim + 1;
    const float *K = c->K + b * c->C * ldk, *V = c->V + b * c->C * ldv;
    double *p = w, *a = w + n;
    for (int h = 0; h < H; h++) {
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < n; j++) {
            const float *kj = K + j * ldk + h * dk, *qh = q + h * dk;
            double s = 0, m = 0;
            for (int d = 0; d < dk; d++) s += (double)qh[d] * kj[d], m += fabs((double)qh[d] * kj[d]);
            p[j] = scale * s, a[j] = scale * m;
            mx = p[j] > mx ? p[j] : mx;
        }
        for (int64_t j = 0; j < n; j++) sum += (p[j] = exp(p[j] - mx));
        for (int64_t j = 0; j < n; j++) p[j] /= sum;
        double *oh = o + h * dv, *Ah = A + h * dv, *Bh = Bv + h * dv, *Mh = Vmax + h * dv;
        for (int e = 0; e < dv; e++) oh[e] = Ah[e] = Bh[e] = Mh[e] = 0;
        for (int64_t j = 0; j < n; j++) {
            const float *vj = V + j * ldv + h * dv;
            for (int e = 0; e < dv; e++) oh[e] += p[j] * vj[e];
        }
        for (int64_t j = 0; j < n; j++) {
            const float *vj = V + j * ldv + h * dv;
            for (int e = 0; e < dv; e++) {
                Ah[e] += p[j] * a[j] * fabs(vj[e] - oh[e]);
                Bh[e] += p[j] * fabs((double)vj[e]);
                Mh[e] = fabs((double)vj[e]) > Mh[e] ? fabs((double)vj[e]) : Mh[e];
            }
        }
    }
}

typedef struct {
    double ratio, err, tol, got, want; /* the worst element by err / tol */
    int64_t at;
    double num, den;                   /* for the relative L2 error */
} cmp;

static void cmp_add(cmp *m, const float *got, const double *want, const double *tol, int64_t n,
                    int64_t base) {
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]), r = e / tol[i];
        if (isnan(e)) r = e = INFINITY;
        if (!(r <= m->ratio)) {
            m->ratio = r, m->err = e, m->tol = tol[i], m->got = got[i], m->want = want[i];
            m->at = base + i;
        }
        m->num += (got[i] - want[i]) * (got[i] - want[i]), m->den += want[i] * want[i];
    }
}
static void cmp_merge(cmp *a, const cmp *b) {
    if (!(b->ratio <= a->ratio)) {
        double num = a->num, den = a->den;
        *a = *b;
        a->num = num, a->den = den;
    }
    a->num += b->num, a->den += b->den;
}

/*
 * Checks rows (B, T) of `got` (B, T, H*dv) against the reference: row (b, t) attends
 * 0..pos[b]+t. tiled: the bound with the tiled kernel's two extra roundings. cpu: a CPU
 * result to check against the fp32 part of the bound (NULL: none). mutants: also report
 * (and, when `must_fail`, require) the failure of references whose limit is moved by one.
 */
static void check_rows(const char *what, const cache *c, const float *q, const float *got,
                       const float *cpu, int64_t T, const int64_t *pos, float scale, int tiled,
                       int must_fail) {
    const int H = c->H, dk = c->dk, dv = c->dv;
    const int64_t ldk = (int64_t)H * dk, ldv = (int64_t)H * dv, rows = c->B * T;
    cmp gpu = {0}, cpuc = {0}, mut = {0};
    int64_t nmax = 0;
    for (int64_t b = 0; b < c->B; b++) nmax = pos[b] + T > nmax ? pos[b] + T : nmax;
    const double rq = tiled ? R : 0;
#pragma omp parallel
    {
        double *o = malloc(sizeof(double) * 5 * (size_t)ldv), *A = o + ldv, *Bv = A + ldv;
        double *Vm = Bv + ldv, *tol = Vm + ldv, *w = malloc(sizeof(double) * 2 * (size_t)(nmax + 2));
        cmp g = {0}, cc = {0}, mu = {0};
#pragma omp for schedule(dynamic)
        for (int64_t r = 0; r < rows; r++) {
            const int64_t b = r / T, t = r % T, lim = pos[b] + t;
            const float *qr = q + r * ldk;
            ref_row(c, b, qr, lim, scale, o, A, Bv, Vm, w);
            for (int64_t i = 0; i < ldv; i++) {
                const double n = (double)(lim + 1);
                tol[i] = 2 * ((R + rq) * A[i] + (R + rq) * Bv[i]) +
                         4 * (dk + n + 64) * U * (A[i] + Bv[i]) + 64 * U * Vm[i] + 1e-30;
            }
            cmp_add(&g, got + r * ldv, o, tol, ldv, r * ldv);
            if (cpu) {
                for (int64_t i = 0; i < ldv; i++)
                    tol[i] = 4 * (dk + lim + 65) * U * (A[i] + Bv[i]) + 64 * U * Vm[i] + 1e-30;
                cmp_add(&cc, cpu + r * ldv, o, tol, ldv, r * ldv);
            }
            /* mutants: the limit one key short, and one key long where that key exists */
            for (int d = -1; d <= 1; d += 2) {
                const int64_t ml = lim + d;
                if (ml < 0 || ml > pos[b] + T - 1) continue;
                ref_row(c, b, qr, ml, scale, o, A, Bv, Vm, w);
                for (int64_t i = 0; i < ldv; i++)
                    tol[i] = 2 * ((R + rq) * A[i] + (R + rq) * Bv[i]) +
                             4 * (dk + ml + 65) * U * (A[i] + Bv[i]) + 64 * U * Vm[i] + 1e-30;
                cmp_add(&mu, got + r * ldv, o, tol, ldv, r * ldv);
            }
        }
#pragma omp critical
        {
            cmp_merge(&gpu, &g);
            cmp_merge(&cpuc, &cc);
            cmp_merge(&mut, &mu);
        }
        free(o), free(w);
    }
    const double rel = sqrt(gpu.num / (gpu.den > 0 ? gpu.den : 1));
    CHECK(gpu.ratio <= 1, "%s: worst [%lld] got %.9g want %.9g: err %.3g > tol %.3g", what,
          (long long)gpu.at, gpu.got, gpu.want, gpu.err, gpu.tol);
    if (cpu)
        CHECK(cpuc.ratio <= 1, "%s: the CPU kernel: worst [%lld] got %.9g want %.9g: err %.3g > "
              "tol %.3g", what, (long long)cpuc.at, cpuc.got, cpuc.want, cpuc.err, cpuc.tol);
    if (must_fail)
        CHECK(mut.ratio > 1, "%s: an off-by-one causal limit passes (err/tol %.3g)", what,
              mut.ratio);
    fprintf(stderr, "     %-46s err/tol %.4f (max err %.2e) rel L2 %.1e | cpu %.4f | "
            "off-by-one %.3g%s\n", what, gpu.ratio, gpu.err, rel, cpu ? cpuc.ratio : 0.0,
            mut.ratio, must_fail ? "" : " (not required)");
    double *worst = tiled ? &worst_ratio_tiled : &worst_ratio_split;
    if (gpu.ratio > *worst) *worst = gpu.ratio;
    if (cpu && cpuc.ratio > worst_ratio_cpu) worst_ratio_cpu = cpuc.ratio;
}

/* ---- tests ------------------------------------------------------------------------- */

/* The append writes exactly bf16(x) (op_f32_to_bf16's bits) at the given positions and
 * nothing else; a sequence outside its cache (device positions only) is skipped. */
static void test_append(void) {
    uint64_t s = next_seed();
    const int64_t B = 3, T = 5, C = 11;
    const int H = 3, dk = 40, dv = 24;
    const int64_t pos[3] = {0, 6, 9}; /* sequence 2: 9 + 5 > 11, refused */
    const int64_t ldk = H * dk, ldv = H * dv;
    float *k = frand(B * T * ldk, &s, 3.0), *v = frand(B * T * ldv, &s, 3.0);
    k[7] = 1.00390625f;              /* a tie: rounds to even (1.0) */
    k[8] = -0.0f, k[9] = 3.0e38f;    /* sign of zero, a large value */
    cuda_bf16 *kc = dcache(B * C * ldk), *vc = dcache(B * C * ldv);
    float *kd = dput(k, sizeof(float) * B * T * ldk), *vd = dput(v, sizeof(float) * B * T * ldv);
    int64_t *pd = dput(pos, sizeof pos);
    CHECK(cuda_attention_append(kc, vc, kd, vd, B, T, H, dk, dv, C, pd, pos, NULL) == RETNET_EINVAL,
          "positions 9..13 in a cache of 11 were not refused");
    OK(cuda_attention_append(kc, vc, kd, vd, B, T, H, dk, dv, C, pd, NULL, NULL));
    uint16_t *hk = malloc(2 * B * C * ldk), *hv = malloc(2 * B * C * ldv);
    dget(hk, kc, 2 * B * C * ldk);
    dget(hv, vc, 2 * B * C * ldv);
    int64_t bad = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < C; j++) {
            const int in = b < 2 && j >= pos[b] && j < pos[b] + T;
            for (int64_t i = 0; i < ldk; i++) {
                uint16_t want = in ? op_f32_to_bf16(k[(b * T + j - pos[b]) * ldk + i]) : 0xFFFF;
                bad += hk[(b * C + j) * ldk + i] != want;
            }
            for (int64_t i = 0; i < ldv; i++) {
                uint16_t want = in ? op_f32_to_bf16(v[(b * T + j - pos[b]) * ldv + i]) : 0xFFFF;
                bad += hv[(b * C + j) * ldv + i] != want;
            }
        }
    CHECK(bad == 0, "append: %lld cache entries differ from op_f32_to_bf16 or were touched",
          (long long)bad);
    CHECK(hk[7] == 0x3F80 && hk[8] == 0x8000, "append: tie or -0 rounded wrong (%04x %04x)",
          hk[7], hk[8]);
    retnet_cuda_free(kc), retnet_cuda_free(vc), retnet_cuda_free(kd), retnet_cuda_free(vd);
    retnet_cuda_free(pd);
    free(k), free(v), free(hk), free(hv);
}

/*
 * One decoding step of B sequences at different positions: the cache holds rows 0..max
 * (rows past a sequence's position are stale, as after a rollback, and must not be seen),
 * the new token's key and value go in at pos[b], then its query attends to 0..pos[b].
 */
static void decode_case(int64_t B, int64_t ctx, int H, int dk, int dv, int path, int use_host,
                        int det) {
    uint64_t s = next_seed();
    const int64_t C = ctx + 5, ldk = (int64_t)H * dk, ldv = (int64_t)H * dv;
    const float scale = (float)(1.0 / sqrt((double)dk));
    int64_t *pos = malloc(sizeof(int64_t) * B), *zero = calloc(B, sizeof(int64_t)), F = 0;
    for (int64_t b = 0; b < B; b++) {
        pos[b] = ctx - 1 - (b * 37) % (ctx / 4 + 1);
        F = pos[b] + 3 > F ? pos[b] + 3 : F;
    }
    if (F > C) F = C;
    cache c;
    cache_new(&c, B, C, H, dk, dv);
    cache_append(&c, F, zero, &s); /* rows 0..F-1: the history, and stale rows past pos */
    cache_append(&c, 1, pos, &s);  /* the new token */
    /* Where an off-by-one limit must fail (ctx 2-17, check_rows' mutants), q of amplitude 1:
     * at 3 (scores of std ~1) the one key a short limit drops weighs under the bound in every
     * head of some draws (B = 1, H = 3: err/tol 0.735 in one H200 run, seed 1796058292), which
     * the test cannot tell from a kernel's off-by-one; dev/cuda/attn_mutant_sim.py, this check
     * in float64: 1.3% of draws at dk 128, 0.5% at 64. At 1 (std ~1/3) each of the 17 keys
     * weighs ~1/17 and the bound, which grows with |q k|, is a third as large: none of
     * 10000 draws (dk 128, 64, 40) passed, the least err/tol 3.4. */
    const int must_fail = ctx > 1 && ctx <= 17;
    float *q = frand(B * ldk, &s, must_fail ? 1.0 : 3.0), *qd = dput(q, sizeof(float) * B * ldk);
    float *od = dnan(B * ldv), *o = fnew(B * ldv);
    int64_t *pd = dput(pos, sizeof(int64_t) * B);
    cuda_attention_lab_set_path(path);
    OK(cuda_attention_cached(od, qd, c.kc, c.vc, B, 1, H, dk, dv, C, pd, use_host ? pos : NULL,
                             scale, NULL));
    dget(o, od, sizeof(float) * B * ldv);
    if (det) { /* the same bits again */
        float *o2 = fnew(B * ldv), *od2 = dnan(B * ldv);
        OK(cuda_attention_cached(od2, qd, c.kc, c.vc, B, 1, H, dk, dv, C, pd, NULL, scale, NULL));
        dget(o2, od2, sizeof(float) * B * ldv);
        CHECK(memcmp(o, o2, sizeof(float) * B * ldv) == 0, "decode: two runs differ");
        retnet_cuda_free(od2), free(o2);
    }
    cuda_attention_lab_set_path(0);

    /* the CPU's decoding attention on the fp32 cache */
    const float **kp = malloc(sizeof(float *) * B), **vp = malloc(sizeof(float *) * B);
    int64_t *len = malloc(sizeof(int64_t) * B);
    for (int64_t b = 0; b < B; b++)
        kp[b] = c.K + b * C * ldk, vp[b] = c.V + b * C * ldv, len[b] = pos[b] + 1;
    float *cpu = fnew(B * ldv);
    op_attention_decode(cpu, NULL, q, kp, vp, len, B, H, dk, dv, scale, 0);

    char what[128];
    snprintf(what, sizeof what, "decode B=%lld ctx=%lld H=%d dk=%d dv=%d %s%s", (long long)B,
             (long long)ctx, H, dk, dv, path == 2 ? "tiled" : "split", use_host ? "" : " (dev pos)");
    check_rows(what, &c, q, o, cpu, 1, pos, scale, path == 2, must_fail);
    cache_free(&c);
    retnet_cuda_free(qd), retnet_cuda_free(od), retnet_cuda_free(pd);
    free(q), free(o), free(pos), free(zero), free(kp), free(vp), free(len), free(cpu);
}

static void test_decode(void) {
    static const int dims[][2] = {{64, 64}, {128, 128}, {40, 40}};
    static const int64_t Bs[] = {1, 3, 64}, ctxs[] = {1, 17, 1000, 5000};
    int k = 0;
    for (int di = 0; di < 3; di++)
        for (int bi = 0; bi < 3; bi++)
            for (int ci = 0; ci < 4; ci++, k++) {
                if (quick && (Bs[bi] > 3 || ctxs[ci] > 1000)) continue;
                const int H = Bs[bi] == 64 ? 2 : 3;
                decode_case(Bs[bi], ctxs[ci], H, dims[di][0], dims[di][1], 0, k % 2 == 0,
                            Bs[bi] == 64 && ctxs[ci] == 5000 && di == 1);
            }
}

/* Other head widths (dk != dv, 8, 256) and the tiled kernel on a decoding step. */
static void test_decode_widths(void) {
    static const int dims[][2] = {{64, 128}, {128, 64}, {8, 8}, {256, 256}, {136, 72}};
    for (int di = 0; di < 5; di++)
        for (int64_t ctx = 17; ctx <= 1000; ctx += 983)
            decode_case(3, ctx, 2, dims[di][0], dims[di][1], 0, 1, 0);
    decode_case(3, 1000, 2, 128, 128, 2, 1, 0);
    decode_case(3, 17, 3, 40, 40, 2, 0, 0);
}

/*
 * A prefill in two chunks of T on B = 3 sequences whose caches already hold 0, 61 and 1000
 * tokens (T = 300: 0, 61, 1000; smaller T: 0, 5, 61): chunk 1 from pos = pre (pos 0 for the
 * first: a prefill from scratch), chunk 2 from pre + T (a chunked prefill). Each chunk: the
 * append of its keys and values, then its queries against the cache; the CPU's flash
 * forward with Tq = T, Tk = pos + T per sequence is checked too. path: 0 automatic,
 * 1 split, 2 tiled.
 */
static void prefill_case(int64_t T, int dk, int dv, int path, int det) {
    uint64_t s = next_seed();
    const int64_t B = 3, ldk = 2 * (int64_t)dk, ldv = 2 * (int64_t)dv;
    const int H = 2;
    const int64_t pre[3] = {0, T >= 300 ? 61 : 5, T >= 300 ? 1000 : 61};
    const int64_t C = pre[2] + 2 * T + 3;
    const float scale = (float)(1.0 / sqrt((double)dk));
    const int w = dk > dv ? dk : dv;
    const int tiled = path == 2 || (path == 0 && T >= 16 && w <= 128);
    cache c;
    cache_new(&c, B, C, H, dk, dv);
    const int64_t zero[3] = {0, 0, 0};
    cache_append(&c, pre[2] + 2, zero, &s); /* history (and stale rows) */
    int64_t *pd = dalloc(sizeof pre);
    for (int chunk = 0; chunk < 2; chunk++) {
        int64_t pos[3];
        for (int b = 0; b < 3; b++) pos[b] = pre[b] + chunk * T;
        cache_append(&c, T, pos, &s);
        OK(retnet_cuda_upload(pd, pos, sizeof pos));
        float *q = frand(B * T * ldk, &s, 3.0), *qd = dput(q, sizeof(float) * B * T * ldk);
        float *od = dnan(B * T * ldv), *o = fnew(B * T * ldv);
        cuda_attention_lab_set_path(path);
        OK(cuda_attention_cached(od, qd, c.kc, c.vc, B, T, H, dk, dv, C, pd,
                                 chunk == 0 ? pos : NULL, scale, NULL));
        dget(o, od, sizeof(float) * B * T * ldv);
        if (det && chunk == 1) {
            float *o2 = fnew(B * T * ldv);
            OK(cuda_attention_cached(od, qd, c.kc, c.vc, B, T, H, dk, dv, C, pd, pos, scale, NULL));
            dget(o2, od, sizeof(float) * B * T * ldv);
            CHECK(memcmp(o, o2, sizeof(float) * B * T * ldv) == 0, "prefill: two runs differ");
            free(o2);
        }
        cuda_attention_lab_set_path(0);
        /* the CPU: the flash forward on each sequence's fp32 cache, Tk = pos + T */
        float *cpu = fnew(B * T * ldv), *work = fnew(op_attention_flash_work(dk, dv, 0));
        for (int64_t b = 0; b < B; b++) {
            attention_args a = {.B = 1, .Tq = T, .Tk = pos[b] + T, .H = H, .dk = dk, .dv = dv,
                                .scale = scale, .q = q + b * T * ldk, .k = c.K + b * C * ldk,
                                .v = c.V + b * C * ldv, .o = cpu + b * T * ldv, .lse = NULL};
            op_attention_flash_forward(&a, work);
        }
        char what[128];
        snprintf(what, sizeof what, "prefill T=%lld chunk %d dk=%d dv=%d %s", (long long)T,
                 chunk + 1, dk, dv, tiled ? "tiled" : "split");
        /* the off-by-one must show in chunk 1, where sequence 0 starts at position 0 */
        check_rows(what, &c, q, o, cpu, T, pos, scale, tiled, T > 1 && chunk == 0);
        retnet_cuda_free(qd), retnet_cuda_free(od);
        free(q), free(o), free(cpu), free(work);
    }
    retnet_cuda_free(pd);
    cache_free(&c);
}

static void test_prefill(void) {
    static const int dims[][2] = {{64, 64}, {128, 128}, {40, 40}, {64, 128}, {256, 256}};
    static const int64_t Ts[] = {1, 7, 300};
    for (int di = 0; di < 5; di++)
        for (int ti = 0; ti < 3; ti++) {
            if (quick && Ts[ti] > 7) continue;
            const int w = dims[di][0] > dims[di][1] ? dims[di][0] : dims[di][1];
            prefill_case(Ts[ti], dims[di][0], dims[di][1], 0, Ts[ti] == 300 && di == 1);
            /* the other kernel too, where it applies (automatic: tiled from T = 16) */
            if (w <= 128) prefill_case(Ts[ti], dims[di][0], dims[di][1], Ts[ti] >= 16 ? 1 : 2, 0);
        }
}

/* Refusals, and positions outside the cache known only on the device: NaN rows for that
 * sequence, the others right. */
static void test_bad_positions(void) {
    uint64_t s = next_seed();
    const int H = 2, dk = 64, dv = 64;
    const int64_t B = 2, C = 40, ldk = H * dk, ldv = H * dv;
    const float scale = 0.125f;
    cache c;
    cache_new(&c, B, C, H, dk, dv);
    const int64_t zero[2] = {0, 0};
    cache_append(&c, 30, zero, &s);
    for (int64_t T = 1; T <= 7; T += 6)
        for (int path = 1; path <= 2; path++) {
            int64_t pos[2] = {20, C - T + 1}; /* sequence 1 overflows by one */
            float *q = frand(B * T * ldk, &s, 3.0), *qd = dput(q, sizeof(float) * B * T * ldk);
            float *od = dnan(B * T * ldv), *o = fnew(B * T * ldv);
            int64_t *pd = dput(pos, sizeof pos);
            cuda_attention_lab_set_path(path);
            CHECK(cuda_attention_cached(od, qd, c.kc, c.vc, B, T, H, dk, dv, C, pd, pos, scale,
                                        NULL) == RETNET_EINVAL, "an overflowing position passed");
            CHECK(strstr(retnet_errmsg(), "sequence 1") != NULL, "message: %s", retnet_errmsg());
            OK(cuda_attention_cached(od, qd, c.kc, c.vc, B, T, H, dk, dv, C, pd, NULL, scale, NULL));
            dget(o, od, sizeof(float) * B * T * ldv);
            int64_t nan1 = 0, nan0 = 0;
            for (int64_t i = 0; i < T * ldv; i++) nan0 += isnan(o[i]), nan1 += isnan(o[T * ldv + i]);
            CHECK(nan0 == 0 && nan1 == T * ldv, "T=%lld path %d: %lld NaN in sequence 0, %lld of "
                  "%lld in sequence 1", (long long)T, path, (long long)nan0, (long long)nan1,
                  (long long)(T * ldv));
            cuda_attention_lab_set_path(0);
            retnet_cuda_free(qd), retnet_cuda_free(od), retnet_cuda_free(pd);
            free(q), free(o);
        }
    int64_t pos[2] = {0, 0};
    int64_t *pd = dput(pos, sizeof pos);
    float *x = dnan(B * ldk * 2);
    CHECK(cuda_attention_cached(x, x, c.kc, c.vc, B, 1, H, 12, 12, C, pd, pos, scale, NULL) ==
          RETNET_EINVAL, "dk 12 passed");
    CHECK(cuda_attention_cached(x, x, c.kc, c.vc, B, 1, H, 264, 264, C, pd, pos, scale, NULL) ==
          RETNET_EINVAL, "dk 264 passed");
    CHECK(cuda_attention_append(c.kc, c.vc, x, x, B, C + 1, H, dk, dv, C, pd, NULL, NULL) ==
          RETNET_EINVAL, "T > C passed");
    cuda_attention_lab_set_path(2);
    CHECK(cuda_attention_cached(x, x, c.kc, c.vc, B, 2, H, 256, 256, C, pd, pos, scale, NULL) ==
          RETNET_EINVAL, "the tiled kernel took dk 256");
    cuda_attention_lab_set_path(0);
    OK(cuda_attention_cached(x, x, c.kc, c.vc, 0, 1, H, dk, dv, C, pd, pos, scale, NULL));
    retnet_cuda_free(pd), retnet_cuda_free(x);
    cache_free(&c);
}

/* ---- benchmark ---------------------------------------------------------------------- */

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define BTRY(call)                                                                       \
    do {                                                                                 \
        if ((call) != RETNET_OK) {                                                       \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, retnet_errmsg()); \
            return;                                                                      \
        }                                                                                \
    } while (0)

static void bench(void) {
    const int H = 16, dk = 128, dv = 128, REPS = 9;
    const int64_t C = 32768, ldk = H * dk, ldv = H * dv, seq = C * ldk; /* bf16 per sequence */
    const float scale = (float)(1.0 / sqrt((double)dk));
    int64_t Bmax = 256;
    cuda_bf16 *kc = NULL, *vc = NULL;
    for (; Bmax >= 1; Bmax /= 2) {
        if (retnet_cuda_malloc((void **)&kc, 2 * (size_t)(Bmax * seq), "bench keys") == RETNET_OK &&
            retnet_cuda_malloc((void **)&vc, 2 * (size_t)(Bmax * seq), "bench values") == RETNET_OK)
            break;
        retnet_cuda_free(kc), kc = NULL;
    }
    if (!vc) { printf("bench: no memory for a cache\n"); return; }
    printf("\nbench: %s; caches of %lld sequences x %lld positions, H %d, dk = dv = %d: %.1f GB\n",
           retnet_cuda_device_name(), (long long)Bmax, (long long)C, H, dk,
           2e-9 * 2 * (double)(Bmax * seq));
    /* fill every position with random rows (never zeros), 32 positions per append */
    const int64_t TF = 32;
    uint64_t s = 12345;
    float *kh = frand(Bmax * TF * ldk, &s, 1.0), *vh = frand(Bmax * TF * ldv, &s, 1.0);
    float *kd = NULL, *vd = NULL;
    BTRY(retnet_cuda_malloc((void **)&kd, sizeof(float) * Bmax * TF * ldk, "bench"));
    BTRY(retnet_cuda_malloc((void **)&vd, sizeof(float) * Bmax * TF * ldv, "bench"));
    BTRY(retnet_cuda_upload(kd, kh, sizeof(float) * Bmax * TF * ldk));
    BTRY(retnet_cuda_upload(vd, vh, sizeof(float) * Bmax * TF * ldv));
    int64_t *ph = malloc(sizeof(int64_t) * Bmax), *pd = NULL;
    BTRY(retnet_cuda_malloc((void **)&pd, sizeof(int64_t) * Bmax, "bench"));
    double t0 = now();
    for (int64_t p = 0; p < C; p += TF) {
        for (int64_t b = 0; b < Bmax; b++) ph[b] = p;
        BTRY(retnet_cuda_upload(pd, ph, sizeof(int64_t) * Bmax));
        BTRY(cuda_attention_append(kc, vc, kd, vd, Bmax, TF, H, dk, dv, C, pd, ph, NULL));
    }
    BTRY(retnet_cuda_sync(NULL));
    printf("filled in %.2f s\n", now() - t0);

    float *qd = NULL, *od = NULL;
    const int64_t TP = 8192;
    float *qh = frand(TP * ldk, &s, 1.0);
    BTRY(retnet_cuda_malloc((void **)&qd, sizeof(float) * TP * ldk, "bench"));
    BTRY(retnet_cuda_malloc((void **)&od, sizeof(float) * TP * ldv, "bench"));
    BTRY(retnet_cuda_upload(qd, qh, sizeof(float) * TP * ldk));

    printf("\ndecoding step (split kernel + combine; one call = 2 launches, host-timed back to "
           "back,\nsub-batches rotated over the %lld cached sequences so the L2 holds nothing "
           "useful)\n", (long long)Bmax);
    printf("%6s %7s %11s | %11s %9s | %11s %9s\n", "B", "ctx", "cache MB", "U=8 us", "GB/s",
           "U=4 us", "GB/s");
    static const int64_t Bs[] = {1, 8, 64, 256}, ctxs[] = {2048, 8192, 32768};
    for (int ci = 0; ci < 3; ci++)
        for (int bi = 0; bi < 4; bi++) {
            const int64_t B = Bs[bi], ctx = ctxs[ci];
            if (B > Bmax) continue;
            for (int64_t b = 0; b < B; b++) ph[b] = ctx - 1;
            BTRY(retnet_cuda_upload(pd, ph, sizeof(int64_t) * B));
            const double bytes = (double)B * ctx * H * (dk + dv) * 2;
            const int64_t nrot = Bmax / B;
            int iters = (int)(2e9 / bytes);
            iters = iters < 1 ? 1 : iters > 400 ? 400 : iters;
            double med[2];
            for (int ui = 0; ui < 2; ui++) {
                cuda_attention_lab_set_unroll(ui ? 4 : 8); /* 8: the default */
                double t[REPS];
                for (int r = -2; r < REPS; r++) {
                    double a = now();
                    for (int i = 0; i < iters; i++) {
                        const int64_t off = (i % nrot) * B * seq;
                        BTRY(cuda_attention_cached(od, qd, kc + off, vc + off, B, 1, H, dk, dv, C,
                                                   pd, ph, scale, NULL));
                    }
                    BTRY(retnet_cuda_sync(NULL));
                    if (r >= 0) t[r] = (now() - a) / iters;
                }
                qsort(t, REPS, sizeof(double), cmpd);
                med[ui] = t[REPS / 2];
            }
            cuda_attention_lab_set_unroll(0);
            printf("%6lld %7lld %11.1f | %11.1f %9.0f | %11.1f %9.0f\n", (long long)B,
                   (long long)ctx, bytes * 1e-6, med[0] * 1e6, bytes / med[0] * 1e-9,
                   med[1] * 1e6, bytes / med[1] * 1e-9);
        }

    printf("\nprefill of one sequence from position 0 (H %d, dk = dv = %d; causal FLOP = "
           "2 H (dk + dv) T (T + 1) / 2)\n", H, dk);
    printf("%6s %8s | %10s %10s %9s | %10s %10s\n", "T", "kernel", "ms", "tokens/s", "TFLOP/s",
           "append ms", "");
    for (int64_t T = 2048; T <= TP; T *= 4)
        for (int path = 2; path >= 1; path--) {
            ph[0] = 0;
            BTRY(retnet_cuda_upload(pd, ph, sizeof(int64_t)));
            cuda_attention_lab_set_path(path);
            double t[REPS], ta[REPS];
            for (int r = -1; r < REPS; r++) {
                double a = now();
                BTRY(cuda_attention_append(kc, vc, qd, qd, 1, T, H, dk, dv, C, pd, ph, NULL));
                BTRY(retnet_cuda_sync(NULL));
                double a2 = now();
                BTRY(cuda_attention_cached(od, qd, kc, vc, 1, T, H, dk, dv, C, pd, ph, scale, NULL));
                BTRY(retnet_cuda_sync(NULL));
                if (r >= 0) t[r] = now() - a2, ta[r] = a2 - a;
            }
            cuda_attention_lab_set_path(0);
            qsort(t, REPS, sizeof(double), cmpd);
            qsort(ta, REPS, sizeof(double), cmpd);
            const double m = t[REPS / 2], fl = 2.0 * H * (dk + dv) * (double)T * (T + 1) / 2;
            printf("%6lld %8s | %10.3f %10.0f %9.1f | %10.3f\n", (long long)T,
                   path == 2 ? "tiled" : "split", m * 1e3, T / m, fl / m * 1e-12, ta[REPS / 2] * 1e3);
        }
    /* a short chunk at the end of a long cache: why T < 16 goes to the split kernel */
    printf("\nshort chunks at position 32768 - T of one sequence (H %d, dk = dv = %d)\n", H, dk);
    printf("%6s | %12s %12s\n", "T", "split us", "tiled us");
    for (int64_t T = 2; T <= 32; T *= 2) {
        double med[2];
        ph[0] = C - T;
        BTRY(retnet_cuda_upload(pd, ph, sizeof(int64_t)));
        for (int path = 1; path <= 2; path++) {
            cuda_attention_lab_set_path(path);
            double t[REPS];
            for (int r = -1; r < REPS; r++) {
                double a = now();
                BTRY(cuda_attention_cached(od, qd, kc, vc, 1, T, H, dk, dv, C, pd, ph, scale, NULL));
                BTRY(retnet_cuda_sync(NULL));
                if (r >= 0) t[r] = now() - a;
            }
            qsort(t, REPS, sizeof(double), cmpd);
            med[path - 1] = t[REPS / 2];
        }
        cuda_attention_lab_set_path(0);
        printf("%6lld | %12.1f %12.1f\n", (long long)T, med[0] * 1e6, med[1] * 1e6);
    }
    retnet_cuda_free(kc), retnet_cuda_free(vc), retnet_cuda_free(kd), retnet_cuda_free(vd);
    retnet_cuda_free(pd), retnet_cuda_free(qd), retnet_cuda_free(od);
    free(kh), free(vh), free(ph), free(qh);
}

int main(int argc, char **argv) {
    int do_bench = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bench")) do_bench = 1;
        else if (!strcmp(argv[i], "--quick")) quick = 1;
    }
    if (!cuda_test_start("test_cuda_attention", &seed0)) return TEST_SUMMARY();
    if (retnet_cuda_init(0) != RETNET_OK) {
        fprintf(stderr, "CUDA init: %s\n", retnet_errmsg());
        return 1;
    }
    fprintf(stderr, "test_cuda_attention: %s%s\n", retnet_cuda_device_name(),
            quick ? " (quick)" : "");
    RUN(test_append);
    RUN(test_decode);
    RUN(test_decode_widths);
    RUN(test_prefill);
    RUN(test_bad_positions);
    fprintf(stderr, "worst err/tol: split %.4f, tiled %.4f; CPU kernels vs float64 %.4f\n",
            worst_ratio_split, worst_ratio_tiled, worst_ratio_cpu);
    if (do_bench) bench();
    retnet_cuda_shutdown();
    return TEST_SUMMARY();
}
