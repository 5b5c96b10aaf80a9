/*
 * test_data: token files (write/read round trip, every header check), the window loaders
 * (<bos> prepending, reproducible random windows, bit-identical resume from a saved state,
 * sequential windows covering a split exactly once), text cutting, dataset directories made
 * by retnet_dataset_build, and SHA-256 against the standard's test vectors.
 */
#include "test.h"
#include "data.h"

#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static char *path_in(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static char *read_whole(const char *path, int64_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    if (b) b[n] = 0;
    if (len) *len = n;
    return b;
}

static void write_whole(const char *path, const void *s, int64_t n) {
    FILE *f = fopen(path, "wb");
    if (f) { fwrite(s, 1, (size_t)n, f); fclose(f); }
}

/* Writes ids 0..n-1 (mod vocab) as a token file. */
static void make_file(const char *path, int32_t vocab, int32_t bos, int64_t n) {
    retnet_tokfile_writer *w;
    CHECK(retnet_tokfile_create(path, vocab, bos, &w) == RETNET_OK, "%s", retnet_errmsg());
    int32_t buf[1000];
    for (int64_t i = 0; i < n;) {
        int64_t k = n - i < 1000 ? n - i : 1000;
        for (int64_t j = 0; j < k; j++) buf[j] = (int32_t)((i + j) % vocab);
        CHECK(retnet_tokfile_append(w, buf, k) == RETNET_OK, "%s", retnet_errmsg());
        i += k;
    }
    CHECK(retnet_tokfile_finish(w) == RETNET_OK, "%s", retnet_errmsg());
}

/* ---------------------------------------------------------------- sha256 */

static void test_sha256(void) {
    char hex[65];
    retnet_sha256_hex("", 0, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "'': %s", hex);
    retnet_sha256_hex("abc", 3, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "abc: %s", hex);
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    retnet_sha256_hex(m, (int64_t)strlen(m), hex);
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "448 bits: %s", hex);
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    retnet_sha256_hex(a, 1000000, hex);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "a*1e6: %s", hex);
    /* the padding edge cases (sha256sum) */
    static const struct { int n; const char *h; } v[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        retnet_sha256_hex(a, v[i].n, hex);
        CHECK(!strcmp(hex, v[i].h), "a*%d: %s", v[i].n, hex);
    }
    free(a);
}

/* ---------------------------------------------------------------- token files */

static void roundtrip(int32_t vocab, int32_t bos, int64_t n, int width) {
    const char *p = path_in("rt.bin");
    retnet_tokfile_writer *w;
    CHECK(retnet_tokfile_create(p, vocab, bos, &w) == RETNET_OK, "%s", retnet_errmsg());
    uint64_t rng = 3;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(n + 1));
    for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)((test_rand(&rng) + 1) / 2 * vocab);
    /* in uneven pieces, and an empty one */
    int64_t a = n / 3, b = n / 3 + 7 < n ? n / 3 + 7 : n;
    CHECK(retnet_tokfile_append(w, ids, a) == RETNET_OK && retnet_tokfile_append(w, ids + a, 0) == RETNET_OK &&
          retnet_tokfile_append(w, ids + a, b - a) == RETNET_OK &&
          retnet_tokfile_append(w, ids + b, n - b) == RETNET_OK, "%s", retnet_errmsg());
    CHECK(retnet_tokfile_written(w) == n, "written");
    CHECK(access(p, F_OK) != 0, "the file exists before finish (not atomic)");
    CHECK(retnet_tokfile_finish(w) == RETNET_OK, "%s", retnet_errmsg());
    struct stat st;
    CHECK(stat(p, &st) == 0 && st.st_size == 64 + n * width, "size %lld, want %lld",
          (long long)st.st_size, (long long)(64 + n * width));
    retnet_tokfile *f;
    CHECK(retnet_tokfile_open(p, vocab, &f) == RETNET_OK, "%s", retnet_errmsg());
    if (f) {
        CHECK(retnet_tokfile_count(f) == n && retnet_tokfile_vocab(f) == vocab && retnet_tokfile_bos(f) == bos,
              "header fields");
        int32_t *back = malloc(sizeof(int32_t) * (size_t)(n + 1));
        CHECK(retnet_tokfile_read(f, 0, n, back) == RETNET_OK && !memcmp(back, ids, 4 * (size_t)n),
              "ids differ after the round trip (vocab %d)", vocab);
        CHECK(retnet_tokfile_check_ids(f) == RETNET_OK, "%s", retnet_errmsg());
        CHECK(retnet_tokfile_read(f, n - 1, 2, back) == RETNET_EINVAL, "read past the end");
        free(back);
        retnet_tokfile_close(f);
    }
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    CHECK(access(tmp, F_OK) != 0, "temp file left behind");
    free(ids);
    unlink(p);
}

static void test_tokfile_roundtrip(void) {
    roundtrip(260, 256, 100000, 2);
    roundtrip(50257, 50256, 3000, 2);
    roundtrip(65536, -1, 3000, 2);
    roundtrip(65537, 0, 3000, 4);
    roundtrip(1000000, 999999, 3000, 4);
    roundtrip(260, 256, 0, 2);
    /* bad ids and arguments */
    retnet_tokfile_writer *w;
    CHECK(retnet_tokfile_create(path_in("bad.bin"), 260, 256, &w) == RETNET_OK, "create");
    int32_t bad[] = {1, 2, 260};
    CHECK(retnet_tokfile_append(w, bad, 3) == RETNET_EINVAL && strstr(retnet_errmsg(), "260"),
          "id 260: %s", retnet_errmsg());
    retnet_tokfile_abort(w);
    CHECK(access(path_in("bad.bin"), F_OK) != 0, "abort left a file");
    CHECK(retnet_tokfile_create(path_in("bad.bin"), 260, 260, &w) == RETNET_EINVAL, "bos 260");
    CHECK(retnet_tokfile_create("/nonexistent/dir/x.bin", 260, 256, &w) == RETNET_EIO &&
          strstr(retnet_errmsg(), "/nonexistent/dir/x.bin"), "unwritable: %s", retnet_errmsg());
}

/* Opening path fails with st and a message holding phrase. */
static void expect_open_fails(const char *path, int32_t vocab, retnet_status st, const char *phrase) {
    retnet_tokfile *f = (retnet_tokfile *)1;
    retnet_status got = retnet_tokfile_open(path, vocab, &f);
    CHECK(got == st && f == NULL, "%s: status %s want %s", phrase, retnet_status_name(got), retnet_status_name(st));
    CHECK(strstr(retnet_errmsg(), phrase) != NULL, "message \"%s\" lacks \"%s\"", retnet_errmsg(), phrase);
}

static void test_tokfile_header(void) {
    const char *p = path_in("h.bin"), *q = path_in("h2.bin");
    make_file(p, 260, 256, 1000);
    int64_t n;
    unsigned char *good = (unsigned char *)read_whole(p, &n);
    CHECK(good && n == 64 + 2000, "file size %lld", (long long)n);
    if (!good) return;
    CHECK(!memcmp(good, "RTNTOK1\0", 8) && good[8] == 1 && good[12] == 4 && good[13] == 1 &&
          good[16] == 0xe8 && good[17] == 3 && good[24] == 2 && good[28] == 0 && good[29] == 1,
          "header bytes (docs/TOKENIZER.md)");
    unsigned char *b = malloc((size_t)n);
#define VARIANT(edit, len, vocab, st, phrase)                                            \
    do {                                                                                 \
        memcpy(b, good, (size_t)n);                                                      \
        edit;                                                                            \
        write_whole(q, b, len);                                                          \
        expect_open_fails(q, vocab, st, phrase);                                         \
    } while (0)
    VARIANT((void)0, n - 1, 0, RETNET_EFORMAT, "truncated");
    VARIANT((void)0, n - 1000, 0, RETNET_EFORMAT, "truncated");
    VARIANT((void)0, 40, 0, RETNET_EFORMAT, "shorter than the 64-byte header");
    VARIANT((void)0, 0, 0, RETNET_EFORMAT, "truncated");
    VARIANT(b[0] = 'X', n, 0, RETNET_EFORMAT, "not a token file");
    VARIANT(b[8] = 2, n, 0, RETNET_EUNSUPPORTED, "version 2");
    VARIANT(b[24] = 4, n, 0, RETNET_EFORMAT, "dtype");
    VARIANT((b[12] = 0, b[13] = 0), n, 0, RETNET_EFORMAT, "vocabulary 0");
    VARIANT(b[28] = 5, n, 0, RETNET_EFORMAT, "bos id 261");
    VARIANT(b[40] = 1, n, 0, RETNET_EFORMAT, "reserved");
    VARIANT(b[23] = 0x80, n, 0, RETNET_EFORMAT, "truncated");
    VARIANT(b[16] = 0xe7, n, 0, RETNET_EFORMAT, "after the 999 tokens");
    VARIANT((void)0, n, 50257, RETNET_EFORMAT, "expected 50257");
    expect_open_fails(path_in("nonexistent.bin"), 0, RETNET_EIO, "nonexistent.bin");
    /* an id out of range: the header is fine, the ids check is not */
    memcpy(b, good, (size_t)n);
    b[64 + 2 * 500] = 0x2c; /* id 500 -> 300 */
    b[64 + 2 * 500 + 1] = 0x01;
    write_whole(q, b, n);
    retnet_tokfile *f;
    CHECK(retnet_tokfile_open(q, 260, &f) == RETNET_OK, "%s", retnet_errmsg());
    if (f) {
        CHECK(retnet_tokfile_check_ids(f) == RETNET_EFORMAT && strstr(retnet_errmsg(), "token 500 is 300"),
              "bad id: %s", retnet_errmsg());
        retnet_tokfile_close(f);
    }
    retnet_loader *l = (retnet_loader *)1;
    CHECK(retnet_loader_open_file(q, 260, 16, 1, 1, &l) == RETNET_EFORMAT && !l, "loader on a bad id");
#undef VARIANT
    free(b);
    free(good);
    unlink(p);
    unlink(q);
}

/* ---------------------------------------------------------------- loaders */

static void test_loader_random(void) {
    /* vocab 70000 and ids 0..n-1: every id says where it came from */
    const char *p = path_in("r.bin");
    int64_t n = 5000;
    make_file(p, 70000, 69999, n);
    enum { B = 4, T = 16 };
    retnet_loader *a, *b2, *c;
    CHECK(retnet_loader_open_file(p, 70000, T, 1, 42, &a) == RETNET_OK, "%s", retnet_errmsg());
    CHECK(retnet_loader_open_file(p, 70000, T, 1, 42, &b2) == RETNET_OK, "%s", retnet_errmsg());
    CHECK(retnet_loader_open_file(p, 70000, T, 1, 43, &c) == RETNET_OK, "%s", retnet_errmsg());
    if (!a || !b2 || !c) return;
    int32_t t1[B * T], g1[B * T], t2[B * T], g2[B * T];
    int same_c = 1, lo_seen = 0, hi_seen = 0;
    for (int it = 0; it < 200; it++) {
        retnet_loader_next_random(a, t1, g1, B);
        retnet_loader_next_random(b2, t2, g2, B);
        CHECK(!memcmp(t1, t2, sizeof t1) && !memcmp(g1, g2, sizeof g1), "same seed, different windows");
        retnet_loader_next_random(c, t2, g2, B);
        same_c &= !memcmp(t1, t2, sizeof t1);
        for (int r = 0; r < B; r++) {
            const int32_t *tk = t1 + r * T, *tg = g1 + r * T;
            /* <bos> first, then the targets shifted: tokens = [bos, w0..w14], targets = w0..w15 */
            int ok = tk[0] == 69999 && tg[0] >= 0 && tg[0] + T <= n;
            for (int j = 1; j < T; j++) ok &= tk[j] == tg[j - 1] && tg[j] == tg[0] + j;
            CHECK(ok, "window %d of draw %d is not [bos, w0..] / [w0..]", r, it);
            lo_seen |= tg[0] < 500;
            hi_seen |= tg[0] > n - T - 500;
        }
    }
    CHECK(!same_c, "another seed gave the same windows");
    CHECK(lo_seen && hi_seen, "windows do not reach both ends of the file");
    retnet_loader_free(b2);
    retnet_loader_free(c);
    /* without bos: tokens = w0..w15, targets = w1..w16 */
    retnet_loader *nb;
    CHECK(retnet_loader_open_file(p, 70000, T, 0, 7, &nb) == RETNET_OK, "%s", retnet_errmsg());
    if (nb) {
        retnet_loader_next_random(nb, t1, g1, B);
        int ok = 1;
        for (int r = 0; r < B; r++)
            for (int j = 0; j < T; j++) ok &= g1[r * T + j] == t1[r * T + j] + 1 && t1[r * T + j] == t1[r * T] + j;
        CHECK(ok, "windows without bos");
        retnet_loader_free(nb);
    }
    retnet_loader_free(a);
    unlink(p);
}

static void test_loader_resume(void) {
    const char *p = path_in("s.bin");
    make_file(p, 260, 256, 3000);
    enum { B = 3, T = 32, K = 10, M = 10 };
    retnet_loader *a, *b;
    CHECK(retnet_loader_open_file(p, 260, T, 1, 9, &a) == RETNET_OK, "%s", retnet_errmsg());
    CHECK(retnet_loader_open_file(p, 260, T, 1, 12345, &b) == RETNET_OK, "%s", retnet_errmsg());
    if (!a || !b) return;
    int32_t tk[B * T], tg[B * T], want_t[M][B * T], want_g[M][B * T];
    for (int i = 0; i < K; i++) retnet_loader_next_random(a, tk, tg, B);
    int32_t seq = retnet_loader_next_sequential(a, tk, tg, 2);
    CHECK(seq == 2, "sequential");
    retnet_loader_state st;
    retnet_loader_get_state(a, &st);
    char str[256];
    int len = retnet_loader_state_str(a, str, sizeof str);
    CHECK(len > 0 && len < 256 && !strchr(str, ' ') && !strchr(str, '"'), "state string: %s", str);
    for (int i = 0; i < M; i++) retnet_loader_next_random(a, want_t[i], want_g[i], B);
    int32_t seq_t[T], seq_g[T];
    retnet_loader_next_sequential(a, seq_t, seq_g, 1);
    /* the struct */
    CHECK(retnet_loader_set_state(b, &st) == RETNET_OK, "%s", retnet_errmsg());
    int same = 1;
    for (int i = 0; i < M; i++) {
        retnet_loader_next_random(b, tk, tg, B);
        same &= !memcmp(tk, want_t[i], sizeof tk) && !memcmp(tg, want_g[i], sizeof tg);
    }
    int32_t s2t[T], s2g[T];
    retnet_loader_next_sequential(b, s2t, s2g, 1);
    CHECK(same && !memcmp(s2t, seq_t, sizeof s2t), "resume from the state struct is not identical");
    /* the string, into a fresh loader */
    retnet_loader *c;
    CHECK(retnet_loader_open_file(p, 260, T, 1, 777, &c) == RETNET_OK, "%s", retnet_errmsg());
    if (c) {
        CHECK(retnet_loader_state_parse(c, str) == RETNET_OK, "%s", retnet_errmsg());
        same = 1;
        for (int i = 0; i < M; i++) {
            retnet_loader_next_random(c, tk, tg, B);
            same &= !memcmp(tk, want_t[i], sizeof tk) && !memcmp(tg, want_g[i], sizeof tg);
        }
        CHECK(same, "resume from the state string is not identical");
        CHECK(retnet_loader_state_parse(c, "rtl1:32:256:3000:0:0:1:2:3") == RETNET_EFORMAT, "short string");
        CHECK(retnet_loader_state_parse(c, "garbage") == RETNET_EFORMAT, "garbage");
        char extra[300];
        snprintf(extra, sizeof extra, "%sx", str);
        CHECK(retnet_loader_state_parse(c, extra) == RETNET_EFORMAT, "trailing text");
        retnet_loader_free(c);
    }
    /* a state of another window length or file is refused */
    retnet_loader *d;
    CHECK(retnet_loader_open_file(p, 260, T + 1, 1, 9, &d) == RETNET_OK, "%s", retnet_errmsg());
    if (d) {
        CHECK(retnet_loader_set_state(d, &st) == RETNET_EINVAL && strstr(retnet_errmsg(), "windows of 32"),
              "mismatched T: %s", retnet_errmsg());
        CHECK(retnet_loader_state_parse(d, str) == RETNET_EINVAL, "mismatched T from string");
        retnet_loader_free(d);
    }
    retnet_loader_state zero = st;
    memset(zero.rng, 0, sizeof zero.rng);
    CHECK(retnet_loader_set_state(b, &zero) == RETNET_EINVAL, "all-zero generator");
    /* a count of windows drawn that would overflow as it counts on (a hostile file) */
    retnet_loader_state huge = st;
    huge.drawn = INT64_MAX;
    CHECK(retnet_loader_set_state(b, &huge) == RETNET_EINVAL, "drawn INT64_MAX accepted");
    retnet_loader_free(a);
    retnet_loader_free(b);
    unlink(p);
}

static void check_sequential(int64_t n, int32_t T, int bos) {
    const char *p = path_in("q.bin");
    make_file(p, 70000, bos ? 69999 : -1, n);
    retnet_loader *l;
    CHECK(retnet_loader_open_file(p, 70000, T, bos, 1, &l) == RETNET_OK, "%s", retnet_errmsg());
    if (!l) return;
    int64_t targets_in_all = bos ? n : n - 1, windows = (targets_in_all + T - 1) / T;
    CHECK(retnet_loader_windows(l) == windows, "windows %lld want %lld", (long long)retnet_loader_windows(l),
          (long long)windows);
    enum { B = 3 };
    int32_t *tk = malloc(sizeof(int32_t) * B * (size_t)T), *tg = malloc(sizeof(int32_t) * B * (size_t)T);
    for (int pass = 0; pass < 2; pass++) {
        int64_t next = bos ? 0 : 1, got_windows = 0, rows;
        int ok = 1;
        while ((rows = retnet_loader_next_sequential(l, tk, tg, B)) > 0) {
            for (int64_t r = 0; r < rows; r++) {
                const int32_t *k = tk + r * T, *g = tg + r * T;
                if (bos) ok &= k[0] == 69999;
                for (int32_t j = 0; j < T; j++) {
                    if (g[j] < 0) { /* past the end: padding, not counted */
                        ok &= next == n;
                        if (bos && j > 0 && g[j - 1] < 0) ok &= k[j] == 69999;
                        if (!bos) ok &= k[j] == 0;
                        continue;
                    }
                    ok &= g[j] == next++;
                    if (j > 0 && bos) ok &= k[j] == g[j - 1];
                    if (!bos) ok &= k[j] == g[j] - 1;
                }
            }
            got_windows += rows;
        }
        CHECK(ok && next == n && got_windows == windows, "n %lld T %d bos %d pass %d: every target "
              "once, in order (reached %lld, %lld windows)", (long long)n, T, bos, pass, (long long)next,
              (long long)got_windows);
        CHECK(retnet_loader_next_sequential(l, tk, tg, B) == 0, "after the end");
        retnet_loader_rewind(l);
    }
    free(tk);
    free(tg);
    retnet_loader_free(l);
    unlink(p);
}

/* Numbers too big for their field (found reading the parser while writing tests/fuzz/fuzz_data): sscanf wrapped T and bos
 * mod 2^32, so "rtl1:4294967328:4294967552:..." passed as T = 32, bos = 256. */
static void test_loader_state_overflow(void) {
    const char *p = path_in("o.bin");
    make_file(p, 260, 256, 3000);
    retnet_loader *l = NULL;
    CHECK(retnet_loader_open_file(p, 260, 32, 1, 9, &l) == RETNET_OK, "%s", retnet_errmsg());
    if (!l) return;
    char good[256];
    retnet_loader_state_str(l, good, sizeof good);
    CHECK(retnet_loader_state_parse(l, good) == RETNET_OK, "%s: %s", good, retnet_errmsg());
    const char *rest = strchr(good + 5, ':');            /* ":256:3000:..." */
    rest = rest ? strchr(rest + 1, ':') : NULL;          /* ":3000:..." */
    if (!rest) { CHECK(0, "state string %s", good); retnet_loader_free(l); return; }
    char bad[300];
    snprintf(bad, sizeof bad, "rtl1:4294967328:256%s", rest);  /* T = 32 + 2^32 */
    CHECK(retnet_loader_state_parse(l, bad) == RETNET_EFORMAT, "T beyond int32 accepted: %s", bad);
    snprintf(bad, sizeof bad, "rtl1:32:4294967552%s", rest);   /* bos = 256 + 2^32 */
    CHECK(retnet_loader_state_parse(l, bad) == RETNET_EFORMAT, "bos beyond int32 accepted: %s", bad);
    snprintf(bad, sizeof bad, "rtl1:32:256:99999999999999999999%s", strchr(rest + 1, ':'));
    CHECK(retnet_loader_state_parse(l, bad) == RETNET_EFORMAT, "count beyond int64: %s (%s)", bad,
          retnet_errmsg());
    snprintf(bad, sizeof bad, "rtl1: 32:256%s", rest);
    CHECK(retnet_loader_state_parse(l, bad) == RETNET_EFORMAT, "a space accepted: %s", bad);
    retnet_loader_free(l);
    unlink(p);
}

static void test_loader_sequential(void) {
    check_sequential(1000, 10, 1);  /* exact multiple */
    check_sequential(1003, 10, 1);  /* a partial last window */
    check_sequential(10, 10, 1);    /* exactly one window */
    check_sequential(1001, 10, 0);  /* without bos: 1000 targets */
    check_sequential(1005, 10, 0);
}

static void test_loader_short(void) {
    const char *p = path_in("short.bin");
    make_file(p, 260, 256, 15);
    retnet_loader *l = (retnet_loader *)1;
    CHECK(retnet_loader_open_file(p, 260, 16, 1, 1, &l) == RETNET_EINVAL && !l, "15 tokens, T 16");
    CHECK(strstr(retnet_errmsg(), "shorter than one window"), "message: %s", retnet_errmsg());
    CHECK(retnet_loader_open_file(p, 260, 15, 0, 1, &l) == RETNET_EINVAL, "15 tokens, T 15 without bos");
    CHECK(retnet_loader_open_file(p, 260, 15, 1, 1, &l) == RETNET_OK, "15 tokens, T 15 with bos");
    retnet_loader_free(l);
    CHECK(retnet_loader_open_file(p, 50257, 8, 1, 1, &l) == RETNET_EFORMAT && strstr(retnet_errmsg(), "expected 50257"),
          "vocab mismatch: %s", retnet_errmsg());
    CHECK(retnet_loader_open_file(p, 260, 1, 1, 1, &l) == RETNET_EINVAL, "T 1");
    make_file(p, 260, -1, 100);
    CHECK(retnet_loader_open_file(p, 260, 8, 1, 1, &l) == RETNET_EINVAL && strstr(retnet_errmsg(), "no bos"),
          "bos wanted, none in the file: %s", retnet_errmsg());
    unlink(p);
}

/* ---------------------------------------------------------------- text and datasets */

static char *sample_text(int64_t n) {
    char *s = malloc((size_t)n + 1);
    int64_t len = 0;
    char *sh = read_whole("../shared/data/tinyshakespeare.txt", &len);
    for (int64_t i = 0; i < n; i++)
        s[i] = sh && len > 0 ? sh[i % len] : "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"[i % 61];
    s[n] = 0;
    free(sh);
    return s;
}

static void test_text_cut(void) {
    const char *t = "ab\n cd\n\nef\nGH  \n\tx\n";
    int64_t n = (int64_t)strlen(t);
    CHECK(retnet_text_cut(t, n, 0) == 0, "0");
    /* not " cd", not "\n", not "ef" after a blank line (GPT-2 reads "\n\n" as one token) */
    CHECK(retnet_text_cut(t, n, 1) == 11, "1 -> %lld", (long long)retnet_text_cut(t, n, 1));
    CHECK(retnet_text_cut(t, n, 9) == 11, "9");
    CHECK(retnet_text_cut(t, n, 12) == n, "12 -> %lld", (long long)retnet_text_cut(t, n, 12));
    /* cutting there does not change the encoding: a BPE over > 1 MB, in pieces and whole */
    retnet_tokenizer *tok;
    int64_t big = (3 << 20) / 2;
    char *s = sample_text(big);
    CHECK(retnet_bpe_train(s, 200000, 600, NULL, &tok) == RETNET_OK, "%s", retnet_errmsg());
    if (!tok) { free(s); return; }
    int32_t *whole;
    int64_t nw;
    CHECK(retnet_tokenizer_encode(tok, s, big, &whole, &nw) == RETNET_OK, "encode");
    retnet_tokfile_writer *w;
    const char *p = path_in("cut.bin");
    CHECK(retnet_tokfile_create(p, 600, 256, &w) == RETNET_OK, "create");
    CHECK(retnet_tokenize_into(tok, s, big, w, NULL, NULL, "test") == RETNET_OK, "%s", retnet_errmsg());
    CHECK(retnet_tokfile_finish(w) == RETNET_OK, "finish");
    retnet_tokfile *f;
    CHECK(retnet_tokfile_open(p, 600, &f) == RETNET_OK, "%s", retnet_errmsg());
    if (f) {
        int64_t n2 = retnet_tokfile_count(f);
        int32_t *ids = malloc(sizeof(int32_t) * (size_t)(n2 + 1));
        retnet_tokfile_read(f, 0, n2, ids);
        CHECK(n2 == nw && !memcmp(ids, whole, 4 * (size_t)nw), "pieces (%lld) and whole (%lld) differ",
              (long long)n2, (long long)nw);
        free(ids);
        retnet_tokfile_close(f);
    }
    free(whole);
    free(s);
    retnet_tokenizer_free(tok);
    unlink(p);
}

static char *json_text(const char *dir) {
    char p[600];
    snprintf(p, sizeof p, "%s/meta.json", dir);
    return read_whole(p, NULL);
}

static void rm_dataset(const char *dir) {
    const char *names[] = {"train.bin", "val.bin", "meta.json", "tokenizer.bpe"};
    for (int i = 0; i < 4; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void test_dataset_byte(void) {
    int64_t n = 50000;
    char *s = sample_text(n);
    const char *txt = path_in("corpus.txt"), *dir = path_in("ds");
    write_whole(txt, s, n);
    retnet_tokenize_opts o = {.val_fraction = 0.1};
    retnet_dataset_summary sum;
    CHECK(retnet_dataset_build(dir, "byte", txt, &o, &sum) == RETNET_OK, "%s", retnet_errmsg());
    /* byte tokenizer: tokens = bytes; the val split starts at a line start near 90% */
    CHECK(sum.vocab == 260 && sum.tokens[0] == sum.bytes[0] && sum.tokens[1] == sum.bytes[1] &&
          sum.bytes[0] + sum.bytes[1] == n, "summary");
    CHECK(sum.bytes[0] >= 45000 && sum.bytes[0] < 46000 && s[sum.bytes[0] - 1] == '\n', "cut at %lld",
          (long long)sum.bytes[0]);
    char *meta = json_text(dir);
    char hex[65];
    retnet_sha256_hex(s, n, hex);
    CHECK(meta && strstr(meta, "\"tokenizer\": \"byte\"") && strstr(meta, "\"vocab\": 260") &&
          strstr(meta, hex) && strstr(meta, "\"val_fraction\": 0.1"), "meta.json:\n%s", meta ? meta : "(none)");
    free(meta);
    retnet_dataset *d;
    CHECK(retnet_dataset_open(dir, &d) == RETNET_OK, "%s", retnet_errmsg());
    if (d) {
        CHECK(!strcmp(retnet_dataset_tokenizer(d), "byte") && retnet_dataset_vocab(d) == 260 &&
              retnet_dataset_tokens(d, "train") == sum.tokens[0] &&
              retnet_dataset_tokens(d, "val") == sum.tokens[1] && retnet_dataset_tokens(d, "x") == -1,
              "dataset fields");
        retnet_loader *tr, *va;
        CHECK(retnet_loader_open(d, "train", 64, 1, &tr) == RETNET_OK, "%s", retnet_errmsg());
        CHECK(retnet_loader_open(d, "val", 64, 1, &va) == RETNET_OK, "%s", retnet_errmsg());
        retnet_dataset_free(d); /* the loaders do not need it */
        int32_t tk[2 * 64], tg[2 * 64];
        if (tr) {
            retnet_loader_next_random(tr, tk, tg, 2);
            CHECK(tk[0] == 256 && tk[64] == 256, "train windows start with <bos>");
        }
        if (va) {
            CHECK(retnet_loader_next_sequential(va, tk, tg, 1) == 1 && tk[0] == 256 &&
                  tg[0] == (unsigned char)s[sum.bytes[0]], "val begins where train ends");
        }
        retnet_loader_free(tr);
        retnet_loader_free(va);
    }
    retnet_loader *l;
    retnet_dataset *d2;
    CHECK(retnet_dataset_open(dir, &d2) == RETNET_OK, "reopen");
    if (d2) {
        CHECK(retnet_loader_open(d2, "test", 64, 1, &l) == RETNET_EINVAL, "unknown split");
        CHECK(retnet_loader_open(d2, "val", 100000, 1, &l) == RETNET_EINVAL &&
              strstr(retnet_errmsg(), "shorter than one window"), "val shorter than a window");
        retnet_dataset_free(d2);
    }
    /* damage: a train.bin that disagrees with meta.json; no meta.json */
    char p[600];
    snprintf(p, sizeof p, "%s/train.bin", dir);
    make_file(p, 260, 256, 10);
    CHECK(retnet_dataset_open(dir, &d2) == RETNET_EFORMAT && strstr(retnet_errmsg(), "holds 10 tokens"),
          "count mismatch: %s", retnet_errmsg());
    snprintf(p, sizeof p, "%s/meta.json", dir);
    unlink(p);
    CHECK(retnet_dataset_open(dir, &d2) == RETNET_EIO && strstr(retnet_errmsg(), "meta.json"),
          "no meta: %s", retnet_errmsg());
    rm_dataset(dir);
    /* errors of the build */
    write_whole(txt, "", 0);
    CHECK(retnet_dataset_build(dir, "byte", txt, NULL, NULL) == RETNET_EINVAL && strstr(retnet_errmsg(), "empty"),
          "empty text: %s", retnet_errmsg());
    write_whole(txt, "x", 1);
    CHECK(retnet_dataset_build(dir, "byte", txt, NULL, NULL) == RETNET_EINVAL &&
          strstr(retnet_errmsg(), "too short"), "one byte: %s", retnet_errmsg());
    CHECK(retnet_dataset_build(dir, "nonesuch", txt, NULL, NULL) == RETNET_EIO, "bad tokenizer");
    CHECK(retnet_dataset_build(dir, "byte", path_in("missing.txt"), NULL, NULL) == RETNET_EIO &&
          strstr(retnet_errmsg(), "missing.txt"), "missing text: %s", retnet_errmsg());
    rm_dataset(dir);
    unlink(txt);
    free(s);
}

static void test_dataset_bpe_valdata(void) {
    int64_t n = 60000;
    char *s = sample_text(n);
    const char *txt = path_in("train.txt"), *val = path_in("val.txt"), *tokp = path_in("t.bpe"),
               *dir = path_in("ds2");
    write_whole(txt, s, 50000);
    write_whole(val, s + 50000, 10000);
    retnet_tokenizer *tok;
    CHECK(retnet_bpe_train(s, 50000, 300, NULL, &tok) == RETNET_OK, "%s", retnet_errmsg());
    if (!tok) return;
    CHECK(retnet_tokenizer_save(tok, tokp) == RETNET_OK, "%s", retnet_errmsg());
    retnet_tokenize_opts o = {.val_data = val};
    retnet_dataset_summary sum;
    CHECK(retnet_dataset_build(dir, tokp, txt, &o, &sum) == RETNET_OK, "%s", retnet_errmsg());
    CHECK(sum.bytes[0] == 50000 && sum.bytes[1] == 10000 && sum.vocab == 300, "summary");
    CHECK(sum.tokens[0] < 40000 && sum.tokens[1] < 8000, "a BPE compresses (%lld, %lld tokens)",
          (long long)sum.tokens[0], (long long)sum.tokens[1]);
    /* the val tokens are the val text's encoding */
    int32_t *ids;
    int64_t ni;
    retnet_tokenizer_encode(tok, s + 50000, 10000, &ids, &ni);
    CHECK(ni == sum.tokens[1], "val tokens %lld, encode gives %lld", (long long)sum.tokens[1], (long long)ni);
    free(ids);
    char *meta = json_text(dir);
    CHECK(meta && strstr(meta, "\"tokenizer\": \"tokenizer.bpe\"") && strstr(meta, "\"val_fraction\": null"),
          "meta.json:\n%s", meta ? meta : "(none)");
    free(meta);
    /* the dataset is self-contained: its tokenizer is the copy in the directory */
    unlink(tokp);
    retnet_dataset *d;
    CHECK(retnet_dataset_open(dir, &d) == RETNET_OK, "%s", retnet_errmsg());
    if (d) {
        retnet_tokenizer *t2;
        CHECK(retnet_tokenizer_load(retnet_dataset_tokenizer(d), &t2) == RETNET_OK, "%s: %s",
              retnet_dataset_tokenizer(d), retnet_errmsg());
        if (t2) {
            CHECK(retnet_tokenizer_vocab(t2) == 300, "copied tokenizer");
            retnet_tokenizer_free(t2);
        }
        retnet_dataset_free(d);
    }
    /* made again with the byte tokenizer: the BPE copy, which its meta.json no longer names,
     * goes with it */
    char bpe_copy[600];
    snprintf(bpe_copy, sizeof bpe_copy, "%s/tokenizer.bpe", dir);
    CHECK(retnet_dataset_build(dir, "byte", txt, &o, &sum) == RETNET_OK, "%s", retnet_errmsg());
    CHECK(access(bpe_copy, F_OK) != 0, "a byte-level rebuild left the earlier %s", bpe_copy);
    rm_dataset(dir);
    unlink(txt);
    unlink(val);
    retnet_tokenizer_free(tok);
    free(s);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/retnet_test_data.%ld", (long)getpid());
    mkdir(tmpdir, 0755);
    RUN(test_sha256);
    RUN(test_tokfile_roundtrip);
    RUN(test_tokfile_header);
    RUN(test_loader_random);
    RUN(test_loader_resume);
    RUN(test_loader_state_overflow);
    RUN(test_loader_sequential);
    RUN(test_loader_short);
    RUN(test_text_cut);
    RUN(test_dataset_byte);
    RUN(test_dataset_bpe_valdata);
    rmdir(tmpdir);
    return TEST_SUMMARY();
}
