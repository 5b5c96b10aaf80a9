/*
 * fuzz_data: the token-file and dataset readers (src/data.c). The first input byte picks:
 *   0 mod 3: the rest is a token file: retnet_tokfile_open, check_ids, read, and when it
 *            opens as a loader (T = 2 and 3, with and without bos) every sequential window,
 *            random windows, and the loader state written and parsed back;
 *   1 mod 3: the rest is the meta.json of a dataset directory whose train.bin and val.bin
 *            are valid (made once): retnet_dataset_open, and a loader over each split;
 *   2 mod 3: the rest is a loader state string for retnet_loader_state_parse.
 * Properties: failures name the file; windows hold ids in [0, vocab) or -1 targets.
 */
#include "fuzz_common.h"
#include "data.h"

#include <sys/stat.h>

static char ds_dir[512], tok_ok[512];

static void make_tokfile(const char *path, int32_t vocab, int32_t bos, int64_t n) {
    retnet_tokfile_writer *w;
    if (retnet_tokfile_create(path, vocab, bos, &w) != RETNET_OK) abort();
    for (int64_t i = 0; i < n; i++) {
        int32_t id = (int32_t)((i * 7 + 3) % vocab);
        if (retnet_tokfile_append(w, &id, 1) != RETNET_OK) abort();
    }
    if (retnet_tokfile_finish(w) != RETNET_OK) abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    char p[512];
    fuzz_path(ds_dir, "ds");
    mkdir(ds_dir, 0700);
    make_tokfile(fuzz_path(p, "ds/train.bin"), 260, 256, 40);
    make_tokfile(fuzz_path(p, "ds/val.bin"), 260, 256, 9);
    make_tokfile(fuzz_path(tok_ok, "ok.bin"), 300, -1, 50);
    return 0;
}

static void use_loader(retnet_loader *l, int32_t vocab) {
    int32_t T = retnet_loader_T(l);
    int32_t tok[4 * 8], tgt[4 * 8];
    retnet_loader_next_random(l, tok, tgt, 4);
    for (int i = 0; i < 4 * T; i++)
        FUZZ_CHECK(tok[i] >= 0 && tok[i] < vocab && tgt[i] >= 0 && tgt[i] < vocab, "random window ids");
    retnet_loader_state st;
    retnet_loader_get_state(l, &st);
    int64_t w = retnet_loader_windows(l) - st.next_window, seen = 0;  /* from where it stands */
    int32_t k;
    while ((k = retnet_loader_next_sequential(l, tok, tgt, 4)) > 0) {
        for (int i = 0; i < k * T; i++)
            FUZZ_CHECK(tok[i] >= 0 && tok[i] < vocab && tgt[i] >= -1 && tgt[i] < vocab, "sequential window ids");
        seen += k;
        FUZZ_CHECK(seen <= w, "more windows than %lld", (long long)w);
    }
    FUZZ_CHECK(seen == w, "%lld windows of %lld", (long long)seen, (long long)w);
    char s[256];
    int n = retnet_loader_state_str(l, s, sizeof s);
    FUZZ_CHECK(n > 0 && n < (int)sizeof s, "state string");
    FUZZ_CHECK(retnet_loader_state_parse(l, s) == RETNET_OK, "state %s does not parse back: %s", s, retnet_errmsg());
    retnet_loader_rewind(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    char path[512];
    int mode = data[0] % 3;
    if (mode == 0) {
        fuzz_path(path, "in.bin");
        fuzz_write(path, d, n);
        retnet_tokfile *f = (retnet_tokfile *)1;
        retnet_status s = retnet_tokfile_open(path, 0, &f);
        if (s != RETNET_OK) {
            FUZZ_CHECK(f == NULL, "open failed but gave a file");
            fuzz_check_failure(s, path);
            return 0;
        }
        int32_t V = retnet_tokfile_vocab(f);
        int64_t count = retnet_tokfile_count(f);
        FUZZ_CHECK(V >= 1 && count >= 0 && retnet_tokfile_bos(f) >= -1 && retnet_tokfile_bos(f) < V, "header");
        int ids_ok = retnet_tokfile_check_ids(f) == RETNET_OK;
        if (!ids_ok) fuzz_check_failure(RETNET_EFORMAT, path);
        int32_t ids[16];
        int64_t k = count < 16 ? count : 16;
        FUZZ_CHECK(retnet_tokfile_read(f, 0, k, ids) == RETNET_OK, "read");
        FUZZ_CHECK(retnet_tokfile_read(f, count, 1, ids) != RETNET_OK, "read past the end");
        retnet_tokfile_close(f);
        for (int T = 2; T <= 3; T++)
            for (int bos = 0; bos <= 1; bos++) {
                retnet_loader *l = NULL;
                s = retnet_loader_open_file(path, 0, T, bos, 42, &l);
                if (s != RETNET_OK) {
                    fuzz_check_failure(s, path);
                    continue;
                }
                FUZZ_CHECK(ids_ok, "a loader opened a file with bad ids");
                use_loader(l, V);
                retnet_loader_free(l);
            }
    } else if (mode == 1) {
        fuzz_write(fuzz_path(path, "ds/meta.json"), d, n);
        retnet_dataset *ds = (retnet_dataset *)1;
        retnet_status s = retnet_dataset_open(ds_dir, &ds);
        if (s != RETNET_OK) {
            FUZZ_CHECK(ds == NULL, "open failed but gave a dataset");
            FUZZ_CHECK(retnet_errmsg()[0], "no message");
            return 0;
        }
        retnet_dataset_tokenizer(ds);
        for (int k = 0; k < 2; k++) {
            retnet_loader *l = NULL;
            if (retnet_loader_open(ds, k ? "val" : "train", 2, 7, &l) == RETNET_OK) {
                use_loader(l, retnet_dataset_vocab(ds));
                retnet_loader_free(l);
            }
        }
        retnet_dataset_free(ds);
    } else {
        retnet_loader *l = NULL;
        if (retnet_loader_open_file(tok_ok, 0, 2, 0, 1, &l) != RETNET_OK) abort();
        char *s = malloc(n + 1);
        memcpy(s, d, n);
        s[n] = 0;
        if (retnet_loader_state_parse(l, s) == RETNET_OK) use_loader(l, 300);
        else FUZZ_CHECK(retnet_errmsg()[0], "no message");
        free(s);
        retnet_loader_free(l);
    }
    return 0;
}
