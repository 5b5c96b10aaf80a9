/*
 * split_lab.c: what a decoding batch would gain from being split into S parts whose steps run
 * side by side, so that one part's state read (the window step, memory bound) overlaps another
 * part's weight products (at B = 64-256 near the tensor cores' or the weights' pace), at the
 * cost of reading the weights S times. An upper bound, not a design: each part is its own
 * model on the same GPU (its own weights, activations, stream and graphs), driven by its own
 * host thread through retnet_batch_greedy (steps queued on the device, no host sync between
 * them), so the GPU interleaves the parts' kernels as it likes. The library's step does not
 * split (dev/cuda/README.md, forty-third session).
 *
 *   split_lab CONFIG.json B[,B...] STEPS [S...]   (S = 1: one model, the whole batch;
 *                                                  default 1 2 4)
 *
 * Prints per S the ms a step of the whole batch (wall time of the slowest part / STEPS).
 * The parts share the library's process-wide buffers (cuBLASLt's workspace): their logits may
 * be wrong while they overlap, which a timing lab does not read.
 */
#include "retnet.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECK(x)                                                                             \
    do {                                                                                     \
        retnet_status s_ = (x);                                                              \
        if (s_ != RETNET_OK) {                                                               \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, retnet_errmsg());     \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

typedef struct {
    retnet_batch *b;
    int32_t B, n, *ids;
    pthread_barrier_t *bar;
    double t_end;
} part;

static void *run_part(void *arg) {
    part *p = arg;
    pthread_barrier_wait(p->bar);
    CHECK(retnet_batch_greedy(p->b, p->n, p->ids));
    p->t_end = now();
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: split_lab CONFIG.json B[,B...] STEPS [S...]\n");
        return 2;
    }
    retnet_config c;
    CHECK(retnet_config_load(argv[1], &c));
    int32_t Bs[16], nB = 0, B = 0;
    for (char *t = argv[2]; *t && nB < 16;) {
        Bs[nB] = (int32_t)strtol(t, &t, 10);
        if (Bs[nB] > B) B = Bs[nB];
        nB++;
        if (*t == ',') t++;
        else break;
    }
    const int32_t N = atoi(argv[3]);
    int Ss[8] = {1, 2, 4}, nS = 3;
    if (argc > 4) {
        nS = 0;
        for (int i = 4; i < argc && nS < 8; i++) Ss[nS++] = atoi(argv[i]);
    }
    int Smax = 1;
    for (int i = 0; i < nS; i++) Smax = Ss[i] > Smax ? Ss[i] : Smax;
    retnet_model *m[8];
    for (int i = 0; i < Smax; i++) {
        CHECK(retnet_model_create(&c, &m[i]));
        CHECK(retnet_model_init(m[i], 1 + (uint64_t)i));
        CHECK(retnet_model_to_device(m[i], "cuda"));
    }
    int32_t *toks = calloc((size_t)B, sizeof(int32_t)); /* B: the largest */
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)B * (size_t)(N + 8));
    if (!toks || !ids) return 1;
    for (int32_t i = 0; i < B; i++) toks[i] = (int32_t)((i * 7919) % c.vocab);
    for (int k = 0; k < nB * nS; k++) { /* each batch, each split */
        const int S = Ss[k % nS];
        B = Bs[k / nS];
        if (S < 1 || S > Smax || B % S) {
            fprintf(stderr, "S %d: skipped (B %% S or range)\n", S);
            continue;
        }
        part p[8];
        pthread_t th[8];
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, (unsigned)S + 1);
        for (int i = 0; i < S; i++) { /* warm-up, one part at a time: every graph captured */
            p[i] = (part){NULL, B / S, N, ids + (size_t)i * (B / S) * N, &bar, 0};
            CHECK(retnet_batch_create(m[i], B / S, &p[i].b));
            CHECK(retnet_batch_forward(p[i].b, toks, 1, NULL));
            CHECK(retnet_batch_greedy(p[i].b, 4, ids));
        }
        for (int rep = 0; rep < 3; rep++) {
            for (int i = 0; i < S; i++) pthread_create(&th[i], NULL, run_part, &p[i]);
            pthread_barrier_wait(&bar);
            double t0 = now(), t1 = 0;
            for (int i = 0; i < S; i++) {
                pthread_join(th[i], NULL);
                if (p[i].t_end > t1) t1 = p[i].t_end;
            }
            printf("{\"lab\": \"split\", \"B\": %d, \"S\": %d, \"rep\": %d, \"steps\": %d, "
                   "\"ms_per_step\": %.4f}\n", B, S, rep, N, 1e3 * (t1 - t0) / N);
            fflush(stdout);
        }
        for (int i = 0; i < S; i++) retnet_batch_free(p[i].b);
        pthread_barrier_destroy(&bar);
    }
    for (int i = 0; i < Smax; i++) retnet_model_free(m[i]);
    free(toks), free(ids);
    return 0;
}
