/*
 * test_cuda_train.c: training on the GPU (retnet_trainer on a model moved with
 * retnet_model_to_device; src/cuda/model_cuda.cu's backward and AdamW) against the CPU's
 * training of the same model, and the device-resident decoding batch (retnet_batch). Without
 * a GPU every test is skipped and the binary reports 0 passed, 0 failed.
 *
 * Tolerance rules (written before the first run on a GPU)
 * --------------------------------------------------------
 * Gradients. The GPU rounds every product operand to bf16 (u16 = 2^-8 relative, bf16's unit roundoff); the CPU is
 * float32. test_cuda_model.c counts R_f = 8 L + 1 roundings along the forward; the backward
 * adds, per layer, the operand roundings of d out (twice: FFN and mixer), d h1 and d h2, the
 * retention's d o, d q, d k, d v and d g, and about three inside the retention backward
 * (retention.h), 12 per layer, plus d logits: R = 20 L + 2. The 2-D weights are rounded to
 * bf16 on the CPU too, so that only these roundings differ. Over the whole gradient vector,
 * R independent roundings of variance u16^2 / 3 with a factor 12 of room for the products'
 * gains (the rule of test_cuda_model.c):  NMSE <= 4 R u16^2  (L = 2: 2.6e-3).
 * Per tensor, sums over the n = B T positions cancel (a norm's bias gradient is a column sum
 * of terms of both signs), so the relative error of one tensor can exceed the global one; it
 * is checked by direction: cos(g_gpu, g_cpu) >= 1 - 8 R u16^2 (L = 2: 0.9949), i.e. a
 * per-tensor NMSE up to 4x the global bound. A missing or wrong term of the backward moves
 * a tensor's gradient by O(1) of its norm: the control below (GPU gradients against the
 * CPU's for other targets) must fail both checks.
 *
 * Loss curve. 50 AdamW steps from the same initialisation on the same batches (a Markov
 * chain's tokens, learnable), CPU float32 vs GPU mixed precision: Adam normalises each
 * update, so a relative gradient error e changes each update by about e; the parameters
 * drift apart by a growing fraction of the updates and the losses with them. With the
 * per-step gradient error above (sqrt(NMSE) ~ 5%), allow |loss_gpu - loss_cpu| <= 2% of
 * the first step's loss at every step, and 1% for the mean of the last 10 steps; both runs
 * must learn (last loss < 0.75 of the first).
 *
 * Resume. The GPU's kernels are deterministic, so 25 steps, retnet_trainer_save, a new
 * model and trainer, retnet_trainer_load and 25 more steps give the losses of 50 steps in one
 * run bit for bit.
 */
#include "cuda/cuda.h"
#include "cuda/model_cuda.h"
#include "model.h"
#include "ops/ops.h"
#include "../test.h"
#include "cuda_test.h"

#include <unistd.h>

#define U16 0x1p-8

/* A random model; its 2-D weights rounded to bf16 when `round`. */
static retnet_model *make_model(const retnet_config *c, uint64_t seed, int round) {
    retnet_model *m = NULL;
    OK(retnet_model_create(c, &m));
    if (!m) return NULL;
    OK(retnet_model_init(m, seed));
    if (round)
        for (int32_t t = 0; t < retnet_model_tensor_count(m); t++) {
            retnet_tensor x;
            retnet_model_tensor(m, t, &x);
            if (x.ndim == 2)
                for (int64_t j = 0; j < x.numel; j++) x.data[j] = bf16_round(x.data[j]);
        }
    return m;
}

static double dot(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* GPU gradients against CPU gradients: NMSE of the whole vector, cosine per tensor. Returns
 * the number of violations (the control expects > 0); `report` prints the figures. */
static int compare_grads(const retnet_model *m, const float *gg, const float *gc, double R,
                         const char *name, int report) {
    const int64_t np = m->n_params;
    double num = 0, den = 0;
    for (int64_t i = 0; i < np; i++) {
        double e = (double)gg[i] - gc[i];
        num += e * e, den += (double)gc[i] * gc[i];
    }
    double nmse = den > 0 ? num / den : 0, tol = 4 * R * U16 * U16, ctol = 1 - 8 * R * U16 * U16;
    int bad = !(nmse <= tol);
    double worst = 1;
    const char *worst_name = "";
    for (int32_t t = 0; t < m->n_tensors; t++) {
        const retnet_param_desc *p = &m->table[t];
        const float *a = gg + p->offset, *b = gc + p->offset;
        double ab = dot(a, b, p->numel), aa = dot(a, a, p->numel), bb = dot(b, b, p->numel);
        double cs = aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1 : 0);
        if (cs < worst) worst = cs, worst_name = p->name;
        if (!(cs >= ctol)) {
            bad++;
            if (report) CHECK(0, "%s: tensor %s: cos(gpu, cpu) %.6f < %.6f", name, p->name, cs, ctol);
        }
    }
    if (report) {
        CHECK(nmse <= tol, "%s: gradient NMSE %.3g > %.3g", name, nmse, tol);
        fprintf(stderr, "     %-40s grads NMSE %.3g (tol %.3g); worst cos %.6f (%s; tol %.6f)\n",
                name, nmse, tol, worst, worst_name, ctol);
    }
    return bad;
}

/* One forward/backward of B x T random tokens on both; gradients compared; a control with
 * other targets must fail. */
static void grads_case(const retnet_config *c, uint64_t seed, int32_t B, int32_t T,
                       const char *name, float dropout) {
    retnet_model *cpu = make_model(c, seed, 1), *gpu = make_model(c, seed, 1);
    if (!cpu || !gpu) goto out;
    OK(retnet_model_to_device(gpu, "cuda"));
    if (!gpu->device) goto out;
    {
        const int64_t n = (int64_t)B * T, np = cpu->n_params;
        uint64_t s = seed * 31 + 7;
        int32_t *tok = malloc(sizeof(int32_t) * (size_t)n), *tgt = malloc(sizeof(int32_t) * (size_t)n);
        int32_t *tgt2 = malloc(sizeof(int32_t) * (size_t)n);
        rand_tokens(tok, n, c->vocab, &s);
        rand_tokens(tgt, n, c->vocab, &s);
        rand_tokens(tgt2, n, c->vocab, &s);
        tgt[3] = -1; /* an ignored position */
        float *gc = malloc(sizeof(float) * (size_t)np), *gc2 = malloc(sizeof(float) * (size_t)np);
        float *gg = malloc(sizeof(float) * (size_t)np);
        retnet_trainer *tc = NULL, *tg = NULL;
        OK(retnet_trainer_create(cpu, &tc));
        OK(retnet_trainer_create(gpu, &tg));
        CHECK(tg && !strncmp(retnet_trainer_device(tg), "cuda", 4), "trainer device %s",
              tg ? retnet_trainer_device(tg) : "none");
        retnet_train_opts o = {.form = RETNET_FORM_CHUNKWISE, .chunk = 0, .dropout = dropout,
                               .seed = seed * 977 + 3};
        double lc = 0, lg = 0, ln = 0, gn = 0;
        int64_t cc = 0, cg = 0;
        const float scale = 1.0f / (float)(n - 1);
        OK(retnet_forward_backward(cpu, tok, tgt, B, T, &o, scale, (memset(gc, 0, sizeof(float) * (size_t)np), gc), &lc, &cc));
        OK(retnet_forward_backward(cpu, tok, tgt2, B, T, &o, scale, (memset(gc2, 0, sizeof(float) * (size_t)np), gc2), NULL, NULL));
        /* the buffer holds another batch's gradients before zero_grad: whatever it leaves
         * (a range not zeroed, a product that adds instead of writing: RETNET_CUDA_GRAD_WRITE)
         * shows against the CPU */
        OK(retnet_trainer_accumulate(tg, tok, tgt2, B, T, &o, scale, NULL, NULL));
        OK(retnet_trainer_zero_grad(tg));
        OK(retnet_trainer_accumulate(tg, tok, tgt, B, T, &o, scale, &lg, &cg));
        OK(model_cuda_train_download(gpu->device, NULL, NULL, NULL, gg));
        OK(retnet_trainer_grad_norm(tg, &gn));
        ln = sqrt(dot(gg, gg, np));
        CHECK(cc == n - 1 && cg == cc, "%s: counted %lld (gpu) and %lld (cpu), want %lld", name,
              (long long)cg, (long long)cc, (long long)(n - 1));
        const double R = 20.0 * c->n_layer + 2;
        CHECK(fabs(lg - lc) <= 8 * c->n_layer * U16 * fabs(lc) + 1e-9,
              "%s: loss %.9g (gpu) vs %.9g (cpu)", name, lg, lc);
        CHECK(fabs(gn - ln) <= 1e-6 * ln, "%s: grad norm %.9g, from the downloaded grads %.9g",
              name, gn, ln);
        compare_grads(cpu, gg, gc, R, name, 1);
        int bad = compare_grads(cpu, gg, gc2, R, name, 0);
        CHECK(bad > 0, "%s: the control (other targets) passed the gradient checks", name);
        if (dropout > 0) { /* the masks must act: the CPU without dropout, or with other masks */
            retnet_train_opts o2 = o;
            o2.dropout = 0;
            OK(retnet_forward_backward(cpu, tok, tgt, B, T, &o2, scale, (memset(gc2, 0, sizeof(float) * (size_t)np), gc2), NULL, NULL));
            CHECK(compare_grads(cpu, gg, gc2, R, name, 0) > 0,
                  "%s: the control (no dropout on the cpu) passed the gradient checks", name);
            o2.dropout = dropout, o2.seed = o.seed + 1;
            OK(retnet_forward_backward(cpu, tok, tgt, B, T, &o2, scale, (memset(gc2, 0, sizeof(float) * (size_t)np), gc2), NULL, NULL));
            CHECK(compare_grads(cpu, gg, gc2, R, name, 0) > 0,
                  "%s: the control (other masks on the cpu) passed the gradient checks", name);
        }
        /* a second accumulate adds: twice the gradients */
        float *gg2 = malloc(sizeof(float) * (size_t)np);
        OK(retnet_trainer_accumulate(tg, tok, tgt, B, T, &o, scale, NULL, NULL));
        OK(model_cuda_train_download(gpu->device, NULL, NULL, NULL, gg2));
        /* fp32 additions (a product's beta = 1 may add split-K partials one by one): NMSE
         * of a few fp32 epsilons squared */
        double e2 = 0, r2 = 0;
        for (int64_t i = 0; i < np; i++)
            e2 += (gg2[i] - 2.0 * gg[i]) * (gg2[i] - 2.0 * gg[i]), r2 += 4.0 * gg[i] * gg[i];
        CHECK(e2 <= 1e-12 * r2, "%s: two accumulates are not twice one (nmse %.3g)", name,
              e2 / r2);
        fprintf(stderr, "     %-40s loss %.6f vs %.6f\n", name, lg, lc);
        retnet_trainer_free(tc);
        retnet_trainer_free(tg);
        free(tok), free(tgt), free(tgt2), free(gc), free(gc2), free(gg), free(gg2);
    }
out:
    retnet_model_free(cpu);
    retnet_model_free(gpu);
}

static void test_gradients(void) {
    retnet_config c = fla_like(300, 64, 2, 2, 2);
    grads_case(&c, 5, 2, 100, "fla variant", 0);
    grads_case(&c, 11, 2, 100, "fla variant, dropout 0.1", 0.1f);

    c = fla_like(300, 64, 2, 2, 2); /* the paper's variant without §3 */
    c.norm = RETNET_NORM_LAYERNORM, c.head_norm = RETNET_HEADNORM_GROUPNORM;
    c.ffn = RETNET_FFN_GELU, c.ffn_act = RETNET_ACT_GELU, c.rope = RETNET_ROPE_PAPER;
    c.tie_embeddings = 1, c.embed_scale = 1;
    grads_case(&c, 6, 2, 90, "paper, normalize off, tied", 0);
    grads_case(&c, 12, 2, 90, "paper, normalize off, tied, dropout 0.3", 0.3f);

    c = fla_like(200, 128, 2, 4, 1); /* no gate, no head norm */
    c.gate = 0, c.head_norm = RETNET_HEADNORM_NONE, c.head_norm_affine = 0;
    c.decay = RETNET_DECAY_SINGLE;
    grads_case(&c, 7, 3, 64, "no gate, no head norm", 0);

    c = fla_like(200, 128, 2, 2, 2); /* GLU with gelu, groupnorm without affine */
    c.ffn_act = RETNET_ACT_GELU, c.head_norm = RETNET_HEADNORM_GROUPNORM, c.head_norm_affine = 0;
    grads_case(&c, 8, 1, 200, "glu-gelu, groupnorm w/o affine", 0);

    /* §3 on (src/cuda/retention_norm.cu): the paper preset, whose groupnorm divides the row
     * factor out but for eps, and no head norm, where the factor's gradient reaches the
     * weights whole */
    OK(retnet_config_preset("tiny", &c));
    grads_case(&c, 9, 2, 80, "paper preset tiny, normalize on", 0);
    c = fla_like(200, 128, 2, 2, 2);
    c.normalize = 1, c.head_norm = RETNET_HEADNORM_NONE, c.head_norm_affine = 0;
    grads_case(&c, 10, 2, 100, "normalize on, no head norm", 0);
}

/* Gradients written (the default; RETNET_CUDA_GRAD_WRITE=0 adds them to a zeroed buffer):
 * zero_grads zeros only what a backward adds to, and the backward writes the products'
 * gradients. grads_case checks the accumulate after zero_grad, with another batch's gradients
 * in the buffer before, against the CPU (every tensor: a range left unzeroed, or a product
 * that added to the old values, fails) and that a second one adds; the other tests' models
 * run this way too. The switch's other side on the paper's variant. Then the buffer read
 * right after zero_grads, when the products' gradients of the accumulate before are still on
 * the device, must be zeros: by the grad norm and by a download. */
static void test_grad_write(void) {
    unsetenv("RETNET_CUDA_GRAD_WRITE"); /* read when the model moves */
    retnet_config c = fla_like(300, 64, 2, 2, 2);
    grads_case(&c, 15, 2, 100, "fla variant, written", 0);
    c.norm = RETNET_NORM_LAYERNORM, c.head_norm = RETNET_HEADNORM_GROUPNORM;
    c.ffn = RETNET_FFN_GELU, c.ffn_act = RETNET_ACT_GELU, c.rope = RETNET_ROPE_PAPER;
    c.tie_embeddings = 1, c.embed_scale = 1;
    grads_case(&c, 16, 2, 90, "paper, tied, written", 0);
    setenv("RETNET_CUDA_GRAD_WRITE", "0", 1);
    grads_case(&c, 16, 2, 90, "paper, tied, added to zeros", 0);
    unsetenv("RETNET_CUDA_GRAD_WRITE");
    OK(retnet_config_preset("tiny", &c));
    grads_case(&c, 17, 2, 80, "paper preset tiny, written", 0);

    c = fla_like(300, 64, 2, 2, 2);
    retnet_model *gpu = make_model(&c, 18, 1);
    if (gpu) OK(retnet_model_to_device(gpu, "cuda"));
    if (gpu && gpu->device) {
        const int32_t B = 2, T = 50;
        const int64_t n = (int64_t)B * T, np = gpu->n_params;
        uint64_t s = 99;
        int32_t *tok = malloc(sizeof(int32_t) * (size_t)n), *tgt = malloc(sizeof(int32_t) * (size_t)n);
        rand_tokens(tok, n, c.vocab, &s), rand_tokens(tgt, n, c.vocab, &s);
        float *gg = malloc(sizeof(float) * (size_t)np);
        retnet_trainer *tg = NULL;
        OK(retnet_trainer_create(gpu, &tg));
        retnet_train_opts o = {.form = RETNET_FORM_CHUNKWISE};
        double gn = -1;
        OK(retnet_trainer_zero_grad(tg));
        OK(retnet_trainer_accumulate(tg, tok, tgt, B, T, &o, 1.0f / (float)n, NULL, NULL));
        OK(retnet_trainer_zero_grad(tg)); /* the products' gradients now stale on the device */
        OK(retnet_trainer_grad_norm(tg, &gn));
        CHECK(gn == 0.0, "grad norm right after zero_grad: %.9g, want 0", gn);
        OK(retnet_trainer_zero_grad(tg));
        OK(model_cuda_train_download(gpu->device, NULL, NULL, NULL, gg));
        int64_t nz = 0;
        for (int64_t i = 0; i < np; i++) nz += gg[i] != 0.0f;
        CHECK(nz == 0, "%lld gradients not zero right after zero_grad", (long long)nz);
        retnet_trainer_free(tg);
        free(tok), free(tgt), free(gg);
    }
    retnet_model_free(gpu);
}

/* ---- the loss curve ------------------------------------------------------------------- */

enum { CV = 64, CB = 8, CT = 128, STEPS = 50 };

/* A Markov chain over CV tokens, each followed by one of 4 successors (entropy <= ln 4):
 * learnable, deterministic. Batch k of step `step`: windows at fixed pseudo-random offsets. */
static void chain_batch(const int32_t *stream, int64_t len, int step, int32_t *in, int32_t *tg) {
    uint64_t s = 1000003u * (uint64_t)step + 17;
    for (int b = 0; b < CB; b++) {
        int64_t off = (int64_t)((test_rand(&s) + 1) * 0.5 * (double)(len - CT - 1));
        for (int t = 0; t < CT; t++) in[b * CT + t] = stream[off + t], tg[b * CT + t] = stream[off + t + 1];
    }
}

static int32_t *chain_stream(int64_t len) {
    int32_t *x = malloc(sizeof(int32_t) * (size_t)len), next[CV][4];
    uint64_t s = 99;
    for (int i = 0; i < CV; i++)
        for (int j = 0; j < 4; j++) next[i][j] = (int32_t)((test_rand(&s) + 1) * 0.5 * CV) % CV;
    x[0] = 0;
    for (int64_t i = 1; i < len; i++) {
        double u = (test_rand(&s) + 1) * 0.5; /* successors with probabilities .55 .25 .15 .05 */
        int j = u < 0.55 ? 0 : u < 0.80 ? 1 : u < 0.95 ? 2 : 3;
        x[i] = next[x[i - 1]][j];
    }
    return x;
}

/* Steps [from, to) of the run on trainer t (1-based steps), losses into loss[step - 1]. */
static void run_steps(retnet_trainer *t, const int32_t *stream, int64_t len, int from, int to,
                      double *loss) {
    int32_t in[CB * CT], tg[CB * CT];
    retnet_train_opts o = {.form = RETNET_FORM_CHUNKWISE};
    retnet_adamw h = {.lr = 0, .beta1 = 0.9f, .beta2 = 0.98f, .eps = 1e-8f, .weight_decay = 0.01f};
    for (int step = from; step < to; step++) {
        chain_batch(stream, len, step, in, tg);
        h.lr = (float)retnet_lr_schedule(step, STEPS, 5, 3e-3, 3e-4, 1);
        double ls = 0, gn = 0;
        int64_t cnt = 0;
        OK(retnet_trainer_zero_grad(t));
        OK(retnet_trainer_accumulate(t, in, tg, CB, CT, &o, 1.0f / (CB * CT), &ls, &cnt));
        OK(retnet_trainer_grad_norm(t, &gn));
        OK(retnet_trainer_update(t, step, &h, gn > 1.0 ? (float)(1.0 / gn) : 1.0f));
        loss[step - 1] = ls / (double)(cnt ? cnt : 1);
    }
}

static void test_loss_curve(void) {
    retnet_config c = fla_like(CV, 128, 2, 2, 2);
    const int64_t len = 1 << 16;
    int32_t *stream = chain_stream(len);
    double lc[STEPS], lg[STEPS], lr[STEPS];
    retnet_model *cpu = make_model(&c, 3, 0), *gpu = make_model(&c, 3, 0);
    retnet_trainer *tc = NULL, *tg = NULL;
    if (!cpu || !gpu) goto out;
    OK(retnet_model_to_device(gpu, "cuda"));
    OK(retnet_trainer_create(cpu, &tc));
    OK(retnet_trainer_create(gpu, &tg));
    if (!tc || !tg) goto out;
    run_steps(tc, stream, len, 1, STEPS + 1, lc);
    run_steps(tg, stream, len, 1, STEPS + 1, lg);
    double worst = 0, tail = 0;
    int worst_step = 0;
    for (int i = 0; i < STEPS; i++) {
        double d = fabs(lg[i] - lc[i]);
        if (d > worst) worst = d, worst_step = i + 1;
        if (i >= STEPS - 10) tail += (lg[i] - lc[i]) / 10;
    }
    fprintf(stderr, "     loss step 1 %.4f / %.4f, step 25 %.4f / %.4f, step 50 %.4f / %.4f "
            "(gpu / cpu); worst |d| %.4f at step %d (tol %.4f), last-10 mean d %.4f (tol %.4f)\n",
            lg[0], lc[0], lg[24], lc[24], lg[49], lc[49], worst, worst_step, 0.02 * lc[0], tail,
            0.01 * lc[0]);
    CHECK(worst <= 0.02 * lc[0], "loss curves differ by %.4f at step %d", worst, worst_step);
    CHECK(fabs(tail) <= 0.01 * lc[0], "last 10 steps differ by %.4f on average", tail);
    CHECK(lc[STEPS - 1] < 0.75 * lc[0] && lg[STEPS - 1] < 0.75 * lg[0],
          "no learning: cpu %.4f -> %.4f, gpu %.4f -> %.4f", lc[0], lc[STEPS - 1], lg[0],
          lg[STEPS - 1]);

    /* resume: 25 steps, save, a new model and trainer, load, 25 more: the same bits */
    {
        char path[64];
        snprintf(path, sizeof path, "/tmp/retnet-cuda-train-%d.safetensors", (int)getpid());
        retnet_model *a = make_model(&c, 3, 0), *b = NULL;
        retnet_trainer *ta = NULL, *tb = NULL;
        OK(retnet_model_to_device(a, "cuda"));
        OK(retnet_trainer_create(a, &ta));
        run_steps(ta, stream, len, 1, 26, lr);
        OK(retnet_trainer_save(ta, path, 25, "{}"));
        retnet_trainer_free(ta);
        retnet_model_free(a);
        OK(retnet_model_create(&c, &b)); /* zero weights until the load */
        OK(retnet_model_to_device(b, "cuda"));
        OK(retnet_trainer_create(b, &tb));
        int64_t step = 0;
        OK(retnet_trainer_load(tb, path, &step, NULL, 0));
        CHECK(step == 25, "resumed at step %lld", (long long)step);
        run_steps(tb, stream, len, 26, STEPS + 1, lr);
        CHECK(!memcmp(lr, lg, sizeof lr), "resumed GPU run differs from the uninterrupted one "
              "(step 50: %.17g vs %.17g)", lr[49], lg[49]);
        /* the synced host weights are the device's master weights */
        OK(retnet_trainer_sync(tb));
        float *p = malloc(sizeof(float) * (size_t)b->n_params);
        OK(model_cuda_train_download(b->device, p, NULL, NULL, NULL));
        CHECK(!memcmp(p, b->params, sizeof(float) * (size_t)b->n_params), "sync: host weights "
              "differ from the master weights");
        free(p);
        retnet_trainer_free(tb);
        retnet_model_free(b);
        unlink(path);
    }
out:
    retnet_trainer_free(tc);
    retnet_trainer_free(tg);
    retnet_model_free(cpu);
    retnet_model_free(gpu);
    free(stream);
}

/* What the GPU trainer refuses: dropout outside [0, 1), the recurrent form, out-of-range
 * targets. */
static void test_refused(void) {
    retnet_config c = fla_like(50, 64, 1, 2, 1);
    retnet_model *m = make_model(&c, 1, 0);
    retnet_trainer *t = NULL;
    if (!m) return;
    OK(retnet_model_to_device(m, "cuda"));
    OK(retnet_trainer_create(m, &t));
    if (t) {
        int32_t tok[8] = {1, 2, 3, 4, 5, 6, 7, 8}, tg[8] = {2, 3, 4, 5, 6, 7, 8, 9};
        retnet_train_opts o = {.form = RETNET_FORM_CHUNKWISE, .dropout = 1.0f};
        retnet_status s = retnet_trainer_accumulate(t, tok, tg, 1, 8, &o, 1, NULL, NULL);
        CHECK(s == RETNET_EINVAL && strstr(retnet_errmsg(), "dropout"), "dropout 1: %s",
              retnet_errmsg());
        o.dropout = 0, o.form = RETNET_FORM_RECURRENT;
        s = retnet_trainer_accumulate(t, tok, tg, 1, 8, &o, 1, NULL, NULL);
        CHECK(s == RETNET_EINVAL, "recurrent form: %s", retnet_status_name(s));
        o.form = RETNET_FORM_CHUNKWISE;
        tg[5] = 50;
        s = retnet_trainer_accumulate(t, tok, tg, 1, 8, &o, 1, NULL, NULL);
        CHECK(s == RETNET_EINVAL && strstr(retnet_errmsg(), "out of range"), "target 50: %s",
              retnet_errmsg());
        tg[5] = 7, tok[2] = -1;
        s = retnet_trainer_accumulate(t, tok, tg, 1, 8, &o, 1, NULL, NULL);
        CHECK(s == RETNET_EINVAL, "token -1: %s", retnet_status_name(s));
        retnet_adamw h = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.98f, .eps = 1e-8f};
        s = retnet_trainer_update(t, 1, &h, 0.0f);
        CHECK(s == RETNET_EINVAL, "clip scale 0: %s", retnet_status_name(s));
        retnet_trainer_free(t);
    }
    retnet_model_free(m);
}

/* ---- the device-resident batch --------------------------------------------------------- */

/* model_cuda_argmax on crafted rows, both of its loads (float4 rows; a row start off 16
 * bytes): the first index of the largest value, NaNs never winning, ties to the first. */
static void test_argmax(void) {
    /* rows model_cuda_logits_stride apart (the vocabulary rounded up to 8): 300 (float4s, 4
     * floats of padding) and 301 (float4s and a scalar tail) */
    for (int vi = 0; vi < 2; vi++) {
        retnet_config c = fla_like(vi ? 301 : 300, 128, 2, 2, 2);
        retnet_model *m = make_model(&c, 9, 0);
        if (!m) return;
        OK(retnet_model_to_device(m, "cuda"));
        enum { B = 4 };
        const int32_t V = c.vocab;
        const int64_t ld = model_cuda_logits_stride(m->device);
        CHECK(ld >= V && ld % 8 == 0 && ld < V + 8, "V %d: logits stride %lld", V, (long long)ld);
        float *h = malloc(sizeof(float) * (size_t)(B * ld + 1));
        uint64_t s = 11;
        for (int off = 0; off < 2; off++) {
            for (int64_t i = 0; i < B * ld + 1; i++) h[i] = (float)test_rand(&s); /* in (-1, 1) */
            float *r = h + off;
            for (int b = 0; b < B; b++) /* the padding never wins */
                for (int64_t j = V; j < ld; j++) r[b * ld + j] = 100.0f;
            r[0 * ld + 7] = 5.0f, r[0 * ld + 250] = 5.0f;           /* a tie: 7 */
            r[1 * ld + 3] = NAN, r[1 * ld + V - 1] = 4.0f;          /* NaN loses; the last index */
            for (int j = 0; j < V; j++) r[2 * ld + j] = -INFINITY; /* nothing above -inf: 0 */
            r[2 * ld + 100] = NAN;
            r[3 * ld + 0] = 3.0f, r[3 * ld + 1] = 3.0f;             /* the first index */
            const int32_t want[B] = {7, V - 1, 0, 0};
            float *d = NULL;
            OK(retnet_cuda_malloc((void **)&d, sizeof(float) * (size_t)(B * ld + 1), "argmax test"));
            if (!d) break;
            OK(retnet_cuda_upload(d, h, sizeof(float) * (size_t)(B * ld + 1)));
            int32_t next[B] = {-1, -1, -1, -1};
            OK(model_cuda_argmax(m->device, d + off, B, next));
            for (int b = 0; b < B; b++)
                CHECK(next[b] == want[b], "argmax V %d %s row %d: %d, want %d", V,
                      off ? "off 16 bytes" : "float4 rows", b, next[b], want[b]);
            retnet_cuda_free(d);
        }
        free(h);
        retnet_model_free(m);
    }
}

/* retnet_batch on the GPU: a prefill with logits NULL, argmax, greedy steps; states and
 * choices against the host-state path (retnet_forward on the device), which runs the same
 * kernels: states bit for bit, argmax the largest logit of the host path's row. */
static void test_batch(void) {
    retnet_config c = fla_like(300, 128, 2, 2, 2);
    retnet_model *m = make_model(&c, 9, 0);
    if (!m) return;
    OK(retnet_model_to_device(m, "cuda"));
    enum { B = 3, T = 77, STEPS_B = 6 };
    const int64_t sf = retnet_state_floats(&c);
    int32_t tok[B * T], next[B], ref_next[B];
    uint64_t s = 5;
    rand_tokens(tok, B * T, c.vocab, &s);
    float *hs = calloc((size_t)(B * sf), sizeof(float)), *bs = calloc((size_t)sf, sizeof(float));
    float *lg = malloc(sizeof(float) * (size_t)B * T * c.vocab);
    retnet_state st[B];
    for (int b = 0; b < B; b++) st[b] = (retnet_state){.pos = 0, .data = hs + b * sf};
    retnet_batch *bt = NULL;
    OK(retnet_batch_create(m, B, &bt));
    if (!bt) goto out;
    CHECK(retnet_batch_state_bytes(bt) == 4 * sf, "state bytes %lld", (long long)retnet_batch_state_bytes(bt));
    CHECK(retnet_batch_argmax(bt, next) == RETNET_EINVAL, "argmax before any forward must fail");
    OK(retnet_batch_forward(bt, tok, T, NULL));
    OK(retnet_forward(m, tok, B, T, RETNET_FORM_CHUNKWISE, 0, st, lg));
    for (int k = 0; k <= STEPS_B; k++) {
        const int64_t rows = k == 0 ? T : 1;
        OK(retnet_batch_argmax(bt, next));
        for (int b = 0; b < B; b++) {
            const float *row = lg + ((int64_t)b * rows + rows - 1) * c.vocab;
            int32_t best = 0;
            for (int32_t j = 1; j < c.vocab; j++)
                if (row[j] > row[best]) best = j;
            ref_next[b] = best;
            CHECK(next[b] >= 0 && next[b] < c.vocab && row[next[b]] >= row[best] - 1e-4f * fabsf(row[best]),
                  "step %d seq %d: argmax %d (logit %g), host path's %d (%g)", k, b, next[b],
                  next[b] >= 0 && next[b] < c.vocab ? row[next[b]] : 0.0f, best, row[best]);
            retnet_state one = {.data = bs};
            OK(retnet_batch_get(bt, b, &one));
            CHECK(one.pos == st[b].pos && !memcmp(bs, st[b].data, sizeof(float) * (size_t)sf),
                  "step %d seq %d: batch state differs from the host path (pos %lld vs %lld)", k,
                  b, (long long)one.pos, (long long)st[b].pos);
        }
        if (k == STEPS_B) break;
        OK(retnet_batch_forward(bt, ref_next, 1, NULL));
        OK(retnet_forward(m, ref_next, B, 1, RETNET_FORM_RECURRENT, 0, st, lg));
    }
    /* set: sequence 2 takes sequence 0's state; its next step then matches sequence 0's */
    {
        retnet_state one = {.data = bs};
        OK(retnet_batch_get(bt, 0, &one));
        OK(retnet_batch_set(bt, 2, &one));
        int32_t in[B] = {7, 8, 7};
        float *l3 = malloc(sizeof(float) * (size_t)B * c.vocab);
        OK(retnet_batch_forward(bt, in, 1, l3));
        CHECK(!memcmp(l3, l3 + 2 * (int64_t)c.vocab, sizeof(float) * (size_t)c.vocab),
              "after set, sequence 2 should compute what sequence 0 computes");
        free(l3);
    }
    retnet_state bad = {.data = bs};
    CHECK(retnet_batch_get(bt, B, &bad) == RETNET_EINVAL, "sequence B must be refused");
    /* the model moved (to the CPU, then back: a new device copy, perhaps where the old one
     * was): every call on the batch is refused, the argmax too, which had read the freed
     * copy's ids */
    {
        int32_t in[B] = {1, 2, 3};
        OK(retnet_batch_forward(bt, in, 1, NULL)); /* its logits kept on the device */
        OK(retnet_model_to_device(m, "cpu"));
        CHECK(retnet_batch_argmax(bt, next) == RETNET_EINVAL,
              "argmax after the model moved to the cpu: not refused");
        CHECK(retnet_batch_state_bytes(bt) == 4 * sf, "state bytes after the model moved: %lld",
              (long long)retnet_batch_state_bytes(bt));
        OK(retnet_model_to_device(m, "cuda"));
        CHECK(retnet_batch_forward(bt, in, 1, NULL) == RETNET_EINVAL,
              "forward after the model moved away and back: not refused");
        CHECK(retnet_batch_argmax(bt, next) == RETNET_EINVAL,
              "argmax after the model moved away and back: not refused");
        CHECK(retnet_batch_get(bt, 0, &bad) == RETNET_EINVAL,
              "get after the model moved away and back: not refused");
    }
out:
    retnet_batch_free(bt);
    free(hs), free(bs), free(lg);
    retnet_model_free(m);
}

/* Two batches of one model (B 2 and 3), each step's argmaxes asked for after both forwards,
 * give the ids each batch gives asked for right after its own forward (a second pair of
 * batches, the same tokens): the decoding graph keeps its ids in memory the other batch's
 * argmax rewrites. The two batches' ids must differ somewhere, or the test could not tell. */
static void test_batches_interleaved(void) {
    retnet_config c = fla_like(300, 128, 2, 2, 2);
    retnet_model *m = make_model(&c, 9, 0);
    if (!m) return;
    OK(retnet_model_to_device(m, "cuda"));
    enum { T = 9, STEPS = 5 };
    static const int32_t Bs[2] = {2, 3};
    retnet_batch *bt[2][2] = {{NULL, NULL}, {NULL, NULL}}; /* [interleaved or not][batch] */
    int32_t tok[2][3 * T], next[2][2][3];
    uint64_t s = 17;
    int differ = 0;
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 2; k++) OK(retnet_batch_create(m, Bs[k], &bt[i][k]));
    for (int k = 0; k < 2; k++) rand_tokens(tok[k], Bs[k] * T, c.vocab, &s);
    for (int step = 0; step <= STEPS && bt[0][0] && bt[0][1] && bt[1][0] && bt[1][1]; step++) {
        const int32_t len = step == 0 ? T : 1;
        for (int k = 0; k < 2; k++) OK(retnet_batch_forward(bt[0][k], tok[k], len, NULL));
        for (int k = 0; k < 2; k++) OK(retnet_batch_argmax(bt[0][k], next[0][k]));
        for (int k = 0; k < 2; k++) {
            OK(retnet_batch_forward(bt[1][k], tok[k], len, NULL));
            OK(retnet_batch_argmax(bt[1][k], next[1][k]));
        }
        for (int k = 0; k < 2; k++)
            for (int b = 0; b < Bs[k]; b++) {
                CHECK(next[0][k][b] == next[1][k][b], "step %d batch %d seq %d: %d after both "
                      "forwards, %d after its own", step, k, b, next[0][k][b], next[1][k][b]);
                tok[k][b] = next[1][k][b]; /* the next step's tokens */
            }
        differ |= next[1][0][0] != next[1][1][0] || next[1][0][1] != next[1][1][1];
    }
    CHECK(differ, "the two batches chose the same ids at every step: the test cannot tell");
    /* each batch's one-token steps replay its own graph: one capture a batch, where a single
     * graph a model captured again at every step (4 a round) */
    const int64_t caps = model_cuda_graph_captures(m->device);
    const char *ge = getenv("RETNET_CUDA_GRAPHS");
    const int64_t want = ge && !strcmp(ge, "0") ? 0 : 4;
    CHECK(caps == want, "%lld decoding graphs captured for 4 batches of %d steps (want %lld)",
          (long long)caps, STEPS, (long long)want);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 2; k++) retnet_batch_free(bt[i][k]);
    retnet_model_free(m);
}

/* Decoding, then training, then decoding again on the same batch: a trainer moves the
 * model's fp32 weights (into its master copy) and frees where they were, so a graph captured
 * before must not be replayed after. Batch 1 decodes (its graph captured), one AdamW step
 * changes the weights, then batch 1 and batch 2 (a new batch given batch 1's states) take the
 * same steps: the same ids and the same states, bit for bit. The step must move the logits
 * (else stale weights could not show). */
static void test_graphs_after_train(void) {
    retnet_config c = fla_like(300, 128, 2, 2, 2);
    retnet_model *m = make_model(&c, 13, 0);
    if (!m) return;
    OK(retnet_model_to_device(m, "cuda"));
    enum { B = 2, T = 9, STEPS = 4 };
    retnet_batch *b1 = NULL, *b2 = NULL;
    retnet_trainer *tr = NULL;
    const int64_t sf = retnet_state_floats(&c);
    float *s1 = calloc((size_t)sf, sizeof(float)), *s2 = calloc((size_t)sf, sizeof(float));
    int32_t tok[B * T], tgt[B * T], n1[B], n2[B], nb[B];
    uint64_t s = 29;
    rand_tokens(tok, B * T, c.vocab, &s), rand_tokens(tgt, B * T, c.vocab, &s);
    OK(retnet_batch_create(m, B, &b1));
    OK(retnet_batch_create(m, B, &b2));
    if (!b1 || !b2) goto out;
    OK(retnet_batch_forward(b1, tok, T, NULL));
    for (int k = 0; k < STEPS; k++) { /* one-token steps: the graph */
        OK(retnet_batch_argmax(b1, n1));
        OK(retnet_batch_forward(b1, n1, 1, NULL));
    }
    OK(retnet_batch_argmax(b1, nb));
    OK(retnet_trainer_create(m, &tr));
    if (!tr) goto out;
    const retnet_train_opts o = {.form = RETNET_FORM_CHUNKWISE};
    const retnet_adamw h = {.lr = 0.05f, .beta1 = 0.9f, .beta2 = 0.98f, .eps = 1e-8f};
    OK(retnet_trainer_zero_grad(tr));
    OK(retnet_trainer_accumulate(tr, tok, tgt, B, T, &o, 1.0f / (B * T), NULL, NULL));
    OK(retnet_trainer_update(tr, 1, &h, 1.0f));
    for (int32_t b = 0; b < B; b++) {
        retnet_state st = {.data = s1};
        OK(retnet_batch_get(b1, b, &st));
        OK(retnet_batch_set(b2, b, &st));
    }
    for (int k = 0; k < STEPS; k++) {
        const int32_t *in = k ? n1 : nb;
        int32_t feed[B];
        memcpy(feed, in, sizeof feed);
        OK(retnet_batch_forward(b1, feed, 1, NULL));
        OK(retnet_batch_forward(b2, feed, 1, NULL));
        OK(retnet_batch_argmax(b1, n1));
        OK(retnet_batch_argmax(b2, n2));
        CHECK(!memcmp(n1, n2, sizeof n1), "step %d after training: ids %d %d (the batch decoded "
              "before) against %d %d (a new batch with its states)", k, n1[0], n1[1], n2[0], n2[1]);
    }
    for (int32_t b = 0; b < B; b++) {
        retnet_state a = {.data = s1}, bb = {.data = s2};
        OK(retnet_batch_get(b1, b, &a));
        OK(retnet_batch_get(b2, b, &bb));
        CHECK(!memcmp(s1, s2, sizeof(float) * (size_t)sf), "sequence %d: states differ after "
              "training (the batch decoded before against a new one)", b);
    }
    /* the control: the trained weights give other logits than the weights before */
    {
        retnet_model *m0 = make_model(&c, 13, 0);
        float *l0 = malloc(sizeof(float) * (size_t)(B * T * c.vocab));
        float *l1 = malloc(sizeof(float) * (size_t)(B * T * c.vocab));
        if (m0 && l0 && l1) {
            OK(retnet_forward(m0, tok, B, T, RETNET_FORM_CHUNKWISE, 0, NULL, l0));
            OK(retnet_forward(m, tok, B, T, RETNET_FORM_CHUNKWISE, 0, NULL, l1));
            double d = 0, mx = 0;
            for (int64_t i = 0; i < (int64_t)B * T * c.vocab; i++)
                d = fmax(d, fabs(l1[i] - l0[i])), mx = fmax(mx, fabs(l0[i]));
            CHECK(d > 0.05 * mx, "the training step moved the logits by %.3g of %.3g only", d, mx);
        }
        free(l0), free(l1);
        retnet_model_free(m0);
    }
out:
    retnet_trainer_free(tr);
    retnet_batch_free(b1), retnet_batch_free(b2);
    free(s1), free(s2);
    retnet_model_free(m);
}

/* A decoding step captured as one CUDA graph computes what the same step launched op by op
 * computes, bit for bit (argmax and states), for RetNet and for the Transformer (whose graph
 * sizes the attention's grid for the whole cache, each row still split by its own length).
 * The op-by-op side runs without programmatic dependent launch (RETNET_CUDA_PDL=0), the graph
 * with it: a kernel reading its inputs before the kernel before it has written them would
 * differ. Batches of 2 and 12 (the decoding products' FMA kernel, and the mma kernel with two
 * tiles of x rows: src/cuda/gemv.cu). */
static void test_graphs(void) {
    static const char *names[] = {"retnet", "transformer", "retnet, normalize on",
                                  "retnet, window 4", "retnet, normalize on, window 4"};
    /* RetNet, the Transformer, RetNet with §3; B 2, 12 (the gemv's one and two tiles), 24
     * (cuBLASLt); then the decoding window (RETNET_CUDA_WINDOW, model_cuda.cu's win_of) at
     * W = 4 from any size, 12 steps: three folds of each layer, the graph's window count
     * advanced inside it */
    for (int run = 0; run < 13; run++) {
        const int win = run >= 9;
        const int tf = win ? (run == 11 ? 2 : 0) : run % 3;
        const int B = win ? (int[]){2, 12, 12, 24}[run - 9] : run < 3 ? 2 : run < 6 ? 12 : 24;
        const char *name = names[win ? (tf == 2 ? 4 : 3) : tf];
        retnet_config c = fla_like(300, 128, 2, 2, 2);
        if (tf == 1) OK(retnet_config_preset("tf-tiny", &c));
        if (tf == 2) c.normalize = 1;
        c.context = 128;
        retnet_model *m[2] = {NULL, NULL};
        retnet_batch *bt[2] = {NULL, NULL};
        enum { BMAX = 24, T = 37, STEPS = 12 };
        const int64_t sf = retnet_state_floats(&c);
        float *s0 = calloc((size_t)sf, sizeof(float)), *s1 = calloc((size_t)sf, sizeof(float));
        for (int g = 0; g < 2; g++) {
            m[g] = make_model(&c, 11, 0);
            if (!m[g]) goto out;
            setenv("RETNET_CUDA_GRAPHS", g ? "1" : "0", 1); /* read when the model moves */
            setenv("RETNET_CUDA_PDL", g ? "1" : "0", 1);
            if (win) setenv("RETNET_CUDA_WINDOW", "4,0", 1);
            OK(retnet_model_to_device(m[g], "cuda"));
            OK(retnet_batch_create(m[g], B, &bt[g]));
            if (!bt[g]) goto out;
        }
        unsetenv("RETNET_CUDA_GRAPHS"), unsetenv("RETNET_CUDA_PDL"), unsetenv("RETNET_CUDA_WINDOW");
        int32_t tok[BMAX * T], next[2][BMAX];
        uint64_t s = 21;
        rand_tokens(tok, B * T, c.vocab, &s);
        for (int g = 0; g < 2; g++) OK(retnet_batch_forward(bt[g], tok, T, NULL));
        for (int k = 0; k < STEPS; k++) {
            for (int g = 0; g < 2; g++) OK(retnet_batch_argmax(bt[g], next[g]));
            CHECK(!memcmp(next[0], next[1], sizeof(int32_t) * B), "%s B %d step %d: argmax differs "
                  "with graphs (%d %d) and without (%d %d)", name, B, k,
                  next[1][0], next[1][1], next[0][0], next[0][1]);
            for (int g = 0; g < 2; g++) OK(retnet_batch_forward(bt[g], next[0], 1, NULL));
        }
        for (int b = 0; b < B; b++) {
            retnet_state a = {.data = s0}, bb = {.data = s1};
            OK(retnet_batch_get(bt[0], b, &a));
            OK(retnet_batch_get(bt[1], b, &bb));
            CHECK(a.pos == T + STEPS && bb.pos == a.pos &&
                      !memcmp(s0, s1, sizeof(float) * (size_t)sf),
                  "%s B %d seq %d: the state after %d steps differs with graphs (pos %lld, %lld)",
                  name, B, b, STEPS, (long long)bb.pos, (long long)a.pos);
        }
    out:
        for (int g = 0; g < 2; g++) retnet_batch_free(bt[g]), retnet_model_free(m[g]);
        free(s0), free(s1);
    }
}

/* On the device, retnet_batch_greedy (n steps queued at once, each step's tokens fed from the
 * graph's argmax on the device) against retnet_batch_argmax + retnet_batch_forward one step at
 * a time on a second batch of the same model: the same graph replays, so the same ids, the
 * same states and the same next ids, bit for bit. RetNet at B 1, 3 and 12 (the gemv's second
 * tile), with the decoding window (W 4: folds inside the run), the Transformer (its cache
 * refused past the context, nothing changed), without graphs (retnet_batch_greedy's own
 * loop of argmax + forward), and in runs of 5 (RETNET_CUDA_GREEDY_RUN: the ids copied out
 * after each run). RetNet's ids must change over the run, or a run that fed the same token
 * every step could pass. */
static void test_greedy(void) {
    for (int run = 0; run < 7; run++) {
        const int tf = run == 4, nograph = run == 5, win = run == 3;
        const int B = (int[]){1, 3, 12, 3, 3, 3, 3}[run];
        const char *name = (const char *[]){"retnet B 1", "retnet B 3", "retnet B 12",
                                            "retnet B 3, window 4", "transformer B 3",
                                            "retnet B 3, no graphs", "retnet B 3, runs of 5"}[run];
        retnet_config c = fla_like(300, 128, 2, 2, 2);
        if (tf) OK(retnet_config_preset("tf-tiny", &c));
        c.context = 64;
        enum { T = 21, N = 23, BMAX = 12 };
        retnet_model *m = make_model(&c, 13, 0);
        if (!m) return;
        if (nograph) setenv("RETNET_CUDA_GRAPHS", "0", 1); /* read when the model moves */
        if (win) setenv("RETNET_CUDA_WINDOW", "4,0", 1);
        if (run == 6) setenv("RETNET_CUDA_GREEDY_RUN", "5", 1); /* 2, then 5 5 5 5 1 */
        OK(retnet_model_to_device(m, "cuda"));
        unsetenv("RETNET_CUDA_GRAPHS"), unsetenv("RETNET_CUDA_WINDOW");
        unsetenv("RETNET_CUDA_GREEDY_RUN");
        const int64_t sf = retnet_state_floats(&c);
        int32_t tok[BMAX * T], ids[N * BMAX], ref[N * BMAX], na[BMAX], nb[BMAX];
        uint64_t s = 17;
        rand_tokens(tok, B * T, c.vocab, &s);
        float *sa = calloc((size_t)sf, sizeof(float)), *sb = calloc((size_t)sf, sizeof(float));
        retnet_batch *a = NULL, *b = NULL;
        OK(retnet_batch_create(m, B, &a));
        OK(retnet_batch_create(m, B, &b));
        if (!a || !b || !sa || !sb) goto out;
        OK(retnet_batch_forward(a, tok, T, NULL));
        OK(retnet_batch_forward(b, tok, T, NULL));
        OK(retnet_batch_greedy(a, 2, ids));
        OK(retnet_batch_greedy(a, N - 2, ids + 2 * B));
        for (int k = 0; k < N; k++) {
            OK(retnet_batch_argmax(b, ref + k * B));
            OK(retnet_batch_forward(b, ref + k * B, 1, NULL));
        }
        CHECK(!memcmp(ids, ref, sizeof(int32_t) * (size_t)(N * B)),
              "%s: greedy ids differ from argmax + forward (first %d %d, last %d %d)", name, ids[0],
              ref[0], ids[(N - 1) * B], ref[(N - 1) * B]);
        int varied = tf; /* tf-tiny's random weights repeat a token (its positions are checked
                            * through the cache); the RetNet runs must vary */
        for (int k = 1; k < N; k++)
            for (int i = 0; i < B; i++) varied |= ids[k * B + i] != ids[i];
        CHECK(varied, "%s: the greedy ids never changed (%d): the check could not tell", name, ids[0]);
        OK(retnet_batch_argmax(a, na));
        OK(retnet_batch_argmax(b, nb));
        CHECK(!memcmp(na, nb, sizeof(int32_t) * (size_t)B), "%s: the ids after greedy differ", name);
        for (int i = 0; i < B; i++) {
            retnet_state x = {.data = sa}, y = {.data = sb};
            OK(retnet_batch_get(a, i, &x));
            OK(retnet_batch_get(b, i, &y));
            CHECK(x.pos == T + N && y.pos == x.pos && !memcmp(sa, sb, sizeof(float) * (size_t)sf),
                  "%s seq %d: state after greedy differs (pos %lld, %lld)", name, i,
                  (long long)x.pos, (long long)y.pos);
        }
        if (tf) { /* 44 tokens in a cache of 64: 21 more do not fit */
            retnet_state x = {.data = sa}, y = {.data = sb};
            OK(retnet_batch_get(a, 2, &x));
            retnet_status st = retnet_batch_greedy(a, 21, ids);
            CHECK(st == RETNET_EINVAL && strstr(retnet_errmsg(), "context"),
                  "%s: greedy past the cache: %s (%s)", name, retnet_status_name(st), retnet_errmsg());
            OK(retnet_batch_get(a, 2, &y));
            CHECK(y.pos == x.pos && !memcmp(sa, sb, sizeof(float) * (size_t)sf),
                  "%s: a refused greedy run changed the state", name);
            OK(retnet_batch_argmax(a, nb));
            CHECK(!memcmp(na, nb, sizeof(int32_t) * (size_t)B), "%s: a refused run changed the ids", name);
        }
    out:
        retnet_batch_free(a), retnet_batch_free(b);
        free(sa), free(sb);
        retnet_model_free(m);
    }
}

int main(int argc, char **argv) {
    TEST_ONLY(argc, argv);
    if (!cuda_test_start("test_cuda_train", NULL)) return TEST_SUMMARY();
    RUN_IF(test_gradients);
    RUN_IF(test_grad_write);
    RUN_IF(test_loss_curve);
    RUN_IF(test_refused);
    RUN_IF(test_batch);
    RUN_IF(test_argmax);
    RUN_IF(test_batches_interleaved);
    RUN_IF(test_graphs_after_train);
    RUN_IF(test_graphs);
    RUN_IF(test_greedy);
    retnet_cuda_shutdown();
    return TEST_SUMMARY();
}
