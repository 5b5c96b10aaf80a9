/*
 * test_cuda_retention: the CUDA retention kernels (src/cuda/retention.h) against the CPU
 * forms (src/ops/retention_*.c), on random inputs. Skips (0 passed, 0 failed) without a GPU.
 *
 * Both sides get the same bf16-representable q, k, v (and dout), so input rounding is not
 * measured; the CPU computes in float32 (its own error ~1e-6, negligible here). Inside, the
 * kernels round three operands to bf16 (the decayed score block, the state as an operand of
 * q S, v * gamma^j in the state update; retention.h), each 2^-8 relative (bf16's unit
 * roundoff: 8 significant bits), summed over
 * contractions of dk, dv and the chunk: the check is the lab's (dev/cuda/retention_lab.py,
 * 197 checks against float64 on the H200):
 *   ||gpu - cpu||_2 <= 2^-7 ||cpu||_2   and   max |gpu - cpu| <= 2^-4 max |cpu|.
 * A wrong decay power, mask or state carry errs by O(1) in both (the lab's mutants).
 * The decoding step is fp32 throughout: 1e-5 relative.
 */
#include "cuda/cuda.h"
#include "cuda/retention.h"
#include "ops/ops.h"
#include "../test.h"
#include "cuda_test.h"

#include <time.h>

static uint64_t seed0;

static double urand(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return (double)(*s >> 11) * 0x1.0p-53 * 2 - 1;
}

/* n random bf16-representable floats, and their bf16 bits. */
static void rand_bf16(float *f, uint16_t *b, int64_t n, double scale, uint64_t *s) {
    for (int64_t i = 0; i < n; i++) {
        b[i] = op_f32_to_bf16((float)(scale * urand(s)));
        uint32_t u = (uint32_t)b[i] << 16;
        memcpy(&f[i], &u, 4);
    }
}

static void *up(const void *h, size_t bytes) {
    void *d = NULL;
    if (retnet_cuda_malloc(&d, bytes, "test") || retnet_cuda_upload(d, h, bytes)) return NULL;
    return d;
}

/* got vs want by the rule above. */
static void check_close(const float *got, const float *want, int64_t n, const char *what) {
    double num = 0, den = 0, mx = 0, wmax = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        num += d * d, den += (double)want[i] * want[i];
        mx = fmax(mx, isnan(d) ? INFINITY : fabs(d));
        wmax = fmax(wmax, fabs(want[i]));
    }
    double rel = sqrt(num / (den > 0 ? den : 1));
    CHECK(rel <= 0x1p-7 && mx <= 0x1p-4 * wmax, "%s: rel L2 %.3g (tol %.3g), max %.3g (tol %.3g)",
          what, rel, 0x1p-7, mx, 0x1p-4 * wmax);
    fprintf(stderr, "     %-44s rel L2 %.2e, max %.2e of max %.3g\n", what, rel, mx, wmax);
}

/* CPU reference of every (b, h) head from the (B, T, H, d) layouts: retention_chunkwise_forward
 * with the state carried in. The CPU form takes keys already scaled (the model folds dk^-0.5
 * into k), the kernel scales q: the same outputs when the CPU's states are the kernel's times
 * scale, so S0 goes in times scale and S comes out divided by it. */
static void cpu_forward(int B, int T, int H, int dk, int dv, const float *q, const float *k,
                        const float *v, const double *gamma, float scale, const float *S0,
                        float *o, float *S) {
    float *ks = malloc(sizeof(float) * (size_t)B * T * H * dk);
    for (int64_t i = 0; i < (int64_t)B * T * H * dk; i++) ks[i] = k[i] * scale;
    float *work = malloc(sizeof(float) * (size_t)retention_chunkwise_work(T, 16, dk, dv));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            float *Sh = S + ((int64_t)b * H + h) * dk * dv;
            for (int64_t i = 0; i < (int64_t)dk * dv; i++)
                Sh[i] = S0 ? S0[((int64_t)b * H + h) * dk * dv + i] * scale : 0.0f;
            retention_args a = {.T = T, .dk = dk, .dv = dv,
                                .q = q + ((int64_t)b * T * H + h) * dk, .ldq = (int64_t)H * dk,
                                .k = ks + ((int64_t)b * T * H + h) * dk, .ldk = (int64_t)H * dk,
                                .v = v + ((int64_t)b * T * H + h) * dv, .ldv = (int64_t)H * dv,
                                .o = o + ((int64_t)b * T * H + h) * dv, .ldo = (int64_t)H * dv,
                                .gamma = gamma[h], .S = Sh};
            retention_chunkwise_forward(&a, 16, work);
            for (int64_t i = 0; i < (int64_t)dk * dv; i++) Sh[i] /= scale;
        }
    free(work);
    free(ks);
}

static void test_forward_and_step(void) {
    /* dv = 8: the v = 1 pass of the section-3 row sums (src/cuda/retention_norm.cu) */
    static const int shapes[][5] = {{2, 100, 2, 64, 128}, {1, 257, 3, 128, 64}, {2, 33, 2, 256, 512},
                                    {2, 100, 2, 32, 8},   {1, 130, 2, 256, 8}};
    uint64_t s = seed0 | 1;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int B = shapes[si][0], T = shapes[si][1], H = shapes[si][2], dk = shapes[si][3],
            dv = shapes[si][4];
        int64_t nq = (int64_t)B * T * H * dk, nv = (int64_t)B * T * H * dv, ns = (int64_t)B * H * dk * dv;
        float *q = malloc(4 * nq), *k = malloc(4 * nq), *v = malloc(4 * nv), *o = malloc(4 * nv);
        float *S0 = malloc(4 * ns), *S = malloc(4 * ns), *og = malloc(4 * nv), *Sg = malloc(4 * ns);
        uint16_t *qb = malloc(2 * nq), *kb = malloc(2 * nq), *vb = malloc(2 * nv);
        rand_bf16(q, qb, nq, 1, &s), rand_bf16(k, kb, nq, 1, &s), rand_bf16(v, vb, nv, 1, &s);
        for (int64_t i = 0; i < ns; i++) S0[i] = (float)(0.1 * urand(&s));
        double gd[8];
        float gf[8];
        for (int h = 0; h < H; h++) gd[h] = 1.0 - ldexp(1.0, -5 - h), gf[h] = (float)gd[h];
        float scale = (float)(1.0 / sqrt((double)dk));
        cpu_forward(B, T, H, dk, dv, q, k, v, gd, scale, S0, o, S);
        void *dq = up(qb, 2 * nq), *dkk = up(kb, 2 * nq), *dvv = up(vb, 2 * nv);
        float *dg = up(gf, 4 * H), *dS = up(S0, 4 * ns), *dO = NULL;
        retnet_cuda_malloc((void **)&dO, 4 * nv, "o");
        int rc = retention_cuda_forward(B, T, H, dk, dv, dq, dkk, dvv, dg, scale, dS, dS, dO,
                                        RETNET_CUDA_F32, NULL);
        CHECK(rc == 0, "forward: %s", retention_cuda_errmsg());
        retnet_cuda_sync(NULL);
        retnet_cuda_download(og, dO, 4 * nv);
        retnet_cuda_download(Sg, dS, 4 * ns);
        char what[96];
        snprintf(what, sizeof what, "forward B%d T%d H%d dk%d dv%d: o", B, T, H, dk, dv);
        check_close(og, o, nv, what);
        snprintf(what, sizeof what, "forward B%d T%d H%d dk%d dv%d: final state", B, T, H, dk, dv);
        check_close(Sg, S, ns, what);
        /* one more token by the decoding step, from the final state, against the CPU's
         * recurrent form from the CPU's state */
        if (dv <= 512) {
            int64_t q1 = (int64_t)B * H * dk, v1 = (int64_t)B * H * dv;
            float *o1 = malloc(4 * v1), *o1g = malloc(4 * v1);
            uint16_t *qb1 = qb, *kb1 = kb, *vb1 = vb; /* token 0's values again (any will do) */
            void *sq = up(qb1, 2 * q1), *sk = up(kb1, 2 * q1), *sv = up(vb1, 2 * v1);
            float *sO = NULL;
            retnet_cuda_malloc((void **)&sO, 4 * v1, "o1");
            float *S1g = malloc(4 * ns);
            retnet_cuda_upload(dS, S, 4 * ns); /* the CPU state: only the step is measured */
            rc = retention_cuda_step(B, H, dk, dv, sq, sk, sv, dg, scale, dS, sO, RETNET_CUDA_F32, NULL);
            CHECK(rc == 0, "step: %s", retention_cuda_errmsg());
            retnet_cuda_sync(NULL);
            retnet_cuda_download(o1g, sO, 4 * v1);
            retnet_cuda_download(S1g, dS, 4 * ns);
            /* CPU: S = g S + k^T v, o = scale q S, in double */
            double err = 0, mx = 0, serr = 0, smx = 0;
            for (int b = 0; b < B; b++)
                for (int h = 0; h < H; h++) {
                    const float *qq = q + ((int64_t)b * H + h) * dk, *kk = k + ((int64_t)b * H + h) * dk;
                    const float *vv = v + ((int64_t)b * H + h) * dv;
                    const float *Sh = S + ((int64_t)b * H + h) * dk * dv;
                    const float *Shg = S1g + ((int64_t)b * H + h) * dk * dv;
                    for (int j = 0; j < dv; j++) {
                        double acc = 0;
                        for (int i = 0; i < dk; i++) {
                            const double sn = gd[h] * Sh[(int64_t)i * dv + j] + (double)kk[i] * vv[j];
                            acc += (double)qq[i] * scale * sn;
                            serr = fmax(serr, fabs(Shg[(int64_t)i * dv + j] - sn));
                            smx = fmax(smx, fabs(sn));
                        }
                        double g = o1g[((int64_t)b * H + h) * dv + j];
                        err = fmax(err, fabs(g - acc));
                        mx = fmax(mx, fabs(acc));
                    }
                }
            CHECK(err <= 1e-5 * mx + 1e-6, "step B%d H%d dk%d dv%d: max err %.3g of max %.3g", B,
                  H, dk, dv, err, mx);
            /* the new state: one fp32 multiply-add per value (a few u of the largest) */
            CHECK(serr <= 1e-6 * smx + 1e-7, "step B%d H%d dk%d dv%d: state max err %.3g of max %.3g",
                  B, H, dk, dv, serr, smx);
            free(o1), free(o1g), free(S1g);
            retnet_cuda_free(sq), retnet_cuda_free(sk), retnet_cuda_free(sv), retnet_cuda_free(sO);
        }
        retnet_cuda_free(dq), retnet_cuda_free(dkk), retnet_cuda_free(dvv), retnet_cuda_free(dg);
        retnet_cuda_free(dS), retnet_cuda_free(dO);
        free(q), free(k), free(v), free(o), free(S0), free(S), free(og), free(Sg);
        free(qb), free(kb), free(vb);
    }
}

/* The decoding step alone from a random state, against S' = g S + k^T v, o = scale q S' in
 * double (the rule of test_forward_and_step's step), at state sizes on both sides of the
 * kernel's switch between its block shapes (retention_cuda_step: 32 row groups from 64 MB of
 * states, 16 below; the sums of q S' are added in another order in each): 64 MB exactly
 * (the 1.3B model's heads at B = 16), 68 MB with columns that do not fill a block (dv 136),
 * and 4 MB. */
static void test_step_shapes(void) {
    static const int shapes[][4] = {{16, 8, 256, 512}, {256, 8, 64, 136}, {1, 8, 256, 512}};
    uint64_t s = seed0 * 3 + 1;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int B = shapes[si][0], H = shapes[si][1], dk = shapes[si][2], dv = shapes[si][3];
        const int64_t nq = (int64_t)B * H * dk, nv = (int64_t)B * H * dv, ns = nq * dv;
        float *q = malloc(4 * nq), *k = malloc(4 * nq), *v = malloc(4 * nv);
        float *S = malloc(4 * ns), *Sg = malloc(4 * ns), *og = malloc(4 * nv);
        uint16_t *qb = malloc(2 * nq), *kb = malloc(2 * nq), *vb = malloc(2 * nv);
        rand_bf16(q, qb, nq, 1, &s), rand_bf16(k, kb, nq, 1, &s), rand_bf16(v, vb, nv, 1, &s);
        for (int64_t i = 0; i < ns; i++) S[i] = (float)urand(&s);
        double gd[8];
        float gf[8];
        for (int h = 0; h < H; h++) gd[h] = 1.0 - ldexp(1.0, -5 - h), gf[h] = (float)gd[h];
        const float scale = (float)(1.0 / sqrt((double)dk));
        void *dq = up(qb, 2 * nq), *dkk = up(kb, 2 * nq), *dvv = up(vb, 2 * nv);
        float *dg = up(gf, 4 * H), *dS = up(S, 4 * ns), *dO = NULL;
        retnet_cuda_malloc((void **)&dO, 4 * nv, "o");
        int rc = dq && dkk && dvv && dg && dS && dO
                     ? retention_cuda_step(B, H, dk, dv, dq, dkk, dvv, dg, scale, dS, dO,
                                           RETNET_CUDA_F32, NULL)
                     : -1;
        CHECK(rc == 0, "step B%d H%d dk%d dv%d: %s", B, H, dk, dv,
              rc < 0 ? "device buffers" : retention_cuda_errmsg());
        if (rc == 0) {
            retnet_cuda_sync(NULL);
            retnet_cuda_download(og, dO, 4 * nv);
            retnet_cuda_download(Sg, dS, 4 * ns);
            double err = 0, mx = 0, serr = 0, smx = 0;
            double *acc = malloc(sizeof(double) * (size_t)dv);
            for (int64_t bh = 0; bh < (int64_t)B * H; bh++) {
                const int h = (int)(bh % H);
                const float *qq = q + bh * dk, *kk = k + bh * dk, *vv = v + bh * dv;
                for (int j = 0; j < dv; j++) acc[j] = 0;
                for (int i = 0; i < dk; i++)
                    for (int j = 0; j < dv; j++) {
                        const int64_t e = bh * dk * dv + (int64_t)i * dv + j;
                        const double sn = gd[h] * S[e] + (double)kk[i] * vv[j];
                        acc[j] += (double)qq[i] * scale * sn;
                        serr = fmax(serr, fabs(Sg[e] - sn)), smx = fmax(smx, fabs(sn));
                    }
                for (int j = 0; j < dv; j++) {
                    err = fmax(err, fabs(og[bh * dv + j] - acc[j]));
                    mx = fmax(mx, fabs(acc[j]));
                }
            }
            free(acc);
            CHECK(err <= 1e-5 * mx + 1e-6, "step B%d H%d dk%d dv%d: max err %.3g of max %.3g", B,
                  H, dk, dv, err, mx);
            CHECK(serr <= 1e-6 * smx + 1e-7,
                  "step B%d H%d dk%d dv%d: state max err %.3g of max %.3g", B, H, dk, dv, serr, smx);
            fprintf(stderr, "     step B%d H%d dk%d dv%d (%lld MB of state): o err %.2e of %.3g\n",
                    B, H, dk, dv, (long long)(4 * ns >> 20), err, mx);
        }
        retnet_cuda_free(dq), retnet_cuda_free(dkk), retnet_cuda_free(dvv), retnet_cuda_free(dg);
        retnet_cuda_free(dS), retnet_cuda_free(dO);
        free(q), free(k), free(v), free(S), free(Sg), free(og), free(qb), free(kb), free(vb);
    }
}

/* The backward from the empty state against the CPU's parallel-form backward, gradients in
 * fp32 or bf16 (column 6), written or added to random values already there (column 7).
 * Outputs that are written start as NaN, so an element never written fails. dv = 512 with
 * 128 blocks of 64 columns (256 counting the dq and dk passes, which run side by side): those
 * passes split their contraction in halves (retention.cu, run_chunk), the second adding to the
 * first (TMA reduce-add, in bf16 too). bf16 gradients add their rounding, 2^-9 relative (a few
 * times that where the halves or the old values add in bf16), inside the rule's 2^-7. */
static void test_backward(void) {
    static const int shapes[][7] = {{2, 100, 2, 64, 128, 0, 0}, {1, 130, 2, 128, 256, 0, 0},
                                    {2, 100, 2, 32, 8, 0, 0},   {1, 130, 2, 256, 8, 0, 0},
                                    {4, 70, 8, 256, 512, 0, 0}, {4, 70, 8, 256, 512, 1, 0},
                                    {4, 70, 8, 256, 512, 0, 1}, {4, 70, 8, 256, 512, 1, 1},
                                    {2, 100, 2, 64, 128, 1, 1}};
    uint64_t s = (seed0 * 7) | 1;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int B = shapes[si][0], T = shapes[si][1], H = shapes[si][2], dk = shapes[si][3],
            dv = shapes[si][4], g16 = shapes[si][5], acc = shapes[si][6];
        int64_t nq = (int64_t)B * T * H * dk, nv = (int64_t)B * T * H * dv;
        float *q = malloc(4 * nq), *k = malloc(4 * nq), *v = malloc(4 * nv), *dout = malloc(4 * nv);
        uint16_t *qb = malloc(2 * nq), *kb = malloc(2 * nq), *vb = malloc(2 * nv), *db = malloc(2 * nv);
        rand_bf16(q, qb, nq, 1, &s), rand_bf16(k, kb, nq, 1, &s), rand_bf16(v, vb, nv, 1, &s);
        rand_bf16(dout, db, nv, 1, &s);
        float *cq = calloc(nq, 4), *ck = calloc(nq, 4), *cv = calloc(nv, 4);
        float *gq = malloc(4 * nq), *gk = malloc(4 * nq), *gv = malloc(4 * nv);
        double gd[8];
        float gf[8];
        for (int h = 0; h < H; h++) gd[h] = 1.0 - ldexp(1.0, -5 - h), gf[h] = (float)gd[h];
        float scale = (float)(1.0 / sqrt((double)dk));
        /* CPU: the form takes q and scaled keys; d(q) then carries the scale through dk */
        float *ks = malloc(4 * nq);
        for (int64_t i = 0; i < nq; i++) ks[i] = k[i] * scale;
        float *work = malloc(sizeof(float) * (size_t)retention_parallel_backward_work(T, dk, dv));
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                int64_t oq = ((int64_t)b * T * H + h) * dk, ov = ((int64_t)b * T * H + h) * dv;
                retention_grad_args a = {.T = T, .dk = dk, .dv = dv, .q = q + oq, .ldq = (int64_t)H * dk,
                                         .k = ks + oq, .ldk = (int64_t)H * dk, .v = v + ov,
                                         .ldv = (int64_t)H * dv, .dout = dout + ov,
                                         .lddo = (int64_t)H * dv, .dq = cq + oq, .lddq = (int64_t)H * dk,
                                         .dk_ = ck + oq, .lddk = (int64_t)H * dk, .dv_ = cv + ov,
                                         .lddv = (int64_t)H * dv, .gamma = gd[h]};
                retention_parallel_backward(&a, work);
            }
        for (int64_t i = 0; i < nq; i++) ck[i] *= scale; /* d k = scale d(scaled k) */
        void *dq = up(qb, 2 * nq), *dkk = up(kb, 2 * nq), *dvv = up(vb, 2 * nv), *ddo = up(db, 2 * nv);
        float *dg = up(gf, 4 * H);
        void *oq = NULL, *ok = NULL, *ov = NULL;
        const size_t es = g16 ? 2 : 4; /* bytes per gradient element */
        float *gs[3] = {gq, gk, gv}, *cs[3] = {cq, ck, cv};
        void **ds[3] = {&oq, &ok, &ov};
        const int64_t ns[3] = {nq, nq, nv};
        for (int i = 0; i < 3; i++) { /* NaN bytes, or old values (then the CPU adds them too) */
            unsigned char *h0 = malloc(es * ns[i]);
            if (!acc)
                memset(h0, 0xff, es * ns[i]);
            else if (g16) {
                float *f = malloc(4 * ns[i]);
                rand_bf16(f, (uint16_t *)h0, ns[i], 1, &s);
                for (int64_t j = 0; j < ns[i]; j++) cs[i][j] += f[j];
                free(f);
            } else
                for (int64_t j = 0; j < ns[i]; j++) {
                    ((float *)h0)[j] = (float)urand(&s);
                    cs[i][j] += ((float *)h0)[j];
                }
            *ds[i] = up(h0, es * ns[i]);
            free(h0);
        }
        int rc = retention_cuda_backward(B, T, H, dk, dv, dq, dkk, dvv, dg, scale, NULL, ddo, NULL,
                                         oq, ok, ov, g16 ? RETNET_CUDA_BF16 : RETNET_CUDA_F32, acc,
                                         NULL, NULL);
        CHECK(rc == 0, "backward: %s", retention_cuda_errmsg());
        retnet_cuda_sync(NULL);
        for (int i = 0; i < 3; i++) {
            if (!g16) {
                retnet_cuda_download(gs[i], *ds[i], 4 * ns[i]);
                continue;
            }
            uint16_t *b16 = malloc(2 * ns[i]);
            retnet_cuda_download(b16, *ds[i], 2 * ns[i]);
            op_bf16_to_f32(gs[i], b16, ns[i]);
            free(b16);
        }
        char what[96];
        const char *gt = g16 ? (acc ? "bf16 += " : "bf16 ") : (acc ? "+= " : "");
        snprintf(what, sizeof what, "backward B%d T%d H%d dk%d dv%d: %sdq", B, T, H, dk, dv, gt);
        check_close(gq, cq, nq, what);
        snprintf(what, sizeof what, "backward B%d T%d H%d dk%d dv%d: %sdk", B, T, H, dk, dv, gt);
        check_close(gk, ck, nq, what);
        snprintf(what, sizeof what, "backward B%d T%d H%d dk%d dv%d: %sdv", B, T, H, dk, dv, gt);
        check_close(gv, cv, nv, what);
        retnet_cuda_free(dq), retnet_cuda_free(dkk), retnet_cuda_free(dvv), retnet_cuda_free(ddo);
        retnet_cuda_free(dg), retnet_cuda_free(oq), retnet_cuda_free(ok), retnet_cuda_free(ov);
        free(q), free(k), free(v), free(dout), free(qb), free(kb), free(vb), free(db);
        free(cq), free(ck), free(cv), free(gq), free(gk), free(gv), free(ks), free(work);
    }
}

int main(void) {
    if (!cuda_test_start("test_cuda_retention", &seed0)) return TEST_SUMMARY();
    if (retnet_cuda_init(0) != RETNET_OK) {
        fprintf(stderr, "CUDA init: %s\n", retnet_errmsg());
        return 1;
    }
    fprintf(stderr, "test_cuda_retention: %s\n", retnet_cuda_device_name());
    RUN(test_forward_and_step);
    RUN(test_step_shapes);
    RUN(test_backward);
    retnet_cuda_shutdown();
    return TEST_SUMMARY();
}
