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
 *                [--read-gbs R --copy-gbs C] [--retries N]
 *       one sequence walked up the contexts in this process: prefill (chunkwise, `piece` tokens
 *       per call, the state carried, logits NULL) up to each context, then `warmup` untimed and
 *       `tokens` timed decode steps (retnet_forward B=1 T=1 recurrent + retnet_sample), each
 *       timed alone, in blocks of 8 alternating with 8 tokens of a reference sequence held at
 *       the first context (its position is set back there before each point; vs_ref = median /
 *       the reference's median: the context's effect with the machine's drift taken out). Contexts above --max-prefill are reached by a position
 *       jump: the state prefilled up to max-prefill tokens gets pos = context (the per-token
 *       cost depends on pos only through the rotation angles and the §3 decay-row scale, never
 *       through the state's size). VmRSS after each point; VmHWM is reset
 *       (/proc/self/clear_refs) before each point's decoding, so it is the peak while decoding
 *       at that context. --retries N: a point during which other processes used more than
 *       half a core (other_cores, from /proc/stat) is timed again from the same positions, up
 *       to N more times, and the least disturbed try is kept ("tries" in the output).
 *   bench_decode --mode batch --preset small [--bf16] [--ctx 1024] [--batches 1,8,64]
 *                [--max-prefill N] [--max-mb M] [--retries N]
 *       B sequences decoded together (one retnet_forward(B, T=1) per step) at context ctx: one
 *       state prefilled to ctx (above --max-prefill: a jump, or a fill for a Transformer) and
 *       copied into all B (the cost does not depend on the values). About 2 s of timed steps
 *       (8 to 64; at least 5 when a step takes over 0.25 s). A B whose states together exceed
 *       --max-mb MB is skipped (a line with "skipped").
 *
 * Transformer presets ("tf-small", ...): the state is the KV cache (retnet.h), sized with
 * retnet_model_set_context to the largest position the run reaches. It is calloc'ed and never
 * cleared, so its pages become resident only as rows are written: VmRSS shows the cache a
 * sequence uses, not its capacity (and state_used_mb is retnet_state_bytes_used at the
 * point). Contexts above --max-prefill are reached by a fill instead of a jump: rows from the
 * state's position up to the context get random values in [-1, 1] in every layer's keys and
 * values, and pos = context ("reached":"fill"). A decoding step attends over all pos rows
 * whatever their values, so its cost is that of a real context of that length; a real
 * prefill costs O(T^2) (a Transformer's prefill of 64k tokens takes hours on 2 cores).
 *
 * With --copy-gbs (from --mode bandwidth) each point reports the memory-bandwidth bound: a
 * decode step must read every 2-D weight once (the output projection included; the embedding
 * only one row when untied) and read + write the recurrent state, so
 *   t_bound = weight_bytes / read_rate + 2 state_bytes / copy_rate (copy rate counts r + w),
 * (a Transformer: + the cache rows in use / read_rate, in place of the state term)
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

/* The 1-minute load average (-1 if unknown). */
static double loadavg(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf", &l) != 1) l = -1;
    if (f) fclose(f);
    return l;
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
    int tf;                    /* a Transformer: the state is a KV cache */
    int64_t cache;             /* tf: positions its KV cache holds (retnet_model_set_context) */
} bench;

static void setup(bench *b) {
    if (retnet_config_preset(b->preset, &b->c)) die("preset");
    if (retnet_model_create(&b->c, &b->m) || retnet_model_init(b->m, 1)) die("model");
    if (b->bf16 && retnet_model_set_bf16_decode(b->m, 1)) die("bf16");
    b->tf = b->c.arch == RETNET_ARCH_TRANSFORMER;
    if (b->tf) {
        if (retnet_model_set_context(b->m, (int32_t)b->cache)) die("context");
        b->c = *retnet_model_config(b->m);
    }
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

/* Bound in tokens/s for B sequences per step at position pos (weights read once per step),
 * at read rate read_gbs (0: the one given on the command line). RetNet: each state read and
 * written; Transformer: the pos cache rows each sequence uses read (one row written). */
static double bound_tps(const bench *b, int B, double read_gbs, int64_t pos) {
    if (read_gbs <= 0) read_gbs = b->read_gbs;
    if (read_gbs <= 0 || b->copy_gbs <= 0) return 0;
    double w = B <= 8 ? b->weight_bytes : b->weight_bytes_fp32;
    double t = w / (read_gbs * 1e9) +
               (b->tf ? B * (double)retnet_state_bytes_used(&b->c, pos) / (read_gbs * 1e9)
                      : 2.0 * B * (double)b->state_bytes / (b->copy_gbs * 1e9));
    return B / t;
}

static void print_common(const bench *b) {
    printf("\"preset\":\"%s\",\"arch\":\"%s\",\"dtype\":\"%s\",\"params\":%lld,"
           "\"threads\":%d,\"weight_mb_per_token\":%.2f,\"state_mb\":%.3f",
           b->preset, b->tf ? "transformer" : "retnet", b->bf16 ? "bf16" : "fp32",
           (long long)b->params, omp_get_max_threads(), b->weight_bytes / 1e6,
           b->state_bytes / 1e6);
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

/* A state at position 0. A KV cache is calloc'ed and not cleared (retnet_state_reset would
 * write all of it): its pages stay unbacked until rows are written, so the process's RSS
 * grows with the rows a sequence uses. */
static float *new_state(const bench *b, retnet_state *s) {
    s->data = b->tf ? calloc((size_t)b->state_bytes, 1) : malloc((size_t)b->state_bytes);
    if (!s->data) { fprintf(stderr, "bench_decode: out of memory for a state\n"); exit(1); }
    if (b->tf) s->pos = 0;
    else retnet_state_reset(&b->c, s);
    return s->data;
}

/* Transformer: rows s->pos .. pos-1 of every layer's keys and values set to random values in
 * [-1, 1], then s->pos = pos: a context reached without the O(T^2) prefill (a decoding
 * step's cost depends on how many rows it attends over, not on their values). */
static void fill_cache(const bench *b, retnet_state *s, int64_t pos, uint64_t *rng) {
    const retnet_config *c = &b->c;
    const int64_t n0 = s->pos, per = c->d_key + c->d_value;
    for (int l = 0; l < c->n_layer; l++) {
        float *K = s->data + (int64_t)l * c->context * per, *V = K + (int64_t)c->context * c->d_key;
        for (int64_t i = n0 * c->d_key; i < pos * c->d_key; i++)
            K[i] = (float)lcg(rng) * 0x1p-31f - 1.0f;
        for (int64_t i = n0 * c->d_value; i < pos * c->d_value; i++)
            V[i] = (float)lcg(rng) * 0x1p-31f - 1.0f;
    }
    s->pos = pos;
}

/* Sizes the model's scratch for the largest prefill call, on a throwaway state (so that the
 * memory the process holds is the same at every point, and a KV cache stays untouched). */
static void size_scratch(bench *b, int piece, int32_t *tok, uint64_t *rng) {
    retnet_state t;
    new_state(b, &t);
    prefill(b, &t, piece < b->cache || !b->tf ? piece : b->cache, piece, tok, rng);
    free(t.data);
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
                     int warmup, int ntok, int retries) {
    const int V = b->c.vocab, blk = 8; /* tokens per block of the interleaving */
    ntok = (ntok + blk - 1) / blk * blk;
    warmup = (warmup + blk - 1) / blk * blk;
    int32_t *tok = malloc(sizeof(int32_t) * piece);
    float *logits = malloc(sizeof(float) * V), *work = malloc(sizeof(float) * 2 * V);
    double *t = malloc(sizeof(double) * ntok), *tr = malloc(sizeof(double) * ntok);
    double *tbest = malloc(sizeof(double) * ntok), *trbest = malloc(sizeof(double) * ntok);
    retnet_state s, ref;
    new_state(b, &s);
    new_state(b, &ref);
    uint64_t rng = 42, srng = 7;
    size_scratch(b, piece, tok, &rng);
    /* The reference sequence, at the first context: its tokens are timed interleaved with
     * the measured context's (blocks of 8 each), so that a drift of the machine's speed
     * during the run shows in both and their ratio isolates the effect of the context. */
    prefill(b, &ref, ctx[0], piece, tok, &rng);
    const int64_t ref_pos0 = ref.pos;
    int32_t ref_next = tok[0];
    int can_reset = reset_hwm() == 0;
    int64_t real = 0; /* tokens the state has consumed for real (prefill + decode) */
    for (int k = 0; k < nctx; k++) {
        const char *how = "prefill";
        double t0 = now();
        /* real prefill up to the context, or up to max_prefill and then a jump (RetNet) or a
         * fill (Transformer) */
        int64_t upto = ctx[k] <= max_prefill ? ctx[k] : max_prefill;
        int64_t pf_n = upto > s.pos ? upto - s.pos : 0;
        prefill(b, &s, pf_n, piece, tok, &rng);
        real += pf_n;
        double pf_s = now() - t0;
        if (ctx[k] > s.pos) {
            how = b->tf ? "fill" : "jump";
            if (b->tf) fill_cache(b, &s, ctx[k], &rng);
            else s.pos = ctx[k];
        }
        double fill_s = now() - t0 - pf_s;
        double others = 0, steal = 0, rate0 = b->copy_gbs > 0 ? read_rate_now() : 0;
        const int64_t pos_at_start = s.pos, ref_pos = ref_pos0;
        int tries = 0;
        double best = 1e30;
        /* The timed tokens; with retries, timed again from the same positions while other
         * processes took more than half a core meanwhile (a 2-thread step waits whenever one
         * of its threads is descheduled), keeping the least disturbed try. */
        do {
            cpu_ticks c0 = cpu_now();
            if (can_reset) reset_hwm();
            int32_t next = tok[0];
            s.pos = pos_at_start;
            ref.pos = ref_pos0; /* the reference stays at the first context */
            for (int i = 0; i < warmup; i += blk) {
                decode_tokens(b, &s, &next, blk, NULL, logits, work, &srng);
                decode_tokens(b, &ref, &ref_next, blk, NULL, logits, work, &srng);
            }
            for (int i = 0; i < ntok; i += blk) {
                decode_tokens(b, &s, &next, blk, t + i, logits, work, &srng);
                decode_tokens(b, &ref, &ref_next, blk, tr + i, logits, work, &srng);
            }
            double o, st;
            cpu_others(c0, cpu_now(), &o, &st);
            if (o < best) {
                best = others = o, steal = st;
                memcpy(tbest, t, sizeof(double) * ntok);
                memcpy(trbest, tr, sizeof(double) * ntok);
            }
        } while (++tries <= retries && best > 0.5);
        memcpy(t, tbest, sizeof(double) * ntok);
        memcpy(tr, trbest, sizeof(double) * ntok);
        int64_t real_at_start = real;
        real += (int64_t)tries * (warmup + ntok);
        double sum = 0;
        for (int i = 0; i < ntok; i++) sum += t[i];
        qsort(t, ntok, sizeof(double), cmp);
        qsort(tr, ntok, sizeof(double), cmp);
        double rss = status_mb("VmRSS"), hwm = status_mb("VmHWM");
        double rate1 = b->copy_gbs > 0 ? read_rate_now() : 0, rate = mean_rate(rate0, rate1);
        double med = quant(t, ntok, 0.5), rmed = quant(tr, ntok, 0.5);
        double bnd = bound_tps(b, 1, rate, pos_at_start);
        printf("{\"kind\":\"decode\",");
        print_common(b);
        printf(",\"context\":%ld,\"reached\":\"%s\",\"real_tokens\":%lld,"
               "\"prefill_s\":%.2f,\"prefill_tokens_per_s\":%.1f,\"fill_s\":%.2f,\"warmup\":%d,\"tokens\":%d,"
               "\"median_ms\":%.4f,\"p10_ms\":%.4f,\"p90_ms\":%.4f,\"min_ms\":%.4f,"
               "\"max_ms\":%.4f,\"tokens_per_s\":%.1f,\"mean_tokens_per_s\":%.1f,"
               "\"ref_context\":%lld,\"ref_median_ms\":%.4f,\"vs_ref\":%.3f,"
               "\"read_gbs\":%.2f,\"read_gbs_before\":%.2f,\"read_gbs_after\":%.2f,"
               "\"bound_tokens_per_s\":%.1f,\"of_bound\":%.3f,"
               "\"vmrss_mb\":%.1f,\"vmhwm_mb\":%.1f,\"hwm_reset\":%s,"
               "\"scratch_mb\":%.1f,\"other_cores\":%.2f,\"steal_cores\":%.2f,"
               "\"state_used_mb\":%.3f,\"loadavg\":%.2f,\"tries\":%d}\n",
               ctx[k], how, (long long)real_at_start, pf_s, pf_n > 0 && pf_s > 0 ? pf_n / pf_s : 0.0, fill_s, warmup,
               ntok, 1e3 * med, 1e3 * quant(t, ntok, 0.1), 1e3 * quant(t, ntok, 0.9),
               1e3 * t[0], 1e3 * t[ntok - 1], 1.0 / med, ntok / sum, (long long)ref_pos,
               1e3 * rmed, med / rmed, rate > 0 ? rate : b->read_gbs, rate0, rate1, bnd,
               bnd > 0 ? (1.0 / med) / bnd : 0.0, rss, hwm, can_reset ? "true" : "false",
               retnet_model_scratch_bytes(b->m) / 1048576.0, others, steal,
               retnet_state_bytes_used(&b->c, pos_at_start) / 1e6, loadavg(), tries);
        fflush(stdout);
    }
    free(s.data);
    free(ref.data);
    free(trbest);
    free(tbest);
    free(tr);
    free(t);
    free(work);
    free(logits);
    free(tok);
}

/* ------------------------------------------------------------------ batch */

static void batches(bench *b, long ctx, const long *Bs, int nB, int piece, long max_prefill,
                    double max_mb, int retries) {
    const int V = b->c.vocab;
    long Bmax = 1; /* the largest B that is measured: its states fit in max_mb */
    for (int i = 0; i < nB; i++)
        if (Bs[i] > Bmax && Bs[i] * (double)b->state_bytes <= max_mb * 1e6) Bmax = Bs[i];
    int32_t *tok = malloc(sizeof(int32_t) * (piece > Bmax ? piece : Bmax));
    float *logits = malloc(sizeof(float) * V * Bmax), *work = malloc(sizeof(float) * 2 * V);
    retnet_state s0, *st = malloc(sizeof(retnet_state) * Bmax);
    uint64_t rng = 42, srng = 7;
    size_scratch(b, piece, tok, &rng);
    new_state(b, &s0);
    for (long i = 0; i < Bmax; i++) new_state(b, &st[i]);
    const char *how = "prefill";
    prefill(b, &s0, ctx < max_prefill ? ctx : max_prefill, piece, tok, &rng);
    if (ctx > s0.pos) {
        how = b->tf ? "fill" : "jump";
        if (b->tf) fill_cache(b, &s0, ctx, &rng);
        else s0.pos = ctx;
    }
    for (int k = 0; k < nB; k++) {
        int B = (int)Bs[k];
        if (B > Bmax) {
            printf("{\"kind\":\"batch\",");
            print_common(b);
            printf(",\"context\":%ld,\"B\":%d,\"skipped\":\"%.1f MB of states > %.0f MB\"}\n", ctx,
                   B, B * (double)b->state_bytes / 1e6, max_mb);
            fflush(stdout);
            continue;
        }
        for (int i = 0; i < B; i++) {
            memcpy(st[i].data, s0.data, (size_t)b->state_bytes);
            st[i].pos = s0.pos;
            tok[i] = (int32_t)(lcg(&rng) % (uint32_t)V);
        }
        /* 4 warm-up steps (2 where a step takes over 0.25 s), then about 2 s of timed steps at
         * the rate they showed: at least 8 (5 for steps over 0.25 s) and at most 64 */
        double t0 = now();
        int warm = 0;
        while (warm < 4 && !(warm == 2 && now() - t0 > 0.5)) {
            if (retnet_forward(b->m, tok, B, 1, RETNET_FORM_RECURRENT, 0, st, logits))
                die("decode");
            for (int j = 0; j < B; j++)
                tok[j] = retnet_sample(logits + (size_t)j * V, V, 0.8f, 40, 0.95f, &srng, work);
            warm++;
        }
        double per = (now() - t0) / warm;
        int steps = (int)(2.0 / per), least = per > 0.25 ? 5 : 8;
        steps = steps < least ? least : steps > 64 ? 64 : steps;
        double *t = malloc(sizeof(double) * steps), *tbest = malloc(sizeof(double) * steps);
        double rate0 = b->copy_gbs > 0 ? read_rate_now() : 0, others = 0, steal, best = 1e30;
        const int64_t pos0 = st[0].pos;
        int tries = 0;
        do { /* again from the same positions while others took over half a core (contexts()) */
            for (int i = 0; i < B; i++) st[i].pos = pos0;
            cpu_ticks c0 = cpu_now();
            for (int i = 0; i < steps; i++) {
                t0 = now();
                if (retnet_forward(b->m, tok, B, 1, RETNET_FORM_RECURRENT, 0, st, logits))
                    die("decode");
                for (int j = 0; j < B; j++)
                    tok[j] = retnet_sample(logits + (size_t)j * V, V, 0.8f, 40, 0.95f, &srng, work);
                t[i] = now() - t0;
            }
            double o;
            cpu_others(c0, cpu_now(), &o, &steal);
            if (o < best) {
                best = others = o;
                memcpy(tbest, t, sizeof(double) * steps);
            }
        } while (++tries <= retries && best > 0.5);
        memcpy(t, tbest, sizeof(double) * steps);
        free(tbest);
        qsort(t, steps, sizeof(double), cmp);
        double rss = status_mb("VmRSS");
        double rate1 = b->copy_gbs > 0 ? read_rate_now() : 0, rate = mean_rate(rate0, rate1);
        double med = quant(t, steps, 0.5), bnd = bound_tps(b, B, rate, ctx);
        printf("{\"kind\":\"batch\",");
        print_common(b);
        printf(",\"context\":%ld,\"reached\":\"%s\",\"B\":%d,\"steps\":%d,\"median_step_ms\":%.4f,"
               "\"min_step_ms\":%.4f,\"max_step_ms\":%.4f,\"tokens_per_s\":%.1f,"
               "\"read_gbs\":%.2f,\"bound_tokens_per_s\":%.1f,\"of_bound\":%.3f,"
               "\"vmrss_mb\":%.1f,\"states_mb\":%.1f,\"other_cores\":%.2f,\"loadavg\":%.2f,"
               "\"tries\":%d}\n",
               ctx, how, B, steps, 1e3 * med, 1e3 * t[0], 1e3 * t[steps - 1], B / med,
               rate > 0 ? rate : b->read_gbs, bnd, bnd > 0 ? (B / med) / bnd : 0.0, rss,
               B * (double)retnet_state_bytes_used(&b->c, ctx) / 1e6, others, loadavg(), tries);
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
    int piece = 2048, warmup = 16, ntok = 64, mb = 1024, retries = 0;
    double max_mb = 1e12;
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
        else if (!strcmp(a, "--max-mb")) max_mb = atof(v);
        else if (!strcmp(a, "--retries")) retries = atoi(v);
        else { fprintf(stderr, "bench_decode: unknown option %s\n", a); return 2; }
    }
    if (piece < 1 || warmup < 0 || ntok < 1 || mb < 1) {
        fprintf(stderr, "bench_decode: bad arguments\n");
        return 2;
    }
    if (!strcmp(mode, "bandwidth")) { bandwidth(mb); return 0; }
    long cs[32], bs[32];
    int ncs = parse_list(ctx_s, cs, 32), nbs = parse_list(bs_s, bs, 32);
    if (ncs < 1 || nbs < 1) {
        fprintf(stderr, "bench_decode: empty --contexts or --batches\n");
        return 2;
    }
    /* A Transformer's KV cache holds the largest position the mode reaches: the contexts
     * plus the decoded tokens (rounded up to blocks of 8), the batch steps (4 + at most 64),
     * or the prefill test's tokens. */
    long top = cs[0];
    for (int i = 1; i < ncs; i++) top = cs[i] > top ? cs[i] : top;
    b.cache = !strcmp(mode, "prefill") ? tokens + piece
              : !strcmp(mode, "batch") ? ctx + 4 + 64 + 1
                                       : top + (warmup + 7) / 8 * 8 + (ntok + 7) / 8 * 8 + 1;
    setup(&b);
    if (!strcmp(mode, "prefill")) prefill_speed(&b, tokens, piece);
    else if (!strcmp(mode, "context")) {
        contexts(&b, cs, ncs, max_prefill < 0 ? top : max_prefill, piece, warmup, ntok, retries);
    } else if (!strcmp(mode, "batch")) {
        batches(&b, ctx, bs, nbs, piece, max_prefill < 0 ? ctx : max_prefill, max_mb, retries);
    } else {
        fprintf(stderr, "bench_decode: unknown mode %s\n", mode);
        return 2;
    }
    retnet_model_free(b.m);
    return 0;
}
