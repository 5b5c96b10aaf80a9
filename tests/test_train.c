/*
 * test_train: `retnet train` end to end, as a user meets it. Runs the binary built next to this
 * test (../retnet relative to it) on a small byte-level dataset (the first 60 KB of
 * ../shared/data/tinyshakespeare.txt, or generated play-like text where that file is missing)
 * with the tiny preset, 2 windows of 32 tokens per micro-batch, and checks:
 *
 *   - a resumed run is bit-identical to an uninterrupted one: the per-step loss, grad norm, lr
 *     and val loss of the JSON log, and the final model.safetensors and state.safetensors,
 *     byte for byte (chunkwise, parallel, --accum 2 with --dropout 0.1, 2 threads);
 *   - --steps is the total: resuming a finished run does nothing and says so;
 *   - the JSON-lines log has its fields on every step and val_loss exactly on eval steps,
 *     and 60 steps really learn (the val loss falls far below the initial ~5.6 nats);
 *   - Ctrl-C (SIGINT) saves and exits 0, and the resumed run equals the uninterrupted one;
 *   - kill -9 at random moments of a run that saves every step always leaves a checkpoint that
 *     loads and resumes (the seed of the moments is printed; RETNET_TEST_SEED replays it);
 *   - a run that blows up (NaN/Inf) stops with one line naming the step, before the update,
 *     and the last checkpoint (an earlier step) is intact;
 *   - bad input fails before any work with one line on stderr, creating no files;
 *   - a run directory that holds a run is refused (one line naming it, --resume and --force)
 *     with every file of the run byte-identical afterwards; --force replaces the run with what
 *     a new directory would get; --resume still continues it;
 *   - --force removes the replaced run's checkpoint (and temp files, and the old log) before
 *     the first step: killed before its first save, the new run leaves only its own log; a
 *     directory holding only a run's log is refused, the log byte-identical; a new run's
 *     non-empty --log elsewhere is refused (an empty one is fine), replaced with --force, and
 *     kept and continued by --resume;
 *   - a training state holding NaN, Inf or a negative second moment is refused by --resume
 *     (one line naming the file and the tensor), the run's files as they were;
 *   - weights that turn NaN/Inf at a step that saves but does not evaluate are not saved: the
 *     run stops non-zero, the last checkpoint byte for byte as it was;
 *   - --lr x --wd >= 1 warns (one line) and trains; below 1 it does not warn;
 *   - each invocation's first line in its log is a run record (id, start, resumed step,
 *     arguments); a resumed log keeps the records of the lines it keeps. The other tests read
 *     the step lines only (jlog_read): the records differ, by design, between a resumed and
 *     an uninterrupted run.
 *
 * Children run with OMP_NUM_THREADS=1 (a tiny model gains nothing from threads, and a loaded
 * machine makes spinning OpenMP threads very slow) except the one 2-thread variant, and with
 * ASAN_OPTIONS=detect_leaks=0 (the CLI exits without freeing on its error path, by design).
 */
#include "retnet.h"
#include "test.h"
#include "cli_run.h"

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char retnet[4200], tmp[256], data_dir[512];
static int64_t n_train_tokens, n_val_tokens;
static uint64_t seed0;

/* Every run: tiny windows, no samples. */
#define SMALL "--batch 2 --seq 32 --sample-tokens 0"

/* ---------------------------------------------------------------- files */

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* 1 if both files exist with the same bytes, 0 if not. */
static int same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = test_slurp(a, &na), *y = test_slurp(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

/* Files in dir whose name contains `part` (-1 if dir cannot be read). */
static int count_files(const char *dir, const char *part) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ls -A '%s' 2>/dev/null | grep -c -F -- '%s'", dir, part);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

/* The step in a training state's __metadata__ ("step": "N"); -1 if it has none. Reads the
 * safetensors header only: 8 bytes of little-endian length, then the JSON. */
static long long state_step(const char *run) {
    char path[1024];
    snprintf(path, sizeof path, "%s/state.safetensors", run);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char len8[8];
    long long step = -1;
    if (fread(len8, 1, 8, f) == 8) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
        char *h = n < (1u << 20) ? malloc(n + 1) : NULL;
        if (h && fread(h, 1, n, f) == n) {
            h[n] = 0;
            const char *p = strstr(h, "\"step\"");
            if (p) {
                p += 6;
                while (*p == ' ' || *p == ':') p++;
                if (*p == '"') step = strtoll(p + 1, NULL, 10);
            }
        }
        free(h);
    }
    fclose(f);
    return step;
}

/* ---------------------------------------------------------------- running the CLI */

typedef cli_result result;

static void result_free(result *r) { cli_result_free(r); }

/* Runs `ENV retnet ARGS` through the shell, capturing stdout and stderr. */
static result vrun(const char *env, const char *fmt, va_list ap) {
    char args[8192];
    vsnprintf(args, sizeof args, fmt, ap);
    return cli_run(env, retnet, args, NULL, tmp);
}

__attribute__((format(printf, 1, 2))) static result run(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    result r = vrun("", fmt, ap);
    va_end(ap);
    return r;
}

__attribute__((format(printf, 2, 3))) static result run_env(const char *env, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    result r = vrun(env, fmt, ap);
    va_end(ap);
    return r;
}

/* Runs that must succeed: CHECK the status, printing stderr if it is not 0. */
#define RUN_OK(r, what)                                                                   \
    CHECK((r).status == 0, "%s: exit status %d, stderr:\n%s", (what), (r).status, (r).err)

/* Children started in the background, killed and reaped at exit whatever happens. */
static pid_t live[8];
static int n_live;

static void kill_children(void) {
    for (int i = 0; i < n_live; i++) {
        kill(live[i], SIGKILL);
        waitpid(live[i], NULL, 0);
    }
    n_live = 0;
}

/* Starts `retnet ARGS` in the background (exec'd by the shell, so the pid is retnet's), its
 * stderr to err_path. */
static pid_t spawn(const char *args, const char *err_path) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "exec %s %s >/dev/null 2>%s", retnet, args, err_path);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    if (pid > 0) live[n_live++] = pid;
    return pid;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) && errno == EINTR) {}
}

/* Waits for a background child; kills it after timeout_s. Returns its status (as run()), or
 * -1 on a timeout. */
static int wait_child(pid_t pid, double timeout_s) {
    double t0 = now_s();
    int st = 0, timed_out = 0;
    for (;;) {
        pid_t got = waitpid(pid, &st, WNOHANG);
        if (got == pid) break;
        if (got < 0) { st = 0xff00; break; }
        if (now_s() - t0 > timeout_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            timed_out = 1;
            break;
        }
        sleep_s(0.002);
    }
    for (int i = 0; i < n_live; i++)
        if (live[i] == pid) live[i] = live[--n_live];
    return timed_out ? -1 : test_exit_status(st);
}

/* Polls until the file has at least `lines` lines or the child has exited; 1 if it has. */
static int wait_lines(const char *path, int lines, pid_t pid, double timeout_s) {
    double t0 = now_s();
    while (now_s() - t0 < timeout_s) {
        char *s = test_slurp(path, NULL);
        int n = test_count_lines(s);
        free(s);
        if (n >= lines) return 1;
        siginfo_t info = {0};
        if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid)
            return 0;
        sleep_s(0.001);
    }
    return 0;
}

/* Polls until the file contains text or the child has exited; 1 if it does. */
static int wait_text(const char *path, const char *text, pid_t pid, double timeout_s) {
    double t0 = now_s();
    while (now_s() - t0 < timeout_s) {
        char *s = test_slurp(path, NULL);
        int found = s && strstr(s, text);
        free(s);
        if (found) return 1;
        siginfo_t info = {0};
        if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid)
            return 0;
        sleep_s(0.002);
    }
    return 0;
}

/* ---------------------------------------------------------------- the JSON-lines log */

typedef struct {
    char *buf;
    char *line[512];
    int n;
} jlog;

/* A log's lines. runs = 0: its step lines only, without the run records (each invocation's
 * first line: {"run": id, "started": ..., "resumed_from_step": N, "argv": [...]}), which
 * differ by design between a resumed run and an uninterrupted one (another id, time, step,
 * arguments): the per-step lines are what must agree. runs = 1: every line. */
static jlog jlog_read_all(const char *path, int runs) {
    jlog l = {test_slurp(path, NULL), {0}, 0};
    for (char *p = l.buf; p && *p && l.n < 512;) {
        char *e = strchr(p, '\n');
        if (e) *e = 0;
        if (runs || strncmp(p, "{\"run\": ", 8)) l.line[l.n++] = p;
        if (!e) break;
        p = e + 1;
    }
    return l;
}

static jlog jlog_read(const char *path) { return jlog_read_all(path, 0); }

static void jlog_free(jlog *l) { free(l->buf); }

/* The text of a field's value (minimal: our own flat objects of numbers). 0 if absent. */
static int field(const char *line, const char *key, char *out, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(line, pat);
    if (!p) return 0;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p++ != ':') return 0;
    while (*p == ' ') p++;
    size_t n = strcspn(p, ",}");
    while (n && p[n - 1] == ' ') n--;
    if (n == 0 || n >= cap) return 0;
    memcpy(out, p, n);
    out[n] = 0;
    return 1;
}

/* A numeric field; NAN if absent or not a number. */
static double num(const char *line, const char *key) {
    char v[64], *end;
    if (!field(line, key, v, sizeof v)) return NAN;
    double x = strtod(v, &end);
    return *end ? NAN : x;
}

/* The line of a step (NULL if none). */
static const char *jlog_step(const jlog *l, long long step) {
    for (int i = 0; i < l->n; i++)
        if (num(l->line[i], "step") == (double)step) return l->line[i];
    return NULL;
}

/* CHECKs that a log holds exactly the steps 1..steps, in order, one line each. */
static void check_steps(const jlog *l, int steps, const char *what) {
    CHECK(l->n == steps, "%s: %d lines, want %d", what, l->n, steps);
    for (int i = 0; i < l->n && i < steps; i++)
        CHECK(num(l->line[i], "step") == i + 1, "%s: line %d is not step %d: %s", what, i + 1,
              i + 1, l->line[i]);
}

/* CHECKs that two logs agree exactly (as printed) on the per-step numbers of steps 1..steps. */
static void check_same_numbers(const jlog *a, const jlog *b, int steps, const char *what) {
    const char *keys[] = {"loss", "grad_norm", "lr", "val_loss"};
    int bad = 0;
    for (long long s = 1; s <= steps && bad < 3; s++) {
        const char *la = jlog_step(a, s), *lb = jlog_step(b, s);
        if (!la || !lb) {
            CHECK(0, "%s: step %lld missing from a log", what, s);
            bad++;
            continue;
        }
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            char va[64] = "(absent)", vb[64] = "(absent)";
            int ha = field(la, keys[k], va, sizeof va), hb = field(lb, keys[k], vb, sizeof vb);
            if (ha != hb || strcmp(va, vb)) {
                CHECK(0, "%s: step %lld: %s %s vs %s", what, s, keys[k], va, vb);
                bad++;
            }
        }
    }
}

/* ---------------------------------------------------------------- the dataset */

/* Play-like text, when the shared copy of tinyshakespeare is missing: speakers, lines of
 * common words, punctuation; learnable enough for the loss checks. Fixed seed. */
static void generate_text(char *buf, size_t n) {
    static const char *words[] = {
        "the", "and", "to", "of", "my", "I", "you", "a", "that", "in", "is", "not", "with",
        "me", "it", "for", "be", "his", "your", "this", "but", "he", "have", "as", "thou", "so",
        "him", "will", "what", "thy", "all", "her", "no", "by", "do", "shall", "if", "are",
        "we", "thee", "on", "lord", "our", "king", "good", "now", "sir", "from", "come", "at",
        "they", "she", "let", "here", "would", "well", "more", "then", "love", "there", "how",
        "hath", "man", "say", "may", "go", "know", "make", "upon", "like", "one", "should",
        "must", "why", "see", "where", "give", "when", "time", "death", "heart", "speak",
        "tell", "night", "blood", "fair", "true", "hand", "eyes", "war", "peace", "crown",
        "sword", "grace", "honour"};
    static const char *names[] = {"KING HENRY", "QUEEN MARGARET", "ROMEO", "JULIET",
                                  "First Citizen", "MENENIUS", "GLOUCESTER", "NURSE"};
    static const char ends[] = ".,!?;:";
    const int nw = sizeof words / sizeof words[0], nn = sizeof names / sizeof names[0];
    uint64_t s = 12345;
    size_t k = 0;
#define PICK(m) ((int)(((test_rand(&s) + 1) / 2) * (m)))
#define PUT(str) for (const char *q_ = (str); *q_ && k < n; q_++) buf[k++] = *q_
    while (k < n) {
        PUT(names[PICK(nn)]);
        PUT(":\n");
        for (int lines = 1 + PICK(4); lines > 0; lines--) {
            for (int w = 0, nwl = 4 + PICK(7); w < nwl; w++) {
                const char *word = words[PICK(nw)];
                if (w && k < n) buf[k++] = ' ';
                if (w == 0 && k < n) {
                    buf[k++] = (char)(word[0] >= 'a' ? word[0] - 32 : word[0]);
                    word++;
                }
                PUT(word);
            }
            if (k < n) buf[k++] = ends[PICK(6)];
            PUT("\n");
        }
        PUT("\n");
    }
#undef PICK
#undef PUT
}

/* Token count of a token file: 64-byte header then uint16 ids (byte vocabulary). */
static int64_t tokens_in(const char *path) {
    struct stat st;
    return stat(path, &st) ? -1 : ((int64_t)st.st_size - 64) / 2;
}

static int make_dataset(const char *bindir) {
    enum { BYTES = 60000 };
    char *text = calloc(1, BYTES + 1), path[4200];
    const char *where[] = {"%s/../../../shared/data/tinyshakespeare.txt",
                           "../shared/data/tinyshakespeare.txt"};
    size_t got = 0;
    const char *src = "generated text";
    for (int i = 0; i < 2 && !getenv("RETNET_TEST_GENERATED_TEXT") && got < BYTES; i++) {
        snprintf(path, sizeof path, where[i], bindir);
        FILE *f = fopen(path, "rb");
        if (f) {
            got = fread(text, 1, BYTES, f);
            fclose(f);
            src = "the first 60 KB of tinyshakespeare.txt";
        }
    }
    if (got < BYTES) {
        generate_text(text, BYTES);
        src = "generated text";
    }
    snprintf(path, sizeof path, "%s/text.txt", tmp);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, BYTES, f) != BYTES) { free(text); return 1; }
    fclose(f);
    free(text);
    snprintf(data_dir, sizeof data_dir, "%s/data", tmp);
    result r = run("tokenize --tokenizer byte --data %s --out %s", path, data_dir);
    if (r.status) fprintf(stderr, "cannot tokenize the text: %s%s\n", r.out, r.err);
    int st = r.status;
    result_free(&r);
    snprintf(path, sizeof path, "%s/train.bin", data_dir);
    n_train_tokens = tokens_in(path);
    snprintf(path, sizeof path, "%s/val.bin", data_dir);
    n_val_tokens = tokens_in(path);
    fprintf(stderr, "test_train: data from %s: %lld train and %lld val tokens\n", src,
            (long long)n_train_tokens, (long long)n_val_tokens);
    return st || n_train_tokens < 10000 || n_val_tokens < 1000;
}

/* ---------------------------------------------------------------- 1, 2: resume */

/* A constant learning rate after a 2-step warmup: the schedule of the first 4 steps is the
 * same whether the run was started for 4 steps or for 8. (A cosine schedule depends on the
 * total, so a run started with --steps 4 is a different run; test_sigint covers the resume of
 * a run stopped early under its real schedule.) */
#define FLAT "--lr 2e-3 --min-lr 2e-3 --warmup 2 --eval-every 4 --save-every 100"

static void test_resume_identical(void) {
    struct { const char *name, *env, *extra; } v[] = {
        {"chunkwise", "", "--form chunkwise"},
        {"parallel", "", "--form parallel"},
        {"accum 2, dropout 0.1", "", "--accum 2 --dropout 0.1"},
        {"2 threads, chunk 8", "OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive", "--chunk 8"},
    };
    for (int i = 0; i < (int)(sizeof v / sizeof v[0]); i++) {
        char a[512], b[512], pa[1024], pb[1024], what[128];
        snprintf(what, sizeof what, "resume (%s)", v[i].name);
        /* A: 8 steps in one go */
        result r = run_env(v[i].env, "train --data %s --preset tiny --out %s/runA%d --steps 8 "
                           "--log %s/a%d.jsonl " FLAT " " SMALL " %s",
                           data_dir, tmp, i, tmp, i, v[i].extra);
        RUN_OK(r, what);
        result_free(&r);
        /* B: 4 steps, then resumed to 8, appending to its log */
        r = run_env(v[i].env, "train --data %s --preset tiny --out %s/runB%d --steps 4 "
                    "--log %s/b%d.jsonl " FLAT " " SMALL " %s",
                    data_dir, tmp, i, tmp, i, v[i].extra);
        RUN_OK(r, what);
        result_free(&r);
        r = run_env(v[i].env, "train --data %s --resume %s/runB%d --steps 8 --log %s/b%d.jsonl "
                    FLAT " " SMALL " %s", data_dir, tmp, i, tmp, i, v[i].extra);
        RUN_OK(r, what);
        CHECK(strstr(r.err, "steps 5..8"), "%s: the resumed run does not say it runs steps 5..8:\n%s",
              what, r.err);
        result_free(&r);
        snprintf(a, sizeof a, "%s/a%d.jsonl", tmp, i);
        snprintf(b, sizeof b, "%s/b%d.jsonl", tmp, i);
        jlog la = jlog_read(a), lb = jlog_read(b);
        check_steps(&la, 8, a);
        check_steps(&lb, 8, b);
        check_same_numbers(&la, &lb, 8, what);
        const char *val = jlog_step(&lb, 4);
        CHECK(val && strstr(val, "val_loss"), "%s: no val_loss at step 4", what);
        for (int k = 0; k < 2; k++) {
            const char *file = k ? "state.safetensors" : "model.safetensors";
            snprintf(pa, sizeof pa, "%s/runA%d/%s", tmp, i, file);
            snprintf(pb, sizeof pb, "%s/runB%d/%s", tmp, i, file);
            CHECK(same_file(pa, pb), "%s: %s and %s differ", what, pa, pb);
        }
        /* dropout must really act, or its resume would prove nothing */
        if (strstr(v[i].extra, "--dropout")) {
            r = run("train --data %s --preset tiny --out %s/runD --steps 2 --log %s/d.jsonl "
                    FLAT " " SMALL " --accum 2", data_dir, tmp, tmp);
            RUN_OK(r, "no dropout");
            result_free(&r);
            snprintf(pa, sizeof pa, "%s/d.jsonl", tmp);
            jlog ld = jlog_read(pa);
            char x[64] = "", y[64] = "";
            CHECK(ld.n == 2 && la.n && field(ld.line[0], "loss", x, sizeof x) &&
                      field(la.line[0], "loss", y, sizeof y) && strcmp(x, y),
                  "--dropout 0.1 does not change the loss of step 1 (%s vs %s)", y, x);
            jlog_free(&ld);
        }
        jlog_free(&la);
        jlog_free(&lb);
    }
}

static void test_steps_total(void) {
    char model[1024], state[1024], log[1024], keep[1024];
    snprintf(model, sizeof model, "%s/runA0/model.safetensors", tmp);
    snprintf(state, sizeof state, "%s/runA0/state.safetensors", tmp);
    snprintf(log, sizeof log, "%s/a0.jsonl", tmp);
    snprintf(keep, sizeof keep, "%s/keep.safetensors", tmp);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "cp %s %s", state, keep);
    CHECK(system(cmd) == 0, "cp failed");
    size_t model_len = 0;
    char *before = test_slurp(model, &model_len);
    CHECK(before, "cannot read %s", model);
    const int totals[2] = {8, 5};
    for (int k = 0; k < 2; k++) {
        result r = run("train --data %s --resume %s/runA0 --steps %d --log %s " FLAT " " SMALL
                       " --form chunkwise", data_dir, tmp, totals[k], log);
        CHECK(r.status == 0, "resume at the last step (--steps %d): status %d: %s", totals[k],
              r.status, r.err);
        CHECK(strstr(r.err, "already at step 8") && strstr(r.err, "nothing to do") &&
                  test_count_lines(r.err) == 1,
              "resume at the last step (--steps %d) does not say it has nothing to do:\n%s",
              totals[k], r.err);
        result_free(&r);
        size_t n = 0;
        char *after = test_slurp(model, &n);
        CHECK(after && n == model_len && !memcmp(before, after, n),
              "resume at the last step changed the model");
        free(after);
        CHECK(same_file(state, keep), "resume at the last step changed the state");
        jlog l = jlog_read(log);
        CHECK(l.n == 8, "resume at the last step wrote to the log (%d lines, want 8)", l.n);
        jlog_free(&l);
    }
    free(before);
    char run_dir[512];
    snprintf(run_dir, sizeof run_dir, "%s/runA0", tmp);
    CHECK(state_step(run_dir) == 8, "the state of an 8-step run says step %lld",
          state_step(run_dir));
}

/* ---------------------------------------------------------------- 7, 8: the log, learning */

/* The reference run: 60 steps, cosine schedule, val loss every 7 steps and at the end. */
#define REF "--steps 60 --lr 3e-3 --eval-every 7 --save-every 1000 " SMALL

static void test_log_and_learning(void) {
    char log[512];
    snprintf(log, sizeof log, "%s/ref.jsonl", tmp);
    result r = run("train --data %s --preset tiny --out %s/runR --log %s " REF, data_dir, tmp, log);
    RUN_OK(r, "the 60-step reference run");
    result_free(&r);
    jlog l = jlog_read(log);
    check_steps(&l, 60, log);
    double first_val = NAN, last_val = NAN, first_loss = NAN;
    int n_val = 0;
    for (int i = 0; i < l.n; i++) {
        const char *s = l.line[i];
        long long step = (long long)num(s, "step");
        size_t len = strlen(s);
        CHECK(len > 2 && s[0] == '{' && s[len - 1] == '}', "log line %d is not an object: %s",
              i + 1, s);
        const char *keys[] = {"loss", "lr", "grad_norm", "tokens_per_s"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            double x = num(s, keys[k]);
            CHECK(isfinite(x) && x > 0, "step %lld: %s is %g (want a positive number): %s", step,
                  keys[k], x, s);
        }
        int eval_step = step % 7 == 0 || step == 60;
        double v = num(s, "val_loss");
        int has_val = strstr(s, "\"val_loss\"") != NULL;
        CHECK(has_val == eval_step, "step %lld: val_loss %s, but it is %san eval step: %s", step,
              has_val ? "present" : "absent", eval_step ? "" : "not ", s);
        if (has_val) {
            CHECK(isfinite(v) && v > 0, "step %lld: val_loss %g", step, v);
            if (!n_val++) first_val = v;
            last_val = v;
        }
        if (step == 1) first_loss = num(s, "loss");
    }
    CHECK(n_val == 9, "%d val losses, want 9 (steps 7, 14, ..., 56 and 60)", n_val);
    /* ln 260 = 5.56 for a uniform guess; the initialised model starts near it (~5.96).
     * Measured (--seed 1..5): tinyshakespeare val ~4.0 at step 7, 2.68..2.84 at step 60; the
     * generated text 3.66..3.92 at step 7, 2.34..2.39 at step 60. */
    fprintf(stderr, "test_train: loss %.3f at step 1, val loss %.3f at step 7, %.3f at step 60\n",
            first_loss, first_val, last_val);
    CHECK(first_loss > 5.0, "the loss of step 1 is %.4f; an initialised byte model starts near "
          "ln 260 = 5.56", first_loss);
    CHECK(last_val < 3.3 && last_val < first_val - 0.4,
          "60 steps did not learn: val loss %.4f at step 7, %.4f at step 60 (want < 3.3 and "
          "0.4 below the first)", first_val, last_val);
    jlog_free(&l);
}

/* ---------------------------------------------------------------- 4: Ctrl-C */

static void test_sigint(void) {
    char log[512], err[512], args[4096], run_dir[512];
    snprintf(log, sizeof log, "%s/int.jsonl", tmp);
    snprintf(err, sizeof err, "%s/int.err", tmp);
    snprintf(run_dir, sizeof run_dir, "%s/runI", tmp);
    snprintf(args, sizeof args, "train --data %s --preset tiny --out %s --log %s " REF, data_dir,
             run_dir, log);
    pid_t pid = spawn(args, err);
    CHECK(pid > 0, "fork failed");
    if (pid <= 0) return;
    /* once it has logged a step (its second line, after the run record, which it writes
     * before the handler is in place), its handler is in place; 59 steps remain */
    int started = wait_lines(log, 2, pid, 30);
    CHECK(started, "the run did not log a step within 30 s");
    kill(pid, SIGINT);
    int st = wait_child(pid, 30);
    char *e = test_slurp(err, NULL);
    CHECK(st == 0, "after SIGINT: exit status %d (want 0), stderr:\n%s", st, e ? e : "");
    const char *p = e ? strstr(e, "interrupted at step ") : NULL;
    long long k = p ? strtoll(p + 20, NULL, 10) : -1;
    CHECK(p && strstr(e, "saved"), "after SIGINT, stderr does not say it saved:\n%s", e ? e : "");
    free(e);
    if (!started || st != 0 || k < 1) return;
    CHECK(k < 60, "the run finished (step %lld) before the interrupt", k);
    CHECK(state_step(run_dir) == k, "interrupted at step %lld, but the state is of step %lld", k,
          state_step(run_dir));
    jlog l = jlog_read(log);
    CHECK(l.n == k, "interrupted at step %lld with %d log lines", k, l.n);
    jlog_free(&l);
    /* resumed, it is the uninterrupted reference run, step for step and byte for byte */
    result r = run("train --data %s --resume %s --log %s " REF, data_dir, run_dir, log);
    RUN_OK(r, "resume after SIGINT");
    result_free(&r);
    char ref[512], a[1024], b[1024];
    snprintf(ref, sizeof ref, "%s/ref.jsonl", tmp);
    jlog li = jlog_read(log), lr = jlog_read(ref);
    check_steps(&li, 60, log);
    check_same_numbers(&lr, &li, 60, "interrupted and resumed vs uninterrupted");
    jlog_free(&li);
    jlog_free(&lr);
    snprintf(a, sizeof a, "%s/runR/model.safetensors", tmp);
    snprintf(b, sizeof b, "%s/model.safetensors", run_dir);
    CHECK(same_file(a, b), "the model of the interrupted-and-resumed run differs from the "
          "uninterrupted one's");
    fprintf(stderr, "test_train: interrupted at step %lld of 60\n", k);
}

/* ---------------------------------------------------------------- 3: kill -9 */

static void test_kill(void) {
    char run_dir[512], model[1024], err[512], args[4096];
    snprintf(run_dir, sizeof run_dir, "%s/runK", tmp);
    snprintf(model, sizeof model, "%s/model.safetensors", run_dir);
    snprintf(err, sizeof err, "%s/kill.err", tmp);
    /* a first checkpoint, so that every kill hits a run that has one */
    result r = run("train --data %s --preset tiny --out %s --steps 1 --save-every 1 " SMALL,
                   data_dir, run_dir);
    RUN_OK(r, "the first checkpoint");
    result_free(&r);
    uint64_t rng = seed0 | 1;
    int mid_write = 0, checked = 0;
    for (int kill_no = 1; kill_no <= 5; kill_no++) {
        long long before = state_step(run_dir);
        int tmps0 = count_files(run_dir, ".tmp.");
        /* --time: a safety net if the kill were lost (12 s); --save-every 1: it is writing a
         * checkpoint most of the time */
        snprintf(args, sizeof args, "train --data %s --resume %s --steps 100000 --time 0.2 "
                 "--save-every 1 --eval-every 1000000 " SMALL, data_dir, run_dir);
        pid_t pid = spawn(args, err);
        CHECK(pid > 0, "fork failed");
        if (pid <= 0) return;
        double delay = 0.05 + 0.35 * (test_rand(&rng) + 1) / 2;
        sleep_s(delay);
        kill(pid, SIGKILL);
        int st = wait_child(pid, 30);
        char *e = test_slurp(err, NULL);
        CHECK(st == 128 + SIGKILL, "kill %d: the run ended by itself (status %d) before the kill "
              "after %.0f ms:\n%s", kill_no, st, 1e3 * delay, e ? e : "");
        free(e);
        int tmps = count_files(run_dir, ".tmp.");
        mid_write += tmps > tmps0;
        long long s = state_step(run_dir);
        CHECK(s >= before, "kill %d after %.0f ms: the state is of step %lld, before the kill %lld",
              kill_no, 1e3 * delay, s, before);
        r = run("info %s", model);
        CHECK(r.status == 0, "kill %d after %.0f ms: the model does not load: %s", kill_no,
              1e3 * delay, r.err);
        result_free(&r);
        /* the previous checkpoint loads and the run continues: one more step */
        r = run("train --data %s --resume %s --steps %lld --save-every 1 " SMALL, data_dir,
                run_dir, s + 1);
        CHECK(r.status == 0, "kill %d after %.0f ms (state at step %lld): --resume fails: %s",
              kill_no, 1e3 * delay, s, r.err);
        result_free(&r);
        CHECK(state_step(run_dir) == s + 1, "kill %d: resumed to step %lld, the state says %lld",
              kill_no, s + 1, state_step(run_dir));
        r = run("info %s", model);
        CHECK(r.status == 0, "kill %d: after the resume the model does not load: %s", kill_no, r.err);
        result_free(&r);
        if (test_cur_failed) break;  /* the rest would only repeat it */
        checked++;
    }
    CHECK(checked == 5, "only %d of 5 kills checked", checked);
    CHECK(n_live == 0, "a child is still running");
    fprintf(stderr, "test_train: 5 kills, %d of them mid-write (a temp file left behind); run at "
            "step %lld\n", mid_write, state_step(run_dir));
}

/* ---------------------------------------------------------------- 5: NaN / Inf */

static void test_blow_up(void) {
    char run_dir[512], log[512];
    snprintf(run_dir, sizeof run_dir, "%s/runN", tmp);
    snprintf(log, sizeof log, "%s/nan.jsonl", tmp);
    /* Adam bounds each update by ~lr, so a huge lr alone only makes a bad model; a decoupled
     * weight decay of lr * wd = 100 multiplies the weights by -99 each step: they overflow
     * float32 within a few steps (step 7 here). */
    result r = run("train --data %s --preset tiny --out %s --steps 100 --lr 10 --wd 10 --clip 0 "
                   "--warmup 0 --save-every 1 --eval-every 1000000 --log %s " SMALL,
                   data_dir, run_dir, log);
    CHECK(r.status != 0 && r.status < 128, "a run that blows up: exit status %d", r.status);
    /* its last line: "retnet train: step N: the loss is NaN; ..."; no other line names it */
    int n = test_count_lines(r.err), bad_lines = 0;
    const char *last = r.err;
    for (const char *p = r.err; *p; p++)
        if (*p == '\n' && p[1]) last = p + 1;
    for (const char *p = r.err; (p = strstr(p, "NaN")); p++) bad_lines++;
    for (const char *p = r.err; (p = strstr(p, "Inf")); p++) bad_lines++;
    long long step = -1;
    if (!strncmp(last, "retnet train: step ", 19)) step = strtoll(last + 19, NULL, 10);
    CHECK(n >= 1 && step >= 1 && (strstr(last, "NaN") || strstr(last, "Inf")) && bad_lines == 1,
          "the failure is not one last line 'step N: ... NaN|Inf': stderr:\n%s", r.err);
    result_free(&r);
    if (step < 1) return;
    CHECK(step < 100, "the run did not blow up");
    long long s = state_step(run_dir);
    CHECK(s >= 1 && s < step, "blew up at step %lld; the state is of step %lld", step, s);
    jlog l = jlog_read(log);
    CHECK(l.n == s && (l.n == 0 || num(l.line[l.n - 1], "step") == s),
          "the log has %d lines; want the %lld steps before the failure", l.n, s);
    jlog_free(&l);
    r = run("info %s/model.safetensors", run_dir);
    CHECK(r.status == 0, "after the blow-up the model does not load: %s", r.err);
    result_free(&r);
    /* and it holds no NaN or Inf (an update that overflowed must not have been saved) */
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", run_dir);
    retnet_model *m = NULL;
    CHECK(retnet_model_load(path, NULL, &m) == RETNET_OK, "%s", retnet_errmsg());
    if (m) {
        const float *p = retnet_model_params(m);
        int64_t n = retnet_config_param_count(retnet_model_config(m)), bad = 0;
        for (int64_t i = 0; i < n; i++) bad += !isfinite(p[i]);
        CHECK(bad == 0, "the last checkpoint before the blow-up has %lld NaN/Inf parameters",
              (long long)bad);
        retnet_model_free(m);
    }
    /* the state loads (all of it is read before the step check) */
    r = run("train --data %s --resume %s --steps %lld " SMALL, data_dir, run_dir, s);
    CHECK(r.status == 0 && strstr(r.err, "nothing to do"),
          "after the blow-up the state does not load: status %d: %s", r.status, r.err);
    result_free(&r);
    fprintf(stderr, "test_train: blew up at step %lld, state at step %lld\n", step, s);

    /* diverged weights whose loss only the evaluation sees (the training loss is measured
     * before each update): the run stops at that evaluation without saving them; it saved
     * them, with exit 0, and logged "val_loss": -nan before */
    char dv[512];
    snprintf(dv, sizeof dv, "%s/runNv", tmp);
    r = run("train --data %s --preset tiny --out %s --steps 6 --lr 10 --min-lr 10 --wd 10 "
            "--clip 0 --warmup 0 --sample-tokens 0 --batch 2 --seq 16", data_dir, dv);
    char mv[600];
    snprintf(mv, sizeof mv, "%s/model.safetensors", dv);
    CHECK(r.status != 0 && strstr(r.err, "the validation loss is") && !exists(mv),
          "diverged weights at the last step: status %d, %s saved: %s", r.status,
          exists(mv) ? "a model" : "nothing", r.err);
    result_free(&r);
}

/* ---------------------------------------------------------------- 6: bad input */

/* A failure before any work: non-zero status, one line on stderr containing phrase, and
 * neither `made` (a run directory that did not exist) nor the --log file created. */
static void expect_error(const char *args, const char *phrase, const char *made) {
    char log[512], a[8192];
    snprintf(log, sizeof log, "%s/bad.jsonl", tmp);
    snprintf(a, sizeof a, "%s --log %s", args, log);
    cli_expect_error(run("%s", a), a, phrase);
    CHECK(!exists(log), "'retnet %s' created its log before failing", a);
    CHECK(!made || !exists(made), "'retnet %s' created %s before failing", a, made);
    unlink(log);
    if (made && exists(made) && strncmp(made, "/proc", 5)) {  /* no knock-on failures */
        snprintf(a, sizeof a, "rm -rf '%s'", made);
        if (system(a)) {}
    }
}

static void test_bad_input(void) {
    char a[4096], nw[512], path[512], model[1024], state[1024], empty[512];
    snprintf(nw, sizeof nw, "%s/never", tmp);  /* a run directory that must not appear */
    /* the data */
    snprintf(a, sizeof a, "train --data %s/nodata --preset tiny --out %s --steps 2 " SMALL, tmp, nw);
    expect_error(a, "retnet tokenize", nw);
    snprintf(a, sizeof a, "train --preset tiny --out %s --steps 2 " SMALL, nw);
    expect_error(a, "missing --data", nw);
    /* --time 0 (it meant no limit); a Transformer whose sample would not fit its context (the
     * first evaluation failed after the training, before any save) */
    snprintf(a, sizeof a, "train --data %s --preset tiny --out %s --time 0 " SMALL, data_dir, nw);
    expect_error(a, "--time 0 must be above 0", nw);
    /* token files whose headers name another <bos> than the tokenizer's (each window would
     * begin with token 3): refused */
    {
        char bd[512], cmd[2048];
        snprintf(bd, sizeof bd, "%s/data_bos3", tmp);
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", bd, data_dir, bd);
        if (system(cmd)) {}
        const char *split[2] = {"train.bin", "val.bin"};
        for (int k = 0; k < 2; k++) {
            char fp[700];
            snprintf(fp, sizeof fp, "%s/%s", bd, split[k]);
            FILE *tf = fopen(fp, "r+b");
            if (tf) {
                const unsigned char bos3[4] = {3, 0, 0, 0}; /* header bytes 28-31: bos */
                fseek(tf, 28, SEEK_SET), fwrite(bos3, 1, 4, tf), fclose(tf);
            }
        }
        snprintf(a, sizeof a, "train --data %s --preset tiny --out %s --steps 2 " SMALL, bd, nw);
        expect_error(a, "begin windows with bos 3", nw);
    }
    snprintf(path, sizeof path, "%s/tf8.json", tmp);
    FILE *tf8 = fopen(path, "w");
    if (tf8) {
        fprintf(tf8, "{\"arch\": \"transformer\", \"vocab\": %d, \"d_model\": 32, \"n_layer\": 1, "
                "\"n_head\": 2, \"context\": 8}\n", 260);
        fclose(tf8);
    }
    snprintf(a, sizeof a, "train --data %s --config %s --out %s --steps 2 --batch 2 --seq 8 "
             "--sample-tokens 20", data_dir, path, nw);
    expect_error(a, "does not fit the Transformer's context of 8", nw);
    snprintf(a, sizeof a, "train --data %s --preset tiny --out %s --steps 2 --batch 2 --seq %lld",
             data_dir, nw, (long long)n_val_tokens + 1);
    expect_error(a, "val.bin", nw);
    snprintf(a, sizeof a, "train --data %s --preset tiny --out %s --steps 2 --batch 2 --seq %lld",
             data_dir, nw, (long long)n_train_tokens + 1);
    expect_error(a, "train.bin", nw);
    /* the model */
    snprintf(path, sizeof path, "%s/v300.json", tmp);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "{\"d_model\": 64, \"n_layer\": 2, \"n_head\": 2, \"vocab\": 300}\n");
        fclose(f);
    }
    snprintf(a, sizeof a, "train --data %s --config %s --out %s --steps 2 " SMALL, data_dir, path, nw);
    expect_error(a, "vocabulary (300)", nw);
    snprintf(a, sizeof a, "train --data %s --preset tiny --config %s --out %s --steps 2 " SMALL,
             data_dir, path, nw);
    expect_error(a, "one of", nw);
    snprintf(a, sizeof a, "train --data %s --out %s --steps 2 " SMALL, data_dir, nw);
    expect_error(a, "--preset", nw);
    snprintf(a, sizeof a, "train --data %s --preset nope --out %s --steps 2 " SMALL, data_dir, nw);
    expect_error(a, "unknown preset", nw);
    /* the output */
    snprintf(a, sizeof a, "train --data %s --preset tiny --out /proc/forbidden --steps 2 " SMALL, data_dir);
    expect_error(a, "run directory", "/proc/forbidden");
    snprintf(a, sizeof a, "train --data %s --preset tiny --out %s/text.txt/run --steps 2 " SMALL,
             data_dir, tmp);
    expect_error(a, "run directory", NULL);
    snprintf(a, sizeof a, "train --data %s --preset tiny --steps 2 " SMALL, data_dir);
    expect_error(a, "missing --out", NULL);
    /* the options */
    snprintf(a, sizeof a, "train --data %s --preset tiny --out %s " SMALL, data_dir, nw);
    expect_error(a, "--steps N or --time MIN", nw);
    snprintf(a, sizeof a, "train --data %s --preset tiny --out %s --steps 2 --form recurrent " SMALL,
             data_dir, nw);
    expect_error(a, "--form must be chunkwise or parallel", nw);
    snprintf(a, sizeof a, "train --data %s --preset tiny --out %s --steps 0 " SMALL, data_dir, nw);
    expect_error(a, "--steps", nw);
    snprintf(a, sizeof a, "train --data %s --preset tiny --out %s --steps 2 --dropout 1 " SMALL,
             data_dir, nw);
    expect_error(a, "--dropout", nw);
    /* resumes: the tiny 8-step run A0 must come out untouched */
    snprintf(model, sizeof model, "%s/runA0/model.safetensors", tmp);
    snprintf(state, sizeof state, "%s/runA0/state.safetensors", tmp);
    size_t nm = 0, ns = 0;
    char *m0 = test_slurp(model, &nm), *s0 = test_slurp(state, &ns);
    snprintf(path, sizeof path, "%s/runA0", tmp);
    int files0 = count_files(path, "");
    snprintf(a, sizeof a, "train --data %s --resume %s/runA0 --preset small --steps 9 " SMALL,
             data_dir, tmp);
    expect_error(a, "different model", NULL);
    snprintf(a, sizeof a, "train --data %s --resume %s/runA0 --steps 9 --batch 3 --seq 32 "
             "--sample-tokens 0", data_dir, tmp);
    expect_error(a, "--batch", NULL);
    snprintf(a, sizeof a, "train --data %s --resume %s/runA0 --steps 9 --accum 2 " SMALL,
             data_dir, tmp);
    expect_error(a, "--accum", NULL);
    size_t n1 = 0, n2 = 0;
    char *m1 = test_slurp(model, &n1), *s1 = test_slurp(state, &n2);
    CHECK(m0 && s0 && m1 && s1 && nm == n1 && ns == n2 && !memcmp(m0, m1, nm) &&
              !memcmp(s0, s1, ns) && count_files(path, "") == files0,
          "a refused resume changed the run directory %s", path);
    free(m0), free(s0), free(m1), free(s1);
    snprintf(empty, sizeof empty, "%s/empty", tmp);
    mkdir(empty, 0755);
    snprintf(a, sizeof a, "train --data %s --resume %s --steps 2 " SMALL, data_dir, empty);
    expect_error(a, "earlier run", NULL);
    CHECK(count_files(empty, "") == 0, "a refused resume wrote into %s", empty);
    snprintf(a, sizeof a, "train --data %s --resume %s/nowhere --steps 2 " SMALL, data_dir, tmp);
    snprintf(path, sizeof path, "%s/nowhere", tmp);
    expect_error(a, "earlier run", path);
}

/* ---------------------------------------------------------------- 9: an existing run */

/* The run's files in dir (model, state, log) into buf[3] (NULL where missing), sizes in n. */
static const char *const run_file_names[3] = {"model.safetensors", "state.safetensors", "log.jsonl"};

static void read_run(const char *dir, char *buf[3], size_t n[3]) {
    char path[1024];
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, run_file_names[k]);
        n[k] = 0;
        buf[k] = test_slurp(path, &n[k]);
    }
}

/* A new run into a directory that holds one is refused, losing nothing; --force replaces it
 * (with exactly what a new directory gets); --resume continues it. */
static void test_existing_run(void) {
    char dir[512], fresh[512], log[1024], flog[512], a[4096], want[1200];
    snprintf(dir, sizeof dir, "%s/runE", tmp);
    snprintf(fresh, sizeof fresh, "%s/runF", tmp);
    snprintf(log, sizeof log, "%s/log.jsonl", dir);
    snprintf(flog, sizeof flog, "%s/f.jsonl", tmp);
    /* 1. new runs: into an empty directory (E) and into a missing one (F, another seed) */
    CHECK(mkdir(dir, 0755) == 0, "cannot make %s: %s", dir, strerror(errno));
    result r = run("train --data %s --preset tiny --out %s --steps 2 --log %s " FLAT " " SMALL,
                   data_dir, dir, log);
    RUN_OK(r, "a new run into an empty directory");
    result_free(&r);
    r = run("train --data %s --preset tiny --out %s --steps 3 --seed 3 --log %s " FLAT " " SMALL,
            data_dir, fresh, flog);
    RUN_OK(r, "a new run into a new directory");
    result_free(&r);
    CHECK(state_step(dir) == 2 && state_step(fresh) == 3, "the new runs' states are of steps "
          "%lld and %lld, want 2 and 3", state_step(dir), state_step(fresh));
    char *e0[3], *f0[3];
    size_t ne0[3], nf0[3];
    read_run(dir, e0, ne0);
    for (int k = 0; k < 3; k++) CHECK(e0[k] && ne0[k] > 0, "the new run has no %s", run_file_names[k]);
    int files0 = count_files(dir, "");
    snprintf(a, sizeof a, "%s/model.safetensors", fresh);
    f0[0] = test_slurp(a, &nf0[0]);
    snprintf(a, sizeof a, "%s/state.safetensors", fresh);
    f0[1] = test_slurp(a, &nf0[1]);
    f0[2] = test_slurp(flog, &nf0[2]);

    /* 2. new runs into E: refused with one line, and E's files as they were */
    snprintf(a, sizeof a, "train --data %s --preset tiny --out %s --steps 2 --log %s " FLAT " "
             SMALL, data_dir, dir, log);  /* the first command again */
    r = run("%s", a);
    snprintf(want, sizeof want, "pass --resume %s to continue it or --force to replace it", dir);
    CHECK(strstr(r.err, want), "'retnet %s': the refusal does not say '%s':\n%s", a, want, r.err);
    snprintf(want, sizeof want, "the run directory '%s' already holds a run", dir);
    cli_expect_error(r, a, want);
    snprintf(a, sizeof a, "train --data %s --preset tiny --out %s --steps 3 --seed 3 " FLAT " "
             SMALL, data_dir, dir);  /* another run, no log */
    cli_expect_error(run("%s", a), a, want);
    snprintf(a, sizeof a, "train --data %s --resume %s --out %s --steps 4 --log %s " FLAT " "
             SMALL, data_dir, fresh, dir, log);  /* F resumed into E */
    snprintf(want, sizeof want, "the run directory '%s' already holds another run", dir);
    cli_expect_error(run("%s", a), a, want);
    char *e1[3];
    size_t ne1[3];
    read_run(dir, e1, ne1);
    for (int k = 0; k < 3; k++) {
        CHECK(e0[k] && e1[k] && ne0[k] == ne1[k] && !memcmp(e0[k], e1[k], ne0[k]),
              "a refused run changed %s/%s", dir, run_file_names[k]);
        free(e1[k]);
    }
    CHECK(count_files(dir, "") == files0, "a refused run left files in %s (%d, were %d)", dir,
          count_files(dir, ""), files0);
    CHECK(state_step(fresh) == 3, "a refused resume of %s changed its state (step %lld)", fresh,
          state_step(fresh));

    /* 2b. --force with a log that cannot be written (a directory): refused before anything is
     *     removed, E's files as they were */
    snprintf(a, sizeof a, "train --data %s --preset tiny --out %s --steps 3 --seed 3 --log %s "
             "--force " FLAT " " SMALL, data_dir, dir, tmp);
    cli_expect_error(run("%s", a), a, "cannot open the log");
    read_run(dir, e1, ne1);
    for (int k = 0; k < 3; k++) {
        CHECK(e0[k] && e1[k] && ne0[k] == ne1[k] && !memcmp(e0[k], e1[k], ne0[k]),
              "--force with a log it cannot open changed %s/%s", dir, run_file_names[k]);
        free(e1[k]);
    }

    /* 3. --force: F's command into E gives F's run, byte for byte */
    r = run("train --data %s --preset tiny --out %s --steps 3 --seed 3 --log %s --force " FLAT
            " " SMALL, data_dir, dir, log);
    RUN_OK(r, "--force over a run");
    result_free(&r);
    char *e2[3];
    size_t ne2[3];
    read_run(dir, e2, ne2);
    for (int k = 0; k < 2; k++)
        CHECK(f0[k] && e2[k] && nf0[k] == ne2[k] && !memcmp(f0[k], e2[k], nf0[k]),
              "--force: %s/%s is not what a new directory got", dir, run_file_names[k]);
    CHECK(e0[0] && e2[0] && (ne0[0] != ne2[0] || memcmp(e0[0], e2[0], ne0[0])),
          "--force left the earlier model in place");
    for (int k = 0; k < 3; k++) free(e2[k]);
    jlog le = jlog_read(log), lf = jlog_read(flog);
    check_steps(&le, 3, "--force's log");
    check_same_numbers(&lf, &le, 3, "--force over a run vs a new run");
    jlog_free(&le);
    jlog_free(&lf);

    /* 4. --resume continues it, in place and with --out naming the same directory */
    r = run("train --data %s --resume %s --steps 5 --seed 3 --log %s " FLAT " " SMALL, data_dir,
            dir, log);
    RUN_OK(r, "--resume of a run");
    CHECK(strstr(r.err, "steps 4..5"), "the resumed run does not say it runs steps 4..5:\n%s",
          r.err);
    result_free(&r);
    r = run("train --data %s --resume %s --out %s/./ --steps 6 --seed 3 --log %s " FLAT " "
            SMALL, data_dir, dir, dir, log);
    RUN_OK(r, "--resume of a run with --out naming its directory");
    result_free(&r);
    CHECK(state_step(dir) == 6, "resumed to step 6, the state says %lld", state_step(dir));
    le = jlog_read(log);
    check_steps(&le, 6, "the resumed run's log");
    jlog_free(&le);
    for (int k = 0; k < 3; k++) free(e0[k]), free(f0[k]);
}

/* ---------------------------------------------------------------- 10: replacing a run */

/* Runs `retnet ARGS` (a run that saves nothing for a long while) in the background until it
 * has done step `step` (its progress line), then kills it with SIGKILL, so that it saves
 * nothing. Its stderr into *err (the caller frees it). 1 if it was killed there. */
static int run_killed_at(const char *args, long long step, char **err) {
    char err_path[512], want[64];
    snprintf(err_path, sizeof err_path, "%s/replace.err", tmp);
    unlink(err_path);
    *err = NULL;
    pid_t pid = spawn(args, err_path);
    CHECK(pid > 0, "fork failed");
    if (pid <= 0) return 0;
    snprintf(want, sizeof want, "step %lld/", step);
    int got = wait_text(err_path, want, pid, 60);
    kill(pid, SIGKILL);
    int st = wait_child(pid, 30);
    *err = test_slurp(err_path, NULL);
    CHECK(got && st == 128 + SIGKILL, "'retnet %s' did not reach step %lld before the kill "
          "(status %d), stderr:\n%s", args, step, st, *err ? *err : "");
    return got && st == 128 + SIGKILL;
}

/* 1 if the file holds exactly the n bytes of want. */
static int holds(const char *path, const char *want, size_t n) {
    size_t len = 0;
    char *s = test_slurp(path, &len);
    int same = s && want && len == n && !memcmp(s, want, n);
    free(s);
    return same;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    int ok = f && fputs(text, f) >= 0;
    if (f) ok = fclose(f) == 0 && ok;
    CHECK(ok, "cannot write %s", path);
}

/* 1 if the one line of s that contains `start` also contains every one of parts[0..n). */
static int line_has(const char *s, const char *start, const char *const *parts, int n) {
    const char *p = s ? strstr(s, start) : NULL;
    if (!p) return 0;
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    for (int i = 0; i < n; i++)
        if (!memmem(p, len, parts[i], strlen(parts[i]))) return 0;
    return 1;
}

/* --force removes the run it replaces before its first step, so that a run stopped before its
 * first save leaves no earlier checkpoint beside its log; a directory that holds only a run's
 * log holds a run; a new run's non-empty --log anywhere is refused unless --force; a resumed
 * run keeps its log. */
static void test_replace_run(void) {
    char dir[512], log[1024], model[1024], state[1024], temp[1024], note[1024], a[4096],
        want[1200], hdir[512], hlog[512], idir[512], ilog[512];
    snprintf(dir, sizeof dir, "%s/runG", tmp);
    snprintf(log, sizeof log, "%s/log.jsonl", dir);
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    snprintf(state, sizeof state, "%s/state.safetensors", dir);
    snprintf(temp, sizeof temp, "%s/state.safetensors.tmp.999999", dir);
    snprintf(note, sizeof note, "%s/notes.txt", dir);
    /* the earlier run in G, a temp file of a write that was killed, and a file of the user's */
    result r = run("train --data %s --preset tiny --out %s --steps 2 --log %s " FLAT " " SMALL,
                   data_dir, dir, log);
    RUN_OK(r, "the earlier run");
    result_free(&r);
    write_text(temp, "a partial state");
    write_text(note, "the user's notes\n");
    char keep[1024]; /* the user's, though named like a temp file: not NAME.tmp.PID */
    snprintf(keep, sizeof keep, "%s/model.safetensors.tmp.keep", dir);
    write_text(keep, "kept\n");
    jlog old = jlog_read(log);
    char old_loss[64] = "";
    CHECK(old.n == 2 && field(old.line[0], "loss", old_loss, sizeof old_loss),
          "the earlier run's log has %d lines, want 2", old.n);
    jlog_free(&old);

    /* 1. --force over it (another seed), killed after its first step, before any save: G holds
     *    no checkpoint nor temp file of the earlier run, in its log only the new run's lines,
     *    and the user's file as it was */
    snprintf(a, sizeof a, "train --data %s --preset tiny --out %s --steps 100000 --time 600 "
             "--save-every 100000 --eval-every 100000 --seed 3 --log %s --force " SMALL,
             data_dir, dir, log);
    char *e = NULL;
    if (run_killed_at(a, 1, &e)) {
        static const char *const all[] = {"model.safetensors", "state.safetensors",
                                          "1 temp file", "log.jsonl"};
        snprintf(want, sizeof want, "replacing the run in '%s' (--force): removed ", dir);
        CHECK(line_has(e, want, all, 4), "--force does not say, in one line '%s...', that it "
              "removes the earlier run's model, state, temp file and log:\n%s", want, e);
    }
    free(e);
    CHECK(!exists(model) && !exists(state) && count_files(dir, ".tmp.") == 1,
          "--force, stopped before its first save, left the earlier run's %s%s%sin %s",
          exists(model) ? "model " : "", exists(state) ? "state " : "",
          count_files(dir, ".tmp.") != 1 ? "temp file " : "", dir);
    CHECK(holds(note, "the user's notes\n", 17), "--force changed or removed %s", note);
    CHECK(holds(keep, "kept\n", 5), "--force removed %s, which is not a temp file of a write",
          keep);
    CHECK(count_files(dir, "") == 3, "after --force was killed, %s holds %d files, want 3 "
          "(log.jsonl, notes.txt, model.safetensors.tmp.keep)", dir, count_files(dir, ""));
    unlink(keep);
    jlog l = jlog_read(log);
    char new_loss[64] = "";
    CHECK(l.n >= 1 && num(l.line[0], "step") == 1 &&
              field(l.line[0], "loss", new_loss, sizeof new_loss) && strcmp(new_loss, old_loss),
          "after --force was killed, the log does not start with the new run's step 1 (loss "
          "%s, the earlier run's %s): %s", new_loss, old_loss, l.n ? l.line[0] : "(empty)");
    jlog_free(&l);

    /* 2. G holds only that log: a new run is refused (one line, naming the log), --resume has
     *    no checkpoint to continue; the log byte-identical, no file added */
    size_t nlog = 0;
    char *log0 = test_slurp(log, &nlog);
    CHECK(log0 && nlog > 0, "cannot read %s", log);
    snprintf(a, sizeof a, "train --data %s --preset tiny --out %s --steps 2 --log %s " FLAT " "
             SMALL, data_dir, dir, log);
    snprintf(want, sizeof want, "the run directory '%s' already holds a run (log.jsonl, no "
             "checkpoint to resume); pass --force", dir);
    cli_expect_error(run("%s", a), a, want);
    snprintf(a, sizeof a, "train --data %s --resume %s --steps 2 --log %s " SMALL, data_dir, dir,
             log);
    cli_expect_error(run("%s", a), a, "give the directory of an earlier run");
    CHECK(holds(log, log0, nlog), "a refused run changed %s (the log of a run without a "
          "checkpoint)", log);
    CHECK(count_files(dir, "") == 2, "a refused run left files in %s", dir);
    free(log0);

    /* 3. --force replaces it */
    r = run("train --data %s --preset tiny --out %s --steps 2 --log %s --force " FLAT " " SMALL,
            data_dir, dir, log);
    RUN_OK(r, "--force over a directory with only a log");
    snprintf(want, sizeof want, "replacing the run in '%s' (--force): removed log.jsonl\n", dir);
    CHECK(strstr(r.err, want), "--force over a directory with only a log does not say '%s':\n%s",
          want, r.err);
    result_free(&r);
    CHECK(state_step(dir) == 2, "--force over a log: the state says step %lld, want 2",
          state_step(dir));
    l = jlog_read(log);
    check_steps(&l, 2, "--force over a log: its log");
    jlog_free(&l);

    /* 4. a new run's --log outside its directory: refused while it holds bytes (the file
     *    unchanged, the run directory not made), fine when empty; --force replaces it */
    snprintf(hdir, sizeof hdir, "%s/runH", tmp);
    snprintf(hlog, sizeof hlog, "%s/h.jsonl", tmp);
    log0 = test_slurp(log, &nlog);
    CHECK(log0 && nlog > 0, "cannot read %s", log);
    write_text(hlog, log0 ? log0 : "");
    snprintf(a, sizeof a, "train --data %s --preset tiny --out %s --steps 2 --seed 5 --log %s "
             FLAT " " SMALL, data_dir, hdir, hlog);
    snprintf(want, sizeof want, "the log '%s' already exists (%zu bytes); a new run would "
             "overwrite it: give another --log or pass --force", hlog, nlog);
    cli_expect_error(run("%s", a), a, want);
    CHECK(holds(hlog, log0, nlog), "a refused run changed its --log %s", hlog);
    CHECK(!exists(hdir), "a run refused for its --log made its run directory %s", hdir);
    snprintf(idir, sizeof idir, "%s/runI2", tmp);
    snprintf(ilog, sizeof ilog, "%s/i2.jsonl", tmp);
    write_text(ilog, "");
    r = run("train --data %s --preset tiny --out %s --steps 2 --log %s " FLAT " " SMALL,
            data_dir, idir, ilog);
    RUN_OK(r, "a new run whose --log is an empty file");
    result_free(&r);
    l = jlog_read(ilog);
    check_steps(&l, 2, "a new run's empty --log");
    jlog_free(&l);
    r = run("%s --force", a);
    RUN_OK(r, "--force over a --log");
    snprintf(want, sizeof want, "replacing the log '%s' (--force)\n", hlog);
    CHECK(strstr(r.err, want), "--force over a --log does not say '%s':\n%s", want, r.err);
    result_free(&r);
    l = jlog_read(hlog);
    check_steps(&l, 2, "--force: the replaced --log");
    jlog_free(&l);
    CHECK(!holds(hlog, log0, nlog), "--force left the earlier --log %s as it was", hlog);
    free(log0);

    /* 5. --resume keeps its log's lines and continues it, without --force */
    log0 = test_slurp(hlog, &nlog);
    r = run("train --data %s --resume %s --steps 4 --seed 5 --log %s " FLAT " " SMALL, data_dir,
            hdir, hlog);
    RUN_OK(r, "--resume with its log");
    result_free(&r);
    l = jlog_read(hlog);
    check_steps(&l, 4, "the resumed run's --log");
    jlog_free(&l);
    size_t n2 = 0;
    char *log2 = test_slurp(hlog, &n2);
    CHECK(log0 && log2 && n2 > nlog && !memcmp(log0, log2, nlog),
          "the resumed run did not keep its log's earlier lines as they were");
    free(log0), free(log2);

    /* 6. H resumed into G with --force, killed after its first step: G's run (its
     *    checkpoint) is gone before that step, G's log (not this run's) kept; H as it was */
    log0 = test_slurp(log, &nlog);
    snprintf(a, sizeof a, "train --data %s --resume %s --out %s --steps 100000 --time 600 "
             "--save-every 100000 --eval-every 100000 --force " SMALL, data_dir, hdir, dir);
    e = NULL;
    if (run_killed_at(a, 5, &e)) {
        static const char *const both[] = {"model.safetensors", "state.safetensors"};
        snprintf(want, sizeof want, "replacing the run in '%s' (--force): removed ", dir);
        CHECK(line_has(e, want, both, 2), "--force (a resumed run) does not say '%s' (model, "
              "state):\n%s", want, e);
    }
    free(e);
    CHECK(!exists(model) && !exists(state) && count_files(dir, ".tmp.") == 0,
          "a resumed run with --force, stopped before its first save, left the earlier run's "
          "checkpoint in %s", dir);
    CHECK(holds(log, log0, nlog), "a resumed run with --force changed %s (not its log)", log);
    CHECK(state_step(hdir) == 4, "resumed into another directory, H's state says step %lld",
          state_step(hdir));
    free(log0);

    /* 7. a run into a directory where another run is still training (a job started twice):
     *    refused, even with --force, and the running one's files left alone */
    char jdir[512], jerr[512], jmodel[1024];
    snprintf(jdir, sizeof jdir, "%s/runJ", tmp);
    snprintf(jerr, sizeof jerr, "%s/runJ.err", tmp);
    snprintf(jmodel, sizeof jmodel, "%s/model.safetensors", jdir);
    snprintf(a, sizeof a, "train --data %s --preset tiny --out %s --steps 100000 --time 600 "
             "--save-every 2 --eval-every 100000 " SMALL, data_dir, jdir);
    pid_t pid = spawn(a, jerr);
    CHECK(pid > 0, "fork failed");
    if (pid > 0) {
        const int got = wait_text(jerr, "step 2: saved", pid, 60); /* past its first save */
        CHECK(got, "the running run did not save at step 2");
        const int had = exists(jmodel);
        snprintf(a, sizeof a, "train --data %s --preset tiny --out %s --steps 2 --seed 5 "
                 "--force " FLAT " " SMALL, data_dir, jdir);
        cli_expect_error(run("%s", a), a, "another retnet train is running in");
        CHECK(!had || exists(jmodel), "a run refused for the lock removed %s", jmodel);
        kill(pid, SIGKILL);
        wait_child(pid, 30);
    }
}

/* ---------------------------------------------------------------- 11: hostile training states */

/* cp -r src dst, dst removed first; 1 on success. */
static int copy_dir(const char *src, const char *dst) {
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", dst, src, dst);
    return system(cmd) == 0;
}

/* One value of a training state: tensor 0 params, 1 adamw.m1, 2 adamw.m2; at < 0 counts from
 * the end. */
typedef struct {
    int tensor;
    int64_t at;
    float x;
} state_edit;

/* Rewrites RUN/state.safetensors through the library (a well-formed file, step and trainer
 * JSON kept) with the n values of e set. 1 on success. */
static int edit_state(const char *run, const state_edit *e, int n) {
    char mp[1024], sp[1024], extra[4096];
    snprintf(mp, sizeof mp, "%s/model.safetensors", run);
    snprintf(sp, sizeof sp, "%s/state.safetensors", run);
    retnet_model *m = NULL;
    if (retnet_model_load(mp, NULL, &m) != RETNET_OK) return 0;
    const int64_t np = retnet_config_param_count(retnet_model_config(m));
    float *m1 = malloc(sizeof(float) * (size_t)np), *m2 = malloc(sizeof(float) * (size_t)np);
    int64_t step = 0;
    int ok = m1 && m2 &&
             retnet_train_state_load(sp, m, m1, m2, &step, extra, sizeof extra) == RETNET_OK;
    float *arr[3] = {retnet_model_params(m), m1, m2};
    for (int i = 0; ok && i < n; i++) arr[e[i].tensor][e[i].at < 0 ? np + e[i].at : e[i].at] = e[i].x;
    ok = ok && retnet_train_state_save(sp, m, m1, m2, step, extra) == RETNET_OK;
    CHECK(ok, "cannot rewrite %s: %s", sp, retnet_errmsg());
    free(m1), free(m2);
    retnet_model_free(m);
    return ok;
}

/* CHECKs that dir's run files (model, state, log.jsonl) are what read_run gave before, and
 * that it holds `files` files. */
static void check_run_unchanged(const char *dir, char *before[3], const size_t nb[3], int files,
                                const char *what) {
    char *after[3];
    size_t na[3];
    read_run(dir, after, na);
    for (int k = 0; k < 3; k++) {
        CHECK((!before[k] && !after[k]) ||
                  (before[k] && after[k] && nb[k] == na[k] && !memcmp(before[k], after[k], nb[k])),
              "%s changed %s/%s", what, dir, run_file_names[k]);
        free(after[k]);
    }
    CHECK(count_files(dir, "") == files, "%s left %d files in %s, were %d", what,
          count_files(dir, ""), dir, files);
}

/* A state holding a NaN or Inf (in the parameters or either moment) or a negative second
 * moment is refused by --resume: one line naming the file, the tensor and the value, before
 * any work, every file of the run (its log in it too) as it was. */
static void test_bad_state(void) {
    char src[512], dir[512], state[1024], log[1024], a[4096], want[2048], cmd[2200];
    snprintf(src, sizeof src, "%s/runA0", tmp);
    snprintf(dir, sizeof dir, "%s/runV", tmp);
    snprintf(state, sizeof state, "%s/state.safetensors", dir);
    snprintf(log, sizeof log, "%s/log.jsonl", dir);
    if (!copy_dir(src, dir)) { CHECK(0, "cannot copy %s", src); return; }
    snprintf(cmd, sizeof cmd, "cp '%s/a0.jsonl' '%s'", tmp, log);
    CHECK(system(cmd) == 0, "cannot copy the log");
    size_t n0 = 0;
    char *pristine = test_slurp(state, &n0);
    static const struct { state_edit e; const char *tensor, *what; } cases[] = {
        {{0, 100, NAN}, "params", "holds a non-finite value (NaN at index 100)"},
        {{1, 5, INFINITY}, "adamw.m1", "holds a non-finite value (+Inf at index 5)"},
        {{2, -1, -INFINITY}, "adamw.m2", "holds a non-finite value (-Inf at index "},
        {{2, 7, -1e-3f}, "adamw.m2", "holds a negative second moment (-0.001 at index 7;"},
    };
    for (size_t k = 0; pristine && k < sizeof cases / sizeof cases[0]; k++) {
        FILE *f = fopen(state, "wb"); /* the pristine state back, then one value changed */
        CHECK(f && fwrite(pristine, 1, n0, f) == n0, "cannot restore %s", state);
        if (f) fclose(f);
        if (!edit_state(dir, &cases[k].e, 1)) break;
        char *before[3];
        size_t nb[3];
        read_run(dir, before, nb);
        const int files = count_files(dir, "");
        snprintf(a, sizeof a, "train --data %s --resume %s --steps 12 --log %s " SMALL, data_dir,
                 dir, log);
        snprintf(want, sizeof want, "%s: tensor %s %s", state, cases[k].tensor, cases[k].what);
        cli_expect_error(run("%s", a), a, want);
        check_run_unchanged(dir, before, nb, files, "a refused resume");
        for (int i = 0; i < 3; i++) free(before[i]);
    }
    free(pristine);
}

/* Weights that turn NaN or Inf in an update whose step saves but does not evaluate: the run
 * stops before writing them (the loss guard saw the weights before the update, the val-loss
 * guard runs on eval steps only), non-zero, the last checkpoint byte for byte as it was.
 * A huge --lr x --wd does not get there (test_blow_up: the weights are ~1e11 and finite when
 * the loss turns NaN), so the state is given one first moment near float's largest (3e38,
 * finite, accepted) that the next update, at --lr 10, multiplies past float's range: that one
 * weight turns Inf while the loss of the step, measured before the update, is finite. */
static void test_diverged_save(void) {
    char src[512], dir[512], a[4096], want[1200];
    snprintf(src, sizeof src, "%s/runA0", tmp);
    snprintf(dir, sizeof dir, "%s/runW", tmp);
    if (!copy_dir(src, dir)) { CHECK(0, "cannot copy %s", src); return; }
    const state_edit e[2] = {{1, 0, 3e38f}, {2, 0, 0.0f}};
    if (!edit_state(dir, e, 2)) return;
    char *before[3];
    size_t nb[3];
    read_run(dir, before, nb);
    const int files = count_files(dir, "");
    snprintf(a, sizeof a, "train --data %s --resume %s --steps 10 --lr 10 --min-lr 10 "
             "--warmup 0 --save-every 1 --eval-every 1000000 " SMALL, data_dir, dir);
    result r = run("%s", a);
    const char *last = r.err;
    for (const char *p = r.err; *p; p++)
        if (*p == '\n' && p[1]) last = p + 1;
    snprintf(want, sizeof want, "stopped without saving them, the last checkpoint in %s is "
             "intact; lower --lr", dir);
    CHECK(r.status != 0 && r.status < 128 &&
              !strncmp(last, "retnet train: step 9: the weights diverged (", 44) &&
              strstr(last, want),
          "'retnet %s': weights diverged at a save step without evaluation: status %d, want a "
          "last line 'step 9: the weights diverged (...' saying '%s':\n%s", a, r.status, want,
          r.err);
    result_free(&r);
    check_run_unchanged(dir, before, nb, files, "a run whose weights diverged at a save step");
    for (int i = 0; i < 3; i++) free(before[i]);
}

/* --lr x --wd >= 1 (in float, as the optimizers multiply): one warning line at the start (the
 * decay zeroes or flips every 2-D weight each step), and the run goes on; none below 1. */
static void test_wd_warning(void) {
    static const struct { const char *opts, *want; } cases[] = {
        {"--lr 0.5 --wd 2", "warning: --lr 0.5 times --wd 2 is 1, not below 1: each step at the "
                            "peak learning rate the weight decay multiplies every 2-D weight by "
                            "1 - lr*wd = 0 (zeroing it); lower --lr or --wd\n"},
        {"--lr 1 --wd 3", "1 - lr*wd = -2 (flipping its sign)"},
        {"--lr 0.5 --wd 1.9", NULL},
        /* below 1 in double, 1 in float, where the optimizers compute 1 - lr*wd */
        {"--lr 0.99999999 --wd 1", "1 - lr*wd = 0 (zeroing it)"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char a[4096];
        snprintf(a, sizeof a, "train --data %s --preset tiny --out %s/runWd%zu --steps 1 %s "
                 SMALL, data_dir, tmp, k, cases[k].opts);
        result r = run("%s", a);
        RUN_OK(r, a);
        int warnings = 0;
        for (const char *p = r.err; (p = strstr(p, "warning")); p++) warnings++;
        if (cases[k].want)
            CHECK(warnings == 1 && !strncmp(r.err, "retnet train: warning: --lr ", 28) &&
                      strstr(r.err, cases[k].want),
                  "'retnet %s': want one first line 'retnet train: warning: ...' with '%s':\n%s",
                  a, cases[k].want, r.err);
        else
            CHECK(warnings == 0, "'retnet %s': a warning below lr*wd = 1:\n%s", a, r.err);
        result_free(&r);
    }
}

/* ---------------------------------------------------------------- 12: run records */

/* CHECKs one run record: {"run": 16 hex digits, "started": UTC ISO 8601, "resumed_from_step":
 * from, "argv": ["retnet", "train", ... arg ...]}. Its id into id (17 bytes). */
static void check_run_record(const char *line, long long from, const char *arg, char *id,
                             const char *what) {
    char started[64] = "";
    int y, mo, d, h, mi, se, used = 0;
    int ok = line && !strncmp(line, "{\"run\": \"", 9) && strspn(line + 9, "0123456789abcdef") == 16 &&
             line[25] == '"';
    if (ok) snprintf(id, 17, "%.16s", line + 9);
    ok = ok && field(line, "started", started, sizeof started) &&
         sscanf(started, "\"%4d-%2d-%2dT%2d:%2d:%2dZ\"%n", &y, &mo, &d, &h, &mi, &se, &used) == 6 &&
         used == 22 && !started[used] && y >= 2000;
    ok = ok && num(line, "resumed_from_step") == (double)from && isnan(num(line, "step")) &&
         strstr(line, "\"argv\": [\"retnet\", \"train\", ") && strstr(line, arg) &&
         line[strlen(line) - 1] == '}';
    CHECK(ok, "%s: not a run record resumed from step %lld with %s: %s", what, from, arg,
          line ? line : "(none)");
}

/* Each invocation's first line in its log is its run record; a resumed run keeps the records
 * of the lines it keeps, drops those of the lines it drops, and appends its own. */
static void test_run_records(void) {
    char a[512], b[512], c[512], src[512], dir[512], ida[17] = "", idb0[17] = "", idb1[17] = "";
    snprintf(a, sizeof a, "%s/a0.jsonl", tmp);
    snprintf(b, sizeof b, "%s/b0.jsonl", tmp);
    jlog la = jlog_read_all(a, 1), lb = jlog_read_all(b, 1);
    CHECK(la.n == 9, "%s: %d lines, want a run record and 8 steps", a, la.n);
    CHECK(lb.n == 10, "%s: %d lines, want 2 run records and 8 steps", b, lb.n);
    if (la.n == 9) check_run_record(la.line[0], 0, "\"--out\"", ida, a);
    if (lb.n == 10) {
        check_run_record(lb.line[0], 0, "\"--out\"", idb0, b);
        check_run_record(lb.line[5], 4, "\"--resume\"", idb1, b);
        CHECK(num(lb.line[4], "step") == 4 && num(lb.line[6], "step") == 5,
              "%s: the resumed run's record is not between steps 4 and 5", b);
    }
    CHECK(strcmp(ida, idb0) && strcmp(idb0, idb1) && strcmp(ida, idb1),
          "the run ids repeat: %s %s %s", ida, idb0, idb1);
    jlog_free(&la);
    jlog_free(&lb);

    /* a log that went on past the state (an invocation that resumed from step 8, killed
     * before its next save, mid-line): resumed from 8, its record and lines are dropped */
    snprintf(src, sizeof src, "%s/runB0", tmp);
    snprintf(dir, sizeof dir, "%s/runC", tmp);
    snprintf(c, sizeof c, "%s/c.jsonl", tmp);
    if (!copy_dir(src, dir)) { CHECK(0, "cannot copy %s", src); return; }
    size_t nb = 0;
    char *b0 = test_slurp(b, &nb);
    if (!b0) { CHECK(0, "cannot read %s", b); return; }
    char *text = malloc(nb + 512);
    snprintf(text, nb + 512, "%s{\"run\": \"00000000deadbeef\", \"started\": "
             "\"2000-01-01T00:00:00Z\", \"resumed_from_step\": 8, \"argv\": []}\n"
             "{\"step\": 9, \"loss\": 1}\n{\"step\": 10, \"lo", b0);
    write_text(c, text);
    free(text);
    result r = run("train --data %s --resume %s --steps 9 --log %s " FLAT " " SMALL, data_dir,
                   dir, c);
    RUN_OK(r, "resume with a log past its state");
    result_free(&r);
    size_t n = 0;
    char *after = test_slurp(c, &n);
    CHECK(after && n > nb && !memcmp(after, b0, nb) && !strstr(after, "deadbeef") &&
              !strstr(after, "\"loss\": 1}") && !strstr(after, "\"lo\n"),
          "the resumed log did not keep exactly its lines up to step 8:\n%s", after ? after : "");
    free(after);
    free(b0);
    jlog lc = jlog_read_all(c, 1);
    char idc[17] = "";
    CHECK(lc.n == 12, "%s: %d lines, want 3 run records and 9 steps", c, lc.n);
    if (lc.n == 12) {
        check_run_record(lc.line[10], 8, "\"--resume\"", idc, c);
        CHECK(num(lc.line[11], "step") == 9 && num(lc.line[11], "loss") != 1,
              "%s: the last line is not the new step 9: %s", c, lc.line[11]);
    }
    jlog_free(&lc);

    /* a new run killed before its first step leaves only its record in the log: the same
     * command may run again (the log holds no run), and the old record goes; a log with
     * anything else in it is still refused */
    snprintf(dir, sizeof dir, "%s/run_record_only", tmp);
    snprintf(c, sizeof c, "%s/run_record_only/log.jsonl", tmp);
    CHECK(mkdir(dir, 0755) == 0, "cannot make %s: %s", dir, strerror(errno));
    write_text(c, "{\"run\": \"00000000feedface\", \"started\": \"2000-01-01T00:00:00Z\", "
               "\"resumed_from_step\": 0, \"argv\": []}\n");
    r = run("train --data %s --preset tiny --out %s --steps 2 --log %s " FLAT " " SMALL, data_dir,
            dir, c);
    RUN_OK(r, "a new run over a log holding only a run record");
    result_free(&r);
    after = test_slurp(c, &n);
    jlog ld = jlog_read_all(c, 1);
    CHECK(after && !strstr(after, "feedface") && ld.n == 3 && num(ld.line[2], "step") == 2,
          "the rerun's log is not its own record and 2 steps:\n%s", after ? after : "");
    jlog_free(&ld);
    free(after);
    snprintf(dir, sizeof dir, "%s/run_record_more", tmp);
    snprintf(c, sizeof c, "%s/run_record_more/log.jsonl", tmp);
    CHECK(mkdir(dir, 0755) == 0, "cannot make %s: %s", dir, strerror(errno));
    write_text(c, "{\"run\": \"00000000feedface\", \"argv\": []}\nnot a run record\n");
    char cmd[2048], want[1024];
    snprintf(cmd, sizeof cmd, "train --data %s --preset tiny --out %s --steps 2 --log %s " FLAT
             " " SMALL, data_dir, dir, c);
    snprintf(want, sizeof want, "the run directory '%s' already holds a run (log.jsonl", dir);
    cli_expect_error(run("%s", cmd), cmd, want);
}

int main(int argc, char **argv) {
    char self[4096], bindir[4096];
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(bindir, sizeof bindir, "%s", dirname(self));
    snprintf(retnet, sizeof retnet, "%s/../retnet", bindir);
    const char *env = getenv("RETNET_TEST_SEED");
    seed0 = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
    fprintf(stderr, "test_train: seed %llu (RETNET_TEST_SEED=%llu reproduces this run)\n",
            (unsigned long long)seed0, (unsigned long long)seed0);
    /* for every child (the CLI's exit paths do not free; a tiny model wants one thread) */
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
    setenv("OMP_NUM_THREADS", "1", 1);
    atexit(kill_children);
    snprintf(tmp, sizeof tmp, "/tmp/retnet-test-train.XXXXXX");
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    if (make_dataset(bindir)) {
        fprintf(stderr, "cannot make the test dataset\n");
        return 1;
    }
    double t0 = now_s();
    RUN(test_resume_identical);
    RUN(test_steps_total);
    RUN(test_log_and_learning);
    RUN(test_sigint);
    RUN(test_kill);
    RUN(test_blow_up);
    RUN(test_bad_input);
    RUN(test_existing_run);
    RUN(test_replace_run);
    RUN(test_bad_state);
    RUN(test_diverged_save);
    RUN(test_wd_warning);
    RUN(test_run_records);
    kill_children();
    fprintf(stderr, "test_train: %.1f s\n", now_s() - t0);
    char a[512];
    snprintf(a, sizeof a, "rm -rf %s", tmp);
    if (!getenv("RETNET_TEST_KEEP") && system(a)) {}
    (void)argc;
    return TEST_SUMMARY();
}
