/*
 * test_cuda_model.c: the model's forward on the GPU (src/cuda/model_cuda.cu, reached as users
 * reach it: retnet_model_to_device, then retnet_forward) against the CPU's forward of the same
 * model, and against fla's own logits (tests/fixtures/fla). Without a GPU every test is
 * skipped and the binary reports 0 passed, 0 failed (CI machines have no GPU).
 *
 * Tolerance rule (written before the first run on a GPU)
 * -------------------------------------------------------
 * The GPU forward rounds to bf16 (u16 = 2^-8 relative: bf16's unit roundoff, 8 significant
 * bits; an earlier version of this rule used 2^-9, half of it) every tensor that becomes a product's
 * operand; the CPU computes in float32 (2^-24: negligible here). Along the longest path
 * through L layers there are R = 8 L + 1 such roundings: per layer the pre-norm output, q/k/v,
 * three inside the retention kernel (retention.h), the head-norm output, the FFN's pre-norm
 * output and its hidden activation; then the final norm's output. Each perturbs its tensor by
 * at most u16 of its scale, each product sums its chain of ~d such terms with fp32
 * accumulation (the typical error grows as sqrt(d) u16 |x||w| ~ u16 |result| for products
 * without cancellation), and the norms bring every layer back to scale 1, so to first order
 *
 *     max |gpu - cpu| <= R u16 max |cpu|            NMSE <= R u16^2 / 3 x 12 = 4 R u16^2
 *
 * (the second: the typical error, R independent roundings of variance u16^2 / 3 each, with a
 * factor 12 of room for the gains of the products between them). For the random models the
 * 2-D weights are rounded to bf16 on the CPU too, so that only the roundings above differ.
 * Where the weights are float32 (the fla fixture) their rounding adds Rw = 4 L + 1 (per layer
 * the q/k/v/g, out, fc1/gate and fc2 products; then the output projection); against fla's
 * logits add the CPU's own parity tolerance with fla (4e-3 of max |logit|: fla's TF32, see
 * tests/test_hf.c). States are checked with the same rule (they sit before the last layers'
 * roundings, so R bounds them too).
 *
 * Measured on an H200 (first run): random models 0.04-1.3% of max |logit| (R u16 = 6.6%),
 * NMSE 1e-6 to 6e-5; the fla fixture 2.1% (f32 weights; tol 10.2%, NMSE 2.4e-4 of 1.6e-3) and
 * 2.0% / 1.3% (bf16-only: prefill / decoding; tol 6.6%): its tiny random weights (std 0.02)
 * leave the roundings less averaged than ours. Deterministic, so not flaky at fixed kernels.
 *
 * Besides the bound:
 *  - positions per sequence (rope): sequences start at different positions;
 *  - the recurrent step (T = 1 with states) continues a chunkwise prefill, 20 steps;
 *  - device-resident states (model_cuda_forward_states) give the host-state path's results
 *    bit for bit (the kernels are deterministic);
 *  - what the CUDA forward does not cover is refused with RETNET_EUNSUPPORTED and a message,
 *    and the model keeps running on the CPU.
 */
#include "cuda/cuda.h"
#include "cuda/model_cuda.h"
#include "cuda/retention.h"
#include "model.h"
#include "ops/ops.h"
#include "../test.h"
#include "cuda_test.h"

#define U16 0x1p-8

static double chain(int L) { return 8.0 * L + 1; }  /* R: activation roundings */
static double wchain(int L) { return 4.0 * L + 1; } /* Rw: weight roundings */

/* |got - want| against the rule: R roundings of u16, plus `extra` of max |want|. */
static void close_to(const float *got, const float *want, int64_t n, double R, double extra,
                     const char *what) {
    double scale = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    test_err e = test_compare_ff(got, want, n, scale * 1e-3 + 1e-30);
    double tol = (R * U16 + extra) * scale, tol_nmse = 4 * R * U16 * U16 + extra * extra;
    CHECK_ERR(e, tol, tol_nmse, what);
    fprintf(stderr, "     %-44s max|d| %.3g = %.2g of max|ref| %.3g (tol %.2g); nmse %.2g (tol %.2g)\n",
            what, e.max_abs, scale > 0 ? e.max_abs / scale : 0.0, scale, tol / (scale > 0 ? scale : 1),
            e.nmse, tol_nmse);
}

/* ---- random models ------------------------------------------------------------------- */

/* The same random model twice, its 2-D weights rounded to bf16; the second on the GPU. */
static int make_pair(const retnet_config *c, uint64_t seed, retnet_model **cpu,
                     retnet_model **gpu) {
    *cpu = *gpu = NULL;
    retnet_model *m[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        OK(retnet_model_create(c, &m[i]));
        if (!m[i]) break;
        OK(retnet_model_init(m[i], seed));
        for (int32_t t = 0; t < retnet_model_tensor_count(m[i]); t++) {
            retnet_tensor x;
            retnet_model_tensor(m[i], t, &x);
            if (x.ndim == 2)
                for (int64_t j = 0; j < x.numel; j++) x.data[j] = bf16_round(x.data[j]);
        }
    }
    if (m[1]) OK(retnet_model_to_device(m[1], "cuda"));
    if (!m[0] || !m[1] || !m[1]->device) {
        retnet_model_free(m[0]);
        retnet_model_free(m[1]);
        return 0;
    }
    *cpu = m[0], *gpu = m[1];
    return 1;
}

/*
 * CPU against GPU for one config: a chunkwise prefill of B sequences of T tokens from states
 * at different positions, then `steps` recurrent steps of all B; and the prefill without
 * states. Checks logits, states and positions. When `dev_states`, repeats the GPU run with
 * device-resident states (model_cuda_forward_states) and asks for the same bits.
 */
enum { CMP_BMAX = 20 }; /* the widest batch compare_model takes */
static void compare_model(const retnet_config *c, uint64_t seed, int32_t B, int32_t T,
                          int steps, int dev_states, const char *name) {
    retnet_model *cpu, *gpu;
    if (!make_pair(c, seed, &cpu, &gpu)) return;
    const int32_t V = c->vocab;
    const int64_t sf = retnet_state_floats(c);
    const double R = chain(c->n_layer);
    uint64_t s = seed * 7 + 1;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)(B * T));
    int32_t *dtok = malloc(sizeof(int32_t) * (size_t)(B * steps));
    float *lc = malloc(sizeof(float) * (size_t)(B * T * V)), *lg = malloc(sizeof(float) * (size_t)(B * T * V));
    float *dc = malloc(sizeof(float) * (size_t)(B * steps * V)), *dg = malloc(sizeof(float) * (size_t)(B * steps * V));
    float *sc = calloc((size_t)(B * sf), sizeof(float)), *sg = calloc((size_t)(B * sf), sizeof(float));
    rand_tokens(tok, (int64_t)B * T, V, &s);
    rand_tokens(dtok, (int64_t)B * steps, V, &s);
    retnet_state stc[CMP_BMAX], stg[CMP_BMAX];
    for (int32_t b = 0; b < B; b++) {
        stc[b] = (retnet_state){.pos = 37 * b, .data = sc + b * sf};
        stg[b] = (retnet_state){.pos = 37 * b, .data = sg + b * sf};
    }
    char what[160];

    /* chunkwise prefill from states at positions 0, 37, ... */
    OK(retnet_forward(cpu, tok, B, T, RETNET_FORM_CHUNKWISE, 0, stc, lc));
    OK(retnet_forward(gpu, tok, B, T, RETNET_FORM_CHUNKWISE, 0, stg, lg));
    snprintf(what, sizeof what, "%s: prefill B=%d T=%d logits", name, B, T);
    close_to(lg, lc, (int64_t)B * T * V, R, 0, what);
    snprintf(what, sizeof what, "%s: prefill states", name);
    close_to(sg, sc, B * sf, R, 0, what);
    for (int32_t b = 0; b < B; b++)
        CHECK(stg[b].pos == stc[b].pos && stc[b].pos == 37 * b + T, "%s: pos %lld, want %lld",
              name, (long long)stg[b].pos, (long long)stc[b].pos);

    /* recurrent decoding, B sequences a step */
    for (int t = 0; t < steps; t++) {
        int32_t in[CMP_BMAX];
        for (int32_t b = 0; b < B; b++) in[b] = dtok[b * steps + t];
        float *oc = dc + (int64_t)t * B * V, *og = dg + (int64_t)t * B * V;
        OK(retnet_forward(cpu, in, B, 1, RETNET_FORM_RECURRENT, 0, stc, oc));
        OK(retnet_forward(gpu, in, B, 1, RETNET_FORM_RECURRENT, 0, stg, og));
    }
    if (steps > 0) {
        snprintf(what, sizeof what, "%s: %d recurrent steps, logits", name, steps);
        close_to(dg, dc, (int64_t)B * steps * V, R, 0, what);
        snprintf(what, sizeof what, "%s: states after decoding", name);
        close_to(sg, sc, B * sf, R, 0, what);
    }

    /* the same tokens from the empty state, no states kept */
    float *lc0 = malloc(sizeof(float) * (size_t)(B * T * V)), *lg0 = malloc(sizeof(float) * (size_t)(B * T * V));
    OK(retnet_forward(cpu, tok, B, T, RETNET_FORM_PARALLEL, 0, NULL, lc0));
    OK(retnet_forward(gpu, tok, B, T, RETNET_FORM_PARALLEL, 0, NULL, lg0));
    snprintf(what, sizeof what, "%s: without states, logits", name);
    close_to(lg0, lc0, (int64_t)B * T * V, R, 0, what);

    /* device-resident states: the same computation, so the same bits */
    if (dev_states) {
        model_cuda *d = gpu->device;
        float *S = NULL, *l2 = malloc(sizeof(float) * (size_t)(B * T * V));
        float *d2 = malloc(sizeof(float) * (size_t)(B * V)), *s2 = calloc((size_t)(B * sf), sizeof(float));
        int64_t pos[CMP_BMAX];
        OK(model_cuda_states_alloc(d, B, &S));
        for (int32_t b = 0; b < B; b++) pos[b] = 37 * b;
        OK(model_cuda_forward_states(d, tok, B, T, S, pos, l2));
        CHECK(!memcmp(l2, lg, sizeof(float) * (size_t)(B * T * V)),
              "%s: prefill with device states differs from host states", name);
        int same = 1;
        for (int t = 0; t < steps; t++) {
            int32_t in[CMP_BMAX];
            for (int32_t b = 0; b < B; b++) in[b] = dtok[b * steps + t], pos[b] = 37 * b + T + t;
            OK(model_cuda_forward_states(d, in, B, 1, S, pos, d2));
            same &= !memcmp(d2, dg + (int64_t)t * B * V, sizeof(float) * (size_t)(B * V));
        }
        CHECK(same, "%s: decoding with device states differs from host states", name);
        retnet_state st2[CMP_BMAX];
        for (int32_t b = 0; b < B; b++) st2[b] = (retnet_state){.pos = 0, .data = s2 + b * sf};
        OK(model_cuda_states_download(d, st2, S, B));
        CHECK(!memcmp(s2, sg, sizeof(float) * (size_t)(B * sf)),
              "%s: device states differ from host states", name);
        retnet_cuda_free(S);
        free(l2), free(d2), free(s2);
    }
    free(tok), free(dtok), free(lc), free(lg), free(dc), free(dg), free(sc), free(sg);
    free(lc0), free(lg0);
    retnet_model_free(cpu);
    retnet_model_free(gpu);
}

/* ---- tests ----------------------------------------------------------------------------- */

/* fla's variant: chunkwise prefill (B = 2, T = 100: one full chunk and a partial one), then 20
 * recurrent steps; dk 64, dv 128. */
static void test_prefill_decode(void) {
    retnet_config c = fla_like(256, 128, 2, 2, 2);
    compare_model(&c, 11, 2, 100, 20, 1, "fla variant");
}

/* A batch past the gemv kernels' 16 rows: the decoding step's products go to cuBLASLt, q k v g
 * and fc1 | gate each as one product (model_cuda.cu's joined_out), the prefill's too; with
 * the gate and without (q k v only), with the GLU and without. */
static void test_wide_batch(void) {
    retnet_config c = fla_like(256, 128, 2, 2, 2);
    compare_model(&c, 31, CMP_BMAX, 9, 4, 1, "fla variant, B 20");
    c.gate = 0, c.ffn = RETNET_FFN_GELU, c.ffn_act = RETNET_ACT_GELU;
    compare_model(&c, 32, 17, 5, 3, 0, "no gate, gelu FFN, B 17");
}

/* Every other option the CPU has: the paper's variant, torchscale's, the ablations, the §3
 * normalisations; dk 32 and 64, dv != dk, odd vocabularies. */
static void test_variants(void) {
    retnet_config c;

    c = fla_like(100, 64, 2, 2, 2); /* the paper's variant without §3 (dk 32) */
    c.norm = RETNET_NORM_LAYERNORM, c.head_norm = RETNET_HEADNORM_GROUPNORM;
    c.ffn = RETNET_FFN_GELU, c.ffn_act = RETNET_ACT_GELU, c.rope = RETNET_ROPE_PAPER;
    c.tie_embeddings = 1;
    compare_model(&c, 21, 2, 70, 5, 0, "paper, normalize off");

    c = fla_like(100, 128, 2, 2, 1); /* torchscale's without §3: no affine head norm, GLU gelu */
    c.head_norm_affine = 0, c.ffn_act = RETNET_ACT_GELU, c.rope = RETNET_ROPE_PAPER;
    c.decay = RETNET_DECAY_LINSPACE;
    compare_model(&c, 22, 2, 70, 5, 0, "torchscale, normalize off");

    c = fla_like(77, 128, 2, 2, 2); /* no head norm (gate only), embed scale, gamma = 1 */
    c.head_norm = RETNET_HEADNORM_NONE, c.head_norm_affine = 0, c.embed_scale = 1;
    c.decay = RETNET_DECAY_NONE, c.tie_embeddings = 1;
    compare_model(&c, 23, 2, 70, 5, 0, "no head norm, embed scale, no decay");

    c = fla_like(100, 128, 2, 4, 2); /* no gate, groupnorm without affine, single decay, dk 32 */
    c.gate = 0, c.head_norm = RETNET_HEADNORM_GROUPNORM, c.head_norm_affine = 0;
    c.decay = RETNET_DECAY_SINGLE;
    compare_model(&c, 24, 3, 70, 5, 0, "no gate, groupnorm w/o affine");

    c = fla_like(100, 64, 2, 2, 2); /* neither head norm nor gate: y = o */
    c.gate = 0, c.head_norm = RETNET_HEADNORM_NONE, c.head_norm_affine = 0;
    compare_model(&c, 25, 1, 70, 5, 0, "no head norm, no gate");

    /* §3 on (src/cuda/retention_norm.cu): the row sums from the retention kernel with v = 1,
     * the key sums z kept in the states (compared with the CPU's). The paper preset (its
     * groupnorm divides the row factor out but for eps), then with no head norm, where the
     * factor reaches the logits whole; states at positions 0 and 37 for the decay rows. */
    OK(retnet_config_preset("tiny", &c));
    compare_model(&c, 31, 2, 70, 12, 1, "paper preset tiny, normalize on");
    c = fla_like(100, 128, 2, 2, 2);
    c.normalize = 1, c.head_norm = RETNET_HEADNORM_NONE, c.head_norm_affine = 0;
    compare_model(&c, 32, 2, 100, 12, 1, "normalize on, no head norm");
    c.decay = RETNET_DECAY_LINSPACE, c.gate = 0;
    compare_model(&c, 33, 3, 70, 5, 0, "normalize on, no head norm, no gate, linspace decays");

    /* the Transformer baseline with its KV cache (cuda/attention.h): prefill (the tiled
     * kernel, T >= 16) and decoding (the split kernel); the cache holds 256 positions */
    retnet_config r = fla_like(100, 128, 2, 2, 2);
    OK(retnet_config_transformer(&r, 256, &c));
    compare_model(&c, 26, 2, 100, 20, 0, "transformer, KV cache");
    r.norm = RETNET_NORM_LAYERNORM, r.ffn = RETNET_FFN_GELU, r.ffn_act = RETNET_ACT_GELU;
    r.rope = RETNET_ROPE_PAPER, r.tie_embeddings = 1;
    OK(retnet_config_transformer(&r, 256, &c));
    compare_model(&c, 27, 3, 40, 5, 0, "transformer (paper's norms), KV cache");
}

/*
 * The decoding window (model_cuda.cu's win_of, retention_cuda_step_window): device states that
 * are read every step and written every W steps, the last tokens' k and v beside them. Made
 * to run on small models by RETNET_CUDA_WINDOW=W,0 (read when the model moves to the GPU).
 * Through the batch API, as users decode: a chunkwise prefill, then steps past several folds
 * of every layer (phases 0..W-1), a state read back mid-window (the window folded in), a
 * sequence given a new state mid-window (its window emptied), and a chunkwise piece after
 * steps (the windows folded first); each against the CPU's recurrence by the rule above. Once
 * also with the step kernel in the shape it takes for large states.
 */
static void window_case(const retnet_config *c, const char *W, uint64_t seed, const char *name) {
    enum { B = 3, T = 20, STEPS = 23, PIECE = 5 };
    setenv("RETNET_CUDA_WINDOW", W, 1);
    retnet_model *cpu, *gpu;
    int made = make_pair(c, seed, &cpu, &gpu);
    unsetenv("RETNET_CUDA_WINDOW");
    if (!made) return;
    const int32_t V = c->vocab;
    const int64_t sf = retnet_state_floats(c);
    const double R = chain(c->n_layer);
    uint64_t s = seed * 5 + 3;
    int32_t tok[B * T], step[B], piece[B * PIECE];
    float *lc = malloc(sizeof(float) * (size_t)(B * T * V)), *lg = malloc(sizeof(float) * (size_t)(B * T * V));
    float *sc = calloc((size_t)(B * sf), sizeof(float)), *sg = calloc((size_t)sf, sizeof(float));
    retnet_state stc[B];
    for (int32_t b = 0; b < B; b++) stc[b] = (retnet_state){.pos = 0, .data = sc + b * sf};
    retnet_batch *bt = NULL;
    OK(retnet_batch_create(gpu, B, &bt));
    CHECK(model_cuda_window_bytes(gpu->device, B) > 0, "%s: no window at RETNET_CUDA_WINDOW=%s",
          name, W);
    char what[160];
    rand_tokens(tok, B * T, V, &s);
    OK(retnet_forward(cpu, tok, B, T, RETNET_FORM_CHUNKWISE, 0, stc, lc));
    OK(retnet_batch_forward(bt, tok, T, lg));
    snprintf(what, sizeof what, "%s: prefill logits", name);
    close_to(lg, lc, (int64_t)B * T * V, R, 0, what);
    double worst = 0;
    for (int t = 0; t < STEPS; t++) {
        if (t == 9) { /* mid-window: sequence 1 read back, sequence 2 given the CPU's state */
            retnet_state g1 = {.pos = 0, .data = sg};
            OK(retnet_batch_get(bt, 1, &g1));
            CHECK(g1.pos == stc[1].pos, "%s: pos %lld, want %lld", name, (long long)g1.pos,
                  (long long)stc[1].pos);
            snprintf(what, sizeof what, "%s: a state read back mid-window", name);
            close_to(sg, stc[1].data, sf, R, 0, what);
            OK(retnet_batch_set(bt, 2, &stc[2]));
        }
        if (t == 15) { /* a chunkwise piece after steps: the windows folded in first */
            rand_tokens(piece, B * PIECE, V, &s);
            OK(retnet_forward(cpu, piece, B, PIECE, RETNET_FORM_CHUNKWISE, 0, stc, lc));
            OK(retnet_batch_forward(bt, piece, PIECE, lg));
            snprintf(what, sizeof what, "%s: a chunkwise piece after %d steps", name, t);
            close_to(lg, lc, (int64_t)B * PIECE * V, R, 0, what);
        }
        rand_tokens(step, B, V, &s);
        OK(retnet_forward(cpu, step, B, 1, RETNET_FORM_RECURRENT, 0, stc, lc));
        OK(retnet_batch_forward(bt, step, 1, lg));
        double scale = 0, d = 0;
        for (int64_t i = 0; i < (int64_t)B * V; i++)
            scale = fmax(scale, fabs(lc[i])), d = fmax(d, fabs(lg[i] - lc[i]));
        worst = fmax(worst, d / scale);
        snprintf(what, sizeof what, "%s: step %d logits", name, t);
        close_to(lg, lc, (int64_t)B * V, R, 0, what);
    }
    for (int32_t b = 0; b < B; b++) {
        retnet_state g = {.pos = 0, .data = sg};
        OK(retnet_batch_get(bt, b, &g));
        snprintf(what, sizeof what, "%s: sequence %d's state at the end", name, b);
        close_to(sg, stc[b].data, sf, R, 0, what);
    }
    fprintf(stderr, "     %s: %d steps, worst step %.2g of max |logit|\n", name, STEPS, worst);
    retnet_batch_free(bt);
    free(lc), free(lg), free(sc), free(sg);
    retnet_model_free(cpu);
    retnet_model_free(gpu);
}

static void test_window(void) {
    retnet_config c = fla_like(100, 128, 3, 2, 2); /* three layers: phases 0, 1, 2 of W = 4 */
    window_case(&c, "4,0", 41, "window 4, fla variant");
    window_case(&c, "16,0", 42, "window 16, fla variant");
    retention_cuda_lab_window_shape(2); /* the large states' kernel (these states are small) */
    window_case(&c, "16,0", 44, "window 16, fla variant, the large states' step kernel");
    retention_cuda_lab_window_shape(0);
    OK(retnet_config_preset("tiny", &c)); /* §3: the key sums stay eager beside the window */
    window_case(&c, "5,0", 43, "window 5, paper preset tiny");
}

/* Decoding's RMSNorms inside the products (model_cuda.cu's rms_chain, at one sequence; at two
 * the model keeps the norms' launches, and then the bits must be the same):
 * 12 recurrent steps after a chunkwise prefill against the CPU by the rule, and the same model
 * with the norms in launches of their own (RETNET_CUDA_RMS_CHAIN=0) by the rule too; the two
 * GPU runs must not give the same bits (the operand is rounded before the norm's scale in
 * one, after it in the other), so that the chain is known to have run. */
static void test_rms_chain(void) {
    enum { T = 9, STEPS = 12, BMAX = 2 };
    const retnet_config c = fla_like(256, 128, 2, 2, 2);
    for (int32_t B = 1; B <= BMAX; B++) {
        retnet_model *cpu, *gpu, *cpu2 = NULL, *off = NULL;
        if (!make_pair(&c, 51, &cpu, &gpu)) return;
        setenv("RETNET_CUDA_RMS_CHAIN", "0", 1);
        const int made = make_pair(&c, 51, &cpu2, &off);
        unsetenv("RETNET_CUDA_RMS_CHAIN");
        retnet_model_free(cpu2);
        if (!made) {
            retnet_model_free(cpu), retnet_model_free(gpu);
            return;
        }
        const int32_t V = c.vocab;
        const int64_t sf = retnet_state_floats(&c);
        float *st = calloc((size_t)(3 * BMAX * sf), sizeof(float));
        float *lp = malloc(sizeof(float) * (size_t)(BMAX * T * V));
        float *lg[3];
        for (int i = 0; i < 3; i++) lg[i] = malloc(sizeof(float) * (size_t)(BMAX * STEPS * V));
        retnet_model *m[3] = {cpu, gpu, off};
        uint64_t s = 77 + B;
        int32_t tok[BMAX * T], step[BMAX * STEPS];
        rand_tokens(tok, B * T, V, &s);
        rand_tokens(step, B * STEPS, V, &s);
        for (int i = 0; i < 3; i++) {
            retnet_state sv[BMAX];
            for (int32_t b = 0; b < B; b++)
                sv[b] = (retnet_state){.pos = 0, .data = st + (i * BMAX + b) * sf};
            OK(retnet_forward(m[i], tok, B, T, RETNET_FORM_CHUNKWISE, 0, sv, lp));
            for (int t = 0; t < STEPS; t++)
                OK(retnet_forward(m[i], step + t * B, B, 1, RETNET_FORM_RECURRENT, 0, sv,
                                  lg[i] + (int64_t)t * B * V));
        }
        const int64_t n = (int64_t)B * STEPS * V;
        char what[96];
        snprintf(what, sizeof what, "rms chain B=%d: %d steps, logits", B, STEPS);
        close_to(lg[1], lg[0], n, chain(c.n_layer), 0, what);
        snprintf(what, sizeof what, "rms chain off B=%d: %d steps, logits", B, STEPS);
        close_to(lg[2], lg[0], n, chain(c.n_layer), 0, what);
        if (B == 1)
            CHECK(memcmp(lg[1], lg[2], sizeof(float) * (size_t)n) != 0,
                  "B=1: the chain's logits are the separate norms' bits: did it run?");
        else
            CHECK(memcmp(lg[1], lg[2], sizeof(float) * (size_t)n) == 0,
                  "B=%d: the logits differ from the separate norms' bits: the chain ran", B);
        for (int i = 0; i < 3; i++) free(lg[i]);
        free(st), free(lp);
        retnet_model_free(cpu), retnet_model_free(gpu), retnet_model_free(off);
    }
}

/* make_pair with RETNET_CUDA_PERSISTENT set to `mode` (NULL: unset) and `var`=`val` (a test
 * hook of the persistent step, or NULL) while the model moves to the GPU; the CPU twin freed */
static retnet_model *persistent_model(const retnet_config *c, const char *mode, const char *var,
                                      const char *val) {
    retnet_model *cpu = NULL, *gpu = NULL;
    if (mode) setenv("RETNET_CUDA_PERSISTENT", mode, 1);
    if (var) setenv(var, val, 1);
    make_pair(c, 61, &cpu, &gpu);
    unsetenv("RETNET_CUDA_PERSISTENT");
    if (var) unsetenv(var);
    retnet_model_free(cpu);
    return gpu;
}

/* from a zero state: a chunkwise prefill of tok (T), then one recurrent step for each of the n
 * ids of step, their logits into lg (n x vocab); the state is left in state */
static void prefill_steps(retnet_model *m, const int32_t *tok, int T, const int32_t *step, int n,
                          float *state, float *lp, float *lg) {
    const int64_t V = m->cfg.vocab;
    memset(state, 0, sizeof(float) * (size_t)retnet_state_floats(&m->cfg));
    retnet_state sv = {.pos = 0, .data = state};
    OK(retnet_forward(m, tok, 1, T, RETNET_FORM_CHUNKWISE, 0, &sv, lp));
    for (int t = 0; t < n; t++)
        OK(retnet_forward(m, step + t, 1, 1, RETNET_FORM_RECURRENT, 0, &sv, lg + (int64_t)t * V));
}

/*
 * The persistent step (decode_persistent.cu), which takes B = 1's decoding steps for fla's
 * variant at its shapes (d 2048, 8 heads of dk 256 / dv 512, SwiGLU 2816): here 3 layers and
 * a vocabulary of 1024 (the kernel's only free extents). A chunkwise prefill of 40 tokens,
 * then 20 steps, on the CPU, on the GPU with the persistent step (the default there) and on
 * the GPU with the kernel chain (RETNET_CUDA_PERSISTENT=0); logits and states of both GPU runs against the
 * CPU by the rule. Then the same steps through device states and device logits (the CUDA
 * graph's path) must give the host-state run's bits: x is summed in fixed point, so the step
 * is deterministic. The persistent logits must not be the chain's bits (it ran). Last, new
 * weights uploaded (down negated): the packed copy of down must follow them. Skipped
 * where the kernel does not run (not sm_90, fewer than 128 SMs).
 */
static void test_persistent(void) {
    enum { T = 40, STEPS = 20 };
    retnet_config c = fla_like(1024, 2048, 3, 8, 2);
    c.d_ffn = 2816;
    if (!cuda_pstep_available()) {
        fprintf(stderr, "     (skipped: the persistent step does not run on this GPU)\n");
        return;
    }
    retnet_model *cpu, *gpu;
    unsetenv("RETNET_CUDA_PERSISTENT");
    if (!make_pair(&c, 61, &cpu, &gpu)) return;                /* the default: the persistent step */
    retnet_model *off = persistent_model(&c, "0", NULL, NULL); /* the chain */
    if (!off) {
        retnet_model_free(cpu), retnet_model_free(gpu);
        return;
    }
    CHECK(model_cuda_persistent(gpu->device) && !model_cuda_persistent(off->device),
          "the persistent step should be on for the first GPU model only (%d, %d)",
          model_cuda_persistent(gpu->device), model_cuda_persistent(off->device));
    const int32_t V = c.vocab;
    const int64_t sf = retnet_state_floats(&c), n = (int64_t)STEPS * V;
    float *st = calloc((size_t)(3 * sf), sizeof(float)), *lp = malloc(sizeof(float) * T * V);
    float *lg[3];
    for (int i = 0; i < 3; i++) lg[i] = malloc(sizeof(float) * (size_t)n);
    retnet_model *m[3] = {cpu, gpu, off};
    uint64_t s = 91;
    int32_t tok[T], step[STEPS];
    rand_tokens(tok, T, V, &s);
    rand_tokens(step, STEPS, V, &s);
    for (int i = 0; i < 3; i++) prefill_steps(m[i], tok, T, step, STEPS, st + i * sf, lp, lg[i]);
    const double R = chain(c.n_layer);
    close_to(lg[1], lg[0], n, R, 0, "persistent: 20 steps, logits");
    close_to(st + sf, st, sf, R, 0, "persistent: states after decoding");
    close_to(lg[2], lg[0], n, R, 0, "the chain: 20 steps, logits");
    close_to(st + 2 * sf, st, sf, R, 0, "the chain: states after decoding");
    close_to(lg[1], lg[2], n, R, 0, "persistent against the chain, logits");
    CHECK(memcmp(lg[1], lg[2], sizeof(float) * (size_t)n) != 0,
          "the persistent logits are the chain's bits: did it run?");

    /* x's two copies (decode_persistent.cu): a model of the same weights whose last block
     * reads x 50 us late after meeting B in every layer, so that the other blocks' down adds
     * arrive before it reads; with one copy of x it would read some of them. The bits must not
     * change. */
    retnet_model *late = persistent_model(&c, "1", "RETNET_CUDA_PSTEP_DELAY", "50");
    if (late) {
        float *lgd = malloc(sizeof(float) * (size_t)n), *sd = malloc(sizeof(float) * (size_t)sf);
        prefill_steps(late, tok, T, step, STEPS, sd, lp, lgd);
        CHECK(model_cuda_persistent(late->device), "the late reader's model has no persistent step");
        CHECK(!memcmp(lgd, lg[1], sizeof(float) * (size_t)n) &&
                  !memcmp(sd, st + sf, sizeof(float) * (size_t)sf),
              "persistent: a block reading x late after meeting B changed the step's bits");
        free(lgd), free(sd);
    }
    retnet_model_free(late);

    /* where down's packed copy cannot be made (RETNET_CUDA_PSTEP_NOMEM=1 stands in for a full
     * GPU), the default falls back to the chain: the chain's bits, and the persistent step off
     * after the first step; under RETNET_CUDA_PERSISTENT=1 the step fails and says why */
    for (int ask = 0; ask < 2; ask++) {
        retnet_model *nm = persistent_model(&c, ask ? "1" : NULL, "RETNET_CUDA_PSTEP_NOMEM", "1");
        if (!nm) continue;
        CHECK(model_cuda_persistent(nm->device), "the persistent step should be on before its first step");
        float *lgn = malloc(sizeof(float) * (size_t)n), *sn = malloc(sizeof(float) * (size_t)sf);
        if (!ask) {
            prefill_steps(nm, tok, T, step, STEPS, sn, lp, lgn);
            CHECK(!model_cuda_persistent(nm->device),
                  "no room for down's copy, yet the persistent step stayed on");
            CHECK(!memcmp(lgn, lg[2], sizeof(float) * (size_t)n),
                  "without down's copy the steps are not the chain's bits");
        } else {
            memset(sn, 0, sizeof(float) * (size_t)sf);
            retnet_state svn = {.pos = 0, .data = sn};
            OK(retnet_forward(nm, tok, 1, T, RETNET_FORM_CHUNKWISE, 0, &svn, lp));
            const retnet_status e = retnet_forward(nm, step, 1, 1, RETNET_FORM_RECURRENT, 0, &svn, lgn);
            CHECK(e == RETNET_ENOMEM && strstr(retnet_errmsg(), "copy of down"),
                  "RETNET_CUDA_PERSISTENT=1 without room for down's copy: status %d, \"%s\"", (int)e,
                  retnet_errmsg());
        }
        free(lgn), free(sn);
        retnet_model_free(nm);
    }

    /* device states and device logits (the graph's path): the host-state run's bits */
    model_cuda *d = gpu->device;
    float *S = NULL, *ld = NULL, *got = malloc(sizeof(float) * (size_t)n);
    int64_t pos = 0;
    OK(model_cuda_states_alloc(d, 1, &S));
    OK(retnet_cuda_malloc((void **)&ld, sizeof(float) * (size_t)model_cuda_logits_stride(d),
                          "test logits"));
    if (S && ld) {
        OK(model_cuda_forward_states(d, tok, 1, T, S, &pos, lp));
        for (int t = 0; t < STEPS; t++) {
            pos = T + t;
            OK(model_cuda_forward_last(d, step + t, 1, 1, S, &pos, ld));
            OK(retnet_cuda_download(got + (int64_t)t * V, ld, sizeof(float) * (size_t)V));
        }
        CHECK(!memcmp(got, lg[1], sizeof(float) * (size_t)n),
              "persistent: the graph's steps differ from the host-state steps (not deterministic?)");
        CHECK(model_cuda_graph_captures(d) >= 1, "persistent: no decoding graph was captured");
    }
    retnet_cuda_free(S), retnet_cuda_free(ld);
    free(got);

    /* greedy steps queued at once (retnet_batch_greedy: each step's token fed from the graph's
     * argmax on the device) are the persistent step's bits one step at a time */
    {
        retnet_batch *ga = NULL, *gb = NULL;
        int32_t ids[STEPS], ref[STEPS];
        float *xa = malloc(sizeof(float) * (size_t)sf), *xb = malloc(sizeof(float) * (size_t)sf);
        OK(retnet_batch_create(gpu, 1, &ga));
        OK(retnet_batch_create(gpu, 1, &gb));
        if (ga && gb && xa && xb) {
            OK(retnet_batch_forward(ga, tok, T, NULL));
            OK(retnet_batch_forward(gb, tok, T, NULL));
            OK(retnet_batch_greedy(ga, STEPS, ids));
            for (int t = 0; t < STEPS; t++) {
                OK(retnet_batch_argmax(gb, ref + t));
                OK(retnet_batch_forward(gb, ref + t, 1, NULL));
            }
            retnet_state x = {.data = xa}, y = {.data = xb};
            OK(retnet_batch_get(ga, 0, &x));
            OK(retnet_batch_get(gb, 0, &y));
            CHECK(!memcmp(ids, ref, sizeof ids) && x.pos == y.pos &&
                      !memcmp(xa, xb, sizeof(float) * (size_t)sf),
                  "persistent: greedy steps queued at once differ from one at a time (ids %d %d)",
                  ids[STEPS - 1], ref[STEPS - 1]);
            CHECK(model_cuda_persistent(gpu->device), "persistent: the step went off during greedy");
        }
        retnet_batch_free(ga), retnet_batch_free(gb);
        free(xa), free(xb);
    }

    /* new weights (down negated, as a training step would change it): the persistent step
     * reads its packed copy of down, which must follow the upload; the CPU has them too */
    float *np = malloc(sizeof(float) * (size_t)cpu->n_params);
    memcpy(np, cpu->params, sizeof(float) * (size_t)cpu->n_params);
    for (int l = 0; l < c.n_layer; l++) {
        float *f = np + (cpu->layers[l].fc2 - cpu->params);
        for (int64_t i = 0; i < c.d_model * c.d_ffn; i++) f[i] = -f[i];
    }
    memcpy(cpu->params, np, sizeof(float) * (size_t)cpu->n_params);
    for (int i = 1; i < 3; i++) {
        OK(model_cuda_train_begin(m[i]->device, m[i]));
        OK(model_cuda_train_upload(m[i]->device, m[i], np, NULL, NULL));
    }
    for (int i = 0; i < 3; i++) prefill_steps(m[i], tok, T, step, STEPS, st + i * sf, lp, lg[i]);
    close_to(lg[1], lg[0], n, R, 0, "persistent after new weights, logits");
    close_to(lg[2], lg[0], n, R, 0, "the chain after new weights, logits");
    free(np);
    for (int i = 0; i < 3; i++) free(lg[i]);
    free(st), free(lp);
    retnet_model_free(cpu), retnet_model_free(gpu), retnet_model_free(off);
}

/* n recurrent steps of two sequences at once from states sv (their positions in them): step
 * t's tokens steps[t], steps[n + t]; logits into lg (n x 2 x vocab) */
static void steps2(retnet_model *m, const int32_t *steps, int n, retnet_state *sv, float *lg) {
    const int64_t V = m->cfg.vocab;
    for (int t = 0; t < n; t++) {
        const int32_t tk[2] = {steps[t], steps[n + t]};
        OK(retnet_forward(m, tk, 2, 1, RETNET_FORM_RECURRENT, 0, sv, lg + (int64_t)t * 2 * V));
    }
}

/*
 * The persistent step at two sequences (cuda_pstep_batches() == 2): test_persistent's model;
 * two prompts of different lengths (so different positions), each prefilled alone, then 20
 * steps of both at once. Each sequence's logits and states must be the bits of the same
 * sequence decoded alone by the persistent step: a sequence's work in the kernel is its own
 * (the products' mma takes the two as its columns 0 and 1, each column summed apart). Both
 * within the rule of the CPU's, and the chain's (RETNET_CUDA_PERSISTENT=0) too, whose bits the
 * persistent ones must not be (it ran). Then the same through device states and device
 * logits (the graph's path), and with a block reading x late (the two copies of x): the
 * host-state run's bits. Last, one sequence's x past the fixed point's range: its logits NaN,
 * the other's its bits.
 */
static void test_persistent2(void) {
    enum { T1 = 40, T2 = 23, STEPS = 20 };
    retnet_config c = fla_like(1024, 2048, 3, 8, 2);
    c.d_ffn = 2816;
    if (cuda_pstep_batches() < 2) {
        fprintf(stderr, "     (skipped: the persistent step does not take 2 sequences here)\n");
        return;
    }
    retnet_model *cpu, *gpu;
    unsetenv("RETNET_CUDA_PERSISTENT");
    if (!make_pair(&c, 61, &cpu, &gpu)) return;
    retnet_model *off = persistent_model(&c, "0", NULL, NULL);
    if (!off) {
        retnet_model_free(cpu), retnet_model_free(gpu);
        return;
    }
    const int32_t V = c.vocab;
    const int64_t sf = retnet_state_floats(&c), n2 = (int64_t)STEPS * 2 * V;
    float *st = calloc((size_t)(8 * sf), sizeof(float)), *lp = malloc(sizeof(float) * T1 * V);
    float *lg[3];
    for (int i = 0; i < 3; i++) lg[i] = malloc(sizeof(float) * (size_t)n2);
    retnet_model *m[3] = {cpu, gpu, off};
    uint64_t s = 93;
    int32_t tok[T1 + T2], step[2 * STEPS];
    rand_tokens(tok, T1 + T2, V, &s);
    rand_tokens(step, 2 * STEPS, V, &s);
    for (int i = 0; i < 3; i++) { /* states of model i: st + 2 i sf (sequence 0), + sf (1) */
        retnet_state sv[2] = {{.pos = 0, .data = st + 2 * i * sf}, {.pos = 0, .data = st + (2 * i + 1) * sf}};
        OK(retnet_forward(m[i], tok, 1, T1, RETNET_FORM_CHUNKWISE, 0, &sv[0], lp));
        OK(retnet_forward(m[i], tok + T1, 1, T2, RETNET_FORM_CHUNKWISE, 0, &sv[1], lp));
        steps2(m[i], step, STEPS, sv, lg[i]);
    }
    /* each sequence alone on the GPU (B = 1: the persistent step too) */
    float *sa = st + 6 * sf;
    for (int q = 0; q < 2; q++) {
        float *lq = malloc(sizeof(float) * (size_t)STEPS * V);
        prefill_steps(gpu, tok + (q ? T1 : 0), q ? T2 : T1, step + q * STEPS, STEPS, sa + q * sf, lp, lq);
        int same = 1;
        for (int t = 0; t < STEPS; t++)
            same &= !memcmp(lq + (int64_t)t * V, lg[1] + ((int64_t)t * 2 + q) * V, sizeof(float) * (size_t)V);
        CHECK(same, "persistent B=2: sequence %d's logits are not its bits decoded alone", q);
        CHECK(!memcmp(sa + q * sf, st + (2 + q) * sf, sizeof(float) * (size_t)sf),
              "persistent B=2: sequence %d's state is not its bits decoded alone", q);
        free(lq);
    }
    const double R = chain(c.n_layer);
    close_to(lg[1], lg[0], n2, R, 0, "persistent B=2: 20 steps, logits");
    close_to(st + 2 * sf, st, 2 * sf, R, 0, "persistent B=2: states after decoding");
    close_to(lg[2], lg[0], n2, R, 0, "the chain B=2: 20 steps, logits");
    CHECK(memcmp(lg[1], lg[2], sizeof(float) * (size_t)n2) != 0,
          "persistent B=2: the logits are the chain's bits: did it run?");
    CHECK(memcmp(lg[1], lg[1] + V, sizeof(float) * (size_t)V) != 0,
          "persistent B=2: the two sequences' first logits are the same bits");

    /* device states and logits (the graph's path), from the host states after the prefills */
    model_cuda *d = gpu->device;
    float *S = NULL, *ld = NULL, *got = malloc(sizeof(float) * (size_t)n2);
    float *pre = calloc((size_t)(2 * sf), sizeof(float));
    retnet_state pv[2] = {{.pos = 0, .data = pre}, {.pos = 0, .data = pre + sf}};
    OK(retnet_forward(gpu, tok, 1, T1, RETNET_FORM_CHUNKWISE, 0, &pv[0], lp));
    OK(retnet_forward(gpu, tok + T1, 1, T2, RETNET_FORM_CHUNKWISE, 0, &pv[1], lp));
    OK(model_cuda_states_alloc(d, 2, &S));
    const int64_t ldv = model_cuda_logits_stride(d);
    OK(retnet_cuda_malloc((void **)&ld, sizeof(float) * (size_t)(2 * ldv), "test logits"));
    if (S && ld) {
        OK(model_cuda_states_upload(d, S, pv, 2));
        for (int t = 0; t < STEPS; t++) {
            const int32_t tk[2] = {step[t], step[STEPS + t]};
            const int64_t pos[2] = {T1 + t, T2 + t};
            OK(model_cuda_forward_last(d, tk, 2, 1, S, pos, ld));
            for (int q = 0; q < 2; q++)
                OK(retnet_cuda_download(got + ((int64_t)t * 2 + q) * V, ld + q * ldv, sizeof(float) * (size_t)V));
        }
        CHECK(!memcmp(got, lg[1], sizeof(float) * (size_t)n2),
              "persistent B=2: the graph's steps differ from the host-state steps");
    }
    retnet_cuda_free(S), retnet_cuda_free(ld);
    free(got), free(pre);

    /* a block reading x 50 us late after meeting B: the same bits */
    retnet_model *late = persistent_model(&c, "1", "RETNET_CUDA_PSTEP_DELAY", "50");
    if (late) {
        float *lgd = malloc(sizeof(float) * (size_t)n2), *sd = calloc((size_t)(2 * sf), sizeof(float));
        retnet_state sv[2] = {{.pos = 0, .data = sd}, {.pos = 0, .data = sd + sf}};
        OK(retnet_forward(late, tok, 1, T1, RETNET_FORM_CHUNKWISE, 0, &sv[0], lp));
        OK(retnet_forward(late, tok + T1, 1, T2, RETNET_FORM_CHUNKWISE, 0, &sv[1], lp));
        steps2(late, step, STEPS, sv, lgd);
        CHECK(!memcmp(lgd, lg[1], sizeof(float) * (size_t)n2) &&
                  !memcmp(sd, st + 2 * sf, sizeof(float) * (size_t)(2 * sf)),
              "persistent B=2: a block reading x late after meeting B changed the step's bits");
        free(lgd), free(sd);
    }
    retnet_model_free(late);

    /* a value of x past the fixed point's 2^23 makes its own sequence's logits NaN and leaves
     * the other's bits: sequence 0's next token's embedding row given a value of 2^24, in a
     * token neither prompt has (the GPU's weights uploaded as training would) */
    int32_t big = -1;
    for (int32_t v = 0; v < V && big < 0; v++) {
        int used = step[STEPS] == v;
        for (int i = 0; i < T1 + T2 && !used; i++) used = tok[i] == v;
        if (!used) big = v;
    }
    if (big >= 0) {
        float *np = malloc(sizeof(float) * (size_t)cpu->n_params), *sn = calloc((size_t)(2 * sf), sizeof(float));
        float *ln = malloc(sizeof(float) * 2 * (size_t)V);
        memcpy(np, cpu->params, sizeof(float) * (size_t)cpu->n_params);
        np[(cpu->g.embed - cpu->params) + (int64_t)big * c.d_model] = 0x1p24f;
        OK(model_cuda_train_begin(gpu->device, gpu));
        OK(model_cuda_train_upload(gpu->device, gpu, np, NULL, NULL));
        retnet_state sv[2] = {{.pos = 0, .data = sn}, {.pos = 0, .data = sn + sf}};
        OK(retnet_forward(gpu, tok, 1, T1, RETNET_FORM_CHUNKWISE, 0, &sv[0], lp));
        OK(retnet_forward(gpu, tok + T1, 1, T2, RETNET_FORM_CHUNKWISE, 0, &sv[1], lp));
        const int32_t tk[2] = {big, step[STEPS]};
        OK(retnet_forward(gpu, tk, 2, 1, RETNET_FORM_RECURRENT, 0, sv, ln));
        int nans = 0;
        for (int32_t v = 0; v < V; v++) nans += isnan(ln[v]) != 0;
        CHECK(nans == V, "persistent B=2: x past 2^23 in sequence 0 left %d of %d logits not NaN",
              V - nans, V);
        CHECK(!memcmp(ln + V, lg[1] + V, sizeof(float) * (size_t)V),
              "persistent B=2: sequence 1's logits changed with sequence 0's x past 2^23");
        free(np), free(sn), free(ln);
    }
    for (int i = 0; i < 3; i++) free(lg[i]);
    free(st), free(lp);
    retnet_model_free(cpu), retnet_model_free(gpu), retnet_model_free(off);
}

/* What the CUDA forward does not cover is refused, and the model stays on the CPU. */
static void test_refused(void) {
    retnet_config c;
    retnet_model *m = NULL;
    OK(retnet_config_preset("tiny", &c)); /* the paper's variant: normalize on */
    OK(retnet_model_create(&c, &m));
    if (m) {
        /* runs on the GPU (and trains there: test_cuda_train) */
        OK(retnet_model_to_device(m, "cuda"));
        int32_t tok[3] = {1, 2, 3};
        float *lg = malloc(sizeof(float) * 3 * (size_t)c.vocab);
        OK(retnet_forward(m, tok, 1, 3, RETNET_FORM_PARALLEL, 0, NULL, lg));
        free(lg);
        /* an unknown device is refused and leaves the model where it was */
        OK(retnet_model_to_device(m, "cpu"));
        retnet_status s = retnet_model_to_device(m, "gpu");
        CHECK(s == RETNET_EINVAL, "unknown device: got %s", retnet_status_name(s));
        s = retnet_model_to_device(m, "cuda:x");
        CHECK(s == RETNET_EINVAL, "cuda:x: got %s", retnet_status_name(s));
        OK(retnet_model_to_device(m, "cpu"));
        retnet_model_free(m);
        m = NULL;
    }
    OK(retnet_config_preset("tf-tiny", &c)); /* runs on the GPU, but does not train there */
    OK(retnet_model_create(&c, &m));
    if (m) {
        OK(retnet_model_to_device(m, "cuda"));
        retnet_trainer *t = NULL;
        retnet_status s = retnet_trainer_create(m, &t);
        CHECK(s == RETNET_EUNSUPPORTED && !t && strstr(retnet_errmsg(), "Transformer"),
              "transformer training: got %s (%s)", retnet_status_name(s), retnet_errmsg());
        retnet_trainer_free(t);
        retnet_model_free(m);
        m = NULL;
    }
    c = fla_like(64, 64, 1, 2, 2);
    OK(retnet_model_create(&c, &m));
    if (m) {
        retnet_status s = retnet_model_to_device(m, "cuda:1000");
        CHECK(s != RETNET_OK && m->device == NULL, "cuda:1000: got %s", retnet_status_name(s));
        OK(retnet_model_to_device(m, "cuda:0"));
        CHECK(m->device != NULL, "cuda:0 did not move the model");
        OK(retnet_model_to_device(m, "cpu"));
        CHECK(m->device == NULL, "cpu did not bring the model back");
        retnet_model_free(m);
    }
}

/* fla's RetNetForCausalLM fixture (tests/test_hf.c's test_fla_parity) on the GPU: its float32
 * weights become bf16 there. Against fla's logits and against our CPU's; the chunkwise prefill
 * and token-by-token decoding; and the model loaded bf16-only (RETNET_LOAD_BF16, whose fp32
 * range of the 2-D weights must never be read) against the CPU's bf16-only model. */
static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

static void test_fla_fixture(void) {
    const char *dir = "tests/fixtures/fla/model";
    char *toks = read_text("tests/fixtures/fla/tokens.txt");
    FILE *f = fopen("tests/fixtures/fla/logits-T100-f32.f32", "rb");
    CHECK(toks && f, "the fla fixture is missing (run from the repository root)");
    if (!toks || !f) { free(toks); if (f) fclose(f); return; }
    enum { T = 100, V = 128 };
    static float want[T * V], cpu[T * V], got[T * V];
    CHECK(fread(want, sizeof(float), T * V, f) == T * V, "short fixture");
    fclose(f);
    int32_t tok[T];
    int n = 0;
    for (char *p = toks; *p && n < T;) {
        tok[n++] = (int32_t)strtol(p, &p, 10);
        while (*p == ',' || *p == '\n' || *p == ' ') p++;
    }
    free(toks);
    CHECK(n == T, "%d tokens in the fixture", n);

    for (int bf = 0; bf < 2; bf++) {
        retnet_model *mc = NULL, *mg = NULL;
        unsigned flags = bf ? RETNET_LOAD_BF16 : 0;
        OK(retnet_model_load_ex(dir, NULL, flags, &mc));
        OK(retnet_model_load_ex(dir, NULL, flags, &mg));
        if (!mc || !mg) { retnet_model_free(mc); retnet_model_free(mg); return; }
        const retnet_config *c = retnet_model_config(mg);
        CHECK(c->vocab == V && c->normalize == 0, "fla's config read wrongly");
        OK(retnet_model_to_device(mg, "cuda"));
        if (!mg->device) { retnet_model_free(mc); retnet_model_free(mg); return; }
        const double R = chain(c->n_layer), Rw = bf ? 0 : wchain(c->n_layer);
        char what[128];

        OK(retnet_forward(mc, tok, 1, T, RETNET_FORM_CHUNKWISE, 0, NULL, cpu));
        OK(retnet_forward(mg, tok, 1, T, RETNET_FORM_CHUNKWISE, 0, NULL, got));
        snprintf(what, sizeof what, "fla fixture, %s weights: gpu vs cpu", bf ? "bf16" : "f32");
        close_to(got, cpu, T * V, R + Rw, 0, what);
        if (!bf) close_to(got, want, T * V, R + Rw, 4e-3, "fla fixture: gpu prefill vs fla");

        float *st = calloc((size_t)retnet_state_floats(c), sizeof(float));
        retnet_state s = {0, st};
        for (int t = 0; t < T; t++)
            OK(retnet_forward(mg, tok + t, 1, 1, RETNET_FORM_RECURRENT, 0, &s, got + t * V));
        free(st);
        CHECK(s.pos == T, "pos %lld after %d steps", (long long)s.pos, T);
        snprintf(what, sizeof what, "fla fixture, %s weights: gpu decoding vs cpu",
                 bf ? "bf16" : "f32");
        close_to(got, cpu, T * V, R + Rw, 0, what);
        if (!bf) close_to(got, want, T * V, R + Rw, 4e-3, "fla fixture: gpu decoding vs fla");
        retnet_model_free(mc);
        retnet_model_free(mg);
    }
}

int main(int argc, char **argv) {
    TEST_ONLY(argc, argv); /* names given: only those (compute-sanitizer is slow) */
    if (!cuda_test_start("test_cuda_model", NULL)) return TEST_SUMMARY();
    RUN_IF(test_prefill_decode);
    RUN_IF(test_variants);
    RUN_IF(test_wide_batch);
    RUN_IF(test_window);
    RUN_IF(test_rms_chain);
    RUN_IF(test_persistent);
    RUN_IF(test_persistent2);
    RUN_IF(test_refused);
    RUN_IF(test_fla_fixture);
    retnet_cuda_shutdown();
    return TEST_SUMMARY();
}
