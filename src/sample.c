/*
 * sample.c: choosing the next token from logits: greedy (temperature 0), temperature,
 * top-k and top-p (nucleus) sampling, from a caller-held 64-bit RNG state so that a seeded
 * run is reproducible. `work` is caller-owned scratch so a decoding loop allocates nothing.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

/* Pairs (probability, id as bits). `better`: larger probability, then smaller id; a total
 * order, so the kept set and its order do not depend on the algorithm. */
static int better(const float *a, const float *b) {
    if (a[0] != b[0]) return a[0] > b[0];
    int32_t ia, ib;
    memcpy(&ia, a + 1, sizeof ia);
    memcpy(&ib, b + 1, sizeof ib);
    return ia < ib;
}

static void swap_pair(float *p, int32_t i, int32_t j) {
    float t0 = p[2 * i], t1 = p[2 * i + 1];
    p[2 * i] = p[2 * j], p[2 * i + 1] = p[2 * j + 1];
    p[2 * j] = t0, p[2 * j + 1] = t1;
}

/* Sift down in a heap of n pairs whose root is the worst pair. */
static void sift(float *p, int32_t i, int32_t n) {
    for (;;) {
        int32_t w = i, l = 2 * i + 1, r = l + 1;
        if (l < n && better(p + 2 * w, p + 2 * l)) w = l;
        if (r < n && better(p + 2 * w, p + 2 * r)) w = r;
        if (w == i) return;
        swap_pair(p, i, w);
        i = w;
    }
}

/* Moves the best n of the V pairs to the front, best first: a heap of the n best so far,
 * O(V log n), in place (qsort would allocate, and sorts all V). */
static void best_first(float *p, int32_t V, int32_t n) {
    for (int32_t i = n / 2 - 1; i >= 0; i--) sift(p, i, n);
    for (int32_t i = n; i < V; i++)
        if (better(p + 2 * i, p)) {
            swap_pair(p, 0, i);
            sift(p, 0, n);
        }
    for (int32_t end = n - 1; end > 0; end--) { /* the worst goes last */
        swap_pair(p, 0, end);
        sift(p, 0, end);
    }
}

static double uniform(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return ((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

int32_t retnet_sample(const float *logits, int32_t V, float temperature, int32_t top_k,
                      float top_p, uint64_t *rng, float *work) {
    if (!logits || V < 1) return -1;
    int32_t best = 0;
    for (int32_t i = 0; i < V; i++) {
        if (isnan(logits[i])) return -1; /* a broken model: no token to give */
        if (logits[i] > logits[best]) best = i;
    }
    if (logits[best] == -INFINITY) return -1; /* every token excluded */
    /* greedy; and +inf takes all the probability (the first such, as greedy) */
    if (!(temperature > 0) || logits[best] == INFINITY) return best;
    if (!rng || !work) return -1;
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
        if (top_k > 0 && top_k < n) n = top_k;
        best_first(pairs, V, n);
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
