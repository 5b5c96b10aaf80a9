/*
 * test_batch.c: the device-neutral APIs on the CPU: retnet_trainer (one training step in
 * four calls) and retnet_batch (decoding states kept where the model runs). Their GPU side is
 * tests/cuda/test_cuda_train.c.
 *
 *  - A trainer computes, bit for bit, what the composition it replaces computes:
 *    retnet_forward_backward into a zeroed buffer, retnet_grad_norm, the clipping factor
 *    applied to the gradients, retnet_adamw_step. Three steps with accumulation and clipping
 *    give identical weights; save + load into a fresh model and trainer continue identically.
 *  - A batch's prefill (logits NULL: the first T-1 tokens chunkwise, the last one recurrent)
 *    and greedy steps give the states and positions of retnet_forward with host states
 *    within float rounding of the forms (the forms agree to ~1e-6 relative, test_forms), and
 *    argmax picks a largest logit of the reference row (ties within that rounding allowed);
 *    with logits requested, the batch is retnet_forward exactly. get / set move a sequence's
 *    state; bad indices and calls out of order are refused.
 */
#include "model.h"
#include "test.h"

#include <unistd.h>

#define OK(call) CHECK((call) == RETNET_OK, "%s: %s", #call, retnet_errmsg())

static retnet_model *tiny_model(uint64_t seed) {
    retnet_config c;
    retnet_model *m = NULL;
    if (retnet_config_preset("tiny", &c) || retnet_model_create(&c, &m)) return NULL;
    if (retnet_model_init(m, seed)) {
        retnet_model_free(m);
        return NULL;
    }
    return m;
}

static void rand_tokens(int32_t *t, int64_t n, int32_t V, uint64_t *s) {
    for (int64_t i = 0; i < n; i++) t[i] = (int32_t)((test_rand(s) + 1) * 0.5 * V) % V;
}

/* The old loop, by hand, against the trainer: 3 steps, 2 micro-batches each, clipping on. */
static void test_trainer_equals_composition(void) {
    retnet_model *a = tiny_model(4), *b = tiny_model(4);
    CHECK(a && b, "models: %s", retnet_errmsg());
    if (!a || !b) return;
    const int64_t np = a->n_params;
    enum { B = 2, T = 40 };
    float *g = calloc((size_t)np, sizeof(float)), *m1 = calloc((size_t)np, sizeof(float));
    float *m2 = calloc((size_t)np, sizeof(float));
    retnet_trainer *t = NULL;
    OK(retnet_trainer_create(b, &t));
    CHECK(t && !strcmp(retnet_trainer_device(t), "cpu"), "device %s", t ? retnet_trainer_device(t) : "");
    retnet_train_opts o = {.form = RETNET_FORM_CHUNKWISE, .chunk = 16};
    retnet_adamw h = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.98f, .eps = 1e-8f, .weight_decay = 0.05f};
    uint64_t s = 3;
    int32_t tok[B * T], tg[B * T];
    const double clip = 0.5; /* below the gradient norm of a fresh model: clipping happens */
    int clipped = 0;
    for (int64_t step = 1; step <= 3 && t; step++) {
        memset(g, 0, sizeof(float) * (size_t)np);
        OK(retnet_trainer_zero_grad(t));
        double la = 0, lb = 0;
        for (int k = 0; k < 2; k++) {
            rand_tokens(tok, B * T, 260, &s);
            rand_tokens(tg, B * T, 260, &s);
            double x, y;
            int64_t cx, cy;
            OK(retnet_forward_backward(a, tok, tg, B, T, &o, 1.0f / (2 * B * T), g, &x, &cx));
            OK(retnet_trainer_accumulate(t, tok, tg, B, T, &o, 1.0f / (2 * B * T), &y, &cy));
            CHECK(x == y && cx == cy, "step %lld: loss %.17g vs %.17g", (long long)step, y, x);
            la += x, lb += y;
        }
        double na = retnet_grad_norm(g, np), nb = -1;
        OK(retnet_trainer_grad_norm(t, &nb));
        CHECK(na == nb, "step %lld: grad norm %.17g vs %.17g", (long long)step, nb, na);
        float f = na > clip ? (float)(clip / na) : 1.0f;
        clipped += f < 1.0f;
        if (f < 1.0f)
            for (int64_t i = 0; i < np; i++) g[i] *= f;
        OK(retnet_adamw_step(a, g, m1, m2, step, &h));
        OK(retnet_trainer_update(t, step, &h, f));
        CHECK(!memcmp(a->params, b->params, sizeof(float) * (size_t)np),
              "step %lld: weights differ", (long long)step);
    }
    CHECK(clipped > 0, "the test meant to clip (raise the gradient or lower clip)");
    /* save, load into a fresh model + trainer, one more step each: identical */
    char path[64];
    snprintf(path, sizeof path, "/tmp/retnet-test-batch-%d.safetensors", (int)getpid());
    OK(retnet_trainer_save(t, path, 3, "{\"x\": 1}"));
    retnet_model *c = tiny_model(99); /* other weights: the load replaces them */
    retnet_trainer *tc = NULL;
    if (c) OK(retnet_trainer_create(c, &tc));
    if (tc) {
        int64_t step = 0;
        char js[64];
        OK(retnet_trainer_load(tc, path, &step, js, sizeof js));
        CHECK(step == 3 && !strcmp(js, "{\"x\": 1}"), "loaded step %lld, json %s", (long long)step, js);
        CHECK(!memcmp(c->params, b->params, sizeof(float) * (size_t)np), "loaded weights differ");
        rand_tokens(tok, B * T, 260, &s);
        rand_tokens(tg, B * T, 260, &s);
        retnet_trainer *ts[2] = {t, tc};
        for (int i = 0; i < 2; i++) {
            OK(retnet_trainer_zero_grad(ts[i]));
            OK(retnet_trainer_accumulate(ts[i], tok, tg, B, T, &o, 1.0f / (B * T), NULL, NULL));
            OK(retnet_trainer_update(ts[i], 4, &h, 1.0f));
        }
        CHECK(!memcmp(c->params, b->params, sizeof(float) * (size_t)np),
              "a step after the load differs from the same step without it");
    }
    CHECK(retnet_trainer_update(t, 5, &h, 1.5f) == RETNET_EINVAL, "clip scale 1.5 must be refused");
    CHECK(retnet_trainer_load(t, "/nonexistent/state.safetensors", &(int64_t){0}, NULL, 0) != RETNET_OK,
          "a missing state file must fail");
    unlink(path);
    retnet_trainer_free(tc);
    retnet_trainer_free(t);
    retnet_model_free(a), retnet_model_free(b), retnet_model_free(c);
    free(g), free(m1), free(m2);
}

/* The batch against retnet_forward with host states. */
static void test_batch_cpu(void) {
    retnet_model *m = tiny_model(6);
    if (!m) return;
    const retnet_config *c = retnet_model_config(m);
    enum { B = 3, T = 50, STEPS = 5 };
    const int64_t sf = retnet_state_floats(c);
    const int32_t V = c->vocab;
    int32_t tok[B * T], next[B], one_tok[B];
    uint64_t s = 8;
    rand_tokens(tok, B * T, V, &s);
    float *hs = calloc((size_t)(B * sf), sizeof(float)), *bs = calloc((size_t)sf, sizeof(float));
    float *lg = malloc(sizeof(float) * (size_t)B * T * V), *lb = malloc(sizeof(float) * (size_t)B * V);
    retnet_state st[B];
    for (int b = 0; b < B; b++) st[b] = (retnet_state){.pos = 0, .data = hs + b * sf};
    retnet_batch *bt = NULL;
    OK(retnet_batch_create(m, B, &bt));
    if (!bt) goto out;
    CHECK(retnet_batch_state_bytes(bt) == 4 * sf, "state bytes");
    CHECK(retnet_batch_argmax(bt, next) == RETNET_EINVAL, "argmax before a forward must fail");
    OK(retnet_batch_forward(bt, tok, T, NULL));
    OK(retnet_forward(m, tok, B, T, RETNET_FORM_CHUNKWISE, 0, st, lg));
    for (int k = 0; k <= STEPS; k++) {
        const int64_t rows = k == 0 ? T : 1;
        OK(retnet_batch_argmax(bt, next));
        for (int b = 0; b < B; b++) {
            const float *row = lg + ((int64_t)b * rows + rows - 1) * V;
            int32_t best = 0;
            for (int32_t j = 1; j < V; j++)
                if (row[j] > row[best]) best = j;
            one_tok[b] = best;
            CHECK(next[b] >= 0 && next[b] < V && row[next[b]] >= row[best] - 1e-5f * (1 + fabsf(row[best])),
                  "step %d seq %d: argmax %d, reference %d", k, b, next[b], best);
            retnet_state one = {.data = bs};
            OK(retnet_batch_get(bt, b, &one));
            test_err e = test_compare_ff(bs, st[b].data, sf, 1e-3);
            CHECK(one.pos == st[b].pos && e.nmse <= 1e-10,
                  "step %d seq %d: state nmse %.3g, pos %lld vs %lld", k, b, e.nmse,
                  (long long)one.pos, (long long)st[b].pos);
        }
        if (k == STEPS) break;
        OK(retnet_batch_forward(bt, one_tok, 1, NULL));
        OK(retnet_forward(m, one_tok, B, 1, RETNET_FORM_RECURRENT, 0, st, lg));
    }
    /* with logits: exactly retnet_forward */
    for (int b = 0; b < B; b++) OK(retnet_batch_set(bt, b, &st[b]));
    OK(retnet_batch_forward(bt, one_tok, 1, lb));
    OK(retnet_forward(m, one_tok, B, 1, RETNET_FORM_RECURRENT, 0, st, lg));
    CHECK(!memcmp(lb, lg, sizeof(float) * (size_t)B * V), "batch logits differ from retnet_forward");
    CHECK(retnet_batch_argmax(bt, next) == RETNET_EINVAL, "argmax after a forward with logits "
          "must fail (the logits went to the caller)");
    /* advance (states only, chunkwise) then forward: retnet_forward's prefill exactly */
    {
        float *s2 = calloc((size_t)(B * sf), sizeof(float));
        retnet_state st2[B];
        for (int b = 0; b < B; b++) {
            st2[b] = (retnet_state){.pos = 0, .data = s2 + b * sf};
            OK(retnet_batch_set(bt, b, &st2[b]));
        }
        int32_t part[B * (T - 1)], last[B];
        for (int b = 0; b < B; b++) {
            memcpy(part + b * (T - 1), tok + b * T, sizeof(int32_t) * (T - 1));
            last[b] = tok[b * T + T - 1];
        }
        OK(retnet_batch_advance(bt, part, T - 1, 16));
        CHECK(retnet_batch_argmax(bt, next) == RETNET_EINVAL, "argmax after advance must fail");
        OK(retnet_batch_forward(bt, last, 1, lb));
        OK(retnet_forward(m, part, B, T - 1, RETNET_FORM_CHUNKWISE, 16, st2, NULL));
        OK(retnet_forward(m, last, B, 1, RETNET_FORM_RECURRENT, 0, st2, lg));
        CHECK(!memcmp(lb, lg, sizeof(float) * (size_t)B * V), "advance + forward differ from "
              "retnet_forward's chunkwise prefill + recurrent step");
        for (int b = 0; b < B; b++) {
            retnet_state one = {.data = bs};
            OK(retnet_batch_get(bt, b, &one));
            CHECK(one.pos == T && !memcmp(bs, st2[b].data, sizeof(float) * (size_t)sf),
                  "advance: state %d differs (pos %lld)", b, (long long)one.pos);
        }
        CHECK(retnet_batch_advance(bt, part, 0, 0) == RETNET_EINVAL, "advance T = 0 must fail");
        free(s2);
    }
    retnet_state bad = {.data = bs, .pos = -1};
    CHECK(retnet_batch_set(bt, 0, &bad) == RETNET_EINVAL, "negative pos must be refused");
    bad.pos = 0;
    CHECK(retnet_batch_get(bt, -1, &bad) == RETNET_EINVAL, "sequence -1 must be refused");
    CHECK(retnet_batch_forward(bt, tok, 0, NULL) == RETNET_EINVAL, "T = 0 must be refused");
    int32_t badtok[B] = {1, V, 2};
    CHECK(retnet_batch_forward(bt, badtok, 1, NULL) == RETNET_EINVAL, "token V must be refused");
    CHECK(retnet_batch_create(m, 0, &(retnet_batch *){NULL}) == RETNET_EINVAL, "B = 0 must be refused");
out:
    retnet_batch_free(bt);
    free(hs), free(bs), free(lg), free(lb);
    retnet_model_free(m);
}

/* A Transformer's batch made before retnet_model_set_context does not fit after it: refused
 * instead of writing past its states. */
static void test_batch_context(void) {
    retnet_config c;
    retnet_model *m = NULL;
    if (retnet_config_preset("tf-tiny", &c) || retnet_model_create(&c, &m)) {
        CHECK(0, "tf-tiny: %s", retnet_errmsg());
        return;
    }
    OK(retnet_model_init(m, 2));
    OK(retnet_model_set_context(m, 32));
    retnet_batch *b = NULL;
    OK(retnet_batch_create(m, 2, &b));
    int32_t tok[2 * 8] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    OK(retnet_batch_forward(b, tok, 8, NULL));
    OK(retnet_model_set_context(m, 64));
    retnet_status s = retnet_batch_forward(b, tok, 1, NULL);
    CHECK(s == RETNET_EINVAL && strstr(retnet_errmsg(), "context"), "after set_context: %s (%s)",
          retnet_status_name(s), retnet_errmsg());
    retnet_batch_free(b);
    retnet_model_free(m);
}

/* retnet_batch_greedy is argmax then forward, n times: the same ids, states and next ids as
 * those calls one by one on a second batch (RetNet and the Transformer); refused before a
 * forward, for n < 1, and (the Transformer) where the cache cannot take n more tokens, then
 * with the states and the kept logits untouched. */
static void test_batch_greedy(void) {
    for (int tf = 0; tf < 2; tf++) {
        retnet_config c;
        retnet_model *m = NULL;
        if (tf ? retnet_config_preset("tf-tiny", &c) || retnet_model_create(&c, &m)
               : !(m = tiny_model(7))) {
            CHECK(0, "model: %s", retnet_errmsg());
            return;
        }
        if (tf) {
            OK(retnet_model_init(m, 3));
            OK(retnet_model_set_context(m, 32));
        }
        const retnet_config *mc = retnet_model_config(m);
        enum { B = 3, T = 20, N = 7 };
        const int64_t sf = retnet_state_floats(mc);
        int32_t tok[B * T], ids[N * B], ref[N * B], na[B], nb[B];
        uint64_t s = 9;
        rand_tokens(tok, B * T, mc->vocab, &s);
        float *sa = calloc((size_t)sf, sizeof(float)), *sb = calloc((size_t)sf, sizeof(float));
        retnet_batch *a = NULL, *b = NULL;
        OK(retnet_batch_create(m, B, &a));
        OK(retnet_batch_create(m, B, &b));
        if (!a || !b || !sa || !sb) goto out;
        CHECK(retnet_batch_greedy(a, 1, ids) == RETNET_EINVAL, "greedy before a forward must fail");
        OK(retnet_batch_forward(a, tok, T, NULL));
        OK(retnet_batch_forward(b, tok, T, NULL));
        CHECK(retnet_batch_greedy(a, 0, ids) == RETNET_EINVAL, "greedy n = 0 must fail");
        CHECK(retnet_batch_greedy(a, 1, NULL) == RETNET_EINVAL, "greedy without ids must fail");
        OK(retnet_batch_greedy(a, 1, ids));
        OK(retnet_batch_greedy(a, N - 1, ids + B));
        for (int k = 0; k < N; k++) {
            OK(retnet_batch_argmax(b, ref + k * B));
            OK(retnet_batch_forward(b, ref + k * B, 1, NULL));
        }
        CHECK(!memcmp(ids, ref, sizeof ids), "%s: greedy ids differ from argmax + forward",
              tf ? "transformer" : "retnet");
        OK(retnet_batch_argmax(a, na));
        OK(retnet_batch_argmax(b, nb));
        CHECK(!memcmp(na, nb, sizeof na), "%s: the ids after greedy differ",
              tf ? "transformer" : "retnet");
        for (int i = 0; i < B; i++) {
            retnet_state x = {.data = sa}, y = {.data = sb};
            OK(retnet_batch_get(a, i, &x));
            OK(retnet_batch_get(b, i, &y));
            CHECK(x.pos == T + N && y.pos == x.pos && !memcmp(sa, sb, sizeof(float) * (size_t)sf),
                  "%s seq %d: state after greedy differs (pos %lld, %lld)",
                  tf ? "transformer" : "retnet", i, (long long)x.pos, (long long)y.pos);
        }
        if (tf) { /* 27 tokens in a cache of 32: 6 more do not fit, 5 do */
            retnet_state x = {.data = sa};
            OK(retnet_batch_get(a, 1, &x));
            retnet_status st = retnet_batch_greedy(a, 6, ids);
            CHECK(st == RETNET_EINVAL && strstr(retnet_errmsg(), "context"),
                  "greedy past the cache: %s (%s)", retnet_status_name(st), retnet_errmsg());
            retnet_state y = {.data = sb};
            OK(retnet_batch_get(a, 1, &y));
            CHECK(y.pos == x.pos && !memcmp(sa, sb, sizeof(float) * (size_t)sf),
                  "a refused greedy run changed the state");
            OK(retnet_batch_argmax(a, nb));
            CHECK(!memcmp(na, nb, sizeof na), "a refused greedy run changed the kept ids");
            OK(retnet_batch_greedy(a, 5, ids));
        }
    out:
        retnet_batch_free(a), retnet_batch_free(b);
        free(sa), free(sb);
        retnet_model_free(m);
    }
}

int main(void) {
    RUN(test_trainer_equals_composition);
    RUN(test_batch_cpu);
    RUN(test_batch_context);
    RUN(test_batch_greedy);
    return TEST_SUMMARY();
}
