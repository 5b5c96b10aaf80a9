/*
 * test_cuda_dist.c: the distributed trainer (retnet_trainer_create_dist, src/cuda/dist.cu)
 * with the one GPU a test machine has: a world of one rank, which still runs every part of
 * the path (NCCL's communicator, the bucketed all-reduce from the backward's hook, the
 * sharded AdamW step over a shard and a tail, the all-gather of the weights, the moments
 * gathered for a save and scattered at a load, the sums). Without a GPU every test is skipped
 * and the binary reports 0 passed, 0 failed.
 *
 * What is expected, and why bit for bit: with one rank an average over the ranks is the
 * identity (NCCL's in-place all-reduce of one rank leaves the values, and ncclAvg scales by
 * 1/1), AdamW is elementwise, so updating [0, n) as a shard and a tail computes each element
 * as the whole-tensor kernel does, and the gradient norm is the model's own function over the
 * same gradients. So the distributed trainer must reproduce the plain GPU trainer exactly:
 * losses, gradient norms, master weights and the logits of the bf16 copies, over steps with
 * one and with two micro-batches, with one bucket per range and with merged buckets. The
 * training-state file of either must resume on the other with the same bits.
 *
 * Failure paths on one GPU: a world of two whose second rank never comes must fail within
 * the timeout with a message (not hang); an id file that never appears likewise; a rank out
 * of range, a model on the CPU, a malformed id and extra micro-batches are refused.
 */
#include "cuda/cuda.h"
#include "cuda/model_cuda.h"
#include "model.h"
#include "ops/ops.h"
#include "../test.h"
#include "cuda_test.h"

#include <unistd.h>


enum { V = 97, B = 3, T = 96, STEPS = 6 };

static retnet_config small_config(void) {
    retnet_config c = {
        .arch = RETNET_ARCH_RETNET, .vocab = V, .d_model = 128, .n_layer = 3, .n_head = 2,
        .d_key = 128, .d_value = 256, .d_ffn = 256, .norm = RETNET_NORM_RMSNORM,
        .head_norm = RETNET_HEADNORM_RMSNORM, .head_norm_affine = 1, .ffn = RETNET_FFN_GLU,
        .ffn_act = RETNET_ACT_SWISH, .rope = RETNET_ROPE_HALF, .rope_base = 10000.0f,
        .decay = RETNET_DECAY_POW2, .normalize = 0, .eps = 1e-6f, .tie_embeddings = 0,
        .embed_scale = 0, .chunk = 64, .gate = 1, .context = 2048,
    };
    return c;
}

/* A model initialised from seed (or all zeros when seed is 0) on the GPU. */
static retnet_model *gpu_model(uint64_t seed) {
    retnet_config c = small_config();
    retnet_model *m = NULL;
    OK(retnet_model_create(&c, &m));
    if (!m) return NULL;
    if (seed) OK(retnet_model_init(m, seed));
    OK(retnet_model_to_device(m, "cuda"));
    if (!m->device) {
        retnet_model_free(m);
        return NULL;
    }
    return m;
}

/* A world of one, with its own new id. */
static retnet_trainer *dist_trainer(retnet_model *m, int32_t micro, int64_t bucket) {
    static char id[RETNET_DIST_ID_HEX];
    retnet_trainer *t = NULL;
    OK(retnet_dist_id(id));
    retnet_dist d = {.rank = 0, .world = 1, .id = id, .micro_batches = micro,
                     .timeout_s = 60, .bucket_bytes = bucket};
    OK(retnet_trainer_create_dist(m, &d, &t));
    return t;
}

/* Micro-batch a of step `step`: random tokens, deterministic. */
static void batch(int step, int a, int32_t *in, int32_t *tg) {
    uint64_t s = 1000003u * (uint64_t)step + 7919u * (uint64_t)a + 1;
    for (int i = 0; i < B * T; i++) in[i] = (int32_t)((test_rand(&s) + 1) * 0.5 * V) % V;
    for (int i = 0; i < B * T; i++) tg[i] = i % T == T - 1 ? -1 : in[i + 1];
}

/* Steps [from, to) (1-based) with `accum` micro-batches each; losses and norms per step. */
static void run(retnet_trainer *t, int from, int to, int accum, double *loss, double *gnorm) {
    int32_t in[B * T], tg[B * T];
    retnet_train_opts o = {.form = RETNET_FORM_CHUNKWISE};
    retnet_adamw h = {.lr = 0, .beta1 = 0.9f, .beta2 = 0.98f, .eps = 1e-8f, .weight_decay = 0.05f};
    for (int step = from; step < to; step++) {
        h.lr = (float)retnet_lr_schedule(step, STEPS, 2, 3e-3, 3e-4, 1);
        double ls = 0, gn = 0, sum = 0;
        int64_t cnt = 0, total = 0;
        OK(retnet_trainer_zero_grad(t));
        for (int a = 0; a < accum; a++) {
            batch(step, a, in, tg);
            OK(retnet_trainer_accumulate(t, in, tg, B, T, &o, 1.0f / (B * (T - 1) * accum), &ls,
                                         &cnt));
            sum += ls, total += cnt;
        }
        OK(retnet_trainer_grad_norm(t, &gn));
        OK(retnet_trainer_update(t, step, &h, gn > 1.0 ? (float)(1.0 / gn) : 1.0f));
        loss[step - 1] = sum / (double)(total ? total : 1);
        gnorm[step - 1] = gn;
    }
}

/* The master weights of a training model (device), and its logits on a fixed batch. */
static float *weights(retnet_model *m) {
    float *p = malloc(sizeof(float) * (size_t)m->n_params);
    OK(model_cuda_train_download(m->device, p, NULL, NULL, NULL));
    return p;
}
static float *logits(retnet_model *m) {
    int32_t in[B * T], tg[B * T];
    batch(999, 0, in, tg);
    float *l = malloc(sizeof(float) * (size_t)B * T * V);
    OK(retnet_forward(m, in, B, T, RETNET_FORM_CHUNKWISE, 0, NULL, l));
    return l;
}

static int64_t first_diff(const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof(float))) return i;
    return -1;
}

/* The distributed trainer against the plain one: `accum` micro-batches per step, the dist
 * trainer declaring `micro` of them, all-reduce buckets of `bucket` bytes. */
static void equal_case(int accum, int32_t micro, int64_t bucket, const char *name) {
    retnet_model *a = gpu_model(11), *b = gpu_model(11);
    retnet_trainer *ta = NULL, *tb = NULL;
    if (!a || !b) goto out;
    OK(retnet_trainer_create(a, &ta));
    tb = dist_trainer(b, micro, bucket);
    if (!ta || !tb) goto out;
    {
        int32_t r = -1, w = -1;
        retnet_trainer_rank(tb, &r, &w);
        CHECK(r == 0 && w == 1, "%s: rank %d of %d", name, r, w);
        double la[STEPS], ga[STEPS], lb[STEPS], gb[STEPS];
        run(ta, 1, STEPS + 1, accum, la, ga);
        run(tb, 1, STEPS + 1, accum, lb, gb);
        for (int i = 0; i < STEPS; i++)
            CHECK(!memcmp(&la[i], &lb[i], sizeof(double)) && !memcmp(&ga[i], &gb[i], sizeof(double)),
                  "%s: step %d: loss %.17g vs %.17g, |g| %.17g vs %.17g (plain vs dist)", name,
                  i + 1, la[i], lb[i], ga[i], gb[i]);
        CHECK(lb[STEPS - 1] < lb[0], "%s: no learning (%.4f -> %.4f)", name, lb[0], lb[STEPS - 1]);
        float *wa = weights(a), *wb = weights(b), *xa = logits(a), *xb = logits(b);
        int64_t i = first_diff(wa, wb, a->n_params), j = first_diff(xa, xb, (int64_t)B * T * V);
        CHECK(i < 0, "%s: master weight %lld differs: %.9g vs %.9g", name, (long long)i,
              i < 0 ? 0 : wa[i], i < 0 ? 0 : wb[i]);
        CHECK(j < 0, "%s: logit %lld differs (the bf16 copies): %.9g vs %.9g", name, (long long)j,
              j < 0 ? 0 : xa[j], j < 0 ? 0 : xb[j]);
        fprintf(stderr, "     %-44s losses %.6f -> %.6f, |g| %.4f -> %.4f: equal bit for bit\n",
                name, lb[0], lb[STEPS - 1], gb[0], gb[STEPS - 1]);
        free(wa), free(wb), free(xa), free(xb);
    }
out:
    retnet_trainer_free(ta);
    retnet_trainer_free(tb);
    retnet_model_free(a);
    retnet_model_free(b);
}

static void test_equals_plain_trainer(void) {
    equal_case(1, 1, 1, "1 micro-batch, a bucket per range");
    equal_case(2, 2, 1, "2 micro-batches, a bucket per range");
    equal_case(1, 1, 0, "1 micro-batch, default buckets (one)");
    equal_case(2, 2, 200 << 10, "2 micro-batches, 200 KiB buckets (merged)");
    /* fewer micro-batches than declared: grad_norm averages them (no overlap) */
    equal_case(1, 3, 1, "1 of 3 declared micro-batches");
}

/* More micro-batches than declared are refused; zero_grad starts a new step. */
static void test_extra_micro_batch(void) {
    retnet_model *m = gpu_model(5);
    if (!m) return;
    retnet_trainer *t = dist_trainer(m, 1, 0);
    if (t) {
        int32_t in[B * T], tg[B * T];
        batch(1, 0, in, tg);
        retnet_train_opts o = {.form = RETNET_FORM_CHUNKWISE};
        OK(retnet_trainer_zero_grad(t));
        OK(retnet_trainer_accumulate(t, in, tg, B, T, &o, 1.0f, NULL, NULL));
        retnet_status s = retnet_trainer_accumulate(t, in, tg, B, T, &o, 1.0f, NULL, NULL);
        CHECK(s == RETNET_EINVAL && strstr(retnet_errmsg(), "already averaged"),
              "a second micro-batch of 1 declared: %s", retnet_errmsg());
        OK(retnet_trainer_zero_grad(t));
        OK(retnet_trainer_accumulate(t, in, tg, B, T, &o, 1.0f, NULL, NULL));
        double v[3] = {1.5, -2.25, 1e300};
        OK(retnet_trainer_sum(t, v, 3));
        CHECK(v[0] == 1.5 && v[1] == -2.25 && v[2] == 1e300, "sum over one rank: %g %g %g", v[0],
              v[1], v[2]);
        CHECK(retnet_trainer_sum(t, v, 65) == RETNET_EINVAL, "65 values must be refused");
        retnet_trainer_free(t);
    }
    retnet_model_free(m);
}

/* Host copies of a training-state file's tensors. */
static void read_state(const char *path, float **p, float **m1, float **m2, int64_t *step) {
    retnet_config c = small_config();
    retnet_model *m = NULL;
    OK(retnet_model_create(&c, &m));
    size_t bytes = sizeof(float) * (size_t)m->n_params;
    *m1 = malloc(bytes), *m2 = malloc(bytes), *p = malloc(bytes);
    OK(retnet_train_state_load(path, m, *m1, *m2, step, NULL, 0));
    memcpy(*p, m->params, bytes);
    retnet_model_free(m);
}

/* Save and load through the distributed trainer: the file equals the plain trainer's (the
 * whole moments gathered), a resume equals the uninterrupted run, and states move between
 * the two kinds of trainer. */
static void test_save_load(void) {
    char pd[96], pp[96];
    snprintf(pd, sizeof pd, "/tmp/retnet-dist-%d-d.safetensors", (int)getpid());
    snprintf(pp, sizeof pp, "/tmp/retnet-dist-%d-p.safetensors", (int)getpid());
    const int half = STEPS / 2;
    double lref[STEPS], gref[STEPS], l[STEPS], g[STEPS];
    /* the uninterrupted distributed run */
    retnet_model *a = gpu_model(21);
    if (!a) return;
    retnet_trainer *ta = dist_trainer(a, 2, 1);
    if (!ta) {
        retnet_model_free(a);
        return;
    }
    run(ta, 1, STEPS + 1, 2, lref, gref);
    float *wref = weights(a);
    retnet_trainer_free(ta);
    retnet_model_free(a);

    /* half of it, saved by the distributed trainer and by a plain one */
    retnet_model *b = gpu_model(21), *c = gpu_model(21);
    retnet_trainer *tb = dist_trainer(b, 2, 1), *tc = NULL;
    OK(retnet_trainer_create(c, &tc));
    if (tb && tc) {
        run(tb, 1, half + 1, 2, l, g);
        run(tc, 1, half + 1, 2, l, g);
        OK(retnet_trainer_save(tb, pd, half, "{\"who\": \"dist\"}"));
        OK(retnet_trainer_save(tc, pp, half, "{\"who\": \"plain\"}"));
        /* the gradient buffer carried the gathered moments: zeroed again, a step still works */
        run(tb, half + 1, half + 2, 2, l, g);
        CHECK(!memcmp(&l[half], &lref[half], sizeof(double)), "a step after a save: loss %.17g, "
              "uninterrupted %.17g", l[half], lref[half]);
        float *p1, *m11, *m21, *p2, *m12, *m22;
        int64_t s1 = 0, s2 = 0;
        read_state(pd, &p1, &m11, &m21, &s1);
        read_state(pp, &p2, &m12, &m22, &s2);
        const int64_t n = b->n_params;
        CHECK(s1 == half && s2 == half, "saved steps %lld, %lld", (long long)s1, (long long)s2);
        int64_t i = first_diff(p1, p2, n), j = first_diff(m11, m12, n), k = first_diff(m21, m22, n);
        CHECK(i < 0 && j < 0 && k < 0, "dist vs plain state file: first differing parameter %lld, "
              "first moment %lld, second moment %lld", (long long)i, (long long)j, (long long)k);
        int nonzero = 0;
        for (int64_t e = 0; e < n; e++) nonzero += m21[e] != 0;
        CHECK(nonzero > n / 2, "the saved second moments are mostly zero (%d of %lld)", nonzero,
              (long long)n);
        free(p1), free(m11), free(m21), free(p2), free(m12), free(m22);
    }
    retnet_trainer_free(tb);
    retnet_trainer_free(tc);
    retnet_model_free(b);
    retnet_model_free(c);

    /* resume: the dist state into a dist trainer and into a plain one, the plain state into
     * a dist trainer: each continues as the uninterrupted run */
    const char *from[3] = {pd, pd, pp};
    const int into_dist[3] = {1, 0, 1};
    const char *what[3] = {"dist -> dist", "dist -> plain", "plain -> dist"};
    for (int r = 0; r < 3; r++) {
        retnet_model *m = gpu_model(0); /* zeros until the load */
        if (!m) break;
        retnet_trainer *t = NULL;
        if (into_dist[r]) t = dist_trainer(m, 2, 1);
        else OK(retnet_trainer_create(m, &t));
        if (t) {
            int64_t step = 0;
            char js[64] = "";
            OK(retnet_trainer_load(t, from[r], &step, js, sizeof js));
            CHECK(step == half, "%s: resumed at step %lld", what[r], (long long)step);
            run(t, half + 1, STEPS + 1, 2, l, g);
            int same = !memcmp(l + half, lref + half, sizeof(double) * (STEPS - half)) &&
                       !memcmp(g + half, gref + half, sizeof(double) * (STEPS - half));
            CHECK(same, "%s: step %d loss %.17g, uninterrupted %.17g", what[r], STEPS,
                  l[STEPS - 1], lref[STEPS - 1]);
            float *w = weights(m);
            int64_t i = first_diff(w, wref, m->n_params);
            CHECK(i < 0, "%s: weight %lld differs from the uninterrupted run's", what[r],
                  (long long)i);
            /* sync: the host parameters are the master weights */
            OK(retnet_trainer_sync(t));
            CHECK(!memcmp(m->params, w, sizeof(float) * (size_t)m->n_params), "%s: sync", what[r]);
            free(w);
            retnet_trainer_free(t);
        }
        retnet_model_free(m);
    }
    /* a missing file fails on every rank alike, and the trainer still works */
    {
        retnet_model *m = gpu_model(3);
        retnet_trainer *t = m ? dist_trainer(m, 1, 0) : NULL;
        if (t) {
            int64_t step = 0;
            retnet_status s = retnet_trainer_load(t, "/nonexistent/state.safetensors", &step, NULL, 0);
            CHECK(s != RETNET_OK, "loading a missing file succeeded");
            run(t, 1, 2, 1, l, g);
            CHECK(isfinite(l[0]), "a step after a failed load: loss %g", l[0]);
            retnet_trainer_free(t);
        }
        retnet_model_free(m);
    }
    free(wref);
    unlink(pd);
    unlink(pp);
}

/* What is refused before any communication. */
static void test_refused(void) {
    retnet_config c = small_config();
    retnet_model *cpu = NULL;
    OK(retnet_model_create(&c, &cpu));
    retnet_trainer *t = NULL;
    char id[RETNET_DIST_ID_HEX];
    OK(retnet_dist_id(id));
    CHECK(strlen(id) == 256, "id of %zu hex digits", strlen(id));
    retnet_dist d = {.rank = 0, .world = 1, .id = id};
    retnet_status s = retnet_trainer_create_dist(cpu, &d, &t);
    CHECK(s != RETNET_OK && !t && strstr(retnet_errmsg(), "GPU"), "a model on the cpu: %s",
          retnet_errmsg());
    retnet_model *m = gpu_model(1);
    if (m) {
        d.rank = 1;
        s = retnet_trainer_create_dist(m, &d, &t);
        CHECK(s == RETNET_EINVAL && !t, "rank 1 of 1: %s", retnet_errmsg());
        d.rank = 0, d.id = "12ab";
        s = retnet_trainer_create_dist(m, &d, &t);
        CHECK(s == RETNET_EINVAL && !t && strstr(retnet_errmsg(), "hex"), "a short id: %s",
              retnet_errmsg());
        d.id = NULL; /* and no id file, no NCCL_COMM_ID */
        if (!getenv("NCCL_COMM_ID")) {
            s = retnet_trainer_create_dist(m, &d, &t);
            CHECK(s == RETNET_EINVAL && !t && strstr(retnet_errmsg(), "meet"), "no id: %s",
                  retnet_errmsg());
        }
        d.micro_batches = -1;
        s = retnet_trainer_create_dist(m, &d, &t);
        CHECK(s == RETNET_EINVAL && !t, "micro_batches -1: %s", retnet_errmsg());
    }
    retnet_model_free(m);
    retnet_model_free(cpu);
}

/* The id file: rank 0 of a world of one writes it; a rank 1 whose rank 0 never writes one
 * gives up after the timeout. */
static void test_id_file(void) {
    char path[96];
    snprintf(path, sizeof path, "/tmp/retnet-dist-%d.id", (int)getpid());
    unlink(path);
    retnet_model *m = gpu_model(2);
    if (!m) return;
    retnet_dist d = {.rank = 0, .world = 1, .id_file = path, .timeout_s = 30};
    retnet_trainer *t = NULL;
    OK(retnet_trainer_create_dist(m, &d, &t));
    FILE *f = fopen(path, "r");
    char buf[300] = "";
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    CHECK(n == 257 && strspn(buf, "0123456789abcdef") == 256, "the id file holds %zu bytes: %.40s",
          n, buf);
    retnet_trainer_free(t);
    t = NULL;
    /* a second run on the same path: refused (its other ranks could read the stale id) */
    retnet_status s0 = retnet_trainer_create_dist(m, &d, &t);
    CHECK(s0 == RETNET_EINVAL && !t && strstr(retnet_errmsg(), "exists"),
          "an existing id file: %s (%s)", retnet_status_name(s0), retnet_errmsg());
    retnet_trainer_free(t);
    t = NULL;
    unlink(path);
    d.rank = 1, d.world = 2, d.timeout_s = 0.5;
    double t0 = retnet_now();
    retnet_status s = retnet_trainer_create_dist(m, &d, &t);
    CHECK(s != RETNET_OK && !t && strstr(retnet_errmsg(), "did not appear"),
          "a missing id file: %s", retnet_errmsg());
    CHECK(retnet_now() - t0 < 10, "gave up after %.1f s (timeout 0.5 s)", retnet_now() - t0);
    retnet_model_free(m);
}

/* A world of two whose rank 1 never joins: rank 0 fails after the timeout, with a message,
 * instead of waiting forever. */
static void test_missing_rank_times_out(void) {
    retnet_model *m = gpu_model(4);
    if (!m) return;
    char id[RETNET_DIST_ID_HEX];
    OK(retnet_dist_id(id));
    retnet_dist d = {.rank = 0, .world = 2, .id = id, .timeout_s = 3};
    retnet_trainer *t = NULL;
    double t0 = retnet_now();
    retnet_status s = retnet_trainer_create_dist(m, &d, &t);
    double el = retnet_now() - t0;
    CHECK(s != RETNET_OK && !t, "a world of two with one rank was made");
    CHECK(strstr(retnet_errmsg(), "rank 0 of 2") && strstr(retnet_errmsg(), "within 3 s"),
          "message: %s", retnet_errmsg());
    CHECK(el >= 2.9 && el < 60, "gave up after %.1f s (timeout 3 s)", el);
    fprintf(stderr, "     after %.1f s: %s\n", el, retnet_errmsg());
    retnet_model_free(m);
}

int main(void) {
    if (!cuda_test_start("test_cuda_dist", NULL)) return TEST_SUMMARY();
    RUN(test_equals_plain_trainer);
    RUN(test_extra_micro_batch);
    RUN(test_save_load);
    RUN(test_refused);
    RUN(test_id_file);
    RUN(test_missing_rank_times_out);
    retnet_cuda_shutdown();
    return TEST_SUMMARY();
}
