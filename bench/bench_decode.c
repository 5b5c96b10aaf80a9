/*
 * bench_decode: token-by-token decoding (the recurrent form), one process per run so that the
 * process's memory belongs to that run alone. bench/decode.sh runs the grid and prints the
 * table. Prints JSON lines, one per measured point.
 *
 *   bench_decode --mode bandwidth [--mb 1024]
 *       the machine's memory bandwidth: memcpy between two buffers (read + write bytes counted)
 *       and a read-only sum, on all threads and on one; the bound of the decode runs.
 *   bench_decode --mode prefill --preset base [--tokens 4096] [--piece 2048]
 *       prefill speed: chunkwise retnet_forward calls of `piece` tokens with a state, no logits.
 *   bench_decode --mode context --preset small [--bf16] [--contexts 128,1024,8192,32768,100000]
 *                [--max-prefill N] [--piece 2048] [--warmup 16] [--tokens 64]
 *                [--read-gbs R --copy-gbs C]
 *       one sequence walked up the contexts in this process: prefill (chunkwise, `piece` tokens
 *       per call, the state carried, logits NULL) up to each context, then `warmup` untimed and
 *       `tokens` timed decode steps (retnet_forward B=1 T=1 recurrent + retnet_sample), each
 *       timed alone, in blocks of 8 alternating with 8 tokens of a reference sequence held at
 *       the first context (vs_ref = median / the reference's median: the context's effect with
 *       the machine's drift taken out). Contexts above --max-prefill are reached by a position
 *       jump: the state prefilled up to max-prefill tokens gets pos = context (the per-token
 *       cost depends on pos only through the rotation angles and the §3 decay-row scale, never
 *       through the state's size). VmRSS after each point; VmHWM is reset
 *       (/proc/self/clear_refs) before each point's decoding, so it is the peak while decoding
 *       at that context.
 *   bench_decode --mode batch --preset small [--bf16] [--ctx 1024] [--batches 1,8,64]
 *       B sequences decoded together (one retnet_forward(B, T=1) per step) at context ctx: one
 *       state prefilled to ctx and copied into all B (the cost does not depend on the values).
 *
 * With --copy-gbs (from --mode bandwidth) each point reports the memory-bandwidth bound: a
 * decode step must read every 2-D weight once (the output projection included; the embedding
 * only one row when untied) and read + write the recurrent state, so
 *   t_bound = weight_bytes / read_rate + 2 state_bytes / copy_rate (copy rate counts r + w),
 * with the read rate measured again right before and right after each point (read_rate_now, the
 * mean of the two: the machine's rate drifts), or --read-gbs if that fails.
 */
#include "retnet.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* A field of /proc/self/status in MB (-1 if absent). */
static double status_mb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') kb = atof(line + n + 1);
    if (f) fclose(f);
    return kb / 1024.0;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0). Returns 0 on success. */
static int reset_hwm(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int ok = fputs("5", f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of sorted v[n] (nearest rank). */
static double quant(const double *v, int n, double q) {
    int i = (int)(q * (n - 1) + 0.5);
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static uint32_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static int parse_list(const char *s, long *out, int cap) {
    int n = 0;
    while (*s && n < cap) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s) break;
        out[n++] = v;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

static void die(const char *what) {
    fprintf(stderr, "bench_decode: %s: %s\n", what, retnet_errmsg());
    exit(1);
}

/* ------------------------------------------------------------------ bandwidth */

/* One pass of memcpy from a to b (n bytes) on `threads` threads; seconds. */
static double copy_pass(float *b, const float *a, size_t n, int threads) {
    double t0 = now();
#pragma omp parallel num_threads(threads)
    {
        int id = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t lo = n / nt * id / 64 * 64, hi = id == nt - 1 ? n : n / nt * (id + 1) / 64 * 64;
        memcpy((char *)b + lo, (const char *)a + lo, hi - lo);
    }
    return now() - t0;
}

/* One pass summing the nf floats of a on `threads` threads; seconds. 64 independent lanes (8
 * AVX vectors), so the sum is bound by the loads, not by the latency of the adds. */
static double read_pass(const float *a, size_t nf, int threads, double *sink) {
    double t0 = now();
    float s = 0;
#pragma omp parallel num_threads(threads) reduction(+ : s)
    {
        int id = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t lo = nf / nt * id / 64 * 64, hi = id == nt - 1 ? nf : nf / nt * (id + 1) / 64 * 64;
        float acc[64] = {0};
        for (size_t i = lo; i + 64 <= hi; i += 64)
            for (int j = 0; j < 64; j++) acc[j] += a[i + j];
        for (int j = 0; j < 64; j++) s += acc[j];
    }
    *sink += s;
    return now() - t0;
}

/* A buffer of n bytes on huge pages where the kernel gives them, as the library's weights are
 * (retnet_alloc asks for MADV_HUGEPAGE): here 4 KB pages read ~25% slower. */
static float *big_alloc(size_t n) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    madvise(p, n, MADV_HUGEPAGE);
    return p;
}

static void bandwidth(int mb) {
    size_t n = (size_t)mb << 20, nf = n / sizeof(float);
    float *a = big_alloc(n), *b = big_alloc(n);
    if (!a || !b) { fprintf(stderr, "bench_decode: out of memory for 2 x %d MB\n", mb); exit(1); }
    int T = omp_get_max_threads();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < nf; i++) { a[i] = (float)(i & 1023); b[i] = 0; }
    enum { reps = 5 };
    for (int threads = T; threads >= 1; threads = threads == 1 ? 0 : 1) {
        double tc[reps], tr[reps], sink = 0;
        for (int r = 0; r < reps; r++) {
            tc[r] = copy_pass(b, a, n, threads);
            tr[r] = read_pass(a, nf, threads, &sink);
            sink += b[r * 4096];
        }
        qsort(tc, reps, sizeof(double), cmp);
        qsort(tr, reps, sizeof(double), cmp);
        printf("{\"kind\":\"bandwidth\",\"threads\":%d,\"mb\":%d,\"reps\":%d,"
               "\"copy_gbs\":%.2f,\"copy_gbs_best\":%.2f,\"read_gbs\":%.2f,\"read_gbs_best\":%.2f,"
               "\"sink\":%.3g}\n",
               threads, mb, reps, 2.0 * n / tc[reps / 2] / 1e9, 2.0 * n / tc[0] / 1e9,
               (double)n / tr[reps / 2] / 1e9, (double)n / tr[0] / 1e9, sink);
        fflush(stdout);
        if (T == 1) break;
    }
    munmap(a, n);
    munmap(b, n);
}

/* The read rate now (GB/s): the median of 3 read passes over a fresh 256 MB buffer (8x the
 * L3 cache), all threads. The machine's rate drifts by tens of percent over minutes (a
 * shared host), so each decode point takes its bound from measurements right before and right
 * after it. The buffer is unmapped again: the process's memory returns to what it was. */
static double read_rate_now(void) {
    size_t n = (size_t)256 << 20, nf = n / sizeof(float);
    float *a = big_alloc(n);
    if (!a) return 0;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < nf; i++) a[i] = (float)(i & 1023);
    double t[3], sink = 0;
    for (int r = 0; r < 3; r++) t[r] = read_pass(a, nf, omp_get_max_threads(), &sink);
    munmap(a, n);
    qsort(t, 3, sizeof(double), cmp);
    return sink == 12345 ? 0 : n / t[1] / 1e9;
}

/* The mean of two rate measurements, or the one that worked (0: none). */
static double mean_rate(double a, double b) {
    return a > 0 && b > 0 ? (a + b) / 2 : a > b ? a : b;
}

/* ------------------------------------------------------------------ model helpers */

typedef struct {
    const char *preset;
    int bf16;
    retnet_config c;
    retnet_model *m;
    int64_t params, state_bytes;
    double weight_bytes;       /* bytes of weights one decode step reads (B*T <= 8) */
    double weight_bytes_fp32;  /* the same with the fp32 weights (bf16 is used for B*T <= 8 only) */
    double read_gbs, copy_gbs; /* 0: no bound */
} bench;

static void setup(bench *b) {
    if (retnet_config_preset(b->preset, &b->c)) die("preset");
    if (retnet_model_create(&b->c, &b->m) || retnet_model_init(b->m, 1)) die("model");
    if (b->bf16 && retnet_model_set_bf16_decode(b->m, 1)) die("bf16");
    b->params = retnet_config_param_count(&b->c);
    b->state_bytes = 4 * retnet_state_floats(&b->c);
    /* What a decode step reads: every 2-D weight (bf16: 2 bytes, fp32: 4) except an untied
     * embedding, of which one fp32 row; the 1-D norm weights in fp32. */
    double w2 = 0, w1 = 0, row = 4.0 * b->c.d_model;
    for (int32_t i = 0; i < retnet_model_tensor_count(b->m); i++) {
        retnet_tensor t;
        retnet_model_tensor(b->m, i, &t);
        if (t.ndim == 2 && !strcmp(t.name, "embed_tokens.weight") && !b->c.tie_embeddings)
            w1 += row;
        else if (t.ndim == 2) w2 += t.numel;
        else w1 += 4.0 * t.numel;
    }
    b->weight_bytes_fp32 = 4.0 * w2 + w1;
    /* bf16: the 2-D weights at 2 bytes; a tied embedding's row is still read in fp32 */
    b->weight_bytes =
        b->bf16 ? 2.0 * w2 + w1 + (b->c.tie_embeddings ? row : 0) : b->weight_bytes_fp32;
}

/* Bound in tokens/s for B sequences per step (weights read once per step), at read rate
 * read_gbs (0: the one given on the command line). */
static double bound_tps(const bench *b, int B, double read_gbs) {
    if (read_gbs <= 0) read_gbs = b->read_gbs;
    if (read_gbs <= 0 || b->copy_gbs <= 0) return 0;
    double w = B <= 8 ? b->weight_bytes : b->weight_bytes_fp32;
    double t = w / (read_gbs * 1e9) +
               2.0 * B * (double)b->state_bytes / (b->copy_gbs * 1e9);
    return B / t;
}

static void print_common(const bench *b) {
    printf("\"preset\":\"%s\",\"dtype\":\"%s\",\"params\":%lld,\"threads\":%d,"
           "\"weight_mb_per_token\":%.2f,\"state_mb\":%.3f",
           b->preset, b->bf16 ? "bf16" : "fp32", (long long)b->params, omp_get_max_threads(),
           b->weight_bytes / 1e6, b->state_bytes / 1e6);
}

/* Chunkwise prefill of `count` tokens into state s, `piece` per call, logits NULL. */
static void prefill(bench *b, retnet_state *s, int64_t count, int piece, int32_t *tok,
                    uint64_t *rng) {
    for (int64_t done = 0; done < count;) {
        int n = count - done < piece ? (int)(count - done) : piece;
        for (int i = 0; i < n; i++) tok[i] = (int32_t)(lcg(rng) % (uint32_t)b->c.vocab);
        if (retnet_forward(b->m, tok, 1, n, RETNET_FORM_CHUNKWISE, 0, s, NULL)) die("prefill");
        done += n;
    }
}

static float *new_state(const bench *b, retnet_state *s) {
    s->data = malloc((size_t)b->state_bytes);
    if (!s->data) { fprintf(stderr, "bench_decode: out of memory for a state\n"); exit(1); }
    retnet_state_reset(&b->c, s);
    return s->data;
}

/* ------------------------------------------------------------------ prefill speed */

static void prefill_speed(bench *b, int64_t tokens, int piece) {
    int32_t *tok = malloc(sizeof(int32_t) * piece);
    retnet_state s;
    new_state(b, &s);
    uint64_t rng = 42;
    prefill(b, &s, piece, piece, tok, &rng); /* warm-up: scratch, page faults */
    retnet_state_reset(&b->c, &s);
    double t0 = now();
    prefill(b, &s, tokens, piece, tok, &rng);
    double dt = now() - t0;
    printf("{\"kind\":\"prefill\",");
    print_common(b);
    printf(",\"tokens\":%lld,\"piece\":%d,\"seconds\":%.3f,\"tokens_per_s\":%.1f,"
           "\"vmrss_mb\":%.1f,\"vmhwm_mb\":%.1f}\n",
           (long long)tokens, piece, dt, tokens / dt, status_mb("VmRSS"), status_mb("VmHWM"));
    free(s.data);
    free(tok);
}

/* ------------------------------------------------------------------ contexts */

/* CPU accounting, to tell whether a point was disturbed: the machine's busy and steal ticks
 * (/proc/stat) and this process's (/proc/self/stat), in clock ticks. */
typedef struct { double wall, busy, steal, self; } cpu_ticks;

static cpu_ticks cpu_now(void) {
    cpu_ticks c = {now(), 0, 0, 0};
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (f && fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                    &v[4], &v[5], &v[6], &v[7]) == 8) {
        c.busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6]); /* user nice system irq softirq */
        c.steal = (double)v[7];
    }
    if (f) fclose(f);
    f = fopen("/proc/self/stat", "r");
    char buf[1024];
    if (f && fgets(buf, sizeof buf, f)) {
        char *p = strrchr(buf, ')'); /* fields after the command name; utime, stime: 14, 15 */
        unsigned long long ut = 0, st = 0;
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                        &st) == 2)
            c.self = (double)(ut + st);
    }
    if (f) fclose(f);
    return c;
}

/* Cores used by other processes, and cores stolen by the hypervisor, between a and b. */
static void cpu_others(cpu_ticks a, cpu_ticks b, double *others, double *steal) {
    double ticks = (b.wall - a.wall) * sysconf(_SC_CLK_TCK);
    *others = ticks > 0 ? ((b.busy - a.busy) - (b.self - a.self)) / ticks : 0;
    *steal = ticks > 0 ? (b.steal - a.steal) / ticks : 0;
    if (*others < 0) *others = 0;
}

/* Decodes n tokens of sequence s, timing each into t (if t). */
static void decode_tokens(bench *b, retnet_state *s, int32_t *next, int n, double *t,
                          float *logits, float *work, uint64_t *srng) {
    for (int i = 0; i < n; i++) {
        double t0 = now();
        if (retnet_forward(b->m, next, 1, 1, RETNET_FORM_RECURRENT, 0, s, logits)) die("decode");
        *next = retnet_sample(logits, b->c.vocab, 0.8f, 40, 0.95f, srng, work);
        if (t) t[i] = now() - t0;
    }
}

static void contexts(bench *b, const long *ctx, int nctx, long max_prefill, int piece,
                     int warmup, int ntok) {
    const int V = b->c.vocab, blk = 8; /* tokens per block of the interleaving */
    ntok = (ntok + blk - 1) / blk * blk;
    warmup = (warmup + blk - 1) / blk * blk;
    int32_t *tok = malloc(sizeof(int32_t) * piece);
    float *logits = malloc(sizeof(float) * V), *work = malloc(sizeof(float) * 2 * V);
    double *t = malloc(sizeof(double) * ntok), *tr = malloc(sizeof(double) * ntok);
    retnet_state s, ref;
    new_state(b, &s);
    new_state(b, &ref);
    uint64_t rng = 42, srng = 7;
    /* Size the scratch for the largest prefill call once, on a throwaway state, so that the
     * memory the process holds is the same at every context. */
    prefill(b, &s, piece, piece, tok, &rng);
    retnet_state_reset(&b->c, &s);
    /* The reference sequence, at the first context: its tokens are timed interleaved with
     * the measured context's (blocks of 8 each), so that a drift of the machine's speed
     * during the run shows in both and their ratio isolates the effect of the context. */
    prefill(b, &ref, ctx[0], piece, tok, &rng);
    int32_t ref_next = tok[0];
    int can_reset = reset_hwm() == 0;
    int64_t real = 0; /* tokens the state has consumed for real (prefill + decode) */
    for (int k = 0; k < nctx; k++) {
        const char *how = "prefill";
        double pf_s = 0;
        int64_t pf_n = 0;
        if (ctx[k] <= max_prefill) {
            pf_n = ctx[k] > s.pos ? ctx[k] - s.pos : 0;
            double t0 = now();
            prefill(b, &s, pf_n, piece, tok, &rng);
            pf_s = now() - t0;
            real += pf_n;
        } else {
            how = "jump";
            s.pos = ctx[k];
        }
        double others, steal, rate0 = b->copy_gbs > 0 ? read_rate_now() : 0;
        cpu_ticks c0 = cpu_now();
        if (can_reset) reset_hwm();
        int32_t next = tok[0];
        int64_t ref_pos = ref.pos;
        for (int i = 0; i < warmup; i += blk) {
            decode_tokens(b, &s, &next, blk, NULL, logits, work, &srng);
            decode_tokens(b, &ref, &ref_next, blk, NULL, logits, work, &srng);
        }
        for (int i = 0; i < ntok; i += blk) {
            decode_tokens(b, &s, &next, blk, t + i, logits, work, &srng);
            decode_tokens(b, &ref, &ref_next, blk, tr + i, logits, work, &srng);
        }
        cpu_others(c0, cpu_now(), &others, &steal);
        int64_t real_at_start = real;
        real += warmup + ntok;
        double sum = 0;
        for (int i = 0; i < ntok; i++) sum += t[i];
        qsort(t, ntok, sizeof(double), cmp);
        qsort(tr, ntok, sizeof(double), cmp);
        double rss = status_mb("VmRSS"), hwm = status_mb("VmHWM");
        double rate1 = b->copy_gbs > 0 ? read_rate_now() : 0, rate = mean_rate(rate0, rate1);
        double med = quant(t, ntok, 0.5), rmed = quant(tr, ntok, 0.5), bnd = bound_tps(b, 1, rate);
        printf("{\"kind\":\"decode\",");
        print_common(b);
        printf(",\"context\":%ld,\"reached\":\"%s\",\"real_tokens\":%lld,"
               "\"prefill_s\":%.2f,\"prefill_tokens_per_s\":%.1f,\"warmup\":%d,\"tokens\":%d,"
               "\"median_ms\":%.4f,\"p10_ms\":%.4f,\"p90_ms\":%.4f,\"min_ms\":%.4f,"
               "\"max_ms\":%.4f,\"tokens_per_s\":%.1f,\"mean_tokens_per_s\":%.1f,"
               "\"ref_context\":%lld,\"ref_median_ms\":%.4f,\"vs_ref\":%.3f,"
               "\"read_gbs\":%.2f,\"read_gbs_before\":%.2f,\"read_gbs_after\":%.2f,"
               "\"bound_tokens_per_s\":%.1f,\"of_bound\":%.3f,"
               "\"vmrss_mb\":%.1f,\"vmhwm_mb\":%.1f,\"hwm_reset\":%s,"
               "\"scratch_mb\":%.1f,\"other_cores\":%.2f,\"steal_cores\":%.2f}\n",
               ctx[k], how, (long long)real_at_start, pf_s, pf_s > 0 ? pf_n / pf_s : 0.0, warmup,
               ntok, 1e3 * med, 1e3 * quant(t, ntok, 0.1), 1e3 * quant(t, ntok, 0.9),
               1e3 * t[0], 1e3 * t[ntok - 1], 1.0 / med, ntok / sum, (long long)ref_pos,
               1e3 * rmed, med / rmed, rate > 0 ? rate : b->read_gbs, rate0, rate1, bnd,
               bnd > 0 ? (1.0 / med) / bnd : 0.0, rss, hwm, can_reset ? "true" : "false",
               retnet_model_scratch_bytes(b->m) / 1048576.0, others, steal);
        fflush(stdout);
    }
    free(s.data);
    free(ref.data);
    free(tr);
    free(t);
    free(work);
    free(logits);
    free(tok);
}

/* ------------------------------------------------------------------ batch */

static void batches(bench *b, long ctx, const long *Bs, int nB, int piece) {
    const int V = b->c.vocab;
    long Bmax = 1;
    for (int i = 0; i < nB; i++) Bmax = Bs[i] > Bmax ? Bs[i] : Bmax;
    int32_t *tok = malloc(sizeof(int32_t) * (piece > Bmax ? piece : Bmax));
    float *logits = malloc(sizeof(float) * V * Bmax), *work = malloc(sizeof(float) * 2 * V);
    retnet_state s0, *st = malloc(sizeof(retnet_state) * Bmax);
    new_state(b, &s0);
    for (long i = 0; i < Bmax; i++) new_state(b, &st[i]);
    uint64_t rng = 42, srng = 7;
    prefill(b, &s0, ctx, piece, tok, &rng);
    for (int k = 0; k < nB; k++) {
        int B = (int)Bs[k];
        for (int i = 0; i < B; i++) {
            memcpy(st[i].data, s0.data, (size_t)b->state_bytes);
            st[i].pos = s0.pos;
            tok[i] = (int32_t)(lcg(&rng) % (uint32_t)V);
        }
        /* about 2 s of timed steps at the expected rate, at least 8 and at most 64 */
        double t0 = now();
        int warm = 4;
        for (int i = 0; i < warm; i++) {
            if (retnet_forward(b->m, tok, B, 1, RETNET_FORM_RECURRENT, 0, st, logits))
                die("decode");
            for (int j = 0; j < B; j++)
                tok[j] = retnet_sample(logits + (size_t)j * V, V, 0.8f, 40, 0.95f, &srng, work);
        }
        double per = (now() - t0) / warm;
        int steps = (int)(2.0 / per);
        steps = steps < 8 ? 8 : steps > 64 ? 64 : steps;
        double *t = malloc(sizeof(double) * steps);
        double rate0 = b->copy_gbs > 0 ? read_rate_now() : 0;
        for (int i = 0; i < steps; i++) {
            t0 = now();
            retnet_forward(b->m, tok, B, 1, RETNET_FORM_RECURRENT, 0, st, logits);
            for (int j = 0; j < B; j++)
                tok[j] = retnet_sample(logits + (size_t)j * V, V, 0.8f, 40, 0.95f, &srng, work);
            t[i] = now() - t0;
        }
        qsort(t, steps, sizeof(double), cmp);
        double rss = status_mb("VmRSS");
        double rate1 = b->copy_gbs > 0 ? read_rate_now() : 0, rate = mean_rate(rate0, rate1);
        double med = quant(t, steps, 0.5), bnd = bound_tps(b, B, rate);
        printf("{\"kind\":\"batch\",");
        print_common(b);
        printf(",\"context\":%ld,\"B\":%d,\"steps\":%d,\"median_step_ms\":%.4f,"
               "\"min_step_ms\":%.4f,\"max_step_ms\":%.4f,\"tokens_per_s\":%.1f,"
               "\"read_gbs\":%.2f,\"bound_tokens_per_s\":%.1f,\"of_bound\":%.3f,"
               "\"vmrss_mb\":%.1f}\n",
               ctx, B, steps, 1e3 * med, 1e3 * t[0], 1e3 * t[steps - 1], B / med,
               rate > 0 ? rate : b->read_gbs, bnd, bnd > 0 ? (B / med) / bnd : 0.0, rss);
        fflush(stdout);
        free(t);
    }
    for (long i = 0; i < Bmax; i++) free(st[i].data);
    free(st);
    free(s0.data);
    free(work);
    free(logits);
    free(tok);
}

int main(int argc, char **argv) {
    bench b = {.preset = "small"};
    const char *mode = "context", *ctx_s = "128,1024,8192,32768,100000", *bs_s = "1,8,64";
    long max_prefill = -1, tokens = 4096, ctx = 1024;
    int piece = 2048, warmup = 16, ntok = 64, mb = 1024;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--bf16")) { b.bf16 = 1; continue; }
        if (!v) { fprintf(stderr, "bench_decode: %s needs a value\n", a); return 2; }
        i++;
        if (!strcmp(a, "--mode")) mode = v;
        else if (!strcmp(a, "--preset")) b.preset = v;
        else if (!strcmp(a, "--contexts")) ctx_s = v;
        else if (!strcmp(a, "--max-prefill")) max_prefill = atol(v);
        else if (!strcmp(a, "--piece")) piece = atoi(v);
        else if (!strcmp(a, "--warmup")) warmup = atoi(v);
        else if (!strcmp(a, "--tokens")) { ntok = atoi(v); tokens = atol(v); }
        else if (!strcmp(a, "--ctx")) ctx = atol(v);
        else if (!strcmp(a, "--batches")) bs_s = v;
        else if (!strcmp(a, "--mb")) mb = atoi(v);
        else if (!strcmp(a, "--read-gbs")) b.read_gbs = atof(v);
        else if (!strcmp(a, "--copy-gbs")) b.copy_gbs = atof(v);
        else { fprintf(stderr, "bench_decode: unknown option %s\n", a); return 2; }
    }
    if (piece < 1 || warmup < 0 || ntok < 1 || mb < 1) {
        fprintf(stderr, "bench_decode: bad arguments\n");
        return 2;
    }
    if (!strcmp(mode, "bandwidth")) { bandwidth(mb); return 0; }
    setup(&b);
    if (!strcmp(mode, "prefill")) prefill_speed(&b, tokens, piece);
    else if (!strcmp(mode, "context")) {
        long cs[32];
        int n = parse_list(ctx_s, cs, 32);
        contexts(&b, cs, n, max_prefill < 0 ? cs[n - 1] : max_prefill, piece, warmup, ntok);
    } else if (!strcmp(mode, "batch")) {
        long bs[32];
        int n = parse_list(bs_s, bs, 32);
        batches(&b, ctx, bs, n, piece);
    } else {
        fprintf(stderr, "bench_decode: unknown mode %s\n", mode);
        return 2;
    }
    retnet_model_free(b.m);
    return 0;
}
