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

/* §3's key sums in the step (retention_cuda_step_rows) against the two launches it replaces
 * (retention_cuda_step, then cuda_retention_normalize_step), 3 or 12 steps at growing
 * positions, at the small and the large states' shapes: the state and z must be the same
 * bits (the same operations), o within 4 ulp of max |o| (r's double sum may add in another
 * order: f can move by an ulp of float, and o is rounded after it), and z within 2^-22 of a
 * double reference (gamma z + k, one or two roundings). A lost k, a wrong decay or position,
 * or f applied twice or not at all errs by far more. */
static void test_step_rows(void) {
    /* 48 sequences: 3072 blocks, several waves, so blocks start after a head's block 0 has
     * rewritten z (without the cluster barrier o was off at 16: next141.sh) */
    static const int shapes[][4] = {{2, 4, 64, 96}, {1, 8, 256, 512}, {16, 8, 256, 512},
                                    {48, 8, 128, 512}};
    uint64_t s = seed0 * 11 + 5;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int B = shapes[si][0], H = shapes[si][1], dk = shapes[si][2], dv = shapes[si][3];
        if (!retention_cuda_step_rows_ok(dk, dv)) { /* a cluster a head: sm_90 on */
            fprintf(stderr, "     step rows: not on this device (sm_90 on)\n");
            break;
        }
        const int64_t nq = (int64_t)B * H * dk, nv = (int64_t)B * H * dv, ns = nq * dv;
        float *q = malloc(4 * nq), *k = malloc(4 * nq), *v = malloc(4 * nv), *z = malloc(4 * nq);
        float *S = malloc(4 * ns), *oa = malloc(4 * nv), *ob = malloc(4 * nv);
        float *Sa = malloc(4 * ns), *Sb = malloc(4 * ns), *za = malloc(4 * nq), *zb = malloc(4 * nq);
        uint16_t *qb = malloc(2 * nq), *kb = malloc(2 * nq), *vb = malloc(2 * nv);
        for (int64_t i = 0; i < ns; i++) S[i] = (float)urand(&s);
        for (int64_t i = 0; i < nq; i++) z[i] = (float)(4 * urand(&s));
        double gd[8];
        float gf[8];
        for (int h = 0; h < H; h++) gd[h] = 1.0 - ldexp(1.0, -5 - h), gf[h] = (float)gd[h];
        int64_t pos[48];
        const float scale = (float)(1.0 / sqrt((double)dk));
        float *dg = up(gf, 4 * H), *dSa = up(S, 4 * ns), *dSb = up(S, 4 * ns);
        float *dza = up(z, 4 * nq), *dzb = up(z, 4 * nq);
        double *dgd = up(gd, 8 * H);
        float *dOa = NULL, *dOb = NULL;
        retnet_cuda_malloc((void **)&dOa, 4 * nv, "o"), retnet_cuda_malloc((void **)&dOb, 4 * nv, "o");
        int ok = dg && dSa && dSb && dza && dzb && dgd && dOa && dOb;
        CHECK(ok, "step rows B%d: device buffers", B);
        double zerr = 0, zmx = 0, oerr = 0, omx = 0;
        int sbits = 1, zbits = 1;
        /* the race a block of a head could lose to its block 0 (next141-143) showed in about
         * one run in two at 3 steps; the many-block shapes take 12 */
        const int steps = B >= 16 ? 12 : 3;
        for (int step = 0; ok && step < steps; step++) {
            rand_bf16(q, qb, nq, 1, &s), rand_bf16(k, kb, nq, 1, &s), rand_bf16(v, vb, nv, 1, &s);
            for (int b = 0; b < B; b++) pos[b] = 5 + 3 * b + step;
            void *dq = up(qb, 2 * nq), *dkk = up(kb, 2 * nq), *dvv = up(vb, 2 * nv);
            int64_t *dp = up(pos, 8 * (size_t)B);
            int rc = retention_cuda_step(B, H, dk, dv, dq, dkk, dvv, dg, scale, dSa, dOa,
                                         RETNET_CUDA_F32, NULL);
            retnet_status st = rc ? RETNET_OK
                                  : cuda_retention_normalize_step(dOa, dza, dq, dkk, dgd, dp, B, H,
                                                                  dk, dv, NULL);
            int rb = retention_cuda_step_rows(B, H, dk, dv, dq, dkk, dvv, dg, scale, dSb, dOb, dzb,
                                              dgd, dp, NULL);
            CHECK(rc == 0 && st == RETNET_OK && rb == 0, "step rows B%d H%d dk%d dv%d step %d: %s",
                  B, H, dk, dv, step, retention_cuda_errmsg());
            ok = rc == 0 && st == RETNET_OK && rb == 0;
            if (ok) {
                retnet_cuda_sync(NULL);
                retnet_cuda_download(oa, dOa, 4 * nv), retnet_cuda_download(ob, dOb, 4 * nv);
                retnet_cuda_download(za, dza, 4 * nq), retnet_cuda_download(zb, dzb, 4 * nq);
                retnet_cuda_download(Sa, dSa, 4 * ns), retnet_cuda_download(Sb, dSb, 4 * ns);
                sbits &= !memcmp(Sa, Sb, 4 * ns), zbits &= !memcmp(za, zb, 4 * nq);
                for (int64_t i = 0; i < nv; i++)
                    oerr = fmax(oerr, fabs((double)ob[i] - oa[i])), omx = fmax(omx, fabs(oa[i]));
                for (int64_t i = 0; i < nq; i++) {
                    const int h = (int)(i / dk % H);
                    const double want = (double)gf[h] * z[i] + k[i];
                    zerr = fmax(zerr, fabs(zb[i] - want)), zmx = fmax(zmx, fabs(want));
                    z[i] = zb[i];
                }
            }
            retnet_cuda_free(dq), retnet_cuda_free(dkk), retnet_cuda_free(dvv), retnet_cuda_free(dp);
        }
        if (ok) {
            CHECK(sbits, "step rows B%d H%d dk%d dv%d: the state differs from the plain step's", B,
                  H, dk, dv);
            CHECK(zbits, "step rows B%d H%d dk%d dv%d: z differs from z_step_kernel's", B, H, dk,
                  dv);
            CHECK(oerr <= 0x1p-22 * omx, "step rows B%d H%d dk%d dv%d: o differs by %.3g of max "
                  "%.3g (tol 4 ulp)", B, H, dk, dv, oerr, omx);
            CHECK(zerr <= 0x1p-22 * zmx, "step rows B%d H%d dk%d dv%d: z err %.3g of max %.3g", B,
                  H, dk, dv, zerr, zmx);
            fprintf(stderr, "     step rows B%d H%d dk%d dv%d: o within %.2e of %.3g of the two "
                    "launches', z err %.2e of %.3g\n", B, H, dk, dv, oerr, omx, zerr, zmx);
        }
        retnet_cuda_free(dg), retnet_cuda_free(dSa), retnet_cuda_free(dSb), retnet_cuda_free(dza);
        retnet_cuda_free(dzb), retnet_cuda_free(dgd), retnet_cuda_free(dOa), retnet_cuda_free(dOb);
        free(q), free(k), free(v), free(z), free(S), free(oa), free(ob), free(Sa), free(Sb);
        free(za), free(zb), free(qb), free(kb), free(vb);
    }
    /* a head's blocks must fit one cluster (dv <= 512 at 64 columns a block) */
    CHECK(!retention_cuda_step_rows_ok(64, 640), "step rows: dv 640 taken");
    CHECK(retention_cuda_step_rows(1, 1, 64, 640, (void *)8, (void *)8, (void *)8, (float *)8, 1.0f,
                                   (float *)16, (void *)16, (float *)16, (double *)8,
                                   (int64_t *)8, NULL) != 0,
          "step rows: dv 640 not refused");
}

/* The head norm and gate in the step (retention_cuda_step_hn, a cluster a head) against the
 * launches they replace (retention_cuda_step [, cuda_retention_normalize_step], then
 * cuda_op_head_norm_gate_bf16), in each head-norm mode, with and without the gate and §3's key
 * sums: the state, z and o must be the same bits (the same step), y (bf16) the same but for
 * the rounding of statistics summed in another order, so within 1 bf16 ulp (2^-7 relative;
 * a wrong mean, variance, weight or gate errs by far more) and on at most 1% of the values. */
static void test_step_hn(void) {
    static const int shapes[][4] = {{2, 4, 64, 128}, {1, 8, 256, 512}};
    uint64_t s = seed0 * 13 + 7;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int B = shapes[si][0], H = shapes[si][1], dk = shapes[si][2], dv = shapes[si][3];
        if (!retention_cuda_step_hn_ok(dk, dv)) {
            fprintf(stderr, "     step hn: not on this device (sm_90 on)\n");
            return;
        }
        const int64_t nq = (int64_t)B * H * dk, nv = (int64_t)B * H * dv, ns = nq * dv;
        float *q = malloc(4 * nq), *k = malloc(4 * nq), *v = malloc(4 * nv), *z = malloc(4 * nq);
        float *S = malloc(4 * ns), *g = malloc(4 * nv), *w = malloc(4 * (size_t)H * dv);
        float *bb = malloc(4 * (size_t)H * dv), *Sa = malloc(4 * ns), *Sb = malloc(4 * ns);
        float *oa = malloc(4 * nv), *ob = malloc(4 * nv), *za = malloc(4 * nq), *zb = malloc(4 * nq);
        uint16_t *qb = malloc(2 * nq), *kb = malloc(2 * nq), *vb = malloc(2 * nv);
        uint16_t *ya = malloc(2 * nv), *yb = malloc(2 * nv);
        rand_bf16(q, qb, nq, 1, &s), rand_bf16(k, kb, nq, 1, &s), rand_bf16(v, vb, nv, 1, &s);
        for (int64_t i = 0; i < ns; i++) S[i] = (float)urand(&s);
        for (int64_t i = 0; i < nq; i++) z[i] = (float)(4 * urand(&s));
        for (int64_t i = 0; i < nv; i++) g[i] = (float)(3 * urand(&s));
        for (int64_t i = 0; i < (int64_t)H * dv; i++)
            w[i] = (float)(1 + 0.5 * urand(&s)), bb[i] = (float)(0.2 * urand(&s));
        double gd[8];
        float gf[8];
        for (int h = 0; h < H; h++) gd[h] = 1.0 - ldexp(1.0, -5 - h), gf[h] = (float)gd[h];
        int64_t pos[4] = {7, 12, 3, 9};
        const float scale = (float)(1.0 / sqrt((double)dk));
        void *dq = up(qb, 2 * nq), *dkk = up(kb, 2 * nq), *dvv = up(vb, 2 * nv);
        float *dg = up(gf, 4 * H), *dgate = up(g, 4 * nv), *dw = up(w, 4 * (size_t)H * dv);
        float *db = up(bb, 4 * (size_t)H * dv);
        double *dgd = up(gd, 8 * H);
        int64_t *dp = up(pos, 8 * (size_t)B);
        float *dSa = NULL, *dSb = NULL, *dza = NULL, *dzb = NULL, *dOa = NULL, *dOb = NULL;
        void *dya = NULL, *dyb = NULL;
        retnet_cuda_malloc((void **)&dSa, 4 * ns, "S"), retnet_cuda_malloc((void **)&dSb, 4 * ns, "S");
        retnet_cuda_malloc((void **)&dza, 4 * nq, "z"), retnet_cuda_malloc((void **)&dzb, 4 * nq, "z");
        retnet_cuda_malloc((void **)&dOa, 4 * nv, "o"), retnet_cuda_malloc((void **)&dOb, 4 * nv, "o");
        retnet_cuda_malloc(&dya, 2 * nv, "y"), retnet_cuda_malloc(&dyb, 2 * nv, "y");
        int ok = dq && dkk && dvv && dg && dgate && dw && db && dgd && dp && dSa && dSb && dza &&
                 dzb && dOa && dOb && dya && dyb;
        CHECK(ok, "step hn B%d: device buffers", B);
        for (int mode = 0; ok && mode < 3; mode++)
            for (int gate = 0; ok && gate < 2; gate++)
                for (int zon = 0; ok && zon < 2; zon++) {
                    retnet_cuda_upload(dSa, S, 4 * ns), retnet_cuda_upload(dSb, S, 4 * ns);
                    retnet_cuda_upload(dza, z, 4 * nq), retnet_cuda_upload(dzb, z, 4 * nq);
                    const float *gp = gate ? dgate : NULL, *bp = mode == 1 ? db : NULL;
                    int rc = retention_cuda_step(B, H, dk, dv, dq, dkk, dvv, dg, scale, dSa, dOa,
                                                 RETNET_CUDA_F32, NULL);
                    retnet_status st = RETNET_OK;
                    if (!rc && zon)
                        st = cuda_retention_normalize_step(dOa, dza, dq, dkk, dgd, dp, B, H, dk,
                                                           dv, NULL);
                    if (!rc && !st)
                        st = cuda_op_head_norm_gate_bf16(dya, dOa, gp, dw, bp, B, H, dv, 1e-5f,
                                                         mode, NULL);
                    const retention_cuda_head_norm hn = {gp, dw, bp, mode, 1e-5f, dyb};
                    int rb = retention_cuda_step_hn(B, H, dk, dv, dq, dkk, dvv, dg, scale, dSb,
                                                    dOb, zon ? dzb : NULL, dgd, dp, &hn, NULL);
                    CHECK(!rc && !st && !rb, "step hn B%d dv%d mode %d gate %d z %d: %s", B, dv,
                          mode, gate, zon, retention_cuda_errmsg());
                    ok = !rc && !st && !rb;
                    if (!ok) break;
                    retnet_cuda_sync(NULL);
                    retnet_cuda_download(Sa, dSa, 4 * ns), retnet_cuda_download(Sb, dSb, 4 * ns);
                    retnet_cuda_download(oa, dOa, 4 * nv), retnet_cuda_download(ob, dOb, 4 * nv);
                    retnet_cuda_download(za, dza, 4 * nq), retnet_cuda_download(zb, dzb, 4 * nq);
                    retnet_cuda_download(ya, dya, 2 * nv), retnet_cuda_download(yb, dyb, 2 * nv);
                    CHECK(!memcmp(Sa, Sb, 4 * ns) && !memcmp(oa, ob, 4 * nv) &&
                              !memcmp(za, zb, 4 * nq),
                          "step hn B%d dv%d mode %d gate %d z %d: state, o or z differ", B, dv,
                          mode, gate, zon);
                    int64_t ndiff = 0;
                    double worst = 0, ymx = 0;
                    for (int64_t i = 0; i < nv; i++) {
                        float fa, fb;
                        uint32_t ua = (uint32_t)ya[i] << 16, ub = (uint32_t)yb[i] << 16;
                        memcpy(&fa, &ua, 4), memcpy(&fb, &ub, 4);
                        ndiff += ya[i] != yb[i];
                        const double tol = 0x1p-7 * fmax(fabs(fa), 1e-30);
                        worst = fmax(worst, isnan(fb) ? INFINITY : fabs((double)fb - fa) / tol);
                        ymx = fmax(ymx, fabs(fa));
                    }
                    CHECK(worst <= 1.0 && ndiff <= nv / 100,
                          "step hn B%d dv%d mode %d gate %d z %d: y differs on %lld of %lld "
                          "values, worst %.3g of 1 bf16 ulp", B, dv, mode, gate, zon,
                          (long long)ndiff, (long long)nv, worst);
                    if (mode == 1 && gate && zon)
                        fprintf(stderr, "     step hn B%d dv%d (cluster of %d): y equal but on "
                                "%lld of %lld values, max |y| %.3g\n", B, dv, dv / 64,
                                (long long)ndiff, (long long)nv, ymx);
                }
        void *bufs[] = {dq, dkk, dvv, dg, dgate, dw, db, dgd, dp, dSa, dSb, dza, dzb, dOa, dOb, dya, dyb};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) retnet_cuda_free(bufs[i]);
        free(q), free(k), free(v), free(z), free(S), free(g), free(w), free(bb), free(Sa), free(Sb);
        free(oa), free(ob), free(za), free(zb), free(qb), free(kb), free(vb), free(ya), free(yb);
    }
}

/* test_step_window's rule. The windowed step and the plain one both form o in fp32: dot
 * products of dk <= 512 terms (q S, and q . k_j for the window's tokens), up to W + 1 window
 * terms, gamma's powers (each rounded once or a few times: a few u, u = 2^-24), and a state
 * carried through up to 4 W + 4 = 132 updates or folds, each adding about 2 u of its largest
 * (k v is exact: two bf16s multiply exactly in fp32). Summed linearly that is ~1e-5 at the
 * longest run, and rounding errors of random sign grow like the square root: 2e-5 of the
 * largest |o| (per step) and of the largest |S| is several times the expected error, while a
 * power of gamma off by one errs by 1 - gamma >= 1e-3 relative, and a token lost, counted twice
 * or read from a stale slot errs by O(1). A bf16 o adds its own rounding, at most 2^-8 of
 * |o| (half an ulp at 8 significant bits). */
#define WINDOW_TOL 2e-5

typedef struct {
    double ratio, err, mx; /* the worst element: its error over its tolerance, error, max |o| */
    int step;
} window_worst;

/* got (n) against want in double: |got - want| <= rel |want| + WINDOW_TOL max |want| */
static void window_o_check(const float *got, const double *want, int64_t n, double rel, int step,
                           window_worst *w) {
    double mx = 0;
    for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(want[i]));
    const double tol = WINDOW_TOL * mx + 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (isnan(d)) d = INFINITY;
        const double r = d / (rel * fabs(want[i]) + tol);
        if (r > w->ratio) w->ratio = r, w->err = d, w->mx = mx, w->step = step;
    }
}

/* a device state against the reference: max |got - want| <= WINDOW_TOL max |want| */
static void window_state_check(const float *dS, const double *Sd, int64_t ns, const char *what,
                               const char *which) {
    float *Sg = malloc(4 * ns);
    retnet_cuda_download(Sg, dS, 4 * ns);
    double err = 0, mx = 0;
    for (int64_t i = 0; i < ns; i++) {
        const double d = fabs((double)Sg[i] - Sd[i]);
        err = fmax(err, isnan(d) ? INFINITY : d), mx = fmax(mx, fabs(Sd[i]));
    }
    CHECK(err <= WINDOW_TOL * mx, "%s: %s: max err %.3g (tol %.3g) of max %.3g", what, which, err,
          WINDOW_TOL * mx, mx);
    fprintf(stderr, "     %-58s %s: err %.2e of %.3g\n", what, which, err, mx);
    free(Sg);
}

/* m (B) on the device against the count want (B): equal below 2^30; from there (advance keeps
 * m below 2^30 by steps of W (W + 1), retention.h) the same modulo W (W + 1), in [W, 2^30) */
static void window_m_check(const int *dm, const int64_t *want, int B, int W, const char *what,
                           const char *when) {
    int *mg = malloc(sizeof(int) * (size_t)B);
    retnet_cuda_download(mg, dm, sizeof(int) * (size_t)B);
    const int64_t P = (int64_t)W * (W + 1);
    for (int b = 0; b < B; b++)
        CHECK(want[b] < (1 << 30) ? mg[b] == want[b]
                                  : mg[b] >= W && mg[b] < (1 << 30) && (want[b] - mg[b]) % P == 0,
              "%s: m[%d] = %d %s, want %lld%s", what, b, mg[b], when, (long long)want[b],
              want[b] < (1 << 30) ? "" : " modulo W (W + 1), below 2^30");
    free(mg);
}

/* One case's device buffers and reference, for window_flush_check */
typedef struct {
    int B, H, dk, dv, W, phase;
    const float *dg;
    float *dS, *dS2; /* the windowed step's state, the plain step's */
    void *dkw, *dvw;
    int *dm;
    const double *Sd; /* the reference state */
    int64_t ns;
    int64_t *mwant;
    const char *what;
} window_flush_args;

/* m checked, the window flushed and m reset (`when`: "middle", "final"), then both states
 * against the reference (`which` names the windowed one) and m against 0. 0 if a call failed. */
static int window_flush_check(window_flush_args *a, const char *which, const char *when) {
    char msg[64];
    snprintf(msg, sizeof msg, "before the %s flush", when);
    window_m_check(a->dm, a->mwant, a->B, a->W, a->what, msg);
    int rc = retention_cuda_window_flush(a->B, a->H, a->dk, a->dv, a->dg, a->dS, a->dkw, a->dvw,
                                         a->dm, a->W, a->phase, NULL);
    CHECK(rc == 0, "%s: %s flush: %s", a->what, when, retention_cuda_errmsg());
    rc = rc ? rc : retention_cuda_window_advance(a->B, a->dm, 1, a->W, NULL);
    CHECK(rc == 0, "%s: %s reset: %s", a->what, when, retention_cuda_errmsg());
    if (rc) return 0;
    retnet_cuda_sync(NULL);
    window_state_check(a->dS, a->Sd, a->ns, a->what, which);
    snprintf(msg, sizeof msg, "plain step's state (%s)", when);
    window_state_check(a->dS2, a->Sd, a->ns, a->what, msg);
    for (int b = 0; b < a->B; b++) a->mwant[b] = 0;
    snprintf(msg, sizeof msg, "after the %s reset", when);
    window_m_check(a->dm, a->mwant, a->B, a->W, a->what, msg);
    return 1;
}

/* One case of test_step_window: N = 4 W + 4 steps of retention_cuda_step_window (then
 * retention_cuda_window_advance) and, side by side on a copy of the state, retention_cuda_step,
 * both against the recurrence in double; a flush and reset after 2 W + 1 steps (the state
 * then compared; the window then holds 1 to W tokens depending on the phase) and at the end.
 * Sequence 0 starts with m = 0 and an empty, zeroed window (its first fold at m = W - phase);
 * the others start part way, at m0 = b (W + 3) mod (2 W + 1) (sequence 2: 2^30 - 2, so m
 * passes 2^30, where advance brings it back by whole periods) with their windows' tokens in
 * their slots and stale random tokens in the other slots, so each sequence keeps its own
 * schedule and a slot outside the window must not be read. */
static int window_shape; /* retention_cuda_lab_window_shape's, for the messages */
static void step_window_case(int B, int H, int dk, int dv, int W, int phase, int o_dtype,
                             uint64_t *s) {
    const int N = 4 * W + 4, mid = 2 * W + 1, S1 = W + 1, o16 = o_dtype == RETNET_CUDA_BF16;
    const int64_t nq = (int64_t)B * H * dk, nv = (int64_t)B * H * dv, ns = nq * dv;
    const int64_t nkw = (int64_t)B * S1 * H * dk, nvw = (int64_t)B * S1 * H * dv;
    char what[112];
    snprintf(what, sizeof what, "step_window B%d H%d dk%d dv%d W%d phase %d%s, kernel shape %d", B,
             H, dk, dv, W, phase, o16 ? " bf16 o" : "", window_shape);
    float *q = malloc(4 * nq), *k = malloc(4 * nq), *v = malloc(4 * nv), *S0 = malloc(4 * ns);
    float *kwf = calloc(nkw, 4), *vwf = calloc(nvw, 4), *ow = malloc(4 * nv), *op = malloc(4 * nv);
    uint16_t *qb = malloc(2 * nq), *kb = malloc(2 * nq), *vb = malloc(2 * nv);
    uint16_t *kwb = calloc(nkw, 2), *vwb = calloc(nvw, 2), *o16b = malloc(2 * nv);
    double *Sd = malloc(sizeof(double) * ns), *oref = malloc(sizeof(double) * nv);
    int *m0 = calloc(B, sizeof(int));
    int64_t *mwant = calloc(B, sizeof(int64_t));
    double gd[8];
    float gf[8];
    for (int h = 0; h < H; h++) gf[h] = (float)(0.9495 + 0.0495 * urand(s)), gd[h] = gf[h];
    const float scale = (float)(1.0 / sqrt((double)dk));
    const double sc = scale;
    for (int64_t i = 0; i < ns; i++) S0[i] = (float)urand(s), Sd[i] = S0[i];
    /* sequences b > 0: every slot random (bf16), then the window's tokens, those of slots
     * j % (W + 1) for j in [m0 - len, m0), folded into the reference */
    for (int b = 1; b < B; b++) {
        m0[b] = b == 2 ? (1 << 30) - 2 : b * (W + 3) % (2 * W + 1);
        rand_bf16(kwf + (int64_t)b * S1 * H * dk, kwb + (int64_t)b * S1 * H * dk,
                  (int64_t)S1 * H * dk, 1, s);
        rand_bf16(vwf + (int64_t)b * S1 * H * dv, vwb + (int64_t)b * S1 * H * dv,
                  (int64_t)S1 * H * dv, 1, s);
        const int len = retention_window_len(m0[b], phase, W);
        for (int j = m0[b] - len; j < m0[b]; j++)
            for (int h = 0; h < H; h++) {
                const int64_t sl = ((int64_t)b * S1 + j % S1) * H + h;
                const float *kk = kwf + sl * dk, *vv = vwf + sl * dv;
                double *Sh = Sd + ((int64_t)b * H + h) * dk * dv;
                for (int i = 0; i < dk; i++)
                    for (int c = 0; c < dv; c++)
                        Sh[(int64_t)i * dv + c] = gd[h] * Sh[(int64_t)i * dv + c] + (double)kk[i] * vv[c];
            }
    }
    float *Sf = malloc(4 * ns); /* the plain step's state: the reference's, in fp32 */
    for (int64_t i = 0; i < ns; i++) Sf[i] = (float)Sd[i];
    void *dq = NULL, *dk_ = NULL, *dv_ = NULL, *dO = NULL, *dO2 = NULL;
    retnet_cuda_malloc(&dq, 2 * nq, "q"), retnet_cuda_malloc(&dk_, 2 * nq, "k");
    retnet_cuda_malloc(&dv_, 2 * nv, "v");
    retnet_cuda_malloc(&dO, 4 * nv, "o"), retnet_cuda_malloc(&dO2, 4 * nv, "o plain");
    float *dg = up(gf, 4 * H), *dS = up(S0, 4 * ns), *dS2 = up(Sf, 4 * ns);
    void *dkw = up(kwb, 2 * nkw), *dvw = up(vwb, 2 * nvw);
    int *dm = up(m0, sizeof(int) * (size_t)B);
    window_worst ww = {0, 0, 0, -1}, wp = {0, 0, 0, -1};
    if (!(dq && dk_ && dv_ && dO && dO2 && dg && dS && dS2 && dkw && dvw && dm)) {
        CHECK(0, "%s: device buffers: %s", what, retnet_errmsg());
        goto done;
    }
    for (int b = 0; b < B; b++) mwant[b] = m0[b];
    window_flush_args fc = {B, H, dk, dv, W, phase, dg, dS, dS2, dkw, dvw, dm, Sd, ns, mwant, what};
    for (int t = 0; t < N; t++) {
        if (t == mid) { /* flush and reset with the window part full, then carry on */
            char which[64];
            snprintf(which, sizeof which, "state after %d steps (sequence 0's window %d)", t,
                     retention_window_len(t, phase, W));
            if (!window_flush_check(&fc, which, "middle")) goto done;
        }
        rand_bf16(q, qb, nq, 1, s), rand_bf16(k, kb, nq, 1, s), rand_bf16(v, vb, nv, 1, s);
        retnet_cuda_upload(dq, qb, 2 * nq), retnet_cuda_upload(dk_, kb, 2 * nq);
        retnet_cuda_upload(dv_, vb, 2 * nv);
        int rc = retention_cuda_step_window(B, H, dk, dv, dq, dk_, dv_, dg, scale, dS, dkw, dvw,
                                            dm, W, phase, dO, o_dtype, NULL);
        CHECK(rc == 0, "%s: step %d: %s", what, t, retention_cuda_errmsg());
        rc = rc ? rc : retention_cuda_window_advance(B, dm, 0, W, NULL);
        CHECK(rc == 0, "%s: advance at step %d: %s", what, t, retention_cuda_errmsg());
        rc = rc ? rc
                : retention_cuda_step(B, H, dk, dv, dq, dk_, dv_, dg, scale, dS2, dO2, o_dtype, NULL);
        CHECK(rc == 0, "%s: plain step %d: %s", what, t, retention_cuda_errmsg());
        if (rc) goto done;
        for (int b = 0; b < B; b++) mwant[b]++;
        retnet_cuda_sync(NULL);
        if (o16) {
            retnet_cuda_download(o16b, dO, 2 * nv), op_bf16_to_f32(ow, o16b, nv);
            retnet_cuda_download(o16b, dO2, 2 * nv), op_bf16_to_f32(op, o16b, nv);
        } else {
            retnet_cuda_download(ow, dO, 4 * nv), retnet_cuda_download(op, dO2, 4 * nv);
        }
        /* the recurrence in double: S = g S + k^T v, o = scale q S */
        for (int64_t bh = 0; bh < (int64_t)B * H; bh++) {
            const double g = gd[bh % H];
            double *oo = oref + bh * dv;
            const float *vv = v + bh * dv;
            for (int c = 0; c < dv; c++) oo[c] = 0;
            for (int i = 0; i < dk; i++) {
                double *row = Sd + (bh * dk + i) * dv;
                const double qi = sc * q[bh * dk + i], ki = k[bh * dk + i];
                for (int c = 0; c < dv; c++) row[c] = g * row[c] + ki * vv[c], oo[c] += qi * row[c];
            }
        }
        window_o_check(ow, oref, nv, o16 ? 0x1p-8 : 0, t, &ww);
        window_o_check(op, oref, nv, o16 ? 0x1p-8 : 0, t, &wp);
    }
    {
        char which[64];
        snprintf(which, sizeof which, "final state (sequence 0's window %d)",
                 retention_window_len(N - mid, phase, W));
        if (!window_flush_check(&fc, which, "final")) goto done;
    }
    const char *rule = o16 ? "2^-8 |o| + " : "";
    CHECK(ww.ratio <= 1, "%s: windowed o, step %d: err %.3g is %.3g x its tolerance (%s%.0e of max |o| %.3g)",
          what, ww.step, ww.err, ww.ratio, rule, WINDOW_TOL, ww.mx);
    CHECK(wp.ratio <= 1, "%s: plain step's o, step %d: err %.3g is %.3g x its tolerance (%s%.0e of max |o| %.3g)",
          what, wp.step, wp.err, wp.ratio, rule, WINDOW_TOL, wp.mx);
    fprintf(stderr, "     %-58s o over %d steps: worst %.2f (windowed), %.2f (plain) of tol\n", what, N,
            ww.ratio, wp.ratio);
done:
    retnet_cuda_free(dq), retnet_cuda_free(dk_), retnet_cuda_free(dv_), retnet_cuda_free(dO);
    retnet_cuda_free(dO2), retnet_cuda_free(dg), retnet_cuda_free(dS), retnet_cuda_free(dS2);
    retnet_cuda_free(dkw), retnet_cuda_free(dvw), retnet_cuda_free(dm);
    free(q), free(k), free(v), free(S0), free(Sf), free(kwf), free(vwf), free(ow), free(op);
    free(qb), free(kb), free(vb), free(kwb), free(vwb), free(o16b), free(Sd), free(oref);
    free(m0), free(mwant);
}

/* The decoding step with a window (retention_cuda_step_window, _window_flush, _window_advance)
 * against the recurrence in double and against retention_cuda_step beside it (step_window_case),
 * by the rule above: each shape at W 4 and 16 and phases 0, W / 3 and W - 1; a bf16 o; W 1 (a
 * fold every step); W 32 at dk 512 (the kernels' shared memory past 48 KB); all of it under
 * each of the step kernel's shapes. Then arguments it must refuse, before any work. */
static void test_step_window(void) {
    static const int shapes[][4] = {{3, 2, 64, 128}, {2, 8, 256, 512}, {1, 3, 32, 96}};
    static const int extra[][7] = {/* B, H, dk, dv, W, phase, o_dtype */
                                   {3, 2, 64, 128, 4, 2, RETNET_CUDA_BF16},
                                   {3, 2, 64, 128, 1, 0, RETNET_CUDA_F32},
                                   {1, 2, 512, 128, 32, 7, RETNET_CUDA_F32},
                                   {2, 2, 512, 128, 32, 7, RETNET_CUDA_F32},
                                   /* the wide shapes (7, 8) past dv's columns: dv 96 */
                                   {1, 3, 32, 96, 32, 5, RETNET_CUDA_F32}};
    uint64_t s = seed0 * 11 + 5;
    /* every kernel shape, forced: these states are small, so the automatic choice is shape 1;
     * 2..5 are the large states' shape at 512..64 columns (wider than dv: columns past it), 6-8
     * the small states' shape at 64, 128 and 256 columns (7 and 8 only where the
     * window's keys hold the partial sums: (W + 1) dk >= 1024, else 6's; the last extra case
     * meets it at dk 32 with dv 96, columns past dv) */
    for (window_shape = 1; window_shape <= 8; window_shape++) {
        retention_cuda_lab_window_shape(window_shape);
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (int W = 4; W <= 16; W *= 4) {
                const int phases[3] = {0, W / 3, W - 1};
                for (int pi = 0; pi < 3; pi++)
                    step_window_case(shapes[si][0], shapes[si][1], shapes[si][2], shapes[si][3],
                                     W, phases[pi], RETNET_CUDA_F32, &s);
            }
        for (size_t ei = 0; ei < sizeof extra / sizeof extra[0]; ei++)
            step_window_case(extra[ei][0], extra[ei][1], extra[ei][2], extra[ei][3],
                             extra[ei][4], extra[ei][5], extra[ei][6], &s);
    }
    retention_cuda_lab_window_shape(0);
    window_shape = 0;

    /* refused arguments: nonzero with a message, and nothing written (state, ring, o, m) */
    const int B = 1, H = 1, dk = 32, dv = 32, W = 4; /* the ring: W + 1 = 5 slots */
    float S[32 * 32], Sg[32 * 32], og[32], tmp[32], g = 0.95f;
    uint16_t qb[32], kb[32], vb[32], ring[5 * 32] = {0}, ringg[5 * 32];
    rand_bf16(tmp, qb, dk, 1, &s), rand_bf16(tmp, kb, dk, 1, &s), rand_bf16(tmp, vb, dv, 1, &s);
    for (int i = 0; i < dk * dv; i++) S[i] = (float)urand(&s);
    for (int i = 0; i < dv; i++) og[i] = NAN; /* o as the calls found it */
    int m0 = 0, mg = -1;
    void *dq = up(qb, 2 * dk), *dkk = up(kb, 2 * dk), *dvv = up(vb, 2 * dv);
    void *dkw = up(ring, sizeof ring), *dvw = up(ring, sizeof ring), *dO = up(og, sizeof og);
    float *dg = up(&g, 4), *dS = up(S, sizeof S);
    int *dm = up(&m0, sizeof m0);
    if (!(dq && dkk && dvv && dkw && dvw && dO && dg && dS && dm)) {
        CHECK(0, "step_window arguments: device buffers: %s", retnet_errmsg());
    } else {
        const float sc = 0.0f; /* scale <= 0: the default */
        struct {
            const char *what;
            int rc;
        } bad[] = {
#define SW(dS_, kw_, vw_, m_, W_, ph_, od_)                                                    \
    retention_cuda_step_window(B, H, dk, dv, dq, dkk, dvv, dg, sc, dS_, kw_, vw_, m_, W_, ph_, dO, \
                               od_, NULL)
            {"step_window W = 0", SW(dS, dkw, dvw, dm, 0, 0, RETNET_CUDA_F32)},
            {"step_window W = -1", SW(dS, dkw, dvw, dm, -1, 0, RETNET_CUDA_F32)},
            {"step_window phase = W", SW(dS, dkw, dvw, dm, W, W, RETNET_CUDA_F32)},
            {"step_window phase = -1", SW(dS, dkw, dvw, dm, W, -1, RETNET_CUDA_F32)},
            {"step_window m NULL", SW(dS, dkw, dvw, NULL, W, 0, RETNET_CUDA_F32)},
            {"step_window kw NULL", SW(dS, NULL, dvw, dm, W, 0, RETNET_CUDA_F32)},
            {"step_window vw NULL", SW(dS, dkw, NULL, dm, W, 0, RETNET_CUDA_F32)},
            {"step_window state NULL", SW(NULL, dkw, dvw, dm, W, 0, RETNET_CUDA_F32)},
            {"step_window o_dtype 2", SW(dS, dkw, dvw, dm, W, 0, 2)},
#undef SW
            {"window_flush W = 0",
             retention_cuda_window_flush(B, H, dk, dv, dg, dS, dkw, dvw, dm, 0, 0, NULL)},
            {"window_flush phase = W",
             retention_cuda_window_flush(B, H, dk, dv, dg, dS, dkw, dvw, dm, W, W, NULL)},
            {"window_flush m NULL",
             retention_cuda_window_flush(B, H, dk, dv, dg, dS, dkw, dvw, NULL, W, 0, NULL)},
            {"window_advance m NULL", retention_cuda_window_advance(B, NULL, 0, W, NULL)},
            {"window_advance W = 0", retention_cuda_window_advance(B, dm, 0, 0, NULL)},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            CHECK(bad[i].rc != 0, "%s: accepted (rc 0)", bad[i].what);
        CHECK(retention_cuda_errmsg()[0] != '\0', "refused arguments left no message");
        retnet_cuda_sync(NULL);
        float ogg[32];
        retnet_cuda_download(Sg, dS, sizeof Sg), retnet_cuda_download(ringg, dkw, sizeof ringg);
        retnet_cuda_download(ogg, dO, sizeof ogg), retnet_cuda_download(&mg, dm, sizeof mg);
        CHECK(!memcmp(Sg, S, sizeof S), "refused calls changed the state");
        CHECK(!memcmp(ringg, ring, sizeof ring), "refused calls changed the ring");
        CHECK(!memcmp(ogg, og, sizeof og), "refused calls wrote o");
        CHECK(mg == 0, "refused calls changed m (%d)", mg);
        /* the same buffers are good: the call itself is accepted */
        const int rc = retention_cuda_step_window(B, H, dk, dv, dq, dkk, dvv, dg, sc, dS, dkw, dvw,
                                                  dm, W, 0, dO, RETNET_CUDA_F32, NULL);
        CHECK(rc == 0, "step_window on the refused calls' buffers: %s", retention_cuda_errmsg());
        retnet_cuda_sync(NULL);
    }
    retnet_cuda_free(dq), retnet_cuda_free(dkk), retnet_cuda_free(dvv), retnet_cuda_free(dkw);
    retnet_cuda_free(dvw), retnet_cuda_free(dO), retnet_cuda_free(dg), retnet_cuda_free(dS);
    retnet_cuda_free(dm);
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

/* retention_cuda_forward_rows: o as retention_cuda_forward's (the CPU's, test_forward_and_
 * step's rule) and the row sums r_n = sum_{m <= n} gamma^(n-m) scale q_n . k_m, the sum of
 * the 8 slots, against double. r is formed in fp32 from the bf16 inputs (the scores before
 * their bf16 rounding, the key sums in fp32): its error is fp32 rounding over sums of T dk
 * terms, so 1e-4 of max |r| (a wrong slot, decay or carry errs by O(1) of it). Every slot
 * must be written (the buffer starts as NaN). Shapes: one block taking all 8 slots (dv 8),
 * 4 and 8 blocks a head, 16 (blocks past slot 7 write none), partial chunks. */
static void test_forward_rows(void) {
    if (!retention_cuda_have_rows()) {
        fprintf(stderr, "     (no wgmma kernel here: retention_cuda_forward_rows not tested)\n");
        return;
    }
    static const int shapes[][5] = {{2, 100, 2, 64, 128}, {1, 130, 2, 128, 256},
                                    {2, 100, 2, 32, 8},   {4, 70, 8, 256, 512},
                                    {1, 200, 2, 256, 512}, {2, 128, 3, 128, 64}};
    uint64_t s = (seed0 * 13) | 1;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int B = shapes[si][0], T = shapes[si][1], H = shapes[si][2], dk = shapes[si][3],
                  dv = shapes[si][4];
        const int64_t nq = (int64_t)B * T * H * dk, nv = (int64_t)B * T * H * dv,
                      nr = (int64_t)B * T * H, ns = (int64_t)B * H * dk * dv;
        float *q = malloc(4 * nq), *k = malloc(4 * nq), *v = malloc(4 * nv), *o = malloc(4 * nv);
        float *S = malloc(4 * ns), *og = malloc(4 * nv), *r8 = malloc(4 * nr * 8);
        uint16_t *qb = malloc(2 * nq), *kb = malloc(2 * nq), *vb = malloc(2 * nv);
        rand_bf16(q, qb, nq, 1, &s), rand_bf16(k, kb, nq, 1, &s), rand_bf16(v, vb, nv, 1, &s);
        double gd[8];
        float gf[8];
        for (int h = 0; h < H; h++) gd[h] = 1.0 - ldexp(1.0, -5 - h), gf[h] = (float)gd[h];
        const float scale = (float)(1.0 / sqrt((double)dk));
        cpu_forward(B, T, H, dk, dv, q, k, v, gd, scale, NULL, o, S);
        void *dq = up(qb, 2 * nq), *dkk = up(kb, 2 * nq), *dvv = up(vb, 2 * nv);
        float *dg = up(gf, 4 * H), *dO = NULL;
        for (int64_t i = 0; i < nr * 8; i++) r8[i] = NAN;
        float *dr8 = up(r8, 4 * nr * 8);
        retnet_cuda_malloc((void **)&dO, 4 * nv, "o");
        const int rc = retention_cuda_forward_rows(B, T, H, dk, dv, dq, dkk, dvv, dg, scale, dO,
                                                   RETNET_CUDA_F32, dr8, NULL);
        CHECK(rc == 0, "forward_rows: %s", retention_cuda_errmsg());
        retnet_cuda_sync(NULL);
        retnet_cuda_download(og, dO, 4 * nv), retnet_cuda_download(r8, dr8, 4 * nr * 8);
        char what[96];
        snprintf(what, sizeof what, "forward+rows B%d T%d H%d dk%d dv%d: o", B, T, H, dk, dv);
        check_close(og, o, nv, what);
        double err = 0, mx = 0;
        double *z = malloc(sizeof(double) * dk);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                for (int i = 0; i < dk; i++) z[i] = 0;
                for (int t = 0; t < T; t++) {
                    const int64_t row = ((int64_t)b * T + t) * H + h;
                    double want = 0;
                    for (int i = 0; i < dk; i++) {
                        z[i] = gd[h] * z[i] + k[row * dk + i];
                        want += (double)q[row * dk + i] * z[i];
                    }
                    want *= scale;
                    float got = 0.0f;
                    for (int sl = 0; sl < 8; sl++) got += r8[row * 8 + sl];
                    err = fmax(err, isnan(got) ? INFINITY : fabs(got - want));
                    mx = fmax(mx, fabs(want));
                }
            }
        CHECK(err <= 1e-4 * mx, "forward+rows B%d T%d H%d dk%d dv%d: r max err %.3g of max %.3g",
              B, T, H, dk, dv, err, mx);
        fprintf(stderr, "     forward+rows B%d T%d H%d dk%d dv%d: r max err %.2e of max %.3g\n", B,
                T, H, dk, dv, err, mx);
        free(z);
        retnet_cuda_free(dq), retnet_cuda_free(dkk), retnet_cuda_free(dvv), retnet_cuda_free(dg);
        retnet_cuda_free(dO), retnet_cuda_free(dr8);
        free(q), free(k), free(v), free(o), free(S), free(og), free(r8), free(qb), free(kb), free(vb);
    }
}

/* retention_cuda_backward_rows: dq and dk with §3's row sums r_n = sum_{m <= n} gamma^(n-m)
 * scale q_n . k_m carried in the passes, against the CPU's backward plus that term in
 * double (dq_n += dr_n scale sum_{m <= n} gamma^(n-m) k_m, dk_m += scale sum_{n >= m}
 * gamma^(n-m) dr_n q_n). dr is made as large as the scores (sqrt(dv)), so a wrong term errs
 * by O(1); once with dout = 0 (the rows alone). dr lies at a row stride of 8 with the other
 * columns large, as the model's dr8 does not have them, so a wrong stride shows. Shapes: a
 * contraction split in halves (dv 512, a full GPU), the one-pass 512 kernel (few blocks),
 * 32-column tiles, partial chunks both ways in time. Tolerance: test_backward's. */
static void test_backward_rows(void) {
    if (!retention_cuda_have_rows()) {
        fprintf(stderr, "     (no wgmma kernel here: retention_cuda_backward_rows not tested)\n");
        return;
    }
    static const int shapes[][5] = {{2, 100, 2, 64, 128}, {1, 130, 2, 128, 256},
                                    {2, 100, 2, 32, 8},   {2, 128, 2, 64, 64},
                                    {4, 70, 8, 256, 512}, {1, 200, 2, 256, 512}};
    uint64_t s = (seed0 * 11) | 1;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int zero_do = 0; zero_do < 2; zero_do++) {
            const int B = shapes[si][0], T = shapes[si][1], H = shapes[si][2],
                      dk = shapes[si][3], dv = shapes[si][4];
            const int64_t nq = (int64_t)B * T * H * dk, nv = (int64_t)B * T * H * dv,
                          nr = (int64_t)B * T * H;
            float *q = malloc(4 * nq), *k = malloc(4 * nq), *v = malloc(4 * nv),
                  *dout = malloc(4 * nv), *dr = malloc(4 * nr * 8);
            uint16_t *qb = malloc(2 * nq), *kb = malloc(2 * nq), *vb = malloc(2 * nv),
                     *db = malloc(2 * nv), *drb = malloc(2 * nr * 8);
            rand_bf16(q, qb, nq, 1, &s), rand_bf16(k, kb, nq, 1, &s), rand_bf16(v, vb, nv, 1, &s);
            rand_bf16(dout, db, nv, zero_do ? 0 : 1, &s);
            rand_bf16(dr, drb, nr * 8, 4 * sqrt((double)dv), &s);
            for (int64_t i = 0; i < nr; i++) /* the columns besides 0: large, never read */
                for (int c = 1; c < 8; c++) drb[i * 8 + c] = op_f32_to_bf16(1e4f);
            double gd[8];
            float gf[8];
            for (int h = 0; h < H; h++) gd[h] = 1.0 - ldexp(1.0, -5 - h), gf[h] = (float)gd[h];
            const float scale = (float)(1.0 / sqrt((double)dk));
            float *cq = calloc(nq, 4), *ck = calloc(nq, 4), *cv = calloc(nv, 4);
            float *ks = malloc(4 * nq);
            for (int64_t i = 0; i < nq; i++) ks[i] = k[i] * scale;
            float *work = malloc(sizeof(float) * (size_t)retention_parallel_backward_work(T, dk, dv));
            double *acc = malloc(sizeof(double) * dk);
            for (int b = 0; b < B; b++)
                for (int h = 0; h < H; h++) {
                    const int64_t oq = ((int64_t)b * T * H + h) * dk, ov = ((int64_t)b * T * H + h) * dv;
                    retention_grad_args a = {
                        .T = T, .dk = dk, .dv = dv, .q = q + oq, .ldq = (int64_t)H * dk,
                        .k = ks + oq, .ldk = (int64_t)H * dk, .v = v + ov, .ldv = (int64_t)H * dv,
                        .dout = dout + ov, .lddo = (int64_t)H * dv, .dq = cq + oq,
                        .lddq = (int64_t)H * dk, .dk_ = ck + oq, .lddk = (int64_t)H * dk,
                        .dv_ = cv + ov, .lddv = (int64_t)H * dv, .gamma = gd[h]};
                    retention_parallel_backward(&a, work);
                    for (int i = 0; i < dk; i++) acc[i] = 0; /* z_n = sum gamma^(n-m) k_m */
                    for (int t = 0; t < T; t++) {
                        const int64_t row = ((int64_t)b * T + t) * H + h;
                        const double drv = dr[row * 8];
                        for (int i = 0; i < dk; i++) {
                            acc[i] = gd[h] * acc[i] + k[row * dk + i];
                            cq[row * dk + i] += (float)(drv * scale * acc[i]);
                        }
                    }
                    for (int i = 0; i < dk; i++) acc[i] = 0; /* sum gamma^(n-m) dr_n q_n */
                    for (int t = T - 1; t >= 0; t--) {
                        const int64_t row = ((int64_t)b * T + t) * H + h;
                        const double drv = dr[row * 8];
                        for (int i = 0; i < dk; i++) {
                            acc[i] = gd[h] * acc[i] + drv * q[row * dk + i];
                            ck[row * dk + i] = (float)(ck[row * dk + i] * scale + scale * acc[i]);
                        }
                    }
                }
            void *dq = up(qb, 2 * nq), *dkk = up(kb, 2 * nq), *dvv = up(vb, 2 * nv),
                 *ddo = up(db, 2 * nv), *ddr = up(drb, 2 * nr * 8);
            float *dg = up(gf, 4 * H), *gq = malloc(4 * nq), *gk = malloc(4 * nq);
            void *oq = NULL, *ok = NULL;
            retnet_cuda_malloc(&oq, 4 * nq, "test"), retnet_cuda_malloc(&ok, 4 * nq, "test");
            const int rc = retention_cuda_backward_rows(B, T, H, dk, dv, dq, dkk, dvv, dg, scale,
                                                        ddo, ddr, 8, oq, ok, RETNET_CUDA_F32, NULL);
            CHECK(rc == 0, "backward_rows: %s", retention_cuda_errmsg());
            retnet_cuda_sync(NULL);
            retnet_cuda_download(gq, oq, 4 * nq), retnet_cuda_download(gk, ok, 4 * nq);
            char what[96];
            snprintf(what, sizeof what, "backward+rows B%d T%d H%d dk%d dv%d%s: dq", B, T, H, dk,
                     dv, zero_do ? " (dO 0)" : "");
            check_close(gq, cq, nq, what);
            snprintf(what, sizeof what, "backward+rows B%d T%d H%d dk%d dv%d%s: dk", B, T, H, dk,
                     dv, zero_do ? " (dO 0)" : "");
            check_close(gk, ck, nq, what);
            retnet_cuda_free(dq), retnet_cuda_free(dkk), retnet_cuda_free(dvv);
            retnet_cuda_free(ddo), retnet_cuda_free(ddr), retnet_cuda_free(dg);
            retnet_cuda_free(oq), retnet_cuda_free(ok);
            free(q), free(k), free(v), free(dout), free(dr), free(qb), free(kb), free(vb);
            free(db), free(drb), free(cq), free(ck), free(cv), free(ks), free(work), free(acc);
            free(gq), free(gk);
        }
}

/* The window's schedule (retention.h's retention_window_len, host code: runs without a GPU)
 * against a simulation of what the step does: a window that starts empty, takes one token a
 * step, and is folded first on the steps where m > 0 and (m + phase) % W == 0. Checks the
 * length before every step, that it never reaches W + 1 (the ring's slots), that a layer's
 * first fold comes at m = W - phase (phase 0: W) and then every W steps. */
static void test_window_schedule(void) {
    int bad = 0;
    for (int W = 1; W <= 64 && !bad; W++)
        for (int phase = 0; phase < W && !bad; phase++) {
            int len = 0, last_fold = -1;
            for (int m = 0; m < 4 * W + 9 && !bad; m++) {
                const int got = retention_window_len(m, phase, W);
                const int fold = m > 0 && (m + phase) % W == 0;
                if (got != len || len > W || (!fold && len == W)) {
                    CHECK(0, "W %d phase %d m %d: window %d, simulated %d%s", W, phase, m, got, len,
                          len > W ? " (past the ring)" : "");
                    bad = 1;
                }
                if (fold) {
                    const int want = last_fold < 0 ? (phase ? W - phase : W) : last_fold + W;
                    if (m != want) {
                        CHECK(0, "W %d phase %d: a fold at m %d, want %d", W, phase, m, want);
                        bad = 1;
                    }
                    last_fold = m, len = 0;
                }
                len++; /* this step's token */
            }
        }
    CHECK(!bad, "the window's schedule");
}

int main(int argc, char **argv) {
    TEST_ONLY(argc, argv); /* names given: only those (compute-sanitizer is slow) */
    RUN(test_window_schedule); /* host code: also without a GPU */
    if (!cuda_test_start("test_cuda_retention", &seed0)) return TEST_SUMMARY();
    if (retnet_cuda_init(0) != RETNET_OK) {
        fprintf(stderr, "CUDA init: %s\n", retnet_errmsg());
        return 1;
    }
    fprintf(stderr, "test_cuda_retention: %s\n", retnet_cuda_device_name());
    RUN_IF(test_forward_and_step);
    RUN_IF(test_step_shapes);
    RUN_IF(test_step_rows);
    RUN_IF(test_step_hn);
    RUN_IF(test_step_window);
    RUN_IF(test_backward);
    RUN_IF(test_backward_rows);
    RUN_IF(test_forward_rows);
    retnet_cuda_shutdown();
    return TEST_SUMMARY();
}
