/*
 * bench_forward: forward throughput and peak memory of one (preset, form, T) point.
 * One point per process, so that the peak RSS (VmHWM) belongs to that point alone;
 * bench/run.sh runs the grid and prints the table. Prints one JSON line.
 *
 *   bench_forward --preset small --form chunkwise --T 2048 [--chunk C] [--reps N]
 *
 * Timing: one warm-up call (allocates the scratch, faults in pages), then N timed calls on
 * a monotonic clock; the median is reported with the min and max.
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

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *preset = "small", *form_name = "chunkwise";
    int T = 2048, reps = 3, chunk = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--preset")) preset = argv[i + 1];
        else if (!strcmp(argv[i], "--form")) form_name = argv[i + 1];
        else if (!strcmp(argv[i], "--T")) T = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--chunk")) chunk = atoi(argv[i + 1]);
        else { fprintf(stderr, "bench_forward: unknown option %s\n", argv[i]); return 2; }
    }
    int form = retnet_form_parse(form_name);
    retnet_config c;
    retnet_model *m;
    if (form < 0 || T < 1 || reps < 1 || retnet_config_preset(preset, &c) ||
        retnet_model_create(&c, &m) || retnet_model_init(m, 1)) {
        fprintf(stderr, "bench_forward: bad arguments: %s\n", retnet_errmsg());
        return 2;
    }
    int32_t *tokens = malloc(sizeof(int32_t) * T);
    float *logits = malloc(sizeof(float) * (size_t)T * c.vocab);
    for (int i = 0; i < T; i++) tokens[i] = (int32_t)((i * 7919u + 13) % (unsigned)c.vocab);
    double rss0 = peak_rss_mb();
    if (retnet_forward(m, tokens, 1, T, (retnet_form)form, chunk, NULL, logits)) {
        fprintf(stderr, "bench_forward: %s\n", retnet_errmsg());
        return 1;
    }
    double *t = malloc(sizeof(double) * reps);
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        retnet_forward(m, tokens, 1, T, (retnet_form)form, chunk, NULL, logits);
        t[r] = now() - t0;
    }
    qsort(t, reps, sizeof(double), cmp);
    double med = t[reps / 2];
    printf("{\"preset\":\"%s\",\"form\":\"%s\",\"T\":%d,\"chunk\":%d,\"reps\":%d,"
           "\"median_s\":%.6f,\"min_s\":%.6f,\"max_s\":%.6f,\"tokens_per_s\":%.1f,"
           "\"peak_rss_mb\":%.1f,\"model_rss_mb\":%.1f,\"scratch_mb\":%.1f}\n",
           preset, form_name, T, chunk ? chunk : c.chunk, reps, med, t[0], t[reps - 1], T / med,
           peak_rss_mb(), rss0, retnet_model_scratch_bytes(m) / 1048576.0);
    free(t);
    free(tokens);
    free(logits);
    retnet_model_free(m);
    return 0;
}
