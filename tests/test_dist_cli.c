/*
 * test_dist_cli: `retnet train --gpus N` as a user meets it without a GPU. Runs the binary
 * built next to this test (../retnet relative to this binary) with fork + exec (no shell),
 * with the environment a launcher would set where a case needs it, and checks the exit
 * status, that every failure is one line on stderr saying what is wrong, and that nothing
 * was written.
 *   - a build without CUDA: --gpus fails at once, before reading any data, saying that
 *     multi-GPU training needs a CUDA build; the same under a launcher's rank variables;
 *   - any build: --gpus with --device, --gpus 0, a launcher's world size that differs from
 *     --gpus, a rank variable without its size, a dropout out of range: refused with a
 *     reason.
 * The GPU side (NCCL, the trainer) is tests/cuda/test_cuda_dist.c.
 */
#include "test.h"
#include "cli_run.h"

#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char retnet[4096], tmpdir[256];

typedef struct {
    int status;
    char err[8192];
} result;

/* Variables a launcher sets: removed from the environment of every run unless a case sets
 * them, so that the test does not depend on where it runs. */
static const char *const rank_vars[] = {
    "RETNET_RANK", "RETNET_WORLD_SIZE", "RETNET_LOCAL_RANK", "RETNET_DIST_ID",
    "RETNET_DIST_ID_FILE", "RANK", "WORLD_SIZE", "LOCAL_RANK", "OMPI_COMM_WORLD_RANK",
    "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", NULL};

/* Runs retnet with args (NULL-terminated) and extra environment entries ("K=V", NULL-
 * terminated, may be NULL); stdout is discarded, stderr captured. */
static result run(const char *const *args, const char *const *env) {
    result r = {0};
    char *argv[64], *envp[512];
    int na = 0, ne = 0;
    argv[na++] = retnet;
    for (; args[na - 1] && na < 63; na++) argv[na] = (char *)args[na - 1];
    argv[na] = NULL;
    for (char **e = environ; *e && ne < 480; e++) {
        int drop = 0;
        for (int k = 0; rank_vars[k] && !drop; k++) {
            size_t n = strlen(rank_vars[k]);
            drop = !strncmp(*e, rank_vars[k], n) && (*e)[n] == '=';
        }
        if (!drop) envp[ne++] = *e;
    }
    envp[ne++] = "ASAN_OPTIONS=detect_leaks=0"; /* the CLI exits without freeing, by design */
    for (int k = 0; env && env[k] && ne < 510; k++) envp[ne++] = (char *)env[k];
    envp[ne] = NULL;
    int fd[2];
    if (pipe(fd)) {
        r.status = -1;
        return r;
    }
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1), dup2(fd[1], 2);
        close(fd[0]), close(fd[1]);
        execve(retnet, argv, envp);
        _exit(127);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t n;
    while ((n = read(fd[0], r.err + got, sizeof r.err - 1 - got)) > 0) got += (size_t)n;
    r.err[got] = 0;
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    r.status = test_exit_status(st);
    return r;
}


/* A failure: non-zero status (not a crash), one line on stderr containing `phrase`, and no
 * run directory made. */
static void expect_error(const char *what, const char *const *args, const char *const *env,
                         const char *phrase) {
    char out[512];
    snprintf(out, sizeof out, "%s/run", tmpdir);
    result r = run(args, env);
    CHECK(r.status != 0 && r.status < 128, "%s: status %d", what, r.status);
    CHECK(test_count_lines(r.err) == 1, "%s: want one line on stderr, got:\n%s", what, r.err);
    CHECK(strstr(r.err, phrase) != NULL, "%s: stderr lacks '%s':\n%s", what, phrase, r.err);
    struct stat sb;
    CHECK(stat(out, &sb) != 0, "%s: the run directory was made", what);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_no_cuda(void) {
#ifdef RETNET_CUDA
    fprintf(stderr, "     (a CUDA build: the CPU-only refusals are not this build's)\n");
#else
    char out[512];
    snprintf(out, sizeof out, "%s/run", tmpdir);
    /* the data does not exist: --gpus is refused before it is read */
    expect_error("--gpus 2", ARGS("train", "--gpus", "2", "--data", "/nonexistent-data",
                                  "--preset", "tiny", "--out", out, "--steps", "1"),
                 NULL, "needs a CUDA build");
    expect_error("--gpus 1", ARGS("train", "--gpus", "1", "--data", "/nonexistent-data",
                                  "--preset", "tiny", "--out", out, "--steps", "1"),
                 NULL, "make CUDA=1");
#endif
}

static void test_refused(void) {
    char out[512];
    snprintf(out, sizeof out, "%s/run", tmpdir);
    expect_error("--gpus with --device",
                 ARGS("train", "--gpus", "2", "--device", "cuda:1", "--data", "/nonexistent-data",
                      "--preset", "tiny", "--out", out, "--steps", "1"),
                 NULL, "not both");
    expect_error("--gpus 0", ARGS("train", "--gpus", "0", "--data", "/nonexistent-data",
                                  "--preset", "tiny", "--out", out, "--steps", "1"),
                 NULL, "--gpus '0'");
    expect_error("--gpus with dropout 1.5",
                 ARGS("train", "--gpus", "2", "--dropout", "1.5", "--data", "/nonexistent-data",
                      "--preset", "tiny", "--out", out, "--steps", "1"),
                 NULL, "--dropout");
    expect_error("a launcher's world of 3 for --gpus 2",
                 ARGS("train", "--gpus", "2", "--data", "/nonexistent-data", "--preset", "tiny",
                      "--out", out, "--steps", "1"),
                 ARGS("RANK=1", "WORLD_SIZE=3", "LOCAL_RANK=1"), "world size is 3");
    expect_error("Open MPI's rank without its size",
                 ARGS("train", "--gpus", "2", "--data", "/nonexistent-data", "--preset", "tiny",
                      "--out", out, "--steps", "1"),
                 ARGS("OMPI_COMM_WORLD_RANK=0"), "OMPI_COMM_WORLD_SIZE");
    expect_error("a malformed rank",
                 ARGS("train", "--gpus", "2", "--data", "/nonexistent-data", "--preset", "tiny",
                      "--out", out, "--steps", "1"),
                 ARGS("RETNET_RANK=x", "RETNET_WORLD_SIZE=2"), "RETNET_RANK");
    result r = run(ARGS("train", "--help"), NULL);
    CHECK(r.status == 0, "train --help: status %d", r.status);
}

int main(int argc, char **argv) {
    (void)argc;
    char self[4096];
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(retnet, sizeof retnet, "%s/../retnet", dirname(self));
    snprintf(tmpdir, sizeof tmpdir, "/tmp/retnet-test-dist-cli.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_no_cuda);
    RUN(test_refused);
    rmdir(tmpdir);
    return TEST_SUMMARY();
}
