/*
 * sample.c: choosing the next token from logits: greedy (temperature 0), temperature,
 * top-k and top-p (nucleus) sampling, from a caller-held 64-bit RNG state so that a seeded
 * run is reproducible. `work` is caller-owned scratch so a decoding loop allocates nothing.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

static int cmp_desc(const void *a, const void *b) {
    float x = ((const float *)a)[0], y = ((const float *)b)[0];
    return (x < y) - (x > y);
}

static double uniform(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return ((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

int32_t retnet_sample(const float *logits, int32_t V, float temperature, int32_t top_k,
                      float top_p, uint64_t *rng, float *work) {
    int32_t best = 0;
    for (int32_t i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (!(temperature > 0)) return best;
    /* (probability, id) pairs, sorted by probability when top-k or top-p cut the tail */
    float *pairs = work;
    double maxl = logits[best], sum = 0;
    for (int32_t i = 0; i < V; i++) {
        double p = exp((logits[i] - maxl) / temperature);
        pairs[2 * i] = (float)p;
        memcpy(&pairs[2 * i + 1], &i, sizeof i);
        sum += p;
    }
    int32_t n = V;
    if ((top_k > 0 && top_k < V) || (top_p > 0 && top_p < 1)) {
        qsort(pairs, (size_t)V, 2 * sizeof(float), cmp_desc);
        if (top_k > 0 && top_k < n) n = top_k;
        if (top_p > 0 && top_p < 1) {
            double acc = 0, total = 0;
            for (int32_t i = 0; i < n; i++) total += pairs[2 * i];
            for (int32_t i = 0; i < n; i++) {
                acc += pairs[2 * i];
                if (acc >= top_p * total) { n = i + 1; break; }
            }
        }
        sum = 0;
        for (int32_t i = 0; i < n; i++) sum += pairs[2 * i];
    }
    double r = uniform(rng) * sum, acc = 0;
    int32_t id;
    for (int32_t i = 0; i < n; i++) {
        acc += pairs[2 * i];
        if (r < acc) {
            memcpy(&id, &pairs[2 * i + 1], sizeof id);
            return id;
        }
    }
    memcpy(&id, &pairs[2 * (n - 1) + 1], sizeof id);
    return id;
}
