/*
 * bench_train: training throughput and peak memory of one (preset, form, B, T) point: a
 * full step (forward, backward, gradient norm, AdamW) as `retnet train` runs it. One point
 * per process, so the peak RSS (VmHWM) is that point's; bench/train.sh runs the grid beside
 * the PyTorch peer (bench/pytorch_train.py) and prints the table. Prints one JSON line.
 *
 *   bench_train --preset small --form chunkwise --B 8 --T 256 [--chunk C] [--steps N]
 *
 * Timing: one warm-up step (allocations, page faults), then N timed steps; the median.
 */
#include "retnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double peak_rss_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atof(line + 6);
    if (f) fclose(f);
    return kb / 1024.0;
}

/* The 1-minute load average (-1 if unknown). */
static double loadavg(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf", &l) != 1) l = -1;
    if (f) fclose(f);
    return l;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *preset = "small", *form_name = "chunkwise";
    int B = 8, T = 256, steps = 5, chunk = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--preset")) preset = argv[i + 1];
        else if (!strcmp(argv[i], "--form")) form_name = argv[i + 1];
        else if (!strcmp(argv[i], "--B")) B = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--T")) T = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--chunk")) chunk = atoi(argv[i + 1]);
        else { fprintf(stderr, "bench_train: unknown option %s\n", argv[i]); return 2; }
    }
    retnet_config c;
    retnet_model *m;
    int form = retnet_form_parse(form_name);
    if (form < 0 || B < 1 || T < 2 || steps < 1 || retnet_config_preset(preset, &c) ||
        retnet_model_create(&c, &m) || retnet_model_init(m, 1)) {
        fprintf(stderr, "bench_train: bad arguments: %s\n", retnet_errmsg());
        return 2;
    }
    int64_t np = retnet_config_param_count(&c), n = (int64_t)B * T;
    float *g = calloc((size_t)np, 4), *m1 = calloc((size_t)np, 4), *m2 = calloc((size_t)np, 4);
    int32_t *tok = malloc(sizeof(int32_t) * n), *tg = malloc(sizeof(int32_t) * n);
    for (int64_t i = 0; i < n; i++) {
        tok[i] = (int32_t)((i * 7919 + 13) % c.vocab);
        tg[i] = (int32_t)((i * 104729 + 7) % c.vocab);
    }
    retnet_train_opts o = {(retnet_form)form, chunk, 0.0f, 1};
    retnet_adamw h = {1e-3f, 0.9f, 0.98f, 1e-8f, 0.05f};
    double *t = malloc(sizeof(double) * steps), loss = 0;
    for (int s = 0; s <= steps; s++) {
        double t0 = now();
        memset(g, 0, sizeof(float) * (size_t)np);
        int64_t cnt;
        if (retnet_forward_backward(m, tok, tg, B, T, &o, 1.0f / (float)n, g, &loss, &cnt)) {
            fprintf(stderr, "bench_train: %s\n", retnet_errmsg());
            return 1;
        }
        retnet_grad_norm(g, np);
        retnet_adamw_step(m, g, m1, m2, s + 1, &h);
        if (s > 0) t[s - 1] = now() - t0;
    }
    qsort(t, steps, sizeof(double), cmp);
    double med = t[steps / 2];
    printf("{\"impl\":\"retnet\",\"preset\":\"%s\",\"form\":\"%s\",\"B\":%d,\"T\":%d,\"chunk\":%d,"
           "\"steps\":%d,\"median_s\":%.6f,\"min_s\":%.6f,\"max_s\":%.6f,\"tokens_per_s\":%.1f,"
           "\"peak_rss_mb\":%.1f,\"threads\":%d,\"arch\":\"%s\",\"params\":%lld,"
           "\"scratch_mb\":%.1f,\"loadavg\":%.2f}\n",
           preset, form_name, B, T, chunk ? chunk : c.chunk, steps, med, t[0], t[steps - 1],
           n / med, peak_rss_mb(), retnet_threads(),
           c.arch == RETNET_ARCH_TRANSFORMER ? "transformer" : "retnet", (long long)np,
           retnet_model_scratch_bytes(m) / 1048576.0, loadavg());
    return 0;
}
