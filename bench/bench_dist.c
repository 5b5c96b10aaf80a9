/*
 * bench_dist.c: data-parallel training throughput, one process per GPU, through the public
 * API (retnet_trainer_create_dist). bench/gpu/dist_scaling.sh starts G copies with the rank
 * variables a launcher sets (RETNET_RANK, RETNET_WORLD_SIZE, RETNET_LOCAL_RANK) and
 * RETNET_DIST_ID_FILE (rank 0 writes the run's id there); alone, it is a world of one.
 *
 * Each rank: a model of the config (rank 0 initialises it; the trainer copies rank 0's
 * weights to every rank), on cuda:LOCAL_RANK, one fixed batch of B random windows of T tokens
 * (its own: seeded by the rank), W warm-up steps, then N timed steps of
 *   zero_grad; accumulate (the gradients averaged over the ranks during the backward);
 *   sum of the loss and count over the ranks; grad_norm; update (ZeRO-1, weights gathered)
 * which is what `retnet train --gpus G` does per step, without the data loader. Rank 0 times
 * each step from the return of one update to the next (a step ends on every rank with the
 * gathered weights, so the intervals are whole steps) and prints one JSON line: the median,
 * min and max step time, tokens/s = G B T / median, and the first and last losses (the
 * same batch every step: the loss falls, which shows that the steps train).
 *
 * usage: bench_dist --config FILE [--batch B] [--seq T] [--steps N] [--warmup W] [--seed S]
 *                   [--bucket-mb M]
 */
#include "retnet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int rank_, world_;

#define DIE(...)                                                                          \
    do {                                                                                  \
        fprintf(stderr, "bench_dist (rank %d of %d): ", rank_, world_);                   \
        fprintf(stderr, __VA_ARGS__);                                                     \
        fprintf(stderr, "\n");                                                            \
        exit(1);                                                                          \
    } while (0)
#define TRY(call)                                                                         \
    do {                                                                                  \
        if ((call) != RETNET_OK) DIE("%s: %s", #call, retnet_errmsg());                   \
    } while (0)

static int env_int(const char *name, int def) {
    const char *v = getenv(name);
    return v && *v ? atoi(v) : def;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *config = NULL;
    int B = 8, T = 2048, steps = 10, warmup = 3;
    double bucket_mb = 0;
    unsigned long long seed = 1;
    rank_ = env_int("RETNET_RANK", 0), world_ = env_int("RETNET_WORLD_SIZE", 1);
    const int local = env_int("RETNET_LOCAL_RANK", rank_);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: bench_dist --config FILE [--batch B] [--seq T] [--steps N] "
                   "[--warmup W] [--seed S] [--bucket-mb M]\n(see the top of bench/bench_dist.c; "
                   "bench/gpu/dist_scaling.sh runs it on 1, 2, 4, 8 GPUs)\n");
            return 0;
        }
        if (!v) DIE("option %s needs a value", a);
        if (!strcmp(a, "--config")) config = v;
        else if (!strcmp(a, "--batch")) B = atoi(v);
        else if (!strcmp(a, "--seq")) T = atoi(v);
        else if (!strcmp(a, "--steps")) steps = atoi(v);
        else if (!strcmp(a, "--warmup")) warmup = atoi(v);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--bucket-mb")) bucket_mb = atof(v);
        else DIE("unknown option %s; see --help", a);
        i++;
    }
    if (!config) DIE("missing --config FILE");
    if (B < 1 || T < 2 || steps < 1 || warmup < 0) DIE("bad --batch, --seq, --steps or --warmup");

    retnet_config c;
    TRY(retnet_config_load(config, &c));
    retnet_model *m = NULL;
    TRY(retnet_model_create(&c, &m));
    if (rank_ == 0) TRY(retnet_model_init(m, seed)); /* the others get rank 0's weights */
    char dev[32];
    snprintf(dev, sizeof dev, "cuda:%d", local);
    TRY(retnet_model_to_device(m, dev));
    retnet_dist d = {.rank = rank_, .world = world_, .id = getenv("RETNET_DIST_ID"),
                     .id_file = getenv("RETNET_DIST_ID_FILE"), .micro_batches = 1,
                     .bucket_bytes = (int64_t)(bucket_mb * 1048576.0)};
    retnet_trainer *t = NULL;
    double t0 = now();
    TRY(retnet_trainer_create_dist(m, &d, &t));
    const double t_join = now() - t0;

    const int64_t n = (int64_t)B * T;
    int32_t *in = malloc(sizeof(int32_t) * (size_t)n), *tg = malloc(sizeof(int32_t) * (size_t)n);
    double *ms = malloc(sizeof(double) * (size_t)steps);
    if (!in || !tg || !ms) DIE("out of memory");
    unsigned long long s = seed * 0x9e3779b97f4a7c15ull + (unsigned long long)rank_ * 7919 + 1;
    for (int64_t i = 0; i < n; i++) {
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        in[i] = (int32_t)((s * 0x2545F4914F6CDD1Dull >> 33) % (unsigned long long)c.vocab);
    }
    for (int64_t i = 0; i < n; i++) tg[i] = (i + 1) % T ? in[i + 1] : -1;
    retnet_train_opts o = {.form = RETNET_FORM_CHUNKWISE};
    retnet_adamw h = {.lr = 3e-4f, .beta1 = 0.9f, .beta2 = 0.98f, .eps = 1e-8f, .weight_decay = 0.05f};
    double loss_first = NAN, loss_last = NAN, last = now();
    for (int step = 1; step <= warmup + steps; step++) {
        double ls = 0, gn = 0;
        int64_t cnt = 0;
        TRY(retnet_trainer_zero_grad(t));
        TRY(retnet_trainer_accumulate(t, in, tg, B, T, &o, 1.0f / (float)n, &ls, &cnt));
        double v[2] = {ls, (double)cnt};
        TRY(retnet_trainer_sum(t, v, 2));
        TRY(retnet_trainer_grad_norm(t, &gn));
        TRY(retnet_trainer_update(t, step, &h, gn > 1.0 ? (float)(1.0 / gn) : 1.0f));
        const double loss = v[0] / (v[1] > 0 ? v[1] : 1), tnow = now();
        if (!isfinite(loss) || !isfinite(gn)) DIE("step %d: loss %g, |g| %g", step, loss, gn);
        if (step == 1) loss_first = loss;
        loss_last = loss;
        if (step > warmup) ms[step - warmup - 1] = 1e3 * (tnow - last);
        last = tnow;
    }
    double sorted_sum = 0;
    for (int i = 0; i < steps; i++) sorted_sum += ms[i];
    qsort(ms, (size_t)steps, sizeof *ms, cmp_double);
    const double med = steps % 2 ? ms[steps / 2] : 0.5 * (ms[steps / 2 - 1] + ms[steps / 2]);
    if (rank_ == 0) {
        const int64_t tokens = (int64_t)world_ * n;
        printf("{\"bench\": \"dist_train\", \"gpus\": %d, \"batch\": %d, \"seq\": %d, "
               "\"tokens_per_step\": %lld, \"params\": %lld, \"steps\": %d, \"warmup\": %d, "
               "\"ms_median\": %.2f, \"ms_min\": %.2f, \"ms_max\": %.2f, \"ms_mean\": %.2f, "
               "\"tokens_per_s\": %.1f, \"loss_first\": %.5f, \"loss_last\": %.5f, "
               "\"join_s\": %.2f, \"device_gb\": %.2f}\n",
               world_, B, T, (long long)tokens, (long long)retnet_config_param_count(&c), steps,
               warmup, med, ms[0], ms[steps - 1], sorted_sum / steps, tokens / (med * 1e-3),
               loss_first, loss_last, t_join, retnet_model_device_bytes(m) * 1e-9);
        fflush(stdout);
    }
    retnet_trainer_free(t);
    retnet_model_free(m);
    free(in), free(tg), free(ms);
    return 0;
}
