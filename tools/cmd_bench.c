/*
 * retnet bench train / retnet bench decode: end-to-end speed of a whole model, through the
 * public API only (what any user of the library gets).
 *
 * train: a random-initialised (or loaded) model where --device puts it, one fixed batch of
 * random tokens, W warm-up steps then N timed steps of the trainer
 * (retnet_trainer_zero_grad, _accumulate with the chunkwise form, _grad_norm, _update with
 * clipping at 1.0). A step's time is the interval between the returns of two successive
 * grad_norm calls (each returns a number to the host, so the device has finished): exactly one
 * update, one zero_grad, one forward/backward and one norm, whatever runs asynchronously.
 * The same batch every step: the loss falls visibly (the model memorises it), which shows
 * that the steps train; the cost of a step does not depend on the tokens.
 *
 * Model FLOPs (the MFU numerator; bench/gpu/fla_train.py mirrors this function):
 *   per token = 6 P + 3 R
 *   P: parameters that take part in products = every 2-D weight, except the embedding table
 *      when it is only looked up (untied); tied, it is the output projection and counts once.
 *   R: retention's own forward work per token, chunkwise form with chunk C = min(64, T) (the
 *      GPU kernel's chunk), summed over layers and heads of widths dk, dv:
 *        4 dk dv          state update k^T v (2 dk dv) and the state read q S (2 dk dv)
 *        + 2 C (dk + dv)  intra-chunk scores q k^T and their product with v, full C x C blocks
 *      x3 for forward + backward, as 6 P is 3 x the forward's 2 P.
 *   Transformer (arch transformer): R = T (d_key + d_value) per layer, the causal attention's
 *   score and output products (FlashAttention's convention), also x3.
 * MFU = FLOPs per token x tokens/s / peak; the peak is 989 TFLOP/s (dense bf16 of an
 * H100/H200 SXM) on a GPU, or --peak-tflops. The library does not name the GPU, so the peak
 * used is printed.
 *
 * decode: for each context X, one sequence is prefilled to X tokens (chunkwise forwards of
 * --prefill-piece tokens) in a retnet_batch, its state copied out (retnet_batch_get) and into
 * every sequence of a batch of B (retnet_batch_set): a state at the right position with real
 * content. Then greedy steps, timed one by one: a forward of one token per sequence (logits
 * kept on the device) and retnet_batch_argmax, whose ids the host feeds to the next step. With
 * --queue K > 1: the first step by retnet_batch_forward, then runs of K steps by
 * retnet_batch_greedy (each step's tokens the argmax of the step before, fed on the device: no
 * turn of the host between the steps of a run), each step of a run timed as the run's mean.
 * On the H200 (dev/cuda/runs/next304-305, the 1.3B fla shape) runs of 8 or 48 were level at B = 1,
 * 1.5-2% faster at B = 8 and 1.5-2.5% slower at B = 64 (not explained: the kernels' own times
 * were the same), so 1 stays the default. The bound:
 * the bytes one step must read (each 2-D weight used in a product once, bf16 on the GPU, the
 * model's own precision on the CPU; RetNet's states read once, as the issue states the bound
 * (a step with the decoding window reads them and writes them every W steps; without it, they
 * are read and written); a Transformer reads the X used rows of its KV cache and writes one)
 * over --bandwidth-gbs.
 */
#include "cli.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define BENCH_CHUNK 64          /* the chunk of the GPU's chunkwise kernel */
#define PEAK_GPU_TFLOPS 989.0   /* dense bf16, H100/H200 SXM (datasheet) */
#define BW_GPU_GBS 4800.0       /* H200 HBM3e (datasheet) */

/* ---------------------------------------------------------------- shared */

static int on_gpu(const char *device) { return device && !strncmp(device, "cuda", 4); }

static double peak_rss_bytes(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return 1024.0 * (double)ru.ru_maxrss; /* kilobytes on Linux */
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, min and max of n values (sorted in place). */
static void stats(double *v, int n, double *med, double *lo, double *hi) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    *lo = v[0];
    *hi = v[n - 1];
}


/* s escaped for a JSON string, into the char array buf */
#define JS(buf, s) cli_json_escape(buf, sizeof buf, s)

static void random_tokens(int32_t *t, int64_t n, int32_t vocab, uint64_t seed) {
    uint64_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        t[i] = (int32_t)((s >> 33) % (uint64_t)vocab);
    }
}

/*
 * The parameters that take part in products (P above) and the bytes one pass over them reads:
 * every 2-D weight but the embedding table when it is only looked up. bf16: 2 bytes each;
 * otherwise the model's own precision (a bf16-only model holds its 2-D weights in bf16).
 */
static int64_t product_params(const retnet_model *m, int bf16, int64_t *bytes) {
    const retnet_config *c = retnet_model_config(m);
    int64_t n = 0, b = 0;
    for (int32_t i = 0; i < retnet_model_tensor_count(m); i++) {
        retnet_tensor t;
        CHECK(retnet_model_tensor(m, i, &t), "");
        if (t.ndim != 2) continue;
        if (!strcmp(t.name, "embed_tokens.weight") && !c->tie_embeddings) continue;
        n += t.numel;
        b += t.numel * (bf16 || !t.data ? 2 : 4);
    }
    if (bytes) *bytes = b;
    return n;
}

/* Forward FLOPs per token of the token mixer's own work (R above), for windows of T tokens. */
static double mixer_flops_per_token(const retnet_config *c, int64_t T) {
    if (c->arch == RETNET_ARCH_TRANSFORMER)
        return (double)c->n_layer * (double)T * (double)(c->d_key + c->d_value);
    double dk = (double)c->d_key / c->n_head, dv = (double)c->d_value / c->n_head;
    double C = T < BENCH_CHUNK ? (double)T : BENCH_CHUNK;
    return (double)c->n_layer * c->n_head * (4 * dk * dv + 2 * C * (dk + dv));
}

/* Model FLOPs per trained token: 6 P + 3 R (see the top of this file). */
static double train_flops_per_token(const retnet_model *m, int64_t T, int64_t *P, double *R) {
    *P = product_params(m, 0, NULL);
    *R = mixer_flops_per_token(retnet_model_config(m), T);
    return 6.0 * (double)*P + 3.0 * *R;
}

enum { O_PRESET, O_CONFIG, O_MODEL, O_DEVICE, O_BATCH, O_SEQ, O_STEPS, O_WARMUP, O_LR, O_SEED,
       O_PEAK, O_CONTEXT, O_PIECE, O_BW, O_JSON, O_QUEUE, O_COUNT };

#define BENCH_OPTS                                                                         \
    {{"--preset", 1}, {"--config", 1}, {"--model", 1},    {"--device", 1},                 \
     {"--batch", 1},  {"--seq", 1},    {"--steps", 1},    {"--warmup", 1},                 \
     {"--lr", 1},     {"--seed", 1},   {"--peak-tflops", 1}, {"--context", 1},             \
     {"--prefill-piece", 1}, {"--bandwidth-gbs", 1}, {"--json", 0}, {"--queue", 1}}

/* The model of --preset, --config (both random-initialised from seed) or --model. Training
 * needs float32 weights: a checkpoint is then loaded as float32 whatever it stores. */
static retnet_model *bench_model(opt *o, uint64_t seed, int train, const char **label) {
    if (o[O_PRESET].given + o[O_CONFIG].given + o[O_MODEL].given != 1)
        FAIL("give exactly one of --preset NAME, --config FILE or --model PATH");
    retnet_model *m;
    if (o[O_MODEL].given) {
        *label = o[O_MODEL].value;
        if (!train) return cli_load_model(o[O_MODEL].value, NULL);
        CHECK(retnet_model_load_ex(o[O_MODEL].value, NULL, 0, &m),
              "give a retnet safetensors checkpoint or a Hugging Face directory in fla's layout");
        return m;
    }
    retnet_config c;
    if (o[O_PRESET].given) {
        *label = o[O_PRESET].value;
        CHECK(retnet_config_preset(o[O_PRESET].value, &c), "pick one of the listed presets");
    } else {
        *label = o[O_CONFIG].value;
        CHECK(retnet_config_load(o[O_CONFIG].value, &c), "fix the config file (docs/FILE_FORMAT.md)");
    }
    CHECK(retnet_model_create(&c, &m), "use a smaller model");
    CHECK(retnet_model_init(m, seed), "");
    return m;
}

/* Moves the model; returns 0 (after printing why) when the device refuses it. */
static int bench_to_device(retnet_model *m, const char *device, const char *what,
                           const char *label, int json) {
    if (!device || !strcmp(device, "cpu")) return 1;
    retnet_status s = retnet_model_to_device(m, device);
    if (s == RETNET_OK) return 1;
    if (s != RETNET_EUNSUPPORTED)
        FAIL("%s; use --device cpu, or a CUDA build on a machine with a GPU", retnet_errmsg());
    char b1[1024], b2[1024], b3[1024];
    if (json)
        printf("{\"bench\": \"%s\", \"impl\": \"retnet\", \"model\": \"%s\", \"device\": \"%s\", "
               "\"refused\": \"%s\"}\n", what, JS(b3, label), JS(b1, device),
               JS(b2, retnet_errmsg()));
    else
        printf("%s: the device refuses this model: %s\n", device, retnet_errmsg());
    fflush(stdout);
    return 0;
}

/* Comma-separated positive integers. */
static int parse_list(const char *s, const char *what, int64_t lo, int64_t hi, int64_t *out,
                      int cap) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char buf[32];
        size_t k = strcspn(p, ",");
        if (k == 0 || k >= sizeof buf) FAIL("%s '%s' is not a list like 1,8,64", what, s);
        if (n == cap) FAIL("%s: at most %d values", what, cap);
        memcpy(buf, p, k);
        buf[k] = 0;
        out[n++] = cli_int(buf, what, lo, hi);
        p += k;
        if (*p == ',') p++;
    }
    if (n == 0) FAIL("%s is empty; give values like 1,8,64", what);
    return n;
}

/* ---------------------------------------------------------------- train */

static void usage_bench(void) {
    printf(
        "usage: retnet bench train  (--preset P | --config F | --model M) [--device D]\n"
        "                           [--batch B] [--seq T] [--steps N] [--warmup W] [--lr X]\n"
        "                           [--seed S] [--peak-tflops X] [--json]\n"
        "       retnet bench decode (--preset P | --config F | --model M) [--device D]\n"
        "                           [--batch 1,8,64,256] [--context 2048,8192,32768]\n"
        "                           [--steps N] [--warmup W] [--prefill-piece P]\n"
        "                           [--bandwidth-gbs X] [--queue K] [--seed S] [--json]\n\n"
        "End-to-end speed of a whole model through the library's public API.\n\n"
        "train: W warm-up and N timed training steps of the trainer (zero_grad, accumulate\n"
        "with the chunkwise form, grad_norm, AdamW update with clipping at 1.0) on one fixed\n"
        "batch of B x T random tokens (so the loss falls: it memorises). Prints ms/step\n"
        "(median of the timed steps; a step is the interval between two grad_norm returns),\n"
        "tokens/s, model FLOPs, MFU, memory (device bytes held on a GPU, peak RSS on the CPU)\n"
        "and the loss of the first and the last step.\n"
        "  Model FLOPs per token = 6 P + 3 R. P: the parameters that take part in products,\n"
        "  every 2-D weight except the embedding table when it is only looked up. R: the token\n"
        "  mixer's own forward work per token: retention (chunkwise, chunk C = min(64, T)),\n"
        "  per layer and head 4 dk dv (state update and read) + 2 C (dk + dv) (intra-chunk\n"
        "  scores and output); a Transformer's causal attention T (d_key + d_value) per layer.\n"
        "  MFU = FLOPs per token x tokens/s / peak; peak 989 TFLOP/s (dense bf16, H100/H200\n"
        "  SXM) on a GPU, else --peak-tflops (none given on the CPU: no MFU).\n\n"
        "decode: for each context X, prefills one sequence to X tokens, copies its state into\n"
        "all B sequences of a batch (a real state at position X) and times greedy steps (one\n"
        "token per sequence, argmax fed back; with --queue K, runs of K steps queued at once\n"
        "through retnet_batch_greedy, each step's tokens fed on the device, each step of a\n"
        "run given the run's mean). Prints ms/step (median), tokens/s (B / step),\n"
        "the state bytes per sequence (a Transformer's KV cache: the rows used at X), memory,\n"
        "and the bandwidth bound: bytes of weights read per step (2-D product weights, bf16 on\n"
        "a GPU) + the states read once (state bytes x B; a Transformer: its KV rows read and\n"
        "one written), over --bandwidth-gbs (default 4800 on a GPU, H200 HBM). JSON also has\n"
        "the mean step (ms_per_step_mean: steps that fold a decoding window are slower).\n"
        "A Transformer config (arch transformer, presets tf-NAME) gets a KV cache of X + the\n"
        "steps; a model the device refuses is reported as such.\n\n"
        "  --preset NAME       a preset, random-initialised (tiny, small, base, 1.3b, tf-NAME)\n"
        "  --config FILE       a JSON config, random-initialised\n"
        "  --model M           a checkpoint or a Hugging Face directory in fla's layout\n"
        "  --device D          cpu (default), cuda or cuda:N (a CUDA build)\n"
        "  --batch B           train: windows per step (default 8); decode: a list (default\n"
        "                      1,8,64,256)\n"
        "  --seq T             train: tokens per window (default 256)\n"
        "  --context LIST      decode: contexts to prefill to (default 2048,8192,32768)\n"
        "  --steps N           timed steps (default train 10, decode 32)\n"
        "  --warmup W          untimed steps first (default train 3, decode 4)\n"
        "  --lr X              train: AdamW learning rate (default 3e-4; betas 0.9, 0.98, weight\n"
        "                      decay 0.05)\n"
        "  --prefill-piece P   decode: tokens per prefill forward (default 2048)\n"
        "  --peak-tflops X     train: the peak for MFU (default 989 on a GPU)\n"
        "  --bandwidth-gbs X   decode: memory bandwidth for the bound (default 4800 on a GPU)\n"
        "  --queue K           decode: greedy steps queued at once (retnet_batch_greedy; default\n"
        "                      1: a step, its ids to the host (retnet_batch_argmax), the next\n"
        "                      step from them)\n"
        "  --seed S            initialisation and tokens (default 1)\n"
        "  --json              one JSON object per measurement on stdout\n");
}

static int bench_train(int argc, char **argv) {
    opt o[] = BENCH_OPTS;
    cli_parse(argc, argv, o, O_COUNT, NULL, 0, usage_bench);
    if (o[O_CONTEXT].given || o[O_PIECE].given || o[O_BW].given || o[O_QUEUE].given)
        FAIL("--context, --prefill-piece, --bandwidth-gbs and --queue are for 'retnet bench decode'");
    int32_t B = (int32_t)cli_int(o[O_BATCH].given ? o[O_BATCH].value : "8", "--batch", 1, 1 << 20);
    int32_t T = (int32_t)cli_int(o[O_SEQ].given ? o[O_SEQ].value : "256", "--seq", 1, 1 << 24);
    int N = (int)cli_int(o[O_STEPS].given ? o[O_STEPS].value : "10", "--steps", 1, 1000000);
    int W = (int)cli_int(o[O_WARMUP].given ? o[O_WARMUP].value : "3", "--warmup", 0, 1000000);
    double lr = cli_double(o[O_LR].given ? o[O_LR].value : "3e-4", "--lr", 0, 10);
    uint64_t seed = o[O_SEED].given ? (uint64_t)cli_int(o[O_SEED].value, "--seed", 0, LLONG_MAX) : 1;
    const char *device = o[O_DEVICE].given ? o[O_DEVICE].value : "cpu";
    double peak = on_gpu(device) ? PEAK_GPU_TFLOPS : 0;
    if (o[O_PEAK].given) peak = cli_double(o[O_PEAK].value, "--peak-tflops", 1e-6, 1e9);
    int json = o[O_JSON].given;
    char jl[1024], jd[256], jm[1024]; /* JSON-escaped label, device, message */
    if ((int64_t)B * T > INT32_MAX) FAIL("--batch x --seq is too large; give fewer tokens");

    const char *label;
    double t_load = cli_now();
    retnet_model *m = bench_model(o, seed, 1, &label);
    const retnet_config *c = retnet_model_config(m);
    int64_t np = retnet_config_param_count(c);
    if (!bench_to_device(m, device, "train", label, json)) {
        retnet_model_free(m);
        return 0;
    }
    retnet_trainer *tr;
    retnet_status s = retnet_trainer_create(m, &tr);
    if (s == RETNET_EUNSUPPORTED) {
        if (json)
            printf("{\"bench\": \"train\", \"impl\": \"retnet\", \"model\": \"%s\", "
                   "\"device\": \"%s\", \"refused\": \"%s\"}\n", JS(jl, label),
                   JS(jd, device), JS(jm, retnet_errmsg()));
        else
            printf("%s: the trainer refuses this model: %s\n", device, retnet_errmsg());
        retnet_model_free(m);
        return 0;
    }
    if (s != RETNET_OK) FAIL("%s; use a smaller model or another --device", retnet_errmsg());
    const char *where = retnet_trainer_device(tr);
    fprintf(stderr, "%s: %s, %lld parameters, on %s (ready in %.1f s); batch %d x %d tokens, "
            "%d warm-up + %d timed steps\n", cli_cmd, label, (long long)np, where,
            cli_now() - t_load, B, T, W, N);

    int64_t n = (int64_t)B * T;
    int32_t *stream = malloc(sizeof(int32_t) * (size_t)(n + B));
    int32_t *in = malloc(sizeof(int32_t) * (size_t)n), *tg = malloc(sizeof(int32_t) * (size_t)n);
    double *dt = malloc(sizeof(double) * (size_t)N);
    if (!stream || !in || !tg || !dt) FAIL("out of memory for %lld tokens", (long long)n);
    /* window b: T + 1 consecutive random tokens; inputs the first T, targets the last T */
    random_tokens(stream, n + B, c->vocab, seed + 17);
    for (int32_t b = 0; b < B; b++) {
        memcpy(in + (int64_t)b * T, stream + (int64_t)b * (T + 1), sizeof(int32_t) * (size_t)T);
        memcpy(tg + (int64_t)b * T, stream + (int64_t)b * (T + 1) + 1, sizeof(int32_t) * (size_t)T);
    }
    retnet_train_opts to = {.form = RETNET_FORM_CHUNKWISE, .chunk = 0, .dropout = 0, .seed = seed};
    retnet_adamw h = {.lr = (float)lr, .beta1 = 0.9f, .beta2 = 0.98f, .eps = 1e-8f,
                      .weight_decay = 0.05f};
    const double clip = 1.0;
    double loss_first = NAN, loss_last = NAN, gnorm = NAN;
    double t_prev = cli_now();
    for (int step = 1; step <= W + N; step++) {
        double ls = 0;
        int64_t cnt = 0;
        CHECK(retnet_trainer_zero_grad(tr), "");
        CHECK(retnet_trainer_accumulate(tr, in, tg, B, T, &to, 1.0f / (float)n, &ls, &cnt),
              "use a smaller --batch or --seq");
        CHECK(retnet_trainer_grad_norm(tr, &gnorm), "");
        double t_now = cli_now();
        double loss = ls / (double)(cnt ? cnt : 1);
        if (!isfinite(loss) || !isfinite(gnorm))
            FAIL("step %d: the %s is not finite; lower --lr", step,
                 isfinite(loss) ? "gradient norm" : "loss");
        if (step == 1) loss_first = loss;
        loss_last = loss;
        if (step > W) dt[step - W - 1] = t_now - t_prev;
        fprintf(stderr, "%s: step %d/%d%s: loss %.4f, grad norm %.3f, %.1f ms\n", cli_cmd, step,
                W + N, step <= W ? " (warm-up)" : "", loss, gnorm, 1e3 * (t_now - t_prev));
        t_prev = cli_now(); /* the print is not part of the next step's time */
        CHECK(retnet_trainer_update(tr, step, &h, gnorm > clip ? (float)(clip / gnorm) : 1.0f), "");
    }
    double med, lo, hi, mean = 0;
    for (int i = 0; i < N; i++) mean += dt[i] / N;
    stats(dt, N, &med, &lo, &hi);
    int64_t P;
    double R;
    double fpt = train_flops_per_token(m, T, &P, &R);
    double tps = (double)n / med;
    double tflops = fpt * tps / 1e12;
    double mem = on_gpu(device) ? (double)retnet_model_device_bytes(m) : peak_rss_bytes();
    const char *mem_kind = on_gpu(device) ? "device_bytes" : "peak_rss_bytes";
    if (json) {
        printf("{\"bench\": \"train\", \"impl\": \"retnet\", \"model\": \"%s\", \"device\": \"%s\", "
               "\"params\": %lld, \"product_params\": %lld, \"batch\": %d, \"seq\": %d, "
               "\"tokens_per_step\": %lld, \"warmup\": %d, \"steps\": %d, \"ms_per_step\": %.3f, "
               "\"ms_per_step_min\": %.3f, \"ms_per_step_max\": %.3f, \"ms_per_step_mean\": %.3f, "
               "\"tokens_per_s\": %.1f, \"flops_per_token\": %.6g, \"mixer_flops_per_token_fwd\": "
               "%.6g, \"model_tflops\": %.2f, ",
               JS(jl, label), where, (long long)np, (long long)P, B, T, (long long)n, W,
               N, 1e3 * med,
               1e3 * lo, 1e3 * hi, 1e3 * mean, tps, fpt, R, tflops);
        if (peak > 0) printf("\"peak_tflops\": %.1f, \"mfu\": %.4f, ", peak, tflops / peak);
        printf("\"%s\": %.0f, \"loss_first\": %.5f, \"loss_last\": %.5f, \"chunk\": %d, "
               "\"lr\": %g}\n", mem_kind, mem, loss_first, loss_last,
               T < BENCH_CHUNK ? T : BENCH_CHUNK, lr);
    } else {
        printf("train %s (%lld parameters) on %s: chunkwise form, batch %d x %d tokens, %d "
               "timed steps after %d warm-up\n", label, (long long)np, where, B, T, N, W);
        printf("step      %.1f ms median (min %.1f, max %.1f)   %.0f tokens/s\n", 1e3 * med,
               1e3 * lo, 1e3 * hi, tps);
        char mix[64];
        if (c->arch == RETNET_ARCH_TRANSFORMER) snprintf(mix, sizeof mix, "causal attention");
        else snprintf(mix, sizeof mix, "retention, chunk %d", T < BENCH_CHUNK ? T : BENCH_CHUNK);
        printf("FLOPs     %.3g per token = 6 x %lld product parameters + 3 x %.3g (%s) -> %.3g "
               "TFLOP/s", fpt, (long long)P, R, mix, tflops);
        if (peak > 0)
            printf(", MFU %.1f%% of %.0f TFLOP/s%s", 100 * tflops / peak, peak,
                   o[O_PEAK].given ? "" : " (dense bf16, H100/H200 SXM)");
        printf("\nmemory    %.2f GB %s\n", mem / 1e9,
               on_gpu(device) ? "on the device (parameters, trainer, activations)" : "peak RSS");
        printf("loss      %.4f at step 1, %.4f at step %d (the same batch every step)\n",
               loss_first, loss_last, W + N);
    }
    fflush(stdout);
    retnet_trainer_free(tr);
    retnet_model_free(m);
    free(stream);
    free(in);
    free(tg);
    free(dt);
    return 0;
}

/* ---------------------------------------------------------------- decode */

static int bench_decode(int argc, char **argv) {
    opt o[] = BENCH_OPTS;
    cli_parse(argc, argv, o, O_COUNT, NULL, 0, usage_bench);
    if (o[O_SEQ].given || o[O_LR].given || o[O_PEAK].given)
        FAIL("--seq, --lr and --peak-tflops are for 'retnet bench train'");
    int64_t Bs[16], Xs[16];
    int nb = parse_list(o[O_BATCH].given ? o[O_BATCH].value : "1,8,64,256", "--batch", 1,
                        1 << 20, Bs, 16);
    int nx = parse_list(o[O_CONTEXT].given ? o[O_CONTEXT].value : "2048,8192,32768",
                        "--context", 1, 1 << 24, Xs, 16);
    int N = (int)cli_int(o[O_STEPS].given ? o[O_STEPS].value : "32", "--steps", 1, 1000000);
    int W = (int)cli_int(o[O_WARMUP].given ? o[O_WARMUP].value : "4", "--warmup", 0, 1000000);
    int32_t piece = (int32_t)cli_int(o[O_PIECE].given ? o[O_PIECE].value : "2048",
                                     "--prefill-piece", 1, 1 << 24);
    int K = (int)cli_int(o[O_QUEUE].given ? o[O_QUEUE].value : "1", "--queue", 1, 1 << 16);
    uint64_t seed = o[O_SEED].given ? (uint64_t)cli_int(o[O_SEED].value, "--seed", 0, LLONG_MAX) : 1;
    const char *device = o[O_DEVICE].given ? o[O_DEVICE].value : "cpu";
    double bw = on_gpu(device) ? BW_GPU_GBS : 0;
    if (o[O_BW].given) bw = cli_double(o[O_BW].value, "--bandwidth-gbs", 1e-6, 1e9);
    int json = o[O_JSON].given;
    char jl[1024], jd[256], jm[1024]; /* JSON-escaped label, device, message */

    const char *label;
    double t_load = cli_now();
    retnet_model *m = bench_model(o, seed, 0, &label);
    const retnet_config *c = retnet_model_config(m);
    int tf = c->arch == RETNET_ARCH_TRANSFORMER;
    int64_t np = retnet_config_param_count(c);
    if (!bench_to_device(m, device, "decode", label, json)) {
        retnet_model_free(m);
        return 0;
    }
    int64_t wbytes;
    int64_t P = product_params(m, on_gpu(device), &wbytes);
    fprintf(stderr, "%s: %s, %lld parameters (%lld in products, %.2f GB read per step), on %s "
            "(ready in %.1f s)\n", cli_cmd, label, (long long)np, (long long)P, wbytes / 1e9,
            device, cli_now() - t_load);
    if (!json) {
        printf("decode %s (%lld parameters) on %s: greedy, %d timed steps after %d warm-up, %s;\n"
               "every sequence of a batch starts from the state of one sequence prefilled to the "
               "context (copied: real content, right position)\n", label, (long long)np, device,
               N, W, K > 1 ? "queued in runs (--queue, retnet_batch_greedy)" : "one at a time");
        printf("%8s %6s %10s %12s %14s %12s %10s %8s\n", "context", "batch", "ms/step",
               "tokens/s", "state MB/seq", "memory GB", "bound ms", "of bound");
    }
    int32_t *toks = NULL, *next = NULL, *ids = NULL;
    double *dt = malloc(sizeof(double) * (size_t)N);
    if (!dt) FAIL("out of memory");
    for (int xi = 0; xi < nx; xi++) {
        int64_t X = Xs[xi];
        if (tf) {
            int64_t cap = X + W + N + 1;
            if (cap > INT32_MAX) FAIL("--context %lld is too large", (long long)X);
            CHECK(retnet_model_set_context(m, (int32_t)cap), "give a smaller --context");
        }
        int64_t sf = retnet_state_floats(c);
        retnet_state st = {0, malloc(sizeof(float) * (size_t)sf)};
        int32_t *prompt = malloc(sizeof(int32_t) * (size_t)X);
        if (!st.data || !prompt) FAIL("out of memory for a state of %lld floats", (long long)sf);
        random_tokens(prompt, X, c->vocab, seed + (uint64_t)X);
        retnet_batch *b1;
        retnet_status s = retnet_batch_create(m, 1, &b1);
        if (s == RETNET_EUNSUPPORTED) {
            if (json)
                printf("{\"bench\": \"decode\", \"impl\": \"retnet\", \"model\": \"%s\", "
                       "\"device\": \"%s\", \"context\": %lld, \"refused\": \"%s\"}\n",
                       JS(jl, label),
                       JS(jd, device), (long long)X, JS(jm, retnet_errmsg()));
            else
                printf("%8lld  refused by %s: %s\n", (long long)X, device, retnet_errmsg());
            fflush(stdout);
            free(st.data);
            free(prompt);
            continue;
        }
        if (s != RETNET_OK) FAIL("%s; use a smaller model or context", retnet_errmsg());
        double t0 = cli_now();
        for (int64_t off = 0; off < X; off += piece) {
            int32_t len = (int32_t)(X - off < piece ? X - off : piece);
            CHECK(retnet_batch_forward(b1, prompt + off, len, NULL), "give a smaller --context");
        }
        int32_t first;
        CHECK(retnet_batch_argmax(b1, &first), "");
        double prefill_s = cli_now() - t0;
        CHECK(retnet_batch_get(b1, 0, &st), "");
        retnet_batch_free(b1);
        fprintf(stderr, "%s: context %lld: prefilled one sequence in %.2f s (%.0f tokens/s)\n",
                cli_cmd, (long long)X, prefill_s, X / prefill_s);
        if (json)
            printf("{\"bench\": \"prefill\", \"impl\": \"retnet\", \"model\": \"%s\", \"device\": "
                   "\"%s\", \"context\": %lld, \"piece\": %d, \"seconds\": %.4f, \"tokens_per_s\": "
                   "%.1f}\n", JS(jl, label), JS(jd, device), (long long)X,
                   piece, prefill_s, X / prefill_s);
        for (int bi = 0; bi < nb; bi++) {
            int32_t B = (int32_t)Bs[bi];
            retnet_batch *bb;
            s = retnet_batch_create(m, B, &bb);
            /* a batch whose states do not fit is a row of the table; anything else an error */
            if (s != RETNET_OK && s != RETNET_ENOMEM && s != RETNET_EUNSUPPORTED)
                FAIL("batch %d: %s", B, retnet_errmsg());
            if (s != RETNET_OK) {
                if (json)
                    printf("{\"bench\": \"decode\", \"impl\": \"retnet\", \"model\": \"%s\", "
                           "\"device\": \"%s\", \"context\": %lld, \"batch\": %d, "
                           "\"refused\": \"%s: %s\"}\n",
                           JS(jl, label), JS(jd, device), (long long)X, B,
                           retnet_status_name(s), JS(jm, retnet_errmsg()));
                else
                    printf("%8lld %6d  not run: %s\n", (long long)X, B, retnet_errmsg());
                fflush(stdout);
                continue;
            }
            toks = realloc(toks, sizeof(int32_t) * (size_t)B);
            next = realloc(next, sizeof(int32_t) * (size_t)B);
            if (!toks || !next) FAIL("out of memory");
            for (int32_t i = 0; i < B; i++) {
                CHECK(retnet_batch_set(bb, i, &st), "");
                toks[i] = first;
            }
            if (K == 1) { /* a step, then its ids to the host, which feeds them to the next */
                double t_prev = cli_now();
                for (int step = 1; step <= W + N; step++) {
                    CHECK(retnet_batch_forward(bb, toks, 1, NULL), "");
                    CHECK(retnet_batch_argmax(bb, next), "");
                    double t_now = cli_now();
                    if (step > W) dt[step - W - 1] = t_now - t_prev;
                    t_prev = t_now;
                    int32_t *sw = toks;
                    toks = next;
                    next = sw;
                }
            } else { /* runs of K steps fed on the device; each step of a run gets its mean */
                int most = K > W ? K : W;
                ids = realloc(ids, sizeof(int32_t) * (size_t)most * (size_t)B);
                if (!ids) FAIL("out of memory");
                CHECK(retnet_batch_forward(bb, toks, 1, NULL), ""); /* the first of the warm-up */
                if (W > 1) CHECK(retnet_batch_greedy(bb, W - 1, ids), "");
                double t_prev = cli_now();
                for (int done = 0; done < N;) {
                    int k = N - done < K ? N - done : K;
                    CHECK(retnet_batch_greedy(bb, k, ids), "");
                    double t_now = cli_now();
                    for (int i = 0; i < k; i++) dt[done + i] = (t_now - t_prev) / k;
                    done += k;
                    t_prev = t_now;
                }
            }
            double med, lo, hi, mean = 0;
            stats(dt, N, &med, &lo, &hi);
            for (int i = 0; i < N; i++) mean += dt[i] / N;
            int64_t sb = retnet_batch_state_bytes(bb);
            /* a Transformer's cache: the rows used at the context, in the batch's precision */
            double per_floats = (double)sb / (4.0 * (double)sf);
            double used = tf ? per_floats * (double)retnet_state_bytes_used(c, X) : (double)sb;
            double row = tf ? per_floats * (double)retnet_state_bytes_used(c, 1) : 0.0;
            /* what a step must move: the weights, and the states read once (RetNet; its
             * window's ring beside them is not counted) or the KV rows read and the new one
             * written (Transformer) */
            double bytes = (double)wbytes + (double)B * (tf ? used + row : 4.0 * (double)sf);
            double bound_ms = bw > 0 ? 1e3 * bytes / (bw * 1e9) : NAN;
            double mem = on_gpu(device) ? (double)retnet_model_device_bytes(m) : peak_rss_bytes();
            if (json) {
                printf("{\"bench\": \"decode\", \"impl\": \"retnet\", \"model\": \"%s\", \"device\": "
                       "\"%s\", \"arch\": \"%s\", \"params\": %lld, \"context\": %lld, \"batch\": %d, "
                       "\"steps\": %d, \"warmup\": %d, \"queued\": %d, \"ms_per_step\": %.4f, \"ms_per_step_min\": "
                       "%.4f, \"ms_per_step_max\": %.4f, \"ms_per_step_mean\": %.4f, "
                       "\"tokens_per_s\": %.1f, \"state_bytes_per_seq\": %.0f, \"state_capacity_bytes_per_seq\": %lld, "
                       "\"weight_bytes_per_step\": %lld, \"bytes_per_step\": %.0f, \"%s\": %.0f, "
                       "\"state_from\": \"one sequence prefilled to the context, copied to all\"",
                       JS(jl, label), JS(jd, device),
                       tf ? "transformer" : "retnet", (long long)np, (long long)X,
                       B, N, W, K, 1e3 * med, 1e3 * lo, 1e3 * hi, 1e3 * mean, B / med, used,
                       (long long)sb,
                       (long long)wbytes, bytes, on_gpu(device) ? "device_bytes" : "peak_rss_bytes",
                       mem);
                if (bw > 0)
                    printf(", \"bandwidth_gbs\": %.0f, \"bound_ms\": %.4f, \"of_bound\": %.4f", bw,
                           bound_ms, bound_ms / (1e3 * med));
                printf("}\n");
            } else {
                char bs[32] = "-", fs[32] = "-";
                if (bw > 0) {
                    snprintf(bs, sizeof bs, "%.3f", bound_ms);
                    snprintf(fs, sizeof fs, "%.0f%%", 100 * bound_ms / (1e3 * med));
                }
                printf("%8lld %6d %10.3f %12.0f %14.2f %12.2f %10s %8s\n", (long long)X, B,
                       1e3 * med, B / med, used / 1e6, mem / 1e9, bs, fs);
            }
            fflush(stdout);
            retnet_batch_free(bb);
        }
        free(st.data);
        free(prompt);
    }
    if (!json) {
        printf("(memory: %s; ", on_gpu(device) ? "device bytes the model holds"
                                                : "peak RSS of the process");
        if (bw > 0)
            printf("bound: weights and RetNet states read once per step, a Transformer's KV rows "
                   "read and its new row written, at %.0f GB/s)\n", bw);
        else
            printf("no bound: give --bandwidth-gbs)\n");
    }
    free(toks);
    free(next);
    free(ids);
    free(dt);
    retnet_model_free(m);
    return 0;
}

int cmd_bench(int argc, char **argv) {
    static char name[64];
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        usage_bench();
        return argc < 1;
    }
    snprintf(name, sizeof name, "retnet bench %s", argv[0]);
    if (!strcmp(argv[0], "train")) {
        cli_cmd = name;
        return bench_train(argc - 1, argv + 1);
    }
    if (!strcmp(argv[0], "decode")) {
        cli_cmd = name;
        return bench_decode(argc - 1, argv + 1);
    }
    FAIL("unknown 'retnet bench %s'; use 'retnet bench train' or 'retnet bench decode'", argv[0]);
}
