/*
 * retnet train: train a model on a tokenized corpus (made by `retnet tokenize`).
 *
 * The loop: for each step, the learning rate of the schedule, `accum` micro-batches of
 * `batch` windows of `seq` tokens (each window starts with <bos>), one forward/backward each
 * into one gradient buffer, the global gradient norm (a NaN or Inf stops the run before the
 * update), clipping, AdamW. Every --eval-every steps the validation loss and a short sample
 * decoded with the recurrent form (a NaN or Inf there stops the run unsaved, and so does one in
 * the weights about to be saved); every --save-every steps and at the end a checkpoint: the
 * model (RUN/model.safetensors, for generate/logits) and the training state
 * (RUN/state.safetensors: parameters, moments, step, data position), each written
 * atomically. --resume RUN continues bit-identically: the same losses as an uninterrupted run
 * with the same thread count. Ctrl-C saves a checkpoint and exits. A run directory that already
 * holds a run (its checkpoint, or for a new run a non-empty --log in it: a run that stopped
 * before its first save) is refused unless that run is the one resumed, or --force says to
 * replace it; so is a new run's non-empty --log anywhere: a new run would overwrite them.
 * --force removes the replaced run's checkpoints (and the old log this run writes) just before
 * the first step, so that a run that stops before its first save never leaves its log beside
 * the earlier run's checkpoint for --resume to continue.
 *
 * --gpus N: data-parallel training, one process ("rank") per GPU (retnet_trainer_create_dist).
 * Without rank variables in the environment this process is the launcher: it makes the
 * run's unique id, starts N copies of itself with RETNET_RANK / RETNET_WORLD_SIZE /
 * RETNET_LOCAL_RANK / RETNET_DIST_ID set, waits for them, and when one fails stops the others
 * and says which and why. With rank variables (ours, torchrun's RANK / WORLD_SIZE /
 * LOCAL_RANK, Open MPI's OMPI_COMM_WORLD_*) it is one rank. Every rank draws the same global
 * batch of N x --batch windows per micro-batch (the loaders' RNG is the same everywhere) and
 * trains on its own slice, so that the run equals one GPU's with --batch N x B; the printed
 * and logged loss is the mean over all ranks. Only rank 0 prints progress, evaluates,
 * samples, logs and writes checkpoints; the other ranks print only errors.
 */
#include "cli.h"
#include "data.h"
#include "tokenizer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static void usage_train(void) {
    printf(
        "usage: retnet train --data DIR (--preset NAME | --config FILE | --resume RUN) --out RUN\n"
        "                    [--steps N | --time MIN] [--batch B] [--seq T] [options]\n\n"
        "Trains a RetNet on DIR/train.bin (and measures DIR/val.bin), made by `retnet tokenize`.\n"
        "Writes RUN/model.safetensors and RUN/state.safetensors (for --resume) every --save-every\n"
        "steps, at the end, on Ctrl-C and at --time. A RUN that already holds a run (a\n"
        "checkpoint, or a new run's --log in RUN) is refused: continue it with --resume RUN,\n"
        "or replace it with --force. So is a new run's --log FILE that is not empty, and any\n"
        "run into a RUN where another run is still training (it holds a lock on RUN).\n\n"
        "  --data DIR          tokenized corpus (train.bin, val.bin, meta.json)\n"
        "  --preset NAME       tiny, small, base, ... (the vocabulary must match the data's)\n"
        "  --config FILE       a JSON config instead of a preset\n"
        "  --resume RUN        continue the run in RUN (its model, optimizer and data position)\n"
        "  --out RUN           run directory (default: the --resume directory); new or empty,\n"
        "                      or holding the run resumed\n"
        "  --force             replace the run already in RUN: its checkpoints (and a new run's\n"
        "                      --log FILE, wherever it is) are removed just before the first step\n"
        "  --steps N           total steps (a resumed run stops where an uninterrupted one would)\n"
        "  --time MIN          stop (and save) after MIN minutes of this invocation\n"
        "  --batch B           windows per micro-batch (default 8)\n"
        "  --seq T             tokens per window, <bos> included (default 256)\n"
        "  --accum A           micro-batches per step, gradients accumulated (default 1)\n"
        "  --form F            chunkwise (default) or parallel\n"
        "  --chunk C           chunk length (default: the config's)\n"
        "  --lr X              peak learning rate (default 1e-3)\n"
        "  --min-lr X          final learning rate (default lr/10)\n"
        "  --warmup N          warmup steps (default min(375, steps/10))\n"
        "  --schedule S        cosine (default) or linear decay after warmup\n"
        "  --wd X              AdamW weight decay on 2-D weights (default 0.05; lr x wd of 1\n"
        "                      or more zeroes or flips them every step: warned)\n"
        "  --beta1 X --beta2 X AdamW betas (default 0.9, 0.98: the paper's)\n"
        "  --clip X            clip the global gradient norm to X (default 2.0; 0: off)\n"
        "  --dropout P         residual dropout (default 0)\n"
        "  --eval-every N      validation loss and a sample every N steps (default 100)\n"
        "  --eval-batches N    validation windows per evaluation, in batches (default 8)\n"
        "  --save-every N      checkpoint every N steps (default 500)\n"
        "  --sample-tokens N   length of the sample (default 200; 0: none)\n"
        "  --seed S            initialisation, data order and dropout (default 1)\n"
        "  --log FILE          JSON lines, one object per step, after one run record per\n"
        "                      invocation ({\"run\": id, \"started\", \"resumed_from_step\", \"argv\"});\n"
        "                      a new run's FILE must be new or empty (or --force); a resumed run\n"
        "                      keeps its lines up to its step\n"
        "  --device D          cpu (default) or cuda / cuda:N: train on a GPU (a CUDA build;\n"
        "                      mixed precision: bf16 products, fp32 master weights and moments;\n"
        "                      dropout drops the same elements as on the cpu)\n"
        "  --gpus N            data-parallel training on N GPUs, one process each (a CUDA build\n"
        "                      with NCCL): every step takes N x --batch windows, each GPU its own\n"
        "                      --batch of them, so the run equals one GPU with --batch N x B;\n"
        "                      gradients averaged over the GPUs during the backward, AdamW\n"
        "                      moments sharded (ZeRO-1). retnet starts the N processes itself\n"
        "                      (GPU i = cuda:i), unless a launcher did (below)\n\n"
        "Under a launcher (torchrun --no-python, mpirun, ...) that starts one process per GPU and\n"
        "sets RANK / WORLD_SIZE / LOCAL_RANK (or OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK), give\n"
        "each the same --gpus WORLD_SIZE; the process uses cuda:LOCAL_RANK. The ranks meet through\n"
        "RETNET_DIST_ID_FILE=PATH (rank 0 writes a new id there, the others wait for it: a path no\n"
        "earlier run used, that every rank sees) or NCCL_COMM_ID=HOST:PORT (rank 0 listens there).\n"
        "RETNET_DIST_TIMEOUT=S: the longest wait for the other ranks (default 300 s); a rank that\n"
        "stops makes the others fail with a message instead of hanging. NVLink multicast stays\n"
        "off (NCCL_NVLS_ENABLE=0).\n");
}

typedef struct {
    int64_t steps, warmup, eval_every, eval_batches, save_every, sample_tokens;
    int32_t batch, seq, accum, chunk;
    retnet_form form;
    double lr, min_lr, clip, time_limit_s;
    int cosine;
    retnet_adamw opt;
    float dropout;
    uint64_t seed;
} hparams;

/* The trainer's JSON in the state file: what a resume must restore besides the tensors.
 * batch is per GPU; gpus x batch windows are drawn per micro-batch. */
static void state_json(char *buf, size_t cap, const hparams *h, int32_t gpus,
                       const retnet_loader *ld, int64_t tokens_seen) {
    char ls[512];
    retnet_loader_state_str(ld, ls, sizeof ls);
    snprintf(buf, cap,
             "{\"steps\": %lld, \"batch\": %d, \"gpus\": %d, \"seq\": %d, \"accum\": %d, "
             "\"seed\": %llu, \"tokens_seen\": %lld, \"loader\": \"%s\"}",
             (long long)h->steps, h->batch, gpus, h->seq, h->accum, (unsigned long long)h->seed,
             (long long)tokens_seen, ls);
}

/* A JSON value by key from the flat object above (our own output: no nesting, no escapes). */
static const char *json_field(const char *json, const char *key, char *out, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(json, pat);
    if (!p) return NULL;
    p += strlen(pat);
    size_t n = 0;
    if (*p == '"') {
        p++;
        while (p[n] && p[n] != '"') n++;
    } else {
        while (p[n] && p[n] != ',' && p[n] != '}') n++;
    }
    if (n >= cap) return NULL;
    memcpy(out, p, n);
    out[n] = 0;
    return out;
}

static void ensure_dir(const char *dir) {
    if (mkdir(dir, 0755) && errno != EEXIST)
        FAIL("cannot create the run directory '%s': %s; give a writable --out", dir,
             strerror(errno));
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.write-test", dir);
    FILE *f = fopen(probe, "w");
    if (!f) FAIL("the run directory '%s' is not writable: %s; give a writable --out", dir,
                 strerror(errno));
    fclose(f);
    unlink(probe);
}

/* A run's checkpoints in its directory. Each is written to NAME.tmp.PID and renamed over NAME
 * (safetensors.c's st_writer), so a write that was killed leaves NAME.tmp.PID behind. */
static const char *const ckpt_names[] = {"model.safetensors", "state.safetensors"};

/* 1 if a and b name the same existing directory (by device and inode, so "runs/x" and
 * "./runs/x/" are one). */
static int same_dir(const char *a, const char *b) {
    struct stat sa, sb;
    return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* 1 if path is a regular file of at least one byte (its size into *size). */
static int nonempty_file(const char *path, long long *size) {
    struct stat sb;
    if (stat(path, &sb) || !S_ISREG(sb.st_mode) || sb.st_size == 0) return 0;
    *size = (long long)sb.st_size;
    return 1;
}

/* how a run record (log_run_record) begins: the line's first key */
#define RUN_RECORD "{\"run\": "
#define RUN_RECORD_LEN (sizeof RUN_RECORD - 1)

/* 1 if path holds something besides run records (log_run_record's lines): a log whose run
 * stopped before its first step holds only its record, and counts as empty, so that the same
 * command can be run again; anything else in it (steps, or a file that is no log) counts. */
static int log_has_more(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    char *line = NULL;
    size_t cap = 0;
    int more = 0;
    while (!more && getline(&line, &cap, f) > 0)
        more = strncmp(line, RUN_RECORD, RUN_RECORD_LEN) != 0;
    free(line);
    fclose(f);
    return more;
}

/* 1 if the log at path holds an earlier run's lines (its size into *size) */
static int log_taken(const char *path, long long *size) {
    return nonempty_file(path, size) && log_has_more(path);
}

/* The file's name in its directory, and 1 if that directory is dir. */
static int file_in_dir(const char *path, const char *dir, const char **name) {
    char d[4200];
    *name = cli_split_path(path, d, sizeof d);
    return same_dir(d, dir);
}

/* What dir holds of a run, as "model.safetensors, state.safetensors, log.jsonl" into list:
 * the checkpoints it has (their count is returned) and, when log (this run's --log, or NULL)
 * lies in dir and is not empty, the log's name (*log_there = 1). dir may not exist. */
static int run_files(const char *dir, const char *log, int *log_there, char *list, size_t cap) {
    char path[4200];
    struct stat sb;
    int n = 0;
    long long size;
    const char *name;
    list[0] = 0;
    for (size_t i = 0; i < sizeof ckpt_names / sizeof ckpt_names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, ckpt_names[i]);
        if (stat(path, &sb)) continue;
        size_t len = strlen(list);
        snprintf(list + len, cap - len, "%s%s", n ? ", " : "", ckpt_names[i]);
        n++;
    }
    *log_there = log && log_taken(log, &size) && file_in_dir(log, dir, &name);
    if (*log_there) {
        size_t len = strlen(list);
        snprintf(list + len, cap - len, "%s%s", n ? ", " : "", name);
    }
    return n;
}

/* The run directory may hold an earlier run (its checkpoint, or for a new run also a
 * non-empty --log in it: a run that stopped before its first save) only when that run is the
 * one resumed (resume: its directory, or NULL), or with --force (replace_run then removes it
 * just before the first step). A new run's --log elsewhere may not hold an earlier log
 * either, unless --force: the run would truncate it. A resumed run keeps the lines of its log
 * up to the resumed step (open_log), so its log is not checked. */
static void check_out_dir(const char *out, const char *resume, const char *log, int force) {
    char found[4400];
    int log_there;
    const int ckpts = run_files(out, log, &log_there, found, sizeof found);
    long long size;
    if (force) return;
    if (resume) {
        if (!ckpts || same_dir(out, resume)) return;
        FAIL("the run directory '%s' already holds another run (%s); resume into '%s' itself "
             "(leave out --out), give a new --out, or pass --force to replace the run in '%s'",
             out, found, resume, out);
    }
    if (ckpts)
        FAIL("the run directory '%s' already holds a run (%s); pass --resume %s to continue it "
             "or --force to replace it", out, found, out);
    if (log_there)
        FAIL("the run directory '%s' already holds a run (%s, no checkpoint to resume); pass "
             "--force to replace it or give a new --out and --log", out, found);
    /* a link (such as /dev/stdout) is the user's choice of where the lines go: not checked */
    struct stat lsb;
    if (log && !lstat(log, &lsb) && S_ISREG(lsb.st_mode) && log_taken(log, &size))
        FAIL("the log '%s' already exists (%lld bytes); a new run would overwrite it: give "
             "another --log or pass --force to replace it", log, size);
}

/* Before --force removes anything: the log must open for writing (a directory, a read-only
 * file or a full disk would otherwise fail the run after the run it replaces was gone). Opened
 * without truncating; a new empty file stays (open_log writes it next). */
static void probe_log(const char *log) {
    const int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        FAIL("cannot open the log '%s' for writing: %s; nothing was replaced", log,
             strerror(errno));
    close(fd);
}

/* One training process a run directory at a time: rank 0 holds an exclusive lock on the
 * directory itself (flock, released when the process exits) from before its first write, so
 * that a second run into it (a job started twice) is refused rather than writing over the
 * first one's files (or, with --force, removing them). The caller checks what the directory
 * holds again under the lock: another run may have written it since the first check. Where
 * the file system has no such locks (ENOLCK, EOPNOTSUPP) this goes without. */
static void lock_run_dir(const char *out) {
    const int fd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return; /* ensure_dir made and probed it: only a race could get here */
    if (!flock(fd, LOCK_EX | LOCK_NB)) return; /* fd stays open: the lock lasts the process */
    const int e = errno;
    close(fd);
    if (e == EWOULDBLOCK)
        FAIL("another retnet train is running in '%s'; wait for it to end or give another "
             "--out", out);
}

static void remove_replaced(const char *path) {
    if (unlink(path) && errno != ENOENT)
        FAIL("cannot remove '%s' of the run replaced (--force): %s; remove it yourself or give "
             "a new --out", path, strerror(errno));
}

/* --force, just before the first step (every check passed): removes the run being replaced
 * from out, so that out never holds this run's log beside an earlier run's checkpoint (which
 * --resume would continue) even when this run stops before its first save: the checkpoints,
 * the temp files of writes that were killed, and log (a new run's --log, or NULL) wherever it
 * is (open_log would truncate it anyway). Nothing else in out is touched; nothing when out is
 * the directory of the run resumed (resume, or NULL). Says what went on stderr, one line. */
static void replace_run(const char *out, const char *resume, const char *log) {
    if (resume && same_dir(out, resume)) return;
    char removed[4400] = "", path[4200];
    int n = 0, temps = 0, log_in_out = 0, log_replaced = 0;
    const char *name;
    long long size;
    DIR *d = opendir(out);
    if (!d)
        FAIL("cannot list the run directory '%s' to replace its run (--force): %s; nothing was "
             "replaced", out, strerror(errno));
    for (struct dirent *e; (e = readdir(d));) {
        for (size_t i = 0; i < sizeof ckpt_names / sizeof ckpt_names[0]; i++) {
            const size_t len = strlen(ckpt_names[i]);
            if (strncmp(e->d_name, ckpt_names[i], len)) continue;
            /* NAME.tmp.PID (digits only: a user's NAME.tmp.backup stays) */
            const char *pid = e->d_name + len + 5;
            const int temp = !strncmp(e->d_name + len, ".tmp.", 5) && *pid &&
                             strspn(pid, "0123456789") == strlen(pid);
            if (e->d_name[len] && !temp) continue;
            snprintf(path, sizeof path, "%s/%s", out, e->d_name);
            remove_replaced(path);
            if (temp) temps++;
            else {
                size_t l = strlen(removed);
                snprintf(removed + l, sizeof removed - l, "%s%s", n++ ? ", " : "", e->d_name);
            }
        }
    }
    closedir(d);
    if (temps) {
        size_t l = strlen(removed);
        snprintf(removed + l, sizeof removed - l, "%s%d temp file%s", n++ ? ", " : "", temps,
                 temps == 1 ? "" : "s");
    }
    struct stat sb;
    /* a link (such as /dev/stdout) stays, as check_out_dir left it: open_log truncates the
     * file it names, as before --force */
    if (log && !lstat(log, &sb) && S_ISREG(sb.st_mode) && log_taken(log, &size)) {
        log_in_out = file_in_dir(log, out, &name);
        remove_replaced(log);
        log_replaced = 1;
        size_t l = strlen(removed);
        snprintf(removed + l, sizeof removed - l, "%s%s", n++ ? ", " : "", log_in_out ? name : log);
    }
    if (!n) return;
    if (n == 1 && log_replaced && !log_in_out)
        fprintf(stderr, "%s: replacing the log '%s' (--force)\n", cli_cmd, log);
    else
        fprintf(stderr, "%s: replacing the run in '%s' (--force): removed %s\n", cli_cmd, out,
                removed);
}

/* 16 hex digits that tell this invocation's lines from any other's: /dev/urandom, or where
 * that cannot be read the clock and the pid, mixed (splitmix64's finaliser). */
static void make_run_id(char out[17]) {
    uint64_t x = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&x, sizeof x, 1, f) != 1) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 40;
        x = (x ^ x >> 30) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ x >> 27) * 0x94d049bb133111ebull;
        x ^= x >> 31;
    }
    if (f) fclose(f);
    snprintf(out, 17, "%016llx", (unsigned long long)x);
}

/* The log's first line from this invocation, before its steps: which process wrote the lines
 * that follow, when it started, the step it resumed from (0: a new run) and its arguments.
 * It has no "step" key: readers of the per-step numbers skip it, and the step lines of a
 * resumed run stay those of an uninterrupted one. */
static void log_run_record(FILE *f, int64_t step, int argc, char **argv) {
    char id[17], when[32];
    make_run_id(id);
    const time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm) || !strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(when, sizeof when, "unknown");
    fprintf(f, RUN_RECORD "\"%s\", \"started\": \"%s\", \"resumed_from_step\": %lld, "
            "\"argv\": [\"retnet\", \"train\"", id, when, (long long)step);
    for (int i = 0; i < argc; i++) {
        fputs(", ", f);
        cli_json_string(f, argv[i], (int64_t)strlen(argv[i]));
    }
    fputs("]}\n", f);
    fflush(f);
}

/* Opens the JSON-lines log: new for a new run; for a resumed one, the lines of the steps up
 * to the resumed step are kept (later ones, logged after the last checkpoint, are dropped so
 * that every step appears once), and so are the run records of the invocations that wrote
 * them (resumed from an earlier step: the one that resumed from this step logged only
 * dropped lines). Then this invocation's run record. */
static FILE *open_log(const char *path, int64_t step, int argc, char **argv) {
    char *keep = NULL;
    size_t kept = 0;
    FILE *old = step ? fopen(path, "r") : NULL;
    if (old) {
        char *line = NULL;
        size_t cap = 0, lcap = 0;
        ssize_t got;
        while ((got = getline(&line, &lcap, old)) > 0) {
            const size_t n = (size_t)got;
            if (line[n - 1] != '\n') continue; /* a write cut short by a kill: no line */
            const char *p = strstr(line, "\"step\": ");
            const char *r = strncmp(line, RUN_RECORD, RUN_RECORD_LEN)
                                ? NULL
                                : strstr(line, "\"resumed_from_step\": ");
            if (r ? strtoll(r + 21, NULL, 10) >= step : !p || strtoll(p + 8, NULL, 10) > step)
                continue;
            if (kept + n + 1 > cap) {
                cap = 2 * (kept + n + 1);
                char *k = realloc(keep, cap);
                if (!k) FAIL("out of memory reading the log '%s'", path);
                keep = k;
            }
            memcpy(keep + kept, line, n);
            kept += n;
        }
        free(line);
        fclose(old);
    }
    FILE *f = fopen(path, "w");
    if (!f) FAIL("cannot write the log '%s': %s; give a writable --log path", path, strerror(errno));
    if (kept && fwrite(keep, 1, kept, f) != kept) FAIL("cannot write the log '%s'", path);
    free(keep);
    log_run_record(f, step, argc, argv);
    return f;
}

/* Mean loss per token over the first n_batches batches of the validation windows. */
static double evaluate(retnet_model *m, retnet_loader *val, const hparams *h, int32_t *in,
                       int32_t *tg, float *logits, int32_t vocab) {
    double sum = 0;
    int64_t count = 0;
    retnet_loader_rewind(val);
    for (int64_t b = 0; b < h->eval_batches; b++) {
        int32_t got = retnet_loader_next_sequential(val, in, tg, h->batch);
        if (got <= 0) break;
        CHECK(retnet_forward(m, in, got, h->seq, h->form, h->chunk, NULL, logits), "");
        for (int64_t i = 0; i < (int64_t)got * h->seq; i++) {
            if (tg[i] < 0) continue;
            const float *row = logits + i * vocab;
            double mx = row[0], s = 0;
            for (int32_t v = 1; v < vocab; v++) mx = row[v] > mx ? row[v] : mx;
            for (int32_t v = 0; v < vocab; v++) s += exp(row[v] - mx);
            sum += mx + log(s) - row[tg[i]];
            count++;
        }
    }
    return count ? sum / count : NAN;
}

/* Prints a sample: <bos>, then n tokens decoded one at a time with the recurrent form. */
static void sample(retnet_model *m, const retnet_tokenizer *tok, int64_t n, uint64_t seed,
                   FILE *out) {
    const retnet_config *c = retnet_model_config(m);
    retnet_state st = {0, malloc(sizeof(float) * (size_t)retnet_state_floats(c))};
    float *logits = malloc(sizeof(float) * (size_t)c->vocab);
    float *work = malloc(sizeof(float) * 2 * (size_t)c->vocab);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(n + 1));
    if (!st.data || !logits || !work || !ids) FAIL("out of memory for the sample");
    retnet_state_reset(c, &st);
    int32_t cur = retnet_tokenizer_bos(tok);
    uint64_t rng = seed;
    int64_t k = 0;
    for (; k < n; k++) {
        CHECK(retnet_forward(m, &cur, 1, 1, RETNET_FORM_RECURRENT, 0, &st, logits), "");
        cur = retnet_sample(logits, c->vocab, 0.8f, 0, 0.95f, &rng, work);
        if (cur < 0 || cur == retnet_tokenizer_eos(tok)) break; /* NaN logits: the sample ends */
        ids[k] = cur;
    }
    char *text = NULL;
    int64_t len = 0;
    if (retnet_tokenizer_decode(tok, ids, k, RETNET_DECODE_SKIP_SPECIAL, &text, &len) == RETNET_OK) {
        fprintf(out, "---- sample ----\n");
        fwrite(text, 1, (size_t)len, out);
        fprintf(out, "\n----------------\n");
    }
    free(text);
    free(ids);
    free(work);
    free(logits);
    free(st.data);
}

/* A saved number of the training state's metadata: a whole decimal integer, nothing after
 * it ("16x" is not 16); LLONG_MIN where it is not one, which every range check refuses */
static long long meta_int(const char *v) {
    char *end = NULL;
    errno = 0;
    const long long x = strtoll(v, &end, 10);
    return end == v || *end || errno ? LLONG_MIN : x;
}

/* The first parameter tensor holding a NaN or Inf, NULL if every value is finite (*what:
 * "NaN" or "Inf"): one pass over the host parameters, which on a GPU are the master weights
 * only after retnet_trainer_sync. */
static const char *nonfinite_tensor(const retnet_model *m, const char **what) {
    const int32_t n = retnet_model_tensor_count(m);
    for (int32_t i = 0; i < n; i++) {
        retnet_tensor t;
        if (retnet_model_tensor(m, i, &t) || !t.data) continue; /* training has fp32 data */
        for (int64_t k = 0; k < t.numel; k++)
            if (!isfinite(t.data[k])) {
                *what = isnan(t.data[k]) ? "NaN" : "Inf";
                return t.name;
            }
    }
    return NULL;
}

/* Rank 0 writes the model; the training state's save is collective (rank 0 writes it). */
static void save(retnet_model *m, retnet_trainer *t, const char *dir, int64_t step,
                 const hparams *h, const retnet_loader *ld, int64_t tokens_seen) {
    char path[4200], js[2048];
    int32_t rank, world;
    retnet_trainer_rank(t, &rank, &world);
    if (rank == 0) {
        CHECK(retnet_trainer_sync(t), ""); /* a GPU's master weights into the host model */
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        CHECK(retnet_model_save(m, path), "check the disk space and the run directory");
    }
    state_json(js, sizeof js, h, world, ld, tokens_seen);
    snprintf(path, sizeof path, "%s/state.safetensors", dir);
    CHECK(retnet_trainer_save(t, path, step, js), "check the disk space and the run directory");
}

/* ---- --gpus: the ranks ---------------------------------------------------------------- */

/* An integer environment variable; 0 when unset. Fails on a malformed one. */
static int env_int(const char *name, int *out) {
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < 0 || x > 1 << 20)
        FAIL("the environment variable %s='%s' is not a rank or a size; fix the launcher's "
             "environment", name, v);
    *out = (int)x;
    return 1;
}

/* This process's rank from the environment: ours (RETNET_RANK, set by the launcher below),
 * Open MPI's, or torchrun's (and others': RANK, WORLD_SIZE, LOCAL_RANK). 0 when none. */
static int rank_from_env(int *rank, int *world, int *local) {
    static const char *const sets[][3] = {
        {"RETNET_RANK", "RETNET_WORLD_SIZE", "RETNET_LOCAL_RANK"},
        {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
        {"RANK", "WORLD_SIZE", "LOCAL_RANK"},
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        if (!env_int(sets[i][0], rank)) continue;
        if (!env_int(sets[i][1], world))
            FAIL("%s is set but %s is not; the launcher must set both", sets[i][0], sets[i][1]);
        if (!env_int(sets[i][2], local)) *local = *rank; /* one machine */
        return 1;
    }
    return 0;
}

static volatile sig_atomic_t launcher_signal;
static void on_launcher_signal(int sig) { launcher_signal = sig; }

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* `retnet train --gpus N` without rank variables: starts N ranks of this same command (one
 * per GPU) that meet through `id` (retnet_dist_id: this process hosts NCCL's rendezvous),
 * waits for them, and when one fails stops the others and says which one failed
 * and how. Ctrl-C reaches the ranks (they save and stop together); SIGTERM is passed on. */
static int launch_ranks(int world, const char *id, int argc, char **argv) {
    char exe[4096], num[32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) FAIL("cannot find this program's path (/proc/self/exe): %s", strerror(errno));
    exe[n] = 0;
    char **args = calloc((size_t)argc + 3, sizeof *args);
    pid_t *pid = calloc((size_t)world, sizeof *pid);
    int *alive = calloc((size_t)world, sizeof *alive);
    if (!args || !pid || !alive) FAIL("out of memory");
    args[0] = "retnet", args[1] = "train";
    for (int i = 0; i < argc; i++) args[i + 2] = argv[i];
    setenv("NCCL_NVLS_ENABLE", "0", 1); /* NVLink multicast stays off */
    setenv("RETNET_DIST_ID", id, 1);
    snprintf(num, sizeof num, "%d", world);
    setenv("RETNET_WORLD_SIZE", num, 1);
    struct sigaction sa = {0};
    sa.sa_handler = on_launcher_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    const pid_t parent = getpid();
    fflush(NULL);
    for (int r = 0; r < world; r++) {
        pid[r] = fork();
        if (pid[r] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM); /* the launcher gone: stop */
            if (getppid() != parent) _exit(1);
            char v[32];
            snprintf(v, sizeof v, "%d", r);
            setenv("RETNET_RANK", v, 1);
            setenv("RETNET_LOCAL_RANK", v, 1);
            signal(SIGINT, SIG_DFL), signal(SIGTERM, SIG_DFL), signal(SIGHUP, SIG_DFL);
            execv(exe, args);
            fprintf(stderr, "%s: cannot start rank %d (%s): %s\n", cli_cmd, r, exe, strerror(errno));
            _exit(127);
        }
        if (pid[r] < 0) {
            int e = errno;
            for (int k = 0; k < r; k++) kill(pid[k], SIGTERM);
            FAIL("cannot start rank %d: fork: %s", r, strerror(e));
        }
        alive[r] = 1;
    }
    /* wait; after the first failure the others get half a second to print what they saw,
     * then SIGTERM, ten seconds later SIGKILL */
    int running = world, failed = -1, fail_status = 0;
    double t_fail = 0;
    int termed = 0, killed = 0;
    while (running > 0) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p > 0) {
            int r = 0;
            while (r < world && pid[r] != p) r++;
            if (r == world) continue;
            alive[r] = 0, running--;
            int bad = !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
            if (bad && failed < 0) failed = r, fail_status = st, t_fail = cli_now();
            continue;
        }
        if (p < 0 && errno != EINTR) break;
        if (launcher_signal) { /* pass it on (a terminal's Ctrl-C reached them already) */
            int sig = launcher_signal;
            launcher_signal = 0;
            for (int r = 0; r < world; r++)
                if (alive[r]) kill(pid[r], sig);
        }
        if (t_fail > 0 && !termed && cli_now() - t_fail > 0.5) {
            for (int r = 0; r < world; r++)
                if (alive[r]) kill(pid[r], SIGTERM);
            termed = 1;
        }
        if (termed && !killed && cli_now() - t_fail > 11.0) {
            for (int r = 0; r < world; r++)
                if (alive[r]) kill(pid[r], SIGKILL);
            killed = 1;
        }
        sleep_ms(20);
    }
    free(args), free(pid), free(alive);
    if (failed >= 0) {
        char how[160];
        if (WIFEXITED(fail_status))
            snprintf(how, sizeof how, "exited with status %d (the first to fail; its message "
                     "is above)", WEXITSTATUS(fail_status));
        else
            snprintf(how, sizeof how, "was killed by signal %d, %s (the first to fail)",
                     WTERMSIG(fail_status), strsignal(WTERMSIG(fail_status)));
        FAIL("rank %d of %d %s; the other ranks were stopped", failed, world, how);
    }
    return 0;
}

int cmd_train(int argc, char **argv) {
    opt o[] = {{"--data", 1},       {"--preset", 1},      {"--config", 1},   {"--resume", 1},
               {"--out", 1},        {"--steps", 1},       {"--time", 1},     {"--batch", 1},
               {"--seq", 1},        {"--accum", 1},       {"--form", 1},     {"--chunk", 1},
               {"--lr", 1},         {"--min-lr", 1},      {"--warmup", 1},   {"--schedule", 1},
               {"--wd", 1},         {"--beta1", 1},       {"--beta2", 1},    {"--clip", 1},
               {"--dropout", 1},    {"--eval-every", 1},  {"--eval-batches", 1},
               {"--save-every", 1}, {"--sample-tokens", 1}, {"--seed", 1},   {"--log", 1},
               {"--device", 1},     {"--gpus", 1},        {"--force", 0}};
    const int no = sizeof o / sizeof o[0];
    cli_parse(argc, argv, o, no, NULL, 0, usage_train);
#define O(name) cli_opt(o, no, name)
#define VAL(name, def) (O(name)->given ? O(name)->value : (def))
    if (!O("--data")->given) FAIL("missing --data DIR; make one with 'retnet tokenize'");
    if (O("--preset")->given + O("--config")->given > 1 ||
        O("--preset")->given + O("--config")->given + O("--resume")->given == 0)
        FAIL("give one of --preset NAME or --config FILE (or --resume RUN)");
    const char *out = VAL("--out", O("--resume")->given ? O("--resume")->value : NULL);
    if (!out) FAIL("missing --out RUN; say where the run's checkpoints go");
    if (O("--steps")->given == 0 && O("--time")->given == 0)
        FAIL("give --steps N or --time MIN; say how long to train");

    hparams h = {0};
    h.steps = cli_int(VAL("--steps", "1000000000"), "--steps", 1, 1000000000000LL);
    h.time_limit_s = O("--time")->given ? 60 * cli_double(O("--time")->value, "--time", 0, 1e7) : 0;
    if (O("--time")->given && !(h.time_limit_s > 0)) /* 0 meant no limit at all */
        FAIL("--time %s must be above 0 minutes", O("--time")->value);
    h.batch = (int32_t)cli_int(VAL("--batch", "8"), "--batch", 1, 1 << 20);
    h.seq = (int32_t)cli_int(VAL("--seq", "256"), "--seq", 2, 1 << 24);
    h.accum = (int32_t)cli_int(VAL("--accum", "1"), "--accum", 1, 1 << 20);
    int form = retnet_form_parse(VAL("--form", "chunkwise"));
    if (form != RETNET_FORM_CHUNKWISE && form != RETNET_FORM_PARALLEL)
        FAIL("--form must be chunkwise or parallel");
    h.form = (retnet_form)form;
    h.chunk = (int32_t)cli_int(VAL("--chunk", "0"), "--chunk", 0, 1 << 20);
    if (O("--chunk")->given && h.chunk < 1) FAIL("--chunk must be at least 1");
    h.lr = cli_double(VAL("--lr", "1e-3"), "--lr", 0, 10);
    h.min_lr = O("--min-lr")->given ? cli_double(O("--min-lr")->value, "--min-lr", 0, 10) : h.lr / 10;
    int64_t dw = h.steps < 1000000000 ? h.steps / 10 : 375;
    h.warmup = O("--warmup")->given ? cli_int(O("--warmup")->value, "--warmup", 0, h.steps)
                                    : (dw < 375 ? dw : 375);
    const char *sched = VAL("--schedule", "cosine");
    if (strcmp(sched, "cosine") && strcmp(sched, "linear")) FAIL("--schedule must be cosine or linear");
    h.cosine = !strcmp(sched, "cosine");
    h.opt.lr = (float)h.lr;
    h.opt.weight_decay = (float)cli_double(VAL("--wd", "0.05"), "--wd", 0, 10);
    h.opt.beta1 = (float)cli_double(VAL("--beta1", "0.9"), "--beta1", 0, 0.999999);
    h.opt.beta2 = (float)cli_double(VAL("--beta2", "0.98"), "--beta2", 0, 0.999999);
    h.opt.eps = 1e-8f;
    h.clip = cli_double(VAL("--clip", "2.0"), "--clip", 0, 1e9);
    h.dropout = (float)cli_double(VAL("--dropout", "0"), "--dropout", 0, 0.99);
    h.eval_every = cli_int(VAL("--eval-every", "100"), "--eval-every", 1, 1LL << 40);
    h.eval_batches = cli_int(VAL("--eval-batches", "8"), "--eval-batches", 1, 1LL << 20);
    h.save_every = cli_int(VAL("--save-every", "500"), "--save-every", 1, 1LL << 40);
    h.sample_tokens = cli_int(VAL("--sample-tokens", "200"), "--sample-tokens", 0, 1 << 20);
    h.seed = (uint64_t)cli_int(VAL("--seed", "1"), "--seed", 0, 1LL << 62);

    /* --gpus N: this process is one rank (rank variables set) or starts the N ranks */
    int32_t world = 1, rank = 0;
    int local = 0, spawn = 0;
    char dev_rank[32], id[RETNET_DIST_ID_HEX];
    static char rank_cmd[96];
    const char *cmd_name = cli_cmd;
    if (O("--gpus")->given) {
        world = (int32_t)cli_int(O("--gpus")->value, "--gpus", 1, 1 << 16);
        if (O("--device")->given)
            FAIL("give --gpus N or --device D, not both: --gpus N trains on cuda:0 .. cuda:N-1 "
                 "(under a launcher, on each rank's cuda:LOCAL_RANK)");
        int er, ew;
        if (rank_from_env(&er, &ew, &local)) {
            if (ew != world)
                FAIL("--gpus %d, but the launcher's world size is %d; give --gpus %d", world, ew, ew);
            if (er >= ew) FAIL("rank %d of a world of %d; fix the launcher's environment", er, ew);
            rank = er;
            snprintf(rank_cmd, sizeof rank_cmd, "%s (rank %d of %d)", cli_cmd, rank, world);
            cli_cmd = rank_cmd;
        } else {
            spawn = 1;
            CHECK(retnet_dist_id(id), "train without --gpus (one GPU: --device cuda)");
        }
        snprintf(dev_rank, sizeof dev_rank, "cuda:%d", local);
    }

    /* ---- everything is checked before any work */
    const char *dir = O("--data")->value;
    char path[4200];
    retnet_dataset *data;
    CHECK(retnet_dataset_open(dir, &data), "make the data directory with 'retnet tokenize'");
    retnet_tokenizer *tok;
    CHECK(retnet_tokenizer_load(retnet_dataset_tokenizer(data), &tok),
          "the data's tokenizer (meta.json) must be loadable");
    int32_t vocab = retnet_dataset_vocab(data);
    if (retnet_tokenizer_vocab(tok) != vocab)
        FAIL("the data's vocabulary (%d) differs from its tokenizer's (%d); re-run 'retnet tokenize'",
             vocab, retnet_tokenizer_vocab(tok));
    /* each window begins with the token files' <bos>: the tokenizer's, or the model learns
     * another start than the one generate gives it */
    if (retnet_dataset_bos(data) != retnet_tokenizer_bos(tok))
        FAIL("the data's token files begin windows with bos %d, its tokenizer's <bos> is %d; "
             "re-run 'retnet tokenize'", retnet_dataset_bos(data), retnet_tokenizer_bos(tok));

    retnet_config cfg;
    retnet_model *m = NULL;
    if (O("--preset")->given) CHECK(retnet_config_preset(O("--preset")->value, &cfg), "pick a listed preset");
    else if (O("--config")->given) CHECK(retnet_config_load(O("--config")->value, &cfg), "fix the config file");
    if (O("--resume")->given) {
        retnet_config run;
        snprintf(path, sizeof path, "%s/model.safetensors", O("--resume")->value);
        CHECK(retnet_checkpoint_config(path, NULL, &run), "give the directory of an earlier run");
        char a[4096], b[4096];
        retnet_config_to_json(&run, a, sizeof a);
        retnet_config_to_json(&cfg, b, sizeof b);
        if ((O("--preset")->given || O("--config")->given) && strcmp(a, b))
            FAIL("the run in %s is a different model than the one given (its config: %s); "
                 "resume without --preset/--config or start a new run", O("--resume")->value, a);
        cfg = run;
    }
    const char *resume = O("--resume")->given ? O("--resume")->value : NULL;
    const char *log_path = O("--log")->given ? O("--log")->value : NULL;
    check_out_dir(out, resume, log_path, O("--force")->given);
    if (log_path) { /* the log is never one of the run's inputs, --force or not */
        if (O("--config")->given) cli_refuse_same(log_path, "--log", O("--config")->value, "--config");
        static const char *const ins[] = {"meta.json", "train.bin", "val.bin", "tokenizer.bpe",
                                          "model.safetensors", "state.safetensors"};
        for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
            char p[4200];
            snprintf(p, sizeof p, "%s/%s", dir, ins[i]);
            if (i < 4) cli_refuse_same(log_path, "--log", p, "--data");
            snprintf(p, sizeof p, "%s/%s", resume ? resume : out, ins[i]);
            if (i >= 4 && resume) cli_refuse_same(log_path, "--log", p, "--resume");
        }
    }
    /* a Transformer's sample needs its prompt and tokens inside the KV cache: found out at
     * the first evaluation otherwise, after the training (and before its save) */
    if (cfg.arch == RETNET_ARCH_TRANSFORMER && h.sample_tokens + 1 > cfg.context)
        FAIL("--sample-tokens %d does not fit the Transformer's context of %d; give "
             "--sample-tokens %d or less (or 0)", (int)h.sample_tokens, cfg.context,
             cfg.context - 1);
    if (cfg.vocab != vocab)
        FAIL("the model's vocabulary (%d) differs from the data's (%d, tokenizer %s); use a "
             "config with \"vocab\": %d", cfg.vocab, vocab, retnet_dataset_tokenizer(data), vocab);
    retnet_loader *train, *val;
    CHECK(retnet_loader_open(data, "train", h.seq, h.seed, &train),
          "use more data or a shorter --seq");
    CHECK(retnet_loader_open(data, "val", h.seq, h.seed, &val),
          "use more validation data or a shorter --seq");
    if (spawn) { /* everything above is checked once, here; the ranks do the rest */
        retnet_loader_free(train), retnet_loader_free(val);
        retnet_dataset_free(data), retnet_tokenizer_free(tok);
        return launch_ranks(world, id, argc, argv);
    }
    CHECK(retnet_model_create(&cfg, &m), "use a smaller model");
    int64_t np = retnet_config_param_count(&cfg);
    int64_t win = (int64_t)h.batch * h.seq;
    /* each micro-batch draws world x batch windows; this rank's are [rank win, (rank+1) win) */
    int32_t *in = malloc(sizeof(int32_t) * (size_t)(win * world));
    int32_t *tg = malloc(sizeof(int32_t) * (size_t)(win * world));
    float *logits = malloc(sizeof(float) * (size_t)win * (size_t)vocab);
    if (!in || !tg || !logits) FAIL("out of memory; use a smaller --batch or --seq");
    const char *device = O("--gpus")->given ? dev_rank : VAL("--device", "cpu");
    /* a distributed trainer copies rank 0's weights to every rank: the others need none */
    if (!O("--resume")->given && rank == 0) CHECK(retnet_model_init(m, h.seed), "");
    CHECK(retnet_model_to_device(m, device), "use --device cpu, or a CUDA build on a machine "
          "with a GPU");
    retnet_trainer *trainer = NULL;
    if (O("--gpus")->given) {
        retnet_dist dd = {.rank = rank, .world = world, .id = getenv("RETNET_DIST_ID"),
                          .id_file = getenv("RETNET_DIST_ID_FILE"), .micro_batches = h.accum};
        CHECK(retnet_trainer_create_dist(m, &dd, &trainer),
              "every rank must start, each on a GPU of its own; under a launcher set "
              "RETNET_DIST_ID_FILE or NCCL_COMM_ID (see --help)");
    } else {
        CHECK(retnet_trainer_create(m, &trainer), "use a smaller model");
    }

    int64_t step = 0, tokens_seen = 0;
    FILE *logf = NULL;
    if (O("--resume")->given) {
        char js[4096], v[512];
        snprintf(path, sizeof path, "%s/state.safetensors", O("--resume")->value);
        CHECK(retnet_trainer_load(trainer, path, &step, js, sizeof js),
              "resume an intact state of a run of this same model, or start a new run");
        /* the saved numbers in 64 bits: a hostile file's product must not overflow */
        long long saved_gpus = json_field(js, "gpus", v, sizeof v) ? meta_int(v) : 1;
        if (saved_gpus < 1 || saved_gpus > 1 << 20)
            FAIL("%s: the training state's \"gpus\" (%s) is not a GPU count", path, v);
        if (json_field(js, "batch", v, sizeof v)) {
            const long long sb = meta_int(v);
            if (sb < 1 || sb > 1 << 30)
                FAIL("%s: the training state's \"batch\" (%s) is not a batch size", path, v);
            if (sb * saved_gpus != (long long)h.batch * world)
                FAIL("the run used a global batch of %lld windows (--batch %s x %lld GPU%s); "
                     "resume with the same (--batch x --gpus)", sb * saved_gpus, v, saved_gpus,
                     saved_gpus == 1 ? "" : "s");
        }
        if (json_field(js, "seq", v, sizeof v) && meta_int(v) != h.seq)
            FAIL("the run used --seq %s; resume with the same", v);
        if (json_field(js, "accum", v, sizeof v) && meta_int(v) != h.accum)
            FAIL("the run used --accum %s; resume with the same", v);
        if (!json_field(js, "loader", v, sizeof v) || retnet_loader_state_parse(train, v))
            FAIL("%s: the data position in the training state does not fit this data; resume "
                 "with the same --data", path);
        if (json_field(js, "tokens_seen", v, sizeof v)) tokens_seen = meta_int(v);
        if (tokens_seen < 0 || tokens_seen > ((int64_t)1 << 62))
            FAIL("%s: the training state's tokens_seen (%lld) is out of range", path,
                 (long long)tokens_seen);
        if (step >= h.steps) {
            if (rank == 0)
                fprintf(stderr, "%s: already at step %lld of %lld; nothing to do\n", cmd_name,
                        (long long)step, (long long)h.steps);
            retnet_trainer_free(trainer);
            return 0;
        }
    }
    /* the run directory, then the log (it may live inside it); a log that cannot be written
     * removes a run directory made just now */
    struct stat sb;
    int existed = stat(out, &sb) == 0;
    if (rank == 0) {
        ensure_dir(out);
        lock_run_dir(out);
        check_out_dir(out, resume, log_path, O("--force")->given); /* again, under the lock */
    }
    if (rank == 0 && O("--log")->given) {
        char d[4200];
        cli_split_path(O("--log")->value, d, sizeof d);
        if (access(d, W_OK)) {
            if (!existed) rmdir(out);
            FAIL("cannot write the log '%s': its directory is not writable; give a writable "
                 "--log path", O("--log")->value);
        }
    }
    if (rank == 0 && O("--force")->given) {
        if (log_path) probe_log(log_path);
        replace_run(out, resume, resume ? NULL : log_path);
    }
    if (rank == 0 && log_path) logf = open_log(log_path, step, argc, argv);
    char dev_desc[128];
    if (!strcmp(retnet_trainer_device(trainer), "cpu"))
        snprintf(dev_desc, sizeof dev_desc, "%d threads", retnet_threads());
    else if (O("--gpus")->given)
        snprintf(dev_desc, sizeof dev_desc, "on %d GPU%s (NCCL; bf16 products, fp32 master "
                 "weights, AdamW moments sharded)", world, world == 1 ? "" : "s");
    else
        snprintf(dev_desc, sizeof dev_desc, "on %s (bf16 products, fp32 master weights)",
                 retnet_trainer_device(trainer));
    char gpus_desc[32] = "";
    if (O("--gpus")->given) snprintf(gpus_desc, sizeof gpus_desc, " x %d GPUs", world);
    /* decoupled weight decay multiplies each 2-D weight by 1 - lr*wd every step: at 1 or
     * more it zeroes or flips them all. Only a warning: a run may want the blow-up (the tests
     * provoke divergence so). In float, as the optimizers compute it (src/optim.c,
     * src/cuda/optim.cu): a product just below 1 in double can round to 1 there. */
    const float shrink = 1.0f - (float)h.lr * h.opt.weight_decay;
    if (rank == 0 && shrink <= 0)
        fprintf(stderr, "%s: warning: --lr %g times --wd %g is %g, not below 1: each step at "
                "the peak learning rate the weight decay multiplies every 2-D weight by 1 - lr*wd "
                "= %g (%s); lower --lr or --wd\n", cmd_name, h.lr, (double)h.opt.weight_decay,
                h.lr * (double)h.opt.weight_decay, (double)shrink,
                shrink < 0 ? "flipping its sign" : "zeroing it");
    if (rank == 0)
        fprintf(stderr, "%s: %lld parameters, %s form, batch %d x %d tokens x %d%s, steps "
                "%lld..%lld, %s\n", cmd_name, (long long)np, retnet_form_name(h.form), h.batch,
                h.seq, h.accum, gpus_desc, (long long)step + 1, (long long)h.steps, dev_desc);
    signal(SIGINT, on_sigint);
    int tty = cli_isatty_stderr();
    double t_start = cli_now(), t_last = t_start;
    int64_t step_first = step;
    retnet_train_opts to = {.form = h.form, .chunk = h.chunk, .dropout = h.dropout};
    const float scale = 1.0f / (float)((double)win * h.accum);
    while (step < h.steps) {
        step++;
        double lr = retnet_lr_schedule(step, h.steps, h.warmup, h.lr, h.min_lr, h.cosine);
        h.opt.lr = (float)lr;
        CHECK(retnet_trainer_zero_grad(trainer), "");
        double loss = 0;
        int64_t count = 0;
        for (int32_t a = 0; a < h.accum; a++) {
            retnet_loader_next_random(train, in, tg, h.batch * world);
            double ls;
            int64_t cn;
            to.seed = h.seed * 0x9e3779b97f4a7c15ull + (uint64_t)step * 1000003u + (uint64_t)a;
            CHECK(retnet_trainer_accumulate(trainer, in + rank * win, tg + rank * win, h.batch,
                                            h.seq, &to, scale, &ls, &cn), "");
            loss += ls;
            count += cn;
        }
        /* over all ranks: the loss, the count, and whether any rank wants to stop (Ctrl-C,
         * --time): all ranks then stop at this step together */
        double sums[3] = {loss, (double)count,
                          interrupted || (h.time_limit_s > 0 && cli_now() - t_start >= h.time_limit_s)};
        CHECK(retnet_trainer_sum(trainer, sums, 3), "");
        loss = sums[0] / (sums[1] > 0 ? sums[1] : 1);
        const int stop = sums[2] > 0;
        double gnorm = 0;
        CHECK(retnet_trainer_grad_norm(trainer, &gnorm), "");
        if (!isfinite(loss) || !isfinite(gnorm)) {
            if (tty) fputc('\n', stderr);
            FAIL("step %lld: the %s is %s; stopped without updating, the last checkpoint in %s "
                 "is intact; lower --lr or raise --warmup", (long long)step,
                 isfinite(loss) ? "gradient norm" : "loss", isnan(isfinite(loss) ? gnorm : loss) ? "NaN" : "Inf",
                 out);
        }
        float clip = h.clip > 0 && gnorm > h.clip ? (float)(h.clip / gnorm) : 1.0f;
        CHECK(retnet_trainer_update(trainer, step, &h.opt, clip), "");
        tokens_seen += win * h.accum * world;

        double now = cli_now(), el = now - t_start;
        double tps = (double)(step - step_first) * win * h.accum * world / el;
        double eta = (double)(h.steps - step) * el / (double)(step - step_first);
        if (h.time_limit_s > 0 && h.time_limit_s - el < eta) eta = h.time_limit_s - el;
        int do_eval = rank == 0 && (step % h.eval_every == 0 || step == h.steps);
        double vloss = NAN;
        if (do_eval) vloss = evaluate(m, val, &h, in, tg, logits, vocab);
        if (do_eval && !isfinite(vloss)) { /* the update diverged: its weights are not saved */
            if (tty) fputc('\n', stderr);
            FAIL("step %lld: the validation loss is %s after the update: the weights diverged; "
                 "stopped without saving them, the last checkpoint in %s is intact; lower --lr, "
                 "--wd or raise --warmup", (long long)step, isnan(vloss) ? "NaN" : "Inf", out);
        }
        /* a save writes the weights as they are: the loss guard above saw them before this
         * update and the val-loss guard only on eval steps, so they are checked here (rank 0
         * syncs a GPU's master weights into the host model, which the save then writes without
         * another copy; every rank learns the verdict, so that all stop together) */
        const int do_save = step % h.save_every == 0 || step == h.steps || stop;
        if (do_save) {
            const char *bad = NULL, *what = "";
            if (rank == 0) {
                CHECK(retnet_trainer_sync(trainer), "");
                bad = nonfinite_tensor(m, &what);
            }
            double nbad = bad != NULL;
            CHECK(retnet_trainer_sum(trainer, &nbad, 1), "");
            if (nbad > 0) {
                if (tty) fputc('\n', stderr);
                FAIL("step %lld: the weights diverged (%s%s%s) after the update; stopped without "
                     "saving them, the last checkpoint in %s is intact; lower --lr, --wd or raise "
                     "--warmup", (long long)step, bad ? what : "found by rank 0",
                     bad ? " in " : "", bad ? bad : "", out);
            }
        }
        if (logf) {
            fprintf(logf, "{\"step\": %lld, \"loss\": %.17g, \"lr\": %.9g, \"grad_norm\": %.9g, "
                    "\"tokens_per_s\": %.1f, \"tokens\": %lld, \"elapsed_s\": %.3f",
                    (long long)step, loss, lr, gnorm, tps, (long long)tokens_seen, el);
            if (do_eval) fprintf(logf, ", \"val_loss\": %.17g", vloss);
            fprintf(logf, "}\n");
            fflush(logf);
        }
        if (rank == 0 && (tty || do_eval || now - t_last > 10 || step == step_first + 1)) {
            fprintf(stderr, "%sstep %lld/%lld  loss %.4f  lr %.3g  |g| %.3g  %.0f tok/s  ETA %.0fs%s",
                    tty ? "\r\033[K" : "", (long long)step, (long long)h.steps, loss, lr, gnorm,
                    tps, eta, tty ? "" : "\n");
            t_last = now;
        }
        if (do_eval) {
            fprintf(stderr, "%sstep %lld: val loss %.4f (%.3f bits/token)\n", tty ? "\n" : "",
                    (long long)step, vloss, vloss / log(2.0));
            if (h.sample_tokens > 0) sample(m, tok, h.sample_tokens, h.seed + (uint64_t)step, stderr);
        }
        if (do_save) {
            save(m, trainer, out, step, &h, train, tokens_seen);
            if (rank == 0 && tty && !do_eval) fprintf(stderr, "\n");
            if (rank == 0)
                fprintf(stderr, "step %lld: saved %s/model.safetensors and state.safetensors\n",
                        (long long)step, out);
        }
        if (stop && rank != 0) break;
        if (stop) {
            if (!do_eval) { /* a last measurement for the user (not logged: the log of a
                               resumed run must equal an uninterrupted one) */
                double v = evaluate(m, val, &h, in, tg, logits, vocab);
                fprintf(stderr, "step %lld: val loss %.4f (%.3f bits/token)\n", (long long)step,
                        v, v / log(2.0));
                if (h.sample_tokens > 0) sample(m, tok, h.sample_tokens, h.seed + (uint64_t)step, stderr);
            }
            fprintf(stderr, "%s at step %lld; continue with --resume %s\n",
                    interrupted ? "interrupted" : "time limit reached", (long long)step, out);
            break;
        }
    }
    if (logf) fclose(logf);
    free(in), free(tg), free(logits);
    retnet_trainer_free(trainer);
    retnet_loader_free(train);
    retnet_loader_free(val);
    retnet_dataset_free(data);
    retnet_tokenizer_free(tok);
    retnet_model_free(m);
    return 0;
#undef O
#undef VAL
}
